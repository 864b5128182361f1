//! Acceptance tests of the filters: on the socket zoo, every filter flag
//! and every form of ss's filter expression lists the same sockets as ss
//! does for the same filter, from the netlink and the /proc source alike;
//! a malformed filter is a usage error naming the offending token.
//!
//! Each test builds one zoo and runs a table of cases in both of its
//! namespaces, collecting every failure before reporting them together.
//! Both tools get `-a` (bundled in `-tan` on both sides) unless a case is
//! about scope: without it ss hides LISTEN, SYN_RECV and TIME_WAIT while
//! tcpstat, like netstat, hides only LISTEN; with it both list everything
//! the filter keeps. An explicit state list replaces `-a` in both.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::Instant;

use support::filter_cases::{check_cases, Case, Expect};
use support::netns::Side::{self, A, B};
use support::oracle::Row;
use support::zoo::{Zoo, OTHER_UID};
use support::{require, Need};

/// The zoo's well-known ports and addresses, learnt from its animals and
/// its lab, as text for command lines.
struct Places {
    /// A: 0.0.0.0 and [::] listeners, the loopback closing sequences.
    a_main: String,
    /// A: the dual-stack listener and its IPv4-mapped connections.
    a_dual: String,
    /// A: the listener of uid 1000.
    a_uid: String,
    /// B: 0.0.0.0 and [::] listeners, target of most of A's connections.
    b_main: String,
    /// B: the listeners of the SYN_RECV and zero-window recipes.
    b_syn_recv: String,
    b_zero_window: String,
    /// A's and B's address on channel 0, and their IPv6 addresses.
    a0: Ipv4Addr,
    b0: Ipv4Addr,
    a6: Ipv6Addr,
    b6: Ipv6Addr,
    /// The lab's IPv4 network, `10.231.N.0/24`.
    link: String,
    /// B's addresses on channels 4 to 9 (LAST_ACK, CLOSING, SYN_RECV, …).
    b_high: String,
}

impl Places {
    fn of(zoo: &Zoo) -> Places {
        let port = |side: Side, name: &str| {
            zoo.animals_in(side)
                .find(|a| a.name == name)
                .unwrap_or_else(|| panic!("the zoo has no `{name}` in {side:?}"))
                .local
                .port()
                .to_string()
        };
        let a0 = zoo.lab.v4(A, 0);
        let [n1, n2, n3, _] = a0.octets();
        Places {
            a_main: port(A, "listen v4"),
            a_dual: port(A, "listen dual-stack"),
            a_uid: port(A, "listen, other uid"),
            b_main: port(B, "listen v4"),
            b_syn_recv: port(B, "listen syn-recv"),
            b_zero_window: port(B, "listen small rcvbuf"),
            a0,
            b0: zoo.lab.v4(B, 0),
            a6: zoo.lab.v6(A),
            b6: zoo.lab.v6(B),
            link: format!("{n1}.{n2}.{n3}.0/24"),
            b_high: format!("{n1}.{n2}.{n3}.24/29"),
        }
    }
}

/// An IPv6 socket with IPv4-mapped addresses, which ss prints as
/// `[::ffff:a.b.c.d]` and netstat (and tcpstat) as `a.b.c.d`.
fn is_mapped(row: &Row) -> bool {
    row.proto == "tcp6" && row.local.is_ipv4()
}

const MAPPED: Expect = Expect::Including("an IPv4-mapped socket", is_mapped);

/// Runs the cases on a fresh zoo and fails with every problem found.
fn run(group: &str, cases: fn(&Places) -> Vec<Case>) {
    let started = Instant::now();
    let zoo = Zoo::build(group);
    let built = started.elapsed();
    let cases = cases(&Places::of(&zoo));
    let problems = check_cases(&zoo, &cases);
    eprintln!(
        "{} cases: zoo built in {built:?}, checked in {:?}",
        cases.len(),
        started.elapsed() - built
    );
    assert!(
        problems.is_empty(),
        "{} of {} filter cases failed:\n\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

/// The same expression for tcpstat (as separate words) and ss.
fn same(expr: &str) -> Case {
    let words: Vec<&str> = expr.split_whitespace().collect();
    Case::ss(&words, expr)
}

#[test]
fn port_and_state_flags_select_what_ss_selects() {
    require!(Need::Netns, Need::Tool("ss"));
    run("filter-flags", |p| {
        let (am, ad, au, bm) = (&p.a_main, &p.a_dual, &p.a_uid, &p.b_main);
        let (bs, bz) = (&p.b_syn_recv, &p.b_zero_window);
        let mut cases = vec![
            // Ports: single, list, range, mixed, either end, repeated.
            Case::ss(&["--dport", bm], &format!("dport = :{bm}")),
            Case::ss(&["--sport", bm], &format!("sport = :{bm}")),
            Case::ss(
                &["--sport", &format!("{am},{ad}")],
                &format!("( sport = :{am} or sport = :{ad} )"),
            ),
            Case::ss(
                &["--dport", &format!("{am}-{ad}")],
                &format!("( dport >= :{am} and dport <= :{ad} )"),
            ),
            Case::ss(
                &["--sport", &format!("{au},{bs}-{bz}")],
                &format!("( sport = :{au} or ( sport >= :{bs} and sport <= :{bz} ) )"),
            ),
            Case::ss(
                &["--port", am],
                &format!("( sport = :{am} or dport = :{am} )"),
            ),
            Case::ss(
                &["--port", &format!("{ad},{bs}-{bz}")],
                &format!(
                    "( sport = :{ad} or dport = :{ad} or ( sport >= :{bs} and sport <= :{bz} ) \
                     or ( dport >= :{bs} and dport <= :{bz} ) )"
                ),
            ),
            Case::ss(
                &["--dport", am, "--dport", bm],
                &format!("( dport = :{am} or dport = :{bm} )"),
            ),
            Case::ss(&["--port", am, "--sport", am], &format!("sport = :{am}")),
            Case::ss(&["--dport", "32768-65535"], "dport >= :32768"),
            // Groups; teardown is tcpstat's own.
            Case::ss(&["--state", "all"], "state all"),
            Case::ss(&["--state", "connected"], "state connected"),
            Case::ss(&["--state", "synchronized"], "state synchronized"),
            Case::ss(&["--state", "bucket"], "state bucket"),
            Case::ss(&["--state", "big"], "state big"),
            Case::ss(
                &["--state", "teardown"],
                "state fin-wait-1 state fin-wait-2 state closing state last-ack \
                 state time-wait state close-wait",
            ),
            // Lists and repeats mean any of them.
            Case::ss(
                &["--state", "established,TIME_WAIT"],
                "state established state time-wait",
            ),
            Case::ss(
                &["--state", "bucket,listen"],
                "state bucket state listening",
            ),
            Case::ss(
                &["--state", "listening", "--state", "established"],
                "state listening state established",
            ),
            // The states are none of the zoo's, but ss and tcpstat agree.
            Case::ss(&["--state", "close"], "state closed").expect(Expect::Nothing),
            Case::ss(&["--state", "unconnected"], "state closed").expect(Expect::Nothing),
            // Scope: without -a only LISTEN is hidden (netstat's rule, which
            // in ss is `exclude listening`); -l lists LISTEN only; explicit
            // states replace either.
            Case::scoped("-tn", &[], "-tnH", "exclude listening"),
            Case::scoped("-tln", &[], "-tlnH", ""),
            Case::scoped("-tn", &["--state", "time-wait"], "-tnH", "state time-wait"),
            Case::scoped(
                "-tln",
                &["--state", "established"],
                "-tlnH",
                "state established",
            ),
            Case::scoped(
                "-tn",
                &["--dport", bm],
                "-tnH",
                &format!("exclude listening dport = :{bm}"),
            ),
            Case::scoped("-tln", &["--sport", am], "-tlnH", &format!("sport = :{am}")),
        ];
        // Every state in netstat's, ss's and other spellings.
        let spellings: [(&[&str], &str); 11] = [
            (
                &["ESTABLISHED", "established", "estab", "Established"],
                "established",
            ),
            (&["SYN_SENT", "syn-sent", "synsent"], "syn-sent"),
            (&["SYN_RECV", "syn-recv", "syn-rcv"], "syn-recv"),
            (
                &["FIN_WAIT1", "fin-wait-1", "Fin-Wait-1", "fin_wait_1"],
                "fin-wait-1",
            ),
            (&["FIN_WAIT2", "fin-wait-2"], "fin-wait-2"),
            (&["TIME_WAIT", "time-wait", "timewait"], "time-wait"),
            (&["CLOSE_WAIT", "close-wait"], "close-wait"),
            (&["LAST_ACK", "last-ack"], "last-ack"),
            (&["LISTEN", "listen", "listening"], "listening"),
            (&["CLOSING", "closing"], "closing"),
            (&["CLOSE", "closed"], "closed"),
        ];
        for (names, ss_name) in spellings {
            for name in names {
                let case = Case::ss(&["--state", name], &format!("state {ss_name}"));
                cases.push(if ss_name == "closed" {
                    case.expect(Expect::Nothing)
                } else {
                    case
                });
            }
        }
        cases
    });
}

#[test]
fn address_and_owner_flags_select_what_ss_selects() {
    require!(Need::Netns, Need::Tool("ss"));
    run("filter-owners", |p| {
        let (au, bm) = (&p.a_uid, &p.b_main);
        let (a0, b0, a6, b6) = (p.a0.to_string(), p.b0.to_string(), &p.a6, &p.b6);
        let link = &p.link;
        let mut cases =
            vec![
            // ss matches IPv4-mapped sockets with an IPv4 address or prefix
            // too (its inet_diag bytecode does), so the flags compare with
            // it directly; MAPPED makes sure such a socket is among them.
            Case::ss(&["--src", &a0], &format!("src {a0}")).expect(MAPPED),
            Case::ss(&["--dst", &b0], &format!("dst {b0}")),
            Case::ss(&["--src", link], &format!("src {link}")).expect(MAPPED),
            Case::ss(&["--dst", &p.b_high], &format!("dst {}", p.b_high)),
            Case::ss(&["--src", "127.0.0.0/8"], "src 127.0.0.0/8").expect(MAPPED),
            Case::ss(&["--dst", "127.0.0.1"], "dst 127.0.0.1").expect(MAPPED),
            Case::ss(&["--src", "fd00:231::/64"], "src [fd00:231::/64]"),
            Case::ss(&["--dst", &b6.to_string()], &format!("dst [{b6}]")),
            Case::ss(&["--src", &format!("{a6}/128")], &format!("src [{a6}/128]")),
            Case::ss(&["--src", "::"], "src [::]"),
            Case::ss(&["--src", "0.0.0.0"], "src 0.0.0.0"),
            Case::ss(
                &["--src", &a0, "--src", "127.0.0.1"],
                &format!("( src {a0} or src 127.0.0.1 )"),
            ),
            Case::ss(
                &["--src", &a0, "--dst", link],
                &format!("src {a0} and dst {link}"),
            ),
            Case::ss(
                &["--dport", bm, "--src", &a0],
                &format!("dport = :{bm} and src {a0}"),
            ),
            // The same without trusting ss's prefix match: the rows of an
            // unfiltered listing whose address (in netstat's form) is in
            // the prefix.
            Case::rows(
                &["--src", "127.0.0.0/8"],
                "whose local address is in 127.0.0.0/8".into(),
                |r| matches!(r.local.ip(), IpAddr::V4(ip) if ip.octets()[0] == 127),
            )
            .expect(MAPPED),
            Case::rows(
                &["--dst", link],
                format!("whose remote address is in {link}"),
                {
                    let net = p.a0.octets();
                    move |r| matches!(r.remote.ip(), IpAddr::V4(ip) if ip.octets()[..3] == net[..3])
                },
            )
            .expect(MAPPED),
            // Owners: ss has no uid or process filter; its -e and -p
            // columns say who owns each socket.
            Case::rows(&["--uid", &OTHER_UID.to_string()], format!("with uid:{OTHER_UID}"), |r| {
                r.uid == OTHER_UID
            }),
            Case::rows(&["--uid", "0"], "without uid: (root's)".into(), |r| r.uid == 0),
            Case::rows(&["--uid", "root"], "without uid: (root's)".into(), |r| r.uid == 0),
            Case::rows(
                &["--uid", &OTHER_UID.to_string(), "--sport", au],
                format!("with uid:{OTHER_UID} on local port {au}"),
                {
                    let port: u16 = au.parse().expect("port");
                    move |r| r.uid == OTHER_UID && r.local.port() == port
                },
            ),
        ];
        if let Some(name) = user_name(OTHER_UID) {
            cases.push(Case::rows(
                &["--uid", &name],
                format!("with uid:{OTHER_UID} ({name})"),
                |r| r.uid == OTHER_UID,
            ));
        }
        // The zoo's sockets are held by this test process; its comm is the
        // test binary's name cut to 15 bytes.
        let pid = std::process::id();
        let comm = std::fs::read_to_string("/proc/self/comm").expect("read comm");
        let comm = comm.trim_end().to_string();
        let exe = std::env::current_exe().expect("current exe");
        let exe = exe
            .file_name()
            .expect("exe name")
            .to_string_lossy()
            .into_owned();
        let held_by_pid = move |r: &Row| r.raw.contains(&format!(",pid={pid},"));
        let named = format!("(\"{comm}\",");
        let held_by_name = move |r: &Row| r.raw.contains(&named);
        cases.extend([
            Case::rows(
                &["--pid", &pid.to_string()],
                format!("held by pid={pid}"),
                held_by_pid,
            ),
            Case::rows(&["--pid", "1"], "held by pid=1".into(), |r| {
                r.raw.contains(",pid=1,")
            })
            .expect(Expect::Nothing),
            Case::rows(
                &["--program", &comm],
                format!("held by \"{comm}\""),
                held_by_name.clone(),
            ),
            // A name longer than comm matches by its first 15 bytes.
            Case::rows(
                &["--program", &exe],
                format!("held by \"{comm}\""),
                held_by_name.clone(),
            ),
            Case::rows(
                &["--pid", &pid.to_string(), "--state", "established"],
                format!("ESTAB, held by pid={pid}"),
                move |r| held_by_pid(r) && r.state == "ESTABLISHED",
            ),
            Case::rows(
                &["--program", &comm, "--dport", bm, "--pid", &pid.to_string()],
                format!("held by \"{comm}\" pid={pid}, remote port {bm}"),
                {
                    let port: u16 = bm.parse().expect("port");
                    move |r| held_by_name(r) && held_by_pid(r) && r.remote.port() == port
                },
            ),
            Case::rows(
                &["--program", "no-such-comm"],
                "held by nobody".into(),
                |_| false,
            )
            .expect(Expect::Nothing),
        ]);
        cases
    });
}

/// The name of `uid` as NSS knows it, if it has one.
fn user_name(uid: u32) -> Option<String> {
    let out = Command::new("getent")
        .args(["passwd", &uid.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.split(':')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

#[test]
fn expressions_select_what_ss_selects() {
    require!(Need::Netns, Need::Tool("ss"));
    run("filter-expr", |p| {
        let (am, ad, bm) = (&p.a_main, &p.a_dual, &p.b_main);
        let (a0, b0, a6, b6, link) = (p.a0, p.b0, p.a6, p.b6, &p.link);
        vec![
            // Every comparison spelling, and none.
            same(&format!("sport = :{am}")),
            same(&format!("sport == :{am}")),
            same(&format!("sport eq :{am}")),
            same(&format!("sport :{am}")),
            same(&format!("sport != :{am}")),
            same(&format!("sport ne :{am}")),
            same(&format!("sport < :{ad}")),
            same(&format!("sport lt :{ad}")),
            same(&format!("sport > :{ad}")),
            same(&format!("sport gt :{ad}")),
            same(&format!("dport <= :{bm}")),
            same(&format!("dport le :{bm}")),
            same(&format!("dport >= :{bm}")),
            same(&format!("dport ge :{bm}")),
            same(&format!("dport = {bm}")),
            // A listener's remote port is 0 (the --dport flag refuses 0).
            same("dport = :0"),
            same(&format!("src {a0}")).expect(MAPPED),
            same(&format!("src = {a0}")).expect(MAPPED),
            same(&format!("src == {a0}")).expect(MAPPED),
            same(&format!("dst eq {b0}")),
            // Every joiner spelling; side by side means and.
            same(&format!("sport = :{am} and src 127.0.0.1")),
            same(&format!("sport = :{am} && src 127.0.0.1")),
            same(&format!("sport = :{am} & src 127.0.0.1")),
            same(&format!("sport = :{am} src 127.0.0.1")),
            same(&format!("sport = :{am} or dport = :{am}")),
            same(&format!("sport = :{am} || dport = :{am}")),
            same(&format!("sport = :{am} | dport = :{am}")),
            same(&format!("not sport = :{am}")),
            same(&format!("! sport = :{am}")),
            // and/or bind equally, left to right; not binds to one operand.
            same(&format!("dport = :{bm} or sport = :{am} and src 127.0.0.1")),
            same(&format!(
                "dport = :{bm} or ( sport = :{am} and src 127.0.0.1 )"
            )),
            same(&format!(
                "( dport = :{bm} or sport = :{am} ) and src 127.0.0.1"
            )),
            same(&format!("src 127.0.0.1 and dport = :{am} or dport = :{bm}")),
            same(&format!("dport = :{bm} src {a0} or sport = :{ad}")),
            same(&format!("not sport = :{am} or dport = :{am}")),
            same(&format!("not ( sport = :{am} or dport = :{am} )")),
            same(&format!(
                "! ( sport = :{am} or dport = :{am} ) and src 127.0.0.1"
            )),
            // state and exclude clauses.
            same("state listening"),
            same(&format!("state established sport = :{bm}")),
            same(&format!("state established state time-wait dport = :{am}")),
            same(&format!("exclude listening sport = :{am}")),
            same(&format!("excl listening sport = :{am}")),
            same("exclude established exclude listening"),
            same("state connected exclude time-wait"),
            same("exclude time-wait state listening"),
            same(&format!("state synchronized dport = :{bm}")),
            same("state fin-wait-1 state last-ack state closing"),
            same("state bucket not src 127.0.0.1"),
            // Host forms: address, prefix, [v6]:port, addr:port, *:port, :port.
            same(&format!("dst [{b6}]:{bm}")),
            same(&format!("src [{b6}]:{bm}")),
            same(&format!("dst {b0}:{bm}")),
            same(&format!("src {a0}:{ad}")).expect(MAPPED),
            same(&format!("dst *:{bm}")),
            same(&format!("src *:{am}")),
            same(&format!("src :{am}")),
            same(&format!("src {link}")).expect(MAPPED),
            same("dst 127.0.0.0/8").expect(MAPPED),
            same("src [fd00:231::/64]"),
            same(&format!("dst [{a6}]")),
            same("src [::]"),
            same("dst [::/0]"),
            // An IPv4-mapped prefix is its IPv4 form in tcpstat (ss's
            // selects only the mapped sockets): it means what ss's
            // `src 127.0.0.0/8` does, which matches both.
            Case::ss(&["src", "[::ffff:127.0.0.0/104]"], "src 127.0.0.0/8").expect(MAPPED),
            // tcpstat's own spellings against their ss equivalents.
            Case::ss(&["src", "!=", &a0.to_string()], &format!("not src {a0}")),
            Case::ss(&["dst", &b6.to_string()], &format!("dst [{b6}]")),
            Case::ss(
                &[&format!("(sport = :{bm})")],
                &format!("( sport = :{bm} )"),
            ),
            Case::ss(
                &["(sport", "=", &format!(":{bm})")],
                &format!("( sport = :{bm} )"),
            ),
            Case::ss(
                &[&format!("!(sport = :{am} or dport = :{am})")],
                &format!("not ( sport = :{am} or dport = :{am} )"),
            ),
            Case::ss(
                &[&format!("sport = :{am} or dport = :{am}")],
                &format!("sport = :{am} or dport = :{am}"),
            ),
            // Flags and an expression must both hold.
            Case::ss(
                &["--dport", bm, "state", "established"],
                &format!("state established dport = :{bm}"),
            ),
            Case::ss(
                &["--state", "established", "dport", "=", &format!(":{bm}")],
                &format!("state established dport = :{bm}"),
            ),
            Case::ss(
                &["--state", "established,time-wait", "state", "time-wait"],
                "state time-wait",
            ),
            Case::ss(
                &["--src", &a0.to_string(), &format!("sport > :{ad}")],
                &format!("src {a0} and sport > :{ad}"),
            ),
            Case::ss(
                &["--port", am, "not", "src", "127.0.0.1"],
                &format!("( sport = :{am} or dport = :{am} ) and not src 127.0.0.1"),
            ),
        ]
    });
}

/// Runs tcpstat outside any zoo: a malformed filter fails before any
/// socket is read.
fn tcpstat(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(args)
        .output()
        .expect("run tcpstat")
}

#[test]
fn malformed_filters_exit_two_naming_the_offending_token() {
    // (arguments after -tan, the token the error must name)
    let cases: &[(&[&str], &str)] = &[
        (&["--state", "bogus"], "bogus"),
        (&["state", "bogus"], "bogus"),
        (&["exclude", "time_wiat"], "time_wiat"),
        (&["--port", "70000"], "70000"),
        (&["--dport", "22,70000-70001"], "70000"),
        (&["sport", "=", ":70000"], "70000"),
        (&["--src", "10.0.0.0/33"], "10.0.0.0/33"),
        (&["--dst", "fd00::/129"], "fd00::/129"),
        (&["src", "10.0.0.0/33"], "10.0.0.0/33"),
        (&["dst", "[fd00::/129]"], "fd00::/129"),
        (&["(", "sport", "=", ":22"], "("),
        (&["sport = :22 )"], ")"),
        (&["( sport = :22 ) )"], ")"),
        (&["foo", "=", ":22"], "foo"),
        (&["sport", "=", ":22", "bogus"], "bogus"),
        (&["sport", "="], "="),
        (&["sport"], "sport"),
        (&["src"], "src"),
        (&["sport", "=", ":22", "and"], "and"),
        (&["not"], "not"),
        (&["state"], "state"),
    ];
    let mut problems = Vec::new();
    for (args, token) in cases {
        let full: Vec<&str> = ["-tan"].iter().chain(args.iter()).copied().collect();
        let out = tcpstat(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let ok = out.status.code() == Some(2)
            && out.stdout.is_empty()
            && lines.len() == 1
            && lines[0].starts_with("tcpstat: ")
            && lines[0].contains(token);
        if !ok {
            problems.push(format!(
                "tcpstat {}: want status 2, no output and one `tcpstat: ` line naming {token:?}; \
                 got {}, {} bytes of output, stderr:\n{stderr}",
                support::filter_cases::shell_words(
                    &full.iter().map(|s| s.to_string()).collect::<Vec<_>>()
                ),
                out.status,
                out.stdout.len()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
