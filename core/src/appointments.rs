//! Appointments: the practitioner's visit schedule, offline-first.
//!
//! Every write lands in the encrypted cache and the sync outbox at once;
//! the network is never waited for. Values are validated here with the
//! same rules as the server, so a refused write fails now, on the device,
//! instead of being refused later by the server.

use std::sync::Arc;

use chrono::{DateTime, Utc};
pub use praxis_protocol::location::Geofence;
use praxis_protocol::sync::appointments::{COLLECTION, check_field};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::sync::plan::LocalRecord;
use crate::sync::{Change, SyncEngine};
use crate::{Error, Result};

/// Where a visit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppointmentStatus {
    /// Planned.
    Scheduled,
    /// Done.
    Completed,
    /// Called off.
    Cancelled,
    /// The patient was not there.
    NoShow,
}

impl AppointmentStatus {
    /// The wire name (`no_show`, …): the one name shown and accepted
    /// everywhere.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::NoShow => "no_show",
        }
    }

    /// The status of a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "scheduled" => Self::Scheduled,
            "completed" => Self::Completed,
            "cancelled" => Self::Cancelled,
            "no_show" => Self::NoShow,
            _ => return None,
        })
    }
}

/// A WGS84 position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

/// A visit.
#[derive(Clone, PartialEq)]
pub struct Appointment {
    /// Id.
    pub id: Uuid,
    /// Title, e.g. "Wound dressing".
    pub title: String,
    /// A pseudonymous patient label (not the patient's name).
    pub patient_label: Option<String>,
    /// Start.
    pub start: DateTime<Utc>,
    /// Duration in minutes.
    pub duration_min: u32,
    /// Status.
    pub status: AppointmentStatus,
    /// Visit address.
    pub address: Option<String>,
    /// Visit position.
    pub point: Option<GeoPoint>,
    /// The area that counts as "at the visit" for check-in/out (without
    /// one, a 150 m circle around `point`).
    pub geofence: Option<Geofence>,
}
praxis_protocol::redacted_debug!(Appointment {
    id,
    start,
    duration_min,
    status
});

/// A new visit.
#[derive(Clone, PartialEq)]
pub struct NewAppointment {
    /// Title.
    pub title: String,
    /// Patient label.
    pub patient_label: Option<String>,
    /// Start.
    pub start: DateTime<Utc>,
    /// Minutes.
    pub duration_min: u32,
    /// Address.
    pub address: Option<String>,
    /// Position.
    pub point: Option<GeoPoint>,
    /// Geofence for visit verification.
    pub geofence: Option<Geofence>,
}
praxis_protocol::redacted_debug!(NewAppointment {
    start,
    duration_min
});

/// Fields to change; `None` keeps the current value.
#[derive(Clone, Default, PartialEq)]
pub struct AppointmentPatch {
    /// New title.
    pub title: Option<String>,
    /// New patient label (`Some(None)` clears it).
    pub patient_label: Option<Option<String>>,
    /// New start.
    pub start: Option<DateTime<Utc>>,
    /// New duration.
    pub duration_min: Option<u32>,
    /// New status.
    pub status: Option<AppointmentStatus>,
    /// New address (`Some(None)` clears it).
    pub address: Option<Option<String>>,
    /// New position (`Some(None)` clears it).
    pub point: Option<Option<GeoPoint>>,
    /// New geofence (`Some(None)` clears it).
    pub geofence: Option<Option<Geofence>>,
}
praxis_protocol::redacted_debug!(AppointmentPatch {
    start,
    duration_min,
    status
});

fn point_json(p: Option<GeoPoint>) -> Value {
    p.map_or(Value::Null, |p| json!({ "lat": p.lat, "lon": p.lon }))
}

/// A validated geofence as JSON (refused with the rule it breaks).
fn fence_json(g: Option<Geofence>) -> Result<Value> {
    let Some(g) = g else {
        return Ok(Value::Null);
    };
    g.validate().map_err(|e| Error::InvalidInput {
        field: "geofence",
        reason: e.code(),
    })?;
    Ok(serde_json::to_value(g)?)
}

fn checked(fields: Vec<(&'static str, Value)>) -> Result<Vec<(String, Value)>> {
    fields
        .into_iter()
        .map(|(name, v)| {
            check_field(name, &v).map_err(|reason| Error::InvalidInput {
                field: name,
                reason,
            })?;
            Ok((name.to_owned(), v))
        })
        .collect()
}

fn decode(id: &str, r: &LocalRecord) -> Option<Appointment> {
    let f = |k: &str| r.fields.get(k).map(|v| &v.v);
    let text = |k: &str| f(k).and_then(Value::as_str).map(str::to_owned);
    Some(Appointment {
        id: Uuid::parse_str(id).ok()?,
        title: text("title")?,
        patient_label: text("patient_label"),
        start: DateTime::parse_from_rfc3339(&text("start")?)
            .ok()?
            .with_timezone(&Utc),
        duration_min: u32::try_from(f("duration_min")?.as_u64()?).ok()?,
        status: text("status")
            .and_then(|s| AppointmentStatus::parse(&s))
            .unwrap_or(AppointmentStatus::Scheduled),
        address: text("address"),
        point: f("point").and_then(|p| {
            Some(GeoPoint {
                lat: p.get("lat")?.as_f64()?,
                lon: p.get("lon")?.as_f64()?,
            })
        }),
        geofence: f("geofence").and_then(|g| serde_json::from_value(g.clone()).ok()),
    })
}

/// The appointments capability.
#[derive(Debug, Clone)]
pub struct Appointments {
    pub(crate) engine: Arc<SyncEngine>,
}

impl Appointments {
    /// The capability over a sync engine.
    pub fn new(engine: Arc<SyncEngine>) -> Self {
        Self { engine }
    }

    /// Adds a visit; returns its id.
    pub async fn create(&self, a: NewAppointment) -> Result<Uuid> {
        let fields = checked(vec![
            ("title", Value::from(a.title)),
            (
                "patient_label",
                a.patient_label.map_or(Value::Null, Value::from),
            ),
            ("start", Value::from(a.start.to_rfc3339())),
            ("duration_min", Value::from(a.duration_min)),
            ("status", Value::from(AppointmentStatus::Scheduled.as_str())),
            ("address", a.address.map_or(Value::Null, Value::from)),
            ("point", point_json(a.point)),
            ("geofence", fence_json(a.geofence)?),
        ])?;
        let id = self.engine.new_id();
        self.engine
            .write(COLLECTION, id.to_string(), Change::Create(fields))
            .await?;
        Ok(id)
    }

    /// Changes some fields of a visit.
    pub async fn update(&self, id: Uuid, p: AppointmentPatch) -> Result<()> {
        let mut fields = Vec::new();
        if let Some(v) = p.title {
            fields.push(("title", Value::from(v)));
        }
        if let Some(v) = p.patient_label {
            fields.push(("patient_label", v.map_or(Value::Null, Value::from)));
        }
        if let Some(v) = p.start {
            fields.push(("start", Value::from(v.to_rfc3339())));
        }
        if let Some(v) = p.duration_min {
            fields.push(("duration_min", Value::from(v)));
        }
        if let Some(v) = p.status {
            fields.push(("status", Value::from(v.as_str())));
        }
        if let Some(v) = p.address {
            fields.push(("address", v.map_or(Value::Null, Value::from)));
        }
        if let Some(v) = p.point {
            fields.push(("point", point_json(v)));
        }
        if let Some(v) = p.geofence {
            fields.push(("geofence", fence_json(v)?));
        }
        if fields.is_empty() {
            return Err(Error::InvalidInput {
                field: "patch",
                reason: "nothing to change",
            });
        }
        self.engine
            .write(COLLECTION, id.to_string(), Change::Update(checked(fields)?))
            .await
    }

    /// Deletes a visit (on every device after sync).
    pub async fn delete(&self, id: Uuid) -> Result<()> {
        self.engine
            .write(COLLECTION, id.to_string(), Change::Delete)
            .await
    }

    /// One visit.
    pub async fn get(&self, id: Uuid) -> Result<Option<Appointment>> {
        let r = self.engine.record(COLLECTION, id.to_string()).await?;
        Ok(r.and_then(|r| decode(&id.to_string(), &r)))
    }

    /// All visits, by start time.
    pub async fn list(&self) -> Result<Vec<Appointment>> {
        let mut all: Vec<Appointment> = self
            .engine
            .records(COLLECTION)
            .await?
            .iter()
            .filter_map(|(id, r)| decode(id, r))
            .collect();
        all.sort_by_key(|a| (a.start, a.id));
        Ok(all)
    }
}
