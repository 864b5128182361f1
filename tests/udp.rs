//! UDP, UDP-Lite and raw sockets in netstat's table: on real sockets made
//! in a namespace of the test's own (UDP bound and connected, IPv4, IPv6
//! and IPv4-mapped; UDP-Lite; raw ICMP and ICMPv6, one connected),
//! tcpstat prints the lines netstat prints with the same flags, from
//! netlink and from /proc, protocols in netstat's order under one header.

mod support;

use std::net::UdpSocket;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};

/// The two tests of this file one at a time: a child one spawns (netstat,
/// ss) holds, between fork and exec, the other's sockets, and is then
/// listed as their owner by one tool and not the other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}
use support::netns::Netns;
use support::sock::{bind, connect, socket_of};
use support::{require, Need};

/// The sockets the comparisons list; held open while they run.
struct Fixture {
    _udp: Vec<UdpSocket>,
    _other: Vec<OwnedFd>,
}

/// Makes the fixture's sockets in `ns`.
fn fixture(ns: &Netns) -> Fixture {
    ns.enter(|| {
        let server4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        client4.connect(server4.local_addr().unwrap()).unwrap();
        // Unread data: a Recv-Q of its own.
        client4.send(&[7; 100]).unwrap();
        let server6 = UdpSocket::bind("[::]:0").unwrap();
        let port6 = server6.local_addr().unwrap().port();
        let client6 = UdpSocket::bind("[::1]:0").unwrap();
        client6.connect(("::1", port6)).unwrap();
        // An IPv6 socket talking to IPv4: netstat shows it dotted.
        let mapped = UdpSocket::bind("[::]:0").unwrap();
        let port4 = server4.local_addr().unwrap().port();
        mapped
            .connect(format!("[::ffff:127.0.0.1]:{port4}"))
            .unwrap();
        let lite = socket_of(libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_UDPLITE);
        bind(&lite, "127.0.0.1:0".parse().unwrap());
        let icmp = socket_of(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
        let icmp_connected = socket_of(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
        connect(&icmp_connected, "127.0.0.1:0".parse().unwrap());
        let icmp6 = socket_of(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6);
        Fixture {
            _udp: vec![server4, client4, server6, client6, mapped],
            _other: vec![lite, icmp, icmp_connected, icmp6],
        }
    })
}

/// Header lines in order, then the rows sorted.
fn canonical(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut rows = lines.split_off(lines.len().min(2));
    rows.sort();
    lines.extend(rows);
    lines
}

/// True when the kernel's sock_diag answers for raw sockets: raw_diag is
/// a module some kernels lack (then only /proc has them, and tcpstat says
/// so).
fn has_raw_diag(ns: &Netns) -> bool {
    let out = ns.exec(
        env!("CARGO_BIN_EXE_tcpstat"),
        &["-wan", "--source", "netlink"],
    );
    if out.status.success() {
        return true;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no raw sockets (no raw_diag module)"),
        "{stderr}"
    );
    eprintln!("skipped: the netlink half of the raw comparisons: no raw_diag in this kernel");
    false
}

/// tcpstat's listing with `flags` against netstat's, from `sources`.
fn compare(ns: &Netns, flags: &[&str], sources: &[&str]) -> Vec<String> {
    let netstat = ns.stdout("netstat", flags);
    let mut problems = Vec::new();
    for &source in sources {
        let mut args = flags.to_vec();
        args.extend(["--source", source]);
        let ours = ns.stdout(env!("CARGO_BIN_EXE_tcpstat"), &args);
        if canonical(&netstat) != canonical(&ours) {
            problems.push(format!(
                "tcpstat {} differs from netstat {}:\n--- netstat\n{netstat}\n--- tcpstat\n{ours}",
                args.join(" "),
                flags.join(" ")
            ));
        }
    }
    problems
}

#[test]
fn udp_udplite_and_raw_tables_equal_netstats() {
    require!(Need::Netns, Need::Tool("netstat"));
    let _alone = alone();
    let ns = Netns::create("udp", "table");
    let held = fixture(&ns);
    let listing = ns.stdout(env!("CARGO_BIN_EXE_tcpstat"), &["-tuwUan"]);
    // The fixture is what the comparisons are about: every kind is there.
    for want in ["udp ", "udp6", "udpl", "raw ", "raw6", "ESTABLISHED"] {
        assert!(listing.contains(want), "no {want:?} in\n{listing}");
    }
    let mut problems = Vec::new();
    let flag_sets: [&[&str]; 15] = [
        &["-tuwa", "--numeric-hosts"],
        &["-tuwa", "--numeric-ports"],
        &["-tuwae", "--numeric-users"],
        &["-tulpn"],
        &["-uanpo"],
        &["-wan"],
        &["-tuwan"],
        &["-tuwUanpo"],
        &["-Uan"],
        &["-un"],
        &["-uln"],
        &["-wl"],
        &["-tuwa"],
        &["-uae"],
        &["-uan6"],
    ];
    let raw_diag = has_raw_diag(&ns);
    for flags in flag_sets {
        let raw = flags[0].contains('w');
        let sources: &[&str] = if raw && !raw_diag {
            &["proc", "auto"]
        } else {
            &["netlink", "proc"]
        };
        problems.extend(compare(&ns, flags, sources));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    drop(held);
}

/// One socket as both listings can say it: protocol, state in ss's words,
/// local port and the entries of ss's `users:((…))`, sorted (ss lists a
/// socket's users last found first; tcpstat in pid and fd order).
type Seen = (String, String, u16, Vec<String>);

/// The entries of a `users:((…),(…))` text.
fn users(text: &str) -> Vec<String> {
    let inner = text
        .strip_prefix("users:(")
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or("");
    let mut entries: Vec<String> = inner
        .split("),(")
        .filter(|e| !e.is_empty())
        .map(|e| e.trim_matches(|c| c == '(' || c == ')').to_string())
        .collect();
    entries.sort();
    entries
}

/// `ss -tulpnH`'s rows.
fn ss_rows(text: &str) -> Vec<Seen> {
    let mut rows: Vec<Seen> = text
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = f[4].rsplit(':').next().unwrap().parse().unwrap();
            let users = users(f.get(6).copied().unwrap_or(""));
            (f[0].to_string(), f[1].to_string(), port, users)
        })
        .collect();
    rows.sort();
    rows
}

/// tcpstat's JSON rows, in the same words.
fn json_rows(doc: &serde_json::Value) -> Vec<Seen> {
    let mut rows: Vec<Seen> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let state = match s["state"].as_str().unwrap() {
                "CLOSE" => "UNCONN",
                "ESTABLISHED" => "ESTAB",
                other => other,
            };
            let users: Vec<String> = s["processes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    format!(
                        "({:?},pid={},fd={})",
                        p["name"].as_str().unwrap(),
                        p["pid"],
                        p["fd"]
                    )
                })
                .collect();
            let users = match users.is_empty() {
                true => String::new(),
                false => format!("users:({})", users.join(",")),
            };
            let port = s["local"]["port"].as_u64().unwrap() as u16;
            let protocol = s["protocol"].as_str().unwrap().to_string();
            (protocol, state.to_string(), port, self::users(&users))
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn json_validates_and_agrees_with_ss_on_sockets_states_and_owners() {
    require!(Need::Netns, Need::Tool("ss"));
    let _alone = alone();
    let ns = Netns::create("udp", "json");
    let held = fixture(&ns);
    // A listener too, and a socket shared by two descriptors: ss lists
    // each.
    let (listener, dup) = ns.enter(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let shared = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dup = shared.try_clone().unwrap();
        (listener, (shared, dup))
    });
    let validator = support::schema::validator(None);
    for source in ["netlink", "proc"] {
        let out = ns.stdout(
            env!("CARGO_BIN_EXE_tcpstat"),
            &["-tulpn", "--json", "--source", source],
        );
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        support::schema::assert_valid(&validator, &doc);
        let ss = ns.stdout("ss", &["-tulpnH"]);
        let (want, got) = (ss_rows(&ss), json_rows(&doc));
        assert_eq!(want, got, "--source {source}\n{ss}\n{out}");
        assert!(got.iter().any(|r| r.3.len() == 2), "{got:?}");
    }
    drop((held, listener, dup));
}
