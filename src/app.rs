//! The pipeline: arguments → config → source (+ owners) → printer.

use crate::cli::argv::{normalize_continuous, ValueFlags};
use crate::cli::Args;
use crate::collect::Collector;
use crate::config::{Config, Format, Mode};
use crate::diagnose::{bind, summary, Sysctls};
use crate::error::{note, Error, Result, EXIT_OK, EXIT_RUNTIME};
use crate::model::Socket;
use crate::names::hosts::{Resolver, LOOKUP_BUDGET};
use crate::owners::ProcessMap;
use crate::render::{self, json, table};
use crate::watch::signals::Signals;
use crate::watch::{self, Outcome};
use clap::FromArgMatches;
use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::time::SystemTime;

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
    // Before any thread starts (process scans, name lookups), so that no
    // thread can take Ctrl-C and die of it halfway through a line.
    let signals = match cfg.watch {
        Some(_) => {
            Some(Signals::block().map_err(|e| Error::runtime(format!("blocking signals: {e}")))?)
        }
        None => None,
    };
    if let Some(ns) = &cfg.netns {
        crate::netns::enter(ns)?;
    }
    if let (Some(plan), Some(signals)) = (cfg.watch, &signals) {
        return watch::run(&cfg, plan, signals).map(Outcome::exit_code);
    }
    let mut collector = Collector::new(&cfg);
    let pass = collector.collect(true)?;
    let (sockets, owners) = (pass.rows.as_slice(), pass.owners);
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let status = match cfg.mode {
        Mode::List => {
            let shown = cfg.shown_owners(owners.as_ref());
            print(&cfg, &mut out, sockets, shown).map(|()| EXIT_OK)
        }
        Mode::Summary => print_summary(&cfg, &mut out, sockets, owners.as_ref()).map(|()| EXIT_OK),
        Mode::Why { port, addr } => print_why(&cfg, &mut out, port, addr, sockets, owners.as_ref()),
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
    render::summary::write(out, cfg.format, &summary)
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
    render::why::write(out, cfg.format, &verdict)?;
    Ok(if verdict.bindable {
        EXIT_OK
    } else {
        EXIT_RUNTIME
    })
}

/// Parses the command line. `Ok(None)` when help or the version was
/// printed; a usage error becomes one line.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Option<Args>> {
    let mut command = crate::cli::command();
    command.build();
    let argv = normalize_continuous(args.into_iter().collect(), &ValueFlags::of(&command));
    let parsed = command
        .try_get_matches_from_mut(argv)
        .and_then(|matches| Args::from_arg_matches(&matches));
    match parsed {
        Ok(a) => Ok(Some(a)),
        Err(e) if !e.use_stderr() => {
            e.print().map_err(Error::Output)?;
            Ok(None)
        }
        Err(e) => Err(Error::usage(clap_error_line(&e))),
    }
}

/// clap's message on one line, without its `error:` prefix, tips and usage
/// block. Some messages go on over several lines before the first blank
/// one (the missing arguments are listed under "were not provided:").
fn clap_error_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let msg = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    let msg = if msg.is_empty() {
        "invalid arguments"
    } else {
        msg
    };
    format!("{msg} (see --help)")
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
    resolver.prefetch_sockets(sockets, LOOKUP_BUDGET);
    resolver
}
