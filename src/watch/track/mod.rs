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
//! **Memory** is one extra copy of the rows, a flag per socket, the
//! notifications of the current interval and the keys waiting for a
//! notification (bounded): a long run stays flat.

mod aborts;
mod diff;
mod gone;
mod key;
mod notices;

use std::collections::HashMap;
use std::time::Instant;

use crate::collect::shrink_vec;
use crate::filter::{Filter, NoOwners, Owners};
use crate::model::event::Event;
use crate::model::time::Timestamp;
use crate::model::Socket;
use crate::model::StateSet;
use gone::GoneKeys;
use key::Key;
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
    /// The last pass's rows, sorted by key, one per key.
    sockets: Vec<Socket>,
    /// Whether each of `sockets` matched the view at some pass (its events
    /// are printed).
    followed: Vec<bool>,
    /// The next pass's `followed`, kept for its buffer.
    next_followed: Vec<bool>,
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
}

impl Tracker {
    /// An empty tracker; its first pass sets the baseline and reports no
    /// `new` or `state` events.
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// Compares a pass's rows (every tracked state, unfiltered) with the
    /// last pass and returns what changed. The rows are taken (sorted) and
    /// `rows` is given the last pass's buffer back, to dump into next.
    /// `owners` is this pass's owner map; `now` is when the rows were read.
    pub fn update(
        &mut self,
        rows: &mut Vec<Socket>,
        owners: &dyn Owners,
        view: View<'_>,
        now: PassTime,
    ) -> impl Iterator<Item = &Event> + Clone {
        self.pass += 1;
        self.events.clear();
        self.late.clear();
        self.index_notices();
        rows.sort_unstable_by(|a, b| Key::of(a).cmp(&Key::of(b)));
        rows.dedup_by(|a, b| Key::of(a) == Key::of(b));
        let last = std::mem::replace(&mut self.sockets, std::mem::take(rows));
        self.merge(&last, owners, view, now);
        *rows = last;
        std::mem::swap(&mut self.followed, &mut self.next_followed);
        self.events.append(&mut self.late);
        self.report_unseen_notices(view, now.instant);
        // Destroy-only events are stamped when their notification came:
        // before the dump or after it. The sort is stable, so this pass's
        // own events keep their order.
        self.events.sort_by_key(|e| e.time);
        self.shrink();
        self.events.iter()
    }

    /// Gives memory back after the population shrank a lot.
    fn shrink(&mut self) {
        shrink_vec(&mut self.sockets, 1024);
        shrink_vec(&mut self.followed, 1024);
        shrink_vec(&mut self.next_followed, 1024);
        shrink_vec(&mut self.events, 256);
        shrink_vec(&mut self.late, 256);
        if shrink_vec(&mut self.notices, 256) {
            self.notice_at.shrink_to(2 * self.notices.len());
        }
    }
}

#[cfg(test)]
mod tests;
