//! Deterministic simulation of offline-first sync.
//!
//! Per seed: one practitioner, three devices (each a real encrypted cache
//! and sync engine) and the real server logic in-process, driven by a
//! seeded random schedule of operations (create, edit, delete, sync, go
//! offline and online, restart a device from disk, restart the server,
//! move a device's clock, including backwards) and faults (request lost,
//! response lost, request delivered twice). At the end the network heals
//! and every device syncs until settled; then every device and the server
//! must hold the same records, equal to what the writes imply (per field
//! the write with the latest HLC; deleted if ever deleted), with every
//! device's mutations applied exactly once.
//!
//! `PRAXIS_SIM_SEEDS` sets the number of seeds (default 1000);
//! `PRAXIS_SIM_SEED=n` replays one seed:
//! `PRAXIS_SIM_SEED=42 cargo test -p praxis-tests --test sync_sim -- --nocapture`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use chrono::Duration;
use http_body_util::BodyExt;
use praxis_core::cache::{Cache, KeyProvider, RawKeyProvider};
use praxis_core::clock::ManualClock;
use praxis_core::protocol::Problem;
use praxis_core::protocol::sync::{PullRequest, PullResponse, PushRequest, PushResponse};
use praxis_core::sync::plan::LocalRecord;
use praxis_core::sync::{Change, SyncEngine, SyncTransport};
use praxis_core::{Error, NetworkError};
use praxis_tests::{Backend, TestServer, Transport, epoch};
use serde_json::{Value, json};
use tower::ServiceExt;

/// splitmix64: a small, seedable, well-spread generator.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The server seen through a faulty network.
#[derive(Debug)]
struct SimNet {
    router: Mutex<Router>,
    token: String,
    rng: Mutex<Rng>,
    online: Mutex<bool>,
    faults: Mutex<bool>,
}

impl SimNet {
    async fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        req: &Req,
    ) -> Result<Resp, Error> {
        if !*self.online.lock().expect("lock") {
            return Err(Error::Network(NetworkError::Unreachable));
        }
        let (lose_request, lose_response, duplicate) = if *self.faults.lock().expect("lock") {
            let mut r = self.rng.lock().expect("lock");
            (r.chance(8), r.chance(8), r.chance(8))
        } else {
            (false, false, false)
        };
        if lose_request {
            return Err(Error::Network(NetworkError::Interrupted));
        }
        let body = serde_json::to_vec(req).expect("json");
        let send = || {
            let router = self.router.lock().expect("lock").clone();
            let request = axum::http::Request::post(path)
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {}", self.token))
                .body(Body::from(body.clone()))
                .expect("request");
            async move {
                let res = router.oneshot(request).await.expect("infallible");
                let status = res.status().as_u16();
                let bytes = res.into_body().collect().await.expect("body").to_bytes();
                (status, bytes)
            }
        };
        let (mut status, mut bytes) = send().await;
        if duplicate {
            (status, bytes) = send().await;
        }
        if lose_response {
            return Err(Error::Network(NetworkError::Interrupted));
        }
        if (200..300).contains(&status) {
            if std::env::var_os("PRAXIS_SIM_TRACE").is_some()
                && bytes.windows(8).any(|w| w == b"rejected")
            {
                eprintln!("trace: {}", String::from_utf8_lossy(&bytes));
            }
            return Ok(serde_json::from_slice(&bytes).expect("response shape"));
        }
        let p: Problem = serde_json::from_slice(&bytes).expect("problem");
        Err(Error::Api {
            status,
            code: p.code,
            field: p.field,
            retry_after: None,
        })
    }
}

#[async_trait]
impl SyncTransport for SimNet {
    async fn push(&self, req: &PushRequest) -> praxis_core::Result<PushResponse> {
        self.call("/v1/sync/push", req).await
    }
    async fn pull(&self, req: &PullRequest) -> praxis_core::Result<PullResponse> {
        self.call("/v1/sync/pull", req).await
    }
}

struct Device {
    engine: Arc<SyncEngine>,
    net: Arc<SimNet>,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
    seed: u64,
    /// Mutations this device generated.
    writes: usize,
}

fn key() -> Arc<dyn KeyProvider> {
    Arc::new(RawKeyProvider::new([7; 32]))
}

fn engine(
    dir: &tempfile::TempDir,
    net: &Arc<SimNet>,
    clock: &Arc<ManualClock>,
    seed: u64,
) -> Arc<SyncEngine> {
    let cache = Arc::new(Cache::open(&dir.path().join("cache.db"), key()).expect("open cache"));
    Arc::new(SyncEngine::new(
        cache,
        net.clone(),
        clock.clone(),
        None,
        seed,
    ))
}

/// What the writes imply: per record, per field, the (hlc, value) with the
/// latest HLC; or deleted.
#[derive(Default, Debug)]
struct Model {
    fields: BTreeMap<String, BTreeMap<String, (String, Value)>>,
    deleted: BTreeMap<String, bool>,
    order: Vec<String>,
}

type View = BTreeMap<String, BTreeMap<String, Value>>;

fn view(records: Vec<(String, LocalRecord)>) -> View {
    records
        .into_iter()
        .map(|(id, r)| (id, r.fields.into_iter().map(|(k, v)| (k, v.v)).collect()))
        .collect()
}

const FIELDS: &[&str] = &[
    "title",
    "patient_label",
    "address",
    "duration_min",
    "status",
];

fn value(field: &str, rng: &mut Rng) -> Value {
    match field {
        "duration_min" => json!(1 + rng.below(120)),
        "status" => {
            json!(["scheduled", "completed", "cancelled", "no_show"][rng.below(4) as usize])
        }
        _ => json!(format!("{field}-{}", rng.below(1000))),
    }
}

async fn run_seed(server: &TestServer, seed: u64) -> Result<(), String> {
    let mut rng = Rng(seed);
    let user = server.user("sim").await;
    let mut devices = Vec::new();
    for n in 0..3u64 {
        let net = Arc::new(SimNet {
            router: Mutex::new(server.router()),
            token: user.access.clone(),
            rng: Mutex::new(Rng(seed ^ ((n + 1) * 0x5151))),
            online: Mutex::new(true),
            faults: Mutex::new(true),
        });
        let clock = Arc::new(ManualClock::new(epoch()));
        let dir = tempfile::tempdir().expect("dir");
        let dseed = seed.wrapping_mul(31).wrapping_add(n + 1);
        devices.push(Device {
            engine: engine(&dir, &net, &clock, dseed),
            net,
            clock,
            dir,
            seed: dseed,
            writes: 0,
        });
    }
    let mut model = Model::default();
    let steps = 30 + rng.below(30);
    for _ in 0..steps {
        let d = rng.below(3) as usize;
        let dev = &mut devices[d];
        dev.clock.advance(Duration::milliseconds(if rng.chance(10) {
            -2_000
        } else {
            1 + rng.below(3_000) as i64
        }));
        match rng.below(100) {
            0..=24 => {
                let id = format!("00000000-0000-4000-8000-{:012x}", rng.below(1 << 48));
                let mut fields = vec![
                    ("title".to_owned(), value("title", &mut rng)),
                    ("start".to_owned(), json!("2026-11-23T09:00:00Z")),
                    ("duration_min".to_owned(), value("duration_min", &mut rng)),
                ];
                if rng.chance(50) {
                    fields.push(("address".to_owned(), value("address", &mut rng)));
                }
                dev.engine
                    .write("appointments", id.clone(), Change::Create(fields))
                    .await
                    .map_err(|e| format!("create: {e}"))?;
                dev.writes += 1;
                model.order.push(id.clone());
                record_local(&mut model, dev, &id).await;
            }
            25..=54 if !model.order.is_empty() => {
                let id = model.order[rng.below(model.order.len() as u64) as usize].clone();
                let field = FIELDS[rng.below(FIELDS.len() as u64) as usize];
                let v = value(field, &mut rng);
                match dev
                    .engine
                    .write(
                        "appointments",
                        id.clone(),
                        Change::Update(vec![(field.to_owned(), v)]),
                    )
                    .await
                {
                    Ok(()) => {
                        dev.writes += 1;
                        record_local(&mut model, dev, &id).await;
                    }
                    // Not on this device yet, or deleted here: refused locally.
                    Err(Error::InvalidInput { .. }) => {}
                    Err(e) => return Err(format!("edit: {e}")),
                }
            }
            55..=62 if !model.order.is_empty() => {
                let id = model.order[rng.below(model.order.len() as u64) as usize].clone();
                match dev
                    .engine
                    .write("appointments", id.clone(), Change::Delete)
                    .await
                {
                    Ok(()) => {
                        dev.writes += 1;
                        model.deleted.insert(id, true);
                    }
                    Err(Error::InvalidInput { .. }) => {}
                    Err(e) => return Err(format!("delete: {e}")),
                }
            }
            63..=84 => {
                // Failures are expected under faults; convergence is checked at the end.
                let _ = dev
                    .engine
                    .sync_now("sim")
                    .await
                    .map_err(|e| format!("sync: {e}"))?;
            }
            85..=90 => {
                let mut online = dev.net.online.lock().expect("lock");
                *online = !*online;
            }
            91..=95 => {
                // Restart the device from disk: memory state is lost.
                dev.engine = engine(&dev.dir, &dev.net, &dev.clock, dev.seed);
            }
            _ => {
                let app = server.restarted_app().await;
                for dv in &devices {
                    *dv.net.router.lock().expect("lock") = app.clone();
                }
            }
        }
    }
    // Heal and settle.
    for dev in &devices {
        *dev.net.online.lock().expect("lock") = true;
        *dev.net.faults.lock().expect("lock") = false;
    }
    for _round in 0..3 {
        for dev in &devices {
            let status = dev
                .engine
                .sync_now("settle")
                .await
                .map_err(|e| format!("settle: {e}"))?;
            if status.pending != 0 {
                return Err(format!("pending after healed sync: {status:?}"));
            }
        }
    }
    // Expected state from the writes.
    let expected: View = model
        .fields
        .iter()
        .filter(|(id, _)| !model.deleted.contains_key(*id))
        .map(|(id, f)| {
            (
                id.clone(),
                f.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect(),
            )
        })
        .collect();
    for (n, dev) in devices.iter().enumerate() {
        let got = view(
            dev.engine
                .records("appointments")
                .await
                .map_err(|e| e.to_string())?,
        );
        let got: View = got
            .into_iter()
            .map(|(id, f)| (id, f.into_iter().filter(|(k, _)| k != "start").collect()))
            .collect();
        if got != expected {
            return Err(format!(
                "device {n} diverged:\n got {got:?}\nwant {expected:?}"
            ));
        }
    }
    // The server agrees, and applied each mutation exactly once.
    let full: PullResponse = devices[0]
        .net
        .call("/v1/sync/pull", &json!({ "limit": 1000 }))
        .await
        .map_err(|e| e.to_string())?;
    let server_view: View = full
        .changes
        .into_iter()
        .filter(|c| c.collection == "appointments" && c.deleted.is_none())
        .map(|c| {
            (
                c.id,
                c.fields
                    .into_iter()
                    .filter(|(k, _)| k != "start")
                    .map(|(k, v)| (k, v.v))
                    .collect(),
            )
        })
        .collect();
    if server_view != expected {
        return Err(format!(
            "server diverged:\n got {server_view:?}\nwant {expected:?}"
        ));
    }
    let applied = server
        .count(&format!(
            "SELECT COUNT(*) FROM sync_mutations WHERE user_id = '{}'",
            user.id
        ))
        .await;
    let written: usize = devices.iter().map(|d| d.writes).sum();
    if applied != written as i64 {
        return Err(format!("{written} mutations written, {applied} applied"));
    }
    Ok(())
}

/// Notes the HLC and value each field got from the write just made.
async fn record_local(model: &mut Model, dev: &Device, id: &str) {
    let records = dev.engine.records("appointments").await.expect("records");
    let Some((_, r)) = records.into_iter().find(|(rid, _)| rid == id) else {
        return;
    };
    let entry = model.fields.entry(id.to_owned()).or_default();
    for (k, v) in r.fields {
        if k == "start" {
            continue;
        }
        let newer = entry.get(&k).is_none_or(|(t, _)| v.t > *t);
        if newer {
            entry.insert(k, (v.t, v.v));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_seed_converges_with_nothing_lost_or_applied_twice() {
    let server = TestServer::start(Backend::Sqlite, Transport::Oneshot)
        .await
        .expect("server");
    let seeds: Vec<u64> = match std::env::var("PRAXIS_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("a number")],
        Err(_) => {
            let n: u64 = std::env::var("PRAXIS_SIM_SEEDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000);
            (1..=n).collect()
        }
    };
    // Two seeds at a time: their database and hashing work overlaps.
    let (odd, even): (Vec<u64>, Vec<u64>) = seeds.iter().partition(|s| *s % 2 == 1);
    let run = |list: Vec<u64>| {
        let server = &server;
        async move {
            let mut failed = HashMap::new();
            for seed in list {
                if let Err(e) = run_seed(server, seed).await {
                    eprintln!(
                        "seed {seed} FAILED: {e}\nreplay: PRAXIS_SIM_SEED={seed} cargo test -p praxis-tests --test sync_sim -- --nocapture"
                    );
                    failed.insert(seed, e);
                    if failed.len() >= 3 {
                        break;
                    }
                }
            }
            failed
        }
    };
    let (a, b) = tokio::join!(run(odd), run(even));
    let failures: HashMap<u64, String> = a.into_iter().chain(b).collect();
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed: {:?}",
        failures.len(),
        seeds.len(),
        failures.keys()
    );
}

/// A transport without a change feed (this in-process one): the live
/// driver pulls every poll interval instead, so another device's change
/// still arrives without anyone calling `sync_now`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_feed_the_live_driver_polls() {
    let server = TestServer::start(Backend::Sqlite, Transport::Oneshot)
        .await
        .expect("server");
    let user = server.user("poll").await;
    let net = || {
        Arc::new(SimNet {
            router: Mutex::new(server.router()),
            token: user.access.clone(),
            rng: Mutex::new(Rng(1)),
            online: Mutex::new(true),
            faults: Mutex::new(false),
        })
    };
    let clock = Arc::new(ManualClock::new(epoch()));
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = engine(&dir_a, &net(), &clock, 11);
    let b = engine(&dir_b, &net(), &clock, 12);
    let live = b.spawn_live(praxis_core::sync::LiveOptions {
        poll_interval: std::time::Duration::from_millis(100),
        ..Default::default()
    });
    let id = "00000000-0000-4000-8000-00000000a11e".to_owned();
    a.write(
        "appointments",
        id.clone(),
        Change::Create(vec![
            ("title".to_owned(), json!("Polled")),
            ("start".to_owned(), json!("2026-11-23T09:00:00Z")),
            ("duration_min".to_owned(), json!(30)),
        ]),
    )
    .await
    .expect("write");
    a.sync_now("test").await.expect("sync");
    let start = std::time::Instant::now();
    loop {
        if let Some(r) = b.record("appointments", id.clone()).await.expect("read") {
            assert_eq!(r.fields["title"].v, json!("Polled"));
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "never polled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    live.abort();
}
