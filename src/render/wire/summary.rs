//! `-s --json`: the [`Summary`] as one object (`#/$defs/summary` in the
//! schema), field for field.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Serialize;

use super::netns::JsonNetns;
use super::{ntop, printable};
use crate::diagnose::summary::{
    all_findings, EphemeralUse, EstablishedTimers, Finding, NamespaceSummary, Orphans, StateDetail,
    Summary, TimewaitBudget,
};
use crate::netns::label::Labels;

/// The whole summary.
#[derive(Debug, Serialize)]
pub struct JsonSummary<'a> {
    /// Sockets summarised.
    pub total: usize,
    /// Per state, in kernel order, CLOSE left out (TCP sockets).
    pub states: Vec<JsonStateCount>,
    /// UDP, UDP-Lite and raw sockets per netstat protocol name present.
    pub datagrams: Vec<JsonDatagramCount>,
    /// TIME_WAIT, CLOSE_WAIT, FIN_WAIT2 and SYN_RECV, in that order.
    pub details: Vec<JsonStateDetail<'a>>,
    /// Orphaned sockets.
    pub orphans: JsonOrphans,
    /// Timewait sockets against their limit.
    pub timewait: JsonTimewait,
    /// `None` (null) when `ip_local_port_range` could not be read.
    pub ephemeral: Option<JsonEphemeral>,
    /// Timers of ESTABLISHED sockets.
    pub established: JsonEstablished,
    /// Most serious first.
    pub findings: Vec<JsonFinding<'a>>,
    /// False when some processes' descriptors could not be read (without
    /// root): the programs named may not be all that hold the sockets.
    pub owners_complete: bool,
}

/// UDP, UDP-Lite or raw sockets of one netstat protocol name.
#[derive(Debug, Serialize)]
pub struct JsonDatagramCount {
    /// `udp`, `udp6`, `udpl`, `udpl6`, `raw` or `raw6`.
    pub proto: &'static str,
    /// Connected sockets.
    pub connected: usize,
    /// Sockets not connected.
    pub unconnected: usize,
}

/// `-s -N all --json`: each namespace's summary, and every finding.
#[derive(Debug, Serialize)]
pub struct JsonSummaryEach<'a> {
    /// One per namespace read, the host's first.
    pub namespaces: Vec<JsonNamespaceSummary<'a>>,
    /// Every namespace's findings, most serious first.
    pub findings: Vec<JsonNamespaceFinding<'a>>,
}

/// One namespace's summary.
#[derive(Debug, Serialize)]
pub struct JsonNamespaceSummary<'a> {
    /// The namespace.
    pub netns: JsonNetns<'a>,
    /// What it is, as findings name it (`container api-7f9c`).
    pub within: &'a str,
    /// Its summary, as `-s --json` prints one.
    pub summary: JsonSummary<'a>,
}

/// A finding and the namespace it is in.
#[derive(Debug, Serialize)]
pub struct JsonNamespaceFinding<'a> {
    /// The namespace's inode.
    pub netns: u64,
    /// The finding; its message starts `in <within>: `.
    #[serde(flatten)]
    pub finding: JsonFinding<'a>,
}

impl<'a> JsonSummaryEach<'a> {
    /// The summaries, each namespace labelled from `labels`.
    pub fn new(each: &'a [NamespaceSummary], labels: &'a Labels) -> JsonSummaryEach<'a> {
        JsonSummaryEach {
            namespaces: each
                .iter()
                .map(|ns| JsonNamespaceSummary {
                    netns: JsonNetns::new(ns.netns, labels, &ns.within),
                    within: &ns.within,
                    summary: (&ns.summary).into(),
                })
                .collect(),
            findings: all_findings(each)
                .into_iter()
                .map(|(ns, f)| JsonNamespaceFinding {
                    netns: ns.netns,
                    finding: f.into(),
                })
                .collect(),
        }
    }
}

/// Sockets in one state, per family.
#[derive(Debug, Serialize)]
pub struct JsonStateCount {
    /// The state.
    pub state: &'static str,
    /// IPv4 sockets.
    pub tcp: usize,
    /// IPv6 sockets.
    pub tcp6: usize,
}

/// Where the sockets of one state come from and who holds them.
#[derive(Debug, Serialize)]
pub struct JsonStateDetail<'a> {
    /// The state.
    pub state: &'static str,
    /// Sockets in it.
    pub count: usize,
    /// Busiest local ports, most sockets first.
    pub top_local_ports: Vec<JsonPortCount>,
    /// Busiest remote endpoints.
    pub top_remotes: Vec<JsonEndpointCount>,
    /// Busiest programs; `None` (null) when owners were not looked up.
    pub top_processes: Option<Vec<JsonProcessCount<'a>>>,
}

/// Sockets on one local port.
#[derive(Debug, Serialize)]
pub struct JsonPortCount {
    /// The port.
    pub port: u16,
    /// Sockets on it.
    pub count: usize,
}

/// Sockets to one remote endpoint.
#[derive(Debug, Serialize)]
pub struct JsonEndpointCount {
    /// IPv4-mapped addresses in dotted form, others as `inet_ntop(3)`
    /// writes them.
    #[serde(serialize_with = "ntop")]
    pub address: IpAddr,
    /// The remote port.
    pub port: u16,
    /// Sockets to it.
    pub count: usize,
}

/// Sockets one program holds.
#[derive(Debug, Serialize)]
pub struct JsonProcessCount<'a> {
    /// Its pid.
    pub pid: u32,
    /// Its comm, as read (untrusted).
    pub name: &'a str,
    /// Sockets it holds.
    pub count: usize,
}

/// Orphaned sockets.
#[derive(Debug, Serialize)]
pub struct JsonOrphans {
    /// All of them.
    pub total: usize,
    /// Of these, FIN_WAIT2 orphans kept as timewait sockets.
    pub in_timewait: usize,
    /// Per state, non-zero states only.
    pub by_state: Vec<JsonStateTotal>,
}

/// Sockets in one state.
#[derive(Debug, Serialize)]
pub struct JsonStateTotal {
    /// The state.
    pub state: &'static str,
    /// Sockets in it.
    pub count: usize,
}

/// Timewait sockets against `tcp_max_tw_buckets`.
#[derive(Debug, Serialize)]
pub struct JsonTimewait {
    /// Sockets in TIME_WAIT.
    pub time_wait: usize,
    /// What the limit counts: TIME_WAIT plus timewait FIN_WAIT2 orphans.
    pub timewait_sockets: usize,
    /// The limit; `None` (null) when it could not be read.
    pub max_buckets: Option<u64>,
    /// `timewait_sockets` as a percentage of the limit, to one decimal.
    pub percent: Option<f64>,
}

/// Use of the ephemeral port range.
#[derive(Debug, Serialize)]
pub struct JsonEphemeral {
    /// First port of the range.
    pub low: u16,
    /// Last port of the range.
    pub high: u16,
    /// Ports in the range.
    pub ports: u32,
    /// Remote endpoints using the most ports of it.
    pub top_remotes: Vec<JsonRemotePortUse>,
}

/// Ephemeral ports the connections to one remote endpoint use.
#[derive(Debug, Serialize)]
pub struct JsonRemotePortUse {
    /// IPv4-mapped addresses in dotted form, others as `inet_ntop(3)`
    /// writes them.
    #[serde(serialize_with = "ntop")]
    pub address: IpAddr,
    /// The remote port.
    pub port: u16,
    /// Distinct local ports in the range.
    pub local_ports: usize,
    /// Of the range, in percent, to one decimal.
    pub percent: f64,
}

/// The timers of ESTABLISHED sockets.
#[derive(Debug, Serialize)]
pub struct JsonEstablished {
    /// ESTABLISHED sockets.
    pub total: usize,
    /// Keepalive timer armed.
    pub keepalive: usize,
    /// No timer at all.
    pub no_keepalive: usize,
    /// Another timer hides the keepalive one.
    pub busy: usize,
    /// Retransmitting unacknowledged data.
    pub retransmitting: usize,
    /// On a zero window.
    pub zero_window: usize,
}

/// One finding.
#[derive(Debug, Serialize)]
pub struct JsonFinding<'a> {
    /// `high`, `medium` or `low`.
    pub severity: &'static str,
    /// What kind of finding, for scripts.
    pub kind: &'static str,
    /// The finding in a sentence, program names escaped.
    pub message: Cow<'a, str>,
}

impl<'a> From<&'a Summary> for JsonSummary<'a> {
    fn from(s: &'a Summary) -> Self {
        JsonSummary {
            total: s.total,
            states: s
                .states
                .iter()
                .map(|c| JsonStateCount {
                    state: c.state,
                    tcp: c.tcp,
                    tcp6: c.tcp6,
                })
                .collect(),
            datagrams: s
                .datagrams
                .iter()
                .map(|d| JsonDatagramCount {
                    proto: d.proto,
                    connected: d.connected,
                    unconnected: d.unconnected,
                })
                .collect(),
            details: s.details.iter().map(Into::into).collect(),
            orphans: (&s.orphans).into(),
            timewait: (&s.timewait).into(),
            ephemeral: s.ephemeral.as_ref().map(Into::into),
            established: s.established.into(),
            findings: s.findings.iter().map(Into::into).collect(),
            owners_complete: s.unreadable_processes == 0,
        }
    }
}

impl<'a> From<&'a StateDetail> for JsonStateDetail<'a> {
    fn from(d: &'a StateDetail) -> Self {
        JsonStateDetail {
            state: d.state,
            count: d.count,
            top_local_ports: d
                .top_local_ports
                .iter()
                .map(|p| JsonPortCount {
                    port: p.port,
                    count: p.count,
                })
                .collect(),
            top_remotes: d
                .top_remotes
                .iter()
                .map(|r| JsonEndpointCount {
                    address: r.address,
                    port: r.port,
                    count: r.count,
                })
                .collect(),
            top_processes: d.top_processes.as_ref().map(|procs| {
                procs
                    .iter()
                    .map(|p| JsonProcessCount {
                        pid: p.pid,
                        name: &p.name,
                        count: p.count,
                    })
                    .collect()
            }),
        }
    }
}

impl From<&Orphans> for JsonOrphans {
    fn from(o: &Orphans) -> Self {
        JsonOrphans {
            total: o.total,
            in_timewait: o.in_timewait,
            by_state: o
                .by_state
                .iter()
                .map(|t| JsonStateTotal {
                    state: t.state,
                    count: t.count,
                })
                .collect(),
        }
    }
}

impl From<&TimewaitBudget> for JsonTimewait {
    fn from(t: &TimewaitBudget) -> Self {
        JsonTimewait {
            time_wait: t.time_wait,
            timewait_sockets: t.timewait_sockets,
            max_buckets: t.max_buckets,
            percent: t.percent,
        }
    }
}

impl From<&EphemeralUse> for JsonEphemeral {
    fn from(e: &EphemeralUse) -> Self {
        JsonEphemeral {
            low: e.low,
            high: e.high,
            ports: e.ports,
            top_remotes: e
                .top_remotes
                .iter()
                .map(|r| JsonRemotePortUse {
                    address: r.address,
                    port: r.port,
                    local_ports: r.local_ports,
                    percent: r.percent,
                })
                .collect(),
        }
    }
}

impl From<EstablishedTimers> for JsonEstablished {
    fn from(e: EstablishedTimers) -> Self {
        JsonEstablished {
            total: e.total,
            keepalive: e.keepalive,
            no_keepalive: e.no_keepalive,
            busy: e.busy,
            retransmitting: e.retransmitting,
            zero_window: e.zero_window,
        }
    }
}

impl<'a> From<&'a Finding> for JsonFinding<'a> {
    fn from(f: &'a Finding) -> Self {
        JsonFinding {
            severity: f.severity.name(),
            kind: f.kind,
            message: printable(&f.message),
        }
    }
}
