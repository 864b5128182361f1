//! How a [`ProcessMap`] is laid out and built: its owners in one vector,
//! each socket's in a run, and an index from socket inode to run.
//!
//! At a million sockets the map is the biggest thing `-p` holds (watch
//! mode and exact `--events -p` hold it between passes), so it is kept to
//! about 27 bytes a socket: a 16-byte [`Owner`] and an open-addressing
//! slot of (inode, start) pairs sized for three quarters full (8 / 0.75);
//! a process's slot number is found among the few pids, not stored per
//! owner. A hash map of `u64` inodes to
//! (start, length) took 34 bytes a socket for the index alone. Socket
//! inodes are 32-bit on Linux (`get_next_ino`); a wider one (a fixture
//! tree) goes to a small map of its own rather than being cut.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::ProcessMap;
use crate::model::{Owner, ProcessName};

/// Socket inode → where its owners are in `ProcessMap::owners`.
#[derive(Debug, Default)]
pub(super) struct InodeIndex {
    /// (inode, start) by the inode's hash, linear probing; inode 0 (which
    /// no socket has) marks an empty slot. A start with [`RUN`] set has
    /// its length in `runs`, any other a length of 1.
    slots: Vec<(u32, u32)>,
    /// Lengths of the runs of sockets held more than once, by start.
    runs: HashMap<u32, u32>,
    /// Runs of inodes that do not fit 32 bits.
    wide: HashMap<u64, (u32, u32)>,
}

/// Set in a slot's start when its run's length is in `runs`.
const RUN: u32 = 1 << 31;

impl InodeIndex {
    /// An index with room for `inodes` distinct inodes.
    fn with_room(inodes: usize) -> InodeIndex {
        let len = if inodes == 0 {
            0
        } else {
            inodes + inodes / 3 + 1
        };
        InodeIndex {
            slots: vec![(0, 0); len],
            ..InodeIndex::default()
        }
    }

    /// The first slot to look at for `inode`: the high half of a
    /// multiplication maps the mixed hash onto the table, of any size.
    fn home(&self, inode: u32) -> usize {
        let mixed = u64::from(inode).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((u128::from(mixed) * self.slots.len() as u128) >> 64) as usize
    }

    /// The slot of `inode`, or the empty one where it would go.
    fn find(&self, inode: u32) -> usize {
        let mut slot = self.home(inode);
        loop {
            let (at, _) = self.slots[slot];
            if at == inode || at == 0 {
                return slot;
            }
            slot += 1;
            if slot == self.slots.len() {
                slot = 0;
            }
        }
    }

    /// Records `inode`'s run as one owner at `start`, unless it has one:
    /// true when it was new.
    fn insert(&mut self, inode: u64, start: u32) -> bool {
        match u32::try_from(inode) {
            Ok(narrow) => {
                let slot = self.find(narrow);
                let new = self.slots[slot].0 == 0;
                if new {
                    self.slots[slot] = (narrow, start);
                }
                new
            }
            Err(_) => {
                let mut new = false;
                self.wide.entry(inode).or_insert_with(|| {
                    new = true;
                    (start, 1)
                });
                new
            }
        }
    }

    /// Moves `inode`'s run (known) to `len` owners at `start`.
    fn set(&mut self, inode: u64, start: u32, len: u32) {
        match u32::try_from(inode) {
            Ok(narrow) => {
                let slot = self.find(narrow);
                debug_assert_eq!(self.slots[slot].0, narrow);
                self.slots[slot].1 = start | RUN;
                self.runs.insert(start, len);
            }
            Err(_) => {
                self.wide.insert(inode, (start, len));
            }
        }
    }

    /// Where `inode`'s owners are, if any.
    pub(super) fn get(&self, inode: u64) -> Option<Range<usize>> {
        let (start, len) = match u32::try_from(inode) {
            Ok(0) => return None,
            Ok(narrow) if !self.slots.is_empty() => {
                let (at, start) = self.slots[self.find(narrow)];
                if at == 0 {
                    return None;
                }
                match start & RUN {
                    0 => (start, 1),
                    _ => (start & !RUN, self.runs[&(start & !RUN)]),
                }
            }
            Ok(_) => return None,
            Err(_) => *self.wide.get(&inode)?,
        };
        Some(start as usize..(start + len) as usize)
    }
}

/// Builds a [`ProcessMap`] a process at a time.
pub(super) struct Builder {
    owners: Vec<Owner>,
    /// The pids seen.
    pids: HashSet<u32>,
    index: InodeIndex,
    /// (inode, owner) of every holder of a socket after its first.
    shared: Vec<(u64, u32)>,
}

impl Builder {
    /// A builder for about `holdings` (socket, descriptor) pairs.
    pub(super) fn new(holdings: usize) -> Builder {
        Builder {
            owners: Vec::with_capacity(holdings),
            pids: HashSet::new(),
            index: InodeIndex::with_room(holdings),
            shared: Vec::new(),
        }
    }

    /// Adds the sockets that process `pid` holds, as (inode, descriptor).
    /// A socket inode 0 (none has it) is skipped.
    pub(super) fn process(
        &mut self,
        pid: u32,
        name: &ProcessName,
        holdings: impl IntoIterator<Item = (u64, u32)>,
    ) {
        let mut held = false;
        for (inode, fd) in holdings {
            if inode == 0 {
                continue;
            }
            let at = self.owners.len() as u32;
            debug_assert!(at < RUN, "owner numbers stay below the run flag");
            // Room for this one too, at most three quarters full.
            let count = self.owners.len() + 1;
            if self.index.slots.len() <= count + count / 3 {
                self.grow();
            }
            self.owners.push(Owner {
                pid,
                fd,
                name: name.clone(),
            });
            held = true;
            if !self.index.insert(inode, at) {
                self.shared.push((inode, at));
            }
        }
        if held {
            self.pids.insert(pid);
        }
    }

    /// Makes the index bigger than planned (more holdings came than the
    /// builder was made for), re-inserting what it has.
    fn grow(&mut self) {
        let old = std::mem::replace(
            &mut self.index.slots,
            InodeIndex::with_room(2 * self.owners.len() + 16).slots,
        );
        for (inode, start) in old.into_iter().filter(|&(inode, _)| inode != 0) {
            let slot = self.index.find(inode);
            self.index.slots[slot] = (inode, start);
        }
    }

    /// The map: each socket held more than once gets one run of all its
    /// owners, in pid then descriptor order, after the others.
    pub(super) fn finish(mut self, unreadable: usize) -> ProcessMap {
        self.shared.sort_unstable();
        for group in self.shared.chunk_by(|a, b| a.0 == b.0) {
            let inode = group[0].0;
            let first = self
                .index
                .get(inode)
                .expect("shared inode was inserted")
                .start;
            let mut run: Vec<u32> = std::iter::once(first as u32)
                .chain(group.iter().map(|&(_, at)| at))
                .collect();
            let owners = &self.owners;
            run.sort_unstable_by_key(|&i| (owners[i as usize].pid, owners[i as usize].fd));
            let start = self.owners.len() as u32;
            debug_assert!(start < RUN, "owner numbers stay below the run flag");
            for i in run {
                self.owners.push(self.owners[i as usize].clone());
            }
            self.index
                .set(inode, start, self.owners.len() as u32 - start);
        }
        ProcessMap {
            owners: self.owners,
            pids: {
                let mut pids: Vec<u32> = self.pids.into_iter().collect();
                pids.sort_unstable();
                pids
            },
            index: self.index,
            unreadable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Owner>(), 16);
    }

    #[test]
    fn a_table_planned_too_small_still_has_an_empty_slot() {
        let name = ProcessName::new("p");
        for planned in 0..40 {
            for extra in 1..8u64 {
                let mut b = Builder::new(planned);
                let n = planned as u64 + extra;
                b.process(1, &name, (1..=n).map(|i| (i, 0)));
                let map = b.finish(0);
                // An absent inode ends its probe at an empty slot.
                assert!(map.owners(n + 1).is_empty(), "{planned} + {extra}");
                assert_eq!(map.owners(n).len(), 1);
            }
        }
    }

    #[test]
    fn every_inode_is_found_and_no_other() {
        let name = ProcessName::new("p");
        let mut b = Builder::new(10);
        // More than planned: the index grows. One wide inode, one shared.
        let inodes: Vec<u64> = (1..=5000u64)
            .map(|i| i * 7919)
            .chain([u64::MAX - 1])
            .collect();
        b.process(10, &name, inodes.iter().map(|&i| (i, i as u32)));
        b.process(3, &name, [(7919 * 2, 99), (u64::MAX - 1, 5), (0, 1)]);
        let map = b.finish(0);
        for &inode in &inodes {
            let owners = map.owners(inode);
            match inode {
                15838 => assert_eq!(
                    owners.iter().map(|o| (o.pid, o.fd)).collect::<Vec<_>>(),
                    [(3, 99), (10, 15838)]
                ),
                i if i == u64::MAX - 1 => assert_eq!(
                    owners.iter().map(|o| (o.pid, o.fd)).collect::<Vec<_>>(),
                    [(3, 5), (10, (u64::MAX - 1) as u32)]
                ),
                _ => assert_eq!(owners.len(), 1, "{inode}"),
            }
        }
        for absent in [0, 1, 7920, 5001 * 7919, u64::MAX, 1 << 32] {
            assert!(map.owners(absent).is_empty(), "{absent}");
        }
        assert_eq!(map.slots(), 2);
    }
}
