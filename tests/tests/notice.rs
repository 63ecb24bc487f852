//! The privacy notice: served to anyone, named by the privacy step of
//! every sync, cached on devices, and flagged as changed exactly once per
//! device and version.

use std::sync::Arc;

use praxis_core::PraxisClient;
use praxis_tests::{Backend, TestServer, Transport, client_config, person, suite};
use serde_json::json;

suite!(the_notice_is_public_and_the_privacy_step_names_its_version);

async fn the_notice_is_public_and_the_privacy_step_names_its_version(s: TestServer) {
    let r = s.send("GET", "/v1/privacy/notice", None, None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let n = r.json();
    assert_eq!(n["version"], 1);
    assert_eq!(n["controller"]["name"], "Praxis Example Health Ltd");
    assert_eq!(n["privacy_contact"]["email"], "privacy@praxis.example.org");
    assert_eq!(
        n["supervisory_authority"]["name"],
        "Berliner Beauftragte für Datenschutz und Informationsfreiheit"
    );
    let ones = json!({"analytics": 1, "location_sharing": 1, "location_visits": 1, "marketing": 1});
    assert_eq!(n["consent_versions"], ones, "1 until raised");
    s.state
        .store()
        .publish_policy_version(
            praxis_protocol::privacy::Purpose::Marketing,
            3,
            praxis_server::clock::Clock::now(&*s.clock),
        )
        .await
        .expect("publish");
    let n = s.send("GET", "/v1/privacy/notice", None, None).await.json();
    assert_eq!(n["consent_versions"]["marketing"], 3);
    assert_eq!(n["consent_versions"]["analytics"], 1);
    let u = s.user("notice").await;
    let p = s
        .send("GET", "/v1/me/privacy", Some(&u.access), None)
        .await
        .json();
    assert_eq!(p["notice_version"], 1);
}

async fn open(s: &TestServer, dir: &std::path::Path, key: u8) -> Arc<PraxisClient> {
    PraxisClient::open(client_config(s.base_url().expect("url"), dir, key))
        .await
        .expect("open")
}

/// A new notice version on the server is seen by each device at its next
/// sync, flagged once, and stays flagged until the app acknowledges that
/// version; a device that never held an older notice is not told of a
/// change; offline, the copy held is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_notice_is_flagged_once_per_device_until_acknowledged() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("sqlite");
    let p = person("notice");
    s.register(&p).await;
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );

    // Before anyone signs in, the app shows the notice.
    let a = open(&s, dir_a.path(), 1).await;
    let first = a.notices().fetch().await.expect("fetch signed out");
    assert_eq!((first.notice.version, first.changed), (1, false));
    praxis_tests::sign_in(&a, &p).await;
    a.sync().sync_now("test").await.expect("sync");
    assert!(
        !a.notices()
            .held()
            .await
            .expect("held")
            .expect("some")
            .changed
    );

    // The operator publishes version 2.
    let mut v2 = (*s.state.settings().privacy_notice.get()).clone();
    v2.version = 2;
    v2.published = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).expect("date");
    s.state.settings().privacy_notice.set(v2);

    a.sync().sync_now("test").await.expect("sync");
    let held = a.notices().held().await.expect("held").expect("some");
    assert_eq!((held.notice.version, held.changed), (2, true));
    // Not acknowledged: still flagged after another sync (the app may have
    // stopped before showing it); acknowledging an older version does not
    // clear it.
    a.sync().sync_now("test").await.expect("sync");
    assert!(
        a.notices()
            .held()
            .await
            .expect("held")
            .expect("some")
            .changed
    );
    assert!(!a.notices().acknowledge(1).await.expect("ack old"));
    assert!(a.notices().acknowledge(2).await.expect("ack"));
    assert!(!a.notices().acknowledge(2).await.expect("ack twice"));
    a.sync().sync_now("test").await.expect("sync");
    let held = a.notices().held().await.expect("held").expect("some");
    assert_eq!((held.notice.version, held.changed), (2, false), "once");

    // A device whose first notice is version 2 has no change to tell.
    let b = open(&s, dir_b.path(), 2).await;
    praxis_tests::sign_in(&b, &p).await;
    b.sync().sync_now("test").await.expect("sync");
    let held = b.notices().held().await.expect("held").expect("some");
    assert_eq!((held.notice.version, held.changed), (2, false));

    // Offline (nothing listens where the app looks), the copy held is what
    // the app shows, and it survives a restart of the app.
    drop(a);
    let a = PraxisClient::open(client_config("http://127.0.0.1:9", dir_a.path(), 1))
        .await
        .expect("reopen");
    let offline = a.notices().fetch().await.expect("offline fetch");
    assert_eq!((offline.notice.version, offline.changed), (2, false));
    assert_eq!(offline.notice.controller.registration_number, "HRB 000000");
}
