//! Takes the four views of one namespace back to back and compares them:
//! tcpstat (both sources) against netstat field by field, and against ss on
//! state, inode, timer and shutdown.
//!
//! Timers run between two views, so remaining times are compared within the
//! wall-clock span of the two runs plus the resolution of the views; a
//! retransmission timer may also fire in between, which is why callers
//! retake the whole snapshot ([`assert_agree`]) rather than loosen a check.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::netns::Netns;
use super::oracle::{parse_netstat, parse_ss, parse_tcpstat_json, Key, Row, View};

/// One clock tick of slack beyond the elapsed time (USER_HZ is 100).
const TICK_MS: u64 = 20;

/// The path of the binary under test.
pub fn tcpstat_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tcpstat")
}

/// The rows of every view of one namespace, with when each view ran.
pub struct Snapshot {
    pub rows: HashMap<View, Vec<Row>>,
    spans: HashMap<View, (Instant, Instant)>,
}

impl Snapshot {
    /// Runs tcpstat (netlink), netstat, tcpstat (proc), ss and tcpstat
    /// (netlink as two dumps side by side) back to back inside `ns`.
    /// netstat runs between the first two tcpstat runs so that both are as
    /// close to it as possible.
    pub fn take(ns: &Netns) -> Snapshot {
        let bin = tcpstat_bin();
        let mut rows = HashMap::new();
        let mut spans = HashMap::new();
        for view in [
            View::Netlink,
            View::Netstat,
            View::Proc,
            View::Ss,
            View::Split,
        ] {
            let start = Instant::now();
            let text = match view {
                // -W only stops netstat from cutting long addresses short.
                View::Netstat => ns.stdout("netstat", &["-tanoeW"]),
                View::Ss => ns.stdout("ss", &["-tanoeH"]),
                View::Netlink => ns.stdout(bin, &["-tanoe", "--json", "--source", "netlink"]),
                // A zoo is too small for `auto` to split: every
                // comparison checks two dumps side by side as well.
                View::Split => ns.stdout(
                    bin,
                    &[
                        "-tanoe",
                        "--json",
                        "--source",
                        "netlink",
                        "--parallel",
                        "always",
                    ],
                ),
                View::Proc => ns.stdout(bin, &["-tanoe", "--json", "--source", "proc"]),
            };
            spans.insert(view, (start, Instant::now()));
            let parsed = match view {
                View::Netstat => parse_netstat(&text),
                View::Ss => parse_ss(&text),
                View::Netlink | View::Proc | View::Split => parse_tcpstat_json(&text, view),
            };
            rows.insert(view, parsed);
        }
        Snapshot { rows, spans }
    }

    /// The views' rows.
    pub fn view(&self, view: View) -> &[Row] {
        &self.rows[&view]
    }

    /// The row of `key` in `view`, if present.
    pub fn find(&self, view: View, key: Key) -> Option<&Row> {
        self.rows[&view].iter().find(|r| r.key() == key)
    }

    /// When the kernel was read for two views, relative to each other.
    fn gap(&self, a: View, b: View) -> Gap {
        let (a0, a1) = self.spans[&a];
        let (b0, b1) = self.spans[&b];
        let span: Duration = a1.max(b1) - a0.min(b0);
        Gap {
            elapsed_ms: span.as_millis() as u64,
            a_first: a0 <= b0,
        }
    }
}

/// How two views' readings of the kernel relate in time: at most
/// `elapsed_ms` apart, the first view (a or b) read first.
#[derive(Debug, Clone, Copy)]
struct Gap {
    elapsed_ms: u64,
    a_first: bool,
}

impl Gap {
    /// True when `a`'s and `b`'s remaining times can be one timer counting
    /// down: the later reading is at most the earlier one, and at least the
    /// earlier one less the elapsed time, each widened by the views'
    /// truncation and a clock tick. A timer that fired and was re-armed in
    /// between fails this; the caller retakes the snapshot then.
    fn expiry_agrees(self, a: &Row, b: &Row) -> bool {
        let (first, then) = if self.a_first { (a, b) } else { (b, a) };
        let (f, t) = (&first.timer, &then.timer);
        let high = f.expires_ms + f.resolution_ms + TICK_MS;
        let low = f
            .expires_ms
            .saturating_sub(self.elapsed_ms + t.resolution_ms + TICK_MS);
        (low..=high).contains(&t.expires_ms)
    }
}

/// Everything wrong with a snapshot: tcpstat against the oracles, and the
/// oracles against each other where they must agree. Empty when all agree.
pub fn disagreements(snap: &Snapshot) -> Vec<String> {
    let mut problems = Vec::new();
    for view in [
        View::Netstat,
        View::Ss,
        View::Netlink,
        View::Proc,
        View::Split,
    ] {
        problems.extend(duplicates(snap.view(view)));
    }
    for view in [View::Ss, View::Netlink, View::Proc, View::Split] {
        problems.extend(same_sockets(snap.view(View::Netstat), snap.view(view)));
    }
    for netstat in snap.view(View::Netstat) {
        let ss = snap.find(View::Ss, netstat.key());
        if let Some(ss) = ss {
            problems.extend(against_ss(netstat, ss, snap.gap(View::Netstat, View::Ss)));
        }
        for view in [View::Netlink, View::Proc, View::Split] {
            let Some(row) = snap.find(view, netstat.key()) else {
                continue;
            };
            problems.extend(against_netstat(netstat, row, snap.gap(View::Netstat, view)));
            if let Some(ss) = ss {
                problems.extend(against_ss(row, ss, snap.gap(view, View::Ss)));
            }
        }
        for view in [View::Netlink, View::Split] {
            if let (Some(ss), Some(netlink)) = (ss, snap.find(view, netstat.key())) {
                if ss.shutdown != netlink.shutdown {
                    problems.push(mismatch("shutdown", ss, netlink));
                }
            }
        }
    }
    problems
}

fn mismatch(field: &str, expected: &Row, actual: &Row) -> String {
    format!("{field} differs:\n  {expected}\n  {actual}")
}

fn duplicates(rows: &[Row]) -> Vec<String> {
    let mut seen: HashMap<Key, &Row> = HashMap::new();
    rows.iter()
        .filter_map(|row| {
            seen.insert(row.key(), row)
                .map(|old| mismatch("duplicate endpoints", old, row))
        })
        .collect()
}

/// Sockets one view lists and the other does not.
fn same_sockets(netstat: &[Row], other: &[Row]) -> Vec<String> {
    let missing = netstat
        .iter()
        .filter(|n| !other.iter().any(|o| o.key() == n.key()))
        .map(|n| {
            format!(
                "missing from {}:\n  {n}",
                other.first().map_or("view".into(), |o| o.view.to_string())
            )
        });
    let extra = other
        .iter()
        .filter(|o| !netstat.iter().any(|n| n.key() == o.key()))
        .map(|o| format!("not listed by netstat:\n  {o}"));
    missing.chain(extra).collect()
}

/// Every field netstat shows, compared exactly except the remaining time.
fn against_netstat(netstat: &Row, row: &Row, gap: Gap) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |field: &str, equal: bool| {
        if !equal {
            problems.push(mismatch(field, netstat, row));
        }
    };
    check("proto", netstat.proto == row.proto);
    check("state", netstat.state == row.state);
    check("recv_q", netstat.recv_q == row.recv_q);
    check("send_q", netstat.send_q == row.send_q);
    check("uid", netstat.uid == row.uid);
    check("inode", netstat.inode == row.inode);
    check("timer kind", netstat.timer.kind == row.timer.kind);
    check(
        "retransmits",
        netstat.timer.retransmits == row.timer.retransmits,
    );
    check("probes", netstat.timer.probes == row.timer.probes);
    let expiry = format!("timer expiry (read {} ms apart)", gap.elapsed_ms);
    check(&expiry, gap.expiry_agrees(netstat, row));
    if row.view == View::Proc {
        check("shutdown (proc has none)", row.shutdown.is_none());
    }
    problems
}

/// What ss can vouch for: state, inode, timer kind and expiry.
fn against_ss(row: &Row, ss: &Row, gap: Gap) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |field: &str, equal: bool| {
        if !equal {
            problems.push(mismatch(field, ss, row));
        }
    };
    check("state (vs ss)", row.state == ss.state);
    check("inode (vs ss)", row.inode == ss.inode);
    check("timer kind (vs ss)", row.timer.kind == ss.timer.kind);
    let expiry = format!("timer expiry (vs ss, read {} ms apart)", gap.elapsed_ms);
    check(&expiry, gap.expiry_agrees(row, ss));
    problems
}

/// A snapshot starts only when no timer is due within this long (or twice
/// the previous snapshot's duration, if longer).
const MIN_QUIET: Duration = Duration::from_millis(300);
/// The longest wait for such a quiet moment before snapshotting anyway.
const MAX_QUIET_WAIT: Duration = Duration::from_secs(10);

/// Waits until no timer in `ns` is due within `quiet`, as ss reports it, so
/// that the views about to be taken see each timer before it fires. Timers
/// back off, so such a moment comes; the wait is bounded all the same.
fn wait_for_quiet(ns: &Netns, quiet: Duration) {
    let deadline = Instant::now() + MAX_QUIET_WAIT;
    while Instant::now() < deadline {
        let rows = parse_ss(&ns.stdout("ss", &["-tanoeH"]));
        let soonest = rows
            .iter()
            .filter(|r| r.timer.kind != "off")
            .map(|r| Duration::from_millis(r.timer.expires_ms))
            .min();
        match soonest {
            Some(due) if due < quiet => std::thread::sleep(due + Duration::from_millis(30)),
            _ => return,
        }
    }
}

/// Takes snapshots of `ns` until `check` finds nothing wrong with one, at
/// most three times, and panics with every attempt's findings otherwise.
/// Each snapshot starts at a moment when no timer is about to fire; if one
/// fires between two views all the same (the machine was slow), the whole
/// snapshot is retaken rather than the comparison loosened. A real
/// disagreement shows up in all three.
pub fn assert_agree(ns: &Netns, check: impl Fn(&Snapshot) -> Vec<String>) -> Snapshot {
    let mut report = String::new();
    let mut quiet = MIN_QUIET;
    for attempt in 1..=3 {
        wait_for_quiet(ns, quiet);
        let start = Instant::now();
        let snap = Snapshot::take(ns);
        quiet = quiet.max(start.elapsed() * 2);
        let problems = check(&snap);
        if problems.is_empty() {
            if attempt > 1 {
                eprintln!(
                    "{}: agreed on attempt {attempt}; earlier:{report}",
                    ns.name()
                );
            }
            return snap;
        }
        report += &format!(
            "\n=== attempt {attempt} in {} (views taken in {:?}): {} problem(s)\n",
            ns.name(),
            start.elapsed(),
            problems.len()
        );
        for p in &problems {
            report += &format!("- {p}\n");
        }
    }
    panic!("tcpstat disagrees with the oracles:{report}");
}

/// Multiset difference: what `a` has more of than `b`.
pub fn missing_from<'k, T: Eq + std::hash::Hash>(a: &'k [T], b: &[T]) -> Vec<&'k T> {
    let mut have: HashMap<&T, usize> = HashMap::new();
    for k in b {
        *have.entry(k).or_default() += 1;
    }
    a.iter()
        .filter(|k| match have.get_mut(k) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .collect()
}
