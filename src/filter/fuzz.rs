//! Property tests of the parsers on many generated inputs (a fixed-seed
//! xorshift, so failures reproduce): no panic, one-line errors, printed
//! expressions read back to the same tree, and the way tokens are spread
//! over words does not change the result.

use super::test_support::sock;
use super::*;

/// xorshift64*: small, deterministic, good enough to pick tokens.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Tokens valid and invalid, weighted toward ones that make sense.
const VOCABULARY: &[&str] = &[
    "sport",
    "dport",
    "src",
    "dst",
    "sport",
    "dport",
    "src",
    "dst",
    "and",
    "or",
    "not",
    "!",
    "&&",
    "||",
    "&",
    "|",
    "(",
    ")",
    "(",
    ")",
    "=",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "eq",
    "ne",
    "lt",
    "gt",
    "le",
    "ge",
    "neq",
    "geq",
    "leq",
    ":22",
    "22",
    ":80",
    ":0",
    ":65535",
    ":70000",
    "*",
    ":*",
    "10.0.0.1",
    "10.0.0.0/8",
    "10.0.0.0/33",
    "127.0.0.1:22",
    "[::1]:22",
    "[::1]",
    "::1",
    "[2001:db8::/32]:443",
    "fe80::/10",
    "::ffff:127.0.0.1",
    "*:22",
    ":22)",
    "(sport",
    "state",
    "exclude",
    "excl",
    "established",
    "time-wait",
    "TIME_WAIT",
    "bucket",
    "tme-wait",
    "dev",
    "autobound",
    "inet:1.2.3.4",
    "[",
    "]",
    "",
    " ",
    "é",
    "\u{0}",
    "\u{1b}[2J",
    "x",
    "-1",
];

/// Sample sockets every parsed expression is evaluated on.
fn sample_sockets() -> Vec<crate::model::Socket> {
    vec![
        sock("10.0.0.1:22", "10.0.0.2:50000"),
        sock("[::ffff:127.0.0.1]:80", "[::ffff:127.0.0.1]:40000"),
        sock("[::1]:443", "[2001:db8::7]:22"),
        sock("0.0.0.0:0", "0.0.0.0:0"),
    ]
}

fn assert_one_line(e: &ExprError) {
    let msg = e.to_string();
    assert!(msg.starts_with("filter: "), "{msg}");
    assert!(!msg.chars().any(char::is_control), "{msg:?}");
}

/// Checks a successful parse: the printed expression reads back to the
/// same tree, and evaluation works on every sample.
fn assert_round_trip(q: &Query, socks: &[crate::model::Socket]) {
    let Some(expr) = &q.expr else { return };
    let printed = expr.to_string();
    let again = parse_expression(&[printed.as_str()])
        .unwrap_or_else(|e| panic!("{printed} does not read back: {e}"));
    assert_eq!(again.expr.as_ref(), Some(expr), "{printed}");
    for s in socks {
        assert_eq!(expr.matches(s), again.expr.as_ref().unwrap().matches(s));
    }
}

#[test]
fn random_token_sequences() {
    let socks = sample_sockets();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..20_000 {
        let len = rng.below(12);
        let tokens: Vec<&str> = (0..len).map(|_| rng.pick(VOCABULARY)).collect();
        match parse_expression(&tokens) {
            Ok(q) => {
                ok += 1;
                assert_round_trip(&q, &socks);
            }
            Err(e) => {
                err += 1;
                assert_one_line(&e);
            }
        }
        // The same tokens in one word, space-separated, parse the same way
        // (positions aside).
        let joined = tokens.join(" ");
        let one_word = parse_expression(&[joined.as_str()]);
        let separate = parse_expression(&tokens);
        match (separate, one_word) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{joined}"),
            (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{joined}"),
            (a, b) => panic!("{joined}: {a:?} vs {b:?}"),
        }
    }
    // The vocabulary is balanced enough to exercise both paths.
    assert!(ok > 1_000 && err > 1_000, "ok {ok}, err {err}");
}

#[test]
fn random_bytes() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for _ in 0..20_000 {
        let len = rng.below(40);
        let bytes: Vec<u8> = (0..len)
            .map(|_| match rng.below(4) {
                0 => b"()[]:/*!=<>&| ."[rng.below(15)],
                _ => rng.next() as u8,
            })
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let cut = rng.below(text.len() + 1);
        let words: Vec<&str> = match text.is_char_boundary(cut) {
            true => vec![&text[..cut], &text[cut..]],
            false => vec![&text],
        };
        if let Err(e) = parse_expression(&words) {
            assert_one_line(&e);
        }
        for parsed in [
            parse_ports(&text).map(drop),
            parse_states(&text).map(drop),
            parse_addr_prefix(&text).map(drop),
        ] {
            if let Err(msg) = parsed {
                assert!(!msg.chars().any(char::is_control), "{msg:?}");
            }
        }
    }
}

#[test]
fn random_flag_values() {
    let mut rng = Rng(42);
    let pieces = [
        "0", "1", "80", "65535", "65536", ",", "-", " ", "x", "/", ".", ":", "ff", "::",
    ];
    for _ in 0..20_000 {
        let text: String = (0..rng.below(8)).map(|_| rng.pick(&pieces)).collect();
        if let Ok(set) = parse_ports(&text) {
            // A valid list prints as a list that parses to the same set.
            assert_eq!(parse_ports(&set.to_string()), Ok(set));
        }
        if let Ok(p) = parse_addr_prefix(&text) {
            assert_eq!(parse_addr_prefix(&p.to_string()), Ok(p), "{text}");
        }
    }
}
