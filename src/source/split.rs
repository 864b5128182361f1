//! Whether a TCP dump runs as two dumps side by side ([`Split`]), and the
//! halves: for both families (one walk of the kernel's tables, which the
//! split makes two), when the listing wants more than listeners, under
//! `--parallel auto` only when the namespace holds [`SPLIT_MIN`] TCP
//! sockets or more and the machine has two CPUs. The count and the
//! ephemeral port range are the dumping thread's namespace's (under `-N`
//! it has entered the namespace it dumps).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::bytecode;
use super::netlink::Split;
use super::Request;
use crate::error::note;
use crate::model::{Parallel, StateSet};
use crate::sys::fs::read_small_text;
use crate::sys::sysctl::{parse_range, read_ipv4};

/// TCP sockets in a namespace from which `auto` splits a dump. Below it a
/// walk takes a few milliseconds, which a second thread and socket would
/// not shorten by much.
pub const SPLIT_MIN: u64 = 20_000;

/// Linux's default ephemeral range, for a namespace whose own cannot be read.
const DEFAULT_LOCAL_PORTS: (u16, u16) = (32768, 60999);

/// Said once under -v.
static SAID: AtomicBool = AtomicBool::new(false);

/// The halves of a TCP dump of `states` for `req`, or `None` for one dump.
pub fn choose(req: &Request<'_>, states: StateSet) -> Option<Split> {
    let splittable = req.ipv4 && req.ipv6 && !states.without(StateSet::listening()).is_empty();
    let count = match req.parallel {
        Parallel::Never => return None,
        _ if !splittable => return None,
        Parallel::Always => None,
        Parallel::Auto => {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            let count = tcp_sockets_here()?;
            if cpus < 2 || count < SPLIT_MIN {
                return None;
            }
            Some(count)
        }
    };
    let ports = read_ipv4(Path::new("/proc/sys"), "ip_local_port_range")
        .and_then(|text| parse_range(&text))
        .unwrap_or(DEFAULT_LOCAL_PORTS);
    let split = bytecode::split(req.filter, ports)?;
    if req.verbose && !SAID.swap(true, Ordering::Relaxed) {
        let why = match count {
            Some(count) => format!("{count} TCP sockets in the namespace"),
            None => "--parallel always".to_owned(),
        };
        note(format_args!(
            "netlink: the TCP dump runs as two dumps side by side ({why})"
        ));
    }
    Some(split)
}

/// Longest `/proc/net/sockstat(6)` read: a dozen short lines.
const MAX_SOCKSTAT: usize = 4096;

/// TCP sockets in the calling thread's namespace, both families, with
/// TIME_WAIT: what a dump of every state walks.
fn tcp_sockets_here() -> Option<u64> {
    let read = |name| {
        let path = format!("/proc/thread-self/net/{name}");
        read_small_text(Path::new(&path), MAX_SOCKSTAT).ok()
    };
    tcp_sockets_in(&read("sockstat")?, &read("sockstat6").unwrap_or_default())
}

/// [`tcp_sockets_here`] from the text of `sockstat` and `sockstat6`.
pub(crate) fn tcp_sockets_in(v4: &str, v6: &str) -> Option<u64> {
    let v4_count =
        sockstat_field(v4, "TCP:", "inuse")?.checked_add(sockstat_field(v4, "TCP:", "tw")?)?;
    v4_count.checked_add(sockstat_field(v6, "TCP6:", "inuse").unwrap_or(0))
}

/// The number after `field` on the line of /proc/net/sockstat(6) that
/// starts with `label` (`TCP: inuse 5 orphan 0 tw 2 ...`).
fn sockstat_field(text: &str, label: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(label))?;
    let mut words = line[label.len()..].split_ascii_whitespace();
    while let Some(word) = words.next() {
        let value = words.next()?;
        if word == field {
            return value.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockstat_fields() {
        let v4 =
            "sockets: used 24\nTCP: inuse 1 orphan 0 tw 7 alloc 1 mem 214\nUDP: inuse 3 mem 0\n";
        assert_eq!(sockstat_field(v4, "TCP:", "inuse"), Some(1));
        assert_eq!(sockstat_field(v4, "TCP:", "tw"), Some(7));
        assert_eq!(sockstat_field(v4, "TCP:", "mem"), Some(214));
        assert_eq!(sockstat_field(v4, "UDP:", "tw"), None);
        assert_eq!(
            sockstat_field("TCP6: inuse 12\n", "TCP6:", "inuse"),
            Some(12)
        );
        for bad in [
            "",
            "TCP:",
            "TCP: inuse",
            "TCP: inuse x",
            "TCP: inuse -1",
            "TCP: tw 99999999999999999999",
        ] {
            assert_eq!(sockstat_field(bad, "TCP:", "inuse"), None, "{bad:?}");
            assert_eq!(sockstat_field(bad, "TCP:", "tw"), None, "{bad:?}");
        }
    }

    #[test]
    fn both_families_and_time_wait_count() {
        let v4 = "TCP: inuse 5 orphan 0 tw 7 alloc 9 mem 1\n";
        assert_eq!(tcp_sockets_in(v4, "TCP6: inuse 3\n"), Some(15));
        assert_eq!(tcp_sockets_in(v4, ""), Some(12));
        assert_eq!(tcp_sockets_in("TCP: inuse 5\n", "TCP6: inuse 3\n"), None);
        let huge = format!("TCP: inuse {} tw 1\n", u64::MAX);
        assert_eq!(tcp_sockets_in(&huge, ""), None);
    }

    /// The count is the thread's namespace's own: this test's namespace
    /// holds at least the listener it makes.
    #[test]
    fn counts_this_namespace() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(tcp_sockets_here().is_some_and(|n| n >= 1));
        drop(listener);
    }
}
