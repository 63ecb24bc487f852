//! What a test reads behind the server's back: the database's raw bytes
//! and rows (plaintext scans, fingerprints, counts), and rows it plants
//! there.

use super::*;

impl TestServer {
    /// Every row of every table, as sorted text: equal fingerprints mean an
    /// unchanged database.
    pub async fn fingerprint(&self) -> String {
        match &self.storage {
            Storage::Sqlite { dir } => {
                let conn =
                    rusqlite::Connection::open(dir.path().join("praxis.sqlite3")).expect("open");
                let mut out = String::new();
                let tables: Vec<String> = conn
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                    .expect("prepare")
                    .query_map([], |r| r.get(0))
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                for t in tables {
                    let mut stmt = conn
                        .prepare(&format!("SELECT * FROM \"{t}\""))
                        .expect("select");
                    let n = stmt.column_count();
                    let mut rows: Vec<String> = stmt
                        .query_map([], |r| {
                            let mut s = String::new();
                            for i in 0..n {
                                match r.get_ref(i)? {
                                    ValueRef::Null => s.push_str("NULL|"),
                                    ValueRef::Integer(v) => s.push_str(&format!("{v}|")),
                                    ValueRef::Real(v) => s.push_str(&format!("{v}|")),
                                    ValueRef::Text(t) => {
                                        s.push_str(&format!("{}|", String::from_utf8_lossy(t)))
                                    }
                                    ValueRef::Blob(b) => {
                                        s.push_str("\\x");
                                        for byte in b {
                                            s.push_str(&format!("{byte:02x}"));
                                        }
                                        s.push('|');
                                    }
                                }
                            }
                            Ok(s)
                        })
                        .expect("query")
                        .collect::<Result<_, _>>()
                        .expect("rows");
                    rows.sort();
                    out.push_str(&format!("## {t}\n{}\n", rows.join("\n")));
                }
                out
            }
            Storage::Postgres { url, schema } => {
                let client = pg_client(url).await;
                let tables = client
                    .query(
                        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
                        &[schema],
                    )
                    .await
                    .expect("tables");
                let mut out = String::new();
                for t in tables {
                    let t: String = t.get(0);
                    let rows = client
                        .query(&format!("SELECT x::text FROM {schema}.\"{t}\" x"), &[])
                        .await
                        .expect("rows");
                    let mut rows: Vec<String> =
                        rows.iter().map(|r| r.get::<_, String>(0)).collect();
                    rows.sort();
                    out.push_str(&format!("## {t}\n{}\n", rows.join("\n")));
                }
                out
            }
        }
    }

    /// Checkpoints the WAL and runs `VACUUM` on the SQLite file (through a
    /// second connection), as an operator would after an erasure.
    pub fn sqlite_vacuum(&self) {
        if let Storage::Sqlite { dir } = &self.storage {
            let c = rusqlite::Connection::open(dir.path().join("praxis.sqlite3")).expect("open");
            c.execute_batch(
                "PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .expect("vacuum");
        }
    }

    /// The raw bytes of the SQLite database and its WAL (SQLite only).
    pub fn sqlite_file_bytes(&self) -> Option<Vec<u8>> {
        let Storage::Sqlite { dir } = &self.storage else {
            return None;
        };
        let mut bytes = Vec::new();
        for name in ["praxis.sqlite3", "praxis.sqlite3-wal"] {
            if let Ok(b) = std::fs::read(dir.path().join(name)) {
                bytes.extend(b);
            }
        }
        Some(bytes)
    }

    /// The SQLite database file (None on PostgreSQL).
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        match &self.storage {
            Storage::Sqlite { dir } => Some(dir.path().join("praxis.sqlite3")),
            Storage::Postgres { .. } => None,
        }
    }

    /// The PostgreSQL URL and the server's own schema (None on SQLite).
    pub fn postgres_schema(&self) -> Option<(&str, &str)> {
        match &self.storage {
            Storage::Postgres { url, schema } => Some((url, schema)),
            Storage::Sqlite { .. } => None,
        }
    }

    /// Inserts `n` access tokens that expired long ago into a live
    /// session (a retention job's work load).
    pub async fn insert_expired_access_tokens(&self, n: i64) {
        let (sqlite, pg) = ("randomblob(32)", "sha256(i::text::bytea)");
        let sql = |hash: &str| {
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
                 INSERT INTO access_tokens (token_hash, family_id, user_id, expires_at) \
                 SELECT {hash}, f.id, f.user_id, 0 FROM n, \
                 (SELECT id, user_id FROM token_families WHERE revoked_at IS NULL LIMIT 1) f"
            )
        };
        match &self.storage {
            Storage::Sqlite { dir } => {
                let conn =
                    rusqlite::Connection::open(dir.path().join("praxis.sqlite3")).expect("open");
                conn.execute_batch(&sql(sqlite)).expect("insert");
            }
            Storage::Postgres { url, schema } => {
                pg_exec(url, &format!("SET search_path = {schema}; {}", sql(pg))).await;
            }
        }
    }

    /// Runs one SQL statement returning a single integer (counts).
    pub async fn count(&self, sql: &str) -> i64 {
        match &self.storage {
            Storage::Sqlite { dir } => {
                let conn =
                    rusqlite::Connection::open(dir.path().join("praxis.sqlite3")).expect("open");
                conn.query_row(sql, [], |r| r.get(0)).expect("count")
            }
            Storage::Postgres { url, schema } => {
                let client = pg_client(url).await;
                client
                    .batch_execute(&format!("SET search_path = {schema}"))
                    .await
                    .expect("search_path");
                client
                    .query_one(sql, &[])
                    .await
                    .expect("count")
                    .get::<_, i64>(0)
            }
        }
    }
}
