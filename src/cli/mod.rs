//! The command line as clap sees it. Parsed once, then resolved into a
//! [`crate::config::Config`] by [`lower`]; nothing past `config` sees these
//! types. [`argv`] rewrites the one netstat habit clap cannot express.

pub mod argv;
pub mod listen;
pub mod lower;
pub mod manual;
pub mod unix;

use crate::error::{Error, Result};
use crate::filter::{
    parse_addr_prefix, parse_port, parse_ports, parse_states, AddrPrefix, PortSet, STATE_NAMES,
};
use crate::model::StateSet;
use argv::parse_interval;
use clap::{ArgAction, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// List TCP sockets like `netstat -tanpo`, from the kernel's sock_diag
/// interface (or /proc), as a netstat-compatible table or as JSON.
#[derive(Debug, Parser)]
#[command(
    name = "tcpstat",
    version,
    about = "List TCP sockets like netstat -tanpo, faster, with exact timers and JSON",
    long_about = "List TCP sockets like `netstat -tanpo` and `ss`: state, queues, owner, inode, \
                  owning processes and the kernel's timers, read from sock_diag netlink \
                  (or /proc/net/tcp{,6} as a fallback), printed as a netstat-compatible table \
                  or as JSON.\n\n\
                  Without -a or -l, listening sockets are hidden, as in netstat.\n\n\
                  Names from outside tcpstat (hosts, services, users, programs) are printed \
                  with control, format and combining characters escaped as Rust's {:?} \
                  writes them (\\u{1b} for ESC, \\n, \\\\ for a backslash); JSON carries \
                  them exactly.",
    after_help = "Examples:\n  \
                  tcpstat -anpo                 every socket, numeric, with owners and timers\n  \
                  tcpstat -tl                   listening sockets, names resolved\n  \
                  tcpstat -an --port 1234       what is on port 1234\n  \
                  tcpstat -an state time-wait dst 10.0.0.5   TIME_WAIT toward 10.0.0.5\n  \
                  tcpstat -anp --state close-wait --program nginx\n  \
                  tcpstat -s                    summary and findings about teardown states\n  \
                  tcpstat why 8080              could a server bind port 8080 now? why not?\n  \
                  tcpstat serve                 metrics for Prometheus on 127.0.0.1:9923\n  \
                  tcpstat top -a                a live, sortable view of every socket\n  \
                  tcpstat -an --json | jq '.[] | select(.state == \"TIME_WAIT\")'\n  \
                  tcpstat -anpc 2               the listing every 2 seconds\n  \
                  tcpstat -anp --events         connections opening, changing state, closing\n  \
                  tcpstat -K --dry-run dport = :5432   what -K dport = :5432 would close"
)]
pub struct Args {
    /// Show TCP sockets (the default when no protocol is named)
    ///
    /// Without -t, -u, -U, -w, -x, -A or -f unix, tcpstat lists TCP
    /// sockets alone. Protocol flags combine: `-tu` lists TCP and UDP,
    /// `-tuw` adds raw sockets, in netstat's order under one header.
    #[arg(short = 't', long = "tcp", help_heading = "Selection")]
    pub tcp: bool,

    /// Show UDP sockets
    ///
    /// As netstat: connected sockets (State ESTABLISHED) by default,
    /// unconnected bound ones (an empty State) with -l, both with -a.
    #[arg(short = 'u', long = "udp", help_heading = "Selection")]
    pub udp: bool,

    /// Show UDP-Lite sockets (netstat's `udpl`)
    #[arg(short = 'U', long = "udplite", help_heading = "Selection")]
    pub udplite: bool,

    /// Show raw sockets
    ///
    /// The local port is the socket's IP protocol (1 for ICMP, 58 for
    /// ICMPv6) and the State column the kernel's state number (7
    /// unconnected, 1 connected), as netstat prints them.
    #[arg(short = 'w', long = "raw", help_heading = "Selection")]
    pub raw: bool,

    /// Show unix domain sockets (netstat -x)
    ///
    /// netstat's "Active UNIX domain sockets" table: RefCnt, Flags, Type,
    /// State, I-Node, PID/Program name (-p) and Path; listeners with -l,
    /// all with -a, as netstat selects them. Filtered by path (`src
    /// PATTERN`, `dst PATTERN` with `*`, `?` and `[…]`), --pid and
    /// --program; ports, addresses and TCP states do not apply. Unlike
    /// netstat, which cuts a path at its first space or newline, the whole
    /// path is printed, escaped (`\n`, `\xff`). From netlink, RefCnt is
    /// read from /proc/net/unix (`-` for a socket made in between). With
    /// -t, -u, -U or -w, their table comes first, then this one, as
    /// netstat prints them.
    #[arg(short = 'x', long = "unix", help_heading = "Selection")]
    pub unix: bool,

    /// Show the sockets of these tables, as ss's -A (comma-separated)
    ///
    /// `tcp`, `udp`, `udplite`, `raw`, `unix`, `inet` (tcp, udp, udplite
    /// and raw) or `all` (inet and unix). Adds to -t, -u, -U, -w and -x.
    #[arg(
        short = 'A',
        long = "query",
        visible_alias = "socket",
        value_name = "QUERY",
        value_parser = parse_query,
        action = ArgAction::Append,
        help_heading = "Selection"
    )]
    pub query: Vec<Vec<Query>>,

    /// Only sockets of FAMILY, as ss's -f: `inet`, `inet6` or `unix`
    ///
    /// `inet` and `inet6` are -4 and -6 (and keep TCP the default
    /// protocol); `unix` is -x. Given several times, any of them.
    #[arg(
        short = 'f',
        long = "family",
        value_name = "FAMILY",
        value_parser = parse_family,
        action = ArgAction::Append,
        help_heading = "Selection"
    )]
    pub family: Vec<FamilyArg>,

    /// Show listening and non-listening sockets
    #[arg(short = 'a', long = "all", global = true, help_heading = "Selection")]
    pub all: bool,

    /// Show only listening sockets
    #[arg(
        short = 'l',
        long = "listening",
        global = true,
        help_heading = "Selection"
    )]
    pub listening: bool,

    /// Only IPv4 sockets
    #[arg(short = '4', long = "inet", help_heading = "Selection")]
    pub inet: bool,

    /// Only IPv6 sockets
    #[arg(short = '6', long = "inet6", help_heading = "Selection")]
    pub inet6: bool,

    /// List the sockets of another network namespace, or of all (`all`)
    ///
    /// NAME is a namespace made by `ip netns add` (under /var/run/netns);
    /// anything containing a `/` is a path to a namespace file, such as
    /// /proc/PID/ns/net. Any other NAME is looked up among the host's
    /// namespaces as -N all names them: a container's name or id prefix,
    /// a systemd service, a pod, `host`, or an inode; it must name one. With -p, owners are still found (process scans are
    /// not limited to the namespace). `-N all` lists every network
    /// namespace on the host (of processes, `ip netns` names and nsfs
    /// mounts such as Docker's), each named in a NETNS column by its
    /// container, service, ip-netns name or first process; the host's is
    /// `host`. With -c, --events and top, every pass finds the namespaces
    /// again: one created meanwhile is read from the next pass on, one
    /// gone is dropped (said under -v); each event names its namespace.
    /// With -N all, -K (and top's `k`) closes each matching socket in its
    /// own namespace, and serve
    /// labels every socket metric with `netns`. A namespace named `all` is
    /// `-N /var/run/netns/all`.
    #[arg(
        short = 'N',
        long = "netns",
        value_name = "NAME|PATH|all",
        global = true,
        help_heading = "Selection"
    )]
    pub netns: Option<String>,

    /// Every network namespace on the host: the same as -N all
    #[arg(
        long = "all-netns",
        conflicts_with = "netns",
        global = true,
        help_heading = "Selection"
    )]
    pub all_netns: bool,

    /// Show numeric addresses, ports and users (no name lookups)
    #[arg(short = 'n', long = "numeric", global = true, help_heading = "Output")]
    pub numeric: bool,

    /// Show numeric addresses (netstat's --numeric-hosts)
    #[arg(long = "numeric-hosts", global = true, help_heading = "Output")]
    pub numeric_hosts: bool,

    /// Show numeric ports (netstat's --numeric-ports)
    #[arg(long = "numeric-ports", global = true, help_heading = "Output")]
    pub numeric_ports: bool,

    /// Show numeric user ids (netstat's --numeric-users)
    #[arg(long = "numeric-users", global = true, help_heading = "Output")]
    pub numeric_users: bool,

    /// Show the PID and program name owning each socket
    ///
    /// Maps socket inodes to processes once per run, by a BPF iterator over
    /// every process's descriptors or by reading /proc/*/fd (see
    /// --owner-source). Sockets without an inode (TIME_WAIT, orphans) and sockets of
    /// processes that could not be read show `-`.
    #[arg(
        short = 'p',
        long = "programs",
        visible_alias = "processes",
        help_heading = "Output"
    )]
    pub program: bool,

    /// Show every process holding each socket, ss style (implies -p)
    ///
    /// In place of netstat's one-owner PID/Program name column, a Users
    /// column written as ss -p writes it: `users:(("nginx",pid=812,fd=6),
    /// ("nginx",pid=813,fd=6))`, one entry per descriptor, in pid then fd
    /// order. JSON always lists every owner with its fd under -p.
    #[arg(long = "users", help_heading = "Output")]
    pub users: bool,

    /// Show the kernel's timer of each socket
    ///
    /// Written as netstat does: `kind (seconds/retransmits/probes)`, for
    /// example `keepalive (7197.16/0/0)` or `on (0.56/3/0)`.
    #[arg(
        short = 'o',
        long = "timers",
        visible_alias = "options",
        help_heading = "Output"
    )]
    pub timers: bool,

    /// Show what the kernel knows inside each connection (tcp_info)
    ///
    /// After each socket's line, an indented line in ss's words and units
    /// (`ss -ti`): congestion control, wscale, rto, rtt/rttvar (ms), mss,
    /// cwnd, ssthresh, bytes and segments sent and received, send, pacing
    /// and delivery rates, last send/receive/ack (ms ago), retransmissions,
    /// losses, reordering, minrtt... With --json, an `info` object per
    /// socket, units in the key names, fields the kernel did not send left
    /// out. Sockets in TIME_WAIT and SYN_RECV have none. Needs the netlink
    /// source.
    ///
    /// With -c, live rates between two passes, per connection (known by
    /// its socket cookie, so a reused address and port never inherit
    /// another socket's counters): the table adds `Send/s` (bytes
    /// acknowledged by the peer per second), `Recv/s` (bytes received per
    /// second), both in bytes with SI prefixes (`8.0M` = 8,000,000 bytes/s,
    /// `512K`), and `Retr/s` (segments retransmitted per second). JSON adds
    /// `info.rates` (`acked_bps`, `received_bps` in bits per second like
    /// `pacing_rate_bps`; `segs_out_per_sec`, `segs_in_per_sec`,
    /// `retrans_per_sec`; `interval_us`). The first pass has no rates, nor
    /// has a connection the previous pass did not list, nor a counter that
    /// went backwards: shown `-`, left out of JSON. With --events, the
    /// JSON events carry the same `info.rates`.
    #[arg(short = 'i', long = "info", help_heading = "Output")]
    pub info: bool,

    /// Show each socket's memory (skmem)
    ///
    /// As `ss -m` writes it: `skmem:(r<rmem_alloc>,rb<rcvbuf>,t<wmem_alloc>,
    /// tb<sndbuf>,f<fwd_alloc>,w<wmem_queued>,o<optmem>,bl<backlog>,
    /// d<drops>)`, in bytes (drops in packets), on the continuation line.
    /// With --json, a `memory` object per socket. Needs the netlink source.
    #[arg(short = 'm', long = "memory", help_heading = "Output")]
    pub memory: bool,

    /// Show the owning user and the socket inode
    #[arg(
        short = 'e',
        long = "extend",
        visible_alias = "extended",
        help_heading = "Output"
    )]
    pub extend: bool,

    /// Never truncate addresses or program names
    #[arg(short = 'W', long = "wide", help_heading = "Output")]
    pub wide: bool,

    /// Leave out the table's header lines, as ss -H
    #[arg(short = 'H', long = "no-header", help_heading = "Output")]
    pub no_header: bool,

    /// Print JSON instead of text
    ///
    /// The listing is an array, one socket object per line; with -c, one
    /// object per pass and line; with --events, one object per event and
    /// line; -s and `why` print one object. In a socket object every key is
    /// always present; numbers are numbers; addresses are numeric. All of
    /// them are described by the JSON schema shipped as
    /// schema/tcpstat.schema.json.
    #[arg(long = "json", global = true, help_heading = "Output")]
    pub json: bool,

    /// Summarise instead of listing: counts per state, who holds the
    /// teardown states, and plain-language findings
    ///
    /// From the same dump as the listing (filters and -N apply): counts per
    /// state for tcp and tcp6 (with -u, -U or -w, their sockets counted
    /// apart: connected and unconnected per protocol); for TIME_WAIT, CLOSE_WAIT, FIN_WAIT2 and
    /// SYN_RECV the top local ports, remote endpoints and owning processes;
    /// orphaned sockets; TIME_WAIT against net.ipv4.tcp_max_tw_buckets; use
    /// of the ephemeral port range per remote endpoint; idle connections
    /// without keepalive; then findings, most serious first. With --json,
    /// one object. With -N all, one summary per namespace, then every
    /// finding, each naming its container, service or namespace.
    #[arg(short = 's', long = "summary", help_heading = "Diagnosis")]
    pub summary: bool,

    /// Add a short note to each socket in a teardown or unusual state
    ///
    /// Who closed first, what the kernel is waiting for and which timer ends
    /// it: a `Note` column in the table, an `explain` key in JSON.
    #[arg(long = "explain", help_heading = "Diagnosis")]
    pub explain: bool,

    /// Close every socket the filter matches (sock_diag SOCK_DESTROY)
    ///
    /// The kernel aborts each one: its owner's next call fails with
    /// ECONNABORTED and the peer gets a reset. A filter is required (a port,
    /// address, state, uid, pid, program or expression); a bare -K is
    /// refused. Without a state named, only connections are closed
    /// (ESTABLISHED, SYN_SENT, FIN_WAIT1/2, CLOSE_WAIT, LAST_ACK, CLOSING,
    /// as `ss -K`); listeners only with -l or a state list naming them
    /// (`state listening`, `state all`), TIME_WAIT and SYN_RECV only when
    /// named; matching sockets left open are listed after the results
    /// (`left open`), each with what helps instead. When more than one socket matches,
    /// asks on the terminal first (showing the count and the first lines);
    /// with neither stdin nor stdout a terminal, refuses (exit 2) unless
    /// --yes. Prints each socket with its RESULT: closed, gone (closed by
    /// itself since the dump), not_supported, permission_denied or error;
    /// with --json, one object. Needs CAP_NET_ADMIN in the namespace (-N)
    /// and the netlink source. With -N all, sockets of every namespace
    /// match (`netns NAME` in the filter picks namespaces), each is closed
    /// from inside its own, and the confirmation and the report name each
    /// one's namespace (NETNS; `netns` in JSON). Exit 0 when every socket
    /// was closed or gone, 1 otherwise.
    #[arg(short = 'K', long = "kill", help_heading = "Action")]
    pub kill: bool,

    /// With -K: list what would be closed, and close nothing
    #[arg(long = "dry-run", requires = "kill", help_heading = "Action")]
    pub dry_run: bool,

    /// With -K: close without asking for confirmation
    #[arg(long = "yes", requires = "kill", help_heading = "Action")]
    pub yes: bool,

    /// Order the rows by KEY, largest first (each pass with -c)
    ///
    /// `rtt` (smoothed round-trip time), `retrans` (segments retransmitted
    /// over the connection's life), `send-q`, `recv-q`, `bytes` (bytes
    /// acknowledged plus received) and `rate` (the same per second between
    /// two passes: needs -c). Rows the key does not apply to (no tcp_info:
    /// TIME_WAIT, SYN_RECV; no rate yet) go last; rows with equal keys keep
    /// the kernel's order. Keys other than send-q and recv-q read each
    /// socket's tcp_info even without -i (netlink only).
    #[arg(long = "sort", value_name = "KEY", value_enum, help_heading = "Output")]
    pub sort: Option<SortArg>,

    /// With --sort, smallest first (rows without the key still last)
    #[arg(long = "reverse", requires = "sort", help_heading = "Output")]
    pub reverse: bool,

    /// Show only the first N rows (after --sort; per pass with -c)
    #[arg(
        long = "top",
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..),
        help_heading = "Output"
    )]
    pub top: Option<u64>,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// Repeat the listing every SECS seconds, like netstat -c (default 1)
    ///
    /// Each pass is a fresh dump (and process scan, with -p) printed after
    /// a line with its time; with --json each pass is one line,
    /// `{"time": …, "sockets": […]}`. SECS may be a fraction (`0.5`).
    /// Written `-c`, `-c 2`, `-c2`, `--continuous=2`, or last in a bundle
    /// (`-anpoc 2`); the word after -c is taken as SECS only when it is a
    /// number, so an expression may follow (`tcpstat -c state
    /// established`). With --events, the time between polls. A pass
    /// longer than SECS delays the next to the following slot, said once
    /// on stderr.
    #[arg(
        short = 'c',
        long = "continuous",
        value_name = "SECS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1",
        value_parser = parse_interval,
        global = true,
        help_heading = "Watch"
    )]
    pub continuous: Option<Duration>,

    /// Print what changes: new sockets, state changes, sockets gone
    ///
    /// MODE is `auto` (the default), `exact` or `sampled`.
    ///
    /// Exact: every state change as the kernel makes it, from its
    /// `sock:inet_sock_set_state` tracepoint through a small BPF program
    /// (needs root, or CAP_BPF and CAP_PERFMON, and kernel BTF): one line
    /// per change, `state OLD -> NEW` with the kernel's time, including
    /// SYN_SENT, SYN_RECV and the final CLOSE; with --json each object also
    /// carries the socket's cookie (the kernel's id for it, the same in
    /// every change of one connection) and its network namespace. Changes
    /// the kernel could not hand over (a full ring) are counted and
    /// printed as `lost` lines. The kernel replaces a socket that enters
    /// TIME_WAIT with a timewait socket; the tracepoint shows that as
    /// `FIN_WAIT2 -> CLOSE` (or `CLOSING -> CLOSE`), and the TIME_WAIT
    /// entry itself is shown only where `tcp_time_wait` can be traced.
    ///
    /// Sampled: polls every second (or every SECS of -c) and prints one
    /// line per change seen between polls: `new`, `state` (with the old
    /// state) or `gone`. The first poll only sets the baseline. It also
    /// hears the kernel's socket-destroy notifications, so a connection
    /// that opens and closes between two polls is still reported, with the
    /// byte counts it ended with. A socket that matches the filters once is
    /// followed until it is gone.
    ///
    /// With -N all, the events of every namespace (each named in a NETNS
    /// column, or `socket.netns` in JSON), including namespaces created
    /// during the watch.
    ///
    /// Auto is exact where the privilege and the kernel allow it, else
    /// sampled (with --source proc, sampled), and the first line says
    /// which. With --json, one object per line, `{"time", "event",
    /// "old_state", "socket", "bytes_acked", "bytes_received", "mode",
    /// "cookie", "netns"}`.
    #[arg(
        long = "events",
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "auto",
        help_heading = "Watch"
    )]
    pub events: Option<EventsArg>,

    /// With --events: when a connection closes, how long it lived
    ///
    /// One more event, `lifetime`, after the change to CLOSE of a
    /// connection whose opening was seen (CLOSE -> SYN_SENT, LISTEN ->
    /// SYN_RECV): the time between the two, from the kernel's timestamps
    /// (JSON `lifetime_us`). Exact mode only: sampled mode cannot time a
    /// connection's life and says so.
    #[arg(long = "lifetime", requires = "events", help_heading = "Watch")]
    pub lifetime: bool,

    /// Stop after N passes of -c or --events
    #[arg(
        long = "count",
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..),
        help_heading = "Watch"
    )]
    pub count: Option<u64>,

    /// Only sockets with one of PORTS at either end
    ///
    /// A port, a list or a range: `80`, `80,443`, `8000-8100`,
    /// `22,8000-8100`. Given several times, any of them.
    #[arg(long = "port", value_name = "PORTS", value_parser = parse_ports, action = ArgAction::Append, help_heading = "Filters")]
    pub port: Vec<PortSet>,

    /// Only sockets whose local (source) port is in PORTS
    #[arg(long = "sport", value_name = "PORTS", value_parser = parse_ports, action = ArgAction::Append, help_heading = "Filters")]
    pub sport: Vec<PortSet>,

    /// Only sockets whose remote (destination) port is in PORTS
    #[arg(long = "dport", value_name = "PORTS", value_parser = parse_ports, action = ArgAction::Append, help_heading = "Filters")]
    pub dport: Vec<PortSet>,

    /// Only sockets in these states (comma-separated)
    ///
    /// netstat or ss spellings, any case: `TIME_WAIT`, `time-wait`,
    /// `FIN_WAIT1`, `fin-wait-1`, `established`, `listen`/`listening`,
    /// `syn-recv`, `close-wait`, `last-ack`, `closing`, `close`; or a group:
    /// `all`, `connected`, `synchronized`, `bucket`, `big`, `teardown`
    /// (FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK, TIME_WAIT, CLOSE_WAIT).
    /// Explicit states replace the -a/-l scope, as in ss.
    #[arg(long = "state", value_name = "STATES", value_parser = StatesParser, action = ArgAction::Append, help_heading = "Filters")]
    pub state: Vec<StateSet>,

    /// Only sockets whose local address is in ADDR[/PREFIX]
    #[arg(long = "src", value_name = "ADDR[/PREFIX]", value_parser = parse_addr_prefix, action = ArgAction::Append, help_heading = "Filters")]
    pub src: Vec<AddrPrefix>,

    /// Only sockets whose remote address is in ADDR[/PREFIX]
    #[arg(long = "dst", value_name = "ADDR[/PREFIX]", value_parser = parse_addr_prefix, action = ArgAction::Append, help_heading = "Filters")]
    pub dst: Vec<AddrPrefix>,

    /// Only sockets held open by process PID
    #[arg(long = "pid", value_name = "PID", action = ArgAction::Append, help_heading = "Filters")]
    pub pid: Vec<u32>,

    /// Only sockets held open by a process named NAME (its comm)
    #[arg(long = "program", value_name = "NAME", action = ArgAction::Append, help_heading = "Filters")]
    pub program_name: Vec<String>,

    /// Only sockets owned by UID (a number or a user name)
    #[arg(long = "uid", value_name = "UID", action = ArgAction::Append, help_heading = "Filters")]
    pub uid: Vec<String>,

    /// A filter expression in ss's syntax
    ///
    /// `state`/`exclude` clauses first, then predicates on `sport`, `dport`,
    /// `src`, `dst` (and, with -N all, `netns NAME`: a namespace by its
    /// label, container name or id prefix, service or inode) with `=`, `!=`, `<`, `>`, `<=`, `>=` (or `eq`, `ne`,
    /// `lt`, `gt`, `le`, `ge`), joined by `and`/`&&`, `or`/`||`, `not`/`!`
    /// and parentheses; two predicates side by side mean `and`. As in ss,
    /// `and` and `or` bind equally, left to right. Example:
    /// `state time-wait '( sport = :1234 or dport = :1234 )'`.
    #[arg(value_name = "EXPRESSION", help_heading = "Filters")]
    pub expression: Vec<String>,

    /// Where to read sockets from
    ///
    /// `auto` uses sock_diag netlink and falls back to /proc/net/tcp{,6}
    /// when netlink cannot be used (said on stderr under -v).
    ///
    /// /proc is read a page at a time while the kernel's tables change, so
    /// its listing is no snapshot: each socket is listed at most once, but
    /// one that moves between the kernel's hash buckets during the read
    /// may be missed, and a connection that changes state meanwhile
    /// (closing into TIME_WAIT, say) may show in neither state or in both.
    #[arg(long = "source", value_enum, default_value_t = SourceArg::Auto, global = true, help_heading = "Source")]
    pub source: SourceArg,

    /// Whether a big TCP dump runs as two dumps side by side
    ///
    /// A netlink dump is one walk of the kernel's socket tables on one
    /// CPU. `auto` splits a dump of both families in two by port (each
    /// socket in exactly one half), each walked on its own CPU, when the
    /// network namespace holds 20,000 TCP sockets or more and the machine
    /// has two CPUs: 100,000 to a million sockets are listed in 0.7 to
    /// 0.8 of one dump's time, for more CPU in all. Listeners still come first;
    /// the other rows come in another order than one dump's (the kernel's
    /// hash order either way). -v says when a dump was split.
    #[arg(long = "parallel", value_enum, default_value_t = ParallelArg::Auto, global = true, help_heading = "Source", value_name = "WHEN")]
    pub parallel: ParallelArg,

    /// Where -p finds which process owns a socket
    ///
    /// `auto` uses a BPF task-file iterator, which walks every process's
    /// descriptor table inside the kernel in one pass, when it can be loaded
    /// (root, kernel BTF, the initial pid namespace) and pays: with -c, or
    /// from 2048 open files on the machine. Otherwise it reads every
    /// /proc/PID/fd link, as netstat and ss do (-v says which and why).
    /// `bpf` fails instead of falling back.
    #[arg(long = "owner-source", value_enum, default_value_t = OwnerSourceArg::Auto, global = true, help_heading = "Source", value_name = "SOURCE")]
    pub owner_source: OwnerSourceArg,

    /// Read fixture files below DIR instead of /proc (for tests)
    #[arg(
        long = "proc-root",
        env = "TCPSTAT_PROC_ROOT",
        hide = true,
        global = true,
        value_name = "DIR"
    )]
    pub proc_root: Option<PathBuf>,

    /// Say more on stderr: which source was used, messages skipped
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A live, sortable, filterable view of the sockets, refreshed every
    /// SECS of -c (default 1)
    ///
    /// A full-screen table of the sockets the listing would show (the
    /// selection flags -a and -l, -4/-6, -N, the filters and --source
    /// apply; flags other than -a, -l and -c go before `top`, or the
    /// filter expression after it), with their state, timer and its
    /// countdown, owning process, rates per connection (from tcp_info,
    /// over netlink) and age since first seen. Rows that appeared since
    /// the last refresh are green, rows that vanished stay one refresh
    /// red, rows whose state changed flash yellow; with NO_COLOR set or a
    /// terminal without colours (TERM=dumb), bold and dim instead, and a
    /// mark before each row (`+` new, `-` gone, `~` changed). The selected
    /// row stays selected, at the same place on the screen, across
    /// refreshes. The first line counts sockets per state, the second says
    /// the findings of -s. Addresses and ports are numeric. With -N all, a
    /// NETNS column names each socket's namespace, and each refresh finds
    /// the namespaces again: one created meanwhile is shown from the next
    /// refresh on, the rows of one gone leave.
    ///
    /// Keys: arrows, PgUp/PgDn, Home/End move; `<` and `>` (or `s`) choose
    /// the column to sort by, `r` reverses; `/` filters as you type with
    /// the expression language of the command line (errors are shown,
    /// Enter keeps the filter, Esc clears it); `g` groups by process,
    /// local port, remote host, state or namespace, with counts (Enter
    /// shows a group's sockets, Esc goes back); Enter opens the detail of
    /// the selected socket (every field, tcp_info, owners, the --explain
    /// note, the timer); `p` pauses; `k` closes the selected connection
    /// as -K does (with -N all, in its own namespace), after a
    /// confirmation; `?` shows the keys; `q` or Ctrl-C
    /// quits. The terminal is restored on quit, on SIGTERM and SIGHUP, on
    /// a lost terminal and on a crash. Needs a terminal on stdout: for a
    /// listing that repeats, use -c.
    Top {
        /// A filter expression, as after the listing's flags
        #[arg(value_name = "EXPRESSION")]
        expression: Vec<String>,
    },
    /// Tell whether a server could bind() PORT now, and what holds it
    ///
    /// Looks at every socket on the port (of the namespace, with -N): a
    /// listener, live connections, or only teardown remnants (TIME_WAIT,
    /// orphaned FIN_WAIT2…) that SO_REUSEADDR can bind past, and when the
    /// last remnant expires. Ends with the `tcpstat -K` command line that
    /// frees the port when live connections hold it, or says why closing
    /// sockets would not help (a live listener) or is not needed (only
    /// remnants). Exit status 0 when a plain bind() would succeed now, 1
    /// when not. With -N all, the verdict in every namespace (a test
    /// bind() inside each): which containers hold the port, where it is
    /// free; exit status 1 when it is held in any.
    Why {
        /// The TCP port to bind: a number or a service name (`http`)
        #[arg(value_name = "PORT", value_parser = parse_port)]
        port: u16,
        /// The address to bind (default: the dual-stack wildcard `[::]`)
        #[arg(long = "addr", value_name = "ADDR")]
        addr: Option<IpAddr>,
    },
    /// Serve connection-state metrics for Prometheus, or write them for
    /// node_exporter's textfile collector
    ///
    /// Each scrape of /metrics reads the sockets once, as `-s` does (of the
    /// namespace, with -N; every state, both families), and answers with
    /// sockets per state, family and protocol; per listening port the
    /// accept queue, its limit and the connections per state; CLOSE_WAIT
    /// and FIN_WAIT2 per program and local port, TIME_WAIT per local port;
    /// timewait sockets against net.ipv4.tcp_max_tw_buckets, ephemeral ports
    /// per remote endpoint (the top 5) against ip_local_port_range, orphans
    /// against tcp_max_orphans; the findings of -s; and the exporter's own
    /// scrape duration, sockets seen and errors. Nothing is read between
    /// scrapes; scrapes that arrive while a dump runs wait for it and share
    /// it. The exposition is OpenMetrics when the Accept header asks for it,
    /// the Prometheus text format 0.0.4 otherwise. `/` is a short page
    /// linking to /metrics. A scrape that the dump outlasts
    /// (X-Prometheus-Scrape-Timeout-Seconds, less a quarter second) gets
    /// only the exporter's own metrics, with tcpstat_scrape_success 0:
    /// never a partial count. SIGTERM or SIGINT stop it (exit 143 or 130).
    /// With -N all, each scrape finds the host's namespaces anew (a
    /// container started since is in the next) and reads them all: every
    /// metric about sockets has a `netns` label, the namespace's name as
    /// the NETNS column shows it (`NAME net:[INODE]` where two share a
    /// name); the --max-series budget is shared by all namespaces.
    Serve {
        /// Answer scrapes on ADDR (default 127.0.0.1:9923)
        ///
        /// `PORT` or `:PORT` mean 127.0.0.1:PORT, `localhost:PORT` too. Any
        /// other address must be written out as an IP literal
        /// (`0.0.0.0:9923`, `[::]:9923`, `192.0.2.7:9923`): a host name is
        /// refused, so that the metrics are never served beyond the host
        /// unless the address that exposes them was typed.
        #[arg(long = "listen", value_name = "ADDR", value_parser = listen::parse_listen, conflicts_with = "textfile")]
        listen: Option<std::net::SocketAddr>,
        /// Write the metrics to PATH instead of serving them
        ///
        /// For node_exporter's textfile collector (PATH ending in `.prom`
        /// in its --collector.textfile.directory), in the Prometheus text
        /// format: written to a temporary file in the same directory, then
        /// renamed over PATH, so the collector never reads half a file.
        /// Once and exit, unless --interval is given.
        #[arg(long = "textfile", value_name = "PATH")]
        textfile: Option<PathBuf>,
        /// With --textfile: write every SECS seconds until SIGTERM or SIGINT
        #[arg(long = "interval", value_name = "SECS", value_parser = parse_interval, requires = "textfile")]
        interval: Option<Duration>,
        /// Most series the per-port, per-program and per-endpoint metrics
        /// may add
        ///
        /// Within each such metric the largest values are kept; what is
        /// left out is counted in tcpstat_scrape_series_dropped{metric}.
        /// Sockets per state, the limits, the findings and the exporter's
        /// own metrics are always written.
        #[arg(long = "max-series", value_name = "N", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
        max_series: u64,
    },
}

/// `--state`: [`parse_states`], offering the state and group names to help
/// and completions (a comma list is still one value).
#[derive(Debug, Clone, Copy)]
struct StatesParser;

impl clap::builder::TypedValueParser for StatesParser {
    type Value = StateSet;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<StateSet, clap::Error> {
        let parse = parse_states as fn(&str) -> std::result::Result<StateSet, String>;
        parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            STATE_NAMES
                .into_iter()
                .map(clap::builder::PossibleValue::new),
        ))
    }
}

/// A word of `-A/--query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    Tcp,
    Udp,
    UdpLite,
    Raw,
    Unix,
    /// tcp, udp, udplite and raw.
    Inet,
    /// inet and unix.
    All,
}

/// The words `-A/--query` accepts, as its error lists them.
const QUERY_NAMES: &str = "tcp, udp, udplite, raw, unix, inet, all";

/// `-A/--query`: a comma-separated list of socket tables.
pub fn parse_query(text: &str) -> std::result::Result<Vec<Query>, String> {
    text.split(',')
        .map(|word| match word.trim().to_ascii_lowercase().as_str() {
            "tcp" => Ok(Query::Tcp),
            "udp" => Ok(Query::Udp),
            "udplite" => Ok(Query::UdpLite),
            "raw" => Ok(Query::Raw),
            "unix" | "unix_stream" | "unix_dgram" | "unix_seqpacket" => Ok(Query::Unix),
            "inet" => Ok(Query::Inet),
            "all" => Ok(Query::All),
            _ => Err(format!(
                "unknown socket table {word:?}; accepted: {QUERY_NAMES}"
            )),
        })
        .collect()
}

/// A value of `-f/--family`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyArg {
    Inet,
    Inet6,
    Unix,
}

/// `-f/--family`: `inet`, `inet6` or `unix`.
pub fn parse_family(text: &str) -> std::result::Result<FamilyArg, String> {
    match text.to_ascii_lowercase().as_str() {
        "inet" | "4" => Ok(FamilyArg::Inet),
        "inet6" | "6" => Ok(FamilyArg::Inet6),
        "unix" | "local" => Ok(FamilyArg::Unix),
        _ => Err(format!(
            "unknown family {text:?}; accepted: inet, inet6, unix"
        )),
    }
}

/// `--source` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// netlink, falling back to /proc when it cannot be used
    Auto,
    /// the kernel's sock_diag netlink interface
    Netlink,
    /// /proc/net/tcp and /proc/net/tcp6
    Proc,
}

/// `--sort` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortArg {
    /// smoothed round-trip time (tcp_info)
    Rtt,
    /// segments retransmitted over the connection's life (tcp_info)
    Retrans,
    /// bytes sent and not yet acknowledged
    SendQ,
    /// bytes received and not yet read
    RecvQ,
    /// bytes acknowledged plus received per second (tcp_info, needs -c)
    Rate,
    /// bytes acknowledged plus received (tcp_info)
    Bytes,
}

/// `--events` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsArg {
    /// exact where the privilege and the kernel allow it, else sampled
    Auto,
    /// every state change from the kernel's tracepoint (BPF; needs root)
    Exact,
    /// polls and destroy notifications, as without privilege
    Sampled,
}

/// `--parallel` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParallelArg {
    /// from 20,000 TCP sockets in the namespace, on two CPUs or more
    Auto,
    /// one dump
    Never,
    /// two dumps whenever both families, and more than listeners, are dumped
    Always,
}

/// `--owner-source` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OwnerSourceArg {
    /// the BPF iterator, falling back to /proc when it cannot be used
    Auto,
    /// a BPF task-file iterator (needs root and kernel BTF)
    Bpf,
    /// one readlink per descriptor in /proc/*/fd
    Proc,
}

/// The clap command, for help, the man page and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

/// Parses the command line. `Ok(None)` when help or the version was
/// printed; a usage error becomes one line.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Option<Args>> {
    let mut command = command();
    command.build();
    let argv =
        argv::normalize_continuous(args.into_iter().collect(), &argv::ValueFlags::of(&command));
    let parsed = command
        .try_get_matches_from_mut(argv)
        .and_then(|matches| Args::from_arg_matches(&matches));
    match parsed {
        Ok(a) => Ok(Some(a)),
        Err(e) if !e.use_stderr() => {
            e.print().map_err(Error::Output)?;
            Ok(None)
        }
        Err(e) => Err(Error::usage(clap_error_line(&e))),
    }
}

/// clap's message on one line, without its `error:` prefix and usage
/// block, keeping its "did you mean" tips ("a similar argument exists:
/// '--port'") but not its advice on quoting values with `--`. Some
/// messages go on over several lines before the first blank one (the
/// missing arguments are listed under "were not provided:").
fn clap_error_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let mut lines = rendered.lines().map(str::trim);
    let msg = lines
        .by_ref()
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let tips: Vec<&str> = lines
        .filter_map(|l| l.strip_prefix("tip: "))
        .filter(|tip| tip.contains("similar"))
        .collect();
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    let msg = if msg.is_empty() {
        "invalid arguments"
    } else {
        msg
    };
    let hint = e
        .get(clap::error::ContextKind::InvalidArg)
        .map(ToString::to_string)
        .and_then(|arg| habit_hint(&arg))
        .filter(|_| e.kind() == clap::error::ErrorKind::UnknownArgument);
    match (tips.as_slice(), hint) {
        (_, Some(hint)) => format!("{msg}; {hint} (see --help)"),
        ([], None) => format!("{msg} (see --help)"),
        (tips, None) => format!("{msg}; {} (see --help)", tips.join("; ")),
    }
}

/// What tcpstat offers instead of a netstat or ss flag it does not take,
/// in a few words; `None` for a flag neither tool has.
fn habit_hint(arg: &str) -> Option<&'static str> {
    Some(match arg {
        "-r" | "--route" => "netstat -r lists routes, which tcpstat does not: use `ip route`",
        "--interfaces" => "netstat -i lists interfaces, which tcpstat does not: use `ip -s link`",
        "-g" | "--groups" => "netstat -g lists multicast groups: use `ip maddr`",
        "-M" | "--masquerade" | "--mptcp" => {
            "tcpstat lists tcp (-t), udp (-u), udplite (-U), raw (-w) sockets; not masqueraded \
             connections (conntrack -L) nor MPTCP"
        }
        "-S" | "--sctp" | "-d" | "--dccp" | "-0" | "--packet" | "--vsock" | "--tipc" | "--xdp"
        | "--netlink" => "tcpstat lists tcp (-t), udp (-u), udplite (-U) and raw (-w) sockets only",
        "--resolve" => "tcpstat resolves names unless -n",
        "-Z" | "--context" | "-z" | "--contexts" => "tcpstat shows no SELinux contexts",
        "-C" | "--cache" | "-F" | "--fib" => "netstat -C/-F are routing options: use `ip route`",
        "-E" => "for socket events use --events",
        "-O" | "--oneline" => "tcpstat prints one line per socket unless -i or -m",
        "-D" | "--diag" | "-b" | "--bpf" | "-T" | "--threads" => {
            "not offered; --json gives every field tcpstat reads"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn short_flags_bundle_like_netstat() {
        let a = Args::try_parse_from(["tcpstat", "-tanpoe"]).unwrap();
        assert!(a.tcp && a.all && a.numeric && a.program && a.timers && a.extend);
        assert!(!a.listening && !a.json);
    }

    #[test]
    fn unknown_netstat_and_ss_flags_get_a_hint() {
        let line = |args: &[&str]| {
            let argv = std::iter::once("tcpstat").chain(args.iter().copied());
            let Err(e) = parse(argv.map(OsString::from)) else {
                panic!("{args:?} accepted");
            };
            e.to_string()
        };
        let route = line(&["-tunr"]);
        assert!(
            route.contains("'-r'") && route.contains("ip route"),
            "{route}"
        );
        assert!(!route.contains('\n'), "{route}");
        assert!(line(&["--sctp"]).contains("-u"), "udp is offered");
        // Flags neither tool has get clap's line alone.
        assert!(line(&["--frobnicate"]).ends_with("(see --help)"));
        // ss's long spellings are accepted.
        let a = Args::try_parse_from(["tcpstat", "--processes", "--extended", "--options"]);
        let a = a.unwrap();
        assert!(a.program && a.extend && a.timers);
    }

    #[test]
    fn unknown_source_is_rejected() {
        assert!(Args::try_parse_from(["tcpstat", "--source", "ebpf"]).is_err());
    }
}
