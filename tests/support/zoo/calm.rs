//! Zoo recipes that need no packet loss: idle connections of every
//! flavour, closing sequences on loopback, another uid, a bound-only socket.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Shutdown};

use super::{accept_from, listening, lo, port, rev, sa, Listeners, Zoo, OTHER_UID};
use crate::support::netns::Side::{A, B};
use crate::support::sock;

impl Zoo {
    /// Idle connections: IPv4 and IPv6 across the veth, keepalive, unread
    /// data, and IPv4-mapped ones on both sides of a connection.
    pub(super) fn connected(&mut self, l: &Listeners) {
        let (a0, b0) = self.channel(0);
        let b_main = sa(b0, port::B_MAIN);
        let c = self.connect(A, a0, b_main, &l.b_main);
        self.expect(A, "established v4", c.key, "ESTABLISHED", "off")
            .shutdown(false, false);
        self.expect(B, "established v4 server", rev(c.key), "ESTABLISHED", "off");
        self.keep_both(c);

        let c = self.connect(A, a0, b_main, &l.b_main);
        sock::set_keepalive(&c.client, 600);
        self.expect(A, "keepalive", c.key, "ESTABLISHED", "keepalive");
        self.expect(B, "keepalive peer", rev(c.key), "ESTABLISHED", "off");
        self.keep_both(c);

        let (a6, b6) = (self.lab.v6(A).into(), self.lab.v6(B));
        let c = self.connect(A, a6, sa(b6, port::B_MAIN), &l.b_v6);
        self.expect(A, "established v6", c.key, "ESTABLISHED", "off");
        self.expect(B, "established v6 server", rev(c.key), "ESTABLISHED", "off");
        self.keep_both(c);

        // B reaches A's dual-stack listener over IPv4: A's side is tcp6
        // with IPv4-mapped addresses.
        let c = self.connect(B, b0, sa(a0, port::A_DUAL), &l.a_dual);
        self.expect(B, "v4 client of dual-stack", c.key, "ESTABLISHED", "off");
        self.expect(
            A,
            "mapped server over veth",
            rev(c.key),
            "ESTABLISHED",
            "off",
        );
        self.keep_both(c);

        // The same on loopback, with 10 bytes the server never reads.
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut c = self.connect(A, localhost, lo(port::A_DUAL), &l.a_dual);
        c.client.write_all(b"0123456789").expect("write");
        self.expect(
            A,
            "v4 client of dual-stack (lo)",
            c.key,
            "ESTABLISHED",
            "off",
        );
        self.expect(
            A,
            "mapped server, unread data",
            rev(c.key),
            "ESTABLISHED",
            "off",
        )
        .recv_q(10);
        self.keep_both(c);

        // An IPv6 socket connecting to an IPv4 listener by mapped address.
        let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        let c = self.connect(A, mapped, sa(mapped, port::A_MAIN), &l.a_main);
        self.expect(A, "mapped v6 client", c.key, "ESTABLISHED", "off");
        self.expect(
            A,
            "v4 server of mapped client",
            rev(c.key),
            "ESTABLISHED",
            "off",
        );
        self.keep_both(c);
    }

    /// Closing sequences that need no loss, on A's loopback: TIME_WAIT,
    /// CLOSE_WAIT with its orphaned FIN_WAIT2 (a timewait socket; with
    /// TCP_LINGER2 over 60 s, a full socket on the keepalive timer), and a
    /// half-closed pair.
    pub(super) fn closed_on_loopback(&mut self, l: &Listeners) {
        let (localhost, main) = (IpAddr::V4(Ipv4Addr::LOCALHOST), lo(port::A_MAIN));
        // TIME_WAIT: the client closes, then the server.
        let c = self.connect(A, localhost, main, &l.a_main);
        drop(c.client);
        self.wait_state(A, rev(c.key), "CLOSE_WAIT");
        drop(c.server);
        self.expect(A, "time-wait", c.key, "TIME_WAIT", "timewait")
            .no_inode();

        let c = self.connect(A, localhost, main, &l.a_main);
        self.expect(A, "close-wait", rev(c.key), "CLOSE_WAIT", "off")
            .shutdown(true, false);
        self.expect(A, "orphaned fin-wait2", c.key, "FIN_WAIT2", "timewait")
            .no_inode();
        drop(c.client);
        self.keep(c.server);

        let c = self.connect(A, localhost, main, &l.a_main);
        sock::set_linger2(&c.client, 120);
        self.expect(
            A,
            "close-wait of lingering",
            rev(c.key),
            "CLOSE_WAIT",
            "off",
        );
        self.expect(A, "lingering fin-wait2", c.key, "FIN_WAIT2", "keepalive")
            .no_inode();
        drop(c.client);
        self.keep(c.server);

        // Half-closed: shutdown(SHUT_WR) keeps the socket and its inode.
        let c = self.connect(A, localhost, main, &l.a_main);
        c.client.shutdown(Shutdown::Write).expect("shutdown");
        self.expect(A, "half-closed", c.key, "FIN_WAIT2", "off")
            .shutdown(false, true);
        self.expect(A, "peer of half-closed", rev(c.key), "CLOSE_WAIT", "off")
            .shutdown(true, false);
        self.keep_both(c);
    }

    /// A listener and a connected pair owned by another uid.
    pub(super) fn other_uid(&mut self) {
        let server = lo(port::A_UID);
        let (listener, client, accepted) = self.lab.a.enter(|| {
            sock::as_fsuid(OTHER_UID, || {
                let listener = sock::listen(server, None, None);
                let client = sock::connect_from(Ipv4Addr::LOCALHOST.into(), server);
                let accepted = accept_from(&listener, client.local_addr().expect("local addr"));
                (listener, client, accepted)
            })
        });
        let key = (client.local_addr().expect("local addr"), server);
        self.expect(A, "listen, other uid", listening(server), "LISTEN", "off")
            .uid(OTHER_UID);
        self.expect(A, "client, other uid", key, "ESTABLISHED", "off")
            .uid(OTHER_UID);
        self.expect(A, "server, other uid", rev(key), "ESTABLISHED", "off")
            .uid(OTHER_UID);
        self.keep(listener);
        self.keep(client);
        self.keep(accepted);
    }

    /// A socket bound but neither listening nor connecting. netstat does
    /// not list it, so tcpstat must not either (since Linux 6.5 netlink
    /// can dump it as a "bound-inactive" socket on request).
    pub(super) fn bound_only(&mut self) {
        let fd = self.lab.a.enter(|| {
            let fd = sock::socket(Ipv4Addr::LOCALHOST.into(), false);
            sock::bind(&fd, lo(port::A_BOUND));
            fd
        });
        self.keep(fd);
    }
}
