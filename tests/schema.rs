//! `-s --json`, `why PORT --json` and `-K --dry-run --json` against the
//! committed schema (`#/$defs/summary`, `#/$defs/verdict`,
//! `#/$defs/kill`), on the /proc fixture and on sockets this test opens. The listing, `-c` and `--events` are checked
//! against the same schema in tests/cli.rs and tests/watch.rs.

mod support;

use serde_json::Value;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;
use support::schema::{assert_valid, validator};

/// The fixture's dump (ports 5000-5004 and 6000 listen; 47130 is a
/// TIME_WAIT, 47134 a FIN_WAIT2); owners and sysctls are still read live.
const FIXTURE: [&str; 4] = [
    "--source",
    "proc",
    "--proc-root",
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc/loopback"),
];

/// Runs tcpstat and parses its one line of JSON; returns it with the exit
/// status.
fn json_line(args: &[&str]) -> (Value, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(args)
        .output()
        .expect("run tcpstat");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{args:?}: no line; stderr {stderr}"));
    assert!(
        !line.contains('\n'),
        "{args:?}: one line expected: {stdout}"
    );
    let doc = serde_json::from_str(line).unwrap_or_else(|e| panic!("{args:?}: {e}: {line}"));
    (doc, out.status.code().expect("exit status"))
}

/// `why` with these arguments on the fixture, checked against the schema
/// and its exit status against `bindable`.
fn fixture_verdict(why: &[&str]) -> Value {
    let args = [&["why"], why, &["--json"], &FIXTURE[..]].concat();
    let (doc, status) = json_line(&args);
    assert_valid(&validator(Some("verdict")), &doc);
    assert_eq!(status == 0, doc["bindable"] == true, "{args:?}: {doc}");
    doc
}

#[test]
fn fixture_summary_validates() {
    let schema = validator(Some("summary"));
    for extra in [&[][..], &["-p"], &["-l"]] {
        let args = [&["-s", "--json"], extra, &FIXTURE[..]].concat();
        let (doc, status) = json_line(&args);
        assert_eq!(status, 0, "{args:?}");
        assert_valid(&schema, &doc);
        // What the schema cannot know: the figures are the fixture's.
        let total = if extra == ["-l"] { 6 } else { 23 };
        assert_eq!(doc["total"], total, "{args:?}: {doc}");
    }
    let (doc, _) = json_line(&[&["-s", "--json"], &FIXTURE[..]].concat());
    let kinds: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["zero_window", "no_keepalive"], "{doc}");
}

#[test]
fn fixture_verdicts_validate() {
    let listener = fixture_verdict(&["5000"]);
    assert_eq!(listener["held_by"]["listeners"], 1);
    assert_eq!(listener["holders"][0]["state"], "LISTEN");
    let remnant = fixture_verdict(&["47130"]);
    assert_eq!(remnant["held_by"]["remnants"], 1);
    assert!(remnant["expires_ms"].is_u64(), "{remnant}");
    assert!(remnant["bindable_with_reuseaddr"].is_null(), "{remnant}");
    let connection = fixture_verdict(&["47134"]);
    assert_eq!(connection["holders"][0]["state"], "FIN_WAIT2");
    let dual_stack = fixture_verdict(&["6000", "--addr", "0.0.0.0"]);
    assert_eq!(dual_stack["caveats"].as_array().unwrap().len(), 1);
    let free = fixture_verdict(&["7777"]);
    assert_eq!(free["holders"], Value::Array(Vec::new()));
}

#[test]
fn schema_tells_a_summary_from_a_verdict() {
    let (summary, _) = json_line(&[&["-s", "--json"], &FIXTURE[..]].concat());
    let (verdict, _) = json_line(&[&["why", "5000", "--json"], &FIXTURE[..]].concat());
    assert!(!validator(Some("verdict")).is_valid(&summary));
    assert!(!validator(Some("summary")).is_valid(&verdict));
    assert!(!validator(None).is_valid(&summary));
}

/// A listener on a free loopback port with one connection that ended in
/// TIME_WAIT on the listener's side, and one still open.
struct Sockets {
    listener: TcpListener,
    _open: (TcpStream, TcpStream),
}

impl Sockets {
    fn new() -> Sockets {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The side that closes first keeps the TIME_WAIT: here the server.
        let mut client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        drop(server);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        drop(client);
        sleep(Duration::from_millis(50));
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        Sockets {
            listener,
            _open: (client, server),
        }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }
}

#[test]
fn live_summary_and_verdict_validate() {
    let sockets = Sockets::new();
    let port = sockets.port().to_string();
    let (summary, status) = json_line(&["-s", "--json"]);
    assert_eq!(status, 0);
    assert_valid(&validator(Some("summary")), &summary);
    assert!(summary["total"].as_u64().unwrap() >= 4, "{summary}");

    let (verdict, status) = json_line(&["why", &port, "--json"]);
    assert_valid(&validator(Some("verdict")), &verdict);
    assert_eq!((status, &verdict["bindable"]), (1, &Value::Bool(false)));
    let held = &verdict["held_by"];
    assert_eq!(held["listeners"], 1, "{verdict}");
    assert!(held["connections"].as_u64().unwrap() >= 1, "{verdict}");
    assert!(held["remnants"].as_u64().unwrap() >= 1, "{verdict}");
    let listener = &verdict["holders"][0];
    assert_eq!(listener["state"], "LISTEN");
    assert_eq!(
        listener["processes"][0]["pid"],
        u64::from(std::process::id()),
        "{verdict}"
    );
}

/// `-K --dry-run --json` on live sockets (a dry run needs no privilege and
/// closes nothing): the connections as targets, the listener and the
/// TIME_WAIT as left open. The real closing runs are checked against the
/// same definition in tests/kill.rs.
#[test]
fn live_kill_dry_run_validates() {
    let sockets = Sockets::new();
    let port = sockets.port().to_string();
    let (doc, status) = json_line(&["-K", "--dry-run", "--json", "--port", &port]);
    assert_eq!(status, 0, "{doc}");
    assert_valid(&validator(Some("kill")), &doc);
    assert_eq!(doc["sockets"].as_array().unwrap().len(), 2, "{doc}");
    let left: Vec<&str> = doc["left_open"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["socket"]["state"].as_str().unwrap())
        .collect();
    assert!(
        left.contains(&"LISTEN") && left.contains(&"TIME_WAIT"),
        "{doc}"
    );
    assert!(!validator(Some("verdict")).is_valid(&doc));
    assert!(!validator(Some("kill")).is_valid(&Value::Array(Vec::new())));
}
