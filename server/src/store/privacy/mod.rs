//! Privacy: the consent gates. A user's gates are their consent ledger (the
//! `consents` records of their scope, ranked by when they were given), the
//! published policy versions, their restriction and their organisations'
//! location policy; writes and shares consult them in the transaction that
//! depends on them.
//!
//! * [`consent_versions`]: the policy version per purpose a consent must name.
//! * [`restriction`]: the restriction of processing (Art. 18).
//! * [`policy`]: organisation location policy, fanned out to members.
//! * [`sharing`]: live location shares, closed whenever a gate closes.

pub mod consent_versions;
pub mod objections;
pub mod policy;
pub mod post_mortem;
pub mod purpose_erasure;
pub mod restriction;
pub mod sharing;

use std::collections::BTreeMap;

use praxis_protocol::location::Precision;
use praxis_protocol::privacy::{
    self, Closed, Effective, PrivacyState, Purpose, consents, org_policy,
};
use praxis_protocol::sync::{Fields, SyncRecord};
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{StoreError, Tx, at};
use crate::store::privacy::consent_versions::versions;
use crate::store::privacy::restriction::restricted;
use crate::store::records::open_fields;
use crate::sync::user_scope;

/// The user's consent ledger as the gates rank it. Each entry counts from
/// the earlier of its device time and the server's receipt (records of the
/// ledger are append-only, so `updated_at` is the receipt): a grant dated
/// in the future by a wrong clock cannot outrank a withdrawal received
/// after it, while an entry made offline keeps its earlier device time.
/// Entries clamped to the same receipt (one push) rank by their sequence
/// number, which follows the order the device made them in.
async fn consent_ledger(tx: &mut dyn Tx, user: Uuid) -> Result<Vec<consents::Entry>, StoreError> {
    // The consent ledger of a scope, with when the server received each
    // entry and its place in the scope's change order.
    const SCOPE_CONSENTS: &str = "SELECT record_id, fields, updated_at, seq FROM sync_records WHERE scope = ?1 AND collection = 'consents' AND deleted IS NULL";
    let rows = tx
        .query(SCOPE_CONSENTS, vec![user_scope(user).into()])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id = r.text("record_id")?;
        let fields = open_fields(tx, user, consents::COLLECTION, &id, r.text("fields")?).await?;
        if let Some(mut e) = consents::Entry::from_fields(&id, &fields) {
            e.at = e.at.min(at(r.i64("updated_at")?)?);
            e.order = r.i64("seq")?;
            out.push(e);
        }
    }
    Ok(out)
}

async fn scope_fields(
    tx: &mut dyn Tx,
    user: Uuid,
    collection: &str,
) -> Result<Vec<(String, Fields)>, StoreError> {
    const SCOPE_COLLECTION: &str = "SELECT record_id, fields FROM sync_records WHERE scope = ?1 AND collection = ?2 AND deleted IS NULL";
    let rows = tx
        .query(
            SCOPE_COLLECTION,
            vec![user_scope(user).into(), collection.into()],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id = r.text("record_id")?;
        let fields = open_fields(tx, user, collection, &id, r.text("fields")?).await?;
        out.push((id, fields));
    }
    Ok(out)
}

/// What the gates look like for one user, read inside a transaction.
pub(in crate::store) struct Gates {
    restricted: bool,
    effective: Effective,
    consents: Vec<consents::Entry>,
    versions: BTreeMap<Purpose, u32>,
}

impl crate::sync::GateView for Gates {
    fn check(&self, purpose: Purpose) -> Result<Precision, Closed> {
        Gates::check(self, purpose)
    }

    fn version(&self, purpose: Purpose) -> u32 {
        Gates::version(self, purpose)
    }
}

impl Gates {
    pub(in crate::store) async fn load(tx: &mut dyn Tx, user: Uuid) -> Result<Self, StoreError> {
        let restricted = restricted(tx, user).await?;
        let policies: Vec<_> = scope_fields(tx, user, org_policy::COLLECTION)
            .await?
            .iter()
            .filter_map(|(_, f)| org_policy::MemberPolicy::from_fields(f))
            .collect();
        let consents = consent_ledger(tx, user).await?;
        Ok(Self {
            restricted,
            effective: Effective::of(&policies),
            consents,
            versions: versions(tx).await?,
        })
    }

    /// The gate for `purpose`: the finest precision the server accepts.
    pub(in crate::store) fn check(&self, purpose: Purpose) -> Result<Precision, Closed> {
        privacy::gate(
            purpose,
            self.restricted,
            &self.effective,
            &self.consents,
            self.versions.get(&purpose).copied().unwrap_or(1),
            Precision::Precise,
        )
    }

    /// The published version for `purpose`.
    pub(in crate::store) fn version(&self, purpose: Purpose) -> u32 {
        self.versions.get(&purpose).copied().unwrap_or(1)
    }

    pub(in crate::store) fn retention_days(&self) -> u32 {
        self.effective.retention_days
    }
}

impl Store {
    /// Whether `user` may be processed for `purpose` now: not restricted,
    /// and their latest consent grants the published version (for a
    /// location purpose, their organisations must allow it too). What the
    /// operator's `consent-audience` asks of every account.
    pub async fn gate_open(&self, user: Uuid, purpose: Purpose) -> Result<bool, StoreError> {
        let mut tx = self.begin_read().await?;
        let open = Gates::load(&mut *tx, user).await?.check(purpose).is_ok();
        tx.commit().await?;
        Ok(open)
    }

    /// What a device needs before other sync work (see [`PrivacyState`]).
    pub async fn privacy_state(&self, user: Uuid) -> Result<PrivacyState, StoreError> {
        const SCOPE_COLLECTION_RECORDS: &str = "SELECT collection, record_id, seq, fields, deleted FROM sync_records WHERE scope = ?1 AND collection = ?2 AND deleted IS NULL ORDER BY seq";
        let mut tx = self.begin_read().await?;
        let gates = Gates::load(&mut *tx, user).await?;
        let rows = tx
            .query(
                SCOPE_COLLECTION_RECORDS,
                vec![user_scope(user).into(), org_policy::COLLECTION.into()],
            )
            .await?;
        let mut org_policies = Vec::with_capacity(rows.len());
        for r in rows {
            let (collection, id) = (r.text("collection")?, r.text("record_id")?);
            let fields = open_fields(&mut *tx, user, &collection, &id, r.text("fields")?).await?;
            org_policies.push(SyncRecord {
                collection,
                id,
                version: r.i64("seq")?,
                fields,
                deleted: None,
            });
        }
        tx.commit().await?;
        Ok(PrivacyState {
            policy_versions: gates.versions,
            restricted: gates.restricted,
            org_policies,
            notice_version: None,
        })
    }
}
