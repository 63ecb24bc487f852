//! The audit log: what is recorded, who can read it, tamper evidence and
//! retention, on every backend and transport.

use chrono::Duration;
use praxis_server::store::Val;
use praxis_tests::{Resp, TestServer, Transport, suite};
use serde_json::{Value, json};

suite!(
    security_events_are_recorded_without_personal_data,
    any_edit_or_removal_breaks_the_chain,
    entries_older_than_twelve_months_are_purged_and_the_rest_still_verifies,
);

fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn events(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("entries")
        .iter()
        .map(|e| e["event"].as_str().expect("event").to_owned())
        .collect()
}

async fn security_events_are_recorded_without_personal_data(s: TestServer) {
    let admin = s.user("admin").await;
    let member = s.user("member").await;
    // A wrong password, a refresh-token reuse, a logout.
    let r = s
        .send(
            "POST",
            "/v1/sessions",
            None,
            Some(&json!({"email": member.email, "password": "not-the-password"})),
        )
        .await;
    assert_eq!(r.status, 401);
    let refresh = json!({"refresh_token": member.refresh});
    ok(
        &s.send("POST", "/v1/sessions/refresh", None, Some(&refresh))
            .await,
        200,
    );
    assert_eq!(
        s.send("POST", "/v1/sessions/refresh", None, Some(&refresh))
            .await
            .status,
        401
    );
    let (access, _) = s.login(&member.email, &member.password).await;
    ok(
        &s.send(
            "PUT",
            "/v1/me/restriction",
            Some(&access),
            Some(&json!({"restricted": true})),
        )
        .await,
        204,
    );
    let org = s.create_org(&admin.access, "Audit Clinic").await;
    s.add_member(&admin.access, &access, &org).await;
    ok(
        &s.send(
            "PATCH",
            &format!("/v1/orgs/{org}/location-policy"),
            Some(&admin.access),
            Some(&json!({"location_visits": true})),
        )
        .await,
        200,
    );
    ok(
        &s.send(
            "PATCH",
            &format!("/v1/orgs/{org}/members/{}", member.id),
            Some(&admin.access),
            Some(&json!({"role": "admin"})),
        )
        .await,
        204,
    );
    let push = json!({
        "client_id": "5b1c0c9e-8d43-4a51-9d0b-6f0e2f1c7a11",
        "mutations": [{
            "client_seq": 1, "collection": "consents", "id": uuid::Uuid::new_v4(),
            "fields": {
                "purpose": {"v": "marketing", "t": "1795255200000-000000-d1"},
                "granted": {"v": true, "t": "1795255200000-000000-d1"},
                "policy_version": {"v": 1, "t": "1795255200000-000000-d1"},
                "at": {"v": "2026-11-21T10:00:00Z", "t": "1795255200000-000000-d1"},
                "device": {"v": "phone", "t": "1795255200000-000000-d1"},
            },
        }],
    });
    ok(
        &s.send("POST", "/v1/sync/push", Some(&access), Some(&push))
            .await,
        200,
    );
    ok(
        &s.send("DELETE", "/v1/sessions/current", Some(&admin.access), None)
            .await,
        204,
    );

    let mine = ok(
        &s.send("GET", "/v1/me/audit", Some(&access), None).await,
        200,
    );
    let seen = events(&mine);
    for e in [
        "registered",
        "login_failed",
        "login_succeeded",
        "refresh_token_reused",
        "restriction_changed",
        "member_joined",
        "consent_changed",
    ] {
        assert!(seen.iter().any(|x| x == e), "{e} missing from {seen:?}");
    }
    let consent = mine
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["event"] == "consent_changed")
        .expect("consent");
    assert_eq!(consent["details"]["purpose"], "marketing");
    assert!(
        mine.as_array()
            .expect("entries")
            .iter()
            .all(|e| e["user_id"] == member.id.as_str()),
        "only entries about me"
    );
    // The organisation's admin events, for its admins only.
    let (admin_access, _) = s.login(&admin.email, &admin.password).await;
    let org_log = ok(
        &s.send(
            "GET",
            &format!("/v1/orgs/{org}/audit"),
            Some(&admin_access),
            None,
        )
        .await,
        200,
    );
    let seen = events(&org_log);
    for e in [
        "org_created",
        "member_joined",
        "location_policy_changed",
        "member_role_changed",
    ] {
        assert!(seen.iter().any(|x| x == e), "{e} missing from {seen:?}");
    }
    let outsider = s.user("outsider").await;
    s.send(
        "GET",
        &format!("/v1/orgs/{org}/audit"),
        Some(&outsider.access),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    // No personal data in clear in the log's rows.
    let rows = s.fingerprint().await;
    let log: String = rows
        .split("## ")
        .find(|t| t.starts_with("audit_log"))
        .expect("audit_log table")
        .to_owned();
    for u in [&admin, &member] {
        for k in ["email", "full_name", "phone"] {
            let v = u.profile[k].as_str().expect("field");
            assert!(!log.contains(v), "{k} in the audit log");
        }
    }
    let check = s.state.store().verify_audit().await.expect("verify");
    assert_eq!(check.broken_at, None);
    assert!(check.entries >= 15, "{check:?}");
}

async fn exec(s: &TestServer, sql: &'static str, params: Vec<Val>) {
    let mut tx = s.state.store().db().begin().await.expect("begin");
    tx.execute(sql, params).await.expect("tamper");
    tx.commit().await.expect("commit");
}

async fn broken(s: &TestServer) -> Option<i64> {
    s.state
        .store()
        .verify_audit()
        .await
        .expect("verify")
        .broken_at
}

async fn any_edit_or_removal_breaks_the_chain(s: TestServer) {
    for i in 0..4 {
        s.user(&format!("u{i}")).await;
    }
    assert_eq!(broken(&s).await, None);
    let rows = s
        .state
        .store()
        .db()
        .query(
            "SELECT seq, details, hash FROM audit_log ORDER BY seq",
            vec![],
        )
        .await
        .expect("rows");
    assert!(rows.len() >= 8);
    let (seq, details, hash) = (
        rows[3].i64(0).expect("seq"),
        rows[3].text(1).expect("details"),
        rows[3].bytes(2).expect("hash"),
    );
    // An edited detail, then an edited hash: each caught, each undone.
    exec(
        &s,
        "UPDATE audit_log SET details = ?1 WHERE seq = ?2",
        vec!["{\"forged\":true}".into(), seq.into()],
    )
    .await;
    assert_eq!(broken(&s).await, Some(seq));
    exec(
        &s,
        "UPDATE audit_log SET details = ?1 WHERE seq = ?2",
        vec![details.into(), seq.into()],
    )
    .await;
    assert_eq!(broken(&s).await, None);
    exec(
        &s,
        "UPDATE audit_log SET hash = ?1 WHERE seq = ?2",
        vec![Val::Bytes(vec![0; 32]), seq.into()],
    )
    .await;
    assert_eq!(broken(&s).await, Some(seq));
    exec(
        &s,
        "UPDATE audit_log SET hash = ?1 WHERE seq = ?2",
        vec![Val::Bytes(hash), seq.into()],
    )
    .await;
    assert_eq!(broken(&s).await, None);
    // A removed entry in the middle.
    exec(&s, "DELETE FROM audit_log WHERE seq = ?1", vec![seq.into()]).await;
    assert_eq!(broken(&s).await, Some(seq));

    // On another database: the newest entry removed.
    let t = TestServer::start(s.backend, Transport::Oneshot)
        .await
        .expect("server");
    t.user("last").await;
    assert_eq!(broken(&t).await, None);
    exec(
        &t,
        "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
        vec![],
    )
    .await;
    assert!(broken(&t).await.is_some(), "a removed tail is caught too");
}

async fn entries_older_than_twelve_months_are_purged_and_the_rest_still_verifies(s: TestServer) {
    s.user("old").await;
    let before = s.count("SELECT COUNT(*) FROM audit_log").await;
    s.clock.advance(Duration::days(30 * 11));
    s.user("newer").await;
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(report.audit_entries, 0, "11 months: kept");
    s.clock.advance(Duration::days(30 * 2));
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(
        i64::try_from(report.audit_entries).expect("n"),
        before,
        "13 months: the old entries go, the newer stay"
    );
    assert_eq!(
        broken(&s).await,
        None,
        "the chain verifies from its new start"
    );
    s.user("latest").await;
    assert_eq!(broken(&s).await, None);
}
