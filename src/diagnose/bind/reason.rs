//! The words of a [`Verdict`](super::Verdict): the sentences that say why
//! and where it rests on an assumption. Program names in them are as read
//! from /proc; printers escape them.

use std::net::IpAddr;

use super::{role, HeldBy, Role};
use crate::diagnose::explain::secs;
use crate::diagnose::{counted, owner_label};
use crate::model::addr::{Ntop, NtopPort};
use crate::model::{Socket, TcpState};
use crate::owners::ProcessMap;

/// Most sockets or programs a sentence names before "and N more".
const NAMED: usize = 3;

/// The reason for the verdict on `holders` (sorted listeners first), which
/// `held` counts by role and whose remnants go in `expires_ms`. `others`
/// counts sockets on the port that do not meet `address`.
pub(super) fn reason(
    port: u16,
    address: IpAddr,
    holders: &[&Socket],
    held: HeldBy,
    expires_ms: Option<u64>,
    others: usize,
    owners: Option<&ProcessMap>,
) -> String {
    if holders.is_empty() {
        let asked = endpoint(address, port);
        return match others {
            0 => format!("no socket holds port {port}: {asked} can be bound"),
            n => format!(
                "port {port} is used by {} only on addresses that do not overlap {asked}",
                counted(n, "socket", "sockets")
            ),
        };
    }
    if held.listeners > 0 {
        held_by_listeners(holders, owners)
    } else if held.connections > 0 {
        held_by_connections(port, holders, held, owners)
    } else {
        format!(
            "only teardown remnants hold port {port} ({}); no program holds it. A plain bind() \
             fails until the last one goes{}; with SO_REUSEADDR it succeeds if the closed \
             sockets had SO_REUSEADDR too (true of a server whose listener set it, as most do)",
            remnant_counts(holders),
            remnants_end_text(holders, expires_ms)
        )
    }
}

fn held_by_listeners(holders: &[&Socket], owners: Option<&ProcessMap>) -> String {
    let listeners: Vec<String> = holders
        .iter()
        .filter(|s| role(s) == Role::Listener)
        .map(|s| format!("{} listening on {}", who(s, owners), local(s)))
        .collect();
    format!(
        "{}: no bind() shares a port with a listener (short of SO_REUSEPORT on both)",
        named(&listeners)
    )
}

fn held_by_connections(
    port: u16,
    holders: &[&Socket],
    held: HeldBy,
    owners: Option<&ProcessMap>,
) -> String {
    let remnants = match held.remnants {
        0 => String::new(),
        n => format!(
            "and {}; ",
            counted(n, "teardown remnant", "teardown remnants")
        ),
    };
    let connections = counted(
        held.connections,
        "live connection uses port",
        "live connections use port",
    );
    format!(
        "{connections} {port} ({remnants}{}). A plain bind() fails until they close; \
         with SO_REUSEADDR it succeeds only if they were created with SO_REUSEADDR too \
         (connections a server accepted inherit its listener's setting), which the kernel \
         does not report",
        programs(holders, owners)
    )
}

/// The caveats of a verdict: sockets whose part rests on the IPV6_V6ONLY
/// assumption.
pub(super) fn caveats(address: IpAddr, assumed: &[&Socket]) -> Vec<String> {
    if assumed.is_empty() {
        return Vec::new();
    }
    let listed: Vec<String> = assumed.iter().map(|s| local(s)).collect();
    let n = assumed.len();
    vec![format!(
        "{} ({}) {} in the way of {address} only if IPV6_V6ONLY is off on {}, as assumed (the \
         Linux default); the dump does not show it",
        counted(n, "IPv6 socket", "IPv6 sockets"),
        named(&listed),
        if n == 1 { "stands" } else { "stand" },
        if n == 1 { "it" } else { "them" },
        address = Ntop(address),
    )]
}

/// "pid 812 (nginx)" for a socket's first owner, or what is known instead.
fn who(s: &Socket, owners: Option<&ProcessMap>) -> String {
    match owners.map(|m| m.owners(s.inode)) {
        Some([first, ..]) => owner_label(first.pid, &first.name),
        Some([]) => "a socket of unknown owner".to_string(),
        None => "a socket".to_string(),
    }
}

/// "held by" the programs holding any of `holders`, named once each, or
/// why none is named.
fn programs(holders: &[&Socket], owners: Option<&ProcessMap>) -> String {
    let Some(map) = owners else {
        return "owners not looked up".to_string();
    };
    let mut seen: Vec<(u32, String)> = holders
        .iter()
        .flat_map(|s| map.owners(s.inode))
        .map(|o| (o.pid, owner_label(o.pid, &o.name)))
        .collect();
    seen.sort();
    seen.dedup();
    if seen.is_empty() {
        return "no owning program found: another PID namespace, or not readable".to_string();
    }
    format!(
        "held by {}",
        named(&seen.into_iter().map(|(_, n)| n).collect::<Vec<_>>())
    )
}

/// "a, b, c and 2 more".
fn named(items: &[String]) -> String {
    let shown = items[..items.len().min(NAMED)].join(", ");
    match items.len().saturating_sub(NAMED) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// "3 TIME_WAIT, 1 orphaned FIN_WAIT2".
fn remnant_counts(holders: &[&Socket]) -> String {
    let mut counts: Vec<(TcpState, usize)> = Vec::new();
    for s in holders {
        match counts.iter_mut().find(|(state, _)| *state == s.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((s.state, 1)),
        }
    }
    counts
        .iter()
        .map(|(state, n)| match state {
            TcpState::TimeWait => format!("{n} TIME_WAIT"),
            other => format!("{n} orphaned {other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn remnants_end_text(holders: &[&Socket], expires_ms: Option<u64>) -> String {
    let fin_wait2 = holders.iter().any(|s| s.state == TcpState::FinWait2);
    match expires_ms {
        Some(ms) if fin_wait2 => format!(
            " (in {}, unless a peer's FIN turns an orphaned FIN_WAIT2 into a 60 s TIME_WAIT)",
            secs(ms)
        ),
        Some(ms) => format!(" (in {})", secs(ms)),
        None => " (an orphan still sending its FIN goes when that is acknowledged or \
                  retransmission gives up, after tcp_orphan_retries)"
            .to_string(),
    }
}

fn endpoint(addr: IpAddr, port: u16) -> String {
    NtopPort(addr, port).to_string()
}

fn local(s: &Socket) -> String {
    endpoint(s.local.display_addr(), s.local.port)
}
