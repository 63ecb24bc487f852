//! Organisations, membership and join codes, on every backend and transport.

use chrono::Duration;
use praxis_tests::{TestServer, TestUser, suite};
use serde_json::{Value, json};

suite!(
    create_list_get_and_rename,
    join_codes_are_single_use_and_expire,
    members_cannot_use_admin_routes,
    outsiders_learn_nothing_about_an_org,
    roles_change_but_an_org_keeps_an_admin,
    org_input_is_validated,
    join_codes_are_listed_revoked_and_die_with_their_creators_admin_role,
    organisations_and_open_join_codes_are_capped,
    members_joining_at_once_all_get_in,
);

/// Regression (anonymous growth): one account could create organisations
/// and join codes without end. Both are capped; a refusal writes nothing,
/// and a code used frees its place.
async fn organisations_and_open_join_codes_are_capped(s: TestServer) {
    use praxis_server::store::{MAX_OPEN_JOIN_CODES, MAX_ORGS_PER_USER};
    let (org, admin, _member) = org_with_member(&s).await;
    for i in 1..MAX_ORGS_PER_USER {
        create_org(&s, &admin, &format!("Cabinet {i}")).await;
    }
    let before = s.fingerprint().await;
    s.send(
        "POST",
        "/v1/orgs",
        Some(&admin.access),
        Some(&json!({"name": "One too many"})),
    )
    .await
    .assert_problem(409, "limit_reached")
    .assert_field("organisations");
    assert_eq!(s.fingerprint().await, before, "nothing written");

    // One code is open already (the member's was used); fill the rest.
    let mut codes = Vec::new();
    for _ in 0..MAX_OPEN_JOIN_CODES {
        codes.push(join_code(&s, &admin, &org).await);
    }
    let before = s.fingerprint().await;
    s.send(
        "POST",
        &format!("/v1/orgs/{org}/join-codes"),
        Some(&admin.access),
        None,
    )
    .await
    .assert_problem(409, "limit_reached")
    .assert_field("join_codes");
    assert_eq!(s.fingerprint().await, before, "nothing written");
    // Using one frees its place.
    let newcomer = s.user("newcomer").await;
    assert_eq!(join(&s, &newcomer, &codes[0]).await.status, 200);
    join_code(&s, &admin, &org).await;
}

async fn set_role(s: &TestServer, admin: &TestUser, org: &str, user: &TestUser, role: &str) {
    let r = s
        .send(
            "PATCH",
            &format!("/v1/orgs/{org}/members/{}", user.id),
            Some(&admin.access),
            Some(&json!({ "role": role })),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
}

async fn open_codes(s: &TestServer, admin: &TestUser, org: &str) -> Vec<Value> {
    let r = s
        .send(
            "GET",
            &format!("/v1/orgs/{org}/join-codes"),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json().as_array().expect("list").clone()
}

/// Regression: a code made by an admin who was later demoted or removed
/// still let people in, and admins could neither list nor revoke codes.
async fn join_codes_are_listed_revoked_and_die_with_their_creators_admin_role(s: TestServer) {
    let (org, admin, second) = org_with_member(&s).await;
    set_role(&s, &admin, &org, &second, "admin").await;
    let made = s
        .send(
            "POST",
            &format!("/v1/orgs/{org}/join-codes"),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(made.status, 201);
    let (code_a, id_a) = (
        made.json()["code"].as_str().expect("code").to_owned(),
        made.json()["id"].as_str().expect("id").to_owned(),
    );
    let code_b = join_code(&s, &second, &org).await;
    let listed = open_codes(&s, &admin, &org).await;
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|c| c["id"] == id_a.as_str() && c["created_by"] == admin.id.as_str())
    );
    assert!(listed.iter().any(|c| c["created_by"] == second.id.as_str()));
    assert!(
        !listed.iter().any(|c| c.to_string().contains(&code_a)),
        "codes are never listed"
    );

    // Members and outsiders learn nothing; unknown and garbage ids are 404.
    let member = s.user("member").await;
    s.send(
        "POST",
        "/v1/orgs/join",
        Some(&member.access),
        Some(&json!({"code": join_code(&s, &admin, &org).await})),
    )
    .await;
    let outsider = s.user("outsider").await;
    for (who, status, code) in [(&member, 403, "forbidden"), (&outsider, 404, "not_found")] {
        s.send(
            "GET",
            &format!("/v1/orgs/{org}/join-codes"),
            Some(&who.access),
            None,
        )
        .await
        .assert_problem(status, code);
        s.send(
            "DELETE",
            &format!("/v1/orgs/{org}/join-codes/{id_a}"),
            Some(&who.access),
            None,
        )
        .await
        .assert_problem(status, code);
    }
    for bad in ["AAAA", "not*base64", &"x".repeat(300)] {
        s.send(
            "DELETE",
            &format!("/v1/orgs/{org}/join-codes/{bad}"),
            Some(&admin.access),
            None,
        )
        .await
        .assert_problem(404, "not_found");
    }

    // Revoked: the code lets nobody in.
    let r = s
        .send(
            "DELETE",
            &format!("/v1/orgs/{org}/join-codes/{id_a}"),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    let newcomer = s.user("newcomer").await;
    join(&s, &newcomer, &code_a)
        .await
        .assert_problem(404, "not_found");
    s.send(
        "DELETE",
        &format!("/v1/orgs/{org}/join-codes/{id_a}"),
        Some(&admin.access),
        None,
    )
    .await
    .assert_problem(404, "not_found");

    // The second admin is demoted: their open code dies with the role.
    set_role(&s, &admin, &org, &second, "member").await;
    assert!(open_codes(&s, &admin, &org).await.is_empty());
    join(&s, &newcomer, &code_b)
        .await
        .assert_problem(404, "not_found");
    // A fresh code from the remaining admin still works.
    let fresh = join_code(&s, &admin, &org).await;
    assert_eq!(join(&s, &newcomer, &fresh).await.status, 200);
}

/// Regression: members joining one organisation at the same moment (a
/// practice onboarding its staff) each got in, or some got a 500.
async fn members_joining_at_once_all_get_in(s: TestServer) {
    let admin = s.user("admin").await;
    let org = create_org(&s, &admin, "Cabinet du Port").await;
    let mut members = Vec::new();
    for i in 0..8 {
        members.push(s.user(&format!("joiner{i}")).await);
    }
    let mut codes = Vec::new();
    for _ in &members {
        codes.push(join_code(&s, &admin, &org).await);
    }
    let joins = members.iter().zip(&codes).map(|(m, c)| join(&s, m, c));
    for r in futures_util::future::join_all(joins).await {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let listed = s
        .send(
            "GET",
            &format!("/v1/orgs/{org}/members"),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json().as_array().map(Vec::len), Some(9), "all in");
}

async fn create_org(s: &TestServer, admin: &TestUser, name: &str) -> String {
    s.create_org(&admin.access, name).await
}

async fn join_code(s: &TestServer, admin: &TestUser, org: &str) -> String {
    s.join_code(&admin.access, org).await
}

async fn join(s: &TestServer, user: &TestUser, code: &str) -> praxis_tests::Resp {
    s.send(
        "POST",
        "/v1/orgs/join",
        Some(&user.access),
        Some(&json!({ "code": code })),
    )
    .await
}

/// An org with an admin and one member.
async fn org_with_member(s: &TestServer) -> (String, TestUser, TestUser) {
    let admin = s.user("admin").await;
    let member = s.user("member").await;
    let org = create_org(s, &admin, "Cabinet Infirmier du Nord").await;
    let code = join_code(s, &admin, &org).await;
    s.clock.advance(Duration::seconds(1));
    assert_eq!(join(s, &member, &code).await.status, 200);
    (org, admin, member)
}

async fn create_list_get_and_rename(s: TestServer) {
    let admin = s.user("admin").await;
    let org = create_org(&s, &admin, "  Cabinet Santé  ").await;
    let list = s
        .send("GET", "/v1/orgs", Some(&admin.access), None)
        .await
        .json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["org_id"], org);
    assert_eq!(list[0]["name"], "Cabinet Santé");
    assert_eq!(list[0]["role"], "admin");
    let one = s
        .send("GET", &format!("/v1/orgs/{org}"), Some(&admin.access), None)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json(), list[0]);
    let r = s
        .send(
            "PATCH",
            &format!("/v1/orgs/{org}"),
            Some(&admin.access),
            Some(&json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "Renamed");
    let members = s
        .send(
            "GET",
            &format!("/v1/orgs/{org}/members"),
            Some(&admin.access),
            None,
        )
        .await
        .json();
    assert_eq!(members[0]["user_id"], admin.id);
    assert_eq!(members[0]["role"], "admin");
    assert_eq!(members[0]["full_name"], admin.profile["full_name"]);
    assert!(
        members[0].get("email").is_none(),
        "members do not see each other's email"
    );
}

async fn join_codes_are_single_use_and_expire(s: TestServer) {
    let (org, admin, member) = org_with_member(&s).await;
    let members = s
        .send(
            "GET",
            &format!("/v1/orgs/{org}/members"),
            Some(&member.access),
            None,
        )
        .await
        .json();
    assert_eq!(members.as_array().map(Vec::len), Some(2));
    let roles: Vec<&Value> = members
        .as_array()
        .expect("array")
        .iter()
        .map(|m| &m["role"])
        .collect();
    assert_eq!(roles, [&json!("admin"), &json!("member")]);

    // A used code is refused for someone else, and changes nothing.
    let third = s.user("third").await;
    let used = join_code(&s, &admin, &org).await;
    assert_eq!(join(&s, &third, &used).await.status, 200);
    let fourth = s.user("fourth").await;
    let before = s.fingerprint().await;
    join(&s, &fourth, &used)
        .await
        .assert_problem(410, "join_code_used");
    assert_eq!(s.fingerprint().await, before);
    // Already a member: refused, the fresh code stays usable.
    let fresh = join_code(&s, &admin, &org).await;
    let before_fresh = s.fingerprint().await;
    join(&s, &member, &fresh)
        .await
        .assert_problem(409, "already_member");
    assert_eq!(s.fingerprint().await, before_fresh);
    // Unknown code.
    join(&s, &fourth, "not-a-real-code")
        .await
        .assert_problem(404, "not_found");
    // Expired code (72 h life).
    s.clock.advance(Duration::hours(72) + Duration::seconds(1));
    let (access, _) = s.login(&fourth.email, &fourth.password).await;
    let before_expired = s.fingerprint().await;
    s.send(
        "POST",
        "/v1/orgs/join",
        Some(&access),
        Some(&json!({ "code": fresh })),
    )
    .await
    .assert_problem(410, "join_code_expired");
    assert_eq!(s.fingerprint().await, before_expired);
    let orgs = s.send("GET", "/v1/orgs", Some(&access), None).await.json();
    assert_eq!(orgs, json!([]));
}

async fn members_cannot_use_admin_routes(s: TestServer) {
    let (org, admin, member) = org_with_member(&s).await;
    let before = s.fingerprint().await;
    let t = Some(member.access.as_str());
    s.send("POST", &format!("/v1/orgs/{org}/join-codes"), t, None)
        .await
        .assert_problem(403, "forbidden");
    s.send(
        "PATCH",
        &format!("/v1/orgs/{org}"),
        t,
        Some(&json!({"name": "Mine now"})),
    )
    .await
    .assert_problem(403, "forbidden");
    s.send(
        "PATCH",
        &format!("/v1/orgs/{org}/members/{}", member.id),
        t,
        Some(&json!({"role": "admin"})),
    )
    .await
    .assert_problem(403, "forbidden");
    s.send(
        "DELETE",
        &format!("/v1/orgs/{org}/members/{}", admin.id),
        t,
        None,
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(s.fingerprint().await, before);
    // A member may leave.
    let r = s
        .send(
            "DELETE",
            &format!("/v1/orgs/{org}/members/{}", member.id),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    s.send("GET", &format!("/v1/orgs/{org}"), t, None)
        .await
        .assert_problem(404, "not_found");
}

async fn outsiders_learn_nothing_about_an_org(s: TestServer) {
    let (org, admin, member) = org_with_member(&s).await;
    let outsider = s.user("outsider").await;
    let other_org = create_org(&s, &outsider, "Other practice").await;
    let before = s.fingerprint().await;
    let t = Some(outsider.access.as_str());
    let missing = uuid::Uuid::new_v4().to_string();
    // The outsider's answers for a real org equal those for a missing one.
    for target in [org.as_str(), missing.as_str(), "not-a-uuid"] {
        let answers = [
            s.send("GET", &format!("/v1/orgs/{target}"), t, None).await,
            s.send("GET", &format!("/v1/orgs/{target}/members"), t, None)
                .await,
            s.send("POST", &format!("/v1/orgs/{target}/join-codes"), t, None)
                .await,
            s.send(
                "PATCH",
                &format!("/v1/orgs/{target}"),
                t,
                Some(&json!({"name": "x"})),
            )
            .await,
            s.send(
                "PATCH",
                &format!("/v1/orgs/{target}/members/{}", member.id),
                t,
                Some(&json!({"role": "member"})),
            )
            .await,
            s.send(
                "DELETE",
                &format!("/v1/orgs/{target}/members/{}", member.id),
                t,
                None,
            )
            .await,
        ];
        for a in answers {
            a.assert_problem(404, "not_found");
        }
    }
    // The admin of one org cannot reach members through another org's path.
    s.send(
        "DELETE",
        &format!("/v1/orgs/{other_org}/members/{}", member.id),
        Some(&outsider.access),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.send(
        "PATCH",
        &format!("/v1/orgs/{org}/members/{}", outsider.id),
        Some(&admin.access),
        Some(&json!({"role": "admin"})),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(s.fingerprint().await, before);
}

async fn roles_change_but_an_org_keeps_an_admin(s: TestServer) {
    let (org, admin, member) = org_with_member(&s).await;
    let a = Some(admin.access.as_str());
    s.send(
        "PATCH",
        &format!("/v1/orgs/{org}/members/{}", admin.id),
        a,
        Some(&json!({"role": "member"})),
    )
    .await
    .assert_problem(409, "last_admin");
    s.send(
        "DELETE",
        &format!("/v1/orgs/{org}/members/{}", admin.id),
        a,
        None,
    )
    .await
    .assert_problem(409, "last_admin");
    let r = s
        .send(
            "PATCH",
            &format!("/v1/orgs/{org}/members/{}", member.id),
            a,
            Some(&json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status, 204);
    // Two admins now: the first may step down, and the new admin rules.
    let r = s
        .send(
            "PATCH",
            &format!("/v1/orgs/{org}/members/{}", admin.id),
            a,
            Some(&json!({"role": "member"})),
        )
        .await;
    assert_eq!(r.status, 204);
    s.send("POST", &format!("/v1/orgs/{org}/join-codes"), a, None)
        .await
        .assert_problem(403, "forbidden");
    let m = Some(member.access.as_str());
    let r = s
        .send(
            "DELETE",
            &format!("/v1/orgs/{org}/members/{}", admin.id),
            m,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let members = s
        .send("GET", &format!("/v1/orgs/{org}/members"), m, None)
        .await
        .json();
    assert_eq!(members.as_array().map(Vec::len), Some(1));
    assert_eq!(members[0]["role"], "admin");
}

async fn org_input_is_validated(s: TestServer) {
    let (org, admin, member) = org_with_member(&s).await;
    let before = s.fingerprint().await;
    let a = Some(admin.access.as_str());
    for name in [json!(""), json!("   "), json!("x".repeat(201)), json!(12)] {
        s.send("POST", "/v1/orgs", a, Some(&json!({ "name": name })))
            .await
            .assert_problem(400, "validation_failed")
            .assert_field("name");
        s.send(
            "PATCH",
            &format!("/v1/orgs/{org}"),
            a,
            Some(&json!({ "name": name })),
        )
        .await
        .assert_problem(400, "validation_failed")
        .assert_field("name");
    }
    s.send(
        "PATCH",
        &format!("/v1/orgs/{org}/members/{}", member.id),
        a,
        Some(&json!({"role": "owner"})),
    )
    .await
    .assert_problem(400, "validation_failed")
    .assert_field("role");
    s.send("POST", "/v1/orgs/join", a, Some(&json!({"code": 5})))
        .await
        .assert_problem(400, "validation_failed")
        .assert_field("code");
    s.send("POST", "/v1/orgs", None, Some(&json!({"name": "No auth"})))
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(s.fingerprint().await, before);
}
