//! The user database through NSS (`getpwuid_r`, `getpwnam_r`), and the
//! effective uid of this process.

use std::ffi::CStr;

/// The entry of a user: what tcpstat needs of a `struct passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    /// The login name (bytes that are not UTF-8 are replaced).
    pub name: String,
    pub uid: u32,
}

/// The user with uid `uid`; `None` when there is none or the lookup fails.
pub fn by_uid(uid: u32) -> Option<Passwd> {
    // SAFETY: the pointers come from `getpw`, which sizes them correctly.
    getpw(|pwd, buf, len, result| unsafe { libc::getpwuid_r(uid, pwd, buf, len, result) })
}

/// The user called `name`; `None` when there is none or the lookup fails.
pub fn by_name(name: &CStr) -> Option<Passwd> {
    // SAFETY: `name` is NUL-terminated and outlives the call; the other
    // pointers come from `getpw`, which sizes them correctly.
    getpw(|pwd, buf, len, result| unsafe { libc::getpwnam_r(name.as_ptr(), pwd, buf, len, result) })
}

/// True when this process runs with effective uid 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a `getpw*_r` call with a buffer that grows until the entry fits;
/// returns the entry, or None when there is none.
fn getpw(
    call: impl Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> libc::c_int,
) -> Option<Passwd> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: passwd is plain old data; all-zero is a valid value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result);
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success pw_name points to a NUL-terminated string in `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        return Some(Passwd {
            name: name.to_string_lossy().into_owned(),
            uid: pwd.pw_uid,
        });
    }
}
