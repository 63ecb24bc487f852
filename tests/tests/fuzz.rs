//! Property-based fuzzing (proptest, stable Rust) of the decoders that read
//! untrusted input: invitation codes, sync push bodies and pull cursors on
//! the server, encrypted export files on decrypt, geofences, and on the
//! device the problem bodies and pulled pages a hostile or broken server
//! sends. None may panic or hang; each refusal is a typed error (on the
//! server: a problem document below 500).
//!
//! CI runs a bounded number of cases; `PRAXIS_FUZZ_CASES=n` runs more.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use praxis_core::protocol::contacts::{SigningKey, verify_code};
use praxis_core::protocol::location::{Geofence, LatLon};
use praxis_tests::{Backend, TestServer, Transport};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

fn cases(default: u32) -> u32 {
    std::env::var("PRAXIS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runner(default: u32) -> TestRunner {
    TestRunner::new(Config {
        cases: cases(default),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs an async check from proptest's synchronous callback.
fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field values as a device would send them, and stranger ones.
fn field_value() -> impl Strategy<Value = Value> {
    let polygon = prop::collection::vec((-91.0f64..91.0, -181.0f64..181.0), 0..60).prop_map(
        |pts| json!({"type": "polygon", "points": pts.iter().map(|(lat, lon)| json!({"lat": lat, "lon": lon})).collect::<Vec<_>>()}),
    );
    prop_oneof![
        any_json(),
        polygon,
        (-91.0f64..91.0, -181.0f64..181.0, -10.0f64..6000.0).prop_map(
            |(lat, lon, r)| json!({"type": "circle", "lat": lat, "lon": lon, "radius_m": r})
        ),
    ]
}

const COLLECTIONS: [&str; 7] = [
    "appointments",
    "visit_events",
    "consents",
    "contacts",
    "org_policy",
    "profile",
    "nonsense",
];

fn hlc() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..9_999_999_999_999, 0u32..999_999, "[a-z0-9]{1,8}")
            .prop_map(|(w, c, n)| format!("{w:013}-{c:06}-{n}")),
        ".{0,30}",
    ]
}

fn fields() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop_oneof![
            Just("title".to_owned()),
            Just("start".to_owned()),
            Just("geofence".to_owned()),
            Just("purpose".to_owned()),
            Just("granted".to_owned()),
            "[a-z_]{0,10}",
        ],
        (field_value(), hlc()).prop_map(|(v, t)| json!({"v": v, "t": t})),
        0..6,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn mutation() -> impl Strategy<Value = Value> {
    (
        any::<i64>(),
        prop::sample::select(COLLECTIONS.to_vec()),
        prop_oneof![Just(uuid::Uuid::new_v4().to_string()), ".{0,40}"],
        prop::option::of(any::<i64>()),
        fields(),
        prop::option::of(hlc()),
    )
        .prop_map(|(seq, collection, id, base, fields, delete)| {
            json!({"client_seq": seq, "collection": collection, "id": id,
                "base_version": base, "fields": fields, "delete": delete})
        })
}

/// Push bodies: well-shaped batches of strange mutations, any JSON, and
/// bytes that are not JSON at all.
fn push_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(mutation(), 0..8).prop_map(|m| {
            serde_json::to_vec(
                &json!({"client_id": "5b1c0c9e-8d43-4a51-9d0b-6f0e2f1c7a11", "mutations": m}),
            )
            .expect("json")
        }),
        any_json().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

/// Server side: push bodies and pull cursors, on a real server (SQLite,
/// in-process): every answer is below 500, and a refusal is problem+json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_push_bodies_and_pull_cursors_are_refused_cleanly() {
    let s = TestServer::start(Backend::Sqlite, Transport::Oneshot)
        .await
        .expect("sqlite");
    let u = s.user("fuzz").await;
    let bearer = format!("Bearer {}", u.access);
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let check = |r: &praxis_tests::Resp| -> Result<(), TestCaseError> {
        prop_assert!(
            r.status < 500,
            "{} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        if r.status >= 400 {
            prop_assert_eq!(r.header("content-type"), Some("application/problem+json"));
        }
        Ok(())
    };
    runner(96)
        .run(&push_body(), |body| {
            let r = block(s.raw("POST", "/v1/sync/push", &headers, body));
            check(&r)
        })
        .expect("push bodies");
    let cursor = prop_oneof![
        ".{0,60}",
        any_json().prop_map(|v| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).expect("json"))),
        (".{0,20}", any::<i64>()).prop_map(|(e, n)| URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&json!({"e": e, "s": n})).expect("json"))),
    ];
    runner(96)
        .run(
            &(cursor, prop::option::of(any::<u32>())),
            |(cursor, limit)| {
                let body =
                    serde_json::to_vec(&json!({"cursor": cursor, "limit": limit})).expect("json");
                let r = block(s.raw("POST", "/v1/sync/pull", &headers, body));
                check(&r)
            },
        )
        .expect("pull cursors");
}

#[test]
fn invitation_codes_are_refused_as_typed_errors() {
    let key = SigningKey {
        key_id: "k".into(),
        public_key: URL_SAFE_NO_PAD.encode([7u8; 32]),
    };
    let now = praxis_tests::epoch();
    let part = prop_oneof![
        "[A-Za-z0-9_-]{0,120}",
        any_json().prop_map(|v| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).expect("json"))),
    ];
    let code = prop_oneof![
        ".{0,200}",
        prop::collection::vec(part, 0..5).prop_map(|p| format!("PXC1.{}", p.join("."))),
    ];
    runner(512)
        .run(&code, |code| {
            // Nothing was signed with this key: every code is refused.
            prop_assert!(verify_code(&code, &key, now).is_err());
            Ok(())
        })
        .expect("codes");
}

#[test]
fn encrypted_exports_are_refused_without_panic_or_hang() {
    // Headers with the right magic and any iteration count, salt, prefix
    // and chunk lengths, then random bytes; and plain random bytes.
    let crafted = (
        prop_oneof![1 => Just(praxis_core::cache::PBKDF2_ITERATIONS), 7 => any::<u32>()],
        prop::collection::vec(any::<u8>(), 24),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(iterations, salt_prefix, len, rest)| {
            let mut b = b"PRXENC1\n".to_vec();
            b.extend_from_slice(&salt_prefix[..16]);
            b.extend_from_slice(&iterations.to_be_bytes());
            b.extend_from_slice(&salt_prefix[16..]);
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(&rest);
            b
        });
    let input = prop_oneof![crafted, prop::collection::vec(any::<u8>(), 0..300)];
    runner(64)
        .run(&input, |bytes| {
            let start = Instant::now();
            let out = praxis_core::export::decrypt(&bytes[..], "a passphrase");
            prop_assert!(out.is_err(), "random bytes decrypted");
            // One key derivation at most (the accepted iteration counts).
            prop_assert!(
                start.elapsed() < Duration::from_secs(20),
                "{:?}",
                start.elapsed()
            );
            Ok(())
        })
        .expect("exports");
}

#[test]
fn geofences_validate_in_bounded_time_without_panic() {
    let polygon = prop::collection::vec((-95.0f64..95.0, -185.0f64..185.0), 0..1_100);
    let near = (
        -80.0f64..80.0,
        -170.0f64..170.0,
        prop::collection::vec((-0.3f64..0.3, -0.3f64..0.3), 3..1_000),
    )
        .prop_map(|(lat, lon, d)| {
            let mut pts: Vec<(f64, f64)> = d.iter().map(|(a, b)| (lat + a, lon + b)).collect();
            pts.push(pts[0]);
            pts
        });
    runner(48)
        .run(&prop_oneof![polygon, near], |pts| {
            let fence = Geofence::Polygon {
                points: pts.iter().map(|&(lat, lon)| LatLon { lat, lon }).collect(),
            };
            let start = Instant::now();
            let _ = fence.validate();
            let _ = fence.contains(pts.first().map_or(0.0, |p| p.0), 0.0);
            prop_assert!(
                start.elapsed() < Duration::from_secs(5),
                "{:?}",
                start.elapsed()
            );
            Ok(())
        })
        .expect("geofences");
}

/// What the hostile server answers next, to every route but sign-in.
#[derive(Clone, Default)]
struct Answer(Arc<Mutex<(u16, Vec<u8>)>>);

async fn hostile_server(answer: Answer) -> String {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let user = uuid::Uuid::new_v4();
    let app = axum::Router::new()
        .route(
            "/v1/sessions",
            axum::routing::post(|| async {
                axum::Json(
                    json!({"access_token": "a", "refresh_token": "r", "expires_in": 900,
                    "session_id": "5b1c0c9e-8d43-4a51-9d0b-6f0e2f1c7a12"}),
                )
            }),
        )
        .route(
            "/v1/me",
            axum::routing::get(move || async move {
                axum::Json(json!({"user_id": user, "email": "fuzz@example.org",
                    "full_name": "Fuzz", "phone": "+33612345678", "country": "FR",
                    "language": "fr", "profession": "nurse", "date_of_birth": "1980-01-01",
                    "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}))
            }),
        )
        .fallback(move || {
            let answer = answer.clone();
            async move {
                let (status, body) = answer.0.lock().expect("lock").clone();
                (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                    [(
                        "content-type",
                        if status >= 400 {
                            "application/problem+json"
                        } else {
                            "application/json"
                        },
                    )],
                    body,
                )
                    .into_response()
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Pages and problems as a broken or hostile server might send them.
fn server_answer() -> impl Strategy<Value = (u16, Vec<u8>)> {
    let record = (
        prop::sample::select(COLLECTIONS.to_vec()),
        prop_oneof![Just(uuid::Uuid::new_v4().to_string()), ".{0,40}"],
        any::<i64>(),
        fields(),
        prop::option::of(hlc()),
    )
        .prop_map(|(c, id, v, f, d)| json!({"collection": c, "id": id, "version": v, "fields": f, "deleted": d}));
    let page = (
        prop::collection::vec(record, 0..6),
        ".{0,40}",
        any::<bool>(),
    )
        .prop_map(
            |(changes, cursor, more)| json!({"changes": changes, "cursor": cursor, "more": more}),
        );
    let problem = (".{0,20}", any::<u16>(), ".{0,30}", prop::option::of(".{0,20}")).prop_map(
        |(title, status, code, field)| json!({"type": "about:blank", "title": title, "status": status, "code": code, "field": field}),
    );
    let body = prop_oneof![
        page.prop_map(|v| serde_json::to_vec(&v).expect("json")),
        problem.prop_map(|v| serde_json::to_vec(&v).expect("json")),
        any_json().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        prop::collection::vec(any::<u8>(), 0..100),
    ];
    let status = prop::sample::select(vec![
        200u16, 200, 200, 400, 401, 404, 409, 410, 413, 429, 500, 503,
    ]);
    (status, body)
}

/// Device side: the core talks to a server that answers every sync with
/// random pages, problems and bytes. It never panics, every failure is a
/// typed error or an offline/error state, and the cache stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_core_survives_hostile_pages_and_problem_bodies() {
    let answer = Answer::default();
    let url = hostile_server(answer.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = praxis_core::PraxisClient::open(praxis_tests::client_config(&url, dir.path(), 9))
        .await
        .expect("open");
    runner(64)
        .run(&server_answer(), |(status, body)| {
            *answer.0.lock().expect("lock") = (status, body);
            block(async {
                let account = client.account();
                if account.user_id().is_none() {
                    account
                        .login("fuzz@example.org", "a password")
                        .await
                        .map_err(|e| TestCaseError::fail(format!("login: {e}")))?;
                }
                // A typed error or a status: both fine; a panic is not.
                let _ = client.sync().sync_now("fuzz").await;
                // A refusal of a normal call is typed too.
                let _ = account.profile().await;
                client
                    .appointments()
                    .list()
                    .await
                    .map_err(|e| TestCaseError::fail(format!("cache unusable: {e}")))?;
                Ok(())
            })
        })
        .expect("hostile answers");
}
