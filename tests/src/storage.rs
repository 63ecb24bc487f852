//! The databases tests run on: a fresh SQLite file or PostgreSQL schema
//! per test, removed when dropped, and the store fixture the store-level
//! suites use.

use super::*;

/// Where a test's database lives; dropping it removes the database (the
/// temporary directory, or the PostgreSQL schema).
pub(crate) enum Storage {
    Sqlite { dir: tempfile::TempDir },
    Postgres { url: String, schema: String },
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Storage::Postgres { url, schema } = self {
            let (url, sql) = (
                url.clone(),
                format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            );
            // Drop cannot await; a short-lived runtime on its own thread does.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(pg_exec(&url, &sql));
                }
            })
            .join();
        }
    }
}

/// A store opened (migrations run) on a fresh database under a fresh
/// master key: what every test server, and every store-level test, starts
/// from.
pub(crate) struct FreshStore {
    pub(crate) store: Store,
    pub(crate) storage: Storage,
    pub(crate) master_key: String,
}

impl FreshStore {
    /// `None` when the backend is not available (skipped).
    pub(crate) async fn open(backend: Backend) -> Option<Self> {
        let (db, storage): (Arc<dyn Db>, Storage) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let db = SqliteDb::open(&dir.path().join("praxis.sqlite3")).expect("open sqlite");
                (Arc::new(db), Storage::Sqlite { dir })
            }
            Backend::Postgres => {
                let url = postgres_url()?;
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                pg_exec(&url, &format!("CREATE SCHEMA {schema}")).await;
                let db = PostgresDb::connect(&url, Some(&schema), 8)
                    .await
                    .expect("connect postgres");
                (Arc::new(db), Storage::Postgres { url, schema })
            }
        };
        let master_key = MasterKeys::generate_line("test");
        let vault = Vault::new(MasterKeys::parse(&master_key).expect("master key"));
        let store = Store::open(db, vault, epoch()).await.expect("migrations");
        Some(Self {
            store,
            storage,
            master_key,
        })
    }
}

pub(crate) async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PRAXIS_TEST_DATABASE_URL");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

pub(crate) async fn pg_exec(url: &str, sql: &str) {
    pg_client(url)
        .await
        .batch_execute(sql)
        .await
        .expect("postgres statement");
}

/// A store on a fresh database, with no server around it: what the
/// store-level suites (`tests/tests/store/`) call directly. Dropping it
/// removes the database.
pub struct StoreFixture {
    /// The store under test.
    pub store: Store,
    /// The injected clock (starts at [`epoch`]); tests move it and pass
    /// [`StoreFixture::now`] to the store.
    pub clock: Arc<ManualClock>,
    /// Which backend it runs on.
    pub backend: Backend,
    _storage: Storage,
}

impl std::fmt::Debug for StoreFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFixture")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl StoreFixture {
    /// Opens a fresh store; `None` when the backend is not available
    /// (skipped, as [`TestServer::start`]).
    pub async fn open(backend: Backend) -> Option<Self> {
        let FreshStore { store, storage, .. } = FreshStore::open(backend).await?;
        Some(Self {
            store,
            clock: Arc::new(ManualClock::new(epoch())),
            backend,
            _storage: storage,
        })
    }

    /// The injected clock's time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Moves the injected clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// Runs one query returning a single integer (a count) through the
    /// store's own backend.
    pub async fn count(&self, sql: &'static str, params: Vec<Val>) -> i64 {
        let rows = self.store.db().query(sql, params).await.expect("count");
        rows.first().expect("a row").i64(0).expect("an integer")
    }

    /// Runs one statement in a transaction of its own, behind the store's
    /// back (to tamper with what it wrote); the rows changed.
    pub async fn exec(&self, sql: &'static str, params: Vec<Val>) -> u64 {
        let mut tx = self.store.db().begin().await.expect("begin");
        let n = tx.execute(sql, params).await.expect("statement");
        tx.commit().await.expect("commit");
        n
    }
}
