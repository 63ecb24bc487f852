//! Organisation location policy. It reaches devices as server-authored
//! `org_policy` records written into each member's scope (fan-out on
//! change), so a device that cannot sync keeps the last policy it saw and
//! one pull brings the new one. A change that closes a member's sharing
//! gate ends their live shares in the same transaction.

use chrono::{DateTime, Utc};
use praxis_protocol::privacy::{
    LocationPolicy, PolicyChange, UpdateLocationPolicyRequest, org_policy,
};
use praxis_protocol::sync::Fields;
use serde_json::Value;
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{StoreError, Tx, Val, at, ms};
use crate::store::privacy::sharing::{close_shares_if_gated, end_shares_without_common_org};
use crate::store::records::{publish, server_hlc};

const ORG_SETTINGS: &str = "SELECT settings FROM orgs WHERE id = ?1 /*FOR UPDATE*/";

const POLICY_CHANGE_INSERT: &str = "INSERT INTO org_policy_changes (id, org_id, actor_id, member_id, change, changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// The id of a member's `org_policy` record: stable per (organisation,
/// member), unique across scopes.
fn policy_record_id(org: Uuid, user: Uuid) -> String {
    Uuid::new_v5(&org, user.as_bytes()).to_string()
}

pub(in crate::store) async fn read_policy(
    tx: &mut dyn Tx,
    org: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<LocationPolicy>, StoreError> {
    let rows = tx.query(ORG_SETTINGS, vec![org.into()]).await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let settings: Value =
        serde_json::from_str(&r.text(0)?).map_err(|_| StoreError::Decode("org settings"))?;
    Ok(Some(match settings.get("location") {
        Some(l) => {
            serde_json::from_value(l.clone()).map_err(|_| StoreError::Decode("location policy"))?
        }
        None => LocationPolicy::initial(now),
    }))
}

fn member_policy(org: Uuid, p: &LocationPolicy, enabled: bool) -> org_policy::MemberPolicy {
    org_policy::MemberPolicy {
        org_id: org,
        location_visits: p.location_visits,
        location_sharing: p.location_sharing,
        max_precision: p.max_precision,
        retention_days: p.retention_days,
        member_enabled: enabled,
    }
}

/// Writes a member's current `org_policy` record.
pub(in crate::store) async fn publish_member_policy(
    tx: &mut dyn Tx,
    org: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    const MEMBER_LOCATION: &str =
        "SELECT location_enabled FROM org_members WHERE org_id = ?1 AND user_id = ?2";
    let Some(policy) = read_policy(tx, org, now).await? else {
        return Ok(());
    };
    let enabled = tx
        .query(MEMBER_LOCATION, vec![org.into(), user.into()])
        .await?
        .first()
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(1)
        != 0;
    let fields = member_policy(org, &policy, enabled).to_fields(&server_hlc(now));
    publish(
        tx,
        user,
        org_policy::COLLECTION,
        &policy_record_id(org, user),
        &fields,
        None,
        now,
    )
    .await
}

/// Removes a former member's `org_policy` record (a tombstone) and closes
/// whatever that closes.
pub(in crate::store) async fn withdraw_member_policy(
    tx: &mut dyn Tx,
    org: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    publish(
        tx,
        user,
        org_policy::COLLECTION,
        &policy_record_id(org, user),
        &Fields::new(),
        Some(server_hlc(now)),
        now,
    )
    .await?;
    close_shares_if_gated(tx, user).await?;
    end_shares_without_common_org(tx, user).await
}

impl Store {
    /// An organisation's location policy.
    pub async fn location_policy(
        &self,
        org: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<LocationPolicy>, StoreError> {
        let mut tx = self.begin_read().await?;
        let p = read_policy(&mut *tx, org, now).await?;
        tx.commit().await?;
        Ok(p)
    }

    /// Applies an admin's (validated) change, records it, and writes every
    /// member's new `org_policy` record, all in one transaction.
    pub async fn update_location_policy(
        &self,
        org: Uuid,
        actor: Uuid,
        req: &UpdateLocationPolicyRequest,
        now: DateTime<Utc>,
    ) -> Result<LocationPolicy, StoreError> {
        const MEMBERS_LOCATION: &str =
            "SELECT user_id, location_enabled FROM org_members WHERE org_id = ?1";
        const ORG_SET_SETTINGS: &str =
            "UPDATE orgs SET settings = ?2, updated_at = ?3 WHERE id = ?1";
        // Bulk: it rewrites every member's policy record and gates.
        let mut tx = self.begin_bulk().await?;
        let mut policy = read_policy(&mut *tx, org, now)
            .await?
            .ok_or(StoreError::Decode("organisation vanished"))?;
        if let Some(v) = req.location_visits {
            policy.location_visits = v;
        }
        if let Some(v) = req.location_sharing {
            policy.location_sharing = v;
        }
        if let Some(v) = req.max_precision {
            policy.max_precision = v;
        }
        if let Some(v) = req.retention_days {
            policy.retention_days = v;
        }
        if let Some(v) = req.visit_records_days {
            policy.visit_records_days = v;
        }
        policy.updated_at = now;
        policy.updated_by = Some(actor);
        let settings = tx.query(ORG_SETTINGS, vec![org.into()]).await?;
        let mut settings: Value = settings
            .first()
            .map(|r| r.text(0))
            .transpose()?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| Value::Object(Default::default()));
        settings["location"] =
            serde_json::to_value(&policy).map_err(|_| StoreError::Decode("policy"))?;
        tx.execute(
            ORG_SET_SETTINGS,
            vec![org.into(), settings.to_string().into(), ms(now).into()],
        )
        .await?;
        let change = serde_json::to_string(req).map_err(|_| StoreError::Decode("change"))?;
        tx.execute(
            POLICY_CHANGE_INSERT,
            vec![
                Uuid::new_v4().into(),
                org.into(),
                actor.into(),
                Val::Null,
                change.into(),
                ms(now).into(),
            ],
        )
        .await?;
        let members = tx.query(MEMBERS_LOCATION, vec![org.into()]).await?;
        for m in &members {
            let user = m.uuid("user_id")?;
            publish_member_policy(&mut *tx, org, user, now).await?;
            close_shares_if_gated(&mut *tx, user).await?;
        }
        // The audit chain's head last, after the members' scopes: a push
        // takes its scope and then the head (a consent change is
        // audited), so the other order deadlocked with it on PostgreSQL.
        crate::store::audit::append(
            &mut *tx,
            &crate::store::audit::Event::org(
                "location_policy_changed",
                org,
                actor,
                serde_json::to_value(req).map_err(|_| StoreError::Decode("change"))?,
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(policy)
    }

    /// Switches location off (or back on) for one member; `false` when
    /// they are not a member.
    pub async fn set_member_location(
        &self,
        org: Uuid,
        actor: Uuid,
        member: Uuid,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const MEMBER_SET_LOCATION: &str =
            "UPDATE org_members SET location_enabled = ?3 WHERE org_id = ?1 AND user_id = ?2";
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                MEMBER_SET_LOCATION,
                vec![org.into(), member.into(), i64::from(enabled).into()],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            POLICY_CHANGE_INSERT,
            vec![
                Uuid::new_v4().into(),
                org.into(),
                actor.into(),
                member.into(),
                serde_json::json!({ "member_enabled": enabled })
                    .to_string()
                    .into(),
                ms(now).into(),
            ],
        )
        .await?;
        publish_member_policy(&mut *tx, org, member, now).await?;
        close_shares_if_gated(&mut *tx, member).await?;
        crate::store::audit::append(
            &mut *tx,
            &crate::store::audit::Event::org(
                "member_location_changed",
                org,
                actor,
                serde_json::json!({ "member_id": member, "enabled": enabled }),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every recorded change of an organisation's location settings.
    pub async fn policy_changes(&self, org: Uuid) -> Result<Vec<PolicyChange>, StoreError> {
        const POLICY_CHANGES: &str = "SELECT actor_id, member_id, change, changed_at FROM org_policy_changes WHERE org_id = ?1 ORDER BY changed_at, id";
        self.db
            .query(POLICY_CHANGES, vec![org.into()])
            .await?
            .iter()
            .map(|r| {
                Ok(PolicyChange {
                    actor_id: r.uuid("actor_id")?,
                    member_id: r.opt_uuid("member_id")?,
                    change: serde_json::from_str(&r.text("change")?)
                        .map_err(|_| StoreError::Decode("change"))?,
                    at: at(r.i64("changed_at")?)?,
                })
            })
            .collect()
    }
}
