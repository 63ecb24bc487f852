//! `praxis-ffi`: the uniffi surface of the Praxis core for Kotlin and Swift.
//!
//! Thin by rule: every exported type wraps a core type (`inner: Arc<…>`),
//! is a core type declared with `#[uniffi::remote]` (ids and times cross
//! as the custom types `Uuid` and `Timestamp`, in `types`), or mirrors one
//! with `From` where the apps see it differently; the only logic here is
//! conversion. The one
//! mapping from core errors to the small public [`PraxisError`] lives in
//! [`error`]. Panics are caught by uniffi's scaffolding and reach the app
//! as an internal error, never as an abort across the boundary (the crate
//! keeps `panic = "unwind"`).

uniffi::setup_scaffolding!();

/// Declares one capability of the client as an exported object holding the
/// core client (`inner`), and `PraxisClient`'s getter for it (the module
/// using it imports `PraxisClient`)
/// (`client.consents()`, as matrix-sdk-ffi does): the apps' calls are
/// grouped as the core's handles are.
macro_rules! capability {
    ($(#[$doc:meta])* $name:ident, $getter:ident) => {
        $(#[$doc])*
        #[derive(Debug, uniffi::Object)]
        pub struct $name {
            inner: std::sync::Arc<praxis_core::PraxisClient>,
        }

        impl $name {
            /// The core client.
            fn core(&self) -> &std::sync::Arc<praxis_core::PraxisClient> {
                &self.inner
            }
        }

        #[uniffi::export]
        impl PraxisClient {
            $(#[$doc])*
            pub fn $getter(&self) -> std::sync::Arc<$name> {
                std::sync::Arc::new($name {
                    inner: std::sync::Arc::clone(self.core()),
                })
            }
        }
    };
}
pub(crate) use capability;

mod account;
mod analytics;
mod appointments;
mod client;
mod contacts;
mod devices;
mod error;
mod keys;
mod listeners;
mod notice;
mod org_admin;
mod privacy;
mod rights;
mod sync;
mod types;

pub use account::*;
pub use analytics::*;
pub use appointments::*;
pub use client::PraxisClient;
pub use contacts::*;
pub use devices::*;
pub use error::PraxisError;
pub use keys::{KeyProvider, Logger};
pub use listeners::{SessionListener, SyncListener, TaskHandle};
pub use notice::*;
pub use org_admin::*;
pub use privacy::*;
pub use rights::*;
pub use sync::*;
pub use types::*;

/// The core's version, e.g. for an about screen (also the cheapest call
/// across the boundary, used to measure its overhead).
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
