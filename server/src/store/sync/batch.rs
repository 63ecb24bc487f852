//! One push, decided: the touched records loaded in one query, each
//! mutation decided in memory against the record as the batch left it
//! (the sans-IO [`crate::sync`] rules), the writes queued and flushed with
//! multi-row statements, the scope's sequence taken once, and the answers
//! worked out once every write is known to have landed.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use praxis_protocol::sync::{Fields, Mutation, MutationResult, RejectReason, SyncRecord};
use uuid::Uuid;

use crate::store::backend::{Dialect, Row, Statement, StoreError, Tx, ms};
use crate::store::records::{open_fields, seal_fields};
use crate::store::sync::answers::answer_context;
use crate::sync::{self};

/// A record as `(collection, id)`.
type Key = (String, String);

/// The statement that reads (and on PostgreSQL locks until commit, in key
/// order) the stored records the mutations target, in one query; `None`
/// when there are none. Its rows are read by [`stored_records`].
pub(super) fn records_query(
    dialect: Dialect,
    mutations: &[&Mutation],
) -> Result<Option<Statement>, StoreError> {
    const SQLITE: &str = "SELECT r.collection, r.record_id, r.scope, r.seq, r.fields, r.deleted FROM json_each(?1) AS k CROSS JOIN sync_records AS r ON r.collection = json_extract(k.value, '$[0]') AND r.record_id = json_extract(k.value, '$[1]')";
    const POSTGRES: &str = "SELECT r.collection, r.record_id, r.scope, r.seq, r.fields, r.deleted FROM jsonb_array_elements(?1::text::jsonb) WITH ORDINALITY AS k(v, n) JOIN sync_records AS r ON r.collection = k.v->>0 AND r.record_id = k.v->>1 ORDER BY k.n FOR UPDATE OF r";
    let mut keys: Vec<(&str, &str)> = mutations
        .iter()
        .map(|m| (m.collection.as_str(), m.id.as_str()))
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    keys.sort_unstable();
    keys.dedup();
    let sql = match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    let keys = serde_json::to_string(&keys).map_err(|_| StoreError::Decode("record keys"))?;
    Ok(Some((sql, vec![keys.into()])))
}

/// The stored records read by [`records_query`], opened. Another scope's
/// record is returned without its fields: `decide` refuses it without
/// looking at them (they are sealed under their owner's key).
pub(super) async fn stored_records(
    tx: &mut dyn Tx,
    user: Uuid,
    scope: &str,
    rows: Vec<Row>,
) -> Result<HashMap<Key, sync::Stored>, StoreError> {
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let (collection, id, owner) = (
            r.text("collection")?,
            r.text("record_id")?,
            r.text("scope")?,
        );
        let fields = if owner == scope {
            open_fields(tx, user, &collection, &id, r.text("fields")?).await?
        } else {
            Fields::default()
        };
        out.insert(
            (collection, id),
            sync::Stored {
                scope: owner,
                version: r.i64("seq")?,
                fields,
                deleted: r.opt_text("deleted")?,
            },
        );
    }
    Ok(out)
}

/// The answer to each mutation of a push, in order, and those to store (a
/// refusal stores nothing: a replay is simply refused again). `taken`
/// holds the ids another scope created concurrently.
pub(super) fn answers(
    mutations: &[Mutation],
    slots: Vec<Slot>,
    taken: &HashSet<(String, String)>,
) -> (Vec<MutationResult>, Vec<MutationResult>) {
    let mut results: Vec<MutationResult> = Vec::with_capacity(slots.len());
    let mut keep = Vec::new();
    for (m, slot) in mutations.iter().zip(slots) {
        let result = match slot {
            Slot::Replayed(r) => r,
            Slot::SameAs(first) => results[first].clone(),
            Slot::Refused(decision) => sync::answer(m, &decision, None),
            Slot::Decided { decision, record } => {
                let r = if taken.contains(&(m.collection.clone(), m.id.clone())) {
                    // Another scope created this id concurrently.
                    sync::answer(
                        m,
                        &sync::Decision::Reject(RejectReason::Forbidden, None),
                        None,
                    )
                } else {
                    sync::answer(m, &decision, Some(record))
                };
                if !matches!(r, MutationResult::Rejected { .. }) {
                    keep.push(r.clone());
                }
                r
            }
        };
        results.push(result);
    }
    (results, keep)
}

/// Where one mutation of a batch stands until its answer is final.
pub(super) enum Slot {
    /// Answered before (a retried push): the stored answer.
    Replayed(MutationResult),
    /// A repeat, in this batch, of the mutation at this index.
    SameAs(usize),
    /// Refused without writing.
    Refused(sync::Decision),
    /// To be written (or unchanged): answered once the write is known to
    /// have landed.
    Decided {
        decision: sync::Decision,
        record: SyncRecord,
    },
}

/// A record write waiting for the next flush.
struct PendingWrite {
    key: Key,
    seq: i64,
    sealed: String,
    deleted: Option<String>,
}

/// The state one push carries from mutation to mutation.
pub(super) struct Batch<'a> {
    user: Uuid,
    /// The sign-in that pushed (not woken for its own changes).
    origin: Uuid,
    scope: &'a str,
    now: DateTime<Utc>,
    dialect: Dialect,
    /// The touched records as this batch left them so far.
    records: HashMap<Key, sync::Stored>,
    /// Writes not flushed yet, one per record (a later write of the same
    /// record in the batch replaces the earlier one).
    pending: Vec<PendingWrite>,
    pending_at: HashMap<Key, usize>,
    /// Records whose write changed no row: another scope owns the id.
    taken: HashSet<Key>,
    /// The scope's sequence: taken (and its row locked) at the first
    /// change, then counted here and written back once by `finish`.
    last_seq: Option<i64>,
    numbered: u32,
    /// Loaded when a mutation needs them; a consent written in this batch
    /// changes them, so they are reloaded after one.
    gates: Option<crate::store::privacy::Gates>,
    sharing_consent_changed: bool,
}

impl<'a> Batch<'a> {
    /// A batch of `user`'s push from the sign-in `origin`, over the
    /// records it touches (as [`stored_records`] read them).
    pub(super) fn new(
        (user, origin): (Uuid, Uuid),
        scope: &'a str,
        now: DateTime<Utc>,
        dialect: Dialect,
        records: HashMap<Key, sync::Stored>,
    ) -> Self {
        Self {
            user,
            origin,
            scope,
            now,
            dialect,
            records,
            pending: Vec::new(),
            pending_at: HashMap::new(),
            taken: HashSet::new(),
            last_seq: None,
            numbered: 0,
            gates: None,
            sharing_consent_changed: false,
        }
    }

    /// The records whose write changed no row: another scope owns the id.
    pub(super) fn taken(&self) -> &HashSet<Key> {
        &self.taken
    }
    /// Decides every mutation of the push in order: a retried one gets its
    /// stored answer, a repeat within the batch the answer of its first,
    /// the rest are decided against the records as the batch left them.
    pub(super) async fn decide_all(
        &mut self,
        tx: &mut dyn Tx,
        client_id: &str,
        mutations: &[Mutation],
        answered: &HashMap<i64, String>,
        pre: &sync::Prechecked,
    ) -> Result<Vec<Slot>, StoreError> {
        let mut slots = Vec::with_capacity(mutations.len());
        // The first mutation of this batch with each sequence number whose
        // answer will be stored: a repeat gets the same answer.
        let mut first_with_seq: HashMap<i64, usize> = HashMap::new();
        for (i, m) in mutations.iter().enumerate() {
            if let Some(stored) = answered.get(&m.client_seq).cloned() {
                let context = answer_context(self.user, client_id, m.client_seq);
                let text = crate::store::vault::open_for(tx, self.user, &context, stored).await?;
                let stored: MutationResult = serde_json::from_str(&text)
                    .map_err(|_| StoreError::Decode("stored mutation result"))?;
                slots.push(Slot::Replayed(stored));
                continue;
            }
            if let Some(&first) = first_with_seq.get(&m.client_seq) {
                slots.push(Slot::SameAs(first));
                continue;
            }
            let slot = self.decide(tx, m, pre.refusal(i)).await?;
            if matches!(slot, Slot::Decided { .. }) {
                first_with_seq.insert(m.client_seq, i);
            }
            slots.push(slot);
        }
        Ok(slots)
    }

    /// Decides one new mutation against the record as the batch left it,
    /// and queues what the decision writes; a mutation refused by the
    /// precheck is answered without reading.
    async fn decide(
        &mut self,
        tx: &mut dyn Tx,
        m: &Mutation,
        refused: Option<&sync::Decision>,
    ) -> Result<Slot, StoreError> {
        if let Some(refused) = refused {
            return Ok(Slot::Refused(refused.clone()));
        }
        if sync::needs_gates(&m.collection) && self.gates.is_none() {
            // The gates read the consents: this batch's own first.
            self.flush(tx).await?;
            self.gates = Some(crate::store::privacy::Gates::load(tx, self.user).await?);
        }
        let key: Key = (m.collection.clone(), m.id.clone());
        let stored = self.records.get(&key);
        let view = self.gates.as_ref().map(|g| g as &dyn sync::GateView);
        let decision = sync::decide_prechecked(stored, m, self.scope, self.now, view);
        let sync::Decision::Write {
            fields,
            deleted,
            changed,
            ..
        } = &decision
        else {
            return Ok(Slot::Refused(decision));
        };
        let version = if *changed {
            let seq = self.next_seq(tx).await?;
            let sealed =
                seal_fields(tx, self.user, &m.collection, &m.id, fields, ms(self.now)).await?;
            let write = PendingWrite {
                key: key.clone(),
                seq,
                sealed,
                deleted: deleted.clone(),
            };
            match self.pending_at.get(&key) {
                Some(&at) => self.pending[at] = write,
                None => {
                    self.pending_at.insert(key.clone(), self.pending.len());
                    self.pending.push(write);
                }
            }
            self.records.insert(
                key.clone(),
                sync::Stored {
                    scope: self.scope.to_owned(),
                    version: seq,
                    fields: fields.clone(),
                    deleted: deleted.clone(),
                },
            );
            seq
        } else {
            stored.map_or(0, |s| s.version)
        };
        let record = SyncRecord {
            collection: m.collection.clone(),
            id: m.id.clone(),
            version,
            fields: fields.clone(),
            deleted: deleted.clone(),
        };
        if *changed && m.collection == praxis_protocol::privacy::consents::COLLECTION {
            // The gates must see it before the next mutation that needs them.
            self.flush(tx).await?;
            if !self.taken.contains(&key) {
                self.consent_changed(tx, m).await?;
            }
        }
        Ok(Slot::Decided { decision, record })
    }

    /// The scope's next sequence number.
    async fn next_seq(&mut self, tx: &mut dyn Tx) -> Result<i64, StoreError> {
        let seq = match self.last_seq {
            Some(prev) => prev + 1,
            None => tx
                .query(crate::store::records::SCOPE_NEXT, vec![self.scope.into()])
                .await?
                .first()
                .ok_or(StoreError::Decode("scope sequence"))?
                .i64(0)?,
        };
        self.last_seq = Some(seq);
        self.numbered += 1;
        Ok(seq)
    }

    /// Writes the pending records in one statement; a record of another
    /// scope is left alone (no row comes back for it) and noted as taken.
    pub(super) async fn flush(&mut self, tx: &mut dyn Tx) -> Result<(), StoreError> {
        const SQLITE: &str = "INSERT INTO sync_records (collection, record_id, scope, seq, fields, deleted, updated_at) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?1, json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'), ?2 FROM json_each(?3) WHERE true ON CONFLICT (collection, record_id) DO UPDATE SET seq = excluded.seq, fields = excluded.fields, deleted = excluded.deleted, updated_at = excluded.updated_at WHERE sync_records.scope = excluded.scope RETURNING collection, record_id";
        const POSTGRES: &str = "INSERT INTO sync_records (collection, record_id, scope, seq, fields, deleted, updated_at) SELECT k.v->>0, k.v->>1, ?1::text, (k.v->>2)::bigint, k.v->>3, k.v->>4, ?2::bigint FROM jsonb_array_elements(?3::text::jsonb) AS k(v) ON CONFLICT (collection, record_id) DO UPDATE SET seq = excluded.seq, fields = excluded.fields, deleted = excluded.deleted, updated_at = excluded.updated_at WHERE sync_records.scope = excluded.scope RETURNING collection, record_id";
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_at.clear();
        let rows: Vec<serde_json::Value> = pending
            .iter()
            .map(|w| serde_json::json!([w.key.0, w.key.1, w.seq, w.sealed, w.deleted]))
            .collect();
        let rows = serde_json::Value::Array(rows).to_string();
        let sql = match self.dialect {
            Dialect::Sqlite => SQLITE,
            Dialect::Postgres => POSTGRES,
        };
        let written: HashSet<Key> = tx
            .query(
                sql,
                vec![self.scope.into(), ms(self.now).into(), rows.into()],
            )
            .await?
            .iter()
            .map(|r| Ok((r.text("collection")?, r.text("record_id")?)))
            .collect::<Result<_, StoreError>>()?;
        for w in pending {
            if !written.contains(&w.key) {
                self.records.remove(&w.key);
                self.taken.insert(w.key);
            }
        }
        Ok(())
    }

    /// A consent changed: audited, and the gates reloaded before the next
    /// mutation that needs them.
    async fn consent_changed(&mut self, tx: &mut dyn Tx, m: &Mutation) -> Result<(), StoreError> {
        let field = |k: &str| m.fields.get(k).map(|f| f.v.clone());
        crate::store::audit::append(
            tx,
            &crate::store::audit::Event::user(
                "consent_changed",
                self.user,
                serde_json::json!({
                    "purpose": field("purpose"),
                    "granted": field("granted"),
                    "policy_version": field("policy_version"),
                }),
            ),
            self.now,
        )
        .await?;
        self.gates = None;
        self.sharing_consent_changed |= m.fields.get("purpose").and_then(|f| f.v.as_str())
            == Some(praxis_protocol::privacy::Purpose::LocationSharing.as_str());
        Ok(())
    }

    /// The statements that end the batch, for the caller to send with its
    /// commit: the scope's sequence written back once, and the account's
    /// other devices woken. A withdrawn sharing consent ends the live
    /// shares it no longer allows (same transaction); those writes may
    /// number records of the scope after this batch's, so in that case
    /// the statements run here first and none are returned.
    pub(super) async fn finish(self, tx: &mut dyn Tx) -> Result<Vec<Statement>, StoreError> {
        // Sets a scope's sequence after a batch numbered its changes itself
        // (its row is locked since the batch's first `SCOPE_NEXT`).
        const SCOPE_SET: &str = "UPDATE sync_scopes SET seq = ?2 WHERE scope = ?1";
        let mut tail = Vec::new();
        if let (Some(seq), 2..) = (self.last_seq, self.numbered) {
            tail.push((SCOPE_SET, vec![self.scope.into(), seq.into()]));
        }
        if let Some(seq) = self.last_seq {
            crate::store::vault::note(tx, crate::store::Change::Scope(self.user, seq))?;
            tail.push(crate::store::wakeups::enqueue_statement(
                self.user,
                Some(self.origin),
                self.now,
            ));
        }
        if self.sharing_consent_changed {
            for (sql, params) in tail.drain(..) {
                tx.execute(sql, params).await?;
            }
            crate::store::privacy::sharing::close_shares_if_gated(tx, self.user).await?;
        }
        Ok(tail)
    }
}
