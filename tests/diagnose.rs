//! The diagnosis commands end to end on real sockets in a private network
//! namespace: `-s` names a process leaking CLOSE_WAIT with its count and
//! counts TIME_WAIT as ss does; `why` answers with the exit status a real
//! bind() agrees with. (The bind rules themselves are checked against real
//! bind() calls case by case in src/diagnose/bind.)

mod support;

use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use support::netns::Netns;
use support::{require, Need};
use tcpstat::diagnose::bind::{probe, Probe};

const LEAKED: usize = 12;
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn tcpstat(ns: &Netns, args: &[&str]) -> (i32, String) {
    let out = ns.exec(env!("CARGO_BIN_EXE_tcpstat"), args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "tcpstat {args:?}: {stderr}");
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn count_ss(ns: &Netns, state: &str) -> usize {
    ns.stdout("ss", &["-tanH", "state", state]).lines().count()
}

/// Waits until ss counts `want` sockets in `state`.
fn settle(ns: &Netns, state: &str, want: usize) {
    let start = Instant::now();
    while count_ss(ns, state) != want {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{state} never reached {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server that never closes what its clients closed: LEAKED sockets in
/// CLOSE_WAIT, held by this test process. Plus TIME_WAIT sockets from
/// connections closed server side first on another port.
struct Leak {
    _listener: TcpListener,
    _leaked: Vec<TcpStream>,
    port: u16,
    tw_port: u16,
}

fn build(ns: &Netns) -> Leak {
    ns.enter(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut leaked = Vec::new();
        for _ in 0..LEAKED {
            let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
            leaked.push(listener.accept().unwrap().0);
            drop(client);
        }
        let tw = TcpListener::bind("127.0.0.1:0").unwrap();
        let tw_port = tw.local_addr().unwrap().port();
        for _ in 0..3 {
            let client = TcpStream::connect(("127.0.0.1", tw_port)).unwrap();
            let (server, _) = tw.accept().unwrap();
            drop(server);
            drop(client);
        }
        Leak {
            _listener: listener,
            _leaked: leaked,
            port,
            tw_port,
        }
    })
}

#[test]
fn summary_names_the_leaking_process_and_counts_like_ss() {
    require!(Need::Netns, Need::Tool("ss"));
    let ns = Netns::create("diag", "summary");
    let _leak = build(&ns);
    settle(&ns, "close-wait", LEAKED);
    settle(&ns, "time-wait", 3);
    let (status, out) = tcpstat(&ns, &["-s", "--json"]);
    assert_eq!(status, 0);
    let summary: Value = serde_json::from_str(&out).expect("one JSON object");
    let count = |state: &str| {
        summary["states"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["state"] == state)
            .map(|c| c["tcp"].as_u64().unwrap() + c["tcp6"].as_u64().unwrap())
            .unwrap()
    };
    assert_eq!(count("TIME_WAIT") as usize, count_ss(&ns, "time-wait"));
    assert_eq!(count("CLOSE_WAIT") as usize, LEAKED);
    let pid = std::process::id();
    let leak = summary["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .find(|m| m.contains("CLOSE_WAIT") && m.contains(&format!("pid {pid} ")))
        .unwrap_or_else(|| panic!("no CLOSE_WAIT finding naming pid {pid}: {summary}"));
    assert!(leak.contains(&format!("{LEAKED} sockets")), "{leak}");
    // The text form says the same.
    let (_, text) = tcpstat(&ns, &["-s"]);
    assert!(text.contains(leak), "{text}");
}

/// What real bind() calls on 127.0.0.1:port say in `ns`, without and with
/// SO_REUSEADDR. (std's TcpListener::bind always sets SO_REUSEADDR, so it
/// cannot tell the two apart.)
fn real_bind(ns: &Netns, port: u16) -> Probe {
    ns.enter(|| probe(port, Some(LOOPBACK)).expect("bind probe"))
}

#[test]
fn why_exit_status_agrees_with_a_real_bind() {
    require!(Need::Netns, Need::Tool("ss"));
    let ns = Netns::create("diag", "why");
    let leak = build(&ns);
    settle(&ns, "time-wait", 3);
    let free = ns.enter(|| {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    });
    for (port, held) in [(leak.port, true), (leak.tw_port, true), (free, false)] {
        let (status, out) = tcpstat(
            &ns,
            &["why", &port.to_string(), "--addr", "127.0.0.1", "--json"],
        );
        let verdict: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(verdict["bindable"], !held, "{verdict}");
        assert_eq!(status, if held { 1 } else { 0 }, "{verdict}");
        let kernel = real_bind(&ns, port);
        assert_eq!(
            kernel.bindable, !held,
            "port {port}: the kernel disagrees with {verdict}"
        );
        if port == leak.port {
            // A listener blocks every bind, SO_REUSEADDR or not.
            assert_eq!(verdict["bindable_with_reuseaddr"], false, "{verdict}");
            assert!(!kernel.bindable_with_reuseaddr);
        }
        if port == leak.tw_port {
            // The remnants came from a listener with SO_REUSEADDR (std sets
            // it), which the dump cannot show: the verdict says it does not
            // know, and the kernel lets a reuse bind through.
            assert!(verdict["bindable_with_reuseaddr"].is_null(), "{verdict}");
            assert!(kernel.bindable_with_reuseaddr);
            assert_eq!(verdict["held_by"]["remnants"], 3, "{verdict}");
            let left = verdict["expires_ms"].as_u64().unwrap();
            assert!(left > 0 && left <= 60_000, "{verdict}");
        }
    }
}
