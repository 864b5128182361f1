//! Fuzz target: fd link targets (socket:[INODE]) and the sysctls the summary reads.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::kernel_text(data));
