//! The [`Store`] handle: the backend, the vault, and the sync epoch. Every
//! capability module adds its operations to it (`impl Store` blocks); it
//! is opened in the parent module, after the schema is brought up to date.

use std::sync::Arc;

use crate::store::backend::{Db, StoreError, Tx};
use crate::store::feed::Feed;
use crate::store::vault::{Vault, VaultTx};

/// The storage used by the server: domain operations over a [`Db`].
#[derive(Debug, Clone)]
pub struct Store {
    pub(in crate::store) db: Arc<dyn Db>,
    pub(in crate::store) vault: Arc<Vault>,
    pub(in crate::store) epoch: Arc<str>,
    pub(in crate::store) feed: Arc<Feed>,
}

impl Store {
    /// Starts a write transaction that carries the vault.
    pub(crate) async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        Ok(Box::new(VaultTx::new(
            self.db.begin().await?,
            self.vault.clone(),
            self.feed.clone(),
        )))
    }

    /// Starts a write transaction for bulk work (purges, erasure, pruning,
    /// rewrapping): see [`Db::begin_bulk`](super::Db::begin_bulk).
    pub(crate) async fn begin_bulk(&self) -> Result<Box<dyn Tx>, StoreError> {
        Ok(Box::new(VaultTx::new(
            self.db.begin_bulk().await?,
            self.vault.clone(),
            self.feed.clone(),
        )))
    }

    /// Starts a read-only transaction that carries the vault: reads that
    /// need one snapshot (or sealed values opened) without queueing behind
    /// writers.
    pub(crate) async fn begin_read(&self) -> Result<Box<dyn Tx>, StoreError> {
        let mut tx = VaultTx::new(
            self.db.begin_read().await?,
            self.vault.clone(),
            self.feed.clone(),
        );
        tx.ctx.read_only = true;
        Ok(Box::new(tx))
    }

    /// Rewraps every key under the current master key (after a rotation);
    /// returns how many were rewrapped.
    pub async fn rewrap_keys(&self) -> Result<u64, StoreError> {
        let mut tx = self.begin_bulk().await?;
        let n = self.vault.rewrap_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The sync epoch: cursors from another epoch force a full resync.
    pub fn sync_epoch(&self) -> &str {
        &self.epoch
    }

    /// The change feed's hub: streams subscribe to it, commits wake them.
    pub fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }

    /// The backend, for diagnostics and tests.
    pub fn db(&self) -> &Arc<dyn Db> {
        &self.db
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        const PING: &str = "SELECT 1";
        self.db.query(PING, vec![]).await.map(drop)
    }
}
