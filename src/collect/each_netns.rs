//! `-N all`: one dump per network namespace. Worker threads (as many as
//! there are CPUs, at most `MAX_WORKERS`) take the namespaces in turn,
//! enter each with setns (which moves only the calling thread), dump it
//! with a socket opened there, and tag its rows with its inode. Owners need
//! no namespace: socket inodes are unique on the host, so one process scan
//! serves them all.
//!
//! Each namespace's rows go to the calling thread as its dump ends, so a
//! listing can be written while the other namespaces are still read.
//!
//! A namespace that vanished since it was found (its last process exited,
//! its mount was removed) is skipped and said under `-v`, never an error.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};

use crate::error::{note, Result};
use crate::model::Socket;
use crate::source::{self, Flush, Request, Used};

/// Most threads dumping namespaces at once.
const MAX_WORKERS: usize = 8;

/// A namespace to dump: its inode (what rows are tagged with) and a path
/// that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub inode: u64,
    pub path: PathBuf,
}

impl From<&crate::netns::all::Found> for Target {
    fn from(found: &crate::netns::all::Found) -> Target {
        Target {
            inode: found.inode,
            path: found.path.clone(),
        }
    }
}

impl Target {
    /// Whether the path still opens this namespace. `ip netns delete`
    /// unmounts the namespace and then removes the file it was mounted
    /// on: in between, the path is a plain file, and the namespace is gone
    /// all the same.
    pub fn still_there(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.inode)
    }

    /// Runs `f` on a thread inside the namespace ([`crate::netns::within`]);
    /// `None` when the namespace cannot be entered any more (gone since it
    /// was found), said under `verbose`.
    pub fn within<T: Send>(&self, verbose: bool, f: impl FnOnce() -> T + Send) -> Option<T> {
        match crate::netns::within(&self.path, f) {
            Ok(value) => Some(value),
            Err(e) => {
                if verbose {
                    note(format_args!(
                        "network namespace net:[{}] is gone: {e}",
                        self.inode
                    ));
                }
                None
            }
        }
    }
}

/// What a worker hands over for one namespace: its inode and its rows (or
/// why it could not be read), and the source that read them.
type Dumped = (u64, Result<(Used, Vec<Socket>)>);

/// Dumps every target into `out` (cleared first), each row tagged with its
/// namespace. The source used is /proc if any namespace needed it.
pub fn dump_each(req: &Request<'_>, targets: &[Target], out: &mut Vec<Socket>) -> Result<Used> {
    stream_each(req, targets, out, &mut |_| Ok(()))
}

/// [`dump_each`], handing the rows to `flush` (on the calling thread) as
/// each namespace's dump ends, in the order they end: rows `flush` leaves
/// stay in `out`, and the next namespace's are appended after them. At
/// most one namespace per worker is held besides `out`. An error (from a
/// dump or from `flush`) stops the workers before their next namespace
/// and is returned.
pub fn stream_each(
    req: &Request<'_>,
    targets: &[Target],
    out: &mut Vec<Socket>,
    flush: &mut Flush<'_>,
) -> Result<Used> {
    out.clear();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS)
        .min(targets.len());
    let mut used = None;
    let mut failed = None;
    std::thread::scope(|scope| {
        // One slot per worker: a worker whose namespace is not taken yet
        // waits before reading another.
        let (send, receive) = mpsc::sync_channel::<Dumped>(workers);
        for _ in 0..workers {
            let send = send.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || work(req, targets, next, stop, &send));
        }
        drop(send);
        for (inode, dumped) in receive {
            if failed.is_some() {
                continue; // draining: the workers stop at their next turn
            }
            let taken = dumped.and_then(|(source, mut rows)| {
                used = Some(match (used, source) {
                    (Some(Used::Proc), _) | (_, Used::Proc) => Used::Proc,
                    _ => Used::Netlink,
                });
                rows.iter_mut().for_each(|s| s.netns = inode);
                match out.is_empty() {
                    true => std::mem::swap(out, &mut rows),
                    false => out.append(&mut rows),
                }
                flush(out)
            });
            if let Err(e) = taken {
                stop.store(true, Ordering::Relaxed);
                failed = Some(e);
            }
        }
    });
    match failed {
        Some(error) => Err(error),
        None => Ok(used.unwrap_or(Used::Netlink)),
    }
}

/// One worker: takes targets until none is left, one failed or the
/// taker stopped.
fn work(
    req: &Request<'_>,
    targets: &[Target],
    next: &AtomicUsize,
    stop: &AtomicBool,
    send: &SyncSender<Dumped>,
) {
    // /proc/net is the thread group leader's namespace; this thread's own
    // is /proc/thread-self/net.
    let thread_proc = PathBuf::from("/proc/thread-self");
    let proc_root = if req.proc_root == Path::new("/proc") {
        thread_proc.as_path()
    } else {
        req.proc_root
    };
    let req = Request { proc_root, ..*req };
    while !stop.load(Ordering::Relaxed) {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(target) = targets.get(i) else {
            return;
        };
        let entered = crate::netns::open(&target.path)
            .and_then(|file| crate::netns::enter_file(&target.path, &file));
        if let Err(e) = entered {
            if target.still_there() {
                // Not for want of the namespace: privilege, most likely.
                let _ = send.send((target.inode, Err(e)));
                return;
            }
            if req.verbose {
                note(format_args!(
                    "network namespace net:[{}] is gone: {e}",
                    target.inode
                ));
            }
            continue;
        }
        let mut rows = Vec::new();
        let dumped = source::collect(&req, &mut rows).map(|used| (used, rows));
        let failed = dumped.is_err();
        if send.send((target.inode, dumped)).is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use crate::model::{Parallel, ProtocolSet, SourceChoice, StateSet};

    fn request(filter: &Filter) -> Request<'_> {
        Request {
            protocols: ProtocolSet::TCP,
            ipv4: true,
            ipv6: true,
            states: StateSet::ALL,
            datagram_states: StateSet::EMPTY,
            timer_counters: false,
            info: false,
            memory: false,
            filter,
            choice: SourceChoice::Netlink,
            parallel: Parallel::Auto,
            proc_root: Path::new("/proc"),
            verbose: true,
        }
    }

    #[test]
    fn a_namespace_gone_before_its_turn_is_skipped_not_an_error() {
        let filter = Filter::new();
        let gone = Target {
            inode: 4026599999,
            path: PathBuf::from("/run/netns/tcpstat-netns-helper-gone-before-its-turn"),
        };
        let mut out = vec![];
        let used = dump_each(&request(&filter), std::slice::from_ref(&gone), &mut out);
        assert_eq!(used.unwrap(), Used::Netlink);
        assert!(out.is_empty());
        // `ip netns delete` halfway: the mount is gone, the plain file it
        // was on is still there.
        let file = std::env::temp_dir().join(format!("tcpstat-unmounted-{}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        let unmounted = Target {
            inode: 4026599998,
            path: file.clone(),
        };
        let used = dump_each(
            &request(&filter),
            std::slice::from_ref(&unmounted),
            &mut out,
        );
        std::fs::remove_file(&file).unwrap();
        assert_eq!(used.unwrap(), Used::Netlink);
        assert!(out.is_empty());
        // With one that is there (entering it needs CAP_SYS_ADMIN, even
        // one's own): its rows come, tagged, and the gone one is skipped.
        if !crate::sys::user::is_root() {
            let why = "entering a namespace needs root (the present half)";
            assert!(std::env::var_os("TCPSTAT_TEST_NO_SKIP").is_none(), "{why}");
            eprintln!("skipped: {why}");
            return;
        }
        let own = PathBuf::from("/proc/self/ns/net");
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&own).unwrap());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let targets = [gone, Target { inode, path: own }];
        dump_each(&request(&filter), &targets, &mut out).unwrap();
        let ours = out.iter().find(|s| s.local.port == port).expect("listed");
        assert_eq!(ours.netns, inode);
        assert!(out.iter().all(|s| s.netns == inode));
    }
}
