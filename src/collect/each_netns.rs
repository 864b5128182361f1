//! `-N all`: one dump per network namespace. Worker threads (as many as
//! there are CPUs, at most `MAX_WORKERS`) take the namespaces in turn,
//! enter each with setns (which moves only the calling thread), dump it
//! with a socket opened there, and tag its rows with its inode. Owners need
//! no namespace: socket inodes are unique on the host, so one process scan
//! serves them all.
//!
//! A namespace that vanished since it was found (its last process exited,
//! its mount was removed) is skipped and said under `-v`, never an error.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{note, Result};
use crate::model::Socket;
use crate::source::{self, Request, Used};

/// Most threads dumping namespaces at once.
const MAX_WORKERS: usize = 8;

/// A namespace to dump: its inode (what rows are tagged with) and a path
/// that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub inode: u64,
    pub path: PathBuf,
}

/// What the workers hand back.
#[derive(Default)]
struct Gathered {
    rows: Vec<Socket>,
    used: Option<Used>,
    error: Option<crate::error::Error>,
}

/// Dumps every target into `out` (cleared first), each row tagged with its
/// namespace. The source used is /proc if any namespace needed it.
pub fn dump_each(req: &Request<'_>, targets: &[Target], out: &mut Vec<Socket>) -> Result<Used> {
    out.clear();
    let next = AtomicUsize::new(0);
    let gathered = Mutex::new(Gathered::default());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS)
        .min(targets.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| work(req, targets, &next, &gathered));
        }
    });
    let gathered = gathered.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(error) = gathered.error {
        return Err(error);
    }
    *out = gathered.rows;
    Ok(gathered.used.unwrap_or(Used::Netlink))
}

/// One worker: takes targets until none is left or one failed.
fn work(req: &Request<'_>, targets: &[Target], next: &AtomicUsize, gathered: &Mutex<Gathered>) {
    // /proc/net is the thread group leader's namespace; this thread's own
    // is /proc/thread-self/net.
    let thread_proc = PathBuf::from("/proc/thread-self");
    let proc_root = if req.proc_root == Path::new("/proc") {
        thread_proc.as_path()
    } else {
        req.proc_root
    };
    let req = Request { proc_root, ..*req };
    let mut rows = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(target) = targets.get(i) else {
            return;
        };
        let entered = crate::netns::open(&target.path)
            .and_then(|file| crate::netns::enter_file(&target.path, &file));
        if let Err(e) = entered {
            if target.path.exists() {
                // Not for want of the namespace: privilege, most likely.
                let mut shared = gathered.lock().unwrap_or_else(|e| e.into_inner());
                shared.error.get_or_insert(e);
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
        let used = source::collect(&req, &mut rows);
        let mut shared = gathered.lock().unwrap_or_else(|e| e.into_inner());
        match used {
            Ok(used) => {
                shared.used = Some(match (shared.used, used) {
                    (Some(Used::Proc), _) | (_, Used::Proc) => Used::Proc,
                    _ => Used::Netlink,
                });
                shared.rows.extend(rows.drain(..).map(|mut s| {
                    s.netns = target.inode;
                    s
                }));
            }
            Err(e) => {
                shared.error.get_or_insert(e);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use crate::model::{ProtocolSet, SourceChoice, StateSet};

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
