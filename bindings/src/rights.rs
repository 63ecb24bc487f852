//! Data-subject rights for the apps: export, restriction, objection,
//! erasure, post-mortem directives, the audit log.

use std::time::SystemTime;

use crate::client::PraxisClient;
use crate::error::PraxisError;
use crate::privacy::Purpose;
pub(crate) use praxis_core::protocol::notice::Objection;
pub(crate) use praxis_core::protocol::privacy::LocationErasure;
use praxis_core::protocol::redacted_debug;

/// What happens to the user's data after their death.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PostMortemAction {
    /// Erase everything (the default).
    Erase,
    /// Send the export to the designated person, then erase.
    HandOver,
}

/// The post-mortem directive in force.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct PostMortemDirective {
    /// Erase, or hand over then erase.
    pub action: PostMortemAction,
    /// The designated person's name (a hand-over).
    pub recipient_name: Option<String>,
    /// Their email address.
    pub recipient_email: Option<String>,
    /// The message for them.
    pub message: Option<String>,
    /// When the user set it; `None` for the default.
    pub updated_at: Option<SystemTime>,
}

// Names, an address and a message: `Debug` shows the action only.
redacted_debug!(PostMortemDirective { action });

impl From<praxis_core::protocol::notice::PostMortemDirective> for PostMortemDirective {
    fn from(d: praxis_core::protocol::notice::PostMortemDirective) -> Self {
        use praxis_core::protocol::notice::PostMortemAction as A;
        Self {
            action: match d.action {
                A::Erase => PostMortemAction::Erase,
                A::HandOver => PostMortemAction::HandOver,
            },
            recipient_name: d.recipient.as_ref().map(|r| r.name.clone()),
            recipient_email: d.recipient.map(|r| r.email),
            message: d.message,
            updated_at: d.updated_at.map(Into::into),
        }
    }
}

/// One security event about the user.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AuditEvent {
    /// Position in the tamper-evident chain.
    pub seq: i64,
    /// When.
    pub at: SystemTime,
    /// What (`login_succeeded`, `consent_changed`, …).
    pub event: String,
    /// Details: ids, flags and names only (JSON).
    pub details_json: String,
}

impl From<praxis_core::protocol::audit::AuditEntry> for AuditEvent {
    fn from(e: praxis_core::protocol::audit::AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at: e.at.into(),
            event: e.event,
            details_json: e.details.to_string(),
        }
    }
}

crate::capability!(
    /// Data-subject rights: export, restriction, objection, erasure, post-mortem directives, the audit log.
    Rights,
    rights
);

#[uniffi::export(async_runtime = "tokio")]
impl Rights {
    /// Restricts processing of the account, or lifts the restriction.
    pub async fn set_restricted(&self, restricted: bool) -> Result<(), PraxisError> {
        Ok(self.core().account().set_restricted(restricted).await?)
    }

    /// Downloads everything the server holds about the user to `path`
    /// (JSON; encrypted when `passphrase` is given). Returns the bytes
    /// received.
    pub async fn export_data(
        &self,
        path: String,
        passphrase: Option<String>,
    ) -> Result<u64, PraxisError> {
        Ok(self
            .core()
            .account()
            .export(std::path::Path::new(&path), passphrase.as_deref())
            .await?)
    }

    /// What happens to the user's data after their death (the default:
    /// erasure).
    pub async fn post_mortem(&self) -> Result<PostMortemDirective, PraxisError> {
        Ok(self.core().account().post_mortem().await?.into())
    }

    /// Records the post-mortem directive: erase, or hand the export to a
    /// person (name and email, optionally a message), then erase.
    pub async fn set_post_mortem(
        &self,
        action: PostMortemAction,
        recipient_name: Option<String>,
        recipient_email: Option<String>,
        message: Option<String>,
    ) -> Result<PostMortemDirective, PraxisError> {
        use praxis_core::protocol::notice as pn;
        let recipient = match (recipient_name, recipient_email) {
            (None, None) => None,
            (name, email) => Some(pn::PostMortemRecipient {
                name: name.unwrap_or_default(),
                email: email.unwrap_or_default(),
            }),
        };
        let req = pn::PostMortemRequest {
            action: match action {
                PostMortemAction::Erase => pn::PostMortemAction::Erase,
                PostMortemAction::HandOver => pn::PostMortemAction::HandOver,
            },
            recipient,
            message,
        };
        Ok(self.core().account().set_post_mortem(&req).await?.into())
    }

    /// Removes the post-mortem directive: erasure applies again.
    pub async fn remove_post_mortem(&self) -> Result<(), PraxisError> {
        Ok(self.core().account().remove_post_mortem().await?)
    }

    /// The processing on legitimate interest, and where the user stands.
    pub async fn objections(&self) -> Result<Vec<Objection>, PraxisError> {
        Ok(self.core().account().objections().await?)
    }

    /// Objects to a processing on legitimate interest (GDPR Art. 21), or
    /// withdraws the objection.
    pub async fn set_objection(
        &self,
        basis: String,
        objected: bool,
    ) -> Result<Objection, PraxisError> {
        Ok(self
            .core()
            .account()
            .set_objection(&basis, objected)
            .await?)
    }

    /// Erases the data collected under a location purpose (`None`: both),
    /// typically after withdrawing its consent: on the server, on this
    /// device at once, on the user's other devices at their next sync.
    pub async fn erase_location_data(
        &self,
        purpose: Option<Purpose>,
    ) -> Result<LocationErasure, PraxisError> {
        Ok(self.core().location().erase_data(purpose).await?)
    }

    /// Erases the account (password confirmed) and wipes this device.
    pub async fn delete_account(&self, password: String) -> Result<(), PraxisError> {
        Ok(self.core().account().delete_account(&password).await?)
    }

    /// The security events recorded about the user, newest first.
    pub async fn audit_log(&self) -> Result<Vec<AuditEvent>, PraxisError> {
        let entries = self.core().account().audit().await?;
        Ok(entries.into_iter().map(AuditEvent::from).collect())
    }
}
