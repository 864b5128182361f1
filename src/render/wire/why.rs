//! `why PORT --json`: the [`Verdict`] as one object (`#/$defs/verdict` in
//! the schema), its holders as sockets.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Serialize;

use super::netns::JsonNetns;
use super::{ntop, printable, JsonSocket};
use crate::diagnose::bind::{HeldBy, KernelCheck, Verdict};
use crate::netns::label::Labels;

/// Whether a port can be bound now, and what holds it.
#[derive(Debug, Serialize)]
pub struct JsonVerdict<'a> {
    /// The port asked about.
    pub port: u16,
    /// The address asked about; `::` when none was given.
    #[serde(serialize_with = "ntop")]
    pub address: IpAddr,
    /// A plain bind() would succeed now.
    pub bindable: bool,
    /// A bind() with SO_REUSEADDR would succeed now; `None` (null) when
    /// that depends on the holders' own SO_REUSEADDR.
    pub bindable_with_reuseaddr: Option<bool>,
    /// Holders by kind.
    pub held_by: JsonHeldBy,
    /// The sockets in the way: listeners, connections, then remnants.
    pub holders: Vec<JsonSocket<'a>>,
    /// When only remnants hold the port, milliseconds until the last goes.
    pub expires_ms: Option<u64>,
    /// The same as a wall-clock time, milliseconds since the Unix epoch.
    pub expires_at_unix_ms: Option<u64>,
    /// Why, in a sentence or two, program names escaped.
    pub reason: Cow<'a, str>,
    /// Where the verdict rests on an assumption the dump cannot check.
    pub caveats: Vec<Cow<'a, str>>,
    /// Whether a real bind() was tried, and what it said.
    pub kernel: JsonKernelCheck<'a>,
    /// False when some processes' descriptors could not be read (without
    /// root): a holder without a program may belong to one of them.
    pub owners_complete: bool,
    /// Whether closing sockets with `-K` would free the port, and how.
    pub kill: JsonKillAdvice,
}

/// `why PORT -N all --json`: the verdict in every namespace.
#[derive(Debug, Serialize)]
pub struct JsonVerdictEach<'a> {
    /// The port asked about.
    pub port: u16,
    /// Namespaces where a plain bind() would fail now.
    pub held_in: usize,
    /// One per namespace read, the host's first.
    pub namespaces: Vec<JsonNamespaceVerdict<'a>>,
}

/// The verdict in one namespace.
#[derive(Debug, Serialize)]
pub struct JsonNamespaceVerdict<'a> {
    /// The namespace.
    pub netns: JsonNetns<'a>,
    /// What it is (`container api-7f9c`).
    pub within: &'a str,
    /// The verdict there, as `why PORT --json` prints one.
    pub verdict: JsonVerdict<'a>,
}

impl<'a> JsonVerdictEach<'a> {
    /// The verdicts, each namespace labelled from `labels`.
    pub fn new(each: &'a [(u64, String, Verdict<'a>)], labels: &'a Labels) -> Self {
        JsonVerdictEach {
            port: each.first().map_or(0, |(_, _, v)| v.port),
            held_in: each.iter().filter(|(_, _, v)| !v.bindable).count(),
            namespaces: each
                .iter()
                .map(|(netns, within, v)| JsonNamespaceVerdict {
                    netns: JsonNetns::new(*netns, labels, within),
                    within,
                    verdict: v.into(),
                })
                .collect(),
        }
    }
}

/// What `tcpstat -K` could do for the port.
#[derive(Debug, Serialize)]
pub struct JsonKillAdvice {
    /// `free` (nothing to close), `close` (live connections, no
    /// listener), `listener` (closing would not free it), `remnants_only`
    /// (nothing to close: SO_REUSEADDR, or wait).
    pub advice: &'static str,
    /// The exact command line that frees the port; null unless `close`.
    pub command: Option<String>,
}

/// A throwaway bind() in the namespace, without and with SO_REUSEADDR.
#[derive(Debug, Serialize)]
pub struct JsonKernelCheck<'a> {
    /// The binds were tried and answered.
    pub asked: bool,
    /// What a plain bind() did; null when not asked.
    pub bindable: Option<bool>,
    /// What a bind() with SO_REUSEADDR did; null when not asked.
    pub bindable_with_reuseaddr: Option<bool>,
    /// Why it was not asked, or why the bind failed otherwise than with
    /// EADDRINUSE; null when it answered.
    pub reason: Option<Cow<'a, str>>,
}

impl<'a> From<&'a KernelCheck> for JsonKernelCheck<'a> {
    fn from(k: &'a KernelCheck) -> Self {
        let (probe, reason) = match k {
            KernelCheck::Answered(p) => (Some(p), None),
            KernelCheck::NotAsked(why) => (None, Some(Cow::Borrowed(*why))),
            KernelCheck::Failed(why) => (None, Some(printable(why))),
        };
        JsonKernelCheck {
            asked: probe.is_some(),
            bindable: probe.map(|p| p.bindable),
            bindable_with_reuseaddr: probe.map(|p| p.bindable_with_reuseaddr),
            reason,
        }
    }
}

/// Holders by kind.
#[derive(Debug, Serialize)]
pub struct JsonHeldBy {
    /// LISTEN sockets.
    pub listeners: usize,
    /// Sockets a program holds or a listener will hand out.
    pub connections: usize,
    /// TIME_WAIT and orphans.
    pub remnants: usize,
}

impl<'a, 'v: 'a> From<&'a Verdict<'v>> for JsonVerdict<'a> {
    fn from(v: &'a Verdict<'v>) -> Self {
        JsonVerdict {
            port: v.port,
            address: v.address,
            bindable: v.bindable,
            bindable_with_reuseaddr: v.bindable_with_reuseaddr,
            held_by: v.held_by.into(),
            holders: v
                .holders
                .iter()
                .map(|h| JsonSocket::owned_by(&h.socket, h.processes))
                .collect(),
            expires_ms: v.expires_ms,
            expires_at_unix_ms: v.expires_at_unix_ms,
            reason: printable(&v.reason),
            caveats: v.caveats.iter().map(|c| printable(c)).collect(),
            kernel: (&v.kernel).into(),
            owners_complete: v.unreadable_processes == 0,
            kill: JsonKillAdvice {
                advice: v.kill.name(),
                command: v.kill.command(v.netns.as_deref()),
            },
        }
    }
}

impl From<HeldBy> for JsonHeldBy {
    fn from(h: HeldBy) -> Self {
        JsonHeldBy {
            listeners: h.listeners,
            connections: h.connections,
            remnants: h.remnants,
        }
    }
}
