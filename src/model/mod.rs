//! The one socket model every source fills and every renderer reads.
//!
//! Sources (netlink, /proc) normalise kernel data into [`Socket`]; owners are
//! kept apart in a [`crate::owners::ProcessMap`] keyed by inode so that rows
//! stay small and a listing without `-p` never pays for them.

pub mod addr;
pub mod event;
pub mod info;
pub mod kill;
pub mod owner;
pub mod state;
pub mod time;
pub mod unix;

pub use owner::{Owner, Owners, ProcessName};
pub use state::StateSet;

use std::fmt;
use std::net::IpAddr;

/// An internet protocol tcpstat lists; a listing asks for one or several
/// (a [`ProtocolSet`]). Every one is read through inet_diag (raw through
/// raw_diag) or its /proc/net tables, into the same [`Socket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Protocol {
    /// TCP, from inet_diag or /proc/net/tcp{,6}.
    #[default]
    Tcp,
    /// UDP, from inet_diag or /proc/net/udp{,6}.
    Udp,
    /// UDP-Lite, from inet_diag or /proc/net/udplite{,6}.
    UdpLite,
    /// Raw IP sockets, from raw_diag or /proc/net/raw{,6}; a row's local
    /// port is its IP protocol number, as the kernel reports it.
    Raw,
}

impl Protocol {
    /// Every protocol, in the order netstat lists them.
    pub const ALL: [Protocol; 4] = [
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::UdpLite,
        Protocol::Raw,
    ];

    /// The name in JSON and messages: `tcp`, `udp`, `udplite`, `raw`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::UdpLite => "udplite",
            Protocol::Raw => "raw",
        }
    }

    /// The IP protocol number the kernel's sock_diag knows it by.
    pub fn ip_protocol(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::UdpLite => 136,
            Protocol::Raw => 255,
        }
    }

    /// True for the protocols without connection states: UDP, UDP-Lite
    /// and raw sockets are only ESTABLISHED (connected) or CLOSE.
    pub fn is_datagram(self) -> bool {
        self != Protocol::Tcp
    }

    /// The bit of this protocol in a [`ProtocolSet`].
    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`Protocol`]s: what a listing asks its source for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProtocolSet(u8);

impl ProtocolSet {
    /// No protocol.
    pub const EMPTY: ProtocolSet = ProtocolSet(0);
    /// TCP alone: the listing without a protocol flag.
    pub const TCP: ProtocolSet = ProtocolSet(Protocol::Tcp.bit());

    /// This set with `p` added.
    pub fn with(self, p: Protocol) -> ProtocolSet {
        ProtocolSet(self.0 | p.bit())
    }

    /// True when `p` is in the set.
    pub fn contains(self, p: Protocol) -> bool {
        self.0 & p.bit() != 0
    }

    /// True when no protocol is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The protocols in the set, in netstat's order.
    pub fn iter(self) -> impl Iterator<Item = Protocol> {
        Protocol::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Protocol> for ProtocolSet {
    fn from_iter<I: IntoIterator<Item = Protocol>>(iter: I) -> Self {
        iter.into_iter().fold(ProtocolSet::EMPTY, ProtocolSet::with)
    }
}

/// Which source a listing reads sockets from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceChoice {
    /// sock_diag netlink, falling back to /proc.
    #[default]
    Auto,
    /// sock_diag netlink only; failure is an error.
    Netlink,
    /// /proc/net/* only.
    Proc,
}

/// Whether a big TCP dump runs as two dumps side by side (`--parallel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parallel {
    /// When the namespace holds many TCP sockets and the machine has two
    /// CPUs.
    #[default]
    Auto,
    /// Always one dump.
    Never,
    /// Two dumps whenever a dump can be split.
    Always,
}

/// Where `-p` finds which processes hold a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OwnerSource {
    /// The BPF iterator when it can be used and pays (from
    /// `owners::BPF_FROM_OPEN_FILES` open files, or in watch mode),
    /// otherwise `/proc`.
    #[default]
    Auto,
    /// Only the BPF task-file iterator; an error if it cannot be used.
    Bpf,
    /// Only `/proc/*/fd`.
    Proc,
}

/// Address family of a socket; with the protocol, netstat's `Proto` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// AF_INET, shown as `tcp`, `udp`, `udpl`, `raw`.
    Inet,
    /// AF_INET6, shown as `tcp6`, `udp6`, `udpl6`, `raw6`.
    Inet6,
}

impl Family {
    /// netstat's `Proto` column for a socket of `protocol` in this family
    /// (net-tools spells UDP-Lite `udpl`).
    pub fn proto(self, protocol: Protocol) -> &'static str {
        match (protocol, self) {
            (Protocol::Tcp, Family::Inet) => "tcp",
            (Protocol::Tcp, Family::Inet6) => "tcp6",
            (Protocol::Udp, Family::Inet) => "udp",
            (Protocol::Udp, Family::Inet6) => "udp6",
            (Protocol::UdpLite, Family::Inet) => "udpl",
            (Protocol::UdpLite, Family::Inet6) => "udpl6",
            (Protocol::Raw, Family::Inet) => "raw",
            (Protocol::Raw, Family::Inet6) => "raw6",
        }
    }
}

/// TCP state, numbered as the kernel numbers it (`include/net/tcp_states.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpState {
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
}

impl TcpState {
    /// All states, in kernel order.
    pub const ALL: [TcpState; 11] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
    ];

    /// Maps a kernel state number. TCP_NEW_SYN_RECV (12), the state of a
    /// request socket, is reported as SYN_RECV as netstat and ss do.
    pub fn from_kernel(n: u8) -> Option<TcpState> {
        match n {
            1..=11 => Some(TcpState::ALL[usize::from(n) - 1]),
            12 => Some(TcpState::SynRecv),
            _ => None,
        }
    }

    /// netstat's spelling of the state.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
        }
    }

    /// Bit of this state in an inet_diag state mask (`1 << state`).
    pub fn mask_bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
}

impl Endpoint {
    /// The address as users read it: an IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`) is shown in its dotted IPv4 form, as netstat does.
    pub fn display_addr(&self) -> IpAddr {
        self.addr.to_canonical()
    }

    /// True for the wildcard address (`0.0.0.0` or `::`).
    pub fn is_unspecified(&self) -> bool {
        self.addr.is_unspecified()
    }
}

/// Which timer the kernel has armed on a socket (`idiag_timer` / the `tr`
/// column of /proc/net/tcp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// No timer pending (0).
    Off,
    /// Retransmit, loss-probe or reordering timer (1); also a request
    /// socket's SYN-ACK timer.
    On,
    /// Keepalive timer (2); also the FIN_WAIT2 timer of a full socket.
    Keepalive,
    /// TIME_WAIT (or orphaned FIN_WAIT2) timer of a timewait socket (3).
    TimeWait,
    /// Zero-window probe timer (4).
    Probe,
    /// A timer number this program does not know.
    Unknown(u8),
}

impl TimerKind {
    /// Maps the kernel's timer number.
    pub fn from_kernel(n: u8) -> TimerKind {
        match n {
            0 => TimerKind::Off,
            1 => TimerKind::On,
            2 => TimerKind::Keepalive,
            3 => TimerKind::TimeWait,
            4 => TimerKind::Probe,
            n => TimerKind::Unknown(n),
        }
    }

    /// netstat's name of the timer (`unkn-N` for unknown ones).
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        match self {
            TimerKind::Off => "off".into(),
            TimerKind::On => "on".into(),
            TimerKind::Keepalive => "keepalive".into(),
            TimerKind::TimeWait => "timewait".into(),
            TimerKind::Probe => "probe".into(),
            TimerKind::Unknown(n) => format!("unkn-{n}").into(),
        }
    }
}

/// A socket's timer: kind, time left, and the two counters netstat prints
/// after it (`kind (secs/retransmits/probes)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timer {
    pub kind: TimerKind,
    /// Time until the timer fires, in milliseconds (0 when off).
    pub expires_ms: u64,
    /// Unrecovered retransmissions (`icsk_retransmits`; a request
    /// socket's SYN-ACK retransmissions).
    pub retransmits: u32,
    /// Unanswered keepalive or zero-window probes (`icsk_probes_out`).
    pub probes: u32,
}

impl Timer {
    /// No timer armed.
    pub const OFF: Timer = Timer {
        kind: TimerKind::Off,
        expires_ms: 0,
        retransmits: 0,
        probes: 0,
    };
}

/// Which directions have been shut down (`sk_shutdown`), as reported by the
/// netlink source for full sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shutdown {
    /// SHUT_RD: no more data will be received (the peer's FIN arrived, or
    /// shutdown(SHUT_RD) was called).
    pub read: bool,
    /// SHUT_WR: this side sent its FIN (close() or shutdown(SHUT_WR)).
    pub write: bool,
}

impl Shutdown {
    /// Decodes the kernel's `sk_shutdown` bits (RCV_SHUTDOWN=1, SEND_SHUTDOWN=2).
    pub fn from_kernel(bits: u8) -> Shutdown {
        Shutdown {
            read: bits & 1 != 0,
            write: bits & 2 != 0,
        }
    }
}

/// One internet socket, normalised from whichever source produced it.
/// UDP and raw sockets use the same fields: their state is ESTABLISHED
/// (connected) or CLOSE (not), as the kernel reports it, and a raw
/// socket's local port is its IP protocol number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub family: Family,
    /// TCP, UDP, UDP-Lite or raw (one byte, in what was padding).
    pub protocol: Protocol,
    pub state: TcpState,
    pub local: Endpoint,
    pub remote: Endpoint,
    /// Receive queue; for a listener, the accept queue length.
    pub recv_q: u32,
    /// Send queue (unacknowledged bytes). For a listener this is 0, as
    /// /proc and netstat report it (ss shows the backlog there instead).
    pub send_q: u32,
    pub uid: u32,
    /// Socket inode; 0 for TIME_WAIT, request and orphaned sockets.
    pub inode: u64,
    /// The inode of the network namespace the socket is in, when several
    /// are listed (`-N all`); 0 otherwise.
    pub netns: u64,
    pub timer: Timer,
    /// Shutdown state where the source reports it (netlink, full sockets).
    pub shutdown: Option<Shutdown>,
    /// `tcp_info` and its companions, when asked for (`-i`) and sent (full
    /// sockets over netlink). Boxed: rows without it stay small.
    pub info: Option<Box<info::TcpInfo>>,
    /// Socket memory, when asked for (`-m`) and sent.
    pub memory: Option<Box<info::SkMem>>,
    /// What names the socket to sock_diag beyond its addresses, when the
    /// source is netlink: `-K` sends it back to close exactly this socket.
    pub diag_id: Option<DiagId>,
    /// For a listener read over netlink, the limit of its accept queue
    /// (listen()'s backlog, capped by net.core.somaxconn), which ss shows
    /// as Send-Q; `None` for every other socket and from /proc.
    pub backlog: Option<u32>,
}

/// The parts of `inet_diag_sockid` a dump reports besides the addresses:
/// the bound interface and the socket's cookie. Sent back in a
/// SOCK_DESTROY request, they make the kernel close this very socket, not
/// a later one that reuses its addresses and ports.
///
/// Packed to 4-byte alignment (12 bytes, 16 as an `Option`, not 24): the
/// room the row's protocol took. Fields are read by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, packed(4))]
pub struct DiagId {
    /// `idiag_if`: the interface the socket is bound to, 0 for none.
    pub interface: u32,
    /// `idiag_cookie`, its two 32-bit halves joined (low half first, as
    /// the kernel splits it).
    pub cookie: u64,
}

impl Socket {
    /// netstat's `Proto` column: `tcp`, `udp6`, `raw`…
    pub fn proto(&self) -> &'static str {
        self.family.proto(self.protocol)
    }

    /// The kernel's socket cookie (from [`DiagId`]), unique for the
    /// kernel's uptime; 0 where the source has none (`/proc`). A timewait
    /// socket carries its full socket's cookie when that had one.
    pub fn cookie(&self) -> u64 {
        self.diag_id.map_or(0, |id| id.cookie)
    }

    /// A request socket: a SYN_RECV handshake a listener is answering. It
    /// has no inode (nor, over netlink, uid) of its own.
    pub fn is_request(&self) -> bool {
        self.protocol == Protocol::Tcp && self.state == TcpState::SynRecv && self.inode == 0
    }

    /// The listener among `listeners` that this request socket arrived on:
    /// one on the same port with the same address, else a wildcard of the
    /// same family, else an IPv6 wildcard taking IPv4 connections.
    pub fn listener_among<'a>(
        &self,
        listeners: impl IntoIterator<Item = &'a Socket>,
    ) -> Option<&'a Socket> {
        let rank = |l: &Socket| {
            if l.local.display_addr() == self.local.display_addr() {
                Some(2)
            } else if l.local.is_unspecified() && l.family == self.family {
                Some(1)
            } else if l.local.is_unspecified() && l.family == Family::Inet6 {
                Some(0)
            } else {
                None
            }
        };
        listeners
            .into_iter()
            .filter(|l| l.protocol == Protocol::Tcp && l.state == TcpState::Listen)
            .filter(|l| l.local.port == self.local.port)
            .filter_map(|l| rank(l).map(|r| (r, l)))
            .max_by_key(|(r, _)| *r)
            .map(|(_, l)| l)
    }
}

/// The rows of namespace `inode` among `rows` sorted by namespace
/// (`-N all`'s per-namespace summaries, verdicts and metrics).
pub fn in_netns(rows: &[Socket], inode: u64) -> &[Socket] {
    let start = rows.partition_point(|s| s.netns < inode);
    let end = rows.partition_point(|s| s.netns <= inode);
    &rows[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_column_is_spelt_as_net_tools_does() {
        let names: Vec<&str> = Protocol::ALL
            .into_iter()
            .flat_map(|p| [Family::Inet.proto(p), Family::Inet6.proto(p)])
            .collect();
        assert_eq!(
            names,
            ["tcp", "tcp6", "udp", "udp6", "udpl", "udpl6", "raw", "raw6"]
        );
    }

    #[test]
    fn protocol_sets_iterate_in_netstats_order() {
        let set: ProtocolSet = [Protocol::Raw, Protocol::Udp, Protocol::Tcp]
            .into_iter()
            .collect();
        let order: Vec<Protocol> = set.iter().collect();
        assert_eq!(order, [Protocol::Tcp, Protocol::Udp, Protocol::Raw]);
        assert!(!set.contains(Protocol::UdpLite) && !set.is_empty());
        assert!(ProtocolSet::EMPTY.is_empty());
    }

    #[test]
    fn the_protocol_fits_in_what_was_padding() {
        // Issue #21 counts bytes per row: the protocol must not add any.
        assert_eq!(std::mem::size_of::<Socket>(), SOCKET_SIZE);
    }

    /// `Socket`'s size before the protocol field was added.
    const SOCKET_SIZE: usize = 144;
}
