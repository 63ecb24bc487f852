//! Per-account login throttling.
//!
//! Failures are counted per *email key* (a keyed blind index of the
//! normalised email, `Store::throttle_key`),
//! not per account, so an unknown email is throttled exactly like a known
//! one and the throttle cannot be used to find out who is registered. The
//! first [`FREE_FAILURES`] failures cost nothing; each further one doubles
//! the wait, capped at [`MAX_LOCK`]. A streak older than [`STREAK_RESET`]
//! starts over; a successful login clears it.

use chrono::{DateTime, Duration, Utc};

/// Failures allowed before any wait.
pub const FREE_FAILURES: u32 = 3;
/// The longest wait.
pub const MAX_LOCK: Duration = Duration::minutes(15);
/// A streak whose last failure is older than this is forgotten.
pub const STREAK_RESET: Duration = Duration::hours(24);

/// How long the account is locked after `failures` consecutive failures.
pub fn lock_for(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::zero();
    }
    let exp = (failures - FREE_FAILURES).min(20);
    Duration::seconds(1i64 << exp).min(MAX_LOCK)
}

/// Seconds left to wait, if `now` falls inside the lock.
pub fn retry_after(failures: u32, last_failure: DateTime<Utc>, now: DateTime<Utc>) -> Option<u64> {
    if now - last_failure > STREAK_RESET {
        return None;
    }
    let until = last_failure + lock_for(failures);
    (until > now).then(|| {
        u64::try_from((until - now).num_seconds())
            .unwrap_or(0)
            .max(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_after_the_free_failures_and_cap() {
        assert_eq!(lock_for(0), Duration::zero());
        assert_eq!(lock_for(FREE_FAILURES - 1), Duration::zero());
        assert_eq!(lock_for(FREE_FAILURES), Duration::seconds(1));
        assert_eq!(lock_for(FREE_FAILURES + 1), Duration::seconds(2));
        assert_eq!(lock_for(FREE_FAILURES + 5), Duration::seconds(32));
        assert_eq!(lock_for(FREE_FAILURES + 30), MAX_LOCK);
        assert_eq!(lock_for(u32::MAX), MAX_LOCK);
    }

    #[test]
    fn retry_after_counts_down_and_ends() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let n = FREE_FAILURES + 3; // 8 s lock
        assert_eq!(retry_after(n, t0, t0), Some(8));
        assert_eq!(retry_after(n, t0, t0 + Duration::seconds(7)), Some(1));
        assert_eq!(retry_after(n, t0, t0 + Duration::seconds(8)), None);
        assert_eq!(retry_after(1, t0, t0), None);
    }
}
