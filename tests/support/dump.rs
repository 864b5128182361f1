//! tcpstat's own netlink dump of the namespace the calling thread is in,
//! polled until the kernel shows what the test built: closes and
//! handshakes finish a moment after the calls that start them return.

use std::time::{Duration, Instant};

use tcpstat::model::{Socket, StateSet};
use tcpstat::source::netlink::{dump, Request};

/// Every socket of both families, with exact timer counters.
pub fn every_state() -> Request {
    Request {
        protocol: tcpstat::model::Protocol::Tcp,
        ipv4: true,
        ipv6: true,
        states: StateSet::from_bits(0xfff),
        timer_counters: true,
        info: false,
        memory: false,
        bytecode: None,
        split: None,
    }
}

/// Dumps every state until `ready` holds, up to 3 s; panics with the rows
/// if it never does, saying it never saw `what`.
pub fn dump_until(what: &str, ready: impl Fn(&[Socket]) -> bool) -> Vec<Socket> {
    let start = Instant::now();
    let (request, mut rows) = (every_state(), Vec::new());
    loop {
        dump(&request, &mut rows).expect("netlink dump");
        if ready(&rows) {
            return rows;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "never saw {what}: {rows:#?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
