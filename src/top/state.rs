//! The state of the view between two frames: the snapshot on screen, the
//! selection (by socket identity, so it follows its row across refreshes
//! and keeps its place on the screen), what is being typed, and the
//! overlays. Keys change it and say what the loop must do ([`Effect`]);
//! `draw` only reads it.

use super::columns::Column;
use super::refresh::{Entry, Identity, Mark};
use super::view::{GroupBy, GroupKey, Snapshot, ViewSpec};
use crate::filter::{parse_expression, Filter};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::sync::Arc;

/// What takes the keys.
#[derive(Debug, Clone)]
pub enum Input {
    /// The table: moving, sorting, grouping.
    Table,
    /// The filter line (`/`).
    Filter,
    /// The key help (`?`).
    Help,
    /// Asking whether to close this socket (`k`).
    Confirm(Box<Entry>),
}

/// What the loop does after a key.
#[derive(Debug)]
pub enum Effect {
    /// Only draw again.
    None,
    /// Ask the collecting thread for the view of this spec.
    Spec(ViewSpec),
    /// Stop or resume refreshing.
    Pause(bool),
    /// Close this socket, as `-K` does.
    Kill(Box<Entry>),
    /// End, status 0.
    Quit,
}

/// Colours, or bold and dim on a terminal without them (`NO_COLOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Palette {
    Color,
    Mono,
}

/// The view's state.
#[derive(Debug)]
pub struct App {
    pub snapshot: Option<Arc<Snapshot>>,
    /// The socket selected, when rows are shown.
    pub selected: Option<Identity>,
    /// The selected line (row or group) and the first line on screen.
    pub cursor: usize,
    pub offset: usize,
    /// Lines the table has room for (set from the terminal's size).
    pub page: usize,
    pub spec: ViewSpec,
    pub input: Input,
    pub filter_text: String,
    pub filter_error: Option<String>,
    /// The detail pane is open.
    pub detail: bool,
    pub paused: bool,
    /// A message for the footer (a kill's result, a failed pass).
    pub status: Option<String>,
    pub palette: Palette,
    /// Whether rows come from several namespaces (a NETNS column).
    pub netns: bool,
    /// The refresh interval, for the header.
    pub interval: std::time::Duration,
}

impl Input {
    /// True while the filter line takes the keys.
    pub fn is_filter(&self) -> bool {
        matches!(self, Input::Filter)
    }
}

impl App {
    /// A view with nothing yet to show.
    pub fn new(palette: Palette, netns: bool, interval: std::time::Duration) -> App {
        App {
            snapshot: None,
            selected: None,
            cursor: 0,
            offset: 0,
            page: 1,
            spec: ViewSpec::default(),
            input: Input::Table,
            filter_text: String::new(),
            filter_error: None,
            detail: false,
            paused: false,
            status: None,
            palette,
            netns,
            interval,
        }
    }

    /// Takes a new snapshot, keeping the selected socket selected and on
    /// the same line of the screen when it is still there.
    pub fn absorb(&mut self, snapshot: Arc<Snapshot>) {
        let on_screen = self.cursor.saturating_sub(self.offset);
        let found = match snapshot.spec.grouped() {
            true => None,
            false => self.selected.and_then(|id| {
                (0..snapshot.rows.len()).find(|&i| snapshot.entry(i).is_some_and(|e| e.id == id))
            }),
        };
        if let Some(i) = found {
            self.cursor = i;
            self.offset = i.saturating_sub(on_screen);
        }
        self.snapshot = Some(snapshot);
        self.fit(self.page);
    }

    /// Keeps the cursor on a line and on screen with `page` lines.
    pub fn fit(&mut self, page: usize) {
        self.page = page.max(1);
        let len = self.snapshot.as_ref().map_or(0, |s| s.len());
        self.cursor = self.cursor.min(len.saturating_sub(1));
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + self.page {
            self.offset = self.cursor + 1 - self.page;
        }
        self.offset = self.offset.min(len.saturating_sub(self.page));
        self.selected = self.current().map(|e| e.id);
    }

    /// The selected row, when rows are shown.
    pub fn current(&self) -> Option<&Entry> {
        let snapshot = self.snapshot.as_ref()?;
        match snapshot.spec.grouped() {
            true => None,
            false => snapshot.entry(self.cursor),
        }
    }

    /// Handles a key.
    pub fn key(&mut self, key: KeyEvent) -> Effect {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Effect::Quit;
        }
        self.status = None;
        match &self.input {
            Input::Table => self.table_key(key),
            Input::Filter => self.filter_key(key),
            Input::Help => {
                self.input = Input::Table;
                Effect::None
            }
            Input::Confirm(entry) => {
                let entry = entry.clone();
                self.input = Input::Table;
                match key.code {
                    KeyCode::Char('y' | 'Y') => Effect::Kill(entry),
                    _ => {
                        self.status = Some("nothing was closed".into());
                        Effect::None
                    }
                }
            }
        }
    }

    fn table_key(&mut self, key: KeyEvent) -> Effect {
        let page = self.page;
        match key.code {
            KeyCode::Char('q') => return Effect::Quit,
            KeyCode::Up => self.move_by(-1),
            KeyCode::Down => self.move_by(1),
            KeyCode::PageUp => self.move_by(-(page as isize)),
            KeyCode::PageDown => self.move_by(page as isize),
            KeyCode::Home => self.move_by(isize::MIN / 2),
            KeyCode::End => self.move_by(isize::MAX / 2),
            KeyCode::Char('?') => self.input = Input::Help,
            KeyCode::Char('/') => self.input = Input::Filter,
            KeyCode::Char('p') => {
                self.paused = !self.paused;
                return Effect::Pause(self.paused);
            }
            KeyCode::Char('>' | 's') => return self.sort_by(1),
            KeyCode::Char('<') => return self.sort_by(-1),
            KeyCode::Char('r') => {
                self.spec.reverse = !self.spec.reverse;
                return Effect::Spec(self.spec.clone());
            }
            KeyCode::Char('g') => {
                self.spec.group = GroupBy::next(self.spec.group);
                self.spec.drill = None;
                self.cursor = 0;
                return Effect::Spec(self.spec.clone());
            }
            KeyCode::Enter => return self.enter(),
            KeyCode::Esc => return self.back(),
            KeyCode::Char('k') => self.ask_kill(),
            _ => {}
        }
        Effect::None
    }

    fn move_by(&mut self, by: isize) {
        self.cursor = self.cursor.saturating_add_signed(by);
        self.fit(self.page);
    }

    /// Sorts by the next (`step` 1) or previous column.
    fn sort_by(&mut self, step: isize) -> Effect {
        let sortable = &Column::ALL[1..];
        let at = sortable.iter().position(|c| *c == self.spec.sort);
        let len = sortable.len() as isize;
        let next = at.map_or(0, |i| (i as isize + step).rem_euclid(len));
        self.spec.sort = sortable[next as usize];
        Effect::Spec(self.spec.clone())
    }

    /// Enter: a group's rows, or the detail of the selected row.
    fn enter(&mut self) -> Effect {
        let Some(snapshot) = &self.snapshot else {
            return Effect::None;
        };
        if snapshot.spec.grouped() {
            // Groups of another grouping than the one asked for last are
            // on screen until the collecting thread answers: wait for it.
            let Some(group) = snapshot.groups.get(self.cursor) else {
                return Effect::None;
            };
            if Some(group.key.by()) != self.spec.group || self.spec.drill.is_some() {
                return Effect::None;
            }
            self.spec.drill = Some(group.key.clone());
            self.cursor = 0;
            return Effect::Spec(self.spec.clone());
        }
        self.detail = !self.detail;
        Effect::None
    }

    /// Esc: closes the detail pane, or goes back from a group's rows.
    fn back(&mut self) -> Effect {
        if self.detail {
            self.detail = false;
            return Effect::None;
        }
        if self.spec.drill.take().is_some() {
            self.cursor = 0;
            return Effect::Spec(self.spec.clone());
        }
        Effect::None
    }

    fn ask_kill(&mut self) {
        match self.current() {
            Some(e) if e.mark == Mark::Gone => {
                self.status = Some("that socket is gone already".into());
            }
            Some(e) => self.input = Input::Confirm(Box::new(e.clone())),
            None => self.status = Some("select a socket to close".into()),
        }
    }

    /// A key on the filter line: the filter is parsed and applied as it
    /// is typed; an error is shown, and the last good filter stays.
    fn filter_key(&mut self, key: KeyEvent) -> Effect {
        match key.code {
            KeyCode::Enter => {
                self.input = Input::Table;
                return Effect::None;
            }
            KeyCode::Esc => {
                self.input = Input::Table;
                self.filter_text.clear();
            }
            KeyCode::Backspace => {
                self.filter_text.pop();
            }
            KeyCode::Char(c) if !c.is_control() && self.filter_text.len() < 512 => {
                self.filter_text.push(c)
            }
            _ => return Effect::None,
        }
        match parse_filter(&self.filter_text) {
            Ok(filter) => {
                self.filter_error = None;
                self.spec.filter = filter.map(Arc::new);
                Effect::Spec(self.spec.clone())
            }
            Err(e) => {
                self.filter_error = Some(e);
                Effect::None
            }
        }
    }
}

/// The typed filter, in the command line's expression language (split
/// into words at blanks, as a shell would without quotes); `None` when
/// empty.
pub fn parse_filter(text: &str) -> Result<Option<Filter>, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Ok(None);
    }
    let query = parse_expression(&words).map_err(|e| e.to_string())?;
    Ok(Some(Filter::new().with_query(query)))
}

/// The group key `g` selected, for tests and the footer.
pub fn drill_text(spec: &ViewSpec, snapshot: &Snapshot) -> Option<String> {
    let key: &GroupKey = spec.drill.as_ref()?;
    Some(key.text(&snapshot.refresh))
}
