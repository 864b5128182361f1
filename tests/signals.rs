//! Stop signals end the output on a line boundary, in every mode. SIGINT,
//! SIGTERM and SIGHUP are sent to a one-shot listing, to `-c` and to
//! `--events` while a line is half-way into a full pipe. Once the reader
//! reads on, that line is finished (and, in the one-shot listing, the
//! whole listing, so its JSON array stays valid), and the exit status is
//! 128 + the signal: 130, 143, 129. A reader that never reads on gets
//! tcpstat's one-second grace. A signal that was already ignored when
//! tcpstat started (nohup) stays ignored, and SIGQUIT keeps its default
//! action (the process dies at once).
//!
//! The sockets come from a fixture /proc root (`--source proc
//! --proc-root`) with thousands of rows, so nothing here needs root: one
//! listing is megabytes, many times what a pipe holds, and the tests wait
//! until the pipe is full before they send the signal.

mod support;

use serde_json::Value;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tcpstat::watch::output::GRACE;

/// Rows in the fixture: about 1.4 MB of JSON, 400 KB of table.
const ROWS: usize = 5000;

const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// A /proc root for `--source proc --proc-root`, removed on drop.
struct ProcRoot(PathBuf);

impl ProcRoot {
    /// A root whose `net/tcp` holds [`ROWS`] connections.
    fn new(tag: &str) -> ProcRoot {
        let dir =
            std::env::temp_dir().join(format!("tcpstat-signals-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("net")).unwrap();
        std::fs::write(dir.join("net/tcp6"), TCP_HEADER).unwrap();
        let root = ProcRoot(dir);
        root.replace_tcp(&connections(1024, ROWS));
        root
    }

    /// Replaces `net/tcp` whole, by a rename, so that a pass reads either
    /// the old table or the new one.
    fn replace_tcp(&self, table: &str) {
        let next = self.0.join("net/tcp.next");
        std::fs::write(&next, table).unwrap();
        std::fs::rename(next, self.0.join("net/tcp")).unwrap();
    }

    /// The arguments that make tcpstat read this root.
    fn args(&self) -> [&str; 4] {
        ["--source", "proc", "--proc-root", self.0.to_str().unwrap()]
    }
}

impl Drop for ProcRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `/proc/net/tcp` table of `rows` ESTABLISHED connections from
/// 127.0.0.1, local ports counting up from `first_port`, to port 80.
fn connections(first_port: u16, rows: usize) -> String {
    let mut table = String::from(TCP_HEADER);
    for i in 0..rows {
        let port = first_port as usize + i;
        table += &format!(
            "{i:4}: 0100007F:{port:04X} 0100007F:0050 01 00000000:00000000 00:00000000 \
             00000000     0        0 {inode} 1 0000000000000000 20 4 30 10 -1\n",
            inode = 100_000 + port
        );
    }
    table
}

/// What tcpstat's signals are set to in the child before it starts.
#[derive(Clone, Copy, PartialEq)]
enum Start {
    /// The stop signals and SIGQUIT at their default action, whatever
    /// this test process inherited, and no core dump.
    Default,
    /// As [`Start::Default`], but SIGHUP ignored, as `nohup` leaves it.
    NoHup,
}

/// A running tcpstat whose stdout is a pipe that the test reads only when
/// it chooses to; killed when dropped if still running.
struct Tcpstat {
    child: Child,
    stdout: Option<ChildStdout>,
}

impl Tcpstat {
    fn start(root: &ProcRoot, args: &[&str], start: Start) -> Tcpstat {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tcpstat"));
        command
            .args(root.args())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        support::signals::default_signals(&mut command);
        // SAFETY: signal and setrlimit are async-signal-safe and touch no
        // memory of the parent.
        unsafe {
            command.pre_exec(move || {
                if start == Start::NoHup {
                    libc::signal(libc::SIGHUP, libc::SIG_IGN);
                }
                // 1 byte, not 0: a limit of 1 also stops a core_pattern
                // pipe, which ignores 0.
                let core = libc::rlimit {
                    rlim_cur: 1,
                    rlim_max: 1,
                };
                match libc::setrlimit(libc::RLIMIT_CORE, &core) {
                    0 => Ok(()),
                    _ => Err(io::Error::last_os_error()),
                }
            });
        }
        let mut child = command.spawn().expect("start tcpstat");
        let stdout = child.stdout.take();
        Tcpstat { child, stdout }
    }

    /// Waits until the pipe to the test is full, so that tcpstat is held
    /// in the middle of a line; panics if it ends first or takes 20 s.
    fn wait_for_full_pipe(&mut self) {
        let fd = self.stdout.as_ref().unwrap().as_raw_fd();
        // SAFETY: fcntl on an open descriptor with integer arguments.
        let capacity = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
        assert!(capacity > 0, "F_GETPIPE_SZ: {}", io::Error::last_os_error());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut queued: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int, which `queued` is.
            let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) };
            assert_eq!(rc, 0, "FIONREAD: {}", io::Error::last_os_error());
            // Full but for less than a page: a pipe writer blocks (or
            // polls) for a free page.
            if queued > capacity - libc::PIPE_BUF as libc::c_int {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "tcpstat ended before its pipe was full: {}",
                    describe(status)
                );
            }
            assert!(Instant::now() < deadline, "pipe not full after 20 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill takes no pointers; the child is ours and not reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Reads the pipe to its end on another thread.
    fn read_rest(&mut self) -> JoinHandle<Vec<u8>> {
        let mut stdout = self.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut text = Vec::new();
            stdout.read_to_end(&mut text).unwrap();
            text
        })
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

impl Drop for Tcpstat {
    fn drop(&mut self) {
        support::child::kill_if_running(&mut self.child);
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => format!("{status}"),
    }
}

/// Sends `signal` to `tcpstat` while a line is half-way into its full
/// pipe, then reads on. tcpstat must end with `code`, say nothing on
/// stderr, and have written whole lines, which are returned.
fn stop_mid_line(mut tcpstat: Tcpstat, signal: libc::c_int, code: i32) -> String {
    tcpstat.wait_for_full_pipe();
    tcpstat.signal(signal);
    // The signal is heard while the pipe is still full.
    std::thread::sleep(Duration::from_millis(100));
    let rest = tcpstat.read_rest();
    let Some(status) = tcpstat.exit_within(Duration::from_secs(20)) else {
        panic!("signal {signal}: still running 20 s later");
    };
    let text = String::from_utf8(rest.join().unwrap()).unwrap();
    let tail = &text[text.len().saturating_sub(80)..];
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "signal {signal}: {}, half-written last line: …{tail}",
        describe(status)
    );
    assert_eq!(
        status.code(),
        Some(code),
        "signal {signal}: {}",
        describe(status)
    );
    let stderr = tcpstat.stderr();
    assert!(
        support::unless_overran(&stderr).is_empty(),
        "signal {signal}: {stderr}"
    );
    text
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {:.120}…", line))
}

/// The one-shot listing, run to its end without a signal.
fn complete_listing(root: &ProcRoot, args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(root.args())
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    out.stdout
}

/// One test per check and stop signal, so that a failure names both.
macro_rules! for_each_stop_signal {
    ($($check:ident => $int:ident, $term:ident, $hup:ident;)*) => {$(
        #[test]
        fn $int() {
            $check(libc::SIGINT, 130);
        }
        #[test]
        fn $term() {
            $check(libc::SIGTERM, 143);
        }
        #[test]
        fn $hup() {
            $check(libc::SIGHUP, 129);
        }
    )*};
}

for_each_stop_signal! {
    one_shot_listing_is_finished =>
        one_shot_listing_is_finished_after_sigint,
        one_shot_listing_is_finished_after_sigterm,
        one_shot_listing_is_finished_after_sighup;
    continuous_json_ends_with_a_complete_pass =>
        continuous_json_ends_with_a_complete_pass_after_sigint,
        continuous_json_ends_with_a_complete_pass_after_sigterm,
        continuous_json_ends_with_a_complete_pass_after_sighup;
    events_end_with_a_complete_line =>
        events_end_with_a_complete_line_after_sigint,
        events_end_with_a_complete_line_after_sigterm,
        events_end_with_a_complete_line_after_sighup;
    stalled_reader_is_given_a_second =>
        stalled_reader_is_given_a_second_after_sigint,
        stalled_reader_is_given_a_second_after_sigterm,
        stalled_reader_is_given_a_second_after_sighup;
}

/// The one-shot listing, JSON and table, is the complete listing.
fn one_shot_listing_is_finished(signal: libc::c_int, code: i32) {
    let root = ProcRoot::new(&format!("once-{signal}"));
    for format in [&["-an", "--json"][..], &["-an"]] {
        let complete = complete_listing(&root, format);
        let tcpstat = Tcpstat::start(&root, format, Start::Default);
        let text = stop_mid_line(tcpstat, signal, code);
        assert!(
            text.as_bytes() == complete,
            "signal {signal} {format:?}: the listing differs from a complete one \
             ({} bytes of {})",
            text.len(),
            complete.len()
        );
        if format.contains(&"--json") {
            let listing = parse(&text);
            assert_eq!(listing.as_array().map(Vec::len), Some(ROWS));
        }
    }
}

/// Each pass of `-c --json` is one whole line.
fn continuous_json_ends_with_a_complete_pass(signal: libc::c_int, code: i32) {
    let root = ProcRoot::new(&format!("pass-{signal}"));
    let tcpstat = Tcpstat::start(&root, &["-an", "-c", "0.01", "--json"], Start::Default);
    let text = stop_mid_line(tcpstat, signal, code);
    assert!(!text.is_empty(), "signal {signal}: no pass at all");
    for line in text.lines() {
        let pass = parse(line);
        assert_eq!(pass["sockets"].as_array().map(Vec::len), Some(ROWS));
    }
}

/// Swaps `root`'s table between two sets of [`ROWS`] connections every
/// few milliseconds, until `stop`: each pass of `--events` then sees them
/// all go and as many new ones come.
fn churn_tables(root: &ProcRoot, stop: &AtomicBool) {
    let tables = [connections(1024, ROWS), connections(10_000, ROWS)];
    for table in tables.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        root.replace_tcp(table);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sets its flag when dropped, also by a panic, so that a scoped thread
/// waiting on it ends and the panic can propagate.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Every line of `--events --json` is a whole event.
fn events_end_with_a_complete_line(signal: libc::c_int, code: i32) {
    let root = ProcRoot::new(&format!("events-{signal}"));
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| churn_tables(&root, &stop));
        let _stop_churn = SetOnDrop(&stop);
        let args = ["-an", "-c", "0.01", "--events=sampled", "--json"];
        let tcpstat = Tcpstat::start(&root, &args, Start::Default);
        let text = stop_mid_line(tcpstat, signal, code);
        assert!(!text.is_empty(), "signal {signal}: no event at all");
        for line in text.lines() {
            let event = parse(line);
            assert!(event["event"].is_string(), "{line:.120}");
        }
    });
}

/// A reader that never reads on: tcpstat waits the grace, no longer, and
/// still ends with the signal's status (its last line is half-written:
/// the rest could only go into a pipe that nobody empties).
fn stalled_reader_is_given_a_second(signal: libc::c_int, code: i32) {
    let root = ProcRoot::new(&format!("stall-{signal}"));
    let mut tcpstat = Tcpstat::start(&root, &["-an", "--json"], Start::Default);
    tcpstat.wait_for_full_pipe();
    // The pipe is held open and never read again.
    tcpstat.signal(signal);
    let signalled = Instant::now();
    let Some(status) = tcpstat.exit_within(GRACE * 3) else {
        panic!("signal {signal}: still running {:?} later", GRACE * 3);
    };
    let took = signalled.elapsed();
    assert_eq!(
        status.code(),
        Some(code),
        "signal {signal}: {}",
        describe(status)
    );
    assert!(took >= GRACE, "signal {signal}: gave up after {took:?}");
    let stderr = tcpstat.stderr();
    assert!(
        support::unless_overran(&stderr).is_empty(),
        "signal {signal}: {stderr}"
    );
}

#[test]
fn a_signal_ignored_at_start_stays_ignored() {
    let root = ProcRoot::new("nohup");
    let mut tcpstat = Tcpstat::start(&root, &["-an", "-c", "0.01", "--json"], Start::NoHup);
    let rest = tcpstat.read_rest();
    std::thread::sleep(Duration::from_millis(200));
    tcpstat.signal(libc::SIGHUP);
    assert!(
        tcpstat.exit_within(Duration::from_millis(500)).is_none(),
        "SIGHUP ended tcpstat under nohup"
    );
    tcpstat.signal(libc::SIGTERM);
    let Some(status) = tcpstat.exit_within(Duration::from_secs(20)) else {
        panic!("still running 20 s after SIGTERM");
    };
    assert_eq!(status.code(), Some(143), "{}", describe(status));
    let text = String::from_utf8(rest.join().unwrap()).unwrap();
    assert!(text.ends_with('\n'), "half-written last line");
    text.lines().for_each(|line| drop(parse(line)));
}

#[test]
fn sigquit_keeps_its_default_action() {
    let root = ProcRoot::new("quit");
    let mut tcpstat = Tcpstat::start(&root, &["-an", "--json"], Start::Default);
    tcpstat.wait_for_full_pipe();
    tcpstat.signal(libc::SIGQUIT);
    // At once: not after the grace a stop signal gets.
    let Some(status) = tcpstat.exit_within(GRACE / 2) else {
        panic!("still running after SIGQUIT");
    };
    assert_eq!(status.signal(), Some(libc::SIGQUIT), "{}", describe(status));
}
