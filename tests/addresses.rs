//! Addresses read as netstat and `inet_ntop(3)` write them, in every
//! output: tcpstat's formatter equals glibc's `inet_ntop` on random
//! addresses, and on real sockets with an IPv4-compatible address
//! (`::10.77.3.1`, which Rust's `Display` writes `::a4d:301`), IPv4-mapped
//! peers (dotted, as netstat shows them) and link-local addresses on a veth
//! pair (no scope, as netstat shows them), the table equals netstat's and
//! JSON, `-c`, `--events`, `-s` and `why` write the same text.

mod support;

use serde_json::Value;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener, TcpStream};
use std::time::Duration;
use support::events::first_event;
use support::netns::Netns;
use support::{require, Need};
use tcpstat::model::addr::Ntop;
use tcpstat::sys::name::inet_ntop;

const TCPSTAT: &str = env!("CARGO_BIN_EXE_tcpstat");

/// The IPv4-compatible address the tests put on loopback.
const COMPATIBLE: &str = "::10.77.3.1";

/// A deterministic stream of pseudo-random numbers.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn the_formatter_writes_what_glibc_inet_ntop_writes() {
    let mut rng = XorShift(0x1e7_0e70);
    let mut compared = 0;
    for _ in 0..300_000 {
        let mut groups = [0u16; 8];
        for g in &mut groups {
            // Mostly zeros and ffff, so that every run length, the mapped
            // and the compatible forms all occur often.
            *g = match rng.next() % 5 {
                0 => rng.next() as u16,
                1 => 0xffff,
                2 => (rng.next() % 3) as u16,
                _ => 0,
            };
        }
        let v6 = IpAddr::V6(Ipv6Addr::from(groups));
        let v4 = IpAddr::V4((rng.next() as u32).into());
        for addr in [v6, v4] {
            let glibc = inet_ntop(addr).expect("inet_ntop");
            assert_eq!(Ntop(addr).to_string(), glibc, "{addr:?}");
            compared += 1;
        }
    }
    assert_eq!(compared, 600_000);
}

/// The rows of a netstat-style table, sorted: header lines and a `-c` pass
/// header dropped.
fn rows(table: &str) -> Vec<String> {
    let mut rows: Vec<String> = table
        .lines()
        .filter(|l| l.starts_with("tcp ") || l.starts_with("tcp6 "))
        .map(str::to_owned)
        .collect();
    rows.sort();
    rows
}

/// tcpstat's table from both sources equals netstat's, row for row.
fn assert_table_is_netstats(ns: &Netns, flags: &[&str]) {
    let netstat = rows(&ns.stdout("netstat", flags));
    assert!(!netstat.is_empty(), "netstat {flags:?} lists nothing");
    for source in ["netlink", "proc"] {
        let mut args = flags.to_vec();
        args.extend(["--source", source]);
        let ours = rows(&ns.stdout(TCPSTAT, &args));
        assert_eq!(
            ours,
            netstat,
            "tcpstat {} differs from netstat",
            args.join(" ")
        );
    }
}

/// Every address string of a JSON value (`"address"` keys at any depth).
fn json_addresses(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("address", Value::String(s)) => out.push(s.clone()),
                    _ => json_addresses(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| json_addresses(i, out)),
        _ => {}
    }
}

/// Each address string is glibc's text for itself, IPv4-mapped addresses
/// being dotted IPv4 (as netstat shows them); returns them.
fn assert_inet_ntop_forms(json: &str) -> Vec<String> {
    let mut addresses = Vec::new();
    // The listing's array spans lines; every other output is a line each.
    let documents: Vec<&str> = match json.starts_with('[') {
        true => vec![json],
        false => json.lines().collect(),
    };
    for document in documents {
        let v: Value = serde_json::from_str(document).expect("JSON");
        json_addresses(&v, &mut addresses);
    }
    for text in &addresses {
        let addr: IpAddr = text.parse().expect("an address");
        assert!(
            !matches!(addr, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()),
            "{text}: mapped addresses are dotted"
        );
        assert_eq!(*text, inet_ntop(addr).unwrap(), "{json}");
    }
    addresses
}

#[test]
fn ipv4_compatible_and_mapped_addresses_read_as_netstat_writes_them() {
    require!(Need::Netns, Need::Tool("netstat"));
    let ns = Netns::create("addresses", "compat");
    ns.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{COMPATIBLE}/128"),
        "dev",
        "lo",
    ]);
    let compat: IpAddr = COMPATIBLE.parse().unwrap();
    let (held, port) = ns.enter(|| {
        let listener = support::sock::listen(SocketAddr::new(compat, 0), None, None);
        let port = listener.local_addr().unwrap().port();
        let client = TcpStream::connect((compat, port)).unwrap();
        let server = listener.accept().unwrap().0;
        // A dual-stack listener and an IPv4 client: mapped addresses.
        let dual = support::sock::listen("[::]:0".parse().unwrap(), Some(false), None);
        let v4 = TcpStream::connect(("127.0.0.1", dual.local_addr().unwrap().port())).unwrap();
        let mapped = dual.accept().unwrap().0;
        ((listener, client, server, dual, v4, mapped), port)
    });
    let local = format!("{COMPATIBLE}:{port}");
    let bracketed = format!("[{COMPATIBLE}]:{port}");

    assert_table_is_netstats(&ns, &["-tan"]);
    assert_table_is_netstats(&ns, &["-tanW"]);
    let table = ns.stdout(TCPSTAT, &["-tan"]);
    assert!(table.contains(&format!("{local} ")), "{table}");
    assert!(table.contains("127.0.0.1:"), "mapped peers dotted: {table}");

    let pass = ns.stdout(TCPSTAT, &["-tan", "-c", "--count", "1"]);
    assert_eq!(rows(&pass), rows(&table), "{pass}");

    let json = ns.stdout(TCPSTAT, &["-tan", "--json"]);
    let addresses = assert_inet_ntop_forms(&json);
    assert!(addresses.iter().any(|a| a == COMPATIBLE), "{json}");
    assert!(addresses.iter().any(|a| a == "127.0.0.1"), "{json}");
    let validator = support::schema::validator(None);
    support::schema::assert_valid(&validator, &serde_json::from_str(&json).unwrap());

    // `why` answers "in use" with status 1.
    let why_out = |args: &[&str]| String::from_utf8(ns.exec(TCPSTAT, args).stdout).unwrap();
    let why = why_out(&["why", &port.to_string()]);
    assert!(why.contains(&bracketed), "{why}");
    let why_json = why_out(&["why", &port.to_string(), "--json"]);
    assert_inet_ntop_forms(&why_json);
    assert!(
        why_json.contains(&format!("\"{COMPATIBLE}\"")),
        "{why_json}"
    );

    // The client's end uses an ephemeral port towards the listener.
    let summary = ns.stdout(TCPSTAT, &["-s"]);
    assert!(summary.contains(&bracketed), "{summary}");
    let summary_json = ns.stdout(TCPSTAT, &["-s", "--json"]);
    assert_inet_ntop_forms(&summary_json);
    assert!(summary_json.contains(&format!("\"{COMPATIBLE}\"")));

    for output in [
        &table,
        &pass,
        &json,
        &why,
        &why_json,
        &summary,
        &summary_json,
    ] {
        assert!(!output.contains("a4d:301"), "Rust's form leaked: {output}");
    }

    // A connection opened after the first pass: `new` events.
    let mut late = None;
    let on_port = |l: &str| l.contains(&format!(":{port} "));
    let event = first_event(TCPSTAT, &ns, &["-tan", "--events=sampled"], on_port, || {
        late = Some(ns.enter(|| TcpStream::connect((compat, port)).unwrap()));
    });
    assert!(event.contains(&format!("{local} ")), "{event}");
    assert!(!event.contains("a4d:301"), "{event}");
    let mut late_json = None;
    let on_port = |l: &str| l.contains(&format!("\"port\":{port}"));
    let event = first_event(
        TCPSTAT,
        &ns,
        &["-tan", "--events=sampled", "--json"],
        on_port,
        || {
            late_json = Some(ns.enter(|| TcpStream::connect((compat, port)).unwrap()));
        },
    );
    assert_eq!(assert_inet_ntop_forms(&event), [COMPATIBLE; 2], "{event}");
    drop((held, late, late_json));
}

/// The index of `veth0` in `ns`, from `ip -o link`.
fn ifindex(ns: &Netns) -> u32 {
    let link = ns.stdout("ip", &["-o", "link", "show", "veth0"]);
    link.split(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .expect("ifindex")
}

#[test]
fn link_local_addresses_read_as_netstat_writes_them() {
    require!(Need::Netns, Need::Tool("netstat"));
    let a = Netns::create("addresses", "ll-a");
    let b = Netns::create("addresses", "ll-b");
    a.ip(&[
        "link",
        "add",
        "veth0",
        "type",
        "veth",
        "peer",
        "name",
        "veth0",
        "netns",
        b.name(),
    ]);
    for (ns, addr) in [(&a, "fe80::a"), (&b, "fe80::b")] {
        // addrgenmode none: only the address given, no EUI-64 one.
        ns.ip(&["link", "set", "veth0", "addrgenmode", "none"]);
        ns.ip(&[
            "addr",
            "add",
            &format!("{addr}/64"),
            "dev",
            "veth0",
            "nodad",
        ]);
        ns.ip(&["link", "set", "veth0", "up"]);
    }
    let scope = ifindex(&a);
    let listener = b.enter(|| TcpListener::bind("[::]:0").unwrap());
    let port = listener.local_addr().unwrap().port();
    let peer = SocketAddrV6::new("fe80::b".parse().unwrap(), port, 0, scope);
    let client = a.enter(|| TcpStream::connect_timeout(&peer.into(), Duration::from_secs(10)));
    let client = client.expect("connect over the veth pair");
    let server = listener.accept().unwrap().0;

    for ns in [&a, &b] {
        assert_table_is_netstats(ns, &["-tan"]);
        let json = ns.stdout(TCPSTAT, &["-tan", "--json"]);
        let addresses = assert_inet_ntop_forms(&json);
        assert!(addresses.iter().any(|a| a == "fe80::a"), "{json}");
        assert!(addresses.iter().any(|a| a == "fe80::b"), "{json}");
    }
    let table = a.stdout(TCPSTAT, &["-tan"]);
    assert!(
        table.contains("fe80::a:") && table.contains(&format!("fe80::b:{port} ")),
        "{table}"
    );
    drop((client, server, listener));
}
