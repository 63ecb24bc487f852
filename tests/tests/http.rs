//! HTTP-level behaviour: problem+json for every failure, body limits,
//! content types, unknown routes, health probes and the OpenAPI document.

use praxis_server::clock::Clock as _;
use praxis_tests::{TestServer, person, suite};
use serde_json::{Value, json};

suite!(
    malformed_json_is_refused_and_changes_nothing,
    oversized_bodies_are_refused,
    wrong_content_type_is_refused,
    unknown_routes_and_methods_are_problems,
    health_and_readiness_answer,
    every_route_is_in_the_openapi_document,
    arrays_are_not_read_as_objects,
    rejections_no_handler_wrote_are_problems_too,
);

/// Regression: axum's own path rejections answered `400 text/plain`
/// (quoting the request). Every refusal is problem+json with a stable code.
async fn rejections_no_handler_wrote_are_problems_too(s: TestServer) {
    let u = s.user("paths").await;
    let before = s.fingerprint().await;
    let position = json!({"lat": 50.6, "lon": 3.06, "accuracy_m": 10.0,
        "at": s.clock.now().to_rfc3339(), "precision": "precise"});
    for path in [
        "/v1/location/shares/%ff/position",
        "/v1/location/shares/%c3%28/position",
    ] {
        let r = s.send("PUT", path, Some(&u.access), Some(&position)).await;
        r.assert_problem(400, "validation_failed");
        assert!(!String::from_utf8_lossy(&r.body).contains("%ff"));
    }
    for path in ["/v1/orgs/%ff/members/%fe", "/v1/contacts/blocks/%ff"] {
        s.send("DELETE", path, Some(&u.access), None)
            .await
            .assert_problem(400, "validation_failed");
    }
    assert_eq!(s.fingerprint().await, before);
}

/// Regression: serde's derived structs take an array field by field, so
/// `PATCH /v1/me ["x@y.org", "Name"]` changed the email and the name, and
/// `POST /v1/orgs ["Org"]` created an organisation.
async fn arrays_are_not_read_as_objects(s: TestServer) {
    let u = s.user("arrays").await;
    let before = s.fingerprint().await;
    let calls: [(&str, &str, Value); 5] = [
        (
            "PATCH",
            "/v1/me",
            json!(["x@clinic-example.org", "Someone Else"]),
        ),
        ("POST", "/v1/orgs", json!(["Org"])),
        ("POST", "/v1/orgs", json!([])),
        ("POST", "/v1/sync/pull", json!([])),
        ("POST", "/v1/sync/push", json!(["c", []])),
    ];
    for (method, path, body) in calls {
        s.send(method, path, Some(&u.access), Some(&body))
            .await
            .assert_problem(400, "validation_failed")
            .assert_field("body");
    }
    let r = s
        .send(
            "POST",
            "/v1/sessions",
            None,
            Some(&json!([u.email, u.password])),
        )
        .await;
    r.assert_problem(400, "validation_failed");
    assert_eq!(s.fingerprint().await, before, "a refused body changed data");
}

async fn malformed_json_is_refused_and_changes_nothing(s: TestServer) {
    let before = s.fingerprint().await;
    for body in [
        &b"{"[..],
        b"not json",
        b"{\"email\": }",
        b"",
        b"[1,2",
        b"\xff\xfe",
    ] {
        s.raw(
            "POST",
            "/v1/accounts",
            &[("content-type", "application/json")],
            body.to_vec(),
        )
        .await
        .assert_problem(400, "malformed_json");
    }
    // Valid JSON of the wrong shape is a validation error.
    for body in [json!([]), json!("x"), json!(null), json!(42)] {
        s.send("POST", "/v1/sessions", None, Some(&body))
            .await
            .assert_problem(400, "validation_failed");
    }
    assert_eq!(s.fingerprint().await, before);
}

async fn oversized_bodies_are_refused(s: TestServer) {
    let before = s.fingerprint().await;
    let mut body = person("big");
    body["full_name"] = json!("x".repeat(70 * 1024));
    s.send("POST", "/v1/accounts", None, Some(&body))
        .await
        .assert_problem(413, "payload_too_large");
    assert_eq!(s.fingerprint().await, before);
}

async fn wrong_content_type_is_refused(s: TestServer) {
    let before = s.fingerprint().await;
    let body = serde_json::to_vec(&person("ct")).expect("json");
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("content-type", c)).into_iter().collect();
        s.raw("POST", "/v1/accounts", &headers, body.clone())
            .await
            .assert_problem(415, "unsupported_media_type");
    }
    assert_eq!(s.fingerprint().await, before);
    // A charset parameter is fine.
    let r = s
        .raw(
            "POST",
            "/v1/accounts",
            &[("content-type", "application/json; charset=utf-8")],
            body,
        )
        .await;
    assert_eq!(r.status, 201);
}

async fn unknown_routes_and_methods_are_problems(s: TestServer) {
    s.send("GET", "/v1/nothing-here", None, None)
        .await
        .assert_problem(404, "not_found");
    s.send("GET", "/", None, None)
        .await
        .assert_problem(404, "not_found");
    s.send("PUT", "/v1/accounts", None, None)
        .await
        .assert_problem(405, "method_not_allowed");
    s.send("GET", "/v1/sessions/refresh", None, None)
        .await
        .assert_problem(405, "method_not_allowed");
}

async fn health_and_readiness_answer(s: TestServer) {
    let h = s.send("GET", "/healthz", None, None).await;
    assert_eq!((h.status, h.json()), (200, json!({"status": "ok"})));
    let r = s.send("GET", "/readyz", None, None).await;
    assert_eq!((r.status, r.json()), (200, json!({"status": "ready"})));
}

/// The wire contract of DESIGN.md §8 plus the routes this server adds.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/accounts"),
    ("post", "/v1/sessions"),
    ("post", "/v1/sessions/refresh"),
    ("delete", "/v1/sessions/current"),
    ("get", "/v1/me"),
    ("patch", "/v1/me"),
    ("delete", "/v1/me"),
    ("post", "/v1/sessions/reauth"),
    ("get", "/v1/sessions"),
    ("put", "/v1/me/password"),
    ("post", "/v1/password-resets"),
    ("post", "/v1/password-resets/confirm"),
    ("post", "/v1/me/email-verification"),
    ("post", "/v1/me/email-verification/confirm"),
    ("delete", "/v1/sessions"),
    ("delete", "/v1/sessions/{id}"),
    ("post", "/v1/orgs"),
    ("get", "/v1/orgs"),
    ("get", "/v1/orgs/{org_id}"),
    ("patch", "/v1/orgs/{org_id}"),
    ("post", "/v1/orgs/{org_id}/join-codes"),
    ("post", "/v1/orgs/join"),
    ("get", "/v1/orgs/{org_id}/members"),
    ("patch", "/v1/orgs/{org_id}/members/{user_id}"),
    ("delete", "/v1/orgs/{org_id}/members/{user_id}"),
    ("get", "/v1/orgs/{org_id}/join-codes"),
    ("delete", "/v1/orgs/{org_id}/join-codes/{code_id}"),
    ("post", "/v1/sync/push"),
    ("post", "/v1/sync/pull"),
    ("get", "/v1/sync/changes"),
    ("post", "/v1/devices/push-token"),
    ("delete", "/v1/devices/push-token"),
    ("get", "/v1/me/privacy"),
    ("get", "/v1/privacy/notice"),
    ("put", "/v1/me/restriction"),
    ("delete", "/v1/me/location-data"),
    ("get", "/v1/me/objections"),
    ("get", "/v1/me/post-mortem"),
    ("put", "/v1/me/post-mortem"),
    ("delete", "/v1/me/post-mortem"),
    ("put", "/v1/me/objections"),
    ("get", "/v1/orgs/{org_id}/location-policy"),
    ("patch", "/v1/orgs/{org_id}/location-policy"),
    ("get", "/v1/orgs/{org_id}/location-policy/changes"),
    ("put", "/v1/orgs/{org_id}/members/{user_id}/location"),
    ("post", "/v1/location/shares"),
    ("get", "/v1/location/shares"),
    ("delete", "/v1/location/shares/{share_id}"),
    ("put", "/v1/location/shares/{share_id}/position"),
    ("get", "/v1/location/shared-with-me"),
    ("get", "/v1/me/audit"),
    ("get", "/v1/me/export"),
    ("get", "/v1/orgs/{org_id}/audit"),
    ("get", "/v1/contacts/card"),
    ("put", "/v1/contacts/card"),
    ("get", "/v1/contacts/signing-key"),
    ("post", "/v1/contacts/invitations"),
    ("post", "/v1/contacts/invitations/preview"),
    ("post", "/v1/contacts/invitations/accept"),
    ("post", "/v1/contacts/invitations/decline"),
    ("get", "/v1/contacts/{owner_id}"),
    ("delete", "/v1/contacts/connections/{user_id}"),
    ("get", "/v1/contacts/holders"),
    ("delete", "/v1/contacts/holders/{holder_id}"),
    ("post", "/v1/contacts/forward"),
    ("post", "/v1/contacts/blocks"),
    ("delete", "/v1/contacts/blocks/{user_id}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
];

async fn every_route_is_in_the_openapi_document(s: TestServer) {
    let r = s.send("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1"
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    // And every documented operation is served: called bare (no token, no
    // body) it answers with its own checks, never the router's 404/405.
    let mut operations = 0;
    for (path, item) in paths {
        for (method, _) in item.as_object().expect("path item") {
            let concrete = path
                .replace("{org_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{user_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{share_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{owner_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{holder_id}", &uuid::Uuid::new_v4().to_string())
                .replace("{code_id}", "AAAA")
                .replace("{id}", &uuid::Uuid::new_v4().to_string());
            let r = s.send(&method.to_uppercase(), &concrete, None, None).await;
            assert!(
                ![404, 405].contains(&r.status),
                "{method} {path} is documented but not served ({})",
                r.status
            );
            operations += 1;
        }
    }
    assert_eq!(
        operations,
        ROUTES.len(),
        "documented operations and the route list differ"
    );
    // Problem responses reference the shared schema.
    let schemas = &doc["components"]["schemas"];
    assert!(schemas.get("Problem").is_some() && schemas.get("RegisterRequest").is_some());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        Value::from("bearer")
    );
}

/// Every error answer of every operation is declared, as problem+json:
/// 401 on secured operations, 400/413/415 where a body is read, 400 where
/// a path parameter is parsed, and 408/500/503 everywhere (the answers the
/// extractors and layers give to any route). Regression: most operations
/// omitted them, so generated clients broke on errors.
#[test]
fn every_refusal_is_declared_as_problem_json() {
    let doc = serde_json::to_value(praxis_server::openapi()).expect("json");
    let mut wrong = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let responses = op["responses"].as_object().expect("responses");
            let mut need = vec!["408", "500", "503"];
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                need.push("401");
            }
            if op.get("requestBody").is_some() {
                need.extend(["400", "413", "415"]);
            }
            if path.contains('{') {
                need.push("400");
            }
            for status in need {
                if !responses.contains_key(status) {
                    wrong.push(format!("{method} {path}: no {status}"));
                }
            }
            for (status, r) in responses {
                if status.as_str() >= "400" {
                    let types: Vec<&String> = r["content"]
                        .as_object()
                        .map(|c| c.keys().collect())
                        .unwrap_or_default();
                    if types != ["application/problem+json"] {
                        wrong.push(format!("{method} {path} {status}: {types:?}"));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
