//! Accounts and sessions, on every backend and transport.

use chrono::Duration;
use praxis_tests::{TestServer, person, suite};
use serde_json::{Value, json};

suite!(
    register_login_and_read_profile,
    registration_refuses_bad_fields_and_changes_nothing,
    registration_refuses_minors_to_the_day,
    registration_refuses_weak_common_and_personal_passwords,
    duplicate_email_in_another_case_is_refused,
    wrong_password_and_unknown_email_get_the_same_answer,
    login_is_throttled_per_email_with_retry_after,
    refresh_rotates_and_reuse_revokes_the_family,
    expired_tokens_are_refused,
    logout_ends_only_this_session,
    bearer_token_must_be_present_and_live,
    profile_rectification_validates_every_field,
    database_holds_no_plaintext_password_or_token,
    parallel_registrations_of_one_email_create_one_account,
    parallel_wrong_passwords_are_checked_at_most_the_free_attempts,
    anonymous_failures_leave_nothing_behind_after_a_day,
);

async fn register_login_and_read_profile(s: TestServer) {
    let mut body = person("reg");
    let email = body["email"].as_str().expect("email").to_owned();
    body["email"] = json!(format!("  {}  ", email.to_uppercase()));
    let id = s.register(&body).await;
    let r = s
        .send(
            "POST",
            "/v1/sessions",
            None,
            Some(&json!({"email": email, "password": body["password"]})),
        )
        .await;
    assert_eq!(r.status, 200);
    let tokens = r.json();
    assert_eq!(tokens["expires_in"], 900);
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(access.len(), 43, "256-bit base64url token");
    assert_ne!(tokens["access_token"], tokens["refresh_token"]);

    let me = s.send("GET", "/v1/me", Some(access), None).await;
    assert_eq!(me.status, 200);
    let p = me.json();
    assert_eq!(p["user_id"], id);
    assert_eq!(p["email"], email, "email stored normalised");
    for f in [
        "full_name",
        "phone",
        "country",
        "language",
        "profession",
        "date_of_birth",
    ] {
        assert_eq!(p[f], body[f], "{f}");
    }
    let text = String::from_utf8_lossy(&me.body);
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
}

async fn registration_refuses_bad_fields_and_changes_nothing(s: TestServer) {
    let before = s.fingerprint().await;
    let long = "x".repeat(201);
    let cases: &[(&str, Value)] = &[
        ("email", json!("not-an-email")),
        ("email", json!("two@@example.org")),
        ("email", json!("nodomain@localhost")),
        ("phone", json!("0612345678")),
        ("phone", json!("+33 6 12 34 56 78")),
        ("phone", json!("+999123")),
        ("country", json!("XX")),
        ("country", json!("France")),
        ("language", json!("not a tag")),
        ("language", json!("")),
        ("date_of_birth", json!("1985-13-01")),
        ("date_of_birth", json!("12/04/1985")),
        ("date_of_birth", json!("2030-01-01")),
        ("full_name", json!("   ")),
        ("full_name", json!(long)),
        ("profession", json!("")),
    ];
    for (field, value) in cases {
        let mut body = person("bad");
        body[*field] = value.clone();
        let r = s.send("POST", "/v1/accounts", None, Some(&body)).await;
        r.assert_problem(400, "validation_failed")
            .assert_field(field);
        let text = String::from_utf8_lossy(&r.body);
        if let Some(v) = value.as_str().filter(|v| v.len() > 3) {
            assert!(!text.contains(v), "problem echoes the value: {text}");
        }
    }
    // Wrong JSON types and missing fields name the field too.
    let mut body = person("bad");
    body["phone"] = json!(33612345678u64);
    s.send("POST", "/v1/accounts", None, Some(&body))
        .await
        .assert_problem(400, "validation_failed")
        .assert_field("phone");
    let mut body = person("bad");
    body.as_object_mut()
        .expect("object")
        .remove("date_of_birth");
    s.send("POST", "/v1/accounts", None, Some(&body))
        .await
        .assert_problem(400, "validation_failed")
        .assert_field("date_of_birth");
    let mut body = person("bad");
    body["role"] = json!("admin");
    s.send("POST", "/v1/accounts", None, Some(&body))
        .await
        .assert_problem(400, "validation_failed")
        .assert_field("role");
    assert_eq!(
        s.fingerprint().await,
        before,
        "refused registrations changed the database"
    );
}

async fn registration_refuses_minors_to_the_day(s: TestServer) {
    // The clock says 2026-11-21.
    let before = s.fingerprint().await;
    for dob in ["2008-11-22", "2010-01-01", "2026-11-21"] {
        let mut body = person("minor");
        body["date_of_birth"] = json!(dob);
        let r = s.send("POST", "/v1/accounts", None, Some(&body)).await;
        if dob == "2026-11-21" {
            r.assert_problem(422, "too_young");
        } else {
            r.assert_problem(422, "too_young")
                .assert_field("date_of_birth");
        }
    }
    assert_eq!(s.fingerprint().await, before);
    let mut body = person("adult");
    body["date_of_birth"] = json!("2008-11-21");
    s.register(&body).await;
}

async fn registration_refuses_weak_common_and_personal_passwords(s: TestServer) {
    let before = s.fingerprint().await;
    let mut base = person("pw");
    base["full_name"] = json!("Jeanne Dupont-Marchetti");
    let email = base["email"].as_str().expect("email").to_owned();
    for pw in [
        "short".to_owned(),
        "password123".to_owned(),
        "iloveyou2024".to_owned(),
        "qwertyuiop".to_owned(),
        "x".repeat(129),
        email.clone(),
        "JeanneDupontMarchetti".to_owned(),
    ] {
        let mut body = base.clone();
        body["password"] = json!(pw);
        let r = s.send("POST", "/v1/accounts", None, Some(&body)).await;
        assert_eq!(r.status, 422, "accepted as strong: {pw}");
        r.assert_problem(422, "weak_password")
            .assert_field("password");
        assert!(!String::from_utf8_lossy(&r.body).contains(&pw));
    }
    assert_eq!(s.fingerprint().await, before);
}

async fn duplicate_email_in_another_case_is_refused(s: TestServer) {
    let first = person("dup");
    s.register(&first).await;
    let before = s.fingerprint().await;
    let mut second = person("dup2");
    second["email"] = json!(first["email"].as_str().expect("email").to_uppercase());
    s.send("POST", "/v1/accounts", None, Some(&second))
        .await
        .assert_problem(409, "email_taken")
        .assert_field("email");
    assert_eq!(s.fingerprint().await, before);
}

async fn wrong_password_and_unknown_email_get_the_same_answer(s: TestServer) {
    let u = s.user("cred").await;
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..4 {
        // Step past any throttle lock so every attempt is really checked.
        s.clock.advance(Duration::minutes(16));
        let t = std::time::Instant::now();
        let a = s
            .send(
                "POST",
                "/v1/sessions",
                None,
                Some(&json!({"email": u.email, "password": format!("nope-{i}")})),
            )
            .await;
        wrong.push(t.elapsed());
        let t = std::time::Instant::now();
        let b = s
            .send(
                "POST",
                "/v1/sessions",
                None,
                Some(&json!({"email": format!("ghost{i}@clinic-example.org"), "password": "nope"})),
            )
            .await;
        unknown.push(t.elapsed());
        a.assert_problem(401, "invalid_credentials");
        b.assert_problem(401, "invalid_credentials");
        assert_eq!(a.body, b.body, "bodies differ");
        assert_eq!(a.header("www-authenticate"), b.header("www-authenticate"));
    }
    // Both paths run one argon2 verification; a missing one would be a
    // difference of an order of magnitude.
    wrong.sort();
    unknown.sort();
    let (w, n) = (wrong[2].as_secs_f64(), unknown[2].as_secs_f64());
    assert!(
        w / n < 4.0 && n / w < 4.0,
        "median timings differ: wrong {w:.4}s, unknown {n:.4}s"
    );
}

async fn login_is_throttled_per_email_with_retry_after(s: TestServer) {
    let u = s.user("thr").await;
    let bad = json!({"email": u.email, "password": "wrong-password"});
    for _ in 0..3 {
        s.send("POST", "/v1/sessions", None, Some(&bad))
            .await
            .assert_problem(401, "invalid_credentials");
    }
    // Locked now: even the right password is refused until the wait ends.
    let good = json!({"email": u.email.to_uppercase(), "password": u.password});
    let r = s.send("POST", "/v1/sessions", None, Some(&good)).await;
    r.assert_problem(429, "rate_limited");
    assert_eq!(r.header("retry-after"), Some("1"));
    // Unknown emails are throttled the same way.
    let ghost = json!({"email": "ghost-thr@clinic-example.org", "password": "x"});
    for _ in 0..3 {
        s.send("POST", "/v1/sessions", None, Some(&ghost))
            .await
            .assert_problem(401, "invalid_credentials");
    }
    s.send("POST", "/v1/sessions", None, Some(&ghost))
        .await
        .assert_problem(429, "rate_limited");
    // Each further failure doubles the wait.
    s.clock.advance(Duration::seconds(2));
    s.send("POST", "/v1/sessions", None, Some(&bad))
        .await
        .assert_problem(401, "invalid_credentials");
    let r = s.send("POST", "/v1/sessions", None, Some(&good)).await;
    r.assert_problem(429, "rate_limited");
    assert_eq!(r.header("retry-after"), Some("2"));
    s.clock.advance(Duration::seconds(3));
    let r = s.send("POST", "/v1/sessions", None, Some(&good)).await;
    assert_eq!(r.status, 200);
    // Success clears the streak: three more failures are allowed again.
    for _ in 0..3 {
        s.send("POST", "/v1/sessions", None, Some(&bad))
            .await
            .assert_problem(401, "invalid_credentials");
    }
}

async fn refresh_rotates_and_reuse_revokes_the_family(s: TestServer) {
    let u = s.user("rot").await;
    let (other_access, _) = s.login(&u.email, &u.password).await;
    let r = s
        .send(
            "POST",
            "/v1/sessions/refresh",
            None,
            Some(&json!({"refresh_token": u.refresh})),
        )
        .await;
    assert_eq!(r.status, 200);
    let j = r.json();
    let (access2, refresh2) = (
        j["access_token"].as_str().expect("a"),
        j["refresh_token"].as_str().expect("r"),
    );
    assert_ne!(refresh2, u.refresh);
    assert_eq!(
        s.send("GET", "/v1/me", Some(access2), None).await.status,
        200
    );
    // The superseded access token stops working at rotation.
    s.send("GET", "/v1/me", Some(&u.access), None)
        .await
        .assert_problem(401, "unauthorized");

    // Replaying the spent refresh token: refused, and the whole family ends.
    s.send(
        "POST",
        "/v1/sessions/refresh",
        None,
        Some(&json!({"refresh_token": u.refresh})),
    )
    .await
    .assert_problem(401, "unauthorized");
    s.send("GET", "/v1/me", Some(access2), None)
        .await
        .assert_problem(401, "unauthorized");
    s.send(
        "POST",
        "/v1/sessions/refresh",
        None,
        Some(&json!({"refresh_token": refresh2})),
    )
    .await
    .assert_problem(401, "unauthorized");
    // Another login of the same account is a different family: untouched.
    assert_eq!(
        s.send("GET", "/v1/me", Some(&other_access), None)
            .await
            .status,
        200
    );
    // Garbage tokens are simply refused.
    s.send(
        "POST",
        "/v1/sessions/refresh",
        None,
        Some(&json!({"refresh_token": "garbage"})),
    )
    .await
    .assert_problem(401, "unauthorized");
}

async fn expired_tokens_are_refused(s: TestServer) {
    let u = s.user("exp").await;
    s.clock.advance(Duration::minutes(14));
    assert_eq!(
        s.send("GET", "/v1/me", Some(&u.access), None).await.status,
        200
    );
    s.clock.advance(Duration::minutes(2));
    let r = s.send("GET", "/v1/me", Some(&u.access), None).await;
    r.assert_problem(401, "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    // The refresh token still works and yields a live access token.
    let r = s
        .send(
            "POST",
            "/v1/sessions/refresh",
            None,
            Some(&json!({"refresh_token": u.refresh})),
        )
        .await;
    assert_eq!(r.status, 200);
    let refresh2 = r.json()["refresh_token"].as_str().expect("r").to_owned();
    // Refresh tokens expire too (30 days).
    s.clock.advance(Duration::days(31));
    s.send(
        "POST",
        "/v1/sessions/refresh",
        None,
        Some(&json!({"refresh_token": refresh2})),
    )
    .await
    .assert_problem(401, "unauthorized");
}

async fn logout_ends_only_this_session(s: TestServer) {
    let u = s.user("out").await;
    let (access2, _) = s.login(&u.email, &u.password).await;
    let r = s
        .send("DELETE", "/v1/sessions/current", Some(&u.access), None)
        .await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    s.send("GET", "/v1/me", Some(&u.access), None)
        .await
        .assert_problem(401, "unauthorized");
    s.send(
        "POST",
        "/v1/sessions/refresh",
        None,
        Some(&json!({"refresh_token": u.refresh})),
    )
    .await
    .assert_problem(401, "unauthorized");
    s.send("DELETE", "/v1/sessions/current", Some(&u.access), None)
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(
        s.send("GET", "/v1/me", Some(&access2), None).await.status,
        200
    );
}

async fn bearer_token_must_be_present_and_live(s: TestServer) {
    let u = s.user("bearer").await;
    s.send("GET", "/v1/me", None, None)
        .await
        .assert_problem(401, "unauthorized");
    for h in [
        format!("Token {}", u.access),
        "Bearer ".to_owned(),
        "Bearer garbage".to_owned(),
        u.access.clone(),
    ] {
        s.raw("GET", "/v1/me", &[("authorization", h.as_str())], vec![])
            .await
            .assert_problem(401, "unauthorized");
    }
    // A refresh token is not an access token.
    s.send("GET", "/v1/me", Some(&u.refresh), None)
        .await
        .assert_problem(401, "unauthorized");
}

async fn profile_rectification_validates_every_field(s: TestServer) {
    let u = s.user("rect").await;
    let other = s.user("other").await;
    let changes = json!({
        "email": "Rectified.Address@clinic-example.org",
        "full_name": "Dr Rectified Name",
        "phone": "+14155552671",
        "country": "us",
        "language": "en-US",
        "profession": "physiotherapist",
        "date_of_birth": "1979-02-28",
    });
    // The login email is a credential: changing it needs the password
    // re-entered (regression: it did not, and answered email_taken at
    // once), and ends every other session.
    let before = s.fingerprint().await;
    s.send("PATCH", "/v1/me", Some(&u.access), Some(&changes))
        .await
        .assert_problem(403, "reauth_required");
    s.send(
        "PATCH",
        "/v1/me",
        Some(&u.access),
        Some(&json!({"email": other.email})),
    )
    .await
    .assert_problem(403, "reauth_required");
    assert_eq!(s.fingerprint().await, before);
    let (other_device, _) = s.login(&u.email, &u.password).await;
    let r = s
        .send(
            "POST",
            "/v1/sessions/reauth",
            Some(&u.access),
            Some(&json!({"password": u.password})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    let r = s
        .send("PATCH", "/v1/me", Some(&u.access), Some(&changes))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let p = r.json();
    s.send("GET", "/v1/me", Some(&other_device), None)
        .await
        .assert_problem(401, "unauthorized");
    let audit = s.send("GET", "/v1/me/audit", Some(&u.access), None).await;
    assert!(
        String::from_utf8_lossy(&audit.body).contains("email_changed"),
        "audited"
    );
    assert_eq!(p["email"], "rectified.address@clinic-example.org");
    assert_eq!(p["country"], "US");
    for f in [
        "full_name",
        "phone",
        "language",
        "profession",
        "date_of_birth",
    ] {
        assert_eq!(p[f], changes[f], "{f}");
    }
    assert_eq!(
        s.send("GET", "/v1/me", Some(&u.access), None).await.json(),
        p
    );
    s.login("rectified.address@clinic-example.org", &u.password)
        .await;

    let before = s.fingerprint().await;
    for (field, value, status, code) in [
        (
            "email",
            json!(other.email.to_uppercase()),
            409,
            "email_taken",
        ),
        ("email", json!("broken"), 400, "validation_failed"),
        ("phone", json!("12"), 400, "validation_failed"),
        ("country", json!("ZZ"), 400, "validation_failed"),
        ("language", json!("@@"), 400, "validation_failed"),
        ("full_name", json!(""), 400, "validation_failed"),
        ("date_of_birth", json!("2015-01-01"), 422, "too_young"),
        ("password_hash", json!("x"), 400, "validation_failed"),
        ("user_id", json!(other.id), 400, "validation_failed"),
    ] {
        s.send(
            "PATCH",
            "/v1/me",
            Some(&u.access),
            Some(&json!({ field: value })),
        )
        .await
        .assert_problem(status, code)
        .assert_field(field);
    }
    s.send("PATCH", "/v1/me", None, Some(&json!({"full_name": "X"})))
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(s.fingerprint().await, before);
}

async fn database_holds_no_plaintext_password_or_token(s: TestServer) {
    let u = s.user("secret").await;
    let r = s
        .send(
            "POST",
            "/v1/sessions/refresh",
            None,
            Some(&json!({"refresh_token": u.refresh})),
        )
        .await;
    let j = r.json();
    let admin_access = j["access_token"].as_str().expect("a").to_owned();
    let org_id = s.create_org(&admin_access, "Clinic").await;
    let code = s.join_code(&admin_access, &org_id).await;
    let secrets = [
        u.password.clone(),
        u.access.clone(),
        u.refresh.clone(),
        admin_access.clone(),
        j["refresh_token"].as_str().expect("r").to_owned(),
        code,
    ];
    let dump = s.fingerprint().await;
    assert!(
        dump.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "password stored as argon2id"
    );
    let raw = s.sqlite_file_bytes().unwrap_or_default();
    for secret in &secrets {
        assert!(
            !dump.contains(secret.as_str()),
            "a secret is stored in clear"
        );
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret is in the database file"
        );
    }
}

async fn parallel_registrations_of_one_email_create_one_account(s: TestServer) {
    let s = std::sync::Arc::new(s);
    let base = person("race");
    let email = base["email"].as_str().expect("email").to_owned();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = std::sync::Arc::clone(&s);
        let mut body = person("race");
        body["email"] = json!(if i % 2 == 0 {
            email.clone()
        } else {
            email.to_uppercase()
        });
        tasks.push(tokio::spawn(async move {
            s.send("POST", "/v1/accounts", None, Some(&body)).await
        }));
    }
    let mut created = 0;
    for t in tasks {
        let r = t.await.expect("task");
        match r.status {
            201 => created += 1,
            409 => assert_eq!(r.code().as_deref(), Some("email_taken")),
            other => panic!(
                "unexpected status {other}: {}",
                String::from_utf8_lossy(&r.body)
            ),
        }
    }
    assert_eq!(created, 1);
    let n = s.count("SELECT COUNT(*) FROM users").await;
    assert_eq!(n, 1);
}

/// Regression: login read the failure streak, hashed for ~50 ms, then
/// recorded the failure, so parallel guesses for one email were all
/// checked. Attempts are now reserved atomically before the hash: however
/// many arrive at once, only the free ones are checked (the rest wait), for
/// a known email and an unknown one alike, and for reauthentication too.
async fn parallel_wrong_passwords_are_checked_at_most_the_free_attempts(s: TestServer) {
    let s = std::sync::Arc::new(s);
    let u = s.user("par").await;
    for email in [u.email.clone(), "ghost-par@clinic-example.org".to_owned()] {
        let mut tasks = Vec::new();
        for i in 0..12 {
            let s = std::sync::Arc::clone(&s);
            let body = json!({"email": email, "password": format!("wrong-guess-{i}")});
            tasks.push(tokio::spawn(async move {
                s.send("POST", "/v1/sessions", None, Some(&body)).await
            }));
        }
        let (mut checked, mut refused) = (0, 0);
        for t in tasks {
            let r = t.await.expect("task");
            match r.code().as_deref() {
                Some("invalid_credentials") => checked += 1,
                Some("rate_limited") => {
                    assert!(r.header("retry-after").is_some());
                    refused += 1;
                }
                other => panic!("unexpected answer {other:?}"),
            }
        }
        assert_eq!(
            (checked, refused),
            (3, 9),
            "only the free failures are checked"
        );
    }
    // Reauthentication reserves its attempts the same way.
    let other = s.user("par2").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = std::sync::Arc::clone(&s);
        let token = other.access.clone();
        let body = json!({"password": format!("wrong-guess-{i}")});
        tasks.push(tokio::spawn(async move {
            s.send("POST", "/v1/sessions/reauth", Some(&token), Some(&body))
                .await
        }));
    }
    let mut checked = 0;
    for t in tasks {
        if t.await.expect("task").code().as_deref() == Some("invalid_credentials") {
            checked += 1;
        }
    }
    assert_eq!(checked, 3, "reauth checks only the free attempts too");
}

/// Regression: every failed login wrote an audit row (about no one, for an
/// unknown email) and a throttle row that nothing purged, so anonymous
/// traffic grew the database without bound. Unknown-email failures now
/// leave no audit row, and the retention job deletes throttle streaks past
/// their 24-hour reset (and old rate-limit windows).
async fn anonymous_failures_leave_nothing_behind_after_a_day(s: TestServer) {
    let before = s.fingerprint().await;
    for i in 0..5 {
        let body = json!({"email": format!("ghost-{i}@clinic-example.org"), "password": "x-guess"});
        s.send("POST", "/v1/sessions", None, Some(&body))
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_ne!(s.fingerprint().await, before, "the throttle counted them");
    s.clock.advance(Duration::hours(25));
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!(report.counters, 5);
    assert_eq!(
        s.fingerprint().await,
        before,
        "no audit row and no throttle row are left"
    );
}

/// Regression (security review): registration had no per-client limit, so
/// one client could create accounts (and argon2 work) without end. Over a
/// real socket, a client past its hourly budget gets `429` with
/// `Retry-After` before any work, and nothing is written; another client
/// address is unaffected (counted apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_limited_per_client() {
    let settings = praxis_server::Settings {
        registrations_per_client_per_hour: 3,
        ..praxis_server::Settings::default()
    };
    let s = TestServer::start_with(
        praxis_tests::Backend::Sqlite,
        praxis_tests::Transport::Http,
        settings,
    )
    .await
    .expect("sqlite");
    for i in 0..3 {
        let r = s
            .send(
                "POST",
                "/v1/accounts",
                None,
                Some(&person(&format!("limit{i}"))),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let before = s.fingerprint().await;
    let r = s
        .send("POST", "/v1/accounts", None, Some(&person("limit3")))
        .await;
    r.assert_problem(429, "rate_limited");
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&wait), "{wait}");
    assert_eq!(s.fingerprint().await, before, "nothing written");
    // Another client address (127.0.0.2) has its own budget.
    let other = praxis_tests::http_client_builder()
        .local_address(Some("127.0.0.2".parse().expect("ip")))
        .build()
        .expect("client");
    let r = other
        .post(format!("{}/v1/accounts", s.base_url().expect("url")))
        .json(&person("limit4"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
}
