//! Shared harness of tcpstat's integration tests: network namespaces and a
//! veth lab, a zoo of real kernel sockets built in them, parsers for the
//! oracles (netstat, ss) and for tcpstat's JSON, and the comparison;
//! children started with default signal actions; and [`require!`], with
//! which a test that needs root or a tool skips, saying why, where they
//! are missing.
//!
//! Each test crate uses a different part of it, hence the dead-code allow.
#![allow(dead_code)]

pub mod animal;
pub mod child;
pub mod compare;
pub mod dump;
pub mod events;
pub mod exposition;
pub mod fifo;
pub mod filter_cases;
pub mod inside;
pub mod netns;
pub mod oracle;
pub mod require;
pub mod schema;
pub mod seccomp;
pub mod signals;
pub mod sock;
pub mod tempdir;
pub mod zoo;

/// `stderr` without the line watch mode prints, once, when a pass overran
/// its interval: whether one does depends on the machine's load, not on
/// what a test checks (tests/watch.rs checks that line on passes made to
/// overrun).
pub fn unless_overran(stderr: impl AsRef<[u8]>) -> String {
    String::from_utf8_lossy(stderr.as_ref())
        .split_inclusive('\n')
        .filter(|line| !line.starts_with("tcpstat: a pass took "))
        .collect()
}

// Unused by test crates that need nothing of the machine.
#[allow(unused_imports)]
pub(crate) use require::{require, Need};
