//! Erasure by purpose (GDPR Art. 17(1)(b)): a user who withdraws a location
//! consent may erase what was collected under it, without closing the
//! account. In one transaction:
//!
//! * `location_visits`: every visit event of the user's scope becomes a
//!   tombstone (its raw fix, check-in result and distance gone), so each
//!   device deletes its copy at its next pull. Visit events are
//!   append-only except for this operation. Where an organisation of the
//!   user states a retention for visit records (`visit_records_days`,
//!   the longest among them), events younger than it are held: their
//!   fields without the raw fix move to `held_visit_events`, sealed,
//!   restricted (read only by the export), deleted by the retention job
//!   at `held_until`;
//! * `location_sharing`: the user's live shares end, with their positions.

use chrono::{DateTime, Duration, Utc};
use praxis_protocol::privacy::{LocationErasure, Purpose, visit_events};
use praxis_protocol::sync::Fields;
use serde_json::Value;
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{StoreError, Tx, at, ms};
use crate::store::privacy::restriction::SHARES_DELETE_OF_USER;
use crate::store::records::{open_fields, publish, server_hlc};
use crate::sync::user_scope;

/// The associated data of a held record's sealed fields.
fn held_context(id: &str) -> String {
    format!("held_visit_events/{id}")
}

/// The longest visit-record retention any organisation of `user` states.
async fn visit_records_days(
    tx: &mut dyn Tx,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<u32, StoreError> {
    const MEMBER_ORGS: &str = "SELECT org_id FROM org_members WHERE user_id = ?1";
    let mut days = 0;
    for r in tx.query(MEMBER_ORGS, vec![user.into()]).await? {
        let org = r.uuid(0)?;
        if let Some(p) = crate::store::privacy::policy::read_policy(tx, org, now).await? {
            days = days.max(p.visit_records_days);
        }
    }
    Ok(days)
}

impl Store {
    /// Erases the data collected under `purposes` (the location ones; any
    /// other purpose is ignored) and says what was erased and what is held.
    pub async fn erase_location_data(
        &self,
        user: Uuid,
        purposes: &[Purpose],
        now: DateTime<Utc>,
    ) -> Result<LocationErasure, StoreError> {
        const SCOPE_VISITS: &str = "SELECT record_id, fields FROM sync_records WHERE scope = ?1 AND collection = 'visit_events' AND deleted IS NULL ORDER BY record_id";
        const HELD_INSERT: &str = "INSERT INTO held_visit_events (user_id, record_id, fields, held_until) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, record_id) DO UPDATE SET fields = ?3, held_until = ?4";
        let mut out = LocationErasure {
            raw_fixes_erased: 0,
            visit_events_deleted: 0,
            visit_events_held: 0,
            held_until: None,
            shares_ended: 0,
        };
        let mut tx = self.begin_bulk().await?;
        if purposes.contains(&Purpose::LocationVisits) {
            let hold = Duration::days(i64::from(visit_records_days(&mut *tx, user, now).await?));
            let rows = tx
                .query(SCOPE_VISITS, vec![user_scope(user).into()])
                .await?;
            for r in rows {
                let id = r.text("record_id")?;
                let mut fields = open_fields(
                    &mut *tx,
                    user,
                    visit_events::COLLECTION,
                    &id,
                    r.text("fields")?,
                )
                .await?;
                if visit_events::has_raw_fix(&fields) {
                    out.raw_fixes_erased += 1;
                }
                let until = visit_events::taken_at(&fields)
                    .map(|t| t + hold)
                    .filter(|u| *u > now);
                if let Some(until) = until {
                    for k in visit_events::RAW_FIX {
                        fields.remove(*k);
                    }
                    let json =
                        serde_json::to_string(&fields).map_err(|_| StoreError::Decode("fields"))?;
                    let sealed = crate::store::vault::seal_for(
                        &mut *tx,
                        user,
                        &held_context(&id),
                        &json,
                        ms(now),
                    )
                    .await?;
                    tx.execute(
                        HELD_INSERT,
                        vec![
                            user.into(),
                            id.as_str().into(),
                            sealed.into(),
                            ms(until).into(),
                        ],
                    )
                    .await?;
                    out.visit_events_held += 1;
                    out.held_until = out.held_until.max(Some(until));
                } else {
                    out.visit_events_deleted += 1;
                }
                // Gone from sync either way: every device deletes its copy.
                publish(
                    &mut *tx,
                    user,
                    visit_events::COLLECTION,
                    &id,
                    &Fields::new(),
                    Some(server_hlc(now)),
                    now,
                )
                .await?;
            }
        }
        if purposes.contains(&Purpose::LocationSharing) {
            out.shares_ended = tx.execute(SHARES_DELETE_OF_USER, vec![user.into()]).await?;
            crate::store::vault::note(&*tx, crate::store::Change::Privacy(user))?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The visit records held for `user` after a purpose erasure (for the
    /// export only): each with its fields (no raw fix) and `held_until`.
    pub async fn held_visit_events(&self, user: Uuid) -> Result<Vec<Value>, StoreError> {
        const HELD_OF_USER: &str = "SELECT record_id, fields, held_until FROM held_visit_events WHERE user_id = ?1 ORDER BY record_id";
        let mut tx = self.begin_read().await?;
        let mut out = Vec::new();
        for r in tx.query(HELD_OF_USER, vec![user.into()]).await? {
            let id = r.text("record_id")?;
            let plain = crate::store::vault::open_for(
                &mut *tx,
                user,
                &held_context(&id),
                r.text("fields")?,
            )
            .await?;
            let fields = crate::store::records::parse_fields(&plain)?;
            let values: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, f)| (k, f.v)).collect();
            out.push(serde_json::json!({
                "id": id,
                "fields": values,
                "held_until": at(r.i64("held_until")?)?,
                "restricted": true,
            }));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Retention: deletes held visit records past their date.
    pub async fn purge_held_visit_events(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        const HELD_PURGE: &str = "DELETE FROM held_visit_events WHERE (user_id, record_id) IN (SELECT user_id, record_id FROM held_visit_events WHERE held_until <= ?1 LIMIT ?2)";
        self.purge_batched(HELD_PURGE, now).await
    }
}
