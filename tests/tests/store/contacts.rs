//! Contacts in the store: invitations (single use, own, wrong secret,
//! expiry, the open-invitation cap), the shares an acceptance creates both
//! ways with only the offered fields, card edits reaching every holder's
//! copy, revocation leaving a tombstone in the holder's scope, blocks,
//! forwarding, and the fixed-window rate counter.

use chrono::Duration;
use praxis_protocol::contacts::{ContactCard, record_id};
use praxis_server::store::{ForwardOutcome, RedeemError};
use praxis_tests::StoreFixture;
use uuid::Uuid;

use super::{account, pull_all, token_hash};

praxis_tests::store_suite!(
    an_accepted_invitation_connects_both_ways_once,
    card_edits_reach_holders_and_revocation_leaves_a_tombstone,
    blocks_end_connections_and_refuse_invitations,
    forwarding_follows_the_owners_permission,
    open_invitations_are_capped_and_expire,
);

/// An invitation from `inviter` offering `fields`, valid an hour: its id
/// and secret hash.
async fn invite(
    f: &StoreFixture,
    inviter: Uuid,
    fields: &[&str],
    allow_forward: bool,
) -> (Uuid, Vec<u8>) {
    let (id, secret) = (Uuid::new_v4(), token_hash());
    let fields: Vec<String> = fields.iter().map(|s| (*s).to_owned()).collect();
    let stored = f
        .store
        .create_invitation(
            id,
            inviter,
            &secret,
            &fields,
            allow_forward,
            f.now(),
            f.now() + Duration::hours(1),
            10,
        )
        .await
        .expect("store");
    assert_eq!(stored, Ok(true));
    (id, secret)
}

/// `holder` accepts an invitation of `owner` offering `fields`, and shares
/// back their display name.
pub(super) async fn connect(
    f: &StoreFixture,
    owner: Uuid,
    holder: Uuid,
    fields: &[&str],
    forward: bool,
) {
    let (id, secret) = invite(f, owner, fields, forward).await;
    let out = f
        .store
        .accept_invitation(
            id,
            &secret,
            holder,
            &["display_name".into()],
            false,
            f.now(),
        )
        .await
        .expect("accept");
    assert_eq!(out, Ok(owner));
}

pub(super) fn card(name: &str) -> ContactCard {
    ContactCard {
        display_name: name.into(),
        work_phone: Some("+33123456789".into()),
        specialty: Some("wound care".into()),
        ..ContactCard::default()
    }
}

/// The newest record of `owner`'s card in `holder`'s scope.
pub(super) async fn copy_in_scope(
    f: &StoreFixture,
    owner: Uuid,
    holder: Uuid,
) -> praxis_protocol::sync::SyncRecord {
    let id = record_id(owner, holder).to_string();
    pull_all(f, holder)
        .await
        .into_iter()
        .rfind(|r| r.collection == "contacts" && r.id == id)
        .expect("a copy in the holder's scope")
}

async fn an_accepted_invitation_connects_both_ways_once(f: StoreFixture) {
    let (a, b, c) = (
        account(&f, "wes").await,
        account(&f, "xia").await,
        account(&f, "yul").await,
    );
    f.store
        .put_card(a.id, &card("Dr Wes"), f.now())
        .await
        .expect("card");
    let (inv, secret) = invite(&f, a.id, &["display_name", "work_phone"], false).await;
    let s = &f.store;

    let offer = s
        .preview_invitation(inv, &secret, b.id, f.now())
        .await
        .expect("preview")
        .expect("valid");
    assert_eq!(
        (offer.inviter, offer.card.display_name.as_str()),
        (a.id, "Dr Wes")
    );
    assert_eq!(offer.fields, ["display_name", "work_phone"]);
    let wrong = s
        .preview_invitation(inv, &token_hash(), b.id, f.now())
        .await;
    assert_eq!(wrong.expect("preview").err(), Some(RedeemError::Invalid));
    let own = s.preview_invitation(inv, &secret, a.id, f.now()).await;
    assert_eq!(own.expect("preview").err(), Some(RedeemError::Own));

    let out = s
        .accept_invitation(inv, &secret, b.id, &["display_name".into()], false, f.now())
        .await
        .expect("accept");
    assert_eq!(out, Ok(a.id));
    // b holds a's offered fields only; a holds b's name (from b's profile).
    let held = s.held_card(a.id, b.id).await.expect("read").expect("held");
    assert_eq!(held["display_name"].v, "Dr Wes");
    assert_eq!(held["work_phone"].v, "+33123456789");
    assert!(!held.contains_key("specialty"));
    let back = s.held_card(b.id, a.id).await.expect("read").expect("held");
    assert_eq!(back["display_name"].v, b.full_name.as_str());
    assert!(!back.contains_key("work_phone"));
    let holders: Vec<_> = s
        .holders(a.id)
        .await
        .expect("holders")
        .iter()
        .map(|h| h.holder_id)
        .collect();
    assert_eq!(holders, [b.id]);
    let copy = copy_in_scope(&f, a.id, b.id).await;
    assert_eq!(copy.fields["display_name"].v, "Dr Wes");
    assert!(!copy.fields.contains_key("specialty"));

    // Spent.
    let again = s
        .accept_invitation(inv, &secret, c.id, &[], false, f.now())
        .await
        .expect("accept");
    assert_eq!(again, Err(RedeemError::Used));
    let declined = s.decline_invitation(inv, &secret, c.id, f.now()).await;
    assert_eq!(declined.expect("decline"), Err(RedeemError::Used));
    assert!(s.held_card(a.id, c.id).await.expect("read").is_none());
}

async fn card_edits_reach_holders_and_revocation_leaves_a_tombstone(f: StoreFixture) {
    let (a, b) = (account(&f, "zed").await, account(&f, "abe").await);
    f.store
        .put_card(a.id, &card("Before"), f.now())
        .await
        .expect("card");
    connect(&f, a.id, b.id, &["display_name"], false).await;
    let s = &f.store;
    assert_eq!(
        s.put_card(a.id, &card("After"), f.now())
            .await
            .expect("card"),
        1
    );
    assert_eq!(
        s.card(a.id)
            .await
            .expect("read")
            .expect("card")
            .display_name,
        "After"
    );
    let held = s.held_card(a.id, b.id).await.expect("read").expect("held");
    assert_eq!(held["display_name"].v, "After");
    let copy = copy_in_scope(&f, a.id, b.id).await;
    assert_eq!(copy.fields["display_name"].v, "After");
    assert!(!copy.fields.contains_key("work_phone"), "never shared");

    // Taken back: the holder's copy becomes an empty tombstone.
    assert!(s.revoke_holder(a.id, b.id, f.now()).await.expect("revoke"));
    assert!(!s.revoke_holder(a.id, b.id, f.now()).await.expect("revoke"));
    assert!(s.held_card(a.id, b.id).await.expect("read").is_none());
    let tomb = copy_in_scope(&f, a.id, b.id).await;
    assert!(tomb.deleted.is_some() && tomb.fields.is_empty());
    // One way only: a still holds b's card, until the connection ends.
    assert!(s.held_card(b.id, a.id).await.expect("read").is_some());
    assert!(
        s.revoke_connection(a.id, b.id, f.now())
            .await
            .expect("revoke")
    );
    assert!(s.held_card(b.id, a.id).await.expect("read").is_none());
    assert!(
        !s.revoke_connection(a.id, b.id, f.now())
            .await
            .expect("revoke")
    );
}

async fn blocks_end_connections_and_refuse_invitations(f: StoreFixture) {
    let (a, b) = (account(&f, "bo").await, account(&f, "cy").await);
    connect(&f, a.id, b.id, &["display_name"], false).await;
    let s = &f.store;
    assert!(s.block(b.id, a.id, f.now()).await.expect("block"));
    assert!(s.holders(a.id).await.expect("holders").is_empty());
    assert!(s.holders(b.id).await.expect("holders").is_empty());
    assert_eq!(s.blocked_by(b.id).await.expect("blocks"), [a.id]);
    assert!(
        !s.block(b.id, Uuid::new_v4(), f.now()).await.expect("block"),
        "no such account"
    );

    let (inv, secret) = invite(&f, a.id, &["display_name"], false).await;
    let refused = s
        .accept_invitation(inv, &secret, b.id, &[], false, f.now())
        .await;
    assert_eq!(refused.expect("accept"), Err(RedeemError::Blocked));
    assert!(s.unblock(b.id, a.id).await.expect("unblock"));
    assert!(!s.unblock(b.id, a.id).await.expect("unblock"));
    let accepted = s
        .accept_invitation(inv, &secret, b.id, &[], false, f.now())
        .await;
    assert_eq!(
        accepted.expect("accept"),
        Ok(a.id),
        "the refusal spent nothing"
    );
}

async fn forwarding_follows_the_owners_permission(f: StoreFixture) {
    let (a, b, c, d) = (
        account(&f, "di").await,
        account(&f, "ed").await,
        account(&f, "fo").await,
        account(&f, "gu").await,
    );
    f.store
        .put_card(a.id, &card("Owner"), f.now())
        .await
        .expect("card");
    connect(&f, a.id, b.id, &["display_name", "work_phone"], true).await;
    connect(&f, b.id, c.id, &["display_name"], false).await;
    connect(&f, d.id, b.id, &["display_name"], false).await;
    let s = &f.store;
    // b may forward a's card to a connection of theirs, not to a stranger.
    assert_eq!(
        s.forward_card(b.id, a.id, c.id, f.now())
            .await
            .expect("forward"),
        ForwardOutcome::Forwarded
    );
    let held = s.held_card(a.id, c.id).await.expect("read").expect("held");
    assert_eq!(held["work_phone"].v, "+33123456789");
    assert_eq!(held["forwarded_by"].v, b.id.to_string());
    assert_eq!(held["allow_forward"].v, false, "not forwardable further");
    assert_eq!(
        s.forward_card(b.id, a.id, Uuid::new_v4(), f.now())
            .await
            .expect("forward"),
        ForwardOutcome::NotConnected
    );
    // c may not forward it on; b may not forward d's card (not allowed).
    assert_eq!(
        s.forward_card(c.id, a.id, b.id, f.now())
            .await
            .expect("forward"),
        ForwardOutcome::NotAllowed
    );
    assert_eq!(
        s.forward_card(b.id, d.id, c.id, f.now())
            .await
            .expect("forward"),
        ForwardOutcome::NotAllowed
    );
    assert_eq!(
        s.forward_card(c.id, d.id, b.id, f.now())
            .await
            .expect("forward"),
        ForwardOutcome::NotHeld
    );
}

async fn open_invitations_are_capped_and_expire(f: StoreFixture) {
    let (a, b) = (account(&f, "hu").await, account(&f, "io").await);
    let create = |max_open| {
        f.store.create_invitation(
            Uuid::new_v4(),
            a.id,
            &[7; 32],
            &[],
            false,
            f.now(),
            f.now() + Duration::hours(1),
            max_open,
        )
    };
    let (first, secret) = invite(&f, a.id, &["display_name"], false).await;
    assert_eq!(create(2).await.expect("store"), Ok(true));
    assert_eq!(
        create(2).await.expect("store"),
        Ok(false),
        "two open already"
    );
    // Expired (at its expiry): refused, and no longer counted.
    f.advance(Duration::hours(1));
    let late = f
        .store
        .accept_invitation(first, &secret, b.id, &[], false, f.now())
        .await;
    assert_eq!(late.expect("accept"), Err(RedeemError::Expired));
    assert_eq!(create(2).await.expect("store"), Ok(true));

    // The fixed-window counter behind the invitation rate limits.
    let bucket = format!("invite:{}", a.id);
    let start = f.now();
    assert_eq!(
        f.store
            .rate_hit(&bucket, 60_000, f.now())
            .await
            .expect("hit"),
        (1, start)
    );
    f.advance(Duration::seconds(59));
    assert_eq!(
        f.store
            .rate_hit(&bucket, 60_000, f.now())
            .await
            .expect("hit"),
        (2, start)
    );
    f.advance(Duration::seconds(1));
    assert_eq!(
        f.store
            .rate_hit(&bucket, 60_000, f.now())
            .await
            .expect("hit"),
        (1, f.now()),
        "a new window"
    );
}
