//! Password policy and hashing.
//!
//! argon2id with m = 19456 KiB, t = 2, p = 1 (OWASP's first recommended
//! set). Hashing and verification are CPU- and memory-heavy, so callers run
//! them on the blocking pool. Strength is judged by zxcvbn, whose
//! dictionaries include the common-password lists; the user's own email
//! and name are given to it so that they count as guessable.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest accepted password, in characters.
pub const MIN_LEN: usize = 8;
/// Longest accepted password, in characters (bounds hashing cost).
pub const MAX_LEN: usize = 128;
/// Lowest accepted zxcvbn score (0..=4).
pub const MIN_SCORE: u8 = 3;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password is refused (the reason is safe to show; it holds no part
/// of the password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// Fewer than [`MIN_LEN`] characters.
    TooShort,
    /// More than [`MAX_LEN`] characters.
    TooLong,
    /// Guessable: common, dictionary-based, or built from the user's data.
    Guessable,
}

impl Weakness {
    /// A message for the problem detail.
    pub fn message(self) -> &'static str {
        match self {
            Self::TooShort => "Use at least 8 characters",
            Self::TooLong => "Use at most 128 characters",
            Self::Guessable => {
                "Too easy to guess: avoid common passwords, words and personal details"
            }
        }
    }
}

/// Checks length and strength; `user_inputs` are the user's own data
/// (email, name) that must not count as strength.
pub fn check_strength(password: &str, user_inputs: &[&str]) -> Result<(), Weakness> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(Weakness::TooShort);
    }
    if len > MAX_LEN {
        return Err(Weakness::TooLong);
    }
    let score: u8 = zxcvbn::zxcvbn(password, user_inputs).score().into();
    if score < MIN_SCORE {
        return Err(Weakness::Guessable);
    }
    Ok(())
}

/// The argon2id PHC string of a password, with a fresh random salt.
pub fn hash(password: &str) -> String {
    argon2()
        .hash_password(password.as_bytes())
        .expect("hashing with valid parameters and OS randomness does not fail")
        .to_string()
}

/// Whether `password` matches the PHC string. A malformed hash never
/// matches.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_the_fixed_parameters() {
        let h = hash("correct horse battery staple 42");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery staple 42", &h));
        assert!(!verify("correct horse battery staple 43", &h));
        assert!(!verify("anything", "not a phc string"));
        assert_ne!(h, hash("correct horse battery staple 42"), "salts differ");
    }

    #[test]
    fn refuses_short_long_common_and_personal_passwords() {
        assert_eq!(check_strength("Ab1!xyz", &[]), Err(Weakness::TooShort));
        assert_eq!(
            check_strength(&"x".repeat(129), &[]),
            Err(Weakness::TooLong)
        );
        assert_eq!(check_strength("password123", &[]), Err(Weakness::Guessable));
        assert_eq!(check_strength("qwertyuiop", &[]), Err(Weakness::Guessable));
        // Strong on its own, weak once the user's name and email are known.
        let personal = "jeanne.dupont@hopital-nord.fr";
        let inputs = [
            "jeanne.dupont@hopital-nord.fr",
            "Jeanne Dupont",
            "jeanne",
            "dupont",
        ];
        assert_eq!(check_strength(personal, &[]), Ok(()));
        assert_eq!(check_strength(personal, &inputs), Err(Weakness::Guessable));
        assert_eq!(check_strength("violet-tram-oboe-47-lantern", &[]), Ok(()));
        // Length is counted in characters, not bytes.
        assert_eq!(check_strength("ééééééé", &[]), Err(Weakness::TooShort));
    }
}
