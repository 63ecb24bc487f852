//! Live location sharing: shares with recipients in a common organisation,
//! the latest position of each (sealed under the sharer's key), and their
//! end: on expiry, on a closed gate, or when sharer and recipient no longer
//! share an organisation. Positions never outlive the permission to share
//! them.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use praxis_protocol::privacy::{
    Closed, Purpose, Share, SharePosition, SharedLocation, visit_events,
};
use praxis_protocol::sync::FieldValue;
use serde_json::Value;
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{StoreError, Tx, at, ms};
use crate::store::privacy::Gates;
use crate::store::records::{
    SealedProfile, open_fields, publish, scope_user, server_hlc, user_context,
};
use crate::store::vault::{open_for, seal_for};

const SHARE_GET: &str =
    "SELECT user_id, started_at, expires_at FROM location_shares WHERE id = ?1 /*FOR UPDATE*/";

const SHARE_DELETE: &str = "DELETE FROM location_shares WHERE id = ?1";

const SHARES_DELETE_EXPIRED: &str = "DELETE FROM location_shares WHERE expires_at <= ?1";

/// Drops the recipients of ?1's shares who no longer share an
/// organisation with ?1.
const SHARE_RECIPIENTS_PRUNE_OF_SHARER: &str = "DELETE FROM location_share_recipients WHERE share_id IN (SELECT id FROM location_shares WHERE user_id = ?1) AND NOT EXISTS (SELECT 1 FROM org_members a JOIN org_members b ON a.org_id = b.org_id WHERE a.user_id = ?1 AND b.user_id = location_share_recipients.user_id)";

/// Live location goes only to people who share an organisation with the
/// sharer. After a membership change of `user`, in the same transaction:
/// `user` stops receiving from sharers they no longer share an
/// organisation with, those recipients stop receiving from `user`, and a
/// share left with no recipient ends (its position is deleted).
pub(in crate::store) async fn end_shares_without_common_org(
    tx: &mut dyn Tx,
    user: Uuid,
) -> Result<(), StoreError> {
    // Ends the shares left with nobody to receive them (positions go too).
    const SHARES_DELETE_EMPTY: &str = "DELETE FROM location_shares WHERE NOT EXISTS (SELECT 1 FROM location_share_recipients r WHERE r.share_id = location_shares.id)";
    // Drops ?1 from the shares of sharers who no longer share an organisation
    // with ?1.
    const SHARE_RECIPIENTS_PRUNE_OF_RECIPIENT: &str = "DELETE FROM location_share_recipients WHERE user_id = ?1 AND NOT EXISTS (SELECT 1 FROM location_shares s JOIN org_members a ON a.user_id = s.user_id JOIN org_members b ON b.org_id = a.org_id WHERE s.id = location_share_recipients.share_id AND b.user_id = ?1)";
    tx.execute(SHARE_RECIPIENTS_PRUNE_OF_SHARER, vec![user.into()])
        .await?;
    tx.execute(SHARE_RECIPIENTS_PRUNE_OF_RECIPIENT, vec![user.into()])
        .await?;
    tx.execute(SHARES_DELETE_EMPTY, vec![]).await?;
    Ok(())
}

/// Deletes the user's live shares when their sharing gate is closed.
pub(in crate::store) async fn close_shares_if_gated(
    tx: &mut dyn Tx,
    user: Uuid,
) -> Result<(), StoreError> {
    if Gates::load(tx, user)
        .await?
        .check(Purpose::LocationSharing)
        .is_err()
    {
        tx.execute(
            crate::store::privacy::restriction::SHARES_DELETE_OF_USER,
            vec![user.into()],
        )
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
pub(in crate::store) fn position_context(share: Uuid) -> String {
    format!("location_positions/{share}")
}

/// A share's latest position, sealed under the sharer's key.
pub(in crate::store) async fn open_position(
    tx: &mut dyn Tx,
    sharer: Uuid,
    share: Uuid,
    stored: String,
) -> Result<SharePosition, StoreError> {
    let t = open_for(tx, sharer, &position_context(share), stored).await?;
    serde_json::from_str(&t).map_err(|_| StoreError::Decode("position"))
}

/// Most live shares one account may run at once (each has up to 20
/// recipients).
pub const MAX_LIVE_SHARES: i64 = 10;

impl Store {
    /// Starts a live share (replacing none: a user may run several).
    pub async fn start_share(
        &self,
        user: Uuid,
        recipients: &[Uuid],
        minutes: u32,
        now: DateTime<Utc>,
    ) -> Result<ShareOutcome, StoreError> {
        const SHARE_COMEMBER: &str = "SELECT 1 FROM org_members a JOIN org_members b ON a.org_id = b.org_id WHERE a.user_id = ?1 AND b.user_id = ?2 LIMIT 1";
        const SHARE_RECIPIENT_INSERT: &str =
            "INSERT INTO location_share_recipients (share_id, user_id) VALUES (?1, ?2)";
        const SHARE_INSERT: &str = "INSERT INTO location_shares (id, user_id, started_at, expires_at) VALUES (?1, ?2, ?3, ?4)";
        const LIVE_SHARES_COUNT: &str =
            "SELECT COUNT(*) FROM location_shares WHERE user_id = ?1 AND expires_at > ?2";
        let mut tx = self.begin().await?;
        crate::store::accounts::lock_user(&mut *tx, user).await?;
        let live = tx
            .query(LIVE_SHARES_COUNT, vec![user.into(), ms(now).into()])
            .await?;
        if live.first().ok_or(StoreError::Decode("count"))?.i64(0)? >= MAX_LIVE_SHARES {
            return Err(StoreError::LimitReached("live_shares"));
        }
        if let Err(closed) = Gates::load(&mut *tx, user)
            .await?
            .check(Purpose::LocationSharing)
        {
            return Ok(ShareOutcome::Closed(closed));
        }
        for r in recipients {
            let known = tx
                .query(SHARE_COMEMBER, vec![user.into(), (*r).into()])
                .await?;
            if known.is_empty() || *r == user {
                return Ok(ShareOutcome::UnknownRecipient);
            }
        }
        let id = Uuid::new_v4();
        let expires_at = now + Duration::minutes(i64::from(minutes));
        tx.execute(
            SHARE_INSERT,
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
            tx.execute(SHARE_RECIPIENT_INSERT, vec![id.into(), (*r).into()])
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
        const POSITION_PUT: &str = "INSERT INTO location_positions (share_id, position, updated_at) VALUES (?1, ?2, ?3) ON CONFLICT (share_id) DO UPDATE SET position = ?2, updated_at = ?3";
        // The same, for the shares of ?1 only (the position-write path).
        const SHARES_DELETE_EMPTY_OF_USER: &str = "DELETE FROM location_shares WHERE user_id = ?1 AND NOT EXISTS (SELECT 1 FROM location_share_recipients r WHERE r.share_id = location_shares.id)";
        let mut tx = self.begin().await?;
        let rows = tx.query(SHARE_GET, vec![share.into()]).await?;
        let Some(r) = rows.first() else {
            return Ok(PositionOutcome::NotFound);
        };
        if r.uuid("user_id")? != user {
            return Ok(PositionOutcome::NotFound);
        }
        let expires_at = r.i64("expires_at")?;
        // The common-organisation rule holds on every position written: a
        // recipient who left (or was removed) gets nothing more. Only this
        // sharer's shares are looked at (a membership change already
        // settled both directions, see `end_shares_without_common_org`).
        tx.execute(SHARE_RECIPIENTS_PRUNE_OF_SHARER, vec![user.into()])
            .await?;
        tx.execute(SHARES_DELETE_EMPTY_OF_USER, vec![user.into()])
            .await?;
        let ended = tx.query(SHARE_GET, vec![share.into()]).await?.is_empty();
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
                        POSITION_PUT,
                        vec![share.into(), json.into(), ms(now).into()],
                    )
                    .await?;
                    PositionOutcome::Stored
                }
            }
        };
        if !matches!(outcome, PositionOutcome::Stored) {
            tx.execute(SHARE_DELETE, vec![share.into()]).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Stops a share of `user` (its position goes with it); `false` when
    /// there is no such share.
    pub async fn stop_share(&self, user: Uuid, share: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let rows = tx.query(SHARE_GET, vec![share.into()]).await?;
        if rows.first().map(|r| r.uuid("user_id")).transpose()? != Some(user) {
            return Ok(false);
        }
        tx.execute(SHARE_DELETE, vec![share.into()]).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes every ended share (positions with it) when there is one: a
    /// read finds none almost always, and then takes no write lock.
    async fn delete_ended_shares(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        const ANY_ENDED: &str = "SELECT 1 FROM location_shares WHERE expires_at <= ?1 LIMIT 1";
        if self
            .db
            .query(ANY_ENDED, vec![ms(now).into()])
            .await?
            .is_empty()
        {
            return Ok(());
        }
        // Bulk: however many shares ended since the last read.
        let mut tx = self.begin_bulk().await?;
        tx.execute(SHARES_DELETE_EXPIRED, vec![ms(now).into()])
            .await?;
        tx.commit().await
    }

    /// The user's live shares that have not ended (ended ones are deleted).
    pub async fn shares_of(
        &self,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<Share>, StoreError> {
        const SHARE_RECIPIENTS: &str =
            "SELECT user_id FROM location_share_recipients WHERE share_id = ?1 ORDER BY user_id";
        const SHARES_OF_USER: &str = "SELECT id, started_at, expires_at FROM location_shares WHERE user_id = ?1 ORDER BY started_at, id";
        self.delete_ended_shares(now).await?;
        let mut tx = self.begin_read().await?;
        let rows = tx.query(SHARES_OF_USER, vec![user.into()]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id = r.uuid("id")?;
            let recipients = tx
                .query(SHARE_RECIPIENTS, vec![id.into()])
                .await?
                .iter()
                .map(|x| x.uuid(0))
                .collect::<Result<_, _>>()?;
            out.push(Share {
                share_id: id,
                recipients,
                started_at: at(r.i64("started_at")?)?,
                expires_at: at(r.i64("expires_at")?)?,
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
        // Shares others run with ?1 that have not ended and whose sharer still
        // shares an organisation with ?1 (checked on every read, not only when
        // the share started).
        const SHARES_WITH_USER: &str = "SELECT s.id, s.user_id, u.sealed, s.expires_at, p.position FROM location_share_recipients r JOIN location_shares s ON s.id = r.share_id JOIN users u ON u.id = s.user_id LEFT JOIN location_positions p ON p.share_id = s.id WHERE r.user_id = ?1 AND s.expires_at > ?2 AND EXISTS (SELECT 1 FROM org_members a JOIN org_members b ON a.org_id = b.org_id WHERE a.user_id = s.user_id AND b.user_id = ?1) ORDER BY s.started_at, s.id";
        self.delete_ended_shares(now).await?;
        let mut tx = self.begin_read().await?;
        let rows = tx
            .query(SHARES_WITH_USER, vec![user.into(), ms(now).into()])
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let (share_id, sharer) = (r.uuid("id")?, r.uuid("user_id")?);
            let profile =
                open_for(&mut *tx, sharer, &user_context(sharer), r.text("sealed")?).await?;
            let profile: SealedProfile =
                serde_json::from_str(&profile).map_err(|_| StoreError::Decode("sealed profile"))?;
            let position = match r.opt_text("position")? {
                Some(t) => Some(open_position(&mut *tx, sharer, share_id, t).await?),
                None => None,
            };
            out.push(SharedLocation {
                share_id,
                user_id: sharer,
                full_name: profile.full_name,
                expires_at: at(r.i64("expires_at")?)?,
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
        const VISIT_FIXES_EXPIRED: &str = "SELECT scope, record_id, fields FROM sync_records WHERE collection = 'visit_events' AND deleted IS NULL AND updated_at < ?1";
        let mut tx = self.begin_bulk().await?;
        let shares = tx
            .execute(SHARES_DELETE_EXPIRED, vec![ms(now).into()])
            .await?;
        // The shortest retention an admin can set is one day.
        let rows = tx
            .query(
                VISIT_FIXES_EXPIRED,
                vec![ms(now - Duration::days(1)).into()],
            )
            .await?;
        let mut retention: BTreeMap<String, u32> = BTreeMap::new();
        let mut cleared = 0;
        for r in &rows {
            let scope = r.text("scope")?;
            let Ok(user) = scope_user(&scope) else {
                continue;
            };
            let id = r.text("record_id")?;
            let mut fields = open_fields(
                &mut *tx,
                user,
                visit_events::COLLECTION,
                &id,
                r.text("fields")?,
            )
            .await?;
            if !visit_events::has_raw_fix(&fields) {
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
            let taken = visit_events::taken_at(&fields);
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
