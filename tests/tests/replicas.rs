//! Replicas sharing one database: periodic work runs once per period
//! between them, however many replicas check at the same moment; a device
//! behind a load balancer is woken by a commit on another replica, and
//! when its replica goes away it carries on through another and loses
//! nothing. (The change feed's own replica tests are in `changes`.)

use std::sync::Arc;

use chrono::Duration;
use praxis_core::sync::LiveOptions;
use praxis_core::{NewAppointment, PraxisClient};
use praxis_server::jobs;
use praxis_tests::{Backend, TestServer, Transport, epoch, person};

async fn retention_runs_once_per_period_between_replicas(backend: Backend) {
    let Some(s) = TestServer::start(backend, Transport::Http).await else {
        return;
    };
    let replica = s.replica().await;
    // Both replicas start (and check) at the same moment: one runs.
    let (a, b) = tokio::join!(jobs::run_if_due(&s.state), jobs::run_if_due(&replica.state));
    let ran = [a.expect("jobs"), b.expect("jobs")];
    assert_eq!(ran.iter().filter(|r| r.is_some()).count(), 1, "{ran:?}");
    // Within the period, neither runs them again.
    s.clock.advance(Duration::minutes(45));
    assert!(jobs::run_if_due(&s.state).await.expect("jobs").is_none());
    assert!(
        jobs::run_if_due(&replica.state)
            .await
            .expect("jobs")
            .is_none()
    );
    // The next period goes to whichever replica asks first; once.
    s.clock.advance(Duration::minutes(16));
    assert!(
        jobs::run_if_due(&replica.state)
            .await
            .expect("jobs")
            .is_some()
    );
    assert!(jobs::run_if_due(&s.state).await.expect("jobs").is_none());
    // Ten replicas' worth of concurrent checks in a later period: one run.
    s.clock.advance(Duration::minutes(61));
    let mut checks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let state = if i % 2 == 0 {
            s.state.clone()
        } else {
            replica.state.clone()
        };
        checks.spawn(async move { jobs::run_if_due(&state).await.expect("jobs").is_some() });
    }
    let runs = checks
        .join_all()
        .await
        .into_iter()
        .filter(|ran| *ran)
        .count();
    assert_eq!(runs, 1);
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_retention_runs_once_per_period_between_replicas() {
    retention_runs_once_per_period_between_replicas(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retention_runs_once_per_period_between_replicas() {
    retention_runs_once_per_period_between_replicas(Backend::Postgres).await;
}

/// A TCP load balancer on loopback: each new connection goes to the first
/// upstream that accepts one.
async fn load_balancer(upstreams: Vec<String>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstreams = upstreams.clone();
            tokio::spawn(async move {
                for up in &upstreams {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect(up.trim_start_matches("http://")).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        return;
                    }
                }
            });
        }
    });
    (url, task)
}

async fn device(
    url: &str,
    body: &serde_json::Value,
    key: u8,
) -> (Arc<PraxisClient>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = praxis_tests::client_config(url, dir.path(), key);
    config.clock = Arc::new(praxis_core::clock::ManualClock::new(epoch()));
    let client = PraxisClient::open(config).await.expect("open");
    praxis_tests::sign_in(&client, body).await;
    (client, dir)
}

fn visit(title: &str) -> NewAppointment {
    NewAppointment {
        title: title.into(),
        patient_label: None,
        start: epoch() + Duration::hours(3),
        duration_min: 20,
        address: None,
        point: None,
        geofence: None,
    }
}

async fn until(what: &str, c: &PraxisClient, want: &[&str]) {
    let start = std::time::Instant::now();
    while praxis_tests::titles(c).await != want {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(15),
            "{what}: {:?}",
            praxis_tests::titles(c).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Device A talks to replica one; device B, behind a load balancer, is on
/// replica two and only runs the live driver. Replica two goes away: B's
/// stream ends, it reconnects through the balancer to replica one, and
/// everything written meanwhile, on either side, arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_follows_across_replicas_and_survives_losing_one() {
    let Some(s) = TestServer::start(Backend::Postgres, Transport::Http).await else {
        return;
    };
    let two = s.replica().await;
    let one = s.base_url().expect("url").to_owned();
    let (balanced, lb) = load_balancer(vec![two.base.clone(), one.clone()]).await;
    let body = person("replicas");
    s.register(&body).await;
    let (a, _da) = device(&one, &body, 1).await;
    let (b, _db) = device(&balanced, &body, 2).await;
    let live = b.sync().spawn_live(LiveOptions::default());

    // Written on replica one, woken on replica two.
    a.appointments()
        .create(visit("first"))
        .await
        .expect("create");
    a.sync().sync_now("test").await.expect("sync");
    until("across replicas", &b, &["first"]).await;

    // Replica two goes away.
    two.stop().await;
    a.appointments()
        .create(visit("second"))
        .await
        .expect("create");
    a.sync().sync_now("test").await.expect("sync");
    // B writes too; its change goes through replica one.
    b.appointments()
        .create(visit("from b"))
        .await
        .expect("create");
    until("after failover", &b, &["first", "from b", "second"]).await;
    let start = std::time::Instant::now();
    loop {
        a.sync().sync_now("test").await.expect("sync");
        if praxis_tests::titles(&a).await == ["first", "from b", "second"] {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(15),
            "B's write never reached the server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // And the feed is live again, on replica one.
    a.appointments()
        .create(visit("third"))
        .await
        .expect("create");
    a.sync().sync_now("test").await.expect("sync");
    until("live again", &b, &["first", "from b", "second", "third"]).await;
    live.abort();
    lb.abort();
}
