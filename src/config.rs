//! The resolved configuration: what to read, which rows to keep and how to
//! print them. Built once from [`crate::cli::Args`] and validated there.

use crate::cli::{Args, Command, OwnerSourceArg, SourceArg};
use crate::error::{Error, Result};
use crate::filter::{parse_expression, Filter};
use crate::model::TcpState;
use crate::owners::{OwnerSource, ProcessMap};
use std::net::IpAddr;
use std::path::PathBuf;

/// Which data source to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceChoice {
    /// netlink, falling back to /proc.
    Auto,
    /// netlink only; failure is an error.
    Netlink,
    /// /proc/net/tcp{,6} only.
    Proc,
}

/// How to print the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// netstat's table.
    Table,
    /// One JSON array.
    Json,
}

/// What the run produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The listing (table or JSON).
    List,
    /// `-s`: counts and findings.
    Summary,
    /// `why PORT`: whether PORT can be bound now.
    Why { port: u16, addr: Option<IpAddr> },
}

/// Which rows netstat's scope flags keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Default: every state but LISTEN ("w/o servers").
    Connected,
    /// `-l`: LISTEN only ("only servers").
    Listening,
    /// `-a`: everything ("servers and established").
    All,
}

impl Scope {
    /// The inet_diag state mask for this scope.
    pub fn state_mask(self) -> u32 {
        let all = crate::filter::ALL_STATES;
        match self {
            Scope::All => all,
            Scope::Listening => TcpState::Listen.mask_bit(),
            Scope::Connected => all & !TcpState::Listen.mask_bit(),
        }
    }

    /// The scope that names a state mask in the table's header: explicit
    /// states replace -a/-l, and `--state listen` lists "only servers".
    pub fn of_states(states: u32) -> Scope {
        let listen = TcpState::Listen.mask_bit();
        if states == listen {
            Scope::Listening
        } else if states & listen != 0 {
            Scope::All
        } else {
            Scope::Connected
        }
    }
}

/// Which table columns beyond netstat's basic six are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Columns {
    /// `-e`: User and Inode.
    pub extended: bool,
    /// `-p`: PID/Program name.
    pub program: bool,
    /// `-o`: Timer.
    pub timer: bool,
    /// `--explain`: a note on teardown and unusual states, last.
    pub note: bool,
}

/// Everything the pipeline needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub ipv4: bool,
    pub ipv6: bool,
    pub scope: Scope,
    pub numeric: bool,
    pub wide: bool,
    pub columns: Columns,
    pub format: Format,
    pub source: SourceChoice,
    /// Where `-p` finds owners.
    pub owner_source: OwnerSource,
    pub verbose: u8,
    pub proc_root: PathBuf,
    /// `-N`: the namespace file to enter before reading sockets.
    pub netns: Option<PathBuf>,
    /// Which sockets to keep (flags and expression).
    pub filter: Filter,
    /// What to produce.
    pub mode: Mode,
    /// `-c`/`--events`: repeat the pipeline; `None` for one pass.
    pub watch: Option<crate::watch::Plan>,
    /// The states to ask the source for: the explicit `--state`/`state`
    /// list when there is one (it replaces the -a/-l scope, as in ss),
    /// otherwise the scope's.
    pub states: u32,
}

impl Config {
    /// Resolves parsed arguments into a config.
    pub fn from_args(args: &Args) -> Result<Config> {
        if args.all && args.listening {
            return Err(Error::usage(
                "-a (all sockets) and -l (listening only) contradict each other; use one",
            ));
        }
        // netstat's -4/-6 restrict; given both, both families are shown.
        let (ipv4, ipv6) = match (args.inet, args.inet6) {
            (true, false) => (true, false),
            (false, true) => (false, true),
            _ => (true, true),
        };
        let mode = match args.command {
            Some(Command::Why { port, addr }) => Mode::Why { port, addr },
            None if args.summary => Mode::Summary,
            None => Mode::List,
        };
        // A summary counts every state unless told otherwise, as `ss -s`.
        let scope = if args.all || (mode == Mode::Summary && !args.listening) {
            Scope::All
        } else if args.listening {
            Scope::Listening
        } else {
            Scope::Connected
        };
        let source = match args.source {
            SourceArg::Auto => SourceChoice::Auto,
            SourceArg::Netlink => SourceChoice::Netlink,
            SourceArg::Proc => SourceChoice::Proc,
        };
        let filter = build_filter(args)?;
        let (states, scope) = match filter.explicit_states() {
            Some(states) => (states, Scope::of_states(states)),
            None => (scope.state_mask(), scope),
        };
        // `why` judges a bind against every socket of the namespace.
        let (filter, states, ipv4, ipv6) = match mode {
            Mode::Why { .. } if !filter.keeps_all() || args.inet != args.inet6 => {
                return Err(Error::usage(
                    "why judges a bind against every socket; filters, -4 and -6 do not apply to it",
                ));
            }
            Mode::Why { .. } => (Filter::new(), Scope::All.state_mask(), true, true),
            _ => (filter, states, ipv4, ipv6),
        };
        let watch = watch_plan(args, mode)?;
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
            },
            format: if args.json {
                Format::Json
            } else {
                Format::Table
            },
            source,
            owner_source: match args.owner_source {
                OwnerSourceArg::Auto => OwnerSource::Auto,
                OwnerSourceArg::Bpf => OwnerSource::Bpf,
                OwnerSourceArg::Proc => OwnerSource::Proc,
            },
            verbose: args.verbose,
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

    /// The owners to print, of those read: owners looked up only to
    /// filter on are not shown.
    pub fn shown_owners<'m>(&self, owners: Option<&'m ProcessMap>) -> Option<&'m ProcessMap> {
        owners.filter(|_| self.columns.program)
    }

    /// True when owners must be looked up: shown (`-p`) or filtered on
    /// (`--pid`, `--program`).
    pub fn needs_owners(&self) -> bool {
        self.columns.program || self.filter.needs_owners() || self.mode != Mode::List
    }

    /// True when exact timer counters are needed (shown in `-o` or JSON).
    pub fn needs_timer_counters(&self) -> bool {
        self.columns.timer || self.format == Format::Json
    }
}

/// `-c`, `--events` and `--count`.
fn watch_plan(args: &Args, mode: Mode) -> Result<Option<crate::watch::Plan>> {
    if !args.events && args.continuous.is_none() {
        return match args.count {
            Some(_) => Err(Error::usage("--count needs -c or --events")),
            None => Ok(None),
        };
    }
    if mode != Mode::List {
        return Err(Error::usage(
            "-c and --events repeat the listing; they cannot be combined with -s or why",
        ));
    }
    Ok(Some(crate::watch::Plan {
        interval: args.continuous.unwrap_or(crate::watch::DEFAULT_INTERVAL),
        count: args.count,
        events: args.events,
    }))
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
        filter = filter.with_states(args.state.iter().fold(0, |all, mask| all | mask));
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
        Config::from_args(&args).unwrap().scope
    }

    #[test]
    fn explicit_states_name_the_header_scope() {
        assert_eq!(scope_of(&[]), Scope::Connected);
        assert_eq!(scope_of(&["-a"]), Scope::All);
        assert_eq!(scope_of(&["-l"]), Scope::Listening);
        assert_eq!(scope_of(&["--state", "listen"]), Scope::Listening);
        assert_eq!(scope_of(&["-a", "state", "listening"]), Scope::Listening);
        assert_eq!(scope_of(&["--state", "listen,time-wait"]), Scope::All);
        assert_eq!(scope_of(&["-l", "--state", "time-wait"]), Scope::Connected);
    }
}
