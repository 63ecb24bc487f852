//! The core's error type.
//!
//! Rich enough for the core's own decisions; the bindings map it to the
//! small public enum the apps see. No variant carries personal data: errors
//! name a collection or a field, never a value, a key or a path.

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
    /// TLS failed (certificate not trusted, pin mismatch).
    Tls,
    /// The connection broke mid-exchange.
    Interrupted,
}

impl std::fmt::Display for NetworkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unreachable => "server unreachable",
            Self::Timeout => "timed out",
            Self::Tls => "TLS failure",
            Self::Interrupted => "connection interrupted",
        })
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's Display includes the URL; only the kind is kept.
        let kind = if e.is_timeout() {
            NetworkError::Timeout
        } else if caused_by_tls(&e) {
            NetworkError::Tls
        } else if e.is_connect() {
            NetworkError::Unreachable
        } else {
            NetworkError::Interrupted
        };
        Self::Network(kind)
    }
}

/// Whether a rustls error is anywhere in the chain of causes.
fn caused_by_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        let wrapped = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
        if wrapped || err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        cur = err.source();
    }
    false
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
