//! What `--events` reports: one change of one socket, with when it was
//! seen and, when the kernel told, the byte counts the socket ended with.

use super::time::Timestamp;
use crate::model::{Socket, TcpState};

/// What happened to a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// First seen.
    New,
    /// Its state changed.
    State,
    /// No longer there.
    Gone,
    /// Exact mode, `--lifetime`: a connection closed; how long it lived.
    Lifetime,
}

impl EventKind {
    /// The word printed for it.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::New => "new",
            EventKind::State => "state",
            EventKind::Gone => "gone",
            EventKind::Lifetime => "lifetime",
        }
    }
}

/// Which pass's owner map holds the owners of an event's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnersFrom {
    /// This pass's: the socket was just seen.
    Current,
    /// The previous pass's: the socket was last seen then.
    Previous,
}

/// One change, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub time: Timestamp,
    pub kind: EventKind,
    /// The state before a `state` change, the last state seen before `gone`
    /// (none when the socket was only known from its destroy notification).
    pub old_state: Option<TcpState>,
    /// The socket as last seen, or as the kernel described it when it was
    /// destroyed (state CLOSE; inode and uid from the last dump if any).
    pub socket: Socket,
    pub owners: OwnersFrom,
    /// False when the socket is known only from its destroy notification,
    /// which carries no uid (`socket.uid` is then 0 and not to be shown).
    pub uid_known: bool,
    /// From the destroy notification: `tcpi_bytes_acked`.
    pub bytes_acked: Option<u64>,
    /// From the destroy notification: `tcpi_bytes_received`.
    pub bytes_received: Option<u64>,
    /// Exact mode's cookie, namespace and kernel time; none when sampled.
    pub exact: Option<Exact>,
    /// A `lifetime` event's: nanoseconds from the connection's opening
    /// to its close, by the kernel's clock.
    pub lifetime_ns: Option<u64>,
}

impl Event {
    /// A socket seen in this pass: `new` or `state`.
    pub fn seen(
        kind: EventKind,
        old_state: Option<TcpState>,
        socket: &Socket,
        time: Timestamp,
    ) -> Event {
        Event {
            time,
            kind,
            old_state,
            socket: socket.clone(),
            owners: OwnersFrom::Current,
            uid_known: true,
            bytes_acked: None,
            bytes_received: None,
            exact: None,
            lifetime_ns: None,
        }
    }

    /// A socket that a dump no longer shows, as last seen.
    pub fn gone(socket: &Socket, time: Timestamp) -> Event {
        Event {
            time,
            kind: EventKind::Gone,
            old_state: Some(socket.state),
            socket: socket.clone(),
            owners: OwnersFrom::Previous,
            uid_known: true,
            bytes_acked: None,
            bytes_received: None,
            exact: None,
            lifetime_ns: None,
        }
    }

    /// A destroyed socket: the kernel's final description, with the inode
    /// and uid of the last dump that showed it (the kernel sends neither;
    /// without a dump, the uid is unknown and the inode 0).
    pub fn destroyed(last_seen: Option<&Socket>, destroyed: &Destroyed, time: Timestamp) -> Event {
        let mut socket = destroyed.socket.clone();
        if let Some(seen) = last_seen {
            socket.inode = seen.inode;
            socket.uid = seen.uid;
        }
        let mut event = Event {
            time,
            kind: EventKind::Gone,
            old_state: last_seen.map(|s| s.state),
            socket,
            owners: OwnersFrom::Previous,
            uid_known: last_seen.is_some(),
            bytes_acked: None,
            bytes_received: None,
            exact: None,
            lifetime_ns: None,
        };
        event.add_bytes(destroyed);
        event
    }

    /// Takes the byte counts of the socket's destroy notification.
    pub fn add_bytes(&mut self, destroyed: &Destroyed) {
        self.bytes_acked = destroyed.bytes_acked;
        self.bytes_received = destroyed.bytes_received;
    }
}

/// A socket the kernel has just destroyed, as its notification describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destroyed {
    /// Family, addresses, state (normally CLOSE) and queues. The kernel
    /// sends no inode, uid or timer: they are 0 and off here.
    pub socket: Socket,
    /// `tcpi_bytes_acked`: bytes this side sent that the peer acknowledged.
    pub bytes_acked: Option<u64>,
    /// `tcpi_bytes_received`: bytes received from the peer.
    pub bytes_received: Option<u64>,
}

/// What exact mode knows of an event that a sampled pass does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exact {
    /// The socket's cookie: the kernel's id for it, the one inet_diag
    /// reports (`ss -e` shows it as `sk:`), kept by its timewait socket.
    pub cookie: u64,
    /// Inode number of the socket's network namespace.
    pub netns: u32,
    /// `CLOCK_MONOTONIC` nanoseconds when the kernel made the change.
    pub kernel_ns: u64,
}

/// One state change as the kernel made it (exact mode), read from its
/// `sock:inet_sock_set_state` tracepoint or from `tcp_time_wait`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub exact: Exact,
    /// The state it left. The kernel's NEW_SYN_RECV (a request socket)
    /// reads as SYN_RECV, as everywhere in tcpstat; no full socket is
    /// ever in it.
    pub old: TcpState,
    /// Family, addresses and `state` (the state it entered); the inode
    /// is the socket file's (0 once the process has closed it), uid and
    /// queues are 0.
    pub socket: Socket,
}

impl Event {
    /// The `lifetime` event of `close` (the change to CLOSE of a
    /// connection opened `born_ns` by the kernel's clock).
    pub fn lifetime(close: &Event, born_ns: u64) -> Option<Event> {
        let closed_ns = close.exact?.kernel_ns;
        Some(Event {
            kind: EventKind::Lifetime,
            lifetime_ns: Some(closed_ns.saturating_sub(born_ns)),
            ..close.clone()
        })
    }

    /// A state change the kernel reported, seen at wall-clock `time`.
    pub fn transition(t: &Transition, time: Timestamp) -> Event {
        Event {
            time,
            kind: EventKind::State,
            old_state: Some(t.old),
            socket: t.socket.clone(),
            owners: OwnersFrom::Current,
            uid_known: false,
            bytes_acked: None,
            bytes_received: None,
            exact: Some(t.exact),
            lifetime_ns: None,
        }
    }
}
