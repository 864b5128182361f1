//! The top of the pipeline: arguments → config → collect → diagnose →
//! render, once; or watch mode, which repeats collect and render. Every
//! error ends here, as one `tcpstat:` line and an exit status.

use crate::collect::each_netns::Target;
use crate::collect::Collector;
use crate::config::{Config, Mode};
use crate::diagnose::{bind, summary, Sysctls};
use crate::error::{exit_after_signal, note, Error, Result, EXIT_OK, EXIT_RUNTIME};
use crate::model::Socket;
use crate::netns::label::{Label, Labels};
use crate::owners::ProcessMap;
use crate::render;
use crate::watch::output::{self, Output};
use crate::watch::signals::Signals;
use crate::watch::{self, Outcome};
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

/// Runs the pipeline; the exit status on success (`why` answers with it,
/// a stop signal with 128 + its number).
fn run(args: impl IntoIterator<Item = OsString>) -> Result<i32> {
    let Some(args) = crate::cli::parse(args)? else {
        return Ok(EXIT_OK);
    };
    let cfg = crate::cli::lower::config(&args)?;
    // Before any thread starts (process scans, name lookups), so that no
    // thread can take a stop signal and die of it halfway through a line.
    let signals = Signals::block().map_err(|e| Error::runtime(format!("blocking signals: {e}")))?;
    if let Some(ns) = &cfg.netns {
        crate::netns::enter(ns)?;
    }
    if let Some(serve) = &cfg.serve {
        return crate::serve::run(&cfg, serve, &signals);
    }
    if let Mode::Top { interval } = cfg.mode {
        let (targets, labels) = match cfg.all_netns {
            true => {
                let (targets, labels) = all_namespaces(&cfg);
                (targets, Some(labels))
            }
            false => Default::default(),
        };
        return crate::top::run(&cfg, interval, &targets, labels, &signals);
    }
    if let Some(plan) = cfg.watch {
        return watch::run(&cfg, plan, &signals).map(Outcome::exit_code);
    }
    let (targets, labels) = match cfg.all_netns {
        true => all_namespaces(&cfg),
        false => Default::default(),
    };
    let mut plan = crate::plan::collect(&cfg, cfg.states);
    plan.namespaces = &targets;
    let mut collector = Collector::new(plan);
    let pass = collector.collect(true)?;
    if cfg.mode == Mode::List {
        render::order::arrange(pass.rows, &cfg);
    }
    let (sockets, owners) = (pass.rows.as_slice(), pass.owners);
    let mut out = BufWriter::with_capacity(1 << 16, Output::stdout(&signals));
    // A signal that came while the sockets were read: nothing is written.
    let early = out.get_mut().stop_requested();
    if let Some(signal) = early.map_err(|e| Error::runtime(format!("reading signals: {e}")))? {
        return Ok(exit_after_signal(signal));
    }
    let mut status = EXIT_OK;
    let written = match cfg.mode {
        Mode::List => {
            let shown = cfg.shown_owners(owners.as_ref());
            let mut printer = render::Printer::once(&cfg);
            if cfg.all_netns {
                printer = printer.with_netns(labels);
            }
            printer.listing(&mut out, sockets, shown)
        }
        Mode::Summary => print_summary(&cfg, &mut out, sockets, owners.as_ref()),
        Mode::Why { port, addr } => print_why(&cfg, &mut out, port, addr, sockets, owners.as_ref())
            .map(|answer| status = answer),
        // Asks, closes, then writes (and finishes `out`) itself.
        Mode::Kill(kill) => {
            let shown = cfg.shown_owners(owners.as_ref());
            return crate::kill::run(&cfg, kill, sockets, shown, &signals, &mut out);
        }
        Mode::Serve | Mode::Top { .. } => unreachable!("serve and top returned above"),
    };
    // The whole listing is written, even after a stop signal (see
    // watch::output): a JSON array stays valid.
    match output::finish(&mut out, written).map_err(Error::Output)? {
        Some(signal) => Ok(exit_after_signal(signal)),
        None => Ok(status),
    }
}

/// `-N all`: every namespace on the host, to dump one by one, and its
/// label. The container engine is asked for names when some namespace is
/// a container's; if it cannot answer, ids stay (said under -v).
fn all_namespaces(cfg: &Config) -> (Vec<Target>, Labels) {
    let found = crate::netns::all::discover(&cfg.proc_root);
    let mut labels: Labels = found
        .iter()
        .map(|f| (f.inode, Label::of(f, &cfg.proc_root)))
        .collect();
    if let Err(e) = crate::netns::label::ask_engine(&mut labels) {
        if cfg.verbose > 0 {
            note(format_args!(
                "container engine: {e}; containers are named by their short ids"
            ));
        }
    }
    let targets = found
        .into_iter()
        .map(|f| Target {
            inode: f.inode,
            path: f.path,
        })
        .collect();
    (targets, labels)
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
    // The kernel is asked only when the dump came from it: not for
    // sockets read from a fixture /proc tree.
    let kernel = if cfg.proc_root == std::path::Path::new("/proc") {
        bind::ask_kernel(port, addr)
    } else {
        bind::KernelCheck::NotAsked("the sockets were read from a fixture, not this kernel")
    };
    let verdict = bind::why(port, addr, sockets, owners, SystemTime::now())
        .with_kernel(kernel)
        .in_namespace(cfg.netns.as_deref());
    render::why::write(out, cfg.format, &verdict)?;
    Ok(if verdict.bindable {
        EXIT_OK
    } else {
        EXIT_RUNTIME
    })
}
