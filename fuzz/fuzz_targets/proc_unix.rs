//! Fuzz target: /proc/net/unix tables, paths with newlines and all, and the escaping of each path for the table.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::proc_unix(data));
