//! The `why` verdict against real bind() calls. Each test gets a fresh
//! network namespace, builds the situation there on a thread that entered
//! it, dumps the namespace with the netlink source, and compares
//! [`why`] with what bind() (and listen()) do, without and with
//! SO_REUSEADDR.
//!
//! Where the verdict leaves SO_REUSEADDR open (`None`: it depends on the
//! holders' own flag), the test knows that flag, having made the holders,
//! and checks the kernel follows it.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::SystemTime;

use support::dump::dump_until;
use support::netns::Netns;
use support::sock::{self, can_bind, no_fork};
use support::{require, Need};
use tcpstat::diagnose::bind::{probe, why, Probe, Verdict};
use tcpstat::model::{Socket, TcpState};

/// The states of the sockets on `port`, sorted.
fn states_on(rows: &[Socket], port: u16) -> Vec<TcpState> {
    let mut states: Vec<TcpState> = rows
        .iter()
        .filter(|s| s.local.port == port)
        .map(|s| s.state)
        .collect();
    states.sort();
    states
}

/// What the kernel does: bind() without and with SO_REUSEADDR, each also
/// followed by listen(), which must agree with the bare bind().
fn reality(port: u16, addr: Option<IpAddr>) -> Probe {
    // Each probe socket must be gone before the next bind.
    let _no_fork = no_fork();
    let probed = probe(port, addr).expect("probe bind");
    let sa = SocketAddr::new(addr.unwrap_or("::".parse().unwrap()), port);
    assert_eq!(can_bind(sa, false, true), probed.bindable, "listen {sa}");
    assert_eq!(
        can_bind(sa, true, true),
        probed.bindable_with_reuseaddr,
        "listen with SO_REUSEADDR {sa}"
    );
    probed
}

/// Asserts the verdict on `port`/`addr` equals the kernel's answer.
/// `holders_reuse` is whether the sockets holding the port were made with
/// SO_REUSEADDR: where the verdict leaves that open, the kernel must follow it.
fn assert_real(
    rows: &[Socket],
    port: u16,
    addr: Option<IpAddr>,
    holders_reuse: bool,
) -> Verdict<'static> {
    let v = why(port, addr, rows, None, SystemTime::now());
    let real = reality(port, addr);
    let at = format!("port {port} addr {addr:?}: {v:#?}");
    assert_eq!(v.bindable, real.bindable, "plain bind, {at}");
    let reuse = v.bindable_with_reuseaddr.unwrap_or(holders_reuse);
    assert_eq!(
        reuse, real.bindable_with_reuseaddr,
        "SO_REUSEADDR bind, {at}"
    );
    v
}

fn addrs(list: &[&str]) -> Vec<Option<IpAddr>> {
    list.iter()
        .map(|a| (!a.is_empty()).then(|| a.parse().unwrap()))
        .collect()
}

/// A listener on `addr`; with `reuse`, SO_REUSEADDR (which std sets too).
fn listener(addr: &str, reuse: bool) -> TcpListener {
    let addr: SocketAddr = addr.parse().unwrap();
    let fd = sock::socket(addr.ip(), false);
    if reuse {
        sock::set_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    }
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        sock::set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0);
    }
    sock::bind(&fd, addr);
    tcpstat::sys::sock::listen(&fd, 8).unwrap_or_else(|e| panic!("listen {addr}: {e}"));
    TcpListener::from(fd)
}

/// A connection to `server` from `from` (a bound port, with SO_REUSEADDR
/// as `reuse` says), or from an ephemeral port when `from` is None.
fn connect(server: &str, from: Option<(&str, bool)>) -> TcpStream {
    let server: SocketAddr = server.parse().unwrap();
    let Some((local, reuse)) = from else {
        return TcpStream::connect(server).unwrap();
    };
    let local: SocketAddr = local.parse().unwrap();
    let fd = sock::socket(local.ip(), false);
    if reuse {
        sock::set_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    }
    sock::bind(&fd, local);
    // A blocking socket: the connect is complete when this returns.
    sock::connect(&fd, server);
    TcpStream::from(fd)
}

#[test]
fn free_port() {
    require!(Need::Netns);
    let ns = Netns::create("bind", "free");
    ns.enter(|| {
        let _elsewhere = listener("127.0.0.1:7041", true);
        let rows = dump_until("the other listener", |r| !r.is_empty());
        for addr in addrs(&["", "0.0.0.0", "127.0.0.1", "::1", "::"]) {
            let v = assert_real(&rows, 7040, addr, false);
            assert_eq!((v.bindable, v.bindable_with_reuseaddr), (true, Some(true)));
        }
    });
}

#[test]
fn held_by_listeners() {
    require!(Need::Netns);
    let ns = Netns::create("bind", "listen");
    ns.enter(|| {
        let _l4 = listener("127.0.0.1:7001", true);
        let _dual = listener("[::]:7002", true);
        let _l6 = listener("[::1]:7003", true);
        let _any4 = listener("0.0.0.0:7004", false);
        let rows = dump_until("four listeners", |r| r.len() == 4);
        let cases = [
            (
                7001,
                [
                    "",
                    "0.0.0.0",
                    "127.0.0.1",
                    "127.0.0.2",
                    "::1",
                    "::ffff:127.0.0.1",
                ],
            ),
            (
                7002,
                ["", "0.0.0.0", "127.0.0.1", "::1", "::ffff:127.0.0.2", "::"],
            ),
            (
                7003,
                ["", "0.0.0.0", "127.0.0.1", "::1", "::ffff:127.0.0.1", "::"],
            ),
            (
                7004,
                ["", "0.0.0.0", "127.0.0.1", "::1", "::ffff:127.0.0.1", "::"],
            ),
        ];
        for (port, list) in cases {
            for addr in addrs(&list) {
                let v = assert_real(&rows, port, addr, false);
                if !v.bindable {
                    assert_eq!(v.held_by.listeners, 1);
                    assert_eq!(v.bindable_with_reuseaddr, Some(false));
                }
            }
        }
    });
}

/// The server closes first and the client follows: TIME_WAIT on the
/// server's port, which inherited the listener's SO_REUSEADDR.
#[test]
fn held_by_time_wait_only() {
    require!(Need::Netns);
    let ns = Netns::create("bind", "tw");
    ns.enter(|| {
        for (port, reuse) in [(7010, true), (7011, false)] {
            let l = listener(&format!("127.0.0.1:{port}"), reuse);
            let mut client = connect(&format!("127.0.0.1:{port}"), None);
            let (server, _) = l.accept().unwrap();
            drop((server, l));
            client.read_to_end(&mut Vec::new()).unwrap();
            drop(client);
            let rows = dump_until("TIME_WAIT alone", |r| {
                states_on(r, port) == [TcpState::TimeWait]
            });
            for addr in addrs(&["", "0.0.0.0", "127.0.0.1", "127.0.0.2"]) {
                let v = assert_real(&rows, port, addr, reuse);
                if v.bindable {
                    continue;
                }
                assert_eq!((v.held_by.remnants, v.bindable_with_reuseaddr), (1, None));
                let left = v.expires_ms.expect("a TIME_WAIT end");
                assert!((1..=60_000).contains(&left), "{left}");
            }
        }
    });
}

/// The server closes, the client never does: the server's socket is an
/// orphaned FIN_WAIT2 on the server's port, the client's a live CLOSE_WAIT
/// on an ephemeral port picked by connect() (no SO_REUSEADDR).
#[test]
fn held_by_orphaned_fin_wait2_on_the_server_port() {
    require!(Need::Netns);
    let ns = Netns::create("bind", "fw2s");
    ns.enter(|| {
        let l = listener("127.0.0.1:7020", true);
        let client = connect("127.0.0.1:7020", None);
        let (server, _) = l.accept().unwrap();
        drop((server, l));
        let rows = dump_until("orphaned FIN_WAIT2", |r| {
            states_on(r, 7020) == [TcpState::FinWait2]
        });
        let v = assert_real(&rows, 7020, None, true);
        assert_eq!((v.bindable, v.held_by.remnants), (false, 1));
        assert_eq!(v.holders[0].inode, 0);
        assert!(v.expires_ms.is_some());
        let cport = client.local_addr().unwrap().port();
        let v = assert_real(&rows, cport, None, false);
        assert_eq!(
            (v.held_by.connections, v.holders[0].state),
            (1, "CLOSE_WAIT")
        );
        drop(client);
    });
}

/// The client closes, the server never reads nor closes: the client's
/// socket is an orphaned FIN_WAIT2 on the client's bound port.
#[test]
fn held_by_orphaned_fin_wait2_on_a_client_port() {
    require!(Need::Netns);
    let ns = Netns::create("bind", "fw2c");
    ns.enter(|| {
        let l = listener("127.0.0.1:7021", true);
        let mut servers = Vec::new();
        for (port, reuse) in [(7022, true), (7023, false)] {
            let mut client = connect(
                "127.0.0.1:7021",
                Some((&format!("127.0.0.1:{port}"), reuse)),
            );
            client.write_all(b"unread").unwrap();
            servers.push(l.accept().unwrap().0);
            drop(client);
        }
        drop(l);
        let rows = dump_until("two orphaned FIN_WAIT2, no listener", |r| {
            states_on(r, 7022) == [TcpState::FinWait2]
                && states_on(r, 7023) == [TcpState::FinWait2]
                && states_on(r, 7021) == [TcpState::CloseWait; 2]
        });
        for (port, reuse) in [(7022, true), (7023, false)] {
            let v = assert_real(&rows, port, None, reuse);
            assert_eq!((v.held_by.remnants, v.bindable_with_reuseaddr), (1, None));
        }
        // The server's port is held by its live CLOSE_WAIT connections.
        let v = assert_real(&rows, 7021, None, true);
        assert_eq!(v.held_by.connections, 2);
        drop(servers);
    });
}

/// The listener is gone; live connections keep its port. Accepted sockets
/// inherit the listener's SO_REUSEADDR, connect()ed ones have none.
#[test]
fn held_by_established_connections() {
    require!(Need::Netns);
    let ns = Netns::create("bind", "est");
    ns.enter(|| {
        let mut keep = Vec::new();
        for (port, reuse) in [(7030, true), (7031, false)] {
            let l = listener(&format!("127.0.0.1:{port}"), reuse);
            let client = connect(&format!("127.0.0.1:{port}"), None);
            keep.push(l.accept().unwrap().0);
            keep.push(client);
        }
        let rows = dump_until("four connections, no listener", |r| {
            r.len() == 4 && r.iter().all(|s| s.state == TcpState::Established)
        });
        for (port, reuse) in [(7030, true), (7031, false)] {
            for addr in addrs(&["", "0.0.0.0", "127.0.0.1", "127.0.0.2"]) {
                let v = assert_real(&rows, port, addr, reuse);
                assert_eq!(v.bindable, addr == addrs(&["127.0.0.2"])[0]);
            }
        }
        for client in keep.iter().skip(1).step_by(2) {
            let port = client.local_addr().unwrap().port();
            let v = assert_real(&rows, port, None, false);
            assert_eq!(
                (v.held_by.connections, v.bindable_with_reuseaddr),
                (1, None)
            );
        }
        keep.iter()
            .for_each(|s| s.shutdown(Shutdown::Both).unwrap());
    });
}

/// IPv6 connections meet an IPv4 bind only when not IPv6-only: children of
/// a dual-stack listener and sockets that connected without bind() are not;
/// the verdict assumes so and says it in a caveat.
#[test]
fn ipv6_connections_and_ipv4_binds() {
    require!(Need::Netns);
    let ns = Netns::create("bind", "v6");
    ns.enter(|| {
        let l = listener("[::]:7050", true);
        let client = TcpStream::connect("[::1]:7050").unwrap();
        let (server, _) = l.accept().unwrap();
        drop(l);
        let rows = dump_until("v6 pair", |r| states_on(r, 7050) == [TcpState::Established]);
        let cport = client.local_addr().unwrap().port();
        for (port, reuse) in [(7050, true), (cport, false)] {
            for addr in addrs(&["", "0.0.0.0", "127.0.0.1", "::1", "::ffff:127.0.0.1"]) {
                let v = assert_real(&rows, port, addr, reuse);
                let ipv4 = addr.is_some_and(|a| a.is_ipv4());
                assert_eq!(v.caveats.is_empty(), !ipv4 || v.bindable, "{v:#?}");
            }
        }
        drop((client, server));
    });
}
