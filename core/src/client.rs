//! The entry object the apps open.

use std::path::PathBuf;
use std::sync::Arc;

use crate::account::{Account, Session};
use crate::cache::{Cache, KeyProvider};
use crate::clock::{Clock, SystemClock};
use crate::http::{Api, HttpConfig};
use crate::log::{Log, Logger};
use crate::{Error, Result};

/// File name of the encrypted cache inside the data directory.
pub const CACHE_FILE: &str = "praxis-cache.sqlite3";

/// What the app provides to open the core.
#[derive(Clone)]
pub struct ClientConfig {
    /// Base URL of the Praxis server (`https://`, or `http://` to loopback).
    pub server_url: String,
    /// The app's private data directory; the cache lives here.
    pub data_dir: PathBuf,
    /// Supplies the key that unlocks the cache.
    pub key_provider: Arc<dyn KeyProvider>,
    /// Receives log messages (never personal data).
    pub logger: Option<Arc<dyn Logger>>,
    /// Network settings.
    pub http: HttpConfig,
    /// Time source (tests inject one).
    pub clock: Arc<dyn Clock>,
}

impl ClientConfig {
    /// A configuration with default network settings and the system clock.
    pub fn new(
        server_url: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        key_provider: Arc<dyn KeyProvider>,
    ) -> Self {
        Self {
            server_url: server_url.into(),
            data_dir: data_dir.into(),
            key_provider,
            logger: None,
            http: HttpConfig::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// The Praxis core, opened on one device.
#[derive(Debug)]
pub struct PraxisClient {
    cache: Arc<Cache>,
    account: Account,
}

impl PraxisClient {
    /// Opens (or creates) the encrypted cache in `data_dir`, restores any
    /// stored session, and prepares the HTTP client. Nothing is sent.
    pub async fn open(config: ClientConfig) -> Result<Arc<Self>> {
        let api = Api::new(&config.server_url, &config.http)?;
        std::fs::create_dir_all(&config.data_dir)?;
        let path = config.data_dir.join(CACHE_FILE);
        let provider = Arc::clone(&config.key_provider);
        let cache = tokio::task::spawn_blocking(move || Cache::open(&path, provider))
            .await
            .map_err(|_| Error::Storage(rusqlite::Error::InvalidQuery))??;
        let cache = Arc::new(cache);
        let log = Log::new(config.logger.clone());
        let session = Session::restore(
            api,
            Arc::clone(&cache),
            Arc::clone(&config.clock),
            log.clone(),
        )
        .await?;
        log.info("client", "opened");
        Ok(Arc::new(Self {
            account: Account {
                session: Arc::new(session),
                cache: Arc::clone(&cache),
                log,
            },
            cache,
        }))
    }

    /// The account capability.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The encrypted cache (for capabilities built on it).
    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }
}
