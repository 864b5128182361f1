//! The /proc source and the destroy notifications against the live
//! kernel: this process's own loopback sockets, in whatever network
//! namespace the test runs in, read back as the kernel holds them. No
//! privilege is needed; an ephemeral port may be shared with other sockets
//! of the machine, so rows are matched on both ends.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use support::{require, Need};
use tcpstat::model::{Endpoint, Family, Socket, TcpState, Timer, TimerKind};
use tcpstat::source::destroy::{DestroyListener, Destroyed};
use tcpstat::source::proc::read;

fn all_states() -> u32 {
    TcpState::ALL.iter().fold(0, |mask, s| mask | s.mask_bit())
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
    read(Path::new("/proc"), true, true, all_states(), &mut rows).unwrap();

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
            true,
            false,
            TcpState::TimeWait.mask_bit(),
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
    read(Path::new("/proc"), false, true, all_states(), &mut rows).unwrap();
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
