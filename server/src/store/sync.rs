//! Sync storage: push (each mutation exactly once, per device and
//! sequence number), pull by scope sequence, and tombstone pruning. The
//! rules themselves (who may write what, last-writer-wins per field) are
//! the sans-IO [`crate::sync`]; this module loads, decides with it, and
//! writes.

use chrono::{DateTime, Utc};
use praxis_protocol::sync::{Mutation, MutationResult, SyncRecord};
use uuid::Uuid;

mod answers;
mod batch;

use crate::store::Store;
use crate::store::backend::{StoreError, ms};
use crate::store::records::scope_user;
use crate::sync::{self};
use answers::{answers_in, answers_query, keep_answers};
use batch::{Batch, answers, records_query, stored_records};

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
    /// A handful of statements whatever the batch's size: the answers
    /// already given and every touched record are read in one query each,
    /// each mutation is decided in memory with the sans-IO rules
    /// ([`sync::decide`]) against the record as the batch left it, and the
    /// changed records and the new answers are written with one multi-row
    /// statement each (records are flushed early only before the privacy
    /// gates are read and after a consent change, so the gates see it).
    /// `pre` holds the refusals found by [`sync::precheck`] before the
    /// transaction (field validation, the costly part, never runs under
    /// the write lock). `origin` is the pushing sign-in (its token
    /// family): the account's other devices are woken for the changes, it
    /// is not.
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
        let dialect = self.db.dialect();
        let mut tx = self.begin().await?;
        // Read in one round trip (PostgreSQL pipelines them): a restricted
        // account's data is not changed (withdrawing consent, objecting,
        // stays possible), checked under the account's row lock so a
        // restriction cannot slip in before this batch commits; the
        // answers already given; the records the mutations target.
        let check_restriction = mutations
            .iter()
            .any(|m| m.collection != praxis_protocol::privacy::consents::COLLECTION);
        let candidates: Vec<&Mutation> = mutations
            .iter()
            .enumerate()
            .filter(|(i, _)| pre.refusal(*i).is_none())
            .map(|(_, m)| m)
            .collect();
        let reads = [
            check_restriction
                .then(|| crate::store::privacy::restriction::restricted_locked_query(user)),
            answers_query(user, client_id, mutations),
            records_query(dialect, &candidates)?,
        ];
        let present = reads.each_ref().map(Option::is_some);
        let reads: Vec<_> = reads.into_iter().flatten().collect();
        let sent = reads.len();
        let rows = tx.query_all(reads).await?;
        if rows.len() != sent {
            return Err(StoreError::Decode("an answer per read"));
        }
        let mut rows = rows.into_iter();
        let [restriction, given, stored] = present.map(|p| if p { rows.next() } else { None });
        if crate::store::privacy::restriction::restricted_in(&restriction.unwrap_or_default())? {
            return Err(StoreError::Restricted);
        }
        let answered = answers_in(given.unwrap_or_default())?;
        let records = stored_records(&mut *tx, user, &scope, stored.unwrap_or_default()).await?;
        let mut batch = Batch::new((user, origin), &scope, now, dialect, records);
        let slots = batch
            .decide_all(&mut *tx, client_id, mutations, &answered, pre)
            .await?;
        batch.flush(&mut *tx).await?;
        // Answers, now that every write is known to have landed; stored
        // and the batch ended with the commit (one round trip on
        // PostgreSQL).
        let (results, keep) = answers(mutations, slots, batch.taken());
        let mut tail: Vec<_> = keep_answers(&mut *tx, dialect, (user, client_id), &keep, now)
            .await?
            .into_iter()
            .collect();
        tail.extend(batch.finish(&mut *tx).await?);
        tx.commit_after(tail).await?;
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
            Some(r) => (r.i64("seq")?, r.i64("pruned_below")?),
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
            let (collection, id) = (r.text("collection")?, r.text("record_id")?);
            let fields = self
                .open_fields_read(user, &collection, &id, r.text("fields")?)
                .await?;
            changes.push(SyncRecord {
                collection,
                id,
                version: r.i64("seq")?,
                fields,
                deleted: r.opt_text("deleted")?,
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
        const TOMBSTONES_PRUNABLE: &str = "SELECT scope, MAX(seq) AS horizon FROM sync_records WHERE deleted IS NOT NULL AND updated_at < ?1 GROUP BY scope";
        let mut tx = self.begin_bulk().await?;
        let horizons = tx
            .query(TOMBSTONES_PRUNABLE, vec![ms(tombstones_before).into()])
            .await?;
        for h in &horizons {
            tx.execute(
                SCOPE_PRUNED,
                vec![h.text("scope")?.into(), h.i64("horizon")?.into()],
            )
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
