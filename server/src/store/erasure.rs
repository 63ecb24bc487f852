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

use crate::store::Store;
use crate::store::backend::ms;
use crate::store::backend::{StoreError, Tx};
use crate::sync::user_scope;

/// How many days erased token hashes are kept.
pub const ERASED_TOKEN_DAYS: i64 = 60;

impl Store {
    /// Records that the password was just re-entered in this login.
    pub async fn mark_reauth(&self, family: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        const FAMILY_REAUTH: &str = "UPDATE token_families SET reauth_at = ?2 WHERE id = ?1";
        let mut tx = self.begin().await?;
        tx.execute(FAMILY_REAUTH, vec![family.into(), ms(now).into()])
            .await?;
        tx.commit().await
    }

    /// When the password was last re-entered in this login.
    pub async fn reauth_at(&self, family: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
        const FAMILY_REAUTH_GET: &str = "SELECT reauth_at FROM token_families WHERE id = ?1";
        let rows = self
            .db
            .query(FAMILY_REAUTH_GET, vec![family.into()])
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
        const ERASED_TOKEN: &str = "SELECT 1 FROM erased_tokens WHERE token_hash = ?1";
        Ok(!self
            .db
            .query(ERASED_TOKEN, vec![hash.into()])
            .await?
            .is_empty())
    }

    /// Deletes erased-token markers older than `before`.
    pub async fn purge_erased_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        const ERASED_PURGE: &str = "DELETE FROM erased_tokens WHERE erased_at < ?1";
        let mut tx = self.begin_bulk().await?;
        let n = tx.execute(ERASED_PURGE, vec![ms(before).into()]).await?;
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
        const USER_DELETE: &str = "DELETE FROM users WHERE id = ?1";
        let mut tx = self.begin_bulk().await?;
        // Organisations first: none may be left without an admin.
        leave_organisations(&mut *tx, user, now).await?;
        forget_connections(&mut *tx, user, now).await?;
        forget_synced_data_and_tokens(&mut *tx, user, throttle_key, now).await?;
        // The account itself; sessions, cards, shares, blocks, invitations
        // and memberships follow by cascade.
        tx.execute(USER_DELETE, vec![user.into()]).await?;
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
        // Its open change streams end with `account_erased`.
        crate::store::vault::note(&*tx, crate::store::Change::Sessions(user))?;
        tx.commit().await
    }
}

/// The first step of an erasure: the user leaves every organisation. One
/// left empty is deleted; one left without an admin gets its oldest other
/// member as admin.
async fn leave_organisations(
    tx: &mut dyn Tx,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    const ORG_DELETE: &str = "DELETE FROM orgs WHERE id = ?1";
    const OLDEST_OTHER_MEMBER: &str = "SELECT user_id FROM org_members WHERE org_id = ?1 AND user_id <> ?2 ORDER BY joined_at, user_id LIMIT 1";
    const MEMBER_COUNT: &str = "SELECT COUNT(*) FROM org_members WHERE org_id = ?1";
    const MEMBERSHIPS_ROLES: &str = "SELECT org_id, role FROM org_members WHERE user_id = ?1";
    let count = |rows: Vec<super::Row>| -> Result<i64, StoreError> {
        rows.first()
            .map(|r| r.i64(0))
            .transpose()
            .map(|n| n.unwrap_or(0))
    };
    let memberships = tx.query(MEMBERSHIPS_ROLES, vec![user.into()]).await?;
    for m in &memberships {
        let (org, role) = (m.uuid("org_id")?, m.text("role")?);
        tx.query(crate::store::orgs::ORG_LOCK, vec![org.into()])
            .await?;
        let members = count(tx.query(MEMBER_COUNT, vec![org.into()]).await?)?;
        if members <= 1 {
            tx.execute(ORG_DELETE, vec![org.into()]).await?;
            super::audit::append(
                tx,
                &super::audit::Event::org("org_deleted_on_erasure", org, user, json!({})),
                now,
            )
            .await?;
            continue;
        }
        let admins = count(
            tx.query(crate::store::orgs::ADMIN_COUNT, vec![org.into()])
                .await?,
        )?;
        if role == "admin" && admins <= 1 {
            let heir = tx
                .query(OLDEST_OTHER_MEMBER, vec![org.into(), user.into()])
                .await?
                .first()
                .map(|r| r.uuid(0))
                .transpose()?
                .ok_or(StoreError::Decode("no other member"))?;
            tx.execute(
                crate::store::orgs::MEMBER_SET_ROLE,
                vec![org.into(), heir.into(), "admin".into()],
            )
            .await?;
            super::audit::append(
                tx,
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
        tx.execute(
            crate::store::orgs::MEMBER_DELETE,
            vec![org.into(), user.into()],
        )
        .await?;
    }
    Ok(())
}

/// Every holder's copy of the user's card becomes a tombstone, and the
/// user's id leaves what others keep (forwards, used invitations and join
/// codes); the join codes the user created go.
async fn forget_connections(
    tx: &mut dyn Tx,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    const SHARES_FORGET_FORWARDER: &str =
        "UPDATE contact_shares SET forwarded_by = NULL WHERE forwarded_by = ?1";
    const JOIN_CODES_DELETE_BY: &str = "DELETE FROM join_codes WHERE created_by = ?1";
    const JOIN_CODES_FORGET_USER: &str = "UPDATE join_codes SET used_by = NULL WHERE used_by = ?1";
    const INVITATIONS_FORGET_USER: &str =
        "UPDATE contact_invitations SET used_by = NULL WHERE used_by = ?1";
    let holders = tx
        .query(crate::store::contacts::SHARES_BY_OWNER, vec![user.into()])
        .await?;
    for h in &holders {
        super::contacts::unshare(tx, user, h.uuid("holder_id")?, now).await?;
    }
    for sql in [
        SHARES_FORGET_FORWARDER,
        INVITATIONS_FORGET_USER,
        JOIN_CODES_FORGET_USER,
        JOIN_CODES_DELETE_BY,
    ] {
        tx.execute(sql, vec![user.into()]).await?;
    }
    Ok(())
}

/// Synced data, then the devices' way back in: the scope and its records,
/// stored push answers, and the tokens (remembered as erased, so a device
/// presenting one hears why), sign-in throttling and rate counters.
async fn forget_synced_data_and_tokens(
    tx: &mut dyn Tx,
    user: Uuid,
    throttle_key: &[u8],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    const RATE_DELETE_USER: &str = "DELETE FROM rate_limits WHERE bucket LIKE ?1";
    const MUTATIONS_DELETE_USER: &str = "DELETE FROM sync_mutations WHERE user_id = ?1";
    const SCOPE_DELETE: &str = "DELETE FROM sync_scopes WHERE scope = ?1";
    const SCOPE_RECORDS_DELETE: &str = "DELETE FROM sync_records WHERE scope = ?1";
    const ERASE_KEEP_ACCESS: &str = "INSERT INTO erased_tokens (token_hash, erased_at) SELECT token_hash, ?2 FROM access_tokens WHERE user_id = ?1 ON CONFLICT (token_hash) DO NOTHING";
    const ERASE_KEEP_REFRESH: &str = "INSERT INTO erased_tokens (token_hash, erased_at) SELECT token_hash, ?2 FROM refresh_tokens WHERE user_id = ?1 ON CONFLICT (token_hash) DO NOTHING";
    let scope = user_scope(user);
    tx.execute(SCOPE_RECORDS_DELETE, vec![scope.as_str().into()])
        .await?;
    tx.execute(SCOPE_DELETE, vec![scope.as_str().into()])
        .await?;
    tx.execute(MUTATIONS_DELETE_USER, vec![user.into()]).await?;
    tx.execute(ERASE_KEEP_REFRESH, vec![user.into(), ms(now).into()])
        .await?;
    tx.execute(ERASE_KEEP_ACCESS, vec![user.into(), ms(now).into()])
        .await?;
    tx.execute(
        crate::store::sessions::THROTTLE_CLEAR,
        vec![throttle_key.into()],
    )
    .await?;
    tx.execute(RATE_DELETE_USER, vec![format!("%{user}%").into()])
        .await?;
    Ok(())
}
