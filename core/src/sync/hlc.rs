//! The device's hybrid logical clock.
//!
//! Each write gets a timestamp later than every timestamp this device has
//! issued or seen: wall-clock milliseconds when the wall clock is ahead,
//! otherwise the last timestamp with its counter raised. So a device whose
//! clock jumps backwards still orders its own writes, and a write made after
//! seeing another device's write is ordered after it.

use praxis_protocol::sync::Hlc;

/// How far ahead of the (server-corrected) wall clock a timestamp may be:
/// the server refuses HLCs more than a day ahead of its clock.
pub const MAX_LEAD_MS: u64 = 24 * 3600 * 1000;

/// Issues timestamps for one device (`node`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    /// A clock for `node` that has issued nothing yet.
    pub fn new(node: &str) -> Self {
        Self {
            last: Hlc {
                wall_ms: 0,
                counter: 0,
                node: node.to_owned(),
            },
        }
    }

    /// Restores a clock from its last issued timestamp.
    pub fn from_last(last: Hlc) -> Self {
        Self { last }
    }

    /// The last timestamp issued or observed.
    pub fn last(&self) -> &Hlc {
        &self.last
    }

    /// A new timestamp for a write at wall time `now_ms`.
    ///
    /// A last timestamp more than [`MAX_LEAD_MS`] ahead of `now_ms` was
    /// issued while the device clock was wrong (the server refuses such
    /// stamps, so following it would get every later write refused too):
    /// the clock starts again from `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        let stale_lead = self.last.wall_ms > now_ms.saturating_add(MAX_LEAD_MS);
        if stale_lead || now_ms > self.last.wall_ms {
            self.last.wall_ms = now_ms;
            self.last.counter = 0;
        } else {
            self.last.counter += 1;
        }
        self.last.clone()
    }

    /// Takes note of a timestamp from elsewhere, so later ticks follow it.
    pub fn observe(&mut self, seen: &Hlc) {
        if (seen.wall_ms, seen.counter) > (self.last.wall_ms, self.last.counter) {
            self.last.wall_ms = seen.wall_ms;
            self.last.counter = seen.counter;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_increase_even_when_the_wall_clock_goes_back() {
        let mut c = HlcClock::new("a");
        let t1 = c.tick(1000);
        let t2 = c.tick(1000);
        let t3 = c.tick(500);
        let t4 = c.tick(2000);
        assert!(t1 < t2 && t2 < t3 && t3 < t4);
        assert_eq!(t4.counter, 0);
    }

    #[test]
    fn stamps_issued_under_a_clock_days_fast_are_not_followed() {
        let day = MAX_LEAD_MS;
        let mut c = HlcClock::new("a");
        let wrong = c.tick(10 * day);
        // The device learns it was three days fast.
        let fixed = c.tick(7 * day);
        assert_eq!((fixed.wall_ms, fixed.counter), (7 * day, 0));
        assert!(fixed < wrong);
        // Less than a day ahead is an ordinary HLC lead, and is followed.
        let mut c = HlcClock::new("a");
        c.tick(10 * day);
        let t = c.tick(10 * day - 3_600_000);
        assert_eq!((t.wall_ms, t.counter), (10 * day, 1));
    }

    #[test]
    fn observed_timestamps_are_followed() {
        let mut c = HlcClock::new("a");
        c.tick(1000);
        let remote = Hlc {
            wall_ms: 5000,
            counter: 7,
            node: "b".into(),
        };
        c.observe(&remote);
        let next = c.tick(1001);
        assert!(next.to_string() > remote.to_string() || (next.wall_ms, next.counter) > (5000, 7));
        assert_eq!((next.wall_ms, next.counter), (5000, 8));
    }
}
