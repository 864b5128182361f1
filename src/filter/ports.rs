//! Port lists for `--port`, `--sport` and `--dport`: `80`, `80,443`,
//! `8000-8100`, `22,8000-8100`.
//!
//! Flags reject port 0: no socket is bound to it, and the only sockets that
//! show it are listeners (their peer is `*:0`), which `-l` selects better.
//! The ss-style expression keeps accepting `:0`, as ss does.

use std::fmt;

use crate::names::services::service_port;

/// A set of TCP ports, kept as the inclusive ranges the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    /// True when `port` lies in one of the ranges.
    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= port && port <= hi)
    }

    /// The inclusive ranges, in the order given.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    /// Every port of `self` and of `other` (for a repeated flag).
    pub fn union(mut self, other: &PortSet) -> PortSet {
        self.ranges.extend_from_slice(&other.ranges);
        self
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// Parses a `--port`/`--sport`/`--dport` value: comma-separated ports and
/// `LOW-HIGH` ranges, each within 1-65535. Usable as clap's `value_parser`.
pub fn parse_ports(list: &str) -> Result<PortSet, String> {
    if list.trim().is_empty() {
        return Err("empty port list".to_string());
    }
    let ranges = list
        .split(',')
        .map(|item| parse_range(item.trim(), list))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PortSet { ranges })
}

/// One item of a port list: `PORT` or `LOW-HIGH`.
fn parse_range(item: &str, list: &str) -> Result<(u16, u16), String> {
    if item.is_empty() {
        return Err(format!("empty item in port list {list:?}"));
    }
    // Service names may hold a "-" (netbios-ns): try the whole item first.
    if let Some(port) = service_port(item) {
        return Ok((port, port));
    }
    let (lo, hi) = match item.split_once('-') {
        None => {
            let port = flag_port(item)?;
            return Ok((port, port));
        }
        Some(("", _)) => return Err(format!("invalid port range {item:?}: missing start")),
        Some((_, "")) => return Err(format!("invalid port range {item:?}: missing end")),
        Some((_, hi)) if hi.contains('-') => {
            return Err(format!("invalid port range {item:?}: one \"-\" expected"))
        }
        Some((lo, hi)) => {
            let end =
                |text: &str| flag_port(text.trim()).map_err(|e| format!("{e} (in range {item:?})"));
            (end(lo)?, end(hi)?)
        }
    };
    if lo > hi {
        return Err(format!(
            "invalid port range {item:?}: start {lo} is above end {hi}"
        ));
    }
    Ok((lo, hi))
}

/// One port to bind (`why PORT`): 1-65535, or a TCP service name from
/// `/etc/services`. Usable as clap's `value_parser`.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match port_or_service(text) {
        Err(why) => Err(format!("invalid port {text:?}: {why}")),
        Ok(0) => Err("port 0 cannot be asked about: bind() picks a free port for it".into()),
        Ok(port) => Ok(port),
    }
}

/// A port in a filter flag value: 1-65535, or a TCP service name.
fn flag_port(text: &str) -> Result<u16, String> {
    match port_or_service(text) {
        Err(why) => Err(format!("invalid port {text:?}: {why}")),
        Ok(0) => Err(format!(
            "invalid port {text:?}: port 0 is never bound (use -l for listeners)"
        )),
        Ok(port) => Ok(port),
    }
}

/// A decimal port number 0-65535 or a TCP service name from
/// `/etc/services` (`ssh`, `https`), as ss accepts.
pub(crate) fn port_or_service(text: &str) -> Result<u16, &'static str> {
    match port_number(text) {
        Err(_) if !text.bytes().all(|b| b.is_ascii_digit()) => {
            service_port(text).ok_or("neither a decimal number nor a tcp service in /etc/services")
        }
        result => result,
    }
}

/// A decimal port number 0-65535 (ASCII digits only: no sign, no hex, no
/// service names). The error says why, without repeating the text.
pub(crate) fn port_number(text: &str) -> Result<u16, &'static str> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a decimal number");
    }
    // Leading zeros are harmless; more than 5 significant digits is out of
    // range however it would overflow.
    let digits = text.trim_start_matches('0');
    match digits.parse::<u32>() {
        _ if digits.is_empty() => Ok(0),
        Ok(n) if digits.len() <= 5 && n <= u32::from(u16::MAX) => Ok(n as u16),
        _ => Err("above 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_to_bind_is_a_number_or_a_service() {
        assert_eq!(parse_port("8080"), Ok(8080));
        assert_eq!(parse_port("65535"), Ok(65535));
        for bad in ["0", "65536", "-1", "0x50", "", "no-such-service"] {
            let err = parse_port(bad).unwrap_err();
            assert!(!err.contains('\n'), "{bad}: {err}");
        }
        if service_port("ssh") == Some(22) {
            assert_eq!(parse_port("ssh"), Ok(22));
        }
    }

    fn ranges(s: &str) -> Vec<(u16, u16)> {
        parse_ports(s).unwrap().ranges().to_vec()
    }

    #[test]
    fn singles_lists_ranges_and_mixes() {
        assert_eq!(ranges("80"), [(80, 80)]);
        assert_eq!(ranges("80,443"), [(80, 80), (443, 443)]);
        assert_eq!(ranges("8000-8100"), [(8000, 8100)]);
        assert_eq!(ranges("22,8000-8100"), [(22, 22), (8000, 8100)]);
        assert_eq!(ranges(" 22 , 80-80 "), [(22, 22), (80, 80)]);
        assert_eq!(ranges("1-65535"), [(1, 65535)]);
        assert_eq!(ranges("0080"), [(80, 80)]);
    }

    #[test]
    fn contains_and_display() {
        let set = parse_ports("22,8000-8100").unwrap();
        assert!(set.contains(22) && set.contains(8000) && set.contains(8100));
        assert!(!set.contains(23) && !set.contains(7999) && !set.contains(8101));
        assert_eq!(set.to_string(), "22,8000-8100");
        let both = set.union(&parse_ports("443").unwrap());
        assert!(both.contains(443) && both.contains(22));
    }

    #[test]
    fn errors_name_the_bad_token() {
        for (input, token) in [
            ("70000", "\"70000\""),
            ("-5", "\"-5\""),
            ("80-", "\"80-\""),
            ("90-80", "\"90-80\""),
            ("80,,443", "\"80,,443\""),
            ("80,", "\"80,\""),
            ("htp", "\"htp\""),
            ("+80", "\"+80\""),
            ("0x50", "\"0x50\""),
            ("1-2-3", "\"1-2-3\""),
            ("0", "\"0\""),
            ("0-10", "\"0\""),
            ("99999999999999999999", "\"99999999999999999999\""),
            ("8٠", "\"8٠\""),
        ] {
            let err = parse_ports(input).unwrap_err();
            assert!(err.contains(token), "{input}: {err}");
            assert!(!err.contains('\n'));
        }
        assert_eq!(parse_ports("").unwrap_err(), "empty port list");
        assert_eq!(parse_ports(" ").unwrap_err(), "empty port list");
    }

    #[test]
    fn service_names_like_ss() {
        // Needs netbase's /etc/services, as ss does.
        if service_port("ssh") != Some(22) {
            return;
        }
        assert_eq!(ranges("ssh,https"), [(22, 22), (443, 443)]);
        assert_eq!(ranges("ssh-http"), [(22, 80)]);
        assert!(
            parse_ports("netbios-ns")
                .unwrap_err()
                .contains("\"netbios-ns\""),
            "udp only"
        );
    }

    #[test]
    fn port_number_bounds() {
        assert_eq!(port_number("0"), Ok(0));
        assert_eq!(port_number("000"), Ok(0));
        assert_eq!(port_number("65535"), Ok(65535));
        assert!(port_number("65536").is_err());
        assert!(port_number("").is_err());
        assert!(port_number(" 1").is_err());
    }
}
