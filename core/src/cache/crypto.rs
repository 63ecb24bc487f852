//! Record encryption.
//!
//! Each DEK generation yields, through HKDF-SHA256, one AES-256-GCM key for
//! records and one HMAC-SHA256 key per (collection, field) for blind
//! indexes; no key is used for two purposes.
//!
//! Nonces are 96 random bits drawn from a buffer refilled from the OS
//! generator a few kilobytes at a time: one syscall per ~340 records rather
//! than one per record (which halves insert throughput), and, unlike a
//! counter, nothing to persist, so a rolled-back transaction or a crash can
//! never replay a nonce. Random nonces are safe for well over 2^32 messages
//! per key at a negligible collision probability, far beyond a device cache's
//! lifetime; DEK rotation starts a new key anyway.
//!
//! The associated data of each ciphertext binds it to its table, its row
//! (collection and id, or outbox sequence) and the schema format it was
//! written under, so a ciphertext copied into another row fails to open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};
use zeroize::Zeroize;

use super::keys::{KEY_LEN, SecretKey};
use crate::{Error, Result};

const TAG_LEN: usize = 16;
const NONCE_BATCH: usize = 340;

/// Buffered random nonces.
pub(crate) struct NonceSource {
    rng: SystemRandom,
    buf: Mutex<(Vec<u8>, usize)>,
}

impl NonceSource {
    pub(crate) fn new() -> Self {
        Self {
            rng: SystemRandom::new(),
            buf: Mutex::new((vec![0; NONCE_LEN * NONCE_BATCH], NONCE_LEN * NONCE_BATCH)),
        }
    }

    pub(crate) fn next(&self) -> Result<[u8; NONCE_LEN]> {
        let mut guard = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        let (buf, pos) = &mut *guard;
        if *pos + NONCE_LEN > buf.len() {
            self.rng.fill(buf).map_err(|_| Error::Random)?;
            *pos = 0;
        }
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(&buf[*pos..*pos + NONCE_LEN]);
        // Spent nonce bytes are cleared so a memory dump cannot tell which
        // nonces are still to come.
        buf[*pos..*pos + NONCE_LEN].fill(0);
        *pos += NONCE_LEN;
        Ok(n)
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// AES-256-GCM producing and reading `nonce || ciphertext || tag`.
struct Sealer(LessSafeKey);

impl Sealer {
    fn new(key: &[u8; KEY_LEN]) -> Self {
        Self(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES-256 key"),
        ))
    }

    fn seal(&self, nonces: &NonceSource, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        self.seal_with(nonces, aad, |out| {
            out.extend_from_slice(plaintext);
            Ok(())
        })
    }

    /// Lets `write` append the plaintext straight into the output buffer
    /// (after room for the nonce), then encrypts it in place: no
    /// intermediate plaintext buffer to allocate, copy and leave behind.
    fn seal_with(
        &self,
        nonces: &NonceSource,
        aad: &[u8],
        write: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&[0; NONCE_LEN]);
        write(&mut out)?;
        let nonce = nonces.next()?;
        out[..NONCE_LEN].copy_from_slice(&nonce);
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| Error::Random)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts in place: the plaintext is moved to the front of `blob`.
    fn open(&self, aad: &[u8], mut blob: Vec<u8>) -> Option<Vec<u8>> {
        if blob.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let nonce = Nonce::try_assume_unique_for_key(&blob[..NONCE_LEN]).ok()?;
        let len = self
            .0
            .open_within(nonce, Aad::from(aad), &mut blob, NONCE_LEN..)
            .ok()?
            .len();
        blob.truncate(len);
        Some(blob)
    }
}

/// The keys derived from one DEK generation.
pub(crate) struct GenKeys {
    pub(crate) generation: i64,
    aead: Sealer,
    prk: hkdf::Prk,
    blind: Mutex<HashMap<(String, String), hmac::Key>>,
}

impl std::fmt::Debug for GenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenKeys")
            .field("gen", &self.generation)
            .finish_non_exhaustive()
    }
}

fn expand(prk: &hkdf::Prk, info: &[&[u8]]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    prk.expand(info, Len(KEY_LEN))
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF-SHA256 can always produce 32 bytes");
    out
}

impl GenKeys {
    pub(crate) fn derive(generation: i64, dek: &SecretKey) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"praxis/cache/v1").extract(dek.as_bytes());
        let mut k = expand(&prk, &[b"records"]);
        let aead = Sealer::new(&k);
        k.zeroize();
        Self {
            generation,
            aead,
            prk,
            blind: Mutex::new(HashMap::new()),
        }
    }

    /// `nonce || ciphertext || tag`.
    pub(crate) fn seal(
        &self,
        nonces: &NonceSource,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        self.aead.seal(nonces, aad, plaintext)
    }

    /// Serialises `value` as JSON directly into the sealed buffer.
    pub(crate) fn seal_json<T: serde::Serialize>(
        &self,
        nonces: &NonceSource,
        aad: &[u8],
        value: &T,
    ) -> Result<Vec<u8>> {
        self.aead
            .seal_with(nonces, aad, |out| Ok(serde_json::to_writer(out, value)?))
    }

    /// Opens a blob made by [`GenKeys::seal`], reusing its buffer; `None`
    /// when it fails authentication.
    pub(crate) fn open(&self, aad: &[u8], blob: Vec<u8>) -> Option<Vec<u8>> {
        self.aead.open(aad, blob)
    }

    /// The blind index of `value` for `field` of `collection`.
    pub(crate) fn blind(&self, collection: &str, field: &str, value: &str) -> Vec<u8> {
        let mut keys = self.blind.lock().unwrap_or_else(|p| p.into_inner());
        let key = keys
            .entry((collection.to_owned(), field.to_owned()))
            .or_insert_with(|| {
                let mut k = expand(
                    &self.prk,
                    &[
                        b"blind-index/",
                        collection.as_bytes(),
                        b"/",
                        field.as_bytes(),
                    ],
                );
                let key = hmac::Key::new(hmac::HMAC_SHA256, &k);
                k.zeroize();
                key
            });
        hmac::sign(key, value.as_bytes()).as_ref().to_vec()
    }
}

/// Associated data: `praxis/<format>/<table>/<part>/<part>…`, each part
/// length-prefixed so no two different rows can produce the same bytes.
pub(crate) fn aad(format: u32, table: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(b"praxis");
    out.extend_from_slice(&format.to_be_bytes());
    for p in std::iter::once(table.as_bytes()).chain(parts.iter().copied()) {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Wraps a DEK under a KEK: AES-256-GCM with the database id and the DEK
/// generation as associated data.
pub(crate) fn wrap(
    kek: &SecretKey,
    dek: &SecretKey,
    db_id: &[u8],
    generation: i64,
    nonces: &NonceSource,
) -> Result<Vec<u8>> {
    let key = Sealer::new(kek.as_bytes());
    let aad = aad(0, "dek", &[db_id, &generation.to_be_bytes()]);
    key.seal(nonces, &aad, dek.as_bytes())
}

/// Unwraps a DEK; [`Error::KeyMismatch`] when the KEK is not the one it was
/// wrapped under.
pub(crate) fn unwrap(
    kek: &SecretKey,
    wrapped: &[u8],
    db_id: &[u8],
    generation: i64,
) -> Result<SecretKey> {
    let key = Sealer::new(kek.as_bytes());
    let aad = aad(0, "dek", &[db_id, &generation.to_be_bytes()]);
    let mut bytes = key.open(&aad, wrapped.to_vec()).ok_or(Error::KeyMismatch)?;
    let arr: [u8; KEY_LEN] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::KeyMismatch)?;
    bytes.zeroize();
    Ok(SecretKey::from_bytes(arr))
}

/// The decrypted keys of every live DEK generation.
pub(crate) struct KeyRing {
    /// The generation new writes use (the `next` one during a rotation).
    pub(crate) write: Arc<GenKeys>,
    pub(crate) by_gen: HashMap<i64, (Arc<GenKeys>, SecretKey)>,
}

impl KeyRing {
    pub(crate) fn get(&self, generation: i64, collection: &str) -> Result<&GenKeys> {
        self.by_gen
            .get(&generation)
            .map(|(k, _)| k.as_ref())
            .ok_or_else(|| Error::Integrity {
                collection: collection.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn keys() -> (GenKeys, NonceSource) {
        (
            GenKeys::derive(1, &SecretKey::from_bytes([9; KEY_LEN])),
            NonceSource::new(),
        )
    }

    #[test]
    fn nonces_do_not_repeat_over_a_million_encryptions() {
        let (k, nonces) = keys();
        let mut seen = HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let blob = k.seal(&nonces, b"aad", b"x").expect("seal");
            let nonce: [u8; NONCE_LEN] = blob[..NONCE_LEN].try_into().expect("nonce");
            assert!(seen.insert(nonce), "nonce repeated");
        }
    }

    #[test]
    fn sealed_data_opens_only_with_the_same_aad_and_untouched_bytes() {
        let (k, nonces) = keys();
        let blob = k.seal(&nonces, b"row-1", b"payload").expect("seal");
        assert_eq!(
            k.open(b"row-1", blob.clone()).as_deref(),
            Some(&b"payload"[..])
        );
        assert_eq!(k.open(b"row-2", blob.clone()), None);
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert_eq!(k.open(b"row-1", bad), None, "flip at {i} went unnoticed");
        }
        assert_eq!(k.open(b"row-1", blob[..10].to_vec()), None);
        let other = GenKeys::derive(2, &SecretKey::from_bytes([8; KEY_LEN]));
        assert_eq!(other.open(b"row-1", blob), None);
    }

    #[test]
    fn aad_parts_cannot_be_shifted() {
        assert_ne!(
            aad(1, "records", &[b"ab", b"c"]),
            aad(1, "records", &[b"a", b"bc"])
        );
        assert_ne!(aad(1, "records", &[b"a"]), aad(2, "records", &[b"a"]));
        assert_ne!(aad(1, "records", &[b"a"]), aad(1, "outbox", &[b"a"]));
    }

    #[test]
    fn blind_indexes_are_per_collection_field_and_key() {
        let (k, _) = keys();
        let a = k.blind("people", "email", "a@example.org");
        assert_eq!(a, k.blind("people", "email", "a@example.org"));
        assert_ne!(a, k.blind("people", "phone", "a@example.org"));
        assert_ne!(a, k.blind("contacts", "email", "a@example.org"));
        let other = GenKeys::derive(2, &SecretKey::from_bytes([8; KEY_LEN]));
        assert_ne!(a, other.blind("people", "email", "a@example.org"));
    }

    #[test]
    fn wrapping_binds_database_and_generation() {
        let nonces = NonceSource::new();
        let kek = SecretKey::from_bytes([1; KEY_LEN]);
        let dek = SecretKey::from_bytes([2; KEY_LEN]);
        let w = wrap(&kek, &dek, b"db-a", 1, &nonces).expect("wrap");
        assert_eq!(unwrap(&kek, &w, b"db-a", 1).expect("unwrap"), dek);
        assert!(matches!(
            unwrap(&kek, &w, b"db-b", 1),
            Err(Error::KeyMismatch)
        ));
        assert!(matches!(
            unwrap(&kek, &w, b"db-a", 2),
            Err(Error::KeyMismatch)
        ));
        let wrong = SecretKey::from_bytes([3; KEY_LEN]);
        assert!(matches!(
            unwrap(&wrong, &w, b"db-a", 1),
            Err(Error::KeyMismatch)
        ));
    }
}
