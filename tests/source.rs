//! The sources against the live kernel: the netlink dump, the /proc
//! tables and the destroy notifications report this process's own loopback
//! sockets, in whatever network namespace the test runs in, as the kernel
//! holds them. No privilege is needed; other sockets of the machine may be
//! there too, so only rows on the ports a test opened are looked at.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown as Direction, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use support::{require, Need};
use tcpstat::model::{
    Endpoint, Family, Protocol, Shutdown, Socket, StateSet, TcpState, Timer, TimerKind,
};
use tcpstat::source::destroy::{DestroyListener, Destroyed};
use tcpstat::source::netlink::{dump, Request};
use tcpstat::source::proc::read;

/// Every state's bit: the state mask of /proc reads and netlink dumps.
fn all_states() -> StateSet {
    StateSet::ALL
}

fn ep(s: &str) -> Endpoint {
    let a: SocketAddr = s.parse().unwrap();
    Endpoint {
        addr: a.ip(),
        port: a.port(),
    }
}

fn socket_inode(fd: &impl AsRawFd) -> u64 {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    let link = link.to_str().unwrap();
    link.strip_prefix("socket:[")
        .and_then(|l| l.strip_suffix(']'))
        .unwrap()
        .parse()
        .unwrap()
}

fn own_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

// The /proc tables.

/// The one row for this connection; an ephemeral port may be shared by
/// other sockets on the machine, so both ends are matched.
fn find(rows: &[Socket], local: SocketAddr, remote: &str, state: TcpState) -> Option<Socket> {
    let (local, remote) = (ep(&local.to_string()), ep(remote));
    let found: Vec<_> = rows
        .iter()
        .filter(|s| (s.local, s.remote, s.state) == (local, remote, state))
        .collect();
    assert!(found.len() <= 1, "{found:?}");
    found.first().map(|&s| s.clone())
}

#[test]
fn reads_own_ipv4_sockets_from_proc() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(server_addr).unwrap();
    let (server, client_addr) = listener.accept().unwrap();
    let (server_at, client_at) = (server_addr.to_string(), client_addr.to_string());
    let mut rows = Vec::new();
    read(
        Path::new("/proc"),
        Protocol::Tcp,
        (true, true),
        all_states(),
        &mut rows,
    )
    .unwrap();

    let l = find(&rows, server_addr, "0.0.0.0:0", TcpState::Listen).unwrap();
    assert_eq!(
        (l.family, l.inode, l.uid),
        (Family::Inet, socket_inode(&listener), own_uid())
    );
    let c = find(&rows, client_addr, &server_at, TcpState::Established).unwrap();
    assert_eq!((c.inode, c.timer), (socket_inode(&client), Timer::OFF));
    let s = find(&rows, server_addr, &client_at, TcpState::Established).unwrap();
    assert_eq!((s.inode, s.timer), (socket_inode(&server), Timer::OFF));

    // The side that closes first ends in TIME_WAIT with its 60 s timer.
    drop(client);
    drop(server);
    let mut tw = None;
    for _ in 0..100 {
        read(
            Path::new("/proc"),
            Protocol::Tcp,
            (true, false),
            StateSet::of(TcpState::TimeWait),
            &mut rows,
        )
        .unwrap();
        tw = find(&rows, client_addr, &server_at, TcpState::TimeWait);
        if tw.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let tw = tw.expect("client socket reached TIME_WAIT");
    assert_eq!((tw.inode, tw.timer.kind), (0, TimerKind::TimeWait));
    assert!(
        tw.timer.expires_ms > 50_000 && tw.timer.expires_ms <= 60_000,
        "{tw:?}"
    );
}

#[test]
fn reads_own_ipv6_sockets_from_proc() {
    require!(Need::Ipv6);
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(server_addr).unwrap();
    let (_server, client_addr) = listener.accept().unwrap();
    let mut rows = Vec::new();
    read(
        Path::new("/proc"),
        Protocol::Tcp,
        (false, true),
        all_states(),
        &mut rows,
    )
    .unwrap();
    assert!(rows.iter().all(|s| s.family == Family::Inet6));
    let l = find(&rows, server_addr, "[::]:0", TcpState::Listen).unwrap();
    assert_eq!(l.inode, socket_inode(&listener));
    let c = find(
        &rows,
        client_addr,
        &server_addr.to_string(),
        TcpState::Established,
    )
    .unwrap();
    assert_eq!(c.inode, socket_inode(&client));
}

// The netlink dump: only rows on ports this test opened are looked at.

/// The row from local port `local` to remote port `remote`.
fn find_ports(rows: &[Socket], local: u16, remote: u16) -> Option<&Socket> {
    rows.iter()
        .find(|s| s.local.port == local && s.remote.port == remote)
}

/// Dumps with `req` until `ready` holds (the peer's FIN, a state change),
/// up to 2 s; then returns the rows either way, for the asserts to judge.
fn dump_until_or_2s(req: &Request, ready: impl Fn(&[Socket]) -> bool) -> Vec<Socket> {
    let start = Instant::now();
    let mut rows = Vec::new();
    loop {
        dump(req, &mut rows).unwrap();
        if ready(&rows) || start.elapsed() > Duration::from_secs(2) {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn dump_lists_own_sockets() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (server, _) = listener.accept().unwrap();
    let queued = TcpStream::connect(("127.0.0.1", port)).unwrap(); // never accepted
    let cport = client.local_addr().unwrap().port();
    let uid = own_uid();

    for timer_counters in [false, true] {
        let req = Request {
            protocol: Protocol::Tcp,
            ipv4: true,
            ipv6: false,
            states: all_states(),
            timer_counters,
            info: false,
            memory: false,
            bytecode: None,
            split: None,
        };
        let rows = dump_until_or_2s(&req, |rows| {
            find_ports(rows, port, 0).is_some_and(|l| l.recv_q == 1)
        });
        let listen = find_ports(&rows, port, 0).expect("listener row");
        assert_eq!(listen.state, TcpState::Listen);
        assert_eq!((listen.recv_q, listen.send_q), (1, 0));
        assert_eq!(listen.inode, socket_inode(&listener));
        assert_eq!(listen.uid, uid);
        assert_eq!(listen.local.addr, IpAddr::from([127, 0, 0, 1]));

        let c = find_ports(&rows, cport, port).expect("client row");
        assert_eq!(
            (c.state, c.inode),
            (TcpState::Established, socket_inode(&client))
        );
        assert_eq!(c.remote.addr, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(
            c.shutdown,
            Some(Shutdown {
                read: false,
                write: false
            })
        );
        let s = find_ports(&rows, port, cport).expect("server row");
        assert_eq!(
            (s.state, s.inode),
            (TcpState::Established, socket_inode(&server))
        );
        let qport = queued.local_addr().unwrap().port();
        assert!(find_ports(&rows, port, qport).is_some_and(|s| s.inode == 0));
    }

    // The state mask is honoured by the kernel.
    let req = Request {
        protocol: Protocol::Tcp,
        ipv4: true,
        ipv6: false,
        states: StateSet::listening(),
        timer_counters: false,
        info: false,
        memory: false,
        bytecode: None,
        split: None,
    };
    let mut rows = Vec::new();
    dump(&req, &mut rows).unwrap();
    assert!(find_ports(&rows, port, 0).is_some());
    assert!(rows.iter().all(|s| s.state == TcpState::Listen));
}

#[test]
fn dump_lists_ipv6_and_skips_unwanted_family() {
    require!(Need::Ipv6);
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut rows = Vec::new();
    let mut req = Request {
        protocol: Protocol::Tcp,
        ipv4: false,
        ipv6: true,
        states: all_states(),
        timer_counters: true,
        info: false,
        memory: false,
        bytecode: None,
        split: None,
    };
    dump(&req, &mut rows).unwrap();
    let l = find_ports(&rows, port, 0).expect("listener row");
    assert_eq!((l.family, l.state), (Family::Inet6, TcpState::Listen));
    assert_eq!(l.local.addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(l.inode, socket_inode(&listener));
    assert!(rows.iter().all(|s| s.family == Family::Inet6));

    req = Request {
        protocol: Protocol::Tcp,
        ipv4: true,
        ipv6: false,
        ..req
    };
    dump(&req, &mut rows).unwrap();
    assert!(rows.iter().all(|s| s.family == Family::Inet));
}

#[test]
fn dump_reports_shutdown_and_time_wait() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (server, _) = listener.accept().unwrap();
    let cport = client.local_addr().unwrap().port();
    client.write_all(b"x").unwrap();
    client.shutdown(Direction::Write).unwrap();

    let req = Request {
        protocol: Protocol::Tcp,
        ipv4: true,
        ipv6: false,
        states: all_states(),
        timer_counters: true,
        info: false,
        memory: false,
        bytecode: None,
        split: None,
    };
    let rows = dump_until_or_2s(&req, |rows| {
        find_ports(rows, port, cport).is_some_and(|s| s.state == TcpState::CloseWait)
            && find_ports(rows, cport, port).is_some_and(|c| c.state == TcpState::FinWait2)
    });
    let c = find_ports(&rows, cport, port).expect("client row");
    assert_eq!(c.state, TcpState::FinWait2);
    assert_eq!(
        c.shutdown,
        Some(Shutdown {
            read: false,
            write: true
        })
    );
    let s = find_ports(&rows, port, cport).expect("server row");
    // rcv_nxt - copied_seq counts the FIN too, in /proc as here.
    assert_eq!((s.state, s.recv_q), (TcpState::CloseWait, 2));
    assert_eq!(
        s.shutdown,
        Some(Shutdown {
            read: true,
            write: false
        })
    );

    // Unread data would make close() send a RST instead of a FIN.
    let mut received = Vec::new();
    (&server).read_to_end(&mut received).unwrap();
    assert_eq!(received, b"x");
    drop(server);
    drop(client);
    let rows = dump_until_or_2s(&req, |rows| {
        find_ports(rows, cport, port).is_some_and(|s| s.state == TcpState::TimeWait)
    });
    let tw = find_ports(&rows, cport, port).expect("time-wait row");
    assert_eq!(
        (tw.state, tw.inode, tw.shutdown),
        (TcpState::TimeWait, 0, None)
    );
    assert_eq!(tw.timer.kind, TimerKind::TimeWait);
    assert!(
        (1..=60_000).contains(&tw.timer.expires_ms),
        "{:?}",
        tw.timer
    );
    assert_eq!((tw.timer.retransmits, tw.timer.probes), (0, 0));
}

// Destroy notifications.

/// Drains until a notification for local port `port` arrives, up to 2 s.
fn wait_for(listener: &mut DestroyListener, port: u16) -> Option<Destroyed> {
    let start = Instant::now();
    let mut out = Vec::new();
    while start.elapsed() < Duration::from_secs(2) {
        listener.drain(&mut out, 1024).unwrap();
        if let Some(d) = out.iter().find(|d| d.socket.local.port == port) {
            return Some(d.clone());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

#[test]
fn real_close_is_notified_with_byte_counts() {
    let mut listener = DestroyListener::join(true, false).expect("join the destroy group");
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let (mut accepted, _) = server.accept().unwrap();
    client.write_all(&[7; 1000]).unwrap();
    let mut got = [0; 1000];
    accepted.read_exact(&mut got).unwrap();
    let port = accepted.local_addr().unwrap().port();
    let peer = client.local_addr().unwrap().port();
    drop(client);
    drop(accepted);
    let d = wait_for(&mut listener, port).expect("a destroy notification");
    assert_eq!(d.socket.remote.port, peer);
    // The peer's FIN counts as one more sequence number received.
    let received = d.bytes_received.unwrap();
    assert!((1000..=1001).contains(&received), "{received}");
}
