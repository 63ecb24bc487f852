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

use super::{Columns, Db, Dialect, Row, StoreError, Tx, Val, to_postgres};

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
    let columns: Columns = stmt.columns().iter().map(|c| c.name().into()).collect();
    rows.iter().map(|r| read_row(r, &columns)).collect()
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
        let client = self.client().await?;
        client.batch_execute("BEGIN").await.map_err(map_err)?;
        Ok(Box::new(PostgresTx {
            client: Some(client),
            db: self.clone(),
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

struct PostgresTx {
    client: Option<Object>,
    db: PostgresDb,
}

impl PostgresTx {
    fn client(&self) -> Result<&Object, StoreError> {
        self.client.as_ref().ok_or(StoreError::Unavailable)
    }
}

#[async_trait]
impl Tx for PostgresTx {
    async fn query(&mut self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        let sql = self.db.sql(sql);
        query_on(self.client()?, &sql, &params).await
    }

    async fn execute(&mut self, sql: &'static str, params: Vec<Val>) -> Result<u64, StoreError> {
        let sql = self.db.sql(sql);
        let client = self.client()?;
        let stmt = client.prepare_cached(&sql).await.map_err(map_err)?;
        client.execute(&stmt, &refs(&params)).await.map_err(map_err)
    }

    async fn batch(&mut self, sql: String) -> Result<(), StoreError> {
        self.client()?.batch_execute(&sql).await.map_err(map_err)
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let client = self.client.take().ok_or(StoreError::Unavailable)?;
        client.batch_execute("COMMIT").await.map_err(map_err)
    }
}

impl Drop for PostgresTx {
    fn drop(&mut self) {
        // Not committed: roll back before the connection returns to the
        // pool. Drop cannot await, so a task finishes the job; if there is
        // no runtime any more the connection is discarded instead.
        if let Some(client) = self.client.take() {
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
}
