//! Location services: the app feeds fixes in, the core decides.
//!
//! A fix is validated (ranges, NaN, accuracy, time), then checked against
//! both gates (organisation policy AND the user's consent for the purpose,
//! and no restriction). A fix that fails any check is dropped at once:
//! nothing is stored or sent, and the app is told why
//! ([`Error::Closed`] with `PolicyDisabled`, `ConsentRequired` or
//! `Restricted`). An accepted fix is reduced to the precision allowed
//! (approximate: snapped to a ~2 km grid) before it is stored or sent.
//!
//! * Visit verification: check-in and check-out of an appointment record
//!   one `visit_events` record each: whether the fix was inside the
//!   visit's geofence, the distance, the time; never a trail. Inside and
//!   distance are computed on the device from the fix as measured; only
//!   the reduced fix is kept.
//! * Live sharing with chosen people, for at most 8 hours: the end is
//!   checked on every fix and every read (timers do not fire in Doze);
//!   stopping, withdrawing consent or the organisation switching off
//!   deletes the shared position on the server, and recipients' devices
//!   drop it at their next read.

use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use praxis_protocol::location::{self, Geofence, LatLon, Precision};
use praxis_protocol::privacy::{Closed, Purpose, visit_events};
use praxis_protocol::sync::appointments;
use serde_json::Value;
use uuid::Uuid;

use crate::cache::{RecordMeta, blocking};
use crate::privacy::{Enforced, Gates, SETTINGS, Settings};
use crate::session::Session;
use crate::sync::plan::LocalRecord;
use crate::sync::{Change, SyncEngine};
use crate::{Error, Result};

mod sharing;

/// Radius of the default geofence around an appointment's point.
pub const DEFAULT_FENCE_RADIUS_M: f64 = 150.0;
/// A fix newer than this far ahead of the device clock is refused.
pub const MAX_FUTURE: Duration = Duration::minutes(5);
/// A fix older than this is refused for check-in/out and sharing.
pub const MAX_AGE: Duration = Duration::minutes(30);

/// Where a fix came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixSource {
    /// Satellite positioning.
    Gps,
    /// Wi-Fi / cell network.
    Network,
    /// The platform's fused provider.
    Fused,
}

/// A position from the platform.
#[derive(Clone, Copy, PartialEq)]
pub struct Fix {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Accuracy radius, metres.
    pub accuracy_m: f64,
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Where it came from.
    pub source: FixSource,
}
praxis_protocol::redacted_debug!(Fix { at, source });

/// Whether location may be used for a purpose, and how precisely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocationPermission {
    /// The purpose.
    pub purpose: Purpose,
    /// `None` when allowed; otherwise which gate is closed.
    pub closed: Option<Closed>,
    /// The precision fixes are reduced to (`Off` when closed).
    pub precision: Precision,
    /// Whether the organisations allow it (every one the user belongs to).
    pub organisation_allows: bool,
    /// Whether the user's consent counts (current policy version).
    pub consented: bool,
    /// Whether the account is restricted.
    pub restricted: bool,
    /// The finest precision the organisations allow.
    pub max_precision: Precision,
    /// Days raw fixes are kept.
    pub retention_days: u32,
}

/// Check-in or check-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitKind {
    /// Arrival.
    CheckIn,
    /// Departure.
    CheckOut,
}

impl VisitKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::CheckIn => "check_in",
            Self::CheckOut => "check_out",
        }
    }
}

/// A recorded check-in or check-out.
#[derive(Clone, PartialEq)]
pub struct VisitEvent {
    /// Event id.
    pub id: Uuid,
    /// The appointment.
    pub appointment_id: Uuid,
    /// Which.
    pub kind: VisitKind,
    /// When (the fix's time).
    pub at: DateTime<Utc>,
    /// The reduced fix; `None` once retention cleared it.
    pub position: Option<LatLon>,
    /// Its accuracy, metres; `None` once cleared.
    pub accuracy_m: Option<f64>,
    /// Precision of the stored fix.
    pub precision: Precision,
    /// Inside the visit's geofence; `None` when the visit has no place.
    pub inside: Option<bool>,
    /// Metres from the geofence (0 inside); `None` without a place.
    pub distance_m: Option<f64>,
}
praxis_protocol::redacted_debug!(VisitEvent {
    id,
    appointment_id,
    kind,
    at,
    precision,
    inside
});

/// Distance and bearing to the next appointment.
#[derive(Clone, Copy, PartialEq)]
pub struct Route {
    /// The appointment.
    pub appointment_id: Uuid,
    /// Its start.
    pub start: DateTime<Utc>,
    /// Great-circle metres from the fix to the visit.
    pub distance_m: f64,
    /// Initial bearing, degrees from north.
    pub bearing_deg: f64,
}
// Distance and bearing from a known visit place locate the user.
praxis_protocol::redacted_debug!(Route {
    appointment_id,
    start
});

/// Validates a fix from the platform (ranges, NaN, accuracy, time).
pub fn check_fix(fix: &Fix, now: DateTime<Utc>) -> Result<()> {
    let invalid = |e: location::LocationError| Error::InvalidInput {
        field: e.field(),
        reason: e.code(),
    };
    location::check_coordinates(fix.lat, fix.lon).map_err(invalid)?;
    location::check_accuracy(fix.accuracy_m).map_err(invalid)?;
    if fix.at > now + MAX_FUTURE {
        return Err(Error::InvalidInput {
            field: "at",
            reason: "the fix is from the future",
        });
    }
    if fix.at < now - MAX_AGE {
        return Err(Error::InvalidInput {
            field: "at",
            reason: "the fix is too old",
        });
    }
    Ok(())
}

fn ms_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The fence of an appointment: its own, or a circle around its point.
fn fence_of(r: &LocalRecord) -> Option<Geofence> {
    let f = |k: &str| r.fields.get(k).map(|v| &v.v).filter(|v| !v.is_null());
    if let Some(g) = f("geofence").and_then(|g| serde_json::from_value(g.clone()).ok()) {
        return Some(g);
    }
    let p = f("point")?;
    Some(Geofence::Circle {
        lat: p.get("lat")?.as_f64()?,
        lon: p.get("lon")?.as_f64()?,
        radius_m: DEFAULT_FENCE_RADIUS_M,
    })
}

fn decode_event(id: &str, r: &LocalRecord) -> Option<VisitEvent> {
    let f = |k: &str| r.fields.get(k).map(|v| &v.v);
    let num = |k: &str| f(k).and_then(Value::as_f64);
    Some(VisitEvent {
        id: id.parse().ok()?,
        appointment_id: f("appointment_id")?.as_str()?.parse().ok()?,
        kind: match f("kind")?.as_str()? {
            "check_in" => VisitKind::CheckIn,
            "check_out" => VisitKind::CheckOut,
            _ => return None,
        },
        at: f("at")?.as_str()?.parse().ok()?,
        position: num("lat")
            .zip(num("lon"))
            .map(|(lat, lon)| LatLon { lat, lon }),
        accuracy_m: num("accuracy_m"),
        precision: Precision::parse(f("precision")?.as_str()?)?,
        inside: f("inside").and_then(Value::as_bool),
        distance_m: num("distance_m"),
    })
}

fn permission_of(g: &Gates, purpose: Purpose) -> LocationPermission {
    let check = g.check(purpose);
    LocationPermission {
        purpose,
        closed: check.err(),
        precision: check.unwrap_or(Precision::Off),
        organisation_allows: g.effective.allows(purpose)
            && g.effective.max_precision != Precision::Off,
        consented: praxis_protocol::privacy::consents::counts(
            &g.consents,
            purpose,
            g.version(purpose),
        ),
        restricted: g.restricted,
        max_precision: g.effective.max_precision,
        retention_days: g.effective.retention_days,
    }
}

/// The location capability; cheap to clone.
#[derive(Debug, Clone)]
pub struct Location {
    pub(crate) engine: Arc<SyncEngine>,
    pub(crate) session: Arc<Session>,
}

impl Location {
    fn now(&self) -> DateTime<Utc> {
        self.engine.clock().now()
    }

    /// A fix from the platform, its time moved from the device's clock to
    /// the core's (the server's, when the device clock is off), checked.
    fn accept_fix(&self, mut fix: Fix) -> Result<Fix> {
        let clock = self.engine.clock();
        fix.at = clock.adjust_device_time(fix.at);
        check_fix(&fix, clock.now())?;
        Ok(fix)
    }

    async fn gates(&self) -> Result<Gates> {
        blocking(self.engine.cache(), |c| c.transaction(|tx| Gates::load(tx))).await
    }

    /// Whether location may be used for `purpose` now, and how precisely.
    pub async fn permission(&self, purpose: Purpose) -> Result<LocationPermission> {
        Ok(permission_of(&self.gates().await?, purpose))
    }

    /// Both location purposes' permissions (one read of the cache).
    pub async fn permissions(&self) -> Result<Vec<LocationPermission>> {
        let g = self.gates().await?;
        Ok(vec![
            permission_of(&g, Purpose::LocationVisits),
            permission_of(&g, Purpose::LocationSharing),
        ])
    }

    /// Calls `on_change` with both permissions now and whenever they may
    /// have changed (a sync, a consent, a setting: every sync status
    /// change), never twice in a row with the same value. Returns when the
    /// client's sync engine is gone; a screen cancels it by dropping the
    /// future (or the task running it).
    pub async fn watch_permissions(&self, mut on_change: impl FnMut(&[LocationPermission])) {
        let mut changes = self.engine.subscribe();
        let mut last: Option<Vec<LocationPermission>> = None;
        loop {
            changes.borrow_and_update();
            if let Ok(now) = self.permissions().await
                && last.as_ref() != Some(&now)
            {
                on_change(&now);
                last = Some(now);
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// The user's preference: `Approximate` (the default) or `Precise`
    /// (used only where the organisation allows it).
    pub async fn set_precision(&self, preference: Precision) -> Result<()> {
        if preference == Precision::Off {
            return Err(Error::InvalidInput {
                field: "precision",
                reason: "withdraw consent to switch location off",
            });
        }
        blocking(self.engine.cache(), move |c| {
            c.put(
                SETTINGS.0,
                SETTINGS.1,
                &Settings { preference },
                RecordMeta::local(),
            )
        })
        .await?;
        self.engine.notify();
        Ok(())
    }

    /// Records a check-in at an appointment.
    pub async fn check_in(&self, appointment_id: Uuid, fix: Fix) -> Result<VisitEvent> {
        self.visit(appointment_id, VisitKind::CheckIn, fix).await
    }

    /// Records a check-out of an appointment (after its check-in).
    pub async fn check_out(&self, appointment_id: Uuid, fix: Fix) -> Result<VisitEvent> {
        self.visit(appointment_id, VisitKind::CheckOut, fix).await
    }

    async fn visit(&self, appointment_id: Uuid, kind: VisitKind, fix: Fix) -> Result<VisitEvent> {
        let fix = self.accept_fix(fix)?;
        let appointment = self
            .engine
            .record(appointments::COLLECTION, appointment_id.to_string())
            .await?
            .ok_or(Error::InvalidInput {
                field: "appointment_id",
                reason: "no such appointment",
            })?;
        let precision = self.gates().await?.require(Purpose::LocationVisits)?;
        let done: Vec<VisitKind> = self
            .events(appointment_id)
            .await?
            .iter()
            .map(|e| e.kind)
            .collect();
        match kind {
            _ if done.contains(&kind) => {
                return Err(Error::InvalidInput {
                    field: "appointment_id",
                    reason: "already recorded for this appointment",
                });
            }
            VisitKind::CheckOut if !done.contains(&VisitKind::CheckIn) => {
                return Err(Error::InvalidInput {
                    field: "appointment_id",
                    reason: "check in first",
                });
            }
            _ => {}
        }
        let fence = fence_of(&appointment);
        let inside = fence.as_ref().map(|g| g.contains(fix.lat, fix.lon));
        let distance = fence.as_ref().map(|g| g.distance_m(fix.lat, fix.lon));
        let (lat, lon, accuracy) =
            location::apply_precision(precision, fix.lat, fix.lon, fix.accuracy_m).ok_or(
                Error::Closed {
                    purpose: Purpose::LocationVisits,
                    reason: Closed::PolicyDisabled,
                },
            )?;
        let id = self.engine.new_id();
        let fields = vec![
            ("appointment_id", Value::from(appointment_id.to_string())),
            ("kind", Value::from(kind.as_str())),
            ("at", Value::from(ms_time(fix.at))),
            ("lat", Value::from(lat)),
            ("lon", Value::from(lon)),
            ("accuracy_m", Value::from(accuracy)),
            ("precision", Value::from(precision.as_str())),
            ("inside", inside.map_or(Value::Null, Value::from)),
            (
                "distance_m",
                distance.map_or(Value::Null, |d| Value::from((d * 10.0).round() / 10.0)),
            ),
        ];
        for (name, v) in &fields {
            visit_events::check_field(name, v).map_err(|reason| Error::InvalidInput {
                field: name,
                reason,
            })?;
        }
        self.engine
            .write(
                visit_events::COLLECTION,
                id.to_string(),
                Change::Create(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
            )
            .await?;
        let r = self
            .engine
            .record(visit_events::COLLECTION, id.to_string())
            .await?
            .ok_or(Error::Integrity {
                collection: visit_events::COLLECTION.into(),
            })?;
        decode_event(&id.to_string(), &r).ok_or(Error::Integrity {
            collection: visit_events::COLLECTION.into(),
        })
    }

    /// The check-in/out events of an appointment.
    pub async fn events(&self, appointment_id: Uuid) -> Result<Vec<VisitEvent>> {
        let mut out: Vec<_> = self
            .engine
            .records(visit_events::COLLECTION)
            .await?
            .iter()
            .filter_map(|(id, r)| decode_event(id, r))
            .filter(|e| e.appointment_id == appointment_id)
            .collect();
        out.sort_by_key(|e| (e.at, e.id));
        Ok(out)
    }

    /// Every visit event on the device.
    pub async fn all_events(&self) -> Result<Vec<VisitEvent>> {
        let mut out: Vec<_> = self
            .engine
            .records(visit_events::COLLECTION)
            .await?
            .iter()
            .filter_map(|(id, r)| decode_event(id, r))
            .collect();
        out.sort_by_key(|e| (e.at, e.id));
        Ok(out)
    }

    /// Distance and bearing from `fix` to the next appointment that has a
    /// place (starting now or later). Uses the fix on the device only:
    /// nothing is stored, but the visits gate must be open.
    pub async fn route_to_next(&self, fix: Fix) -> Result<Option<Route>> {
        let fix = self.accept_fix(fix)?;
        let now = self.now();
        self.gates().await?.require(Purpose::LocationVisits)?;
        let mut next: Option<(DateTime<Utc>, Uuid, LatLon)> = None;
        for (id, r) in self.engine.records(appointments::COLLECTION).await? {
            let start: Option<DateTime<Utc>> = r
                .fields
                .get("start")
                .and_then(|f| f.v.as_str())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc));
            let cancelled = r
                .fields
                .get("status")
                .and_then(|f| f.v.as_str())
                .is_some_and(|s| s != "scheduled");
            let (Some(start), Some(fence), Ok(id)) = (start, fence_of(&r), id.parse::<Uuid>())
            else {
                continue;
            };
            if start < now || cancelled {
                continue;
            }
            if next.as_ref().is_none_or(|(s, i, _)| (start, id) < (*s, *i)) {
                next = Some((start, id, fence.centre()));
            }
        }
        Ok(next.map(|(start, appointment_id, to)| {
            let (distance_m, bearing_deg) = location::distance_and_bearing(
                LatLon {
                    lat: fix.lat,
                    lon: fix.lon,
                },
                to,
            );
            Route {
                appointment_id,
                start,
                distance_m,
                bearing_deg,
            }
        }))
    }

    /// Applies the gates and retention now (also done at every sync):
    /// drops queued location data whose gate is closed, clears raw fixes
    /// past retention, forgets ended shares.
    pub async fn enforce(&self) -> Result<Enforced> {
        let now = self.now();
        let e = blocking(self.engine.cache(), move |c| {
            c.transaction(|tx| crate::privacy::enforce(tx, now))
        })
        .await?;
        self.engine.notify();
        Ok(e)
    }
}
