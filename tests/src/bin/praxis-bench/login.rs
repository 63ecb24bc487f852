//! Sign-in under load: the password hash's cost and the cap on concurrent hashing.

use super::*;

/// Login with the blind-index lookup: the lookup alone against a plain
/// email index in the same database (the cost of not storing emails in
/// clear), and whole logins over HTTP (argon2id dominates).
pub(crate) async fn login_benchmarks(opts: &Options) -> anyhow::Result<Vec<Metric>> {
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
