//! A socket's identity across passes.
//!
//! A socket is keyed by its network namespace (under `-N all` two
//! namespaces may each hold 127.0.0.1:80 <-> 127.0.0.1:40000), family,
//! local and remote endpoint; listeners, which
//! may share an address (SO_REUSEPORT) and have no remote end, also by
//! inode. The inode alone will not do: a socket loses it when its process
//! closes it (an orphaned FIN_WAIT2) and the TIME_WAIT socket that replaces
//! it has none, yet ESTABLISHED → FIN_WAIT2 → TIME_WAIT is one connection,
//! the transition `--events` exists to show. A row under a known key is the
//! same socket when the TCP state machine can lead from the old state to
//! the new one and the inodes do not contradict it (two different non-zero
//! inodes, nor, where the source gives them, two different cookies);
//! otherwise the old socket is gone and a new one took its 4-tuple (a
//! TIME_WAIT reused by a new connection).

use std::cmp::Ordering;

use crate::model::{Endpoint, Family, Protocol, Socket, TcpState, TimerKind};

/// A socket's identity across passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Key {
    /// The namespace's inode under `-N all`; 0 otherwise.
    pub(super) netns: u64,
    pub(super) family: Family,
    pub(super) local: Endpoint,
    pub(super) remote: Endpoint,
    /// A listener's inode; 0 for every other socket.
    pub(super) listener: u64,
}

impl Key {
    /// The key of a dumped or notified socket.
    pub(super) fn of(s: &Socket) -> Key {
        Key {
            netns: s.netns,
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
                netns,
                family,
                local,
                remote,
                listener,
            } = *k;
            (
                netns,
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

/// What tells one socket's life from another's under one key: a dumped
/// row, or what the tracker keeps of one between passes.
pub(super) trait Life {
    /// 0 for TIME_WAIT, request and orphaned sockets.
    fn inode(&self) -> u64;
    /// 0 where the source has none.
    fn cookie(&self) -> u64;
    fn state(&self) -> TcpState;
    fn protocol(&self) -> Protocol;
    /// Whether its timer is a timewait socket's.
    fn timewait_timer(&self) -> bool;

    /// A request socket (see [`Socket::is_request`]).
    fn is_request(&self) -> bool {
        self.protocol() == Protocol::Tcp && self.state() == TcpState::SynRecv && self.inode() == 0
    }
}

impl Life for Socket {
    fn inode(&self) -> u64 {
        self.inode
    }
    fn cookie(&self) -> u64 {
        Socket::cookie(self)
    }
    fn state(&self) -> TcpState {
        self.state
    }
    fn protocol(&self) -> Protocol {
        self.protocol
    }
    fn timewait_timer(&self) -> bool {
        self.timer.kind == TimerKind::TimeWait
    }
}

/// True for the kernel's lightweight timewait sockets (TIME_WAIT, and the
/// FIN_WAIT2 of an orphan), which replace a full socket that the kernel
/// then frees and notifies as destroyed.
pub(super) fn is_timewait_socket(s: &impl Life) -> bool {
    s.state() == TcpState::TimeWait || s.timewait_timer()
}

/// True when `new`, seen under the key of `old`, is the same socket later
/// in its life.
pub(super) fn same_socket(old: &impl Life, new: &impl Life) -> bool {
    if old.inode() != 0 && new.inode() != 0 && old.inode() != new.inode() {
        return false;
    }
    // A cookie names one socket for the kernel's uptime, and a timewait
    // socket takes its full socket's (which a dump gave it). Two TIME_WAITs
    // on one 4-tuple, with no inode to tell them apart, differ here. A
    // request socket's child has a cookie of its own, yet goes on with the
    // handshake the request began.
    let (a, b) = (old.cookie(), new.cookie());
    if a != 0 && b != 0 && a != b && !old.is_request() {
        return false;
    }
    old.state() == new.state() || may_follow(old.state(), new.state())
}

/// True when TCP's state machine can lead from `from` to `to`, in one step
/// or several (a poll sees only some of them).
pub(super) fn may_follow(from: TcpState, to: TcpState) -> bool {
    match from {
        // A socket whose connect failed may connect again.
        TcpState::Close => to == TcpState::SynSent,
        _ => later_in_life(from, to),
    }
}

/// True when `to` comes after `from` in one connection's life: any number
/// of [`next_states`] steps, up to CLOSE, TIME_WAIT or LISTEN, where a life
/// ends (or, for LISTEN, never becomes a connection's).
fn later_in_life(from: TcpState, to: TcpState) -> bool {
    next_states(from)
        .iter()
        .any(|&next| next == to || later_in_life(next, to))
}

/// The states a connection may be in right after `from` (RFC 793 and
/// Linux's resets and timeouts); CLOSE ends its life.
fn next_states(from: TcpState) -> &'static [TcpState] {
    use TcpState::*;
    match from {
        SynSent => &[SynRecv, Established, Close],
        SynRecv => &[Established, FinWait1, Close],
        Established => &[FinWait1, CloseWait, Close],
        // A FIN and the ACK of ours in one segment skip FIN_WAIT2.
        FinWait1 => &[FinWait2, Closing, TimeWait, Close],
        FinWait2 | Closing => &[TimeWait, Close],
        CloseWait => &[LastAck, Close],
        LastAck => &[Close],
        TimeWait | Listen | Close => &[],
    }
}
