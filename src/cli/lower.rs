//! Lowering: clap's [`Args`] into the validated [`Config`]. Every rule
//! that relates flags to each other (scope against explicit states, what
//! `why` and watch mode accept) is checked here, once, so that nothing to
//! the right of `config` sees clap's types or an invalid combination.

use super::{
    Args, Command, EventsArg, FamilyArg, OwnerSourceArg, ParallelArg, Query, SortArg, SourceArg,
};
use crate::config::{
    Columns, Config, EventSource, Format, Kill, Mode, Order, Protocols, Scope, Serve, ServeOutput,
    SortKey, Watch, DEFAULT_INTERVAL,
};
use crate::error::{Error, Result};
use crate::filter::{parse_expression, Filter};
use crate::model::{OwnerSource, Parallel, SourceChoice, StateSet};
use std::path::{Path, PathBuf};

/// Resolves parsed arguments into a config.
pub fn config(args: &Args) -> Result<Config> {
    let (ipv4, ipv6) = families(args);
    let protocols = protocols(args);
    let filter = build_filter(args, protocols)?;
    let mode = match args.command {
        _ if args.kill => Mode::Kill(kill_plan(args, &filter)?),
        Some(Command::Why { port, addr }) => Mode::Why { port, addr },
        Some(Command::Serve { .. }) => Mode::Serve,
        Some(Command::Top { .. }) => top_mode(args)?,
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
    let datagram_states = filter
        .explicit_states()
        .unwrap_or_else(|| scope.datagram_states());
    let (states, scope) = match filter.explicit_states() {
        Some(states) => (states, Scope::of_states(states)),
        // -K dumps every state to say which matching sockets it left open.
        None if matches!(mode, Mode::Kill(_)) && !args.listening => (StateSet::ALL, Scope::All),
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
    let top = matches!(mode, Mode::Top { .. });
    let watch = match top {
        true => None,
        false => watch_plan(args, mode)?,
    };
    check_protocols(protocols, mode, watch)?;
    check_inside(args, mode)?;
    let order = order(args, mode)?;
    let unix_filter = match protocols.unix {
        true => super::unix::lower(args, mode, !protocols.inet().is_empty())?,
        false => Default::default(),
    };
    let all_netns = args.all_netns || args.netns.as_deref() == Some("all");
    if filter.names_netns() && !all_netns {
        return Err(Error::usage(
            "netns NAME picks among the namespaces of -N all: add -N all (or use -N NAME alone)",
        ));
    }
    Ok(Config {
        order,
        mode,
        watch,
        filter,
        states,
        datagram_states,
        protocols,
        ipv4,
        ipv6,
        scope,
        no_header: args.no_header,
        numeric: args.numeric,
        numeric_hosts: args.numeric || args.numeric_hosts,
        numeric_ports: args.numeric || args.numeric_ports,
        numeric_users: args.numeric || args.numeric_users,
        wide: args.wide,
        // top shows owners, timers, notes and (over netlink) tcp_info
        // and its rates whatever was asked.
        columns: Columns {
            extended: args.extend,
            program: args.program || args.users || top,
            users: args.users,
            timer: args.timers || top,
            note: args.explain || top,
            info: args.info || (top && args.source != SourceArg::Proc),
            memory: args.memory,
            rates: (args.info && args.events.is_none() && args.continuous.is_some()) || top,
        },
        format: if args.json {
            Format::Json
        } else {
            Format::Table
        },
        source: match args.source {
            // -K sends back each socket's cookie, which only netlink gives.
            _ if args.kill => SourceChoice::Netlink,
            SourceArg::Auto => SourceChoice::Auto,
            SourceArg::Netlink => SourceChoice::Netlink,
            SourceArg::Proc => SourceChoice::Proc,
        },
        parallel: match args.parallel {
            ParallelArg::Auto => Parallel::Auto,
            ParallelArg::Never => Parallel::Never,
            ParallelArg::Always => Parallel::Always,
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
        netns: match args.netns.as_deref() {
            None | Some("all") => None,
            Some(arg) => Some(crate::netns::choose(
                arg,
                args.proc_root.as_deref().unwrap_or(Path::new("/proc")),
                args.verbose > 0,
            )?),
        },
        all_netns,
        unix_filter,
    })
}

/// The address families: netstat's -4/-6 and ss's `-f inet|inet6`
/// restrict; given both (or neither), both are shown.
fn families(args: &Args) -> (bool, bool) {
    let v4 = args.inet || args.family.contains(&FamilyArg::Inet);
    let v6 = args.inet6 || args.family.contains(&FamilyArg::Inet6);
    match (v4, v6) {
        (false, false) => (true, true),
        given => given,
    }
}

/// The kinds of socket to list: the protocol flags, `-A` and `-f unix`;
/// TCP when none is named (`-f inet` alone names no protocol).
fn protocols(args: &Args) -> Protocols {
    let mut p = Protocols {
        tcp: args.tcp,
        udp: args.udp,
        udplite: args.udplite,
        raw: args.raw,
        unix: args.unix || args.family.contains(&FamilyArg::Unix),
    };
    for query in args.query.iter().flatten() {
        let inet = matches!(query, Query::Inet | Query::All);
        p.tcp |= inet || *query == Query::Tcp;
        p.udp |= inet || *query == Query::Udp;
        p.udplite |= inet || *query == Query::UdpLite;
        p.raw |= inet || *query == Query::Raw;
        p.unix |= matches!(query, Query::Unix | Query::All);
    }
    if p == Protocols::default() {
        p.tcp = true;
    }
    p
}

/// What the protocols other than TCP do not take yet: `why`, `serve`,
/// `-K` and `--events` follow TCP alone. (Unix sockets' own refusals are
/// `cli::unix`'s.)
fn check_protocols(
    protocols: Protocols,
    mode: Mode,
    watch: Option<crate::config::Watch>,
) -> Result<()> {
    if protocols.tcp_only() {
        return Ok(());
    }
    let what = match mode {
        Mode::Why { .. } => "why",
        Mode::Serve => "serve",
        Mode::Kill(_) => "-K",
        _ if watch.is_some_and(|w| w.events) => "--events",
        _ => return Ok(()),
    };
    Err(Error::usage(format!(
        "{what} follows TCP sockets only; -u, -U, -w and -A other than tcp do not apply to it"
    )))
}

/// `-K`: which states it closes, and the refusals that need no socket:
/// no filter, a command or mode it cannot be combined with.
fn kill_plan(args: &Args, filter: &Filter) -> Result<Kill> {
    let other = [
        (
            matches!(
                args.command,
                Some(Command::Why { .. } | Command::Serve { .. })
            ),
            "why",
        ),
        (
            matches!(args.command, Some(Command::Top { .. })),
            "top (its `k` key closes one connection)",
        ),
        (args.summary, "-s"),
        (
            args.events.is_some() || args.continuous.is_some(),
            "-c and --events",
        ),
        (args.info || args.memory, "-i and -m"),
        (args.source == SourceArg::Proc, "--source proc"),
    ];
    if let Some((_, what)) = other.iter().find(|(given, _)| *given) {
        return Err(Error::usage(format!("-K cannot be combined with {what}")));
    }
    if filter.keeps_all() {
        return Err(Error::usage(
            "-K needs a filter: without one it would close every connection of the namespace; \
             name what to close (a port, address, state, uid, pid, program or expression), \
             and check it first with --dry-run",
        ));
    }
    if args.all {
        return Err(Error::usage(
            "-K does not take -a: name the states to close (listeners with -l or \
             `state listening`, TIME_WAIT with `state time-wait`)",
        ));
    }
    let states = match filter.explicit_states() {
        Some(states) => states,
        None if args.listening => StateSet::listening(),
        None => Kill::default_states(),
    };
    Ok(Kill {
        states,
        dry_run: args.dry_run,
        yes: args.yes,
    })
}

/// `top`: refreshed every `-c` interval; the flags that make or shape
/// another output are refused.
fn top_mode(args: &Args) -> Result<Mode> {
    let other = [
        (args.summary, "-s"),
        (args.json, "--json"),
        (args.events.is_some(), "--events"),
        (args.count.is_some(), "--count"),
        (
            args.sort.is_some() || args.top.is_some(),
            "--sort and --top (sort with its keys)",
        ),
    ];
    if let Some((_, what)) = other.iter().find(|(given, _)| *given) {
        return Err(Error::usage(format!(
            "top cannot be combined with {what}: it is a live view on the terminal \
             (for a repeated listing, use -c)"
        )));
    }
    Ok(Mode::Top {
        interval: args.continuous.unwrap_or(DEFAULT_INTERVAL),
    })
}

/// `-c`, `--events` and `--count`.
fn watch_plan(args: &Args, mode: Mode) -> Result<Option<Watch>> {
    if args.events.is_none() && args.continuous.is_none() {
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
        events: args.events.is_some(),
        event_source: match (args.events, args.source) {
            (Some(EventsArg::Exact), _) => EventSource::Exact,
            (Some(EventsArg::Sampled), _) | (_, SourceArg::Proc) => EventSource::Sampled,
            _ => EventSource::Auto,
        },
        lifetime: args.lifetime,
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
    if !matches!(mode, Mode::List | Mode::Top { .. }) {
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

/// `--sort`, `--reverse` and `--top`: they order the listing's rows, so
/// not for -s, why or --events; keys read from tcp_info need netlink, and
/// `rate` needs two passes.
fn order(args: &Args, mode: Mode) -> Result<Order> {
    if args.sort.is_none() && args.top.is_none() {
        return Ok(Order::default());
    }
    let flag = if args.sort.is_some() {
        "--sort"
    } else {
        "--top"
    };
    if mode != Mode::List || args.events.is_some() {
        return Err(Error::usage(format!(
            "{flag}: only for the listing and -c; not with -s, why or --events"
        )));
    }
    let key = args.sort.map(|k| match k {
        SortArg::Rtt => SortKey::Rtt,
        SortArg::Retrans => SortKey::Retrans,
        SortArg::SendQ => SortKey::SendQ,
        SortArg::RecvQ => SortKey::RecvQ,
        SortArg::Rate => SortKey::Rate,
        SortArg::Bytes => SortKey::Bytes,
    });
    if key == Some(SortKey::Rate) && args.continuous.is_none() {
        return Err(Error::usage("--sort rate compares two passes; it needs -c"));
    }
    if key.is_some_and(SortKey::needs_info) && args.source == SourceArg::Proc {
        return Err(Error::usage(
            "--sort: this key is read from tcp_info, which only netlink sock_diag gives; \
             /proc/net/tcp has none (drop --source proc, or sort by send-q or recv-q)",
        ));
    }
    Ok(Order {
        key,
        reverse: args.reverse,
        top: args.top.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    })
}

/// The filter from the flags and the trailing expression.
fn build_filter(args: &Args, protocols: Protocols) -> Result<Filter> {
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
    let words: Vec<&String> = match &args.command {
        Some(Command::Top { expression }) => args.expression.iter().chain(expression).collect(),
        _ => args.expression.iter().collect(),
    };
    // -x reads the expression as paths (`cli::unix`).
    if !words.is_empty() && !protocols.unix {
        let query = parse_expression(&words).map_err(|e| {
            // A unix path on inet sockets: say where paths apply.
            let path = words.iter().any(|w| w.starts_with(['/', '@']));
            let hint = if path {
                "; unix socket paths are filtered with -x"
            } else {
                ""
            };
            Error::usage(format!("{e}{hint}"))
        })?;
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

    fn refused(args: &[&str]) -> String {
        let matches = crate::cli::command()
            .try_get_matches_from([&["tcpstat"], args].concat())
            .unwrap();
        let args = <Args as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
        match config(&args) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{args:?} accepted"),
        }
    }

    #[test]
    fn sort_and_top_are_for_listings() {
        for args in [&["--events", "--top", "2"][..], &["-s", "--sort", "rtt"]] {
            assert!(
                refused(args).contains("only for the listing and -c"),
                "{args:?}"
            );
        }
        assert!(refused(&["--sort", "rate"]).contains("needs -c"));
        assert!(refused(&["--sort", "bytes", "--source", "proc"]).contains("tcp_info"));
        let matches = crate::cli::command()
            .try_get_matches_from([
                "tcpstat", "--sort", "send-q", "--source", "proc", "--top", "1",
            ])
            .unwrap();
        let args = <Args as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
        let cfg = config(&args).unwrap();
        assert_eq!(cfg.order.key, Some(SortKey::SendQ));
        assert_eq!(cfg.order.top, Some(1));
        assert!(!cfg.needs_info(), "send-q is in every source's rows");
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

    fn lowered(args: &[&str]) -> Config {
        let matches = crate::cli::command()
            .try_get_matches_from([&["tcpstat"], args].concat())
            .unwrap();
        let args = <Args as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
        config(&args).unwrap()
    }

    #[test]
    fn protocol_flags_combine_and_tcp_is_the_default() {
        use crate::model::Protocol::*;
        let inet = |args: &[&str]| lowered(args).protocols.inet().iter().collect::<Vec<_>>();
        assert_eq!(inet(&[]), [Tcp]);
        assert_eq!(inet(&["-f", "inet"]), [Tcp]);
        assert_eq!(inet(&["-u"]), [Udp]);
        assert_eq!(inet(&["-tulpn"]), [Tcp, Udp]);
        assert_eq!(inet(&["-wUt"]), [Tcp, UdpLite, Raw]);
        assert_eq!(inet(&["-A", "udp,raw"]), [Udp, Raw]);
        assert_eq!(inet(&["-A", "inet"]), [Tcp, Udp, UdpLite, Raw]);
        assert_eq!(inet(&["--query", "tcp", "-u"]), [Tcp, Udp]);
        let v6 = lowered(&["-u", "-f", "inet6"]);
        assert_eq!((v6.ipv4, v6.ipv6), (false, true));
        let both = lowered(&["-f", "inet", "-f", "inet6"]);
        assert_eq!((both.ipv4, both.ipv6), (true, true));
    }

    #[test]
    fn udp_scope_follows_netstat() {
        use crate::model::TcpState::*;
        assert_eq!(lowered(&["-u"]).datagram_states, StateSet::of(Established));
        assert_eq!(lowered(&["-ul"]).datagram_states, StateSet::of(Close));
        let all = lowered(&["-ua"]).datagram_states;
        assert!(all.contains(Close) && all.contains(Established));
        // -plant lists all, as netstat.
        assert!(lowered(&["-pluant"]).datagram_states.contains(Close));
        let explicit = lowered(&["-u", "state", "established"]).datagram_states;
        assert_eq!(explicit, StateSet::of(Established));
    }

    #[test]
    fn other_protocols_are_refused_where_tcp_alone_is_followed() {
        assert!(refused(&["-tx", "--json"]).contains("lists both tables once"));
        assert!(refused(&["-A", "all", "--sport", "22"]).contains("filters"));
        assert!(refused(&["-u", "--events"]).contains("--events follows TCP"));
        assert!(refused(&["-u", "why", "53"]).contains("why follows TCP"));
        assert!(refused(&["-uK", "--port", "53"]).contains("-K follows TCP"));
    }

    #[test]
    fn unknown_tables_and_families_name_what_is_accepted() {
        let err = crate::cli::command()
            .try_get_matches_from(["tcpstat", "-A", "tcp,sctp"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"sctp\"") && err.contains("accepted: tcp, udp, udplite, raw, unix"),
            "{err}"
        );
        let err = crate::cli::command()
            .try_get_matches_from(["tcpstat", "-f", "link"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("accepted: inet, inet6, unix"), "{err}");
    }

    fn kill_states(args: &[&str]) -> StateSet {
        let matches = crate::cli::command()
            .try_get_matches_from([&["tcpstat", "-K"], args].concat())
            .unwrap();
        let args = <Args as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
        match config(&args).unwrap().mode {
            Mode::Kill(kill) => kill.states,
            other => panic!("-K lowered to {other:?}"),
        }
    }

    #[test]
    fn kill_closes_listeners_and_time_wait_only_when_named() {
        use crate::model::TcpState::*;
        let default = kill_states(&["--port", "80"]);
        assert_eq!(default, Kill::default_states());
        for s in [Listen, TimeWait, SynRecv, Close] {
            assert!(!default.contains(s), "{s}");
        }
        assert!(default.contains(Established) && default.contains(CloseWait));
        assert_eq!(kill_states(&["-l", "--port", "80"]), StateSet::listening());
        assert!(kill_states(&["state", "all", "sport = :80"]).contains(Listen));
        let tw = kill_states(&["state", "time-wait"]);
        assert_eq!(tw, StateSet::of(TimeWait));
    }
}
