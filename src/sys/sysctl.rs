//! Kernel settings under `/proc/sys`: one or two numbers each, read with
//! a bound and parsed strictly. `/proc/sys/net` shows the settings of the
//! network namespace the calling thread is in.

use std::path::Path;

use super::fs::read_small_text;

/// Longest sysctl text read: these hold one or two numbers, and a path
/// that leads to an endless stream must not be read to its end.
const MAX_SYSCTL: usize = 256;

/// The text of `net/ipv4/LEAF` below a `/proc/sys`-shaped `root`.
pub fn read_ipv4(root: &Path, leaf: &str) -> Option<String> {
    read_small_text(&root.join("net/ipv4").join(leaf), MAX_SYSCTL).ok()
}

/// "131072\n" → 131072; anything else is None.
pub fn parse_number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// "32768\t60999\n" → (32768, 60999); a reversed or malformed range is None.
pub fn parse_range(text: &str) -> Option<(u16, u16)> {
    let mut fields = text.split_whitespace().map(str::parse::<u16>);
    let (Some(Ok(low)), Some(Ok(high)), None) = (fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    (low <= high).then_some((low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_formats() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_range("1024 1024"), Some((1024, 1024)));
        for bad in [
            "",
            "1",
            "60999 32768",
            "1 2 3",
            "x 2",
            "0x10 20",
            "70000 70001",
        ] {
            assert_eq!(parse_range(bad), None, "{bad:?}");
        }
        assert_eq!(parse_number("131072\n"), Some(131072));
        assert_eq!(parse_number("-1"), None);
    }
}
