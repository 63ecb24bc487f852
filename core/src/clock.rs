//! Injected time: expiry decisions read a [`Clock`], never the system
//! clock directly, so tests can move time instead of sleeping.
//!
//! # Devices with a wrong clock
//!
//! Phones are set days off more often than one would think (a manual
//! setting, a dead battery, a traveller). The server refuses HLC
//! timestamps more than a day ahead of its own clock, and every expiry the
//! device checks (live shares, invitations, tokens) is stated in the
//! server's time. So the core does not trust the device clock alone: every
//! server answer carries an HTTP `Date` header (the server sets it from its
//! own clock), and [`ServerClock`] keeps the difference. When the device is
//! off by more than [`SKEW_TOLERANCE`], the core runs on the server's time:
//! HLC stamps, expiry checks and retention all read `device + offset`.
//! Within the tolerance the device clock is used as it is (the header has
//! one-second resolution; small drift is what HLCs are for). The app can
//! read the measured skew ([`ServerClock::skew`]) and tell the user that
//! the phone's clock is wrong; nothing is refused because of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> DateTime<Utc>;

    /// A time the platform read from the device clock (a location fix's
    /// time), on this clock's time line.
    fn adjust_device_time(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to (tests and simulations).
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(start))
    }

    /// Moves the clock by `by` (backwards too: device clocks do).
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How far the device clock may be from the server's before the core runs
/// on the server's time instead.
pub const SKEW_TOLERANCE: Duration = Duration::minutes(2);

/// A change of offset this small (the header's resolution plus network
/// time) is not worth writing down.
const PERSIST_STEP_MS: i64 = 5_000;

type Persist = Box<dyn Fn(i64) + Send + Sync>;

/// The device clock corrected by the offset to the server's clock last
/// seen in a response (see the module documentation).
pub struct ServerClock {
    device: Arc<dyn Clock>,
    /// Server minus device, in milliseconds; 0 while within tolerance.
    offset_ms: AtomicI64,
    /// Called with the new offset when it changes by more than
    /// [`PERSIST_STEP_MS`], so a restart (or the next CLI command) starts
    /// from what was learned.
    persist: std::sync::OnceLock<Persist>,
}

impl std::fmt::Debug for ServerClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerClock")
            .field("offset_ms", &self.offset_ms)
            .finish_non_exhaustive()
    }
}

impl ServerClock {
    /// A clock that follows `device` until a server time is observed.
    pub fn new(device: Arc<dyn Clock>) -> Self {
        Self {
            device,
            offset_ms: AtomicI64::new(0),
            persist: std::sync::OnceLock::new(),
        }
    }

    /// Starts from an offset learned earlier (server minus device, ms), and
    /// hands later significant changes to `persist`.
    pub fn restore(&self, offset_ms: i64, persist: impl Fn(i64) + Send + Sync + 'static) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
        let _ = self.persist.set(Box::new(persist));
    }

    /// Takes note of a response's `Date` header (IMF-fixdate, e.g.
    /// `Fri, 04 Dec 2026 16:06:18 GMT`), read on arrival. An unparsable or
    /// absent header changes nothing.
    pub fn observe_date_header(&self, value: &str) {
        if let Ok(server) = DateTime::parse_from_rfc2822(value) {
            self.observe(server.with_timezone(&Utc), self.device.now());
        }
    }

    /// Takes note that the server's clock read `server` when the device's
    /// read `device_now`.
    pub fn observe(&self, server: DateTime<Utc>, device_now: DateTime<Utc>) {
        // The header is truncated to the second: on average the server's
        // clock was half a second further.
        let skew = server + Duration::milliseconds(500) - device_now;
        let offset = if skew.abs() <= SKEW_TOLERANCE {
            0
        } else {
            skew.num_milliseconds()
        };
        let before = self.offset_ms.swap(offset, Ordering::Relaxed);
        let significant =
            (offset == 0) != (before == 0) || offset.saturating_sub(before).abs() > PERSIST_STEP_MS;
        if significant && let Some(persist) = self.persist.get() {
            persist(offset);
        }
    }

    /// How far the server's clock is ahead of the device's (negative: the
    /// device is ahead), when beyond [`SKEW_TOLERANCE`].
    pub fn skew(&self) -> Option<Duration> {
        match self.offset_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::milliseconds(ms)),
        }
    }
}

impl Clock for ServerClock {
    fn now(&self) -> DateTime<Utc> {
        self.adjust_device_time(self.device.now())
    }

    fn adjust_device_time(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("timestamp")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_device_days_off_runs_on_the_servers_time() {
        let device = Arc::new(ManualClock::new(at("2030-03-04T10:00:00Z")));
        let clock = ServerClock::new(Arc::clone(&device) as Arc<dyn Clock>);
        assert_eq!(clock.now(), device.now());
        // The server is three days behind the device.
        clock.observe_date_header("Fri, 01 Mar 2030 10:00:00 GMT");
        let skew = clock.skew().expect("skew beyond tolerance");
        assert!(
            (skew + Duration::days(3)).num_seconds().abs() <= 1,
            "{skew}"
        );
        assert!(
            (clock.now() - at("2030-03-01T10:00:00Z"))
                .num_seconds()
                .abs()
                <= 1
        );
        // Time goes on at the device's pace, from the server's reading.
        device.advance(Duration::hours(1));
        assert!(
            (clock.now() - at("2030-03-01T11:00:00Z"))
                .num_seconds()
                .abs()
                <= 1
        );
        // A fix the platform stamped by the device clock moves with it.
        let fix_time = clock.adjust_device_time(device.now());
        assert!((fix_time - at("2030-03-01T11:00:00Z")).num_seconds().abs() <= 1);
        // The user fixes the phone: the next answer takes the offset away.
        device.advance(Duration::days(-3));
        clock.observe_date_header("Fri, 01 Mar 2030 11:00:00 GMT");
        assert_eq!(clock.skew(), None);
        assert_eq!(clock.now(), device.now());
    }

    #[test]
    fn small_drift_and_garbage_headers_change_nothing() {
        let device = Arc::new(ManualClock::new(at("2030-03-04T10:00:00Z")));
        let clock = ServerClock::new(Arc::clone(&device) as Arc<dyn Clock>);
        clock.observe_date_header("Mon, 04 Mar 2030 10:01:30 GMT");
        assert_eq!(clock.skew(), None);
        assert_eq!(clock.now(), device.now());
        clock.observe_date_header("Mon, 04 Mar 2030 13:00:00 GMT");
        assert!(clock.skew().is_some());
        for junk in ["", "yesterday", "Mon, 99 Mar 2030 10:00:00 GMT"] {
            clock.observe_date_header(junk);
            let hours = clock.skew().map(|d| d.num_minutes() / 60);
            assert_eq!(hours, Some(3), "{junk:?}");
        }
    }

    #[test]
    fn a_learned_offset_is_restored_and_only_real_changes_are_written() {
        let device = Arc::new(ManualClock::new(at("2030-03-04T10:00:00Z")));
        let clock = ServerClock::new(Arc::clone(&device) as Arc<dyn Clock>);
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&written);
        clock.restore(-3_600_000, move |ms| {
            sink.lock().expect("lock").push(ms);
        });
        assert_eq!(clock.now(), at("2030-03-04T09:00:00Z"));
        // The same skew read again, to the header's resolution: nothing new.
        clock.observe_date_header("Mon, 04 Mar 2030 09:00:00 GMT");
        clock.observe_date_header("Mon, 04 Mar 2030 09:00:01 GMT");
        assert!(written.lock().expect("lock").is_empty());
        // Fixed: written once.
        clock.observe_date_header("Mon, 04 Mar 2030 10:00:00 GMT");
        clock.observe_date_header("Mon, 04 Mar 2030 10:00:01 GMT");
        assert_eq!(*written.lock().expect("lock"), vec![0]);
    }
}
