//! Records and enums mirrored from the core and the protocol.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub(crate) use praxis_core::AppointmentStatus;
use praxis_core::protocol;
use praxis_core::protocol::redacted_debug;
pub(crate) use praxis_core::protocol::{
    JoinCodeResponse, Member, Org, Profile, RegisterRequest, Role, UpdateProfileRequest,
};
pub(crate) use praxis_core::sync::{SyncState, SyncStatus};

// Ids, times and calendar dates cross the boundary as the protocol's
// custom types `Uuid` (hyphenated text), `Timestamp` (`SystemTime`:
// `Instant` in Kotlin, `Date` in Swift) and `CalendarDate` (`YYYY-MM-DD`
// text). Ids the apps pass in are parsed by the call, which refuses a
// malformed one as invalid input.
pub(crate) type Timestamp = DateTime<Utc>;
uniffi::use_remote_type!(praxis_protocol::Uuid);
uniffi::use_remote_type!(praxis_protocol::Timestamp);

/// How to reach the server.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ClientConfig {
    /// Base URL (`https://`, or `http://` to a loopback address).
    pub server_url: String,
    /// The app's private data directory.
    pub data_dir: String,
    /// Longest wait for one request, in milliseconds.
    #[uniffi(default = 30000)]
    pub request_timeout_ms: u64,
    /// SHA-256 hashes of the server keys to pin (SPKI); empty: no pinning.
    #[uniffi(default = [])]
    pub spki_pins: Vec<Vec<u8>>,
    /// This device's name in the user's list of signed-in devices.
    #[uniffi(default = None)]
    pub device_name: Option<String>,
    /// The kind of device.
    #[uniffi(default = None)]
    pub platform: Option<praxis_core::protocol::Platform>,
    /// Certificate authorities (DER) to trust besides the public roots,
    /// e.g. the organisation's private CA; empty: public roots only.
    #[uniffi(default = [])]
    pub extra_root_certificates: Vec<Vec<u8>>,
    /// When the key does not open the cache (`KeyMismatch`: a restored
    /// backup brought the data but not the device-bound key), delete the
    /// cache, have the key provider forget its key, and open empty: the
    /// user signs in again. Off by default (unsynced edits are lost).
    #[uniffi(default = false)]
    pub reset_on_key_mismatch: bool,
}

/// Whether someone is signed in on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SessionState {
    /// No session.
    SignedOut,
    /// Signed in.
    SignedIn {
        /// The account id.
        user_id: String,
    },
    /// The server ended the session; ask the user to sign in again.
    NeedsReLogin,
    /// Signed out from another device with a wipe: this device's copy of
    /// the user's data was deleted; say so and ask for a new sign-in.
    Wiped,
}

impl From<praxis_core::SessionState> for SessionState {
    fn from(s: praxis_core::SessionState) -> Self {
        match s {
            praxis_core::SessionState::SignedOut => Self::SignedOut,
            praxis_core::SessionState::SignedIn { user_id } => Self::SignedIn {
                user_id: user_id.to_string(),
            },
            praxis_core::SessionState::NeedsReLogin => Self::NeedsReLogin,
            praxis_core::SessionState::Wiped => Self::Wiped,
        }
    }
}

/// Where a visit stands.
#[uniffi::remote(Enum)]
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

/// A WGS84 position. `Debug` prints no coordinates (personal data).
#[derive(Clone, Copy, PartialEq, uniffi::Record)]
pub struct GeoPoint {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
}

impl std::fmt::Debug for GeoPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GeoPoint([redacted])")
    }
}

/// The area that counts as "at the visit": a circle, or a closed polygon
/// (the last point repeats the first) that does not cross itself.
#[derive(Clone, PartialEq, uniffi::Enum)]
pub enum Geofence {
    /// Within `radius_m` (10 to 5,000 m) of a centre.
    Circle {
        /// Centre.
        centre: GeoPoint,
        /// Radius, metres.
        radius_m: f64,
    },
    /// A simple polygon.
    Polygon {
        /// Corners in order, the first repeated last.
        points: Vec<GeoPoint>,
    },
}

impl std::fmt::Debug for Geofence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Geofence([redacted])")
    }
}

impl From<Geofence> for praxis_core::appointments::Geofence {
    fn from(g: Geofence) -> Self {
        match g {
            Geofence::Circle { centre, radius_m } => Self::Circle {
                lat: centre.lat,
                lon: centre.lon,
                radius_m,
            },
            Geofence::Polygon { points } => Self::Polygon {
                points: points
                    .into_iter()
                    .map(|p| protocol::location::LatLon {
                        lat: p.lat,
                        lon: p.lon,
                    })
                    .collect(),
            },
        }
    }
}

impl From<praxis_core::appointments::Geofence> for Geofence {
    fn from(g: praxis_core::appointments::Geofence) -> Self {
        use praxis_core::appointments::Geofence as G;
        match g {
            G::Circle { lat, lon, radius_m } => Self::Circle {
                centre: GeoPoint { lat, lon },
                radius_m,
            },
            G::Polygon { points } => Self::Polygon {
                points: points
                    .into_iter()
                    .map(|p| GeoPoint {
                        lat: p.lat,
                        lon: p.lon,
                    })
                    .collect(),
            },
        }
    }
}

/// A visit.
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct Appointment {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Pseudonymous patient label.
    pub patient_label: Option<String>,
    /// Start.
    pub start: SystemTime,
    /// Minutes.
    pub duration_min: u32,
    /// Status.
    pub status: AppointmentStatus,
    /// Address.
    pub address: Option<String>,
    /// Position.
    pub point: Option<GeoPoint>,
    /// Geofence for check-in/out.
    pub geofence: Option<Geofence>,
}

redacted_debug!(Appointment { id });

impl From<praxis_core::Appointment> for Appointment {
    fn from(a: praxis_core::Appointment) -> Self {
        Self {
            id: a.id.to_string(),
            title: a.title,
            patient_label: a.patient_label,
            start: a.start.into(),
            duration_min: a.duration_min,
            status: a.status,
            address: a.address,
            point: a.point.map(|p| GeoPoint {
                lat: p.lat,
                lon: p.lon,
            }),
            geofence: a.geofence.map(Into::into),
        }
    }
}

/// A new visit.
#[derive(Clone, uniffi::Record)]
pub struct NewAppointment {
    /// Title.
    pub title: String,
    /// Pseudonymous patient label.
    #[uniffi(default = None)]
    pub patient_label: Option<String>,
    /// Start.
    pub start: SystemTime,
    /// Minutes.
    pub duration_min: u32,
    /// Address.
    #[uniffi(default = None)]
    pub address: Option<String>,
    /// Position.
    #[uniffi(default = None)]
    pub point: Option<GeoPoint>,
    /// Geofence for check-in/out (without one: 150 m around `point`).
    #[uniffi(default = None)]
    pub geofence: Option<Geofence>,
}

redacted_debug!(NewAppointment {});

impl From<NewAppointment> for praxis_core::NewAppointment {
    fn from(a: NewAppointment) -> Self {
        Self {
            title: a.title,
            patient_label: a.patient_label,
            start: a.start.into(),
            duration_min: a.duration_min,
            address: a.address,
            point: a.point.map(|p| praxis_core::GeoPoint {
                lat: p.lat,
                lon: p.lon,
            }),
            geofence: a.geofence.map(Into::into),
        }
    }
}

/// Fields of a visit to change; `None` keeps the value.
#[derive(Clone, Default, uniffi::Record)]
pub struct AppointmentPatch {
    /// New title.
    #[uniffi(default = None)]
    pub title: Option<String>,
    /// New patient label.
    #[uniffi(default = None)]
    pub patient_label: Option<String>,
    /// New start.
    #[uniffi(default = None)]
    pub start: Option<SystemTime>,
    /// New duration.
    #[uniffi(default = None)]
    pub duration_min: Option<u32>,
    /// New status.
    #[uniffi(default = None)]
    pub status: Option<AppointmentStatus>,
    /// New address.
    #[uniffi(default = None)]
    pub address: Option<String>,
    /// New position.
    #[uniffi(default = None)]
    pub point: Option<GeoPoint>,
}

redacted_debug!(AppointmentPatch {});

impl From<AppointmentPatch> for praxis_core::AppointmentPatch {
    fn from(p: AppointmentPatch) -> Self {
        Self {
            title: p.title,
            patient_label: p.patient_label.map(Some),
            start: p.start.map(Into::into),
            duration_min: p.duration_min,
            status: p.status,
            address: p.address.map(Some),
            point: p.point.map(|g| {
                Some(praxis_core::GeoPoint {
                    lat: g.lat,
                    lon: g.lon,
                })
            }),
            geofence: None,
        }
    }
}

/// The state of sync.
#[uniffi::remote(Enum)]
pub enum SyncState {
    /// Nothing to do.
    Idle,
    /// Running.
    Syncing,
    /// The server is unreachable; a retry is scheduled.
    Offline,
    /// The last attempt failed; a retry is scheduled unless signed out.
    Error,
}

/// Sync state and counters.
#[uniffi::remote(Record)]
pub struct SyncStatus {
    /// State.
    pub state: SyncState,
    /// Local changes not yet acknowledged.
    pub pending: u64,
    /// Last completed sync.
    pub last_success: Option<Timestamp>,
    /// Next retry, after a failure.
    pub retry_at: Option<Timestamp>,
    /// Server changes applied so far in the running sync (the last one
    /// when idle): progress of a large pull.
    pub received: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Debug` (what a log line or a crash report shows) names a record
    /// and its ids, never the person.
    #[test]
    fn debug_output_carries_no_personal_data() {
        let profile = Profile {
            user_id: Uuid::nil(),
            email: "nurse.marker@clinic-example.org".into(),
            full_name: "Zuleika Marker".into(),
            phone: "+33612345678".into(),
            country: "FR".into(),
            language: "fr-FR".into(),
            profession: "nurse".into(),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(1985, 4, 12).expect("date"),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            email_verified: true,
        };
        let shown = format!("{profile:?}");
        for personal in ["marker", "Zuleika", "612345678", "1985"] {
            assert!(!shown.contains(personal), "{shown}");
        }
        assert!(shown.starts_with("Profile { user_id: "), "{shown}");
        let card = crate::contacts::ContactCard {
            display_name: "Zuleika Marker".into(),
            profession: None,
            specialty: None,
            work_phone: Some("+33612345678".into()),
            work_email: None,
            organisation: None,
            clinic_address: None,
            languages: Vec::new(),
        };
        assert_eq!(format!("{card:?}"), "ContactCard { .. }");
        // Core types the apps receive as they are: an organisation's name
        // may be its practitioner's; a route locates the user.
        let org = Org {
            org_id: Uuid::nil(),
            name: "Cabinet Zuleika Marker".into(),
            role: Role::Admin,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        let shown = format!("{org:?}");
        assert!(!shown.contains("Zuleika"), "{shown}");
        let route = praxis_core::Route {
            appointment_id: Uuid::nil(),
            start: DateTime::<Utc>::UNIX_EPOCH,
            distance_m: 1234.5,
            bearing_deg: 87.25,
        };
        let shown = format!("{route:?}");
        assert!(
            !shown.contains("1234") && !shown.contains("87.25"),
            "{shown}"
        );
    }
}
