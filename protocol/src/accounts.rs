//! Accounts and sessions: registration, login, token refresh, profile.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::redacted_debug;

/// `POST /v1/accounts`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "Registration"))]
pub struct RegisterRequest {
    /// Email address; normalised and unique case-insensitively.
    pub email: String,
    /// 8..=128 characters, not weak or common.
    pub password: String,
    /// Full name as the practitioner wants it shown.
    pub full_name: String,
    /// Phone number in E.164 form, e.g. `+33612345678`.
    pub phone: String,
    /// ISO 3166-1 alpha-2 country code, e.g. `FR`.
    pub country: String,
    /// BCP 47 language tag, e.g. `fr-FR`.
    pub language: String,
    /// Profession, e.g. `nurse`.
    pub profession: String,
    /// Date of birth, `YYYY-MM-DD`; the person must be 18 or older.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub date_of_birth: String,
}
redacted_debug!(RegisterRequest {});

/// Answer to a successful registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterResponse {
    /// The new account's id.
    pub user_id: Uuid,
}

/// `POST /v1/sessions`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email address (any case).
    pub email: String,
    /// Password.
    pub password: String,
    /// A name for this device the user will recognise in their list of
    /// sessions (e.g. "Pixel 8"); at most 100 characters. Sealed at rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The kind of device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<crate::Platform>,
}
redacted_debug!(LoginRequest { platform });

/// `POST /v1/sessions/refresh`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh; single use.
    pub refresh_token: String,
}
redacted_debug!(RefreshRequest {});

/// Tokens handed out by login and refresh.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// Opaque bearer token for API calls.
    pub access_token: String,
    /// Opaque single-use token to obtain the next pair.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The session (signed-in device) these tokens belong to: the same
    /// for every refresh within one login.
    pub session_id: Uuid,
}
redacted_debug!(TokenResponse {
    expires_in,
    session_id
});

/// The account's profile, as `GET /v1/me` returns it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Profile {
    /// Account id.
    pub user_id: Uuid,
    /// Email address as registered (normalised).
    pub email: String,
    /// Full name.
    pub full_name: String,
    /// E.164 phone number.
    pub phone: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// BCP 47 language tag.
    pub language: String,
    /// Profession.
    pub profession: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the profile last changed.
    pub updated_at: DateTime<Utc>,
    /// Whether the user proved the email address is theirs (the code
    /// mailed at registration or after a change). A password reset code
    /// is only sent to a verified address.
    #[serde(default)]
    pub email_verified: bool,
}
redacted_debug!(Profile {
    user_id,
    created_at,
    updated_at
});

/// `PATCH /v1/me`: rectification of profile fields. Absent fields keep
/// their value; each present field is validated as at registration.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "ProfileUpdate"))]
pub struct UpdateProfileRequest {
    /// New email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub email: Option<String>,
    /// New full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub full_name: Option<String>,
    /// New E.164 phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub phone: Option<String>,
    /// New country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub country: Option<String>,
    /// New language tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub language: Option<String>,
    /// New profession.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub profession: Option<String>,
    /// Corrected date of birth, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub date_of_birth: Option<String>,
}
redacted_debug!(UpdateProfileRequest {});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_personal_data_or_secrets() {
        let req = RegisterRequest {
            email: "marker.email@example.org".into(),
            password: "marker-password-123".into(),
            full_name: "Marker Name".into(),
            phone: "+33612345678".into(),
            country: "FR".into(),
            language: "fr-FR".into(),
            profession: "marker-profession".into(),
            date_of_birth: "1980-01-02".into(),
        };
        let tokens = TokenResponse {
            access_token: "marker-access".into(),
            refresh_token: "marker-refresh".into(),
            expires_in: 900,
            session_id: Uuid::nil(),
        };
        let login = LoginRequest {
            email: "marker.email@example.org".into(),
            password: "marker-password-456".into(),
            device_name: Some("Marker Device".into()),
            platform: Some(crate::Platform::Ios),
        };
        let session = crate::SessionInfo {
            id: Uuid::nil(),
            device_name: Some("Marker Device".into()),
            platform: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            last_used_at: chrono::DateTime::UNIX_EPOCH,
            current: true,
        };
        let out = format!("{req:?} {tokens:?} {login:?} {session:?}");
        for secret in [
            "marker.email",
            "marker-password",
            "Marker Name",
            "+33612345678",
            "marker-profession",
            "1980",
            "marker-access",
            "marker-refresh",
            "Marker Device",
        ] {
            assert!(!out.contains(secret), "{secret} leaked into {out}");
        }
        assert!(out.contains("RegisterRequest"));
        assert!(out.contains("expires_in: 900"));
    }

    #[test]
    fn register_rejects_unknown_fields() {
        let json = r#"{"email":"a@b.c","password":"p","full_name":"n","phone":"+1","country":"FR",
            "language":"fr","profession":"x","date_of_birth":"1980-01-01","is_admin":true}"#;
        assert!(serde_json::from_str::<RegisterRequest>(json).is_err());
    }
}

/// `POST /v1/sessions/reauth`: the password, re-entered to confirm a
/// sensitive action (erasure).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReauthRequest {
    /// The account's password.
    pub password: String,
}
redacted_debug!(ReauthRequest {});
