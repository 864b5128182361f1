//! The per-pass diff: a merge of two sorted lists, the last pass's
//! entries, kept sorted by key, and this pass's, sorted the same way,
//! which tells each socket as new, continued (perhaps in a new state) or
//! vanished. This pass's rows that may make an event are beside its
//! entries, in the same order; a gone socket is printed from its entry
//! (and the rest of its row, when kept). A hash map of 100k sockets
//! (three times the memory) is avoided.

use std::cmp::Ordering;

use super::entry::{order_row_entry, Addresses, Entry, Rest, NO_LINK};
use super::gone::held;
use super::key::{is_timewait_socket, same_socket, Key};
use super::{Pass, PassTime, Tracker, View};
use crate::model::event::{Event, EventKind};
use crate::model::Socket;

/// A socket of the last pass: its entry in its pass.
#[derive(Clone, Copy)]
pub(super) struct Old<'a> {
    entry: &'a Entry,
    pass: &'a Pass,
}

impl Old<'_> {
    fn key(&self) -> Key {
        self.entry.key(&self.pass.addrs)
    }

    /// The socket as last seen.
    fn socket(&self) -> Socket {
        self.pass.socket(self.entry)
    }
}

/// A socket of this pass: its entry, its row if kept, and the pass's
/// addresses and rests.
type New<'a> = (&'a Entry, Option<&'a Socket>, &'a Addresses, &'a [Rest]);

impl Tracker {
    /// Walks the last pass's entries (`last`) and this pass's (in
    /// `self.next`, its rows that may make an event in `self.rows`) side
    /// by side, all sorted by key, and marks which of this pass's sockets
    /// are followed.
    pub(super) fn merge(&mut self, last: &Pass, view: View<'_>, now: PassTime) {
        let mut next = std::mem::take(&mut self.next.entries);
        let rows = std::mem::take(&mut self.rows);
        let addrs = std::mem::take(&mut self.next.addrs);
        let rests = std::mem::take(&mut self.next.rests);
        let old_at = |i: usize| Old {
            entry: &last.entries[i],
            pass: last,
        };
        let (mut i, mut j, mut k) = (0, 0, 0);
        loop {
            let order = match (last.entries.get(i), next.get(j)) {
                (Some(old), Some(new)) => old.key(&last.addrs).cmp(&new.key(&addrs)),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => break,
            };
            if order.is_le() {
                i += 1;
            }
            if order.is_ge() {
                j += 1;
            }
            let followed = match order {
                Ordering::Less => {
                    self.vanished(old_at(i - 1), now);
                    continue;
                }
                Ordering::Greater | Ordering::Equal => {
                    let new = &next[j - 1];
                    // This entry's row, when kept: the rows are in the
                    // entries' order, with rows of entries dropped as
                    // duplicates among them.
                    while rows
                        .get(k)
                        .is_some_and(|r| order_row_entry(r, new, &addrs).is_lt())
                    {
                        k += 1;
                    }
                    let row = rows
                        .get(k)
                        .filter(|r| order_row_entry(r, new, &addrs).is_eq());
                    let new = (new, row, &addrs, &rests[..]);
                    match order {
                        Ordering::Greater => self.appeared(new, view, now),
                        _ => self.continued(old_at(i - 1), new, view, now),
                    }
                }
            };
            next[j - 1].set_followed(followed);
        }
        self.next.entries = next;
        self.rows = rows;
        self.next.addrs = addrs;
        self.next.rests = rests;
    }

    /// A socket not seen before. Returns whether it is followed.
    fn appeared(
        &mut self,
        (new, row, addrs, rests): New<'_>,
        _view: View<'_>,
        now: PassTime,
    ) -> bool {
        let in_view = new.in_view();
        let shown = in_view && self.pass > 1;
        let event = shown.then(|| {
            let row = row_of(row, new, addrs, rests);
            Event::seen(EventKind::New, None, &row, now.time)
        });
        self.push_change(event, new.key(addrs), is_timewait_socket(new));
        in_view
    }

    /// A socket under a key seen in the last pass: the same socket later in
    /// its life, or a new one on the same 4-tuple.
    fn continued(
        &mut self,
        old: Old<'_>,
        (new, row, addrs, rests): New<'_>,
        view: View<'_>,
        now: PassTime,
    ) -> bool {
        let entry = old.entry;
        if !same_socket(entry, new) {
            if entry.followed() {
                self.events.push(Event::gone(&old.socket(), now.time));
                self.owned_by(entry);
            }
            if !is_timewait_socket(entry) {
                let held = held(entry.inode, entry.state);
                self.gone.insert(old.key(), held, self.pass, now.instant);
            }
            return self.appeared((new, row, addrs, rests), view, now);
        }
        let in_view = new.in_view();
        let shown = entry.state != new.state && (entry.followed() || in_view);
        let event = shown.then(|| {
            let row = row_of(row, new, addrs, rests);
            Event::seen(EventKind::State, Some(entry.state), &row, now.time)
        });
        self.push_change(event, new.key(addrs), is_timewait_socket(new));
        entry.followed() || in_view
    }

    /// Records a row's event, with the byte counts of the full socket the
    /// kernel freed when this row is the timewait socket that replaced it.
    fn push_change(&mut self, event: Option<Event>, key: Key, timewait: bool) {
        let notice = self.take_notice_if(key, timewait);
        if let Some(mut event) = event {
            if let Some(destroyed) = notice {
                event.add_bytes(&destroyed);
            }
            self.events.push(event);
        }
    }

    /// A socket of the last pass that this one does not show.
    fn vanished(&mut self, old: Old<'_>, now: PassTime) {
        let entry = old.entry;
        // A timewait socket is never notified (its full socket was, when it
        // took its place): a notification under its key is another
        // connection's, opened and closed on the same 4-tuple since.
        let timewait = is_timewait_socket(entry);
        let key = old.key();
        let destroyed = self.take_notice_if(key, !timewait);
        if destroyed.is_none() && !timewait {
            // Its notification is still to come: it must not be reported
            // as another socket then.
            let held = held(entry.inode, entry.state);
            self.gone.insert(key, held, self.pass, now.instant);
        }
        if entry.followed() {
            let socket = old.socket();
            self.late.push(match destroyed {
                Some(destroyed) => Event::destroyed(Some(&socket), &destroyed, now.time),
                None => Event::gone(&socket, now.time),
            });
            self.owned_by(entry);
        }
    }

    /// Notes the owner of a socket reported gone, for the line that shows
    /// it (a compact tracker's: one keeping rows has the last owner map).
    fn owned_by(&mut self, entry: &Entry) {
        if !self.keeps_rows && entry.link != NO_LINK && entry.inode != 0 {
            self.gone_owned.push((entry.inode, entry.link));
        }
    }
}

/// The row of an event of this pass: the one kept, or, should none have
/// been (two rows under one key in one dump), what its entry has.
fn row_of(row: Option<&Socket>, entry: &Entry, addrs: &Addresses, rests: &[Rest]) -> Socket {
    match row {
        Some(row) => row.clone(),
        None => entry.whole(addrs, rests),
    }
}
