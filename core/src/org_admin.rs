//! Running an organisation from the apps: an admin changes a member's
//! role, removes a member, renames the organisation, lists and revokes
//! open join codes and reads the organisation's audit log (the location
//! policy's change log is [`Account::location_policy_changes`]); any
//! member can leave. The server keeps the last-admin guard (`last_admin`)
//! and refuses members (`Forbidden`).

use praxis_protocol::audit::AuditEntry;
use praxis_protocol::{JoinCodeInfo, Org, Role, UpdateMemberRequest, UpdateOrgRequest};
use reqwest::Method;
use uuid::Uuid;

use crate::Result;
use crate::account::Account;

type NoBody = ();

impl Account {
    /// Makes `member` an admin or a plain member (admins only).
    pub async fn set_member_role(&self, org: Uuid, member: Uuid, role: Role) -> Result<()> {
        self.session
            .call::<_, ()>(
                Method::PATCH,
                format!("v1/orgs/{org}/members/{member}"),
                Some(&UpdateMemberRequest { role }),
            )
            .await?;
        self.log.info("account", "member role changed");
        Ok(())
    }

    /// Removes `member` from the organisation (admins only; their live
    /// location shares with its members end).
    pub async fn remove_member(&self, org: Uuid, member: Uuid) -> Result<()> {
        self.session
            .call::<NoBody, ()>(
                Method::DELETE,
                format!("v1/orgs/{org}/members/{member}"),
                None,
            )
            .await?;
        self.log.info("account", "member removed");
        Ok(())
    }

    /// Leaves the organisation (the last admin cannot while others remain).
    pub async fn leave_org(&self, org: Uuid) -> Result<()> {
        let me = self.user_id().ok_or(crate::Error::NotSignedIn)?;
        self.session
            .call::<NoBody, ()>(Method::DELETE, format!("v1/orgs/{org}/members/{me}"), None)
            .await?;
        self.log.info("account", "left an organisation");
        Ok(())
    }

    /// Renames the organisation (admins only).
    pub async fn rename_org(&self, org: Uuid, name: &str) -> Result<Org> {
        let body = UpdateOrgRequest {
            name: Some(name.to_owned()),
        };
        self.session
            .call(Method::PATCH, format!("v1/orgs/{org}"), Some(&body))
            .await
    }

    /// The organisation's open join codes (admins only; ids, never the
    /// codes themselves).
    pub async fn join_codes(&self, org: Uuid) -> Result<Vec<JoinCodeInfo>> {
        self.session
            .call::<NoBody, _>(Method::GET, format!("v1/orgs/{org}/join-codes"), None)
            .await
    }

    /// Revokes an open join code by its id (admins only).
    pub async fn revoke_join_code(&self, org: Uuid, code_id: &str) -> Result<()> {
        if code_id.is_empty()
            || !code_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(crate::Error::InvalidInput {
                field: "code_id",
                reason: "not a join code id",
            });
        }
        self.session
            .call::<NoBody, ()>(
                Method::DELETE,
                format!("v1/orgs/{org}/join-codes/{code_id}"),
                None,
            )
            .await
    }

    /// The organisation's audit log, newest first (admins only; ids and
    /// flags, no personal data).
    pub async fn org_audit(&self, org: Uuid) -> Result<Vec<AuditEntry>> {
        self.session
            .call::<NoBody, _>(Method::GET, format!("v1/orgs/{org}/audit"), None)
            .await
    }
}
