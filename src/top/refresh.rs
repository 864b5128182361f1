//! One refresh of `top`: the rows of a pass, each marked against the
//! pass before (new, state changed, or gone: a vanished row is kept for
//! one refresh), with its owner's label and its age, and the `-s` counts
//! and findings of the pass. Built on the collecting thread by
//! [`Tracker`]; shared with the drawing thread behind an `Arc`, never
//! changed after.

use crate::collect::each_netns::Target;
use crate::diagnose::summary::{Finding, Summary};
use crate::kill::Places;
use crate::model::{Endpoint, Socket, TcpState};
use crate::netns::label::Labels;
use crate::owners::ProcessMap;
use crate::render::table::program_label;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// How a row differs from the refresh before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// As it was (or the first refresh).
    Same,
    /// Not in the refresh before.
    New,
    /// In another state before (the state it was in).
    Changed(TcpState),
    /// In the refresh before, not in this one: shown once more, then gone.
    Gone,
}

/// A socket's identity across refreshes: its cookie where the source
/// gives one (a new connection on a reused 4-tuple is another socket),
/// with its addresses and namespace, which are all /proc has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    cookie: u64,
    local: Endpoint,
    remote: Endpoint,
    netns: u64,
}

impl Identity {
    /// The identity of `s`.
    pub fn of(s: &Socket) -> Identity {
        Identity {
            cookie: s.cookie(),
            local: s.local,
            remote: s.remote,
            netns: s.netns,
        }
    }
}

/// One row of a refresh.
#[derive(Debug, Clone)]
pub struct Entry {
    pub socket: Socket,
    pub id: Identity,
    pub mark: Mark,
    /// The first owner as `PID/name`, escaped for the terminal.
    pub program: Option<Arc<str>>,
    /// Seconds since top first saw it.
    pub age_secs: u64,
    /// True when it was there at top's first refresh: older than shown.
    pub age_at_least: bool,
}

/// Sockets in one state, both families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateCount {
    pub state: &'static str,
    pub count: usize,
}

/// A refresh: the rows (current ones, then the gone ones) and what `-s`
/// says of them.
#[derive(Debug, Default)]
pub struct Refresh {
    pub entries: Vec<Entry>,
    /// The owners of the current rows, for the filter and the detail pane.
    pub owners: Option<ProcessMap>,
    /// Sockets per state (states with none left out).
    pub states: Vec<StateCount>,
    /// The summary's findings, most serious first.
    pub findings: Vec<Finding>,
    /// When the pass was read, `HH:MM:SS` (UTC).
    pub time: String,
    /// Namespace names, with `-N all`.
    pub labels: Option<Arc<Labels>>,
    /// The namespaces the pass read (what opens each), with `-N all`.
    pub targets: Option<Arc<[Target]>>,
}

impl Refresh {
    /// Rows in the refresh that are not gone.
    pub fn live(&self) -> usize {
        self.entries.iter().filter(|e| e.mark != Mark::Gone).count()
    }

    /// The namespace name of `e` (with `-N all`).
    pub fn netns_name(&self, e: &Entry) -> Option<&str> {
        let labels = self.labels.as_deref()?;
        Some(labels.get(&e.socket.netns).map_or("?", |l| l.name.as_str()))
    }

    /// Where the rows were read, for `k` to close one there: `-N all`'s
    /// namespaces and labels; `None`: the current namespace.
    pub fn places(&self) -> Places<'_> {
        self.targets.as_deref().zip(self.labels.as_deref())
    }

    /// The counts and findings of `summary`.
    pub fn with_summary(mut self, summary: Summary) -> Refresh {
        self.states = summary
            .states
            .iter()
            .map(|c| StateCount {
                state: c.state,
                count: c.tcp + c.tcp6,
            })
            .filter(|c| c.count > 0)
            .collect();
        self.findings = summary.findings;
        self
    }
}

/// What the tracker remembers of a socket.
#[derive(Debug, Clone, Copy)]
struct Seen {
    state: TcpState,
    first: Instant,
}

/// Marks each pass against the one before.
#[derive(Debug)]
pub struct Tracker {
    seen: HashMap<Identity, Seen>,
    started: Option<Instant>,
}

impl Default for Tracker {
    fn default() -> Tracker {
        Tracker::new()
    }
}

impl Tracker {
    /// A tracker that has seen no pass.
    pub fn new() -> Tracker {
        Tracker {
            seen: HashMap::new(),
            started: None,
        }
    }

    /// The entries of a pass read at `now`: `rows` marked against the
    /// pass before, then the rows of `previous` (that pass's refresh)
    /// that are gone.
    pub fn entries(
        &mut self,
        rows: Vec<Socket>,
        owners: Option<&ProcessMap>,
        previous: Option<&Refresh>,
        now: Instant,
    ) -> Vec<Entry> {
        let started = *self.started.get_or_insert(now);
        let first_pass = self.seen.is_empty() && previous.is_none();
        let mut seen = HashMap::with_capacity(rows.len());
        let mut labels: Vec<Option<Arc<str>>> = vec![None; owners.map_or(0, |m| m.slots())];
        let mut entries = Vec::with_capacity(rows.len());
        for socket in rows {
            let id = Identity::of(&socket);
            let before = self.seen.get(&id).copied();
            let mark = match before {
                None if first_pass => Mark::Same,
                None => Mark::New,
                Some(b) if b.state != socket.state => Mark::Changed(b.state),
                Some(_) => Mark::Same,
            };
            let first = before.map_or(now, |b| b.first);
            seen.insert(
                id,
                Seen {
                    state: socket.state,
                    first,
                },
            );
            let program = owners.and_then(|m| {
                let (slot, owner) = m.first_owner(socket.inode)?;
                let label = labels[slot]
                    .get_or_insert_with(|| program_label(owner.pid, &owner.name).into());
                Some(label.clone())
            });
            entries.push(Entry {
                socket,
                id,
                mark,
                program,
                age_secs: now.saturating_duration_since(first).as_secs(),
                age_at_least: first == started,
            });
        }
        if let Some(previous) = previous {
            let gone = previous
                .entries
                .iter()
                .filter(|e| e.mark != Mark::Gone && !seen.contains_key(&e.id));
            entries.extend(gone.map(|e| Entry {
                mark: Mark::Gone,
                ..e.clone()
            }));
        }
        self.seen = seen;
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sock;
    use std::time::Duration;

    fn marks(entries: &[Entry]) -> Vec<(u16, Mark)> {
        entries
            .iter()
            .map(|e| (e.socket.remote.port, e.mark))
            .collect()
    }

    #[test]
    fn rows_are_new_changed_then_gone_for_one_refresh() {
        let mut tracker = Tracker::new();
        let t0 = Instant::now();
        let a = sock(TcpState::Established, "10.0.0.1:22", "10.0.0.2:1");
        let b = sock(TcpState::Established, "10.0.0.1:22", "10.0.0.2:2");
        let first = Refresh {
            entries: tracker.entries(vec![a.clone(), b.clone()], None, None, t0),
            ..Refresh::default()
        };
        assert_eq!(marks(&first.entries), [(1, Mark::Same), (2, Mark::Same)]);
        let mut a2 = a.clone();
        a2.state = TcpState::CloseWait;
        let c = sock(TcpState::SynSent, "10.0.0.1:40000", "10.0.0.3:3");
        let t1 = t0 + Duration::from_secs(1);
        let second = Refresh {
            entries: tracker.entries(vec![a2.clone(), c.clone()], None, Some(&first), t1),
            ..Refresh::default()
        };
        assert_eq!(
            marks(&second.entries),
            [
                (1, Mark::Changed(TcpState::Established)),
                (3, Mark::New),
                (2, Mark::Gone)
            ]
        );
        assert!(second.entries[0].age_at_least && second.entries[0].age_secs == 1);
        assert!(!second.entries[1].age_at_least);
        let t2 = t1 + Duration::from_secs(1);
        let third = tracker.entries(vec![a2, c], None, Some(&second), t2);
        assert_eq!(marks(&third), [(1, Mark::Same), (3, Mark::Same)]);
        assert_eq!(third[1].age_secs, 1);
    }

    #[test]
    fn a_reused_four_tuple_with_another_cookie_is_another_socket() {
        let mut tracker = Tracker::new();
        let t0 = Instant::now();
        let mut a = sock(TcpState::Established, "10.0.0.1:22", "10.0.0.2:1");
        a.diag_id = Some(crate::model::DiagId {
            interface: 0,
            cookie: 7,
        });
        let first = Refresh {
            entries: tracker.entries(vec![a.clone()], None, None, t0),
            ..Refresh::default()
        };
        a.diag_id = Some(crate::model::DiagId {
            interface: 0,
            cookie: 8,
        });
        let second = tracker.entries(vec![a], None, Some(&first), t0);
        assert_eq!(marks(&second), [(1, Mark::New), (1, Mark::Gone)]);
    }
}
