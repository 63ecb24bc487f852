//! The sync protocol as a sans-IO state machine.
//!
//! It decides *what* to do next and *when*; the driver does the I/O. Inputs
//! are `handle_*` calls (a trigger, the outcome of a push or pull step,
//! always with `now`); outputs are `poll_*` calls (the next step, the next
//! wake-up, the status). It never reads a clock or a socket, so every
//! sequence of events, including failures at any point, is replayable in a
//! test.
//!
//! A cycle first refreshes the privacy state (organisation location
//! policy, consent policy versions, restriction) so that an "off" is
//! applied before anything queued is sent, then pushes the outbox until it
//! is empty, then pulls until no more changes wait. A failure ends the cycle and schedules a retry with
//! exponential backoff (1 s doubling to 5 min) and jitter, or after the
//! server's `Retry-After` when it is longer. A `resync_required` answer
//! restarts the pull from the beginning in resync mode.

use chrono::{DateTime, Duration, Utc};

/// What the driver should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Fetch and apply the privacy state (first step of every cycle).
    Policy,
    /// Push a batch of the outbox.
    Push,
    /// Pull a page of changes; `resync` pulls everything from the start.
    Pull {
        /// Full resync mode.
        resync: bool,
    },
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; `more` when another step of the same kind is needed.
    Done {
        /// More to push or pull.
        more: bool,
    },
    /// The cursor is no good: pull everything again.
    ResyncRequired,
    /// Failed.
    Failed(Failure),
}

/// Why a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server could not be reached.
    Offline,
    /// The server asked to wait (429/503), in seconds.
    RetryAfter(u64),
    /// The server failed (5xx) or answered oddly.
    Server,
    /// No valid session: nothing to do until the user signs in.
    Unauthorized,
    /// Local storage failed.
    Local,
}

/// The observable state of sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Nothing to do.
    Idle,
    /// A cycle is running.
    Syncing,
    /// The server is unreachable; will retry.
    Offline,
    /// The last cycle failed for another reason; will retry (unless signed out).
    Error,
}

/// State and counters for the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncStatus {
    /// Current state.
    pub state: SyncState,
    /// Local changes not yet acknowledged by the server.
    pub pending: u64,
    /// When a cycle last completed.
    pub last_success: Option<DateTime<Utc>>,
    /// When the next retry is due, after a failure.
    pub retry_at: Option<DateTime<Utc>>,
    /// Server changes applied so far in the running cycle (in the last
    /// one when idle): the progress of a large pull, page by page.
    pub received: u64,
}

/// A count for the status (`u64` on every platform the apps run on).
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::minutes(5);

/// The state machine.
#[derive(Debug, Clone)]
pub struct SyncMachine {
    current: Option<Step>,
    wanted: bool,
    failures: u32,
    retry_at: Option<DateTime<Utc>>,
    status: SyncStatus,
    jitter_state: u64,
}

impl SyncMachine {
    /// A machine with a jitter seed (tests pass a fixed one).
    pub fn new(seed: u64) -> Self {
        Self {
            current: None,
            wanted: false,
            failures: 0,
            retry_at: None,
            status: SyncStatus {
                state: SyncState::Idle,
                pending: 0,
                last_success: None,
                retry_at: None,
                received: 0,
            },
            jitter_state: seed | 1,
        }
    }

    /// Asks for a cycle (a local write, `sync_now`, a scheduler wake-up).
    /// An explicit trigger also cancels a pending backoff wait.
    pub fn handle_trigger(&mut self, explicit: bool) {
        self.wanted = true;
        if explicit {
            self.retry_at = None;
        }
    }

    /// The number of local changes waiting (for the status).
    pub fn handle_pending(&mut self, pending: usize) {
        self.status.pending = count(pending);
    }

    /// A pull page of `n` changes was applied.
    pub fn handle_received(&mut self, n: usize) {
        self.status.received = self.status.received.saturating_add(count(n));
    }

    /// The next step, if one is due at `now`.
    pub fn poll_step(&mut self, now: DateTime<Utc>) -> Option<Step> {
        if let Some(step) = self.current {
            return Some(step);
        }
        if !self.wanted || self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        self.wanted = false;
        self.retry_at = None;
        self.status.retry_at = None;
        self.status.state = SyncState::Syncing;
        self.status.received = 0;
        self.current = Some(Step::Policy);
        self.current
    }

    /// The outcome of the step returned by [`SyncMachine::poll_step`].
    pub fn handle_outcome(&mut self, now: DateTime<Utc>, outcome: Outcome) {
        let Some(step) = self.current else {
            return;
        };
        match (step, outcome) {
            (Step::Policy, Outcome::Done { .. }) => self.current = Some(Step::Push),
            (Step::Push, Outcome::Done { more: true }) => {}
            (Step::Push, Outcome::Done { more: false }) => {
                self.current = Some(Step::Pull { resync: false })
            }
            (Step::Pull { .. }, Outcome::Done { more: true }) => {}
            (Step::Pull { .. }, Outcome::Done { more: false }) => {
                self.current = None;
                self.failures = 0;
                self.status.state = SyncState::Idle;
                self.status.last_success = Some(now);
            }
            (_, Outcome::ResyncRequired) => self.current = Some(Step::Pull { resync: true }),
            (_, Outcome::Failed(f)) => self.fail(now, f),
        }
    }

    fn fail(&mut self, now: DateTime<Utc>, f: Failure) {
        self.current = None;
        self.status.state = match f {
            Failure::Offline => SyncState::Offline,
            _ => SyncState::Error,
        };
        if f == Failure::Unauthorized {
            // Nothing will work until the user signs in; no timer.
            self.retry_at = None;
            self.status.retry_at = None;
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let exp = Duration::seconds(1i64 << (self.failures - 1).min(12)).min(MAX_BACKOFF);
        // Jitter: between half and all of the backoff.
        let jittered = exp / 2
            + Duration::milliseconds(
                (self.next_random() % (exp.num_milliseconds() / 2 + 1) as u64) as i64,
            );
        let wait = match f {
            Failure::RetryAfter(secs) => jittered.max(Duration::seconds(
                i64::try_from(secs).unwrap_or(i64::MAX / 1000),
            )),
            _ => jittered,
        };
        self.wanted = true;
        self.retry_at = Some(now + wait);
        self.status.retry_at = self.retry_at;
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: jitter needs spread, not secrecy.
        let mut x = self.jitter_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter_state = x;
        x
    }

    /// When the driver should wake up to retry, if it should.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.retry_at
    }

    /// The status now.
    pub fn status(&self) -> SyncStatus {
        self.status
    }

    /// Whether a cycle is running.
    pub fn busy(&self) -> bool {
        self.current.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("valid")
    }

    #[test]
    fn a_cycle_pushes_until_empty_then_pulls_until_done() {
        let mut m = SyncMachine::new(1);
        assert_eq!(m.poll_step(t0()), None, "nothing wanted");
        m.handle_trigger(true);
        assert_eq!(m.poll_step(t0()), Some(Step::Policy));
        m.handle_outcome(t0(), Outcome::Done { more: false });
        assert_eq!(m.poll_step(t0()), Some(Step::Push));
        m.handle_outcome(t0(), Outcome::Done { more: true });
        assert_eq!(m.poll_step(t0()), Some(Step::Push));
        m.handle_outcome(t0(), Outcome::Done { more: false });
        assert_eq!(m.poll_step(t0()), Some(Step::Pull { resync: false }));
        m.handle_outcome(t0(), Outcome::ResyncRequired);
        assert_eq!(m.poll_step(t0()), Some(Step::Pull { resync: true }));
        m.handle_received(1000);
        m.handle_outcome(t0(), Outcome::Done { more: true });
        assert_eq!(m.status().received, 1000, "progress after a page");
        assert_eq!(m.poll_step(t0()), Some(Step::Pull { resync: true }));
        m.handle_received(20);
        m.handle_outcome(t0(), Outcome::Done { more: false });
        assert_eq!(m.poll_step(t0()), None);
        assert_eq!(m.status().state, SyncState::Idle);
        assert_eq!(m.status().last_success, Some(t0()));
        assert_eq!(m.status().received, 1020, "the last cycle's total stays");
        m.handle_trigger(true);
        assert_eq!(m.poll_step(t0()), Some(Step::Policy));
        assert_eq!(m.status().received, 0, "a new cycle starts from zero");
    }

    #[test]
    fn failures_back_off_exponentially_with_jitter_and_honour_retry_after() {
        let mut m = SyncMachine::new(42);
        let mut waits = Vec::new();
        let mut now = t0();
        for _ in 0..12 {
            m.handle_trigger(false);
            while m.poll_step(now).is_none() {
                now = m.poll_timeout().expect("a retry is scheduled");
            }
            m.handle_outcome(now, Outcome::Failed(Failure::Offline));
            let wait = m.poll_timeout().expect("retry") - now;
            waits.push(wait);
            assert_eq!(m.status().state, SyncState::Offline);
        }
        for (i, w) in waits.iter().enumerate() {
            let exp = Duration::seconds(1i64 << i.min(12)).min(MAX_BACKOFF);
            assert!(
                *w >= exp / 2 && *w <= exp,
                "attempt {i}: {w} not in [{}, {exp}]",
                exp / 2
            );
        }
        assert!(*waits.last().expect("waits") <= MAX_BACKOFF);
        // Retry-After wins when longer.
        let mut m = SyncMachine::new(7);
        m.handle_trigger(true);
        m.poll_step(t0());
        m.handle_outcome(t0(), Outcome::Failed(Failure::RetryAfter(120)));
        assert!(m.poll_timeout().expect("retry") - t0() >= Duration::seconds(120));
        assert_eq!(
            m.poll_step(t0() + Duration::seconds(119)),
            None,
            "not before Retry-After"
        );
        // An explicit sync_now skips the wait.
        m.handle_trigger(true);
        assert_eq!(m.poll_step(t0() + Duration::seconds(1)), Some(Step::Policy));
    }

    #[test]
    fn success_resets_the_backoff_and_unauthorized_waits_for_sign_in() {
        let mut m = SyncMachine::new(3);
        m.handle_trigger(true);
        m.poll_step(t0());
        m.handle_outcome(t0(), Outcome::Failed(Failure::Server));
        let later = m.poll_timeout().expect("retry");
        assert_eq!(m.poll_step(later), Some(Step::Policy));
        m.handle_outcome(later, Outcome::Done { more: false });
        m.handle_outcome(later, Outcome::Done { more: false });
        m.handle_outcome(later, Outcome::Done { more: false });
        assert_eq!(m.status().state, SyncState::Idle);
        m.handle_trigger(true);
        m.poll_step(later);
        m.handle_outcome(later, Outcome::Failed(Failure::Unauthorized));
        assert_eq!(m.poll_timeout(), None);
        assert_eq!(m.status().state, SyncState::Error);
    }
}
