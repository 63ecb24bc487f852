//! The core client against a real server on loopback: every account flow,
//! failures of the network and of the session, and the logger.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use praxis_core::cache::{Cache, KeyProvider, RawKeyProvider};
use praxis_core::http::HttpConfig;
use praxis_core::protocol::{ErrorCode, RegisterRequest, UpdateProfileRequest};
use praxis_core::{
    CACHE_FILE, ClientConfig, Error, LogLevel, Logger, NetworkError, PraxisClient, SessionState,
};
use praxis_tests::{Backend, TestServer, Transport, person};
use serde_json::{Value, json};

fn key() -> Arc<dyn KeyProvider> {
    Arc::new(RawKeyProvider::new([3; 32]))
}

fn register_request(v: &Value) -> RegisterRequest {
    serde_json::from_value(v.clone()).expect("register body")
}

async fn server() -> TestServer {
    TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server")
}

async fn client(url: &str, dir: &tempfile::TempDir) -> Arc<PraxisClient> {
    PraxisClient::open(ClientConfig::new(url, dir.path(), key()))
        .await
        .expect("open client")
}

/// Registers a fresh person and signs them in on `c`; their body.
async fn sign_up(c: &PraxisClient, tag: &str) -> Value {
    let body = person(tag);
    c.account()
        .register(&register_request(&body))
        .await
        .expect("register");
    c.account()
        .login(
            body["email"].as_str().expect("e"),
            body["password"].as_str().expect("p"),
        )
        .await
        .expect("login");
    body
}

/// The stored tokens, read straight from the cache file (the test knows the key).
fn stored_session(dir: &tempfile::TempDir) -> Option<Value> {
    let cache = Cache::open(&dir.path().join(CACHE_FILE), key()).expect("open cache");
    cache
        .get::<Value>("session", "current")
        .expect("read")
        .map(|r| r.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_restore_and_logout() {
    let s = server().await;
    let url = s.base_url().expect("url").to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let c = client(&url, &dir).await;
    assert_eq!(c.account().state(), SessionState::SignedOut);
    let mut states = c.account().subscribe();

    let body = person("client");
    let id = c
        .account()
        .register(&register_request(&body))
        .await
        .expect("register");
    assert_eq!(
        c.account().state(),
        SessionState::SignedOut,
        "registering does not sign in"
    );
    let email = body["email"].as_str().expect("email");
    let password = body["password"].as_str().expect("password");
    let user = c.account().login(email, password).await.expect("login");
    assert_eq!(user, id);
    states.changed().await.expect("state change");
    assert_eq!(
        *states.borrow_and_update(),
        SessionState::SignedIn { user_id: id }
    );
    let p = c.account().profile().await.expect("profile");
    assert_eq!(p.user_id, id);
    assert_eq!(p.email, email);

    // Reopen: the session comes back from the encrypted cache, offline too.
    drop(c);
    let c = client(&url, &dir).await;
    assert_eq!(c.account().state(), SessionState::SignedIn { user_id: id });
    assert_eq!(
        c.account()
            .cached_profile()
            .await
            .expect("cached")
            .expect("some")
            .user_id,
        id
    );
    let updated = c
        .account()
        .update_profile(&UpdateProfileRequest {
            profession: Some("midwife".into()),
            ..Default::default()
        })
        .await
        .expect("update");
    assert_eq!(updated.profession, "midwife");
    let org = c.account().create_org("Client Clinic").await.expect("org");
    let code = c.account().create_join_code(org).await.expect("code");
    assert_eq!(c.account().orgs().await.expect("orgs")[0].org_id, org);
    assert_eq!(c.account().members(org).await.expect("members").len(), 1);

    // A second practitioner joins with the code.
    let dir2 = tempfile::tempdir().expect("dir");
    let c2 = client(&url, &dir2).await;
    sign_up(&c2, "client2").await;
    assert_eq!(c2.account().join_org(&code.code).await.expect("join"), org);
    assert_eq!(c.account().members(org).await.expect("members").len(), 2);

    c.account().logout().await.expect("logout");
    assert_eq!(c.account().state(), SessionState::SignedOut);
    assert!(
        stored_session(&dir).is_none(),
        "tokens removed from the cache"
    );
    assert!(matches!(
        c.account().profile().await,
        Err(Error::NotSignedIn)
    ));
    drop(c);
    let c = client(&url, &dir).await;
    assert_eq!(c.account().state(), SessionState::SignedOut);
    assert!(
        c.account()
            .cached_profile()
            .await
            .expect("cached")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_surfaces_as_the_servers_problem() {
    let s = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let c = client(s.base_url().expect("url"), &dir).await;
    let mut body = person("bad");
    body["phone"] = json!("0612");
    match c.account().register(&register_request(&body)).await {
        Err(Error::Api {
            status: 400,
            code: ErrorCode::ValidationFailed,
            field: Some(f),
            ..
        }) => assert_eq!(f, "phone"),
        other => panic!("unexpected {other:?}"),
    }
    body["phone"] = json!("+33612345678");
    body["date_of_birth"] = json!("2015-01-01");
    assert!(matches!(
        c.account().register(&register_request(&body)).await,
        Err(Error::Api {
            code: ErrorCode::TooYoung,
            ..
        })
    ));
    body["date_of_birth"] = json!("1980-01-01");
    c.account()
        .register(&register_request(&body))
        .await
        .expect("register");
    assert!(matches!(
        c.account().register(&register_request(&body)).await,
        Err(Error::Api {
            status: 409,
            code: ErrorCode::EmailTaken,
            ..
        })
    ));
    let e = c
        .account()
        .login(body["email"].as_str().expect("e"), "wrong password")
        .await;
    assert!(
        matches!(
            e,
            Err(Error::Api {
                status: 401,
                code: ErrorCode::InvalidCredentials,
                ..
            })
        ),
        "{e:?}"
    );
    assert_eq!(c.account().state(), SessionState::SignedOut);
    assert!(stored_session(&dir).is_none());
    assert!(matches!(
        PraxisClient::open(ClientConfig::new(
            "http://praxis.example.org",
            dir.path(),
            key()
        ))
        .await,
        Err(Error::InvalidInput {
            field: "server_url",
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_and_server_slow_are_network_errors() {
    // Nothing listens on this port any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let down = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let dir = tempfile::tempdir().expect("dir");
    let c = client(&down, &dir).await;
    assert!(matches!(
        c.account()
            .login("someone@clinic-example.org", "whatever-password")
            .await,
        Err(Error::Network(NetworkError::Unreachable))
    ));
    assert_eq!(c.account().state(), SessionState::SignedOut);
    assert!(stored_session(&dir).is_none());

    // A server that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let dir = tempfile::tempdir().expect("dir");
    let mut config = ClientConfig::new(url, dir.path(), key());
    config.http = HttpConfig {
        timeout: Duration::from_millis(400),
        ..HttpConfig::default()
    };
    let c = PraxisClient::open(config).await.expect("open");
    let started = std::time::Instant::now();
    let e = c
        .account()
        .login("someone@clinic-example.org", "whatever-password")
        .await;
    assert!(
        matches!(e, Err(Error::Network(NetworkError::Timeout))),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(stored_session(&dir).is_none());
    hold.abort();
}

async fn signed_in(s: &TestServer, dir: &tempfile::TempDir) -> Arc<PraxisClient> {
    let c = client(s.base_url().expect("url"), dir).await;
    sign_up(&c, "sess").await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_access_token_is_refreshed_once_transparently() {
    let s = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let c = signed_in(&s, &dir).await;
    let before = stored_session(&dir).expect("session");
    // The server's clock moves past the access token's life; the client's
    // does not, so the first call meets a 401 and must refresh.
    s.clock.advance(chrono::Duration::minutes(16));
    c.account().profile().await.expect("profile after refresh");
    let after = stored_session(&dir).expect("session");
    assert_ne!(
        before["refresh_token"], after["refresh_token"],
        "refresh token rotated and stored"
    );
    assert!(matches!(c.account().state(), SessionState::SignedIn { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_reuse_signs_the_user_out_cleanly() {
    let s = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let c = signed_in(&s, &dir).await;
    let mut states = c.account().subscribe();
    states.borrow_and_update();
    // Someone else spends the refresh token first (a stolen copy).
    let stolen = stored_session(&dir).expect("session")["refresh_token"].clone();
    let r = s
        .send(
            "POST",
            "/v1/sessions/refresh",
            None,
            Some(&json!({ "refresh_token": stolen })),
        )
        .await;
    assert_eq!(r.status, 200);
    s.clock.advance(chrono::Duration::minutes(16));
    // The device's refresh is now a reuse: the family dies, the user is out.
    assert!(matches!(
        c.account().profile().await,
        Err(Error::SessionExpired)
    ));
    assert_eq!(c.account().state(), SessionState::NeedsReLogin);
    states.changed().await.expect("notified");
    assert_eq!(*states.borrow(), SessionState::NeedsReLogin);
    assert!(stored_session(&dir).is_none());
    // The thief's tokens died with the family.
    let thief = r.json()["access_token"].as_str().expect("a").to_owned();
    assert_eq!(
        s.send("GET", "/v1/me", Some(&thief), None).await.status,
        401
    );
}

#[derive(Debug, Default)]
struct Capture(Mutex<Vec<(LogLevel, String, String)>>);

impl Logger for Capture {
    fn log(&self, level: LogLevel, target: &str, message: &str) {
        self.0
            .lock()
            .expect("lock")
            .push((level, target.to_owned(), message.to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_reaches_the_logger() {
    let s = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let capture = Arc::new(Capture::default());
    let mut config = ClientConfig::new(s.base_url().expect("url"), dir.path(), key());
    config.logger = Some(capture.clone());
    let c = PraxisClient::open(config).await.expect("open");
    let body = person("logger");
    let (email, password) = (
        body["email"].as_str().expect("e"),
        body["password"].as_str().expect("p"),
    );
    c.account()
        .register(&register_request(&body))
        .await
        .expect("register");
    let _ = c.account().login(email, "wrong password").await;
    c.account().login(email, password).await.expect("login");
    let tokens = stored_session(&dir).expect("session");
    s.clock.advance(chrono::Duration::minutes(16));
    c.account().profile().await.expect("profile");
    c.account()
        .update_profile(&UpdateProfileRequest {
            full_name: Some("Renamed Loggerperson".into()),
            ..Default::default()
        })
        .await
        .expect("update");
    c.account().create_org("Logger Clinic").await.expect("org");
    c.account().logout().await.expect("logout");

    let logs = capture.0.lock().expect("lock").clone();
    assert!(logs.iter().any(|(_, _, m)| m == "signed in"), "{logs:?}");
    assert!(
        logs.iter().any(|(_, _, m)| m.contains("refreshed")),
        "{logs:?}"
    );
    let text = format!("{logs:?}");
    let mut markers = vec![
        email.to_owned(),
        password.to_owned(),
        "wrong password".to_owned(),
        "Renamed Loggerperson".to_owned(),
        "Logger Clinic".to_owned(),
        tokens["access_token"].as_str().expect("a").to_owned(),
        tokens["refresh_token"].as_str().expect("r").to_owned(),
    ];
    for f in ["full_name", "phone", "date_of_birth"] {
        markers.push(body[f].as_str().expect("field").to_owned());
    }
    for m in markers {
        assert!(!text.contains(&m), "personal data in logs: {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_on_the_device_never_sees_the_previous_users_data() {
    let s = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let c = client(s.base_url().expect("url"), &dir).await;
    sign_up(&c, "first").await;
    c.appointments()
        .create(praxis_core::NewAppointment {
            title: "First user's visit".into(),
            patient_label: None,
            start: chrono::Utc::now(),
            duration_min: 30,
            address: None,
            point: None,
            geofence: None,
        })
        .await
        .expect("create");
    // The first user's session ends on the server side (no logout here).
    s.clock.advance(chrono::Duration::days(31));
    assert!(matches!(
        c.account().profile().await,
        Err(Error::SessionExpired)
    ));
    let second = sign_up(&c, "second").await;
    assert!(
        c.appointments().list().await.expect("list").is_empty(),
        "previous user's visits gone"
    );
    assert_eq!(
        c.cache().transaction(|tx| tx.outbox_len()).expect("outbox"),
        0,
        "their queued changes too"
    );
    assert_eq!(
        c.account()
            .cached_profile()
            .await
            .expect("cached")
            .expect("some")
            .email,
        second["email"].as_str().expect("e")
    );
}

/// Regression: answer bodies were read whole, however large. A server (or
/// anything between) that streams an endless answer is cut off at the cap
/// with a protocol error, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_is_cut_off_at_the_cap() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let hostile = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = sock.read(&mut head).await;
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
                    )
                    .await;
                // Up to 4x the cap, 1 MiB a chunk, no length announced.
                let chunk = vec![b' '; 1 << 20];
                for _ in 0..((4 * praxis_core::http::MAX_RESPONSE_BYTES) >> 20) {
                    let framed =
                        [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
                    if sock.write_all(&framed).await.is_err() {
                        return;
                    }
                    counter.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    let dir = tempfile::tempdir().expect("dir");
    let c = client(&url, &dir).await;
    let e = c
        .account()
        .login("someone@clinic-example.org", "whatever-password")
        .await;
    assert!(matches!(e, Err(Error::Protocol { status: 200 })), "{e:?}");
    assert!(stored_session(&dir).is_none());
    // The client stopped reading near the cap, not at the end.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let streamed = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        streamed < 3 * praxis_core::http::MAX_RESPONSE_BYTES,
        "read {streamed} bytes"
    );
    hostile.abort();
}

/// A key provider that counts `forget` calls (an app's Keychain or Keystore).
#[derive(Debug)]
struct Forgetful {
    inner: RawKeyProvider,
    forgotten: Arc<Mutex<u32>>,
}

impl KeyProvider for Forgetful {
    fn kek(
        &self,
        params: &praxis_core::cache::KekParams,
    ) -> praxis_core::Result<praxis_core::cache::SecretKey> {
        self.inner.kek(params)
    }
    fn new_params(
        &self,
        rng: &praxis_core::cache::keys::Rng,
    ) -> praxis_core::Result<praxis_core::cache::KekParams> {
        self.inner.new_params(rng)
    }
    fn forget(&self) -> praxis_core::Result<()> {
        *self.forgotten.lock().expect("lock") += 1;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_backup_without_its_key_is_reset_only_when_the_app_asks() {
    let s = server().await;
    let url = s.base_url().expect("url").to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let phone = client(&url, &dir).await;
    let body = sign_up(&phone, "restored").await;
    drop(phone);
    // The backup brought the cache file to a device whose keychain holds
    // another key.
    let forgotten = Arc::new(Mutex::new(0));
    let other = |reset: bool| {
        let mut c = ClientConfig::new(
            &url,
            dir.path(),
            Arc::new(Forgetful {
                inner: RawKeyProvider::new([8; 32]),
                forgotten: Arc::clone(&forgotten),
            }),
        );
        c.reset_on_key_mismatch = reset;
        c
    };
    let refused = PraxisClient::open(other(false)).await;
    assert!(matches!(refused, Err(Error::KeyMismatch)), "{refused:?}");
    assert!(stored_session(&dir).is_some(), "refused: nothing deleted");
    assert_eq!(*forgotten.lock().expect("lock"), 0);

    let reset = PraxisClient::open(other(true)).await.expect("reset");
    assert_eq!(
        *forgotten.lock().expect("lock"),
        1,
        "the provider forgot its key"
    );
    assert!(
        reset.account().state() == SessionState::SignedOut,
        "an empty cache: sign in again"
    );
    drop(reset);
    assert!(
        Cache::open(&dir.path().join(CACHE_FILE), key()).is_err(),
        "the old key no longer opens anything: the old cache is gone"
    );
    // Signing in again brings the server's copy back.
    let again = PraxisClient::open(other(false))
        .await
        .expect("the new key opens the new cache");
    praxis_tests::sign_in(&again, &body).await;
    assert!(matches!(
        again.account().state(),
        SessionState::SignedIn { .. }
    ));
}
