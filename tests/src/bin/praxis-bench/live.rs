//! Live change feeds: devices connected at once, and how fast a change reaches them.

use super::*;

/// A core client signed in on its own encrypted cache, synced once.
pub(crate) async fn bench_device(
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
pub(crate) async fn live_benchmarks(
    backends: &[Backend],
    opts: &Options,
) -> anyhow::Result<Vec<Metric>> {
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
