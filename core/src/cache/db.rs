//! The cache database: opening and unlocking, the key ring, and wiping.
//! Records, blind-index lookups and the outbox are read and written in a
//! [`CacheTx`] (`tx.rs`); key rotation and format upgrades are in
//! `rotation.rs`.
//!
//! A `Cache` owns one SQLite connection behind a mutex; callers in async
//! code run it on a blocking thread. Every operation runs in a transaction,
//! so readers see whole writes and a crash loses at most the transaction in
//! flight (WAL, `synchronous = FULL`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::crypto::KeyRing;
use super::crypto::{GenKeys, NonceSource, aad, unwrap, wrap};
use super::keys::{KekParams, KeyProvider, SecretKey};
use super::record::{OutboxEntry, RECORD_FMT, Record, RecordMeta};
use super::schema;
use super::tx::CacheTx;
use crate::{Error, Result};

pub(super) const CANARY: &[u8] = b"praxis cache canary v1";
pub(super) struct Inner {
    pub(super) conn: Connection,
    pub(super) ring: KeyRing,
    pub(super) db_id: Vec<u8>,
    pub(super) provider: Arc<dyn KeyProvider>,
}

/// The encrypted local cache.
pub struct Cache {
    inner: Mutex<Inner>,
    path: PathBuf,
    pub(super) nonces: NonceSource,
    pub(super) rng: SystemRandom,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

pub(super) fn canary_aad(generation: i64) -> Vec<u8> {
    aad(schema::VERSION, "canary", &[&generation.to_be_bytes()])
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

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
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

pub(super) fn read_meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
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
