//! `-N all` in watch mode on real namespaces this test makes (named
//! `tcpstat-allns-events-<pid>-<tag>`):
//!
//! - `-c`: a namespace created during the watch is listed, labelled, from
//!   a later pass on (as `ss` lists it inside), and one deleted goes away
//!   while tcpstat keeps running;
//! - sampled `--events`: two namespaces each holding 127.0.0.1:80 <->
//!   127.0.0.1:40000 are two pairs of sockets, each event labelled with its
//!   namespace; a connection that opens and closes between two polls is
//!   reported from its own namespace's destroy notification, also in a
//!   namespace created during the watch;
//! - exact `--events`: two namespaces churning at once on the same ports,
//!   and a third created during the watch, against bpftrace on the same
//!   tracepoint: every change of each is reported, with its namespace
//!   (labelled, also the one created during the watch).
//!
//! Other namespaces on the machine are read too (that is `-N all`); only
//! ours are checked, and filters keep the output to our ports.

mod support;

use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};
use support::child::Reader;
use support::compare::missing_from;
use support::netns::Netns;
use support::oracle::KERNEL_TCP_STATES;
use support::schema::{assert_valid, validator};
use support::signals::default_signals;
use support::{require, Need};

const TCPSTAT: &str = env!("CARGO_BIN_EXE_tcpstat");
const GROUP: &str = "allns-events";

/// How long a few passes may take: `-N all` reads every namespace on
/// the machine, which other tests may fill with hundreds of thousands of
/// sockets (passes of 40 s were seen on a loaded machine; milliseconds
/// otherwise).
const PATIENCE: Duration = Duration::from_secs(240);

fn inode(ns: &Netns) -> u64 {
    std::fs::metadata(format!("/var/run/netns/{}", ns.name()))
        .unwrap()
        .ino()
}

fn tcpstat(args: &[&str]) -> Reader {
    Reader::start(default_signals(&mut Command::new(TCPSTAT)).args(args))
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// The rows of a `-c --json` pass in namespace `netns`, as `local port`.
fn ports_in(pass: &Value, netns: u64) -> Vec<u64> {
    pass["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["netns"]["inode"] == netns)
        .map(|s| s["local"]["port"].as_u64().unwrap())
        .collect()
}

#[test]
fn watch_lists_a_namespace_created_during_it_and_drops_one_deleted() {
    require!(Need::Netns, Need::Tool("ss"));
    const PORT: u16 = 27951;
    let filter = format!("sport = :{PORT}");
    let mut run = tcpstat(&["-N", "all", "-tln", "-c", "0.3", "--json", "-v", &filter]);
    run.wait_for("first pass", PATIENCE, |lines| !lines.is_empty());
    let ns = Netns::create(GROUP, "late");
    let ino = inode(&ns);
    let listener = ns.enter(|| TcpListener::bind(("127.0.0.1", PORT)).unwrap());
    run.wait_for("the new namespace's listener", PATIENCE, |lines| {
        lines
            .iter()
            .any(|l| ports_in(&json(l), ino) == [u64::from(PORT)])
    });
    // As ss lists it inside, and labelled with its ip netns name.
    let ss = ns.stdout("ss", &["-Htln", &filter]);
    assert!(ss.contains(&format!("127.0.0.1:{PORT}")), "{ss}");
    let lines = run.lines();
    let seen = lines
        .iter()
        .map(|l| json(l))
        .find(|p| !ports_in(p, ino).is_empty())
        .unwrap();
    let row = seen["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["netns"]["inode"] == ino)
        .unwrap();
    assert_eq!(row["netns"]["name"], ns.name(), "{row}");
    assert_valid(&validator(Some("pass")), &seen);
    run.wait_for_note(&format!("net:[{ino}] ({}) appeared", ns.name()), PATIENCE);

    drop(listener);
    drop(ns);
    let deleted_at = run.lines().len();
    run.wait_for_note(
        &format!("net:[{ino}] ({}) is gone", ns_name("late")),
        PATIENCE,
    );
    // Two passes after the deletion: the namespace is in neither, and the
    // watch goes on.
    run.wait_for("two passes after the deletion", PATIENCE, |lines| {
        lines.len() >= deleted_at + 3
    });
    let lines = run.lines();
    let last = json(lines.last().unwrap());
    assert!(ports_in(&last, ino).is_empty(), "{last}");
    assert!(
        !last.to_string().contains(&ns_name("late")),
        "the gone namespace is still named: {last}"
    );
    let (status, _, _) = run.stop(libc::SIGINT);
    assert_eq!(status, Some(130));
}

fn ns_name(tag: &str) -> String {
    format!("tcpstat-{GROUP}-{}-{tag}", std::process::id())
}

/// One event as `(namespace, event, old state, state, local port, remote
/// port)`.
type Seen = (u64, String, String, String, u64, u64);

fn seen(e: &Value) -> Seen {
    let s = &e["socket"];
    (
        s["netns"]["inode"].as_u64().unwrap(),
        e["event"].as_str().unwrap().to_owned(),
        e["old_state"].as_str().unwrap_or("-").to_owned(),
        s["state"].as_str().unwrap().to_owned(),
        s["local"]["port"].as_u64().unwrap(),
        s["remote"]["port"].as_u64().unwrap(),
    )
}

/// The events so far, checked against the schema and their labels
/// (`names`: inode → ip netns name).
fn events(lines: &[String], names: &HashMap<u64, String>) -> Vec<Value> {
    let schema = validator(Some("event"));
    lines
        .iter()
        .map(|l| json(l))
        .inspect(|e| {
            assert_valid(&schema, e);
            let netns = &e["socket"]["netns"];
            if let Some(name) = names.get(&netns["inode"].as_u64().unwrap()) {
                assert_eq!(netns["name"], name.as_str(), "{e}");
            }
        })
        .collect()
}

/// A connection from 127.0.0.1:`from` to the listener, and its accepted
/// end.
fn connect(listener: &TcpListener, from: u16) -> (TcpStream, TcpStream) {
    let fd = support::sock::socket([127, 0, 0, 1].into(), false);
    support::sock::set_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    support::sock::bind(&fd, ([127, 0, 0, 1], from).into());
    support::sock::connect(&fd, listener.local_addr().unwrap());
    let client = TcpStream::from(fd);
    (client, listener.accept().unwrap().0)
}

#[test]
fn sampled_events_tell_apart_namespaces_sharing_a_four_tuple() {
    require!(Need::Netns, Need::Tool("ss"));
    let (a, b) = (Netns::create(GROUP, "a"), Netns::create(GROUP, "b"));
    let names: HashMap<u64, String> = [&a, &b]
        .iter()
        .map(|ns| (inode(ns), ns.name().to_owned()))
        .collect();
    let (ia, ib) = (inode(&a), inode(&b));
    let listen = |ns: &Netns| ns.enter(|| TcpListener::bind("127.0.0.1:80").unwrap());
    let (la, lb) = (listen(&a), listen(&b));
    // Ports 80 and 40000..: ours alone, since only our namespaces have them
    // and the filter names the ports.
    let filter = "sport = :80 or dport = :80";
    let mut run = tcpstat(&[
        "-N",
        "all",
        "--events=sampled",
        "-c",
        "0.3",
        "--json",
        "-v",
        filter,
    ]);
    run.wait_for_note("read ", PATIENCE);
    let (ca, sa) = a.enter(|| connect(&la, 40000));
    let (cb, sb) = b.enter(|| connect(&lb, 40000));
    for ns in [&a, &b] {
        let ss = ns.stdout("ss", &["-Htn", "state", "established"]);
        assert!(ss.contains("127.0.0.1:40000") && ss.contains("127.0.0.1:80"));
    }
    let new_in = |lines: &[String], netns| {
        let e = events(lines, &names);
        let mut got: Vec<Seen> = e.iter().map(seen).filter(|s| s.0 == netns).collect();
        got.sort();
        got
    };
    let both_new = |netns| {
        vec![
            (
                netns,
                "new".into(),
                "-".into(),
                "ESTABLISHED".into(),
                80,
                40000,
            ),
            (
                netns,
                "new".into(),
                "-".into(),
                "ESTABLISHED".into(),
                40000,
                80,
            ),
        ]
    };
    run.wait_for("both namespaces' connections", PATIENCE, |lines| {
        new_in(lines, ia) == both_new(ia) && new_in(lines, ib) == both_new(ib)
    });
    // a's connection closes (client first); b's stays. In b, a connection
    // opens and closes between two polls: only b's destroy notification
    // can tell of it.
    let before = run.lines().len();
    drop(ca);
    let mut rest = Vec::new();
    (&sa).read_to_end(&mut rest).unwrap();
    drop(sa);
    b.enter(|| {
        let (c, s) = connect(&lb, 40001);
        drop(c);
        (&s).read_to_end(&mut Vec::new()).unwrap();
    });
    let after = |lines: &[String]| -> Vec<Seen> {
        events(&lines[before..], &names).iter().map(seen).collect()
    };
    // The client's end moves on to TIME_WAIT (through FIN_WAIT2 if a
    // poll caught it there), the server's is gone.
    let closed_in_a = |lines: &[String]| {
        let got = after(lines);
        got.iter()
            .any(|s| s.0 == ia && s.1 == "state" && s.3 == "TIME_WAIT" && s.4 == 40000)
            && got.iter().any(|s| s.0 == ia && s.1 == "gone" && s.4 == 80)
    };
    let short_in_b = |lines: &[String]| notified(&lines[before..], &names, ib, 40001);
    run.wait_for("a's close and b's short connection", PATIENCE, |lines| {
        closed_in_a(lines) && short_in_b(lines)
    });
    let (status, lines, _) = run.stop(libc::SIGINT);
    assert_eq!(status, Some(130));
    let got = after(&lines);
    // b's 40000 pair never changed; a had no short connection.
    assert!(
        !got.iter()
            .any(|s| s.0 == ib && (s.4 == 40000 || s.5 == 40000)),
        "{got:?}"
    );
    assert!(!got.iter().any(|s| s.0 == ia && s.5 == 40001), "{got:?}");
    drop((cb, sb));
}

/// Whether the server's end of the connection from `port` in `netns` was
/// reported gone with its destroy notification's byte counts (which only
/// that namespace's notification carries).
fn notified(lines: &[String], names: &HashMap<u64, String>, netns: u64, port: u64) -> bool {
    events(lines, names).iter().any(|e| {
        let s = seen(e);
        s.0 == netns && s.1 == "gone" && s.5 == port && e["bytes_acked"].as_u64().is_some()
    })
}

#[test]
fn sampled_events_follow_a_namespace_created_during_the_watch() {
    require!(Need::Netns);
    const PORT: u16 = 27961;
    let filter = format!("sport = :{PORT} or dport = :{PORT}");
    let mut run = tcpstat(&[
        "-N",
        "all",
        "--events=sampled",
        "-a",
        "-c",
        "0.3",
        "--json",
        "-v",
        &filter,
    ]);
    run.wait_for_note("read ", PATIENCE);
    let ns = Netns::create(GROUP, "born");
    let ino = inode(&ns);
    let names = HashMap::from([(ino, ns.name().to_owned())]);
    let listener = ns.enter(|| TcpListener::bind(("127.0.0.1", PORT)).unwrap());
    // Its listener's `new` says it is read (and its groups joined).
    run.wait_for("the new namespace's listener", PATIENCE, |lines| {
        events(lines, &names)
            .iter()
            .map(seen)
            .any(|s| s.0 == ino && s.1 == "new" && s.3 == "LISTEN")
    });
    ns.enter(|| {
        let (c, s) = connect(&listener, 40002);
        drop(c);
        (&s).read_to_end(&mut Vec::new()).unwrap();
    });
    run.wait_for(
        "the short connection's destroy notification",
        PATIENCE,
        |lines| notified(lines, &names, ino, 40002),
    );
    let (status, _, _) = run.stop(libc::SIGINT);
    assert_eq!(status, Some(130));
}

/// bpftrace's view of the tracepoint: every TCP change, with the namespace
/// read through the socket's BTF type (as tests/events_exact.rs reads it).
const ORACLE: &str = r#"
tracepoint:sock:inet_sock_set_state /args->protocol == 6 && args->family == 2/ {
  $sk = (struct sock *)args->skaddr;
  printf("E %u %d %d %d %d %s %s\n",
    $sk->__sk_common.skc_net.net->ns.inum,
    args->oldstate, args->newstate, args->sport, args->dport,
    ntop(args->saddr), ntop(args->daddr));
}
"#;

/// The exact test's server port (in each namespace) and marker port.
const EXACT_SERVER: u16 = 27971;
const EXACT_MARKER: u16 = 27972;

/// A change: namespace, old and new state, local and remote `addr port`.
type Change = (u64, String, String, String, String);

/// bpftrace's changes on our ports in the namespaces `ours`.
fn oracle_changes(lines: &[String], ours: &[u64]) -> Vec<Change> {
    lines
        .iter()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() != 8 || f[0] != "E" {
                return None;
            }
            let n = |i: usize| f[i].parse::<u64>().unwrap();
            let (sport, dport) = (n(4) as u16, n(5) as u16);
            (ours.contains(&n(1)) && (sport == EXACT_SERVER || dport == EXACT_SERVER)).then(|| {
                (
                    n(1),
                    KERNEL_TCP_STATES[n(2) as usize].to_owned(),
                    KERNEL_TCP_STATES[n(3) as usize].to_owned(),
                    format!("{} {sport}", f[6]),
                    format!("{} {dport}", f[7]),
                )
            })
        })
        .collect()
}

/// tcpstat's event as a change, having checked that its socket's `netns`
/// object names the namespace the kernel's record gave.
fn change_of(e: &Value, names: &HashMap<u64, String>) -> Change {
    let s = &e["socket"];
    let netns = e["netns"].as_u64().unwrap();
    assert_eq!(s["netns"]["inode"], netns, "{e}");
    if let Some(name) = names.get(&netns) {
        assert_eq!(s["netns"]["name"], name.as_str(), "{e}");
    }
    let end = |v: &Value| format!("{} {}", v["address"].as_str().unwrap(), v["port"]);
    (
        netns,
        e["old_state"].as_str().unwrap().to_owned(),
        s["state"].as_str().unwrap().to_owned(),
        end(&s["local"]),
        end(&s["remote"]),
    )
}

/// `rounds` connections to the namespace's server, closed in turn by the
/// client and by the server.
fn churn(rounds: usize) {
    let listener = TcpListener::bind(("127.0.0.1", EXACT_SERVER)).unwrap();
    for round in 0..rounds {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let (first, second) = match round % 2 {
            0 => (client, accepted),
            _ => (accepted, client),
        };
        drop(first);
        let _ = (&second).read_to_end(&mut Vec::new());
    }
}

#[test]
fn exact_events_of_every_namespace_match_the_kernels_tracepoint() {
    require!(
        Need::Netns,
        Need::Btf,
        Need::Tool("bpftrace"),
        Need::Tracefs
    );
    let (a, b) = (Netns::create(GROUP, "xa"), Netns::create(GROUP, "xb"));
    let oracle = Reader::start(
        Command::new("bpftrace")
            .env("BPFTRACE_PERF_RB_PAGES", "4096")
            .args(["-e", ORACLE]),
    );
    let filter =
        format!("sport = :{EXACT_SERVER} or dport = :{EXACT_SERVER} or sport = :{EXACT_MARKER}");
    let mut tcpstat = tcpstat(&["-N", "all", "--events=exact", "--json", "-a", &filter]);
    // Both readers are attached once both saw a marker listener open.
    let (text, json_port) = (
        format!(" {EXACT_MARKER} "),
        format!("\"port\":{EXACT_MARKER}"),
    );
    let started = |r: &Reader| {
        r.lines()
            .iter()
            .any(|l| l.contains(&text) || l.contains(&json_port))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(started(&oracle) && started(&tcpstat)) {
        assert!(Instant::now() < deadline, "the readers did not both start");
        a.enter(|| drop(TcpListener::bind(("127.0.0.1", EXACT_MARKER)).unwrap()));
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two namespaces churn at once; a third, created now, too.
    let c = Netns::create(GROUP, "xc");
    std::thread::scope(|s| {
        s.spawn(|| a.enter(|| churn(400)));
        s.spawn(|| b.enter(|| churn(400)));
        c.enter(|| churn(100));
    });
    let ours: Vec<u64> = [&a, &b, &c].iter().map(|ns| inode(ns)).collect();
    let names: HashMap<u64, String> = [&a, &b, &c]
        .iter()
        .map(|ns| (inode(ns), ns.name().to_owned()))
        .collect();
    // Until both have printed every change (the last ones: each
    // namespace's listener closing), for at most PATIENCE.
    let closed = |lines: &[String], netns: u64| {
        lines.iter().any(|l| {
            l.starts_with(&format!("E {netns} 10 7 {EXACT_SERVER} "))
                || (l.contains("\"old_state\":\"LISTEN\"")
                    && l.contains(&format!("\"netns\":{netns}"))
                    && l.contains("\"state\":\"CLOSE\""))
        })
    };
    tcpstat.wait_for("every listener's close", PATIENCE, |lines| {
        ours.iter().all(|&n| closed(lines, n))
    });
    let deadline = Instant::now() + PATIENCE;
    while !ours.iter().all(|&n| closed(&oracle.lines(), n)) {
        assert!(Instant::now() < deadline, "bpftrace: {}", oracle.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The last connections' final changes may come after their
    // listener's close: until neither reader has printed for a second.
    let count = || tcpstat.lines().len() + oracle.lines().len();
    let (mut last, deadline) = (count(), Instant::now() + PATIENCE);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = count();
        if now == last || Instant::now() > deadline {
            break;
        }
        last = now;
    }
    let (status, lines, _) = tcpstat.stop(libc::SIGINT);
    assert_eq!(status, Some(130));
    let (_, oracle_lines, _) = oracle.stop(libc::SIGINT);
    assert!(
        !oracle_lines.iter().any(|l| l.contains("Lost")),
        "bpftrace lost events"
    );

    let schema = validator(Some("event"));
    let mut got = Vec::new();
    for line in &lines {
        let e = json(line);
        assert_valid(&schema, &e);
        assert_ne!(e["event"], "lost", "{e}");
        let port = |end: &str| e["socket"][end]["port"].as_u64().unwrap() as u16;
        if port("local") == EXACT_SERVER || port("remote") == EXACT_SERVER {
            got.push(change_of(&e, &names));
        }
    }
    let got: Vec<Change> = got.into_iter().filter(|c| ours.contains(&c.0)).collect();
    let theirs = oracle_changes(&oracle_lines, &ours);
    for (ns, rounds) in ours.iter().zip([400, 400, 100]) {
        let of = |v: &[Change]| v.iter().filter(|c| c.0 == *ns).cloned().collect::<Vec<_>>();
        let (mine, kernel) = (of(&got), of(&theirs));
        eprintln!(
            "net:[{ns}]: tcpstat {} changes, bpftrace {}",
            mine.len(),
            kernel.len()
        );
        // A connection is at least ten changes (five a side).
        assert!(kernel.len() >= rounds * 10, "bpftrace saw {}", kernel.len());
        let unseen = missing_from(&kernel, &mine);
        assert!(
            unseen.is_empty(),
            "not reported: {:?}",
            &unseen[..unseen.len().min(10)]
        );
        let invented = missing_from(&mine, &kernel);
        assert!(
            invented.is_empty(),
            "not in the kernel's: {:?}",
            &invented[..invented.len().min(10)]
        );
    }
}

/// The kernel gives a deleted namespace's inode to the next one made. An
/// exact event from the new one names the new one, not the namespace
/// whose inode it was when tcpstat found it.
#[test]
fn an_event_from_a_namespace_on_a_reused_inode_names_the_new_one() {
    require!(Need::Netns, Need::Btf, Need::Tracefs);
    const PORT: u16 = 27981;
    let old = Netns::create(GROUP, "reused-old");
    let ino = inode(&old);
    let filter = format!("sport = :{PORT}");
    let mut run = tcpstat(&["-N", "all", "--events=exact", "-a", "--json", &filter]);
    let named = |lines: &[String], name: &str| {
        lines.iter().map(|l| json(l)).any(|e| {
            e["netns"] == ino
                && e["socket"]["netns"]["name"] == name
                && e["socket"]["state"] == "LISTEN"
        })
    };
    // Reading once a listener of the old namespace is reported, named.
    let old_name = old.name().to_owned();
    let deadline = Instant::now() + PATIENCE;
    while !named(&run.lines(), &old_name) {
        assert!(Instant::now() < deadline, "no event from the old namespace");
        old.enter(|| drop(TcpListener::bind(("127.0.0.1", PORT)).unwrap()));
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(old);
    // The kernel frees a namespace's inode a moment after its deletion,
    // and hands out the lowest free one: namespaces are made (and kept,
    // filling lower holes) until one has the old inode.
    let mut fillers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let new = loop {
        let ns = Netns::create(GROUP, &format!("reused-{}", fillers.len()));
        if inode(&ns) == ino {
            break ns;
        }
        fillers.push(ns);
        if Instant::now() > deadline || fillers.len() >= 200 {
            eprintln!(
                "skipped: {} namespaces made in {:?}, none on the deleted one's inode {ino}",
                fillers.len(),
                Duration::from_secs(20)
            );
            run.stop(libc::SIGINT);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let before = run.lines().len();
    new.enter(|| drop(TcpListener::bind(("127.0.0.1", PORT)).unwrap()));
    let new_name = new.name().to_owned();
    run.wait_for("the new namespace's listener", PATIENCE, |lines| {
        lines.len() > before
    });
    let (status, lines, _) = run.stop(libc::SIGINT);
    assert_eq!(status, Some(130));
    let after: Vec<Value> = lines[before..].iter().map(|l| json(l)).collect();
    assert!(!after.is_empty());
    for e in &after {
        assert_eq!(e["netns"], ino, "{e}");
        assert_eq!(e["socket"]["netns"]["name"], new_name.as_str(), "{e}");
    }
}
