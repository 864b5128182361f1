//! The AST of ss-style filter expressions and how it is evaluated on a
//! socket. [`crate::filter::parse_expression`] builds it.
//!
//! Printing an [`Expr`] gives the same expression back, fully
//! parenthesised, in a form the parser reads (so the lead can log it, and
//! tests can check how an input was grouped).

use std::fmt;

use super::addr::AddrPrefix;
use crate::model::{Endpoint, Socket};

/// Which end of the socket a predicate looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The local end: `src`, `sport`.
    Local,
    /// The remote end: `dst`, `dport`.
    Remote,
}

impl Side {
    fn endpoint(self, s: &Socket) -> &Endpoint {
        match self {
            Side::Local => &s.local,
            Side::Remote => &s.remote,
        }
    }
}

/// A port comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`, `==`, `eq`, or no operator.
    Eq,
    /// `!=`, `ne`, `neq`.
    Ne,
    /// `<`, `lt`.
    Lt,
    /// `<=`, `le`, `leq`.
    Le,
    /// `>`, `gt`.
    Gt,
    /// `>=`, `ge`, `geq`.
    Ge,
}

impl CmpOp {
    /// The operator a word stands for, in any of ss's spellings.
    pub fn from_word(word: &str) -> Option<CmpOp> {
        Some(match word {
            "=" | "==" | "eq" => CmpOp::Eq,
            "!=" | "ne" | "neq" => CmpOp::Ne,
            "<" | "lt" => CmpOp::Lt,
            "<=" | "le" | "leq" => CmpOp::Le,
            ">" | "gt" => CmpOp::Gt,
            ">=" | "ge" | "geq" => CmpOp::Ge,
            _ => return None,
        })
    }

    /// True when `left OP right`.
    pub fn holds(self, left: u16, right: u16) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// The operand of `src`/`dst`: an address prefix and a port, each `None`
/// for ss's `*` wildcard (or when left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostPattern {
    pub addr: Option<AddrPrefix>,
    pub port: Option<u16>,
}

impl HostPattern {
    /// True when the endpoint has the pattern's port and lies in its prefix.
    pub fn matches(&self, ep: &Endpoint) -> bool {
        self.port.is_none_or(|p| p == ep.port) && self.addr.is_none_or(|a| a.contains(ep.addr))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            None => f.write_str("*")?,
            Some(a) if a.addr().is_ipv6() => write!(f, "[{a}]")?,
            Some(a) => write!(f, "{a}")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

/// The operand of `netns NAME`: the word, and the namespaces it names.
/// The parser fills `inodes` only for an inode (`4026531840`,
/// `net:[4026531840]`); a name is resolved against the namespaces' labels
/// once they are known ([`crate::filter::Filter::resolve_netns`]); until
/// then it matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetnsName {
    /// The word as given.
    pub word: String,
    /// The namespaces it names, sorted.
    pub inodes: Vec<u64>,
}

impl NetnsName {
    /// True when the socket is in one of the named namespaces.
    pub fn matches(&self, s: &Socket) -> bool {
        self.inodes.binary_search(&s.netns).is_ok()
    }
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// `sport OP :PORT` / `dport OP :PORT`.
    Port { side: Side, op: CmpOp, port: u16 },
    /// `src HOST` / `dst HOST` (also `sport = *`, which matches any port).
    Host { side: Side, pattern: HostPattern },
    /// `netns NAME`: the socket's network namespace (with `-N all`).
    Netns(NetnsName),
    /// `not E`, `! E`.
    Not(Box<Expr>),
    /// `A and B`, `A && B`, `A & B`, `A B`.
    And(Box<Expr>, Box<Expr>),
    /// `A or B`, `A || B`, `A | B`.
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// True when the socket satisfies the expression.
    pub fn matches(&self, s: &Socket) -> bool {
        match self {
            Expr::Port { side, op, port } => op.holds(side.endpoint(s).port, *port),
            Expr::Host { side, pattern } => pattern.matches(side.endpoint(s)),
            Expr::Netns(name) => name.matches(s),
            Expr::Not(e) => !e.matches(s),
            Expr::And(a, b) => a.matches(s) && b.matches(s),
            Expr::Or(a, b) => a.matches(s) || b.matches(s),
        }
    }

    /// True when the expression has a `netns NAME`.
    pub fn has_netns(&self) -> bool {
        match self {
            Expr::Netns(_) => true,
            Expr::Not(e) => e.has_netns(),
            Expr::And(a, b) | Expr::Or(a, b) => a.has_netns() || b.has_netns(),
            Expr::Port { .. } | Expr::Host { .. } => false,
        }
    }

    /// The namespaces outside which the expression never holds (`None`:
    /// it may hold in any), so that the others need not be read.
    pub fn netns_bound(&self) -> Option<Vec<u64>> {
        match self {
            Expr::Netns(name) => Some(name.inodes.clone()),
            Expr::And(a, b) => match (a.netns_bound(), b.netns_bound()) {
                (Some(a), Some(b)) => Some(a.into_iter().filter(|i| b.contains(i)).collect()),
                (a, b) => a.or(b),
            },
            Expr::Or(a, b) => {
                let (mut a, b) = (a.netns_bound()?, b.netns_bound()?);
                a.extend(b);
                a.sort_unstable();
                a.dedup();
                Some(a)
            }
            Expr::Not(_) | Expr::Port { .. } | Expr::Host { .. } => None,
        }
    }

    /// Every `netns NAME` in the expression.
    pub fn netns_names_mut(&mut self) -> Vec<&mut NetnsName> {
        match self {
            Expr::Netns(name) => vec![name],
            Expr::Not(e) => e.netns_names_mut(),
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut all = a.netns_names_mut();
                all.extend(b.netns_names_mut());
                all
            }
            Expr::Port { .. } | Expr::Host { .. } => Vec::new(),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Port { side, op, port } => {
                let kw = if *side == Side::Local {
                    "sport"
                } else {
                    "dport"
                };
                write!(f, "{kw} {} :{port}", op.symbol())
            }
            Expr::Host { side, pattern } => {
                let kw = if *side == Side::Local { "src" } else { "dst" };
                write!(f, "{kw} {pattern}")
            }
            Expr::Netns(name) => write!(f, "netns {}", name.word),
            Expr::Not(e) => write!(f, "not {e}"),
            Expr::And(a, b) => write!(f, "({a} and {b})"),
            Expr::Or(a, b) => write!(f, "({a} or {b})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::addr::parse_addr_prefix;
    use crate::filter::test_support::sock;

    #[test]
    fn port_comparisons() {
        let s = sock("10.0.0.1:22", "10.0.0.2:50000");
        let port = |side, op, port| Expr::Port { side, op, port };
        assert!(port(Side::Local, CmpOp::Eq, 22).matches(&s));
        assert!(!port(Side::Local, CmpOp::Ne, 22).matches(&s));
        assert!(port(Side::Local, CmpOp::Lt, 23).matches(&s));
        assert!(!port(Side::Local, CmpOp::Lt, 22).matches(&s));
        assert!(port(Side::Local, CmpOp::Le, 22).matches(&s));
        assert!(port(Side::Remote, CmpOp::Gt, 49999).matches(&s));
        assert!(!port(Side::Remote, CmpOp::Gt, 50000).matches(&s));
        assert!(port(Side::Remote, CmpOp::Ge, 50000).matches(&s));
    }

    #[test]
    fn host_patterns_check_address_and_port() {
        let s = sock("[::ffff:10.0.0.1]:22", "[::ffff:192.168.1.9]:40000");
        let host = |side, addr: Option<&str>, port| Expr::Host {
            side,
            pattern: HostPattern {
                addr: addr.map(|a| parse_addr_prefix(a).unwrap()),
                port,
            },
        };
        assert!(host(Side::Local, Some("10.0.0.1"), None).matches(&s));
        assert!(host(Side::Local, Some("10.0.0.0/8"), Some(22)).matches(&s));
        assert!(!host(Side::Local, Some("10.0.0.0/8"), Some(23)).matches(&s));
        assert!(host(Side::Remote, Some("192.168.0.0/16"), None).matches(&s));
        assert!(!host(Side::Remote, Some("10.0.0.0/8"), None).matches(&s));
        assert!(host(Side::Remote, None, Some(40000)).matches(&s));
        assert!(host(Side::Remote, None, None).matches(&s));
    }

    #[test]
    fn netns_matches_the_row_s_namespace_and_bounds_the_dump() {
        let mut s = sock("10.0.0.1:22", "10.0.0.2:50000");
        s.netns = 7;
        let netns = |inodes: &[u64]| {
            Box::new(Expr::Netns(NetnsName {
                word: "x".into(),
                inodes: inodes.to_vec(),
            }))
        };
        let port = Box::new(Expr::Port {
            side: Side::Local,
            op: CmpOp::Eq,
            port: 22,
        });
        assert!(netns(&[3, 7]).matches(&s));
        assert!(!netns(&[3]).matches(&s));
        assert!(!netns(&[]).matches(&s), "unresolved: nothing");
        let and = Expr::And(
            netns(&[3, 7]),
            Box::new(Expr::And(port.clone(), netns(&[7, 9]))),
        );
        assert!(and.matches(&s));
        assert_eq!(and.netns_bound(), Some(vec![7]));
        let or = Expr::Or(netns(&[9]), netns(&[3]));
        assert_eq!(or.netns_bound(), Some(vec![3, 9]));
        assert_eq!(Expr::Or(netns(&[9]), port.clone()).netns_bound(), None);
        assert_eq!(Expr::Not(netns(&[9])).netns_bound(), None);
        assert_eq!(port.netns_bound(), None);
        assert!(Expr::Not(netns(&[9])).has_netns() && !port.has_netns());
    }

    #[test]
    fn display_reads_back_as_ss_syntax() {
        let a = Expr::Port {
            side: Side::Local,
            op: CmpOp::Ge,
            port: 1024,
        };
        let b = Expr::Host {
            side: Side::Remote,
            pattern: HostPattern {
                addr: Some(parse_addr_prefix("2001:db8::/32").unwrap()),
                port: Some(443),
            },
        };
        let e = Expr::Or(Box::new(Expr::Not(Box::new(a))), Box::new(b));
        assert_eq!(
            e.to_string(),
            "(not sport >= :1024 or dst [2001:db8::/32]:443)"
        );
    }
}
