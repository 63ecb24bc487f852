//! The `visit_events` collection: one record at check-in and one at
//! check-out of an appointment (electronic visit verification), never a
//! trail. Written by the device, append-only; the server clears the raw
//! fix (`lat`, `lon`, `accuracy_m`) after the retention period.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{time, uuid};
use crate::location::{self, Precision};
use crate::sync::Fields;

/// Collection name.
pub const COLLECTION: &str = "visit_events";
/// Fields a new event must have.
pub const REQUIRED: &[&str] = &[
    "appointment_id",
    "kind",
    "at",
    "lat",
    "lon",
    "accuracy_m",
    "precision",
];
/// The raw fix: cleared at the end of retention.
pub const RAW_FIX: &[&str] = &["lat", "lon", "accuracy_m"];

/// When the event happened (its `at`), if it parses.
pub fn taken_at(f: &Fields) -> Option<DateTime<Utc>> {
    f.get("at")?.v.as_str()?.parse().ok()
}

/// Whether the event still holds any part of its raw fix.
pub fn has_raw_fix(f: &Fields) -> bool {
    RAW_FIX
        .iter()
        .any(|k| f.get(*k).is_some_and(|v| !v.v.is_null()))
}

/// Checks one field; `Err(reason)` names what is wrong.
pub fn check_field(name: &str, v: &Value) -> Result<(), &'static str> {
    let ok = match name {
        "appointment_id" => uuid(v),
        "kind" => matches!(v.as_str(), Some("check_in" | "check_out")),
        "at" => time(v),
        "lat" => {
            v.is_null()
                || v.as_f64()
                    .is_some_and(|x| location::check_coordinates(x, 0.0).is_ok())
        }
        "lon" => {
            v.is_null()
                || v.as_f64()
                    .is_some_and(|x| location::check_coordinates(0.0, x).is_ok())
        }
        "accuracy_m" => {
            v.is_null()
                || v.as_f64()
                    .is_some_and(|x| location::check_accuracy(x).is_ok())
        }
        "precision" => matches!(v.as_str(), Some("approximate" | "precise")),
        "inside" => v.is_null() || v.is_boolean(),
        "distance_m" => v.is_null() || v.as_f64().is_some_and(|x| x.is_finite() && x >= 0.0),
        _ => return Err("unknown field"),
    };
    if ok { Ok(()) } else { Err("invalid value") }
}

/// Checks a whole new event against the precision allowed: an
/// approximate one must be snapped to the grid, and nothing finer than
/// `allowed` is accepted. `Err(field)` names the field at fault.
pub fn check_precision(f: &Fields, allowed: Precision) -> Result<(), &'static str> {
    let p = f
        .get("precision")
        .and_then(|x| x.v.as_str())
        .and_then(Precision::parse)
        .ok_or("precision")?;
    if p > allowed {
        return Err("precision");
    }
    let lat = f.get("lat").and_then(|x| x.v.as_f64());
    let lon = f.get("lon").and_then(|x| x.v.as_f64());
    if let (Precision::Approximate, Some(lat), Some(lon)) = (p, lat, lon) {
        if !location::is_snapped(lat, lon) {
            return Err("lat");
        }
        let acc = f
            .get("accuracy_m")
            .and_then(|x| x.v.as_f64())
            .unwrap_or(0.0);
        if acc < location::APPROXIMATE_ACCURACY_M {
            return Err("accuracy_m");
        }
    }
    Ok(())
}
