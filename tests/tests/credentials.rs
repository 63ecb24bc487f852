//! Credentials: changing the password over the API and through the core.

use praxis_tests::{TestServer, suite};
use serde_json::json;

suite!(password_change_rules_and_refusals);

async fn password_change_rules_and_refusals(s: TestServer) {
    let a = s.user("changer").await;
    let other = s.user("other").await;
    let new = "quartz-lantern-oboe-91";

    // Bad input changes nothing.
    let before = s.fingerprint().await;
    let bearer = format!("Bearer {}", a.access);
    let r = s
        .raw(
            "PUT",
            "/v1/me/password",
            &[("authorization", &bearer), ("content-type", "text/plain")],
            b"{}".to_vec(),
        )
        .await;
    r.assert_problem(415, "unsupported_media_type");
    let big = json!({"current_password": a.password, "new_password": "x".repeat(3_000_000)});
    let r = s
        .send("PUT", "/v1/me/password", Some(&a.access), Some(&big))
        .await;
    r.assert_problem(413, "payload_too_large");
    s.send(
        "PUT",
        "/v1/me/password",
        Some(&a.access),
        Some(&json!({"new_password": new, "admin": true})),
    )
    .await
    .assert_problem(400, "validation_failed")
    .assert_field("admin");
    // Without the current password or a reauth.
    s.send(
        "PUT",
        "/v1/me/password",
        Some(&a.access),
        Some(&json!({"new_password": new})),
    )
    .await
    .assert_problem(403, "reauth_required");
    // A weak new password.
    for weak in ["short", "password123", a.email.as_str()] {
        s.send(
            "PUT",
            "/v1/me/password",
            Some(&a.access),
            Some(&json!({"current_password": a.password, "new_password": weak})),
        )
        .await
        .assert_problem(422, "weak_password")
        .assert_field("new_password");
    }
    // No token.
    s.send(
        "PUT",
        "/v1/me/password",
        None,
        Some(&json!({"current_password": a.password, "new_password": new})),
    )
    .await
    .assert_problem(401, "unauthorized");
    assert_eq!(s.fingerprint().await, before, "refusals changed nothing");

    // A wrong current password counts against the login throttle.
    let mut limited = None;
    for _ in 0..12 {
        let r = s
            .send(
                "PUT",
                "/v1/me/password",
                Some(&a.access),
                Some(&json!({"current_password": "not-the-password", "new_password": new})),
            )
            .await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        r.assert_problem(401, "invalid_credentials");
    }
    let limited = limited.expect("throttled");
    assert!(limited.header("retry-after").is_some());
    // Once the wait is over, the right one works.
    s.clock.advance(chrono::Duration::hours(2));
    let (access, _) = s.login(&a.email, &a.password).await;
    let (laptop, laptop_refresh) = s.login(&a.email, &a.password).await;
    let (other_access, _) = s.login(&other.email, &other.password).await;
    let r = s
        .send(
            "PUT",
            "/v1/me/password",
            Some(&access),
            Some(&json!({"current_password": a.password, "new_password": new})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));

    // This session goes on; every other one ended; the old password is dead.
    assert_eq!(
        s.send("GET", "/v1/me", Some(&access), None).await.status,
        200
    );
    s.send("GET", "/v1/me", Some(&laptop), None)
        .await
        .assert_problem(401, "unauthorized");
    s.send(
        "POST",
        "/v1/sessions/refresh",
        None,
        Some(&json!({"refresh_token": laptop_refresh})),
    )
    .await
    .assert_problem(401, "unauthorized");
    s.send(
        "POST",
        "/v1/sessions",
        None,
        Some(&json!({"email": a.email, "password": a.password})),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    s.login(&a.email, new).await;
    // The other account was not touched.
    assert_eq!(
        s.send("GET", "/v1/me", Some(&other_access), None)
            .await
            .status,
        200
    );

    // With a fresh reauth instead of the current password.
    let r = s
        .send(
            "POST",
            "/v1/sessions/reauth",
            Some(&access),
            Some(&json!({"password": new})),
        )
        .await;
    assert_eq!(r.status, 204);
    let newer = "amber-kite-lumen-83-x";
    let r = s
        .send(
            "PUT",
            "/v1/me/password",
            Some(&access),
            Some(&json!({"new_password": newer})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    s.login(&a.email, newer).await;

    let user = uuid::Uuid::parse_str(&a.id).expect("id");
    let audit = s
        .state
        .store()
        .audit_of_user(user, 100)
        .await
        .expect("audit");
    let changed: Vec<_> = audit
        .iter()
        .filter(|e| e.event == "password_changed")
        .collect();
    assert_eq!(changed.len(), 2);
    assert!(
        changed
            .iter()
            .any(|e| e.details["sessions_ended"].as_u64() >= Some(1))
    );
    assert!(audit.iter().any(|e| e.event == "password_change_failed"));
}
