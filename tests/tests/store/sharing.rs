//! Live location sharing in the store: a share goes only to people in a
//! common organisation, its position is reduced to the precision the
//! organisation allows and sealed, and it ends at its time, on a closed
//! gate, when its sharer stops it, or when sharer and recipient no longer
//! share an organisation; an ended share's position is deleted, not hidden.

use chrono::Duration;
use praxis_protocol::location::{self, Precision};
use praxis_protocol::privacy::{Closed, Purpose, SharePosition, UpdateLocationPolicyRequest};
use praxis_server::store::{MAX_LIVE_SHARES, PositionOutcome, ShareOutcome, StoreError, Val};
use praxis_tests::StoreFixture;
use uuid::Uuid;

use super::{Account, account, location_org, record_consent};

praxis_tests::store_suite!(
    a_share_reaches_co_members_reduced_and_ends_at_its_time,
    a_closed_gate_or_a_parted_organisation_ends_a_share,
    only_the_sharer_stops_a_share_and_live_shares_are_bounded,
);

/// Precise enough to tell whether the stored position was snapped.
const LAT: f64 = 48.856_613;
const LON: f64 = 2.352_222;

/// An organisation that allows live sharing at `max` precision, with
/// `sharer` (its admin) and `recipient` as members who both consent to
/// sharing.
async fn sharing_org(f: &StoreFixture, max: Precision) -> (Uuid, Account, Account) {
    let policy = UpdateLocationPolicyRequest {
        location_sharing: Some(true),
        max_precision: Some(max),
        ..Default::default()
    };
    location_org(f, &policy, Purpose::LocationSharing).await
}

/// Starts a share, asserting it started; its id.
async fn start(f: &StoreFixture, user: Uuid, recipients: &[Uuid], minutes: u32) -> Uuid {
    match f
        .store
        .start_share(user, recipients, minutes, f.now())
        .await
        .expect("start")
    {
        ShareOutcome::Started(s) => s.share_id,
        other => panic!("expected a started share, got {other:?}"),
    }
}

/// A precise fix taken now.
fn fix(f: &StoreFixture) -> SharePosition {
    SharePosition {
        lat: LAT,
        lon: LON,
        accuracy_m: 8.0,
        at: f.now(),
        precision: Precision::Precise,
    }
}

async fn put(f: &StoreFixture, user: Uuid, share: Uuid) -> PositionOutcome {
    f.store
        .put_position(user, share, fix(f), f.now())
        .await
        .expect("position")
}

async fn rows_of_share(f: &StoreFixture, share: Uuid) -> (i64, i64) {
    (
        f.count(
            "SELECT COUNT(*) FROM location_shares WHERE id = ?1",
            vec![Val::from(share)],
        )
        .await,
        f.count(
            "SELECT COUNT(*) FROM location_positions WHERE share_id = ?1",
            vec![Val::from(share)],
        )
        .await,
    )
}

/// The share is gone for both sides, its position with it.
async fn assert_ended(f: &StoreFixture, sharer: &Account, recipient: &Account, share: Uuid) {
    let s = &f.store;
    assert!(
        s.shared_with(recipient.id, f.now())
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        s.shares_of(sharer.id, f.now())
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(rows_of_share(f, share).await, (0, 0));
}

async fn a_share_reaches_co_members_reduced_and_ends_at_its_time(f: StoreFixture) {
    let (_, sharer, recipient) = sharing_org(&f, Precision::Approximate).await;
    let outsider = account(&f, "oto").await;
    let s = &f.store;

    // Only co-members can receive, and not the sharer themself.
    for bad in [
        vec![outsider.id],
        vec![sharer.id],
        vec![recipient.id, outsider.id],
    ] {
        let out = s.start_share(sharer.id, &bad, 30, f.now()).await;
        assert!(matches!(out, Ok(ShareOutcome::UnknownRecipient)), "{out:?}");
    }
    assert_eq!(
        s.shares_of(sharer.id, f.now()).await.expect("list").len(),
        0,
        "a refused start stores nothing"
    );

    let share = start(&f, sharer.id, &[recipient.id, recipient.id], 30).await;
    let mine = s.shares_of(sharer.id, f.now()).await.expect("list");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].recipients, vec![recipient.id], "deduplicated");
    assert_eq!(mine[0].expires_at, f.now() + Duration::minutes(30));

    // Before any fix the recipient sees the share without a position.
    let seen = s.shared_with(recipient.id, f.now()).await.expect("read");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].user_id, sharer.id);
    assert_eq!(seen[0].full_name, sharer.full_name);
    assert!(seen[0].position.is_none());

    assert!(matches!(
        put(&f, sharer.id, share).await,
        PositionOutcome::Stored
    ));
    assert!(
        matches!(
            put(&f, recipient.id, share).await,
            PositionOutcome::NotFound
        ),
        "a recipient cannot write the sharer's position"
    );
    let seen = s.shared_with(recipient.id, f.now()).await.expect("read");
    let pos = seen[0].position.clone().expect("a position");
    assert_eq!(
        pos.precision,
        Precision::Approximate,
        "the organisation's cap"
    );
    assert!(location::is_snapped(pos.lat, pos.lon));
    assert_eq!((pos.lat, pos.lon), location::snap(LAT, LON));
    assert!(pos.accuracy_m >= location::APPROXIMATE_ACCURACY_M);
    assert!(
        s.shared_with(outsider.id, f.now())
            .await
            .expect("read")
            .is_empty()
    );

    // The stored position is sealed: neither the fix nor its snapped form
    // is readable in the table.
    let plain = f
        .count(
            "SELECT COUNT(*) FROM location_positions WHERE position LIKE ?1 OR position LIKE ?2",
            vec![
                Val::from(format!("%{}%", pos.lat)),
                Val::from(format!("%{LAT}%")),
            ],
        )
        .await;
    assert_eq!(plain, 0, "positions are sealed");

    // At its end the share is gone on the next read, position included.
    f.advance(Duration::minutes(30));
    assert_ended(&f, &sharer, &recipient, share).await;
    assert!(matches!(
        put(&f, sharer.id, share).await,
        PositionOutcome::NotFound
    ));
}

async fn a_closed_gate_or_a_parted_organisation_ends_a_share(f: StoreFixture) {
    let (org, sharer, recipient) = sharing_org(&f, Precision::Precise).await;
    let s = &f.store;

    // Precise is allowed: the fix is kept as measured.
    let share = start(&f, sharer.id, &[recipient.id], 60).await;
    assert!(matches!(
        put(&f, sharer.id, share).await,
        PositionOutcome::Stored
    ));
    let seen = s.shared_with(recipient.id, f.now()).await.expect("read");
    let pos = seen[0].position.clone().expect("a position");
    assert_eq!(
        (pos.lat, pos.lon, pos.precision),
        (LAT, LON, Precision::Precise)
    );

    // The sharer withdraws consent: the share ends with the withdrawal,
    // position and all, and no fix or new share gets through.
    record_consent(&f, sharer.id, 2, Purpose::LocationSharing, false, 1).await;
    assert_eq!(rows_of_share(&f, share).await, (0, 0));
    assert!(matches!(
        put(&f, sharer.id, share).await,
        PositionOutcome::NotFound
    ));
    assert!(
        s.shared_with(recipient.id, f.now())
            .await
            .expect("read")
            .is_empty()
    );
    let refused = s
        .start_share(sharer.id, &[recipient.id], 60, f.now())
        .await
        .expect("start");
    assert!(
        matches!(refused, ShareOutcome::Closed(Closed::ConsentRequired)),
        "{refused:?}"
    );

    // Consent again; the organisation switches sharing off: the share ends.
    record_consent(&f, sharer.id, 3, Purpose::LocationSharing, true, 1).await;
    let share = start(&f, sharer.id, &[recipient.id], 60).await;
    assert!(matches!(
        put(&f, sharer.id, share).await,
        PositionOutcome::Stored
    ));
    let off = UpdateLocationPolicyRequest {
        location_sharing: Some(false),
        ..Default::default()
    };
    s.update_location_policy(org, sharer.id, &off, f.now())
        .await
        .expect("policy");
    assert_eq!(rows_of_share(&f, share).await, (0, 0));
    let refused = s
        .start_share(sharer.id, &[recipient.id], 60, f.now())
        .await
        .expect("start");
    assert!(
        matches!(refused, ShareOutcome::Closed(Closed::PolicyDisabled)),
        "{refused:?}"
    );
    let on = UpdateLocationPolicyRequest {
        location_sharing: Some(true),
        ..Default::default()
    };
    s.update_location_policy(org, sharer.id, &on, f.now())
        .await
        .expect("policy");

    // The recipient leaves the organisation: a share left with nobody to
    // receive it ends at once, position and all.
    let share = start(&f, sharer.id, &[recipient.id], 60).await;
    assert!(matches!(
        put(&f, sharer.id, share).await,
        PositionOutcome::Stored
    ));
    s.remove_member(org, recipient.id, sharer.id, f.now())
        .await
        .expect("remove");
    assert_ended(&f, &sharer, &recipient, share).await;
}

async fn only_the_sharer_stops_a_share_and_live_shares_are_bounded(f: StoreFixture) {
    let (_, sharer, recipient) = sharing_org(&f, Precision::Precise).await;
    let s = &f.store;
    let share = start(&f, sharer.id, &[recipient.id], 60).await;
    assert!(matches!(
        put(&f, sharer.id, share).await,
        PositionOutcome::Stored
    ));

    assert!(!s.stop_share(recipient.id, share).await.expect("stop"));
    assert!(!s.stop_share(sharer.id, Uuid::new_v4()).await.expect("stop"));
    assert_eq!(rows_of_share(&f, share).await, (1, 1), "nothing ended");
    assert!(s.stop_share(sharer.id, share).await.expect("stop"));
    assert_eq!(rows_of_share(&f, share).await, (0, 0));
    assert!(!s.stop_share(sharer.id, share).await.expect("stop again"));

    for _ in 0..MAX_LIVE_SHARES {
        start(&f, sharer.id, &[recipient.id], 10).await;
    }
    let over = s.start_share(sharer.id, &[recipient.id], 10, f.now()).await;
    assert!(
        matches!(over, Err(StoreError::LimitReached("live_shares"))),
        "{over:?}"
    );
    // Ended shares do not count.
    f.advance(Duration::minutes(10));
    start(&f, sharer.id, &[recipient.id], 10).await;
}
