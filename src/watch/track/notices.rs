//! Destroy notifications ([`crate::source::destroy`]), merged into the pass
//! that first sees their socket no longer alive, not reported when they
//! arrive: the kernel frees the full socket of a connection entering
//! TIME_WAIT too, and only the next dump tells that apart from a socket
//! that is really gone. A notification whose socket a dump never showed is
//! a connection that opened and closed between two polls: a `gone` event
//! with no old state. A socket a pass reported gone without its
//! notification leaves its key waiting for it (see [`super::gone`]), so
//! that the notification is not reported again. An abort clears part of
//! the addresses first; such notifications are matched on what is left
//! (see [`super::aborts`]).

use std::collections::HashSet;
use std::time::Instant;

use super::aborts::ByRemains;
use super::key::Key;
use super::{Tracker, View};
use crate::model::event::Event;
use crate::model::time::Timestamp;
use crate::source::destroy::{is_disconnected, Destroyed};

/// Passes a notification may wait for its socket to leave the dumps (it
/// arrived while the dump still showed it) before it is dropped as stale.
const NOTICE_MAX_AGE: u32 = 2;

/// A destroy notification waiting for the pass that explains it.
#[derive(Debug)]
pub(super) struct Notice {
    /// `None` once merged into an event of this pass.
    destroyed: Option<Destroyed>,
    time: Timestamp,
    /// When it was taken, to tell whether this pass's dump began before.
    received: Instant,
    /// Passes it has waited through while its socket was still dumped.
    age: u32,
    /// A later notification came for the same key this pass: this one is
    /// an earlier connection on that 4-tuple, never the row the dump
    /// shows under it.
    superseded: bool,
}

impl Tracker {
    /// Takes destroy notifications received at `time`, for the next pass.
    pub fn note_destroyed(
        &mut self,
        destroyed: impl IntoIterator<Item = Destroyed>,
        time: Timestamp,
    ) {
        let received = Instant::now();
        self.notices
            .extend(destroyed.into_iter().map(|destroyed| Notice {
                destroyed: Some(destroyed),
                time,
                received,
                age: 0,
                superseded: false,
            }));
    }

    /// Destroy notifications waiting for the next pass.
    pub fn pending_notices(&self) -> usize {
        self.notices.len()
    }

    /// Finds, for each key, the notification that counts this pass.
    pub(super) fn index_notices(&mut self) {
        self.notice_at.clear();
        for i in 0..self.notices.len() {
            let Some(destroyed) = &self.notices[i].destroyed else {
                continue;
            };
            // The latest notification for a key is the one that counts;
            // the earlier ones are connections the polls never saw.
            if let Some(earlier) = self.notice_at.insert(Key::of(&destroyed.socket), i) {
                self.notices[earlier].superseded = true;
            }
        }
    }

    /// The notification for `key`, removed from those waiting, when `take`.
    /// A notification for a socket still alive (not a timewait socket)
    /// waits.
    pub(super) fn take_notice_if(&mut self, key: Key, take: bool) -> Option<Destroyed> {
        let &i = self.notice_at.get(&key)?;
        if !take {
            return None;
        }
        self.notice_at.remove(&key);
        self.notices[i].destroyed.take()
    }

    /// Notifications whose socket no dump ever showed: connections that
    /// opened and closed between two polls. A notification for a socket a
    /// pass reported gone is taken by it; one whose socket is still dumped
    /// waits, or goes stale.
    ///
    /// A notification taken after this pass's dump began (`now`) is not
    /// judged by it: its socket may have entered TIME_WAIT after the dump
    /// walked past its place, and the next dump shows the timewait socket
    /// that continues it. It waits one pass.
    pub(super) fn report_unseen_notices(&mut self, view: View<'_>, now: Instant) {
        self.gone.expire(self.pass, now);
        let mut cookies: Option<HashSet<u64>> = None;
        // For notifications of aborts, which lost part of their addresses:
        // this pass's and the gone sockets by what is left, built once.
        let mut alive: Option<ByRemains> = None;
        let mut gone: Option<ByRemains> = None;
        let mut notices = std::mem::take(&mut self.notices);
        notices.retain_mut(|notice| {
            let Some(destroyed) = &notice.destroyed else {
                return false; // merged into an event of this pass
            };
            let dead = &destroyed.socket;
            let key = Key::of(dead);
            if is_disconnected(dead) {
                // Its addresses were cleared: its cookie tells whether the
                // dump still showed it, else what is left of them.
                let alive = if dead.cookie() != 0 {
                    let cookies = cookies.get_or_insert_with(|| {
                        self.last.entries.iter().map(|e| e.cookie).collect()
                    });
                    cookies.contains(&dead.cookie())
                } else {
                    let alive = alive.get_or_insert_with(|| {
                        let last = &self.last;
                        ByRemains::new(last.entries.iter().map(|e| (0, e.key(&last.addrs))))
                    });
                    alive.matching(dead).next().is_some()
                };
                if alive && notice.age < NOTICE_MAX_AGE {
                    notice.age += 1;
                    return true;
                }
                let gone = gone.get_or_insert_with(|| ByRemains::new(self.gone.entries()));
                if let Some(key) = gone.take_oldest(dead, |k, n| self.gone.holds(k, n)) {
                    self.gone.take(&key);
                    return false;
                }
            } else {
                let last = &self.last;
                let alive = !notice.superseded
                    && last
                        .entries
                        .binary_search_by(|e| e.key(&last.addrs).cmp(&key))
                        .is_ok();
                if alive && notice.age < NOTICE_MAX_AGE {
                    notice.age += 1;
                    return true;
                }
                if self.gone.take(&key) {
                    return false;
                }
                if notice.received > now && notice.age == 0 && !notice.superseded {
                    notice.age += 1;
                    return true;
                }
            }
            // What is left: a connection no dump showed, or one that ended
            // on the addresses of a socket that lived on (it waited for that
            // socket to leave the dumps, in vain).
            // Listeners and never-connected sockets: the dumps tell of them.
            let connected = dead.remote.port != 0 || is_disconnected(dead);
            if connected && view.keeps_unowned(dead) {
                self.events
                    .push(Event::destroyed(None, destroyed, notice.time));
            }
            false
        });
        self.notices = notices;
    }
}
