//! The sock_diag netlink source: asks the kernel for TCP sockets over
//! `NETLINK_SOCK_DIAG` and turns each `inet_diag_msg` into a [`Socket`].
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
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, NLM_F_DUMP,
    NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{
    SockDiagMessage, AF_INET, AF_INET6, IPPROTO_TCP, SOCK_DIAG_BY_FAMILY,
};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket as NetlinkSocket, SocketAddr as NetlinkAddr};

use crate::error::{os_text, Error, Result};
use crate::model::{Endpoint, Family, Shutdown, Socket, TcpState, Timer, TimerKind};

/// What to ask the kernel for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Dump AF_INET sockets.
    pub ipv4: bool,
    /// Dump AF_INET6 sockets (including IPv4-mapped ones).
    pub ipv6: bool,
    /// inet_diag state mask: bit `1 << state` per
    /// [`TcpState::mask_bit`]. SYN_RECV also selects request sockets.
    pub states: u32,
    /// Ask for `tcp_info` (INET_DIAG_INFO) to get exact retransmit and probe
    /// counts for every timer kind; adds a few hundred bytes per full socket.
    pub timer_counters: bool,
    /// An inet_diag bytecode program (`INET_DIAG_REQ_BYTECODE`) the kernel
    /// runs on each socket, sending only those it accepts; see
    /// [`super::bytecode`]. A program the kernel's audit refuses fails the
    /// dump with EINVAL.
    pub bytecode: Option<Vec<u8>>,
}

/// What happened during a dump besides the sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpStats {
    /// Socket messages that failed to parse and were left out.
    pub skipped: usize,
    /// Times a family's dump was started over (NLM_F_DUMP_INTR, overrun,
    /// truncated datagram).
    pub restarts: usize,
}

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

/// Size of `struct inet_diag_msg`.
pub(super) const INET_DIAG_MSG_LEN: usize = 72;
/// Byte offsets inside `inet_diag_msg`.
const OFF_SPORT: usize = 4;
const OFF_DPORT: usize = 6;
const OFF_SRC: usize = 8;
const OFF_DST: usize = 24;
const OFF_EXPIRES: usize = 52;
const OFF_RQUEUE: usize = 56;
const OFF_WQUEUE: usize = 60;
const OFF_UID: usize = 64;
const OFF_INODE: usize = 68;

pub(super) const NLMSG_HDRLEN: usize = 16;
pub(super) const NLA_HDRLEN: usize = 4;
/// Strips NLA_F_NESTED and NLA_F_NET_BYTEORDER from `nla_type`.
pub(super) const NLA_TYPE_MASK: u16 = 0x3fff;
pub(super) const INET_DIAG_INFO: u16 = 2;
/// Request attribute carrying a bytecode filter.
const INET_DIAG_REQ_BYTECODE: u16 = 1;
const INET_DIAG_SHUTDOWN: u16 = 8;
/// The kernel state of request sockets; the model reports them as SYN_RECV.
const TCP_NEW_SYN_RECV: u32 = 12;

/// Receive buffer. The kernel fills at most ~32 KiB per dump datagram
/// (`netlink_recvmsg` caps `max_recvmsg_len`), and a buffer smaller than
/// that truncates; 64 KiB leaves room and stays cheap to allocate per dump.
const RECV_BUF_LEN: usize = 64 << 10;
/// Largest buffer a truncated datagram may make us grow to.
const RECV_BUF_MAX: usize = 16 << 20;
/// SO_RCVBUF asked for (the kernel caps it at rmem_max). A dump queues one
/// datagram at a time, so this only keeps a tiny rmem_default from getting
/// in the way.
const SO_RCVBUF_LEN: libc::c_int = 1 << 20;
/// Restarts allowed in one `dump` before giving up.
const MAX_RESTARTS: usize = 8;

/// Dumps matching TCP sockets into `out` (cleared first; reuse it between
/// calls). Each family is one dump request; a dump the kernel marks as
/// interrupted is started over, up to a bound.
pub fn dump(req: &Request, out: &mut Vec<Socket>) -> Result<DumpStats> {
    let mut stats = dump_all(req, out)?;
    // The kernel sends uid 0 for request sockets; /proc shows their
    // listener's uid. Listeners are few, so when there are requests, fetch
    // them all (the main dump's filter may have left them out) to fill it in.
    if out.iter().any(Socket::is_request) {
        let mut listeners = Vec::new();
        let more = dump_all(&listeners_request(), &mut listeners)?;
        stats.skipped += more.skipped;
        stats.restarts += more.restarts;
        fill_request_uids(out, &listeners);
    }
    Ok(stats)
}

/// Every listener of both families, without extras or filter: where
/// request sockets find their uid. A dual-stack IPv6 listener takes IPv4
/// connections, so both families count whatever the main dump asked for.
fn listeners_request() -> Request {
    Request {
        ipv4: true,
        ipv6: true,
        states: TcpState::Listen.mask_bit(),
        timer_counters: false,
        bytecode: None,
    }
}

/// Gives each request socket the uid of the listener it arrived on, as
/// /proc does (`sock_i_uid(req->rsk_listener)`). `listeners` may hold other
/// rows, which are ignored.
fn fill_request_uids(rows: &mut [Socket], listeners: &[Socket]) {
    for row in rows.iter_mut().filter(|s| s.is_request()) {
        if let Some(listener) = row.listener_among(listeners) {
            row.uid = listener.uid;
        }
    }
}

/// The dump itself, for exactly the states asked.
fn dump_all(req: &Request, out: &mut Vec<Socket>) -> Result<DumpStats> {
    out.clear();
    let mut stats = DumpStats::default();
    let mut buf = Vec::with_capacity(RECV_BUF_LEN);
    let families = [(req.ipv4, AF_INET), (req.ipv6, AF_INET6)];
    let mut seq = 0u32;
    for (_, family) in families.into_iter().filter(|(wanted, _)| *wanted) {
        loop {
            seq = seq.wrapping_add(1);
            let (rows, skipped) = (out.len(), stats.skipped);
            if dump_family(family, req, seq, &mut buf, out, &mut stats.skipped)? {
                break;
            }
            // Rows of an interrupted dump may be duplicated or missing.
            out.truncate(rows);
            stats.skipped = skipped;
            stats.restarts += 1;
            if stats.restarts > MAX_RESTARTS {
                return Err(Error::runtime(format!(
                    "netlink sock_diag dump interrupted {} times, giving up",
                    stats.restarts
                )));
            }
        }
    }
    Ok(stats)
}

/// Runs one family's dump on a fresh socket (so an abandoned dump never
/// blocks the next). Returns false when it must be started over.
fn dump_family(
    family: u8,
    req: &Request,
    seq: u32,
    buf: &mut Vec<u8>,
    out: &mut Vec<Socket>,
    skipped: &mut usize,
) -> Result<bool> {
    let (sock, port) = open_socket()?;
    sock.send_to(
        &request_bytes(family, req, seq)?,
        &NetlinkAddr::new(0, 0),
        0,
    )
    .map_err(|e| io_error("sending the dump request", &e))?;
    let expect = Expect { seq, port };
    loop {
        buf.clear();
        // MSG_TRUNC makes netlink return the datagram's real length.
        let (len, from) = match sock.recv_from(buf, libc::MSG_TRUNC) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // The socket overran and lost datagrams: start over.
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(false),
            Err(e) => return Err(io_error("receiving the dump", &e)),
        };
        if len == 0 {
            return Err(Error::runtime("netlink sock_diag: empty datagram"));
        }
        if len > buf.len() {
            // Lost the datagram's tail: retry with room for it.
            let want = len.max(buf.capacity() * 2).min(RECV_BUF_MAX);
            buf.reserve(want.saturating_sub(buf.len()));
            return Ok(false);
        }
        if from.port_number() != 0 {
            continue; // not from the kernel
        }
        match walk_datagram(buf, expect, req.timer_counters, out, skipped)? {
            Progress::More => {}
            Progress::Done => return Ok(true),
            Progress::Interrupted => return Ok(false),
        }
    }
}

/// Opens and binds a sock_diag socket; returns it with its port id.
fn open_socket() -> Result<(NetlinkSocket, u32)> {
    let mut sock =
        NetlinkSocket::new(NETLINK_SOCK_DIAG).map_err(|e| io_error("opening the socket", &e))?;
    // Best effort: dumps work with the default size too.
    let _ = sock.set_rx_buf_sz(SO_RCVBUF_LEN);
    let addr = sock
        .bind_auto()
        .map_err(|e| io_error("binding the socket", &e))?;
    Ok((sock, addr.port_number()))
}

/// The request: one family, TCP, the state mask, tcp_info if wanted, and
/// the bytecode attribute if any.
fn request_bytes(family: u8, req: &Request, seq: u32) -> Result<Vec<u8>> {
    let mut extensions = ExtensionFlags::SHUTDOWN;
    if req.timer_counters {
        extensions |= ExtensionFlags::INFO;
    }
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let inner = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions,
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

/// Appends a netlink attribute, padded to 4 bytes, to the message in
/// `msg` and fixes its `nlmsg_len`. `None` (and `msg` unchanged) when the
/// value is too long for an attribute.
fn append_attribute(msg: &mut Vec<u8>, kind: u16, value: &[u8]) -> Option<()> {
    let nla_len = u16::try_from(NLA_HDRLEN + value.len()).ok()?;
    msg.resize(align4(msg.len()), 0);
    msg.extend(nla_len.to_ne_bytes());
    msg.extend(kind.to_ne_bytes());
    msg.extend(value);
    msg.resize(align4(msg.len()), 0);
    let total = u32::try_from(msg.len()).ok()?;
    msg[..4].copy_from_slice(&total.to_ne_bytes());
    Some(())
}

/// Request sockets are in TCP_NEW_SYN_RECV, so SYN_RECV must select it too.
fn kernel_state_mask(states: u32) -> u32 {
    if states & TcpState::SynRecv.mask_bit() != 0 {
        states | 1 << TCP_NEW_SYN_RECV
    } else {
        states
    }
}

/// Turns an io error into the program's error, errno text without the
/// "(os error N)" tail.
fn io_error(what: &str, e: &io::Error) -> Error {
    Error::runtime(format!("netlink sock_diag: {what}: {}", os_text(e)))
}

/// Which replies belong to our request.
#[derive(Debug, Clone, Copy)]
struct Expect {
    seq: u32,
    port: u32,
}

/// Where a dump stands after one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    More,
    Done,
    Interrupted,
}

/// The fields of a netlink message header we use.
pub(super) struct NlHeader {
    pub(super) len: usize,
    pub(super) kind: u16,
    flags: u16,
    seq: u32,
    port: u32,
}

pub(super) fn read_nlmsghdr(data: &[u8]) -> Option<NlHeader> {
    let h: &[u8; NLMSG_HDRLEN] = data.get(..NLMSG_HDRLEN)?.try_into().ok()?;
    Some(NlHeader {
        len: u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize,
        kind: u16::from_ne_bytes([h[4], h[5]]),
        flags: u16::from_ne_bytes([h[6], h[7]]),
        seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
        port: u32::from_ne_bytes([h[12], h[13], h[14], h[15]]),
    })
}

/// Walks the netlink messages of one datagram, pushing parsed sockets.
fn walk_datagram(
    mut data: &[u8],
    expect: Expect,
    timer_counters: bool,
    out: &mut Vec<Socket>,
    skipped: &mut usize,
) -> Result<Progress> {
    while !data.is_empty() {
        let hdr = read_nlmsghdr(data).filter(|h| h.len >= NLMSG_HDRLEN && h.len <= data.len());
        let Some(hdr) = hdr else {
            // Framing is lost; the rest of the dump cannot be trusted.
            return Err(Error::runtime(
                "netlink sock_diag: malformed message header",
            ));
        };
        let payload = data.get(NLMSG_HDRLEN..hdr.len).unwrap_or_default();
        data = data.get(align4(hdr.len)..).unwrap_or_default();
        if hdr.seq != expect.seq || hdr.port != expect.port {
            continue; // a reply to some other request
        }
        if hdr.flags & NLM_F_DUMP_INTR != 0 || hdr.kind == NLMSG_OVERRUN {
            return Ok(Progress::Interrupted);
        }
        match hdr.kind {
            SOCK_DIAG_BY_FAMILY => match parse_inet_diag(payload, timer_counters) {
                Ok(socket) => out.push(socket),
                Err(_) => *skipped += 1,
            },
            NLMSG_DONE => return status(payload).map(|()| Progress::Done),
            NLMSG_ERROR => status(payload)?, // 0 is an acknowledgement
            _ => {}                          // NLMSG_NOOP and the like
        }
    }
    Ok(Progress::More)
}

/// The errno that NLMSG_ERROR and NLMSG_DONE start with (negative on failure).
fn status(payload: &[u8]) -> Result<()> {
    let code = match payload {
        [a, b, c, d, ..] => i32::from_ne_bytes([*a, *b, *c, *d]),
        [] => return Ok(()),
        _ => {
            return Err(Error::runtime(
                "netlink sock_diag: malformed status message",
            ))
        }
    };
    if code >= 0 {
        return Ok(());
    }
    let errno = io::Error::from_raw_os_error(code.saturating_neg());
    Err(Error::runtime(format!(
        "netlink sock_diag dump failed: {}",
        os_text(&errno)
    )))
}

pub(super) fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// Parses one SOCK_DIAG_BY_FAMILY message payload (the `inet_diag_msg` and
/// its attributes) into a [`Socket`]. With `timer_counters`, a `tcp_info`
/// attribute supplies both timer counters.
pub fn parse_inet_diag(payload: &[u8], timer_counters: bool) -> Result<Socket, ParseError> {
    let head: &[u8; INET_DIAG_MSG_LEN] = payload
        .get(..INET_DIAG_MSG_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(ParseError::Short { len: payload.len() })?;
    let attrs = read_attributes(payload.get(INET_DIAG_MSG_LEN..).unwrap_or_default())?;
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
        uid: ne_u32(head, OFF_UID),
        inode: u64::from(ne_u32(head, OFF_INODE)),
        timer: timer(head, attrs.tcp_counters.filter(|_| timer_counters)),
        shutdown: attrs.shutdown.map(Shutdown::from_kernel),
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
}

/// Walks the netlink attributes after `inet_diag_msg` without allocating.
fn read_attributes(mut rest: &[u8]) -> Result<DiagAttributes, ParseError> {
    let mut attrs = DiagAttributes::default();
    while !rest.is_empty() {
        let (len, kind) = match rest {
            [a, b, c, d, ..] => (
                usize::from(u16::from_ne_bytes([*a, *b])),
                u16::from_ne_bytes([*c, *d]) & NLA_TYPE_MASK,
            ),
            _ => return Err(ParseError::AttributeHeader { left: rest.len() }),
        };
        if len < NLA_HDRLEN {
            return Err(ParseError::AttributeLength { len });
        }
        let value = rest
            .get(NLA_HDRLEN..len)
            .ok_or(ParseError::AttributePastEnd {
                len,
                left: rest.len(),
            })?;
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
        // The last attribute may lack its padding.
        rest = rest.get(align4(len)..).unwrap_or_default();
    }
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::XorShift;

    /// A hand-built `inet_diag_msg`, fields host-endian as the kernel sends.
    #[derive(Clone)]
    struct Row {
        family: u8,
        state: u8,
        timer: u8,
        retrans: u8,
        sport: u16,
        dport: u16,
        src: Vec<u8>,
        dst: Vec<u8>,
        expires: u32,
        rqueue: u32,
        wqueue: u32,
        uid: u32,
        inode: u32,
    }

    impl Row {
        fn v4() -> Row {
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
            }
        }

        fn bytes(&self) -> Vec<u8> {
            let mut b = vec![self.family, self.state, self.timer, self.retrans];
            b.extend(self.sport.to_be_bytes());
            b.extend(self.dport.to_be_bytes());
            for addr in [&self.src, &self.dst] {
                let mut a = addr.clone();
                a.resize(16, 0);
                b.extend(a);
            }
            b.extend([0; 12]); // interface, cookie
            for v in [self.expires, self.rqueue, self.wqueue, self.uid, self.inode] {
                b.extend(v.to_ne_bytes());
            }
            assert_eq!(b.len(), INET_DIAG_MSG_LEN);
            b
        }

        fn with(&self, attrs: &[Vec<u8>]) -> Vec<u8> {
            let mut b = self.bytes();
            attrs.iter().for_each(|a| b.extend(a));
            b
        }
    }

    /// One attribute, padded to 4 bytes.
    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut a = ((value.len() + 4) as u16).to_ne_bytes().to_vec();
        a.extend(kind.to_ne_bytes());
        a.extend(value);
        a.resize(align4(a.len()), 0);
        a
    }

    /// A tcp_info prefix with the two counters set.
    fn tcp_info(retransmits: u8, probes: u8) -> Vec<u8> {
        let mut info = vec![0u8; 104];
        info[0] = 1;
        info[2] = retransmits;
        info[3] = probes;
        attr(INET_DIAG_INFO, &info)
    }

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
        let short = &row.bytes()[..INET_DIAG_MSG_LEN - 1];
        assert_eq!(
            parse_inet_diag(short, false),
            Err(ParseError::Short { len: 71 })
        );
        assert_eq!(
            parse_inet_diag(&[], false),
            Err(ParseError::Short { len: 0 })
        );
        let bad_state = Row {
            state: 13,
            ..row.clone()
        }
        .bytes();
        assert_eq!(
            parse_inet_diag(&bad_state, false),
            Err(ParseError::State(13))
        );
        let zero_state = Row {
            state: 0,
            ..row.clone()
        }
        .bytes();
        assert_eq!(
            parse_inet_diag(&zero_state, false),
            Err(ParseError::State(0))
        );
        let bad_family = Row {
            family: 1,
            ..row.clone()
        }
        .bytes();
        assert_eq!(
            parse_inet_diag(&bad_family, false),
            Err(ParseError::Family(1))
        );

        let mut truncated_header = row.bytes();
        truncated_header.extend([8, 0]);
        let mut past_end = row.with(&[attr(INET_DIAG_SHUTDOWN, &[1])]);
        past_end[INET_DIAG_MSG_LEN] = 40;
        let mut zero_len = row.bytes();
        zero_len.extend([0, 0, 8, 0, 1, 0, 0, 0]);
        let empty_shutdown = row.with(&[attr(INET_DIAG_SHUTDOWN, &[])]);
        let short_info = row.with(&[attr(INET_DIAG_INFO, &[1, 0, 2])]);
        let cases = [
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
            assert_eq!(parse_inet_diag(&payload, true), Err(want));
            assert!(!want.to_string().is_empty());
        }
    }

    #[test]
    fn no_panic_on_truncated_or_random_input() {
        let valid = Row {
            state: 10,
            timer: 2,
            ..Row::v4()
        }
        .with(&[
            attr(INET_DIAG_SHUTDOWN, &[1]),
            tcp_info(1, 2),
            attr(99, &[7; 9]),
        ]);
        for cut in 0..=valid.len() {
            let _ = parse_inet_diag(&valid[..cut], true);
        }
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut out = Vec::new();
        let mut skipped = 0;
        for _ in 0..20_000 {
            let mut bytes = valid.clone();
            let flips = rng.next() % 8;
            for _ in 0..=flips {
                let at = (rng.next() % bytes.len() as u64) as usize;
                bytes[at] = rng.next() as u8;
            }
            bytes.truncate((rng.next() % (bytes.len() as u64 + 1)) as usize);
            let _ = parse_inet_diag(&bytes, rng.next() & 1 == 0);
            // The same bytes as a datagram must not panic either.
            let expect = Expect { seq: 1, port: 1 };
            let _ = walk_datagram(&bytes, expect, true, &mut out, &mut skipped);
        }
    }

    /// A netlink message with header.
    fn nlmsg(kind: u16, flags: u16, seq: u32, port: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = ((NLMSG_HDRLEN + payload.len()) as u32)
            .to_ne_bytes()
            .to_vec();
        m.extend(kind.to_ne_bytes());
        m.extend(flags.to_ne_bytes());
        m.extend(seq.to_ne_bytes());
        m.extend(port.to_ne_bytes());
        m.extend(payload);
        m.resize(align4(m.len()), 0);
        m
    }

    const EXPECT: Expect = Expect { seq: 7, port: 4242 };

    fn walk(datagram: &[u8]) -> (Result<Progress>, Vec<Socket>, usize) {
        let (mut out, mut skipped) = (Vec::new(), 0);
        let progress = walk_datagram(datagram, EXPECT, false, &mut out, &mut skipped);
        (progress, out, skipped)
    }

    #[test]
    fn datagram_rows_skips_and_done() {
        let mut d = nlmsg(SOCK_DIAG_BY_FAMILY, 2, 7, 4242, &Row::v4().bytes());
        d.extend(nlmsg(SOCK_DIAG_BY_FAMILY, 2, 7, 4242, &[1, 2, 3]));
        d.extend(nlmsg(SOCK_DIAG_BY_FAMILY, 2, 8, 4242, &Row::v4().bytes()));
        d.extend(nlmsg(SOCK_DIAG_BY_FAMILY, 2, 7, 999, &Row::v4().bytes()));
        let (progress, out, skipped) = walk(&d);
        assert_eq!(
            (progress.unwrap(), out.len(), skipped),
            (Progress::More, 1, 1)
        );

        d.extend(nlmsg(NLMSG_DONE, 2, 7, 4242, &0i32.to_ne_bytes()));
        d.extend(nlmsg(SOCK_DIAG_BY_FAMILY, 2, 7, 4242, &Row::v4().bytes()));
        let (progress, out, _) = walk(&d);
        assert_eq!((progress.unwrap(), out.len()), (Progress::Done, 1));
    }

    #[test]
    fn datagram_error_and_interruption() {
        let mut err = (-libc::EPERM).to_ne_bytes().to_vec();
        err.extend([0; 16]);
        let (progress, _, _) = walk(&nlmsg(NLMSG_ERROR, 0, 7, 4242, &err));
        let msg = progress.unwrap_err().to_string();
        assert_eq!(
            msg,
            "netlink sock_diag dump failed: Operation not permitted"
        );

        let (progress, _, _) = walk(&nlmsg(NLMSG_DONE, 2, 7, 4242, &(-4i32).to_ne_bytes()));
        assert!(progress.is_err());

        let flags = 2 | NLM_F_DUMP_INTR;
        let intr = nlmsg(SOCK_DIAG_BY_FAMILY, flags, 7, 4242, &Row::v4().bytes());
        assert_eq!(walk(&intr).0.unwrap(), Progress::Interrupted);

        let mut bad_len = nlmsg(NLMSG_DONE, 2, 7, 4242, &[0; 4]);
        bad_len[0] = 200;
        assert!(walk(&bad_len).0.is_err());
        bad_len[0] = 3;
        assert!(walk(&bad_len).0.is_err());
    }

    fn row(
        family: Family,
        state: TcpState,
        local: &str,
        port: u16,
        uid: u32,
        inode: u64,
    ) -> Socket {
        Socket {
            family,
            state,
            local: Endpoint {
                addr: local.parse().unwrap(),
                port,
            },
            remote: Endpoint {
                addr: local.parse().unwrap(),
                port: 0,
            },
            recv_q: 0,
            send_q: 0,
            uid,
            inode,
            timer: Timer::OFF,
            shutdown: None,
        }
    }

    #[test]
    fn request_sockets_take_their_listeners_uid() {
        use Family::*;
        let mut rows = vec![
            row(Inet6, TcpState::Listen, "::", 80, 33, 11),
            row(Inet, TcpState::Listen, "0.0.0.0", 443, 44, 12),
            row(Inet, TcpState::Listen, "10.0.0.1", 443, 55, 13),
            row(Inet, TcpState::SynRecv, "10.0.0.2", 80, 0, 0),
            row(Inet, TcpState::SynRecv, "10.0.0.1", 443, 0, 0),
            row(Inet, TcpState::SynRecv, "10.0.0.9", 443, 0, 0),
            row(Inet, TcpState::SynRecv, "10.0.0.9", 8080, 0, 0),
            row(Inet, TcpState::SynRecv, "10.0.0.9", 443, 66, 99),
        ];
        let listeners = rows.clone();
        fill_request_uids(&mut rows, &listeners);
        let uids: Vec<u32> = rows[3..].iter().map(|s| s.uid).collect();
        // dual-stack listener; exact address beats wildcard; wildcard;
        // no listener; a full socket keeps its own uid.
        assert_eq!(uids, [33, 55, 44, 0, 66]);
    }

    #[test]
    fn syn_recv_also_asks_for_request_sockets() {
        assert_eq!(kernel_state_mask(1 << 3), 1 << 3 | 1 << 12);
        assert_eq!(kernel_state_mask(1 << 10), 1 << 10);
        let req = Request {
            ipv4: true,
            ipv6: false,
            states: 1 << 3,
            timer_counters: true,
            bytecode: None,
        };
        let bytes = request_bytes(AF_INET, &req, 5).unwrap();
        // nlmsghdr, then family, protocol, ext, pad, states.
        assert_eq!(bytes.len(), NLMSG_HDRLEN + 56);
        assert_eq!(&bytes[16..20], &[AF_INET, IPPROTO_TCP, 0x82, 0]);
        assert_eq!(bytes[20..24], (1u32 << 3 | 1 << 12).to_ne_bytes());
        assert_eq!(bytes[8..12], 5u32.to_ne_bytes());
    }

    #[test]
    fn bytecode_rides_in_an_attribute_after_the_request() {
        let program = vec![12, 8, 12, 0, 0, 0, 0x58, 0x1b];
        let req = Request {
            ipv4: true,
            ipv6: false,
            states: 1 << 1,
            timer_counters: false,
            bytecode: Some(program.clone()),
        };
        let bytes = request_bytes(AF_INET, &req, 1).unwrap();
        let attr_at = NLMSG_HDRLEN + 56;
        assert_eq!(bytes.len(), attr_at + NLA_HDRLEN + program.len());
        assert_eq!(bytes[..4], (bytes.len() as u32).to_ne_bytes());
        assert_eq!(bytes[attr_at..attr_at + 2], 12u16.to_ne_bytes());
        assert_eq!(bytes[attr_at + 2..attr_at + 4], 1u16.to_ne_bytes());
        assert_eq!(bytes[attr_at + 4..], program[..]);

        let mut msg = vec![0; 20];
        append_attribute(&mut msg, 7, &[1, 2, 3, 4, 5]).unwrap();
        assert_eq!(msg.len(), 20 + 12);
        assert_eq!(msg[20..22], 9u16.to_ne_bytes());
        assert_eq!(msg[..4], 32u32.to_ne_bytes());
        assert_eq!(append_attribute(&mut msg, 7, &[0; 65532]), None);
        assert_eq!(msg.len(), 32);
    }

    // Real sockets: only rows on ports this test opened are looked at.

    use std::io::{Read, Write};
    use std::net::{Shutdown as Direction, TcpListener, TcpStream};
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    use std::time::{Duration, Instant};

    const ALL_STATES: u32 = 0xfff;

    fn inode_of(fd: &impl AsRawFd) -> u64 {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        let link = link.to_str().unwrap();
        link.strip_prefix("socket:[")
            .unwrap()
            .trim_end_matches(']')
            .parse()
            .unwrap()
    }

    fn find(rows: &[Socket], local: u16, remote: u16) -> Option<&Socket> {
        rows.iter()
            .find(|s| s.local.port == local && s.remote.port == remote)
    }

    /// Dumps until `ready` holds (the peer's FIN, a state change), up to 2 s.
    fn dump_until(req: &Request, ready: impl Fn(&[Socket]) -> bool) -> Vec<Socket> {
        let start = Instant::now();
        let mut rows = Vec::new();
        loop {
            dump(req, &mut rows).unwrap();
            if ready(&rows) || start.elapsed() > Duration::from_secs(2) {
                return rows;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn dump_lists_own_sockets() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server, _) = listener.accept().unwrap();
        let queued = TcpStream::connect(("127.0.0.1", port)).unwrap(); // never accepted
        let cport = client.local_addr().unwrap().port();
        let uid = std::fs::metadata("/proc/self").unwrap().uid();

        for timer_counters in [false, true] {
            let req = Request {
                ipv4: true,
                ipv6: false,
                states: ALL_STATES,
                timer_counters,
                bytecode: None,
            };
            let rows = dump_until(&req, |rows| {
                find(rows, port, 0).is_some_and(|l| l.recv_q == 1)
            });
            let listen = find(&rows, port, 0).expect("listener row");
            assert_eq!(listen.state, TcpState::Listen);
            assert_eq!((listen.recv_q, listen.send_q), (1, 0));
            assert_eq!(listen.inode, inode_of(&listener));
            assert_eq!(listen.uid, uid);
            assert_eq!(listen.local.addr, IpAddr::from([127, 0, 0, 1]));

            let c = find(&rows, cport, port).expect("client row");
            assert_eq!(
                (c.state, c.inode),
                (TcpState::Established, inode_of(&client))
            );
            assert_eq!(c.remote.addr, IpAddr::from([127, 0, 0, 1]));
            assert_eq!(
                c.shutdown,
                Some(Shutdown {
                    read: false,
                    write: false
                })
            );
            let s = find(&rows, port, cport).expect("server row");
            assert_eq!(
                (s.state, s.inode),
                (TcpState::Established, inode_of(&server))
            );
            let qport = queued.local_addr().unwrap().port();
            assert!(find(&rows, port, qport).is_some_and(|s| s.inode == 0));
        }

        // The state mask is honoured by the kernel.
        let req = Request {
            ipv4: true,
            ipv6: false,
            states: TcpState::Listen.mask_bit(),
            timer_counters: false,
            bytecode: None,
        };
        let mut rows = Vec::new();
        dump(&req, &mut rows).unwrap();
        assert!(find(&rows, port, 0).is_some());
        assert!(rows.iter().all(|s| s.state == TcpState::Listen));
    }

    #[test]
    fn dump_lists_ipv6_and_skips_unwanted_family() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            return; // no IPv6 on this host
        };
        let port = listener.local_addr().unwrap().port();
        let mut rows = Vec::new();
        let mut req = Request {
            ipv4: false,
            ipv6: true,
            states: ALL_STATES,
            timer_counters: true,
            bytecode: None,
        };
        dump(&req, &mut rows).unwrap();
        let l = find(&rows, port, 0).expect("listener row");
        assert_eq!((l.family, l.state), (Family::Inet6, TcpState::Listen));
        assert_eq!(l.local.addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(l.inode, inode_of(&listener));
        assert!(rows.iter().all(|s| s.family == Family::Inet6));

        req = Request {
            ipv4: true,
            ipv6: false,
            ..req
        };
        dump(&req, &mut rows).unwrap();
        assert!(rows.iter().all(|s| s.family == Family::Inet));
    }

    #[test]
    fn dump_reports_shutdown_and_time_wait() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server, _) = listener.accept().unwrap();
        let cport = client.local_addr().unwrap().port();
        client.write_all(b"x").unwrap();
        client.shutdown(Direction::Write).unwrap();

        let req = Request {
            ipv4: true,
            ipv6: false,
            states: ALL_STATES,
            timer_counters: true,
            bytecode: None,
        };
        let rows = dump_until(&req, |rows| {
            find(rows, port, cport).is_some_and(|s| s.state == TcpState::CloseWait)
                && find(rows, cport, port).is_some_and(|c| c.state == TcpState::FinWait2)
        });
        let c = find(&rows, cport, port).expect("client row");
        assert_eq!(c.state, TcpState::FinWait2);
        assert_eq!(
            c.shutdown,
            Some(Shutdown {
                read: false,
                write: true
            })
        );
        let s = find(&rows, port, cport).expect("server row");
        // rcv_nxt - copied_seq counts the FIN too, in /proc as here.
        assert_eq!((s.state, s.recv_q), (TcpState::CloseWait, 2));
        assert_eq!(
            s.shutdown,
            Some(Shutdown {
                read: true,
                write: false
            })
        );

        // Unread data would make close() send a RST instead of a FIN.
        let mut received = Vec::new();
        (&server).read_to_end(&mut received).unwrap();
        assert_eq!(received, b"x");
        drop(server);
        drop(client);
        let rows = dump_until(&req, |rows| {
            find(rows, cport, port).is_some_and(|s| s.state == TcpState::TimeWait)
        });
        let tw = find(&rows, cport, port).expect("time-wait row");
        assert_eq!(
            (tw.state, tw.inode, tw.shutdown),
            (TcpState::TimeWait, 0, None)
        );
        assert_eq!(tw.timer.kind, TimerKind::TimeWait);
        assert!(
            (1..=60_000).contains(&tw.timer.expires_ms),
            "{:?}",
            tw.timer
        );
        assert_eq!((tw.timer.retransmits, tw.timer.probes), (0, 0));
    }
}
