//! A unix socket as JSON (`-x --json`): `#/$defs/unix_socket` in the
//! schema. The address is exact: `path` is the kernel's bytes as a JSON
//! string (an abstract name begins with `\u0000`) when they are UTF-8;
//! when they are not, `path` is their lossy text and `path_bytes` the
//! bytes themselves.

use super::JsonProcesses;
use crate::model::unix::UnixSocket;
use crate::owners::ProcessMap;
use serde::Serialize;
use std::borrow::Cow;

/// One unix socket.
#[derive(Debug, Serialize)]
pub struct JsonUnixSocket<'a> {
    /// Always `unix`.
    pub protocol: &'static str,
    /// netstat's Type word: `STREAM`, `DGRAM`, `SEQPACKET`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// netstat's State word, `UNCONNECTED` for its empty one.
    pub state: &'static str,
    /// The reference count, where it was read (/proc); null otherwise.
    pub refcnt: Option<u32>,
    /// 0 for a connection not yet accepted.
    pub inode: u64,
    /// The peer's inode (0: none); null where the source has none (/proc).
    pub peer_inode: Option<u64>,
    /// The address, exact unless `path_bytes` is present; null: unbound.
    pub path: Option<Cow<'a, str>>,
    /// The address's bytes, only when they are not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<&'a [u8]>,
    /// True for an abstract name (its first byte is NUL).
    #[serde(rename = "abstract")]
    pub is_abstract: bool,
    /// Bytes queued to read (a listener: connections waiting); null from /proc.
    pub recv_q: Option<u32>,
    /// Bytes queued to send (a listener: its backlog); null from /proc.
    pub send_q: Option<u32>,
    /// Owners, each `{"pid", "name"}`; null without -p.
    pub processes: Option<JsonProcesses<'a>>,
}

impl<'a> JsonUnixSocket<'a> {
    /// The JSON object of `s`, with its owners from `owners` (-p).
    pub fn of(s: &'a UnixSocket, owners: Option<&'a ProcessMap>) -> JsonUnixSocket<'a> {
        let bytes = s.name.as_ref().map(|n| &n.0[..]);
        let text = bytes.map(String::from_utf8_lossy);
        let exact = text.as_ref().is_none_or(|t| matches!(t, Cow::Borrowed(_)));
        JsonUnixSocket {
            protocol: "unix",
            kind: s.kind.name(),
            state: s.state_word(),
            refcnt: s.refcnt,
            inode: s.inode,
            peer_inode: s.peer,
            path: text,
            path_bytes: bytes.filter(|_| !exact),
            is_abstract: s.name.as_ref().is_some_and(|n| n.is_abstract()),
            recv_q: s.queues.map(|q| q.0),
            send_q: s.queues.map(|q| q.1),
            processes: owners.map(|map| JsonProcesses(map.owners(s.inode))),
        }
    }
}
