//! User names for the `User` column (`-e` without `-n`), looked up through
//! NSS once per distinct uid.

use std::collections::HashMap;
use std::ffi::CStr;

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

fn lookup(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: passwd is plain old data; all-zero is a valid value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer refers to live, correctly sized storage owned
        // by this frame; getpwuid_r writes only within `buf`.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success pw_name points to a NUL-terminated string in `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        return Some(name.to_string_lossy().into_owned());
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
    fn unknown_uid_has_no_name() {
        assert_eq!(UserNames::default().name(3_999_999_999), None);
    }
}
