//! Lowering of `-x` (unix sockets): the flags that apply to a unix
//! listing, its filter, and one `tcpstat:` line for each that does not.

use super::{Args, SourceArg};
use crate::config::Mode;
use crate::error::{Error, Result};
use crate::filter::unix::{parse_unix_expression, UnixFilter, UNIX_FILTERS};

/// The filter of a `-x` listing, or the refusal of a flag that does not
/// apply to unix sockets. With `inet`, internet sockets are listed first
/// (`-tux`): the flags of their table apply to it, and filters, which
/// would mean different things to each table, are refused.
pub fn lower(args: &Args, mode: Mode, inet: bool) -> Result<UnixFilter> {
    if inet {
        return lower_beside_inet(args);
    }
    let refused = [
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

/// `-x` with internet protocols (`-tuwxan`): both tables, one after the
/// other, as netstat prints them; no filter, no JSON, no other mode.
fn lower_beside_inet(args: &Args) -> Result<UnixFilter> {
    let filtered = !args.expression.is_empty()
        || !args.port.is_empty()
        || !args.sport.is_empty()
        || !args.dport.is_empty()
        || !args.src.is_empty()
        || !args.dst.is_empty()
        || !args.state.is_empty()
        || !args.uid.is_empty()
        || !args.pid.is_empty()
        || !args.program_name.is_empty();
    let refused = [
        (
            filtered,
            "filters (list unix and internet sockets apart to filter them)",
        ),
        (args.json, "--json (list unix and internet sockets apart)"),
        (args.info || args.memory, "-i and -m"),
        (
            args.sort.is_some() || args.top.is_some(),
            "--sort and --top",
        ),
        (
            args.continuous.is_some() || args.events.is_some(),
            "-c and --events",
        ),
        (
            args.kill || args.summary || args.command.is_some(),
            "-K, -s, why and serve",
        ),
        (
            args.all_netns || args.netns.as_deref() == Some("all"),
            "-N all",
        ),
    ];
    if let Some((_, what)) = refused.iter().find(|(given, _)| *given) {
        return Err(Error::usage(format!(
            "-x with -t, -u, -U or -w lists both tables once; it does not take {what}"
        )));
    }
    Ok(UnixFilter::default())
}
