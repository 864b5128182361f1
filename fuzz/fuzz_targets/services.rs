//! Fuzz target: services(5) tables.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::services(data));
