//! The Praxis backend.
//!
//! * [`app`] builds the HTTP API (axum) over an [`AppState`]; tests drive it
//!   with `tower::ServiceExt::oneshot` or [`serve`] it on a real socket.
//! * [`store`] is the storage: one domain layer over a backend trait with
//!   SQLite (embedded default) and PostgreSQL implementations.
//! * [`config`] reads flags and environment; `main.rs` wires it all up.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use praxis_server::{AppState, Settings, clock::SystemClock, store};
//! let db = store::sqlite::SqliteDb::open("praxis.db".as_ref())?;
//! let vault = store::Vault::new(store::MasterKeys::random());
//! let store = store::Store::open(Arc::new(db), vault, chrono::Utc::now()).await?;
//! let state = AppState::new(store, Arc::new(SystemClock), Settings::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! praxis_server::serve(listener, state, std::future::pending()).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod auth;
pub mod clock;
pub mod config;
pub mod error;
mod extract;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod notice;
pub mod operator;
pub mod push;
pub(crate) mod routes;
mod serve;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod tls;
mod validate;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::Router;
use chrono::{DateTime, Duration, Utc};
use ring::rand::SystemRandom;

pub use routes::openapi;
pub use serve::Limits;

use crate::clock::Clock;
use crate::store::Store;

/// Tunables of the API.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Life of an access token.
    pub access_ttl: Duration,
    /// Life of a refresh token (renewed at each rotation).
    pub refresh_ttl: Duration,
    /// Life of an organisation join code.
    pub join_code_ttl: Duration,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Registrations one client address (an IPv6 /64) may attempt per
    /// hour; beyond it `429` with `Retry-After`.
    pub registrations_per_client_per_hour: u32,
    /// Push bytes one account may send per second, in KiB, sustained
    /// (per server process; 0 counts as 1); beyond the burst `429` with
    /// `Retry-After`.
    pub push_kib_per_second: u32,
    /// Push bytes one account may send at once, in KiB: 0 for 16 times
    /// [`Self::push_kib_per_second`]; never less than the push body limit.
    pub push_burst_kib: u32,
    /// How often an idle change stream sends a heartbeat (and checks its
    /// token's expiry).
    pub feed_heartbeat: std::time::Duration,
    /// Change streams one account may hold open at once.
    pub streams_per_account: usize,
    /// Where background wake-ups go (a push gateway, `crate::push`);
    /// `None`: no wake-ups are sent (those queued are dropped after a day
    /// by the retention jobs).
    pub push_gateway: Option<url::Url>,
    /// How long changes for one device coalesce into one wake-up.
    pub push_coalesce: std::time::Duration,
    /// Account emails; `None`: none are sent.
    pub mail: Option<mail::MailConfig>,
    /// Count and time every request for the metrics (on in the server;
    /// the benchmark turns it off to measure what it costs).
    pub request_metrics: bool,
    /// The privacy notice served at `GET /v1/privacy/notice` (its
    /// `consent_versions` are filled in per request); the development
    /// placeholder unless the operator configured one.
    pub privacy_notice: notice::NoticeCell,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            join_code_ttl: Duration::hours(72),
            body_limit: 64 * 1024,
            registrations_per_client_per_hour: 20,
            push_kib_per_second: 1024,
            push_burst_kib: 0,
            feed_heartbeat: std::time::Duration::from_secs(15),
            streams_per_account: 8,
            push_gateway: None,
            push_coalesce: std::time::Duration::from_secs(2),
            mail: None,
            request_metrics: true,
            privacy_notice: notice::NoticeCell::default(),
        }
    }
}

/// Shared state of every request.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: Settings,
    rng: SystemRandom,
    dummy_hash: OnceLock<String>,
    invitation_key: tokio::sync::OnceCell<InvitationKey>,
    /// One permit per hashing thread (see [`AppState::hashing`]).
    hash_permits: Arc<tokio::sync::Semaphore>,
    hash_pool: auth::pool::HashPool,
    /// Registration attempts per client address (in memory, per replica).
    registrations: ClientLimiter,
    /// Push bytes per account, in KiB (in memory, per replica).
    pushes: AccountLimiter,
    resets: ClientLimiter,
    mailer: Option<mail::Mailer>,
    metrics: metrics::Metrics,
}

/// A rate limiter keyed by client address.
type ClientLimiter = governor::DefaultKeyedRateLimiter<std::net::IpAddr>;

/// A rate limiter keyed by account.
type AccountLimiter = governor::DefaultKeyedRateLimiter<uuid::Uuid>;

/// How long a password check may queue for a hashing slot before the
/// request is answered `503` with `Retry-After`.
const HASH_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Password-reset requests and confirmations one client address may make
/// per hour, per server process.
const RESETS_PER_CLIENT_PER_HOUR: std::num::NonZeroU32 =
    std::num::NonZeroU32::new(30).expect("nonzero");

/// The key that signs contact invitation codes: its id and the key pair.
pub(crate) type InvitationKey = (String, Arc<ring::signature::Ed25519KeyPair>);

impl AppState {
    /// The server's metrics (see [`metrics`]).
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.0.metrics
    }

    /// State over a store and a clock.
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        let hash_pool = auth::pool::HashPool::new(
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        );
        let per_hour = std::num::NonZeroU32::new(settings.registrations_per_client_per_hour)
            .unwrap_or(std::num::NonZeroU32::MIN);
        let mailer = settings
            .mail
            .as_ref()
            .and_then(|c| match mail::Mailer::new(c) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::error!(error = %e, "mail settings refused; no email is sent");
                    None
                }
            });
        Self(Arc::new(Inner {
            registrations: governor::RateLimiter::keyed(governor::Quota::per_hour(per_hour)),
            pushes: governor::RateLimiter::keyed(push_quota(&settings)),
            resets: governor::RateLimiter::keyed(governor::Quota::per_hour(
                RESETS_PER_CLIENT_PER_HOUR,
            )),
            mailer,
            metrics: metrics::Metrics::new(),
            store,
            clock,
            settings,
            rng: SystemRandom::new(),
            dummy_hash: OnceLock::new(),
            invitation_key: tokio::sync::OnceCell::new(),
            hash_permits: Arc::new(tokio::sync::Semaphore::new(hash_pool.threads())),
            hash_pool,
        }))
    }

    /// The storage.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The current time from the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub(crate) fn rng(&self) -> &SystemRandom {
        &self.0.rng
    }

    /// The invitation-signing key, loaded from the database (created there
    /// on first use, so every replica signs with the same key).
    pub(crate) async fn invitation_key(&self) -> Result<&InvitationKey, error::AppError> {
        self.0
            .invitation_key
            .get_or_try_init(|| async {
                let rng = &self.0.rng;
                let (id, pkcs8) = self
                    .store()
                    .signing_key(
                        || {
                            let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(rng)
                                .map(|d| d.as_ref().to_vec())
                                .unwrap_or_default();
                            let kp = ring::signature::Ed25519KeyPair::from_pkcs8(&pkcs8);
                            let id = kp.map_or_else(
                                |_| "invalid".to_owned(),
                                |kp| {
                                    let d = auth::tokens::hash_bytes(
                                        ring::signature::KeyPair::public_key(&kp).as_ref(),
                                    );
                                    d[..8].iter().map(|b| format!("{b:02x}")).collect()
                                },
                            );
                            (id, pkcs8)
                        },
                        self.now(),
                    )
                    .await?;
                let kp = ring::signature::Ed25519KeyPair::from_pkcs8(&pkcs8)
                    .map_err(|_| error::AppError::new(praxis_protocol::ErrorCode::Internal))?;
                Ok((id, Arc::new(kp)))
            })
            .await
    }

    /// Runs password hashing (argon2id: ~19 MiB and tens of ms each) on the
    /// hashing threads (`auth::pool`), one per core. A request that
    /// cannot get a slot within [`HASH_QUEUE_WAIT`] is answered `503` with
    /// `Retry-After`: memory stays bounded however many unauthenticated
    /// logins or registrations arrive at once.
    pub(crate) async fn hashing<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, error::AppError> {
        let permits = Arc::clone(&self.0.hash_permits);
        let permit = tokio::time::timeout(HASH_QUEUE_WAIT, permits.acquire_owned())
            .await
            .map_err(|_| {
                tracing::warn!("password hashing saturated");
                error::AppError::busy(1)
            })?
            .map_err(|_| error::AppError::new(praxis_protocol::ErrorCode::Internal))?;
        let out = self.0.hash_pool.run(f).await;
        drop(permit);
        out.ok_or_else(|| error::AppError::new(praxis_protocol::ErrorCode::Internal))
    }

    /// Counts one registration attempt from `peer`; the wait in seconds
    /// when its client is over [`Settings::registrations_per_client_per_hour`].
    /// IPv6 clients are counted per /64 (one subscriber's usual block).
    /// Requests with no known peer (in-process) are not counted.
    pub(crate) fn registration_attempt(
        &self,
        peer: Option<std::net::SocketAddr>,
    ) -> Result<(), u64> {
        client_attempt(&self.0.registrations, peer)
    }

    /// Counts one password-reset request or confirmation from `peer`
    /// (as [`Self::registration_attempt`], 30 per hour).
    pub(crate) fn reset_attempt(&self, peer: Option<std::net::SocketAddr>) -> Result<(), u64> {
        client_attempt(&self.0.resets, peer)
    }

    /// Counts a push of `bytes` against its account's budget
    /// ([`Settings::push_kib_per_second`]); the wait in seconds when the
    /// budget is spent. One account pushing large bodies back to back
    /// would otherwise fill the single SQLite writer's time (its writes,
    /// not its validation) and every other account's pushes would queue
    /// behind them.
    pub(crate) fn push_attempt(&self, user: uuid::Uuid, bytes: usize) -> Result<(), u64> {
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        let kib = std::num::NonZeroU32::new(kib).unwrap_or(std::num::NonZeroU32::MIN);
        match self.0.pushes.check_key_n(&user, kib) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(wait_secs(&not_until)),
            // Larger than the burst: the quota is made at least as large as
            // the body limit, so this is not reached; refused all the same.
            Err(_) => Err(60),
        }
    }

    /// Whether account emails can be sent.
    pub(crate) fn mail_enabled(&self) -> bool {
        self.0.mailer.is_some()
    }

    /// Sends an account email off the request path (see [`mail`]).
    pub(crate) fn send_mail(&self, to: String, message: mail::Mail) {
        if self.0.mailer.is_some() {
            let state = self.clone();
            tokio::spawn(async move {
                if let Some(m) = &state.0.mailer {
                    m.send(&to, &message).await;
                }
            });
        }
    }

    /// Forgets per-client counters that are back to full (a retention job).
    pub fn prune_client_limits(&self) {
        self.0.registrations.retain_recent();
        self.0.resets.retain_recent();
        self.0.pushes.retain_recent();
    }

    /// A hash of a random password, verified against when the email is
    /// unknown so that such a login costs the same as a wrong password.
    pub(crate) fn dummy_hash(&self) -> &str {
        self.0
            .dummy_hash
            .get_or_init(|| auth::password::hash(&auth::tokens::token(&self.0.rng)))
    }
}

/// The HTTP API.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish; connections are bounded by the default
/// [`Limits`] (see [`serve_with`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, Limits::default(), shutdown).await
}

/// [`serve`] with explicit connection limits.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_tls(listener, state, limits, None, shutdown).await
}

/// [`serve_with`], over HTTPS when `tls` is given (see [`tls`]).
pub async fn serve_with_tls(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: Limits,
    tls: Option<tls::Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Warm the dummy hash so the first unknown-email login is not slower.
    let warm = state.clone();
    tokio::task::spawn_blocking(move || {
        warm.dummy_hash();
    });
    // Change streams never end by themselves: at shutdown they are told
    // to (devices reconnect, to another replica), so the drain is short.
    let feed = std::sync::Arc::clone(state.store().feed());
    let shutdown = async move {
        shutdown.await;
        feed.close();
    };
    let notifier = state
        .settings()
        .push_gateway
        .clone()
        .map(|gateway| tokio::spawn(push::run(state.clone(), gateway)));
    let served = serve::run(listener, app(state), limits, tls, shutdown).await;
    if let Some(n) = notifier {
        n.abort();
    }
    served
}

/// The per-account push budget: [`Settings::push_kib_per_second`]
/// sustained, bursts up to [`Settings::push_burst_kib`] (by default 16
/// seconds' worth), and never a burst smaller than the largest push body
/// (which could then never pass).
fn push_quota(settings: &Settings) -> governor::Quota {
    let rate = settings.push_kib_per_second.max(1);
    let burst = match settings.push_burst_kib {
        0 => rate.saturating_mul(16),
        set => set,
    };
    let largest = u32::try_from(routes::sync::SYNC_BODY_LIMIT.div_ceil(1024)).unwrap_or(u32::MAX);
    let nonzero = |n: u32| std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN);
    governor::Quota::per_second(nonzero(rate)).allow_burst(nonzero(burst.max(largest)))
}

/// Counts one attempt of `peer` against `limiter`; `Err(seconds)` to wait.
/// IPv6 clients are counted per /64 (one subscriber's usual block).
/// Requests with no known peer (in-process) are not counted.
fn client_attempt(limiter: &ClientLimiter, peer: Option<std::net::SocketAddr>) -> Result<(), u64> {
    let Some(peer) = peer else {
        return Ok(());
    };
    let key = match peer.ip() {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                std::net::IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    };
    limiter
        .check_key(&key)
        .map_err(|not_until| wait_secs(&not_until))
}

/// A limiter's wait as `Retry-After` seconds: rounded up (a client that
/// waits exactly that long is let through), at least 1.
fn wait_secs(
    not_until: &governor::NotUntil<
        <governor::clock::DefaultClock as governor::clock::Clock>::Instant,
    >,
) -> u64 {
    use governor::clock::Clock as _;
    let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
    wait.as_secs_f64().ceil().max(1.0) as u64
}
