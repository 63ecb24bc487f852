//! The data export: complete, valid against its published schema, and
//! holding nothing that was not shared with the user. The completeness
//! check is derived from the schema: every property marked `x-personal`
//! must carry a value once the user has data of every kind.

use praxis_server::clock::Clock as _;
use praxis_tests::{Resp, TestServer, TestUser, suite};
use serde_json::{Value, json};

suite!(
    the_export_is_complete_and_valid_against_its_schema,
    nothing_unshared_reaches_the_export,
    a_long_security_history_is_streamed_whole_and_in_order,
);

/// Regression: the export read the whole audit history into memory. It is
/// now streamed a page at a time; across pages nothing is lost, repeated
/// or reordered, and the export's own entry is not in it.
async fn a_long_security_history_is_streamed_whole_and_in_order(s: TestServer) {
    use praxis_server::store::Event;
    let u = s.user("history").await;
    let id: uuid::Uuid = u.id.parse().expect("id");
    let store = s.state.store();
    for _ in 0..1_234 {
        store
            .audit(Event::user("logged_out", id, json!({})), s.clock.now())
            .await
            .expect("audit");
    }
    let held = store.audit_of_user(id, i64::MAX).await.expect("audit");
    let doc = ok(
        &s.send("GET", "/v1/me/export", Some(&u.access), None).await,
        200,
    );
    let audit = doc["audit"].as_array().expect("audit array");
    let seqs: Vec<i64> = audit
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    let want: Vec<i64> = held.iter().map(|e| e.seq).collect();
    assert!(want.len() > 1_234, "the history spans several pages");
    assert_eq!(seqs, want, "newest first, across pages");
    assert!(audit.iter().all(|e| e["event"] != "exported"));
}

fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/export.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("JSON")
}

fn hlc(s: &TestServer, n: u64) -> String {
    format!("{:013}-{n:06}-dev1", s.clock.now().timestamp_millis())
}

async fn push(s: &TestServer, u: &TestUser, seq: i64, collection: &str, fields: Value) -> Value {
    let t = hlc(s, u64::try_from(seq).expect("seq"));
    let fields: serde_json::Map<String, Value> = fields
        .as_object()
        .expect("fields")
        .iter()
        .map(|(k, v)| (k.clone(), json!({"v": v, "t": t})))
        .collect();
    let body = json!({
        "client_id": "5b1c0c9e-8d43-4a51-9d0b-6f0e2f1c7a11",
        "mutations": [{
            "client_seq": seq, "collection": collection,
            "id": uuid::Uuid::new_v4(), "fields": fields,
        }],
    });
    let r = ok(
        &s.send("POST", "/v1/sync/push", Some(&u.access), Some(&body))
            .await,
        200,
    );
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    r
}

async fn consent(s: &TestServer, u: &TestUser, seq: i64, purpose: &str, granted: bool) {
    s.clock.advance(chrono::Duration::seconds(1));
    push(
        s,
        u,
        seq,
        "consents",
        json!({"purpose": purpose, "granted": granted, "policy_version": 1,
               "at": s.clock.now().to_rfc3339(), "device": "phone-1"}),
    )
    .await;
}

async fn call(s: &TestServer, u: &TestUser, method: &str, path: &str, body: Value) -> Value {
    let b = (!body.is_null()).then_some(&body);
    let r = s.send(method, path, Some(&u.access), b).await;
    assert!(
        (200..300).contains(&r.status),
        "{method} {path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

async fn invite(s: &TestServer, from: &TestUser, to: &TestUser, fields: Value, forward: bool) {
    let code = call(
        s,
        from,
        "POST",
        "/v1/contacts/invitations",
        json!({"fields": fields, "allow_forward": forward}),
    )
    .await["code"]
        .clone();
    call(
        s,
        to,
        "POST",
        "/v1/contacts/invitations/accept",
        json!({"code": code, "fields": ["display_name"], "allow_forward": true}),
    )
    .await;
}

fn all_fields() -> Value {
    json!([
        "display_name",
        "profession",
        "specialty",
        "work_phone",
        "work_email",
        "organisation",
        "clinic_address",
        "languages"
    ])
}

/// A user with data of every kind the export covers.
async fn seeded(s: &TestServer) -> (TestUser, Value) {
    let u = s.user("exported").await;
    let m = s.user("member").await;
    let f = s.user("friend").await;
    let x = s.user("blocked").await;
    call(
        s,
        &u,
        "PUT",
        "/v1/contacts/card",
        json!({"display_name": "Dr Export", "profession": "physician", "specialty": "Geriatrics",
               "work_phone": "+33320554433", "work_email": "export@clinic-example.org",
               "organisation": "Cabinet Export", "clinic_address": "1 place du Théâtre, Lille",
               "languages": ["fr", "en"]}),
    )
    .await;
    call(
        s,
        &f,
        "PUT",
        "/v1/contacts/card",
        json!({"display_name": "Dr Friend", "profession": "nurse", "specialty": "Wounds",
               "work_phone": "+33320998877", "work_email": "friend@clinic-example.org",
               "organisation": "Cabinet Friend", "clinic_address": "2 rue Neuve, Lille",
               "languages": ["fr"]}),
    )
    .await;
    // An organisation with location on; the member joins.
    let org = s.create_org(&u.access, "Export Clinic").await;
    s.add_member(&u.access, &m.access, &org).await;
    call(
        s,
        &u,
        "PATCH",
        &format!("/v1/orgs/{org}/location-policy"),
        json!({"location_visits": true, "location_sharing": true, "max_precision": "precise"}),
    )
    .await;
    consent(s, &u, 1, "location_visits", true).await;
    consent(s, &u, 2, "location_sharing", true).await;
    consent(s, &u, 3, "marketing", true).await;
    consent(s, &u, 4, "marketing", false).await;
    consent(s, &m, 1, "location_sharing", true).await;
    push(
        s,
        &u,
        5,
        "appointments",
        json!({"title": "Pansement", "patient_label": "P-77", "start": "2026-11-23T09:00:00Z",
               "duration_min": 30, "status": "scheduled", "address": "3 rue des Lilas, Lille",
               "point": {"lat": 50.6365, "lon": 3.0635},
               "geofence": {"type": "circle", "lat": 50.6365, "lon": 3.0635, "radius_m": 150.0}}),
    )
    .await;
    push(
        s,
        &u,
        6,
        "visit_events",
        json!({"appointment_id": uuid::Uuid::new_v4(), "kind": "check_in",
               "at": s.clock.now().to_rfc3339(), "lat": 50.6366, "lon": 3.0636, "accuracy_m": 8.0,
               "precision": "precise", "inside": true, "distance_m": 0.0}),
    )
    .await;
    // Live sharing both ways.
    let share = call(
        s,
        &u,
        "POST",
        "/v1/location/shares",
        json!({"recipients": [m.id], "duration_min": 60}),
    )
    .await["share_id"]
        .as_str()
        .expect("share")
        .to_owned();
    let pos = json!({"lat": 50.63, "lon": 3.06, "accuracy_m": 10.0,
                     "at": s.clock.now().to_rfc3339(), "precision": "precise"});
    call(
        s,
        &u,
        "PUT",
        &format!("/v1/location/shares/{share}/position"),
        pos.clone(),
    )
    .await;
    let back = call(
        s,
        &m,
        "POST",
        "/v1/location/shares",
        json!({"recipients": [u.id], "duration_min": 60}),
    )
    .await["share_id"]
        .as_str()
        .expect("share")
        .to_owned();
    call(
        s,
        &m,
        "PUT",
        &format!("/v1/location/shares/{back}/position"),
        pos,
    )
    .await;
    // Contacts: U ↔ M (U lets M forward), M ↔ F (F lets M forward); M
    // forwards U's card to F and F's card to U.
    invite(s, &u, &m, all_fields(), true).await;
    invite(s, &f, &m, all_fields(), true).await;
    call(
        s,
        &m,
        "POST",
        "/v1/contacts/forward",
        json!({"owner_id": u.id, "to": f.id}),
    )
    .await;
    call(
        s,
        &m,
        "POST",
        "/v1/contacts/forward",
        json!({"owner_id": f.id, "to": u.id}),
    )
    .await;
    call(
        s,
        &u,
        "POST",
        "/v1/contacts/blocks",
        json!({"user_id": x.id}),
    )
    .await;
    let r = s.send("GET", "/v1/me/export", Some(&u.access), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc: Value = serde_json::from_slice(&r.body).expect("the export is one JSON document");
    (u, doc)
}

/// Paths of `x-personal` properties that carry no value in any instance.
fn missing(schema: &Value, instances: &[&Value], path: &str, out: &mut Vec<String>) {
    if let Some(props) = schema["properties"].as_object() {
        for (name, sub) in props {
            let here = format!("{path}.{name}");
            let values: Vec<&Value> = instances
                .iter()
                .filter_map(|i| i.get(name))
                .filter(|v| !v.is_null())
                .collect();
            if sub["x-personal"] == true
                && !values.iter().any(|v| match v {
                    Value::String(s) => !s.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    Value::Object(o) => !o.is_empty(),
                    _ => true,
                })
            {
                out.push(here.clone());
            }
            missing(sub, &values, &here, out);
        }
    }
    if schema["items"].is_object() {
        let items: Vec<&Value> = instances
            .iter()
            .filter_map(|i| i.as_array())
            .flatten()
            .collect();
        missing(&schema["items"], &items, &format!("{path}[]"), out);
    }
}

async fn the_export_is_complete_and_valid_against_its_schema(s: TestServer) {
    let (u, doc) = seeded(&s).await;
    let schema = schema();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut gaps = Vec::new();
    missing(&schema, &[&json!({"account": {}})], "$", &mut gaps);
    assert!(
        gaps.iter().any(|g| g == "$.account.email"),
        "the completeness check can fail: {gaps:?}"
    );
    let mut gaps = Vec::new();
    missing(&schema, &[&doc], "$", &mut gaps);
    assert!(
        gaps.is_empty(),
        "personal data missing from the export: {gaps:#?}"
    );
    assert_eq!(doc["user_id"], u.id.as_str());
    // The notice in force (the test servers' is the example, version 1).
    assert_eq!(
        doc["privacy_notice"],
        json!({"version": 1, "published": "2026-12-01", "url": "https://praxis.example.org/privacy"})
    );
    assert_eq!(doc["account"]["email"], u.profile["email"]);
    assert_eq!(
        doc["consents"].as_array().map(Vec::len),
        Some(4),
        "with history"
    );
    let audit = doc["audit"].as_array().expect("audit");
    assert!(audit.iter().any(|e| e["event"] == "consent_changed"));
    // The export itself is a security event.
    let mine = ok(
        &s.send("GET", "/v1/me/audit", Some(&u.access), None).await,
        200,
    );
    assert!(
        mine.as_array()
            .expect("entries")
            .iter()
            .any(|e| e["event"] == "exported")
    );
    // A document that breaks the schema is caught (the check can fail).
    let mut broken = doc.clone();
    broken["account"]["email"] = json!(42);
    assert!(!validator.is_valid(&broken));
}

async fn nothing_unshared_reaches_the_export(s: TestServer) {
    let u = s.user("recipient").await;
    let y = s.user("owner").await;
    call(
        &s,
        &y,
        "PUT",
        "/v1/contacts/card",
        json!({"display_name": "Dr Owner", "specialty": "UNSHARED-SPECIALTY-MARKER",
               "work_phone": "+33320111222"}),
    )
    .await;
    invite(&s, &y, &u, json!(["display_name"]), false).await;
    let r = s.send("GET", "/v1/me/export", Some(&u.access), None).await;
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains("Dr Owner"), "the shared field is there");
    assert!(!text.contains("UNSHARED-SPECIALTY-MARKER"));
    assert!(!text.contains("+33320111222"));
}
