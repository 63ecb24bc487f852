//! Sync: push a batch of mutations, pull changes since a cursor.
//!
//! Records are maps of fields; every field carries the hybrid logical
//! clock (HLC) of its last write, so any two copies merge the same way on
//! the client and the server: per field, the later HLC wins; a deletion
//! wins over every edit (see [`merge_fields`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::redacted_debug;

/// One field's value and the HLC of the write that set it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldValue {
    /// The value (JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub v: Value,
    /// HLC of the write (see [`Hlc`]).
    pub t: String,
}
redacted_debug!(FieldValue { t });

/// Fields of a record by name.
pub type Fields = BTreeMap<String, FieldValue>;

/// A record as the server holds it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncRecord {
    /// Collection name.
    pub collection: String,
    /// Record id (a UUID).
    pub id: String,
    /// Server version: the change sequence of its last change.
    pub version: i64,
    /// Its fields (empty for a tombstone).
    #[serde(default)]
    pub fields: Fields,
    /// HLC of its deletion, if deleted (a tombstone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}
redacted_debug!(SyncRecord {
    collection,
    version,
    deleted
});

/// One change made offline on a device.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Mutation {
    /// Per-client sequence number: with the client id, the idempotency key.
    pub client_seq: i64,
    /// Collection.
    pub collection: String,
    /// Record id.
    pub id: String,
    /// The server version the change was made on; `None` creates.
    #[serde(default)]
    pub base_version: Option<i64>,
    /// Changed fields.
    #[serde(default)]
    pub fields: Fields,
    /// HLC of a deletion.
    #[serde(default)]
    pub delete: Option<String>,
}
redacted_debug!(Mutation {
    client_seq,
    collection,
    base_version
});

/// `POST /v1/sync/push`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// The device's stable id (a UUID).
    pub client_id: String,
    /// Mutations in the order they were made (at most [`MAX_PUSH`]).
    pub mutations: Vec<Mutation>,
}

/// Most mutations in one push.
pub const MAX_PUSH: usize = 500;
/// Most changes in one pull page.
pub const MAX_PULL: u32 = 1000;

/// Why a mutation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// No such collection.
    UnknownCollection,
    /// The server writes this collection; clients only read it.
    ReadOnlyCollection,
    /// A field is unknown, missing or invalid (see `field`).
    InvalidRecord,
    /// The record belongs to someone else.
    Forbidden,
    /// The record was deleted (and its tombstone is gone): drop the change.
    Gone,
    /// The base version is one the server never issued.
    InvalidBaseVersion,
    /// An HLC is malformed or too far in the future.
    InvalidClock,
    /// The collection is an append-only ledger: records are never edited
    /// or deleted by clients.
    AppendOnly,
    /// Processing of the account is restricted.
    Restricted,
    /// The organisation's policy does not allow it (location off).
    PolicyDisabled,
    /// The user has not consented (to the current policy version).
    ConsentRequired,
}

/// The answer for one mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MutationResult {
    /// Applied on the version it was made on.
    Applied {
        /// The mutation's sequence number.
        client_seq: i64,
        /// The server copy after it.
        record: SyncRecord,
    },
    /// Made on an older version: merged field by field (later HLC wins,
    /// deletion wins); the merged server copy is returned.
    Conflict {
        /// The mutation's sequence number.
        client_seq: i64,
        /// The merged server copy.
        record: SyncRecord,
    },
    /// Refused; nothing was stored.
    Rejected {
        /// The mutation's sequence number.
        client_seq: i64,
        /// Why.
        reason: RejectReason,
        /// The field at fault, for `invalid_record`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
}

impl MutationResult {
    /// The sequence number answered.
    pub fn client_seq(&self) -> i64 {
        match self {
            Self::Applied { client_seq, .. }
            | Self::Conflict { client_seq, .. }
            | Self::Rejected { client_seq, .. } => *client_seq,
        }
    }
}

/// Answer to a push, one result per mutation in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    /// Results.
    pub results: Vec<MutationResult>,
}

/// `POST /v1/sync/pull`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// The cursor of the last page applied; `None` for everything.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size (at most [`MAX_PULL`]).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A page of changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    /// Changed records (tombstones included), in change order.
    pub changes: Vec<SyncRecord>,
    /// Cursor to send next.
    pub cursor: String,
    /// Whether more changes are waiting.
    pub more: bool,
}

/// A hybrid logical clock timestamp, `WWWWWWWWWWWWW-CCCCCC-NODE`: wall
/// milliseconds (13 digits), a counter (6 digits) and the writer's node id.
/// Fixed widths make the string order the clock order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hlc {
    /// Wall-clock milliseconds.
    pub wall_ms: u64,
    /// Logical counter within the millisecond.
    pub counter: u32,
    /// Writer id (letters, digits, `-`; at most 40 characters).
    pub node: String,
}

impl Hlc {
    /// Parses the wire form; `None` when malformed.
    pub fn parse(s: &str) -> Option<Self> {
        let (wall, rest) = s.split_once('-')?;
        let (counter, node) = rest.split_once('-')?;
        let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
        let node_ok = !node.is_empty()
            && node.len() <= 40
            && node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !digits(wall, 13) || !digits(counter, 6) || !node_ok {
            return None;
        }
        Some(Self {
            wall_ms: wall.parse().ok()?,
            counter: counter.parse().ok()?,
            node: node.to_owned(),
        })
    }
}

impl std::fmt::Display for Hlc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:013}-{:06}-{}", self.wall_ms, self.counter, self.node)
    }
}

/// Merges `incoming` into `current` field by field: a field is taken when
/// absent or when its HLC is later. Returns whether anything changed.
/// HLC strings compare in clock order (see [`Hlc`]).
pub fn merge_fields(current: &mut Fields, incoming: &Fields) -> bool {
    let mut changed = false;
    for (name, value) in incoming {
        let take = current.get(name).is_none_or(|cur| value.t > cur.t);
        if take {
            current.insert(name.clone(), value.clone());
            changed = true;
        }
    }
    changed
}

/// The appointments collection: the practitioner's visit schedule.
pub mod appointments {
    use serde_json::Value;

    /// Collection name.
    pub const COLLECTION: &str = "appointments";
    /// Allowed statuses.
    pub const STATUSES: &[&str] = &["scheduled", "completed", "cancelled", "no_show"];
    /// Fields a new appointment must have.
    pub const REQUIRED: &[&str] = &["title", "start", "duration_min"];

    fn text(v: &Value, min: usize, max: usize) -> bool {
        v.as_str().is_some_and(|s| {
            let n = s.chars().count();
            n >= min && n <= max && !s.chars().any(char::is_control)
        })
    }

    /// Checks one field; `Err(reason)` names what is wrong.
    pub fn check_field(name: &str, v: &Value) -> Result<(), &'static str> {
        let ok = match name {
            "title" => text(v, 1, 200),
            "patient_label" => v.is_null() || text(v, 0, 100),
            "address" => v.is_null() || text(v, 0, 300),
            "start" => v
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            "duration_min" => v.as_i64().is_some_and(|d| (1..=1440).contains(&d)),
            "status" => v.as_str().is_some_and(|s| STATUSES.contains(&s)),
            "point" => {
                v.is_null()
                    || (v.as_object().is_some_and(|o| o.len() == 2)
                        && v["lat"]
                            .as_f64()
                            .is_some_and(|x| x.is_finite() && (-90.0..=90.0).contains(&x))
                        && v["lon"]
                            .as_f64()
                            .is_some_and(|x| x.is_finite() && (-180.0..=180.0).contains(&x)))
            }
            "geofence" => {
                if v.is_null() {
                    return Ok(());
                }
                let fence: crate::location::Geofence =
                    serde_json::from_value(v.clone()).map_err(|_| "not a geofence")?;
                return fence.validate().map_err(|e| e.code());
            }
            _ => return Err("unknown field"),
        };
        if ok { Ok(()) } else { Err("invalid value") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fv(v: &str, t: &str) -> FieldValue {
        FieldValue {
            v: Value::from(v),
            t: t.to_owned(),
        }
    }

    #[test]
    fn hlc_round_trips_and_orders_like_its_string() {
        let a = Hlc {
            wall_ms: 1_800_000_000_000,
            counter: 3,
            node: "abc".into(),
        };
        let s = a.to_string();
        assert_eq!(s, "1800000000000-000003-abc");
        assert_eq!(Hlc::parse(&s), Some(a.clone()));
        let b = Hlc {
            counter: 4,
            ..a.clone()
        };
        assert!(a < b && a.to_string() < b.to_string());
        for bad in [
            "",
            "1-2-3",
            "180000000000x-000003-abc",
            "1800000000000-000003-",
            "1800000000000-000003-a b",
        ] {
            assert_eq!(Hlc::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn merge_takes_later_fields_and_is_order_independent() {
        let a: Fields = [
            ("title".into(), fv("A", "1800000000000-000001-a")),
            ("address".into(), fv("x", "1800000000005-000000-a")),
        ]
        .into();
        let b: Fields = [("title".into(), fv("B", "1800000000002-000000-b"))].into();
        let mut ab = a.clone();
        merge_fields(&mut ab, &b);
        let mut ba = b.clone();
        merge_fields(&mut ba, &a);
        assert_eq!(ab, ba);
        assert_eq!(ab["title"].v, "B");
        assert_eq!(ab["address"].v, "x");
        assert!(!merge_fields(&mut ab, &b), "merging twice changes nothing");
    }

    #[test]
    fn appointment_fields_are_checked() {
        use appointments::check_field;
        assert!(check_field("title", &Value::from("Wound care")).is_ok());
        assert!(check_field("title", &Value::from("")).is_err());
        assert!(check_field("start", &Value::from("2026-11-21T09:30:00+01:00")).is_ok());
        assert!(check_field("start", &Value::from("tomorrow")).is_err());
        assert!(check_field("duration_min", &Value::from(0)).is_err());
        assert!(check_field("status", &Value::from("done")).is_err());
        assert!(check_field("point", &serde_json::json!({"lat": 48.8, "lon": 2.3})).is_ok());
        assert!(check_field("point", &serde_json::json!({"lat": 91.0, "lon": 2.3})).is_err());
        assert!(check_field("colour", &Value::from("red")).is_err());
    }
}

/// The platform push services a device may be woken through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PushPlatform {
    /// Firebase Cloud Messaging (Android).
    Fcm,
    /// Apple Push Notification service (iPhone).
    Apns,
}

impl PushPlatform {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fcm => "fcm",
            Self::Apns => "apns",
        }
    }
}

/// Longest push token accepted, in bytes (FCM's are about 160, APNs' 64).
pub const MAX_PUSH_TOKEN_LEN: usize = 512;

/// `POST /v1/devices/push-token`: the signed-in device's platform push
/// token, so the server can wake it when its data changes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushTokenRequest {
    /// Which push service.
    pub platform: PushPlatform,
    /// The token that service gave the app (printable ASCII, at most
    /// [`MAX_PUSH_TOKEN_LEN`] bytes).
    pub token: String,
}

impl std::fmt::Debug for PushTokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushTokenRequest")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// Whether a push token has an acceptable form; the reason if not.
pub fn check_push_token(token: &str) -> Result<(), &'static str> {
    if token.is_empty() {
        return Err("Must not be empty");
    }
    if token.len() > MAX_PUSH_TOKEN_LEN {
        return Err("Too long");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("Must be printable ASCII without spaces");
    }
    Ok(())
}
