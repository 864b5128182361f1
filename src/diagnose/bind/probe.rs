//! Asking the kernel itself: bind() a fresh socket to the port, without and
//! with SO_REUSEADDR, and close it again. This settles what the dump cannot
//! show (the holders' own SO_REUSEADDR and IPV6_V6ONLY, sockets bound but
//! not listening) for the network namespace the calling thread is in.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

pub(super) use crate::sys::sock::{bind, set_int, tcp_socket};

/// What real bind() calls said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// A plain bind() succeeded.
    pub bindable: bool,
    /// A bind() with SO_REUSEADDR succeeded.
    pub bindable_with_reuseaddr: bool,
}

/// Binds `port` on `addr` (`[::]` dual-stack when `None`, as
/// [`why`](super::why) assumes) once without and once with SO_REUSEADDR,
/// each on a fresh TCP socket that is closed at once and never listens.
/// The port is taken only for that instant. Errors other than EADDRINUSE
/// (EADDRNOTAVAIL for an address the host does not have, EACCES for a
/// privileged port) are returned.
pub fn probe(port: u16, addr: Option<IpAddr>) -> io::Result<Probe> {
    let addr = SocketAddr::new(addr.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), port);
    Ok(Probe {
        bindable: try_bind(addr, false, false)?,
        bindable_with_reuseaddr: try_bind(addr, true, false)?,
    })
}

/// bind() (and with `listen`, listen()) on a fresh socket: Ok(false) on
/// EADDRINUSE. IPv6 sockets are dual-stack (IPV6_V6ONLY off).
pub(crate) fn try_bind(addr: SocketAddr, reuseaddr: bool, listen: bool) -> io::Result<bool> {
    let fd = tcp_socket(addr)?;
    if reuseaddr {
        set_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    }
    if addr.is_ipv6() {
        set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0)?;
    }
    let result = bind(&fd, addr).and_then(|()| {
        if !listen {
            return Ok(());
        }
        crate::sys::sock::listen(&fd, 1)
    });
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(false),
        Err(e) => Err(e),
    }
}
