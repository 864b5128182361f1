//! Live rates for `-c -i` (and `--events -i`): how each connection's
//! `tcp_info` counters moved since the previous pass, stored on the row
//! as [`Rates`] for the printer.
//!
//! A connection is known across passes by its socket cookie, never by
//! its 4-tuple: a new connection on a reused 4-tuple has a new cookie and
//! starts without a rate instead of inheriting its predecessor's counters.
//! Only the previous pass is remembered, so a connection the previous
//! pass did not list (new, or filtered out then) has no rate, and memory
//! stays bounded by one pass.

use crate::model::info::{Rates, TcpInfo};
use crate::model::Socket;
use std::collections::HashMap;
use std::time::Instant;

/// When a pass that began at `started` and has just ended read the
/// counters, as the rates take it: the middle of the read. The kernel
/// reads each socket somewhere inside it; a delay before the dump (the
/// process preempted on a busy host) then skews an interval by half as
/// much as timing the pass by its start would.
pub fn read_at(started: Instant) -> Instant {
    started + started.elapsed() / 2
}

/// The counters a rate is made of, as one pass read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counters {
    acked: Option<u64>,
    received: Option<u64>,
    segs_out: Option<u32>,
    segs_in: Option<u32>,
    retrans: u32,
}

impl Counters {
    fn of(i: &TcpInfo) -> Counters {
        Counters {
            acked: i.bytes_acked,
            received: i.bytes_received,
            segs_out: i.segs_out,
            segs_in: i.segs_in,
            retrans: i.total_retrans,
        }
    }
}

/// The previous pass's counters, by cookie.
#[derive(Debug, Default)]
pub struct RateMeter {
    previous: HashMap<u64, Counters>,
    /// When the previous pass was read.
    at: Option<Instant>,
    /// This pass's counters, built while the rows are read; swapped in.
    current: HashMap<u64, Counters>,
}

impl RateMeter {
    /// A meter that has seen no pass.
    pub fn new() -> RateMeter {
        RateMeter::default()
    }

    /// Sets each row's `info.rates` from the previous pass (read at the
    /// meter's last `update`), and remembers this pass, read at `now`.
    /// Rows without tcp_info or without a cookie (0) get no rate.
    pub fn update(&mut self, rows: &mut [Socket], now: Instant) {
        let interval_us = self
            .at
            .map(|then| now.saturating_duration_since(then).as_micros() as u64)
            .filter(|&us| us > 0);
        self.current.clear();
        for row in rows.iter_mut() {
            let cookie = row.cookie();
            let Some(info) = row.info.as_deref_mut().filter(|_| cookie != 0) else {
                continue;
            };
            let now_counters = Counters::of(info);
            info.rates = match (interval_us, self.previous.get(&cookie)) {
                (Some(interval_us), Some(before)) => {
                    Some(Box::new(rates(before, &now_counters, interval_us)))
                }
                _ => None,
            };
            self.current.insert(cookie, now_counters);
        }
        std::mem::swap(&mut self.previous, &mut self.current);
        self.at = Some(now);
    }
}

/// The deltas from `before` to `after`; none for a counter absent from
/// either or lower in `after`.
fn rates(before: &Counters, after: &Counters, interval_us: u64) -> Rates {
    fn delta<T: Into<u64>>(before: Option<T>, after: Option<T>) -> Option<u64> {
        after?.into().checked_sub(before?.into())
    }
    Rates {
        interval_us,
        acked_bytes: delta(before.acked, after.acked),
        received_bytes: delta(before.received, after.received),
        segs_out: delta(before.segs_out, after.segs_out),
        segs_in: delta(before.segs_in, after.segs_in),
        retrans: delta(Some(before.retrans), Some(after.retrans)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;
    use crate::test_support::sock;
    use std::time::Duration;

    /// A row with these counters; cookie 0 is none (as from /proc).
    fn row(cookie: u64, acked: u64, segs_out: u32, retrans: u32) -> Socket {
        let mut s = sock(TcpState::Established, "10.0.0.1:5000", "10.0.0.2:80");
        s.diag_id = (cookie != 0).then_some(crate::model::DiagId {
            interface: 0,
            cookie,
        });
        s.info = Some(Box::new(TcpInfo {
            bytes_acked: Some(acked),
            bytes_received: Some(0),
            segs_out: Some(segs_out),
            segs_in: None,
            total_retrans: retrans,
            ..TcpInfo::default()
        }));
        s
    }

    fn rates_of(s: &Socket) -> Option<Rates> {
        s.info.as_ref().unwrap().rates.as_deref().copied()
    }

    #[test]
    fn rates_are_per_second_between_passes_of_one_cookie() {
        let start = Instant::now();
        let mut meter = RateMeter::new();
        let mut first = [row(7, 1000, 10, 0)];
        meter.update(&mut first, start);
        assert_eq!(rates_of(&first[0]), None, "no previous pass: no rate");
        let mut second = [row(7, 9_001_000, 30, 2)];
        meter.update(&mut second, start + Duration::from_millis(500));
        let r = rates_of(&second[0]).unwrap();
        assert_eq!(r.interval_us, 500_000);
        assert_eq!(r.acked_bytes, Some(9_000_000));
        assert_eq!(r.acked_per_sec(), Some(18_000_000.0));
        assert_eq!(r.received_per_sec(), Some(0.0), "zero is a rate");
        assert_eq!(r.per_sec(r.segs_out), Some(40.0));
        assert_eq!(r.segs_in, None, "not sent: absent, not zero");
        assert_eq!(r.retrans_per_sec(), Some(4.0));
    }

    #[test]
    fn a_new_cookie_or_a_backwards_counter_gives_no_rate() {
        let start = Instant::now();
        let mut meter = RateMeter::new();
        meter.update(&mut [row(1, 5_000_000, 4000, 9), row(0, 0, 0, 0)], start);
        let later = start + Duration::from_secs(1);
        // The same 4-tuple, now a new socket (cookie 2): its small
        // counters are not compared with cookie 1's.
        let mut replaced = [row(2, 100, 3, 0), row(0, 50, 1, 0)];
        meter.update(&mut replaced, later);
        assert_eq!(rates_of(&replaced[0]), None);
        assert_eq!(rates_of(&replaced[1]), None, "no cookie: no rate");
        // Under one cookie, a counter lower than before has no delta,
        // never a negative or wrapped one; the others keep theirs.
        let mut back = [row(2, 50, 5, 0)];
        meter.update(&mut back, later + Duration::from_secs(1));
        let r = rates_of(&back[0]).unwrap();
        assert_eq!((r.acked_bytes, r.acked_per_sec()), (None, None));
        assert_eq!(r.segs_out, Some(2));
        // A cookie the previous pass did not list starts over.
        meter.update(&mut [], later + Duration::from_secs(2));
        let mut again = [row(2, 60, 6, 0)];
        meter.update(&mut again, later + Duration::from_secs(3));
        assert_eq!(rates_of(&again[0]), None);
    }

    #[test]
    fn no_time_between_passes_gives_no_rate() {
        let now = Instant::now();
        let mut meter = RateMeter::new();
        meter.update(&mut [row(3, 1, 1, 0)], now);
        let mut same = [row(3, 2, 2, 0)];
        meter.update(&mut same, now);
        assert_eq!(rates_of(&same[0]), None);
    }
}
