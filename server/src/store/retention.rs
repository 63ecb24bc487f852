//! Retention of single-use secrets: join codes, contact invitations and
//! mailed codes are deleted once expired (a used one is kept until then,
//! so a second try is answered "used" rather than "unknown"), in bounded
//! batches.

use chrono::{DateTime, Utc};

use crate::store::Store;
use crate::store::backend::{StoreError, ms};

/// How many rows one retention statement deletes: a purge of millions of
/// rows runs as many short transactions, never holding a table for long.
pub const PURGE_BATCH: i64 = 5000;

impl Store {
    /// Runs `sql` (a `DELETE` of at most `?2` rows older than `?1`) until
    /// it deletes fewer than [`PURGE_BATCH`], each run its own
    /// transaction. Returns the rows deleted.
    pub(in crate::store) async fn purge_batched(
        &self,
        sql: &'static str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let mut tx = self.begin_bulk().await?;
            let n = tx
                .execute(sql, vec![ms(now).into(), PURGE_BATCH.into()])
                .await?;
            tx.commit().await?;
            total += n;
            if n < PURGE_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }

    /// Expired join codes, contact invitations and mailed codes. Returns
    /// the rows deleted.
    pub async fn purge_expired_codes(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        const JOIN_CODES_PURGE: &str = "DELETE FROM join_codes WHERE code_hash IN (SELECT code_hash FROM join_codes WHERE expires_at <= ?1 LIMIT ?2)";
        const INVITATIONS_PURGE: &str = "DELETE FROM contact_invitations WHERE id IN (SELECT id FROM contact_invitations WHERE expires_at <= ?1 LIMIT ?2)";
        const EMAIL_CODES_PURGE: &str = "DELETE FROM email_codes WHERE (user_id, purpose) IN (SELECT user_id, purpose FROM email_codes WHERE expires_at <= ?1 LIMIT ?2)";
        let mut total = 0;
        for sql in [JOIN_CODES_PURGE, INVITATIONS_PURGE, EMAIL_CODES_PURGE] {
            total += self.purge_batched(sql, now).await?;
        }
        Ok(total)
    }
}
