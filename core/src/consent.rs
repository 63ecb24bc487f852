//! The consent ledger: per purpose, granted or withdrawn, for which
//! published policy version, when, and on which device.
//!
//! Granting and withdrawing are one call each and append a record to the
//! `consents` collection (synced, append-only: the full history is the
//! proof of consent). A withdrawal applies on the device at once: queued
//! location data for the purpose is dropped in the same call, before any
//! sync. When the server publishes a higher policy version for a purpose,
//! earlier consent stops counting until it is given again
//! ([`Consents::needs_reconsent`]).

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use praxis_protocol::privacy::{Purpose, consents};
use serde_json::Value;

use crate::Result;
use crate::cache::blocking;
use crate::privacy::Gates;
use crate::sync::plan::LocalRecord;
use crate::sync::{Change, SyncEngine};

/// Where consent for one purpose stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentStatus {
    /// The purpose.
    pub purpose: Purpose,
    /// Whether consent counts now (granted, for the current version).
    pub granted: bool,
    /// The version the latest grant or withdrawal referred to.
    pub given_version: Option<u32>,
    /// The currently published version.
    pub current_version: u32,
    /// Granted for an older version: the app should ask again.
    pub needs_reconsent: bool,
    /// When the latest grant or withdrawal was recorded.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The consent capability; cheap to clone.
#[derive(Debug, Clone)]
pub struct Consents {
    pub(crate) engine: Arc<SyncEngine>,
}

impl Consents {
    /// Grants consent for `purpose`, for the currently published version.
    pub async fn grant(&self, purpose: Purpose) -> Result<()> {
        self.record(purpose, true).await
    }

    /// Withdraws consent for `purpose`. Processing for it stops at once:
    /// queued location data for the purpose is dropped unsent.
    pub async fn withdraw(&self, purpose: Purpose) -> Result<()> {
        self.record(purpose, false).await
    }

    async fn record(&self, purpose: Purpose, granted: bool) -> Result<()> {
        let version = self.load(move |g| Ok(g.version(purpose))).await?;
        let device = self.engine.client_id().await?;
        let now = self.engine.clock().now();
        let fields = vec![
            ("purpose".to_owned(), Value::from(purpose.as_str())),
            ("granted".to_owned(), Value::from(granted)),
            ("policy_version".to_owned(), Value::from(version)),
            (
                "at".to_owned(),
                Value::from(now.to_rfc3339_opts(SecondsFormat::Millis, true)),
            ),
            ("device".to_owned(), Value::from(device)),
        ];
        self.engine
            .write(
                consents::COLLECTION,
                self.engine.new_id().to_string(),
                Change::Create(fields),
            )
            .await?;
        if !granted {
            blocking(self.engine.cache(), move |c| {
                c.transaction(|tx| crate::privacy::enforce(tx, now))
            })
            .await?;
        }
        self.engine.notify();
        Ok(())
    }

    async fn load<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Gates) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        blocking(self.engine.cache(), move |c| {
            c.transaction(|tx| f(&Gates::load(tx)?))
        })
        .await
    }

    /// Where consent stands for every purpose.
    pub async fn status(&self) -> Result<Vec<ConsentStatus>> {
        self.load(|g| {
            let latest = consents::latest(&g.consents);
            Ok(Purpose::ALL
                .into_iter()
                .map(|purpose| {
                    let current = g.version(purpose);
                    let last = latest.get(&purpose);
                    ConsentStatus {
                        purpose,
                        granted: consents::counts(&g.consents, purpose, current),
                        given_version: last.map(|e| e.policy_version),
                        current_version: current,
                        needs_reconsent: last
                            .is_some_and(|e| e.granted && e.policy_version < current),
                        updated_at: last.map(|e| e.at),
                    }
                })
                .collect())
        })
        .await
    }

    /// Purposes consented to under an older policy version: ask again.
    pub async fn needs_reconsent(&self) -> Result<Vec<Purpose>> {
        Ok(self
            .status()
            .await?
            .into_iter()
            .filter(|s| s.needs_reconsent)
            .map(|s| s.purpose)
            .collect())
    }

    /// The whole ledger, oldest first (the proof of consent).
    pub async fn history(&self) -> Result<Vec<consents::Entry>> {
        let records = self.engine.records(consents::COLLECTION).await?;
        let mut out: Vec<_> = records
            .iter()
            .filter_map(|(id, r): &(String, LocalRecord)| {
                consents::Entry::from_fields(id, &r.fields)
            })
            .collect();
        out.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        Ok(out)
    }
}
