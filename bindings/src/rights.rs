//! Data-subject rights for the apps: export, erasure, the audit log.
//! (Restriction is `set_restricted`, next to the location API.)

use std::time::SystemTime;

use crate::client::PraxisClient;
use crate::error::PraxisError;

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

#[uniffi::export(async_runtime = "tokio")]
impl PraxisClient {
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
