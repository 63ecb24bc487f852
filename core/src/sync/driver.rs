//! The sync driver: runs the [`SyncMachine`] with real I/O.
//!
//! Local writes go to the cache and the outbox in one transaction
//! ([`SyncEngine::write`]). A push sends the oldest outbox entries and, in
//! one transaction, rebases the answers onto the local records and
//! acknowledges the entries. A pull applies a page of server changes and
//! the new cursor in one transaction. A crash at any point leaves either the
//! old state or the new one; everything unacknowledged is sent again and
//! the server's per-mutation answers make the retry harmless.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use praxis_protocol::ErrorCode;
use praxis_protocol::sync::{Hlc, Mutation, PullResponse, SyncRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use super::hlc::HlcClock;
use super::plan::LocalRecord;
use super::protocol::{Failure, Outcome, Step, SyncMachine, SyncStatus};
pub use super::transport::SyncTransport;

mod local;
mod pull;
mod push;
use crate::cache::{Cache, CacheTx, RecordMeta, blocking, session_fence};
use crate::clock::Clock;
use crate::log::Log;
use crate::{Error, Result};

const STATE: (&str, &str) = ("sync_state", "state");
const CONSENTS: &str = praxis_protocol::privacy::consents::COLLECTION;
const PUSH_BATCH: usize = 100;
const PULL_PAGE: u32 = 1000;

/// What the engine keeps between runs (in the encrypted cache).
#[derive(Clone, Serialize, Deserialize)]
struct State {
    client_id: String,
    next_seq: i64,
    cursor: Option<String>,
    hlc: String,
    /// A full resync is owed (after a refused change).
    #[serde(default)]
    resync: bool,
}

/// A local change to a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new record with these fields (refused if the id exists here).
    Create(Vec<(String, Value)>),
    /// Set these fields of an existing record.
    Update(Vec<(String, Value)>),
    /// Delete an existing record.
    Delete,
}

/// Progress of a full resync (pages seen so far).
#[derive(Default)]
struct Resync {
    cursor: Option<String>,
    seen: HashSet<(String, String)>,
}

/// A page fetched ahead: the session fence it was asked under, the cursor
/// asked, the answer.
type Ahead = (Option<String>, Option<String>, PullResponse);

/// The sync engine of one client.
pub struct SyncEngine {
    cache: Arc<Cache>,
    transport: Arc<dyn SyncTransport>,
    clock: Arc<dyn Clock>,
    log: Log,
    machine: Mutex<SyncMachine>,
    resync: Mutex<Option<Resync>>,
    /// The page after the one last applied, fetched while that one was
    /// being written (session fence, cursor asked, answer): the next pull
    /// step of the same run uses it when the same session is signed in and
    /// the device still stands at that cursor.
    prefetched: Mutex<Option<Ahead>>,
    /// Orders the ids of records created in the same millisecond.
    ids: Mutex<uuid::ContextV7>,
    status: watch::Sender<SyncStatus>,
    running: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
    seed: u64,
    /// Local writes need someone signed in (the app's engine; the sync
    /// simulation drives an engine without sessions).
    require_session: bool,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine").finish_non_exhaustive()
    }
}

fn now_ms(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

fn load_state(tx: &CacheTx<'_>, seed: u64) -> Result<State> {
    if let Some(r) = tx.get::<State>(STATE.0, STATE.1)? {
        return Ok(r.value);
    }
    // The device id comes from the engine's seed (random in the app,
    // fixed in the simulation, so a failing run replays exactly).
    let client_id = uuid::Builder::from_random_bytes(
        [
            seed.to_le_bytes(),
            seed.rotate_left(29)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .to_le_bytes(),
        ]
        .concat()
        .try_into()
        .expect("16 bytes"),
    )
    .into_uuid()
    .to_string();
    Ok(State {
        hlc: HlcClock::new(&client_id.replace('-', ""))
            .last()
            .to_string(),
        client_id,
        next_seq: 1,
        cursor: None,
        resync: false,
    })
}

/// Refuses to apply a sync answer when the signed-in session is not the
/// one the step started under (`crate::cache::session_fence`).
fn check_fence(tx: &CacheTx<'_>, started_under: &Option<String>) -> Result<()> {
    if session_fence(tx)? == *started_under {
        Ok(())
    } else {
        Err(Error::NotSignedIn)
    }
}

fn save_state(tx: &mut CacheTx<'_>, s: &State) -> Result<()> {
    tx.put(STATE.0, STATE.1, s, RecordMeta::default())
}

fn hlc_clock(s: &State) -> HlcClock {
    HlcClock::from_last(Hlc::parse(&s.hlc).unwrap_or(Hlc {
        wall_ms: 0,
        counter: 0,
        node: s.client_id.replace('-', ""),
    }))
}

/// The oldest outbox entries with their outbox sequence (they are JSON
/// mutations).
fn pending_mutations(tx: &CacheTx<'_>, limit: usize) -> Result<Vec<(i64, Mutation)>> {
    tx.outbox(limit)?
        .into_iter()
        .map(|e| Ok((e.seq, serde_json::from_slice::<Mutation>(&e.payload)?)))
        .collect()
}

fn pending_keys(tx: &CacheTx<'_>) -> Result<HashSet<(String, String)>> {
    Ok(pending_mutations(tx, usize::MAX)?
        .into_iter()
        .map(|(_, m)| (m.collection, m.id))
        .collect())
}

/// Maps a transport error to the machine's notion of failure.
fn failure(e: &Error) -> Outcome {
    match e {
        Error::Network(_) => Outcome::Failed(Failure::Offline),
        Error::Api {
            code: ErrorCode::ResyncRequired,
            ..
        } => Outcome::ResyncRequired,
        Error::Api {
            status: 429 | 503,
            retry_after,
            ..
        } => Outcome::Failed(Failure::RetryAfter(retry_after.unwrap_or(1))),
        Error::Api { status: 401, .. }
        | Error::NotSignedIn
        | Error::SessionExpired
        | Error::AccountErased
        | Error::DeviceWiped => Outcome::Failed(Failure::Unauthorized),
        Error::Api { .. } | Error::Protocol { .. } => Outcome::Failed(Failure::Server),
        _ => Outcome::Failed(Failure::Local),
    }
}

impl SyncEngine {
    /// An engine over the cache, talking through `transport`. `seed` seeds
    /// the backoff jitter.
    pub fn new(
        cache: Arc<Cache>,
        transport: Arc<dyn SyncTransport>,
        clock: Arc<dyn Clock>,
        logger: Option<Arc<dyn crate::Logger>>,
        seed: u64,
    ) -> Self {
        let log = Log::new(logger);
        let machine = SyncMachine::new(seed);
        let status = watch::channel(machine.status()).0;
        Self {
            cache,
            transport,
            clock,
            log,
            machine: Mutex::new(machine),
            resync: Mutex::new(None),
            prefetched: Mutex::new(None),
            ids: Mutex::new(uuid::ContextV7::new()),
            status,
            running: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            seed,
            require_session: false,
        }
    }

    /// Refuses local writes (`NotSignedIn`) while nobody is signed in on
    /// the device, so nothing is queued for whoever signs in next.
    pub fn requiring_session(mut self) -> Self {
        self.require_session = true;
        self
    }

    fn machine(&self) -> std::sync::MutexGuard<'_, SyncMachine> {
        self.machine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The encrypted cache the engine writes to.
    pub(crate) fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    /// The injected clock.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The transport (the live driver opens the feed through it).
    pub(crate) fn transport(&self) -> &Arc<dyn SyncTransport> {
        &self.transport
    }

    /// The engine's log.
    pub(super) fn log(&self) -> &Log {
        &self.log
    }

    /// The jitter seed.
    pub(super) fn seed(&self) -> u64 {
        self.seed
    }

    /// A new record's id: a UUIDv7 stamped with the engine's clock (the
    /// rest random). Records created one after another get ids in the same
    /// order, so they sit side by side in every B-tree that holds them (the
    /// cache's, the server's) and an initial sync inserts them in key order.
    /// The stamp tells no more than the record's own change stamps do.
    /// Within one millisecond a counter keeps them in creation order.
    pub(crate) fn new_id(&self) -> uuid::Uuid {
        let now = self.clock.now();
        let ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            &*ids,
            u64::try_from(now.timestamp()).unwrap_or(0),
            now.timestamp_subsec_nanos(),
        ))
    }

    /// The pull cursor the device stands at (`None` before the first pull).
    pub(super) async fn cursor(&self) -> Result<Option<String>> {
        let seed = self.seed;
        blocking(&self.cache, move |c| {
            c.transaction(|tx| load_state(tx, seed))
        })
        .await
        .map(|s| s.cursor)
    }

    /// Wakes status subscribers (after a local change they may care about,
    /// such as a consent or a location setting).
    pub(crate) fn notify(&self) {
        self.publish();
    }

    /// The status now.
    pub fn status(&self) -> SyncStatus {
        *self.status.borrow()
    }

    /// Status updates (the current value first).
    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    fn publish(&self) {
        let s = self.machine().status();
        self.status.send_replace(s);
    }

    async fn refresh_pending(&self) -> Result<()> {
        let pending = blocking(&self.cache, |c| c.transaction(|tx| tx.outbox_len())).await?;
        self.machine().handle_pending(pending);
        self.publish();
        Ok(())
    }

    /// Runs a sync cycle now (an app's background scheduler calls this; so
    /// does pull-to-refresh). Returns the status at the end: `Idle` when
    /// everything was pushed and pulled, otherwise the failure state with
    /// the retry time.
    pub async fn sync_now(&self, reason: &str) -> Result<SyncStatus> {
        let _running = self.running.lock().await;
        self.log
            .info("sync", &format!("sync requested ({})", sanitize(reason)));
        self.machine().handle_trigger(true);
        self.run_due().await
    }

    /// Syncs in the background until the returned task is aborted: after
    /// each local write, and when a retry falls due (the backoff the state
    /// machine computed). Aborting it is safe at any point: every step
    /// commits or rolls back as a whole. Must be called inside a tokio
    /// runtime.
    pub fn spawn_background(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let notified = engine.wake.notified();
                match engine.next_wakeup() {
                    Some(at) => {
                        let wait = (at - engine.clock.now()).to_std().unwrap_or_default();
                        let _ = tokio::time::timeout(wait, notified).await;
                    }
                    None => notified.await,
                }
                let _running = engine.running.lock().await;
                if let Err(e) = engine.run_due().await {
                    engine
                        .log
                        .warn("sync", &format!("background sync failed: {}", kind(&e)));
                }
            }
        })
    }

    /// Runs the steps that are due now (a retry whose time has come).
    pub async fn run_due(&self) -> Result<SyncStatus> {
        // A page fetched ahead serves only the run that fetched it (also
        // when that run ended early on an error): this run asks afresh.
        *self.prefetched.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.refresh_pending().await?;
        loop {
            let now = self.clock.now();
            let Some(step) = self.machine().poll_step(now) else {
                break;
            };
            self.publish();
            let outcome = match step {
                Step::Policy => self.policy_step().await,
                Step::Push => self.push_step().await,
                Step::Pull { resync } => self.pull_step(resync).await,
            };
            if let Outcome::Failed(f) = outcome {
                self.log.warn("sync", &format!("sync step failed: {f:?}"));
            }
            self.machine().handle_outcome(self.clock.now(), outcome);
            self.refresh_pending().await?;
        }
        // Nor is it kept in memory past the run.
        *self.prefetched.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(self.status())
    }

    /// When the next retry is due, if one is scheduled.
    pub fn next_wakeup(&self) -> Option<DateTime<Utc>> {
        self.machine().poll_timeout()
    }

    /// The first step of a cycle: the organisation's location policy, the
    /// published consent versions and the restriction flag, applied (and
    /// enforced on what is queued) before anything is pushed.
    async fn policy_step(&self) -> Outcome {
        let fence = match self.fence().await {
            Ok(f) => f,
            Err(e) => return failure(&e),
        };
        let state = match self.transport.privacy().await {
            Ok(Some(s)) => s,
            Ok(None) => return Outcome::Done { more: false },
            Err(e) => return failure(&e),
        };
        let now = self.clock.now();
        let notice_version = state.notice_version;
        let applied = blocking(&self.cache, move |c| {
            c.transaction(|tx| {
                check_fence(tx, &fence)?;
                let enforced = crate::privacy::apply_state(tx, &state, now)?;
                let held = crate::privacy::held_notice_version(tx)?;
                Ok((enforced, notice_version.filter(|v| held != Some(*v))))
            })
        })
        .await;
        let applied = match applied {
            Ok((e, Some(_))) => self.refresh_notice().await.map(|()| e),
            Ok((e, None)) => Ok(e),
            Err(e) => Err(e),
        };
        match applied {
            Ok(e) => {
                if e.visit_events_dropped > 0 {
                    self.log.info(
                        "sync",
                        &format!(
                            "location gate closed: {} queued visit events dropped unsent",
                            e.visit_events_dropped
                        ),
                    );
                }
                Outcome::Done { more: false }
            }
            Err(e) => failure(&e),
        }
    }

    /// Fetches and keeps the privacy notice, whose version the privacy
    /// step found to differ from the one held (see `crate::notice`).
    async fn refresh_notice(&self) -> Result<()> {
        if let Some(notice) = self.transport.notice().await? {
            blocking(&self.cache, move |c| {
                c.transaction(|tx| crate::privacy::keep_notice(tx, notice).map(drop))
            })
            .await?;
        }
        Ok(())
    }

    /// The session a sync step starts under (see `check_fence`).
    async fn fence(&self) -> Result<Option<String>> {
        blocking(&self.cache, |c| c.transaction(|tx| session_fence(tx))).await
    }

    /// This device's sync identity (sent with every push).
    pub async fn client_id(&self) -> Result<String> {
        let seed = self.seed;
        blocking(&self.cache, move |c| {
            c.transaction(|tx| {
                let state = load_state(tx, seed)?;
                save_state(tx, &state)?;
                Ok(state.client_id)
            })
        })
        .await
    }

    /// Reads one live (not deleted) record.
    pub async fn record(
        &self,
        collection: &'static str,
        id: String,
    ) -> Result<Option<LocalRecord>> {
        let r = blocking(&self.cache, move |c| c.get::<LocalRecord>(collection, &id)).await?;
        Ok(r.map(|r| r.value).filter(|v| v.deleted.is_none()))
    }

    /// Reads the live (not deleted) records of a collection.
    pub async fn records(&self, collection: &'static str) -> Result<Vec<(String, LocalRecord)>> {
        let all = blocking(&self.cache, move |c| c.list::<LocalRecord>(collection)).await?;
        Ok(all
            .into_iter()
            .filter(|r| r.value.deleted.is_none())
            .map(|r| (r.id, r.value))
            .collect())
    }
}

fn observe(clock: &mut HlcClock, record: &SyncRecord) {
    for f in record.fields.values() {
        if let Some(h) = Hlc::parse(&f.t) {
            clock.observe(&h);
        }
    }
    if let Some(h) = record.deleted.as_deref().and_then(Hlc::parse) {
        clock.observe(&h);
    }
}

/// A log-safe name for an error (no values).
fn kind(e: &Error) -> &'static str {
    match e {
        Error::Network(_) => "network",
        Error::Storage(_) | Error::Io(_) | Error::Integrity { .. } => "storage",
        _ => "other",
    }
}

/// Reasons come from the app; keep only a short, plain tag in logs.
fn sanitize(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(32)
        .collect()
}
