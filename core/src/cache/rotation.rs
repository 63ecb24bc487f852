//! Key rotation and format upgrades of the cache.
//!
//! DEK rotation is resumable: a new generation is added as `next`, rows are
//! re-encrypted in batches (each its own transaction, each row naming the
//! generation that encrypted it), and a final transaction drops the old
//! key. Killed at any point, the next `open` finds the `next` key and
//! finishes the job; no row is ever without a key that opens it. KEK
//! rotation only rewraps the DEKs. Records sealed in an older format are
//! resealed in the current one when the cache opens.

use std::sync::Arc;

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::Cache;
use super::crypto::{GenKeys, NonceSource, wrap};
use super::db::{CANARY, Inner, canary_aad, read_meta};
use super::keys::{KekParams, KeyProvider, SecretKey};
use super::record::RECORD_FMT;
use super::schema;
use super::tx::{
    CacheTx, EnvelopeTerms, Opened, RECORD_COLUMNS, RawRow, collection_and_row, outbox_aad,
    record_aad,
};
use crate::{Error, Result};

/// Rows re-encrypted or resealed per transaction.
const ROTATION_BATCH: usize = 500;

impl Cache {
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
    pub(super) fn upgrade_kek_params(&self) -> Result<()> {
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

    pub(super) fn rotation_pending(&self) -> Result<bool> {
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
    pub(super) fn upgrade_record_format(&self) -> Result<()> {
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

impl CacheTx<'_> {
    /// Reseals up to `batch` records of an older format after the key
    /// `after` (in key order) under their own generation; the last key
    /// seen, `None` when there were none.
    pub(super) fn reseal_legacy(
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
    pub(super) fn reencrypt(&mut self, batch: usize) -> Result<usize> {
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
    use crate::cache::RecordMeta;
    use crate::cache::tx::EnvelopeOut;
    use rusqlite::Connection;
    use std::path::Path;

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
