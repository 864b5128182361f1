//! Files and directories by descriptor: `openat`, `readlinkat`, `fstat`,
//! `fstatfs`, `write`, `dup2`, [`Dir`], a `readdir` stream, and bounded reads of
//! kernel files ([`read_bounded`], [`read_small_text`]).
//!
//! The owner scan reads every open descriptor of every process, so these
//! work relative to a directory descriptor and into caller buffers, without
//! building or allocating a path per call.

use std::ffi::CStr;
use std::io::{self, Read as _};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// `openat(dir, path, flags | O_CLOEXEC)`.
pub fn open_at(dir: BorrowedFd<'_>, path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    open_at_raw(dir.as_raw_fd(), path, flags)
}

/// As [`open_at`], with `AT_FDCWD` allowed as the directory.
fn open_at_raw(dirfd: RawFd, path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and outlives the call; openat does not
    // keep the pointer.
    let fd = unsafe { libc::openat(dirfd, path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `readlinkat(dir, name)` into `buf`; returns the length written (the
/// target is truncated to `buf.len()`).
pub fn readlink_at(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `name` is NUL-terminated; `buf` is valid for `buf.len()` bytes
    // of writes, which is the size readlinkat is given.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `fstat(fd)`.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `st` is a live, writable stat buffer.
    if unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded and filled it (it was zeroed before anyway).
    Ok(unsafe { st.assume_init() })
}

/// `fstatfs(fd)`: the file system `fd` is on.
pub fn fstatfs(fd: BorrowedFd<'_>) -> io::Result<libc::statfs> {
    let mut fs = MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `fs` is a live, writable statfs buffer.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), fs.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatfs succeeded and filled it (it was zeroed before anyway).
    Ok(unsafe { fs.assume_init() })
}

/// One `write(2)` of `buf` to `fd`: no retry on EINTR, no loop on a short
/// write.
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is live for the call and its length is the one given.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Reads `file` to its end into `buf` (cleared first), failing with
/// `FileTooLarge` past `max` bytes: kernel text files are small, and a path
/// that leads to an endless stream (`/dev/zero`, a FIFO fed forever) must
/// end in an error rather than in all the memory there is. Safe code, kept
/// here beside the other reads by descriptor so every layer can use it.
pub fn read_bounded(file: &mut impl io::Read, buf: &mut Vec<u8>, max: usize) -> io::Result<()> {
    buf.clear();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    io::Read::take(file, limit).read_to_end(buf)?;
    if buf.len() > max {
        buf.clear();
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("longer than {max} bytes"),
        ));
    }
    Ok(())
}

/// The text of a small kernel file (a sysctl, `file-nr`): opened
/// non-blocking, so that a FIFO put in its place cannot stall us, and read
/// with [`read_bounded`] up to `max` bytes.
pub fn read_small_text(path: &std::path::Path, max: usize) -> io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let mut buf = Vec::new();
    read_bounded(&mut file, &mut buf, max)?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Descriptor 1, borrowed for as long as the program runs.
pub fn stdout() -> BorrowedFd<'static> {
    // SAFETY: descriptor 1 is never closed while tcpstat runs; if it was
    // not open to begin with, writes fail with EBADF, as std's do.
    unsafe { BorrowedFd::borrow_raw(libc::STDOUT_FILENO) }
}

/// Descriptor 2, borrowed for as long as the program runs.
pub fn stderr() -> BorrowedFd<'static> {
    // SAFETY: descriptor 2 is never closed while tcpstat runs (it is
    // pointed elsewhere and back, by `dup2`); if it was not open to begin
    // with, uses fail with EBADF.
    unsafe { BorrowedFd::borrow_raw(libc::STDERR_FILENO) }
}

/// `dup2(from, to)`: descriptor `to` refers to what `from` does (what it
/// referred to before is closed).
pub fn dup2(from: BorrowedFd<'_>, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes two descriptor numbers and touches no memory;
    // `from` is open for the call.
    if unsafe { libc::dup2(from.as_raw_fd(), to) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An open directory read with `readdir`, which fetches entries in large
/// batches (getdents64) and hands out names without allocating.
///
/// Neither `Send` nor `Sync`: a stream is read by one thread.
#[derive(Debug)]
pub struct Dir {
    dir: std::ptr::NonNull<libc::DIR>,
}

impl Dir {
    /// Opens `path`, relative to the working directory if not absolute.
    pub fn open(path: &CStr) -> io::Result<Dir> {
        Dir::from_fd(open_at_raw(
            libc::AT_FDCWD,
            path,
            libc::O_RDONLY | libc::O_DIRECTORY,
        )?)
    }

    /// Opens `path` relative to the directory `dir`.
    pub fn open_at(dir: BorrowedFd<'_>, path: &CStr) -> io::Result<Dir> {
        Dir::from_fd(open_at(dir, path, libc::O_RDONLY | libc::O_DIRECTORY)?)
    }

    fn from_fd(fd: OwnedFd) -> io::Result<Dir> {
        let raw = fd.as_raw_fd();
        // SAFETY: `raw` is an open directory descriptor; on success the
        // stream owns it (closedir closes it), so ownership is released below.
        let dir = unsafe { libc::fdopendir(raw) };
        match std::ptr::NonNull::new(dir) {
            Some(dir) => {
                std::mem::forget(fd);
                Ok(Dir { dir })
            }
            None => Err(io::Error::last_os_error()),
        }
    }

    /// The descriptor under the stream, for `*at` calls relative to it.
    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `self.dir` is an open stream until drop, and its
        // descriptor stays open as long as the stream, which the borrow
        // cannot outlive.
        unsafe { BorrowedFd::borrow_raw(libc::dirfd(self.dir.as_ptr())) }
    }

    /// `seekdir(loc)`: the next entry read is the one at directory offset
    /// `loc`. Offsets mean what the file system makes them mean (on procfs
    /// fd directories, descriptor number + 2).
    pub fn seek(&self, loc: libc::c_long) {
        // SAFETY: `self.dir` is an open stream; seekdir only moves it.
        unsafe { libc::seekdir(self.dir.as_ptr(), loc) };
    }

    /// Calls `f` with each entry name except `.` and `..`, until the end, an
    /// error, or `f` breaks. A name is only valid until the next entry is
    /// read, so it is lent to `f` rather than returned.
    pub fn for_each_name(&self, mut f: impl FnMut(&CStr) -> std::ops::ControlFlow<()>) {
        loop {
            // SAFETY: `self.dir` is an open stream, read on one thread only
            // (Dir is neither Send nor Sync).
            let entry = unsafe { libc::readdir64(self.dir.as_ptr()) };
            if entry.is_null() {
                return;
            }
            // SAFETY: readdir returned a valid entry with a NUL-terminated
            // d_name, which stays valid until the next readdir on this
            // stream; the borrow given to `f` cannot outlive this iteration.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
            if name.to_bytes() != b"." && name.to_bytes() != b".." && f(name).is_break() {
                return;
            }
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: the stream is open and is closed exactly once, here.
        unsafe { libc::closedir(self.dir.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::ControlFlow;
    use std::os::fd::AsFd;

    #[test]
    fn directory_names_and_links_relative_to_it() {
        let dir = Dir::open(c"/proc/self").unwrap();
        let mut names = Vec::new();
        dir.for_each_name(|name| {
            names.push(name.to_owned());
            ControlFlow::Continue(())
        });
        assert!(names.iter().any(|n| n.as_c_str() == c"fd"), "{names:?}");
        assert!(!names
            .iter()
            .any(|n| n.as_c_str() == c"." || n.as_c_str() == c".."));
        let mut buf = [0u8; 64];
        let n = readlink_at(dir.fd(), c"exe", &mut buf).unwrap();
        assert!(n > 0);
        let e = readlink_at(dir.fd(), c"tcpstat-no-such-link", &mut buf).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(
            Dir::open(c"/nonexistent").unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
    }

    #[test]
    fn bounded_reads_end_on_endless_files() {
        let mut buf = vec![1];
        let mut zero = std::fs::File::open("/dev/zero").unwrap();
        let e = read_bounded(&mut zero, &mut buf, 100).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(e.to_string(), "longer than 100 bytes");
        assert!(buf.is_empty());
        read_bounded(&mut &b"0123"[..], &mut buf, 4).unwrap();
        assert_eq!(buf, b"0123");
        read_bounded(&mut &b"01234"[..], &mut buf, 4).unwrap_err();
        let e = read_small_text(std::path::Path::new("/dev/zero"), 8).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        let nr = read_small_text(std::path::Path::new("/proc/sys/fs/file-nr"), 64).unwrap();
        assert!(nr.ends_with('\n'), "{nr:?}");
    }

    #[test]
    fn stat_and_file_system_of_a_descriptor() {
        let proc = std::fs::File::open("/proc/self/stat").unwrap();
        assert_eq!(
            fstatfs(proc.as_fd()).unwrap().f_type,
            libc::PROC_SUPER_MAGIC
        );
        let (reader, _writer) = std::io::pipe().unwrap();
        assert_eq!(
            fstat(reader.as_fd()).unwrap().st_mode & libc::S_IFMT,
            libc::S_IFIFO
        );
    }
}
