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

/// One dump, counted and timed: the sockets of every state, their owners
/// and the namespace's sysctls.
pub fn dump(collector: &mut Collector<'_>) -> DumpResult {
    let start = Instant::now();
    let pass = collector.collect(true).map_err(|e| e.to_string())?;
    let mut tally = Tally::of(pass.rows, pass.owners.as_ref(), Sysctls::read(), pass.used);
    tally.duration = start.elapsed();
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

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
