//! The table is netstat's table: on the socket zoo, tcpstat's text output
//! equals netstat's byte for byte (headers, column widths, address cuts,
//! spellings) for the flag combinations both understand, from both sources.
//! Timer seconds and counters move between two runs, so only the timer kind
//! is compared; their values are checked exactly by the zoo test.

mod support;

use std::net::{TcpListener, TcpStream};
use support::netns::{Netns, Side};
use support::zoo::Zoo;
use support::{require, Need};

/// Cuts a timer column `kind (secs/retr/probes)` down to its kind, so two
/// listings taken a moment apart compare equal.
fn mask_timers(text: &str) -> String {
    text.lines()
        .map(|line| match line.rfind(" (") {
            Some(at) if line.ends_with(')') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Header lines in order, then the rows sorted: request sockets may come in
/// another order between two reads of the same hash table.
fn canonical(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let rows = lines.split_off(lines.len().min(2));
    let mut rows = rows;
    rows.sort();
    lines.extend(rows);
    lines
}

fn compare(ns: &Netns, flags: &[&str]) -> Result<(), String> {
    let netstat = ns.stdout("netstat", flags);
    let mut problems = Vec::new();
    for source in ["netlink", "proc"] {
        let mut args = flags.to_vec();
        args.extend(["--source", source]);
        let ours = ns.stdout(env!("CARGO_BIN_EXE_tcpstat"), &args);
        let (want, got) = if flags.iter().any(|f| f.contains('o')) {
            (mask_timers(&netstat), mask_timers(&ours))
        } else {
            (netstat.clone(), ours)
        };
        if canonical(&want) != canonical(&got) {
            problems.push(format!(
                "tcpstat {} differs from netstat {}:\n--- netstat\n{want}\n--- tcpstat\n{got}",
                args.join(" "),
                flags.join(" ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[test]
fn table_equals_netstat_byte_for_byte_on_the_zoo() {
    require!(Need::Netns, Need::Tool("ss"), Need::Tool("netstat"));
    let zoo = Zoo::build("table");
    let flag_sets: &[&[&str]] = &[
        &["-tan"],
        &["-tane"],
        &["-tanW"],
        &["-tanoe"],
        &["-tanoeW"],
        &["-tln"],
        &["-tn"],
        &["-tan", "-4"],
        &["-tan", "-6"],
    ];
    let mut failures = Vec::new();
    for side in [Side::A, Side::B] {
        let ns = zoo.lab.ns(side);
        for flags in flag_sets {
            // Teardown timers may move a socket between two reads; one
            // retry tells a race from a real difference.
            if let Err(first) = compare(ns, flags) {
                if compare(ns, flags).is_err() {
                    failures.push(first);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn long_addresses_are_cut_like_netstat_and_kept_whole_with_wide() {
    require!(Need::Netns, Need::Tool("netstat"));
    let ns = Netns::create("table", "long");
    // Long enough that `addr:port` passes netstat's 23 columns.
    let long = "fd00:1234:5678:9abc:def0:1234:5678:9abc";
    let short = "fd00::2";
    for addr in [long, short] {
        ns.ip(&["addr", "add", &format!("{addr}/128"), "dev", "lo", "nodad"]);
    }
    let held = ns.enter(|| {
        let listener = TcpListener::bind(format!("[{long}]:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = TcpStream::connect(format!("[{long}]:{port}")).unwrap();
        // A short local address talking to the long one: only the remote
        // column is cut.
        let short_client = support::sock::connect_from(
            short.parse().unwrap(),
            format!("[{long}]:{port}").parse().unwrap(),
        );
        let servers = [listener.accept().unwrap().0, listener.accept().unwrap().0];
        (listener, client, short_client, servers)
    });
    let wide = ns.stdout(env!("CARGO_BIN_EXE_tcpstat"), &["-tanW"]);
    assert!(wide.contains(&format!("{long}:")), "{wide}");
    let mut failures = Vec::new();
    for flags in [&["-tan"][..], &["-tanW"], &["-tanoe"], &["-tl"]] {
        if let Err(e) = compare(&ns, flags) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    drop(held);
}
