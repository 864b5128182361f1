//! What the tracker keeps of a socket between passes: a 48-byte
//! [`Entry`] (identity, state, and what an event line prints of a socket
//! once it is gone), its addresses numbered in a per-pass table
//! ([`Addresses`]) and, for the text of `-p`, its first owner numbered in
//! a per-pass table of processes ([`OwnerTable`]). Outputs that print all
//! of a gone socket (JSON, `-i`, `-m`) keep the rest of its row beside
//! the entry ([`Rest`], 56 bytes and the boxes of `-i`/`-m`).
//!
//! A million sockets cost 48 MB of entries where whole rows cost about
//! 140 each; the tables hold one copy of each distinct address and
//! process (a host's few local addresses; its peers).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr};

use super::key::{Key, Life};
use crate::model::info::{SkMem, TcpInfo};
use crate::model::{
    DiagId, Endpoint, Family, Owner, Protocol, Shutdown, Socket, TcpState, Timer, TimerKind,
};

/// One socket of a pass, compact. Ordered by its key (family, local
/// address and port, remote address and port, a listener's inode) like
/// [`Key`], the addresses by their number in a ranked [`Addresses`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) inode: u64,
    /// 0 where the source has none (/proc).
    pub(super) cookie: u64,
    /// The network namespace's inode (`Socket::netns`).
    pub(super) netns: u64,
    /// Address numbers in the pass's [`Addresses`].
    pub(super) local: u32,
    pub(super) remote: u32,
    pub(super) uid: u32,
    /// In a compact tracker, the first owner's number in the pass's
    /// [`OwnerTable`]; in one that keeps rows, the number of the socket's
    /// [`Rest`] in the pass's list. [`NO_LINK`] for none.
    pub(super) link: u32,
    pub(super) local_port: u16,
    pub(super) remote_port: u16,
    pub(super) family: Family,
    pub(super) protocol: Protocol,
    pub(super) state: TcpState,
    flags: u8,
}

/// A key as numbers: namespace, family, local address and port, remote address and
/// port, a listener's inode.
pub(super) type Numbers = (u64, Family, u32, u16, u32, u16, u64);

/// `Entry::link` of a socket no process holds (or with no `-p`), or
/// whose rest is not kept.
pub(super) const NO_LINK: u32 = u32::MAX;

/// It matched the view at some pass: its events are printed.
const FOLLOWED: u8 = 1;
/// It matched the view at this pass.
const IN_VIEW: u8 = 2;
/// Its timer is a timewait socket's (TIME_WAIT, an orphan's FIN_WAIT2).
const TIMEWAIT_TIMER: u8 = 4;

impl Entry {
    /// `s`, its addresses numbered in `addrs`; `in_view` when it matches
    /// the view now.
    pub(super) fn of(s: &Socket, addrs: &mut Addresses, in_view: bool) -> Entry {
        let mut flags = if in_view { IN_VIEW } else { 0 };
        if s.timer.kind == TimerKind::TimeWait {
            flags |= TIMEWAIT_TIMER;
        }
        Entry {
            inode: s.inode,
            cookie: s.cookie(),
            netns: s.netns,
            local: addrs.intern(s.local.addr, 0),
            remote: addrs.intern(s.remote.addr, 1),
            uid: s.uid,
            link: NO_LINK,
            local_port: s.local.port,
            remote_port: s.remote.port,
            family: s.family,
            protocol: s.protocol,
            state: s.state,
            flags,
        }
    }

    pub(super) fn followed(&self) -> bool {
        self.flags & FOLLOWED != 0
    }

    pub(super) fn set_followed(&mut self, followed: bool) {
        if followed {
            self.flags |= FOLLOWED;
        }
    }

    pub(super) fn in_view(&self) -> bool {
        self.flags & IN_VIEW != 0
    }

    /// A listener's inode (its key has it); 0 for every other socket.
    fn listener(&self) -> u64 {
        if self.state == TcpState::Listen {
            self.inode
        } else {
            0
        }
    }

    /// Its key, addresses looked up in `addrs`.
    pub(super) fn key(&self, addrs: &Addresses) -> Key {
        Key {
            netns: self.netns,
            family: self.family,
            local: Endpoint {
                addr: addrs.get(self.local),
                port: self.local_port,
            },
            remote: Endpoint {
                addr: addrs.get(self.remote),
                port: self.remote_port,
            },
            listener: self.listener(),
        }
    }

    /// Its key as numbers: ordered as [`Key`] is when `addrs` is ranked.
    fn numbers(&self) -> Numbers {
        (
            self.netns,
            self.family,
            self.local,
            self.local_port,
            self.remote,
            self.remote_port,
            self.listener(),
        )
    }

    /// Orders entries of one ranked table by key.
    pub(super) fn cmp_key(&self, other: &Entry) -> Ordering {
        self.numbers().cmp(&other.numbers())
    }

    /// Orders entries by key, then by what tells apart two rows under one
    /// key in a pass (see [`order_of`]).
    pub(super) fn cmp_whole(&self, other: &Entry) -> Ordering {
        self.cmp_key(other)
            .then_with(|| self.tiebreak().cmp(&other.tiebreak()))
    }

    fn tiebreak(&self) -> (TcpState, u64, u64) {
        (self.state, self.inode, self.cookie)
    }

    /// Where `s` would sort among the entries of ranked `addrs` (`None`
    /// when one of its addresses is not in the table, so no entry has its
    /// key): its key as numbers.
    pub(super) fn numbers_of(s: &Socket, addrs: &Addresses) -> Option<Numbers> {
        let listener = if s.state == TcpState::Listen {
            s.inode
        } else {
            0
        };
        Some((
            s.netns,
            s.family,
            addrs.find(s.local.addr)?,
            s.local.port,
            addrs.find(s.remote.addr)?,
            s.remote.port,
            listener,
        ))
    }

    /// The socket as an event line prints it once it is gone: family,
    /// protocol, state, ends, uid, inode (its owners) and cookie. Queues,
    /// timer, shutdown and `tcp_info` are not kept (the line shows none of
    /// them; outputs that do keep whole rows).
    pub(super) fn socket(&self, addrs: &Addresses) -> Socket {
        let key = self.key(addrs);
        let timer = if self.flags & TIMEWAIT_TIMER != 0 {
            Timer {
                kind: TimerKind::TimeWait,
                ..Timer::OFF
            }
        } else {
            Timer::OFF
        };
        Socket {
            family: self.family,
            protocol: self.protocol,
            state: self.state,
            local: key.local,
            remote: key.remote,
            recv_q: 0,
            send_q: 0,
            uid: self.uid,
            inode: self.inode,
            netns: self.netns,
            timer,
            shutdown: None,
            info: None,
            memory: None,
            diag_id: (self.cookie != 0).then_some(DiagId {
                interface: 0,
                cookie: self.cookie,
            }),
            backlog: None,
        }
    }
}

impl Entry {
    /// The socket as last seen: [`Entry::socket`] with the rest of its row
    /// when `rests` has it (a tracker keeping rows).
    pub(super) fn whole(&self, addrs: &Addresses, rests: &[Rest]) -> Socket {
        let mut socket = self.socket(addrs);
        if let Some(rest) = rests.get(self.link as usize) {
            rest.fill(&mut socket);
        }
        socket
    }
}

impl Life for Entry {
    fn inode(&self) -> u64 {
        self.inode
    }
    fn cookie(&self) -> u64 {
        self.cookie
    }
    fn state(&self) -> TcpState {
        self.state
    }
    fn protocol(&self) -> Protocol {
        self.protocol
    }
    fn timewait_timer(&self) -> bool {
        self.flags & TIMEWAIT_TIMER != 0
    }
}

/// What a row has that its [`Entry`] lacks: queues, timer, shutdown,
/// `tcp_info`, memory, interface and backlog. With the entry, the whole
/// row again, for outputs that print every field of a gone socket.
#[derive(Debug)]
pub(super) struct Rest {
    expires_ms: u64,
    info: Option<Box<TcpInfo>>,
    memory: Option<Box<SkMem>>,
    recv_q: u32,
    send_q: u32,
    retransmits: u32,
    probes: u32,
    interface: u32,
    backlog: Option<u32>,
    timer: TimerKind,
    shutdown: Option<Shutdown>,
}

impl Rest {
    /// The rest of `s`, its boxes taken.
    pub(super) fn take(s: &mut Socket) -> Rest {
        Rest {
            expires_ms: s.timer.expires_ms,
            info: s.info.take(),
            memory: s.memory.take(),
            recv_q: s.recv_q,
            send_q: s.send_q,
            retransmits: s.timer.retransmits,
            probes: s.timer.probes,
            interface: s.diag_id.map_or(0, |id| id.interface),
            backlog: s.backlog,
            timer: s.timer.kind,
            shutdown: s.shutdown,
        }
    }

    /// Puts it back into `s`, made from its entry.
    pub(super) fn fill(&self, s: &mut Socket) {
        s.recv_q = self.recv_q;
        s.send_q = self.send_q;
        s.timer = Timer {
            kind: self.timer,
            expires_ms: self.expires_ms,
            retransmits: self.retransmits,
            probes: self.probes,
        };
        s.shutdown = self.shutdown;
        s.info.clone_from(&self.info);
        s.memory.clone_from(&self.memory);
        if let Some(id) = &mut s.diag_id {
            id.interface = self.interface;
        }
        s.backlog = self.backlog;
    }
}

/// Orders rows as [`Entry::cmp_whole`] orders their entries.
pub(super) fn order_of(a: &Socket, b: &Socket) -> Ordering {
    Key::of(a)
        .cmp(&Key::of(b))
        .then_with(|| (a.state, a.inode, a.cookie()).cmp(&(b.state, b.inode, b.cookie())))
}

/// `row` against `entry` (of `addrs`), as [`order_of`] orders rows.
pub(super) fn order_row_entry(row: &Socket, entry: &Entry, addrs: &Addresses) -> Ordering {
    Key::of(row)
        .cmp(&entry.key(addrs))
        .then_with(|| (row.state, row.inode, row.cookie()).cmp(&entry.tiebreak()))
}

/// The distinct addresses of a pass, numbered. Once [`Addresses::rank`]ed,
/// numbers follow the addresses' order, so that entries compare by number.
#[derive(Debug)]
pub(super) struct Addresses {
    list: Vec<IpAddr>,
    ids: HashMap<IpAddr, u32, BuildHasherDefault<FastHasher>>,
    /// The last local and remote addresses interned, and their numbers:
    /// many sockets share an address.
    last: [(IpAddr, u32); 2],
}

impl Default for Addresses {
    fn default() -> Addresses {
        Addresses {
            list: Vec::new(),
            ids: HashMap::default(),
            last: [(IpAddr::V4(Ipv4Addr::UNSPECIFIED), u32::MAX); 2],
        }
    }
}

impl Addresses {
    /// The number of `addr` (a local address when `side` is 0, a remote
    /// one when 1), given one if new.
    fn intern(&mut self, addr: IpAddr, side: usize) -> u32 {
        let (last, id) = self.last[side];
        if last == addr && id != u32::MAX {
            return id;
        }
        let next = self.list.len() as u32;
        let id = *self.ids.entry(addr).or_insert(next);
        if id == next {
            self.list.push(addr);
        }
        self.last[side] = (addr, id);
        id
    }

    /// The number of `addr`, if the pass has it.
    fn find(&self, addr: IpAddr) -> Option<u32> {
        self.ids.get(&addr).copied()
    }

    /// The address numbered `id`.
    pub(super) fn get(&self, id: u32) -> IpAddr {
        self.list[id as usize]
    }

    /// Renumbers the addresses in their order; returns each old number's
    /// new one.
    pub(super) fn rank(&mut self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.list.len() as u32).collect();
        order.sort_unstable_by_key(|&id| self.list[id as usize]);
        let mut new_id = vec![0; order.len()];
        for (rank, &old) in order.iter().enumerate() {
            new_id[old as usize] = rank as u32;
        }
        self.list.sort_unstable();
        for (addr, id) in self.ids.iter_mut() {
            *id = new_id[*id as usize];
            debug_assert_eq!(self.list[*id as usize], *addr);
        }
        self.last = [(IpAddr::V4(Ipv4Addr::UNSPECIFIED), u32::MAX); 2];
        new_id
    }

    /// Empties the table, keeping its memory unless it is far too big.
    pub(super) fn clear(&mut self) {
        let len = self.list.len();
        self.list.clear();
        self.ids.clear();
        if self.ids.capacity() > 4 * len.max(64) {
            self.ids.shrink_to(2 * len);
            self.list.shrink_to(2 * len);
        }
        self.last = [(IpAddr::V4(Ipv4Addr::UNSPECIFIED), u32::MAX); 2];
    }
}

/// The processes that hold a pass's sockets, numbered: each entry names
/// its first owner by number, so a socket reported gone is printed with
/// the owner it had, without keeping that pass's whole owner map.
#[derive(Debug)]
pub(super) struct OwnerTable {
    /// pid and name (the descriptor is not kept: the line shows none).
    owners: Vec<Owner>,
    by_pid: HashMap<u32, u32, BuildHasherDefault<FastHasher>>,
    /// The last pid interned and its number.
    last: (u32, u32),
}

impl Default for OwnerTable {
    fn default() -> OwnerTable {
        OwnerTable {
            owners: Vec::new(),
            by_pid: HashMap::default(),
            last: (0, NO_LINK),
        }
    }
}

impl OwnerTable {
    /// The number of `owner`'s process, given one if new.
    pub(super) fn intern(&mut self, owner: &Owner) -> u32 {
        if self.last.0 == owner.pid && self.last.1 != NO_LINK {
            return self.last.1;
        }
        let next = self.owners.len() as u32;
        let id = *self.by_pid.entry(owner.pid).or_insert(next);
        if id == next {
            self.owners.push(Owner {
                pid: owner.pid,
                fd: 0,
                name: owner.name.clone(),
            });
        }
        self.last = (owner.pid, id);
        id
    }

    /// The owner numbered `id`, if any.
    pub(super) fn get(&self, id: u32) -> Option<&Owner> {
        self.owners.get(id as usize)
    }

    pub(super) fn clear(&mut self) {
        self.owners.clear();
        self.by_pid.clear();
        self.last = (0, NO_LINK);
        if self.by_pid.capacity() > 4096 {
            self.by_pid.shrink_to(1024);
        }
    }
}

/// Where each entry of a pass is, by key: open addressing over entry
/// numbers (4 bytes a slot, at most half full), so that a row of the next
/// pass finds its socket's entry with a cache miss or two rather than a
/// binary search's twenty.
#[derive(Debug, Default)]
pub(super) struct Index {
    slots: Vec<u32>,
}

const EMPTY: u32 = u32::MAX;

impl Index {
    /// Indexes `entries` (one per key).
    pub(super) fn build(&mut self, entries: &[Entry]) {
        let size = (2 * entries.len()).next_power_of_two().max(16);
        self.slots.clear();
        if self.slots.capacity() > 2 * size {
            self.slots.shrink_to(size);
        }
        self.slots.resize(size, EMPTY);
        let mask = size - 1;
        for (i, e) in entries.iter().enumerate() {
            let mut slot = hash(&e.numbers()) as usize & mask;
            while self.slots[slot] != EMPTY {
                slot = (slot + 1) & mask;
            }
            self.slots[slot] = i as u32;
        }
    }

    /// The position in `entries` (those indexed) of the entry with key
    /// `numbers`.
    pub(super) fn find(&self, entries: &[Entry], numbers: Numbers) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut slot = hash(&numbers) as usize & mask;
        loop {
            let i = self.slots[slot];
            if i == EMPTY {
                return None;
            }
            if entries[i as usize].numbers() == numbers {
                return Some(i as usize);
            }
            slot = (slot + 1) & mask;
        }
    }
}

/// A key's numbers mixed into 64 bits.
fn hash(&(netns, family, local, local_port, remote, remote_port, listener): &Numbers) -> u64 {
    let mut h = FastHasher::default();
    h.write_u64(netns);
    h.write_u64(u64::from(local) << 32 | u64::from(remote));
    h.write_u64(u64::from(local_port) << 16 | u64::from(remote_port) | (family as u64) << 32);
    h.write_u64(listener);
    h.finish()
}

/// Hashes small numbers with a multiply each: the keys are the kernel's
/// addresses and our own numbers, where SipHash's defence against chosen
/// keys buys nothing.
#[derive(Default)]
pub(super) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_ne_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // An odd constant (2^64 / golden ratio).
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 48);
    }

    #[test]
    fn ranked_numbers_follow_the_addresses_order() {
        let mut addrs = Addresses::default();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(
            [addrs.intern(b, 0), addrs.intern(v6, 1), addrs.intern(a, 0)],
            [0, 1, 2]
        );
        assert_eq!(addrs.intern(b, 1), 0);
        assert_eq!(addrs.rank(), [1, 2, 0]);
        assert_eq!(
            [addrs.find(a), addrs.find(b), addrs.find(v6)],
            [Some(0), Some(1), Some(2)]
        );
        assert_eq!(addrs.get(1), b);
        assert_eq!(addrs.intern(v6, 0), 2);
    }

    #[test]
    fn the_index_finds_every_entry_and_no_other_key() {
        let mut addrs = Addresses::default();
        let sockets: Vec<Socket> = (0..1000u16)
            .map(|port| {
                let mut s =
                    crate::test_support::sock(TcpState::Established, "127.0.0.1:1", "10.0.0.1:80");
                s.local.port = port;
                s
            })
            .collect();
        let entries: Vec<Entry> = sockets
            .iter()
            .map(|s| Entry::of(s, &mut addrs, true))
            .collect();
        let mut index = Index::default();
        index.build(&entries);
        for (i, s) in sockets.iter().enumerate() {
            let numbers = Entry::numbers_of(s, &addrs).unwrap();
            assert_eq!(index.find(&entries, numbers), Some(i));
        }
        let mut other = sockets[0].clone();
        other.local.port = 5000;
        let numbers = Entry::numbers_of(&other, &addrs).unwrap();
        assert_eq!(index.find(&entries, numbers), None);
    }
}
