//! The privacy notice on the device: fetched from the server (public: an
//! app shows it before anyone registers), kept in the encrypted cache for
//! offline reading, and flagged as changed when a sync brings a newer
//! version, so the app tells its user "our privacy notice changed" once.
//!
//! The privacy step that opens every sync reports the version in force;
//! a device holding another fetches the notice then (the sync driver, with
//! `crate::privacy::keep_notice`).
//! The flag stays up until the app acknowledges that version
//! ([`Notices::acknowledge`]), so an app that crashes before showing it
//! shows it at the next start; acknowledging an older version than the
//! one held leaves it up.

use std::sync::Arc;

use crate::cache::{RecordMeta, blocking};
pub use crate::privacy::NoticeStatus;
use crate::privacy::{NOTICE, keep_notice};
use crate::sync::SyncEngine;
use crate::{Error, NetworkError, Result};

/// The privacy notice capability; cheap to clone.
#[derive(Debug, Clone)]
pub struct Notices {
    pub(crate) engine: Arc<SyncEngine>,
}

impl Notices {
    /// Fetches the notice in force from the server (no sign-in needed),
    /// keeps it, and returns it. Offline, the copy held is returned
    /// instead; with none held, the network error.
    pub async fn fetch(&self) -> Result<NoticeStatus> {
        match self.engine.transport().notice().await {
            Ok(Some(notice)) => {
                blocking(self.engine.cache(), move |c| {
                    c.transaction(|tx| keep_notice(tx, notice))
                })
                .await
            }
            // A transport without a server (the sync simulation).
            Ok(None) => self
                .held()
                .await?
                .ok_or(Error::Network(NetworkError::Unreachable)),
            Err(e @ Error::Network(_)) => self.held().await?.ok_or(e),
            Err(e) => Err(e),
        }
    }

    /// The notice held on the device, without the network.
    pub async fn held(&self) -> Result<Option<NoticeStatus>> {
        blocking(self.engine.cache(), |c| {
            c.get::<NoticeStatus>(NOTICE.0, NOTICE.1)
                .map(|r| r.map(|r| r.value))
        })
        .await
    }

    /// The app has shown the user `version`: the `changed` flag goes down
    /// if that is the version held (a newer one that arrived meanwhile
    /// keeps it up). Returns whether it did.
    pub async fn acknowledge(&self, version: u32) -> Result<bool> {
        blocking(self.engine.cache(), move |c| {
            c.transaction(|tx| {
                let Some(mut held) = tx.get::<NoticeStatus>(NOTICE.0, NOTICE.1)?.map(|r| r.value)
                else {
                    return Ok(false);
                };
                if held.notice.version != version || !held.changed {
                    return Ok(false);
                }
                held.changed = false;
                tx.put(NOTICE.0, NOTICE.1, &held, RecordMeta::local())?;
                Ok(true)
            })
        })
        .await
    }
}
