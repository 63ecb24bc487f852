//! Server storage.
//!
//! Two layers, so that the domain logic is written once and runs unchanged
//! on both databases:
//!
//! * [`backend`] is the [`Db`] trait: transactions and statements over a
//!   tiny value model ([`Val`]). It has two implementations, [`sqlite`]
//!   (rusqlite, the embedded default) and [`postgres`] (tokio-postgres with
//!   deadpool), and they are the only code that differs between databases.
//! * [`Store`] is the handle every capability hangs its operations on, one
//!   module each, in portable SQL with `?N` placeholders (the PostgreSQL
//!   backend rewrites them to `$N` once, when it prepares them).
//!
//! The modules depend on each other in one direction only (a CI check,
//! `cargo xtask deps`, refuses a cycle):
//!
//! ```text
//! backend <- feed <- vault <- leases, wakeups <- records <- audit <- accounts, sessions, privacy::restriction
//!         <- privacy <- sync <- orgs, contacts <- erasure, export
//! schema (migrations, and the sealing migration) <- Store::open
//! ```
//!
//! The SQL stays within what PostgreSQL-compatible distributed engines
//! accept (no sequences the app relies on, no triggers, text ids, `BIGINT`
//! epoch-millisecond timestamps), so a deployment can move to CockroachDB
//! or YugabyteDB without touching the domain code.

pub mod backend;
pub mod feed;
pub mod schema;
mod vault;

mod handle;
mod leases;
mod records;
mod wakeups;

mod accounts;
mod audit;
mod contacts;
mod credentials;
mod erasure;
mod export;
mod orgs;
mod privacy;
mod retention;
mod sessions;
mod sync;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use accounts::{Credentials, NewUser, ProfilePatch, UserRecord};
pub use audit::{AuditCheck, Event};
pub use backend::{
    CommitStats, Db, Dialect, PoolStats, Row, Statement, StoreError, Tx, Val, postgres, sqlite,
};
pub use contacts::{ForwardOutcome, Offer, RedeemError};
pub use credentials::{CODE_ATTEMPTS, CodePurpose};
pub use erasure::ERASED_TOKEN_DAYS;
pub use feed::{Change, Feed, Signal};
pub use handle::Store;
pub use orgs::{
    MAX_OPEN_JOIN_CODES, MAX_ORGS_PER_USER, MemberChange, MemberRecord, OrgView, RedeemOutcome,
};
pub use privacy::objections::CONNECTION_LOG;
pub use privacy::sharing::{MAX_LIVE_SHARES, PositionOutcome, ShareOutcome};
pub use retention::PURGE_BATCH;
pub use sessions::{DeviceLabel, NewSession, RotateOutcome, SessionRow};
pub use sync::PullPage;
pub use vault::{KeyError, MasterKeys, Vault};
pub use wakeups::{Delivery, Wakeup};

use backend::ms;

impl Store {
    /// Wraps a backend and brings its schema up to date.
    /// Personal columns are sealed under per-user keys that `vault`'s
    /// master keys wrap.
    pub async fn open(
        db: Arc<dyn Db>,
        vault: Arc<Vault>,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        const EPOCH_GET: &str = "SELECT meta_value FROM sync_meta WHERE meta_key = 'epoch'";
        const EPOCH_INIT: &str = "INSERT INTO sync_meta (meta_key, meta_value) VALUES ('epoch', ?1) ON CONFLICT (meta_key) DO NOTHING";
        const AUDIT_INIT: &str = "INSERT INTO audit_head (id, seq, hash, base_seq, base_hash) VALUES (1, 0, ?1, 0, ?1) ON CONFLICT (id) DO NOTHING";
        schema::run(db.as_ref(), &vault, ms(now)).await?;
        let mut tx = db.begin().await?;
        vault.load(&mut *tx, ms(now)).await?;
        tx.execute(EPOCH_INIT, vec![Uuid::new_v4().simple().to_string().into()])
            .await?;
        tx.execute(AUDIT_INIT, vec![[0u8; 32].as_slice().into()])
            .await?;
        tx.commit().await?;
        let epoch = db.query(EPOCH_GET, vec![]).await?;
        let epoch = epoch
            .first()
            .ok_or(StoreError::Decode("sync epoch"))?
            .text(0)?;
        // Replicas on one database share its channel (named after its
        // epoch, so test schemas on one server do not hear each other).
        let feed = Arc::new(Feed::new(
            (db.dialect() == Dialect::Postgres).then(|| format!("praxis_feed_{epoch}")),
        ));
        if let Some(channel) = feed.channel() {
            let hub = Arc::downgrade(&feed);
            let sink: backend::NoteSink = Box::new(move |note| {
                if let Some(hub) = hub.upgrade() {
                    match note {
                        Some(payload) => hub.apply_remote(payload),
                        None => hub.resync_all(),
                    }
                }
            });
            if let Some(task) = db.listen(channel, sink) {
                feed.attach(&task);
            }
        }
        Ok(Self {
            db,
            vault,
            epoch: epoch.into(),
            feed,
        })
    }
}
