//! The terminal while `top` runs: raw mode and the alternate screen, left
//! again however the program ends — on quit and on a stop signal (the
//! [`Screen`] is dropped), on a panic (a hook restores it before the
//! message is printed), on a lost terminal (the same drop; writes to a
//! terminal that is gone fail and are ignored).

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{self, Stdout};
use std::sync::Once;

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

/// Leaves the alternate screen and raw mode, showing the cursor again.
/// Errors are ignored: the terminal may be gone.
pub fn restore() {
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
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
