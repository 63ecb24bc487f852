//! The core's error type.
//!
//! Rich enough for the core's own decisions; the bindings map it to the
//! small public enum the apps see. No variant carries personal data: errors
//! name a collection or a field, never a value, a key or a path.

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
    /// The database was written by a newer version of the core.
    #[error("database schema {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
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
