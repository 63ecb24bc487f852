//! A connection on loan from the SQLite pool, and statements on it: how
//! a statement runs (on the blocking pool, or in place for a write
//! transaction's), how values and rows convert, how errors are named.

use std::sync::{Arc, Mutex};

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ToSql};
use tokio::sync::OwnedSemaphorePermit;

use crate::store::backend::{Columns, Row, StoreError, Val};

/// A connection on loan from the pool, with the permit that counts it.
///
/// While a statement runs, both travel to the blocking thread. If the
/// request that started it is cancelled (a client hanging up drops the
/// handler future), the blocking thread finds nobody waiting and returns
/// the connection to the pool itself, rolled back, before releasing the
/// permit: a cancelled request can neither leak a connection nor leave a
/// transaction open.
pub(super) struct Pooled {
    pub(super) slot: Option<(Connection, OwnedSemaphorePermit)>,
    pub(super) idle: Arc<Mutex<Vec<Connection>>>,
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
    /// Lends an idle connection of `idle` under `permit` (one of the
    /// permits that count `idle`'s connections, so one is there).
    pub(super) fn lend(
        permit: OwnedSemaphorePermit,
        idle: &Arc<Mutex<Vec<Connection>>>,
    ) -> Result<Self, StoreError> {
        let conn = idle
            .lock()
            .map_err(|_| StoreError::Unavailable)?
            .pop()
            .ok_or(StoreError::Unavailable)?;
        Ok(Self {
            slot: Some((conn, permit)),
            idle: Arc::clone(idle),
        })
    }

    /// Runs `f` with the connection on the blocking pool. The loan itself
    /// travels to the blocking thread and back, so wherever it is dropped
    /// (a cancelled request, a lost reply) its `Drop` returns the
    /// connection to the pool.
    pub(super) async fn run<R: Send + 'static>(
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
    /// runtime it runs right here: such a statement is page work in memory,
    /// and the hop to the blocking pool cost more than the statement
    /// (server push: 59 req/s through the pool, 157 in place). A request
    /// transaction's statements (bounded by the request: a push's flush
    /// writes at most its 2 MiB body's records in one statement) run on
    /// this worker as it is; a bulk one's ([`Db::begin_bulk`]: work over
    /// however many rows there are) inside `block_in_place`, which
    /// first hands this worker's other tasks to another thread. That
    /// hand-off wakes a thread at every statement: 1-mutation pushes ran at
    /// 3.0k req/s with it and 4.3k without. Nothing is awaited inside, so a
    /// cancelled request cannot stop a statement half-way. On a
    /// current-thread runtime it goes through [`Self::run`].
    pub(super) async fn run_here<R: Send + 'static>(
        &mut self,
        bulk: bool,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
            let Some((conn, _)) = self.slot.as_mut() else {
                return Err(StoreError::Unavailable);
            };
            return if bulk {
                tokio::task::block_in_place(|| f(conn))
            } else {
                f(conn)
            };
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

pub(super) fn read_row(row: &rusqlite::Row<'_>, columns: &Columns) -> rusqlite::Result<Row> {
    let mut vals = Vec::with_capacity(columns.len());
    for i in 0..columns.len() {
        vals.push(match row.get_ref(i)? {
            ValueRef::Null => Val::Null,
            ValueRef::Integer(v) => Val::I64(v),
            ValueRef::Real(v) => Val::I64(v as i64),
            ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Val::Bytes(b.to_vec()),
        });
    }
    Ok(Row::new(vals, columns.clone()))
}

pub(super) fn query_on(
    conn: &Connection,
    sql: &str,
    params: &[Val],
) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let columns: Columns = stmt.column_names().map(Into::into).collect();
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter()), |r| {
            read_row(r, &columns)
        })
        .map_err(map_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
}

pub(super) fn map_err(e: rusqlite::Error) -> StoreError {
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
