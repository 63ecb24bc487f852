//! No personal data in the server's logs: a full account run over a real
//! socket, with every log line captured (debug level, all crates), then
//! scanned for the user's email, name, phone, date of birth, password and
//! tokens. Its own test binary, because it installs the global subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

use praxis_tests::{Backend, TestServer, Transport};
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_full_account_run_hold_no_personal_data() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("sqlite server");
    let u = s.user("logscan").await;
    // Wrong password and unknown email paths log too.
    s.send(
        "POST",
        "/v1/sessions",
        None,
        Some(&json!({"email": u.email, "password": "wrong-one"})),
    )
    .await;
    s.send(
        "POST",
        "/v1/sessions",
        None,
        Some(&json!({"email": "ghost.logscan@clinic-example.org", "password": "x"})),
    )
    .await;
    // A refused registration whose fields are echoed nowhere.
    let mut bad = u.profile.clone();
    bad["phone"] = json!("+0000");
    s.send("POST", "/v1/accounts", None, Some(&bad)).await;
    s.send("GET", "/v1/me", Some(&u.access), None).await;
    let r = s
        .send(
            "PATCH",
            "/v1/me",
            Some(&u.access),
            Some(&json!({"full_name": "Renamed Logscan Person"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .send(
            "POST",
            "/v1/sessions/refresh",
            None,
            Some(&json!({"refresh_token": u.refresh})),
        )
        .await;
    let j = r.json();
    let (access2, refresh2) = (
        j["access_token"].as_str().expect("a"),
        j["refresh_token"].as_str().expect("r"),
    );
    // Reuse of the spent refresh token (a security event that is logged).
    s.send(
        "POST",
        "/v1/sessions/refresh",
        None,
        Some(&json!({"refresh_token": u.refresh})),
    )
    .await;
    let (access3, _) = s.login(&u.email, &u.password).await;
    let org_id = s.create_org(&access3, "Logscan Clinic").await;
    let code = s.join_code(&access3, &org_id).await;
    assert_eq!(
        s.send("DELETE", "/v1/sessions/current", Some(&access3), None)
            .await
            .status,
        204
    );
    drop(s);

    let logs = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf-8 logs");
    assert!(
        logs.contains("logged in") && logs.contains("refresh token reused"),
        "logs were captured:\n{logs}"
    );
    let p = &u.profile;
    let markers = [
        u.email.clone(),
        u.email.to_uppercase(),
        "ghost.logscan".to_owned(),
        p["full_name"].as_str().expect("name").to_owned(),
        "Renamed Logscan Person".to_owned(),
        p["phone"].as_str().expect("phone").to_owned(),
        "+0000".to_owned(),
        p["date_of_birth"].as_str().expect("dob").to_owned(),
        u.password.clone(),
        "wrong-one".to_owned(),
        u.access.clone(),
        u.refresh.clone(),
        access2.to_owned(),
        refresh2.to_owned(),
        access3,
        code,
        "Logscan Clinic".to_owned(),
    ];
    for m in &markers {
        assert!(
            !logs.contains(m.as_str()),
            "personal data or secret in logs: {m:?}\n{logs}"
        );
    }
}
