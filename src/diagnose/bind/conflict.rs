//! Which sockets in the dump stand in the way of a bind(), by the rules of
//! Linux's `inet_csk_get_port` / `inet_csk_bind_conflict`
//! (net/ipv4/inet_connection_sock.c), for a new TCP socket without
//! SO_REUSEPORT and without a bound device.
//!
//! Every full socket on a port is in that port's bind bucket: listeners,
//! connections (also those that called connect() without bind(), under the
//! address connect() chose), accepted connections (they share their
//! listener's bucket) and timewait sockets (TIME_WAIT and orphaned
//! FIN_WAIT2). Request sockets (SYN_RECV) are not: they hold no port.
//!
//! A socket in the bucket conflicts when its address overlaps the one asked
//! for ([`overlap`]) and, for a bind with SO_REUSEADDR, unless it too had
//! SO_REUSEADDR and is not listening. Whether IPv4 and IPv6 addresses
//! overlap depends on IPV6_V6ONLY of the IPv6 socket, which the dump does
//! not show; see [`assumed_v6only`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{Family, Socket, TcpState};

/// An address as the bind rules compare it: IPv4-mapped IPv6 addresses
/// count as the IPv4 address they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BindAddr {
    /// `0.0.0.0` (or `::ffff:0.0.0.0`).
    AnyV4,
    V4(Ipv4Addr),
    /// `::`. As the address asked for: a dual-stack socket (IPV6_V6ONLY
    /// off), which takes IPv4 too.
    AnyV6,
    V6(Ipv6Addr),
}

impl BindAddr {
    /// The bind address of `addr` (mapped IPv6 addresses are IPv4).
    pub(crate) fn of(addr: IpAddr) -> BindAddr {
        let v4 = |a: Ipv4Addr| {
            if a.is_unspecified() {
                BindAddr::AnyV4
            } else {
                BindAddr::V4(a)
            }
        };
        match addr {
            IpAddr::V4(a) => v4(a),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(m) => v4(m),
                None if a.is_unspecified() => BindAddr::AnyV6,
                None => BindAddr::V6(a),
            },
        }
    }

    /// The bind address of an existing socket (`sk_rcv_saddr`, which the
    /// dump reports as the local address).
    pub(crate) fn of_socket(s: &Socket) -> BindAddr {
        match (s.family, BindAddr::of(s.local.addr)) {
            // An IPv4 socket never shows an IPv6 address; be safe anyway.
            (Family::Inet, BindAddr::AnyV6) => BindAddr::AnyV4,
            (_, addr) => addr,
        }
    }
}

/// Whether an existing socket's address overlaps the address asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overlap {
    No,
    Yes,
    /// Overlaps unless the existing (IPv6) socket has IPV6_V6ONLY set.
    UnlessV6Only,
}

/// Overlap of a new bind to `wanted` with a socket bound to `held`
/// (`inet_rcv_saddr_equal` with wildcards matching, and the bhash2
/// any-address checks used for specific addresses):
///
/// - `[::]` (dual-stack) overlaps every socket on the port.
/// - A specific IPv6 address overlaps the same address and `[::]`.
/// - A specific IPv4 address overlaps the same address (also mapped),
///   `0.0.0.0`, and `[::]` unless that socket is IPv6-only.
/// - `0.0.0.0` overlaps every IPv4 and mapped socket, and every other IPv6
///   socket unless it is IPv6-only: an IPv6 socket that is not IPv6-only
///   keeps a placeholder IPv4 address that `0.0.0.0` matches.
pub(crate) fn overlap(wanted: BindAddr, held: BindAddr) -> Overlap {
    use BindAddr::*;
    let yes = |b: bool| if b { Overlap::Yes } else { Overlap::No };
    match (wanted, held) {
        (AnyV6, _) => Overlap::Yes,
        (V6(_), AnyV6) => Overlap::Yes,
        (V6(a), V6(b)) => yes(a == b),
        (V6(_), AnyV4 | V4(_)) => Overlap::No,
        (V4(_), AnyV4) => Overlap::Yes,
        (V4(a), V4(b)) => yes(a == b),
        (V4(_), AnyV6) => Overlap::UnlessV6Only,
        (V4(_), V6(_)) => Overlap::No,
        (AnyV4, AnyV4 | V4(_)) => Overlap::Yes,
        (AnyV4, AnyV6 | V6(_)) => Overlap::UnlessV6Only,
    }
}

/// What the verdict assumes for IPV6_V6ONLY of an IPv6 socket, which the
/// dump does not report. A listener on a specific IPv6 address has it for
/// certain: bind() to such an address sets it. Anything else is assumed to
/// have the Linux default (off, `net.ipv6.bindv6only = 0`): sockets that
/// connected without bind(), and connections accepted on `[::]`. It is
/// wrong for sockets that set the option (nginx does for `[::]` listeners)
/// and for connections accepted by a listener on a specific IPv6 address.
pub(crate) fn assumed_v6only(s: &Socket) -> bool {
    s.state == TcpState::Listen && matches!(BindAddr::of_socket(s), BindAddr::V6(_))
}

/// Whether `s` stands in the way of a bind to `wanted` with the assumption
/// above, and whether that assumption decided it.
pub(crate) fn blocks(wanted: BindAddr, s: &Socket) -> (bool, bool) {
    match overlap(wanted, BindAddr::of_socket(s)) {
        Overlap::No => (false, false),
        Overlap::Yes => (true, false),
        Overlap::UnlessV6Only => {
            let v6only = assumed_v6only(s);
            // A listener on a specific IPv6 address is IPv6-only for
            // certain; only the other cases rest on the assumption.
            (!v6only, !v6only)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sock;
    use BindAddr::*;

    fn addr(text: &str) -> BindAddr {
        BindAddr::of(text.parse().unwrap())
    }

    #[test]
    fn mapped_addresses_count_as_ipv4() {
        assert_eq!(addr("::ffff:10.1.2.3"), V4([10, 1, 2, 3].into()));
        assert_eq!(addr("::ffff:0.0.0.0"), AnyV4);
        assert_eq!(addr("0.0.0.0"), AnyV4);
        assert_eq!(addr("::"), AnyV6);
        assert_eq!(addr("::1"), V6(Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn overlap_table() {
        use Overlap::{No, UnlessV6Only as Unless, Yes};
        let cases = [
            // [::] dual-stack meets everything.
            ("::", "0.0.0.0", Yes),
            ("::", "10.0.0.1", Yes),
            ("::", "::1", Yes),
            ("::", "::", Yes),
            // A specific IPv6 address: itself and [::].
            ("::1", "::1", Yes),
            ("::1", "::2", No),
            ("::1", "::", Yes),
            ("::1", "0.0.0.0", No),
            ("::1", "::ffff:10.0.0.1", No),
            // A specific IPv4 address.
            ("10.0.0.1", "10.0.0.1", Yes),
            ("10.0.0.1", "::ffff:10.0.0.1", Yes),
            ("10.0.0.1", "10.0.0.2", No),
            ("10.0.0.1", "0.0.0.0", Yes),
            ("10.0.0.1", "::", Unless),
            ("10.0.0.1", "::1", No),
            // 0.0.0.0.
            ("0.0.0.0", "10.0.0.1", Yes),
            ("0.0.0.0", "::ffff:10.0.0.1", Yes),
            ("0.0.0.0", "0.0.0.0", Yes),
            ("0.0.0.0", "::", Unless),
            ("0.0.0.0", "::1", Unless),
        ];
        for (wanted, held, expect) in cases {
            assert_eq!(
                overlap(addr(wanted), addr(held)),
                expect,
                "{wanted} vs {held}"
            );
        }
    }

    #[test]
    fn v6only_is_certain_only_for_specific_address_listeners() {
        let listener = sock(TcpState::Listen, "[::1]:80", "[::]:0");
        assert_eq!(blocks(AnyV4, &listener), (false, false));
        let conn = sock(TcpState::Established, "[::1]:80", "[::1]:5000");
        assert_eq!(blocks(AnyV4, &conn), (true, true));
        let any = sock(TcpState::Listen, "[::]:80", "[::]:0");
        assert_eq!(blocks(addr("127.0.0.1"), &any), (true, true));
        assert_eq!(blocks(addr("::1"), &any), (true, false));
    }
}
