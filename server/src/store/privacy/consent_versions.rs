//! Consent policy versions: the version per purpose that a consent must
//! name to count; publishing a new one asks every user again.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use praxis_protocol::privacy::Purpose;

use crate::store::Store;
use crate::store::backend::{StoreError, Tx, ms};

pub(in crate::store) async fn versions(
    tx: &mut dyn Tx,
) -> Result<BTreeMap<Purpose, u32>, StoreError> {
    const CONSENT_POLICIES: &str = "SELECT purpose, version FROM consent_policies";
    let mut out: BTreeMap<Purpose, u32> = Purpose::ALL.into_iter().map(|p| (p, 1)).collect();
    for r in tx.query(CONSENT_POLICIES, vec![]).await? {
        if let Some(p) = Purpose::parse(&r.text("purpose")?) {
            out.insert(p, u32::try_from(r.i64("version")?).unwrap_or(u32::MAX));
        }
    }
    Ok(out)
}

impl Store {
    /// The published policy version of every purpose (1 until raised).
    pub async fn policy_versions(&self) -> Result<BTreeMap<Purpose, u32>, StoreError> {
        let mut tx = self.begin_read().await?;
        let v = versions(&mut *tx).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// Publishes a new policy version for `purpose`: consent given for an
    /// earlier version stops counting. A lower or equal version changes
    /// nothing (returns `false`).
    pub async fn publish_policy_version(
        &self,
        purpose: Purpose,
        version: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const CONSENT_POLICY_PUBLISH: &str = "INSERT INTO consent_policies (purpose, version, published_at) VALUES (?1, ?2, ?3) ON CONFLICT (purpose) DO UPDATE SET version = ?2, published_at = ?3 WHERE consent_policies.version < ?2";
        // Bulk: a new version ends every live share.
        let mut tx = self.begin_bulk().await?;
        let n = tx
            .execute(
                CONSENT_POLICY_PUBLISH,
                vec![
                    purpose.as_str().into(),
                    i64::from(version).into(),
                    ms(now).into(),
                ],
            )
            .await?;
        // Every user's sharing gate may have closed; their shares end.
        if n > 0 && purpose == Purpose::LocationSharing {
            const SHARES_DELETE_ALL: &str = "DELETE FROM location_shares";
            tx.execute(SHARES_DELETE_ALL, vec![]).await?;
        }
        if n > 0 {
            crate::store::vault::note(&*tx, crate::store::Change::PrivacyAll)?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }
}
