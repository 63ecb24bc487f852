//! The devices capability: the user's signed-in devices (one server
//! session each), and signing one or all the others out, optionally with a
//! remote wipe: the ended device deletes its copy of the user's data (keys
//! first, as erasure does) when it next contacts the server, and shows
//! [`SessionState::Wiped`](crate::SessionState::Wiped).
//!
//! A wipe needs the password re-entered in the last five minutes
//! ([`Account::reauthenticate`](crate::Account::reauthenticate)), so a
//! stolen device that is still signed in cannot wipe its owner's others.

use std::sync::Arc;

use praxis_protocol::{SessionInfo, SessionList};
use reqwest::Method;
use uuid::Uuid;

use crate::Result;
use crate::account::Account;
pub use crate::session::DeviceLabel;
use crate::session::Session;

/// Device operations; cheap to clone.
#[derive(Debug, Clone)]
pub struct Devices {
    pub(crate) session: Arc<Session>,
    pub(crate) account: Account,
}

type NoBody = ();

impl Devices {
    /// The user's signed-in devices, newest first; `current` marks this one.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>> {
        let list: SessionList = self
            .session
            .call::<NoBody, _>(Method::GET, "v1/sessions".into(), None)
            .await?;
        Ok(list.sessions)
    }

    /// Signs one device out (`wipe`: and makes it delete its data, which
    /// needs a recent [`Account::reauthenticate`]). Ending this device's
    /// own session is a logout.
    pub async fn end_session(&self, id: Uuid, wipe: bool) -> Result<()> {
        if self.session.session_id().await == Some(id) {
            return self.account.logout().await;
        }
        self.session
            .call::<NoBody, ()>(
                Method::DELETE,
                format!("v1/sessions/{id}?wipe={wipe}"),
                None,
            )
            .await
    }

    /// Signs every other device of the user out (`wipe`: and makes them
    /// delete their data, which needs a recent
    /// [`Account::reauthenticate`]).
    pub async fn end_other_sessions(&self, wipe: bool) -> Result<()> {
        self.session
            .call::<NoBody, ()>(
                Method::DELETE,
                format!("v1/sessions?others=true&wipe={wipe}"),
                None,
            )
            .await
    }
}
