//! Section `push`: the server's push under load against baselines measured
//! in the same run (performance issue): 32 clients pushing 100 new records
//! per request against a raw writer of the same rows into the same
//! database (plain rusqlite, one transaction per request, the server's
//! pragmas and durability; on PostgreSQL 32 tokio-postgres connections
//! with multi-row statements), fsyncs per committed push from the group
//! commit's own counter, and 1-mutation pushes against `GET /v1/me` on
//! the same server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use praxis_server::clock::Clock as _;
use praxis_tests::{Backend, TestServer, Transport};
use serde_json::Value;

use crate::{
    Budget, Latencies, Metric, Options, backend_name, create_batches, gather, percentile_ms,
};

const CLIENTS: usize = 32;
const RECORDS: usize = 100;

/// Every row a baseline writes, sized like the server's own (measured
/// from what the server stored in the same run).
#[derive(Clone, Copy)]
struct RowSizes {
    fields: usize,
    result: usize,
}

pub async fn push_benchmarks(backend: Backend, opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let duration = if opts.quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(10)
    };
    let server = TestServer::start(backend, Transport::Http)
        .await
        .ok_or_else(|| anyhow::anyhow!("backend unavailable"))?;
    let url = server.base_url().expect("http").to_owned();
    let mut tokens = Vec::new();
    for i in 0..CLIENTS {
        tokens.push(server.user(&format!("push{i}")).await.access);
    }
    let name = backend_name(backend);
    let now = server.clock.now();
    let mut out = Vec::new();

    // 100 records per request.
    let stats_before = server.state.store().db().commit_stats();
    let (lat, errors) = load(&url, &tokens, duration, move || {
        create_batches(RECORDS, "load", now).remove(0)
    })
    .await?;
    let stats_after = server.state.store().db().commit_stats();
    let rps = lat.len() as f64 / duration.as_secs_f64();
    let note = format!(
        "{CLIENTS} clients, {RECORDS} new records per request, {}s, {errors} errors",
        duration.as_secs()
    );
    let sizes = row_sizes(&server).await?;
    let raw = match backend {
        Backend::Sqlite => raw_sqlite(&server, duration, sizes)?,
        Backend::Postgres => raw_postgres(&server, duration, sizes).await?,
    };
    let mut m = Metric::new(
        format!("server push ({name}) throughput"),
        rps,
        "req/s",
        format!("{note}; baseline: raw writer of the same rows ({})", raw.1),
    );
    m.baseline = Some(raw.0);
    m.budget = Some(Budget::MinRatio(0.5));
    out.push(m);
    let mut m = Metric::new(
        format!("server push ({name}) latency p99"),
        percentile_ms(&lat, 0.99),
        "ms",
        &note,
    );
    m.budget = Some(Budget::Max(50.0));
    out.push(m);
    out.push(Metric::new(
        format!("server push ({name}) latency p50"),
        percentile_ms(&lat, 0.50),
        "ms",
        &note,
    ));
    if let (Some(a), Some(b)) = (stats_before, stats_after) {
        let commits = b.commits - a.commits;
        let txs = b.transactions - a.transactions;
        out.push(Metric::new(
            format!("server push ({name}) fsyncs per committed push"),
            commits as f64 / lat.len().max(1) as f64,
            "fsync",
            format!("group commit: {commits} commits carried {txs} write transactions"),
        ));
    }

    // One mutation per request, against GET /v1/me on the same server.
    let (me, me_errors) = me_load(&url, &tokens, duration).await?;
    let (one, one_errors) = load(&url, &tokens, duration, move || {
        create_batches(1, "one", now).remove(0)
    })
    .await?;
    let me_rps = me.len() as f64 / duration.as_secs_f64();
    let mut m = Metric::new(
        format!("server push of 1 mutation ({name}) throughput"),
        one.len() as f64 / duration.as_secs_f64(),
        "req/s",
        format!(
            "{CLIENTS} clients, {}s, {one_errors} errors; baseline: GET /v1/me on the same server ({me_errors} errors)",
            duration.as_secs()
        ),
    );
    m.baseline = Some(me_rps);
    m.budget = Some(Budget::MinRatio(0.5));
    out.push(m);
    out.push(Metric::new(
        format!("server push of 1 mutation ({name}) latency p99"),
        percentile_ms(&one, 0.99),
        "ms",
        format!("GET /v1/me p99 {:.2} ms", percentile_ms(&me, 0.99)),
    ));
    Ok(out)
}

/// Makes one HTTP client (one connection) per load task.
pub type MakeClient = Arc<dyn Fn() -> reqwest::Client + Send + Sync>;

fn plain_clients() -> MakeClient {
    Arc::new(praxis_tests::http_client)
}

/// `CLIENTS` clients (one connection each) pushing `body()` until the
/// time is up: latencies of pushes whose every mutation was applied, and
/// how many were not.
async fn load(
    url: &str,
    tokens: &[String],
    duration: Duration,
    body: impl Fn() -> Value + Send + Sync + 'static,
) -> anyhow::Result<Latencies> {
    load_with(plain_clients(), url, tokens, duration, body).await
}

/// [`load`] through clients from `make`.
pub async fn load_with(
    make: MakeClient,
    url: &str,
    tokens: &[String],
    duration: Duration,
    body: impl Fn() -> Value + Send + Sync + 'static,
) -> anyhow::Result<Latencies> {
    let body = Arc::new(body);
    let stop_at = Instant::now() + duration;
    let tasks = tokens
        .iter()
        .map(|token| {
            let (url, token, body) = (
                format!("{url}/v1/sync/push"),
                token.clone(),
                Arc::clone(&body),
            );
            let client = make();
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < stop_at {
                    let batch = body();
                    let t = Instant::now();
                    let applied = match client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&batch)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {
                            r.json::<Value>().await.ok().is_some_and(|a| {
                                a["results"]
                                    .as_array()
                                    .is_some_and(|rs| rs.iter().all(|x| x["status"] == "applied"))
                            })
                        }
                        _ => false,
                    };
                    if applied {
                        lat.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    gather(tasks).await
}

async fn me_load(url: &str, tokens: &[String], duration: Duration) -> anyhow::Result<Latencies> {
    me_load_with(plain_clients(), url, tokens, duration).await
}

/// Authenticated `GET /v1/me`, one client from `make` per token, until
/// the time is up.
pub async fn me_load_with(
    make: MakeClient,
    url: &str,
    tokens: &[String],
    duration: Duration,
) -> anyhow::Result<Latencies> {
    let stop_at = Instant::now() + duration;
    let tasks = tokens
        .iter()
        .map(|token| {
            let (url, token) = (format!("{url}/v1/me"), token.clone());
            let client = make();
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < stop_at {
                    let t = Instant::now();
                    let ok = client
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    gather(tasks).await
}

/// The average sizes of the sealed record fields and stored answers the
/// server wrote.
async fn row_sizes(server: &TestServer) -> anyhow::Result<RowSizes> {
    let fields = server
        .count("SELECT CAST(AVG(LENGTH(fields)) AS BIGINT) FROM sync_records")
        .await;
    let result = server
        .count("SELECT CAST(AVG(LENGTH(result)) AS BIGINT) FROM sync_mutations")
        .await;
    anyhow::ensure!(fields > 0 && result > 0, "the server stored nothing");
    Ok(RowSizes {
        fields: fields as usize,
        result: result as usize,
    })
}

/// Text of `len` characters that does not compress or repeat (sealed
/// values are random base64).
fn filler(len: usize, salt: u64) -> String {
    let mut x = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(x % 64) as usize]
                as char
        })
        .collect()
}

/// Plain rusqlite into the server's database file (its tables and
/// indexes), one writer, one `BEGIN IMMEDIATE` … `COMMIT` per request of
/// 100 record upserts, 100 stored answers and the scope's sequence; WAL
/// and `synchronous = FULL` as the server. Requests per second.
fn raw_sqlite(
    server: &TestServer,
    duration: Duration,
    sizes: RowSizes,
) -> anyhow::Result<(f64, String)> {
    let path = server
        .sqlite_path()
        .ok_or_else(|| anyhow::anyhow!("not sqlite"))?;
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;")?;
    let stop_at = Instant::now() + duration;
    let mut done = 0u64;
    let mut salt = 0u64;
    while Instant::now() < stop_at {
        let scope = format!("raw:{}", done % CLIENTS as u64);
        let client = uuid::Uuid::new_v4().to_string();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let seq: i64 = conn.prepare_cached("INSERT INTO sync_scopes (scope, seq) VALUES (?1, ?2) ON CONFLICT (scope) DO UPDATE SET seq = sync_scopes.seq + ?2 RETURNING seq")?
            .query_row(rusqlite::params![scope, RECORDS as i64], |r| r.get(0))?;
        for i in 0..RECORDS {
            salt += 1;
            conn.prepare_cached("INSERT INTO sync_records (collection, record_id, scope, seq, fields, deleted, updated_at) VALUES ('appointments', ?1, ?2, ?3, ?4, NULL, ?5) ON CONFLICT (collection, record_id) DO UPDATE SET seq = excluded.seq, fields = excluded.fields, deleted = excluded.deleted, updated_at = excluded.updated_at WHERE sync_records.scope = excluded.scope")?
                .execute(rusqlite::params![uuid::Uuid::now_v7().to_string(), scope, seq - RECORDS as i64 + 1 + i as i64, filler(sizes.fields, salt), 0i64])?;
            conn.prepare_cached("INSERT INTO sync_mutations (user_id, client_id, client_seq, result, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(rusqlite::params![scope, client, i as i64 + 1, filler(sizes.result, salt), 0i64])?;
        }
        conn.execute_batch("COMMIT")?;
        done += 1;
    }
    Ok((
        done as f64 / duration.as_secs_f64(),
        "rusqlite, one connection, one transaction per request, synchronous = FULL".into(),
    ))
}

/// 32 tokio-postgres connections into the server's schema, each request
/// one transaction: the scope's sequence, then the 100 records and the
/// 100 answers as one multi-row statement each (`unnest` of arrays).
async fn raw_postgres(
    server: &TestServer,
    duration: Duration,
    sizes: RowSizes,
) -> anyhow::Result<(f64, String)> {
    let (url, schema) = server
        .postgres_schema()
        .ok_or_else(|| anyhow::anyhow!("not postgres"))?;
    let stop_at = Instant::now() + duration;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (url, schema) = (url.to_owned(), schema.to_owned());
        tasks.push(tokio::spawn(async move {
            let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            client.batch_execute(&format!("SET search_path = {schema}")).await?;
            let scope_next = client.prepare("INSERT INTO sync_scopes (scope, seq) VALUES ($1, $2) ON CONFLICT (scope) DO UPDATE SET seq = sync_scopes.seq + $2 RETURNING seq").await?;
            let records = client.prepare("INSERT INTO sync_records (collection, record_id, scope, seq, fields, deleted, updated_at) SELECT 'appointments', id, $1, seq, fields, NULL, 0 FROM unnest($2::text[], $3::bigint[], $4::text[]) AS r(id, seq, fields) ON CONFLICT (collection, record_id) DO UPDATE SET seq = excluded.seq, fields = excluded.fields, deleted = excluded.deleted, updated_at = excluded.updated_at WHERE sync_records.scope = excluded.scope").await?;
            let answers = client.prepare("INSERT INTO sync_mutations (user_id, client_id, client_seq, result, created_at) SELECT $1, $2, n, result, 0 FROM unnest($3::bigint[], $4::text[]) AS a(n, result)").await?;
            let scope = format!("raw:{c}");
            let mut done = 0u64;
            let mut salt = (c as u64) << 40;
            while Instant::now() < stop_at {
                let tx = client.transaction().await?;
                let seq: i64 = tx.query_one(&scope_next, &[&scope, &(RECORDS as i64)]).await?.get(0);
                let ids: Vec<String> = (0..RECORDS).map(|_| uuid::Uuid::now_v7().to_string()).collect();
                let seqs: Vec<i64> = (0..RECORDS as i64).map(|i| seq - RECORDS as i64 + 1 + i).collect();
                let fields: Vec<String> = (0..RECORDS).map(|_| { salt += 1; filler(sizes.fields, salt) }).collect();
                tx.execute(&records, &[&scope, &ids, &seqs, &fields]).await?;
                let ns: Vec<i64> = (1..=RECORDS as i64).collect();
                let results: Vec<String> = (0..RECORDS).map(|_| { salt += 1; filler(sizes.result, salt) }).collect();
                tx.execute(&answers, &[&scope, &uuid::Uuid::new_v4().to_string(), &ns, &results]).await?;
                tx.commit().await?;
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await??;
    }
    Ok((
        done as f64 / duration.as_secs_f64(),
        format!("tokio-postgres, {CLIENTS} connections, multi-row statements"),
    ))
}
