//! The backend trait and its value model: the only code that differs
//! between SQLite and PostgreSQL lives below this module.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A value bound to, or read from, a statement. Four kinds cover the whole
/// schema: text ids and strings, `BIGINT` numbers and timestamps, `BLOB` /
/// `BYTEA` hashes, and NULL.
#[derive(Clone, PartialEq, Eq)]
pub enum Val {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    I64(i64),
    /// A string.
    Text(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

// Values are personal data more often than not: never print them.
impl std::fmt::Debug for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Null => "Null",
            Self::I64(_) => "I64([redacted])",
            Self::Text(_) => "Text([redacted])",
            Self::Bytes(_) => "Bytes([redacted])",
        })
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Self::I64(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<&[u8]> for Val {
    fn from(v: &[u8]) -> Self {
        Self::Bytes(v.to_vec())
    }
}
impl From<uuid::Uuid> for Val {
    fn from(v: uuid::Uuid) -> Self {
        Self::Text(v.to_string())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// The names of a result's columns, as its select list gives them (the
/// column's name, or its alias), shared by every row of the result.
pub type Columns = std::sync::Arc<[Box<str>]>;

/// One result row. Columns are read by name (`r.text("email")`), the
/// name the query's select list gives them, so a decoder reads like its
/// query; an expression is named with `AS` (SQLite and PostgreSQL name
/// `COUNT(*)` differently). A position (`r.i64(0)`) is kept for
/// single-column results, where there is nothing to confuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    values: Vec<Val>,
    columns: Columns,
}

/// A column of a [`Row`]: its name in the select list, or its position.
pub trait Column: Copy {
    /// Its position in `row`, if it has one.
    fn position(self, row: &Row) -> Option<usize>;
}

impl Column for usize {
    fn position(self, row: &Row) -> Option<usize> {
        (self < row.values.len()).then_some(self)
    }
}

impl Column for &str {
    fn position(self, row: &Row) -> Option<usize> {
        row.columns.iter().position(|c| &**c == self)
    }
}

impl Row {
    /// A row of `values` named by `columns` (a backend builds these).
    pub fn new(values: Vec<Val>, columns: Columns) -> Self {
        debug_assert_eq!(values.len(), columns.len());
        Self { values, columns }
    }

    /// The values, in the select list's order.
    pub fn into_values(self) -> Vec<Val> {
        self.values
    }

    fn get(&self, c: impl Column) -> Result<&Val, StoreError> {
        c.position(self)
            .and_then(|i| self.values.get(i))
            .ok_or(StoreError::Decode("no such column"))
    }

    /// Column `c` as an integer.
    pub fn i64(&self, c: impl Column) -> Result<i64, StoreError> {
        match self.get(c)? {
            Val::I64(v) => Ok(*v),
            _ => Err(StoreError::Decode("expected an integer")),
        }
    }

    /// Column `c` as an integer or NULL.
    pub fn opt_i64(&self, c: impl Column) -> Result<Option<i64>, StoreError> {
        match self.get(c)? {
            Val::Null => Ok(None),
            Val::I64(v) => Ok(Some(*v)),
            _ => Err(StoreError::Decode("expected an integer or NULL")),
        }
    }

    /// Column `c` as bytes.
    pub fn bytes(&self, c: impl Column) -> Result<Vec<u8>, StoreError> {
        match self.get(c)? {
            Val::Bytes(v) => Ok(v.clone()),
            _ => Err(StoreError::Decode("expected bytes")),
        }
    }

    /// Column `c` as text.
    pub fn text(&self, c: impl Column) -> Result<String, StoreError> {
        match self.get(c)? {
            Val::Text(v) => Ok(v.clone()),
            _ => Err(StoreError::Decode("expected text")),
        }
    }

    /// Column `c` as text, or `None` when NULL.
    pub fn opt_text(&self, c: impl Column) -> Result<Option<String>, StoreError> {
        match self.get(c)? {
            Val::Null => Ok(None),
            Val::Text(v) => Ok(Some(v.clone())),
            _ => Err(StoreError::Decode("expected text or NULL")),
        }
    }

    /// Column `c` as a UUID stored as text, or `None` when NULL.
    pub fn opt_uuid(&self, c: impl Column) -> Result<Option<uuid::Uuid>, StoreError> {
        self.opt_text(c)?
            .map(|t| uuid::Uuid::parse_str(&t).map_err(|_| StoreError::Decode("expected a uuid")))
            .transpose()
    }

    /// Column `c` as a UUID stored as text.
    pub fn uuid(&self, c: impl Column) -> Result<uuid::Uuid, StoreError> {
        uuid::Uuid::parse_str(&self.text(c)?).map_err(|_| StoreError::Decode("expected a uuid"))
    }
}

/// Which SQL dialect a backend speaks (for the few statements that differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite through rusqlite.
    Sqlite,
    /// PostgreSQL through tokio-postgres.
    Postgres,
}

/// Storage failures. Messages name the failure class only, never a value:
/// database drivers like to quote the offending row (PostgreSQL's unique
/// violation detail holds the duplicate email), so none of their text is
/// kept.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint rejected the write.
    #[error("unique constraint violated")]
    Conflict,
    /// The database could not be reached or the pool is exhausted.
    #[error("database unavailable")]
    Unavailable,
    /// The database answered with an error (SQLSTATE or SQLite code only).
    #[error("database error {0}")]
    Backend(String),
    /// A row did not have the expected shape.
    #[error("row decoding failed: {0}")]
    Decode(&'static str),
    /// A migration could not be applied.
    #[error("migration {0} failed")]
    Migration(u32),
    /// Processing of the account is restricted (Art. 18): nothing but
    /// consent changes.
    #[error("processing of the account is restricted")]
    Restricted,
    /// A cap on what one account or organisation may hold is reached
    /// (the named field: `organisations`, `join_codes`, `live_shares`);
    /// nothing was written.
    #[error("limit reached: {0}")]
    LimitReached(&'static str),
}

/// A database backend.
#[async_trait]
pub trait Db: Send + Sync + std::fmt::Debug + 'static {
    /// The backend's dialect.
    fn dialect(&self) -> Dialect;
    /// Runs one statement outside any explicit transaction and returns its rows.
    async fn query(&self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError>;
    /// Starts a write transaction (SQLite: `BEGIN IMMEDIATE`).
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError>;
    /// Starts a write transaction for bulk work (purges, erasure, pruning,
    /// migrations), whose statements may touch thousands of rows. SQLite
    /// runs a request transaction's statements on the async worker that
    /// asked (each is a few rows), and a bulk transaction's off it. By
    /// default [`Db::begin`].
    async fn begin_bulk(&self) -> Result<Box<dyn Tx>, StoreError> {
        self.begin().await
    }
    /// Starts a read-only transaction: one consistent snapshot that never
    /// waits for writers (SQLite: a deferred `BEGIN` outside the writers'
    /// queue; writes in it are refused). By default a write transaction,
    /// for engines where writers do not block readers.
    async fn begin_read(&self) -> Result<Box<dyn Tx>, StoreError> {
        self.begin().await
    }
    /// Listens to `channel` on a connection of its own, for the other
    /// replicas' change notes: `on_note(Some(payload))` for each one, and
    /// `on_note(None)` whenever notes may have been missed (each time the
    /// listening connection is (re)established). Runs until the returned
    /// task is aborted. `None` from engines with no notifications (SQLite:
    /// one process, whose commits reach its streams directly).
    fn listen(&self, channel: &str, on_note: NoteSink) -> Option<tokio::task::JoinHandle<()>> {
        let _ = (channel, on_note);
        None
    }
    /// The group commit's counters, for engines that group commits
    /// (SQLite); `None` where every transaction commits on its own.
    fn commit_stats(&self) -> Option<CommitStats> {
        None
    }
    /// The connection pool's occupancy now.
    fn pool_stats(&self) -> PoolStats;
}

/// A connection pool's occupancy (for the metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections the pool holds (SQLite: the read pool; write
    /// transactions run on one more connection of their own and wait in
    /// `writer_queue`, not here).
    pub size: usize,
    /// Connections lent out.
    pub in_use: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Write transactions waiting for the single writer (SQLite).
    pub writer_queue: Option<usize>,
}

/// How many commits (each one fsync on SQLite) carried how many write
/// transactions since the database was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Commits that reached the disk.
    pub commits: u64,
    /// Write transactions those commits carried.
    pub transactions: u64,
}

/// Receives the notes of [`Db::listen`].
pub type NoteSink = Box<dyn Fn(Option<&str>) + Send + Sync>;

/// One statement and its parameters, for [`Tx::query_all`] and
/// [`Tx::commit_after`].
pub type Statement = (&'static str, Vec<Val>);

/// An open transaction. Dropping it without [`Tx::commit`] rolls it back.
#[async_trait]
pub trait Tx: Send {
    /// Runs one statement and returns its rows.
    async fn query(&mut self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError>;
    /// Runs one statement and returns the number of rows it changed.
    async fn execute(&mut self, sql: &'static str, params: Vec<Val>) -> Result<u64, StoreError>;
    /// Runs several `;`-separated statements without parameters (migrations).
    async fn batch(&mut self, sql: String) -> Result<(), StoreError>;
    /// Commits.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
    /// Runs independent statements in order and returns each one's rows
    /// in its place; the first failure is returned (and, as for any
    /// failed statement, the transaction is then only good for dropping).
    /// PostgreSQL sends them all before reading any answer: one round
    /// trip instead of one each. By default one after the other.
    async fn query_all(&mut self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>, StoreError> {
        let mut out = Vec::with_capacity(statements.len());
        for (sql, params) in statements {
            out.push(self.query(sql, params).await?);
        }
        Ok(out)
    }
    /// Runs the last statements of the transaction, whose rows nobody
    /// reads, then commits; nothing is committed unless every one of them
    /// succeeded. PostgreSQL sends them and the commit in one round trip.
    /// By default one after the other, then [`Tx::commit`].
    async fn commit_after(
        mut self: Box<Self>,
        statements: Vec<Statement>,
    ) -> Result<(), StoreError> {
        for (sql, params) in statements {
            self.execute(sql, params).await?;
        }
        self.commit().await
    }
    /// What a wrapping transaction carries for the code above the backend
    /// (the store's transactions carry its vault); backends carry nothing.
    fn extension(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        None
    }
}

/// Rewrites portable SQL into PostgreSQL's form: `?N` placeholders become
/// `$N`, and the `/*FOR UPDATE*/` and `/*FOR KEY SHARE*/` markers (row
/// locks, which SQLite neither has nor needs under `BEGIN IMMEDIATE`)
/// become `FOR UPDATE` and `FOR KEY SHARE`.
pub fn to_postgres(sql: &str) -> String {
    let sql = sql
        .replace("/*FOR UPDATE*/", "FOR UPDATE")
        .replace("/*FOR KEY SHARE*/", "FOR KEY SHARE");
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// Milliseconds since the epoch, the storage form of every instant.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn at(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or(StoreError::Decode("timestamp out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_rewrite_turns_placeholders_and_lock_markers() {
        assert_eq!(
            to_postgres("SELECT a FROM t WHERE x = ?1 AND y = ?12 /*FOR UPDATE*/"),
            "SELECT a FROM t WHERE x = $1 AND y = $12 FOR UPDATE"
        );
        assert_eq!(
            to_postgres("SELECT a FROM t WHERE x = ?1 /*FOR KEY SHARE*/"),
            "SELECT a FROM t WHERE x = $1 FOR KEY SHARE"
        );
        assert_eq!(to_postgres("SELECT '?' "), "SELECT '?' ");
    }

    #[test]
    fn values_never_print_their_contents() {
        let v = format!("{:?}", Val::Text("someone@example.org".into()));
        assert!(!v.contains("someone"));
    }
}
