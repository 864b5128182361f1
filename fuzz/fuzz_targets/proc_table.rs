//! Fuzz target: /proc/net/tcp{,6} tables: the streamed reader and the whole-text parser, which must agree.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::proc_table(data));
