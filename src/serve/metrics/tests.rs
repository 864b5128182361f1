//! The registry of hand-built dumps, read back from the text format the
//! client crate writes.

use std::collections::BTreeMap;

use super::*;
use crate::diagnose::summary::tests::{sys, FakeProc};
use crate::model::TcpState::*;
use crate::model::{Socket, TimerKind};
use crate::serve::exposition::Format;
use crate::test_support::{sock, SocketExt};

/// Samples of the 0.0.4 text: `name{labels}` → value (comments skipped).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

fn listener(local: &str, queued: u32, backlog: u32) -> Socket {
    let mut s = sock(Listen, local, "0.0.0.0:0").inode(100);
    s.recv_q = queued;
    s.backlog = Some(backlog);
    s
}

/// A server on :8080 (two SO_REUSEPORT listeners) held by `web`, with
/// CLOSE_WAIT it leaks, TIME_WAIT on it and on an ephemeral port, and an
/// outgoing connection.
fn dump() -> (Vec<Socket>, FakeProc) {
    let mut rows = vec![
        listener("0.0.0.0:8080", 3, 128),
        listener("0.0.0.0:8080", 1, 128),
        listener("[::1]:9000", 0, 4096),
        sock(Established, "10.0.0.1:8080", "10.0.0.2:50000").inode(201),
        sock(Established, "10.0.0.1:40001", "10.0.0.9:5432").inode(202),
        sock(TimeWait, "10.0.0.1:40002", "10.0.0.9:5432")
            .inode(0)
            .timer(TimerKind::TimeWait, 1000, 0, 0),
    ];
    for i in 0..12 {
        rows.push(
            sock(
                CloseWait,
                "10.0.0.1:8080",
                &format!("10.0.0.3:{}", 1000 + i),
            )
            .inode(300 + i),
        );
        rows.push(
            sock(TimeWait, "10.0.0.1:8080", &format!("10.0.0.4:{}", 1000 + i))
                .inode(0)
                .timer(TimerKind::TimeWait, 1000, 0, 0),
        );
    }
    let web: Vec<u64> = (300..312).chain([100, 201]).collect();
    let procs = FakeProc::new(&[(10, "web", &web), (11, "psql", &[202])]);
    (rows, procs)
}

fn text_of(rows: &[Socket], procs: &FakeProc, max_series: usize) -> BTreeMap<String, f64> {
    let map = procs.map();
    let tally = Tally::of(rows, Some(&map), sys(), Used::Netlink);
    let registry = build(
        Outcome::Dump(std::slice::from_ref(&tally)),
        &Telemetry::default(),
        max_series,
    );
    samples(&Format::Text.encode(&registry).unwrap())
}

#[test]
fn every_metric_counts_the_dump() {
    let (rows, procs) = dump();
    let m = text_of(&rows, &procs, 5000);
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no {k} in {m:#?}"));
    assert_eq!(
        get(r#"tcpstat_sockets{state="close_wait",family="ipv4",protocol="tcp"}"#),
        12.0
    );
    assert_eq!(
        get(r#"tcpstat_sockets{state="time_wait",family="ipv4",protocol="tcp"}"#),
        13.0
    );
    assert_eq!(
        get(r#"tcpstat_sockets{state="listen",family="ipv6",protocol="tcp"}"#),
        1.0
    );
    assert_eq!(
        get(r#"tcpstat_listen_queue_length{address="0.0.0.0",port="8080"}"#),
        4.0
    );
    assert_eq!(
        get(r#"tcpstat_listen_queue_limit{address="0.0.0.0",port="8080"}"#),
        256.0
    );
    assert_eq!(
        get(r#"tcpstat_listen_queue_limit{address="::1",port="9000"}"#),
        4096.0
    );
    assert_eq!(
        get(r#"tcpstat_listen_port_connections{port="8080",state="close_wait"}"#),
        12.0
    );
    assert_eq!(
        get(r#"tcpstat_listen_port_connections{port="8080",state="established"}"#),
        1.0
    );
    assert_eq!(
        get(r#"tcpstat_program_sockets{state="close_wait",program="web",port="8080"}"#),
        12.0
    );
    assert_eq!(get(r#"tcpstat_time_wait_port_sockets{port="8080"}"#), 12.0);
    assert_eq!(get(r#"tcpstat_time_wait_port_sockets{port="other"}"#), 1.0);
    // sys(): tcp_max_tw_buckets 10, ports 40000-40009, tcp_max_orphans 1000.
    assert_eq!(get("tcpstat_timewait_sockets"), 13.0);
    assert_eq!(get("tcpstat_timewait_sockets_limit"), 10.0);
    assert_eq!(get("tcpstat_ephemeral_ports"), 10.0);
    assert_eq!(
        get(r#"tcpstat_ephemeral_ports_used{remote_address="10.0.0.9",remote_port="5432"}"#),
        2.0
    );
    assert_eq!(get("tcpstat_orphan_sockets_limit"), 1000.0);
    assert_eq!(
        get(r#"tcpstat_finding{kind="close_wait",severity="medium",program="web"}"#),
        1.0
    );
    assert_eq!(
        get(r#"tcpstat_finding{kind="timewait_limit",severity="high"}"#),
        1.0
    );
    assert_eq!(get("tcpstat_scrape_success"), 1.0);
    assert_eq!(get("tcpstat_scrape_sockets"), rows.len() as f64);
    assert_eq!(get(r#"tcpstat_source_info{source="netlink"}"#), 1.0);
    assert_eq!(get("tcpstat_scrapes_total"), 0.0);
}

#[test]
fn the_series_cap_keeps_the_largest_and_counts_the_rest() {
    let (rows, procs) = dump();
    // Two listening addresses' queues and limits take 4 of 5; the largest
    // port connection count takes the last.
    let m = text_of(&rows, &procs, 5);
    let dropped =
        |metric: &str| m[&format!(r#"tcpstat_scrape_series_dropped{{metric="{metric}"}}"#)];
    assert_eq!(dropped("tcpstat_listen_queue_length"), 0.0);
    assert_eq!(dropped("tcpstat_listen_queue_limit"), 0.0);
    assert_eq!(dropped("tcpstat_listen_port_connections"), 2.0);
    assert_eq!(dropped("tcpstat_program_sockets"), 1.0);
    assert_eq!(dropped("tcpstat_time_wait_port_sockets"), 2.0);
    assert_eq!(dropped("tcpstat_ephemeral_ports_used"), 1.0);
    assert!(m.contains_key(r#"tcpstat_listen_port_connections{port="8080",state="close_wait"}"#));
    assert!(!m.keys().any(|k| k.starts_with("tcpstat_program_sockets{")));
    // The fixed series stay.
    assert!(m.contains_key(r#"tcpstat_sockets{state="close_wait",family="ipv4",protocol="tcp"}"#));
}

#[test]
fn without_a_dump_only_the_exporter_speaks() {
    let own = Telemetry::default();
    own.timeouts.inc();
    own.scrapes.inc();
    for outcome in [Outcome::TimedOut, Outcome::Failed] {
        let text = Format::OpenMetrics
            .encode(&build(outcome, &own, 5000))
            .unwrap();
        assert!(text.ends_with("# EOF\n"), "{text}");
        let m = samples(&text);
        assert_eq!(m["tcpstat_scrape_success"], 0.0);
        assert_eq!(m["tcpstat_scrape_timeouts_total"], 1.0);
        assert!(
            !m.keys().any(|k| k.starts_with("tcpstat_sockets")),
            "{text}"
        );
        assert!(!m.contains_key("tcpstat_scrape_sockets"));
    }
}

#[test]
fn program_names_are_label_values_whole() {
    let rows = vec![sock(CloseWait, "10.0.0.1:40000", "10.0.0.3:80").inode(5)];
    let procs = FakeProc::new(&[(7, "a\"b\\c", &[5])]);
    let m = text_of(&rows, &procs, 5000);
    assert_eq!(
        m[r#"tcpstat_program_sockets{state="close_wait",program="a\"b\\c",port="other"}"#],
        1.0
    );
}

/// `-N all`: two namespaces, the same dump in one and a listener alone in
/// the other: every socket metric is per namespace (`netns` first), the
/// host-wide ones are not, the exporter's count all, and the port budget
/// is shared.
#[test]
fn each_namespace_is_labelled_and_the_budget_shared() {
    let (rows, procs) = dump();
    let map = procs.map();
    let mut web = Tally::of(&rows, Some(&map), sys(), Used::Netlink);
    web.netns = Some("web".into());
    let lone = [listener("127.0.0.1:8080", 2, 16)];
    let mut other = Tally::of(&lone, Some(&map), sys(), Used::Netlink);
    other.netns = Some("host".into());
    let tallies = [web, other];
    let text = |max| {
        let registry = build(Outcome::Dump(&tallies), &Telemetry::default(), max);
        samples(&Format::Text.encode(&registry).unwrap())
    };
    let m = text(5000);
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no {k} in {m:#?}"));
    let close_wait = r#"state="close_wait",family="ipv4",protocol="tcp"}"#;
    assert_eq!(
        get(&format!(r#"tcpstat_sockets{{netns="web",{close_wait}"#)),
        12.0
    );
    assert_eq!(
        get(&format!(r#"tcpstat_sockets{{netns="host",{close_wait}"#)),
        0.0
    );
    assert_eq!(
        get(r#"tcpstat_listen_queue_length{netns="host",address="127.0.0.1",port="8080"}"#),
        2.0
    );
    assert_eq!(
        get(r#"tcpstat_listen_queue_length{netns="web",address="0.0.0.0",port="8080"}"#),
        4.0
    );
    assert_eq!(
        get(r#"tcpstat_program_sockets{netns="web",state="close_wait",program="web",port="8080"}"#),
        12.0
    );
    assert_eq!(get(r#"tcpstat_timewait_sockets{netns="web"}"#), 13.0);
    assert_eq!(get(r#"tcpstat_timewait_sockets{netns="host"}"#), 0.0);
    assert_eq!(
        get(r#"tcpstat_finding{netns="web",kind="close_wait",severity="medium",program="web"}"#),
        1.0
    );
    assert_eq!(get("tcpstat_orphan_sockets_limit"), 1000.0);
    assert_eq!(get("tcpstat_scrape_sockets"), (rows.len() + 1) as f64);
    assert_eq!(get("tcpstat_scrape_namespaces"), 2.0);
    assert!(!m.contains_key("tcpstat_timewait_sockets"));
    // Every series of a socket metric names its namespace.
    let unlabelled = m.keys().find(|k| {
        k.starts_with("tcpstat_")
            && !k.contains("netns=")
            && !k.starts_with("tcpstat_scrape")
            && !k.starts_with("tcpstat_source_info")
            && !k.starts_with("tcpstat_orphan_sockets_limit")
            && !k.starts_with("tcpstat_owners_unreadable_processes")
    });
    assert_eq!(unlabelled, None);
    // The budget counts the series of both namespaces: three queues and
    // three limits take 6 of 7.
    let m = text(7);
    let dropped =
        |metric: &str| m[&format!(r#"tcpstat_scrape_series_dropped{{metric="{metric}"}}"#)];
    assert_eq!(dropped("tcpstat_listen_queue_length"), 0.0);
    assert_eq!(dropped("tcpstat_listen_queue_limit"), 0.0);
    assert_eq!(dropped("tcpstat_listen_port_connections"), 2.0);
    let labelled = m
        .keys()
        .filter(|k| BUDGETED.iter().any(|b| k.starts_with(&format!("{b}{{"))))
        .count();
    assert_eq!(labelled, 7);
}
