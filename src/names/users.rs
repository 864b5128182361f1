//! User names for the `User` column (`-e` without `-n`), looked up through
//! NSS once per distinct uid.

use std::collections::HashMap;
use std::ffi::{CStr, CString};

/// A uid → name cache.
#[derive(Debug, Default)]
pub struct UserNames {
    cache: HashMap<u32, Option<String>>,
}

impl UserNames {
    /// The user name for `uid`, or None when it has none (print the number).
    pub fn name(&mut self, uid: u32) -> Option<&str> {
        self.cache
            .entry(uid)
            .or_insert_with(|| lookup(uid))
            .as_deref()
    }
}

/// The uid of user `name`, through NSS; None when there is no such user.
pub fn uid_of(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: `name` is NUL-terminated and outlives the call; the other
    // pointers come from `getpw`, which sizes them correctly.
    getpw(|pwd, buf, len, result| unsafe { libc::getpwnam_r(name.as_ptr(), pwd, buf, len, result) })
        .map(|(_, uid)| uid)
}

fn lookup(uid: u32) -> Option<String> {
    // SAFETY: the pointers come from `getpw`, which sizes them correctly.
    getpw(|pwd, buf, len, result| unsafe { libc::getpwuid_r(uid, pwd, buf, len, result) })
        .map(|(name, _)| name)
}

/// Runs a `getpw*_r` call with a buffer that grows until the entry fits;
/// returns the entry's name and uid, or None when there is none.
fn getpw(
    call: impl Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> libc::c_int,
) -> Option<(String, u32)> {
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
        return Some((name.to_string_lossy().into_owned(), pwd.pw_uid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_uid_zero() {
        assert_eq!(UserNames::default().name(0), Some("root"));
    }

    #[test]
    fn user_names_map_to_uids() {
        assert_eq!(uid_of("root"), Some(0));
        assert_eq!(uid_of("tcpstat-no-such-user"), None);
        assert_eq!(uid_of("bad\0name"), None);
    }

    #[test]
    fn unknown_uid_has_no_name() {
        assert_eq!(UserNames::default().name(3_999_999_999), None);
    }
}
