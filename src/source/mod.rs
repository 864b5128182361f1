//! Where sockets come from: sock_diag netlink (default) or /proc/net/tcp{,6}.
//! The choice is made here and nowhere else; both fill the same model.

pub mod netlink;
pub mod proc;

use crate::config::{Config, SourceChoice};
use crate::error::Result;
use crate::model::Socket;

/// The source that actually produced a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Used {
    Netlink,
    Proc,
}

/// Fills `out` with the sockets the config asks for, from the configured
/// source. Under `auto`, a netlink failure falls back to /proc (said on
/// stderr under -v).
pub fn collect(cfg: &Config, out: &mut Vec<Socket>) -> Result<Used> {
    let states = cfg.states;
    if states == 0 {
        // Nothing can match; a zero mask must not reach the kernel.
        out.clear();
        return Ok(match cfg.source {
            SourceChoice::Proc => Used::Proc,
            _ => Used::Netlink,
        });
    }
    match cfg.source {
        SourceChoice::Proc => {
            proc::read(&cfg.proc_root, cfg.ipv4, cfg.ipv6, states, out)?;
            Ok(Used::Proc)
        }
        SourceChoice::Netlink => {
            dump_netlink(cfg, states, out)?;
            Ok(Used::Netlink)
        }
        SourceChoice::Auto => match dump_netlink(cfg, states, out) {
            Ok(()) => Ok(Used::Netlink),
            Err(e) => {
                if cfg.verbose > 0 {
                    eprintln!("tcpstat: {e}; falling back to /proc/net/tcp");
                }
                proc::read(&cfg.proc_root, cfg.ipv4, cfg.ipv6, states, out)?;
                Ok(Used::Proc)
            }
        },
    }
}

fn dump_netlink(cfg: &Config, states: u32, out: &mut Vec<Socket>) -> Result<()> {
    let request = netlink::Request {
        ipv4: cfg.ipv4,
        ipv6: cfg.ipv6,
        states,
        timer_counters: cfg.needs_timer_counters(),
    };
    let stats = netlink::dump(&request, out)?;
    if cfg.verbose > 0 && (stats.skipped > 0 || stats.restarts > 0) {
        eprintln!(
            "tcpstat: netlink: skipped {} unparsable message(s), restarted {} interrupted dump(s)",
            stats.skipped, stats.restarts
        );
    }
    Ok(())
}
