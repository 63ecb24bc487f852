//! Retention jobs, run at start and then periodically, on the injected
//! clock (so tests move time instead of waiting).
//!
//! * raw location: ended live shares are deleted; the raw fix of a visit
//!   event is cleared once older than the user's retention (the shortest of
//!   their organisations' settings, 7 days by default);
//! * security events (the audit log) older than 12 months are purged, the
//!   chain's start moving past them;
//! * sync: tombstones and idempotency answers older than
//!   [`TOMBSTONE_HORIZON_DAYS`] are pruned (a device offline longer does a
//!   full resync);
//! * sessions: expired access tokens, refresh tokens past their expiry,
//!   and token families with none left or ended without a wipe to report
//!   (in bounded batches);
//! * abuse counters: login-throttle streaks past their 24-hour reset and
//!   rate-limit windows older than a day are deleted, so anonymous traffic
//!   leaves nothing behind for long; so are wake-ups still undelivered
//!   after a day.
//!
//! Replicas sharing a database run the jobs once per [`INTERVAL`] between
//! them: each checks every quarter interval, and only the one that takes
//! the period's lease ([`Store::claim_period`](crate::store::Store::claim_period))
//! runs them; if it dies, the next period goes to another.

use chrono::Duration;

use crate::AppState;
use crate::store::StoreError;

/// Days security events are kept (12 months).
pub const AUDIT_RETENTION_DAYS: i64 = 365;
/// Days tombstones are kept for devices that are offline.
pub const TOMBSTONE_HORIZON_DAYS: i64 = 90;
/// How often the jobs run.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// What one run removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Live shares that had ended.
    pub shares: u64,
    /// Visit events whose raw fix was cleared.
    pub visit_fixes: u64,
    /// Tombstones pruned.
    pub tombstones: u64,
    /// Audit entries past retention.
    pub audit_entries: u64,
    /// Login-throttle and rate-limit rows past their window, and stale
    /// wake-ups.
    pub counters: u64,
    /// Expired tokens and ended token families.
    pub sessions: u64,
}

/// Runs every retention job once.
pub async fn run_once(state: &AppState) -> Result<Report, StoreError> {
    let now = state.now();
    let (shares, visit_fixes) = state.store().purge_location(now).await?;
    let horizon = now - Duration::days(TOMBSTONE_HORIZON_DAYS);
    let tombstones = state.store().prune_sync(horizon, horizon).await?;
    let audit_entries = state
        .store()
        .purge_audit(now - Duration::days(AUDIT_RETENTION_DAYS))
        .await?;
    state
        .store()
        .purge_erased_tokens(now - Duration::days(crate::store::ERASED_TOKEN_DAYS))
        .await?;
    let sessions = state.store().purge_sessions(now).await?;
    state.prune_client_limits();
    let counters = state
        .store()
        .purge_counters(
            now - crate::auth::throttle::STREAK_RESET,
            now - Duration::days(1),
        )
        .await?;
    let counters = counters + state.store().purge_wakeups(now - Duration::days(1)).await?;
    Ok(Report {
        shares,
        visit_fixes,
        tombstones,
        audit_entries,
        counters,
        sessions,
    })
}

/// The lease every replica competes for.
const LEASE: &str = "retention";

/// Runs the jobs if this period's lease is free (no other replica ran them
/// within the last [`INTERVAL`]); `None` when another replica has them.
pub async fn run_if_due(state: &AppState) -> Result<Option<Report>, StoreError> {
    let period = Duration::from_std(INTERVAL).unwrap_or(Duration::hours(1));
    if !state
        .store()
        .claim_period(LEASE, state.now(), period)
        .await?
    {
        return Ok(None);
    }
    run_once(state).await.map(Some)
}

/// Runs the jobs when due (at start, then each [`INTERVAL`] between all
/// replicas) until the task is dropped.
pub async fn run_forever(state: AppState) {
    loop {
        match run_if_due(&state).await {
            Ok(None) => tracing::debug!("retention jobs ran on another replica"),
            Ok(Some(r)) => tracing::info!(
                shares = r.shares,
                visit_fixes = r.visit_fixes,
                tombstones = r.tombstones,
                audit_entries = r.audit_entries,
                counters = r.counters,
                "retention jobs ran"
            ),
            Err(e) => tracing::warn!(error = %e, "retention jobs failed"),
        }
        tokio::time::sleep(INTERVAL / 4).await;
    }
}
