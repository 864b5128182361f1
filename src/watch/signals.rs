//! The stop signals, SIGINT, SIGTERM and SIGHUP, without signal handlers,
//! for every face: the one-shot listing, `-s` and `why` as much as `-c`
//! and `--events`.
//!
//! They are blocked before any thread starts (threads inherit the mask),
//! so the kernel never ends the program halfway through a line: a signal
//! stays pending and is read from a signalfd, which the loop polls while
//! it waits for the next pass and [`super::output`] polls while a pipe or
//! socket is full. What is being written (a pass, or the one-shot listing)
//! is finished first, so output ends with a complete line, unless the
//! reader stops reading (see [`super::output`]); then the program exits
//! with 128 + the signal's number, as a shell reports a process that a
//! signal ended ([`crate::error::exit_after_signal`]).
//!
//! A signal that is ignored when tcpstat starts (`nohup` ignores SIGHUP,
//! a shell ignores SIGINT for a job it starts in the background) is left
//! alone: blocked, it would be queued rather than dropped, and would stop
//! us when whoever started us meant it not to. SIGQUIT keeps its default
//! action, a core dump at once, as in netstat and ss: it is the signal one
//! sends to see where a program is, not to end it cleanly. SIGPIPE stays
//! ignored (Rust's runtime ignores it), so a closed pipe is a write error,
//! EPIPE, which ends the program quietly with status 0.
//!
//! While it waits, the loop also watches stdout, when it is a pipe or a
//! socket, for the reader going away (POLLERR/POLLHUP, asked with no
//! events): `--events` may have nothing to write for a long time, and
//! without this it would never learn that nobody reads any more.

use crate::sys::poll::{poll, poll_fd};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// The signals that stop tcpstat after a complete line.
const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Why [`Signals::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The deadline came.
    Deadline,
    /// A stop signal arrived (its number).
    Stop(libc::c_int),
    /// The other descriptor became readable.
    Readable,
    /// The watched output reported an error or hang-up: its reader is gone.
    Closed,
}

/// The stop signals, blocked and readable from a descriptor.
#[derive(Debug)]
pub struct Signals {
    fd: OwnedFd,
}

impl Signals {
    /// Blocks the stop signals that are not ignored for this thread and
    /// every thread it starts later, and opens a signalfd for them. Call it
    /// before any thread starts: a thread started earlier could still take
    /// a signal and die of it.
    pub fn block() -> io::Result<Signals> {
        let mut stops = Vec::with_capacity(STOP_SIGNALS.len());
        for signal in STOP_SIGNALS {
            if !crate::sys::signal::is_ignored(signal)? {
                stops.push(signal);
            }
        }
        Ok(Signals {
            fd: crate::sys::signal::block_to_fd(&stops)?,
        })
    }

    /// Waits until `deadline`, a stop signal, `other` becoming readable, or
    /// an error or hang-up on `output`, whichever comes first. A signal
    /// already pending is seen at once.
    pub fn wait(
        &self,
        deadline: Instant,
        other: Option<RawFd>,
        output: Option<RawFd>,
    ) -> io::Result<Wake> {
        self.wait_any(deadline, other.as_slice(), output)
    }

    /// [`Signals::wait`], woken by any of `others` becoming readable (the
    /// destroy notifications of several namespaces).
    pub fn wait_any(
        &self,
        deadline: Instant,
        others: &[RawFd],
        output: Option<RawFd>,
    ) -> io::Result<Wake> {
        let mut fds = Vec::with_capacity(2 + others.len());
        loop {
            if let Some(signal) = self.take()? {
                return Ok(Wake::Stop(signal));
            }
            if Instant::now() >= deadline {
                return Ok(Wake::Deadline);
            }
            // Poll ignores negative descriptors. POLLERR and POLLHUP are
            // reported whatever is asked, so `output` is asked nothing.
            fds.clear();
            fds.push(poll_fd(self.fd.as_raw_fd(), libc::POLLIN));
            fds.push(poll_fd(output.unwrap_or(-1), 0));
            fds.extend(others.iter().map(|&fd| poll_fd(fd, libc::POLLIN)));
            if poll(&mut fds, Some(deadline))? {
                if fds[1].revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                    return Ok(Wake::Closed);
                }
                if fds[2..].iter().any(|fd| fd.revents != 0) {
                    return Ok(Wake::Readable);
                }
            }
        }
    }

    /// Reads one pending stop signal, if any.
    pub fn take(&self) -> io::Result<Option<libc::c_int>> {
        crate::sys::signal::read_signal(self.fd.as_fd())
    }
}

impl AsRawFd for Signals {
    /// The signalfd: readable when a stop signal is pending.
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// On a thread of its own: the mask and the thread-directed signal
    /// stay on that thread and go away with it.
    #[test]
    fn pending_signal_is_read_not_delivered() {
        std::thread::spawn(|| {
            let signals = Signals::block().unwrap();
            let soon = Instant::now() + Duration::from_millis(20);
            assert_eq!(signals.wait(soon, None, None).unwrap(), Wake::Deadline);
            let me = crate::sys::signal::thread_id();
            crate::sys::signal::signal_thread(me, libc::SIGTERM).unwrap();
            let later = Instant::now() + Duration::from_secs(5);
            assert_eq!(
                signals.wait(later, None, None).unwrap(),
                Wake::Stop(libc::SIGTERM)
            );
            let soon = Instant::now() + Duration::from_millis(1);
            assert_eq!(signals.wait(soon, None, None).unwrap(), Wake::Deadline);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn readable_descriptor_wakes_the_wait() {
        std::thread::spawn(|| {
            let signals = Signals::block().unwrap();
            let (reader, mut writer) = std::io::pipe().unwrap();
            std::io::Write::write_all(&mut writer, b"x").unwrap();
            let later = Instant::now() + Duration::from_secs(5);
            let woke = signals.wait(later, Some(reader.as_raw_fd()), None).unwrap();
            assert_eq!(woke, Wake::Readable);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn output_without_reader_wakes_the_wait() {
        std::thread::spawn(|| {
            let signals = Signals::block().unwrap();
            let (reader, writer) = std::io::pipe().unwrap();
            // Writable, with a reader: not a reason to wake.
            let soon = Instant::now() + Duration::from_millis(20);
            let woke = signals.wait(soon, None, Some(writer.as_raw_fd())).unwrap();
            assert_eq!(woke, Wake::Deadline);
            drop(reader);
            let later = Instant::now() + Duration::from_secs(5);
            let woke = signals.wait(later, None, Some(writer.as_raw_fd())).unwrap();
            assert_eq!(woke, Wake::Closed);
            // A file never reports a hang-up.
            let null = std::fs::File::create("/dev/null").unwrap();
            let soon = Instant::now() + Duration::from_millis(20);
            let woke = signals.wait(soon, None, Some(null.as_raw_fd())).unwrap();
            assert_eq!(woke, Wake::Deadline);
        })
        .join()
        .unwrap();
    }
}
