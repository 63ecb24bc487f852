//! The cache's SQLite schema.
//!
//! Only what queries need stays in clear: the collection name, the random
//! record id, the sync metadata (server version, dirty and tombstone flags),
//! the coarse expiry day, the key generation and the record format. Every
//! value the user typed lives inside `payload`, AES-256-GCM-encrypted.
//!
//! Tables (version 2):
//!
//! * `meta(key, value)`: database id (random, binds wrapped keys to this
//!   file), KEK parameters (JSON: KDF, salt, iterations), schema version.
//! * `keys(gen, wrapped, canary, state)`: each DEK generation, wrapped under
//!   the KEK; `canary` is a known plaintext encrypted under that DEK;
//!   `state` is `active`, or `next` while a DEK rotation is under way.
//! * `records(collection, id, gen, fmt, payload, server_version, dirty,
//!   deleted, expires_day)`: one encrypted record; `gen` names the DEK that
//!   encrypted it and `fmt` the format (part of the associated data).
//! * `blind_index(collection, field, mac, id, gen)`: HMAC of an indexed
//!   field value, for equality lookups without decrypting every row.
//! * `outbox(seq, gen, fmt, payload)`: encrypted pending mutations in order,
//!   written in the same transaction as the record they describe (v2).

use rusqlite::{Connection, Transaction};

use crate::{Error, Result};

/// The schema version this build writes.
pub const VERSION: u32 = 2;

const V1: &str = "
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE keys (
    gen INTEGER PRIMARY KEY,
    wrapped BLOB NOT NULL,
    canary BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'next'))
);
CREATE TABLE records (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    gen INTEGER NOT NULL,
    fmt INTEGER NOT NULL,
    payload BLOB NOT NULL,
    server_version INTEGER,
    dirty INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID;
CREATE TABLE blind_index (
    collection TEXT NOT NULL,
    field TEXT NOT NULL,
    mac BLOB NOT NULL,
    id TEXT NOT NULL,
    gen INTEGER NOT NULL,
    PRIMARY KEY (collection, field, mac, id),
    FOREIGN KEY (collection, id) REFERENCES records (collection, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX blind_index_record ON blind_index (collection, id);
";

/// Version 2: the sync outbox, the coarse expiry day used by retention,
/// and an index of dirty records for the sync engine.
const V2: &str = "
ALTER TABLE records ADD COLUMN expires_day INTEGER;
CREATE INDEX records_expiry ON records (expires_day) WHERE expires_day IS NOT NULL;
CREATE INDEX records_dirty ON records (collection) WHERE dirty = 1;
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    gen INTEGER NOT NULL,
    fmt INTEGER NOT NULL,
    payload BLOB NOT NULL
);
";

/// Connection settings of every cache database: WAL (readers never wait
/// for the writer), `synchronous = FULL` (a committed transaction survives
/// power loss), `secure_delete` (freed pages are zeroed), foreign keys, and
/// an 8 MiB page cache.
pub fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Storage(rusqlite::Error::InvalidQuery));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; PRAGMA foreign_keys = ON; PRAGMA cache_size = -8192;",
    )?;
    Ok(())
}

/// The schema version recorded in the file (0 for a new file).
pub fn current(conn: &Connection) -> Result<u32> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings a database at any older version (0 = empty) up to [`VERSION`],
/// one step at a time, in the caller's transaction.
pub fn upgrade_from(tx: &Transaction<'_>, from: u32) -> Result<()> {
    if from > VERSION {
        return Err(Error::SchemaTooNew {
            found: from,
            supported: VERSION,
        });
    }
    let steps: [(u32, &str); 2] = [(1, V1), (2, V2)];
    for (version, sql) in steps {
        if from < version {
            tx.execute_batch(sql)?;
        }
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version 1 exactly as it shipped (a copy, so that an edit of `V1`
    /// fails this test); never edit.
    const FROZEN_V1: &str = "
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE keys (
    gen INTEGER PRIMARY KEY,
    wrapped BLOB NOT NULL,
    canary BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'next'))
);
CREATE TABLE records (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    gen INTEGER NOT NULL,
    fmt INTEGER NOT NULL,
    payload BLOB NOT NULL,
    server_version INTEGER,
    dirty INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID;
CREATE TABLE blind_index (
    collection TEXT NOT NULL,
    field TEXT NOT NULL,
    mac BLOB NOT NULL,
    id TEXT NOT NULL,
    gen INTEGER NOT NULL,
    PRIMARY KEY (collection, field, mac, id),
    FOREIGN KEY (collection, id) REFERENCES records (collection, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX blind_index_record ON blind_index (collection, id);
";

    fn dump(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .expect("prepare");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    fn columns(conn: &Connection, table: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .expect("pragma");
        let mut cols: Vec<String> = stmt
            .query_map([], |r| {
                Ok(format!(
                    "{}:{}:{}",
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?
                ))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        cols.sort();
        cols
    }

    #[test]
    fn upgrading_a_frozen_v1_database_matches_a_fresh_one() {
        let mut old = Connection::open_in_memory().expect("db");
        old.execute_batch(FROZEN_V1).expect("v1");
        old.pragma_update(None, "user_version", 1).expect("version");
        old.execute(
            "INSERT INTO records (collection, id, gen, fmt, payload, dirty) VALUES ('c', 'r', 1, 1, x'00', 1)",
            [],
        )
        .expect("row");
        let tx = old.transaction().expect("tx");
        upgrade_from(&tx, 1).expect("upgrade");
        tx.commit().expect("commit");

        let mut fresh = Connection::open_in_memory().expect("db");
        let tx = fresh.transaction().expect("tx");
        upgrade_from(&tx, 0).expect("create");
        tx.commit().expect("commit");

        assert_eq!(current(&old).expect("v"), VERSION);
        assert_eq!(current(&fresh).expect("v"), VERSION);
        let names = |c: &Connection| dump(c).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(&old), names(&fresh));
        for t in ["meta", "keys", "records", "blind_index", "outbox"] {
            assert_eq!(columns(&old, t), columns(&fresh, t), "table {t}");
        }
        let kept: i64 = old
            .query_row(
                "SELECT COUNT(*) FROM records WHERE expires_day IS NULL",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(kept, 1, "data survives the upgrade");
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().expect("db");
        let tx = conn.transaction().expect("tx");
        assert!(matches!(
            upgrade_from(&tx, VERSION + 1),
            Err(Error::SchemaTooNew { .. })
        ));
    }
}
