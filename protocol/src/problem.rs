//! RFC 9457 problem details, the one error body of the API.
//!
//! Clients branch on `code`, a stable snake_case identifier; `title` and
//! `detail` are for humans and may change. Validation errors name the
//! offending request `field`. No problem body ever contains a submitted
//! value: the server echoes field names, never field contents.

use serde::{Deserialize, Serialize};

/// Media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Stable machine-readable error codes. Adding a variant is compatible;
/// renaming one is a breaking change of the wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// An account already uses this email address (compared case-insensitively).
    EmailTaken,
    /// Wrong password or unknown email: deliberately indistinguishable.
    InvalidCredentials,
    /// The date of birth makes the person younger than 18.
    TooYoung,
    /// The password is too short, too long, too guessable or common.
    WeakPassword,
    /// A field failed validation; `field` names it.
    ValidationFailed,
    /// The body is not syntactically valid JSON.
    MalformedJson,
    /// Missing, invalid, expired or revoked credentials.
    Unauthorized,
    /// Authenticated, but not allowed to do this.
    Forbidden,
    /// No such resource, or one the caller may not know about.
    NotFound,
    /// The HTTP method is not supported on this route.
    MethodNotAllowed,
    /// The request body exceeds the size limit.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// Too many attempts; retry after the `Retry-After` header.
    RateLimited,
    /// The caller is already a member of this organisation.
    AlreadyMember,
    /// The join code has already been used.
    JoinCodeUsed,
    /// The join code has expired.
    JoinCodeExpired,
    /// The change would leave an organisation without any admin.
    LastAdmin,
    /// The sync cursor is from another epoch or older than the tombstone
    /// horizon: pull again from the start (a full resync).
    ResyncRequired,
    /// The user has not consented to this purpose (for the current policy
    /// version).
    ConsentRequired,
    /// The organisation's location policy does not allow it.
    PolicyDisabled,
    /// Processing of the account is restricted.
    Restricted,
    /// The live share has ended (expired or stopped).
    ShareEnded,
    /// The invitation code is unknown, forged or altered.
    InvitationInvalid,
    /// The invitation has expired.
    InvitationExpired,
    /// The invitation was already accepted or declined.
    InvitationUsed,
    /// One cannot accept one's own invitation.
    OwnInvitation,
    /// Too many open invitations: wait for some to expire or be used.
    InvitationLimit,
    /// A per-account or per-organisation limit is reached (organisations
    /// belonged to, open join codes, running live shares); `field` names
    /// what. End or use some first.
    LimitReached,
    /// The other person has blocked this.
    Blocked,
    /// This needs the password re-entered in the last five minutes
    /// (`POST /v1/sessions/reauth`).
    ReauthRequired,
    /// The account was erased: the device must wipe its local data.
    AccountErased,
    /// This session was ended from another device with "sign out and
    /// wipe": the device must delete its local data, then sign in again.
    SessionWiped,
    /// A mailed code is wrong, expired, already used or tried too often
    /// (deliberately one answer for all, and for an unknown address).
    InvalidCode,
    /// The request was not received (or not handled) in time.
    RequestTimeout,
    /// The server is not ready (e.g. its database is unreachable).
    Unavailable,
    /// An unexpected server error; nothing about it is disclosed.
    Internal,
}

impl ErrorCode {
    /// The snake_case wire form of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailTaken => "email_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TooYoung => "too_young",
            Self::WeakPassword => "weak_password",
            Self::ValidationFailed => "validation_failed",
            Self::MalformedJson => "malformed_json",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::AlreadyMember => "already_member",
            Self::JoinCodeUsed => "join_code_used",
            Self::JoinCodeExpired => "join_code_expired",
            Self::LastAdmin => "last_admin",
            Self::ResyncRequired => "resync_required",
            Self::ConsentRequired => "consent_required",
            Self::PolicyDisabled => "policy_disabled",
            Self::Restricted => "restricted",
            Self::ShareEnded => "share_ended",
            Self::InvitationInvalid => "invitation_invalid",
            Self::InvitationExpired => "invitation_expired",
            Self::InvitationUsed => "invitation_used",
            Self::OwnInvitation => "own_invitation",
            Self::InvitationLimit => "invitation_limit",
            Self::LimitReached => "limit_reached",
            Self::Blocked => "blocked",
            Self::ReauthRequired => "reauth_required",
            Self::AccountErased => "account_erased",
            Self::SessionWiped => "session_wiped",
            Self::InvalidCode => "invalid_code",
            Self::RequestTimeout => "request_timeout",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 9457 problem details body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI reference identifying the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation of this occurrence (never personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For validation errors: the request field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    /// A problem with the given code, status and title.
    pub fn new(code: ErrorCode, status: u16, title: impl Into<String>) -> Self {
        Self {
            kind: format!(
                "https://praxis.invalid/problems/{}",
                code.as_str().replace('_', "-")
            ),
            title: title.into(),
            status,
            code,
            detail: None,
            field: None,
        }
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a human-readable detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_serialises_as_its_wire_name() {
        for code in [
            ErrorCode::EmailTaken,
            ErrorCode::InvalidCredentials,
            ErrorCode::TooYoung,
            ErrorCode::WeakPassword,
            ErrorCode::ValidationFailed,
            ErrorCode::MalformedJson,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::RateLimited,
            ErrorCode::AlreadyMember,
            ErrorCode::JoinCodeUsed,
            ErrorCode::JoinCodeExpired,
            ErrorCode::LastAdmin,
            ErrorCode::ResyncRequired,
            ErrorCode::RequestTimeout,
            ErrorCode::Unavailable,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_value(code).expect("serialise");
            assert_eq!(json, code.as_str());
            let back: ErrorCode = serde_json::from_value(json).expect("deserialise");
            assert_eq!(back, code);
        }
    }

    #[test]
    fn problem_uses_rfc9457_member_names() {
        let p =
            Problem::new(ErrorCode::ValidationFailed, 400, "Invalid request").with_field("phone");
        let v = serde_json::to_value(&p).expect("serialise");
        assert_eq!(
            v["type"],
            "https://praxis.invalid/problems/validation-failed"
        );
        assert_eq!(v["status"], 400);
        assert_eq!(v["field"], "phone");
        assert!(v.get("detail").is_none());
    }
}
