//! Drawing a frame from the [`App`] state alone: the header (counts per
//! state, findings), the table (only the rows on screen are made), the
//! detail pane, the footer with the keys or the filter being typed, and
//! the help and confirmation overlays. Text from outside the program is
//! escaped ([`crate::escape`]) before it is put on screen.

use super::columns::{layout, Column};
use super::refresh::{Entry, Mark, Refresh};
use super::state::{App, Input, Palette};
use super::view::Snapshot;
use crate::escape::escape;
use crate::render::table::{program_label, timer_text};
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

/// Lines above the table's rows: the header, the findings, the headings.
const ABOVE: u16 = 3;
/// The footer.
const BELOW: u16 = 1;
/// The detail pane's height when open.
const DETAIL: u16 = 9;

/// The keys, as the help overlay lists them.
pub const KEYS: &[(&str, &str)] = &[
    ("Up/Down", "move the selection"),
    (
        "PgUp/PgDn Home/End",
        "move by a page, to the first or last row",
    ),
    ("< > (or s)", "sort by the previous / next column"),
    ("r", "reverse the order"),
    (
        "/",
        "filter as you type, ss syntax (Enter keeps, Esc clears)",
    ),
    (
        "g",
        "group by process, local port, remote host, state, netns",
    ),
    ("Enter", "detail of the selected socket; a group's sockets"),
    ("Esc", "close the detail; back from a group's sockets"),
    ("p", "pause / resume refreshing"),
    ("k", "close the selected connection (as -K), after y"),
    ("?", "this help"),
    ("q Ctrl-C", "quit"),
];

/// The rows the table has room for in a terminal `height` lines high.
pub fn table_rows(height: u16, app: &App) -> usize {
    let detail = if app.detail { DETAIL } else { 0 };
    height.saturating_sub(ABOVE + BELOW + detail).max(1) as usize
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let rows = table_rows(area.height, app) as u16;
    let at = |y: u16, h: u16| Rect::new(area.x, area.y + y, area.width, h).intersection(area);
    frame.render_widget(Paragraph::new(header(app)), at(0, 1));
    frame.render_widget(Paragraph::new(findings(app)), at(1, 1));
    let table_area = at(2, rows + 1);
    match &app.snapshot {
        Some(s) if s.spec.grouped() => draw_groups(frame, app, s, table_area),
        Some(s) => draw_rows(frame, app, s, table_area),
        None => frame.render_widget(Paragraph::new("reading the sockets…"), table_area),
    }
    if app.detail {
        draw_detail(frame, app, at(ABOVE + rows, DETAIL));
    }
    frame.render_widget(
        Paragraph::new(footer(app)),
        at(area.height.saturating_sub(1), 1),
    );
    match &app.input {
        Input::Help => draw_help(frame, area),
        Input::Confirm(entry) => draw_confirm(frame, area, entry),
        _ => {}
    }
}

/// `tcpstat top  12:00:01Z every 1s  42 sockets: ESTABLISHED 30 …`
fn header(app: &App) -> Line<'static> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut spans = vec![Span::styled("tcpstat top", bold)];
    let Some(s) = &app.snapshot else {
        return Line::from(spans);
    };
    let r = &s.refresh;
    let every = app.interval.as_secs_f64();
    spans.push(Span::raw(format!("  {}Z every {every}s", r.time)));
    if app.paused {
        spans.push(Span::styled("  PAUSED", bold));
    }
    let live = r.live();
    let plural = if live == 1 { "" } else { "s" };
    spans.push(Span::raw(format!("  {live} socket{plural}:")));
    for c in &r.states {
        spans.push(Span::raw(format!(" {} {}", c.state, c.count)));
    }
    Line::from(spans)
}

/// The findings of `-s`, the most serious first, or that there are none.
fn findings(app: &App) -> Line<'static> {
    let Some(s) = &app.snapshot else {
        return Line::default();
    };
    let found = &s.refresh.findings;
    let Some(first) = found.first() else {
        return Line::from("findings: none");
    };
    let style = match app.palette {
        Palette::Color => Style::new().fg(Color::Yellow),
        Palette::Mono => Style::new().add_modifier(Modifier::BOLD),
    };
    let more = match found.len() {
        1 => String::new(),
        n => format!(" (+{} more: tcpstat -s)", n - 1),
    };
    Line::from(vec![
        Span::styled(
            format!(
                "{}: {}",
                first.severity.name(),
                escape(&first.message).into_owned()
            ),
            style,
        ),
        Span::raw(more),
    ])
}

/// The style of a row marked `mark`.
fn mark_style(mark: Mark, palette: Palette) -> Style {
    match (palette, mark) {
        (_, Mark::Same) => Style::new(),
        (Palette::Color, Mark::New) => Style::new().fg(Color::Green),
        (Palette::Color, Mark::Gone) => Style::new().fg(Color::Red),
        (Palette::Color, Mark::Changed(_)) => {
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
        }
        (Palette::Mono, Mark::New | Mark::Changed(_)) => Style::new().add_modifier(Modifier::BOLD),
        (Palette::Mono, Mark::Gone) => Style::new().add_modifier(Modifier::DIM),
    }
}

fn selected_style() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

fn heading(text: String, numeric: bool) -> Cell<'static> {
    let line = Line::from(text).style(Style::new().add_modifier(Modifier::BOLD));
    Cell::from(match numeric {
        true => line.alignment(Alignment::Right),
        false => line,
    })
}

/// The rows on screen, and nothing more: the others are never formatted.
fn draw_rows(frame: &mut Frame, app: &App, s: &Snapshot, area: Rect) {
    let laid = layout(area.width, app.netns);
    let arrow = if s.spec.reverse { "▼" } else { "▲" };
    let headings = laid.iter().map(|(c, _)| {
        let mut title = c.title().to_string();
        if *c == s.spec.sort {
            title.push_str(arrow);
        }
        heading(title, c.numeric())
    });
    let visible = (app.offset..s.rows.len()).take(app.page);
    let rows = visible.filter_map(|i| {
        let e = s.entry(i)?;
        let cells = laid.iter().map(|(c, _)| cell(*c, e, &s.refresh));
        let mut style = mark_style(e.mark, app.palette);
        if i == app.cursor {
            style = style.patch(selected_style());
        }
        Some(Row::new(cells).style(style))
    });
    let widths = laid.iter().map(|(_, w)| Constraint::Length(*w));
    let table = Table::new(rows, widths)
        .header(Row::new(headings))
        .column_spacing(1);
    frame.render_widget(table, area);
    if s.rows.is_empty() {
        let empty = Rect::new(area.x, area.y + 1, area.width, 1).intersection(area);
        frame.render_widget(Paragraph::new("no socket matches"), empty);
    }
}

fn cell(c: Column, e: &Entry, refresh: &Refresh) -> Cell<'static> {
    let line = Line::from(c.cell(e, refresh));
    Cell::from(match c.numeric() {
        true => line.alignment(Alignment::Right),
        false => line,
    })
}

/// One line per group: its key, how many sockets, new ones, per state.
fn draw_groups(frame: &mut Frame, app: &App, s: &Snapshot, area: Rect) {
    let by = s.spec.group.map_or("", |g| g.title());
    let headings = [
        heading(format!("{by} (Enter: its sockets)"), false),
        heading("Sockets".into(), true),
        heading("New".into(), true),
        heading("States".into(), false),
    ];
    let visible = (app.offset..s.groups.len()).take(app.page);
    let rows = visible.map(|i| {
        let g = &s.groups[i];
        let states: Vec<String> = g
            .states
            .iter()
            .map(|(state, n)| format!("{} {n}", state.name()))
            .collect();
        let style = match i == app.cursor {
            true => selected_style(),
            false => Style::new(),
        };
        Row::new([
            Cell::from(g.key.text(&s.refresh)),
            Cell::from(Line::from(g.count.to_string()).alignment(Alignment::Right)),
            Cell::from(Line::from(g.new.to_string()).alignment(Alignment::Right)),
            Cell::from(states.join(", ")),
        ])
        .style(style)
    });
    let widths = [
        Constraint::Length(28),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths)
        .header(Row::new(headings))
        .column_spacing(1);
    frame.render_widget(table, area);
}

/// The selected socket, whole: every field, owners, timer, note, tcp_info.
fn draw_detail(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::new().borders(Borders::TOP).title(" detail (Esc) ");
    let text = match (app.current(), &app.snapshot) {
        (Some(e), Some(s)) => detail_lines(e, &s.refresh),
        _ => vec![Line::from("no socket selected")],
    };
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
        area,
    );
}

/// The detail pane's text for `e`.
pub fn detail_lines(e: &Entry, refresh: &Refresh) -> Vec<Line<'static>> {
    let s = &e.socket;
    let local = Column::Local.cell(e, refresh);
    let remote = Column::Remote.cell(e, refresh);
    let change = match e.mark {
        Mark::Same => String::new(),
        Mark::New => "  (new)".into(),
        Mark::Gone => "  (gone)".into(),
        Mark::Changed(old) => format!("  (was {old})"),
    };
    let mut lines = vec![Line::from(format!(
        "{} {local} -> {remote}  {}{change}  age {}",
        s.proto(),
        s.state,
        Column::Age.cell(e, refresh)
    ))];
    let shutdown = match s.shutdown {
        Some(sd) => format!(
            "  shutdown {}{}",
            if sd.read { "R" } else { "-" },
            if sd.write { "W" } else { "-" }
        ),
        None => String::new(),
    };
    lines.push(Line::from(format!(
        "recv-q {}  send-q {}  uid {}  inode {}  cookie {}{shutdown}",
        s.recv_q,
        s.send_q,
        s.uid,
        s.inode,
        s.cookie()
    )));
    lines.push(Line::from(format!("timer {}", timer_text(&s.timer))));
    let owners = refresh.owners.as_ref().map(|m| m.owners(s.inode));
    let owners = match (owners, &e.program) {
        (Some(list), _) if !list.is_empty() => list
            .iter()
            .map(|o| program_label(o.pid, &o.name))
            .collect::<Vec<_>>()
            .join(", "),
        (_, Some(p)) => p.to_string(),
        _ => "-".into(),
    };
    lines.push(Line::from(format!("owners {owners}")));
    if let Some(note) = crate::diagnose::explain(s) {
        lines.push(Line::from(format!("note {note}")));
    }
    if s.info.is_some() || s.memory.is_some() {
        let mut inside = Vec::new();
        crate::render::inside::push_continuation(&mut inside, s, true);
        let text = String::from_utf8_lossy(&inside);
        lines.push(Line::from(format!("tcp_info {}", escape(text.trim()))));
    }
    lines
}

/// The footer: the filter being typed, a message, or the keys.
fn footer(app: &App) -> Line<'static> {
    let error_style = match app.palette {
        Palette::Color => Style::new().fg(Color::Red),
        Palette::Mono => Style::new().add_modifier(Modifier::BOLD),
    };
    if app.input.is_filter() {
        let mut spans = vec![
            Span::raw(format!("/{}", escape(&app.filter_text))),
            Span::raw("_"),
        ];
        if let Some(e) = &app.filter_error {
            spans.push(Span::styled(format!("  {}", escape(e)), error_style));
        }
        return Line::from(spans);
    }
    if let Some(status) = &app.status {
        return Line::from(Span::styled(escape(status).into_owned(), error_style));
    }
    let mut spans = Vec::new();
    if !app.filter_text.is_empty() {
        spans.push(Span::styled(
            format!("[/{}] ", escape(&app.filter_text)),
            Style::new().add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(s) = &app.snapshot {
        if let Some(group) = super::state::drill_text(&s.spec, s) {
            spans.push(Span::styled(
                format!("[{group}] "),
                Style::new().add_modifier(Modifier::BOLD),
            ));
        }
        let shown = s.len();
        spans.push(Span::raw(format!("{shown} shown  ")));
    }
    spans.push(Span::raw(
        "q quit ? help / filter <> sort r rev g group Enter detail p pause k close",
    ));
    Line::from(spans)
}

/// A box centred in `area`, `w` by `h` at most.
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(format!("{k:<18} {what}")))
        .collect();
    let rect = centred(area, 78, KEYS.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" keys (any key closes) ");
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

fn draw_confirm(frame: &mut Frame, area: Rect, e: &Entry) {
    let s = &e.socket;
    let mut out = String::new();
    crate::render::table::format_endpoint(&mut out, &s.local, None, true);
    let local = out.clone();
    crate::render::table::format_endpoint(&mut out, &s.remote, None, true);
    let lines = vec![
        Line::from(format!("Close {} {local} -> {out}", s.proto())),
        Line::from(format!(
            "{}, held by {}?",
            s.state,
            e.program.as_deref().unwrap_or("-")
        )),
        Line::from("y closes it (as tcpstat -K); any other key keeps it"),
    ];
    let rect = centred(area, 76, 5);
    frame.render_widget(Clear, rect);
    let block = Block::new().borders(Borders::ALL).title(" close? ");
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
