//! The sock_diag netlink source: asks the kernel for the sockets of one
//! protocol (TCP, UDP, UDP-Lite, raw) over `NETLINK_SOCK_DIAG` and collects
//! the replies into [`Socket`]s. For TCP both families are one dump, one
//! walk of the kernel's tables; otherwise, and for one family, each family
//! is a dump of its own. A dump the kernel interrupts is started over.
//!
//! `wire` reads netlink's framing; `inet_diag` builds the request and
//! reads each socket's message.

pub(super) mod inet_diag;
pub mod kill;
mod receive;
use receive::Flow;
pub(super) mod tcp_info;
pub mod unix_diag;
pub(super) mod wire;

use std::io;

use netlink_packet_core::{NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, NLM_F_DUMP_INTR};
use netlink_packet_sock_diag::{AF_INET, AF_INET6, SOCK_DIAG_BY_FAMILY};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket as NetlinkSocket, SocketAddr as NetlinkAddr};

use crate::error::{os_text, Error, Result};
use crate::model::{Protocol, Socket, StateSet, TcpState};
use inet_diag::{both_families_request_bytes, request_bytes, TCPDIAG_GETSOCK};
pub use inet_diag::{parse_inet_diag, parse_inet_diag_with, Extras, ParseError};
use wire::messages;

/// What to ask the kernel for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The protocol to dump.
    pub protocol: Protocol,
    /// Dump AF_INET sockets.
    pub ipv4: bool,
    /// Dump AF_INET6 sockets (including IPv4-mapped ones).
    pub ipv6: bool,
    /// The states to dump. SYN_RECV also selects request sockets.
    pub states: StateSet,
    /// Ask for `tcp_info` (INET_DIAG_INFO) to get exact retransmit and probe
    /// counts for every timer kind; adds a few hundred bytes per full socket.
    pub timer_counters: bool,
    /// Ask for all of `tcp_info` and its companions (congestion control,
    /// its own info, TOS/traffic class) and keep them on each socket (`-i`).
    pub info: bool,
    /// Ask for INET_DIAG_SKMEMINFO and keep it on each socket (`-m`).
    pub memory: bool,
    /// An inet_diag bytecode program (`INET_DIAG_REQ_BYTECODE`) the kernel
    /// runs on each socket, sending only those it accepts; see
    /// [`super::bytecode`]. A program the kernel's audit refuses fails the
    /// dump with EINVAL.
    pub bytecode: Option<Vec<u8>>,
    /// For a TCP dump of both families: two programs that divide the
    /// sockets `bytecode` accepts between two dumps run side by side (see
    /// [`Split`]). `None` for one dump.
    pub split: Option<Split>,
}

/// Two bytecode programs that together accept what one would, each
/// socket in exactly one of them, and every listener in the first. A big
/// TCP dump is one walk of the kernel's tables on one CPU; split so, it
/// is two walks on two CPUs, each filling half the replies (the filling,
/// `tcp_info` above all, is most of a walk's time). The second dump asks
/// for no listeners and starts once the first is past its own, so that
/// listeners still come first, as in netstat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Every listener and about half of the other sockets.
    pub first: Vec<u8>,
    /// The rest.
    pub second: Vec<u8>,
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
/// calls). Both families are one dump request, one family its own; a dump
/// the kernel marks as interrupted is started over, up to a bound.
pub fn dump(req: &Request, out: &mut Vec<Socket>) -> Result<DumpStats> {
    out.clear();
    dump_flushing(req, out, &mut |_| Ok(()))
}

/// What a streaming dump does with the rows read so far: called after each
/// datagram with every row not yet taken (in `out`'s order), it may take
/// some or all of them.
pub type Flush<'f> = dyn FnMut(&mut Vec<Socket>) -> Result<()> + 'f;

/// [`dump`], appending to `out` (not cleared) and handing its rows to
/// `flush` after each datagram instead of only collecting them. Once `flush` has taken rows, an interrupted dump
/// can no longer be started over without repeating them: it is an error
/// then, never a listing with rows twice.
pub fn dump_flushing(
    req: &Request,
    out: &mut Vec<Socket>,
    flush: &mut Flush<'_>,
) -> Result<DumpStats> {
    let mut dump = Dump {
        stats: DumpStats::default(),
        listeners: None,
        taken: false,
    };
    let mut buffers = receive::Buffers::new(RECV_BUF_LEN);
    let mut seq = 0u32;
    for walk in Walk::all(req) {
        loop {
            seq = seq.wrapping_add(1);
            let (kept, skipped) = (out.len(), dump.stats.skipped);
            let mut rows = Rows {
                out: &mut *out,
                dump: &mut dump,
                flush: &mut *flush,
            };
            let complete = match (&req.split, walk) {
                (Some(split), Walk::Both) => {
                    dump_walk_split(split, req, seq, &mut buffers, &mut rows)
                }
                _ => dump_walk(walk, req, seq, &mut buffers, &mut rows),
            };
            let complete = match complete {
                // A split's second request goes out after rows were
                // written: its refusal must not make the caller dump again
                // without the programs, listing those rows twice.
                Err(e) if dump.taken && kernel_refused(&e) => {
                    return Err(Error::runtime(format!(
                        "netlink sock_diag: a dump failed after rows were written: {e}"
                    )))
                }
                complete => complete?,
            };
            if complete {
                break;
            }
            if dump.taken {
                return Err(Error::runtime(
                    "netlink sock_diag dump interrupted after rows were written; run again",
                ));
            }
            out.truncate(kept);
            dump.stats.skipped = skipped;
            dump.stats.restarts += 1;
            if dump.stats.restarts > MAX_RESTARTS {
                return Err(Error::runtime(format!(
                    "netlink sock_diag dump interrupted {} times, giving up",
                    dump.stats.restarts
                )));
            }
        }
    }
    Ok(dump.stats)
}

/// One dump's progress across its walks and restarts.
struct Dump {
    stats: DumpStats,
    /// The listeners, dumped when the first request socket comes: its uid
    /// is its listener's.
    listeners: Option<Vec<Socket>>,
    /// Whether `flush` took rows.
    taken: bool,
}

impl Dump {
    /// Gives request sockets among `rows` (just read) their listener's uid
    /// (the kernel sends 0; /proc shows the listener's), then lets `flush`
    /// take what it wants.
    fn settle(
        &mut self,
        req: &Request,
        out: &mut Vec<Socket>,
        from: usize,
        flush: &mut Flush<'_>,
    ) -> Result<()> {
        let rows = &mut out[from..];
        if req.protocol == Protocol::Tcp && rows.iter().any(Socket::is_request) {
            if self.listeners.is_none() {
                let mut listeners = Vec::new();
                let more = dump(&listeners_request(), &mut listeners)?;
                self.stats.skipped += more.skipped;
                self.stats.restarts += more.restarts;
                self.listeners = Some(listeners);
            }
            fill_request_uids(rows, self.listeners.as_deref().unwrap_or_default());
        }
        let before = out.len();
        flush(out)?;
        self.taken |= out.len() < before;
        Ok(())
    }
}

/// Where a walk's rows go: the rows read and not yet taken, the dump's
/// progress, and `flush`.
struct Rows<'a, 'f> {
    out: &'a mut Vec<Socket>,
    dump: &'a mut Dump,
    flush: &'a mut Flush<'f>,
}

impl Rows<'_, '_> {
    /// Walks a datagram's messages into `out`; says where the dump stands.
    fn walk(&mut self, datagram: &[u8], expect: Expect, req: &Request) -> Result<Progress> {
        let skipped = &mut self.dump.stats.skipped;
        walk_datagram(datagram, expect, req.extras(), self.out, skipped)
    }

    /// [`Dump::settle`] for the rows from `start` on.
    fn settle(&mut self, req: &Request, start: usize) -> Result<()> {
        self.dump.settle(req, self.out, start, self.flush)
    }
}

/// Every listener of both families, to find request sockets' uids.
fn listeners_request() -> Request {
    Request {
        protocol: Protocol::Tcp,
        ipv4: true,
        ipv6: true,
        states: StateSet::listening(),
        timer_counters: false,
        info: false,
        memory: false,
        bytecode: None,
        split: None,
    }
}

/// A request socket has no uid of its own over netlink; netstat (reading
/// /proc) shows its listener's, and so do we.
fn fill_request_uids(rows: &mut [Socket], listeners: &[Socket]) {
    for row in rows.iter_mut().filter(|s| s.is_request()) {
        if let Some(listener) = row.listener_among(listeners) {
            row.uid = listener.uid;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    Both,
    Family(u8),
}

impl Walk {
    /// The walks `req` needs: for TCP one, unless it asks for neither
    /// family; for the others (which `TCPDIAG_GETSOCK` does not serve) one
    /// per family, IPv4 first as netstat lists them.
    fn all(req: &Request) -> impl Iterator<Item = Walk> {
        let both = req.protocol == Protocol::Tcp && req.ipv4 && req.ipv6;
        let walks = [
            (both, Walk::Both),
            (!both && req.ipv4, Walk::Family(AF_INET)),
            (!both && req.ipv6, Walk::Family(AF_INET6)),
        ];
        walks
            .into_iter()
            .filter(|(wanted, _)| *wanted)
            .map(|(_, w)| w)
    }

    fn request(self, req: &Request, seq: u32) -> Result<Vec<u8>> {
        match self {
            Walk::Both => both_families_request_bytes(req, seq),
            Walk::Family(family) => request_bytes(family, req, seq),
        }
    }

    /// The message type of the replies with a socket.
    fn reply_kind(self) -> u16 {
        match self {
            Walk::Both => TCPDIAG_GETSOCK,
            Walk::Family(_) => SOCK_DIAG_BY_FAMILY,
        }
    }
}

/// Runs one dump on a fresh socket (so an abandoned dump never blocks the
/// next), its datagrams received on a second thread (`receive`) while
/// this one parses them and lets `flush` take the rows. Returns false
/// when it must be started over.
fn dump_walk(
    walk: Walk,
    req: &Request,
    seq: u32,
    buffers: &mut receive::Buffers,
    rows: &mut Rows<'_, '_>,
) -> Result<bool> {
    let (sock, port) = open_socket()?;
    sock.send_to(&walk.request(req, seq)?, &NetlinkAddr::new(0, 0), 0)
        .map_err(|e| io_error("sending the dump request", &e))?;
    let expect = Expect {
        seq,
        port,
        kind: walk.reply_kind(),
    };
    let mut grow = None;
    let ended = receive::each_datagram(&sock, expect, buffers, |got| {
        let buf = match received(got, &mut grow) {
            Received::Walk(buf) => buf,
            Received::Skip => return None,
            Received::End(end) => return Some(end),
        };
        let start = rows.out.len();
        let progress = match rows.walk(buf, expect, req) {
            Ok(progress) => progress,
            Err(e) => return Some(Err(e)),
        };
        if req.protocol == Protocol::Raw {
            // raw_diag ignores the state mask: apply it here.
            retain_from(rows.out, start, |s| req.states.contains(s.state));
        }
        match progress {
            Progress::More => rows.settle(req, start).err().map(Err),
            Progress::Done => Some(rows.settle(req, start).map(|()| true)),
            Progress::Interrupted => Some(Ok(false)),
        }
    });
    walk_ended(ended, grow, buffers)
}

/// [`dump_walk`] for a TCP dump of both families split in two
/// ([`Split`]): the two dumps, each on a fresh socket, are received on
/// two threads, and this one parses, settles and flushes the datagrams
/// of both as they come. The second is requested once the first has sent
/// a socket that is not a listener, or has ended (at once when no
/// listeners are asked for). Returns false when they must be started over.
fn dump_walk_split(
    split: &Split,
    req: &Request,
    seq: u32,
    buffers: &mut receive::Buffers,
    rows: &mut Rows<'_, '_>,
) -> Result<bool> {
    let first_request = Request {
        bytecode: Some(split.first.clone()),
        split: None,
        ..req.clone()
    };
    let second_request = Request {
        states: req.states.without(StateSet::listening()),
        bytecode: Some(split.second.clone()),
        ..first_request.clone()
    };
    let (first, first_port) = open_socket()?;
    let (second, second_port) = open_socket()?;
    let second_bytes = Walk::Both.request(&second_request, seq)?;
    first
        .send_to(
            &Walk::Both.request(&first_request, seq)?,
            &NetlinkAddr::new(0, 0),
            0,
        )
        .map_err(|e| io_error("sending the dump request", &e))?;
    let expect = |port| Expect {
        seq,
        port,
        kind: TCPDIAG_GETSOCK,
    };
    let expects = [expect(first_port), expect(second_port)];
    let start_now = !req.states.contains(TcpState::Listen);
    let send_second = || {
        second
            .send_to(&second_bytes, &NetlinkAddr::new(0, 0), 0)
            .map(|_| ())
    };
    let mut done = [false; 2];
    let mut grow = None;
    let socks = [(&first, expects[0]), (&second, expects[1])];
    let ended =
        receive::each_datagram_of_two(socks, send_second, start_now, buffers, |tag, got| {
            let buf = match received(got, &mut grow) {
                Received::Walk(buf) => buf,
                Received::Skip => return Flow::More,
                Received::End(end) => return Flow::Stop(end),
            };
            let start = rows.out.len();
            let progress = match rows.walk(buf, expects[tag], req) {
                Ok(progress) => progress,
                Err(e) => return Flow::Stop(Err(e)),
            };
            // The kernel sends a walk's listeners before its other sockets.
            let past_listeners = tag == 0
                && (progress == Progress::Done
                    || rows.out[start..]
                        .iter()
                        .any(|s| s.state != TcpState::Listen));
            if progress == Progress::Interrupted {
                return Flow::Stop(Ok(false));
            }
            if let Err(e) = rows.settle(req, start) {
                return Flow::Stop(Err(e));
            }
            if progress == Progress::Done {
                done[tag] = true;
                if done == [true, true] {
                    return Flow::Stop(Ok(true));
                }
            }
            match past_listeners {
                true => Flow::StartSecond,
                false => Flow::More,
            }
        });
    walk_ended(ended, grow, buffers)
}

/// How a walk ended: what its last datagram said, `None` when the
/// datagrams stopped without one saying; the buffers grown first when one
/// was cut short (`grow`).
fn walk_ended(
    ended: Option<Result<bool>>,
    grow: Option<usize>,
    buffers: &mut receive::Buffers,
) -> Result<bool> {
    if let Some(len) = grow {
        buffers.grow(len);
    }
    ended.unwrap_or_else(|| {
        Err(Error::runtime(
            "netlink sock_diag: the dump ended without its last message",
        ))
    })
}

/// What a received datagram is to its dump.
enum Received<'d> {
    /// The kernel's: walk these bytes.
    Walk(&'d [u8]),
    /// Another process's: not ours to read.
    Skip,
    /// The walk ends: an error, or `Ok(false)` to start it over.
    End(Result<bool>),
}

/// Checks a datagram as received (`got`): a socket that overran and lost
/// datagrams starts the dump over, and so does one whose tail was cut,
/// with `grow` set to a buffer that holds it.
fn received<'d>(got: io::Result<&'d receive::Datagram>, grow: &mut Option<usize>) -> Received<'d> {
    let datagram = match got {
        Ok(datagram) => datagram,
        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Received::End(Ok(false)),
        Err(e) => return Received::End(Err(io_error("receiving the dump", &e))),
    };
    let (len, buf) = (datagram.len, &datagram.bytes);
    if len == 0 {
        return Received::End(Err(Error::runtime("netlink sock_diag: empty datagram")));
    }
    if len > buf.len() {
        *grow = Some(len.max(buf.capacity() * 2).min(RECV_BUF_MAX));
        return Received::End(Ok(false));
    }
    match datagram.from_kernel {
        true => Received::Walk(buf),
        false => Received::Skip,
    }
}

/// Keeps the rows of `out` from `start` on for which `keep` holds.
fn retain_from(out: &mut Vec<Socket>, start: usize, keep: impl Fn(&Socket) -> bool) {
    let mut at = start;
    for i in start..out.len() {
        if keep(&out[i]) {
            out.swap(at, i);
            at += 1;
        }
    }
    out.truncate(at);
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
    /// The type of the messages that carry a socket.
    kind: u16,
}

/// Where a dump stands after one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    More,
    Done,
    Interrupted,
}

/// Walks the netlink messages of one datagram, pushing parsed sockets.
fn walk_datagram(
    datagram: &[u8],
    expect: Expect,
    extras: Extras,
    out: &mut Vec<Socket>,
    skipped: &mut usize,
) -> Result<Progress> {
    walk_messages(datagram, expect, |payload| {
        match parse_inet_diag_with(payload, extras) {
            Ok(socket) => out.push(socket),
            Err(_) => *skipped += 1,
        }
    })
}

/// Where one datagram leaves the dump, read from its headers alone: the
/// receiving thread stops exactly where [`walk_datagram`] ends the dump.
fn headers_progress(datagram: &[u8], expect: Expect) -> Result<Progress> {
    walk_messages(datagram, expect, |_| {})
}

/// Walks the netlink messages of one datagram, handing each socket's
/// payload to `socket`, and says where the dump stands after it.
fn walk_messages(
    datagram: &[u8],
    expect: Expect,
    mut socket: impl FnMut(&[u8]),
) -> Result<Progress> {
    for message in messages(datagram) {
        let Ok((hdr, payload)) = message else {
            // Framing is lost; the rest of the dump cannot be trusted.
            return Err(Error::runtime(
                "netlink sock_diag: malformed message header",
            ));
        };
        if hdr.seq != expect.seq || hdr.port != expect.port {
            continue; // a reply to some other request
        }
        if hdr.flags & NLM_F_DUMP_INTR != 0 || hdr.kind == NLMSG_OVERRUN {
            return Ok(Progress::Interrupted);
        }
        match hdr.kind {
            kind if kind == expect.kind => socket(payload),
            NLMSG_DONE => return status(payload).map(|()| Progress::Done),
            NLMSG_ERROR => status(payload)?, // 0 is an acknowledgement
            _ => {}                          // NLMSG_NOOP and the like
        }
    }
    Ok(Progress::More)
}

/// Walks one dump datagram as a dump does, expecting the sequence number
/// and port id of its first message: for the fuzz target.
pub(crate) fn walk_datagram_for_fuzzing(datagram: &[u8]) {
    let expect = match messages(datagram).next() {
        Some(Ok((hdr, _))) => Expect {
            seq: hdr.seq,
            port: hdr.port,
            kind: SOCK_DIAG_BY_FAMILY,
        },
        _ => Expect {
            seq: 0,
            port: 0,
            kind: SOCK_DIAG_BY_FAMILY,
        },
    };
    let (mut out, mut skipped) = (Vec::new(), 0);
    let raw = Extras {
        protocol: Protocol::Raw,
        ..Extras::default()
    };
    for extras in [Extras::default(), Extras::ALL, raw] {
        let start = out.len();
        let _ = walk_datagram(datagram, expect, extras, &mut out, &mut skipped);
        assert!(out[start..].iter().all(|s| s.protocol == extras.protocol));
        retain_from(&mut out, start, |s| {
            s.state == crate::model::TcpState::Close
        });
    }
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
    Err(Error::runtime(format!("{DUMP_REFUSED}{}", os_text(&errno))))
}

/// How an error reply of the kernel to a dump request begins.
const DUMP_REFUSED: &str = "netlink sock_diag dump failed: ";

/// True when `e` is the kernel's error reply to the request (as for a
/// bytecode it does not accept), not a failure to reach it at all (a
/// socket that cannot be opened, say).
pub fn kernel_refused(e: &Error) -> bool {
    e.to_string().starts_with(DUMP_REFUSED)
}

#[cfg(test)]
mod tests {
    use super::inet_diag::fixtures::{tcp_info, Row};
    use super::wire::fixtures::{attr, nlmsg};
    use super::*;
    use crate::model::{Endpoint, Family, TcpState, Timer};
    use crate::test_support::XorShift;

    #[test]
    fn no_panic_on_truncated_or_random_input() {
        let valid = Row {
            state: 10,
            timer: 2,
            ..Row::v4()
        }
        .with(&[
            attr(8, &[1]), // INET_DIAG_SHUTDOWN
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
            let expect = Expect {
                seq: 1,
                port: 1,
                kind: SOCK_DIAG_BY_FAMILY,
            };
            let _ = walk_datagram(&bytes, expect, Extras::ALL, &mut out, &mut skipped);
        }
    }

    const EXPECT: Expect = Expect {
        seq: 7,
        port: 4242,
        kind: SOCK_DIAG_BY_FAMILY,
    };

    fn walk(datagram: &[u8]) -> (Result<Progress>, Vec<Socket>, usize) {
        let (mut out, mut skipped) = (Vec::new(), 0);
        let progress = walk_datagram(datagram, EXPECT, Extras::default(), &mut out, &mut skipped);
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
        let refused = progress.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "netlink sock_diag dump failed: Operation not permitted"
        );
        // The kernel's answer, which a dump without bytecode may avoid;
        // not a socket that could not be opened.
        assert!(kernel_refused(&refused));
        assert!(!kernel_refused(&io_error(
            "opening the socket",
            &io::Error::from_raw_os_error(libc::EAFNOSUPPORT)
        )));

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

    /// The receiving thread stops after a datagram exactly when the dump's
    /// thread ends the dump there: otherwise it would wait in `recv` for
    /// a datagram that never comes, or stop while one is still wanted.
    #[test]
    fn headers_alone_end_the_dump_where_walking_does() {
        let mut err = (-libc::EPERM).to_ne_bytes().to_vec();
        err.extend([0; 16]);
        let ack = [0u8; 20];
        let rows = nlmsg(SOCK_DIAG_BY_FAMILY, 2, 7, 4242, &Row::v4().bytes());
        let messages = [
            rows.clone(),
            nlmsg(SOCK_DIAG_BY_FAMILY, 2, 7, 4242, &[1, 2, 3]),
            nlmsg(SOCK_DIAG_BY_FAMILY, 2, 8, 4242, &Row::v4().bytes()),
            nlmsg(NLMSG_DONE, 2, 7, 4242, &0i32.to_ne_bytes()),
            nlmsg(NLMSG_DONE, 2, 8, 4242, &0i32.to_ne_bytes()),
            nlmsg(NLMSG_DONE, 2, 7, 4242, &(-4i32).to_ne_bytes()),
            nlmsg(NLMSG_ERROR, 0, 7, 4242, &err),
            nlmsg(NLMSG_ERROR, 0, 7, 4242, &ack),
            nlmsg(NLMSG_OVERRUN, 0, 7, 4242, &[]),
            nlmsg(
                SOCK_DIAG_BY_FAMILY,
                2 | NLM_F_DUMP_INTR,
                7,
                4242,
                &Row::v4().bytes(),
            ),
        ];
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let (mut seen_more, mut seen_done, mut seen_err) = (false, false, false);
        for _ in 0..5_000 {
            let mut d = Vec::new();
            for _ in 0..=rng.next() % 4 {
                d.extend(&messages[(rng.next() % messages.len() as u64) as usize]);
            }
            if rng.next().is_multiple_of(4) {
                let at = (rng.next() % d.len() as u64) as usize;
                d[at] = rng.next() as u8;
            }
            let walked = walk(&d).0;
            let headers = headers_progress(&d, EXPECT);
            assert_eq!(headers.as_ref().ok(), walked.as_ref().ok(), "{d:?}");
            assert_eq!(headers.is_err(), walked.is_err(), "{d:?}");
            seen_more |= matches!(walked, Ok(Progress::More));
            seen_done |= matches!(walked, Ok(Progress::Done));
            seen_err |= walked.is_err();
        }
        assert!(seen_more && seen_done && seen_err);
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
            netns: 0,
            timer: Timer::OFF,
            shutdown: None,
            info: None,
            memory: None,
            diag_id: None,
            backlog: None,
            protocol: crate::model::Protocol::Tcp,
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
}
