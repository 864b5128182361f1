//! Network namespaces owned by a test, and the two-namespace lab the zoo
//! lives in.
//!
//! Everything here is created by the test that uses it and deleted when its
//! guard drops, also when the test panics, so a failed run leaves nothing
//! behind. Names carry the test process's pid and a per-test tag, so test
//! binaries running in parallel never meet. Only addresses inside these
//! namespaces (or loopback) are ever used.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};

use super::sock::no_fork;

/// A network namespace created by a test; deleted when dropped.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `tcpstat-<group>-<pid>-<tag>` with its loopback up.
    pub fn create(group: &str, tag: &str) -> Netns {
        assert!(
            super::require::is_root(),
            "creating a network namespace needs root: start the test with require!(Need::Netns)"
        );
        let name = format!("tcpstat-{group}-{}-{tag}", std::process::id());
        // Only a killed earlier run with the same pid can have left this
        // name behind; it is ours to reuse.
        let _ = output(Command::new("ip").args(["netns", "del", &name]));
        run_ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The name `ip netns` knows it by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <ns> ARGS…`, panicking with its stderr on failure.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run_ip(&full);
    }

    /// Runs `ip netns exec <ns> PROGRAM ARGS…` and returns its output,
    /// whatever its exit status.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        output(
            Command::new("ip")
                .args(["netns", "exec", &self.name, program])
                .args(args),
        )
        .unwrap_or_else(|e| panic!("cannot run ip netns exec {program}: {e}"))
    }

    /// [`Netns::exec`] while no other test of this process may start a
    /// program: a child between its fork and its exec holds a copy of
    /// every socket of the test process, so a listing of owners made
    /// meanwhile would name it beside the test. For runs whose owners
    /// are compared exactly.
    pub fn exec_alone(&self, program: &str, args: &[&str]) -> Output {
        let _alone = no_fork();
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {program}: {e}"))
    }

    /// Like [`Netns::exec`] but insists on success and returns stdout.
    pub fn stdout(&self, program: &str, args: &[&str]) -> String {
        let out = self.exec(program, args);
        assert!(
            out.status.success(),
            "`{program} {}` in {} failed ({}):\n{}",
            args.join(" "),
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("output is UTF-8")
    }

    /// Runs `f` on a thread that has entered this namespace. Sockets `f`
    /// creates belong to the namespace for their whole life, whichever
    /// thread uses or closes them later.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        std::thread::scope(|scope| {
            let handle = scope.spawn(|| {
                // SAFETY: setns only reads the descriptor, which stays open
                // for the call; it switches this short-lived thread alone.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
                f()
            });
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let out = output(Command::new("ip").args(["netns", "del", &self.name]));
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!("warning: could not delete netns {}: {out:?}", self.name);
        }
    }
}

fn run_ip(args: &[&str]) {
    let out =
        output(Command::new("ip").args(args)).unwrap_or_else(|e| panic!("cannot run ip: {e}"));
    assert!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Like [`Command::output`], but forks under [`no_fork`]; std's spawn
/// returns once the child has exec'd, so only the start is serialised,
/// not the run.
fn output(command: &mut Command) -> std::io::Result<Output> {
    let child = {
        let _starting = no_fork();
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?
    };
    child.wait_with_output()
}

/// One end of the lab's veth link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// Interface name of the veth end, the same in both namespaces.
pub const VETH: &str = "veth0";
/// Fixed MAC addresses: each namespace pair is its own L2 segment, and
/// fixed addresses let the neighbour entries be set without ARP or NDP.
const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";
/// Frames sent to this MAC reach the peer, which drops them as not its own.
const BLACKHOLE_MAC: &str = "02:00:00:00:00:01";
/// Number of address channels per side (see [`Lab::v4`]).
pub const CHANNELS: u8 = 10;

/// Two namespaces, A and B, joined by a veth pair.
///
/// Each side has one IPv4 address per *channel* and one IPv6 address.
/// Loss is simulated per destination address by pointing its permanent
/// neighbour entry at a MAC nobody owns, so a recipe that needs loss in one
/// direction gets its own channel and leaves the other connections alone.
pub struct Lab {
    pub a: Netns,
    pub b: Netns,
    net: u8,
}

impl Lab {
    /// Builds the lab: namespaces `tcpstat-<group>-<pid>-{a,b}`, veth,
    /// addresses and permanent neighbour entries for every peer address.
    pub fn new(group: &str) -> Lab {
        let lab = Lab {
            a: Netns::create(group, "a"),
            b: Netns::create(group, "b"),
            net: (std::process::id() % 250) as u8,
        };
        lab.a.ip(&[
            "link",
            "add",
            VETH,
            "address",
            MAC_A,
            "type",
            "veth",
            "peer",
            "name",
            VETH,
            "address",
            MAC_B,
            "netns",
            lab.b.name(),
        ]);
        for side in [Side::A, Side::B] {
            let ns = lab.ns(side);
            for ch in 0..CHANNELS {
                ns.ip(&[
                    "addr",
                    "add",
                    &format!("{}/24", lab.v4(side, ch)),
                    "dev",
                    VETH,
                ]);
            }
            let v6 = format!("{}/64", lab.v6(side));
            ns.ip(&["addr", "add", &v6, "dev", VETH, "nodad"]);
            ns.ip(&["link", "set", VETH, "up"]);
            lab.slow_retransmissions(side);
            for ch in 0..CHANNELS {
                lab.restore(side, IpAddr::V4(lab.v4(side.peer(), ch)));
            }
            lab.restore(side, IpAddr::V6(lab.v6(side.peer())));
        }
        lab.blackhole(Side::A, IpAddr::V4(lab.ghost_v4()));
        lab
    }

    /// Raises the minimum retransmission timeout on the link's routes to
    /// one second (the kernel default is 200 ms). Retransmission and
    /// zero-window probe timers then fire at most once a second and back
    /// off from there, so a snapshot of all views, which takes tens of
    /// milliseconds, rarely straddles one firing.
    fn slow_retransmissions(&self, side: Side) {
        let ns = self.ns(side);
        let v4_net = format!("10.231.{}.0/24", self.net);
        let src = self.v4(side, 0).to_string();
        ns.ip(&[
            "route", "replace", &v4_net, "dev", VETH, "proto", "kernel", "scope", "link", "src",
            &src, "rto_min", "1s",
        ]);
        ns.ip(&[
            "-6",
            "route",
            "replace",
            "fd00:231::/64",
            "dev",
            VETH,
            "proto",
            "kernel",
            "metric",
            "256",
            "rto_min",
            "1s",
        ]);
    }

    /// The namespace of one side.
    pub fn ns(&self, side: Side) -> &Netns {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// IPv4 address of `side` on channel `ch`: channel 0 is `.1` (A) and
    /// `.2` (B), channel n is `.1n` (A) and `.2n` (B), all in one /24.
    pub fn v4(&self, side: Side, ch: u8) -> Ipv4Addr {
        assert!(ch < CHANNELS, "channel {ch} out of range");
        let host = match (side, ch) {
            (Side::A, 0) => 1,
            (Side::B, 0) => 2,
            (Side::A, n) => 10 + n,
            (Side::B, n) => 20 + n,
        };
        Ipv4Addr::new(10, 231, self.net, host)
    }

    /// An address on the link that no host owns; A's neighbour entry for it
    /// is a blackhole, so a SYN sent there is never answered.
    pub fn ghost_v4(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.net, 3)
    }

    /// IPv6 address of `side`.
    pub fn v6(&self, side: Side) -> Ipv6Addr {
        let host = match side {
            Side::A => 1,
            Side::B => 2,
        };
        Ipv6Addr::new(0xfd00, 0x231, 0, 0, 0, 0, 0, host)
    }

    /// Makes packets that `from` sends to `to` vanish on the wire.
    pub fn blackhole(&self, from: Side, to: IpAddr) {
        self.set_neighbour(from, to, BLACKHOLE_MAC);
    }

    /// Lets packets that `from` sends to `to` through again.
    pub fn restore(&self, from: Side, to: IpAddr) {
        let mac = match from {
            Side::A => MAC_B,
            Side::B => MAC_A,
        };
        self.set_neighbour(from, to, mac);
    }

    fn set_neighbour(&self, from: Side, to: IpAddr, mac: &str) {
        let to = to.to_string();
        self.ns(from).ip(&[
            "neigh",
            "replace",
            &to,
            "lladdr",
            mac,
            "dev",
            VETH,
            "nud",
            "permanent",
        ]);
    }
}
