//! The top of the pipeline: arguments → config → collect → diagnose →
//! render, once; or watch mode, which repeats collect and render. Every
//! error ends here, as one `tcpstat:` line and an exit status.

use crate::collect::each_netns::Target;
use crate::collect::Collector;
use crate::config::{Config, Mode};
use crate::diagnose::{bind, summary, Sysctls};
use crate::error::{exit_after_signal, note, Error, Result, EXIT_OK, EXIT_RUNTIME};
use crate::model::{in_netns, Socket};
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
    let mut cfg = crate::cli::lower::config(&args)?;
    // Before any thread starts (process scans, name lookups), so that no
    // thread can take a stop signal and die of it halfway through a line.
    let signals = Signals::block().map_err(|e| Error::runtime(format!("blocking signals: {e}")))?;
    if let Some(ns) = &cfg.netns {
        crate::netns::enter(ns)?;
    }
    if cfg.protocols.unix {
        // As netstat: the internet sockets' table first, then the unix one.
        if !cfg.protocols.inet().is_empty() {
            let status = run_inet(&mut cfg, &signals)?;
            if status != EXIT_OK {
                return Ok(status);
            }
        }
        return crate::list_unix::run(&cfg, &signals);
    }
    run_inet(&mut cfg, &signals)
}

/// Everything but the unix listing: the internet sockets' listing, `-s`,
/// `why`, `-K`, watch mode and `serve`.
fn run_inet(cfg: &mut Config, signals: &Signals) -> Result<i32> {
    if let Some(serve) = &cfg.serve {
        return crate::serve::run(cfg, serve, signals);
    }
    if let Mode::Top { interval } = cfg.mode {
        let (targets, labels) = match cfg.all_netns {
            true => {
                let (targets, labels) = all_namespaces(cfg)?;
                (targets, Some(labels))
            }
            false => Default::default(),
        };
        return crate::top::run(cfg, interval, &targets, labels, signals);
    }
    let (targets, labels) = match cfg.all_netns {
        true => all_namespaces(cfg)?,
        false => Default::default(),
    };
    if let Some(plan) = cfg.watch {
        let labels = cfg.all_netns.then_some(labels);
        return watch::run(cfg, plan, signals, (&targets, labels)).map(Outcome::exit_code);
    }
    let mut plan = crate::plan::collect(cfg, cfg.states);
    plan.namespaces = &targets;
    let mut collector = Collector::new(plan);
    if cfg.mode == Mode::List && cfg.streams() {
        let labels = cfg.all_netns.then_some(labels);
        return list_streaming(cfg, &mut collector, labels, signals);
    }
    let pass = collector.collect(true)?;
    if cfg.mode == Mode::List {
        render::order::arrange(pass.rows, cfg);
    }
    let (sockets, owners) = (pass.rows.as_slice(), pass.owners);
    let mut out = BufWriter::with_capacity(1 << 16, Output::stdout(signals));
    // A signal that came while the sockets were read: nothing is written.
    let early = out.get_mut().stop_requested();
    if let Some(signal) = early.map_err(|e| Error::runtime(format!("reading signals: {e}")))? {
        return Ok(exit_after_signal(signal));
    }
    let mut status = EXIT_OK;
    let written = match cfg.mode {
        Mode::List => {
            let shown = cfg.shown_owners(owners.as_ref());
            let mut printer = render::Printer::once(cfg);
            if cfg.all_netns {
                printer = printer.with_netns(labels);
            }
            printer.listing(&mut out, sockets, shown)
        }
        Mode::Summary if cfg.all_netns => {
            let places = places(&targets, &labels, cfg.verbose > 0);
            let each = summary::summarize_each(pass.rows, owners.as_ref(), &places);
            render::summary::write_each(&mut out, cfg.format, &each, &labels)
        }
        Mode::Summary => print_summary(cfg, &mut out, sockets, owners.as_ref()),
        Mode::Why { port, addr } if cfg.all_netns => {
            let each = why_each(
                cfg,
                port,
                addr,
                pass.rows,
                owners.as_ref(),
                (&targets, &labels),
            );
            status = match each.iter().all(|(_, _, v)| v.bindable) {
                true => EXIT_OK,
                false => EXIT_RUNTIME,
            };
            render::why::write_each(&mut out, cfg.format, &each, &labels)
        }
        Mode::Why { port, addr } => print_why(cfg, &mut out, port, addr, sockets, owners.as_ref())
            .map(|answer| status = answer),
        // Asks, closes, then writes (and finishes `out`) itself.
        Mode::Kill(kill) => {
            let shown = cfg.shown_owners(owners.as_ref());
            let places = cfg.all_netns.then_some((targets.as_slice(), &labels));
            return crate::kill::run(cfg, kill, (sockets, shown), places, signals, &mut out);
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

/// The one-shot listing, written batch by batch as the dump reads it, so
/// that memory stays flat however many sockets there are.
fn list_streaming(
    cfg: &Config,
    collector: &mut Collector<'_>,
    labels: Option<Labels>,
    signals: &Signals,
) -> Result<i32> {
    let mut printer = render::Printer::once(cfg);
    if let Some(labels) = labels {
        printer = printer.with_netns(labels);
    }
    let mut listing = Streaming {
        out: BufWriter::with_capacity(1 << 16, Output::stdout(signals)),
        printer,
        begun: false,
        early: None,
    };
    let streamed = collector.stream(&mut |rows, owners| {
        listing.begin()?;
        render::order::arrange(rows, cfg);
        let owners = cfg.shown_owners(owners);
        listing.printer.listing_rows(&mut listing.out, rows, owners)
    })?;
    let written = streamed.written.and_then(|()| {
        listing.begin()?;
        listing.printer.listing_end(&mut listing.out)
    });
    if let Some(signal) = listing.early {
        return Ok(exit_after_signal(signal));
    }
    match output::finish(&mut listing.out, written).map_err(Error::Output)? {
        Some(signal) => Ok(exit_after_signal(signal)),
        None => Ok(EXIT_OK),
    }
}

/// A listing being written as it is read.
struct Streaming<'a> {
    out: BufWriter<Output<'a>>,
    printer: render::Printer<'a>,
    begun: bool,
    /// A stop signal that came before anything was written.
    early: Option<libc::c_int>,
}

impl Streaming<'_> {
    /// Writes the listing's start, once; but nothing at all after a stop
    /// signal that came while the first rows were read.
    fn begin(&mut self) -> io::Result<()> {
        if self.begun {
            return Ok(());
        }
        self.begun = true;
        self.early = self.out.get_mut().stop_requested()?;
        match self.early {
            Some(_) => Err(io::Error::other("stopped before writing")),
            None => self.printer.listing_begin(&mut self.out),
        }
    }
}

/// `-N all`: every namespace on the host, to dump one by one, and its
/// label. Each `netns NAME` of the filter is resolved against the labels
/// (a word that names none is a usage error), and namespaces the filter
/// cannot keep a socket of are not read.
fn all_namespaces(cfg: &mut Config) -> Result<(Vec<Target>, Labels)> {
    let (found, labels) = crate::netns::label::survey(&cfg.proc_root, cfg.verbose > 0);
    cfg.filter
        .resolve_netns(|word| match crate::netns::select::matching(&labels, word) {
            none if none.is_empty() => Err(Error::usage(format!(
                "netns {word}: {}",
                crate::netns::select::none_named(&labels, word)
            ))),
            inodes => Ok(inodes),
        })?;
    let bound = cfg.filter.netns_bound();
    let targets = found
        .iter()
        .filter(|f| bound.as_ref().is_none_or(|b| b.contains(&f.inode)))
        .map(Target::from)
        .collect();
    Ok((targets, labels))
}

/// The namespaces to summarise, each with its limits read inside it (a
/// namespace gone by now is left out, said under -v).
fn places(targets: &[Target], labels: &Labels, verbose: bool) -> Vec<summary::Place> {
    targets
        .iter()
        .filter_map(|t| {
            let sys = t.within(verbose, Sysctls::read)?;
            Some(summary::Place {
                netns: t.inode,
                within: within(labels, t.inode),
                sys,
            })
        })
        .collect()
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

/// `why PORT -N all`: the verdict in each namespace, from its rows and a
/// test bind() made inside it (a namespace gone by now is left out, said
/// under -v), with what the namespace is.
fn why_each<'o>(
    cfg: &Config,
    port: u16,
    addr: Option<std::net::IpAddr>,
    rows: &mut [Socket],
    owners: Option<&'o ProcessMap>,
    (targets, labels): (&[Target], &Labels),
) -> Vec<(u64, String, bind::Verdict<'o>)> {
    rows.sort_by_key(|s| s.netns);
    let now = SystemTime::now();
    targets
        .iter()
        .filter_map(|t| {
            let kernel = t.within(cfg.verbose > 0, || bind::ask_kernel(port, addr))?;
            let verdict = bind::why(port, addr, in_netns(rows, t.inode), owners, now)
                .with_kernel(kernel)
                .in_namespace(Some(&t.path));
            Some((t.inode, within(labels, t.inode), verdict))
        })
        .collect()
}

/// What namespace `inode` is, for a sentence.
fn within(labels: &Labels, inode: u64) -> String {
    labels
        .get(&inode)
        .map_or_else(|| format!("namespace net:[{inode}]"), Label::within)
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
