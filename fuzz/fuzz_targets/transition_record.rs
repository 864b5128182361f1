//! Fuzz target: exact mode's ring-buffer records (`--events=exact`), whole and cut to size.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::transition_record(data));
