//! The cache database: opening and unlocking, typed records, blind-index
//! lookups, the outbox, key rotation and wiping.
//!
//! A `Cache` owns one SQLite connection behind a mutex; callers in async
//! code run it on a blocking thread. Every operation runs in a transaction,
//! so readers see whole writes and a crash loses at most the transaction in
//! flight (WAL, `synchronous = FULL`).
//!
//! DEK rotation is resumable: a new generation is added as `next`, rows are
//! re-encrypted in batches (each its own transaction, each row naming the
//! generation that encrypted it), and a final transaction drops the old
//! key. Killed at any point, the next `open` finds the `next` key and
//! finishes the job; no row is ever without a key that opens it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::crypto::{GenKeys, NonceSource, aad, unwrap, wrap};
use super::keys::{KekParams, KeyProvider, SecretKey};
use super::schema;
use crate::{Error, Result};

const CANARY: &[u8] = b"praxis cache canary v1";
const ROTATION_BATCH: usize = 500;
/// The format records are sealed in. From format 3 a record's flags
/// (server version, dirty, deleted, expiry day) are part of its associated
/// data, so a rolled-back or edited flag fails authentication like a
/// tampered payload. Records of formats 1 and 2 (flags outside the seal)
/// are resealed when the cache opens.
const RECORD_FMT: u32 = 3;

/// Sync metadata kept in clear beside each encrypted record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordMeta {
    /// The server's version of this record, once it has one.
    pub server_version: Option<i64>,
    /// Changed locally and not yet acknowledged by the server.
    pub dirty: bool,
    /// A tombstone: deleted locally, the deletion not yet acknowledged.
    pub deleted: bool,
    /// Day number (days since 1970-01-01) after which retention removes it.
    pub expires_day: Option<i64>,
}

impl RecordMeta {
    /// A local change, waiting for sync.
    pub fn local() -> Self {
        Self {
            dirty: true,
            ..Self::default()
        }
    }

    /// A record as the server has it at `version`.
    pub fn synced(version: i64) -> Self {
        Self {
            server_version: Some(version),
            ..Self::default()
        }
    }
}

/// A decrypted record.
#[derive(Clone, PartialEq)]
pub struct Record<T> {
    /// Its collection.
    pub collection: String,
    /// Its id within the collection.
    pub id: String,
    /// The decrypted value.
    pub value: T,
    /// Its sync metadata.
    pub meta: RecordMeta,
}

impl<T> std::fmt::Debug for Record<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("collection", &self.collection)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// A pending outbox entry, decrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Position in the outbox (strictly increasing).
    pub seq: i64,
    /// The bytes that were enqueued.
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for OutboxEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxEntry")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// The decrypted keys of every live DEK generation.
struct KeyRing {
    /// The generation new writes use (the `next` one during a rotation).
    write: Arc<GenKeys>,
    by_gen: HashMap<i64, (Arc<GenKeys>, SecretKey)>,
}

impl KeyRing {
    fn get(&self, generation: i64, collection: &str) -> Result<&GenKeys> {
        self.by_gen
            .get(&generation)
            .map(|(k, _)| k.as_ref())
            .ok_or_else(|| Error::Integrity {
                collection: collection.to_owned(),
            })
    }
}

struct Inner {
    conn: Connection,
    ring: KeyRing,
    db_id: Vec<u8>,
    provider: Arc<dyn KeyProvider>,
}

/// The encrypted local cache.
pub struct Cache {
    inner: Mutex<Inner>,
    path: PathBuf,
    nonces: NonceSource,
    rng: SystemRandom,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

fn check_name(field: &'static str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field,
            reason: "must be 1 to 64 characters of a-z, 0-9 and _",
        })
    }
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(Error::InvalidInput {
            field: "id",
            reason: "must be 1 to 128 bytes without control characters",
        });
    }
    Ok(())
}

fn canary_aad(generation: i64) -> Vec<u8> {
    aad(schema::VERSION, "canary", &[&generation.to_be_bytes()])
}

fn record_aad(fmt: u32, collection: &str, id: &str, meta: &RecordMeta) -> Vec<u8> {
    if fmt < 3 {
        return aad(fmt, "records", &[collection.as_bytes(), id.as_bytes()]);
    }
    let version = meta.server_version.map_or([0u8; 9], |v| {
        let mut b = [1u8; 9];
        b[1..].copy_from_slice(&v.to_be_bytes());
        b
    });
    let expiry = meta.expires_day.map_or([0u8; 9], |d| {
        let mut b = [1u8; 9];
        b[1..].copy_from_slice(&d.to_be_bytes());
        b
    });
    aad(
        fmt,
        "records",
        &[
            collection.as_bytes(),
            id.as_bytes(),
            &version,
            &[u8::from(meta.dirty), u8::from(meta.deleted)],
            &expiry,
        ],
    )
}

fn outbox_aad(fmt: u32, seq: i64) -> Vec<u8> {
    aad(fmt, "outbox", &[&seq.to_be_bytes()])
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    v: &'a T,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    i: &'a [(&'a str, &'a str)],
}

#[derive(Deserialize)]
struct EnvelopeIn<T> {
    v: T,
}

#[derive(Deserialize)]
struct EnvelopeTerms {
    #[serde(default)]
    i: Vec<(String, String)>,
}

impl Cache {
    /// Opens the cache at `path`, creating it (with a fresh DEK) if missing.
    /// A provider whose KEK does not open the stored DEK gives
    /// [`Error::KeyMismatch`]; an interrupted DEK rotation is finished here.
    pub fn open(path: &Path, provider: Arc<dyn KeyProvider>) -> Result<Self> {
        let mut conn = Connection::open(path)?;
        schema::configure(&conn)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = schema::current(&tx)?;
        if version < schema::VERSION {
            schema::upgrade_from(&tx, version)?;
        } else if version > schema::VERSION {
            return Err(Error::SchemaTooNew {
                found: version,
                supported: schema::VERSION,
            });
        }
        tx.commit()?;

        let rng = SystemRandom::new();
        let nonces = NonceSource::new();
        let (db_id, ring) = match read_meta(&conn, "db_id")? {
            Some(db_id) => {
                let params: KekParams = serde_json::from_slice(
                    &read_meta(&conn, "kek_params")?.ok_or(Error::KeyMismatch)?,
                )?;
                let kek = provider.kek(&params)?;
                (db_id.clone(), load_ring(&conn, &kek, &db_id)?)
            }
            None => initialise(&mut conn, provider.as_ref(), &rng, &nonces)?,
        };
        let cache = Self {
            inner: Mutex::new(Inner {
                conn,
                ring,
                db_id,
                provider: Arc::clone(&provider),
            }),
            path: path.to_owned(),
            nonces,
            rng,
        };
        cache.upgrade_kek_params()?;
        if cache.rotation_pending()? {
            cache.rotate_dek()?;
        }
        cache.upgrade_record_format()?;
        Ok(cache)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one transaction: committed when it returns `Ok`, rolled
    /// back (nothing written) when it returns `Err`.
    pub fn transaction<R>(&self, f: impl FnOnce(&mut CacheTx<'_>) -> Result<R>) -> Result<R> {
        let mut inner = self.lock();
        let Inner { conn, ring, .. } = &mut *inner;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut ctx = CacheTx {
            tx,
            ring,
            nonces: &self.nonces,
        };
        let out = f(&mut ctx)?;
        ctx.tx.commit()?;
        Ok(out)
    }

    /// Stores `value` under `collection`/`id` (see [`CacheTx::put`]).
    pub fn put<T: Serialize>(
        &self,
        collection: &str,
        id: &str,
        value: &T,
        meta: RecordMeta,
    ) -> Result<()> {
        self.transaction(|tx| tx.put(collection, id, value, meta))
    }

    /// Stores `value` with blind-indexed fields (see [`CacheTx::put_indexed`]).
    pub fn put_indexed<T: Serialize>(
        &self,
        collection: &str,
        id: &str,
        value: &T,
        meta: RecordMeta,
        index: &[(&str, &str)],
    ) -> Result<()> {
        self.transaction(|tx| tx.put_indexed(collection, id, value, meta, index))
    }

    /// Reads one record.
    pub fn get<T: DeserializeOwned>(
        &self,
        collection: &str,
        id: &str,
    ) -> Result<Option<Record<T>>> {
        self.transaction(|tx| tx.get(collection, id))
    }

    /// Reads a whole collection, in id order.
    pub fn list<T: DeserializeOwned>(&self, collection: &str) -> Result<Vec<Record<T>>> {
        self.transaction(|tx| tx.list(collection))
    }

    /// Records whose indexed `field` equals `value` exactly.
    pub fn lookup<T: DeserializeOwned>(
        &self,
        collection: &str,
        field: &str,
        value: &str,
    ) -> Result<Vec<Record<T>>> {
        self.transaction(|tx| tx.lookup(collection, field, value))
    }

    /// Removes a record; `true` if it existed.
    pub fn delete(&self, collection: &str, id: &str) -> Result<bool> {
        self.transaction(|tx| tx.delete(collection, id))
    }

    /// The oldest `limit` outbox entries.
    pub fn outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        self.transaction(|tx| tx.outbox(limit))
    }

    /// Replaces the KEK: the DEK(s) are rewrapped under `provider`'s key,
    /// with fresh parameters, in one transaction. Records are untouched.
    pub fn rotate_kek(&self, provider: Arc<dyn KeyProvider>) -> Result<()> {
        let params = provider.new_params(&self.rng)?;
        let kek = provider.kek(&params)?;
        let mut inner = self.lock();
        rewrap(&mut inner, &kek, &params, &self.nonces)?;
        inner.provider = provider;
        Ok(())
    }

    /// Raises stored KDF parameters to what the provider now asks for.
    fn upgrade_kek_params(&self) -> Result<()> {
        let mut inner = self.lock();
        let stored: KekParams = serde_json::from_slice(
            &read_meta(&inner.conn, "kek_params")?.ok_or(Error::KeyMismatch)?,
        )?;
        let wanted = inner.provider.new_params(&self.rng)?;
        if wanted.kdf == stored.kdf && wanted.iterations > stored.iterations {
            let kek = inner.provider.kek(&wanted)?;
            rewrap(&mut inner, &kek, &wanted, &self.nonces)?;
        }
        Ok(())
    }

    fn rotation_pending(&self) -> Result<bool> {
        let inner = self.lock();
        let n: i64 =
            inner
                .conn
                .query_row("SELECT COUNT(*) FROM keys WHERE state = 'next'", [], |r| {
                    r.get(0)
                })?;
        Ok(n > 0)
    }

    /// Replaces the DEK: every record, index entry and outbox entry is
    /// re-encrypted under a new generation in batches, then the old key is
    /// destroyed. Resumable: an interrupted rotation finishes at the next
    /// [`Cache::open`] (or the next call).
    pub fn rotate_dek(&self) -> Result<()> {
        self.begin_dek_rotation()?;
        while self.rotate_dek_batch(ROTATION_BATCH)? > 0 {}
        self.finish_dek_rotation()
    }

    fn begin_dek_rotation(&self) -> Result<()> {
        let mut inner = self.lock();
        let Inner {
            conn,
            ring,
            db_id,
            provider,
        } = &mut *inner;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let next: Option<i64> = tx
            .query_row("SELECT gen FROM keys WHERE state = 'next'", [], |r| {
                r.get(0)
            })
            .optional()?;
        if next.is_some() {
            return Ok(()); // resuming
        }
        let params: KekParams =
            serde_json::from_slice(&read_meta(&tx, "kek_params")?.ok_or(Error::KeyMismatch)?)?;
        let kek = provider.kek(&params)?;
        let generation: i64 = tx.query_row("SELECT MAX(gen) FROM keys", [], |r| r.get(0))?;
        let generation = generation + 1;
        let dek = SecretKey::generate(&self.rng)?;
        let keys = GenKeys::derive(generation, &dek);
        tx.execute(
            "INSERT INTO keys (gen, wrapped, canary, state) VALUES (?1, ?2, ?3, 'next')",
            params![
                generation,
                wrap(&kek, &dek, db_id, generation, &self.nonces)?,
                keys.seal(&self.nonces, &canary_aad(generation), CANARY)?
            ],
        )?;
        tx.commit()?;
        let keys = Arc::new(keys);
        ring.write = Arc::clone(&keys);
        ring.by_gen.insert(generation, (keys, dek));
        Ok(())
    }

    /// Reseals every record of a format before [`RECORD_FMT`] (flags
    /// outside the seal) in the current one, in batches. A record that
    /// fails authentication is left as it is: it reads as
    /// [`Error::Integrity`], as before.
    /// A marker in `meta` (unauthenticated: removing it only costs a scan)
    /// says when no record of an older format is left.
    fn upgrade_record_format(&self) -> Result<()> {
        let done = RECORD_FMT.to_string().into_bytes();
        if read_meta(&self.lock().conn, "record_fmt")?.as_ref() == Some(&done) {
            return Ok(());
        }
        let mut after = (String::new(), String::new());
        while let Some(key) = self.transaction(|tx| tx.reseal_legacy(&after, ROTATION_BATCH))? {
            after = key;
        }
        self.transaction(|tx| {
            tx.tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('record_fmt', ?1)",
                [&done],
            )?;
            Ok(())
        })
    }

    /// Re-encrypts up to `batch` rows still under an old generation; the
    /// number done (0 when none is left).
    fn rotate_dek_batch(&self, batch: usize) -> Result<usize> {
        self.transaction(|tx| tx.reencrypt(batch))
    }

    fn finish_dek_rotation(&self) -> Result<()> {
        let mut inner = self.lock();
        let Inner { conn, ring, .. } = &mut *inner;
        let target = ring.write.generation;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let left: i64 = tx.query_row(
            "SELECT (SELECT COUNT(*) FROM records WHERE gen != ?1)
                  + (SELECT COUNT(*) FROM outbox WHERE gen != ?1)
                  + (SELECT COUNT(*) FROM blind_index WHERE gen != ?1)",
            [target],
            |r| r.get(0),
        )?;
        if left != 0 {
            return Err(Error::Integrity {
                collection: "keys".into(),
            });
        }
        // Crypto-shred the old generations, then promote the new one.
        tx.execute("DELETE FROM keys WHERE gen != ?1", [target])?;
        tx.execute("UPDATE keys SET state = 'active' WHERE gen = ?1", [target])?;
        tx.commit()?;
        ring.by_gen.retain(|generation, _| *generation == target);
        Ok(())
    }

    /// Number of DEK generations currently stored (1, or 2 mid-rotation).
    pub fn key_generations(&self) -> Result<usize> {
        let n: i64 = self
            .lock()
            .conn
            .query_row("SELECT COUNT(*) FROM keys", [], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// SQLite's `PRAGMA integrity_check`: `true` when it answers `ok`.
    pub fn integrity_check(&self) -> Result<bool> {
        let s: String = self
            .lock()
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(s == "ok")
    }

    /// Destroys the local data: the wrapped DEKs first (crypto-shredding;
    /// `secure_delete` zeroes the freed pages and the WAL is truncated),
    /// then the database, `-wal` and `-shm` files; finally the provider is
    /// asked to forget its KEK.
    pub fn wipe_local(self) -> Result<()> {
        let inner = self.inner.into_inner().unwrap_or_else(|p| p.into_inner());
        let Inner { conn, provider, .. } = inner;
        shred_and_close(conn)?;
        remove_files(&self.path)?;
        provider.forget()
    }

    /// Wipes a cache that cannot be opened (key lost or wrong): shreds the
    /// wrapped keys without needing them, then deletes the files.
    pub fn wipe_unopened(path: &Path) -> Result<()> {
        if path.exists() {
            let conn = Connection::open(path)?;
            let has_keys: bool = conn
                .query_row(
                    "SELECT 1 FROM sqlite_master WHERE name = 'keys'",
                    [],
                    |_| Ok(true),
                )
                .optional()?
                .is_some();
            if has_keys {
                shred_and_close(conn)?;
            }
        }
        remove_files(path)
    }
}

fn shred_and_close(conn: Connection) -> Result<()> {
    conn.execute_batch("PRAGMA secure_delete = ON; DELETE FROM keys; DELETE FROM meta;")?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    conn.close().map_err(|(_, e)| Error::Storage(e))
}

fn remove_files(path: &Path) -> Result<()> {
    let mut names = vec![path.to_owned()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        names.push(PathBuf::from(p));
    }
    for p in names {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn read_meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

/// First open: a database id, KEK parameters and the first DEK.
fn initialise(
    conn: &mut Connection,
    provider: &dyn KeyProvider,
    rng: &SystemRandom,
    nonces: &NonceSource,
) -> Result<(Vec<u8>, KeyRing)> {
    let mut db_id = vec![0u8; 16];
    rng.fill(&mut db_id).map_err(|_| Error::Random)?;
    let params = provider.new_params(rng)?;
    let kek = provider.kek(&params)?;
    let dek = SecretKey::generate(rng)?;
    let keys = GenKeys::derive(1, &dek);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('db_id', ?1)",
        [&db_id],
    )?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('kek_params', ?1)",
        [serde_json::to_vec(&params)?],
    )?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('record_fmt', ?1)",
        [RECORD_FMT.to_string().into_bytes()],
    )?;
    tx.execute(
        "INSERT INTO keys (gen, wrapped, canary, state) VALUES (1, ?1, ?2, 'active')",
        params![
            wrap(&kek, &dek, &db_id, 1, nonces)?,
            keys.seal(nonces, &canary_aad(1), CANARY)?
        ],
    )?;
    tx.commit()?;
    let keys = Arc::new(keys);
    let ring = KeyRing {
        write: Arc::clone(&keys),
        by_gen: HashMap::from([(1, (keys, dek))]),
    };
    Ok((db_id, ring))
}

/// Unwraps every stored DEK and checks its canary.
fn load_ring(conn: &Connection, kek: &SecretKey, db_id: &[u8]) -> Result<KeyRing> {
    let mut stmt = conn.prepare("SELECT gen, wrapped, canary FROM keys ORDER BY gen")?;
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut by_gen = HashMap::new();
    let mut write = None;
    for (generation, wrapped, canary) in rows {
        let dek = unwrap(kek, &wrapped, db_id, generation)?;
        let keys = Arc::new(GenKeys::derive(generation, &dek));
        if keys.open(&canary_aad(generation), canary).as_deref() != Some(CANARY) {
            return Err(Error::KeyMismatch);
        }
        write = Some(Arc::clone(&keys)); // highest generation last
        by_gen.insert(generation, (keys, dek));
    }
    let write = write.ok_or(Error::KeyMismatch)?;
    Ok(KeyRing { write, by_gen })
}

/// Rewraps every DEK under a new KEK and stores the new parameters.
fn rewrap(
    inner: &mut Inner,
    kek: &SecretKey,
    params: &KekParams,
    nonces: &NonceSource,
) -> Result<()> {
    let Inner {
        conn, ring, db_id, ..
    } = inner;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (generation, (_, dek)) in &ring.by_gen {
        tx.execute(
            "UPDATE keys SET wrapped = ?2 WHERE gen = ?1",
            params![generation, wrap(kek, dek, db_id, *generation, nonces)?],
        )?;
    }
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'kek_params'",
        [serde_json::to_vec(params)?],
    )?;
    tx.commit()?;
    Ok(())
}

/// A cache transaction (see [`Cache::transaction`]).
pub struct CacheTx<'a> {
    tx: rusqlite::Transaction<'a>,
    ring: &'a KeyRing,
    nonces: &'a NonceSource,
}

impl std::fmt::Debug for CacheTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheTx").finish_non_exhaustive()
    }
}

/// A record's row as stored; the format number is range-checked when the
/// row is decoded (an edited file can hold any integer there).
type RawRow = (
    String,
    i64,
    i64,
    Vec<u8>,
    Option<i64>,
    bool,
    bool,
    Option<i64>,
);

const RECORD_COLUMNS: &str = "id, gen, fmt, payload, server_version, dirty, deleted, expires_day";

/// `collection` followed by [`RECORD_COLUMNS`].
fn collection_and_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, RawRow)> {
    Ok((r.get(0)?, raw_row_from(r, 1)?))
}

/// A stored row, authenticated and opened.
struct Opened {
    id: String,
    generation: i64,
    meta: RecordMeta,
    /// The envelope (`{"v": …, "i": […]}`).
    plaintext: Vec<u8>,
}

/// The flags of a stored row.
fn meta_of(row: &RawRow) -> RecordMeta {
    RecordMeta {
        server_version: row.4,
        dirty: row.5,
        deleted: row.6,
        expires_day: row.7,
    }
}

fn raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    raw_row_from(r, 0)
}

/// [`RECORD_COLUMNS`] starting at column `first`.
fn raw_row_from(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(first)?,
        r.get(first + 1)?,
        r.get(first + 2)?,
        r.get(first + 3)?,
        r.get(first + 4)?,
        r.get(first + 5)?,
        r.get(first + 6)?,
        r.get(first + 7)?,
    ))
}

impl CacheTx<'_> {
    /// Stores `value` (insert or replace) with its metadata.
    pub fn put<T: Serialize>(
        &mut self,
        collection: &str,
        id: &str,
        value: &T,
        meta: RecordMeta,
    ) -> Result<()> {
        self.put_indexed(collection, id, value, meta, &[])
    }

    /// Stores `value` and blind-indexes the given `(field, value)` terms for
    /// [`CacheTx::lookup`]. Terms match exactly: normalise them (e.g.
    /// lower-case emails) before passing them. The terms are kept inside
    /// the encrypted payload so rotation can re-index them.
    pub fn put_indexed<T: Serialize>(
        &mut self,
        collection: &str,
        id: &str,
        value: &T,
        meta: RecordMeta,
        index: &[(&str, &str)],
    ) -> Result<()> {
        check_name("collection", collection)?;
        check_id(id)?;
        for (field, _) in index {
            check_name("index field", field)?;
        }
        let keys = &self.ring.write;
        let payload = keys.seal_json(
            self.nonces,
            &record_aad(RECORD_FMT, collection, id, &meta),
            &EnvelopeOut { v: value, i: index },
        )?;
        let values = params![
            collection,
            id,
            keys.generation,
            RECORD_FMT,
            payload,
            meta.server_version,
            meta.dirty,
            meta.deleted,
            meta.expires_day
        ];
        // New records (the common, bulk case) take one statement; only a
        // replaced record needs its old index entries removed.
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT INTO records (collection, id, gen, fmt, payload, server_version, dirty, deleted, expires_day)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (collection, id) DO NOTHING",
            )?
            .execute(values)?;
        if inserted == 0 {
            self.tx
                .prepare_cached(
                    "UPDATE records SET gen = ?3, fmt = ?4, payload = ?5, server_version = ?6, dirty = ?7,
                       deleted = ?8, expires_day = ?9 WHERE collection = ?1 AND id = ?2",
                )?
                .execute(values)?;
            self.tx
                .prepare_cached("DELETE FROM blind_index WHERE collection = ?1 AND id = ?2")?
                .execute(params![collection, id])?;
        }
        self.write_index(collection, id, keys, index.iter().map(|(f, v)| (*f, *v)))
    }

    fn write_index<'t>(
        &self,
        collection: &str,
        id: &str,
        keys: &GenKeys,
        terms: impl Iterator<Item = (&'t str, &'t str)>,
    ) -> Result<()> {
        let mut terms = terms.peekable();
        if terms.peek().is_none() {
            return Ok(());
        }
        let mut stmt = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO blind_index (collection, field, mac, id, gen) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (field, value) in terms {
            stmt.execute(params![
                collection,
                field,
                keys.blind(collection, field, value),
                id,
                keys.generation
            ])?;
        }
        Ok(())
    }

    /// Updates only the sync metadata of a record (resealed under the same
    /// key, as the flags are in its associated data); `false` if there is
    /// no such record, [`Error::Integrity`] if it fails authentication.
    pub fn set_meta(&mut self, collection: &str, id: &str, meta: RecordMeta) -> Result<bool> {
        let Some(row) = self
            .tx
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE collection = ?1 AND id = ?2"
            ))?
            .query_row(params![collection, id], raw_row)
            .optional()?
        else {
            return Ok(false);
        };
        let Opened {
            generation,
            plaintext,
            ..
        } = self.open_row(collection, row)?;
        let keys = self.ring.get(generation, collection)?;
        let sealed = keys.seal(
            self.nonces,
            &record_aad(RECORD_FMT, collection, id, &meta),
            &plaintext,
        )?;
        let n = self
            .tx
            .prepare_cached(
                "UPDATE records SET fmt = ?3, payload = ?4, server_version = ?5, dirty = ?6,
                   deleted = ?7, expires_day = ?8 WHERE collection = ?1 AND id = ?2",
            )?
            .execute(params![
                collection,
                id,
                RECORD_FMT,
                sealed,
                meta.server_version,
                meta.dirty,
                meta.deleted,
                meta.expires_day
            ])?;
        Ok(n == 1)
    }

    /// Authenticates and opens a stored row.
    fn open_row(&self, collection: &str, row: RawRow) -> Result<Opened> {
        let meta = meta_of(&row);
        let (id, generation, fmt, payload, ..) = row;
        let integrity = || Error::Integrity {
            collection: collection.to_owned(),
        };
        let fmt = u32::try_from(fmt).map_err(|_| integrity())?;
        let plaintext = self
            .ring
            .get(generation, collection)?
            .open(&record_aad(fmt, collection, &id, &meta), payload)
            .ok_or_else(integrity)?;
        Ok(Opened {
            id,
            generation,
            meta,
            plaintext,
        })
    }

    fn decode<T: DeserializeOwned>(&self, collection: &str, row: RawRow) -> Result<Record<T>> {
        let Opened {
            id,
            meta,
            plaintext,
            ..
        } = self.open_row(collection, row)?;
        let env: EnvelopeIn<T> = serde_json::from_slice(&plaintext)?;
        Ok(Record {
            collection: collection.to_owned(),
            id,
            value: env.v,
            meta,
        })
    }

    /// Reads one record; [`Error::Integrity`] if it fails authentication.
    pub fn get<T: DeserializeOwned>(
        &self,
        collection: &str,
        id: &str,
    ) -> Result<Option<Record<T>>> {
        let row = self
            .tx
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE collection = ?1 AND id = ?2"
            ))?
            .query_row(params![collection, id], raw_row)
            .optional()?;
        row.map(|r| self.decode(collection, r)).transpose()
    }

    /// Reads a whole collection in id order. Fails closed: one record that
    /// fails authentication fails the listing.
    pub fn list<T: DeserializeOwned>(&self, collection: &str) -> Result<Vec<Record<T>>> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE collection = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([collection], raw_row)?;
        rows.map(|r| self.decode(collection, r?)).collect()
    }

    /// Records whose indexed `field` equals `value`.
    pub fn lookup<T: DeserializeOwned>(
        &self,
        collection: &str,
        field: &str,
        value: &str,
    ) -> Result<Vec<Record<T>>> {
        let mut ids: Vec<String> = Vec::new();
        // During a rotation an entry may still be under the old generation.
        for (keys, _) in self.ring.by_gen.values() {
            let mac = keys.blind(collection, field, value);
            let found: Vec<String> = self
                .tx
                .prepare_cached(
                    "SELECT id FROM blind_index WHERE collection = ?1 AND field = ?2 AND mac = ?3 AND gen = ?4",
                )?
                .query_map(params![collection, field, mac, keys.generation], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            ids.extend(found);
        }
        ids.sort();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.get(collection, &id)?);
        }
        Ok(out)
    }

    /// Removes a record and its index entries; `true` if it existed.
    pub fn delete(&mut self, collection: &str, id: &str) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached("DELETE FROM records WHERE collection = ?1 AND id = ?2")?
            .execute(params![collection, id])?;
        Ok(n == 1)
    }

    /// Appends an encrypted entry to the outbox; its sequence number.
    pub fn enqueue(&mut self, payload: &[u8]) -> Result<i64> {
        let keys = &self.ring.write;
        self.tx
            .prepare_cached("INSERT INTO outbox (gen, fmt, payload) VALUES (?1, ?2, x'')")?
            .execute(params![keys.generation, schema::VERSION])?;
        let seq = self.tx.last_insert_rowid();
        let sealed = keys.seal(self.nonces, &outbox_aad(schema::VERSION, seq), payload)?;
        self.tx
            .prepare_cached("UPDATE outbox SET payload = ?2 WHERE seq = ?1")?
            .execute(params![seq, sealed])?;
        Ok(seq)
    }

    /// The oldest `limit` outbox entries.
    pub fn outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        let rows: Vec<(i64, i64, u32, Vec<u8>)> = self
            .tx
            .prepare_cached("SELECT seq, gen, fmt, payload FROM outbox ORDER BY seq LIMIT ?1")?
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(seq, generation, fmt, payload)| {
                let keys = self.ring.get(generation, "outbox")?;
                let payload =
                    keys.open(&outbox_aad(fmt, seq), payload)
                        .ok_or_else(|| Error::Integrity {
                            collection: "outbox".into(),
                        })?;
                Ok(OutboxEntry { seq, payload })
            })
            .collect()
    }

    /// Removes outbox entries up to and including `seq`; how many.
    pub fn ack_outbox(&mut self, seq: i64) -> Result<usize> {
        Ok(self
            .tx
            .prepare_cached("DELETE FROM outbox WHERE seq <= ?1")?
            .execute([seq])?)
    }

    /// Removes one outbox entry (a queued change that must not be sent);
    /// `true` if it existed.
    pub fn remove_outbox_entry(&mut self, seq: i64) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("DELETE FROM outbox WHERE seq = ?1")?
            .execute([seq])?
            == 1)
    }

    /// Number of outbox entries.
    pub fn outbox_len(&self) -> Result<usize> {
        let n: i64 = self
            .tx
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Reseals up to `batch` records of an older format after the key
    /// `after` (in key order) under their own generation; the last key
    /// seen, `None` when there were none.
    fn reseal_legacy(
        &mut self,
        after: &(String, String),
        batch: usize,
    ) -> Result<Option<(String, String)>> {
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        let rows: Vec<(String, RawRow)> = self
            .tx
            .prepare_cached(&format!(
                "SELECT collection, {RECORD_COLUMNS} FROM records
                 WHERE fmt < ?1 AND (collection, id) > (?2, ?3) ORDER BY collection, id LIMIT ?4"
            ))?
            .query_map(
                params![RECORD_FMT, after.0, after.1, limit],
                collection_and_row,
            )?
            .collect::<Result<_, _>>()?;
        let mut last = None;
        for (collection, row) in rows {
            last = Some((collection.clone(), row.0.clone()));
            let Ok(Opened {
                id,
                generation,
                meta,
                plaintext,
            }) = self.open_row(&collection, row)
            else {
                continue;
            };
            let keys = self.ring.get(generation, &collection)?;
            let sealed = keys.seal(
                self.nonces,
                &record_aad(RECORD_FMT, &collection, &id, &meta),
                &plaintext,
            )?;
            self.tx
                .prepare_cached(
                    "UPDATE records SET fmt = ?3, payload = ?4 WHERE collection = ?1 AND id = ?2",
                )?
                .execute(params![collection, id, RECORD_FMT, sealed])?;
        }
        Ok(last)
    }

    /// One rotation batch: re-encrypts up to `batch` records (with their
    /// index entries) and outbox entries still under an older generation.
    fn reencrypt(&mut self, batch: usize) -> Result<usize> {
        let target = Arc::clone(&self.ring.write);
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        let rows: Vec<(String, RawRow)> = self
            .tx
            .prepare_cached(&format!(
                "SELECT collection, {RECORD_COLUMNS} FROM records WHERE gen != ?1 LIMIT ?2"
            ))?
            .query_map(params![target.generation, limit], collection_and_row)?
            .collect::<Result<_, _>>()?;
        let mut done = 0;
        for (collection, row) in rows {
            let Opened {
                id,
                meta,
                plaintext,
                ..
            } = self.open_row(&collection, row)?;
            let terms: EnvelopeTerms = serde_json::from_slice(&plaintext)?;
            let sealed = target.seal(
                self.nonces,
                &record_aad(RECORD_FMT, &collection, &id, &meta),
                &plaintext,
            )?;
            self.tx
                .prepare_cached("UPDATE records SET gen = ?3, fmt = ?4, payload = ?5 WHERE collection = ?1 AND id = ?2")?
                .execute(params![collection, id, target.generation, RECORD_FMT, sealed])?;
            self.tx
                .prepare_cached("DELETE FROM blind_index WHERE collection = ?1 AND id = ?2")?
                .execute(params![collection, id])?;
            self.write_index(
                &collection,
                &id,
                &target,
                terms.i.iter().map(|(f, v)| (f.as_str(), v.as_str())),
            )?;
            done += 1;
        }
        let entries: Vec<(i64, i64, u32, Vec<u8>)> = self
            .tx
            .prepare_cached("SELECT seq, gen, fmt, payload FROM outbox WHERE gen != ?1 LIMIT ?2")?
            .query_map(params![target.generation, limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        for (seq, generation, fmt, payload) in entries {
            let plaintext = self
                .ring
                .get(generation, "outbox")?
                .open(&outbox_aad(fmt, seq), payload)
                .ok_or_else(|| Error::Integrity {
                    collection: "outbox".into(),
                })?;
            let sealed = target.seal(self.nonces, &outbox_aad(schema::VERSION, seq), &plaintext)?;
            self.tx
                .prepare_cached(
                    "UPDATE outbox SET gen = ?2, fmt = ?3, payload = ?4 WHERE seq = ?1",
                )?
                .execute(params![seq, target.generation, schema::VERSION, sealed])?;
            done += 1;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::RawKeyProvider;

    fn provider() -> Arc<dyn KeyProvider> {
        Arc::new(RawKeyProvider::new([5; 32]))
    }

    fn fmt_of(path: &Path, id: &str) -> u32 {
        Connection::open(path)
            .expect("open")
            .query_row("SELECT fmt FROM records WHERE id = ?1", [id], |r| r.get(0))
            .expect("fmt")
    }

    /// A record written before format 3 (its flags outside the seal) is
    /// resealed when the cache opens; from then on a rolled-back flag is
    /// caught like a tampered payload.
    #[test]
    fn older_records_are_resealed_at_open_and_their_flags_then_authenticated() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("cache.db");
        let cache = Cache::open(&path, provider()).expect("open");
        cache
            .transaction(|tx| {
                let keys = Arc::clone(&tx.ring.write);
                let payload = keys.seal_json(
                    tx.nonces,
                    &record_aad(2, "visits", "r1", &RecordMeta::default()),
                    &EnvelopeOut {
                        v: &"written by format 2",
                        i: &[],
                    },
                )?;
                tx.tx.execute(
                    "INSERT INTO records (collection, id, gen, fmt, payload, server_version, dirty, deleted)
                     VALUES ('visits', 'r1', ?1, 2, ?2, 7, 0, 0)",
                    params![keys.generation, payload],
                )?;
                tx.tx
                    .execute("DELETE FROM meta WHERE key = 'record_fmt'", [])?;
                Ok(())
            })
            .expect("legacy record");
        drop(cache);
        assert_eq!(fmt_of(&path, "r1"), 2);

        let cache = Cache::open(&path, provider()).expect("reopen");
        let r = cache
            .get::<String>("visits", "r1")
            .expect("reads")
            .expect("present");
        assert_eq!(r.value, "written by format 2");
        assert_eq!(r.meta.server_version, Some(7));
        drop(cache);
        assert_eq!(fmt_of(&path, "r1"), RECORD_FMT);

        // Roll the server version back, as an attacker with the file would.
        Connection::open(&path)
            .expect("open")
            .execute("UPDATE records SET server_version = 3 WHERE id = 'r1'", [])
            .expect("edit");
        let cache = Cache::open(&path, provider()).expect("reopen");
        assert!(matches!(
            cache.get::<String>("visits", "r1"),
            Err(Error::Integrity { .. })
        ));
    }

    /// `set_meta` reseals: the new flags read back and authenticate.
    #[test]
    fn changed_flags_are_resealed() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = Cache::open(&dir.path().join("cache.db"), provider()).expect("open");
        cache
            .put("visits", "r1", &"v", RecordMeta::local())
            .expect("put");
        assert!(
            cache
                .transaction(|tx| tx.set_meta("visits", "r1", RecordMeta::synced(9)))
                .expect("set")
        );
        let r = cache
            .get::<String>("visits", "r1")
            .expect("reads")
            .expect("present");
        assert_eq!(r.meta, RecordMeta::synced(9));
        assert!(
            !cache
                .transaction(|tx| tx.set_meta("visits", "nope", RecordMeta::synced(1)))
                .expect("absent")
        );
    }
}
