//! The diagnosis commands end to end on real sockets in a private network
//! namespace: `-s` names a process leaking CLOSE_WAIT with its count and
//! counts TIME_WAIT as ss does; `why` answers with the exit status a real
//! bind() agrees with; `--explain` says who closed first and what the
//! kernel waits for. (The bind rules themselves are checked against real
//! bind() calls case by case in tests/bind.rs.)

mod support;

use serde_json::Value;
use std::borrow::Cow;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown as Direction, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use support::dump::dump_until;
use support::netns::Netns;
use support::{require, Need};
use tcpstat::diagnose::bind::{probe, Probe};
use tcpstat::diagnose::explain;
use tcpstat::model::TcpState;

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
            // it), which the dump cannot show; tcpstat asks the kernel, as
            // this test does, and agrees with it: a reuse bind goes through.
            assert!(kernel.bindable_with_reuseaddr);
            assert_eq!(verdict["bindable_with_reuseaddr"], true, "{verdict}");
            assert_eq!(verdict["kernel"]["asked"], true, "{verdict}");
            assert_eq!(verdict["held_by"]["remnants"], 3, "{verdict}");
            let left = verdict["expires_ms"].as_u64().unwrap();
            assert!(left > 0 && left <= 60_000, "{verdict}");
        }
    }
}

/// `--explain`'s notes on real teardowns, dumped from a namespace of
/// their own.
#[test]
fn explain_notes_on_real_teardowns() {
    require!(Need::Netns);
    let ns = Netns::create("diag", "explain");
    ns.enter(|| {
        let l = TcpListener::bind("127.0.0.1:7200").unwrap();
        let connect = || {
            let c = TcpStream::connect("127.0.0.1:7200").unwrap();
            let (s, _) = l.accept().unwrap();
            (c, s)
        };
        // The client sends and half-closes; the server reads nothing.
        let (mut half, unread) = connect();
        half.write_all(b"abc").unwrap();
        half.shutdown(Direction::Write).unwrap();
        // The server closes; the client neither reads nor closes.
        let (idle, server) = connect();
        drop(server);
        // The server closes, the client reads to the end and closes.
        let (mut done, server) = connect();
        drop(server);
        done.read_to_end(&mut Vec::new()).unwrap();
        drop(done);
        let port = |s: &TcpStream| s.local_addr().unwrap().port();
        let (half_port, idle_port) = (port(&half), port(&idle));
        let rows = dump_until("the teardowns", |r| {
            r.iter().filter(|s| s.state == TcpState::CloseWait).count() == 2
                && r.iter().any(|s| s.state == TcpState::TimeWait)
                && r.iter()
                    .any(|s| s.local.port == half_port && s.state == TcpState::FinWait2)
        });
        let note_of = |local: u16, remote: u16| {
            let s = rows
                .iter()
                .find(|s| s.local.port == local && s.remote.port == remote)
                .unwrap_or_else(|| panic!("{local}->{remote} in {rows:#?}"));
            explain(s).map(Cow::into_owned).unwrap_or_default()
        };
        assert_eq!(
            note_of(7200, half_port),
            "peer closed; this program has not closed (3 bytes unread)"
        );
        assert!(note_of(half_port, 7200).starts_with("half-closed here (shutdown SHUT_WR)"));
        assert!(note_of(7200, idle_port).starts_with("closed here and orphaned"));
        assert_eq!(
            note_of(idle_port, 7200),
            "peer closed; this program has not closed (nor read the end of the stream)"
        );
        let tw = rows.iter().find(|s| s.state == TcpState::TimeWait).unwrap();
        assert!(explain(tw)
            .unwrap()
            .starts_with("closed here first; lingers 2MSL"));
        drop((half, unread, idle));
    });
}

/// Without root, other users' descriptors cannot be read, so a CLOSE_WAIT
/// held by root's process looks unowned. `-s` and `why` run as nobody must
/// say they could not see, not that no program holds the sockets.
#[test]
fn without_root_summary_and_why_say_what_they_could_not_see() {
    require!(Need::Netns, Need::Tool("ss"), Need::Tool("setpriv"));
    let ns = Netns::create("diag", "noroot");
    let leak = build(&ns);
    settle(&ns, "close-wait", LEAKED);
    let as_nobody = |args: &[&str]| -> Value {
        let mut argv = vec![
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_tcpstat"),
        ];
        argv.extend_from_slice(args);
        let out = ns.exec("setpriv", &argv);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    let summary = as_nobody(&["-s", "--json"]);
    assert_eq!(summary["owners_complete"], false, "{summary}");
    let kinds: Vec<&str> = summary["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"owners_incomplete"), "{kinds:?}");
    let mut text_args = vec!["--reuid=65534", "--regid=65534", "--clear-groups"];
    text_args.extend([env!("CARGO_BIN_EXE_tcpstat"), "-s"]);
    let text = String::from_utf8(ns.exec("setpriv", &text_args).stdout).unwrap();
    assert!(!text.contains("no program holds them"), "{text}");
    assert!(text.contains("could not be read"), "{text}");

    let port = leak.port.to_string();
    let verdict = as_nobody(&["why", &port, "--addr", "127.0.0.1", "--json"]);
    assert_eq!(verdict["owners_complete"], false, "{verdict}");
    assert!(
        verdict["caveats"].as_array().unwrap().iter().any(|c| c
            .as_str()
            .unwrap()
            .contains("could not be read without root")),
        "{verdict}"
    );
    // As root the same summary sees this test's process.
    let (_, root) = tcpstat(&ns, &["-s", "--json"]);
    let root: Value = serde_json::from_str(&root).unwrap();
    let pid = std::process::id();
    assert!(
        root.to_string().contains(&format!("\"pid\":{pid}")),
        "{root}"
    );
}
