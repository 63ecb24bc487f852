//! Encryption at rest of personal data in the server database.
//!
//! Key hierarchy:
//!
//! * **Master keys** come from configuration (a file or the environment,
//!   never the database): one or more `id:base64` lines, the first being
//!   the current key. They only wrap other keys.
//! * **Server keys** (`server_keys`): the blind-index key and the
//!   invitation-signing key, each stored wrapped by a master key.
//! * **User data keys** (`user_keys`): one random AES-256-GCM key per
//!   account, stored wrapped. Every personal column written for a user
//!   (profile, sync record fields, stored push answers, contact card, live
//!   position) is sealed under that user's key, with associated data naming
//!   the table and row so a ciphertext copied elsewhere fails to open.
//!   Erasure deletes the row: everything sealed under it is unreadable from
//!   then on (crypto-shredding).
//!
//! Lookups by email use a **blind index**: HMAC-SHA256 under the
//! blind-index key of the normalised address, so the database holds no
//! address in clear and equal addresses still collide for `UNIQUE`.
//!
//! Rotation: put a new key first in the master-key file (keep the old one
//! below it), restart, run `praxis-server rewrap-keys`, then remove the old
//! line. Wrapped blobs name the master key they were wrapped with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use ring::aead::LessSafeKey;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::store::backend::{Db, StoreError, Tx};
use crate::store::feed::{Change, Feed};

mod master;

use master::{KEY_LEN, aead_key, open_raw, seal_raw};
pub use master::{KeyError, MasterKeys};

const USER_KEY_GET: &str = "SELECT wrapped FROM user_keys WHERE user_id = ?1";

/// Prefix of a sealed text column value.
const SEALED: &str = "px1:";
/// Most user keys kept unwrapped in memory; the cache is emptied when full.
const CACHE_MAX: usize = 50_000;

/// Master keys, the server keys they unwrap, and a cache of user keys.
pub struct Vault {
    master: MasterKeys,
    rng: SystemRandom,
    index: OnceLock<hmac::Key>,
    users: Mutex<HashMap<Uuid, Arc<LessSafeKey>>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("master", &self.master)
            .finish_non_exhaustive()
    }
}

/// The server key ids.
const INDEX_KEY: &str = "blind-index";

impl Vault {
    /// A vault over the configured master keys.
    pub fn new(master: MasterKeys) -> Arc<Self> {
        Arc::new(Self {
            master,
            rng: SystemRandom::new(),
            index: OnceLock::new(),
            users: Mutex::new(HashMap::new()),
        })
    }

    /// The master keys.
    pub fn master(&self) -> &MasterKeys {
        &self.master
    }

    /// Loads (creating it on first start) the blind-index key.
    pub(in crate::store) async fn load(
        &self,
        tx: &mut dyn Tx,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (_, secret) = self
            .server_secret(tx, INDEX_KEY, now_ms, || {
                let mut k = vec![0u8; KEY_LEN];
                self.rng
                    .fill(&mut k)
                    .map(|()| (INDEX_KEY.to_owned(), k))
                    .map_err(|_| StoreError::Decode("random key"))
            })
            .await?;
        let _ = self.index.set(hmac::Key::new(hmac::HMAC_SHA256, &secret));
        Ok(())
    }

    /// A server key by purpose: its id and unwrapped secret. `fresh` makes
    /// one when none is stored (two replicas racing both read back the
    /// first one stored).
    pub(in crate::store) async fn server_secret(
        &self,
        tx: &mut dyn Tx,
        purpose: &str,
        now_ms: i64,
        fresh: impl FnOnce() -> Result<(String, Vec<u8>), StoreError>,
    ) -> Result<(String, Zeroizing<Vec<u8>>), StoreError> {
        const SERVER_KEY_GET: &str = "SELECT key_id, secret FROM server_keys WHERE purpose = ?1 ORDER BY created_at, key_id LIMIT 1";
        const SERVER_KEY_INSERT: &str = "INSERT INTO server_keys (key_id, purpose, secret, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key_id) DO NOTHING";
        let context = format!("server_keys/{purpose}");
        if tx
            .query(SERVER_KEY_GET, vec![purpose.into()])
            .await?
            .is_empty()
        {
            let (id, secret) = fresh()?;
            let secret = Zeroizing::new(secret);
            let wrapped = self.master.wrap(&self.rng, &context, &secret)?;
            tx.execute(
                SERVER_KEY_INSERT,
                vec![
                    id.into(),
                    purpose.into(),
                    wrapped.as_slice().into(),
                    now_ms.into(),
                ],
            )
            .await?;
        }
        let rows = tx.query(SERVER_KEY_GET, vec![purpose.into()]).await?;
        let row = rows.first().ok_or(StoreError::Decode("server key"))?;
        Ok((
            row.text("key_id")?,
            self.master.unwrap(&context, &row.bytes("secret")?)?,
        ))
    }

    /// The keyed blind index of a value under a label (`"email"`,
    /// `"login-throttle"`): equal inputs give equal outputs, and without
    /// the key nothing can be learnt or guessed from it.
    pub fn blind_index(&self, label: &str, value: &str) -> Vec<u8> {
        let key = self
            .index
            .get()
            .expect("the vault is loaded at Store::open");
        let mut ctx = hmac::Context::with_key(key);
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        ctx.sign().as_ref().to_vec()
    }

    fn cached(&self, user: Uuid) -> Option<Arc<LessSafeKey>> {
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&user)
            .cloned()
    }

    fn remember(&self, user: Uuid, wrapped: &[u8]) -> Result<Arc<LessSafeKey>, StoreError> {
        let raw = self.master.unwrap(&user_context(user), wrapped)?;
        let key = Arc::new(aead_key(&raw).ok_or(StoreError::Decode("user key"))?);
        let mut cache = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(user, key.clone());
        Ok(key)
    }

    /// The user's data key, created on first use. A key found in the
    /// database is cached; a key created here is not until a later read
    /// finds it (the only uncommitted key a read can find is one created
    /// earlier in the same transaction, for an account created in it).
    pub(in crate::store) async fn user_key(
        &self,
        tx: &mut dyn Tx,
        user: Uuid,
        now_ms: i64,
    ) -> Result<Arc<LessSafeKey>, StoreError> {
        const USER_KEY_INSERT: &str = "INSERT INTO user_keys (user_id, wrapped, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (user_id) DO NOTHING";
        if let Some(k) = self.existing_user_key(tx, user).await? {
            return Ok(k);
        }
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        self.rng
            .fill(raw.as_mut())
            .map_err(|_| StoreError::Decode("random key"))?;
        let wrapped = self
            .master
            .wrap(&self.rng, &user_context(user), raw.as_ref())?;
        tx.execute(
            USER_KEY_INSERT,
            vec![user.into(), wrapped.as_slice().into(), now_ms.into()],
        )
        .await?;
        // Not cached: this transaction may still roll back. (A concurrent
        // creator may have won: read back the row that counts.)
        let rows = tx.query(USER_KEY_GET, vec![user.into()]).await?;
        let r = rows.first().ok_or(StoreError::Decode("user key"))?;
        let raw = self.master.unwrap(&user_context(user), &r.bytes(0)?)?;
        Ok(Arc::new(
            aead_key(&raw).ok_or(StoreError::Decode("user key"))?,
        ))
    }

    /// The user's data key for reading inside a transaction, never created
    /// here; `None` once the key was destroyed.
    pub(in crate::store) async fn existing_user_key(
        &self,
        tx: &mut dyn Tx,
        user: Uuid,
    ) -> Result<Option<Arc<LessSafeKey>>, StoreError> {
        if let Some(k) = self.cached(user) {
            return Ok(Some(k));
        }
        let rows = tx.query(USER_KEY_GET, vec![user.into()]).await?;
        let key = self.found(user, &rows)?;
        if key.is_some() {
            // Read inside a transaction, the key may not be committed yet
            // (created earlier in it, or by an earlier member of its
            // SQLite commit group): forgotten again unless it commits.
            if let Ok(ctx) = context(tx) {
                ctx.cached
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(user);
            }
        }
        Ok(key)
    }

    /// The user's data key for reading outside a transaction; `None` once
    /// the key was destroyed.
    pub(in crate::store) async fn user_key_for_read(
        &self,
        db: &dyn Db,
        user: Uuid,
    ) -> Result<Option<Arc<LessSafeKey>>, StoreError> {
        if let Some(k) = self.cached(user) {
            return Ok(Some(k));
        }
        let rows = db.query(USER_KEY_GET, vec![user.into()]).await?;
        self.found(user, &rows)
    }

    /// The key in a `USER_KEY_GET` answer, unwrapped and cached.
    fn found(
        &self,
        user: Uuid,
        rows: &[crate::store::Row],
    ) -> Result<Option<Arc<LessSafeKey>>, StoreError> {
        rows.first()
            .map(|r| self.remember(user, &r.bytes(0)?))
            .transpose()
    }

    /// Destroys the user's data key (in the caller's transaction) and
    /// forgets the cached copy.
    pub(in crate::store) async fn shred(
        &self,
        tx: &mut dyn Tx,
        user: Uuid,
    ) -> Result<(), StoreError> {
        const USER_KEY_DELETE: &str = "DELETE FROM user_keys WHERE user_id = ?1";
        tx.execute(USER_KEY_DELETE, vec![user.into()]).await?;
        self.forget(user);
        Ok(())
    }

    /// Drops a cached user key (after its transaction rolled back or the
    /// key was destroyed).
    pub(in crate::store) fn forget(&self, user: Uuid) {
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&user);
    }

    /// Seals a text value for a column: `px1:` + base64 of nonce,
    /// ciphertext and tag.
    pub(in crate::store) fn seal(
        &self,
        key: &LessSafeKey,
        context: &str,
        plaintext: &str,
    ) -> Result<String, StoreError> {
        let blob = seal_raw(key, &self.rng, context.as_bytes(), plaintext.as_bytes())?;
        Ok(format!("{SEALED}{}", B64.encode(blob)))
    }

    /// Opens a sealed column value. Migration 7 sealed every value written
    /// before encryption at rest (reading them raw, not through here), and
    /// the store has sealed every value since: a value without the prefix
    /// was put there by something else and is refused, never served as
    /// plaintext.
    pub(in crate::store) fn open(
        key: &LessSafeKey,
        context: &str,
        stored: String,
    ) -> Result<String, StoreError> {
        let Some(b64) = stored.strip_prefix(SEALED) else {
            return Err(StoreError::Decode("unsealed value"));
        };
        let blob = B64
            .decode(b64)
            .map_err(|_| StoreError::Decode("sealed value"))?;
        let plain = open_raw(key, context.as_bytes(), &blob)
            .ok_or(StoreError::Decode("sealed value does not open"))?;
        String::from_utf8(plain).map_err(|_| StoreError::Decode("sealed value"))
    }

    /// Whether a stored column value is sealed.
    pub(in crate::store) fn is_sealed(stored: &str) -> bool {
        stored.starts_with(SEALED)
    }

    /// Rewraps every server and user key under the current master key;
    /// returns how many were rewrapped.
    pub(in crate::store) async fn rewrap_all(&self, tx: &mut dyn Tx) -> Result<u64, StoreError> {
        const SERVER_KEY_REWRAP: &str = "UPDATE server_keys SET secret = ?2 WHERE key_id = ?1";
        const SERVER_KEYS_ALL: &str = "SELECT key_id, purpose, secret FROM server_keys";
        const USER_KEY_REWRAP: &str = "UPDATE user_keys SET wrapped = ?2 WHERE user_id = ?1";
        const USER_KEYS_ALL: &str = "SELECT user_id, wrapped FROM user_keys";
        // (row id, unwrap context, wrapped blob, the update that stores it)
        let mut keys: Vec<(crate::store::Val, String, Vec<u8>, &'static str)> = Vec::new();
        for r in tx.query(SERVER_KEYS_ALL, vec![]).await? {
            let context = format!("server_keys/{}", r.text("purpose")?);
            keys.push((
                r.text("key_id")?.into(),
                context,
                r.bytes("secret")?,
                SERVER_KEY_REWRAP,
            ));
        }
        for r in tx.query(USER_KEYS_ALL, vec![]).await? {
            let user = r.uuid("user_id")?;
            keys.push((
                user.into(),
                user_context(user),
                r.bytes("wrapped")?,
                USER_KEY_REWRAP,
            ));
        }
        let mut n = 0;
        for (id, context, blob, update) in keys {
            if MasterKeys::wrapped_by(&blob) == Some(self.master.current_id()) {
                continue;
            }
            let secret = self.master.unwrap(&context, &blob)?;
            let wrapped = self.master.wrap(&self.rng, &context, &secret)?;
            tx.execute(update, vec![id, wrapped.as_slice().into()])
                .await?;
            n += 1;
        }
        Ok(n)
    }
}

fn user_context(user: Uuid) -> String {
    format!("user_keys/{user}")
}

/// A transaction that carries the vault, so that code deep in the store
/// can seal and open without threading it through every call.
pub(in crate::store) struct VaultTx {
    pub(in crate::store) inner: Box<dyn Tx>,
    pub(in crate::store) ctx: TxContext,
}

/// What a store transaction carries for the code above the backend: the
/// vault (to seal and open), and the changes it noted for the change feed,
/// handed to the feed when it commits (and sent to the other replicas in
/// it, on PostgreSQL).
pub(in crate::store) struct TxContext {
    vault: Arc<Vault>,
    feed: Arc<Feed>,
    changes: std::sync::Mutex<Vec<Change>>,
    /// User keys this transaction read and cached.
    cached: std::sync::Mutex<Vec<Uuid>>,
    committed: bool,
    pub(in crate::store) read_only: bool,
}

impl VaultTx {
    pub(in crate::store) fn new(inner: Box<dyn Tx>, vault: Arc<Vault>, feed: Arc<Feed>) -> Self {
        Self {
            inner,
            ctx: TxContext {
                vault,
                feed,
                changes: std::sync::Mutex::default(),
                cached: std::sync::Mutex::default(),
                committed: false,
                read_only: false,
            },
        }
    }
}

#[async_trait::async_trait]
impl Tx for VaultTx {
    async fn query(
        &mut self,
        sql: &'static str,
        params: Vec<crate::store::Val>,
    ) -> Result<Vec<crate::store::Row>, StoreError> {
        self.inner.query(sql, params).await
    }
    async fn execute(
        &mut self,
        sql: &'static str,
        params: Vec<crate::store::Val>,
    ) -> Result<u64, StoreError> {
        self.inner.execute(sql, params).await
    }
    async fn batch(&mut self, sql: String) -> Result<(), StoreError> {
        self.inner.batch(sql).await
    }
    async fn query_all(
        &mut self,
        statements: Vec<crate::store::Statement>,
    ) -> Result<Vec<Vec<crate::store::Row>>, StoreError> {
        self.inner.query_all(statements).await
    }
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.commit_after(Vec::new()).await
    }
    async fn commit_after(
        self: Box<Self>,
        mut statements: Vec<crate::store::Statement>,
    ) -> Result<(), StoreError> {
        // Delivered by PostgreSQL at commit, to every replica listening.
        const NOTIFY: &str = "SELECT pg_notify(?1, ?2)";
        let VaultTx { inner, mut ctx } = *self;
        let changes = std::mem::take(ctx.changes.get_mut().unwrap_or_else(|p| p.into_inner()));
        if let Some(channel) = ctx.feed.channel() {
            for payload in ctx.feed.encode(&changes) {
                statements.push((NOTIFY, vec![channel.into(), payload.into()]));
            }
        }
        let committed = inner.commit_after(statements).await;
        ctx.committed = committed.is_ok();
        committed?;
        ctx.feed.apply(&changes);
        Ok(())
    }
    fn extension(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(&self.ctx)
    }
}

impl Drop for TxContext {
    /// A write transaction that did not commit forgets the keys it cached:
    /// they may exist only in what was rolled back, and sealing under a
    /// key the database does not hold would lose the data.
    fn drop(&mut self) {
        if self.committed || self.read_only {
            // A snapshot reads committed keys only.
            return;
        }
        let cached = std::mem::take(self.cached.get_mut().unwrap_or_else(|p| p.into_inner()));
        for user in cached {
            self.vault.forget(user);
        }
    }
}

fn context(tx: &dyn Tx) -> Result<&TxContext, StoreError> {
    tx.extension()
        .and_then(|e| e.downcast_ref::<TxContext>())
        .ok_or(StoreError::Decode("transaction without a vault"))
}

/// The vault of a transaction begun by the store.
pub(in crate::store) fn of(tx: &dyn Tx) -> Result<Arc<Vault>, StoreError> {
    context(tx).map(|c| Arc::clone(&c.vault))
}

/// Notes a change for the change feed, published when `tx` commits
/// (nothing if it rolls back).
pub(in crate::store) fn note(tx: &dyn Tx, change: Change) -> Result<(), StoreError> {
    context(tx)?
        .changes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(change);
    Ok(())
}

/// Seals `plaintext` for `user` in `tx`.
pub(in crate::store) async fn seal_for(
    tx: &mut dyn Tx,
    user: Uuid,
    context: &str,
    plaintext: &str,
    now_ms: i64,
) -> Result<String, StoreError> {
    let vault = of(tx)?;
    let key = vault.user_key(tx, user, now_ms).await?;
    vault.seal(&key, context, plaintext)
}

/// Opens a value sealed for `user`, read in `tx`.
pub(in crate::store) async fn open_for(
    tx: &mut dyn Tx,
    user: Uuid,
    context: &str,
    stored: String,
) -> Result<String, StoreError> {
    if !Vault::is_sealed(&stored) {
        return Ok(stored);
    }
    let vault = of(tx)?;
    let key = vault
        .existing_user_key(tx, user)
        .await?
        .ok_or(StoreError::Decode("user key destroyed"))?;
    Vault::open(&key, context, stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_context_and_unsealed_text_is_refused() {
        let vault = Vault::new(MasterKeys::random());
        let key = aead_key(&[7u8; KEY_LEN]).expect("test value");
        let sealed = vault.seal(&key, "users/1", "Ana Lima").expect("test value");
        assert!(sealed.starts_with(SEALED) && !sealed.contains("Ana"));
        assert_eq!(
            Vault::open(&key, "users/1", sealed.clone()).expect("test value"),
            "Ana Lima"
        );
        assert!(Vault::open(&key, "users/2", sealed.clone()).is_err());
        let other = aead_key(&[8u8; KEY_LEN]).expect("test value");
        assert!(Vault::open(&other, "users/1", sealed).is_err());
        // Regression: a value without the sealed prefix passed through as
        // plaintext even after migration 7 had sealed everything.
        assert!(matches!(
            Vault::open(&key, "users/1", "{\"a\":1}".into()),
            Err(StoreError::Decode("unsealed value"))
        ));
    }

    #[test]
    fn blind_indexes_are_keyed_per_label_and_deterministic() {
        let a = Vault::new(MasterKeys::random());
        let b = Vault::new(MasterKeys::random());
        for (v, k) in [(&a, [1u8; 32]), (&b, [2u8; 32])] {
            let _ = v.index.set(hmac::Key::new(hmac::HMAC_SHA256, &k));
        }
        let e = "ana@example.org";
        assert_eq!(a.blind_index("email", e), a.blind_index("email", e));
        assert_ne!(
            a.blind_index("email", e),
            a.blind_index("login-throttle", e)
        );
        assert_ne!(
            a.blind_index("email", e),
            a.blind_index("email", "bo@example.org")
        );
        assert_ne!(a.blind_index("email", e), b.blind_index("email", e));
        assert_eq!(a.blind_index("email", e).len(), 32);
    }
}
