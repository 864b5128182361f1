//! Lowering: clap's [`Args`] into the validated [`Config`]. Every rule
//! that relates flags to each other (scope against explicit states, what
//! `why` and watch mode accept) is checked here, once, so that nothing to
//! the right of `config` sees clap's types or an invalid combination.

use super::{Args, Command, OwnerSourceArg, SourceArg};
use crate::config::{
    Columns, Config, Format, Mode, Scope, Serve, ServeOutput, Watch, DEFAULT_INTERVAL,
};
use crate::error::{Error, Result};
use crate::filter::{parse_expression, Filter};
use crate::model::{OwnerSource, SourceChoice, StateSet};
use std::path::PathBuf;

/// Resolves parsed arguments into a config.
pub fn config(args: &Args) -> Result<Config> {
    // netstat's -4/-6 restrict; given both, both families are shown.
    let (ipv4, ipv6) = match (args.inet, args.inet6) {
        (true, false) => (true, false),
        (false, true) => (false, true),
        _ => (true, true),
    };
    let mode = match args.command {
        Some(Command::Why { port, addr }) => Mode::Why { port, addr },
        Some(Command::Serve { .. }) => Mode::Serve,
        None if args.summary => Mode::Summary,
        None => Mode::List,
    };
    // A summary counts every state unless told otherwise, as `ss -s`.
    // `-a` wins over `-l`, as in netstat (`netstat -plant` lists all).
    let scope = if args.all || (mode == Mode::Summary && !args.listening) {
        Scope::All
    } else if args.listening {
        Scope::Listening
    } else {
        Scope::Connected
    };
    let filter = build_filter(args)?;
    let (states, scope) = match filter.explicit_states() {
        Some(states) => (states, Scope::of_states(states)),
        None => (scope.states(), scope),
    };
    // `why` judges a bind against every socket of the namespace.
    let (filter, states, ipv4, ipv6) = match mode {
        Mode::Why { .. } if !filter.keeps_all() || args.inet != args.inet6 => {
            return Err(Error::usage(
                "why judges a bind against every socket; filters, -4 and -6 do not apply to it",
            ));
        }
        Mode::Serve if !filter.keeps_all() || args.inet != args.inet6 || args.json => {
            return Err(Error::usage(
                "serve counts every socket of the namespace; filters, -4, -6 and --json do not \
                 apply to it",
            ));
        }
        Mode::Why { .. } | Mode::Serve => (Filter::new(), StateSet::ALL, true, true),
        _ => (filter, states, ipv4, ipv6),
    };
    let scope = if mode == Mode::Serve {
        Scope::All
    } else {
        scope
    };
    let watch = watch_plan(args, mode)?;
    check_inside(args, mode)?;
    Ok(Config {
        mode,
        watch,
        filter,
        states,
        ipv4,
        ipv6,
        scope,
        numeric: args.numeric,
        wide: args.wide,
        columns: Columns {
            extended: args.extend,
            program: args.program,
            timer: args.timers,
            note: args.explain,
            info: args.info,
            memory: args.memory,
        },
        format: if args.json {
            Format::Json
        } else {
            Format::Table
        },
        source: match args.source {
            SourceArg::Auto => SourceChoice::Auto,
            SourceArg::Netlink => SourceChoice::Netlink,
            SourceArg::Proc => SourceChoice::Proc,
        },
        owner_source: match args.owner_source {
            OwnerSourceArg::Auto => OwnerSource::Auto,
            OwnerSourceArg::Bpf => OwnerSource::Bpf,
            OwnerSourceArg::Proc => OwnerSource::Proc,
        },
        verbose: args.verbose,
        serve: serve_plan(args),
        proc_root: args
            .proc_root
            .clone()
            .unwrap_or_else(|| PathBuf::from("/proc")),
        netns: args
            .netns
            .as_deref()
            .map(crate::netns::resolve)
            .transpose()?,
    })
}

/// `-c`, `--events` and `--count`.
fn watch_plan(args: &Args, mode: Mode) -> Result<Option<Watch>> {
    if !args.events && args.continuous.is_none() {
        return match args.count {
            Some(_) => Err(Error::usage("--count needs -c or --events")),
            None => Ok(None),
        };
    }
    if mode != Mode::List {
        return Err(Error::usage(
            "-c and --events repeat the listing; they cannot be combined with -s, why or serve",
        ));
    }
    Ok(Some(Watch {
        interval: args.continuous.unwrap_or(DEFAULT_INTERVAL),
        count: args.count,
        events: args.events,
    }))
}

/// `serve`'s output and series cap.
fn serve_plan(args: &Args) -> Option<Serve> {
    let Some(Command::Serve {
        listen,
        textfile,
        interval,
        max_series,
    }) = &args.command
    else {
        return None;
    };
    let output = match textfile {
        Some(path) => ServeOutput::Textfile {
            path: path.clone(),
            interval: *interval,
        },
        None => ServeOutput::Http(listen.unwrap_or(super::listen::DEFAULT_LISTEN)),
    };
    Some(Serve {
        output,
        max_series: usize::try_from(*max_series).unwrap_or(usize::MAX),
    })
}

/// `-i` and `-m`: rows of the listing, read over netlink only.
fn check_inside(args: &Args, mode: Mode) -> Result<()> {
    let flag = match (args.info, args.memory) {
        (false, false) => return Ok(()),
        (true, false) => "-i",
        (false, true) => "-m",
        (true, true) => "-i and -m",
    };
    if mode != Mode::List {
        return Err(Error::usage(format!(
            "{flag}: these add to the listing's rows; not with -s, why or serve"
        )));
    }
    if args.source == SourceArg::Proc {
        return Err(Error::usage(format!(
            "{flag}: tcp_info and socket memory come only from netlink sock_diag; \
             /proc/net/tcp has neither (drop --source proc)"
        )));
    }
    Ok(())
}

/// The filter from the flags and the trailing expression.
fn build_filter(args: &Args) -> Result<Filter> {
    let uids = args
        .uid
        .iter()
        .map(|u| parse_uid(u))
        .collect::<Result<Vec<u32>>>()?;
    let mut filter = Filter::new()
        .with_ports(args.port.iter().cloned())
        .with_sports(args.sport.iter().cloned())
        .with_dports(args.dport.iter().cloned())
        .with_src(args.src.iter().copied())
        .with_dst(args.dst.iter().copied())
        .with_uids(uids)
        .with_pids(args.pid.iter().copied())
        .with_programs(args.program_name.iter().cloned());
    // Repeated --state values are alternatives, like every repeated flag.
    if !args.state.is_empty() {
        let states = args
            .state
            .iter()
            .fold(StateSet::EMPTY, |all, s| all.union(*s));
        filter = filter.with_states(states);
    }
    if !args.expression.is_empty() {
        let query = parse_expression(&args.expression).map_err(|e| Error::usage(e.to_string()))?;
        filter = filter.with_query(query);
    }
    Ok(filter)
}

/// `--uid`: a number, or a user name looked up through NSS.
fn parse_uid(text: &str) -> Result<u32> {
    if let Ok(uid) = text.parse::<u32>() {
        return Ok(uid);
    }
    crate::names::users::uid_of(text)
        .ok_or_else(|| Error::usage(format!("--uid: no such user {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_of(args: &[&str]) -> Scope {
        let matches = crate::cli::command()
            .try_get_matches_from([&["tcpstat"], args].concat())
            .unwrap();
        let args = <Args as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
        config(&args).unwrap().scope
    }

    #[test]
    fn explicit_states_name_the_header_scope() {
        assert_eq!(scope_of(&[]), Scope::Connected);
        assert_eq!(scope_of(&["-a"]), Scope::All);
        assert_eq!(scope_of(&["-l"]), Scope::Listening);
        assert_eq!(scope_of(&["-plant"]), Scope::All);
        assert_eq!(scope_of(&["--state", "listen"]), Scope::Listening);
        assert_eq!(scope_of(&["-a", "state", "listening"]), Scope::Listening);
        assert_eq!(scope_of(&["--state", "listen,time-wait"]), Scope::All);
        assert_eq!(scope_of(&["-l", "--state", "time-wait"]), Scope::Connected);
    }
}
