//! Visit events in the store: accepted only through both gates and at the
//! precision allowed, their raw fix cleared at the end of the retention
//! the organisation sets, and erasure by purpose: visit events become
//! tombstones on every device, except what an organisation must keep,
//! which is held sealed and restricted until its date.

use chrono::{DateTime, Duration, Utc};
use praxis_protocol::location::{self, Precision};
use praxis_protocol::privacy::{Purpose, UpdateLocationPolicyRequest};
use praxis_protocol::sync::{Mutation, MutationResult, RejectReason, SyncRecord};
use praxis_tests::StoreFixture;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Account, account, applied, fields, hlc, location_org, pull_all, push, record_consent};

praxis_tests::store_suite!(
    visit_events_pass_the_gates_and_lose_their_raw_fix_at_retention,
    erasure_by_purpose_tombstones_visits_and_holds_what_must_be_kept,
);

const LAT: f64 = 45.764_043;
const LON: f64 = 4.835_659;

/// An organisation allowing visit verification under `policy`, with a
/// member who consents; the member.
async fn visiting_member(f: &StoreFixture, policy: UpdateLocationPolicyRequest) -> Account {
    let req = UpdateLocationPolicyRequest {
        location_visits: Some(true),
        ..policy
    };
    location_org(f, &req, Purpose::LocationVisits).await.2
}

/// A check-in taken at `at` with a fix at `precision` (snapped when
/// approximate, as the device does).
fn check_in(f: &StoreFixture, seq: i64, at: DateTime<Utc>, precision: Precision) -> Mutation {
    let (lat, lon, acc) = location::apply_precision(precision, LAT, LON, 12.0).expect("a fix");
    Mutation {
        client_seq: seq,
        collection: "visit_events".into(),
        id: Uuid::new_v4().to_string(),
        base_version: None,
        fields: fields(
            &hlc(f, seq, "dev1"),
            &[
                ("appointment_id", json!(Uuid::new_v4())),
                ("kind", json!("check_in")),
                ("at", json!(at.to_rfc3339())),
                ("lat", json!(lat)),
                ("lon", json!(lon)),
                ("accuracy_m", json!(acc)),
                ("precision", json!(precision.as_str())),
                ("inside", json!(true)),
                ("distance_m", json!(0.0)),
            ],
        ),
        delete: None,
    }
}

/// The reason a mutation was refused, and the field at fault.
#[track_caller]
fn refusal(r: &MutationResult) -> (RejectReason, Option<&str>) {
    match r {
        MutationResult::Rejected { reason, field, .. } => (*reason, field.as_deref()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The user's visit events as the devices pull them, by id.
async fn visits(f: &StoreFixture, user: Uuid) -> Vec<SyncRecord> {
    let mut all: Vec<SyncRecord> = pull_all(f, user)
        .await
        .into_iter()
        .filter(|r| r.collection == "visit_events")
        .collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all
}

fn value<'a>(r: &'a SyncRecord, field: &str) -> &'a Value {
    &r.fields[field].v
}

async fn visit_events_pass_the_gates_and_lose_their_raw_fix_at_retention(f: StoreFixture) {
    let stranger = account(&f, "str").await;
    record_consent(&f, stranger.id, 1, Purpose::LocationVisits, true, 1).await;
    let r = push(
        &f,
        stranger.id,
        "dev1",
        &[check_in(&f, 2, f.now(), Precision::Precise)],
    )
    .await;
    // No organisation allows it.
    assert_eq!(refusal(&r[0]), (RejectReason::PolicyDisabled, None));

    let policy = UpdateLocationPolicyRequest {
        max_precision: Some(Precision::Approximate),
        retention_days: Some(3),
        ..Default::default()
    };
    let member = visiting_member(&f, policy).await;
    let r = push(
        &f,
        member.id,
        "dev1",
        &[check_in(&f, 2, f.now(), Precision::Precise)],
    )
    .await;
    // Finer than the organisation allows.
    assert_eq!(
        refusal(&r[0]),
        (RejectReason::InvalidRecord, Some("precision"))
    );
    let r = push(
        &f,
        member.id,
        "dev1",
        &[check_in(&f, 3, f.now(), Precision::Approximate)],
    )
    .await;
    let stored = applied(&r[0]).clone();
    assert_eq!(value(&stored, "precision"), "approximate");

    // Without consent nothing more gets in; what is stored stays.
    record_consent(&f, member.id, 4, Purpose::LocationVisits, false, 1).await;
    let r = push(
        &f,
        member.id,
        "dev1",
        &[check_in(&f, 5, f.now(), Precision::Approximate)],
    )
    .await;
    assert_eq!(refusal(&r[0]), (RejectReason::ConsentRequired, None));
    assert_eq!(visits(&f, member.id).await.len(), 1);

    // Retention: the raw fix is kept three days, then cleared; the rest
    // of the event (when, inside) stays.
    let s = &f.store;
    f.advance(Duration::days(3) - Duration::minutes(10));
    assert_eq!(s.purge_location(f.now()).await.expect("purge").1, 0);
    f.advance(Duration::minutes(20));
    assert_eq!(s.purge_location(f.now()).await.expect("purge").1, 1);
    let v = visits(&f, member.id).await;
    assert_eq!(v.len(), 1);
    for k in ["lat", "lon", "accuracy_m"] {
        assert!(value(&v[0], k).is_null(), "{k} cleared");
    }
    assert_eq!(value(&v[0], "inside"), true);
    assert_eq!(value(&v[0], "at"), value(&stored, "at"));
    assert_eq!(s.purge_location(f.now()).await.expect("purge").1, 0, "once");
}

async fn erasure_by_purpose_tombstones_visits_and_holds_what_must_be_kept(f: StoreFixture) {
    let policy = UpdateLocationPolicyRequest {
        max_precision: Some(Precision::Precise),
        visit_records_days: Some(30),
        ..Default::default()
    };
    let member = visiting_member(&f, policy).await;
    // Two visits today, and one 40 days ago (a device that synced late):
    // past what the organisation must keep.
    let old = f.now() - Duration::days(40);
    let r = push(
        &f,
        member.id,
        "dev1",
        &[
            check_in(&f, 2, f.now(), Precision::Precise),
            check_in(&f, 3, f.now(), Precision::Precise),
            check_in(&f, 4, old, Precision::Precise),
        ],
    )
    .await;
    let (first_id, second_id) = (applied(&r[0]).id.clone(), applied(&r[1]).id.clone());
    applied(&r[2]);

    let s = &f.store;
    let out = s
        .erase_location_data(member.id, &[Purpose::LocationVisits], f.now())
        .await
        .expect("erase");
    assert_eq!(out.raw_fixes_erased, 3);
    assert_eq!(out.visit_events_held, 2, "today's two are kept 30 days");
    assert_eq!(out.visit_events_deleted, 1, "the old one goes for good");
    assert_eq!(out.held_until, Some(f.now() + Duration::days(30)));
    assert_eq!(out.shares_ended, 0, "sharing was not asked for");

    // Every device deletes its copy: all are tombstones.
    let v = visits(&f, member.id).await;
    assert_eq!(v.len(), 3);
    assert!(v.iter().all(|r| r.deleted.is_some() && r.fields.is_empty()));

    // What is held is restricted (export only), without the raw fix.
    let held = s.held_visit_events(member.id).await.expect("held");
    let mut ids: Vec<&str> = held
        .iter()
        .map(|h| h["id"].as_str().unwrap_or(""))
        .collect();
    ids.sort();
    let mut want = vec![first_id.as_str(), second_id.as_str()];
    want.sort();
    assert_eq!(ids, want);
    for h in &held {
        assert_eq!(h["restricted"], true);
        assert_eq!(h["fields"]["kind"], "check_in");
        for k in ["lat", "lon", "accuracy_m"] {
            assert!(h["fields"].get(k).is_none(), "{k} not held");
        }
    }
    let plain = f
        .count(
            "SELECT COUNT(*) FROM held_visit_events WHERE fields LIKE '%check_in%'",
            vec![],
        )
        .await;
    assert_eq!(plain, 0, "held records are sealed");

    // Until their date, and not a day more.
    f.advance(Duration::days(30) - Duration::minutes(1));
    assert_eq!(s.purge_held_visit_events(f.now()).await.expect("purge"), 0);
    f.advance(Duration::minutes(1));
    assert_eq!(s.purge_held_visit_events(f.now()).await.expect("purge"), 2);
    assert!(
        s.held_visit_events(member.id)
            .await
            .expect("held")
            .is_empty()
    );
}
