//! A tcpstat a test started and watches: waiting for its end with a
//! deadline, reading its stderr once it ended, collecting its lines as
//! they come ([`Reader`]), and killing it when the test is done with it,
//! so no test leaves one running.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The exit status, if `child` ends within `timeout`.
pub fn exit_within(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// All of `child`'s stderr (a pipe), once it has ended.
pub fn stderr_of(child: &mut Child) -> String {
    let mut stderr = String::new();
    let mut pipe = child.stderr.take().expect("stderr is a pipe");
    pipe.read_to_string(&mut stderr).unwrap();
    stderr
}

/// Kills and reaps `child` if it is still running (for `Drop`).
pub fn kill_if_running(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A program whose stdout and stderr lines are collected as they come,
/// killed when dropped.
pub struct Reader {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    errors: Arc<Mutex<Vec<String>>>,
    /// The threads reading stdout and stderr, which end at their EOF.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Reader {
    /// Starts `command` with its stdout and stderr piped (and no fork of
    /// another test in between: see [`crate::support::sock::no_fork`]).
    pub fn start(command: &mut Command) -> Reader {
        let mut child = {
            let _starting = crate::support::sock::no_fork();
            command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start reader")
        };
        let mut readers = Vec::new();
        let mut collect = |pipe: Box<dyn Read + Send>| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&lines);
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            }));
            lines
        };
        let lines = collect(Box::new(child.stdout.take().unwrap()));
        let errors = collect(Box::new(child.stderr.take().unwrap()));
        Reader {
            child,
            lines,
            errors,
            readers,
        }
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its stdout lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Whether a stdout line so far is `wanted`.
    pub fn has(&self, wanted: impl Fn(&str) -> bool) -> bool {
        self.lines.lock().unwrap().iter().any(|l| wanted(l))
    }

    /// Its stderr so far, a line each.
    pub fn stderr(&self) -> String {
        self.errors.lock().unwrap().join("\n")
    }

    /// Waits (at most `patience`) until `wanted` holds of the stdout
    /// lines so far; panics otherwise, or if it ends first, saying `what`.
    pub fn wait_for(&mut self, what: &str, patience: Duration, wanted: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if wanted(&self.lines()) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                self.drain();
                if wanted(&self.lines()) {
                    return;
                }
                panic!("it ended ({status}) before {what}: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no {what} within {patience:?}; stderr: {}", self.stderr());
    }

    /// Waits (at most `patience`) until stderr has a line containing
    /// `text`.
    pub fn wait_for_note(&mut self, text: &str, patience: Duration) {
        let deadline = Instant::now() + patience;
        while !self.stderr().contains(text) {
            assert!(Instant::now() < deadline, "no {text:?}: {}", self.stderr());
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it with `signal`; its exit status, stdout lines and stderr.
    pub fn stop(mut self, signal: libc::c_int) -> (Option<i32>, Vec<String>, String) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill takes no pointers; the child is ours and not reaped.
        unsafe { libc::kill(pid, signal) };
        let status = self.child.wait().unwrap();
        self.drain();
        (status.code(), self.lines(), self.stderr())
    }

    /// Once it ended, waits for its last lines: the readers end at the
    /// pipes' EOF (at most 5 s: a grandchild still holding a pipe would
    /// keep it open).
    fn drain(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for reader in std::mem::take(&mut self.readers) {
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        kill_if_running(&mut self.child);
    }
}
