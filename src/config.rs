//! The resolved configuration: what to read, which rows to keep and how to
//! print them. Built once from the command line by `cli::lower`, which
//! validates it; everything to the right of it reads this, never clap's
//! types. A leaf: it names only the model and the typed filter.

use crate::filter::unix::UnixFilter;
use crate::filter::Filter;
use crate::model::{
    OwnerSource, Parallel, Protocol, ProtocolSet, SourceChoice, StateSet, TcpState,
};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The interval when `-c` or `--events` is given without one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// What watch mode was asked to do (`-c`, `--events`, `--count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    /// Time between the starts of two passes.
    pub interval: Duration,
    /// Stop after this many passes.
    pub count: Option<u64>,
    /// Print changes (`--events`) rather than the listing (`-c`).
    pub events: bool,
    /// Where `--events` hears changes from.
    pub event_source: EventSource,
    /// `--lifetime`: a `lifetime` event when a connection whose opening
    /// was seen closes (exact mode).
    pub lifetime: bool,
}

/// `--events=MODE`: how changes are heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// Exact where the privilege and the kernel allow it, else sampled.
    Auto,
    /// Every state change from the kernel's tracepoint; refused (exit 1)
    /// when it cannot be loaded.
    Exact,
    /// Polls and destroy notifications.
    Sampled,
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
    /// `-K`: close the matching sockets.
    Kill(Kill),
    /// `serve`: metrics for Prometheus (the details in [`Config::serve`]).
    Serve,
    /// `top`: the live view, refreshed every `interval`.
    Top { interval: Duration },
}

/// `serve`: where the metrics go and how many series they may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serve {
    /// An HTTP endpoint or a textfile.
    pub output: ServeOutput,
    /// Most series the port, process and endpoint metrics may add.
    pub max_series: usize,
}

/// Where `serve` puts the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeOutput {
    /// `--listen ADDR`: answer scrapes on this address.
    Http(SocketAddr),
    /// `--textfile PATH [--interval SECS]`: write the file once, or every
    /// interval until a stop signal.
    Textfile {
        path: PathBuf,
        interval: Option<Duration>,
    },
}

/// What `-K` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kill {
    /// The states it closes. Matching sockets in other states (listeners
    /// and TIME_WAIT unless named) are reported as left open.
    pub states: StateSet,
    /// `--dry-run`: list what would be closed, close nothing.
    pub dry_run: bool,
    /// `--yes`: close without asking, even many sockets.
    pub yes: bool,
}

impl Kill {
    /// The states `-K` closes when no state is named: those of a live
    /// connection, as `ss -K` (its default `connected` set without
    /// SYN_RECV). Listeners, request sockets and TIME_WAIT remnants are
    /// closed only when the filter names their state.
    pub fn default_states() -> StateSet {
        [
            TcpState::Listen,
            TcpState::SynRecv,
            TcpState::TimeWait,
            TcpState::Close,
        ]
        .into_iter()
        .fold(StateSet::ALL, |set, s| set.without(StateSet::of(s)))
    }
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
    /// The states this scope lists.
    pub fn states(self) -> StateSet {
        match self {
            Scope::All => StateSet::ALL,
            Scope::Listening => StateSet::listening(),
            Scope::Connected => StateSet::connections(),
        }
    }

    /// The states of UDP, UDP-Lite and raw sockets this scope lists, as
    /// netstat selects them: connected ones by default, unconnected ones
    /// with `-l` (netstat tells them by their remote address, which only a
    /// connected socket has), both with `-a`.
    pub fn datagram_states(self) -> StateSet {
        let connected = StateSet::of(TcpState::Established);
        let unconnected = StateSet::of(TcpState::Close);
        match self {
            Scope::All => connected.union(unconnected),
            Scope::Listening => unconnected,
            Scope::Connected => connected,
        }
    }

    /// The scope that names a set of states in the table's header:
    /// explicit states replace -a/-l, and `--state listen` lists "only
    /// servers".
    pub fn of_states(states: StateSet) -> Scope {
        if states == StateSet::listening() {
            Scope::Listening
        } else if states.contains(TcpState::Listen) {
            Scope::All
        } else {
            Scope::Connected
        }
    }
}

/// Which kinds of socket a listing shows: `-t`, `-u`, `-U`, `-w`, `-x`,
/// ss's `-A/--query` and `-f/--family`. Without any of them, TCP alone
/// (tcpstat stays TCP-first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protocols {
    /// `-t`: TCP.
    pub tcp: bool,
    /// `-u`: UDP.
    pub udp: bool,
    /// `-U`: UDP-Lite.
    pub udplite: bool,
    /// `-w`: raw sockets.
    pub raw: bool,
    /// `-x`: unix domain sockets (their own listing and table).
    pub unix: bool,
}

impl Protocols {
    /// TCP alone: the listing without a protocol flag.
    pub const TCP: Protocols = Protocols {
        tcp: true,
        udp: false,
        udplite: false,
        raw: false,
        unix: false,
    };

    /// The internet protocols among them, for the source.
    pub fn inet(self) -> ProtocolSet {
        [
            (self.tcp, Protocol::Tcp),
            (self.udp, Protocol::Udp),
            (self.udplite, Protocol::UdpLite),
            (self.raw, Protocol::Raw),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, p)| p)
        .collect()
    }

    /// True when TCP is the only protocol asked for.
    pub fn tcp_only(self) -> bool {
        self == Protocols::TCP
    }
}

/// Which table columns beyond netstat's basic six are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Columns {
    /// `-e`: User and Inode.
    pub extended: bool,
    /// `-p`: PID/Program name.
    pub program: bool,
    /// `--users`: every owner with its descriptor, as ss's
    /// `users:((…))`, in place of PID/Program name (implies `program`).
    pub users: bool,
    /// `-o`: Timer.
    pub timer: bool,
    /// `--explain`: a note on teardown and unusual states, last.
    pub note: bool,
    /// `-i`: tcp_info on a continuation line (a JSON `info` object).
    pub info: bool,
    /// `-m`: socket memory on a continuation line (a JSON `memory` object).
    pub memory: bool,
    /// `-c -i`: `Send/s Recv/s Retr/s` between passes.
    pub rates: bool,
}

/// `--sort KEY`: what orders the rows. Counters and sizes sort largest
/// first; rows the key does not apply to (no tcp_info, no rate yet) go
/// last, and rows with equal keys keep the kernel's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Smoothed RTT (tcp_info).
    Rtt,
    /// Segments retransmitted over the connection's life (tcp_info).
    Retrans,
    /// Send queue.
    SendQ,
    /// Receive queue.
    RecvQ,
    /// Bytes acknowledged plus received per second (tcp_info, -c).
    Rate,
    /// Bytes acknowledged plus received (tcp_info).
    Bytes,
}

impl SortKey {
    /// True when the key is read from tcp_info, which must then be asked
    /// for even without `-i`.
    pub fn needs_info(self) -> bool {
        !matches!(self, SortKey::SendQ | SortKey::RecvQ)
    }
}

/// `--sort`, `--reverse` and `--top`: the order and number of rows shown
/// (per pass with -c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Order {
    pub key: Option<SortKey>,
    /// Smallest first (rows without the key still last).
    pub reverse: bool,
    /// Keep the first N rows after sorting.
    pub top: Option<usize>,
}

/// Everything the pipeline needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub ipv4: bool,
    pub ipv6: bool,
    pub scope: Scope,
    /// `-H`: no header lines above the table.
    pub no_header: bool,
    /// `-n`: no name lookups at all.
    pub numeric: bool,
    /// `-n` or `--numeric-hosts`: addresses stay numeric.
    pub numeric_hosts: bool,
    /// `-n` or `--numeric-ports`: ports stay numeric.
    pub numeric_ports: bool,
    /// `-n` or `--numeric-users`: uids stay numeric.
    pub numeric_users: bool,
    pub wide: bool,
    pub columns: Columns,
    pub format: Format,
    pub source: SourceChoice,
    /// Whether a big TCP dump is split in two.
    pub parallel: Parallel,
    /// Where `-p` finds owners.
    pub owner_source: OwnerSource,
    pub verbose: u8,
    pub proc_root: PathBuf,
    /// `-N`: the namespace file to enter before reading sockets.
    pub netns: Option<PathBuf>,
    /// `-N all`: every network namespace on the host.
    pub all_netns: bool,
    /// Which kinds of socket to list.
    pub protocols: Protocols,
    /// Which sockets to keep (flags and expression).
    pub filter: Filter,
    /// What to produce.
    pub mode: Mode,
    /// `-c`/`--events`: repeat the pipeline; `None` for one pass.
    pub watch: Option<Watch>,
    /// `serve`'s settings; `Some` exactly when the mode is `Serve`.
    pub serve: Option<Serve>,
    /// The states to ask the source for: the explicit `--state`/`state`
    /// list when there is one (it replaces the -a/-l scope, as in ss),
    /// otherwise the scope's.
    pub states: StateSet,
    /// The states of UDP, UDP-Lite and raw sockets to list: the explicit
    /// list when there is one, otherwise netstat's scope for them
    /// (ESTABLISHED is a connected socket, CLOSE an unconnected one, which
    /// `-l` lists as netstat does).
    pub datagram_states: StateSet,
    /// `--sort`, `--reverse`, `--top`.
    pub order: Order,
    /// The filter of a `-x` listing (paths, --pid, --program).
    pub unix_filter: UnixFilter,
}

impl Config {
    /// The owners to print, of those read: owners looked up only to
    /// filter on are not shown.
    pub fn shown_owners<T>(&self, owners: Option<T>) -> Option<T> {
        owners.filter(|_| self.columns.program)
    }

    /// True when each row's tcp_info must be read: shown (`-i`) or sorted
    /// on (`--sort rtt|retrans|rate|bytes`).
    pub fn needs_info(&self) -> bool {
        self.columns.info || self.order.key.is_some_and(SortKey::needs_info)
    }

    /// Whether a listing (or each `-c` pass) can be written as it is read:
    /// nothing in it needs every row first (sorting, `--top`, names looked
    /// up together within a budget). Under `-N all` the rows go out a
    /// namespace at a time.
    pub fn streams(&self) -> bool {
        self.order.key.is_none()
            && self.order.top.is_none()
            && (self.numeric || self.format == Format::Json)
    }
}
