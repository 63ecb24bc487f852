//! Test harness: a real `praxis-server` over SQLite or PostgreSQL, reached
//! either in-process through `tower::ServiceExt::oneshot` or over a real
//! socket on port 0, with an injected clock.
//!
//! [`suite!`] runs the same async test functions in all four combinations,
//! as modules named `sqlite_oneshot`, `sqlite_http`, `postgres_oneshot` and
//! `postgres_http` (so `cargo test -- --skip postgres` leaves PostgreSQL out).
//! [`store_suite!`] runs store-level tests (no server, no HTTP) once per
//! backend, as modules `sqlite` and `postgres`, each on a fresh
//! [`StoreFixture`].
//!
//! PostgreSQL tests use `PRAXIS_TEST_DATABASE_URL`; each server gets a
//! schema of its own, dropped when the server is. Without the variable they
//! are skipped with a message, unless `PRAXIS_REQUIRE_POSTGRES=1` (CI) turns
//! the absence into a failure.

pub mod feed;
pub mod smtp;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use praxis_server::clock::{Clock, ManualClock};
use praxis_server::store::{
    Db, MasterKeys, Store, Val, Vault, postgres::PostgresDb, sqlite::SqliteDb,
};
use praxis_server::{AppState, Settings};
use rusqlite::types::ValueRef;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in a temporary directory.
    Sqlite,
    /// PostgreSQL from `PRAXIS_TEST_DATABASE_URL`, in a fresh schema.
    Postgres,
}

/// How requests reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `app(state).oneshot(request)`, no socket.
    Oneshot,
    /// A real server on 127.0.0.1, port 0, through reqwest.
    Http,
}

/// A plain reqwest client for loopback tests. reqwest is built without a
/// default crypto provider (the core hands it a ring-based configuration),
/// so the harness does the same.
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().expect("http client")
}

/// The builder behind [`http_client`], for tests that need other settings.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .pool_max_idle_per_host(1)
}

/// The environment variable naming the PostgreSQL test database.
pub const PG_URL_VAR: &str = "PRAXIS_TEST_DATABASE_URL";

/// The PostgreSQL URL for tests, or `None` (with a loud message) to skip.
pub fn postgres_url() -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("PRAXIS_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
            panic!("PRAXIS_REQUIRE_POSTGRES=1 but {PG_URL_VAR} is not set")
        }
        _ => {
            eprintln!("SKIPPED: PostgreSQL test ({PG_URL_VAR} is not set)");
            None
        }
    }
}

/// Where a test's database lives; dropping it removes the database (the
/// temporary directory, or the PostgreSQL schema).
enum Storage {
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
struct FreshStore {
    store: Store,
    storage: Storage,
    master_key: String,
}

impl FreshStore {
    /// `None` when the backend is not available (skipped).
    async fn open(backend: Backend) -> Option<Self> {
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

struct Http {
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A running server under test.
pub struct TestServer {
    /// The injected clock; tests move it.
    pub clock: Arc<ManualClock>,
    /// The server state (store access for assertions).
    pub state: AppState,
    /// Which backend it runs on.
    pub backend: Backend,
    router: Router,
    http: Option<Http>,
    storage: Storage,
    /// The master key (a restart opens the same data with it).
    master_key: String,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// A replica started by [`TestServer::replica`].
pub struct Replica {
    /// Its base URL on loopback.
    pub base: String,
    /// Its state.
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// Shuts it down gracefully (its streams are told `shutting_down`).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), &mut self.task).await;
    }
}

/// A response, whatever the transport.
#[derive(Debug, Clone)]
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: axum::http::HeaderMap,
    /// Raw body.
    pub body: Bytes,
}

impl Resp {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The problem `code`, if the body is a problem.
    pub fn code(&self) -> Option<String> {
        self.json()
            .get("code")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts status and problem code, and that the body is problem+json.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            self.status,
            status,
            "status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.code().as_deref(),
            Some(code),
            "code; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.json()["status"], status);
        self
    }

    /// Asserts the problem names `field`.
    #[track_caller]
    pub fn assert_field(&self, field: &str) -> &Self {
        assert_eq!(
            self.json()["field"],
            field,
            "field; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// Account id.
    pub id: String,
    /// Email as submitted.
    pub email: String,
    /// Password.
    pub password: String,
    /// Latest access token.
    pub access: String,
    /// Latest refresh token.
    pub refresh: String,
    /// The registration body.
    pub profile: Value,
}

/// A fixed "now" so that ages and expiries are reproducible.
pub fn epoch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
        .expect("valid timestamp")
        .with_timezone(&Utc)
}

/// A device's core client configuration: a real encrypted cache in `dir`
/// under the raw key `[key; 32]`, talking to `server_url`.
pub fn client_config(
    server_url: &str,
    dir: &std::path::Path,
    key: u8,
) -> praxis_core::ClientConfig {
    praxis_core::ClientConfig::new(
        server_url,
        dir,
        Arc::new(praxis_core::cache::RawKeyProvider::new([key; 32]))
            as Arc<dyn praxis_core::cache::KeyProvider>,
    )
}

/// Signs `client` in as the person of registration body `body`.
pub async fn sign_in(client: &praxis_core::PraxisClient, body: &Value) {
    client
        .account()
        .login(
            body["email"].as_str().expect("email"),
            body["password"].as_str().expect("password"),
        )
        .await
        .expect("login");
}

/// A valid registration body with unique email and name.
pub fn person(tag: &str) -> Value {
    let n = uuid::Uuid::new_v4().simple().to_string();
    json!({
        "email": format!("{tag}.{}@clinic-example.org", &n[..12]),
        "password": format!("violet-tram-oboe-{}", &n[..8]),
        "full_name": format!("Nurse {tag} {}", &n[..6]),
        "phone": "+33612345678",
        "country": "FR",
        "language": "fr-FR",
        "profession": "nurse",
        "date_of_birth": "1985-04-12",
    })
}

/// The settings of test servers: the defaults, except that one loopback
/// client may register as many accounts as a scenario needs, and the
/// privacy notice is the example of `docs/privacy-notice.example.toml`
/// (version 1), as an operator would configure it.
pub fn test_settings() -> Settings {
    let notice =
        praxis_server::notice::parse(include_str!("../../docs/privacy-notice.example.toml"))
            .expect("the example notice parses");
    Settings {
        registrations_per_client_per_hour: 1_000_000,
        privacy_notice: praxis_server::notice::NoticeCell::new(notice),
        ..Settings::default()
    }
}

impl TestServer {
    /// Starts a server; `None` when the backend is not available (skipped).
    pub async fn start(backend: Backend, transport: Transport) -> Option<Self> {
        Self::start_with(backend, transport, test_settings()).await
    }

    /// [`TestServer::start`] with explicit settings.
    pub async fn start_with(
        backend: Backend,
        transport: Transport,
        settings: Settings,
    ) -> Option<Self> {
        Self::start_limited(
            backend,
            transport,
            settings,
            praxis_server::Limits::default(),
        )
        .await
    }

    /// [`TestServer::start_with`] with explicit connection limits.
    pub async fn start_limited(
        backend: Backend,
        transport: Transport,
        settings: Settings,
        limits: praxis_server::Limits,
    ) -> Option<Self> {
        let clock = Arc::new(ManualClock::new(epoch()));
        let FreshStore {
            store,
            storage,
            master_key,
        } = FreshStore::open(backend).await?;
        let state = AppState::new(store, clock.clone(), settings);
        let router = praxis_server::app(state.clone());
        let http = match transport {
            Transport::Oneshot => None,
            Transport::Http => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let base = format!("http://{}", listener.local_addr().expect("addr"));
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let serve_state = state.clone();
                tokio::spawn(async move {
                    praxis_server::serve_with(listener, serve_state, limits, async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve");
                });
                Some(Http {
                    base,
                    client: http_client(),
                    stop: Some(stop),
                })
            }
        };
        Some(Self {
            clock,
            state,
            backend,
            router,
            http,
            storage,
            master_key,
        })
    }

    /// The server's master keys (to open a copy of its database).
    pub fn master_keys(&self) -> MasterKeys {
        MasterKeys::parse(&self.master_key).expect("master key")
    }

    /// The router of a freshly started server process on the same
    /// database (a restart: new pools, nothing kept in memory).
    pub async fn restarted_app(&self) -> Router {
        let db: Arc<dyn Db> = match &self.storage {
            Storage::Sqlite { dir } => {
                Arc::new(SqliteDb::open(&dir.path().join("praxis.sqlite3")).expect("reopen sqlite"))
            }
            Storage::Postgres { url, schema } => Arc::new(
                PostgresDb::connect(url, Some(schema), 4)
                    .await
                    .expect("reconnect postgres"),
            ),
        };
        let vault = Vault::new(MasterKeys::parse(&self.master_key).expect("master key"));
        let store = Store::open(db, vault, self.clock.now())
            .await
            .expect("reopen store");
        praxis_server::app(AppState::new(store, self.clock.clone(), test_settings()))
    }

    /// A second server process on the same database (a replica behind the
    /// same load balancer): its own store, hub and listener, serving on
    /// another loopback port, on the same clock.
    pub async fn replica(&self) -> Replica {
        let db: Arc<dyn Db> = match &self.storage {
            Storage::Sqlite { dir } => {
                Arc::new(SqliteDb::open(&dir.path().join("praxis.sqlite3")).expect("reopen sqlite"))
            }
            Storage::Postgres { url, schema } => Arc::new(
                PostgresDb::connect(url, Some(schema), 8)
                    .await
                    .expect("reconnect postgres"),
            ),
        };
        let vault = Vault::new(MasterKeys::parse(&self.master_key).expect("master key"));
        let store = Store::open(db, vault, self.clock.now())
            .await
            .expect("reopen store");
        let state = AppState::new(store, self.clock.clone(), self.state.settings().clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve_state = state.clone();
        let task = tokio::spawn(async move {
            let _ = praxis_server::serve(listener, serve_state, async {
                let _ = stopped.await;
            })
            .await;
        });
        Replica {
            base,
            state,
            stop: Some(stop),
            task,
        }
    }

    /// Pushes one new visit titled `title` as device `client` (its
    /// `seq`-th change, stamped near the test clock); the push's answer,
    /// asserted applied.
    pub async fn push_visit(&self, access: &str, client: &str, seq: i64, title: &str) -> Value {
        let t = format!("{:013}-000000-dev1", 1_795_200_000_000_i64 + seq);
        let f = |v: Value| serde_json::json!({"v": v, "t": t});
        let r = self
            .send(
                "POST",
                "/v1/sync/push",
                Some(access),
                Some(&serde_json::json!({
                    "client_id": client,
                    "mutations": [{
                        "client_seq": seq,
                        "collection": "appointments",
                        "id": uuid::Uuid::new_v4().to_string(),
                        "fields": {
                            "title": f(title.into()),
                            "start": f("2026-11-23T09:00:00Z".into()),
                            "duration_min": f(30.into()),
                            "patient_label": f("P-001".into()),
                        },
                    }],
                })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let body = r.json();
        assert_eq!(body["results"][0]["status"], "applied", "{body}");
        body
    }

    /// The in-process router (oneshot transport).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The base URL of the real server (HTTP transport only).
    pub fn base_url(&self) -> Option<&str> {
        self.http.as_ref().map(|h| h.base.as_str())
    }

    /// Sends a request with optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut headers = Vec::new();
        let auth;
        if let Some(t) = token {
            auth = format!("Bearer {t}");
            headers.push(("authorization", auth.as_str()));
        }
        let bytes = match body {
            Some(b) => {
                headers.push(("content-type", "application/json"));
                serde_json::to_vec(b).expect("json")
            }
            None => Vec::new(),
        };
        self.raw(method, path, &headers, bytes).await
    }

    /// Sends a request with explicit headers and raw body bytes.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        match &self.http {
            None => {
                let mut req = axum::http::Request::builder().method(method).uri(path);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                let res = self
                    .router
                    .clone()
                    .oneshot(req.body(Body::from(body)).expect("request"))
                    .await
                    .expect("infallible");
                let status = res.status().as_u16();
                let headers = res.headers().clone();
                let body = res.into_body().collect().await.expect("body").to_bytes();
                Resp {
                    status,
                    headers,
                    body,
                }
            }
            Some(h) => {
                let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
                let mut req = h.client.request(method, format!("{}{path}", h.base));
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                let res = req
                    .body(body)
                    .send()
                    .await
                    .expect("request reaches the server");
                let status = res.status().as_u16();
                let mut hm = axum::http::HeaderMap::new();
                for (k, v) in res.headers() {
                    if let (Ok(k), Ok(v)) = (
                        axum::http::HeaderName::from_bytes(k.as_str().as_bytes()),
                        axum::http::HeaderValue::from_bytes(v.as_bytes()),
                    ) {
                        hm.append(k, v);
                    }
                }
                let body = res.bytes().await.expect("body");
                Resp {
                    status,
                    headers: hm,
                    body: Bytes::from(body.to_vec()),
                }
            }
        }
    }

    /// Registers `body`, asserting success; returns the user id.
    pub async fn register(&self, body: &Value) -> String {
        let r = self.send("POST", "/v1/accounts", None, Some(body)).await;
        assert_eq!(
            r.status,
            201,
            "register: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["user_id"].as_str().expect("user_id").to_owned()
    }

    /// Logs in, asserting success; returns (access, refresh).
    pub async fn login(&self, email: &str, password: &str) -> (String, String) {
        let r = self
            .send(
                "POST",
                "/v1/sessions",
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, 200, "login: {}", String::from_utf8_lossy(&r.body));
        let j = r.json();
        (
            j["access_token"].as_str().expect("access").to_owned(),
            j["refresh_token"].as_str().expect("refresh").to_owned(),
        )
    }

    /// Creates an organisation whose admin is the token's user; its id.
    pub async fn create_org(&self, token: &str, name: &str) -> String {
        let r = self
            .send(
                "POST",
                "/v1/orgs",
                Some(token),
                Some(&json!({ "name": name })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["org_id"].as_str().expect("org_id").to_owned()
    }

    /// A single-use join code for `org` (an admin's token).
    pub async fn join_code(&self, token: &str, org: &str) -> String {
        let r = self
            .send(
                "POST",
                &format!("/v1/orgs/{org}/join-codes"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["code"].as_str().expect("code").to_owned()
    }

    /// `PATCH /v1/orgs/{org}/location-policy` with `body`, as `token`.
    pub async fn patch_location_policy(&self, token: &str, org: &str, body: &Value) -> Resp {
        self.send(
            "PATCH",
            &format!("/v1/orgs/{org}/location-policy"),
            Some(token),
            Some(body),
        )
        .await
    }

    /// The member joins `org` with a fresh code from its admin.
    pub async fn add_member(&self, admin_token: &str, member_token: &str, org: &str) {
        let code = self.join_code(admin_token, org).await;
        let r = self
            .send(
                "POST",
                "/v1/orgs/join",
                Some(member_token),
                Some(&json!({ "code": code })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    /// Registers and logs in a fresh user.
    pub async fn user(&self, tag: &str) -> TestUser {
        let profile = person(tag);
        let email = profile["email"].as_str().expect("email").to_owned();
        let password = profile["password"].as_str().expect("password").to_owned();
        let id = self.register(&profile).await;
        let (access, refresh) = self.login(&email, &password).await;
        TestUser {
            id,
            email,
            password,
            access,
            refresh,
            profile,
        }
    }

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

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.http.as_mut().and_then(|h| h.stop.take()) {
            let _ = stop.send(());
        }
        // The database goes with `storage`, dropped after this.
    }
}

async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PRAXIS_TEST_DATABASE_URL");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

async fn pg_exec(url: &str, sql: &str) {
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

/// Runs each listed `async fn(StoreFixture)` once per backend, as modules
/// named `sqlite` and `postgres` (PostgreSQL skipped as in [`suite!`]).
#[macro_export]
macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        $crate::store_suite!(@mod sqlite, Sqlite, $($name),*);
        $crate::store_suite!(@mod postgres, Postgres, $($name),*);
    };
    (@mod $m:ident, $backend:ident, $($name:ident),*) => {
        mod $m {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(f) = $crate::StoreFixture::open($crate::Backend::$backend).await {
                        super::$name(f).await;
                    }
                }
            )*
        }
    };
}

/// Runs each listed `async fn(TestServer)` on every backend × transport.
#[macro_export]
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        $crate::suite!(@mod sqlite_oneshot, Sqlite, Oneshot, $($name),*);
        $crate::suite!(@mod sqlite_http, Sqlite, Http, $($name),*);
        $crate::suite!(@mod postgres_oneshot, Postgres, Oneshot, $($name),*);
        $crate::suite!(@mod postgres_http, Postgres, Http, $($name),*);
    };
    (@mod $m:ident, $backend:ident, $transport:ident, $($name:ident),*) => {
        mod $m {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(server) = $crate::TestServer::start(
                        $crate::Backend::$backend,
                        $crate::Transport::$transport,
                    ).await {
                        super::$name(server).await;
                    }
                }
            )*
        }
    };
}

/// The points of a polygon geofence on an ellipse around (`lat`, `lon`)
/// with half-axes `dlat` and `dlon` degrees: `corners` corners, then the
/// first again to close it. Convex, so every validity check runs in full.
pub fn ellipse_ring(lat: f64, lon: f64, dlat: f64, dlon: f64, corners: u32) -> Vec<Value> {
    let mut points: Vec<Value> = (0..corners)
        .map(|i| {
            let a = f64::from(i) / f64::from(corners) * std::f64::consts::TAU;
            json!({"lat": lat + dlat * a.sin(), "lon": lon + dlon * a.cos()})
        })
        .collect();
    points.push(points[0].clone());
    points
}

/// The titles of a device's appointments, sorted.
pub async fn titles(client: &praxis_core::PraxisClient) -> Vec<String> {
    let mut t: Vec<String> = client
        .appointments()
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.title)
        .collect();
    t.sort();
    t
}
