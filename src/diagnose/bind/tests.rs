//! Verdicts on hand-built dumps. What the kernel really does with the same
//! situations is checked in `kernel_tests`; the printer's tests
//! (render/why.rs) use the helpers here.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::model::TcpState::*;
use crate::test_support::{sock, SocketExt};

pub(crate) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

pub(crate) fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

pub(crate) fn time_wait(local: &str, remote: &str, ms: u64) -> Socket {
    sock(TimeWait, local, remote)
        .inode(0)
        .timer(TimerKind::TimeWait, ms, 0, 0)
}

#[test]
fn a_free_port() {
    let other = sock(Listen, "0.0.0.0:22", "0.0.0.0:0");
    let v = why(8080, None, &[other], None, now());
    assert!(v.bindable);
    assert_eq!(v.bindable_with_reuseaddr, Some(true));
    assert_eq!(v.address, "::".parse::<IpAddr>().unwrap());
    assert!(v.holders.is_empty());
    assert_eq!((v.expires_ms, v.expires_at_unix_ms), (None, None));
    assert_eq!(
        v.reason,
        "no socket holds port 8080: [::]:8080 can be bound"
    );
}

#[test]
fn a_listener_holds_it_for_everyone() {
    let sockets = [
        sock(Listen, "0.0.0.0:80", "0.0.0.0:0"),
        sock(Established, "10.0.0.1:80", "10.0.0.9:5000"),
        time_wait("10.0.0.1:80", "10.0.0.9:5001", 3000),
    ];
    for addr in [None, ip("0.0.0.0"), ip("10.0.0.1"), ip("::ffff:10.0.0.1")] {
        let v = why(80, addr, &sockets, None, now());
        assert!(!v.bindable, "{addr:?}");
        assert_eq!(v.bindable_with_reuseaddr, Some(false));
        assert_eq!(
            v.held_by,
            HeldBy {
                listeners: 1,
                connections: 1,
                remnants: 1
            }
        );
        assert_eq!(v.holders[0].state, "LISTEN");
        assert_eq!(v.expires_ms, None);
        assert!(v
            .reason
            .starts_with("a socket listening on 0.0.0.0:80: no bind() shares"));
    }
    // An IPv4 listener does not meet a specific IPv6 address.
    assert!(why(80, ip("::1"), &sockets, None, now()).bindable);
}

#[test]
fn other_addresses_do_not_hold_it() {
    let sockets = [
        sock(Listen, "127.0.0.1:80", "0.0.0.0:0"),
        time_wait("127.0.0.1:80", "127.0.0.1:5000", 1000),
    ];
    let v = why(80, ip("127.0.0.2"), &sockets, None, now());
    assert!(v.bindable);
    assert_eq!(v.bindable_with_reuseaddr, Some(true));
    assert_eq!(
        v.reason,
        "port 80 is used by 2 sockets only on addresses that do not overlap 127.0.0.2:80"
    );
}

#[test]
fn request_sockets_hold_no_port() {
    let req = sock(SynRecv, "10.0.0.1:80", "10.0.0.9:5000")
        .inode(0)
        .timer(TimerKind::On, 900, 1, 0);
    assert!(why(80, None, &[req], None, now()).bindable);
}

#[test]
fn only_time_wait_remnants() {
    let sockets = [
        time_wait("10.0.0.1:80", "10.0.0.9:5000", 12_000),
        time_wait("10.0.0.1:80", "10.0.0.9:5001", 41_500),
        sock(FinWait2, "10.0.0.1:80", "10.0.0.9:5002")
            .inode(0)
            .timer(TimerKind::TimeWait, 30_000, 0, 0),
    ];
    let v = why(80, None, &sockets, None, now());
    assert!(!v.bindable);
    assert_eq!(v.bindable_with_reuseaddr, None);
    assert_eq!(v.held_by.remnants, 3);
    assert_eq!(v.expires_ms, Some(41_500));
    assert_eq!(v.expires_at_unix_ms, Some(1_700_000_041_500));
    assert!(
        v.reason.starts_with(
            "only teardown remnants hold port 80 (1 orphaned FIN_WAIT2, 2 TIME_WAIT); \
             no program holds it. A plain bind() fails until the last one goes (in 42 s, unless"
        ),
        "{}",
        v.reason
    );
}

#[test]
fn a_retransmitting_orphan_has_no_known_end() {
    let sockets = [
        time_wait("10.0.0.1:80", "10.0.0.9:5000", 12_000),
        sock(LastAck, "10.0.0.1:80", "10.0.0.9:5001")
            .inode(0)
            .timer(TimerKind::On, 800, 3, 0),
    ];
    let v = why(80, None, &sockets, None, now());
    assert_eq!((v.bindable, v.bindable_with_reuseaddr), (false, None));
    assert_eq!(v.expires_ms, None);
    assert!(v.reason.contains("1 orphaned LAST_ACK"), "{}", v.reason);
    assert!(v.reason.contains("tcp_orphan_retries"), "{}", v.reason);
}

#[test]
fn live_connections() {
    let sockets = [
        sock(CloseWait, "10.0.0.1:80", "10.0.0.9:5000"),
        time_wait("10.0.0.1:80", "10.0.0.9:5001", 5000),
    ];
    let v = why(80, None, &sockets, None, now());
    assert_eq!((v.bindable, v.bindable_with_reuseaddr), (false, None));
    assert_eq!(v.held_by.connections, 1);
    assert_eq!(v.expires_ms, None);
    assert!(v.reason.starts_with(
        "1 live connection uses port 80 (and 1 teardown remnant; owners not looked up)."
    ));
    let owners = ProcessMap::default();
    let v = why(80, None, &sockets, Some(&owners), now());
    assert!(
        v.reason.contains("remnant; no owning program found"),
        "{}",
        v.reason
    );
    assert_eq!(v.holders[0].processes, Some(&[][..]));
}

#[test]
fn ipv6_only_assumption_is_named() {
    let dual = [sock(Listen, "[::]:80", "[::]:0")];
    let v = why(80, ip("0.0.0.0"), &dual, None, now());
    assert!(!v.bindable);
    assert_eq!(v.caveats.len(), 1);
    assert!(v.caveats[0].starts_with(
        "1 IPv6 socket ([::]:80) stands in the way of 0.0.0.0 only if IPV6_V6ONLY is off on it"
    ));
    // Nothing rests on it for an IPv6 address.
    assert!(why(80, ip("::1"), &dual, None, now()).caveats.is_empty());
    // bind() to a specific IPv6 address sets IPV6_V6ONLY: certain.
    let specific = [sock(Listen, "[::1]:80", "[::]:0")];
    let v = why(80, ip("0.0.0.0"), &specific, None, now());
    assert!(v.bindable && v.caveats.is_empty());
}
