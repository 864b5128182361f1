//! `--events` in exact mode: every state change the kernel makes, printed
//! as it arrives, from the BPF tracepoint program of
//! [`crate::source::transitions`].
//!
//! The loop sleeps in `poll` on the ring buffer's descriptor, the
//! signalfd and stdout's hangup (as the sampled loop does), and prints
//! what the ring holds as soon as it is readable, one flush per batch, so
//! a reader at the end of a pipe sees each change at once. Once per
//! interval it rescans the processes (with `-p` or an owner filter) and
//! reads the lost-record counter; `--count N` ends it after N intervals.
//!
//! Owners are found by socket inode in the last scan, never by the process
//! that happens to run when the kernel changes the state (which, in
//! softirq context, is anyone). A socket's changes after its process
//! closed it have no inode of their own; the inode its earlier changes
//! carried is kept by cookie until its CLOSE, so they are still attributed
//! while the scan knows the inode.

use super::namespaces::Namespaces;
use super::output::Output;
use super::schedule::Schedule;
use super::signals::{Signals, Wake};
use super::{end_pass, reader_gone, stop_before_pass, wait_error, Outcome};
use crate::collect::each_netns::Target;
use crate::config::{Config, EventSource, Watch};
use crate::error::{note, Error, Result};
use crate::filter::{NoOwners, Owners};
use crate::model::event::{Event, Transition};
use crate::model::time::Timestamp;
use crate::model::TcpState;
use crate::netns::label::Labels;
use crate::owners::{OwnerScanner, ProcessMap};
use crate::render::Printer;
use crate::source::transitions::{current_netns, StateChanges};
use std::collections::{HashMap, HashSet};
use std::io::{self, BufWriter};
use std::time::Instant;

/// Most transitions read from the ring at once before they are printed.
const BATCH: usize = 4096;

/// Most sockets whose inode is remembered: a CLOSE the ring had no room
/// for would otherwise leave its entry for good.
const MAX_REMEMBERED: usize = 1 << 20;

/// The programs loaded for this run, or `None` to run sampled: per the
/// mode asked, and saying why when auto falls back. They hear this
/// process's namespace, or with `all_netns` every namespace.
pub fn choose(plan: Watch, all_netns: bool) -> Result<Option<StateChanges>> {
    if plan.event_source == EventSource::Sampled {
        return Ok(None);
    }
    let loaded = match all_netns {
        true => StateChanges::load(None),
        false => current_netns().and_then(|netns| StateChanges::load(Some(netns))),
    };
    match (loaded, plan.event_source) {
        (Ok(changes), _) => Ok(Some(changes)),
        (Err(e), EventSource::Exact) => {
            Err(Error::runtime(format!("--events=exact: {}", refusal(&e))))
        }
        (Err(e), _) => {
            note(format_args!(
                "exact events unavailable ({}); sampled",
                refusal(&e)
            ));
            Ok(None)
        }
    }
}

/// What of `-i`/`-m` was asked for, which exact events cannot show.
fn inside_asked(cfg: &Config) -> Option<&'static str> {
    match (cfg.columns.info, cfg.columns.memory) {
        (true, true) => Some("tcp_info (-i) nor socket memory (-m)"),
        (true, false) => Some("tcp_info (-i)"),
        (false, true) => Some("socket memory (-m)"),
        (false, false) => None,
    }
}

/// Why the programs could not be loaded, in one line.
fn refusal(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => {
            "loading the kernel tracepoint program needs root (or CAP_BPF and CAP_PERFMON)"
                .to_owned()
        }
        Some(libc::ENOENT) => format!("no kernel BTF to build the tracepoint program ({e})"),
        _ => format!("cannot load the kernel tracepoint program: {e}"),
    }
}

/// Runs exact mode until `--count` intervals, a stop signal or a closed
/// pipe. Under `-N all`, `namespaces` are those found at the start and
/// their labels: the program hears every namespace, and each change is
/// named by its own (found again once per interval, and as soon as a
/// change comes from one not yet labelled).
pub fn run(
    cfg: &Config,
    plan: Watch,
    signals: &Signals,
    out: &mut BufWriter<Output<'_>>,
    changes: StateChanges,
    (targets, labels): (&[Target], Option<Labels>),
) -> Result<Outcome> {
    if let Some(asked) = inside_asked(cfg) {
        // The tracepoint tells the state and the addresses, nothing from
        // inside the connection: say so rather than print lines lacking it.
        note(format_args!(
            "exact --events shows no {asked}: the kernel's tracepoint carries only \
             the state change (--events=sampled shows it on each event)"
        ));
    }
    let mut printer = Printer::new(cfg, plan.interval);
    let mut run = Exact::new(cfg, changes, plan.lifetime);
    if let Some(labels) = labels {
        printer = printer.with_netns(labels);
        run.namespaces = Some(Namespaces::new(cfg, targets));
    }
    run.refresh_owners()?;
    let header = printer.events_header(out, true, run.changes.covers_time_wait());
    if let Some(end) = end_pass(out, header)? {
        return Ok(end);
    }
    let mut schedule = Schedule::new(plan.interval);
    let mut intervals = 0u64;
    let mut deadline = schedule.advance(Instant::now()).0;
    loop {
        let hangup = out.get_ref().hangup_fd();
        match signals
            .wait(deadline, Some(run.changes.fd()), hangup)
            .map_err(wait_error)?
        {
            Wake::Stop(signal) => return Ok(Outcome::Stopped(signal)),
            Wake::Closed => return Err(reader_gone()),
            Wake::Readable => {
                if let Some(end) = run.print_waiting(out, &mut printer)? {
                    return Ok(end);
                }
            }
            Wake::Deadline => {
                // What arrived up to now belongs before the interval's end.
                if let Some(end) = run.print_waiting(out, &mut printer)? {
                    return Ok(end);
                }
                intervals += 1;
                if plan.count.is_some_and(|n| intervals >= n) {
                    return Ok(Outcome::Done);
                }
                run.refresh_owners()?;
                run.find_namespaces(&mut printer);
                deadline = schedule.advance(Instant::now()).0;
            }
        }
    }
}

/// The state of one exact run.
struct Exact<'c> {
    cfg: &'c Config,
    changes: StateChanges,
    /// The process scanner, when owners are shown or filtered on.
    scanner: Option<OwnerScanner>,
    owners: Option<ProcessMap>,
    /// Socket inode by cookie, for changes after the process closed it.
    inodes: HashMap<u64, u64>,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC at the start, in ns.
    wall_offset: i128,
    batch: Vec<Transition>,
    events: Vec<Event>,
    lost: u64,
    malformed: usize,
    /// `--lifetime`: when each connection whose opening was seen opened,
    /// by cookie (kernel ns).
    births: Option<HashMap<u64, u64>>,
    /// `-N all`: the namespaces known, to label changes by.
    namespaces: Option<Namespaces>,
    /// Namespaces a change came from that a discovery made for it did not
    /// find (gone at once): not looked for again.
    unfound: HashSet<u64>,
}

impl<'c> Exact<'c> {
    fn new(cfg: &'c Config, changes: StateChanges, lifetime: bool) -> Exact<'c> {
        let plan = crate::plan::collect(cfg, cfg.states);
        let scanner = plan
            .owners
            .map(|source| OwnerScanner::new(&cfg.proc_root, source, true));
        let (mono, real) = crate::sys::process::monotonic_and_realtime_ns();
        Exact {
            cfg,
            changes,
            scanner,
            owners: None,
            inodes: HashMap::new(),
            wall_offset: real - i128::from(mono),
            batch: Vec::with_capacity(BATCH),
            events: Vec::with_capacity(BATCH),
            lost: 0,
            malformed: 0,
            births: lifetime.then(HashMap::new),
            namespaces: None,
            unfound: HashSet::new(),
        }
    }

    /// `-N all`: finds the namespaces again, labelling the new ones.
    fn find_namespaces(&mut self, printer: &mut Printer<'_>) {
        if let Some((all, labels)) = self.namespaces.as_mut().zip(printer.netns_labels()) {
            all.refresh(labels);
        }
    }

    /// `-N all`: before a batch is printed, the namespaces are found again
    /// if a change came from one not labelled yet (created since the last
    /// discovery), so that it is named at once.
    fn label_batch(&mut self, printer: &mut Printer<'_>) {
        let Some(labels) = printer.netns_labels() else {
            return;
        };
        let unknown = |e: &Event| !labels.contains_key(&e.socket.netns);
        let unfound = &self.unfound;
        let fresh = self
            .events
            .iter()
            .any(|e| unknown(e) && !unfound.contains(&e.socket.netns));
        // A label may be of a namespace deleted since, whose inode the
        // kernel gave the next one made: a path that no longer opens it
        // says so.
        let moved = || {
            let Some(all) = &self.namespaces else {
                return false;
            };
            let heard: HashSet<u64> = self.events.iter().map(|e| e.socket.netns).collect();
            heard.into_iter().any(|n| all.moved(n))
        };
        if !fresh && !moved() {
            return;
        }
        self.find_namespaces(printer);
        let Some(labels) = printer.netns_labels() else {
            return;
        };
        if self.unfound.len() >= MAX_REMEMBERED {
            self.unfound.clear();
        }
        let unknown = self.events.iter().map(|e| e.socket.netns);
        self.unfound
            .extend(unknown.filter(|netns| !labels.contains_key(netns)));
    }

    /// Rescans the processes, if owners are needed. The last scan's map is
    /// dropped first: nothing is printed during the scan, and two maps of a
    /// million sockets would be held at once.
    fn refresh_owners(&mut self) -> Result<()> {
        if let Some(scanner) = &mut self.scanner {
            self.owners = None;
            self.owners = Some(scanner.scan().map_err(Error::runtime)?);
        }
        Ok(())
    }

    /// Prints everything the ring holds, and the lost count if it grew.
    fn print_waiting(
        &mut self,
        out: &mut BufWriter<Output<'_>>,
        printer: &mut Printer<'_>,
    ) -> Result<Option<Outcome>> {
        loop {
            self.batch.clear();
            let drained = self
                .changes
                .drain(&mut self.batch, BATCH)
                .map_err(|e| Error::runtime(format!("reading state changes: {e}")))?;
            self.note_malformed(drained.malformed);
            self.events.clear();
            for t in std::mem::take(&mut self.batch) {
                let born = self.birth(&t);
                if let Some(e) = self.event(&t) {
                    let lifetime = born.and_then(|born| Event::lifetime(&e, born));
                    self.events.push(e);
                    self.events.extend(lifetime);
                }
                self.batch.push(t);
            }
            let lost = self.changes.lost().unwrap_or(self.lost);
            if self.events.is_empty() && lost == self.lost && drained.read < BATCH {
                return Ok(None);
            }
            if let Some(stopped) = stop_before_pass(out)? {
                return Ok(Some(stopped));
            }
            self.label_batch(printer);
            let owners = self.cfg.shown_owners(self.owners.as_ref());
            let mut written = printer.events(out, self.events.iter(), [owners, owners]);
            if lost > self.lost && written.is_ok() {
                let now = Timestamp::now();
                written = printer.lost(out, now, lost - self.lost, lost);
                self.lost = lost;
            }
            if let Some(end) = end_pass(out, written)? {
                return Ok(Some(end));
            }
            if drained.read < BATCH {
                return Ok(None);
            }
        }
    }

    /// With `--lifetime`: remembers when connections open (the change from
    /// CLOSE to SYN_SENT of a connecting socket, from LISTEN to SYN_RECV of
    /// an accepted one), and for a change to CLOSE of one whose opening was
    /// seen, returns when that was.
    fn birth(&mut self, t: &Transition) -> Option<u64> {
        let births = self.births.as_mut()?;
        let cookie = t.exact.cookie;
        match (t.old, t.socket.state) {
            (TcpState::Close, TcpState::SynSent) | (TcpState::Listen, TcpState::SynRecv) => {
                if births.len() >= MAX_REMEMBERED {
                    births.clear();
                }
                births.insert(cookie, t.exact.kernel_ns);
                None
            }
            (_, TcpState::Close) => births.remove(&cookie),
            _ => None,
        }
    }

    /// The event for `t`, when it is shown.
    fn event(&mut self, t: &Transition) -> Option<Event> {
        let time = self.wall_time(t.exact.kernel_ns);
        let mut e = Event::transition(t, time);
        let cookie = t.exact.cookie;
        if t.socket.inode != 0 {
            if self.inodes.len() >= MAX_REMEMBERED {
                self.inodes.clear();
            }
            self.inodes.insert(cookie, t.socket.inode);
        } else if let Some(&inode) = self.inodes.get(&cookie) {
            e.socket.inode = inode;
        }
        if t.socket.state == TcpState::Close {
            self.inodes.remove(&cookie);
        }
        self.keeps(&mut e, t.old).then_some(e)
    }

    /// Whether the view keeps a change: the socket, in its old or its new
    /// state, is one the states and the filter show.
    fn keeps(&self, e: &mut Event, old: TcpState) -> bool {
        let owners: &dyn Owners = match &self.owners {
            Some(map) => map,
            None => &NoOwners,
        };
        let new = e.socket.state;
        let shown = [new, old].into_iter().any(|state| {
            e.socket.state = state;
            self.cfg.states.contains(state) && self.cfg.filter.matches(&e.socket, owners)
        });
        e.socket.state = new;
        shown
    }

    fn wall_time(&self, kernel_ns: u64) -> Timestamp {
        let ns = i128::from(kernel_ns) + self.wall_offset;
        Timestamp::from_millis(i64::try_from(ns / 1_000_000).unwrap_or(0))
    }

    /// Records that could not be read are said once under -v; they come
    /// from the kernel and should never happen.
    fn note_malformed(&mut self, n: usize) {
        if n > 0 && self.malformed == 0 && self.cfg.verbose > 0 {
            note(format_args!(
                "{n} unreadable state-change record(s) skipped"
            ));
        }
        self.malformed += n;
    }
}
