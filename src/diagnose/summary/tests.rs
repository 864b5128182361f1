//! Summaries of hand-built dumps, with owners from a fake /proc. The dump
//! and owners are shared with the printer's tests (render/summary.rs).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::model::TcpState::*;
use crate::test_support::{sock, SocketExt};

/// A fake /proc with processes holding socket inodes; removed on drop.
pub(crate) struct FakeProc(PathBuf);

impl FakeProc {
    pub(crate) fn new(procs: &[(u32, &str, &[u64])]) -> FakeProc {
        // Tests run in parallel: one directory each.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "tcpstat-diag-proc-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        for (pid, comm, inodes) in procs {
            let dir = root.join(pid.to_string());
            std::fs::create_dir_all(dir.join("fd")).unwrap();
            std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
            for (fd, inode) in inodes.iter().enumerate() {
                let link = dir.join("fd").join(fd.to_string());
                std::os::unix::fs::symlink(format!("socket:[{inode}]"), link).unwrap();
            }
        }
        FakeProc(root)
    }

    pub(crate) fn map(&self) -> ProcessMap {
        ProcessMap::scan(&self.0)
    }
}

impl Drop for FakeProc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn sys() -> Sysctls {
    Sysctls {
        tcp_max_tw_buckets: Some(10),
        ip_local_port_range: Some((40000, 40009)),
        tcp_max_orphans: Some(1000),
    }
}

fn time_wait(local: &str, remote: &str) -> Socket {
    sock(TimeWait, local, remote)
        .inode(0)
        .timer(TimerKind::TimeWait, 30_000, 0, 0)
}

/// A dump with a bit of everything: a CLOSE_WAIT leak in pid 2620, TIME_WAIT
/// near its limit, a busy remote endpoint, orphans and half-open handshakes.
pub(crate) fn dump() -> Vec<Socket> {
    let mut rows = vec![
        sock(Listen, "0.0.0.0:80", "0.0.0.0:0").inode(50),
        sock(Listen, "[::]:22", "[::]:0").inode(51),
        sock(Established, "10.0.0.1:80", "10.0.0.9:5000").timer(TimerKind::Keepalive, 7000, 0, 0),
        sock(Established, "10.0.0.1:80", "10.0.0.9:5001"),
        sock(Established, "10.0.0.1:80", "10.0.0.9:5002").timer(TimerKind::On, 900, 5, 0),
        sock(Established, "[::1]:22", "[::1]:6000").timer(TimerKind::Probe, 900, 0, 2),
        sock(FinWait2, "10.0.0.1:80", "10.0.0.9:5003")
            .inode(0)
            .timer(TimerKind::TimeWait, 50_000, 0, 0),
        sock(FinWait1, "10.0.0.1:80", "10.0.0.9:5004")
            .inode(0)
            .timer(TimerKind::On, 300, 2, 0),
        sock(LastAck, "10.0.0.1:80", "10.0.0.9:5005").inode(60),
        sock(CloseWait, "10.0.0.1:80", "10.0.0.9:5006").inode(0), // not yet accepted
    ];
    for i in 0..12 {
        let remote = format!("10.0.0.{}:{}", 20 + i % 2, 7000 + i);
        rows.push(sock(CloseWait, "10.0.0.1:80", &remote).inode(100 + i));
    }
    rows.push(sock(CloseWait, "10.0.0.1:81", "10.0.0.30:7000").inode(200));
    for i in 0..6 {
        let local = format!("10.0.0.1:{}", 40000 + i);
        rows.push(time_wait(&local, "10.0.0.5:5432"));
    }
    rows.push(time_wait("10.0.0.1:40003", "10.0.0.6:5432"));
    rows.push(time_wait("10.0.0.1:80", "10.0.0.9:5007"));
    for i in 0..3 {
        let remote = format!("10.0.0.40:{}", 9000 + i);
        rows.push(sock(SynRecv, "10.0.0.1:80", &remote).inode(0));
    }
    rows
}

pub(crate) fn owners() -> FakeProc {
    let leaky: Vec<u64> = (100..112).collect();
    FakeProc::new(&[
        (812, "nginx", &[50]),
        (2620, "python3", &leaky),
        (7, "evil\x1b[2J", &[200, 60]),
    ])
}

#[test]
fn states_per_family() {
    let s = summarize(&dump(), None, &sys());
    assert_eq!(s.total, dump().len());
    assert_eq!(s.states.len(), 10);
    let get = |name: &str| s.states.iter().find(|c| c.state == name).unwrap().clone();
    assert_eq!(
        get("LISTEN"),
        StateCount {
            state: "LISTEN",
            tcp: 1,
            tcp6: 1
        }
    );
    assert_eq!(get("ESTABLISHED").tcp + get("ESTABLISHED").tcp6, 4);
    assert_eq!(get("CLOSE_WAIT").tcp, 14);
    assert_eq!(get("TIME_WAIT").tcp, 8);
    assert!(s.states.iter().all(|c| c.state != "CLOSE"));
}

#[test]
fn udp_and_raw_sockets_are_counted_apart_from_tcp_states() {
    let datagram = |protocol, state, local: &str, remote: &str| {
        let mut s = sock(state, local, remote);
        s.protocol = protocol;
        s
    };
    let mut rows = dump();
    let tcp_alone = summarize(&rows, None, &sys());
    rows.extend([
        datagram(Protocol::Udp, Established, "10.0.0.1:5000", "10.0.0.2:53"),
        datagram(Protocol::Udp, Close, "0.0.0.0:53", "0.0.0.0:0"),
        datagram(Protocol::Udp, Close, "[::]:53", "[::]:0"),
        datagram(Protocol::Raw, Close, "0.0.0.0:1", "0.0.0.0:0"),
    ]);
    let s = summarize(&rows, None, &sys());
    assert_eq!(s.total, tcp_alone.total + 4);
    // The TCP figures are those of the TCP rows alone.
    assert_eq!(s.states, tcp_alone.states);
    assert_eq!(s.findings.len(), tcp_alone.findings.len());
    let count = |proto, connected, unconnected| DatagramCount {
        proto,
        connected,
        unconnected,
    };
    assert_eq!(
        s.datagrams,
        [count("udp", 1, 1), count("udp6", 0, 1), count("raw", 0, 1)]
    );
    assert!(tcp_alone.datagrams.is_empty());
}

#[test]
fn details_rank_ports_remotes_and_programs() {
    let fake = owners();
    let map = fake.map();
    let s = summarize(&dump(), Some(&map), &sys());
    let names: Vec<&str> = s.details.iter().map(|d| d.state).collect();
    assert_eq!(names, ["TIME_WAIT", "CLOSE_WAIT", "FIN_WAIT2", "SYN_RECV"]);
    let cw = &s.details[1];
    assert_eq!(cw.count, 14);
    assert_eq!(
        cw.top_local_ports,
        [
            PortCount {
                port: 80,
                count: 13
            },
            PortCount { port: 81, count: 1 }
        ]
    );
    assert_eq!(cw.top_remotes.len(), TOP);
    // Twelve remotes with one socket each: ties go in address order.
    assert_eq!(
        cw.top_remotes[0].address,
        "10.0.0.9".parse::<IpAddr>().unwrap()
    );
    let procs = cw.top_processes.as_ref().unwrap();
    assert_eq!(
        procs[0],
        ProcessCount {
            pid: 2620,
            name: "python3".into(),
            count: 12
        }
    );
    assert_eq!(procs[1].pid, 7);
    let tw = &s.details[0];
    assert_eq!(tw.top_remotes[0].count, 6);
    assert_eq!(tw.top_processes.as_deref(), Some(&[][..]));
    // Request sockets count for their listener's program.
    let syn = &s.details[3];
    assert_eq!(
        syn.top_processes.as_deref().unwrap(),
        [ProcessCount {
            pid: 812,
            name: "nginx".into(),
            count: 3
        }]
    );
    assert!(summarize(&dump(), None, &sys())
        .details
        .iter()
        .all(|d| d.top_processes.is_none()));
}

#[test]
fn orphans_are_closed_sockets_no_program_holds() {
    let s = summarize(&dump(), None, &sys());
    // FIN_WAIT1 and FIN_WAIT2 without inode; not the owned LAST_ACK, the
    // TIME_WAITs, the request sockets or the unaccepted CLOSE_WAIT.
    assert_eq!(s.orphans.total, 2);
    let by: Vec<(&str, usize)> = s
        .orphans
        .by_state
        .iter()
        .map(|t| (t.state, t.count))
        .collect();
    assert_eq!(by, [("FIN_WAIT1", 1), ("FIN_WAIT2", 1)]);
}

#[test]
fn timewait_fin_wait2_orphans_do_not_count_against_tcp_max_orphans() {
    // 120 FIN_WAIT2 orphans already handed to the timewait machinery, as a
    // server closing first makes them: the kernel's orphan count is 0.
    let orphan = |i: u16| {
        let mut s = sock(FinWait2, &format!("10.0.0.1:{}", 1000 + i), "10.0.0.2:80").inode(0);
        s.timer.kind = crate::model::TimerKind::TimeWait;
        s
    };
    let rows: Vec<Socket> = (0..120).map(orphan).collect();
    let few = Sysctls {
        tcp_max_orphans: Some(200),
        ..Sysctls::default()
    };
    let s = summarize(&rows, None, &few);
    assert_eq!((s.orphans.total, s.orphans.in_timewait), (120, 120));
    let finding = s.findings.iter().find(|f| f.kind == "orphans").unwrap();
    assert!(
        !finding.message.contains("tcp_max_orphans"),
        "{}",
        finding.message
    );
    assert_ne!(finding.severity, Severity::High);
}

#[test]
fn timewait_budget_counts_orphaned_fin_wait2() {
    let s = summarize(&dump(), None, &sys());
    assert_eq!(
        s.timewait,
        TimewaitBudget {
            time_wait: 8,
            timewait_sockets: 9,
            max_buckets: Some(10),
            percent: Some(90.0),
        }
    );
    let unknown = summarize(&dump(), None, &Sysctls::default());
    assert_eq!(
        (unknown.timewait.max_buckets, unknown.timewait.percent),
        (None, None)
    );
    assert!(unknown.ephemeral.is_none());
}

#[test]
fn ephemeral_ports_per_remote_endpoint() {
    let s = summarize(&dump(), None, &sys());
    let e = s.ephemeral.unwrap();
    assert_eq!((e.low, e.high, e.ports), (40000, 40009, 10));
    let top: Vec<(String, usize, f64)> = e
        .top_remotes
        .iter()
        .map(|r| {
            (
                format!("{}:{}", r.address, r.port),
                r.local_ports,
                r.percent,
            )
        })
        .collect();
    // Server-side sockets (local port 80) are outside the range.
    assert_eq!(
        top,
        [
            ("10.0.0.5:5432".to_string(), 6, 60.0),
            ("10.0.0.6:5432".to_string(), 1, 10.0)
        ]
    );
}

#[test]
fn established_timers_tell_keepalive_only_when_idle() {
    let s = summarize(&dump(), None, &sys());
    assert_eq!(
        s.established,
        EstablishedTimers {
            total: 4,
            keepalive: 1,
            no_keepalive: 1,
            busy: 2,
            retransmitting: 1,
            zero_window: 1,
        }
    );
}

#[test]
fn findings_most_serious_first() {
    let fake = owners();
    let map = fake.map();
    let s = summarize(&dump(), Some(&map), &sys());
    let kinds: Vec<(Severity, &str)> = s.findings.iter().map(|f| (f.severity, f.kind)).collect();
    assert_eq!(
        kinds,
        [
            (Severity::High, "timewait_limit"),
            (Severity::Medium, "close_wait"),
            (Severity::Medium, "ephemeral_ports"),
            (Severity::Medium, "retransmitting"),
            (Severity::Low, "zero_window"),
            (Severity::Low, "no_keepalive"),
        ]
    );
    assert_eq!(
        s.findings[1].message,
        "pid 2620 (python3) holds 12 sockets in CLOSE_WAIT: their peers closed, the program \
         has not called close()"
    );
    assert!(s.findings[0]
        .message
        .starts_with("9 timewait sockets, 90% of tcp_max_tw_buckets (10)"));
    assert!(s.findings[2]
        .message
        .starts_with("connections to 10.0.0.5:5432 use 6 of the 10 ephemeral ports (60%)"));
    // Without owners a leak is still reported, without a culprit.
    let anon = summarize(&dump(), None, &sys());
    assert!(anon
        .findings
        .iter()
        .any(|f| f.kind == "close_wait" && f.message.starts_with("14 sockets in CLOSE_WAIT")));
}

#[test]
fn orphan_findings_follow_the_host_limit() {
    let orphan = |i: u16| sock(FinWait1, &format!("10.0.0.1:{}", 1000 + i), "10.0.0.2:80").inode(0);
    let rows: Vec<Socket> = (0..120).map(orphan).collect();
    let few = Sysctls {
        tcp_max_orphans: Some(200),
        ..Sysctls::default()
    };
    let s = summarize(&rows, None, &few);
    assert_eq!(s.findings[0].kind, "orphans");
    assert_eq!(s.findings[0].severity, Severity::High);
    assert!(
        s.findings[0]
            .message
            .contains("120 of them here alone are 60% of tcp_max_orphans (200)"),
        "{}",
        s.findings[0].message
    );
    let s = summarize(&rows, None, &Sysctls::default());
    assert_eq!(s.findings[0].severity, Severity::Medium);
    let s = summarize(&rows[..10], None, &Sysctls::default());
    assert!(s.findings.is_empty());
}
