//! Address prefixes for `--src`/`--dst` and the expression's `src`/`dst`:
//! `ADDR[/PREFIX]`, IPv4 or IPv6.
//!
//! An IPv4 prefix also matches IPv4-mapped IPv6 socket addresses
//! (`::ffff:a.b.c.d`), the form in which a dual-stack listener reports IPv4
//! peers, the way [`Endpoint::display_addr`](crate::model::Endpoint) shows
//! them. A mapped prefix given by the user (`::ffff:10.0.0.0/104`) is turned
//! into its IPv4 form, so it matches plain IPv4 sockets as well.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address and how many leading bits of it must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrPrefix {
    /// The network address, with the bits past the prefix cleared.
    addr: IpAddr,
    prefix_len: u8,
}

impl AddrPrefix {
    /// A prefix of `prefix_len` bits of `addr`; `None` when the length is
    /// longer than the address (33+ for IPv4, 129+ for IPv6).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<AddrPrefix> {
        let (addr, prefix_len) = match addr {
            IpAddr::V6(v6) if (96..=128).contains(&prefix_len) => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix_len - 96),
                None => (addr, prefix_len),
            },
            _ => (addr, prefix_len),
        };
        let addr = match addr {
            IpAddr::V4(v4) if prefix_len <= 32 => {
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix_len)))
            }
            IpAddr::V6(v6) if prefix_len <= 128 => {
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix_len)))
            }
            _ => return None,
        };
        Some(AddrPrefix { addr, prefix_len })
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The number of leading bits that must match.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// True when `addr` lies in this prefix. An IPv4 prefix matches
    /// IPv4-mapped IPv6 addresses; an IPv6 prefix never matches IPv4.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => in_v4(net, self.prefix_len, a),
            (IpAddr::V4(net), IpAddr::V6(a)) => a
                .to_ipv4_mapped()
                .is_some_and(|a| in_v4(net, self.prefix_len, a)),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                u128::from(a) & mask128(self.prefix_len) == u128::from(net)
            }
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }

    /// True for a full-length prefix (one address).
    fn is_host(&self) -> bool {
        self.prefix_len == if self.addr.is_ipv4() { 32 } else { 128 }
    }
}

impl fmt::Display for AddrPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if !self.is_host() {
            write!(f, "/{}", self.prefix_len)?;
        }
        Ok(())
    }
}

fn in_v4(net: Ipv4Addr, len: u8, a: Ipv4Addr) -> bool {
    u32::from(a) & mask32(len) == u32::from(net)
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// Why an `ADDR[/PREFIX]` did not parse; the expression parser tells a bad
/// prefix length from a bad address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddrError {
    /// Not an IPv4 or IPv6 address.
    Address(String),
    /// The part after `/` is missing, not a number, or too long.
    Prefix(String),
}

impl AddrError {
    /// The reason, without the offending text.
    pub(crate) fn reason(&self) -> &str {
        match self {
            AddrError::Address(r) | AddrError::Prefix(r) => r,
        }
    }
}

/// Parses `ADDR[/PREFIX]`, IPv6 optionally in brackets (`[::1]`,
/// `[fe80::]/10`). Without a prefix the whole address must match.
pub(crate) fn parse_prefix_text(text: &str) -> Result<AddrPrefix, AddrError> {
    let (addr_text, len_text) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr_text = addr_text
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr_text);
    let addr: IpAddr = addr_text.parse().map_err(|_| {
        AddrError::Address(match addr_text {
            "" => "missing address".to_string(),
            _ => "not an IPv4 or IPv6 address (names are not resolved)".to_string(),
        })
    })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len_text {
        None => max,
        Some("") => {
            return Err(AddrError::Prefix(
                "missing prefix length after \"/\"".into(),
            ))
        }
        Some(l) if l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => {
            l.parse::<u8>().unwrap_or(u8::MAX)
        }
        Some(l) => {
            return Err(AddrError::Prefix(format!(
                "prefix length {l:?} is not a number"
            )))
        }
    };
    AddrPrefix::new(addr, len).ok_or_else(|| {
        let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
        AddrError::Prefix(format!("prefix length {len} is above {max} for {family}"))
    })
}

/// Parses a `--src`/`--dst` value: `ADDR[/PREFIX]`, IPv4 or IPv6 (brackets
/// allowed around IPv6). Usable as clap's `value_parser`.
pub fn parse_addr_prefix(text: &str) -> Result<AddrPrefix, String> {
    parse_prefix_text(text.trim()).map_err(|e| format!("invalid address {text:?}: {}", e.reason()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> AddrPrefix {
        parse_addr_prefix(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_v4_and_v6_with_and_without_prefix() {
        assert_eq!(p("10.1.2.3").to_string(), "10.1.2.3");
        assert_eq!(p("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(p("::1").to_string(), "::1");
        assert_eq!(p("[::1]").to_string(), "::1");
        assert_eq!(p("fe80::1/10").to_string(), "fe80::/10");
        assert_eq!(p("[fe80::1]/10").to_string(), "fe80::/10");
        assert_eq!(p("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(p("::/0").prefix_len(), 0);
        assert_eq!(p("1.2.3.4/32").prefix_len(), 32);
        assert_eq!(p("::1/128").prefix_len(), 128);
    }

    #[test]
    fn v4_prefix_matches_v4_and_mapped_v6() {
        let net = p("10.0.0.0/8");
        assert!(net.contains(ip("10.9.8.7")));
        assert!(net.contains(ip("::ffff:10.9.8.7")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("::ffff:11.0.0.1")));
        assert!(
            !net.contains(ip("::a09:807")),
            "IPv4-compatible is not mapped"
        );
        assert!(p("0.0.0.0/0").contains(ip("::ffff:1.2.3.4")));
        assert!(!p("0.0.0.0/0").contains(ip("::1")));
    }

    #[test]
    fn v6_prefix_matches_v6_only() {
        let net = p("2001:db8::/32");
        assert!(net.contains(ip("2001:db8::5")));
        assert!(!net.contains(ip("2001:db9::5")));
        assert!(!p("::/0").contains(ip("1.2.3.4")));
        assert!(
            p("::/0").contains(ip("::ffff:1.2.3.4")),
            "a mapped socket is IPv6"
        );
    }

    #[test]
    fn mapped_prefix_becomes_v4() {
        let mapped = p("::ffff:10.0.0.0/104");
        assert_eq!(mapped, p("10.0.0.0/8"));
        assert!(mapped.contains(ip("10.1.1.1")));
        assert_eq!(p("::ffff:1.2.3.4"), p("1.2.3.4"));
    }

    #[test]
    fn bad_prefix_lengths_and_garbage() {
        for (input, needle) in [
            ("10.0.0.0/33", "33 is above 32"),
            ("::/129", "129 is above 128"),
            ("10.0.0.0/", "missing prefix length"),
            ("10.0.0.0/x", "\"x\" is not a number"),
            ("10.0.0.0/-1", "\"-1\""),
            ("10.0.0.0/1000", "\"1000\""),
            ("10.0.0", "not an IPv4"),
            ("db.example.com", "names are not resolved"),
            ("", "missing address"),
            ("/8", "missing address"),
            ("1.2.3.4:80", "not an IPv4"),
        ] {
            let err = parse_addr_prefix(input).unwrap_err();
            assert!(err.contains(needle), "{input}: {err}");
            assert!(err.contains(&format!("{input:?}")), "{input}: {err}");
        }
    }
}
