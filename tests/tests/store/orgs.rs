//! Organisations in the store: the creator is the first admin, join codes
//! are single-use and expire, an admin's open codes die with the role, the
//! last admin can be neither demoted nor removed, and open codes are
//! capped.

use chrono::Duration;
use praxis_protocol::Role;
use praxis_server::store::{MAX_OPEN_JOIN_CODES, MemberChange, RedeemOutcome, StoreError};
use praxis_tests::StoreFixture;
use uuid::Uuid;

use super::{account, join, new_org, token_hash};

praxis_tests::store_suite!(
    join_codes_are_single_use_and_expire,
    the_last_admin_stays,
    a_demoted_admins_codes_die_with_the_role,
    open_join_codes_are_capped,
);

/// A join code of `org` made by `by`, valid for `valid`.
async fn code(f: &StoreFixture, org: Uuid, by: Uuid, valid: Duration) -> Vec<u8> {
    let hash = token_hash();
    f.store
        .create_join_code(&hash, org, by, f.now(), f.now() + valid)
        .await
        .expect("join code");
    hash
}

async fn redeem(f: &StoreFixture, code: &[u8], user: Uuid) -> RedeemOutcome {
    f.store
        .redeem_join_code(code, user, f.now())
        .await
        .expect("redeem")
}

async fn role_in(f: &StoreFixture, org: Uuid, user: Uuid) -> Option<Role> {
    f.store
        .org_for_member(org, user)
        .await
        .expect("read")
        .map(|o| o.role)
}

async fn join_codes_are_single_use_and_expire(f: StoreFixture) {
    let (a, b, c) = (
        account(&f, "amy").await,
        account(&f, "bob").await,
        account(&f, "cai").await,
    );
    let org = new_org(&f, a.id).await;
    let mine = f.store.orgs_of(a.id).await.expect("orgs");
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].id, mine[0].role), (org, Role::Admin));
    assert_eq!(mine[0].created_at, f.now());

    let first = code(&f, org, a.id, Duration::days(1)).await;
    let open = f.store.open_join_codes(org, f.now()).await.expect("codes");
    assert_eq!(
        open,
        vec![(first.clone(), a.id, f.now(), f.now() + Duration::days(1))]
    );
    f.advance(Duration::minutes(1));
    assert_eq!(redeem(&f, &first, b.id).await, RedeemOutcome::Joined(org));
    assert_eq!(role_in(&f, org, b.id).await, Some(Role::Member));
    // Spent: nobody else joins with it.
    assert_eq!(redeem(&f, &first, c.id).await, RedeemOutcome::Used);
    assert_eq!(role_in(&f, org, c.id).await, None);
    assert!(
        f.store
            .open_join_codes(org, f.now())
            .await
            .expect("codes")
            .is_empty()
    );

    let members = f.store.members(org).await.expect("members");
    let seen: Vec<_> = members
        .iter()
        .map(|m| (m.user_id, m.full_name.as_str(), m.role))
        .collect();
    assert_eq!(members[1].joined_at, f.now());
    assert_eq!(
        seen,
        [
            (a.id, a.full_name.as_str(), Role::Admin),
            (b.id, b.full_name.as_str(), Role::Member)
        ]
    );

    // A member's redemption leaves the code unspent.
    let second = code(&f, org, a.id, Duration::days(1)).await;
    assert_eq!(
        redeem(&f, &second, b.id).await,
        RedeemOutcome::AlreadyMember(org)
    );
    assert_eq!(
        f.store
            .open_join_codes(org, f.now())
            .await
            .expect("codes")
            .len(),
        1
    );
    // Revoked, it is unknown.
    assert!(
        f.store
            .revoke_join_code(org, &second, a.id, f.now())
            .await
            .expect("revoke")
    );
    assert!(
        !f.store
            .revoke_join_code(org, &second, a.id, f.now())
            .await
            .expect("revoke")
    );
    assert_eq!(redeem(&f, &second, c.id).await, RedeemOutcome::Unknown);
    assert_eq!(
        redeem(&f, &token_hash(), c.id).await,
        RedeemOutcome::Unknown
    );

    // Expired at its expiry, not a millisecond later.
    let short = code(&f, org, a.id, Duration::hours(1)).await;
    f.advance(Duration::hours(1));
    assert_eq!(redeem(&f, &short, c.id).await, RedeemOutcome::Expired);
    assert_eq!(role_in(&f, org, c.id).await, None);

    let events: Vec<_> = f
        .store
        .audit_of_org(org, 10)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        ["join_code_revoked", "member_joined", "org_created"]
    );
}

async fn the_last_admin_stays(f: StoreFixture) {
    let (a, b, c) = (
        account(&f, "dan").await,
        account(&f, "eli").await,
        account(&f, "fin").await,
    );
    let org = new_org(&f, a.id).await;
    join(&f, org, a.id, b.id).await;
    let now = f.now();
    let s = &f.store;
    assert_eq!(
        s.set_role(org, a.id, Role::Member, a.id, now)
            .await
            .expect("role"),
        MemberChange::LastAdmin
    );
    assert_eq!(
        s.remove_member(org, a.id, a.id, now).await.expect("remove"),
        MemberChange::LastAdmin
    );
    assert_eq!(role_in(&f, org, a.id).await, Some(Role::Admin));

    // With a second admin, the first may step down.
    assert_eq!(
        s.set_role(org, b.id, Role::Admin, a.id, now)
            .await
            .expect("role"),
        MemberChange::Done
    );
    assert_eq!(
        s.set_role(org, a.id, Role::Member, b.id, now)
            .await
            .expect("role"),
        MemberChange::Done
    );
    assert_eq!(role_in(&f, org, a.id).await, Some(Role::Member));
    // Now b is the last one.
    assert_eq!(
        s.remove_member(org, b.id, b.id, now).await.expect("remove"),
        MemberChange::LastAdmin
    );
    assert_eq!(
        s.remove_member(org, a.id, b.id, now).await.expect("remove"),
        MemberChange::Done
    );
    assert_eq!(role_in(&f, org, a.id).await, None);
    assert!(f.store.orgs_of(a.id).await.expect("orgs").is_empty());
    assert_eq!(
        s.remove_member(org, a.id, b.id, now).await.expect("remove"),
        MemberChange::NotMember
    );
    assert_eq!(
        s.set_role(org, c.id, Role::Admin, b.id, now)
            .await
            .expect("role"),
        MemberChange::NotMember
    );
    let members = s.members(org).await.expect("members");
    assert_eq!(
        members.iter().map(|m| m.user_id).collect::<Vec<_>>(),
        [b.id]
    );
}

async fn a_demoted_admins_codes_die_with_the_role(f: StoreFixture) {
    let (a, b, c) = (
        account(&f, "gil").await,
        account(&f, "han").await,
        account(&f, "ivy").await,
    );
    let org = new_org(&f, a.id).await;
    join(&f, org, a.id, b.id).await;
    let s = &f.store;
    s.set_role(org, b.id, Role::Admin, a.id, f.now())
        .await
        .expect("promote");
    let bs = code(&f, org, b.id, Duration::days(1)).await;
    let as_ = code(&f, org, a.id, Duration::days(1)).await;
    s.set_role(org, b.id, Role::Member, a.id, f.now())
        .await
        .expect("demote");
    let open: Vec<_> = s
        .open_join_codes(org, f.now())
        .await
        .expect("codes")
        .into_iter()
        .map(|(hash, by, _, _)| (hash, by))
        .collect();
    assert_eq!(open, [(as_.clone(), a.id)]);
    assert_eq!(redeem(&f, &bs, c.id).await, RedeemOutcome::Unknown);
    assert_eq!(redeem(&f, &as_, c.id).await, RedeemOutcome::Joined(org));
}

async fn open_join_codes_are_capped(f: StoreFixture) {
    let a = account(&f, "jay").await;
    let org = new_org(&f, a.id).await;
    let mut codes = Vec::new();
    for _ in 0..MAX_OPEN_JOIN_CODES {
        codes.push(code(&f, org, a.id, Duration::hours(1)).await);
    }
    let refused = f
        .store
        .create_join_code(
            &token_hash(),
            org,
            a.id,
            f.now(),
            f.now() + Duration::hours(1),
        )
        .await
        .expect_err("over the cap");
    assert!(
        matches!(refused, StoreError::LimitReached("join_codes")),
        "{refused:?}"
    );
    let open = f.store.open_join_codes(org, f.now()).await.expect("codes");
    assert_eq!(open.len(), codes.len(), "the refusal wrote nothing");
    // A revoked code frees its place; expired ones free theirs.
    assert!(
        f.store
            .revoke_join_code(org, &codes[0], a.id, f.now())
            .await
            .expect("revoke")
    );
    code(&f, org, a.id, Duration::hours(1)).await;
    f.advance(Duration::hours(1));
    code(&f, org, a.id, Duration::hours(1)).await;
    assert_eq!(
        f.store
            .open_join_codes(org, f.now())
            .await
            .expect("codes")
            .len(),
        1
    );
}
