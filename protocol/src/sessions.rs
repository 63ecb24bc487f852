//! Signed-in devices (`/v1/sessions`) and credentials (`/v1/me/password`,
//! `/v1/password-resets`, `/v1/me/email-verification`).
//!
//! A session is one login on one device: its refresh tokens rotate within
//! it, and ending it (logout, or from another device) ends them all.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::redacted_debug;

/// The kind of device a session was opened on (as the app says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Platform {
    /// The Android app.
    Android,
    /// The iPhone app.
    Ios,
    /// The terminal client.
    Cli,
    /// Anything else.
    Other,
}

impl Platform {
    /// The snake_case wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Android => "android",
            Self::Ios => "ios",
            Self::Cli => "cli",
            Self::Other => "other",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "android" => Self::Android,
            "ios" => Self::Ios,
            "cli" => Self::Cli,
            "other" => Self::Other,
            _ => return None,
        })
    }
}

/// One signed-in device, as `GET /v1/sessions` lists it. No IP address or
/// location is kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "DeviceSession"))]
pub struct SessionInfo {
    /// The session's id (`DELETE /v1/sessions/{id}` ends it).
    pub id: Uuid,
    /// The name the device gave at login (e.g. "Pixel 8"), if any.
    pub device_name: Option<String>,
    /// The kind of device, if it said.
    pub platform: Option<Platform>,
    /// When the user signed in on it.
    pub created_at: DateTime<Utc>,
    /// When it last renewed its tokens (at most one access-token lifetime
    /// ago while it is in use).
    pub last_used_at: DateTime<Utc>,
    /// Whether this is the session making the request.
    pub current: bool,
}
redacted_debug!(SessionInfo {
    id,
    platform,
    created_at,
    last_used_at,
    current
});

/// `GET /v1/sessions`: the caller's live sessions, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionList {
    /// The sessions.
    pub sessions: Vec<SessionInfo>,
}

/// `PUT /v1/me/password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password; may be omitted right after
    /// `POST /v1/sessions/reauth` (within five minutes).
    #[serde(default)]
    pub current_password: Option<String>,
    /// The new password (the registration rules apply).
    pub new_password: String,
}
redacted_debug!(ChangePasswordRequest {});

/// `POST /v1/password-resets`: mail a reset code to this address (if an
/// account has it, verified). The answer is the same either way.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// The account's email address.
    pub email: String,
}
redacted_debug!(PasswordResetRequest {});

/// `POST /v1/password-resets/confirm`: set a new password with the mailed
/// code. Every session of the account ends.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The account's email address.
    pub email: String,
    /// The code from the mail (`XXXX-XXXX`; case, spaces and dashes do not
    /// matter).
    pub code: String,
    /// The new password (the registration rules apply).
    pub new_password: String,
}
redacted_debug!(PasswordResetConfirm {});

/// `POST /v1/me/email-verification/confirm`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmailVerificationConfirm {
    /// The code from the mail.
    pub code: String,
}
redacted_debug!(EmailVerificationConfirm {});
