//! Operator metrics after a whole scenario: every documented family is
//! there with stable names, the counts follow what happened, and nothing
//! about the people (emails, names, phones, ids, tokens, the content they
//! synced, the raw paths they asked for) appears anywhere in the output.

use axum::body::Body;
use praxis_tests::{TestServer, suite};
use serde_json::json;
use tower::ServiceExt as _;

suite!(metrics_follow_a_scenario_and_name_no_one);

/// `GET /metrics` on the metrics listener's router.
async fn scrape(s: &TestServer) -> String {
    let res = praxis_server::metrics::router(s.state.clone())
        .oneshot(
            axum::http::Request::get("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("scrape");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// The value of the sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn metrics_follow_a_scenario_and_name_no_one(s: TestServer) {
    let before = scrape(&s).await;
    assert_eq!(
        sample(&before, "praxis_audit_chain_valid "),
        Some(-1.0),
        "no check yet"
    );

    // A practitioner registers, signs in, syncs a visit, pulls, exports,
    // asks for a path that does not exist with their email in it, and
    // fails a login.
    let u = s.user("metrics").await;
    let title = "Metrics visit: dressing change for Mme Lefebvre";
    let r = s
        .send(
            "POST",
            "/v1/sync/push",
            Some(&u.access),
            Some(&json!({
                "client_id": uuid::Uuid::new_v4().to_string(),
                "mutations": [{
                    "client_seq": 1,
                    "collection": "appointments",
                    "id": uuid::Uuid::now_v7().to_string(),
                    "fields": {"title": {"v": title, "t": "1795200000000-000000-dev1"}},
                }],
            })),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .send("POST", "/v1/sync/pull", Some(&u.access), Some(&json!({})))
        .await;
    assert_eq!(r.status, 200);
    let r = s.send("GET", "/v1/me/export", Some(&u.access), None).await;
    assert_eq!(r.status, 200);
    let r = s
        .send(
            "GET",
            &format!("/v1/users/{}", u.email),
            Some(&u.access),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = s
        .send(
            "POST",
            "/v1/sessions",
            None,
            Some(&json!({"email": u.email, "password": "not-the-password-at-all"})),
        )
        .await;
    assert_eq!(r.status, 401);
    // A made-up method: counted, under one shared label.
    let r = s.send("BREW", "/v1/me", Some(&u.access), None).await;
    assert_eq!(r.status, 405);
    praxis_server::jobs::run_and_report(&s.state).await;

    let text = scrape(&s).await;
    for family in [
        "praxis_http_requests_total",
        "praxis_http_request_duration_seconds_bucket",
        "praxis_change_streams",
        "praxis_notifier_outbox",
        "praxis_db_pool_size",
        "praxis_db_pool_in_use",
        "praxis_db_pool_waiting",
        "praxis_sqlite_writer_queue",
        "praxis_retention_runs_total",
        "praxis_retention_purged_rows_total",
        "praxis_audit_chain_valid",
        "praxis_audit_chain_entries",
        "praxis_audit_chain_checked_timestamp_seconds",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(family)),
            "{family} missing:\n{text}"
        );
    }
    for (line, at_least) in [
        (
            r#"praxis_http_requests_total{method="POST",route="/v1/sync/push",status="200"}"#,
            1.0,
        ),
        (
            r#"praxis_http_requests_total{method="POST",route="/v1/sessions",status="401"}"#,
            1.0,
        ),
        (
            r#"praxis_http_requests_total{method="GET",route="unmatched",status="404"}"#,
            1.0,
        ),
        (
            r#"praxis_http_request_duration_seconds_count{method="POST",route="/v1/sync/pull"}"#,
            1.0,
        ),
        (
            r#"praxis_http_request_duration_seconds_count{method="GET",route="/v1/me/export"}"#,
            1.0,
        ),
        (
            r#"praxis_http_requests_total{method="other",route="/v1/me",status="405"}"#,
            1.0,
        ),
        ("praxis_retention_runs_total ", 1.0),
        ("praxis_audit_chain_valid ", 1.0),
    ] {
        let v = sample(&text, line).unwrap_or_else(|| panic!("{line} missing:\n{text}"));
        assert!(v >= at_least, "{line} = {v}");
    }
    assert!(text.trim_end().ends_with("# EOF"));
    assert!(!text.contains("BREW"), "a client's method is not a label");

    // Nothing about the person, in any form.
    let profile = &u.profile;
    let mut needles = vec![
        u.email.clone(),
        u.id.clone(),
        u.access.clone(),
        u.refresh.clone(),
        u.password.clone(),
        title.to_owned(),
        "Lefebvre".to_owned(),
    ];
    for field in ["full_name", "phone", "date_of_birth"] {
        if let Some(v) = profile[field].as_str() {
            needles.push(v.to_owned());
        }
    }
    let local = u.email.split('@').next().expect("local part").to_owned();
    needles.push(local);
    for needle in needles {
        assert!(
            !text.contains(&needle),
            "personal data in the metrics: {needle}"
        );
    }
}
