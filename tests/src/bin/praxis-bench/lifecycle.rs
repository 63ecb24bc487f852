//! Account lifecycle benchmarks: password-reset requests with the
//! throttle in place (known and verified addresses against unknown ones:
//! the ratio is the timing difference an attacker could see), the list of
//! sessions of a user with 50 devices, and the retention job on a million
//! expired rows (bounded batches against one unbounded `DELETE`).

use std::time::{Duration, Instant};

use praxis_server::clock::Clock as _;
use praxis_tests::{Backend, TestServer, Transport};
use serde_json::json;

use super::{Metric, Options, backend_name, bench_account, percentile_ms};

/// Reset requests through the in-process router (no client address, so
/// the per-client limit does not apply; each address is asked once, under
/// its own 3-per-hour limit, which is counted).
pub(crate) async fn reset_requests(opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let n = if opts.quick { 300 } else { 3_000 };
    let mail = tempfile::tempdir()?;
    let settings = praxis_server::Settings {
        mail: Some(praxis_server::mail::MailConfig {
            transport: praxis_server::mail::MailTransport::Files(mail.path().to_owned()),
            from: "Praxis <no-reply@localhost>".into(),
        }),
        ..praxis_tests::test_settings()
    };
    let server = TestServer::start_with(Backend::Sqlite, Transport::Oneshot, settings)
        .await
        .ok_or_else(|| anyhow::anyhow!("sqlite unavailable"))?;
    let (store, now) = (server.state.store(), server.clock.now());
    for i in 0..n {
        let id = uuid::Uuid::new_v4();
        bench_account(
            store,
            id,
            &format!("reset{i}@bench-example.org"),
            "Bench Reset",
            now,
        )
        .await?;
    }
    let mut tx = store.db().begin().await?;
    tx.execute("UPDATE users SET email_verified_at = 1", vec![])
        .await?;
    tx.commit().await?;
    // Throughput: requests back to back (a known address's code and mail
    // are written on a task after the answer; that work is included).
    let rate = |prefix: &'static str, from: usize, to: usize| {
        let server = &server;
        async move {
            let t = Instant::now();
            for i in from..to {
                let r = server
                    .send(
                        "POST",
                        "/v1/password-resets",
                        None,
                        Some(&json!({ "email": format!("{prefix}{i}@bench-example.org") })),
                    )
                    .await;
                anyhow::ensure!(r.status == 202, "reset request: {}", r.status);
            }
            Ok::<f64, anyhow::Error>((to - from) as f64 / t.elapsed().as_secs_f64())
        }
    };
    let half = n / 2;
    let unknown = rate("nobody", 0, half).await?;
    let known = rate("reset", 0, half).await?;
    let mut m = Metric::new(
        "password-reset requests, known verified addresses",
        known,
        "req/s",
        format!(
            "{half} addresses back to back, in-process router, SQLite, per-address limit counted, code written and mail queued (--dev files) after the answer; baseline: as many unknown addresses"
        ),
    );
    m.baseline = Some(unknown);
    // The answer's latency, requests spaced so that each one's background
    // work is done: what an attacker timing the answer sees.
    let latency = |prefix: &'static str| {
        let server = &server;
        async move {
            let mut lat = Vec::with_capacity(half);
            for i in half..n {
                let t = Instant::now();
                let r = server
                    .send(
                        "POST",
                        "/v1/password-resets",
                        None,
                        Some(&json!({ "email": format!("{prefix}{i}@bench-example.org") })),
                    )
                    .await;
                lat.push(t.elapsed());
                anyhow::ensure!(r.status == 202, "reset request: {}", r.status);
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            lat.sort();
            Ok::<Vec<Duration>, anyhow::Error>(lat)
        }
    };
    let unknown = latency("nobody").await?;
    let known = latency("reset").await?;
    let mut p50 = Metric::new(
        "password-reset answer p50, known verified address",
        percentile_ms(&known, 0.5),
        "ms",
        format!(
            "{half} requests spaced 3 ms apart; baseline: unknown addresses (a ratio near 1: the answer's timing does not tell)"
        ),
    );
    p50.baseline = Some(percentile_ms(&unknown, 0.5));
    Ok(vec![m, p50])
}

/// `GET /v1/sessions` for a user signed in on 50 devices, against
/// `GET /v1/me` for the same user.
pub(crate) async fn sessions_list(opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let rounds = if opts.quick { 100 } else { 1_000 };
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .ok_or_else(|| anyhow::anyhow!("sqlite unavailable"))?;
    let user = server.user("devices").await;
    for i in 1..50 {
        let r = server
            .send(
                "POST",
                "/v1/sessions",
                None,
                Some(&json!({"email": user.email, "password": user.password,
                    "device_name": format!("Phone {i}"), "platform": "android"})),
            )
            .await;
        anyhow::ensure!(r.status == 200, "login {i}: {}", r.status);
    }
    let time = |path: &'static str| {
        let (server, token) = (&server, user.access.clone());
        async move {
            let mut lat = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let t = Instant::now();
                let r = server.send("GET", path, Some(&token), None).await;
                lat.push(t.elapsed());
                anyhow::ensure!(r.status == 200, "{path}: {}", r.status);
            }
            lat.sort();
            Ok::<Vec<Duration>, anyhow::Error>(lat)
        }
    };
    let me = time("/v1/me").await?;
    let list = time("/v1/sessions").await?;
    let n = server
        .send("GET", "/v1/sessions", Some(&user.access), None)
        .await
        .json()["sessions"]
        .as_array()
        .map_or(0, Vec::len);
    anyhow::ensure!(n == 50, "{n} sessions listed");
    let mut p50 = Metric::new(
        "sessions list, 50 devices, p50",
        percentile_ms(&list, 0.5),
        "ms",
        format!(
            "{rounds} sequential GET /v1/sessions over loopback HTTP, SQLite, 50 sealed device names opened per answer; baseline: GET /v1/me p50"
        ),
    );
    p50.baseline = Some(percentile_ms(&me, 0.5));
    let mut p99 = Metric::new(
        "sessions list, 50 devices, p99",
        percentile_ms(&list, 0.99),
        "ms",
        "as above; baseline: GET /v1/me p99",
    );
    p99.baseline = Some(percentile_ms(&me, 0.99));
    Ok(vec![p50, p99])
}

/// The retention job on `n` expired access tokens, in batches, against one
/// unbounded `DELETE` of as many rows.
pub(crate) async fn retention(backends: &[Backend], opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let n: i64 = if opts.quick { 100_000 } else { 1_000_000 };
    let mut out = Vec::new();
    for &backend in backends {
        let server = TestServer::start(backend, Transport::Oneshot)
            .await
            .ok_or_else(|| anyhow::anyhow!("backend unavailable"))?;
        server.user("retention").await;
        // Baseline: one statement, one transaction.
        server.insert_expired_access_tokens(n).await;
        let store = server.state.store();
        let t = Instant::now();
        let mut tx = store.db().begin().await?;
        let deleted = tx
            .execute(
                "DELETE FROM access_tokens WHERE expires_at <= ?1",
                vec![server.clock.now().timestamp_millis().into()],
            )
            .await?;
        tx.commit().await?;
        let unbounded = t.elapsed();
        anyhow::ensure!(deleted == n as u64, "{deleted} deleted");
        // The job.
        server.insert_expired_access_tokens(n).await;
        let t = Instant::now();
        let report = praxis_server::jobs::run_once(&server.state).await?;
        let job = t.elapsed();
        anyhow::ensure!(report.sessions >= n as u64, "{report:?}");
        let mut m = Metric::new(
            format!(
                "retention job, {n} expired tokens, {}",
                backend_name(backend)
            ),
            n as f64 / job.as_secs_f64(),
            "rows/s",
            format!(
                "jobs::run_once in batches of {} rows (one short transaction each): {:.2} s; baseline: one unbounded DELETE of as many rows in one transaction: {:.2} s",
                praxis_server::store::PURGE_BATCH,
                job.as_secs_f64(),
                unbounded.as_secs_f64()
            ),
        );
        m.baseline = Some(n as f64 / unbounded.as_secs_f64());
        out.push(m);
    }
    Ok(out)
}
