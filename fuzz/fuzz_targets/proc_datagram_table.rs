//! Fuzz target: /proc/net/{udp,udplite,raw}{,6} tables, streamed as the /proc source reads them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcpstat::fuzzing::proc_datagram_table(data));
