//! The public error of the bindings: few, stable variants that an app can
//! branch on. Adding a variant is a breaking change for exhaustive `when`
//! and `switch` statements; renaming one is worse. None carries personal
//! data.

use praxis_core::NetworkError;
use praxis_core::protocol::ErrorCode;

/// Errors the apps see.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum PraxisError {
    /// The server could not be reached, or did not answer in time.
    #[error("network unavailable ({reason})")]
    Network {
        /// `unreachable`, `timeout`, `tls` or `interrupted`.
        reason: String,
    },
    /// No valid session: sign in (again).
    #[error("not signed in or session expired")]
    Unauthorized,
    /// Wrong email or password (indistinguishable on purpose).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The change conflicts with the server's state (`email_taken`,
    /// `already_member`, `last_admin`, …).
    #[error("conflict ({code})")]
    Conflict {
        /// The server's stable code.
        code: String,
    },
    /// An argument was refused; `field` names it, `reason` is a stable code
    /// (`validation_failed`, `weak_password`, `too_young`, …).
    #[error("invalid {field} ({reason})")]
    InvalidInput {
        /// The field at fault.
        field: String,
        /// Why.
        reason: String,
    },
    /// Too many attempts; retry later.
    #[error("rate limited; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// Not allowed (e.g. an admin action by a member).
    #[error("not allowed")]
    Forbidden,
    /// No such thing, or one the user may not see.
    #[error("not found")]
    NotFound,
    /// The user has not consented to this purpose.
    #[error("consent required for {purpose}")]
    ConsentRequired {
        /// The purpose, e.g. `location_visits`.
        purpose: String,
    },
    /// The organisation's policy switches this feature off.
    #[error("disabled by the organisation's policy")]
    PolicyDisabled,
    /// The account is restricted: its data is kept but not processed.
    #[error("account restricted")]
    Restricted,
    /// The key does not open the local cache (wrong or lost key).
    #[error("key does not match the local data")]
    KeyMismatch,
    /// The key provider failed.
    #[error("key provider failed ({reason})")]
    KeyProvider {
        /// The provider's own reason.
        reason: String,
    },
    /// Local storage failed, or a record failed its integrity check.
    #[error("local storage failed")]
    Storage,
    /// The server failed or answered unexpectedly.
    #[error("server error ({status})")]
    Server {
        /// HTTP status.
        status: u16,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for PraxisError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::KeyProvider { reason: e.reason }
    }
}

impl From<praxis_core::Error> for PraxisError {
    fn from(e: praxis_core::Error) -> Self {
        use praxis_core::Error as E;
        match e {
            E::KeyMismatch => Self::KeyMismatch,
            E::KeyProvider(reason) => Self::KeyProvider { reason },
            E::Integrity { .. }
            | E::Storage(_)
            | E::Io(_)
            | E::Serialization { .. }
            | E::Random
            | E::SchemaTooNew { .. } => Self::Storage,
            E::InvalidInput { field, reason } => Self::InvalidInput {
                field: field.to_owned(),
                reason: reason.to_owned(),
            },
            E::Network(n) => Self::Network {
                reason: match n {
                    NetworkError::Unreachable => "unreachable",
                    NetworkError::Timeout => "timeout",
                    NetworkError::Tls => "tls",
                    NetworkError::Interrupted => "interrupted",
                }
                .to_owned(),
            },
            E::NotSignedIn | E::SessionExpired | E::AccountErased => Self::Unauthorized,
            E::Closed { purpose, reason } => closed(purpose.as_str(), reason),
            E::Restricted => Self::Restricted,
            E::Protocol { status } => Self::Server { status },
            E::Api {
                status,
                code,
                field,
                retry_after,
            } => match code {
                ErrorCode::InvalidCredentials => Self::InvalidCredentials,
                ErrorCode::Unauthorized => Self::Unauthorized,
                ErrorCode::Forbidden => Self::Forbidden,
                ErrorCode::NotFound => Self::NotFound,
                ErrorCode::RateLimited => Self::RateLimited {
                    retry_after_secs: retry_after.unwrap_or(1),
                },
                ErrorCode::ConsentRequired => Self::ConsentRequired {
                    purpose: field.unwrap_or_default(),
                },
                ErrorCode::PolicyDisabled => Self::PolicyDisabled,
                ErrorCode::Restricted => Self::Restricted,
                ErrorCode::AccountErased => Self::Unauthorized,
                ErrorCode::ReauthRequired
                | ErrorCode::EmailTaken
                | ErrorCode::AlreadyMember
                | ErrorCode::LastAdmin
                | ErrorCode::ShareEnded
                | ErrorCode::InvitationUsed
                | ErrorCode::InvitationExpired
                | ErrorCode::InvitationInvalid
                | ErrorCode::OwnInvitation
                | ErrorCode::InvitationLimit
                | ErrorCode::Blocked => Self::Conflict {
                    code: code.as_str().to_owned(),
                },
                ErrorCode::ValidationFailed
                | ErrorCode::WeakPassword
                | ErrorCode::TooYoung
                | ErrorCode::MalformedJson
                | ErrorCode::PayloadTooLarge
                | ErrorCode::UnsupportedMediaType
                | ErrorCode::JoinCodeUsed
                | ErrorCode::JoinCodeExpired => Self::InvalidInput {
                    field: field.unwrap_or_default(),
                    reason: code.as_str().to_owned(),
                },
                ErrorCode::MethodNotAllowed
                | ErrorCode::ResyncRequired
                | ErrorCode::RequestTimeout
                | ErrorCode::Unavailable
                | ErrorCode::Internal => Self::Server { status },
            },
        }
    }
}

fn closed(purpose: &str, reason: praxis_core::protocol::privacy::Closed) -> PraxisError {
    use praxis_core::protocol::privacy::Closed;
    match reason {
        Closed::Restricted => PraxisError::Restricted,
        Closed::PolicyDisabled => PraxisError::PolicyDisabled,
        Closed::ConsentRequired => PraxisError::ConsentRequired {
            purpose: purpose.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_server_problems_to_stable_variants() {
        let api = |code, field: Option<&str>| praxis_core::Error::Api {
            status: 400,
            code,
            field: field.map(str::to_owned),
            retry_after: Some(7),
        };
        assert!(matches!(
            PraxisError::from(api(ErrorCode::InvalidCredentials, None)),
            PraxisError::InvalidCredentials
        ));
        assert!(matches!(
            PraxisError::from(api(ErrorCode::WeakPassword, Some("password"))),
            PraxisError::InvalidInput { field, reason } if field == "password" && reason == "weak_password"
        ));
        assert!(matches!(
            PraxisError::from(api(ErrorCode::RateLimited, None)),
            PraxisError::RateLimited {
                retry_after_secs: 7
            }
        ));
        assert!(matches!(
            PraxisError::from(api(ErrorCode::EmailTaken, Some("email"))),
            PraxisError::Conflict { code } if code == "email_taken"
        ));
        assert!(matches!(
            PraxisError::from(praxis_core::Error::SessionExpired),
            PraxisError::Unauthorized
        ));
        assert!(matches!(
            PraxisError::from(praxis_core::Error::Network(NetworkError::Timeout)),
            PraxisError::Network { reason } if reason == "timeout"
        ));
    }
}
