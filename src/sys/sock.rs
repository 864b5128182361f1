//! Raw socket calls: integer socket options, socket addresses in C form,
//! and the socket/bind/listen/send steps that std does not expose apart.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Sets the `c_int` option `level`/`name` of `fd` to `value`.
pub fn set_int(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option points at a live c_int of the length passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `addr` as a C socket address, and its length: what `bind(2)` and
/// `getnameinfo(3)` take.
pub fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero bytes are a valid sockaddr_storage (plain integers).
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for any
            // sockaddr, sockaddr_in included.
            unsafe {
                std::ptr::from_mut(&mut storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe {
                std::ptr::from_mut(&mut storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// A fresh, unbound TCP socket of `addr`'s family (close-on-exec).
pub fn tcp_socket(addr: SocketAddr) -> io::Result<OwnedFd> {
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

/// `bind(fd, addr)`.
pub fn bind(fd: &impl AsRawFd, addr: SocketAddr) -> io::Result<()> {
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes, alive for
    // the call.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), std::ptr::from_ref(&storage).cast(), len) };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `listen(fd, backlog)`.
pub fn listen(fd: &impl AsRawFd, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: listen() takes no pointers.
    match unsafe { libc::listen(fd.as_raw_fd(), backlog) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// One `send(2)` that never waits (`MSG_DONTWAIT`, EAGAIN when the socket
/// is full) and never raises SIGPIPE (`MSG_NOSIGNAL`, EPIPE instead).
pub fn send_nowait(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    // SAFETY: `buf` is live for the call and its length is the one given.
    let n = unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
    use std::os::fd::AsFd;

    #[test]
    fn sockaddr_carries_family_port_and_address() {
        let (storage, len) = sockaddr(SocketAddr::new(Ipv4Addr::new(10, 1, 2, 3).into(), 80));
        assert_eq!(len as usize, std::mem::size_of::<libc::sockaddr_in>());
        assert_eq!(i32::from(storage.ss_family), libc::AF_INET);
        let (storage, len) = sockaddr(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 443));
        assert_eq!(len as usize, std::mem::size_of::<libc::sockaddr_in6>());
        assert_eq!(i32::from(storage.ss_family), libc::AF_INET6);
    }

    #[test]
    fn bind_listen_and_a_port_in_use() {
        let fd = tcp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        set_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1).unwrap();
        bind(&fd, "127.0.0.1:0".parse().unwrap()).unwrap();
        listen(&fd, 1).unwrap();
        let listener = TcpListener::from(fd);
        let taken = listener.local_addr().unwrap();
        let other = tcp_socket(taken).unwrap();
        let e = bind(&other, taken).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EADDRINUSE));
        let client = TcpStream::connect(taken).unwrap();
        assert_eq!(send_nowait(client.as_fd(), b"hi").unwrap(), 2);
    }
}
