//! Reading the sockets: one dump and, when owners are needed, one process
//! scan at the same time on a second thread, then the filter. A one-shot
//! run reads once; watch mode reads once per pass into the same buffers.
//! Takes a [`Plan`] (built from the config by `crate::plan`), never the
//! config itself.

use crate::error::{note, Error, Result};
use crate::filter::NoOwners;
use crate::model::{OwnerSource, Socket};
use crate::owners::{OwnerScanner, ProcessMap};
use crate::source;

pub mod each_netns;
mod stream;

pub use stream::{Batch, Streamed};
pub mod unix;

/// What a collector reads on every pass.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// The sockets to dump, and the filter applied to them.
    pub request: source::Request<'a>,
    /// Where owners come from; `None` when neither shown nor filtered on.
    pub owners: Option<OwnerSource>,
    /// Whether passes repeat (watch mode), which makes loading the BPF
    /// owner iterator pay at once.
    pub repeated: bool,
    /// The network namespaces to dump one by one (`-N all`), their rows
    /// tagged with each; empty: the one this process is in.
    pub namespaces: &'a [each_netns::Target],
}

/// Reads passes for one plan, reusing its row buffer.
pub struct Collector<'a> {
    plan: Plan<'a>,
    /// The plan's namespaces, until [`Collector::set_namespaces`] changes
    /// them (`-N all` in watch mode finds them again before each pass).
    namespaces: Vec<each_netns::Target>,
    rows: Vec<Socket>,
    owners: OwnerScanner,
    /// Whether the one-time notes (source used, unreadable processes)
    /// were said.
    noted: bool,
}

/// What one pass read.
pub struct Pass<'r> {
    /// The rows, filtered unless the collector was told not to. The buffer
    /// may be swapped for another (`--events` keeps the last pass's).
    pub rows: &'r mut Vec<Socket>,
    /// The owner map, when the config needs owners.
    pub owners: Option<ProcessMap>,
    /// The source that read the rows.
    pub used: source::Used,
}

impl<'a> Collector<'a> {
    /// A collector for `plan`.
    pub fn new(plan: Plan<'a>) -> Collector<'a> {
        Collector {
            plan,
            namespaces: plan.namespaces.to_vec(),
            rows: Vec::new(),
            owners: OwnerScanner::new(
                plan.request.proc_root,
                plan.owners.unwrap_or_default(),
                plan.repeated,
            ),
            noted: false,
        }
    }

    /// The namespaces to dump from the next pass on (`-N all`: those watch
    /// mode finds again before each pass, and serve before each scrape). Never empty under `-N all`: this process's own
    /// namespace is always found.
    pub fn set_namespaces(&mut self, targets: &[each_netns::Target]) {
        self.namespaces.clear();
        self.namespaces.extend_from_slice(targets);
    }

    /// Dumps the sockets (and scans owners on a second thread). With
    /// `filtered`, rows the plan's filter rejects are dropped, as in a
    /// one-shot listing.
    pub fn collect(&mut self, filtered: bool) -> Result<Pass<'_>> {
        let plan = self.plan;
        let rows = &mut self.rows;
        let scanner = &mut self.owners;
        let namespaces = self.namespaces.as_slice();
        let (used, owners) = std::thread::scope(|scope| {
            let scan = plan
                .owners
                .is_some()
                .then(|| scope.spawn(|| scanner.scan()));
            let used = match namespaces {
                [] => source::collect(&plan.request, rows),
                targets => each_netns::dump_each(&plan.request, targets, rows),
            };
            (used, scan.map(|h| h.join()))
        });
        let used = used?;
        let owners = match owners {
            Some(Ok(Ok(map))) => Some(map),
            Some(Ok(Err(why))) => return Err(Error::runtime(why)),
            Some(Err(_)) => return Err(Error::runtime("process scan failed")),
            None => None,
        };
        if !self.noted {
            self.noted = true;
            note_once(plan.request.verbose, used, self.rows.len(), owners.as_ref());
            if let Some(how) = self.owners.describe().filter(|_| plan.request.verbose) {
                note(format_args!("read owners from {how}"));
            }
        }
        let filter = plan.request.filter;
        if filtered && !filter.keeps_all() {
            match &owners {
                Some(map) => self.rows.retain(|s| filter.matches(s, map)),
                None => self.rows.retain(|s| filter.matches(s, &NoOwners)),
            }
        }
        shrink_vec(&mut self.rows, 1024);
        Ok(Pass {
            rows: &mut self.rows,
            owners,
            used,
        })
    }
}

/// Said after the first pass only: the source (under -v), and, as netstat
/// does for non-root users, that some owners could not be identified.
fn note_once(verbose: bool, used: source::Used, rows: usize, owners: Option<&ProcessMap>) {
    if verbose {
        note(format_args!("read {rows} sockets from {used:?}"));
    }
    // As netstat: the note is about privilege, so root is never told (some
    // processes, such as a sandbox's init, stay unreadable even to root).
    if owners.is_some_and(|m| m.unreadable() > 0) && !crate::sys::user::is_root() {
        note(format_args!(
            "not all processes could be identified; non-owned process info will not be shown (run as root to see it all)"
        ));
    }
}

/// Gives back memory after a population shrank a lot: halves a vector's
/// spare room when it is more than three quarters empty (and bigger than
/// `floor`). True when it shrank.
pub(crate) fn shrink_vec<T>(v: &mut Vec<T>, floor: usize) -> bool {
    let len = v.len();
    shrink_vec_for(v, len, floor)
}

/// [`shrink_vec`] for a buffer that is empty between uses and will next
/// hold about `live` items: it keeps room for twice that, rather than
/// being freed after every use and grown again, page by page, the next.
pub(crate) fn shrink_vec_for<T>(v: &mut Vec<T>, live: usize, floor: usize) -> bool {
    let shrink = v.capacity() > 4 * live.max(floor);
    if shrink {
        v.shrink_to(2 * live);
    }
    shrink
}
