//! Stdout for every face: writes that a stop signal can end on a line
//! boundary. The one-shot listing, `-s` and `why` write through it as
//! much as `-c` and `--events`.
//!
//! The stop signals are blocked ([`super::signals`]), so a `write()`
//! stuck on a full pipe whose reader has stalled would never hear them.
//! [`Output`] therefore never blocks in `write()` on a pipe or socket,
//! and watches the signalfd whenever it has to wait:
//!
//! - a pipe (or FIFO) is polled for POLLOUT together with the signalfd
//!   before every write, and given at most `PIPE_BUF` (4096) bytes at a
//!   time: a pipe that polls writable has a free slot, which takes such a
//!   write whole without blocking (one poll per 4 KiB: about 3000 for a
//!   12 MB pass);
//! - a socket is written with `MSG_DONTWAIT`, a flag of the call, and
//!   polled the same way only when it is full;
//! - anything else (a file, /dev/null, a terminal) is written directly, in
//!   large chunks, as before.
//!
//! `O_NONBLOCK` is never set: the file description is shared with the
//! shell and whatever else writes to it.
//!
//! A stop signal that arrives while a pass, or the one-shot listing, is
//! being written is kept ([`Output::stop_signal`]) and writing goes on, so
//! that it, and its last line, is complete; [`finish`] then says to end.
//! A JSON listing thus stays one valid array. (Stopping at the next line
//! instead would leave an array that only parses once closed, and a
//! closed one would pass a truncated listing off as whole; the rest of
//! the rows cost only the dump's and the reader's time.) A
//! signal that came before anything was written ends the program with
//! nothing written ([`Output::stop_requested`]).
//!
//! If the reader takes nothing for [`GRACE`] after a stop signal, the
//! writer gives up and every write fails from then on: the output ends
//! with a half-written line, which cannot be helped, since the rest of it
//! could only go into a pipe nobody empties.

use super::signals::Signals;
use crate::sys::poll::{poll, poll_fd};
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

/// How long, after a stop signal, the reader may take nothing before the
/// rest of the pass is given up.
pub const GRACE: Duration = Duration::from_secs(1);

/// Most bytes given to one `write()` on a pipe: what a free slot takes.
const PIPE_CHUNK: usize = libc::PIPE_BUF;

/// What stdout is, as far as writing to it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A file, a terminal, /dev/null: written directly.
    Direct,
    /// A pipe or FIFO: polled before each write of at most a slot.
    Pipe,
    /// A socket: written without waiting, polled when full.
    Socket,
}

/// A stop signal seen while writing.
#[derive(Debug, Clone, Copy)]
struct Stop {
    signal: libc::c_int,
    /// When the reader last took something (or the signal came).
    progress: Instant,
}

/// Stdout that a stop signal can end (see the module documentation).
/// Unbuffered: wrap it in a `BufWriter`, and end each pass or listing with
/// [`finish`].
#[derive(Debug)]
pub struct Output<'a> {
    fd: BorrowedFd<'a>,
    kind: Kind,
    signals: &'a Signals,
    stop: Option<Stop>,
    gave_up: bool,
}

impl<'a> Output<'a> {
    /// Stdout, looked at once with fstat.
    pub fn stdout(signals: &'a Signals) -> Output<'a> {
        Output::new(crate::sys::fs::stdout(), signals)
    }

    /// Writes to `fd`.
    pub fn new(fd: BorrowedFd<'a>, signals: &'a Signals) -> Output<'a> {
        Output {
            kind: kind_of(fd),
            fd,
            signals,
            stop: None,
            gave_up: false,
        }
    }

    /// The descriptor to watch between passes for the reader going away:
    /// stdout when it is a pipe or a socket. A file or a terminal has no
    /// reader to lose.
    pub fn hangup_fd(&self) -> Option<RawFd> {
        (self.kind != Kind::Direct).then(|| self.fd.as_raw_fd())
    }

    /// The stop signal that arrived while writing, if one did.
    pub fn stop_signal(&self) -> Option<libc::c_int> {
        self.stop.map(|s| s.signal)
    }

    /// The stop signal that arrived while writing, or else one pending
    /// now, which is kept. Asked before a pass or listing is written, so
    /// that one that came while it was collected ends the program without
    /// it; and after, since a file or terminal is written without looking.
    pub fn stop_requested(&mut self) -> io::Result<Option<libc::c_int>> {
        if self.stop.is_none() {
            if let Some(signal) = self.signals.take()? {
                self.stop = Some(Stop {
                    signal,
                    progress: Instant::now(),
                });
            }
        }
        Ok(self.stop_signal())
    }

    /// One `write()` (or `send()`) that does not block on a pipe or socket.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let written = match self.kind {
            Kind::Pipe => crate::sys::fs::write(self.fd, &buf[..buf.len().min(PIPE_CHUNK)]),
            Kind::Socket => crate::sys::sock::send_nowait(self.fd, buf),
            Kind::Direct => crate::sys::fs::write(self.fd, buf),
        };
        match written {
            // As std's stdout: a closed descriptor 1 swallows the output.
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => Ok(buf.len()),
            written => written,
        }
    }

    /// Waits until stdout can take a write (or reports an error, which the
    /// write will then return), taking a stop signal that comes meanwhile.
    /// Fails once a stop signal is older than the reader's last progress
    /// by [`GRACE`].
    fn wait_writable(&mut self) -> io::Result<()> {
        loop {
            let deadline = match self.stop {
                None => None,
                Some(stop) => {
                    let deadline = stop.progress + GRACE;
                    if Instant::now() >= deadline {
                        self.gave_up = true;
                        return Err(gave_up());
                    }
                    Some(deadline)
                }
            };
            let mut fds = [
                poll_fd(self.fd.as_raw_fd(), libc::POLLOUT),
                poll_fd(self.signals.as_raw_fd(), libc::POLLIN),
            ];
            if !poll(&mut fds, deadline)? {
                continue;
            }
            if fds[1].revents != 0 {
                if let Some(signal) = self.signals.take()? {
                    self.stop.get_or_insert(Stop {
                        signal,
                        progress: Instant::now(),
                    });
                }
            }
            if fds[0].revents != 0 {
                return Ok(());
            }
        }
    }
}

impl Write for Output<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.gave_up {
            return Err(gave_up());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // A full pipe would block the write: ask first. A socket is tried
        // first, and so is anything else (which would only fail with
        // EAGAIN if someone set O_NONBLOCK on it).
        let mut wait = self.kind == Kind::Pipe;
        loop {
            if wait {
                self.wait_writable()?;
            }
            match self.try_write(buf) {
                Ok(n) => {
                    if let Some(stop) = &mut self.stop {
                        stop.progress = Instant::now();
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => wait = self.kind == Kind::Pipe,
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Flushes a pass or listing that `written` says was printed, and says
/// whether a stop signal came meanwhile (or is pending): then the program
/// is to end now, with that signal's status, after the complete output, or
/// after whatever a stalled reader took. A signal outranks a failed write:
/// a terminal that hangs up sends SIGHUP and fails writes with EIO, and
/// the signal is the reason.
pub fn finish(
    out: &mut BufWriter<Output<'_>>,
    written: io::Result<()>,
) -> io::Result<Option<libc::c_int>> {
    let written = written.and_then(|()| out.flush());
    if let Some(signal) = out.get_mut().stop_requested()? {
        return Ok(Some(signal));
    }
    written.map(|()| None)
}

fn gave_up() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "stopped: the reader of stdout took nothing more",
    )
}

fn kind_of(fd: BorrowedFd<'_>) -> Kind {
    let Ok(stat) = crate::sys::fs::fstat(fd) else {
        return Kind::Direct;
    };
    match stat.st_mode & libc::S_IFMT {
        libc::S_IFIFO => Kind::Pipe,
        libc::S_IFSOCK => Kind::Socket,
        _ => Kind::Direct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::sync::mpsc;

    /// Sends SIGTERM to the thread whose id comes on `rx`, after `delay`.
    fn term_later(rx: mpsc::Receiver<libc::pid_t>, delay: Duration) {
        std::thread::spawn(move || {
            let thread = rx.recv().unwrap();
            std::thread::sleep(delay);
            crate::sys::signal::signal_thread(thread, libc::SIGTERM).unwrap();
        });
    }

    #[test]
    fn kinds_of_stdout() {
        let (reader, writer) = std::io::pipe().unwrap();
        assert_eq!(kind_of(writer.as_fd()), Kind::Pipe);
        assert_eq!(kind_of(reader.as_fd()), Kind::Pipe);
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(kind_of(a.as_fd()), Kind::Socket);
        let null = std::fs::File::create("/dev/null").unwrap();
        assert_eq!(kind_of(null.as_fd()), Kind::Direct);
    }

    /// On threads of their own: the mask and the thread-directed signal
    /// stay on that thread and go away with it.
    #[test]
    fn stalled_pipe_gives_up_after_the_grace() {
        let (tx, rx) = mpsc::channel();
        term_later(rx, Duration::from_millis(100));
        std::thread::spawn(move || {
            let signals = Signals::block().unwrap();
            let (_reader, writer) = std::io::pipe().unwrap();
            let mut out = Output::new(writer.as_fd(), &signals);
            tx.send(crate::sys::signal::thread_id()).unwrap();
            let started = Instant::now();
            let e = out.write_all(&[b'x'; 1 << 20]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
            let took = started.elapsed();
            assert!(took >= GRACE && took < GRACE * 3, "{took:?}");
            assert_eq!(out.stop_signal(), Some(libc::SIGTERM));
            assert_eq!(out.write(b"y").unwrap_err().kind(), io::ErrorKind::TimedOut);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn draining_reader_gets_everything_after_a_signal() {
        let (tx, rx) = mpsc::channel();
        term_later(rx, Duration::from_millis(100));
        let (mut reader, writer) = std::io::pipe().unwrap();
        let total = 1 << 20;
        let drain = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let mut got = 0;
            let mut chunk = vec![0; 64 << 10];
            loop {
                match reader.read(&mut chunk).unwrap() {
                    0 => return got,
                    n => got += n,
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        std::thread::spawn(move || {
            let signals = Signals::block().unwrap();
            let mut out = Output::new(writer.as_fd(), &signals);
            tx.send(crate::sys::signal::thread_id()).unwrap();
            out.write_all(&vec![b'x'; total]).unwrap();
            assert_eq!(out.stop_signal(), Some(libc::SIGTERM));
        })
        .join()
        .unwrap();
        assert_eq!(drain.join().unwrap(), total);
    }

    /// A file is written without looking at the signalfd: the signal is
    /// found when the output ends, and outranks a failed write.
    #[test]
    fn finish_reports_a_pending_signal_even_after_a_failed_write() {
        std::thread::spawn(|| {
            let signals = Signals::block().unwrap();
            let me = crate::sys::signal::thread_id();
            let null = std::fs::File::create("/dev/null").unwrap();
            let mut out = BufWriter::new(Output::new(null.as_fd(), &signals));
            assert_eq!(out.get_mut().stop_requested().unwrap(), None);
            let written = out.write_all(b"line\n");
            assert_eq!(finish(&mut out, written).unwrap(), None);
            crate::sys::signal::signal_thread(me, libc::SIGHUP).unwrap();
            let written = out.write_all(b"line\n");
            assert_eq!(finish(&mut out, written).unwrap(), Some(libc::SIGHUP));

            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let mut out = BufWriter::new(Output::new(writer.as_fd(), &signals));
            let written = out.write_all(b"line\n");
            let e = finish(&mut out, written).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
            crate::sys::signal::signal_thread(me, libc::SIGTERM).unwrap();
            assert_eq!(finish(&mut out, Ok(())).unwrap(), Some(libc::SIGTERM));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn pipe_without_reader_is_a_broken_pipe() {
        std::thread::spawn(|| {
            let signals = Signals::block().unwrap();
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let mut out = Output::new(writer.as_fd(), &signals);
            let e = out.write_all(b"line\n").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        })
        .join()
        .unwrap();
    }
}
