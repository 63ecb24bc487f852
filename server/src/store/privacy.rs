//! Consent policy versions, organisation location policy, restriction and
//! live location sharing.
//!
//! Organisation policy reaches devices as server-authored `org_policy`
//! records written into each member's scope (fan-out on change), so a
//! device that cannot sync keeps the last policy it saw and one pull
//! brings the new one. Whenever a change can close the sharing gate of a
//! user, their live shares are deleted in the same transaction: positions
//! never outlive the permission to share them.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use praxis_protocol::location::Precision;
use praxis_protocol::privacy::{
    self, Closed, Effective, LocationPolicy, PolicyChange, PrivacyState, Purpose, Share,
    SharePosition, SharedLocation, UpdateLocationPolicyRequest, consents, org_policy, visit_events,
};
use praxis_protocol::sync::{FieldValue, Fields, Hlc, SyncRecord};
use serde_json::Value;
use uuid::Uuid;

use super::db::{StoreError, Tx, Val};
use super::domain::{SealedProfile, at, ms, open_fields, scope_user, seal_fields, user_context};
use super::vault::{open_for, seal_for};
use super::{Store, sql};
use crate::sync::user_scope;

/// The HLC of a server-authored write at `now`.
pub(crate) fn server_hlc(now: DateTime<Utc>) -> String {
    Hlc {
        wall_ms: u64::try_from(ms(now)).unwrap_or(0),
        counter: 0,
        node: "server".into(),
    }
    .to_string()
}

/// Writes a server-authored record (or its tombstone) into a user's scope
/// under a new version.
pub(super) async fn publish(
    tx: &mut dyn Tx,
    user: Uuid,
    collection: &str,
    id: &str,
    fields: &Fields,
    deleted: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let scope = user_scope(user);
    let sealed = seal_fields(tx, user, collection, id, fields, ms(now)).await?;
    let seq = tx
        .query(sql::SCOPE_NEXT, vec![scope.as_str().into()])
        .await?
        .first()
        .ok_or(StoreError::Decode("scope sequence"))?
        .i64(0)?;
    tx.execute(
        sql::RECORD_UPSERT,
        vec![
            collection.into(),
            id.into(),
            scope.as_str().into(),
            seq.into(),
            sealed.into(),
            deleted.into(),
            ms(now).into(),
        ],
    )
    .await?;
    Ok(())
}

/// The id of a member's `org_policy` record: stable per (organisation,
/// member), unique across scopes.
fn policy_record_id(org: Uuid, user: Uuid) -> String {
    Uuid::new_v5(&org, user.as_bytes()).to_string()
}

async fn read_policy(
    tx: &mut dyn Tx,
    org: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<LocationPolicy>, StoreError> {
    let rows = tx.query(sql::ORG_SETTINGS, vec![org.into()]).await?;
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
pub(super) async fn publish_member_policy(
    tx: &mut dyn Tx,
    org: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(policy) = read_policy(tx, org, now).await? else {
        return Ok(());
    };
    let enabled = tx
        .query(sql::MEMBER_LOCATION, vec![org.into(), user.into()])
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
pub(super) async fn withdraw_member_policy(
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

/// Live location goes only to people who share an organisation with the
/// sharer. After a membership change of `user`, in the same transaction:
/// `user` stops receiving from sharers they no longer share an
/// organisation with, those recipients stop receiving from `user`, and a
/// share left with no recipient ends (its position is deleted).
pub(super) async fn end_shares_without_common_org(
    tx: &mut dyn Tx,
    user: Uuid,
) -> Result<(), StoreError> {
    tx.execute(sql::SHARE_RECIPIENTS_PRUNE_OF_SHARER, vec![user.into()])
        .await?;
    tx.execute(sql::SHARE_RECIPIENTS_PRUNE_OF_RECIPIENT, vec![user.into()])
        .await?;
    tx.execute(sql::SHARES_DELETE_EMPTY, vec![]).await?;
    Ok(())
}

/// The user's consent ledger as the gates rank it. Each entry counts from
/// the earlier of its device time and the server's receipt (records of the
/// ledger are append-only, so `updated_at` is the receipt): a grant dated
/// in the future by a wrong clock cannot outrank a withdrawal received
/// after it, while an entry made offline keeps its earlier device time.
async fn consent_ledger(tx: &mut dyn Tx, user: Uuid) -> Result<Vec<consents::Entry>, StoreError> {
    let rows = tx
        .query(sql::SCOPE_CONSENTS, vec![user_scope(user).into()])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id = r.text(0)?;
        let fields = open_fields(tx, user, consents::COLLECTION, &id, r.text(1)?).await?;
        if let Some(mut e) = consents::Entry::from_fields(&id, &fields) {
            e.at = e.at.min(at(r.i64(2)?)?);
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
    let rows = tx
        .query(
            sql::SCOPE_COLLECTION,
            vec![user_scope(user).into(), collection.into()],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id = r.text(0)?;
        let fields = open_fields(tx, user, collection, &id, r.text(1)?).await?;
        out.push((id, fields));
    }
    Ok(out)
}

async fn versions(tx: &mut dyn Tx) -> Result<BTreeMap<Purpose, u32>, StoreError> {
    let mut out: BTreeMap<Purpose, u32> = Purpose::ALL.into_iter().map(|p| (p, 1)).collect();
    for r in tx.query(sql::CONSENT_POLICIES, vec![]).await? {
        if let Some(p) = Purpose::parse(&r.text(0)?) {
            out.insert(p, u32::try_from(r.i64(1)?).unwrap_or(u32::MAX));
        }
    }
    Ok(out)
}

/// Whether processing of `user`'s account is restricted.
pub(super) async fn restricted(tx: &mut dyn Tx, user: Uuid) -> Result<bool, StoreError> {
    restricted_by(tx, user, sql::USER_RESTRICTED).await
}

/// The same, holding the account's row until commit: a restriction set
/// meanwhile waits for this transaction.
pub(super) async fn restricted_locked(tx: &mut dyn Tx, user: Uuid) -> Result<bool, StoreError> {
    restricted_by(tx, user, sql::USER_RESTRICTED_LOCKED).await
}

async fn restricted_by(
    tx: &mut dyn Tx,
    user: Uuid,
    query: &'static str,
) -> Result<bool, StoreError> {
    Ok(tx
        .query(query, vec![user.into()])
        .await?
        .first()
        .map(|r| r.opt_i64(0))
        .transpose()?
        .flatten()
        .is_some())
}

/// What the gates look like for one user, read inside a transaction.
pub(super) struct Gates {
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
    pub(super) async fn load(tx: &mut dyn Tx, user: Uuid) -> Result<Self, StoreError> {
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
    pub(super) fn check(&self, purpose: Purpose) -> Result<Precision, Closed> {
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
    pub(super) fn version(&self, purpose: Purpose) -> u32 {
        self.versions.get(&purpose).copied().unwrap_or(1)
    }

    pub(super) fn retention_days(&self) -> u32 {
        self.effective.retention_days
    }
}

/// Deletes the user's live shares when their sharing gate is closed.
pub(super) async fn close_shares_if_gated(tx: &mut dyn Tx, user: Uuid) -> Result<(), StoreError> {
    if Gates::load(tx, user)
        .await?
        .check(Purpose::LocationSharing)
        .is_err()
    {
        tx.execute(sql::SHARES_DELETE_OF_USER, vec![user.into()])
            .await?;
    }
    Ok(())
}

/// The outcome of starting a share.
#[derive(Debug)]
pub enum ShareOutcome {
    /// Started.
    Started(Share),
    /// A gate is closed.
    Closed(Closed),
    /// A recipient shares no organisation with the user (or is unknown).
    UnknownRecipient,
}

/// The outcome of sending a position.
#[derive(Debug)]
pub enum PositionOutcome {
    /// Stored (replacing the previous one).
    Stored,
    /// No such share of this user.
    NotFound,
    /// The share has ended; it is deleted now.
    Expired,
    /// A gate closed; the share is deleted now.
    Closed(Closed),
}

/// The associated data of a share's sealed position.
pub(super) fn position_context(share: Uuid) -> String {
    format!("location_positions/{share}")
}

/// A share's latest position, sealed under the sharer's key.
pub(super) async fn open_position(
    tx: &mut dyn Tx,
    sharer: Uuid,
    share: Uuid,
    stored: String,
) -> Result<SharePosition, StoreError> {
    let t = open_for(tx, sharer, &position_context(share), stored).await?;
    serde_json::from_str(&t).map_err(|_| StoreError::Decode("position"))
}

impl Store {
    /// The published policy version of every purpose (1 until raised).
    pub async fn policy_versions(&self) -> Result<BTreeMap<Purpose, u32>, StoreError> {
        let mut tx = self.begin().await?;
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
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                sql::CONSENT_POLICY_PUBLISH,
                vec![
                    purpose.as_str().into(),
                    i64::from(version).into(),
                    ms(now).into(),
                ],
            )
            .await?;
        // Every user's sharing gate may have closed; their shares end.
        if n > 0 && purpose == Purpose::LocationSharing {
            tx.execute(sql::SHARES_DELETE_EXPIRED, vec![i64::MAX.into()])
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// What a device needs before other sync work (see [`PrivacyState`]).
    pub async fn privacy_state(&self, user: Uuid) -> Result<PrivacyState, StoreError> {
        let mut tx = self.begin().await?;
        let gates = Gates::load(&mut *tx, user).await?;
        let rows = tx
            .query(
                sql::SCOPE_COLLECTION_RECORDS,
                vec![user_scope(user).into(), org_policy::COLLECTION.into()],
            )
            .await?;
        let mut org_policies = Vec::with_capacity(rows.len());
        for r in rows {
            let (collection, id) = (r.text(0)?, r.text(1)?);
            let fields = open_fields(&mut *tx, user, &collection, &id, r.text(3)?).await?;
            org_policies.push(SyncRecord {
                collection,
                id,
                version: r.i64(2)?,
                fields,
                deleted: None,
            });
        }
        tx.commit().await?;
        Ok(PrivacyState {
            policy_versions: gates.versions,
            restricted: gates.restricted,
            org_policies,
        })
    }

    /// Whether processing of the account is restricted.
    pub async fn is_restricted(&self, user: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let r = restricted(&mut *tx, user).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Restricts processing of the account, or lifts the restriction.
    /// Restricting ends the user's live shares at once.
    pub async fn set_restricted(
        &self,
        user: Uuid,
        restricted: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(
            sql::USER_SET_RESTRICTED,
            vec![user.into(), restricted.then(|| ms(now)).into()],
        )
        .await?;
        if restricted {
            tx.execute(sql::SHARES_DELETE_OF_USER, vec![user.into()])
                .await?;
        }
        tx.commit().await
    }

    /// An organisation's location policy.
    pub async fn location_policy(
        &self,
        org: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<LocationPolicy>, StoreError> {
        let mut tx = self.begin().await?;
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
        let mut tx = self.begin().await?;
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
        policy.updated_at = now;
        policy.updated_by = Some(actor);
        let settings = tx.query(sql::ORG_SETTINGS, vec![org.into()]).await?;
        let mut settings: Value = settings
            .first()
            .map(|r| r.text(0))
            .transpose()?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| Value::Object(Default::default()));
        settings["location"] =
            serde_json::to_value(&policy).map_err(|_| StoreError::Decode("policy"))?;
        tx.execute(
            sql::ORG_SET_SETTINGS,
            vec![org.into(), settings.to_string().into(), ms(now).into()],
        )
        .await?;
        let change = serde_json::to_string(req).map_err(|_| StoreError::Decode("change"))?;
        tx.execute(
            sql::POLICY_CHANGE_INSERT,
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
        super::audit::append(
            &mut *tx,
            &super::audit::Event::org(
                "location_policy_changed",
                org,
                actor,
                serde_json::to_value(req).map_err(|_| StoreError::Decode("change"))?,
            ),
            now,
        )
        .await?;
        let members = tx.query(sql::MEMBERS_LOCATION, vec![org.into()]).await?;
        for m in &members {
            let user = m.uuid(0)?;
            publish_member_policy(&mut *tx, org, user, now).await?;
            close_shares_if_gated(&mut *tx, user).await?;
        }
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
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                sql::MEMBER_SET_LOCATION,
                vec![org.into(), member.into(), i64::from(enabled).into()],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            sql::POLICY_CHANGE_INSERT,
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
        super::audit::append(
            &mut *tx,
            &super::audit::Event::org(
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
        self.db
            .query(sql::POLICY_CHANGES, vec![org.into()])
            .await?
            .iter()
            .map(|r| {
                Ok(PolicyChange {
                    actor_id: r.uuid(0)?,
                    member_id: r.opt_uuid(1)?,
                    change: serde_json::from_str(&r.text(2)?)
                        .map_err(|_| StoreError::Decode("change"))?,
                    at: at(r.i64(3)?)?,
                })
            })
            .collect()
    }

    /// Starts a live share (replacing none: a user may run several).
    pub async fn start_share(
        &self,
        user: Uuid,
        recipients: &[Uuid],
        minutes: u32,
        now: DateTime<Utc>,
    ) -> Result<ShareOutcome, StoreError> {
        let mut tx = self.begin().await?;
        if let Err(closed) = Gates::load(&mut *tx, user)
            .await?
            .check(Purpose::LocationSharing)
        {
            return Ok(ShareOutcome::Closed(closed));
        }
        for r in recipients {
            let known = tx
                .query(sql::SHARE_COMEMBER, vec![user.into(), (*r).into()])
                .await?;
            if known.is_empty() || *r == user {
                return Ok(ShareOutcome::UnknownRecipient);
            }
        }
        let id = Uuid::new_v4();
        let expires_at = now + Duration::minutes(i64::from(minutes));
        tx.execute(
            sql::SHARE_INSERT,
            vec![
                id.into(),
                user.into(),
                ms(now).into(),
                ms(expires_at).into(),
            ],
        )
        .await?;
        let mut recipients = recipients.to_vec();
        recipients.sort();
        recipients.dedup();
        for r in &recipients {
            tx.execute(sql::SHARE_RECIPIENT_INSERT, vec![id.into(), (*r).into()])
                .await?;
        }
        tx.commit().await?;
        Ok(ShareOutcome::Started(Share {
            share_id: id,
            recipients,
            started_at: now,
            expires_at,
        }))
    }

    /// Stores the latest position of a share, checking on every fix that
    /// the share has not ended and that both gates are still open (a share
    /// found ended or closed is deleted on the spot, positions included).
    /// The position is reduced to the precision allowed.
    pub async fn put_position(
        &self,
        user: Uuid,
        share: Uuid,
        mut pos: SharePosition,
        now: DateTime<Utc>,
    ) -> Result<PositionOutcome, StoreError> {
        let mut tx = self.begin().await?;
        let rows = tx.query(sql::SHARE_GET, vec![share.into()]).await?;
        let Some(r) = rows.first() else {
            return Ok(PositionOutcome::NotFound);
        };
        if r.uuid(0)? != user {
            return Ok(PositionOutcome::NotFound);
        }
        let expires_at = r.i64(2)?;
        // The common-organisation rule holds on every position written: a
        // recipient who left (or was removed) gets nothing more. Only this
        // sharer's shares are looked at (a membership change already
        // settled both directions, see `end_shares_without_common_org`).
        tx.execute(sql::SHARE_RECIPIENTS_PRUNE_OF_SHARER, vec![user.into()])
            .await?;
        tx.execute(sql::SHARES_DELETE_EMPTY_OF_USER, vec![user.into()])
            .await?;
        let ended = tx
            .query(sql::SHARE_GET, vec![share.into()])
            .await?
            .is_empty();
        let outcome = if ended || expires_at <= ms(now) {
            PositionOutcome::Expired
        } else {
            match Gates::load(&mut *tx, user)
                .await?
                .check(Purpose::LocationSharing)
            {
                Err(c) => PositionOutcome::Closed(c),
                Ok(allowed) => {
                    let precision = pos.precision.min(allowed);
                    let Some((lat, lon, acc)) = praxis_protocol::location::apply_precision(
                        precision,
                        pos.lat,
                        pos.lon,
                        pos.accuracy_m,
                    ) else {
                        return Ok(PositionOutcome::Closed(Closed::PolicyDisabled));
                    };
                    (pos.lat, pos.lon, pos.accuracy_m, pos.precision) = (lat, lon, acc, precision);
                    let json =
                        serde_json::to_string(&pos).map_err(|_| StoreError::Decode("position"))?;
                    let json =
                        seal_for(&mut *tx, user, &position_context(share), &json, ms(now)).await?;
                    tx.execute(
                        sql::POSITION_PUT,
                        vec![share.into(), json.into(), ms(now).into()],
                    )
                    .await?;
                    PositionOutcome::Stored
                }
            }
        };
        if !matches!(outcome, PositionOutcome::Stored) {
            tx.execute(sql::SHARE_DELETE, vec![share.into()]).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Stops a share of `user` (its position goes with it); `false` when
    /// there is no such share.
    pub async fn stop_share(&self, user: Uuid, share: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let rows = tx.query(sql::SHARE_GET, vec![share.into()]).await?;
        if rows.first().map(|r| r.uuid(0)).transpose()? != Some(user) {
            return Ok(false);
        }
        tx.execute(sql::SHARE_DELETE, vec![share.into()]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The user's live shares that have not ended (ended ones are deleted).
    pub async fn shares_of(
        &self,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<Share>, StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(sql::SHARES_DELETE_EXPIRED, vec![ms(now).into()])
            .await?;
        let rows = tx.query(sql::SHARES_OF_USER, vec![user.into()]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id = r.uuid(0)?;
            let recipients = tx
                .query(sql::SHARE_RECIPIENTS, vec![id.into()])
                .await?
                .iter()
                .map(|x| x.uuid(0))
                .collect::<Result<_, _>>()?;
            out.push(Share {
                share_id: id,
                recipients,
                started_at: at(r.i64(1)?)?,
                expires_at: at(r.i64(2)?)?,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Live shares others run with `user`, checked for expiry on this very
    /// read (ended ones are deleted, not just hidden).
    pub async fn shared_with(
        &self,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<SharedLocation>, StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(sql::SHARES_DELETE_EXPIRED, vec![ms(now).into()])
            .await?;
        let rows = tx
            .query(sql::SHARES_WITH_USER, vec![user.into(), ms(now).into()])
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let (share_id, sharer) = (r.uuid(0)?, r.uuid(1)?);
            let profile = open_for(&mut *tx, sharer, &user_context(sharer), r.text(2)?).await?;
            let profile: SealedProfile =
                serde_json::from_str(&profile).map_err(|_| StoreError::Decode("sealed profile"))?;
            let position = match r.opt_text(4)? {
                Some(t) => Some(open_position(&mut *tx, sharer, share_id, t).await?),
                None => None,
            };
            out.push(SharedLocation {
                share_id,
                user_id: sharer,
                full_name: profile.full_name,
                expires_at: at(r.i64(3)?)?,
                position,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Retention of location data: deletes ended shares, and clears the
    /// raw fix of visit events older than the user's retention period.
    /// Returns (shares deleted, visit fixes cleared).
    pub async fn purge_location(&self, now: DateTime<Utc>) -> Result<(u64, u64), StoreError> {
        let mut tx = self.begin().await?;
        let shares = tx
            .execute(sql::SHARES_DELETE_EXPIRED, vec![ms(now).into()])
            .await?;
        // The shortest retention an admin can set is one day.
        let rows = tx
            .query(
                sql::VISIT_FIXES_EXPIRED,
                vec![ms(now - Duration::days(1)).into()],
            )
            .await?;
        let mut retention: BTreeMap<String, u32> = BTreeMap::new();
        let mut cleared = 0;
        for r in &rows {
            let scope = r.text(0)?;
            let Ok(user) = scope_user(&scope) else {
                continue;
            };
            let id = r.text(1)?;
            let mut fields =
                open_fields(&mut *tx, user, visit_events::COLLECTION, &id, r.text(2)?).await?;
            if visit_events::RAW_FIX
                .iter()
                .all(|k| fields.get(*k).is_none_or(|f| f.v.is_null()))
            {
                continue;
            }
            let days = match retention.get(&scope) {
                Some(d) => *d,
                None => {
                    let d = Gates::load(&mut *tx, user).await?.retention_days();
                    retention.insert(scope.clone(), d);
                    d
                }
            };
            let taken: Option<DateTime<Utc>> = fields
                .get("at")
                .and_then(|f| f.v.as_str())
                .and_then(|s| s.parse().ok());
            if taken.is_some_and(|t| t > now - Duration::days(i64::from(days))) {
                continue;
            }
            let t = server_hlc(now);
            for k in visit_events::RAW_FIX {
                fields.insert(
                    (*k).to_owned(),
                    FieldValue {
                        v: Value::Null,
                        t: t.clone(),
                    },
                );
            }
            publish(
                &mut *tx,
                user,
                visit_events::COLLECTION,
                &id,
                &fields,
                None,
                now,
            )
            .await?;
            cleared += 1;
        }
        tx.commit().await?;
        Ok((shares, cleared))
    }
}
