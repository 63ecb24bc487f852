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

mod accounts;
pub mod feed;
mod inspect;
pub mod smtp;
mod storage;
pub mod tls;

pub use accounts::{TestUser, person};
pub use storage::StoreFixture;
use storage::{FreshStore, Storage, pg_client, pg_exec};

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
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.http.as_mut().and_then(|h| h.stop.take()) {
            let _ = stop.send(());
        }
        // The database goes with `storage`, dropped after this.
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
