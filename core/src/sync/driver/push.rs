//! The push step: the oldest outbox entries go to the server, and its
//! answers are applied in one transaction (rebased onto the local records,
//! the entries acknowledged). A restricted account sends only consent
//! changes; the rest waits in the outbox.

use praxis_protocol::sync::{Mutation, MutationResult, PushRequest, PushResponse, RejectReason};

use super::{
    CONSENTS, PUSH_BATCH, State, SyncEngine, check_fence, failure, hlc_clock, load_state, observe,
    pending_keys, pending_mutations, save_state,
};
use crate::Result;
use crate::cache::{CacheTx, blocking, session_fence};
use crate::sync::apply::merge_in;
use crate::sync::protocol::Outcome;

/// What one push sends, read in one transaction.
struct Batch {
    state: State,
    entries: Vec<(i64, Mutation)>,
    restricted: bool,
    fence: Option<String>,
}

fn load_batch(tx: &CacheTx<'_>, seed: u64) -> Result<Batch> {
    let restricted = crate::privacy::restricted(tx)?;
    let entries = if restricted {
        // Only consent changes leave a restricted device; the rest waits,
        // queued, until the restriction is lifted.
        consent_entries(tx)?.into_iter().take(PUSH_BATCH).collect()
    } else {
        pending_mutations(tx, PUSH_BATCH)?
    };
    Ok(Batch {
        state: load_state(tx, seed)?,
        entries,
        restricted,
        fence: session_fence(tx)?,
    })
}

fn consent_entries(tx: &CacheTx<'_>) -> Result<Vec<(i64, Mutation)>> {
    Ok(pending_mutations(tx, usize::MAX)?
        .into_iter()
        .filter(|(_, m)| m.collection == CONSENTS)
        .collect())
}

/// What was sent, to apply the answers against.
struct Sent {
    seqs: Vec<i64>,
    restricted: bool,
    fence: Option<String>,
    req: PushRequest,
}

/// Applies the server's answers in one transaction: acknowledges what was
/// sent, merges the records it returned, drops or resyncs what it refused.
/// Returns how many entries are still waiting to be sent.
fn apply_answers(
    tx: &mut CacheTx<'_>,
    seed: u64,
    sent: &Sent,
    resp: &PushResponse,
) -> Result<usize> {
    check_fence(tx, &sent.fence)?;
    if sent.restricted {
        for seq in &sent.seqs {
            tx.remove_outbox_entry(*seq)?;
        }
    } else if let Some(last) = sent.seqs.last() {
        tx.ack_outbox(*last)?;
    }
    let pending = pending_keys(tx)?;
    let mut state = load_state(tx, seed)?;
    let mut clock = hlc_clock(&state);
    for result in &resp.results {
        match result {
            MutationResult::Applied { record, .. } | MutationResult::Conflict { record, .. } => {
                observe(&mut clock, record);
                let key = (record.collection.clone(), record.id.clone());
                merge_in(tx, record, pending.contains(&key))?;
            }
            MutationResult::Rejected {
                client_seq, reason, ..
            } => {
                if let Some(m) = sent
                    .req
                    .mutations
                    .iter()
                    .find(|m| m.client_seq == *client_seq)
                {
                    refused(tx, m, *reason, &mut state)?;
                }
            }
        }
    }
    state.hlc = clock.last().to_string();
    save_state(tx, &state)?;
    if sent.restricted {
        Ok(consent_entries(tx)?.len())
    } else {
        tx.outbox_len()
    }
}

/// A change the server refused.
fn refused(
    tx: &mut CacheTx<'_>,
    m: &Mutation,
    reason: RejectReason,
    state: &mut State,
) -> Result<()> {
    match reason {
        // The server will never take it: drop the local copy, never
        // resurrect it.
        RejectReason::Gone
        | RejectReason::Forbidden
        | RejectReason::PolicyDisabled
        | RejectReason::ConsentRequired => tx.delete(&m.collection, &m.id).map(drop),
        // Anything else means the local copy holds what the server
        // refused: a full resync restores the server's state.
        _ => {
            state.resync = true;
            Ok(())
        }
    }
}

impl SyncEngine {
    pub(super) async fn push_step(&self) -> Outcome {
        let seed = self.seed;
        let batch = blocking(&self.cache, move |c| {
            c.transaction(|tx| load_batch(tx, seed))
        })
        .await;
        let batch = match batch {
            Ok(b) => b,
            Err(e) => return failure(&e),
        };
        if batch.entries.is_empty() {
            return Outcome::Done { more: false };
        }
        let sent = Sent {
            seqs: batch.entries.iter().map(|(seq, _)| *seq).collect(),
            restricted: batch.restricted,
            fence: batch.fence,
            req: PushRequest {
                client_id: batch.state.client_id,
                mutations: batch.entries.into_iter().map(|(_, m)| m).collect(),
            },
        };
        let resp = match self.transport.push(&sent.req).await {
            Ok(r) => r,
            Err(e) => return failure(&e),
        };
        self.log_refusals(&resp);
        let applied = blocking(&self.cache, move |c| {
            c.transaction(|tx| apply_answers(tx, seed, &sent, &resp))
        })
        .await;
        match applied {
            Ok(left) => Outcome::Done { more: left > 0 },
            Err(e) => failure(&e),
        }
    }

    /// A refused change is dropped (or resynced away): say so.
    fn log_refusals(&self, resp: &PushResponse) {
        let refused: Vec<RejectReason> = resp
            .results
            .iter()
            .filter_map(|r| match r {
                MutationResult::Rejected { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect();
        if let Some(first) = refused.first() {
            self.log.warn(
                "sync",
                &format!(
                    "server refused {} queued change(s), first: {first:?}",
                    refused.len()
                ),
            );
        }
    }
}
