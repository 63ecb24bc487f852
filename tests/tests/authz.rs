//! The authorization matrix: every route that names a resource in its path,
//! called by every kind of caller, gets exactly the expected status, and a
//! refused call leaves the database byte for byte as it was.
//!
//! The callers, one world per route:
//! * `owner`: created the organisation (its first admin); holds the
//!   member's contact card.
//! * `admin`: a second admin of the organisation.
//! * `member`: a member; runs a live share to the owner and owns the card
//!   the owner holds. It is the victim of member-targeted routes.
//! * `former`: was a member, removed by the owner.
//! * `outsider`: an account with no tie to the others.
//! * `none`: no token; `revoked`: the member's token from a session that
//!   logged out. The member has one more session (`{session}`), on a
//!   second device.
//!
//! Callers go from least to most privileged, so a row reads like what
//! happens: e.g. `DELETE …/members/{member}` is refused to everyone until
//! the admin removes the member, after which the owner finds nothing.
//!
//! A route with a path parameter that is missing from [`MATRIX`] fails
//! [`every_resource_route_is_in_the_matrix`]: new routes must be listed.

use praxis_server::clock::Clock as _;
use praxis_tests::{Resp, TestServer, TestUser, suite};
use serde_json::{Value, json};

suite!(every_caller_gets_the_expected_answer_and_refusals_change_nothing);

/// Caller order in each row.
const CALLERS: [&str; 7] = [
    "none", "revoked", "outsider", "former", "member", "admin", "owner",
];

/// `(method, path template, body, statuses by CALLERS)`. `{org}`, `{member}`,
/// `{owner}`, `{share}`, `{code}` and `{session}` are filled from the world. Bodies of
/// writes are chosen so a permitted caller's change is small and real.
type Row = (&'static str, &'static str, Option<&'static str>, [u16; 7]);

const MATRIX: &[Row] = &[
    //                                                              none revk outs form memb admn ownr
    (
        "GET",
        "/v1/orgs/{org}",
        None,
        [401, 401, 404, 404, 200, 200, 200],
    ),
    (
        "PATCH",
        "/v1/orgs/{org}",
        Some(r#"{"name":"Renamed"}"#),
        [401, 401, 404, 404, 403, 200, 200],
    ),
    (
        "POST",
        "/v1/orgs/{org}/join-codes",
        None,
        [401, 401, 404, 404, 403, 201, 201],
    ),
    (
        "GET",
        "/v1/orgs/{org}/join-codes",
        None,
        [401, 401, 404, 404, 403, 200, 200],
    ),
    (
        "DELETE",
        "/v1/orgs/{org}/join-codes/{code}",
        None,
        [401, 401, 404, 404, 403, 204, 404],
    ),
    (
        "GET",
        "/v1/orgs/{org}/members",
        None,
        [401, 401, 404, 404, 200, 200, 200],
    ),
    (
        "PATCH",
        "/v1/orgs/{org}/members/{member}",
        Some(r#"{"role":"admin"}"#),
        [401, 401, 404, 404, 403, 204, 204],
    ),
    (
        "DELETE",
        "/v1/orgs/{org}/members/{member}",
        None,
        [401, 401, 404, 404, 204, 404, 404],
    ),
    (
        "GET",
        "/v1/orgs/{org}/location-policy",
        None,
        [401, 401, 404, 404, 200, 200, 200],
    ),
    (
        "PATCH",
        "/v1/orgs/{org}/location-policy",
        Some(r#"{"retention_days":7}"#),
        [401, 401, 404, 404, 403, 200, 200],
    ),
    (
        "GET",
        "/v1/orgs/{org}/location-policy/changes",
        None,
        [401, 401, 404, 404, 403, 200, 200],
    ),
    (
        "PUT",
        "/v1/orgs/{org}/members/{member}/location",
        Some(r#"{"enabled":false}"#),
        [401, 401, 404, 404, 403, 204, 204],
    ),
    (
        "GET",
        "/v1/orgs/{org}/audit",
        None,
        [401, 401, 404, 404, 403, 200, 200],
    ),
    (
        "PUT",
        "/v1/location/shares/{share}/position",
        Some("POSITION"),
        [401, 401, 404, 404, 204, 404, 404],
    ),
    (
        "DELETE",
        "/v1/location/shares/{share}",
        None,
        [401, 401, 404, 404, 204, 404, 404],
    ),
    (
        "GET",
        "/v1/contacts/{member}",
        None,
        [401, 401, 404, 404, 404, 404, 200],
    ),
    (
        "DELETE",
        "/v1/contacts/connections/{owner}",
        None,
        [401, 401, 404, 404, 204, 404, 404],
    ),
    (
        "DELETE",
        "/v1/contacts/holders/{owner}",
        None,
        [401, 401, 404, 404, 204, 404, 404],
    ),
    (
        "DELETE",
        "/v1/contacts/blocks/{member}",
        None,
        [401, 401, 404, 404, 404, 404, 404],
    ),
    (
        "DELETE",
        "/v1/sessions/{session}",
        None,
        [401, 401, 404, 404, 204, 404, 404],
    ),
];

/// Everyone, their organisation, a join code, a live share and a card.
struct World {
    org: String,
    code: String,
    share: String,
    session: String,
    users: Vec<(&'static str, Option<TestUser>)>,
}

fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

async fn push_consent(s: &TestServer, u: &TestUser) {
    let t = format!("{:013}-000001-dev1", s.clock.now().timestamp_millis());
    let f = |v: Value| json!({"v": v, "t": t});
    let r = s
        .send(
            "POST",
            "/v1/sync/push",
            Some(&u.access),
            Some(
                &json!({"client_id": "5b1c0c9e-8d43-4a51-9d0b-6f0e2f1c7a11", "mutations": [{
                "client_seq": 1, "collection": "consents", "id": uuid::Uuid::new_v4().to_string(),
                "fields": {"purpose": f(json!("location_sharing")), "granted": f(json!(true)),
                    "policy_version": f(json!(1)), "at": f(json!(s.clock.now().to_rfc3339())),
                    "device": f(json!("phone-1"))}}]}),
            ),
        )
        .await;
    assert_eq!(ok(&r, 200)["results"][0]["status"], "applied");
}

async fn world(s: &TestServer) -> World {
    let owner = s.user("owner").await;
    let admin = s.user("admin").await;
    let member = s.user("member").await;
    let former = s.user("former").await;
    let outsider = s.user("outsider").await;
    let org = s.create_org(&owner.access, "Cabinet Matrice").await;
    for u in [&admin, &member, &former] {
        s.add_member(&owner.access, &u.access, &org).await;
    }
    let r = s
        .send(
            "PATCH",
            &format!("/v1/orgs/{org}/members/{}", admin.id),
            Some(&owner.access),
            Some(&json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    let r = s
        .send(
            "DELETE",
            &format!("/v1/orgs/{org}/members/{}", former.id),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    // A revoked token: the member's second session, logged out.
    let (revoked, _) = s.login(&member.email, &member.password).await;
    let r = s
        .send("DELETE", "/v1/sessions/current", Some(&revoked), None)
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    // An open join code.
    s.join_code(&owner.access, &org).await;
    let codes = ok(
        &s.send(
            "GET",
            &format!("/v1/orgs/{org}/join-codes"),
            Some(&owner.access),
            None,
        )
        .await,
        200,
    );
    let code = codes[0]["id"].as_str().expect("code id").to_owned();
    // The member shares live location with the owner.
    ok(
        &s.send(
            "PATCH",
            &format!("/v1/orgs/{org}/location-policy"),
            Some(&owner.access),
            Some(&json!({"location_sharing": true, "max_precision": "precise"})),
        )
        .await,
        200,
    );
    push_consent(s, &member).await;
    let share = ok(
        &s.send(
            "POST",
            "/v1/location/shares",
            Some(&member.access),
            Some(&json!({"recipients": [owner.id], "duration_min": 60})),
        )
        .await,
        201,
    )["share_id"]
        .as_str()
        .expect("share")
        .to_owned();
    // The owner holds the member's card (and the member the owner's).
    let invitation = ok(
        &s.send(
            "POST",
            "/v1/contacts/invitations",
            Some(&member.access),
            Some(&json!({"fields": ["display_name"], "allow_forward": false})),
        )
        .await,
        201,
    )["code"]
        .as_str()
        .expect("code")
        .to_owned();
    ok(
        &s.send(
            "POST",
            "/v1/contacts/invitations/accept",
            Some(&owner.access),
            Some(&json!({"code": invitation, "fields": ["display_name"], "allow_forward": false})),
        )
        .await,
        200,
    );
    // The member's second device.
    let session = ok(
        &s.send(
            "POST",
            "/v1/sessions",
            None,
            Some(&json!({"email": member.email, "password": member.password})),
        )
        .await,
        200,
    )["session_id"]
        .as_str()
        .expect("session")
        .to_owned();
    let mut revoked_user = member.clone();
    revoked_user.access = revoked;
    World {
        org,
        code,
        share,
        session,
        users: vec![
            ("none", None),
            ("revoked", Some(revoked_user)),
            ("outsider", Some(outsider)),
            ("former", Some(former)),
            ("member", Some(member)),
            ("admin", Some(admin)),
            ("owner", Some(owner)),
        ],
    }
}

fn user<'a>(w: &'a World, name: &str) -> &'a TestUser {
    w.users
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, u)| u.as_ref())
        .expect("user")
}

async fn every_caller_gets_the_expected_answer_and_refusals_change_nothing(s: TestServer) {
    let mut wrong = Vec::new();
    for &(method, template, body, expected) in MATRIX {
        let w = world(&s).await;
        let path = template
            .replace("{org}", &w.org)
            .replace("{code}", &w.code)
            .replace("{share}", &w.share)
            .replace("{session}", &w.session)
            .replace("{member}", &user(&w, "member").id)
            .replace("{owner}", &user(&w, "owner").id);
        for (i, (caller, u)) in w.users.iter().enumerate() {
            let body = body.map(|b| match b {
                "POSITION" => json!({"lat": 50.6, "lon": 3.06, "accuracy_m": 10.0,
                    "at": s.clock.now().to_rfc3339(), "precision": "precise"}),
                b => serde_json::from_str(b).expect("body"),
            });
            let before = s.fingerprint().await;
            let r = s
                .send(
                    method,
                    &path,
                    u.as_ref().map(|u| u.access.as_str()),
                    body.as_ref(),
                )
                .await;
            assert_eq!(*caller, CALLERS[i], "caller order");
            if r.status != expected[i] {
                wrong.push(format!(
                    "{method} {template} as {caller}: {} (expected {}) {}",
                    r.status,
                    expected[i],
                    String::from_utf8_lossy(&r.body)
                ));
            }
            if r.status >= 400 {
                if r.header("content-type") != Some("application/problem+json") {
                    wrong.push(format!("{method} {template} as {caller}: not problem+json"));
                }
                if s.fingerprint().await != before {
                    wrong.push(format!(
                        "{method} {template} refused to {caller} but changed data"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_resource_route_is_in_the_matrix() {
    let doc = serde_json::to_value(praxis_server::openapi()).expect("openapi");
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.contains('{') {
            continue;
        }
        for method in item.as_object().expect("item").keys() {
            let listed = MATRIX
                .iter()
                .any(|(m, t, _, _)| m.eq_ignore_ascii_case(method) && same_shape(t, path));
            if !listed {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from the matrix: {missing:?}"
    );
}

/// Whether two templates differ only in their parameter names.
fn same_shape(a: &str, b: &str) -> bool {
    let parts = |s: &str| -> Vec<String> {
        s.split('/')
            .map(|p| {
                if p.starts_with('{') {
                    "{}".to_owned()
                } else {
                    p.to_owned()
                }
            })
            .collect()
    };
    parts(a) == parts(b)
}
