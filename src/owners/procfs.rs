//! Owners from `/proc/*/fd`: one pass over every process's descriptors.
//!
//! The only way to find owners through `/proc` is to read every open file
//! descriptor of every process and keep those whose link target is
//! `socket:[INODE]`. At 100k sockets that pass is the whole cost of `-p`, so
//! it is kept close to its floor of one `readlinkat` per open descriptor: fd
//! directories are opened relative to a directory descriptor, entries are
//! read with `readdir` and links with `readlinkat` into a stack buffer, with
//! no path built or allocated per descriptor. `comm` is read only for
//! processes that own a socket. Two threads share the work: whole
//! processes, and then the descriptors of any process too big for one
//! thread, in chunks.
//!
//! A process is visited through one descriptor of its `/proc/PID`
//! directory, opened once: `fd/` and `comm` are both read relative to it.
//! Such a descriptor stays bound to the process it was opened for; once
//! that process is gone, reads through it fail (ENOENT, ESRCH), even if a
//! new process has been given the same pid meanwhile. Reading `PID/comm` by
//! path after the descriptor scan could name the sockets of a dead process
//! after whatever program took its pid.
//!
//! The BPF iterator's `(pid, inode)` pairs are named here too
//! ([`ProcessMap::from_pairs`]), from `/proc/PID/comm`.

use std::ffi::{CStr, CString};
use std::io;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::index::Builder;
use super::ProcessMap;
use crate::model::ProcessName;
use crate::sys::fs::{self, Dir};

/// Most threads to scan with. On 2 cores two threads take 2/3 of the time
/// of one (the kernel's locks on the shared fd table limit the gain); more
/// were not measured.
const MAX_SCAN_THREADS: usize = 2;

/// A process with more descriptors than this is scanned in chunks of this
/// many, shared between threads: a server holding 100k sockets would
/// otherwise keep one thread busy while the others idle.
const CHUNK_FDS: u32 = 2048;

impl ProcessMap {
    /// Builds the map in one pass over `<proc_root>/*/fd`.
    ///
    /// Processes that vanish during the scan are skipped silently, as are
    /// descriptors that close under us. Processes whose descriptors may not
    /// be read are counted in [`ProcessMap::unreadable`]. If `proc_root`
    /// itself cannot be read the map is empty.
    pub fn scan(proc_root: &Path) -> ProcessMap {
        let Some(root) = open_root(proc_root) else {
            return ProcessMap::default();
        };
        let mut tasks: Vec<Task> = Vec::new();
        root.for_each_name(|name| {
            tasks.extend(parse_number(name).map(Task::whole));
            ControlFlow::Continue(())
        });
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_SCAN_THREADS);
        // Small processes first, each by one thread; processes too big for
        // one thread are set aside and then scanned in chunks.
        let mut partials = run_tasks(root.fd(), &tasks, threads, threads > 1);
        let big: Vec<BigProcess> = partials
            .iter_mut()
            .flat_map(|p| std::mem::take(&mut p.deferred))
            .collect();
        let chunks: Vec<Task> = big.iter().flat_map(Task::chunks).collect();
        if !chunks.is_empty() {
            partials.extend(run_tasks(root.fd(), &chunks, threads, false));
        }
        ProcessMap::merge(&partials)
    }

    /// Joins the threads' results: one owner per process, inodes pointing at
    /// it, and a run of owners for each socket held by several processes.
    fn merge(partials: &[Partial]) -> ProcessMap {
        let unreadable = partials.iter().map(|p| p.unreadable).sum();
        // A process scanned in chunks appears once per chunk.
        let mut procs: Vec<(&ScannedProcess, &[(u64, u32)])> = partials
            .iter()
            .flat_map(|p| p.procs.iter().map(|s| (s, &p.inodes[s.inodes.clone()])))
            .collect();
        procs.sort_unstable_by_key(|(s, _)| s.pid);
        let total: usize = procs.iter().map(|(_, inodes)| inodes.len()).sum();
        let mut builder = Builder::new(total);
        for (scanned, holdings) in procs {
            builder.process(scanned.pid, &scanned.name, holdings.iter().copied());
        }
        builder.finish(unreadable)
    }

    /// Builds the map from the BPF iterator's `(pid, inode, fd)` records,
    /// each process's in a row, naming each process from
    /// `<proc_root>/PID/comm`. A process gone before it is named is left
    /// out with its sockets, as in [`ProcessMap::scan`].
    ///
    /// The records are taken from the end and their vector shrunk as it
    /// empties, so that a million of them (16 MB) and the map being built
    /// (27 MB) are never both whole.
    pub(super) fn from_pairs(proc_root: &Path, mut pairs: Vec<(u32, u64, u32)>) -> ProcessMap {
        let Some(root) = open_root(proc_root) else {
            return ProcessMap::default();
        };
        let mut builder = Builder::new(pairs.len());
        while let Some(&(pid, _, _)) = pairs.last() {
            let start = pairs.iter().rposition(|r| r.0 != pid).map_or(0, |i| i + 1);
            let process = open_process(root.fd(), pid);
            if let Some(name) = process.ok().and_then(|p| read_comm(p.as_fd())) {
                let name = ProcessName::from(name);
                let run = pairs[start..].iter().map(|&(_, inode, fd)| (inode, fd));
                builder.process(pid, &name, run);
            }
            pairs.truncate(start);
            if pairs.capacity() - pairs.len() > (pairs.capacity() / 8).max(1 << 16) {
                pairs.shrink_to_fit();
            }
        }
        builder.finish(0)
    }
}

/// A share of the scan: the descriptors `first_fd..end_fd` of one process.
#[derive(Debug, Clone, Copy)]
struct Task<'a> {
    pid: u32,
    /// Its `/proc/PID` directory when already open (the chunks of a big
    /// process share the one its first visit opened); else it is opened.
    process: Option<BorrowedFd<'a>>,
    first_fd: u32,
    end_fd: u32,
}

impl<'a> Task<'a> {
    /// All of a process's descriptors.
    fn whole(pid: u32) -> Task<'a> {
        Task {
            pid,
            process: None,
            first_fd: 0,
            end_fd: u32::MAX,
        }
    }

    /// A big process cut into chunks of `CHUNK_FDS` descriptor numbers;
    /// `open_fds` (the count) sizes the cut, the last chunk runs to the end
    /// so that sparse high descriptors are not missed.
    fn chunks(big: &'a BigProcess) -> impl Iterator<Item = Task<'a>> {
        let (pid, process) = (big.pid, Some(big.process.as_fd()));
        let n = big.open_fds.div_ceil(CHUNK_FDS).max(1);
        (0..n).map(move |k| Task {
            pid,
            process,
            first_fd: k * CHUNK_FDS,
            end_fd: if k + 1 == n {
                u32::MAX
            } else {
                (k + 1) * CHUNK_FDS
            },
        })
    }
}

/// What one scanning thread found.
#[derive(Default)]
struct Partial {
    procs: Vec<ScannedProcess>,
    /// Socket inodes of all `procs` with the descriptor holding each,
    /// each process's in one range.
    inodes: Vec<(u64, u32)>,
    unreadable: usize,
    /// Processes left for chunked scanning.
    deferred: Vec<BigProcess>,
}

/// A process with too many descriptors for one thread, and its open
/// `/proc/PID` directory, through which every chunk of it is read.
struct BigProcess {
    pid: u32,
    process: OwnedFd,
    open_fds: u32,
}

/// A process (or a chunk of one) that holds at least one socket.
struct ScannedProcess {
    pid: u32,
    name: ProcessName,
    inodes: std::ops::Range<usize>,
}

/// Runs `tasks` on up to `threads` threads, each taking the next task
/// until none is left.
fn run_tasks(
    root: BorrowedFd<'_>,
    tasks: &[Task],
    threads: usize,
    defer_big: bool,
) -> Vec<Partial> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut partial = Partial::default();
        while let Some(&task) = tasks.get(next.fetch_add(1, Ordering::Relaxed)) {
            scan_task(root, task, defer_big, &mut partial);
        }
        partial
    };
    let threads = threads.min(tasks.len());
    if threads <= 1 {
        return vec![work()];
    }
    std::thread::scope(|s| {
        // A helper that cannot be started leaves its share to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(s, work).ok())
            .collect();
        let mut partials = vec![work()];
        // A helper fails only by panicking; its share of owners is lost,
        // not the listing.
        partials.extend(helpers.into_iter().filter_map(|h| h.join().ok()));
        partials
    })
}

/// Scans one task into `partial`: the process's descriptors and then, if
/// it holds a socket, its name, both through one `/proc/PID` descriptor.
fn scan_task(root: BorrowedFd<'_>, task: Task<'_>, defer_big: bool, partial: &mut Partial) {
    let opened;
    let process = match task.process {
        Some(process) => process,
        None => match open_process(root, task.pid) {
            Ok(fd) => {
                opened = fd;
                opened.as_fd()
            }
            // Vanished, or not a process directory after all.
            Err(_) => return,
        },
    };
    let dir = match Dir::open_at(process, c"fd") {
        Ok(dir) => dir,
        Err(e) if is_permission(&e) => {
            partial.unreadable += usize::from(task.first_fd == 0);
            return;
        }
        Err(_) => return,
    };
    if defer_big {
        if let Some(open_fds) = proc_fd_count(dir.fd()).filter(|&n| n > CHUNK_FDS) {
            if let Ok(process) = process.try_clone_to_owned() {
                let pid = task.pid;
                partial.deferred.push(BigProcess {
                    pid,
                    process,
                    open_fds,
                });
                return;
            }
        }
    }
    if task.first_fd > 0 {
        seek_to_fd(&dir, task.first_fd);
    }
    let start = partial.inodes.len();
    if socket_inodes(&dir, task.end_fd, &mut partial.inodes).is_err() {
        partial.unreadable += usize::from(task.first_fd == 0);
    }
    if partial.inodes.len() == start {
        return;
    }
    match read_comm(process) {
        Some(name) => partial.procs.push(ScannedProcess {
            pid: task.pid,
            name: name.into(),
            inodes: start..partial.inodes.len(),
        }),
        // Gone before we could name it: its sockets went with it.
        None => partial.inodes.truncate(start),
    }
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM))
}

/// Appends the inode of every socket open in `dir` (a `/proc/PID/fd`),
/// stopping at descriptor `end_fd`. Fails if the links may not be read: the
/// directory of a process we may not trace can be listed, but its links
/// give EACCES.
fn socket_inodes(dir: &Dir, end_fd: u32, out: &mut Vec<(u64, u32)>) -> io::Result<()> {
    // "socket:[18446744073709551615]" is 29 bytes; anything that fills the
    // buffer was truncated and is a path, not a socket.
    let mut target = [0u8; 64];
    let mut result = Ok(());
    dir.for_each_name(|name| {
        // procfs lists descriptors in increasing order.
        let Some(fd) = parse_number(name) else {
            return ControlFlow::Continue(());
        };
        if fd >= end_fd {
            return ControlFlow::Break(());
        }
        match fs::readlink_at(dir.fd(), name, &mut target) {
            Ok(n) if n < target.len() => out.extend(socket_inode(&target[..n]).map(|i| (i, fd))),
            // Denied for one link is denied for all of them.
            Err(e) if is_permission(&e) => {
                result = Err(e);
                return ControlFlow::Break(());
            }
            // Closed since readdir listed it, or a truncated path.
            Ok(_) | Err(_) => {}
        }
        ControlFlow::Continue(())
    });
    result
}

/// Parses a link target `socket:[12345]`; anything else is `None`.
pub(crate) fn socket_inode(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A `/proc` entry name that is a pid, or an fd entry's number.
fn parse_number(name: &CStr) -> Option<u32> {
    let bytes = name.to_bytes();
    if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Longest `comm` read: the kernel's is at most 15 bytes and a newline; a
/// fixture's longer name is cut here rather than read without end.
const MAX_COMM: usize = 64;

/// Opens `PID` below the `/proc` root: the descriptor every later read of
/// the process goes through.
fn open_process(root: BorrowedFd<'_>, pid: u32) -> io::Result<OwnedFd> {
    fs::open_at(
        root,
        PidPath::new(pid).as_cstr(),
        libc::O_RDONLY | libc::O_DIRECTORY,
    )
}

/// Reads `comm` of the process whose `/proc/PID` is `process`; `None` if
/// the process is gone (ENOENT, ESRCH), even if its pid was reused since.
/// Non-blocking, so a FIFO in a fixture tree cannot stall the scan.
fn read_comm(process: BorrowedFd<'_>) -> Option<String> {
    let fd = fs::open_at(process, c"comm", libc::O_RDONLY | libc::O_NONBLOCK).ok()?;
    let mut buf = Vec::new();
    fs::read_bounded(&mut std::fs::File::from(fd), &mut buf, MAX_COMM).ok()?;
    let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
    Some(String::from_utf8_lossy(text).into_owned())
}

/// `PID` as a NUL-terminated path on the stack.
struct PidPath {
    buf: [u8; 12],
    len: usize,
}

impl PidPath {
    fn new(pid: u32) -> PidPath {
        use std::io::Write;
        let mut buf = [0u8; 12];
        let mut cursor = &mut buf[..];
        // At most 10 digits + NUL: always fits.
        write!(cursor, "{pid}\0").expect("a pid fits in 12 bytes");
        let len = 12 - cursor.len();
        PidPath { buf, len }
    }

    fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_with_nul(&self.buf[..self.len]).expect("one NUL, at the end")
    }
}

/// Opens the `/proc` root (or a fixture tree) as a directory stream.
fn open_root(path: &Path) -> Option<Dir> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    Dir::open(&path).ok()
}

/// Positions `dir`, a procfs fd directory, at descriptor `fd`: its
/// directory offsets are descriptor numbers plus 2.
fn seek_to_fd(dir: &Dir, fd: u32) {
    dir.seek(libc::c_long::from(fd) + 2);
}

/// The number of open descriptors of a `/proc/PID/fd` directory (its size
/// since Linux 6.2), or `None` if unknown or if `fd` is not on procfs, where
/// only directory offsets are descriptor numbers and chunking is sound.
fn proc_fd_count(fd: BorrowedFd<'_>) -> Option<u32> {
    if fs::fstatfs(fd).ok()?.f_type != libc::PROC_SUPER_MAGIC {
        return None;
    }
    let st = fs::fstat(fd).ok()?;
    u32::try_from(st.st_size).ok().filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{symlink, MetadataExt};
    use std::path::PathBuf;

    /// A scratch directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("tcpstat-process-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        /// A fake `/proc/PID` with fd links and, if given, a comm file.
        fn process(&self, pid: &str, comm: Option<&[u8]>, fds: &[(u32, &str)]) {
            let dir = self.0.join(pid);
            std::fs::create_dir_all(dir.join("fd")).unwrap();
            for (fd, target) in fds {
                symlink(target, dir.join("fd").join(fd.to_string())).unwrap();
            }
            if let Some(comm) = comm {
                std::fs::write(dir.join("comm"), comm).unwrap();
            }
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn owner(pid: u32, fd: u32, name: &str) -> crate::model::Owner {
        crate::model::Owner {
            pid,
            fd,
            name: name.into(),
        }
    }

    fn socket_inode_of(fd: &impl AsRawFd) -> u64 {
        std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .unwrap()
            .ino()
    }

    fn own_comm() -> String {
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        comm.trim_end_matches('\n').to_string()
    }

    #[test]
    fn finds_our_own_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = socket_inode_of(&listener);
        let map = ProcessMap::scan(Path::new("/proc"));
        let me = owner(std::process::id(), listener.as_raw_fd() as u32, &own_comm());
        assert!(map.owners(inode).contains(&me), "{:?}", map.owners(inode));
    }

    /// More than `CHUNK_FDS` open descriptors: the process is scanned in
    /// chunks by several threads and must still come out whole, once.
    #[test]
    fn big_process_is_scanned_in_chunks_without_loss() {
        let needed = 2 * CHUNK_FDS as u64 + 100;
        let mut limit = crate::sys::process::open_files_limit().unwrap();
        if limit.rlim_cur < needed {
            if limit.rlim_max < needed {
                eprintln!("skipped: RLIMIT_NOFILE hard limit below {needed}");
                return;
            }
            limit.rlim_cur = needed;
            crate::sys::process::set_open_files_limit(&limit).unwrap();
        }
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let filler: Vec<_> = (0..CHUNK_FDS + 200)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        let last = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(last.as_raw_fd() as u32 > CHUNK_FDS);
        let map = ProcessMap::scan(Path::new("/proc"));
        let me = std::process::id();
        for listener in [&first, &last] {
            let mine: Vec<_> = map
                .owners(socket_inode_of(listener))
                .iter()
                .filter(|o| o.pid == me)
                .collect();
            assert_eq!(mine.len(), 1, "fd {}", listener.as_raw_fd());
        }
        drop(filler);
    }

    #[test]
    fn fixture_proc_root() {
        let root = TempDir::new("fixture");
        root.process(
            "100",
            Some(b"nginx\n"),
            &[
                (3, "socket:[999]"),
                (4, "socket:[999]"), // dup'ed: one owner per descriptor
                (5, "/dev/null"),
                (6, "socket:[abc]"),
                (7, "socket:[1000]"),
                (8, "socket:[]"),
                (9, "pipe:[1001]"),
            ],
        );
        root.process("200", Some(b"worker\n"), &[(3, "socket:[999]")]);
        // Died between listing its fds and reading its comm.
        root.process("300", None, &[(3, "socket:[555]")]);
        // Not a pid.
        root.process("self", Some(b"x\n"), &[(3, "socket:[777]")]);
        // Died before its fd directory was read.
        std::fs::create_dir(root.0.join("400")).unwrap();
        std::fs::write(root.0.join("uptime"), "1.0 2.0\n").unwrap();
        // Untrusted name bytes are kept, not interpreted.
        root.process("500", Some(b"\x1b[31mevil\xff\n"), &[(0, "socket:[42]")]);

        let map = ProcessMap::scan(&root.0);
        assert_eq!(
            map.owners(999),
            [
                owner(100, 3, "nginx"),
                owner(100, 4, "nginx"),
                owner(200, 3, "worker")
            ]
        );
        assert_eq!(map.owners(1000), [owner(100, 7, "nginx")]);
        assert_eq!(map.owners(42), [owner(500, 0, "\u{1b}[31mevil\u{fffd}")]);
        // Slots number processes: one label per process.
        let slots: Vec<usize> = map.owners_with_slots(999).map(|(s, _)| s).collect();
        assert_eq!(
            (slots[0], slots[0]),
            (slots[1], map.first_owner(1000).unwrap().0)
        );
        assert_ne!(slots[0], slots[2]);
        assert_eq!(map.slots(), 3);
        for absent in [555, 777, 1001, 0, 4242] {
            assert_eq!(map.owners(absent), [], "inode {absent}");
        }
        assert_eq!(map.unreadable(), 0);
    }

    /// The descriptor of this process open on `path`, if any.
    fn open_descriptor_on(path: &Path) -> bool {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .any(|target| target == path)
    }

    /// The process visited is the one whose descriptors were read, even if
    /// its pid goes to another process halfway through: here `100` is
    /// renamed away and a new `100` with another name and socket takes its
    /// place while the scan is reading the old one's descriptors. Its
    /// sockets must keep the old name (read through the same `/proc/PID`
    /// descriptor as `fd/`), never the newcomer's.
    #[test]
    fn a_reused_pid_does_not_rename_the_sockets_of_the_old_process() {
        let root = TempDir::new("reuse");
        let mut fds = 20_000;
        for _attempt in 0..4 {
            let _ = std::fs::remove_dir_all(root.0.join("100"));
            let _ = std::fs::remove_dir_all(root.0.join("100-gone"));
            let links: Vec<(u32, String)> = (0..fds)
                .map(|fd| (fd, format!("socket:[{}]", 1000 + fd)))
                .collect();
            let links: Vec<(u32, &str)> = links.iter().map(|(fd, t)| (*fd, t.as_str())).collect();
            root.process("100", Some(b"old\n"), &links);
            let old_fd_dir = root.0.join("100/fd");
            let gone_fd_dir = root.0.join("100-gone/fd");
            let (map, mid_scan) = std::thread::scope(|s| {
                let scan = s.spawn(|| ProcessMap::scan(&root.0));
                while !open_descriptor_on(&old_fd_dir) && !scan.is_finished() {}
                std::fs::rename(root.0.join("100"), root.0.join("100-gone")).unwrap();
                root.process("100", Some(b"new\n"), &[(3, "socket:[7]")]);
                // Still reading the old descriptors after the swap?
                let mid_scan = open_descriptor_on(&gone_fd_dir);
                (scan.join().unwrap(), mid_scan)
            });
            if !mid_scan {
                fds *= 2; // the scan was too quick to catch: more to read
                continue;
            }
            assert_eq!(map.owners(1000), [owner(100, 0, "old")]);
            let last = fds - 1;
            assert_eq!(
                map.owners(1000 + u64::from(last)),
                [owner(100, last, "old")]
            );
            assert_eq!(map.owners(7), []);
            return;
        }
        panic!("the scan always ended before the pid could be reused");
    }

    #[test]
    fn missing_proc_root_gives_an_empty_map() {
        let map = ProcessMap::scan(Path::new("/nonexistent/tcpstat-proc"));
        assert_eq!(map.owners(1), []);
        assert_eq!(map.unreadable(), 0);
    }

    #[test]
    fn socket_link_targets() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"socket:[0]"), Some(0));
        assert_eq!(
            socket_inode(b"socket:[18446744073709551615]"),
            Some(u64::MAX)
        );
        for bad in [
            &b"socket:[18446744073709551616]"[..],
            b"socket:[]",
            b"socket:[abc]",
            b"socket:[12",
            b"socket:12]",
            b"socket:[-1]",
            b"socket:[1 ]",
            b"pipe:[12]",
            b"/tmp/socket:[12]",
            b"",
        ] {
            assert_eq!(
                socket_inode(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn chunks_cover_every_descriptor_once() {
        let big = BigProcess {
            pid: 7,
            process: std::fs::File::open("/proc/self").unwrap().into(),
            open_fds: 3 * CHUNK_FDS + 1,
        };
        let chunks: Vec<Task> = Task::chunks(&big).collect();
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[0].first_fd, 0);
        assert_eq!(chunks.last().unwrap().end_fd, u32::MAX);
        for pair in chunks.windows(2) {
            assert_eq!(pair[0].end_fd, pair[1].first_fd);
        }
        assert!(chunks.iter().all(|t| t.pid == 7));
    }
}
