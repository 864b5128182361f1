//! The parts of the manual that are not flags: exit statuses, the table's
//! columns, the JSON outputs and related pages. Kept as data beside the
//! clap definition so that the man pages (generated from both by
//! `tests/docs.rs`) cannot drift from the program; the same test checks
//! that every column named here is a header the table really prints.

/// Exit statuses and what each means.
pub const EXIT_STATUS: &[(&str, &str)] = &[
    (
        "0",
        "Success; also when the reader of the output goes away early \
         (tcpstat -an | head -1). For `why`: a plain bind() of the port would succeed. \
         For -K: every matching socket was closed (or was gone already), or nothing matched.",
    ),
    (
        "1",
        "A failure at run time (no source could be read, a namespace could not be \
         entered, …). For `why`: a plain bind() of the port would fail. For -K: a socket \
         could not be closed, the confirmation was declined, or closing is not permitted \
         (no CAP_NET_ADMIN) or not built into the kernel.",
    ),
    (
        "2",
        "A usage error: an unknown flag, a bad value or filter; -K without a filter, or \
         -K matching several sockets with no terminal to confirm on and no --yes.",
    ),
    ("129", "Ended by SIGHUP, after the last complete line."),
    (
        "130",
        "Ended by SIGINT (Ctrl-C), after the last complete line.",
    ),
    ("143", "Ended by SIGTERM, after the last complete line."),
];

/// The table's columns, in the order they appear, and what each shows.
pub const COLUMNS: &[(&str, &str)] = &[
    (
        "Proto",
        "tcp, udp, udpl (UDP-Lite) or raw for IPv4 sockets, with a 6 for IPv6 ones \
         (IPv4-mapped included), as netstat spells them.",
    ),
    (
        "Recv-Q",
        "Bytes received and not yet read; for a listener, connections waiting in its \
         accept queue.",
    ),
    (
        "Send-Q",
        "Bytes sent and not yet acknowledged; 0 for a listener, as netstat shows it.",
    ),
    (
        "Local Address",
        "Address and port of this end; names unless -n, truncated to netstat's width \
         unless -W.",
    ),
    (
        "Foreign Address",
        "Address and port of the peer; `*` for none.",
    ),
    (
        "State",
        "The TCP state, in netstat's spelling (ESTABLISHED, TIME_WAIT, …); for UDP \
         ESTABLISHED when connected and empty when not; for raw sockets the kernel's \
         state number (7 unconnected, 1 connected), as netstat.",
    ),
    ("User", "With -e: the owning user (a uid with -n)."),
    (
        "Inode",
        "With -e: the socket's inode; 0 for TIME_WAIT, request and orphaned sockets.",
    ),
    (
        "PID/Program name",
        "With -p: the process holding the socket (the first, or the one --pid or \
         --program matched, when several do); `-` when none does or it could not be \
         read. With --users, a Users column instead, ss's users:((\"name\",pid=N,fd=M),…) \
         with every owner.",
    ),
    (
        "Timer",
        "With -o: the kernel's timer as netstat writes it, kind (seconds left/\
         retransmits/probes).",
    ),
    (
        "Note",
        "With --explain: what a teardown or unusual state means here.",
    ),
];

/// The columns other modes add to the table: the namespace first with
/// `-N all`, the rates after State with `-c -i`. Described after
/// [`COLUMNS`] in the manual.
pub const MODE_COLUMNS: &[(&str, &str)] = &[
    (
        "NETNS",
        "With -N all, first: the namespace's name (container, service, ip netns name, \
         PID:comm, host), cut to 12 characters unless -W.",
    ),
    (
        "Send/s",
        "With -c -i: bytes the peer acknowledged per second since the last pass \
         (K, M, G: thousands, millions, billions); `-` on the first pass or when \
         a counter went back.",
    ),
    (
        "Recv/s",
        "With -c -i: bytes received per second since the last pass.",
    ),
    (
        "Retr/s",
        "With -c -i: segments retransmitted per second since the last pass.",
    ),
];

/// What `--json` prints in each mode.
pub const JSON: &str = "With --json, the listing is one array with one socket object per \
line; -c prints one object per pass and line ({\"time\", \"sockets\"}); --events one object \
per event and line; -s, `why` and -K one object each (-K: {\"dry_run\", \"sockets\", \"left_open\"}, each \
socket with its \"result\", \"errno\" and \"help\"). Keys are always present, numbers are \
numbers and addresses are numeric. The contract is the JSON Schema shipped as \
schema/tcpstat.schema.json.";

/// Where tcpstat deliberately differs from netstat and ss: a list, not a
/// surprise (the man page's COMPATIBILITY section; README's twin).
pub const COMPATIBILITY: &[(&str, &str)] = &[
    (
        "No protocol flag",
        "lists TCP alone (netstat lists every protocol). -u, -U, -w, -A or -f unix \
         add the others.",
    ),
    (
        "-A",
        "takes ss's socket tables (tcp, udp, udplite, raw, unix, inet, all), not \
         netstat's address families: for netstat's -A inet6 use -6 or -f inet6.",
    ),
    (
        "-f inet, -f inet6",
        "restrict the family and keep TCP the default protocol (ss lists every inet \
         protocol with -f inet).",
    ),
    (
        "-x with -t, -u, -U or -w",
        "both tables, internet then unix, as netstat; filters and --json are refused \
         there (list each kind apart to filter it).",
    ),
    (
        "-x paths",
        "printed whole and escaped (\\n, \\xff); netstat cuts a path at its first space \
         or newline. RefCnt from netlink is read from /proc/net/unix (- for a socket \
         made in between).",
    ),
    (
        "-l with -u, -U, -w",
        "unconnected sockets, as netstat; tcpstat tells them by the kernel's state \
         (CLOSE), netstat by the remote address only a connected socket has: the same \
         sockets.",
    ),
    (
        "Raw sockets over netlink",
        "need the kernel's raw_diag module; without it --source auto reads \
         /proc/net/raw (as ss does) and --source netlink fails saying so.",
    ),
    (
        "-p",
        "names a process by its comm (/proc/PID/comm); netstat by the basename of \
         argv[0], which a program may rewrite.",
    ),
    (
        "-W",
        "also keeps program names whole (netstat's -W widens addresses only).",
    ),
    (
        "--users and JSON processes",
        "list one owner per descriptor in pid then fd order; ss lists the last found \
         first.",
    ),
    (
        "JSON state of UDP and raw sockets",
        "ESTABLISHED or CLOSE, the kernel's names (ss writes ESTAB and UNCONN); the \
         table prints netstat's.",
    ),
    (
        "-s",
        "summarises the listed sockets (per state, findings; UDP and raw per protocol); \
         netstat -s prints the kernel's SNMP counters.",
    ),
    (
        "why, serve, -K, --events",
        "follow TCP sockets only: -u, -U, -w are refused with them.",
    ),
];

/// Related manual pages.
pub const SEE_ALSO: &[&str] = &[
    "tcpstat-why(1)",
    "tcpstat-serve(1)",
    "tcpstat-top(1)",
    "netstat(8)",
    "ss(8)",
    "ip-netns(8)",
    "tcp(7)",
];
