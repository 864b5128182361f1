//! The few socket calls std::net does not offer (bind before connect,
//! non-blocking connect, IPV6_V6ONLY before bind, TCP options), as thin libc
//! wrappers that panic with context: they only build test fixtures.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

/// A new TCP socket of `addr`'s family, optionally non-blocking.
pub fn socket(addr: IpAddr, nonblocking: bool) -> OwnedFd {
    let domain = match addr {
        IpAddr::V4(_) => libc::AF_INET,
        IpAddr::V6(_) => libc::AF_INET6,
    };
    let mut kind = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if nonblocking {
        kind |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: socket() takes no pointers.
    let fd = unsafe { libc::socket(domain, kind, 0) };
    assert!(fd >= 0, "socket(): {}", io::Error::last_os_error());
    // SAFETY: a non-negative return is a fresh descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Sets an integer socket option (tcpstat's own wrapper), panicking with
/// context.
pub fn set_int(fd: &impl AsRawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) {
    tcpstat::sys::sock::set_int(fd, level, name, value)
        .unwrap_or_else(|e| panic!("setsockopt({level}, {name}, {value}): {e}"));
}

/// Binds `fd` to `addr`.
pub fn bind(fd: &impl AsRawFd, addr: SocketAddr) {
    tcpstat::sys::sock::bind(fd, addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
}

/// Starts or completes a connect, depending on the socket's blocking mode;
/// EINPROGRESS counts as success.
pub fn connect(fd: &impl AsRawFd, addr: SocketAddr) {
    let (raw, len) = tcpstat::sys::sock::sockaddr(addr);
    // SAFETY: `raw` holds a sockaddr of `len` bytes and outlives the call.
    let rc = unsafe { libc::connect(fd.as_raw_fd(), std::ptr::from_ref(&raw).cast(), len) };
    let err = io::Error::last_os_error();
    assert!(
        rc == 0 || err.raw_os_error() == Some(libc::EINPROGRESS),
        "connect {addr}: {err}"
    );
}

/// A listener on `addr`. `v6only` sets IPV6_V6ONLY on an IPv6 socket;
/// `rcvbuf` sets SO_RCVBUF, which accepted sockets inherit.
pub fn listen(addr: SocketAddr, v6only: Option<bool>, rcvbuf: Option<i32>) -> TcpListener {
    let fd = socket(addr.ip(), false);
    set_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    if let Some(v6only) = v6only {
        set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, v6only.into());
    }
    if let Some(size) = rcvbuf {
        set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, size);
    }
    bind(&fd, addr);
    // SAFETY: listen() takes no pointers.
    let rc = unsafe { libc::listen(fd.as_raw_fd(), 16) };
    assert_eq!(rc, 0, "listen {addr}: {}", io::Error::last_os_error());
    TcpListener::from(fd)
}

/// A blocking connect from `local` (any port) to `remote`.
pub fn connect_from(local: IpAddr, remote: SocketAddr) -> TcpStream {
    let fd = socket(remote.ip(), false);
    bind(&fd, SocketAddr::new(local, 0));
    connect(&fd, remote);
    TcpStream::from(fd)
}

/// A non-blocking connect from `local` to `remote`, returned while the
/// handshake may still be under way (SYN_SENT if nobody answers).
pub fn start_connect(local: IpAddr, remote: SocketAddr) -> TcpStream {
    let fd = socket(remote.ip(), true);
    bind(&fd, SocketAddr::new(local, 0));
    connect(&fd, remote);
    TcpStream::from(fd)
}

/// Turns on keepalive with the first probe after `idle_secs`.
pub fn set_keepalive(stream: &TcpStream, idle_secs: i32) {
    set_int(stream, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle_secs);
    set_int(stream, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
}

/// Sets TCP_LINGER2, the lifetime of an orphaned FIN_WAIT2 socket.
pub fn set_linger2(stream: &TcpStream, secs: i32) {
    set_int(stream, libc::IPPROTO_TCP, libc::TCP_LINGER2, secs);
}

/// Runs `f` with this thread's filesystem uid set to `uid`, so sockets it
/// creates (or accepts) are owned by `uid`. setfsuid is per thread, unlike
/// setuid, which glibc applies to the whole process. Meant for the
/// short-lived threads of `Netns::enter`: a panic in `f` skips the reset.
pub fn as_fsuid<T>(uid: u32, f: impl FnOnce() -> T) -> T {
    // SAFETY: setfsuid takes no pointers and affects only this thread.
    let old = unsafe { libc::setfsuid(uid) };
    let result = f();
    // SAFETY: as above; restores the previous fsuid.
    unsafe { libc::setfsuid(old as libc::uid_t) };
    result
}

/// Held while a test starts a program, and while a test needs the sockets
/// it closes to be gone at once: a child copies every descriptor of the
/// test process (close-on-exec or not) and keeps those sockets open until
/// it execs, which would make a closed socket linger for a moment. Tests
/// share a process under `cargo test`, so one test's child can hold
/// another's socket.
pub fn no_fork() -> MutexGuard<'static, ()> {
    static FORK: Mutex<()> = Mutex::new(());
    FORK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether a fresh socket (dual-stack for IPv6) can bind `addr` and, with
/// `listen`, listen on it: `false` on EADDRINUSE, a panic on any other
/// error. With `reuseaddr`, SO_REUSEADDR is set first.
pub fn can_bind(addr: SocketAddr, reuseaddr: bool, listen: bool) -> bool {
    let fd = socket(addr.ip(), false);
    if reuseaddr {
        set_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    }
    if addr.is_ipv6() {
        set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0);
    }
    let bound = tcpstat::sys::sock::bind(&fd, addr).and_then(|()| match listen {
        true => tcpstat::sys::sock::listen(&fd, 1),
        false => Ok(()),
    });
    match bound {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => false,
        Err(e) => panic!("bind/listen {addr}: {e}"),
    }
}

/// Closes `stream` with a reset rather than a FIN (`SO_LINGER` 0): the
/// kernel aborts the connection (`tcp_disconnect`), leaving no TIME_WAIT
/// behind.
pub fn abort(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the option value points at a live linger of the size given.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", io::Error::last_os_error());
    drop(stream);
}

/// A new socket of any domain, type and protocol (UDP-Lite, raw), for the
/// sockets std::net has no type for.
pub fn socket_of(domain: libc::c_int, kind: libc::c_int, protocol: libc::c_int) -> OwnedFd {
    // SAFETY: socket() takes no pointers.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
    assert!(
        fd >= 0,
        "socket({domain}, {kind}, {protocol}): {}",
        io::Error::last_os_error()
    );
    // SAFETY: a non-negative return is a fresh descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
