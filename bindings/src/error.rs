//! The public error of the bindings: few, stable variants that an app can
//! branch on. Adding a variant is a breaking change for exhaustive `when`
//! and `switch` statements; renaming one is worse. None carries personal
//! data.

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
    /// The core classifies ([`praxis_core::Error::kind`]); this only names
    /// the same kinds in the apps' enum.
    fn from(e: praxis_core::Error) -> Self {
        use praxis_core::ErrorKind as K;
        match e.kind() {
            K::Network(n) => Self::Network {
                reason: n.as_str().to_owned(),
            },
            K::Unauthorized => Self::Unauthorized,
            K::InvalidCredentials => Self::InvalidCredentials,
            K::Conflict { code } => Self::Conflict {
                code: code.as_str().to_owned(),
            },
            K::InvalidInput { field, reason } => Self::InvalidInput { field, reason },
            K::RateLimited { retry_after_secs } => Self::RateLimited { retry_after_secs },
            K::Forbidden => Self::Forbidden,
            K::NotFound => Self::NotFound,
            K::ConsentRequired { purpose } => Self::ConsentRequired { purpose },
            K::PolicyDisabled => Self::PolicyDisabled,
            K::Restricted => Self::Restricted,
            K::KeyMismatch => Self::KeyMismatch,
            K::KeyProvider { reason } => Self::KeyProvider { reason },
            K::Storage => Self::Storage,
            K::Server { status } => Self::Server { status },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use praxis_core::NetworkError;
    use praxis_core::protocol::ErrorCode;

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
