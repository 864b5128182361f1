//! Zoo recipes that need packet loss. Each uses its own address channel
//! and blackholes only that channel's neighbour entries.

use std::io::{ErrorKind, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use super::{chan, port, rev, sa, Listeners, Zoo};
use crate::support::netns::Side::{A, B};
use crate::support::sock;

impl Zoo {
    /// ESTABLISHED with a retransmission timer: data sent into a blackhole.
    pub(super) fn retransmitting(&mut self, l: &Listeners) {
        let (a, b) = self.channel(chan::RETRANS);
        let mut c = self.connect(A, a, sa(b, port::B_MAIN), &l.b_main);
        self.lab.blackhole(A, b);
        c.client.write_all(&[7; 100]).expect("write");
        self.expect(A, "retransmitting", c.key, "ESTABLISHED", "on")
            .retransmits(1)
            .send_q_nonzero()
            .shutdown(false, false);
        self.expect(
            B,
            "peer of retransmitting",
            rev(c.key),
            "ESTABLISHED",
            "off",
        );
        self.keep_both(c);
    }

    /// SYN_SENT: a SYN to an address nobody answers.
    pub(super) fn syn_sent(&mut self) {
        let (a0, remote) = (self.lab.v4(A, 0), sa(self.lab.ghost_v4(), port::B_MAIN));
        let s = self.lab.a.enter(|| sock::start_connect(a0.into(), remote));
        let key = (s.local_addr().expect("local addr"), remote);
        self.expect(A, "syn-sent to ghost", key, "SYN_SENT", "on")
            .retransmits(1);
        self.keep(s);
    }

    /// SYN_RECV: B's SYN-ACKs to A are lost, so B keeps a request socket
    /// that retransmits them. Once B has the request, A's own SYN
    /// retransmissions are blackholed too: each duplicate SYN makes B resend
    /// a SYN-ACK outside its timer, which the netlink counter of a request
    /// socket (`num_retrans`) counts and the /proc one (`num_timeout`) does
    /// not, so the two sources would rightly disagree.
    pub(super) fn syn_recv(&mut self) {
        let (a, b) = self.channel(chan::SYN_RECV);
        self.lab.blackhole(B, a);
        let remote = sa(b, port::B_SYN_RECV);
        let s = self.lab.a.enter(|| sock::start_connect(a, remote));
        let key = (s.local_addr().expect("local addr"), remote);
        self.wait_state(B, rev(key), "SYN_RECV");
        self.lab.blackhole(A, b);
        self.expect(B, "syn-recv request", rev(key), "SYN_RECV", "on")
            .no_inode()
            .retransmits(1);
        self.expect(A, "syn-sent, syn-ack lost", key, "SYN_SENT", "on")
            .retransmits(1);
        self.keep(s);
    }

    /// FIN_WAIT1: close() while the FIN cannot get through.
    pub(super) fn fin_wait1(&mut self, l: &Listeners) {
        let (a, b) = self.channel(chan::FIN_WAIT1);
        let c = self.connect(A, a, sa(b, port::B_MAIN), &l.b_main);
        self.lab.blackhole(A, b);
        self.expect(A, "fin-wait1 orphan", c.key, "FIN_WAIT1", "on")
            .no_inode();
        self.expect(B, "peer of fin-wait1", rev(c.key), "ESTABLISHED", "off");
        drop(c.client);
        self.keep(c.server);
    }

    /// LAST_ACK: the peer closed first, then our FIN is lost. The peer is
    /// left in FIN_WAIT2 as a timewait socket.
    pub(super) fn last_ack(&mut self, l: &Listeners) {
        let (a, b) = self.channel(chan::LAST_ACK);
        let c = self.connect(A, a, sa(b, port::B_MAIN), &l.b_main);
        drop(c.client);
        self.wait_state(B, rev(c.key), "CLOSE_WAIT");
        // B may ACK the FIN a moment after it enters CLOSE_WAIT; blackholing
        // before that ACK is out would leave A in FIN_WAIT1.
        self.wait_state(A, c.key, "FIN_WAIT2");
        self.lab.blackhole(B, a);
        drop(c.server);
        self.expect(B, "last-ack orphan", rev(c.key), "LAST_ACK", "on")
            .no_inode();
        self.expect(A, "fin-wait2 of last-ack", c.key, "FIN_WAIT2", "timewait")
            .no_inode();
    }

    /// CLOSING: both sides shut down writing while both directions are
    /// blackholed, then only A→B is restored. B receives A's retransmitted
    /// FIN before its own FIN is acknowledged (a simultaneous close) and
    /// moves to CLOSING; A never hears from B and stays in FIN_WAIT1.
    pub(super) fn closing(&mut self, l: &Listeners) {
        let (a, b) = self.channel(chan::CLOSING);
        let c = self.connect(A, a, sa(b, port::B_MAIN), &l.b_main);
        self.lab.blackhole(A, b);
        self.lab.blackhole(B, a);
        c.client.shutdown(Shutdown::Write).expect("shutdown");
        c.server.shutdown(Shutdown::Write).expect("shutdown");
        self.lab.restore(A, b);
        self.expect(B, "closing", rev(c.key), "CLOSING", "on")
            .shutdown(true, true);
        self.expect(A, "fin-wait1 of closing", c.key, "FIN_WAIT1", "on")
            .shutdown(false, true);
        self.keep_both(c);
    }

    /// Zero-window probe timer: the receiver has a tiny buffer and never
    /// reads; the sender writes until its own buffer is full.
    pub(super) fn zero_window(&mut self, l: &Listeners) {
        let (a, b) = self.channel(chan::ZERO_WINDOW);
        let mut c = self.connect(A, a, sa(b, port::B_ZERO_WINDOW), &l.b_zero_window);
        c.client.set_nonblocking(true).expect("nonblocking");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match c.client.write(&[1; 1024]) {
                Ok(_) => assert!(Instant::now() < deadline, "send buffer never filled"),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        self.expect(A, "zero-window sender", c.key, "ESTABLISHED", "probe")
            .send_q_nonzero();
        self.expect(B, "zero-window receiver", rev(c.key), "ESTABLISHED", "off");
        self.keep_both(c);
    }
}
