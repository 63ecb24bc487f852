//! Fuzzing the cache file: random damage to one stored record (its
//! ciphertext flipped, cut or grown, its key generation or format number
//! changed, its row flags rewritten, another record's ciphertext moved in)
//! never makes a read panic. Damage to what the record's seal covers is a
//! typed `Integrity` error for that record, listing its collection fails
//! closed, and every other record still reads back as written.
//!
//! CI runs a bounded number of cases; `PRAXIS_FUZZ_CASES=n` runs more.

use std::path::Path;
use std::sync::Arc;

use praxis_core::Error;
use praxis_core::cache::{Cache, KeyProvider, RawKeyProvider, RecordMeta};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const RECORDS: usize = 6;

fn cases() -> u32 {
    std::env::var("PRAXIS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

/// One kind of damage to one row of `records`.
#[derive(Debug, Clone)]
enum Damage {
    /// XOR one byte of the payload (a non-zero mask).
    Flip(usize, u8),
    /// Keep only the first `n` bytes of the payload.
    Truncate(usize),
    /// Append bytes to the payload.
    Grow(Vec<u8>),
    /// Move the payload of another record into this row.
    Swap(usize),
    /// Change the key generation by a non-zero amount.
    Generation(i64),
    /// Change the format number by a non-zero amount.
    Format(i64),
    /// Rewrite the row's flags (in the seal's associated data).
    Flags {
        server_version: Option<i64>,
        dirty: i64,
        deleted: i64,
    },
}

fn damage() -> impl Strategy<Value = Damage> {
    let nonzero = prop_oneof![-1_000i64..0, 1i64..1_000];
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, m)| Damage::Flip(i, m)),
        any::<usize>().prop_map(Damage::Truncate),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Damage::Grow),
        (1..RECORDS).prop_map(Damage::Swap),
        nonzero.clone().prop_map(Damage::Generation),
        nonzero.prop_map(Damage::Format),
        (
            proptest::option::of(any::<i64>()),
            any::<i64>(),
            any::<i64>()
        )
            // The records are written as local changes (no server version,
            // dirty, not deleted): flags that read the same change nothing.
            .prop_filter("changes a flag", |(version, dirty, deleted)| {
                version.is_some() || *dirty == 0 || *deleted != 0
            })
            .prop_map(|(server_version, dirty, deleted)| Damage::Flags {
                server_version,
                dirty,
                deleted
            }),
    ]
}

fn value(i: usize) -> String {
    format!("Visit {i} for Mrs Example, 12 rue Esquermoise")
}

fn raw() -> Arc<dyn KeyProvider> {
    Arc::new(RawKeyProvider::new([9; 32]))
}

/// Applies `damage` to record `victim` straight in the file.
fn apply(path: &Path, victim: usize, damage: &Damage) -> rusqlite::Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    let id = format!("r{victim}");
    let payload: Vec<u8> =
        conn.query_row("SELECT payload FROM records WHERE id = ?1", [&id], |r| {
            r.get(0)
        })?;
    let set_payload = |p: Vec<u8>| {
        conn.execute(
            "UPDATE records SET payload = ?1 WHERE id = ?2",
            rusqlite::params![p, id],
        )
    };
    match damage {
        Damage::Flip(i, mask) => {
            let mut p = payload.clone();
            let at = i % p.len();
            p[at] ^= mask;
            set_payload(p)?;
        }
        Damage::Truncate(n) => {
            set_payload(payload[..n % payload.len()].to_vec())?;
        }
        Damage::Grow(extra) => {
            let mut p = payload.clone();
            p.extend_from_slice(extra);
            set_payload(p)?;
        }
        Damage::Swap(offset) => {
            let other = format!("r{}", (victim + offset) % RECORDS);
            conn.execute(
                "UPDATE records SET payload = (SELECT payload FROM records WHERE id = ?1) WHERE id = ?2",
                [&other, &id],
            )?;
        }
        Damage::Generation(d) => {
            conn.execute(
                "UPDATE records SET gen = gen + ?1 WHERE id = ?2",
                rusqlite::params![d, id],
            )?;
        }
        Damage::Format(d) => {
            conn.execute(
                "UPDATE records SET fmt = fmt + ?1 WHERE id = ?2",
                rusqlite::params![d, id],
            )?;
        }
        Damage::Flags {
            server_version,
            dirty,
            deleted,
        } => {
            conn.execute(
                "UPDATE records SET server_version = ?1, dirty = ?2, deleted = ?3 WHERE id = ?4",
                rusqlite::params![server_version, dirty, deleted, id],
            )?;
        }
    }
    Ok(())
}

#[test]
fn damaged_cache_records_give_typed_errors_and_never_panic() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(0..RECORDS, damage()), |(victim, damage)| {
            let dir = tempfile::tempdir().expect("dir");
            let path = dir.path().join("cache.db");
            let cache = Cache::open(&path, raw()).expect("open");
            for i in 0..RECORDS {
                cache
                    .put("visits", &format!("r{i}"), &value(i), RecordMeta::local())
                    .expect("put");
            }
            drop(cache);
            apply(&path, victim, &damage).expect("damage");
            let cache = Cache::open(&path, raw()).expect("reopen");
            for i in 0..RECORDS {
                let read = cache.get::<String>("visits", &format!("r{i}"));
                if i != victim {
                    let r = read.expect("another record reads").expect("present");
                    prop_assert_eq!(r.value, value(i));
                } else {
                    prop_assert!(
                        matches!(read, Err(Error::Integrity { ref collection }) if collection == "visits"),
                        "{damage:?}: {read:?}"
                    );
                }
            }
            let listed = cache.list::<String>("visits");
            prop_assert!(listed.is_err(), "{damage:?}: the list fails closed");
            Ok(())
        })
        .expect("no panic, typed errors");
}
