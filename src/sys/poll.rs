//! `poll(2)` with a deadline, for waits that a signalfd can cut short.

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

/// An entry for [`poll`]: `fd` asked for `events`. A negative `fd` is
/// ignored by poll.
pub fn poll_fd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Polls `fds` until one is ready or `deadline` (none: no time limit).
/// True when one is ready; false when the deadline came or a signal
/// interrupted the poll (the caller looks again).
pub fn poll(fds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<bool> {
    let ms = match deadline {
        None => -1,
        // Round up: poll's unit is a millisecond, and waking early would
        // only loop.
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
        }
    };
    // SAFETY: `fds` is a live slice of the length passed.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::Interrupted => Ok(false),
            _ => Err(e),
        };
    }
    Ok(rc > 0)
}
