//! The sealing helpers every capability writes with, and the writer of
//! server-authored sync records.
//!
//! Personal values are sealed under their owner's key (see [`vault`]) with
//! the row they belong to as associated data (`users/<id>`,
//! `sync_records/<collection>/<id>`), so a sealed value moved to another
//! row does not open. Records the server writes into a user's scope (their
//! profile, organisation policy, contact cards) go through [`publish`],
//! stamped with the server's HLC.
//!
//! [`vault`]: crate::store::vault

use chrono::{DateTime, NaiveDate, Utc};
use praxis_protocol::sync::{Fields, Hlc};
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{StoreError, Tx, ms};
use crate::store::feed::Change;
use crate::sync::user_scope;

/// Takes the next sequence number of a scope, locking its row until commit.
pub(crate) const SCOPE_NEXT: &str = "INSERT INTO sync_scopes (scope, seq) VALUES (?1, 1) ON CONFLICT (scope) DO UPDATE SET seq = sync_scopes.seq + 1 RETURNING seq";

/// Never changes a record of another scope: two users racing to create the
/// same id cannot end up writing into each other's record (0 rows changed).
pub(crate) const RECORD_UPSERT: &str = "INSERT INTO sync_records (collection, record_id, scope, seq, fields, deleted, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (collection, record_id) DO UPDATE SET seq = ?4, fields = ?5, deleted = ?6, updated_at = ?7 WHERE sync_records.scope = ?3";

/// The associated data of a sync record's sealed fields.
fn record_context(collection: &str, id: &str) -> String {
    format!("sync_records/{collection}/{id}")
}

/// Seals a record's fields under the scope owner's key.
pub(in crate::store) async fn seal_fields(
    tx: &mut dyn crate::store::Tx,
    user: Uuid,
    collection: &str,
    id: &str,
    fields: &Fields,
    now_ms: i64,
) -> Result<String, StoreError> {
    let json = serde_json::to_string(fields).map_err(|_| StoreError::Decode("fields"))?;
    crate::store::vault::seal_for(tx, user, &record_context(collection, id), &json, now_ms).await
}

/// Opens a record's fields read inside a transaction.
pub(in crate::store) async fn open_fields(
    tx: &mut dyn crate::store::Tx,
    user: Uuid,
    collection: &str,
    id: &str,
    stored: String,
) -> Result<Fields, StoreError> {
    let plain =
        crate::store::vault::open_for(tx, user, &record_context(collection, id), stored).await?;
    parse_fields(&plain)
}

pub(in crate::store) fn parse_fields(s: &str) -> Result<Fields, StoreError> {
    serde_json::from_str(s).map_err(|_| StoreError::Decode("fields"))
}

/// The account a `u:<id>` sync scope belongs to.
pub(in crate::store) fn scope_user(scope: &str) -> Result<Uuid, StoreError> {
    scope
        .strip_prefix("u:")
        .and_then(|u| Uuid::parse_str(u).ok())
        .ok_or(StoreError::Decode("sync scope"))
}

/// The profile as sealed in `users.sealed`.
#[derive(serde::Serialize, serde::Deserialize)]
pub(in crate::store) struct SealedProfile {
    pub(in crate::store) email: String,
    pub(in crate::store) full_name: String,
    pub(in crate::store) phone: String,
    pub(in crate::store) country: String,
    pub(in crate::store) language: String,
    pub(in crate::store) profession: String,
    pub(in crate::store) date_of_birth: NaiveDate,
}

/// The associated data of a user's sealed profile.
pub(in crate::store) fn user_context(id: Uuid) -> String {
    format!("users/{id}")
}

pub(in crate::store) async fn seal_profile(
    tx: &mut dyn crate::store::Tx,
    id: Uuid,
    p: &SealedProfile,
    now_ms: i64,
) -> Result<String, StoreError> {
    let json = serde_json::to_string(p).map_err(|_| StoreError::Decode("profile"))?;
    crate::store::vault::seal_for(tx, id, &user_context(id), &json, now_ms).await
}

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
pub(in crate::store) async fn publish(
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
        .query(SCOPE_NEXT, vec![scope.as_str().into()])
        .await?
        .first()
        .ok_or(StoreError::Decode("scope sequence"))?
        .i64(0)?;
    crate::store::vault::note(tx, Change::Scope(user, seq))?;
    crate::store::wakeups::enqueue(tx, user, None, now).await?;
    tx.execute(
        RECORD_UPSERT,
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

impl Store {
    /// Opens a record's fields read outside a transaction.
    pub(in crate::store) async fn open_fields_read(
        &self,
        user: Uuid,
        collection: &str,
        id: &str,
        stored: String,
    ) -> Result<Fields, StoreError> {
        let plain = self
            .open_read(user, &record_context(collection, id), stored)
            .await?;
        parse_fields(&plain)
    }

    /// Opens a value sealed for `user` that was read outside a transaction.
    pub(in crate::store) async fn open_read(
        &self,
        user: Uuid,
        context: &str,
        stored: String,
    ) -> Result<String, StoreError> {
        if !crate::store::Vault::is_sealed(&stored) {
            return Ok(stored);
        }
        let key = self
            .vault
            .user_key_for_read(self.db.as_ref(), user)
            .await?
            .ok_or(StoreError::Decode("user key destroyed"))?;
        crate::store::Vault::open(&key, context, stored)
    }

    /// The blind index of a normalised email (hex), as stored.
    pub(crate) fn email_index(&self, email: &str) -> String {
        hex::encode(self.vault.blind_index("email", email))
    }
}
