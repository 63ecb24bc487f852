//! The PostgreSQL backend: tokio-postgres pooled by deadpool-postgres.
//!
//! Statements arrive in the portable `?N` form and are rewritten once per
//! distinct statement (see [`super::to_postgres`]), then prepared and
//! cached per connection by deadpool.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, error::SqlState};

use super::{Columns, Db, Dialect, Row, Statement, StoreError, Tx, Val, to_postgres};

/// The PostgreSQL backend.
#[derive(Clone)]
pub struct PostgresDb {
    pool: Pool,
    /// For connections outside the pool (the change feed's listener).
    config: tokio_postgres::Config,
    rewritten: Arc<Mutex<HashMap<&'static str, Arc<str>>>>,
}

impl std::fmt::Debug for PostgresDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDb").finish_non_exhaustive()
    }
}

impl PostgresDb {
    /// Connects a pool to `url`. With `schema`, every connection works in
    /// that schema (tests isolate themselves this way).
    pub async fn connect(
        url: &str,
        schema: Option<&str>,
        max_size: usize,
    ) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|_| StoreError::Backend("invalid DATABASE_URL".into()))?;
        if let Some(schema) = schema {
            config.options(format!("-c search_path={schema}"));
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .build()
            .map_err(|_| StoreError::Unavailable)?;
        let db = Self {
            pool,
            config,
            rewritten: Arc::default(),
        };
        // Fail at start, not at the first request, when the URL is wrong.
        drop(db.client().await?);
        Ok(db)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|_| StoreError::Unavailable)
    }

    fn sql(&self, sql: &'static str) -> Arc<str> {
        let mut cache = self.rewritten.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(cache.entry(sql).or_insert_with(|| to_postgres(sql).into()))
    }
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::I64(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Val::I64(v) => v.to_sql(ty, out),
            Val::Text(v) => v.as_str().to_sql(ty, out),
            Val::Bytes(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn read_row(row: &tokio_postgres::Row, columns: &Columns) -> Result<Row, StoreError> {
    let mut vals = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let t = col.type_();
        let bad = |_| StoreError::Decode("column type");
        let v = if *t == Type::INT8 {
            row.try_get::<_, Option<i64>>(i).map_err(bad)?.map(Val::I64)
        } else if *t == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map_err(bad)?
                .map(|v| Val::I64(v.into()))
        } else if *t == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i)
                .map_err(bad)?
                .map(Val::Bytes)
        } else if *t == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map_err(bad)?
                .map(|b| Val::I64(b.into()))
        } else {
            row.try_get::<_, Option<String>>(i)
                .map_err(bad)?
                .map(Val::Text)
        };
        vals.push(v.unwrap_or(Val::Null));
    }
    Ok(Row::new(vals, columns.clone()))
}

fn map_err(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict,
        Some(c) => StoreError::Backend(format!("sqlstate {}", c.code())),
        None if e.is_closed() => StoreError::Unavailable,
        None => StoreError::Backend("postgres client error".into()),
    }
}

fn refs(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

async fn query_on(client: &Object, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
    let stmt = client.prepare_cached(sql).await.map_err(map_err)?;
    let rows = client.query(&stmt, &refs(params)).await.map_err(map_err)?;
    decode_rows(&stmt, &rows)
}

/// A statement's rows, decoded under its column names.
fn decode_rows(
    stmt: &tokio_postgres::Statement,
    rows: &[tokio_postgres::Row],
) -> Result<Vec<Row>, StoreError> {
    let columns: Columns = stmt.columns().iter().map(|c| c.name().into()).collect();
    rows.iter().map(|r| read_row(r, &columns)).collect()
}

/// What a pipelined statement is run for.
#[derive(Clone, Copy)]
enum Want {
    /// Its rows.
    Rows,
    /// The number of rows it changed.
    Count,
}

/// One statement's answer in a pipeline.
enum Answer {
    Rows(Vec<Row>),
    Changed(u64),
}

type Call<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<Option<Answer>, StoreError>> + Send + 'a>>;

/// Sends `BEGIN` (when `begin`), the statements and `COMMIT` (when
/// `commit`) before reading any answer, then reads them all: one round
/// trip. tokio-postgres writes a request when its future is first polled,
/// so the futures are polled in order. Statements are prepared first
/// (once per connection: deadpool caches them), so nothing else goes out
/// in between. PostgreSQL answers a statement after a failed one with an
/// error too, and a `COMMIT` after one with a rollback; a statement that
/// fails before it is sent (its parameters do not encode) stops the ones
/// after it, `COMMIT` included, from being sent at all. Either way the
/// first error is the one returned, and nothing was committed.
async fn pipeline(
    client: &Object,
    begin: bool,
    statements: &[(Arc<str>, Vec<Val>, Want)],
    commit: bool,
) -> Result<Vec<Answer>, StoreError> {
    let mut prepared = Vec::with_capacity(statements.len());
    for (sql, _, _) in statements {
        prepared.push(client.prepare_cached(sql).await.map_err(map_err)?);
    }
    let mut calls: Vec<Call<'_>> = Vec::with_capacity(statements.len() + 2);
    if begin {
        calls.push(Box::pin(async {
            client.batch_execute("BEGIN").await.map_err(map_err)?;
            Ok(None)
        }));
    }
    for (stmt, (_, params, want)) in prepared.iter().zip(statements) {
        let want = *want;
        calls.push(Box::pin(async move {
            let params = refs(params);
            Ok(Some(match want {
                Want::Count => {
                    Answer::Changed(client.execute(stmt, &params).await.map_err(map_err)?)
                }
                Want::Rows => {
                    let rows = client.query(stmt, &params).await.map_err(map_err)?;
                    Answer::Rows(decode_rows(stmt, &rows)?)
                }
            }))
        }));
    }
    if commit {
        calls.push(Box::pin(async {
            client.batch_execute("COMMIT").await.map_err(map_err)?;
            Ok(None)
        }));
    }
    let mut answers = Vec::with_capacity(statements.len());
    for outcome in in_order(calls).await {
        if let Some(answer) = outcome? {
            answers.push(answer);
        }
    }
    Ok(answers)
}

/// Waits for the calls, polling the pending ones in their order each time
/// (so the first poll of each, which sends its request, happens in order:
/// `join_all` does not promise an order). A call is not started once an
/// earlier one has failed: its answer is missing from the result, which
/// holds the failure before it.
async fn in_order(mut calls: Vec<Call<'_>>) -> Vec<Result<Option<Answer>, StoreError>> {
    use std::task::Poll;
    let mut done: Vec<Option<Result<Option<Answer>, StoreError>>> =
        calls.iter().map(|_| None).collect();
    // Calls before this index have been started.
    let mut started = 0;
    let mut failed = false;
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, (call, slot)) in calls.iter_mut().zip(done.iter_mut()).enumerate() {
            if slot.is_some() {
                continue;
            }
            if i >= started {
                if failed {
                    break;
                }
                started = i + 1;
            }
            match call.as_mut().poll(cx) {
                Poll::Ready(v) => {
                    failed |= v.is_err();
                    *slot = Some(v);
                }
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

#[async_trait]
impl Db for PostgresDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn pool_stats(&self) -> super::PoolStats {
        let s = self.pool.status();
        super::PoolStats {
            size: s.size,
            in_use: s.size.saturating_sub(s.available),
            waiting: s.waiting,
            writer_queue: None,
        }
    }

    async fn query(&self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        query_on(&client, &self.sql(sql), &params).await
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        // `BEGIN` goes out with the first statements (see `PostgresTx`).
        Ok(Box::new(PostgresTx {
            client: Some(self.client().await?),
            db: self.clone(),
            begun: false,
        }))
    }

    fn listen(
        &self,
        channel: &str,
        on_note: super::NoteSink,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let (config, listen) = (self.config.clone(), format!("LISTEN \"{channel}\""));
        Some(tokio::spawn(async move {
            let mut backoff = std::time::Duration::from_millis(100);
            loop {
                if let Ok((client, mut conn)) = config.connect(NoTls).await {
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                    // The connection's messages: notifications go to the
                    // loop below; its end (or an error) ends that loop.
                    let driver = tokio::spawn(async move {
                        use futures_util::StreamExt as _;
                        let mut messages =
                            futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
                        while let Some(Ok(m)) = messages.next().await {
                            if let tokio_postgres::AsyncMessage::Notification(n) = m
                                && tx.send(n.payload().to_owned()).is_err()
                            {
                                break;
                            }
                        }
                    });
                    if client.batch_execute(&listen).await.is_ok() {
                        backoff = std::time::Duration::from_millis(100);
                        on_note(None);
                        while let Some(payload) = rx.recv().await {
                            on_note(Some(&payload));
                        }
                    }
                    driver.abort();
                    tracing::warn!("change feed listener disconnected");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
            }
        }))
    }
}

/// A transaction on one pooled connection. `BEGIN` is not a round trip
/// of its own: it is sent in the same pipeline as the transaction's first
/// statements, and a transaction that ran none never sends it.
struct PostgresTx {
    client: Option<Object>,
    db: PostgresDb,
    /// Whether `BEGIN` was sent.
    begun: bool,
}

impl PostgresTx {
    /// Runs `statements` (and `COMMIT` after them when `commit`) in one
    /// pipeline, preceded by `BEGIN` if the transaction has not started.
    async fn run(
        &mut self,
        statements: Vec<(&'static str, Vec<Val>, Want)>,
        commit: bool,
    ) -> Result<Vec<Answer>, StoreError> {
        let statements: Vec<_> = statements
            .into_iter()
            .map(|(sql, params, want)| (self.db.sql(sql), params, want))
            .collect();
        let begin = !self.begun;
        // From here a `BEGIN` may be out: a drop rolls back.
        self.begun = true;
        let client = self.client.as_ref().ok_or(StoreError::Unavailable)?;
        let answers = pipeline(client, begin, &statements, commit).await?;
        if commit {
            // Committed: the connection goes back to the pool as it is. On
            // any failure it stays, and the drop rolls back (a no-op when
            // the `COMMIT` already ended the transaction).
            self.client.take();
        }
        Ok(answers)
    }

    async fn one(
        &mut self,
        sql: &'static str,
        params: Vec<Val>,
        want: Want,
    ) -> Result<Answer, StoreError> {
        self.run(vec![(sql, params, want)], false)
            .await?
            .pop()
            .ok_or(StoreError::Unavailable)
    }
}

#[async_trait]
impl Tx for PostgresTx {
    async fn query(&mut self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        match self.one(sql, params, Want::Rows).await? {
            Answer::Rows(rows) => Ok(rows),
            Answer::Changed(_) => Err(StoreError::Decode("expected rows")),
        }
    }

    async fn execute(&mut self, sql: &'static str, params: Vec<Val>) -> Result<u64, StoreError> {
        match self.one(sql, params, Want::Count).await? {
            Answer::Changed(n) => Ok(n),
            Answer::Rows(_) => Err(StoreError::Decode("expected a row count")),
        }
    }

    async fn batch(&mut self, sql: String) -> Result<(), StoreError> {
        // Migrations only: `BEGIN` on a round trip of its own is fine here.
        let client = self.client.as_ref().ok_or(StoreError::Unavailable)?;
        if !self.begun {
            self.begun = true;
            client.batch_execute("BEGIN").await.map_err(map_err)?;
        }
        client.batch_execute(&sql).await.map_err(map_err)
    }

    async fn query_all(&mut self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>, StoreError> {
        let statements = statements
            .into_iter()
            .map(|(sql, params)| (sql, params, Want::Rows))
            .collect();
        self.run(statements, false)
            .await?
            .into_iter()
            .map(|a| match a {
                Answer::Rows(rows) => Ok(rows),
                Answer::Changed(_) => Err(StoreError::Decode("expected rows")),
            })
            .collect()
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.commit_after(Vec::new()).await
    }

    async fn commit_after(
        mut self: Box<Self>,
        statements: Vec<Statement>,
    ) -> Result<(), StoreError> {
        if !self.begun && statements.is_empty() {
            // Nothing ran: nothing to commit.
            self.client.take();
            return Ok(());
        }
        let statements = statements
            .into_iter()
            .map(|(sql, params)| (sql, params, Want::Count))
            .collect();
        self.run(statements, true).await.map(drop)
    }
}

impl Drop for PostgresTx {
    fn drop(&mut self) {
        // Not committed: roll back before the connection returns to the
        // pool. Drop cannot await, so a task finishes the job; if there is
        // no runtime any more the connection is discarded instead. A
        // transaction that never began has nothing to roll back.
        let Some(client) = self.client.take() else {
            return;
        };
        if !self.begun {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        let _ = Object::take(client);
                    }
                });
            }
            Err(_) => {
                let _ = Object::take(client);
            }
        }
    }
}
