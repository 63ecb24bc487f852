//! Initial sync into a fresh device, and the device cache's own bulk-insert rate as its baseline.

use super::*;

/// Child process mode: a fresh device signs in and runs its initial sync;
/// prints the time of the sync and the process's peak RSS as JSON.
pub(crate) async fn sync_client(url: &str, email: &str, password: &str) -> anyhow::Result<()> {
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

/// Batches of `n` new visits stamped a minute before `now` (the server's
/// time: a stamp more than a day ahead of it is refused).
/// Ids are UUIDv7, as the core gives new records.
pub(crate) fn create_batches(
    n: usize,
    tag: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Value> {
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
pub(crate) async fn sync_benchmarks(opts: &Options) -> anyhow::Result<Vec<Metric>> {
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
