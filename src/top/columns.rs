//! The columns of `top`'s table, as data: title, widths, the priority by
//! which a narrow terminal drops them, each row's cell text (made only
//! for the rows on screen) and the order a sort by the column gives.

use super::refresh::{Entry, Mark, Refresh};
use crate::model::{Endpoint, Socket, TimerKind};
use crate::render::inside::per_sec;
use crate::render::table::format_endpoint;
use std::cmp::Ordering;

/// A column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// `+` new, `-` gone, `~` state changed.
    Mark,
    Netns,
    Proto,
    RecvQ,
    SendQ,
    Local,
    Remote,
    State,
    Timer,
    Program,
    SendRate,
    RecvRate,
    RetrRate,
    Age,
}

impl Column {
    /// Every column, in the order they are shown.
    pub const ALL: [Column; 14] = [
        Column::Mark,
        Column::Netns,
        Column::Proto,
        Column::RecvQ,
        Column::SendQ,
        Column::Local,
        Column::Remote,
        Column::State,
        Column::Timer,
        Column::Program,
        Column::SendRate,
        Column::RecvRate,
        Column::RetrRate,
        Column::Age,
    ];

    /// The header.
    pub fn title(self) -> &'static str {
        match self {
            Column::Mark => "",
            Column::Netns => "NETNS",
            Column::Proto => "Proto",
            Column::RecvQ => "Recv-Q",
            Column::SendQ => "Send-Q",
            Column::Local => "Local Address",
            Column::Remote => "Foreign Address",
            Column::State => "State",
            Column::Timer => "Timer",
            Column::Program => "PID/Program",
            Column::SendRate => "Send/s",
            Column::RecvRate => "Recv/s",
            Column::RetrRate => "Retr/s",
            Column::Age => "Age",
        }
    }

    /// The narrowest and widest the column is laid out.
    fn widths(self) -> (u16, u16) {
        match self {
            Column::Mark => (1, 1),
            Column::Netns => (12, 12),
            Column::Proto => (5, 5),
            Column::RecvQ | Column::SendQ => (6, 6),
            Column::Local | Column::Remote => (21, 23),
            Column::State => (11, 11),
            Column::Timer => (15, 17),
            Column::Program => (12, 24),
            Column::SendRate | Column::RecvRate | Column::RetrRate => (6, 6),
            Column::Age => (6, 6),
        }
    }

    /// Kept longer on a narrow terminal the higher it is.
    fn priority(self) -> u8 {
        match self {
            Column::Mark | Column::State => 20,
            Column::Local | Column::Remote => 19,
            Column::Program => 18,
            Column::Netns => 17,
            Column::Timer => 16,
            Column::RecvQ => 15,
            Column::SendQ => 14,
            Column::SendRate => 13,
            Column::RecvRate => 12,
            Column::Age => 11,
            Column::Proto => 10,
            Column::RetrRate => 9,
        }
    }

    /// True for numbers, which are right-aligned.
    pub fn numeric(self) -> bool {
        matches!(
            self,
            Column::RecvQ
                | Column::SendQ
                | Column::SendRate
                | Column::RecvRate
                | Column::RetrRate
                | Column::Age
        )
    }

    /// The cell of `e`.
    pub fn cell(self, e: &Entry, refresh: &Refresh) -> String {
        let s = &e.socket;
        match self {
            Column::Mark => match e.mark {
                Mark::Same => " ",
                Mark::New => "+",
                Mark::Changed(_) => "~",
                Mark::Gone => "-",
            }
            .into(),
            Column::Netns => crate::escape::escape(refresh.netns_name(e).unwrap_or("")).into(),
            Column::Proto => s.proto().into(),
            Column::RecvQ => s.recv_q.to_string(),
            Column::SendQ => s.send_q.to_string(),
            Column::Local => endpoint(&s.local),
            Column::Remote => endpoint(&s.remote),
            Column::State => s.state.name().into(),
            Column::Timer => timer(s),
            Column::Program => e.program.as_deref().unwrap_or("-").into(),
            Column::SendRate | Column::RecvRate | Column::RetrRate => {
                rate(s, self).map_or_else(|| "-".into(), per_sec)
            }
            Column::Age => age(e),
        }
    }

    /// The order of two rows by this column, smallest first; rows without
    /// a value (no rate yet) after those with one.
    pub fn compare(self, a: &Entry, b: &Entry, refresh: &Refresh) -> Ordering {
        let (x, y) = (&a.socket, &b.socket);
        match self {
            Column::Mark => mark_rank(a.mark).cmp(&mark_rank(b.mark)),
            Column::Netns => refresh.netns_name(a).cmp(&refresh.netns_name(b)),
            Column::Proto => x.family.cmp(&y.family),
            Column::RecvQ => x.recv_q.cmp(&y.recv_q),
            Column::SendQ => x.send_q.cmp(&y.send_q),
            Column::Local => endpoint_order(&x.local, &y.local),
            Column::Remote => endpoint_order(&x.remote, &y.remote),
            Column::State => x.state.cmp(&y.state),
            Column::Timer => timer_key(x).cmp(&timer_key(y)),
            Column::Program => match (&a.program, &b.program) {
                (Some(p), Some(q)) => p.cmp(q),
                (p, q) => q.is_none().cmp(&p.is_none()),
            },
            Column::SendRate | Column::RecvRate | Column::RetrRate => {
                match (rate(x, self), rate(y, self)) {
                    (Some(p), Some(q)) => p.total_cmp(&q),
                    (p, q) => q.is_none().cmp(&p.is_none()),
                }
            }
            Column::Age => a.age_secs.cmp(&b.age_secs),
        }
    }
}

/// The columns that fit in `width`, each with its width: by priority,
/// then the room left handed to the columns that can grow. Cells longer
/// than their column are cut, never wrapped.
pub fn layout(width: u16, netns: bool) -> Vec<(Column, u16)> {
    let mut by_priority: Vec<Column> = Column::ALL
        .into_iter()
        .filter(|c| netns || *c != Column::Netns)
        .collect();
    by_priority.sort_by_key(|c| std::cmp::Reverse(c.priority()));
    let mut used = 0u16;
    let mut kept = Vec::new();
    for c in by_priority {
        let need = c.widths().0 + u16::from(!kept.is_empty());
        if used + need <= width {
            used += need;
            kept.push(c);
        }
    }
    let mut laid: Vec<(Column, u16)> = Column::ALL
        .into_iter()
        .filter(|c| kept.contains(c))
        .map(|c| (c, c.widths().0))
        .collect();
    let mut room = width.saturating_sub(used);
    for (c, w) in &mut laid {
        let grow = (c.widths().1 - *w).min(room);
        *w += grow;
        room -= grow;
    }
    laid
}

fn endpoint(e: &Endpoint) -> String {
    let mut out = String::with_capacity(24);
    format_endpoint(&mut out, e, None, false);
    out
}

/// Addresses numerically (IPv4 before IPv6), then ports.
fn endpoint_order(a: &Endpoint, b: &Endpoint) -> Ordering {
    let (x, y) = (a.display_addr(), b.display_addr());
    x.cmp(&y).then(a.port.cmp(&b.port))
}

/// The timer and its countdown: `keepalive 7197s`, `on 0.56s r3`,
/// `timewait 59.8s`, `off`; retransmissions and probes when there are.
fn timer(s: &Socket) -> String {
    let t = &s.timer;
    if t.kind == TimerKind::Off {
        return "off".into();
    }
    let secs = t.expires_ms as f64 / 1000.0;
    let mut text = match secs {
        s if s < 10.0 => format!("{} {s:.2}s", t.kind.name()),
        s if s < 100.0 => format!("{} {s:.1}s", t.kind.name()),
        s => format!("{} {s:.0}s", t.kind.name()),
    };
    if t.retransmits > 0 {
        text.push_str(&format!(" r{}", t.retransmits));
    }
    if t.probes > 0 {
        text.push_str(&format!(" p{}", t.probes));
    }
    text
}

/// Timers sort by time left, sockets without one last.
fn timer_key(s: &Socket) -> (bool, u64) {
    (s.timer.kind == TimerKind::Off, s.timer.expires_ms)
}

/// The rate a rate column shows, per second.
fn rate(s: &Socket, column: Column) -> Option<f64> {
    let rates = s.info.as_ref()?.rates.as_deref()?;
    match column {
        Column::SendRate => rates.acked_per_sec(),
        Column::RecvRate => rates.received_per_sec(),
        _ => rates.retrans_per_sec(),
    }
}

/// Seconds since first seen: `42s`, `7m`, `3h`, `2d`; `>` when it was
/// there when top started.
fn age(e: &Entry) -> String {
    let s = e.age_secs;
    let text = match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    };
    match e.age_at_least {
        true => format!(">{text}"),
        false => text,
    }
}

fn mark_rank(m: Mark) -> u8 {
    match m {
        Mark::New => 0,
        Mark::Changed(_) => 1,
        Mark::Same => 2,
        Mark::Gone => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_terminals_drop_columns_by_priority() {
        let wide = layout(200, false);
        assert_eq!(wide.len(), Column::ALL.len() - 1);
        let total = |l: &[(Column, u16)]| l.iter().map(|(_, w)| w + 1).sum::<u16>() - 1;
        for width in [80, 100, 120, 200] {
            let l = layout(width, true);
            assert!(total(&l) <= width, "{width}: {l:?}");
            for must in [Column::State, Column::Local, Column::Remote] {
                assert!(l.iter().any(|(c, _)| *c == must), "{width}: {l:?}");
            }
        }
        let at80: Vec<Column> = layout(80, false).into_iter().map(|(c, _)| c).collect();
        assert!(at80.contains(&Column::Program));
        assert!(!at80.contains(&Column::RetrRate) && !at80.contains(&Column::Proto));
    }
}
