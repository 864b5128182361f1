//! When watch mode's passes start: a fixed grid of intervals.

use std::time::{Duration, Instant};

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
    /// `now`, and how many slots the last pass overran (0 when on time);
    /// advances the schedule.
    pub fn advance(&mut self, now: Instant) -> (Instant, u64) {
        let last = self.next;
        let slot = last + self.interval;
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
        let step = self.interval.as_nanos().max(1);
        let gap = self.next.saturating_duration_since(last).as_nanos() / step;
        (
            self.next,
            u64::try_from(gap.saturating_sub(1)).unwrap_or(u64::MAX),
        )
    }

    /// The time between two passes.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// When the pass now running was due (before [`Schedule::advance`]).
    pub fn current_slot(&self) -> Instant {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_keeps_a_grid_and_skips_overrun_slots() {
        let second = Duration::from_secs(1);
        let mut s = Schedule::new(second);
        let t0 = s.start;
        assert_eq!(s.advance(t0 + Duration::from_millis(100)), (t0 + second, 0));
        assert_eq!(
            s.advance(t0 + Duration::from_millis(1200)),
            (t0 + 2 * second, 0)
        );
        // A pass that ran until 4.5 s: the next starts at 5 s, not at once;
        // the slots at 3 and 4 s were skipped.
        assert_eq!(
            s.advance(t0 + Duration::from_millis(4500)),
            (t0 + 5 * second, 2)
        );
        assert_eq!(
            s.advance(t0 + Duration::from_millis(5001)),
            (t0 + 6 * second, 0)
        );
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
            let (next, _) = s.advance(now);
            assert_eq!(next, t0 + day * days + 2 * ms, "after {days} days");
            assert_eq!(s.advance(next + ms / 2).0, next + ms, "after {days} days");
        }
        // Long intervals too: a day, after a century.
        let mut s = Schedule::new(day);
        let t0 = s.start;
        let now = t0 + day * 36_500 + Duration::from_secs(1);
        assert_eq!(s.advance(now).0, t0 + day * 36_501);
    }
}
