//! Geofences: validation, containment and the R-tree index over many fences.

use super::*;

/// splitmix64: a deterministic stream for generated inputs.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// A valid random circle or star-shaped polygon within ~50 km of Paris.
fn random_fence(rng: &mut SplitMix) -> Geofence {
    loop {
        let lat = rng.range(48.625, 49.075);
        let lon = rng.range(2.01, 2.69);
        let size_m = rng.range(50.0, 1_000.0);
        let fence = if rng.next_u64() & 1 == 0 {
            Geofence::Circle {
                lat,
                lon,
                radius_m: size_m,
            }
        } else {
            let n = 3 + (rng.next_u64() % 10) as usize;
            let mut angles: Vec<f64> = (0..n)
                .map(|_| rng.range(0.0, std::f64::consts::TAU))
                .collect();
            angles.sort_by(f64::total_cmp);
            let mut points: Vec<LatLon> = angles
                .iter()
                .map(|a| {
                    let r = rng.range(0.2, 1.0) * size_m / 111_195.0;
                    LatLon {
                        lat: lat + r * a.cos(),
                        lon: lon + r * a.sin() / lat.to_radians().cos(),
                    }
                })
                .collect();
            points.push(points[0]);
            Geofence::Polygon { points }
        };
        if fence.validate().is_ok() {
            return fence;
        }
    }
}

/// Geofence evaluation (R-tree vs testing every fence) and the cost of the
/// two-gate check per fix: the pure rule, and the device's full check
/// (reading policy and consents from the encrypted cache).
pub(crate) async fn location_benchmarks(opts: &Options) -> anyhow::Result<Vec<Metric>> {
    use std::hint::black_box;
    let fixes_n = if opts.quick { 10_000 } else { 100_000 };
    let brute_n = if opts.quick { 1_000 } else { 10_000 };
    let mut rng = SplitMix(2026);
    let fences: Vec<Geofence> = (0..1_000).map(|_| random_fence(&mut rng)).collect();
    let fixes: Vec<(f64, f64)> = (0..fixes_n)
        .map(|_| (rng.range(48.625, 49.075), rng.range(2.01, 2.69)))
        .collect();
    let index = GeofenceIndex::new(fences.iter().cloned().enumerate().collect());
    let t = Instant::now();
    let mut hits = 0usize;
    for &(lat, lon) in &fixes {
        hits += black_box(index.containing(lat, lon).count());
    }
    let indexed = fixes_n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut brute_hits = 0usize;
    for &(lat, lon) in &fixes[..brute_n] {
        brute_hits += black_box(fences.iter().filter(|f| f.contains(lat, lon)).count());
    }
    let brute = brute_n as f64 / t.elapsed().as_secs_f64();
    let mut m = Metric::new(
        "geofence evaluation, 1,000 fences (R-tree)",
        indexed,
        "fixes/s",
        format!(
            "{fixes_n} fixes, {hits} hits; baseline: every fence tested ({brute_n} fixes, {brute_hits} hits)"
        ),
    );
    m.baseline = Some(brute);
    let mut out = vec![m];

    // The pure rule: 3 organisations, a 40-entry consent ledger.
    use praxis_core::protocol::location::Precision;
    use praxis_core::protocol::privacy::{Effective, Purpose, consents, gate, org_policy};
    let policies: Vec<_> = (0..3)
        .map(|_| org_policy::MemberPolicy {
            org_id: uuid::Uuid::new_v4(),
            location_visits: true,
            location_sharing: true,
            max_precision: Precision::Precise,
            retention_days: 7,
            member_enabled: true,
        })
        .collect();
    let ledger: Vec<consents::Entry> = (0..40)
        .map(|i| consents::Entry {
            id: format!("{i:04}"),
            purpose: Purpose::ALL[i % 4],
            granted: i % 3 != 0,
            policy_version: 1,
            at: chrono::DateTime::from_timestamp(1_800_000_000 + i as i64, 0).unwrap_or_default(),
            device: "bench".into(),
            order: 0,
        })
        .collect();
    let n = if opts.quick { 100_000 } else { 1_000_000 };
    let t = Instant::now();
    for _ in 0..n {
        let e = Effective::of(black_box(&policies));
        black_box(gate(
            Purpose::LocationVisits,
            false,
            &e,
            black_box(&ledger),
            1,
            Precision::Approximate,
        ))
        .ok();
    }
    out.push(Metric::new(
        "two-gate rule per fix (pure)",
        t.elapsed().as_nanos() as f64 / n as f64,
        "ns",
        "3 organisation policies, 40 ledger entries",
    ));

    // The device's full check: policy, consents and state read from the
    // encrypted cache, then the rule (what check-in pays per fix). Consent
    // is recorded only for someone signed in.
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .ok_or_else(|| anyhow::anyhow!("server"))?;
    let person = server.user("gates").await;
    let dir = tempfile::tempdir()?;
    let client = praxis_core::PraxisClient::open(praxis_core::ClientConfig::new(
        server.base_url().expect("http"),
        dir.path(),
        Arc::new(praxis_core::cache::RawKeyProvider::new([9; 32]))
            as Arc<dyn praxis_core::cache::KeyProvider>,
    ))
    .await?;
    client
        .account()
        .login(&person.email, &person.password)
        .await?;
    for i in 0..40 {
        let p = Purpose::ALL[i % 4];
        if i % 3 == 0 {
            client.consents().withdraw(p).await?;
        } else {
            client.consents().grant(p).await?;
        }
    }
    let loc = client.location();
    let n = if opts.quick { 200 } else { 2_000 };
    let t = Instant::now();
    for _ in 0..n {
        black_box(loc.permission(Purpose::LocationVisits).await?);
    }
    out.push(Metric::new(
        "two-gate check per fix on the device",
        t.elapsed().as_micros() as f64 / n as f64,
        "µs",
        "reads policy, 40 consents and state from the encrypted cache",
    ));
    Ok(out)
}
