//! Offline-first sync.
//!
//! * [`protocol`]: the sans-IO state machine (what to do next, when to
//!   retry);
//! * [`plan`]: merge planning as values (per-field last-writer-wins by
//!   HLC, deletes win, local pending changes rebased);
//! * [`hlc`]: the device's hybrid logical clock;
//! * [`engine`]: the driver: cache + outbox transactions, push and pull
//!   over a [`SyncTransport`].

pub mod engine;
pub mod hlc;
pub mod plan;
pub mod protocol;

pub use engine::{Change, SYNCED, SyncEngine, SyncTransport};
pub use protocol::{SyncState, SyncStatus};
