//! Splits the expression's command-line words into tokens, remembering
//! where each came from for error messages.
//!
//! A word may hold several tokens (`'( sport = :22 )'`): it is split on
//! white space, and `(` and `)` are tokens of their own even when glued to
//! a neighbour (`(sport`, `:22)`). Nothing else is split: `sport=:22` is one
//! (unknown) token, as in ss.

/// One token and its place on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub text: &'a str,
    /// Index of the word among the expression's words, from 0.
    pub word: usize,
    /// Byte offset of the token in its word.
    pub offset: usize,
    /// True when the token is the whole word.
    pub whole_word: bool,
}

/// Tokenizes the words in order.
pub(crate) fn tokenize<S: AsRef<str>>(words: &[S]) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    for (word, text) in words.iter().enumerate() {
        split_word(text.as_ref(), word, &mut out);
    }
    out
}

fn split_word<'a>(text: &'a str, word: usize, out: &mut Vec<Token<'a>>) {
    let mut push = |start: usize, end: usize| {
        if start < end {
            out.push(Token {
                text: &text[start..end],
                word,
                offset: start,
                whole_word: start == 0 && end == text.len(),
            });
        }
    };
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() || c == '(' || c == ')' {
            push(start, i);
            if c == '(' || c == ')' {
                push(i, i + 1);
            }
            start = i + c.len_utf8();
        }
    }
    push(start, text.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(words: &[&str]) -> Vec<String> {
        tokenize(words).iter().map(|t| t.text.to_string()).collect()
    }

    #[test]
    fn words_split_on_space_and_parentheses() {
        assert_eq!(
            texts(&["( sport = :1234 or dport = :1234 )"]),
            ["(", "sport", "=", ":1234", "or", "dport", "=", ":1234", ")"]
        );
        assert_eq!(
            texts(&["(sport", "=", ":22)"]),
            ["(", "sport", "=", ":22", ")"]
        );
        assert_eq!(texts(&["((a))"]), ["(", "(", "a", ")", ")"]);
        assert_eq!(texts(&["", " \t\n ", "sport=:22"]), ["sport=:22"]);
        assert_eq!(texts(&["\u{a0}x\u{2003}é"]), ["x", "é"]);
    }

    #[test]
    fn tokens_know_their_word_and_offset() {
        let toks = tokenize(&["state", "x (sport"]);
        let at: Vec<_> = toks
            .iter()
            .map(|t| (t.word, t.offset, t.whole_word))
            .collect();
        assert_eq!(
            at,
            [(0, 0, true), (1, 0, false), (1, 2, false), (1, 3, false)]
        );
    }
}
