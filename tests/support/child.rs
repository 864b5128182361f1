//! A tcpstat a test started and watches: waiting for its end with a
//! deadline, reading its stderr once it ended, and killing it when the
//! test is done with it, so no test leaves one running.

use std::io::Read;
use std::process::{Child, ExitStatus};
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
