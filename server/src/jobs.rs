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
//! * single-use secrets: expired join codes, contact invitations and
//!   mailed codes (a used one is kept until it expires, to answer "used");
//!   with `--dev`, mail files in the data directory older than 7 days;
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
    /// Expired join codes, contact invitations and mailed codes.
    pub codes: u64,
    /// Mail files of `--dev` past [`DEV_MAIL_DAYS`].
    pub mail_files: u64,
    /// Token hashes of erased accounts past their 60 days.
    pub erased_tokens: u64,
    /// Visit records held after an erasure by purpose, past their date.
    pub held_visits: u64,
}

impl Report {
    /// The counts by kind (the metrics' labels).
    pub fn by_kind(&self) -> [(&'static str, u64); 10] {
        [
            ("shares", self.shares),
            ("visit_fixes", self.visit_fixes),
            ("tombstones", self.tombstones),
            ("audit_entries", self.audit_entries),
            ("counters", self.counters),
            ("sessions", self.sessions),
            ("codes", self.codes),
            ("mail_files", self.mail_files),
            ("erased_tokens", self.erased_tokens),
            ("held_visits", self.held_visits),
        ]
    }
}

/// Days a `--dev` mail file is kept.
pub const DEV_MAIL_DAYS: i64 = 7;

/// How the retention each table of `docs/processing-register.json` states
/// is enforced (a test checks every table is here, and that each one with
/// a time limit has a job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforced {
    /// A job of [`run_once`], by its [`Report`] field.
    Job(&'static str),
    /// An event deletes the rows (erasure, logout, a stop); no time limit.
    Event(&'static str),
    /// Kept for the life of the database (or overwritten in place).
    Kept,
}

/// Every table of the register and what enforces its retention.
pub const ENFORCED: &[(&str, Enforced)] = &[
    (
        "users",
        Enforced::Event("erasure deletes the account at once"),
    ),
    ("token_families", Enforced::Job("sessions")),
    ("access_tokens", Enforced::Job("sessions")),
    ("refresh_tokens", Enforced::Job("sessions")),
    ("login_throttle", Enforced::Job("counters")),
    ("orgs", Enforced::Event("deleted with its last member")),
    ("org_members", Enforced::Event("leave or removal")),
    ("join_codes", Enforced::Job("codes")),
    ("sync_meta", Enforced::Kept),
    ("sync_scopes", Enforced::Event("erasure")),
    ("sync_records", Enforced::Job("tombstones")),
    ("sync_mutations", Enforced::Job("tombstones")),
    (
        "org_policy_changes",
        Enforced::Event("deleted with the organisation"),
    ),
    ("consent_policies", Enforced::Kept),
    ("location_shares", Enforced::Job("shares")),
    ("location_share_recipients", Enforced::Job("shares")),
    ("location_positions", Enforced::Job("shares")),
    ("server_keys", Enforced::Kept),
    ("contact_cards", Enforced::Event("erasure")),
    ("contact_invitations", Enforced::Job("codes")),
    (
        "contact_shares",
        Enforced::Event("revocation by either side, erasure"),
    ),
    ("contact_blocks", Enforced::Event("lifted, erasure")),
    ("rate_limits", Enforced::Job("counters")),
    ("audit_log", Enforced::Job("audit_entries")),
    ("audit_head", Enforced::Kept),
    ("erased_tokens", Enforced::Job("erased_tokens")),
    ("user_keys", Enforced::Event("erasure (crypto-shredding)")),
    ("job_leases", Enforced::Kept),
    (
        "push_tokens",
        Enforced::Event("logout, revocation, erasure"),
    ),
    ("push_outbox", Enforced::Job("counters")),
    ("email_codes", Enforced::Job("codes")),
    ("held_visit_events", Enforced::Job("held_visits")),
    (
        "objections",
        Enforced::Event("withdrawal of the objection, erasure"),
    ),
    (
        "post_mortem_directives",
        Enforced::Event("removal by the user, erasure"),
    ),
];

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
    let erased_tokens = state
        .store()
        .purge_erased_tokens(now - Duration::days(crate::store::ERASED_TOKEN_DAYS))
        .await?;
    let codes = state.store().purge_expired_codes(now).await?;
    let held_visits = state.store().purge_held_visit_events(now).await?;
    let mail_files = match state.settings().mail.as_ref().map(|m| &m.transport) {
        Some(crate::mail::MailTransport::Files(dir)) => {
            purge_mail_files(dir, now - Duration::days(DEV_MAIL_DAYS))
        }
        _ => 0,
    };
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
        codes,
        mail_files,
        erased_tokens,
        held_visits,
    })
}

/// Deletes the `.eml` files of `dir` last written before `before`.
fn purge_mail_files(dir: &std::path::Path, before: chrono::DateTime<chrono::Utc>) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let path = e.path();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| chrono::DateTime::<chrono::Utc>::from(t) < before);
        if old
            && path.extension().is_some_and(|x| x == "eml")
            && std::fs::remove_file(&path).is_ok()
        {
            n += 1;
        }
    }
    n
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

/// Checks the audit log's hash chain (after each retention run, which
/// moves its base) and reports the result in the metrics; a break is also
/// logged as an error.
pub async fn verify_audit(state: &AppState) {
    match state.store().verify_audit().await {
        Ok(check) => {
            state
                .metrics()
                .audit_checked(check.entries, check.broken_at.is_none(), state.now());
            if let Some(at) = check.broken_at {
                tracing::error!(seq = at, "audit chain broken");
            }
        }
        Err(e) => tracing::warn!(error = %e, "audit chain check failed"),
    }
}

/// Runs the jobs when due (at start, then each [`INTERVAL`] between all
/// replicas) until the task is dropped.
pub async fn run_forever(state: AppState) {
    loop {
        run_and_report(&state).await;
        tokio::time::sleep(INTERVAL / 4).await;
    }
}

/// One turn of [`run_forever`]: the jobs if due, their outcome in the
/// logs and the metrics, then the audit chain's check.
pub async fn run_and_report(state: &AppState) {
    match run_if_due(state).await {
        Ok(None) => tracing::debug!("retention jobs ran on another replica"),
        Ok(Some(r)) => {
            state.metrics().retention_ran(Some(&r.by_kind()));
            tracing::info!(
                shares = r.shares,
                visit_fixes = r.visit_fixes,
                tombstones = r.tombstones,
                audit_entries = r.audit_entries,
                counters = r.counters,
                sessions = r.sessions,
                codes = r.codes,
                mail_files = r.mail_files,
                erased_tokens = r.erased_tokens,
                held_visits = r.held_visits,
                "retention jobs ran"
            );
            verify_audit(state).await;
        }
        Err(e) => {
            state.metrics().retention_ran(None);
            tracing::warn!(error = %e, "retention jobs failed");
        }
    }
}
