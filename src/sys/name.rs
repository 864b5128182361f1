//! Reverse name lookup by the C library: `getnameinfo(3)`, which reads
//! `/etc/hosts`, asks DNS, … as nsswitch.conf says.

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
