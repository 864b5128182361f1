//! Running `tcpstat --events` in a namespace until it reports a change the
//! test makes: the test acts only once the first pass (the baseline) has
//! been read, which `-v` says on stderr, so no sleep decides the outcome.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::netns::Netns;

/// Longest wait for the first pass, and then for the awaited line.
const WAIT: Duration = Duration::from_secs(20);

/// Runs `tcpstat -v -c 0.1 ARGS` (ARGS holding `--events`) in `ns`, calls
/// `act` once its first pass has been read, and returns the first stdout
/// line that is `wanted`; tcpstat is then killed. Panics if no such line
/// comes within 20 s.
pub fn first_event(
    tcpstat: &str,
    ns: &Netns,
    args: &[&str],
    wanted: impl Fn(&str) -> bool,
    act: impl FnOnce(),
) -> String {
    first_event_and_next(tcpstat, ns, args, wanted, act, 0).remove(0)
}

/// [`first_event`], returning also the `next` stdout lines that follow
/// the wanted one (an event's continuation line with -i).
pub fn first_event_and_next(
    tcpstat: &str,
    ns: &Netns,
    args: &[&str],
    wanted: impl Fn(&str) -> bool,
    act: impl FnOnce(),
    next: usize,
) -> Vec<String> {
    let mut child = {
        let _starting = super::sock::no_fork();
        Command::new("ip")
            .args(["netns", "exec", ns.name(), tcpstat, "-v", "-c", "0.1"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tcpstat --events")
    };
    let (tx, rx) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let notes = tx.clone();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = notes.send((false, line));
        }
    });
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send((true, line));
        }
    });
    // -v notes what the first pass read once it has read it.
    let first_pass = loop {
        match rx.recv_timeout(WAIT) {
            Ok((false, l)) if l.contains("sockets from") => break Ok(()),
            Ok(_) => {}
            Err(e) => break Err(format!("no first pass: {e}")),
        }
    };
    let found = first_pass.and_then(|()| {
        act();
        loop {
            match rx.recv_timeout(WAIT) {
                Ok((true, l)) if wanted(&l) => break Ok(vec![l]),
                Ok(_) => {}
                Err(e) => break Err(format!("no awaited event: {e}")),
            }
        }
    });
    let found = found.and_then(|mut lines| {
        while lines.len() <= next {
            match rx.recv_timeout(WAIT) {
                Ok((true, l)) => lines.push(l),
                Ok(_) => {}
                Err(e) => return Err(format!("no line after {lines:?}: {e}")),
            }
        }
        Ok(lines)
    });
    let _ = child.kill();
    let _ = child.wait();
    found.unwrap_or_else(|e| panic!("tcpstat {args:?}: {e}"))
}
