//! Fuzz target: Kernel BTF blobs, indexed and asked what the BPF owner iterator asks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::btf(data));
