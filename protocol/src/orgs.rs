//! Organisations, their members and join codes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::redacted_debug;

/// A member's role in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Role {
    /// May change organisation settings, membership and policies.
    Admin,
    /// A practitioner in the organisation.
    Member,
}

impl Role {
    /// The wire and storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// Parses the wire and storage form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }
}

/// `POST /v1/orgs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    /// Display name of the organisation (1..=200 characters).
    pub name: String,
}

/// Answer to organisation creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateOrgResponse {
    /// The new organisation's id.
    pub org_id: Uuid,
}

/// `PATCH /v1/orgs/{org_id}` (admins only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgRequest {
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An organisation as one of its members sees it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Org {
    /// Organisation id.
    pub org_id: Uuid,
    /// Display name.
    pub name: String,
    /// The caller's role in it.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}
// A one-person practice may carry its practitioner's name.
redacted_debug!(Org {
    org_id,
    role,
    created_at
});

/// Answer to `POST /v1/orgs/{org_id}/join-codes`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "JoinCode"))]
pub struct JoinCodeResponse {
    /// Single-use code to hand to the person joining.
    pub code: String,
    /// The code's id, to revoke it (`DELETE …/join-codes/{id}`); it does
    /// not reveal the code.
    pub id: String,
    /// After this instant the code no longer works.
    pub expires_at: DateTime<Utc>,
}
redacted_debug!(JoinCodeResponse { id, expires_at });

/// An open join code of an organisation, as admins list it (never the code
/// itself: only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct JoinCodeInfo {
    /// The code's id (to revoke it).
    pub id: String,
    /// The admin who made it (the code dies with their admin role).
    pub created_by: Uuid,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// `POST /v1/orgs/join`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JoinOrgRequest {
    /// A join code from an admin.
    pub code: String,
}
redacted_debug!(JoinOrgRequest {});

/// Answer to a successful join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinOrgResponse {
    /// The organisation joined.
    pub org_id: Uuid,
}

/// A member of an organisation, as other members see them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Member {
    /// Account id.
    pub user_id: Uuid,
    /// Full name.
    pub full_name: String,
    /// Profession.
    pub profession: String,
    /// Role in the organisation.
    pub role: Role,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
}
redacted_debug!(Member {
    user_id,
    role,
    joined_at
});

/// `PATCH /v1/orgs/{org_id}/members/{user_id}` (admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    /// The new role.
    pub role: Role,
}
