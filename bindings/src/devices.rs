//! The devices capability for the apps: the user's signed-in devices and
//! signing them out, with an optional remote wipe (see
//! `praxis_core::devices`). A wipe needs
//! `PraxisClient::reauthenticate` within the five minutes before.

use std::sync::Arc;
use std::time::SystemTime;

use praxis_core::protocol::Platform;

use crate::client::{PraxisClient, uuid};
use crate::error::PraxisError;

/// The kind of device a session was opened on.
#[uniffi::remote(Enum)]
pub enum Platform {
    Android,
    Ios,
    Cli,
    Other,
}

/// One signed-in device of the user.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DeviceSession {
    /// The session's id (to end it).
    pub id: String,
    /// The name the device gave at login.
    pub device_name: Option<String>,
    /// The kind of device.
    pub platform: Option<Platform>,
    /// When the user signed in on it.
    pub created_at: SystemTime,
    /// When it last renewed its tokens.
    pub last_used_at: SystemTime,
    /// Whether it is this device.
    pub current: bool,
}

/// The user's signed-in devices.
#[derive(Debug, uniffi::Object)]
pub struct Devices {
    inner: praxis_core::Devices,
}

#[uniffi::export(async_runtime = "tokio")]
impl Devices {
    /// The signed-in devices, newest first; `current` marks this one.
    pub async fn sessions(&self) -> Result<Vec<DeviceSession>, PraxisError> {
        Ok(self
            .inner
            .sessions()
            .await?
            .into_iter()
            .map(|s| DeviceSession {
                id: s.id.to_string(),
                device_name: s.device_name,
                platform: s.platform,
                created_at: s.created_at.into(),
                last_used_at: s.last_used_at.into(),
                current: s.current,
            })
            .collect())
    }

    /// Signs one device out; `wipe` also makes it delete the user's data
    /// (needs a recent `reauthenticate`). Ending this device's own session
    /// is a logout.
    pub async fn end_session(&self, id: String, wipe: bool) -> Result<(), PraxisError> {
        Ok(self.inner.end_session(uuid("id", &id)?, wipe).await?)
    }

    /// Signs every other device out; `wipe` as for `end_session`.
    pub async fn end_other_sessions(&self, wipe: bool) -> Result<(), PraxisError> {
        Ok(self.inner.end_other_sessions(wipe).await?)
    }
}

#[uniffi::export]
impl PraxisClient {
    /// The devices capability.
    pub fn devices(&self) -> Arc<Devices> {
        Arc::new(Devices {
            inner: self.core().devices(),
        })
    }
}
