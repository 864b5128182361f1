//! `--sort`, `--reverse` and `--top`: the order and number of the rows a
//! listing or a pass of `-c` shows. The sort is stable (rows with equal
//! keys keep the kernel's order), counters and sizes go largest first, and
//! rows the key does not apply to go last in either direction.

use crate::config::{Config, Order, SortKey};
use crate::model::Socket;
use std::cmp::Reverse;

/// Sorts and cuts `rows` as `cfg.order` says, and drops the tcp_info
/// read only to sort on (without `-i` it is not shown).
pub fn arrange(rows: &mut Vec<Socket>, cfg: &Config) {
    sort(rows, cfg.order);
    if let Some(top) = cfg.order.top {
        rows.truncate(top);
    }
    if !cfg.columns.info && cfg.needs_info() {
        rows.iter_mut().for_each(|s| s.info = None);
    }
}

/// Sorts `rows` by the order's key, if any.
fn sort(rows: &mut [Socket], order: Order) {
    let Some(key) = order.key else {
        return;
    };
    if order.reverse {
        rows.sort_by_key(|s| {
            let k = sort_value(s, key);
            (k.is_none(), k)
        });
    } else {
        rows.sort_by_key(|s| {
            let k = sort_value(s, key);
            (k.is_none(), Reverse(k))
        });
    }
}

/// The value `key` sorts `s` by; `None` when it does not apply.
fn sort_value(s: &Socket, key: SortKey) -> Option<u64> {
    let info = s.info.as_deref();
    match key {
        SortKey::SendQ => Some(s.send_q.into()),
        SortKey::RecvQ => Some(s.recv_q.into()),
        SortKey::Rtt => info.map(|i| i.rtt_us.into()),
        SortKey::Retrans => info.map(|i| i.total_retrans.into()),
        SortKey::Bytes => info.and_then(|i| Some(i.bytes_acked? + i.bytes_received?)),
        SortKey::Rate => {
            let r = info?.rates.as_deref()?;
            let bytes = r.acked_bytes? + r.received_bytes?;
            // Per second, so that rows measured over slightly different
            // intervals compare fairly.
            Some((bytes as f64 * 1e6 / r.interval_us as f64) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Args;
    use crate::model::info::{Rates, TcpInfo};
    use crate::model::TcpState;
    use crate::test_support::sock;
    use clap::Parser;

    fn config(args: &[&str]) -> Config {
        let argv = ["tcpstat"].iter().chain(args);
        crate::cli::lower::config(&Args::try_parse_from(argv).unwrap()).unwrap()
    }

    /// A row on local port `port` with this send queue and, when `rtt` is
    /// given, tcp_info.
    fn row(port: u16, send_q: u32, rtt: Option<u32>) -> Socket {
        let mut s = sock(
            TcpState::Established,
            &format!("10.0.0.1:{port}"),
            "10.0.0.2:80",
        );
        s.send_q = send_q;
        s.info = rtt.map(|rtt_us| {
            Box::new(TcpInfo {
                rtt_us,
                bytes_acked: Some(u64::from(port)),
                bytes_received: Some(1),
                ..TcpInfo::default()
            })
        });
        s
    }

    fn ports(rows: &[Socket]) -> Vec<u16> {
        rows.iter().map(|s| s.local.port).collect()
    }

    #[test]
    fn largest_first_stable_and_keyless_rows_last() {
        let rows = || {
            vec![
                row(1, 10, None),
                row(2, 30, Some(500)),
                row(3, 10, Some(900)),
                row(4, 30, Some(500)),
                row(5, 0, Some(100)),
            ]
        };
        let arranged = |args: &[&str]| {
            let mut r = rows();
            arrange(&mut r, &config(args));
            ports(&r)
        };
        assert_eq!(arranged(&["--sort", "send-q"]), [2, 4, 1, 3, 5]);
        assert_eq!(
            arranged(&["--sort", "send-q", "--reverse"]),
            [5, 1, 3, 2, 4]
        );
        assert_eq!(arranged(&["--sort", "rtt", "-i"]), [3, 2, 4, 5, 1]);
        assert_eq!(
            arranged(&["--sort", "rtt", "--reverse", "-i"]),
            [5, 2, 4, 3, 1]
        );
        assert_eq!(arranged(&["--sort", "bytes", "-i"]), [5, 4, 3, 2, 1]);
        assert_eq!(arranged(&["--sort", "send-q", "--top", "3"]), [2, 4, 1]);
        assert_eq!(
            arranged(&["--top", "2"]),
            [1, 2],
            "no key: the kernel's order"
        );
    }

    #[test]
    fn info_read_only_to_sort_is_not_shown() {
        let mut r = vec![row(1, 0, Some(5)), row(2, 0, Some(9))];
        arrange(&mut r, &config(&["--sort", "rtt"]));
        assert_eq!(ports(&r), [2, 1]);
        assert!(r.iter().all(|s| s.info.is_none()));
        let mut r = vec![row(1, 0, Some(5))];
        arrange(&mut r, &config(&["--sort", "rtt", "-i"]));
        assert!(r[0].info.is_some());
    }

    #[test]
    fn rate_sorts_per_second_and_rows_without_a_rate_go_last() {
        let with_rate = |port, bytes, interval_us| {
            let mut s = row(port, 0, Some(1));
            s.info.as_mut().unwrap().rates = Some(Box::new(Rates {
                interval_us,
                acked_bytes: Some(bytes),
                received_bytes: Some(0),
                ..Rates::default()
            }));
            s
        };
        let mut r = vec![
            row(1, 0, Some(1)),
            with_rate(2, 1000, 1_000_000),
            with_rate(3, 1000, 500_000),
        ];
        arrange(&mut r, &config(&["-c", "--sort", "rate"]));
        assert_eq!(ports(&r), [3, 2, 1]);
    }
}
