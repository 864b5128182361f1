//! What a kernel test needs from the machine, and the one way a test says
//! so: [`require!`](crate::support::require) at its top returns early,
//! printing `skipped: <why>` on stderr, when a need is not met. `cargo test`
//! as a normal user thus passes, the kernel tests skipping, and as root
//! (with the tools installed) everything runs.
//!
//! CI sets `TCPSTAT_TEST_NO_SKIP` for its root run: there an unmet need is
//! a failure, so a missing tool cannot quietly turn tests into skips. For
//! its unprivileged run it sets `TCPSTAT_TEST_SKIP_LOG` to a file in which
//! each skipped test leaves a line, to report them.

use std::path::Path;

pub use tcpstat::sys::user::is_root;

const BTF: &str = "/sys/kernel/btf/vmlinux";

/// Something a test needs from the machine it runs on.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// Root and `ip`: the test creates network namespaces (and may make
    /// sockets of other uids in them).
    Netns,
    /// Root for another reason, given in the message.
    Root(&'static str),
    /// A program on `PATH`.
    Tool(&'static str),
    /// No capabilities in the effective set: the test runs tcpstat as
    /// itself to see it without privilege.
    NoCapabilities,
    /// IPv6 on loopback (`[::1]` can be bound): not every host has it.
    Ipv6,
    /// Kernel BTF (`/sys/kernel/btf/vmlinux`), which the BPF owner source
    /// is built from.
    Btf,
    /// tracefs mounted at `/sys/kernel/tracing`, where bpftrace finds a
    /// `tracepoint:` probe (`.ci/run` mounts it).
    Tracefs,
}

/// The tracepoint bpftrace compares tcpstat's exact events with.
const TRACEPOINTS: &str = "/sys/kernel/tracing/events/sock/inet_sock_set_state";

/// Why the first unmet need of `needs` is unmet, or `None` when all are met.
pub fn unmet(needs: &[Need]) -> Option<String> {
    needs.iter().find_map(|&need| match need {
        Need::Netns if !is_root() => Some("needs root (creates network namespaces)".into()),
        Need::Netns => missing_tool("ip"),
        Need::Root(why) if !is_root() => Some(format!("needs root ({why})")),
        Need::Root(_) => None,
        Need::Tool(name) => missing_tool(name),
        Need::NoCapabilities if has_capabilities() => {
            Some("needs a process without capabilities, or root to drop them".into())
        }
        Need::NoCapabilities => None,
        Need::Ipv6 if std::net::TcpListener::bind("[::1]:0").is_err() => {
            Some("needs IPv6 on loopback".into())
        }
        Need::Ipv6 => None,
        Need::Btf if !Path::new(BTF).exists() => Some(format!("needs kernel BTF ({BTF})")),
        Need::Btf => None,
        Need::Tracefs if !Path::new(TRACEPOINTS).exists() => Some(format!(
            "needs tracefs mounted at /sys/kernel/tracing ({TRACEPOINTS} missing): \
             mount -t tracefs nodev /sys/kernel/tracing"
        )),
        Need::Tracefs => None,
    })
}

/// Whether the test may go on: true when every need is met; otherwise
/// prints `skipped: <why>`, or panics when `TCPSTAT_TEST_NO_SKIP` is set.
/// Called through [`require!`](crate::support::require).
pub fn met(needs: &[Need]) -> bool {
    let Some(why) = unmet(needs) else {
        return true;
    };
    if std::env::var_os("TCPSTAT_TEST_NO_SKIP").is_some() {
        panic!("{why}, and TCPSTAT_TEST_NO_SKIP forbids skipping it");
    }
    eprintln!("skipped: {why}");
    log_skip(&why);
    false
}

/// Appends `<test>\t<why>` to the file named by `TCPSTAT_TEST_SKIP_LOG`, if
/// set, so that CI can say how many tests skipped and why (a skipped test
/// counts as passed to the test runner).
fn log_skip(why: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os("TCPSTAT_TEST_SKIP_LOG") else {
        return;
    };
    // libtest names a test's thread after the test.
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    // One write of a short line to a file opened for appending: lines of
    // tests running in parallel do not interleave.
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut log| log.write_all(format!("{test}\t{why}\n").as_bytes()))
        .unwrap_or_else(|e| panic!("TCPSTAT_TEST_SKIP_LOG {}: {e}", path.display()));
}

/// Returns from the calling test unless every [`Need`] given is met.
#[allow(unused_macros)] // in test crates that need nothing of the machine
macro_rules! require {
    ($($need:expr),+ $(,)?) => {
        if !$crate::support::require::met(&[$($need),+]) {
            return;
        }
    };
}
pub(crate) use require;

/// Whether the effective capability set (`CapEff` in /proc/self/status)
/// holds any capability.
fn has_capabilities() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let set = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .expect("CapEff in /proc/self/status");
    u64::from_str_radix(set.trim(), 16).expect("CapEff is hex") != 0
}

/// `None` when `name` is an executable on PATH; otherwise the reason,
/// naming the Debian package that has it.
fn missing_tool(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(dir.join(name))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    });
    if found {
        return None;
    }
    let package = match name {
        "ip" | "ss" => "iproute2",
        "netstat" => "net-tools",
        "sysctl" => "procps",
        "unshare" => "util-linux",
        "getent" => "libc-bin",
        _ => return Some(format!("needs {name} on PATH")),
    };
    Some(format!("needs {name} on PATH (Debian package {package})"))
}
