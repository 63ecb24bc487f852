//! Operator metrics in the OpenMetrics text format (Prometheus scrapes it),
//! served on their own listener (`--metrics-bind`), never on the API's.
//!
//! Labels are route templates, methods, status codes and job names: never
//! a raw path, an id, an address or anything else about a person (a test
//! scans the output after a full scenario for the people's data). Gauges
//! that mirror other components (open change streams, the notifier's
//! outbox, the database pool and writer queue) are read at scrape time.

use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// The routes whose latency is recorded as a histogram (the rest are
/// counted by status only): push, pull, login, token refresh, export.
const TIMED: [(&str, &str); 5] = [
    ("POST", "/v1/sync/push"),
    ("POST", "/v1/sync/pull"),
    ("POST", "/v1/sessions"),
    ("POST", "/v1/sessions/refresh"),
    ("GET", "/v1/me/export"),
];

fn latency_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    streams: Gauge,
    outbox: Gauge,
    pool_size: Gauge,
    pool_in_use: Gauge,
    pool_waiting: Gauge,
    writer_queue: Gauge,
    group_commits: Gauge,
    retention_runs: Counter,
    retention_failures: Counter,
    purged: Family<KindLabels, Counter>,
    audit_valid: Gauge,
    audit_entries: Gauge,
    audit_checked_at: Gauge<i64, AtomicI64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("praxis");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by method, route template and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the answer's head, by method and route: push, pull, login, refresh, export",
            latency.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let streams = gauge(
            &mut registry,
            "change_streams",
            "Open change streams (live sync)",
        );
        let outbox = gauge(
            &mut registry,
            "notifier_outbox",
            "Wake-ups waiting for the push gateway",
        );
        let pool_size = gauge(
            &mut registry,
            "db_pool_size",
            "Database connections in the pool",
        );
        let pool_in_use = gauge(
            &mut registry,
            "db_pool_in_use",
            "Database connections in use",
        );
        let pool_waiting = gauge(
            &mut registry,
            "db_pool_waiting",
            "Requests waiting for a database connection",
        );
        let writer_queue = gauge(
            &mut registry,
            "sqlite_writer_queue",
            "Write transactions waiting for SQLite's writer (group commit)",
        );
        let group_commits = gauge(
            &mut registry,
            "sqlite_group_commits",
            "Commits (fsyncs) made by SQLite's group commit since start",
        );
        let retention_runs = Counter::default();
        registry.register(
            "retention_runs",
            "Retention job runs by this replica",
            retention_runs.clone(),
        );
        let retention_failures = Counter::default();
        registry.register(
            "retention_failures",
            "Retention job runs that failed",
            retention_failures.clone(),
        );
        let purged = Family::<KindLabels, Counter>::default();
        registry.register(
            "retention_purged_rows",
            "Rows removed or cleared by the retention jobs, by kind",
            purged.clone(),
        );
        let audit_valid = gauge(
            &mut registry,
            "audit_chain_valid",
            "1 if the audit log's hash chain verified at the last check, 0 if broken, -1 before the first check",
        );
        audit_valid.set(-1);
        let audit_entries = gauge(
            &mut registry,
            "audit_chain_entries",
            "Audit entries checked at the last verification",
        );
        let audit_checked_at = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "audit_chain_checked_timestamp_seconds",
            "When the audit chain was last verified (Unix time)",
            audit_checked_at.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            streams,
            outbox,
            pool_size,
            pool_in_use,
            pool_waiting,
            writer_queue,
            group_commits,
            retention_runs,
            retention_failures,
            purged,
            audit_valid,
            audit_entries,
            audit_checked_at,
        }
    }

    fn observe(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        if TIMED.contains(&(method, route)) {
            self.latency
                .get_or_create(&RouteLabels {
                    method: method.to_owned(),
                    route: route.to_owned(),
                })
                .observe(took.as_secs_f64());
        }
    }

    /// A retention run's outcome: `rows` by kind, or a failure.
    pub fn retention_ran(&self, rows: Option<&[(&str, u64)]>) {
        self.retention_runs.inc();
        match rows {
            Some(rows) => {
                for (kind, n) in rows {
                    self.purged
                        .get_or_create(&KindLabels {
                            kind: (*kind).to_owned(),
                        })
                        .inc_by(*n);
                }
            }
            None => {
                self.retention_failures.inc();
            }
        }
    }

    /// The audit chain's verification result.
    pub fn audit_checked(&self, entries: u64, valid: bool, at: chrono::DateTime<chrono::Utc>) {
        self.audit_valid.set(i64::from(valid));
        self.audit_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
        self.audit_checked_at.set(at.timestamp());
    }
}

/// The method as a label: the standard ones by name, anything else (a
/// client may send any token as a method) as `other`, so no client can
/// make the label set grow without bound.
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times every answer by its route template (the router's
/// matched path; `unmatched` for the fallback, never the raw path).
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = method_label(req.method()).to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    state
        .metrics()
        .observe(&method, &route, res.status().as_u16(), started.elapsed());
    res
}

/// The scrape: refreshes the gauges that mirror other components, then
/// encodes everything.
async fn scrape(State(state): State<AppState>) -> Response {
    let m = state.metrics();
    let store = state.store();
    m.streams
        .set(i64::try_from(store.feed().streams()).unwrap_or(i64::MAX));
    if let Ok(n) = store.notifier_outbox_depth().await {
        m.outbox.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    let pool = store.db().pool_stats();
    m.pool_size.set(pool.size as i64);
    m.pool_in_use.set(pool.in_use as i64);
    m.pool_waiting.set(pool.waiting as i64);
    m.writer_queue
        .set(pool.writer_queue.map_or(0, |n| n as i64));
    if let Some(c) = store.db().commit_stats() {
        m.group_commits
            .set(i64::try_from(c.commits).unwrap_or(i64::MAX));
    }
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &m.registry).is_err() {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The metrics listener's router: `GET /metrics` only.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(state)
}

/// Whether `metrics` may be bound next to the API on `api`: never the
/// same socket, and never every interface (which includes the public
/// one); a loopback or a private address is the operator's choice.
pub fn check_bind(metrics: SocketAddr, api: SocketAddr) -> Result<(), &'static str> {
    if metrics.ip().is_unspecified() {
        return Err(
            "--metrics-bind must name one address (loopback or a private interface), not every interface",
        );
    }
    // Port 0 asks the system for a free port: never the API's.
    if metrics.port() != 0
        && metrics.port() == api.port()
        && (metrics.ip() == api.ip() || api.ip().is_unspecified())
    {
        return Err("--metrics-bind must not be the API's listener");
    }
    Ok(())
}

/// Serves [`router`] on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        let m = |s: &str| axum::http::Method::from_bytes(s.as_bytes()).expect("method");
        assert_eq!(method_label(&m("GET")), "GET");
        assert_eq!(method_label(&m("DELETE")), "DELETE");
        assert_eq!(method_label(&m("BREW")), "other");
        assert_eq!(method_label(&m("X-4F2A9C")), "other");
    }

    #[test]
    fn the_metrics_listener_is_never_the_apis_nor_every_interface() {
        let at = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert!(check_bind(at("127.0.0.1:9100"), at("0.0.0.0:8787")).is_ok());
        assert!(check_bind(at("10.0.0.5:9100"), at("10.0.0.5:8787")).is_ok());
        assert!(check_bind(at("0.0.0.0:9100"), at("127.0.0.1:8787")).is_err());
        assert!(check_bind(at("[::]:9100"), at("127.0.0.1:8787")).is_err());
        assert!(check_bind(at("127.0.0.1:8787"), at("127.0.0.1:8787")).is_err());
        assert!(check_bind(at("10.0.0.5:8787"), at("0.0.0.0:8787")).is_err());
        assert!(check_bind(at("127.0.0.1:0"), at("127.0.0.1:0")).is_ok());
    }
}
