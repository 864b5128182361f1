//! Where sockets come from: sock_diag netlink (default) or /proc/net/*.
//! The choice is made here and nowhere else; every source takes a
//! [`Request`] and fills the same model. A request names a set of
//! protocols, read one after the other in netstat's order (tcp, udp,
//! udplite, raw), each from its own dump or its own /proc tables. A new
//! protocol is a variant of [`Protocol`] that both sources learn; a new
//! source is a module here and a variant of [`SourceChoice`].

pub mod bytecode;
pub mod destroy;
pub mod netlink;
pub mod proc;
pub mod proc_unix;
pub(crate) mod split;
pub mod transitions;
pub mod unix;

use crate::error::{note, Result};
use crate::filter::Filter;
use crate::model::{Parallel, Protocol, ProtocolSet, Socket, SourceChoice, StateSet};
pub use netlink::Flush;
use std::path::Path;

/// What a listing asks its source for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The protocols to list, in netstat's order.
    pub protocols: ProtocolSet,
    /// AF_INET sockets.
    pub ipv4: bool,
    /// AF_INET6 sockets (including IPv4-mapped ones).
    pub ipv6: bool,
    /// The TCP states to list; SYN_RECV includes request sockets.
    pub states: StateSet,
    /// The states of UDP, UDP-Lite and raw sockets to list: ESTABLISHED
    /// (connected), CLOSE (not), as the kernel reports them.
    pub datagram_states: StateSet,
    /// Exact retransmit and probe counts for every timer kind (costs
    /// `tcp_info` per socket over netlink).
    pub timer_counters: bool,
    /// Each socket's `tcp_info` and congestion control (`-i`); netlink only.
    pub info: bool,
    /// Each socket's memory (`-m`); netlink only.
    pub memory: bool,
    /// The rows the caller keeps: a source may use it to send fewer (the
    /// kernel runs the port tests as bytecode); the caller still applies it.
    pub filter: &'a Filter,
    /// Which source to read.
    pub choice: SourceChoice,
    /// Whether a big TCP dump is split in two.
    pub parallel: Parallel,
    /// Where /proc is (fixtures in tests).
    pub proc_root: &'a Path,
    /// Say on stderr what was skipped or retried.
    pub verbose: bool,
}

/// The source that actually produced a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Used {
    Netlink,
    Proc,
}

/// Fills `out` (cleared first) with the sockets `req` asks for, from its
/// source, protocol after protocol. Under `auto`, a netlink failure falls
/// back to /proc (said on stderr under -v); the listing is said to come
/// from /proc when any protocol's did.
pub fn collect(req: &Request<'_>, out: &mut Vec<Socket>) -> Result<Used> {
    stream(req, out, &mut |_| Ok(()))
}

/// [`collect`], handing rows to `flush` as they are read: after each
/// datagram from netlink, once per protocol from /proc. Rows `flush` leaves
/// stay in `out`. Once it has taken a protocol's rows, a failure of that
/// protocol is an error, never a fallback that would list them again.
pub fn stream(req: &Request<'_>, out: &mut Vec<Socket>, flush: &mut Flush<'_>) -> Result<Used> {
    out.clear();
    let mut used = match req.choice {
        SourceChoice::Proc => Used::Proc,
        _ => Used::Netlink,
    };
    for protocol in req.protocols.iter() {
        let states = req.states_of(protocol);
        if states.is_empty() {
            // Nothing can match; a zero mask must not reach the kernel.
            continue;
        }
        // Appended after the rows `flush` left, so that it takes them in
        // order.
        if collect_one(req, protocol, states, out, flush)? == Used::Proc {
            used = Used::Proc;
        }
    }
    Ok(used)
}

impl Request<'_> {
    /// The states to list for `protocol`.
    pub fn states_of(&self, protocol: Protocol) -> StateSet {
        if protocol.is_datagram() {
            self.datagram_states
        } else {
            self.states
        }
    }
}

/// The sockets of one protocol in `states`, appended to `out` and handed
/// to `flush` as they are read.
fn collect_one(
    req: &Request<'_>,
    protocol: Protocol,
    states: StateSet,
    out: &mut Vec<Socket>,
    flush: &mut Flush<'_>,
) -> Result<Used> {
    let start = out.len();
    let taken = std::cell::Cell::new(false);
    let mut flush = |rows: &mut Vec<Socket>| {
        let before = rows.len();
        let flushed = flush(rows);
        taken.set(taken.get() || rows.len() < before);
        flushed
    };
    match req.choice {
        SourceChoice::Proc => {
            read_proc(req, protocol, states, out, &mut flush)?;
            Ok(Used::Proc)
        }
        SourceChoice::Netlink => {
            dump_netlink(req, protocol, states, out, &mut flush)
                .map_err(|e| unserved(protocol, e))?;
            Ok(Used::Netlink)
        }
        SourceChoice::Auto => match dump_netlink(req, protocol, states, out, &mut flush) {
            Ok(()) => Ok(Used::Netlink),
            Err(e) if taken.get() => Err(e),
            Err(e) => {
                out.truncate(start);
                if req.verbose || req.info || req.memory {
                    // /proc has no tcp_info: without this line -i and -m
                    // would print rows silently lacking what was asked.
                    note(format_args!(
                        "{e}; falling back to /proc/net/{}{}",
                        proc::table_name(protocol),
                        lacking(req)
                    ));
                }
                read_proc(req, protocol, states, out, &mut flush)?;
                Ok(Used::Proc)
            }
        },
    }
}

/// A dump the kernel refused with ENOENT: it has no sock_diag handler
/// for the protocol (raw_diag and udp_diag are modules a kernel may lack).
/// Said so, with the way out.
fn unserved(protocol: Protocol, e: crate::error::Error) -> crate::error::Error {
    let text = e.to_string();
    if !(netlink::kernel_refused(&e) && text.ends_with("No such file or directory")) {
        return e;
    }
    crate::error::Error::runtime(format!(
        "{text}: this kernel's sock_diag has no {} sockets (no {}_diag module); \
         --source proc reads /proc/net/{}",
        protocol.name(),
        match protocol {
            Protocol::Raw => "raw",
            Protocol::Tcp => "inet",
            _ => "udp",
        },
        proc::table_name(protocol)
    ))
}

/// What a /proc listing lacks of what `req` asked for, as the end of a
/// note.
fn lacking(req: &Request<'_>) -> &'static str {
    match (req.info, req.memory) {
        (true, true) => ", which has no tcp_info (-i) nor socket memory (-m)",
        (true, false) => ", which has no tcp_info (-i)",
        (false, true) => ", which has no socket memory (-m)",
        (false, false) => "",
    }
}

/// Reads one protocol's /proc tables whole, then hands the rows over.
fn read_proc(
    req: &Request<'_>,
    protocol: Protocol,
    states: StateSet,
    out: &mut Vec<Socket>,
    flush: &mut Flush<'_>,
) -> Result<()> {
    let families = (req.ipv4, req.ipv6);
    proc::read(req.proc_root, protocol, families, states, out)?;
    flush(out)
}

fn dump_netlink(
    req: &Request<'_>,
    protocol: Protocol,
    states: StateSet,
    out: &mut Vec<Socket>,
    flush: &mut Flush<'_>,
) -> Result<()> {
    let mut request = netlink::Request {
        protocol,
        ipv4: req.ipv4,
        ipv6: req.ipv6,
        states,
        timer_counters: req.timer_counters,
        info: req.info,
        memory: req.memory,
        bytecode: bytecode::compile(req.filter),
        split: None,
    };
    if protocol == Protocol::Tcp {
        request.split = split::choose(req, states);
    }
    let start = out.len();
    let stats = match netlink::dump_flushing(&request, out, flush) {
        Err(e)
            if (request.bytecode.is_some() || request.split.is_some())
                && netlink::kernel_refused(&e) =>
        {
            out.truncate(start);
            // The program only saves work: a kernel that refuses it (one
            // older than its port equality ops, say) gets none, nor a split.
            if req.verbose {
                note(format_args!("{e}; dumping again without the port filter"));
            }
            request.bytecode = None;
            request.split = None;
            netlink::dump_flushing(&request, out, flush)?
        }
        result => result?,
    };
    if req.verbose && (stats.skipped > 0 || stats.restarts > 0) {
        note(format_args!(
            "netlink: skipped {} unparsable message(s), restarted {} interrupted dump(s)",
            stats.skipped, stats.restarts
        ));
    }
    Ok(())
}
