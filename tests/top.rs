//! `tcpstat top` for real: the binary in a tmux pane (a real terminal),
//! watching a private network namespace while the test opens and closes
//! connections in it, its screen read with `capture-pane` (with `-e`, its
//! colours): a new connection appears within two refreshes, marked and
//! green; one closed is shown gone (red) for a refresh, then leaves;
//! typing a filter narrows the rows; `q` exits 0 and leaves the alternate
//! screen. Under `-N all`: a namespace created while top runs is shown,
//! named, within a few refreshes, and its rows go when it is deleted; `k`
//! closes a connection of another namespace in that namespace. Also:
//! without a terminal, one error line and exit 2.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use support::netns::Netns;
use support::{require, Need};

/// The refresh interval asked of top.
const INTERVAL: Duration = Duration::from_secs(1);

/// A tmux server of the test's own, killed (and its socket file
/// removed) when dropped.
struct Tmux {
    socket: String,
    /// The server's socket file, which kill-server leaves behind.
    path: Option<String>,
}

impl Tmux {
    /// Starts `command` in a detached 120x30 session, on a server named
    /// after the test process and `tag`.
    fn start(tag: &str, command: &str) -> Tmux {
        let mut tmux = Tmux {
            socket: format!("tcpstat-top-{}-{tag}", std::process::id()),
            path: None,
        };
        let out = tmux.run(&["new-session", "-d", "-x", "120", "-y", "30", command]);
        assert!(out.status.success(), "tmux: {out:?}");
        let path = tmux
            .run(&["display-message", "-p", "#{socket_path}"])
            .stdout;
        tmux.path = Some(String::from_utf8_lossy(&path).trim().to_string());
        tmux
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// The screen as text; with `escapes`, with its colours as SGR codes.
    fn screen(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p"];
        if escapes {
            args.push("-e");
        }
        String::from_utf8_lossy(&self.run(&args).stdout).into_owned()
    }

    /// Types `text` as it is.
    fn keys(&self, text: &str) {
        assert!(self.run(&["send-keys", "-l", text]).status.success());
    }

    /// Whether the pane shows the alternate screen.
    fn alternate_on(&self) -> bool {
        let out = self.run(&["display-message", "-p", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Waits up to `within` for the screen to satisfy `ready`; the screen
    /// (with escapes) it last saw, and whether it did.
    fn wait(&self, within: Duration, ready: impl Fn(&str) -> bool) -> (String, bool) {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen(true);
            if ready(&screen) {
                return (screen, true);
            }
            if Instant::now() > deadline {
                return (screen, false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        if let Some(path) = self.path.as_deref().filter(|p| !p.is_empty()) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The line of `screen` that shows `text`.
fn line_with<'a>(screen: &'a str, text: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(text))
}

/// A connection to `to` made in `ns`, and its accepted end.
fn connect(ns: &Netns, listener: &TcpListener, to: SocketAddr) -> (TcpStream, TcpStream) {
    let client = ns.enter(|| TcpStream::connect(to).expect("connect"));
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

fn port_text(stream: &TcpStream) -> String {
    format!(":{}", stream.local_addr().unwrap().port())
}

/// Whether `line` sets the foreground to colour `n` (0-7), in either SGR
/// form tmux may write with `capture-pane -e` (`ESC[3Nm`, `ESC[38;5;Nm`).
fn has_foreground(line: &str, n: u8) -> bool {
    line.contains(&format!("\u{1b}[3{n}m")) || line.contains(&format!("\u{1b}[38;5;{n}m"))
}

fn is_green(line: &str) -> bool {
    has_foreground(line, 2)
}

fn is_red(line: &str) -> bool {
    has_foreground(line, 1)
}

#[test]
fn top_shows_connections_come_and_go_filters_and_quits() {
    require!(Need::Netns, Need::Tool("tmux"));
    let ns = Netns::create("top", "e2e");
    let (web, db) = ns.enter(|| {
        (
            TcpListener::bind("127.0.0.1:8080").unwrap(),
            TcpListener::bind("127.0.0.1:5432").unwrap(),
        )
    });
    let web_addr = web.local_addr().unwrap();
    let db_addr = db.local_addr().unwrap();
    let (_old_client, _old_server) = connect(&ns, &db, db_addr);
    let command = format!(
        "env -u NO_COLOR TERM=screen-256color {} -N {} top -c {}; echo EXIT=$?; sleep 600",
        env!("CARGO_BIN_EXE_tcpstat"),
        ns.name(),
        INTERVAL.as_secs_f64()
    );
    let tmux = Tmux::start("e2e", &command);
    let (screen, up) = tmux.wait(Duration::from_secs(10), |s| s.contains(":5432"));
    assert!(up, "top did not show the connection to :5432:\n{screen}");
    assert!(tmux.alternate_on(), "top draws on the alternate screen");

    // A new connection: on screen within two refreshes, marked and green.
    let (client, server) = connect(&ns, &web, web_addr);
    let port = port_text(&client);
    let two_refreshes = 2 * INTERVAL + Duration::from_millis(500);
    let (screen, seen) = tmux.wait(two_refreshes, |s| line_with(s, &port).is_some());
    assert!(seen, "{port} not shown within two refreshes:\n{screen}");
    let row = line_with(&screen, &port).unwrap();
    assert!(is_green(row), "a new row is green: {row:?}");
    assert!(row.contains('+'), "a new row is marked +: {row:?}");

    // Closed (reset, so that no TIME_WAIT is left): shown gone, then not.
    support::sock::abort(client);
    drop(server);
    let (screen, gone) = tmux.wait(two_refreshes, |s| {
        line_with(s, &port).is_some_and(|row| is_red(row) && row.contains('-'))
    });
    assert!(gone, "{port} not shown gone (red, -):\n{screen}");
    let (screen, left) = tmux.wait(two_refreshes, |s| line_with(s, &port).is_none());
    assert!(left, "{port} still shown after it was gone:\n{screen}");

    // Typing a filter narrows the rows.
    let (web_client, _web_server) = connect(&ns, &web, web_addr);
    let (screen, both) = tmux.wait(two_refreshes, |s| {
        s.contains(":8080") && s.contains(":5432")
    });
    assert!(both, "{screen}");
    tmux.keys("/dport = :8080");
    let (screen, narrowed) = tmux.wait(Duration::from_secs(2), |s| {
        s.contains(":8080") && !s.contains(":5432") && s.contains("/dport = :8080")
    });
    assert!(narrowed, "the filter did not narrow the rows:\n{screen}");
    tmux.keys("\r");

    // k on the one row left, then y: closed through -K's path, and gone.
    tmux.keys("k");
    let (screen, asked) = tmux.wait(Duration::from_secs(2), |s| s.contains("close?"));
    assert!(asked, "no confirmation:\n{screen}");
    tmux.keys("y");
    let (screen, closed) = tmux.wait(Duration::from_secs(2), |s| s.contains(": closed"));
    assert!(closed, "no report of the close:\n{screen}");
    let (screen, left) = tmux.wait(2 * two_refreshes, |s| s.contains("no socket matches"));
    assert!(left, "the closed connection stayed:\n{screen}");

    // q: exit status 0, the alternate screen left.
    tmux.keys("q");
    let (screen, ended) = tmux.wait(Duration::from_secs(5), |s| s.contains("EXIT="));
    assert!(ended, "top did not end on q:\n{screen}");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(!tmux.alternate_on(), "the alternate screen was left");
    // The kernel aborted the client's end: its owner's next read says so.
    let mut buf = [0u8; 1];
    let read = std::io::Read::read(&mut &web_client, &mut buf);
    let aborted = matches!(&read, Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED));
    assert!(aborted, "the client's read after the close: {read:?}");
    assert!(
        !screen.contains("tcpstat top"),
        "the view is gone from the screen:\n{screen}"
    );
}

/// A loopback port nobody on the host listens on now (the kernel's pick,
/// released): what a namespace made later listens on, so that a filter
/// given to `top -N all` before it exists shows its rows alone.
fn unused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// `top -N all` started with `filter`, refreshing every INTERVAL, on a
/// terminal wide enough for the NETNS column.
fn top_all_netns(tag: &str, filter: &str) -> Tmux {
    let command = format!(
        "{} -v -N all top -c {} {filter}; echo EXIT=$?; sleep 600",
        env!("CARGO_BIN_EXE_tcpstat"),
        INTERVAL.as_secs_f64()
    );
    let tmux = Tmux::start(tag, &command);
    assert!(tmux
        .run(&["resize-window", "-x", "160", "-y", "30"])
        .status
        .success());
    let (screen, up) = tmux.wait(Duration::from_secs(10), |s| s.contains("tcpstat top"));
    assert!(up, "top did not start:\n{screen}");
    tmux
}

#[test]
fn top_all_netns_shows_a_namespace_made_while_it_runs_and_drops_it_when_deleted() {
    require!(Need::Netns, Need::Tool("tmux"));
    let port = unused_port();
    let tmux = top_all_netns("late", &format!("-l sport = :{port}"));
    let shown = format!("127.0.0.1:{port}");
    let (screen, _) = tmux.wait(2 * INTERVAL, |s| s.contains(&shown));
    assert!(
        !screen.contains(&shown),
        "a listener before there is one:\n{screen}"
    );

    // Made (and listened in) after top found the namespaces.
    let ns = Netns::create("top", "late");
    let listener = ns.enter(|| TcpListener::bind(("127.0.0.1", port)).unwrap());
    let few_refreshes = 4 * INTERVAL + Duration::from_millis(500);
    let (screen, seen) = tmux.wait(few_refreshes, |s| line_with(s, &shown).is_some());
    assert!(seen, "{shown} in the new namespace not shown:\n{screen}");
    // Named by its label (the NETNS column is 12 wide: its start), not `?`.
    let text = tmux.screen(false);
    let row = line_with(&text, &shown).unwrap();
    let label = &ns.name()[..12];
    assert!(
        row.contains(label),
        "the row does not name {}: {row:?}",
        ns.name()
    );

    // Deleted (its listener still open, so the namespace lives on, found
    // by nothing): no longer read, its rows go.
    drop(ns);
    let (screen, left) = tmux.wait(few_refreshes, |s| line_with(s, &shown).is_none());
    assert!(
        left,
        "{shown} still shown after its namespace was deleted:\n{screen}"
    );
    drop(listener);
    let text = tmux.screen(false);
    assert!(!text.contains("EXIT="), "top ended:\n{text}");
    tmux.keys("q");
    let (screen, ended) = tmux.wait(Duration::from_secs(5), |s| s.contains("EXIT="));
    assert!(ended && screen.contains("EXIT=0"), "{screen}");
}

/// A connection inside a namespace of its own, shown by `top -N all`
/// (filtered to it) with `k` pressed on it: top asks to close it.
struct AskedToClose {
    ns: Netns,
    _listener: TcpListener,
    addr: SocketAddr,
    client: TcpStream,
    server: TcpStream,
    client_port: String,
    tmux: Tmux,
}

impl AskedToClose {
    fn new(tag: &str) -> AskedToClose {
        let ns = Netns::create("top", tag);
        let listener = ns.enter(|| TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let (client, server) = connect(&ns, &listener, addr);
        let client_port = port_text(&client);
        // The namespace by name too: other namespaces on the host may have
        // connections to the same port.
        let filter = format!("'netns {} and dport = :{}'", ns.name(), addr.port());
        let tmux = top_all_netns(tag, &filter);
        let (screen, seen) = tmux.wait(Duration::from_secs(5), |s| {
            line_with(s, &client_port).is_some()
        });
        assert!(seen, "the connection {client_port} not shown:\n{screen}");
        tmux.keys("k");
        let (screen, asked) = tmux.wait(Duration::from_secs(2), |s| s.contains("close?"));
        assert!(asked, "no confirmation:\n{screen}");
        AskedToClose {
            ns,
            _listener: listener,
            addr,
            client,
            server,
            client_port,
            tmux,
        }
    }
}

#[test]
fn top_all_netns_k_closes_a_connection_in_its_own_namespace() {
    require!(Need::Netns, Need::Tool("tmux"));
    let AskedToClose {
        ns,
        _listener,
        addr,
        client,
        server,
        tmux,
        ..
    } = AskedToClose::new("kill");
    tmux.keys("y");
    let (screen, closed) = tmux.wait(Duration::from_secs(2), |s| s.contains(": closed"));
    assert!(closed, "no report of the close:\n{screen}");
    let text = tmux.screen(false);
    let said = line_with(&text, ": closed").unwrap();
    assert!(
        said.contains(&ns.name()[..12]),
        "the report names the namespace: {said:?}"
    );

    // Gone in that namespace, as ss there sees it (neither end is left:
    // the peer got a reset).
    let ss = ns.stdout(
        "ss",
        &[
            "-tanH",
            &format!("sport = :{} or dport = :{}", addr.port(), addr.port()),
        ],
    );
    assert!(
        ss.lines().all(|l| l.contains("LISTEN")),
        "left in {}:\n{ss}",
        ns.name()
    );
    // The owner's next read says it was aborted; the peer's, a reset.
    let mut buf = [0u8; 1];
    let read = (&client).read(&mut buf);
    let aborted = matches!(&read, Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED));
    assert!(aborted, "the client's read after the close: {read:?}");
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let read = (&server).read(&mut buf);
    let reset = matches!(&read, Err(e) if e.raw_os_error() == Some(libc::ECONNRESET))
        || matches!(read, Ok(0));
    assert!(reset, "the peer's read after the close: {read:?}");
    let (screen, left) = tmux.wait(4 * INTERVAL, |s| s.contains("no socket matches"));
    assert!(left, "the closed connection stayed:\n{screen}");
    tmux.keys("q");
    let (screen, ended) = tmux.wait(Duration::from_secs(5), |s| s.contains("EXIT="));
    assert!(ended && screen.contains("EXIT=0"), "{screen}");
}

#[test]
fn top_all_netns_k_on_a_namespace_deleted_meanwhile_says_so_and_closes_nothing() {
    require!(Need::Netns, Need::Tool("tmux"));
    let AskedToClose {
        ns,
        _listener,
        client,
        server,
        client_port,
        tmux,
        ..
    } = AskedToClose::new("kgone");
    // Deleted while top asks (its sockets keep it alive, found by
    // nothing); -v says so in the footer at the next refresh.
    let name = ns.name().to_string();
    drop(ns);
    let (screen, noted) = tmux.wait(3 * INTERVAL, |s| {
        s.contains(&format!("({name}) is gone: no longer read"))
    });
    assert!(noted, "no note of the namespace gone:\n{screen}");
    tmux.keys("y");
    let (screen, said) = tmux.wait(Duration::from_secs(2), |s| s.contains("not closed"));
    assert!(said, "no word on the close:\n{screen}");
    let text = tmux.screen(false);
    let line = line_with(&text, "not closed").unwrap();
    assert!(
        line.contains(&client_port) && line.ends_with("is gone"),
        "{line:?}"
    );
    // Nothing was closed: the connection still works.
    (&client).write_all(b"x").unwrap();
    let mut buf = [0u8; 1];
    (&server).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"x");
    tmux.keys("q");
    let (screen, ended) = tmux.wait(Duration::from_secs(5), |s| s.contains("EXIT="));
    assert!(ended && screen.contains("EXIT=0"), "{screen}");
}

/// The pid of the program the pane's shell started.
fn program_pid(tmux: &Tmux) -> i32 {
    let out = tmux.run(&["display-message", "-p", "#{pane_pid}"]);
    let shell = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("the pane's shell's children");
    let first = children
        .split_whitespace()
        .next()
        .expect("a child of the shell");
    first.parse().unwrap()
}

#[test]
fn top_fits_a_small_terminal_and_sigterm_restores_it() {
    require!(Need::Netns, Need::Tool("tmux"));
    let ns = Netns::create("top", "term");
    let listener = ns.enter(|| TcpListener::bind("127.0.0.1:8080").unwrap());
    let addr = listener.local_addr().unwrap();
    let _conns: Vec<_> = (0..30).map(|_| connect(&ns, &listener, addr)).collect();
    // -v: the notes on stderr go to the footer, not over the view.
    let command = format!(
        "{} -v -N {} top; echo EXIT=$?; sleep 600",
        env!("CARGO_BIN_EXE_tcpstat"),
        ns.name()
    );
    let tmux = Tmux::start("term", &command);
    let (screen, up) = tmux.wait(Duration::from_secs(10), |s| s.contains(":8080"));
    assert!(up, "{screen}");
    let (screen, noted) = tmux.wait(Duration::from_secs(3), |_| {
        let text = tmux.screen(false);
        let last = text.lines().last().unwrap_or("").to_string();
        // The last of -v's notes of the first pass.
        last.starts_with("tcpstat: read owners from ") && text.starts_with("tcpstat top")
    });
    assert!(noted, "no note in the footer:\n{screen}");
    // Down to 80x24: columns dropped, nothing wrapped, the footer last.
    assert!(tmux
        .run(&["resize-window", "-x", "80", "-y", "24"])
        .status
        .success());
    // Any key takes the note away.
    tmux.keys("x");
    let (screen, fits) = tmux.wait(Duration::from_secs(3), |_| {
        let text = tmux.screen(false);
        let lines: Vec<&str> = text.lines().collect();
        lines.len() == 24 && lines[23].contains("q quit") && lines[0].starts_with("tcpstat top")
    });
    assert!(fits, "{screen}");
    let text = tmux.screen(false);
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    let rows = text.lines().filter(|l| l.contains("127.0.0.1:")).count();
    assert_eq!(rows, 24 - 4, "a screenful of rows:\n{text}");
    // SIGTERM: status 143, the terminal given back.
    let pid = program_pid(&tmux);
    // SAFETY: kill(2) sends a signal to the process started above.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let (screen, ended) = tmux.wait(Duration::from_secs(5), |s| s.contains("EXIT="));
    assert!(ended && screen.contains("EXIT=143"), "{screen}");
    assert!(!tmux.alternate_on());
}

/// The terminal going away (its tmux server killed: the pane's pty is
/// closed and SIGHUP sent) ends top; nothing is left running.
#[test]
fn top_ends_when_its_terminal_goes_away() {
    require!(Need::Netns, Need::Tool("tmux"));
    let ns = Netns::create("top", "lost");
    let command = format!("{} -N {} -a top", env!("CARGO_BIN_EXE_tcpstat"), ns.name());
    let tmux = Tmux::start("lost", &format!("{command}; sleep 600"));
    let (screen, up) = tmux.wait(Duration::from_secs(10), |s| s.contains("tcpstat top"));
    assert!(up, "{screen}");
    let pid = program_pid(&tmux);
    assert!(tmux.run(&["kill-server"]).status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let proc_dir = format!("/proc/{pid}");
    let running = || {
        std::fs::read_to_string(format!("{proc_dir}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
    };
    while running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !running(),
        "top ({pid}) still runs after its terminal went away"
    );
}

#[test]
fn without_a_terminal_top_says_to_use_c() {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .arg("top")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("tcpstat: top draws on a terminal") && stderr.contains("-c"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty());
}
