//! Namespaces: moving the calling thread into another network namespace.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `setns(ns, CLONE_NEWNET)`: moves the calling thread into the network
/// namespace `ns` (an nsfs descriptor, e.g. an open `/proc/PID/ns/net`).
/// EINVAL means `ns` is not a network namespace.
pub fn enter_net(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns only reads the descriptor, which stays open for the call.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
