//! The audit log as users and admins read it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One security event. It names accounts and organisations by id only;
/// `details` holds flags, purposes and field names, never personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Position in the chain.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What: `registered`, `login_succeeded`, `login_failed`,
    /// `refresh_token_reused`, `logged_out`, `restriction_changed`,
    /// `consent_changed`, `org_created`, `member_joined`, `member_role_changed`,
    /// `member_removed`, `location_policy_changed`, `member_location_changed`.
    pub event: String,
    /// The account it is about (or the admin who acted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    /// The organisation, for organisation events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Uuid>,
    /// Ids, flags and names.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Value,
}
