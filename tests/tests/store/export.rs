//! The data export's reads in the store: a collection's live records of the
//! account (opened, deleted ones and other accounts' left out) paged by
//! sequence, and the memberships and blocks the export lists.

use praxis_protocol::privacy::Purpose;
use praxis_tests::StoreFixture;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{account, applied, appointment, consent, join, new_org, push};

praxis_tests::store_suite!(
    export_pages_hold_the_accounts_live_records_only,
    memberships_and_blocks_are_exported,
);

async fn export_pages_hold_the_accounts_live_records_only(f: StoreFixture) {
    let (a, b) = (account(&f, "jo").await, account(&f, "ki").await);
    let ids: Vec<String> = (0..3).map(|_| Uuid::new_v4().to_string()).collect();
    let batch: Vec<_> = ids
        .iter()
        .zip(1..)
        .map(|(id, n)| appointment(&f, n, id, &format!("Visit {n}")))
        .collect();
    let answers = push(&f, a.id, "dev1", &batch).await;
    let mut delete = appointment(&f, 4, &ids[1], "");
    delete.fields.clear();
    delete.base_version = Some(applied(&answers[1]).version);
    delete.delete = Some(super::hlc(&f, 10, "dev1"));
    push(&f, a.id, "dev1", &[delete]).await;
    push(
        &f,
        a.id,
        "dev1",
        &[consent(&f, 5, Purpose::Analytics, true, 1)],
    )
    .await;
    push(
        &f,
        b.id,
        "dev1",
        &[appointment(&f, 1, &Uuid::new_v4().to_string(), "Not a's")],
    )
    .await;

    let (page, last) = f
        .store
        .export_page(a.id, "appointments", 0)
        .await
        .expect("export");
    let seen: Vec<_> = page
        .iter()
        .map(|r| (r["id"].clone(), r["title"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!(ids[0]), json!("Visit 1")),
            (json!(ids[2]), json!("Visit 3"))
        ]
    );
    assert_eq!(page[0]["duration_min"], 30, "fields opened");
    assert_eq!(last, applied(&answers[2]).version);
    let (rest, after) = f
        .store
        .export_page(a.id, "appointments", last)
        .await
        .expect("export");
    assert!(rest.is_empty());
    assert_eq!(after, last);

    let (consents, _) = f
        .store
        .export_page(a.id, "consents", 0)
        .await
        .expect("export");
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0]["purpose"], "analytics");
    assert_eq!(consents[0]["granted"], Value::Bool(true));
}

async fn memberships_and_blocks_are_exported(f: StoreFixture) {
    let (a, b, c) = (
        account(&f, "li").await,
        account(&f, "mo").await,
        account(&f, "nu").await,
    );
    let org = new_org(&f, a.id).await;
    join(&f, org, a.id, b.id).await;
    assert!(
        f.store
            .set_member_location(org, a.id, b.id, false, f.now())
            .await
            .expect("location off")
    );
    let theirs = f.store.memberships(b.id).await.expect("memberships");
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["org_id"], org.to_string());
    assert_eq!(theirs[0]["name"], "Clinique du Parc");
    assert_eq!(theirs[0]["role"], "member");
    assert_eq!(theirs[0]["location_enabled"], false);
    let mine = f.store.memberships(a.id).await.expect("memberships");
    assert_eq!(
        (mine[0]["role"].clone(), mine[0]["location_enabled"].clone()),
        (json!("admin"), json!(true))
    );
    assert!(
        f.store
            .memberships(c.id)
            .await
            .expect("memberships")
            .is_empty()
    );

    assert!(f.store.block(a.id, c.id, f.now()).await.expect("block"));
    assert_eq!(f.store.blocked_by(a.id).await.expect("blocks"), [c.id]);
    assert!(f.store.blocked_by(c.id).await.expect("blocks").is_empty());
    assert!(
        f.store
            .my_positions(a.id)
            .await
            .expect("positions")
            .is_empty()
    );
}
