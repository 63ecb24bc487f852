//! Sessions in the store: the login throttle (reservation before the
//! password check, refund, clear, streak restart, and atomicity under
//! concurrent attempts), access-token lookup, refresh rotation with reuse
//! detection, and listing and ending sessions (with and without a wipe).

use chrono::{DateTime, Duration, Utc};
use praxis_server::store::RotateOutcome;
use praxis_tests::StoreFixture;

use super::{account, pair, sign_in, token_hash};

praxis_tests::store_suite!(
    throttle_reserves_refunds_clears_and_restarts,
    concurrent_attempts_never_exceed_the_streak,
    access_token_lookup_honours_expiry,
    refresh_rotates_once_and_reuse_revokes_the_family,
    sessions_are_listed_and_ended_one_or_all,
);

/// The rule the tests reserve under: from the third recent failure on,
/// wait 30 seconds; failures older than an hour no longer count.
fn lock_rule(now: DateTime<Utc>) -> impl FnOnce(u32, DateTime<Utc>) -> Option<u64> {
    move |failures, last| (failures >= 3 && last > now - Duration::hours(1)).then_some(30)
}

/// Reserves one attempt for `key`: the wait imposed, and the failure count
/// the rule was shown (`None`: no failure counted, the rule not asked).
async fn reserve(f: &StoreFixture, key: &[u8]) -> (Option<u64>, Option<u32>) {
    let now = f.now();
    let mut shown = None;
    let rule = lock_rule(now);
    let wait = f
        .store
        .reserve_login_attempt(key, now, now - Duration::hours(1), |n, last| {
            shown = Some(n);
            rule(n, last)
        })
        .await
        .expect("reserve");
    (wait, shown)
}

async fn throttle_reserves_refunds_clears_and_restarts(f: StoreFixture) {
    let key = f.store.throttle_key("someone@clinic-example.org");
    // Each allowed attempt is counted before its password is checked.
    assert_eq!(reserve(&f, &key).await, (None, None));
    assert_eq!(reserve(&f, &key).await, (None, Some(1)));
    assert_eq!(reserve(&f, &key).await, (None, Some(2)));
    // Locked: refused and not counted.
    assert_eq!(reserve(&f, &key).await, (Some(30), Some(3)));
    assert_eq!(reserve(&f, &key).await, (Some(30), Some(3)));
    // A refunded attempt (password never checked) frees one place.
    f.store.refund_login_attempt(&key).await.expect("refund");
    assert_eq!(reserve(&f, &key).await, (None, Some(2)));
    assert_eq!(reserve(&f, &key).await, (Some(30), Some(3)));
    // Another address has a streak of its own.
    let other = f.store.throttle_key("other@clinic-example.org");
    assert_eq!(reserve(&f, &other).await, (None, None));
    // Success clears the streak.
    f.store.clear_login_failures(&key).await.expect("clear");
    assert_eq!(reserve(&f, &key).await, (None, None));
    // Refunds never go below zero.
    f.store.refund_login_attempt(&key).await.expect("refund");
    f.store.refund_login_attempt(&key).await.expect("refund");
    assert_eq!(reserve(&f, &key).await, (None, None));
    assert_eq!(reserve(&f, &key).await, (None, Some(1)));
    assert_eq!(reserve(&f, &key).await, (None, Some(2)));
    assert_eq!(reserve(&f, &key).await, (Some(30), Some(3)));
    // Two hours later the streak is stale: allowed, and counted afresh.
    f.advance(Duration::hours(2));
    assert_eq!(reserve(&f, &key).await, (None, Some(3)));
    assert_eq!(reserve(&f, &key).await, (None, Some(1)));
}

async fn concurrent_attempts_never_exceed_the_streak(f: StoreFixture) {
    let key = f.store.throttle_key("burst@clinic-example.org");
    let now = f.now();
    let attempts = (0..12).map(|_| {
        let (store, key) = (f.store.clone(), key.clone());
        tokio::spawn(async move {
            store
                .reserve_login_attempt(&key, now, now - Duration::hours(1), lock_rule(now))
                .await
                .expect("reserve")
        })
    });
    let mut allowed = 0;
    for a in attempts.collect::<Vec<_>>() {
        if a.await.expect("task").is_none() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 3, "exactly the streak's attempts get through");
}

async fn access_token_lookup_honours_expiry(f: StoreFixture) {
    let a = account(&f, "ida").await;
    let s = sign_in(&f, a.id, "phone").await;
    let found = f.store.access(&s.access, f.now()).await.expect("read");
    assert_eq!(
        found,
        Some((a.id, s.family, f.now() + Duration::minutes(15)))
    );
    // The refresh token is not an access token, nor is an unknown hash.
    assert_eq!(
        f.store.access(&s.refresh, f.now()).await.expect("read"),
        None
    );
    assert_eq!(
        f.store.access(&token_hash(), f.now()).await.expect("read"),
        None
    );
    f.advance(Duration::minutes(15) - Duration::milliseconds(1));
    assert!(
        f.store
            .access(&s.access, f.now())
            .await
            .expect("read")
            .is_some()
    );
    f.advance(Duration::milliseconds(1));
    assert_eq!(
        f.store.access(&s.access, f.now()).await.expect("read"),
        None
    );
}

async fn refresh_rotates_once_and_reuse_revokes_the_family(f: StoreFixture) {
    let a = account(&f, "jon").await;
    let s = sign_in(&f, a.id, "phone").await;
    // Its access token has not expired yet: rotation alone retires it.
    f.advance(Duration::minutes(5));
    let (next, access2, refresh2) = pair(f.now());
    let out = f
        .store
        .rotate_refresh(&s.refresh, next, f.now())
        .await
        .expect("rotate");
    assert_eq!(
        out,
        RotateOutcome::Rotated {
            user_id: a.id,
            family_id: s.family
        }
    );
    // Only the newest access token of the family works.
    assert_eq!(
        f.store.access(&s.access, f.now()).await.expect("read"),
        None
    );
    let found = f.store.access(&access2, f.now()).await.expect("read");
    assert_eq!(found.map(|(u, fam, _)| (u, fam)), Some((a.id, s.family)));
    let listed = f.store.sessions(a.id, f.now()).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, f.now(), "a refresh is a use");

    // The spent token again: reuse, and the whole family is revoked.
    let (again, _, _) = pair(f.now());
    let out = f
        .store
        .rotate_refresh(&s.refresh, again, f.now())
        .await
        .expect("rotate");
    assert_eq!(out, RotateOutcome::Reused { user_id: a.id });
    assert_eq!(f.store.access(&access2, f.now()).await.expect("read"), None);
    let (after, _, _) = pair(f.now());
    let out = f
        .store
        .rotate_refresh(&refresh2, after, f.now())
        .await
        .expect("rotate");
    assert_eq!(
        out,
        RotateOutcome::Invalid,
        "the successor died with its family"
    );
    assert!(
        f.store
            .sessions(a.id, f.now())
            .await
            .expect("list")
            .is_empty()
    );

    // Unknown and expired refresh tokens are invalid, and spend nothing.
    let (p, _, _) = pair(f.now());
    let out = f
        .store
        .rotate_refresh(&token_hash(), p, f.now())
        .await
        .expect("rotate");
    assert_eq!(out, RotateOutcome::Invalid);
    let old = sign_in(&f, a.id, "tablet").await;
    f.advance(Duration::days(30));
    let (p, _, _) = pair(f.now());
    let out = f
        .store
        .rotate_refresh(&old.refresh, p, f.now())
        .await
        .expect("rotate");
    assert_eq!(out, RotateOutcome::Invalid);
}

async fn sessions_are_listed_and_ended_one_or_all(f: StoreFixture) {
    let a = account(&f, "kim").await;
    let b = account(&f, "lea").await;
    let phone = sign_in(&f, a.id, "phone").await;
    f.advance(Duration::minutes(1));
    let laptop = sign_in(&f, a.id, "laptop").await;
    let listed = f.store.sessions(a.id, f.now()).await.expect("list");
    let names: Vec<_> = listed.iter().map(|s| s.device.name.as_deref()).collect();
    assert_eq!(names, [Some("laptop"), Some("phone")], "newest first");
    assert_eq!(listed[0].id, laptop.family);
    assert_eq!(listed[1].created_at, f.now() - Duration::minutes(1));

    // Not someone else's session.
    assert!(
        !f.store
            .end_session(b.id, phone.family, false, f.now())
            .await
            .expect("end")
    );
    assert!(
        f.store
            .access(&phone.access, f.now())
            .await
            .expect("read")
            .is_some()
    );

    // Ended with a wipe: the device hears it at its next refresh.
    assert!(
        f.store
            .end_session(a.id, phone.family, true, f.now())
            .await
            .expect("end")
    );
    assert!(
        !f.store
            .end_session(a.id, phone.family, true, f.now())
            .await
            .expect("end")
    );
    assert_eq!(
        f.store.access(&phone.access, f.now()).await.expect("read"),
        None
    );
    let (p, _, _) = pair(f.now());
    let out = f
        .store
        .rotate_refresh(&phone.refresh, p, f.now())
        .await
        .expect("rotate");
    assert_eq!(out, RotateOutcome::Wiped);

    // Every other session ends; the kept one lives.
    let tablet = sign_in(&f, a.id, "tablet").await;
    let ended = f
        .store
        .end_other_sessions(a.id, tablet.family, false, f.now())
        .await
        .expect("end others");
    assert_eq!(ended, 1, "only the laptop was still live");
    let listed = f.store.sessions(a.id, f.now()).await.expect("list");
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [tablet.family]
    );
    let (p, _, _) = pair(f.now());
    let out = f
        .store
        .rotate_refresh(&laptop.refresh, p, f.now())
        .await
        .expect("rotate");
    assert_eq!(out, RotateOutcome::Invalid, "ended without a wipe");

    // Logout.
    f.store
        .revoke_family(tablet.family, f.now())
        .await
        .expect("logout");
    assert!(
        f.store
            .sessions(a.id, f.now())
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        f.store.access(&tablet.access, f.now()).await.expect("read"),
        None
    );
}
