//! The audit log in the store: appended entries read back per user and per
//! organisation (newest first, paged), the hash chain verifying, and
//! tampering behind the store's back (an edited, removed or truncated
//! entry) detected at the right sequence number; purging moves the chain's
//! start so what is kept still verifies.

use chrono::Duration;
use praxis_server::store::{AuditCheck, Event, Val};
use praxis_tests::StoreFixture;
use serde_json::json;
use uuid::Uuid;

praxis_tests::store_suite!(
    entries_read_back_per_user_and_org_newest_first,
    an_edited_entry_breaks_the_chain_where_it_was_edited,
    removed_entries_break_the_chain,
    purging_moves_the_chain_start,
);

/// Appends `n` events about `user`, a minute apart.
async fn append(f: &StoreFixture, user: Uuid, n: i64) {
    for i in 0..n {
        f.advance(Duration::minutes(1));
        f.store
            .audit(Event::user("test_event", user, json!({ "n": i })), f.now())
            .await
            .expect("append");
    }
}

async fn verify(f: &StoreFixture) -> AuditCheck {
    f.store.verify_audit().await.expect("verify")
}

fn intact(entries: u64) -> AuditCheck {
    AuditCheck {
        entries,
        broken_at: None,
    }
}

async fn entries_read_back_per_user_and_org_newest_first(f: StoreFixture) {
    let (u, other, org) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    append(&f, u, 3).await;
    append(&f, other, 1).await;
    f.store
        .audit(
            Event::org("org_renamed", org, u, json!({ "by": "admin" })),
            f.now(),
        )
        .await
        .expect("append");

    let mine = f.store.audit_of_user(u, 2).await.expect("read");
    let seen: Vec<_> = mine.iter().map(|e| (e.seq, e.details.clone())).collect();
    assert_eq!(
        seen,
        [(5, json!({ "by": "admin" })), (3, json!({ "n": 2 }))]
    );
    assert_eq!((mine[0].org_id, mine[0].user_id), (Some(org), Some(u)));
    assert_eq!(mine[1].at, f.now() - Duration::minutes(1));
    let older = f.store.audit_of_user_before(u, 3, 10).await.expect("read");
    assert_eq!(older.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 1]);
    let of_org = f.store.audit_of_org(org, 10).await.expect("read");
    assert_eq!(
        of_org.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["org_renamed"]
    );
    assert_eq!(verify(&f).await, intact(5));
}

async fn an_edited_entry_breaks_the_chain_where_it_was_edited(f: StoreFixture) {
    append(&f, Uuid::new_v4(), 5).await;
    assert_eq!(verify(&f).await, intact(5));
    let set = "UPDATE audit_log SET details = ?1 WHERE seq = 3";
    assert_eq!(f.exec(set, vec![Val::from(r#"{"n":99}"#)]).await, 1);
    assert_eq!(
        verify(&f).await,
        AuditCheck {
            entries: 2,
            broken_at: Some(3)
        }
    );
    // Put back, it verifies again: the hash covers the content.
    f.exec(set, vec![Val::from(r#"{"n":2}"#)]).await;
    assert_eq!(verify(&f).await, intact(5));
    // Its time is covered too.
    f.exec("UPDATE audit_log SET at = at + 1 WHERE seq = 4", vec![])
        .await;
    assert_eq!(verify(&f).await.broken_at, Some(4));
}

async fn removed_entries_break_the_chain(f: StoreFixture) {
    append(&f, Uuid::new_v4(), 5).await;
    let row = |seq: i64| {
        f.store.db().query(
            "SELECT seq, at, event, user_id, org_id, details, prev_hash, hash FROM audit_log WHERE seq = ?1",
            vec![Val::from(seq)],
        )
    };
    let second = row(2).await.expect("read").remove(0);
    let delete = "DELETE FROM audit_log WHERE seq = ?1";
    f.exec(delete, vec![Val::from(2)]).await;
    assert_eq!(verify(&f).await.broken_at, Some(2), "a gap");
    f.exec(
        "INSERT INTO audit_log (seq, at, event, user_id, org_id, details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        second.into_values(),
    )
    .await;
    assert_eq!(verify(&f).await, intact(5));
    // The newest entry gone: the rest chains, but disagrees with the head.
    f.exec(delete, vec![Val::from(5)]).await;
    assert_eq!(
        verify(&f).await,
        AuditCheck {
            entries: 4,
            broken_at: Some(5)
        }
    );
}

async fn purging_moves_the_chain_start(f: StoreFixture) {
    let u = Uuid::new_v4();
    append(&f, u, 2).await;
    f.advance(Duration::days(10));
    append(&f, u, 2).await;
    let cut = f.now() - Duration::days(5);
    assert_eq!(f.store.purge_audit(cut).await.expect("purge"), 2);
    assert_eq!(verify(&f).await, intact(2), "what is kept still verifies");
    assert_eq!(f.store.purge_audit(cut).await.expect("purge"), 0);
    let kept: Vec<_> = f
        .store
        .audit_of_user(u, 10)
        .await
        .expect("read")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(kept, [4, 3]);
    // Everything purged, the chain goes on from its new start.
    assert_eq!(
        f.store
            .purge_audit(f.now() + Duration::days(1))
            .await
            .expect("purge"),
        2
    );
    assert_eq!(verify(&f).await, intact(0));
    append(&f, u, 1).await;
    assert_eq!(verify(&f).await, intact(1));
    assert_eq!(f.store.audit_of_user(u, 10).await.expect("read")[0].seq, 5);
}
