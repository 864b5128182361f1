//! Unix domain sockets (`-x`): on sockets this test makes in a network
//! namespace of its own (unix sockets belong to one, so nothing else on
//! the machine is listed), netstat's table byte for byte for `-xap`,
//! `-xp`, `-xlp` and `-xan`, from netlink and from /proc, but for the
//! listed difference (netstat cuts a path at its first space or newline;
//! tcpstat prints it whole, escaped); the JSON agrees with `ss -xapH`
//! and the schema; the filters and their refusals.
//!
//! The sockets are stream, datagram and seqpacket: listening, connected
//! pairs, a connection not yet accepted, bound to paths with a space, a
//! newline and a byte that is not UTF-8, to an abstract name with a NUL
//! in it, and unbound. They are handed to a `sleep` process, so that
//! netstat (which names a process by its command line) and tcpstat (by
//! its comm) name the owner alike.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use support::netns::Netns;
use support::schema::{assert_valid, validator};
use support::sock::no_fork;
use support::tempdir::TempDir;
use support::{require, Need};

/// The hostile path of the seqpacket listener, as bytes.
const NEWLINE_NAME: &[u8] = b"nl\nx\xff.sock";

/// The sockets, held by a `sleep` child in the namespace's name.
struct Population {
    ns: Netns,
    dir: TempDir,
    holder: Child,
}

impl Drop for Population {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

impl Population {
    fn dir(&self) -> &Path {
        &self.dir.0
    }

    /// The abstract name's text as ss and netstat show it.
    fn abstract_shown(&self) -> String {
        format!("@tcpstat-unix-{}@x", std::process::id())
    }

    fn run(&self, program: &str, args: &[&str]) -> (String, i32) {
        let out = self.ns.exec(program, args);
        let code = out.status.code().unwrap_or(-1);
        (String::from_utf8_lossy(&out.stdout).into_owned(), code)
    }

    fn tcpstat(&self, args: &[&str]) -> String {
        let (out, code) = self.run(env!("CARGO_BIN_EXE_tcpstat"), args);
        assert_eq!(code, 0, "tcpstat {args:?}");
        out
    }
}

fn seqpacket() -> OwnedFd {
    // SAFETY: socket() takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn sockaddr(path: &[u8]) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, &b) in addr.sun_path.iter_mut().zip(path) {
        *dst = b as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + path.len() + 1;
    (addr, len as libc::socklen_t)
}

/// A seqpacket listener on `path` and a connection to it, accepted.
fn seqpacket_pair(path: &[u8]) -> Vec<OwnedFd> {
    let (addr, len) = sockaddr(path);
    let listener = seqpacket();
    let client = seqpacket();
    // SAFETY: `addr` is a sockaddr_un of `len` bytes, alive for each call.
    unsafe {
        let at = std::ptr::from_ref(&addr).cast();
        assert_eq!(libc::bind(listener.as_raw_fd(), at, len), 0, "bind");
        assert_eq!(libc::listen(listener.as_raw_fd(), 1), 0, "listen");
        assert_eq!(libc::connect(client.as_raw_fd(), at, len), 0, "connect");
    }
    // SAFETY: accept with null address pointers.
    let accepted = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    assert!(accepted >= 0, "accept: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor nobody else owns.
    vec![listener, client, unsafe { OwnedFd::from_raw_fd(accepted) }]
}

/// Makes every kind of socket in `ns` under `dir`.
fn make_sockets(dir: &Path) -> Vec<OwnedFd> {
    let listen_path = dir.join("listen sp.sock");
    let listener = UnixListener::bind(&listen_path).unwrap();
    let client = UnixStream::connect(&listen_path).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    // Connected, never accepted: the kernel's CONNECTING row.
    let waiting = UnixStream::connect(&listen_path).unwrap();
    let name = format!("tcpstat-unix-{}\0x", std::process::id());
    let abstract_addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let named = UnixDatagram::bind_addr(&abstract_addr).unwrap();
    let unbound = UnixDatagram::unbound().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(b"hello").unwrap(); // b's receive queue: 5 bytes
    let (c, d) = UnixDatagram::pair().unwrap();
    let mut path = dir.as_os_str().as_bytes().to_vec();
    path.push(b'/');
    path.extend_from_slice(NEWLINE_NAME);
    let mut fds: Vec<OwnedFd> = vec![
        listener.into(),
        client.into(),
        accepted.into(),
        waiting.into(),
        named.into(),
        unbound.into(),
        a.into(),
        b.into(),
        c.into(),
        d.into(),
    ];
    fds.extend(seqpacket_pair(&path));
    fds
}

/// Builds the population in a fresh namespace and hands its sockets to
/// `sleep`, closing the test's own copies.
fn populate(tag: &str) -> Population {
    let ns = Netns::create("unix", tag);
    let dir = TempDir::new("unix", tag);
    let fds = ns.enter(|| {
        let mut fds = make_sockets(&dir.0);
        // One internet socket of each kind for `-tuxan`'s first table.
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        fds.extend([OwnedFd::from(tcp), OwnedFd::from(udp)]);
        fds
    });
    let holder = {
        // No other child may fork while the descriptors are inheritable.
        let _forking = no_fork();
        for fd in &fds {
            // SAFETY: F_SETFD on a descriptor we own takes no pointers.
            assert_eq!(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) }, 0);
        }
        let child = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .expect("start sleep");
        drop(fds);
        child
    };
    Population { ns, dir, holder }
}

/// tcpstat's table as netstat would print it: netstat reads the path with
/// `sscanf("%s")`, which stops at the first space, and its line at the
/// path's newline (tcpstat prints it escaped, `\n`).
fn as_netstat_cuts(text: &str, dir: &Path) -> String {
    let dir = dir.to_str().unwrap();
    text.lines()
        .map(|line| match line.find(dir) {
            Some(at) => {
                let rest = &line[at..];
                let end = [rest.find(' '), rest.find("\\n")]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(rest.len());
                format!("{}\n", &line[..at + end])
            }
            None => format!("{line}\n"),
        })
        .collect()
}

#[test]
fn table_equals_netstat_from_both_sources() {
    require!(Need::Netns, Need::Tool("netstat"), Need::Tool("sleep"));
    let pop = populate("table");
    let mut failures = Vec::new();
    for flags in ["-xap", "-xp", "-xlp", "-xan", "-tuxanp"] {
        let (netstat, _) = pop.run("netstat", &[flags]);
        for source in ["netlink", "proc"] {
            let ours = pop.tcpstat(&[flags, "--source", source]);
            let cut = as_netstat_cuts(&ours, pop.dir());
            if cut != netstat {
                failures.push(format!(
                    "tcpstat {flags} --source {source} differs from netstat:\n--- netstat\n{netstat}--- tcpstat (cut as netstat cuts)\n{cut}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The whole paths, escaped, and the abstract name as netstat shows it.
    let all = pop.tcpstat(&["-xa"]);
    let dir = pop.dir().to_str().unwrap();
    assert!(all.contains(&format!(" {dir}/listen sp.sock\n")), "{all}");
    assert!(all.contains(&format!(" {dir}/nl\\nx\\xff.sock\n")), "{all}");
    assert!(
        all.contains(&format!(" {}\n", pop.abstract_shown())),
        "{all}"
    );
    assert_eq!(
        all.lines().filter(|l| l.contains("CONNECTING")).count(),
        1,
        "{all}"
    );
}

/// One socket as `ss -xapH` shows it.
#[derive(Debug, PartialEq, Eq)]
struct SsRow {
    kind: String,
    state: String,
    recv_q: u64,
    send_q: u64,
    peer: u64,
    owners: Vec<(String, u64)>,
}

/// `ss -xapH` by inode. A path with a newline continues on the next
/// line, which does not start with a netid.
fn parse_ss(text: &str) -> BTreeMap<u64, SsRow> {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        match lines.last_mut() {
            Some(last) if !line.starts_with("u_") => last.push_str(line),
            _ => lines.push(line.to_owned()),
        }
    }
    lines
        .iter()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let users = words.last().filter(|w| w.starts_with("users:"));
            let end = words.len() - usize::from(users.is_some());
            let kind = match words[0] {
                "u_str" => "STREAM",
                "u_dgr" => "DGRAM",
                "u_seq" => "SEQPACKET",
                other => other,
            };
            let state = match words[1] {
                "ESTAB" => "CONNECTED",
                "UNCONN" => "UNCONNECTED",
                "LISTEN" => "LISTENING",
                other => other,
            };
            let owners = users.map_or(Vec::new(), |u| {
                u.split("((")
                    .nth(1)
                    .unwrap_or("")
                    .split("),(")
                    .map(|o| {
                        let name = o.split('"').nth(1).unwrap().to_owned();
                        let pid = o.split("pid=").nth(1).unwrap().split(',').next().unwrap();
                        (name, pid.parse().unwrap())
                    })
                    .collect()
            });
            let row = SsRow {
                kind: kind.into(),
                state: state.into(),
                recv_q: words[2].parse().unwrap(),
                send_q: words[3].parse().unwrap(),
                peer: words[end - 1].parse().unwrap(),
                owners,
            };
            (words[end - 3].parse().unwrap(), row)
        })
        .collect()
}

fn json_rows(doc: &Value) -> BTreeMap<u64, SsRow> {
    doc.as_array()
        .unwrap()
        .iter()
        .filter(|s| s["inode"] != 0)
        .map(|s| {
            let owners = s["processes"].as_array().unwrap().iter().map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["pid"].as_u64().unwrap(),
                )
            });
            let row = SsRow {
                kind: s["type"].as_str().unwrap().into(),
                state: s["state"].as_str().unwrap().into(),
                recv_q: s["recv_q"].as_u64().unwrap(),
                send_q: s["send_q"].as_u64().unwrap(),
                peer: s["peer_inode"].as_u64().unwrap(),
                owners: owners.collect(),
            };
            (s["inode"].as_u64().unwrap(), row)
        })
        .collect()
}

#[test]
fn json_agrees_with_ss_and_the_schema() {
    require!(Need::Netns, Need::Tool("ss"), Need::Tool("sleep"));
    let pop = populate("json");
    let (ss, code) = pop.run("ss", &["-xapH"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&pop.tcpstat(&["-xap", "--json"])).unwrap();
    assert_valid(&validator(Some("unix_listing")), &doc);
    let want = parse_ss(&ss);
    assert_eq!(want.len(), 13, "{ss}");
    assert_eq!(json_rows(&doc), want, "ss -xapH:\n{ss}");
    // Exact addresses: the bytes that are not UTF-8, the abstract NULs.
    let items = doc.as_array().unwrap();
    let mut newline_path = pop.dir().as_os_str().as_bytes().to_vec();
    newline_path.push(b'/');
    newline_path.extend_from_slice(NEWLINE_NAME);
    let bytes: Vec<Value> = newline_path.iter().map(|&b| b.into()).collect();
    assert!(items
        .iter()
        .any(|s| s["path_bytes"] == Value::Array(bytes.clone())));
    let name = format!("\0tcpstat-unix-{}\0x", std::process::id());
    assert!(items
        .iter()
        .any(|s| s["path"] == name.as_str() && s["abstract"] == true));
    let waiting: Vec<_> = items.iter().filter(|s| s["inode"] == 0).collect();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["state"], "CONNECTING");
    // /proc has no peers nor queues, but the same sockets.
    let proc: Value =
        serde_json::from_str(&pop.tcpstat(&["-xap", "--json", "--source", "proc"])).unwrap();
    assert_valid(&validator(Some("unix_listing")), &proc);
    assert_eq!(proc.as_array().unwrap().len(), items.len());
    assert!(proc
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["peer_inode"].is_null() && s["refcnt"].is_u64()));
}

/// The inodes a listing printed (its table's I-Node column).
fn inodes(table: &str) -> Vec<u64> {
    let mut all = Vec::new();
    for line in table.lines().skip(2) {
        // The cell after the state: 50 columns of fixed cells first.
        let inode = line.get(50..).and_then(|r| r.split_whitespace().next());
        all.push(inode.and_then(|i| i.parse().ok()).unwrap_or(u64::MAX));
    }
    all
}

#[test]
fn path_and_owner_filters() {
    require!(Need::Netns, Need::Tool("sleep"));
    let pop = populate("filter");
    let dir = pop.dir().to_str().unwrap();
    let pid = pop.holder.id().to_string();
    let listen = format!("{dir}/listen*");
    // The listener, its accepted end and the connection it has not
    // accepted carry its path.
    assert_eq!(inodes(&pop.tcpstat(&["-xa", "src", &listen])).len(), 3);
    assert_eq!(
        inodes(&pop.tcpstat(&["-xa", "src", "@tcpstat-unix-*"])).len(),
        1
    );
    // Peers named by the listener's path: the client it accepted (the one
    // waiting has no peer with an inode; ss finds none either).
    let peers = pop.tcpstat(&["-xa", "dst", &listen]);
    assert_eq!(inodes(&peers).len(), 1, "{peers}");
    let either = pop.tcpstat(&["-xa", "src", &listen, "or", "dst", &listen]);
    assert_eq!(inodes(&either).len(), 4, "{either}");
    let not = pop.tcpstat(&["-xa", "not", "src", &format!("{dir}/*")]);
    assert_eq!(inodes(&not).len(), 13 + 1 - 5, "{not}");
    // Every socket with an inode is held by the one sleep.
    assert_eq!(inodes(&pop.tcpstat(&["-xa", "--pid", &pid])).len(), 13);
    assert_eq!(
        inodes(&pop.tcpstat(&["-xa", "--program", "sleep"])).len(),
        13
    );
    assert_eq!(
        inodes(&pop.tcpstat(&["-xa", "--program", "nginx"])).len(),
        0
    );
}

#[test]
fn inet_filters_and_flags_are_refused_with_one_line() {
    let cases: &[&[&str]] = &[
        &["-x", "--sport", "22"],
        &["-x", "sport", "=", ":22"],
        &["-x", "dst", "10.0.0.1", "dport", ":80"],
        &["-x", "state", "listening"],
        &["-tx", "--sport", "22"],
        &["-tux", "--json"],
        &["-xo"],
        &["-x", "-s"],
        &["-x", "dst", "/run/*", "--source", "proc"],
        &["-x", "src"],
        &["-t", "src", "/run/*.sock"],
    ];
    for args in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
            .args(*args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("tcpstat: "), "{args:?}: {stderr}");
        if args[0] == "-t" {
            assert!(
                stderr.contains("unix socket paths are filtered with -x"),
                "{stderr}"
            );
        }
    }
}
