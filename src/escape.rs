//! Text from outside the program, made safe to print on a terminal: host
//! names from reverse DNS or /etc/hosts, service, user and program names,
//! and the paths and words an error line echoes.
//!
//! Whoever picks such a name (a PTR record, a process that renames itself)
//! could otherwise put escape sequences, carriage returns or bidirectional
//! overrides in it and rewrite the operator's screen. Every text output
//! escapes that text here, one way: a character that Rust's `{:?}` escapes
//! is written as `{:?}` writes it (`\u{1b}`, `\n`, `\t`, `\r`, `\0`,
//! `\u{9b}`, `\u{202e}`…), and a backslash as `\\`, so the escaped text is
//! visible and reads back unambiguously. Quotes and every printable
//! character stay as they are, so an ordinary name prints unchanged. Error
//! messages already quote the words they echo with `{:?}`, so a hostile
//! name looks the same in a table and in an error line.
//!
//! JSON is not escaped here: serde writes exact strings with JSON's own
//! escapes.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` is written escaped. Backslashes are, except in text that
/// already went through `{:?}` (see [`Controls`]).
fn is_escaped(c: char, backslash: bool) -> bool {
    match c {
        '\\' => backslash,
        // Quotes are printable; `{:?}` escapes them only to quote.
        '"' | '\'' => false,
        ' '..='~' => false,
        // Control, format (bidi overrides, zero-width), separator,
        // combining and unassigned characters: what `{:?}` escapes.
        c => c.escape_debug().nth(1).is_some(),
    }
}

/// Writes `text` with [`is_escaped`] characters escaped.
fn write_escaped(out: &mut impl fmt::Write, text: &str, backslash: bool) -> fmt::Result {
    let mut plain = 0;
    for (at, c) in text.char_indices() {
        if is_escaped(c, backslash) {
            out.write_str(&text[plain..at])?;
            write!(out, "{}", c.escape_debug())?;
            plain = at + c.len_utf8();
        }
    }
    out.write_str(&text[plain..])
}

/// `text` escaped for a terminal; borrowed when nothing needed escaping.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_escaped(c, true)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    push_escaped(&mut out, text);
    Cow::Owned(out)
}

/// Appends `text`, escaped for a terminal, to `out`.
pub fn push_escaped(out: &mut String, text: &str) {
    // Writing to a String cannot fail.
    let _ = write_escaped(out, text, true);
}

/// Displays its text escaped for a terminal, as [`escape`] does.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0, true)
    }
}

/// Displays a message whose quoted parts were already escaped by `{:?}`:
/// control and other non-printable characters are escaped as [`Escaped`]
/// escapes them, backslashes are left alone (escaping them again would
/// double `{:?}`'s escapes). For error lines, which also carry text no
/// code of ours quoted (clap's messages, paths).
#[derive(Debug, Clone, Copy)]
pub struct Controls<'a>(pub &'a str);

impl fmt::Display for Controls<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0, false)
    }
}

/// The largest cut of escaped text at or before byte `at` that splits
/// neither a character nor an escape, so that a column cut to its width
/// never ends in half an escape. In escaped text every backslash starts an
/// escape: `\\`, `\n`-like, or `\u{…}`.
pub fn cut(escaped: &str, at: usize) -> usize {
    if at >= escaped.len() {
        return escaped.len();
    }
    let bytes = escaped.as_bytes();
    let mut start = 0;
    while start < escaped.len() {
        let end = match bytes[start] {
            b'\\' if bytes.get(start + 1) == Some(&b'u') => bytes[start..]
                .iter()
                .position(|&b| b == b'}')
                .map_or(escaped.len(), |p| start + p + 1),
            b'\\' => (start + 2).min(escaped.len()),
            _ => start + escaped[start..].chars().next().map_or(1, char::len_utf8),
        };
        if end > at {
            return start;
        }
        start = end;
    }
    escaped.len()
}

/// Bytes that may not be UTF-8 (a unix socket's path), escaped for a
/// terminal: valid text as [`escape`] escapes it, and each byte that is
/// not part of valid UTF-8 as `\xNN`, so no two paths print alike.
pub fn escape_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return escape(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        push_escaped(&mut out, chunk.valid());
        for b in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = fmt::Write::write_fmt(&mut out, format_args!("\\x{b:02x}"));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_unchanged_and_borrowed() {
        for name in [
            "nginx",
            "postgres: writer",
            "localhost",
            "ip6-localhost",
            "größe",
            "日本語のなまえ",
            "a'b\"c",
            "",
        ] {
            assert!(
                matches!(escape(name), Cow::Borrowed(n) if n == name),
                "{name}"
            );
        }
    }

    #[test]
    fn control_and_invisible_characters_are_escaped_as_debug_does() {
        assert_eq!(escape("ev\x1b[2Jil\n"), r"ev\u{1b}[2Jil\n");
        assert_eq!(escape("\t\r\0\x07\x7f"), r"\t\r\0\u{7}\u{7f}");
        // C1 CSI, a bidi override, zero-width space, line separator, and a
        // combining mark on its own.
        assert_eq!(
            escape("\u{9b}2J\u{202e}x\u{200b}\u{2028}\u{301}"),
            r"\u{9b}2J\u{202e}x\u{200b}\u{2028}\u{301}"
        );
        assert_eq!(escape(r"a\u{1b}"), r"a\\u{1b}", "unambiguous");
        assert_eq!(Escaped("x\ny").to_string(), r"x\ny");
    }

    #[test]
    fn escapes_agree_with_debug_quoting() {
        // An error line quotes a word with `{:?}`; a table escapes it: the
        // same word reads the same in both.
        let mut rng = crate::test_support::XorShift(0xe5c);
        let pool = [
            'a',
            ' ',
            '"',
            '\'',
            '\\',
            '\n',
            '\x1b',
            '\u{9b}',
            '\u{202e}',
            'é',
            '\u{301}',
            '日',
            '\u{feff}',
            '\u{e000}',
            '\u{10ffff}',
        ];
        for _ in 0..2000 {
            let len = (rng.next() % 8) as usize;
            let word: String = (0..len)
                .map(|_| pool[(rng.next() % pool.len() as u64) as usize])
                .collect();
            let debug = format!("{word:?}");
            let debug = &debug[1..debug.len() - 1];
            let ours = escape(&word).replace('"', "\\\"");
            assert_eq!(ours, debug, "{word:?}");
        }
    }

    #[test]
    fn controls_leave_backslashes_alone() {
        let quoted = format!("no such user {:?}", "a\x1b");
        assert_eq!(Controls(&quoted).to_string(), r#"no such user "a\u{1b}""#);
        assert_eq!(
            Controls("unexpected argument '--\x1b[2J'").to_string(),
            r"unexpected argument '--\u{1b}[2J'"
        );
    }

    #[test]
    fn cuts_never_split_an_escape() {
        let text = escape("ev\x1b[2Jil\x07x").into_owned();
        assert_eq!(text, r"ev\u{1b}[2Jil\u{7}x");
        let cuts: Vec<usize> = (0..=text.len() + 1).map(|at| cut(&text, at)).collect();
        // Units: e v \u{1b} [ 2 J i l \u{7} x
        let expected = [
            0, 1, 2, 2, 2, 2, 2, 2, 8, 9, 10, 11, 12, 13, 13, 13, 13, 13, 18, 19, 19,
        ];
        assert_eq!(cuts, expected);
        assert_eq!(cut(r"a\\b", 2), 1);
        assert_eq!(cut(r"a\\b", 3), 3);
        assert_eq!(cut("größe", 3), 2, "character boundary");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_written_as_hex_escapes() {
        assert_eq!(super::escape_bytes(b"/run/a b.sock"), "/run/a b.sock");
        assert_eq!(
            super::escape_bytes(b"/t/nl\nx\xff.s\\"),
            "/t/nl\\nx\\xff.s\\\\"
        );
        assert_eq!(super::escape_bytes(b"\xc3\x28\x1b"), "\\xc3(\\u{1b}");
    }
}
