//! `--events` as text: one line per change of one socket,
//! `TIME EVENT [NETNS] PROTO LOCAL -> REMOTE OLD -> NEW [USER]
//! [PID/PROGRAM] [acked=N received=N]`, the ends named as the table names
//! them, NETNS (under `-N all`) as the table's column; with
//! `-i`/`-m`, the socket's continuation line follows, as in the table
//! (none for a socket known only from its destroy notification). (As
//! JSON, an event is a [`JsonEvent`](super::wire::JsonEvent).)

use super::table::{self, program_label, Names};
use crate::config::Config;
use crate::model::event::{Event, EventKind};
use crate::netns::label::Labels;
use crate::owners::ProcessMap;
use std::io::{self, Write};

/// Writes events as text lines, reusing its buffers from line to line.
pub struct EventText {
    /// The NETNS cell being built.
    netns: Vec<u8>,
    local: String,
    remote: String,
    /// The `-i`/`-m` continuation line being built.
    inside: Vec<u8>,
}

impl EventText {
    /// A writer with empty buffers.
    pub fn new() -> EventText {
        EventText {
            netns: Vec::new(),
            local: String::with_capacity(64),
            remote: String::with_capacity(64),
            inside: Vec::new(),
        }
    }

    /// Writes `e` as one line; `owners` is the map its socket's owners come
    /// from, `names` the lookups `cfg` asks for, `netns` the namespaces'
    /// labels under `-N all`.
    pub fn write<W: Write>(
        &mut self,
        w: &mut W,
        e: &Event,
        owners: Option<&ProcessMap>,
        cfg: &Config,
        (names, netns): (&mut Names, Option<&Labels>),
    ) -> io::Result<()> {
        let resolver = names.resolver.as_ref();
        let named = resolver.map(|r| (r, e.socket.protocol));
        table::format_endpoint(&mut self.local, &e.socket.local, named, cfg.wide);
        table::format_endpoint(&mut self.remote, &e.socket.remote, named, cfg.wide);
        let old = e.old_state.map_or("-", |s| s.name());
        let new = match e.kind {
            EventKind::Gone => "gone",
            _ => e.socket.state.name(),
        };
        self.netns.clear();
        if let Some(labels) = netns {
            let name = labels.get(&e.socket.netns).map_or("?", |l| l.name.as_str());
            table::push_netns(&mut self.netns, name, cfg.wide);
        }
        write!(w, "{} {:<5} ", e.time, e.kind.name())?;
        w.write_all(&self.netns)?;
        write!(
            w,
            "{:<4} {:<23} -> {:<23} ",
            e.socket.proto(),
            self.local,
            self.remote,
        )?;
        match e.lifetime_ns {
            // Milliseconds with three decimals: tcplife's unit.
            Some(ns) => write!(w, "lived {:.3} ms", ns as f64 / 1e6)?,
            None => write!(w, "{old:>11} -> {new:<11}")?,
        }
        write_owner(w, e, owners, cfg, names)?;
        if let (Some(acked), Some(received)) = (e.bytes_acked, e.bytes_received) {
            write!(w, " acked={acked} received={received}")?;
        }
        w.write_all(b"\n")?;
        if cfg.columns.info || cfg.columns.memory {
            self.inside.clear();
            super::inside::push_continuation(&mut self.inside, &e.socket, cfg.numeric);
            w.write_all(&self.inside)?;
        }
        Ok(())
    }
}

impl Default for EventText {
    fn default() -> Self {
        EventText::new()
    }
}

/// The user (`-e`; `-` when unknown) and the first owning process (`-p`),
/// as the table shows them (escaped as it escapes them).
fn write_owner<W: Write>(
    w: &mut W,
    e: &Event,
    owners: Option<&ProcessMap>,
    cfg: &Config,
    names: &mut Names,
) -> io::Result<()> {
    let s = &e.socket;
    if cfg.columns.extended && !e.uid_known {
        w.write_all(b" -")?;
    } else if cfg.columns.extended {
        match names.user(s.uid, cfg.numeric_users) {
            Some(user) => write!(w, " {user}")?,
            None => write!(w, " {}", s.uid)?,
        }
    }
    if cfg.columns.program {
        match owners.and_then(|m| m.owners(s.inode).first()) {
            Some(o) => write!(w, " {}", program_label(o.pid, &o.name))?,
            None => w.write_all(b" -")?,
        }
    }
    Ok(())
}
