//! `-N all`: every network namespace on the host, found where namespaces
//! are kept alive, each once (by inode):
//!
//! - every process's `/proc/PID/ns/net` (one per thread group);
//! - the names `ip netns add` makes under `/run/netns` (and
//!   `/var/run/netns`, often the same directory);
//! - nsfs bind mounts anywhere (`/proc/self/mountinfo`): Docker's
//!   `/var/run/docker/netns/*`, CNI's `/var/run/netns/cni-*`, namespaces
//!   that no process is in any more.
//!
//! Each comes with a path to open it by (a mount where there is one: it
//! outlives processes) and what [`super::label`] needs to name it.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::mountinfo;
use crate::sys::fs::read_bounded;

/// Most bytes of `/proc/self/mountinfo` read (a host with containers has a
/// few thousand mounts of ~150 bytes).
const MOUNTINFO_MAX: usize = 16 << 20;

/// One network namespace found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The namespace's inode on nsfs: its identity.
    pub inode: u64,
    /// A path that opens it (a bind mount, else `/proc/PID/ns/net`).
    pub path: PathBuf,
    /// The lowest pid of a process in it, if any process is.
    pub pid: Option<u32>,
    /// Its `ip netns` names.
    pub names: Vec<String>,
    /// Whether it is the host's (pid 1's) namespace.
    pub host: bool,
}

/// Every network namespace under `proc_root` (normally `/proc`) and the
/// `ip netns` directories, the host's first, then by inode.
pub fn discover(proc_root: &Path) -> Vec<Found> {
    let mut by_inode: HashMap<u64, Found> = HashMap::new();
    let host = host_inode(proc_root);
    for pid in pids(proc_root) {
        let path = proc_root.join(format!("{pid}/ns/net"));
        // A process that exited, or one we may not look into: skipped.
        let Some(inode) = ns_inode(&path) else {
            continue;
        };
        let found = by_inode.entry(inode).or_insert_with(|| Found {
            inode,
            path: path.clone(),
            pid: Some(pid),
            names: Vec::new(),
            host: Some(inode) == host,
        });
        if found.pid.is_some_and(|p| pid < p) {
            found.pid = Some(pid);
            found.path = path;
        }
    }
    for (inode, mount) in nsfs_mounts(proc_root) {
        let found = by_inode.entry(inode).or_insert_with(|| Found {
            inode,
            path: mount.clone(),
            pid: None,
            names: Vec::new(),
            host: Some(inode) == host,
        });
        // A mount outlives the processes: open by it.
        if found.path.starts_with(proc_root) {
            found.path = mount.clone();
        }
        if let Some(name) = ip_netns_name(&mount) {
            if !found.names.contains(&name) {
                found.names.push(name);
            }
        }
    }
    let mut all: Vec<Found> = by_inode.into_values().collect();
    all.iter_mut().for_each(|f| f.names.sort());
    all.sort_by_key(|f| (!f.host, f.inode));
    all
}

/// The processes under `proc_root`, in no particular order.
fn pids(proc_root: &Path) -> impl Iterator<Item = u32> {
    std::fs::read_dir(proc_root)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
}

/// The host's namespace: pid 1's, or, where pid 1 cannot be looked into
/// (a sandbox's init), kthreadd's: kernel threads live in the initial
/// namespace.
fn host_inode(proc_root: &Path) -> Option<u64> {
    ns_inode(&proc_root.join("1/ns/net")).or_else(|| {
        let comm = std::fs::read_to_string(proc_root.join("2/comm")).ok()?;
        (comm.trim_end() == "kthreadd")
            .then(|| ns_inode(&proc_root.join("2/ns/net")))
            .flatten()
    })
}

/// The inode of the namespace a nsfs path (or magic link) names.
fn ns_inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// The nsfs mounts of network namespaces: `(inode, mount point)`. `ip
/// netns add` mounts each name this way, so they are found here too.
fn nsfs_mounts(proc_root: &Path) -> Vec<(u64, PathBuf)> {
    let mut text = Vec::new();
    let read = std::fs::File::open(proc_root.join("self/mountinfo"))
        .and_then(|mut f| read_bounded(&mut f, &mut text, MOUNTINFO_MAX));
    if read.is_err() {
        return Vec::new();
    }
    mountinfo::net_namespaces(&text)
}

/// The `ip netns` name of a mount under `/run/netns` or `/var/run/netns`.
fn ip_netns_name(mount: &Path) -> Option<String> {
    ["/run/netns", "/var/run/netns"].iter().find_map(|dir| {
        let rest = mount.strip_prefix(dir).ok()?;
        let mut parts = rest.components();
        let name = parts.next()?.as_os_str().to_str()?.to_string();
        parts.next().is_none().then_some(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_netns_names_are_the_entries_of_its_directories() {
        let name = |p: &str| ip_netns_name(Path::new(p));
        assert_eq!(name("/run/netns/blue"), Some("blue".into()));
        assert_eq!(name("/var/run/netns/cni-1234"), Some("cni-1234".into()));
        assert_eq!(name("/var/run/docker/netns/abc"), None);
        assert_eq!(name("/run/netns/a/b"), None);
        assert_eq!(name("/run/netns"), None);
    }

    #[test]
    fn this_process_s_namespace_is_found() {
        let own = ns_inode(Path::new("/proc/self/ns/net")).unwrap();
        let all = discover(Path::new("/proc"));
        assert!(all.iter().any(|f| f.inode == own), "{all:?}");
        let mut inodes: Vec<u64> = all.iter().map(|f| f.inode).collect();
        inodes.dedup();
        assert_eq!(inodes.len(), all.len(), "each namespace once");
    }
}
