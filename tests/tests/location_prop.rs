//! Property test of the two location gates, end to end: random sequences of
//! organisation policy toggles, a per-member switch, consent grants and
//! withdrawals, policy version bumps, restriction, fixes (check-ins and
//! live-share positions) and syncs, against a real server and real core
//! clients. A model tracks what each side knows; after every step:
//!
//! * a fix is accepted exactly when both gates are open as the device
//!   knows them (and the account is not restricted); a refused fix leaves
//!   nothing behind;
//! * the server holds exactly the visit events that were sent while the
//!   gates were open, and none that were dropped when a gate closed before
//!   they were sent; the device holds those plus the ones still queued;
//! * every approximate fix, on the device and on the server, is on the
//!   ~2 km grid with an accuracy of at least 2 km, and no fix is more
//!   precise than the organisation allowed;
//! * while the server's sharing gate is closed, it holds no live share of
//!   the user, and after a withdrawal no new position is stored.
//!
//! `PRAXIS_PROP_SEEDS=n` runs more seeds; `PRAXIS_PROP_SEED=s` replays one.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use praxis_core::clock::{Clock as _, ManualClock};
use praxis_core::protocol::RegisterRequest;
use praxis_core::protocol::location::{APPROXIMATE_ACCURACY_M, Precision, is_snapped};
use praxis_core::protocol::privacy::{Closed, Purpose, UpdateLocationPolicyRequest};
use praxis_core::sync::SyncState;
use praxis_core::{Error, Fix, FixSource, GeoPoint, NewAppointment, PraxisClient};
use praxis_server::clock::Clock as _;
use praxis_tests::{Backend, TestServer, Transport, epoch, person};
use uuid::Uuid;

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
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Policy {
    visits: bool,
    sharing: bool,
    max: Precision,
    member_on: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Consent {
    granted: bool,
    version: u32,
}

/// What each side knows.
#[derive(Debug)]
struct Model {
    server_policy: Policy,
    device_policy: Policy,
    published: [u32; 2],
    device_versions: [u32; 2],
    /// Latest consent on the device (counts at once) and on the server
    /// (after the next push).
    device_consent: [Consent; 2],
    server_consent: [Consent; 2],
    restricted: bool,
    preference: Precision,
    pending: BTreeSet<Uuid>,
    sent: BTreeSet<Uuid>,
    dropped: BTreeSet<Uuid>,
    /// Precision allowed when each event was taken.
    allowed: Vec<(Uuid, Precision)>,
    shares: usize,
}

fn idx(p: Purpose) -> usize {
    match p {
        Purpose::LocationVisits => 0,
        _ => 1,
    }
}

impl Model {
    fn gate(
        &self,
        p: Purpose,
        policy: Policy,
        consent: [Consent; 2],
        versions: [u32; 2],
    ) -> Result<Precision, Closed> {
        if self.restricted {
            return Err(Closed::Restricted);
        }
        let on = policy.member_on
            && match p {
                Purpose::LocationVisits => policy.visits,
                _ => policy.sharing,
            };
        if !on {
            return Err(Closed::PolicyDisabled);
        }
        let c = consent[idx(p)];
        if !c.granted || c.version < versions[idx(p)] {
            return Err(Closed::ConsentRequired);
        }
        Ok(self.preference.min(policy.max))
    }

    fn device_gate(&self, p: Purpose) -> Result<Precision, Closed> {
        self.gate(
            p,
            self.device_policy,
            self.device_consent,
            self.device_versions,
        )
    }

    fn server_gate(&self, p: Purpose) -> Result<Precision, Closed> {
        self.gate(p, self.server_policy, self.server_consent, self.published)
    }

    /// What the device drops when it learns that a gate is closed.
    fn enforce(&mut self) {
        if self.device_gate(Purpose::LocationVisits).is_err() {
            self.dropped.extend(std::mem::take(&mut self.pending));
        } else {
            // Queued fixes finer than the organisation now allows go too.
            let max = self.device_policy.max;
            let finer: Vec<Uuid> = self
                .pending
                .iter()
                .filter(|id| self.allowed.iter().any(|(e, p)| e == *id && *p > max))
                .copied()
                .collect();
            for id in finer {
                self.pending.remove(&id);
                self.dropped.insert(id);
            }
        }
        if self.device_gate(Purpose::LocationSharing).is_err() {
            self.shares = 0;
        }
    }
}

struct World {
    s: TestServer,
    admin: Arc<PraxisClient>,
    member: Arc<PraxisClient>,
    member_id: Uuid,
    org: Uuid,
    admin_id: Uuid,
    clock: Arc<ManualClock>,
    _dirs: Vec<tempfile::TempDir>,
}

async fn client(
    s: &TestServer,
    clock: &Arc<ManualClock>,
    key: u8,
) -> (Arc<PraxisClient>, Uuid, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = praxis_tests::client_config(s.base_url().expect("url"), dir.path(), key);
    config.clock = clock.clone();
    let c = PraxisClient::open(config).await.expect("open");
    let body = person("prop");
    let req: RegisterRequest = serde_json::from_value(body.clone()).expect("body");
    let id = c.account().register(&req).await.expect("register");
    praxis_tests::sign_in(&c, &body).await;
    (c, id, dir)
}

async fn world() -> World {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let clock = Arc::new(ManualClock::new(epoch()));
    let (admin, admin_id, d1) = client(&s, &clock, 1).await;
    let (member, member_id, d2) = client(&s, &clock, 2).await;
    let org = admin.account().create_org("Prop").await.expect("org");
    let code = admin.account().create_join_code(org).await.expect("code");
    member.account().join_org(&code.code).await.expect("join");
    World {
        s,
        admin,
        member,
        member_id,
        org,
        admin_id,
        clock,
        _dirs: vec![d1, d2],
    }
}

fn closed_or_panic<T: std::fmt::Debug>(r: Result<T, Error>, want: Closed, what: &str) {
    match r {
        Err(Error::Closed { reason, .. }) => assert_eq!(reason, want, "{what}"),
        other => panic!("{what}: expected {want:?}, got {other:?}"),
    }
}

async fn run(seed: u64, steps: usize) {
    let w = world().await;
    let mut rng = Rng(seed);
    let initial = Policy {
        visits: false,
        sharing: false,
        max: Precision::Approximate,
        member_on: true,
    };
    let mut m = Model {
        server_policy: initial,
        device_policy: initial,
        published: [1, 1],
        device_versions: [1, 1],
        device_consent: [Consent::default(); 2],
        server_consent: [Consent::default(); 2],
        restricted: false,
        preference: Precision::Approximate,
        pending: BTreeSet::new(),
        sent: BTreeSet::new(),
        dropped: BTreeSet::new(),
        allowed: Vec::new(),
        shares: 0,
    };
    // Devices learn the initial policy.
    w.member.sync().sync_now("prop").await.expect("sync");
    let loc = w.member.location();
    let purposes = [Purpose::LocationVisits, Purpose::LocationSharing];
    let mut last_positions = String::new();
    for step in 0..steps {
        // Every step at its own instant (the ledger orders by time).
        w.clock.advance(Duration::seconds(2));
        w.s.clock.advance(Duration::seconds(2));
        let op = rng.below(100);
        let what = format!("seed {seed} step {step} op {op}");
        match op {
            0..=14 => {
                // An admin toggles the organisation's policy.
                let change = match rng.below(3) {
                    0 => UpdateLocationPolicyRequest {
                        location_visits: Some(rng.coin()),
                        ..Default::default()
                    },
                    1 => UpdateLocationPolicyRequest {
                        location_sharing: Some(rng.coin()),
                        ..Default::default()
                    },
                    _ => UpdateLocationPolicyRequest {
                        max_precision: Some(if rng.coin() {
                            Precision::Precise
                        } else {
                            Precision::Approximate
                        }),
                        ..Default::default()
                    },
                };
                w.admin
                    .account()
                    .update_location_policy(w.org, &change)
                    .await
                    .expect("policy");
                let p = &mut m.server_policy;
                p.visits = change.location_visits.unwrap_or(p.visits);
                p.sharing = change.location_sharing.unwrap_or(p.sharing);
                p.max = change.max_precision.unwrap_or(p.max);
            }
            15..=19 => {
                let on = rng.coin();
                w.admin
                    .account()
                    .set_member_location(w.org, w.member_id, on)
                    .await
                    .expect("member switch");
                m.server_policy.member_on = on;
            }
            20..=34 => {
                let p = purposes[rng.below(2) as usize];
                let grant = rng.below(3) > 0;
                let consents = w.member.consents();
                if grant {
                    consents.grant(p).await.expect("grant");
                } else {
                    consents.withdraw(p).await.expect("withdraw");
                }
                m.device_consent[idx(p)] = Consent {
                    granted: grant,
                    version: m.device_versions[idx(p)],
                };
                m.enforce();
            }
            35..=37 => {
                let p = purposes[rng.below(2) as usize];
                let v = m.published[idx(p)] + 1;
                assert!(
                    w.s.state
                        .store()
                        .publish_policy_version(p, v, w.s.clock.now())
                        .await
                        .expect("publish")
                );
                m.published[idx(p)] = v;
            }
            38..=41 => {
                let r = rng.coin();
                w.member
                    .account()
                    .set_restricted(r)
                    .await
                    .expect("restrict");
                m.restricted = r;
                m.enforce();
            }
            42..=45 => {
                let p = if rng.coin() {
                    Precision::Precise
                } else {
                    Precision::Approximate
                };
                loc.set_precision(p).await.expect("preference");
                m.preference = p;
            }
            46..=69 => {
                // A check-in at a new visit.
                let lat = 50.6 + rng.unit() * 0.1;
                let lon = 3.0 + rng.unit() * 0.1;
                let created = w
                    .member
                    .appointments()
                    .create(NewAppointment {
                        title: "Visit".into(),
                        patient_label: None,
                        start: w.clock.now() + Duration::hours(1),
                        duration_min: 30,
                        address: None,
                        point: Some(GeoPoint { lat, lon }),
                        geofence: None,
                    })
                    .await;
                if m.restricted {
                    // A restricted account's data does not change.
                    assert!(matches!(created, Err(Error::Restricted)), "{what}");
                    check(&w, &m, &what, &mut last_positions).await;
                    continue;
                }
                let appointment = created.expect("appointment");
                let fix = Fix {
                    lat: lat + (rng.unit() - 0.5) * 0.01,
                    lon: lon + (rng.unit() - 0.5) * 0.01,
                    accuracy_m: 3.0 + rng.unit() * 40.0,
                    at: w.clock.now(),
                    source: FixSource::Gps,
                };
                let r = loc.check_in(appointment, fix).await;
                match m.device_gate(Purpose::LocationVisits) {
                    Ok(allowed) => {
                        let ev = r.unwrap_or_else(|e| panic!("{what}: refused while open: {e:?}"));
                        assert_eq!(ev.precision, allowed, "{what}");
                        m.pending.insert(ev.id);
                        m.allowed.push((ev.id, allowed));
                    }
                    Err(c) => closed_or_panic(r, c, &what),
                }
            }
            70..=77 => {
                let r = loc.start_share(vec![w.admin_id], 60).await;
                match (m.device_gate(Purpose::LocationSharing), r) {
                    (Ok(_), Ok(_)) => m.shares += 1,
                    // The server has not seen the consent or the policy yet.
                    (Ok(_), Err(Error::Api { status: 403, .. })) => {}
                    (Ok(_), Err(e)) => panic!("{what}: {e:?}"),
                    (Err(c), r) => closed_or_panic(r, c, &what),
                }
            }
            78..=87 => {
                let fix = Fix {
                    lat: 50.6 + rng.unit() * 0.1,
                    lon: 3.0 + rng.unit() * 0.1,
                    accuracy_m: 10.0,
                    at: w.clock.now(),
                    source: FixSource::Gps,
                };
                let r = loc.share_fix(fix).await;
                match m.device_gate(Purpose::LocationSharing) {
                    Ok(_) => {
                        let n = r.unwrap_or_else(|e| panic!("{what}: {e:?}"));
                        assert!(n <= m.shares, "{what}");
                        m.shares = n;
                    }
                    Err(c) => {
                        closed_or_panic(r, c, &what);
                        m.shares = 0;
                    }
                }
            }
            _ => {
                let status = w.member.sync().sync_now("prop").await.expect("sync");
                assert_eq!(status.state, SyncState::Idle, "{what}: {status:?}");
                // The privacy step comes first: the device learns, enforces,
                // then pushes what is left.
                m.device_policy = m.server_policy;
                m.device_versions = m.published;
                m.enforce();
                m.sent.extend(std::mem::take(&mut m.pending));
                m.server_consent = m.device_consent;
            }
        }
        check(&w, &m, &what, &mut last_positions).await;
    }
}

async fn check(w: &World, m: &Model, what: &str, last_positions: &mut String) {
    let loc = w.member.location();
    // The device: what was accepted and not dropped.
    let events = loc.all_events().await.expect("events");
    let on_device: BTreeSet<Uuid> = events.iter().map(|e| e.id).collect();
    let expected: BTreeSet<Uuid> = m.sent.union(&m.pending).copied().collect();
    assert_eq!(on_device, expected, "{what}: device events");
    for e in &events {
        let allowed = m
            .allowed
            .iter()
            .find(|(id, _)| *id == e.id)
            .map(|(_, p)| *p)
            .expect("known");
        assert!(e.precision <= allowed, "{what}: finer than allowed");
        if e.precision == Precision::Approximate {
            let p = e.position.expect("position");
            assert!(is_snapped(p.lat, p.lon), "{what}: off the grid");
            assert!(e.accuracy_m.expect("acc") >= APPROXIMATE_ACCURACY_M);
        }
    }
    // The server: exactly what was sent, never what was dropped.
    let page =
        w.s.state
            .store()
            .pull(&format!("u:{}", w.member_id), 0, 10_000)
            .await
            .expect("pull");
    let mut on_server = BTreeSet::new();
    for r in page
        .changes
        .iter()
        .filter(|r| r.collection == "visit_events" && r.deleted.is_none())
    {
        let id: Uuid = r.id.parse().expect("id");
        on_server.insert(id);
        let f = |k: &str| r.fields.get(k).and_then(|v| v.v.as_f64());
        if r.fields["precision"].v == "approximate" {
            assert!(
                is_snapped(f("lat").expect("lat"), f("lon").expect("lon")),
                "{what}: server copy off the grid"
            );
            assert!(f("accuracy_m").expect("acc") >= APPROXIMATE_ACCURACY_M);
        }
    }
    assert_eq!(on_server, m.sent, "{what}: server events");
    assert!(
        on_server.is_disjoint(&m.dropped),
        "{what}: a dropped fix was sent"
    );
    // Live sharing on the server.
    let shares =
        w.s.count(&format!(
            "SELECT COUNT(*) FROM location_shares WHERE user_id = '{}'",
            w.member_id
        ))
        .await;
    if m.server_gate(Purpose::LocationSharing).is_err() {
        assert_eq!(shares, 0, "{what}: a share outlived its gate");
    }
    let positions =
        w.s.count("SELECT COUNT(*) FROM location_positions")
            .await
            .to_string();
    if m.device_gate(Purpose::LocationSharing).is_err() {
        assert!(
            positions == "0" || positions == *last_positions,
            "{what}: a position was stored while sharing was closed"
        );
    }
    *last_positions = positions;
    if m.device_gate(Purpose::LocationSharing).is_err() {
        assert!(loc.my_shares().await.expect("shares").is_empty(), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fix_is_stored_or_sent_while_a_gate_is_closed() {
    if let Some(seed) = std::env::var("PRAXIS_PROP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        run(seed, 60).await;
        return;
    }
    let seeds: u64 = std::env::var("PRAXIS_PROP_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    for seed in 0..seeds {
        run(seed, 60).await;
    }
}
