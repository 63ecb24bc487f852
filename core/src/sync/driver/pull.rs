//! The pull step: a page of server changes and the new cursor, applied in
//! one transaction; the next page is fetched while this one is written. A
//! full resync keeps its cursor in memory until its last page, then
//! deletes what the server no longer has.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use praxis_protocol::sync::{PullRequest, PullResponse, SyncRecord};

use super::{
    PULL_PAGE, Resync, SyncEngine, check_fence, failure, hlc_clock, load_state, observe,
    pending_keys, save_state,
};
use crate::cache::{CacheTx, blocking};
use crate::sync::SYNCED;
use crate::sync::apply::merge_in;
use crate::sync::plan::LocalRecord;
use crate::sync::protocol::Outcome;
use crate::{Error, Result};

/// How a fetched page is written.
struct PageWrite {
    page: PullResponse,
    fence: Option<String>,
    now: DateTime<Utc>,
    /// At the end of a resync: every record the server sent during it.
    seen: Option<HashSet<(String, String)>>,
    save_cursor: bool,
}

/// Writes a page in one transaction: its records, the cursor, the clock.
fn apply_page(tx: &mut CacheTx<'_>, seed: u64, w: &PageWrite) -> Result<()> {
    check_fence(tx, &w.fence)?;
    let pending = pending_keys(tx)?;
    let mut state = load_state(tx, seed)?;
    let mut clock = hlc_clock(&state);
    // A page holds each record once: written in key order, the inserts walk
    // the cache's B-tree instead of jumping about it.
    let mut changes: Vec<&SyncRecord> = w
        .page
        .changes
        .iter()
        .filter(|c| SYNCED.contains(&c.collection.as_str()))
        .collect();
    changes.sort_unstable_by(|a, b| (&a.collection, &a.id).cmp(&(&b.collection, &b.id)));
    for change in changes {
        observe(&mut clock, change);
        let key = (change.collection.clone(), change.id.clone());
        merge_in(tx, change, pending.contains(&key))?;
    }
    if let Some(seen) = &w.seen {
        sweep_unseen(tx, seen, &pending)?;
        state.resync = false;
    }
    if w.save_cursor {
        state.cursor = Some(w.page.cursor.clone());
    }
    state.hlc = clock.last().to_string();
    save_state(tx, &state)?;
    // A pulled policy or consent may have closed a gate.
    crate::privacy::enforce(tx, w.now).map(drop)
}

/// End of a resync: what the server does not have, and that has no local
/// change queued, is gone.
fn sweep_unseen(
    tx: &mut CacheTx<'_>,
    seen: &HashSet<(String, String)>,
    pending: &HashSet<(String, String)>,
) -> Result<()> {
    for collection in SYNCED {
        for r in tx.list::<LocalRecord>(collection)? {
            let key = ((*collection).to_owned(), r.id.clone());
            if !seen.contains(&key) && !pending.contains(&key) {
                tx.delete(collection, &r.id)?;
            }
        }
    }
    Ok(())
}

impl SyncEngine {
    fn resync_progress(&self) -> std::sync::MutexGuard<'_, Option<Resync>> {
        self.resync.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where this pull starts: a resync's cursor in memory (a new resync
    /// starts from nothing), or the stored one. `Err` ends the step.
    async fn pull_cursor(&self, resync: bool) -> std::result::Result<Option<String>, Outcome> {
        if resync {
            let mut r = self.resync_progress();
            if r.is_none() {
                self.log.info("sync", "full resync started");
                *r = Some(Resync::default());
            }
            return Ok(r.as_ref().and_then(|r| r.cursor.clone()));
        }
        *self.resync_progress() = None;
        let seed = self.seed;
        match blocking(&self.cache, move |c| {
            c.transaction(|tx| load_state(tx, seed))
        })
        .await
        {
            Ok(s) if s.resync => Err(Outcome::ResyncRequired),
            Ok(s) => Ok(s.cursor),
            Err(e) => Err(failure(&e)),
        }
    }

    /// The page at `cursor`: the one fetched ahead for it, or a new fetch.
    async fn fetch_page(
        &self,
        resync: bool,
        fence: &Option<String>,
        cursor: Option<String>,
    ) -> Result<PullResponse> {
        let ahead = self
            .prefetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|(under, asked, _)| !resync && under == fence && *asked == cursor)
            .map(|(_, _, page)| page);
        match ahead {
            Some(page) => Ok(page),
            None => {
                self.transport
                    .pull(&PullRequest {
                        cursor,
                        limit: Some(PULL_PAGE),
                    })
                    .await
            }
        }
    }

    /// Notes a resync page's records; at its last page, all it saw.
    fn track_resync(&self, page: &PullResponse) -> Option<HashSet<(String, String)>> {
        let mut guard = self.resync_progress();
        let r = guard.get_or_insert_with(Resync::default);
        r.cursor = Some(page.cursor.clone());
        r.seen.extend(
            page.changes
                .iter()
                .map(|c| (c.collection.clone(), c.id.clone())),
        );
        (!page.more).then(|| std::mem::take(&mut r.seen))
    }

    pub(super) async fn pull_step(&self, resync: bool) -> Outcome {
        let seed = self.seed;
        let now = self.clock.now();
        let fence = match self.fence().await {
            Ok(f) => f,
            Err(e) => return failure(&e),
        };
        let cursor = match self.pull_cursor(resync).await {
            Ok(c) => c,
            Err(outcome) => return outcome,
        };
        let page = match self.fetch_page(resync, &fence, cursor).await {
            Ok(p) => p,
            Err(e) => {
                if resync {
                    *self.resync_progress() = None;
                }
                return failure(&e);
            }
        };
        let (more, received) = (page.more, page.changes.len());
        // During a resync the cursor is kept in memory until the last page:
        // an interrupted resync restarts rather than leaving half a sweep.
        let seen = if resync {
            self.track_resync(&page)
        } else {
            None
        };
        // While this page is written, the next one is fetched (not during a
        // resync, whose cursor lives in memory until its last page).
        let next = (more && !resync).then(|| PullRequest {
            cursor: Some(page.cursor.clone()),
            limit: Some(PULL_PAGE),
        });
        let asked_under = fence.clone();
        let write = PageWrite {
            page,
            fence,
            now,
            seen,
            save_cursor: !resync || !more,
        };
        let apply = blocking(&self.cache, move |c| {
            c.transaction(|tx| apply_page(tx, seed, &write))
        });
        let applied = match next {
            Some(req) => {
                let (applied, ahead) = tokio::join!(apply, self.transport.pull(&req));
                // A failed fetch ahead is forgotten: the next step asks again.
                if let (Ok(()), Ok(page)) = (&applied, ahead) {
                    *self.prefetched.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((asked_under, req.cursor, page));
                }
                applied
            }
            None => apply.await,
        };
        if matches!(applied, Err(Error::NotSignedIn)) {
            // Fenced: the page was pulled for a session that has ended;
            // nothing of it (not even a resync's progress) is kept.
            *self.resync_progress() = None;
        } else if resync && !more {
            *self.resync_progress() = None;
            self.log.info("sync", "full resync finished");
        }
        match applied {
            Ok(()) => {
                self.machine().handle_received(received);
                Outcome::Done { more }
            }
            Err(e) => failure(&e),
        }
    }
}
