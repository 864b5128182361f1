//! Where sockets come from: sock_diag netlink (default) or /proc/net/*.
//! The choice is made here and nowhere else; every source takes a
//! [`Request`] and fills the same model. A new protocol is a variant of
//! [`Protocol`] and a module here; a new source is a module here and a
//! variant of [`SourceChoice`].

pub mod bytecode;
pub mod destroy;
pub mod netlink;
pub mod proc;
pub mod proc_unix;
pub mod transitions;
pub mod unix;

use crate::error::{note, Result};
use crate::filter::Filter;
use crate::model::{Protocol, Socket, SourceChoice, StateSet};
use std::path::Path;

/// What a listing asks its source for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The protocol to list.
    pub protocol: Protocol,
    /// AF_INET sockets.
    pub ipv4: bool,
    /// AF_INET6 sockets (including IPv4-mapped ones).
    pub ipv6: bool,
    /// The states to list; SYN_RECV includes request sockets.
    pub states: StateSet,
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

/// Fills `out` with the sockets `req` asks for, from its source. Under
/// `auto`, a netlink failure falls back to /proc (said on stderr under -v).
pub fn collect(req: &Request<'_>, out: &mut Vec<Socket>) -> Result<Used> {
    let Protocol::Tcp = req.protocol;
    if req.states.is_empty() {
        // Nothing can match; a zero mask must not reach the kernel.
        out.clear();
        return Ok(match req.choice {
            SourceChoice::Proc => Used::Proc,
            _ => Used::Netlink,
        });
    }
    match req.choice {
        SourceChoice::Proc => {
            read_proc(req, out)?;
            Ok(Used::Proc)
        }
        SourceChoice::Netlink => {
            dump_netlink(req, out)?;
            Ok(Used::Netlink)
        }
        SourceChoice::Auto => match dump_netlink(req, out) {
            Ok(()) => Ok(Used::Netlink),
            Err(e) => {
                if req.verbose || req.info || req.memory {
                    // /proc has no tcp_info: without this line -i and -m
                    // would print rows silently lacking what was asked.
                    note(format_args!(
                        "{e}; falling back to /proc/net/tcp{}",
                        lacking(req)
                    ));
                }
                read_proc(req, out)?;
                Ok(Used::Proc)
            }
        },
    }
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

fn read_proc(req: &Request<'_>, out: &mut Vec<Socket>) -> Result<()> {
    proc::read(req.proc_root, req.ipv4, req.ipv6, req.states, out)
}

fn dump_netlink(req: &Request<'_>, out: &mut Vec<Socket>) -> Result<()> {
    let mut request = netlink::Request {
        ipv4: req.ipv4,
        ipv6: req.ipv6,
        states: req.states,
        timer_counters: req.timer_counters,
        info: req.info,
        memory: req.memory,
        bytecode: bytecode::compile(req.filter),
    };
    let stats = match netlink::dump(&request, out) {
        Err(e) if request.bytecode.is_some() && netlink::kernel_refused(&e) => {
            // The program only saves work: a kernel that refuses it (one
            // older than its port equality ops, say) gets none.
            if req.verbose {
                note(format_args!("{e}; dumping again without the port filter"));
            }
            request.bytecode = None;
            netlink::dump(&request, out)?
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
