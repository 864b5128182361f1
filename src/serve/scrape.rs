//! Dumps on demand, shared: a scrape asks for a dump; if one is running it
//! waits for that one, otherwise it starts one; every scrape waiting when a
//! dump ends gets the same result. Nothing is read between scrapes.
//!
//! The dump runs on a thread of its own (the [`Collector`] and its process
//! scan block), so the HTTP side keeps answering, and a scrape that gives
//! up on its timeout does not stop the dump: whoever is still waiting gets
//! it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::watch;

use super::metrics::Telemetry;
use super::tally::Tally;
use crate::collect::Collector;
use crate::diagnose::Sysctls;
use crate::error::note;

/// What one dump gave: the tally, or why there is none.
pub type DumpResult = Result<Tally, String>;

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
    /// [`Dumps::close`].
    pub fn serve(&self, requests: Requests, collector: &mut Collector<'_>) {
        while requests.0.recv().is_ok() {
            let result = dump(collector);
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

/// One dump, counted and timed: the sockets of every state, their owners
/// and the namespace's sysctls.
pub fn dump(collector: &mut Collector<'_>) -> DumpResult {
    let start = Instant::now();
    let pass = collector.collect(true).map_err(|e| e.to_string())?;
    let mut tally = Tally::of(pass.rows, pass.owners.as_ref(), Sysctls::read(), pass.used);
    tally.duration = start.elapsed();
    Ok(tally)
}
