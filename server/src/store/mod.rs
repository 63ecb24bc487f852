//! Server storage.
//!
//! Two layers, so that the domain logic is written once and runs unchanged
//! on both databases:
//!
//! * [`Db`] is the backend trait: transactions and statements over a tiny
//!   value model ([`Val`]). It has two implementations, [`sqlite`]
//!   (rusqlite, the embedded default) and [`postgres`] (tokio-postgres with
//!   deadpool), and they are the only code that differs between databases.
//! * [`Store`] holds every domain query (accounts, sessions, organisations)
//!   as portable SQL in [`sql`], written with `?N` placeholders; the
//!   PostgreSQL backend rewrites them to `$N` once, when it prepares them.
//!
//! The SQL stays within what PostgreSQL-compatible distributed engines
//! accept (no sequences the app relies on, no triggers, text ids, `BIGINT`
//! epoch-millisecond timestamps), so a deployment can move to CockroachDB
//! or YugabyteDB without touching the domain code.

mod audit;
mod contacts;
mod db;
mod domain;
mod erasure;
mod export;
mod legacy;
mod migrate;
pub mod postgres;
mod privacy;
pub mod sql;
pub mod sqlite;
mod vault;

pub use audit::{AuditCheck, Event};
pub use contacts::{ForwardOutcome, Offer, RedeemError};
pub use db::{Db, Dialect, Row, StoreError, Tx, Val};
pub use domain::{
    Credentials, MemberChange, MemberRecord, NewSession, NewUser, OrgView, ProfilePatch, PullPage,
    RedeemOutcome, RotateOutcome, Store, UserRecord,
};
pub use erasure::ERASED_TOKEN_DAYS;
pub use privacy::{PositionOutcome, ShareOutcome};
pub use vault::{KeyError, MasterKeys, Vault};
