//! Sync storage: push (each mutation exactly once, per device and
//! sequence number), pull by scope sequence, and tombstone pruning. The
//! rules themselves (who may write what, last-writer-wins per field) are
//! the sans-IO [`crate::sync`]; this module loads, decides with it, and
//! writes.

use chrono::{DateTime, Utc};
use praxis_protocol::sync::{Fields, Mutation, MutationResult, RejectReason, SyncRecord};
use uuid::Uuid;

use std::collections::HashMap;

use crate::store::Store;
use crate::store::backend::{StoreError, Tx, ms};
use crate::store::records::{open_fields, scope_user, seal_fields};
use crate::sync::{self};

/// One page of a pull.
#[derive(Debug)]
pub struct PullPage {
    /// Changed records in sequence order.
    pub changes: Vec<SyncRecord>,
    /// Sequence of the last change returned (or the requested one).
    pub last_seq: i64,
    /// Whether more changes follow.
    pub more: bool,
    /// The scope's newest sequence.
    pub scope_seq: i64,
    /// Tombstones at or below this sequence were pruned.
    pub pruned_below: i64,
}

impl Store {
    /// Applies a batch of mutations from one device in one transaction:
    /// each exactly once (a replayed `client_seq` gets its stored answer
    /// back and changes nothing), each change with its new sequence number.
    ///
    /// Per mutation: load the stored record, decide with the sans-IO rules
    /// ([`sync::decide`]), write what the decision says ([`Batch::apply`]),
    /// and keep the answer for a replay. `pre` holds the refusals found by
    /// [`sync::precheck`] before the transaction (field validation, the
    /// costly part, never runs under the write lock). `origin` is the
    /// pushing sign-in (its token family): the account's other devices are
    /// woken for the changes, it is not.
    pub async fn push(
        &self,
        user: Uuid,
        origin: Uuid,
        client_id: &str,
        mutations: &[Mutation],
        pre: &sync::Prechecked,
        now: DateTime<Utc>,
    ) -> Result<Vec<MutationResult>, StoreError> {
        let scope = sync::user_scope(user);
        let mut tx = self.begin().await?;
        // A restricted account's data is not changed; withdrawing consent
        // (objecting) stays possible. Checked under the account's row lock,
        // so a restriction cannot slip in before this batch commits.
        if mutations
            .iter()
            .any(|m| m.collection != praxis_protocol::privacy::consents::COLLECTION)
            && crate::store::privacy::restriction::restricted_locked(&mut *tx, user).await?
        {
            return Err(StoreError::Restricted);
        }
        let mut answered = answers_given(&mut *tx, user, client_id, mutations).await?;
        let mut batch = Batch {
            user,
            origin,
            scope: &scope,
            now,
            last_seq: None,
            numbered: 0,
            gates: None,
            sharing_consent_changed: false,
        };
        let mut results = Vec::with_capacity(mutations.len());
        for (i, m) in mutations.iter().enumerate() {
            let context = format!("sync_mutations/{user}/{client_id}/{}", m.client_seq);
            if let Some(stored) = answered.get(&m.client_seq).cloned() {
                let text = crate::store::vault::open_for(&mut *tx, user, &context, stored).await?;
                let stored: MutationResult = serde_json::from_str(&text)
                    .map_err(|_| StoreError::Decode("stored mutation result"))?;
                results.push(stored);
                continue;
            }
            let result = batch.apply(&mut *tx, m, pre.refusal(i)).await?;
            // Refusals store nothing; a replay is simply refused again.
            if !matches!(result, MutationResult::Rejected { .. }) {
                let text = keep_answer(
                    &mut *tx,
                    (user, client_id, m.client_seq),
                    &context,
                    &result,
                    now,
                )
                .await?;
                answered.insert(m.client_seq, text);
            }
            results.push(result);
        }
        batch.finish(&mut *tx).await?;
        tx.commit().await?;
        Ok(results)
    }

    /// The last sequence of `user`'s scope (0 before its first change).
    pub async fn scope_seq(&self, user: Uuid) -> Result<i64, StoreError> {
        const SCOPE_SEQ: &str = "SELECT seq FROM sync_scopes WHERE scope = ?1";
        let rows = self
            .db
            .query(SCOPE_SEQ, vec![crate::sync::user_scope(user).into()])
            .await?;
        rows.first().map_or(Ok(0), |r| r.i64(0))
    }

    /// Changes of `scope` after sequence `after`, at most `limit`.
    pub async fn pull(&self, scope: &str, after: i64, limit: u32) -> Result<PullPage, StoreError> {
        const RECORDS_SINCE: &str = "SELECT collection, record_id, seq, fields, deleted FROM sync_records WHERE scope = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
        const SCOPE_GET: &str = "SELECT seq, pruned_below FROM sync_scopes WHERE scope = ?1";
        let state = self.db.query(SCOPE_GET, vec![scope.into()]).await?;
        let (scope_seq, pruned_below) = match state.first() {
            Some(r) => (r.i64(0)?, r.i64(1)?),
            None => (0, 0),
        };
        let rows = self
            .db
            .query(
                RECORDS_SINCE,
                vec![scope.into(), after.into(), (i64::from(limit) + 1).into()],
            )
            .await?;
        let more = rows.len() > limit as usize;
        let user = scope_user(scope)?;
        let mut changes = Vec::with_capacity(rows.len().min(limit as usize));
        for r in rows.into_iter().take(limit as usize) {
            let (collection, id) = (r.text(0)?, r.text(1)?);
            let fields = self
                .open_fields_read(user, &collection, &id, r.text(3)?)
                .await?;
            changes.push(SyncRecord {
                collection,
                id,
                version: r.i64(2)?,
                fields,
                deleted: r.opt_text(4)?,
            });
        }
        let last_seq = changes.last().map_or(after, |c| c.version);
        Ok(PullPage {
            changes,
            last_seq,
            more,
            scope_seq,
            pruned_below,
        })
    }

    /// Drops tombstones last changed before `tombstones_before` (recording
    /// the horizon per scope) and idempotency answers older than
    /// `mutations_before`. Returns the number of tombstones removed.
    pub async fn prune_sync(
        &self,
        tombstones_before: DateTime<Utc>,
        mutations_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        const MUTATIONS_PRUNE: &str = "DELETE FROM sync_mutations WHERE created_at < ?1";
        const SCOPE_PRUNED: &str =
            "UPDATE sync_scopes SET pruned_below = ?2 WHERE scope = ?1 AND pruned_below < ?2";
        const TOMBSTONES_PRUNE: &str =
            "DELETE FROM sync_records WHERE deleted IS NOT NULL AND updated_at < ?1";
        const TOMBSTONES_PRUNABLE: &str = "SELECT scope, MAX(seq) FROM sync_records WHERE deleted IS NOT NULL AND updated_at < ?1 GROUP BY scope";
        let mut tx = self.begin().await?;
        let horizons = tx
            .query(TOMBSTONES_PRUNABLE, vec![ms(tombstones_before).into()])
            .await?;
        for h in &horizons {
            tx.execute(SCOPE_PRUNED, vec![h.text(0)?.into(), h.i64(1)?.into()])
                .await?;
        }
        let n = tx
            .execute(TOMBSTONES_PRUNE, vec![ms(tombstones_before).into()])
            .await?;
        tx.execute(MUTATIONS_PRUNE, vec![ms(mutations_before).into()])
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// The answers already given to this device for a batch's sequence numbers
/// (a retried push), read in one query, still sealed.
async fn answers_given(
    tx: &mut dyn Tx,
    user: Uuid,
    client_id: &str,
    mutations: &[Mutation],
) -> Result<HashMap<i64, String>, StoreError> {
    // The stored answers of a device in a range of its sequence numbers.
    const MUTATIONS_RANGE: &str = "SELECT client_seq, result FROM sync_mutations WHERE user_id = ?1 AND client_id = ?2 AND client_seq BETWEEN ?3 AND ?4";
    if mutations.is_empty() {
        return Ok(HashMap::new());
    }
    let (lo, hi) = mutations.iter().fold((i64::MAX, i64::MIN), |(lo, hi), m| {
        (lo.min(m.client_seq), hi.max(m.client_seq))
    });
    tx.query(
        MUTATIONS_RANGE,
        vec![user.into(), client_id.into(), lo.into(), hi.into()],
    )
    .await?
    .into_iter()
    .map(|r| Ok((r.i64(0)?, r.text(1)?)))
    .collect()
}

/// Seals and stores the answer to `(user, client_id, client_seq)`, so a
/// replay of the same mutation gets it back verbatim; returns it sealed.
async fn keep_answer(
    tx: &mut dyn Tx,
    (user, client_id, client_seq): (Uuid, &str, i64),
    context: &str,
    result: &MutationResult,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    const MUTATION_PUT: &str = "INSERT INTO sync_mutations (user_id, client_id, client_seq, result, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
    let text = serde_json::to_string(result).map_err(|_| StoreError::Decode("mutation result"))?;
    let text = crate::store::vault::seal_for(tx, user, context, &text, ms(now)).await?;
    tx.execute(
        MUTATION_PUT,
        vec![
            user.into(),
            client_id.into(),
            client_seq.into(),
            text.clone().into(),
            ms(now).into(),
        ],
    )
    .await?;
    Ok(text)
}

/// The record a mutation targets, as stored (locked until commit). Another
/// scope's record is returned without its fields: `decide` refuses it
/// without looking at them (they are sealed under their owner's key).
async fn stored_record(
    tx: &mut dyn Tx,
    user: Uuid,
    scope: &str,
    m: &Mutation,
) -> Result<Option<sync::Stored>, StoreError> {
    const RECORD_GET: &str = "SELECT scope, seq, fields, deleted FROM sync_records WHERE collection = ?1 AND record_id = ?2 /*FOR UPDATE*/";
    let rows = tx
        .query(
            RECORD_GET,
            vec![m.collection.as_str().into(), m.id.as_str().into()],
        )
        .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let owner = r.text(0)?;
    let fields = if owner == scope {
        open_fields(tx, user, &m.collection, &m.id, r.text(2)?).await?
    } else {
        Fields::default()
    };
    Ok(Some(sync::Stored {
        scope: owner,
        version: r.i64(1)?,
        fields,
        deleted: r.opt_text(3)?,
    }))
}

/// The state one push carries from mutation to mutation.
struct Batch<'a> {
    user: Uuid,
    /// The sign-in that pushed (not woken for its own changes).
    origin: Uuid,
    scope: &'a str,
    now: DateTime<Utc>,
    /// The scope's sequence: taken (and its row locked) at the first
    /// change, then counted here and written back once by `finish`.
    last_seq: Option<i64>,
    numbered: u32,
    /// Loaded when a mutation needs them; a consent written in this batch
    /// changes them, so they are reloaded after one.
    gates: Option<crate::store::privacy::Gates>,
    sharing_consent_changed: bool,
}

impl Batch<'_> {
    /// Decides one new mutation and writes what the decision says; a
    /// mutation refused by the precheck is answered without reading.
    async fn apply(
        &mut self,
        tx: &mut dyn Tx,
        m: &Mutation,
        refused: Option<&sync::Decision>,
    ) -> Result<MutationResult, StoreError> {
        if let Some(refused) = refused {
            return Ok(sync::answer(m, refused, None));
        }
        let stored = stored_record(tx, self.user, self.scope, m).await?;
        if sync::needs_gates(&m.collection) && self.gates.is_none() {
            self.gates = Some(crate::store::privacy::Gates::load(tx, self.user).await?);
        }
        let view = self.gates.as_ref().map(|g| g as &dyn sync::GateView);
        let mut decision = sync::decide_prechecked(stored.as_ref(), m, self.scope, self.now, view);
        let mut taken = false;
        let record = match &decision {
            sync::Decision::Write {
                fields,
                deleted,
                changed,
                ..
            } => {
                let version = if *changed {
                    let (seq, written) = self.write(tx, m, fields, deleted.clone()).await?;
                    taken = !written;
                    seq
                } else {
                    stored.as_ref().map_or(0, |s| s.version)
                };
                Some(SyncRecord {
                    collection: m.collection.clone(),
                    id: m.id.clone(),
                    version,
                    fields: fields.clone(),
                    deleted: deleted.clone(),
                })
            }
            sync::Decision::Reject(..) => None,
        };
        if taken {
            // Another scope created this id concurrently.
            decision = sync::Decision::Reject(RejectReason::Forbidden, None);
        }
        if m.collection == praxis_protocol::privacy::consents::COLLECTION
            && matches!(decision, sync::Decision::Write { changed: true, .. })
        {
            self.consent_changed(tx, m).await?;
        }
        Ok(sync::answer(m, &decision, record))
    }

    /// Seals and writes a record under the scope's next sequence; returns
    /// the sequence and whether the row was written (zero rows: the id
    /// belongs to another scope).
    async fn write(
        &mut self,
        tx: &mut dyn Tx,
        m: &Mutation,
        fields: &Fields,
        deleted: Option<String>,
    ) -> Result<(i64, bool), StoreError> {
        let now = ms(self.now);
        let sealed = seal_fields(tx, self.user, &m.collection, &m.id, fields, now).await?;
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
        let written = tx
            .execute(
                crate::store::records::RECORD_UPSERT,
                vec![
                    m.collection.as_str().into(),
                    m.id.as_str().into(),
                    self.scope.into(),
                    seq.into(),
                    sealed.into(),
                    deleted.into(),
                    now.into(),
                ],
            )
            .await?;
        Ok((seq, written != 0))
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

    /// Writes the scope's sequence back once, and ends the live shares a
    /// withdrawn sharing consent no longer allows (same transaction).
    async fn finish(self, tx: &mut dyn Tx) -> Result<(), StoreError> {
        // Sets a scope's sequence after a batch numbered its changes itself
        // (its row is locked since the batch's first `SCOPE_NEXT`).
        const SCOPE_SET: &str = "UPDATE sync_scopes SET seq = ?2 WHERE scope = ?1";
        if let (Some(seq), 2..) = (self.last_seq, self.numbered) {
            tx.execute(SCOPE_SET, vec![self.scope.into(), seq.into()])
                .await?;
        }
        if let Some(seq) = self.last_seq {
            crate::store::vault::note(tx, crate::store::Change::Scope(self.user, seq))?;
            crate::store::wakeups::enqueue(tx, self.user, Some(self.origin), self.now).await?;
        }
        if self.sharing_consent_changed {
            crate::store::privacy::sharing::close_shares_if_gated(tx, self.user).await?;
        }
        Ok(())
    }
}
