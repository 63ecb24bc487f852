//! Sync storage: push (each mutation exactly once, per device and
//! sequence number), pull by scope sequence, and tombstone pruning. The
//! rules themselves (who may write what, last-writer-wins per field) are
//! the sans-IO [`crate::sync`]; this module loads, decides with it, and
//! writes.

use chrono::{DateTime, Utc};
use praxis_protocol::sync::{Fields, Mutation, MutationResult, RejectReason, SyncRecord};
use uuid::Uuid;

use crate::store::backend::{StoreError, ms};
use crate::store::records::{open_fields, scope_user, seal_fields};
use crate::store::{Store, sql};
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
    pub async fn push(
        &self,
        user: Uuid,
        client_id: &str,
        mutations: &[Mutation],
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
        let mut results = Vec::with_capacity(mutations.len());
        // The answers already given to this device for this batch's
        // sequence numbers (a retried push), read in one query.
        let (lo, hi) = mutations.iter().fold((i64::MAX, i64::MIN), |(lo, hi), m| {
            (lo.min(m.client_seq), hi.max(m.client_seq))
        });
        let mut answered: std::collections::HashMap<i64, String> = if mutations.is_empty() {
            Default::default()
        } else {
            tx.query(
                sql::MUTATIONS_RANGE,
                vec![user.into(), client_id.into(), lo.into(), hi.into()],
            )
            .await?
            .into_iter()
            .map(|r| Ok((r.i64(0)?, r.text(1)?)))
            .collect::<Result<_, StoreError>>()?
        };
        // The scope's sequence: taken (and its row locked) at the first
        // change, then counted here and written back once after the loop.
        let mut last_seq: Option<i64> = None;
        let mut numbered = 0u32;
        // Loaded when a mutation needs them; a consent written in this
        // batch changes them, so they are reloaded after one.
        let mut gates: Option<crate::store::privacy::Gates> = None;
        let mut sharing_consent_changed = false;
        for m in mutations {
            let key = vec![user.into(), client_id.into(), m.client_seq.into()];
            let answer_context = format!("sync_mutations/{user}/{client_id}/{}", m.client_seq);
            if let Some(stored) = answered.get(&m.client_seq).cloned() {
                let text =
                    crate::store::vault::open_for(&mut *tx, user, &answer_context, stored).await?;
                let stored: MutationResult = serde_json::from_str(&text)
                    .map_err(|_| StoreError::Decode("stored mutation result"))?;
                results.push(stored);
                continue;
            }
            let rows = tx
                .query(
                    sql::RECORD_GET,
                    vec![m.collection.as_str().into(), m.id.as_str().into()],
                )
                .await?;
            let stored = match rows.first() {
                Some(r) => {
                    let owner = r.text(0)?;
                    // Another scope's record is refused by `decide`
                    // without looking at its fields (sealed under its
                    // owner's key).
                    let fields = if owner == scope {
                        open_fields(&mut *tx, user, &m.collection, &m.id, r.text(2)?).await?
                    } else {
                        Fields::default()
                    };
                    Some(sync::Stored {
                        scope: owner,
                        version: r.i64(1)?,
                        fields,
                        deleted: r.opt_text(3)?,
                    })
                }
                None => None,
            };
            if sync::needs_gates(&m.collection) && gates.is_none() {
                gates = Some(crate::store::privacy::Gates::load(&mut *tx, user).await?);
            }
            let view = gates.as_ref().map(|g| g as &dyn sync::GateView);
            let mut decision = sync::decide(stored.as_ref(), m, &scope, now, view);
            let mut taken = false;
            let record = match &decision {
                sync::Decision::Write {
                    fields,
                    deleted,
                    changed,
                    ..
                } => {
                    let version = if *changed {
                        let sealed =
                            seal_fields(&mut *tx, user, &m.collection, &m.id, fields, ms(now))
                                .await?;
                        let seq = match last_seq {
                            Some(prev) => prev + 1,
                            None => tx
                                .query(sql::SCOPE_NEXT, vec![scope.as_str().into()])
                                .await?
                                .first()
                                .ok_or(StoreError::Decode("scope sequence"))?
                                .i64(0)?,
                        };
                        last_seq = Some(seq);
                        numbered += 1;
                        let written = tx
                            .execute(
                                sql::RECORD_UPSERT,
                                vec![
                                    m.collection.as_str().into(),
                                    m.id.as_str().into(),
                                    scope.as_str().into(),
                                    seq.into(),
                                    sealed.into(),
                                    deleted.clone().into(),
                                    ms(now).into(),
                                ],
                            )
                            .await?;
                        // Zero rows: another scope created this id concurrently.
                        taken = written == 0;
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
                decision = sync::Decision::Reject(RejectReason::Forbidden, None);
            }
            if m.collection == praxis_protocol::privacy::consents::COLLECTION
                && matches!(decision, sync::Decision::Write { changed: true, .. })
            {
                let field = |k: &str| m.fields.get(k).map(|f| f.v.clone());
                crate::store::audit::append(
                    &mut *tx,
                    &crate::store::audit::Event::user(
                        "consent_changed",
                        user,
                        serde_json::json!({
                            "purpose": field("purpose"),
                            "granted": field("granted"),
                            "policy_version": field("policy_version"),
                        }),
                    ),
                    now,
                )
                .await?;
                gates = None;
                sharing_consent_changed |= m.fields.get("purpose").and_then(|f| f.v.as_str())
                    == Some(praxis_protocol::privacy::Purpose::LocationSharing.as_str());
            }
            let result = sync::answer(m, &decision, record);
            // Refusals store nothing; a replay is simply refused again.
            if !matches!(result, MutationResult::Rejected { .. }) {
                let text = serde_json::to_string(&result)
                    .map_err(|_| StoreError::Decode("mutation result"))?;
                let text =
                    crate::store::vault::seal_for(&mut *tx, user, &answer_context, &text, ms(now))
                        .await?;
                let mut put = key;
                put.push(text.clone().into());
                put.push(ms(now).into());
                tx.execute(sql::MUTATION_PUT, put).await?;
                answered.insert(m.client_seq, text);
            }
            results.push(result);
        }
        if let (Some(seq), 2..) = (last_seq, numbered) {
            tx.execute(sql::SCOPE_SET, vec![scope.as_str().into(), seq.into()])
                .await?;
        }
        if sharing_consent_changed {
            // A withdrawal ends the user's live shares in this transaction.
            crate::store::privacy::sharing::close_shares_if_gated(&mut *tx, user).await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    /// Changes of `scope` after sequence `after`, at most `limit`.
    pub async fn pull(&self, scope: &str, after: i64, limit: u32) -> Result<PullPage, StoreError> {
        let state = self.db.query(sql::SCOPE_GET, vec![scope.into()]).await?;
        let (scope_seq, pruned_below) = match state.first() {
            Some(r) => (r.i64(0)?, r.i64(1)?),
            None => (0, 0),
        };
        let rows = self
            .db
            .query(
                sql::RECORDS_SINCE,
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
        let mut tx = self.begin().await?;
        let horizons = tx
            .query(sql::TOMBSTONES_PRUNABLE, vec![ms(tombstones_before).into()])
            .await?;
        for h in &horizons {
            tx.execute(sql::SCOPE_PRUNED, vec![h.text(0)?.into(), h.i64(1)?.into()])
                .await?;
        }
        let n = tx
            .execute(sql::TOMBSTONES_PRUNE, vec![ms(tombstones_before).into()])
            .await?;
        tx.execute(sql::MUTATIONS_PRUNE, vec![ms(mutations_before).into()])
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}
