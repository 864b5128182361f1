//! `-s`: a summary of one dump — sockets per state and family; for the
//! states connections pile up in (TIME_WAIT, CLOSE_WAIT, FIN_WAIT2,
//! SYN_RECV) the busiest local ports, remote endpoints and programs;
//! orphans; timewait sockets against `tcp_max_tw_buckets`; ephemeral ports
//! used per remote endpoint; keepalive on established connections; and
//! plain-language findings, most serious first.
//!
//! It is computed from the same sockets as a listing (not from
//! /proc/net/sockstat), so it describes exactly what was dumped.

mod each;
mod findings;

pub use each::{all_findings, summarize_each, NamespaceSummary, Place};
pub use findings::{Finding, Severity, Subject};

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::diagnose::{is_orphan, Sysctls};
use crate::model::{Family, Protocol, Socket, TcpState, TimerKind};
use crate::owners::ProcessMap;

/// How many ports, endpoints or programs a "top" list keeps.
pub const TOP: usize = 5;

/// The states whose sockets are broken down by port, endpoint and program.
pub const DETAILED_STATES: [TcpState; 4] = [
    TcpState::TimeWait,
    TcpState::CloseWait,
    TcpState::FinWait2,
    TcpState::SynRecv,
];

/// Retransmissions of unacknowledged data from which an established
/// connection counts as stuck.
pub const STUCK_RETRANSMITS: u32 = 3;

/// The whole summary; `render::summary` prints it.
#[derive(Debug)]
pub struct Summary {
    /// Sockets summarised.
    pub total: usize,
    /// Per state, in kernel order (CLOSE, which is never listed, left out):
    /// TCP sockets. Every figure below is of TCP sockets too.
    pub states: Vec<StateCount>,
    /// UDP, UDP-Lite and raw sockets, per netstat protocol name present
    /// (`udp`, `udp6`, `udpl`, …), in netstat's order.
    pub datagrams: Vec<DatagramCount>,
    /// Breakdown of TIME_WAIT, CLOSE_WAIT, FIN_WAIT2 and SYN_RECV.
    pub details: Vec<StateDetail>,
    /// Sockets their programs closed that the kernel still finishes.
    pub orphans: Orphans,
    /// Timewait sockets against their limit.
    pub timewait: TimewaitBudget,
    /// `None` when `ip_local_port_range` could not be read.
    pub ephemeral: Option<EphemeralUse>,
    /// What the timers of ESTABLISHED sockets tell of keepalive.
    pub established: EstablishedTimers,
    /// Most serious first.
    pub findings: Vec<Finding>,
    /// Processes whose descriptors could not be read (without root, other
    /// users'): the programs named may not be all that hold the sockets.
    pub unreadable_processes: usize,
}

/// Sockets in one state, per family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCount {
    /// The state's name (`"TIME_WAIT"`).
    pub state: &'static str,
    /// IPv4 sockets.
    pub tcp: usize,
    /// IPv6 sockets.
    pub tcp6: usize,
}

/// Where the sockets of one state come from and who holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDetail {
    /// The state's name.
    pub state: &'static str,
    /// Sockets in the state.
    pub count: usize,
    /// The [`TOP`] local ports with the most of them.
    pub top_local_ports: Vec<PortCount>,
    /// The [`TOP`] remote endpoints with the most of them.
    pub top_remotes: Vec<EndpointCount>,
    /// `None` when owners were not looked up. Sockets no program holds
    /// (TIME_WAIT, orphans) have no owner; request sockets (SYN_RECV) count
    /// for the program of their listener.
    pub top_processes: Option<Vec<ProcessCount>>,
}

/// Sockets on one local port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortCount {
    /// The port.
    pub port: u16,
    /// Sockets on it.
    pub count: usize,
}

/// Sockets to one remote endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointCount {
    /// IPv4-mapped addresses in dotted form.
    pub address: IpAddr,
    /// The remote port.
    pub port: u16,
    /// Sockets to it.
    pub count: usize,
}

/// Sockets one program holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessCount {
    /// Its pid.
    pub pid: u32,
    /// As read from /proc (untrusted); the text form escapes it.
    pub name: String,
    /// Sockets it holds.
    pub count: usize,
}

/// Sockets closed by their program that the kernel still finishes:
/// FIN_WAIT1, FIN_WAIT2, CLOSING and LAST_ACK without an inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphans {
    /// All of them.
    pub total: usize,
    /// Of these, FIN_WAIT2 orphans the kernel has already turned into
    /// timewait sockets: they count against tcp_max_tw_buckets, not
    /// tcp_max_orphans (which `/proc/net/sockstat` counts as `orphan`).
    pub in_timewait: usize,
    /// Non-zero states only.
    pub by_state: Vec<StateTotal>,
}

/// Sockets in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateTotal {
    /// The state's name.
    pub state: &'static str,
    /// Sockets in it.
    pub count: usize,
}

/// Timewait sockets against the namespace's limit.
#[derive(Debug, Clone, PartialEq)]
pub struct TimewaitBudget {
    /// Sockets in TIME_WAIT.
    pub time_wait: usize,
    /// What the limit counts: TIME_WAIT plus orphaned FIN_WAIT2 sockets
    /// kept as timewait sockets.
    pub timewait_sockets: usize,
    /// `net.ipv4.tcp_max_tw_buckets`.
    pub max_buckets: Option<u64>,
    /// `timewait_sockets` as a percentage of `max_buckets`.
    pub percent: Option<f64>,
}

/// Use of the ephemeral port range by outgoing connections.
#[derive(Debug, Clone, PartialEq)]
pub struct EphemeralUse {
    /// First port of `ip_local_port_range`.
    pub low: u16,
    /// Last port of `ip_local_port_range`.
    pub high: u16,
    /// Ports in the range.
    pub ports: u32,
    /// Remote endpoints with the most distinct local ports in the range.
    pub top_remotes: Vec<RemotePortUse>,
}

/// Distinct ephemeral local ports of the connections to one remote
/// endpoint: a new connect() to it needs a local port not among them.
#[derive(Debug, Clone, PartialEq)]
pub struct RemotePortUse {
    /// IPv4-mapped addresses in dotted form.
    pub address: IpAddr,
    /// The remote port.
    pub port: u16,
    /// Distinct local ports in the range.
    pub local_ports: usize,
    /// `local_ports` as a percentage of the range, to one decimal.
    pub percent: f64,
}

/// The timers of ESTABLISHED sockets. The kernel reports one timer per
/// socket, and a pending retransmit or zero-window probe timer is reported
/// instead of the keepalive timer, so only idle sockets tell: one with
/// SO_KEEPALIVE always has its keepalive timer armed, one without has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EstablishedTimers {
    /// ESTABLISHED sockets.
    pub total: usize,
    /// Keepalive timer armed: SO_KEEPALIVE on.
    pub keepalive: usize,
    /// No timer at all: SO_KEEPALIVE off.
    pub no_keepalive: usize,
    /// Data in flight or a zero window: keepalive cannot be seen.
    pub busy: usize,
    /// Unacknowledged data retransmitted at least [`STUCK_RETRANSMITS`] times.
    pub retransmitting: usize,
    /// Peer advertises a zero window (probe timer).
    pub zero_window: usize,
}

/// UDP, UDP-Lite or raw sockets of one netstat protocol name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatagramCount {
    /// netstat's name: `udp`, `udp6`, `udpl`, `udpl6`, `raw`, `raw6`.
    pub proto: &'static str,
    /// Connected (ESTABLISHED).
    pub connected: usize,
    /// Not connected (CLOSE): bound servers and unbound sockets.
    pub unconnected: usize,
}

/// Counts the UDP, UDP-Lite and raw sockets among `sockets`.
fn datagram_counts(sockets: &[Socket]) -> Vec<DatagramCount> {
    let mut counts: Vec<DatagramCount> = Vec::new();
    for protocol in Protocol::ALL.into_iter().filter(|p| p.is_datagram()) {
        for family in [Family::Inet, Family::Inet6] {
            let of = sockets
                .iter()
                .filter(|s| s.protocol == protocol && s.family == family);
            let (mut connected, mut unconnected) = (0, 0);
            for s in of {
                match s.state {
                    TcpState::Established => connected += 1,
                    _ => unconnected += 1,
                }
            }
            if connected + unconnected > 0 {
                counts.push(DatagramCount {
                    proto: family.proto(protocol),
                    connected,
                    unconnected,
                });
            }
        }
    }
    counts
}

/// Summarises `sockets` (a dump of every state, for the figures to mean
/// what they say). `owners` adds the programs; `sys` the limits. The
/// state figures and findings are of the TCP sockets; UDP, UDP-Lite and
/// raw sockets are counted per protocol.
pub fn summarize(sockets: &[Socket], owners: Option<&ProcessMap>, sys: &Sysctls) -> Summary {
    let datagrams = datagram_counts(sockets);
    let tcp_only: Vec<Socket>;
    let total = sockets.len();
    let sockets = if datagrams.is_empty() {
        sockets
    } else {
        tcp_only = sockets
            .iter()
            .filter(|s| s.protocol == Protocol::Tcp)
            .cloned()
            .collect();
        &tcp_only
    };
    let listeners: Vec<&Socket> = sockets
        .iter()
        .filter(|s| s.state == TcpState::Listen)
        .collect();
    let mut summary = Summary {
        total,
        states: state_counts(sockets),
        datagrams,
        details: DETAILED_STATES
            .iter()
            .map(|&state| detail(state, sockets, owners, &listeners))
            .collect(),
        orphans: orphans(sockets),
        timewait: timewait_budget(sockets, sys),
        ephemeral: ephemeral_use(sockets, sys),
        established: established_timers(sockets),
        findings: Vec::new(),
        unreadable_processes: owners.map_or(0, ProcessMap::unreadable),
    };
    summary.findings = findings::find(&summary, sys);
    summary
}

fn state_counts(sockets: &[Socket]) -> Vec<StateCount> {
    // [tcp, tcp6] by kernel state number, in one pass over the dump.
    let mut counts = [[0usize; 2]; 16];
    for s in sockets {
        counts[s.state as usize][usize::from(s.family == Family::Inet6)] += 1;
    }
    TcpState::ALL
        .iter()
        .filter(|&&state| state != TcpState::Close)
        .map(|&state| {
            let [tcp, tcp6] = counts[state as usize];
            StateCount {
                state: state.name(),
                tcp,
                tcp6,
            }
        })
        .collect()
}

fn detail(
    state: TcpState,
    sockets: &[Socket],
    owners: Option<&ProcessMap>,
    listeners: &[&Socket],
) -> StateDetail {
    let rows: Vec<&Socket> = sockets.iter().filter(|s| s.state == state).collect();
    let ports = top(rows.iter().map(|s| s.local.port));
    let remotes = top(rows
        .iter()
        .map(|s| (s.remote.display_addr(), s.remote.port)));
    StateDetail {
        state: state.name(),
        count: rows.len(),
        top_local_ports: ports
            .into_iter()
            .map(|(port, count)| PortCount { port, count })
            .collect(),
        top_remotes: remotes
            .into_iter()
            .map(|((address, port), count)| EndpointCount {
                address,
                port,
                count,
            })
            .collect(),
        top_processes: owners.map(|map| top_processes(&rows, map, listeners)),
    }
}

/// The inode whose owners a socket counts for: its own, or for a request
/// socket, its listener's (0 when there is none).
fn owner_inode(s: &Socket, listeners: &[&Socket]) -> u64 {
    if s.is_request() {
        s.listener_among(listeners.iter().copied())
            .map_or(0, |l| l.inode)
    } else {
        s.inode
    }
}

fn top_processes(rows: &[&Socket], map: &ProcessMap, listeners: &[&Socket]) -> Vec<ProcessCount> {
    let mut counts: HashMap<(u32, &str), usize> = HashMap::new();
    for s in rows {
        let inode = owner_inode(s, listeners);
        if inode == 0 {
            continue;
        }
        for o in map.owners(inode) {
            *counts.entry((o.pid, &o.name)).or_default() += 1;
        }
    }
    top_of(counts)
        .into_iter()
        .map(|((pid, name), count)| ProcessCount {
            pid,
            name: name.to_string(),
            count,
        })
        .collect()
}

/// The [`TOP`] most frequent values, most frequent first, ties in value
/// order.
fn top<K: Ord + std::hash::Hash + Copy>(values: impl Iterator<Item = K>) -> Vec<(K, usize)> {
    let mut counts: HashMap<K, usize> = HashMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    top_of(counts)
}

fn top_of<K: Ord>(counts: HashMap<K, usize>) -> Vec<(K, usize)> {
    let mut list: Vec<(K, usize)> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.truncate(TOP);
    list
}

fn orphans(sockets: &[Socket]) -> Orphans {
    let orphaned: Vec<&Socket> = sockets.iter().filter(|s| is_orphan(s)).collect();
    let by_state = TcpState::ALL
        .iter()
        .map(|&state| StateTotal {
            state: state.name(),
            count: orphaned.iter().filter(|s| s.state == state).count(),
        })
        .filter(|t| t.count > 0)
        .collect();
    Orphans {
        total: orphaned.len(),
        in_timewait: orphaned
            .iter()
            .filter(|s| s.timer.kind == TimerKind::TimeWait)
            .count(),
        by_state,
    }
}

fn timewait_budget(sockets: &[Socket], sys: &Sysctls) -> TimewaitBudget {
    let time_wait = sockets
        .iter()
        .filter(|s| s.state == TcpState::TimeWait)
        .count();
    let timewait_sockets = sockets
        .iter()
        .filter(|s| s.state == TcpState::TimeWait || s.timer.kind == TimerKind::TimeWait)
        .count();
    let max_buckets = sys.tcp_max_tw_buckets;
    TimewaitBudget {
        time_wait,
        timewait_sockets,
        max_buckets,
        percent: max_buckets
            .filter(|&max| max > 0)
            .map(|max| percent(timewait_sockets, max)),
    }
}

fn ephemeral_use(sockets: &[Socket], sys: &Sysctls) -> Option<EphemeralUse> {
    let (low, high) = sys.ip_local_port_range?;
    let ports = sys.ephemeral_ports()?;
    let mut by_remote: HashMap<(IpAddr, u16), HashSet<u16>> = HashMap::new();
    for s in sockets.iter().filter(|s| {
        s.state != TcpState::Listen
            && !s.is_request()
            && s.remote.port != 0
            && (low..=high).contains(&s.local.port)
    }) {
        by_remote
            .entry((s.remote.display_addr(), s.remote.port))
            .or_default()
            .insert(s.local.port);
    }
    let counts = by_remote.into_iter().map(|(k, v)| (k, v.len())).collect();
    let top_remotes = top_of(counts)
        .into_iter()
        .map(|((address, port), local_ports)| RemotePortUse {
            address,
            port,
            local_ports,
            percent: percent(local_ports, u64::from(ports)),
        })
        .collect();
    Some(EphemeralUse {
        low,
        high,
        ports,
        top_remotes,
    })
}

fn established_timers(sockets: &[Socket]) -> EstablishedTimers {
    let mut t = EstablishedTimers::default();
    for s in sockets.iter().filter(|s| s.state == TcpState::Established) {
        t.total += 1;
        match s.timer.kind {
            TimerKind::Keepalive => t.keepalive += 1,
            TimerKind::Off => t.no_keepalive += 1,
            _ => t.busy += 1,
        }
        if s.timer.kind == TimerKind::On && s.timer.retransmits >= STUCK_RETRANSMITS {
            t.retransmitting += 1;
        }
        if s.timer.kind == TimerKind::Probe {
            t.zero_window += 1;
        }
    }
    t
}

/// `part` of `whole` in percent, to one decimal.
fn percent(part: usize, whole: u64) -> f64 {
    (part as f64 * 1000.0 / whole as f64).round() / 10.0
}

#[cfg(test)]
pub(crate) mod tests;
