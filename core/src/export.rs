//! The user's data export, downloaded as a stream to a file, optionally
//! encrypted under a passphrase.
//!
//! Encrypted files: `PRXENC1\n`, a 16-byte salt, the PBKDF2-HMAC-SHA256
//! iteration count (u32, big-endian) and an 8-byte nonce prefix, then
//! chunks of at most 64 KiB, each `length (u32 BE) || AES-256-GCM(chunk)`
//! with nonce `prefix || chunk number` and the associated data saying
//! whether it is the last chunk, so a truncated or reordered file fails to
//! open.

use std::io::{Read, Write};
use std::num::NonZeroU32;
use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::cache::PBKDF2_ITERATIONS;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"PRXENC1\n";
const CHUNK: usize = 64 * 1024;

/// The AES-GCM tag that follows each sealed chunk.
const TAG_LEN: usize = 16;

/// Iteration counts a file may name: from the count used today up to ten
/// times more (a future build may raise it). The count is read from the
/// file, so without a bound a crafted file could make the device hash for
/// hours.
const ITERATIONS_ACCEPTED: std::ops::RangeInclusive<u32> =
    PBKDF2_ITERATIONS..=PBKDF2_ITERATIONS.saturating_mul(10);

fn key(passphrase: &str, salt: &[u8], iterations: u32) -> Result<LessSafeKey> {
    let mut k = Zeroizing::new([0u8; 32]);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        NonZeroU32::new(iterations).ok_or(Error::InvalidInput {
            field: "export",
            reason: "bad iteration count",
        })?,
        salt,
        passphrase.as_bytes(),
        k.as_mut(),
    );
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, k.as_ref()).map_err(|_| Error::Random)?,
    ))
}

fn nonce(prefix: &[u8; 8], n: u32) -> Nonce {
    let mut b = [0u8; 12];
    b[..8].copy_from_slice(prefix);
    b[8..].copy_from_slice(&n.to_be_bytes());
    Nonce::assume_unique_for_key(b)
}

/// Writes plaintext chunks into an encrypted file as they come.
pub(crate) struct Sealer<W: Write> {
    out: W,
    key: LessSafeKey,
    prefix: [u8; 8],
    counter: u32,
    buf: Vec<u8>,
}

impl<W: Write> Sealer<W> {
    pub(crate) fn new(mut out: W, passphrase: &str) -> Result<Self> {
        let rng = SystemRandom::new();
        let mut salt = [0u8; 16];
        let mut prefix = [0u8; 8];
        rng.fill(&mut salt).map_err(|_| Error::Random)?;
        rng.fill(&mut prefix).map_err(|_| Error::Random)?;
        out.write_all(MAGIC)?;
        out.write_all(&salt)?;
        out.write_all(&PBKDF2_ITERATIONS.to_be_bytes())?;
        out.write_all(&prefix)?;
        Ok(Self {
            out,
            key: key(passphrase, &salt, PBKDF2_ITERATIONS)?,
            prefix,
            counter: 0,
            buf: Vec::with_capacity(CHUNK),
        })
    }

    fn seal(&mut self, last: bool) -> Result<()> {
        let mut chunk = std::mem::take(&mut self.buf);
        self.key
            .seal_in_place_append_tag(
                nonce(&self.prefix, self.counter),
                Aad::from([u8::from(last)]),
                &mut chunk,
            )
            .map_err(|_| Error::Random)?;
        self.counter = self.counter.checked_add(1).ok_or(Error::InvalidInput {
            field: "export",
            reason: "too large to encrypt",
        })?;
        let len = u32::try_from(chunk.len()).map_err(|_| Error::Random)?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(&chunk)?;
        self.buf = Vec::with_capacity(CHUNK);
        Ok(())
    }

    pub(crate) fn write(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK {
                self.seal(false)?;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<W> {
        self.seal(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Decrypts an encrypted export (the whole file) with its passphrase.
pub fn decrypt(mut input: impl Read, passphrase: &str) -> Result<Vec<u8>> {
    let bad = Error::InvalidInput {
        field: "export",
        reason: "not an encrypted export, or the wrong passphrase",
    };
    let mut head = [0u8; 8 + 16 + 4 + 8];
    input
        .read_exact(&mut head)
        .map_err(|_| Error::InvalidInput {
            field: "export",
            reason: "not an encrypted export",
        })?;
    if &head[..8] != MAGIC {
        return Err(bad);
    }
    let iterations = u32::from_be_bytes(head[24..28].try_into().map_err(|_| Error::Random)?);
    if !ITERATIONS_ACCEPTED.contains(&iterations) {
        return Err(bad);
    }
    let prefix: [u8; 8] = head[28..36].try_into().map_err(|_| Error::Random)?;
    let key = key(passphrase, &head[8..24], iterations)?;
    let mut out = Vec::new();
    let mut counter = 0u32;
    loop {
        let mut len = [0u8; 4];
        input
            .read_exact(&mut len)
            .map_err(|_| Error::InvalidInput {
                field: "export",
                reason: "the file is truncated",
            })?;
        // A chunk is at most CHUNK bytes and its tag: a longer length is
        // refused before anything is allocated for it.
        let len = u32::from_be_bytes(len) as usize;
        if !(TAG_LEN..=CHUNK + TAG_LEN).contains(&len) {
            return Err(bad);
        }
        let mut chunk = vec![0u8; len];
        input
            .read_exact(&mut chunk)
            .map_err(|_| Error::InvalidInput {
                field: "export",
                reason: "the file is truncated",
            })?;
        // Try as a middle chunk, then as the last one.
        let mut copy = chunk.clone();
        if let Ok(p) = key.open_in_place(nonce(&prefix, counter), Aad::from([0u8]), &mut copy) {
            out.extend_from_slice(p);
        } else {
            let p = key
                .open_in_place(nonce(&prefix, counter), Aad::from([1u8]), &mut chunk)
                .map_err(|_| Error::InvalidInput {
                    field: "export",
                    reason: "not an encrypted export, or the wrong passphrase",
                })?;
            out.extend_from_slice(p);
            return Ok(out);
        }
        counter += 1;
    }
}

/// Streams the export to `path` (through a temporary file renamed at the
/// end, so a broken download never leaves a partial export behind).
pub(crate) async fn download(
    session: &crate::session::Session,
    path: &Path,
    passphrase: Option<&str>,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<u64> {
    let tmp = path.with_extension("partial");
    let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    enum Sink {
        Plain(std::io::BufWriter<std::fs::File>),
        Sealed(Box<Sealer<std::io::BufWriter<std::fs::File>>>),
    }
    let state = std::sync::Mutex::new((
        Some(match passphrase {
            Some(p) => Sink::Sealed(Box::new(Sealer::new(file, p)?)),
            None => Sink::Plain(file),
        }),
        0u8,
        0u64,
    ));
    let api = session.api();
    let got = session
        .authorized(|t| {
            let state = &state;
            async move {
                api.download("v1/me/export", &t, |chunk| {
                    let mut g = state.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(b) = chunk.last() {
                        g.1 = *b;
                    }
                    g.2 += chunk.len() as u64;
                    progress(g.2);
                    match g.0.as_mut() {
                        Some(Sink::Plain(w)) => w.write_all(chunk).map_err(Error::from),
                        Some(Sink::Sealed(s)) => s.write(chunk),
                        None => Ok(()),
                    }
                })
                .await
            }
        })
        .await;
    let (sink, last, _) = state.into_inner().unwrap_or_else(|p| p.into_inner());
    let result = got.and_then(|n| {
        if last != b'}' {
            return Err(Error::Network(crate::NetworkError::Interrupted));
        }
        match sink {
            Some(Sink::Plain(mut w)) => w.flush()?,
            Some(Sink::Sealed(s)) => {
                s.finish()?;
            }
            None => {}
        }
        std::fs::rename(&tmp, path)?;
        Ok(n)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (fuzzing): the iteration count and chunk lengths come
    /// from the file. A crafted file made the device derive a key for hours
    /// or allocate gigabytes; both are refused before any work.
    #[test]
    fn a_crafted_header_costs_no_work_and_no_memory() {
        let file = Sealer::new(Vec::new(), "pass")
            .expect("sealer")
            .finish()
            .expect("finish");
        let mut slow = file.clone();
        slow[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        let start = std::time::Instant::now();
        assert!(decrypt(slow.as_slice(), "pass").is_err());
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        let mut huge = file.clone();
        huge[36..40].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decrypt(huge.as_slice(), "pass"),
            Err(Error::InvalidInput {
                field: "export",
                ..
            })
        ));
        assert_eq!(
            decrypt(file.as_slice(), "pass").expect("untouched").len(),
            0
        );
    }

    #[test]
    fn sealed_exports_open_only_whole_and_with_the_passphrase() {
        // Three and a bit chunks of text.
        let text: Vec<u8> = (0..(3 * CHUNK + 1234))
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        let mut s = Sealer::new(Vec::new(), "correct horse").expect("sealer");
        s.write(&text[..1000]).expect("write");
        s.write(&text[1000..]).expect("write");
        let file = s.finish().expect("finish");
        assert!(
            !file.windows(26).any(|w| w == b"abcdefghijklmnopqrstuvwxyz"),
            "no plaintext"
        );
        assert_eq!(
            decrypt(file.as_slice(), "correct horse").expect("open"),
            text
        );
        assert!(decrypt(file.as_slice(), "wrong horse").is_err());
        // Cut after the first chunk: the last-chunk marker is missing.
        let first = 8 + 16 + 4 + 8 + 4 + CHUNK + 16;
        assert!(
            decrypt(&file[..first], "correct horse").is_err(),
            "truncated"
        );
        let mut flipped = file.clone();
        let n = flipped.len();
        flipped[n - 5] ^= 1;
        assert!(
            decrypt(flipped.as_slice(), "correct horse").is_err(),
            "altered"
        );
    }
}
