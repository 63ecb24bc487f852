//! The devices capability for the apps: the user's signed-in devices and
//! signing them out, with an optional remote wipe (see
//! `praxis_core::devices`). A wipe needs
//! `PraxisClient::reauthenticate` within the five minutes before.

pub(crate) use praxis_core::protocol::SessionInfo;
use std::sync::Arc;

use crate::client::{PraxisClient, uuid};
use crate::error::PraxisError;

/// The user's signed-in devices.
#[derive(Debug, uniffi::Object)]
pub struct Devices {
    inner: praxis_core::Devices,
}

#[uniffi::export(async_runtime = "tokio")]
impl Devices {
    /// The signed-in devices, newest first; `current` marks this one.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, PraxisError> {
        Ok(self.inner.sessions().await?)
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
