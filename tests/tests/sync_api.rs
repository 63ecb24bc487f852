//! The sync endpoints, on every backend and transport: push and pull,
//! exactly-once replays, merges, pagination, authorization, bad input and
//! resync.

use chrono::Duration;
use praxis_tests::{TestServer, TestUser, suite};
use serde_json::{Value, json};

suite!(
    push_then_pull_and_replays_change_nothing,
    one_batch_editing_its_own_records_is_decided_in_order,
    concurrent_edits_merge_per_field_and_deletes_win,
    pulls_are_paginated_in_change_order,
    nobody_touches_or_sees_another_users_records,
    bad_pushes_are_refused_and_store_nothing,
    profile_changes_reach_every_device_through_sync,
    stale_or_foreign_cursors_require_a_resync,
);

const DEV1: &str = "11111111-1111-4111-8111-111111111111";
const DEV2: &str = "22222222-2222-4222-8222-222222222222";

fn hlc(ms: u64, node: &str) -> String {
    format!("{ms:013}-000000-{node}")
}

/// A millisecond timestamp near the test clock (2026-11-21).
const T0: u64 = 1_795_200_000_000;

fn create(seq: i64, id: &str, title: &str, t: u64) -> Value {
    let f = |v: Value| json!({ "v": v, "t": hlc(t, "dev1") });
    json!({
        "client_seq": seq, "collection": "appointments", "id": id,
        "fields": {
            "title": f(json!(title)), "start": f(json!("2026-11-23T09:00:00Z")),
            "duration_min": f(json!(30)), "patient_label": f(json!("P-001")),
        }
    })
}

fn edit(seq: i64, id: &str, base: i64, field: &str, value: Value, t: u64, node: &str) -> Value {
    json!({
        "client_seq": seq, "collection": "appointments", "id": id, "base_version": base,
        "fields": { field: { "v": value, "t": hlc(t, node) } }
    })
}

async fn push(s: &TestServer, u: &TestUser, client: &str, mutations: Vec<Value>) -> Value {
    let r = s
        .send(
            "POST",
            "/v1/sync/push",
            Some(&u.access),
            Some(&json!({ "client_id": client, "mutations": mutations })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

async fn pull(s: &TestServer, u: &TestUser, cursor: Option<&str>, limit: u32) -> Value {
    let r = s
        .send(
            "POST",
            "/v1/sync/pull",
            Some(&u.access),
            Some(&json!({ "cursor": cursor, "limit": limit })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn appointments(page: &Value) -> Vec<&Value> {
    page["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["collection"] == "appointments")
        .collect()
}

async fn push_then_pull_and_replays_change_nothing(s: TestServer) {
    let u = s.user("sync").await;
    let batch = vec![
        create(1, &id(1), "Dressing", T0),
        create(2, &id(2), "Insulin", T0),
    ];
    let first = push(&s, &u, DEV1, batch.clone()).await;
    let results = first["results"].as_array().expect("results");
    assert!(results.iter().all(|r| r["status"] == "applied"), "{first}");
    let v1 = results[0]["record"]["version"].as_i64().expect("version");

    let before = s.fingerprint().await;
    let replay = push(&s, &u, DEV1, batch).await;
    assert_eq!(replay, first, "a replayed batch gets the same answers");
    assert_eq!(s.fingerprint().await, before, "and changes nothing");

    let page = pull(&s, &u, None, 100).await;
    let apps = appointments(&page);
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0]["fields"]["title"]["v"], "Dressing");
    assert_eq!(apps[0]["version"], v1);
    assert_eq!(page["more"], false);
    // Nothing new since the cursor.
    let again = pull(&s, &u, page["cursor"].as_str(), 100).await;
    assert_eq!(again["changes"], json!([]));
    // An edit shows up after the cursor, once.
    push(
        &s,
        &u,
        DEV1,
        vec![edit(
            3,
            &id(1),
            v1,
            "status",
            json!("completed"),
            T0 + 5,
            "dev1",
        )],
    )
    .await;
    let next = pull(&s, &u, page["cursor"].as_str(), 100).await;
    assert_eq!(appointments(&next).len(), 1);
    assert_eq!(next["changes"][0]["fields"]["status"]["v"], "completed");
}

/// A push is decided in memory and written at the end (performance
/// issue): within one batch a record created and then edited twice must
/// still be decided in order against the batch's own earlier writes, a
/// repeated sequence number gets the first one's answer, and the replay of
/// the whole batch gets every answer back verbatim.
async fn one_batch_editing_its_own_records_is_decided_in_order(s: TestServer) {
    let u = s.user("batch").await;
    let batch = vec![
        create(1, &id(1), "Dressing", T0),
        create(2, &id(2), "Insulin", T0),
        // Made on the version the create will get: the batch's own.
        edit(3, &id(1), 0, "status", json!("completed"), T0 + 5, "dev1"),
        edit(
            4,
            &id(1),
            0,
            "title",
            json!("Dressing, left leg"),
            T0 + 6,
            "dev1",
        ),
        // A repeat of sequence number 2 (a client bug): the first answer.
        create(2, &id(9), "Never stored", T0),
    ];
    let first = push(&s, &u, DEV1, batch.clone()).await;
    let r = first["results"].as_array().expect("results");
    assert_eq!(r.len(), 5, "{first}");
    let versions: Vec<i64> = r[..4]
        .iter()
        .map(|x| x["record"]["version"].as_i64().expect("version"))
        .collect();
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "every change numbered in order: {versions:?}"
    );
    // Edits based on version 0 of a record created in the same batch are
    // merges against it (later stamps win), never a lost field.
    assert_eq!(
        r[3]["record"]["fields"]["status"]["v"], "completed",
        "{first}"
    );
    assert_eq!(r[3]["record"]["fields"]["title"]["v"], "Dressing, left leg");
    assert_eq!(
        r[4], r[1],
        "a repeated sequence number gets the first answer"
    );

    let before = s.fingerprint().await;
    let replay = push(&s, &u, DEV1, batch).await;
    assert_eq!(replay, first, "a replayed batch gets the same answers");
    assert_eq!(s.fingerprint().await, before, "and changes nothing");

    let page = pull(&s, &u, None, 100).await;
    let apps = appointments(&page);
    assert_eq!(apps.len(), 2, "the repeat stored nothing: {page}");
    let one = apps
        .iter()
        .find(|a| a["id"] == id(1).as_str())
        .expect("record 1");
    assert_eq!(one["version"], versions[3], "stored at its last version");
    assert_eq!(one["fields"]["status"]["v"], "completed");
    assert_eq!(one["fields"]["title"]["v"], "Dressing, left leg");
}

async fn concurrent_edits_merge_per_field_and_deletes_win(s: TestServer) {
    let u = s.user("merge").await;
    let r = push(&s, &u, DEV1, vec![create(1, &id(7), "Visit", T0)]).await;
    let v = r["results"][0]["record"]["version"].as_i64().expect("v");
    // Two devices edit the same version: different fields both survive.
    push(
        &s,
        &u,
        DEV1,
        vec![edit(
            2,
            &id(7),
            v,
            "title",
            json!("Visit A"),
            T0 + 10,
            "dev1",
        )],
    )
    .await;
    let r = push(
        &s,
        &u,
        DEV2,
        vec![edit(
            1,
            &id(7),
            v,
            "address",
            json!("2 rue B"),
            T0 + 11,
            "dev2",
        )],
    )
    .await;
    assert_eq!(
        r["results"][0]["status"], "conflict",
        "made on an old version"
    );
    let rec = &r["results"][0]["record"];
    assert_eq!(rec["fields"]["title"]["v"], "Visit A");
    assert_eq!(rec["fields"]["address"]["v"], "2 rue B");
    // Same field: the later HLC wins whatever the arrival order.
    let r = push(
        &s,
        &u,
        DEV2,
        vec![edit(2, &id(7), v, "title", json!("Late"), T0 + 30, "dev2")],
    )
    .await;
    assert_eq!(r["results"][0]["record"]["fields"]["title"]["v"], "Late");
    let r = push(
        &s,
        &u,
        DEV1,
        vec![edit(3, &id(7), v, "title", json!("Early"), T0 + 20, "dev1")],
    )
    .await;
    assert_eq!(r["results"][0]["record"]["fields"]["title"]["v"], "Late");
    // Delete vs edit: the delete wins even against a later edit.
    let mut del = edit(4, &id(7), v, "title", json!("x"), T0 + 40, "dev1");
    del["fields"] = json!({});
    del["delete"] = json!(hlc(T0 + 40, "dev1"));
    let r = push(&s, &u, DEV1, vec![del]).await;
    assert!(r["results"][0]["record"]["deleted"].is_string());
    assert_eq!(
        r["results"][0]["record"]["fields"],
        json!({}),
        "a tombstone keeps no data"
    );
    let r = push(
        &s,
        &u,
        DEV2,
        vec![edit(
            3,
            &id(7),
            v,
            "title",
            json!("After delete"),
            T0 + 50,
            "dev2",
        )],
    )
    .await;
    assert!(r["results"][0]["record"]["deleted"].is_string());
    let page = pull(&s, &u, None, 100).await;
    let apps = appointments(&page);
    assert_eq!(apps.len(), 1);
    assert!(apps[0]["deleted"].is_string());
}

async fn pulls_are_paginated_in_change_order(s: TestServer) {
    let u = s.user("pages").await;
    let batch: Vec<Value> = (1..=25)
        .map(|i| create(i64::from(i), &id(i), &format!("V{i}"), T0))
        .collect();
    push(&s, &u, DEV1, batch).await;
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = pull(&s, &u, cursor.as_deref(), 10).await;
        pages += 1;
        for c in page["changes"].as_array().expect("changes") {
            seen.push(c["version"].as_i64().expect("version"));
        }
        cursor = page["cursor"].as_str().map(str::to_owned);
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(pages, 3, "26 changes (profile + 25) in pages of 10");
    assert_eq!(seen.len(), 26);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "change order");
}

async fn nobody_touches_or_sees_another_users_records(s: TestServer) {
    let a = s.user("owner").await;
    let b = s.user("other").await;
    let r = push(&s, &a, DEV1, vec![create(1, &id(9), "A's visit", T0)]).await;
    let v = r["results"][0]["record"]["version"].as_i64().expect("v");
    let before = s.fingerprint().await;
    let r = push(
        &s,
        &b,
        DEV2,
        vec![edit(
            1,
            &id(9),
            v,
            "title",
            json!("B was here"),
            T0 + 1,
            "dev2",
        )],
    )
    .await;
    assert_eq!(r["results"][0]["status"], "rejected");
    assert_eq!(r["results"][0]["reason"], "forbidden");
    let r = push(&s, &b, DEV2, vec![create(2, &id(9), "Same id", T0)]).await;
    assert_eq!(
        r["results"][0]["reason"], "forbidden",
        "a create cannot take over another's id"
    );
    assert_eq!(s.fingerprint().await, before);
    let page = pull(&s, &b, None, 100).await;
    assert!(appointments(&page).is_empty());
    assert!(!String::from_utf8_lossy(page.to_string().as_bytes()).contains("A's visit"));
    s.send("POST", "/v1/sync/pull", None, Some(&json!({})))
        .await
        .assert_problem(401, "unauthorized");
}

async fn bad_pushes_are_refused_and_store_nothing(s: TestServer) {
    let u = s.user("badsync").await;
    let r = push(&s, &u, DEV1, vec![create(1, &id(3), "Visit", T0)]).await;
    let v = r["results"][0]["record"]["version"].as_i64().expect("v");
    let before = s.fingerprint().await;
    let mut unknown = create(2, &id(4), "x", T0);
    unknown["collection"] = json!("secrets");
    let mut readonly = create(3, &u.id, "x", T0);
    readonly["collection"] = json!("profile");
    let mut missing = create(4, &id(5), "x", T0);
    missing["fields"]
        .as_object_mut()
        .expect("fields")
        .remove("start");
    let mut bad_id = create(5, "not-a-uuid", "x", T0);
    bad_id["id"] = json!("not-a-uuid");
    let cases = vec![
        (unknown, "unknown_collection"),
        (readonly, "read_only_collection"),
        (
            edit(6, &id(3), v, "duration_min", json!(0), T0 + 1, "dev1"),
            "invalid_record",
        ),
        (
            edit(7, &id(3), v, "colour", json!("red"), T0 + 1, "dev1"),
            "invalid_record",
        ),
        (missing, "invalid_record"),
        (bad_id, "invalid_record"),
        (
            edit(8, &id(3), v + 100, "title", json!("forged"), T0 + 1, "dev1"),
            "invalid_base_version",
        ),
        (
            edit(
                9,
                &id(3),
                v,
                "title",
                json!("future"),
                T0 + 400 * 86_400_000,
                "dev1",
            ),
            "invalid_clock",
        ),
        (
            edit(10, &id(3), v, "title", json!("bad clock"), 0, "has space"),
            "invalid_clock",
        ),
        (
            edit(
                11,
                &id(6),
                1,
                "title",
                json!("never existed"),
                T0 + 1,
                "dev1",
            ),
            "gone",
        ),
    ];
    for (m, reason) in cases {
        let r = push(&s, &u, DEV1, vec![m]).await;
        assert_eq!(r["results"][0]["status"], "rejected", "{r}");
        assert_eq!(r["results"][0]["reason"], reason, "{r}");
    }
    assert_eq!(s.fingerprint().await, before, "refusals stored nothing");
    let big: Vec<Value> = (0..501)
        .map(|i| create(100 + i, &id(1000 + i as u32), "x", T0))
        .collect();
    s.send(
        "POST",
        "/v1/sync/push",
        Some(&u.access),
        Some(&json!({ "client_id": DEV1, "mutations": big })),
    )
    .await
    .assert_problem(400, "validation_failed")
    .assert_field("mutations");
    let huge = vec![create(700, &id(700), &"x".repeat(100), T0); 1]
        .into_iter()
        .cycle()
        .take(1)
        .map(|mut m| {
            // Just over the 2 MiB limit: a large excess can make the server hang
            // up before the client has finished sending, a transport race.
            m["fields"]["title"]["v"] = json!("y".repeat(2 * 1024 * 1024 + 8 * 1024));
            m
        })
        .collect::<Vec<_>>();
    s.send(
        "POST",
        "/v1/sync/push",
        Some(&u.access),
        Some(&json!({ "client_id": DEV1, "mutations": huge })),
    )
    .await
    .assert_problem(413, "payload_too_large");
    s.send(
        "POST",
        "/v1/sync/push",
        Some(&u.access),
        Some(&json!({ "client_id": "dev", "mutations": [] })),
    )
    .await
    .assert_problem(400, "validation_failed")
    .assert_field("client_id");
    s.send(
        "POST",
        "/v1/sync/push",
        Some(&u.access),
        Some(&json!({ "client_id": DEV1, "mutations": [{"client_seq": "x"}] })),
    )
    .await
    .assert_problem(400, "validation_failed");
    assert_eq!(s.fingerprint().await, before);
}

async fn profile_changes_reach_every_device_through_sync(s: TestServer) {
    let u = s.user("profsync").await;
    let page = pull(&s, &u, None, 100).await;
    let profile = &page["changes"][0];
    assert_eq!(profile["collection"], "profile");
    assert_eq!(profile["id"], u.id);
    assert_eq!(profile["fields"]["email"]["v"], u.email);
    let r = s
        .send(
            "PATCH",
            "/v1/me",
            Some(&u.access),
            Some(&json!({ "full_name": "Rectified Name" })),
        )
        .await;
    assert_eq!(r.status, 200);
    let next = pull(&s, &u, page["cursor"].as_str(), 100).await;
    assert_eq!(
        next["changes"][0]["fields"]["full_name"]["v"],
        "Rectified Name"
    );
}

async fn stale_or_foreign_cursors_require_a_resync(s: TestServer) {
    let u = s.user("resync").await;
    let r = push(&s, &u, DEV1, vec![create(1, &id(11), "Soon deleted", T0)]).await;
    let v = r["results"][0]["record"]["version"].as_i64().expect("v");
    let old = pull(&s, &u, None, 100).await["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let mut del = edit(2, &id(11), v, "title", json!("x"), T0 + 1, "dev1");
    del["fields"] = json!({});
    del["delete"] = json!(hlc(T0 + 1, "dev1"));
    push(&s, &u, DEV1, vec![del]).await;
    // 31 days later the tombstone is pruned: the old cursor would miss it.
    s.clock.advance(Duration::days(31));
    let now = s.state.now();
    let pruned = s
        .state
        .store()
        .prune_sync(now - Duration::days(30), now - Duration::days(30))
        .await
        .expect("prune");
    assert_eq!(pruned, 1);
    let (access, _) = s.login(&u.email, &u.password).await;
    s.send(
        "POST",
        "/v1/sync/pull",
        Some(&access),
        Some(&json!({ "cursor": old })),
    )
    .await
    .assert_problem(410, "resync_required");
    // A full pull works and holds neither the record nor its tombstone.
    let full = s
        .send("POST", "/v1/sync/pull", Some(&access), Some(&json!({})))
        .await;
    assert_eq!(full.status, 200);
    assert!(appointments(&full.json()).is_empty());
    // A cursor of another server epoch, or garbage.
    let foreign = base64_cursor("another-epoch", 1);
    s.send(
        "POST",
        "/v1/sync/pull",
        Some(&access),
        Some(&json!({ "cursor": foreign })),
    )
    .await
    .assert_problem(410, "resync_required");
    s.send(
        "POST",
        "/v1/sync/pull",
        Some(&access),
        Some(&json!({ "cursor": "garbage!" })),
    )
    .await
    .assert_problem(400, "validation_failed")
    .assert_field("cursor");
}

fn base64_cursor(epoch: &str, seq: i64) -> String {
    // The server's cursor format (base64url JSON), forged by hand.
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{{\"e\":\"{epoch}\",\"s\":{seq}}}"))
}

/// A push as large as `copies` visits with 1,000-point polygon geofences
/// (about 50 KiB each), ids from `first`.
fn heavy_push(first: u32, copies: u32) -> Value {
    let f = |v: Value| json!({ "v": v, "t": hlc(T0, "dev1") });
    let points = praxis_tests::ellipse_ring(48.85, 2.35, 0.01, 0.015, 999);
    let fence = json!({"type": "polygon", "points": points});
    let mutations: Vec<Value> = (0..copies)
        .map(|k| {
            json!({"client_seq": i64::from(first + k), "collection": "appointments", "id": id(first + k),
                "fields": {"title": f(json!("Fenced visit")), "start": f(json!("2026-11-23T09:00:00Z")),
                    "duration_min": f(json!(30)), "geofence": f(fence.clone())}})
        })
        .collect();
    json!({ "client_id": DEV1, "mutations": mutations })
}

/// The push budget of [`the_push_budget_holds_back_one_account_only`], KiB/s.
const RATE: u32 = 100;

/// One account pushing large bodies back to back spends its push budget
/// (bytes per second) and is told to wait (`429`, `Retry-After`), with
/// nothing of the refused push stored; another account is not affected,
/// and the same push passes once the wait is over.
async fn the_push_budget_holds_back_one_account_only(
    backend: praxis_tests::Backend,
    transport: praxis_tests::Transport,
) {
    let settings = praxis_server::Settings {
        push_kib_per_second: RATE,
        // Raised to the push body limit (2 MiB): any single push can pass.
        push_burst_kib: 1,
        ..praxis_tests::test_settings()
    };
    let Some(s) = TestServer::start_with(backend, transport, settings).await else {
        return;
    };
    let (heavy, other) = (s.user("heavy").await, s.user("other").await);
    let size = serde_json::to_vec(&heavy_push(1, 12)).expect("json").len();
    assert!((550_000..700_000).contains(&size), "{size} bytes per push");
    // Back to back until refused: the 2 MiB burst lets three through, and
    // the refill cannot keep up with more. The refused push then waits
    // seconds, not a fraction of one, so the rounding of its wait shows.
    let started = std::time::Instant::now();
    let mut passed = 0u32;
    let refused = loop {
        let body = heavy_push(1 + 12 * passed, 12);
        let r = s
            .send("POST", "/v1/sync/push", Some(&heavy.access), Some(&body))
            .await;
        if r.status != 200 {
            break (r, body);
        }
        passed += 1;
        assert!(passed < 10, "never refused");
    };
    let (r, fourth) = refused;
    let refused_at = std::time::Instant::now();
    r.assert_problem(429, "rate_limited");
    let allowed = 2048.0 + f64::from(RATE) * started.elapsed().as_secs_f64();
    assert!(passed >= 3, "the burst passes: {passed}");
    assert!(
        f64::from(passed) * size as f64 / 1024.0 <= allowed + 1.0,
        "no more than the budget passed: {passed} pushes"
    );
    let wait: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=8).contains(&wait), "wait {wait} s");
    let stored = 12 * usize::try_from(passed).expect("count");
    assert_eq!(
        appointments(&pull(&s, &heavy, None, 1000).await).len(),
        stored
    );
    // Exactly the wait it was told after the refusal (a wait rounded down
    // would be too short), the refused push passes.
    tokio::time::sleep_until((refused_at + std::time::Duration::from_secs(wait)).into()).await;
    let r = s
        .send("POST", "/v1/sync/push", Some(&heavy.access), Some(&fourth))
        .await;
    assert_eq!(r.status, 200, "{}", r.code().unwrap_or_default());
    assert_eq!(
        appointments(&pull(&s, &heavy, None, 1000).await).len(),
        stored + 12
    );
    // Another account pushes as much at once, whatever the first one did.
    push(
        &s,
        &other,
        DEV2,
        heavy_push(1, 12)["mutations"]
            .as_array()
            .expect("mutations")
            .clone(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_budget_sqlite_http() {
    the_push_budget_holds_back_one_account_only(
        praxis_tests::Backend::Sqlite,
        praxis_tests::Transport::Http,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_budget_postgres_oneshot() {
    the_push_budget_holds_back_one_account_only(
        praxis_tests::Backend::Postgres,
        praxis_tests::Transport::Oneshot,
    )
    .await;
}
