//! One pass over unix sockets (`-x`): the dump and, when owners are
//! needed, the process scan on a second thread, as [`super::Collector`]
//! does for TCP; then netstat's -a/-l selection and the filter.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::filter::unix::UnixFilter;
use crate::filter::NoOwners;
use crate::model::unix::{UnixName, UnixSocket};
use crate::model::{OwnerSource, Owners};
use crate::owners::{OwnerScanner, ProcessMap};
use crate::source::{self, unix::Request};

/// Which listening state a listing keeps (netstat's -a, -l, neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    All,
    Listening,
    NotListening,
}

impl Selection {
    /// Whether `s` is in the selection, as netstat's `unix_do_one` decides.
    pub fn keeps(self, s: &UnixSocket) -> bool {
        match self {
            Selection::All => true,
            Selection::Listening => s.is_listening(),
            Selection::NotListening => !s.is_listening(),
        }
    }
}

/// What one unix pass read.
pub struct UnixPass {
    pub rows: Vec<UnixSocket>,
    pub owners: Option<ProcessMap>,
    pub used: source::Used,
}

/// Reads the unix sockets `req` asks for, scanning owners from `owners`
/// at the same time when given, and keeps those in `selection` that
/// `filter` accepts.
pub fn collect(
    req: &Request<'_>,
    owners: Option<OwnerSource>,
    selection: Selection,
    filter: &UnixFilter,
) -> Result<UnixPass> {
    let mut rows = Vec::new();
    let (used, scanned) = std::thread::scope(|scope| {
        let scan = owners.map(|source| {
            scope.spawn(move || OwnerScanner::new(req.proc_root, source, false).scan())
        });
        let used = source::unix::collect(req, &mut rows);
        (used, scan.map(|h| h.join()))
    });
    let used = used?;
    let owners = match scanned {
        Some(Ok(Ok(map))) => Some(map),
        Some(Ok(Err(why))) => return Err(Error::runtime(why)),
        Some(Err(_)) => return Err(Error::runtime("process scan failed")),
        None => None,
    };
    keep(&mut rows, selection, filter, owners.as_ref());
    Ok(UnixPass { rows, owners, used })
}

/// Drops the rows outside `selection` or refused by `filter`; `dst`
/// finds each peer's address among all rows read, before any is dropped.
fn keep(
    rows: &mut Vec<UnixSocket>,
    selection: Selection,
    filter: &UnixFilter,
    owners: Option<&ProcessMap>,
) {
    if filter.keeps_all() {
        rows.retain(|s| selection.keeps(s));
        return;
    }
    let names: HashMap<u64, UnixName> = match filter.needs_peers() {
        true => rows
            .iter()
            .filter(|s| s.inode != 0)
            .filter_map(|s| Some((s.inode, s.name.clone()?)))
            .collect(),
        false => HashMap::new(),
    };
    let owners: &dyn Owners = match owners {
        Some(map) => map,
        None => &NoOwners,
    };
    rows.retain(|s| selection.keeps(s) && filter.matches(s, owners, |inode| names.get(&inode)));
}
