//! A name a person recognises for each network namespace, in this order of
//! preference:
//!
//! 1. the container's name, from the container engine (Docker Engine API,
//!    see [`super::docker`]) when it answers in time;
//! 2. the container id from the cgroup of a process in the namespace
//!    (`docker-<id>.scope`, `/docker/<id>`, `cri-containerd-<id>.scope`,
//!    `crio-<id>.scope`, `libpod-<id>.scope`), shortened to 12 characters
//!    as `docker ps` shows it, with the Kubernetes pod when its cgroup
//!    names one (`kubepods…pod<uid>`);
//! 3. the systemd service the process runs in (`nginx.service`);
//! 4. the `ip netns` name;
//! 5. `pid:comm` of its first process.
//!
//! The host's namespace (pid 1's) is `host`. A namespace held only by a
//! mount, with none of these, is named by its inode (`net:[4026532288]`).

use std::path::Path;

use super::all::Found;
use crate::sys::fs::read_small_text;

/// Most bytes read of `/proc/PID/cgroup` and `comm`.
const SMALL: usize = 64 << 10;

/// Each listed namespace's label, by inode.
pub type Labels = std::collections::HashMap<u64, Label>;

/// What a namespace is called, and what that name came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Label {
    /// The name shown (`NETNS` column, JSON `netns.name`).
    pub name: String,
    /// The container whose namespace it is, from a process's cgroup.
    pub container: Option<Container>,
    /// The Kubernetes pod, from a process's cgroup.
    pub pod: Option<Pod>,
    /// The systemd unit of its first process, if a service.
    pub unit: Option<String>,
    /// Its `ip netns` names (what `-N NAME` and `netns NAME` also take).
    pub names: Vec<String>,
}

/// A container found in a cgroup path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// `docker`, `containerd`, `cri-o` or `podman`.
    pub runtime: &'static str,
    /// The full id (64 hex digits).
    pub id: String,
    /// Its name, where the engine told it.
    pub name: Option<String>,
}

/// A Kubernetes pod found in a cgroup path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// The pod's UID.
    pub uid: String,
    /// `namespace/name`, where the runtime reports them.
    pub name: Option<String>,
}

impl Label {
    /// The label of a namespace found by [`super::all::discover`], before
    /// any engine is asked (see [`Label::name_container`]).
    pub fn of(found: &Found, proc_root: &Path) -> Label {
        let cgroup = found
            .pid
            .and_then(|pid| read_small_text(&proc_root.join(format!("{pid}/cgroup")), SMALL).ok());
        let paths: Vec<&str> = cgroup.as_deref().map(cgroup_paths).unwrap_or_default();
        let mut label = Label {
            container: paths.iter().find_map(|p| container_of(p)),
            pod: paths.iter().find_map(|p| pod_of(p)),
            unit: paths.iter().find_map(|p| unit_of(p)),
            names: found.names.clone(),
            ..Label::default()
        };
        label.name = if found.host {
            "host".to_string()
        } else if let Some(c) = &label.container {
            short_id(&c.id).to_string()
        } else if let Some(unit) = &label.unit {
            unit.clone()
        } else if let Some(name) = found.names.first() {
            name.clone()
        } else if let Some(pid) = found.pid {
            let comm = read_small_text(&proc_root.join(format!("{pid}/comm")), SMALL);
            format!("{pid}:{}", comm.unwrap_or_default().trim_end())
        } else {
            format!("net:[{}]", found.inode)
        };
        label
    }

    /// Whether `other`, a label made later for a namespace with the same
    /// inode, is of another namespace: another container, another unit,
    /// or `ip netns` names with none in common. Where the two say too
    /// little (a namespace known by its processes alone, or named since)
    /// it cannot be told apart: the same, then.
    pub fn is_other_than(&self, other: &Label) -> bool {
        let container = |l: &Label| l.container.as_ref().map(|c| c.id.clone());
        if container(self).is_some() || container(other).is_some() {
            return container(self) != container(other);
        }
        if !self.names.is_empty() && !other.names.is_empty() {
            return !self.names.iter().any(|n| other.names.contains(n));
        }
        if self.unit.is_some() || other.unit.is_some() {
            return self.unit != other.unit;
        }
        false
    }

    /// What the namespace is, for a sentence ("… in container
    /// api-7f9c"): `the host`, `container NAME` (with its pod where known),
    /// `service UNIT`, or `namespace NAME`.
    pub fn within(&self) -> String {
        if self.name == "host" && self.container.is_none() && self.unit.is_none() {
            return "the host".to_string();
        }
        match (&self.container, &self.pod, &self.unit) {
            (
                Some(_),
                Some(Pod {
                    name: Some(pod), ..
                }),
                _,
            ) => {
                format!("container {} of pod {pod}", self.name)
            }
            (Some(_), _, _) => format!("container {}", self.name),
            (None, _, Some(unit)) => format!("service {unit}"),
            (None, _, None) => format!("namespace {}", self.name),
        }
    }

    /// Takes the container's name, and its pod, from the engine: the name
    /// is what the label shows from now on.
    pub fn name_container(&mut self, name: &str, pod: Option<String>) {
        if let Some(c) = &mut self.container {
            c.name = Some(name.to_string());
            self.name = name.to_string();
        }
        if let (Some(p), Some(name)) = (&mut self.pod, pod) {
            p.name = Some(name);
        }
    }
}

/// Names the containers among `labels` that the engine knows (Docker's
/// API; asked only when some namespace is a Docker container's). An engine
/// that is absent, refuses or is slow leaves the short ids: the error is
/// returned for the caller to note.
pub fn ask_engine(labels: &mut Labels) -> std::io::Result<()> {
    let docker = |l: &Label| l.container.as_ref().is_some_and(|c| c.runtime == "docker");
    if !labels.values().any(docker) {
        return Ok(());
    }
    let Some(socket) = super::docker::socket_path() else {
        return Ok(());
    };
    let known = super::docker::containers(&socket)?;
    for label in labels.values_mut() {
        let id = label.container.as_ref().map(|c| c.id.clone());
        if let Some(named) = id.and_then(|id| known.get(&id)) {
            label.name_container(&named.name, named.pod.clone());
        }
    }
    Ok(())
}

/// Every namespace on the host ([`super::all::discover`]) and its label,
/// the engine asked for container names when some namespace is a
/// container's; if it cannot answer, ids stay (said under `verbose`).
pub fn survey(proc_root: &Path, verbose: bool) -> (Vec<Found>, Labels) {
    let found = super::all::discover(proc_root);
    let mut labels: Labels = found
        .iter()
        .map(|f| (f.inode, Label::of(f, proc_root)))
        .collect();
    if let Err(e) = ask_engine(&mut labels) {
        if verbose {
            crate::error::note(format_args!(
                "container engine: {e}; containers are named by their short ids"
            ));
        }
    }
    (found, labels)
}

/// The cgroup paths in `/proc/PID/cgroup`, the unified hierarchy's (the
/// `0::` line) first: hosts with cgroup v1 controllers (Docker's cgroupfs
/// driver there) name containers in those.
fn cgroup_paths(text: &str) -> Vec<&str> {
    let mut paths: Vec<(bool, &str)> = text
        .lines()
        .filter_map(|l| {
            let (id, rest) = l.split_once(':')?;
            Some((id != "0", rest.split_once(':')?.1))
        })
        .collect();
    paths.sort_by_key(|(v1, _)| *v1);
    paths.into_iter().map(|(_, p)| p).collect()
}

/// Docker shows the first 12 characters of an id.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The container a cgroup path names, by the runtimes' naming.
fn container_of(path: &str) -> Option<Container> {
    const SCOPES: [(&str, &str); 4] = [
        ("docker-", "docker"),
        ("cri-containerd-", "containerd"),
        ("crio-", "cri-o"),
        ("libpod-", "podman"),
    ];
    let components: Vec<&str> = path.split('/').collect();
    for (i, part) in components.iter().enumerate().rev() {
        let scoped = part.strip_suffix(".scope");
        for (prefix, runtime) in SCOPES {
            if let Some(id) = scoped
                .and_then(|s| s.strip_prefix(prefix))
                .filter(|id| is_id(id))
            {
                return Some(Container::new(runtime, id));
            }
        }
        // cgroupfs drivers: /docker/<id>, /libpod_parent/libpod-<id>,
        // /kubepods/<qos>/pod<uid>/<id>.
        let parent = i.checked_sub(1).map(|p| components[p]);
        if is_id(part) {
            match parent {
                Some("docker") => return Some(Container::new("docker", part)),
                Some(p) if p.starts_with("pod") => return Some(Container::new("containerd", part)),
                _ => {}
            }
        }
    }
    None
}

impl Container {
    fn new(runtime: &'static str, id: &str) -> Container {
        Container {
            runtime,
            id: id.to_string(),
            name: None,
        }
    }
}

/// A container id: 64 lowercase hex digits.
fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The pod UID in a kubepods cgroup path: `…kubepods-besteffort-pod<uid
/// with _ for ->.slice` (systemd driver) or `/kubepods/…/pod<uid>`.
fn pod_of(path: &str) -> Option<Pod> {
    if !path.contains("kubepods") {
        return None;
    }
    path.split('/').find_map(|part| {
        let part = part.strip_suffix(".slice").unwrap_or(part);
        let uid = part
            .rsplit_once("-pod")
            .map(|(_, u)| u)
            .or_else(|| part.strip_prefix("pod"))?;
        let uid = uid.replace('_', "-");
        let ok = uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        ok.then_some(Pod { uid, name: None })
    })
}

/// The systemd service a cgroup path is in (its last `.service` part).
fn unit_of(path: &str) -> Option<String> {
    path.rsplit('/')
        .find(|p| p.ends_with(".service") && p.len() > ".service".len())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e2b1a0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f";

    #[test]
    fn containers_are_named_by_each_runtime_s_cgroup() {
        let cases = [
            (format!("/system.slice/docker-{ID}.scope"), "docker"),
            (format!("/docker/{ID}"), "docker"),
            (
                format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_6a7b_8c9d_0e1f2a3b4c5d.slice/cri-containerd-{ID}.scope"),
                "containerd",
            ),
            (format!("/machine.slice/crio-{ID}.scope"), "cri-o"),
            (format!("/machine.slice/libpod-{ID}.scope/container"), "podman"),
            (
                format!("/kubepods/besteffort/pod0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d/{ID}"),
                "containerd",
            ),
        ];
        for (path, runtime) in cases {
            let c = container_of(&path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!((c.runtime, c.id.as_str()), (runtime, ID), "{path}");
        }
        assert_eq!(container_of("/system.slice/docker-12ab.scope"), None);
        assert_eq!(
            container_of("/user.slice/user-0.slice/session-3.scope"),
            None
        );
        assert_eq!(container_of(""), None);
    }

    #[test]
    fn every_hierarchy_s_path_is_read_the_unified_first() {
        let text = format!("4:memory:/docker/{ID}\n0::/system.slice/x.service\n1:cpu:/\n");
        assert_eq!(
            cgroup_paths(&text),
            ["/system.slice/x.service", &format!("/docker/{ID}"), "/"]
        );
        assert_eq!(cgroup_paths("garbage\n::\n"), [""]);
    }

    #[test]
    fn pods_and_units_come_from_the_path() {
        let uid = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d";
        let systemd = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_4e5f_6a7b_8c9d_0e1f2a3b4c5d.slice/x.scope";
        assert_eq!(pod_of(systemd).unwrap().uid, uid);
        let cgroupfs = format!("/kubepods/burstable/pod{uid}/{ID}");
        assert_eq!(pod_of(&cgroupfs).unwrap().uid, uid);
        assert_eq!(pod_of("/system.slice/nginx.service"), None);
        assert_eq!(
            unit_of("/system.slice/nginx.service"),
            Some("nginx.service".into())
        );
        assert_eq!(unit_of("/system.slice/.service"), None);
        assert_eq!(unit_of("/user.slice/user-0.slice/session-3.scope"), None);
    }

    #[test]
    fn the_label_follows_the_order_of_preference() {
        let found = |pid, names: &[&str], host| Found {
            inode: 4026532288,
            path: "/x".into(),
            pid,
            names: names.iter().map(|s| s.to_string()).collect(),
            host,
        };
        let proc = Path::new("/proc");
        let own = std::process::id();
        assert_eq!(Label::of(&found(Some(own), &[], true), proc).name, "host");
        assert_eq!(Label::of(&found(None, &["blue"], false), proc).name, "blue");
        assert_eq!(
            Label::of(&found(None, &[], false), proc).name,
            "net:[4026532288]"
        );
        // This test's own process: a container's id or its unit where it
        // runs in one, else the ip netns name, else its pid and comm.
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        let by_pid = format!("{own}:{}", comm.trim_end());
        for (names, fallback) in [(&["blue"][..], "blue"), (&[], by_pid.as_str())] {
            let label = Label::of(&found(Some(own), names, false), proc);
            let expected = match (&label.container, &label.unit) {
                (Some(c), _) => short_id(&c.id).to_string(),
                (None, Some(unit)) => unit.clone(),
                (None, None) => fallback.to_string(),
            };
            assert_eq!(label.name, expected, "{label:?}");
        }
    }

    #[test]
    fn within_says_what_the_namespace_is() {
        let mut label = Label {
            name: "api-7f9c".into(),
            container: Some(Container::new("docker", ID)),
            ..Label::default()
        };
        assert_eq!(label.within(), "container api-7f9c");
        label.pod = Some(Pod {
            uid: "u".into(),
            name: Some("shop/api".into()),
        });
        assert_eq!(label.within(), "container api-7f9c of pod shop/api");
        let unit = Label {
            name: "nginx.service".into(),
            unit: Some("nginx.service".into()),
            ..Label::default()
        };
        assert_eq!(unit.within(), "service nginx.service");
        let blue = Label {
            name: "blue".into(),
            ..Label::default()
        };
        assert_eq!(blue.within(), "namespace blue");
        let host = Label {
            name: "host".into(),
            ..Label::default()
        };
        assert_eq!(host.within(), "the host");
    }

    #[test]
    fn an_engine_s_name_replaces_the_short_id() {
        let mut label = Label {
            name: short_id(ID).to_string(),
            container: Some(Container::new("docker", ID)),
            pod: None,
            unit: None,
            names: Vec::new(),
        };
        label.name_container("api-7f9c", None);
        assert_eq!(label.name, "api-7f9c");
        assert_eq!(label.container.unwrap().name.as_deref(), Some("api-7f9c"));
    }
}
