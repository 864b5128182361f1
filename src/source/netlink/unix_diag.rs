//! unix_diag: the unix sockets of the namespace over `NETLINK_SOCK_DIAG`,
//! as `ss -x` asks for them (`misc/ss.c`, `unix_show_netlink`): every
//! state, with the name, the peer, the queues, and a listener's pending
//! connections (`UDIAG_SHOW_NAME | PEER | RQLEN | ICONS`).
//!
//! The kernel's dump (`unix_diag_dump`) leaves out sockets without an
//! inode: a connection a listener has not accepted yet, which
//! `/proc/net/unix` lists (CONNECTING, inode 0, the listener's path). Its
//! listener names it by its peer in `UNIX_DIAG_ICONS`, so those rows are
//! made here from that list, one per pending connection, as the kernel
//! would have shown them. What unix_diag does not carry at all is the
//! reference count (`RefCnt`); the table reads it from `/proc/net/unix`.

use std::io;

use netlink_packet_core::{NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, NLM_F_DUMP_INTR};
use netlink_packet_sock_diag::SOCK_DIAG_BY_FAMILY;
use netlink_sys::SocketAddr as NetlinkAddr;

use super::wire::{attributes, messages, request_header};
use super::{io_error, open_socket, status, DumpStats, MAX_RESTARTS, RECV_BUF_LEN, RECV_BUF_MAX};
use crate::error::{Error, Result};
use crate::model::unix::{UnixName, UnixSocket, UnixState, UnixType, SO_ACCEPTCON};

const AF_UNIX: u8 = 1;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_FLAGS: u16 = 0x1 | 0x300;
/// Size of `struct unix_diag_req`.
const REQ_LEN: usize = 24;
/// Size of `struct unix_diag_msg`.
const MSG_LEN: usize = 16;

const UDIAG_SHOW_NAME: u32 = 0x01;
const UDIAG_SHOW_PEER: u32 = 0x04;
const UDIAG_SHOW_ICONS: u32 = 0x08;
const UDIAG_SHOW_RQLEN: u32 = 0x10;

const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_ICONS: u16 = 3;
const UNIX_DIAG_RQLEN: u16 = 4;

/// `TCP_LISTEN`, the `sk_state` of a listener.
const TCP_LISTEN: u8 = 10;
/// Longest address: `sizeof(sun_path)`.
const MAX_NAME: usize = 108;

/// The dump request: every state, the attributes above.
pub(crate) fn request_bytes(seq: u32) -> Vec<u8> {
    let mut msg = request_header(16 + REQ_LEN, SOCK_DIAG_BY_FAMILY, DUMP_FLAGS, seq);
    msg.extend([AF_UNIX, 0, 0, 0]);
    msg.extend(u32::MAX.to_ne_bytes()); // udiag_states: all
    msg.extend(0u32.to_ne_bytes()); // udiag_ino
    let show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN;
    msg.extend(show.to_ne_bytes());
    msg.extend([0xff; 8]); // udiag_cookie: none
    msg
}

/// Why a message was not read as a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than `struct unix_diag_msg`.
    Short,
    /// Not AF_UNIX.
    Family,
    /// An attribute's length is wrong, or a value has the wrong size.
    Attribute,
}

/// One `unix_diag_msg` with its attributes.
pub fn parse_unix_diag(payload: &[u8]) -> std::result::Result<UnixSocket, ParseError> {
    let head: &[u8; MSG_LEN] = payload
        .get(..MSG_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(ParseError::Short)?;
    if head[0] != AF_UNIX {
        return Err(ParseError::Family);
    }
    let inode = u64::from(u32::from_ne_bytes([head[4], head[5], head[6], head[7]]));
    let sk_state = head[2];
    let mut s = UnixSocket {
        kind: UnixType::from_kernel(head[1].into()),
        state: UnixState::from_diag(sk_state, inode != 0),
        flags: if sk_state == TCP_LISTEN {
            SO_ACCEPTCON
        } else {
            0
        },
        refcnt: None,
        inode,
        peer: Some(0),
        name: None,
        queues: None,
        pending: Vec::new(),
    };
    for attr in attributes(&payload[MSG_LEN..]) {
        let (kind, value) = attr.map_err(|_| ParseError::Attribute)?;
        match kind {
            UNIX_DIAG_NAME if !value.is_empty() && value.len() <= MAX_NAME => {
                s.name = Some(UnixName(name_of(value).into()));
            }
            UNIX_DIAG_PEER => s.peer = Some(u32_at(value, 0)?.into()),
            UNIX_DIAG_RQLEN => s.queues = Some((u32_at(value, 0)?, u32_at(value, 4)?)),
            UNIX_DIAG_ICONS => {
                let inodes = value.chunks_exact(4);
                if !inodes.remainder().is_empty() {
                    return Err(ParseError::Attribute);
                }
                s.pending = inodes
                    .map(|c| u64::from(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                    .collect();
            }
            UNIX_DIAG_NAME => return Err(ParseError::Attribute),
            _ => {}
        }
    }
    Ok(s)
}

/// The address in `UNIX_DIAG_NAME`: an abstract name whole; a path up
/// to its terminating NUL, which the kernel counts in the address's
/// length and `/proc/net/unix` leaves out.
fn name_of(value: &[u8]) -> &[u8] {
    match value.iter().position(|&b| b == 0) {
        Some(0) | None => value,
        Some(end) => &value[..end],
    }
}

fn u32_at(value: &[u8], at: usize) -> std::result::Result<u32, ParseError> {
    let b = value.get(at..at + 4).ok_or(ParseError::Attribute)?;
    Ok(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// The rows `/proc/net/unix` shows for a listener's connections not yet
/// accepted: CONNECTING, no inode, the listener's type and address, one
/// per pending peer.
fn pending_rows(listener: &UnixSocket) -> impl Iterator<Item = UnixSocket> + '_ {
    listener.pending.iter().map(|&peer| UnixSocket {
        kind: listener.kind,
        state: UnixState::Connecting,
        flags: 0,
        refcnt: None,
        inode: 0,
        peer: Some(peer),
        name: listener.name.clone(),
        queues: None,
        pending: Vec::new(),
    })
}

/// Dumps every unix socket of the namespace into `out` (cleared first),
/// each listener followed by its connections not yet accepted. A dump the
/// kernel interrupts is started over, up to a bound.
pub fn dump(out: &mut Vec<UnixSocket>) -> Result<DumpStats> {
    let mut stats = DumpStats::default();
    let mut buf = Vec::with_capacity(RECV_BUF_LEN);
    let mut seq = 0u32;
    loop {
        out.clear();
        stats.skipped = 0;
        seq = seq.wrapping_add(1);
        if dump_once(seq, &mut buf, out, &mut stats.skipped)? {
            return Ok(stats);
        }
        stats.restarts += 1;
        if stats.restarts > MAX_RESTARTS {
            return Err(Error::runtime(format!(
                "netlink unix_diag dump interrupted {} times, giving up",
                stats.restarts
            )));
        }
    }
}

/// One dump on a fresh socket; false when it must be started over.
fn dump_once(
    seq: u32,
    buf: &mut Vec<u8>,
    out: &mut Vec<UnixSocket>,
    skipped: &mut usize,
) -> Result<bool> {
    let (sock, port) = open_socket()?;
    sock.send_to(&request_bytes(seq), &NetlinkAddr::new(0, 0), 0)
        .map_err(|e| io_error("sending the unix_diag request", &e))?;
    loop {
        buf.clear();
        let (len, from) = match sock.recv_from(buf, libc::MSG_TRUNC) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(false),
            Err(e) => return Err(io_error("receiving the unix_diag dump", &e)),
        };
        if len == 0 {
            return Err(Error::runtime("netlink unix_diag: empty datagram"));
        }
        if len > buf.len() {
            let want = len.max(buf.capacity() * 2).min(RECV_BUF_MAX);
            buf.reserve(want.saturating_sub(buf.len()));
            return Ok(false);
        }
        if from.port_number() != 0 {
            continue;
        }
        if let Some(done) = walk_datagram(buf, seq, port, out, skipped)? {
            return Ok(done);
        }
    }
}

/// Reads one datagram's messages into `out`: `Some(true)` at the end of
/// the dump, `Some(false)` when it was interrupted, `None` for more.
pub(crate) fn walk_datagram(
    datagram: &[u8],
    seq: u32,
    port: u32,
    out: &mut Vec<UnixSocket>,
    skipped: &mut usize,
) -> Result<Option<bool>> {
    for message in messages(datagram) {
        let Ok((hdr, payload)) = message else {
            return Err(Error::runtime(
                "netlink unix_diag: malformed message header",
            ));
        };
        if hdr.seq != seq || hdr.port != port {
            continue;
        }
        if hdr.flags & NLM_F_DUMP_INTR != 0 || hdr.kind == NLMSG_OVERRUN {
            return Ok(Some(false));
        }
        match hdr.kind {
            SOCK_DIAG_BY_FAMILY => match parse_unix_diag(payload) {
                Ok(s) => {
                    let at = out.len();
                    out.push(s);
                    let embryos: Vec<_> = pending_rows(&out[at]).collect();
                    out.extend(embryos);
                }
                Err(_) => *skipped += 1,
            },
            NLMSG_DONE => return status(payload).map(|()| Some(true)),
            NLMSG_ERROR => status(payload)?,
            _ => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::wire::fixtures::{attr, nlmsg};
    use super::*;

    fn message(kind: u8, state: u8, inode: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut m = vec![AF_UNIX, kind, state, 0];
        m.extend(inode.to_ne_bytes());
        m.extend([0; 8]);
        for a in attrs {
            m.extend(a);
        }
        m
    }

    fn pair(a: u32, b: u32) -> Vec<u8> {
        let mut v = a.to_ne_bytes().to_vec();
        v.extend(b.to_ne_bytes());
        v
    }

    #[test]
    fn a_listener_its_pending_connections_and_a_connected_socket() {
        let listener = message(
            1,
            TCP_LISTEN,
            77,
            &[
                attr(UNIX_DIAG_NAME, b"/run/a b\n\xff\0"),
                attr(UNIX_DIAG_PEER, &0u32.to_ne_bytes()),
                attr(UNIX_DIAG_ICONS, &pair(90, 91)),
                attr(UNIX_DIAG_RQLEN, &pair(2, 128)),
            ],
        );
        let connected = message(2, 1, 80, &[attr(UNIX_DIAG_PEER, &81u32.to_ne_bytes())]);
        let mut d = nlmsg(SOCK_DIAG_BY_FAMILY, 2, 5, 9, &listener);
        d.extend(nlmsg(SOCK_DIAG_BY_FAMILY, 2, 5, 9, &connected));
        d.extend(nlmsg(NLMSG_DONE, 2, 5, 9, &0i32.to_ne_bytes()));
        let (mut out, mut skipped) = (Vec::new(), 0);
        assert_eq!(
            walk_datagram(&d, 5, 9, &mut out, &mut skipped).unwrap(),
            Some(true)
        );
        assert_eq!(out.len(), 4);
        assert!(out[0].is_listening());
        assert_eq!(out[0].queues, Some((2, 128)));
        assert_eq!(out[0].name.as_ref().unwrap().0[..], b"/run/a b\n\xff"[..]);
        for (embryo, peer) in out[1..3].iter().zip([90, 91]) {
            assert_eq!(embryo.state_name(), "CONNECTING");
            assert_eq!((embryo.inode, embryo.peer), (0, Some(peer)));
            assert_eq!(embryo.name, out[0].name);
        }
        assert_eq!(out[3].kind, UnixType::Dgram);
        assert_eq!((out[3].state_name(), out[3].peer), ("CONNECTED", Some(81)));
    }

    #[test]
    fn bad_messages_are_refused_not_misread() {
        assert_eq!(parse_unix_diag(&[1, 2, 3]), Err(ParseError::Short));
        let mut inet = message(1, 1, 1, &[]);
        inet[0] = 2;
        assert_eq!(parse_unix_diag(&inet), Err(ParseError::Family));
        let bad = [
            attr(UNIX_DIAG_PEER, &[1, 2]),
            attr(UNIX_DIAG_ICONS, &[1, 2, 3, 4, 5]),
            attr(UNIX_DIAG_NAME, &[b'x'; 109]),
        ];
        for a in bad {
            assert_eq!(
                parse_unix_diag(&message(1, 1, 1, &[a])),
                Err(ParseError::Attribute)
            );
        }
        let whole = message(1, 1, 1, &[attr(UNIX_DIAG_RQLEN, &pair(1, 2))]);
        for cut in 0..whole.len() {
            let _ = parse_unix_diag(&whole[..cut]);
        }
    }

    #[test]
    fn the_request_asks_ss_s_attributes_for_every_state() {
        let req = request_bytes(3);
        assert_eq!(req.len(), 40);
        assert_eq!(req[..4], 40u32.to_ne_bytes());
        assert_eq!(req[16], AF_UNIX);
        assert_eq!(req[20..24], u32::MAX.to_ne_bytes());
        assert_eq!(req[28..32], 0x1du32.to_ne_bytes());
    }
}
