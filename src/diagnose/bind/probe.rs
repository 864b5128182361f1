//! Asking the kernel itself: bind() a fresh socket to the port, without and
//! with SO_REUSEADDR, and close it again. This settles what the dump cannot
//! show (the holders' own SO_REUSEADDR and IPV6_V6ONLY, sockets bound but
//! not listening) for the network namespace the calling thread is in.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use serde::Serialize;

pub(super) use crate::sockopt::set_int;

/// What real bind() calls said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
        // SAFETY: listen() takes no pointers; `fd` is an open socket.
        match unsafe { libc::listen(fd.as_raw_fd(), 1) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    });
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(super) fn tcp_socket(addr: SocketAddr) -> io::Result<OwnedFd> {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: socket() takes no pointers.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a non-negative return is a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(super) fn bind(fd: &OwnedFd, addr: SocketAddr) -> io::Result<()> {
    let (storage, len) = crate::sockopt::sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes, alive for
    // the call.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), std::ptr::from_ref(&storage).cast(), len) };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
