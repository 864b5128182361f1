//! A listing is written as the dump reads it (in batches), and it is the
//! same listing as one gathered whole: with thousands of sockets, so that
//! several batches and netlink datagrams are involved, `-tanp`, `--json`
//! and `-tuanp` (TCP's rows, then UDP's) equal the same command with
//! `--top` (which gathers every row before writing), from both sources; and a reader that goes away after one line
//! ends tcpstat quietly; and under `-N all`, namespace by namespace.

mod support;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

/// The tests of this file one at a time: a child one spawns holds,
/// between fork and exec, the other's sockets, and shows in `-p` as their
/// owner in one listing and not the next.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

use support::netns::Netns;
use support::{require, Need};

/// Connections held open: both ends in the namespace, so twice as many
/// sockets, more than one 4096-row batch.
const CONNECTIONS: usize = 2100;

/// UDP sockets bound beside them, in one test: a second protocol with
/// more than a batch of its own, listed after TCP's. (The tests of one
/// binary share its open-file limit: 20000 at most.)
const DATAGRAMS: usize = 4200;

/// Raises this test process's open-file limit to what the sockets need.
fn allow_descriptors(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit write or read only the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}

/// A listener and `CONNECTIONS` connections to it, both ends kept, and
/// `datagrams` bound UDP sockets.
fn population(ns: &Netns, datagrams: usize) -> (TcpListener, Vec<TcpStream>, Vec<UdpSocket>) {
    allow_descriptors(20000);
    ns.enter(|| {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let to: SocketAddr = listener.local_addr().unwrap();
        let mut held = Vec::with_capacity(2 * CONNECTIONS);
        for _ in 0..CONNECTIONS {
            held.push(TcpStream::connect(to).unwrap());
            held.push(listener.accept().unwrap().0);
        }
        let bound = (0..datagrams)
            .map(|_| UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap())
            .collect();
        (listener, held, bound)
    })
}

#[test]
fn a_streamed_listing_equals_one_gathered_whole() {
    require!(Need::Netns);
    let _alone = alone();
    let ns = Netns::create("stream", "same");
    let _held = population(&ns, DATAGRAMS);
    let tcpstat = env!("CARGO_BIN_EXE_tcpstat");
    let mut failures = Vec::new();
    for flags in [
        &["-tanp"][..],
        &["-tanp", "--json"],
        &["-tan", "--dport", "1-65535"],
    ] {
        for source in ["netlink", "proc"] {
            let mut streamed: Vec<&str> = flags.to_vec();
            streamed.extend(["--source", source]);
            let mut gathered = streamed.clone();
            gathered.extend(["--top", "1000000"]);
            let (a, b) = (ns.stdout(tcpstat, &streamed), ns.stdout(tcpstat, &gathered));
            let rows = a.lines().count();
            if rows < 2 * CONNECTIONS {
                failures.push(format!("{streamed:?}: {rows} lines"));
            }
            if a != b {
                failures.push(format!("{streamed:?} differs from {gathered:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_reader_leaving_mid_listing_ends_it_quietly() {
    require!(Need::Netns);
    let _alone = alone();
    let ns = Netns::create("stream", "pipe");
    let _held = population(&ns, 0);
    for flags in [&["-tanp"][..], &["-tan", "--json"]] {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_tcpstat")])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 64];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{flags:?}: {} {stderr}",
            out.status
        );
    }
}

/// `-c` passes, each with its header line (which carries the time) and,
/// in JSON, its `time`, `skipped` and every timer left out: what stays is
/// the rows;
/// and how many rows each has.
fn passes(ns: &Netns, flags: &[&str]) -> Vec<(usize, String)> {
    let out = ns.stdout(env!("CARGO_BIN_EXE_tcpstat"), flags);
    if !flags.contains(&"--json") {
        return out
            .split("tcpstat at ")
            .filter(|pass| !pass.is_empty())
            .map(|pass| pass.split_once('\n').map_or("", |(_, rows)| rows))
            .map(|rows| (rows.lines().count() - 2, rows.to_owned()))
            .collect();
    }
    out.lines()
        .map(|line| {
            let mut pass: serde_json::Value = serde_json::from_str(line).unwrap();
            let object = pass.as_object_mut().unwrap();
            assert!(object.remove("time").is_some() && object.remove("skipped").is_some());
            let sockets = object["sockets"].as_array_mut().unwrap();
            for socket in sockets.iter_mut() {
                socket.as_object_mut().unwrap().remove("timer");
            }
            (sockets.len(), pass.to_string())
        })
        .collect()
}

#[test]
fn streamed_watch_passes_equal_passes_gathered_whole() {
    require!(Need::Netns);
    let _alone = alone();
    let ns = Netns::create("stream", "watch");
    let _held = population(&ns, 0);
    for flags in [&["-tanp"][..], &["-tanp", "--json"]] {
        let mut streamed = flags.to_vec();
        streamed.extend(["-c", "0.2", "--count", "2"]);
        let mut gathered = streamed.clone();
        gathered.extend(["--top", "1000000"]);
        let (a, b) = (passes(&ns, &streamed), passes(&ns, &gathered));
        assert_eq!(a.len(), 2, "{streamed:?}");
        assert!(
            a.iter().all(|(rows, _)| *rows >= 2 * CONNECTIONS),
            "{streamed:?}"
        );
        assert!(a == b, "{streamed:?} differs from {gathered:?}");
    }
}

/// Under `-N all` a namespace's rows are written as its dump ends: the
/// table (NETNS column and all) and the JSON hold the same lines as when
/// every row is gathered first, each namespace's rows in the kernel's
/// order. Namespaces may come in either order (their dumps run on
/// several threads), so lines are compared namespace by namespace.
#[test]
fn every_namespace_streamed_equals_every_namespace_gathered() {
    require!(Need::Netns);
    let _alone = alone();
    allow_descriptors(20000);
    let spaces: Vec<Netns> = ["all-a", "all-b", "all-c"]
        .iter()
        .map(|tag| Netns::create("stream", tag))
        .collect();
    // 3 x 1401 sockets: more than one batch in all, less in each.
    let _held: Vec<_> = spaces
        .iter()
        .map(|ns| {
            ns.enter(|| {
                let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
                let to = listener.local_addr().unwrap();
                let mut held = Vec::new();
                for _ in 0..700 {
                    held.push(TcpStream::connect(to).unwrap());
                    held.push(listener.accept().unwrap().0);
                }
                (listener, held)
            })
        })
        .collect();
    let only_ours = spaces
        .iter()
        .map(|ns| format!("netns {}", ns.name()))
        .collect::<Vec<_>>()
        .join(" or ");
    let tcpstat = env!("CARGO_BIN_EXE_tcpstat");
    for flags in [&["-tanW"][..], &["-tan", "--json"]] {
        let mut streamed = vec!["-N", "all"];
        streamed.extend_from_slice(flags);
        streamed.push(&only_ours);
        let mut gathered = streamed.clone();
        gathered.extend(["--top", "1000000"]);
        let (a, b) = (run(tcpstat, &streamed), run(tcpstat, &gathered));
        let (a, b) = (by_namespace(&a, &spaces), by_namespace(&b, &spaces));
        for (ns, lines) in spaces.iter().zip(&a[1..]) {
            assert_eq!(
                lines.len(),
                1401,
                "{streamed:?}: {} rows in {}",
                lines.len(),
                ns.name()
            );
        }
        assert_eq!(a, b, "{streamed:?} differs from {gathered:?}");
    }
}

/// tcpstat's stdout, run here (in the host's namespace).
fn run(tcpstat: &str, args: &[&str]) -> String {
    let out = Command::new(tcpstat).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The lines naming no namespace of ours (a table's header, a JSON
/// array's brackets), then those naming each, in the order written.
fn by_namespace(text: &str, spaces: &[Netns]) -> Vec<Vec<String>> {
    let mut groups = vec![Vec::new(); spaces.len() + 1];
    for line in text.lines() {
        let at = spaces.iter().position(|ns| {
            line.contains(&format!("{} ", ns.name()))
                || line.contains(&format!("\"{}\"", ns.name()))
        });
        // Which object of a JSON array is last (and has no comma) depends
        // on the order the namespaces came in.
        let line = line.strip_suffix(',').unwrap_or(line);
        groups[at.map_or(spaces.len(), |i| i)].push(line.to_owned());
    }
    let others = groups.pop().unwrap();
    groups.insert(0, others);
    groups
}
