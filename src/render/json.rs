//! `--json`: one array, one object per socket. The wire types here are the
//! documented contract (schema/tcpstat.schema.json); they are built from the
//! model by serde, never from formatted strings.

use crate::model::{Endpoint, Shutdown, Socket};
use crate::owners::{Owner, ProcessMap};
use serde::Serialize;
use std::io::{self, Write};
use std::net::IpAddr;

/// One socket as JSON.
#[derive(Debug, Serialize)]
pub struct JsonSocket<'a> {
    pub proto: &'static str,
    pub state: &'static str,
    pub local: JsonEndpoint,
    pub remote: JsonEndpoint,
    pub recv_q: u32,
    pub send_q: u32,
    /// `None` (null) only for a socket known from its destroy notification
    /// alone, which carries no uid.
    pub uid: Option<u32>,
    pub inode: u64,
    pub timer: JsonTimer,
    pub shutdown: Option<JsonShutdown>,
    /// Owners, each `{"pid", "name"}`; `None` (null) when `-p` was not
    /// asked. Borrowed from the map: no allocation per row.
    pub processes: Option<&'a [Owner]>,
    /// With `--explain` only: the note on the socket's state, or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Option<std::borrow::Cow<'static, str>>>,
}

/// An address and port; IPv4-mapped IPv6 addresses in dotted form.
#[derive(Debug, Serialize)]
pub struct JsonEndpoint {
    pub address: IpAddr,
    pub port: u16,
}

/// The timer, with its remaining time in milliseconds.
#[derive(Debug, Serialize)]
pub struct JsonTimer {
    pub kind: std::borrow::Cow<'static, str>,
    pub expires_ms: u64,
    pub retransmits: u32,
    pub probes: u32,
}

/// Which directions are shut down.
#[derive(Debug, Serialize)]
pub struct JsonShutdown {
    pub read: bool,
    pub write: bool,
}

impl From<&Endpoint> for JsonEndpoint {
    fn from(e: &Endpoint) -> Self {
        JsonEndpoint {
            address: e.display_addr(),
            port: e.port,
        }
    }
}

impl From<Shutdown> for JsonShutdown {
    fn from(s: Shutdown) -> Self {
        JsonShutdown {
            read: s.read,
            write: s.write,
        }
    }
}

impl<'a> JsonSocket<'a> {
    /// The wire form of a socket; `owners` is `None` when `-p` was not asked.
    pub fn new(s: &Socket, owners: Option<&'a ProcessMap>) -> JsonSocket<'a> {
        JsonSocket {
            proto: s.family.proto(),
            state: s.state.name(),
            local: (&s.local).into(),
            remote: (&s.remote).into(),
            recv_q: s.recv_q,
            send_q: s.send_q,
            uid: Some(s.uid),
            inode: s.inode,
            timer: JsonTimer {
                kind: s.timer.kind.name(),
                expires_ms: s.timer.expires_ms,
                retransmits: s.timer.retransmits,
                probes: s.timer.probes,
            },
            shutdown: s.shutdown.map(Into::into),
            processes: owners.map(|m| owners_of(m, s.inode)),
            explain: None,
        }
    }

    /// Adds the `explain` key (`--explain`).
    pub fn with_explain(mut self, s: &Socket) -> JsonSocket<'a> {
        self.explain = Some(crate::diagnose::explain(s));
        self
    }

    /// The wire form, with the `explain` key when `explain` (`--explain`).
    pub fn of(s: &Socket, owners: Option<&'a ProcessMap>, explain: bool) -> JsonSocket<'a> {
        let object = JsonSocket::new(s, owners);
        if explain {
            object.with_explain(s)
        } else {
            object
        }
    }
}

fn owners_of(map: &ProcessMap, inode: u64) -> &[Owner] {
    if inode == 0 {
        return &[];
    }
    map.owners(inode)
}

/// Writes the sockets as one JSON array, one object per line; with
/// `explain`, each object carries its note.
pub fn write<W: Write>(
    w: &mut W,
    sockets: &[Socket],
    owners: Option<&ProcessMap>,
    explain: bool,
) -> io::Result<()> {
    w.write_all(b"[")?;
    for (i, s) in sockets.iter().enumerate() {
        w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *w, &JsonSocket::of(s, owners, explain))?;
    }
    w.write_all(b"\n]\n")
}
