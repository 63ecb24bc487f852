//! The change feed (`GET /v1/sync/changes`) over real sockets: a commit
//! signals the streams of the users it touched within milliseconds; a
//! stream carries sequence numbers and reasons only; it ends on logout,
//! revocation, expiry and erasure; replicas on one PostgreSQL wake each
//! other's streams; bad input gets clear errors.

use std::time::{Duration, Instant};

use praxis_server::Settings;
use praxis_server::clock::Clock as _;
use praxis_tests::feed::{Stream, open};
use praxis_tests::{Backend, TestServer, TestUser, Transport, test_settings};
use serde_json::{Value, json};

fn base(s: &TestServer) -> String {
    s.base_url().expect("an HTTP server").to_owned()
}

async fn push_appointment(s: &TestServer, u: &TestUser, client: &str, seq: i64) -> Value {
    s.push_visit(&u.access, client, seq, "Wound care for Mrs Example")
        .await
}

async fn http_server(backend: Backend, settings: Settings) -> Option<TestServer> {
    TestServer::start_with(backend, Transport::Http, settings).await
}

fn quick_heartbeat() -> Settings {
    Settings {
        feed_heartbeat: Duration::from_millis(200),
        streams_per_account: 3,
        ..test_settings()
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(s) = super::http_server(praxis_tests::Backend::Sqlite, super::quick_heartbeat()).await {
                        super::$name(s).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(s) = super::http_server(praxis_tests::Backend::Postgres, super::quick_heartbeat()).await {
                        super::$name(s).await;
                    }
                }
            )*
        }
    };
}

both_backends!(
    a_push_from_another_device_is_signalled_at_once,
    server_authored_and_privacy_changes_are_signalled,
    the_stream_ends_on_logout_revocation_expiry_and_erasure,
    bad_cursors_tokens_and_too_many_streams_are_refused,
    replicas_wake_each_others_streams,
);

async fn a_push_from_another_device_is_signalled_at_once(s: TestServer) {
    let u = s.user("feed").await;
    let other = s.user("other").await;
    let mut stream = Stream::current(&s, &base(&s), &u.access).await;
    let mut others = Stream::current(&s, &base(&s), &other.access).await;
    // Nothing has happened: heartbeats only.
    stream.quiet_for(Duration::from_millis(500)).await;
    let tablet = uuid::Uuid::new_v4().to_string();
    let start = Instant::now();
    let pushed = push_appointment(&s, &u, &tablet, 1).await;
    let ev = stream.expect("changes").await;
    let latency = start.elapsed();
    assert_eq!(
        ev.data,
        json!({"seq": pushed["results"][0]["record"]["version"]})
    );
    assert!(
        latency < Duration::from_secs(1),
        "signalled after {latency:?}"
    );
    // A burst coalesces: the stream reports the newest sequence, and
    // another user's stream hears nothing of it.
    let mut newest = Value::Null;
    for seq in 2..=6 {
        newest =
            push_appointment(&s, &u, &tablet, seq).await["results"][0]["record"]["version"].clone();
    }
    let mut last = 0;
    while let Some(ev) = stream.next(Duration::from_millis(300)).await {
        assert_eq!(ev.name, "changes");
        last = ev.data["seq"].as_i64().expect("seq");
    }
    assert_eq!(Some(last), newest.as_i64());
    others.quiet_for(Duration::from_millis(300)).await;
    // A stream opened with an up-to-date cursor stays quiet; one opened
    // behind is told at once.
    let page = s
        .send("POST", "/v1/sync/pull", Some(&u.access), Some(&json!({})))
        .await
        .json();
    let cursor = page["cursor"].as_str().expect("cursor").to_owned();
    let mut current = Stream::open(&base(&s), &u.access, Some(&cursor)).await;
    current.quiet_for(Duration::from_millis(300)).await;
    // Without a cursor, the profile written at registration is news.
    let mut behind = Stream::open(&base(&s), &other.access, None).await;
    behind.expect("changes").await;
    behind.quiet_for(Duration::from_millis(300)).await;
    push_appointment(&s, &other, &tablet, 1).await;
    behind.expect("changes").await;
    // Only sequence numbers travelled.
    for raw in [&stream.raw, &others.raw, &current.raw, &behind.raw] {
        let text = String::from_utf8_lossy(raw);
        for secret in [
            u.email.as_str(),
            other.email.as_str(),
            "Wound care",
            "Mrs Example",
            u.access.as_str(),
            u.id.as_str(),
        ] {
            assert!(!text.contains(secret), "the stream carried personal data");
        }
    }
}

async fn server_authored_and_privacy_changes_are_signalled(s: TestServer) {
    let admin = s.user("admin").await;
    let member = s.user("member").await;
    let org = s.create_org(&admin.access, "Feed Clinic").await;
    s.add_member(&admin.access, &member.access, &org).await;
    let mut stream = Stream::open(&base(&s), &member.access, None).await;
    // Joining wrote the policy record before the stream opened: told now.
    stream.expect("changes").await;
    // The admin switches location sharing on: a policy record lands in
    // the member's scope.
    let r = s
        .patch_location_policy(&admin.access, &org, &json!({"location_sharing": true}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    stream.expect("changes").await;
    // Restriction is privacy state, not a record.
    let r = s
        .send(
            "PUT",
            "/v1/me/restriction",
            Some(&member.access),
            Some(&json!({"restricted": true})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(stream.expect("privacy").await.data, json!({}));
    // A new consent policy version concerns everyone.
    let mut admins = Stream::open(&base(&s), &admin.access, None).await;
    admins.expect("changes").await;
    assert!(
        s.state
            .store()
            .publish_policy_version(
                praxis_protocol::privacy::Purpose::LocationVisits,
                7,
                s.clock.now()
            )
            .await
            .expect("publish")
    );
    stream.expect("privacy").await;
    admins.expect("privacy").await;
}

async fn the_stream_ends_on_logout_revocation_expiry_and_erasure(s: TestServer) {
    let u = s.user("ends").await;
    // Logout of this session.
    let mut stream = Stream::current(&s, &base(&s), &u.access).await;
    let r = s
        .send("DELETE", "/v1/sessions/current", Some(&u.access), None)
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        stream.expect("end").await.data,
        json!({"reason": "signed_out"})
    );
    assert!(stream.next(Duration::from_secs(2)).await.is_none());
    // Another session's logout leaves this one alone.
    let (a, _) = s.login(&u.email, &u.password).await;
    let (b, _) = s.login(&u.email, &u.password).await;
    let mut stream = Stream::current(&s, &base(&s), &a).await;
    s.send("DELETE", "/v1/sessions/current", Some(&b), None)
        .await;
    stream.quiet_for(Duration::from_millis(400)).await;
    // Revocation: a spent refresh token presented again revokes the family.
    let (a2, refresh) = s.login(&u.email, &u.password).await;
    let mut revoked = Stream::current(&s, &base(&s), &a2).await;
    let spend = json!({"refresh_token": refresh});
    assert_eq!(
        s.send("POST", "/v1/sessions/refresh", None, Some(&spend))
            .await
            .status,
        200
    );
    s.send("POST", "/v1/sessions/refresh", None, Some(&spend))
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(
        revoked.expect("end").await.data,
        json!({"reason": "signed_out"})
    );
    // Expiry: the access token's 15 minutes pass.
    s.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(
        stream.expect("end").await.data,
        json!({"reason": "token_expired"})
    );
    // Erasure.
    let (fresh, _) = s.login(&u.email, &u.password).await;
    let mut stream = Stream::current(&s, &base(&s), &fresh).await;
    let r = s
        .send(
            "POST",
            "/v1/sessions/reauth",
            Some(&fresh),
            Some(&json!({"password": u.password})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    let r = s.send("DELETE", "/v1/me", Some(&fresh), None).await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        stream.expect("end").await.data,
        json!({"reason": "account_erased"})
    );
    // And a new stream with that token learns it at once.
    let r = open(&base(&s), &fresh, None).await;
    assert_eq!(r.status(), 410);
}

async fn bad_cursors_tokens_and_too_many_streams_are_refused(s: TestServer) {
    let u = s.user("bad").await;
    let problem = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().expect("ascii").to_owned());
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let body: Value = r.json().await.expect("problem");
        (status, body, retry)
    };
    let (status, body, _) = problem(open(&base(&s), &u.access, Some("garbage")).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
    assert_eq!(body["field"], "cursor");
    // A cursor of this server from the future (the database was restored
    // from an older backup): resync.
    let page = s
        .send("POST", "/v1/sync/pull", Some(&u.access), Some(&json!({})))
        .await
        .json();
    let cursor = page["cursor"].as_str().expect("cursor");
    let future = {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut c: Value =
            serde_json::from_slice(&engine.decode(cursor).expect("b64")).expect("json");
        c["s"] = json!(1_000);
        engine.encode(serde_json::to_vec(&c).expect("json"))
    };
    let (status, body, _) = problem(open(&base(&s), &u.access, Some(&future)).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (410, Some("resync_required"))
    );
    // No token, a token that is not one, a token of a signed-out session.
    let (gone, _) = s.login(&u.email, &u.password).await;
    assert_eq!(
        s.send("DELETE", "/v1/sessions/current", Some(&gone), None)
            .await
            .status,
        204
    );
    for token in ["", "not-a-token", gone.as_str()] {
        let (status, body, _) = problem(open(&base(&s), token, None).await).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    }
    // Three streams per account here; the fourth waits for one to close.
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(Stream::open(&base(&s), &u.access, None).await);
    }
    let (status, body, retry) = problem(open(&base(&s), &u.access, None).await).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    assert!(retry.is_some());
    // Another account is not affected; a closed stream frees its slot.
    let other = s.user("other").await;
    Stream::open(&base(&s), &other.access, None).await;
    drop(streams.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = open(&base(&s), &u.access, None).await;
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the closed stream kept its slot");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn replicas_wake_each_others_streams(s: TestServer) {
    if s.backend != Backend::Postgres {
        // One SQLite file is one process: nothing to replicate.
        return;
    }
    let u = s.user("replicas").await;
    let replica = s.replica().await;
    let mut on_two = Stream::current(&s, &replica.base, &u.access).await;
    let tablet = uuid::Uuid::new_v4().to_string();
    // Written through replica one, heard on replica two.
    let start = Instant::now();
    let pushed = push_appointment(&s, &u, &tablet, 1).await;
    let ev = on_two.expect("changes").await;
    assert_eq!(
        ev.data,
        json!({"seq": pushed["results"][0]["record"]["version"]})
    );
    let latency = start.elapsed();
    assert!(latency < Duration::from_secs(2), "{latency:?}");
    // Sessions ended on one replica end streams held by the other.
    let (a, _) = s.login(&u.email, &u.password).await;
    let mut other = Stream::open(&replica.base, &a, None).await;
    other.expect("changes").await;
    assert_eq!(
        s.send("DELETE", "/v1/sessions/current", Some(&a), None)
            .await
            .status,
        204
    );
    assert_eq!(
        other.expect("end").await.data,
        json!({"reason": "signed_out"})
    );
    // Replica two shuts down: its stream is told to go elsewhere, and the
    // device reopens on replica one and learns of what it missed.
    replica.stop().await;
    assert_eq!(
        on_two.expect("end").await.data,
        json!({"reason": "shutting_down"})
    );
    let pushed = push_appointment(&s, &u, &tablet, 2).await;
    let mut on_one = Stream::open(&base(&s), &u.access, None).await;
    assert_eq!(
        on_one.expect("changes").await.data,
        json!({"seq": pushed["results"][0]["record"]["version"]})
    );
}
