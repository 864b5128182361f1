//! Ctrl-C and SIGTERM in watch mode, without signal handlers.
//!
//! SIGINT and SIGTERM are blocked before any thread starts (threads inherit
//! the mask), so the kernel never interrupts a write halfway: the signals
//! stay pending and are read from a signalfd, which the loop polls together
//! with the destroy-notification socket while it waits for the next pass,
//! and which [`super::output`] polls while a pipe or socket is full. A
//! pass that is being written is finished first, so output ends with a
//! complete line, unless the reader stops reading (see [`super::output`]).
//!
//! While it waits, the loop also watches stdout, when it is a pipe or a
//! socket, for the reader going away (POLLERR/POLLHUP, asked with no
//! events): `--events` may have nothing to write for a long time, and
//! without this it would never learn that nobody reads any more.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// The signals that stop watch mode.
const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// Why [`Signals::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The deadline came.
    Deadline,
    /// SIGINT or SIGTERM arrived (its number).
    Stop(libc::c_int),
    /// The other descriptor became readable.
    Readable,
    /// The watched output reported an error or hang-up: its reader is gone.
    Closed,
}

/// SIGINT and SIGTERM, blocked and readable from a descriptor.
#[derive(Debug)]
pub struct Signals {
    fd: OwnedFd,
}

impl Signals {
    /// Blocks SIGINT and SIGTERM for this thread and every thread it starts
    /// later, and opens a signalfd for them. Call it before any thread
    /// starts: a thread started earlier could still take the signal and die
    /// of it.
    pub fn block() -> io::Result<Signals> {
        let set = stop_set()?;
        // SAFETY: `set` is an initialised sigset_t; a null old-set pointer
        // is allowed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: -1 asks for a new descriptor; `set` is initialised.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a non-negative return is a fresh descriptor nobody else owns.
        Ok(Signals {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
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
        loop {
            if let Some(signal) = self.take()? {
                return Ok(Wake::Stop(signal));
            }
            if Instant::now() >= deadline {
                return Ok(Wake::Deadline);
            }
            // Poll ignores negative descriptors. POLLERR and POLLHUP are
            // reported whatever is asked, so `output` is asked nothing.
            let mut fds = [
                poll_fd(self.fd.as_raw_fd(), libc::POLLIN),
                poll_fd(other.unwrap_or(-1), libc::POLLIN),
                poll_fd(output.unwrap_or(-1), 0),
            ];
            if poll(&mut fds, Some(deadline))? {
                if fds[2].revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                    return Ok(Wake::Closed);
                }
                if fds[1].revents != 0 {
                    return Ok(Wake::Readable);
                }
            }
        }
    }

    /// Reads one pending stop signal, if any.
    pub fn take(&self) -> io::Result<Option<libc::c_int>> {
        let mut info = MaybeUninit::<libc::signalfd_siginfo>::zeroed();
        let len = size_of::<libc::signalfd_siginfo>();
        // SAFETY: the buffer is a live signalfd_siginfo of `len` bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), info.as_mut_ptr().cast(), len) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        if n as usize != len {
            return Ok(None);
        }
        // SAFETY: the kernel filled the whole struct (n == len), and it was
        // zeroed before, so every field is initialised either way.
        let info = unsafe { info.assume_init() };
        Ok(Some(info.ssi_signo as libc::c_int))
    }
}

impl AsRawFd for Signals {
    /// The signalfd: readable when a stop signal is pending.
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// An entry for [`poll`].
pub(crate) fn poll_fd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Polls `fds` until one is ready or `deadline` (none: no time limit).
/// True when one is ready; false when the deadline came or a signal
/// interrupted the poll (the caller looks again).
pub(crate) fn poll(fds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<bool> {
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

fn stop_set() -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given.
    if unsafe { libc::sigemptyset(set.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    for signal in STOP_SIGNALS {
        // SAFETY: the set was initialised by sigemptyset above.
        if unsafe { libc::sigaddset(set.as_mut_ptr(), signal) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: initialised by sigemptyset.
    Ok(unsafe { set.assume_init() })
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
            // SAFETY: pthread_kill to this very thread, with a blocked signal.
            assert_eq!(
                unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGTERM) },
                0
            );
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
