//! `-i` and `-m` against `ss -tmi` on real connections in a two-namespace
//! lab: an idle one, one after a bulk transfer, a sender stalled by a
//! receiver with a small SO_RCVBUF that does not read, and one losing
//! segments while the peer's veth is down. Every field ss prints must
//! equal tcpstat's `--json` value read in the same instant (a tcpstat
//! read on each side of ss's), or lie within natural drift for the times
//! and rates; the JSON must also satisfy the schema. `--events -i`
//! follows each text event with the same line. And the errors:
//! `--source proc` refuses `-i`/`-m`, and when `--source auto` falls back
//! to /proc it says what the listing lacks.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::events::first_event_and_next;
use support::inside::{inside_mismatches, parse_ss_inside};
use support::netns::{Lab, Netns, Side, VETH};
use support::oracle::{netstat_form, Key};
use support::schema::{assert_valid, validator};
use support::sock;
use support::{require, Need};

const TCPSTAT: &str = env!("CARGO_BIN_EXE_tcpstat");

/// tcpstat's sockets of `ns` with info and memory, by key; the array is
/// checked against the schema.
fn tcpstat_inside(ns: &Netns) -> (Value, Vec<(Key, Value)>) {
    let text = ns.stdout(TCPSTAT, &["-tnim", "--json"]);
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let rows = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let end = |e: &Value| {
                let ip: IpAddr = e["address"].as_str().unwrap().parse().unwrap();
                SocketAddr::new(netstat_form(ip), e["port"].as_u64().unwrap() as u16)
            };
            ((end(&s["local"]), end(&s["remote"])), s.clone())
        })
        .collect();
    (doc, rows)
}

/// Compares the sockets `keys` in `ns`: tcpstat, ss, tcpstat, retried
/// until ss agrees with one of the two tcpstat reads (a connection whose
/// timer fires between reads moves).
fn assert_agrees_with_ss(ns: &Netns, keys: &[(&str, Key)], drift: f64) {
    let schema = validator(None);
    let mut last = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let (doc, before) = tcpstat_inside(ns);
        let ss = parse_ss_inside(&ns.stdout("ss", &["-tmi", "-nH"]));
        let (_, after) = tcpstat_inside(ns);
        let elapsed = started.elapsed().as_millis() as u64;
        assert_valid(&schema, &doc);
        last.clear();
        for (name, key) in keys {
            let words = ss
                .get(key)
                .unwrap_or_else(|| panic!("{name}: ss does not list {key:?}"));
            for word in ["cong", "cwnd", "segs_in", "skmem.rb", "rtt"] {
                assert!(
                    words.contains_key(word),
                    "{name}: ss shows no {word}: {words:?}"
                );
            }
            let find = |rows: &[(Key, Value)]| {
                rows.iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| panic!("{name}: tcpstat does not list {key:?}"))
            };
            let problems = [find(&before), find(&after)]
                .iter()
                .map(|s| inside_mismatches(words, s, elapsed, drift))
                .min_by_key(Vec::len)
                .unwrap();
            if !problems.is_empty() {
                last.push(format!("{name} {key:?}:\n    {}", problems.join("\n    ")));
            }
        }
        if last.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "tcpstat -i/-m disagree with ss -tmi:\n  {}",
        last.join("\n  ")
    );
}

/// A connection from A to a listener on B; returns both ends.
fn connect(lab: &Lab, listener: &TcpListener) -> (TcpStream, TcpStream) {
    let to = listener.local_addr().unwrap();
    let client = lab
        .a
        .enter(|| sock::connect_from(IpAddr::V4(lab.v4(Side::A, 0)), to));
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

fn key_of(s: &TcpStream) -> Key {
    (s.local_addr().unwrap(), s.peer_addr().unwrap())
}

/// Writes until the send buffer is full, without blocking.
fn fill(stream: &mut TcpStream) -> usize {
    stream.set_nonblocking(true).unwrap();
    let chunk = vec![7u8; 64 << 10];
    let mut sent = 0;
    loop {
        match stream.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return sent,
            Err(e) => panic!("write: {e}"),
        }
    }
}

#[test]
fn info_and_memory_agree_with_ss() {
    require!(Need::Netns, Need::Tool("ss"));
    let lab = Lab::new("info");
    let b_addr = SocketAddr::new(IpAddr::V4(lab.v4(Side::B, 0)), 0);
    let listen = |rcvbuf| lab.b.enter(|| sock::listen(b_addr, None, rcvbuf));
    let (plain, small) = (listen(None), listen(Some(4096)));

    // Idle: a little each way, then nothing.
    let (mut idle_a, mut idle_b) = connect(&lab, &plain);
    idle_a.write_all(b"hello").unwrap();
    idle_b.read_exact(&mut [0; 5]).unwrap();
    idle_b.write_all(b"hi").unwrap();
    idle_a.read_exact(&mut [0; 2]).unwrap();

    // IPv6, idle: its own listener, the traffic class attribute.
    let b6 = SocketAddr::new(IpAddr::V6(lab.v6(Side::B)), 0);
    let plain6 = lab.b.enter(|| sock::listen(b6, Some(true), None));
    let to6 = plain6.local_addr().unwrap();
    let idle6_a = lab
        .a
        .enter(|| sock::connect_from(IpAddr::V6(lab.v6(Side::A)), to6));
    let (idle6_b, _) = plain6.accept().unwrap();

    // Bulk: 16 MiB from A to B, all read.
    let (mut bulk_a, mut bulk_b) = connect(&lab, &plain);
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0; 1 << 20];
        let mut total = 0;
        while total < 16 << 20 {
            total += bulk_b.read(&mut buf).unwrap();
        }
        bulk_b
    });
    bulk_a.write_all(&vec![1u8; 16 << 20]).unwrap();
    let bulk_b = reader.join().unwrap();

    // Window-limited: B never reads; A fills its send buffer.
    let (mut stalled_a, stalled_b) = connect(&lab, &small);
    assert!(fill(&mut stalled_a) > 0);
    std::thread::sleep(Duration::from_millis(300));

    let keys = [
        ("idle", key_of(&idle_a)),
        ("idle over IPv6", key_of(&idle6_a)),
        ("bulk sender", key_of(&bulk_a)),
        ("stalled sender", key_of(&stalled_a)),
    ];
    assert_agrees_with_ss(&lab.a, &keys, 0.25);
    let keys = [
        ("idle receiver", key_of(&idle_b)),
        ("idle IPv6 receiver", key_of(&idle6_b)),
        ("bulk receiver", key_of(&bulk_b)),
        ("stalled receiver", key_of(&stalled_b)),
    ];
    assert_agrees_with_ss(&lab.b, &keys, 0.25);
    let (_, rows) = tcpstat_inside(&lab.a);
    let find = |stream: &TcpStream| &rows.iter().find(|(k, _)| *k == key_of(stream)).unwrap().1;
    let v6 = find(&idle6_a);
    assert_eq!(v6["proto"], "tcp6");
    assert!(
        v6["info"]["tclass"].is_u64(),
        "IPv6 has a traffic class: {v6}"
    );
    let stalled = find(&stalled_a);
    assert!(
        stalled["info"]["rwnd_limited_us"].as_u64() > Some(0),
        "a sender facing a full window is rwnd-limited: {stalled}"
    );

    // Loss: B's end of the link goes down while A has data in flight; A
    // retransmits into the void.
    let (mut lossy_a, _lossy_b) = connect(&lab, &plain);
    lab.b.ip(&["link", "set", VETH, "down"]);
    lossy_a.write_all(&vec![2u8; 64 << 10]).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_agrees_with_ss(&lab.a, &[("lossy sender", key_of(&lossy_a))], 0.25);
    let (_, rows) = tcpstat_inside(&lab.a);
    let lossy = &rows.iter().find(|(k, _)| *k == key_of(&lossy_a)).unwrap().1;
    let info = &lossy["info"];
    assert!(
        info["total_retrans"].as_u64() > Some(0) && info["lost"].as_u64() > Some(0),
        "segments sent into a down link are retransmitted and lost: {lossy}"
    );
    lab.b.ip(&["link", "set", VETH, "up"]);
}

#[test]
fn absent_without_the_flags_and_refused_from_proc() {
    // Plain JSON has neither key; ordinary sockets of this host suffice.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let out = Command::new(TCPSTAT)
        .args(["-tn", "--json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    for socket in doc.as_array().unwrap() {
        assert!(socket.get("info").is_none() && socket.get("memory").is_none());
    }
    let out = Command::new(TCPSTAT).args(["-s", "-i"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "-s -i is a usage error");
    for flags in [&["-i"][..], &["-m"], &["-im"]] {
        let out = Command::new(TCPSTAT)
            .args(flags)
            .args(["--source", "proc"])
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("tcpstat: -") && stderr.contains("/proc/net/tcp has neither"),
            "{stderr}"
        );
    }
}

#[test]
fn text_events_carry_the_info_line() {
    require!(Need::Netns);
    let ns = Netns::create("info", "events");
    let listener = ns.enter(|| sock::listen("127.0.0.1:0".parse().unwrap(), None, None));
    let to = listener.local_addr().unwrap();
    let port = to.port().to_string();
    let mut made = None;
    let lines = first_event_and_next(
        TCPSTAT,
        &ns,
        &["--events=sampled", "-ni", "--port", &port],
        |l| l.contains(" new ") && l.contains("ESTABLISHED"),
        || made = Some(ns.enter(|| (TcpStream::connect(to).unwrap(), listener.accept()))),
        1,
    );
    let info = &lines[1];
    assert!(info.starts_with("\t "), "{lines:?}");
    for word in [" cwnd:", " rtt:", " mss:", " rcv_space:"] {
        assert!(info.contains(word), "no {word} in {info:?}");
    }
    drop(made);
}

#[test]
fn auto_says_what_the_proc_fallback_lacks() {
    // Sockets of this host, on a port of this test's own.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let run = |flags: &[&str]| {
        let mut command = Command::new(TCPSTAT);
        command
            .args(flags)
            .args(["-tln", "--json", "--port", &port]);
        let out = support::seccomp::deny_netlink(&mut command)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(0), "{flags:?}: {stderr}");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = doc.as_array().unwrap().clone();
        assert_eq!(rows.len(), 1, "{flags:?}: the listener, from /proc: {doc}");
        assert!(rows[0].get("info").is_none() && rows[0].get("cookie").is_none());
        stderr
    };
    for (flags, lacks) in [
        (&["-i"][..], "which has no tcp_info (-i)"),
        (&["-m"], "which has no socket memory (-m)"),
        (
            &["-im"],
            "which has no tcp_info (-i) nor socket memory (-m)",
        ),
    ] {
        let stderr = run(flags);
        assert_eq!(stderr.lines().count(), 1, "{flags:?}: {stderr}");
        assert!(
            stderr.starts_with("tcpstat: ")
                && stderr.contains("falling back to /proc/net/tcp, ")
                && stderr.trim_end().ends_with(lacks),
            "{flags:?}: {stderr}"
        );
    }
    // Without -i/-m the fallback is silent unless -v.
    assert_eq!(run(&[]), "");
    assert!(run(&["-v"]).contains("falling back to /proc/net/tcp"));
}
