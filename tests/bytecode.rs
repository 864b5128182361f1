//! The port-filter bytecode against the real kernel, in a fresh network
//! namespace: the kernel must accept every program tcpstat compiles and
//! send exactly the sockets the filter keeps (or, for address filters, a
//! superset), and the same ones as the bytecode interpreter, whose audit
//! must refuse exactly the programs the kernel refuses.

mod support;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use clap::Parser;
use support::netns::Netns;
use support::sock::{as_fsuid, set_int};
use support::{require, Need};
use tcpstat::cli::{lower, Args};
use tcpstat::config::Config;
use tcpstat::filter::NoOwners;
use tcpstat::model::{Socket, StateSet, TcpState};
use tcpstat::plan;
use tcpstat::source::bytecode::{self, interpreter};
use tcpstat::source::{collect, netlink, Used};

/// The uid that owns the listener of the request socket.
const LISTENER_UID: u32 = 4242;

/// What the test built: the ports of interest.
struct Population {
    /// Kept open until the end of the test.
    _sockets: Vec<Box<dyn Send>>,
    /// The client port of the request socket (SYN_RECV on 7002).
    request_client: u16,
}

/// Listeners on 7000, 7001 (IPv4) and 8000 (IPv6 when there is one),
/// connections to each, a TIME_WAIT from 7001, and a request socket on
/// 7002, whose listener (TCP_DEFER_ACCEPT, owned by LISTENER_UID) keeps it
/// in SYN_RECV while the client sends nothing.
fn populate() -> Population {
    let mut keep: Vec<Box<dyn Send>> = Vec::new();
    let mut endpoints = vec![("127.0.0.1:7000", 3), ("127.0.0.1:7001", 2)];
    if TcpListener::bind("[::1]:0").is_ok() {
        endpoints.push(("[::1]:8000", 1));
    }
    for (addr, connections) in endpoints {
        let listener = TcpListener::bind(addr).unwrap();
        for _ in 0..connections {
            keep.push(Box::new(TcpStream::connect(addr).unwrap()));
            keep.push(Box::new(listener.accept().unwrap().0));
        }
        keep.push(Box::new(listener));
    }
    let tw_server = TcpListener::bind("127.0.0.1:7003").unwrap();
    let client = TcpStream::connect("127.0.0.1:7003").unwrap();
    let (server, _) = tw_server.accept().unwrap();
    drop(client); // closes first: TIME_WAIT on the client's side
    drop(server);
    let deferred = as_fsuid(LISTENER_UID, || {
        TcpListener::bind("127.0.0.1:7002").unwrap()
    });
    // The bare ACK of a handshake is dropped, so the connection stays a
    // request socket until data comes.
    set_int(&deferred, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 30);
    let request = TcpStream::connect("127.0.0.1:7002").unwrap();
    let request_client = request.local_addr().unwrap().port();
    keep.extend([Box::new(deferred) as Box<dyn Send>, Box::new(request)]);
    Population {
        _sockets: keep,
        request_client,
    }
}

/// A row's identity, to compare dumps.
type Key = (TcpState, SocketAddr, SocketAddr);

fn keys<'a>(rows: impl IntoIterator<Item = &'a Socket>) -> BTreeSet<Key> {
    rows.into_iter()
        .map(|s| {
            let local = SocketAddr::new(s.local.addr, s.local.port);
            (
                s.state,
                local,
                SocketAddr::new(s.remote.addr, s.remote.port),
            )
        })
        .collect()
}

/// Every state, and the kernel's state 0 bit too, as the tests always asked.
const EVERY: StateSet = StateSet::from_bits(0xfff);

fn request(states: StateSet, bytecode: Option<Vec<u8>>) -> netlink::Request {
    netlink::Request {
        protocol: tcpstat::model::Protocol::Tcp,
        ipv4: true,
        ipv6: true,
        states,
        timer_counters: false,
        info: false,
        memory: false,
        bytecode,
        split: None,
    }
}

/// Every socket of the namespace once the closes are over and the request
/// socket is there (up to 3 s).
fn settled(request_client: u16) -> Vec<Socket> {
    let (start, mut rows) = (Instant::now(), Vec::new());
    let closing = [
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::LastAck,
    ];
    loop {
        netlink::dump(&request(EVERY, None), &mut rows).expect("dump");
        let ready = rows.iter().any(|s| s.state == TcpState::TimeWait)
            && rows
                .iter()
                .any(|s| s.remote.port == request_client && s.state == TcpState::SynRecv)
            && !rows.iter().any(|s| closing.contains(&s.state));
        if ready {
            return rows;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "never settled: {rows:#?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn config(args: &[&str]) -> Config {
    let argv = ["tcpstat"].iter().chain(args);
    let parsed = Args::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    lower::config(&parsed).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Dumps with `program` (which the kernel must accept) and checks the rows
/// against the interpreter run over `all`; returns them.
fn dump_checked(what: &str, states: StateSet, program: &[u8], all: &[Socket]) -> Vec<Socket> {
    interpreter::audit(program).unwrap_or_else(|e| panic!("{what}: audit: {e}"));
    let mut got = Vec::new();
    netlink::dump(&request(states, Some(program.to_vec())), &mut got)
        .unwrap_or_else(|e| panic!("{what}: the kernel refused {program:?}: {e}"));
    let ran = all.iter().filter(|s| {
        states.contains(s.state) && interpreter::run(program, s.local.port, s.remote.port)
    });
    assert_eq!(
        keys(&got),
        keys(ran),
        "{what}: kernel and interpreter differ"
    );
    got
}

#[test]
fn kernel_sends_what_the_filter_keeps() {
    require!(Need::Netns);
    let ns = Netns::create("bytecode", "exact");
    ns.enter(|| {
        let population = populate();
        let all = settled(population.request_client);
        let requests = format!("dport = :{}", population.request_client);
        let cases: [(&[&str], bool); 13] = [
            (&["--dport", "7000"], true),
            (&["dport = :7000"], true),
            (&["--sport", "7000-7001"], true),
            (&["sport >= :7000 and sport <= :7001"], true),
            (&["not sport = :7000"], true),
            (&["sport = :7001 or dport = :7000"], true),
            (&["--port", "7001,8000-8001"], true),
            (
                &["( sport < :7001 or sport > :7002 ) and dport != :0"],
                true,
            ),
            (&["--sport", "7000", "--dport", "1-7000"], true),
            (&[&requests], true),
            (&["sport != *"], true),
            (&["src 127.0.0.1 and dport = :7000"], false),
            (&["not ( dst ::1 or sport = :7001 )"], false),
        ];
        for (args, exact) in cases {
            let cfg = config(&[&["-a"], args].concat());
            let program = bytecode::compile(&cfg.filter).expect("a program");
            let got = dump_checked(&format!("{args:?}"), cfg.states, &program, &all);
            let kept = keys(all.iter().filter(|s| cfg.filter.matches(s, &NoOwners)));
            let sent = keys(&got);
            assert!(
                sent.is_superset(&kept),
                "{args:?}: lost {:?}",
                &kept - &sent
            );
            assert!(
                !exact || sent == kept,
                "{args:?}: extra {:?}",
                &sent - &kept
            );
            assert!(sent.len() < all.len(), "{args:?}: filters nothing");
        }
    });
}

/// What `cfg` dumps as one dump, and as two with the halves of an
/// ephemeral range `range`.
fn one_and_two_dumps(cfg: &Config, range: (u16, u16)) -> (Vec<Socket>, Vec<Socket>) {
    let whole = request(cfg.states, bytecode::compile(&cfg.filter));
    let split = netlink::Request {
        split: Some(bytecode::split(&cfg.filter, range).expect("short programs")),
        ..whole.clone()
    };
    let (mut one, mut two) = (Vec::new(), Vec::new());
    netlink::dump(&whole, &mut one).expect("one dump");
    netlink::dump(&split, &mut two).expect("two dumps");
    (one, two)
}

/// A dump split in two ([`netlink::Split`]) sends what one dump sends,
/// each socket once, listeners first, request sockets with their
/// listener's uid; with and without a filter, with and without listeners.
/// The kernel runs both halves' programs: the partition is the kernel's,
/// not only the interpreter's.
#[test]
fn a_split_dump_is_the_whole_dump_once() {
    require!(Need::Netns);
    let ns = Netns::create("bytecode", "split");
    ns.enter(|| {
        let population = populate();
        let all = settled(population.request_client);
        // Ephemeral ranges whose middle lies above, below and among the
        // test's ports.
        for range in [(32768, 60999), (1024, 65535), (7000, 7001)] {
            for args in [&[][..], &["--port", "7000,7001"], &["-l"]] {
                let cfg = config(&[&["-a"], args].concat());
                let (one, two) = one_and_two_dumps(&cfg, range);
                let what = format!("{args:?} over {range:?}");
                assert_eq!(two.len(), keys(&two).len(), "{what}: a socket twice");
                assert_eq!(keys(&two), keys(&one), "{what}: not the same sockets");
                assert_eq!(
                    keys(&one),
                    keys(all.iter().filter(
                        |s| cfg.states.contains(s.state) && cfg.filter.matches(s, &NoOwners)
                    ))
                );
                let listeners = two
                    .iter()
                    .take_while(|s| s.state == TcpState::Listen)
                    .count();
                let all_listeners = two.iter().filter(|s| s.state == TcpState::Listen).count();
                assert!(all_listeners > 0, "{what}: no listener");
                assert_eq!(
                    listeners, all_listeners,
                    "{what}: a listener after another socket"
                );
                if let Some(req) = two.iter().find(|s| s.state == TcpState::SynRecv) {
                    assert_eq!(req.uid, LISTENER_UID, "{what}: the request's uid");
                }
            }
        }
        // Without listeners asked for, both start at once.
        let (one, two) = one_and_two_dumps(&config(&["-t"]), (32768, 60999));
        assert_eq!(keys(&two), keys(&one));
        assert!(!one.is_empty());
    });
}

/// The request socket's listener was filtered out by the kernel; the uid
/// still comes from it.
#[test]
fn request_sockets_keep_their_listeners_uid_under_a_filter() {
    require!(Need::Netns);
    let ns = Netns::create("bytecode", "uid");
    ns.enter(|| {
        let population = populate();
        let all = settled(population.request_client);
        let cfg = config(&["-tan", "--source", "netlink", "--sport", "7002"]);
        let mut rows = Vec::new();
        let request = plan::request(&cfg, cfg.states);
        assert_eq!(collect(&request, &mut rows).unwrap(), Used::Netlink);
        let kept = keys(all.iter().filter(|s| cfg.filter.matches(s, &NoOwners)));
        assert_eq!(keys(&rows), kept);
        let request = rows.iter().find(|s| s.state == TcpState::SynRecv);
        assert_eq!(request.map(|s| (s.inode, s.uid)), Some((0, LISTENER_UID)));

        let cfg = config(&["-tan", &format!("dport = :{}", population.request_client)]);
        let program = bytecode::compile(&cfg.filter).unwrap();
        let rows = dump_checked("request", cfg.states, &program, &all);
        let states: Vec<TcpState> = rows.iter().map(|s| s.state).collect();
        assert_eq!(states, [TcpState::SynRecv]);
        assert_eq!(rows[0].uid, LISTENER_UID);
    });
}

fn op(code: u8, yes: u8, no: u16) -> [u8; 4] {
    let [a, b] = no.to_ne_bytes();
    [code, yes, a, b]
}

/// Hand-made programs, five good then bad ones (misaligned jump, jump into
/// a port operand, cut comparison, short `yes`, jump past end + 4, unknown
/// code): the kernel accepts exactly those the interpreter's audit
/// accepts, and then sends what the interpreter runs to.
#[test]
fn interpreter_audits_like_the_kernel() {
    require!(Need::Netns);
    let (d_eq, s_ge, jmp) = (12, 2, 1);
    let port = |p| op(0, 0, p);
    let programs: [&[[u8; 4]]; 11] = [
        &[op(d_eq, 8, 12), port(7000)],
        &[op(jmp, 4, 8)],
        &[op(0, 4, 3), op(d_eq, 8, 12), port(7000)],
        &[op(s_ge, 8, 12), port(7001), op(jmp, 4, 8)],
        &[op(d_eq, 8, 12), port(7000), op(jmp, 4, 8), op(jmp, 4, 8)],
        &[op(d_eq, 8, 6), port(7000)],
        &[op(jmp, 4, 8), op(d_eq, 8, 12), port(7000)],
        &[op(d_eq, 8, 12)],
        &[op(d_eq, 4, 12), port(7000)],
        &[op(d_eq, 8, 16), port(7000)],
        &[op(99, 4, 8)],
    ];
    let ns = Netns::create("bytecode", "audit");
    ns.enter(|| {
        let population = populate();
        let all = settled(population.request_client);
        for (i, ops) in programs.iter().enumerate() {
            let program = ops.concat();
            let audited = interpreter::audit(&program);
            assert_eq!(audited.is_ok(), i < 5, "program {i}: {audited:?}");
            let mut got = Vec::new();
            let sent = netlink::dump(&request(EVERY, Some(program.clone())), &mut got);
            match (&audited, &sent) {
                (Ok(()), Ok(_)) => {
                    dump_checked(&format!("program {i}"), EVERY, &program, &all);
                }
                (Err(_), Err(e)) => assert!(e.to_string().contains("Invalid argument"), "{e}"),
                _ => panic!("program {i} {program:?}: audit {audited:?}, kernel {sent:?}"),
            }
        }
    });
}

/// The sockets of a listing as (local, remote, state) text, from
/// tcpstat's table or ss -H's (state names as netstat spells them).
fn listed(text: &str, ss: bool) -> BTreeSet<(String, String, String)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            match (ss, f.as_slice()) {
                (true, [state, _, _, local, remote, ..]) => Some((*local, *remote, *state)),
                (false, ["tcp" | "tcp6", _, _, local, remote, state, ..]) => {
                    Some((*local, *remote, *state))
                }
                _ => None,
            }
        })
        .map(|(l, r, s)| (l.to_owned(), r.to_owned(), s.replace('-', "_")))
        .collect()
}

/// `--parallel auto` splits the dump of a namespace of 20,000 TCP sockets
/// (TIME_WAIT ones: they hold no descriptor), says so under -v, and lists
/// exactly what ss and one dump list.
#[test]
fn auto_splits_a_namespace_of_twenty_thousand_sockets() {
    require!(Need::Netns, Need::Tool("ss"));
    let ns = Netns::create("bytecode", "auto");
    // A few more than auto's 20,000: the kernel resets an orphaned
    // closing socket instead of keeping it when the machine holds too
    // many (other tests' count), and then no TIME_WAIT is left of it.
    let wanted = 20_600;
    ns.enter(|| {
        // Else connect takes over ports of TIME_WAIT sockets a second old.
        std::fs::write("/proc/sys/net/ipv4/tcp_tw_reuse", "0").unwrap();
        // And finds a free port soon among so many taken.
        std::fs::write("/proc/sys/net/ipv4/ip_local_port_range", "1024 65535").unwrap();
        let listener = TcpListener::bind("127.0.0.1:7100").unwrap();
        for _ in 0..wanted {
            // The client closes first: its end waits in TIME_WAIT.
            let client = TcpStream::connect("127.0.0.1:7100").unwrap();
            let (server, _) = listener.accept().unwrap();
            drop(client);
            drop(server);
        }
    });
    let start = Instant::now();
    let ss = loop {
        let ss = listed(&ns.stdout("ss", &["-tanH"]), true);
        if ss.iter().all(|(_, _, state)| state == "TIME_WAIT") {
            break ss;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "closes never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(ss.len() >= 20_000, "only {} TIME_WAIT sockets", ss.len());
    let auto = ns.exec(support::compare::tcpstat_bin(), &["-tan", "-v"]);
    let stderr = String::from_utf8_lossy(&auto.stderr);
    assert!(auto.status.success(), "{stderr}");
    // At least this namespace's sockets (a kernel whose TIME_WAIT count
    // is not per namespace counts others' too).
    let counted = stderr
        .split_once("two dumps side by side (")
        .and_then(|(_, rest)| rest.split_once(" TCP sockets in the namespace)"))
        .and_then(|(n, _)| n.parse::<usize>().ok());
    assert!(counted >= Some(ss.len()), "no split said: {stderr}");
    let one = ns.stdout(
        support::compare::tcpstat_bin(),
        &["-tan", "--parallel", "never"],
    );
    let auto = listed(&String::from_utf8_lossy(&auto.stdout), false);
    assert_eq!(auto, ss, "two dumps against ss");
    assert_eq!(listed(&one, false), ss, "one dump against ss");
}
