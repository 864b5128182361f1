//! `serve --textfile PATH`: the metrics written to a file for
//! node_exporter's textfile collector, in the Prometheus text format. The
//! file is written beside PATH under a name the collector skips (it reads
//! only `*.prom`) and renamed over PATH, so that it is always whole. Once,
//! or with `--interval` every interval until a stop signal.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::exposition::Format;
use super::metrics::{self, Outcome, Telemetry};
use super::scrape::{self, Scope};
use crate::collect::Collector;
use crate::error::{exit_after_signal, Error, Result, EXIT_OK, EXIT_RUNTIME};
use crate::watch::signals::{Signals, Wake};

/// Writes the metrics to `path` once, or every `interval` until a stop
/// signal; the exit status (each dump reads `scope`). A failed dump is written as such
/// (`tcpstat_scrape_success 0`); once, it also ends with status 1.
/// `(interval, max_series)`: `--interval` and `--max-series`.
pub fn run(
    collector: &mut Collector<'_>,
    scope: Scope<'_>,
    path: &Path,
    (interval, max_series): (Option<Duration>, usize),
    signals: &Signals,
) -> Result<i32> {
    let own = Telemetry::default();
    loop {
        let start = Instant::now();
        let dump = scrape::dump(collector, scope);
        let outcome = match &dump {
            Ok(tallies) => Outcome::Dump(tallies),
            Err(why) => {
                own.errors.inc();
                crate::error::note(format_args!("{why}"));
                Outcome::Failed
            }
        };
        own.scrapes.inc();
        let registry = metrics::build(outcome, &own, max_series);
        let text = Format::Text
            .encode(&registry)
            .map_err(|_| Error::runtime("the metrics could not be encoded"))?;
        write_atomically(path, text.as_bytes()).map_err(|e| {
            // The line is escaped where every error is printed.
            Error::runtime(format!("writing {}: {e}", path.display()))
        })?;
        let Some(interval) = interval else {
            return Ok(if dump.is_ok() { EXIT_OK } else { EXIT_RUNTIME });
        };
        let wake = signals
            .wait(start + interval, None, None)
            .map_err(|e| Error::runtime(format!("reading signals: {e}")))?;
        if let Wake::Stop(signal) = wake {
            return Ok(exit_after_signal(signal));
        }
    }
}

/// `bytes` written to a temporary file beside `path`, then renamed over
/// it; the temporary file is removed when anything fails.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = temporary_beside(path)?;
    let written = File::create(&temporary).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&temporary, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    renamed
}

/// `.NAME.PID.tmp` in the directory of `path`.
fn temporary_beside(path: &Path) -> io::Result<PathBuf> {
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file name",
        ));
    };
    let mut temporary = std::ffi::OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{}.tmp", std::process::id()));
    Ok(path.with_file_name(temporary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("tcpstat-textfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tcpstat.prom");
        write_atomically(&path, b"a 1\n").unwrap();
        write_atomically(&path, b"a 2\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"a 2\n");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["tcpstat.prom"]);
        assert!(write_atomically(&dir.join("missing/x.prom"), b"").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
