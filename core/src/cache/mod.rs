//! The encrypted local cache: every record the core keeps on the device.
//!
//! * [`Cache`] opens (or creates) the SQLite file and unlocks it with a
//!   [`KeyProvider`]; [`CacheTx`] is a transaction in which a record and its
//!   outbox entry are written atomically.
//! * Records are typed values (serde) in named collections, each with its
//!   sync metadata ([`RecordMeta`]) in clear beside the encrypted payload.
//! * [`keys`] holds the key hierarchy (DEK wrapped by a KEK) and the shipped
//!   providers; [`schema`] the tables; `crypto` the record encryption.

mod crypto;
mod db;
pub mod keys;
mod record;
mod rotation;
pub mod schema;
mod tx;

pub use db::Cache;
pub use record::{OutboxEntry, Record, RecordMeta};
pub use tx::CacheTx;

/// The record holding the signed-in session's tokens: present exactly
/// while someone is signed in on this device.
pub(crate) const SESSION_RECORD: (&str, &str) = ("session", "current");

/// Who is signed in, as the fence of a sync step: the session record's
/// account and sign-in ids (stable across token refreshes), or `None`.
///
/// A sync step reads it before going to the network and checks it again
/// inside the transaction that applies the answer; a sign-out, a user
/// switch or an erasure in between changes it, and the step writes
/// nothing. Checked in the same transaction, under the cache's lock, it
/// cannot race with the wipe.
pub(crate) fn session_fence(tx: &CacheTx<'_>) -> crate::Result<Option<String>> {
    let (collection, id) = SESSION_RECORD;
    Ok(tx
        .get::<serde_json::Value>(collection, id)?
        .map(|r| format!("{}/{}", r.value["user_id"], r.value["session_id"])))
}

/// Runs cache work on tokio's blocking pool: SQLite and crypto never run
/// on a thread the app's async code is using.
pub(crate) async fn blocking<R: Send + 'static>(
    cache: &std::sync::Arc<Cache>,
    f: impl FnOnce(&Cache) -> crate::Result<R> + Send + 'static,
) -> crate::Result<R> {
    let cache = std::sync::Arc::clone(cache);
    tokio::task::spawn_blocking(move || f(&cache))
        .await
        .map_err(|_| crate::Error::Storage(rusqlite::Error::InvalidQuery))?
}
pub use keys::{
    KekParams, KeyProvider, PBKDF2_ITERATIONS, PassphraseKeyProvider, RawKeyProvider, SecretKey,
};
