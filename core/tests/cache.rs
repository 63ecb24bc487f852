//! The encrypted cache, read back as bytes: no plaintext on disk, tamper
//! detection, wrong keys, key rotation, wiping.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use praxis_core::Error;
use praxis_core::cache::{Cache, KeyProvider, PassphraseKeyProvider, RawKeyProvider, RecordMeta};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Person {
    name: String,
    email: String,
    phone: String,
    lat: f64,
    lon: f64,
}

fn person(i: usize) -> Person {
    Person {
        name: format!("Pxmkname Zuleika{i:04}"),
        email: format!("pxmk.mail{i:04}@scan-example.org"),
        phone: format!("+3361299{i:04}"),
        lat: 48.0 + (i as f64) * 0.000_123_4 + 0.111_111_1,
        lon: 2.0 + (i as f64) * 0.000_432_1 + 0.222_222_2,
    }
}

fn raw(n: u8) -> Arc<dyn KeyProvider> {
    Arc::new(RawKeyProvider::new([n; 32]))
}

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("cache.db")
}

/// Every marker of `people`, in UTF-8, UTF-16LE and UTF-16BE.
fn markers(people: &[Person]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for p in people {
        for s in [
            p.name.clone(),
            p.email.clone(),
            p.phone.clone(),
            format!("{}", p.lat),
            format!("{}", p.lon),
        ] {
            out.push(s.as_bytes().to_vec());
            out.push(s.encode_utf16().flat_map(u16::to_le_bytes).collect());
            out.push(s.encode_utf16().flat_map(u16::to_be_bytes).collect());
        }
    }
    out
}

fn files(path: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| {
            let mut p = path.as_os_str().to_owned();
            p.push(s);
            PathBuf::from(p)
        })
        .collect()
}

/// Number of marker hits in the database files.
fn plaintext_hits(path: &Path, markers: &[Vec<u8>]) -> usize {
    let ac = AhoCorasick::new(markers).expect("automaton");
    files(path)
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .map(|bytes| ac.find_overlapping_iter(&bytes).count())
        .sum()
}

#[test]
fn no_plaintext_reaches_the_files_before_or_after_deletes_and_wipe() {
    let dir = tempfile::tempdir().expect("dir");
    let path = db(&dir);
    let people: Vec<Person> = (0..1000).map(person).collect();
    let markers = markers(&people);
    let cache = Cache::open(&path, raw(1)).expect("open");
    cache
        .transaction(|tx| {
            for (i, p) in people.iter().enumerate() {
                tx.put_indexed(
                    "people",
                    &format!("r{i:04}"),
                    p,
                    RecordMeta::local(),
                    &[("email", &p.email), ("phone", &p.phone)],
                )?;
                tx.enqueue(serde_json::to_vec(p).expect("json").as_slice())?;
            }
            Ok(())
        })
        .expect("write");
    // The scan is meaningful: the markers are really in the data.
    let found = cache
        .lookup::<Person>("people", "email", &people[42].email)
        .expect("lookup");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].value, people[42]);
    assert_eq!(plaintext_hits(&path, &markers), 0, "plaintext while open");
    drop(cache);
    assert!(std::fs::metadata(&path).expect("db").len() > 200_000);
    assert_eq!(plaintext_hits(&path, &markers), 0, "plaintext after close");

    let cache = Cache::open(&path, raw(1)).expect("reopen");
    cache
        .transaction(|tx| {
            for i in (0..1000).step_by(2) {
                assert!(tx.delete("people", &format!("r{i:04}"))?);
            }
            Ok(())
        })
        .expect("delete half");
    assert_eq!(cache.list::<Person>("people").expect("list").len(), 500);
    assert!(
        cache
            .lookup::<Person>("people", "email", &people[42].email)
            .expect("lookup")
            .is_empty()
    );
    drop(cache);
    assert_eq!(
        plaintext_hits(&path, &markers),
        0,
        "plaintext after deleting half"
    );

    let cache = Cache::open(&path, raw(1)).expect("reopen");
    cache.wipe_local().expect("wipe");
    for f in files(&path) {
        assert!(!f.exists(), "{} survived the wipe", f.display());
    }
    // A wiped cache starts fresh.
    let cache = Cache::open(&path, raw(2)).expect("fresh");
    assert!(cache.list::<Person>("people").expect("list").is_empty());
}

fn tamper(path: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).expect("raw open");
    conn.execute(sql, []).expect("tamper");
}

#[test]
fn tampering_is_detected_per_record() {
    let dir = tempfile::tempdir().expect("dir");
    let path = db(&dir);
    let cache = Cache::open(&path, raw(1)).expect("open");
    for i in 0..10 {
        cache
            .put("people", &format!("r{i}"), &person(i), RecordMeta::local())
            .expect("put");
    }
    drop(cache);
    // Flip one bit in the middle of r3's ciphertext.
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        let mut payload: Vec<u8> = conn
            .query_row("SELECT payload FROM records WHERE id = 'r3'", [], |r| {
                r.get(0)
            })
            .expect("payload");
        payload[20] ^= 0x01;
        conn.execute("UPDATE records SET payload = ?1 WHERE id = 'r3'", [payload])
            .expect("write");
    }
    // Move r5's ciphertext into r6's row.
    tamper(
        &path,
        "UPDATE records SET payload = (SELECT payload FROM records WHERE id = 'r5') WHERE id = 'r6'",
    );
    // And pretend r7 was written under a format it was not.
    tamper(&path, "UPDATE records SET fmt = fmt + 1 WHERE id = 'r7'");

    let cache = Cache::open(&path, raw(1)).expect("reopen");
    for (i, bad) in [
        (3, true),
        (6, true),
        (7, true),
        (0, false),
        (5, false),
        (9, false),
    ] {
        let r = cache.get::<Person>("people", &format!("r{i}"));
        if bad {
            assert!(
                matches!(r, Err(Error::Integrity { ref collection }) if collection == "people"),
                "r{i}: {r:?}"
            );
        } else {
            assert_eq!(r.expect("readable").expect("present").value, person(i));
        }
    }
    // Listing fails closed.
    assert!(matches!(
        cache.list::<Person>("people"),
        Err(Error::Integrity { .. })
    ));
}

#[test]
fn wrong_keys_are_refused_at_open() {
    let dir = tempfile::tempdir().expect("dir");
    let path = db(&dir);
    let pass: Arc<dyn KeyProvider> =
        Arc::new(PassphraseKeyProvider::new("right passphrase").expect("p"));
    let cache = Cache::open(&path, Arc::clone(&pass)).expect("create");
    cache
        .put("people", "r1", &person(1), RecordMeta::local())
        .expect("put");
    drop(cache);
    let wrong: Arc<dyn KeyProvider> =
        Arc::new(PassphraseKeyProvider::new("wrong passphrase").expect("p"));
    assert!(matches!(Cache::open(&path, wrong), Err(Error::KeyMismatch)));
    assert!(
        matches!(Cache::open(&path, raw(1)), Err(Error::KeyMismatch)),
        "raw key on a passphrase db"
    );
    let cache = Cache::open(&path, pass).expect("right passphrase");
    assert_eq!(
        cache
            .get::<Person>("people", "r1")
            .expect("get")
            .expect("some")
            .value,
        person(1)
    );
    drop(cache);

    let dir2 = tempfile::tempdir().expect("dir");
    let path2 = db(&dir2);
    drop(Cache::open(&path2, raw(1)).expect("create"));
    assert!(matches!(
        Cache::open(&path2, raw(2)),
        Err(Error::KeyMismatch)
    ));
    // A lost key: the app wipes and starts fresh.
    Cache::wipe_unopened(&path2).expect("wipe");
    assert!(!path2.exists());
    Cache::open(&path2, raw(2)).expect("fresh");
}

fn meta(path: &Path, key: &str) -> Vec<u8> {
    let conn = rusqlite::Connection::open(path).expect("raw open");
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .expect("meta")
}

fn blind(path: &Path) -> Vec<u8> {
    let conn = rusqlite::Connection::open(path).expect("raw open");
    conn.query_row("SELECT mac FROM blind_index", [], |r| r.get(0))
        .expect("mac")
}

#[test]
fn same_passphrase_gives_different_salts_and_data_keys() {
    let (d1, d2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    for d in [&d1, &d2] {
        let p: Arc<dyn KeyProvider> =
            Arc::new(PassphraseKeyProvider::new("shared passphrase").expect("p"));
        let c = Cache::open(&db(d), p).expect("open");
        c.put_indexed(
            "people",
            "r1",
            &person(1),
            RecordMeta::local(),
            &[("email", "same@example.org")],
        )
        .expect("put");
    }
    let params = |d: &tempfile::TempDir| -> serde_json::Value {
        serde_json::from_slice(&meta(&db(d), "kek_params")).expect("json")
    };
    let (p1, p2) = (params(&d1), params(&d2));
    assert_eq!(p1["kdf"], "pbkdf2-sha256");
    assert_eq!(p1["iterations"], 600_000);
    assert!(p1["salt"].as_array().is_some_and(|s| s.len() >= 16));
    assert_ne!(p1["salt"], p2["salt"]);
    // Blind-index keys derive from the DEK: equal values, different MACs.
    assert_ne!(blind(&db(&d1)), blind(&db(&d2)));
}

#[test]
fn kek_rotation_rewraps_and_kdf_parameters_can_be_raised() {
    let dir = tempfile::tempdir().expect("dir");
    let path = db(&dir);
    let old: Arc<dyn KeyProvider> =
        Arc::new(PassphraseKeyProvider::new("old passphrase").expect("p"));
    let cache = Cache::open(&path, Arc::clone(&old)).expect("open");
    cache
        .put("people", "r1", &person(1), RecordMeta::local())
        .expect("put");
    let new: Arc<dyn KeyProvider> =
        Arc::new(PassphraseKeyProvider::new("new passphrase").expect("p"));
    cache.rotate_kek(Arc::clone(&new)).expect("rotate kek");
    drop(cache);
    assert!(matches!(Cache::open(&path, old), Err(Error::KeyMismatch)));
    drop(Cache::open(&path, new).expect("new passphrase opens"));

    // Opening with a provider that asks for more iterations raises them.
    let stronger: Arc<dyn KeyProvider> =
        Arc::new(PassphraseKeyProvider::with_iterations("new passphrase", 700_000).expect("p"));
    let cache = Cache::open(&path, stronger).expect("open stronger");
    assert_eq!(
        cache
            .get::<Person>("people", "r1")
            .expect("get")
            .expect("some")
            .value,
        person(1)
    );
    drop(cache);
    let p: serde_json::Value = serde_json::from_slice(&meta(&path, "kek_params")).expect("json");
    assert_eq!(p["iterations"], 700_000);
    // The stored parameters, not the provider's defaults, open it again.
    let again: Arc<dyn KeyProvider> =
        Arc::new(PassphraseKeyProvider::new("new passphrase").expect("p"));
    drop(Cache::open(&path, again).expect("reopen with default provider"));
}

#[test]
fn dek_rotation_reencrypts_everything() {
    let dir = tempfile::tempdir().expect("dir");
    let path = db(&dir);
    let cache = Cache::open(&path, raw(1)).expect("open");
    cache
        .transaction(|tx| {
            for i in 0..1200 {
                let p = person(i);
                tx.put_indexed(
                    "people",
                    &format!("r{i:04}"),
                    &p,
                    RecordMeta::synced(i as i64),
                    &[("email", &p.email)],
                )?;
            }
            tx.enqueue(b"pending mutation")?;
            Ok(())
        })
        .expect("write");
    let before = blind(&path);
    cache.rotate_dek().expect("rotate");
    assert_eq!(cache.key_generations().expect("gens"), 1);
    let all = cache.list::<Person>("people").expect("list");
    assert_eq!(all.len(), 1200);
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, r)| r.value == person(i) && r.meta == RecordMeta::synced(i as i64))
    );
    assert_eq!(
        cache
            .lookup::<Person>("people", "email", &person(777).email)
            .expect("lookup")[0]
            .value,
        person(777)
    );
    assert_eq!(
        cache.outbox(10).expect("outbox")[0].payload,
        b"pending mutation"
    );
    drop(cache);
    assert_ne!(blind(&path), before, "index re-keyed");
    let conn = rusqlite::Connection::open(&path).expect("raw");
    let gens: i64 = conn
        .query_row("SELECT COUNT(DISTINCT gen) FROM (SELECT gen FROM records UNION ALL SELECT gen FROM outbox UNION ALL SELECT gen FROM blind_index UNION ALL SELECT gen FROM keys)", [], |r| r.get(0))
        .expect("gens");
    assert_eq!(gens, 1);
    let g: i64 = conn
        .query_row("SELECT gen FROM keys", [], |r| r.get(0))
        .expect("gen");
    assert_eq!(g, 2);
}

#[test]
fn a_failed_transaction_writes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let cache = Cache::open(&db(&dir), raw(1)).expect("open");
    let r: Result<(), Error> = cache.transaction(|tx| {
        tx.put("people", "r1", &person(1), RecordMeta::local())?;
        tx.enqueue(b"m1")?;
        tx.put("BAD COLLECTION", "r2", &person(2), RecordMeta::local())
    });
    assert!(matches!(
        r,
        Err(Error::InvalidInput {
            field: "collection",
            ..
        })
    ));
    assert!(cache.get::<Person>("people", "r1").expect("get").is_none());
    assert!(cache.outbox(10).expect("outbox").is_empty());
    for (coll, id) in [("people", ""), ("people", "a\nb"), ("", "x"), ("Caps", "x")] {
        assert!(matches!(
            cache.put(coll, id, &1, RecordMeta::local()),
            Err(Error::InvalidInput { .. })
        ));
    }
}

#[test]
fn outbox_keeps_order_and_acknowledges_a_prefix() {
    let dir = tempfile::tempdir().expect("dir");
    let cache = Cache::open(&db(&dir), raw(1)).expect("open");
    let seqs: Vec<i64> = (0..5)
        .map(|i| {
            cache
                .transaction(|tx| tx.enqueue(format!("m{i}").as_bytes()))
                .expect("enqueue")
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    cache.transaction(|tx| tx.ack_outbox(seqs[1])).expect("ack");
    let left = cache.outbox(10).expect("outbox");
    assert_eq!(
        left.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(),
        [b"m2".to_vec(), b"m3".to_vec(), b"m4".to_vec()]
    );
    assert_eq!(cache.transaction(|tx| tx.outbox_len()).expect("len"), 3);
    // Sync metadata changes without touching the payload.
    cache
        .put("people", "r1", &person(1), RecordMeta::local())
        .expect("put");
    assert!(
        cache
            .transaction(|tx| tx.set_meta("people", "r1", RecordMeta::synced(7)))
            .expect("meta")
    );
    assert_eq!(
        cache
            .get::<Person>("people", "r1")
            .expect("get")
            .expect("some")
            .meta,
        RecordMeta::synced(7)
    );
}

/// The SQLite built into the core is the trimmed one `.cargo/config.toml`
/// asks for: none of the modules the apps never use (each is library
/// size), and double-quoted strings are identifiers only, so a misspelt
/// column name fails instead of reading as a string.
#[test]
fn the_bundled_sqlite_is_built_without_unused_modules_or_quoted_strings() {
    let conn = rusqlite::Connection::open_in_memory().expect("open");
    let used = |option: &str| -> bool {
        conn.query_row("SELECT sqlite_compileoption_used(?1)", [option], |r| {
            r.get(0)
        })
        .expect("query")
    };
    for option in [
        "ENABLE_FTS3",
        "ENABLE_FTS5",
        "ENABLE_RTREE",
        "ENABLE_DBSTAT_VTAB",
        "ENABLE_STAT4",
        "SOUNDEX",
        "ENABLE_COLUMN_METADATA",
        "ENABLE_LOAD_EXTENSION",
    ] {
        assert!(!used(option), "SQLite built with {option}");
    }
    for option in [
        "OMIT_LOAD_EXTENSION",
        "OMIT_DEPRECATED",
        "OMIT_SHARED_CACHE",
        "DQS=0",
    ] {
        assert!(used(option), "SQLite built without {option}");
    }
    for sql in [
        "CREATE VIRTUAL TABLE t USING fts5(x)",
        "CREATE VIRTUAL TABLE t USING rtree(id, x0, x1)",
    ] {
        let err = conn.execute(sql, []).expect_err("refused").to_string();
        assert!(err.contains("no such module"), "{sql}: {err}");
    }
    conn.execute("CREATE TABLE t (a INTEGER)", [])
        .expect("query");
    let err = conn
        .prepare("SELECT \"misspelt\" FROM t")
        .expect_err("refused")
        .to_string();
    assert!(err.contains("no such column"), "{err}");
    // What the core and server do use is still there.
    let n: i64 = conn
        .query_row("SELECT count(*) FROM json_each('[1,2,3]')", [], |r| {
            r.get(0)
        })
        .expect("query");
    assert_eq!(n, 3);
}
