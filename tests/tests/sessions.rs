//! Signed-in devices: the list of sessions, signing one or all others out,
//! remote wipe (the stolen phone), and the retention of ended sessions and
//! of expired single-use codes.

use std::sync::Arc;

use chrono::Duration;
use praxis_core::clock::{Clock as _, ManualClock};
use praxis_core::protocol::Platform;
use praxis_core::{DeviceLabel, Error, NewAppointment, PraxisClient, SessionState};
use praxis_tests::{Backend, TestServer, Transport, epoch, person, suite};
use serde_json::{Value, json};

suite!(
    sessions_list_end_and_refuse_bad_input,
    ended_sessions_are_purged_in_batches,
    expired_join_codes_and_invitations_leave_with_the_retention_job
);

struct Device {
    client: Arc<PraxisClient>,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
}

async fn device(s: &TestServer, body: &Value, key: u8, name: &str, platform: Platform) -> Device {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(epoch()));
    let mut config = praxis_tests::client_config(s.base_url().expect("url"), dir.path(), key);
    config.clock = clock.clone();
    config.device = DeviceLabel {
        name: Some(name.to_owned()),
        platform: Some(platform),
    };
    let client = PraxisClient::open(config).await.expect("open");
    praxis_tests::sign_in(&client, body).await;
    Device { client, clock, dir }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn dir_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir") {
        bytes.extend(std::fs::read(e.expect("entry").path()).expect("read"));
    }
    bytes
}

async fn stolen_phone(backend: Backend) {
    let Some(s) = TestServer::start(backend, Transport::Http).await else {
        return;
    };
    let body = person("owner");
    s.register(&body).await;
    let phone = device(&s, &body, 1, "Pixel Marker-Phone", Platform::Android).await;
    let laptop = device(&s, &body, 2, "Laptop Marker", Platform::Cli).await;
    phone
        .client
        .appointments()
        .create(NewAppointment {
            title: "Stolen-phone visit marker".into(),
            patient_label: Some("PHONE-PATIENT".into()),
            start: phone.clock.now(),
            duration_min: 30,
            address: Some("3 rue Phone-Marker".into()),
            point: None,
            geofence: None,
        })
        .await
        .expect("visit");
    phone.client.sync().sync_now("test").await.expect("sync");
    laptop.client.sync().sync_now("test").await.expect("sync");

    // From the laptop: the list names both devices, the laptop current.
    let sessions = laptop.client.devices().sessions().await.expect("list");
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let mine = sessions.iter().find(|x| x.current).expect("current");
    assert_eq!(mine.device_name.as_deref(), Some("Laptop Marker"));
    assert_eq!(mine.platform, Some(Platform::Cli));
    let stolen = sessions.iter().find(|x| !x.current).expect("phone");
    assert_eq!(stolen.device_name.as_deref(), Some("Pixel Marker-Phone"));
    assert_eq!(stolen.platform, Some(Platform::Android));

    // A wipe needs the password re-entered: refused, nothing ended.
    let r = laptop.client.devices().end_session(stolen.id, true).await;
    assert!(matches!(&r, Err(Error::Api { status: 403, .. })), "{r:?}");
    assert_eq!(
        laptop
            .client
            .devices()
            .sessions()
            .await
            .expect("list")
            .len(),
        2
    );
    laptop
        .client
        .account()
        .reauthenticate(body["password"].as_str().expect("pw"))
        .await
        .expect("reauth");
    laptop
        .client
        .devices()
        .end_session(stolen.id, true)
        .await
        .expect("end with wipe");
    // Its token works no more, even before it expires.
    let left = laptop.client.devices().sessions().await.expect("list");
    assert_eq!(left.len(), 1);
    assert!(left[0].current);

    // The phone's next contact signs it out and wipes it.
    let mut states = phone.client.account().subscribe();
    let r = phone.client.account().profile().await;
    assert!(matches!(r, Err(Error::DeviceWiped)), "{r:?}");
    assert_eq!(phone.client.account().state(), SessionState::Wiped);
    assert_eq!(*states.borrow_and_update(), SessionState::Wiped);
    assert!(
        phone
            .client
            .appointments()
            .list()
            .await
            .expect("list")
            .is_empty()
    );
    let bytes = dir_bytes(phone.dir.path());
    for m in [
        "Stolen-phone visit marker",
        "PHONE-PATIENT",
        "rue Phone-Marker",
        body["email"].as_str().expect("e"),
        body["full_name"].as_str().expect("n"),
    ] {
        assert!(!contains(&bytes, m), "{m} still on the wiped phone");
    }

    // The laptop works on, and its copy is intact.
    laptop.client.sync().sync_now("test").await.expect("sync");
    assert_eq!(
        laptop
            .client
            .appointments()
            .list()
            .await
            .expect("list")
            .len(),
        1
    );
    laptop.client.account().profile().await.expect("profile");

    // The phone can be used again after signing in (the user's own).
    praxis_tests::sign_in(&phone.client, &body).await;
    phone.client.sync().sync_now("test").await.expect("sync");
    assert_eq!(
        phone
            .client
            .appointments()
            .list()
            .await
            .expect("list")
            .len(),
        1
    );

    // Device names are sealed at rest.
    if backend == Backend::Sqlite {
        s.sqlite_vacuum();
        let server = s.sqlite_file_bytes().expect("sqlite");
        for m in ["Pixel Marker-Phone", "Laptop Marker"] {
            assert!(!contains(&server, m), "{m} in clear on the server");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stolen_phone_is_signed_out_and_wiped_while_the_laptop_works_on() {
    stolen_phone(Backend::Sqlite).await;
    stolen_phone(Backend::Postgres).await;
}

async fn login(s: &TestServer, email: &str, password: &str, extra: Value) -> Value {
    let mut body = json!({"email": email, "password": password});
    body.as_object_mut()
        .expect("obj")
        .extend(extra.as_object().expect("obj").clone());
    let r = s.send("POST", "/v1/sessions", None, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

async fn sessions_list_end_and_refuse_bad_input(s: TestServer) {
    let a = s.user("alice").await;
    let b = s.user("bob").await;
    s.clock.advance(Duration::minutes(1));
    let phone = login(
        &s,
        &a.email,
        &a.password,
        json!({"device_name": "Alice phone", "platform": "ios"}),
    )
    .await;
    let phone_id = phone["session_id"].as_str().expect("id").to_owned();
    let phone_access = phone["access_token"].as_str().expect("t").to_owned();
    let phone_refresh = phone["refresh_token"].as_str().expect("t").to_owned();

    // The session id survives a refresh; the refresh counts as use.
    s.clock.advance(Duration::minutes(3));
    let r = s
        .send(
            "POST",
            "/v1/sessions/refresh",
            None,
            Some(&json!({"refresh_token": phone_refresh})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["session_id"], phone_id.as_str());
    let phone_refresh = r.json()["refresh_token"].as_str().expect("t").to_owned();
    let phone_access2 = r.json()["access_token"].as_str().expect("t").to_owned();
    let _ = phone_access;

    let list = s.send("GET", "/v1/sessions", Some(&a.access), None).await;
    assert_eq!(list.status, 200);
    let list = list.json();
    let rows = list["sessions"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{list}");
    // Newest first: the phone.
    assert_eq!(rows[0]["id"], phone_id.as_str());
    assert_eq!(rows[0]["device_name"], "Alice phone");
    assert_eq!(rows[0]["platform"], "ios");
    assert_eq!(rows[0]["current"], false);
    assert_ne!(rows[0]["last_used_at"], rows[0]["created_at"]);
    assert_eq!(rows[1]["current"], true);
    assert_eq!(rows[1]["device_name"], Value::Null);
    // Nothing about the network is kept or shown.
    let keys: Vec<&String> = rows[0].as_object().expect("row").keys().collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "current",
            "device_name",
            "id",
            "last_used_at",
            "platform"
        ]
    );

    // Bad input at login: changes nothing, no session made.
    let before = s.fingerprint().await;
    for (extra, field) in [
        (json!({"device_name": "x".repeat(101)}), "device_name"),
        (json!({"device_name": "bad\u{7}name"}), "device_name"),
        (json!({"platform": "windows-phone"}), "platform"),
    ] {
        let mut body = json!({"email": a.email, "password": a.password});
        body.as_object_mut()
            .expect("obj")
            .extend(extra.as_object().expect("obj").clone());
        s.send("POST", "/v1/sessions", None, Some(&body))
            .await
            .assert_problem(400, "validation_failed")
            .assert_field(field);
    }
    assert_eq!(s.fingerprint().await, before);

    // Another user's session, a garbage id, an ended one: 404, nothing changes.
    let before = s.fingerprint().await;
    for id in [
        phone_id.as_str(),
        "not-a-uuid",
        &uuid::Uuid::new_v4().to_string(),
    ] {
        s.send(
            "DELETE",
            &format!("/v1/sessions/{id}"),
            Some(&b.access),
            None,
        )
        .await
        .assert_problem(404, "not_found");
    }
    // Bad queries.
    for q in [
        "/v1/sessions",
        "/v1/sessions?others=false",
        "/v1/sessions?others=maybe",
        "/v1/sessions?others=true&wipe=2",
        "/v1/sessions?others=true&everyone=1",
    ] {
        let r = s.send("DELETE", q, Some(&a.access), None).await;
        assert_eq!(r.status, 400, "{q}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{q}"
        );
    }
    s.send(
        "DELETE",
        &format!("/v1/sessions/{phone_id}?wipe=yes"),
        Some(&a.access),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    // A wipe without a fresh password.
    s.send(
        "DELETE",
        &format!("/v1/sessions/{phone_id}?wipe=true"),
        Some(&a.access),
        None,
    )
    .await
    .assert_problem(403, "reauth_required");
    s.send(
        "DELETE",
        "/v1/sessions?others=true&wipe=true",
        Some(&a.access),
        None,
    )
    .await
    .assert_problem(403, "reauth_required");
    assert_eq!(s.fingerprint().await, before);

    // A plain sign-out: the phone's tokens die, its refresh says
    // unauthorized (no wipe asked).
    let r = s
        .send(
            "DELETE",
            &format!("/v1/sessions/{phone_id}"),
            Some(&a.access),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    s.send("GET", "/v1/me", Some(&phone_access2), None)
        .await
        .assert_problem(401, "unauthorized");
    s.send(
        "POST",
        "/v1/sessions/refresh",
        None,
        Some(&json!({"refresh_token": phone_refresh})),
    )
    .await
    .assert_problem(401, "unauthorized");
    // Ending it again: it is gone.
    s.send(
        "DELETE",
        &format!("/v1/sessions/{phone_id}"),
        Some(&a.access),
        None,
    )
    .await
    .assert_problem(404, "not_found");

    // All others, with a wipe: two more devices hear `session_wiped`.
    let t1 = login(&s, &a.email, &a.password, json!({})).await;
    let t2 = login(&s, &a.email, &a.password, json!({"platform": "android"})).await;
    let r = s
        .send(
            "POST",
            "/v1/sessions/reauth",
            Some(&a.access),
            Some(&json!({"password": a.password})),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = s
        .send(
            "DELETE",
            "/v1/sessions?others=true&wipe=true",
            Some(&a.access),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    for t in [&t1, &t2] {
        s.send(
            "POST",
            "/v1/sessions/refresh",
            None,
            Some(&json!({"refresh_token": t["refresh_token"]})),
        )
        .await
        .assert_problem(401, "session_wiped");
    }
    let list = s.send("GET", "/v1/sessions", Some(&a.access), None).await;
    assert_eq!(list.json()["sessions"].as_array().expect("rows").len(), 1);
    // Bob's sessions were not touched.
    let r = s.send("GET", "/v1/sessions", Some(&b.access), None).await;
    assert_eq!(r.json()["sessions"].as_array().expect("rows").len(), 1);
    // On record, ids and flags only.
    let user = uuid::Uuid::parse_str(&a.id).expect("id");
    let audit = s
        .state
        .store()
        .audit_of_user(user, 100)
        .await
        .expect("audit");
    assert!(audit.iter().any(|e| e.event == "session_ended"));
    assert!(audit.iter().any(|e| e.event == "other_sessions_ended"));
}

async fn ended_sessions_are_purged_in_batches(s: TestServer) {
    let a = s.user("purged").await;
    let wiped = login(
        &s,
        &a.email,
        &a.password,
        json!({"device_name": "Old phone"}),
    )
    .await;
    let plain = login(&s, &a.email, &a.password, json!({})).await;
    // A tablet that registers for wake-ups and is then never used again.
    let tablet = login(&s, &a.email, &a.password, json!({})).await;
    let r = s
        .send(
            "POST",
            "/v1/devices/push-token",
            tablet["access_token"].as_str(),
            Some(&json!({"platform": "fcm", "token": "tablet-push-token-1"})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    let r = s
        .send(
            "POST",
            "/v1/sessions/reauth",
            Some(&a.access),
            Some(&json!({"password": a.password})),
        )
        .await;
    assert_eq!(r.status, 204);
    for (t, wipe) in [(&wiped, true), (&plain, false)] {
        let id = t["session_id"].as_str().expect("id");
        let r = s
            .send(
                "DELETE",
                &format!("/v1/sessions/{id}?wipe={wipe}"),
                Some(&a.access),
                None,
            )
            .await;
        assert_eq!(r.status, 204);
    }
    let families = || s.count("SELECT COUNT(*) FROM token_families");
    assert_eq!(families().await, 4);
    // Right away: the plain one goes; the wiped one stays so its device
    // still hears it.
    praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(families().await, 3);
    assert_eq!(s.count("SELECT COUNT(*) FROM push_tokens").await, 1);
    s.clock.advance(Duration::days(29));
    s.send(
        "POST",
        "/v1/sessions/refresh",
        None,
        Some(&json!({"refresh_token": wiped["refresh_token"]})),
    )
    .await
    .assert_problem(401, "session_wiped");
    // Past the refresh token's 30 days, nothing of it is left; the live
    // session (refreshed in the meantime) stays with only its newest pair.
    let (_, refresh) = (a.access.clone(), a.refresh.clone());
    let r = s
        .send(
            "POST",
            "/v1/sessions/refresh",
            None,
            Some(&json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(r.status, 200);
    s.clock.advance(Duration::days(2));
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert!(report.sessions >= 3, "{report:?}");
    assert_eq!(families().await, 1);
    assert_eq!(
        s.count("SELECT COUNT(*) FROM push_tokens").await,
        0,
        "the expired tablet's push token left with its sign-in"
    );
    assert_eq!(s.count("SELECT COUNT(*) FROM refresh_tokens").await, 1);
    assert_eq!(s.count("SELECT COUNT(*) FROM access_tokens").await, 0);
    s.send(
        "POST",
        "/v1/sessions/refresh",
        None,
        Some(&json!({"refresh_token": wiped["refresh_token"]})),
    )
    .await
    .assert_problem(401, "unauthorized");

    // A million-row purge is many short batches: more than one batch of
    // expired tokens goes in one run.
    let n = praxis_server::store::PURGE_BATCH * 2 + 7;
    s.insert_expired_access_tokens(n).await;
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(report.sessions, u64::try_from(n).expect("n"));
    assert_eq!(s.count("SELECT COUNT(*) FROM access_tokens").await, 0);
}

/// Join codes (72 h) and contact invitations (here 100 h) are purged once
/// expired, a used one kept until then (to answer "used").
async fn expired_join_codes_and_invitations_leave_with_the_retention_job(s: TestServer) {
    let admin = s.user("codes-admin").await;
    let member = s.user("codes-member").await;
    let org = s.create_org(&admin.access, "Cabinet Retention").await;
    s.add_member(&admin.access, &member.access, &org).await; // a used code
    s.join_code(&admin.access, &org).await; // an open one
    let r = s
        .send(
            "POST",
            "/v1/contacts/invitations",
            Some(&member.access),
            Some(&json!({"fields": ["display_name"], "allow_forward": false, "ttl_hours": 100})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let counts = || async {
        (
            s.count("SELECT COUNT(*) FROM join_codes").await,
            s.count("SELECT COUNT(*) FROM contact_invitations").await,
        )
    };
    assert_eq!(counts().await, (2, 1));
    s.clock.advance(Duration::hours(71));
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(
        (report.codes, counts().await),
        (0, (2, 1)),
        "nothing expired yet"
    );
    s.clock.advance(Duration::hours(2));
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(
        (report.codes, counts().await),
        (2, (0, 1)),
        "both join codes at 72 h"
    );
    s.clock.advance(Duration::hours(28));
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(
        (report.codes, counts().await),
        (1, (0, 0)),
        "the invitation at 100 h"
    );
}
