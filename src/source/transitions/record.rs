//! The fixed record both exact-mode programs write into the ring buffer,
//! and its parser. The bytes come from the kernel, but they are read as
//! hostile all the same (a fuzz target feeds this parser): a short record,
//! an unknown family or state is an error, never a panic.
//!
//! Layout (native byte order, 72 bytes):
//!
//! | at | size | field |
//! |----|------|-------|
//! | 0  | 8 | `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) |
//! | 8  | 8 | socket cookie |
//! | 16 | 8 | socket inode (0: no socket file) |
//! | 24 | 4 | network namespace inode |
//! | 28 | 2 | family (AF_INET, AF_INET6) |
//! | 30 | 1 | old state (kernel number) |
//! | 31 | 1 | new state |
//! | 32 | 2 | local port (network order, `inet_sport`) |
//! | 34 | 2 | remote port (network order, `skc_dport`) |
//! | 36 | 1 | origin: 0 tracepoint, 1 `tcp_time_wait` |
//! | 37 | 3 | zero |
//! | 40 | 16 | local address (IPv4: first 4 bytes) |
//! | 56 | 16 | remote address |

use crate::model::event::{Exact, Transition};
use crate::model::{Endpoint, Family, Socket, TcpState, Timer};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const TIME: usize = 0;
pub const COOKIE: usize = 8;
pub const INODE: usize = 16;
pub const NETNS: usize = 24;
pub const FAMILY: usize = 28;
pub const OLD: usize = 30;
pub const NEW: usize = 31;
pub const SPORT: usize = 32;
pub const DPORT: usize = 34;
pub const ORIGIN: usize = 36;
pub const SADDR: usize = 40;
pub const DADDR: usize = 56;
/// Bytes in a record.
pub const LEN: usize = 72;

/// Which program wrote a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `sock:inet_sock_set_state`.
    Tracepoint = 0,
    /// `tcp_time_wait`: a timewait socket takes the full socket's place.
    TimeWait = 1,
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRecord {
    /// Not [`LEN`] bytes.
    Length(usize),
    /// A family other than AF_INET and AF_INET6.
    Family(u16),
    /// A state number outside 1..=12.
    State(u8),
    /// An origin byte other than 0 and 1.
    Origin(u8),
}

/// Reads one record.
pub fn parse(bytes: &[u8]) -> Result<Transition, BadRecord> {
    if bytes.len() != LEN {
        return Err(BadRecord::Length(bytes.len()));
    }
    let u64_at = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let u16_at = |at: usize| u16::from_ne_bytes([bytes[at], bytes[at + 1]]);
    let family_number = u16_at(FAMILY);
    let family = match family_number {
        2 => Family::Inet,
        10 => Family::Inet6,
        n => return Err(BadRecord::Family(n)),
    };
    let state = |n: u8| TcpState::from_kernel(n).ok_or(BadRecord::State(n));
    let (old, new) = (state(bytes[OLD])?, state(bytes[NEW])?);
    if bytes[ORIGIN] > 1 {
        return Err(BadRecord::Origin(bytes[ORIGIN]));
    }
    let addr = |at: usize| -> IpAddr {
        match family {
            Family::Inet => {
                Ipv4Addr::from(<[u8; 4]>::try_from(&bytes[at..at + 4]).expect("4")).into()
            }
            Family::Inet6 => {
                Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[at..at + 16]).expect("16")).into()
            }
        }
    };
    let netns = u32::from_ne_bytes(bytes[NETNS..NETNS + 4].try_into().expect("4 bytes"));
    let socket = Socket {
        family,
        state: new,
        local: Endpoint {
            addr: addr(SADDR),
            port: u16::from_be_bytes([bytes[SPORT], bytes[SPORT + 1]]),
        },
        remote: Endpoint {
            addr: addr(DADDR),
            port: u16::from_be_bytes([bytes[DPORT], bytes[DPORT + 1]]),
        },
        recv_q: 0,
        send_q: 0,
        uid: 0,
        inode: u64_at(INODE),
        // The interface it may be bound to is not read: no identity to
        // send back to the kernel (the cookie is in `Exact`).
        diag_id: None,
        backlog: None,
        protocol: crate::model::Protocol::Tcp,
        netns: u64::from(netns),
        timer: Timer::OFF,
        shutdown: None,
        info: None,
        memory: None,
    };
    let exact = Exact {
        cookie: u64_at(COOKIE),
        netns,
        kernel_ns: u64_at(TIME),
    };
    Ok(Transition { exact, old, socket })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record as the program writes it.
    pub fn record(family: u16, old: u8, new: u8, local: &[u8], remote: &[u8]) -> Vec<u8> {
        let mut r = vec![0u8; LEN];
        r[TIME..TIME + 8].copy_from_slice(&123_456_789u64.to_ne_bytes());
        r[COOKIE..COOKIE + 8].copy_from_slice(&0x1234u64.to_ne_bytes());
        r[INODE..INODE + 8].copy_from_slice(&99u64.to_ne_bytes());
        r[NETNS..NETNS + 4].copy_from_slice(&4026531840u32.to_ne_bytes());
        r[FAMILY..FAMILY + 2].copy_from_slice(&family.to_ne_bytes());
        (r[OLD], r[NEW]) = (old, new);
        r[SPORT..SPORT + 2].copy_from_slice(&8080u16.to_be_bytes());
        r[DPORT..DPORT + 2].copy_from_slice(&40000u16.to_be_bytes());
        r[SADDR..SADDR + local.len()].copy_from_slice(local);
        r[DADDR..DADDR + remote.len()].copy_from_slice(remote);
        r
    }

    #[test]
    fn reads_v4_and_v6_records() {
        let t = parse(&record(2, 1, 4, &[10, 0, 0, 1], &[10, 0, 0, 2])).unwrap();
        assert_eq!(t.old, TcpState::Established);
        assert_eq!(t.socket.state, TcpState::FinWait1);
        let end = |e: &Endpoint| (e.addr, e.port);
        assert_eq!(end(&t.socket.local), ([10, 0, 0, 1].into(), 8080));
        assert_eq!(end(&t.socket.remote), ([10, 0, 0, 2].into(), 40000));
        assert_eq!(t.socket.inode, 99);
        assert_eq!(
            t.exact,
            Exact {
                cookie: 0x1234,
                netns: 4026531840,
                kernel_ns: 123_456_789
            }
        );
        let mut one = [0u8; 16];
        one[15] = 1;
        let t = parse(&record(10, 7, 2, &one, &one)).unwrap();
        assert_eq!(t.socket.family, Family::Inet6);
        assert_eq!(t.socket.remote.addr, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(
            (t.old, t.socket.state),
            (TcpState::Close, TcpState::SynSent)
        );
    }

    #[test]
    fn bad_records_are_errors() {
        let good = record(2, 1, 4, &[10, 0, 0, 1], &[10, 0, 0, 2]);
        for len in 0..LEN + 8 {
            let mut r = good.clone();
            r.resize(len, 0);
            assert_eq!(parse(&r).is_ok(), len == LEN, "length {len}");
        }
        let mut r = good.clone();
        r[FAMILY] = 1;
        assert_eq!(parse(&r), Err(BadRecord::Family(1)));
        for state in [0u8, 13, 255] {
            let mut r = good.clone();
            r[NEW] = state;
            assert_eq!(parse(&r), Err(BadRecord::State(state)));
        }
        let mut r = good;
        r[ORIGIN] = 2;
        assert_eq!(parse(&r), Err(BadRecord::Origin(2)));
    }
}
