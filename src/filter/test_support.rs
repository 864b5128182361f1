//! Sockets for the filter's tests, built from `ADDR:PORT` text.

use std::net::SocketAddr;

use crate::model::{Endpoint, Family, Socket, TcpState, Timer};

/// An ESTABLISHED socket between two `ADDR:PORT` (IPv6 in brackets).
pub(crate) fn sock(local: &str, remote: &str) -> Socket {
    sock_in(TcpState::Established, local, remote)
}

/// A socket in `state` between two `ADDR:PORT`.
pub(crate) fn sock_in(state: TcpState, local: &str, remote: &str) -> Socket {
    let ep = |s: &str| {
        let a: SocketAddr = s.parse().expect("test address");
        Endpoint {
            addr: a.ip(),
            port: a.port(),
        }
    };
    let local = ep(local);
    Socket {
        family: if local.addr.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        },
        state,
        local,
        remote: ep(remote),
        recv_q: 0,
        send_q: 0,
        uid: 1000,
        inode: 4242,
        timer: Timer::OFF,
        shutdown: None,
    }
}
