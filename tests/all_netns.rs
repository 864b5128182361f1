//! `-N all` on real namespaces: named by `ip netns`, held only by a bind
//! mount, and held by processes in runtime-style cgroups (a Docker scope, a
//! systemd service) or in none. Each namespace's rows must be exactly what
//! `ss` lists inside it, and each must carry the label its kind gets.
//! Other namespaces on the machine are listed too; only ours are checked.
//! Where the Docker Engine runs, named containers of an image made here
//! must carry the names the engine gives them.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use support::netns::Netns;
use support::oracle::{parse_ss, parse_tcpstat_json, Key, View};
use support::schema::{assert_valid, validator};
use support::{require, Need};

const ID: &str = "5e0f1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100";

/// The cgroup v2 hierarchy's mount point, from this process's mountinfo.
fn cgroup2_root() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let dash = fields.iter().position(|f| *f == "-")?;
        (fields.get(dash + 1) == Some(&"cgroup2")).then(|| PathBuf::from(fields[4]))
    })
}

/// A process in a network namespace of its own, listening on `port` of its
/// loopback, moved into `cgroup` when given; killed (and its cgroup
/// removed) on drop.
struct Holder {
    child: Child,
    cgroup: Option<PathBuf>,
}

impl Holder {
    fn start(port: u16, cgroup: Option<PathBuf>) -> Holder {
        let script = format!(
            "import socket, sys, time\n\
             s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('127.0.0.1', {port})); s.listen(8)\n\
             c = socket.create_connection(('127.0.0.1', {port})); a = s.accept()\n\
             print('ready', flush=True); time.sleep(900)\n"
        );
        Holder::run(&script, cgroup)
    }

    /// A process running the Python `script` (which prints `ready` when
    /// its sockets are made) in a namespace of its own.
    fn run(script: &str, cgroup: Option<PathBuf>) -> Holder {
        let mut child = Command::new("unshare")
            .args([
                "--net",
                "sh",
                "-c",
                "ip link set lo up && exec python3 -c \"$0\"",
            ])
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready");
        if let Some(dir) = &cgroup {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("cgroup.procs"), child.id().to_string()).unwrap();
        }
        Holder { child, cgroup }
    }

    fn ns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.child.id()))
    }
}

/// A directory removed (when empty) on drop: the parent of the holders'
/// cgroups.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.cgroup {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A namespace held only by a bind mount (no process, no `ip netns` name),
/// with a listener and a connected pair made inside it by this process.
struct Mounted {
    dir: PathBuf,
    _sockets: (TcpListener, TcpStream, TcpStream),
}

impl Mounted {
    fn create(tag: &str) -> Mounted {
        let dir = std::env::temp_dir().join(format!("tcpstat-allns-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::File::create(dir.join("ns")).unwrap();
        let ok = Command::new("unshare")
            .arg(format!("--net={}", dir.join("ns").display()))
            .args(["ip", "link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(ok.success());
        let path = dir.join("ns");
        let sockets = std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).unwrap();
                tcpstat::sys::ns::enter_net(std::os::fd::AsFd::as_fd(&file)).unwrap();
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let server = listener.accept().unwrap().0;
                (listener, client, server)
            })
            .join()
            .unwrap()
        });
        Mounted {
            dir,
            _sockets: sockets,
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.join("ns")).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .ino()
}

/// What `ss -tanoeH` lists inside the namespace at `path`.
fn ss_keys(path: &Path) -> BTreeSet<Key> {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", path.display()))
        .args(["ss", "-tanoeH"])
        .output()
        .unwrap();
    assert!(out.status.success());
    parse_ss(&String::from_utf8(out.stdout).unwrap())
        .iter()
        .map(|r| r.key())
        .collect()
}

#[test]
fn every_namespace_is_listed_as_ss_lists_it_and_labelled_by_its_kind() {
    require!(
        Need::Netns,
        Need::Tool("ss"),
        Need::Tool("unshare"),
        Need::Tool("nsenter")
    );
    require!(Need::Tool("python3"));
    // Named by ip netns, with sockets this process made inside.
    let named: Vec<(Netns, TcpListener, TcpStream, TcpStream)> = (0..3)
        .map(|i| {
            let ns = Netns::create("allns", &format!("n{i}"));
            let (listener, client, server) = ns.enter(|| {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let server = listener.accept().unwrap().0;
                (listener, client, server)
            });
            (ns, listener, client, server)
        })
        .collect();
    let mounted = Mounted::create("m");
    // Held by processes: in a Docker-style scope, a service, and no cgroup.
    let cgroups =
        cgroup2_root().map(|root| root.join(format!("tcpstat-allns-{}", std::process::id())));
    // Declared before the holders, so removed after their cgroups are.
    let _cgroups_dir = cgroups.clone().map(RemoveDir);
    if cgroups.is_none() {
        eprintln!("no cgroup2 hierarchy mounted: the container and service cases are skipped");
    }
    let docker = Holder::start(
        7101,
        cgroups
            .as_ref()
            .map(|r| r.join(format!("docker-{ID}.scope"))),
    );
    let service = Holder::start(
        7102,
        cgroups.as_ref().map(|r| r.join("tcpstat-demo.service")),
    );
    let bare = Holder::start(7103, None);

    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-N", "all", "-tan", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let schema = validator(Some("socket"));
    objects.iter().for_each(|o| assert_valid(&schema, o));
    let rows = parse_tcpstat_json(&stdout, View::Netlink);
    let mut listed: HashMap<u64, (BTreeSet<Key>, Value)> = HashMap::new();
    for (object, row) in objects.iter().zip(&rows) {
        let netns = &object["netns"];
        let entry = listed
            .entry(netns["inode"].as_u64().unwrap())
            .or_insert_with(|| (BTreeSet::new(), netns.clone()));
        entry.0.insert(row.key());
    }

    let mut expected: Vec<(PathBuf, String)> = named
        .iter()
        .map(|(ns, ..)| {
            (
                PathBuf::from(format!("/run/netns/{}", ns.name())),
                ns.name().to_string(),
            )
        })
        .collect();
    let mount = mounted.dir.join("ns");
    expected.push((mount.clone(), format!("net:[{}]", inode(&mount))));
    let bare_name = format!("{}:python3", bare.child.id());
    expected.push((bare.ns_path(), bare_name));
    if cgroups.is_some() {
        expected.push((docker.ns_path(), ID[..12].to_string()));
        expected.push((service.ns_path(), "tcpstat-demo.service".to_string()));
    }
    for (path, name) in &expected {
        let (keys, netns) = listed
            .get(&inode(path))
            .unwrap_or_else(|| panic!("{} not listed:\n{stdout}", path.display()));
        assert_eq!(keys, &ss_keys(path), "{}", path.display());
        assert_eq!(keys.len(), 3, "a listener and a connected pair");
        assert_eq!(netns["name"], name.as_str(), "{netns}");
    }
    if cgroups.is_some() {
        let netns = &listed[&inode(&docker.ns_path())].1;
        assert_eq!(netns["container"]["runtime"], "docker", "{netns}");
        assert_eq!(netns["container"]["id"], ID, "{netns}");
        let netns = &listed[&inode(&service.ns_path())].1;
        assert_eq!(netns["unit"], "tcpstat-demo.service", "{netns}");
    }
    // The table: a NETNS column, our namespaces' rows under their names.
    let table = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-N", "all", "-tan"])
        .output()
        .unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    let header = text.lines().nth(1).unwrap();
    assert!(header.starts_with("NETNS        Proto Recv-Q"), "{header}");
    for (ns, ..) in &named {
        let cut: String = ns.name().chars().take(12).collect();
        let ours = text
            .lines()
            .filter(|l| l.starts_with(&format!("{cut} tcp")))
            .count();
        assert!(ours >= 3, "{cut}:\n{text}");
    }
}

#[test]
fn watch_mode_reads_every_namespace_on_each_pass() {
    require!(Need::Netns, Need::Tool("ss"), Need::Tool("nsenter"));
    let made: Vec<(Netns, TcpListener)> = (0..2)
        .map(|i| {
            let ns = Netns::create("allnsc", &format!("c{i}"));
            let listener = ns.enter(|| TcpListener::bind("127.0.0.1:0").unwrap());
            (ns, listener)
        })
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-N", "all", "-tan", "-c", "0.2", "--count", "2", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let passes: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(passes.len(), 2, "{text}");
    let schema = validator(Some("pass"));
    for pass in &passes {
        assert_valid(&schema, pass);
        let sockets = pass["sockets"].to_string();
        let rows = parse_tcpstat_json(&sockets, View::Netlink);
        for (ns, _) in &made {
            let path = PathBuf::from(format!("/run/netns/{}", ns.name()));
            let netns = inode(&path);
            let keys: BTreeSet<Key> = pass["sockets"]
                .as_array()
                .unwrap()
                .iter()
                .zip(&rows)
                .filter(|(o, _)| o["netns"]["inode"] == netns)
                .map(|(_, r)| r.key())
                .collect();
            assert_eq!(keys, ss_keys(&path), "{}", ns.name());
            assert_eq!(keys.len(), 1, "its listener");
        }
    }
}

#[test]
fn why_says_which_containers_hold_the_port_and_where_it_is_free() {
    require!(
        Need::Netns,
        Need::Tool("ss"),
        Need::Tool("unshare"),
        Need::Tool("nsenter")
    );
    require!(Need::Tool("python3"));
    let Some(root) = cgroup2_root() else {
        eprintln!("skipped: no cgroup2 hierarchy mounted to put a container's process in");
        return;
    };
    let id = ID.replace("5e0f", "5e2f");
    let parent = root.join(format!("tcpstat-allns-why-{}", std::process::id()));
    let _parent = RemoveDir(parent.clone());
    let port = 7411;
    let holder = Holder::start(port, Some(parent.join(format!("docker-{id}.scope"))));
    let free = Netns::create("allnswhy", "free");
    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-N", "all", "why", &port.to_string(), "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "held somewhere: {stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&validator(Some("verdict_each")), &v);
    assert!(v["held_in"].as_u64().unwrap() >= 1, "{v}");
    let verdict_in = |path: &Path| {
        let netns = inode(path);
        v["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["netns"]["inode"] == netns)
            .unwrap_or_else(|| panic!("{} not judged", path.display()))
            .clone()
    };
    let held = verdict_in(&holder.ns_path());
    let short = &id[..12];
    assert_eq!(held["within"], format!("container {short}"));
    let verdict = &held["verdict"];
    assert_eq!(verdict["bindable"], false, "{verdict}");
    assert_eq!(
        verdict["kernel"]["asked"], true,
        "a bind() inside it: {verdict}"
    );
    assert_eq!(verdict["kernel"]["bindable"], false, "{verdict}");
    assert_eq!(verdict["held_by"]["listeners"], 1, "{verdict}");
    let listener = &verdict["holders"][0];
    assert_eq!(listener["state"], "LISTEN");
    assert_eq!(listener["processes"][0]["pid"], holder.child.id());
    let there = verdict_in(Path::new(&format!("/run/netns/{}", free.name())));
    assert_eq!(there["verdict"]["bindable"], true, "{there}");
    assert_eq!(there["verdict"]["kernel"]["bindable"], true, "{there}");

    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-N", "all", "why", &port.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let held_line = text.lines().nth(1).unwrap();
    assert!(held_line.starts_with("  in use in "), "{text}");
    assert!(held_line.contains(&format!("container {short}")), "{text}");
    let free_line = text.lines().nth(2).unwrap();
    assert!(
        free_line.contains(&format!("namespace {}", free.name())),
        "{text}"
    );
    let netns = inode(&holder.ns_path());
    assert!(
        text.contains(&format!("\nIn container {short} (net:[{netns}]):\n")),
        "{text}"
    );
}

/// A process holding `leaked` CLOSE_WAIT sockets (their peers closed,
/// it never does) on `port`, in a namespace of its own.
fn leaker(port: u16, leaked: usize, cgroup: Option<PathBuf>) -> Holder {
    let script = format!(
        "import socket, time\n\
         s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(64)\n\
         cs = [socket.create_connection(('127.0.0.1', {port})) for _ in range({leaked})]\n\
         held = [s.accept()[0] for _ in cs]\n\
         [c.close() for c in cs]\n\
         time.sleep(0.3); print('ready', flush=True); time.sleep(900)\n"
    );
    Holder::run(&script, cgroup)
}

#[test]
fn summary_is_per_namespace_and_names_the_container_behind_a_finding() {
    require!(
        Need::Netns,
        Need::Tool("ss"),
        Need::Tool("unshare"),
        Need::Tool("nsenter")
    );
    require!(Need::Tool("python3"));
    let Some(root) = cgroup2_root() else {
        eprintln!("skipped: no cgroup2 hierarchy mounted to put a container's process in");
        return;
    };
    let id = ID.replace("5e0f", "5e1f");
    let parent = root.join(format!("tcpstat-allns-s-{}", std::process::id()));
    let _parent = RemoveDir(parent.clone());
    let leak = leaker(7111, 12, Some(parent.join(format!("docker-{id}.scope"))));
    let close_wait = |path: &Path| {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", path.display()))
            .args(["ss", "-tanH", "state", "close-wait"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().lines().count()
    };
    assert_eq!(close_wait(&leak.ns_path()), 12, "ss sees the leak");

    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-N", "all", "-s", "-p"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let short = &id[..12];
    let pid = leak.child.id();
    let netns = inode(&leak.ns_path());
    assert!(
        text.contains(&format!("In container {short} (net:[{netns}]):")),
        "{text}"
    );
    let finding = format!(
        "  medium  in container {short}: pid {pid} (python3) holds 12 sockets in CLOSE_WAIT"
    );
    let findings = text
        .split("Findings in every namespace")
        .nth(1)
        .unwrap_or_default();
    assert!(findings.contains(&finding), "{text}");

    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-N", "all", "-s", "-p", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&validator(Some("summary_each")), &v);
    let ours = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ns| ns["netns"]["inode"] == netns)
        .expect("our namespace summarised");
    assert_eq!(ours["netns"]["container"]["id"], id.as_str());
    assert_eq!(ours["within"], format!("container {short}"));
    let summary = &ours["summary"];
    let cw = summary["states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["state"] == "CLOSE_WAIT")
        .unwrap();
    assert_eq!(cw["tcp"], close_wait(&leak.ns_path()));
    assert_eq!(summary["total"], ss_keys(&leak.ns_path()).len());
    let leak_finding = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["netns"] == netns && f["kind"] == "close_wait")
        .expect("the leak is found");
    assert!(
        leak_finding["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "in container {short}: pid {pid} (python3) holds 12"
            )),
        "{leak_finding}"
    );
}

#[test]
fn without_privilege_all_is_one_error_not_a_partial_list() {
    require!(
        Need::Root("it runs tcpstat as another user"),
        Need::Tool("setpriv")
    );
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-N", "all", "-tan"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing listed");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("tcpstat: cannot enter network namespace")
            && stderr.contains("Operation not permitted"),
        "{stderr}"
    );
}

/// Named containers of a tiny image made here (no registry: the static
/// busybox imported as a tarball), removed with their image on drop.
struct Containers {
    image: String,
    names: Vec<String>,
    /// (name, full id, pid of its first process), each listening.
    started: Vec<(String, String, String)>,
}

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = docker(&["rm", "-f", name]);
        }
        let _ = docker(&["rmi", "-f", &self.image]);
    }
}

fn docker(args: &[&str]) -> Option<String> {
    let out = Command::new("docker").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Two named containers running busybox httpd on 8080 and 8081, once
/// their listeners are up; `None`, said on stderr, where no engine answers
/// or busybox is missing.
fn start_containers(tag: &str) -> Option<Containers> {
    // The engine is the machine's, not something the project can install:
    // without one answering, the caller says so and goes on without.
    if docker(&["version", "--format", "{{.Server.Version}}"]).is_none() {
        eprintln!("skipped: no Docker Engine answers on this machine (no containers)");
        return None;
    }
    let Some(busybox) = which("busybox") else {
        eprintln!("skipped: busybox is not installed (no containers)");
        return None;
    };
    let pid = std::process::id();
    let mut made = Containers {
        image: format!("tcpstat-test-busybox:{pid}-{tag}"),
        names: Vec::new(),
        started: Vec::new(),
    };
    let root = std::env::temp_dir().join(format!("tcpstat-image-{pid}-{tag}"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(busybox, root.join("busybox")).unwrap();
    let import = format!(
        "tar -C {} -c . | docker import - {}",
        root.display(),
        made.image
    );
    let imported = Command::new("sh").args(["-c", &import]).status().unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert!(imported.success(), "docker import");
    for (i, port) in ["8080", "8081"].iter().enumerate() {
        let name = format!("tcpstat-allns-{pid}-{tag}-{i}");
        made.names.push(name.clone());
        let id = docker(&[
            "run",
            "-d",
            "--name",
            &name,
            &made.image,
            "/busybox",
            "httpd",
            "-f",
            "-p",
            port,
        ])
        .expect("docker run");
        let state_pid = docker(&["inspect", "-f", "{{.State.Pid}}", &id]).unwrap();
        let path = PathBuf::from(format!("/proc/{state_pid}/ns/net"));
        let listening = (0..50).any(|_| {
            let up = !ss_keys(&path).is_empty();
            if !up {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            up
        });
        assert!(listening, "{name}'s httpd never listened");
        made.started.push((name, id, state_pid));
    }
    Some(made)
}

#[test]
fn docker_containers_are_named_by_the_engine() {
    require!(Need::Root("it starts containers"), Need::Tool("busybox"));
    require!(Need::Tool("nsenter"), Need::Tool("ss"));
    let Some(made) = start_containers("named") else {
        return;
    };
    for ((name, id, state_pid), port) in made.started.iter().zip([8080, 8081]) {
        let netns =
            listed_netns(&port).unwrap_or_else(|| panic!("{name}'s listener on {port} not listed"));
        assert_eq!(netns["name"], name.as_str(), "{netns}");
        assert_eq!(netns["container"]["runtime"], "docker", "{netns}");
        assert_eq!(netns["container"]["id"], id.as_str(), "{netns}");
        assert_eq!(netns["container"]["name"], name.as_str(), "{netns}");
        let path = PathBuf::from(format!("/proc/{state_pid}/ns/net"));
        assert_eq!(netns["inode"], inode(&path), "{netns}");
        // -N takes the container's name, and a prefix of its id.
        for word in [name.as_str(), &id[..8]] {
            let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
                .args(["-N", word, "-tan", "--json"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let rows = parse_tcpstat_json(&String::from_utf8(out.stdout).unwrap(), View::Netlink);
            let keys: BTreeSet<Key> = rows.iter().map(|r| r.key()).collect();
            assert_eq!(keys, ss_keys(&path), "-N {word}");
        }
    }
    // A near miss names the container it was close to.
    let (name, ..) = &made.started[0];
    let typo = format!("{}x", name);
    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-N", &typo, "-tan"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("close matches: {name}")),
        "{stderr}"
    );
}

/// The `netns` object of the listener on `port` that `-N all` lists, if
/// any (only the test's containers listen on 8080 and 8081 and run httpd).
fn listed_netns(port: &u16) -> Option<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-N", "all", "-tlnp", "--json", "--program", "busybox"])
        .output()
        .unwrap();
    let objects: Vec<Value> = serde_json::from_slice(&out.stdout).ok()?;
    objects
        .into_iter()
        .find(|o| o["local"]["port"] == *port)
        .map(|o| o["netns"].clone())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// A socket as `ss -tanpH` shows it: endpoints, state, owning pids.
type SsRow = (Key, String, Vec<u32>);

/// A namespace made for the test: a path to it, its label, and its
/// container's runtime and id and its pod's uid, where it has them.
type Expected = (
    PathBuf,
    String,
    Option<&'static str>,
    Option<String>,
    Option<String>,
);

/// A container id (64 hex digits) made from `n`.
fn made_id(n: usize) -> String {
    format!("{:016x}", 0x7c5e_0000_0000_0000_u64 + n as u64).repeat(4)
}

/// What `ss -tanpH` lists inside the namespace at `path`: each socket's
/// endpoints and state, with the pids that hold it.
fn ss_rows(path: &Path) -> BTreeSet<SsRow> {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", path.display()))
        .args(["ss", "-tanpH"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let row = &parse_ss(line)[0];
            let mut pids: Vec<u32> = line
                .split("pid=")
                .skip(1)
                .map(|p| p.split(',').next().unwrap().parse().unwrap())
                .collect();
            pids.sort_unstable();
            pids.dedup();
            (row.key(), row.state.clone(), pids)
        })
        .collect()
}

/// cgroup directories made for a test, removed deepest first on drop.
struct Cgroups(Vec<PathBuf>);

impl Drop for Cgroups {
    fn drop(&mut self) {
        let mut dirs = self.0.clone();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The done-when test of #17: 50 namespaces of every kind (ip netns
/// names, mounts alone, processes in each runtime's cgroup, processes in
/// none), and the engine's containers where Docker runs; `-N all -tanp
/// --json` must list in each exactly what `ss -tanpH` lists inside it, and
/// label each as its kind says.
#[test]
fn fifty_namespaces_each_list_what_ss_lists_inside_it() {
    require!(
        Need::Netns,
        Need::Tool("ss"),
        Need::Tool("unshare"),
        Need::Tool("nsenter")
    );
    require!(Need::Tool("python3"));
    let pid = std::process::id();
    // (path, name, runtime, id, pod uid) for each namespace made.
    let mut expected: Vec<Expected> = Vec::new();
    let named: Vec<(Netns, TcpListener, TcpStream, TcpStream)> = (0..20)
        .map(|i| {
            let ns = Netns::create("allns50", &format!("n{i}"));
            let sockets = ns.enter(|| {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let server = listener.accept().unwrap().0;
                (listener, client, server)
            });
            (ns, sockets.0, sockets.1, sockets.2)
        })
        .collect();
    for (ns, ..) in &named {
        let path = PathBuf::from(format!("/run/netns/{}", ns.name()));
        expected.push((path, ns.name().to_string(), None, None, None));
    }
    let mounted: Vec<Mounted> = (0..10)
        .map(|i| Mounted::create(&format!("m50-{i}")))
        .collect();
    for m in &mounted {
        let path = m.dir.join("ns");
        let name = format!("net:[{}]", inode(&path));
        expected.push((path, name, None, None, None));
    }
    let root = cgroup2_root();
    let parent = root
        .as_ref()
        .map(|r| r.join(format!("tcpstat-allns50-{pid}")));
    let mut made_dirs = Cgroups(parent.iter().cloned().collect());
    let mut holders = Vec::new();
    if let Some(parent) = &parent {
        let uid = |n: usize| format!("5a0b1c2d-3e4f-4a5b-8c6d-{:012x}", n);
        for n in 0..15 {
            let id = made_id(n);
            let (dir, runtime, pod) = match n % 5 {
                0 => (parent.join(format!("docker-{id}.scope")), "docker", None),
                1 => (
                    parent.join(format!("cri-containerd-{id}.scope")),
                    "containerd",
                    None,
                ),
                2 => (parent.join(format!("crio-{id}.scope")), "cri-o", None),
                3 => (parent.join(format!("libpod-{id}.scope")), "podman", None),
                _ => {
                    let pod = uid(n);
                    let slice = parent.join("kubepods.slice/kubepods-besteffort.slice");
                    let pod_dir = slice.join(format!(
                        "kubepods-besteffort-pod{}.slice",
                        pod.replace('-', "_")
                    ));
                    made_dirs
                        .0
                        .extend([parent.join("kubepods.slice"), slice, pod_dir.clone()]);
                    let dir = pod_dir.join(format!("cri-containerd-{id}.scope"));
                    (dir, "containerd", Some(pod))
                }
            };
            made_dirs.0.push(dir.clone());
            let holder = Holder::start(7200 + n as u16, Some(dir));
            let name = id[..12].to_string();
            expected.push((holder.ns_path(), name, Some(runtime), Some(id), pod));
            holders.push(holder);
        }
    } else {
        eprintln!("no cgroup2 hierarchy mounted: the 15 runtime-cgroup namespaces are skipped");
    }
    for n in 0..5 {
        let holder = Holder::start(7300 + n, None);
        let name = format!("{}:python3", holder.child.id());
        expected.push((holder.ns_path(), name, None, None, None));
        holders.push(holder);
    }
    let containers = start_containers("50");
    if let Some(made) = &containers {
        for (name, id, state_pid) in &made.started {
            let path = PathBuf::from(format!("/proc/{state_pid}/ns/net"));
            expected.push((path, name.clone(), Some("docker"), Some(id.clone()), None));
        }
    }
    assert!(expected.len() >= 50 || root.is_none(), "{}", expected.len());

    let out = Command::new(env!("CARGO_BIN_EXE_tcpstat"))
        .args(["-N", "all", "-tanp", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let schema = validator(Some("socket"));
    let mut listed: HashMap<u64, (BTreeSet<SsRow>, Value)> = HashMap::new();
    let text = String::from_utf8(out.stdout).unwrap();
    let rows = parse_tcpstat_json(&text, View::Netlink);
    for (object, row) in objects.iter().zip(&rows) {
        assert_valid(&schema, object);
        let mut pids: Vec<u32> = object["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pid"].as_u64().unwrap() as u32)
            .collect();
        pids.sort_unstable();
        pids.dedup();
        let netns = &object["netns"];
        let entry = listed
            .entry(netns["inode"].as_u64().unwrap())
            .or_insert_with(|| (BTreeSet::new(), netns.clone()));
        entry.0.insert((row.key(), row.state.clone(), pids));
    }
    for (path, name, runtime, id, pod) in &expected {
        let (rows, netns) = listed
            .get(&inode(path))
            .unwrap_or_else(|| panic!("{} ({name}) not listed", path.display()));
        assert_eq!(rows, &ss_rows(path), "{} ({name})", path.display());
        assert!(!rows.is_empty(), "{name}: sockets were made in each");
        assert_eq!(netns["name"], name.as_str(), "{netns}");
        assert_eq!(netns["container"]["runtime"].as_str(), *runtime, "{netns}");
        assert_eq!(netns["container"]["id"].as_str(), id.as_deref(), "{netns}");
        assert_eq!(netns["pod"]["uid"].as_str(), pod.as_deref(), "{netns}");
    }
    drop(containers);
    drop(holders);
    drop(made_dirs);
}
