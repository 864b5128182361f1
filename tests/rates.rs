//! Live rates (`-c -i`) and `--sort`/`--top` on real sockets.
//!
//! Rates: a sender in a private namespace is paced by SO_MAX_PACING_RATE
//! at a known 8,000,000 bytes/s to a reader that keeps up; over five
//! passes of `-c 1 -i`, the sender's `acked_bps` and the receiver's
//! `received_bps` must lie within ±10% of the pace (the first pass has no
//! rate), in JSON (checked against the schema) and in the table's
//! `Send/s`/`Recv/s` columns.
//!
//! Sorting: connections to a peer that never reads hold different send
//! queues; the sorted listing must be the unsorted one reordered by that
//! key, largest first, ties in the kernel's order (a stable sort).

mod support;

use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use support::netns::Netns;
use support::schema::{assert_valid, validator};
use support::sock;
use support::{require, Need};

const TCPSTAT: &str = env!("CARGO_BIN_EXE_tcpstat");

/// The pace, bytes per second.
const PACE: u64 = 8_000_000;
/// How far a measured rate may lie from the pace.
const TOLERANCE: f64 = 0.10;
/// tcpstat measures with a raised priority (as bench/ does): on a host
/// shared by parallel builds, a dump preempted for a tenth of a second
/// would skew a 1 s interval by 5% (the rates take the middle of a
/// pass's read) against a sender the kernel keeps pacing meanwhile.
const NICE: &str = "--adjustment=-10";

/// A transfer on loopback in a namespace, paced at [`PACE`]; stopped and
/// joined on drop.
struct PacedTransfer {
    port: u16,
    sender: TcpStream,
    receiver: TcpStream,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl PacedTransfer {
    fn start(ns: &Netns) -> PacedTransfer {
        let (listener, sender, receiver) = ns.enter(|| {
            let listener = sock::listen("127.0.0.1:0".parse().unwrap(), None, None);
            let sender = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (receiver, _) = listener.accept().unwrap();
            (listener, sender, receiver)
        });
        let pace = libc::c_int::try_from(PACE).unwrap();
        sock::set_int(&sender, libc::SOL_SOCKET, libc::SO_MAX_PACING_RATE, pace);
        let stop = Arc::new(AtomicBool::new(false));
        let mut writer = sender.try_clone().unwrap();
        let writing = Arc::clone(&stop);
        let mut reader = receiver.try_clone().unwrap();
        let threads = vec![
            std::thread::spawn(move || {
                let chunk = vec![0x5a_u8; 256 << 10];
                while !writing.load(Ordering::Relaxed) && writer.write_all(&chunk).is_ok() {}
            }),
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 256 << 10];
                while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
            }),
        ];
        PacedTransfer {
            port: listener.local_addr().unwrap().port(),
            sender,
            receiver,
            stop,
            threads,
        }
    }

    fn key(&self, side: &TcpStream) -> (SocketAddr, SocketAddr) {
        (side.local_addr().unwrap(), side.peer_addr().unwrap())
    }
}

impl Drop for PacedTransfer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.sender.shutdown(Shutdown::Both);
        let _ = self.receiver.shutdown(Shutdown::Both);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The JSON socket of `sockets` whose ends are `key`.
fn find(sockets: &Value, key: (SocketAddr, SocketAddr)) -> &Value {
    let end = |e: &Value| -> SocketAddr {
        let ip = e["address"].as_str().unwrap().parse().unwrap();
        SocketAddr::new(ip, e["port"].as_u64().unwrap() as u16)
    };
    sockets
        .as_array()
        .unwrap()
        .iter()
        .find(|s| (end(&s["local"]), end(&s["remote"])) == key)
        .unwrap_or_else(|| panic!("{key:?} not in {sockets}"))
}

/// `measured` bytes/s against the pace: its relative error, after
/// asserting it is within the tolerance.
fn check_pace(what: &str, measured: f64) -> f64 {
    let error = measured / PACE as f64 - 1.0;
    assert!(
        error.abs() <= TOLERANCE,
        "{what}: {measured:.0} bytes/s is {:+.1}% off the {PACE} bytes/s pace",
        error * 100.0
    );
    error
}

#[test]
fn rates_follow_a_paced_sender_in_json() {
    require!(Need::Netns, Need::Tool("ss"));
    let ns = Netns::create("rates", "json");
    let transfer = PacedTransfer::start(&ns);
    // Past slow start: the pace is the limit from here on.
    std::thread::sleep(Duration::from_millis(500));
    let port = transfer.port.to_string();
    let args = ["-tni", "-c", "1", "--count", "6", "--json", "--port", &port];
    let text = ns.stdout("nice", &[&[NICE, TCPSTAT][..], &args].concat());
    let schema = validator(Some("pass"));
    let passes: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(passes.len(), 6, "{text}");
    let (sender, receiver) = (
        transfer.key(&transfer.sender),
        transfer.key(&transfer.receiver),
    );
    let mut errors = Vec::new();
    let mut cookies = Vec::new();
    for (n, pass) in passes.iter().enumerate() {
        assert_valid(&schema, pass);
        let (out, into) = (
            find(&pass["sockets"], sender),
            find(&pass["sockets"], receiver),
        );
        cookies.push((out["cookie"].as_u64(), into["cookie"].as_u64()));
        if n == 0 {
            assert!(out["info"].get("rates").is_none(), "first pass: {out}");
            continue;
        }
        let (sent, got) = (&out["info"]["rates"], &into["info"]["rates"]);
        let bits = |v: &Value, key: &str| v[key].as_f64().unwrap_or_else(|| panic!("{key}: {v}"));
        errors.push(check_pace("sender's acked", bits(sent, "acked_bps") / 8.0));
        errors.push(check_pace(
            "receiver's received",
            bits(got, "received_bps") / 8.0,
        ));
        assert_eq!(sent["received_bps"], 0, "the sender receives ACKs only");
        assert!(bits(sent, "segs_out_per_sec") > 0.0 && bits(got, "segs_in_per_sec") > 0.0);
        let interval = sent["interval_us"].as_u64().unwrap();
        assert!((800_000..1_200_000).contains(&interval), "{interval} µs");
    }
    assert!(cookies[0].0.is_some() && cookies[0].0 != cookies[0].1);
    assert!(cookies.iter().all(|c| *c == cookies[0]), "{cookies:?}");
    assert_eq!(
        cookies[0].0,
        Some(ss_cookie(&ns, sender)),
        "the cookie ss -e shows"
    );
    let worst = errors.iter().fold(0.0_f64, |w, e| w.max(e.abs()));
    eprintln!(
        "paced at {PACE} bytes/s: errors {:?} %, worst {:.2}%",
        errors
            .iter()
            .map(|e| (e * 1000.0).round() / 10.0)
            .collect::<Vec<_>>(),
        worst * 100.0
    );
}

/// The cookie `ss -e` shows (`sk:HEX`) for the socket with ends `key`.
fn ss_cookie(ns: &Netns, key: (SocketAddr, SocketAddr)) -> u64 {
    let text = ns.stdout("ss", &["-tnHe", "state", "established"]);
    let (local, remote) = (key.0.to_string(), key.1.to_string());
    let line = text
        .lines()
        .find(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.get(2) == Some(&local.as_str()) && words.get(3) == Some(&remote.as_str())
        })
        .unwrap_or_else(|| panic!("ss does not list {key:?}: {text}"));
    let hex = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("sk:"))
        .unwrap_or_else(|| panic!("no sk: in {line}"));
    u64::from_str_radix(hex, 16).unwrap()
}

/// A table cell of `per_sec` back to a number: `8.0M` → 8e6.
fn cell_value(cell: &str) -> f64 {
    let (digits, scale) = match cell.chars().last() {
        Some('K') => (&cell[..cell.len() - 1], 1e3),
        Some('M') => (&cell[..cell.len() - 1], 1e6),
        Some('G') => (&cell[..cell.len() - 1], 1e9),
        _ => (cell, 1.0),
    };
    digits
        .parse::<f64>()
        .unwrap_or_else(|e| panic!("{cell}: {e}"))
        * scale
}

#[test]
fn rates_follow_a_paced_sender_in_the_table() {
    require!(Need::Netns);
    let ns = Netns::create("rates", "table");
    let transfer = PacedTransfer::start(&ns);
    std::thread::sleep(Duration::from_millis(500));
    let port = transfer.port.to_string();
    let args = ["-tni", "-c", "1", "--count", "3", "--port", &port];
    let text = ns.stdout("nice", &[&[NICE, TCPSTAT][..], &args].concat());
    let header = "Proto Recv-Q Send-Q Local Address           Foreign Address         \
                  State       Send/s Recv/s Retr/s";
    assert_eq!(text.lines().filter(|l| *l == header).count(), 3, "{text}");
    let sender = format!("{}", transfer.sender.local_addr().unwrap());
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("tcp ") && l.contains("ESTABLISHED"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 6, "{text}");
    for (n, pair) in rows.chunks(2).enumerate() {
        for row in pair {
            // proto recv-q send-q local remote state send/s recv/s retr/s
            let (send, recv, retr) = (row[6], row[7], row[8]);
            if n == 0 {
                assert_eq!([send, recv, retr], ["-", "-", "-"], "first pass: {row:?}");
                continue;
            }
            assert_eq!(retr, "0", "{row:?}");
            if row[3] == sender {
                check_pace("Send/s", cell_value(send));
                assert_eq!(recv, "0", "{row:?}");
            } else {
                check_pace("Recv/s", cell_value(recv));
                assert_eq!(send, "0", "{row:?}");
            }
        }
    }
}

/// Writes up to `limit` bytes without blocking; returns how many.
fn write_some(stream: &mut TcpStream, limit: usize) -> usize {
    stream.set_nonblocking(true).unwrap();
    let chunk = vec![7u8; 16 << 10];
    let mut sent = 0;
    while sent < limit {
        let n = chunk.len().min(limit - sent);
        match stream.write(&chunk[..n]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    sent
}

/// The keys and send queues of a JSON listing, in its order.
fn send_queues(text: &str) -> Vec<(String, u64)> {
    let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let end = |e: &Value| format!("{}:{}", e["address"].as_str().unwrap(), e["port"]);
    doc.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let key = format!("{} {} {}", s["state"], end(&s["local"]), end(&s["remote"]));
            (key, s["send_q"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn sort_by_send_q_is_stable_and_top_keeps_the_first() {
    require!(Need::Netns);
    let ns = Netns::create("rates", "sort");
    // A peer that never reads, with a small buffer: what the senders
    // write beyond it stays in their send queues.
    let (_listener, mut conns) = ns.enter(|| {
        let listener = sock::listen("127.0.0.1:0".parse().unwrap(), None, Some(4096));
        let to = listener.local_addr().unwrap();
        let conns: Vec<(TcpStream, TcpStream)> = (0..4)
            .map(|_| {
                let client = TcpStream::connect(to).unwrap();
                (client, listener.accept().unwrap().0)
            })
            .collect();
        (listener, conns)
    });
    // Nothing, a little, more, as much as fits.
    for ((client, _), limit) in conns.iter_mut().zip([0, 40_000, 120_000, usize::MAX]) {
        write_some(client, limit);
    }
    std::thread::sleep(Duration::from_millis(300));
    let unsorted = send_queues(&ns.stdout(TCPSTAT, &["-tan", "--json"]));
    let sorted = send_queues(&ns.stdout(TCPSTAT, &["-tan", "--json", "--sort", "send-q"]));
    let queues: Vec<u64> = unsorted.iter().map(|(_, q)| *q).collect();
    let mut distinct = queues.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() >= 3,
        "the writers made different queues: {unsorted:?}"
    );
    // The oracle: the unsorted listing, stably sorted by its own queues.
    let mut want = unsorted.clone();
    want.sort_by_key(|(_, q)| std::cmp::Reverse(*q));
    assert_eq!(sorted, want, "sorted; unsorted was {unsorted:?}");
    let mut reversed = unsorted.clone();
    reversed.sort_by_key(|(_, q)| *q);
    let args = ["-tan", "--json", "--sort", "send-q", "--reverse"];
    assert_eq!(send_queues(&ns.stdout(TCPSTAT, &args)), reversed);
    let args = ["-tan", "--json", "--sort", "send-q", "--top", "2"];
    assert_eq!(send_queues(&ns.stdout(TCPSTAT, &args)), want[..2]);
    // Each pass of -c is sorted and cut the same way.
    let args = [
        "-tan", "--sort", "send-q", "--top", "3", "-c", "0.2", "--count", "2",
    ];
    let text = ns.stdout(TCPSTAT, &args);
    let rows: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("tcp "))
        .map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap())
        .collect();
    let top3: Vec<u64> = want[..3].iter().map(|(_, q)| *q).collect();
    assert_eq!(rows, [&top3[..], &top3[..]].concat(), "{text}");
    drop(conns.drain(..));
}

#[test]
fn sorting_on_tcp_info_reads_it_without_showing_it() {
    require!(Need::Netns);
    let ns = Netns::create("rates", "bytes");
    let (_listener, _conns) = ns.enter(|| {
        let listener = sock::listen("127.0.0.1:0".parse().unwrap(), None, None);
        let to = listener.local_addr().unwrap();
        let conns: Vec<(TcpStream, TcpStream)> = [1000, 50_000, 3000]
            .into_iter()
            .map(|n| {
                let mut client = TcpStream::connect(to).unwrap();
                client.write_all(&vec![1u8; n]).unwrap();
                (client, listener.accept().unwrap().0)
            })
            .collect();
        (listener, conns)
    });
    std::thread::sleep(Duration::from_millis(200));
    let listing = |extra: &[&str]| -> Value {
        let text = ns.stdout(
            TCPSTAT,
            &[&["-tan", "--json", "--sort", "bytes"], extra].concat(),
        );
        serde_json::from_str(&text).unwrap()
    };
    let bare = listing(&[]);
    assert!(bare
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s.get("info").is_none()));
    let shown = listing(&["-i"]);
    let bytes: Vec<Option<u64>> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let i = s.get("info")?;
            Some(i["bytes_acked"].as_u64()? + i["bytes_received"].as_u64()?)
        })
        .collect();
    // Largest first: both ends of the 50,000-byte connection (the SYN
    // counts in bytes_acked), then the others; the listener's are 0.
    let mut want = bytes.clone();
    want.sort_by_key(|b| (b.is_none(), std::cmp::Reverse(*b)));
    assert_eq!(bytes, want);
    let big = |b: &Option<u64>| b.is_some_and(|b| b >= 50_000);
    assert!(bytes[..2].iter().all(big) && !big(&bytes[2]), "{bytes:?}");
    let order = |doc: &Value| -> Vec<String> {
        doc.as_array()
            .unwrap()
            .iter()
            .map(|s| s["local"].to_string() + &s["remote"].to_string())
            .collect()
    };
    assert_eq!(
        order(&bare),
        order(&shown),
        "the same order with or without -i"
    );
    let refused = ns.exec(TCPSTAT, &["--sort", "rtt", "--source", "proc"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("tcpstat: --sort: ") && stderr.contains("tcp_info"),
        "{stderr}"
    );
    let refused = ns.exec(TCPSTAT, &["--sort", "rate"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("needs -c"));
}
