//! The privacy notice on the device: fetched from the server (public: an
//! app shows it before anyone registers), kept in the encrypted cache for
//! offline reading, and flagged as changed when a sync brings a newer
//! version, so the app tells its user "our privacy notice changed" once.
//!
//! The privacy step that opens every sync reports the version in force;
//! a device holding another fetches the notice then ([`refresh_if_newer`]).
//! The flag stays up until the app acknowledges that version
//! ([`Notices::acknowledge`]), so an app that crashes before showing it
//! shows it at the next start; acknowledging an older version than the
//! one held leaves it up.

use std::sync::Arc;

use praxis_protocol::notice::PrivacyNotice;
use serde::{Deserialize, Serialize};

use crate::cache::{CacheTx, RecordMeta, blocking};
use crate::sync::SyncEngine;
use crate::{Error, NetworkError, Result};

/// Where the notice is kept: device state, not the user's data (it is
/// public, and it survives sign-out so the next user sees it offline).
const NOTICE: (&str, &str) = ("privacy_notice", "current");

/// The notice held on the device and whether the user has yet to be told
/// it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeStatus {
    /// The notice.
    pub notice: PrivacyNotice,
    /// A sync brought this version after the device had held an older
    /// one, and the app has not yet acknowledged it.
    pub changed: bool,
}

/// The version of the notice held, if any.
pub(crate) fn held_version(tx: &CacheTx<'_>) -> Result<Option<u32>> {
    Ok(tx
        .get::<NoticeStatus>(NOTICE.0, NOTICE.1)?
        .map(|r| r.value.notice.version))
}

/// Keeps `notice`. A version newer than one already held raises the
/// `changed` flag; the first notice a device holds does not (the user is
/// shown it when registering), and the same version keeps the flag as it
/// was.
pub(crate) fn keep(tx: &mut CacheTx<'_>, notice: PrivacyNotice) -> Result<NoticeStatus> {
    let held = tx.get::<NoticeStatus>(NOTICE.0, NOTICE.1)?.map(|r| r.value);
    let changed = match &held {
        None => false,
        Some(h) if notice.version > h.notice.version => true,
        Some(h) if notice.version == h.notice.version => h.changed,
        // An older version (the server's operator went back): keep it,
        // but it is no news to the user.
        Some(_) => false,
    };
    let status = NoticeStatus { notice, changed };
    tx.put(NOTICE.0, NOTICE.1, &status, RecordMeta::local())?;
    Ok(status)
}

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
                    c.transaction(|tx| keep(tx, notice))
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
