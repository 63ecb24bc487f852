//! Objections to processing on legitimate interest (GDPR Art. 21): the
//! register lists that processing, an objection to the connection log
//! stops it (and clears what was kept), an objection to what rests on
//! compelling grounds is recorded and answered with why it goes on.

use praxis_tests::{TestServer, TestUser, suite};
use serde_json::{Value, json};

suite!(an_objection_stops_the_connection_log_and_says_what_continues);

async fn sessions(s: &TestServer, u: &TestUser) -> Vec<Value> {
    let r = s.send("GET", "/v1/sessions", Some(&u.access), None).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    v["sessions"]
        .as_array()
        .or_else(|| v.as_array())
        .expect("sessions")
        .clone()
}

/// Five minutes later, the session's refresh token is spent for new
/// tokens (a use of the session).
async fn refresh(s: &TestServer, u: &mut TestUser) {
    s.clock.advance(chrono::Duration::minutes(5));
    let r = s
        .send(
            "POST",
            "/v1/sessions/refresh",
            None,
            Some(&json!({"refresh_token": u.refresh})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let tokens = r.json();
    u.access = tokens["access_token"].as_str().expect("access").to_owned();
    u.refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
}

async fn login_entries(s: &TestServer, u: &TestUser) -> usize {
    let r = s.send("GET", "/v1/me/audit", Some(&u.access), None).await;
    r.json()
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["event"] == "login_succeeded")
        .count()
}

async fn an_objection_stops_the_connection_log_and_says_what_continues(s: TestServer) {
    let mut u = s.user("objector").await;
    let listed = s
        .send("GET", "/v1/me/objections", Some(&u.access), None)
        .await;
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    let bases: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|o| o["basis"].as_str().expect("basis"))
        .collect();
    assert!(bases.contains(&"connection_log") && bases.contains(&"account_security"));
    assert!(
        listed
            .as_array()
            .expect("list")
            .iter()
            .all(|o| o["objected"] == false)
    );

    // Refresh once: the session's last use is recorded.
    refresh(&s, &mut u).await;
    let before = sessions(&s, &u).await;
    assert_ne!(before[0]["last_used_at"], before[0]["created_at"]);
    let logins = login_entries(&s, &u).await;
    assert!(logins >= 1);

    // Unknown basis: refused, nothing recorded.
    s.send(
        "PUT",
        "/v1/me/objections",
        Some(&u.access),
        Some(&json!({"basis": "everything", "objected": true})),
    )
    .await
    .assert_problem(400, "validation_failed");

    let r = s
        .send(
            "PUT",
            "/v1/me/objections",
            Some(&u.access),
            Some(&json!({"basis": "connection_log", "objected": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let answer = r.json();
    assert_eq!(answer["objected"], true);
    assert!(answer["stops"].as_array().is_some_and(|a| !a.is_empty()));
    // What was kept is cleared; later use is not recorded; neither are
    // later successful sign-ins.
    let after = sessions(&s, &u).await;
    assert_eq!(after[0]["last_used_at"], after[0]["created_at"]);
    refresh(&s, &mut u).await;
    let after = sessions(&s, &u).await;
    assert_eq!(after[0]["last_used_at"], after[0]["created_at"]);
    let (access, _) = s
        .login(u.profile["email"].as_str().expect("email"), &u.password)
        .await;
    u.access = access;
    assert_eq!(login_entries(&s, &u).await, logins, "no new sign-in entry");

    // Security rests on compelling grounds: the objection is recorded and
    // the answer says why it goes on.
    let r = s
        .send(
            "PUT",
            "/v1/me/objections",
            Some(&u.access),
            Some(&json!({"basis": "account_security", "objected": true})),
        )
        .await;
    assert_eq!(r.status, 200);
    let answer = r.json();
    assert_eq!(answer["objected"], true);
    assert_eq!(answer["stops"], json!([]));
    assert!(
        answer["continues"]
            .as_str()
            .is_some_and(|w| w.contains("Art. 21(1)")),
        "{answer}"
    );

    // Withdrawn: recording resumes.
    let r = s
        .send(
            "PUT",
            "/v1/me/objections",
            Some(&u.access),
            Some(&json!({"basis": "connection_log", "objected": false})),
        )
        .await;
    assert_eq!(r.json()["objected"], false);
    let (access, _) = s
        .login(u.profile["email"].as_str().expect("email"), &u.password)
        .await;
    u.access = access;
    assert_eq!(login_entries(&s, &u).await, logins + 1);
    let doc = s
        .send("GET", "/v1/me/export", Some(&u.access), None)
        .await
        .json();
    let objections = doc["objections"].as_array().expect("objections");
    assert_eq!(objections.len(), 1, "{objections:?}");
    assert_eq!(objections[0]["basis"], "account_security");
}

/// Every table whose legal basis is legitimate interest (Art. 6(1)(f)) is
/// named by an entry of `legitimate_interests`, and every entry either
/// stops something or says why it continues.
#[test]
fn the_register_lists_every_processing_on_legitimate_interest() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/processing-register.json"
    );
    let reg: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("register")).expect("json");
    let interests = reg["legitimate_interests"].as_array().expect("interests");
    let named: Vec<String> = interests
        .iter()
        .flat_map(|i| i["where"].as_array().expect("where").iter())
        .map(|w| {
            w.as_str()
                .expect("str")
                .split(['.', ' '])
                .next()
                .expect("table")
                .to_owned()
        })
        .collect();
    let mut missing = Vec::new();
    for (table, entry) in reg["tables"].as_object().expect("tables") {
        if entry["legal_basis"]
            .as_str()
            .is_some_and(|b| b.contains("6(1)(f)"))
            && !named.contains(table)
        {
            missing.push(table.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "not in legitimate_interests: {missing:?}"
    );
    for i in interests {
        let stops = i["stops"].as_array().is_some_and(|s| !s.is_empty());
        let continues = i["continues"].as_str().is_some_and(|c| !c.is_empty());
        assert!(stops != continues, "{i}: stops something xor says why not");
    }
}
