//! Erasure by purpose (GDPR Art. 17(1)(b)) end to end: a practitioner
//! withdraws location consent and erases what was collected under it. No
//! fix, check-in result or distance remains on the server or on any of
//! their devices, except the visit records the organisation's stated
//! retention holds, which are then restricted (export only) and deleted
//! on their date.

use std::sync::Arc;

use chrono::Duration;
use praxis_core::clock::Clock as _;
use praxis_core::clock::ManualClock;
use praxis_core::protocol::location::Precision;
use praxis_core::protocol::privacy::{Purpose, UpdateLocationPolicyRequest};
use praxis_core::protocol::{ErrorCode, RegisterRequest};
use praxis_core::{Error, Fix, FixSource, NewAppointment, PraxisClient};
use praxis_tests::{Backend, TestServer, Transport, epoch, person};
use serde_json::Value;
use uuid::Uuid;

struct Device {
    client: Arc<PraxisClient>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn open(s: &TestServer, key: u8) -> Device {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(epoch()));
    let mut config = praxis_tests::client_config(s.base_url().expect("url"), dir.path(), key);
    config.clock = clock.clone();
    let client = PraxisClient::open(config).await.expect("open");
    Device {
        client,
        clock,
        _dir: dir,
    }
}

/// How many visit events a device holds.
async fn events(d: &Device) -> usize {
    d.client
        .location()
        .all_events()
        .await
        .expect("events")
        .len()
}

async fn sync(d: &Device) {
    d.client.sync().sync_now("test").await.expect("sync");
}

fn advance(s: &TestServer, devices: &[&Device], by: Duration) {
    s.clock.advance(by);
    for d in devices {
        d.clock.advance(by);
    }
}

const CLINIC: (f64, f64) = (50.6365, 3.0635);

async fn check_in(d: &Device) {
    let appointment = d
        .client
        .appointments()
        .create(NewAppointment {
            title: "Pansement".into(),
            patient_label: None,
            start: d.clock.now() + Duration::hours(1),
            duration_min: 30,
            address: None,
            point: Some(praxis_core::GeoPoint {
                lat: CLINIC.0,
                lon: CLINIC.1,
            }),
            geofence: None,
        })
        .await
        .expect("appointment");
    let fix = Fix {
        lat: CLINIC.0 + 0.0003,
        lon: CLINIC.1,
        accuracy_m: 9.0,
        at: d.clock.now(),
        source: FixSource::Gps,
    };
    d.client
        .location()
        .check_in(appointment, fix)
        .await
        .expect("check in");
    sync(d).await;
}

/// A fresh access token of the person of registration body `body`.
async fn token(s: &TestServer, body: &Value) -> String {
    s.login(
        body["email"].as_str().expect("email"),
        body["password"].as_str().expect("password"),
    )
    .await
    .0
}

/// Every visit-event value the server holds for `user`, opened.
async fn server_visits(s: &TestServer, user: Uuid) -> Vec<Value> {
    s.state
        .store()
        .export_page(user, "visit_events", 0)
        .await
        .expect("page")
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erased_location_data_leaves_the_server_and_every_device_but_what_retention_holds() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if let Some(s) = TestServer::start(backend, Transport::Http).await {
            erasure(s).await;
        }
    }
}

async fn erasure(s: TestServer) {
    // An admin, and a nurse on a phone and a tablet.
    let admin = open(&s, 1).await;
    let admin_body = person("erasure-admin");
    let req: RegisterRequest = serde_json::from_value(admin_body.clone()).expect("req");
    admin
        .client
        .account()
        .register(&req)
        .await
        .expect("register");
    praxis_tests::sign_in(&admin.client, &admin_body).await;
    let phone = open(&s, 2).await;
    let tablet = open(&s, 3).await;
    let body = person("erasure-nurse");
    let req: RegisterRequest = serde_json::from_value(body.clone()).expect("req");
    let nurse: Uuid = phone
        .client
        .account()
        .register(&req)
        .await
        .expect("register");
    praxis_tests::sign_in(&phone.client, &body).await;
    praxis_tests::sign_in(&tablet.client, &body).await;
    let org = admin
        .client
        .account()
        .create_org("Cabinet Wazemmes")
        .await
        .expect("org");
    let code = admin
        .client
        .account()
        .create_join_code(org)
        .await
        .expect("code");
    phone
        .client
        .account()
        .join_org(&code.code)
        .await
        .expect("join");
    // The organisation must keep visit records 10 days (billing); a bad
    // value is refused.
    let too_long = admin
        .client
        .account()
        .update_location_policy(
            org,
            &UpdateLocationPolicyRequest {
                visit_records_days: Some(5000),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(
            too_long,
            Err(Error::Api {
                status: 400,
                code: ErrorCode::ValidationFailed,
                ..
            })
        ),
        "{too_long:?}"
    );
    admin
        .client
        .account()
        .update_location_policy(
            org,
            &UpdateLocationPolicyRequest {
                location_visits: Some(true),
                location_sharing: Some(true),
                max_precision: Some(Precision::Precise),
                visit_records_days: Some(10),
                ..Default::default()
            },
        )
        .await
        .expect("policy");
    sync(&phone).await;
    for p in [Purpose::LocationVisits, Purpose::LocationSharing] {
        phone.client.consents().grant(p).await.expect("grant");
    }
    phone
        .client
        .location()
        .set_precision(Precision::Precise)
        .await
        .expect("precise");

    // A visit on day 0 and one on day 5; a live share to the admin.
    check_in(&phone).await;
    advance(&s, &[&admin, &phone, &tablet], Duration::days(5));
    check_in(&phone).await;
    sync(&tablet).await;
    assert_eq!(events(&tablet).await, 2);
    let admin_id: Uuid = admin.client.account().user_id().expect("admin signed in");
    phone
        .client
        .location()
        .start_share(vec![admin_id], 60)
        .await
        .expect("share");

    // Not a location purpose: refused, nothing changes.
    let bad = phone
        .client
        .location()
        .erase_data(Some(Purpose::Marketing))
        .await;
    assert!(matches!(bad, Err(Error::InvalidInput { .. })), "{bad:?}");
    let user = token(&s, &body).await;
    let r = s
        .send(
            "DELETE",
            "/v1/me/location-data?purpose=analytics",
            Some(&user),
            None,
        )
        .await;
    r.assert_problem(400, "validation_failed");
    assert_eq!(server_visits(&s, nurse).await.len(), 2);

    // Day 12: withdraw, then erase. The day-0 visit is past the 10-day
    // hold (deleted); the day-5 one is held until day 15.
    advance(&s, &[&admin, &phone, &tablet], Duration::days(7));
    for p in [Purpose::LocationVisits, Purpose::LocationSharing] {
        phone.client.consents().withdraw(p).await.expect("withdraw");
    }
    sync(&phone).await;
    let erased = phone
        .client
        .location()
        .erase_data(None)
        .await
        .expect("erase");
    assert_eq!(erased.raw_fixes_erased, 2);
    assert_eq!(erased.visit_events_deleted, 1);
    assert_eq!(erased.visit_events_held, 1);
    let held_until = erased.held_until.expect("held until");
    assert_eq!(
        held_until.date_naive(),
        (epoch() + Duration::days(15)).date_naive()
    );

    // The server: no visit event left in sync; the held one without its
    // raw fix, shown only in the export, restricted.
    assert!(server_visits(&s, nurse).await.is_empty());
    let doc = s
        .send("GET", "/v1/me/export", Some(&token(&s, &body).await), None)
        .await
        .json();
    assert_eq!(doc["visit_events"], Value::Array(vec![]));
    let held = doc["location"]["held_visit_events"]
        .as_array()
        .expect("held");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["restricted"], true);
    let fields = held[0]["fields"].as_object().expect("fields");
    assert!(fields.contains_key("inside") && fields.contains_key("at"));
    for raw in ["lat", "lon", "accuracy_m"] {
        assert!(!fields.contains_key(raw), "{raw} held");
    }
    assert_eq!(
        doc["location"]["positions"],
        Value::Array(vec![]),
        "the share's position is gone"
    );
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/export.schema.json"
        ))
        .expect("schema"),
    )
    .expect("json");
    let validator = jsonschema::validator_for(&schema).expect("validator");
    assert!(validator.is_valid(&doc), "the export follows its schema");
    assert!(
        s.state
            .store()
            .audit_of_user(nurse, 100)
            .await
            .expect("audit")
            .iter()
            .any(|e| e.event == "location_data_erased")
    );

    // Every device: the phone at once, the tablet at its next sync; the
    // admin no longer sees the share.
    assert_eq!(events(&phone).await, 0);
    assert!(
        phone
            .client
            .location()
            .my_shares()
            .await
            .expect("shares")
            .is_empty()
    );
    sync(&tablet).await;
    assert_eq!(events(&tablet).await, 0);
    sync(&phone).await;
    assert_eq!(events(&phone).await, 0);
    assert!(
        admin
            .client
            .location()
            .shared_with_me()
            .await
            .expect("shared")
            .is_empty()
    );

    // On its date the held record goes too.
    advance(&s, &[&admin, &phone, &tablet], Duration::days(4));
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(report.held_visits, 1);
    let doc = s
        .send("GET", "/v1/me/export", Some(&token(&s, &body).await), None)
        .await
        .json();
    assert_eq!(doc["location"]["held_visit_events"], Value::Array(vec![]));
}
