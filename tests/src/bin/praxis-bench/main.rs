//! `cargo xtask bench`: runs the benchmarks against a real server on
//! loopback and writes `target/bench-report.md` and `target/bench-report.json`.
//!
//! Benchmarks measure; they assert nothing about timings. Server and load
//! generator share the machine's cores, which the report states.

mod contacts;
mod feed;
mod lifecycle;
mod live;
mod location;
mod login;
mod polygons;
mod push;
mod sync;
mod tls;

use contacts::{bench_account, contact_benchmarks};
use live::{bench_device, live_benchmarks};
use location::location_benchmarks;
use login::login_benchmarks;
use sync::{create_batches, sync_benchmarks, sync_client};

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

/// The server's own allocator (see `server/src/main.rs`): the bench runs
/// the server in this process and measures what production runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
