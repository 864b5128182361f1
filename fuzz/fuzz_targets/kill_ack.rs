//! Fuzz target: datagrams answering -K's SOCK_DESTROY requests.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::kill_ack(data));
