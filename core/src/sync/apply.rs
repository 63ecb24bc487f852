//! The apply step: a server copy of a record merged into the cache, local
//! changes still queued rebased on it (the merge itself is planned as a
//! value in [`super::plan`]).

use praxis_protocol::sync::SyncRecord;

use super::plan::{LocalRecord, Plan, plan_incoming};
use crate::Result;
use crate::cache::CacheTx;

/// Carries out a merge plan.
fn apply_plan(tx: &mut CacheTx<'_>, collection: &str, id: &str, plan: Plan) -> Result<()> {
    match plan {
        Plan::Put(record, meta) => tx.put(collection, id, &record, meta),
        Plan::Delete => tx.delete(collection, id).map(drop),
        Plan::Keep => Ok(()),
    }
}

/// Applies a server copy of a record, rebasing local changes still queued.
pub(crate) fn merge_in(tx: &mut CacheTx<'_>, incoming: &SyncRecord, pending: bool) -> Result<()> {
    let local = tx.get::<LocalRecord>(&incoming.collection, &incoming.id)?;
    let plan = plan_incoming(
        local.as_ref().map(|r| (&r.value, &r.meta)),
        incoming,
        pending,
    );
    apply_plan(tx, &incoming.collection, &incoming.id, plan)
}
