//! Lowering of `-x` (unix sockets): the flags that apply to a unix
//! listing, its filter, and one `tcpstat:` line for each that does not.

use super::{Args, SourceArg};
use crate::config::Mode;
use crate::error::{Error, Result};
use crate::filter::unix::{parse_unix_expression, UnixFilter, UNIX_FILTERS};

/// The filter of a `-x` listing, or the refusal of a flag that does not
/// apply to unix sockets.
pub fn lower(args: &Args, mode: Mode) -> Result<UnixFilter> {
    let refused = [
        (args.tcp, "-t (TCP and unix sockets in one listing)"),
        (args.inet || args.inet6, "-4 and -6 (inet families)"),
        (args.timers, "-o (TCP timers)"),
        (args.extend, "-e (users of inet sockets)"),
        (
            args.info || args.memory,
            "-i and -m (tcp_info, socket memory)",
        ),
        (args.explain, "--explain (notes on TCP states)"),
        (
            args.sort.is_some() || args.top.is_some(),
            "--sort and --top",
        ),
        (
            args.continuous.is_some() || args.events.is_some(),
            "-c and --events",
        ),
        (args.kill, "-K"),
        (mode != Mode::List && !args.kill, "-s, why and serve"),
        (
            args.all_netns || args.netns.as_deref() == Some("all"),
            "-N all",
        ),
    ];
    if let Some((_, what)) = refused.iter().find(|(given, _)| *given) {
        return Err(Error::usage(format!(
            "-x lists unix sockets once (table or --json); it does not take {what}"
        )));
    }
    let inet = [
        (!args.port.is_empty(), "--port"),
        (!args.sport.is_empty(), "--sport"),
        (!args.dport.is_empty(), "--dport"),
        (!args.src.is_empty(), "--src"),
        (!args.dst.is_empty(), "--dst"),
        (!args.state.is_empty(), "--state"),
        (!args.uid.is_empty(), "--uid"),
    ];
    if let Some((_, flag)) = inet.iter().find(|(given, _)| *given) {
        return Err(Error::usage(format!(
            "{flag} applies to inet sockets; {UNIX_FILTERS}"
        )));
    }
    let paths = parse_unix_expression(&args.expression).map_err(Error::usage)?;
    let filter = UnixFilter {
        pids: args.pid.clone(),
        programs: args.program_name.clone(),
        paths,
    };
    if filter.needs_peers() && args.source == SourceArg::Proc {
        return Err(Error::usage(
            "dst PATTERN reads each socket's peer, which only netlink unix_diag gives; \
             /proc/net/unix has none (drop --source proc)",
        ));
    }
    Ok(filter)
}
