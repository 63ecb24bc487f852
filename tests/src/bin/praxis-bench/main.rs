//! `cargo xtask bench`: runs the benchmarks against a real server on
//! loopback and writes `target/bench-report.md` and `target/bench-report.json`.
//!
//! Benchmarks measure; they assert nothing about timings. Server and load
//! generator share the machine's cores, which the report states.

mod feed;
mod lifecycle;
mod polygons;
mod push;
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use praxis_core::protocol::location::{Geofence, GeofenceIndex, LatLon};
use praxis_server::clock::Clock as _;
use praxis_tests::{Backend, TestServer, Transport, postgres_url};
use serde_json::{Value, json};

/// One measured value.
#[derive(Clone)]
struct Metric {
    name: String,
    value: f64,
    unit: &'static str,
    note: String,
    /// The same measurement of the baseline, in the same run.
    baseline: Option<f64>,
    /// DESIGN.md §11 budget, if there is one.
    budget: Option<Budget>,
}

/// A budget from DESIGN.md §11.
#[derive(Clone, Copy)]
enum Budget {
    /// value / baseline must be at least this.
    MinRatio(f64),
    /// value must be at most this.
    Max(f64),
    /// value must be at least this.
    Min(f64),
}

impl Metric {
    fn new(
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        note: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            value,
            unit,
            note: note.into(),
            baseline: None,
            budget: None,
        }
    }

    fn ratio(&self) -> Option<f64> {
        self.baseline.map(|b| self.value / b)
    }

    fn within(&self) -> Option<bool> {
        match self.budget? {
            Budget::MinRatio(r) => self.ratio().map(|x| x >= r),
            Budget::Max(m) => Some(self.value <= m),
            Budget::Min(m) => Some(self.value >= m),
        }
    }

    fn budget_text(&self) -> String {
        match self.budget {
            Some(Budget::MinRatio(r)) => format!(">= {r}x baseline"),
            Some(Budget::Max(m)) => format!("<= {m} {}", self.unit),
            Some(Budget::Min(m)) => format!(">= {m} {}", self.unit),
            None => String::new(),
        }
    }
}

struct Options {
    quick: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--sync-client") {
        return sync_client(&args[2], &args[3], &args[4]).await;
    }
    if args.get(1).map(String::as_str) == Some("--idle-streams") {
        return feed::idle_streams_child(&args[2], &args[3]).await;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let opts = Options { quick };
    // `PRAXIS_BENCH_ONLY=location,sync` runs some sections (all by default).
    let only = std::env::var("PRAXIS_BENCH_ONLY").ok();
    let on = |section: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s.trim() == section))
    };
    let mut metrics = Vec::new();
    let backends: Vec<Backend> = [Backend::Sqlite, Backend::Postgres]
        .into_iter()
        .filter(|b| {
            let ok = *b == Backend::Sqlite || postgres_url().is_some();
            if !ok {
                eprintln!("bench: PostgreSQL not configured; its rows are left out");
            }
            ok
        })
        .collect();
    if on("me") {
        for backend in &backends {
            metrics.extend(get_me_load(*backend, &opts).await?);
        }
    }
    if on("login") {
        metrics.extend(login_benchmarks(&opts).await?);
    }
    if on("sync") {
        metrics.extend(sync_benchmarks(&opts).await?);
    }
    if on("live") {
        metrics.extend(live_benchmarks(&backends, &opts).await?);
    }
    if on("feed") {
        metrics.extend(feed::idle_streams(&opts).await?);
        metrics.extend(feed::policy_fan_out(&backends, &opts).await?);
    }
    if on("lifecycle") {
        metrics.extend(lifecycle::reset_requests(&opts).await?);
        metrics.extend(lifecycle::sessions_list(&opts).await?);
        metrics.extend(lifecycle::retention(&backends, &opts).await?);
    }
    if on("push") {
        for backend in &backends {
            metrics.extend(push::push_benchmarks(*backend, &opts).await?);
        }
    }
    if on("tls") {
        metrics.extend(tls::tls_benchmarks(&opts).await?);
    }
    if on("polygons") {
        metrics.extend(polygons::validation_cost());
        for backend in &backends {
            metrics.extend(polygons::interference(*backend, &opts).await?);
        }
    }
    if on("contacts") {
        metrics.extend(contact_benchmarks(&opts).await?);
    }
    if on("location") {
        metrics.extend(location_benchmarks(&opts).await?);
    }
    if on("cache") {
        metrics.extend(criterion_cache());
    }
    if on("ffi") {
        metrics.extend(ffi_metrics());
    }
    write_report(&metrics, &opts)?;
    Ok(())
}

/// Authenticated `GET /v1/me` from 32 concurrent connections.
async fn get_me_load(backend: Backend, opts: &Options) -> anyhow::Result<Vec<Metric>> {
    const CONNECTIONS: usize = 32;
    let (warmup, duration) = if opts.quick {
        (Duration::from_millis(300), Duration::from_secs(2))
    } else {
        (Duration::from_secs(2), Duration::from_secs(15))
    };
    let server = TestServer::start(backend, Transport::Http)
        .await
        .ok_or_else(|| anyhow::anyhow!("backend unavailable"))?;
    let user = server.user("bench").await;
    let url = format!("{}/v1/me", server.base_url().expect("http transport"));
    let token = Arc::new(format!("Bearer {}", user.access));
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + duration;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        // One client per task: one keep-alive connection each.
        let client = praxis_tests::http_client();
        let (url, token) = (url.clone(), Arc::clone(&token));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            loop {
                let t = Instant::now();
                if t >= stop_at {
                    break;
                }
                let ok = client
                    .get(&url)
                    .header("authorization", token.as_str())
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                let done = Instant::now();
                if t >= measure_from {
                    if ok {
                        lat.push(done - t);
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let (all, errors) = gather(tasks).await?;
    let pct = |p: f64| percentile_ms(&all, p);
    let name = backend_name(backend);
    let note = format!(
        "{CONNECTIONS} connections, {}s, {} errors",
        duration.as_secs(),
        errors
    );
    Ok(vec![
        Metric::new(
            format!("server GET /v1/me ({name}) throughput"),
            all.len() as f64 / duration.as_secs_f64(),
            "req/s",
            &note,
        ),
        Metric::new(
            format!("server GET /v1/me ({name}) latency p50"),
            pct(0.50),
            "ms",
            &note,
        ),
        Metric::new(
            format!("server GET /v1/me ({name}) latency p99"),
            pct(0.99),
            "ms",
            &note,
        ),
    ])
}

/// Login with the blind-index lookup: the lookup alone against a plain
/// email index in the same database (the cost of not storing emails in
/// clear), and whole logins over HTTP (argon2id dominates).
async fn login_benchmarks(opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let (users, rounds, duration) = if opts.quick {
        (200, 2, Duration::from_secs(2))
    } else {
        (2_000, 10, Duration::from_secs(10))
    };
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .ok_or_else(|| anyhow::anyhow!("sqlite unavailable"))?;
    let store = server.state.store();
    let now = server.clock.now();
    let mut emails = Vec::with_capacity(users);
    let db = store.db().clone();
    let mut tx = db.begin().await?;
    tx.batch("CREATE TABLE bench_plain_emails (email TEXT PRIMARY KEY, id TEXT NOT NULL)".into())
        .await?;
    tx.commit().await?;
    for i in 0..users {
        let id = uuid::Uuid::new_v4();
        let email = format!("login{i}@bench-example.org");
        bench_account(store, id, &email, &format!("Bench Login {i}"), now).await?;
        let mut tx = db.begin().await?;
        tx.execute(
            "INSERT INTO bench_plain_emails (email, id) VALUES (?1, ?2)",
            vec![email.clone().into(), id.into()],
        )
        .await?;
        tx.commit().await?;
        emails.push(email);
    }
    let lookups = (users * rounds) as f64;
    let t = Instant::now();
    for _ in 0..rounds {
        for e in &emails {
            store
                .credentials(e)
                .await?
                .ok_or_else(|| anyhow::anyhow!("lookup"))?;
        }
    }
    let blind = lookups / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..rounds {
        for e in &emails {
            let rows = db
                .query(
                    "SELECT id FROM bench_plain_emails WHERE email = ?1",
                    vec![e.as_str().into()],
                )
                .await?;
            anyhow::ensure!(!rows.is_empty(), "plain lookup");
        }
    }
    let plain = lookups / t.elapsed().as_secs_f64();
    let mut lookup = Metric::new(
        "login lookup by email: blind index (HMAC-SHA256 + index)",
        blind,
        "lookups/s",
        format!("{users} accounts, SQLite; baseline: the same lookup on a plain email index"),
    );
    lookup.baseline = Some(plain);

    // Whole logins over HTTP, 4 at a time, one account each (one account's
    // parallel attempts are capped by the throttle's reservation, by design).
    let url = format!("{}/v1/sessions", server.base_url().expect("http"));
    let stop_at = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let person = praxis_tests::person("loginbench");
        server.register(&person).await;
        let body = serde_json::json!({
            "email": person["email"], "password": person["password"],
        });
        let client = praxis_tests::http_client();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < stop_at {
                let t = Instant::now();
                let ok = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if ok {
                    lat.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let (all, errors) = gather(tasks).await?;
    let note = format!(
        "4 concurrent, {}s, {errors} errors, argon2id m=19 MiB t=2",
        duration.as_secs()
    );
    let storm = login_storm(&server, opts, duration).await?;
    Ok([
        lookup,
        Metric::new(
            "server login (POST /v1/sessions, SQLite) throughput",
            all.len() as f64 / duration.as_secs_f64(),
            "logins/s",
            &note,
        ),
        Metric::new(
            "server login latency p50",
            percentile_ms(&all, 0.5),
            "ms",
            &note,
        ),
    ]
    .into_iter()
    .chain(storm)
    .collect())
}

/// A login storm: many clients at once (200; 50 in quick mode), each with
/// its own account and connection, sending the next attempt as soon as
/// the last is answered. The hashing cap lets a core's worth through at a
/// time and turns the rest away after a short queue (`503` with
/// `Retry-After`): the logins completed, the attempts turned away, the
/// completed ones' latency, and the server's peak memory growth meanwhile
/// (the server runs in this process; the peak is reset first).
async fn login_storm(
    server: &TestServer,
    opts: &Options,
    duration: Duration,
) -> anyhow::Result<Vec<Metric>> {
    let clients = if opts.quick { 50 } else { 200 };
    let url = format!("{}/v1/sessions", server.base_url().expect("http"));
    let mut bodies = Vec::with_capacity(clients);
    for _ in 0..clients {
        let person = praxis_tests::person("storm");
        server.register(&person).await;
        bodies.push(serde_json::json!({
            "email": person["email"], "password": person["password"],
        }));
    }
    let before = rss_kib().unwrap_or(0);
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let stop_at = Instant::now() + duration;
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let client = praxis_tests::http_client();
            let url = url.clone();
            tokio::spawn(async move {
                let (mut lat, mut shed, mut errors) = (Vec::new(), 0u64, 0u64);
                while Instant::now() < stop_at {
                    let t = Instant::now();
                    match client.post(&url).json(&body).send().await {
                        Ok(r) if r.status().is_success() => lat.push(t.elapsed()),
                        Ok(r) if r.status() == 503 || r.status() == 429 => shed += 1,
                        _ => errors += 1,
                    }
                }
                (lat, shed, errors)
            })
        })
        .collect();
    let (mut all, mut shed, mut errors) = (Vec::new(), 0u64, 0u64);
    for t in tasks {
        let (lat, s, e) = t.await?;
        all.extend(lat);
        shed += s;
        errors += e;
    }
    all.sort();
    let grew = peak_rss_kib().unwrap_or(0).saturating_sub(before);
    let secs = duration.as_secs_f64();
    let note = format!(
        "{clients} clients at once, {}s; {shed} attempts turned away (503/429), {errors} other errors",
        duration.as_secs()
    );
    Ok(vec![
        Metric::new(
            format!("login storm, {clients} concurrent: logins completed"),
            all.len() as f64 / secs,
            "logins/s",
            &note,
        ),
        Metric::new(
            format!("login storm, {clients} concurrent: turned away"),
            shed as f64 / secs,
            "attempts/s",
            &note,
        ),
        Metric::new(
            format!("login storm, {clients} concurrent: completed p99"),
            percentile_ms(&all, 0.99),
            "ms",
            &note,
        ),
        Metric::new(
            format!("login storm, {clients} concurrent: peak memory growth"),
            grew as f64 / 1024.0,
            "MiB",
            "server and clients in the bench process; argon2id takes 19 MiB per hash in flight",
        ),
    ])
}

/// What each load task returns: its latencies and its error count.
type Latencies = (Vec<Duration>, u64);

/// Joins the load tasks: every latency, sorted, and the errors.
async fn gather(tasks: Vec<tokio::task::JoinHandle<Latencies>>) -> anyhow::Result<Latencies> {
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await?;
        all.extend(lat);
        errors += e;
    }
    all.sort();
    Ok((all, errors))
}

/// The `p` quantile of sorted latencies, in milliseconds (NaN if none).
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// Median of a criterion benchmark in seconds, and the elements per
/// iteration it declared, from its result files.
fn criterion_median(group: &str, bench: &str) -> Option<(f64, Option<f64>)> {
    let dir = target_dir()
        .join("criterion")
        .join(group)
        .join(bench)
        .join("new");
    let read = |f: &str| -> Option<Value> {
        serde_json::from_slice(&std::fs::read(dir.join(f)).ok()?).ok()
    };
    let median = read("estimates.json")?["median"]["point_estimate"].as_f64()? / 1e9;
    let elements = read("benchmark.json").and_then(|b| b["throughput"]["Elements"].as_f64());
    Some((median, elements))
}

/// The cache benchmarks (`cargo bench -p praxis-core --bench cache`, run by
/// xtask just before): encrypted vs plain rusqlite, and open times.
fn criterion_cache() -> Vec<Metric> {
    let mut out = Vec::new();
    for (group, what, budget) in [("cache_insert", "insert", 0.8), ("cache_read", "read", 0.6)] {
        let (Some((enc, Some(n))), Some((plain, _))) = (
            criterion_median(group, "encrypted"),
            criterion_median(group, "plain"),
        ) else {
            continue;
        };
        let mut m = Metric::new(
            format!("encrypted cache {what} throughput"),
            n / enc,
            "records/s",
            format!(
                "{n} records of ~200 bytes, one transaction; baseline plain rusqlite, same schema"
            ),
        );
        m.baseline = Some(n / plain);
        m.budget = Some(Budget::MinRatio(budget));
        out.push(m);
    }
    if let Some((raw, _)) = criterion_median("cache_open", "raw_key") {
        let mut m = Metric::new(
            "cache open, raw key provider",
            raw * 1e3,
            "ms",
            "existing database, migrations, key unwrap",
        );
        m.budget = Some(Budget::Max(50.0));
        out.push(m);
    }
    if let Some((pass, _)) = criterion_median("cache_open", "passphrase") {
        out.push(Metric::new(
            "cache open, passphrase provider",
            pass * 1e3,
            "ms",
            "PBKDF2-HMAC-SHA256, 600,000 iterations",
        ));
    }
    if out.is_empty() {
        eprintln!(
            "bench: no criterion results found; run `cargo bench -p praxis-core --bench cache` first"
        );
    }
    out
}

/// The JNA round trip (written by the Kotlin benchmark run by xtask) and
/// the size of the stripped `mobile`-profile cdylib.
fn ffi_metrics() -> Vec<Metric> {
    let mut out = Vec::new();
    let jna: Option<Value> = std::fs::read(target_dir().join("jna-bench.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(j) = jna {
        let lib = j["library"].as_str().unwrap_or("?").to_owned();
        let note = format!(
            "{} calls after warm-up, JVM 17 + JNA, library in {lib}",
            j["calls"]
        );
        for (key, what, budget) in [
            (
                "bool_p50_us",
                "Kotlin -> core call (Boolean) p50",
                Some(10.0),
            ),
            ("bool_p99_us", "Kotlin -> core call (Boolean) p99", None),
            (
                "record_p50_us",
                "Kotlin -> core call (record via RustBuffer) p50",
                None,
            ),
            (
                "record_p99_us",
                "Kotlin -> core call (record via RustBuffer) p99",
                None,
            ),
        ] {
            if let Some(v) = j[key].as_f64() {
                let mut m = Metric::new(what, v, "us", &note);
                m.budget = budget.map(Budget::Max);
                out.push(m);
            }
        }
    }
    let lib = target_dir().join("mobile/libpraxis_ffi.so");
    if let Ok(meta) = std::fs::metadata(&lib) {
        let mut m = Metric::new(
            "stripped cdylib size (mobile profile, x86_64)",
            meta.len() as f64 / (1024.0 * 1024.0),
            "MiB",
            "LTO, codegen-units=1, opt-level=s, stripped, relative relocations packed (RELR; the NDK packs them too, in Android's format at minSdk 26); proxy for arm64",
        );
        m.budget = Some(Budget::Max(5.0));
        out.push(m);
    }
    out
}

/// Peak resident set size of this process, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Child process mode: a fresh device signs in and runs its initial sync;
/// prints the time of the sync and the process's peak RSS as JSON.
async fn sync_client(url: &str, email: &str, password: &str) -> anyhow::Result<()> {
    use praxis_core::cache::{KeyProvider, RawKeyProvider};
    let dir = tempfile::tempdir()?;
    let key: Arc<dyn KeyProvider> = Arc::new(RawKeyProvider::new([9; 32]));
    let client =
        praxis_core::PraxisClient::open(praxis_core::ClientConfig::new(url, dir.path(), key))
            .await?;
    client.account().login(email, password).await?;
    let started = Instant::now();
    let status = client.sync().sync_now("bench").await?;
    let secs = started.elapsed().as_secs_f64();
    // Peak RSS of the sync itself, before this bench loads every record
    // to count them.
    let peak = peak_rss_kib();
    let records = client.appointments().list().await?.len();
    println!(
        "{}",
        json!({ "records": records, "secs": secs, "state": format!("{:?}", status.state), "peak_rss_kib": peak })
    );
    Ok(())
}

/// N new appointments as push mutations, in batches of 100.
/// Batches of `n` new visits stamped a minute before `now` (the server's
/// time: a stamp more than a day ahead of it is refused).
/// Ids are UUIDv7, as the core gives new records.
fn create_batches(n: usize, tag: &str, now: chrono::DateTime<chrono::Utc>) -> Vec<Value> {
    create_batches_with(n, tag, now, uuid::Uuid::now_v7)
}

/// [`create_batches`] with ids from `new_id`.
fn create_batches_with(
    n: usize,
    tag: &str,
    now: chrono::DateTime<chrono::Utc>,
    new_id: fn() -> uuid::Uuid,
) -> Vec<Value> {
    let t = format!("{:013}-000000-bench", now.timestamp_millis() - 60_000);
    let f = |v: Value| json!({ "v": v, "t": t });
    (0..n)
        .collect::<Vec<_>>()
        .chunks(100)
        .map(|chunk| {
            let mutations: Vec<Value> = chunk
                .iter()
                .map(|i| {
                    json!({
                        "client_seq": i + 1,
                        "collection": "appointments",
                        "id": new_id().to_string(),
                        "fields": {
                            "title": f(json!(format!("{tag} visit {i}: wound dressing and medication review"))),
                            "patient_label": f(json!(format!("P-{i:06}"))),
                            "start": f(json!("2026-11-23T09:00:00Z")),
                            "duration_min": f(json!(30)),
                            "status": f(json!("scheduled")),
                            "address": f(json!(format!("{} rue des Lilas, 59000 Lille", i % 300))),
                        }
                    })
                })
                .collect();
            json!({ "client_id": uuid::Uuid::new_v4().to_string(), "mutations": mutations })
        })
        .collect()
}

async fn push_all(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    batches: &[Value],
) -> anyhow::Result<()> {
    for b in batches {
        let r = client
            .post(format!("{url}/v1/sync/push"))
            .bearer_auth(token)
            .json(b)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "push failed: {}", r.status());
        // Every mutation must be applied: a benchmark of refusals measures
        // nothing.
        let answer: Value = r.json().await?;
        let refused = answer["results"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|x| x["status"] != "applied").count());
        anyhow::ensure!(refused == 0, "{refused} mutations not applied: {answer}");
    }
    Ok(())
}

/// Runs [`sync_client`] in a child process for `user`; its JSON answer.
async fn run_sync_client(url: &str, user: &praxis_tests::TestUser) -> anyhow::Result<Value> {
    let child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["--sync-client", url, &user.email, &user.password])
        .output()
        .await?;
    anyhow::ensure!(
        child.status.success(),
        "sync client failed: {}",
        String::from_utf8_lossy(&child.stderr)
    );
    Ok(serde_json::from_slice(&child.stdout)?)
}

/// Records/s of the device's encrypted cache inserting the records of
/// `batches` (as the sync stores them: fields with their stamps, the
/// server version) in one transaction, into a fresh cache file.
fn cache_bulk_insert_rate(batches: &[Value]) -> anyhow::Result<f64> {
    use praxis_core::cache::{Cache, RawKeyProvider, RecordMeta};
    use praxis_core::sync::plan::LocalRecord;
    let records: Vec<(String, LocalRecord)> = batches
        .iter()
        .flat_map(|b| b["mutations"].as_array().cloned().unwrap_or_default())
        .map(|m| {
            let fields = serde_json::from_value(m["fields"].clone())?;
            let id = m["id"].as_str().unwrap_or_default().to_owned();
            Ok((
                id,
                LocalRecord {
                    fields,
                    deleted: None,
                },
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(
        &dir.path().join("cache.db"),
        Arc::new(RawKeyProvider::new([7; 32])),
    )?;
    let started = Instant::now();
    cache.transaction(|tx| {
        for (i, (id, r)) in records.iter().enumerate() {
            let meta = RecordMeta {
                server_version: Some(i as i64 + 1),
                ..RecordMeta::default()
            };
            tx.put("appointments", id, r, meta)?;
        }
        Ok(())
    })?;
    Ok(records.len() as f64 / started.elapsed().as_secs_f64())
}

/// Initial sync of many records into a fresh device (separate process, so
/// its peak RSS is the client's alone), bytes per record on the wire, and
/// edit-to-visible latency between two online devices.
async fn sync_benchmarks(opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let n = if opts.quick { 10_000 } else { 100_000 };
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .ok_or_else(|| anyhow::anyhow!("server"))?;
    let url = server.base_url().expect("http").to_owned();
    let user = server.user("syncbench").await;
    let http = praxis_tests::http_client();
    let batches = create_batches(n, "bench", server.clock.now());
    push_all(&http, &url, &user.access, &batches).await?;
    let mut out = Vec::new();

    let r = run_sync_client(&url, &user).await?;
    let secs = r["secs"].as_f64().unwrap_or(f64::NAN);
    let records = r["records"].as_f64().unwrap_or(0.0);
    let note = format!(
        "{records} appointments, fresh device, core + server on loopback, SQLite server; baseline: the same records bulk-inserted into the device's encrypted cache (one transaction)"
    );
    let mut m = Metric::new(
        "initial sync throughput",
        records / secs,
        "records/s",
        &note,
    );
    m.baseline = Some(cache_bulk_insert_rate(&batches)?);
    m.budget = Some(Budget::MinRatio(0.2));
    out.push(m.clone());
    out.push(Metric {
        name: "initial sync throughput (absolute)".into(),
        baseline: None,
        budget: Some(Budget::Min(50_000.0)),
        note: format!("{records} appointments, UUIDv7 ids as the core creates them"),
        ..m
    });
    // Records created before the core gave time-ordered ids arrive in
    // random key order.
    let legacy = server.user("syncbench-v4").await;
    push_all(
        &http,
        &url,
        &legacy.access,
        &create_batches_with(n, "bench", server.clock.now(), uuid::Uuid::new_v4),
    )
    .await?;
    let r4 = run_sync_client(&url, &legacy).await?;
    out.push(Metric::new(
        "initial sync throughput, random (v4) ids",
        r4["records"].as_f64().unwrap_or(0.0) / r4["secs"].as_f64().unwrap_or(f64::NAN),
        "records/s",
        "same, records created with random UUIDv4 ids (as before the core used UUIDv7)",
    ));
    if let Some(kib) = r["peak_rss_kib"].as_f64() {
        let mut m = Metric::new(
            "initial sync client peak RSS",
            kib / 1024.0,
            "MiB",
            format!("{records} appointments, the sync client process"),
        );
        m.budget = Some(Budget::Max(100.0));
        out.push(m);
    }

    // Bytes on the wire: one page, gzip-compressed as the server sends it.
    let raw = praxis_tests::http_client_builder().no_gzip().build()?;
    let page = raw
        .post(format!("{url}/v1/sync/pull"))
        .bearer_auth(&user.access)
        .header("accept-encoding", "gzip")
        .json(&json!({ "limit": 1000 }))
        .send()
        .await?;
    let compressed = page
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let wire = page.bytes().await?.len() as f64;
    let plain = http
        .post(format!("{url}/v1/sync/pull"))
        .bearer_auth(&user.access)
        .json(&json!({ "limit": 1000 }))
        .send()
        .await?
        .bytes()
        .await?
        .len() as f64;
    out.push(Metric::new(
        "pull bytes on the wire per record",
        wire / 1000.0,
        "bytes",
        format!(
            "page of 1000, gzip={compressed}; uncompressed {:.0} bytes/record",
            plain / 1000.0
        ),
    ));

    // Edit to visible: device A edits and syncs, device B syncs and sees it.
    let small = server.user("edit2visible").await;
    push_all(
        &http,
        &url,
        &small.access,
        &create_batches(100, "e2v", server.clock.now()),
    )
    .await?;
    let (a, _da) = bench_device(&url, &small.email, &small.password, 1).await?;
    let (b, _db) = bench_device(&url, &small.email, &small.password, 2).await?;
    let id = a.appointments().list().await?[0].id;
    let mut samples = Vec::new();
    for i in 0..20 {
        let title = format!("edited {i}");
        let t = Instant::now();
        a.appointments()
            .update(
                id,
                praxis_core::AppointmentPatch {
                    title: Some(title.clone()),
                    ..Default::default()
                },
            )
            .await?;
        a.sync().sync_now("bench").await?;
        b.sync().sync_now("bench").await?;
        let seen = b
            .appointments()
            .get(id)
            .await?
            .is_some_and(|x| x.title == title);
        anyhow::ensure!(seen, "edit not visible on the second device");
        samples.push(t.elapsed());
    }
    samples.sort();
    let mut m = Metric::new(
        "edit to visible on a second device (median)",
        samples[samples.len() / 2].as_secs_f64() * 1e3,
        "ms",
        "local write, push from A, pull on B; 20 edits, both online, loopback",
    );
    m.budget = Some(Budget::Max(1000.0));
    out.push(m);
    out.extend(export_benchmark(&url, &user.access, n).await?);
    Ok(out)
}

/// A core client signed in on its own encrypted cache, synced once.
async fn bench_device(
    url: &str,
    email: &str,
    password: &str,
    key: u8,
) -> anyhow::Result<(Arc<praxis_core::PraxisClient>, tempfile::TempDir)> {
    use praxis_core::cache::{KeyProvider, RawKeyProvider};
    let dir = tempfile::tempdir()?;
    let key: Arc<dyn KeyProvider> = Arc::new(RawKeyProvider::new([key; 32]));
    let c = praxis_core::PraxisClient::open(praxis_core::ClientConfig::new(url, dir.path(), key))
        .await?;
    c.account().login(email, password).await?;
    c.sync().sync_now("bench").await?;
    Ok((c, dir))
}

/// Edit to visible with the live driver: device A edits and syncs; device
/// B only runs the live driver (no `sync_now`), and the clock stops when
/// B's cache holds the edit. On each backend, and across two replicas of
/// one PostgreSQL database (A on one, B on the other).
async fn live_benchmarks(backends: &[Backend], opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let edits = if opts.quick { 20 } else { 100 };
    let mut out = Vec::new();
    let mut setups: Vec<(Backend, bool)> = backends.iter().map(|b| (*b, false)).collect();
    if backends.contains(&Backend::Postgres) {
        setups.push((Backend::Postgres, true));
    }
    for (backend, across) in setups {
        let server = TestServer::start(backend, Transport::Http)
            .await
            .ok_or_else(|| anyhow::anyhow!("server"))?;
        let url = server.base_url().expect("http").to_owned();
        let replica = if across {
            Some(server.replica().await)
        } else {
            None
        };
        let b_url = replica.as_ref().map_or(url.clone(), |r| r.base.clone());
        let u = server.user("live").await;
        let (a, _da) = bench_device(&url, &u.email, &u.password, 1).await?;
        let id = a
            .appointments()
            .create(praxis_core::NewAppointment {
                title: "live".into(),
                patient_label: None,
                start: server.clock.now() + chrono::Duration::days(1),
                duration_min: 30,
                address: None,
                point: None,
                geofence: None,
            })
            .await?;
        a.sync().sync_now("bench").await?;
        let (b, _db) = bench_device(&b_url, &u.email, &u.password, 2).await?;
        let live = b
            .sync()
            .spawn_live(praxis_core::sync::LiveOptions::default());
        // Connected once the first cycle of the live driver is done.
        let mut status = b.sync().subscribe();
        let connected = status.borrow_and_update().last_success;
        tokio::time::timeout(Duration::from_secs(10), async {
            while status.borrow_and_update().last_success == connected {
                let _ = status.changed().await;
            }
        })
        .await?;
        let mut samples = Vec::new();
        for i in 0..edits {
            let title = format!("edited {i}");
            let t = Instant::now();
            a.appointments()
                .update(
                    id,
                    praxis_core::AppointmentPatch {
                        title: Some(title.clone()),
                        ..Default::default()
                    },
                )
                .await?;
            a.sync().sync_now("bench").await?;
            tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    if b.appointments()
                        .get(id)
                        .await?
                        .is_some_and(|x| x.title == title)
                    {
                        return anyhow::Ok(());
                    }
                    let _ = tokio::time::timeout(Duration::from_millis(5), status.changed()).await;
                }
            })
            .await??;
            samples.push(t.elapsed());
        }
        live.abort();
        if let Some(r) = replica {
            r.stop().await;
        }
        samples.sort();
        let name = if across {
            "postgres, two replicas".to_owned()
        } else {
            backend_name(backend).to_owned()
        };
        let note = format!(
            "local write and push on A, B only runs the live driver; {edits} edits, loopback"
        );
        let mut p50 = Metric::new(
            format!("live edit to visible, {name} (p50)"),
            percentile_ms(&samples, 0.5),
            "ms",
            note.clone(),
        );
        p50.budget = Some(Budget::Max(100.0));
        let mut p99 = Metric::new(
            format!("live edit to visible, {name} (p99)"),
            percentile_ms(&samples, 0.99),
            "ms",
            note,
        );
        p99.budget = Some(Budget::Max(1000.0));
        out.extend([p50, p99]);
    }
    Ok(out)
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The export of a user with `n` visits, from the server in this process:
/// time, and how much the process's peak memory grew while streaming it
/// (the peak is reset first through /proc/self/clear_refs).
async fn export_benchmark(url: &str, token: &str, n: usize) -> anyhow::Result<Vec<Metric>> {
    let before = rss_kib().unwrap_or(0);
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let t = Instant::now();
    let mut res = praxis_tests::http_client()
        .get(format!("{url}/v1/me/export"))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(res.status().is_success(), "export: {}", res.status());
    let mut bytes = 0usize;
    while let Some(chunk) = res.chunk().await? {
        bytes += chunk.len();
    }
    let secs = t.elapsed().as_secs_f64();
    let grew = peak_rss_kib().unwrap_or(0).saturating_sub(before);
    Ok(vec![
        Metric::new(
            "export of a user's data",
            secs * 1000.0,
            "ms",
            format!(
                "{n} visits, {:.1} MiB of JSON, streamed",
                bytes as f64 / 1_048_576.0
            ),
        ),
        Metric::new(
            "peak memory growth while exporting",
            grew as f64 / 1024.0,
            "MiB",
            "server and reader in the bench process; the document is never held whole",
        ),
    ])
}

/// splitmix64: a deterministic stream for generated inputs.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// A valid random circle or star-shaped polygon within ~50 km of Paris.
fn random_fence(rng: &mut SplitMix) -> Geofence {
    loop {
        let lat = rng.range(48.625, 49.075);
        let lon = rng.range(2.01, 2.69);
        let size_m = rng.range(50.0, 1_000.0);
        let fence = if rng.next_u64() & 1 == 0 {
            Geofence::Circle {
                lat,
                lon,
                radius_m: size_m,
            }
        } else {
            let n = 3 + (rng.next_u64() % 10) as usize;
            let mut angles: Vec<f64> = (0..n)
                .map(|_| rng.range(0.0, std::f64::consts::TAU))
                .collect();
            angles.sort_by(f64::total_cmp);
            let mut points: Vec<LatLon> = angles
                .iter()
                .map(|a| {
                    let r = rng.range(0.2, 1.0) * size_m / 111_195.0;
                    LatLon {
                        lat: lat + r * a.cos(),
                        lon: lon + r * a.sin() / lat.to_radians().cos(),
                    }
                })
                .collect();
            points.push(points[0]);
            Geofence::Polygon { points }
        };
        if fence.validate().is_ok() {
            return fence;
        }
    }
}

/// Geofence evaluation (R-tree vs testing every fence) and the cost of the
/// two-gate check per fix: the pure rule, and the device's full check
/// (reading policy and consents from the encrypted cache).
async fn location_benchmarks(opts: &Options) -> anyhow::Result<Vec<Metric>> {
    use std::hint::black_box;
    let fixes_n = if opts.quick { 10_000 } else { 100_000 };
    let brute_n = if opts.quick { 1_000 } else { 10_000 };
    let mut rng = SplitMix(2026);
    let fences: Vec<Geofence> = (0..1_000).map(|_| random_fence(&mut rng)).collect();
    let fixes: Vec<(f64, f64)> = (0..fixes_n)
        .map(|_| (rng.range(48.625, 49.075), rng.range(2.01, 2.69)))
        .collect();
    let index = GeofenceIndex::new(fences.iter().cloned().enumerate().collect());
    let t = Instant::now();
    let mut hits = 0usize;
    for &(lat, lon) in &fixes {
        hits += black_box(index.containing(lat, lon).count());
    }
    let indexed = fixes_n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut brute_hits = 0usize;
    for &(lat, lon) in &fixes[..brute_n] {
        brute_hits += black_box(fences.iter().filter(|f| f.contains(lat, lon)).count());
    }
    let brute = brute_n as f64 / t.elapsed().as_secs_f64();
    let mut m = Metric::new(
        "geofence evaluation, 1,000 fences (R-tree)",
        indexed,
        "fixes/s",
        format!(
            "{fixes_n} fixes, {hits} hits; baseline: every fence tested ({brute_n} fixes, {brute_hits} hits)"
        ),
    );
    m.baseline = Some(brute);
    let mut out = vec![m];

    // The pure rule: 3 organisations, a 40-entry consent ledger.
    use praxis_core::protocol::location::Precision;
    use praxis_core::protocol::privacy::{Effective, Purpose, consents, gate, org_policy};
    let policies: Vec<_> = (0..3)
        .map(|_| org_policy::MemberPolicy {
            org_id: uuid::Uuid::new_v4(),
            location_visits: true,
            location_sharing: true,
            max_precision: Precision::Precise,
            retention_days: 7,
            member_enabled: true,
        })
        .collect();
    let ledger: Vec<consents::Entry> = (0..40)
        .map(|i| consents::Entry {
            id: format!("{i:04}"),
            purpose: Purpose::ALL[i % 4],
            granted: i % 3 != 0,
            policy_version: 1,
            at: chrono::DateTime::from_timestamp(1_800_000_000 + i as i64, 0).unwrap_or_default(),
            device: "bench".into(),
            order: 0,
        })
        .collect();
    let n = if opts.quick { 100_000 } else { 1_000_000 };
    let t = Instant::now();
    for _ in 0..n {
        let e = Effective::of(black_box(&policies));
        black_box(gate(
            Purpose::LocationVisits,
            false,
            &e,
            black_box(&ledger),
            1,
            Precision::Approximate,
        ))
        .ok();
    }
    out.push(Metric::new(
        "two-gate rule per fix (pure)",
        t.elapsed().as_nanos() as f64 / n as f64,
        "ns",
        "3 organisation policies, 40 ledger entries",
    ));

    // The device's full check: policy, consents and state read from the
    // encrypted cache, then the rule (what check-in pays per fix). Consent
    // is recorded only for someone signed in.
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .ok_or_else(|| anyhow::anyhow!("server"))?;
    let person = server.user("gates").await;
    let dir = tempfile::tempdir()?;
    let client = praxis_core::PraxisClient::open(praxis_core::ClientConfig::new(
        server.base_url().expect("http"),
        dir.path(),
        Arc::new(praxis_core::cache::RawKeyProvider::new([9; 32]))
            as Arc<dyn praxis_core::cache::KeyProvider>,
    ))
    .await?;
    client
        .account()
        .login(&person.email, &person.password)
        .await?;
    for i in 0..40 {
        let p = Purpose::ALL[i % 4];
        if i % 3 == 0 {
            client.consents().withdraw(p).await?;
        } else {
            client.consents().grant(p).await?;
        }
    }
    let loc = client.location();
    let n = if opts.quick { 200 } else { 2_000 };
    let t = Instant::now();
    for _ in 0..n {
        black_box(loc.permission(Purpose::LocationVisits).await?);
    }
    out.push(Metric::new(
        "two-gate check per fix on the device",
        t.elapsed().as_micros() as f64 / n as f64,
        "µs",
        "reads policy, 40 consents and state from the encrypted cache",
    ));
    Ok(out)
}

/// Creates `n` accounts straight in the store (no password hashing: they
/// never sign in), each with a full card.
/// An account written straight into the store (no password hashing).
async fn bench_account(
    store: &praxis_server::store::Store,
    id: uuid::Uuid,
    email: &str,
    full_name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let user = praxis_server::store::NewUser {
        id,
        email: email.to_owned(),
        password_hash: "x".into(),
        full_name: full_name.to_owned(),
        phone: "+33612345678".into(),
        country: "FR".into(),
        language: "fr".into(),
        profession: "nurse".into(),
        date_of_birth: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap_or_default(),
    };
    Ok(store.create_user(user, now).await?)
}

async fn bench_users(server: &TestServer, n: usize, tag: &str) -> anyhow::Result<Vec<uuid::Uuid>> {
    let store = server.state.store();
    let now = server.clock.now();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = uuid::Uuid::new_v4();
        bench_account(
            store,
            id,
            &format!("{tag}{i}@bench-example.org"),
            &format!("Bench {tag} {i}"),
            now,
        )
        .await?;
        let card = praxis_core::protocol::contacts::ContactCard {
            display_name: format!("Dr {tag} {i}"),
            profession: Some("physician".into()),
            work_phone: Some("+33320554433".into()),
            work_email: Some(format!("{tag}{i}@clinic-example.org")),
            organisation: Some("Cabinet Vauban".into()),
            ..Default::default()
        };
        store.put_card(id, &card, now).await?;
        ids.push(id);
    }
    Ok(ids)
}

/// `owner` invites and `holder` accepts, through the store.
async fn bench_connect(
    server: &TestServer,
    owner: uuid::Uuid,
    holder: uuid::Uuid,
) -> anyhow::Result<()> {
    let store = server.state.store();
    let now = server.clock.now();
    let id = uuid::Uuid::new_v4();
    let hash = id.as_bytes().to_vec();
    let fields: Vec<String> = [
        "display_name",
        "profession",
        "work_phone",
        "work_email",
        "organisation",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    store
        .create_invitation(
            id,
            owner,
            &hash,
            &fields,
            false,
            now,
            now + chrono::Duration::hours(1),
            i64::MAX,
        )
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    store
        .accept_invitation(id, &hash, holder, &fields[..1], false, now)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

/// Received cards into a fresh device, and one owner edit fanned out to
/// every holder (the server's write time).
async fn contact_benchmarks(opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let cards = if opts.quick { 1_000 } else { 10_000 };
    let holders = if opts.quick { 100 } else { 1_000 };
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .ok_or_else(|| anyhow::anyhow!("server"))?;
    let url = server.base_url().expect("http").to_owned();
    let user = server.user("cardbench").await;
    let me: uuid::Uuid = user.id.parse()?;
    for owner in bench_users(&server, cards, "owner").await? {
        bench_connect(&server, owner, me).await?;
    }
    let dir = tempfile::tempdir()?;
    let client = praxis_core::PraxisClient::open(praxis_core::ClientConfig::new(
        &url,
        dir.path(),
        Arc::new(praxis_core::cache::RawKeyProvider::new([5; 32]))
            as Arc<dyn praxis_core::cache::KeyProvider>,
    ))
    .await?;
    client.account().login(&user.email, &user.password).await?;
    let t = Instant::now();
    client.sync().sync_now("bench").await?;
    let secs = t.elapsed().as_secs_f64();
    let got = client.contacts().list().await?.len();
    anyhow::ensure!(got == cards, "synced {got} of {cards} cards");
    let mut out = vec![Metric::new(
        "received cards into a fresh device",
        cards as f64 / secs,
        "cards/s",
        format!("{cards} cards, core + server on loopback, SQLite server"),
    )];

    let owner = bench_users(&server, 1, "star").await?[0];
    for holder in bench_users(&server, holders, "holder").await? {
        bench_connect(&server, owner, holder).await?;
    }
    let card = praxis_core::protocol::contacts::ContactCard {
        display_name: "Dr Star".into(),
        work_phone: Some("+33320000111".into()),
        ..Default::default()
    };
    let t = Instant::now();
    let n = server
        .state
        .store()
        .put_card(owner, &card, server.clock.now())
        .await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(n == holders, "{n} holders updated");
    out.push(Metric::new(
        "one card edit written to every holder",
        ms,
        "ms",
        format!("{holders} holders, one transaction, SQLite"),
    ));
    Ok(out)
}

fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn write_report(metrics: &[Metric], opts: &Options) -> anyhow::Result<()> {
    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
    let mut md = format!(
        "# Praxis benchmark report\n\nMode: {}. Machine: {machine}. Server and load generator share the cores.\n\n| metric | value | unit | baseline | ratio | budget | status | notes |\n|---|---|---|---|---|---|---|---|\n",
        if opts.quick { "quick" } else { "full" }
    );
    let mut rows: Vec<Value> = Vec::new();
    for m in metrics {
        let status = match m.within() {
            Some(true) => "within",
            Some(false) => "OVER",
            None => "",
        };
        md.push_str(&format!(
            "| {} | {:.2} | {} | {} | {} | {} | {} | {} |\n",
            m.name,
            m.value,
            m.unit,
            m.baseline.map_or(String::new(), |b| format!("{b:.2}")),
            m.ratio().map_or(String::new(), |r| format!("{r:.2}x")),
            m.budget_text(),
            status,
            m.note
        ));
        rows.push(json!({
            "metric": m.name, "value": m.value, "unit": m.unit, "baseline": m.baseline,
            "ratio": m.ratio(), "budget": m.budget_text(), "within_budget": m.within(), "notes": m.note,
        }));
    }
    let dir = target_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("bench-report.md"), &md)?;
    std::fs::write(
        dir.join("bench-report.json"),
        serde_json::to_vec_pretty(
            &json!({"mode": if opts.quick {"quick"} else {"full"}, "machine": machine, "metrics": rows}),
        )?,
    )?;
    println!("{md}");
    eprintln!("bench: wrote {}", dir.join("bench-report.md").display());
    Ok(())
}
