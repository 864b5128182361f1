//! The expression parser's error: what went wrong, the offending token and
//! where it is, printed as one line such as
//! `filter: unknown state "tme-wait" at word 2`.

use std::fmt;

use super::lex::Token;

/// What was wrong with the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprErrorKind {
    /// `state`/`exclude` followed by a name that is no state or group.
    UnknownState,
    /// A port that is neither a number in 0-65535 nor a service name;
    /// says why.
    BadPort(String),
    /// An address that does not parse; says why.
    BadAddress(String),
    /// A prefix length that is missing, not a number or too long; says why.
    BadPrefix(String),
    /// A `(` that is never closed (the token is that `(`).
    UnclosedParen,
    /// A `)` without a matching `(`.
    UnopenedParen,
    /// A word that is no keyword where a predicate was expected.
    UnknownKeyword,
    /// An ss predicate or form tcpstat does not implement (`dev`, `fwmark`,
    /// `cgroup`, `autobound`, `inet6:` family prefixes…).
    Unsupported,
    /// A predicate or `state` keyword (the token) without its operand.
    MissingOperand,
    /// `and`, `or` or `not` (the token) with nothing after it.
    TrailingOperator,
    /// An operator or `)` (the token) where a predicate was expected.
    ExpectedPredicate,
    /// A comparison that does not apply to addresses (`src < …`).
    BadOperator,
    /// A `state`/`exclude` clause after the expression began.
    MisplacedState,
    /// More tokens or deeper nesting than the parser accepts.
    TooComplex,
}

/// Where the offending token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// In word `word` (counted from 1 among the expression's words), at
    /// character `column` (from 1) when the word holds several tokens.
    Word { word: usize, column: Option<usize> },
    /// After the last word.
    End,
}

/// A parse error of the filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    kind: ExprErrorKind,
    token: String,
    position: Position,
}

/// Longest token quoted in a message; past it the token is cut.
const MAX_QUOTED: usize = 40;

impl ExprError {
    /// An error about `token`.
    pub(crate) fn at(kind: ExprErrorKind, token: &Token<'_>, words: &[&str]) -> ExprError {
        let column = (!token.whole_word).then(|| {
            let word = words.get(token.word).copied().unwrap_or("");
            word.get(..token.offset)
                .map_or(1, |w| w.chars().count() + 1)
        });
        ExprError {
            kind,
            token: token.text.to_string(),
            position: Position::Word {
                word: token.word + 1,
                column,
            },
        }
    }

    /// An error at the end of the expression, about `token` (the keyword
    /// left without operand, or empty).
    pub(crate) fn at_end(kind: ExprErrorKind, token: &str) -> ExprError {
        ExprError {
            kind,
            token: token.to_string(),
            position: Position::End,
        }
    }

    /// What was wrong.
    pub fn kind(&self) -> &ExprErrorKind {
        &self.kind
    }

    /// The offending token as written.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Where the offending token is.
    pub fn position(&self) -> Position {
        self.position
    }
}

/// The token quoted for a message: control characters and quotes escaped
/// (so the message stays one line), long tokens cut.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for (i, c) in self.0.chars().enumerate() {
            if i == MAX_QUOTED {
                f.write_str("…")?;
                break;
            }
            write!(f, "{}", c.escape_debug())?;
        }
        f.write_str("\"")
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ExprErrorKind::*;
        let t = Quoted(&self.token);
        f.write_str("filter: ")?;
        match &self.kind {
            UnknownState => write!(f, "unknown state {t}"),
            BadPort(why) => write!(f, "bad port {t}: {why}"),
            BadAddress(why) => write!(f, "bad address {t}: {why}"),
            BadPrefix(why) => write!(f, "bad prefix in {t}: {why}"),
            UnclosedParen => write!(f, "unbalanced parenthesis: {t} is never closed"),
            UnopenedParen => write!(f, "unbalanced parenthesis: {t} has no matching \"(\""),
            UnknownKeyword => write!(f, "unknown keyword {t}"),
            Unsupported => write!(f, "{t} is not supported by tcpstat"),
            MissingOperand => write!(f, "missing operand after {t}"),
            TrailingOperator => write!(f, "trailing operator {t}"),
            ExpectedPredicate => write!(f, "expected a predicate, found {t}"),
            BadOperator => write!(f, "operator {t} does not apply to addresses"),
            MisplacedState => write!(f, "{t} must come before the expression"),
            TooComplex => write!(f, "expression too long or nested too deeply at {t}"),
        }?;
        match self.position {
            Position::Word { word, column: None } => write!(f, " at word {word}"),
            Position::Word {
                word,
                column: Some(c),
            } => write!(f, " at word {word}, column {c}"),
            Position::End => f.write_str(" at the end of the expression"),
        }
    }
}

impl std::error::Error for ExprError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_position() {
        let words = ["state", "tme-wait"];
        let tok = Token {
            text: "tme-wait",
            word: 1,
            offset: 0,
            whole_word: true,
        };
        let e = ExprError::at(ExprErrorKind::UnknownState, &tok, &words);
        assert_eq!(
            e.to_string(),
            "filter: unknown state \"tme-wait\" at word 2"
        );
        assert_eq!(
            e.position(),
            Position::Word {
                word: 2,
                column: None
            }
        );
    }

    #[test]
    fn column_counts_characters_in_shared_words() {
        let words = ["é ( sport"];
        let tok = Token {
            text: "(",
            word: 0,
            offset: 3,
            whole_word: false,
        };
        let e = ExprError::at(ExprErrorKind::UnclosedParen, &tok, &words);
        assert_eq!(
            e.position(),
            Position::Word {
                word: 1,
                column: Some(3)
            }
        );
        assert!(e.to_string().ends_with("at word 1, column 3"), "{e}");
    }

    #[test]
    fn hostile_tokens_are_escaped_and_cut() {
        let e = ExprError::at_end(ExprErrorKind::UnknownKeyword, "a\u{1b}[2J\"\r\nb");
        let msg = e.to_string();
        assert!(!msg.contains(['\n', '\r', '\u{1b}']), "{msg}");
        let long = "x".repeat(500);
        let msg = ExprError::at_end(ExprErrorKind::UnknownKeyword, &long).to_string();
        assert!(msg.len() < 120 && msg.contains('…'), "{msg}");
    }
}
