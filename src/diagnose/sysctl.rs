//! The few kernel settings the diagnosis compares the dump against, read
//! from `/proc/sys` of the current network namespace (or faked in tests).

use crate::sys::fs::read_small_text;
use std::path::Path;

/// Longest sysctl text read: these hold one or two numbers, and a path
/// that leads to an endless stream must not be read to its end.
const MAX_SYSCTL: usize = 256;

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
        let text = |leaf: &str| read_small_text(&root.join("net/ipv4").join(leaf), MAX_SYSCTL).ok();
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

pub(crate) fn parse_number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// "32768\t60999\n" → (32768, 60999); a reversed or malformed range is None.
pub(crate) fn parse_range(text: &str) -> Option<(u16, u16)> {
    let mut fields = text.split_whitespace().map(str::parse::<u16>);
    let (Some(Ok(low)), Some(Ok(high)), None) = (fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    (low <= high).then_some((low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_formats() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_range("1024 1024"), Some((1024, 1024)));
        for bad in ["", "60999 32768", "1 2 3", "x 2", "70000 70001"] {
            assert_eq!(parse_range(bad), None, "{bad:?}");
        }
        assert_eq!(parse_number("131072\n"), Some(131072));
        assert_eq!(parse_number("-1"), None);
    }

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
