//! A cache transaction: typed records sealed with their flags, blind-index
//! lookups and the outbox, all written atomically (see
//! [`Cache::transaction`](super::Cache::transaction)).

use rusqlite::{OptionalExtension, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::crypto::KeyRing;
use super::crypto::{GenKeys, NonceSource, aad};
use super::record::{OutboxEntry, RECORD_FMT, Record, RecordMeta};
use super::schema;
use crate::{Error, Result};

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

pub(super) fn record_aad(fmt: u32, collection: &str, id: &str, meta: &RecordMeta) -> Vec<u8> {
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

pub(super) fn outbox_aad(fmt: u32, seq: i64) -> Vec<u8> {
    aad(fmt, "outbox", &[&seq.to_be_bytes()])
}

#[derive(Serialize)]
pub(super) struct EnvelopeOut<'a, T> {
    pub(super) v: &'a T,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) i: &'a [(&'a str, &'a str)],
}

#[derive(Deserialize)]
struct EnvelopeIn<T> {
    v: T,
}

#[derive(Deserialize)]
pub(super) struct EnvelopeTerms {
    #[serde(default)]
    pub(super) i: Vec<(String, String)>,
}

/// A cache transaction (see [`Cache::transaction`]).
pub struct CacheTx<'a> {
    pub(super) tx: rusqlite::Transaction<'a>,
    pub(super) ring: &'a KeyRing,
    pub(super) nonces: &'a NonceSource,
}

impl std::fmt::Debug for CacheTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheTx").finish_non_exhaustive()
    }
}

/// A record's row as stored; the format number is range-checked when the
/// row is decoded (an edited file can hold any integer there).
pub(super) type RawRow = (
    String,
    i64,
    i64,
    Vec<u8>,
    Option<i64>,
    bool,
    bool,
    Option<i64>,
);

pub(super) const RECORD_COLUMNS: &str =
    "id, gen, fmt, payload, server_version, dirty, deleted, expires_day";

/// `collection` followed by [`RECORD_COLUMNS`].
pub(super) fn collection_and_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, RawRow)> {
    Ok((r.get(0)?, raw_row_from(r, 1)?))
}

/// A stored row, authenticated and opened.
pub(super) struct Opened {
    pub(super) id: String,
    pub(super) generation: i64,
    pub(super) meta: RecordMeta,
    /// The envelope (`{"v": …, "i": […]}`).
    pub(super) plaintext: Vec<u8>,
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

    pub(super) fn write_index<'t>(
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
    pub(super) fn open_row(&self, collection: &str, row: RawRow) -> Result<Opened> {
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
}
