//! What the table shows of a refresh: the rows the typed filter keeps, in
//! the chosen order, or their groups with counts. Computed on the
//! collecting thread ([`derive()`]), never on the one that reads keys, so a
//! sort of 100k rows never holds up typing.

use super::columns::Column;
use super::refresh::{Entry, Mark, Refresh};
use crate::filter::{Filter, NoOwners, Owners};
use crate::model::TcpState;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// What to group rows by (`g`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Process,
    LocalPort,
    RemoteHost,
    State,
    Namespace,
}

impl GroupBy {
    /// The next grouping `g` chooses, `None` after the last.
    pub fn next(current: Option<GroupBy>) -> Option<GroupBy> {
        match current {
            None => Some(GroupBy::Process),
            Some(GroupBy::Process) => Some(GroupBy::LocalPort),
            Some(GroupBy::LocalPort) => Some(GroupBy::RemoteHost),
            Some(GroupBy::RemoteHost) => Some(GroupBy::State),
            Some(GroupBy::State) => Some(GroupBy::Namespace),
            Some(GroupBy::Namespace) => None,
        }
    }

    /// The heading of the group column.
    pub fn title(self) -> &'static str {
        match self {
            GroupBy::Process => "Process",
            GroupBy::LocalPort => "Local port",
            GroupBy::RemoteHost => "Remote host",
            GroupBy::State => "State",
            GroupBy::Namespace => "Namespace",
        }
    }

    /// The group `e` belongs to.
    pub fn key(self, e: &Entry) -> GroupKey {
        let s = &e.socket;
        match self {
            GroupBy::Process => GroupKey::Process(e.program.clone()),
            GroupBy::LocalPort => GroupKey::Port(s.local.port),
            GroupBy::RemoteHost => GroupKey::Host(s.remote.display_addr()),
            GroupBy::State => GroupKey::State(s.state),
            GroupBy::Namespace => GroupKey::Netns(s.netns),
        }
    }
}

/// One group's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// `PID/name`, escaped; `None` for sockets no process holds.
    Process(Option<Arc<str>>),
    Port(u16),
    Host(IpAddr),
    State(TcpState),
    Netns(u64),
}

impl GroupKey {
    /// The grouping this key is of.
    pub fn by(&self) -> GroupBy {
        match self {
            GroupKey::Process(_) => GroupBy::Process,
            GroupKey::Port(_) => GroupBy::LocalPort,
            GroupKey::Host(_) => GroupBy::RemoteHost,
            GroupKey::State(_) => GroupBy::State,
            GroupKey::Netns(_) => GroupBy::Namespace,
        }
    }

    /// The key as the group's row names it.
    pub fn text(&self, refresh: &Refresh) -> String {
        match self {
            GroupKey::Process(p) => p.as_deref().unwrap_or("-").into(),
            GroupKey::Port(p) => p.to_string(),
            GroupKey::Host(a) => crate::model::addr::Ntop(*a).to_string(),
            GroupKey::State(s) => s.name().into(),
            GroupKey::Netns(0) => "this namespace".into(),
            GroupKey::Netns(n) => {
                let label = refresh.labels.as_deref().and_then(|l| l.get(n));
                label.map_or_else(|| n.to_string(), |l| crate::escape::escape(&l.name).into())
            }
        }
    }
}

/// A group of rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub key: GroupKey,
    /// Rows in it (gone ones not counted).
    pub count: usize,
    /// Of which new since the last refresh.
    pub new: usize,
    /// Per state, most first.
    pub states: Vec<(TcpState, usize)>,
}

/// How to show a refresh: what the keys chose.
#[derive(Debug, Clone)]
pub struct ViewSpec {
    pub sort: Column,
    pub reverse: bool,
    /// The typed filter (`/`), parsed.
    pub filter: Option<Arc<Filter>>,
    pub group: Option<GroupBy>,
    /// The group whose rows are shown (Enter on a group).
    pub drill: Option<GroupKey>,
}

impl Default for ViewSpec {
    fn default() -> ViewSpec {
        ViewSpec {
            sort: Column::Local,
            reverse: false,
            filter: None,
            group: None,
            drill: None,
        }
    }
}

impl ViewSpec {
    /// True when groups are shown rather than rows.
    pub fn grouped(&self) -> bool {
        self.group.is_some() && self.drill.is_none()
    }
}

/// A refresh as the table shows it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub refresh: Arc<Refresh>,
    /// Indexes into `refresh.entries` of the rows shown, in order.
    pub rows: Vec<u32>,
    /// The groups, when grouping (and not showing one group's rows).
    pub groups: Vec<Group>,
    /// The spec it was made for.
    pub spec: ViewSpec,
}

impl Snapshot {
    /// The `i`th row shown.
    pub fn entry(&self, i: usize) -> Option<&Entry> {
        let at = *self.rows.get(i)?;
        self.refresh.entries.get(at as usize)
    }

    /// How many lines the table has: rows, or groups.
    pub fn len(&self) -> usize {
        match self.spec.grouped() {
            true => self.groups.len(),
            false => self.rows.len(),
        }
    }

    /// True when there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The rows of `refresh` that `spec` keeps, in its order, and its groups.
pub fn derive(refresh: &Arc<Refresh>, spec: &ViewSpec) -> Snapshot {
    let owners: &dyn Owners = match &refresh.owners {
        Some(map) => map,
        None => &NoOwners,
    };
    let keep = |e: &Entry| {
        spec.filter
            .as_ref()
            .is_none_or(|f| f.matches(&e.socket, owners))
            && spec
                .drill
                .as_ref()
                .is_none_or(|key| key.by().key(e) == *key)
    };
    let entries = &refresh.entries;
    let mut rows: Vec<u32> = (0..entries.len() as u32)
        .filter(|&i| keep(&entries[i as usize]))
        .collect();
    // Ties are broken by the addresses, so that equal keys keep their
    // places from one refresh to the next whatever order the kernel used.
    rows.sort_unstable_by(|&i, &j| {
        let (a, b) = (&entries[i as usize], &entries[j as usize]);
        let by = spec.sort.compare(a, b, refresh);
        let by = if spec.reverse { by.reverse() } else { by };
        by.then_with(|| Column::Local.compare(a, b, refresh))
            .then_with(|| Column::Remote.compare(a, b, refresh))
            .then_with(|| a.socket.cookie().cmp(&b.socket.cookie()))
            .then_with(|| (a.mark == Mark::Gone).cmp(&(b.mark == Mark::Gone)))
    });
    let groups = match (spec.group, spec.drill.is_none()) {
        (Some(by), true) => group(entries, &rows, by, refresh),
        _ => Vec::new(),
    };
    Snapshot {
        refresh: Arc::clone(refresh),
        rows,
        groups,
        spec: spec.clone(),
    }
}

/// The groups of the rows, largest first (then by name).
fn group(entries: &[Entry], rows: &[u32], by: GroupBy, refresh: &Refresh) -> Vec<Group> {
    let mut groups: HashMap<GroupKey, Group> = HashMap::new();
    for &i in rows {
        let e = &entries[i as usize];
        if e.mark == Mark::Gone {
            continue;
        }
        let key = by.key(e);
        let g = groups.entry(key.clone()).or_insert_with(|| Group {
            key,
            count: 0,
            new: 0,
            states: Vec::new(),
        });
        g.count += 1;
        g.new += usize::from(e.mark == Mark::New);
        match g.states.iter_mut().find(|(s, _)| *s == e.socket.state) {
            Some((_, n)) => *n += 1,
            None => g.states.push((e.socket.state, 1)),
        }
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    for g in &mut groups {
        g.states.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    }
    let mut named: Vec<(String, Group)> = groups
        .into_iter()
        .map(|g| (g.key.text(refresh), g))
        .collect();
    named.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
    named.into_iter().map(|(_, g)| g).collect()
}
