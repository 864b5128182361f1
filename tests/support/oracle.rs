//! Parsers for the views of a namespace's TCP sockets that the tests compare:
//! `netstat -tanoe`, `ss -tanoeH`, and tcpstat's `--json` output, each into
//! the same [`Row`].
//!
//! Addresses are keyed in netstat's form: an IPv4-mapped IPv6 address counts
//! as its IPv4 address, and ss's `*` as `::`. tcpstat's JSON is parsed
//! strictly: it must already print addresses that way.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use serde_json::Value;

/// Which program a row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Netstat,
    Ss,
    /// `tcpstat --source netlink` as one dump
    Netlink,
    /// `tcpstat --source netlink` as two dumps side by side
    /// (`--parallel always`)
    Split,
    /// `tcpstat --source proc`
    Proc,
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            View::Netstat => "netstat",
            View::Ss => "ss",
            View::Netlink => "tcpstat --source netlink",
            View::Split => "tcpstat --source netlink --parallel always",
            View::Proc => "tcpstat --source proc",
        })
    }
}

/// A socket's timer as one view reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// netstat's name: off, on, keepalive, timewait, probe, unkn-N.
    pub kind: String,
    /// Time left, truncated to `resolution_ms`.
    pub expires_ms: u64,
    /// The true value lies in `expires_ms .. expires_ms + resolution_ms`.
    pub resolution_ms: u64,
    /// `None` where the view does not report it (ss).
    pub retransmits: Option<u32>,
    /// `None` where the view does not report it (ss).
    pub probes: Option<u32>,
}

/// Directions shut down, as ss's `<->` arrows or tcpstat's JSON show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shutdown {
    pub read: bool,
    pub write: bool,
}

/// One socket as one view reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub view: View,
    /// `tcp` or `tcp6`.
    pub proto: String,
    /// netstat's spelling (ss's is translated).
    pub state: String,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub recv_q: u64,
    pub send_q: u64,
    pub uid: u32,
    pub inode: u64,
    pub timer: Timer,
    /// ss and tcpstat only; `None` where the kernel sent no shutdown state.
    pub shutdown: Option<Shutdown>,
    /// The text the row was parsed from, for failure messages.
    pub raw: String,
}

/// Identity of a socket across views: (local, remote).
pub type Key = (SocketAddr, SocketAddr);

impl Row {
    /// The endpoints that identify this socket in every view.
    pub fn key(&self) -> Key {
        (self.local, self.remote)
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<24} {}", self.view.to_string(), self.raw.trim_end())
    }
}

/// The address as netstat shows it: IPv4-mapped IPv6 becomes IPv4.
pub fn netstat_form(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Splits `host:port` at the last colon; `*` as port means 0.
fn split_endpoint(text: &str) -> (&str, u16) {
    let (host, port) = text
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("no port in address {text:?}"));
    let port = match port {
        "*" => 0,
        p => p.parse().unwrap_or_else(|_| panic!("bad port in {text:?}")),
    };
    (host, port)
}

fn parse_ip(text: &str, context: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|_| panic!("bad address {text:?} in {context:?}"))
}

fn parse_num<T: std::str::FromStr>(text: &str, context: &str) -> T {
    text.parse()
        .unwrap_or_else(|_| panic!("bad number {text:?} in {context:?}"))
}

/// Parses `netstat -tanoe` (or `-tanoeW`) output.
pub fn parse_netstat(text: &str) -> Vec<Row> {
    text.lines()
        .filter(|line| line.starts_with("tcp"))
        .map(parse_netstat_line)
        .collect()
}

fn parse_netstat_line(line: &str) -> Row {
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 10, "unexpected netstat row {line:?}");
    let endpoint = |text: &str| {
        let (host, port) = split_endpoint(text);
        SocketAddr::new(parse_ip(host, line), port)
    };
    // Timer: `keepalive (7199.79/0/0)`.
    let counters = f[9]
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("bad timer in netstat row {line:?}"));
    let c: Vec<&str> = counters.split('/').collect();
    assert_eq!(c.len(), 3, "bad timer in netstat row {line:?}");
    let secs: f64 = parse_num(c[0], line);
    Row {
        view: View::Netstat,
        proto: f[0].to_string(),
        state: f[5].to_string(),
        local: endpoint(f[3]),
        remote: endpoint(f[4]),
        recv_q: parse_num(f[1], line),
        send_q: parse_num(f[2], line),
        uid: parse_num(f[6], line),
        inode: parse_num(f[7], line),
        timer: Timer {
            kind: f[8].to_string(),
            expires_ms: (secs * 1000.0).round() as u64,
            resolution_ms: 10,
            retransmits: Some(parse_num(c[1], line)),
            probes: Some(parse_num(c[2], line)),
        },
        shutdown: None,
        raw: line.to_string(),
    }
}

/// Parses `ss -tanoeH` output.
pub fn parse_ss(text: &str) -> Vec<Row> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(parse_ss_line)
        .collect()
}

fn parse_ss_line(line: &str) -> Row {
    let f: Vec<&str> = line.split_whitespace().collect();
    assert!(f.len() >= 5, "unexpected ss row {line:?}");
    let (local, v6_local) = parse_ss_endpoint(f[3], line);
    let (remote, _) = parse_ss_endpoint(f[4], line);
    let mut row = Row {
        view: View::Ss,
        proto: if v6_local { "tcp6" } else { "tcp" }.to_string(),
        state: ss_state(f[0], line).to_string(),
        local,
        remote,
        recv_q: parse_num(f[1], line),
        send_q: parse_num(f[2], line),
        uid: 0,
        inode: 0,
        timer: Timer {
            kind: "off".to_string(),
            expires_ms: 0,
            resolution_ms: 1,
            retransmits: None,
            probes: None,
        },
        shutdown: None,
        raw: line.to_string(),
    };
    for token in &f[5..] {
        if let Some(t) = token.strip_prefix("timer:(") {
            row.timer = parse_ss_timer(t.trim_end_matches(')'), line);
        } else if let Some(uid) = token.strip_prefix("uid:") {
            row.uid = parse_num(uid, line);
        } else if let Some(ino) = token.strip_prefix("ino:") {
            row.inode = parse_num(ino, line);
        } else if let Some(shutdown) = parse_ss_arrows(token) {
            row.shutdown = Some(shutdown);
        }
    }
    row
}

/// ss's `<->` field: `<` absent once reading is shut, `>` once writing is.
fn parse_ss_arrows(token: &str) -> Option<Shutdown> {
    let b = token.as_bytes();
    if b.len() != 3 || b[1] != b'-' || !matches!(b[0], b'<' | b'-') || !matches!(b[2], b'>' | b'-')
    {
        return None;
    }
    Some(Shutdown {
        read: b[0] == b'-',
        write: b[2] == b'-',
    })
}

/// Returns the endpoint in netstat's form and whether ss printed it as
/// IPv6 (bracketed, or `*` for a dual-stack wildcard).
fn parse_ss_endpoint(text: &str, line: &str) -> (SocketAddr, bool) {
    let (host, port) = split_endpoint(text);
    let v6 = host.starts_with('[') || host == "*";
    let host = host.trim_start_matches('[').trim_end_matches(']');
    // An interface scope (`127.0.0.1%lo`) is not part of the address.
    let host = host.split('%').next().unwrap_or(host);
    let ip = match host {
        "*" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        h => netstat_form(parse_ip(h, line)),
    };
    (SocketAddr::new(ip, port), v6)
}

fn ss_state(name: &str, line: &str) -> &'static str {
    match name {
        "ESTAB" => "ESTABLISHED",
        "SYN-SENT" => "SYN_SENT",
        "SYN-RECV" => "SYN_RECV",
        "FIN-WAIT-1" => "FIN_WAIT1",
        "FIN-WAIT-2" => "FIN_WAIT2",
        "TIME-WAIT" => "TIME_WAIT",
        "UNCONN" => "CLOSE",
        "CLOSE-WAIT" => "CLOSE_WAIT",
        "LAST-ACK" => "LAST_ACK",
        "LISTEN" => "LISTEN",
        "CLOSING" => "CLOSING",
        _ => panic!("unknown ss state {name:?} in {line:?}"),
    }
}

/// Parses the inside of `timer:(keepalive,119min,0)`. The middle field is
/// ss's coarse duration; the last is `idiag_retrans`, whose meaning depends
/// on the timer, so it is kept as retransmits for `on` and probes otherwise.
fn parse_ss_timer(text: &str, line: &str) -> Timer {
    let f: Vec<&str> = text.split(',').collect();
    assert_eq!(f.len(), 3, "bad ss timer in {line:?}");
    let kind = match f[0] {
        "persist" => "probe",
        "unknown" => "unknown",
        k => k,
    };
    let (expires_ms, resolution_ms) = parse_ss_duration(f[1], line);
    let counter: u32 = parse_num(f[2], line);
    let on = kind == "on";
    Timer {
        kind: kind.to_string(),
        expires_ms,
        resolution_ms,
        retransmits: on.then_some(counter),
        probes: (!on).then_some(counter),
    }
}

/// Parses ss's `print_ms_timer` form: `[Nmin][S(sec|.)][MMM(ms|sec)]`,
/// e.g. `119min`, `1min5sec`, `59sec`, `5.123ms` (5.123 s), `200ms`, or an
/// empty string for 0. Returns (milliseconds, resolution).
pub fn parse_ss_duration(text: &str, line: &str) -> (u64, u64) {
    let mut rest = text;
    let mut ms = 0u64;
    let mut resolution = 1u64;
    if let Some((min, r)) = rest.split_once("min") {
        let min: u64 = parse_num(min, line);
        ms += min * 60_000;
        resolution = if min > 9 { 60_000 } else { 1000 };
        rest = r;
    }
    if let Some((secs, r)) = rest.split_once("sec").filter(|(s, _)| !s.contains('.')) {
        ms += parse_num::<u64>(secs, line) * 1000;
        resolution = resolution.max(1000);
        rest = r;
    } else if let Some((secs, r)) = rest.split_once('.') {
        ms += parse_num::<u64>(secs, line) * 1000;
        rest = r;
    }
    if let Some(millis) = rest.strip_suffix("ms").or_else(|| rest.strip_suffix("sec")) {
        ms += parse_num::<u64>(millis, line);
        rest = "";
    }
    assert!(rest.is_empty(), "bad ss duration {text:?} in {line:?}");
    (ms, resolution)
}

/// Parses tcpstat's `--json` array. Every field of the contract must be
/// present with the right type; addresses must be in netstat's form.
pub fn parse_tcpstat_json(text: &str, view: View) -> Vec<Row> {
    let value: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{view} printed invalid JSON ({e}):\n{text}"));
    let rows = value
        .as_array()
        .unwrap_or_else(|| panic!("{view} JSON is not an array:\n{text}"));
    rows.iter()
        .map(|obj| parse_tcpstat_object(obj, view))
        .collect()
}

fn parse_tcpstat_object(obj: &Value, view: View) -> Row {
    let raw = obj.to_string();
    let get = |path: &[&str]| -> &Value {
        path.iter()
            .try_fold(obj, |v, key| v.get(key))
            .unwrap_or_else(|| panic!("{view}: no field {} in {raw}", path.join(".")))
    };
    let text = |path: &[&str]| -> String {
        get(path)
            .as_str()
            .unwrap_or_else(|| panic!("{view}: {} is not a string in {raw}", path.join(".")))
            .to_string()
    };
    let num = |path: &[&str]| -> u64 {
        get(path)
            .as_u64()
            .unwrap_or_else(|| panic!("{view}: {} is not a number in {raw}", path.join(".")))
    };
    let endpoint = |side: &str| -> SocketAddr {
        let address = text(&[side, "address"]);
        let ip = parse_ip(&address, &raw);
        assert_eq!(
            ip.to_string(),
            address,
            "{view}: address not in std form in {raw}"
        );
        assert_eq!(
            netstat_form(ip),
            ip,
            "{view}: IPv4-mapped address not dotted in {raw}"
        );
        let port = u16::try_from(num(&[side, "port"])).expect("port fits u16");
        SocketAddr::new(ip, port)
    };
    let shutdown = match get(&["shutdown"]) {
        Value::Null => None,
        s => Some(Shutdown {
            read: s["read"]
                .as_bool()
                .unwrap_or_else(|| panic!("{view}: shutdown.read in {raw}")),
            write: s["write"]
                .as_bool()
                .unwrap_or_else(|| panic!("{view}: shutdown.write in {raw}")),
        }),
    };
    assert!(
        obj.get("processes").is_some(),
        "{view}: no field processes in {raw}"
    );
    Row {
        view,
        proto: text(&["proto"]),
        state: text(&["state"]),
        local: endpoint("local"),
        remote: endpoint("remote"),
        recv_q: num(&["recv_q"]),
        send_q: num(&["send_q"]),
        uid: u32::try_from(num(&["uid"])).expect("uid fits u32"),
        inode: num(&["inode"]),
        timer: Timer {
            kind: text(&["timer", "kind"]),
            expires_ms: num(&["timer", "expires_ms"]),
            resolution_ms: 1,
            retransmits: Some(u32::try_from(num(&["timer", "retransmits"])).expect("fits u32")),
            probes: Some(u32::try_from(num(&["timer", "probes"])).expect("fits u32")),
        },
        shutdown,
        raw,
    }
}

/// The kernel's TCP states by number (include/net/tcp_states.h), named as
/// tcpstat names them: the tracepoint `sock:inet_sock_set_state` gives
/// bpftrace, the oracle of `--events`, numbers.
pub const KERNEL_TCP_STATES: [&str; 12] = [
    "?",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
];
