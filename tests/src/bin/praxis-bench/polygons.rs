//! Section `polygons`: what maximal polygon geofences cost (security
//! review: validation was quadratic and ran inside the single writer's
//! lock).
//!
//! * validation of worst-case 1,000-point rings in this process, against
//!   decoding the same ring from JSON (the work the server must do anyway);
//! * an ordinary user's pushes while three others push as many such
//!   polygons as the body limit allows.

use std::time::{Duration, Instant};

use praxis_core::protocol::location::Geofence;
use praxis_server::clock::Clock as _;
use praxis_tests::{Backend, TestServer, Transport};
use serde_json::{Value, json};

use crate::{Latencies, Metric, Options, backend_name, create_batches, gather, percentile_ms};

/// Rings of 1,000 points (closing point included) that make validation
/// work hardest, within the 50 km span limit near Paris:
/// * `convex`: an ellipse about 33 km across, so the span is measured on
///   the hull and every corner of the sweep is visited;
/// * `comb`: 249 teeth about 22 km long, so every horizontal edge overlaps
///   every other in longitude;
/// * `diagonal comb`: the same comb sheared, so the edges overlap in both
///   latitude and longitude.
fn worst_rings() -> Vec<(&'static str, Vec<Value>)> {
    let ll = |lat: f64, lon: f64| json!({"lat": lat, "lon": lon});
    let convex = praxis_tests::ellipse_ring(48.0, 2.0, 0.15, 0.2, 999);
    let comb = |shear: f64| {
        let d = 0.3 / 500.0;
        let mut ring = vec![ll(48.0, 2.0)];
        for k in 0..249 {
            let y = 48.0 + f64::from(2 * k) * d;
            let x = |lon: f64, lat: f64| ll(lat, lon + shear * (lat - 48.0));
            ring.push(x(2.3, y));
            ring.push(x(2.3, y + d));
            ring.push(x(2.0001, y + d));
            ring.push(x(2.0001, y + 2.0 * d));
        }
        ring.push(ll(48.0 + 498.0 * d, 1.9999 + shear * 498.0 * d));
        ring.push(ll(48.0, 1.9999));
        ring.push(ring[0].clone());
        ring
    };
    vec![
        ("convex", convex),
        ("comb", comb(0.0)),
        ("diagonal comb", comb(0.5)),
    ]
}

/// Validation time of each worst-case ring, against decoding it from JSON.
pub(crate) fn validation_cost() -> Vec<Metric> {
    let mut out = Vec::new();
    for (name, points) in worst_rings() {
        let text = json!({"type": "polygon", "points": points}).to_string();
        let fence: Geofence = serde_json::from_str(&text).expect("a polygon");
        assert_eq!(fence.validate(), Ok(()), "{name} must be a valid fence");
        let runs = 200u32;
        let time = |f: &dyn Fn()| {
            let start = Instant::now();
            for _ in 0..runs {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(runs)
        };
        let decode = time(&|| {
            std::hint::black_box(serde_json::from_str::<Geofence>(&text).ok());
        });
        let validate = time(&|| {
            std::hint::black_box(std::hint::black_box(&fence).validate().ok());
        });
        let mut m = Metric::new(
            format!(
                "geofence validation, {name} ring of {} points",
                points.len()
            ),
            validate,
            "us",
            format!(
                "baseline: decoding the same ring from JSON ({} bytes)",
                text.len()
            ),
        );
        m.baseline = Some(decode);
        out.push(m);
    }
    out
}

/// Pushes `body()` with `token` until `stop_at`: the latencies of the
/// pushes that succeeded, and how many failed.
fn pushing(
    url: String,
    token: String,
    stop_at: Instant,
    body: impl Fn() -> Value + Send + 'static,
) -> tokio::task::JoinHandle<Latencies> {
    tokio::spawn(async move {
        let client = praxis_tests::http_client();
        let (mut lat, mut errors) = (Vec::new(), 0u64);
        while Instant::now() < stop_at {
            let batch = body();
            let t = Instant::now();
            let ok = client
                .post(format!("{url}/v1/sync/push"))
                .bearer_auth(&token)
                .json(&batch)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                lat.push(t.elapsed());
            } else {
                errors += 1;
            }
        }
        (lat, errors)
    })
}

/// A push as large as the body limit allows of 1,000-point polygon
/// geofences (convex, so every validity check runs in full).
fn polygon_push(now: chrono::DateTime<chrono::Utc>) -> Value {
    let t = format!("{:013}-000000-bench", now.timestamp_millis() - 60_000);
    let f = |v: Value| json!({ "v": v, "t": t });
    let fence =
        json!({"type": "polygon", "points": praxis_tests::ellipse_ring(48.0, 2.0, 0.15, 0.2, 999)});
    let mutations: Vec<Value> = (0..40)
        .map(|i| {
            json!({"client_seq": i + 1, "collection": "appointments",
                "id": uuid::Uuid::now_v7().to_string(),
                "fields": {"title": f(json!("Fenced visit")), "start": f(json!("2026-11-23T09:00:00Z")),
                    "duration_min": f(json!(30)), "status": f(json!("scheduled")), "geofence": f(fence.clone())}})
        })
        .collect();
    json!({"client_id": uuid::Uuid::new_v4().to_string(), "mutations": mutations})
}

/// An ordinary user's one-visit pushes, alone and then while three other
/// users push maximal polygon geofences (security review: validation ran
/// inside the single writer's lock and stalled everyone).
pub(crate) async fn interference(backend: Backend, opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let duration = Duration::from_secs(if opts.quick { 3 } else { 10 });
    let server = TestServer::start(backend, Transport::Http)
        .await
        .ok_or_else(|| anyhow::anyhow!("backend unavailable"))?;
    let url = server.base_url().expect("http").to_owned();
    let now = server.clock.now();
    let ordinary = server.user("ordinary").await;
    let heavy: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(server.user(&format!("heavy{i}")).await.access);
        }
        v
    };
    let body = polygon_push(now);
    let ordinary_pushes = |stop_at: Instant| {
        pushing(url.clone(), ordinary.access.clone(), stop_at, move || {
            create_batches(1, "ordinary", now).remove(0)
        })
    };
    let (alone, _) = gather(vec![ordinary_pushes(Instant::now() + duration)]).await?;
    let stop_at = Instant::now() + duration;
    let heavy_tasks: Vec<_> = heavy
        .into_iter()
        .map(|token| {
            let body = body.clone();
            pushing(url.clone(), token, stop_at, move || body.clone())
        })
        .collect();
    let (busy, errors) = gather(vec![ordinary_pushes(stop_at)]).await?;
    let (heavy_done, _) = gather(heavy_tasks).await?;
    let name = backend_name(backend);
    let note = format!(
        "one-visit pushes; 3 other users pushing 40 x 1,000-point polygons each ({} such pushes done, {errors} errors), {}s",
        heavy_done.len(),
        duration.as_secs()
    );
    let mut out = Vec::new();
    for p in [0.5, 0.99] {
        let base = percentile_ms(&alone, p);
        let mut m = Metric::new(
            format!(
                "ordinary push ({name}) p{} beside polygon pushes",
                (p * 100.0) as u32
            ),
            percentile_ms(&busy, p),
            "ms",
            &note,
        );
        m.baseline = Some(base);
        out.push(m);
    }
    Ok(out)
}
