//! Keys of sockets a pass reported gone before their destroy notification
//! came, so that the notification is taken by them when it comes rather
//! than reported as another connection: for two passes, or, for a socket
//! a process held (reset or timed out while open: the kernel frees it only
//! at close), until it comes. Bounded in time and number.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::key::Key;
use crate::model::TcpState;

/// A key reported gone without its destroy notification is remembered for
/// this many passes, and at least [`GONE_MIN_AGE`], so that a notification
/// arriving just after the dump that missed its socket is taken by it, not
/// reported a second time. The kernel sends it from a workqueue right after
/// freeing the socket: one pass is usually enough.
const GONE_PASSES: u64 = 2;
/// See [`GONE_PASSES`]; matters for very short intervals.
const GONE_MIN_AGE: Duration = Duration::from_millis(100);
/// Most keys remembered as gone that way; beyond it the oldest are
/// forgotten.
const GONE_MAX: usize = 1 << 16;
/// Most keys of sockets that vanished while a process held them (reset, or
/// timed out): the kernel frees such a socket, and notifies, only when the
/// process closes it, which may be much later. They are kept until their
/// notification comes, this many at most.
pub(super) const HELD_MAX: usize = 1 << 16;

/// Whether a socket with `inode` in `state` was held by a process: the
/// kernel frees it (and notifies) only when the process closes it.
pub(super) fn held(inode: u64, state: TcpState) -> bool {
    inode != 0 && state != TcpState::Listen
}

/// Keys of sockets a pass no longer showed and whose destroy notification
/// has not come yet, so that it is taken by them when it comes rather than
/// reported as another connection. Bounded in time and number; the
/// fields the tests check those bounds on are visible to the tracker.
#[derive(Debug, Default)]
pub(super) struct GoneKeys {
    /// Sockets no process held: their notification follows at once (or
    /// never, for timewait sockets). Oldest first.
    recent: VecDeque<(u64, Instant, Key, u64)>,
    /// Sockets that vanished while a process held them. Oldest first.
    pub(super) held: VecDeque<(Key, u64)>,
    /// Each key's newest entry, by its number, and whether it is in
    /// `held`; entries of the queues whose number is not here were taken
    /// or replaced.
    pub(super) at: HashMap<Key, (u64, bool)>,
    /// Entries of `held` still in `at`.
    pub(super) held_live: usize,
    next: u64,
}

impl GoneKeys {
    /// Remembers the socket of `key`, which pass `pass` no longer showed;
    /// `held` when a process held it then (see [`held`]).
    pub(super) fn insert(&mut self, key: Key, held: bool, pass: u64, now: Instant) {
        self.next += 1;
        if let Some((_, true)) = self.at.insert(key, (self.next, held)) {
            self.held_live -= 1;
        }
        if held {
            self.held_live += 1;
            self.held.push_back((key, self.next));
            while self.held_live > HELD_MAX {
                let Some((key, n)) = self.held.pop_front() else {
                    break;
                };
                self.forget(key, n);
            }
        } else {
            self.recent.push_back((pass, now, key, self.next));
            while self.recent.len() > GONE_MAX {
                self.pop_recent();
            }
        }
    }

    /// Takes the entry of `key`: true when there was one.
    pub(super) fn take(&mut self, key: &Key) -> bool {
        match self.at.remove(key) {
            Some((_, held)) => {
                self.held_live -= usize::from(held);
                true
            }
            None => false,
        }
    }

    /// The entries remembered: number and key.
    pub(super) fn entries(&self) -> impl Iterator<Item = (u64, Key)> + '_ {
        self.at.iter().map(|(k, &(n, _))| (n, *k))
    }

    /// True while entry `n` of `key` is remembered.
    pub(super) fn holds(&self, key: &Key, n: u64) -> bool {
        self.at.get(key).is_some_and(|&(m, _)| m == n)
    }

    /// Forgets the entries of `recent` that waited long enough, and gives
    /// memory back.
    pub(super) fn expire(&mut self, pass: u64, now: Instant) {
        while self.recent.front().is_some_and(|&(gone_pass, at, ..)| {
            gone_pass + GONE_PASSES <= pass && now.saturating_duration_since(at) > GONE_MIN_AGE
        }) {
            self.pop_recent();
        }
        // Entries taken since are dropped, so that `held` holds about as
        // many entries as wait.
        if self.held.len() > 2 * self.held_live + 64 {
            let at = &self.at;
            self.held
                .retain(|(key, n)| at.get(key) == Some(&(*n, true)));
            if self.held.capacity() > 4 * self.held.len().max(64) {
                self.held.shrink_to(2 * self.held.len());
            }
        }
        let live = self.recent.len() + self.held.len();
        if self.recent.capacity() > 4 * self.recent.len().max(256) {
            self.recent.shrink_to(2 * self.recent.len());
        }
        if self.at.capacity() > 4 * live.max(256) {
            self.at.shrink_to(2 * live);
        }
    }

    fn pop_recent(&mut self) {
        if let Some((_, _, key, n)) = self.recent.pop_front() {
            self.forget(key, n);
        }
    }

    /// Drops entry `n` of `key`, unless the key was gone again since.
    fn forget(&mut self, key: Key, n: u64) {
        if self.holds(&key, n) {
            self.take(&key);
        }
    }
}
