//! What a zoo socket should look like: its endpoints, and what netstat (and
//! for shutdown, ss) must show for it.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::netns::Side;
use super::oracle::{netstat_form, Key, Row};

/// An expected socket: where it lives and what netstat should show.
#[derive(Debug, Clone)]
pub struct Animal {
    pub name: &'static str,
    pub side: Side,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// netstat's state name.
    pub state: &'static str,
    /// netstat's timer name.
    pub timer: &'static str,
    /// The kernel keeps no inode for it (TIME_WAIT, request, orphaned or
    /// not yet accepted sockets).
    pub no_inode: bool,
    pub uid: u32,
    pub min_retransmits: u32,
    pub recv_q: Option<u64>,
    pub send_q_nonzero: bool,
    /// (read, write) shutdown that ss and the netlink source must show.
    pub shutdown: Option<(bool, bool)>,
}

impl Animal {
    /// An animal with uid 0, an inode, and no further expectations.
    pub fn new(
        name: &'static str,
        side: Side,
        (local, remote): Key,
        state: &'static str,
        timer: &'static str,
    ) -> Animal {
        Animal {
            name,
            side,
            local: keyed(local),
            remote: keyed(remote),
            state,
            timer,
            no_inode: false,
            uid: 0,
            min_retransmits: 0,
            recv_q: None,
            send_q_nonzero: false,
            shutdown: None,
        }
    }

    pub fn no_inode(&mut self) -> &mut Animal {
        self.no_inode = true;
        self
    }

    pub fn uid(&mut self, uid: u32) -> &mut Animal {
        self.uid = uid;
        self
    }

    pub fn retransmits(&mut self, min: u32) -> &mut Animal {
        self.min_retransmits = min;
        self
    }

    pub fn recv_q(&mut self, n: u64) -> &mut Animal {
        self.recv_q = Some(n);
        self
    }

    pub fn send_q_nonzero(&mut self) -> &mut Animal {
        self.send_q_nonzero = true;
        self
    }

    pub fn shutdown(&mut self, read: bool, write: bool) -> &mut Animal {
        self.shutdown = Some((read, write));
        self
    }

    /// The key the oracles list it under.
    pub fn key(&self) -> Key {
        (self.local, self.remote)
    }

    /// What is wrong with `row` as this animal, if anything. Counters are
    /// checked only where the view reports them.
    pub fn mismatches(&self, row: &Row) -> Vec<String> {
        let mut out = Vec::new();
        let mut expect = |what: String, ok: bool| {
            if !ok {
                let (name, side) = (self.name, self.side);
                out.push(format!(
                    "zoo animal `{name}` ({side:?}) should have {what}:\n  {row}"
                ));
            }
        };
        expect(format!("state {}", self.state), row.state == self.state);
        expect(
            format!("timer {}", self.timer),
            row.timer.kind == self.timer,
        );
        expect(format!("uid {}", self.uid), row.uid == self.uid);
        let inode = if self.no_inode { "inode 0" } else { "an inode" };
        expect(inode.to_string(), (row.inode == 0) == self.no_inode);
        if let Some(r) = row.timer.retransmits {
            let min = self.min_retransmits;
            expect(format!("retransmits >= {min}"), r >= min);
        }
        if let Some(q) = self.recv_q {
            expect(format!("recv_q {q}"), row.recv_q == q);
        }
        if self.send_q_nonzero {
            expect("send_q > 0".to_string(), row.send_q > 0);
        }
        out
    }
}

/// An endpoint as the oracles key it (IPv4-mapped shown as IPv4).
fn keyed(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(netstat_form(addr.ip()), addr.port())
}

/// The states a complete zoo must show: all but CLOSE, which the kernel
/// never lists.
pub const ALL_STATES: [&str; 10] = [
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
];

/// The timer kinds a complete zoo must show: all but `unkn-N`, which the
/// kernel never reports.
pub const ALL_TIMERS: [&str; 5] = ["off", "on", "keepalive", "timewait", "probe"];

/// Distinct values of `f` over the animals.
pub fn distinct<'a>(animals: &'a [Animal], f: impl Fn(&'a Animal) -> &'a str) -> HashSet<&'a str> {
    animals.iter().map(f).collect()
}
