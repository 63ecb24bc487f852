//! A local change: written to the cached record and queued in the outbox
//! in one transaction, stamped by the device's hybrid logical clock, while
//! signed in and not restricted.

use praxis_protocol::sync::{FieldValue, Fields, Mutation};

use super::{Change, SyncEngine, hlc_clock, load_state, now_ms, save_state};
use crate::cache::{RecordMeta, blocking, session_fence};
use crate::sync::plan::LocalRecord;
use crate::{Error, Result};

impl SyncEngine {
    /// Writes a local change to the cache and the outbox in one
    /// transaction. Validation is the caller's (the collection module's).
    pub async fn write(&self, collection: &'static str, id: String, change: Change) -> Result<()> {
        let now = now_ms(self.clock.now());
        let seed = self.seed;
        let require_session = self.require_session;
        blocking(&self.cache, move |c| {
            c.transaction(|tx| {
                // Checked in the write's own transaction: a sign-out that
                // wiped the cache cannot be followed by a write it missed.
                if require_session && session_fence(tx)?.is_none() {
                    return Err(Error::NotSignedIn);
                }
                // A restricted account keeps its data unchanged; only
                // consent (objection) still goes through.
                if collection != praxis_protocol::privacy::consents::COLLECTION
                    && crate::privacy::restricted(tx)?
                {
                    return Err(Error::Restricted);
                }
                let mut state = load_state(tx, seed)?;
                let mut clock = hlc_clock(&state);
                let t = clock.tick(now).to_string();
                let local = tx.get::<LocalRecord>(collection, &id)?;
                let exists = local.is_some();
                let (mut record, meta) = local.map(|r| (r.value, r.meta)).unwrap_or_default();
                check_change(&change, exists, record.deleted.is_some())?;
                let mut mutation = Mutation {
                    client_seq: state.next_seq,
                    collection: collection.to_owned(),
                    id: id.clone(),
                    base_version: meta.server_version,
                    fields: Fields::new(),
                    delete: None,
                };
                apply_change(&mut record, &mut mutation, change, &t);
                let meta = RecordMeta {
                    server_version: meta.server_version,
                    dirty: true,
                    deleted: record.deleted.is_some(),
                    expires_day: None,
                };
                tx.put(collection, &id, &record, meta)?;
                tx.enqueue(&serde_json::to_vec(&mutation)?)?;
                state.next_seq += 1;
                state.hlc = clock.last().to_string();
                save_state(tx, &state)
            })
        })
        .await?;
        self.machine().handle_trigger(false);
        self.wake.notify_one();
        self.refresh_pending().await?;
        Ok(())
    }
}

/// Whether a local change fits the record it names: a create needs a new
/// id, an update or delete an existing one, and a deleted record takes no
/// change.
fn check_change(change: &Change, exists: bool, deleted: bool) -> Result<()> {
    let refuse = |reason| {
        Err(Error::InvalidInput {
            field: "id",
            reason,
        })
    };
    if deleted {
        return refuse("the record was deleted");
    }
    match (change, exists) {
        (Change::Create(_), true) => refuse("a record with this id exists"),
        (Change::Update(_) | Change::Delete, false) => refuse("no such record"),
        _ => Ok(()),
    }
}

/// Applies a local change, stamped `t`, to the cached record and to the
/// mutation queued for the server.
fn apply_change(record: &mut LocalRecord, mutation: &mut Mutation, change: Change, t: &str) {
    match change {
        Change::Create(fields) | Change::Update(fields) => {
            for (name, v) in fields {
                let fv = FieldValue { v, t: t.to_owned() };
                record.fields.insert(name.clone(), fv.clone());
                mutation.fields.insert(name, fv);
            }
        }
        Change::Delete => {
            record.fields.clear();
            record.deleted = Some(t.to_owned());
            mutation.delete = Some(t.to_owned());
        }
    }
}
