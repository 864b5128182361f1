//! Dumps on demand, shared: a scrape asks for a dump; if one is running it
//! waits for that one, otherwise it starts one; every scrape waiting when a
//! dump ends gets the same result. Nothing is read between scrapes.
//!
//! The dump runs on a thread of its own (the [`Collector`] and its process
//! scan block), so the HTTP side keeps answering, and a scrape that gives
//! up on its timeout does not stop the dump: whoever is still waiting gets
//! it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::watch;

use super::metrics::Telemetry;
use super::tally::Tally;
use crate::collect::each_netns::Target;
use crate::collect::Collector;
use crate::diagnose::Sysctls;
use crate::error::note;
use crate::netns::label::Labels;

/// What one dump gave: the tally of each namespace read (one without
/// `-N all`), or why there is none.
pub type DumpResult = Result<Vec<Tally>, String>;

/// The shared dumps: requests to the dump thread, results to the scrapes.
pub struct Dumps {
    state: Mutex<State>,
    results: watch::Sender<Option<(u64, Arc<DumpResult>)>>,
    own: Telemetry,
}

struct State {
    /// A dump has been asked for and has not ended.
    running: bool,
    /// Dumps ended so far.
    done: u64,
    /// To the dump thread; `None` once closed.
    requests: Option<mpsc::Sender<()>>,
}

/// The dump thread's end of the request channel.
pub struct Requests(mpsc::Receiver<()>);

impl Dumps {
    /// Shared dumps, counting failures in `own`, and the receiver the
    /// dump thread serves ([`Dumps::serve`]).
    pub fn new(own: Telemetry) -> (Dumps, Requests) {
        let (tx, rx) = mpsc::channel();
        let dumps = Dumps {
            state: Mutex::new(State {
                running: false,
                done: 0,
                requests: Some(tx),
            }),
            results: watch::channel(None).0,
            own,
        };
        (dumps, Requests(rx))
    }

    /// The result of the dump running now, or of a new one. `None` after
    /// [`Dumps::close`].
    pub async fn next(&self) -> Option<Arc<DumpResult>> {
        let mut results = self.results.subscribe();
        let wanted = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if !state.running {
                state.requests.as_ref()?.send(()).ok()?;
                state.running = true;
            }
            state.done + 1
        };
        let ready = results
            .wait_for(|r| r.as_ref().is_some_and(|(n, _)| *n >= wanted))
            .await
            .ok()?;
        ready.as_ref().map(|(_, result)| Arc::clone(result))
    }

    /// Runs the dumps asked for, on the calling thread, until
    /// [`Dumps::close`]: `dump` is [`dump`] on the serve's collector
    /// (a test's stand-in in the unit tests).
    pub fn serve(&self, requests: Requests, mut dump: impl FnMut() -> DumpResult) {
        while requests.0.recv().is_ok() {
            let result = dump();
            if let Err(why) = &result {
                self.own.errors.inc();
                note(format_args!("{why}"));
            }
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.running = false;
            state.done += 1;
            self.results
                .send_replace(Some((state.done, Arc::new(result))));
        }
    }

    /// Ends the dump thread after the dump it is running, if any.
    pub fn close(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.requests = None;
    }
}

/// Where each dump reads.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'p> {
    /// The namespace serve runs in (the one `-N NAME` entered).
    One,
    /// `-N all`: every namespace on the host, found anew at each dump (a
    /// container started since the last scrape is in the next), each
    /// counted apart under its label.
    All {
        /// Where processes are read (`/proc`).
        proc_root: &'p Path,
        /// Whether to say which namespaces vanished and engine failures.
        verbose: bool,
    },
}

/// One dump, counted and timed: the sockets of every state, their owners
/// and the namespace's sysctls; one tally per namespace of `scope`.
pub fn dump(collector: &mut Collector<'_>, scope: Scope<'_>) -> DumpResult {
    let start = Instant::now();
    let mut tallies = match scope {
        Scope::One => {
            let pass = collector.collect(true).map_err(|e| e.to_string())?;
            let sysctls = Sysctls::read();
            vec![Tally::of(
                pass.rows,
                pass.owners.as_ref(),
                sysctls,
                pass.used,
            )]
        }
        Scope::All { proc_root, verbose } => dump_all(collector, proc_root, verbose)?,
    };
    let duration = start.elapsed();
    for tally in &mut tallies {
        tally.duration = duration;
    }
    Ok(tallies)
}

/// Every namespace on the host, dumped once (one owner scan for all),
/// each namespace's rows counted with the sysctls read inside it. A
/// namespace gone before its sysctls could be read is left out (said
/// under `verbose`), as the dump itself skips one gone before its turn.
fn dump_all(
    collector: &mut Collector<'_>,
    proc_root: &Path,
    verbose: bool,
) -> Result<Vec<Tally>, String> {
    let (found, labels) = crate::netns::label::survey(proc_root, verbose);
    let targets: Vec<Target> = found.iter().map(Target::from).collect();
    let names = series_names(&targets, &labels);
    collector.set_namespaces(&targets);
    let pass = collector.collect(true).map_err(|e| e.to_string())?;
    let (rows, owners) = (pass.rows, pass.owners);
    rows.sort_by_key(|s| s.netns);
    let mut tallies = Vec::with_capacity(targets.len());
    for (target, name) in targets.iter().zip(names) {
        let Some(sysctls) = target.within(verbose, Sysctls::read) else {
            continue;
        };
        let own = crate::model::in_netns(rows, target.inode);
        let mut tally = Tally::of(own, owners.as_ref(), sysctls, pass.used);
        tally.netns = Some(name);
        tallies.push(tally);
    }
    Ok(tallies)
}

/// The `netns` label of each target: its label's name (what the NETNS
/// column shows), made unique where two namespaces share one (two
/// namespaces of one service) by the inode: `NAME net:[INODE]`, so that
/// their series never merge.
fn series_names(targets: &[Target], labels: &Labels) -> Vec<String> {
    let name = |t: &Target| {
        labels
            .get(&t.inode)
            .map_or_else(|| format!("net:[{}]", t.inode), |l| l.name.clone())
    };
    let mut uses: HashMap<String, usize> = HashMap::new();
    for t in targets {
        *uses.entry(name(t)).or_default() += 1;
    }
    targets
        .iter()
        .map(|t| match name(t) {
            shared if uses[&shared] > 1 => format!("{shared} net:[{}]", t.inode),
            unique => unique,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// `-N all`'s label values: the names as listed, but never one for
    /// two namespaces.
    #[test]
    fn namespaces_sharing_a_name_are_told_apart_by_inode() {
        use crate::netns::label::Label;
        let target = |inode| Target {
            inode,
            path: format!("/run/netns/{inode}").into(),
        };
        let targets = [target(1), target(2), target(3), target(4)];
        let named = |name: &str| Label {
            name: name.into(),
            ..Label::default()
        };
        let labels: Labels = [
            (1, named("host")),
            (2, named("a.service")),
            (3, named("a.service")),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            series_names(&targets, &labels),
            ["host", "a.service net:[2]", "a.service net:[3]", "net:[4]"]
        );
    }

    /// Two scrapes that arrive while a dump runs get that dump, not a
    /// second one; a scrape after it ends gets a new one.
    #[test]
    fn scrapes_during_a_dump_share_it() {
        let (dumps, requests) = Dumps::new(Telemetry::default());
        let (release, released) = mpsc::channel::<()>();
        let dumped = AtomicUsize::new(0);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        std::thread::scope(|scope| {
            let (shared, count) = (&dumps, &dumped);
            scope.spawn(move || {
                shared.serve(requests, move || {
                    released.recv().unwrap();
                    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                    Err(format!("dump {n}"))
                })
            });
            // Both scrapes ask at once; the dump ends well after both wait.
            let release_later = release.clone();
            scope.spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                release_later.send(()).unwrap();
            });
            let (first, second) =
                runtime.block_on(async { tokio::join!(dumps.next(), dumps.next()) });
            let (first, second) = (first.unwrap(), second.unwrap());
            assert!(Arc::ptr_eq(&first, &second));
            assert_eq!(first.as_ref().as_ref().unwrap_err(), "dump 1");
            release.send(()).unwrap();
            let third = runtime.block_on(dumps.next()).unwrap();
            assert_eq!(third.as_ref().as_ref().unwrap_err(), "dump 2");
            dumps.close();
        });
        assert_eq!(dumped.load(Ordering::SeqCst), 2);
    }
}
