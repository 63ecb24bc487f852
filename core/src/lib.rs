//! `praxis-core`: the shared core of the Praxis apps.
//!
//! One crate holds everything that must behave the same on Android and
//! iPhone; the apps keep only screens, OS permissions and the platform
//! keystore. It knows nothing of uniffi or any platform.
//!
//! * [`cache`]: the encrypted local store (SQLite + AES-256-GCM, a DEK
//!   wrapped by a KEK from a [`cache::KeyProvider`]).
//! * [`protocol`]: the wire types shared with the server.
//! * [`Error`]: the core's error type.
//!
//! ```
//! use std::sync::Arc;
//! use praxis_core::cache::{Cache, RawKeyProvider, RecordMeta};
//!
//! let dir = tempfile::tempdir()?;
//! let provider = Arc::new(RawKeyProvider::new([7u8; 32]));
//! let cache = Cache::open(&dir.path().join("cache.db"), provider)?;
//! cache.put("notes", "n1", &"hello".to_string(), RecordMeta::local())?;
//! let note = cache.get::<String>("notes", "n1")?.expect("stored");
//! assert_eq!(note.value, "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod account;
pub mod analytics;
pub mod appointments;
pub mod cache;
mod client;
pub mod clock;
pub mod consent;
pub mod contacts;
mod credentials;
pub mod devices;
mod error;
pub mod export;
pub mod http;
mod local;
pub mod location;
mod log;
pub mod notice;
mod org_admin;
mod privacy;
mod purpose_erasure;
mod session;
pub mod sync;

pub use account::Account;
pub use analytics::{Analytics, AnalyticsCount, AnalyticsValue};
pub use appointments::{
    Appointment, AppointmentPatch, AppointmentStatus, Appointments, GeoPoint, NewAppointment,
};
pub use client::{CACHE_FILE, ClientConfig, PraxisClient};
pub use consent::{ConsentStatus, Consents};
pub use contacts::{Contact, Contacts};
pub use devices::{DeviceLabel, Devices};
pub use error::{Error, ErrorKind, NetworkError, Result};
pub use location::{Fix, FixSource, Location, LocationPermission, Route, VisitEvent, VisitKind};
pub use log::{LogLevel, Logger};
pub use notice::{NoticeStatus, Notices};
pub use praxis_protocol as protocol;
pub use privacy::Enforced;
pub use session::SessionState;
