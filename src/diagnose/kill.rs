//! `-K`: which matching sockets are closed and which are left open, and
//! what to tell about each — in particular what helps instead where
//! closing does not or may not (a TIME_WAIT remnant, a listener). Pure:
//! sockets and the kernel's answers in, a [`Report`] out, which
//! `render::kill` prints.

use crate::diagnose::explain::secs;
use crate::model::kill::{KillOutcome, KillResult};
use crate::model::{Socket, StateSet, TcpState};

/// What `-K` did, or would do (`dry_run`), with the sockets it matched.
#[derive(Debug, Clone)]
pub struct Report<'s> {
    /// Nothing was asked of the kernel: `outcome` is `None` everywhere.
    pub dry_run: bool,
    /// The sockets in the states `-K` closes, in dump order.
    pub targets: Vec<Target<'s>>,
    /// Matching sockets in states `-K` leaves alone unless named.
    pub left_open: Vec<LeftOpen<'s>>,
}

/// A socket `-K` closes (or would close).
#[derive(Debug, Clone)]
pub struct Target<'s> {
    pub socket: &'s Socket,
    /// The kernel's answer; `None` in a dry run or when not asked (a
    /// refusal stopped the run before it).
    pub outcome: Option<KillOutcome>,
    /// What helps instead, when the kernel did not close it.
    pub help: Option<String>,
}

/// A matching socket `-K` did not touch, and why.
#[derive(Debug, Clone)]
pub struct LeftOpen<'s> {
    pub socket: &'s Socket,
    pub reason: String,
}

impl<'s> Report<'s> {
    /// Splits the matching `rows` into those in `states` (to close) and
    /// the rest (left open, each with its reason).
    pub fn plan(rows: &'s [Socket], states: StateSet, dry_run: bool) -> Report<'s> {
        let (targets, left): (Vec<&Socket>, Vec<&Socket>) =
            rows.iter().partition(|s| states.contains(s.state));
        Report {
            dry_run,
            targets: targets
                .into_iter()
                .map(|socket| Target {
                    socket,
                    outcome: None,
                    help: None,
                })
                .collect(),
            left_open: left
                .into_iter()
                .map(|socket| LeftOpen {
                    socket,
                    reason: left_open_reason(socket),
                })
                .collect(),
        }
    }

    /// Records the kernel's answer for target `i`, and what helps if it
    /// did not close it.
    pub fn record(&mut self, i: usize, outcome: KillOutcome) {
        let target = &mut self.targets[i];
        target.outcome = Some(outcome);
        target.help = help(target.socket, outcome);
    }

    /// How many targets the kernel answered with `result`.
    pub fn count(&self, result: KillResult) -> usize {
        self.targets
            .iter()
            .filter(|t| t.outcome.is_some_and(|o| o.result == result))
            .count()
    }

    /// True when every target was answered closed or gone.
    pub fn all_done(&self) -> bool {
        self.targets.iter().all(|t| {
            t.outcome
                .is_some_and(|o| matches!(o.result, KillResult::Closed | KillResult::Gone))
        })
    }
}

/// What helps when the kernel did not close `s`.
pub fn help(s: &Socket, outcome: KillOutcome) -> Option<String> {
    match (outcome.result, s.state) {
        (KillResult::Closed | KillResult::Gone, _) => None,
        (KillResult::NotSupported, TcpState::TimeWait) => Some(format!(
            "this kernel cannot abort TIME_WAIT sockets (before Linux 6.x); {}",
            time_wait_help(s)
        )),
        (KillResult::NotSupported, _) => Some(
            "this kernel cannot abort it: built without CONFIG_INET_DIAG_DESTROY, \
             or a socket its protocol cannot destroy"
                .into(),
        ),
        (KillResult::PermissionDenied, _) => {
            Some("closing needs CAP_NET_ADMIN in the socket's network namespace".into())
        }
        (KillResult::Error, _) => None,
    }
}

/// What ends a TIME_WAIT remnant or gets past it, as `why` tells it.
pub fn time_wait_help(s: &Socket) -> String {
    format!(
        "it goes by itself in {}; a server binds past it with SO_REUSEADDR, and a client \
         reuses its port for a new connection when net.ipv4.tcp_tw_reuse allows",
        secs(s.timer.expires_ms)
    )
}

/// Why `-K` left a matching socket open: its state was not named.
pub fn left_open_reason(s: &Socket) -> String {
    match s.state {
        TcpState::Listen => "a listener: -K closes listeners only when named (-l or \
                             `state listening`); closing one stops its server accepting"
            .into(),
        TcpState::TimeWait => format!(
            "TIME_WAIT: closed only when named (`state time-wait`); {}",
            time_wait_help(s)
        ),
        TcpState::SynRecv => "a handshake in a listener's queue: closed only when named \
                              (`state syn-recv`); it goes when the handshake completes \
                              or its SYN-ACK retries run out"
            .into(),
        other => format!("{other}: not a state -K closes unless named"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kill;
    use crate::model::TcpState::*;
    use crate::model::{Timer, TimerKind};
    use crate::test_support::{sock, SocketExt};

    #[test]
    fn listeners_and_time_wait_are_left_open_unless_named() {
        let mut tw = sock(TimeWait, "10.0.0.1:80", "10.0.0.9:5000");
        tw.timer = Timer {
            kind: TimerKind::TimeWait,
            expires_ms: 42_000,
            ..Timer::OFF
        };
        let rows = [
            sock(Listen, "0.0.0.0:80", "0.0.0.0:0").inode(5),
            sock(Established, "10.0.0.1:80", "10.0.0.9:5001"),
            sock(CloseWait, "10.0.0.1:80", "10.0.0.9:5002"),
            tw,
        ];
        let report = Report::plan(&rows, Kill::default_states(), false);
        let states: Vec<_> = report.targets.iter().map(|t| t.socket.state).collect();
        assert_eq!(states, [Established, CloseWait]);
        let left: Vec<_> = report.left_open.iter().map(|l| l.socket.state).collect();
        assert_eq!(left, [Listen, TimeWait]);
        assert!(report.left_open[0]
            .reason
            .contains("-l or `state listening`"));
        assert!(
            report.left_open[1].reason.contains("in 42 s"),
            "{}",
            report.left_open[1].reason
        );
        assert!(!report.all_done());

        let named = Report::plan(&rows, StateSet::of(TimeWait), false);
        assert_eq!(named.targets.len(), 1);
    }

    #[test]
    fn results_are_recorded_with_their_help() {
        let rows = [
            sock(Established, "10.0.0.1:80", "10.0.0.9:5001"),
            sock(TimeWait, "10.0.0.1:80", "10.0.0.9:5002"),
        ];
        let mut report = Report::plan(&rows, StateSet::ALL, false);
        report.record(0, KillOutcome::of_errno(libc::ENOENT));
        report.record(1, KillOutcome::of_errno(libc::EOPNOTSUPP));
        assert_eq!(report.count(KillResult::Gone), 1);
        assert_eq!(report.targets[0].help, None);
        let help = report.targets[1].help.as_deref().unwrap();
        assert!(
            help.contains("SO_REUSEADDR") && help.contains("tcp_tw_reuse"),
            "{help}"
        );
        assert!(!report.all_done());
        report.record(1, KillOutcome::of_errno(0));
        assert!(report.all_done());
    }
}
