//! `serve --listen ADDR`: the address the metrics are served on. Loopback
//! unless an address beyond the host is written out as an IP literal; a
//! host name is refused, because what it resolves to is not what was typed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Where `serve` listens without `--listen`.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9923);

/// `--listen`: `PORT`, `:PORT` or `localhost:PORT` (127.0.0.1:PORT), or an
/// IP literal with a port (`0.0.0.0:9923`, `[::1]:9923`). Anything else,
/// host names included, is an error.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let loopback =
        |port: &str| parse_port(port).map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p));
    if let Some(port) = text.strip_prefix(':') {
        return loopback(port);
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        return loopback(port);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return loopback(text);
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!(
            "{text:?} is not PORT, :PORT or IP:PORT (an IPv6 address in brackets, \
             [::1]:9923; host names are not resolved)"
        )
    })
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) => Ok(port),
        Err(_) => Err(format!("{text:?} is not a port number (0-65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_is_loopback() {
        for text in ["9100", ":9100", "localhost:9100"] {
            assert_eq!(parse_listen(text).unwrap().to_string(), "127.0.0.1:9100");
        }
    }

    #[test]
    fn other_addresses_only_as_literals() {
        assert_eq!(
            parse_listen("0.0.0.0:9923").unwrap().to_string(),
            "0.0.0.0:9923"
        );
        assert_eq!(parse_listen("[::]:1").unwrap().to_string(), "[::]:1");
        assert_eq!(parse_listen("[::1]:2").unwrap().to_string(), "[::1]:2");
        for bad in [
            "example.com:9923",
            "0.0.0.0",
            "::1:9923",
            "",
            "70000",
            ":x",
            "localhost",
        ] {
            assert!(parse_listen(bad).is_err(), "{bad:?}");
        }
    }
}
