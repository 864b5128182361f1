//! A one-shot listing read and written at once: rows go to the output in
//! batches as the dump reads them, so memory no longer grows with the
//! number of sockets. Owners, when needed, come from the scan running on a
//! second thread; rows read before it ends wait for it (the dump is not
//! held up), then everything flows.

use std::io;
use std::thread::ScopedJoinHandle;

use super::{note_once, Collector};
use crate::error::{Error, Result};
use crate::filter::NoOwners;
use crate::model::Socket;
use crate::owners::ProcessMap;
use crate::source;

/// Rows handed over at a time: about 600 KiB of rows, enough to keep
/// per-batch costs (a name lookup round, a writer call) small.
const BATCH: usize = 4096;

/// What takes each batch of a streamed pass: the rows (filtered; it may
/// keep or take them) and the owner map when the plan needs owners.
pub type Batch<'b> = dyn FnMut(&mut Vec<Socket>, Option<&ProcessMap>) -> io::Result<()> + 'b;

/// What a streamed pass read, once its rows are written.
pub struct Streamed {
    /// The source that read the rows.
    pub used: source::Used,
    /// How writing went: an error stopped the dump there.
    pub written: io::Result<()>,
}

/// Where a streamed pass's owner map stands.
enum Scan<'s> {
    /// Not needed.
    Unneeded,
    /// Still running on its thread.
    Running(ScopedJoinHandle<'s, std::result::Result<ProcessMap, String>>),
    /// Done.
    Done(ProcessMap),
}

impl Scan<'_> {
    /// Whether rows can go out: the owner map is there or not needed. With
    /// `wait`, waits for the scan.
    fn settle(&mut self, wait: bool) -> Result<bool> {
        let Scan::Running(handle) = self else {
            return Ok(true);
        };
        if !wait && !handle.is_finished() {
            return Ok(false);
        }
        let Scan::Running(handle) = std::mem::replace(self, Scan::Unneeded) else {
            unreachable!("matched above")
        };
        *self = Scan::Done(match handle.join() {
            Ok(Ok(map)) => map,
            Ok(Err(why)) => return Err(Error::runtime(why)),
            Err(_) => return Err(Error::runtime("process scan failed")),
        });
        Ok(true)
    }

    /// The owner map, when the scan is done.
    fn into_map(self) -> Option<ProcessMap> {
        match self {
            Scan::Done(map) => Some(map),
            _ => None,
        }
    }

    fn map(&self) -> Option<&ProcessMap> {
        match self {
            Scan::Done(map) => Some(map),
            _ => None,
        }
    }
}

impl Collector<'_> {
    /// Reads one pass of the plan and hands its rows, filtered, to `each` in batches as they are
    /// read, with the owner map when the plan needs owners. A write error
    /// from `each` stops the dump; it is returned in
    /// [`Streamed::written`].
    pub fn stream(&mut self, each: &mut Batch<'_>) -> Result<Streamed> {
        self.stream_with(each, true, true)
            .map(|(streamed, _)| streamed)
    }

    /// [`Collector::stream`] for a pass that is diffed, not written
    /// (sampled `--events`): the rows are not filtered and, unless
    /// `wait_for_owners`, go to `each` as they are read, without the owner
    /// map, which is returned with the pass once the scan is done.
    pub fn stream_unfiltered(
        &mut self,
        each: &mut Batch<'_>,
        wait_for_owners: bool,
    ) -> Result<(Streamed, Option<ProcessMap>)> {
        self.stream_with(each, false, wait_for_owners)
    }

    fn stream_with(
        &mut self,
        each: &mut Batch<'_>,
        filtered: bool,
        wait_for_owners: bool,
    ) -> Result<(Streamed, Option<ProcessMap>)> {
        let plan = self.plan;
        let filter = plan.request.filter;
        let (rows, scanner) = (&mut self.rows, &mut self.owners);
        let namespaces = self.namespaces.as_slice();
        let mut read = 0usize;
        let mut written = Ok(());
        let (used, scan) = std::thread::scope(|scope| {
            let mut scan = match plan.owners {
                Some(_) => Scan::Running(scope.spawn(|| scanner.scan())),
                None => Scan::Unneeded,
            };
            // Rows held back stay in the vector the source handed over, and
            // the source keeps them (a later protocol's dump goes elsewhere
            // until they are taken).
            let mut hand_over = |rows: &mut Vec<Socket>, last: bool| -> Result<()> {
                if rows.len() < BATCH && !last {
                    return Ok(());
                }
                let settled = scan.settle(last)?;
                if wait_for_owners && !settled {
                    return Ok(());
                }
                read += rows.len();
                let map = scan.map().filter(|_| wait_for_owners);
                match map {
                    _ if !filtered => {}
                    Some(map) => rows.retain(|s| filter.matches(s, map)),
                    None if !filter.keeps_all() => rows.retain(|s| filter.matches(s, &NoOwners)),
                    None => {}
                }
                let result = each(rows, map);
                rows.clear();
                result.map_err(|e| {
                    written = Err(e);
                    Error::runtime("output failed")
                })
            };
            let flush = &mut |rows: &mut Vec<Socket>| hand_over(rows, false);
            let used = match namespaces {
                [] => source::stream(&plan.request, rows, flush),
                targets => super::each_netns::stream_each(&plan.request, targets, rows, flush),
            };
            let used = used.and_then(|used| hand_over(rows, true).map(|()| used));
            (used, scan.into_map())
        });
        if written.is_err() {
            let used = used.unwrap_or(source::Used::Netlink);
            return Ok((Streamed { used, written }, scan));
        }
        let used = used?;
        if !self.noted {
            self.noted = true;
            note_once(plan.request.verbose, used, read, scan.as_ref());
            if let Some(how) = self.owners.describe().filter(|_| plan.request.verbose) {
                crate::error::note(format_args!("read owners from {how}"));
            }
        }
        super::shrink_vec(&mut self.rows, BATCH);
        Ok((Streamed { used, written }, scan))
    }
}
