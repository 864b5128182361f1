//! What became of one socket `-K` asked the kernel to close: the kernel's
//! answer to SOCK_DESTROY, sorted into the few cases a user acts on.

/// The kernel's answer to one SOCK_DESTROY request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KillResult {
    /// Aborted: the owner's next call fails with ECONNABORTED and the peer
    /// got a reset (for states that send one).
    Closed,
    /// No such socket any more (ENOENT): it closed by itself, or its
    /// addresses now belong to another socket (the cookie differs), between
    /// the dump and the request.
    Gone,
    /// The kernel cannot abort this socket (EOPNOTSUPP): a kernel built
    /// without CONFIG_INET_DIAG_DESTROY, or one older than 6.x that cannot
    /// abort TIME_WAIT sockets.
    NotSupported,
    /// No CAP_NET_ADMIN in the socket's network namespace (EPERM).
    PermissionDenied,
    /// Any other errno.
    Error,
}

impl KillResult {
    /// Sorts an errno (0 for success) into a result.
    pub fn from_errno(errno: i32) -> KillResult {
        match errno {
            0 => KillResult::Closed,
            libc::ENOENT => KillResult::Gone,
            libc::EOPNOTSUPP => KillResult::NotSupported,
            libc::EPERM | libc::EACCES => KillResult::PermissionDenied,
            _ => KillResult::Error,
        }
    }

    /// The result as the table and JSON name it.
    pub fn name(self) -> &'static str {
        match self {
            KillResult::Closed => "closed",
            KillResult::Gone => "gone",
            KillResult::NotSupported => "not_supported",
            KillResult::PermissionDenied => "permission_denied",
            KillResult::Error => "error",
        }
    }
}

/// One socket's outcome: the result and the errno behind it (0 when closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KillOutcome {
    pub result: KillResult,
    /// The errno SOCK_DESTROY answered, 0 on success.
    pub errno: i32,
}

impl KillOutcome {
    /// The outcome of an answer of `errno` (0 for success).
    pub fn of_errno(errno: i32) -> KillOutcome {
        KillOutcome {
            result: KillResult::from_errno(errno),
            errno,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_sort_into_results() {
        let cases = [
            (0, "closed"),
            (libc::ENOENT, "gone"),
            (libc::EOPNOTSUPP, "not_supported"),
            (libc::EPERM, "permission_denied"),
            (libc::EINVAL, "error"),
        ];
        for (errno, name) in cases {
            let outcome = KillOutcome::of_errno(errno);
            assert_eq!((outcome.result.name(), outcome.errno), (name, errno));
        }
    }
}
