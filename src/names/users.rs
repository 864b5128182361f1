//! User names for the `User` column (`-e` without `-n`), looked up through
//! NSS once per distinct uid.

use crate::sys::user;
use std::collections::HashMap;
use std::ffi::CString;

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
    user::by_name(&name).map(|entry| entry.uid)
}

fn lookup(uid: u32) -> Option<String> {
    user::by_uid(uid).map(|entry| entry.name)
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
