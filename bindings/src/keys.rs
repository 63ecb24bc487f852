//! Foreign-implemented interfaces: the key provider (over Android Keystore
//! or iOS Keychain) and the logger.

use std::sync::Arc;

use praxis_core::cache::keys::{Kdf, KekParams, Rng, SecretKey};
use praxis_core::{Error as CoreError, LogLevel};

use crate::error::PraxisError;

/// Supplies the 32-byte key that unlocks the local cache. Implement it over
/// the platform keystore: generate a random key once, keep it protected by
/// the keystore, return the same bytes every time.
#[uniffi::export(foreign)]
pub trait KeyProvider: Send + Sync {
    /// The key-encryption key: exactly 32 bytes.
    fn key_encryption_key(&self) -> Result<Vec<u8>, PraxisError>;
    /// Destroys the key (called when local data is wiped).
    fn forget(&self) -> Result<(), PraxisError>;
}

/// A provider's failure with its own reason (`KeyProvider { reason }`
/// reaches the app as that reason, not wrapped in the error's sentence).
fn provider_failed(e: PraxisError) -> CoreError {
    CoreError::KeyProvider(match e {
        PraxisError::KeyProvider { reason } => reason,
        other => other.to_string(),
    })
}

/// Adapts a foreign provider to the core's trait.
pub(crate) struct ForeignKeyProvider(pub(crate) Arc<dyn KeyProvider>);

impl std::fmt::Debug for ForeignKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForeignKeyProvider")
    }
}

impl praxis_core::cache::KeyProvider for ForeignKeyProvider {
    fn kek(&self, params: &KekParams) -> praxis_core::Result<SecretKey> {
        if params.kdf != Kdf::Raw {
            return Err(CoreError::KeyMismatch);
        }
        let mut bytes = self.0.key_encryption_key().map_err(provider_failed)?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CoreError::InvalidInput {
                field: "key_encryption_key",
                reason: "must be exactly 32 bytes",
            })?;
        zeroize::Zeroize::zeroize(&mut bytes);
        Ok(SecretKey::from_bytes(key))
    }

    fn new_params(&self, rng: &Rng) -> praxis_core::Result<KekParams> {
        KekParams::raw(rng)
    }

    fn forget(&self) -> praxis_core::Result<()> {
        self.0.forget().map_err(provider_failed)
    }
}

/// Severity of a log message.
#[uniffi::remote(Enum)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something unexpected the core handled.
    Warn,
    /// A notable step.
    Info,
    /// Detail.
    Debug,
}

/// Receives the core's log messages (never personal data).
#[uniffi::export(foreign)]
pub trait Logger: Send + Sync {
    /// One message.
    fn log(&self, level: LogLevel, target: String, message: String);
}

pub(crate) struct ForeignLogger(pub(crate) Arc<dyn Logger>);

impl std::fmt::Debug for ForeignLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForeignLogger")
    }
}

impl praxis_core::Logger for ForeignLogger {
    fn log(&self, level: LogLevel, target: &str, message: &str) {
        self.0.log(level, target.to_owned(), message.to_owned());
    }
}
