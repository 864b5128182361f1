//! The binary's contract with its caller: exit statuses, one-line errors,
//! quiet exit on a closed pipe, and JSON that validates against the
//! committed schema on real sockets.

mod support;

use serde_json::Value;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::netns::Netns;
use support::tempdir::TempDir;
use support::{require, Need};

fn tcpstat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(args)
        .output()
        .expect("run tcpstat")
}

fn stderr_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        err.lines().count(),
        1,
        "expected one stderr line, got {err:?}"
    );
    assert!(
        err.starts_with("tcpstat: "),
        "stderr must start with 'tcpstat: ': {err:?}"
    );
    err
}

/// The fixture /proc with a few sockets of every kind.
const LOOPBACK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc/loopback");

const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// A /proc/net/tcp row for 127.0.0.1:lport → 127.0.0.1:rport, ESTABLISHED.
fn established_row(i: usize, lport: u16, rport: u16) -> String {
    format!(
        "{i:4}: 0100007F:{lport:04X} 0100007F:{rport:04X} 01 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 20 4 30 10 -1\n",
        inode = 100_000 + i
    )
}

#[test]
fn help_and_version_exit_zero() {
    let help = tcpstat(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--json"));
    let version = tcpstat(&["-V"]);
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("tcpstat "));
}

/// Habits netstat and ss users type: `-plant` (netstat lets -a win over
/// -l), clap's "did you mean" tips kept on the one error line, and `why`
/// taking a service name as every port flag does.
#[test]
fn netstat_habits_are_accepted_and_typos_get_a_tip() {
    let plant = tcpstat(&["-plant", "--source", "proc", "--proc-root", LOOPBACK]);
    let pant = tcpstat(&["-pant", "--source", "proc", "--proc-root", LOOPBACK]);
    assert_eq!(plant.status.code(), Some(0), "{plant:?}");
    assert_eq!(plant.stdout, pant.stdout);
    let head = String::from_utf8_lossy(&plant.stdout);
    assert!(head.starts_with("Active Internet connections (servers and established)\n"));

    let typo = stderr_line(&tcpstat(&["--prot", "80"]));
    assert!(
        typo.contains("a similar argument exists: '--port'"),
        "{typo}"
    );
    let zero = stderr_line(&tcpstat(&["why", "0"]));
    assert!(zero.contains("port 0"), "{zero}");
    let unknown = stderr_line(&tcpstat(&["why", "no-such-service"]));
    assert!(unknown.contains("no-such-service"), "{unknown}");

    if std::fs::read_to_string("/etc/services").is_ok_and(|s| s.contains("\nhttp\t")) {
        let by_name = tcpstat(&[
            "why",
            "http",
            "--json",
            "--source",
            "proc",
            "--proc-root",
            LOOPBACK,
        ]);
        let by_number = tcpstat(&[
            "why",
            "80",
            "--json",
            "--source",
            "proc",
            "--proc-root",
            LOOPBACK,
        ]);
        assert_eq!(by_name.status.code(), by_number.status.code());
        let port = |o: &std::process::Output| -> serde_json::Value {
            serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["port"].clone()
        };
        assert_eq!(port(&by_name), 80);
        assert_eq!(port(&by_number), 80);
    } else {
        eprintln!("skipped: why http: /etc/services has no http line (install netbase)");
    }
}

#[test]
fn usage_errors_exit_two_with_one_line() {
    for args in [
        &["--bogus"][..],
        &["--source", "ebpf"],
        &["-x", "--sport", "22"],
        &["why"],
        &["--port", "80", "why", "8080"],
        &["-4", "why", "8080"],
        &["-c", "-1"],
        &["--count", "0", "-c"],
    ] {
        let out = tcpstat(args);
        assert_eq!(out.status.code(), Some(2), "args {args:?}");
        assert!(out.stdout.is_empty(), "args {args:?} printed to stdout");
        stderr_line(&out);
    }
    // A message clap spreads over lines keeps what it is about.
    let err = stderr_line(&tcpstat(&["why"]));
    assert!(err.contains("<PORT>"), "{err}");
}

#[test]
fn malformed_proc_file_is_a_runtime_error_naming_file_and_line() {
    let dir = TempDir::new("cli", "malformed");
    dir.write(
        "net/tcp",
        &format!(
            "{TCP_HEADER}{}   1: garbage here\n",
            established_row(0, 1000, 2000)
        ),
    );
    dir.write("net/tcp6", TCP_HEADER);
    let root = dir.0.to_str().unwrap();
    let out = tcpstat(&["-an", "--source", "proc", "--proc-root", root]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_line(&out);
    assert!(
        err.contains("net/tcp") && err.contains("line 3"),
        "error should name file and line: {err}"
    );
}

#[test]
fn missing_proc_root_is_a_runtime_error() {
    let out = tcpstat(&[
        "-an",
        "--source",
        "proc",
        "--proc-root",
        "/nonexistent/tcpstat",
    ]);
    assert_eq!(out.status.code(), Some(1));
    stderr_line(&out);
}

#[test]
fn closed_pipe_ends_quietly_with_zero() {
    let dir = TempDir::new("cli", "pipe");
    let rows: String = (0..5000)
        .map(|i| established_row(i, 1024 + i as u16, 80))
        .collect();
    dir.write("net/tcp", &format!("{TCP_HEADER}{rows}"));
    dir.write("net/tcp6", TCP_HEADER);
    for format in [&[][..], &["--json"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
            .args([
                "-an",
                "--source",
                "proc",
                "--proc-root",
                dir.0.to_str().unwrap(),
            ])
            .args(format)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one chunk, then close our end like `| head -1` does.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 64];
        let n = stdout.read(&mut first).unwrap();
        assert!(n > 0);
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "format {format:?}");
        assert!(
            out.stderr.is_empty(),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn socket_inode(fd: &impl std::os::fd::AsRawFd) -> u64 {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    std::fs::metadata(Path::new(&path)).unwrap().ino()
}

/// A listener and a connected pair, made inside `ns`, owned by this process.
struct Trio {
    listener: TcpListener,
    client: TcpStream,
    server: TcpStream,
    port: u16,
}

impl Trio {
    fn new(ns: &Netns) -> Trio {
        ns.enter(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (server, _) = listener.accept().unwrap();
            Trio {
                listener,
                client,
                server,
                port,
            }
        })
    }
}

fn run_json(ns: &Netns, args: &[&str]) -> Value {
    // Its owners are compared exactly: no other test's child may hold
    // this test's sockets meanwhile.
    let out = ns.exec_alone(env!("CARGO_BIN_EXE_tcpstat"), args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn row_with_inode(doc: &Value, inode: u64) -> &Value {
    doc.as_array()
        .unwrap()
        .iter()
        .find(|s| s["inode"] == inode)
        .unwrap_or_else(|| panic!("no row with inode {inode} in {doc}"))
}

#[test]
fn json_validates_against_schema_and_names_owner() {
    require!(Need::Netns);
    let ns = Netns::create("cli", "json");
    let trio = Trio::new(&ns);
    let validator = support::schema::validator(None);
    for source in ["netlink", "proc"] {
        for extra in [&["-p"][..], &[][..]] {
            let doc = run_json(
                &ns,
                &[&["-tanoe", "--json", "--source", source][..], extra].concat(),
            );
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{source} {extra:?}: schema errors: {errors:?}"
            );
            assert_eq!(doc.as_array().unwrap().len(), 3, "{source}: {doc}");
            let l = row_with_inode(&doc, socket_inode(&trio.listener));
            assert_eq!(l["state"], "LISTEN");
            assert_eq!(l["local"]["port"], trio.port);
            let c = row_with_inode(&doc, socket_inode(&trio.client));
            assert_eq!(c["state"], "ESTABLISHED");
            assert_eq!(c["remote"]["port"], trio.port);
            let s = row_with_inode(&doc, socket_inode(&trio.server));
            assert_eq!(s["local"]["port"], trio.port);
            if extra.is_empty() {
                assert!(c["processes"].is_null());
            } else {
                let pids: Vec<u64> = c["processes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["pid"].as_u64().unwrap())
                    .collect();
                assert_eq!(pids, [u64::from(std::process::id())], "{source}");
            }
        }
    }
}

#[test]
fn netns_flag_equals_running_inside_the_namespace() {
    require!(Need::Netns);
    let ns = Netns::create("cli", "flag");
    let trio = Trio::new(&ns);
    let inside = ns.stdout(env!("CARGO_BIN_EXE_tcpstat"), &["-tanpe"]);
    for source in ["netlink", "proc"] {
        let out = tcpstat(&["-N", ns.name(), "-tanpe", "--source", source]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap(), inside, "{source}");
    }
    // The listing really is the namespace's: our three sockets, owned by us.
    assert_eq!(inside.lines().count(), 2 + 3, "{inside}");
    let owner = format!("{}/", std::process::id());
    assert!(
        inside.lines().skip(2).all(|l| l.contains(&owner)),
        "{inside}"
    );
    let by_path = tcpstat(&["-N", &format!("/var/run/netns/{}", ns.name()), "-tanpe"]);
    assert_eq!(String::from_utf8(by_path.stdout).unwrap(), inside);
    drop(trio);
}

#[test]
fn netns_that_does_not_exist_is_a_usage_error() {
    // Neither an ip netns name nor a container, service or inode.
    let out = tcpstat(&["-N", "tcpstat-no-such-namespace", "-an"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_line(&out);
    assert!(
        err.starts_with("tcpstat: -N tcpstat-no-such-namespace: no network namespace"),
        "{err}"
    );
    // A path is opened as given: missing, it is a runtime error.
    let out = tcpstat(&["-N", "/var/run/netns/tcpstat-no-such-namespace", "-an"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_line(&out);
    assert!(err.contains("tcpstat-no-such-namespace"), "{err}");
}

#[test]
fn closed_stderr_is_no_panic() {
    require!(Need::Netns);
    let ns = Netns::create("cli", "stderr");
    // -v writes notes to stderr; a usage error writes its message there.
    for (args, status) in [(&["-anv"][..], 0), (&["--bogus"][..], 2)] {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_tcpstat")])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        assert_eq!(child.wait().unwrap().code(), Some(status), "{args:?}");
    }
}
