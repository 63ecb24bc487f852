//! Credentials: changing the password over the API and through the core.

use praxis_server::clock::Clock as _;
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
    let big = json!({"current_password": a.password, "new_password": "x".repeat(70 * 1024)});
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

fn mail_settings(url: String) -> praxis_server::Settings {
    praxis_server::Settings {
        mail: Some(praxis_server::mail::MailConfig {
            transport: praxis_server::mail::MailTransport::Smtp(url),
            from: "Praxis <no-reply@praxis.test>".into(),
        }),
        ..praxis_tests::test_settings()
    }
}

/// Sends a reset request; its status, body, content type and duration.
async fn ask_reset(
    s: &TestServer,
    email: &str,
) -> (u16, Vec<u8>, Option<String>, std::time::Duration) {
    let t = std::time::Instant::now();
    let r = s
        .send(
            "POST",
            "/v1/password-resets",
            None,
            Some(&json!({ "email": email })),
        )
        .await;
    (
        r.status,
        r.body.to_vec(),
        r.header("content-type").map(str::to_owned),
        t.elapsed(),
    )
}

async fn reset(s: &TestServer, email: &str, code: &str, password: &str) -> praxis_tests::Resp {
    s.send(
        "POST",
        "/v1/password-resets/confirm",
        None,
        Some(&json!({"email": email, "code": code, "new_password": password})),
    )
    .await
}

async fn password_reset_through_a_real_smtp_server(backend: praxis_tests::Backend) {
    let smtp = praxis_tests::smtp::SmtpServer::start().await;
    let Some(s) = TestServer::start_with(
        backend,
        praxis_tests::Transport::Http,
        mail_settings(smtp.url()),
    )
    .await
    else {
        return;
    };
    let a = s.user("resetter").await;
    let name = a.profile["full_name"].as_str().expect("name").to_owned();
    // Registration mailed a verification code; the address is unproved.
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, std::slice::from_ref(&a.email));
    assert!(mails[0].data.contains("confirmation code"));
    assert!(!mails[0].data.contains(&name), "no name in the mail");
    let me = s.send("GET", "/v1/me", Some(&a.access), None).await.json();
    assert_eq!(me["email_verified"], false);

    // An unverified address gets no reset code (the answer is the same).
    let (status, body, _, _) = ask_reset(&s, &a.email).await;
    assert_eq!((status, body.is_empty()), (202, true));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        smtp.received().len(),
        1,
        "no reset mail to an unproved address"
    );

    // Proving it: a wrong code, the right one, then reuse.
    let verify = mails[0].code().expect("code");
    let confirm = |code: String| {
        let s = &s;
        let token = a.access.clone();
        async move {
            s.send(
                "POST",
                "/v1/me/email-verification/confirm",
                Some(&token),
                Some(&json!({ "code": code })),
            )
            .await
        }
    };
    confirm("ZZZZ-ZZZZ".into())
        .await
        .assert_problem(400, "invalid_code")
        .assert_field("code");
    let r = confirm(verify.to_lowercase()).await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    confirm(verify.clone())
        .await
        .assert_problem(400, "invalid_code");
    let me = s.send("GET", "/v1/me", Some(&a.access), None).await.json();
    assert_eq!(me["email_verified"], true);
    // Asking again for a proved address sends nothing.
    let r = s
        .send("POST", "/v1/me/email-verification", Some(&a.access), None)
        .await;
    assert_eq!(r.status, 204);

    // Two devices signed in.
    let (phone, phone_refresh) = s.login(&a.email, &a.password).await;

    // Known and unknown addresses: the same status, body, type and speed.
    let known = ask_reset(&s, &a.email).await;
    let unknown = ask_reset(&s, "nobody.at.all@clinic-example.org").await;
    assert_eq!(
        (known.0, &known.1, &known.2),
        (unknown.0, &unknown.1, &unknown.2)
    );
    assert_eq!(known.0, 202);
    for t in [known.3, unknown.3] {
        assert!(
            t < std::time::Duration::from_millis(500),
            "{t:?}: the mail is sent off the request"
        );
    }
    let mails = smtp.wait_for(2).await;
    assert_eq!(mails.len(), 2, "one reset mail, to the known address only");
    let reset_mail = &mails[1];
    assert_eq!(reset_mail.to, std::slice::from_ref(&a.email));
    assert!(reset_mail.data.contains("15 minutes"));
    assert!(!reset_mail.data.contains(&name));
    let code = reset_mail.code().expect("code");

    // Garbage, a wrong code, another address: one answer.
    let new = "quartz-lantern-oboe-91";
    for (email, c) in [
        (a.email.as_str(), "not a code"),
        (a.email.as_str(), "ZZZZ-ZZZZ"),
        ("nobody.at.all@clinic-example.org", code.as_str()),
        ("not-an-email", code.as_str()),
    ] {
        reset(&s, email, c, new)
            .await
            .assert_problem(400, "invalid_code")
            .assert_field("code");
    }
    // A weak password does not spend the code.
    reset(&s, &a.email, &code, "password1")
        .await
        .assert_problem(422, "weak_password")
        .assert_field("new_password");
    let r = reset(&s, &a.email, &code, new).await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));

    // Every old session is dead; the old password too; the new one works.
    for t in [&a.access, &phone] {
        s.send("GET", "/v1/me", Some(t), None)
            .await
            .assert_problem(401, "unauthorized");
    }
    s.send(
        "POST",
        "/v1/sessions/refresh",
        None,
        Some(&json!({ "refresh_token": phone_refresh })),
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
    // Single use.
    reset(&s, &a.email, &code, "amber-kite-lumen-83-x")
        .await
        .assert_problem(400, "invalid_code");

    // A code expires after 15 minutes.
    assert_eq!(ask_reset(&s, &a.email).await.0, 202);
    let code = smtp.wait_for(3).await[2].code().expect("code");
    s.clock.advance(chrono::Duration::minutes(16));
    reset(&s, &a.email, &code, "amber-kite-lumen-83-x")
        .await
        .assert_problem(400, "invalid_code");

    // Five wrong tries kill a code. (A new hour: the address has had its
    // three requests.)
    assert_eq!(ask_reset(&s, &a.email).await.0, 429);
    s.clock.advance(chrono::Duration::hours(1));
    assert_eq!(ask_reset(&s, &a.email).await.0, 202);
    let code = smtp.wait_for(4).await[3].code().expect("code");
    for _ in 0..5 {
        reset(&s, &a.email, "ZZZZ-ZZZZ", "amber-kite-lumen-83-x")
            .await
            .assert_problem(400, "invalid_code");
    }
    reset(&s, &a.email, &code, "amber-kite-lumen-83-x")
        .await
        .assert_problem(400, "invalid_code");

    // A fourth request for the address this hour is refused, as it would
    // be for an address no account has.
    for _ in 0..2 {
        assert_eq!(ask_reset(&s, &a.email).await.0, 202);
    }
    let r = s
        .send(
            "POST",
            "/v1/password-resets",
            None,
            Some(&json!({"email": a.email})),
        )
        .await;
    r.assert_problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    for _ in 0..3 {
        assert_eq!(ask_reset(&s, "ghost@clinic-example.org").await.0, 202);
    }
    s.send(
        "POST",
        "/v1/password-resets",
        None,
        Some(&json!({"email": "ghost@clinic-example.org"})),
    )
    .await
    .assert_problem(429, "rate_limited");

    // Bad input.
    let r = s
        .raw(
            "POST",
            "/v1/password-resets",
            &[("content-type", "text/plain")],
            b"{}".to_vec(),
        )
        .await;
    r.assert_problem(415, "unsupported_media_type");
    s.send(
        "POST",
        "/v1/password-resets",
        None,
        Some(&json!({"email": a.email, "extra": 1})),
    )
    .await
    .assert_problem(400, "validation_failed");
    s.send(
        "POST",
        "/v1/password-resets",
        None,
        Some(&json!({"email": "not an email"})),
    )
    .await
    .assert_problem(400, "validation_failed");

    // On record.
    let user = uuid::Uuid::parse_str(&a.id).expect("id");
    let audit = s
        .state
        .store()
        .audit_of_user(user, 100)
        .await
        .expect("audit");
    for e in [
        "email_verified",
        "password_reset_requested",
        "password_reset",
    ] {
        assert!(audit.iter().any(|x| x.event == e), "{e}");
    }
    // The new password still holds after all of that.
    s.login(&a.email, new).await;

    // Expired codes leave with the retention job.
    assert!(s.count("SELECT COUNT(*) FROM email_codes").await >= 1);
    s.clock.advance(chrono::Duration::days(2));
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert!(report.codes >= 1, "{report:?}");
    assert_eq!(s.count("SELECT COUNT(*) FROM email_codes").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_end_to_end_on_sqlite() {
    password_reset_through_a_real_smtp_server(praxis_tests::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_end_to_end_on_postgres() {
    password_reset_through_a_real_smtp_server(praxis_tests::Backend::Postgres).await;
}

/// `--dev` without a mail server: each message is a file under the data
/// directory, and the retention job deletes files older than 7 days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mail_goes_to_files_that_the_retention_job_deletes() {
    let dir = tempfile::tempdir().expect("dir");
    let settings = praxis_server::Settings {
        mail: Some(praxis_server::mail::MailConfig {
            transport: praxis_server::mail::MailTransport::Files(dir.path().to_owned()),
            from: "Praxis <no-reply@localhost>".into(),
        }),
        ..praxis_tests::test_settings()
    };
    let s = TestServer::start_with(
        praxis_tests::Backend::Sqlite,
        praxis_tests::Transport::Oneshot,
        settings,
    )
    .await
    .expect("server");
    let a = s.user("devmail").await;
    let files = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while files().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let written = files();
    assert_eq!(written.len(), 1);
    let text = std::fs::read_to_string(&written[0]).expect("read");
    assert!(text.contains(&a.email) && text.contains("confirmation code"));
    let code = praxis_tests::smtp::Received {
        from: String::new(),
        to: Vec::new(),
        data: text,
    }
    .code()
    .expect("code");
    let r = s
        .send(
            "POST",
            "/v1/me/email-verification/confirm",
            Some(&a.access),
            Some(&json!({ "code": code })),
        )
        .await;
    assert_eq!(r.status, 204);

    // A day old: kept. Eight days old (by the server's clock): deleted.
    let f = std::fs::File::options()
        .write(true)
        .open(&written[0])
        .expect("open");
    let at = |days: i64| std::time::SystemTime::from(s.clock.now() - chrono::Duration::days(days));
    f.set_modified(at(1)).expect("mtime");
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!((report.mail_files, files().len()), (0, 1));
    f.set_modified(at(8)).expect("mtime");
    let report = praxis_server::jobs::run_once(&s.state).await.expect("jobs");
    assert_eq!((report.mail_files, files().len()), (1, 0));
}
