//! Names from outside the program never reach the terminal raw. A real
//! process named with an escape sequence and a newline, holding real
//! sockets in a test namespace; a host name and a user name with escape
//! sequences in fixture `/etc/hosts` and `/etc/passwd` files bind-mounted
//! in a private mount namespace; and hostile words and paths in error
//! lines: every text output (the table, `-c`, `--events`, `-s`, `why`,
//! `tcpstat:` lines) prints them escaped, as `{:?}` escapes (`\u{1b}`,
//! `\n`, `\\`), and JSON carries them exactly.

mod support;

use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::events::first_event;
use support::netns::Netns;
use support::tempdir::TempDir;
use support::{require, Need};

const TCPSTAT: &str = env!("CARGO_BIN_EXE_tcpstat");

/// A process name (comm, at most 15 bytes) that clears the screen, breaks
/// the line, rings the bell, and holds a backslash.
const HOSTILE_COMM: &str = "e\x1b[2J\nv\\il\x07";
/// How tcpstat writes it.
const ESCAPED_COMM: &str = r"e\u{1b}[2J\nv\\il\u{7}";

/// A host name for /etc/hosts, and how tcpstat writes it.
const HOSTILE_HOST: &str = "ev\x1b[2Jil\x07x";
const ESCAPED_HOST: &str = r"ev\u{1b}[2Jil\u{7}x";
/// The address it names.
const HOST_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 3, 1);

/// A user name for /etc/passwd, its uid, and how tcpstat writes it.
const HOSTILE_USER: &str = "u\x1b]0;owned\x07";
const HOSTILE_UID: u32 = 4242;
const ESCAPED_USER: &str = r"u\u{1b}]0;owned\u{7}";

/// Fails on any control character but the newlines that end lines.
fn assert_no_raw_controls(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| c.is_control() && c != '\n')
        .collect();
    assert!(bad.is_empty(), "{what} printed raw {bad:?}:\n{text:?}");
}

/// stdout and stderr of a run, whatever its exit status (`why` answers
/// "in use" with 1), both checked for raw control characters.
fn text_of(what: &str, out: Output) -> String {
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert_no_raw_controls(what, &stdout);
    assert_no_raw_controls(what, &stderr);
    stdout
}

/// A copy of sleep(1) named [`HOSTILE_COMM`], holding sockets at
/// descriptors 200, 201…; killed when dropped.
struct Holder(Child);

impl Holder {
    fn spawn(dir: &Path, fds: &[RawFd]) -> Holder {
        let program = dir.join(HOSTILE_COMM);
        let sleep = ["/bin/sleep", "/usr/bin/sleep"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("sleep(1)");
        std::fs::copy(sleep, &program).unwrap();
        let mut cmd = Command::new(&program);
        cmd.arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let fds = fds.to_vec();
        // SAFETY: between fork and exec the closure only calls dup2, which
        // is async-signal-safe, on descriptors this process owns.
        unsafe {
            cmd.pre_exec(move || {
                for (i, &fd) in fds.iter().enumerate() {
                    if libc::dup2(fd, 200 + i as RawFd) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = {
            let _starting = support::sock::no_fork();
            cmd.spawn().expect("spawn the holder")
        };
        // The kernel names it after the file it executed.
        let comm = format!("/proc/{}/comm", child.id());
        let want = format!("{HOSTILE_COMM}\n");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read(&comm).map_or(true, |c| c != want.as_bytes()) {
            assert!(Instant::now() < deadline, "the holder did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        Holder(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_hostile_process_name_is_escaped_in_every_text_output_and_exact_in_json() {
    require!(Need::Netns);
    let ns = Netns::create("escape", "comm");
    let (listener, server) = ns.enter(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let server = listener.accept().unwrap().0;
        // The peer closes: the holder's end sits in CLOSE_WAIT, which -s
        // details with the programs that hold it.
        drop(client);
        (listener, server)
    });
    let port = listener.local_addr().unwrap().port().to_string();
    let dir = TempDir::new("escape", "comm");
    let mut holder = Some(Holder::spawn(
        &dir.0,
        &[listener.as_raw_fd(), server.as_raw_fd()],
    ));
    // Only the holder owns them now.
    drop((listener, server));
    let pid = holder.as_ref().unwrap().pid();
    let run = |args: &[&str]| text_of(&args.join(" "), ns.exec(TCPSTAT, args));
    let label = format!("{pid}/{ESCAPED_COMM}");

    let table = run(&["-anp"]);
    // The column keeps 19 bytes of the escaped label, never half an escape.
    assert!(
        table.contains(&label[..label.find(r"\n").unwrap()]),
        "{table}"
    );
    let wide = run(&["-anpW"]);
    assert!(wide.contains(&label), "{wide}");
    let pass = run(&["-anpc", "--count", "1"]);
    assert!(pass.contains(&format!("{pid}/e\\u{{1b}}[2J")), "{pass}");
    let summary = run(&["-s"]);
    assert!(
        summary.contains(&format!("pid {pid} {ESCAPED_COMM} (1)")),
        "{summary}"
    );
    let why = run(&["why", &port]);
    assert!(
        why.contains(&format!("pid {pid} ({ESCAPED_COMM}) listening")),
        "{why}"
    );

    let name_of_listener = |json: &str| -> Value {
        let rows: Value = serde_json::from_str(json).unwrap();
        let row =
            rows.as_array().unwrap().iter().find(|r| {
                r["state"] == "LISTEN" && r["local"]["port"] == port.parse::<u16>().unwrap()
            });
        row.unwrap()["processes"][0]["name"].clone()
    };
    assert_eq!(name_of_listener(&run(&["-anp", "--json"])), HOSTILE_COMM);
    let why_json: Value = serde_json::from_str(&run(&["why", &port, "--json"])).unwrap();
    assert_eq!(why_json["holders"][0]["processes"][0]["name"], HOSTILE_COMM);

    // The holder dies after the first pass: its listener is `gone`, shown
    // with the owner the previous pass saw.
    let gone = first_event(
        TCPSTAT,
        &ns,
        &["-anp", "--events=sampled"],
        |l| l.contains(" gone ") && l.contains(&format!(":{port} ")),
        || drop(holder.take()),
    );
    assert_no_raw_controls("--events=sampled", &gone);
    assert!(gone.ends_with(&format!(" {label}")), "{gone}");
}

/// Runs tcpstat in `ns` and in a private mount namespace where the files
/// of `etc` are bind-mounted over /etc (and nscd, if any, cannot answer),
/// so that names come from them.
fn run_with_etc(ns: &Netns, etc: &Path, args: &[&str]) -> Output {
    let mut script = String::from("set -e");
    for name in ["hosts", "services", "passwd", "group"] {
        script.push_str(&format!(" && mount --bind \"$1/{name}\" /etc/{name}"));
    }
    script.push_str(
        " && { [ ! -e /etc/nsswitch.conf ] || mount --bind \"$1/nsswitch.conf\" /etc/nsswitch.conf; } \
         && { [ ! -d /var/run/nscd ] || mount -t tmpfs tmpfs /var/run/nscd; } \
         && shift && exec \"$@\"",
    );
    let _starting = support::sock::no_fork();
    Command::new("ip")
        .args(["netns", "exec", ns.name(), "unshare", "--mount", "sh", "-c"])
        .arg(&script)
        .arg("sh")
        .arg(etc)
        .arg(TCPSTAT)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .expect("run tcpstat with fixture /etc files")
}

/// Fixture /etc files naming [`HOST_ADDR`] and uid [`HOSTILE_UID`].
fn hostile_etc() -> TempDir {
    let dir = TempDir::new("escape", "etc");
    let files = [
        (
            "hosts",
            format!("127.0.0.1\tlocalhost\n{HOST_ADDR}\t{HOSTILE_HOST}\n"),
        ),
        ("services", "ssh\t22/tcp\n".to_string()),
        (
            "passwd",
            format!(
                "root:x:0:0:root:/root:/bin/sh\n\
                 {HOSTILE_USER}:x:{HOSTILE_UID}:{HOSTILE_UID}::/:/bin/sh\n"
            ),
        ),
        ("group", "root:x:0:\n".to_string()),
        (
            "nsswitch.conf",
            "passwd: files\ngroup: files\nhosts: files\nservices: files\n".to_string(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.0.join(name), text).unwrap();
    }
    dir
}

/// A connection from and to [`HOST_ADDR`], its sockets owned by `uid`.
fn connection(ns: &Netns, uid: u32) -> (impl Sized, u16) {
    ns.ip(&["addr", "add", &format!("{HOST_ADDR}/32"), "dev", "lo"]);
    ns.enter(|| {
        support::sock::as_fsuid(uid, || {
            let at = SocketAddr::new(IpAddr::V4(HOST_ADDR), 0);
            let listener = support::sock::listen(at, None, None);
            let port = listener.local_addr().unwrap().port();
            let to = SocketAddr::new(IpAddr::V4(HOST_ADDR), port);
            let client = support::sock::connect_from(IpAddr::V4(HOST_ADDR), to);
            let server = listener.accept().unwrap().0;
            ((listener, client, server), port)
        })
    })
}

#[test]
fn a_hostile_host_name_from_etc_hosts_is_escaped() {
    require!(Need::Netns, Need::Tool("unshare"), Need::Tool("mount"));
    let ns = Netns::create("escape", "hosts");
    let (_held, port) = connection(&ns, 0);
    let etc = hostile_etc();
    let run = |args: &[&str]| text_of(&args.join(" "), run_with_etc(&ns, &etc.0, args));

    let wide = run(&["-atW"]);
    assert!(wide.contains(&format!(" {ESCAPED_HOST}:{port} ")), "{wide}");
    // 22 columns for `name:port`: the name keeps 17 bytes, and the 17th
    // falls inside `\u{7}`, which goes whole.
    let cut = &ESCAPED_HOST[..ESCAPED_HOST.find(r"\u{7}").unwrap()];
    for args in [&["-at"][..], &["-atc", "--count", "1"]] {
        let table = run(args);
        assert!(table.contains(&format!(" {cut}:{port} ")), "{table}");
    }
}

#[test]
fn a_hostile_user_name_from_etc_passwd_is_escaped() {
    require!(Need::Netns, Need::Tool("unshare"), Need::Tool("mount"));
    let ns = Netns::create("escape", "users");
    let (_held, port) = connection(&ns, HOSTILE_UID);
    let etc = hostile_etc();
    let table = text_of("-taWe", run_with_etc(&ns, &etc.0, &["-taWe"]));
    let row = table
        .lines()
        .find(|l| l.contains(&format!(":{port} ")) && l.contains("LISTEN"))
        .unwrap_or_else(|| panic!("no listener row:\n{table}"));
    let user = row.split_whitespace().nth(6).unwrap();
    assert_eq!(user, ESCAPED_USER, "{row}");
    // Numeric under -n, as before.
    let numeric = text_of("-tane", run_with_etc(&ns, &etc.0, &["-tane"]));
    assert!(numeric.contains(&format!(" {HOSTILE_UID} ")), "{numeric}");
}

#[test]
fn error_lines_escape_what_they_echo() {
    let os = std::ffi::OsStr::new;
    // (arguments, exit status, whether the line still shows the sequence:
    // clap drops escape sequences from what it echoes, so its own part
    // can only be checked for raw characters).
    let cases: &[(&[&std::ffi::OsStr], i32, bool)] = &[
        // Paths are echoed as given.
        (&[os("-N"), os("/nonexistent/\x1b[2J\n")], 1, true),
        (
            &[
                os("--source"),
                os("proc"),
                os("--proc-root"),
                os("/nonexistent/\x1b[2J"),
            ],
            1,
            true,
        ),
        // The port parser quotes the value, clap echoes it too.
        (&[os("--port"), os("\x1b[2J")], 2, true),
        // The expression parser quotes the word.
        (&[os("-an"), os("sport = :\x1b[2J")], 2, true),
        // clap echoes an unknown flag without its control characters.
        (&[os("--\x1b[2Jx\x07\n")], 2, false),
    ];
    for &(args, status, shown) in cases {
        let out = Command::new(TCPSTAT)
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .expect("run tcpstat");
        assert_eq!(out.status.code(), Some(status), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_no_raw_controls(&format!("{args:?}"), &err);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("tcpstat: "), "{err}");
        assert_eq!(err.contains(r"\u{1b}[2J"), shown, "{err}");
    }
}
