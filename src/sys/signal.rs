//! Signals without handlers: block some, then read them from a signalfd;
//! and whether a signal was left ignored by whoever started us.
//! Also thread-directed signals by kernel thread id, for tests that stop a
//! particular thread.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Blocks `signals` for the calling thread (and so for every thread it
/// starts later), and opens a non-blocking, close-on-exec signalfd that
/// reads them. The descriptor is opened first: should that fail, nothing
/// has been blocked, so the signals still end the program as before
/// rather than be held pending for good.
pub fn block_to_fd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    let set = sigset(signals)?;
    // SAFETY: -1 asks for a new descriptor; `set` is initialised.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a non-negative return is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `set` is an initialised sigset_t; a null old-set pointer
    // is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(fd)
}

/// Whether `signal`'s action is to be ignored (`SIG_IGN`), as `nohup`
/// leaves SIGHUP and a shell leaves SIGINT for a background job.
pub fn is_ignored(signal: libc::c_int) -> io::Result<bool> {
    let mut action = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `action`,
    // a live sigaction.
    if unsafe { libc::sigaction(signal, std::ptr::null(), action.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sigaction filled it on success (and it was zeroed before).
    let action = unsafe { action.assume_init() };
    Ok(action.sa_sigaction == libc::SIG_IGN)
}

/// Reads one pending signal from a non-blocking signalfd: its number, or
/// `None` when none is pending (or the read was interrupted or short).
pub fn read_signal(fd: BorrowedFd<'_>) -> io::Result<Option<libc::c_int>> {
    let mut info = MaybeUninit::<libc::signalfd_siginfo>::zeroed();
    let len = size_of::<libc::signalfd_siginfo>();
    // SAFETY: the buffer is a live signalfd_siginfo of `len` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr().cast(), len) };
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

/// A set holding `signals`.
fn sigset(signals: &[libc::c_int]) -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given.
    if unsafe { libc::sigemptyset(set.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    for &signal in signals {
        // SAFETY: the set was initialised by sigemptyset above.
        if unsafe { libc::sigaddset(set.as_mut_ptr(), signal) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: initialised by sigemptyset.
    Ok(unsafe { set.assume_init() })
}

/// The kernel's id of the calling thread (`gettid`), for [`signal_thread`].
pub fn thread_id() -> libc::pid_t {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

/// Sends `signal` to thread `tid` of this process (`tgkill`). Unlike
/// `pthread_kill`, a thread that has exited is an error (ESRCH), not
/// undefined behaviour.
pub fn signal_thread(tid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: tgkill takes plain integers and touches no memory of ours.
    match unsafe { libc::tgkill(libc::getpid(), tid, signal) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
