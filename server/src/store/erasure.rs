//! Erasure of an account (GDPR Art. 17), in one transaction.
//!
//! * Organisations: where the user is the only admin, the longest-standing
//!   other member becomes admin (an organisation is never left without
//!   one); an organisation with no other member is deleted.
//! * Contacts: every holder's copy of the user's card becomes an empty
//!   tombstone (it leaves their devices at their next sync); cards the user
//!   held, invitations, blocks and shares go with the account.
//! * Sync: every record of the user's scope, its sequence and the stored
//!   push answers are deleted.
//! * Sessions: all end; their token hashes are kept for 60 days in
//!   `erased_tokens` so each device, at its next contact, learns it must
//!   wipe itself (`410 account_erased`).
//! * Keys: the user's data key is destroyed in the same transaction
//!   (crypto-shredding), so any sealed copy of their data that outlives the
//!   deletion (a database backup, a free page) no longer opens.
//! * What stays: security events naming the user's id (kept 12 months, ids
//!   only) and organisation change records naming it by id.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::store::backend::StoreError;
use crate::store::backend::ms;
use crate::store::{Store, sql};
use crate::sync::user_scope;

/// How many days erased token hashes are kept.
pub const ERASED_TOKEN_DAYS: i64 = 60;

impl Store {
    /// Records that the password was just re-entered in this login.
    pub async fn mark_reauth(&self, family: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(sql::FAMILY_REAUTH, vec![family.into(), ms(now).into()])
            .await?;
        tx.commit().await
    }

    /// When the password was last re-entered in this login.
    pub async fn reauth_at(&self, family: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
        let rows = self
            .db
            .query(sql::FAMILY_REAUTH_GET, vec![family.into()])
            .await?;
        Ok(rows
            .first()
            .map(|r| r.opt_i64(0))
            .transpose()?
            .flatten()
            .and_then(DateTime::from_timestamp_millis))
    }

    /// Whether a token belonged to an erased account.
    pub async fn token_erased(&self, hash: &[u8]) -> Result<bool, StoreError> {
        Ok(!self
            .db
            .query(sql::ERASED_TOKEN, vec![hash.into()])
            .await?
            .is_empty())
    }

    /// Deletes erased-token markers older than `before`.
    pub async fn purge_erased_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let n = tx
            .execute(sql::ERASED_PURGE, vec![ms(before).into()])
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Erases the account (see the module documentation).
    pub async fn erase_user(
        &self,
        user: Uuid,
        throttle_key: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // Organisations first: none may be left without an admin.
        let memberships = tx.query(sql::MEMBERSHIPS_ROLES, vec![user.into()]).await?;
        for m in &memberships {
            let (org, role) = (m.uuid(0)?, m.text(1)?);
            tx.query(sql::ORG_LOCK, vec![org.into()]).await?;
            let count = |rows: Vec<super::Row>| -> Result<i64, StoreError> {
                rows.first()
                    .map(|r| r.i64(0))
                    .transpose()
                    .map(|n| n.unwrap_or(0))
            };
            let members = count(tx.query(sql::MEMBER_COUNT, vec![org.into()]).await?)?;
            if members <= 1 {
                tx.execute(sql::ORG_DELETE, vec![org.into()]).await?;
                super::audit::append(
                    &mut *tx,
                    &super::audit::Event::org("org_deleted_on_erasure", org, user, json!({})),
                    now,
                )
                .await?;
                continue;
            }
            let admins = count(tx.query(sql::ADMIN_COUNT, vec![org.into()]).await?)?;
            if role == "admin" && admins <= 1 {
                let heir = tx
                    .query(sql::OLDEST_OTHER_MEMBER, vec![org.into(), user.into()])
                    .await?
                    .first()
                    .map(|r| r.uuid(0))
                    .transpose()?
                    .ok_or(StoreError::Decode("no other member"))?;
                tx.execute(
                    sql::MEMBER_SET_ROLE,
                    vec![org.into(), heir.into(), "admin".into()],
                )
                .await?;
                super::audit::append(
                    &mut *tx,
                    &super::audit::Event::org(
                        "admin_promoted_on_erasure",
                        org,
                        heir,
                        json!({ "member_id": heir }),
                    ),
                    now,
                )
                .await?;
            }
            tx.execute(sql::MEMBER_DELETE, vec![org.into(), user.into()])
                .await?;
        }
        // Every holder's copy of the user's card becomes a tombstone.
        let holders = tx.query(sql::SHARES_BY_OWNER, vec![user.into()]).await?;
        for h in &holders {
            super::contacts::unshare(&mut *tx, user, h.uuid(0)?, now).await?;
        }
        tx.execute(sql::SHARES_FORGET_FORWARDER, vec![user.into()])
            .await?;
        tx.execute(sql::INVITATIONS_FORGET_USER, vec![user.into()])
            .await?;
        tx.execute(sql::JOIN_CODES_FORGET_USER, vec![user.into()])
            .await?;
        tx.execute(sql::JOIN_CODES_DELETE_BY, vec![user.into()])
            .await?;
        // Synced data, then the devices' way back in.
        let scope = user_scope(user);
        tx.execute(sql::SCOPE_RECORDS_DELETE, vec![scope.as_str().into()])
            .await?;
        tx.execute(sql::SCOPE_DELETE, vec![scope.as_str().into()])
            .await?;
        tx.execute(sql::MUTATIONS_DELETE_USER, vec![user.into()])
            .await?;
        tx.execute(sql::ERASE_KEEP_REFRESH, vec![user.into(), ms(now).into()])
            .await?;
        tx.execute(sql::ERASE_KEEP_ACCESS, vec![user.into(), ms(now).into()])
            .await?;
        tx.execute(sql::THROTTLE_CLEAR, vec![throttle_key.into()])
            .await?;
        tx.execute(sql::RATE_DELETE_USER, vec![format!("%{user}%").into()])
            .await?;
        // The account itself; sessions, cards, shares, blocks, invitations
        // and memberships follow by cascade.
        tx.execute(sql::USER_DELETE, vec![user.into()]).await?;
        // Crypto-shredding: whatever sealed copy of this account's data
        // survives elsewhere (a backup, a page not yet reused) no longer
        // opens.
        self.vault.shred(&mut *tx, user).await?;
        super::audit::append(
            &mut *tx,
            &super::audit::Event::user("account_erased", user, json!({})),
            now,
        )
        .await?;
        tx.commit().await
    }
}
