//! Offline-first sync end to end: a real server and three devices of one
//! practitioner, each a real core client with its own encrypted cache.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use praxis_core::clock::{Clock as _, ManualClock};
use praxis_core::sync::SyncState;
use praxis_core::{AppointmentPatch, AppointmentStatus, NewAppointment, PraxisClient};
use praxis_tests::{Backend, TestServer, Transport, epoch, person};
use serde_json::Value;

struct Device {
    client: Arc<PraxisClient>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn device(s: &TestServer, email: &str, password: &str, n: u8) -> Device {
    device_at(s, email, password, n, epoch()).await
}

/// A device whose own clock reads `now` while the server's reads `epoch()`.
async fn device_at(
    s: &TestServer,
    email: &str,
    password: &str,
    n: u8,
    now: DateTime<Utc>,
) -> Device {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(now));
    let mut config = praxis_tests::client_config(s.base_url().expect("url"), dir.path(), n);
    config.clock = clock.clone();
    let client = PraxisClient::open(config).await.expect("open");
    client
        .account()
        .login(email, password)
        .await
        .expect("login");
    Device {
        client,
        clock,
        _dir: dir,
    }
}

async fn three_devices(s: &TestServer) -> [Device; 3] {
    let p = person("sync3");
    s.register(&p).await;
    let (e, pw) = (
        p["email"].as_str().expect("e"),
        p["password"].as_str().expect("p"),
    );
    [
        device(s, e, pw, 1).await,
        device(s, e, pw, 2).await,
        device(s, e, pw, 3).await,
    ]
}

async fn sync(d: &Device) {
    let status = d.client.sync().sync_now("test").await.expect("sync");
    assert_eq!(status.state, SyncState::Idle, "{status:?}");
    assert_eq!(status.pending, 0);
}

fn visit(title: &str, start: DateTime<Utc>) -> NewAppointment {
    NewAppointment {
        title: title.into(),
        patient_label: Some("P-17".into()),
        start,
        duration_min: 45,
        address: Some("3 rue des Lilas, Lille".into()),
        point: None,
        geofence: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_edits_on_three_devices_converge() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let [a, b, c] = three_devices(&s).await;
    let start = epoch() + Duration::days(1);

    // Each device works offline (no sync) and creates visits.
    let ids_a = [a
        .client
        .appointments()
        .create(visit("A1", start))
        .await
        .expect("a1")];
    let id_b = b
        .client
        .appointments()
        .create(visit("B1", start + Duration::hours(1)))
        .await
        .expect("b1");
    let id_c = c
        .client
        .appointments()
        .create(visit("C1", start + Duration::hours(2)))
        .await
        .expect("c1");
    assert_eq!(a.client.sync().status().pending, 1);
    for d in [&a, &b, &c] {
        sync(d).await;
    }
    for d in [&a, &b, &c] {
        sync(d).await;
    }
    for d in [&a, &b, &c] {
        let titles: Vec<String> = d
            .client
            .appointments()
            .list()
            .await
            .expect("list")
            .into_iter()
            .map(|x| x.title)
            .collect();
        assert_eq!(titles, ["A1", "B1", "C1"]);
    }

    // Concurrent edits to the same visit, offline.
    let shared = ids_a[0];
    a.clock.advance(Duration::seconds(10));
    a.client
        .appointments()
        .update(
            shared,
            AppointmentPatch {
                title: Some("A1 by A".into()),
                ..Default::default()
            },
        )
        .await
        .expect("edit");
    b.clock.advance(Duration::seconds(20));
    b.client
        .appointments()
        .update(
            shared,
            AppointmentPatch {
                address: Some(Some("9 avenue B".into())),
                ..Default::default()
            },
        )
        .await
        .expect("edit");
    // Same field on C, later than A's: C wins the title deterministically.
    c.clock.advance(Duration::seconds(30));
    c.client
        .appointments()
        .update(
            shared,
            AppointmentPatch {
                title: Some("A1 by C".into()),
                ..Default::default()
            },
        )
        .await
        .expect("edit");
    // Delete vs edit: A deletes B1 while B edits it; the delete wins.
    a.client.appointments().delete(id_b).await.expect("delete");
    b.clock.advance(Duration::seconds(5));
    b.client
        .appointments()
        .update(
            id_b,
            AppointmentPatch {
                status: Some(AppointmentStatus::Completed),
                ..Default::default()
            },
        )
        .await
        .expect("edit");
    // Sync in an unfavourable order, twice round.
    for d in [&c, &b, &a, &c, &b, &a] {
        sync(d).await;
    }
    let expected = a.client.appointments().list().await.expect("list");
    assert_eq!(expected.len(), 2, "B1 deleted everywhere: {expected:?}");
    let x = expected.iter().find(|x| x.id == shared).expect("shared");
    assert_eq!(x.title, "A1 by C", "later write of the same field wins");
    assert_eq!(
        x.address.as_deref(),
        Some("9 avenue B"),
        "different fields both survive"
    );
    assert!(expected.iter().any(|x| x.id == id_c));
    for d in [&b, &c] {
        assert_eq!(
            d.client.appointments().list().await.expect("list"),
            expected
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_offline_past_the_tombstone_horizon_resyncs_without_resurrection() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let [a, b, _c] = three_devices(&s).await;
    let start = epoch() + Duration::days(1);
    let keep = a
        .client
        .appointments()
        .create(visit("Keep", start))
        .await
        .expect("keep");
    let gone = a
        .client
        .appointments()
        .create(visit("Gone", start))
        .await
        .expect("gone");
    let edited_offline = a
        .client
        .appointments()
        .create(visit("Edited", start))
        .await
        .expect("edited");
    sync(&a).await;
    sync(&b).await;
    assert_eq!(b.client.appointments().list().await.expect("list").len(), 3);

    // B goes offline. A deletes two visits; the server later prunes the
    // tombstones (B's cursor is now older than the horizon).
    a.client.appointments().delete(gone).await.expect("delete");
    a.client
        .appointments()
        .delete(edited_offline)
        .await
        .expect("delete");
    sync(&a).await;
    // Meanwhile B edits one of them offline.
    b.client
        .appointments()
        .update(
            edited_offline,
            AppointmentPatch {
                title: Some("Edited offline".into()),
                ..Default::default()
            },
        )
        .await
        .expect("edit");
    s.clock.advance(Duration::days(2));
    for d in [&a, &b] {
        d.clock.advance(Duration::days(2));
    }
    let now = s.state.now();
    let pruned = s
        .state
        .store()
        .prune_sync(now - Duration::days(1), now - Duration::days(1))
        .await
        .expect("prune");
    assert_eq!(pruned, 2);

    // B comes back: its edit of a record that no longer exists is dropped,
    // its pull gets resync_required, and the full resync removes the rest.
    sync(&b).await;
    let left: Vec<_> = b
        .client
        .appointments()
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(left, [keep], "nothing resurrected");
    sync(&a).await;
    assert_eq!(
        a.client
            .appointments()
            .list()
            .await
            .expect("list")
            .iter()
            .map(|x| x.id)
            .collect::<Vec<_>>(),
        [keep]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_local_writes_fail_at_once_and_queue_nothing() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let [a, _, _] = three_devices(&s).await;
    let mut bad = visit("", epoch());
    assert!(matches!(
        a.client.appointments().create(bad.clone()).await,
        Err(praxis_core::Error::InvalidInput { field: "title", .. })
    ));
    bad.title = "ok".into();
    bad.duration_min = 0;
    assert!(a.client.appointments().create(bad.clone()).await.is_err());
    bad.duration_min = 30;
    bad.point = Some(praxis_core::GeoPoint {
        lat: f64::NAN,
        lon: 0.0,
    });
    assert!(a.client.appointments().create(bad).await.is_err());
    assert!(
        a.client
            .appointments()
            .update(
                uuid::Uuid::new_v4(),
                AppointmentPatch {
                    title: Some("x".into()),
                    ..Default::default()
                }
            )
            .await
            .is_err()
    );
    assert_eq!(a.client.sync().status().pending, 0);
    sync(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_driver_sends_local_writes_without_being_asked() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let [a, b, _] = three_devices(&s).await;
    let driver = a.client.sync().spawn_background();
    let id = a
        .client
        .appointments()
        .create(visit("Background", epoch() + Duration::days(1)))
        .await
        .expect("create");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        sync(&b).await;
        if b.client
            .appointments()
            .get(id)
            .await
            .expect("get")
            .is_some()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the write never reached the server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    driver.abort();
    assert!(driver.await.expect_err("aborted").is_cancelled());
}

/// Regression: logging out reset the device's sync sequence, so after
/// signing in again its new changes reused (client id, sequence) keys the
/// server had already answered, and were silently taken for replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_after_logout_and_login_again_are_not_mistaken_for_replays() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let p = person("relogin");
    s.register(&p).await;
    let (e, pw) = (
        p["email"].as_str().expect("e"),
        p["password"].as_str().expect("p"),
    );
    let a = device(&s, e, pw, 1).await;
    a.client
        .appointments()
        .create(visit("Before logout", epoch() + Duration::days(1)))
        .await
        .expect("create");
    sync(&a).await;
    a.client.account().logout().await.expect("logout");
    a.client.account().login(e, pw).await.expect("login again");
    sync(&a).await;
    assert_eq!(
        a.client.appointments().list().await.expect("list").len(),
        1,
        "pulled back from the server"
    );
    let id = a
        .client
        .appointments()
        .create(visit("After login", epoch() + Duration::days(2)))
        .await
        .expect("create");
    sync(&a).await;
    let b = device(&s, e, pw, 2).await;
    sync(&b).await;
    let titles: Vec<String> = b
        .client
        .appointments()
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|x| x.title)
        .collect();
    assert_eq!(titles, ["Before logout", "After login"]);
    assert!(
        b.client
            .appointments()
            .get(id)
            .await
            .expect("get")
            .is_some()
    );
}

/// A minute passes for the server and the devices alike.
fn a_minute_passes<const N: usize>(s: &TestServer, devices: [&Device; N]) {
    for d in devices {
        d.clock.advance(Duration::minutes(1));
    }
    s.clock.advance(Duration::minutes(1));
}

/// Renames a visit on a device (offline; the next sync sends it).
async fn retitle(client: &PraxisClient, id: uuid::Uuid, title: &str) {
    client
        .appointments()
        .update(
            id,
            AppointmentPatch {
                title: Some(title.into()),
                ..Default::default()
            },
        )
        .await
        .expect("edit");
}

/// The device's measured skew, to the hour.
fn skew_hours(client: &PraxisClient) -> Option<i64> {
    client
        .clock_skew()
        .map(|k| (k.num_milliseconds() as f64 / 3_600_000.0).round() as i64)
}

fn titles(list: &[praxis_core::Appointment]) -> Vec<&str> {
    list.iter().map(|a| a.title.as_str()).collect()
}

/// A phone set three days fast and one set three days slow: both sync,
/// later edits win by the server's time (not by the wrong clocks), each
/// device reports its skew, and a restarted device remembers it before any
/// contact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_three_days_fast_and_slow_sync_on_the_servers_time() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let p = person("skew");
    s.register(&p).await;
    let (e, pw) = (
        p["email"].as_str().expect("e"),
        p["password"].as_str().expect("p"),
    );
    let fast = device_at(&s, e, pw, 1, epoch() + Duration::days(3)).await;
    let slow = device_at(&s, e, pw, 2, epoch() - Duration::days(3)).await;
    // Signing in was a contact with the server: each knows its clock is off.
    let hours = |d: &Device| skew_hours(&d.client);
    assert_eq!(hours(&fast), Some(-72));
    assert_eq!(hours(&slow), Some(72));

    // The fast phone's write would carry a stamp three days ahead (refused
    // by the server) if it used its own clock.
    let start = epoch() + Duration::days(1);
    let id = fast
        .client
        .appointments()
        .create(visit("Written fast", start))
        .await
        .expect("create");
    sync(&fast).await;
    sync(&slow).await;
    let on_slow = slow.client.appointments().list().await.expect("list");
    assert_eq!(titles(&on_slow), ["Written fast"]);

    // A minute later (for everyone), the slow phone edits: by its own clock
    // the edit is six days older than the fast phone's write, by the
    // server's it is later, and it wins.
    a_minute_passes(&s, [&fast, &slow]);
    retitle(&slow.client, id, "Edited slow").await;
    sync(&slow).await;
    sync(&fast).await;
    let on_fast = fast.client.appointments().list().await.expect("list");
    assert_eq!(titles(&on_fast), ["Edited slow"]);

    // Then the fast phone edits again, later still: it wins in turn.
    a_minute_passes(&s, [&fast, &slow]);
    retitle(&fast.client, id, "Edited fast").await;
    sync(&fast).await;
    sync(&slow).await;
    for d in [&fast, &slow] {
        let list = d.client.appointments().list().await.expect("list");
        assert_eq!(titles(&list), ["Edited fast"]);
    }

    // Restarted, the fast phone remembers its skew before any contact, so
    // an edit made offline is stamped on the server's time and accepted.
    let Device {
        client,
        clock,
        _dir,
    } = fast;
    drop(client);
    let mut config = praxis_tests::client_config(s.base_url().expect("url"), _dir.path(), 1);
    config.clock = clock.clone();
    let client = PraxisClient::open(config).await.expect("reopen");
    assert_eq!(skew_hours(&client), Some(-72));
    retitle(&client, id, "After restart").await;
    let fast = Device {
        client,
        clock,
        _dir,
    };
    sync(&fast).await;
    sync(&slow).await;
    let list = slow.client.appointments().list().await.expect("list");
    assert_eq!(titles(&list), ["After restart"]);
}

/// Regression: with nobody signed in, appointment writes were accepted,
/// queued, and pushed into whichever account signed in next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_while_nobody_is_signed_in_are_refused_and_queue_nothing() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let p = person("nobody");
    s.register(&p).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut config = praxis_tests::client_config(s.base_url().expect("url"), dir.path(), 9);
    config.clock = Arc::new(ManualClock::new(epoch()));
    let client = PraxisClient::open(config).await.expect("open");
    let refused = client
        .appointments()
        .create(visit("Nobody's", epoch() + Duration::days(1)))
        .await;
    assert!(
        matches!(refused, Err(praxis_core::Error::NotSignedIn)),
        "{refused:?}"
    );
    assert_eq!(client.cache().outbox(10).expect("outbox").len(), 0);

    // Signed in, a write goes through; signed out again, it is refused.
    praxis_tests::sign_in(&client, &p).await;
    let id = client
        .appointments()
        .create(visit("Mine", epoch() + Duration::days(1)))
        .await
        .expect("create while signed in");
    client.account().logout().await.expect("logout");
    for attempt in [
        client
            .appointments()
            .create(visit("After logout", epoch() + Duration::days(2)))
            .await
            .map(drop),
        client.appointments().delete(id).await,
    ] {
        assert!(
            matches!(attempt, Err(praxis_core::Error::NotSignedIn)),
            "{attempt:?}"
        );
    }
    assert_eq!(client.cache().outbox(10).expect("outbox").len(), 0);
}

/// A loopback proxy in front of the server that can hold back the answers
/// to sync pulls (requests pass at once; answers wait while `hold` is set,
/// and answers to pulls numbered above `hold_pulls_after` wait until it is
/// raised).
struct HoldingProxy {
    url: String,
    hold: Arc<std::sync::atomic::AtomicBool>,
    hold_pulls_after: Arc<std::sync::atomic::AtomicUsize>,
    pulls_seen: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HoldingProxy {
    async fn start(upstream: &str) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let hold = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hold_pulls_after = Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
        let pulls_seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (h, p) = (Arc::clone(&hold), Arc::clone(&pulls_seen));
        let after = Arc::clone(&hold_pulls_after);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                // Whether the latest request on this connection is a pull,
                // and that pull's number.
                let pulling = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let number = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let (pulling_up, seen) = (Arc::clone(&pulling), Arc::clone(&p));
                let number_up = Arc::clone(&number);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if buf[..n].starts_with(b"POST /v1/sync/pull") {
                            pulling_up.store(true, Ordering::SeqCst);
                            number_up
                                .store(seen.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                        } else if buf[..n].starts_with(b"POST ")
                            || buf[..n].starts_with(b"GET ")
                            || buf[..n].starts_with(b"DELETE ")
                        {
                            pulling_up.store(false, Ordering::SeqCst);
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let hold = Arc::clone(&h);
                let after = Arc::clone(&after);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = sr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        while pulling.load(Ordering::SeqCst)
                            && (hold.load(Ordering::SeqCst)
                                || number.load(Ordering::SeqCst) > after.load(Ordering::SeqCst))
                        {
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self {
            url,
            hold,
            hold_pulls_after,
            pulls_seen,
            task,
        }
    }
}

impl Drop for HoldingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Two people, each with 30 visits on the server made on other devices.
async fn two_people_with_history(s: &TestServer) -> (Value, Value) {
    let (a, b) = (person("shared-a"), person("shared-b"));
    s.register(&a).await;
    s.register(&b).await;
    let start = epoch() + Duration::days(1);
    for (p, n, prefix) in [(&a, 11, "A-visit"), (&b, 12, "B-visit")] {
        let elsewhere = device(
            s,
            p["email"].as_str().expect("e"),
            p["password"].as_str().expect("p"),
            n,
        )
        .await;
        for i in 0..30 {
            elsewhere
                .client
                .appointments()
                .create(visit(
                    &format!("{prefix} {i}"),
                    start + Duration::minutes(i),
                ))
                .await
                .expect("create");
        }
        sync(&elsewhere).await;
    }
    (a, b)
}

/// A shared tablet behind a proxy that can hold pull answers, with A
/// signed in; A and B have their histories on the server.
struct Shared {
    s: TestServer,
    a: Value,
    b: Value,
    proxy: HoldingProxy,
    dir: tempfile::TempDir,
    tablet: Arc<PraxisClient>,
}

async fn shared_tablet_with_a_signed_in() -> Shared {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let (a, b) = two_people_with_history(&s).await;
    let proxy = HoldingProxy::start(s.base_url().expect("url")).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut config = praxis_tests::client_config(&proxy.url, dir.path(), 13);
    config.clock = Arc::new(ManualClock::new(epoch()));
    let tablet = PraxisClient::open(config).await.expect("open");
    praxis_tests::sign_in(&tablet, &a).await;
    Shared {
        s,
        a,
        b,
        proxy,
        dir,
        tablet,
    }
}

/// Waits until the proxy has seen one more pull than `before`.
async fn pull_under_way(proxy: &HoldingProxy, before: usize) {
    use std::sync::atomic::Ordering;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while proxy.pulls_seen.load(Ordering::SeqCst) == before {
        assert!(std::time::Instant::now() < deadline, "no pull started");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// B syncs on the tablet: B's whole history is there and nothing of A, on
/// screen or (in clear) in the cache files.
async fn only_bs_data(tablet: &PraxisClient, dir: &std::path::Path, a: &Value) {
    let status = tablet.sync().sync_now("test").await.expect("sync");
    assert_eq!(status.state, SyncState::Idle, "{status:?}");
    let list = tablet.appointments().list().await.expect("list");
    let titles = titles(&list);
    assert!(
        !titles.iter().any(|t| t.starts_with("A-")),
        "A's visits on B's screen: {titles:?}"
    );
    assert_eq!(
        titles.iter().filter(|t| t.starts_with("B-visit")).count(),
        30,
        "B's whole history arrives: {titles:?}"
    );
    let email = a["email"].as_str().expect("email");
    for entry in std::fs::read_dir(dir).expect("dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).unwrap_or_default();
        for needle in [
            email.as_bytes(),
            b"A-visit".as_slice(),
            b"A-local".as_slice(),
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "A's data in clear in the cache files"
            );
        }
    }
}

/// Regression (high): signing out while a pull was in flight let the pull
/// write the signed-out user's records and cursor back into the wiped
/// cache, so on a shared tablet the next practitioner saw the previous
/// one's visits and pulled from the previous user's cursor, missing their
/// own history. Every sync step is now fenced by the session it started
/// under, checked in the transaction that applies the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_during_a_pull_leaves_nothing_for_the_next_user() {
    use std::sync::atomic::Ordering;
    // The server must live to the end (a `..` here would drop it).
    let Shared {
        s: _server,
        a,
        b,
        proxy,
        dir,
        tablet,
    } = shared_tablet_with_a_signed_in().await;

    // A's pull is under way when A signs out and B signs in.
    proxy.hold.store(true, Ordering::SeqCst);
    let pulls_before = proxy.pulls_seen.load(Ordering::SeqCst);
    let in_flight = {
        let tablet = Arc::clone(&tablet);
        tokio::spawn(async move { tablet.sync().sync_now("test").await })
    };
    pull_under_way(&proxy, pulls_before).await;
    tablet.account().logout().await.expect("logout");
    praxis_tests::sign_in(&tablet, &b).await;
    proxy.hold.store(false, Ordering::SeqCst);
    let _ = in_flight.await.expect("join");
    only_bs_data(&tablet, dir.path(), &a).await;
}

/// The same with the background driver running (as the apps run it): A's
/// local write wakes it, its pull is held, A signs out and B signs in; the
/// driver's late answer must not reach B's data, and A's queued write must
/// not be pushed into B's account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_while_the_background_driver_pulls_leaves_nothing_for_the_next_user() {
    use std::sync::atomic::Ordering;
    let Shared {
        s,
        a,
        b,
        proxy,
        dir,
        tablet,
    } = shared_tablet_with_a_signed_in().await;
    let driver = tablet.sync().spawn_background();

    proxy.hold.store(true, Ordering::SeqCst);
    let pulls_before = proxy.pulls_seen.load(Ordering::SeqCst);
    tablet
        .appointments()
        .create(visit("A-local visit", epoch() + Duration::days(2)))
        .await
        .expect("create");
    pull_under_way(&proxy, pulls_before).await;
    tablet.account().logout().await.expect("logout");
    praxis_tests::sign_in(&tablet, &b).await;
    proxy.hold.store(false, Ordering::SeqCst);
    only_bs_data(&tablet, dir.path(), &a).await;
    driver.abort();
    // And A's account got nothing of B's, nor lost its own local write to
    // B's: the server holds A's 30 visits (the local one was never pushed
    // or was pushed under A's session), none of them B's.
    let other = device(
        &s,
        a["email"].as_str().expect("e"),
        a["password"].as_str().expect("p"),
        14,
    )
    .await;
    sync(&other).await;
    let list = other.client.appointments().list().await.expect("list");
    assert!(
        titles(&list).iter().all(|t| t.starts_with("A-")),
        "{:?}",
        titles(&list)
    );
}

/// Regression guard for the page fetched ahead: while a page is written
/// the next one is already asked for. A signs out and B signs in while
/// that page-ahead is in flight: A's late page must reach neither B's
/// screen nor the cache, and B's first sync gets B's whole history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_while_the_next_page_is_fetched_ahead_leaves_nothing_for_the_next_user() {
    use std::sync::atomic::Ordering;
    let Shared {
        s,
        a,
        b,
        proxy,
        dir,
        tablet,
    } = shared_tablet_with_a_signed_in().await;
    // More than a page of A's on the server.
    let (access, _) = s
        .login(
            a["email"].as_str().expect("e"),
            a["password"].as_str().expect("p"),
        )
        .await;
    push_visits(&s, &access, "A-visit bulk", 1_500).await;

    let pulls_before = proxy.pulls_seen.load(Ordering::SeqCst);
    proxy
        .hold_pulls_after
        .store(pulls_before + 1, Ordering::SeqCst);
    let in_flight = {
        let tablet = Arc::clone(&tablet);
        tokio::spawn(async move { tablet.sync().sync_now("test").await })
    };
    // The first page passed; the second (asked while the first is
    // written) is held.
    pull_under_way(&proxy, pulls_before).await;
    pull_under_way(&proxy, pulls_before + 1).await;
    tablet.account().logout().await.expect("logout");
    praxis_tests::sign_in(&tablet, &b).await;
    proxy.hold_pulls_after.store(usize::MAX, Ordering::SeqCst);
    let _ = in_flight.await.expect("join");
    // Nothing of A's late page is on the tablet, even before B syncs.
    let list = tablet.appointments().list().await.expect("list");
    assert!(
        !titles(&list).iter().any(|t| t.starts_with("A-")),
        "A's page reached B: {} records",
        list.len()
    );
    only_bs_data(&tablet, dir.path(), &a).await;
}

/// Pushes `n` new visits titled `"{prefix} {i}"` straight to the API.
async fn push_visits(s: &TestServer, access: &str, prefix: &str, n: usize) {
    let t = "1795200000000-000000-dev9";
    let client = uuid::Uuid::new_v4().to_string();
    for batch in 0..n.div_ceil(100) {
        let mutations: Vec<Value> = (batch * 100..n.min(batch * 100 + 100))
            .map(|i| {
                let f = |v: Value| serde_json::json!({"v": v, "t": t});
                serde_json::json!({
                    "client_seq": i + 1,
                    "collection": "appointments",
                    "id": uuid::Uuid::now_v7().to_string(),
                    "fields": {
                        "title": f(format!("{prefix} {i}").into()),
                        "start": f("2026-11-23T09:00:00Z".into()),
                        "duration_min": f(30.into()),
                    },
                })
            })
            .collect();
        let r = s
            .send(
                "POST",
                "/v1/sync/push",
                Some(access),
                Some(&serde_json::json!({"client_id": client, "mutations": mutations})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let answer = r.json();
        assert!(
            answer["results"]
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x["status"] == "applied")),
            "every visit applied: {answer}"
        );
    }
}

/// A first sync of more than a page reports its progress: the status
/// listener sees the count of received changes grow page by page while
/// the sync runs, and the finished status holds the total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_first_sync_reports_its_progress() {
    const VISITS: usize = 2_500;
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let u = s.user("progress").await;
    push_visits(&s, &u.access, "Visit", VISITS).await;
    let d = device(&s, &u.email, &u.password, 7).await;
    let mut statuses = d.client.sync().subscribe();
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while statuses.changed().await.is_ok() {
            let st = *statuses.borrow_and_update();
            if st.state == SyncState::Syncing && seen.last() != Some(&st.received) {
                seen.push(st.received);
            }
        }
        seen
    });
    let done = d.client.sync().sync_now("test").await.expect("sync");
    assert_eq!(done.state, SyncState::Idle);
    assert!(
        done.received >= VISITS as u64,
        "every visit counted: {}",
        done.received
    );
    assert_eq!(
        d.client.appointments().list().await.expect("list").len(),
        VISITS
    );
    drop(d);
    let seen = seen.await.expect("listener");
    assert!(
        seen.iter().any(|n| *n > 0 && *n < done.received),
        "progress between pages: {seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "never backwards");
}

/// New records get UUIDv7 ids stamped with the device's clock, in creation
/// order even within one millisecond (the device clock here stands still),
/// so an initial sync inserts them in key order; the server keeps them as
/// they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_records_get_time_ordered_ids_from_the_device_clock() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let u = s.user("v7").await;
    let d = device(&s, &u.email, &u.password, 7).await;
    let mut ids = Vec::new();
    for i in 0..50 {
        let id = d
            .client
            .appointments()
            .create(visit(&format!("visit {i}"), epoch() + Duration::days(1)))
            .await
            .expect("create");
        ids.push(id);
    }
    for id in &ids {
        assert_eq!(id.get_version_num(), 7, "{id}");
        let (secs, nanos) = id.get_timestamp().expect("stamp").to_unix();
        let stamped = DateTime::from_timestamp(secs as i64, nanos).expect("time");
        assert_eq!(stamped, d.clock.now(), "stamped with the device clock");
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in creation order");
    sync(&d).await;
    let other = device(&s, &u.email, &u.password, 8).await;
    sync(&other).await;
    let mut there: Vec<uuid::Uuid> = other
        .client
        .appointments()
        .list()
        .await
        .expect("list")
        .iter()
        .map(|a| a.id)
        .collect();
    there.sort();
    assert_eq!(there, ids);
}
