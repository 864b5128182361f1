//! Filters on unix sockets (`-x`): `--pid` and `--program` through any
//! owner, and ss's path predicates `src PATTERN` (the socket's own
//! address) and `dst PATTERN` (its peer's), patterns with `*`, `?` and
//! `[…]` as `fnmatch(3)` reads them (ss uses it), matched against the
//! address as ss shows it (an abstract name as `@name`). Predicates are
//! joined by `and`/`or` (equal binding, left to right, as in ss), each
//! may be negated by `not`/`!`; a port, address or TCP state predicate is
//! refused with a line saying what applies to unix sockets.

use crate::model::unix::{UnixName, UnixSocket};
use crate::model::Owners;

/// Which address a path predicate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSide {
    /// `src`: the socket's own address.
    Own,
    /// `dst`: its peer's address.
    Peer,
}

/// One `[not] src|dst PATTERN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTest {
    pub side: PathSide,
    pub pattern: Vec<u8>,
    pub negated: bool,
}

/// A joiner between predicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    And,
    Or,
}

/// The filter of a unix listing. The default keeps every socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnixFilter {
    pub pids: Vec<u32>,
    pub programs: Vec<String>,
    /// The first predicate, then each joined to what came before.
    pub paths: Vec<(Join, PathTest)>,
}

/// What unix filters are, for the refusal of anything else.
pub const UNIX_FILTERS: &str =
    "-x filters unix sockets by `src PATTERN`, `dst PATTERN` (paths, `@` for abstract names; \
     `*`, `?`, `[…]`), --pid and --program";

impl UnixFilter {
    /// True when no socket is left out.
    pub fn keeps_all(&self) -> bool {
        self.pids.is_empty() && self.programs.is_empty() && self.paths.is_empty()
    }

    /// True when owners must be scanned to apply it.
    pub fn needs_owners(&self) -> bool {
        !self.pids.is_empty() || !self.programs.is_empty()
    }

    /// True when a predicate reads the peer's address (netlink only).
    pub fn needs_peers(&self) -> bool {
        self.paths.iter().any(|(_, t)| t.side == PathSide::Peer)
    }

    /// Whether `s` is kept; `peer_name` finds a socket's address by inode.
    pub fn matches<'n>(
        &self,
        s: &UnixSocket,
        owners: &dyn Owners,
        peer_name: impl Fn(u64) -> Option<&'n UnixName>,
    ) -> bool {
        let held = owners.owners_of(s.inode);
        if !self.pids.is_empty() && !held.iter().any(|o| self.pids.contains(&o.pid)) {
            return false;
        }
        if !self.programs.is_empty()
            && !held.iter().any(|o| {
                self.programs
                    .iter()
                    .any(|p| crate::filter::comm_matches(p, &o.name))
            })
        {
            return false;
        }
        let mut kept: Option<bool> = None;
        for (join, test) in &self.paths {
            let name = match test.side {
                PathSide::Own => s.name.as_ref(),
                PathSide::Peer => s.peer.filter(|&p| p != 0).and_then(&peer_name),
            };
            let hit = name.is_some_and(|n| glob(&test.pattern, &n.shown_bytes())) != test.negated;
            kept = Some(match (kept, join) {
                (None, _) => hit,
                (Some(k), Join::And) => k && hit,
                (Some(k), Join::Or) => k || hit,
            });
        }
        kept.unwrap_or(true)
    }
}

/// Parses the trailing expression words of `-x`: predicates `src P`,
/// `dst P`, each optionally after `not`/`!`, joined by `and`/`&&`,
/// `or`/`||` or nothing (`and`).
pub fn parse_unix_expression(words: &[String]) -> Result<Vec<(Join, PathTest)>, String> {
    let words: Vec<&str> = words.iter().flat_map(|w| w.split_whitespace()).collect();
    let mut out = Vec::new();
    let mut at = 0;
    while at < words.len() {
        let mut join = Join::And;
        if !out.is_empty() {
            match words[at] {
                "and" | "&&" => at += 1,
                "or" | "||" => (join, at) = (Join::Or, at + 1),
                _ => {}
            }
        }
        let negated = matches!(words.get(at), Some(&"not" | &"!"));
        at += usize::from(negated);
        let side = match words.get(at) {
            Some(&"src") => PathSide::Own,
            Some(&"dst") => PathSide::Peer,
            Some(word) => {
                return Err(format!(
                    "{word:?} does not apply to unix sockets; {UNIX_FILTERS}"
                ))
            }
            None => return Err(format!("the expression ends early; {UNIX_FILTERS}")),
        };
        let Some(pattern) = words.get(at + 1) else {
            return Err(format!("{:?} needs a PATTERN; {UNIX_FILTERS}", words[at]));
        };
        let pattern = match *pattern {
            "=" | "==" => {
                return Err(format!(
                    "write `{} PATTERN`, without `=`; {UNIX_FILTERS}",
                    words[at]
                ))
            }
            p => p.as_bytes().to_vec(),
        };
        out.push((
            join,
            PathTest {
                side,
                pattern,
                negated,
            },
        ));
        at += 2;
    }
    Ok(out)
}

/// `fnmatch(3)` without flags: `*` any bytes (`/` too), `?` one byte,
/// `[…]` a set (`!` or `^` negates, ranges `a-z`), `\` quotes.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative, with one backtrack point for the last `*`: linear in
    // practice and never recursive on hostile patterns.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class(pattern, p, text[t]) {
                Some((hit, next)) => hit.then_some(next),
                None => (text[t] == b'[').then_some(p + 1), // unclosed: a literal
            },
            Some(b'\\') if p + 1 < pattern.len() => (pattern[p + 1] == text[t]).then_some(p + 2),
            Some(&c) => (c == text[t]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => (p, t) = (next, t + 1),
            (None, Some((sp, st))) => {
                (p, t) = (sp, st + 1);
                star = Some((sp, st + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Matches `byte` against the class opening at `pattern[open]`: whether
/// it matches and the index after the class; `None` when it is unclosed.
fn class(pattern: &[u8], open: usize, byte: u8) -> Option<(bool, usize)> {
    let mut i = open + 1;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    i += usize::from(negate);
    let mut hit = false;
    let mut first = true;
    loop {
        let &c = pattern.get(i)?;
        if c == b']' && !first {
            break;
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&e| e != b']') {
            hit |= (c..=pattern[i + 2]).contains(&byte);
            i += 3;
        } else {
            hit |= c == byte;
            i += 1;
        }
    }
    Some((hit != negate, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_fnmatch_reads_them() {
        assert!(glob(b"/run/*.sock", b"/run/a.sock"));
        assert!(glob(b"/run/*.sock", b"/run/x/y.sock"));
        assert!(!glob(b"/run/*.sock", b"/run/a.sockx"));
        assert!(glob(b"@abs*", b"@abs@tract"));
        assert!(glob(b"/t/[a-c]?", b"/t/bz"));
        assert!(!glob(b"/t/[!a-c]?", b"/t/bz"));
        assert!(glob(b"a\\*", b"a*"));
        assert!(!glob(b"a\\*", b"ab"));
        assert!(glob(b"*", b""));
        assert!(!glob(b"", b"x"));
        assert!(glob(b"[", b"["));
        assert!(glob(b"*a*a*a*a*b", b"aaaaaaaaaaaaaaaaaaaaaaaab"));
    }

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(String::from).collect()
    }

    #[test]
    fn expressions_and_refusals() {
        let parsed = parse_unix_expression(&words("src /run/*.sock or not dst @x")).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].0, Join::Or);
        assert!(parsed[1].1.negated && parsed[1].1.side == PathSide::Peer);
        for bad in [
            "sport = :22",
            "src",
            "src = /x",
            "dport :1",
            "state listening",
        ] {
            let e = parse_unix_expression(&words(bad)).unwrap_err();
            assert!(e.contains("-x filters unix sockets"), "{bad}: {e}");
        }
    }
}
