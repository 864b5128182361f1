//! For the crate's unit tests: hand-built sockets, network namespaces to
//! build real ones in, and a deterministic random stream for property
//! tests.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::model::{Endpoint, Family, Shutdown, Socket, TcpState, Timer, TimerKind};
use crate::source::netlink::{dump, Request};

/// A socket `local` → `remote` ("addr:port" or "[v6]:port") in `state`,
/// with inode 1, uid 0, no timer and no shutdown.
pub fn sock(state: TcpState, local: &str, remote: &str) -> Socket {
    let local = endpoint(local);
    let family = match local.addr {
        IpAddr::V4(_) => Family::Inet,
        IpAddr::V6(_) => Family::Inet6,
    };
    Socket {
        family,
        state,
        local,
        remote: endpoint(remote),
        recv_q: 0,
        send_q: 0,
        uid: 0,
        inode: 1,
        timer: Timer::OFF,
        shutdown: None,
    }
}

/// Parses "1.2.3.4:80" or "[::1]:80".
pub fn endpoint(text: &str) -> Endpoint {
    let addr: std::net::SocketAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
    Endpoint {
        addr: addr.ip(),
        port: addr.port(),
    }
}

/// Builder-style tweaks for test sockets.
pub trait SocketExt {
    fn inode(self, inode: u64) -> Socket;
    fn uid(self, uid: u32) -> Socket;
    fn timer(self, kind: TimerKind, expires_ms: u64, retransmits: u32, probes: u32) -> Socket;
    fn shutdown(self, read: bool, write: bool) -> Socket;
}

impl SocketExt for Socket {
    fn inode(mut self, inode: u64) -> Socket {
        self.inode = inode;
        self
    }

    fn uid(mut self, uid: u32) -> Socket {
        self.uid = uid;
        self
    }

    fn timer(mut self, kind: TimerKind, expires_ms: u64, retransmits: u32, probes: u32) -> Socket {
        self.timer = Timer {
            kind,
            expires_ms,
            retransmits,
            probes,
        };
        self
    }

    fn shutdown(mut self, read: bool, write: bool) -> Socket {
        self.shutdown = Some(Shutdown { read, write });
        self
    }
}

/// A network namespace of this test process; deleted on drop, also when the
/// test panics.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `tcpstat-unit-<pid>-<tag>` with its loopback up.
    pub fn create(tag: &str) -> Netns {
        let name = format!("tcpstat-unit-{}-{tag}", std::process::id());
        // Only a killed earlier run with our pid can have left it behind.
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name]).expect("ip netns add (needs root)");
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]).expect("ip link set lo up");
        ns
    }

    /// Runs `f` on a thread inside the namespace; sockets it makes live
    /// there.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        std::thread::scope(|scope| {
            let thread = scope.spawn(|| {
                // SAFETY: setns only reads the descriptor, which stays open
                // for the call; it moves this short-lived thread alone.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            });
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("warning: could not delete netns {}: {e}", self.name);
        }
    }
}

/// Held while a test runs a program, and while a test needs the sockets it
/// closes to be gone at once: a child copies every descriptor of the test
/// process (close-on-exec or not) and keeps those sockets open until it
/// execs, which would make a closed socket linger for a moment.
pub fn no_fork() -> MutexGuard<'static, ()> {
    static FORK: Mutex<()> = Mutex::new(());
    FORK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = {
        let _no_sockets_meanwhile = no_fork();
        Command::new("ip").args(args).output()
    }
    .map_err(|e| e.to_string())?;
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

/// Every socket of both families, with exact timer counters.
fn every_state() -> Request {
    Request {
        ipv4: true,
        ipv6: true,
        states: 0xfff,
        timer_counters: true,
        bytecode: None,
    }
}

/// Dumps every state until `ready` holds, up to 3 s; panics with the rows
/// if it never does.
pub fn dump_until(what: &str, ready: impl Fn(&[Socket]) -> bool) -> Vec<Socket> {
    let start = Instant::now();
    let (req, mut rows) = (every_state(), Vec::new());
    loop {
        dump(&req, &mut rows).expect("netlink dump");
        if ready(&rows) {
            return rows;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "never saw {what}: {rows:#?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// xorshift64: a deterministic stream of pseudo-random numbers, so that a
/// failing property test reproduces.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}
