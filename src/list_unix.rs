//! The `-x` face: one listing of unix domain sockets, netstat's table or
//! a JSON array, through `collect::unix` and `render::unix_table`.

use crate::collect::unix::{self, Selection};
use crate::config::{Config, Format, Scope};
use crate::error::{exit_after_signal, note, Error, Result, EXIT_OK};
use crate::render;
use crate::source;
use crate::watch::output::{self, Output};
use crate::watch::signals::Signals;
use std::io::BufWriter;

/// Lists the unix sockets `cfg` asks for; the exit status.
pub fn run(cfg: &Config, signals: &Signals) -> Result<i32> {
    let req = source::unix::Request {
        choice: cfg.source,
        proc_root: &cfg.proc_root,
        refcnt: cfg.format == Format::Table,
        verbose: cfg.verbose > 0,
    };
    let selection = match cfg.scope {
        Scope::All => Selection::All,
        Scope::Listening => Selection::Listening,
        Scope::Connected => Selection::NotListening,
    };
    let filter = &cfg.unix_filter;
    let owners = (cfg.columns.program || filter.needs_owners()).then_some(cfg.owner_source);
    let pass = unix::collect(&req, owners, selection, filter)?;
    if cfg.verbose > 0 {
        note(format_args!(
            "read {} unix sockets from {:?}",
            pass.rows.len(),
            pass.used
        ));
    }
    let shown = cfg.shown_owners(pass.owners.as_ref());
    let mut out = BufWriter::with_capacity(1 << 16, Output::stdout(signals));
    let early = out.get_mut().stop_requested();
    if let Some(signal) = early.map_err(|e| Error::runtime(format!("reading signals: {e}")))? {
        return Ok(exit_after_signal(signal));
    }
    let written = match cfg.format {
        Format::Json => render::json::write_unix(&mut out, &pass.rows, shown),
        Format::Table => render::unix_table::UnixTable::new(shown, cfg.wide)
            .write(&mut out, cfg.scope, &pass.rows),
    };
    match output::finish(&mut out, written).map_err(Error::Output)? {
        Some(signal) => Ok(exit_after_signal(signal)),
        None => Ok(EXIT_OK),
    }
}
