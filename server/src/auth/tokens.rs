//! Opaque bearer tokens and single-use codes.
//!
//! Tokens are 256 random bits, base64url without padding. The server
//! stores only their SHA-256: a database leak yields no usable token, and
//! since the tokens are uniformly random a plain (unsalted) hash is enough
//! to make them unguessable from the hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

/// A fresh random token of `N` bytes, base64url-encoded.
pub fn generate<const N: usize>(rng: &SystemRandom) -> String {
    let mut bytes = [0u8; N];
    rng.fill(&mut bytes)
        .expect("the OS random generator does not fail once initialised");
    let token = URL_SAFE_NO_PAD.encode(bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    token
}

/// An access or refresh token: 256 bits.
pub fn token(rng: &SystemRandom) -> String {
    generate::<32>(rng)
}

/// The stored form of a token or code.
pub fn hash(token: &str) -> Vec<u8> {
    hash_bytes(token.as_bytes())
}

/// The stored form of a binary secret (SHA-256).
pub fn hash_bytes(secret: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, secret).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_bits_and_differ() {
        let rng = SystemRandom::new();
        let (a, b) = (token(&rng), token(&rng));
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).expect("base64url").len(), 32);
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 32);
        assert_ne!(hash(&a), hash(&b));
    }
}
