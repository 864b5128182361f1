//! Which processes own which sockets, for `-p`: one pass over `/proc/*/fd`.
//!
//! The kernel tells us a socket's inode, not its owner; the only way to find
//! owners is to read every open file descriptor of every process and keep
//! those whose link target is `socket:[INODE]`. At 100k sockets that pass is
//! the whole cost of `-p`, so it is kept close to its floor of one
//! `readlinkat` per open descriptor: fd directories are opened relative to a
//! directory descriptor, entries are read with `readdir` and links with
//! `readlinkat` into a stack buffer, with no path built or allocated per
//! descriptor. `comm` is read only for processes that own a socket. Two
//! threads share the work: whole processes, and then the descriptors of any
//! process too big for one thread, in chunks.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

mod bpf;
mod btf;

pub use crate::model::Owner;
use crate::model::Owners;

/// Socket inode → the processes that hold it open.
///
/// A socket can be shared by several processes (after `fork`, or passed over
/// a Unix socket); each process is listed once, in pid order, however many
/// descriptors it has on the socket.
#[derive(Debug, Default)]
pub struct ProcessMap {
    /// One owner per process holding a socket, then a run of owners for
    /// each socket held by several processes.
    owners: Vec<Owner>,
    by_inode: HashMap<u64, Span, BuildHasherDefault<InodeHasher>>,
    unreadable: usize,
}

/// Hashes socket inodes with one multiply. SipHash's defence against
/// chosen keys buys nothing for numbers the kernel hands out, and cost 4% of
/// a `-tanpo` run at 120k sockets (one lookup per row).
#[derive(Default)]
struct InodeHasher(u64);

impl Hasher for InodeHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // An odd constant (2^64 / golden ratio): a bijection that carries
        // low bits upward, where the table takes its tag bits.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        // Fold the well-mixed high half into the low bits that pick a bucket.
        self.0 ^ (self.0 >> 32)
    }
}

/// Where an inode's owners sit in `ProcessMap::owners`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

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
        let Some(root) = DirStream::open(proc_root) else {
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
        let chunks: Vec<Task> = partials
            .iter()
            .flat_map(|p| &p.deferred)
            .flat_map(|&(pid, fds)| Task::chunks(pid, fds))
            .collect();
        if !chunks.is_empty() {
            partials.extend(run_tasks(root.fd(), &chunks, threads, false));
        }
        ProcessMap::merge(&partials)
    }

    /// The processes holding socket `inode`, in pid order; empty if none
    /// (or if the inode is 0, as for TIME_WAIT sockets).
    pub fn owners(&self, inode: u64) -> &[Owner] {
        match self.by_inode.get(&inode) {
            Some(span) => {
                let start = span.start as usize;
                &self.owners[start..start + span.len as usize]
            }
            None => &[],
        }
    }

    /// The first of `inode`'s owners (the one netstat shows) and a slot
    /// number for it, below [`ProcessMap::slots`], for a caller that keeps
    /// something per owner, such as its formatted label.
    pub fn first_owner(&self, inode: u64) -> Option<(usize, &Owner)> {
        let span = self.by_inode.get(&inode)?;
        let slot = span.start as usize;
        Some((slot, &self.owners[slot]))
    }

    /// The number of slots [`ProcessMap::first_owner`] numbers from.
    pub fn slots(&self) -> usize {
        self.owners.len()
    }

    /// Number of processes whose fd directory or links could not be read for
    /// lack of permission: when not zero, some sockets may lack an owner
    /// (netstat's "Not all processes could be identified").
    pub fn unreadable(&self) -> usize {
        self.unreadable
    }

    /// Joins the threads' results: one owner per process, inodes pointing at
    /// it, and a run of owners for each socket held by several processes.
    fn merge(partials: &[Partial]) -> ProcessMap {
        let unreadable = partials.iter().map(|p| p.unreadable).sum();
        // A process scanned in chunks appears once per chunk.
        let mut procs: Vec<(&ScannedProcess, &[u64])> = partials
            .iter()
            .flat_map(|p| p.procs.iter().map(|s| (s, &p.inodes[s.inodes.clone()])))
            .collect();
        procs.sort_unstable_by_key(|(s, _)| s.pid);
        let total: usize = procs.iter().map(|(_, inodes)| inodes.len()).sum();
        let mut by_inode = HashMap::with_capacity_and_hasher(total, Default::default());
        let mut owners: Vec<Owner> = Vec::new();
        // (inode, owner index) for every holder after an inode's first.
        let mut shared: Vec<(u64, u32)> = Vec::new();
        for (scanned, inodes) in procs {
            if owners.last().is_none_or(|o| o.pid != scanned.pid) {
                owners.push(Owner {
                    pid: scanned.pid,
                    name: scanned.name.clone(),
                });
            }
            let idx = (owners.len() - 1) as u32;
            for &inode in inodes {
                let span = by_inode.entry(inode).or_insert(Span { start: idx, len: 1 });
                if span.start != idx {
                    shared.push((inode, idx));
                }
            }
        }
        shared.sort_unstable();
        shared.dedup();
        for group in shared.chunk_by(|a, b| a.0 == b.0) {
            let span = by_inode
                .get_mut(&group[0].0)
                .expect("shared inode was inserted");
            let start = owners.len();
            owners.push(owners[span.start as usize].clone());
            for &(_, idx) in group {
                owners.push(owners[idx as usize].clone());
            }
            owners[start..].sort_unstable_by_key(|o| o.pid);
            *span = Span {
                start: start as u32,
                len: (owners.len() - start) as u32,
            };
        }
        ProcessMap {
            owners,
            by_inode,
            unreadable,
        }
    }
}

impl Owners for ProcessMap {
    fn owners_of(&self, inode: u64) -> &[Owner] {
        self.owners(inode)
    }
}

/// Where `-p` finds owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OwnerSource {
    /// The BPF iterator when it can be used and pays (see
    /// [`BPF_FROM_OPEN_FILES`]), otherwise `/proc`.
    #[default]
    Auto,
    /// Only the BPF iterator; an error if it cannot be used.
    Bpf,
    /// Only `/proc/*/fd`.
    Proc,
}

/// From this many open files on the machine (`/proc/sys/fs/file-nr`), a
/// single scan under `auto` uses the BPF iterator. Loading it costs about
/// 4.5 ms; reading `/proc` about 2.3 µs per descriptor (wall time, two
/// threads): at 1,000, 2,000, 3,000 and 5,000 extra sockets `tcpstat -tanp`
/// took 6.0/6.1/6.4/6.9 ms with the iterator and 4.5/6.6/8.0/10.4 ms with
/// `/proc`. Repeated scans (watch mode) load it once and always use it.
pub const BPF_FROM_OPEN_FILES: u64 = 2048;

/// Finds owners pass after pass. The BPF iterator, when used, is loaded on
/// the first scan and kept for the next ones.
pub struct OwnerScanner {
    proc_root: PathBuf,
    source: OwnerSource,
    /// Whether scans will repeat (watch mode), which pays for loading the
    /// iterator whatever the machine's size.
    repeated: bool,
    /// `None` until the first scan that may use BPF; then the loaded
    /// iterator, or why it cannot be used.
    bpf: Option<Result<bpf::TaskFiles, String>>,
    /// How the last scan was made, for `-v`.
    last: Option<String>,
}

impl OwnerScanner {
    pub fn new(proc_root: &Path, source: OwnerSource, repeated: bool) -> OwnerScanner {
        OwnerScanner {
            proc_root: proc_root.to_path_buf(),
            source,
            repeated,
            bpf: None,
            last: None,
        }
    }

    /// One scan. Fails only when BPF was asked for and cannot be used.
    pub fn scan(&mut self) -> Result<ProcessMap, String> {
        // A fixture tree has no kernel behind it.
        let (may_use_bpf, mut why_not) = match self.source {
            OwnerSource::Proc => (false, String::new()),
            OwnerSource::Auto if self.proc_root != Path::new("/proc") => (false, String::new()),
            // Once loaded, the iterator is the cheaper one.
            OwnerSource::Auto if self.bpf.is_some() => (true, String::new()),
            OwnerSource::Auto => match auto_wants_bpf(self.repeated, open_files) {
                Ok(()) => (true, String::new()),
                Err(why) => (false, why),
            },
            OwnerSource::Bpf => (true, String::new()),
        };
        if may_use_bpf {
            let iter = self.bpf.get_or_insert_with(load_bpf);
            why_not = match iter.as_ref().map(|it| it.run()) {
                Ok(Ok(pairs)) => {
                    self.last = Some("the BPF task-file iterator".into());
                    return Ok(ProcessMap::from_pairs(&self.proc_root, &pairs));
                }
                Ok(Err(e)) => format!("cannot run the BPF task-file iterator: {e}"),
                Err(e) => e.clone(),
            };
        }
        if self.source == OwnerSource::Bpf {
            return Err(why_not);
        }
        self.last = Some(if why_not.is_empty() {
            "/proc/*/fd".into()
        } else {
            format!("/proc/*/fd ({why_not})")
        });
        Ok(ProcessMap::scan(&self.proc_root))
    }

    /// How the last scan found owners, for `-v`.
    pub fn describe(&self) -> Option<&str> {
        self.last.as_deref()
    }
}

/// Whether `auto` should load the iterator, or why not: a single scan on a
/// machine with few open files reads `/proc` faster. `open_files` is read
/// only when it matters.
fn auto_wants_bpf(repeated: bool, open_files: impl FnOnce() -> Option<u64>) -> Result<(), String> {
    if repeated {
        return Ok(());
    }
    match open_files() {
        Some(n) if n < BPF_FROM_OPEN_FILES => Err(format!(
            "{n} open files, fewer than {BPF_FROM_OPEN_FILES}: faster than loading the BPF iterator"
        )),
        _ => Ok(()),
    }
}

/// The number of open files on the machine: the first field of
/// `/proc/sys/fs/file-nr` (file structures in use).
fn open_files() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/fs/file-nr").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Loads the iterator, if its answers mean what `/proc` would say here.
fn load_bpf() -> Result<bpf::TaskFiles, String> {
    if !in_initial_pid_namespace() {
        // The iterator gives pids as the initial namespace numbers them.
        return Err("tcpstat runs in a pid namespace, where the BPF iterator's pids are not this namespace's".into());
    }
    bpf::TaskFiles::load().map_err(|e| format!("cannot load the BPF task-file iterator: {e}"))
}

/// Whether this process is in the initial pid namespace, whose inode number
/// is fixed (PROC_PID_INIT_INO).
fn in_initial_pid_namespace() -> bool {
    use std::os::unix::fs::MetadataExt;
    const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;
    std::fs::metadata("/proc/self/ns/pid").is_ok_and(|m| m.ino() == PROC_PID_INIT_INO)
}

impl ProcessMap {
    /// Builds the map from `(pid, inode)` pairs, each process's in a row,
    /// naming each process from `<proc_root>/PID/comm`. A process gone before
    /// it is named is left out with its sockets, as in [`ProcessMap::scan`].
    fn from_pairs(proc_root: &Path, pairs: &[(u32, u64)]) -> ProcessMap {
        let Some(root) = DirStream::open(proc_root) else {
            return ProcessMap::default();
        };
        let mut partial = Partial::default();
        for run in pairs.chunk_by(|a, b| a.0 == b.0) {
            let pid = run[0].0;
            let Some(name) = read_comm(root.fd(), pid) else {
                continue;
            };
            let start = partial.inodes.len();
            partial.inodes.extend(run.iter().map(|&(_, inode)| inode));
            partial.procs.push(ScannedProcess {
                pid,
                name,
                inodes: start..partial.inodes.len(),
            });
        }
        ProcessMap::merge(std::slice::from_ref(&partial))
    }
}

/// A share of the scan: the descriptors `first_fd..end_fd` of one process.
#[derive(Debug, Clone, Copy)]
struct Task {
    pid: u32,
    first_fd: u32,
    end_fd: u32,
}

impl Task {
    /// All of a process's descriptors.
    fn whole(pid: u32) -> Task {
        Task {
            pid,
            first_fd: 0,
            end_fd: u32::MAX,
        }
    }

    /// A big process cut into chunks of `CHUNK_FDS` descriptor numbers;
    /// `open_fds` (the count) sizes the cut, the last chunk runs to the end
    /// so that sparse high descriptors are not missed.
    fn chunks(pid: u32, open_fds: u32) -> impl Iterator<Item = Task> {
        let n = open_fds.div_ceil(CHUNK_FDS).max(1);
        (0..n).map(move |k| Task {
            pid,
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
    /// Socket inodes of all `procs`, each process's in one range.
    inodes: Vec<u64>,
    unreadable: usize,
    /// Processes left for chunked scanning: (pid, open descriptors).
    deferred: Vec<(u32, u32)>,
}

/// A process (or a chunk of one) that holds at least one socket.
struct ScannedProcess {
    pid: u32,
    name: String,
    inodes: std::ops::Range<usize>,
}

/// Runs `tasks` on up to `threads` threads, each taking the next task
/// until none is left.
fn run_tasks(root: RawFd, tasks: &[Task], threads: usize, defer_big: bool) -> Vec<Partial> {
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

/// Scans one task into `partial`.
fn scan_task(root: RawFd, task: Task, defer_big: bool, partial: &mut Partial) {
    let dir = match DirStream::open_at(root, PidPath::new(task.pid, "fd").as_cstr()) {
        Ok(dir) => dir,
        Err(e) if is_permission(&e) => {
            partial.unreadable += usize::from(task.first_fd == 0);
            return;
        }
        // Vanished, or not a process directory after all.
        Err(_) => return,
    };
    if defer_big {
        if let Some(open_fds) = proc_fd_count(dir.fd()).filter(|&n| n > CHUNK_FDS) {
            partial.deferred.push((task.pid, open_fds));
            return;
        }
    }
    if task.first_fd > 0 {
        dir.seek_to_fd(task.first_fd);
    }
    let start = partial.inodes.len();
    if socket_inodes(&dir, task.end_fd, &mut partial.inodes).is_err() {
        partial.unreadable += usize::from(task.first_fd == 0);
    }
    if partial.inodes.len() == start {
        return;
    }
    match read_comm(root, task.pid) {
        Some(name) => partial.procs.push(ScannedProcess {
            pid: task.pid,
            name,
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
fn socket_inodes(dir: &DirStream, end_fd: u32, out: &mut Vec<u64>) -> io::Result<()> {
    // "socket:[18446744073709551615]" is 29 bytes; anything that fills the
    // buffer was truncated and is a path, not a socket.
    let mut target = [0u8; 64];
    let mut result = Ok(());
    dir.for_each_name(|name| {
        // procfs lists descriptors in increasing order.
        if parse_number(name).is_some_and(|fd| fd >= end_fd) {
            return ControlFlow::Break(());
        }
        match readlink_at(dir.fd(), name, &mut target) {
            Ok(n) if n < target.len() => out.extend(socket_inode(&target[..n])),
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
fn socket_inode(target: &[u8]) -> Option<u64> {
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

/// Reads `/proc/PID/comm`; `None` if the process is gone.
fn read_comm(root: RawFd, pid: u32) -> Option<String> {
    let path = PidPath::new(pid, "comm");
    let fd = open_at(root, path.as_cstr(), libc::O_RDONLY).ok()?;
    let mut file = std::fs::File::from(fd);
    // comm is at most 16 bytes; a fixture may be longer, which is harmless.
    let mut buf = Vec::with_capacity(32);
    file.read_to_end(&mut buf).ok()?;
    let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
    Some(String::from_utf8_lossy(text).into_owned())
}

/// `PID/leaf` as a NUL-terminated path on the stack.
struct PidPath {
    buf: [u8; 24],
    len: usize,
}

impl PidPath {
    fn new(pid: u32, leaf: &str) -> PidPath {
        use std::io::Write;
        let mut buf = [0u8; 24];
        let mut cursor = &mut buf[..];
        // At most 10 digits + "/comm" + NUL: always fits.
        write!(cursor, "{pid}/{leaf}\0").expect("pid path fits in 24 bytes");
        let len = 24 - cursor.len();
        PidPath { buf, len }
    }

    fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_with_nul(&self.buf[..self.len]).expect("one NUL, at the end")
    }
}

// ---- FFI edge: directory streams and links relative to a directory fd. ----

/// `openat(dirfd, path, flags | O_CLOEXEC)`.
fn open_at(dirfd: RawFd, path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and outlives the call; openat does not
    // keep the pointer.
    let fd = unsafe { libc::openat(dirfd, path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The number of open descriptors of a `/proc/PID/fd` directory (its size
/// since Linux 6.2), or `None` if unknown or if `fd` is not on procfs, where
/// only directory offsets are descriptor numbers and chunking is sound.
fn proc_fd_count(fd: RawFd) -> Option<u32> {
    // SAFETY: all-zero bytes are a valid `statfs` and `stat` (plain integers).
    let (mut fs, mut st): (libc::statfs, libc::stat) = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open and `fs` is a writable statfs.
    if unsafe { libc::fstatfs(fd, &mut fs) } != 0 || fs.f_type != libc::PROC_SUPER_MAGIC {
        return None;
    }
    // SAFETY: `fd` is open and `st` is a writable stat.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    u32::try_from(st.st_size).ok().filter(|&n| n > 0)
}

/// `readlinkat(dirfd, name)` into `buf`; returns the length written (the
/// target is truncated to `buf.len()`).
fn readlink_at(dirfd: RawFd, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `name` is NUL-terminated; `buf` is valid for `buf.len()` bytes
    // of writes, which is the size readlinkat is given.
    let n = unsafe { libc::readlinkat(dirfd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// An open directory read with `readdir`, which fetches entries in large
/// batches (getdents64) and hands out names without allocating.
struct DirStream {
    dir: std::ptr::NonNull<libc::DIR>,
}

impl DirStream {
    fn open(path: &Path) -> Option<DirStream> {
        let path = CString::new(path.as_os_str().as_bytes()).ok()?;
        DirStream::open_at(libc::AT_FDCWD, &path).ok()
    }

    fn open_at(dirfd: RawFd, path: &CStr) -> io::Result<DirStream> {
        let fd = open_at(dirfd, path, libc::O_RDONLY | libc::O_DIRECTORY)?;
        let raw = fd.as_raw_fd();
        // SAFETY: `raw` is an open directory descriptor; on success the
        // stream owns it (closedir closes it), so ownership is released below.
        let dir = unsafe { libc::fdopendir(raw) };
        match std::ptr::NonNull::new(dir) {
            Some(dir) => {
                std::mem::forget(fd);
                Ok(DirStream { dir })
            }
            None => Err(io::Error::last_os_error()),
        }
    }

    /// The descriptor under the stream, for `*at` calls relative to it.
    fn fd(&self) -> RawFd {
        // SAFETY: `self.dir` is an open stream until drop.
        unsafe { libc::dirfd(self.dir.as_ptr()) }
    }

    /// Positions the stream at descriptor `fd` of a procfs fd directory,
    /// whose directory offsets are descriptor numbers plus 2.
    fn seek_to_fd(&self, fd: u32) {
        // SAFETY: `self.dir` is an open stream; seekdir only moves it.
        unsafe { libc::seekdir(self.dir.as_ptr(), libc::c_long::from(fd) + 2) };
    }

    /// Calls `f` with each entry name except `.` and `..`, until the end or
    /// an error. A name is only valid until the next entry is read, so it is
    /// lent to `f` rather than returned.
    fn for_each_name(&self, mut f: impl FnMut(&CStr) -> ControlFlow<()>) {
        loop {
            // SAFETY: `self.dir` is an open stream, read on one thread only
            // (DirStream is neither Send nor Sync).
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

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: the stream is open and is closed exactly once, here.
        unsafe { libc::closedir(self.dir.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_loads_the_iterator_for_big_machines_and_for_watch_mode() {
        let files = |n: u64| move || Some(n);
        assert_eq!(
            auto_wants_bpf(false, files(300)),
            Err("300 open files, fewer than 2048: faster than loading the BPF iterator".into())
        );
        assert!(auto_wants_bpf(false, files(2047)).is_err());
        assert_eq!(auto_wants_bpf(false, files(2048)), Ok(()));
        assert_eq!(auto_wants_bpf(false, files(120_000)), Ok(()));
        // Unknown: the iterator, which does not get slower with size.
        assert_eq!(auto_wants_bpf(false, || None), Ok(()));
        // Watch mode: loaded once, cheaper every pass; file-nr is not read.
        assert_eq!(auto_wants_bpf(true, || panic!("read file-nr")), Ok(()));
        let n = open_files().expect("file-nr on Linux");
        assert!(n > 0);
    }
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

    fn owner(pid: u32, name: &str) -> Owner {
        Owner {
            pid,
            name: name.to_string(),
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
        let me = owner(std::process::id(), &own_comm());
        assert!(map.owners(inode).contains(&me), "{:?}", map.owners(inode));
    }

    /// More than `CHUNK_FDS` open descriptors: the process is scanned in
    /// chunks by several threads and must still come out whole, once.
    #[test]
    fn big_process_is_scanned_in_chunks_without_loss() {
        let needed = 2 * CHUNK_FDS as u64 + 100;
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a writable rlimit.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        if limit.rlim_cur < needed {
            if limit.rlim_max < needed {
                eprintln!("skipped: RLIMIT_NOFILE hard limit below {needed}");
                return;
            }
            limit.rlim_cur = needed;
            // SAFETY: `limit` is a valid rlimit within the hard limit.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
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
                (4, "socket:[999]"), // dup'ed: still one owner
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
        assert_eq!(map.owners(999), [owner(100, "nginx"), owner(200, "worker")]);
        assert_eq!(map.owners(1000), [owner(100, "nginx")]);
        assert_eq!(map.owners(42), [owner(500, "\u{1b}[31mevil\u{fffd}")]);
        for absent in [555, 777, 1001, 0, 4242] {
            assert_eq!(map.owners(absent), [], "inode {absent}");
        }
        assert_eq!(map.unreadable(), 0);
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
        let chunks: Vec<Task> = Task::chunks(7, 3 * CHUNK_FDS + 1).collect();
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[0].first_fd, 0);
        assert_eq!(chunks.last().unwrap().end_fd, u32::MAX);
        for pair in chunks.windows(2) {
            assert_eq!(pair[0].end_fd, pair[1].first_fd);
        }
        assert!(chunks.iter().all(|t| t.pid == 7));
    }
}
