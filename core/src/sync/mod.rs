//! Offline-first sync.
//!
//! * [`protocol`]: the sans-IO state machine (what to do next, when to
//!   retry);
//! * [`plan`]: merge planning as values (per-field last-writer-wins by
//!   HLC, deletes win, local pending changes rebased);
//! * [`hlc`]: the device's hybrid logical clock;
//! * [`apply`]: a server record merged into the cache;
//! * [`driver`]: the driver: cache + outbox transactions, push and pull
//!   over a [`SyncTransport`];
//! * [`transport`]: the [`SyncTransport`] trait and its HTTP implementation.
//!
//! Order: protocol, plan, hlc <- apply <- transport <- driver.

pub(crate) mod apply;
pub mod driver;
pub mod hlc;
pub mod plan;
pub mod protocol;
pub mod transport;

pub use driver::{Change, SyncEngine};
pub use protocol::{SyncState, SyncStatus};
pub use transport::SyncTransport;

/// Collections kept in sync for the signed-in user.
pub const SYNCED: &[&str] = &[
    "profile",
    "appointments",
    "consents",
    "visit_events",
    "org_policy",
    "contacts",
];
