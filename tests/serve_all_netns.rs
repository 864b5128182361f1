//! `tcpstat serve -N all` on real namespaces: three namespaces of ours,
//! each with its own sockets in different states, are counted apart under
//! their labels (`netns`), each state equal to what `ss -tanH` counts
//! inside that namespace; the real Prometheus scrapes the same and its
//! query API gives the same per namespace; a namespace made after a scrape
//! is in the next one and one deleted is gone from it without an error;
//! `--textfile` writes the same series.
//!
//! serve and Prometheus run in the first namespace and talk over IPv6
//! loopback ([::1]), while the sockets under test are IPv4, so their own
//! connections never change the IPv4 counts compared with ss. Other
//! namespaces on the machine are read too; only ours are checked.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::child::{exit_within, kill_if_running, stderr_of};
use support::exposition::samples;
use support::netns::Netns;
use support::signals::default_signals;
use support::sock::{listen, no_fork};
use support::tempdir::TempDir;
use support::{require, Need};

const BIN: &str = env!("CARGO_BIN_EXE_tcpstat");
/// Where serve listens, inside the first namespace.
const LISTEN: &str = "[::1]:9923";
/// Where Prometheus listens, beside it.
const PROMETHEUS: &str = "[::1]:9090";
const GROUP: &str = "allns-serve";

/// The metric's state labels, and how `ss -tanH` writes each.
const STATES: [(&str, &str); 10] = [
    ("established", "ESTAB"),
    ("syn_sent", "SYN-SENT"),
    ("syn_recv", "SYN-RECV"),
    ("fin_wait1", "FIN-WAIT-1"),
    ("fin_wait2", "FIN-WAIT-2"),
    ("time_wait", "TIME-WAIT"),
    ("close_wait", "CLOSE-WAIT"),
    ("last_ack", "LAST-ACK"),
    ("listen", "LISTEN"),
    ("closing", "CLOSING"),
];

/// A child process (serve, Prometheus), killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        kill_if_running(&mut self.0);
    }
}

/// Starts `PROGRAM ARGS` in `ns`.
fn start_in(ns: &Netns, program: &str, args: &[&str]) -> Running {
    let _guard = no_fork();
    let child = default_signals(
        Command::new("ip")
            .args(["netns", "exec", ns.name(), program])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )
    .spawn()
    .expect("start in the namespace");
    Running(child)
}

/// IPv4 sockets of one namespace, in states ss can tell apart, held
/// until dropped: `listeners` listening ports on 127.0.0.1 from `port`,
/// `open` connections accepted and held, `half_closed` whose client shut
/// its side (server CLOSE_WAIT, client FIN_WAIT2), `closed_first` the
/// server closed first (server TIME_WAIT), `queued` never accepted.
#[derive(Clone, Copy)]
struct Shape {
    port: u16,
    listeners: u16,
    open: usize,
    half_closed: usize,
    closed_first: usize,
    queued: usize,
}

struct Population {
    _held: Vec<TcpStream>,
    _listeners: Vec<TcpListener>,
}

impl Population {
    fn build(ns: &Netns, shape: Shape) -> Population {
        let population = ns.enter(|| {
            let _guard = no_fork();
            let listeners: Vec<TcpListener> = (0..shape.listeners)
                .map(|i| listen(addr(shape.port + i), None, None))
                .collect();
            let web = &listeners[0];
            let mut held = Vec::new();
            let pair = || {
                let client = TcpStream::connect(addr(shape.port)).unwrap();
                let (server, _) = web.accept().unwrap();
                (client, server)
            };
            for _ in 0..shape.open {
                let (client, server) = pair();
                held.extend([client, server]);
            }
            for _ in 0..shape.half_closed {
                let (client, server) = pair();
                client.shutdown(std::net::Shutdown::Write).unwrap();
                held.extend([client, server]);
            }
            for _ in 0..shape.closed_first {
                let (client, server) = pair();
                drop(server);
                let mut byte = [0u8];
                assert_eq!((&client).read(&mut byte).unwrap(), 0);
                drop(client);
            }
            let last = &listeners[listeners.len() - 1];
            let queue_port = last.local_addr().unwrap().port();
            for _ in 0..shape.queued {
                held.push(TcpStream::connect(addr(queue_port)).unwrap());
            }
            Population {
                _held: held,
                _listeners: listeners,
            }
        });
        // Until every socket has reached its state (TIME_WAIT after the
        // client's close, CLOSE_WAIT after the FIN).
        let wanted = [
            ("TIME-WAIT", shape.closed_first),
            ("CLOSE-WAIT", shape.half_closed),
            ("FIN-WAIT-2", shape.half_closed),
        ];
        let deadline = Instant::now() + Duration::from_secs(5);
        while wanted
            .iter()
            .any(|&(state, n)| ss_counts(ns).get(state).copied().unwrap_or(0) != n)
        {
            assert!(
                Instant::now() < deadline,
                "sockets not settled in {}",
                ns.name()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        population
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// IPv4 TCP sockets per state, as `ss -4 -tanH` lists them inside `ns`.
fn ss_counts(ns: &Netns) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in ns.stdout("ss", &["-4", "-tanH"]).lines() {
        let state = line.split_whitespace().next().expect("a state column");
        *counts.entry(state.to_string()).or_default() += 1;
    }
    counts
}

/// `GET path` from inside `ns` to `to`: the status and the body. As
/// HTTP/1.0, so that no answer comes chunked (Prometheus chunks a long
/// one to HTTP/1.1).
fn get(ns: &Netns, to: &str, path: &str) -> (u16, String) {
    let addr: SocketAddr = to.parse().unwrap();
    let Ok(mut stream) = ns.enter(|| TcpStream::connect(addr)) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: x\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(request.as_bytes());
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
    (status.unwrap_or(0), body.to_string())
}

/// A scrape of serve in `ns`. On a machine so loaded that one dump of
/// every namespace outlasts serve's 60 s connection life, the connection
/// ends with no answer; the dump goes on, and a scrape sent then waits for
/// that same dump (tried three times in all).
fn scrape(ns: &Netns) -> BTreeMap<String, f64> {
    for _ in 0..3 {
        match get(ns, LISTEN, "/metrics") {
            (200, body) => return samples(&body),
            (0, _) => eprintln!("note: a dump outlasted serve's connection; scraping again"),
            (status, body) => panic!("{status}: {body}"),
        }
    }
    panic!("no answer to three scrapes")
}

/// `tcpstat_sockets` of namespace `label`, IPv4, per state label.
fn metric_counts(m: &BTreeMap<String, f64>, label: &str) -> BTreeMap<String, f64> {
    STATES
        .iter()
        .filter_map(|(state, _)| {
            let series = format!(
                r#"tcpstat_sockets{{netns="{label}",state="{state}",family="ipv4",protocol="tcp"}}"#
            );
            Some((state.to_string(), *m.get(&series)?))
        })
        .collect()
}

/// What ss counts in `ns`, keyed and valued as the metrics are.
fn oracle(ns: &Netns) -> BTreeMap<String, f64> {
    let counts = ss_counts(ns);
    STATES
        .iter()
        .map(|(state, ss)| {
            (
                state.to_string(),
                counts.get(*ss).copied().unwrap_or(0) as f64,
            )
        })
        .collect()
}

/// The label `-N all` gives the namespace `ns` (its NETNS column), read
/// from the listing of its listener on `port`.
fn label_of(ns: &Netns, port: u16) -> String {
    let out = Command::new(BIN)
        .args(["-N", "all", "-tln", "--json", "--sport", &port.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inode = std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(format!("/run/netns/{}", ns.name())).unwrap(),
    );
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["netns"]["inode"] == inode)
        .and_then(|r| r["netns"]["name"].as_str())
        .unwrap_or_else(|| panic!("{}'s listener not listed: {rows}", ns.name()))
        .to_string()
}

#[test]
fn each_namespace_is_counted_apart_as_ss_counts_it() {
    require!(
        Need::Netns,
        Need::Ipv6,
        Need::Tool("ss"),
        Need::Tool("prometheus")
    );
    let a = Netns::create(GROUP, "a");
    let b = Netns::create(GROUP, "b");
    let shape_a = Shape {
        port: 7001,
        listeners: 1,
        open: 3,
        half_closed: 1,
        closed_first: 0,
        queued: 0,
    };
    let shape_b = Shape {
        port: 7001,
        listeners: 2,
        open: 2,
        half_closed: 0,
        closed_first: 2,
        queued: 1,
    };
    let _pop_a = Population::build(&a, shape_a);
    let _pop_b = Population::build(&b, shape_b);
    let mut server = start_in(&a, BIN, &["serve", "-N", "all", "--listen", LISTEN]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&a, LISTEN, "/-/none").0 == 0 {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("serve ended ({status}): {}", stderr_of(&mut server.0));
        }
        assert!(Instant::now() < deadline, "serve did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    // b has no process in it: its ip netns name is its label. a has
    // serve's: whatever -N all calls it (its unit, if the test runs in
    // one), and NETNS shows.
    let (label_a, label_b) = (label_of(&a, 7001), label_of(&b, 7001));
    assert_eq!(label_b, b.name());

    let start = Instant::now();
    let m = scrape(&a);
    let took = start.elapsed();
    assert_eq!(m["tcpstat_scrape_success"], 1.0);
    assert!(m["tcpstat_scrape_namespaces"] >= 2.0, "{m:#?}");
    for (ns, label) in [(&a, &label_a), (&b, &label_b)] {
        assert_eq!(metric_counts(&m, label), oracle(ns), "{label}");
    }
    let expected_b: BTreeMap<String, f64> = [
        ("established", 2.0 * 2.0 + 2.0),
        ("time_wait", 2.0),
        ("listen", 2.0),
    ]
    .into_iter()
    .map(|(s, n)| (s.to_string(), n))
    .collect();
    let got_b = metric_counts(&m, &label_b);
    for (state, n) in &expected_b {
        assert_eq!(got_b[state], *n, "{state} in {label_b}");
    }
    // The listener each namespace has on the same address and port, apart.
    let queue = |label: &str| {
        format!(r#"tcpstat_listen_queue_length{{netns="{label}",address="127.0.0.1",port="7002"}}"#)
    };
    assert_eq!(m[&queue(&label_b)], 1.0);
    assert!(!m.contains_key(&queue(&label_a)));
    let close_wait = format!(
        r#"tcpstat_listen_port_connections{{netns="{label_a}",port="7001",state="close_wait"}}"#
    );
    assert_eq!(m[&close_wait], 1.0);

    // A namespace made after that scrape is in the next.
    let c = Netns::create(GROUP, "c");
    let shape_c = Shape {
        port: 7005,
        listeners: 1,
        open: 0,
        half_closed: 0,
        closed_first: 1,
        queued: 2,
    };
    let pop_c = Population::build(&c, shape_c);
    let m = scrape(&a);
    assert_eq!(metric_counts(&m, c.name()), oracle(&c), "{}", c.name());
    assert_eq!(
        m[&format!(
            r#"tcpstat_sockets{{netns="{}",state="time_wait",family="ipv4",protocol="tcp"}}"#,
            c.name()
        )],
        1.0
    );

    // Prometheus scrapes the same, per namespace.
    let dir = TempDir::new(GROUP, "prom");
    let expected: Counts = [
        (&a, label_a.as_str()),
        (&b, label_b.as_str()),
        (&c, c.name()),
    ]
    .into_iter()
    .map(|(ns, label)| (label.to_string(), oracle(ns)))
    .collect();
    check_prometheus(&a, &dir, took, &expected);

    // --textfile, once: the same series.
    let path = dir.0.join("tcpstat.prom");
    let path_text = path.to_str().unwrap();
    let mut once = start_in(&a, BIN, &["serve", "-N", "all", "--textfile", path_text]);
    let status = exit_within(&mut once.0, Duration::from_secs(120)).expect("one write");
    assert_eq!(status.code(), Some(0), "{}", stderr_of(&mut once.0));
    let written = samples(&std::fs::read_to_string(&path).unwrap());
    for (ns, label) in [
        (&a, label_a.as_str()),
        (&b, label_b.as_str()),
        (&c, c.name()),
    ] {
        assert_eq!(
            metric_counts(&written, label),
            oracle(ns),
            "textfile, {label}"
        );
    }

    // A namespace deleted since is left out, not an error.
    let gone = c.name().to_string();
    drop(pop_c);
    drop(c);
    let m = scrape(&a);
    assert_eq!(m["tcpstat_scrape_success"], 1.0);
    assert!(metric_counts(&m, &gone).is_empty(), "{gone} still listed");
    assert_eq!(m["tcpstat_scrape_errors_total"], 0.0);
}

/// Prometheus in `ns` scrapes serve there until its query API gives the
/// `expected` counts. Every namespace on the machine is read: the scrape
/// interval (and timeout) leaves room for a dump that `took` as long as
/// the first (one that took 0.1 s: every 2 s). A dump serve cannot answer
/// within its connections' 60 s life, as on a machine loaded with other
/// namespaces' sockets, is no test of Prometheus: that half is skipped,
/// said on stderr.
fn check_prometheus(ns: &Netns, dir: &TempDir, took: Duration, expected: &Counts) {
    if took > Duration::from_secs(25) {
        let why = format!(
            "the Prometheus half: one dump of every namespace on this machine took {took:?}, \
             too long to scrape within serve's 60 s connection life"
        );
        assert!(std::env::var_os("TCPSTAT_TEST_NO_SKIP").is_none(), "{why}");
        eprintln!("skipped: {why}");
        return;
    }
    let interval = 2 + (took * 2).as_secs();
    let _prometheus = start_prometheus(ns, dir, interval);
    // The first scrape comes within one interval of the start.
    let patience = Duration::from_secs(3 * interval + 30);
    let prom = prometheus_counts(ns, expected, patience);
    let targets = get(ns, PROMETHEUS, "/api/v1/targets").1;
    for (label, counts) in expected {
        let why = format!("prometheus every {interval}s, {label}; its targets: {targets}");
        assert_eq!(prom.get(label), Some(counts), "{why}");
    }
}

/// Prometheus in `ns`, scraping serve every `secs` seconds (its
/// timeout as long), its data in `dir`.
fn start_prometheus(ns: &Netns, dir: &TempDir, secs: u64) -> Running {
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: {secs}s\n  scrape_timeout: {secs}s\nscrape_configs:\n  \
             - job_name: tcpstat\n    static_configs:\n      - targets: ['{LISTEN}']\n"
        ),
    )
    .unwrap();
    start_in(
        ns,
        "prometheus",
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", dir.0.join("data").display()),
            &format!("--web.listen-address={PROMETHEUS}"),
        ],
    )
}

/// IPv4 `tcpstat_sockets` per namespace label and state, as Prometheus's
/// query API gives it: once it gives `expected` for the namespaces there
/// (a scrape may have caught a namespace before its sockets were made),
/// or what it gives after `patience`.
fn prometheus_counts(ns: &Netns, expected: &Counts, patience: Duration) -> Counts {
    let query = "/api/v1/query?query=tcpstat_sockets%7Bfamily%3D%22ipv4%22%7D";
    let deadline = Instant::now() + patience;
    loop {
        let (status, body) = get(ns, PROMETHEUS, query);
        let answer: Option<Value> = (status == 200)
            .then(|| serde_json::from_str(&body).ok())
            .flatten();
        let mut counts = Counts::new();
        for r in answer
            .as_ref()
            .and_then(|a| a["data"]["result"].as_array())
            .into_iter()
            .flatten()
        {
            let (Some(netns), Some(state), Some(value)) = (
                r["metric"]["netns"].as_str(),
                r["metric"]["state"].as_str(),
                r["value"][1].as_str().and_then(|v| v.parse().ok()),
            ) else {
                continue;
            };
            counts
                .entry(netns.to_string())
                .or_default()
                .insert(state.to_string(), value);
        }
        let settled = expected.iter().all(|(l, c)| counts.get(l) == Some(c));
        if settled || Instant::now() > deadline {
            return counts;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Sockets per state, per namespace label.
type Counts = BTreeMap<String, BTreeMap<String, f64>>;
