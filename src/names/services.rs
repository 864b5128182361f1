//! Service names as ports (`ssh`, `https`, `postgres`), looked up in
//! `/etc/services` as ss does through `getservbyname(name, "tcp")`, so
//! ss(8)'s own example `'( dport = :ssh or sport = :ssh )'` works.
//!
//! The file is read only when a port is not a number, once per process.

use std::sync::OnceLock;

/// Where the names come from.
const SERVICES_PATH: &str = "/etc/services";

/// The TCP port of a service name or alias, if `/etc/services` has it.
pub(crate) fn service_port(name: &str) -> Option<u16> {
    if !looks_like_name(name) {
        return None;
    }
    static TABLE: OnceLock<String> = OnceLock::new();
    let table = TABLE.get_or_init(|| std::fs::read_to_string(SERVICES_PATH).unwrap_or_default());
    lookup(table, name)
}

/// Service names start with a letter and hold letters, digits and
/// `-_.+/`; anything else is not looked up.
fn looks_like_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+/".contains(&b))
}

/// The `tcp` entries of a services(5) table, `name port/proto [aliases…]
/// [# comment]`: port, official name and aliases. Lines that do not fit are
/// skipped.
pub(crate) fn tcp_entries(
    table: &str,
) -> impl Iterator<Item = (u16, &str, std::str::SplitWhitespace<'_>)> {
    entries(table, "tcp")
}

/// The entries of a services(5) table for protocol `proto` (`tcp`,
/// `udp`), as [`tcp_entries`].
pub(crate) fn entries<'t>(
    table: &'t str,
    proto: &'t str,
) -> impl Iterator<Item = (u16, &'t str, std::str::SplitWhitespace<'t>)> {
    table.lines().filter_map(move |line| {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let official = fields.next()?;
        let (port, of) = fields.next()?.split_once('/')?;
        if of != proto {
            return None;
        }
        Some((port.parse().ok()?, official, fields))
    })
}

/// The entries of a protocols(5) table, `name number [aliases…] [#
/// comment]`: number and name, which netstat shows as a raw socket's
/// port. Lines that do not fit are skipped.
pub(crate) fn protocol_entries(table: &str) -> impl Iterator<Item = (u16, &str)> {
    table.lines().filter_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let name = fields.next()?;
        let number = fields.next()?.parse().ok()?;
        Some((number, name))
    })
}

/// Finds `name` among the names and aliases of the `tcp` entries of a
/// services(5) table.
pub(crate) fn lookup(table: &str, name: &str) -> Option<u16> {
    tcp_entries(table).find_map(|(port, official, mut aliases)| {
        (official == name || aliases.any(|alias| alias == name)).then_some(port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
# comment ssh 1/tcp
ssh\t\t22/tcp\t\t\t\t# SSH Remote Login Protocol
http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP
netbios-ns\t137/udp
https\t\t443/udp
https\t\t443/tcp
broken\t\tx/tcp
postgresql\t5432/tcp\tpostgres
";

    #[test]
    fn names_and_aliases_of_tcp_entries() {
        assert_eq!(lookup(TABLE, "ssh"), Some(22));
        assert_eq!(lookup(TABLE, "www"), Some(80));
        assert_eq!(lookup(TABLE, "https"), Some(443));
        assert_eq!(lookup(TABLE, "postgres"), Some(5432));
        assert_eq!(lookup(TABLE, "netbios-ns"), None, "udp only");
        assert_eq!(lookup(TABLE, "broken"), None);
        assert_eq!(lookup(TABLE, "SSH"), None);
        assert_eq!(lookup(TABLE, "comment"), None);
        assert_eq!(lookup("", "ssh"), None);
    }

    #[test]
    fn only_name_shaped_text_is_looked_up() {
        assert!(looks_like_name("ssh") && looks_like_name("netbios-ns"));
        assert!(!looks_like_name("22") && !looks_like_name("") && !looks_like_name("a b"));
        assert!(!looks_like_name("é"));
    }
}
