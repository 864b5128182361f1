//! The kernel's socket-destroy notifications: the sock_diag multicast groups
//! `SKNLGRP_INET_TCP_DESTROY` and `SKNLGRP_INET6_TCP_DESTROY`, on which the
//! kernel describes each full TCP socket of this network namespace as it
//! frees it, with its final `tcp_info`.
//!
//! Watch mode polls, and a connection that opens and closes between two
//! polls never shows up in a dump; these notifications still report it.
//! Any user may join (the kernel lets unprivileged sockets receive
//! sock_diag multicast, as it lets them dump). What the kernel sends
//! (`inet_diag_handler_get_info`) is an `inet_diag_msg` with the addresses,
//! the state (CLOSE by then) and the queues, but no inode, uid or timer,
//! followed by `INET_DIAG_PROTOCOL` and `INET_DIAG_INFO` attributes. Only
//! full sockets are reported: TIME_WAIT and request sockets are not.
//!
//! Processes may also *send* to our socket: netlink lets a process unicast
//! to another socket's port id when it holds CAP_NET_ADMIN over the network
//! namespace, which an unprivileged user has in a namespace of its own
//! (`unshare -Urn`) and a container's root has in the container's. Such a
//! datagram could describe connections that never existed, so only what
//! the kernel sent (sender port id 0, which no process's socket can have)
//! is read; the rest is dropped and counted.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::Socket as NetlinkSocket;

use netlink_packet_sock_diag::SOCK_DIAG_BY_FAMILY;

use super::netlink::inet_diag::{parse_inet_diag, INET_DIAG_INFO, INET_DIAG_MSG_LEN};
use super::netlink::wire::{attributes, messages, Framing};
use crate::model::Socket;

/// Multicast group of destroyed AF_INET TCP sockets (`enum sknetlink_groups`).
pub const SKNLGRP_INET_TCP_DESTROY: u32 = 1;
/// Multicast group of destroyed AF_INET6 TCP sockets.
pub const SKNLGRP_INET6_TCP_DESTROY: u32 = 3;

/// Offsets in `struct tcp_info` (include/uapi/linux/tcp.h): eight bytes of
/// `__u8` fields, 24 `__u32` (`tcpi_rto` … `tcpi_total_retrans`), then the
/// `__u64` pacing rates, `tcpi_bytes_acked` and `tcpi_bytes_received`
/// (kernel 4.1 and later; older kernels send a shorter struct).
const TCPI_BYTES_ACKED: usize = 120;
const TCPI_BYTES_RECEIVED: usize = 128;

/// One notification is one datagram of a few hundred bytes.
const RECV_BUF_LEN: usize = 16 << 10;
/// Receive buffer asked for, so that a burst (a process holding thousands
/// of connections exits) is queued rather than lost between two polls.
const SO_RCVBUF_LEN: libc::c_int = 8 << 20;

pub use crate::model::event::Destroyed;

/// What one [`DestroyListener::drain`] saw besides the sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainStats {
    /// Times the kernel reported that notifications were dropped because
    /// the receive buffer was full (ENOBUFS).
    pub overruns: usize,
    /// Notifications that could not be parsed, or did not fit `max`.
    pub skipped: usize,
    /// Datagrams dropped unread because a process sent them, not the
    /// kernel: forged notifications.
    pub forged: usize,
    /// The sender's port id of the last of them (often its pid), for -v.
    pub forged_from: Option<u32>,
}

/// A non-blocking sock_diag socket that has joined the destroy groups.
#[derive(Debug)]
pub struct DestroyListener {
    sock: NetlinkSocket,
    buf: Vec<u8>,
}

impl DestroyListener {
    /// Joins the destroy groups of the families asked, in the current
    /// network namespace. Needs no privilege.
    pub fn join(ipv4: bool, ipv6: bool) -> io::Result<DestroyListener> {
        let mut sock = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
        sock.bind_auto()?;
        sock.set_non_blocking(true)?;
        if !force_rcvbuf(&sock) {
            // Best effort: the default size works, it only holds less.
            let _ = sock.set_rx_buf_sz(SO_RCVBUF_LEN);
        }
        for (wanted, group) in [
            (ipv4, SKNLGRP_INET_TCP_DESTROY),
            (ipv6, SKNLGRP_INET6_TCP_DESTROY),
        ] {
            if wanted {
                sock.add_membership(group)?;
            }
        }
        Ok(DestroyListener {
            sock,
            buf: Vec::with_capacity(RECV_BUF_LEN),
        })
    }

    /// Appends every notification queued so far to `out`, keeping `out`
    /// at most `max` long (the rest are counted as skipped). Never blocks.
    pub fn drain(&mut self, out: &mut Vec<Destroyed>, max: usize) -> io::Result<DrainStats> {
        let mut stats = DrainStats::default();
        loop {
            self.buf.clear();
            match self.sock.recv_from(&mut self.buf, 0) {
                Ok((_, from)) if from.port_number() != 0 => {
                    stats.forged += 1;
                    stats.forged_from = Some(from.port_number());
                }
                Ok(_) => walk_datagram(&self.buf, out, max, &mut stats.skipped),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(stats),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => stats.overruns += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsRawFd for DestroyListener {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// SO_RCVBUFFORCE, which may exceed rmem_max; needs CAP_NET_ADMIN.
/// Returns false when it did not work (the buffer then stays at what
/// SO_RCVBUF could get).
fn force_rcvbuf(sock: &NetlinkSocket) -> bool {
    let force = libc::SO_RCVBUFFORCE;
    crate::sys::sock::set_int(sock, libc::SOL_SOCKET, force, SO_RCVBUF_LEN).is_ok()
}

/// Parses the netlink messages of one datagram, pushing what they describe.
pub(crate) fn walk_datagram(
    datagram: &[u8],
    out: &mut Vec<Destroyed>,
    max: usize,
    skipped: &mut usize,
) {
    for message in messages(datagram) {
        let (hdr, payload) = match message {
            Ok(message) => message,
            // Framing lost: drop the rest of this datagram.
            Err(Framing::Length) => {
                *skipped += 1;
                return;
            }
            // A tail too short for a header holds no notification to count.
            Err(Framing::ShortHeader) => return,
        };
        if hdr.kind == SOCK_DIAG_BY_FAMILY {
            match parse_destroyed(payload) {
                Some(d) if out.len() < max => out.push(d),
                _ => *skipped += 1,
            }
        }
    }
}

/// One notification's payload: the socket and its final byte counts.
pub fn parse_destroyed(payload: &[u8]) -> Option<Destroyed> {
    let socket = parse_inet_diag(payload, false).ok()?;
    let info = attribute(payload.get(INET_DIAG_MSG_LEN..)?, INET_DIAG_INFO);
    let read_u64 = |at: usize| {
        let bytes = info?.get(at..at + 8)?;
        Some(u64::from_ne_bytes(bytes.try_into().ok()?))
    };
    // tcp_disconnect zeroed the counters along with the addresses.
    let counted = !is_disconnected(&socket);
    Some(Destroyed {
        bytes_acked: read_u64(TCPI_BYTES_ACKED).filter(|_| counted),
        bytes_received: read_u64(TCPI_BYTES_RECEIVED).filter(|_| counted),
        socket,
    })
}

/// True for a destroyed socket whose connection `tcp_disconnect` tore down
/// (an abort: `SO_LINGER` 0, or a reset while unread data waited): the
/// kernel cleared its remote port, its local address unless bound, and its
/// byte counters before freeing it, so its notification no longer carries
/// its 4-tuple.
pub fn is_disconnected(socket: &Socket) -> bool {
    socket.remote.port == 0 && !socket.remote.addr.is_unspecified()
}

/// The value of the first attribute of type `kind`, if any and well formed.
fn attribute(list: &[u8], kind: u16) -> Option<&[u8]> {
    attributes(list)
        .map_while(Result::ok)
        .find_map(|(k, value)| (k == kind).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, TcpState, TimerKind};
    use crate::source::netlink::inet_diag::fixtures::Row;
    use crate::source::netlink::wire::fixtures::{attr, nlmsg};
    use std::net::{IpAddr, Ipv4Addr};

    /// An `inet_diag_msg` as a destroy notification carries it: CLOSE, no
    /// queues, uid, inode or timer.
    fn diag_msg(sport: u16, dport: u16) -> Vec<u8> {
        Row {
            state: 7,
            sport,
            dport,
            src: vec![127, 0, 0, 1],
            dst: vec![127, 0, 0, 2],
            rqueue: 0,
            wqueue: 0,
            uid: 0,
            inode: 0,
            ..Row::v4()
        }
        .bytes()
    }

    fn tcp_info(acked: u64, received: u64, len: usize) -> Vec<u8> {
        let mut info = vec![0u8; len];
        if len >= 136 {
            info[TCPI_BYTES_ACKED..][..8].copy_from_slice(&acked.to_ne_bytes());
            info[TCPI_BYTES_RECEIVED..][..8].copy_from_slice(&received.to_ne_bytes());
        }
        info
    }

    /// A notification as the kernel multicasts it: no flags, seq or port.
    fn notification(payload: &[u8]) -> Vec<u8> {
        nlmsg(SOCK_DIAG_BY_FAMILY, 0, 0, 0, payload)
    }

    #[test]
    fn notification_gives_socket_and_byte_counts() {
        let mut payload = diag_msg(40000, 80);
        payload.extend(attr(10, &[6])); // INET_DIAG_PROTOCOL
        payload.extend(attr(INET_DIAG_INFO, &tcp_info(1002, 301, 280)));
        let d = parse_destroyed(&payload).unwrap();
        assert_eq!((d.bytes_acked, d.bytes_received), (Some(1002), Some(301)));
        assert_eq!(d.socket.state, TcpState::Close);
        assert_eq!(d.socket.family, Family::Inet);
        assert_eq!((d.socket.local.port, d.socket.remote.port), (40000, 80));
        assert_eq!(
            d.socket.remote.addr,
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))
        );
        assert_eq!((d.socket.inode, d.socket.uid), (0, 0));
        assert_eq!(d.socket.timer.kind, TimerKind::Off);
    }

    #[test]
    fn an_aborted_connection_has_no_byte_counts() {
        // tcp_disconnect cleared the remote port and the counters.
        let mut payload = diag_msg(40000, 0);
        payload.extend(attr(INET_DIAG_INFO, &tcp_info(0, 0, 280)));
        let d = parse_destroyed(&payload).unwrap();
        assert!(is_disconnected(&d.socket));
        assert_eq!((d.bytes_acked, d.bytes_received), (None, None));
    }

    #[test]
    fn short_or_missing_tcp_info_means_unknown_counts() {
        let mut old_kernel = diag_msg(1, 2);
        old_kernel.extend(attr(INET_DIAG_INFO, &tcp_info(0, 0, 104)));
        let d = parse_destroyed(&old_kernel).unwrap();
        assert_eq!((d.bytes_acked, d.bytes_received), (None, None));
        let d = parse_destroyed(&diag_msg(1, 2)).unwrap();
        assert_eq!((d.bytes_acked, d.bytes_received), (None, None));
        assert!(parse_destroyed(&[0; 10]).is_none());
    }

    #[test]
    fn datagrams_from_a_process_are_dropped_unread() {
        // Sending to another socket's port id takes CAP_NET_ADMIN;
        // tests/trust.rs forges as an unprivileged user in a namespace.
        if !crate::sys::user::is_root() {
            eprintln!("skipped: needs root (sends to another netlink socket)");
            return;
        }
        let mut listener = DestroyListener::join(true, true).unwrap();
        let mut port = netlink_sys::SocketAddr::new(0, 0);
        listener.sock.get_address(&mut port).unwrap();
        let mut forger = NetlinkSocket::new(NETLINK_SOCK_DIAG).unwrap();
        let forger_port = forger.bind_auto().unwrap().port_number();
        let mut payload = diag_msg(40000, 80);
        payload.extend(attr(INET_DIAG_INFO, &tcp_info(1, 2, 144)));
        let datagram = notification(&payload);
        assert!(parse_destroyed(&payload).is_some(), "well formed");
        for _ in 0..2 {
            forger.send_to(&datagram, &port, 0).unwrap();
        }
        let mut out = Vec::new();
        let stats = listener.drain(&mut out, 10).unwrap();
        assert!(out.is_empty(), "{out:?}");
        assert_eq!((stats.forged, stats.forged_from), (2, Some(forger_port)));
        assert_eq!(stats.skipped, 0);
    }

    #[test]
    fn datagram_walk_bounds_and_skips() {
        let mut payload = diag_msg(5, 6);
        payload.extend(attr(INET_DIAG_INFO, &tcp_info(7, 8, 144)));
        let mut datagram = notification(&payload);
        datagram.extend(notification(&[1, 2, 3]));
        datagram.extend(notification(&payload));
        let (mut out, mut skipped) = (Vec::new(), 0);
        walk_datagram(&datagram, &mut out, 1, &mut skipped);
        assert_eq!((out.len(), skipped), (1, 2));
        assert_eq!(out[0].bytes_acked, Some(7));

        let mut broken = datagram.clone();
        broken[0] = 3; // length below the header: the rest is dropped
        out.clear();
        skipped = 0;
        walk_datagram(&broken, &mut out, 10, &mut skipped);
        assert_eq!((out.len(), skipped), (0, 1));
        for cut in 0..datagram.len() {
            walk_datagram(&datagram[..cut], &mut out, 10, &mut skipped);
        }
    }
}
