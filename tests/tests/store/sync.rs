//! Sync storage: a push's changes come back from a pull in sequence order
//! (paged), a replayed mutation is answered from its stored answer without
//! a second write, stale edits merge per field and deletes win, another
//! scope's record is out of reach, and pruning drops old tombstones while
//! recording the horizon.

use chrono::Duration;
use praxis_protocol::sync::{Mutation, MutationResult, RejectReason};
use praxis_server::store::Val;
use praxis_server::sync::user_scope;
use praxis_tests::StoreFixture;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{account, applied, appointment, fields, hlc, pull_all, push};

praxis_tests::store_suite!(
    pushed_changes_pull_in_sequence_order,
    a_replayed_mutation_gets_its_stored_answer,
    stale_edits_merge_per_field_and_deletes_win,
    another_scopes_record_is_out_of_reach,
    pruning_drops_old_tombstones_and_records_the_horizon,
);

/// An edit of record `id` made on `base`, stamped `ahead_ms` after the
/// clock (a deletion when `values` is `None`).
fn edit(
    f: &StoreFixture,
    client_seq: i64,
    id: &str,
    base: i64,
    ahead_ms: i64,
    values: Option<&[(&str, Value)]>,
) -> Mutation {
    let t = hlc(f, ahead_ms, "dev1");
    Mutation {
        client_seq,
        collection: "appointments".into(),
        id: id.to_owned(),
        base_version: Some(base),
        fields: values.map(|v| fields(&t, v)).unwrap_or_default(),
        delete: values.is_none().then_some(t),
    }
}

fn id() -> String {
    Uuid::new_v4().to_string()
}

async fn appointments_stored(f: &StoreFixture) -> i64 {
    f.count(
        "SELECT COUNT(*) FROM sync_records WHERE collection = 'appointments'",
        vec![],
    )
    .await
}

async fn pushed_changes_pull_in_sequence_order(f: StoreFixture) {
    let a = account(&f, "kai").await;
    let b = account(&f, "lou").await;
    assert_eq!(
        f.store.scope_seq(a.id).await.expect("seq"),
        1,
        "the profile"
    );
    let batch: Vec<_> = (1..=3)
        .map(|n| appointment(&f, n, &id(), &format!("Visit {n}")))
        .collect();
    let answers = push(&f, a.id, "dev1", &batch).await;
    let versions: Vec<_> = answers.iter().map(|r| applied(r).version).collect();
    assert_eq!(versions, [2, 3, 4]);
    let last = push(&f, a.id, "dev1", &[appointment(&f, 4, &id(), "Visit 4")]).await;
    assert_eq!(applied(&last[0]).version, 5);
    assert_eq!(f.store.scope_seq(a.id).await.expect("seq"), 5);

    let scope = user_scope(a.id);
    let all = f.store.pull(&scope, 0, 100).await.expect("pull");
    assert_eq!((all.last_seq, all.scope_seq, all.more), (5, 5, false));
    let seen: Vec<_> = all
        .changes
        .iter()
        .map(|r| (r.version, r.fields.get("title").map(|t| t.v.clone())))
        .collect();
    assert_eq!(
        seen,
        [
            (1, None),
            (2, Some(json!("Visit 1"))),
            (3, Some(json!("Visit 2"))),
            (4, Some(json!("Visit 3"))),
            (5, Some(json!("Visit 4"))),
        ]
    );
    assert_eq!(all.changes[0].collection, "profile");
    assert_eq!(all.changes[1].id, batch[0].id);

    // Pages of two from a cursor.
    let p1 = f.store.pull(&scope, 1, 2).await.expect("pull");
    assert_eq!(
        p1.changes.iter().map(|r| r.version).collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!((p1.last_seq, p1.more), (3, true));
    let p2 = f.store.pull(&scope, p1.last_seq, 2).await.expect("pull");
    assert_eq!(
        p2.changes.iter().map(|r| r.version).collect::<Vec<_>>(),
        [4, 5]
    );
    assert_eq!((p2.last_seq, p2.more), (5, false));
    let p3 = f.store.pull(&scope, 5, 2).await.expect("pull");
    assert!(p3.changes.is_empty());
    assert_eq!((p3.last_seq, p3.more), (5, false));

    // Another account's scope holds none of it.
    assert_eq!(pull_all(&f, b.id).await.len(), 1);
}

async fn a_replayed_mutation_gets_its_stored_answer(f: StoreFixture) {
    let a = account(&f, "max").await;
    let first = appointment(&f, 1, &id(), "Original");
    let answer = push(&f, a.id, "dev1", &[first]).await;
    let seq = f.store.scope_seq(a.id).await.expect("seq");

    // The same sequence number from the same device, whatever it now says
    // (here: another record, which a second write would create).
    let retry = appointment(&f, 1, &id(), "Changed");
    let replayed = push(&f, a.id, "dev1", &[retry]).await;
    assert_eq!(replayed, answer, "answered verbatim");
    assert_eq!(
        f.store.scope_seq(a.id).await.expect("seq"),
        seq,
        "no new change"
    );
    assert_eq!(appointments_stored(&f).await, 1);
    let records = pull_all(&f, a.id).await;
    assert_eq!(
        records.last().expect("record").fields["title"].v,
        "Original"
    );

    // Another device's sequence numbers are its own.
    let other = push(&f, a.id, "dev2", &[appointment(&f, 1, &id(), "Other")]).await;
    assert_eq!(applied(&other[0]).version, seq + 1);
    assert_eq!(appointments_stored(&f).await, 2);

    // Twice in one batch: one write, the same answer.
    let twice = appointment(&f, 2, &id(), "Twice");
    let answers = push(&f, a.id, "dev1", &[twice.clone(), twice]).await;
    assert_eq!(answers[0], answers[1]);
    assert_eq!(appointments_stored(&f).await, 3);

    // A refusal is not stored: the same sequence number is decided anew.
    let mut bad = appointment(&f, 3, &id(), "Bad");
    bad.collection = "no_such_collection".into();
    let refused = push(&f, a.id, "dev1", &[bad]).await;
    assert!(matches!(
        refused[0],
        MutationResult::Rejected {
            reason: RejectReason::UnknownCollection,
            ..
        }
    ));
    let good = push(&f, a.id, "dev1", &[appointment(&f, 3, &id(), "Good")]).await;
    assert_eq!(applied(&good[0]).fields["title"].v, "Good");
    let kept = f
        .count(
            "SELECT COUNT(*) FROM sync_mutations WHERE user_id = ?1 AND client_id = 'dev1'",
            vec![Val::from(a.id)],
        )
        .await;
    assert_eq!(kept, 3, "answers to seqs 1, 2 and 3 of dev1");
}

async fn stale_edits_merge_per_field_and_deletes_win(f: StoreFixture) {
    let a = account(&f, "ned").await;
    let rec = id();
    let created = push(&f, a.id, "dev1", &[appointment(&f, 1, &rec, "First")]).await;
    let v1 = applied(&created[0]).version;

    let newer = [("title", json!("Newer title"))];
    let edited = push(
        &f,
        a.id,
        "dev1",
        &[edit(&f, 2, &rec, v1, 100, Some(&newer))],
    )
    .await;
    let v2 = applied(&edited[0]).version;
    assert_eq!(v2, v1 + 1);

    // Made offline on v1, with an older title and a newer duration.
    let stale = [("title", json!("Older title")), ("duration_min", json!(45))];
    let merged = push(&f, a.id, "dev2", &[edit(&f, 1, &rec, v1, 50, Some(&stale))]).await;
    let MutationResult::Conflict { record, .. } = &merged[0] else {
        panic!("expected a conflict, got {:?}", merged[0]);
    };
    assert_eq!(
        record.fields["title"].v, "Newer title",
        "the later HLC wins"
    );
    assert_eq!(record.fields["duration_min"].v, 45);
    assert_eq!(record.version, v2 + 1);

    let deleted = push(&f, a.id, "dev1", &[edit(&f, 3, &rec, v2 + 1, 200, None)]).await;
    let tomb = applied(&deleted[0]);
    assert!(tomb.deleted.is_some());
    assert!(
        tomb.fields.is_empty(),
        "nothing of a deleted record is kept"
    );
    let seq = f.store.scope_seq(a.id).await.expect("seq");

    // A later edit of the deleted record changes nothing.
    let late = [("title", json!("Resurrected?"))];
    let after = push(&f, a.id, "dev2", &[edit(&f, 2, &rec, v1, 300, Some(&late))]).await;
    let MutationResult::Conflict { record, .. } = &after[0] else {
        panic!("expected a conflict, got {:?}", after[0]);
    };
    assert!(record.deleted.is_some() && record.fields.is_empty());
    assert_eq!(f.store.scope_seq(a.id).await.expect("seq"), seq);
    let last = pull_all(&f, a.id).await.pop().expect("record");
    assert_eq!(
        (last.id.as_str(), last.deleted.is_some()),
        (rec.as_str(), true)
    );
}

async fn another_scopes_record_is_out_of_reach(f: StoreFixture) {
    let a = account(&f, "ola").await;
    let b = account(&f, "pia").await;
    let rec = id();
    push(&f, a.id, "dev1", &[appointment(&f, 1, &rec, "Mine")]).await;
    let b_seq = f.store.scope_seq(b.id).await.expect("seq");
    for m in [
        appointment(&f, 1, &rec, "Theirs"),
        edit(&f, 2, &rec, 2, 100, Some(&[("title", json!("Theirs"))])),
        edit(&f, 3, &rec, 2, 100, None),
    ] {
        let r = push(&f, b.id, "dev1", &[m]).await;
        assert!(
            matches!(
                r[0],
                MutationResult::Rejected {
                    reason: RejectReason::Forbidden,
                    ..
                }
            ),
            "{r:?}"
        );
    }
    // The profile is the server's to write.
    let mut profile = appointment(&f, 4, &b.id.to_string(), "x");
    profile.collection = "profile".into();
    let r = push(&f, b.id, "dev1", &[profile]).await;
    assert!(matches!(
        r[0],
        MutationResult::Rejected {
            reason: RejectReason::ReadOnlyCollection,
            ..
        }
    ));
    assert_eq!(f.store.scope_seq(b.id).await.expect("seq"), b_seq);
    let mine = pull_all(&f, a.id).await.pop().expect("record");
    assert_eq!(
        (mine.fields["title"].v.clone(), mine.version),
        (json!("Mine"), 2)
    );
}

async fn pruning_drops_old_tombstones_and_records_the_horizon(f: StoreFixture) {
    let a = account(&f, "quin").await;
    let (gone, kept) = (id(), id());
    let c = push(&f, a.id, "dev1", &[appointment(&f, 1, &gone, "Gone")]).await;
    let d = push(
        &f,
        a.id,
        "dev1",
        &[edit(&f, 2, &gone, applied(&c[0]).version, 10, None)],
    )
    .await;
    let tomb_version = applied(&d[0]).version;
    push(&f, a.id, "dev1", &[appointment(&f, 3, &kept, "Kept")]).await;

    f.advance(Duration::days(10));
    let horizon = f.now() - Duration::days(1);
    assert_eq!(
        f.store.prune_sync(horizon, horizon).await.expect("prune"),
        1
    );
    let page = f.store.pull(&user_scope(a.id), 0, 100).await.expect("pull");
    assert_eq!(page.pruned_below, tomb_version);
    let ids: Vec<_> = page.changes.iter().map(|r| r.id.as_str()).collect();
    assert!(!ids.contains(&gone.as_str()) && ids.contains(&kept.as_str()));
    let answers = f
        .count(
            "SELECT COUNT(*) FROM sync_mutations WHERE user_id = ?1",
            vec![Val::from(a.id)],
        )
        .await;
    assert_eq!(answers, 0, "old stored answers are pruned too");

    // An edit of the pruned record is gone, never a resurrection.
    let late = [("title", json!("Back?"))];
    let r = push(&f, a.id, "dev1", &[edit(&f, 4, &gone, 1, 10, Some(&late))]).await;
    assert!(matches!(
        r[0],
        MutationResult::Rejected {
            reason: RejectReason::Gone,
            ..
        }
    ));

    // A tombstone younger than the horizon stays, and so does the horizon.
    let kept_version = page.changes.last().expect("kept").version;
    push(
        &f,
        a.id,
        "dev1",
        &[edit(&f, 5, &kept, kept_version, 10, None)],
    )
    .await;
    assert_eq!(
        f.store.prune_sync(horizon, horizon).await.expect("prune"),
        0
    );
    let page = f.store.pull(&user_scope(a.id), 0, 100).await.expect("pull");
    assert_eq!(page.pruned_below, tomb_version);
    let last = page.changes.last().expect("tombstone");
    assert_eq!(
        (last.id.as_str(), last.deleted.is_some()),
        (kept.as_str(), true)
    );
}
