//! Fuzz target: sock_diag dump datagrams: netlink framing, inet_diag_msg and its attributes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::inet_diag(data));
