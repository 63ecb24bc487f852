//! Privacy state in the store: the consent gates (the latest ledger entry
//! for the published policy version, per purpose), the organisations'
//! location policy as a second gate, the restriction of processing (data
//! frozen, consent changes still accepted), and the objection to the
//! connection log.

use chrono::Duration;
use praxis_protocol::location::Precision;
use praxis_protocol::notice::{
    PostMortemAction, PostMortemDirective, PostMortemRecipient, PostMortemRequest,
};
use praxis_protocol::privacy::{Purpose, UpdateLocationPolicyRequest};
use praxis_protocol::sync::{MutationResult, RejectReason};
use praxis_server::store::{CONNECTION_LOG, StoreError, Val};
use praxis_tests::StoreFixture;
use uuid::Uuid;

use super::{
    account, applied, appointment, consent, join, new_org, pair, push, record_consent, sign_in,
    try_push,
};

praxis_tests::store_suite!(
    consent_opens_a_gate_until_withdrawn_or_outdated,
    restriction_freezes_data_but_not_consent,
    location_gates_need_the_organisation_and_consent,
    objecting_to_the_connection_log_stops_last_used_times,
    a_withdrawal_pushed_with_its_grant_wins_whatever_the_clock,
    a_post_mortem_directive_is_sealed_replaced_and_removed,
);

async fn gate(f: &StoreFixture, user: Uuid, purpose: Purpose) -> bool {
    f.store.gate_open(user, purpose).await.expect("gate")
}

async fn consent_opens_a_gate_until_withdrawn_or_outdated(f: StoreFixture) {
    let a = account(&f, "ria").await;
    assert!(!gate(&f, a.id, Purpose::Marketing).await);
    record_consent(&f, a.id, 1, Purpose::Marketing, true, 1).await;
    assert!(gate(&f, a.id, Purpose::Marketing).await);
    assert!(!gate(&f, a.id, Purpose::Analytics).await, "per purpose");

    // Consent to a version not published yet is refused.
    let early = push(
        &f,
        a.id,
        "dev1",
        &[consent(&f, 2, Purpose::Marketing, true, 2)],
    )
    .await;
    assert!(
        matches!(
            &early[0],
            MutationResult::Rejected { reason: RejectReason::InvalidRecord, field: Some(fld), .. }
                if fld == "policy_version"
        ),
        "{early:?}"
    );

    // A new version asks again; publishing it twice (or lower) does nothing.
    let s = &f.store;
    assert!(
        s.publish_policy_version(Purpose::Marketing, 2, f.now())
            .await
            .expect("publish")
    );
    assert!(
        !s.publish_policy_version(Purpose::Marketing, 2, f.now())
            .await
            .expect("publish")
    );
    assert!(
        !s.publish_policy_version(Purpose::Marketing, 1, f.now())
            .await
            .expect("publish")
    );
    let versions = s.policy_versions().await.expect("versions");
    assert_eq!(
        (versions[&Purpose::Marketing], versions[&Purpose::Analytics]),
        (2, 1)
    );
    assert!(!gate(&f, a.id, Purpose::Marketing).await);
    record_consent(&f, a.id, 3, Purpose::Marketing, true, 2).await;
    assert!(gate(&f, a.id, Purpose::Marketing).await);
    record_consent(&f, a.id, 4, Purpose::Marketing, false, 2).await;
    assert!(!gate(&f, a.id, Purpose::Marketing).await, "withdrawn");

    let audited = s
        .audit_of_user(a.id, 10)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.event == "consent_changed")
        .count();
    assert_eq!(audited, 3);
}

async fn restriction_freezes_data_but_not_consent(f: StoreFixture) {
    let a = account(&f, "sam").await;
    record_consent(&f, a.id, 1, Purpose::Marketing, true, 1).await;
    f.store
        .set_restricted(a.id, true, f.now())
        .await
        .expect("restrict");
    assert!(f.store.is_restricted(a.id).await.expect("read"));
    assert!(f.store.privacy_state(a.id).await.expect("state").restricted);
    assert!(
        !gate(&f, a.id, Purpose::Marketing).await,
        "every gate closes"
    );

    let seq = f.store.scope_seq(a.id).await.expect("seq");
    let id = Uuid::new_v4().to_string();
    let refused = try_push(&f, a.id, "dev1", &[appointment(&f, 2, &id, "Frozen")]).await;
    assert!(
        matches!(refused, Err(StoreError::Restricted)),
        "{refused:?}"
    );
    assert_eq!(f.store.scope_seq(a.id).await.expect("seq"), seq);
    let card = praxis_protocol::contacts::ContactCard {
        display_name: "Frozen".into(),
        ..Default::default()
    };
    let refused = f.store.put_card(a.id, &card, f.now()).await;
    assert!(
        matches!(refused, Err(StoreError::Restricted)),
        "{refused:?}"
    );

    // Withdrawing consent stays possible.
    record_consent(&f, a.id, 3, Purpose::Marketing, false, 1).await;

    f.store
        .set_restricted(a.id, false, f.now())
        .await
        .expect("lift");
    assert!(!f.store.is_restricted(a.id).await.expect("read"));
    let r = push(&f, a.id, "dev1", &[appointment(&f, 4, &id, "Thawed")]).await;
    applied(&r[0]);
    assert!(
        !gate(&f, a.id, Purpose::Marketing).await,
        "the withdrawal stands"
    );
}

async fn location_gates_need_the_organisation_and_consent(f: StoreFixture) {
    let admin = account(&f, "tia").await;
    let b = account(&f, "ugo").await;
    for u in [&admin, &b] {
        record_consent(&f, u.id, 1, Purpose::LocationVisits, true, 1).await;
    }
    assert!(
        !gate(&f, b.id, Purpose::LocationVisits).await,
        "no organisation"
    );
    let org = new_org(&f, admin.id).await;
    join(&f, org, admin.id, b.id).await;
    assert!(
        !gate(&f, b.id, Purpose::LocationVisits).await,
        "off by default"
    );

    let req = UpdateLocationPolicyRequest {
        location_visits: Some(true),
        max_precision: Some(Precision::Precise),
        ..Default::default()
    };
    let policy = f
        .store
        .update_location_policy(org, admin.id, &req, f.now())
        .await
        .expect("policy");
    assert!(policy.location_visits);
    assert_eq!(policy.updated_by, Some(admin.id));
    assert!(gate(&f, b.id, Purpose::LocationVisits).await);
    assert!(
        !gate(&f, b.id, Purpose::LocationSharing).await,
        "sharing stays off"
    );
    let state = f.store.privacy_state(b.id).await.expect("state");
    assert_eq!(state.org_policies.len(), 1);
    assert_eq!(state.org_policies[0].fields["location_visits"].v, true);

    // Switched off for this member only.
    let s = &f.store;
    assert!(
        s.set_member_location(org, admin.id, b.id, false, f.now())
            .await
            .expect("off")
    );
    assert!(!gate(&f, b.id, Purpose::LocationVisits).await);
    assert!(gate(&f, admin.id, Purpose::LocationVisits).await, "b only");
    assert!(
        s.set_member_location(org, admin.id, b.id, true, f.now())
            .await
            .expect("on")
    );
    assert!(gate(&f, b.id, Purpose::LocationVisits).await);
    assert_eq!(s.policy_changes(org).await.expect("changes").len(), 3);

    // Leaving the organisation takes its policy away.
    s.remove_member(org, b.id, admin.id, f.now())
        .await
        .expect("remove");
    assert!(!gate(&f, b.id, Purpose::LocationVisits).await);
    assert!(
        s.privacy_state(b.id)
            .await
            .expect("state")
            .org_policies
            .is_empty()
    );
}

async fn objecting_to_the_connection_log_stops_last_used_times(f: StoreFixture) {
    let a = account(&f, "val").await;
    let mut s = sign_in(&f, a.id, "phone").await;
    let signed_in = f.now();
    f.advance(Duration::hours(1));
    let (next, _, refresh) = pair(f.now());
    f.store
        .rotate_refresh(&s.refresh, next, f.now())
        .await
        .expect("rotate");
    s.refresh = refresh;
    let listed = f.store.sessions(a.id, f.now()).await.expect("list");
    assert_eq!(listed[0].last_used_at, f.now());

    let o = f
        .store
        .set_objection(a.id, CONNECTION_LOG, true, f.now())
        .await
        .expect("object")
        .expect("a registered basis");
    assert!(o.objected);
    assert_eq!(o.since, Some(f.now()));
    assert!(f.store.objects(a.id, CONNECTION_LOG).await.expect("read"));
    let all = f.store.objections(a.id).await.expect("list");
    assert!(all.iter().any(|o| o.basis == CONNECTION_LOG && o.objected));
    assert!(
        all.iter()
            .filter(|o| o.basis != CONNECTION_LOG)
            .all(|o| !o.objected)
    );
    let unknown = f
        .store
        .set_objection(a.id, "no_such_basis", true, f.now())
        .await;
    assert!(unknown.expect("read").is_none());

    // What was kept is cleared, and a refresh is no longer a recorded use.
    let listed = f.store.sessions(a.id, f.now()).await.expect("list");
    assert_eq!(listed[0].last_used_at, signed_in, "nothing but the sign-in");
    f.advance(Duration::hours(1));
    let (next, _, refresh) = pair(f.now());
    f.store
        .rotate_refresh(&s.refresh, next, f.now())
        .await
        .expect("rotate");
    s.refresh = refresh;
    let listed = f.store.sessions(a.id, f.now()).await.expect("list");
    assert_eq!(listed[0].last_used_at, signed_in, "nothing but the sign-in");

    // Withdrawn, uses are recorded again.
    let o = f
        .store
        .set_objection(a.id, CONNECTION_LOG, false, f.now())
        .await
        .expect("withdraw")
        .expect("a registered basis");
    assert!(!o.objected && o.since.is_none());
    f.advance(Duration::hours(1));
    let (next, _, _) = pair(f.now());
    f.store
        .rotate_refresh(&s.refresh, next, f.now())
        .await
        .expect("rotate");
    let listed = f.store.sessions(a.id, f.now()).await.expect("list");
    assert_eq!(listed[0].last_used_at, f.now());
}

/// Regression: a device whose clock runs ahead records a grant and, a few
/// seconds later, its withdrawal; both arrive in one push, so both are
/// ranked at the same receipt time. The withdrawal (made, and pushed, after
/// the grant) wins; the tie used to go to whichever record id sorted
/// higher, here the grant's, leaving the gate open after the user
/// withdrew.
async fn a_withdrawal_pushed_with_its_grant_wins_whatever_the_clock(f: StoreFixture) {
    let a = account(&f, "tia").await;
    let ahead = |secs: i64| (f.now() + Duration::seconds(secs)).to_rfc3339();
    let mut grant = consent(&f, 1, Purpose::Marketing, true, 1);
    let mut withdrawal = consent(&f, 2, Purpose::Marketing, false, 1);
    grant.id = "ffffffff-ffff-4fff-bfff-ffffffffffff".into();
    withdrawal.id = "00000000-0000-4000-8000-000000000001".into();
    for (m, secs) in [(&mut grant, 60), (&mut withdrawal, 65)] {
        if let Some(at) = m.fields.get_mut("at") {
            at.v = serde_json::json!(ahead(secs));
        }
    }
    let r = push(&f, a.id, "dev1", &[grant, withdrawal]).await;
    applied(&r[0]);
    applied(&r[1]);
    assert!(
        !gate(&f, a.id, Purpose::Marketing).await,
        "the withdrawal made after the grant closes the gate"
    );
}

async fn a_post_mortem_directive_is_sealed_replaced_and_removed(f: StoreFixture) {
    let a = account(&f, "pmd").await;
    let b = account(&f, "pme").await;
    let s = &f.store;
    let default = PostMortemDirective::default_erasure();
    assert_eq!(s.post_mortem(a.id).await.expect("read"), default);

    let hand_over = PostMortemRequest {
        action: PostMortemAction::HandOver,
        recipient: Some(PostMortemRecipient {
            name: "Odile Heritier".into(),
            email: "odile.heritier@family-example.org".into(),
        }),
        message: Some("Les dossiers sont pour toi.".into()),
    };
    s.set_post_mortem(a.id, &hand_over, f.now())
        .await
        .expect("set");
    let got = s.post_mortem(a.id).await.expect("read");
    assert_eq!(got.action, PostMortemAction::HandOver);
    assert_eq!(got.recipient, hand_over.recipient);
    assert_eq!(got.message, hand_over.message);
    assert_eq!(got.updated_at, Some(f.now()));
    assert_eq!(
        s.post_mortem(b.id).await.expect("read"),
        default,
        "a's only"
    );
    let plain = f
        .count(
            "SELECT COUNT(*) FROM post_mortem_directives WHERE sealed LIKE '%heritier%' OR sealed LIKE '%hand_over%'",
            vec![],
        )
        .await;
    assert_eq!(plain, 0, "the directive is sealed");

    // Replaced, not added to.
    f.advance(Duration::minutes(5));
    let erase = PostMortemRequest {
        action: PostMortemAction::Erase,
        recipient: None,
        message: None,
    };
    s.set_post_mortem(a.id, &erase, f.now())
        .await
        .expect("replace");
    let got = s.post_mortem(a.id).await.expect("read");
    assert_eq!((got.action, got.recipient), (PostMortemAction::Erase, None));
    assert_eq!(got.updated_at, Some(f.now()));
    let rows = f
        .count(
            "SELECT COUNT(*) FROM post_mortem_directives WHERE user_id = ?1",
            vec![Val::from(a.id)],
        )
        .await;
    assert_eq!(rows, 1);

    assert!(s.delete_post_mortem(a.id).await.expect("delete"));
    assert!(!s.delete_post_mortem(a.id).await.expect("again"));
    assert_eq!(s.post_mortem(a.id).await.expect("read"), default);
}
