//! The core's error type.
//!
//! Rich enough for the core's own decisions. [`Error::kind`] is the one
//! classification of what an error means to the person using the app: the
//! bindings turn it into the small public enum the apps see, and the CLI
//! into its exit codes. No variant carries personal data: errors name a
//! collection or a field, never a value, a key or a path.

use praxis_protocol::ErrorCode;

/// Errors of the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key provider's key does not open this database (wrong passphrase,
    /// lost or replaced keystore key). Nothing was decrypted.
    #[error("the key does not match this database")]
    KeyMismatch,
    /// A stored record failed authentication: it was altered, moved or
    /// corrupted. Other records are unaffected.
    #[error("integrity check failed for a record in collection {collection}")]
    Integrity {
        /// The collection holding the bad record.
        collection: String,
    },
    /// An argument was refused; nothing was changed.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The argument at fault.
        field: &'static str,
        /// Why, without quoting the value.
        reason: &'static str,
    },
    /// The key provider failed (platform keystore unavailable, …).
    #[error("key provider failed: {0}")]
    KeyProvider(String),
    /// The local database failed.
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// A file operation failed.
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    /// A value could not be (de)serialised.
    #[error("serialisation error at line {line}, column {column}")]
    Serialization {
        /// Line in the JSON text.
        line: usize,
        /// Column in the JSON text.
        column: usize,
    },
    /// The operating system's random generator failed.
    #[error("random generator unavailable")]
    Random,
    /// The server could not be reached or did not answer in time.
    #[error("network error: {0}")]
    Network(NetworkError),
    /// No one is signed in on this device.
    #[error("not signed in")]
    NotSignedIn,
    /// The session ended on the server (revoked, expired or reused refresh
    /// token): the user must sign in again. Local tokens were removed.
    #[error("session expired; sign in again")]
    SessionExpired,
    /// The server refused the request with a problem document.
    #[error("server refused the request: {code} ({status})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The problem's stable code.
        code: ErrorCode,
        /// The request field at fault, for validation errors.
        field: Option<String>,
        /// Seconds to wait, for `rate_limited`.
        retry_after: Option<u64>,
    },
    /// The server answered with something that is not the API's shape.
    #[error("unexpected answer from the server (status {status})")]
    Protocol {
        /// HTTP status of the odd answer.
        status: u16,
    },
    /// A location gate is closed (or consent is missing): nothing was
    /// stored or sent.
    #[error("{} is not allowed: {reason:?}", purpose.as_str())]
    Closed {
        /// The purpose refused.
        purpose: praxis_protocol::privacy::Purpose,
        /// Which gate is closed.
        reason: praxis_protocol::privacy::Closed,
    },
    /// The account was erased (here or on another device): the session
    /// ended and this device's copy of the user's data was wiped.
    #[error("the account was erased")]
    AccountErased,
    /// The user signed this device out from another one and asked for a
    /// wipe: the session ended and this device's copy of the user's data
    /// was wiped.
    #[error("this device was signed out and wiped from another device")]
    DeviceWiped,
    /// Processing of the account is restricted (GDPR Art. 18): its data
    /// is kept but not changed; only consent can still be withdrawn.
    #[error("the account is restricted")]
    Restricted,
    /// The database was written by a newer version of the core.
    #[error("database schema {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
}

/// Why the network failed (no URL, no host: they are not needed to act).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkError {
    /// Connection refused, unreachable, DNS failure.
    Unreachable,
    /// No answer within the timeout.
    Timeout,
    /// TLS failed for another reason than the certificate checks below
    /// (no common protocol version or cipher, a malformed handshake).
    Tls,
    /// The server's certificate has expired (or is not valid yet): check
    /// the device's date, or the server's certificate renewal.
    CertificateExpired,
    /// The server's certificate is for another host name.
    CertificateWrongHost,
    /// The server's certificate is not signed by a trusted authority (a
    /// private CA needs [`crate::http::HttpConfig::extra_roots`]).
    CertificateUntrusted,
    /// The certificate is valid but its key is not one of the pinned keys
    /// ([`crate::http::HttpConfig::spki_pins`]): possibly an interception.
    PinMismatch,
    /// The connection broke mid-exchange.
    Interrupted,
}

impl NetworkError {
    /// A stable name for the apps and scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::Tls => "tls",
            Self::CertificateExpired => "certificate_expired",
            Self::CertificateWrongHost => "certificate_wrong_host",
            Self::CertificateUntrusted => "certificate_untrusted",
            Self::PinMismatch => "pin_mismatch",
            Self::Interrupted => "interrupted",
        }
    }
}

/// What an error means to the user, and so what a front end does about it:
/// the single classification of [`Error`], shared by every front end.
/// Codes and fields are the server's stable strings, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The server could not be reached or did not answer in time.
    Network(NetworkError),
    /// No valid session (not signed in, session ended, account erased):
    /// sign in (again).
    Unauthorized,
    /// Wrong email or password (indistinguishable on purpose).
    InvalidCredentials,
    /// The change conflicts with the server's state (`email_taken`,
    /// `already_member`, `last_admin`, `reauth_required`, `blocked`, …).
    Conflict {
        /// The server's stable code.
        code: ErrorCode,
    },
    /// An argument was refused; nothing changed.
    InvalidInput {
        /// The field at fault (may be empty when the server names none).
        field: String,
        /// A stable reason (`validation_failed`, `weak_password`, …).
        reason: String,
    },
    /// Too many attempts: retry after this many seconds.
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// Not allowed for this user's role.
    Forbidden,
    /// No such thing, or one the user may not see.
    NotFound,
    /// The user has not consented to this purpose.
    ConsentRequired {
        /// The purpose's wire name, e.g. `location_visits`.
        purpose: String,
    },
    /// The organisation's policy switches the feature off.
    PolicyDisabled,
    /// The account's processing is restricted.
    Restricted,
    /// The key does not open the local data.
    KeyMismatch,
    /// The platform's key provider failed.
    KeyProvider {
        /// The provider's own reason.
        reason: String,
    },
    /// Local storage failed or a stored record failed its integrity check.
    Storage,
    /// The server failed or answered unexpectedly.
    Server {
        /// HTTP status (0 when there was no answer to speak of).
        status: u16,
    },
}

impl Error {
    /// What this error means to the user (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        use praxis_protocol::privacy::Closed;
        match self {
            Self::KeyMismatch => ErrorKind::KeyMismatch,
            Self::KeyProvider(reason) => ErrorKind::KeyProvider {
                reason: reason.clone(),
            },
            Self::Integrity { .. }
            | Self::Storage(_)
            | Self::Io(_)
            | Self::Serialization { .. }
            | Self::Random
            | Self::SchemaTooNew { .. } => ErrorKind::Storage,
            Self::InvalidInput { field, reason } => ErrorKind::InvalidInput {
                field: (*field).to_owned(),
                reason: (*reason).to_owned(),
            },
            Self::Network(n) => ErrorKind::Network(*n),
            Self::NotSignedIn | Self::SessionExpired | Self::AccountErased | Self::DeviceWiped => {
                ErrorKind::Unauthorized
            }
            Self::Closed { purpose, reason } => match reason {
                Closed::Restricted => ErrorKind::Restricted,
                Closed::PolicyDisabled => ErrorKind::PolicyDisabled,
                Closed::ConsentRequired => ErrorKind::ConsentRequired {
                    purpose: purpose.as_str().to_owned(),
                },
            },
            Self::Restricted => ErrorKind::Restricted,
            Self::Protocol { status } => ErrorKind::Server { status: *status },
            Self::Api {
                status,
                code,
                field,
                retry_after,
            } => api_kind(*status, *code, field.as_deref(), *retry_after),
        }
    }
}

fn api_kind(
    status: u16,
    code: ErrorCode,
    field: Option<&str>,
    retry_after: Option<u64>,
) -> ErrorKind {
    let field = || field.unwrap_or_default().to_owned();
    match code {
        ErrorCode::InvalidCredentials => ErrorKind::InvalidCredentials,
        ErrorCode::Unauthorized | ErrorCode::AccountErased | ErrorCode::SessionWiped => {
            ErrorKind::Unauthorized
        }
        ErrorCode::Forbidden => ErrorKind::Forbidden,
        ErrorCode::NotFound => ErrorKind::NotFound,
        ErrorCode::RateLimited => ErrorKind::RateLimited {
            retry_after_secs: retry_after.unwrap_or(1),
        },
        ErrorCode::ConsentRequired => ErrorKind::ConsentRequired { purpose: field() },
        ErrorCode::PolicyDisabled => ErrorKind::PolicyDisabled,
        ErrorCode::Restricted => ErrorKind::Restricted,
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
        | ErrorCode::LimitReached
        | ErrorCode::Blocked => ErrorKind::Conflict { code },
        ErrorCode::ValidationFailed
        | ErrorCode::WeakPassword
        | ErrorCode::TooYoung
        | ErrorCode::MalformedJson
        | ErrorCode::PayloadTooLarge
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::JoinCodeUsed
        | ErrorCode::JoinCodeExpired
        | ErrorCode::InvalidCode => ErrorKind::InvalidInput {
            field: field(),
            reason: code.as_str().to_owned(),
        },
        ErrorCode::MethodNotAllowed
        | ErrorCode::ResyncRequired
        | ErrorCode::RequestTimeout
        | ErrorCode::Unavailable
        | ErrorCode::Internal => ErrorKind::Server { status },
    }
}

impl std::fmt::Display for NetworkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unreachable => "server unreachable",
            Self::Timeout => "timed out",
            Self::Tls => "TLS failure",
            Self::CertificateExpired => "server certificate expired",
            Self::CertificateWrongHost => "server certificate for another host",
            Self::CertificateUntrusted => "server certificate not trusted",
            Self::PinMismatch => "server key not pinned",
            Self::Interrupted => "connection interrupted",
        })
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's Display includes the URL; only the kind is kept.
        let kind = if e.is_timeout() {
            NetworkError::Timeout
        } else if let Some(tls) = tls_cause(&e) {
            tls
        } else if e.is_connect() {
            NetworkError::Unreachable
        } else {
            NetworkError::Interrupted
        };
        Self::Network(kind)
    }
}

/// The TLS failure anywhere in the chain of causes, if there is one. An
/// `io::Error` hides what it wraps from `source()` (it answers its inner
/// error's source), so it is opened with `get_ref()`: the connector nests
/// rustls's error two `io::Error`s deep.
fn tls_cause(e: &(dyn std::error::Error + 'static)) -> Option<NetworkError> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(classify_tls(tls));
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// What a rustls error means to the user.
fn classify_tls(e: &rustls::Error) -> NetworkError {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => NetworkError::CertificateExpired,
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                NetworkError::CertificateWrongHost
            }
            C::UnknownIssuer => NetworkError::CertificateUntrusted,
            // Only the core's pinning verifier answers this.
            C::ApplicationVerificationFailure => NetworkError::PinMismatch,
            _ => NetworkError::Tls,
        },
        _ => NetworkError::Tls,
    }
}

// serde_json's messages may quote the offending input: keep only the position.
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Serialization {
            line: e.line(),
            column: e.column(),
        }
    }
}

/// Result of core operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: ErrorCode, field: Option<&str>) -> Error {
        Error::Api {
            status: 400,
            code,
            field: field.map(str::to_owned),
            retry_after: Some(7),
        }
    }

    #[test]
    fn server_problems_and_local_failures_have_one_kind_each() {
        assert_eq!(
            api(ErrorCode::InvalidCredentials, None).kind(),
            ErrorKind::InvalidCredentials
        );
        assert_eq!(
            api(ErrorCode::WeakPassword, Some("password")).kind(),
            ErrorKind::InvalidInput {
                field: "password".into(),
                reason: "weak_password".into()
            }
        );
        assert_eq!(
            api(ErrorCode::RateLimited, None).kind(),
            ErrorKind::RateLimited {
                retry_after_secs: 7
            }
        );
        assert_eq!(
            api(ErrorCode::EmailTaken, Some("email")).kind(),
            ErrorKind::Conflict {
                code: ErrorCode::EmailTaken
            }
        );
        assert_eq!(
            api(ErrorCode::Internal, None).kind(),
            ErrorKind::Server { status: 400 }
        );
        assert_eq!(Error::SessionExpired.kind(), ErrorKind::Unauthorized);
        assert_eq!(Error::AccountErased.kind(), ErrorKind::Unauthorized);
        assert_eq!(Error::DeviceWiped.kind(), ErrorKind::Unauthorized);
        assert_eq!(
            Error::Network(NetworkError::Timeout).kind(),
            ErrorKind::Network(NetworkError::Timeout)
        );
        assert_eq!(Error::Random.kind(), ErrorKind::Storage);
        assert_eq!(
            Error::Closed {
                purpose: praxis_protocol::privacy::Purpose::LocationVisits,
                reason: praxis_protocol::privacy::Closed::ConsentRequired,
            }
            .kind(),
            ErrorKind::ConsentRequired {
                purpose: "location_visits".into()
            }
        );
    }
}
