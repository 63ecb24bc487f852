//! Live sync: keeps a device current while its app is in the foreground.
//!
//! [`SyncEngine::spawn_live`] runs the background driver (local writes,
//! retries) and follows the server's change feed: a sync cycle when the
//! feed connects (catching up on whatever happened while it was away) and
//! on every `changes` or `privacy` event, so an edit made on another
//! device, an admin switching location off or a revoked contact card
//! reaches this device's cache (and its listeners) within a second.
//!
//! When the feed breaks it is reopened after a jittered, doubling wait
//! ([`Reconnect`]: 1 s to 60 s, the server's `Retry-After` honoured); a
//! server going away (`shutting_down`) is left within a second, spread so
//! its devices do not all arrive at once; an expired access token is
//! refreshed and the feed reopened at once; a session ended on the server
//! runs one cycle, through which the session layer learns it (and signs
//! out, or wipes an erased account's data). Nobody signed in: the loop
//! waits for a sign-in. A transport without a feed is pulled from every
//! [`LiveOptions::poll_interval`] instead.

use std::sync::Arc;
use std::time::Duration;

use super::driver::SyncEngine;
use super::feed::{Feed, FeedEnd, FeedEvent};
use crate::Error;
use crate::session::SessionState;

/// How the live driver behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveOptions {
    /// A feed silent for longer than this is replaced (the server sends a
    /// heartbeat every 15 s by default).
    pub idle_timeout: Duration,
    /// Without a feed (a transport that offers none), how often to pull.
    pub poll_interval: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(45),
            poll_interval: Duration::from_secs(60),
        }
    }
}

/// When to reopen a broken feed: doubling from 1 s to 60 s, each wait
/// between half and all of the step (so a server's devices spread out),
/// at least what the server asked for, back to 1 s once a feed opened.
#[derive(Debug, Clone)]
pub struct Reconnect {
    failures: u32,
    rng: u64,
}

impl Reconnect {
    const FIRST: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(60);

    /// A policy with a jitter seed.
    pub fn new(seed: u64) -> Self {
        Self {
            failures: 0,
            rng: seed | 1,
        }
    }

    /// A feed opened: the next failure starts over.
    pub fn connected(&mut self) {
        self.failures = 0;
    }

    /// The wait after a failure (`retry_after`: the server's, in seconds).
    pub fn failed(&mut self, retry_after: Option<u64>) -> Duration {
        let step = Self::FIRST
            .saturating_mul(1 << self.failures.min(6))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        let wait = step / 2 + self.spread(step / 2);
        wait.max(Duration::from_secs(retry_after.unwrap_or(0)))
    }

    /// A short spread wait (under a second), to leave a server that is
    /// shutting down without all its devices arriving elsewhere at once.
    pub fn soon(&mut self) -> Duration {
        self.spread(Duration::from_secs(1))
    }

    fn spread(&mut self, up_to: Duration) -> Duration {
        // xorshift64: jitter needs spread, not secrecy.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        let ms = u64::try_from(up_to.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis(x % ms)
    }
}

/// Aborts a task when dropped (the background driver lives as long as the
/// live one).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl SyncEngine {
    /// Keeps the device current until the returned task is aborted: the
    /// background driver (see [`SyncEngine::spawn_background`]) plus the
    /// change feed (module documentation). Aborting it is safe at any
    /// point. Must be called inside a tokio runtime.
    pub fn spawn_live(self: &Arc<Self>, options: LiveOptions) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let _background = AbortOnDrop(engine.spawn_background());
            let mut reconnect = Reconnect::new(engine.seed());
            let mut session = engine.transport().session_changes();
            loop {
                let wait = engine.follow_once(&options, &mut reconnect).await;
                let signed_in_again = async {
                    match session.as_mut() {
                        Some(s) => loop {
                            if s.changed().await.is_err() {
                                std::future::pending::<()>().await;
                            }
                            if matches!(*s.borrow_and_update(), SessionState::SignedIn { .. }) {
                                break;
                            }
                        },
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = signed_in_again => {}
                }
            }
        })
    }

    /// Follows the feed once, until it ends; returns how long to wait
    /// before the next attempt.
    async fn follow_once(&self, options: &LiveOptions, reconnect: &mut Reconnect) -> Duration {
        let cursor = match self.cursor().await {
            Ok(c) => c,
            Err(_) => return reconnect.failed(None),
        };
        let feed = self
            .transport()
            .open_feed(cursor.as_deref(), options.idle_timeout)
            .await;
        let mut feed: Box<dyn Feed> = match feed {
            Ok(Some(f)) => f,
            Ok(None) => {
                self.cycle("poll").await;
                return options.poll_interval;
            }
            Err(e) => {
                if !matches!(e, Error::NotSignedIn) {
                    self.log()
                        .info("sync", &format!("change feed refused: {}", kind(&e)));
                }
                return reconnect.failed(retry_after(&e));
            }
        };
        reconnect.connected();
        self.log().info("sync", "change feed connected");
        // Whatever changed while the feed was closed (privacy state
        // included, which the feed does not replay) is caught up now.
        self.cycle("live_connected").await;
        loop {
            match feed.next().await {
                Ok(Some(FeedEvent::Changes(_))) => self.cycle("live_changes").await,
                Ok(Some(FeedEvent::Privacy)) => self.cycle("live_privacy").await,
                Ok(Some(FeedEvent::End(end))) => {
                    self.log()
                        .info("sync", &format!("change feed ended: {end:?}"));
                    return match end {
                        FeedEnd::TokenExpired => Duration::ZERO,
                        FeedEnd::ShuttingDown | FeedEnd::Other => reconnect.soon(),
                        FeedEnd::SignedOut | FeedEnd::AccountErased => {
                            // The next request learns it: the session is
                            // ended here (or the erased account wiped).
                            self.cycle("live_session_ended").await;
                            reconnect.failed(None)
                        }
                    };
                }
                Ok(None) => {
                    self.log().info("sync", "change feed closed");
                    return reconnect.failed(None);
                }
                Err(e) => {
                    self.log()
                        .info("sync", &format!("change feed lost: {}", kind(&e)));
                    return reconnect.failed(None);
                }
            }
        }
    }

    /// A background wake-up arrived (the platform push service relayed the
    /// server's "sync now"): one sync cycle within `budget`, the time the
    /// OS gives the app (about 30 s on iOS; keep a margin). A cycle cut
    /// short leaves every step it finished committed and the rest for the
    /// next sync; the answer is then a network timeout.
    pub async fn handle_wake_up(&self, budget: Duration) -> crate::Result<super::SyncStatus> {
        match tokio::time::timeout(budget, self.sync_now("wake_up")).await {
            Ok(status) => status,
            Err(_) => Err(Error::Network(crate::NetworkError::Timeout)),
        }
    }

    /// One sync cycle; failures are the state machine's to retry.
    async fn cycle(&self, reason: &str) {
        if let Err(e) = self.sync_now(reason).await {
            self.log()
                .warn("sync", &format!("live sync failed: {}", kind(&e)));
        }
    }
}

fn retry_after(e: &Error) -> Option<u64> {
    match e {
        Error::Api { retry_after, .. } => *retry_after,
        _ => None,
    }
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Network(n) => n.as_str(),
        Error::Api { .. } => "refused",
        Error::Protocol { .. } => "protocol",
        Error::NotSignedIn | Error::SessionExpired | Error::AccountErased | Error::DeviceWiped => {
            "unauthorized"
        }
        _ => "local",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_double_with_jitter_up_to_a_minute_and_honour_retry_after() {
        let mut r = Reconnect::new(7);
        let mut previous_step = Duration::ZERO;
        for n in 0..10u32 {
            let wait = r.failed(None);
            let step = Duration::from_secs(1 << n.min(6)).min(Duration::from_secs(60));
            assert!(
                wait >= step / 2 && wait <= step,
                "{n}: {wait:?} not in [{step:?}/2, {step:?}]"
            );
            assert!(step >= previous_step);
            previous_step = step;
        }
        // The server's Retry-After wins when longer.
        assert!(r.failed(Some(300)) >= Duration::from_secs(300));
        // Opening a feed starts over.
        r.connected();
        assert!(r.failed(None) <= Duration::from_secs(1));
        // Soon is under a second, and spread.
        let waits: std::collections::HashSet<_> = (0..20).map(|_| r.soon()).collect();
        assert!(waits.iter().all(|w| *w < Duration::from_secs(1)));
        assert!(waits.len() > 10, "not spread: {waits:?}");
    }

    #[test]
    fn two_devices_spread_their_waits() {
        let (mut a, mut b) = (Reconnect::new(1), Reconnect::new(2));
        let same = (0..6).filter(|_| a.failed(None) == b.failed(None)).count();
        assert!(same < 6);
    }
}
