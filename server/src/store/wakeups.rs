//! Background wake-ups (migration 10): each sign-in's platform push token,
//! and the outbox of wake-ups the notifier (`crate::push`) delivers.
//!
//! A change to a scope enqueues, in its own transaction, one wake-up per
//! sign-in of the scope's owner that registered a token, except the
//! sign-in whose push made the change ([`enqueue`]);
//! while one waits, further changes only count into it, so a burst
//! becomes one wake-up. The notifier takes due rows under a lease (a
//! compare-and-set on `due_at`, so replicas never send the same row
//! twice), and settles each as delivered, to retry, or dropped.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{Statement, StoreError, Tx, ms};
use crate::store::vault;

/// One wake-up due for delivery, as the notifier sees it.
pub struct Wakeup {
    /// The sign-in it is for.
    pub family_id: Uuid,
    /// `fcm` or `apns`.
    pub platform: String,
    /// The platform push token.
    pub token: String,
    /// Deliveries tried before this one.
    pub attempts: i64,
    /// The change count the lease was taken at.
    changes: i64,
    /// The lease (`due_at` while this replica delivers it).
    lease: i64,
}

impl std::fmt::Debug for Wakeup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeup")
            .field("platform", &self.platform)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

fn context(family: Uuid) -> String {
    format!("push_tokens:{family}")
}

/// Enqueues a wake-up for every sign-in of `user` with a push token (the
/// notifier sends it once the coalescing window after `now` has passed);
/// one already waiting counts the change. `origin` is the sign-in that
/// made the change, if a device did: it has the change already and is
/// not woken for it (the server's own changes pass `None`).
pub(in crate::store) async fn enqueue(
    tx: &mut dyn Tx,
    user: Uuid,
    origin: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (sql, params) = enqueue_statement(user, origin, now);
    tx.execute(sql, params).await?;
    Ok(())
}

/// The statement of [`enqueue`], for a caller that sends it with others
/// ([`Tx::commit_after`]).
pub(in crate::store) fn enqueue_statement(
    user: Uuid,
    origin: Option<Uuid>,
    now: DateTime<Utc>,
) -> Statement {
    // The tokens are locked as the foreign key will reference them: one
    // deleted by a concurrent transaction (its sign-in removing it) is
    // skipped instead of failing this one (PostgreSQL, read committed).
    const OUTBOX_ENQUEUE: &str = "INSERT INTO push_outbox (family_id, due_at, attempts, changes) SELECT family_id, ?2, 0, 1 FROM push_tokens WHERE user_id = ?1 AND family_id <> ?3 /*FOR KEY SHARE*/ ON CONFLICT (family_id) DO UPDATE SET changes = push_outbox.changes + 1";
    // No sign-in has the nil id: with no origin, every one is woken.
    let origin = origin.unwrap_or(Uuid::nil());
    (
        OUTBOX_ENQUEUE,
        vec![user.into(), ms(now).into(), origin.into()],
    )
}

/// Forgets the push token of a sign-in (logout, revocation).
pub(in crate::store) async fn forget(tx: &mut dyn Tx, family: Uuid) -> Result<(), StoreError> {
    const TOKEN_DELETE: &str = "DELETE FROM push_tokens WHERE family_id = ?1";
    tx.execute(TOKEN_DELETE, vec![family.into()]).await?;
    Ok(())
}

/// Forgets the push tokens of every other sign-in of `user` (their
/// sessions were revoked together).
pub(in crate::store) async fn forget_others(
    tx: &mut dyn Tx,
    user: Uuid,
    keep: Uuid,
) -> Result<(), StoreError> {
    const TOKENS_DELETE_OTHERS: &str =
        "DELETE FROM push_tokens WHERE user_id = ?1 AND family_id <> ?2";
    tx.execute(TOKENS_DELETE_OTHERS, vec![user.into(), keep.into()])
        .await?;
    Ok(())
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The gateway took it.
    Delivered,
    /// The gateway said the token is no longer valid: it is forgotten.
    Rejected,
    /// It failed: try again at this time (plus the coalescing window).
    Retry(DateTime<Utc>),
    /// It failed too often: dropped.
    Dropped,
}

impl Store {
    /// Sets the push token of the caller's sign-in (replacing its previous
    /// one).
    pub async fn set_push_token(
        &self,
        user: Uuid,
        family: Uuid,
        platform: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const TOKEN_UPSERT: &str = "INSERT INTO push_tokens (family_id, user_id, platform, token, created_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (family_id) DO UPDATE SET platform = excluded.platform, token = excluded.token, created_at = excluded.created_at";
        let mut tx = self.begin().await?;
        let sealed = vault::seal_for(tx.as_mut(), user, &context(family), token, ms(now)).await?;
        tx.execute(
            TOKEN_UPSERT,
            vec![
                family.into(),
                user.into(),
                platform.into(),
                sealed.into(),
                ms(now).into(),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Forgets the push token of the caller's sign-in; whether there was one.
    pub async fn remove_push_token(&self, family: Uuid) -> Result<bool, StoreError> {
        const TOKEN_DELETE: &str = "DELETE FROM push_tokens WHERE family_id = ?1";
        let mut tx = self.begin().await?;
        let n = tx.execute(TOKEN_DELETE, vec![family.into()]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// How many wake-ups wait for the push gateway (the metrics' outbox
    /// depth).
    pub async fn notifier_outbox_depth(&self) -> Result<u64, StoreError> {
        const OUTBOX_COUNT: &str = "SELECT COUNT(*) FROM push_outbox";
        let rows = self.db.query(OUTBOX_COUNT, vec![]).await?;
        let n = rows.first().map_or(Ok(0), |r| r.i64(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Drops wake-ups waiting since before `before` (no gateway, or one
    /// that never answers); how many.
    pub async fn purge_wakeups(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        const OUTBOX_PURGE: &str = "DELETE FROM push_outbox WHERE due_at < ?1";
        let mut tx = self.begin_bulk().await?;
        let n = tx.execute(OUTBOX_PURGE, vec![ms(before).into()]).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Takes up to `limit` wake-ups due before `due_by` (now less the
    /// coalescing window) for delivery, each leased until `lease_until`
    /// (another replica skips them meanwhile).
    pub async fn take_wakeups(
        &self,
        due_by: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Wakeup>, StoreError> {
        const OUTBOX_DUE: &str = "SELECT o.family_id, o.due_at, o.attempts, o.changes, t.user_id, t.platform, t.token FROM push_outbox o JOIN push_tokens t ON t.family_id = o.family_id WHERE o.due_at <= ?1 ORDER BY o.due_at LIMIT ?2";
        // Taken only if nobody took it since it was read.
        const OUTBOX_LEASE: &str =
            "UPDATE push_outbox SET due_at = ?1 WHERE family_id = ?2 AND due_at = ?3";
        let rows = self
            .db
            .query(OUTBOX_DUE, vec![ms(due_by).into(), limit.into()])
            .await?;
        let mut taken = Vec::new();
        for r in rows {
            let (family, due) = (r.uuid("family_id")?, r.i64("due_at")?);
            let mut tx = self.begin().await?;
            let won = tx
                .execute(
                    OUTBOX_LEASE,
                    vec![ms(lease_until).into(), family.into(), due.into()],
                )
                .await?
                == 1;
            let token = if won {
                Some(
                    vault::open_for(
                        tx.as_mut(),
                        r.uuid("user_id")?,
                        &context(family),
                        r.text("token")?,
                    )
                    .await?,
                )
            } else {
                None
            };
            tx.commit().await?;
            if let Some(token) = token {
                taken.push(Wakeup {
                    family_id: family,
                    platform: r.text("platform")?,
                    token,
                    attempts: r.i64("attempts")?,
                    changes: r.i64("changes")?,
                    lease: ms(lease_until),
                });
            }
        }
        Ok(taken)
    }

    /// Settles a delivery. A wake-up delivered while newer changes counted
    /// into it stays queued for them, as if they were made `now`.
    pub async fn settle_wakeup(
        &self,
        w: &Wakeup,
        outcome: Delivery,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OUTBOX_DONE: &str =
            "DELETE FROM push_outbox WHERE family_id = ?1 AND due_at = ?2 AND changes = ?3";
        const OUTBOX_AGAIN: &str = "UPDATE push_outbox SET due_at = ?1, attempts = ?2, changes = changes - ?3 WHERE family_id = ?4 AND due_at = ?5";
        const OUTBOX_DROP: &str = "DELETE FROM push_outbox WHERE family_id = ?1 AND due_at = ?2";
        const TOKEN_DELETE: &str = "DELETE FROM push_tokens WHERE family_id = ?1";
        let mut tx = self.begin().await?;
        let family = w.family_id;
        match outcome {
            Delivery::Delivered => {
                let gone = tx
                    .execute(
                        OUTBOX_DONE,
                        vec![family.into(), w.lease.into(), w.changes.into()],
                    )
                    .await?;
                if gone == 0 {
                    tx.execute(
                        OUTBOX_AGAIN,
                        vec![
                            ms(now).into(),
                            0_i64.into(),
                            w.changes.into(),
                            family.into(),
                            w.lease.into(),
                        ],
                    )
                    .await?;
                }
            }
            Delivery::Retry(at) => {
                tx.execute(
                    OUTBOX_AGAIN,
                    vec![
                        ms(at).into(),
                        (w.attempts + 1).into(),
                        0_i64.into(),
                        family.into(),
                        w.lease.into(),
                    ],
                )
                .await?;
            }
            Delivery::Dropped => {
                tx.execute(OUTBOX_DROP, vec![family.into(), w.lease.into()])
                    .await?;
            }
            Delivery::Rejected => {
                tx.execute(TOKEN_DELETE, vec![family.into()]).await?;
            }
        }
        tx.commit().await
    }
}
