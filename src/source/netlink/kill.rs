//! SOCK_DESTROY: asking the kernel to close one socket it dumped.
//!
//! The request is an `inet_diag_req_v2` naming the exact socket: family,
//! protocol, both ends, the interface and the cookie from the dump
//! ([`DiagId`]). The kernel looks it up as an arriving packet would
//! (`inet_diag_find_one_icsk`), checks the cookie, checks CAP_NET_ADMIN
//! in the socket's namespace (`sock_diag_destroy`) and calls the
//! protocol's `diag_destroy`, `tcp_abort`. On the kernels this was written
//! against (6.x), `tcp_abort` aborts every TCP state: a full socket gets
//! ECONNABORTED and sends a reset where its state calls for one; a request
//! socket is dropped from its listener's queue; a TIME_WAIT socket is
//! descheduled (older kernels answer EOPNOTSUPP for it); a listener is
//! stopped and its accept queue reset.
//!
//! Each request asks for an acknowledgement, which carries the errno;
//! `read_ack` reads it from the received bytes, bounded by what arrived.

use std::io;

use netlink_packet_core::{NLMSG_ERROR, NLM_F_ACK, NLM_F_REQUEST};
use netlink_packet_sock_diag::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_sys::SocketAddr as NetlinkAddr;

use super::wire::{messages, request_header, Framing, NLMSG_HDRLEN};
use super::{io_error, open_socket};
use crate::error::{Error, Result};
use crate::model::kill::KillOutcome;
use crate::model::{DiagId, Family, Socket};

/// The sock_diag message type that closes a socket (`SOCK_DESTROY`).
pub(crate) const SOCK_DESTROY: u16 = 21;
/// Size of `struct inet_diag_req_v2`.
const INET_DIAG_REQ_V2_LEN: usize = 56;
/// Room for one acknowledgement: the error header and the request it
/// echoes, with space to spare for several in one datagram.
const ACK_BUF_LEN: usize = 8 << 10;

/// A sock_diag socket that sends SOCK_DESTROY requests, one at a time.
pub struct Destroyer {
    sock: netlink_sys::Socket,
    port: u32,
    seq: u32,
    buf: Vec<u8>,
}

impl Destroyer {
    /// Opens the socket, in the network namespace of the calling thread:
    /// the one whose sockets it can close.
    pub fn open() -> Result<Destroyer> {
        let (sock, port) = open_socket()?;
        Ok(Destroyer {
            sock,
            port,
            seq: 0,
            buf: Vec::with_capacity(ACK_BUF_LEN),
        })
    }

    /// Asks the kernel to close `s`, which must come from a netlink dump
    /// (it carries the cookie), and returns what the kernel answered.
    pub fn destroy(&mut self, s: &Socket) -> Result<KillOutcome> {
        let id = s.diag_id.ok_or_else(|| {
            Error::runtime("netlink sock_diag: a socket without its cookie cannot be closed")
        })?;
        self.seq = self.seq.wrapping_add(1);
        let request = request_bytes(s, id, self.seq);
        self.sock
            .send_to(&request, &NetlinkAddr::new(0, 0), 0)
            .map_err(|e| io_error("sending SOCK_DESTROY", &e))?;
        loop {
            self.buf.clear();
            let (len, from) = match self.sock.recv_from(&mut self.buf, libc::MSG_TRUNC) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error("receiving the SOCK_DESTROY answer", &e)),
            };
            if from.port_number() != 0 {
                continue; // not from the kernel
            }
            // A truncated datagram still holds the errno at its start.
            let got = &self.buf[..len.min(self.buf.len())];
            match read_ack(got, self.seq, self.port) {
                Ok(Some(errno)) => return Ok(KillOutcome::of_errno(errno)),
                Ok(None) => {}
                Err(_) => {
                    return Err(Error::runtime(
                        "netlink sock_diag: malformed answer to SOCK_DESTROY",
                    ))
                }
            }
        }
    }
}

/// The SOCK_DESTROY request for `s`: a netlink header asking for an
/// acknowledgement, then `inet_diag_req_v2` with the socket's id.
pub(crate) fn request_bytes(s: &Socket, id: DiagId, seq: u32) -> Vec<u8> {
    let total = NLMSG_HDRLEN + INET_DIAG_REQ_V2_LEN;
    let mut b = request_header(total, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, seq);
    let family = match s.family {
        Family::Inet => AF_INET,
        Family::Inet6 => AF_INET6,
    };
    // family, protocol, extensions, pad; a state mask the lookup ignores.
    b.extend([family, IPPROTO_TCP, 0, 0]);
    b.extend(u32::MAX.to_ne_bytes());
    b.extend(s.local.port.to_be_bytes());
    b.extend(s.remote.port.to_be_bytes());
    push_address(&mut b, s.local.addr);
    push_address(&mut b, s.remote.addr);
    b.extend(id.interface.to_ne_bytes());
    b.extend((id.cookie as u32).to_ne_bytes());
    b.extend(((id.cookie >> 32) as u32).to_ne_bytes());
    b
}

/// An address in `idiag_src`/`idiag_dst`'s 16 bytes: IPv4 in the first 4.
fn push_address(b: &mut Vec<u8>, addr: std::net::IpAddr) {
    let mut field = [0u8; 16];
    match addr {
        std::net::IpAddr::V4(v4) => field[..4].copy_from_slice(&v4.octets()),
        std::net::IpAddr::V6(v6) => field = v6.octets(),
    }
    b.extend(field);
}

/// The errno of the acknowledgement to request `seq` from port `port` in
/// one datagram (0 for success), or `None` when the datagram holds none.
/// Only what arrived is read: a length that runs past it is an `Err`.
pub(crate) fn read_ack(datagram: &[u8], seq: u32, port: u32) -> Result<Option<i32>, Framing> {
    for message in messages(datagram) {
        let (hdr, payload) = message?;
        if hdr.kind != NLMSG_ERROR || hdr.seq != seq || hdr.port != port {
            continue;
        }
        let code: [u8; 4] = payload
            .get(..4)
            .and_then(|c| c.try_into().ok())
            .ok_or(Framing::Length)?;
        return Ok(Some(i32::from_ne_bytes(code).saturating_neg().max(0)));
    }
    Ok(None)
}

/// Reads a datagram as [`Destroyer::destroy`] reads an answer, for the
/// fuzz target: with the sequence number and port of its first message.
pub(crate) fn read_ack_for_fuzzing(datagram: &[u8]) {
    let (seq, port) = match messages(datagram).next() {
        Some(Ok((hdr, _))) => (hdr.seq, hdr.port),
        _ => (0, 0),
    };
    if let Ok(Some(errno)) = read_ack(datagram, seq, port) {
        assert!(errno >= 0);
        let _ = KillOutcome::of_errno(errno);
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::fixtures::nlmsg;
    use super::*;
    use crate::model::kill::KillResult;
    use crate::test_support::sock;

    #[test]
    fn request_names_the_exact_socket() {
        use crate::model::TcpState::Established;
        let s = sock(Established, "10.0.0.1:5000", "10.0.0.2:80");
        let id = DiagId {
            interface: 7,
            cookie: 0x1122_3344_5566_7788,
        };
        let b = request_bytes(&s, id, 9);
        assert_eq!(b.len(), 72);
        assert_eq!(b[..4], 72u32.to_ne_bytes());
        assert_eq!(b[4..6], SOCK_DESTROY.to_ne_bytes());
        assert_eq!(b[6..8], 5u16.to_ne_bytes()); // REQUEST | ACK
        assert_eq!(b[8..12], 9u32.to_ne_bytes());
        assert_eq!(b[16..18], [AF_INET, IPPROTO_TCP]);
        assert_eq!(b[24..28], [0x13, 0x88, 0, 80]); // ports, big-endian
        assert_eq!(b[28..32], [10, 0, 0, 1]);
        assert_eq!(b[32..44], [0; 12]);
        assert_eq!(b[44..48], [10, 0, 0, 2]);
        assert_eq!(b[60..64], 7u32.to_ne_bytes());
        assert_eq!(b[64..68], 0x5566_7788u32.to_ne_bytes());
        assert_eq!(b[68..72], 0x1122_3344u32.to_ne_bytes());
    }

    fn ack(errno: i32, seq: u32) -> Vec<u8> {
        let mut payload = (-errno).to_ne_bytes().to_vec();
        payload.extend([0; 16]); // the echoed header (NETLINK_CAP_ACK)
        nlmsg(NLMSG_ERROR, 0, seq, 42, &payload)
    }

    #[test]
    fn acks_are_matched_by_sequence_and_port() {
        assert_eq!(read_ack(&ack(0, 3), 3, 42), Ok(Some(0)));
        assert_eq!(
            read_ack(&ack(libc::ENOENT, 3), 3, 42),
            Ok(Some(libc::ENOENT))
        );
        assert_eq!(read_ack(&ack(libc::EPERM, 3), 4, 42), Ok(None));
        assert_eq!(read_ack(&ack(libc::EPERM, 3), 3, 41), Ok(None));
        let mut two = ack(libc::EPERM, 2);
        two.extend(ack(libc::EOPNOTSUPP, 3));
        let errno = read_ack(&two, 3, 42).unwrap().unwrap();
        assert_eq!(
            KillOutcome::of_errno(errno).result,
            KillResult::NotSupported
        );
    }

    #[test]
    fn short_or_lying_acks_are_errors() {
        let whole = ack(libc::EPERM, 3);
        for cut in 1..NLMSG_HDRLEN + 4 {
            assert!(read_ack(&whole[..cut], 3, 42).is_err(), "cut at {cut}");
        }
        let mut lying = whole.clone();
        lying[0] = 200;
        assert_eq!(read_ack(&lying, 3, 42), Err(Framing::Length));
        // A positive code is no errno: read as success, never negative.
        assert_eq!(read_ack(&ack(-5, 3), 3, 42), Ok(Some(0)));
    }
}
