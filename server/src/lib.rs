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
//! let store = store::Store::open(Arc::new(db), chrono::Utc::now()).await?;
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
mod routes;
pub mod store;
pub mod sync;
pub mod telemetry;
mod validate;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::Router;
use chrono::{DateTime, Duration, Utc};
use ring::rand::SystemRandom;

pub use routes::openapi;

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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            join_code_ttl: Duration::hours(72),
            body_limit: 64 * 1024,
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
}

impl AppState {
    /// State over a store and a clock.
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        Self(Arc::new(Inner {
            store,
            clock,
            settings,
            rng: SystemRandom::new(),
            dummy_hash: OnceLock::new(),
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
/// in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Warm the dummy hash so the first unknown-email login is not slower.
    let warm = state.clone();
    tokio::task::spawn_blocking(move || {
        warm.dummy_hash();
    });
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
