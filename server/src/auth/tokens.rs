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

/// The alphabet of mailed codes (Crockford's base32: no I, L, O, U).
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A code to mail: 8 characters of Crockford base32 (40 bits), shown as
/// `XXXX-XXXX`. Each code allows five tries and lives minutes to a day,
/// so guessing one is out of reach.
pub fn mail_code(rng: &SystemRandom) -> String {
    let mut bytes = [0u8; 8];
    rng.fill(&mut bytes)
        .expect("the OS random generator does not fail once initialised");
    let chars: String = bytes
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
        .collect();
    zeroize::Zeroize::zeroize(&mut bytes);
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// A typed code in its canonical form: case, spaces and dashes ignored,
/// `O` read as `0` and `I`/`L` as `1`; `None` when it cannot be a code.
pub fn normalize_code(raw: &str) -> Option<String> {
    let out: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    (out.len() == 8 && out.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_codes_read_back_however_typed() {
        let rng = SystemRandom::new();
        let code = mail_code(&rng);
        assert_eq!(code.len(), 9);
        let canonical = normalize_code(&code).expect("canonical");
        assert_eq!(
            normalize_code(&code.to_lowercase()),
            Some(canonical.clone())
        );
        assert_eq!(
            normalize_code(&canonical.replace('0', "o")),
            Some(canonical.clone())
        );
        assert_eq!(
            normalize_code(&format!(" {} ", &canonical)),
            Some(canonical)
        );
        for bad in ["", "ABC", "ABCD-EFGU", "ABCDEFGHJ", "ÀBCD-EFGH"] {
            assert_eq!(normalize_code(bad), None, "{bad}");
        }
        assert_ne!(mail_code(&rng), mail_code(&rng));
    }

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
