//! Contact sharing: cards, invitations, shares (who holds whose card),
//! blocks and rate-limit counters.
//!
//! A holder's copy of a card is a server-authored `contacts` record in the
//! holder's sync scope, holding only the fields shared with them. It is
//! rewritten when the owner edits the card and replaced by a tombstone
//! (no fields) when the share ends: the server keeps no copy for a former
//! holder, and their devices drop theirs at the next pull.

use chrono::{DateTime, Utc};
use praxis_protocol::contacts::{self, ContactCard, Holder};
use praxis_protocol::sync::{FieldValue, Fields};
use serde_json::Value;
use uuid::Uuid;

use crate::store::Store;
use crate::store::accounts::read_user;
use crate::store::backend::{StoreError, Tx};
use crate::store::backend::{at, ms};
use crate::store::records::{publish, server_hlc};
use crate::store::vault::{open_for, seal_for};

mod invitations;

pub use invitations::{Offer, RedeemError};

pub(crate) const CARD_PUT: &str = "INSERT INTO contact_cards (user_id, card, updated_at) VALUES (?1, ?2, ?3) ON CONFLICT (user_id) DO UPDATE SET card = ?2, updated_at = ?3";

const SHARE_GET_PAIR: &str = "SELECT fields, allow_forward, forwarded_by, created_at FROM contact_shares WHERE owner_id = ?1 AND holder_id = ?2";

pub(crate) const SHARES_BY_OWNER: &str = "SELECT holder_id, fields, allow_forward, forwarded_by, created_at FROM contact_shares WHERE owner_id = ?1 ORDER BY created_at, holder_id";

const BLOCKED: &str = "SELECT 1 FROM contact_blocks WHERE user_id = ?1 AND blocked_id = ?2";

/// The outcome of a forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardOutcome {
    /// Done.
    Forwarded,
    /// The caller does not hold that card (or it is unknown).
    NotHeld,
    /// The owner did not allow forwarding to the caller.
    NotAllowed,
    /// The target is not one of the caller's connections.
    NotConnected,
    /// The target blocked the owner or the caller.
    Blocked,
    /// The caller's account is restricted.
    Restricted,
}

fn fields_json(fields: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(fields).map_err(|_| StoreError::Decode("fields"))
}

fn parse_list(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|_| StoreError::Decode("fields"))
}

async fn exists(tx: &mut dyn Tx, sql: &'static str, a: Uuid, b: Uuid) -> Result<bool, StoreError> {
    Ok(!tx.query(sql, vec![a.into(), b.into()]).await?.is_empty())
}

/// The user's card, or one made from their profile if they never set one.
async fn card_of(tx: &mut dyn Tx, user: Uuid) -> Result<Option<ContactCard>, StoreError> {
    const CARD_GET: &str = "SELECT card FROM contact_cards WHERE user_id = ?1";
    if let Some(r) = tx.query(CARD_GET, vec![user.into()]).await?.first() {
        let text = open_for(tx, user, &card_context(user), r.text(0)?).await?;
        return serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| StoreError::Decode("card"));
    }
    Ok(read_user(tx, user, false).await?.map(|u| ContactCard {
        display_name: u.full_name,
        profession: Some(u.profession),
        ..ContactCard::default()
    }))
}

/// The associated data of a sealed contact card.
pub(super) fn card_context(user: Uuid) -> String {
    format!("contact_cards/{user}")
}

/// The holder's view of a card: only the shared fields.
pub(super) fn visible(
    owner: Uuid,
    card: &ContactCard,
    fields: &[String],
    allow_forward: bool,
    forwarded_by: Option<Uuid>,
    t: &str,
) -> Fields {
    let fv = |v: Value| FieldValue { v, t: t.to_owned() };
    let mut out = Fields::new();
    out.insert("owner_id".into(), fv(owner.to_string().into()));
    for f in fields {
        if let Some(v) = card.field(f) {
            out.insert(f.clone(), fv(v));
        }
    }
    out.insert("shared_fields".into(), fv(fields.to_vec().into()));
    out.insert("allow_forward".into(), fv(allow_forward.into()));
    out.insert(
        "forwarded_by".into(),
        fv(forwarded_by.map_or(Value::Null, |u| u.to_string().into())),
    );
    out
}

/// Records a share and writes the holder's copy.
#[allow(clippy::too_many_arguments)]
async fn share(
    tx: &mut dyn Tx,
    owner: Uuid,
    holder: Uuid,
    fields: &[String],
    allow_forward: bool,
    forwarded_by: Option<Uuid>,
    card: &ContactCard,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    const SHARE_PUT: &str = "INSERT INTO contact_shares (owner_id, holder_id, fields, allow_forward, forwarded_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (owner_id, holder_id) DO UPDATE SET fields = ?3, allow_forward = ?4, forwarded_by = ?5";
    tx.execute(
        SHARE_PUT,
        vec![
            owner.into(),
            holder.into(),
            fields_json(fields)?.into(),
            i64::from(allow_forward).into(),
            forwarded_by.into(),
            ms(now).into(),
        ],
    )
    .await?;
    let copy = visible(
        owner,
        card,
        fields,
        allow_forward,
        forwarded_by,
        &server_hlc(now),
    );
    publish(
        tx,
        holder,
        contacts::COLLECTION,
        &contacts::record_id(owner, holder).to_string(),
        &copy,
        None,
        now,
    )
    .await
}

/// Ends a share: the row goes, the holder's copy becomes a tombstone.
/// `false` when there was none.
pub(super) async fn unshare(
    tx: &mut dyn Tx,
    owner: Uuid,
    holder: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    const SHARE_DELETE_PAIR: &str =
        "DELETE FROM contact_shares WHERE owner_id = ?1 AND holder_id = ?2";
    let n = tx
        .execute(SHARE_DELETE_PAIR, vec![owner.into(), holder.into()])
        .await?;
    if n == 0 {
        return Ok(false);
    }
    publish(
        tx,
        holder,
        contacts::COLLECTION,
        &contacts::record_id(owner, holder).to_string(),
        &Fields::new(),
        Some(server_hlc(now)),
        now,
    )
    .await?;
    Ok(true)
}

impl Store {
    /// The server's invitation-signing key (PKCS#8), created on first use.
    pub async fn signing_key(
        &self,
        fresh: impl FnOnce() -> (String, Vec<u8>),
        now: DateTime<Utc>,
    ) -> Result<(String, Vec<u8>), StoreError> {
        let mut tx = self.begin().await?;
        let (id, secret) = self
            .vault
            .server_secret(&mut *tx, "invitations", ms(now), || Ok(fresh()))
            .await?;
        tx.commit().await?;
        Ok((id, secret.to_vec()))
    }

    /// The user's card (or one made from their profile).
    pub async fn card(&self, user: Uuid) -> Result<Option<ContactCard>, StoreError> {
        let mut tx = self.begin_read().await?;
        let c = card_of(&mut *tx, user).await?;
        tx.commit().await?;
        Ok(c)
    }

    /// Replaces the user's card and rewrites every holder's copy (only the
    /// fields shared with each), in one transaction. Returns the number of
    /// holders updated.
    pub async fn put_card(
        &self,
        user: Uuid,
        card: &ContactCard,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin().await?;
        // A restricted account's data is kept as it is: its card (and so
        // every holder's copy) is frozen too.
        if crate::store::privacy::restriction::restricted(&mut *tx, user).await? {
            return Err(StoreError::Restricted);
        }
        let json = serde_json::to_string(card).map_err(|_| StoreError::Decode("card"))?;
        let json = seal_for(&mut *tx, user, &card_context(user), &json, ms(now)).await?;
        tx.execute(CARD_PUT, vec![user.into(), json.into(), ms(now).into()])
            .await?;
        let holders = tx.query(SHARES_BY_OWNER, vec![user.into()]).await?;
        let t = server_hlc(now);
        for h in &holders {
            let holder = h.uuid("holder_id")?;
            let fields = parse_list(&h.text("fields")?)?;
            let copy = visible(
                user,
                card,
                &fields,
                h.i64("allow_forward")? != 0,
                h.opt_uuid("forwarded_by")?,
                &t,
            );
            publish(
                &mut *tx,
                holder,
                contacts::COLLECTION,
                &contacts::record_id(user, holder).to_string(),
                &copy,
                None,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(holders.len())
    }

    /// `owner`'s card as `holder` sees it, or `None` when they hold none.
    pub async fn held_card(&self, owner: Uuid, holder: Uuid) -> Result<Option<Fields>, StoreError> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .query(SHARE_GET_PAIR, vec![owner.into(), holder.into()])
            .await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let fields = parse_list(&r.text("fields")?)?;
        let card = card_of(&mut *tx, owner).await?.unwrap_or_default();
        let out = visible(
            owner,
            &card,
            &fields,
            r.i64("allow_forward")? != 0,
            r.opt_uuid("forwarded_by")?,
            "",
        );
        tx.commit().await?;
        Ok(Some(out))
    }

    /// Ends the connection between `me` and `other`, both ways.
    pub async fn revoke_connection(
        &self,
        me: Uuid,
        other: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let a = unshare(&mut *tx, me, other, now).await?;
        let b = unshare(&mut *tx, other, me, now).await?;
        tx.commit().await?;
        Ok(a || b)
    }

    /// Takes `owner`'s card back from one holder.
    pub async fn revoke_holder(
        &self,
        owner: Uuid,
        holder: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = unshare(&mut *tx, owner, holder, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Everyone who holds `owner`'s card.
    pub async fn holders(&self, owner: Uuid) -> Result<Vec<Holder>, StoreError> {
        self.db
            .query(SHARES_BY_OWNER, vec![owner.into()])
            .await?
            .iter()
            .map(|r| {
                Ok(Holder {
                    holder_id: r.uuid("holder_id")?,
                    fields: parse_list(&r.text("fields")?)?,
                    allow_forward: r.i64("allow_forward")? != 0,
                    forwarded_by: r.opt_uuid("forwarded_by")?,
                    since: at(r.i64("created_at")?)?,
                })
            })
            .collect()
    }

    /// Forwards `owner`'s card from `me` to my connection `to`, with the
    /// fields I see, not forwardable further.
    pub async fn forward_card(
        &self,
        me: Uuid,
        owner: Uuid,
        to: Uuid,
        now: DateTime<Utc>,
    ) -> Result<ForwardOutcome, StoreError> {
        const CONNECTED: &str = "SELECT 1 FROM contact_shares WHERE (owner_id = ?1 AND holder_id = ?2) OR (owner_id = ?2 AND holder_id = ?1) LIMIT 1";
        let mut tx = self.begin().await?;
        if crate::store::privacy::restriction::restricted(&mut *tx, me).await? {
            return Ok(ForwardOutcome::Restricted);
        }
        let rows = tx
            .query(SHARE_GET_PAIR, vec![owner.into(), me.into()])
            .await?;
        let Some(r) = rows.first() else {
            return Ok(ForwardOutcome::NotHeld);
        };
        if r.i64("allow_forward")? == 0 {
            return Ok(ForwardOutcome::NotAllowed);
        }
        if to == owner || to == me || !exists(&mut *tx, CONNECTED, me, to).await? {
            return Ok(ForwardOutcome::NotConnected);
        }
        if exists(&mut *tx, BLOCKED, to, owner).await?
            || exists(&mut *tx, BLOCKED, to, me).await?
            || exists(&mut *tx, BLOCKED, owner, to).await?
        {
            return Ok(ForwardOutcome::Blocked);
        }
        let fields = parse_list(&r.text("fields")?)?;
        if !tx
            .query(SHARE_GET_PAIR, vec![owner.into(), to.into()])
            .await?
            .is_empty()
        {
            // They already hold it (directly or forwarded): nothing to add.
            return Ok(ForwardOutcome::Forwarded);
        }
        let card = card_of(&mut *tx, owner).await?.unwrap_or_default();
        share(&mut *tx, owner, to, &fields, false, Some(me), &card, now).await?;
        tx.commit().await?;
        Ok(ForwardOutcome::Forwarded)
    }

    /// Blocks `other` for `me`: our connection ends both ways, and their
    /// invitations and forwards to me are refused from now on.
    pub async fn block(
        &self,
        me: Uuid,
        other: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const USER_EXISTS: &str = "SELECT 1 FROM users WHERE id = ?1";
        const BLOCK_PUT: &str = "INSERT INTO contact_blocks (user_id, blocked_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (user_id, blocked_id) DO NOTHING";
        let mut tx = self.begin().await?;
        // An id of no account is nothing to block (and would break the
        // foreign key).
        if tx.query(USER_EXISTS, vec![other.into()]).await?.is_empty() {
            return Ok(false);
        }
        tx.execute(BLOCK_PUT, vec![me.into(), other.into(), ms(now).into()])
            .await?;
        unshare(&mut *tx, me, other, now).await?;
        unshare(&mut *tx, other, me, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Lifts a block.
    pub async fn unblock(&self, me: Uuid, other: Uuid) -> Result<bool, StoreError> {
        const BLOCK_DELETE: &str =
            "DELETE FROM contact_blocks WHERE user_id = ?1 AND blocked_id = ?2";
        let mut tx = self.begin().await?;
        let n = tx
            .execute(BLOCK_DELETE, vec![me.into(), other.into()])
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Counts one hit in `bucket`'s fixed window of `window_ms`; returns the
    /// hits so far and when the window started.
    pub async fn rate_hit(
        &self,
        bucket: &str,
        window_ms: i64,
        now: DateTime<Utc>,
    ) -> Result<(i64, DateTime<Utc>), StoreError> {
        // Counts one hit in a fixed window; a window older than `?3` starts over.
        const RATE_HIT: &str = "INSERT INTO rate_limits (bucket, window_start, hits) VALUES (?1, ?2, 1) ON CONFLICT (bucket) DO UPDATE SET hits = CASE WHEN rate_limits.window_start <= ?3 THEN 1 ELSE rate_limits.hits + 1 END, window_start = CASE WHEN rate_limits.window_start <= ?3 THEN ?2 ELSE rate_limits.window_start END RETURNING hits, window_start";
        let mut tx = self.begin().await?;
        let rows = tx
            .query(
                RATE_HIT,
                vec![bucket.into(), ms(now).into(), (ms(now) - window_ms).into()],
            )
            .await?;
        let r = rows.first().ok_or(StoreError::Decode("rate limit"))?;
        let out = (r.i64("hits")?, at(r.i64("window_start")?)?);
        tx.commit().await?;
        Ok(out)
    }
}
