//! `--events`: which sockets are the same from one pass to the next, and
//! what changed.
//!
//! **Identity.** A socket is keyed by family, local and remote endpoint;
//! listeners, which may share an address (SO_REUSEPORT) and have no remote
//! end, also by inode. The inode alone will not do: a socket loses it when
//! its process closes it (an orphaned FIN_WAIT2) and the TIME_WAIT socket
//! that replaces it has none, yet ESTABLISHED → FIN_WAIT2 → TIME_WAIT is
//! one connection, the transition `--events` exists to show. A row under a
//! known key is the same socket when the TCP state machine can lead from
//! the old state to the new one and the inodes do not contradict it (two
//! different non-zero inodes); otherwise the old socket is gone and a new
//! one took its 4-tuple (a TIME_WAIT reused by a new connection).
//!
//! **Destroy notifications** ([`crate::source::destroy`]) are merged into
//! the pass that first sees the socket no longer alive, not reported when
//! they arrive: the kernel frees the full socket of a connection entering
//! TIME_WAIT too, and only the next dump tells that apart from a socket
//! that is really gone. A notification whose socket a dump never showed is
//! a connection that opened and closed between two polls: a `gone` event
//! with no old state. A socket a pass reported gone without its
//! notification leaves its key waiting for it, so that the notification is
//! not reported again: for two passes, or, for a socket a process held
//! (reset or timed out while open: the kernel frees it only at close),
//! until it comes. An abort (`tcp_disconnect`) clears part of the
//! addresses first; such notifications are matched on what is left.
//!
//! **Filters and scope.** The dump asks for every connection state, so
//! that a socket never seems to vanish by leaving the filtered states; a
//! socket that matches the filter (and the -a/-l scope) at any pass is
//! followed until it is gone, so `--program nginx` still shows the orphaned
//! FIN_WAIT2 and the TIME_WAIT after nginx closed.
//!
//! **Diffing** is a merge of two sorted lists: the last pass's rows, kept
//! sorted by key, and this pass's, sorted the same way. Memory is that one
//! extra copy of the rows (the buffers are swapped, never reallocated), a
//! flag per socket, the notifications of the current interval and the
//! keys waiting for a notification (bounded): a long run stays
//! flat, and a hash map of 100k sockets (three times the memory) is
//! avoided.

use crate::collect::shrink_vec;
use crate::config::Scope;
use crate::filter::{Filter, NoOwners, Owners};
use crate::model::event::{Event, EventKind};
use crate::model::time::Timestamp;
use crate::model::{Endpoint, Family, Socket, TcpState, TimerKind};
use crate::source::destroy::{is_disconnected, Destroyed};
use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

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
const HELD_MAX: usize = 1 << 16;
/// Passes a notification may wait for its socket to leave the dumps (it
/// arrived while the dump still showed it) before it is dropped as stale.
const NOTICE_MAX_AGE: u32 = 2;

/// Which sockets the user asked to see: the -a/-l scope or explicit states,
/// and the filter.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub states: u32,
    pub filter: &'a Filter,
}

impl View<'_> {
    fn keeps<O: Owners + ?Sized>(&self, s: &Socket, owners: &O) -> bool {
        self.states & s.state.mask_bit() != 0 && self.filter.matches(s, owners)
    }

    /// Whether a socket known only from its destroy notification is kept:
    /// its owners and uid are unknown, so a filter on them rejects it.
    fn keeps_unowned(&self, s: &Socket) -> bool {
        !self.filter.filters_uid() && self.keeps(s, &NoOwners)
    }
}

/// The states to dump so that a watched socket is seen in every state of
/// its life: all connection states as soon as one of them is wanted.
pub fn tracking_states(states: u32) -> u32 {
    let connections = Scope::Connected.state_mask();
    if states & connections != 0 {
        states | connections
    } else {
        states
    }
}

/// A socket's identity across passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    family: Family,
    local: Endpoint,
    remote: Endpoint,
    /// A listener's inode; 0 for every other socket.
    listener: u64,
}

impl Key {
    fn of(s: &Socket) -> Key {
        Key {
            family: s.family,
            local: s.local,
            remote: s.remote,
            listener: if s.state == TcpState::Listen {
                s.inode
            } else {
                0
            },
        }
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        let fields = |k: &Key| {
            let Key {
                family,
                local,
                remote,
                listener,
            } = *k;
            (
                family,
                local.addr,
                local.port,
                remote.addr,
                remote.port,
                listener,
            )
        };
        fields(self).cmp(&fields(other))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A destroy notification waiting for the pass that explains it.
#[derive(Debug)]
struct Notice {
    /// `None` once merged into an event of this pass.
    destroyed: Option<Destroyed>,
    time: Timestamp,
    /// Passes it has waited through while its socket was still dumped.
    age: u32,
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

    /// Takes destroy notifications received at `time`, for the next pass.
    pub fn note_destroyed(
        &mut self,
        destroyed: impl IntoIterator<Item = Destroyed>,
        time: Timestamp,
    ) {
        self.notices
            .extend(destroyed.into_iter().map(|destroyed| Notice {
                destroyed: Some(destroyed),
                time,
                age: 0,
            }));
    }

    /// Destroy notifications waiting for the next pass.
    pub fn pending_notices(&self) -> usize {
        self.notices.len()
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

    fn index_notices(&mut self) {
        self.notice_at.clear();
        for (i, notice) in self.notices.iter().enumerate() {
            if let Some(destroyed) = &notice.destroyed {
                // The latest notification for a key is the one that counts.
                self.notice_at.insert(Key::of(&destroyed.socket), i);
            }
        }
    }

    /// Walks the last pass's sockets (`last`) and this pass's (now in
    /// `self.sockets`) side by side, both sorted by key.
    fn merge(&mut self, last: &[Socket], owners: &dyn Owners, view: View<'_>, now: PassTime) {
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

    /// The notification for `key`, removed from those waiting, when `take`.
    /// A notification for a socket still alive (not a timewait socket)
    /// waits.
    fn take_notice_if(&mut self, key: Key, take: bool) -> Option<Destroyed> {
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
    fn report_unseen_notices(&mut self, view: View<'_>, now: Instant) {
        self.gone.expire(self.pass, now);
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
                // Its addresses were cleared: match what is left of them.
                let alive = alive.get_or_insert_with(|| {
                    ByRemains::new(self.sockets.iter().map(|s| (0, Key::of(s))))
                });
                if alive.matching(dead).next().is_some() && notice.age < NOTICE_MAX_AGE {
                    notice.age += 1;
                    return true;
                }
                let gone = gone.get_or_insert_with(|| ByRemains::new(self.gone.entries()));
                if let Some(key) = gone.take_oldest(dead, |k, n| self.gone.holds(k, n)) {
                    self.gone.take(&key);
                    return false;
                }
            } else {
                let alive = self
                    .sockets
                    .binary_search_by(|s| Key::of(s).cmp(&key))
                    .is_ok();
                if alive && notice.age < NOTICE_MAX_AGE {
                    notice.age += 1;
                    return true;
                }
                if self.gone.take(&key) {
                    return false;
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

/// True for the kernel's lightweight timewait sockets (TIME_WAIT, and the
/// FIN_WAIT2 of an orphan), which replace a full socket that the kernel
/// then frees and notifies as destroyed.
fn is_timewait_socket(s: &Socket) -> bool {
    s.state == TcpState::TimeWait || s.timer.kind == TimerKind::TimeWait
}

/// True when `new`, seen under the key of `old`, is the same socket later
/// in its life.
fn same_socket(old: &Socket, new: &Socket) -> bool {
    if old.inode != 0 && new.inode != 0 && old.inode != new.inode {
        return false;
    }
    old.state == new.state || may_follow(old.state, new.state)
}

/// True when TCP's state machine can lead from `from` to `to`, in one step
/// or several (a poll sees only some of them).
fn may_follow(from: TcpState, to: TcpState) -> bool {
    use TcpState::*;
    let after: &[TcpState] = match from {
        SynSent => &[
            SynRecv,
            Established,
            FinWait1,
            FinWait2,
            Closing,
            TimeWait,
            CloseWait,
            LastAck,
            Close,
        ],
        SynRecv => &[
            Established,
            FinWait1,
            FinWait2,
            Closing,
            TimeWait,
            CloseWait,
            LastAck,
            Close,
        ],
        Established => &[
            FinWait1, FinWait2, Closing, TimeWait, CloseWait, LastAck, Close,
        ],
        FinWait1 => &[FinWait2, Closing, TimeWait, Close],
        FinWait2 | Closing => &[TimeWait, Close],
        CloseWait => &[LastAck, Close],
        LastAck => &[Close],
        // A socket whose connect failed may connect again.
        Close => &[SynSent],
        TimeWait | Listen => &[],
    };
    after.contains(&to)
}

/// What a notification of an abort keeps of a connection's addresses:
/// its family, local port and remote address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Remains {
    family: Family,
    local_port: u16,
    remote: std::net::IpAddr,
}

/// Keys of connections by their [`Remains`], so that matching a burst of
/// aborts costs one pass over the keys, not one per abort. Each bucket is
/// in the order of the keys' entry numbers, with a cursor past the entries
/// found taken.
struct ByRemains(HashMap<Remains, (Vec<(u64, Key)>, usize)>);

impl ByRemains {
    /// Indexes `(entry number, key)` pairs (the number orders a bucket).
    fn new(entries: impl Iterator<Item = (u64, Key)>) -> ByRemains {
        let mut map: HashMap<Remains, (Vec<(u64, Key)>, usize)> = HashMap::new();
        for (n, k) in entries.filter(|(_, k)| k.listener == 0 && k.remote.port != 0) {
            let remains = Remains {
                family: k.family,
                local_port: k.local.port,
                remote: k.remote.addr,
            };
            map.entry(remains).or_default().0.push((n, k));
        }
        for (bucket, _) in map.values_mut() {
            bucket.sort_unstable_by_key(|&(n, _)| n);
        }
        ByRemains(map)
    }

    fn remains(dead: &Socket) -> Remains {
        Remains {
            family: dead.family,
            local_port: dead.local.port,
            remote: dead.remote.addr,
        }
    }

    /// The keys that the aborted `dead` may have had: what its
    /// notification kept, and the local address when that was kept too.
    fn matching<'a>(&'a self, dead: &'a Socket) -> impl Iterator<Item = &'a Key> + 'a {
        self.0
            .get(&Self::remains(dead))
            .into_iter()
            .flat_map(|(bucket, from)| &bucket[*from..])
            .map(|(_, k)| k)
            .filter(|k| kept_local(dead, k))
    }

    /// The oldest key `dead` may have had among the entries `live` says
    /// are still remembered (by key and entry number). Entries found taken
    /// at the front of the bucket are skipped for good.
    fn take_oldest(&mut self, dead: &Socket, live: impl Fn(&Key, u64) -> bool) -> Option<Key> {
        let (bucket, from) = self.0.get_mut(&Self::remains(dead))?;
        while bucket.get(*from).is_some_and(|(n, k)| !live(k, *n)) {
            *from += 1;
        }
        let at = bucket[*from..]
            .iter()
            .position(|(n, k)| live(k, *n) && kept_local(dead, k))?;
        let (_, key) = bucket[*from + at];
        if at == 0 {
            *from += 1;
        }
        Some(key)
    }
}

/// True unless the aborted `dead` kept a local address that `k` does not
/// have.
fn kept_local(dead: &Socket, k: &Key) -> bool {
    dead.local.addr.is_unspecified() || k.local.addr == dead.local.addr
}

/// Keys of sockets a pass no longer showed and whose destroy notification
/// has not come yet, so that it is taken by them when it comes rather than
/// reported as another connection. Bounded in time and number.
#[derive(Debug, Default)]
struct GoneKeys {
    /// Sockets no process held: their notification follows at once (or
    /// never, for timewait sockets). Oldest first.
    recent: VecDeque<(u64, Instant, Key, u64)>,
    /// Sockets that vanished while a process held them. Oldest first.
    held: VecDeque<(Key, u64)>,
    /// Each key's newest entry, by its number, and whether it is in
    /// `held`; entries of the queues whose number is not here were taken
    /// or replaced.
    at: HashMap<Key, (u64, bool)>,
    /// Entries of `held` still in `at`.
    held_live: usize,
    next: u64,
}

impl GoneKeys {
    /// Remembers `old`, which pass `pass` no longer showed.
    fn insert(&mut self, old: &Socket, pass: u64, now: Instant) {
        let key = Key::of(old);
        self.next += 1;
        let held = old.inode != 0 && old.state != TcpState::Listen;
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
    fn take(&mut self, key: &Key) -> bool {
        match self.at.remove(key) {
            Some((_, held)) => {
                self.held_live -= usize::from(held);
                true
            }
            None => false,
        }
    }

    /// The entries remembered: number and key.
    fn entries(&self) -> impl Iterator<Item = (u64, Key)> + '_ {
        self.at.iter().map(|(k, &(n, _))| (n, *k))
    }

    /// True while entry `n` of `key` is remembered.
    fn holds(&self, key: &Key, n: u64) -> bool {
        self.at.get(key).is_some_and(|&(m, _)| m == n)
    }

    fn expire(&mut self, pass: u64, now: Instant) {
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

#[cfg(test)]
mod tests;
