//! Addresses to text by the C library: their names through
//! `getnameinfo(3)`, which reads `/etc/hosts`, asks DNS, … as
//! nsswitch.conf says; and their numeric form through `inet_ntop(3)`.

use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr};

/// The name of `addr` (`NI_NAMEREQD`: never its numeric form); `None` when
/// it has none or the lookup fails. May block for as long as DNS takes.
pub fn getnameinfo(addr: IpAddr) -> Option<String> {
    let (storage, len) = super::sock::sockaddr(SocketAddr::new(addr, 0));
    let mut host = [0 as libc::c_char; libc::NI_MAXHOST as usize];
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes; `host` is
    // writable for the length given; no service buffer is requested.
    let rc = unsafe {
        libc::getnameinfo(
            std::ptr::from_ref(&storage).cast(),
            len,
            host.as_mut_ptr(),
            libc::NI_MAXHOST,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated name into `host`.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

// The libc crate does not declare it.
extern "C" {
    #[link_name = "inet_ntop"]
    fn inet_ntop_c(
        af: libc::c_int,
        src: *const libc::c_void,
        dst: *mut libc::c_char,
        size: libc::socklen_t,
    ) -> *const libc::c_char;
}

/// `addr` as the C library's `inet_ntop(3)` writes it. tcpstat formats
/// addresses itself (`model::addr`); this is the oracle its tests compare
/// with, since netstat prints what glibc's `inet_ntop` writes.
///
/// `None` only if the C library fails, which it does not for a valid
/// address and a buffer this large.
pub fn inet_ntop(addr: IpAddr) -> Option<String> {
    let (family, bytes): (libc::c_int, Vec<u8>) = match addr {
        IpAddr::V4(a) => (libc::AF_INET, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6, a.octets().to_vec()),
    };
    // INET6_ADDRSTRLEN (46) with room to spare.
    let mut text = [0 as libc::c_char; 64];
    // SAFETY: `bytes` holds an in_addr or in6_addr as `family` says; `text`
    // is writable for the length given.
    let written = unsafe {
        inet_ntop_c(
            family,
            bytes.as_ptr().cast(),
            text.as_mut_ptr(),
            text.len() as libc::socklen_t,
        )
    };
    if written.is_null() {
        return None;
    }
    // SAFETY: on success inet_ntop wrote a NUL-terminated string into `text`.
    let text = unsafe { CStr::from_ptr(text.as_ptr()) };
    Some(text.to_string_lossy().into_owned())
}
