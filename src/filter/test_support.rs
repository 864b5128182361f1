//! Sockets for the filter's tests, built from `ADDR:PORT` text: the
//! crate's test sockets, owned by uid 1000 with inode 4242.

use crate::model::{Socket, TcpState};
use crate::test_support::SocketExt;

/// An ESTABLISHED socket between two `ADDR:PORT` (IPv6 in brackets).
pub(crate) fn sock(local: &str, remote: &str) -> Socket {
    sock_in(TcpState::Established, local, remote)
}

/// A socket in `state` between two `ADDR:PORT`.
pub(crate) fn sock_in(state: TcpState, local: &str, remote: &str) -> Socket {
    crate::test_support::sock(state, local, remote)
        .uid(1000)
        .inode(4242)
}
