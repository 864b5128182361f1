//! `why PORT [--addr ADDR]`: could a server bind() that port now, and if
//! not, what holds it — a listener, live connections, or only teardown
//! remnants that will go by themselves.
//!
//! The verdict is what the kernel's bind rules (`conflict.rs`) make of the
//! sockets in the dump, for a TCP socket without SO_REUSEPORT, once without
//! and once with SO_REUSEADDR. Three things the dump cannot show limit it:
//!
//! - **SO_REUSEADDR of the sockets already there.** A bind with
//!   SO_REUSEADDR passes a non-listening socket only if that socket had the
//!   flag too (a server's accepted connections, and their TIME_WAIT
//!   remnants, inherit the listener's). So when non-listening sockets hold
//!   the port, `bindable_with_reuseaddr` is `None`; [`probe`] answers by
//!   trying.
//! - **IPV6_V6ONLY of IPv6 sockets**, which decides whether they meet an
//!   IPv4 bind. It is on for a listener on a specific IPv6 address (bind()
//!   to one sets it) and assumed off (the Linux default) for every other
//!   IPv6 socket; the verdict names the sockets whose part rests on that
//!   assumption in `caveats`.
//! - **Sockets bound but neither listening nor connected** (a server between
//!   bind() and listen()) are not in the dump; they would make a bind fail
//!   that the verdict calls possible.
//!
//! Nor does the dump tell whether the address is one of the host's, or
//! whether the program may bind a port below `ip_unprivileged_port_start`.
//!
//! So the face that runs `why` in the namespace the dump came from also
//! asks the kernel ([`probe`]: a throwaway bind(), without and with
//! SO_REUSEADDR) and hands the answer to [`Verdict::with_kernel`]: the
//! kernel's word wins, and where it could not be had the verdict says why.

mod conflict;
mod kill;
mod probe;
mod reason;

#[cfg(test)]
pub(crate) mod tests;

pub use kill::KillAdvice;
pub use probe::{probe, Probe};

use std::net::{IpAddr, Ipv6Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::diagnose::{counted, is_orphan};
use crate::error::os_text;
use crate::model::{Socket, TcpState, TimerKind};
use crate::owners::{Owner, ProcessMap};
use conflict::BindAddr;

/// Whether a port can be bound now, and what holds it; printed by
/// `render::why`. `'a` is the owner map's.
#[derive(Debug)]
pub struct Verdict<'a> {
    /// The port asked about.
    pub port: u16,
    /// The address asked about; `::` (every address of both families, as a
    /// dual-stack server binds) when none was given.
    pub address: IpAddr,
    /// A plain bind() (no SO_REUSEADDR) would succeed now.
    pub bindable: bool,
    /// A bind() with SO_REUSEADDR would succeed now; `None` when that
    /// depends on SO_REUSEADDR of the sockets holding the port, which the
    /// kernel does not report.
    pub bindable_with_reuseaddr: Option<bool>,
    /// How many holders of each kind.
    pub held_by: HeldBy,
    /// The sockets that stand in the way of a plain bind: listeners first,
    /// then live connections, then remnants.
    pub holders: Vec<Holder<'a>>,
    /// When only remnants hold the port: milliseconds until the last of
    /// them goes. `None` when something else holds it, or when a remnant's
    /// end is not known (an orphan still retransmitting its FIN).
    pub expires_ms: Option<u64>,
    /// `expires_ms` as a wall-clock time, milliseconds since the Unix epoch.
    pub expires_at_unix_ms: Option<u64>,
    /// Why, in a sentence or two; program names as read (untrusted).
    pub reason: String,
    /// Where the verdict rests on an assumption the dump cannot check.
    pub caveats: Vec<String>,
    /// What the kernel said when asked, if it was.
    pub kernel: KernelCheck,
    /// Processes whose descriptors could not be read (without root, other
    /// users'): holders shown without a program may belong to one of them.
    pub unreadable_processes: usize,
    /// Whether closing sockets with `-K` would free the port, and how.
    pub kill: KillAdvice,
    /// The namespace file the dump came from (`-N`), for the `-K` command
    /// line the advice ends with; `None` for the current namespace.
    pub netns: Option<std::path::PathBuf>,
}

/// Whether a real bind() was tried, and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelCheck {
    /// Not tried; the reason (the sockets came from a fixture, say).
    NotAsked(&'static str),
    /// The kernel answered both binds.
    Answered(Probe),
    /// The bind failed for another reason than the port being in use
    /// (EACCES for a privileged port, EADDRNOTAVAIL for an address the
    /// host does not have): the reason.
    Failed(String),
}

/// A socket that stands in the way of the bind.
#[derive(Debug, Clone)]
pub struct Holder<'a> {
    /// Its state's name, as the summary names states (`"TIME_WAIT"`).
    pub state: &'static str,
    /// Its inode: 0 when no program holds it (a remnant, or a connection
    /// not yet accepted).
    pub inode: u64,
    /// The socket as dumped.
    pub socket: Socket,
    /// The programs holding it; `None` when owners were not looked up.
    pub processes: Option<&'a [Owner]>,
}

impl<'a> Holder<'a> {
    fn new(s: &Socket, owners: Option<&'a ProcessMap>) -> Holder<'a> {
        Holder {
            state: s.state.name(),
            inode: s.inode,
            socket: s.clone(),
            // A socket of inode 0 has no file, so no process holds it.
            processes: owners.map(|m| {
                if s.inode == 0 {
                    &[][..]
                } else {
                    m.owners(s.inode)
                }
            }),
        }
    }
}

/// Holders by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldBy {
    /// LISTEN sockets: nothing but SO_REUSEPORT shares a port with them.
    pub listeners: usize,
    /// Sockets a program holds or a listener will hand out: connecting,
    /// connected, or closing but not yet closed by the program.
    pub connections: usize,
    /// Teardown remnants no program holds: TIME_WAIT and orphans
    /// (FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK without an inode).
    pub remnants: usize,
}

/// The kind of a socket that holds a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Listener,
    Connection,
    Remnant,
}

fn role(s: &Socket) -> Role {
    match s.state {
        TcpState::Listen => Role::Listener,
        TcpState::TimeWait => Role::Remnant,
        _ if is_orphan(s) => Role::Remnant,
        _ => Role::Connection,
    }
}

/// Judges whether a server could bind `port` on `addr` (every address of
/// both families, `[::]` dual-stack, when `None`) given the `sockets` of
/// one dump of the namespace, taken at `now`. `sockets` must hold every
/// state; `owners` names the programs in the reason and the holders.
pub fn why<'a>(
    port: u16,
    addr: Option<IpAddr>,
    sockets: &[Socket],
    owners: Option<&'a ProcessMap>,
    now: SystemTime,
) -> Verdict<'a> {
    let address = addr.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    let wanted = BindAddr::of(address);
    let on_port: Vec<&Socket> = sockets
        .iter()
        .filter(|s| s.local.port == port && !s.is_request())
        .collect();
    let mut holders: Vec<&Socket> = Vec::new();
    let mut assumed: Vec<&Socket> = Vec::new();
    for &s in &on_port {
        let (blocks, on_assumption) = conflict::blocks(wanted, s);
        if blocks {
            holders.push(s);
        }
        if on_assumption {
            assumed.push(s);
        }
    }
    holders.sort_by_key(|s| (role(s), s.state, s.local.addr, s.remote.addr, s.remote.port));
    let held_by = count_roles(&holders);
    let expires_ms = remnants_end(&holders);
    let others = on_port.len() - holders.len();
    Verdict {
        port,
        address,
        bindable: holders.is_empty(),
        bindable_with_reuseaddr: with_reuseaddr(held_by),
        held_by,
        expires_at_unix_ms: expires_ms.map(|ms| unix_ms(now).saturating_add(ms)),
        reason: reason::reason(port, address, &holders, held_by, expires_ms, others, owners),
        caveats: reason::caveats(address, &assumed),
        holders: holders.iter().map(|s| Holder::new(s, owners)).collect(),
        expires_ms,
        kernel: KernelCheck::NotAsked("not asked"),
        unreadable_processes: owners.map_or(0, ProcessMap::unreadable),
        kill: kill::advice(port, address, held_by),
        netns: None,
    }
    .with_owner_caveat()
}

impl Verdict<'_> {
    /// Takes what the kernel said (see [`probe`]): where a real bind()
    /// answered, its answer replaces the dump's judgement, and a
    /// disagreement is said in the caveats; where it could not be asked,
    /// an unknown answer says why.
    pub fn with_kernel(mut self, check: KernelCheck) -> Self {
        match &check {
            KernelCheck::Answered(p) => {
                if p.bindable != self.bindable {
                    self.caveats.push(format!(
                        "the kernel says a plain bind() {} although the sockets listed {}:                          a socket bound but not listening, or a holder's IPV6_V6ONLY,                          decides it",
                        if p.bindable { "succeeds" } else { "fails" },
                        if self.bindable { "leave the port free" } else { "hold it" },
                    ));
                    self.bindable = p.bindable;
                }
                if self
                    .bindable_with_reuseaddr
                    .is_some_and(|b| b != p.bindable_with_reuseaddr)
                {
                    self.caveats.push(format!(
                        "the kernel says a bind() with SO_REUSEADDR {}, against the rules                          applied to the sockets listed",
                        if p.bindable_with_reuseaddr { "succeeds" } else { "fails" },
                    ));
                }
                self.bindable_with_reuseaddr = Some(p.bindable_with_reuseaddr);
            }
            KernelCheck::Failed(why) if self.bindable_with_reuseaddr.is_none() => {
                self.caveats.push(format!(
                    "whether SO_REUSEADDR gets past the holders is unknown:                      a test bind() failed ({why})"
                ));
            }
            KernelCheck::Failed(why) => {
                self.caveats
                    .push(format!("a test bind() could not confirm this: {why}"));
            }
            KernelCheck::NotAsked(_) => {}
        }
        self.kernel = check;
        self
    }

    /// Names the namespace (`-N`) the sockets were read in, for the `-K`
    /// command line.
    pub fn in_namespace(mut self, netns: Option<&std::path::Path>) -> Self {
        self.netns = netns.map(std::path::Path::to_path_buf);
        self
    }

    fn with_owner_caveat(mut self) -> Self {
        if self.unreadable_processes > 0 {
            self.caveats.push(format!(
                "{} could not be read without root: a holder shown without a program \
                 may belong to one of them",
                counted(self.unreadable_processes, "process", "processes")
            ));
        }
        self
    }
}

/// Asks the kernel about binding `port` on `addr` in this thread's
/// namespace (see [`probe`]), as a [`KernelCheck`].
pub fn ask_kernel(port: u16, addr: Option<IpAddr>) -> KernelCheck {
    match probe(port, addr) {
        Ok(p) => KernelCheck::Answered(p),
        Err(e) => KernelCheck::Failed(match e.raw_os_error() {
            Some(libc::EACCES) => format!(
                "ports below net.ipv4.ip_unprivileged_port_start need root or \
                 CAP_NET_BIND_SERVICE ({})",
                os_text(&e)
            ),
            Some(libc::EADDRNOTAVAIL) => {
                format!("the address is not one of this host's ({})", os_text(&e))
            }
            _ => os_text(&e),
        }),
    }
}

fn count_roles(holders: &[&Socket]) -> HeldBy {
    let mut held = HeldBy::default();
    for s in holders {
        match role(s) {
            Role::Listener => held.listeners += 1,
            Role::Connection => held.connections += 1,
            Role::Remnant => held.remnants += 1,
        }
    }
    held
}

/// SO_REUSEADDR on the new socket passes every holder that had it too and
/// is not listening; whether they had it is not in the dump.
fn with_reuseaddr(held: HeldBy) -> Option<bool> {
    if held.listeners > 0 {
        Some(false)
    } else if held.connections + held.remnants == 0 {
        Some(true)
    } else {
        None
    }
}

/// When the last remnant goes, if only remnants hold the port and each has
/// a known end: a timewait socket (TIME_WAIT, or orphaned FIN_WAIT2 on its
/// tcp_fin_timeout) ends when its timer fires. An orphan still sending its
/// FIN ends when that is acknowledged or given up, which no timer tells.
fn remnants_end(holders: &[&Socket]) -> Option<u64> {
    if holders.is_empty() {
        return None;
    }
    holders
        .iter()
        .map(|s| match (role(s), s.timer.kind) {
            (Role::Remnant, TimerKind::TimeWait) => Some(s.timer.expires_ms),
            _ => None,
        })
        .try_fold(0, |end, ms| ms.map(|ms| end.max(ms)))
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
