//! The pipeline: arguments → config → source (+ owners) → printer.

use crate::cli::Args;
use crate::config::{Config, Format, Mode};
use crate::diagnose::{bind, summary, Sysctls};
use crate::error::{note, Error, Result, EXIT_OK, EXIT_RUNTIME};
use crate::filter::NoOwners;
use crate::model::Socket;
use crate::process::ProcessMap;
use crate::render::{json, table};
use crate::resolve::Resolver;
use crate::source;
use clap::Parser;
use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::time::{Duration, SystemTime};

/// How long name lookups may hold up a listing without `-n`; what has not
/// answered by then is printed numerically.
const RESOLVE_BUDGET: Duration = Duration::from_millis(1500);

/// Runs tcpstat on these arguments and returns the exit status, having
/// printed any error as one `tcpstat:` line.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    match run(args) {
        Ok(status) => status,
        Err(e) => {
            if !e.is_quiet() {
                note(format_args!("{e}"));
            }
            e.exit_code()
        }
    }
}

/// Runs the pipeline; the exit status on success (`why` answers with it).
fn run(args: impl IntoIterator<Item = OsString>) -> Result<i32> {
    let Some(args) = parse_args(args)? else {
        return Ok(EXIT_OK);
    };
    let cfg = Config::from_args(&args)?;
    if let Some(ns) = &cfg.netns {
        crate::netns::enter(ns)?;
    }
    let (mut sockets, owners) = collect(&cfg)?;
    if !cfg.filter.keeps_all() {
        match &owners {
            Some(map) => sockets.retain(|s| cfg.filter.matches(s, map)),
            None => sockets.retain(|s| cfg.filter.matches(s, &NoOwners)),
        }
    }
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let status = match cfg.mode {
        Mode::List => {
            // Owners looked up only to filter on are not shown.
            let shown = owners.as_ref().filter(|_| cfg.columns.program);
            print(&cfg, &mut out, &sockets, shown).map(|()| EXIT_OK)
        }
        Mode::Summary => print_summary(&cfg, &mut out, &sockets, owners.as_ref()).map(|()| EXIT_OK),
        Mode::Why { port, addr } => {
            print_why(&cfg, &mut out, port, addr, &sockets, owners.as_ref())
        }
    };
    status
        .and_then(|status| out.flush().map(|()| status))
        .map_err(Error::Output)
}

fn print_summary<W: Write>(
    cfg: &Config,
    out: &mut W,
    sockets: &[Socket],
    owners: Option<&ProcessMap>,
) -> io::Result<()> {
    let summary = summary::summarize(sockets, owners, &Sysctls::read());
    match cfg.format {
        Format::Json => {
            serde_json::to_writer(&mut *out, &summary)?;
            out.write_all(b"\n")
        }
        Format::Table => summary::write_text(out, &summary),
    }
}

/// Prints the verdict; exit status 0 when a plain bind() would succeed.
fn print_why<W: Write>(
    cfg: &Config,
    out: &mut W,
    port: u16,
    addr: Option<std::net::IpAddr>,
    sockets: &[Socket],
    owners: Option<&ProcessMap>,
) -> io::Result<i32> {
    let verdict = bind::why(port, addr, sockets, owners, SystemTime::now());
    match cfg.format {
        Format::Json => {
            serde_json::to_writer(&mut *out, &verdict)?;
            out.write_all(b"\n")?;
        }
        Format::Table => bind::write_text(out, &verdict)?,
    }
    Ok(if verdict.bindable {
        EXIT_OK
    } else {
        EXIT_RUNTIME
    })
}

/// Parses the command line. `Ok(None)` when help or the version was
/// printed; a usage error becomes one line.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Option<Args>> {
    match Args::try_parse_from(args) {
        Ok(a) => Ok(Some(a)),
        Err(e) if !e.use_stderr() => {
            e.print().map_err(Error::Output)?;
            Ok(None)
        }
        Err(e) => Err(Error::usage(clap_error_line(&e))),
    }
}

/// clap's message without its `error:` prefix, tips and usage block.
fn clap_error_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let msg = first.strip_prefix("error: ").unwrap_or(first);
    format!("{msg} (see --help)")
}

/// Dumps the sockets and, when asked, scans process owners at the same
/// time on a second thread.
fn collect(cfg: &Config) -> Result<(Vec<Socket>, Option<ProcessMap>)> {
    let mut sockets = Vec::new();
    let (used, owners) = std::thread::scope(|scope| {
        let scan = cfg
            .needs_owners()
            .then(|| scope.spawn(|| ProcessMap::scan(&cfg.proc_root)));
        let used = source::collect(cfg, &mut sockets);
        let owners = scan.map(|h| h.join());
        (used, owners)
    });
    let used = used?;
    if cfg.verbose > 0 {
        note(format_args!("read {} sockets from {used:?}", sockets.len()));
    }
    let owners = match owners {
        Some(Ok(map)) => Some(map),
        Some(Err(_)) => return Err(Error::runtime("process scan failed")),
        None => None,
    };
    // As netstat: the note is about privilege, so root is never told (some
    // processes, such as a sandbox's init, stay unreadable even to root).
    if owners.as_ref().is_some_and(|m| m.unreadable() > 0) && !is_root() {
        note(format_args!(
            "not all processes could be identified; non-owned process info will not be shown (run as root to see it all)"
        ));
    }
    Ok((sockets, owners))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn print<W: Write>(
    cfg: &Config,
    out: &mut W,
    sockets: &[Socket],
    owners: Option<&ProcessMap>,
) -> io::Result<()> {
    match cfg.format {
        Format::Json => json::write(out, sockets, owners, cfg.columns.note),
        Format::Table => {
            let mut names = table::Names {
                resolver: (!cfg.numeric).then(|| resolver_for(sockets)),
                users: Default::default(),
            };
            table::Table::new(cfg, owners, &mut names).write(out, sockets)
        }
    }
}

fn resolver_for(sockets: &[Socket]) -> Resolver {
    let mut resolver = Resolver::new(true, true);
    let addrs = sockets
        .iter()
        .flat_map(|s| [s.local.display_addr(), s.remote.display_addr()]);
    resolver.prefetch(addrs, RESOLVE_BUDGET);
    resolver
}
