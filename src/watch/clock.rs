//! Time in watch mode: RFC 3339 timestamps for the output, and the
//! schedule of passes.

use serde::{Serialize, Serializer};
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A wall-clock time, printed as RFC 3339 in UTC with milliseconds:
/// `2025-06-01T14:03:07.123Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Milliseconds since the Unix epoch (clamped at 0).
    millis: i64,
}

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// A time given in milliseconds since the Unix epoch.
    pub fn from_millis(millis: i64) -> Timestamp {
        Timestamp {
            millis: millis.max(0),
        }
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp::from_millis(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, ms_of_day) = (
            self.millis.div_euclid(86_400_000),
            self.millis.rem_euclid(86_400_000),
        );
        let (year, month, day) = civil_from_days(days);
        let secs = ms_of_day / 1000;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            ms_of_day % 1000
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Year, month and day of a day number counted from 1970-01-01, in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365, from March 1
    let mp = (5 * doy + 2) / 153; // 0..=11, March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// When passes start: every `interval` from the first, on a fixed grid.
/// A pass that overruns its slot makes the next start at the next slot
/// boundary still ahead, so a slow pass never causes a burst of passes.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    interval: Duration,
    next: Instant,
}

impl Schedule {
    /// A schedule whose first pass is now.
    pub fn new(interval: Duration) -> Schedule {
        let start = Instant::now();
        Schedule {
            start,
            interval,
            next: start,
        }
    }

    /// The start of the next pass after the one that started last, as of
    /// `now`; advances the schedule.
    pub fn advance(&mut self, now: Instant) -> Instant {
        let slot = self.next + self.interval;
        self.next = if slot > now {
            slot
        } else {
            // Skip the slots the last pass overran: the first boundary
            // after `now`. Counted in u128 nanoseconds, which no slot
            // count overflows (a u32 count of 1 ms slots would stop
            // growing after 49.7 days, every start would be in the past,
            // and the loop would spin).
            let behind = now.duration_since(self.start).as_nanos();
            let step = self.interval.as_nanos().max(1);
            let ahead = (behind / step + 1) * step;
            let offset = Duration::new(
                u64::try_from(ahead / 1_000_000_000).unwrap_or(u64::MAX),
                (ahead % 1_000_000_000) as u32,
            );
            self.start
                .checked_add(offset)
                .unwrap_or(now + self.interval)
        };
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_millis() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
            (1_748_786_587_123, "2025-06-01T14:03:07.123Z"),
            (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
            (-5, "1970-01-01T00:00:00.000Z"),
        ];
        for (millis, text) in cases {
            assert_eq!(Timestamp::from_millis(millis).to_string(), text);
        }
        let json = serde_json::to_string(&Timestamp::from_millis(1)).unwrap();
        assert_eq!(json, "\"1970-01-01T00:00:00.001Z\"");
    }

    #[test]
    fn calendar_matches_day_by_day_counting() {
        let mut expected = (1970, 1, 1);
        for days in 0..(366 * 140) {
            assert_eq!(civil_from_days(days), expected, "day {days}");
            let (y, m, d) = expected;
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            expected = if d < len[m as usize - 1] {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn schedule_keeps_a_grid_and_skips_overrun_slots() {
        let second = Duration::from_secs(1);
        let mut s = Schedule::new(second);
        let t0 = s.start;
        assert_eq!(s.advance(t0 + Duration::from_millis(100)), t0 + second);
        assert_eq!(s.advance(t0 + Duration::from_millis(1200)), t0 + 2 * second);
        // A pass that ran until 4.5 s: the next starts at 5 s, not at once.
        assert_eq!(s.advance(t0 + Duration::from_millis(4500)), t0 + 5 * second);
        assert_eq!(s.advance(t0 + Duration::from_millis(5001)), t0 + 6 * second);
    }

    #[test]
    fn schedule_keeps_going_after_49_7_days_of_milliseconds() {
        // 2^32 slots of 1 ms is 49.7 days; a pass that overruns after
        // that must still be followed by a start in the future.
        let ms = Duration::from_millis(1);
        let mut s = Schedule::new(ms);
        let t0 = s.start;
        let day = Duration::from_secs(86_400);
        for days in [49, 50, 400, 100 * 365] {
            let now = t0 + day * days + Duration::from_micros(1500);
            let next = s.advance(now);
            assert_eq!(next, t0 + day * days + 2 * ms, "after {days} days");
            assert_eq!(s.advance(next + ms / 2), next + ms, "after {days} days");
        }
        // Long intervals too: a day, after a century.
        let mut s = Schedule::new(day);
        let t0 = s.start;
        let now = t0 + day * 36_500 + Duration::from_secs(1);
        assert_eq!(s.advance(now), t0 + day * 36_501);
    }
}
