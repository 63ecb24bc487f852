//! Retention in the store, on the injected clock: expired and ended
//! sessions and their tokens (a wiped session kept until its device could
//! have heard of it), expired single-use codes (a used one kept until then),
//! abuse counters, erased-token markers, and the job lease that makes a
//! periodic purge run once per period across replicas.

use chrono::Duration;
use praxis_server::store::{CodePurpose, ERASED_TOKEN_DAYS, RedeemOutcome, RotateOutcome, Val};
use praxis_tests::StoreFixture;
use uuid::Uuid;

use super::{account, new_org, pair, sign_in, token_hash};

praxis_tests::store_suite!(
    sessions_and_tokens_are_purged_when_expired_or_ended,
    expired_codes_are_purged_and_used_ones_kept_until_then,
    counters_and_erased_token_markers_expire,
    a_job_period_is_claimed_once,
);

async fn count_of(f: &StoreFixture, sql: &'static str, user: Uuid) -> i64 {
    f.count(sql, vec![Val::from(user)]).await
}

async fn sessions_and_tokens_are_purged_when_expired_or_ended(f: StoreFixture) {
    let a = account(&f, "oz").await;
    let live = sign_in(&f, a.id, "phone").await;
    let ended = sign_in(&f, a.id, "laptop").await;
    let wiped = sign_in(&f, a.id, "tablet").await;
    let s = &f.store;
    assert!(
        s.end_session(a.id, ended.family, false, f.now())
            .await
            .expect("end")
    );
    assert!(
        s.end_session(a.id, wiped.family, true, f.now())
            .await
            .expect("end")
    );
    let families = "SELECT COUNT(*) FROM token_families WHERE user_id = ?1";
    let access = "SELECT COUNT(*) FROM access_tokens WHERE user_id = ?1";
    let refresh = "SELECT COUNT(*) FROM refresh_tokens WHERE user_id = ?1";

    // An ended session goes at once (its refresh token with it); a wiped
    // one stays for its device to hear.
    assert_eq!(s.purge_sessions(f.now()).await.expect("purge"), 1);
    assert_eq!(count_of(&f, families, a.id).await, 2);
    assert_eq!(count_of(&f, refresh, a.id).await, 2);
    assert_eq!(count_of(&f, access, a.id).await, 1, "the live one's");

    f.advance(Duration::minutes(15));
    assert_eq!(s.purge_sessions(f.now()).await.expect("purge"), 1);
    assert_eq!(count_of(&f, access, a.id).await, 0);
    assert_eq!(s.sessions(a.id, f.now()).await.expect("list").len(), 1);

    f.advance(Duration::days(30) - Duration::minutes(16));
    assert_eq!(s.purge_sessions(f.now()).await.expect("purge"), 0);
    let (p, _, _) = pair(f.now());
    let out = s
        .rotate_refresh(&wiped.refresh, p, f.now())
        .await
        .expect("rotate");
    assert_eq!(out, RotateOutcome::Wiped);

    // Thirty days on, every refresh token has expired: all goes.
    f.advance(Duration::minutes(1));
    assert_eq!(s.purge_sessions(f.now()).await.expect("purge"), 4);
    for sql in [families, access, refresh] {
        assert_eq!(count_of(&f, sql, a.id).await, 0, "{sql}");
    }
    let (p, _, _) = pair(f.now());
    let out = s
        .rotate_refresh(&live.refresh, p, f.now())
        .await
        .expect("rotate");
    assert_eq!(out, RotateOutcome::Invalid);
}

async fn expired_codes_are_purged_and_used_ones_kept_until_then(f: StoreFixture) {
    let (a, b) = (account(&f, "pi").await, account(&f, "qu").await);
    let org = new_org(&f, a.id).await;
    let (used, open) = (token_hash(), token_hash());
    let s = &f.store;
    for code in [&used, &open] {
        s.create_join_code(code, org, a.id, f.now(), f.now() + Duration::hours(1))
            .await
            .expect("code");
    }
    assert_eq!(
        s.redeem_join_code(&used, b.id, f.now())
            .await
            .expect("redeem"),
        RedeemOutcome::Joined(org)
    );
    let stored = s
        .create_invitation(
            Uuid::new_v4(),
            a.id,
            &token_hash(),
            &[],
            false,
            f.now(),
            f.now() + Duration::hours(1),
            10,
        )
        .await
        .expect("invite");
    assert_eq!(stored, Ok(true));
    s.issue_code(a.id, CodePurpose::Reset, "111111", f.now())
        .await
        .expect("reset code");
    s.issue_code(a.id, CodePurpose::Verify, "222222", f.now())
        .await
        .expect("verify code");

    assert_eq!(s.purge_expired_codes(f.now()).await.expect("purge"), 0);
    // Kept while it would still be valid: a second try hears "used".
    assert_eq!(
        s.redeem_join_code(&used, a.id, f.now())
            .await
            .expect("redeem"),
        RedeemOutcome::Used
    );
    // An hour on: both join codes, the invitation and the reset code.
    f.advance(Duration::hours(1));
    assert_eq!(s.purge_expired_codes(f.now()).await.expect("purge"), 4);
    assert_eq!(
        s.redeem_join_code(&used, a.id, f.now())
            .await
            .expect("redeem"),
        RedeemOutcome::Unknown
    );
    let codes = "SELECT COUNT(*) FROM email_codes WHERE user_id = ?1";
    assert_eq!(
        count_of(&f, codes, a.id).await,
        1,
        "the verification code lives a day"
    );
    f.advance(Duration::hours(23));
    assert_eq!(s.purge_expired_codes(f.now()).await.expect("purge"), 1);
    assert_eq!(count_of(&f, codes, a.id).await, 0);
}

async fn counters_and_erased_token_markers_expire(f: StoreFixture) {
    let a = account(&f, "ro").await;
    let tokens = sign_in(&f, a.id, "phone").await;
    let s = &f.store;
    let key = s.throttle_key("someone@clinic-example.org");
    s.reserve_login_attempt(&key, f.now(), f.now(), |_, _| None)
        .await
        .expect("reserve");
    s.rate_hit("register:127.0.0.1", 3_600_000, f.now())
        .await
        .expect("hit");
    let hour_ago = f.now() - Duration::hours(1);
    assert_eq!(
        s.purge_counters(hour_ago, hour_ago).await.expect("purge"),
        0
    );
    f.advance(Duration::hours(1) + Duration::milliseconds(1));
    let hour_ago = f.now() - Duration::hours(1);
    assert_eq!(
        s.purge_counters(hour_ago, hour_ago).await.expect("purge"),
        2
    );

    // Erased tokens are remembered for ERASED_TOKEN_DAYS.
    s.erase_user(a.id, &s.throttle_key(&a.email), f.now())
        .await
        .expect("erase");
    let window = Duration::days(ERASED_TOKEN_DAYS);
    assert_eq!(
        s.purge_erased_tokens(f.now() - window)
            .await
            .expect("purge"),
        0
    );
    assert!(s.token_erased(&tokens.refresh).await.expect("read"));
    f.advance(window + Duration::milliseconds(1));
    assert_eq!(
        s.purge_erased_tokens(f.now() - window)
            .await
            .expect("purge"),
        2
    );
    assert!(!s.token_erased(&tokens.refresh).await.expect("read"));
    assert!(!s.token_erased(&tokens.access).await.expect("read"));
}

async fn a_job_period_is_claimed_once(f: StoreFixture) {
    let s = &f.store;
    let hour = Duration::hours(1);
    assert!(
        s.claim_period("retention", f.now(), hour)
            .await
            .expect("claim")
    );
    assert!(
        !s.claim_period("retention", f.now(), hour)
            .await
            .expect("claim")
    );
    assert!(
        s.claim_period("audit", f.now(), hour).await.expect("claim"),
        "per job"
    );
    f.advance(hour - Duration::milliseconds(1));
    assert!(
        !s.claim_period("retention", f.now(), hour)
            .await
            .expect("claim")
    );
    f.advance(Duration::milliseconds(1));
    // Due again: of replicas asking at once, exactly one runs it.
    let now = f.now();
    let claims: Vec<_> = (0..6)
        .map(|_| {
            let store = f.store.clone();
            tokio::spawn(async move { store.claim_period("retention", now, hour).await })
        })
        .collect();
    let mut won = 0;
    for c in claims {
        if c.await.expect("task").expect("claim") {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}
