//! Who owns which socket (`-p`): the BPF iterator and `/proc/*/fd` give the
//! same answer, and it is ss's, for sockets held by one process, shared by
//! several, held only by a child, and held only by a thread with a
//! descriptor table of its own; inside a pid namespace tcpstat answers with
//! that namespace's pids; without privilege `bpf` is refused, and a program
//! the verifier refuses is an error quoting it.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::netns::Netns;
use support::{require, Need};
use tcpstat::owners::load_skewed_bpf_program;

const TCPSTAT: &str = env!("CARGO_BIN_EXE_tcpstat");

/// Descriptor numbers the children get their sockets at.
const FIRST_CHILD_FD: RawFd = 200;

/// Held by each test: a child forked by one test holds copies of this
/// process's sockets until it execs, which another test's scan would see
/// (when tests share a process, as under `cargo test`).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Socket inode → the (pid, name) of each owner, sorted.
type Owners = BTreeMap<u64, Vec<(u32, String)>>;

/// A child process given copies of some sockets; killed when dropped.
struct Holder(Child);

impl Holder {
    /// Runs `argv` with `fds` at descriptors 200, 201… and waits until it
    /// has exec'd (its comm is its program's name).
    fn spawn(argv: &[&str], fds: &[RawFd]) -> Holder {
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let fds = fds.to_vec();
        // SAFETY: between fork and exec the closure only calls dup2, which
        // is async-signal-safe, on descriptors this process owns.
        unsafe {
            cmd.pre_exec(move || {
                for (i, &fd) in fds.iter().enumerate() {
                    if libc::dup2(fd, FIRST_CHILD_FD + i as RawFd) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn holder");
        let comm_path = format!("/proc/{}/comm", child.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(&comm_path).map_or(true, |c| c.trim_end() != argv[0]) {
            assert!(Instant::now() < deadline, "{} did not start", argv[0]);
            std::thread::sleep(Duration::from_millis(5));
        }
        Holder(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn inode(fd: &impl AsRawFd) -> u64 {
    // thread-self: the calling thread's table, which may be its own.
    std::fs::metadata(format!("/proc/thread-self/fd/{}", fd.as_raw_fd()))
        .expect("fd link")
        .ino()
}

fn ok(out: Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The processes tcpstat's JSON gives each socket (one entry per
/// descriptor there, as in ss; each process once here, as `ss_owners`;
/// tests/udp.rs compares the descriptors with ss's).
fn tcpstat_owners(json: &str) -> Owners {
    let doc: Value = serde_json::from_str(json).expect("JSON");
    doc.as_array()
        .expect("array")
        .iter()
        .map(|s| {
            let mut owners: Vec<(u32, String)> = s["processes"]
                .as_array()
                .expect("processes under -p")
                .iter()
                .map(|p| {
                    let pid = p["pid"].as_u64().expect("pid") as u32;
                    (pid, p["name"].as_str().expect("name").to_owned())
                })
                .collect();
            owners.sort();
            owners.dedup();
            (s["inode"].as_u64().expect("inode"), owners)
        })
        .filter(|(inode, _)| *inode != 0)
        .collect()
}

/// The owners `ss -tanpeH` gives each socket: `users:(("name",pid=N,fd=M),…)`,
/// one entry per descriptor, so a process appears once per descriptor.
fn ss_owners(text: &str) -> Owners {
    text.lines()
        .filter_map(|line| {
            let inode: u64 = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("ino:"))?
                .parse()
                .expect("ino");
            let mut owners: Vec<(u32, String)> = match line.split_once("users:(") {
                None => Vec::new(),
                Some((_, users)) => users
                    .split("(\"")
                    .skip(1)
                    .map(|entry| {
                        let (name, rest) = entry.split_once("\",pid=").expect("ss user entry");
                        let pid = rest.split(',').next().expect("pid").parse().expect("pid");
                        (pid, name.to_owned())
                    })
                    .collect(),
            };
            owners.sort();
            owners.dedup();
            Some((inode, owners))
        })
        .filter(|(inode, _)| *inode != 0)
        .collect()
}

#[test]
fn bpf_and_proc_owners_agree_with_ss() {
    require!(Need::Netns, Need::Btf, Need::Tool("ss"));
    let _serial = one_at_a_time();
    let ns = Netns::create("owners", "agree");
    let (listener, c1, s1, c2, s2) = ns.enter(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let c1 = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (s1, _) = listener.accept().expect("accept");
        let c2 = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (s2, _) = listener.accept().expect("accept");
        (listener, c1, s1, c2, s2)
    });
    // sleep shares the listener and s1 with this process (twice over for
    // s1); tail alone holds s2.
    let sleep = Holder::spawn(
        &["sleep", "120"],
        &[listener.as_raw_fd(), s1.as_raw_fd(), s1.as_raw_fd()],
    );
    let tail = Holder::spawn(&["tail", "-f", "/dev/null"], &[s2.as_raw_fd()]);
    let s2_inode = inode(&s2);
    drop(s2);

    let me = (std::process::id(), comm(std::process::id()));
    let mine = |holder: Option<&Holder>, name: &str| {
        let mut v = vec![me.clone()];
        v.extend(holder.map(|h| (h.pid(), name.to_owned())));
        v.sort();
        v
    };
    let expected: Owners = [
        (inode(&listener), mine(Some(&sleep), "sleep")),
        (inode(&s1), mine(Some(&sleep), "sleep")),
        (inode(&c1), mine(None, "")),
        (inode(&c2), mine(None, "")),
        (s2_inode, vec![(tail.pid(), "tail".to_owned())]),
    ]
    .into();

    let run = |source: &str| {
        tcpstat_owners(&ok(
            ns.exec(TCPSTAT, &["-tanp", "--json", "--owner-source", source]),
            source,
        ))
    };
    // A one-shot auto scan loads the iterator only where it pays, from
    // 2,048 open files on the machine: make sure there are that many.
    let _padding = open_sockets(3000);
    let (bpf, proc, auto) = (run("bpf"), run("proc"), run("auto"));
    assert_eq!(bpf, expected, "BPF iterator");
    assert_eq!(proc, expected, "/proc");
    assert_eq!(auto, expected, "auto");
    let ss = ss_owners(&ns.stdout("ss", &["-tanpeH"]));
    assert_eq!(ss, expected, "ss -p");

    // As root on a kernel with BTF, auto takes the iterator, and says so.
    let verbose = ns.exec(TCPSTAT, &["-tanp", "-v"]);
    let said = String::from_utf8_lossy(&verbose.stderr);
    assert!(
        said.contains("read owners from the BPF task-file iterator"),
        "{said}"
    );
    // The table shows the lowest pid of the owners, as the JSON lists them.
    let table = ok(
        ns.exec(TCPSTAT, &["-tanpe", "--owner-source", "bpf"]),
        "table",
    );
    let row = table
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == s2_inode.to_string()))
        .expect("s2 row");
    assert!(row.contains(&format!(" {}/tail ", tail.pid())), "{row}");
    drop((listener, c1, s1, c2, sleep, tail));
}

/// `n` unbound UDP sockets: open files that list nowhere.
fn open_sockets(n: usize) -> Vec<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    (0..n)
        .map(|_| {
            // SAFETY: socket() has no preconditions; a non-negative result
            // is a new descriptor that nothing else owns.
            let fd =
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            // SAFETY: see above.
            unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
        })
        .collect()
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .expect("comm")
        .trim_end()
        .to_owned()
}

/// In a pid namespace the iterator would give the initial namespace's pids,
/// so auto reads this namespace's /proc, and `bpf` refuses.
#[test]
fn inside_a_pid_namespace_owners_have_its_pids() {
    require!(Need::Netns, Need::Tool("unshare"));
    let _serial = one_at_a_time();
    let ns = Netns::create("owners", "pidns");
    let (listener, _client, server) = ns.enter(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (listener, client, server)
    });
    let run = |source: &str| {
        // pid 1 of the new namespace is sh, holding the server socket at
        // fd 9 (dash redirects only 0-9); tcpstat runs as its child
        // without it.
        let script = r#""$0" "$@" 9>&-; exit $?"#;
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            ns.name(),
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
        ])
        .args([
            "sh",
            "-c",
            script,
            TCPSTAT,
            "-tanp",
            "--json",
            "--owner-source",
            source,
        ]);
        let fd = server.as_raw_fd();
        // SAFETY: dup2 only, on a descriptor this process owns.
        unsafe {
            cmd.pre_exec(move || match libc::dup2(fd, 9) {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            });
        }
        cmd.output().expect("run unshare")
    };
    // Enough open files on the machine that auto would load the iterator
    // but for the namespace.
    let padding = open_sockets(3000);
    let owners = tcpstat_owners(&ok(run("auto"), "auto in a pid namespace"));
    drop(padding);
    assert_eq!(
        owners.get(&inode(&server)),
        Some(&vec![(1, "sh".to_owned())])
    );
    // This test process is outside the namespace: not an owner there.
    assert_eq!(owners.get(&inode(&listener)), Some(&Vec::new()));

    let refused = run("bpf");
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("tcpstat: ") && err.contains("pid namespace"),
        "{err}"
    );
}

/// A thread that unshared its descriptor table holds a socket no
/// `/proc/PID/fd` lists, so netstat and ss show no owner; neither source
/// of tcpstat may show one either (the kernel's iterator would walk that
/// table, the program skips it).
#[test]
fn a_socket_in_a_threads_own_table_has_no_owner_as_in_ss() {
    require!(Need::Netns, Need::Btf, Need::Tool("ss"));
    let _serial = one_at_a_time();
    let ns = Netns::create("owners", "unshared");
    let (inode, seen) = ns.enter(|| {
        // SAFETY: unshare affects only this thread, a fresh one that
        // exits (closing the socket) when the closure returns.
        let rc = unsafe { libc::unshare(libc::CLONE_FILES) };
        assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let seen: Vec<Owners> = ["bpf", "proc"]
            .iter()
            .map(|source| {
                tcpstat_owners(&ok(
                    ns.exec(TCPSTAT, &["-tnlp", "--json", "--owner-source", source]),
                    source,
                ))
            })
            .chain([ss_owners(&ns.stdout("ss", &["-tnlpeH"]))])
            .collect();
        (inode(&listener), seen)
    });
    for (owners, who) in seen.iter().zip(["bpf", "proc", "ss"]) {
        assert_eq!(owners.get(&inode), Some(&Vec::new()), "{who}: {owners:?}");
    }
}

/// Without privilege the iterator cannot be loaded: `bpf` fails with one
/// line and exit 1, `auto` reads /proc and says so under -v.
#[test]
fn without_privilege_bpf_is_refused_and_auto_falls_back() {
    let _serial = one_at_a_time();
    // Root runs tcpstat as uid 1000, which drops every capability; a user
    // runs it as is, which is without privilege unless it has capabilities.
    let root = support::require::is_root();
    if !root {
        require!(Need::NoCapabilities);
    }
    let run = |args: &[&str]| {
        let mut command = Command::new(TCPSTAT);
        if root {
            command.uid(1000).gid(1000);
        }
        command
            .args(args)
            .output()
            .expect("run tcpstat without privilege")
    };
    let refused = run(&["-tanp", "--owner-source", "bpf"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("tcpstat: cannot load the BPF task-file iterator: "),
        "{err}"
    );
    let fallback = run(&["-tanp", "-v"]);
    assert_eq!(fallback.status.code(), Some(0));
    // Why depends on the machine: too few open files for the iterator to
    // pay, or (from 2,048) the missing privilege.
    let said = String::from_utf8_lossy(&fallback.stderr);
    assert!(said.contains("read owners from /proc/*/fd ("), "{said}");
}

/// A program the verifier rejects (a load from the middle of a pointer) is
/// an error that quotes the verifier, not a crash; the same program with
/// its offsets right loads.
#[test]
fn a_rejected_bpf_program_is_an_error_quoting_the_verifier() {
    require!(Need::Root("loads a BPF program"), Need::Btf);
    load_skewed_bpf_program(0).expect("the program as built loads");
    let e = load_skewed_bpf_program(4).unwrap_err();
    assert!(e.to_string().contains("verifier: "), "{e}");
}
