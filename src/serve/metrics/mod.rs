//! The metrics of one scrape, as a `prometheus-client` registry: built
//! from the [`Tally`] of each namespace read (or from nothing, when the
//! dump failed or outlasted the scrape) and the exporter's own
//! [`Telemetry`]. Pure: values in, registry out; the client crate writes
//! the exposition.
//!
//! Names follow Prometheus conventions: base units, `_total` only on
//! counters, labels only from listening addresses and ports, program
//! names, states, kinds of finding, the top remote endpoints and, under
//! `-N all`, the namespace (`netns`, on every series about sockets; as
//! many values as the host has namespaces). The series labelled by port,
//! program or endpoint share a budget (`--max-series`) across all
//! namespaces; each such metric keeps its largest values, and what it
//! left out is counted in `tcpstat_scrape_series_dropped{metric}`.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::tally::{LocalPort, Tally};
use crate::diagnose::summary::{Finding, Subject};
use crate::model::addr::Ntop;
use crate::source::Used;

/// A label set: names and values.
type Labels = Vec<(&'static str, String)>;

/// A gauge family keyed by label set.
type Gauges = Family<Labels, Gauge>;

/// The metrics whose series the `--max-series` budget caps, in the order
/// they are given their share.
pub const BUDGETED: [&str; 6] = [
    "tcpstat_listen_queue_length",
    "tcpstat_listen_queue_limit",
    "tcpstat_listen_port_connections",
    "tcpstat_program_sockets",
    "tcpstat_time_wait_port_sockets",
    "tcpstat_ephemeral_ports_used",
];

/// The exporter's counters, which live as long as it does.
#[derive(Debug, Default, Clone)]
pub struct Telemetry {
    /// Answers to /metrics (or textfile writes).
    pub scrapes: Counter,
    /// Dumps that failed.
    pub errors: Counter,
    /// Answers given without socket metrics because the dump outlasted the
    /// scrape's timeout.
    pub timeouts: Counter,
}

/// What the socket metrics of one answer come from.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// A complete dump: one tally per namespace read (one without
    /// `-N all`).
    Dump(&'a [Tally]),
    /// The dump failed: no socket metrics.
    Failed,
    /// The dump outlasted the scrape: no socket metrics.
    TimedOut,
}

/// The registry of one answer: the socket metrics of `outcome` within
/// `max_series` labelled series, and the exporter's own.
pub fn build(outcome: Outcome<'_>, own: &Telemetry, max_series: usize) -> Registry {
    let mut registry = Registry::default();
    let mut budget = Budget::new(max_series);
    if let Outcome::Dump(tallies) = outcome {
        states(&mut registry, tallies);
        limits(&mut registry, tallies);
        findings(&mut registry, tallies);
        listeners(&mut registry, &mut budget, tallies);
        port_connections(&mut registry, &mut budget, tallies);
        teardown(&mut registry, &mut budget, tallies);
        ephemeral(&mut registry, &mut budget, tallies);
    }
    exporter(&mut registry, &budget, outcome, own);
    registry
}

/// The share of labelled series left, and what each metric had to drop.
struct Budget {
    left: usize,
    dropped: BTreeMap<&'static str, usize>,
}

impl Budget {
    fn new(max: usize) -> Budget {
        Budget {
            left: max,
            dropped: BUDGETED.iter().map(|&m| (m, 0)).collect(),
        }
    }

    /// Registers `metric` with as many of `rows` as the budget allows,
    /// largest values first; counts the rest as dropped.
    fn register(
        &mut self,
        registry: &mut Registry,
        metric: &'static str,
        help: &str,
        mut rows: Vec<(Labels, i64)>,
    ) {
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let kept = rows.len().min(self.left);
        self.left -= kept;
        *self.dropped.entry(metric).or_default() += rows.len() - kept;
        rows.truncate(kept);
        gauges(registry, metric, help, rows);
    }
}

fn gauges(registry: &mut Registry, name: &str, help: &str, rows: Vec<(Labels, i64)>) {
    let family = Gauges::default();
    for (labels, value) in rows {
        family.get_or_create(&labels).set(value);
    }
    registry.register(name, help, family);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g = Gauge::<i64>::default();
    g.set(value);
    registry.register(name, help, g);
}

/// `labels` about the sockets of `tally`'s namespace, with the `netns`
/// label first under `-N all`.
fn of_netns(tally: &Tally, mut labels: Labels) -> Labels {
    if let Some(netns) = &tally.netns {
        labels.insert(0, ("netns", netns.clone()));
    }
    labels
}

/// A value of each namespace (absent where `value` gives none): a plain
/// gauge for the one namespace serve runs in, a family labelled `netns`
/// under `-N all`.
fn gauge_each(
    registry: &mut Registry,
    (name, help): (&str, &str),
    tallies: &[Tally],
    value: impl Fn(&Tally) -> Option<i64>,
) {
    match tallies {
        [one] if one.netns.is_none() => {
            if let Some(v) = value(one) {
                gauge(registry, name, help, v);
            }
        }
        _ => {
            let rows: Vec<(Labels, i64)> = tallies
                .iter()
                .filter_map(|t| Some((of_netns(t, vec![]), value(t)?)))
                .collect();
            if !rows.is_empty() {
                gauges(registry, name, help, rows);
            }
        }
    }
}

fn count(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// `TIME_WAIT` → `time_wait`, as node_exporter writes states.
fn state_label(state: &str) -> String {
    state.to_ascii_lowercase()
}

fn states(registry: &mut Registry, tallies: &[Tally]) {
    let mut rows = Vec::new();
    for (tally, c) in tallies
        .iter()
        .flat_map(|t| t.summary.states.iter().map(move |c| (t, c)))
    {
        for (family, n) in [("ipv4", c.tcp), ("ipv6", c.tcp6)] {
            let labels = vec![
                ("state", state_label(c.state)),
                ("family", family.to_string()),
                ("protocol", "tcp".to_string()),
            ];
            rows.push((of_netns(tally, labels), count(n)));
        }
    }
    gauges(
        registry,
        "tcpstat_sockets",
        "Sockets per state, address family and protocol, from one dump of the namespace",
        rows,
    );
}

fn limits(registry: &mut Registry, tallies: &[Tally]) {
    gauge_each(
        registry,
        (
            "tcpstat_timewait_sockets",
            "Timewait sockets (TIME_WAIT, and orphaned FIN_WAIT2 sockets kept as timewait \
             sockets): what net.ipv4.tcp_max_tw_buckets limits",
        ),
        tallies,
        |t| Some(count(t.summary.timewait.timewait_sockets)),
    );
    gauge_each(
        registry,
        (
            "tcpstat_timewait_sockets_limit",
            "net.ipv4.tcp_max_tw_buckets of the namespace: past it the kernel closes \
             connections without TIME_WAIT",
        ),
        tallies,
        |t| t.summary.timewait.max_buckets.map(count),
    );
    gauge_each(
        registry,
        (
            "tcpstat_orphan_sockets",
            "Orphaned sockets (closed by their programs, the close not finished) that count \
             against net.ipv4.tcp_max_orphans, in this namespace",
        ),
        tallies,
        |t| {
            Some(count(
                t.summary.orphans.total - t.summary.orphans.in_timewait,
            ))
        },
    );
    // Host-wide, the same read from any namespace: never labelled.
    if let Some(max) = tallies.iter().find_map(|t| t.sysctls.tcp_max_orphans) {
        gauge(
            registry,
            "tcpstat_orphan_sockets_limit",
            "net.ipv4.tcp_max_orphans: orphans allowed on the whole host (all namespaces) \
             before the kernel resets them",
            count(max),
        );
    }
    gauge_each(
        registry,
        (
            "tcpstat_ephemeral_ports",
            "Ports in net.ipv4.ip_local_port_range, the ephemeral range connect() picks from",
        ),
        tallies,
        |t| t.summary.ephemeral.as_ref().map(|e| count(e.ports)),
    );
}

fn findings(registry: &mut Registry, tallies: &[Tally]) {
    let mut found: BTreeMap<Labels, i64> = BTreeMap::new();
    for t in tallies {
        for f in &t.summary.findings {
            *found.entry(of_netns(t, finding_labels(f))).or_default() += 1;
        }
    }
    gauges(
        registry,
        "tcpstat_finding",
        "Active findings of tcpstat -s, by kind, severity and what they are about (program, \
         port or remote endpoint); more than 1 when several processes of one name are found \
         alike; absent when none",
        found.into_iter().collect(),
    );
    // One process scan serves every namespace: never labelled.
    gauge(
        registry,
        "tcpstat_owners_unreadable_processes",
        "Processes whose descriptors could not be read (without root, other users'): their \
         sockets are counted under program \"-\"",
        tallies
            .first()
            .map_or(0, |t| count(t.summary.unreadable_processes)),
    );
}

/// `kind`, `severity`, and the program, port or remote endpoint.
fn finding_labels(f: &Finding) -> Labels {
    let mut labels = vec![
        ("kind", f.kind.to_string()),
        ("severity", f.severity.name().to_string()),
    ];
    match &f.subject {
        Subject::Whole => {}
        Subject::Program(name) => labels.push(("program", name.clone())),
        Subject::Port(port) => labels.push(("port", port.to_string())),
        Subject::Remote(address, port) => {
            labels.push(("remote_address", Ntop(*address).to_string()));
            labels.push(("remote_port", port.to_string()));
        }
    }
    labels
}

fn listeners(registry: &mut Registry, budget: &mut Budget, tallies: &[Tally]) {
    let labels = |t: &Tally, q: &super::tally::ListenQueue| {
        let labels = vec![
            ("address", Ntop(q.address).to_string()),
            ("port", q.port.to_string()),
        ];
        of_netns(t, labels)
    };
    let queues = || {
        tallies
            .iter()
            .flat_map(|t| t.listeners.iter().map(move |q| (t, q)))
    };
    let queued = queues()
        .map(|(t, q)| (labels(t, q), count(q.queued)))
        .collect();
    budget.register(
        registry,
        "tcpstat_listen_queue_length",
        "Connections waiting in the accept queues of the sockets listening on an address and \
         port (Recv-Q)",
        queued,
    );
    let limits = queues()
        .filter_map(|(t, q)| Some((labels(t, q), count(q.limit?))))
        .collect();
    budget.register(
        registry,
        "tcpstat_listen_queue_limit",
        "Limit of those accept queues, listen()'s backlog capped by net.core.somaxconn \
         (ss's Send-Q; absent when read from /proc)",
        limits,
    );
}

fn port_connections(registry: &mut Registry, budget: &mut Budget, tallies: &[Tally]) {
    let connections = tallies
        .iter()
        .flat_map(|t| t.port_states.iter().map(move |e| (t, e)))
        .map(|(t, (&(port, state), &n))| {
            let labels = vec![
                ("port", port.to_string()),
                ("state", state_label(state.name())),
            ];
            (of_netns(t, labels), count(n))
        })
        .collect();
    budget.register(
        registry,
        "tcpstat_listen_port_connections",
        "Connections per state whose local port is a listening port (requests in SYN_RECV \
         included)",
        connections,
    );
}

fn teardown(registry: &mut Registry, budget: &mut Budget, tallies: &[Tally]) {
    let rows = tallies
        .iter()
        .flat_map(|t| t.per_program.iter().map(move |e| (t, e)))
        .map(|(t, ((state, program, port), &n))| {
            let labels = vec![
                ("state", state_label(state.name())),
                ("program", program.clone()),
                ("port", port.label()),
            ];
            (of_netns(t, labels), count(n))
        })
        .collect();
    budget.register(
        registry,
        "tcpstat_program_sockets",
        "CLOSE_WAIT and FIN_WAIT2 sockets per program (comm; \"-\" for none readable) and \
         local port (a listening port, or \"other\")",
        rows,
    );
    let rows = tallies
        .iter()
        .flat_map(|t| t.time_wait.iter().map(move |e| (t, e)))
        .map(|(t, (port, &n))| {
            let labels = vec![("port", LocalPort::label(*port))];
            (of_netns(t, labels), count(n))
        })
        .collect();
    budget.register(
        registry,
        "tcpstat_time_wait_port_sockets",
        "TIME_WAIT sockets per local port (a listening port, or \"other\"); no program holds \
         them",
        rows,
    );
}

fn ephemeral(registry: &mut Registry, budget: &mut Budget, tallies: &[Tally]) {
    if tallies.iter().all(|t| t.summary.ephemeral.is_none()) {
        return;
    }
    let rows = tallies
        .iter()
        .filter_map(|t| Some((t, t.summary.ephemeral.as_ref()?)))
        .flat_map(|(t, e)| e.top_remotes.iter().map(move |r| (t, r)))
        .map(|(t, r)| {
            let labels = vec![
                ("remote_address", Ntop(r.address).to_string()),
                ("remote_port", r.port.to_string()),
            ];
            (of_netns(t, labels), count(r.local_ports))
        })
        .collect();
    budget.register(
        registry,
        "tcpstat_ephemeral_ports_used",
        "Distinct local ports in the ephemeral range used by connections to a remote \
         endpoint, for the endpoints using the most (a connect() to it fails once none is left)",
        rows,
    );
}

/// The exporter's own metrics: whether this answer carries a complete
/// dump, how long it took, how many sockets, what was dropped, and the
/// lifelong counters.
fn exporter(registry: &mut Registry, budget: &Budget, outcome: Outcome<'_>, own: &Telemetry) {
    let tallies = match outcome {
        Outcome::Dump(tallies) => Some(tallies),
        _ => None,
    };
    gauge(
        registry,
        "tcpstat_scrape_success",
        "1 when this answer carries the socket metrics of a complete dump, 0 when the dump \
         failed or outlasted the scrape timeout (then only the exporter's own metrics are given)",
        i64::from(tallies.is_some()),
    );
    if let Some(tallies) = tallies {
        dump_facts(registry, tallies);
    }
    let dropped = budget
        .dropped
        .iter()
        .map(|(&metric, &n)| (vec![("metric", metric.to_string())], count(n)))
        .collect();
    gauges(
        registry,
        "tcpstat_scrape_series_dropped",
        "Series left out of a metric by --max-series in this answer",
        dropped,
    );
    counters(registry, own);
}

/// How the dump of this answer went: its time, its sockets, its source
/// (and under `-N all`, how many namespaces it read).
fn dump_facts(registry: &mut Registry, tallies: &[Tally]) {
    let duration = tallies.iter().map(|t| t.duration).max().unwrap_or_default();
    let seconds = Gauge::<f64, AtomicU64>::default();
    seconds.set(duration.as_secs_f64());
    registry.register_with_unit(
        "tcpstat_scrape_duration",
        "Time the dump, process scan and counting of this answer took",
        Unit::Seconds,
        seconds,
    );
    gauge(
        registry,
        "tcpstat_scrape_sockets",
        "Sockets seen in the dump of this answer",
        count(tallies.iter().map(Tally::sockets).sum::<usize>()),
    );
    if tallies.iter().any(|t| t.netns.is_some()) {
        gauge(
            registry,
            "tcpstat_scrape_namespaces",
            "Network namespaces read in the dump of this answer (-N all): each one's series \
             carry its name as the netns label",
            count(tallies.len()),
        );
    }
    let proc = tallies.iter().any(|t| t.source == Used::Proc);
    let source = match proc {
        false => "netlink",
        true => "proc",
    };
    // A gauge rather than OpenMetrics' info type, which the 0.0.4
    // format lacks: both expositions then say the same.
    gauges(
        registry,
        "tcpstat_source_info",
        "Where the sockets were read from: netlink (sock_diag) or proc (/proc/net/tcp, \
         no accept-queue limits, not a snapshot)",
        vec![(vec![("source", source.to_string())], 1)],
    );
}

/// The counters that live as long as the exporter.
fn counters(registry: &mut Registry, own: &Telemetry) {
    let counters = [
        (
            "tcpstat_scrapes",
            "Answers given (scrapes, or textfile writes)",
            &own.scrapes,
        ),
        ("tcpstat_scrape_errors", "Dumps that failed", &own.errors),
        (
            "tcpstat_scrape_timeouts",
            "Answers given without socket metrics because the dump outlasted the scrape \
             timeout",
            &own.timeouts,
        ),
    ];
    for (name, help, counter) in counters {
        registry.register(name, help, counter.clone());
    }
}

#[cfg(test)]
mod tests;
