//! How watch mode writes: passes of the listing (`-c`) and events
//! (`--events`), as text or as one JSON object per line.
//!
//! The JSON wire types live here, next to the socket object they embed
//! ([`crate::render::wire::JsonSocket`]); like it, they are built by serde,
//! never from formatted strings.

use crate::config::{Config, Format};
use crate::model::event::{Event, EventKind, OwnersFrom};
use crate::model::time::Timestamp;
use crate::model::Socket;
use crate::names::hosts::{Resolver, LOOKUP_BUDGET};
use crate::owners::ProcessMap;
use crate::render::wire::JsonSocket;
use crate::render::{sanitize, table};
use serde::{Serialize, Serializer};
use std::io::{self, Write};
use std::time::Duration;

/// One pass of `-c --json`.
#[derive(Serialize)]
struct JsonPass<'a> {
    time: Timestamp,
    sockets: JsonRows<'a>,
}

/// The sockets of a pass, serialised one by one as the array is written
/// (a pass may hold 100k sockets; no second copy of them is made).
struct JsonRows<'a> {
    rows: &'a [Socket],
    owners: Option<&'a ProcessMap>,
    explain: bool,
}

impl Serialize for JsonRows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.rows
                .iter()
                .map(|s| JsonSocket::of(s, self.owners, self.explain)),
        )
    }
}

/// One event of `--events --json`.
#[derive(Serialize)]
struct JsonEvent<'a> {
    time: Timestamp,
    event: &'static str,
    old_state: Option<&'static str>,
    socket: JsonSocket<'a>,
    /// `tcpi_bytes_acked` from the destroy notification; null if none.
    bytes_acked: Option<u64>,
    /// `tcpi_bytes_received` from the destroy notification; null if none.
    bytes_received: Option<u64>,
}

/// Writes passes and events, keeping name caches between passes.
pub struct Printer<'a> {
    cfg: &'a Config,
    interval: Duration,
    names: table::Names,
    local: String,
    remote: String,
}

impl<'a> Printer<'a> {
    /// A printer for this config; `interval` is printed in pass headers.
    pub fn new(cfg: &'a Config, interval: Duration) -> Printer<'a> {
        Printer {
            cfg,
            interval,
            names: table::Names {
                resolver: (!cfg.numeric).then(|| Resolver::new(true, true)),
                users: Default::default(),
            },
            local: String::with_capacity(64),
            remote: String::with_capacity(64),
        }
    }

    /// Writes one pass of the listing: a header line with the time, then
    /// the table; or one JSON object on one line.
    pub fn pass<W: Write>(
        &mut self,
        w: &mut W,
        time: Timestamp,
        rows: &[Socket],
        owners: Option<&ProcessMap>,
    ) -> io::Result<()> {
        match self.cfg.format {
            Format::Json => {
                let sockets = JsonRows {
                    rows,
                    owners,
                    explain: self.cfg.columns.note,
                };
                serde_json::to_writer(&mut *w, &JsonPass { time, sockets })?;
                w.write_all(b"\n")
            }
            Format::Table => {
                self.prefetch(rows);
                let every = self.interval.as_secs_f64();
                writeln!(w, "tcpstat at {time}, every {every}s")?;
                table::Table::new(self.cfg, owners, &mut self.names).write(w, rows)
            }
        }
    }

    /// Writes events, one line each. `owners` are this pass's owner map
    /// and the previous pass's.
    pub fn events<'e, W: Write>(
        &mut self,
        w: &mut W,
        events: impl Iterator<Item = &'e Event> + Clone,
        owners: [Option<&ProcessMap>; 2],
    ) -> io::Result<()> {
        if self.cfg.format == Format::Table {
            self.prefetch(events.clone().map(|e| &e.socket));
        }
        for event in events {
            let map = match event.owners {
                OwnersFrom::Current => owners[0],
                OwnersFrom::Previous => owners[1],
            };
            match self.cfg.format {
                Format::Json => self.json_event(w, event, map)?,
                Format::Table => self.text_event(w, event, map)?,
            }
        }
        Ok(())
    }

    fn json_event<W: Write>(
        &self,
        w: &mut W,
        e: &Event,
        owners: Option<&ProcessMap>,
    ) -> io::Result<()> {
        let object = JsonEvent {
            time: e.time,
            event: e.kind.name(),
            old_state: e.old_state.map(|s| s.name()),
            socket: JsonSocket {
                uid: e.uid_known.then_some(e.socket.uid),
                ..JsonSocket::of(&e.socket, owners, self.cfg.columns.note)
            },
            bytes_acked: e.bytes_acked,
            bytes_received: e.bytes_received,
        };
        serde_json::to_writer(&mut *w, &object)?;
        w.write_all(b"\n")
    }

    /// `TIME EVENT PROTO LOCAL -> REMOTE OLD -> NEW [USER] [PID/PROGRAM]
    /// [acked=N received=N]`.
    fn text_event<W: Write>(
        &mut self,
        w: &mut W,
        e: &Event,
        owners: Option<&ProcessMap>,
    ) -> io::Result<()> {
        let resolver = self.names.resolver.as_ref();
        table::format_endpoint(&mut self.local, &e.socket.local, resolver, self.cfg.wide);
        table::format_endpoint(&mut self.remote, &e.socket.remote, resolver, self.cfg.wide);
        let old = e.old_state.map_or("-", |s| s.name());
        let new = match e.kind {
            EventKind::Gone => "gone",
            _ => e.socket.state.name(),
        };
        write!(
            w,
            "{} {:<5} {:<4} {:<23} -> {:<23} {old:>11} -> {new:<11}",
            e.time,
            e.kind.name(),
            e.socket.family.proto(),
            self.local,
            self.remote,
        )?;
        self.text_owner(w, e, owners)?;
        if let (Some(acked), Some(received)) = (e.bytes_acked, e.bytes_received) {
            write!(w, " acked={acked} received={received}")?;
        }
        w.write_all(b"\n")
    }

    /// The user (`-e`; `-` when unknown) and the first owning process
    /// (`-p`), as the table shows them.
    fn text_owner<W: Write>(
        &mut self,
        w: &mut W,
        e: &Event,
        owners: Option<&ProcessMap>,
    ) -> io::Result<()> {
        let s = &e.socket;
        if self.cfg.columns.extended && !e.uid_known {
            w.write_all(b" -")?;
        } else if self.cfg.columns.extended {
            match (!self.cfg.numeric)
                .then(|| self.names.users.name(s.uid))
                .flatten()
            {
                Some(user) => write!(w, " {}", sanitize(user))?,
                None => write!(w, " {}", s.uid)?,
            }
        }
        if self.cfg.columns.program {
            match owners.and_then(|m| m.owners(s.inode).first()) {
                Some(o) => write!(w, " {}/{}", o.pid, sanitize(&o.name))?,
                None => w.write_all(b" -")?,
            }
        }
        Ok(())
    }

    /// Names the ends of `sockets`, holding a pass up no longer than the
    /// lookup budget or the interval.
    fn prefetch<'s>(&mut self, sockets: impl IntoIterator<Item = &'s Socket>) {
        let budget = LOOKUP_BUDGET.min(self.interval);
        if let Some(resolver) = &mut self.names.resolver {
            resolver.prefetch_sockets(sockets, budget);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Args;
    use crate::model::{Endpoint, Family, TcpState, Timer};
    use clap::Parser;
    use serde_json::Value;

    fn config(args: &[&str]) -> Config {
        let argv = ["tcpstat"].iter().chain(args);
        Config::from_args(&Args::try_parse_from(argv).unwrap()).unwrap()
    }

    fn event(kind: EventKind, old: Option<TcpState>, state: TcpState) -> Event {
        let end = |port| Endpoint {
            addr: [10, 0, 0, 1].into(),
            port,
        };
        Event {
            time: Timestamp::from_millis(1_748_786_587_123),
            kind,
            old_state: old,
            socket: Socket {
                family: Family::Inet,
                state,
                local: end(80),
                remote: end(40000),
                recv_q: 0,
                send_q: 0,
                uid: 0,
                inode: 0,
                timer: Timer::OFF,
                shutdown: None,
            },
            owners: OwnersFrom::Current,
            uid_known: true,
            bytes_acked: Some(12),
            bytes_received: None,
        }
    }

    fn printed(args: &[&str], events: &[Event]) -> String {
        let cfg = config(args);
        let mut out = Vec::new();
        let mut printer = Printer::new(&cfg, Duration::from_secs(1));
        printer
            .events(&mut out, events.iter(), [None, None])
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_events_are_one_line_each() {
        let events = [
            event(
                EventKind::State,
                Some(TcpState::Established),
                TcpState::CloseWait,
            ),
            event(EventKind::Gone, None, TcpState::Close),
        ];
        let text = printed(&["-np"], &events);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "2025-06-01T14:03:07.123Z state tcp  10.0.0.1:80             -> 10.0.0.1:40000          \
             ESTABLISHED -> CLOSE_WAIT  -"
        );
        assert!(
            lines[1].starts_with("2025-06-01T14:03:07.123Z gone  tcp  10.0.0.1:80 "),
            "{text}"
        );
        assert!(lines[1].contains("          - -> gone        -"), "{text}");
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn an_unknown_uid_is_shown_as_unknown() {
        let mut destroyed = event(EventKind::Gone, None, TcpState::Close);
        destroyed.uid_known = false;
        let known = event(EventKind::Gone, Some(TcpState::CloseWait), TcpState::Close);
        let text = printed(&["-ne"], &[destroyed.clone(), known]);
        let users: Vec<&str> = text
            .lines()
            .map(|l| l.split_whitespace().nth(9).unwrap())
            .collect();
        assert_eq!(users, ["-", "0"], "{text}");
        let json = printed(&["--json"], &[destroyed]);
        let event: Value = serde_json::from_str(json.trim_end()).unwrap();
        assert!(event["socket"]["uid"].is_null(), "{json}");
        assert_eq!(event["socket"]["inode"], 0);
    }

    #[test]
    fn json_events_and_passes_are_one_object_per_line() {
        let text = printed(
            &["--json"],
            &[event(EventKind::New, None, TcpState::TimeWait)],
        );
        let event: Value = serde_json::from_str(text.strip_suffix('\n').unwrap()).unwrap();
        assert_eq!(event["time"], "2025-06-01T14:03:07.123Z");
        assert_eq!(
            (event["event"].as_str(), event["old_state"].as_str()),
            (Some("new"), None)
        );
        assert_eq!(event["socket"]["state"], "TIME_WAIT");
        assert_eq!(
            (
                event["bytes_acked"].as_u64(),
                event["bytes_received"].as_u64()
            ),
            (Some(12), None)
        );

        let cfg = config(&["--json"]);
        let mut printer = Printer::new(&cfg, Duration::from_secs(1));
        let mut out = Vec::new();
        let rows = [self::event(EventKind::New, None, TcpState::Listen).socket];
        printer
            .pass(&mut out, Timestamp::from_millis(0), &rows, None)
            .unwrap();
        printer
            .pass(&mut out, Timestamp::from_millis(1), &[], None)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        let passes: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(passes.len(), 2);
        assert_eq!(passes[0]["sockets"][0]["state"], "LISTEN");
        assert_eq!(passes[1]["sockets"], Value::Array(Vec::new()));
        assert_eq!(passes[1]["time"], "1970-01-01T00:00:00.001Z");
    }
}
