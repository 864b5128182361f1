//! The inet_diag half of sock_diag: the dump request for TCP, UDP,
//! UDP-Lite or raw sockets (raw_diag answers inet_diag's requests), and
//! each reply's `inet_diag_msg` and attributes read into a [`Socket`].
//!
//! The request is built with `netlink-packet-sock-diag`, but replies are
//! parsed here, straight from the receive buffer: the crate's parsed timer
//! loses the TIME_WAIT remaining time and the counters of keepalive and
//! probe timers, and its attribute parsing allocates for every socket, which
//! matters when a host has hundreds of thousands of them.
//!
//! Timer counters follow /proc/net/tcp (`get_tcp4_sock`): `retransmits` is
//! `icsk_retransmits` and `probes` is `icsk_probes_out`, whatever the timer.
//! `idiag_retrans` carries only one of the two, depending on the timer kind
//! (`inet_sk_diag_fill`), so both are exact only when `tcp_info` is asked for.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{SockDiagMessage, AF_INET, AF_INET6};

use super::tcp_info::{
    parse_bbr, parse_byte, parse_congestion, parse_skmem, parse_tcp_info, parse_vegas,
};
use super::wire::{append_attribute, attributes, request_header, AttributeError, NLMSG_HDRLEN};
use super::Request;
use crate::error::{Error, Result};
use crate::model::info::{SkMem, TcpInfo};
use crate::model::{
    DiagId, Endpoint, Family, Protocol, Shutdown, Socket, StateSet, TcpState, Timer, TimerKind,
};

/// Why one `inet_diag_msg` payload could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the fixed 72-byte `inet_diag_msg`.
    Short { len: usize },
    /// Neither AF_INET nor AF_INET6.
    Family(u8),
    /// A state number the kernel does not define for TCP.
    State(u8),
    /// Fewer bytes left than an attribute header.
    AttributeHeader { left: usize },
    /// `nla_len` smaller than the attribute header itself.
    AttributeLength { len: usize },
    /// `nla_len` runs past the end of the message.
    AttributePastEnd { len: usize, left: usize },
    /// An attribute too short for what its type must carry.
    AttributeValue { kind: u16, len: usize },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParseError::Short { len } => {
                write!(
                    f,
                    "inet_diag message of {len} bytes, need {INET_DIAG_MSG_LEN}"
                )
            }
            ParseError::Family(n) => write!(f, "unknown address family {n}"),
            ParseError::State(n) => write!(f, "unknown TCP state {n}"),
            ParseError::AttributeHeader { left } => {
                write!(f, "truncated attribute header ({left} bytes left)")
            }
            ParseError::AttributeLength { len } => write!(f, "attribute length {len} too small"),
            ParseError::AttributePastEnd { len, left } => {
                write!(f, "attribute length {len} past the end ({left} bytes left)")
            }
            ParseError::AttributeValue { kind, len } => {
                write!(f, "attribute {kind} too short ({len} bytes)")
            }
        }
    }
}

impl std::error::Error for ParseError {}

impl From<AttributeError> for ParseError {
    fn from(e: AttributeError) -> ParseError {
        match e {
            AttributeError::Header { left } => ParseError::AttributeHeader { left },
            AttributeError::Length { len } => ParseError::AttributeLength { len },
            AttributeError::PastEnd { len, left } => ParseError::AttributePastEnd { len, left },
        }
    }
}

/// Size of `struct inet_diag_msg`.
pub(crate) const INET_DIAG_MSG_LEN: usize = 72;
/// Byte offsets inside `inet_diag_msg`.
const OFF_SPORT: usize = 4;
const OFF_DPORT: usize = 6;
const OFF_SRC: usize = 8;
const OFF_DST: usize = 24;
const OFF_IF: usize = 40;
const OFF_COOKIE: usize = 44;
const OFF_EXPIRES: usize = 52;
const OFF_RQUEUE: usize = 56;
const OFF_WQUEUE: usize = 60;
const OFF_UID: usize = 64;
const OFF_INODE: usize = 68;

/// Attribute carrying `struct tcp_info`.
pub(crate) const INET_DIAG_INFO: u16 = 2;
/// Request attribute carrying a bytecode filter.
const INET_DIAG_REQ_BYTECODE: u16 = 1;
const INET_DIAG_VEGASINFO: u16 = 3;
const INET_DIAG_CONG: u16 = 4;
const INET_DIAG_TOS: u16 = 5;
const INET_DIAG_TCLASS: u16 = 6;
const INET_DIAG_SKMEMINFO: u16 = 7;
const INET_DIAG_SHUTDOWN: u16 = 8;
const INET_DIAG_BBRINFO: u16 = 16;

/// What to read from each reply beyond the fixed message: the same
/// choices as [`Request`] makes for the dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extras {
    /// Timer counters from `tcp_info`.
    pub timer_counters: bool,
    /// The whole `tcp_info` and its companions (`-i`).
    pub info: bool,
    /// INET_DIAG_SKMEMINFO (`-m`).
    pub memory: bool,
    /// The protocol the dump asked for, which the reply does not repeat.
    pub protocol: Protocol,
}

impl Extras {
    /// Everything: what the parser's robustness tests read with.
    pub const ALL: Extras = Extras {
        timer_counters: true,
        info: true,
        memory: true,
        protocol: Protocol::Tcp,
    };
}

impl Request {
    /// What replies to this request are read for.
    pub(super) fn extras(&self) -> Extras {
        Extras {
            timer_counters: self.timer_counters,
            info: self.info,
            memory: self.memory,
            protocol: self.protocol,
        }
    }
}
/// The kernel state of request sockets; the model reports them as SYN_RECV.
const TCP_NEW_SYN_RECV: u32 = 12;

/// `TCPDIAG_GETSOCK`: inet_diag's first request type, for TCP alone. The
/// kernel answers it for both families in one walk of its tables
/// (`inet_diag_dump_compat` asks with AF_UNSPEC, as ss does), where a
/// SOCK_DIAG_BY_FAMILY request walks them once per family. Its replies
/// carry this type too.
pub(super) const TCPDIAG_GETSOCK: u16 = 18;

/// Size of `struct inet_diag_req`: family, source and destination prefix
/// lengths, extensions, the 48-byte socket id, states, and `idiag_dbs`.
const INET_DIAG_REQ_LEN: usize = 60;

/// Offset of `inet_diag_req_v2`'s `pad` byte in a request message: raw_diag
/// reads it as `sdiag_raw_protocol`.
const OFF_RAW_PROTOCOL: usize = NLMSG_HDRLEN + 3;

/// The request: one family, the protocol, the state mask, tcp_info if
/// wanted, and the bytecode attribute if any. A raw request names
/// IPPROTO_RAW twice, as ss does: as the protocol, which picks raw_diag,
/// and as `sdiag_raw_protocol` (raw_diag's dump lists every raw socket of
/// the family whatever that says, and ignores the state mask).
pub(super) fn request_bytes(family: u8, req: &Request, seq: u32) -> Result<Vec<u8>> {
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let inner = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: req.protocol.ip_protocol(),
        extensions: extensions(req),
        // from_bits_retain: the crate's flags have no bit for state 12.
        states: StateFlags::from_bits_retain(kernel_state_mask(req.states)),
        socket_id,
    });
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(header, inner.into());
    msg.finalize();
    let mut bytes = vec![0; msg.buffer_len()];
    msg.serialize(&mut bytes);
    if req.protocol == Protocol::Raw {
        bytes[OFF_RAW_PROTOCOL] = Protocol::Raw.ip_protocol();
    }
    with_bytecode(bytes, req)
}

/// The same request for both families at once, as `TCPDIAG_GETSOCK` (the
/// crate has no type for it: laid out here).
pub(super) fn both_families_request_bytes(req: &Request, seq: u32) -> Result<Vec<u8>> {
    let len = NLMSG_HDRLEN + INET_DIAG_REQ_LEN;
    let mut bytes = request_header(len, TCPDIAG_GETSOCK, NLM_F_REQUEST | NLM_F_DUMP, seq);
    // The family is ignored (the kernel dumps AF_UNSPEC); ss sends AF_INET.
    bytes.extend([AF_INET, 0, 0, extensions(req).bits()]);
    bytes.extend([0; 40]); // ports, addresses, interface: any
    bytes.extend([0xff; 8]); // INET_DIAG_NOCOOKIE
    bytes.extend(kernel_state_mask(req.states).to_ne_bytes());
    bytes.extend(0u32.to_ne_bytes()); // idiag_dbs, unused
    debug_assert_eq!(bytes.len(), len);
    with_bytecode(bytes, req)
}

/// The attributes each reply should carry.
fn extensions(req: &Request) -> ExtensionFlags {
    let mut extensions = ExtensionFlags::SHUTDOWN;
    if req.timer_counters || req.info {
        extensions |= ExtensionFlags::INFO;
    }
    if req.info {
        // VEGASINFO asks the congestion control for its own attribute:
        // BBR answers it with BBRINFO.
        extensions |= ExtensionFlags::CONG
            | ExtensionFlags::VEGASINFO
            | ExtensionFlags::TOS
            | ExtensionFlags::TCLASS;
    }
    if req.memory {
        extensions |= ExtensionFlags::SKMEMINFO;
    }
    extensions
}

/// Appends the request's bytecode attribute, if any, to a request message.
fn with_bytecode(mut bytes: Vec<u8>, req: &Request) -> Result<Vec<u8>> {
    if let Some(program) = &req.bytecode {
        append_attribute(&mut bytes, INET_DIAG_REQ_BYTECODE, program).ok_or_else(|| {
            Error::runtime(format!(
                "netlink sock_diag: bytecode of {} bytes does not fit an attribute",
                program.len()
            ))
        })?;
    }
    Ok(bytes)
}

/// The inet_diag state mask for `states`. Request sockets are in
/// TCP_NEW_SYN_RECV, so SYN_RECV must select it too.
fn kernel_state_mask(states: StateSet) -> u32 {
    if states.contains(TcpState::SynRecv) {
        states.bits() | 1 << TCP_NEW_SYN_RECV
    } else {
        states.bits()
    }
}

/// Parses one SOCK_DIAG_BY_FAMILY message payload (the `inet_diag_msg` and
/// its attributes) into a [`Socket`]. With `timer_counters`, a `tcp_info`
/// attribute supplies both timer counters.
pub fn parse_inet_diag(payload: &[u8], timer_counters: bool) -> Result<Socket, ParseError> {
    let extras = Extras {
        timer_counters,
        ..Extras::default()
    };
    parse_inet_diag_with(payload, extras)
}

/// [`parse_inet_diag`], reading the attributes `extras` asks for: with
/// `info`, the socket's `tcp_info`; with `memory`, its memory. An
/// attribute too short for its struct leaves that part absent.
pub fn parse_inet_diag_with(payload: &[u8], extras: Extras) -> Result<Socket, ParseError> {
    let head: &[u8; INET_DIAG_MSG_LEN] = payload
        .get(..INET_DIAG_MSG_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(ParseError::Short { len: payload.len() })?;
    let attrs = read_attributes(payload.get(INET_DIAG_MSG_LEN..).unwrap_or_default(), extras)?;
    let (family, local_addr, remote_addr) = match head[0] {
        AF_INET => (
            Family::Inet,
            IpAddr::V4(Ipv4Addr::from(octets::<4>(head, OFF_SRC))),
            IpAddr::V4(Ipv4Addr::from(octets::<4>(head, OFF_DST))),
        ),
        AF_INET6 => (
            Family::Inet6,
            IpAddr::V6(Ipv6Addr::from(octets::<16>(head, OFF_SRC))),
            IpAddr::V6(Ipv6Addr::from(octets::<16>(head, OFF_DST))),
        ),
        other => return Err(ParseError::Family(other)),
    };
    let state = TcpState::from_kernel(head[1]).ok_or(ParseError::State(head[1]))?;
    // The kernel reports a listener's backlog in idiag_wqueue; /proc and
    // netstat show 0 there.
    let send_q = match state {
        TcpState::Listen => 0,
        _ => ne_u32(head, OFF_WQUEUE),
    };
    Ok(Socket {
        family,
        state,
        local: Endpoint {
            addr: local_addr,
            port: u16::from_be_bytes(octets(head, OFF_SPORT)),
        },
        remote: Endpoint {
            addr: remote_addr,
            port: u16::from_be_bytes(octets(head, OFF_DPORT)),
        },
        recv_q: ne_u32(head, OFF_RQUEUE),
        send_q,
        backlog: (state == TcpState::Listen).then(|| ne_u32(head, OFF_WQUEUE)),
        protocol: extras.protocol,
        uid: ne_u32(head, OFF_UID),
        inode: u64::from(ne_u32(head, OFF_INODE)),
        netns: 0,
        timer: timer(head, attrs.tcp_counters.filter(|_| extras.timer_counters)),
        shutdown: attrs.shutdown.map(Shutdown::from_kernel),
        info: attrs.info,
        memory: attrs.memory,
        diag_id: Some(DiagId {
            interface: ne_u32(head, OFF_IF),
            cookie: u64::from(ne_u32(head, OFF_COOKIE))
                | u64::from(ne_u32(head, OFF_COOKIE + 4)) << 32,
        }),
    })
}

/// The timer, with counters from tcp_info when given, else from
/// `idiag_retrans`, whose meaning depends on the timer kind.
fn timer(head: &[u8; INET_DIAG_MSG_LEN], tcp_counters: Option<(u8, u8)>) -> Timer {
    let kind = TimerKind::from_kernel(head[2]);
    if kind == TimerKind::Off {
        return Timer::OFF;
    }
    let idiag_retrans = u32::from(head[3]);
    let (retransmits, probes) = match (tcp_counters, kind) {
        (Some((retransmits, probes)), _) => (u32::from(retransmits), u32::from(probes)),
        (None, TimerKind::On) => (idiag_retrans, 0),
        (None, TimerKind::Keepalive | TimerKind::Probe) => (0, idiag_retrans),
        (None, _) => (0, 0),
    };
    Timer {
        kind,
        expires_ms: u64::from(ne_u32(head, OFF_EXPIRES)),
        retransmits,
        probes,
    }
}

/// `N` bytes at a fixed offset of the header. Offsets are constants within
/// the 72-byte array, so no input can make this index out of bounds.
fn octets<const N: usize>(head: &[u8; INET_DIAG_MSG_LEN], at: usize) -> [u8; N] {
    std::array::from_fn(|i| head[at + i])
}

fn ne_u32(head: &[u8; INET_DIAG_MSG_LEN], at: usize) -> u32 {
    u32::from_ne_bytes(octets(head, at))
}

/// The attributes we read from a socket message.
#[derive(Debug, Default)]
struct DiagAttributes {
    /// `sk_shutdown` bits.
    shutdown: Option<u8>,
    /// `tcpi_retransmits` and `tcpi_probes` from tcp_info.
    tcp_counters: Option<(u8, u8)>,
    /// The whole tcp_info, with `-i`.
    info: Option<Box<TcpInfo>>,
    /// With `-m`.
    memory: Option<Box<SkMem>>,
}

/// The companions of tcp_info, gathered before it is known whether
/// tcp_info itself came (attributes arrive in any order).
#[derive(Debug, Default)]
struct Companions {
    congestion: Option<Box<str>>,
    tos: Option<u8>,
    tclass: Option<u8>,
    vegas: Option<crate::model::info::VegasInfo>,
    bbr: Option<crate::model::info::BbrInfo>,
}

/// Reads the attributes after `inet_diag_msg` that we use.
fn read_attributes(list: &[u8], extras: Extras) -> Result<DiagAttributes, ParseError> {
    let mut attrs = DiagAttributes::default();
    let mut with = Companions::default();
    for attribute in attributes(list) {
        let (kind, value) = attribute?;
        let short = ParseError::AttributeValue {
            kind,
            len: value.len(),
        };
        match (kind, value) {
            (INET_DIAG_SHUTDOWN, [bits, ..]) => attrs.shutdown = Some(*bits),
            // struct tcp_info: state, ca_state, retransmits, probes, ...
            (INET_DIAG_INFO, [_, _, retransmits, probes, ..]) => {
                attrs.tcp_counters = Some((*retransmits, *probes));
            }
            (INET_DIAG_SHUTDOWN | INET_DIAG_INFO, _) => return Err(short),
            _ => {}
        }
        if extras.info {
            read_info_attribute(kind, value, &mut attrs, &mut with);
        }
        if extras.memory && kind == INET_DIAG_SKMEMINFO {
            attrs.memory = parse_skmem(value).map(Box::new);
        }
    }
    if let Some(info) = &mut attrs.info {
        info.congestion = with.congestion;
        info.tos = with.tos;
        info.tclass = with.tclass;
        info.vegas = with.vegas;
        info.bbr = with.bbr;
    }
    Ok(attrs)
}

/// One attribute of `-i`'s set; a short one leaves its part absent.
fn read_info_attribute(kind: u16, value: &[u8], attrs: &mut DiagAttributes, with: &mut Companions) {
    match kind {
        INET_DIAG_INFO => attrs.info = parse_tcp_info(value).map(Box::new),
        INET_DIAG_CONG => with.congestion = parse_congestion(value),
        INET_DIAG_TOS => with.tos = parse_byte(value),
        INET_DIAG_TCLASS => with.tclass = parse_byte(value),
        INET_DIAG_VEGASINFO => with.vegas = parse_vegas(value),
        INET_DIAG_BBRINFO => with.bbr = parse_bbr(value),
        _ => {}
    }
}

/// Hand-built `inet_diag_msg` payloads, for the tests of everything that
/// reads them.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{INET_DIAG_INFO, INET_DIAG_MSG_LEN};
    use crate::source::netlink::wire::fixtures::attr;
    use netlink_packet_sock_diag::AF_INET;

    /// A hand-built `inet_diag_msg`, fields host-endian as the kernel sends.
    #[derive(Clone)]
    pub(crate) struct Row {
        pub(crate) family: u8,
        pub(crate) state: u8,
        pub(crate) timer: u8,
        pub(crate) retrans: u8,
        pub(crate) sport: u16,
        pub(crate) dport: u16,
        pub(crate) src: Vec<u8>,
        pub(crate) dst: Vec<u8>,
        pub(crate) expires: u32,
        pub(crate) rqueue: u32,
        pub(crate) wqueue: u32,
        pub(crate) uid: u32,
        pub(crate) inode: u32,
        pub(crate) cookie: u64,
    }

    impl Row {
        pub(crate) fn v4() -> Row {
            Row {
                family: AF_INET,
                state: 1,
                timer: 0,
                retrans: 0,
                sport: 22,
                dport: 51000,
                src: vec![10, 0, 0, 1],
                dst: vec![192, 168, 1, 7],
                expires: 0,
                rqueue: 3,
                wqueue: 40,
                uid: 1000,
                inode: 123456,
                cookie: 0x1234_5678_9abc_def0,
            }
        }

        pub(crate) fn bytes(&self) -> Vec<u8> {
            let mut b = vec![self.family, self.state, self.timer, self.retrans];
            b.extend(self.sport.to_be_bytes());
            b.extend(self.dport.to_be_bytes());
            for addr in [&self.src, &self.dst] {
                let mut a = addr.clone();
                a.resize(16, 0);
                b.extend(a);
            }
            b.extend([0; 4]); // interface
            b.extend((self.cookie as u32).to_ne_bytes());
            b.extend(((self.cookie >> 32) as u32).to_ne_bytes());
            for v in [self.expires, self.rqueue, self.wqueue, self.uid, self.inode] {
                b.extend(v.to_ne_bytes());
            }
            assert_eq!(b.len(), INET_DIAG_MSG_LEN);
            b
        }

        pub(crate) fn with(&self, attrs: &[Vec<u8>]) -> Vec<u8> {
            let mut b = self.bytes();
            attrs.iter().for_each(|a| b.extend(a));
            b
        }
    }

    /// A tcp_info prefix with the two counters set.
    pub(crate) fn tcp_info(retransmits: u8, probes: u8) -> Vec<u8> {
        let mut info = vec![0u8; 104];
        info[0] = 1;
        info[2] = retransmits;
        info[3] = probes;
        attr(INET_DIAG_INFO, &info)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{tcp_info, Row};
    use super::*;
    use crate::source::netlink::wire::fixtures::attr;
    use crate::source::netlink::wire::{NLA_HDRLEN, NLMSG_HDRLEN};

    #[test]
    fn parses_ipv4_row() {
        let s = parse_inet_diag(&Row::v4().bytes(), false).unwrap();
        assert_eq!(s.family, Family::Inet);
        assert_eq!(s.state, TcpState::Established);
        assert_eq!(s.local.addr, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(s.local.port, 22);
        assert_eq!(s.remote.addr, IpAddr::from([192, 168, 1, 7]));
        assert_eq!(s.remote.port, 51000);
        assert_eq!((s.recv_q, s.send_q, s.uid, s.inode), (3, 40, 1000, 123456));
        assert_eq!(s.cookie(), 0x1234_5678_9abc_def0);
        assert_eq!(s.timer, Timer::OFF);
        assert_eq!(s.shutdown, None);
    }

    #[test]
    fn parses_ipv6_row() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "::ffff:10.1.2.3".parse().unwrap();
        let row = Row {
            family: AF_INET6,
            src: src.octets().to_vec(),
            dst: dst.octets().to_vec(),
            inode: u32::MAX,
            ..Row::v4()
        };
        let s = parse_inet_diag(&row.bytes(), false).unwrap();
        assert_eq!(s.family, Family::Inet6);
        assert_eq!(s.local.addr, IpAddr::V6(src));
        assert_eq!(s.remote.addr, IpAddr::V6(dst));
        assert_eq!(s.remote.display_addr(), IpAddr::from([10, 1, 2, 3]));
        assert_eq!(s.inode, u64::from(u32::MAX));
    }

    #[test]
    fn idiag_retrans_follows_timer_kind() {
        let cases = [
            (0, TimerKind::Off, 0, 0, 0),
            (1, TimerKind::On, 1500, 5, 0),
            (2, TimerKind::Keepalive, 1500, 0, 5),
            (3, TimerKind::TimeWait, 1500, 0, 0),
            (4, TimerKind::Probe, 1500, 0, 5),
            (9, TimerKind::Unknown(9), 1500, 0, 0),
        ];
        for (n, kind, expires, retransmits, probes) in cases {
            let row = Row {
                timer: n,
                retrans: 5,
                expires: 1500,
                ..Row::v4()
            };
            let want = Timer {
                kind,
                expires_ms: expires,
                retransmits,
                probes,
            };
            assert_eq!(parse_inet_diag(&row.bytes(), false).unwrap().timer, want);
            // Without a tcp_info attribute the same holds when asked for.
            assert_eq!(parse_inet_diag(&row.bytes(), true).unwrap().timer, want);
        }
    }

    #[test]
    fn tcp_info_gives_both_counters() {
        for n in [1, 2, 4] {
            let row = Row {
                timer: n,
                retrans: 9,
                expires: 200,
                ..Row::v4()
            };
            let payload = row.with(&[tcp_info(3, 7)]);
            let t = parse_inet_diag(&payload, true).unwrap().timer;
            assert_eq!((t.retransmits, t.probes, t.expires_ms), (3, 7, 200));
            // Not asked for: tcp_info is ignored, idiag_retrans used.
            let t = parse_inet_diag(&payload, false).unwrap().timer;
            assert_eq!(t.retransmits + t.probes, 9);
        }
        // A timer that is off has no counters to show.
        let row = Row {
            timer: 0,
            expires: 50,
            ..Row::v4()
        };
        let t = parse_inet_diag(&row.with(&[tcp_info(3, 7)]), true)
            .unwrap()
            .timer;
        assert_eq!(t, Timer::OFF);
    }

    #[test]
    fn reads_shutdown_among_other_attributes() {
        let payload = Row::v4().with(&[
            attr(5, &[0x10]),                 // INET_DIAG_TOS
            attr(INET_DIAG_SHUTDOWN, &[3]),   //
            attr(0x8000 | 20, &[1, 2, 3, 4]), // a nested attribute we skip
        ]);
        let s = parse_inet_diag(&payload, false).unwrap();
        assert_eq!(
            s.shutdown,
            Some(Shutdown {
                read: true,
                write: true
            })
        );
        let s = parse_inet_diag(&Row::v4().with(&[attr(8, &[2])]), false).unwrap();
        assert_eq!(
            s.shutdown,
            Some(Shutdown {
                read: false,
                write: true
            })
        );
    }

    #[test]
    fn last_attribute_may_lack_padding() {
        let mut payload = Row::v4().with(&[attr(INET_DIAG_SHUTDOWN, &[1])]);
        payload.truncate(INET_DIAG_MSG_LEN + 5);
        let s = parse_inet_diag(&payload, false).unwrap();
        assert_eq!(
            s.shutdown,
            Some(Shutdown {
                read: true,
                write: false
            })
        );
    }

    #[test]
    fn listener_send_q_is_zero() {
        let row = Row {
            state: 10,
            rqueue: 2,
            wqueue: 4096,
            dport: 0,
            ..Row::v4()
        };
        let s = parse_inet_diag(&row.bytes(), false).unwrap();
        assert_eq!((s.state, s.recv_q, s.send_q), (TcpState::Listen, 2, 0));
        assert_eq!(s.backlog, Some(4096));
    }

    #[test]
    fn new_syn_recv_is_syn_recv() {
        let row = Row {
            state: 12,
            timer: 1,
            retrans: 2,
            expires: 900,
            inode: 0,
            ..Row::v4()
        };
        let s = parse_inet_diag(&row.bytes(), true).unwrap();
        assert_eq!(s.state, TcpState::SynRecv);
        assert_eq!((s.timer.kind, s.timer.retransmits), (TimerKind::On, 2));
    }

    #[test]
    fn rejects_malformed_payloads() {
        let row = Row::v4();
        let short = row.bytes()[..INET_DIAG_MSG_LEN - 1].to_vec();
        let state = |state| {
            Row {
                state,
                ..row.clone()
            }
            .bytes()
        };
        let family = |family| {
            Row {
                family,
                ..row.clone()
            }
            .bytes()
        };
        let mut truncated_header = row.bytes();
        truncated_header.extend([8, 0]);
        let mut past_end = row.with(&[attr(INET_DIAG_SHUTDOWN, &[1])]);
        past_end[INET_DIAG_MSG_LEN] = 40;
        let mut zero_len = row.bytes();
        zero_len.extend([0, 0, 8, 0, 1, 0, 0, 0]);
        let empty_shutdown = row.with(&[attr(INET_DIAG_SHUTDOWN, &[])]);
        let short_info = row.with(&[attr(INET_DIAG_INFO, &[1, 0, 2])]);
        let cases = [
            (short, ParseError::Short { len: 71 }),
            (vec![], ParseError::Short { len: 0 }),
            (state(13), ParseError::State(13)),
            (state(0), ParseError::State(0)),
            (family(1), ParseError::Family(1)),
            (truncated_header, ParseError::AttributeHeader { left: 2 }),
            (past_end, ParseError::AttributePastEnd { len: 40, left: 8 }),
            (zero_len, ParseError::AttributeLength { len: 0 }),
            (
                empty_shutdown,
                ParseError::AttributeValue { kind: 8, len: 0 },
            ),
            (short_info, ParseError::AttributeValue { kind: 2, len: 3 }),
        ];
        for (payload, want) in cases {
            for timer_counters in [false, true] {
                assert_eq!(parse_inet_diag(&payload, timer_counters), Err(want));
            }
            assert!(!want.to_string().is_empty());
        }
    }

    #[test]
    fn info_and_memory_only_when_asked_and_whole() {
        let mut info = vec![0u8; 232];
        info[0] = 1;
        info[5] = 4; // TCPI_OPT_WSCALE
        info[6] = 0x97; // snd 7, rcv 9
        info[80..84].copy_from_slice(&10u32.to_ne_bytes()); // snd_cwnd
        let skmem: Vec<u8> = (1u32..=9).flat_map(|w| w.to_ne_bytes()).collect();
        let payload = Row::v4().with(&[
            attr(INET_DIAG_SKMEMINFO, &skmem),
            attr(INET_DIAG_INFO, &info),
            attr(INET_DIAG_CONG, b"cubic\0"),
            attr(INET_DIAG_TOS, &[0x10]),
        ]);
        let plain = parse_inet_diag(&payload, true).unwrap();
        assert_eq!((plain.info, plain.memory), (None, None));
        let s = parse_inet_diag_with(&payload, Extras::ALL).unwrap();
        let i = s.info.unwrap();
        assert_eq!((i.snd_wscale, i.rcv_wscale, i.snd_cwnd), (7, 9, 10));
        assert_eq!(
            (i.congestion.as_deref(), i.tos),
            (Some("cubic"), Some(0x10))
        );
        assert_eq!(i.snd_wnd, Some(0));
        assert_eq!(i.rcv_wnd, None, "232 bytes end before rcv_wnd");
        assert_eq!(s.memory.unwrap().drops, Some(9));
    }

    #[test]
    fn short_info_or_memory_leaves_them_absent() {
        for (len, counters) in [(4, true), (103, true)] {
            let mut info = vec![0u8; len];
            info[2] = 3;
            let payload = Row {
                timer: 1,
                ..Row::v4()
            }
            .with(&[
                attr(INET_DIAG_INFO, &info),
                attr(INET_DIAG_SKMEMINFO, &[0; 27]),
                attr(INET_DIAG_CONG, b"cubic\0"),
            ]);
            let s = parse_inet_diag_with(&payload, Extras::ALL).unwrap();
            assert_eq!((s.info, s.memory), (None, None), "{len}");
            // The counters at the start are still good.
            assert_eq!(s.timer.retransmits == 3, counters);
        }
        // Oversized: a future kernel's longer struct reads as today's.
        let payload = Row::v4().with(&[attr(INET_DIAG_INFO, &[0; 400])]);
        let s = parse_inet_diag_with(&payload, Extras::ALL).unwrap();
        assert_eq!(s.info.unwrap().rehash, Some(0));
    }

    #[test]
    fn every_cut_and_flip_of_the_extras_is_absent_or_whole() {
        let info: Vec<u8> = (0..240u32).map(|b| b as u8).collect();
        let skmem: Vec<u8> = (1u32..=9).flat_map(|w| w.to_ne_bytes()).collect();
        let bbr: Vec<u8> = (1u32..=5).flat_map(|w| w.to_ne_bytes()).collect();
        let attrs = [
            attr(INET_DIAG_INFO, &info),
            attr(INET_DIAG_SKMEMINFO, &skmem),
            attr(INET_DIAG_CONG, b"cubic\0"),
            attr(INET_DIAG_BBRINFO, &bbr),
            attr(INET_DIAG_VEGASINFO, &[1; 16]),
            attr(INET_DIAG_TOS, &[4]),
            attr(INET_DIAG_TCLASS, &[8]),
        ];
        let valid = Row::v4().with(&attrs);
        let whole = parse_inet_diag_with(&valid, Extras::ALL).unwrap();
        assert!(whole
            .info
            .as_ref()
            .is_some_and(|i| i.bbr.is_some() && i.vegas.is_some()));
        for cut in INET_DIAG_MSG_LEN..valid.len() {
            // A cut inside an attribute breaks framing: the socket is
            // refused; a cut between attributes keeps what came whole.
            if let Ok(s) = parse_inet_diag_with(&valid[..cut], Extras::ALL) {
                if let Some(info) = &s.info {
                    assert_eq!(info.rcv_wscale, whole.info.as_ref().unwrap().rcv_wscale);
                }
            }
        }
        // Each attribute alone, shortened to every length: never a panic,
        // and a part is either absent or read from what was sent.
        for a in &attrs {
            let kind = u16::from_ne_bytes([a[2], a[3]]);
            let len = usize::from(u16::from_ne_bytes([a[0], a[1]])) - 4;
            for short in 0..len {
                let payload = Row::v4().with(&[attr(kind, &a[4..4 + short])]);
                match parse_inet_diag_with(&payload, Extras::ALL) {
                    Ok(s) => {
                        assert!(s.info.is_none() || short >= 104, "{kind} {short}");
                        assert!(s.memory.is_none() || short >= 28, "{kind} {short}");
                    }
                    Err(e) => assert_eq!((kind, short < 4), (INET_DIAG_INFO, true), "{e}"),
                }
            }
        }
    }

    #[test]
    fn extensions_asked_follow_the_flags() {
        let ext = |info, memory| {
            let req = Request {
                protocol: Protocol::Tcp,
                ipv4: true,
                ipv6: false,
                states: StateSet::from_bits(1 << 1),
                timer_counters: false,
                info,
                memory,
                bytecode: None,
                split: None,
            };
            request_bytes(AF_INET, &req, 1).unwrap()[18]
        };
        // SHUTDOWN only; + INFO VEGAS CONG TOS TCLASS; + SKMEMINFO.
        assert_eq!(ext(false, false), 0x80);
        assert_eq!(ext(true, false), 0x80 | 0x3e);
        assert_eq!(ext(false, true), 0x80 | 0x40);
    }

    #[test]
    fn syn_recv_also_asks_for_request_sockets() {
        assert_eq!(
            kernel_state_mask(StateSet::from_bits(1 << 3)),
            1 << 3 | 1 << 12
        );
        assert_eq!(kernel_state_mask(StateSet::from_bits(1 << 10)), 1 << 10);
        let req = Request {
            protocol: Protocol::Tcp,
            ipv4: true,
            ipv6: false,
            states: StateSet::from_bits(1 << 3),
            timer_counters: true,
            info: false,
            memory: false,
            bytecode: None,
            split: None,
        };
        let bytes = request_bytes(AF_INET, &req, 5).unwrap();
        // nlmsghdr, then family, protocol, ext, pad, states.
        assert_eq!(bytes.len(), NLMSG_HDRLEN + 56);
        assert_eq!(&bytes[16..20], &[AF_INET, 6, 0x82, 0]);
        assert_eq!(bytes[20..24], (1u32 << 3 | 1 << 12).to_ne_bytes());
        assert_eq!(bytes[8..12], 5u32.to_ne_bytes());
    }

    #[test]
    fn udp_and_raw_requests_name_their_protocol() {
        let bytes = |protocol| {
            let req = Request {
                protocol,
                ipv4: true,
                ipv6: false,
                states: StateSet::from_bits(1 << 7),
                timer_counters: false,
                info: false,
                memory: false,
                bytecode: None,
                split: None,
            };
            request_bytes(AF_INET6, &req, 1).unwrap()
        };
        // family, protocol, extensions (SHUTDOWN), pad/sdiag_raw_protocol.
        assert_eq!(&bytes(Protocol::Udp)[16..20], &[AF_INET6, 17, 0x80, 0]);
        assert_eq!(&bytes(Protocol::UdpLite)[16..20], &[AF_INET6, 136, 0x80, 0]);
        assert_eq!(&bytes(Protocol::Raw)[16..20], &[AF_INET6, 255, 0x80, 255]);
    }

    #[test]
    fn replies_carry_the_protocol_asked_for() {
        let extras = Extras {
            protocol: Protocol::Udp,
            ..Extras::default()
        };
        let s = parse_inet_diag_with(
            &Row {
                state: 7,
                ..Row::v4()
            }
            .bytes(),
            extras,
        )
        .unwrap();
        assert_eq!((s.protocol, s.state), (Protocol::Udp, TcpState::Close));
        assert_eq!(s.proto(), "udp");
    }

    #[test]
    fn both_families_are_one_tcpdiag_getsock_request() {
        let program = vec![12, 8, 12, 0, 0, 0, 0x58, 0x1b];
        let req = Request {
            protocol: Protocol::Tcp,
            ipv4: true,
            ipv6: true,
            states: StateSet::from_bits(1 << 3),
            timer_counters: false,
            info: false,
            memory: true,
            bytecode: Some(program.clone()),
            split: None,
        };
        let bytes = both_families_request_bytes(&req, 9).unwrap();
        let attr_at = NLMSG_HDRLEN + INET_DIAG_REQ_LEN;
        assert_eq!(bytes.len(), attr_at + NLA_HDRLEN + program.len());
        assert_eq!(bytes[..4], (bytes.len() as u32).to_ne_bytes());
        assert_eq!(bytes[4..6], 18u16.to_ne_bytes());
        assert_eq!(bytes[6..8], 0x301u16.to_ne_bytes()); // REQUEST | DUMP
        assert_eq!(bytes[8..12], 9u32.to_ne_bytes());
        // family, prefix lengths, extensions (SHUTDOWN, SKMEMINFO)
        assert_eq!(bytes[16..20], [AF_INET, 0, 0, 0x80 | 0x40]);
        assert!(bytes[20..60].iter().all(|&b| b == 0));
        assert_eq!(bytes[60..68], [0xff; 8]);
        assert_eq!(bytes[68..72], (1u32 << 3 | 1 << 12).to_ne_bytes());
        assert_eq!(bytes[72..76], [0; 4]);
        assert_eq!(bytes[attr_at + 2..attr_at + 4], 1u16.to_ne_bytes());
        assert_eq!(bytes[attr_at + 4..], program[..]);
    }

    #[test]
    fn bytecode_rides_in_an_attribute_after_the_request() {
        let program = vec![12, 8, 12, 0, 0, 0, 0x58, 0x1b];
        let req = Request {
            protocol: Protocol::Tcp,
            ipv4: true,
            ipv6: false,
            states: StateSet::from_bits(1 << 1),
            timer_counters: false,
            info: false,
            memory: false,
            bytecode: Some(program.clone()),
            split: None,
        };
        let bytes = request_bytes(AF_INET, &req, 1).unwrap();
        let attr_at = NLMSG_HDRLEN + 56;
        assert_eq!(bytes.len(), attr_at + NLA_HDRLEN + program.len());
        assert_eq!(bytes[..4], (bytes.len() as u32).to_ne_bytes());
        assert_eq!(bytes[attr_at..attr_at + 2], 12u16.to_ne_bytes());
        assert_eq!(bytes[attr_at + 2..attr_at + 4], 1u16.to_ne_bytes());
        assert_eq!(bytes[attr_at + 4..], program[..]);
    }
}
