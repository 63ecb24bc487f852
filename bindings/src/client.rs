//! The client object the apps hold.

use std::sync::Arc;
use std::time::Duration;

use praxis_core::http::HttpConfig;
use uuid::Uuid;

use crate::error::PraxisError;
use crate::keys::{ForeignKeyProvider, ForeignLogger, KeyProvider, Logger};
use crate::listeners::{SessionListener, SyncListener, TaskHandle, watch};
use crate::types::{
    Appointment, AppointmentPatch, ClientConfig, JoinCodeResponse, Member, NewAppointment, Org,
    Profile, RegisterRequest, SessionState, SyncStatus, UpdateProfileRequest,
};
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

    /// The profile from the server.
    pub async fn profile(&self) -> Result<Profile, PraxisError> {
        Ok(self.inner.account().profile().await?.into())
    }

    /// The profile as last seen, offline.
    pub async fn cached_profile(&self) -> Result<Option<Profile>, PraxisError> {
        Ok(self.inner.account().cached_profile().await?.map(Into::into))
    }

    /// Confirms the password in this sign-in; changing the login email
    /// needs it within the five minutes before.
    pub async fn reauthenticate(&self, password: String) -> Result<(), PraxisError> {
        Ok(self.inner.account().reauthenticate(&password).await?)
    }

    /// Rectifies profile fields (a new email needs `reauthenticate` first
    /// and signs the other devices out).
    pub async fn update_profile(
        &self,
        update: UpdateProfileRequest,
    ) -> Result<Profile, PraxisError> {
        Ok(self.inner.account().update_profile(&update).await?.into())
    }

    /// Creates an organisation; returns its id.
    pub async fn create_org(&self, name: String) -> Result<String, PraxisError> {
        Ok(self.inner.account().create_org(&name).await?.to_string())
    }

    /// Joins an organisation with a code; returns its id.
    pub async fn join_org(&self, code: String) -> Result<String, PraxisError> {
        Ok(self.inner.account().join_org(&code).await?.to_string())
    }

    /// The user's organisations.
    pub async fn orgs(&self) -> Result<Vec<Org>, PraxisError> {
        Ok(self.inner.account().orgs().await?)
    }

    /// A join code for an organisation (admins).
    pub async fn create_join_code(&self, org_id: String) -> Result<JoinCodeResponse, PraxisError> {
        Ok(self
            .inner
            .account()
            .create_join_code(uuid("org_id", &org_id)?)
            .await?)
    }

    /// Members of an organisation.
    pub async fn members(&self, org_id: String) -> Result<Vec<Member>, PraxisError> {
        Ok(self
            .inner
            .account()
            .members(uuid("org_id", &org_id)?)
            .await?)
    }

    /// Adds a visit (offline-first: stored and queued, synced later).
    pub async fn create_appointment(
        &self,
        appointment: NewAppointment,
    ) -> Result<String, PraxisError> {
        Ok(self
            .inner
            .appointments()
            .create(appointment.into())
            .await?
            .to_string())
    }

    /// Changes fields of a visit.
    pub async fn update_appointment(
        &self,
        id: String,
        patch: AppointmentPatch,
    ) -> Result<(), PraxisError> {
        Ok(self
            .inner
            .appointments()
            .update(uuid("id", &id)?, patch.into())
            .await?)
    }

    /// Deletes a visit.
    pub async fn delete_appointment(&self, id: String) -> Result<(), PraxisError> {
        Ok(self.inner.appointments().delete(uuid("id", &id)?).await?)
    }

    /// The visits on this device, by start time.
    pub async fn appointments(&self) -> Result<Vec<Appointment>, PraxisError> {
        Ok(self
            .inner
            .appointments()
            .list()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Syncs now (for the app's background scheduler or pull-to-refresh);
    /// `reason` is a short tag for the logs.
    pub async fn sync_now(&self, reason: String) -> Result<SyncStatus, PraxisError> {
        Ok(self.inner.sync().sync_now(&reason).await?.into())
    }

    /// The sync status now.
    pub fn sync_status(&self) -> SyncStatus {
        self.inner.sync().status().into()
    }

    /// Starts syncing in the background (after each local change, and when
    /// a retry falls due) until the handle is cancelled or dropped. Apps
    /// start it while in the foreground and use `sync_now` from their
    /// background schedulers.
    pub fn start_auto_sync(&self) -> Arc<TaskHandle> {
        let _enter = crate::listeners::runtime().enter();
        Arc::new(TaskHandle(self.inner.sync().spawn_background()))
    }

    /// Keeps the device current while the app is in the foreground, until
    /// the handle is cancelled or dropped: everything `start_auto_sync`
    /// does, plus the server's change feed, so another device's edit, an
    /// admin's policy change or a revoked contact card arrives within a
    /// second (and reaches `subscribe_sync` listeners). Reconnects by
    /// itself; waits for a sign-in when nobody is signed in.
    pub fn start_live_sync(&self) -> Arc<TaskHandle> {
        let _enter = crate::listeners::runtime().enter();
        Arc::new(TaskHandle(
            self.inner
                .sync()
                .spawn_live(praxis_core::sync::LiveOptions::default()),
        ))
    }

    /// Registers this sign-in's platform push token (from FCM or APNs):
    /// the server then wakes the app in the background when its data
    /// changes. Call again whenever the platform issues a new token.
    pub async fn register_push_token(
        &self,
        platform: PushPlatform,
        token: String,
    ) -> Result<(), PraxisError> {
        Ok(self
            .inner
            .account()
            .register_push_token(platform, &token)
            .await?)
    }

    /// Stops background wake-ups for this sign-in.
    pub async fn remove_push_token(&self) -> Result<(), PraxisError> {
        Ok(self.inner.account().remove_push_token().await?)
    }

    /// A background wake-up arrived: one sync, within 25 seconds (inside
    /// the 30 s iOS and Android give a high-priority data message).
    pub async fn handle_wake_up(&self) -> Result<SyncStatus, PraxisError> {
        Ok(self
            .inner
            .sync()
            .handle_wake_up(std::time::Duration::from_secs(25))
            .await?
            .into())
    }

    /// Calls `listener` with the sync status now and at every change.
    pub fn subscribe_sync(&self, listener: Arc<dyn SyncListener>) -> Arc<TaskHandle> {
        watch(self.inner.sync().subscribe(), move |s| {
            listener.on_update(s)
        })
    }
}

/// The platform push service a token is from.
#[uniffi::remote(Enum)]
pub enum PushPlatform {
    /// Firebase Cloud Messaging (Android).
    Fcm,
    /// Apple Push Notification service (iPhone).
    Apns,
}
