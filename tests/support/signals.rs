//! Children that start with the stop signals at their default action.
//!
//! tcpstat leaves alone a signal that was ignored when it started (as
//! `nohup` and a shell's background jobs leave SIGHUP and SIGINT), and a
//! child inherits what its parent ignores: a test run from such a job
//! would see tcpstat ignore the very signal it sends. Tests that signal
//! tcpstat start it through [`default_signals`].

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Sets SIGINT, SIGTERM, SIGHUP and SIGQUIT to their default action in
/// the child, whatever this process inherited.
pub fn default_signals(command: &mut Command) -> &mut Command {
    // SAFETY: signal is async-signal-safe and touches no memory of the
    // parent.
    unsafe {
        command.pre_exec(|| {
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                if libc::signal(signal, libc::SIG_DFL) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    }
}
