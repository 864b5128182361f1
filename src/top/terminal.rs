//! The terminal while `top` runs: raw mode and the alternate screen, left
//! again however the program ends — on quit and on a stop signal (the
//! [`Screen`] is dropped), on a panic (a hook restores it before the
//! message is printed), on a lost terminal (the same drop; writes to a
//! terminal that is gone fail and are ignored). Meanwhile stderr goes to
//! a pipe ([`capture_stderr`]): a note written there (a pass that fell
//! back to /proc, owners that could not all be read) would otherwise be
//! painted over the view; its lines are shown in the footer instead.

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{self, BufRead, Read, Stdout};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, Once};

use super::state::Palette;

/// The terminal in top's modes; restored when dropped.
pub struct Screen {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    /// Enters raw mode and the alternate screen.
    pub fn enter() -> io::Result<Screen> {
        install_panic_hook();
        enable_raw_mode()?;
        let entered = execute!(io::stdout(), EnterAlternateScreen, Hide)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match entered {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen and raw mode, showing the cursor again,
/// and points stderr back at what it was. Errors are ignored: the
/// terminal may be gone.
pub fn restore() {
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
    let saved = SAVED_STDERR.try_lock().ok().and_then(|mut s| s.take());
    if let Some(saved) = saved {
        let _ = crate::sys::fs::dup2(saved.as_fd(), libc::STDERR_FILENO);
    }
}

/// What stderr was before [`capture_stderr`].
static SAVED_STDERR: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// Longest line read back from the captured stderr.
const NOTE_MAX: usize = 1024;

/// Points stderr at a pipe until [`restore`], and calls `note` with each
/// line written to it (lossily decoded, cut at 1024 bytes) on a
/// thread of its own, which ends when stderr is put back.
pub fn capture_stderr(note: impl Fn(String) + Send + 'static) -> io::Result<()> {
    let (reader, writer) = io::pipe()?;
    let saved = crate::sys::fs::stderr().try_clone_to_owned()?;
    crate::sys::fs::dup2(writer.as_fd(), libc::STDERR_FILENO)?;
    if let Ok(mut slot) = SAVED_STDERR.lock() {
        *slot = Some(saved);
    }
    std::thread::spawn(move || {
        let mut lines = io::BufReader::new(reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines
                .by_ref()
                .take(NOTE_MAX as u64)
                .read_until(b'\n', &mut line)
            {
                Ok(0) | Err(_) => return,
                Ok(_) => note(String::from_utf8_lossy(&line).trim_end().to_string()),
            }
        }
    });
    Ok(())
}

/// Restores the terminal before a panic's message is printed, so that it
/// is readable and the shell usable after it.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// Colours, unless `NO_COLOR` is set (to anything but the empty string)
/// or the terminal has none (`TERM` unset, `dumb`, or a VT100/VT220).
pub fn palette(no_color: Option<&str>, term: Option<&str>) -> Palette {
    let mono_term = match term {
        None | Some("" | "dumb") => true,
        Some(t) => t.starts_with("vt1") || t.starts_with("vt2"),
    };
    match no_color.is_some_and(|v| !v.is_empty()) || mono_term {
        true => Palette::Mono,
        false => Palette::Color,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_and_plain_terminals_get_no_colours() {
        assert_eq!(palette(None, Some("xterm-256color")), Palette::Color);
        assert_eq!(palette(Some(""), Some("screen")), Palette::Color);
        assert_eq!(palette(Some("1"), Some("xterm")), Palette::Mono);
        assert_eq!(palette(None, Some("dumb")), Palette::Mono);
        assert_eq!(palette(None, Some("vt100")), Palette::Mono);
        assert_eq!(palette(None, None), Palette::Mono);
    }
}
