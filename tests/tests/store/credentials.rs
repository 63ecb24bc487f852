//! Credentials in the store: mailed codes (single use, a bounded number of
//! wrong tries, an expiry on the injected clock), email verification, and
//! password changes and resets ending sessions and the login throttle.

use chrono::{DateTime, Duration, Utc};
use praxis_server::store::{CODE_ATTEMPTS, CodePurpose};
use praxis_tests::StoreFixture;

use super::{account, sign_in};

praxis_tests::store_suite!(
    verification_code_proves_the_address_once,
    wrong_tries_and_expiry_kill_a_code,
    reset_sets_the_password_and_ends_everything,
    password_change_keeps_only_the_callers_session,
);

async fn verification_code_proves_the_address_once(f: StoreFixture) {
    let a = account(&f, "eve").await;
    f.store
        .issue_code(a.id, CodePurpose::Verify, "123456", f.now())
        .await
        .expect("issue");
    // A code for one purpose does nothing for the other.
    assert!(
        !f.store
            .check_code(a.id, CodePurpose::Reset, "123456", f.now())
            .await
            .expect("check")
    );
    assert!(
        f.store
            .verify_email(a.id, "123456", f.now())
            .await
            .expect("verify")
    );
    assert!(
        f.store
            .user(a.id)
            .await
            .expect("read")
            .expect("exists")
            .email_verified
    );
    // Spent.
    assert!(
        !f.store
            .verify_email(a.id, "123456", f.now())
            .await
            .expect("verify")
    );
    let events = f.store.audit_of_user(a.id, 10).await.expect("audit");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event == "email_verified")
            .count(),
        1
    );
}

async fn wrong_tries_and_expiry_kill_a_code(f: StoreFixture) {
    let a = account(&f, "fay").await;
    let issue = || {
        f.store
            .issue_code(a.id, CodePurpose::Verify, "424242", f.now())
    };
    issue().await.expect("issue");
    for _ in 0..CODE_ATTEMPTS {
        assert!(
            !f.store
                .verify_email(a.id, "000000", f.now())
                .await
                .expect("verify")
        );
    }
    // Out of tries: even the right code is refused.
    assert!(
        !f.store
            .check_code(a.id, CodePurpose::Verify, "424242", f.now())
            .await
            .expect("check")
    );
    // A fresh code has its tries back, until it expires.
    issue().await.expect("reissue");
    assert!(
        f.store
            .check_code(a.id, CodePurpose::Verify, "424242", f.now())
            .await
            .expect("check"),
        "checking leaves the code unspent"
    );
    f.advance(CodePurpose::Verify.ttl());
    assert!(
        !f.store
            .verify_email(a.id, "424242", f.now())
            .await
            .expect("verify")
    );
    assert!(
        !f.store
            .user(a.id)
            .await
            .expect("read")
            .expect("exists")
            .email_verified
    );
}

async fn reset_sets_the_password_and_ends_everything(f: StoreFixture) {
    let a = account(&f, "gus").await;
    let s1 = sign_in(&f, a.id, "phone").await;
    let s2 = sign_in(&f, a.id, "laptop").await;
    let key = f.store.throttle_key(&a.email);
    let locked = |n: u32, _: DateTime<Utc>| (n >= 1).then_some(60);
    assert_eq!(
        f.store
            .reserve_login_attempt(&key, f.now(), f.now() - Duration::hours(1), locked)
            .await
            .expect("reserve"),
        None
    );
    f.store
        .issue_code(a.id, CodePurpose::Reset, "777777", f.now())
        .await
        .expect("issue");
    let new_hash = "$argon2id$v=19$m=19456,t=2,p=1$new$hash";
    // A wrong code changes nothing.
    assert!(
        !f.store
            .reset_password(a.id, "777778", new_hash, &key, f.now())
            .await
            .expect("reset")
    );
    assert_ne!(
        f.store
            .credentials(&a.email)
            .await
            .expect("read")
            .expect("found")
            .password_hash,
        new_hash
    );
    assert!(
        f.store
            .reset_password(a.id, "777777", new_hash, &key, f.now())
            .await
            .expect("reset")
    );
    let creds = f
        .store
        .credentials(&a.email)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(creds.password_hash, new_hash);
    for s in [&s1, &s2] {
        assert!(
            f.store
                .access(&s.access, f.now())
                .await
                .expect("read")
                .is_none()
        );
    }
    assert!(
        f.store
            .sessions(a.id, f.now())
            .await
            .expect("list")
            .is_empty()
    );
    // The code proved the address, and the throttle streak is cleared.
    assert!(
        f.store
            .user(a.id)
            .await
            .expect("read")
            .expect("exists")
            .email_verified
    );
    assert_eq!(
        f.store
            .reserve_login_attempt(&key, f.now(), f.now() - Duration::hours(1), locked)
            .await
            .expect("reserve"),
        None
    );
    // Spent.
    assert!(
        !f.store
            .reset_password(a.id, "777777", "other", &key, f.now())
            .await
            .expect("reset")
    );
}

async fn password_change_keeps_only_the_callers_session(f: StoreFixture) {
    let a = account(&f, "hal").await;
    let mine = sign_in(&f, a.id, "phone").await;
    let other = sign_in(&f, a.id, "laptop").await;
    let ended = f
        .store
        .set_password(
            a.id,
            "new-phc",
            Some(mine.family),
            "password_changed",
            f.now(),
        )
        .await
        .expect("set");
    assert_eq!(ended, Some(1));
    assert!(
        f.store
            .access(&mine.access, f.now())
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        f.store
            .access(&other.access, f.now())
            .await
            .expect("read")
            .is_none()
    );
    let events = f.store.audit_of_user(a.id, 1).await.expect("audit");
    assert_eq!(events[0].event, "password_changed");
    assert_eq!(events[0].details["sessions_ended"], 1);
    let unknown = f
        .store
        .set_password(uuid::Uuid::new_v4(), "x", None, "password_changed", f.now())
        .await
        .expect("set");
    assert_eq!(unknown, None);
}
