//! Background wake-ups in the store: a change to a user's data queues one
//! wake-up per other signed-in device with a push token (a burst counts
//! into the waiting one), the notifier takes due ones under a lease that a
//! second replica cannot take, and each delivery is settled: delivered
//! (kept when newer changes counted in meanwhile), retried, dropped, or
//! its token forgotten when the gateway rejects it. Tokens are sealed.

use chrono::Duration;
use praxis_server::store::{Delivery, Val, Wakeup};
use praxis_tests::StoreFixture;
use uuid::Uuid;

use super::{account, applied, appointment, sign_in};

praxis_tests::store_suite!(
    a_change_wakes_the_owners_other_devices_once_per_burst,
    a_leased_wakeup_is_not_taken_twice_and_failures_are_settled,
    a_token_goes_with_its_sign_in,
);

/// Pushes one new appointment as the sign-in `origin` of `user` (a fresh
/// client id each time, so no push is a replay of another).
async fn change(f: &StoreFixture, user: Uuid, origin: Uuid) {
    let m = [appointment(f, 1, &Uuid::new_v4().to_string(), "Pansement")];
    let pre = praxis_server::sync::precheck(&m, f.now());
    let r = f
        .store
        .push(user, origin, &Uuid::new_v4().to_string(), &m, &pre, f.now())
        .await
        .expect("push");
    applied(&r[0]);
}

async fn depth(f: &StoreFixture) -> u64 {
    f.store.notifier_outbox_depth().await.expect("depth")
}

/// Takes the due wake-ups with a one-minute lease.
async fn take(f: &StoreFixture) -> Vec<Wakeup> {
    f.store
        .take_wakeups(f.now(), f.now() + Duration::minutes(1), 10)
        .await
        .expect("take")
}

async fn settle(f: &StoreFixture, w: &Wakeup, outcome: Delivery) {
    f.store
        .settle_wakeup(w, outcome, f.now())
        .await
        .expect("settle");
}

async fn a_change_wakes_the_owners_other_devices_once_per_burst(f: StoreFixture) {
    let a = account(&f, "wen").await;
    let other = account(&f, "xia").await;
    let phone = sign_in(&f, a.id, "phone").await;
    let tablet = sign_in(&f, a.id, "tablet").await;
    let laptop = sign_in(&f, a.id, "laptop").await; // no token: not woken
    let theirs = sign_in(&f, other.id, "phone").await;
    let s = &f.store;
    for (user, family, platform, token) in [
        (a.id, phone.family, "fcm", "fcm-token-of-the-phone"),
        (a.id, tablet.family, "apns", "apns-token-of-the-tablet"),
        (other.id, theirs.family, "fcm", "fcm-token-of-someone-else"),
    ] {
        s.set_push_token(user, family, platform, token, f.now())
            .await
            .expect("token");
    }
    let plain = f
        .count(
            "SELECT COUNT(*) FROM push_tokens WHERE token LIKE '%token-of%'",
            vec![],
        )
        .await;
    assert_eq!(plain, 0, "tokens are sealed");

    // The phone's change wakes the tablet only: not the phone (it has the
    // change), not the laptop (no token), not another user.
    change(&f, a.id, phone.family).await;
    assert_eq!(depth(&f).await, 1);
    change(&f, a.id, phone.family).await;
    assert_eq!(depth(&f).await, 1, "a burst is one wake-up");
    let due = take(&f).await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].family_id, tablet.family);
    assert_eq!(due[0].platform, "apns");
    assert_eq!(due[0].token, "apns-token-of-the-tablet");
    assert_eq!(due[0].attempts, 0);

    // A change while it is being delivered keeps it queued for that
    // change; the next delivery empties the queue.
    change(&f, a.id, phone.family).await;
    settle(&f, &due[0], Delivery::Delivered).await;
    assert_eq!(depth(&f).await, 1, "the newer change still needs a wake-up");
    let again = take(&f).await;
    assert_eq!(again.len(), 1);
    settle(&f, &again[0], Delivery::Delivered).await;
    assert_eq!(depth(&f).await, 0);

    // The tablet's change wakes the phone; the laptop's wakes both.
    change(&f, a.id, tablet.family).await;
    let due = take(&f).await;
    assert_eq!(
        due.iter().map(|w| w.family_id).collect::<Vec<_>>(),
        vec![phone.family]
    );
    settle(&f, &due[0], Delivery::Delivered).await;
    change(&f, a.id, laptop.family).await;
    let mut woken: Vec<Uuid> = take(&f).await.iter().map(|w| w.family_id).collect();
    woken.sort();
    let mut both = vec![phone.family, tablet.family];
    both.sort();
    assert_eq!(woken, both);
}

async fn a_leased_wakeup_is_not_taken_twice_and_failures_are_settled(f: StoreFixture) {
    let a = account(&f, "yon").await;
    let phone = sign_in(&f, a.id, "phone").await;
    let tablet = sign_in(&f, a.id, "tablet").await;
    let s = &f.store;
    s.set_push_token(a.id, tablet.family, "fcm", "fcm-token-t", f.now())
        .await
        .expect("token");
    change(&f, a.id, phone.family).await;

    let first = take(&f).await;
    assert_eq!(first.len(), 1);
    assert!(
        take(&f).await.is_empty(),
        "leased: another replica skips it"
    );

    // A failed delivery is retried later, counting the attempt.
    let later = f.now() + Duration::seconds(30);
    settle(&f, &first[0], Delivery::Retry(later)).await;
    assert!(take(&f).await.is_empty(), "not due yet");
    f.advance(Duration::seconds(30));
    let retried = take(&f).await;
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 1);

    // A settlement with a lease another replica has since replaced does
    // nothing: the lease ran out and the row was taken again.
    f.advance(Duration::minutes(1));
    let stolen = take(&f).await;
    assert_eq!(stolen.len(), 1, "an expired lease is taken again");
    settle(&f, &retried[0], Delivery::Dropped).await;
    assert_eq!(depth(&f).await, 1, "the stale lease settled nothing");

    // Dropped after too many attempts: the row goes, the token stays.
    settle(&f, &stolen[0], Delivery::Dropped).await;
    assert_eq!(depth(&f).await, 0);
    change(&f, a.id, phone.family).await;
    assert_eq!(depth(&f).await, 1, "the token still wakes the device");

    // The gateway rejects the token: it is forgotten, and so is the row.
    let due = take(&f).await;
    settle(&f, &due[0], Delivery::Rejected).await;
    assert_eq!(depth(&f).await, 0);
    let tokens = f
        .count(
            "SELECT COUNT(*) FROM push_tokens WHERE family_id = ?1",
            vec![Val::from(tablet.family)],
        )
        .await;
    assert_eq!(tokens, 0);
    change(&f, a.id, phone.family).await;
    assert_eq!(depth(&f).await, 0, "no token, no wake-up");

    // Wake-ups nobody delivers are purged after a while.
    s.set_push_token(a.id, tablet.family, "fcm", "fcm-token-t2", f.now())
        .await
        .expect("token");
    change(&f, a.id, phone.family).await;
    assert_eq!(s.purge_wakeups(f.now()).await.expect("purge"), 0);
    f.advance(Duration::minutes(1));
    assert_eq!(s.purge_wakeups(f.now()).await.expect("purge"), 1);
    assert_eq!(depth(&f).await, 0);
}

async fn a_token_goes_with_its_sign_in(f: StoreFixture) {
    let a = account(&f, "zed").await;
    let phone = sign_in(&f, a.id, "phone").await;
    let tablet = sign_in(&f, a.id, "tablet").await;
    let s = &f.store;
    s.set_push_token(a.id, tablet.family, "fcm", "fcm-token-1", f.now())
        .await
        .expect("token");
    // Replacing keeps one token per sign-in.
    s.set_push_token(a.id, tablet.family, "apns", "apns-token-2", f.now())
        .await
        .expect("token");
    change(&f, a.id, phone.family).await;
    let due = take(&f).await;
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].platform.as_str(), due[0].token.as_str()),
        ("apns", "apns-token-2")
    );
    settle(&f, &due[0], Delivery::Delivered).await;

    assert!(s.remove_push_token(tablet.family).await.expect("remove"));
    assert!(!s.remove_push_token(tablet.family).await.expect("again"));
    change(&f, a.id, phone.family).await;
    assert_eq!(depth(&f).await, 0);

    // Signing out forgets the sign-in's token with its pending wake-up.
    s.set_push_token(a.id, tablet.family, "fcm", "fcm-token-3", f.now())
        .await
        .expect("token");
    change(&f, a.id, phone.family).await;
    assert_eq!(depth(&f).await, 1);
    assert!(
        s.end_session(a.id, tablet.family, false, f.now())
            .await
            .expect("end")
    );
    assert_eq!(depth(&f).await, 0);
    change(&f, a.id, phone.family).await;
    assert_eq!(depth(&f).await, 0);
}
