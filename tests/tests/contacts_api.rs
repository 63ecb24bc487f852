//! Contact sharing at the API, on every backend and transport.

use chrono::Duration;
use praxis_tests::{Resp, TestServer, TestUser, suite};
use serde_json::{Value, json};

suite!(
    an_invitation_connects_both_ways_with_only_the_chosen_fields,
    bad_used_expired_forged_and_own_codes_are_refused_distinctly,
    owner_edits_reach_holders_and_revocation_leaves_no_copy,
    forwarding_needs_the_owners_permission_and_a_connection,
    blocking_ends_the_connection_and_refuses_invitations,
    rate_limits_hold_under_100_rapid_requests,
    card_and_invitation_input_is_validated,
    a_preview_shows_only_the_offered_fields,
    a_restricted_account_cannot_change_its_card,
);

async fn preview(s: &TestServer, u: &TestUser, code: &str) -> Value {
    ok(
        &s.send(
            "POST",
            "/v1/contacts/invitations/preview",
            Some(&u.access),
            Some(&json!({ "code": code })),
        )
        .await,
        200,
    )
}

/// Regression: offered only `display_name`, the preview also showed the
/// profession and organisation, to anyone holding the code, without using
/// it up.
async fn a_preview_shows_only_the_offered_fields(s: TestServer) {
    let (a, b) = (s.user("a").await, s.user("b").await);
    set_card(&s, &a, &full_card("pv")).await;
    let name_only = invite(&s, &a, &["display_name"], false).await;
    let p = preview(&s, &b, &name_only).await;
    assert_eq!(p["display_name"], "Dr pv Morel");
    assert!(p.get("profession").is_none(), "{p}");
    assert!(p.get("organisation").is_none(), "{p}");
    let phone_only = invite(&s, &a, &["work_phone"], false).await;
    let p = preview(&s, &b, &phone_only).await;
    for hidden in ["display_name", "profession", "organisation"] {
        assert!(p.get(hidden).is_none(), "{hidden} shown: {p}");
    }
    assert_eq!(p["fields"], json!(["work_phone"]));
    let all = invite(
        &s,
        &a,
        &["display_name", "profession", "organisation"],
        false,
    )
    .await;
    let p = preview(&s, &b, &all).await;
    assert_eq!(p["profession"], "physician");
    assert_eq!(p["organisation"], "Maison de Santé Wazemmes");
}

/// Regression: while invitations, accept and forward were refused to a
/// restricted account, its card edits still reached every holder.
async fn a_restricted_account_cannot_change_its_card(s: TestServer) {
    let (a, b) = (s.user("a").await, s.user("b").await);
    set_card(&s, &a, &full_card("rs")).await;
    connect(&s, &a, &b, false).await;
    ok(
        &s.send(
            "PUT",
            "/v1/me/restriction",
            Some(&a.access),
            Some(&json!({ "restricted": true })),
        )
        .await,
        204,
    );
    let before = s.fingerprint().await;
    let held_before = held(&s, &b).await;
    s.send(
        "PUT",
        "/v1/contacts/card",
        Some(&a.access),
        Some(&full_card("changed")),
    )
    .await
    .assert_problem(403, "restricted");
    assert_eq!(s.fingerprint().await, before);
    assert_eq!(held(&s, &b).await, held_before);
    // Lifted, the edit goes through again.
    ok(
        &s.send(
            "PUT",
            "/v1/me/restriction",
            Some(&a.access),
            Some(&json!({ "restricted": false })),
        )
        .await,
        204,
    );
    set_card(&s, &a, &full_card("changed")).await;
}

fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn full_card(tag: &str) -> Value {
    json!({
        "display_name": format!("Dr {tag} Morel"),
        "profession": "physician",
        "specialty": format!("{tag}-SPECIALTY-diabetology"),
        "work_phone": "+33320123456",
        "work_email": format!("{tag}.work@clinic-example.org"),
        "organisation": "Maison de Santé Wazemmes",
        "clinic_address": format!("{tag}-ADDRESS 7 rue Jules Guesde, Lille"),
        "languages": ["fr", "en"],
    })
}

async fn set_card(s: &TestServer, u: &TestUser, card: &Value) {
    ok(
        &s.send("PUT", "/v1/contacts/card", Some(&u.access), Some(card))
            .await,
        200,
    );
}

async fn invite(s: &TestServer, u: &TestUser, fields: &[&str], forward: bool) -> String {
    let r = s
        .send(
            "POST",
            "/v1/contacts/invitations",
            Some(&u.access),
            Some(&json!({"fields": fields, "allow_forward": forward})),
        )
        .await;
    ok(&r, 201)["code"].as_str().expect("code").to_owned()
}

async fn accept(s: &TestServer, u: &TestUser, code: &str, fields: &[&str], forward: bool) -> Resp {
    s.send(
        "POST",
        "/v1/contacts/invitations/accept",
        Some(&u.access),
        Some(&json!({"code": code, "fields": fields, "allow_forward": forward})),
    )
    .await
}

/// The live `contacts` records in `u`'s scope, by owner.
async fn held(s: &TestServer, u: &TestUser) -> Vec<Value> {
    let r = s
        .send("POST", "/v1/sync/pull", Some(&u.access), Some(&json!({})))
        .await;
    ok(&r, 200)["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["collection"] == "contacts")
        .cloned()
        .collect()
}

fn live(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["deleted"].is_null()).collect()
}

async fn connect(s: &TestServer, a: &TestUser, b: &TestUser, a_forward: bool) {
    let code = invite(s, a, &["display_name", "work_phone"], a_forward).await;
    ok(
        &accept(s, b, &code, &["display_name", "work_email"], false).await,
        200,
    );
}

async fn an_invitation_connects_both_ways_with_only_the_chosen_fields(s: TestServer) {
    let (a, b, c) = (s.user("a").await, s.user("b").await, s.user("c").await);
    set_card(&s, &a, &full_card("alice")).await;
    set_card(&s, &b, &full_card("bruno")).await;
    let code = invite(&s, &a, &["display_name", "work_phone"], false).await;
    let preview = ok(
        &s.send(
            "POST",
            "/v1/contacts/invitations/preview",
            Some(&b.access),
            Some(&json!({ "code": code })),
        )
        .await,
        200,
    );
    assert_eq!(preview["inviter_id"], a.id.as_str());
    assert_eq!(preview["display_name"], "Dr alice Morel");
    assert_eq!(preview["fields"], json!(["display_name", "work_phone"]));
    let r = ok(
        &accept(&s, &b, &code, &["display_name", "work_email"], false).await,
        200,
    );
    assert_eq!(r["owner_id"], a.id.as_str());

    let on_b = held(&s, &b).await;
    assert_eq!(on_b.len(), 1);
    let f = &on_b[0]["fields"];
    assert_eq!(f["owner_id"]["v"], a.id.as_str());
    assert_eq!(f["work_phone"]["v"], "+33320123456");
    for hidden in [
        "work_email",
        "specialty",
        "clinic_address",
        "languages",
        "organisation",
    ] {
        assert!(f.get(hidden).is_none(), "{hidden} was not shared with B");
    }
    let on_a = held(&s, &a).await;
    assert_eq!(
        on_a[0]["fields"]["work_email"]["v"],
        "bruno.work@clinic-example.org"
    );
    assert!(on_a[0]["fields"].get("work_phone").is_none());

    // Fetching by id: holders only, and no existence leak for others.
    let card = ok(
        &s.send(
            "GET",
            &format!("/v1/contacts/{}", a.id),
            Some(&b.access),
            None,
        )
        .await,
        200,
    );
    assert_eq!(card["display_name"], "Dr alice Morel");
    assert!(card.get("specialty").is_none());
    s.send(
        "GET",
        &format!("/v1/contacts/{}", a.id),
        Some(&c.access),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.send(
        "GET",
        &format!("/v1/contacts/{}", uuid::Uuid::new_v4()),
        Some(&c.access),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    // The server's copy for B holds nothing that was not shared.
    assert_eq!(
        s.count(&format!(
            "SELECT COUNT(*) FROM sync_records WHERE scope = 'u:{}' AND fields LIKE '%alice-SPECIALTY%'",
            b.id
        ))
        .await,
        0
    );
    let holders = ok(
        &s.send("GET", "/v1/contacts/holders", Some(&a.access), None)
            .await,
        200,
    );
    assert_eq!(holders[0]["holder_id"], b.id.as_str());
    assert_eq!(holders[0]["fields"], json!(["display_name", "work_phone"]));
}

fn tamper(code: &str) -> String {
    let mut parts: Vec<String> = code.split('.').map(str::to_owned).collect();
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[3] = if sig[3] == 'A' { 'B' } else { 'A' };
    parts[2] = sig.into_iter().collect();
    parts.join(".")
}

async fn bad_used_expired_forged_and_own_codes_are_refused_distinctly(s: TestServer) {
    let (a, b, c) = (s.user("a").await, s.user("b").await, s.user("c").await);
    let code = invite(&s, &a, &["display_name"], false).await;
    let before = s.fingerprint().await;
    accept(&s, &a, &code, &["display_name"], false)
        .await
        .assert_problem(409, "own_invitation");
    accept(&s, &b, &tamper(&code), &["display_name"], false)
        .await
        .assert_problem(404, "invitation_invalid");
    accept(&s, &b, "PXC1.bm90IGEgY29kZQ.c2ln", &["display_name"], false)
        .await
        .assert_problem(404, "invitation_invalid");
    accept(&s, &b, "hello", &["display_name"], false)
        .await
        .assert_problem(404, "invitation_invalid");
    assert_eq!(
        s.fingerprint()
            .await
            .lines()
            .filter(|l| !l.contains("contacts:redeem:") && !l.contains("contacts:create:"))
            .collect::<Vec<_>>(),
        before
            .lines()
            .filter(|l| !l.contains("contacts:redeem:") && !l.contains("contacts:create:"))
            .collect::<Vec<_>>(),
        "refusals change nothing but the rate counters"
    );
    ok(&accept(&s, &b, &code, &["display_name"], false).await, 200);
    accept(&s, &c, &code, &["display_name"], false)
        .await
        .assert_problem(410, "invitation_used");
    let old = invite(&s, &a, &["display_name"], false).await;
    s.clock.advance(Duration::hours(49));
    let (access, _) = s.login(&c.email, &c.password).await;
    s.send(
        "POST",
        "/v1/contacts/invitations/accept",
        Some(&access),
        Some(&json!({"code": old, "fields": ["display_name"]})),
    )
    .await
    .assert_problem(410, "invitation_expired");
    // Declined: cannot be accepted afterwards.
    let (a_access, _) = s.login(&a.email, &a.password).await;
    let r = s
        .send(
            "POST",
            "/v1/contacts/invitations",
            Some(&a_access),
            Some(&json!({"fields": ["display_name"]})),
        )
        .await;
    let fresh = ok(&r, 201)["code"].as_str().expect("code").to_owned();
    ok(
        &s.send(
            "POST",
            "/v1/contacts/invitations/decline",
            Some(&access),
            Some(&json!({ "code": fresh })),
        )
        .await,
        204,
    );
    s.send(
        "POST",
        "/v1/contacts/invitations/accept",
        Some(&access),
        Some(&json!({"code": fresh, "fields": ["display_name"]})),
    )
    .await
    .assert_problem(410, "invitation_used");
}

async fn owner_edits_reach_holders_and_revocation_leaves_no_copy(s: TestServer) {
    let (a, b, c) = (s.user("a").await, s.user("b").await, s.user("c").await);
    set_card(&s, &a, &full_card("alice")).await;
    connect(&s, &a, &b, false).await;
    connect(&s, &a, &c, false).await;
    let mut edited = full_card("alice");
    edited["work_phone"] = json!("+33320999999");
    edited["specialty"] = json!("CHANGED-SPECIALTY");
    set_card(&s, &a, &edited).await;
    for holder in [&b, &c] {
        let h = held(&s, holder).await;
        let a_card = live(&h)
            .into_iter()
            .find(|r| r["fields"]["owner_id"]["v"] == a.id.as_str())
            .expect("a's card");
        assert_eq!(a_card["fields"]["work_phone"]["v"], "+33320999999");
        assert!(a_card["fields"].get("specialty").is_none());
    }
    ok(
        &s.send(
            "DELETE",
            &format!("/v1/contacts/connections/{}", a.id),
            Some(&b.access),
            None,
        )
        .await,
        204,
    );
    let h = held(&s, &b).await;
    let gone = h
        .iter()
        .find(|r| r["deleted"].is_string())
        .expect("a tombstone for A's card");
    assert_eq!(
        gone["fields"],
        json!({}),
        "no copy kept for a former holder"
    );
    assert!(
        live(&held(&s, &a).await)
            .iter()
            .all(|r| r["fields"]["owner_id"]["v"] != b.id.as_str())
    );
    s.send(
        "GET",
        &format!("/v1/contacts/{}", a.id),
        Some(&b.access),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.send(
        "DELETE",
        &format!("/v1/contacts/connections/{}", a.id),
        Some(&b.access),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    // The owner takes the card back from one holder.
    ok(
        &s.send(
            "DELETE",
            &format!("/v1/contacts/holders/{}", c.id),
            Some(&a.access),
            None,
        )
        .await,
        204,
    );
    assert!(
        live(&held(&s, &c).await)
            .iter()
            .all(|r| r["fields"]["owner_id"]["v"] != a.id.as_str())
    );
    assert_eq!(
        s.count(&format!(
            "SELECT COUNT(*) FROM contact_shares WHERE owner_id = '{}'",
            a.id
        ))
        .await,
        0
    );
}

async fn forward(s: &TestServer, u: &TestUser, owner: &TestUser, to: &TestUser) -> Resp {
    s.send(
        "POST",
        "/v1/contacts/forward",
        Some(&u.access),
        Some(&json!({"owner_id": owner.id, "to": to.id})),
    )
    .await
}

async fn forwarding_needs_the_owners_permission_and_a_connection(s: TestServer) {
    let (a, b, c, d) = (
        s.user("a").await,
        s.user("b").await,
        s.user("c").await,
        s.user("d").await,
    );
    set_card(&s, &a, &full_card("alice")).await;
    connect(&s, &a, &b, false).await;
    connect(&s, &b, &c, false).await;
    forward(&s, &b, &a, &c)
        .await
        .assert_problem(403, "forbidden");
    // A allows forwarding (a new invitation replaces the share).
    let code = invite(&s, &a, &["display_name", "work_phone"], true).await;
    ok(&accept(&s, &b, &code, &["display_name"], false).await, 200);
    forward(&s, &b, &a, &d)
        .await
        .assert_problem(404, "not_found");
    forward(&s, &c, &a, &b)
        .await
        .assert_problem(404, "not_found");
    ok(&forward(&s, &b, &a, &c).await, 204);
    let on_c = held(&s, &c).await;
    let a_card = live(&on_c)
        .into_iter()
        .find(|r| r["fields"]["owner_id"]["v"] == a.id.as_str())
        .expect("forwarded");
    assert_eq!(a_card["fields"]["forwarded_by"]["v"], b.id.as_str());
    assert_eq!(a_card["fields"]["allow_forward"]["v"], false, "no chains");
    assert!(a_card["fields"].get("specialty").is_none());
    let holders = ok(
        &s.send("GET", "/v1/contacts/holders", Some(&a.access), None)
            .await,
        200,
    );
    let via = holders
        .as_array()
        .expect("holders")
        .iter()
        .find(|h| h["holder_id"] == c.id.as_str())
        .expect("c holds it");
    assert_eq!(via["forwarded_by"], b.id.as_str());
    forward(&s, &c, &a, &b)
        .await
        .assert_problem(403, "forbidden");
    ok(
        &s.send(
            "DELETE",
            &format!("/v1/contacts/holders/{}", c.id),
            Some(&a.access),
            None,
        )
        .await,
        204,
    );
    assert!(
        live(&held(&s, &c).await)
            .iter()
            .all(|r| r["fields"]["owner_id"]["v"] != a.id.as_str())
    );
}

async fn blocking_ends_the_connection_and_refuses_invitations(s: TestServer) {
    let (a, b) = (s.user("a").await, s.user("b").await);
    connect(&s, &a, &b, false).await;
    ok(
        &s.send(
            "POST",
            "/v1/contacts/blocks",
            Some(&b.access),
            Some(&json!({"user_id": a.id})),
        )
        .await,
        204,
    );
    assert!(live(&held(&s, &b).await).is_empty());
    assert!(live(&held(&s, &a).await).is_empty());
    let code = invite(&s, &a, &["display_name"], false).await;
    accept(&s, &b, &code, &["display_name"], false)
        .await
        .assert_problem(403, "blocked");
    s.send(
        "POST",
        "/v1/contacts/blocks",
        Some(&b.access),
        Some(&json!({"user_id": b.id})),
    )
    .await
    .assert_problem(400, "validation_failed");
    // Regression: a well-formed id of no account answered 500 (a foreign
    // key error); it names nothing, so it is a 404, and nothing changes.
    let before = s.fingerprint().await;
    s.send(
        "POST",
        "/v1/contacts/blocks",
        Some(&b.access),
        Some(&json!({"user_id": uuid::Uuid::new_v4()})),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(s.fingerprint().await, before);
    ok(
        &s.send(
            "DELETE",
            &format!("/v1/contacts/blocks/{}", a.id),
            Some(&b.access),
            None,
        )
        .await,
        204,
    );
    ok(&accept(&s, &b, &code, &["display_name"], false).await, 200);
}

async fn rate_limits_hold_under_100_rapid_requests(s: TestServer) {
    let a = s.user("a").await;
    let mut tasks = Vec::new();
    let s = std::sync::Arc::new(s);
    for _ in 0..100 {
        let (s, token) = (s.clone(), a.access.clone());
        tasks.push(tokio::spawn(async move {
            s.send(
                "POST",
                "/v1/contacts/invitations",
                Some(&token),
                Some(&json!({"fields": ["display_name"]})),
            )
            .await
        }));
    }
    let mut created = 0;
    let mut limited = 0;
    for t in tasks {
        let r = t.await.expect("task");
        match r.status {
            201 => created += 1,
            429 => {
                limited += 1;
                let wait: u64 = r
                    .header("retry-after")
                    .expect("Retry-After")
                    .parse()
                    .expect("seconds");
                assert!((1..=3600).contains(&wait));
            }
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    assert_eq!((created, limited), (20, 80));
    assert_eq!(
        s.count(&format!(
            "SELECT COUNT(*) FROM contact_invitations WHERE inviter_id = '{}'",
            a.id
        ))
        .await,
        20
    );
    // Redemption attempts too (here with junk codes).
    let b = s.user("b").await;
    let mut refused = 0;
    let mut limited = 0;
    for _ in 0..100 {
        let r = s
            .send(
                "POST",
                "/v1/contacts/invitations/preview",
                Some(&b.access),
                Some(&json!({"code": "PXC1.x.y"})),
            )
            .await;
        match r.status {
            404 => refused += 1,
            429 => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((refused, limited), (30, 70));
    // A new window opens after an hour.
    s.clock.advance(Duration::minutes(61));
    let (access, _) = s.login(&b.email, &b.password).await;
    s.send(
        "POST",
        "/v1/contacts/invitations/preview",
        Some(&access),
        Some(&json!({"code": "PXC1.x.y"})),
    )
    .await
    .assert_problem(404, "invitation_invalid");
}

async fn card_and_invitation_input_is_validated(s: TestServer) {
    let a = s.user("a").await;
    let before = s.fingerprint().await;
    for (bad, field) in [
        (json!({"fields": []}), "fields"),
        (json!({"fields": ["home_address"]}), "fields"),
        (json!({"fields": ["work_phone", "work_phone"]}), "fields"),
        (
            json!({"fields": ["display_name"], "ttl_hours": 169}),
            "ttl_hours",
        ),
        (
            json!({"fields": ["display_name"], "ttl_hours": 0}),
            "ttl_hours",
        ),
    ] {
        s.send(
            "POST",
            "/v1/contacts/invitations",
            Some(&a.access),
            Some(&bad),
        )
        .await
        .assert_problem(400, "validation_failed")
        .assert_field(field);
    }
    for (patch, field) in [
        (json!({"work_phone": "0612"}), "work_phone"),
        (json!({"work_email": "not-an-email"}), "work_email"),
        (json!({"display_name": ""}), "display_name"),
        (json!({"languages": ["xx-!!"]}), "languages"),
    ] {
        let mut card = full_card("alice");
        for (k, v) in patch.as_object().expect("patch") {
            card[k] = v.clone();
        }
        s.send("PUT", "/v1/contacts/card", Some(&a.access), Some(&card))
            .await
            .assert_problem(400, "validation_failed")
            .assert_field(field);
    }
    let mut card = full_card("alice");
    card["home_address"] = json!("secret");
    s.send("PUT", "/v1/contacts/card", Some(&a.access), Some(&card))
        .await
        .assert_problem(400, "validation_failed");
    assert_eq!(s.fingerprint().await, before, "nothing stored");
    // Until set, the card is made from the profile.
    let card = ok(
        &s.send("GET", "/v1/contacts/card", Some(&a.access), None)
            .await,
        200,
    );
    assert_eq!(card["display_name"], a.profile["full_name"]);
}
