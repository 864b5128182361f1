//! Fuzz target: what `-N all` reads (mountinfo, the Docker Engine's reply).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::namespaces(data));
