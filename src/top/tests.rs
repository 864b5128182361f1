//! Frames of `top`, drawn on ratatui's test backend from hand-built
//! refreshes and compared cell by cell: sorting, the typed filter,
//! grouping, the marks of new, changed and gone rows (in colour and
//! without), a selection that follows its socket, narrow terminals.

use super::draw::draw;
use super::refresh::{Refresh, StateCount, Tracker};
use super::state::{App, Effect, Palette};
use super::view::derive;
use crate::model::{TcpState, TimerKind};
use crate::test_support::{sock, SocketExt};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Two passes: the second has one connection gone (port 2), one new
/// (port 4) and one whose state changed (port 1 to CLOSE_WAIT).
fn two_passes() -> Arc<Refresh> {
    let mut tracker = Tracker::new();
    let t0 = Instant::now();
    let a = sock(TcpState::Established, "10.0.0.1:22", "10.0.0.9:1").timer(
        TimerKind::Keepalive,
        7_197_160,
        0,
        0,
    );
    let b = sock(TcpState::Established, "10.0.0.1:22", "10.0.0.9:2");
    let c = sock(TcpState::TimeWait, "10.0.0.1:80", "10.0.0.7:3").timer(
        TimerKind::TimeWait,
        59_800,
        0,
        0,
    );
    let first = Refresh {
        entries: tracker.entries(vec![a.clone(), b, c.clone()], None, None, t0),
        ..Refresh::default()
    };
    let mut a2 = a;
    a2.state = TcpState::CloseWait;
    a2.recv_q = 1;
    let d = sock(TcpState::SynSent, "10.0.0.1:40000", "10.0.0.8:4").timer(TimerKind::On, 560, 3, 0);
    let t1 = t0 + Duration::from_secs(5);
    let mut entries = tracker.entries(vec![a2, c, d], None, Some(&first), t1);
    for e in &mut entries {
        e.program = match e.socket.local.port {
            22 => Some("101/sshd".into()),
            80 => None,
            _ => Some("202/curl".into()),
        };
    }
    Arc::new(Refresh {
        entries,
        states: vec![
            StateCount {
                state: "ESTABLISHED",
                count: 0,
            },
            StateCount {
                state: "CLOSE_WAIT",
                count: 1,
            },
        ][1..]
            .to_vec(),
        time: "12:00:05".into(),
        ..Refresh::default()
    })
}

fn app(palette: Palette) -> App {
    App::new(palette, false, Duration::from_secs(1))
}

/// Shows `refresh` as `spec` asks, as the collecting thread would.
fn show(app: &mut App, refresh: &Arc<Refresh>) {
    let snapshot = derive(refresh, &app.spec);
    app.absorb(Arc::new(snapshot));
}

/// Presses `code`, doing what the loop would do with a new spec.
fn press(app: &mut App, refresh: &Arc<Refresh>, code: KeyCode) {
    if let Effect::Spec(_) = app.key(KeyEvent::new(code, KeyModifiers::NONE)) {
        show(app, refresh);
    }
}

fn type_text(app: &mut App, refresh: &Arc<Refresh>, text: &str) {
    for c in text.chars() {
        press(app, refresh, KeyCode::Char(c));
    }
}

fn frame(app: &mut App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    app.fit(super::draw::table_rows(height, app));
    terminal.draw(|f| draw(f, app)).unwrap();
    terminal.backend().buffer().clone()
}

/// The buffer's lines, trailing blanks cut.
fn lines(buffer: &Buffer) -> Vec<String> {
    let width = buffer.area.width as usize;
    let symbols: Vec<&str> = buffer.content.iter().map(|c| c.symbol()).collect();
    symbols
        .chunks(width)
        .map(|row| row.concat().trim_end().to_string())
        .collect()
}

/// The line of the buffer that contains `text`.
fn row_of(buffer: &Buffer, text: &str) -> u16 {
    let at = lines(buffer).iter().position(|l| l.contains(text));
    at.unwrap_or_else(|| panic!("{text:?} not on screen:\n{}", lines(buffer).join("\n"))) as u16
}

#[test]
fn eighty_by_twenty_four_shows_every_row_with_its_marks() {
    let refresh = two_passes();
    let mut app = app(Palette::Color);
    show(&mut app, &refresh);
    let buffer = frame(&mut app, 80, 24);
    let expected = [
        "tcpstat top  12:00:05Z every 1s  3 sockets: CLOSE_WAIT 1",
        "findings: none",
        "  Recv-Q Local Address▲          Foreign Address        State       PID/Program",
        "~      1 10.0.0.1:22             10.0.0.9:1             CLOSE_WAIT  101/sshd",
        "-      0 10.0.0.1:22             10.0.0.9:2             ESTABLISHED 101/sshd",
        "       0 10.0.0.1:80             10.0.0.7:3             TIME_WAIT   -",
        "+      0 10.0.0.1:40000          10.0.0.8:4             SYN_SENT    202/curl",
    ];
    let got = lines(&buffer);
    assert_eq!(got[..expected.len()], expected, "\n{}", got.join("\n"));
    assert!(got[7..23].iter().all(String::is_empty));
    assert!(got[23].starts_with("4 shown  q quit ? help / filter"));
    assert!(got.iter().all(|l| l.chars().count() <= 80));
}

#[test]
fn new_rows_are_green_gone_red_changed_yellow_and_the_selection_reversed() {
    let refresh = two_passes();
    let mut app = app(Palette::Color);
    show(&mut app, &refresh);
    let buffer = frame(&mut app, 80, 24);
    let fg = |text: &str| buffer[(3, row_of(&buffer, text))].fg;
    assert_eq!(fg("10.0.0.8:4"), Color::Green);
    assert_eq!(fg("10.0.0.9:2"), Color::Red);
    assert_eq!(fg("10.0.0.9:1"), Color::Yellow);
    assert_eq!(fg("10.0.0.7:3"), Color::Reset);
    let selected = buffer[(3, row_of(&buffer, "10.0.0.9:1"))].modifier;
    assert!(selected.contains(Modifier::REVERSED));
    let other = buffer[(3, row_of(&buffer, "10.0.0.7:3"))].modifier;
    assert!(!other.contains(Modifier::REVERSED));
}

#[test]
fn without_colours_marks_are_bold_dim_and_signs() {
    let refresh = two_passes();
    let mut app = app(Palette::Mono);
    show(&mut app, &refresh);
    let buffer = frame(&mut app, 80, 24);
    for cell in buffer.content.iter() {
        assert!(
            matches!(cell.fg, Color::Reset) && matches!(cell.bg, Color::Reset),
            "a colour without colours: {cell:?}"
        );
    }
    let style = |text: &str| buffer[(3, row_of(&buffer, text))].modifier;
    assert!(style("10.0.0.8:4").contains(Modifier::BOLD));
    assert!(style("10.0.0.9:2").contains(Modifier::DIM));
    let line = |text: &str| lines(&buffer)[row_of(&buffer, text) as usize].clone();
    assert!(line("10.0.0.8:4").starts_with('+'));
    assert!(line("10.0.0.9:2").starts_with('-'));
    assert!(line("10.0.0.9:1").starts_with('~'));
}

#[test]
fn sorting_by_any_column_and_reversing() {
    let refresh = two_passes();
    let mut app = app(Palette::Color);
    show(&mut app, &refresh);
    // Local → Foreign → State.
    press(&mut app, &refresh, KeyCode::Char('>'));
    press(&mut app, &refresh, KeyCode::Char('>'));
    let buffer = frame(&mut app, 80, 24);
    let state_of = |l: &String| {
        let names = ["ESTABLISHED", "SYN_SENT", "TIME_WAIT", "CLOSE_WAIT"];
        names.into_iter().find(|n| l.contains(n)).unwrap_or("?")
    };
    let order: Vec<&str> = lines(&buffer)[3..7].iter().map(state_of).collect();
    assert_eq!(
        order,
        ["ESTABLISHED", "SYN_SENT", "TIME_WAIT", "CLOSE_WAIT"]
    );
    assert!(lines(&buffer)[2].contains("State▲"));
    press(&mut app, &refresh, KeyCode::Char('r'));
    let buffer = frame(&mut app, 80, 24);
    assert!(lines(&buffer)[2].contains("State▼"));
    assert!(lines(&buffer)[3].contains("CLOSE_WAIT"));
    assert!(lines(&buffer)[6].contains("ESTABLISHED"));
    // Every column can be chosen, and the sort comes round again.
    for _ in 0..super::columns::Column::ALL.len() - 1 {
        press(&mut app, &refresh, KeyCode::Char('>'));
    }
    assert_eq!(app.spec.sort, super::columns::Column::State);
}

#[test]
fn typing_a_filter_narrows_the_rows_and_errors_show_inline() {
    let refresh = two_passes();
    let mut app = app(Palette::Color);
    show(&mut app, &refresh);
    press(&mut app, &refresh, KeyCode::Char('/'));
    type_text(&mut app, &refresh, "sport = :22");
    let buffer = frame(&mut app, 80, 24);
    let got = lines(&buffer);
    assert!(got[3].contains("10.0.0.9:1") && got[4].contains("10.0.0.9:2"));
    assert!(got[5].is_empty(), "{}", got.join("\n"));
    assert_eq!(got[23], "/sport = :22_");
    // An expression cut short keeps the last good filter and says why.
    type_text(&mut app, &refresh, " and");
    let buffer = frame(&mut app, 80, 24);
    let got = lines(&buffer);
    assert!(got[23].starts_with("/sport = :22 and_  "), "{}", got[23]);
    assert!(got[23].len() > "/sport = :22 and_  ".len());
    let error = buffer[(20, 23)].fg;
    assert_eq!(error, Color::Red);
    assert!(got[4].contains("10.0.0.9:2") && got[5].is_empty());
    // Enter keeps it; the footer says which filter is on.
    for _ in 0..4 {
        press(&mut app, &refresh, KeyCode::Backspace);
    }
    press(&mut app, &refresh, KeyCode::Enter);
    let got = lines(&frame(&mut app, 80, 24));
    assert!(got[23].starts_with("[/sport = :22] 2 shown"), "{}", got[23]);
    // Esc on the filter line clears it.
    press(&mut app, &refresh, KeyCode::Char('/'));
    press(&mut app, &refresh, KeyCode::Esc);
    assert_eq!(app.snapshot.as_ref().unwrap().rows.len(), 4);
}

#[test]
fn grouping_counts_sockets_and_enter_shows_a_groups_rows() {
    let refresh = two_passes();
    let mut app = app(Palette::Color);
    show(&mut app, &refresh);
    press(&mut app, &refresh, KeyCode::Char('g'));
    let buffer = frame(&mut app, 80, 24);
    let got = lines(&buffer);
    assert_eq!(
        got[2..5],
        [
            "Process (Enter: its sockets)  Sockets   New States",
            "-                                   1     0 TIME_WAIT 1",
            "101/sshd                            1     0 CLOSE_WAIT 1",
        ],
        "\n{}",
        got.join("\n")
    );
    assert!(got[5].starts_with("202/curl") && got[5].ends_with("1     1 SYN_SENT 1"));
    // By local port: 22 has one live socket (the gone one is not counted).
    press(&mut app, &refresh, KeyCode::Char('g'));
    let got = lines(&frame(&mut app, 80, 24));
    assert!(got[2].starts_with("Local port"));
    assert!(got[3..6]
        .iter()
        .any(|l| l.starts_with("22 ") && l.contains("CLOSE_WAIT 1")));
    press(&mut app, &refresh, KeyCode::Down);
    press(&mut app, &refresh, KeyCode::Enter);
    let got = lines(&frame(&mut app, 80, 24));
    assert!(got[2].contains("Local Address"), "{}", got.join("\n"));
    let shown: Vec<&String> = got[3..]
        .iter()
        .filter(|l| l.contains("10.0.0.1:"))
        .collect();
    assert!(!shown.is_empty() && shown.iter().all(|l| l.contains(&shown[0][2..14])));
    assert!(got[23].starts_with('['));
    press(&mut app, &refresh, KeyCode::Esc);
    assert!(app.spec.grouped());
}

#[test]
fn the_selection_follows_its_socket_across_refreshes() {
    let refresh = two_passes();
    let mut app = app(Palette::Color);
    show(&mut app, &refresh);
    press(&mut app, &refresh, KeyCode::Down);
    press(&mut app, &refresh, KeyCode::Down);
    let chosen = app.current().unwrap().id;
    assert_eq!(app.current().unwrap().socket.remote.port, 3);
    // Next refresh: the gone row left, a new one sorts before the chosen.
    let mut tracker = Tracker::new();
    let entries: Vec<_> = refresh
        .entries
        .iter()
        .filter(|e| e.socket.remote.port != 2)
        .map(|e| e.socket.clone())
        .chain([sock(TcpState::Established, "10.0.0.1:23", "10.0.0.9:9")])
        .collect();
    let next = Arc::new(Refresh {
        entries: tracker.entries(entries, None, None, Instant::now()),
        ..Refresh::default()
    });
    show(&mut app, &next);
    assert_eq!(app.current().unwrap().id, chosen);
    let buffer = frame(&mut app, 80, 24);
    let row = row_of(&buffer, "10.0.0.7:3");
    assert_eq!(row, 5, "the same line of the screen");
    assert!(buffer[(3, row)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn narrow_and_short_terminals_drop_columns_and_scroll() {
    let refresh = two_passes();
    let mut app = app(Palette::Color);
    show(&mut app, &refresh);
    let wide = lines(&frame(&mut app, 160, 24));
    for title in ["Proto", "Timer", "Send/s", "Retr/s", "Age"] {
        assert!(wide[2].contains(title), "{title} at 160: {}", wide[2]);
    }
    assert!(wide.iter().any(|l| l.contains("keepalive 7197s")));
    assert!(wide.iter().any(|l| l.contains("on 0.56s r3")));
    let narrow = lines(&frame(&mut app, 80, 24));
    assert!(!narrow[2].contains("Timer") && !narrow[2].contains("Proto"));
    // Six lines: two rows fit; the cursor at the last row scrolls.
    press(&mut app, &refresh, KeyCode::End);
    let short = lines(&frame(&mut app, 80, 6));
    assert_eq!(app.page, 2);
    assert!(short[4].contains("10.0.0.8:4"), "{}", short.join("\n"));
    assert!(!short.iter().any(|l| l.contains("10.0.0.9:1")));
    assert!(short.iter().all(|l| l.chars().count() <= 80));
}

#[test]
fn detail_pane_shows_every_field_timer_owner_and_note() {
    let refresh = two_passes();
    let mut app = app(Palette::Color);
    show(&mut app, &refresh);
    press(&mut app, &refresh, KeyCode::Enter);
    let got = lines(&frame(&mut app, 80, 24));
    let pane = got[14..23].join("\n");
    assert!(got[14].contains("detail (Esc)"), "{}", got.join("\n"));
    assert!(pane.contains("tcp 10.0.0.1:22 -> 10.0.0.9:1  CLOSE_WAIT  (was ESTABLISHED)"));
    assert!(pane.contains("recv-q 1  send-q 0  uid 0  inode 1"));
    assert!(pane.contains("timer keepalive (7197.16/0/0)"));
    assert!(pane.contains("owners 101/sshd"));
    assert!(pane.contains("note "), "{pane}");
    press(&mut app, &refresh, KeyCode::Esc);
    assert!(!app.detail);
}

#[test]
fn help_and_the_kill_confirmation_are_overlays() {
    let refresh = two_passes();
    let mut app = app(Palette::Color);
    show(&mut app, &refresh);
    press(&mut app, &refresh, KeyCode::Char('?'));
    let got = lines(&frame(&mut app, 80, 24)).join("\n");
    assert!(got.contains("keys (any key closes)") && got.contains("q Ctrl-C"));
    press(&mut app, &refresh, KeyCode::Char('x'));
    press(&mut app, &refresh, KeyCode::Char('k'));
    let got = lines(&frame(&mut app, 80, 24)).join("\n");
    assert!(got.contains("Close tcp 10.0.0.1:22 -> 10.0.0.9:1"), "{got}");
    let no = app.key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE));
    assert!(matches!(no, Effect::None));
    press(&mut app, &refresh, KeyCode::Char('k'));
    let yes = app.key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE));
    assert!(matches!(yes, Effect::Kill(e) if e.socket.remote.port == 1));
    let quit = app.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(matches!(quit, Effect::Quit));
}

#[test]
fn names_from_outside_are_escaped_on_screen() {
    let refresh = two_passes();
    let mut hostile = Arc::try_unwrap(refresh).unwrap();
    // What the tracker makes of an owner: program_label escapes.
    let label = crate::render::table::program_label(7, "evil\u{1b}[2Jname");
    hostile.entries[0].program = Some(label.into());
    let refresh = Arc::new(hostile);
    let mut app = app(Palette::Color);
    show(&mut app, &refresh);
    press(&mut app, &refresh, KeyCode::Char('/'));
    type_text(&mut app, &refresh, "\u{7}");
    let got = lines(&frame(&mut app, 200, 24)).join("\n");
    assert!(!got.contains('\u{1b}'));
    assert!(got.contains("7/evil\\u{1b}[2Jname"), "{got}");
}

#[test]
fn p_pauses_and_the_header_says_so() {
    let refresh = two_passes();
    let mut app = app(Palette::Color);
    show(&mut app, &refresh);
    let paused = app.key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE));
    assert!(matches!(paused, Effect::Pause(true)));
    let got = lines(&frame(&mut app, 80, 24));
    assert!(got[0].contains("  PAUSED  3 sockets"), "{}", got[0]);
    let resumed = app.key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE));
    assert!(matches!(resumed, Effect::Pause(false)));
    assert!(!lines(&frame(&mut app, 80, 24))[0].contains("PAUSED"));
}
