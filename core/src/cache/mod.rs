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
pub mod schema;

pub use db::{Cache, CacheTx, OutboxEntry, Record, RecordMeta};
pub use keys::{KekParams, KeyProvider, PassphraseKeyProvider, RawKeyProvider, SecretKey};
