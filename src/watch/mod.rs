//! Watch mode: `-c [SECS]` repeats the listing, `--events` prints what
//! changed between passes, until `--count` passes are done, a stop signal
//! comes (SIGINT, SIGTERM or SIGHUP: exit status 128 + its number, after
//! the pass being written), or the reader closes the pipe (status 0).
//!
//! Each pass runs the one-shot pipeline again (one dump, one process scan
//! with `-p`) into buffers kept from the pass before, and is flushed as
//! soon as it is written, so a reader at the end of a pipe sees it at
//! once; [`output`] writes it so that a stop signal is heard even while
//! the reader is slow (the one-shot listing writes through the same
//! [`signals`] and [`output`]). Between passes the loop sleeps in `poll`
//! on a signalfd ([`signals`]), on stdout when it is a pipe or socket (to
//! end when its reader is gone, even if nothing is being written), and,
//! with `--events`, on the kernel's destroy notifications
//! ([`crate::source::destroy`]), which [`track`] merges into the next
//! pass. With tcp_info, [`rates`] measures each connection between
//! passes. That is `--events` sampled; exact `--events` ([`exact`]) hears
//! every state change from a kernel tracepoint instead, where it can be
//! loaded.

pub mod exact;
pub mod namespaces;
pub mod output;
pub mod rates;
pub mod schedule;
pub mod signals;
pub mod track;

use crate::collect::each_netns::Target;
use crate::collect::Collector;
use crate::config::{Config, Format, Watch};
use crate::error::{note, Error, Result};
use crate::filter::{NoOwners, Owners};
use crate::model::time::Timestamp;
use crate::model::StateSet;
use crate::netns::label::Labels;
use crate::owners::ProcessMap;
use crate::render::Printer;
use crate::source::destroy::{DestroyListener, Destroyed, DrainStats};
use namespaces::{Change, Namespaces};
use output::Output;
use rates::RateMeter;
use schedule::Schedule;
use signals::{Signals, Wake};
use std::io::{self, BufWriter};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;
use track::{PassTime, Tracker, View};

/// Most destroy notifications kept between two passes; more are dropped
/// (and said under -v) so that a burst cannot grow memory without bound.
const MAX_NOTICES: usize = 1 << 17;

/// How watch mode ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `--count` passes were done.
    Done,
    /// A stop signal arrived (its number).
    Stopped(libc::c_int),
}

impl Outcome {
    /// The exit status it ends the program with.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Done => crate::error::EXIT_OK,
            Outcome::Stopped(signal) => crate::error::exit_after_signal(signal),
        }
    }
}

/// Runs watch mode on stdout. `signals` must have been blocked before any
/// thread started.
///
/// `namespaces` are, under `-N all`, the namespaces found at the start
/// and their labels; each pass finds them again ([`namespaces`]).
pub fn run(
    cfg: &Config,
    plan: Watch,
    signals: &Signals,
    namespaces: (&[Target], Option<Labels>),
) -> Result<Outcome> {
    let mut out = BufWriter::with_capacity(1 << 16, Output::stdout(signals));
    if plan.events {
        watch_events(cfg, plan, signals, &mut out, namespaces)
    } else {
        watch_listing(cfg, plan, signals, &mut out, namespaces)
    }
}

/// `-c`: the listing, again and again.
fn watch_listing(
    cfg: &Config,
    plan: Watch,
    signals: &Signals,
    out: &mut BufWriter<Output<'_>>,
    (targets, labels): (&[Target], Option<Labels>),
) -> Result<Outcome> {
    let mut reading = crate::plan::collect(cfg, cfg.states);
    reading.namespaces = targets;
    let mut collector = Collector::new(reading);
    let mut printer = Printer::new(cfg, plan.interval);
    let mut all = None;
    if let Some(labels) = labels {
        printer = printer.with_netns(labels);
        all = Some(Namespaces::new(cfg, targets));
    }
    let mut passes = Passes::new(plan);
    let mut meter = cfg.needs_info().then(RateMeter::new);
    if meter.is_none() && cfg.streams() {
        let (collector, printer) = (&mut collector, &mut printer);
        return watch_streaming(cfg, (collector, printer, all), &mut passes, signals, out);
    }
    loop {
        if passes.done > 0 {
            find_namespaces(all.as_mut(), &mut collector, &mut printer);
        }
        let time = Timestamp::now();
        let started = Instant::now();
        let pass = collector.collect(true)?;
        if let Some(meter) = &mut meter {
            meter.update(pass.rows, rates::read_at(started));
        }
        crate::render::order::arrange(pass.rows, cfg);
        let shown = cfg.shown_owners(pass.owners.as_ref());
        let when = (time, passes.skipped);
        if let Some(end) = passes.write(out, |out| printer.pass(out, when, pass.rows, shown))? {
            return Ok(end);
        }
        let wait = |deadline, hangup| sleep(signals, deadline, None, hangup, || {});
        if let Some(end) = passes.next(out, wait)? {
            return Ok(end);
        }
    }
}

/// Under `-N all`, before every pass but the first: the namespaces found
/// again, for the collector to read and the printer to name.
fn find_namespaces(
    all: Option<&mut Namespaces>,
    collector: &mut Collector<'_>,
    printer: &mut Printer<'_>,
) -> Option<Change> {
    let (all, labels) = all.zip(printer.netns_labels())?;
    Some(all.refresh_for(labels, collector))
}

/// The rhythm both watch modes keep: a pass is written unless a stop
/// signal came while it was read, and flushed; after `--count` passes the
/// loop is done, otherwise it waits for the next slot of the schedule.
/// `-c` with each pass written as its rows are read: memory stays flat
/// whatever the number of sockets (nothing needs a whole pass: no rates,
/// no sorting).
fn watch_streaming(
    cfg: &Config,
    (collector, printer, mut all): (&mut Collector<'_>, &mut Printer<'_>, Option<Namespaces>),
    passes: &mut Passes,
    signals: &Signals,
    out: &mut BufWriter<Output<'_>>,
) -> Result<Outcome> {
    loop {
        if passes.done > 0 {
            find_namespaces(all.as_mut(), collector, printer);
        }
        if let Some(stopped) = stop_before_pass(out)? {
            return Ok(stopped);
        }
        let when = (Timestamp::now(), passes.skipped);
        let mut begun = false;
        let streamed = collector.stream(&mut |rows, owners| {
            if !std::mem::replace(&mut begun, true) {
                printer.pass_begin(out, when)?;
            }
            printer.pass_rows(out, rows, cfg.shown_owners(owners))
        })?;
        let written = streamed.written.and_then(|()| {
            if !begun {
                printer.pass_begin(out, when)?;
            }
            printer.pass_end(out)
        });
        if let Some(end) = end_pass(out, written)? {
            return Ok(end);
        }
        let wait = |deadline, hangup| sleep(signals, deadline, None, hangup, || {});
        if let Some(end) = passes.next(out, wait)? {
            return Ok(end);
        }
    }
}

struct Passes {
    count: Option<u64>,
    done: u64,
    schedule: Schedule,
    /// Whether a pass that overran the interval was said on stderr.
    told_late: bool,
    /// Slots skipped before the coming pass, because the last overran.
    skipped: u64,
}

impl Passes {
    fn new(plan: Watch) -> Passes {
        Passes {
            count: plan.count,
            done: 0,
            schedule: Schedule::new(plan.interval),
            told_late: false,
            skipped: 0,
        }
    }

    /// Writes a pass with `write` (see [`stop_before_pass`] and
    /// [`end_pass`]); `Some` ends the loop with that outcome.
    fn write(
        &mut self,
        out: &mut BufWriter<Output<'_>>,
        write: impl FnOnce(&mut BufWriter<Output<'_>>) -> io::Result<()>,
    ) -> Result<Option<Outcome>> {
        if let Some(stopped) = stop_before_pass(out)? {
            return Ok(Some(stopped));
        }
        let written = write(out);
        end_pass(out, written)
    }

    /// After a pass: done after `--count` of them, otherwise `wait` until
    /// the next slot (given the deadline and stdout's hangup descriptor).
    fn next(
        &mut self,
        out: &BufWriter<Output<'_>>,
        wait: impl FnOnce(Instant, Option<RawFd>) -> Result<Option<Outcome>>,
    ) -> Result<Option<Outcome>> {
        self.done += 1;
        if self.count.is_some_and(|n| self.done >= n) {
            return Ok(Some(Outcome::Done));
        }
        let now = Instant::now();
        let took = now.saturating_duration_since(self.schedule.current_slot());
        let (deadline, skipped) = self.schedule.advance(now);
        self.skipped = skipped;
        if skipped > 0 && !self.told_late {
            self.told_late = true;
            note(format_args!(
                "a pass took {:.2} s, longer than the {} s interval, and the next {} \
                 skipped: passes are further apart than asked while that lasts \
                 (said once)",
                took.as_secs_f64(),
                self.schedule.interval().as_secs_f64(),
                if skipped == 1 {
                    "slot is".to_string()
                } else {
                    format!("{skipped} slots are")
                },
            ));
        }
        wait(deadline, out.get_ref().hangup_fd())
    }
}

/// Sleeps until `deadline`, calling `on_readable` whenever `fd` has
/// something; ends early when a stop signal arrives, or (as an error) when
/// `hangup` says stdout's reader is gone.
fn sleep(
    signals: &Signals,
    deadline: Instant,
    fd: Option<RawFd>,
    hangup: Option<RawFd>,
    mut on_readable: impl FnMut(),
) -> Result<Option<Outcome>> {
    loop {
        match signals.wait(deadline, fd, hangup).map_err(wait_error)? {
            Wake::Stop(signal) => return Ok(Some(Outcome::Stopped(signal))),
            Wake::Closed => return Err(reader_gone()),
            Wake::Deadline => return Ok(None),
            Wake::Readable => on_readable(),
        }
    }
}

/// `--events`: what changed since the last pass.
fn watch_events(
    cfg: &Config,
    plan: Watch,
    signals: &Signals,
    out: &mut BufWriter<Output<'_>>,
    (targets, labels): (&[Target], Option<Labels>),
) -> Result<Outcome> {
    if let Some(changes) = exact::choose(plan, labels.is_some())? {
        return exact::run(cfg, plan, signals, out, changes, (targets, labels));
    }
    if plan.lifetime {
        note(format_args!(
            "--lifetime needs exact --events (root and kernel BTF): polls cannot time a \
             connection's life, so sampled mode prints no lifetime lines"
        ));
    }
    let tracked = track::tracking_states(cfg.states);
    let mut reading = crate::plan::collect(cfg, tracked);
    reading.namespaces = targets;
    let mut collector = Collector::new(reading);
    // The text line prints little of a gone socket: the tracker keeps
    // compact entries. JSON, -i and -m print all of it: whole rows too.
    let compact = cfg.format == Format::Table && !cfg.columns.info && !cfg.columns.memory;
    let mut tracker = if compact {
        Tracker::compact()
    } else {
        Tracker::new()
    };
    let mut printer = Printer::new(cfg, plan.interval);
    let mut all = None;
    if let Some(labels) = labels {
        printer = printer.with_netns(labels);
        all = Some(Namespaces::new(cfg, targets));
    }
    let mut destroy = Notifications::join(cfg, all.as_ref().map(|all| all.targets()));
    let mut passes = Passes::new(plan);
    let view = View {
        states: cfg.states,
        filter: &cfg.filter,
    };
    let mut previous: Option<ProcessMap> = None;
    let mut meter = cfg.needs_info().then(RateMeter::new);
    // Rates need the whole pass.
    let streams = meter.is_none();
    let header = printer.events_header(out, false, false);
    if let Some(end) = end_pass(out, header)? {
        return Ok(end);
    }
    loop {
        if passes.done > 0 {
            if let Some(change) = find_namespaces(all.as_mut(), &mut collector, &mut printer) {
                destroy.follow(&change);
            }
        }
        let now = PassTime::now();
        // Whether the tracker was given the owner map with the rows.
        let (map, given) = if streams {
            // Rows go to the tracker as they are read; they wait for the
            // owner scan only when the filter needs owners.
            let wait = cfg.filter.needs_owners();
            let mut take = |rows: &mut Vec<_>, owners: Option<&ProcessMap>| {
                tracker.take(rows, owners.map(|m| m as &dyn Owners), view);
                Ok(())
            };
            let (streamed, map) = collector.stream_unfiltered(&mut take, wait)?;
            streamed.written.map_err(Error::Output)?;
            (map, wait)
        } else {
            let started = Instant::now();
            let pass = collector.collect(false)?;
            if let Some(meter) = &mut meter {
                meter.update(pass.rows, rates::read_at(started));
            }
            let owners: &dyn Owners = match &pass.owners {
                Some(map) => map,
                None => &NoOwners,
            };
            tracker.take(pass.rows, Some(owners), view);
            (pass.owners, true)
        };
        // Notifications that came during the dump belong to this pass.
        destroy.drain_into(&mut tracker);
        let owners: &dyn Owners = match &map {
            Some(map) => map,
            None => &NoOwners,
        };
        tracker.finish((!given).then_some(owners), view, now);
        let gone = match tracker.keeps_rows() {
            true => previous.as_ref(),
            false => tracker.gone_owners(),
        };
        let owners = [map.as_ref(), gone].map(|m| cfg.shown_owners(m));
        let events = tracker.events();
        if let Some(end) = passes.write(out, |out| printer.events(out, events, owners))? {
            return Ok(end);
        }
        previous = map.filter(|_| tracker.keeps_rows());
        let wait = |deadline, hangup| destroy.wait(signals, deadline, hangup, &mut tracker);
        if let Some(end) = passes.next(out, wait)? {
            return Ok(end);
        }
    }
}

/// A stop signal that came while the pass was collected: the loop ends
/// before a pass nobody wants any more is written.
fn stop_before_pass(out: &mut BufWriter<Output<'_>>) -> Result<Option<Outcome>> {
    let stop = out.get_mut().stop_requested().map_err(signal_error)?;
    Ok(stop.map(Outcome::Stopped))
}

/// Flushes a pass that `written` says was printed. A stop signal that came
/// while it was written ends the loop now: after the complete pass, or
/// after whatever a stalled reader took (see [`output`]).
fn end_pass(out: &mut BufWriter<Output<'_>>, written: io::Result<()>) -> Result<Option<Outcome>> {
    let stop = output::finish(out, written).map_err(Error::Output)?;
    Ok(stop.map(Outcome::Stopped))
}

/// Stdout's reader went away while nothing was being written: the same
/// quiet end as a write that fails with EPIPE.
fn reader_gone() -> Error {
    Error::Output(io::ErrorKind::BrokenPipe.into())
}

fn signal_error(e: io::Error) -> Error {
    Error::runtime(format!("reading signals: {e}"))
}

fn wait_error(e: io::Error) -> Error {
    Error::runtime(format!("waiting for the next pass: {e}"))
}

/// The destroy notifications, from the groups that could be joined: in
/// this process's namespace, or under `-N all` in each namespace read
/// (the groups are per namespace: a socket opened in one hears only that
/// one's; NETLINK_LISTEN_ALL_NSID would hear others only where they have
/// an nsid in ours, which `ip netns add` does not assign, so one listener
/// is opened inside each).
struct Notifications {
    /// Each listener, with the inode its notifications are tagged with
    /// (0 for this process's namespace, as its dumped rows are).
    listeners: Vec<(u64, DestroyListener)>,
    /// The families whose groups are joined; none under `-l`.
    families: Option<(bool, bool)>,
    received: Vec<Destroyed>,
    fds: Vec<RawFd>,
    verbose: bool,
    /// Whether lost notifications were already said.
    told_lost: bool,
    /// Whether forged notifications were already said.
    told_forged: bool,
}

impl Notifications {
    /// Joins the destroy groups of the families watched, here or in each
    /// of `namespaces`. Should that fail (it needs no privilege, but a
    /// socket), it is said under -v and polling goes on.
    fn join(cfg: &Config, namespaces: Option<&[Target]>) -> Notifications {
        let connections = cfg.states.intersection(StateSet::connections());
        let mut n = Notifications {
            listeners: Vec::new(),
            // -l: listeners are never notified.
            families: (!connections.is_empty()).then_some((cfg.ipv4, cfg.ipv6)),
            received: Vec::new(),
            fds: Vec::new(),
            verbose: cfg.verbose > 0,
            told_lost: false,
            told_forged: false,
        };
        match namespaces {
            None => {
                if let Some((v4, v6)) = n.families {
                    let joined = DestroyListener::join(v4, v6);
                    n.add(0, joined.map_err(|e| e.to_string()));
                }
            }
            Some(targets) => targets.iter().for_each(|t| n.join_in(t)),
        }
        n
    }

    /// Joins the groups inside the namespace `t` (from a thread that
    /// entered it: a netlink socket belongs to the namespace it was opened
    /// in).
    fn join_in(&mut self, t: &Target) {
        let Some((v4, v6)) = self.families else {
            return;
        };
        let joined = crate::netns::within(&t.path, || DestroyListener::join(v4, v6));
        let joined = match joined {
            Ok(Ok(listener)) => Ok(listener),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        self.add(t.inode, joined);
    }

    fn add(&mut self, netns: u64, joined: std::result::Result<DestroyListener, String>) {
        match joined {
            Ok(listener) => self.listeners.push((netns, listener)),
            Err(e) if self.verbose => {
                let place = match netns {
                    0 => String::new(),
                    inode => format!(" of network namespace net:[{inode}]"),
                };
                note(format_args!(
                    "cannot join the sock_diag destroy groups{place} ({e}); \
                     connections that open and close between two polls will be missed"
                ));
            }
            Err(_) => {}
        }
        self.polled();
    }

    /// Takes the listeners' descriptors for `poll`, after they changed.
    fn polled(&mut self) {
        self.fds = self.listeners.iter().map(|(_, l)| l.as_raw_fd()).collect();
    }

    /// Follows the namespaces read: joins the groups of the new ones,
    /// leaves those of the ones gone.
    fn follow(&mut self, change: &Change) {
        self.listeners
            .retain(|(netns, _)| !change.gone.contains(netns));
        for t in &change.appeared {
            self.join_in(t);
        }
        self.polled();
    }

    /// Hands what has arrived to the tracker, for its next pass, each
    /// notification tagged with the namespace it was heard in.
    fn drain_into(&mut self, tracker: &mut Tracker) {
        // The most notifications waiting at once, all namespaces together.
        let room = MAX_NOTICES.saturating_sub(tracker.pending_notices());
        let mut listeners = std::mem::take(&mut self.listeners);
        let before = listeners.len();
        listeners.retain_mut(|(netns, listener)| {
            let from = self.received.len();
            let drained = listener.drain(&mut self.received, room);
            for d in &mut self.received[from..] {
                d.socket.netns = *netns;
            }
            self.tell(drained)
        });
        self.listeners = listeners;
        if self.listeners.len() != before {
            self.polled();
        }
        if !self.received.is_empty() {
            tracker.note_destroyed(self.received.drain(..), Timestamp::now());
        }
        if self.received.capacity() > 4096 {
            self.received.shrink_to(1024);
        }
    }

    /// Says (once each, under -v) what a drain lost or dropped; false when
    /// the listener failed and is given up.
    fn tell(&mut self, drained: io::Result<DrainStats>) -> bool {
        if let Ok(stats) = &drained {
            if stats.forged > 0 && self.verbose && !self.told_forged {
                self.told_forged = true;
                note(format_args!(
                    "dropped {} destroy notification(s) sent by a process (netlink port id {}), \
                     not by the kernel; such messages are never shown",
                    stats.forged,
                    stats.forged_from.unwrap_or(0)
                ));
            }
        }
        match drained {
            Ok(stats) if stats.overruns + stats.skipped > 0 && self.verbose && !self.told_lost => {
                self.told_lost = true;
                note(format_args!(
                    "destroy notifications lost ({} overruns, {} dropped); \
                     some short connections may not be reported",
                    stats.overruns, stats.skipped
                ));
                true
            }
            Ok(_) => true,
            Err(e) => {
                if self.verbose {
                    note(format_args!("destroy notifications stopped: {e}"));
                }
                false
            }
        }
    }

    /// Sleeps until `deadline` (see [`sleep`]), taking notifications as
    /// they come.
    fn wait(
        &mut self,
        signals: &Signals,
        deadline: Instant,
        hangup: Option<RawFd>,
        tracker: &mut Tracker,
    ) -> Result<Option<Outcome>> {
        loop {
            match signals
                .wait_any(deadline, &self.fds, hangup)
                .map_err(wait_error)?
            {
                Wake::Stop(signal) => return Ok(Some(Outcome::Stopped(signal))),
                Wake::Closed => return Err(reader_gone()),
                Wake::Deadline => return Ok(None),
                Wake::Readable => self.drain_into(tracker),
            }
        }
    }
}
