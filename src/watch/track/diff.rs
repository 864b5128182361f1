//! The per-pass diff: a merge of two sorted lists, the last pass's rows,
//! kept sorted by key, and this pass's, sorted the same way, which tells
//! each socket as new, continued (perhaps in a new state) or vanished.
//! Memory is that one extra copy of the rows (the buffers are swapped,
//! never reallocated) and a flag per socket: a hash map of 100k sockets
//! (three times the memory) is avoided.

use std::cmp::Ordering;

use super::key::{is_timewait_socket, same_socket, Key};
use super::{PassTime, Tracker, View};
use crate::filter::Owners;
use crate::model::event::{Event, EventKind};
use crate::model::Socket;

impl Tracker {
    /// Walks the last pass's sockets (`last`) and this pass's (now in
    /// `self.sockets`) side by side, both sorted by key.
    pub(super) fn merge(
        &mut self,
        last: &[Socket],
        owners: &dyn Owners,
        view: View<'_>,
        now: PassTime,
    ) {
        let rows = std::mem::take(&mut self.sockets);
        let followed = std::mem::take(&mut self.followed);
        self.next_followed.clear();
        let (mut i, mut j) = (0, 0);
        loop {
            let order = match (last.get(i), rows.get(j)) {
                (Some(old), Some(row)) => Key::of(old).cmp(&Key::of(row)),
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
                    self.vanished(&last[i - 1], followed[i - 1], now);
                    continue;
                }
                Ordering::Greater => self.appeared(&rows[j - 1], owners, view, now),
                Ordering::Equal => {
                    let old = (&last[i - 1], followed[i - 1]);
                    self.continued(old, &rows[j - 1], owners, view, now)
                }
            };
            self.next_followed.push(followed);
        }
        self.sockets = rows;
        self.followed = followed;
    }

    /// A socket not seen before. Returns whether it is followed.
    fn appeared(
        &mut self,
        row: &Socket,
        owners: &dyn Owners,
        view: View<'_>,
        now: PassTime,
    ) -> bool {
        let in_view = view.keeps(row, owners);
        let shown = in_view && self.pass > 1;
        let event = shown.then(|| Event::seen(EventKind::New, None, row, now.time));
        self.push_change(event, row);
        in_view
    }

    /// A socket under a key seen in the last pass: the same socket later in
    /// its life, or a new one on the same 4-tuple.
    fn continued(
        &mut self,
        (old, followed): (&Socket, bool),
        row: &Socket,
        owners: &dyn Owners,
        view: View<'_>,
        now: PassTime,
    ) -> bool {
        if !same_socket(old, row) {
            if followed {
                self.events.push(Event::gone(old, now.time));
            }
            if !is_timewait_socket(old) {
                self.gone.insert(old, self.pass, now.instant);
            }
            return self.appeared(row, owners, view, now);
        }
        let in_view = view.keeps(row, owners);
        let shown = old.state != row.state && (followed || in_view);
        let event = shown.then(|| Event::seen(EventKind::State, Some(old.state), row, now.time));
        self.push_change(event, row);
        followed || in_view
    }

    /// Records a row's event, with the byte counts of the full socket the
    /// kernel freed when this row is the timewait socket that replaced it.
    fn push_change(&mut self, event: Option<Event>, row: &Socket) {
        let notice = self.take_notice_if(Key::of(row), is_timewait_socket(row));
        if let Some(mut event) = event {
            if let Some(destroyed) = notice {
                event.add_bytes(&destroyed);
            }
            self.events.push(event);
        }
    }

    /// A socket of the last pass that this one does not show.
    fn vanished(&mut self, old: &Socket, followed: bool, now: PassTime) {
        // A timewait socket is never notified (its full socket was, when it
        // took its place): a notification under its key is another
        // connection's, opened and closed on the same 4-tuple since.
        let timewait = is_timewait_socket(old);
        let destroyed = self.take_notice_if(Key::of(old), !timewait);
        if destroyed.is_none() && !timewait {
            // Its notification is still to come: it must not be reported
            // as another socket then.
            self.gone.insert(old, self.pass, now.instant);
        }
        if followed {
            self.late.push(match destroyed {
                Some(destroyed) => Event::destroyed(Some(old), &destroyed, now.time),
                None => Event::gone(old, now.time),
            });
        }
    }
}
