//! Consent, organisation location policy, restriction and live sharing at
//! the API, on every backend and transport.

use chrono::Duration;
use praxis_server::clock::Clock;
use praxis_server::jobs;
use praxis_tests::{Resp, TestServer, TestUser, suite};
use serde_json::{Value, json};

suite!(
    only_admins_change_the_location_policy_and_every_change_is_recorded,
    policy_reaches_each_member_as_an_org_policy_record,
    visit_events_need_both_gates_and_the_allowed_precision,
    raising_a_policy_version_voids_earlier_consent,
    live_shares_end_at_expiry_on_withdrawal_and_when_the_org_switches_off,
    retention_clears_raw_fixes_after_the_org_period,
    restriction_freezes_data_but_objection_still_works,
    a_member_who_leaves_the_org_stops_receiving_and_sending_live_location,
    a_future_dated_grant_cannot_outrank_a_later_withdrawal,
    live_shares_per_account_are_capped,
    reads_do_not_wait_for_a_writer,
);

/// Regression (SQLite): `/v1/me/privacy`, the location reads and the
/// contact card took the single writer's lock, so every read queued behind
/// any write (a long push stalled them all). They now read a snapshot.
async fn reads_do_not_wait_for_a_writer(s: TestServer) {
    let (org, admin, member) = org(&s).await;
    allow_precise_sharing(&s, &org, &admin).await;
    consent(&s, &member, "location_sharing", true, 1).await;
    ok(&start_share(&s, &member, &[&admin], 60).await, 201);
    // A writer holds the database (on SQLite: the one write lock).
    let writer = s.state.store().db().begin().await.expect("begin");
    for (path, who) in [
        ("/v1/me/privacy".to_owned(), &member),
        ("/v1/location/shares".to_owned(), &member),
        ("/v1/location/shared-with-me".to_owned(), &admin),
        ("/v1/contacts/card".to_owned(), &member),
        (format!("/v1/orgs/{org}/location-policy"), &member),
        ("/v1/sessions".to_owned(), &member),
    ] {
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            s.send("GET", &path, Some(&who.access), None),
        )
        .await
        .unwrap_or_else(|_| panic!("GET {path} waited for the writer"));
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    drop(writer);
}

/// Regression (unbounded growth): an account could run any number of live
/// shares. At most `MAX_LIVE_SHARES` run at once; an ended one frees its
/// place; a refusal writes nothing.
async fn live_shares_per_account_are_capped(s: TestServer) {
    use praxis_server::store::MAX_LIVE_SHARES;
    let (org, admin, member) = org(&s).await;
    allow_precise_sharing(&s, &org, &admin).await;
    consent(&s, &member, "location_sharing", true, 1).await;
    let mut ids = Vec::new();
    for _ in 0..MAX_LIVE_SHARES {
        let share = ok(&start_share(&s, &member, &[&admin], 60).await, 201);
        ids.push(share["share_id"].as_str().expect("id").to_owned());
    }
    let before = s.fingerprint().await;
    start_share(&s, &member, &[&admin], 60)
        .await
        .assert_problem(409, "limit_reached")
        .assert_field("live_shares");
    assert_eq!(s.fingerprint().await, before, "nothing written");
    let stop = s
        .send(
            "DELETE",
            &format!("/v1/location/shares/{}", ids[0]),
            Some(&member.access),
            None,
        )
        .await;
    assert_eq!(stop.status, 204, "{}", String::from_utf8_lossy(&stop.body));
    ok(&start_share(&s, &member, &[&admin], 60).await, 201);
}

/// Signs in again (time jumps beyond the 15-minute access tokens).
async fn relogin(s: &TestServer, users: &mut [&mut TestUser]) {
    for u in users.iter_mut() {
        (u.access, u.refresh) = s.login(&u.email, &u.password).await;
    }
}

fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// An organisation with an admin and a member.
async fn org(s: &TestServer) -> (String, TestUser, TestUser) {
    let admin = s.user("admin").await;
    let member = s.user("member").await;
    let org = s.create_org(&admin.access, "Soins à domicile Est").await;
    s.add_member(&admin.access, &member.access, &org).await;
    (org, admin, member)
}

/// The admin allows live sharing, precisely.
async fn allow_precise_sharing(s: &TestServer, org: &str, admin: &TestUser) {
    ok(
        &set_policy(
            s,
            org,
            admin,
            json!({"location_sharing": true, "max_precision": "precise"}),
        )
        .await,
        200,
    );
}

async fn set_policy(s: &TestServer, org: &str, admin: &TestUser, change: Value) -> Resp {
    s.send(
        "PATCH",
        &format!("/v1/orgs/{org}/location-policy"),
        Some(&admin.access),
        Some(&change),
    )
    .await
}

fn t(s: &TestServer, n: u64) -> String {
    format!(
        "{:013}-{n:06}-dev{n}",
        u64::try_from(s.clock.now().timestamp_millis()).expect("ms")
    )
}

fn field(v: Value, t: &str) -> Value {
    json!({ "v": v, "t": t })
}

static SEQ: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

/// Pushes one new record; its result.
async fn push(s: &TestServer, u: &TestUser, collection: &str, fields: Value) -> Value {
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tt = t(s, u64::try_from(seq).expect("seq"));
    let fields: serde_json::Map<String, Value> = fields
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.clone(), field(v.clone(), &tt)))
        .collect();
    let r = s
        .send(
            "POST",
            "/v1/sync/push",
            Some(&u.access),
            Some(&json!({
                "client_id": "5b1c0c9e-8d43-4a51-9d0b-6f0e2f1c7a11",
                "mutations": [{
                    "client_seq": seq,
                    "collection": collection,
                    "id": uuid::Uuid::new_v4().to_string(),
                    "fields": fields,
                }],
            })),
        )
        .await;
    ok(&r, 200)["results"][0].clone()
}

async fn consent(
    s: &TestServer,
    u: &TestUser,
    purpose: &str,
    granted: bool,
    version: u32,
) -> Value {
    consent_dated(s, u, purpose, granted, version, chrono::Duration::zero()).await
}

fn visit(s: &TestServer, lat: f64, lon: f64, accuracy: f64, precision: &str) -> Value {
    json!({
        "appointment_id": uuid::Uuid::new_v4().to_string(),
        "kind": "check_in",
        "at": s.clock.now().to_rfc3339(),
        "lat": lat,
        "lon": lon,
        "accuracy_m": accuracy,
        "precision": precision,
        "inside": true,
        "distance_m": 0.0,
    })
}

fn rejected(result: &Value) -> Option<&str> {
    (result["status"] == "rejected").then(|| result["reason"].as_str().expect("reason"))
}

async fn pull_all(s: &TestServer, u: &TestUser) -> Vec<Value> {
    let r = s
        .send("POST", "/v1/sync/pull", Some(&u.access), Some(&json!({})))
        .await;
    ok(&r, 200)["changes"].as_array().expect("changes").clone()
}

async fn only_admins_change_the_location_policy_and_every_change_is_recorded(s: TestServer) {
    let (org, admin, member) = org(&s).await;
    let outsider = s.user("outsider").await;
    let path = format!("/v1/orgs/{org}/location-policy");
    let initial = ok(&s.send("GET", &path, Some(&member.access), None).await, 200);
    assert_eq!(
        initial["location_visits"], false,
        "off until an admin decides"
    );
    assert_eq!(initial["max_precision"], "approximate");
    assert_eq!(initial["retention_days"], 7);

    let before = s.fingerprint().await;
    set_policy(&s, &org, &member, json!({"location_visits": true}))
        .await
        .assert_problem(403, "forbidden");
    set_policy(&s, &org, &outsider, json!({"location_visits": true}))
        .await
        .assert_problem(404, "not_found");
    for (bad, f) in [
        (json!({"retention_days": 0}), "retention_days"),
        (json!({"retention_days": 31}), "retention_days"),
        (json!({"max_precision": "off"}), "max_precision"),
    ] {
        set_policy(&s, &org, &admin, bad)
            .await
            .assert_problem(400, "validation_failed")
            .assert_field(f);
    }
    set_policy(&s, &org, &admin, json!({"location_visits": "yes"}))
        .await
        .assert_problem(400, "validation_failed");
    set_policy(&s, &org, &admin, json!({"tracking": true}))
        .await
        .assert_problem(400, "validation_failed");
    s.send(
        "PUT",
        &format!("/v1/orgs/{org}/members/{}/location", admin.id),
        Some(&member.access),
        Some(&json!({"enabled": false})),
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(s.fingerprint().await, before, "refusals change nothing");

    s.clock.advance(Duration::minutes(1));
    let p = ok(
        &set_policy(
            &s,
            &org,
            &admin,
            json!({"location_visits": true, "max_precision": "precise", "retention_days": 3}),
        )
        .await,
        200,
    );
    assert_eq!(p["location_visits"], true);
    assert_eq!(p["location_sharing"], false, "untouched");
    assert_eq!(p["updated_by"], admin.id.as_str());
    let changed_at = s.clock.now();
    s.clock.advance(Duration::seconds(1));
    ok(
        &s.send(
            "PUT",
            &format!("/v1/orgs/{org}/members/{}/location", member.id),
            Some(&admin.access),
            Some(&json!({"enabled": false})),
        )
        .await,
        204,
    );
    let changes = ok(
        &s.send("GET", &format!("{path}/changes"), Some(&admin.access), None)
            .await,
        200,
    );
    let changes = changes.as_array().expect("changes");
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0]["actor_id"], admin.id.as_str());
    assert_eq!(changes[0]["change"]["retention_days"], 3);
    assert_eq!(
        changes[0]["at"],
        changed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert_eq!(changes[1]["member_id"], member.id.as_str());
    assert_eq!(changes[1]["change"]["member_enabled"], false);
    s.send(
        "GET",
        &format!("{path}/changes"),
        Some(&member.access),
        None,
    )
    .await
    .assert_problem(403, "forbidden");
}

fn policies(changes: &[Value]) -> Vec<&Value> {
    changes
        .iter()
        .filter(|c| c["collection"] == "org_policy")
        .collect()
}

async fn policy_reaches_each_member_as_an_org_policy_record(s: TestServer) {
    let (org, admin, member) = org(&s).await;
    let first = pull_all(&s, &member).await;
    let p = policies(&first);
    assert_eq!(p.len(), 1, "joining brings the policy");
    assert_eq!(p[0]["fields"]["org_id"]["v"], org.as_str());
    assert_eq!(p[0]["fields"]["location_visits"]["v"], false);

    ok(
        &set_policy(&s, &org, &admin, json!({"location_visits": true})).await,
        200,
    );
    let state = ok(
        &s.send("GET", "/v1/me/privacy", Some(&member.access), None)
            .await,
        200,
    );
    assert_eq!(state["restricted"], false);
    assert_eq!(state["policy_versions"]["location_visits"], 1);
    let recs = state["org_policies"].as_array().expect("policies");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["fields"]["location_visits"]["v"], true);
    assert_eq!(recs[0]["fields"]["member_enabled"]["v"], true);

    ok(
        &s.send(
            "PUT",
            &format!("/v1/orgs/{org}/members/{}/location", member.id),
            Some(&admin.access),
            Some(&json!({"enabled": false})),
        )
        .await,
        204,
    );
    let latest = pull_all(&s, &member).await;
    let p = policies(&latest);
    assert_eq!(p.len(), 1, "one record per organisation, updated in place");
    assert_eq!(p[0]["fields"]["member_enabled"]["v"], false);
    // The admin's own record is separate and unaffected.
    let admin_state = ok(
        &s.send("GET", "/v1/me/privacy", Some(&admin.access), None)
            .await,
        200,
    );
    assert_eq!(
        admin_state["org_policies"][0]["fields"]["member_enabled"]["v"],
        true
    );

    // Leaving removes it: a tombstone reaches the device.
    ok(
        &s.send(
            "DELETE",
            &format!("/v1/orgs/{org}/members/{}", member.id),
            Some(&member.access),
            None,
        )
        .await,
        204,
    );
    let after = pull_all(&s, &member).await;
    let p = policies(&after);
    assert_eq!(p.len(), 1);
    assert!(p[0]["deleted"].is_string(), "removed: {:?}", p[0]);
    let state = ok(
        &s.send("GET", "/v1/me/privacy", Some(&member.access), None)
            .await,
        200,
    );
    assert_eq!(state["org_policies"], json!([]));
}

async fn visit_events_need_both_gates_and_the_allowed_precision(s: TestServer) {
    let (org, admin, member) = org(&s).await;
    let (lat, lon) = praxis_core::protocol::location::snap(48.8566, 2.3522);
    let approx = || visit(&s, lat, lon, 2000.0, "approximate");
    // Organisation off, no consent.
    assert_eq!(
        rejected(&push(&s, &member, "visit_events", approx()).await),
        Some("policy_disabled")
    );
    ok(
        &set_policy(&s, &org, &admin, json!({"location_visits": true})).await,
        200,
    );
    assert_eq!(
        rejected(&push(&s, &member, "visit_events", approx()).await),
        Some("consent_required")
    );
    assert_eq!(
        rejected(&consent(&s, &member, "location_visits", true, 2).await),
        Some("invalid_record"),
        "consent to a version not published"
    );
    assert_eq!(
        rejected(&consent(&s, &member, "location_visits", true, 1).await),
        None
    );
    let applied = push(&s, &member, "visit_events", approx()).await;
    assert_eq!(rejected(&applied), None, "{applied}");
    // Finer than the organisation allows, or not on the grid: refused.
    let precise = visit(&s, 48.856_613, 2.352_222, 8.0, "precise");
    let r = push(&s, &member, "visit_events", precise.clone()).await;
    assert_eq!(
        (rejected(&r), r["field"].as_str()),
        (Some("invalid_record"), Some("precision"))
    );
    let off_grid = visit(&s, 48.856_613, 2.352_222, 2000.0, "approximate");
    assert_eq!(
        rejected(&push(&s, &member, "visit_events", off_grid).await),
        Some("invalid_record")
    );
    for (k, v) in [
        ("lat", json!(91.0)),
        ("lon", json!(-181.0)),
        ("accuracy_m", json!(-1.0)),
    ] {
        let mut bad = approx();
        bad[k] = v;
        let r = push(&s, &member, "visit_events", bad).await;
        assert_eq!(
            (rejected(&r), r["field"].as_str()),
            (Some("invalid_record"), Some(k))
        );
    }
    ok(
        &set_policy(&s, &org, &admin, json!({"max_precision": "precise"})).await,
        200,
    );
    assert_eq!(
        rejected(&push(&s, &member, "visit_events", precise.clone()).await),
        None
    );
    // Visit events and consents are append-only.
    let id = applied["record"]["id"].as_str().expect("id");
    let edit = s
        .send(
            "POST",
            "/v1/sync/push",
            Some(&member.access),
            Some(&json!({
                "client_id": "5b1c0c9e-8d43-4a51-9d0b-6f0e2f1c7a11",
                "mutations": [{
                    "client_seq": 900_000,
                    "collection": "visit_events",
                    "id": id,
                    "base_version": applied["record"]["version"],
                    "fields": {"inside": field(json!(false), &t(&s, 9))},
                }],
            })),
        )
        .await;
    assert_eq!(rejected(&ok(&edit, 200)["results"][0]), Some("append_only"));
    // Withdrawal closes the gate; so does restriction, then an admin's switch.
    s.clock.advance(Duration::seconds(1));
    assert_eq!(
        rejected(&consent(&s, &member, "location_visits", false, 1).await),
        None
    );
    s.clock.advance(Duration::seconds(1));
    assert_eq!(
        rejected(&push(&s, &member, "visit_events", precise.clone()).await),
        Some("consent_required")
    );
    consent(&s, &member, "location_visits", true, 1).await;
    ok(
        &s.send(
            "PUT",
            "/v1/me/restriction",
            Some(&member.access),
            Some(&json!({"restricted": true})),
        )
        .await,
        204,
    );
    // Restricted: the whole push is refused, nothing is processed.
    s.send(
        "POST",
        "/v1/sync/push",
        Some(&member.access),
        Some(&json!({
            "client_id": "5b1c0c9e-8d43-4a51-9d0b-6f0e2f1c7a11",
            "mutations": [{
                "client_seq": 900_001, "collection": "visit_events",
                "id": uuid::Uuid::new_v4().to_string(),
                "fields": precise
                    .as_object()
                    .expect("object")
                    .iter()
                    .map(|(k, v)| (k.clone(), field(v.clone(), &t(&s, 5))))
                    .collect::<serde_json::Map<_, _>>(),
            }],
        })),
    )
    .await
    .assert_problem(403, "restricted");
    ok(
        &s.send(
            "PUT",
            "/v1/me/restriction",
            Some(&member.access),
            Some(&json!({"restricted": false})),
        )
        .await,
        204,
    );
    assert_eq!(
        rejected(&push(&s, &member, "visit_events", precise.clone()).await),
        None
    );
    ok(
        &s.send(
            "PUT",
            &format!("/v1/orgs/{org}/members/{}/location", member.id),
            Some(&admin.access),
            Some(&json!({"enabled": false})),
        )
        .await,
        204,
    );
    assert_eq!(
        rejected(&push(&s, &member, "visit_events", precise).await),
        Some("policy_disabled")
    );
}

async fn raising_a_policy_version_voids_earlier_consent(s: TestServer) {
    let (org, admin, member) = org(&s).await;
    ok(
        &set_policy(&s, &org, &admin, json!({"location_visits": true})).await,
        200,
    );
    consent(&s, &member, "location_visits", true, 1).await;
    let (lat, lon) = praxis_core::protocol::location::snap(45.76, 4.84);
    let ev = || visit(&s, lat, lon, 2500.0, "approximate");
    assert_eq!(
        rejected(&push(&s, &member, "visit_events", ev()).await),
        None
    );
    let store = s.state.store();
    assert!(
        store
            .publish_policy_version(
                praxis_core::protocol::privacy::Purpose::LocationVisits,
                2,
                s.clock.now()
            )
            .await
            .expect("publish")
    );
    assert!(
        !store
            .publish_policy_version(
                praxis_core::protocol::privacy::Purpose::LocationVisits,
                1,
                s.clock.now()
            )
            .await
            .expect("publish"),
        "versions only go up"
    );
    let state = ok(
        &s.send("GET", "/v1/me/privacy", Some(&member.access), None)
            .await,
        200,
    );
    assert_eq!(state["policy_versions"]["location_visits"], 2);
    assert_eq!(
        rejected(&push(&s, &member, "visit_events", ev()).await),
        Some("consent_required")
    );
    s.clock.advance(Duration::seconds(1));
    consent(&s, &member, "location_visits", true, 2).await;
    assert_eq!(
        rejected(&push(&s, &member, "visit_events", ev()).await),
        None
    );
}

async fn start_share(s: &TestServer, u: &TestUser, to: &[&TestUser], minutes: u32) -> Resp {
    s.send(
        "POST",
        "/v1/location/shares",
        Some(&u.access),
        Some(&json!({
            "recipients": to.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            "duration_min": minutes,
        })),
    )
    .await
}

async fn put_position(s: &TestServer, u: &TestUser, share: &str, lat: f64) -> Resp {
    s.send(
        "PUT",
        &format!("/v1/location/shares/{share}/position"),
        Some(&u.access),
        Some(&json!({
            "lat": lat, "lon": 3.06, "accuracy_m": 12.0,
            "at": s.clock.now().to_rfc3339(), "precision": "precise",
        })),
    )
    .await
}

async fn seen_by(s: &TestServer, u: &TestUser) -> Vec<Value> {
    ok(
        &s.send("GET", "/v1/location/shared-with-me", Some(&u.access), None)
            .await,
        200,
    )
    .as_array()
    .expect("list")
    .clone()
}

async fn live_shares_end_at_expiry_on_withdrawal_and_when_the_org_switches_off(s: TestServer) {
    let (org, mut admin, mut member) = org(&s).await;
    let outsider = s.user("outsider").await;
    start_share(&s, &member, &[&admin], 60)
        .await
        .assert_problem(403, "policy_disabled");
    allow_precise_sharing(&s, &org, &admin).await;
    start_share(&s, &member, &[&admin], 60)
        .await
        .assert_problem(403, "consent_required")
        .assert_field("location_sharing");
    consent(&s, &member, "location_sharing", true, 1).await;
    start_share(&s, &member, &[&admin], 481)
        .await
        .assert_problem(400, "validation_failed")
        .assert_field("duration_min");
    start_share(&s, &member, &[&outsider], 60)
        .await
        .assert_problem(404, "not_found");
    start_share(&s, &member, &[], 60)
        .await
        .assert_problem(400, "validation_failed");

    let share = ok(&start_share(&s, &member, &[&admin], 60).await, 201);
    let id = share["share_id"].as_str().expect("id").to_owned();
    assert!(
        seen_by(&s, &admin).await[0]["position"].is_null(),
        "no fix yet"
    );
    ok(&put_position(&s, &member, &id, 50.63).await, 204);
    put_position(&s, &member, &id, 91.0)
        .await
        .assert_problem(400, "validation_failed")
        .assert_field("lat");
    put_position(&s, &outsider, &id, 50.63)
        .await
        .assert_problem(404, "not_found");
    let seen = seen_by(&s, &admin).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["position"]["lat"], 50.63);
    assert!(seen_by(&s, &outsider).await.is_empty());

    // The clock jumps past the end: no timer ran, yet the share is over on
    // the next read and the next fix.
    s.clock.advance(Duration::minutes(61));
    relogin(&s, &mut [&mut admin, &mut member]).await;
    put_position(&s, &member, &id, 50.64)
        .await
        .assert_problem(410, "share_ended");
    assert!(seen_by(&s, &admin).await.is_empty());
    let share = ok(&start_share(&s, &member, &[&admin], 5).await, 201);
    let id = share["share_id"].as_str().expect("id").to_owned();
    ok(&put_position(&s, &member, &id, 50.63).await, 204);
    s.clock.advance(Duration::minutes(6));
    assert!(seen_by(&s, &admin).await.is_empty(), "ended on read");
    assert_eq!(s.count("SELECT COUNT(*) FROM location_positions").await, 0);
    assert_eq!(s.count("SELECT COUNT(*) FROM location_shares").await, 0);

    // Withdrawing consent deletes the share and its position at once.
    let share = ok(&start_share(&s, &member, &[&admin], 30).await, 201);
    let id = share["share_id"].as_str().expect("id").to_owned();
    ok(&put_position(&s, &member, &id, 50.63).await, 204);
    s.clock.advance(Duration::seconds(1));
    consent(&s, &member, "location_sharing", false, 1).await;
    assert!(seen_by(&s, &admin).await.is_empty());
    assert_eq!(s.count("SELECT COUNT(*) FROM location_positions").await, 0);

    // The organisation switching sharing off does too.
    s.clock.advance(Duration::seconds(1));
    consent(&s, &member, "location_sharing", true, 1).await;
    let share = ok(&start_share(&s, &member, &[&admin], 30).await, 201);
    let id = share["share_id"].as_str().expect("id").to_owned();
    ok(&put_position(&s, &member, &id, 50.63).await, 204);
    ok(
        &set_policy(&s, &org, &admin, json!({"location_sharing": false})).await,
        200,
    );
    assert!(seen_by(&s, &admin).await.is_empty());
    assert_eq!(s.count("SELECT COUNT(*) FROM location_shares").await, 0);

    // Stopping does, and approximate sharing never stores more.
    ok(
        &set_policy(
            &s,
            &org,
            &admin,
            json!({"location_sharing": true, "max_precision": "approximate"}),
        )
        .await,
        200,
    );
    let share = ok(&start_share(&s, &member, &[&admin], 30).await, 201);
    let id = share["share_id"].as_str().expect("id").to_owned();
    ok(&put_position(&s, &member, &id, 50.631_234).await, 204);
    let pos = seen_by(&s, &admin).await[0]["position"].clone();
    assert_eq!(pos["precision"], "approximate");
    let (lat, lon) = (
        pos["lat"].as_f64().expect("lat"),
        pos["lon"].as_f64().expect("lon"),
    );
    assert!(praxis_core::protocol::location::is_snapped(lat, lon));
    assert!(pos["accuracy_m"].as_f64().expect("acc") >= 2000.0);
    ok(
        &s.send(
            "DELETE",
            &format!("/v1/location/shares/{id}"),
            Some(&member.access),
            None,
        )
        .await,
        204,
    );
    assert!(seen_by(&s, &admin).await.is_empty());
    assert_eq!(s.count("SELECT COUNT(*) FROM location_positions").await, 0);
}

async fn retention_clears_raw_fixes_after_the_org_period(s: TestServer) {
    let (org, admin, mut member) = org(&s).await;
    ok(
        &set_policy(
            &s,
            &org,
            &admin,
            json!({"location_visits": true, "location_sharing": true, "retention_days": 3}),
        )
        .await,
        200,
    );
    consent(&s, &member, "location_visits", true, 1).await;
    let (lat, lon) = praxis_core::protocol::location::snap(43.6, 1.44);
    let r = push(
        &s,
        &member,
        "visit_events",
        visit(&s, lat, lon, 2000.0, "approximate"),
    )
    .await;
    let id = r["record"]["id"].as_str().expect("id").to_owned();
    let fix = |changes: &[Value]| {
        changes
            .iter()
            .rev()
            .find(|c| c["id"] == id.as_str())
            .map(|c| c["fields"]["lat"]["v"].clone())
    };
    assert_eq!(fix(&pull_all(&s, &member).await), Some(json!(lat)));

    s.clock.advance(Duration::days(2));
    let report = jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(report.visit_fixes, 0, "within retention");
    s.clock.advance(Duration::days(1) + Duration::minutes(1));
    let report = jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(report.visit_fixes, 1);
    relogin(&s, &mut [&mut member]).await;
    let after = pull_all(&s, &member).await;
    assert_eq!(fix(&after), Some(Value::Null), "the raw fix is gone");
    let ev = after
        .iter()
        .rev()
        .find(|c| c["id"] == id.as_str())
        .expect("event");
    assert_eq!(ev["fields"]["inside"]["v"], true, "the verification stays");
    let report = jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(report.visit_fixes, 0, "cleared once");
}

async fn restriction_freezes_data_but_objection_still_works(s: TestServer) {
    let u = s.user("restricted").await;
    let restrict = |on: bool| json!({ "restricted": on });
    ok(
        &s.send(
            "PUT",
            "/v1/me/restriction",
            Some(&u.access),
            Some(&restrict(true)),
        )
        .await,
        204,
    );
    let appointment = json!({
        "client_id": "5b1c0c9e-8d43-4a51-9d0b-6f0e2f1c7a11",
        "mutations": [{
            "client_seq": 77, "collection": "appointments", "id": uuid::Uuid::new_v4(),
            "fields": {
                "title": field(json!("Frozen"), &t(&s, 1)),
                "start": field(json!("2026-11-23T09:00:00Z"), &t(&s, 1)),
                "duration_min": field(json!(30), &t(&s, 1)),
            },
        }],
    });
    let before = s.fingerprint().await;
    s.send("POST", "/v1/sync/push", Some(&u.access), Some(&appointment))
        .await
        .assert_problem(403, "restricted");
    s.send(
        "POST",
        "/v1/contacts/invitations",
        Some(&u.access),
        Some(&json!({"fields": ["display_name"]})),
    )
    .await
    .assert_problem(403, "restricted");
    assert_eq!(s.fingerprint().await, before, "nothing changed");
    // Objecting (withdrawing consent) is not processing: it goes through.
    assert_eq!(
        rejected(&consent(&s, &u, "analytics", false, 1).await),
        None
    );
    ok(
        &s.send(
            "PUT",
            "/v1/me/restriction",
            Some(&u.access),
            Some(&restrict(false)),
        )
        .await,
        204,
    );
    let r = ok(
        &s.send("POST", "/v1/sync/push", Some(&u.access), Some(&appointment))
            .await,
        200,
    );
    assert_eq!(r["results"][0]["status"], "applied");
    let audit = ok(
        &s.send("GET", "/v1/me/audit", Some(&u.access), None).await,
        200,
    );
    let changes: Vec<&Value> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["event"] == "restriction_changed")
        .collect();
    assert_eq!(changes.len(), 2, "both changes are logged");
}

/// Regression (high): the "recipient shares an organisation with the
/// sharer" rule was checked only when a share started, so a removed member
/// kept receiving a colleague's live position for up to 8 h. It now holds
/// on every read and every position written, and the removal itself ends
/// the shares in both directions.
async fn a_member_who_leaves_the_org_stops_receiving_and_sending_live_location(s: TestServer) {
    let (org, admin, member) = org(&s).await;
    let colleague = s.user("colleague").await;
    s.add_member(&admin.access, &colleague.access, &org).await;
    allow_precise_sharing(&s, &org, &admin).await;
    for u in [&member, &colleague] {
        consent(&s, u, "location_sharing", true, 1).await;
    }
    // The colleague shares with the member alone, and with member + admin;
    // the member shares with the colleague.
    let to_member = ok(&start_share(&s, &colleague, &[&member], 120).await, 201);
    let to_member = to_member["share_id"].as_str().expect("id").to_owned();
    let to_both = ok(
        &start_share(&s, &colleague, &[&member, &admin], 120).await,
        201,
    );
    let to_both = to_both["share_id"].as_str().expect("id").to_owned();
    let from_member = ok(&start_share(&s, &member, &[&colleague], 120).await, 201);
    let from_member = from_member["share_id"].as_str().expect("id").to_owned();
    for id in [&to_member, &to_both] {
        ok(&put_position(&s, &colleague, id, 50.63).await, 204);
    }
    ok(&put_position(&s, &member, &from_member, 50.64).await, 204);
    assert_eq!(seen_by(&s, &member).await.len(), 2);
    assert_eq!(seen_by(&s, &colleague).await.len(), 1);

    // The admin removes the member.
    let r = s
        .send(
            "DELETE",
            &format!("/v1/orgs/{org}/members/{}", member.id),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));

    // Nothing reaches the former member, nothing of theirs reaches the
    // colleague, and the admin still sees the colleague.
    assert!(seen_by(&s, &member).await.is_empty());
    assert!(seen_by(&s, &colleague).await.is_empty());
    let admin_sees = seen_by(&s, &admin).await;
    assert_eq!(admin_sees.len(), 1);
    assert_eq!(admin_sees[0]["share_id"], to_both.as_str());
    // The shares left with nobody (the colleague's to the former member
    // alone, and the former member's own) ended with the removal and are
    // gone; the other goes on for the admin alone.
    put_position(&s, &colleague, &to_member, 50.65)
        .await
        .assert_problem(404, "not_found");
    ok(&put_position(&s, &colleague, &to_both, 50.65).await, 204);
    put_position(&s, &member, &from_member, 50.66)
        .await
        .assert_problem(404, "not_found");
    assert!(seen_by(&s, &member).await.is_empty());
}

/// A consent entry dated by the device clock, `ahead` of the server's.
async fn consent_dated(
    s: &TestServer,
    u: &TestUser,
    purpose: &str,
    granted: bool,
    version: u32,
    ahead: chrono::Duration,
) -> Value {
    push(
        s,
        u,
        "consents",
        json!({
            "purpose": purpose,
            "granted": granted,
            "policy_version": version,
            "at": (s.clock.now() + ahead).to_rfc3339(),
            "device": "phone-1",
        }),
    )
    .await
}

/// Regression (GDPR Art. 7(3)): the ledger picked the latest entry by the
/// device's own `at`, unbounded, so a grant dated a year ahead outranked a
/// withdrawal made now and sharing stayed allowed. `at` is now bounded
/// like an HLC, and the gates rank each entry from the earlier of its
/// device time and its receipt.
async fn a_future_dated_grant_cannot_outrank_a_later_withdrawal(s: TestServer) {
    let (org, admin, member) = org(&s).await;
    allow_precise_sharing(&s, &org, &admin).await;
    // A year ahead is refused outright.
    let far = consent_dated(
        &s,
        &member,
        "location_sharing",
        true,
        1,
        chrono::Duration::days(365),
    )
    .await;
    assert_eq!(rejected(&far), Some("invalid_record"), "{far}");
    assert_eq!(far["field"], "at");
    // Twenty hours ahead is within the bound, and grants for now...
    let near = consent_dated(
        &s,
        &member,
        "location_sharing",
        true,
        1,
        chrono::Duration::hours(20),
    )
    .await;
    assert_eq!(rejected(&near), None, "{near}");
    ok(&start_share(&s, &member, &[&admin], 30).await, 201);
    // ...but a withdrawal received a minute later wins at once.
    s.clock.advance(chrono::Duration::minutes(1));
    let w = consent_dated(
        &s,
        &member,
        "location_sharing",
        false,
        1,
        chrono::Duration::zero(),
    )
    .await;
    assert_eq!(rejected(&w), None, "{w}");
    start_share(&s, &member, &[&admin], 30)
        .await
        .assert_problem(403, "consent_required");
    // A later grant (an honest re-consent) counts again.
    s.clock.advance(chrono::Duration::minutes(1));
    consent(&s, &member, "location_sharing", true, 1).await;
    ok(&start_share(&s, &member, &[&admin], 30).await, 201);
}
