//! The embedded SQLite backend.
//!
//! rusqlite is synchronous, so every statement runs on tokio's blocking
//! pool. A small pool of connections (WAL mode: readers never wait for the
//! writer) is shared by reads and transactions; write transactions start
//! with `BEGIN IMMEDIATE`, so two writers queue on SQLite's lock (with a
//! busy timeout) instead of failing with a lock upgrade error half-way.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Db, Dialect, Row, StoreError, Tx, Val};

/// Connections kept open; SQLite admits one writer at a time anyway.
const POOL_SIZE: usize = 4;

/// The SQLite backend.
#[derive(Clone)]
pub struct SqliteDb {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
    /// Write transactions queue here, in order, instead of polling SQLite's
    /// lock (its busy handler sleeps in growing steps, which under load
    /// turns a queue of writers into seconds of latency).
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDb").finish_non_exhaustive()
    }
}

impl SqliteDb {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conns = Vec::with_capacity(POOL_SIZE);
        for _ in 0..POOL_SIZE {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(map_err)?;
            conn.busy_timeout(Duration::from_secs(10))
                .map_err(map_err)?;
            conn.execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA secure_delete = ON;",
            )
            .map_err(map_err)?;
            conns.push(conn);
        }
        Ok(Self {
            idle: Arc::new(Mutex::new(conns)),
            permits: Arc::new(Semaphore::new(POOL_SIZE)),
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    async fn checkout(&self) -> Result<Pooled, StoreError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable)?;
        let conn = self
            .idle
            .lock()
            .map_err(|_| StoreError::Unavailable)?
            .pop()
            .ok_or(StoreError::Unavailable)?;
        Ok(Pooled {
            slot: Some((conn, permit)),
            idle: Arc::clone(&self.idle),
        })
    }
}

/// A connection on loan from the pool, with the permit that counts it.
///
/// While a statement runs, both travel to the blocking thread. If the
/// request that started it is cancelled (a client hanging up drops the
/// handler future), the blocking thread finds nobody waiting and returns
/// the connection to the pool itself, rolled back, before releasing the
/// permit: a cancelled request can neither leak a connection nor leave a
/// transaction open.
struct Pooled {
    slot: Option<(Connection, OwnedSemaphorePermit)>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

fn release(conn: Connection, idle: &Mutex<Vec<Connection>>) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    if let Ok(mut idle) = idle.lock() {
        idle.push(conn);
    }
}

impl Pooled {
    /// Runs `f` with the connection on the blocking pool. The loan itself
    /// travels to the blocking thread and back, so wherever it is dropped
    /// (a cancelled request, a lost reply) its `Drop` returns the
    /// connection to the pool.
    async fn run<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let mut loan = Pooled {
            slot: self.slot.take(),
            idle: Arc::clone(&self.idle),
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let result = match loan.slot.as_mut() {
                Some((conn, _)) => f(conn),
                None => Err(StoreError::Unavailable),
            };
            let _ = tx.send((loan, result));
        });
        let (mut loan, result) = rx.await.map_err(|_| StoreError::Unavailable)?;
        self.slot = loan.slot.take();
        result
    }
}

impl Pooled {
    /// Runs a statement of an open write transaction. On a multi-threaded
    /// runtime it runs right here (`block_in_place` hands this worker's
    /// other tasks to another thread): such a statement is page work in
    /// memory, and the hop to the blocking pool cost more than the
    /// statement (server push: 59 req/s through the pool, 157 inline).
    /// Nothing is awaited inside, so a cancelled request cannot stop it
    /// half-way. On a current-thread runtime it goes through
    /// [`Self::run`].
    async fn run_here<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
            let Some((conn, _)) = self.slot.as_mut() else {
                return Err(StoreError::Unavailable);
            };
            return tokio::task::block_in_place(|| f(conn));
        }
        self.run(f).await
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some((conn, permit)) = self.slot.take() {
            // Back in the pool (rolled back if a `Tx` was dropped) before the
            // permit lets anyone else look for it.
            release(conn, &self.idle);
            drop(permit);
        }
    }
}

impl ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::Owned(Value::Null),
            Val::I64(v) => ToSqlOutput::Owned(Value::Integer(*v)),
            Val::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Val::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

fn read_row(row: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    let mut vals = Vec::with_capacity(n);
    for i in 0..n {
        vals.push(match row.get_ref(i)? {
            ValueRef::Null => Val::Null,
            ValueRef::Integer(v) => Val::I64(v),
            ValueRef::Real(v) => Val::I64(v as i64),
            ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Val::Bytes(b.to_vec()),
        });
    }
    Ok(Row(vals))
}

fn query_on(conn: &Connection, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let n = stmt.column_count();
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter()), |r| {
            read_row(r, n)
        })
        .map_err(map_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
}

fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict
        }
        rusqlite::Error::SqliteFailure(f, _) => {
            StoreError::Backend(format!("sqlite code {}", f.extended_code))
        }
        _ => StoreError::Backend("sqlite client error".into()),
    }
}

#[async_trait]
impl Db for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn query(&self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        let mut conn = self.checkout().await?;
        // Reads stay on the blocking pool: they run side by side (WAL), and
        // inline they measured no faster.
        conn.run(move |c| query_on(c, sql, &params)).await
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        // Take a place in the writers' queue before a connection, so that
        // waiting writers never starve readers of connections.
        let writer = Arc::clone(&self.writer).lock_owned().await;
        let mut conn = self.checkout().await?;
        conn.run(|c| c.execute_batch("BEGIN IMMEDIATE").map_err(map_err))
            .await?;
        Ok(Box::new(SqliteTx {
            conn,
            _writer: writer,
        }))
    }

    async fn begin_read(&self) -> Result<Box<dyn Tx>, StoreError> {
        let mut conn = self.checkout().await?;
        conn.run(|c| c.execute_batch("BEGIN").map_err(map_err))
            .await?;
        Ok(Box::new(SqliteReadTx { conn }))
    }
}

/// A read-only snapshot (see [`Db::begin_read`]): a deferred transaction
/// on a pooled connection, outside the writers' queue. WAL lets it read
/// while a writer commits.
struct SqliteReadTx {
    conn: Pooled,
}

#[async_trait]
impl Tx for SqliteReadTx {
    async fn query(&mut self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        self.conn.run(move |c| query_on(c, sql, &params)).await
    }

    async fn execute(&mut self, _sql: &'static str, _params: Vec<Val>) -> Result<u64, StoreError> {
        Err(StoreError::Backend("write in a read transaction".into()))
    }

    async fn batch(&mut self, _sql: String) -> Result<(), StoreError> {
        Err(StoreError::Backend("write in a read transaction".into()))
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.conn
            .run(|c| c.execute_batch("COMMIT").map_err(map_err))
            .await
    }
}

/// Fields drop in order: the connection (rolled back if uncommitted) goes
/// back to the pool before the next writer is let in.
struct SqliteTx {
    conn: Pooled,
    _writer: tokio::sync::OwnedMutexGuard<()>,
}

#[async_trait]
impl Tx for SqliteTx {
    async fn query(&mut self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        self.conn.run_here(move |c| query_on(c, sql, &params)).await
    }

    async fn execute(&mut self, sql: &'static str, params: Vec<Val>) -> Result<u64, StoreError> {
        self.conn
            .run_here(move |c| {
                let mut stmt = c.prepare_cached(sql).map_err(map_err)?;
                let n = stmt
                    .execute(rusqlite::params_from_iter(params.iter()))
                    .map_err(map_err)?;
                Ok(n as u64)
            })
            .await
    }

    async fn batch(&mut self, sql: String) -> Result<(), StoreError> {
        self.conn
            .run(move |c| c.execute_batch(&sql).map_err(map_err))
            .await
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.conn
            .run(|c| c.execute_batch("COMMIT").map_err(map_err))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a request cancelled while its statement ran on the
    /// blocking pool used to lose its connection, until every checkout
    /// failed with `Unavailable` (503).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_statements_return_their_connection_rolled_back() {
        let dir = tempfile::tempdir().expect("dir");
        let db = SqliteDb::open(&dir.path().join("t.db")).expect("open");
        let mut setup = db.begin().await.expect("begin");
        setup
            .batch("CREATE TABLE t (x INTEGER)".into())
            .await
            .expect("ddl");
        setup.commit().await.expect("commit");
        for _ in 0..(POOL_SIZE * 2) {
            let mut tx = db.begin().await.expect("begin");
            let slow = tx.batch("INSERT INTO t VALUES (1); SELECT 1".into());
            let cancelled = async {
                // Give the statement time to start, then drop it mid-run.
                let f = async {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    slow.await
                };
                tokio::time::timeout(std::time::Duration::from_nanos(1), f).await
            };
            let _ = cancelled.await;
            drop(tx);
        }
        // Every connection is back, none inside a transaction.
        let mut held = Vec::new();
        for _ in 0..POOL_SIZE {
            held.push(
                tokio::time::timeout(std::time::Duration::from_secs(5), db.checkout())
                    .await
                    .expect("no leak")
                    .expect("checkout"),
            );
        }
        drop(held);
        let rows = db
            .query("SELECT COUNT(*) FROM t", vec![])
            .await
            .expect("count");
        assert_eq!(
            rows[0].i64(0).expect("n"),
            0,
            "cancelled transactions rolled back"
        );
    }
}
