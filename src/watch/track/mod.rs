//! `--events`: which sockets are the same from one pass to the next, and
//! what changed.
//!
//! Each pass's rows are diffed with the last pass's (`diff`) by identity
//! (`key`); the kernel's destroy notifications are merged into the passes
//! that explain them (`notices`), with the help of the keys of sockets
//! reported gone before their notification came (`gone`) and, for aborts,
//! of what is left of their addresses (`aborts`).
//!
//! **Filters and scope.** The dump asks for every connection state, so
//! that a socket never seems to vanish by leaving the filtered states; a
//! socket that matches the filter (and the -a/-l scope) at any pass is
//! followed until it is gone, so `--program nginx` still shows the orphaned
//! FIN_WAIT2 and the TIME_WAIT after nginx closed.
//!
//! **Memory.** Between passes the tracker keeps, per socket, a 48-byte
//! `Entry` (its identity, state and what an event line prints of
//! it once gone, addresses and first owner numbered in per-pass tables),
//! not its row. A pass is taken as it is read, batch by batch
//! ([`Tracker::take`]): only the rows that may make an event of this pass
//! (new, changed state, another socket on a known key) are kept until the
//! pass is complete and diffed ([`Tracker::finish`]). Outputs that print
//! more of a gone socket than the line does (JSON, `-i`, `-m`) keep the
//! rest of the last pass's rows too ([`Tracker::new`]; [`Tracker::compact`] keeps
//! none and, for JSON, `-i` and `-m`, the rest of each row beside its
//! entry (`Rest`, 56 bytes and `-i`'s and `-m`'s boxes, not the
//! 140-byte row). While a pass is read, the entries of two passes are
//! held, and an index of the last one's by key (8 bytes a socket) that tells each
//! row whether it may make an event. Then the notifications of the
//! current interval and the keys waiting for a notification (bounded): a
//! long run stays flat.

mod aborts;
mod diff;
mod entry;
mod gone;
mod key;
mod notices;

use std::collections::HashMap;
use std::time::Instant;

use crate::collect::{shrink_vec, shrink_vec_for};
use crate::filter::{Filter, NoOwners, Owners};
use crate::model::event::Event;
use crate::model::time::Timestamp;
use crate::model::Socket;
use crate::model::StateSet;
use crate::owners::ProcessMap;
use entry::{Addresses, Entry, Index, OwnerTable, Rest};
use gone::GoneKeys;
use key::{same_socket, Key};
use notices::Notice;

/// Which sockets the user asked to see: the -a/-l scope or explicit states,
/// and the filter.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// inet_diag state mask of the states shown.
    pub states: StateSet,
    /// The filter the sockets shown must match.
    pub filter: &'a Filter,
}

impl View<'_> {
    fn keeps<O: Owners + ?Sized>(&self, s: &Socket, owners: &O) -> bool {
        self.states.contains(s.state) && self.filter.matches(s, owners)
    }

    /// Whether a socket known only from its destroy notification is kept:
    /// its owners and uid are unknown, so a filter on them rejects it.
    fn keeps_unowned(&self, s: &Socket) -> bool {
        !self.filter.filters_uid() && self.keeps(s, &NoOwners)
    }
}

/// The states to dump so that a watched socket is seen in every state of
/// its life: all connection states as soon as one of them is wanted.
pub fn tracking_states(states: StateSet) -> StateSet {
    let connections = StateSet::connections();
    if !states.intersection(connections).is_empty() {
        states.union(connections)
    } else {
        states
    }
}

/// When a pass read its rows.
#[derive(Debug, Clone, Copy)]
pub struct PassTime {
    /// For the output.
    pub time: Timestamp,
    /// For expiring what is remembered.
    pub instant: Instant,
}

impl PassTime {
    /// The current time.
    pub fn now() -> PassTime {
        PassTime {
            time: Timestamp::now(),
            instant: Instant::now(),
        }
    }
}

/// Sockets between passes, and the events of the latest pass.
#[derive(Debug, Default)]
pub struct Tracker {
    /// Whether the rest of the last pass's rows is kept, for outputs that
    /// print all of a gone socket.
    keeps_rows: bool,
    /// The last pass, sorted by key, one per key.
    last: Pass,
    /// The pass being read.
    next: Pass,
    /// Rows of the pass being read that may make an event.
    rows: Vec<Socket>,
    /// Where each of `last`'s entries is, by key.
    last_index: Index,
    pass: u64,
    notices: Vec<Notice>,
    notice_at: HashMap<Key, usize>,
    gone: GoneKeys,
    /// Events of the last pass in time order: destroy-only events that
    /// came before the dump, new sockets and state changes, gone sockets
    /// (each in key order), then destroy-only events that came after the
    /// dump.
    events: Vec<Event>,
    /// This pass's gone sockets, until they join `events`.
    late: Vec<Event>,
    /// Without `keeps_rows`: the owners of the sockets this pass reported
    /// gone, as the last pass saw them.
    gone_owners: Option<ProcessMap>,
    /// Their (inode, owner number in `last`'s table) while the pass is
    /// diffed.
    gone_owned: Vec<(u64, u32)>,
}

/// One pass, compact.
#[derive(Debug, Default)]
struct Pass {
    entries: Vec<Entry>,
    addrs: Addresses,
    owners: OwnerTable,
    /// Whether `owners` was filled (`-p`).
    owned: bool,
    /// With `keeps_rows`, the rest of each entry's row, numbered by
    /// `Entry::link`.
    rests: Vec<Rest>,
}

impl Pass {
    fn clear(&mut self) {
        self.entries.clear();
        self.addrs.clear();
        self.owners.clear();
        self.owned = false;
        self.rests.clear();
    }

    /// An entry's socket as last seen: all of its row when the rest was
    /// kept, else what the entry has.
    fn socket(&self, entry: &Entry) -> Socket {
        entry.whole(&self.addrs, &self.rests)
    }
}

impl Tracker {
    /// An empty tracker that keeps all of the last pass's rows (entries
    /// and their rests), for outputs that print every field of a gone
    /// socket (JSON, `-i`, `-m`); its first pass sets the baseline and
    /// reports no `new` or `state` events.
    pub fn new() -> Tracker {
        Tracker {
            keeps_rows: true,
            ..Tracker::default()
        }
    }

    /// An empty tracker that keeps only compact entries: a gone socket's
    /// event has its family, protocol, ends, state, uid, inode, cookie and
    /// first owner (what the text line prints), no queues, timer or
    /// `tcp_info`.
    pub fn compact() -> Tracker {
        Tracker::default()
    }

    /// Compares a pass's rows (every tracked state, unfiltered) with the
    /// last pass and returns what changed: [`Tracker::take`] then
    /// [`Tracker::finish`]. The rows are taken; `rows` is left empty, its
    /// buffer to dump into next. `owners` is this pass's owner map; `now`
    /// is when the rows were read.
    pub fn update(
        &mut self,
        rows: &mut Vec<Socket>,
        owners: &dyn Owners,
        view: View<'_>,
        now: PassTime,
    ) -> impl Iterator<Item = &Event> + Clone {
        self.take(rows, Some(owners), view);
        self.finish(None, view, now);
        self.events()
    }

    /// Takes a batch of the pass being read (every tracked state,
    /// unfiltered; `rows` is left empty). `owners` is this pass's owner
    /// map, or `None` while the scan runs (then the filter must not need
    /// owners, and [`Tracker::finish`] is given the map).
    pub fn take(&mut self, rows: &mut Vec<Socket>, owners: Option<&dyn Owners>, view: View<'_>) {
        for mut row in rows.drain(..) {
            let in_view = match owners {
                Some(owners) => view.keeps(&row, owners),
                None => view.keeps(&row, &NoOwners),
            };
            let mut entry = Entry::of(&row, &mut self.next.addrs, in_view);
            if self.keeps_rows {
                entry.link = self.next.rests.len() as u32;
                let shown = self.may_show(&row, in_view);
                let rest = match shown {
                    // Both keep -i's and -m's boxes.
                    true => Rest::take(&mut row.clone()),
                    false => Rest::take(&mut row),
                };
                self.next.rests.push(rest);
                if shown {
                    self.rows.push(row);
                }
            } else {
                if let Some(owners) = owners {
                    self.next.owned = true;
                    if let Some(first) = owners.owners_of(row.inode).first() {
                        entry.link = self.next.owners.intern(first);
                    }
                }
                if self.may_show(&row, in_view) {
                    self.rows.push(row);
                }
            }
            self.next.entries.push(entry);
        }
    }

    /// Whether `row` may make an event of this pass: a new socket in view
    /// (after the first pass), another socket on a known key, or a change
    /// of state of one followed or in view. Only those rows are kept whole
    /// until the pass is diffed.
    fn may_show(&self, row: &Socket, in_view: bool) -> bool {
        let appeared = in_view && self.pass > 0;
        let Some(numbers) = Entry::numbers_of(row, &self.last.addrs) else {
            return appeared;
        };
        let Some(i) = self.last_index.find(&self.last.entries, numbers) else {
            return appeared;
        };
        let old = &self.last.entries[i];
        if !same_socket(old, row) {
            return appeared;
        }
        old.state != row.state && (old.followed() || in_view)
    }

    /// Ends the pass being read: sorts it, diffs it with the last one and
    /// merges the destroy notifications taken so far. `owners` is the pass's
    /// owner map when [`Tracker::take`] was not given it.
    pub fn finish(&mut self, owners: Option<&dyn Owners>, view: View<'_>, now: PassTime) {
        self.pass += 1;
        self.events.clear();
        self.late.clear();
        self.index_notices();
        if let Some(owners) = owners.filter(|_| !self.keeps_rows) {
            self.intern_owners(owners);
        }
        self.sort_next();
        let last = std::mem::take(&mut self.last);
        self.merge(&last, view, now);
        self.remember_gone_owners(&last);
        self.last = std::mem::replace(&mut self.next, last);
        self.next.clear();
        self.last_index.build(&self.last.entries);
        self.rows.clear();
        self.events.append(&mut self.late);
        self.report_unseen_notices(view, now.instant);
        // Destroy-only events are stamped when their notification came:
        // before the dump or after it. The sort is stable, so this pass's
        // own events keep their order.
        self.events.sort_by_key(|e| e.time);
        self.shrink();
    }

    /// The events of the last pass, in time order.
    pub fn events(&self) -> impl Iterator<Item = &Event> + Clone {
        self.events.iter()
    }

    /// The owners of the sockets the last pass reported gone, as the pass
    /// before saw them; `None` when the tracker keeps rows (the caller
    /// keeps that pass's owner map) or without owners.
    pub fn gone_owners(&self) -> Option<&ProcessMap> {
        self.gone_owners.as_ref()
    }

    /// Whether the caller must keep the last pass's owner map for the
    /// sockets reported gone (see [`Tracker::gone_owners`]).
    pub fn keeps_rows(&self) -> bool {
        self.keeps_rows
    }

    /// Numbers the first owner of every entry of the pass being read.
    fn intern_owners(&mut self, owners: &dyn Owners) {
        let next = &mut self.next;
        next.owned = true;
        for entry in &mut next.entries {
            if let Some(first) = owners.owners_of(entry.inode).first() {
                entry.link = next.owners.intern(first);
            }
        }
    }

    /// Sorts the pass being read by key (its addresses ranked first), one
    /// entry per key, and the rows kept in the same order.
    fn sort_next(&mut self) {
        let new_id = self.next.addrs.rank();
        for e in &mut self.next.entries {
            e.local = new_id[e.local as usize];
            e.remote = new_id[e.remote as usize];
        }
        drop(new_id);
        self.next.entries.sort_unstable_by(Entry::cmp_whole);
        self.next.entries.dedup_by(|a, b| a.cmp_key(b).is_eq());
        self.rows.sort_unstable_by(entry::order_of);
    }

    /// Builds the map of the owners of this pass's gone sockets.
    fn remember_gone_owners(&mut self, last: &Pass) {
        self.gone_owners = (last.owned && !self.keeps_rows).then(|| {
            ProcessMap::from_first_owners(
                self.gone_owned
                    .drain(..)
                    .filter_map(|(inode, id)| Some((inode, last.owners.get(id)?.clone()))),
            )
        });
        self.gone_owned.clear();
    }

    /// Gives memory back after the population shrank a lot.
    fn shrink(&mut self) {
        // The next pass will be about as big as the last.
        let live = self.last.entries.len();
        shrink_vec(&mut self.last.entries, 1024);
        shrink_vec_for(&mut self.next.entries, live, 1024);
        shrink_vec(&mut self.rows, 1024);
        shrink_vec(&mut self.last.rests, 1024);
        shrink_vec_for(&mut self.next.rests, live, 1024);
        shrink_vec(&mut self.events, 256);
        shrink_vec(&mut self.late, 256);
        shrink_vec(&mut self.gone_owned, 256);
        if shrink_vec(&mut self.notices, 256) {
            self.notice_at.shrink_to(2 * self.notices.len());
        }
    }
}

#[cfg(test)]
mod tests;
