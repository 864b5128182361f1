//! The parser of ss-style filters: `state`/`exclude` clauses, then an
//! expression of `src`, `dst`, `sport` and `dport` predicates, and
//! tcpstat's `netns NAME` (the namespace, with `-N all`).
//!
//! The grammar is ss's as its parser (iproute2 `misc/ssfilter.y`) has it,
//! which is not what ss(8) says: `and`, `or` and juxtaposition have the
//! *same* precedence and group from the left, so `A or B and C` is
//! `(A or B) and C`; `not` binds to the one predicate or parenthesis after
//! it. tcpstat follows the parser, so an expression copied from an ss
//! command line selects the same sockets.
//!
//! ```text
//! query     := clause* exprlist?
//! clause    := ("state" | "exclude" | "excl") STATE-OR-GROUP
//! exprlist  := primary (("and" | "&&" | "&" | "or" | "||" | "|")? primary)*
//! primary   := "(" exprlist ")" | ("not" | "!") primary
//!            | ("src" | "dst") ("=" | "!=")? HOST
//!            | ("sport" | "dport") OP? PORT
//!            | "netns" ("=" | "!=")? NAME
//! HOST      := ADDR[/LEN][:PORT] | [V6ADDR[/LEN]][:PORT] | *[:PORT] | :PORT
//! PORT      := [:]NUMBER | [:]SERVICE | [:]*
//! ```

use super::addr::{parse_prefix_text, AddrError};
use super::error::{ExprError, ExprErrorKind as Kind};
use super::expr::{CmpOp, Expr, HostPattern, NetnsName, Side};
use super::lex::{tokenize, Token};
use super::ports::port_or_service;
use super::state::states_of;
use crate::model::StateSet;

/// The inode a `netns` word spells (`4026531840`, `net:[4026531840]`).
pub fn netns_inode(word: &str) -> Option<u64> {
    let digits = word
        .strip_prefix("net:[")
        .and_then(|w| w.strip_suffix(']'))
        .unwrap_or(word);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Most tokens an expression may have; keeps evaluation and dropping of
/// the tree shallow whatever the command line holds.
const MAX_TOKENS: usize = 1024;

/// Deepest nesting of parentheses and `not`.
const MAX_DEPTH: usize = 64;

/// A parsed ss-style filter: the states its clauses select and its
/// expression.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// The state mask of the `state`/`exclude` clauses; `None` when there
    /// were none. As in ss, several `state` clauses add up, an `exclude`
    /// removes, and an `exclude` first starts from all states.
    pub states: Option<StateSet>,
    /// The expression after the clauses; `None` when there was none.
    pub expr: Option<Expr>,
}

/// Parses the trailing command-line words as an ss-style filter. A word
/// may hold several tokens (`'( sport = :22 or dport = :22 )'`).
pub fn parse_expression<S: AsRef<str>>(words: &[S]) -> Result<Query, ExprError> {
    let texts: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
    let tokens = tokenize(&texts);
    let mut p = Parser {
        tokens,
        words: &texts,
        pos: 0,
        depth: 0,
    };
    if let Some(t) = p.tokens.get(MAX_TOKENS) {
        return Err(p.error(Kind::TooComplex, t));
    }
    let states = p.state_clauses()?;
    let expr = match p.peek() {
        None => None,
        Some(_) => Some(p.expr_list()?),
    };
    match p.peek() {
        Some(t) => Err(p.error(Kind::UnopenedParen, &t)),
        None => Ok(Query { states, expr }),
    }
}

/// How two predicates are joined.
enum Join {
    And,
    Or,
}

/// Words that are never operands.
fn is_reserved(text: &str) -> bool {
    CmpOp::from_word(text).is_some()
        || matches!(
            text,
            "(" | ")"
                | "!"
                | "not"
                | "and"
                | "&"
                | "&&"
                | "or"
                | "|"
                | "||"
                | "src"
                | "dst"
                | "sport"
                | "dport"
                | "netns"
                | "state"
                | "exclude"
                | "excl"
                | "dev"
                | "fwmark"
                | "cgroup"
                | "autobound"
        )
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    words: &'a [&'a str],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let t = self.peek();
        self.pos += usize::from(t.is_some());
        t
    }

    fn error(&self, kind: Kind, t: &Token<'_>) -> ExprError {
        ExprError::at(kind, t, self.words)
    }

    /// The next token if it can be an operand; otherwise the error says
    /// that `after` lacks one.
    fn operand(&mut self, after: &Token<'_>) -> Result<Token<'a>, ExprError> {
        match self.peek() {
            Some(t) if !is_reserved(t.text) => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.error(Kind::MissingOperand, after)),
        }
    }

    /// `state X` / `exclude X` clauses, ss's way: the first `state` starts
    /// from no states, the first `exclude` from all.
    fn state_clauses(&mut self) -> Result<Option<StateSet>, ExprError> {
        let mut set: Option<StateSet> = None;
        while let Some(kw) = self.peek() {
            let include = match kw.text {
                "state" => true,
                "exclude" | "excl" => false,
                _ => break,
            };
            self.pos += 1;
            let name = self.operand(&kw)?;
            let bits = states_of(name.text).ok_or_else(|| self.error(Kind::UnknownState, &name))?;
            set = Some(if include {
                set.unwrap_or(StateSet::EMPTY).union(bits)
            } else {
                set.unwrap_or(StateSet::ALL).without(bits)
            });
        }
        Ok(set)
    }

    /// Predicates joined by `and`, `or` or nothing, grouped from the left
    /// with equal precedence; stops before `)` or at the end.
    fn expr_list(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.primary()?;
        while let Some(t) = self.peek() {
            let join = match t.text {
                ")" => break,
                "or" | "|" | "||" => Some(Join::Or),
                "and" | "&" | "&&" => Some(Join::And),
                _ => None,
            };
            if join.is_some() {
                self.pos += 1;
                self.expect_more(&t)?;
            }
            let right = Box::new(self.primary()?);
            left = match join {
                Some(Join::Or) => Expr::Or(Box::new(left), right),
                Some(Join::And) | None => Expr::And(Box::new(left), right),
            };
        }
        Ok(left)
    }

    /// Fails when the operator `op` ends the expression or a parenthesis.
    fn expect_more(&self, op: &Token<'_>) -> Result<(), ExprError> {
        match self.peek() {
            Some(t) if t.text != ")" => Ok(()),
            _ => Err(self.error(Kind::TrailingOperator, op)),
        }
    }

    /// One predicate, negation or parenthesised list.
    fn primary(&mut self) -> Result<Expr, ExprError> {
        let Some(t) = self.next() else {
            // Callers check for more input first; this is a safety net.
            return Err(ExprError::at_end(Kind::ExpectedPredicate, ""));
        };
        match t.text {
            "(" => self.nested(&t, |p| {
                let inner = p.expr_list()?;
                match p.next() {
                    Some(close) if close.text == ")" => Ok(inner),
                    _ => Err(p.error(Kind::UnclosedParen, &t)),
                }
            }),
            "!" | "not" => {
                self.expect_more(&t)?;
                self.nested(&t, |p| Ok(Expr::Not(Box::new(p.primary()?))))
            }
            "src" => self.host(&t, Side::Local),
            "dst" => self.host(&t, Side::Remote),
            "sport" => self.port(&t, Side::Local),
            "dport" => self.port(&t, Side::Remote),
            "netns" => self.netns(&t),
            ")" if self.depth == 0 => Err(self.error(Kind::UnopenedParen, &t)),
            "state" | "exclude" | "excl" => Err(self.error(Kind::MisplacedState, &t)),
            "dev" | "fwmark" | "cgroup" | "autobound" => Err(self.error(Kind::Unsupported, &t)),
            text if is_reserved(text) => Err(self.error(Kind::ExpectedPredicate, &t)),
            _ => Err(self.error(Kind::UnknownKeyword, &t)),
        }
    }

    /// Runs `f` one nesting level deeper, refusing to go past MAX_DEPTH.
    fn nested(
        &mut self,
        t: &Token<'_>,
        f: impl FnOnce(&mut Self) -> Result<Expr, ExprError>,
    ) -> Result<Expr, ExprError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(Kind::TooComplex, t));
        }
        self.depth += 1;
        let e = f(self);
        self.depth -= 1;
        e
    }

    /// The optional comparison after a predicate keyword: `(=, kw)` when
    /// there is none.
    fn comparison(&mut self, kw: Token<'a>) -> (CmpOp, Token<'a>) {
        match self
            .peek()
            .and_then(|t| CmpOp::from_word(t.text).map(|op| (op, t)))
        {
            Some(found) => {
                self.pos += 1;
                found
            }
            None => (CmpOp::Eq, kw),
        }
    }

    /// `sport`/`dport` `OP? [:]PORT` or `[:]*`.
    fn port(&mut self, kw: &Token<'a>, side: Side) -> Result<Expr, ExprError> {
        let (op, op_tok) = self.comparison(*kw);
        let t = self.operand(&op_tok)?;
        let text = t.text.strip_prefix(':').unwrap_or(t.text);
        if text == "*" {
            // ss: a wildcard port matches every socket.
            let any = Expr::Host {
                side,
                pattern: HostPattern {
                    addr: None,
                    port: None,
                },
            };
            return match op {
                CmpOp::Eq => Ok(any),
                CmpOp::Ne => Ok(Expr::Not(Box::new(any))),
                _ => Err(self.error(Kind::BadPort("\"*\" only compares with = or !=".into()), &t)),
            };
        }
        let port =
            port_or_service(text).map_err(|why| self.error(Kind::BadPort(why.into()), &t))?;
        Ok(Expr::Port { side, op, port })
    }

    /// `netns (= | !=)? NAME`: an inode is read here, a name resolved
    /// later against the namespaces' labels.
    fn netns(&mut self, kw: &Token<'a>) -> Result<Expr, ExprError> {
        let (op, op_tok) = self.comparison(*kw);
        if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return Err(self.error(Kind::BadOperator, &op_tok));
        }
        let t = self.operand(&op_tok)?;
        let e = Expr::Netns(NetnsName {
            word: t.text.to_string(),
            inodes: netns_inode(t.text).into_iter().collect(),
        });
        Ok(if op == CmpOp::Ne {
            Expr::Not(Box::new(e))
        } else {
            e
        })
    }

    /// `src`/`dst` `(= | !=)? HOST`.
    fn host(&mut self, kw: &Token<'a>, side: Side) -> Result<Expr, ExprError> {
        let (op, op_tok) = self.comparison(*kw);
        if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return Err(self.error(Kind::BadOperator, &op_tok));
        }
        let t = self.operand(&op_tok)?;
        let pattern = parse_host(t.text).map_err(|kind| self.error(kind, &t))?;
        let e = Expr::Host { side, pattern };
        Ok(if op == CmpOp::Ne {
            Expr::Not(Box::new(e))
        } else {
            e
        })
    }
}

/// ss's HOST forms for inet sockets. An unbracketed text with two or more
/// colons is an IPv6 address with no port (ss would take the last group as
/// a port; brackets say it without doubt).
fn parse_host(text: &str) -> Result<HostPattern, Kind> {
    const FAMILIES: [&str; 6] = ["inet:", "inet6:", "unix:", "link:", "netlink:", "vsock:"];
    if FAMILIES.iter().any(|f| text.starts_with(f)) {
        return Err(Kind::Unsupported);
    }
    let (addr, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(Kind::BadAddress("\"[\" without \"]\"".into()));
        };
        match after {
            "" => (inside, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (inside, Some(p)),
                None => return Err(Kind::BadAddress("only \":PORT\" may follow \"]\"".into())),
            },
        }
    } else if text.matches(':').count() >= 2 {
        (text, None)
    } else {
        match text.rsplit_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        }
    };
    Ok(HostPattern {
        addr: host_addr(addr)?,
        port: host_port(port)?,
    })
}

fn host_addr(text: &str) -> Result<Option<super::addr::AddrPrefix>, Kind> {
    match text {
        "" | "*" => Ok(None),
        _ => parse_prefix_text(text).map(Some).map_err(|e| match e {
            AddrError::Address(why) => Kind::BadAddress(why),
            AddrError::Prefix(why) => Kind::BadPrefix(why),
        }),
    }
}

fn host_port(text: Option<&str>) -> Result<Option<u16>, Kind> {
    match text {
        None | Some("*") => Ok(None),
        Some("") => Err(Kind::BadPort("no port after \":\"".into())),
        Some(p) => port_or_service(p)
            .map(Some)
            .map_err(|why| Kind::BadPort(format!("port {p:?} is {why}"))),
    }
}
