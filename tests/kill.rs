//! `-K` on real connections in test namespaces: what it closes (and what
//! the owners and peers of those sockets then see), what it leaves open,
//! agreement with `ss -K` on identical populations, and every refusal: no
//! filter, several sockets and no terminal, the answer on a real terminal
//! (through `script`'s pty), no privilege (uid 65534 via setpriv), and a
//! socket that goes while tcpstat waits at its prompt.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use support::netns::Netns;
use support::oracle::parse_ss;
use support::schema::{assert_valid, validator};
use support::sock::{abort, no_fork};
use support::{require, Need};

/// The port the filters name, and another one that must be left alone.
/// Each test has namespaces of its own, so fixed ports cannot collide.
const P: u16 = 7101;
const Q: u16 = 7102;
/// How long a test waits on a read that the kill must have ended.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// One namespace's connections, every kind `-K dport = :P` must tell apart.
/// Client ends connect to P (or Q); server ends are accepted from P (or Q).
struct Population {
    listeners: [TcpListener; 2],
    /// ESTABLISHED both ways: client (dport P) and server.
    established: (TcpStream, TcpStream),
    /// The client in CLOSE_WAIT (dport P); its server end, closed first,
    /// is an orphan in FIN_WAIT2.
    close_wait: TcpStream,
    /// The client in FIN_WAIT2 (dport P, shut down writing), its server
    /// end in CLOSE_WAIT.
    fin_wait: (TcpStream, TcpStream),
    /// ESTABLISHED on port Q: no filter here names it.
    other_port: (TcpStream, TcpStream),
}

impl Population {
    /// Builds the population inside `ns`, plus a TIME_WAIT client (dport
    /// P), and waits until the kernel shows every socket in its state.
    fn build(ns: &Netns) -> Population {
        let pop = ns.enter(|| {
            let listen = |port| TcpListener::bind(("127.0.0.1", port)).unwrap();
            let listeners = [listen(P), listen(Q)];
            let pair = |l: &TcpListener| {
                let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
                (client, l.accept().unwrap().0)
            };
            let established = pair(&listeners[0]);
            let (close_wait, server) = pair(&listeners[0]);
            drop(server);
            let fin_wait = pair(&listeners[0]);
            fin_wait.0.shutdown(Shutdown::Write).unwrap();
            let other_port = pair(&listeners[1]);
            // The client closes first: it is the end left in TIME_WAIT.
            let (client, server) = pair(&listeners[0]);
            drop(client);
            wait_for(ns, "FIN-WAIT-2", 3);
            drop(server);
            Population {
                listeners,
                established,
                close_wait,
                fin_wait,
                other_port,
            }
        });
        wait_for(ns, "TIME-WAIT", 1);
        wait_for(ns, "CLOSE-WAIT", 2);
        pop
    }
}

/// Polls `ss` in `ns` until `count` sockets are in `state` (ss spelling).
fn wait_for(ns: &Netns, state: &str, count: usize) {
    for _ in 0..300 {
        let text = ns.stdout("ss", &["-tanH"]);
        if text.lines().filter(|l| l.starts_with(state)).count() == count {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "never saw {count} {state} in {}",
        ns.stdout("ss", &["-tan"])
    );
}

/// The sockets of `ns` as ss sees them, each as `STATE local -> remote`
/// with ports P and Q named and every other port written `E`: two
/// identical populations give the same list.
fn survivors(ns: &Netns) -> Vec<String> {
    let port = |a: SocketAddr| match a.port() {
        P => "P".to_string(),
        Q => "Q".to_string(),
        0 => "*".to_string(),
        _ => "E".to_string(),
    };
    let mut rows: Vec<String> = parse_ss(&ns.stdout("ss", &["-tanoeH"]))
        .iter()
        .map(|r| format!("{} {} -> {}", r.state, port(r.local), port(r.remote)))
        .collect();
    rows.sort();
    rows
}

fn tcpstat_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tcpstat")
}

/// Runs tcpstat with stdin from /dev/null and stdout and stderr piped.
fn tcpstat(args: &[&str]) -> Output {
    let child = {
        let _starting = no_fork();
        Command::new(tcpstat_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    child.wait_with_output().unwrap()
}

/// `-N ns -K --yes --json` with `filter`: the parsed, schema-checked
/// object and the exit status.
fn kill_json(ns: &Netns, filter: &[&str]) -> (Value, i32) {
    let args = [&["-N", ns.name(), "-K", "--yes", "--json"], filter].concat();
    let out = tcpstat(&args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        panic!("{args:?}: {e}: {stdout:?} {stderr}")
    });
    assert_valid(&validator(Some("kill")), &doc);
    (doc, out.status.code().unwrap())
}

/// `(state, result)` of each socket of a `-K --json` object's `key` list.
fn states_and_results(doc: &Value) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let state = k["socket"]["state"].as_str().unwrap().to_string();
            (state, k["result"].as_str().unwrap_or("null").to_string())
        })
        .collect();
    all.sort();
    all
}

/// The errno a call on `stream` fails with (`None` if it succeeds).
fn errno_of(result: std::io::Result<usize>) -> Option<i32> {
    result.err().map(|e| e.raw_os_error().unwrap_or(-1))
}

fn read_errno(mut stream: &TcpStream) -> Option<i32> {
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    errno_of(stream.read(&mut [0; 16]))
}

fn write_errno(mut stream: &TcpStream) -> Option<i32> {
    errno_of(stream.write(b"x"))
}

#[test]
fn bare_kill_and_kill_with_a_scope_alone_are_refused() {
    for args in [
        &["-K"][..],
        &["-K", "-l"],
        &["-K", "-4"],
        &["-K", "-a", "--port", "80"],
        &["-K", "-s", "--port", "80"],
        &["--dry-run", "--port", "80"],
        &["--yes", "--port", "80"],
    ] {
        let out = tcpstat(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("tcpstat: "), "{args:?}: {stderr}");
    }
    let out = tcpstat(&["-K"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("-K needs a filter"), "{stderr}");
}

/// `-K dport = :P` closes the client ends in ESTABLISHED, CLOSE_WAIT and
/// FIN_WAIT2 and nothing else: not port Q, not the TIME_WAIT (reported as
/// left open), not the same connections in another namespace.
#[test]
fn kills_exactly_the_matching_connections() {
    require!(Need::Netns, Need::Tool("ss"));
    let (ns, other) = (
        Netns::create("kill", "exact"),
        Netns::create("kill", "other"),
    );
    let (pop, untouched) = (Population::build(&ns), Population::build(&other));
    let before_other = survivors(&other);
    let (doc, status) = kill_json(&ns, &["dport = :7101"]);
    assert_eq!(status, 0, "{doc}");
    let closed = |state: &str| (state.to_string(), "closed".to_string());
    assert_eq!(
        states_and_results(&doc),
        [
            closed("CLOSE_WAIT"),
            closed("ESTABLISHED"),
            closed("FIN_WAIT2")
        ]
    );
    let left = &doc["left_open"];
    assert_eq!(left.as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(left[0]["socket"]["state"], "TIME_WAIT");
    assert!(doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["errno"] == 0));
    // The owners see ECONNABORTED on their next call (a CLOSE_WAIT end
    // has read the peer's FIN already, so its read says end of stream
    // first); the peers got a reset.
    assert_eq!(read_errno(&pop.established.0), Some(libc::ECONNABORTED));
    assert_eq!(read_errno(&pop.established.1), Some(libc::ECONNRESET));
    assert_eq!(read_errno(&pop.fin_wait.0), Some(libc::ECONNABORTED));
    assert_eq!(write_errno(&pop.close_wait), Some(libc::ECONNABORTED));
    // The kernel's errno for a reset arriving in CLOSE_WAIT.
    assert_eq!(write_errno(&pop.fin_wait.1), Some(libc::EPIPE));
    let expected = [
        "ESTABLISHED E -> Q",
        "ESTABLISHED Q -> E",
        "LISTEN P -> *",
        "LISTEN Q -> *",
        "TIME_WAIT E -> P",
    ];
    assert_eq!(survivors(&ns), expected);
    assert_eq!(survivors(&other), before_other);
    assert_eq!(
        read_nonblocking(&untouched.established.0),
        ErrorKind::WouldBlock
    );
    drop((pop.listeners, pop.other_port, untouched));
}

fn read_nonblocking(mut stream: &TcpStream) -> ErrorKind {
    stream.set_nonblocking(true).unwrap();
    stream.read(&mut [0; 16]).unwrap_err().kind()
}

/// Two identical populations: `ss -K FILTER` in one, `tcpstat -K FILTER`
/// in the other; the same sockets must survive.
#[test]
fn agrees_with_ss_kill_on_identical_populations() {
    require!(Need::Netns, Need::Tool("ss"));
    let filters: [&[&str]; 4] = [
        &["dport = :7101"],
        &["sport = :7101"],
        &["state", "time-wait"],
        &["state", "listening", "sport = :7101"],
    ];
    for (i, filter) in filters.iter().enumerate() {
        let by_ss = Netns::create("kill", &format!("ss{i}"));
        let by_us = Netns::create("kill", &format!("us{i}"));
        let _held = (Population::build(&by_ss), Population::build(&by_us));
        assert_eq!(survivors(&by_ss), survivors(&by_us), "populations differ");
        // ss's default states, as tcpstat -K's (ss -a would add
        // TIME_WAIT, SYN_RECV and listeners; tcpstat -K refuses -a).
        let ss_args = [&["-K", "-tn"], *filter].concat();
        by_ss.stdout("ss", &ss_args);
        let (doc, status) = kill_json(&by_us, filter);
        assert_eq!(status, 0, "{filter:?}: {doc}");
        assert!(!doc["sockets"].as_array().unwrap().is_empty(), "{filter:?}");
        assert_eq!(survivors(&by_us), survivors(&by_ss), "{filter:?}: {doc}");
    }
}

/// A port filter alone leaves listeners and TIME_WAIT open, each with what
/// helps instead; naming them closes them (TIME_WAIT only where the
/// kernel can abort it, and said so where it cannot). One match needs no
/// confirmation, even without a terminal.
#[test]
fn time_wait_and_listeners_are_closed_only_when_named() {
    require!(Need::Netns, Need::Tool("ss"));
    let ns = Netns::create("kill", "named");
    let pop = Population::build(&ns);
    let (doc, _) = kill_json(&ns, &["--port", "7101"]);
    let reasons: Vec<(&str, &str)> = doc["left_open"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["socket"]["state"].as_str().unwrap(),
                l["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{doc}");
    let listener = reasons.iter().find(|(s, _)| *s == "LISTEN").unwrap().1;
    assert!(listener.contains("-l or `state listening`"), "{listener}");
    let tw = reasons.iter().find(|(s, _)| *s == "TIME_WAIT").unwrap().1;
    for fact in [
        "`state time-wait`",
        "goes by itself in",
        "SO_REUSEADDR",
        "tcp_tw_reuse",
    ] {
        assert!(tw.contains(fact), "{fact} not in {tw}");
    }

    let out = tcpstat(&["-N", ns.name(), "-K", "-l", "sport = :7101"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().nth(1).unwrap().ends_with("LISTEN  closed"),
        "{text}"
    );
    let accepted = pop.listeners[0].accept().unwrap_err();
    assert_eq!(accepted.raw_os_error(), Some(libc::EINVAL));

    let (doc, status) = kill_json(&ns, &["state", "time-wait"]);
    let result = doc["sockets"][0]["result"].as_str().unwrap();
    if result == "closed" {
        assert_eq!(status, 0);
        assert!(!survivors(&ns).iter().any(|s| s.starts_with("TIME_WAIT")));
    } else {
        // Kernels before tcp_abort learnt TIME_WAIT answer EOPNOTSUPP.
        assert_eq!((result, status), ("not_supported", 1), "{doc}");
        let help = doc["sockets"][0]["help"].as_str().unwrap();
        assert!(help.contains("SO_REUSEADDR"), "{help}");
    }
}

/// Several matches, neither stdin nor stdout a terminal, no --yes: exit 2
/// and nothing closed. --dry-run lists exactly what --yes then closes.
#[test]
fn no_terminal_and_no_yes_closes_nothing_and_dry_run_lists_what_would_close() {
    require!(Need::Netns, Need::Tool("ss"));
    let ns = Netns::create("kill", "noterm");
    let _pop = Population::build(&ns);
    let before = survivors(&ns);
    let out = tcpstat(&["-N", ns.name(), "-K", "dport = :7101"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no terminal to confirm on: add --yes"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(survivors(&ns), before);

    let args = [
        "-N",
        ns.name(),
        "-K",
        "--dry-run",
        "--json",
        "dport = :7101",
    ];
    let out = tcpstat(&args);
    assert_eq!(out.status.code(), Some(0));
    let dry: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&validator(Some("kill")), &dry);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(survivors(&ns), before, "a dry run closed something");
    let (done, _) = kill_json(&ns, &["dport = :7101"]);
    let sockets = |doc: &Value| -> Vec<Value> {
        let all = doc["sockets"].as_array().unwrap();
        all.iter().map(|k| k["socket"].clone()).collect()
    };
    assert_eq!(sockets(&dry), sockets(&done));
    assert!(dry["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["result"].is_null()));
}

/// Without CAP_NET_ADMIN (uid 65534, no capabilities, inside the
/// namespace): one line naming the capability, exit 1, nothing printed or
/// closed.
#[test]
fn without_privilege_one_line_and_nothing_closed() {
    require!(Need::Netns, Need::Tool("ss"), Need::Tool("setpriv"));
    let ns = Netns::create("kill", "eperm");
    let _pop = Population::build(&ns);
    let before = survivors(&ns);
    let setpriv = [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        tcpstat_bin(),
        "-K",
        "--yes",
        "dport = :7101",
    ];
    let out = ns.exec("setpriv", &setpriv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("tcpstat: -K: not permitted"), "{stderr}");
    assert!(stderr.contains("CAP_NET_ADMIN") && stderr.contains("nothing was closed"));
    assert_eq!(survivors(&ns), before);
}

/// tcpstat under a real terminal (`script`'s pty), stopped at its prompt.
struct Prompted {
    child: Child,
    output: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Prompted {
    /// Starts `tcpstat ARGS` on a pty and waits for the question.
    fn start(args: &[&str]) -> Prompted {
        let command = [&[tcpstat_bin()], args].concat().join(" ");
        let mut child = {
            let _starting = no_fork();
            Command::new("script")
                .args(["-qec", &command, "/dev/null"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut stdout = child.stdout.take().unwrap();
        let (send, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                if send.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut prompted = Prompted {
            child,
            output,
            seen: String::new(),
        };
        prompted.read_until("[y/N] ");
        prompted
    }

    /// Collects the terminal's output until it holds `text`.
    fn read_until(&mut self, text: &str) {
        while !self.seen.contains(text) {
            let chunk = self
                .output
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no {text:?} in {:?}", self.seen));
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Types `answer` and returns tcpstat's exit status and all it wrote.
    fn answer(mut self, answer: &str) -> (i32, String) {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
        let status = self.child.wait().unwrap();
        drop(stdin);
        while let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(500)) {
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        (status.code().unwrap(), self.seen.replace("\r\n", "\n"))
    }
}

/// On a terminal: the prompt shows the count and the sockets; "n" closes
/// nothing (exit 1). Then a socket closed while tcpstat waits at the
/// prompt is reported `gone` after "y", the others `closed`.
#[test]
fn confirmation_on_a_terminal_and_a_socket_gone_meanwhile() {
    require!(Need::Netns, Need::Tool("ss"), Need::Tool("script"));
    let ns = Netns::create("kill", "pty");
    let pop = Population::build(&ns);
    let before = survivors(&ns);
    let args = ["-N", ns.name(), "-K", "'dport = :7101'"];
    let prompted = Prompted::start(&args);
    assert!(
        prompted.seen.contains("-K would close these 3 sockets:"),
        "{}",
        prompted.seen
    );
    let client = pop.established.0.local_addr().unwrap().to_string();
    assert!(prompted.seen.contains(&client), "{}", prompted.seen);
    let (status, text) = prompted.answer("n");
    assert_eq!(status, 1, "{text}");
    assert!(text.contains("not confirmed; nothing was closed"), "{text}");
    assert_eq!(survivors(&ns), before);
    // Ctrl-C at the prompt (the terminal sends SIGINT): nothing closed.
    let (status, text) = Prompted::start(&args).answer("\x03");
    assert_eq!(status, 130, "{text}");
    assert_eq!(survivors(&ns), before);

    let prompted = Prompted::start(&args);
    {
        // No child may hold a copy of the socket while it closes.
        let _closing = no_fork();
        abort(pop.established.0);
    }
    let (status, text) = prompted.answer("y");
    assert_eq!(status, 0, "{text}");
    let after: Vec<&str> = text.lines().skip_while(|l| !l.contains("[y/N]")).collect();
    let table: Vec<&str> = after
        .into_iter()
        .take_while(|l| !l.starts_with("left open"))
        .collect();
    assert!(table[1].ends_with("Result"), "{text}");
    let result_of = |line: &str| {
        line.split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    let mut results: Vec<String> = table[2..].iter().map(|l| result_of(l)).collect();
    results.sort();
    assert_eq!(results, ["closed", "closed", "gone"], "{text}");
    let gone = table.iter().find(|l| l.contains(&client)).unwrap();
    assert_eq!(result_of(gone), "gone", "{text}");
}

/// `why P` ends with the exact `tcpstat -K` command that frees the port
/// when live connections hold it; run as printed, it does (a plain bind()
/// succeeds after). With a listener, it says closing would not help.
#[test]
fn why_names_the_kill_command_that_frees_the_port() {
    require!(Need::Netns);
    let ns = Netns::create("kill", "why");
    let (listener, kept) = ns.enter(|| {
        let listener = TcpListener::bind(("127.0.0.1", P)).unwrap();
        let client = TcpStream::connect(("127.0.0.1", P)).unwrap();
        let server = listener.accept().unwrap().0;
        (listener, (client, server))
    });
    let why = |port: &str| tcpstat(&["-N", ns.name(), "why", port]);
    let out = why("7101");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.trim_end()
            .ends_with("a live listener holds it; stop or reconfigure its program"),
        "{text}"
    );
    drop(listener);
    let out = why("7101");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let last = text.lines().last().unwrap();
    let netns = format!("/var/run/netns/{}", ns.name());
    let expected = format!("tcpstat -N {netns} -K sport = :7101");
    assert_eq!(
        last,
        format!("  to free it, close 1 live connection: {expected}")
    );
    let words: Vec<&str> = expected.split(' ').skip(1).collect();
    let out = tcpstat(&words);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(read_errno(&kept.1), Some(libc::ECONNABORTED));
    assert_eq!(why("7101").status.code(), Some(0), "the port is still held");
}

/// Binds `stream`'s socket to interface `name` (SO_BINDTODEVICE).
fn bind_to_device(stream: &impl std::os::fd::AsRawFd, name: &str) {
    // SAFETY: the option value points at `name`'s bytes, of the length
    // given, alive for the call.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "SO_BINDTODEVICE: {}",
        std::io::Error::last_os_error()
    );
}

/// The request names each socket exactly whatever its kind: IPv4, IPv6,
/// an IPv4 client of a dual-stack listener (whose server end is AF_INET6
/// with a mapped address) and a socket bound to an interface (sent back
/// with its idiag_if).
#[test]
fn families_mapped_addresses_and_bound_devices() {
    require!(Need::Netns, Need::Tool("ss"));
    let ns = Netns::create("kill", "families");
    let (listener, clients, servers) = ns.enter(|| {
        let listener = support::sock::listen("[::]:7101".parse().unwrap(), Some(false), None);
        let v4 = TcpStream::connect(("127.0.0.1", P)).unwrap();
        let v6 = TcpStream::connect(("::1", P)).unwrap();
        let bound = support::sock::socket("127.0.0.1".parse().unwrap(), false);
        bind_to_device(&bound, "lo");
        support::sock::connect(&bound, "127.0.0.1:7101".parse().unwrap());
        let bound = TcpStream::from(bound);
        let servers: Vec<TcpStream> = (0..3).map(|_| listener.accept().unwrap().0).collect();
        (listener, [v4, v6, bound], servers)
    });
    let (doc, status) = kill_json(&ns, &["sport = :7101"]);
    assert_eq!(status, 0, "{doc}");
    let results = states_and_results(&doc);
    assert_eq!(results.len(), 3, "{doc}");
    assert!(results.iter().all(|(_, r)| r == "closed"), "{doc}");
    let protos: Vec<&str> = doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["socket"]["proto"].as_str().unwrap())
        .collect();
    assert_eq!(protos, ["tcp6"; 3], "{doc}");
    for (client, server) in clients.iter().zip(&servers) {
        assert_eq!(read_errno(server), Some(libc::ECONNABORTED));
        assert_eq!(read_errno(client), Some(libc::ECONNRESET));
    }
    assert_eq!(survivors(&ns), ["LISTEN P -> *"]);
    drop(listener);
}

/// The port of the `-N all` test, apart from P and Q: other tests' own
/// namespaces use those, and `-N all` reads every namespace.
const ALL_PORT: u16 = 7141;
/// The client port of that test: the same 4-tuple in both namespaces.
const ALL_CLIENT: u16 = 47141;

/// One connection on 127.0.0.1:`ALL_CLIENT` → 127.0.0.1:`ALL_PORT`
/// inside `ns`: (listener, client, server).
fn same_tuple(ns: &Netns) -> (TcpListener, TcpStream, TcpStream) {
    ns.enter(|| {
        let _guard = no_fork();
        let listener = TcpListener::bind(("127.0.0.1", ALL_PORT)).unwrap();
        let fd = support::sock::socket([127, 0, 0, 1].into(), false);
        support::sock::bind(&fd, SocketAddr::from(([127, 0, 0, 1], ALL_CLIENT)));
        support::sock::connect(&fd, listener.local_addr().unwrap());
        let client = TcpStream::from(fd);
        let server = listener.accept().unwrap().0;
        (listener, client, server)
    })
}

/// `ss -tanH` inside `ns`: the states of the client and the server end
/// of the `ALL_PORT` connection, in that order (`None` for one not there).
fn tuple_states(ns: &Netns) -> (Option<String>, Option<String>) {
    let rows = parse_ss(&ns.stdout("ss", &["-tanH"]));
    let state_of = |local: u16, remote: u16| {
        rows.iter()
            .find(|r| r.local.port() == local && r.remote.port() == remote)
            .map(|r| r.state.clone())
    };
    (
        state_of(ALL_CLIENT, ALL_PORT),
        state_of(ALL_PORT, ALL_CLIENT),
    )
}

/// `-K -N all`: two namespaces with a connection on the same 4-tuple;
/// `netns ONE and dport = PORT` closes the one in ONE only (its client
/// reads ECONNABORTED, the other stays ESTABLISHED in ss inside its
/// namespace), each socket named with its namespace; a filter matching
/// both asks on the terminal, naming both namespaces, and closes both,
/// each through a socket of its own namespace.
#[test]
fn all_namespaces_close_each_socket_in_its_own() {
    require!(Need::Netns, Need::Tool("ss"), Need::Tool("script"));
    let one = Netns::create("allns-serve", "kill-one");
    let two = Netns::create("allns-serve", "kill-two");
    let (_l1, client1, _s1) = same_tuple(&one);
    let (_l2, client2, _s2) = same_tuple(&two);
    let established = (Some("ESTABLISHED".into()), Some("ESTABLISHED".into()));
    assert_eq!(tuple_states(&one), established);
    assert_eq!(tuple_states(&two), established);

    let only_one = format!("netns {} and dport = :{ALL_PORT}", one.name());
    let out = tcpstat(&["-N", "all", "-K", "--yes", "--json", &only_one]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout} {stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_valid(&validator(Some("kill")), &doc);
    let sockets = doc["sockets"].as_array().unwrap();
    assert_eq!(sockets.len(), 1, "{doc}");
    assert_eq!(sockets[0]["result"], "closed", "{doc}");
    assert_eq!(sockets[0]["socket"]["netns"]["name"], one.name(), "{doc}");
    assert_eq!(
        sockets[0]["socket"]["local"]["port"].as_u64(),
        Some(u64::from(ALL_CLIENT)),
        "{doc}"
    );
    assert_eq!(read_errno(&client1), Some(libc::ECONNABORTED));
    assert_eq!(tuple_states(&one), (None, None));
    assert_eq!(tuple_states(&two), established);
    assert_eq!(read_nonblocking(&client2), ErrorKind::WouldBlock);

    // Both namespaces again (a new connection in the first), one filter.
    // The closed client keeps its bound port until it is dropped.
    drop((_l1, client1, _s1));
    let (_l1, client1, _s1) = same_tuple(&one);
    let both = format!(
        "'( netns {} or netns {} ) and dport = :{ALL_PORT}'",
        one.name(),
        two.name()
    );
    let prompted = Prompted::start(&["-N", "all", "-K", &both]);
    let seen = prompted.seen.clone();
    assert!(seen.contains("-K would close these 2 sockets:"), "{seen}");
    let preview: Vec<&str> = seen.lines().filter(|l| l.contains(":47141")).collect();
    assert_eq!(preview.len(), 2, "{seen}");
    for ns in [&one, &two] {
        assert!(
            preview
                .iter()
                .any(|l| l.trim_start().starts_with(ns.name())),
            "{} not named: {seen}",
            ns.name()
        );
    }
    assert!(seen.contains("NETNS"), "{seen}");
    let (status, text) = prompted.answer("y");
    assert_eq!(status, 0, "{text}");
    let closed: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("[y/N]"))
        .filter(|l| l.contains(":47141") && l.trim_end().ends_with("closed"))
        .collect();
    assert_eq!(closed.len(), 2, "{text}");
    assert_eq!(read_errno(&client1), Some(libc::ECONNABORTED));
    assert_eq!(read_errno(&client2), Some(libc::ECONNABORTED));
    assert_eq!(tuple_states(&one), (None, None));
    assert_eq!(tuple_states(&two), (None, None));
}
