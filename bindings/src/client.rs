//! The client object the apps hold.

use std::sync::Arc;
use std::time::Duration;

use praxis_core::http::HttpConfig;
use uuid::Uuid;

use crate::error::PraxisError;
use crate::keys::{ForeignKeyProvider, ForeignLogger, KeyProvider, Logger};
use crate::listeners::{SessionListener, TaskHandle, watch};
use crate::types::{ClientConfig, RegisterRequest, SessionState};
pub(crate) use praxis_core::protocol::sync::PushPlatform;

/// The Praxis core on this device.
#[derive(Debug, uniffi::Object)]
pub struct PraxisClient {
    inner: Arc<praxis_core::PraxisClient>,
}

pub(crate) fn uuid(field: &'static str, s: &str) -> Result<Uuid, PraxisError> {
    Uuid::parse_str(s).map_err(|_| PraxisError::InvalidInput {
        field: field.to_owned(),
        reason: "not_an_id".to_owned(),
    })
}

fn pins(raw: Vec<Vec<u8>>) -> Result<Vec<[u8; 32]>, PraxisError> {
    raw.into_iter()
        .map(|p| {
            p.try_into().map_err(|_| PraxisError::InvalidInput {
                field: "spki_pins".to_owned(),
                reason: "each pin must be a 32-byte SHA-256".to_owned(),
            })
        })
        .collect()
}

impl PraxisClient {
    /// The core client this object wraps.
    pub(crate) fn core(&self) -> &Arc<praxis_core::PraxisClient> {
        &self.inner
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl PraxisClient {
    /// Opens the core: unlocks (or creates) the encrypted cache with the
    /// key provider's key and restores any stored session.
    #[uniffi::constructor]
    pub async fn open(
        config: ClientConfig,
        key_provider: Arc<dyn KeyProvider>,
        logger: Option<Arc<dyn Logger>>,
    ) -> Result<Arc<Self>, PraxisError> {
        let mut core = praxis_core::ClientConfig::new(
            config.server_url,
            config.data_dir,
            Arc::new(ForeignKeyProvider(key_provider)),
        );
        core.logger = logger.map(|l| Arc::new(ForeignLogger(l)) as Arc<dyn praxis_core::Logger>);
        core.http = HttpConfig {
            timeout: Duration::from_millis(config.request_timeout_ms.max(1)),
            spki_pins: pins(config.spki_pins)?,
            extra_roots: config.extra_root_certificates,
            ..HttpConfig::default()
        };
        core.device = praxis_core::DeviceLabel {
            name: config.device_name,
            platform: config.platform,
        };
        core.reset_on_key_mismatch = config.reset_on_key_mismatch;
        let inner = praxis_core::PraxisClient::open(core).await?;
        Ok(Arc::new(Self { inner }))
    }

    /// Whether someone is signed in (the cheapest call across the boundary:
    /// no allocation either way).
    pub fn is_signed_in(&self) -> bool {
        self.inner.account().user_id().is_some()
    }

    /// Seconds the server's clock is ahead of this device's (negative when
    /// the device is ahead), when the last answer showed the device clock
    /// off by more than two minutes; `None` otherwise. The core already
    /// runs on the server's time: show the user that the clock is wrong.
    pub fn clock_skew_seconds(&self) -> Option<i64> {
        self.inner.clock_skew().map(|d| d.num_seconds())
    }

    /// The session state now.
    pub fn session_state(&self) -> SessionState {
        self.inner.account().state().into()
    }

    /// Calls `listener` with the current session state, then with every
    /// change, until the returned handle is cancelled or dropped.
    pub fn subscribe_session(&self, listener: Arc<dyn SessionListener>) -> Arc<TaskHandle> {
        watch(self.inner.account().subscribe(), move |s| {
            listener.on_update(s)
        })
    }

    /// Creates an account (does not sign in); returns its id.
    pub async fn register(&self, registration: RegisterRequest) -> Result<String, PraxisError> {
        let id = self.inner.account().register(&registration).await?;
        Ok(id.to_string())
    }

    /// Signs in; returns the account id.
    pub async fn login(&self, email: String, password: String) -> Result<String, PraxisError> {
        Ok(self
            .inner
            .account()
            .login(&email, &password)
            .await?
            .to_string())
    }

    /// Signs out (locally even when the server cannot be reached).
    pub async fn logout(&self) -> Result<(), PraxisError> {
        Ok(self.inner.account().logout().await?)
    }

    /// Confirms the password in this sign-in; changing the login email
    /// needs it within the five minutes before.
    pub async fn reauthenticate(&self, password: String) -> Result<(), PraxisError> {
        Ok(self.inner.account().reauthenticate(&password).await?)
    }
}
