//! The audit log: append-only and hash-chained.
//!
//! Each entry carries the SHA-256 of its predecessor and its own hash over
//! `prev_hash || seq || at || event || user || org || details`; the head
//! row holds the last sequence and hash. Editing any entry breaks its hash,
//! removing one breaks the chain (a gap or a wrong `prev_hash`), removing
//! the newest ones disagrees with the head. Entries hold ids, purposes,
//! booleans and field names only: no personal data in clear.
//!
//! Appends take the head row's lock, so the chain has one order even with
//! several server replicas on PostgreSQL. Purging entries past retention
//! moves the chain's start (`base_seq`, `base_hash`) forward in the same
//! transaction, so verification still covers everything kept.

use chrono::{DateTime, Utc};
use praxis_protocol::audit::AuditEntry;
use serde_json::Value;
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{Row, StoreError, Tx};
use crate::store::backend::{at, ms};

const AUDIT_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1 /*FOR UPDATE*/";

/// A security event.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened (`login_failed`, `consent_changed`, …).
    pub event: &'static str,
    /// The account it is about, when known.
    pub user: Option<Uuid>,
    /// The organisation it is about, for organisation events.
    pub org: Option<Uuid>,
    /// Ids, flags and names only.
    pub details: Value,
}

impl Event {
    /// An event about an account.
    pub fn user(event: &'static str, user: Uuid, details: Value) -> Self {
        Self {
            event,
            user: Some(user),
            org: None,
            details,
        }
    }

    /// An organisation event done by `actor`.
    pub fn org(event: &'static str, org: Uuid, actor: Uuid, details: Value) -> Self {
        Self {
            event,
            user: Some(actor),
            org: Some(org),
            details,
        }
    }
}

fn entry_hash(
    prev: &[u8],
    seq: i64,
    at_ms: i64,
    event: &str,
    user: Option<&str>,
    org: Option<&str>,
    details: &str,
) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prev);
    ctx.update(&seq.to_be_bytes());
    ctx.update(&at_ms.to_be_bytes());
    for part in [Some(event), user, org, Some(details)] {
        // Length-prefixed, so no two different entries hash alike.
        let b = part.unwrap_or("").as_bytes();
        ctx.update(&[u8::from(part.is_some())]);
        ctx.update(&(b.len() as u64).to_be_bytes());
        ctx.update(b);
    }
    ctx.finish().as_ref().to_vec()
}

/// Appends an event inside `tx`.
pub(in crate::store) async fn append(
    tx: &mut dyn Tx,
    e: &Event,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    const AUDIT_INSERT: &str = "INSERT INTO audit_log (seq, at, event, user_id, org_id, details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    const AUDIT_HEAD_SET: &str = "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1";
    let head = tx.query(AUDIT_HEAD, vec![]).await?;
    let head = head.first().ok_or(StoreError::Decode("audit head"))?;
    let (seq, prev) = (head.i64("seq")? + 1, head.bytes("hash")?);
    let details = e.details.to_string();
    let (user, org) = (e.user.map(|u| u.to_string()), e.org.map(|o| o.to_string()));
    let hash = entry_hash(
        &prev,
        seq,
        ms(now),
        e.event,
        user.as_deref(),
        org.as_deref(),
        &details,
    );
    tx.execute(
        AUDIT_INSERT,
        vec![
            seq.into(),
            ms(now).into(),
            e.event.into(),
            user.into(),
            org.into(),
            details.into(),
            prev.as_slice().into(),
            hash.as_slice().into(),
        ],
    )
    .await?;
    tx.execute(AUDIT_HEAD_SET, vec![seq.into(), hash.as_slice().into()])
        .await?;
    Ok(())
}

/// An entry from a row of `audit_log` (seq, at, event, user_id, org_id,
/// details).
fn entry(r: &Row) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: r.i64("seq")?,
        at: at(r.i64("at")?)?,
        event: r.text("event")?,
        user_id: r.opt_uuid("user_id")?,
        org_id: r.opt_uuid("org_id")?,
        details: serde_json::from_str(&r.text("details")?)
            .map_err(|_| StoreError::Decode("details"))?,
    })
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheck {
    /// Entries checked.
    pub entries: u64,
    /// The first sequence number at which the chain breaks, if it does.
    pub broken_at: Option<i64>,
}

impl Store {
    /// Appends one event in its own transaction.
    pub async fn audit(&self, e: Event, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        append(&mut *tx, &e, now).await?;
        tx.commit().await
    }

    /// Entries about `user`, newest first (at most `limit`).
    pub async fn audit_of_user(
        &self,
        user: Uuid,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_of_user_before(user, i64::MAX, limit).await
    }

    /// Entries about `user` older than sequence `before`, newest first (at
    /// most `limit`): a page of the user's history.
    pub async fn audit_of_user_before(
        &self,
        user: Uuid,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        const AUDIT_OF_USER: &str = "SELECT seq, at, event, user_id, org_id, details FROM audit_log WHERE user_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3";
        self.db
            .query(
                AUDIT_OF_USER,
                vec![user.into(), before.into(), limit.into()],
            )
            .await?
            .iter()
            .map(entry)
            .collect()
    }

    /// An organisation's admin events, newest first (at most `limit`).
    pub async fn audit_of_org(&self, org: Uuid, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        const AUDIT_OF_ORG: &str = "SELECT seq, at, event, user_id, org_id, details FROM audit_log WHERE org_id = ?1 ORDER BY seq DESC LIMIT ?2";
        self.db
            .query(AUDIT_OF_ORG, vec![org.into(), limit.into()])
            .await?
            .iter()
            .map(entry)
            .collect()
    }

    /// Recomputes the whole chain from its start to the head.
    pub async fn verify_audit(&self) -> Result<AuditCheck, StoreError> {
        const AUDIT_ALL: &str = "SELECT seq, at, event, user_id, org_id, details, prev_hash, hash FROM audit_log ORDER BY seq";
        const AUDIT_HEAD_READ: &str =
            "SELECT seq, hash, base_seq, base_hash FROM audit_head WHERE id = 1";
        let head = self.db.query(AUDIT_HEAD_READ, vec![]).await?;
        let head = head.first().ok_or(StoreError::Decode("audit head"))?;
        let (head_seq, head_hash, base_seq, base_hash) = (
            head.i64("seq")?,
            head.bytes("hash")?,
            head.i64("base_seq")?,
            head.bytes("base_hash")?,
        );
        let rows = self.db.query(AUDIT_ALL, vec![]).await?;
        let (mut expect_seq, mut prev) = (base_seq + 1, base_hash);
        let mut checked = 0;
        for r in &rows {
            let seq = r.i64("seq")?;
            let (user, org) = (r.opt_text("user_id")?, r.opt_text("org_id")?);
            let hash = entry_hash(
                &prev,
                seq,
                r.i64("at")?,
                &r.text("event")?,
                user.as_deref(),
                org.as_deref(),
                &r.text("details")?,
            );
            if seq != expect_seq || r.bytes("prev_hash")? != prev || r.bytes("hash")? != hash {
                return Ok(AuditCheck {
                    entries: checked,
                    broken_at: Some(seq.min(expect_seq)),
                });
            }
            prev = hash;
            expect_seq += 1;
            checked += 1;
        }
        let end_ok = expect_seq - 1 == head_seq && prev == head_hash;
        Ok(AuditCheck {
            entries: checked,
            broken_at: (!end_ok).then_some(expect_seq),
        })
    }

    /// Deletes entries older than `before`, moving the chain's start past
    /// them. Returns how many went.
    pub async fn purge_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        const AUDIT_PURGE: &str = "DELETE FROM audit_log WHERE seq <= ?1";
        const AUDIT_LAST_BEFORE: &str =
            "SELECT seq, hash FROM audit_log WHERE at < ?1 ORDER BY seq DESC LIMIT 1";
        const AUDIT_BASE_SET: &str =
            "UPDATE audit_head SET base_seq = ?1, base_hash = ?2 WHERE id = 1";
        let mut tx = self.begin_bulk().await?;
        tx.query(AUDIT_HEAD, vec![]).await?;
        let last = tx.query(AUDIT_LAST_BEFORE, vec![ms(before).into()]).await?;
        let Some(last) = last.first() else {
            return Ok(0);
        };
        let (seq, hash) = (last.i64("seq")?, last.bytes("hash")?);
        tx.execute(AUDIT_BASE_SET, vec![seq.into(), hash.as_slice().into()])
            .await?;
        let n = tx.execute(AUDIT_PURGE, vec![seq.into()]).await?;
        tx.commit().await?;
        Ok(n)
    }
}
