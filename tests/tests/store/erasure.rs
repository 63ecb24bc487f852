//! Erasure of an account in the store: every row about the account goes
//! (checked table by table through the store's backend), its data key is
//! destroyed, its token hashes are remembered so devices learn to wipe,
//! organisations keep an admin (or go when nobody is left), holders of its
//! card get a tombstone, and other accounts are left as they were.

use praxis_protocol::Role;
use praxis_protocol::privacy::Purpose;
use praxis_server::store::{CONNECTION_LOG, CodePurpose, Val};
use praxis_tests::StoreFixture;
use uuid::Uuid;

use super::contacts::{card, connect, copy_in_scope};
use super::{Account, Tokens, account, appointment, consent, join, new_org, push, sign_in};

praxis_tests::store_suite!(
    erasure_removes_every_row_of_the_account,
    erasure_keeps_an_admin_and_tells_holders,
);

/// Tables that hold rows about an account, each with the query counting
/// them: `?1` is the account id, or its sync scope when `scoped`.
const ROWS_OF_ACCOUNT: &[(&str, &str, bool)] = &[
    ("users", "SELECT COUNT(*) FROM users WHERE id = ?1", false),
    (
        "user_keys",
        "SELECT COUNT(*) FROM user_keys WHERE user_id = ?1",
        false,
    ),
    (
        "token_families",
        "SELECT COUNT(*) FROM token_families WHERE user_id = ?1",
        false,
    ),
    (
        "access_tokens",
        "SELECT COUNT(*) FROM access_tokens WHERE user_id = ?1",
        false,
    ),
    (
        "refresh_tokens",
        "SELECT COUNT(*) FROM refresh_tokens WHERE user_id = ?1",
        false,
    ),
    (
        "org_members",
        "SELECT COUNT(*) FROM org_members WHERE user_id = ?1",
        false,
    ),
    (
        "join_codes",
        "SELECT COUNT(*) FROM join_codes WHERE created_by = ?1 OR used_by = ?1",
        false,
    ),
    (
        "sync_mutations",
        "SELECT COUNT(*) FROM sync_mutations WHERE user_id = ?1",
        false,
    ),
    (
        "contact_cards",
        "SELECT COUNT(*) FROM contact_cards WHERE user_id = ?1",
        false,
    ),
    (
        "contact_shares",
        "SELECT COUNT(*) FROM contact_shares WHERE owner_id = ?1 OR holder_id = ?1 OR forwarded_by = ?1",
        false,
    ),
    (
        "contact_invitations",
        "SELECT COUNT(*) FROM contact_invitations WHERE inviter_id = ?1 OR used_by = ?1",
        false,
    ),
    (
        "objections",
        "SELECT COUNT(*) FROM objections WHERE user_id = ?1",
        false,
    ),
    (
        "email_codes",
        "SELECT COUNT(*) FROM email_codes WHERE user_id = ?1",
        false,
    ),
    (
        "sync_records",
        "SELECT COUNT(*) FROM sync_records WHERE scope = ?1",
        true,
    ),
    (
        "sync_scopes",
        "SELECT COUNT(*) FROM sync_scopes WHERE scope = ?1",
        true,
    ),
];

/// How many rows each table of [`ROWS_OF_ACCOUNT`] holds about `user`.
async fn rows_of(f: &StoreFixture, user: Uuid) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for &(table, sql, scoped) in ROWS_OF_ACCOUNT {
        let param = if scoped {
            Val::from(praxis_server::sync::user_scope(user))
        } else {
            Val::from(user)
        };
        out.push((table, f.count(sql, vec![param]).await));
    }
    out
}

/// An account with something in every capability: a session, synced
/// records and consent, an organisation of its own and one shared with
/// `other`, a card held by `other` and `other`'s card held, a spent join
/// code, an open invitation, an objection, a mailed code and a throttle
/// streak.
async fn busy_account(f: &StoreFixture, other: &Account) -> (Account, Tokens, Uuid, Uuid) {
    let a = account(f, "erased").await;
    let tokens = sign_in(f, a.id, "phone").await;
    let id = Uuid::new_v4().to_string();
    let answers = push(
        f,
        a.id,
        "dev1",
        &[
            appointment(f, 1, &id, "Visit"),
            consent(f, 2, Purpose::Marketing, true, 1),
        ],
    )
    .await;
    assert_eq!(answers.len(), 2);
    let solo = new_org(f, a.id).await;
    let shared = new_org(f, a.id).await;
    join(f, shared, a.id, other.id).await;
    f.store
        .put_card(a.id, &card("To be erased"), f.now())
        .await
        .expect("card");
    connect(f, a.id, other.id, &["display_name"], true).await;
    f.store
        .create_invitation(
            Uuid::new_v4(),
            a.id,
            &[1; 32],
            &[],
            false,
            f.now(),
            f.now() + chrono::Duration::hours(1),
            10,
        )
        .await
        .expect("invite")
        .expect("not restricted");
    f.store
        .set_objection(a.id, CONNECTION_LOG, true, f.now())
        .await
        .expect("object");
    f.store
        .issue_code(a.id, CodePurpose::Verify, "123456", f.now())
        .await
        .expect("code");
    let key = f.store.throttle_key(&a.email);
    f.store
        .reserve_login_attempt(&key, f.now(), f.now(), |_, _| None)
        .await
        .expect("reserve");
    (a, tokens, solo, shared)
}

async fn erasure_removes_every_row_of_the_account(f: StoreFixture) {
    let b = account(&f, "stays").await;
    let (a, tokens, _, _) = busy_account(&f, &b).await;
    let before = rows_of(&f, a.id).await;
    let empty: Vec<_> = before.iter().filter(|(_, n)| *n == 0).collect();
    assert!(empty.is_empty(), "the setup reaches every table: {empty:?}");
    let b_before = rows_of(&f, b.id).await;

    let key = f.store.throttle_key(&a.email);
    f.store
        .erase_user(a.id, &key, f.now())
        .await
        .expect("erase");

    let left: Vec<_> = rows_of(&f, a.id)
        .await
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .collect();
    assert!(
        left.is_empty(),
        "rows left about the erased account: {left:?}"
    );
    let streak = f
        .count(
            "SELECT COUNT(*) FROM login_throttle WHERE throttle_key = ?1",
            vec![Val::from(key.as_slice())],
        )
        .await;
    assert_eq!(streak, 0);
    assert!(f.store.user(a.id).await.expect("read").is_none());
    assert!(f.store.credentials(&a.email).await.expect("read").is_none());
    // Its devices learn they must wipe; their tokens open nothing.
    assert!(f.store.token_erased(&tokens.access).await.expect("read"));
    assert!(f.store.token_erased(&tokens.refresh).await.expect("read"));
    assert_eq!(
        f.store.access(&tokens.access, f.now()).await.expect("read"),
        None
    );

    // The other account lost only what tied it to a: the shares both ways
    // (its copy of a's card is now a tombstone, same row count), a's join
    // code it used and a's invitation it accepted.
    let b_after = rows_of(&f, b.id).await;
    let changed: Vec<_> = b_before
        .iter()
        .zip(&b_after)
        .filter(|(was, is)| was.1 != is.1)
        .map(|(was, is)| (was.0, was.1, is.1))
        .collect();
    assert_eq!(
        changed,
        [
            ("join_codes", 1, 0),
            ("contact_shares", 2, 0),
            ("contact_invitations", 1, 0)
        ]
    );
    let events: Vec<_> = f
        .store
        .audit_of_user(a.id, 50)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events[0], "account_erased");
    assert_eq!(
        f.store.verify_audit().await.expect("verify").broken_at,
        None
    );
}

async fn erasure_keeps_an_admin_and_tells_holders(f: StoreFixture) {
    let b = account(&f, "heir").await;
    let (a, _, solo, shared) = busy_account(&f, &b).await;
    let key = f.store.throttle_key(&a.email);
    f.store
        .erase_user(a.id, &key, f.now())
        .await
        .expect("erase");

    // Nobody left: gone. Someone left: they are its admin now.
    let orgs = f
        .count(
            "SELECT COUNT(*) FROM orgs WHERE id = ?1",
            vec![Val::from(solo)],
        )
        .await;
    assert_eq!(orgs, 0);
    let view = f.store.org_for_member(shared, b.id).await.expect("read");
    assert_eq!(view.map(|o| o.role), Some(Role::Admin));
    let members: Vec<_> = f
        .store
        .members(shared)
        .await
        .expect("members")
        .iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(members, [b.id]);

    // b's copy of a's card is an empty tombstone, and b holds it no more.
    let copy = copy_in_scope(&f, a.id, b.id).await;
    assert!(copy.deleted.is_some() && copy.fields.is_empty());
    assert!(f.store.held_card(a.id, b.id).await.expect("read").is_none());
    assert!(f.store.holders(b.id).await.expect("holders").is_empty());

    let org_events: Vec<_> = f
        .store
        .audit_of_org(shared, 10)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(org_events[0], "admin_promoted_on_erasure");
    let solo_events = f.store.audit_of_org(solo, 10).await.expect("audit");
    assert_eq!(solo_events[0].event, "org_deleted_on_erasure");
}
