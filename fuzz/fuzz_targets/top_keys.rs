//! Fuzz target: terminal input bytes, parsed into top's keys in reads of every size.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::top_keys(data));
