//! Encrypted cache vs plain rusqlite, same schema, same run.
//!
//! * insert: 100,000 records of ~200 bytes in one transaction;
//! * read: all 100,000 back;
//! * open: an existing database with the raw-key and passphrase providers.
//!
//! The plain baseline uses the cache's own schema and connection settings
//! and the same statements, stores the same JSON payload unencrypted and
//! parses it back on read, so the ratio isolates what encryption costs. `cargo xtask bench` folds the
//! medians into the report; `PRAXIS_BENCH_RECORDS` shrinks the data set.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use praxis_core::cache::{
    Cache, KeyProvider, PassphraseKeyProvider, RawKeyProvider, RecordMeta, schema,
};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Visit {
    title: String,
    patient: String,
    address: String,
    start: i64,
    minutes: u32,
}

fn records() -> usize {
    std::env::var("PRAXIS_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn visit(i: usize) -> Visit {
    Visit {
        title: format!("Home visit {i}: wound dressing and medication review"),
        patient: format!("Patient {i:06} (room {})", i % 97),
        address: format!(
            "{} rue des Lilas, 59000 Lille, France, digicode {}",
            i % 300,
            i % 9999
        ),
        start: 1_800_000_000 + i as i64 * 1800,
        minutes: 30,
    }
}

fn raw() -> Arc<dyn KeyProvider> {
    Arc::new(RawKeyProvider::new([5; 32]))
}

/// The baseline: the cache's own schema and connection settings, with the
/// same statements, minus encryption.
fn plain_open(path: &Path) -> Connection {
    let mut conn = Connection::open(path).expect("open");
    schema::configure(&conn).expect("pragmas");
    let tx = conn.transaction().expect("tx");
    schema::upgrade_from(&tx, 0).expect("schema");
    tx.commit().expect("commit");
    conn
}

fn plain_insert(conn: &mut Connection, data: &[(String, Visit)]) {
    let tx = conn.transaction().expect("tx");
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO records (collection, id, gen, fmt, payload, server_version, dirty, deleted, expires_day)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (collection, id) DO NOTHING",
            )
            .expect("prepare");
        for (id, v) in data {
            let meta = RecordMeta::local();
            let payload = serde_json::to_vec(v).expect("json");
            stmt.execute(params![
                "visits",
                id,
                1,
                schema::VERSION,
                payload,
                meta.server_version,
                meta.dirty,
                meta.deleted,
                meta.expires_day
            ])
            .expect("insert");
        }
    }
    tx.commit().expect("commit");
}

fn plain_read(conn: &Connection) -> usize {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, gen, fmt, payload, server_version, dirty, deleted, expires_day FROM records
             WHERE collection = ?1 ORDER BY id",
        )
        .expect("prepare");
    let rows = stmt
        .query_map(["visits"], |r| {
            let payload: Vec<u8> = r.get(3)?;
            let meta = RecordMeta {
                server_version: r.get(4)?,
                dirty: r.get(5)?,
                deleted: r.get(6)?,
                expires_day: r.get(7)?,
            };
            let _: (i64, u32) = (r.get(1)?, r.get(2)?);
            Ok((
                r.get::<_, String>(0)?,
                serde_json::from_slice::<Visit>(&payload).expect("json"),
                meta,
            ))
        })
        .expect("query");
    // Materialised like `Cache::list`, which returns every record.
    rows.collect::<Result<Vec<_>, _>>().expect("rows").len()
}

fn cache_insert(cache: &Cache, data: &[(String, Visit)]) {
    cache
        .transaction(|tx| {
            for (id, v) in data {
                tx.put("visits", id, v, RecordMeta::local())?;
            }
            Ok(())
        })
        .expect("insert");
}

fn bench(c: &mut Criterion) {
    let n = records();
    let data: Vec<(String, Visit)> = (0..n).map(|i| (format!("{i:08}"), visit(i))).collect();
    let bytes = serde_json::to_vec(&data[0].1).expect("json").len();
    eprintln!("records: {n}, payload ~{bytes} bytes");

    let mut g = c.benchmark_group("cache_insert");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(n as u64));
    g.bench_function("plain", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("dir");
                let conn = plain_open(&dir.path().join("plain.db"));
                (dir, conn)
            },
            |(dir, mut conn)| {
                plain_insert(&mut conn, &data);
                (dir, conn)
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("encrypted", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("dir");
                let cache = Cache::open(&dir.path().join("enc.db"), raw()).expect("open");
                (dir, cache)
            },
            |(dir, cache)| {
                cache_insert(&cache, &data);
                (dir, cache)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();

    let dir = tempfile::tempdir().expect("dir");
    let mut plain = plain_open(&dir.path().join("plain.db"));
    plain_insert(&mut plain, &data);
    let enc_path = dir.path().join("enc.db");
    let cache = Cache::open(&enc_path, raw()).expect("open");
    cache_insert(&cache, &data);

    let mut g = c.benchmark_group("cache_read");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(n as u64));
    g.bench_function("plain", |b| b.iter(|| assert_eq!(plain_read(&plain), n)));
    g.bench_function("encrypted", |b| {
        b.iter(|| assert_eq!(cache.list::<Visit>("visits").expect("list").len(), n))
    });
    g.finish();
    drop(cache);

    let pass_path = dir.path().join("pass.db");
    let pass = || -> Arc<dyn KeyProvider> {
        Arc::new(PassphraseKeyProvider::new("bench passphrase").expect("p"))
    };
    drop(Cache::open(&pass_path, pass()).expect("create"));
    let mut g = c.benchmark_group("cache_open");
    g.sample_size(10);
    g.bench_function("raw_key", |b| {
        b.iter(|| drop(Cache::open(&enc_path, raw()).expect("open")))
    });
    g.bench_function("passphrase", |b| {
        b.iter(|| drop(Cache::open(&pass_path, pass()).expect("open")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
