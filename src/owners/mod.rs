//! Which processes own which sockets, for `-p`.
//!
//! The kernel tells us a socket's inode, not its owner. Owners are found in
//! one of two ways, into the same [`ProcessMap`]: by reading every
//! process's `/proc/PID/fd` links (`procfs`), or, on a big machine or in
//! watch mode, by a BPF task-file iterator that walks the descriptor tables
//! inside the kernel (`bpf`, with `btf` to read the kernel's types).
//! `policy` decides which, as [`OwnerSource`] asks; [`OwnerScanner`] runs it
//! pass after pass.

pub(crate) mod bpf;
pub(crate) mod btf;
mod index;
mod policy;
pub(crate) mod procfs;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use crate::model::Owner;
use crate::model::Owners;
pub use policy::{OwnerSource, BPF_FROM_OPEN_FILES};

#[doc(hidden)]
pub use bpf::load_skewed_program as load_skewed_bpf_program;

/// Socket inode → the processes that hold it open.
///
/// A socket can be shared by several processes (after `fork`, or passed over
/// a Unix socket), or held through several descriptors: each (process,
/// descriptor) is one owner, in pid then fd order, as ss lists them.
#[derive(Debug, Default)]
pub struct ProcessMap {
    /// One owner per socket descriptor, then a run of owners for each
    /// socket held through several.
    owners: Vec<Owner>,
    /// The pids of the processes holding sockets, in order: a process's
    /// slot is where its pid is.
    pids: Vec<u32>,
    /// Where each socket's owners are in `owners`.
    index: index::InodeIndex,
    unreadable: usize,
}

impl ProcessMap {
    /// The processes holding socket `inode`, in pid order; empty if none
    /// (or if the inode is 0, as for TIME_WAIT sockets).
    pub fn owners(&self, inode: u64) -> &[Owner] {
        match self.index.get(inode) {
            Some(run) => &self.owners[run],
            None => &[],
        }
    }

    /// The first of `inode`'s owners (the one netstat shows) and a slot
    /// number for its process, below [`ProcessMap::slots`], for a caller
    /// that keeps something per process, such as its formatted label.
    pub fn first_owner(&self, inode: u64) -> Option<(usize, &Owner)> {
        self.owners_with_slots(inode).next()
    }

    /// `inode`'s owners, each with the slot of its process (see
    /// [`ProcessMap::first_owner`]).
    pub fn owners_with_slots(&self, inode: u64) -> impl Iterator<Item = (usize, &Owner)> {
        let run = self.index.get(inode).unwrap_or(0..0);
        run.map(|i| {
            let owner = &self.owners[i];
            let slot = self.pids.binary_search(&owner.pid);
            (slot.expect("every owner's pid is listed"), owner)
        })
    }

    /// The number of slots [`ProcessMap::first_owner`] numbers from.
    pub fn slots(&self) -> usize {
        self.pids.len()
    }

    /// A map of one owner per inode, from `(inode, owner)` pairs (a later
    /// pair for an inode is dropped): what sampled `--events` remembers of
    /// the sockets it reports gone, whose owners were seen a pass before.
    pub fn from_first_owners(pairs: impl IntoIterator<Item = (u64, Owner)>) -> ProcessMap {
        let mut seen = HashSet::new();
        let mut builder = index::Builder::new(0);
        for (inode, owner) in pairs {
            if seen.insert(inode) {
                builder.process(owner.pid, &owner.name, [(inode, owner.fd)]);
            }
        }
        builder.finish(0)
    }

    /// Number of processes whose fd directory or links could not be read for
    /// lack of permission: when not zero, some sockets may lack an owner
    /// (netstat's "Not all processes could be identified").
    pub fn unreadable(&self) -> usize {
        self.unreadable
    }
}

impl Owners for ProcessMap {
    fn owners_of(&self, inode: u64) -> &[Owner] {
        self.owners(inode)
    }
}

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
    /// A scanner of `proc_root` (`/proc`, or a fixture tree, which rules
    /// out BPF) that finds owners as `source` says; `repeated` when scans
    /// will repeat (watch mode).
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
        let why_not = match policy::may_use_bpf(
            self.source,
            &self.proc_root,
            self.bpf.is_some(),
            self.repeated,
        ) {
            Err(why) => why,
            Ok(()) => {
                let iter = self.bpf.get_or_insert_with(policy::load_bpf);
                match iter.as_ref().map(|it| it.run()) {
                    Ok(Ok(pairs)) => {
                        self.last = Some("the BPF task-file iterator".into());
                        return Ok(ProcessMap::from_pairs(&self.proc_root, pairs));
                    }
                    Ok(Err(e)) => format!("cannot run the BPF task-file iterator: {e}"),
                    Err(e) => e.clone(),
                }
            }
        };
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
