//! The embedded SQLite backend.
//!
//! rusqlite is synchronous, so every statement runs on tokio's blocking
//! pool (a write transaction's, in place: see `conn.rs`). A small pool of
//! connections serves reads (WAL mode: readers never wait for the
//! writer); write transactions all run on one more connection of their
//! own, so its page cache outlives each transaction.
//!
//! Durability: `synchronous = FULL`, so a transaction is on disk (the WAL
//! fsynced) before its commit returns and before any answer that depends
//! on it is sent; a power loss cannot take back an "applied".
//!
//! Group commit: that fsync is paid per commit, not per request. Write
//! transactions queue (FIFO) for the one writer slot. The first opens a
//! SQLite transaction (`BEGIN IMMEDIATE`); each logical transaction runs
//! inside it as a savepoint. A writer that finishes while others are
//! queued releases its savepoint and hands the open transaction on
//! instead of committing; the group is committed (one fsync) by the
//! writer that finds nobody queued, or that reaches the group's size or
//! age limit, or by a flush task queued behind the writers, and every
//! member's `commit` returns only then, with the group's outcome. A member
//! that fails or is dropped rolls back to its savepoint and leaves the
//! others' work intact.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedMutexGuard, Semaphore, oneshot};

use super::{CommitStats, Db, Dialect, PoolStats, Row, StoreError, Tx, Val};

mod conn;
use conn::{Pooled, map_err, query_on};

/// Connections kept open; SQLite admits one writer at a time anyway.
const POOL_SIZE: usize = 4;

/// A group takes no more members than this...
const GROUP_MAX_MEMBERS: usize = 64;
/// ...and none once it is this old (the first member's answer waits for
/// the group's commit).
const GROUP_MAX_AGE: Duration = Duration::from_millis(15);

/// The SQLite backend.
#[derive(Clone)]
pub struct SqliteDb {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
    /// Write transactions queue here, in order, instead of polling SQLite's
    /// lock (its busy handler sleeps in growing steps, which under load
    /// turns a queue of writers into seconds of latency). The slot holds
    /// the open group, if any.
    writers: Arc<Writers>,
    /// Callers waiting for a pooled connection.
    waiting: Arc<AtomicUsize>,
    /// The one connection every write transaction runs on (one group at a
    /// time holds it, under the writers' slot). SQLite empties a
    /// connection's page cache when another connection has written since
    /// its last transaction; with every write on this connection, its
    /// cache stays warm from one group to the next, where a write on
    /// whichever pooled connection came free re-read its pages first.
    writer: Arc<Mutex<Vec<Connection>>>,
    writer_permit: Arc<Semaphore>,
}

/// The writers' queue and the group commit's counters.
struct Writers {
    slot: Arc<tokio::sync::Mutex<Option<Group>>>,
    /// Writers waiting for the slot (a member hands the group on only
    /// when someone is).
    queued: AtomicUsize,
    /// A group takes no members once this old.
    max_age: Duration,
    next_group: AtomicU64,
    commits: AtomicU64,
    committed: AtomicU64,
}

/// One SQLite transaction shared by several logical ones.
struct Group {
    id: u64,
    conn: Pooled,
    /// Members done with their work, waiting for the commit.
    waiting: Vec<oneshot::Sender<Result<(), StoreError>>>,
    members: usize,
    started: Instant,
    flush_queued: bool,
}

/// Counts a writer in the queue until it holds the slot (or is cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Self(n)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The same failure for every member of a group (the error is not `Clone`:
/// it carries owned text).
fn for_member(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict => StoreError::Conflict,
        StoreError::Backend(m) => StoreError::Backend(m.clone()),
        _ => StoreError::Unavailable,
    }
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDb").finish_non_exhaustive()
    }
}

impl SqliteDb {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connect = || -> Result<Connection, StoreError> {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(map_err)?;
            conn.busy_timeout(Duration::from_secs(10))
                .map_err(map_err)?;
            conn.execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA secure_delete = ON;",
            )
            .map_err(map_err)?;
            Ok(conn)
        };
        let writer = connect()?;
        let conns = (0..POOL_SIZE)
            .map(|_| connect())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            writer: Arc::new(Mutex::new(vec![writer])),
            writer_permit: Arc::new(Semaphore::new(1)),
            idle: Arc::new(Mutex::new(conns)),
            permits: Arc::new(Semaphore::new(POOL_SIZE)),
            writers: Arc::new(Writers {
                slot: Arc::new(tokio::sync::Mutex::new(None)),
                queued: AtomicUsize::new(0),
                max_age: GROUP_MAX_AGE,
                next_group: AtomicU64::new(0),
                commits: AtomicU64::new(0),
                committed: AtomicU64::new(0),
            }),
            waiting: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Opens a write transaction: a member of the open group, or the first
    /// of a new one.
    async fn begin_write(&self, bulk: bool) -> Result<Box<dyn Tx>, StoreError> {
        // Take a place in the writers' queue before a connection, so that
        // waiting writers never starve readers of connections.
        let mut slot = {
            let _queued = Queued::new(&self.writers.queued);
            Arc::clone(&self.writers.slot).lock_owned().await
        };
        if slot.as_ref().is_none_or(|g| !g.alive()) {
            // A dead group (its connection lost) is dropped: its waiters
            // learn it from their closed channels.
            *slot = None;
            let mut conn = self.checkout_writer().await?;
            conn.run(|c| c.execute_batch("BEGIN IMMEDIATE").map_err(map_err))
                .await?;
            *slot = Some(Group {
                id: self.writers.next_group.fetch_add(1, Ordering::Relaxed),
                conn,
                waiting: Vec::new(),
                members: 0,
                started: Instant::now(),
                flush_queued: false,
            });
        }
        let group = slot.as_mut().ok_or(StoreError::Unavailable)?;
        if let Err(e) = group
            .conn
            .run_here(false, |c| {
                c.execute_batch("SAVEPOINT member").map_err(map_err)
            })
            .await
        {
            if group.waiting.is_empty() {
                *slot = None;
            }
            return Err(e);
        }
        Ok(Box::new(SqliteTx {
            slot: Some(slot),
            writers: Arc::clone(&self.writers),
            bulk,
        }))
    }

    /// The same database with another group age limit (tests that build
    /// a group step by step need more than the default's milliseconds).
    #[cfg(test)]
    fn with_group_age(path: &Path, max_age: Duration) -> Result<Self, StoreError> {
        let db = Self::open(path)?;
        let mut writers = Arc::try_unwrap(db.writers).map_err(|_| StoreError::Unavailable)?;
        writers.max_age = max_age;
        Ok(Self {
            writers: Arc::new(writers),
            ..db
        })
    }

    /// The writer's connection (free whenever the writers' slot is: a
    /// group gives it back before it lets the slot go).
    async fn checkout_writer(&self) -> Result<Pooled, StoreError> {
        let permit = Arc::clone(&self.writer_permit)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable)?;
        Pooled::lend(permit, &self.writer)
    }

    async fn checkout(&self) -> Result<Pooled, StoreError> {
        let permit = {
            let _waiting = Queued::new(&self.waiting);
            Arc::clone(&self.permits)
                .acquire_owned()
                .await
                .map_err(|_| StoreError::Unavailable)?
        };
        Pooled::lend(permit, &self.idle)
    }
}

#[async_trait]
impl Db for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn query(&self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        let mut conn = self.checkout().await?;
        // Reads stay on the blocking pool: they run side by side (WAL), and
        // inline they measured no faster.
        conn.run(move |c| query_on(c, sql, &params)).await
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        self.begin_write(false).await
    }

    async fn begin_bulk(&self) -> Result<Box<dyn Tx>, StoreError> {
        self.begin_write(true).await
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: POOL_SIZE,
            in_use: POOL_SIZE - self.permits.available_permits(),
            waiting: self.waiting.load(Ordering::Relaxed),
            writer_queue: Some(self.writers.queued.load(Ordering::Relaxed)),
        }
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        Some(CommitStats {
            commits: self.writers.commits.load(Ordering::Relaxed),
            transactions: self.writers.committed.load(Ordering::Relaxed),
        })
    }

    async fn begin_read(&self) -> Result<Box<dyn Tx>, StoreError> {
        let mut conn = self.checkout().await?;
        conn.run(|c| c.execute_batch("BEGIN").map_err(map_err))
            .await?;
        Ok(Box::new(SqliteReadTx { conn }))
    }
}

/// A read-only snapshot (see [`Db::begin_read`]): a deferred transaction
/// on a pooled connection, outside the writers' queue. WAL lets it read
/// while a writer commits.
struct SqliteReadTx {
    conn: Pooled,
}

#[async_trait]
impl Tx for SqliteReadTx {
    async fn query(&mut self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        self.conn.run(move |c| query_on(c, sql, &params)).await
    }

    async fn execute(&mut self, _sql: &'static str, _params: Vec<Val>) -> Result<u64, StoreError> {
        Err(StoreError::Backend("write in a read transaction".into()))
    }

    async fn batch(&mut self, _sql: String) -> Result<(), StoreError> {
        Err(StoreError::Backend("write in a read transaction".into()))
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.conn
            .run(|c| c.execute_batch("COMMIT").map_err(map_err))
            .await
    }
}

impl Group {
    /// Whether the group's connection is still here and inside its
    /// transaction (a cancelled statement takes it back to the pool).
    fn alive(&self) -> bool {
        self.conn
            .slot
            .as_ref()
            .is_some_and(|(c, _)| !c.is_autocommit())
    }

    /// Runs `f` on the group's connection right here (a member's own
    /// statements and savepoint steps: page work, no fsync).
    fn with<R>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match self.conn.slot.as_mut() {
            Some((c, _)) => f(c),
            None => Err(StoreError::Unavailable),
        }
    }
}

/// Commits `group` (one fsync) on the blocking pool and tells every member
/// the outcome from there, so that a cancelled caller cannot leave them
/// waiting; the writers' slot is let go once the commit is done.
async fn commit_group(
    mut group: Group,
    slot: OwnedMutexGuard<Option<Group>>,
    writers: Arc<Writers>,
) -> Result<(), StoreError> {
    let (tx, rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let result = group.with(|c| c.execute_batch("COMMIT").map_err(map_err));
        if result.is_ok() {
            writers.commits.fetch_add(1, Ordering::Relaxed);
            writers
                .committed
                .fetch_add(group.members as u64, Ordering::Relaxed);
        }
        for w in group.waiting.drain(..) {
            let _ = w.send(result.as_ref().map(|_| ()).map_err(for_member));
        }
        // Back in the pool (rolled back if the commit failed) before the
        // next writer may start.
        drop(group);
        drop(slot);
        let _ = tx.send(result);
    });
    rx.await.unwrap_or(Err(StoreError::Unavailable))
}

/// Commits the group `id` if it is still open once the writers queued
/// before this task have had their turn.
async fn flush(writers: Arc<Writers>, id: u64) {
    let mut slot = Arc::clone(&writers.slot).lock_owned().await;
    if slot.as_ref().is_some_and(|g| g.id == id)
        && let Some(group) = slot.take()
    {
        let _ = commit_group(group, slot, writers).await;
    }
}

/// A logical write transaction: a savepoint in the open group, holding
/// the writers' slot until it commits or is dropped.
struct SqliteTx {
    slot: Option<OwnedMutexGuard<Option<Group>>>,
    writers: Arc<Writers>,
    /// Begun by [`Db::begin_bulk`]: statements run off the async worker.
    bulk: bool,
}

impl SqliteTx {
    /// The open group, refused once its transaction is gone (an error
    /// SQLite answers by rolling back the whole transaction): a statement
    /// after that would otherwise run, and commit, on its own.
    fn group(&mut self) -> Result<&mut Group, StoreError> {
        self.slot
            .as_mut()
            .and_then(|s| s.as_mut())
            .filter(|g| g.alive())
            .ok_or(StoreError::Unavailable)
    }
}

#[async_trait]
impl Tx for SqliteTx {
    async fn query(&mut self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        let bulk = self.bulk;
        self.group()?
            .conn
            .run_here(bulk, move |c| query_on(c, sql, &params))
            .await
    }

    async fn execute(&mut self, sql: &'static str, params: Vec<Val>) -> Result<u64, StoreError> {
        let bulk = self.bulk;
        self.group()?
            .conn
            .run_here(bulk, move |c| {
                let mut stmt = c.prepare_cached(sql).map_err(map_err)?;
                let n = stmt
                    .execute(rusqlite::params_from_iter(params.iter()))
                    .map_err(map_err)?;
                Ok(n as u64)
            })
            .await
    }

    async fn batch(&mut self, sql: String) -> Result<(), StoreError> {
        let bulk = self.bulk;
        self.group()?
            .conn
            .run_here(bulk, move |c| c.execute_batch(&sql).map_err(map_err))
            .await
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let group = self.group()?;
        // On failure `Drop` rolls this member back.
        group.with(|c| c.execute_batch("RELEASE member").map_err(map_err))?;
        group.members += 1;
        let mut slot = self.slot.take().ok_or(StoreError::Unavailable)?;
        let Some(group) = slot.as_mut() else {
            return Err(StoreError::Unavailable);
        };
        let others = self.writers.queued.load(Ordering::SeqCst) > 0;
        if others
            && group.members < GROUP_MAX_MEMBERS
            && group.started.elapsed() < self.writers.max_age
        {
            // Hand the open transaction on; its commit answers this one.
            let (tx, rx) = oneshot::channel();
            group.waiting.push(tx);
            if !group.flush_queued {
                group.flush_queued = true;
                tokio::spawn(flush(Arc::clone(&self.writers), group.id));
            }
            drop(slot);
            return rx.await.unwrap_or(Err(StoreError::Unavailable));
        }
        let group = slot.take().ok_or(StoreError::Unavailable)?;
        commit_group(group, slot, Arc::clone(&self.writers)).await
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        let Some(mut slot) = self.slot.take() else {
            return;
        };
        let Some(group) = slot.as_mut() else {
            return;
        };
        if group.waiting.is_empty() {
            // Alone in its group: the whole transaction rolls back as the
            // connection goes back to the pool.
            *slot = None;
            return;
        }
        // Others' work waits in the group: undo this member's only.
        let undone = group.with(|c| {
            c.execute_batch("ROLLBACK TO member; RELEASE member")
                .map_err(map_err)
        });
        if undone.is_err() || !group.alive() {
            // The group is lost: dropping it tells its waiters.
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bulk transaction's long statement leaves the async worker to other
    /// tasks (here the only worker: a ticker keeps ticking while it runs);
    /// a request transaction's statements run on the worker itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn bulk_statements_leave_the_worker_to_other_tasks() {
        let dir = tempfile::tempdir().expect("dir");
        let db = SqliteDb::open(&dir.path().join("t.db")).expect("open");
        // About a second of page work in one statement.
        const SLOW: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT COUNT(*) FROM n";
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = tokio::spawn({
            let ticks = Arc::clone(&ticks);
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    ticks.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        // On the worker, like a request handler (the test's own body runs
        // on another thread).
        let (during, took) = tokio::spawn({
            let ticks = Arc::clone(&ticks);
            async move {
                let mut tx = db.begin_bulk().await.expect("begin");
                let before = ticks.load(Ordering::SeqCst);
                let started = Instant::now();
                tx.query(SLOW, vec![]).await.expect("slow statement");
                (ticks.load(Ordering::SeqCst) - before, started.elapsed())
            }
        })
        .await
        .expect("task");
        ticker.abort();
        assert!(
            took > Duration::from_millis(100),
            "the statement was slow enough to tell: {took:?}"
        );
        // Dozens of ticks when the worker is free; none when it is not.
        assert!(
            during >= 2,
            "the ticker ran during the statement: {during} ticks in {took:?}"
        );
    }

    /// Regression: a request cancelled while its statement ran on the
    /// blocking pool used to lose its connection, until every checkout
    /// failed with `Unavailable` (503).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_statements_return_their_connection_rolled_back() {
        let dir = tempfile::tempdir().expect("dir");
        let db = SqliteDb::open(&dir.path().join("t.db")).expect("open");
        let mut setup = db.begin().await.expect("begin");
        setup
            .batch("CREATE TABLE t (x INTEGER)".into())
            .await
            .expect("ddl");
        setup.commit().await.expect("commit");
        for _ in 0..(POOL_SIZE * 2) {
            let mut tx = db.begin().await.expect("begin");
            let slow = tx.batch("INSERT INTO t VALUES (1); SELECT 1".into());
            let cancelled = async {
                // Give the statement time to start, then drop it mid-run.
                let f = async {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    slow.await
                };
                tokio::time::timeout(std::time::Duration::from_nanos(1), f).await
            };
            let _ = cancelled.await;
            drop(tx);
        }
        // Every connection is back, none inside a transaction: the pool's,
        // and the writers' own (which every write above ran on).
        let mut held = Vec::new();
        for _ in 0..POOL_SIZE {
            held.push(
                tokio::time::timeout(std::time::Duration::from_secs(5), db.checkout())
                    .await
                    .expect("no leak")
                    .expect("checkout"),
            );
        }
        held.push(
            tokio::time::timeout(std::time::Duration::from_secs(5), db.checkout_writer())
                .await
                .expect("the writer's connection is back")
                .expect("checkout"),
        );
        for conn in &held {
            assert!(
                conn.slot.as_ref().is_some_and(|(c, _)| c.is_autocommit()),
                "a connection came back inside a transaction"
            );
        }
        drop(held);
        let rows = db
            .query("SELECT COUNT(*) FROM t", vec![])
            .await
            .expect("count");
        assert_eq!(
            rows[0].i64(0).expect("n"),
            0,
            "cancelled transactions rolled back"
        );
    }

    async fn table(db: &SqliteDb) {
        let mut setup = db.begin().await.expect("begin");
        setup
            .batch("CREATE TABLE t (x INTEGER PRIMARY KEY)".into())
            .await
            .expect("ddl");
        setup.commit().await.expect("commit");
    }

    async fn insert(db: &SqliteDb, x: i64) -> Result<(), StoreError> {
        let mut tx = db.begin().await?;
        tx.execute("INSERT INTO t (x) VALUES (?1)", vec![x.into()])
            .await?;
        tx.commit().await
    }

    async fn rows(db: &SqliteDb) -> Vec<i64> {
        db.query("SELECT x FROM t ORDER BY x", vec![])
            .await
            .expect("read")
            .iter()
            .map(|r| r.i64(0).expect("x"))
            .collect()
    }

    async fn until(what: impl Fn() -> bool) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !what() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("reached in time");
    }

    /// Group commit: writers queued behind an open transaction share its
    /// commit (one fsync), and one of them hitting a constraint fails
    /// alone, its savepoint undone, the others' rows committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_member_does_not_fail_its_group() {
        let dir = tempfile::tempdir().expect("dir");
        let db = SqliteDb::with_group_age(&dir.path().join("t.db"), Duration::from_secs(30))
            .expect("open");
        table(&db).await;
        let before = db.commit_stats().expect("stats");
        let mut first = db.begin().await.expect("begin");
        first
            .execute("INSERT INTO t (x) VALUES (1)", vec![])
            .await
            .expect("insert");
        // Three writers queue behind it; the second repeats its key.
        let mut others = Vec::new();
        for x in [2, 1, 3] {
            let writer = db.clone();
            others.push(tokio::spawn(async move { insert(&writer, x).await }));
            let n = others.len();
            until(|| db.writers.queued.load(Ordering::SeqCst) == n).await;
        }
        first.commit().await.expect("first member committed");
        let results: Vec<_> = futures_util::future::join_all(others)
            .await
            .into_iter()
            .map(|r| r.expect("task"))
            .collect();
        assert!(results[0].is_ok(), "{:?}", results[0]);
        assert!(
            matches!(results[1], Err(StoreError::Conflict)),
            "the repeated key fails alone: {:?}",
            results[1]
        );
        assert!(results[2].is_ok(), "{:?}", results[2]);
        assert_eq!(rows(&db).await, vec![1, 2, 3]);
        let after = db.commit_stats().expect("stats");
        assert_eq!(
            (
                after.commits - before.commits,
                after.transactions - before.transactions
            ),
            (1, 3),
            "three transactions, one commit"
        );
    }

    /// A member dropped while it holds the group (its request cancelled)
    /// takes back only its own work; the member that handed the group on
    /// is still committed, by the flush task, and answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_member_leaves_the_group_intact() {
        let dir = tempfile::tempdir().expect("dir");
        let db = SqliteDb::with_group_age(&dir.path().join("t.db"), Duration::from_secs(30))
            .expect("open");
        table(&db).await;
        let mut first = db.begin().await.expect("begin");
        first
            .execute("INSERT INTO t (x) VALUES (1)", vec![])
            .await
            .expect("insert");
        let (joined_tx, joined) = tokio::sync::oneshot::channel();
        let second = {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin().await.expect("join");
                tx.execute("INSERT INTO t (x) VALUES (2)", vec![])
                    .await
                    .expect("insert");
                let _ = joined_tx.send(());
                std::future::pending::<()>().await;
                drop(tx);
            })
        };
        until(|| db.writers.queued.load(Ordering::SeqCst) == 1).await;
        let committing = tokio::spawn(async move { first.commit().await });
        joined.await.expect("the second writer joined the group");
        assert!(!committing.is_finished(), "answered before its commit");
        second.abort();
        let committed = tokio::time::timeout(Duration::from_secs(5), committing)
            .await
            .expect("the flush task committed the group")
            .expect("task");
        assert!(committed.is_ok(), "{committed:?}");
        assert_eq!(rows(&db).await, vec![1], "the dropped member's row is gone");
        // The slot is free again.
        insert(&db, 3).await.expect("next writer");
        assert_eq!(rows(&db).await, vec![1, 3]);
    }

    /// A writer that gives up while queued is not waited for: the open
    /// transaction commits without it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_cancelled_in_the_queue_is_not_waited_for() {
        let dir = tempfile::tempdir().expect("dir");
        let db = SqliteDb::with_group_age(&dir.path().join("t.db"), Duration::from_secs(30))
            .expect("open");
        table(&db).await;
        let mut first = db.begin().await.expect("begin");
        first
            .execute("INSERT INTO t (x) VALUES (1)", vec![])
            .await
            .expect("insert");
        let queued = {
            let db = db.clone();
            tokio::spawn(async move { insert(&db, 2).await })
        };
        until(|| db.writers.queued.load(Ordering::SeqCst) == 1).await;
        queued.abort();
        until(|| db.writers.queued.load(Ordering::SeqCst) == 0).await;
        tokio::time::timeout(Duration::from_secs(5), first.commit())
            .await
            .expect("not waiting for the cancelled writer")
            .expect("committed");
        assert_eq!(rows(&db).await, vec![1]);
    }
}
