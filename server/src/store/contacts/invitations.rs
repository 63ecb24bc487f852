//! Invitations to connect: a signed single-use code an owner hands over,
//! previewed, then accepted (the card shared both ways, as chosen) or
//! declined.

use chrono::{DateTime, Utc};
use praxis_protocol::contacts::ContactCard;
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{StoreError, Tx};
use crate::store::backend::{at, ms};

use super::{BLOCKED, card_of, exists, fields_json, parse_list, share};

const INVITATION_SPEND: &str =
    "UPDATE contact_invitations SET used_by = ?2, used_at = ?3 WHERE id = ?1 AND used_at IS NULL";

/// Why an invitation could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeemError {
    /// Unknown id or wrong secret.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Already accepted or declined.
    Used,
    /// The caller's own invitation.
    Own,
    /// The caller blocked the inviter.
    Blocked,
    /// The caller's account is restricted.
    Restricted,
}

/// What an invitation offers.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The inviter.
    pub inviter: Uuid,
    /// The inviter's card.
    pub card: ContactCard,
    /// The fields offered.
    pub fields: Vec<String>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Stores a new invitation unless the inviter already has `max_open`
    /// open ones (`false`) or is restricted (`Err(Restricted)`).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_invitation(
        &self,
        id: Uuid,
        inviter: Uuid,
        secret_hash: &[u8],
        fields: &[String],
        allow_forward: bool,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        max_open: i64,
    ) -> Result<Result<bool, RedeemError>, StoreError> {
        const INVITATIONS_OPEN: &str = "SELECT COUNT(*) FROM contact_invitations WHERE inviter_id = ?1 AND used_at IS NULL AND expires_at > ?2";
        const INVITATION_INSERT: &str = "INSERT INTO contact_invitations (id, inviter_id, secret_hash, fields, allow_forward, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
        let mut tx = self.begin().await?;
        if crate::store::privacy::restriction::restricted(&mut *tx, inviter).await? {
            return Ok(Err(RedeemError::Restricted));
        }
        let open = tx
            .query(INVITATIONS_OPEN, vec![inviter.into(), ms(now).into()])
            .await?
            .first()
            .map(|r| r.i64(0))
            .transpose()?
            .unwrap_or(0);
        if open >= max_open {
            return Ok(Ok(false));
        }
        tx.execute(
            INVITATION_INSERT,
            vec![
                id.into(),
                inviter.into(),
                secret_hash.into(),
                fields_json(fields)?.into(),
                i64::from(allow_forward).into(),
                ms(now).into(),
                ms(expires_at).into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(true))
    }

    /// Checks an invitation for `caller` inside `tx` (locking it).
    async fn offer(
        tx: &mut dyn Tx,
        id: Uuid,
        secret_hash: &[u8],
        caller: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Result<(Offer, bool), RedeemError>, StoreError> {
        const INVITATION_GET: &str = "SELECT inviter_id, secret_hash, fields, allow_forward, expires_at, used_at FROM contact_invitations WHERE id = ?1 /*FOR UPDATE*/";
        let rows = tx.query(INVITATION_GET, vec![id.into()]).await?;
        let Some(r) = rows.first() else {
            return Ok(Err(RedeemError::Invalid));
        };
        let stored = r.bytes("secret_hash")?;
        // Hashes of a 256-bit secret: comparing them leaks nothing usable.
        if stored != secret_hash {
            return Ok(Err(RedeemError::Invalid));
        }
        let inviter = r.uuid("inviter_id")?;
        if inviter == caller {
            return Ok(Err(RedeemError::Own));
        }
        if r.opt_i64("used_at")?.is_some() {
            return Ok(Err(RedeemError::Used));
        }
        let expires_at = r.i64("expires_at")?;
        if expires_at <= ms(now) {
            return Ok(Err(RedeemError::Expired));
        }
        if exists(tx, BLOCKED, caller, inviter).await?
            || exists(tx, BLOCKED, inviter, caller).await?
        {
            return Ok(Err(RedeemError::Blocked));
        }
        let fields = parse_list(&r.text("fields")?)?;
        let allow_forward = r.i64("allow_forward")? != 0;
        let card = card_of(tx, inviter)
            .await?
            .ok_or(StoreError::Decode("inviter vanished"))?;
        Ok(Ok((
            Offer {
                inviter,
                card,
                fields,
                expires_at: at(expires_at)?,
            },
            allow_forward,
        )))
    }

    /// What an invitation offers, without using it.
    pub async fn preview_invitation(
        &self,
        id: Uuid,
        secret_hash: &[u8],
        caller: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Result<Offer, RedeemError>, StoreError> {
        let mut tx = self.begin_read().await?;
        let o = Self::offer(&mut *tx, id, secret_hash, caller, now).await?;
        tx.commit().await?;
        Ok(o.map(|(o, _)| o))
    }

    /// Accepts an invitation: the caller gets the inviter's offered fields
    /// and the inviter gets the caller's chosen ones, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn accept_invitation(
        &self,
        id: Uuid,
        secret_hash: &[u8],
        caller: Uuid,
        back_fields: &[String],
        back_allow_forward: bool,
        now: DateTime<Utc>,
    ) -> Result<Result<Uuid, RedeemError>, StoreError> {
        let mut tx = self.begin().await?;
        if crate::store::privacy::restriction::restricted(&mut *tx, caller).await? {
            return Ok(Err(RedeemError::Restricted));
        }
        let (offer, allow_forward) =
            match Self::offer(&mut *tx, id, secret_hash, caller, now).await? {
                Ok(o) => o,
                Err(e) => return Ok(Err(e)),
            };
        if tx
            .execute(
                INVITATION_SPEND,
                vec![id.into(), caller.into(), ms(now).into()],
            )
            .await?
            != 1
        {
            return Ok(Err(RedeemError::Used));
        }
        share(
            &mut *tx,
            offer.inviter,
            caller,
            &offer.fields,
            allow_forward,
            None,
            &offer.card,
            now,
        )
        .await?;
        let mine = card_of(&mut *tx, caller)
            .await?
            .ok_or(StoreError::Decode("caller vanished"))?;
        share(
            &mut *tx,
            caller,
            offer.inviter,
            back_fields,
            back_allow_forward,
            None,
            &mine,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(offer.inviter))
    }

    /// Declines an invitation (it cannot be used afterwards).
    pub async fn decline_invitation(
        &self,
        id: Uuid,
        secret_hash: &[u8],
        caller: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RedeemError>, StoreError> {
        let mut tx = self.begin().await?;
        if let Err(e) = Self::offer(&mut *tx, id, secret_hash, caller, now).await? {
            return Ok(Err(e));
        }
        tx.execute(
            INVITATION_SPEND,
            vec![id.into(), caller.into(), ms(now).into()],
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }
}
