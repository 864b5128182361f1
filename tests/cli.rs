//! The binary's contract with its caller: exit statuses, one-line errors,
//! quiet exit on a closed pipe, and JSON that validates against the
//! committed schema on real sockets.

use serde_json::Value;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tcpstat-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("net")).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

#[test]
fn usage_errors_exit_two_with_one_line() {
    for args in [
        &["--bogus"][..],
        &["-a", "-l"],
        &["--source", "ebpf"],
        &["-x"],
    ] {
        let out = tcpstat(args);
        assert_eq!(out.status.code(), Some(2), "args {args:?}");
        assert!(out.stdout.is_empty(), "args {args:?} printed to stdout");
        stderr_line(&out);
    }
}

#[test]
fn malformed_proc_file_is_a_runtime_error_naming_file_and_line() {
    let dir = TempDir::new("malformed");
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
    let dir = TempDir::new("pipe");
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

fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/tcpstat.schema.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("schema compiles")
}

#[test]
fn json_validates_against_schema_and_names_owner() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (server, _) = listener.accept().unwrap();
    let validator = schema();
    for source in ["netlink", "proc"] {
        for extra in [&["-p"][..], &[][..]] {
            let out = tcpstat(&[&["-tanoe", "--json", "--source", source][..], extra].concat());
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{source} {extra:?}: schema errors: {errors:?}"
            );
            let mine = |inode: u64| {
                doc.as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["inode"] == inode)
                    .unwrap_or_else(|| panic!("{source}: no row with inode {inode}"))
                    .clone()
            };
            let l = mine(socket_inode(&listener));
            assert_eq!(l["state"], "LISTEN");
            assert_eq!(l["local"]["port"], port);
            let c = mine(socket_inode(&client));
            assert_eq!(c["state"], "ESTABLISHED");
            assert_eq!(c["remote"]["port"], port);
            let s = mine(socket_inode(&server));
            assert_eq!(s["local"]["port"], port);
            if extra.is_empty() {
                assert!(c["processes"].is_null());
            } else {
                let pids: Vec<u64> = c["processes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["pid"].as_u64().unwrap())
                    .collect();
                assert!(
                    pids.contains(&u64::from(std::process::id())),
                    "{source}: owners {pids:?}"
                );
            }
        }
    }
}
