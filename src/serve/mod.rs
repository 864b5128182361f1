//! `tcpstat serve`: connection-state metrics for Prometheus, computed at
//! each scrape from one dump through the same [`crate::collect`] pass and
//! [`crate::diagnose`] summary as `-s`; or written to a file for
//! node_exporter's textfile collector. With `-N all`, every namespace on
//! the host, found anew at each scrape, each counted apart and its series
//! labelled `netns`.
//!
//! - [`tally`]: rows, owners and sysctls → the values (pure).
//! - [`metrics`]: values → a `prometheus-client` registry (pure).
//! - [`exposition`]: the registry as OpenMetrics or the 0.0.4 text format,
//!   chosen from `Accept`.
//! - [`scrape`]: the shared dumps scrapes wait for.
//! - [`http`]: the server (hyper), its bounds, the stop signals.
//! - [`textfile`]: the file, written whole.

pub mod exposition;
pub mod http;
pub mod metrics;
pub mod scrape;
pub mod tally;
pub mod textfile;

use std::sync::Arc;

use crate::collect::Collector;
use crate::config::{Config, Serve, ServeOutput};
use crate::error::{exit_after_signal, note, Error, Result};
use crate::watch::signals::{Signals, Wake};
use http::Shared;
use metrics::Telemetry;
use scrape::{Dumps, Scope};

/// Runs `serve` as `cfg` says; the exit status. `signals` were blocked
/// before any thread started, and the namespace (`-N`) entered.
pub fn run(cfg: &Config, serve: &Serve, signals: &Signals) -> Result<i32> {
    let mut collector = Collector::new(crate::plan::collect(cfg, cfg.states));
    let namespaces = match cfg.all_netns {
        true => Scope::All {
            proc_root: &cfg.proc_root,
            verbose: cfg.verbose > 0,
        },
        false => Scope::One,
    };
    let addr = match &serve.output {
        ServeOutput::Textfile { path, interval } => {
            let every = (*interval, serve.max_series);
            return textfile::run(&mut collector, namespaces, path, every, signals);
        }
        ServeOutput::Http(addr) => *addr,
    };
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| Error::runtime(format!("cannot listen on {addr}: {e}")))?;
    if cfg.verbose > 0 {
        note(format_args!("serving metrics on http://{addr}/metrics"));
    }
    let own = Telemetry::default();
    let (dumps, requests) = Dumps::new(own.clone());
    let shared = Arc::new(Shared {
        own,
        dumps,
        max_series: serve.max_series,
    });
    let (quitting, quit) = std::io::pipe().map_err(|e| Error::runtime(format!("pipe: {e}")))?;
    let served = std::thread::scope(|scope| {
        let dumper = Arc::clone(&shared);
        scope.spawn(move || {
            dumper
                .dumps
                .serve(requests, || scrape::dump(&mut collector, namespaces))
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        scope.spawn(move || watch_signals(signals, &quitting, stop));
        let served = http::run(listener, stopped, Arc::clone(&shared));
        // The dump thread ends after the dump it may be running; the
        // signal thread when the pipe closes.
        shared.dumps.close();
        drop(quit);
        served
    });
    let signal = served.map_err(|e| Error::runtime(format!("serving metrics: {e}")))?;
    Ok(exit_after_signal(signal))
}

/// Waits for a stop signal and hands it to the server, or ends when
/// `quitting` becomes readable (its writer closed).
fn watch_signals(
    signals: &Signals,
    quitting: &std::io::PipeReader,
    stop: tokio::sync::oneshot::Sender<libc::c_int>,
) {
    use std::os::fd::AsRawFd;
    loop {
        let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
        match signals.wait(far, Some(quitting.as_raw_fd()), None) {
            Ok(Wake::Stop(signal)) => {
                let _ = stop.send(signal);
                return;
            }
            Ok(Wake::Deadline) => continue,
            Ok(Wake::Readable | Wake::Closed) => return,
            Err(e) => {
                note(format_args!("reading signals: {e}"));
                return;
            }
        }
    }
}
