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
//! * [`transport`]: the [`SyncTransport`] trait and its HTTP implementation;
//! * [`feed`]: the server's change feed as the device reads it;
//! * [`live`]: the live driver (the background driver plus the feed).
//!
//! Order: protocol, plan, hlc <- apply <- feed <- transport <- driver <- live.

pub(crate) mod apply;
pub mod driver;
pub mod feed;
pub mod hlc;
pub mod live;
pub mod plan;
pub mod protocol;
pub mod transport;

pub use driver::{Change, SyncEngine};
pub use feed::{Feed, FeedEnd, FeedEvent};
pub use live::{LiveOptions, Reconnect};
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
