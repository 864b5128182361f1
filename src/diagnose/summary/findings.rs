//! Findings: the figures of a [`Summary`] that point at a problem, in plain
//! language, most serious first.

use super::{EphemeralUse, StateDetail, Summary, STUCK_RETRANSMITS};
use crate::diagnose::{counted, owner_label, Sysctls};
use crate::model::TcpState;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Failing now or about to: a leak of hundreds, a limit nearly reached.
    High,
    /// Worth a look: a leak, a pile-up, connections stuck.
    Medium,
    /// Good to know.
    Low,
}

impl Severity {
    /// Its name in output: `high`, `medium`, `low`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// One problem the summary points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// What kind of finding, for scripts: `close_wait`, `timewait_limit`,
    /// `ephemeral_ports`, `orphans`, `syn_recv`, `half_closed`,
    /// `retransmitting`, `zero_window`, `no_keepalive`, `owners_incomplete`
    /// (a new kind goes in the schema's enum too,
    /// schema/tcpstat.schema.json).
    pub kind: &'static str,
    /// The problem in a sentence; program names as read (untrusted).
    pub message: String,
    /// What it is about, for a face that names it apart from the sentence
    /// (serve's metric labels).
    pub subject: Subject,
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The namespace as a whole (a limit, a count of all sockets).
    Whole,
    /// A program, by its name as read from /proc (untrusted).
    Program(String),
    /// A local port.
    Port(u16),
    /// A remote endpoint (IPv4-mapped addresses in dotted form).
    Remote(std::net::IpAddr, u16),
}

/// CLOSE_WAIT sockets one program may hold before it is called a leak, and
/// before the leak is serious.
pub const CLOSE_WAIT_LEAK: usize = 10;
pub const CLOSE_WAIT_SERIOUS: usize = 100;
/// Share of tcp_max_tw_buckets in use that is worth a word, and serious.
pub const TIMEWAIT_NOTABLE_PCT: f64 = 50.0;
pub const TIMEWAIT_SERIOUS_PCT: f64 = 80.0;
/// Share of the ephemeral range one remote endpoint uses that is worth a
/// word, and serious.
pub const EPHEMERAL_NOTABLE_PCT: f64 = 50.0;
pub const EPHEMERAL_SERIOUS_PCT: f64 = 80.0;
/// Orphans worth a word; serious from this share of tcp_max_orphans.
pub const MANY_ORPHANS: usize = 100;
pub const ORPHANS_SERIOUS_PCT: f64 = 50.0;
/// Half-open handshakes on one port worth a word.
pub const MANY_SYN_RECV: usize = 100;
/// Half-closed sockets one program may hold before it is mentioned.
pub const MANY_HALF_CLOSED: usize = 10;

/// The findings of `s`, most serious first (stable within a severity).
pub(super) fn find(s: &Summary, sys: &Sysctls) -> Vec<Finding> {
    let mut out = Vec::new();
    close_wait(detail(s, TcpState::CloseWait), &mut out);
    timewait_limit(s, &mut out);
    if let Some(e) = &s.ephemeral {
        ephemeral(e, &mut out);
    }
    orphans(s, sys, &mut out);
    syn_recv(detail(s, TcpState::SynRecv), &mut out);
    half_closed(detail(s, TcpState::FinWait2), &mut out);
    established(s, &mut out);
    owners_incomplete(s, &mut out);
    out.sort_by_key(|f| f.severity);
    out
}

/// Without root, other users' processes cannot be read: a socket they hold
/// looks like one no program holds.
fn owners_incomplete(s: &Summary, out: &mut Vec<Finding>) {
    if s.unreadable_processes > 0 {
        push(
            out,
            Severity::Low,
            "owners_incomplete",
            format!(
                "{} could not be read without root: the programs named here may not be \
                 all that hold these sockets (run as root to see every owner)",
                counted(s.unreadable_processes, "process", "processes")
            ),
        );
    }
}

fn detail(s: &Summary, state: TcpState) -> &StateDetail {
    s.details
        .iter()
        .find(|d| d.state == state.name())
        .expect("every detailed state is summarised")
}

fn push(out: &mut Vec<Finding>, severity: Severity, kind: &'static str, message: String) {
    push_about(out, severity, kind, Subject::Whole, message);
}

fn push_about(
    out: &mut Vec<Finding>,
    severity: Severity,
    kind: &'static str,
    subject: Subject,
    message: String,
) {
    out.push(Finding {
        severity,
        kind,
        message,
        subject,
    });
}

fn close_wait(d: &StateDetail, out: &mut Vec<Finding>) {
    let Some(procs) = &d.top_processes else {
        if d.count >= CLOSE_WAIT_LEAK {
            let msg = format!(
                "{} sockets in CLOSE_WAIT: their peers closed, the programs have not called \
                 close() (owners not looked up)",
                d.count
            );
            push(out, Severity::Medium, "close_wait", msg);
        }
        return;
    };
    for p in procs.iter().filter(|p| p.count >= CLOSE_WAIT_LEAK) {
        let severity = if p.count >= CLOSE_WAIT_SERIOUS {
            Severity::High
        } else {
            Severity::Medium
        };
        let msg = format!(
            "{} holds {} sockets in CLOSE_WAIT: their peers closed, the program has not called \
             close()",
            owner_label(p.pid, &p.name),
            p.count
        );
        let program = Subject::Program(p.name.clone());
        push_about(out, severity, "close_wait", program, msg);
    }
}

fn timewait_limit(s: &Summary, out: &mut Vec<Finding>) {
    let t = &s.timewait;
    let (Some(max), Some(pct)) = (t.max_buckets, t.percent) else {
        return;
    };
    if pct < TIMEWAIT_NOTABLE_PCT {
        return;
    }
    let severity = if pct >= TIMEWAIT_SERIOUS_PCT {
        Severity::High
    } else {
        Severity::Medium
    };
    let msg = format!(
        "{} timewait sockets, {pct}% of tcp_max_tw_buckets ({max}): past the limit the kernel \
         closes connections without TIME_WAIT (\"time wait bucket table overflow\")",
        t.timewait_sockets
    );
    push(out, severity, "timewait_limit", msg);
}

fn ephemeral(e: &EphemeralUse, out: &mut Vec<Finding>) {
    for r in e
        .top_remotes
        .iter()
        .filter(|r| r.percent > EPHEMERAL_NOTABLE_PCT)
    {
        let severity = if r.percent > EPHEMERAL_SERIOUS_PCT {
            Severity::High
        } else {
            Severity::Medium
        };
        let msg = format!(
            "connections to {} use {} of the {} ephemeral ports ({}%): connect() to it fails \
             (EADDRNOTAVAIL) once none is left",
            crate::model::addr::NtopPort(r.address, r.port),
            r.local_ports,
            e.ports,
            r.percent
        );
        let remote = Subject::Remote(r.address, r.port);
        push_about(out, severity, "ephemeral_ports", remote, msg);
    }
}

fn orphans(s: &Summary, sys: &Sysctls, out: &mut Vec<Finding>) {
    let n = s.orphans.total;
    // Timewait-backed FIN_WAIT2 orphans are not counted by tcp_max_orphans.
    let full = n - s.orphans.in_timewait;
    let share = sys
        .tcp_max_orphans
        .filter(|&max| max > 0 && full > 0)
        .map(|max| (max, super::percent(full, max)));
    let serious = share.is_some_and(|(_, pct)| pct >= ORPHANS_SERIOUS_PCT);
    if n < MANY_ORPHANS && !serious {
        return;
    }
    let limit = match share {
        Some((max, pct)) => format!(
            "; {full} of them here alone are {pct}% of tcp_max_orphans ({max}), the host-wide \
             limit past which the kernel resets them"
        ),
        None => String::new(),
    };
    let msg = format!(
        "{}: closed by their programs, the kernel still finishing the close{limit}",
        counted(n, "orphaned socket", "orphaned sockets")
    );
    let severity = if serious {
        Severity::High
    } else {
        Severity::Medium
    };
    push(out, severity, "orphans", msg);
}

fn syn_recv(d: &StateDetail, out: &mut Vec<Finding>) {
    for p in d
        .top_local_ports
        .iter()
        .filter(|p| p.count >= MANY_SYN_RECV)
    {
        let msg = format!(
            "port {} has {} half-open connections (SYN_RECV): clients do not complete the \
             handshake (a SYN flood, or their ACKs are lost)",
            p.port, p.count
        );
        push_about(
            out,
            Severity::Medium,
            "syn_recv",
            Subject::Port(p.port),
            msg,
        );
    }
}

fn half_closed(d: &StateDetail, out: &mut Vec<Finding>) {
    let procs = d.top_processes.iter().flatten();
    for p in procs.filter(|p| p.count >= MANY_HALF_CLOSED) {
        let msg = format!(
            "{} holds {} half-closed sockets in FIN_WAIT2: it shut down writing, the peers \
             have not closed",
            owner_label(p.pid, &p.name),
            p.count
        );
        let program = Subject::Program(p.name.clone());
        push_about(out, Severity::Low, "half_closed", program, msg);
    }
}

fn established(s: &Summary, out: &mut Vec<Finding>) {
    let e = &s.established;
    if e.retransmitting > 0 {
        let msg = format!(
            "{} retransmitting unacknowledged data ({STUCK_RETRANSMITS} times or more): peers \
             or the paths to them may be gone",
            counted(e.retransmitting, "connection is", "connections are")
        );
        push(out, Severity::Medium, "retransmitting", msg);
    }
    if e.zero_window > 0 {
        let msg = format!(
            "{} on a zero window: the peers are not reading",
            counted(e.zero_window, "connection waits", "connections wait")
        );
        push(out, Severity::Low, "zero_window", msg);
    }
    if e.no_keepalive > 0 {
        let msg = format!(
            "{} of {} ESTABLISHED connections {} no keepalive timer armed (SO_KEEPALIVE off): \
             a peer that vanishes without a FIN or RST leaves them open until the program \
             notices",
            e.no_keepalive,
            e.total,
            if e.no_keepalive == 1 { "has" } else { "have" }
        );
        push(out, Severity::Low, "no_keepalive", msg);
    }
}
