//! What tcpstat reads from outside and must not believe blindly (issue 13,
//! "Trust"): destroy notifications that a local process forges, /proc
//! tables that change under the read, paths that are FIFOs or endless
//! streams instead of namespaces and kernel tables.

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::netns::Netns;
use support::{require, Need};

const TCPSTAT: &str = env!("CARGO_BIN_EXE_tcpstat");

/// A running tcpstat whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = {
            let _starting = support::sock::no_fork();
            Command::new(TCPSTAT)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start tcpstat")
        };
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Running { child, lines }
    }

    /// The first line within `timeout` that `wanted` accepts, with every
    /// line read on the way.
    fn wait_for(&self, timeout: Duration, wanted: impl Fn(&str) -> bool) -> (bool, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            let found = wanted(&line);
            seen.push(line);
            if found {
                return (true, seen);
            }
        }
        (false, seen)
    }

    /// Stops it with SIGINT; the rest of stdout, and stderr.
    fn stop(mut self) -> (Vec<String>, String) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill takes no pointers; the child is ours and not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        self.child.wait().unwrap();
        let rest = self.lines.iter().collect();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (rest, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The port id of `pid`'s sock_diag socket that has joined multicast
/// groups (the destroy listener), from its namespace's /proc/net/netlink.
fn destroy_listener_port(pid: u32) -> Option<u32> {
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/netlink")).ok()?;
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let groups = u32::from_str_radix(f.get(3)?, 16).ok()?;
        (f.get(1) == Some(&"4") && groups != 0).then(|| f[2].parse().ok())?
    })
}

/// A destroy notification as the kernel multicasts it: an `inet_diag_msg`
/// for `src:sport → dst:dport` in CLOSE, then a `tcp_info` attribute.
fn forged_notification(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut msg = vec![libc::AF_INET as u8, 7, 0, 0];
    msg.extend(sport.to_be_bytes());
    msg.extend(dport.to_be_bytes());
    msg.extend(src);
    msg.extend([0; 12]);
    msg.extend(dst);
    msg.extend([0; 12]);
    msg.extend([0; 72 - 40]); // interface, cookie, timer, queues, uid, inode
    let info = vec![0u8; 232];
    msg.extend(((4 + info.len()) as u16).to_ne_bytes());
    msg.extend(2u16.to_ne_bytes()); // INET_DIAG_INFO
    msg.extend(info);
    let mut datagram = ((16 + msg.len()) as u32).to_ne_bytes().to_vec();
    datagram.extend(20u16.to_ne_bytes()); // SOCK_DIAG_BY_FAMILY
    datagram.extend([0; 10]); // flags, seq, port id: as the kernel sends
    datagram.extend(msg);
    datagram
}

/// The forger: as nobody (65534), in a user namespace of its own that
/// owns a network namespace of its own, where it thus holds CAP_NET_ADMIN,
/// which is what netlink asks of a process that sends to another socket's
/// port id. Unprivileged users may do this wherever user namespaces are
/// allowed, and a container's root is in that position. It says `ready`,
/// reads a port id and a datagram in hex, sends it, says `sent`, and keeps
/// the namespace alive until its stdin closes.
const FORGER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)  # NETLINK_SOCK_DIAG
s.bind((0, 0))
print("ready", flush=True)
port = int(sys.stdin.readline())
s.sendto(bytes.fromhex(sys.stdin.readline().strip()), (port, 0))
print("sent", flush=True)
sys.stdin.read()
"#;

/// Starts [`FORGER`]; returns it once its namespaces exist.
fn start_forger() -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = {
        let _starting = support::sock::no_fork();
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args([
                "unshare",
                "--user",
                "--map-root-user",
                "--net",
                "python3",
                "-c",
                FORGER,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the forger")
    };
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n", "the forger did not start");
    (child, out)
}

#[test]
fn forged_destroy_notifications_are_dropped_and_said() {
    require!(
        Need::Root("watches another user's namespace"),
        Need::Tool("setpriv"),
        Need::Tool("unshare"),
        Need::Tool("python3")
    );
    let (mut forger, mut said) = start_forger();
    // setpriv and unshare exec in place: the pid is python's.
    let netns = format!("/proc/{}/ns/net", forger.id());
    let watch = Running::start(&[
        "-N",
        &netns,
        "-an",
        "-c",
        "0.2",
        "--events=sampled",
        "--json",
        "-v",
    ]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let port = loop {
        if let Some(port) = destroy_listener_port(watch.child.id()) {
            break port;
        }
        assert!(Instant::now() < deadline, "tcpstat never joined the groups");
        std::thread::sleep(Duration::from_millis(20));
    };
    // A connection that never existed, 10.66.66.66:6666 → 10.77.77.77:7777.
    let forged = forged_notification([10, 66, 66, 66], 6666, [10, 77, 77, 77], 7777);
    let hex: String = forged.iter().map(|b| format!("{b:02x}")).collect();
    let mut stdin = forger.stdin.take().unwrap();
    writeln!(stdin, "{port}\n{hex}").unwrap();
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert_eq!(line, "sent\n");
    // Unchecked, tcpstat reports it at its next pass, 0.2 s away.
    let (_, mut lines) = watch.wait_for(Duration::from_secs(2), |_| false);
    let (rest, stderr) = watch.stop();
    drop(stdin);
    forger.wait().unwrap();
    lines.extend(rest);
    for line in &lines {
        let event: Value = serde_json::from_str(line).unwrap();
        let text = event.to_string();
        assert!(
            !text.contains("10.66.66.66") && !text.contains("10.77.77.77"),
            "an event for a forged notification: {text}"
        );
    }
    assert!(
        stderr.contains("dropped 1 destroy notification(s) sent by a process"),
        "-v does not say it dropped one: {stderr:?}"
    );
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tcpstat-trust-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("net")).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Address space tcpstat may use in these runs (KiB, for `ulimit -v`):
/// reading an endless file to its end would pass it and abort.
const MEMORY_KIB: u32 = 1 << 20;

/// Runs tcpstat with `args` under [`MEMORY_KIB`]; its output, or a panic
/// if it has not ended within `limit` (it is killed then).
fn run_within(limit: Duration, args: &[&str]) -> Output {
    let mut child = {
        let _starting = support::sock::no_fork();
        Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v {MEMORY_KIB} && exec \"$0\" \"$@\""))
            .arg(TCPSTAT)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpstat")
    };
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tcpstat {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// The one `tcpstat:` line on stderr.
fn one_error_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.starts_with("tcpstat: ") && err.lines().count() == 1,
        "expected one tcpstat: line, got {err:?}"
    );
    err.trim_end().to_string()
}

#[test]
fn netns_paths_that_are_no_namespace_are_usage_errors_at_once() {
    let dir = TempDir::new("netns");
    let fifo = dir.path("fifo");
    support::fifo::mkfifo(&fifo);
    let file = dir.path("file");
    std::fs::write(&file, "not a namespace\n").unwrap();
    let cases = [
        (fifo.to_str().unwrap(), "a FIFO"),
        (file.to_str().unwrap(), "a regular file"),
        ("/etc/hostname", "a regular file"),
        ("/dev/zero", "a character device"),
    ];
    for (path, kind) in cases {
        // A FIFO nobody writes to would block an open() for ever.
        let out = run_within(Duration::from_secs(5), &["-N", path, "-an"]);
        assert_eq!(
            one_error_line(&out),
            format!("tcpstat: -N {path}: not a network namespace but {kind}")
        );
        assert_eq!(out.status.code(), Some(2), "{path}");
        assert!(out.stdout.is_empty());
    }
}

const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
const TCP_ROW: &str = "   0: 0100007F:B80E 0100007F:1388 01 00000000:0000000A 02:0000E8BB 00000000     0        0 9291 2 0000000085ce45c1 20 4 30 10 -1\n";

#[test]
fn endless_proc_tables_end_in_an_error() {
    let dir = TempDir::new("endless");
    std::os::unix::fs::symlink("/dev/zero", dir.path("net/tcp")).unwrap();
    let root = dir.0.to_str().unwrap();
    let proc = ["-an", "-4", "--source", "proc", "--proc-root", root];
    let out = run_within(Duration::from_secs(10), &proc);
    assert_eq!(out.status.code(), Some(1));
    let tcp = dir.path("net/tcp");
    assert_eq!(
        one_error_line(&out),
        format!("tcpstat: {} line 1: longer than 4096 bytes", tcp.display())
    );

    // A FIFO fed for ever, as long as it is read: a row, then blank lines
    // (which cost the parser least: the bound is in bytes, and 1 GiB of
    // rows takes half a minute to parse in a debug build).
    std::fs::remove_file(&tcp).unwrap();
    support::fifo::mkfifo(&tcp);
    let feeder = {
        let tcp = tcp.clone();
        std::thread::spawn(move || {
            let mut fifo = std::fs::OpenOptions::new().write(true).open(tcp).unwrap();
            fifo.write_all(TCP_HEADER.as_bytes()).unwrap();
            fifo.write_all(TCP_ROW.as_bytes()).unwrap();
            let rows = format!("{}\n", " ".repeat(1023)).repeat(64);
            // Ends when tcpstat closes its end (EPIPE: SIGPIPE is ignored).
            while fifo.write_all(rows.as_bytes()).is_ok() {}
        })
    };
    let started = Instant::now();
    let out = run_within(Duration::from_secs(120), &proc);
    feeder.join().unwrap();
    eprintln!("an endless FIFO took {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_error_line(&out),
        format!(
            "tcpstat: {}: more than 1073741824 bytes, which no kernel table is",
            tcp.display()
        )
    );
}

/// How many listings the churn test takes; before de-duplication, about
/// half the listings under this churn showed some socket twice (9 of 20).
const CHURN_LISTINGS: usize = 40;

/// Connections kept in the namespace while it churns: some 4000 rows,
/// read in over a hundred pieces.
const CHURN_POPULATION: usize = 2000;

/// Short connections inside `ns` until `stop`: [`CHURN_POPULATION`] of
/// them, the oldest reset and a new one opened, as fast as a thread can,
/// so that sockets come and go in every part of the kernel's tables.
/// Returns how many it opened.
fn churn(ns: &Netns, stop: &AtomicBool, ready: &AtomicBool) -> usize {
    ns.enter(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = listener.local_addr().unwrap();
        let mut open = std::collections::VecDeque::new();
        let mut made = 0;
        while !stop.load(Ordering::Relaxed) {
            if open.len() >= CHURN_POPULATION {
                ready.store(true, Ordering::Relaxed);
                let (client, server): (TcpStream, TcpStream) = open.pop_front().unwrap();
                support::sock::abort(client);
                drop(server);
            }
            let client = TcpStream::connect(to).unwrap();
            let (server, _) = listener.accept().unwrap();
            open.push_back((client, server));
            made += 1;
        }
        made
    })
}

/// What tells one row's socket from another's: its inode, or without one,
/// its state and addresses.
fn identity(row: &Value) -> String {
    match row["inode"].as_u64() {
        Some(0) | None => format!("{} {} {}", row["state"], row["local"], row["remote"]),
        Some(inode) => format!("inode {inode}"),
    }
}

#[test]
fn proc_listings_under_churn_show_each_socket_once() {
    require!(Need::Netns);
    let ns = Netns::create("trust", "churn");
    let (stop, ready) = (AtomicBool::new(false), AtomicBool::new(false));
    let (dirty, rows, made) = std::thread::scope(|s| {
        let churner = s.spawn(|| churn(&ns, &stop, &ready));
        while !ready.load(Ordering::Relaxed) && !churner.is_finished() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let (mut dirty, mut rows) = (Vec::new(), 0);
        for _ in 0..CHURN_LISTINGS {
            let out = Command::new(TCPSTAT)
                .args(["-N", ns.name(), "-an4", "--source", "proc", "--json"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let listing: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
            rows += listing.len();
            let mut seen = HashSet::new();
            let twice: Vec<String> = listing
                .iter()
                .map(identity)
                .filter(|id| !seen.insert(id.clone()))
                .collect();
            if !twice.is_empty() {
                dirty.push(twice);
            }
        }
        stop.store(true, Ordering::Relaxed);
        (dirty, rows, churner.join().unwrap())
    });
    eprintln!("{made} connections, {rows} rows in {CHURN_LISTINGS} listings");
    assert!(
        rows > 1000 * CHURN_LISTINGS,
        "too few rows to mean anything: {rows}"
    );
    assert!(
        dirty.is_empty(),
        "{} of {CHURN_LISTINGS} listings showed a socket twice, e.g. {:?}",
        dirty.len(),
        &dirty[0][..dirty[0].len().min(3)]
    );
}
