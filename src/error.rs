//! The program's error type and how it maps to an exit status.

use std::fmt;

/// Exit status for success.
pub const EXIT_OK: i32 = 0;
/// Exit status for a failure at run time (a source could not be read, …).
pub const EXIT_RUNTIME: i32 = 1;
/// Exit status for a usage error (bad flag, bad value).
pub const EXIT_USAGE: i32 = 2;

/// The exit status after a stop signal ended the program (after a
/// complete line): 128 + its number, which is what a shell's `$?` says of
/// a process that the signal killed: SIGINT gives 130, SIGTERM 143,
/// SIGHUP 129.
pub fn exit_after_signal(signal: i32) -> i32 {
    128 + signal
}

/// An error that ends the program: printed as one `tcpstat: …` line.
#[derive(Debug)]
pub enum Error {
    /// The command line was wrong; exit 2.
    Usage(String),
    /// Something failed while running; exit 1.
    Runtime(String),
    /// Writing to stdout failed; a broken pipe is a quiet success.
    Output(std::io::Error),
}

impl Error {
    /// A runtime failure with a message.
    pub fn runtime(msg: impl Into<String>) -> Error {
        Error::Runtime(msg.into())
    }

    /// A usage error with a message.
    pub fn usage(msg: impl Into<String>) -> Error {
        Error::Usage(msg.into())
    }

    /// The exit status this error ends the program with.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::Runtime(_) => EXIT_RUNTIME,
            // A closed pipe ends quietly and successfully.
            Error::Output(_) if self.is_quiet() => EXIT_OK,
            Error::Output(_) => EXIT_RUNTIME,
        }
    }

    /// True when the error should end the program without a message.
    pub fn is_quiet(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Runtime(m) => f.write_str(m),
            Error::Output(e) => write!(f, "writing output: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Writes one `tcpstat: …` line on stderr. A closed or failing stderr is
/// ignored: a note must never turn into a panic (`eprintln!` panics there).
/// Messages may carry text from outside (paths, words of the command line
/// in clap's messages): control characters are escaped here, the one way
/// every output escapes them ([`crate::escape`]).
pub fn note(message: fmt::Arguments<'_>) {
    use std::io::Write;
    let message = message.to_string();
    let message = crate::escape::Controls(&message);
    let _ = writeln!(std::io::stderr().lock(), "tcpstat: {message}");
}

/// An I/O error's text as a user reads it: the OS message without Rust's
/// " (os error N)" tail.
pub fn os_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Result with the program's error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::exit_after_signal;

    #[test]
    fn stop_signals_exit_as_a_shell_reports_them() {
        assert_eq!(exit_after_signal(libc::SIGINT), 130);
        assert_eq!(exit_after_signal(libc::SIGTERM), 143);
        assert_eq!(exit_after_signal(libc::SIGHUP), 129);
    }
}
