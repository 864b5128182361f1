//! Where unix sockets come from (`-x`): unix_diag netlink (default) or
//! `/proc/net/unix`, chosen here as [`super::collect`] chooses for TCP.
//! netlink has no reference count; when the caller shows it (netstat's
//! table), it is read from `/proc/net/unix` and joined by inode.

use std::collections::HashMap;
use std::path::Path;

use super::{netlink, proc_unix, Used};
use crate::error::{note, Error, Result};
use crate::model::unix::{UnixName, UnixSocket, UnixType};
use crate::model::SourceChoice;

/// What a unix listing asks its source for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Which source to read.
    pub choice: SourceChoice,
    /// Where /proc is (fixtures in tests).
    pub proc_root: &'a Path,
    /// The reference counts are shown (netstat's table): netlink rows get
    /// them from `/proc/net/unix`.
    pub refcnt: bool,
    /// Say on stderr what was skipped or fell back.
    pub verbose: bool,
}

/// Fills `out` with the namespace's unix sockets from the source `req`
/// chooses; under `auto`, a netlink failure falls back to /proc.
pub fn collect(req: &Request<'_>, out: &mut Vec<UnixSocket>) -> Result<Used> {
    match req.choice {
        SourceChoice::Proc => read_proc(req, out).map(|()| Used::Proc),
        SourceChoice::Netlink => dump_netlink(req, out).map(|()| Used::Netlink),
        SourceChoice::Auto => match dump_netlink(req, out) {
            Ok(()) => Ok(Used::Netlink),
            Err(e) => {
                if req.verbose {
                    note(format_args!("{e}; falling back to /proc/net/unix"));
                }
                read_proc(req, out).map(|()| Used::Proc)
            }
        },
    }
}

fn read_proc(req: &Request<'_>, out: &mut Vec<UnixSocket>) -> Result<()> {
    let stats = proc_unix::read(req.proc_root, out)?;
    if req.verbose && stats.skipped > 0 {
        note(format_args!(
            "/proc/net/unix: skipped {} line(s) that were not rows",
            stats.skipped
        ));
    }
    Ok(())
}

/// The unix_diag dump; for the table, `/proc/net/unix` is read at the
/// same time on a second thread (two walks of the kernel's table, the
/// wall time of one) and joined for RefCnt and order.
fn dump_netlink(req: &Request<'_>, out: &mut Vec<UnixSocket>) -> Result<()> {
    let (stats, table) = std::thread::scope(|scope| {
        let table = req.refcnt.then(|| {
            scope.spawn(|| {
                let mut table = Vec::new();
                proc_unix::read(req.proc_root, &mut table).map(|_| table)
            })
        });
        let stats = netlink::unix_diag::dump(out);
        (stats, table.map(|t| t.join()))
    });
    let stats = stats?;
    if req.verbose && (stats.skipped > 0 || stats.restarts > 0) {
        note(format_args!(
            "netlink: skipped {} unparsable message(s), restarted {} interrupted dump(s)",
            stats.skipped, stats.restarts
        ));
    }
    match table {
        Some(Ok(Ok(table))) => join_proc(out, &table),
        // The rows stand without it; their RefCnt shows `-`.
        Some(Ok(Err(e))) if req.verbose => note(format_args!("{e}; reference counts not shown")),
        Some(Err(_)) => return Err(Error::runtime("reading /proc/net/unix failed")),
        _ => {}
    }
    Ok(())
}

/// Rows without an inode are told apart only by type and address.
type PendingKey<'a> = (UnixType, Option<&'a UnixName>);

/// Gives each row the reference count `/proc/net/unix` shows for its
/// inode, and puts the rows in the file's order (netstat's). Rows without
/// an inode (connections not yet accepted) are alike but for their count,
/// so those of one type and address take the counts and places /proc
/// shows for such rows, in order. A row /proc lacks (a socket made after
/// it was read) keeps no count and goes last.
pub fn join_proc(rows: &mut Vec<UnixSocket>, table: &[UnixSocket]) {
    let mut by_inode = HashMap::with_capacity(table.len());
    let mut pending: HashMap<PendingKey<'_>, Vec<(u32, usize)>> = HashMap::new();
    for (at, t) in table.iter().enumerate().rev() {
        let Some(n) = t.refcnt else { continue };
        match t.inode {
            0 => pending
                .entry((t.kind, t.name.as_ref()))
                .or_default()
                .push((n, at)),
            inode => {
                by_inode.insert(inode, (n, at));
            }
        }
    }
    let mut places = Vec::with_capacity(rows.len());
    for row in rows.iter_mut() {
        let found = match row.inode {
            0 => pending
                .get_mut(&(row.kind, row.name.as_ref()))
                .and_then(Vec::pop),
            inode => by_inode.get(&inode).copied(),
        };
        row.refcnt = found.map(|(n, _)| n);
        places.push(found.map_or(usize::MAX, |(_, at)| at));
    }
    sort_by_places(rows, &places);
}

/// Sorts `rows` by `places` (stably: equal places keep their order).
fn sort_by_places(rows: &mut Vec<UnixSocket>, places: &[usize]) {
    let mut tagged: Vec<(usize, UnixSocket)> = places.iter().copied().zip(rows.drain(..)).collect();
    tagged.sort_by_key(|(at, _)| *at);
    rows.extend(tagged.into_iter().map(|(_, row)| row));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::unix::UnixState;

    fn row(inode: u64, name: Option<&[u8]>, refcnt: Option<u32>) -> UnixSocket {
        UnixSocket {
            kind: UnixType::Stream,
            state: UnixState::Connected,
            flags: 0,
            refcnt,
            inode,
            peer: None,
            name: name.map(|n| UnixName(n.into())),
            queues: None,
            pending: Vec::new(),
        }
    }

    #[test]
    fn counts_and_order_join_by_inode_and_pending_rows_by_address() {
        let table = [
            row(5, None, Some(3)),
            row(0, Some(b"/l"), Some(3)),
            row(6, Some(b"/l"), Some(2)),
            row(0, Some(b"/l"), Some(2)),
        ];
        let mut rows = vec![
            row(6, Some(b"/l"), None),
            row(0, Some(b"/l"), None),
            row(0, Some(b"/l"), None),
            row(0, Some(b"/l"), None),
            row(5, None, None),
            row(7, None, None),
        ];
        join_proc(&mut rows, &table);
        let got: Vec<_> = rows.iter().map(|r| (r.inode, r.refcnt)).collect();
        // In /proc's order; what /proc lacks last, in the dump's order.
        let want = [(5, Some(3)), (0, Some(3)), (6, Some(2)), (0, Some(2))];
        assert_eq!(got[..4], want);
        assert_eq!(got[4..], [(0, None), (7, None)]);
    }
}
