//! Every JSON object tcpstat prints, as serde types: the documented
//! contract, described by schema/tcpstat.schema.json. Each is built from
//! the model or from a [`crate::diagnose`] value by serde, never from
//! formatted strings, and borrows what it can (a listing may hold 100k
//! sockets).
//!
//! - [`JsonSocket`] (with [`JsonEndpoint`], [`JsonTimer`],
//!   [`JsonShutdown`], [`JsonProcesses`]): one socket, the element of the
//!   `--json` array, of a `-c` pass and of an event, and a `why` holder.
//!   With `-i`/`-m`, its [`JsonTcpInfo`] and [`JsonSkMem`].
//! - [`JsonPass`]: one line of `-c --json`; [`JsonEvent`]: one line of
//!   `--events --json`.
//! - [`JsonSummary`] and its parts: `-s --json`.
//! - [`JsonVerdict`] and [`JsonHeldBy`]: `why PORT --json`.
//! - [`JsonKill`] ([`JsonKilled`], [`JsonLeftOpen`]): `-K --json`.
//! - [`JsonUnixSocket`]: one unix socket of `-x --json`.
//!
//! Text a diagnosis wrote (findings, reasons, caveats) may name programs
//! as read from /proc; it is escaped here as the text form escapes it.
//! Process names in their own fields are kept as read.

mod inside;
mod kill;
mod netns;
mod summary;
mod unix;
mod why;

pub use inside::{JsonBbr, JsonRates, JsonSkMem, JsonTcpInfo, JsonTcpOptions, JsonVegas};
pub use kill::{JsonKill, JsonKilled, JsonLeftOpen};
pub use netns::{JsonContainer, JsonNetns, JsonPod};
pub use summary::{
    JsonEndpointCount, JsonEphemeral, JsonEstablished, JsonFinding, JsonNamespaceFinding,
    JsonNamespaceSummary, JsonOrphans, JsonPortCount, JsonProcessCount, JsonRemotePortUse,
    JsonStateCount, JsonStateDetail, JsonStateTotal, JsonSummary, JsonSummaryEach, JsonTimewait,
};
pub use unix::JsonUnixSocket;
pub use why::{JsonHeldBy, JsonKillAdvice, JsonNamespaceVerdict, JsonVerdict, JsonVerdictEach};

use crate::model::addr::Ntop;
use crate::model::event::Event;
use crate::model::time::Timestamp;
use crate::model::{Endpoint, Shutdown, Socket};
use crate::netns::label::Labels;
use crate::owners::{Owner, ProcessMap};
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::net::IpAddr;

/// One socket as JSON.
#[derive(Debug, Serialize)]
pub struct JsonSocket<'a> {
    /// netstat's Proto column: `tcp`, `tcp6`, `udp`, `udp6`, `udpl`,
    /// `udpl6`, `raw`, `raw6`.
    pub proto: &'static str,
    /// The protocol alone: `tcp`, `udp`, `udplite` or `raw`.
    pub protocol: &'static str,
    /// The state in netstat's spelling (UDP and raw sockets are
    /// `ESTABLISHED` when connected, `CLOSE` when not).
    pub state: &'static str,
    /// The local end.
    pub local: JsonEndpoint,
    /// The remote end; `0.0.0.0:0` or `[::]:0` for a listener.
    pub remote: JsonEndpoint,
    /// Bytes not yet read; for a listener, its accept queue.
    pub recv_q: u32,
    /// Bytes not yet acknowledged.
    pub send_q: u32,
    /// `None` (null) only for a socket known from its destroy notification
    /// alone, which carries no uid.
    pub uid: Option<u32>,
    /// 0 when no file refers to the socket.
    pub inode: u64,
    /// The kernel's socket cookie (what `ss -e` prints as `sk:`, in
    /// hex there), unique for the boot; absent from /proc, which has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<u64>,
    /// The socket's one timer.
    pub timer: JsonTimer,
    /// `None` (null) where the source does not tell.
    pub shutdown: Option<JsonShutdown>,
    /// Owners, each `{"pid", "name"}`; `None` (null) when `-p` was not
    /// asked. Borrowed from the map: no allocation per row.
    pub processes: Option<JsonProcesses<'a>>,
    /// With `--explain` only: the note on the socket's state, or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Option<Cow<'static, str>>>,
    /// With `-i`, when the kernel sent `tcp_info` (not for TIME_WAIT and
    /// request sockets): what it knows inside the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<JsonTcpInfo>,
    /// With `-m`, when the kernel sent it: the socket's memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<JsonSkMem>,
    /// With `-N all`: the namespace the socket is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<JsonNetns<'a>>,
}

/// An address and port; IPv4-mapped IPv6 addresses in dotted form.
#[derive(Debug, Serialize)]
pub struct JsonEndpoint {
    /// Numeric, as text: as `inet_ntop(3)` writes it, like the table.
    #[serde(serialize_with = "ntop")]
    pub address: IpAddr,
    /// 0 for no port.
    pub port: u16,
}

/// The timer, with its remaining time in milliseconds.
#[derive(Debug, Serialize)]
pub struct JsonTimer {
    /// netstat's name: `off`, `on`, `keepalive`, `timewait`, `probe`,
    /// `unkn-N`.
    pub kind: Cow<'static, str>,
    /// Until it fires; 0 when off.
    pub expires_ms: u64,
    /// Unrecovered retransmissions.
    pub retransmits: u32,
    /// Unanswered keepalive or zero-window probes.
    pub probes: u32,
}

/// Which directions are shut down.
#[derive(Debug, Serialize)]
pub struct JsonShutdown {
    /// Nothing more will be received.
    pub read: bool,
    /// This side sent its FIN.
    pub write: bool,
}

/// The processes holding a socket: an array of `{"pid", "name", "fd"}`,
/// one per descriptor, the name as read from /proc. Serialised straight from the owner map's slice.
#[derive(Debug, Clone, Copy)]
pub struct JsonProcesses<'a>(pub &'a [Owner]);

/// One process holding a socket.
#[derive(Debug, Serialize)]
pub struct JsonProcess<'a> {
    /// Its pid.
    pub pid: u32,
    /// Its comm, as read (untrusted).
    pub name: &'a str,
    /// The descriptor through which it holds the socket.
    pub fd: u32,
}

impl Serialize for JsonProcesses<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|o| JsonProcess {
            pid: o.pid,
            name: &o.name,
            fd: o.fd,
        }))
    }
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
        JsonSocket::owned_by(s, owners.map(|m| owners_of(m, s.inode)))
    }

    /// The wire form of a socket held by `processes` (`None` when owners
    /// were not looked up).
    pub fn owned_by(s: &Socket, processes: Option<&'a [Owner]>) -> JsonSocket<'a> {
        JsonSocket {
            proto: s.proto(),
            protocol: s.protocol.name(),
            state: s.state.name(),
            local: (&s.local).into(),
            remote: (&s.remote).into(),
            recv_q: s.recv_q,
            send_q: s.send_q,
            uid: Some(s.uid),
            inode: s.inode,
            cookie: s.diag_id.map(|id| id.cookie).filter(|&c| c != 0),
            timer: JsonTimer {
                kind: s.timer.kind.name(),
                expires_ms: s.timer.expires_ms,
                retransmits: s.timer.retransmits,
                probes: s.timer.probes,
            },
            shutdown: s.shutdown.map(Into::into),
            processes: processes.map(JsonProcesses),
            explain: None,
            info: s.info.as_deref().map(JsonTcpInfo::from),
            memory: s.memory.as_deref().map(JsonSkMem::from),
            netns: None,
        }
    }

    /// Adds the `netns` object when rows come from several namespaces
    /// (`labels` given, `-N all`).
    pub fn in_netns(mut self, s: &Socket, labels: Option<&'a Labels>) -> JsonSocket<'a> {
        self.netns = labels.map(|labels| JsonNetns::new(s.netns, labels, "?"));
        self
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

/// One pass of `-c --json`.
#[derive(Serialize)]
pub struct JsonPass<'a> {
    /// When the pass read its sockets.
    #[serde(serialize_with = "rfc3339")]
    pub time: Timestamp,
    /// Passes of the schedule skipped before this one because the last
    /// took longer than the interval (0 when on time).
    pub skipped: u64,
    /// The sockets, as the `--json` array lists them.
    pub sockets: JsonRows<'a>,
}

/// The sockets of a pass, serialised one by one as the array is written
/// (a pass may hold 100k sockets; no second copy of them is made).
pub struct JsonRows<'a> {
    /// The sockets.
    pub rows: &'a [Socket],
    /// Their owners; `None` when `-p` was not asked.
    pub owners: Option<&'a ProcessMap>,
    /// Whether each carries its `explain` note.
    pub explain: bool,
    /// Namespace labels, when rows come from several (`-N all`).
    pub netns: Option<&'a Labels>,
}

impl Serialize for JsonRows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.rows
                .iter()
                .map(|s| JsonSocket::of(s, self.owners, self.explain).in_netns(s, self.netns)),
        )
    }
}

/// One event of `--events --json`.
#[derive(Serialize)]
pub struct JsonEvent<'a> {
    /// When the pass saw it (or its destroy notification arrived).
    #[serde(serialize_with = "rfc3339")]
    pub time: Timestamp,
    /// `new`, `state` or `gone`.
    pub event: &'static str,
    /// The state before; null for `new`, and for a socket known only from
    /// its destroy notification.
    pub old_state: Option<&'static str>,
    /// The socket, its uid null when unknown.
    pub socket: JsonSocket<'a>,
    /// `tcpi_bytes_acked` from the destroy notification; null if none.
    pub bytes_acked: Option<u64>,
    /// `tcpi_bytes_received` from the destroy notification; null if none.
    pub bytes_received: Option<u64>,
    /// `exact` (from the kernel's tracepoint) or `sampled` (polls).
    pub mode: &'static str,
    /// Exact mode: the socket's cookie, the same in every change of one
    /// connection; null when sampled.
    pub cookie: Option<u64>,
    /// Exact mode: the inode of the socket's network namespace.
    pub netns: Option<u32>,
    /// Exact mode: `CLOCK_MONOTONIC` nanoseconds of the change, to order
    /// changes finer than `time` does.
    pub kernel_ns: Option<u64>,
    /// A `lifetime` event's: microseconds from the connection's opening
    /// to its close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime_us: Option<u64>,
}

/// A line of exact `--events --json` saying how many changes the kernel
/// could not hand over (its ring buffer was full).
#[derive(Serialize)]
pub struct JsonLost {
    #[serde(serialize_with = "rfc3339")]
    pub time: Timestamp,
    /// Always `lost`.
    pub event: &'static str,
    /// Always `exact`.
    pub mode: &'static str,
    /// Changes lost since the previous such line.
    pub lost: u64,
    /// Changes lost since the start.
    pub lost_total: u64,
}

impl<'a> JsonEvent<'a> {
    /// The wire form of `e`; `owners` is the map its socket's owners come
    /// from (`None` when `-p` was not asked).
    pub fn new(e: &Event, owners: Option<&'a ProcessMap>, explain: bool) -> JsonEvent<'a> {
        JsonEvent {
            time: e.time,
            event: e.kind.name(),
            old_state: e.old_state.map(|s| s.name()),
            socket: JsonSocket {
                uid: e.uid_known.then_some(e.socket.uid),
                ..JsonSocket::of(&e.socket, owners, explain)
            },
            bytes_acked: e.bytes_acked,
            bytes_received: e.bytes_received,
            mode: if e.exact.is_some() {
                "exact"
            } else {
                "sampled"
            },
            cookie: e.exact.map(|x| x.cookie),
            netns: e.exact.map(|x| x.netns),
            kernel_ns: e.exact.map(|x| x.kernel_ns),
            lifetime_us: e.lifetime_ns.map(|ns| ns / 1000),
        }
    }

    /// Adds the socket's `netns` object under `-N all` (`labels` given),
    /// as a listing's rows carry it.
    pub fn in_netns(mut self, e: &Event, labels: Option<&'a Labels>) -> JsonEvent<'a> {
        self.socket = self.socket.in_netns(&e.socket, labels);
        self
    }
}

/// A time as RFC 3339 text: `2025-06-01T14:03:07.123Z`.
fn rfc3339<S: Serializer>(time: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(time)
}

fn owners_of(map: &ProcessMap, inode: u64) -> &[Owner] {
    if inode == 0 {
        return &[];
    }
    map.owners(inode)
}

/// Text a diagnosis wrote, made printable as the text form prints it.
fn printable(text: &str) -> Cow<'_, str> {
    super::sanitize(text)
}

/// An address as the text outputs write it ([`Ntop`]): serde's own form
/// is Rust's, which differs for IPv4-compatible addresses.
fn ntop<S: Serializer>(addr: &IpAddr, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&Ntop(*addr))
}
