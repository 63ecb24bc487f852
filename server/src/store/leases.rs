//! Job leases (`job_leases`, migration 9): a periodic job runs once per
//! period across every replica sharing the database.

use chrono::{DateTime, Utc};

use crate::store::Store;
use crate::store::backend::{StoreError, ms};

impl Store {
    /// Takes `job` for the period starting `now` if it is due, moving its
    /// next due time to `now + period`; `false` when another replica took
    /// the period already. Of concurrent callers, exactly one gets `true`.
    pub async fn claim_period(
        &self,
        job: &str,
        now: DateTime<Utc>,
        period: chrono::Duration,
    ) -> Result<bool, StoreError> {
        // The row is created due; creating it is not claiming it.
        const LEASE_INIT: &str =
            "INSERT INTO job_leases (job, due_at) VALUES (?1, 0) ON CONFLICT (job) DO NOTHING";
        // Only one concurrent update finds the row still due.
        const LEASE_TAKE: &str =
            "UPDATE job_leases SET due_at = ?1 WHERE job = ?2 AND due_at <= ?3";
        let mut tx = self.begin().await?;
        tx.execute(LEASE_INIT, vec![job.into()]).await?;
        let taken = tx
            .execute(
                LEASE_TAKE,
                vec![ms(now + period).into(), job.into(), ms(now).into()],
            )
            .await?;
        tx.commit().await?;
        Ok(taken == 1)
    }
}
