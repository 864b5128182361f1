//! Fuzz target: ss-style filter expressions (words split at NUL), printed and evaluated; and the --port/--src/--state value parsers.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::filter(data));
