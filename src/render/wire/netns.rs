//! The `netns` object of a socket listed by `-N all`: which namespace it is
//! in, and what that namespace is to a person (container, pod, service).

use serde::Serialize;

use crate::netns::label::{Label, Labels};

/// A socket's network namespace.
#[derive(Debug, Serialize)]
pub struct JsonNetns<'a> {
    /// The namespace's inode (as `ip netns identify`, `lsns` show it).
    pub inode: u64,
    /// Its label: container name or short id, service, ip-netns name,
    /// `pid:comm`, or `host`. As read (untrusted).
    pub name: &'a str,
    /// The container whose namespace it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<JsonContainer<'a>>,
    /// The Kubernetes pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<JsonPod<'a>>,
    /// The systemd service of its first process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'a str>,
}

/// A container.
#[derive(Debug, Serialize)]
pub struct JsonContainer<'a> {
    /// `docker`, `containerd`, `cri-o` or `podman`.
    pub runtime: &'static str,
    /// The full id.
    pub id: &'a str,
    /// Its name, when the engine said it.
    pub name: Option<&'a str>,
}

/// A Kubernetes pod.
#[derive(Debug, Serialize)]
pub struct JsonPod<'a> {
    /// The pod's UID.
    pub uid: &'a str,
    /// `namespace/name`, when the runtime said it.
    pub name: Option<&'a str>,
}

impl<'a> JsonNetns<'a> {
    /// The namespace `inode`, labelled from `labels` (an unknown one keeps
    /// its inode and is named `net:[INODE]`).
    pub fn new(inode: u64, labels: &'a Labels, unknown: &'a str) -> JsonNetns<'a> {
        match labels.get(&inode) {
            Some(label) => JsonNetns::labelled(inode, label),
            None => JsonNetns {
                inode,
                name: unknown,
                container: None,
                pod: None,
                unit: None,
            },
        }
    }

    fn labelled(inode: u64, label: &'a Label) -> JsonNetns<'a> {
        JsonNetns {
            inode,
            name: &label.name,
            container: label.container.as_ref().map(|c| JsonContainer {
                runtime: c.runtime,
                id: &c.id,
                name: c.name.as_deref(),
            }),
            pod: label.pod.as_ref().map(|p| JsonPod {
                uid: &p.uid,
                name: p.name.as_deref(),
            }),
            unit: label.unit.as_deref(),
        }
    }
}
