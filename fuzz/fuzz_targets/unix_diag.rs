//! Fuzz target: unix_diag dump datagrams: netlink framing, unix_diag_msg, its attributes and the rows rebuilt from a listener's pending connections.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::unix_diag(data));
