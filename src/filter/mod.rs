//! Which sockets to keep: typed flag values (`--port 22,8000-8100`,
//! `--state time-wait`, `--dst 10.0.0.0/8`, …), ss's filter expression
//! (`state established '( dport = :443 or dport = :80 )'`), and the
//! [`Filter`] that joins them.
//!
//! Everything here is independent of clap: each flag value has a
//! `fn(&str) -> Result<T, String>` for clap's `value_parser`
//! ([`parse_ports`], [`parse_states`], [`parse_addr_prefix`]), the trailing
//! words go to [`parse_expression`], and the results are put together with
//! [`Filter`]'s `with_*` methods. Flags and expression must all hold; the
//! values of one repeated flag are alternatives.

mod addr;
mod error;
mod expr;
mod lex;
mod parse;
mod ports;
mod state;
pub mod unix;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use addr::{parse_addr_prefix, AddrPrefix};
pub use error::{ExprError, ExprErrorKind, Position};
pub use expr::{CmpOp, Expr, HostPattern, NetnsName, Side};
pub use parse::{netns_inode, parse_expression, Query};
pub use ports::{parse_port, parse_ports, PortSet};
pub use state::{parse_states, states_of, STATE_NAMES};

pub use crate::model::Owners;
use crate::model::{Owner, Socket, StateSet};

/// No owner information: for when [`Filter::needs_owners`] is false.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOwners;

impl Owners for NoOwners {
    fn owners_of(&self, _inode: u64) -> &[Owner] {
        &[]
    }
}

/// Longest process name the kernel keeps (`TASK_COMM_LEN` - 1).
const COMM_LEN: usize = 15;

/// Everything that decides whether a socket is listed. The default keeps
/// every socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    states: Option<StateSet>,
    ports: Option<PortSet>,
    sports: Option<PortSet>,
    dports: Option<PortSet>,
    src: Vec<AddrPrefix>,
    dst: Vec<AddrPrefix>,
    uids: Vec<u32>,
    pids: Vec<u32>,
    programs: Vec<String>,
    expr: Option<Expr>,
}

/// Joins a repeated port flag's values into one set (`None` if none).
fn join_ports(
    current: Option<PortSet>,
    more: impl IntoIterator<Item = PortSet>,
) -> Option<PortSet> {
    more.into_iter().fold(current, |acc, set| match acc {
        Some(acc) => Some(acc.union(&set)),
        None => Some(set),
    })
}

impl Filter {
    /// A filter keeping every socket.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Keeps only states in `states` (a [`parse_states`] result); given
    /// several times, only states in every set.
    pub fn with_states(mut self, states: StateSet) -> Filter {
        self.states = Some(self.states.unwrap_or(StateSet::ALL).intersection(states));
        self
    }

    /// `--port`: the local or the remote port is in one of the sets.
    pub fn with_ports(mut self, sets: impl IntoIterator<Item = PortSet>) -> Filter {
        self.ports = join_ports(self.ports, sets);
        self
    }

    /// `--sport`: the local port is in one of the sets.
    pub fn with_sports(mut self, sets: impl IntoIterator<Item = PortSet>) -> Filter {
        self.sports = join_ports(self.sports, sets);
        self
    }

    /// `--dport`: the remote port is in one of the sets.
    pub fn with_dports(mut self, sets: impl IntoIterator<Item = PortSet>) -> Filter {
        self.dports = join_ports(self.dports, sets);
        self
    }

    /// `--src`: the local address is in one of the prefixes.
    pub fn with_src(mut self, prefixes: impl IntoIterator<Item = AddrPrefix>) -> Filter {
        self.src.extend(prefixes);
        self
    }

    /// `--dst`: the remote address is in one of the prefixes.
    pub fn with_dst(mut self, prefixes: impl IntoIterator<Item = AddrPrefix>) -> Filter {
        self.dst.extend(prefixes);
        self
    }

    /// `--uid`: the socket belongs to one of the users.
    pub fn with_uids(mut self, uids: impl IntoIterator<Item = u32>) -> Filter {
        self.uids.extend(uids);
        self
    }

    /// `--pid`: one of the processes holds the socket. Needs owners.
    pub fn with_pids(mut self, pids: impl IntoIterator<Item = u32>) -> Filter {
        self.pids.extend(pids);
        self
    }

    /// `--program`: a process of one of these names (`comm`, compared
    /// exactly; a name longer than the kernel's 15 bytes matches its first
    /// 15) holds the socket. Needs owners.
    pub fn with_programs(mut self, names: impl IntoIterator<Item = String>) -> Filter {
        self.programs.extend(names);
        self
    }

    /// The ss-style filter from the trailing words: its states narrow the
    /// state mask, its expression must hold too.
    pub fn with_query(mut self, query: Query) -> Filter {
        if let Some(states) = query.states {
            self = self.with_states(states);
        }
        self.expr = match (self.expr.take(), query.expr) {
            (Some(a), Some(b)) => Some(Expr::And(Box::new(a), Box::new(b))),
            (a, b) => a.or(b),
        };
        self
    }

    /// The states to ask the kernel for: all states unless a `--state` or `state`/`exclude` clause narrowed
    /// them.
    pub fn states(&self) -> StateSet {
        self.states.unwrap_or(StateSet::ALL)
    }

    /// The states when they were given explicitly. ss lets an
    /// explicit state list replace its default scope; the caller decides
    /// how this combines with `-a`/`-l`.
    pub fn explicit_states(&self) -> Option<StateSet> {
        self.states
    }

    /// True when matching needs socket owners (`--pid`, `--program`).
    pub fn needs_owners(&self) -> bool {
        !self.pids.is_empty() || !self.programs.is_empty()
    }

    /// True when the expression has a `netns NAME`, which picks among the
    /// namespaces of `-N all`.
    pub fn names_netns(&self) -> bool {
        self.expr.as_ref().is_some_and(Expr::has_netns)
    }

    /// The namespaces outside which no socket is kept (`None`: any may
    /// hold some), from the expression's `netns NAME`s once resolved.
    pub fn netns_bound(&self) -> Option<Vec<u64>> {
        self.expr.as_ref().and_then(Expr::netns_bound)
    }

    /// Resolves each `netns NAME` to the namespaces `inodes_of` says the
    /// word names (an inode is kept as the parser read it). The first
    /// error `inodes_of` gives is returned.
    pub fn resolve_netns<E>(
        &mut self,
        mut inodes_of: impl FnMut(&str) -> Result<Vec<u64>, E>,
    ) -> Result<(), E> {
        let Some(expr) = self.expr.as_mut() else {
            return Ok(());
        };
        for name in expr.netns_names_mut() {
            if name.inodes.is_empty() {
                let mut inodes = inodes_of(&name.word)?;
                inodes.sort_unstable();
                inodes.dedup();
                name.inodes = inodes;
            }
        }
        Ok(())
    }

    /// The expression, for a source that wants to compile it (inet_diag
    /// bytecode).
    pub fn expr(&self) -> Option<&Expr> {
        self.expr.as_ref()
    }

    /// Ports of which every kept socket has the local or the remote one
    /// (`--port`); see [`Filter::required_local_ports`].
    pub fn required_either_ports(&self) -> Option<&PortSet> {
        self.ports.as_ref()
    }

    /// Ports every kept socket has locally (`--sport`), for a source that
    /// can ask the kernel for them only. The expression is not analysed.
    pub fn required_local_ports(&self) -> Option<&PortSet> {
        self.sports.as_ref()
    }

    /// Ports every kept socket has remotely (`--dport`); see
    /// [`Filter::required_local_ports`].
    pub fn required_remote_ports(&self) -> Option<&PortSet> {
        self.dports.as_ref()
    }

    /// True when the filter asks for owning uids (`--uid`).
    pub fn filters_uid(&self) -> bool {
        !self.uids.is_empty()
    }

    /// True when the filter keeps every socket (nothing to evaluate).
    pub fn keeps_all(&self) -> bool {
        self.states() == StateSet::ALL
            && self.ports.is_none()
            && self.sports.is_none()
            && self.dports.is_none()
            && self.src.is_empty()
            && self.dst.is_empty()
            && self.uids.is_empty()
            && !self.needs_owners()
            && self.expr.is_none()
    }

    /// True when the socket passes every flag and the expression. Owners
    /// are looked up only for `--pid`/`--program`; sockets without an inode
    /// (TIME_WAIT, orphans) have none and fail those.
    pub fn matches<O: Owners + ?Sized>(&self, s: &Socket, owners: &O) -> bool {
        self.states().contains(s.state)
            && self.ports_match(s)
            && any_or_empty(&self.src, |p| p.contains(s.local.addr))
            && any_or_empty(&self.dst, |p| p.contains(s.remote.addr))
            && any_or_empty(&self.uids, |&u| u == s.uid)
            && self.expr.as_ref().is_none_or(|e| e.matches(s))
            && (!self.needs_owners() || self.owners_match(owners.owners_of(s.inode)))
    }

    fn ports_match(&self, s: &Socket) -> bool {
        let (local, remote) = (s.local.port, s.remote.port);
        self.ports
            .as_ref()
            .is_none_or(|p| p.contains(local) || p.contains(remote))
            && self.sports.as_ref().is_none_or(|p| p.contains(local))
            && self.dports.as_ref().is_none_or(|p| p.contains(remote))
    }

    /// True when `owner` alone satisfies the `--pid` and `--program`
    /// filters (always, without them): the owner a one-owner column shows
    /// of a socket the filter kept through it.
    pub fn owner_matches(&self, owner: &Owner) -> bool {
        any_or_empty(&self.pids, |&pid| owner.pid == pid)
            && any_or_empty(&self.programs, |name| comm_matches(name, &owner.name))
    }

    fn owners_match(&self, owners: &[Owner]) -> bool {
        any_or_empty(&self.pids, |&pid| owners.iter().any(|o| o.pid == pid))
            && any_or_empty(&self.programs, |name| {
                owners.iter().any(|o| comm_matches(name, &o.name))
            })
    }
}

/// True when `items` is empty (no such flag) or one item satisfies `f`.
fn any_or_empty<T>(items: &[T], f: impl FnMut(&T) -> bool) -> bool {
    items.is_empty() || items.iter().any(f)
}

/// True when the user's `wanted` names process `comm`, which the kernel
/// cut to 15 bytes.
pub(crate) fn comm_matches(wanted: &str, comm: &str) -> bool {
    wanted == comm
        || (wanted.len() > COMM_LEN
            && comm.len() == COMM_LEN
            && wanted.as_bytes().starts_with(comm.as_bytes()))
}
