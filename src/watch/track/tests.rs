//! The tracker on hand-made passes: identity through the four-way close,
//! reuse of a 4-tuple, listeners sharing an address, destroy notifications
//! early, on time and late, filters that follow a socket, and bounded
//! memory over a long churn.

use super::gone::HELD_MAX;
use super::key::may_follow;
use super::*;
use crate::filter::{parse_ports, parse_states};
use crate::model::event::{EventKind, OwnersFrom};
use crate::model::StateSet;
use crate::model::{DiagId, Endpoint, Family, TcpState, Timer, TimerKind};
use crate::source::destroy::Destroyed;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const CLIENT: u16 = 40000;
const SERVER: u16 = 80;

fn endpoint(port: u16) -> Endpoint {
    Endpoint {
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port,
    }
}

fn socket(local: u16, remote: u16, state: TcpState, inode: u64) -> Socket {
    Socket {
        family: Family::Inet,
        state,
        local: endpoint(local),
        remote: endpoint(remote),
        recv_q: 0,
        send_q: 0,
        uid: 1000,
        inode,
        netns: 0,
        timer: Timer::OFF,
        shutdown: None,
        info: None,
        memory: None,
        diag_id: None,
        backlog: None,
        protocol: crate::model::Protocol::Tcp,
    }
}

/// The client's end after close(): a timewait socket, no inode.
fn timewait(state: TcpState) -> Socket {
    let mut s = socket(CLIENT, SERVER, state, 0);
    s.timer.kind = TimerKind::TimeWait;
    s
}

fn destroyed(local: u16, remote: u16, acked: u64) -> Destroyed {
    Destroyed {
        socket: socket(local, remote, TcpState::Close, 0),
        bytes_acked: Some(acked),
        bytes_received: Some(7),
    }
}

/// A tracker and its clock: pass `n` is read at second `n`. Every pass
/// goes to a tracker that keeps rows and to a compact one too, whose events
/// must print the same lines.
struct Run {
    tracker: Tracker,
    compact: Tracker,
    filter: Filter,
    states: StateSet,
    start: Instant,
    pass: u64,
}

impl Run {
    fn new() -> Run {
        Run::filtered(Filter::new(), StateSet::ALL)
    }

    fn filtered(filter: Filter, states: StateSet) -> Run {
        Run {
            tracker: Tracker::new(),
            compact: Tracker::compact(),
            filter,
            states,
            start: Instant::now(),
            pass: 0,
        }
    }

    fn at(&self, pass: u64) -> PassTime {
        PassTime {
            time: Timestamp::from_millis(1_000 * pass as i64),
            instant: self.start + Duration::from_secs(pass),
        }
    }

    /// One pass; events as `(kind, old state, state, local port)`.
    fn pass(&mut self, rows: &[Socket]) -> Vec<(EventKind, Option<TcpState>, TcpState, u16)> {
        self.events(rows)
            .iter()
            .map(|e| (e.kind, e.old_state, e.socket.state, e.socket.local.port))
            .collect()
    }

    /// One pass; the events whole.
    fn events(&mut self, rows: &[Socket]) -> Vec<Event> {
        self.pass += 1;
        let view = View {
            states: self.states,
            filter: &self.filter,
        };
        let now = self.at(self.pass);
        let events: Vec<Event> = self
            .tracker
            .update(&mut rows.to_vec(), &NoOwners, view, now)
            .cloned()
            .collect();
        // The compact tracker takes the pass in batches, as a stream.
        let mut batches: Vec<Vec<Socket>> = rows.chunks(2).map(<[Socket]>::to_vec).collect();
        for batch in &mut batches {
            self.compact.take(batch, None, view);
        }
        self.compact.finish(Some(&NoOwners), view, now);
        let compact: Vec<Event> = self.compact.events().cloned().collect();
        assert_eq!(
            compact.iter().map(line).collect::<Vec<_>>(),
            events.iter().map(line).collect::<Vec<_>>(),
            "a compact tracker prints other lines"
        );
        events
    }

    fn destroy(&mut self, d: Destroyed) {
        let time = Timestamp::from_millis(1_000 * self.pass as i64 + 500);
        self.tracker.note_destroyed([d.clone()], time);
        self.compact.note_destroyed([d], time);
    }
}

/// What an event's text line shows (and what decides its owner).
#[allow(clippy::type_complexity)]
fn line(
    e: &Event,
) -> (
    Timestamp,
    EventKind,
    Option<TcpState>,
    &'static str,
    TcpState,
    Endpoint,
    Endpoint,
    (u64, u64, u32, bool),
    (Option<u64>, Option<u64>, OwnersFrom),
) {
    let s = &e.socket;
    (
        e.time,
        e.kind,
        e.old_state,
        s.proto(),
        s.state,
        s.local,
        s.remote,
        (s.inode, s.cookie(), s.uid, e.uid_known),
        (e.bytes_acked, e.bytes_received, e.owners),
    )
}

use EventKind::{Gone, New, State};
use TcpState::*;

#[test]
fn baseline_is_silent_then_changes_are_reported() {
    let mut run = Run::new();
    let listener = socket(SERVER, 0, Listen, 1);
    assert_eq!(run.pass(std::slice::from_ref(&listener)), []);
    let client = socket(CLIENT, SERVER, Established, 2);
    let server = socket(SERVER, CLIENT, Established, 3);
    assert_eq!(
        run.pass(&[listener.clone(), client.clone(), server.clone()]),
        // In key order: the server's port is the lower.
        [
            (New, None, Established, SERVER),
            (New, None, Established, CLIENT)
        ]
    );
    assert_eq!(run.pass(&[listener.clone(), client, server]), []);
    assert_eq!(run.tracker.last.entries.len(), 3);
}

#[test]
fn four_way_close_is_one_socket_per_side() {
    let mut run = Run::new();
    let client = |state| socket(CLIENT, SERVER, state, 2);
    let server = |state| socket(SERVER, CLIENT, state, 3);
    run.pass(&[client(Established), server(Established)]);
    assert_eq!(
        run.pass(&[timewait(FinWait2), server(CloseWait)]),
        [
            (State, Some(Established), CloseWait, SERVER),
            (State, Some(Established), FinWait2, CLIENT)
        ]
    );
    assert_eq!(
        run.pass(&[timewait(TimeWait)]),
        [
            (State, Some(FinWait2), TimeWait, CLIENT),
            (Gone, Some(CloseWait), CloseWait, SERVER)
        ]
    );
    assert_eq!(run.pass(&[]), [(Gone, Some(TimeWait), TimeWait, CLIENT)]);
    assert!(run.tracker.last.entries.is_empty());
    assert!(run.compact.last.entries.is_empty());
}

#[test]
fn another_socket_on_the_same_four_tuple_is_gone_and_new() {
    let mut run = Run::new();
    run.pass(&[timewait(TimeWait)]);
    // TIME_WAIT cannot become SYN_SENT: the 4-tuple was reused.
    assert_eq!(
        run.pass(&[socket(CLIENT, SERVER, SynSent, 9)]),
        [
            (Gone, Some(TimeWait), TimeWait, CLIENT),
            (New, None, SynSent, CLIENT)
        ]
    );
    // Two different inodes are two sockets, even in the same state.
    assert_eq!(
        run.pass(&[socket(CLIENT, SERVER, SynSent, 10)]),
        [
            (Gone, Some(SynSent), SynSent, CLIENT),
            (New, None, SynSent, CLIENT)
        ]
    );
    // A request socket (no inode) accepted: the same connection.
    run.pass(&[socket(SERVER, CLIENT, SynRecv, 0)]);
    assert_eq!(
        run.pass(&[socket(SERVER, CLIENT, Established, 11)]),
        [(State, Some(SynRecv), Established, SERVER)]
    );
}

#[test]
fn listeners_sharing_an_address_are_told_apart_by_inode() {
    let mut run = Run::new();
    let (a, b) = (socket(SERVER, 0, Listen, 1), socket(SERVER, 0, Listen, 2));
    run.pass(&[a.clone(), b.clone()]);
    assert_eq!(run.pass(&[b.clone(), a.clone()]), []);
    let gone = run.events(&[b]);
    assert_eq!(gone.len(), 1);
    assert_eq!((gone[0].kind, gone[0].socket.inode), (Gone, 1));
    assert_eq!(gone[0].owners, OwnersFrom::Previous);
}

#[test]
fn duplicate_rows_in_one_pass_count_once() {
    let mut run = Run::new();
    let s = socket(CLIENT, SERVER, Established, 2);
    run.pass(&[]);
    assert_eq!(
        run.pass(&[s.clone(), s.clone()]),
        [(New, None, Established, CLIENT)]
    );
    assert_eq!(run.tracker.last.entries.len(), 1);
}

#[test]
fn destroy_merges_into_the_pass_that_misses_the_socket() {
    let mut run = Run::new();
    run.pass(&[socket(SERVER, CLIENT, LastAck, 3)]);
    run.destroy(destroyed(SERVER, CLIENT, 1001));
    let events = run.events(&[]);
    assert_eq!(events.len(), 1, "{events:?}");
    let gone = &events[0];
    assert_eq!(
        (gone.kind, gone.old_state, gone.socket.state),
        (Gone, Some(LastAck), Close)
    );
    assert_eq!(
        (gone.bytes_acked, gone.bytes_received),
        (Some(1001), Some(7))
    );
    // The kernel sends no inode or uid: the last dump's are kept.
    assert_eq!((gone.socket.inode, gone.socket.uid), (3, 1000));
    assert_eq!(run.tracker.pending_notices(), 0);
}

#[test]
fn destroy_of_a_full_socket_turned_timewait_adds_bytes_to_the_state_event() {
    let mut run = Run::new();
    run.pass(&[socket(CLIENT, SERVER, Established, 2)]);
    run.destroy(destroyed(CLIENT, SERVER, 12));
    let events = run.events(&[timewait(FinWait2)]);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].kind, events[0].socket.state), (State, FinWait2));
    assert_eq!(events[0].bytes_acked, Some(12));
    assert_eq!(run.tracker.pending_notices(), 0);
    // A notification that comes after its timewait socket was reported
    // has nothing left to add.
    run.destroy(destroyed(CLIENT, SERVER, 12));
    assert_eq!(run.pass(&[timewait(FinWait2)]), []);
    assert_eq!(run.tracker.pending_notices(), 0);
}

#[test]
fn connection_between_two_polls_is_one_gone_event_before_the_dump() {
    let mut run = Run::new();
    run.pass(&[]);
    run.destroy(destroyed(SERVER, CLIENT, 5));
    run.destroy(destroyed(CLIENT, SERVER, 6));
    let events = run.events(&[timewait(TimeWait)]);
    let summary: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.kind,
                e.old_state,
                e.socket.state,
                e.socket.local.port,
                e.bytes_acked,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Gone, None, Close, SERVER, Some(5)),
            (New, None, TimeWait, CLIENT, Some(6))
        ]
    );
    assert_eq!(
        events[0].time,
        Timestamp::from_millis(1_500),
        "when it was heard"
    );
    // Listeners and never-connected sockets are left to the dumps.
    let mut listener = destroyed(SERVER, 0, 0);
    listener.socket.remote.addr = Ipv4Addr::UNSPECIFIED.into();
    run.destroy(listener);
    assert_eq!(run.pass(&[timewait(TimeWait)]), []);
}

#[test]
fn destroy_of_a_socket_still_dumped_waits_for_the_next_pass() {
    let mut run = Run::new();
    let server = socket(SERVER, CLIENT, LastAck, 3);
    run.pass(std::slice::from_ref(&server));
    // Freed after the dump read it: this pass still shows it.
    run.destroy(destroyed(SERVER, CLIENT, 9));
    assert_eq!(run.pass(std::slice::from_ref(&server)), []);
    let events = run.events(&[]);
    assert_eq!((events[0].kind, events[0].bytes_acked), (Gone, Some(9)));
    // One whose addresses a socket keeps waits two passes, then is taken
    // for what it is: an earlier connection on those addresses.
    let live = socket(CLIENT, SERVER, Established, 2);
    run.pass(std::slice::from_ref(&live));
    run.destroy(destroyed(CLIENT, SERVER, 1));
    assert_eq!(run.pass(std::slice::from_ref(&live)), []);
    assert_eq!(run.pass(std::slice::from_ref(&live)), []);
    assert_eq!(
        run.pass(std::slice::from_ref(&live)),
        [(Gone, None, Close, CLIENT)]
    );
    assert_eq!(run.tracker.pending_notices(), 0);
    assert_eq!(run.pass(&[live]), []);
}

#[test]
fn a_timewait_socket_takes_no_notification_and_leaves_no_key() {
    let mut run = Run::new();
    run.pass(&[timewait(TimeWait)]);
    // The TIME_WAIT expires; a new connection on its 4-tuple opens and
    // closes before the next poll, notified before it...
    run.destroy(destroyed(CLIENT, SERVER, 5));
    let events = run.events(&[]);
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.kind, e.old_state, e.bytes_acked))
        .collect();
    assert_eq!(
        summary,
        [(Gone, None, Some(5)), (Gone, Some(TimeWait), None)]
    );
    // ...or after it.
    run.pass(&[timewait(TimeWait)]);
    assert_eq!(run.pass(&[]), [(Gone, Some(TimeWait), TimeWait, CLIENT)]);
    run.destroy(destroyed(CLIENT, SERVER, 6));
    assert_eq!(run.pass(&[]), [(Gone, None, Close, CLIENT)]);
    assert_eq!(run.tracker.gone.at.len(), 0);
}

#[test]
fn an_abort_beside_a_live_connection_from_the_same_host_is_reported() {
    let mut run = Run::new();
    let other = socket(SERVER, CLIENT + 1, Established, 4);
    run.pass(std::slice::from_ref(&other));
    let mut abort = destroyed(SERVER, 0, 0);
    abort.socket.remote.addr = Ipv4Addr::LOCALHOST.into();
    run.destroy(abort);
    // It might be `other` (aborted after the dump): it waits two passes.
    assert_eq!(run.pass(std::slice::from_ref(&other)), []);
    assert_eq!(run.pass(std::slice::from_ref(&other)), []);
    assert_eq!(
        run.pass(std::slice::from_ref(&other)),
        [(Gone, None, Close, SERVER)]
    );
}

#[test]
fn the_held_bound_counts_only_keys_still_waiting() {
    let mut run = Run::new();
    let ports = |i: u32| (1024 + (i % 60_000) as u16, 1 + (i / 60_000) as u16);
    let held = |i: u32| {
        let (local, remote) = ports(i);
        socket(local, remote, Established, 1 + u64::from(i))
    };
    // More held sockets vanish in one pass than the bound: the oldest
    // are forgotten, no more.
    let many: Vec<Socket> = (0..HELD_MAX as u32 + 10).map(held).collect();
    run.pass(&many);
    run.pass(&[]);
    assert_eq!(run.tracker.gone.held_live, HELD_MAX);
    // Notified ones free their room at once.
    for i in 10..1_010 {
        let (local, remote) = ports(i);
        run.destroy(destroyed(local, remote, 1));
    }
    run.pass(&[]);
    assert_eq!(run.tracker.gone.held_live, HELD_MAX - 1_000);
    // That room is there for the next ones: none still waiting is lost.
    let next: Vec<Socket> = (100_000..101_000).map(held).collect();
    run.pass(&next);
    run.pass(&[]);
    assert_eq!(run.tracker.gone.held_live, HELD_MAX);
    let waiting = |i: u32| run.tracker.gone.at.contains_key(&Key::of(&held(i)));
    assert!(waiting(1_010) && waiting(100_999));
}

#[test]
fn late_destroy_of_a_socket_already_gone_is_not_reported_again() {
    let mut run = Run::new();
    run.pass(&[socket(SERVER, CLIENT, LastAck, 3)]);
    assert_eq!(run.pass(&[]), [(Gone, Some(LastAck), LastAck, SERVER)]);
    run.destroy(destroyed(SERVER, CLIENT, 9));
    assert_eq!(run.pass(&[]), []);
}

#[test]
fn a_socket_that_matched_once_is_followed_until_gone() {
    let established = parse_states("established").unwrap();
    let mut run = Run::filtered(Filter::new().with_states(established), established);
    let server = |state| socket(SERVER, CLIENT, state, 3);
    run.pass(&[]);
    let stranger = socket(CLIENT + 1, SERVER, TimeWait, 0);
    assert_eq!(
        run.pass(&[server(Established), stranger.clone()]),
        [(New, None, Established, SERVER)]
    );
    assert_eq!(
        run.pass(&[server(CloseWait), stranger.clone()]),
        [(State, Some(Established), CloseWait, SERVER)]
    );
    assert_eq!(
        run.pass(&[server(LastAck)]),
        [(State, Some(CloseWait), LastAck, SERVER)]
    );
    assert_eq!(run.pass(&[]), [(Gone, Some(LastAck), LastAck, SERVER)]);
    // Entering the filtered states is shown too.
    let time_wait = parse_states("time-wait").unwrap();
    let mut run = Run::filtered(Filter::new().with_states(time_wait), time_wait);
    run.pass(&[socket(CLIENT, SERVER, Established, 2)]);
    assert_eq!(run.pass(&[timewait(FinWait2)]), []);
    assert_eq!(
        run.pass(&[timewait(TimeWait)]),
        [(State, Some(FinWait2), TimeWait, CLIENT)]
    );
}

#[test]
fn filters_apply_to_destroy_only_events() {
    let ports = Filter::new().with_sports([parse_ports("443").unwrap()]);
    let mut run = Run::filtered(ports, StateSet::ALL);
    run.pass(&[]);
    run.destroy(destroyed(SERVER, CLIENT, 1));
    run.destroy(destroyed(443, CLIENT, 2));
    assert_eq!(run.pass(&[]), [(Gone, None, Close, 443)]);
}

#[test]
fn state_machine_order() {
    assert!(may_follow(Established, TimeWait));
    assert!(may_follow(SynSent, Established));
    assert!(may_follow(CloseWait, LastAck));
    assert!(!may_follow(TimeWait, Established));
    assert!(!may_follow(FinWait2, CloseWait));
    assert!(!may_follow(LastAck, Established));
    assert!(!may_follow(Listen, Established));
    // Every state of a connection's life follows its opening, and CLOSE
    // ends that life: a reconnect is one step, not a way back.
    assert!(may_follow(SynSent, Close) && may_follow(SynRecv, TimeWait));
    assert!(!may_follow(SynSent, SynSent) && !may_follow(Established, SynSent));
    assert!(may_follow(Close, SynSent) && !may_follow(Close, Established));
    let listening = StateSet::listening();
    assert_eq!(tracking_states(listening), listening);
    assert_eq!(
        tracking_states(StateSet::of(TimeWait)),
        StateSet::connections()
    );
}

#[test]
fn memory_follows_the_live_sockets_over_a_long_churn() {
    let mut run = Run::new();
    let mut peak = 0;
    for pass in 0..5_000u16 {
        // 100 live connections, 10 replaced every pass, some destroyed
        // between polls.
        let first = pass * 10;
        let rows: Vec<Socket> = (first..first + 100)
            .map(|i| socket(1024 + i % 60_000, SERVER, Established, 1 + u64::from(i)))
            .collect();
        run.destroy(destroyed(2, 3 + pass % 1000, 1));
        run.pass(&rows);
        assert_eq!(run.tracker.last.entries.len(), 100);
        peak = peak.max(run.tracker.gone.at.len());
    }
    // Held sockets that vanished without a notification are kept for it,
    // up to a bound.
    assert!(peak <= HELD_MAX + 3 * 11, "gone keys kept: {peak}");
    assert!(run.tracker.gone.held.len() <= HELD_MAX);
    assert!(run.tracker.last.entries.capacity() <= 4 * 1024);
    assert!(run.tracker.last.rests.capacity() <= 4 * 1024);
    assert!(run.compact.last.entries.capacity() <= 4 * 1024);
    assert!(run.compact.rows.capacity() <= 4 * 1024);
    assert_eq!(run.tracker.pending_notices(), 0);
}

/// A destroyed socket whose connection was aborted (`SO_LINGER` 0): the
/// kernel cleared its remote port and unbound local address.
fn disconnected(local: u16, remote_addr: Ipv4Addr) -> Destroyed {
    let mut d = destroyed(local, 0, 3);
    d.socket.local.addr = Ipv4Addr::UNSPECIFIED.into();
    d.socket.remote.addr = remote_addr.into();
    d
}

#[test]
fn late_destroy_of_a_socket_reset_while_held_is_not_a_second_gone() {
    let mut run = Run::new();
    let held = socket(SERVER, CLIENT, Established, 5);
    run.pass(std::slice::from_ref(&held));
    // Reset by the peer: out of the dumps at once...
    assert_eq!(
        run.pass(&[]),
        [(Gone, Some(Established), Established, SERVER)]
    );
    for _ in 0..5 {
        assert_eq!(run.pass(&[]), []);
    }
    // ...freed, and notified, when the process closes it much later.
    run.destroy(destroyed(SERVER, CLIENT, 4));
    assert_eq!(run.pass(&[]), []);
    // The next connection on that 4-tuple is reported again.
    run.destroy(destroyed(SERVER, CLIENT, 5));
    assert_eq!(run.pass(&[]), [(Gone, None, Close, SERVER)]);
}

#[test]
fn short_connections_reusing_a_4_tuple_are_each_reported() {
    let mut run = Run::new();
    run.pass(&[]);
    for acked in [10, 11, 12] {
        run.destroy(destroyed(CLIENT, SERVER, acked));
    }
    let acked: Vec<_> = run.events(&[]).iter().map(|e| e.bytes_acked).collect();
    assert_eq!(acked, [Some(10), Some(11), Some(12)]);
}

#[test]
fn aborted_connections_are_matched_without_their_cleared_addresses() {
    let mut run = Run::new();
    let client = socket(CLIENT, SERVER, Established, 7);
    let other = socket(CLIENT + 1, SERVER, Established, 8);
    run.pass(&[client.clone(), other.clone()]);
    // Aborted after this dump read it: it waits while still dumped...
    run.destroy(disconnected(CLIENT, Ipv4Addr::LOCALHOST));
    assert_eq!(run.pass(&[client, other.clone()]), []);
    // ...and is the same socket as the one the next dump misses.
    assert_eq!(
        run.pass(std::slice::from_ref(&other)),
        [(Gone, Some(Established), Established, CLIENT)]
    );
    assert_eq!(run.pass(std::slice::from_ref(&other)), []);
    // Aborted between two polls: reported as the kernel left it.
    run.destroy(disconnected(CLIENT + 2, Ipv4Addr::LOCALHOST));
    let events = run.events(std::slice::from_ref(&other));
    assert_eq!(events.len(), 1, "{events:?}");
    let gone = &events[0];
    assert_eq!((gone.kind, gone.old_state), (Gone, None));
    assert_eq!(
        (gone.socket.local.port, gone.socket.remote.port),
        (CLIENT + 2, 0)
    );
    assert!(!gone.uid_known);
}

#[test]
fn owner_filters_drop_destroy_only_events() {
    // The notification says nothing of uid, pid or program.
    for filter in [
        Filter::new().with_uids([1000]),
        Filter::new().with_uids([0]),
        Filter::new().with_pids([1]),
        Filter::new().with_programs(["nginx".to_string()]),
    ] {
        let mut run = Run::filtered(filter, StateSet::ALL);
        run.pass(&[]);
        run.destroy(destroyed(CLIENT, SERVER, 1));
        assert_eq!(run.pass(&[]), []);
    }
}

#[test]
fn events_are_in_time_order() {
    let mut run = Run::new();
    run.pass(&[socket(CLIENT, SERVER, Established, 2)]);
    // One notification before the next dump, one after it.
    run.destroy(destroyed(1, SERVER, 1));
    let after = Timestamp::from_millis(2_000 + 300);
    for tracker in [&mut run.tracker, &mut run.compact] {
        tracker.note_destroyed([destroyed(3, SERVER, 1)], after);
    }
    let events = run.events(&[socket(CLIENT, SERVER, CloseWait, 2)]);
    let order: Vec<_> = events
        .iter()
        .map(|e| (e.kind, e.socket.local.port))
        .collect();
    assert_eq!(order, [(Gone, 1), (State, CLIENT), (Gone, 3)]);
    assert!(events.windows(2).all(|w| w[0].time <= w[1].time));
}

#[test]
fn held_sockets_notified_late_leave_nothing_behind() {
    let mut run = Run::new();
    // One whose process never closes it: its entry stays, first in line.
    run.pass(&[socket(CLIENT, SERVER, Established, 99_999)]);
    let mut peak = 0;
    for pass in 0..3_000u16 {
        // Each pass, one held connection is reset (it leaves the dumps)
        // and the one reset the pass before is closed by its process.
        let port = 1024 + pass;
        run.pass(&[socket(port, SERVER, Established, u64::from(port))]);
        run.destroy(destroyed(port - 1, SERVER, 1));
        peak = peak.max(run.tracker.gone.held.len());
    }
    assert!(peak <= 2 * 3 + 64, "held entries kept: {peak}");
    assert!(run.tracker.gone.held_live <= 3);
}

#[test]
fn aborts_sharing_what_is_left_of_their_addresses_take_one_gone_each() {
    let mut run = Run::new();
    // A server aborting three clients of one host: its notifications all
    // read 127.0.0.1:80 -> 127.0.0.1:0.
    let servers: Vec<Socket> = (0..3)
        .map(|i| socket(SERVER, CLIENT + i, Established, 10 + u64::from(i)))
        .collect();
    run.pass(&servers);
    let gone = run.pass(&[]);
    assert_eq!(gone.len(), 3);
    let abort = || {
        let mut d = destroyed(SERVER, 0, 0);
        d.socket.remote.addr = Ipv4Addr::LOCALHOST.into();
        d
    };
    for _ in 0..4 {
        run.destroy(abort());
    }
    // Three are the sockets just gone; the fourth no dump showed.
    assert_eq!(run.pass(&[]), [(Gone, None, Close, SERVER)]);
    assert_eq!(run.tracker.gone.at.len(), 0);
}

/// A socket with a cookie, as netlink dumps it.
fn with_cookie(mut s: Socket, cookie: u64) -> Socket {
    s.diag_id = Some(DiagId {
        interface: 0,
        cookie,
    });
    s
}

#[test]
fn time_waits_with_different_cookies_are_different_sockets() {
    let mut run = Run::new();
    run.pass(&[]);
    let first = with_cookie(timewait(TimeWait), 1);
    assert_eq!(
        run.pass(std::slice::from_ref(&first)),
        [(New, None, TimeWait, CLIENT)]
    );
    assert_eq!(run.pass(std::slice::from_ref(&first)), []);
    let second = with_cookie(timewait(TimeWait), 2);
    assert_eq!(
        run.pass(&[second]),
        [
            (Gone, Some(TimeWait), TimeWait, CLIENT),
            (New, None, TimeWait, CLIENT)
        ]
    );
}

#[test]
fn an_abort_is_reported_at_once_when_no_dump_showed_its_cookie() {
    let mut run = Run::new();
    // Other connections to the server from the same address: what an
    // abort's notification keeps of its addresses matches each of them.
    let others = [
        with_cookie(socket(SERVER, CLIENT, Established, 7), 1),
        with_cookie(socket(SERVER, CLIENT + 1, Established, 8), 2),
    ];
    run.pass(&others);
    let mut aborted = disconnected(SERVER, Ipv4Addr::LOCALHOST);
    aborted.socket = with_cookie(aborted.socket, 3);
    run.destroy(aborted);
    assert_eq!(run.pass(&others), [(Gone, None, Close, SERVER)]);
    // One the dump did show waits for the pass that misses it.
    let mut first = disconnected(SERVER, Ipv4Addr::LOCALHOST);
    first.socket = with_cookie(first.socket, 1);
    run.destroy(first);
    assert_eq!(run.pass(&others), []);
    assert_eq!(
        run.pass(&others[1..]),
        [(Gone, Some(Established), Established, SERVER)]
    );
    assert_eq!(run.pass(&others[1..]), []);
}

#[test]
fn a_notice_taken_after_the_dump_began_waits_for_the_next_dump() {
    let mut run = Run::new();
    run.pass(&[]);
    // The client entered TIME_WAIT after the dump walked past its place,
    // and the notification of its full socket was taken after the dump.
    run.pass += 1;
    let now = run.at(run.pass);
    let view = View {
        states: run.states,
        filter: &run.filter,
    };
    let mut rows = Vec::new();
    let early = PassTime {
        instant: Instant::now() - Duration::from_secs(1),
        ..now
    };
    for tracker in [&mut run.tracker, &mut run.compact] {
        let pass = tracker.update(&mut rows, &NoOwners, view, now).count();
        assert_eq!(pass, 0);
        tracker.note_destroyed([destroyed(CLIENT, SERVER, 10)], now.time);
        let events: Vec<_> = tracker
            .update(&mut rows, &NoOwners, view, early)
            .cloned()
            .collect();
        assert!(events.is_empty(), "{events:?}");
    }
    // The next dump shows the TIME_WAIT: one socket, with its bytes.
    let events = run.events(&[timewait(TimeWait)]);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].kind, events[0].socket.state), (New, TimeWait));
    assert_eq!(events[0].bytes_acked, Some(10));
}

#[test]
fn of_two_notices_on_one_4_tuple_the_earlier_is_its_own_connection() {
    let mut run = Run::new();
    run.pass(&[]);
    run.destroy(destroyed(CLIENT, SERVER, 10));
    run.destroy(destroyed(CLIENT, SERVER, 20));
    // The dump shows the later connection's TIME_WAIT; the earlier one
    // opened and closed between the polls.
    let events = run.events(&[timewait(TimeWait)]);
    let seen: Vec<_> = events.iter().map(|e| (e.kind, e.bytes_acked)).collect();
    assert_eq!(seen, [(Gone, Some(10)), (New, Some(20))], "{events:?}");
}

/// Under `-N all` two namespaces may each hold the same 4-tuple: two
/// sockets, each followed on its own, and a destroy notice heard in one
/// namespace explains only that namespace's socket.
#[test]
fn the_same_four_tuple_in_two_namespaces_is_two_sockets() {
    let in_ns = |mut s: Socket, netns: u64| {
        s.netns = netns;
        s
    };
    let (a, b) = (4026531001, 4026531002);
    let mut run = Run::new();
    let client = |state, netns| in_ns(socket(CLIENT, SERVER, state, 0), netns);
    run.pass(&[client(Established, a), client(Established, b)]);
    assert_eq!(run.tracker.last.entries.len(), 2);
    assert_eq!(run.compact.last.entries.len(), 2);
    // Only a's moves on; b's stays.
    let events = run.events(&[client(FinWait1, a), client(Established, b)]);
    let seen: Vec<_> = events.iter().map(|e| (e.kind, e.socket.netns)).collect();
    assert_eq!(seen, [(State, a)]);
    // b's is destroyed (its notice tagged with b) while a's stays.
    let mut d = destroyed(CLIENT, SERVER, 5);
    d.socket.netns = b;
    run.destroy(d);
    let events = run.events(&[client(FinWait1, a)]);
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.kind, e.socket.netns, e.bytes_acked))
        .collect();
    assert_eq!(seen, [(Gone, b, Some(5))]);
    assert_eq!(run.pass(&[client(FinWait1, a)]), []);
}

#[test]
fn a_compact_tracker_remembers_the_owner_of_a_gone_socket() {
    use crate::owners::ProcessMap;
    let owner = |pid: u32, name: &str| crate::model::Owner {
        pid,
        fd: 3,
        name: name.into(),
    };
    let map = ProcessMap::from_first_owners([(2, owner(7, "nginx")), (3, owner(8, "curl"))]);
    let view = View {
        states: StateSet::ALL,
        filter: &Filter::new(),
    };
    let run = Run::new();
    let mut tracker = Tracker::compact();
    let mut rows = vec![
        socket(SERVER, CLIENT, Established, 2),
        socket(CLIENT, SERVER, Established, 3),
    ];
    assert_eq!(tracker.update(&mut rows, &map, view, run.at(1)).count(), 0);
    assert!(tracker.gone_owners().is_none());
    // The next pass's map no longer has them: the owners shown are those
    // the last pass saw.
    let mut rows = vec![socket(CLIENT, SERVER, Established, 3)];
    let events: Vec<Event> = tracker
        .update(&mut rows, &ProcessMap::default(), view, run.at(2))
        .cloned()
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind, events[0].owners),
        (Gone, OwnersFrom::Previous)
    );
    let gone = tracker.gone_owners().unwrap();
    assert_eq!(gone.owners(2).len(), 1);
    assert_eq!(
        (gone.owners(2)[0].pid, &*gone.owners(2)[0].name),
        (7, "nginx")
    );
    assert!(gone.owners(3).is_empty());
}

#[test]
fn a_tracker_keeping_rows_reports_a_gone_socket_whole() {
    use crate::model::info::{SkMem, TcpInfo};
    use crate::model::Shutdown;
    // Every field an entry does not keep, set to something of its own.
    let mut busy = with_cookie(socket(CLIENT, SERVER, TcpState::Established, 10), 77);
    busy.recv_q = 3;
    busy.send_q = 4000;
    busy.timer = Timer {
        kind: TimerKind::Keepalive,
        expires_ms: 7_199_000,
        retransmits: 2,
        probes: 5,
    };
    busy.shutdown = Some(Shutdown::from_kernel(2));
    busy.info = Some(Box::new(TcpInfo {
        rtt_us: 1234,
        ..TcpInfo::default()
    }));
    busy.memory = Some(Box::new(SkMem {
        rcvbuf: 131_072,
        ..SkMem::default()
    }));
    busy.diag_id = Some(DiagId {
        interface: 9,
        cookie: 77,
    });
    let mut listener = with_cookie(socket(SERVER, 0, TcpState::Listen, 11), 78);
    listener.backlog = Some(4096);
    let mut run = Run::new();
    run.pass(&[busy.clone(), listener.clone()]);
    // Shown in the pass before it goes: its row is kept for the event and
    // its rest for the next pass.
    let mut closing = busy.clone();
    closing.state = TcpState::FinWait1;
    closing.send_q = 4001;
    assert_eq!(
        run.pass(&[closing.clone(), listener.clone()]),
        [(
            EventKind::State,
            Some(TcpState::Established),
            TcpState::FinWait1,
            CLIENT
        )]
    );
    let gone = run.events(&[]);
    let sockets: Vec<&Socket> = gone.iter().map(|e| &e.socket).collect();
    assert_eq!(sockets, [&listener, &closing], "in key order");
    assert!(gone.iter().all(|e| e.kind == EventKind::Gone));
}
