//! `tcpstat top`: a live, sortable, filterable view of the sockets.
//!
//! A face like `-c`: it reads through [`crate::collect`] (one pass per
//! interval, the same as every face) and shows what `diagnose` and
//! `render` make of it; never a pipeline of its own. Four threads:
//!
//! - the collecting thread ([`worker`]) reads passes, marks them against
//!   the pass before ([`refresh`]) and derives what the table shows
//!   ([`view`]: filter, sort, groups), also when a key changes the sort
//!   or the filter, so that no sort of 100k rows runs where keys are read;
//! - the input thread turns the terminal's bytes into key events
//!   ([`keys`]) and hears SIGWINCH;
//! - the signal thread reads the stop signals from the signalfd
//!   ([`crate::watch::signals`]: they are blocked in every thread);
//! - this thread keeps the [`state::App`] (selection, typing, overlays)
//!   and draws it ([`draw`]) whenever something arrives.
//!
//! All four meet in one channel of [`Msg`]. The terminal ([`terminal`]) is
//! restored on every way out: `q`, a stop signal (exit 128 + its number),
//! a terminal that went away, a panic.

pub mod columns;
pub mod draw;
pub mod keys;
pub mod refresh;
pub mod state;
pub mod terminal;
pub mod view;
pub mod worker;

#[cfg(test)]
mod tests;

use crate::collect::each_netns::Target;
use crate::collect::Collector;
use crate::config::Config;
use crate::error::{exit_after_signal, Error, Result, EXIT_OK};
use crate::netns::label::Labels;
use crate::sys::poll::{poll, poll_fd};
use crate::watch::namespaces::Namespaces;
use crate::watch::signals::{Signals, Wake};
use crossterm::event::{Event, KeyEventKind};
use state::{App, Effect};
use std::io::IsTerminal;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use view::Snapshot;
use worker::Command;

/// How often the input and signal threads look whether to end.
const TICK: Duration = Duration::from_millis(200);

/// What arrives on the drawing thread.
#[derive(Debug)]
pub enum Msg {
    /// A new view of a pass.
    Snapshot(Arc<Snapshot>),
    /// A terminal event (a key).
    Input(Event),
    /// The terminal's size changed.
    Resized,
    /// The terminal could not be read any more.
    Lost(String),
    /// A stop signal (its number).
    Stop(i32),
    /// A pass failed (the next is tried), or a note was written.
    Failed(String),
    /// The collecting thread panicked.
    Crashed,
}

/// Runs the view until `q`, a stop signal or a lost terminal; the exit
/// status. `targets` and `labels` are the namespaces of `-N all` found at
/// the start; the collecting thread finds them again before each pass.
pub fn run(
    cfg: &Config,
    interval: Duration,
    targets: &[Target],
    labels: Option<Labels>,
    signals: &Signals,
) -> Result<i32> {
    if !std::io::stdout().is_terminal() {
        return Err(Error::usage(
            "top draws on a terminal, and stdout is not one: for a listing that repeats, \
             use -c (tcpstat -c 1)",
        ));
    }
    let palette = terminal::palette(
        std::env::var("NO_COLOR").ok().as_deref(),
        std::env::var("TERM").ok().as_deref(),
    );
    // Before any thread starts, so that none takes it: crossterm would.
    let winch = crate::sys::signal::block_to_fd(&[libc::SIGWINCH])
        .map_err(|e| Error::runtime(format!("top: blocking SIGWINCH: {e}")))?;
    let mut app = App::new(palette, labels.is_some(), interval);
    let (tx, rx) = mpsc::channel();
    let (commands, commanded) = mpsc::channel();
    let stop = AtomicBool::new(false);
    let mut screen = terminal::Screen::enter()
        .map_err(|e| Error::runtime(format!("top: setting up the terminal: {e}")))?;
    let notes = tx.clone();
    terminal::capture_stderr(move |line| {
        let _ = notes.send(Msg::Failed(line));
    })
    .map_err(|e| Error::runtime(format!("top: setting up the terminal: {e}")))?;
    // Not joined: a pass can take long (many namespaces, 100k sockets),
    // and `q` must not wait for it. It owns what it reads with, and ends
    // at its next command once `commands` is dropped, or with the process.
    let all = labels.map(|labels| worker::AllNetns::new(Namespaces::new(cfg, targets), labels));
    let (owned, targets, out) = (cfg.clone(), targets.to_vec(), tx.clone());
    std::thread::spawn(move || {
        let mut plan = crate::plan::collect(&owned, owned.states);
        plan.namespaces = &targets;
        plan.repeated = true;
        worker::run(Collector::new(plan), interval, all, commanded, out);
    });
    std::thread::scope(|scope| {
        let out = tx.clone();
        let stop = &stop;
        scope.spawn(move || read_input(out, stop, winch));
        scope.spawn(move || read_signals(signals, tx, stop));
        let ended = run_loop(&mut screen, &mut app, &rx, &commands);
        stop.store(true, Ordering::Relaxed);
        drop(commands);
        ended
    })
}

/// Reads keys until told to stop or the terminal is gone.
///
/// The terminal is read here ([`keys`]), not by crossterm's event reader,
/// which spins, without its timeout, on a terminal that hung up, and which
/// loses sight of a key that comes together with a resize. SIGWINCH is
/// blocked and read from `winch`.
fn read_input(out: Sender<Msg>, stop: &AtomicBool, winch: OwnedFd) {
    let tty = match open_terminal() {
        Ok(tty) => tty,
        Err(e) => return lost(&out, e.to_string()),
    };
    let mut parser = keys::KeyParser::new();
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [
            poll_fd(tty.as_raw_fd(), libc::POLLIN),
            poll_fd(winch.as_raw_fd(), libc::POLLIN),
        ];
        match poll(&mut fds, Some(Instant::now() + TICK)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => return lost(&out, e.to_string()),
        }
        if fds[1].revents != 0 {
            while let Ok(Some(_)) = crate::sys::signal::read_signal(winch.as_fd()) {}
            if out.send(Msg::Resized).is_err() {
                return;
            }
        }
        if fds[0].revents == 0 {
            continue;
        }
        let n = match (&tty).read(&mut buf) {
            Ok(0) => return lost(&out, "end of input".into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return lost(&out, e.to_string()),
        };
        for key in parser.feed(&buf[..n]) {
            if out.send(Msg::Input(Event::Key(key))).is_err() {
                return;
            }
        }
    }
}

/// The terminal to read keys from: /dev/tty, else stdin.
fn open_terminal() -> std::io::Result<std::fs::File> {
    match std::fs::File::open("/dev/tty") {
        Ok(tty) => Ok(tty),
        Err(_) => Ok(std::fs::File::from(
            std::io::stdin().as_fd().try_clone_to_owned()?,
        )),
    }
}

fn lost(out: &Sender<Msg>, why: String) {
    let _ = out.send(Msg::Lost(why));
}

/// Hands on the first stop signal.
fn read_signals(signals: &Signals, out: Sender<Msg>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match signals.wait(Instant::now() + TICK, None, None) {
            Ok(Wake::Stop(signal)) => {
                let _ = out.send(Msg::Stop(signal));
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = out.send(Msg::Lost(format!("reading signals: {e}")));
                return;
            }
        }
    }
}

/// Draws, then waits for what comes and handles all that came, until the
/// view ends.
fn run_loop(
    screen: &mut terminal::Screen,
    app: &mut App,
    rx: &Receiver<Msg>,
    commands: &Sender<Command>,
) -> Result<i32> {
    loop {
        let size = screen
            .terminal
            .size()
            .map_err(|e| Error::runtime(format!("top: the terminal's size: {e}")))?;
        app.fit(draw::table_rows(size.height, app));
        screen
            .terminal
            .draw(|frame| draw::draw(frame, app))
            .map_err(|e| Error::runtime(format!("top: writing to the terminal: {e}")))?;
        let first = rx
            .recv()
            .map_err(|_| Error::runtime("top: every thread ended"))?;
        for msg in std::iter::once(first).chain(rx.try_iter()) {
            if let Some(status) = handle(app, msg, commands)? {
                return Ok(status);
            }
        }
    }
}

/// Handles one message; `Some` ends the view with that status.
fn handle(app: &mut App, msg: Msg, commands: &Sender<Command>) -> Result<Option<i32>> {
    match msg {
        Msg::Snapshot(s) => app.absorb(s),
        Msg::Input(Event::Key(key)) if key.kind != KeyEventKind::Release => match app.key(key) {
            Effect::None => {}
            Effect::Quit => return Ok(Some(EXIT_OK)),
            Effect::Spec(spec) => {
                let _ = commands.send(Command::Spec(spec));
            }
            Effect::Pause(p) => {
                let _ = commands.send(Command::Pause(p));
            }
            Effect::Kill(entry) => {
                // The namespaces of the pass on screen: the entry's was
                // read in it, or is gone since.
                let refresh = app.snapshot.as_ref().map(|s| s.refresh.clone());
                let places = refresh.as_ref().and_then(|r| r.places());
                app.status = Some(crate::kill::close_one(&entry.socket, places));
                let _ = commands.send(Command::Refresh);
            }
        },
        Msg::Input(_) | Msg::Resized => {}
        Msg::Lost(why) => {
            return Err(Error::runtime(format!(
                "top: the terminal went away: {why}"
            )))
        }
        Msg::Stop(signal) => return Ok(Some(exit_after_signal(signal))),
        Msg::Failed(why) => app.status = Some(why),
        Msg::Crashed => return Err(Error::runtime("top: the collecting thread failed")),
    }
    Ok(None)
}
