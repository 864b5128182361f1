//! Addresses as text, the way `inet_ntop(3)` writes them, which is what
//! netstat prints (it formats every IPv6 address through glibc's
//! `inet_ntop`) and what ss prints inside its brackets.
//!
//! Rust's `Display` for `Ipv6Addr` agrees with glibc except for the
//! deprecated IPv4-compatible form: glibc writes `::10.77.3.1` where Rust
//! writes `::a4d:301`. One formatter here, checked against glibc over
//! random addresses (tests/addresses.rs), so every output path writes the
//! same text: the table, events, `-s`, `why` and the JSON strings.
//!
//! Which address is formatted is the caller's choice: the outputs pass
//! [`Endpoint::display_addr`](super::Endpoint::display_addr), which shows
//! an IPv4-mapped address as its IPv4 address, as netstat does.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address that displays as `inet_ntop(3)` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ntop(pub IpAddr);

/// `addr:port`, an IPv6 address in brackets (`[::10.77.3.1]:80`), the
/// address as [`Ntop`] writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NtopPort(pub IpAddr, pub u16);

impl fmt::Display for Ntop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write_v4(f, v4),
            IpAddr::V6(v6) => write_v6(f, v6),
        }
    }
}

impl fmt::Display for NtopPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write_v4(f, v4)?,
            IpAddr::V6(v6) => {
                f.write_char('[')?;
                write_v6(f, v6)?;
                f.write_char(']')?;
            }
        }
        write!(f, ":{}", self.1)
    }
}

fn write_v4(f: &mut impl fmt::Write, a: Ipv4Addr) -> fmt::Result {
    let [a, b, c, d] = a.octets();
    write!(f, "{a}.{b}.{c}.{d}")
}

/// glibc's `inet_ntop6`: the first longest run of two or more zero groups
/// becomes `::`; groups in lowercase hex without leading zeros; and when
/// the run is the first six groups exactly (IPv4-compatible) or the first
/// five followed by `ffff` (IPv4-mapped), the last 32 bits are dotted.
fn write_v6(f: &mut impl fmt::Write, a: Ipv6Addr) -> fmt::Result {
    let groups = a.segments();
    let (base, len) = longest_zero_run(&groups);
    let embeds_v4 = base == 0 && (len == 6 || (len == 5 && groups[5] == 0xffff));
    let mut i = 0;
    while i < 8 {
        if len >= 2 && i == base {
            f.write_char(':')?;
            i += len;
            if i == 8 {
                f.write_char(':')?;
            }
            continue;
        }
        if i != 0 {
            f.write_char(':')?;
        }
        if i == 6 && embeds_v4 {
            let [.., a, b, c, d] = a.octets();
            return write!(f, "{a}.{b}.{c}.{d}");
        }
        write!(f, "{:x}", groups[i])?;
        i += 1;
    }
    Ok(())
}

/// The first longest run of zero groups: (start, length); length 0 when
/// there is none.
fn longest_zero_run(groups: &[u16; 8]) -> (usize, usize) {
    let (mut best, mut current) = ((0, 0), (0, 0));
    for (i, &g) in groups.iter().enumerate() {
        if g != 0 {
            current = (i + 1, 0);
            continue;
        }
        current.1 += 1;
        if current.1 > best.1 {
            best = current;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ntop(text: &str) -> String {
        Ntop(text.parse().unwrap()).to_string()
    }

    #[test]
    fn ipv4_compatible_addresses_are_dotted_as_glibc_writes_them() {
        assert_eq!(ntop("::a4d:301"), "::10.77.3.1");
        assert_eq!(ntop("::1.0.0.0"), "::1.0.0.0");
        assert_eq!(ntop("::0.1.0.0"), "::0.1.0.0");
        // The run covers the seventh group too: plain hex.
        assert_eq!(ntop("::0.0.1.2"), "::102");
        assert_eq!(ntop("::1"), "::1");
        assert_eq!(ntop("::"), "::");
    }

    #[test]
    fn ipv4_mapped_and_ordinary_addresses() {
        assert_eq!(ntop("::ffff:127.0.0.1"), "::ffff:127.0.0.1");
        assert_eq!(ntop("::ffff:0.0.0.0"), "::ffff:0.0.0.0");
        // Not mapped: the zero run does not start at the front.
        assert_eq!(ntop("1::ffff:a4d:301"), "1::ffff:a4d:301");
        assert_eq!(ntop("0:1::a4d:301"), "0:1::a4d:301");
        assert_eq!(ntop("fe80::1"), "fe80::1");
        assert_eq!(ntop("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(ntop("2001:db8::"), "2001:db8::");
        assert_eq!(ntop("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
        assert_eq!(
            ntop("fd00:1234:5678:9abc:def0:1234:5678:9abc"),
            "fd00:1234:5678:9abc:def0:1234:5678:9abc"
        );
        assert_eq!(ntop("10.77.3.1"), "10.77.3.1");
    }

    #[test]
    fn with_a_port_an_ipv6_address_is_bracketed() {
        let v6: IpAddr = "::a4d:301".parse().unwrap();
        assert_eq!(NtopPort(v6, 80).to_string(), "[::10.77.3.1]:80");
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(NtopPort(v4, 0).to_string(), "10.0.0.1:0");
    }

    #[test]
    fn agrees_with_std_wherever_no_ipv4_is_embedded() {
        // std follows RFC 5952 like glibc; only the IPv4-compatible form
        // differs. (The comparison with glibc itself is in tests/.)
        // xorshift64 inline: model imports nothing of ours, tests included
        // (test_support imports model).
        let mut state = 0x6e70_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..100_000 {
            let mut groups = [0u16; 8];
            for g in &mut groups {
                // Mostly zeros, so that runs of every length occur.
                *g = match next() % 4 {
                    0 => next() as u16,
                    1 => 0xffff,
                    _ => 0,
                };
            }
            let a = Ipv6Addr::from(groups);
            let compatible = groups[..6] == [0; 6] && groups[6] != 0;
            if !compatible {
                assert_eq!(Ntop(IpAddr::V6(a)).to_string(), a.to_string(), "{a:?}");
            }
        }
    }
}
