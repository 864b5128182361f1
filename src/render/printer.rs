//! The listing's printer, for every face: the one-shot listing (netstat's
//! table or one JSON array), each pass of `-c` (a header line and the
//! table, or one [`JsonPass`] line) and the changes of `--events` (text
//! lines, or one [`JsonEvent`] line each). All of them go through the same
//! table and wire types; name caches live from pass to pass.

use super::events::EventText;
use super::json::write_line;
use super::table::{self, Names};
use super::wire::{JsonEvent, JsonLost, JsonPass, JsonRows};
use crate::config::{Config, Format};
use crate::model::event::{Event, OwnersFrom};
use crate::model::time::Timestamp;
use crate::model::Socket;
use crate::names::hosts::{Resolver, LOOKUP_BUDGET};
use crate::netns::label::Labels;
use crate::owners::ProcessMap;
use std::io::{self, Write};
use std::time::Duration;

/// Writes passes and events, keeping name caches between passes.
pub struct Printer<'a> {
    cfg: &'a Config,
    interval: Duration,
    names: Names,
    events: EventText,
    /// The namespaces' labels under `-N all`.
    netns: Option<Labels>,
    /// A JSON listing written as it is read: how far it got.
    array: super::json::Array,
}

impl<'a> Printer<'a> {
    /// A printer for this config; `interval` is printed in pass headers.
    pub fn new(cfg: &'a Config, interval: Duration) -> Printer<'a> {
        Printer {
            cfg,
            interval,
            names: Names {
                resolver: (!cfg.numeric_hosts || !cfg.numeric_ports)
                    .then(|| Resolver::new(!cfg.numeric_hosts, !cfg.numeric_ports)),
                users: Default::default(),
            },
            events: EventText::new(),
            netns: None,
            array: Default::default(),
        }
    }

    /// Rows carry their namespace (`-N all`): a NETNS column, a `netns`
    /// object, named by `labels`.
    pub fn with_netns(mut self, labels: Labels) -> Printer<'a> {
        self.netns = Some(labels);
        self
    }

    /// The namespaces' labels under `-N all`, to add those found later.
    pub fn netns_labels(&mut self) -> Option<&mut Labels> {
        self.netns.as_mut()
    }

    /// A printer for a single listing.
    pub fn once(cfg: &'a Config) -> Printer<'a> {
        Printer::new(cfg, LOOKUP_BUDGET)
    }

    /// Writes the one-shot listing: netstat's table, or one JSON array
    /// with one object per line.
    pub fn listing<W: Write>(
        &mut self,
        w: &mut W,
        rows: &[Socket],
        owners: Option<&ProcessMap>,
    ) -> io::Result<()> {
        self.listing_begin(w)?;
        self.listing_rows(w, rows, owners)?;
        self.listing_end(w)
    }

    /// Starts a one-shot listing written as its rows are read
    /// ([`listing_rows`](Self::listing_rows) for each batch, then
    /// [`listing_end`](Self::listing_end)): the same bytes as
    /// [`listing`](Self::listing) of all rows at once.
    pub fn listing_begin<W: Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.cfg.format {
            Format::Json => Ok(()), // `[` comes with the first object
            Format::Table => table::Table::new(self.cfg, None, &mut self.names)
                .with_netns(self.netns.as_ref())
                .write_header(w),
        }
    }

    /// Writes the next rows of a listing begun with
    /// [`listing_begin`](Self::listing_begin).
    pub fn listing_rows<W: Write>(
        &mut self,
        w: &mut W,
        rows: &[Socket],
        owners: Option<&ProcessMap>,
    ) -> io::Result<()> {
        match self.cfg.format {
            Format::Json => {
                let (explain, netns) = (self.cfg.columns.note, self.netns.as_ref());
                self.array.objects(w, rows, owners, explain, netns)
            }
            Format::Table => {
                self.prefetch(rows);
                table::Table::new(self.cfg, owners, &mut self.names)
                    .with_netns(self.netns.as_ref())
                    .write_rows(w, rows)
            }
        }
    }

    /// Ends a listing begun with [`listing_begin`](Self::listing_begin).
    pub fn listing_end<W: Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.cfg.format {
            Format::Json => std::mem::take(&mut self.array).close(w),
            Format::Table => Ok(()),
        }
    }

    /// Writes one pass of the listing: a header line with the time, then
    /// the table; or one JSON object on one line.
    /// `skipped` counts the slots the last pass overran (said in the
    /// header and the JSON object).
    pub fn pass<W: Write>(
        &mut self,
        w: &mut W,
        when: (Timestamp, u64),
        rows: &[Socket],
        owners: Option<&ProcessMap>,
    ) -> io::Result<()> {
        self.pass_begin(w, when)?;
        self.pass_rows(w, rows, owners)?;
        self.pass_end(w)
    }

    /// Starts one pass written as its rows are read
    /// ([`pass_rows`](Self::pass_rows) for each batch, then
    /// [`pass_end`](Self::pass_end)): the same bytes as
    /// [`pass`](Self::pass) of all rows at once.
    pub fn pass_begin<W: Write>(
        &mut self,
        w: &mut W,
        (time, skipped): (Timestamp, u64),
    ) -> io::Result<()> {
        match self.cfg.format {
            Format::Json => {
                // The pass object with no sockets, cut before its `]}`:
                // serde writes every byte but the rows'.
                let mut head = Vec::with_capacity(96);
                write_line(
                    &mut head,
                    &JsonPass {
                        time,
                        skipped,
                        sockets: self.no_rows(),
                    },
                )?;
                let cut = head.len().saturating_sub(b"]}\n".len());
                self.array = Default::default();
                w.write_all(&head[..cut])
            }
            Format::Table => {
                self.write_pass_header(w, time, skipped)?;
                self.listing_begin(w)
            }
        }
    }

    /// Writes the next rows of a pass begun with
    /// [`pass_begin`](Self::pass_begin).
    pub fn pass_rows<W: Write>(
        &mut self,
        w: &mut W,
        rows: &[Socket],
        owners: Option<&ProcessMap>,
    ) -> io::Result<()> {
        match self.cfg.format {
            Format::Json => {
                let (explain, netns) = (self.cfg.columns.note, self.netns.as_ref());
                self.array.elements(w, rows, owners, explain, netns)
            }
            Format::Table => self.listing_rows(w, rows, owners),
        }
    }

    /// Ends a pass begun with [`pass_begin`](Self::pass_begin).
    pub fn pass_end<W: Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.cfg.format {
            Format::Json => w.write_all(b"]}\n"),
            Format::Table => Ok(()),
        }
    }

    /// A pass with no sockets, for its JSON framing.
    fn no_rows(&self) -> JsonRows<'_> {
        JsonRows {
            rows: &[],
            owners: None,
            explain: self.cfg.columns.note,
            netns: self.netns.as_ref(),
        }
    }

    /// The line before each `-c` pass's table.
    fn write_pass_header<W: Write>(
        &self,
        w: &mut W,
        time: Timestamp,
        skipped: u64,
    ) -> io::Result<()> {
        let every = self.interval.as_secs_f64();
        match skipped {
            0 => writeln!(w, "tcpstat at {time}, every {every}s"),
            1 => writeln!(w, "tcpstat at {time}, every {every}s (1 pass skipped)"),
            n => writeln!(w, "tcpstat at {time}, every {every}s ({n} passes skipped)"),
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
                Format::Json => {
                    let (explain, netns) = (self.cfg.columns.note, self.netns.as_ref());
                    write_line(
                        w,
                        &JsonEvent::new(event, map, explain).in_netns(event, netns),
                    )?;
                }
                Format::Table => {
                    self.events.write(
                        w,
                        event,
                        map,
                        self.cfg,
                        (&mut self.names, self.netns.as_ref()),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// The first line of `--events` as text: which mode it runs in (JSON
    /// says it in every object instead). `time_wait` says whether exact
    /// mode sees TIME_WAIT entries.
    pub fn events_header<W: Write>(
        &mut self,
        w: &mut W,
        exact: bool,
        time_wait: bool,
    ) -> io::Result<()> {
        if self.cfg.format == Format::Json {
            return Ok(());
        }
        if !exact {
            let every = self.interval.as_secs_f64();
            return writeln!(
                w,
                "tcpstat events: sampled (polls every {every}s and destroy notifications)"
            );
        }
        let tw = if time_wait {
            ""
        } else {
            "; TIME_WAIT entry shows as the full socket's move to CLOSE"
        };
        writeln!(
            w,
            "tcpstat events: exact (every state change from the kernel's tracepoint \
             sock:inet_sock_set_state{tw})"
        )
    }

    /// Says that the kernel lost `lost` changes (`total` since the start).
    pub fn lost<W: Write>(
        &mut self,
        w: &mut W,
        time: Timestamp,
        lost: u64,
        total: u64,
    ) -> io::Result<()> {
        match self.cfg.format {
            Format::Json => write_line(
                w,
                &JsonLost {
                    time,
                    event: "lost",
                    mode: "exact",
                    lost,
                    lost_total: total,
                },
            ),
            Format::Table => writeln!(
                w,
                "{time} lost  {lost} state change(s) the kernel's ring buffer had no room for \
                 ({total} in all)"
            ),
        }
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
    use crate::model::event::EventKind;
    use crate::model::{Endpoint, Family, TcpState, Timer};
    use clap::Parser;
    use serde_json::Value;

    fn config(args: &[&str]) -> Config {
        let argv = ["tcpstat"].iter().chain(args);
        crate::cli::lower::config(&Args::try_parse_from(argv).unwrap()).unwrap()
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
                netns: 0,
                timer: Timer::OFF,
                shutdown: None,
                info: None,
                memory: None,
                diag_id: None,
                backlog: None,
                protocol: crate::model::Protocol::Tcp,
            },
            owners: OwnersFrom::Current,
            uid_known: true,
            bytes_acked: Some(12),
            bytes_received: None,
            exact: None,
            lifetime_ns: None,
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
    fn info_and_memory_follow_their_row_in_listings_and_passes() {
        use crate::model::info::{SkMem, TcpInfo};
        let mut row = event(EventKind::New, None, TcpState::Established).socket;
        row.info = Some(Box::new(TcpInfo {
            snd_cwnd: 10,
            reordering: 3,
            congestion: Some("cubic".into()),
            ..TcpInfo::default()
        }));
        row.memory = Some(Box::new(SkMem {
            rcvbuf: 4096,
            ..SkMem::default()
        }));
        let bare = event(EventKind::New, None, TcpState::TimeWait).socket;
        let rows = [row, bare];
        let want = "\t skmem:(r0,rb4096,t0,tb0,f0,w0,o0) cubic cwnd:10\n";
        for args in [&["-nim"][..], &["-nim", "-c"]] {
            let cfg = config(args);
            let mut printer = Printer::new(&cfg, Duration::from_secs(1));
            let mut out = Vec::new();
            if cfg.watch.is_some() {
                printer
                    .pass(&mut out, (Timestamp::from_millis(0), 0), &rows, None)
                    .unwrap();
            } else {
                printer.listing(&mut out, &rows, None).unwrap();
            }
            let text = String::from_utf8(out).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let at = lines
                .iter()
                .position(|l| l.contains("ESTABLISHED"))
                .unwrap();
            assert_eq!(format!("{}\n", lines[at + 1]), want, "{args:?}:\n{text}");
            assert!(lines[at + 2].contains("TIME_WAIT"), "{text}");
            assert_eq!(lines.len(), at + 3, "no line for a socket without: {text}");
        }
        // Without the flags, the same rows print no continuation.
        let cfg = config(&["-n"]);
        let mut out = Vec::new();
        Printer::once(&cfg).listing(&mut out, &rows, None).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("skmem"));
        // JSON: the objects only where the socket has them.
        let cfg = config(&["-im", "--json"]);
        let mut out = Vec::new();
        Printer::once(&cfg).listing(&mut out, &rows, None).unwrap();
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc[0]["info"]["snd_cwnd"], 10);
        assert_eq!(doc[0]["memory"]["rcvbuf_bytes"], 4096);
        assert!(doc[0]["memory"].get("drops").is_none(), "not sent: absent");
        assert!(doc[1].get("info").is_none() && doc[1].get("memory").is_none());
    }

    #[test]
    fn text_events_carry_the_continuation_line_with_i() {
        use crate::model::info::TcpInfo;
        let mut new = event(EventKind::New, None, TcpState::Established);
        new.socket.info = Some(Box::new(TcpInfo {
            snd_cwnd: 10,
            reordering: 3,
            ..TcpInfo::default()
        }));
        let gone = event(EventKind::Gone, None, TcpState::Close);
        let text = printed(&["-ni", "--events"], &[new.clone(), gone.clone()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains(" new ") && lines[2].contains(" gone "));
        assert_eq!(lines[1], "\t cwnd:10");
        let text = printed(&["-n", "--events"], &[new.clone(), gone]);
        assert_eq!(text.lines().count(), 2, "without -i: {text}");
        // As JSON, an event's socket carries its rates under info.
        new.socket.info.as_mut().unwrap().rates = Some(Box::new(crate::model::info::Rates {
            interval_us: 1_000_000,
            acked_bytes: Some(1_000),
            ..Default::default()
        }));
        let json = printed(&["-i", "--events", "--json"], &[new]);
        let event: Value = serde_json::from_str(json.trim_end()).unwrap();
        let rates = &event["socket"]["info"]["rates"];
        assert_eq!(rates["acked_bps"], 8_000, "{json}");
        assert!(rates.get("received_bps").is_none(), "{json}");
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
            .pass(&mut out, (Timestamp::from_millis(0), 0), &rows, None)
            .unwrap();
        printer
            .pass(&mut out, (Timestamp::from_millis(1), 0), &[], None)
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
