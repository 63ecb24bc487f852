//! Consent and location end to end: a real server on loopback, an admin's
//! and a practitioner's devices, each a real core client with its own
//! encrypted cache and clock.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use praxis_core::appointments::Geofence;
use praxis_core::clock::Clock as _;
use praxis_core::clock::ManualClock;
use praxis_core::protocol::location::{LatLon, Precision, is_snapped};
use praxis_core::protocol::privacy::{Closed, Purpose, UpdateLocationPolicyRequest};
use praxis_core::protocol::{ErrorCode, RegisterRequest};
use praxis_core::sync::SyncState;
use praxis_core::{
    Error, Fix, FixSource, LogLevel, Logger, NewAppointment, PraxisClient, VisitKind,
};
use praxis_server::clock::Clock as _;
use praxis_tests::{Backend, TestServer, Transport, epoch, person};
use uuid::Uuid;

/// The core's log lines, for assertions.
#[derive(Debug, Default)]
struct Capture(Mutex<Vec<String>>);

impl Logger for Capture {
    fn log(&self, _: LogLevel, target: &str, message: &str) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("{target}: {message}"));
    }
}

impl Capture {
    fn lines(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }
}

struct Device {
    log: Arc<Capture>,
    client: Arc<PraxisClient>,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
    key: u8,
    user_id: Uuid,
}

async fn open(
    url: &str,
    dir: &tempfile::TempDir,
    key: u8,
    clock: &Arc<ManualClock>,
    log: &Arc<Capture>,
) -> Arc<PraxisClient> {
    let mut config = praxis_tests::client_config(url, dir.path(), key);
    config.clock = clock.clone();
    config.logger = Some(log.clone());
    PraxisClient::open(config).await.expect("open")
}

async fn device(s: &TestServer, tag: &str, key: u8) -> Device {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(epoch()));
    let log = Arc::new(Capture::default());
    let client = open(s.base_url().expect("url"), &dir, key, &clock, &log).await;
    let body = person(tag);
    let req: RegisterRequest = serde_json::from_value(body.clone()).expect("body");
    let user_id = client.account().register(&req).await.expect("register");
    praxis_tests::sign_in(&client, &body).await;
    Device {
        log,
        client,
        clock,
        dir,
        key,
        user_id,
    }
}

async fn sync(d: &Device) {
    let status = d.client.sync().sync_now("test").await.expect("sync");
    assert_eq!(status.state, SyncState::Idle, "{status:?}");
}

/// Moves the server's and the devices' clocks together.
fn advance(s: &TestServer, devices: &[&Device], by: Duration) {
    s.clock.advance(by);
    for d in devices {
        d.clock.advance(by);
    }
}

/// An organisation run by `admin` with `member` in it.
async fn org(admin: &Device, member: &Device) -> Uuid {
    let org = admin
        .client
        .account()
        .create_org("Infirmiers du Vieux-Lille")
        .await
        .expect("org");
    let code = admin
        .client
        .account()
        .create_join_code(org)
        .await
        .expect("code");
    member
        .client
        .account()
        .join_org(&code.code)
        .await
        .expect("join");
    org
}

async fn set_policy(admin: &Device, org: Uuid, change: UpdateLocationPolicyRequest) {
    admin
        .client
        .account()
        .update_location_policy(org, &change)
        .await
        .expect("policy");
}

fn fix(d: &Device, lat: f64, lon: f64) -> Fix {
    Fix {
        lat,
        lon,
        accuracy_m: 9.0,
        at: d.clock.now(),
        source: FixSource::Gps,
    }
}

const CLINIC: (f64, f64) = (50.6365, 3.0635);

async fn visit(d: &Device, fence: Option<Geofence>) -> Uuid {
    d.client
        .appointments()
        .create(NewAppointment {
            title: "Pansement".into(),
            patient_label: Some("P-204".into()),
            start: d.clock.now() + Duration::hours(1),
            duration_min: 30,
            address: Some("12 rue Esquermoise, Lille".into()),
            point: Some(praxis_core::GeoPoint {
                lat: CLINIC.0,
                lon: CLINIC.1,
            }),
            geofence: fence,
        })
        .await
        .expect("appointment")
}

fn closed(r: Result<impl std::fmt::Debug, Error>) -> Closed {
    match r {
        Err(Error::Closed { reason, .. }) => reason,
        other => panic!("expected a closed gate, got {other:?}"),
    }
}

async fn outbox_len(d: &Device) -> u64 {
    d.client.sync().status().pending
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_switching_off_stops_member_devices_at_their_next_sync() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let admin = device(&s, "admin", 1).await;
    let member = device(&s, "nurse", 2).await;
    let org = org(&admin, &member).await;
    let loc = member.client.location();

    // Default: off everywhere (the organisation has not allowed it).
    sync(&member).await;
    let p = loc.permission(Purpose::LocationVisits).await.expect("perm");
    assert_eq!(p.closed, Some(Closed::PolicyDisabled));
    assert_eq!(p.precision, Precision::Off);

    // A member cannot change the policy.
    let refused = member
        .client
        .account()
        .update_location_policy(
            org,
            &UpdateLocationPolicyRequest {
                location_visits: Some(true),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(Error::Api {
                status: 403,
                code: ErrorCode::Forbidden,
                ..
            })
        ),
        "{refused:?}"
    );

    set_policy(
        &admin,
        org,
        UpdateLocationPolicyRequest {
            location_visits: Some(true),
            ..Default::default()
        },
    )
    .await;
    let appointment = visit(&member, None).await;
    // The organisation allows it; the member has not consented.
    assert_eq!(
        closed(
            loc.check_in(appointment, fix(&member, CLINIC.0, CLINIC.1))
                .await
        ),
        Closed::PolicyDisabled,
        "not before the device has synced the new policy"
    );
    sync(&member).await;
    assert_eq!(
        closed(
            loc.check_in(appointment, fix(&member, CLINIC.0, CLINIC.1))
                .await
        ),
        Closed::ConsentRequired
    );
    member
        .client
        .consents()
        .grant(Purpose::LocationVisits)
        .await
        .expect("grant");
    let p = loc.permission(Purpose::LocationVisits).await.expect("perm");
    assert_eq!((p.closed, p.precision), (None, Precision::Approximate));

    let ev = loc
        .check_in(appointment, fix(&member, CLINIC.0 + 0.0003, CLINIC.1))
        .await
        .expect("check in");
    assert_eq!(ev.kind, VisitKind::CheckIn);
    assert_eq!(ev.inside, Some(true), "33 m from the door, inside 150 m");
    assert_eq!(ev.precision, Precision::Approximate);
    let pos = ev.position.expect("position");
    assert!(is_snapped(pos.lat, pos.lon), "approximate is snapped");
    assert!(ev.accuracy_m.expect("acc") >= 2000.0);
    sync(&member).await;
    assert_eq!(
        s.count("SELECT COUNT(*) FROM sync_records WHERE collection = 'visit_events'")
            .await,
        1
    );

    // Taken while allowed, not yet sent when the admin switches it off.
    let out = loc
        .check_out(appointment, fix(&member, CLINIC.0 + 0.01, CLINIC.1))
        .await
        .expect("check out");
    assert_eq!(out.inside, Some(false));
    assert!(out.distance_m.expect("distance") > 900.0);
    let queued = outbox_len(&member).await;
    assert!(queued >= 1);
    set_policy(
        &admin,
        org,
        UpdateLocationPolicyRequest {
            location_visits: Some(false),
            ..Default::default()
        },
    )
    .await;
    sync(&member).await;
    assert_eq!(
        s.count("SELECT COUNT(*) FROM sync_records WHERE collection = 'visit_events'")
            .await,
        1,
        "the queued check-out was dropped before the push, never sent"
    );
    let lines = member.log.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("1 queued visit events dropped unsent")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("server refused")),
        "nothing was sent for the server to refuse: {lines:?}"
    );
    let events = loc.events(appointment).await.expect("events");
    assert_eq!(events.len(), 1, "and removed from the device");
    assert_eq!(events[0].kind, VisitKind::CheckIn);
    let before = outbox_len(&member).await;
    assert_eq!(
        closed(
            loc.check_out(appointment, fix(&member, CLINIC.0, CLINIC.1))
                .await
        ),
        Closed::PolicyDisabled
    );
    assert_eq!(outbox_len(&member).await, before, "nothing queued");

    // Back on, then a new policy version: earlier consent no longer counts.
    set_policy(
        &admin,
        org,
        UpdateLocationPolicyRequest {
            location_visits: Some(true),
            ..Default::default()
        },
    )
    .await;
    sync(&member).await;
    assert!(
        loc.permission(Purpose::LocationVisits)
            .await
            .expect("p")
            .closed
            .is_none()
    );
    s.state
        .store()
        .publish_policy_version(Purpose::LocationVisits, 2, s.clock.now())
        .await
        .expect("publish");
    sync(&member).await;
    let consents = member.client.consents();
    assert_eq!(
        consents.needs_reconsent().await.expect("reconsent"),
        vec![Purpose::LocationVisits]
    );
    assert_eq!(
        loc.permission(Purpose::LocationVisits)
            .await
            .expect("p")
            .closed,
        Some(Closed::ConsentRequired)
    );
    member.clock.advance(Duration::seconds(1));
    consents
        .grant(Purpose::LocationVisits)
        .await
        .expect("grant");
    assert!(consents.needs_reconsent().await.expect("r").is_empty());
    let status = consents.status().await.expect("status");
    let visits = status
        .iter()
        .find(|c| c.purpose == Purpose::LocationVisits)
        .expect("visits");
    assert!(visits.granted && visits.given_version == Some(2) && visits.current_version == 2);
    sync(&member).await;
    let history = consents.history().await.expect("history");
    assert_eq!(history.len(), 2, "the whole ledger is kept");
    assert!(history.iter().all(|e| e.granted));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sharing_ends_at_expiry_even_when_no_timer_fired() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let mut admin = device(&s, "admin", 3).await;
    let member = device(&s, "nurse", 4).await;
    let org = org(&admin, &member).await;
    set_policy(
        &admin,
        org,
        UpdateLocationPolicyRequest {
            location_sharing: Some(true),
            max_precision: Some(Precision::Precise),
            ..Default::default()
        },
    )
    .await;
    sync(&member).await;
    let loc = member.client.location();
    assert_eq!(
        closed(loc.start_share(vec![admin.user_id], 30).await),
        Closed::ConsentRequired
    );
    member
        .client
        .consents()
        .grant(Purpose::LocationSharing)
        .await
        .expect("grant");
    sync(&member).await;
    loc.set_precision(Precision::Precise)
        .await
        .expect("precise");
    assert!(matches!(
        loc.start_share(vec![admin.user_id], 481).await,
        Err(Error::InvalidInput {
            field: "duration_min",
            ..
        })
    ));
    let share = loc
        .start_share(vec![admin.user_id], 30)
        .await
        .expect("share");
    assert_eq!(
        loc.share_fix(fix(&member, 50.63, 3.06)).await.expect("fix"),
        1
    );
    let seen = admin
        .client
        .location()
        .shared_with_me()
        .await
        .expect("seen");
    assert_eq!(seen.len(), 1);
    let pos = seen[0].position.clone().expect("position");
    assert_eq!((pos.lat, pos.precision), (50.63, Precision::Precise));

    // The recipient goes offline with the position in its cache.
    drop(std::mem::replace(
        &mut admin.client,
        open(
            "http://127.0.0.1:9",
            &admin.dir,
            admin.key,
            &admin.clock,
            &admin.log,
        )
        .await,
    ));
    let offline = admin
        .client
        .location()
        .shared_with_me()
        .await
        .expect("cached");
    assert_eq!(offline.len(), 1, "shown from the cache while it lasts");

    // 31 minutes pass in one jump: no timer fired anywhere.
    advance(&s, &[&admin, &member], Duration::minutes(31));
    assert!(
        admin
            .client
            .location()
            .shared_with_me()
            .await
            .expect("cached")
            .is_empty(),
        "the recipient's device drops it on read"
    );
    assert_eq!(
        loc.share_fix(fix(&member, 50.64, 3.06)).await.expect("fix"),
        0
    );
    assert!(loc.my_shares().await.expect("mine").is_empty());
    assert_eq!(
        s.count("SELECT COUNT(*) FROM location_positions").await,
        1,
        "until read"
    );
    praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(s.count("SELECT COUNT(*) FROM location_shares").await, 0);
    assert_eq!(s.count("SELECT COUNT(*) FROM location_positions").await, 0);

    // Withdrawing consent ends a running share on the device at once and
    // on the server at the next sync.
    let share2 = loc
        .start_share(vec![admin.user_id], 60)
        .await
        .expect("share");
    assert_ne!(share2.share_id, share.share_id);
    assert_eq!(
        loc.share_fix(fix(&member, 50.63, 3.06)).await.expect("fix"),
        1
    );
    member
        .client
        .consents()
        .withdraw(Purpose::LocationSharing)
        .await
        .expect("withdraw");
    assert!(loc.my_shares().await.expect("mine").is_empty());
    assert_eq!(
        closed(loc.share_fix(fix(&member, 50.63, 3.06)).await),
        Closed::ConsentRequired
    );
    sync(&member).await;
    assert_eq!(s.count("SELECT COUNT(*) FROM location_shares").await, 0);
    assert_eq!(s.count("SELECT COUNT(*) FROM location_positions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_fixes_and_fences_are_refused_and_nothing_is_stored() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let admin = device(&s, "admin", 5).await;
    let member = device(&s, "nurse", 6).await;
    let org = org(&admin, &member).await;
    set_policy(
        &admin,
        org,
        UpdateLocationPolicyRequest {
            location_visits: Some(true),
            max_precision: Some(Precision::Precise),
            ..Default::default()
        },
    )
    .await;
    sync(&member).await;
    member
        .client
        .consents()
        .grant(Purpose::LocationVisits)
        .await
        .expect("grant");
    let a = visit(&member, None).await;
    sync(&member).await;
    let loc = member.client.location();
    let now = member.clock.now();
    let good = fix(&member, CLINIC.0, CLINIC.1);
    let cases: Vec<(Fix, &str)> = vec![
        (
            Fix {
                lat: f64::NAN,
                ..good
            },
            "lat",
        ),
        (Fix { lat: 90.5, ..good }, "lat"),
        (
            Fix {
                lon: -180.01,
                ..good
            },
            "lon",
        ),
        (
            Fix {
                lon: f64::INFINITY,
                ..good
            },
            "lon",
        ),
        (
            Fix {
                accuracy_m: -1.0,
                ..good
            },
            "accuracy_m",
        ),
        (
            Fix {
                accuracy_m: f64::NAN,
                ..good
            },
            "accuracy_m",
        ),
        (
            Fix {
                accuracy_m: 50_000.0,
                ..good
            },
            "accuracy_m",
        ),
        (
            Fix {
                at: now + Duration::hours(2),
                ..good
            },
            "at",
        ),
        (
            Fix {
                at: now - Duration::days(2),
                ..good
            },
            "at",
        ),
    ];
    for (bad, field) in cases {
        let r = loc.check_in(a, bad).await;
        assert!(
            matches!(r, Err(Error::InvalidInput { field: f, .. }) if f == field),
            "{field}: {r:?}"
        );
        assert!(matches!(
            loc.share_fix(bad).await,
            Err(Error::InvalidInput { .. })
        ));
    }
    assert!(matches!(
        loc.check_in(Uuid::new_v4(), good).await,
        Err(Error::InvalidInput {
            field: "appointment_id",
            ..
        })
    ));
    assert!(matches!(
        loc.check_out(a, good).await,
        Err(Error::InvalidInput {
            reason: "check in first",
            ..
        })
    ));
    let p = |lat: f64, lon: f64| LatLon { lat, lon };
    let fences = [
        (
            Geofence::Polygon {
                points: vec![p(50.0, 3.0), p(50.0, 3.01), p(50.01, 3.01), p(50.01, 3.0)],
            },
            "not_closed",
        ),
        (
            Geofence::Polygon {
                points: vec![
                    p(50.0, 3.0),
                    p(50.01, 3.01),
                    p(50.0, 3.01),
                    p(50.01, 3.0),
                    p(50.0, 3.0),
                ],
            },
            "self_intersecting",
        ),
        (
            Geofence::Circle {
                lat: 50.0,
                lon: 3.0,
                radius_m: f64::NAN,
            },
            "not_finite",
        ),
    ];
    for (fence, code) in fences {
        let r = member
            .client
            .appointments()
            .create(NewAppointment {
                title: "Bad fence".into(),
                patient_label: None,
                start: now,
                duration_min: 30,
                address: None,
                point: None,
                geofence: Some(fence),
            })
            .await;
        assert!(
            matches!(r, Err(Error::InvalidInput { field: "geofence", reason }) if reason == code),
            "{code}: {r:?}"
        );
    }
    assert_eq!(outbox_len(&member).await, 0, "nothing was queued");
    assert!(loc.all_events().await.expect("events").is_empty());
    assert_eq!(
        member
            .client
            .appointments()
            .list()
            .await
            .expect("list")
            .len(),
        1
    );

    // A valid polygon fence decides inside/outside and the distance.
    let fence = Geofence::Polygon {
        points: vec![
            p(50.636, 3.063),
            p(50.636, 3.064),
            p(50.637, 3.064),
            p(50.637, 3.063),
            p(50.636, 3.063),
        ],
    };
    let b = visit(&member, Some(fence)).await;
    let inside = loc
        .check_in(b, fix(&member, 50.6365, 3.0635))
        .await
        .expect("in");
    assert_eq!((inside.inside, inside.distance_m), (Some(true), Some(0.0)));
    let route = loc
        .route_to_next(fix(&member, 50.6465, 3.0635))
        .await
        .expect("route")
        .expect("a next visit");
    assert!(
        (route.distance_m - 1112.0).abs() < 20.0,
        "{}",
        route.distance_m
    );
    assert!(
        route.bearing_deg > 170.0 && route.bearing_deg < 190.0,
        "due south: {}",
        route.bearing_deg
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_fixes_expire_on_the_device_and_the_server() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let admin = device(&s, "admin", 7).await;
    let member = device(&s, "nurse", 8).await;
    let org = org(&admin, &member).await;
    set_policy(
        &admin,
        org,
        UpdateLocationPolicyRequest {
            location_visits: Some(true),
            ..Default::default()
        },
    )
    .await;
    sync(&member).await;
    member
        .client
        .consents()
        .grant(Purpose::LocationVisits)
        .await
        .expect("grant");
    let a = visit(&member, None).await;
    let loc = member.client.location();
    loc.check_in(a, fix(&member, CLINIC.0, CLINIC.1))
        .await
        .expect("in");
    sync(&member).await;
    advance(&s, &[&member], Duration::days(6));
    loc.enforce().await.expect("enforce");
    assert!(
        loc.events(a).await.expect("events")[0].position.is_some(),
        "6 days: kept"
    );
    advance(&s, &[&member], Duration::days(1) + Duration::minutes(1));
    loc.enforce().await.expect("enforce");
    let ev = &loc.events(a).await.expect("events")[0];
    assert_eq!(
        (ev.position, ev.accuracy_m),
        (None, None),
        "7 days: the raw fix is gone"
    );
    assert_eq!(ev.inside, Some(true), "the verification stays");
    // Nothing of the visit or the fix is readable in the device's files.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(member.dir.path()).expect("dir") {
        bytes.extend(std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    for marker in [
        "Esquermoise",
        "P-204",
        "Pansement",
        "50.6365",
        "3.0635",
        "check_in",
    ] {
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "{marker} in plaintext in the cache files"
        );
    }
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(report.visit_fixes, 1);
    sync(&member).await;
    let ev = &loc.events(a).await.expect("events")[0];
    assert_eq!(ev.position, None, "the server's cleared copy agrees");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_account_keeps_its_data_unchanged_but_can_still_object() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let admin = device(&s, "admin", 9).await;
    let member = device(&s, "nurse", 10).await;
    let org = org(&admin, &member).await;
    set_policy(
        &admin,
        org,
        UpdateLocationPolicyRequest {
            location_visits: Some(true),
            ..Default::default()
        },
    )
    .await;
    sync(&member).await;
    let consents = member.client.consents();
    consents.grant(Purpose::Marketing).await.expect("grant");
    consents
        .grant(Purpose::LocationVisits)
        .await
        .expect("grant");
    let a = visit(&member, None).await;
    sync(&member).await;
    // An edit queued before the restriction reached this device.
    member
        .client
        .appointments()
        .update(
            a,
            praxis_core::AppointmentPatch {
                title: Some("Edited before the restriction".into()),
                ..Default::default()
            },
        )
        .await
        .expect("edit");
    member
        .client
        .account()
        .set_restricted(true)
        .await
        .expect("restrict");
    // Nothing new is processed, on the device or the server.
    assert!(matches!(
        visit_result(&member).await,
        Err(Error::Restricted)
    ));
    assert_eq!(
        closed(
            member
                .client
                .location()
                .check_in(a, fix(&member, CLINIC.0, CLINIC.1))
                .await
        ),
        Closed::Restricted
    );
    // Objection still works and reaches the server; the edit waits, kept.
    member.clock.advance(Duration::seconds(1));
    consents.withdraw(Purpose::Marketing).await.expect("object");
    let status = member.client.sync().sync_now("test").await.expect("sync");
    assert_eq!(status.state, SyncState::Idle, "{status:?}");
    assert_eq!(status.pending, 1, "the queued edit is kept, not sent");
    let audit = s
        .state
        .store()
        .audit_of_user(member.client.account().user_id().expect("id"), 100)
        .await
        .expect("audit");
    let withdrawn = audit
        .iter()
        .any(|e| e.event == "consent_changed" && e.details["granted"] == false);
    assert!(withdrawn, "the objection reached the server");
    assert_eq!(server_records_with(&s, &member, "Edited before").await, 0);
    // Lifting the restriction lets the kept edit through.
    member
        .client
        .account()
        .set_restricted(false)
        .await
        .expect("lift");
    sync(&member).await;
    assert_eq!(member.client.sync().status().pending, 0);
    assert_eq!(server_records_with(&s, &member, "Edited before").await, 1);
}

/// How many of the device user's records on the server contain `text`
/// (read through the store: the fields are sealed in the database).
async fn server_records_with(s: &TestServer, d: &Device, text: &str) -> usize {
    let page = s
        .state
        .store()
        .pull(&format!("u:{}", d.user_id), 0, 10_000)
        .await
        .expect("pull");
    page.changes
        .iter()
        .filter(|c| {
            serde_json::to_string(&c.fields)
                .expect("json")
                .contains(text)
        })
        .count()
}

async fn visit_result(d: &Device) -> Result<Uuid, Error> {
    d.client
        .appointments()
        .create(NewAppointment {
            title: "Refused".into(),
            patient_label: None,
            start: d.clock.now() + Duration::hours(2),
            duration_min: 30,
            address: None,
            point: None,
            geofence: None,
        })
        .await
}

/// A screen watching the permissions sees the current value at once, then
/// each change (the organisation's policy arriving with a sync, the user's
/// consent), and never the same value twice in a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_permission_watch_reports_each_change_once() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let admin = device(&s, "watchadmin", 5).await;
    let member = device(&s, "watchnurse", 6).await;
    let org = org(&admin, &member).await;
    sync(&member).await;
    let seen: Arc<Mutex<Vec<Option<Closed>>>> = Arc::default();
    let location = member.client.location();
    let record = Arc::clone(&seen);
    let watch = tokio::spawn(async move {
        location
            .watch_permissions(|now| {
                let visits = now.iter().find(|p| p.purpose == Purpose::LocationVisits);
                record
                    .lock()
                    .expect("lock")
                    .push(visits.and_then(|p| p.closed));
            })
            .await;
    });
    let wait_for = |n: usize| {
        let seen = Arc::clone(&seen);
        async move {
            for _ in 0..500 {
                if seen.lock().expect("lock").len() >= n {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("the watch reported {:?}", seen.lock().expect("lock"));
        }
    };
    wait_for(1).await;
    // Syncs that change nothing are not reported again.
    sync(&member).await;
    sync(&member).await;
    set_policy(
        &admin,
        org,
        UpdateLocationPolicyRequest {
            location_visits: Some(true),
            ..Default::default()
        },
    )
    .await;
    sync(&member).await;
    wait_for(2).await;
    member
        .client
        .consents()
        .grant(Purpose::LocationVisits)
        .await
        .expect("grant");
    wait_for(3).await;
    sync(&member).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    watch.abort();
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![
            Some(Closed::PolicyDisabled),
            Some(Closed::ConsentRequired),
            None
        ]
    );
}
