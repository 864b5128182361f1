//! `-K`: close the sockets a filter matches. From the rows of one dump
//! (with owners, so that `--pid`/`--program` work and the preview names
//! who holds what), the plan ([`Report::plan`]: targets, and matching sockets left
//! open), then the confirmation when more than one socket would close,
//! then one SOCK_DESTROY per target ([`Destroyer`]), then the report.
//!
//! With `-N all` the rows come from every namespace: each socket is closed
//! through a sock_diag socket opened inside its own namespace (on a thread
//! that entered it: a netlink socket belongs to the namespace it was made
//! in, and SOCK_DESTROY looks the socket up there), and the preview and
//! report name each socket's namespace.
//!
//! Refusals that need no socket (no filter, `-a`, another mode) are made in
//! `cli::lower`; those that do are made here: many sockets and nobody to
//! ask (exit 2), the answer "no" (exit 1), no CAP_NET_ADMIN or a kernel
//! without SOCK_DESTROY (exit 1, one line; whatever was closed before is
//! printed first, so nothing is half-done silently).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::collect::each_netns::Target;
use crate::config::{Config, Format, Kill};
use crate::diagnose::kill::Report;
use crate::error::{exit_after_signal, note, os_text, Error, Result, EXIT_OK, EXIT_RUNTIME};
use crate::model::kill::{KillOutcome, KillResult};
use crate::model::{Socket, StateSet, TcpState};
use crate::netns::label::Labels;
use crate::owners::ProcessMap;
use crate::render;
use crate::render::kill::Shown;
use crate::source::netlink::kill::Destroyer;
use crate::watch::output::{self, Output};
use crate::watch::signals::{Signals, Wake};

/// Targets shown in the confirmation preview.
const PREVIEW_ROWS: usize = 10;

/// The namespaces `-N all` read (what opens each, by inode) and their
/// labels; `None`: the rows are of the current namespace.
pub type Places<'a> = Option<(&'a [Target], &'a Labels)>;

/// Runs `-K` on the `rows` one dump matched (with `owners` when scanned),
/// in the current namespace or, with `places`, in each row's own, writing
/// the report to `out`; the exit status.
pub fn run(
    cfg: &Config,
    kill: Kill,
    (rows, owners): (&[Socket], Option<&ProcessMap>),
    places: Places<'_>,
    signals: &Signals,
    out: &mut BufWriter<Output<'_>>,
) -> Result<i32> {
    let mut report = Report::plan(rows, kill.states, kill.dry_run);
    let shown = Shown {
        owners,
        netns: places.map(|(_, labels)| labels),
    };
    if !kill.dry_run && report.targets.len() > 1 && !kill.yes {
        match confirm(&report, shown, signals)? {
            Answer::Yes => {}
            Answer::No => {
                return Err(Error::runtime(format!(
                    "-K: not confirmed; nothing was closed ({} sockets matched)",
                    report.targets.len()
                )))
            }
            Answer::Stop(signal) => return Ok(exit_after_signal(signal)),
        }
    }
    let end = match kill.dry_run {
        true => End::Done,
        false => destroy_all(&mut report, places.map(|(targets, _)| targets), signals),
    };
    // After a refusal, the report is printed only if something was closed
    // before it: nothing half-done goes unsaid, and a refusal of the
    // first request stays one line.
    if !matches!(end, End::Refused(_)) || report.count(KillResult::Closed) > 0 {
        let written = render::kill::write(&mut *out, cfg.format, &report, shown);
        if let Some(signal) = output::finish(out, written).map_err(Error::Output)? {
            return Ok(exit_after_signal(signal));
        }
    }
    match end {
        End::Refused(why) => Err(Error::runtime(why)),
        End::Stop(signal) => Ok(exit_after_signal(signal)),
        End::Done if report.targets.is_empty() && cfg.format == Format::Table => {
            note(format_args!("-K: no socket to close"));
            Ok(EXIT_OK)
        }
        End::Done if kill.dry_run || report.all_done() => Ok(EXIT_OK),
        End::Done => Ok(EXIT_RUNTIME),
    }
}

/// Closes one socket, as `-K` naming it would (top's `k`, after its own
/// confirmation): one SOCK_DESTROY in the current namespace or, with
/// `places` (`-N all`: the namespaces of the pass the socket was read in),
/// through a sock_diag socket opened in the socket's own; and the kernel's
/// answer in words, with what helps where it did not close it. A namespace
/// gone since is said so.
pub fn close_one(socket: &Socket, places: Places<'_>) -> String {
    let what = render::kill::connection_in(socket, places.map(|(_, labels)| labels));
    let destroyer = match places {
        None if socket.netns != 0 => {
            return format!("{what}: not closed: its network namespace is not known");
        }
        None => Destroyer::open().map(Some),
        Some((targets, _)) => match targets.iter().find(|t| t.inode == socket.netns) {
            Some(target) => open_in(target),
            None => Ok(None),
        },
    };
    let outcome = match destroyer {
        Ok(Some(mut destroyer)) => destroyer.destroy(socket),
        Ok(None) => {
            return format!(
                "{what}: not closed: its network namespace net:[{}] is gone",
                socket.netns
            )
        }
        Err(e) => Err(e),
    };
    let rows = std::slice::from_ref(socket);
    let mut report = Report::plan(rows, StateSet::ALL, false);
    match outcome {
        Ok(outcome) => {
            report.record(0, outcome);
            let help = report.targets[0].help.as_deref().map(|h| format!(": {h}"));
            format!(
                "{what}: {}{}",
                outcome.result.name(),
                help.unwrap_or_default()
            )
        }
        Err(e) => format!("{what}: not closed: {e}"),
    }
}

/// A sock_diag socket opened inside `target`'s namespace; `None` when
/// that namespace is gone (nothing opens it any more).
fn open_in(target: &Target) -> Result<Option<Destroyer>> {
    // A socket made on a thread that entered the namespace stays in it
    // whichever thread then uses it.
    match crate::netns::within(&target.path, Destroyer::open) {
        Err(_) if !target.still_there() => Ok(None),
        entered => Ok(Some(entered??)),
    }
}

/// How the requests ended.
enum End {
    /// Every target was asked.
    Done,
    /// Stopped at a refusal that holds for the whole namespace, or at a
    /// failure of the netlink socket: the line to say.
    Refused(String),
    /// Stopped at a stop signal.
    Stop(i32),
}

/// Asks the kernel to close each target in turn, recording its answer:
/// in the current namespace, or with `namespaces` (`-N all`) through a
/// sock_diag socket opened in each target's own. Stops at a refusal that
/// holds for every socket of a namespace (no CAP_NET_ADMIN, no
/// SOCK_DESTROY in the kernel), at a netlink failure or at a stop signal;
/// the targets after it stay untried.
fn destroy_all(report: &mut Report, namespaces: Option<&[Target]>, signals: &Signals) -> End {
    let mut destroyers = Destroyers {
        namespaces,
        open: HashMap::new(),
    };
    for i in 0..report.targets.len() {
        match signals.take() {
            Ok(Some(signal)) => return End::Stop(signal),
            Ok(None) => {}
            Err(e) => return refused(report, format!("reading signals: {e}")),
        }
        let socket = report.targets[i].socket;
        let destroyer = match destroyers.of(socket) {
            Ok(Some(d)) => d,
            Ok(None) => {
                // Its namespace is gone since the dump, and the socket
                // with it: as the kernel answers for a socket gone.
                report.record(i, KillOutcome::of_errno(libc::ENOENT));
                continue;
            }
            Err(e) => return refused(report, e.to_string()),
        };
        let outcome = match destroyer.destroy(socket) {
            Ok(outcome) => outcome,
            Err(e) => return refused(report, e.to_string()),
        };
        report.record(i, outcome);
        match outcome.result {
            KillResult::PermissionDenied => {
                let why = "not permitted to close sockets: SOCK_DESTROY needs CAP_NET_ADMIN \
                           in the sockets' network namespace (the kernel answered EPERM)";
                return refused(report, why.into());
            }
            KillResult::NotSupported if socket.state != TcpState::TimeWait => {
                let why = "this kernel cannot close sockets: it was built without \
                           CONFIG_INET_DIAG_DESTROY (SOCK_DESTROY answered EOPNOTSUPP)";
                return refused(report, why.into());
            }
            _ => {}
        }
    }
    End::Done
}

/// The sock_diag sockets that close sockets, one per namespace, each
/// opened there when its first target comes.
struct Destroyers<'a> {
    /// `-N all`'s namespaces; `None`: only the current one.
    namespaces: Option<&'a [Target]>,
    /// By namespace inode (0: the current namespace).
    open: HashMap<u64, Destroyer>,
}

impl Destroyers<'_> {
    /// The destroyer for `socket`'s namespace; `None` when that namespace
    /// is gone (nothing opens it any more).
    fn of(&mut self, socket: &Socket) -> Result<Option<&mut Destroyer>> {
        let inode = match self.namespaces {
            Some(_) => socket.netns,
            None => 0,
        };
        if !self.open.contains_key(&inode) {
            let destroyer = match self.namespaces {
                None => Destroyer::open()?,
                Some(targets) => {
                    let target = targets.iter().find(|t| t.inode == inode).ok_or_else(|| {
                        Error::runtime(format!("network namespace net:[{inode}] was not read"))
                    })?;
                    match open_in(target)? {
                        Some(destroyer) => destroyer,
                        None => return Ok(None),
                    }
                }
            };
            self.open.insert(inode, destroyer);
        }
        Ok(self.open.get_mut(&inode))
    }
}

/// The refusal `why`, saying what was closed before it.
fn refused(report: &Report, why: String) -> End {
    End::Refused(format!(
        "-K: {why}; {}",
        closed_so_far(report.count(KillResult::Closed))
    ))
}

fn closed_so_far(done: usize) -> String {
    match done {
        0 => "nothing was closed".into(),
        n => format!("{n} closed before it, listed above"),
    }
}

/// The answer to the confirmation.
enum Answer {
    Yes,
    No,
    Stop(i32),
}

/// Asks on the terminal whether to close the targets, showing how many
/// and the first of them. Without a terminal on stdin or stdout there is
/// nobody to ask: a usage error pointing at --yes.
fn confirm(report: &Report, shown: Shown, signals: &Signals) -> Result<Answer> {
    let n = report.targets.len();
    if !std::io::stdin().is_terminal() && !std::io::stdout().is_terminal() {
        return Err(Error::usage(format!(
            "-K would close {n} sockets, and there is no terminal to confirm on: \
             add --yes (see what would close with --dry-run)"
        )));
    }
    let mut tty = File::options()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| {
            Error::usage(format!(
                "-K would close {n} sockets; cannot ask on /dev/tty ({}): add --yes",
                os_text(&e)
            ))
        })?;
    let mut prompt = Vec::new();
    writeln!(prompt, "tcpstat: -K would close these {n} sockets:")
        .and_then(|()| render::kill::write_preview(&mut prompt, report, shown, PREVIEW_ROWS))
        .and_then(|()| write!(prompt, "Close these {n} sockets? [y/N] "))
        .and_then(|()| tty.write_all(&prompt))
        .map_err(|e| Error::runtime(format!("writing to /dev/tty: {}", os_text(&e))))?;
    read_answer(&mut tty, signals)
}

/// Reads one line from the terminal; a stop signal ends the wait.
fn read_answer(tty: &mut File, signals: &Signals) -> Result<Answer> {
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let wake = signals
        .wait(far, Some(tty.as_raw_fd()), None)
        .map_err(|e| Error::runtime(format!("waiting for the answer: {}", os_text(&e))))?;
    // A Ctrl-C typed with more after it (`^C` then Enter) leaves the
    // terminal readable too: the signal wins.
    let pending = match wake {
        Wake::Stop(signal) => Some(signal),
        _ => signals
            .take()
            .map_err(|e| Error::runtime(format!("reading signals: {e}")))?,
    };
    if let Some(signal) = pending {
        let _ = tty.write_all(b"\n");
        return Ok(Answer::Stop(signal));
    }
    let mut line = [0u8; 64];
    let len = tty
        .read(&mut line)
        .map_err(|e| Error::runtime(format!("reading /dev/tty: {}", os_text(&e))))?;
    let answer = String::from_utf8_lossy(&line[..len])
        .trim()
        .to_ascii_lowercase();
    Ok(match answer.as_str() {
        "y" | "yes" => Answer::Yes,
        _ => Answer::No,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::label::Label;
    use crate::test_support::sock;
    use std::path::PathBuf;

    fn labelled(inode: u64, name: &str) -> Labels {
        let label = Label {
            name: name.into(),
            ..Label::default()
        };
        Labels::from([(inode, label)])
    }

    #[test]
    fn top_says_a_namespace_gone_before_k_in_one_line_and_closes_nothing() {
        let mut socket = sock(TcpState::Established, "10.0.0.1:5432", "10.0.0.2:40000");
        socket.netns = 4026599997;
        let labels = labelled(socket.netns, "db\x1b[2J");
        // No longer among the namespaces found (gone from the discovery).
        let said = close_one(&socket, Some((&[], &labels)));
        assert_eq!(
            said,
            "10.0.0.1:5432 -> 10.0.0.2:40000 (ESTABLISHED) in db\\u{1b}[2J: not closed: \
             its network namespace net:[4026599997] is gone"
        );
        // Found, but its path opens nothing any more.
        let gone = Target {
            inode: socket.netns,
            path: PathBuf::from("/run/netns/tcpstat-kill-unit-gone-before-k"),
        };
        let said = close_one(&socket, Some((std::slice::from_ref(&gone), &labels)));
        assert!(said.ends_with("not closed: its network namespace net:[4026599997] is gone"));
        assert!(!said.contains('\n') && !said.contains('\x1b'), "{said:?}");
        // A row of another namespace with nothing to say where it is.
        let said = close_one(&socket, None);
        assert!(said.ends_with("not closed: its network namespace is not known"));
    }
}
