//! The device's view of the two location gates, and what happens when one
//! closes.
//!
//! Inputs, all in the encrypted cache: the `org_policy` records (synced
//! down; the last ones seen stay in force while offline), the `consents`
//! ledger (local entries count at once, before they are pushed), the
//! published policy versions and the restriction flag (from the privacy
//! step that opens every sync cycle), and the user's precision preference.
//!
//! When a gate is found closed, [`enforce`] drops, in the same
//! transaction, every location datum not yet sent: queued visit events
//! with their fix, and the user's live shares. What was collected while
//! both gates were open is *not sent* once one has closed; the server
//! refuses it too, should an older build send it anyway.

pub(crate) use crate::local::{ANALYTICS, OWN_SHARES, RECEIVED, SETTINGS, STATE};
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use praxis_protocol::location::Precision;
use praxis_protocol::notice::PrivacyNotice;
use praxis_protocol::privacy::{
    self, Closed, Effective, PrivacyState, Purpose, consents, org_policy, visit_events,
};
use praxis_protocol::sync::{FieldValue, Mutation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cache::{CacheTx, RecordMeta};
use crate::sync::plan::LocalRecord;
use crate::{Error, Result};

/// What the last privacy step brought.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StoredState {
    pub policy_versions: BTreeMap<Purpose, u32>,
    pub restricted: bool,
}

/// Whether processing is restricted, as last known on this device.
pub(crate) fn restricted(tx: &CacheTx<'_>) -> Result<bool> {
    Ok(tx
        .get::<StoredState>(STATE.0, STATE.1)?
        .is_some_and(|r| r.value.restricted))
}

/// The user's location preference on this device.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Settings {
    /// Finest precision the user wants (never finer than the organisation
    /// allows). Approximate unless the user asks for precise.
    pub preference: Precision,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            preference: Precision::Approximate,
        }
    }
}

/// Everything the gate decision needs, read in one transaction.
#[derive(Debug, Clone)]
pub(crate) struct Gates {
    pub restricted: bool,
    pub effective: Effective,
    pub consents: Vec<consents::Entry>,
    pub versions: BTreeMap<Purpose, u32>,
    pub preference: Precision,
}

impl Gates {
    pub(crate) fn load(tx: &CacheTx<'_>) -> Result<Self> {
        let state = tx
            .get::<StoredState>(STATE.0, STATE.1)?
            .map(|r| r.value)
            .unwrap_or_default();
        let settings = tx
            .get::<Settings>(SETTINGS.0, SETTINGS.1)?
            .map(|r| r.value)
            .unwrap_or_default();
        let policies: Vec<_> = tx
            .list::<LocalRecord>(org_policy::COLLECTION)?
            .iter()
            .filter(|r| r.value.deleted.is_none())
            .filter_map(|r| org_policy::MemberPolicy::from_fields(&r.value.fields))
            .collect();
        let consents = tx
            .list::<LocalRecord>(consents::COLLECTION)?
            .iter()
            .filter_map(|r| consents::Entry::from_fields(&r.id, &r.value.fields))
            .collect();
        Ok(Self {
            restricted: state.restricted,
            effective: Effective::of(&policies),
            consents,
            versions: state.policy_versions,
            preference: settings.preference,
        })
    }

    /// The published version for `purpose` (1 until the server says more).
    pub(crate) fn version(&self, purpose: Purpose) -> u32 {
        self.versions.get(&purpose).copied().unwrap_or(1)
    }

    /// The two-gate decision: the precision to use, or why not.
    pub(crate) fn check(&self, purpose: Purpose) -> std::result::Result<Precision, Closed> {
        privacy::gate(
            purpose,
            self.restricted,
            &self.effective,
            &self.consents,
            self.version(purpose),
            self.preference,
        )
    }

    /// [`Gates::check`] as the core's error.
    pub(crate) fn require(&self, purpose: Purpose) -> Result<Precision> {
        self.check(purpose)
            .map_err(|reason| Error::Closed { purpose, reason })
    }
}

/// Applies a privacy state from the server: the `org_policy` records (an
/// older copy never replaces a newer one; one the server no longer lists
/// is removed), the policy versions and the restriction flag; then
/// [`enforce`]s the result.
pub(crate) fn apply_state(
    tx: &mut CacheTx<'_>,
    state: &PrivacyState,
    now: DateTime<Utc>,
) -> Result<Enforced> {
    let listed: std::collections::HashSet<&str> =
        state.org_policies.iter().map(|r| r.id.as_str()).collect();
    for r in tx.list::<LocalRecord>(org_policy::COLLECTION)? {
        if !listed.contains(r.id.as_str()) {
            tx.delete(org_policy::COLLECTION, &r.id)?;
        }
    }
    for incoming in &state.org_policies {
        // Server-authored and read-only here: the same merge as a pull
        // (an older copy never replaces a newer one).
        crate::sync::apply::merge_in(tx, incoming, false)?;
    }
    tx.put(
        STATE.0,
        STATE.1,
        &StoredState {
            policy_versions: state.policy_versions.clone(),
            restricted: state.restricted,
        },
        RecordMeta::local(),
    )?;
    enforce(tx, now)
}

/// What [`enforce`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enforced {
    /// Queued visit events dropped unsent.
    pub visit_events_dropped: usize,
    /// Live shares forgotten (the server deletes them too).
    pub shares_stopped: usize,
}

/// Drops every unsent location datum whose gate is closed, and purges what
/// has outlived its retention. Called after anything that can close a
/// gate (a privacy step, a pull, a withdrawal, a restriction).
pub(crate) fn enforce(tx: &mut CacheTx<'_>, now: DateTime<Utc>) -> Result<Enforced> {
    let gates = Gates::load(tx)?;
    let mut out = Enforced::default();
    let visits_open = gates.check(Purpose::LocationVisits).is_ok();
    let max = gates.effective.max_precision;
    for entry in tx.outbox(usize::MAX)? {
        let m: Mutation = serde_json::from_slice(&entry.payload)?;
        if m.collection != visit_events::COLLECTION {
            continue;
        }
        // Closed gate: nothing queued is sent. Open, but the organisation
        // lowered the precision since: what is finer is not sent either.
        let finer = m
            .fields
            .get("precision")
            .and_then(|f| f.v.as_str())
            .and_then(Precision::parse)
            .is_none_or(|p| p > max);
        if !visits_open || finer {
            tx.remove_outbox_entry(entry.seq)?;
            tx.delete(&m.collection, &m.id)?;
            out.visit_events_dropped += 1;
        }
    }
    if gates.check(Purpose::LocationSharing).is_err() {
        for r in tx.list::<Value>(OWN_SHARES)? {
            tx.delete(OWN_SHARES, &r.id)?;
            out.shares_stopped += 1;
        }
    }
    purge_expired(tx, &gates, now)?;
    if !analytics_open(&gates) {
        // What was counted and not yet drained goes with the consent.
        for r in tx.list::<Value>(ANALYTICS)? {
            tx.delete(ANALYTICS, &r.id)?;
        }
    }
    Ok(out)
}

/// Whether usage analytics may run (`crate::analytics`): not restricted,
/// and the latest consent grants the published version (the location
/// gates' precision plays no part).
pub(crate) fn analytics_open(g: &Gates) -> bool {
    !g.restricted
        && consents::counts(
            &g.consents,
            Purpose::Analytics,
            g.version(Purpose::Analytics),
        )
}

/// Retention on the device: the raw fix of a synced visit event older than
/// the retention period is cleared (the server clears its copy too), and
/// received positions whose share has ended are deleted.
pub(crate) fn purge_expired(tx: &mut CacheTx<'_>, gates: &Gates, now: DateTime<Utc>) -> Result<()> {
    let horizon = now - Duration::days(i64::from(gates.effective.retention_days));
    for r in tx.list::<LocalRecord>(visit_events::COLLECTION)? {
        if r.meta.dirty {
            // Not sent yet: the server clears it on arrival if it is old.
            continue;
        }
        let taken = visit_events::taken_at(&r.value.fields);
        if visit_events::has_raw_fix(&r.value.fields) && taken.is_some_and(|t| t < horizon) {
            let mut record = r.value.clone();
            for k in visit_events::RAW_FIX {
                if let Some(f) = record.fields.get_mut(*k) {
                    *f = FieldValue {
                        v: Value::Null,
                        t: f.t.clone(),
                    };
                }
            }
            tx.put(visit_events::COLLECTION, &r.id, &record, r.meta)?;
        }
    }
    for r in tx.list::<Value>(RECEIVED)? {
        let ends: Option<DateTime<Utc>> = r
            .value
            .get("expires_at")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok());
        if ends.is_none_or(|e| e <= now) {
            tx.delete(RECEIVED, &r.id)?;
        }
    }
    Ok(())
}

// The privacy notice as the device holds it (`crate::notice`): here, below
// the sync driver that keeps it.

/// Where the notice is kept: device state, not the user's data (it is
/// public, and it survives sign-out so the next user sees it offline).
pub(crate) const NOTICE: (&str, &str) = ("privacy_notice", "current");

/// The notice held on the device and whether the user has yet to be told
/// it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeStatus {
    /// The notice.
    pub notice: PrivacyNotice,
    /// A sync brought this version after the device had held an older
    /// one, and the app has not yet acknowledged it.
    pub changed: bool,
}

/// The version of the notice held, if any.
pub(crate) fn held_notice_version(tx: &CacheTx<'_>) -> Result<Option<u32>> {
    Ok(tx
        .get::<NoticeStatus>(NOTICE.0, NOTICE.1)?
        .map(|r| r.value.notice.version))
}

/// Keeps `notice`. A version newer than one already held raises the
/// `changed` flag; the first notice a device holds does not (the user is
/// shown it when registering), and the same version keeps the flag as it
/// was.
pub(crate) fn keep_notice(tx: &mut CacheTx<'_>, notice: PrivacyNotice) -> Result<NoticeStatus> {
    let held = tx.get::<NoticeStatus>(NOTICE.0, NOTICE.1)?.map(|r| r.value);
    let changed = match &held {
        None => false,
        Some(h) if notice.version > h.notice.version => true,
        Some(h) if notice.version == h.notice.version => h.changed,
        // An older version (the server's operator went back): keep it,
        // but it is no news to the user.
        Some(_) => false,
    };
    let status = NoticeStatus { notice, changed };
    tx.put(NOTICE.0, NOTICE.1, &status, RecordMeta::local())?;
    Ok(status)
}
