//! The keys `top` knows, parsed from the bytes the terminal sends in raw
//! mode: printable characters (UTF-8), Enter, Backspace, Esc, Ctrl-C, the
//! arrows, PgUp/PgDn and Home/End in their xterm and VT forms. Other
//! sequences are skipped whole. Read here rather than by crossterm's event
//! reader, which spins on a terminal that hung up and can lose a key that
//! comes with a resize; outside bytes, so parsed with bounds (a sequence
//! longer than [`MAX_PENDING`] is dropped) and fuzzed
//! (`fuzz/fuzz_targets/top_keys.rs`).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Longest unfinished sequence kept for the next read.
pub const MAX_PENDING: usize = 32;

const ESC: u8 = 0x1b;

/// Turns terminal bytes into key events, keeping an unfinished sequence
/// or character for the next read.
#[derive(Debug, Default)]
pub struct KeyParser {
    pending: Vec<u8>,
}

/// What one step of parsing found.
enum Step {
    /// A key, and the bytes it took.
    Key(KeyEvent, usize),
    /// Bytes that are no key (an unknown sequence, a stray byte).
    Skip(usize),
    /// The bytes end inside a sequence or a character.
    Incomplete,
}

impl KeyParser {
    /// A parser with nothing pending.
    pub fn new() -> KeyParser {
        KeyParser::default()
    }

    /// The keys in `input` (after what was pending), in order. An Esc
    /// that ends a read is a key of its own: terminals send a sequence in
    /// one write.
    pub fn feed(&mut self, input: &[u8]) -> Vec<KeyEvent> {
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(input);
        let mut keys = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            match step(&bytes[at..]) {
                Step::Key(key, n) => {
                    keys.push(key);
                    at += n;
                }
                Step::Skip(n) => at += n,
                Step::Incomplete if bytes[at] == ESC && bytes.len() - at == 1 => {
                    keys.push(plain(KeyCode::Esc));
                    at += 1;
                }
                Step::Incomplete => {
                    if bytes.len() - at <= MAX_PENDING {
                        self.pending = bytes[at..].to_vec();
                    }
                    break;
                }
            }
        }
        keys
    }
}

fn plain(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// The first key of `b` (not empty).
fn step(b: &[u8]) -> Step {
    match b[0] {
        ESC => escape(b),
        0x03 => Step::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL), 1),
        b'\r' | b'\n' => Step::Key(plain(KeyCode::Enter), 1),
        0x7f | 0x08 => Step::Key(plain(KeyCode::Backspace), 1),
        0x00..=0x1f => Step::Skip(1),
        _ => character(b),
    }
}

/// A sequence that starts with ESC: CSI (`ESC [`), SS3 (`ESC O`), or Esc
/// followed by another key.
fn escape(b: &[u8]) -> Step {
    match b.get(1) {
        None => Step::Incomplete,
        Some(b'[') => csi(b),
        Some(b'O') => match b.get(2) {
            None => Step::Incomplete,
            Some(&last) => match arrow(last) {
                Some(code) => Step::Key(plain(code), 3),
                None => Step::Skip(3),
            },
        },
        // Esc, then whatever follows (typed quickly after it).
        Some(_) => Step::Key(plain(KeyCode::Esc), 1),
    }
}

/// `ESC [ params final`: the arrows, Home/End, `n~` keys; others skipped.
fn csi(b: &[u8]) -> Step {
    let body = &b[2..];
    let Some(end) = body.iter().position(|c| (0x40..=0x7e).contains(c)) else {
        return match body.iter().all(|c| (0x20..=0x3f).contains(c)) {
            true => Step::Incomplete,
            false => Step::Skip(2),
        };
    };
    let (params, last) = (&body[..end], body[end]);
    let len = 2 + end + 1;
    if params.iter().any(|c| !(0x20..=0x3f).contains(c)) {
        return Step::Skip(len);
    }
    let code = match (params, last) {
        (_, b'~') => tilde(params),
        ([] | [b'1', b';', ..], last) => arrow(last),
        _ => None,
    };
    match code {
        Some(code) => Step::Key(plain(code), len),
        None => Step::Skip(len),
    }
}

/// The final byte of an arrow, Home or End sequence.
fn arrow(last: u8) -> Option<KeyCode> {
    match last {
        b'A' => Some(KeyCode::Up),
        b'B' => Some(KeyCode::Down),
        b'C' => Some(KeyCode::Right),
        b'D' => Some(KeyCode::Left),
        b'H' => Some(KeyCode::Home),
        b'F' => Some(KeyCode::End),
        _ => None,
    }
}

/// `ESC [ n ~`: Home (1, 7), End (4, 8), PgUp (5), PgDn (6).
fn tilde(params: &[u8]) -> Option<KeyCode> {
    let number = params.split(|&c| c == b';').next()?;
    match number {
        b"1" | b"7" => Some(KeyCode::Home),
        b"4" | b"8" => Some(KeyCode::End),
        b"5" => Some(KeyCode::PageUp),
        b"6" => Some(KeyCode::PageDown),
        b"3" => Some(KeyCode::Delete),
        _ => None,
    }
}

/// One UTF-8 character; a byte that starts none is skipped.
fn character(b: &[u8]) -> Step {
    let len = match b[0] {
        0x20..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Step::Skip(1),
    };
    if b.len() < len {
        // An unfinished character, unless what is there is already wrong.
        return match b[1..].iter().all(|c| (0x80..=0xbf).contains(c)) {
            true => Step::Incomplete,
            false => Step::Skip(1),
        };
    }
    match std::str::from_utf8(&b[..len])
        .ok()
        .and_then(|s| s.chars().next())
    {
        Some(c) => Step::Key(plain(KeyCode::Char(c)), len),
        None => Step::Skip(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(parser: &mut KeyParser, input: &[u8]) -> Vec<KeyCode> {
        parser.feed(input).into_iter().map(|k| k.code).collect()
    }

    #[test]
    fn keys_as_xterm_and_vt_terminals_send_them() {
        let mut p = KeyParser::new();
        let got = codes(
            &mut p,
            b"q/\x1b[A\x1b[B\x1bOA\x1b[5~\x1b[6~\x1b[H\x1b[F\x1b[1~\x1b[4~\r\x7f\x08",
        );
        use KeyCode::*;
        assert_eq!(
            got,
            [
                Char('q'),
                Char('/'),
                Up,
                Down,
                Up,
                PageUp,
                PageDown,
                Home,
                End,
                Home,
                End,
                Enter,
                Backspace,
                Backspace
            ]
        );
        let ctrl_c = p.feed(b"\x03");
        assert_eq!(ctrl_c[0].code, Char('c'));
        assert!(ctrl_c[0].modifiers.contains(KeyModifiers::CONTROL));
        assert_eq!(codes(&mut p, "é€".as_bytes()), [Char('é'), Char('€')]);
    }

    #[test]
    fn esc_alone_or_before_a_key_is_esc() {
        let mut p = KeyParser::new();
        assert_eq!(codes(&mut p, b"\x1b"), [KeyCode::Esc]);
        assert_eq!(codes(&mut p, b"\x1bq"), [KeyCode::Esc, KeyCode::Char('q')]);
    }

    #[test]
    fn sequences_and_characters_split_across_reads_are_joined() {
        let mut p = KeyParser::new();
        assert!(codes(&mut p, b"\x1b[").is_empty());
        assert_eq!(
            codes(&mut p, b"6~x"),
            [KeyCode::PageDown, KeyCode::Char('x')]
        );
        let euro = "€".as_bytes();
        assert!(codes(&mut p, &euro[..2]).is_empty());
        assert_eq!(codes(&mut p, &euro[2..]), [KeyCode::Char('€')]);
    }

    /// The fuzz target's property on random bytes in random reads.
    #[test]
    fn random_bytes_never_panic_nor_pile_up() {
        let mut rng = crate::test_support::XorShift(0x9e37_79b9_7f4a_7c15);
        let alphabet = [
            0x1b, b'[', b'O', b'1', b';', b'~', b'A', 0xe2, 0x82, 0xac, 0x80, b'q',
        ];
        for _ in 0..2000 {
            let mut p = KeyParser::new();
            let len = rng.below(64);
            let bytes: Vec<u8> = (0..len).map(|_| rng.pick(&alphabet)).collect();
            let size = 1 + rng.below(8);
            let keys: usize = bytes.chunks(size).map(|c| p.feed(c).len()).sum();
            assert!(keys <= bytes.len(), "{bytes:?}");
            assert!(p.pending.len() <= MAX_PENDING);
        }
    }

    #[test]
    fn unknown_sequences_and_bad_bytes_are_skipped_whole() {
        let mut p = KeyParser::new();
        // A mouse report, a focus event, a bare continuation byte, a
        // control character, an unknown SS3 key: then `a`.
        let got = codes(&mut p, b"\x1b[<0;3;4M\x1b[I\x80\x01\x1bOPa");
        assert_eq!(got, [KeyCode::Char('a')]);
        // Endless parameters are not kept past the bound.
        let mut long = b"\x1b[".to_vec();
        long.extend([b'1'; 100]);
        assert!(codes(&mut p, &long).is_empty());
        assert_eq!(codes(&mut p, b"b"), [KeyCode::Char('b')]);
    }
}
