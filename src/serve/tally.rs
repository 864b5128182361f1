//! What one dump says, in the shape the metrics need: the `-s` summary
//! (state counts, timewait budget, ephemeral ports, orphans, findings),
//! and beside it what only the metrics break down: per listening address
//! the accept queue and its limit, per listening port the connections in
//! each state, per program and port the CLOSE_WAIT and FIN_WAIT2 sockets,
//! per port the TIME_WAIT ones. Pure: rows, owners and sysctls in, values
//! out.
//!
//! Ports become labels only when something listens on them; every other
//! local port (the ephemeral ports of outgoing connections) is counted as
//! [`LocalPort::Other`], so that the series stay bounded by the listeners.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use crate::diagnose::summary::{self, Summary};
use crate::diagnose::Sysctls;
use crate::model::{Socket, TcpState};
use crate::owners::ProcessMap;
use crate::source::Used;

/// The program label of a socket no readable process holds.
pub const NO_PROGRAM: &str = "-";

/// The states broken down per program and local port.
pub const PER_PROGRAM: [TcpState; 2] = [TcpState::CloseWait, TcpState::FinWait2];

/// One dump of one namespace, counted.
#[derive(Debug)]
pub struct Tally {
    /// The namespace's label, for `serve -N all` (every series about its
    /// sockets carries it as `netns`); `None` when serve reads only the
    /// namespace it runs in.
    pub netns: Option<String>,
    /// `-s`'s summary of the same rows.
    pub summary: Summary,
    /// The limits the summary was measured against.
    pub sysctls: Sysctls,
    /// Where the rows came from.
    pub source: Used,
    /// How long the dump, process scan and counting took (of every
    /// namespace, with `-N all`).
    pub duration: Duration,
    /// Listening sockets grouped by address and port.
    pub listeners: Vec<ListenQueue>,
    /// Connections per listening port and state (LISTEN itself excluded).
    pub port_states: BTreeMap<(u16, TcpState), usize>,
    /// CLOSE_WAIT and FIN_WAIT2 sockets per state, program and local port.
    pub per_program: BTreeMap<(TcpState, String, LocalPort), usize>,
    /// TIME_WAIT sockets per local port.
    pub time_wait: BTreeMap<LocalPort, usize>,
}

/// The sockets listening on one address and port (several with
/// SO_REUSEPORT): their accept queues summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenQueue {
    /// The local address (IPv4-mapped in dotted form).
    pub address: IpAddr,
    /// The port.
    pub port: u16,
    /// Listening sockets on it.
    pub sockets: usize,
    /// Connections waiting to be accepted (Recv-Q).
    pub queued: u64,
    /// The accept queues' limit (ss's Send-Q); `None` from /proc, which
    /// does not show it.
    pub limit: Option<u64>,
}

/// A local port as a label: a listening port, or any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LocalPort {
    /// Something listens on it.
    Listening(u16),
    /// Nothing does (an outgoing connection's ephemeral port).
    Other,
}

impl LocalPort {
    /// The label value: the number, or `other`.
    pub fn label(self) -> String {
        match self {
            LocalPort::Listening(port) => port.to_string(),
            LocalPort::Other => "other".to_string(),
        }
    }
}

impl Tally {
    /// Counts `sockets` (every state of one namespace), with `owners`
    /// naming the programs and `sysctls` the limits. `duration` and
    /// `netns` are set by whoever timed the dump and named the namespace.
    pub fn of(
        sockets: &[Socket],
        owners: Option<&ProcessMap>,
        sysctls: Sysctls,
        source: Used,
    ) -> Tally {
        let listening: BTreeSet<u16> = sockets
            .iter()
            .filter(|s| s.state == TcpState::Listen)
            .map(|s| s.local.port)
            .collect();
        let port_of = |s: &Socket| match listening.contains(&s.local.port) {
            true => LocalPort::Listening(s.local.port),
            false => LocalPort::Other,
        };
        let mut tally = Tally {
            netns: None,
            summary: summary::summarize(sockets, owners, &sysctls),
            sysctls,
            source,
            duration: Duration::ZERO,
            listeners: listen_queues(sockets),
            port_states: BTreeMap::new(),
            per_program: BTreeMap::new(),
            time_wait: BTreeMap::new(),
        };
        for s in sockets.iter().filter(|s| s.state != TcpState::Listen) {
            if listening.contains(&s.local.port) {
                *tally
                    .port_states
                    .entry((s.local.port, s.state))
                    .or_default() += 1;
            }
            if s.state == TcpState::TimeWait {
                *tally.time_wait.entry(port_of(s)).or_default() += 1;
            } else if PER_PROGRAM.contains(&s.state) {
                for program in programs(s, owners) {
                    let key = (s.state, program, port_of(s));
                    *tally.per_program.entry(key).or_default() += 1;
                }
            }
        }
        tally
    }

    /// Sockets in the dump.
    pub fn sockets(&self) -> usize {
        self.summary.total
    }
}

/// The listeners grouped by (address, port), in that order.
fn listen_queues(sockets: &[Socket]) -> Vec<ListenQueue> {
    let mut queues: BTreeMap<(IpAddr, u16), ListenQueue> = BTreeMap::new();
    for s in sockets.iter().filter(|s| s.state == TcpState::Listen) {
        let address = s.local.display_addr();
        let q = queues
            .entry((address, s.local.port))
            .or_insert(ListenQueue {
                address,
                port: s.local.port,
                sockets: 0,
                queued: 0,
                limit: Some(0),
            });
        q.sockets += 1;
        q.queued += u64::from(s.recv_q);
        q.limit = q.limit.zip(s.backlog).map(|(sum, b)| sum + u64::from(b));
    }
    queues.into_values().collect()
}

/// The distinct program names (comm) holding `s`; [`NO_PROGRAM`] when
/// none can be named (an orphan, a connection not yet accepted, a process
/// that could not be read).
fn programs(s: &Socket, owners: Option<&ProcessMap>) -> Vec<String> {
    let held = owners.map_or(&[][..], |map| map.owners(s.inode));
    let mut seen = HashSet::new();
    let names: Vec<String> = held
        .iter()
        .filter(|o| seen.insert(&*o.name))
        .map(|o| o.name.to_string())
        .collect();
    if names.is_empty() {
        vec![NO_PROGRAM.to_string()]
    } else {
        names
    }
}
