//! Master keys and the AEAD primitives under every seal: AES-256-GCM
//! with a random nonce, `nonce || ciphertext || tag`, and associated data
//! binding a blob to where it belongs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::store::backend::StoreError;

pub(super) const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Why master keys could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key at all.
    #[error("no master key given")]
    Missing,
    /// A line is not `id:base64-of-32-bytes`.
    #[error("master key line {0} is not `id:base64` of 32 bytes")]
    Malformed(usize),
    /// Two lines share an id.
    #[error("master key id on line {0} is used twice")]
    Duplicate(usize),
}

/// The configured master keys; the first one wraps, any of them unwraps.
pub struct MasterKeys {
    keys: Vec<(String, LessSafeKey)>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeys")
            .field("current", &self.keys.first().map(|k| &k.0))
            .field("count", &self.keys.len())
            .finish()
    }
}

pub(super) fn aead_key(bytes: &[u8]) -> Option<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .ok()
        .map(LessSafeKey::new)
}

impl MasterKeys {
    /// Parses `id:base64` lines (blank lines and `#` comments ignored;
    /// commas separate keys too, for an environment variable).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut keys: Vec<(String, LessSafeKey)> = Vec::new();
        for (n, line) in text.split(['\n', ',']).enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, b64) = line.split_once(':').ok_or(KeyError::Malformed(n + 1))?;
            let id = id.trim();
            let bytes = Zeroizing::new(
                B64.decode(b64.trim().trim_end_matches('='))
                    .map_err(|_| KeyError::Malformed(n + 1))?,
            );
            if id.is_empty() || id.len() > 64 || bytes.len() != KEY_LEN {
                return Err(KeyError::Malformed(n + 1));
            }
            if keys.iter().any(|(k, _)| k == id) {
                return Err(KeyError::Duplicate(n + 1));
            }
            keys.push((
                id.to_owned(),
                aead_key(&bytes).ok_or(KeyError::Malformed(n + 1))?,
            ));
        }
        if keys.is_empty() {
            return Err(KeyError::Missing);
        }
        Ok(Self { keys })
    }

    /// A new random key as one `id:base64` line.
    pub fn generate_line(id: &str) -> String {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(k.as_mut())
            .expect("the OS random generator");
        format!("{id}:{}", B64.encode(k.as_ref()))
    }

    /// One fresh random key (tests and throwaway servers).
    pub fn random() -> Self {
        Self::parse(&Self::generate_line("k1")).expect("a generated key parses")
    }

    /// The id of the key that wraps.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    /// `[id len][id][nonce][ciphertext+tag]` under the current key.
    pub(super) fn wrap(
        &self,
        rng: &SystemRandom,
        context: &str,
        secret: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let (id, key) = &self.keys[0];
        let mut out = Vec::with_capacity(1 + id.len() + NONCE_LEN + secret.len() + TAG_LEN);
        out.push(u8::try_from(id.len()).map_err(|_| StoreError::Decode("master key id"))?);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&seal_raw(key, rng, context.as_bytes(), secret)?);
        Ok(out)
    }

    /// The master key id a wrapped blob names.
    pub(super) fn wrapped_by(blob: &[u8]) -> Option<&str> {
        let n = usize::from(*blob.first()?);
        std::str::from_utf8(blob.get(1..1 + n)?).ok()
    }

    pub(super) fn unwrap(
        &self,
        context: &str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let id = Self::wrapped_by(blob).ok_or(StoreError::Decode("wrapped key"))?;
        let (_, key) = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .ok_or(StoreError::Decode("wrapped by an unknown master key"))?;
        open_raw(key, context.as_bytes(), &blob[1 + id.len()..])
            .map(Zeroizing::new)
            .ok_or(StoreError::Decode("wrapped key does not open"))
    }
}

pub(super) fn seal_raw(
    key: &LessSafeKey,
    rng: &SystemRandom,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce)
        .map_err(|_| StoreError::Decode("random nonce"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[NONCE_LEN..],
        )
        .map_err(|_| StoreError::Decode("sealing"))?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

pub(super) fn open_raw(key: &LessSafeKey, aad: &[u8], blob: &[u8]) -> Option<Vec<u8>> {
    if blob.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let nonce = Nonce::try_assume_unique_for_key(&blob[..NONCE_LEN]).ok()?;
    let mut buf = blob[NONCE_LEN..].to_vec();
    let len = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_keys_parse_and_refuse_bad_lines() {
        let a = MasterKeys::generate_line("a");
        let b = MasterKeys::generate_line("b");
        let keys = MasterKeys::parse(&format!("# comment\n{a}\n\n{b}\n")).expect("test value");
        assert_eq!(keys.current_id(), "a");
        assert!(matches!(MasterKeys::parse(""), Err(KeyError::Missing)));
        assert!(matches!(
            MasterKeys::parse("a:AAAA"),
            Err(KeyError::Malformed(1))
        ));
        assert!(matches!(
            MasterKeys::parse("nokey"),
            Err(KeyError::Malformed(1))
        ));
        assert!(matches!(
            MasterKeys::parse(&format!("{a},{a}")),
            Err(KeyError::Duplicate(2))
        ));
        assert!(!format!("{keys:?}").contains(a.split_once(':').expect("test value").1));
    }

    #[test]
    fn a_wrapped_key_opens_with_any_listed_master_key_and_its_context_only() {
        let rng = SystemRandom::new();
        let old = MasterKeys::parse(&MasterKeys::generate_line("old")).expect("test value");
        let blob = old
            .wrap(&rng, "user_keys/x", b"secret")
            .expect("test value");
        assert_eq!(MasterKeys::wrapped_by(&blob), Some("old"));
        assert!(old.unwrap("user_keys/y", &blob).is_err());
        let mut tampered = blob.clone();
        *tampered.last_mut().expect("test value") ^= 1;
        assert!(old.unwrap("user_keys/x", &tampered).is_err());
        // After rotation the old key is still listed second and opens it.
        let line_old = MasterKeys::generate_line("old");
        let rotated =
            MasterKeys::parse(&format!("{}\n{line_old}", MasterKeys::generate_line("new")))
                .expect("test value");
        // A different key under the same id does not open it.
        assert!(rotated.unwrap("user_keys/x", &blob).is_err());
        let both = MasterKeys {
            keys: vec![
                aead_pair("new"),
                (
                    "old".into(),
                    old.keys.into_iter().next().expect("test value").1,
                ),
            ],
        };
        assert_eq!(
            &**both.unwrap("user_keys/x", &blob).expect("test value"),
            b"secret"
        );
        assert!(both.unwrap("user_keys/x", &[]).is_err());
    }

    fn aead_pair(id: &str) -> (String, LessSafeKey) {
        MasterKeys::parse(&MasterKeys::generate_line(id))
            .expect("test value")
            .keys
            .remove(0)
    }
}
