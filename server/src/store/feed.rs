//! The change feed's hub: who must be told that something committed.
//!
//! A write transaction notes what it changed ([`Change`]: a user's scope
//! reached a new sequence, their privacy state or their sessions changed,
//! or every user's privacy state did); when it commits, the store hands
//! the notes to the [`Feed`], which wakes the streams of those users
//! (`GET /v1/sync/changes`). Each user has one `watch` channel holding a
//! [`Signal`]: the highest sequence seen and two counters, so a burst of
//! commits coalesces into one wake-up and a stream never reads the
//! database to learn that nothing changed.
//!
//! Replicas: on PostgreSQL the same notes travel inside the transaction as
//! a `NOTIFY` on the database's channel (delivered at commit, dropped on
//! rollback), and every replica's listener applies the others' notes to
//! its own hub (see [`Feed::encode`] and [`Feed::apply_remote`]). A
//! listener that reconnects wakes every stream ([`Feed::resync_all`]): a
//! notification lost while it was down costs one database read per stream,
//! never a missed change. Notes carry user ids and sequence numbers only.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;
use uuid::Uuid;

/// One thing a transaction changed that a stream may care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The user's scope reached this sequence.
    Scope(Uuid, i64),
    /// The user's privacy state (restriction) changed.
    Privacy(Uuid),
    /// One or all of the user's sessions ended (logout, revocation,
    /// erasure): streams check their token again.
    Sessions(Uuid),
    /// Every user's privacy state changed (a consent policy version was
    /// published).
    PrivacyAll,
}

/// What a user's streams have been told so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signal {
    /// The highest scope sequence committed.
    pub seq: i64,
    /// Bumped at each privacy change of the user.
    pub privacy: u64,
    /// Bumped at each session change of the user.
    pub sessions: u64,
}

/// Everyone's signal: bumped when every user's privacy state changed, and
/// when the replica may have missed notes (every stream then re-reads its
/// scope's sequence).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Broadcast {
    /// Bumped at each change of every user's privacy state.
    pub privacy: u64,
    /// Bumped when notes may have been missed.
    pub resync: u64,
    /// The server is shutting down: streams end so devices reconnect
    /// (to another replica).
    pub closing: bool,
}

/// A stream's subscription; dropping it releases the stream's slot.
#[derive(Debug)]
pub struct Subscription {
    /// The user's signal.
    pub user: watch::Receiver<Signal>,
    /// Everyone's signal.
    pub all: watch::Receiver<Broadcast>,
    /// The user's slot count, decremented on drop.
    _slot: std::sync::Arc<()>,
}

struct User {
    signal: watch::Sender<Signal>,
    /// One clone per open stream: the count of open streams.
    slots: std::sync::Arc<()>,
}

/// The hub (see the module documentation).
pub struct Feed {
    users: Mutex<HashMap<Uuid, User>>,
    all: watch::Sender<Broadcast>,
    /// The PostgreSQL channel replicas share (`None` on SQLite).
    channel: Option<String>,
    /// This process, so that it skips its own notes coming back.
    replica: String,
    /// The PostgreSQL listener feeding this hub, stopped with it.
    listener: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some(l) = self.listener.get_mut().unwrap_or_else(|p| p.into_inner()) {
            l.abort();
        }
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}

/// The largest payload PostgreSQL's `NOTIFY` takes is 8000 bytes; notes
/// are split well below it.
const MAX_PAYLOAD: usize = 7000;

impl Feed {
    /// A hub; `channel` names the PostgreSQL channel replicas share.
    pub fn new(channel: Option<String>) -> Self {
        Self {
            users: Mutex::new(HashMap::new()),
            all: watch::channel(Broadcast::default()).0,
            channel,
            replica: Uuid::new_v4().simple().to_string(),
            listener: Mutex::new(None),
        }
    }

    /// Ties the listener task that feeds this hub to its life.
    pub(crate) fn attach(&self, listener: &tokio::task::JoinHandle<()>) {
        *self.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(listener.abort_handle());
    }

    /// The PostgreSQL channel, when notes travel between replicas.
    pub fn channel(&self) -> Option<&str> {
        self.channel.as_deref()
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, User>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes a stream of `user`, or `None` when the user already holds
    /// `max` streams.
    pub fn subscribe(&self, user: Uuid, max: usize) -> Option<Subscription> {
        let mut users = self.users();
        // Forget users nobody listens to any more (bounded memory).
        if users.len() > 1024 {
            users.retain(|_, u| std::sync::Arc::strong_count(&u.slots) > 1);
        }
        let entry = users.entry(user).or_insert_with(|| User {
            signal: watch::channel(Signal::default()).0,
            slots: std::sync::Arc::new(()),
        });
        if std::sync::Arc::strong_count(&entry.slots) > max {
            return None;
        }
        Some(Subscription {
            user: entry.signal.subscribe(),
            all: self.all.subscribe(),
            _slot: std::sync::Arc::clone(&entry.slots),
        })
    }

    /// Streams open now, everyone's.
    pub fn streams(&self) -> usize {
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|u| std::sync::Arc::strong_count(&u.slots) - 1)
            .sum()
    }

    /// Open streams of `user`.
    pub fn streams_of(&self, user: Uuid) -> usize {
        self.users()
            .get(&user)
            .map_or(0, |u| std::sync::Arc::strong_count(&u.slots) - 1)
    }

    /// Applies committed changes: wakes the streams concerned.
    pub fn apply(&self, changes: &[Change]) {
        let users = self.users();
        for change in changes {
            let (user, bump): (Uuid, fn(&mut Signal) -> bool) = match *change {
                Change::PrivacyAll => {
                    self.all.send_modify(|b| b.privacy += 1);
                    continue;
                }
                Change::Scope(user, seq) => {
                    let Some(u) = users.get(&user) else { continue };
                    u.signal.send_if_modified(|s| {
                        let newer = seq > s.seq;
                        s.seq = s.seq.max(seq);
                        newer
                    });
                    continue;
                }
                Change::Privacy(user) => (user, |s| {
                    s.privacy += 1;
                    true
                }),
                Change::Sessions(user) => (user, |s| {
                    s.sessions += 1;
                    true
                }),
            };
            if let Some(u) = users.get(&user) {
                u.signal.send_if_modified(bump);
            }
        }
    }

    /// Ends every stream (the server is shutting down).
    pub fn close(&self) {
        self.all.send_modify(|b| b.closing = true);
    }

    /// Wakes every stream to re-read its scope (after notes may have been
    /// lost, e.g. while the replica's listener reconnected).
    pub fn resync_all(&self) {
        self.all.send_modify(|b| b.resync += 1);
    }

    /// The `NOTIFY` payloads that carry `changes` to the other replicas:
    /// `<replica>;<note>,<note>…`, each under PostgreSQL's size limit.
    pub fn encode(&self, changes: &[Change]) -> Vec<String> {
        let mut out = Vec::new();
        let mut current = String::new();
        for change in changes {
            let note = match change {
                Change::Scope(u, seq) => format!("s{}:{seq}", u.simple()),
                Change::Privacy(u) => format!("p{}", u.simple()),
                Change::Sessions(u) => format!("x{}", u.simple()),
                Change::PrivacyAll => "P".to_owned(),
            };
            if !current.is_empty() && current.len() + note.len() + 1 > MAX_PAYLOAD {
                out.push(std::mem::take(&mut current));
            }
            if current.is_empty() {
                current.push_str(&self.replica);
                current.push(';');
            } else {
                current.push(',');
            }
            current.push_str(&note);
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// Applies a payload another replica sent (its own are skipped:
    /// they were applied at commit). Malformed notes are ignored.
    pub fn apply_remote(&self, payload: &str) {
        let Some((replica, notes)) = payload.split_once(';') else {
            return;
        };
        if replica == self.replica {
            return;
        }
        let changes: Vec<Change> = notes.split(',').filter_map(decode_note).collect();
        self.apply(&changes);
    }
}

fn decode_note(note: &str) -> Option<Change> {
    let (kind, rest) = note.split_at_checked(1)?;
    let user = |s: &str| Uuid::parse_str(s).ok();
    Some(match kind {
        "s" => {
            let (u, seq) = rest.split_once(':')?;
            Change::Scope(user(u)?, seq.parse().ok()?)
        }
        "p" => Change::Privacy(user(rest)?),
        "x" => Change::Sessions(user(rest)?),
        "P" if rest.is_empty() => Change::PrivacyAll,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_travel_between_replicas_and_skip_their_sender() {
        let (a, b) = (Feed::new(None), Feed::new(None));
        let user = Uuid::new_v4();
        let mut sub = b.subscribe(user, 4).expect("a slot");
        let changes = [
            Change::Scope(user, 7),
            Change::Sessions(user),
            Change::PrivacyAll,
        ];
        for payload in a.encode(&changes) {
            b.apply_remote(&payload);
            // A replica's own notes are not applied twice.
            a.apply_remote(&payload);
        }
        assert!(sub.user.has_changed().expect("open"));
        let s = *sub.user.borrow_and_update();
        assert_eq!((s.seq, s.privacy, s.sessions), (7, 0, 1));
        assert_eq!(sub.all.borrow_and_update().privacy, 1);
        // An older sequence (a late note) wakes nobody.
        b.apply(&[Change::Scope(user, 3)]);
        assert!(!sub.user.has_changed().expect("open"));
        b.apply_remote("garbage");
        b.apply_remote("other;s-not-a-user:1,q,P");
        assert_eq!(sub.all.borrow_and_update().privacy, 2);
    }

    #[test]
    fn payloads_stay_under_the_notify_limit() {
        let feed = Feed::new(None);
        let changes: Vec<Change> = (0..1000)
            .map(|i| Change::Scope(Uuid::new_v4(), i))
            .collect();
        let payloads = feed.encode(&changes);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let other = Feed::new(None);
        let subs: Vec<_> = changes
            .iter()
            .map(|c| match c {
                Change::Scope(u, _) => other.subscribe(*u, 1).expect("a slot"),
                _ => unreachable!(),
            })
            .collect();
        for p in &payloads {
            other.apply_remote(p);
        }
        assert_eq!(subs.iter().filter(|s| s.user.borrow().seq > 0).count(), 999);
    }

    #[test]
    fn streams_per_user_are_capped_and_released_on_drop() {
        let feed = Feed::new(None);
        let user = Uuid::new_v4();
        let first = feed.subscribe(user, 2).expect("first");
        let second = feed.subscribe(user, 2).expect("second");
        assert!(feed.subscribe(user, 2).is_none());
        assert_eq!(feed.streams_of(user), 2);
        drop(first);
        assert_eq!(feed.streams_of(user), 1);
        assert!(feed.subscribe(user, 2).is_some());
        drop(second);
    }
}
