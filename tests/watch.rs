//! Watch mode on real sockets in private network namespaces: `--events`
//! follows a four-way close step by step and catches, through the kernel's
//! destroy notifications, a connection that lived between two polls;
//! passes and events reach a pipe while tcpstat runs; Ctrl-C, SIGTERM and
//! SIGHUP (also with a reader that stalls; exit status 128 + the signal),
//! a closed pipe (also when nothing is being written) and `--count` end it
//! as promised; and memory stays flat over thousands of passes on a
//! churning population.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use support::netns::Netns;
use support::schema::{assert_valid, validator};
use support::signals::default_signals;
use support::{require, Need};

/// A running `tcpstat -N NS …` whose stdout lines are read as they come.
struct Watch {
    child: Child,
    lines: Receiver<String>,
    /// Every line received so far.
    seen: Vec<String>,
}

impl Watch {
    /// Starts tcpstat in `ns` with `args`.
    fn start(ns: &Netns, args: &[&str]) -> Watch {
        let mut child = default_signals(&mut Command::new(env!("CARGO_BIN_EXE_tcpstat")))
            .args(["-N", ns.name()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpstat");
        let lines = read_lines(child.stdout.take().unwrap());
        Watch {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line, if one comes within `timeout`.
    fn next_line(&mut self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// The first line so far, or from now on, that satisfies `wanted`;
    /// panics if none comes within 5 s.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(seen) = self.seen.iter().map(|l| parse(l)).find(&wanted) {
            return seen;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Some(line) = self.next_line(left) else {
                break;
            };
            let value = parse(&line);
            if wanted(&value) {
                return value;
            }
        }
        panic!(
            "no {what} within 5 s; lines so far:\n{}",
            self.seen.join("\n")
        );
    }

    /// Reads the lines that come within `span`.
    fn read_for(&mut self, span: Duration) {
        let until = Instant::now() + span;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if self.next_line(left).is_none() {
                break;
            }
        }
    }

    /// Every line so far, parsed.
    fn events(&self) -> Vec<Value> {
        self.seen.iter().map(|l| parse(l)).collect()
    }

    /// Sends `signal`, reads the rest and returns the status, every line
    /// and stderr.
    fn stop(self, signal: libc::c_int) -> (ExitStatus, Vec<String>, String) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill takes no pointers; the child is ours and not reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        self.finish()
    }

    /// Reads to the end and waits for the exit.
    fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        while self.next_line(Duration::from_secs(10)).is_some() {}
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status, std::mem::take(&mut self.seen), stderr)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // A failed test must not leave tcpstat running in a deleted netns.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Lines of `stdout`, sent as they arrive. A last line without its
/// newline is sent with a `<partial>` prefix, so tests can see it.
fn read_lines(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            let text = match line.strip_suffix('\n') {
                Some(full) => full.to_string(),
                None => format!("<partial>{line}"),
            };
            if tx.send(text).is_err() {
                return;
            }
            line.clear();
        }
    });
    rx
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"))
}

/// The socket of an event is the one from `local` to `remote`.
fn is_socket(event: &Value, local: SocketAddr, remote: SocketAddr) -> bool {
    let s = &event["socket"];
    let end = |e: &Value, want: SocketAddr| {
        e["port"] == want.port() && e["address"] == want.ip().to_string()
    };
    end(&s["local"], local) && end(&s["remote"], remote)
}

/// A listener and a connected pair inside `ns`.
fn connected_pair(ns: &Netns) -> (TcpListener, TcpStream, TcpStream) {
    let listener = ns.enter(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let (client, server) = connected_pair_on(ns, &listener);
    (listener, client, server)
}

/// Opens listeners in `ns` until one is reported `new`: from then on,
/// every socket made before is in tcpstat's baseline, and a pass has just
/// been read. (A listener opened before tcpstat's first pass would be part
/// of that baseline and never be reported, hence the retries.)
fn sync_on_marker(ns: &Netns, watch: &mut Watch) -> Vec<TcpListener> {
    let mut markers: Vec<TcpListener> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        markers.push(ns.enter(|| TcpListener::bind("127.0.0.1:0").unwrap()));
        let ports: Vec<u16> = markers
            .iter()
            .map(|m| m.local_addr().unwrap().port())
            .collect();
        let wait_until = Instant::now() + Duration::from_millis(500);
        while let Some(left) = wait_until.checked_duration_since(Instant::now()) {
            let Some(line) = watch.next_line(left) else {
                break;
            };
            let e = parse(&line);
            if e["event"] == "new" && ports.iter().any(|p| e["socket"]["local"]["port"] == *p) {
                return markers;
            }
        }
    }
    panic!(
        "no marker reported; lines so far:\n{}",
        watch.seen.join("\n")
    );
}

/// `(event, old_state, state)` of each event of one socket.
fn history(
    events: &[Value],
    local: SocketAddr,
    remote: SocketAddr,
) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    events
        .iter()
        .filter(|e| is_socket(e, local, remote))
        .map(|e| {
            (
                text(&e["event"]),
                text(&e["old_state"]),
                text(&e["socket"]["state"]),
            )
        })
        .collect()
}

/// Checks a socket's history: every step is a `state` event whose old
/// state is the state of the step before, starting from `first`.
fn assert_chain(history: &[(String, String, String)], first: &str) {
    let mut state = first.to_string();
    for (event, old, new) in history {
        assert_eq!((event.as_str(), old), ("state", &state), "{history:?}");
        state = new.clone();
    }
}

#[test]
fn four_way_close_is_reported_step_by_step() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "close");
    let (_listener, client, server) = connected_pair(&ns);
    let (c, s) = (client.local_addr().unwrap(), server.local_addr().unwrap());
    let mut watch = Watch::start(&ns, &["-an", "-c", "0.1", "--events=sampled", "--json"]);
    let _marker = sync_on_marker(&ns, &mut watch);

    // Each step is read from the pipe while tcpstat runs.
    drop(client); // the client's FIN
    watch.wait_for("the client in FIN_WAIT2", |e| {
        is_socket(e, c, s) && e["socket"]["state"] == "FIN_WAIT2"
    });
    watch.wait_for("the server in CLOSE_WAIT", |e| {
        is_socket(e, s, c) && e["socket"]["state"] == "CLOSE_WAIT"
    });
    std::thread::sleep(Duration::from_secs(1));
    drop(server); // the server's FIN
    watch.wait_for("the client in TIME_WAIT", |e| {
        is_socket(e, c, s) && e["socket"]["state"] == "TIME_WAIT"
    });
    watch.wait_for("the server gone", |e| {
        is_socket(e, s, c) && e["event"] == "gone"
    });
    let events = watch.events();
    let (status, ..) = watch.stop(libc::SIGINT);
    assert_eq!(status.code(), Some(130));
    let schema = validator(Some("event"));
    events.iter().for_each(|e| assert_valid(&schema, e));

    let client_steps = history(&events, c, s);
    assert_chain(&client_steps, "ESTABLISHED");
    let states: Vec<&str> = client_steps.iter().map(|(.., new)| new.as_str()).collect();
    assert!(
        states == ["FIN_WAIT2", "TIME_WAIT"] || states == ["FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT"],
        "client: {client_steps:?}"
    );

    let mut server_steps = history(&events, s, c);
    let (gone, old, _) = server_steps.pop().expect("server events");
    assert_eq!(gone, "gone", "server: {server_steps:?}");
    assert_chain(&server_steps, "ESTABLISHED");
    let states: Vec<&str> = server_steps.iter().map(|(.., new)| new.as_str()).collect();
    assert!(
        states == ["CLOSE_WAIT"] || states == ["CLOSE_WAIT", "LAST_ACK"],
        "server: {server_steps:?}"
    );
    assert_eq!(
        &old,
        states.last().unwrap(),
        "gone names the last state seen"
    );
}

#[test]
fn connection_between_two_polls_is_reported_from_its_destroy() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "destroy");
    let listener = ns.enter(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let mut watch = Watch::start(&ns, &["-an", "-c", "2", "--events=sampled", "--json"]);
    let _marker = sync_on_marker(&ns, &mut watch);
    // A pass was just read; the next is 2 s away.
    let started = Instant::now();
    let (c, s) = ns.enter(|| {
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(&[1; 100]).unwrap();
        server.read_exact(&mut [0; 100]).unwrap();
        let ends = (client.local_addr().unwrap(), server.local_addr().unwrap());
        drop(client);
        server.read_exact(&mut [0; 1]).unwrap_err(); // the client's FIN
        ends
    });
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "too slow to fit between polls"
    );
    let gone = watch.wait_for("the server's gone event", |e| is_socket(e, s, c));
    assert_valid(&validator(Some("event")), &gone);
    assert_eq!(gone["event"], "gone");
    assert!(gone["old_state"].is_null(), "{gone}");
    assert_eq!(gone["socket"]["state"], "CLOSE");
    let received = gone["bytes_received"].as_u64().expect("bytes_received");
    assert!((100..=101).contains(&received), "{gone}");
    // The client's side lives on as TIME_WAIT, which the next poll shows.
    let tw = watch.wait_for("the client's TIME_WAIT", |e| is_socket(e, c, s));
    assert_eq!(
        (tw["event"].as_str(), tw["socket"]["state"].as_str()),
        (Some("new"), Some("TIME_WAIT"))
    );
}

#[test]
fn aborted_and_reset_connections_are_gone_once() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "abort");
    let listener = ns.enter(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let mut watch = Watch::start(&ns, &["-an", "-c", "0.5", "--events=sampled", "--json"]);
    let _marker = sync_on_marker(&ns, &mut watch);
    let schema = validator(Some("event"));

    // Aborted between two polls: the kernel clears the client's remote
    // port (and unbound local address) and byte counts before freeing it.
    let (c, s) = ns.enter(|| {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let ends = (client.local_addr().unwrap(), server.local_addr().unwrap());
        support::sock::abort(client);
        drop(server);
        ends
    });
    let client_gone = watch.wait_for("the aborted client", |e| {
        e["socket"]["local"]["port"] == c.port() && e["socket"]["remote"]["port"] == 0
    });
    assert_valid(&schema, &client_gone);
    assert_eq!(client_gone["event"], "gone");
    assert_eq!(client_gone["socket"]["remote"]["address"], "127.0.0.1");
    assert!(client_gone["bytes_acked"].is_null(), "{client_gone}");
    assert!(client_gone["socket"]["uid"].is_null(), "{client_gone}");
    watch.wait_for("the server's gone", |e| is_socket(e, s, c));

    // Reset while its process holds it: out of the dumps at once, freed
    // (and notified) only when the process closes it, seconds later.
    let (client, server) = connected_pair_on(&ns, &listener);
    let (c2, s2) = (client.local_addr().unwrap(), server.local_addr().unwrap());
    watch.wait_for("the held server", |e| is_socket(e, s2, c2));
    support::sock::abort(client);
    watch.wait_for("the reset server gone", |e| {
        is_socket(e, s2, c2) && e["event"] == "gone"
    });
    std::thread::sleep(Duration::from_millis(2_500));
    drop(server);
    std::thread::sleep(Duration::from_millis(1_500));
    let events = watch.events();
    let (status, ..) = watch.stop(libc::SIGINT);
    assert_eq!(status.code(), Some(130));
    events.iter().for_each(|e| assert_valid(&schema, e));
    let gones = |l: SocketAddr, r: SocketAddr| {
        let gone = |e: &&Value| e["event"] == "gone" && is_socket(e, l, r);
        events.iter().filter(gone).count()
    };
    assert_eq!(gones(s, c), 1, "the first server");
    assert_eq!(gones(s2, c2), 1, "the reset server, once");
}

/// A connected pair on `listener`, inside `ns`.
fn connected_pair_on(ns: &Netns, listener: &TcpListener) -> (TcpStream, TcpStream) {
    ns.enter(|| {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (client, listener.accept().unwrap().0)
    })
}

#[test]
fn passes_reach_a_pipe_while_running() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "pipe");
    let (_listener, _client, _server) = connected_pair(&ns);
    let mut watch = Watch::start(&ns, &["-an", "-c", "0.2", "--json"]);
    let schema = validator(Some("pass"));
    for _ in 0..2 {
        let line = watch.next_line(Duration::from_secs(5)).expect("a pass");
        let pass = parse(&line);
        assert_valid(&schema, &pass);
        assert!(
            pass["time"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z') && t.len() == 24),
            "{pass}"
        );
        assert_eq!(pass["sockets"].as_array().map(Vec::len), Some(3), "{pass}");
    }
    assert!(
        matches!(watch.child.try_wait(), Ok(None)),
        "tcpstat should still run"
    );
}

/// Enough sockets that a JSON pass is many pipe buffers long, so that a
/// signal likely lands while one is being written.
fn crowd(ns: &Netns, pairs: usize) -> Vec<(TcpStream, TcpStream)> {
    ns.enter(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        (0..pairs)
            .map(|_| {
                let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                (client, listener.accept().unwrap().0)
            })
            .collect()
    })
}

#[test]
fn stop_signals_end_with_128_plus_the_signal_after_a_complete_line() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "signal");
    let _crowd = crowd(&ns, 300);
    for (signal, format) in [
        (libc::SIGINT, "--json"),
        (libc::SIGTERM, "--json"),
        (libc::SIGHUP, "--json"),
        (libc::SIGINT, "-W"),
        (libc::SIGTERM, "-e"),
        (libc::SIGHUP, "-e"),
    ] {
        let mut watch = Watch::start(&ns, &["-an", "-c", "0.001", format]);
        for _ in 0..3 {
            watch.next_line(Duration::from_secs(5)).expect("output");
        }
        let (status, lines, stderr) = watch.stop(signal);
        assert_eq!(
            status.code(),
            Some(128 + signal),
            "signal {signal} {format}: {stderr}"
        );
        assert!(support::unless_overran(&stderr).is_empty(), "{stderr}");
        let last = lines.last().unwrap();
        assert!(
            !last.starts_with("<partial>"),
            "half-written last line: {last:.80}"
        );
        if format == "--json" {
            lines.iter().for_each(|l| drop(parse(l)));
        }
    }
}

/// A `tcpstat -N NS …` whose stdout is a pipe the test reads when it
/// likes, or never; killed when dropped if still running.
struct Unread {
    child: Child,
}

impl Unread {
    fn start(ns: &Netns, args: &[&str]) -> Unread {
        let child = default_signals(&mut Command::new(env!("CARGO_BIN_EXE_tcpstat")))
            .args(["-N", ns.name()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpstat");
        Unread { child }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill takes no pointers; the child is ours and not reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// The exit status, if tcpstat ends within `timeout`.
    fn exit_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        support::child::exit_within(&mut self.child, timeout)
    }

    /// Stderr, once tcpstat has ended.
    fn stderr(&mut self) -> String {
        support::child::stderr_of(&mut self.child)
    }
}

impl Drop for Unread {
    fn drop(&mut self) {
        support::child::kill_if_running(&mut self.child);
    }
}

#[test]
fn stop_signal_ends_a_pass_stuck_on_a_stalled_reader() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "stall");
    // A JSON pass of these is about 180 KB, an -e pass 60 KB: more than
    // the 64 KiB a pipe holds, within a pass or two.
    let _crowd = crowd(&ns, 300);
    for (signal, format) in [
        (libc::SIGTERM, "--json"),
        (libc::SIGINT, "-e"),
        (libc::SIGHUP, "--json"),
    ] {
        let mut tcpstat = Unread::start(&ns, &["-an", "-c", "0.001", format]);
        // Kept open and never read: the pipe fills and tcpstat waits.
        let _stdout = tcpstat.child.stdout.take().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert!(tcpstat.exit_within(Duration::ZERO).is_none(), "ended early");
        tcpstat.signal(signal);
        let Some(status) = tcpstat.exit_within(Duration::from_secs(3)) else {
            panic!("signal {signal} {format}: still running 3 s later");
        };
        assert_eq!(
            status.code(),
            Some(128 + signal),
            "signal {signal} {format}"
        );
        let stderr = tcpstat.stderr();
        assert!(support::unless_overran(&stderr).is_empty(), "{stderr}");
    }
}

#[test]
fn ctrl_c_with_a_slow_reader_ends_after_a_complete_pass() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "slow");
    let _crowd = crowd(&ns, 300);
    let mut tcpstat = Unread::start(&ns, &["-an", "-c", "0.001", "--json"]);
    let mut stdout = tcpstat.child.stdout.take().unwrap();
    std::thread::sleep(Duration::from_millis(500)); // the pipe is full
    tcpstat.signal(libc::SIGINT);
    // 16 KiB every 50 ms: slow, but never a second without progress.
    let mut text = Vec::new();
    let mut chunk = vec![0; 16 << 10];
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match stdout.read(&mut chunk).unwrap() {
            0 => break,
            n => text.extend_from_slice(&chunk[..n]),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = tcpstat.exit_within(Duration::from_secs(1));
    assert_eq!(status.and_then(|s| s.code()), Some(130));
    let text = String::from_utf8(text).unwrap();
    assert!(text.ends_with('\n'), "half-written last line: {:.80}", {
        let from = text.rfind('\n').map_or(0, |at| at + 1);
        &text[from..]
    });
    // The pass the signal came in, and any before it, are complete.
    let passes: Vec<Value> = text.lines().map(parse).collect();
    assert!(!passes.is_empty());
    let stderr = tcpstat.stderr();
    assert!(support::unless_overran(&stderr).is_empty(), "{stderr}");
}

#[test]
fn events_end_when_the_reader_closes_though_nothing_changes() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "hangup");
    let _crowd = crowd(&ns, 50);
    // Closed before the baseline, and while tcpstat sleeps between polls.
    for delay in [Duration::ZERO, Duration::from_millis(300)] {
        let mut tcpstat = Unread::start(&ns, &["-an", "--events=sampled", "--json", "-c", "0.01"]);
        std::thread::sleep(delay);
        drop(tcpstat.child.stdout.take());
        let Some(status) = tcpstat.exit_within(Duration::from_secs(2)) else {
            panic!("still running 2 s after its reader closed (delay {delay:?})");
        };
        assert_eq!(status.code(), Some(0), "delay {delay:?}");
        let stderr = tcpstat.stderr();
        assert!(support::unless_overran(&stderr).is_empty(), "{stderr}");
    }
    // A file or /dev/null has no reader to lose: every pass is made.
    let path = std::env::temp_dir().join(format!("tcpstat-watch-{}.out", std::process::id()));
    for file in [None, Some(&path)] {
        let stdout = match file {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::null(),
        };
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
            .args([
                "-N",
                ns.name(),
                "-an",
                "--events=sampled",
                "-c",
                "0.01",
                "--count",
                "30",
            ])
            .stdout(stdout)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{file:?}");
        assert!(support::unless_overran(&out.stderr).is_empty(), "{out:?}");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(290), "{file:?}: {took:?}");
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn bad_intervals_are_interval_errors() {
    for word in ["1e9", "2s", ".x"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
            .args(["-an", "-c", word])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "-c {word}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--continuous") && stderr.contains(word) && !stderr.contains("filter"),
            "-c {word}: {stderr}"
        );
    }
}

/// `tcpstat ARGS…` allowed only descriptors 0 to 3 (3 is its signalfd),
/// so that joining the destroy groups fails and -v says so.
fn out_of_descriptors(args: &[&str], stderr: Stdio) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_tcpstat"));
    command.args(args).stdout(Stdio::null()).stderr(stderr);
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the
    // parent.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4,
                rlim_max: 4,
            };
            match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    command.output().unwrap()
}

#[test]
fn verbose_notes_never_panic_on_a_closed_stderr() {
    // No -N: opening the namespace would need a fifth descriptor. Nothing
    // is read: the dump's socket cannot be opened either (exit 1).
    let args = [
        "-an",
        "-v",
        "--events=sampled",
        "-c",
        "0.01",
        "--count",
        "2",
    ];
    let out = out_of_descriptors(&args, Stdio::piped());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot join"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = out_of_descriptors(&args, Stdio::from(writer));
    assert_eq!(out.status.code(), Some(1), "a panic is 101");
}

#[test]
fn closed_pipe_ends_quietly_with_zero() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "epipe");
    let _crowd = crowd(&ns, 50);
    for format in [&["--json"][..], &[], &["--events=sampled"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
            .args(["-N", ns.name(), "-an", "-c", "0.01"])
            .args(format)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        if format != ["--events=sampled"] {
            stdout.read_exact(&mut [0; 64]).unwrap();
        }
        drop(stdout);
        // Events are written only when something changes: new listeners
        // (the first may come before tcpstat's baseline).
        let mut changes = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            changes.push(ns.enter(|| TcpListener::bind("127.0.0.1:0").unwrap()));
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format:?}");
        assert!(
            support::unless_overran(&out.stderr).is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn count_stops_after_that_many_passes() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "count");
    let (_listener, _client, _server) = connected_pair(&ns);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
            .args(["-N", ns.name(), "-an", "--count", "3"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let json = run(&["-c", "0.05", "--json"]);
    assert_eq!(json.lines().count(), 3, "{json}");
    json.lines().for_each(|l| drop(parse(l)));
    let text = run(&["-c0.05"]);
    let headers = text
        .lines()
        .filter(|l| l.starts_with("tcpstat at "))
        .count();
    assert_eq!(headers, 3, "{text}");
    assert_eq!(text.lines().count(), 3 * (3 + 3), "{text}");
    // Nothing changes: the baseline and two quiet polls, under the header
    // that names the mode.
    assert_eq!(
        run(&["--events=sampled", "-c", "0.05"]),
        "tcpstat events: sampled (polls every 0.05s and destroy notifications)\n"
    );
}

/// Resident set size of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Keeps about `live` connections open in `ns`, replacing one every
/// iteration (closed in turn by client and server, so sockets pass through
/// the teardown states), until `stop`.
fn churn(ns: &Netns, live: usize, stop: &AtomicBool) -> usize {
    ns.enter(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut open = std::collections::VecDeque::new();
        let mut made = 0;
        while !stop.load(Ordering::Relaxed) {
            let client = TcpStream::connect(addr).unwrap();
            open.push_back((client, listener.accept().unwrap().0));
            made += 1;
            if open.len() > live {
                let (client, server) = open.pop_front().unwrap();
                if made % 2 == 0 {
                    drop(client);
                    drop(server);
                } else {
                    drop(server);
                    drop(client);
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        made
    })
}

#[test]
fn memory_stays_flat_over_2000_passes_of_churn() {
    require!(Need::Netns, Need::Tool("sysctl"));
    let ns = Netns::create("watch", "rss");
    // Few TIME_WAIT sockets, so the population stays about the same size.
    ns.stdout("sysctl", &["-qw", "net.ipv4.tcp_max_tw_buckets=128"]);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let churner = scope.spawn(|| churn(&ns, 200, &stop));
        std::thread::sleep(Duration::from_millis(300));
        let mut watch = Watch::start(
            &ns,
            &[
                "-anp",
                "-c",
                "0.001",
                "--count",
                "2000",
                "--events=sampled",
                "--json",
            ],
        );
        let pid = watch.child.id();
        let started = Instant::now();
        let mut samples = Vec::new();
        while let Ok(None) = watch.child.try_wait() {
            while watch.lines.try_recv().is_ok() {}
            samples.extend(rss_kib(pid).map(|kib| (started.elapsed(), kib)));
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let made = churner.join().unwrap();
        let took = started.elapsed();
        let (status, _, stderr) = watch.finish();
        assert_eq!(status.code(), Some(0), "{stderr}");
        // How long 2000 passes take is a benchmark's question (bench/watch),
        // not this test's: under load it varies tenfold.
        assert!(samples.len() >= 8, "too few samples: {samples:?}");
        // The last quarter's high-water mark against the first half's
        // (warm-up, and the passes a load spike made big, which grow
        // buffers once): a leak of 100 bytes per connection would add
        // about 2 MiB between the two.
        let (half, quarter) = (samples.len() / 2, samples.len() * 3 / 4);
        let warm = samples[..half].iter().map(|s| s.1).max().unwrap();
        let peak = samples[quarter..].iter().map(|s| s.1).max().unwrap();
        eprintln!(
            "rss: {} KiB after warm-up, peak {peak} KiB later; {} samples over {took:?}, {made} connections made",
            warm,
            samples.len()
        );
        assert!(
            peak <= warm + 1024,
            "RSS grew from {warm} to {peak} KiB: {samples:?}"
        );
    });
}

/// Opens and closes `count` connections to a new listener in `ns`, about
/// `per_sec` a second, the client closing first (so each client socket
/// enters TIME_WAIT, the server's is freed). Returns the listener's
/// address and each client's.
fn client_closes(ns: &Netns, count: usize, per_sec: u32) -> (SocketAddr, Vec<SocketAddr>) {
    ns.enter(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let started = Instant::now();
        let clients = (0..count)
            .map(|i| {
                let mut client = TcpStream::connect(addr).unwrap();
                let (mut server, _) = listener.accept().unwrap();
                client.write_all(b"x").unwrap();
                server.read_exact(&mut [0]).unwrap();
                let local = client.local_addr().unwrap();
                drop(client);
                std::thread::sleep(Duration::from_millis(2));
                drop(server);
                let due = started + Duration::from_secs(1) * (i as u32 + 1) / per_sec;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                local
            })
            .collect();
        (addr, clients)
    })
}

#[test]
fn sockets_entering_time_wait_during_a_dump_are_never_gone() {
    require!(Need::Netns, Need::Tool("sysctl"));
    let ns = Netns::create("watch", "twdump");
    // Each connection on a 4-tuple of its own: no TIME_WAIT is reused.
    ns.stdout("sysctl", &["-qw", "net.ipv4.tcp_tw_reuse=0"]);
    let mut watch = Watch::start(&ns, &["-an", "-c", "0.1", "--events=sampled", "--json"]);
    let _marker = sync_on_marker(&ns, &mut watch);
    // Fast enough that many sockets enter TIME_WAIT while a dump runs (a
    // notification taken then was judged by a dump that never saw its
    // socket: 18 to 38 false `gone` in 1000 before).
    let (server, clients) = client_closes(&ns, 1000, 200);
    let last = *clients.last().unwrap();
    watch.wait_for("the last client's TIME_WAIT", |e| {
        is_socket(e, last, server) && e["socket"]["state"] == "TIME_WAIT"
    });
    watch.read_for(Duration::from_millis(500));
    let events = watch.events();
    for client in &clients {
        let steps = history(&events, *client, server);
        // A TIME_WAIT lives 60 s: no client socket may be gone, and each
        // must be seen there.
        assert!(
            steps.iter().all(|(event, ..)| event != "gone"),
            "client {client}: {steps:?}"
        );
        assert_eq!(
            steps.last().map(|s| s.2.as_str()),
            Some("TIME_WAIT"),
            "client {client}: {steps:?}"
        );
    }
}

#[test]
fn a_time_wait_replaced_by_another_on_its_4_tuple_is_gone() {
    require!(Need::Netns, Need::Tool("sysctl"));
    let ns = Netns::create("watch", "twreuse");
    // A connect may take over a TIME_WAIT on its 4-tuple a second after
    // that TIME_WAIT's last timestamp.
    ns.stdout("sysctl", &["-qw", "net.ipv4.tcp_tw_reuse=1"]);
    let listener = ns.enter(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let server = listener.local_addr().unwrap();
    let mut watch = Watch::start(&ns, &["-an", "-c", "0.2", "--events=sampled", "--json"]);
    let _marker = sync_on_marker(&ns, &mut watch);
    // A connection from `port`, closed by the client first: its socket
    // enters TIME_WAIT.
    let open_and_close = |port: u16| {
        ns.enter(|| {
            let fd = support::sock::socket(server.ip(), false);
            support::sock::set_int(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
            support::sock::bind(&fd, SocketAddr::new(server.ip(), port));
            support::sock::connect(&fd, server);
            let client = TcpStream::from(fd);
            let (accepted, _) = listener.accept().unwrap();
            let local = client.local_addr().unwrap();
            drop(client);
            std::thread::sleep(Duration::from_millis(2));
            drop(accepted);
            local
        })
    };
    let client = open_and_close(0);
    let is_time_wait =
        |e: &Value| is_socket(e, client, server) && e["socket"]["state"] == "TIME_WAIT";
    watch.wait_for("the first TIME_WAIT", is_time_wait);
    std::thread::sleep(Duration::from_millis(1_500));
    // The same 4-tuple again, opened and closed between two polls: only
    // the TIME_WAIT's cookie tells it from the first.
    assert_eq!(open_and_close(client.port()), client);
    watch.wait_for("the first TIME_WAIT gone", |e| {
        is_socket(e, client, server) && e["event"] == "gone"
    });
    watch.read_for(Duration::from_millis(500));
    let steps = history(&watch.events(), client, server);
    let gone = steps.iter().position(|s| s.0 == "gone").unwrap();
    assert_eq!(
        steps[gone..]
            .iter()
            .map(|s| s.0.as_str())
            .collect::<Vec<_>>(),
        ["gone", "new"],
        "{steps:?}"
    );
    assert_eq!(steps[gone].1, "TIME_WAIT", "{steps:?}");
    assert_eq!(steps[gone + 1].2, "TIME_WAIT", "{steps:?}");
}

#[test]
fn aborts_are_reported_within_one_interval_in_time_order() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "abortsoon");
    let listener = ns.enter(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let server = listener.local_addr().unwrap();
    // Connections from the same address to the same port: an abort's
    // notification, which lost its remote port, matches each of them.
    let _others: Vec<_> = (0..3).map(|_| connected_pair_on(&ns, &listener)).collect();
    let mut watch = Watch::start(&ns, &["-an", "-c", "1", "--events=sampled", "--json"]);
    let _marker = sync_on_marker(&ns, &mut watch);
    let (client, accepted) = connected_pair_on(&ns, &listener);
    let aborted_at = Instant::now();
    support::sock::abort(accepted);
    drop(client);
    let gone = watch.wait_for("the aborted server socket", |e| {
        e["event"] == "gone"
            && e["socket"]["local"]["port"] == server.port()
            && e["socket"]["remote"]["port"] == 0
    });
    let took = aborted_at.elapsed();
    // At most one interval to the next pass, plus that pass's own time
    // (it used to wait two more passes).
    assert!(took < Duration::from_millis(1_800), "{took:?}: {gone}");
    watch.read_for(Duration::from_millis(1_200));
    let times: Vec<String> = watch
        .events()
        .iter()
        .map(|e| e["time"].as_str().unwrap().to_string())
        .collect();
    assert!(times.is_sorted(), "{times:?}");
}

#[test]
fn a_pass_longer_than_the_interval_is_said_once() {
    require!(Need::Netns);
    let ns = Netns::create("watch", "late");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
            .args(["-N", ns.name(), "-an", "--count", "3"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        stderr
    };
    // A few sockets, polled every second: on time, nothing said.
    let (_listener, _client, _server) = connected_pair(&ns);
    assert_eq!(run(&["-c", "1"]), "");
    // 3000 sockets written every millisecond: no pass fits in its slot.
    let _crowd = crowd(&ns, 1500);
    for args in [&["-c", "0.001"][..], &["-c", "0.001", "--events=sampled"]] {
        let stderr = run(args);
        let said: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("longer than the 0.001 s interval"))
            .collect();
        assert_eq!(said.len(), 1, "{args:?}: {stderr}");
        assert!(said[0].starts_with("tcpstat: a pass took "), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    // JSON passes count the slots skipped before each.
    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args([
            "-N",
            ns.name(),
            "-an",
            "--count",
            "3",
            "-c",
            "0.001",
            "--json",
        ])
        .output()
        .unwrap();
    let skipped: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| parse(l)["skipped"].as_u64().unwrap())
        .collect();
    assert_eq!(skipped.len(), 3);
    assert_eq!(skipped[0], 0, "the first pass follows none");
    assert!(skipped[1..].iter().all(|&n| n >= 1), "{skipped:?}");
}
