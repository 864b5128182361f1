//! The few kernel settings the diagnosis compares the dump against, read
//! from `/proc/sys` of the current network namespace (or faked in tests).

use crate::sys::sysctl::{parse_number, parse_range, read_ipv4};
use std::path::Path;

/// Kernel limits a summary measures the sockets against. A value that could
/// not be read is `None`, and the comparisons that need it are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sysctls {
    /// `net.ipv4.tcp_max_tw_buckets`: most timewait sockets (TIME_WAIT and
    /// orphaned FIN_WAIT2) the namespace keeps; past it the kernel closes
    /// connections without TIME_WAIT. Per network namespace.
    pub tcp_max_tw_buckets: Option<u64>,
    /// `net.ipv4.ip_local_port_range`: the ephemeral ports connect() picks
    /// from, inclusive. Per network namespace.
    pub ip_local_port_range: Option<(u16, u16)>,
    /// `net.ipv4.tcp_max_orphans`: orphans allowed before the kernel resets
    /// them. One limit for the whole host, counted over all namespaces.
    pub tcp_max_orphans: Option<u64>,
}

impl Sysctls {
    /// Reads the values from `/proc/sys`, which shows the settings of the
    /// network namespace the calling thread is in (so after `-N`, those of
    /// that namespace).
    pub fn read() -> Sysctls {
        Sysctls::read_from(Path::new("/proc/sys"))
    }

    /// Reads the values from a `/proc/sys`-shaped directory.
    pub fn read_from(root: &Path) -> Sysctls {
        let text = |leaf: &str| read_ipv4(root, leaf);
        Sysctls {
            tcp_max_tw_buckets: text("tcp_max_tw_buckets").and_then(|t| parse_number(&t)),
            ip_local_port_range: text("ip_local_port_range").and_then(|t| parse_range(&t)),
            tcp_max_orphans: text("tcp_max_orphans").and_then(|t| parse_number(&t)),
        }
    }

    /// Number of ports in the ephemeral range.
    pub fn ephemeral_ports(&self) -> Option<u32> {
        self.ip_local_port_range
            .map(|(low, high)| u32::from(high) - u32::from(low) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_proc_sys() {
        let root = std::env::temp_dir().join(format!("tcpstat-sysctl-{}", std::process::id()));
        let dir = root.join("net/ipv4");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tcp_max_tw_buckets"), "4096\n").unwrap();
        std::fs::write(dir.join("ip_local_port_range"), "40000\t40099\n").unwrap();
        let s = Sysctls::read_from(&root);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            s,
            Sysctls {
                tcp_max_tw_buckets: Some(4096),
                ip_local_port_range: Some((40000, 40099)),
                tcp_max_orphans: None,
            }
        );
        assert_eq!(s.ephemeral_ports(), Some(100));
    }
}
