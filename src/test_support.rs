//! For the crate's unit tests: hand-built sockets and a deterministic
//! random stream for property tests. Pure values only: tests that need
//! root or a network namespace live in tests/, with their harness (one
//! `Netns`, socket builders, oracles) in tests/support.

use std::net::IpAddr;

use crate::model::{Endpoint, Family, Shutdown, Socket, TcpState, Timer, TimerKind};

/// A socket `local` → `remote` ("addr:port" or "[v6]:port") in `state`,
/// with inode 1, uid 0, no timer and no shutdown.
pub fn sock(state: TcpState, local: &str, remote: &str) -> Socket {
    let local = endpoint(local);
    let family = match local.addr {
        IpAddr::V4(_) => Family::Inet,
        IpAddr::V6(_) => Family::Inet6,
    };
    Socket {
        family,
        state,
        local,
        remote: endpoint(remote),
        recv_q: 0,
        send_q: 0,
        uid: 0,
        inode: 1,
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

/// Parses "1.2.3.4:80" or "[::1]:80".
pub fn endpoint(text: &str) -> Endpoint {
    let addr: std::net::SocketAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
    Endpoint {
        addr: addr.ip(),
        port: addr.port(),
    }
}

/// Builder-style tweaks for test sockets.
pub trait SocketExt {
    fn inode(self, inode: u64) -> Socket;
    fn uid(self, uid: u32) -> Socket;
    fn timer(self, kind: TimerKind, expires_ms: u64, retransmits: u32, probes: u32) -> Socket;
    fn shutdown(self, read: bool, write: bool) -> Socket;
}

impl SocketExt for Socket {
    fn inode(mut self, inode: u64) -> Socket {
        self.inode = inode;
        self
    }

    fn uid(mut self, uid: u32) -> Socket {
        self.uid = uid;
        self
    }

    fn timer(mut self, kind: TimerKind, expires_ms: u64, retransmits: u32, probes: u32) -> Socket {
        self.timer = Timer {
            kind,
            expires_ms,
            retransmits,
            probes,
        };
        self
    }

    fn shutdown(mut self, read: bool, write: bool) -> Socket {
        self.shutdown = Some(Shutdown { read, write });
        self
    }
}

/// xorshift64: a deterministic stream of pseudo-random numbers, so that a
/// failing property test reproduces.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}
