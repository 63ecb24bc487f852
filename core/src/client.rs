//! The entry object the apps open.

use std::path::PathBuf;
use std::sync::Arc;

use crate::account::Account;
use crate::analytics::Analytics;
use crate::appointments::Appointments;
use crate::cache::{Cache, KeyProvider, RecordMeta, blocking};
use crate::clock::{Clock, ServerClock, SystemClock};
use crate::consent::Consents;
use crate::contacts::Contacts;
use crate::devices::{DeviceLabel, Devices};
use crate::http::{Api, HttpConfig};
use crate::location::Location;
use crate::log::{Log, Logger};
use crate::notice::Notices;
use crate::session::Session;
use crate::sync::SyncEngine;
use crate::sync::transport::HttpSync;
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
    /// What this device says about itself at login (its name and kind,
    /// shown in the user's list of signed-in devices).
    pub device: DeviceLabel,
    /// When the key does not open the cache ([`Error::KeyMismatch`]: a
    /// backup restored the data but not the device-bound key), delete the
    /// cache, have the provider forget its key and start empty (the user
    /// signs in again and the server's copy syncs back). Off by default:
    /// the app chooses it, knowing unsynced edits are lost.
    pub reset_on_key_mismatch: bool,
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
            device: DeviceLabel::default(),
            reset_on_key_mismatch: false,
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("http", &self.http)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// The Praxis core, opened on one device.
#[derive(Debug)]
pub struct PraxisClient {
    cache: Arc<Cache>,
    account: Account,
    sync: Arc<SyncEngine>,
    server_clock: Arc<ServerClock>,
}

/// Where the learned offset to the server's clock is kept (a local record,
/// never synced).
const CLOCK_OFFSET: (&str, &str) = ("device_clock", "offset_ms");

/// Starts the server clock from the offset the cache remembers, and keeps
/// later changes there.
async fn restore_clock_offset(clock: &ServerClock, cache: &Arc<Cache>) -> Result<()> {
    let stored = blocking(cache, |c| c.get::<i64>(CLOCK_OFFSET.0, CLOCK_OFFSET.1)).await?;
    let cache = Arc::clone(cache);
    clock.restore(stored.map_or(0, |r| r.value), move |ms| {
        // A one-row write, only when the device clock is found to be off
        // (or set right): rare enough to run in place, and done before the
        // answer is used, so even a one-shot CLI command keeps it. A
        // failed write only means relearning the offset at the next answer.
        let _ = cache.put(CLOCK_OFFSET.0, CLOCK_OFFSET.1, &ms, RecordMeta::default());
    });
    Ok(())
}

impl PraxisClient {
    /// Opens (or creates) the encrypted cache in `data_dir`, restores any
    /// stored session, and prepares the HTTP client. Nothing is sent.
    pub async fn open(config: ClientConfig) -> Result<Arc<Self>> {
        // Everything in the core runs on the server's time as the device
        // best knows it (see `clock`): a phone set days off still syncs.
        let server_clock = Arc::new(ServerClock::new(Arc::clone(&config.clock)));
        let clock: Arc<dyn Clock> = Arc::clone(&server_clock) as Arc<dyn Clock>;
        let api = Api::new(&config.server_url, &config.http, Arc::clone(&server_clock))?;
        std::fs::create_dir_all(&config.data_dir)?;
        let path = config.data_dir.join(CACHE_FILE);
        let provider = Arc::clone(&config.key_provider);
        let reset = config.reset_on_key_mismatch;
        let cache =
            tokio::task::spawn_blocking(move || match Cache::open(&path, Arc::clone(&provider)) {
                Err(Error::KeyMismatch) if reset => {
                    Cache::wipe_unopened(&path)?;
                    provider.forget()?;
                    Cache::open(&path, provider)
                }
                opened => opened,
            })
            .await
            .map_err(|_| Error::Storage(rusqlite::Error::InvalidQuery))??;
        let cache = Arc::new(cache);
        restore_clock_offset(&server_clock, &cache).await?;
        let log = Log::new(config.logger.clone());
        let session = Arc::new(
            Session::restore(api, Arc::clone(&cache), Arc::clone(&clock), log.clone()).await?,
        );
        let seed = u64::from_le_bytes(
            uuid::Uuid::new_v4().as_bytes()[..8]
                .try_into()
                .unwrap_or([1; 8]),
        );
        let sync = Arc::new(
            SyncEngine::new(
                Arc::clone(&cache),
                Arc::new(HttpSync(Arc::clone(&session))),
                clock,
                config.logger.clone(),
                seed,
            )
            .requiring_session(),
        );
        log.info("client", "opened");
        Ok(Arc::new(Self {
            account: Account {
                session,
                cache: Arc::clone(&cache),
                log,
                device: config.device.clone(),
            },
            cache,
            sync,
            server_clock,
        }))
    }

    /// How far the server's clock is ahead of this device's (negative when
    /// the device is ahead), once the last answer from the server showed a
    /// difference beyond [`crate::clock::SKEW_TOLERANCE`]; `None` otherwise.
    /// The core already runs on the server's time; the app may tell the
    /// user that the device clock is wrong.
    pub fn clock_skew(&self) -> Option<chrono::Duration> {
        self.server_clock.skew()
    }

    /// The account capability.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The devices capability (signed-in devices, remote sign-out and wipe).
    pub fn devices(&self) -> Devices {
        Devices {
            session: Arc::clone(&self.account.session),
            account: self.account.clone(),
        }
    }

    /// The sync engine (`sync_now`, status).
    pub fn sync(&self) -> &Arc<SyncEngine> {
        &self.sync
    }

    /// The appointments capability.
    pub fn appointments(&self) -> Appointments {
        Appointments {
            engine: Arc::clone(&self.sync),
        }
    }

    /// The consent capability (the ledger).
    pub fn consents(&self) -> Consents {
        Consents {
            engine: Arc::clone(&self.sync),
        }
    }

    /// Usage analytics, recorded only while the user consents to them.
    pub fn analytics(&self) -> Analytics {
        Analytics {
            engine: Arc::clone(&self.sync),
        }
    }

    /// The privacy notice (who the controller is, whom to ask, where to
    /// complain) and whether it changed since the user last saw it.
    pub fn notices(&self) -> Notices {
        Notices {
            engine: Arc::clone(&self.sync),
        }
    }

    /// The contacts capability (my card, invitations, cards shared with me).
    pub fn contacts(&self) -> Contacts {
        Contacts {
            engine: Arc::clone(&self.sync),
            session: Arc::clone(&self.account.session),
        }
    }

    /// The location capability (gates, visits, live sharing).
    pub fn location(&self) -> Location {
        Location {
            engine: Arc::clone(&self.sync),
            session: Arc::clone(&self.account.session),
        }
    }

    /// The encrypted cache (for capabilities built on it).
    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }
}
