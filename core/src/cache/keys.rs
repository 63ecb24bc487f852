//! Key material and key providers.
//!
//! The cache uses a two-level hierarchy. A random 256-bit *data key* (DEK)
//! encrypts records; it is stored in the database only *wrapped* (AES-256-GCM)
//! under a *key-encryption key* (KEK) that never touches the disk. The KEK
//! comes from a [`KeyProvider`] the app implements over its platform
//! keystore (Android Keystore, iOS Keychain). Changing the KEK (new
//! passphrase, new keystore key) rewraps one small DEK instead of
//! re-encrypting every record, and destroying the wrapped DEK makes every
//! record unreadable at once (crypto-shredding).
//!
//! Two providers ship with the core: [`RawKeyProvider`] for keystores that
//! hand back a key, and [`PassphraseKeyProvider`] (PBKDF2-HMAC-SHA256,
//! 600,000 iterations by default, random salt per database) for the CLI and
//! tests. The KDF parameters are stored beside the wrapped DEK, so they can
//! be raised later: opening with a provider that asks for more iterations
//! rewraps the DEK under the stronger KEK.

use std::num::NonZeroU32;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, Result};

/// Length of every symmetric key, in bytes.
pub const KEY_LEN: usize = 32;
/// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// Salt length for derived KEKs.
pub const SALT_LEN: usize = 16;

/// A 256-bit secret key, wiped from memory when dropped. Its `Debug` output
/// is `SecretKey([redacted])`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// A fresh random key.
    pub fn generate(rng: &SystemRandom) -> Result<Self> {
        let mut k = Self([0; KEY_LEN]);
        rng.fill(&mut k.0).map_err(|_| Error::Random)?;
        Ok(k)
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// How a KEK is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kdf {
    /// The provider returns the key itself (platform keystore).
    Raw,
    /// PBKDF2-HMAC-SHA256 over a passphrase.
    Pbkdf2Sha256,
}

/// The KEK parameters stored with a database (not secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KekParams {
    /// How the KEK is obtained.
    pub kdf: Kdf,
    /// Per-database random salt (used by deriving providers).
    pub salt: Vec<u8>,
    /// KDF iterations (0 for [`Kdf::Raw`]).
    pub iterations: u32,
}

/// The random generator handed to [`KeyProvider::new_params`].
pub type Rng = SystemRandom;

impl KekParams {
    /// Parameters of a raw key (a fresh salt, unused by raw providers but
    /// harmless, and no iterations).
    pub fn raw(rng: &Rng) -> Result<Self> {
        Ok(Self {
            kdf: Kdf::Raw,
            salt: salt(rng)?,
            iterations: 0,
        })
    }
}

/// Supplies the key-encryption key. Apps implement it over the platform
/// keystore; it becomes a foreign callback interface in the bindings.
pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    /// The KEK for a database whose stored parameters are `params`. A
    /// provider that cannot serve these parameters (e.g. a passphrase
    /// provider asked for a raw key) returns [`Error::KeyMismatch`].
    fn kek(&self, params: &KekParams) -> Result<SecretKey>;

    /// Parameters for a new database, or for a re-key: a deriving provider
    /// picks a fresh salt and its iteration count here.
    fn new_params(&self, rng: &SystemRandom) -> Result<KekParams>;

    /// Forgets the KEK (e.g. deletes the keystore entry) when the local data
    /// is wiped. The default does nothing.
    fn forget(&self) -> Result<()> {
        Ok(())
    }
}

fn salt(rng: &SystemRandom) -> Result<Vec<u8>> {
    let mut s = vec![0u8; SALT_LEN];
    rng.fill(&mut s).map_err(|_| Error::Random)?;
    Ok(s)
}

/// A provider over a 256-bit key the app already holds.
#[derive(Debug, Clone)]
pub struct RawKeyProvider {
    key: SecretKey,
}

impl RawKeyProvider {
    /// A provider returning `key`.
    pub fn new(key: [u8; KEY_LEN]) -> Self {
        Self {
            key: SecretKey::from_bytes(key),
        }
    }
}

impl KeyProvider for RawKeyProvider {
    fn kek(&self, params: &KekParams) -> Result<SecretKey> {
        match params.kdf {
            Kdf::Raw => Ok(self.key.clone()),
            Kdf::Pbkdf2Sha256 => Err(Error::KeyMismatch),
        }
    }

    fn new_params(&self, rng: &SystemRandom) -> Result<KekParams> {
        KekParams::raw(rng)
    }
}

/// A provider deriving the KEK from a passphrase with PBKDF2-HMAC-SHA256.
pub struct PassphraseKeyProvider {
    passphrase: Zeroizing<String>,
    iterations: u32,
}

impl std::fmt::Debug for PassphraseKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassphraseKeyProvider")
            .field("passphrase", &"[redacted]")
            .field("iterations", &self.iterations)
            .finish()
    }
}

impl PassphraseKeyProvider {
    /// A provider with the default 600,000 iterations.
    pub fn new(passphrase: impl Into<String>) -> Result<Self> {
        Self::with_iterations(passphrase, PBKDF2_ITERATIONS)
    }

    /// A provider with an explicit iteration count for new databases and
    /// re-keys (at least [`PBKDF2_ITERATIONS`]).
    pub fn with_iterations(passphrase: impl Into<String>, iterations: u32) -> Result<Self> {
        let passphrase = Zeroizing::new(passphrase.into());
        if passphrase.is_empty() {
            return Err(Error::InvalidInput {
                field: "passphrase",
                reason: "must not be empty",
            });
        }
        if iterations < PBKDF2_ITERATIONS {
            return Err(Error::InvalidInput {
                field: "iterations",
                reason: "below the 600,000 minimum",
            });
        }
        Ok(Self {
            passphrase,
            iterations,
        })
    }

    /// Stored-parameter checks are lenient upward only: a database may have
    /// been created with more iterations than this provider asks for.
    fn derive(&self, params: &KekParams) -> Result<SecretKey> {
        let iterations = NonZeroU32::new(params.iterations).ok_or(Error::KeyMismatch)?;
        if params.salt.len() < SALT_LEN {
            return Err(Error::KeyMismatch);
        }
        let mut out = [0u8; KEY_LEN];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &params.salt,
            self.passphrase.as_bytes(),
            &mut out,
        );
        let key = SecretKey::from_bytes(out);
        out.zeroize();
        Ok(key)
    }
}

impl KeyProvider for PassphraseKeyProvider {
    fn kek(&self, params: &KekParams) -> Result<SecretKey> {
        match params.kdf {
            Kdf::Pbkdf2Sha256 => self.derive(params),
            Kdf::Raw => Err(Error::KeyMismatch),
        }
    }

    fn new_params(&self, rng: &SystemRandom) -> Result<KekParams> {
        Ok(KekParams {
            kdf: Kdf::Pbkdf2Sha256,
            salt: salt(rng)?,
            iterations: self.iterations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_material() {
        let k = SecretKey::from_bytes([0xAB; KEY_LEN]);
        assert_eq!(format!("{k:?}"), "SecretKey([redacted])");
        let p = PassphraseKeyProvider::new("correct horse").expect("provider");
        let shown = format!("{p:?} {:?}", RawKeyProvider::new([0xCD; KEY_LEN]));
        assert!(!shown.contains("correct horse"));
        assert!(
            !shown.contains("205") && !shown.to_lowercase().contains("cd, cd"),
            "{shown}"
        );
    }

    #[test]
    fn passphrase_derivation_depends_on_salt_and_passphrase() {
        let rng = SystemRandom::new();
        let a = PassphraseKeyProvider::new("one passphrase").expect("provider");
        let b = PassphraseKeyProvider::new("another passphrase").expect("provider");
        let p1 = a.new_params(&rng).expect("params");
        let p2 = a.new_params(&rng).expect("params");
        assert_ne!(p1.salt, p2.salt);
        assert_eq!(p1.iterations, PBKDF2_ITERATIONS);
        assert_eq!(a.kek(&p1).expect("kek"), a.kek(&p1).expect("kek"));
        assert_ne!(a.kek(&p1).expect("kek"), a.kek(&p2).expect("kek"));
        assert_ne!(a.kek(&p1).expect("kek"), b.kek(&p1).expect("kek"));
    }

    #[test]
    fn providers_refuse_parameters_of_the_other_kind() {
        let rng = SystemRandom::new();
        let raw = RawKeyProvider::new([1; KEY_LEN]);
        let pass = PassphraseKeyProvider::new("pass phrase").expect("provider");
        assert!(matches!(
            raw.kek(&pass.new_params(&rng).expect("p")),
            Err(Error::KeyMismatch)
        ));
        assert!(matches!(
            pass.kek(&raw.new_params(&rng).expect("p")),
            Err(Error::KeyMismatch)
        ));
        assert!(PassphraseKeyProvider::new("").is_err());
        assert!(PassphraseKeyProvider::with_iterations("x", 1000).is_err());
    }
}
