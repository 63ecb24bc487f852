//! The sync capability for the apps: syncing on demand, in the
//! background and live, push wake-ups, and the status (see
//! `praxis_core::sync`).

use std::sync::Arc;

use crate::client::{PraxisClient, PushPlatform};
use crate::error::PraxisError;
use crate::listeners::{SyncListener, TaskHandle, watch};
use crate::types::SyncStatus;

crate::capability!(
    /// Sync with the server: on demand, in the background, live, and on push wake-ups.
    SyncService,
    sync
);

#[uniffi::export(async_runtime = "tokio")]
impl SyncService {
    /// Syncs now (for the app's background scheduler or pull-to-refresh);
    /// `reason` is a short tag for the logs.
    pub async fn sync_now(&self, reason: String) -> Result<SyncStatus, PraxisError> {
        Ok(self.core().sync().sync_now(&reason).await?)
    }

    /// The sync status now.
    pub fn sync_status(&self) -> SyncStatus {
        self.core().sync().status()
    }

    /// Starts syncing in the background (after each local change, and when
    /// a retry falls due) until the handle is cancelled or dropped. Apps
    /// start it while in the foreground and use `sync_now` from their
    /// background schedulers.
    pub fn start_auto_sync(&self) -> Arc<TaskHandle> {
        let _enter = crate::listeners::runtime().enter();
        Arc::new(TaskHandle(self.core().sync().spawn_background()))
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
            self.core()
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
            .core()
            .account()
            .register_push_token(platform, &token)
            .await?)
    }

    /// Stops background wake-ups for this sign-in.
    pub async fn remove_push_token(&self) -> Result<(), PraxisError> {
        Ok(self.core().account().remove_push_token().await?)
    }

    /// A background wake-up arrived: one sync, within 25 seconds (inside
    /// the 30 s iOS and Android give a high-priority data message).
    pub async fn handle_wake_up(&self) -> Result<SyncStatus, PraxisError> {
        Ok(self
            .core()
            .sync()
            .handle_wake_up(std::time::Duration::from_secs(25))
            .await?)
    }

    /// Calls `listener` with the sync status now and at every change.
    pub fn subscribe_sync(&self, listener: Arc<dyn SyncListener>) -> Arc<TaskHandle> {
        watch(self.core().sync().subscribe(), move |s| {
            listener.on_update(s)
        })
    }
}
