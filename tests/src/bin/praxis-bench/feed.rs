//! Capacity of the change feed: idle streams held by one server process
//! (memory and CPU at rest), and the fan-out of one organisation policy
//! change to every member's stream.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use praxis_tests::feed::{Stream, open_on};
use praxis_tests::{Backend, TestServer, TestUser, Transport, test_settings};
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};

use crate::{Metric, Options, backend_name, percentile_ms, rss_kib};

/// Password hashes run on the server's hashing threads (one per core);
/// this many registrations in flight keep them busy without queueing
/// past the server's wait.
const SIGN_UPS_IN_FLIGHT: usize = 4;

/// Streams opened at once (the listener's backlog is larger).
const OPENS_IN_FLIGHT: usize = 128;

/// A client for many long-lived streams: one connection per stream, no
/// whole-request timeout.
fn stream_client() -> reqwest::Client {
    praxis_tests::http_client_builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// Registers and signs in `n` users.
async fn users(server: &TestServer, tag: &str, n: usize) -> Vec<TestUser> {
    futures_util::stream::iter(0..n)
        .map(|i| async move { server.user(&format!("{tag}{i}")).await })
        .buffer_unordered(SIGN_UPS_IN_FLIGHT)
        .collect()
        .await
}

/// A server whose listener takes `streams` connections and more.
async fn server_for(backend: Backend, streams: usize) -> anyhow::Result<TestServer> {
    let limits = praxis_server::Limits {
        max_connections: streams + 64,
        ..praxis_server::Limits::default()
    };
    TestServer::start_limited(backend, Transport::Http, test_settings(), limits)
        .await
        .ok_or_else(|| anyhow::anyhow!("backend unavailable"))
}

/// CPU time this process has used (user + system), from /proc/self/stat
/// (clock ticks of 1/100 s, Linux's USER_HZ).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Share of one core this process used while sleeping for `window`.
async fn cpu_at_rest(window: Duration) -> f64 {
    let before = cpu_time().unwrap_or_default();
    tokio::time::sleep(window).await;
    let used = cpu_time().unwrap_or_default().saturating_sub(before);
    used.as_secs_f64() / window.as_secs_f64() * 100.0
}

/// Child process mode (`--idle-streams BASE TOKENS_FILE`): opens one
/// change stream per line of the file, prints `ready OPENED FAILED`, and
/// holds them until its standard input closes.
pub async fn idle_streams_child(base: &str, tokens_file: &str) -> anyhow::Result<()> {
    let tokens = std::fs::read_to_string(tokens_file)?;
    let client = stream_client();
    let opened: Vec<reqwest::Response> = futures_util::stream::iter(tokens.lines())
        .map(|token| open_on(&client, base, token, None))
        .buffer_unordered(OPENS_IN_FLIGHT)
        .filter_map(|r| async move { r.ok().filter(|r| r.status() == 200) })
        .collect()
        .await;
    let failed = tokens.lines().count() - opened.len();
    println!("ready {} {failed}", opened.len());
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    drop(opened);
    Ok(())
}

/// `n` idle change streams held by another process against one server in
/// this one (SQLite; the streams' cost does not depend on the backend):
/// the server process's memory growth and its CPU at rest, against the
/// same server at rest with no stream, measured in the same run.
pub async fn idle_streams(opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let n = if opts.quick { 500 } else { 5_000 };
    let rest = Duration::from_secs(if opts.quick { 5 } else { 30 });
    let server = server_for(Backend::Sqlite, n).await?;
    let base = server.base_url().expect("http").to_owned();
    let per = test_settings().streams_per_account;
    let accounts = users(&server, "idle", n.div_ceil(per)).await;
    let dir = tempfile::tempdir()?;
    let tokens_file = dir.path().join("tokens");
    let tokens: Vec<&str> = (0..n).map(|i| accounts[i / per].access.as_str()).collect();
    std::fs::write(&tokens_file, tokens.join("\n"))?;

    let cpu_none = cpu_at_rest(rest).await;
    let rss_none = rss_kib().unwrap_or(0);
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("--idle-streams")
        .arg(&base)
        .arg(&tokens_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(300), lines.next_line())
        .await??
        .ok_or_else(|| anyhow::anyhow!("the stream holder ended early"))?;
    let counts: Vec<usize> = ready
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let (held, failed) = (counts[0], counts[1]);
    // Let the opening burst's buffers settle before reading memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_held = rss_kib().unwrap_or(0);
    let cpu_held = cpu_at_rest(rest).await;
    drop(child.stdin.take());
    child.wait().await?;

    let note = format!(
        "{held} streams held by another process ({failed} refused), {} per account; heartbeat every {} s; CPU over {} s",
        per,
        test_settings().feed_heartbeat.as_secs(),
        rest.as_secs()
    );
    let grew = rss_held.saturating_sub(rss_none) as f64;
    let mut cpu = Metric::new(
        format!("server CPU at rest, {n} idle streams"),
        cpu_held,
        "% of a core",
        format!("{note}; baseline: the same server at rest with no stream"),
    );
    cpu.baseline = Some(cpu_none);
    Ok(vec![
        Metric::new(
            format!("server RSS with {n} idle streams"),
            rss_held as f64 / 1024.0,
            "MiB",
            format!(
                "{note}; {:.1} MiB before the streams",
                rss_none as f64 / 1024.0
            ),
        ),
        Metric::new(
            "server memory per idle stream",
            grew / held.max(1) as f64,
            "KiB",
            note,
        ),
        cpu,
    ])
}

/// One organisation policy change with `n` members, each holding a
/// change stream: the time from the admin's request until every member's
/// stream says `changes` (and the median member).
pub async fn policy_fan_out(backends: &[Backend], opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let n = if opts.quick { 100 } else { 1_000 };
    let mut out = Vec::new();
    for backend in backends {
        let server = server_for(*backend, n).await?;
        let base = server.base_url().expect("http").to_owned();
        let admin = server.user("fanout-admin").await;
        let org = server.create_org(&admin.access, "Fan-out Clinic").await;
        let members = users(&server, "member", n).await;
        futures_util::stream::iter(&members)
            .map(|m| server.add_member(&admin.access, &m.access, &org))
            .buffer_unordered(SIGN_UPS_IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
        let client = stream_client();
        // Each stream opens at the member's cursor after joining (joining
        // wrote the policy record: its first event says so).
        let mut streams: Vec<Stream> = futures_util::stream::iter(&members)
            .map(|m| {
                let (client, base) = (&client, &base);
                async move {
                    open_on(client, base, &m.access, None)
                        .await
                        .map(Stream::accepted)
                }
            })
            .buffer_unordered(OPENS_IN_FLIGHT)
            .collect::<Vec<reqwest::Result<Stream>>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        for s in &mut streams {
            s.expect("changes").await;
        }
        let waits: Vec<_> = streams
            .into_iter()
            .map(|mut s| {
                tokio::spawn(async move {
                    let ev = s.next(Duration::from_secs(60)).await;
                    (ev.map(|e| e.name), Instant::now())
                })
            })
            .collect();
        // Every reader is waiting before the change is made.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let start = Instant::now();
        let r = server
            .patch_location_policy(&admin.access, &org, &json!({"location_sharing": true}))
            .await;
        anyhow::ensure!(r.status == 200, "policy change: {}", r.status);
        let answered = start.elapsed();
        let mut arrivals = Vec::new();
        for w in waits {
            let (name, at) = w.await?;
            anyhow::ensure!(name.as_deref() == Some("changes"), "a member was not told");
            arrivals.push(at.saturating_duration_since(start));
        }
        arrivals.sort();
        let note = format!(
            "{n} members each holding a stream; the admin's PATCH answered in {:.0} ms; loopback",
            answered.as_secs_f64() * 1e3
        );
        let name = backend_name(*backend);
        out.push(Metric::new(
            format!("policy change to every member's stream, {name}"),
            percentile_ms(&arrivals, 1.0),
            "ms",
            note.clone(),
        ));
        out.push(Metric::new(
            format!("policy change to a member's stream, {name} (p50)"),
            percentile_ms(&arrivals, 0.5),
            "ms",
            note,
        ));
    }
    Ok(out)
}
