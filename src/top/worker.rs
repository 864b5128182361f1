//! The collecting thread: one pass through [`Collector`] per interval (the
//! same pass as every face), rates between passes ([`RateMeter`]), the
//! marks against the pass before ([`Tracker`]), the `-s` summary, then
//! the view the keys asked for ([`view::derive`](super::view::derive)), handed to the drawing thread
//! as a [`Snapshot`]. A new sort, filter or grouping is derived here too,
//! from the last pass, without reading the sockets again.
//!
//! Under `-N all` the namespaces are found again before every pass but
//! the first ([`Namespaces`], as `-c` does): one created meanwhile is read
//! and named from then on, one gone is no longer read. Each refresh
//! carries the namespaces it was read from and their labels (shared, and
//! replaced, never changed, when a discovery changes them), so that the
//! drawing thread names a row, and `k` closes it, by the pass it shows.

use super::refresh::{Refresh, Tracker};
use super::view::{derive, Snapshot, ViewSpec};
use super::Msg;
use crate::collect::each_netns::Target;
use crate::collect::Collector;
use crate::diagnose::{summary, Sysctls};
use crate::model::time::Timestamp;
use crate::netns::label::Labels;
use crate::watch::namespaces::Namespaces;
use crate::watch::rates::{self, RateMeter};
use crate::watch::schedule::Schedule;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the drawing thread asks of the collecting thread.
#[derive(Debug)]
pub enum Command {
    /// Show the last pass this way (and the next ones).
    Spec(ViewSpec),
    /// Stop or resume reading passes.
    Pause(bool),
    /// Read a pass now (after a socket was closed).
    Refresh,
}

/// Tells the drawing thread when the collecting thread ends by a panic.
struct Crash(Sender<Msg>);

impl Drop for Crash {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send(Msg::Crashed);
        }
    }
}

/// `-N all`: the namespaces read, found again before each pass, and
/// what the refreshes carry of them.
pub struct AllNetns {
    found: Namespaces,
    /// The labels, kept up to date by each discovery.
    labels: Labels,
    /// What the refreshes since the last change carry.
    shared: (Arc<[Target]>, Arc<Labels>),
}

impl AllNetns {
    /// The namespaces found at the start (`found`'s targets) and their
    /// labels.
    pub fn new(found: Namespaces, labels: Labels) -> AllNetns {
        let shared = (found.targets().into(), Arc::new(labels.clone()));
        AllNetns {
            found,
            labels,
            shared,
        }
    }

    /// Finds the namespaces again, for `collector` to read from its next
    /// pass on and the refreshes to carry.
    fn refresh(&mut self, collector: &mut Collector<'_>) {
        let change = self.found.refresh_for(&mut self.labels, collector);
        // New paths to the same namespaces change what `k` opens too.
        if change.is_empty() && *self.shared.0 == *self.found.targets() {
            return;
        }
        self.shared = (self.found.targets().into(), Arc::new(self.labels.clone()));
    }
}

/// Runs passes until the commands' sender is dropped; with `all`
/// (`-N all`), finding the namespaces again before each pass but the
/// first.
pub fn run(
    mut collector: Collector<'_>,
    interval: Duration,
    mut all: Option<AllNetns>,
    commands: Receiver<Command>,
    out: Sender<Msg>,
) {
    let _crash = Crash(out.clone());
    let mut passes = 0u64;
    let mut spec = ViewSpec::default();
    let mut tracker = Tracker::new();
    let mut meter = RateMeter::new();
    let mut last: Option<Arc<Refresh>> = None;
    let mut schedule = Schedule::new(interval);
    let mut paused = false;
    loop {
        if !paused {
            if let Some(all) = all.as_mut().filter(|_| passes > 0) {
                all.refresh(&mut collector);
            }
            passes += 1;
            match pass(&mut collector, &mut tracker, &mut meter, last.as_deref()) {
                Ok(refresh) => {
                    let (targets, labels) = all.as_ref().map(|a| a.shared.clone()).unzip();
                    let refresh = Arc::new(Refresh {
                        labels,
                        targets,
                        ..refresh
                    });
                    if !send(&out, derive(&refresh, &spec)) {
                        return;
                    }
                    last = Some(refresh);
                }
                Err(e) => {
                    let why = format!("reading the sockets failed: {e}");
                    if out.send(Msg::Failed(why)).is_err() {
                        return;
                    }
                }
            }
        }
        let (deadline, _) = schedule.advance(Instant::now());
        // Commands until the next pass is due.
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let command = match commands.recv_timeout(wait) {
                Ok(c) => c,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            match command {
                Command::Spec(s) => {
                    // Only the last of several queued specs is derived.
                    spec = latest(s, &commands, &mut paused);
                    if let Some(refresh) = &last {
                        if !send(&out, derive(refresh, &spec)) {
                            return;
                        }
                    }
                }
                Command::Pause(p) => paused = p,
                Command::Refresh => break,
            }
        }
    }
}

/// The last of the specs waiting, taking pauses met on the way.
fn latest(mut spec: ViewSpec, commands: &Receiver<Command>, paused: &mut bool) -> ViewSpec {
    while let Ok(next) = commands.try_recv() {
        match next {
            Command::Spec(s) => spec = s,
            Command::Pause(p) => *paused = p,
            Command::Refresh => {}
        }
    }
    spec
}

fn send(out: &Sender<Msg>, snapshot: Snapshot) -> bool {
    out.send(Msg::Snapshot(Arc::new(snapshot))).is_ok()
}

/// One pass, marked against the last.
fn pass(
    collector: &mut Collector<'_>,
    tracker: &mut Tracker,
    meter: &mut RateMeter,
    last: Option<&Refresh>,
) -> crate::error::Result<Refresh> {
    let time = Timestamp::now().to_string();
    let started = Instant::now();
    let pass = collector.collect(true)?;
    meter.update(pass.rows, rates::read_at(started));
    let summary = summary::summarize(pass.rows, pass.owners.as_ref(), &Sysctls::read());
    let rows = std::mem::take(pass.rows);
    let entries = tracker.entries(rows, pass.owners.as_ref(), last, started);
    let refresh = Refresh {
        entries,
        owners: pass.owners,
        time: time.get(11..19).unwrap_or(&time).to_string(),
        ..Refresh::default()
    };
    Ok(refresh.with_summary(summary))
}
