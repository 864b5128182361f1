//! `--explain`: one short note per socket in a teardown or unusual state —
//! who closed first, what the kernel waits for, and which timer ends it.
//!
//! The notes rest on what the dump shows: the state, whether a program still
//! holds the socket (inode), the shutdown bits, the timer and its counters,
//! and the receive queue, which in CLOSE_WAIT counts the peer's FIN as one
//! byte until the program has read past it (so 1 means: all data read, the
//! end of the stream not yet).

use std::borrow::Cow;

use crate::model::{Socket, TcpState, TimerKind};

/// A note on `s`, or `None` for a socket in a plain state (LISTEN, or
/// ESTABLISHED with nothing unusual).
pub fn explain(s: &Socket) -> Option<Cow<'static, str>> {
    match s.state {
        TcpState::Established => established(s),
        TcpState::SynSent => Some(syn_sent(s)),
        TcpState::SynRecv => Some(syn_recv(s)),
        TcpState::FinWait1 => Some(fin_wait1(s)),
        TcpState::FinWait2 => Some(fin_wait2(s)),
        TcpState::TimeWait => Some(
            format!(
                "closed here first; lingers 2MSL ({} left) to absorb stray segments",
                secs(s.timer.expires_ms)
            )
            .into(),
        ),
        TcpState::CloseWait => Some(close_wait(s)),
        TcpState::LastAck => Some(last_ack(s)),
        TcpState::Closing => Some(with_retransmits(
            "both sides closed at once; waiting for the ACK of our FIN",
            s,
        )),
        TcpState::Listen | TcpState::Close => None,
    }
}

fn established(s: &Socket) -> Option<Cow<'static, str>> {
    let t = &s.timer;
    let note: Cow<'static, str> = match t.kind {
        TimerKind::On if t.retransmits > 0 => format!(
            "unacknowledged data, retransmitted {} times: peer or path may be gone",
            t.retransmits
        )
        .into(),
        TimerKind::Probe => format!(
            "peer's receive window is zero (it is not reading); zero-window probe{}",
            unanswered(t.probes)
        )
        .into(),
        TimerKind::Keepalive if t.probes > 0 => {
            format!("{} keepalive probes unanswered: peer may be gone", t.probes).into()
        }
        _ if s.inode == 0 => {
            "connected, not yet accepted: waiting in the listener's accept queue".into()
        }
        _ if s.shutdown.is_some_and(|sh| sh.read && !sh.write) => {
            "reading shut down here (shutdown SHUT_RD); still sending".into()
        }
        _ => return None,
    };
    Some(note)
}

fn syn_sent(s: &Socket) -> Cow<'static, str> {
    match s.timer.retransmits {
        0 => "connecting: SYN sent, waiting for the SYN-ACK".into(),
        n => format!(
            "connecting: SYN retransmitted {n} times, no answer \
             (host down, packets dropped, or nothing listens there behind a filter)"
        )
        .into(),
    }
}

fn syn_recv(s: &Socket) -> Cow<'static, str> {
    let base = if s.inode == 0 {
        "handshake half done: SYN-ACK sent, waiting for the client's ACK"
    } else {
        "accepted before the handshake completed (TCP Fast Open); waiting for the client's ACK"
    };
    match s.timer.retransmits {
        0 => base.into(),
        n => format!("{base} (SYN-ACK resent {n} times)").into(),
    }
}

fn fin_wait1(s: &Socket) -> Cow<'static, str> {
    let base = if s.inode == 0 {
        "closed here; FIN not yet acknowledged"
    } else {
        "shut down writing here (SHUT_WR); FIN not yet acknowledged"
    };
    with_retransmits(base, s)
}

fn fin_wait2(s: &Socket) -> Cow<'static, str> {
    if s.timer.kind == TimerKind::TimeWait {
        return format!(
            "closed here and orphaned; waiting for the peer's FIN, \
             dropped after tcp_fin_timeout ({} left)",
            secs(s.timer.expires_ms)
        )
        .into();
    }
    if s.inode == 0 {
        return "closed here and orphaned; waiting for the peer's FIN, \
                dropped after tcp_fin_timeout"
            .into();
    }
    match s.shutdown {
        Some(sh) if sh.read => {
            "shut down both ways here (SHUT_RDWR) but not closed; waiting for the peer's FIN".into()
        }
        _ => "half-closed here (shutdown SHUT_WR); peer may still send".into(),
    }
}

fn close_wait(s: &Socket) -> Cow<'static, str> {
    if s.inode == 0 {
        return "peer closed before the program accepted this connection \
                (still in the accept queue)"
            .into();
    }
    // The FIN counts as one byte of the receive queue until the program has
    // read past it; it comes after all data, so unread data means an unread
    // FIN too.
    match s.recv_q {
        0 => "peer closed; this program has read all data but not closed".into(),
        1 => "peer closed; this program has not closed (nor read the end of the stream)".into(),
        n => format!(
            "peer closed; this program has not closed ({} bytes unread)",
            n - 1
        )
        .into(),
    }
}

fn last_ack(s: &Socket) -> Cow<'static, str> {
    let base = if s.inode == 0 {
        "peer closed first, then this side; waiting for the ACK of our FIN"
    } else {
        "peer closed first, then this side shut down writing; waiting for the ACK of our FIN"
    };
    with_retransmits(base, s)
}

/// `base`, plus the retransmissions of a retransmit timer if there were any.
fn with_retransmits(base: &'static str, s: &Socket) -> Cow<'static, str> {
    match (s.timer.kind, s.timer.retransmits) {
        (TimerKind::On, n) if n > 0 => format!("{base} (retransmitted {n} times)").into(),
        _ => base.into(),
    }
}

fn unanswered(probes: u32) -> String {
    match probes {
        0 => " pending".to_string(),
        n => format!("s unanswered: {n}"),
    }
}

/// Remaining time as the notes and reasons say it: "42 s", or "under 1 s".
pub fn secs(ms: u64) -> String {
    if ms < 1000 {
        "under 1 s".to_string()
    } else {
        format!("{} s", (ms + 500) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{sock, SocketExt};
    use TcpState::*;

    const L: &str = "10.0.0.1:80";
    const R: &str = "10.0.0.2:40000";

    fn note(s: Socket) -> String {
        explain(&s).expect("a note").into_owned()
    }

    #[test]
    fn plain_states_have_no_note() {
        assert_eq!(explain(&sock(Listen, "0.0.0.0:80", "0.0.0.0:0")), None);
        assert_eq!(explain(&sock(Established, L, R)), None);
        let keepalive = sock(Established, L, R).timer(TimerKind::Keepalive, 7000, 0, 0);
        assert_eq!(explain(&keepalive), None);
        // Data in flight, nothing lost yet.
        assert_eq!(
            explain(&sock(Established, L, R).timer(TimerKind::On, 200, 0, 0)),
            None
        );
    }

    #[test]
    fn established_trouble() {
        let retrans = sock(Established, L, R).timer(TimerKind::On, 800, 5, 0);
        assert_eq!(
            note(retrans),
            "unacknowledged data, retransmitted 5 times: peer or path may be gone"
        );
        let zero = sock(Established, L, R).timer(TimerKind::Probe, 800, 0, 3);
        assert_eq!(
            note(zero),
            "peer's receive window is zero (it is not reading); zero-window probes unanswered: 3"
        );
        let fresh = sock(Established, L, R).timer(TimerKind::Probe, 800, 0, 0);
        assert!(note(fresh).ends_with("zero-window probe pending"));
        let ka = sock(Established, L, R).timer(TimerKind::Keepalive, 75_000, 0, 4);
        assert_eq!(note(ka), "4 keepalive probes unanswered: peer may be gone");
        let queued = sock(Established, L, R).inode(0);
        assert!(note(queued).contains("accept queue"));
        let shut_rd = sock(Established, L, R).shutdown(true, false);
        assert!(note(shut_rd).starts_with("reading shut down here"));
    }

    #[test]
    fn handshakes() {
        assert_eq!(
            note(sock(SynSent, R, L).timer(TimerKind::On, 1000, 0, 0)),
            "connecting: SYN sent, waiting for the SYN-ACK"
        );
        assert!(note(sock(SynSent, R, L).timer(TimerKind::On, 1000, 3, 0))
            .starts_with("connecting: SYN retransmitted 3 times, no answer"));
        let req = sock(SynRecv, L, R).inode(0).timer(TimerKind::On, 900, 2, 0);
        assert_eq!(
            note(req),
            "handshake half done: SYN-ACK sent, waiting for the client's ACK (SYN-ACK resent 2 times)"
        );
        assert!(note(sock(SynRecv, L, R)).contains("Fast Open"));
    }

    #[test]
    fn closing_here_first() {
        let fw1 = sock(FinWait1, L, R)
            .inode(0)
            .timer(TimerKind::On, 400, 4, 0);
        assert_eq!(
            note(fw1),
            "closed here; FIN not yet acknowledged (retransmitted 4 times)"
        );
        let fw1_shut = sock(FinWait1, L, R).shutdown(false, true);
        assert_eq!(
            note(fw1_shut),
            "shut down writing here (SHUT_WR); FIN not yet acknowledged"
        );
        let tw = sock(TimeWait, L, R)
            .inode(0)
            .timer(TimerKind::TimeWait, 41_600, 0, 0);
        assert_eq!(
            note(tw),
            "closed here first; lingers 2MSL (42 s left) to absorb stray segments"
        );
        let tw_end = sock(TimeWait, L, R)
            .inode(0)
            .timer(TimerKind::TimeWait, 300, 0, 0);
        assert!(note(tw_end).contains("(under 1 s left)"));
    }

    #[test]
    fn fin_wait2_orphaned_or_half_closed() {
        let tw_backed = sock(FinWait2, L, R)
            .inode(0)
            .timer(TimerKind::TimeWait, 59_000, 0, 0);
        assert_eq!(
            note(tw_backed),
            "closed here and orphaned; waiting for the peer's FIN, dropped after tcp_fin_timeout (59 s left)"
        );
        let full_orphan = sock(FinWait2, L, R)
            .inode(0)
            .timer(TimerKind::Keepalive, 5000, 0, 0);
        assert!(note(full_orphan).starts_with("closed here and orphaned"));
        let half = sock(FinWait2, L, R).shutdown(false, true);
        assert_eq!(
            note(half),
            "half-closed here (shutdown SHUT_WR); peer may still send"
        );
        let both = sock(FinWait2, L, R).shutdown(true, true);
        assert!(note(both).starts_with("shut down both ways here"));
        // /proc gives no shutdown bits: an owned FIN_WAIT2 is a half-close.
        assert!(note(sock(FinWait2, L, R)).starts_with("half-closed here"));
    }

    #[test]
    fn peer_closed_first() {
        let mut cw = sock(CloseWait, L, R).shutdown(true, false);
        cw.recv_q = 1;
        assert_eq!(
            note(cw.clone()),
            "peer closed; this program has not closed (nor read the end of the stream)"
        );
        cw.recv_q = 0;
        assert_eq!(
            note(cw.clone()),
            "peer closed; this program has read all data but not closed"
        );
        cw.recv_q = 101;
        assert_eq!(
            note(cw),
            "peer closed; this program has not closed (100 bytes unread)"
        );
        assert!(note(sock(CloseWait, L, R).inode(0)).contains("accept queue"));
        let la = sock(LastAck, L, R).inode(0).timer(TimerKind::On, 300, 2, 0);
        assert_eq!(
            note(la),
            "peer closed first, then this side; waiting for the ACK of our FIN (retransmitted 2 times)"
        );
        assert!(note(sock(LastAck, L, R)).contains("shut down writing"));
        assert_eq!(
            note(sock(Closing, L, R).inode(0)),
            "both sides closed at once; waiting for the ACK of our FIN"
        );
    }
}
