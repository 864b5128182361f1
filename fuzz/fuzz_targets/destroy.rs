//! Fuzz target: Datagrams of the sock_diag destroy groups (--events).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::destroy(data));
