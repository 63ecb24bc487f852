//! Running an organisation from the apps (see `praxis_core::org_admin`):
//! roles, removal, leaving, renaming, join codes, the audit log and the
//! location policy's change log. Members get `Forbidden`; the last admin
//! cannot step down or leave while others remain (`Conflict(last_admin)`).

use std::sync::Arc;
use std::time::SystemTime;

use crate::client::{PraxisClient, uuid};
use crate::error::PraxisError;
use crate::rights::AuditEvent;
use crate::types::{Org, Role};
pub(crate) use praxis_core::protocol::JoinCodeInfo;

/// One change of the location policy.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PolicyChangeEntry {
    /// When.
    pub at: SystemTime,
    /// The admin who made it.
    pub actor_id: String,
    /// The member concerned, for a per-member switch.
    pub member_id: Option<String>,
    /// The settings changed, with their new values (JSON).
    pub change_json: String,
}

/// Organisation administration.
#[derive(Debug, uniffi::Object)]
pub struct OrgAdmin {
    core: Arc<praxis_core::PraxisClient>,
}

#[uniffi::export(async_runtime = "tokio")]
impl OrgAdmin {
    /// Makes a member an admin or a plain member.
    pub async fn set_member_role(
        &self,
        org_id: String,
        user_id: String,
        role: Role,
    ) -> Result<(), PraxisError> {
        let (org, user) = (uuid("org_id", &org_id)?, uuid("user_id", &user_id)?);
        Ok(self.core.account().set_member_role(org, user, role).await?)
    }

    /// Removes a member.
    pub async fn remove_member(&self, org_id: String, user_id: String) -> Result<(), PraxisError> {
        let (org, user) = (uuid("org_id", &org_id)?, uuid("user_id", &user_id)?);
        Ok(self.core.account().remove_member(org, user).await?)
    }

    /// Leaves the organisation.
    pub async fn leave(&self, org_id: String) -> Result<(), PraxisError> {
        Ok(self
            .core
            .account()
            .leave_org(uuid("org_id", &org_id)?)
            .await?)
    }

    /// Renames the organisation.
    pub async fn rename(&self, org_id: String, name: String) -> Result<Org, PraxisError> {
        Ok(self
            .core
            .account()
            .rename_org(uuid("org_id", &org_id)?, &name)
            .await?)
    }

    /// The open join codes.
    pub async fn join_codes(&self, org_id: String) -> Result<Vec<JoinCodeInfo>, PraxisError> {
        Ok(self
            .core
            .account()
            .join_codes(uuid("org_id", &org_id)?)
            .await?)
    }

    /// Revokes an open join code by its id.
    pub async fn revoke_join_code(
        &self,
        org_id: String,
        code_id: String,
    ) -> Result<(), PraxisError> {
        Ok(self
            .core
            .account()
            .revoke_join_code(uuid("org_id", &org_id)?, &code_id)
            .await?)
    }

    /// The organisation's audit log, newest first.
    pub async fn audit_log(&self, org_id: String) -> Result<Vec<AuditEvent>, PraxisError> {
        let entries = self
            .core
            .account()
            .org_audit(uuid("org_id", &org_id)?)
            .await?;
        Ok(entries.into_iter().map(AuditEvent::from).collect())
    }

    /// The location policy's change log, newest first.
    pub async fn policy_changes(
        &self,
        org_id: String,
    ) -> Result<Vec<PolicyChangeEntry>, PraxisError> {
        let changes = self
            .core
            .account()
            .location_policy_changes(uuid("org_id", &org_id)?)
            .await?;
        Ok(changes
            .into_iter()
            .map(|c| PolicyChangeEntry {
                at: c.at.into(),
                actor_id: c.actor_id.to_string(),
                member_id: c.member_id.map(|m| m.to_string()),
                change_json: c.change.to_string(),
            })
            .collect())
    }
}

#[uniffi::export]
impl PraxisClient {
    /// Organisation administration.
    pub fn org_admin(&self) -> Arc<OrgAdmin> {
        Arc::new(OrgAdmin {
            core: Arc::clone(self.core()),
        })
    }
}
