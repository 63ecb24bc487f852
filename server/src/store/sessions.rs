//! Sessions: the login throttle (one row per blind email key, an attempt
//! reserved under the row lock before the password is checked), token
//! families, access and refresh tokens (SHA-256 hashes only) and refresh
//! rotation with reuse detection; the caller's list of signed-in devices
//! and ending one from another (with or without a remote wipe); the
//! retention of spent and expired tokens.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{StoreError, at, ms};

pub(crate) const THROTTLE_CLEAR: &str = "DELETE FROM login_throttle WHERE throttle_key = ?1";

const ACCESS_DELETE_FAMILY: &str = "DELETE FROM access_tokens WHERE family_id = ?1";

/// Hashes of a fresh access/refresh token pair.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the access token.
    pub access_hash: Vec<u8>,
    /// Access token expiry.
    pub access_expires_at: DateTime<Utc>,
    /// SHA-256 of the refresh token.
    pub refresh_hash: Vec<u8>,
    /// Refresh token expiry.
    pub refresh_expires_at: DateTime<Utc>,
}

/// What a device says about itself at login.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DeviceLabel {
    /// The user-visible device name (sealed at rest).
    pub name: Option<String>,
    /// The kind of device.
    pub platform: Option<praxis_protocol::Platform>,
}

impl std::fmt::Debug for DeviceLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceLabel")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// One live session of a user, its device name opened.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The token family.
    pub id: Uuid,
    /// What the device said at login.
    pub device: DeviceLabel,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Login or last refresh.
    pub last_used_at: DateTime<Utc>,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("id", &self.id)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// The associated data of a session's sealed device name.
fn device_context(family: Uuid) -> String {
    format!("token_families/{family}")
}

/// Outcome of spending a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was valid; the new pair is stored in the same family.
    Rotated {
        /// The account.
        user_id: Uuid,
        /// The session.
        family_id: Uuid,
    },
    /// The token had already been spent: the whole family is now revoked.
    Reused {
        /// The account whose family was revoked.
        user_id: Uuid,
    },
    /// The session was ended from another device with a wipe: the
    /// device must delete its data.
    Wiped,
    /// Unknown, expired or revoked.
    Invalid,
}

async fn insert_pair(
    tx: &mut dyn crate::store::Tx,
    user_id: Uuid,
    family_id: Uuid,
    s: NewSession,
) -> Result<(), StoreError> {
    const REFRESH_INSERT: &str = "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES (?1, ?2, ?3, ?4)";
    const ACCESS_INSERT: &str = "INSERT INTO access_tokens (token_hash, family_id, user_id, expires_at) VALUES (?1, ?2, ?3, ?4)";
    tx.execute(
        ACCESS_INSERT,
        vec![
            s.access_hash.as_slice().into(),
            family_id.into(),
            user_id.into(),
            ms(s.access_expires_at).into(),
        ],
    )
    .await?;
    tx.execute(
        REFRESH_INSERT,
        vec![
            s.refresh_hash.as_slice().into(),
            family_id.into(),
            user_id.into(),
            ms(s.refresh_expires_at).into(),
        ],
    )
    .await?;
    Ok(())
}

/// Ends a live family (`wipe`: the device must delete its data when it
/// next calls). Returns whether it was live.
async fn revoke_family(
    tx: &mut dyn crate::store::Tx,
    family_id: Uuid,
    wipe: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    const FAMILY_REVOKE: &str = "UPDATE token_families SET revoked_at = ?2, wipe = ?3 WHERE id = ?1 AND revoked_at IS NULL RETURNING user_id";
    let rows = tx
        .query(
            FAMILY_REVOKE,
            vec![family_id.into(), ms(now).into(), i64::from(wipe).into()],
        )
        .await?;
    for r in &rows {
        crate::store::vault::note(tx, crate::store::Change::Sessions(r.uuid(0)?))?;
    }
    tx.execute(ACCESS_DELETE_FAMILY, vec![family_id.into()])
        .await?;
    crate::store::wakeups::forget(tx, family_id).await?;
    Ok(!rows.is_empty())
}

/// Ends every live session of `user` but `keep` (all of them for `None`)
/// inside `tx`; returns how many ended.
pub(in crate::store) async fn revoke_others(
    tx: &mut dyn crate::store::Tx,
    user: Uuid,
    keep: Option<Uuid>,
    wipe: bool,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    const FAMILIES_LIVE: &str =
        "SELECT id FROM token_families WHERE user_id = ?1 AND revoked_at IS NULL";
    let mut ended = 0;
    for r in tx.query(FAMILIES_LIVE, vec![user.into()]).await? {
        let family = r.uuid(0)?;
        if Some(family) != keep && revoke_family(tx, family, wipe, now).await? {
            ended += 1;
        }
    }
    Ok(ended)
}

impl Store {
    /// The keyed login-throttle key of a normalised email.
    pub fn throttle_key(&self, email: &str) -> Vec<u8> {
        self.vault.blind_index("login-throttle", email)
    }

    /// Reserves one password check for `key`, atomically: under a lock on
    /// the key's row, `locked(failures, last_failure)` decides whether the
    /// streak allows an attempt now (`Some(seconds)` to wait refuses it);
    /// an allowed attempt is counted as a failure before the password is
    /// checked, and [`Self::clear_login_failures`] settles it on success.
    /// So however many attempts arrive at once, no more are checked than
    /// the streak allows.
    pub async fn reserve_login_attempt(
        &self,
        key: &[u8],
        now: DateTime<Utc>,
        streak_start: DateTime<Utc>,
        locked: impl FnOnce(u32, DateTime<Utc>) -> Option<u64>,
    ) -> Result<Option<u64>, StoreError> {
        const THROTTLE_GET_LOCKED: &str = "SELECT failures, last_failure_at FROM login_throttle WHERE throttle_key = ?1 /*FOR UPDATE*/";
        // Makes sure the key has a row to lock (no failure counted yet).
        const THROTTLE_ENSURE: &str = "INSERT INTO login_throttle (throttle_key, failures, last_failure_at) VALUES (?1, 0, 0) ON CONFLICT (throttle_key) DO NOTHING";
        // Counts one more failure; a streak older than `?3` starts over.
        const THROTTLE_FAIL: &str = "INSERT INTO login_throttle (throttle_key, failures, last_failure_at) VALUES (?1, 1, ?2) ON CONFLICT (throttle_key) DO UPDATE SET failures = CASE WHEN login_throttle.last_failure_at < ?3 THEN 1 ELSE login_throttle.failures + 1 END, last_failure_at = ?2";
        let mut tx = self.begin().await?;
        tx.execute(THROTTLE_ENSURE, vec![key.into()]).await?;
        let rows = tx.query(THROTTLE_GET_LOCKED, vec![key.into()]).await?;
        let row = rows.first().ok_or(StoreError::Decode("throttle row"))?;
        let (failures, last) = (
            u32::try_from(row.i64("failures")?).unwrap_or(u32::MAX),
            row.i64("last_failure_at")?,
        );
        if failures > 0
            && let Some(wait) = locked(failures, at(last)?)
        {
            return Ok(Some(wait));
        }
        tx.execute(
            THROTTLE_FAIL,
            vec![key.into(), ms(now).into(), ms(streak_start).into()],
        )
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    /// Retention of abuse counters: login streaks older than
    /// `streak_start`, and rate-limit windows that started before
    /// `windows_before`. Returns the rows deleted.
    pub async fn purge_counters(
        &self,
        streak_start: DateTime<Utc>,
        windows_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // Rate-limit windows that started before ?1 (every window is shorter).
        const RATE_PURGE: &str = "DELETE FROM rate_limits WHERE window_start < ?1";
        // Streaks whose last failure is older than the reset (and reservation
        // rows that never counted a failure).
        const THROTTLE_PURGE: &str = "DELETE FROM login_throttle WHERE last_failure_at < ?1";
        let mut tx = self.begin_bulk().await?;
        let a = tx
            .execute(THROTTLE_PURGE, vec![ms(streak_start).into()])
            .await?;
        let b = tx
            .execute(RATE_PURGE, vec![ms(windows_before).into()])
            .await?;
        tx.commit().await?;
        Ok(a + b)
    }

    /// Gives back a reserved attempt whose password was never checked.
    pub async fn refund_login_attempt(&self, key: &[u8]) -> Result<(), StoreError> {
        // Gives back one reserved attempt whose password was never checked.
        const THROTTLE_REFUND: &str = "UPDATE login_throttle SET failures = failures - 1 WHERE throttle_key = ?1 AND failures > 0";
        let mut tx = self.begin().await?;
        tx.execute(THROTTLE_REFUND, vec![key.into()]).await?;
        tx.commit().await
    }

    /// Forgets the failures after a successful login.
    pub async fn clear_login_failures(&self, key: &[u8]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(THROTTLE_CLEAR, vec![key.into()]).await?;
        tx.commit().await
    }

    /// Starts a token family with its first token pair; the device name is
    /// sealed under the user's key.
    pub async fn create_session(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        s: NewSession,
        device: &DeviceLabel,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const FAMILY_INSERT: &str = "INSERT INTO token_families (id, user_id, created_at, last_used_at, device, platform) VALUES (?1, ?2, ?3, ?3, ?4, ?5)";
        let mut tx = self.begin().await?;
        let sealed = match &device.name {
            Some(name) => Some(
                crate::store::vault::seal_for(
                    tx.as_mut(),
                    user_id,
                    &device_context(family_id),
                    name,
                    ms(now),
                )
                .await?,
            ),
            None => None,
        };
        tx.execute(
            FAMILY_INSERT,
            vec![
                family_id.into(),
                user_id.into(),
                ms(now).into(),
                sealed.into(),
                device.platform.map(|p| p.as_str().to_owned()).into(),
            ],
        )
        .await?;
        insert_pair(tx.as_mut(), user_id, family_id, s).await?;
        tx.commit().await
    }

    /// The account, family and expiry of a live access token.
    pub async fn access(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<(Uuid, Uuid, DateTime<Utc>)>, StoreError> {
        const ACCESS_LOOKUP: &str = "SELECT a.user_id, a.family_id, a.expires_at FROM access_tokens a JOIN token_families f ON f.id = a.family_id WHERE a.token_hash = ?1 AND a.expires_at > ?2 AND f.revoked_at IS NULL";
        let rows = self
            .db
            .query(ACCESS_LOOKUP, vec![hash.into(), ms(now).into()])
            .await?;
        rows.first()
            .map(|r| {
                Ok((
                    r.uuid("user_id")?,
                    r.uuid("family_id")?,
                    crate::store::backend::at(r.i64("expires_at")?)?,
                ))
            })
            .transpose()
    }

    /// Spends a refresh token and stores its successor pair, or detects
    /// reuse and revokes the family. One transaction; concurrent spends of
    /// the same token serialise on its row, so exactly one wins.
    pub async fn rotate_refresh(
        &self,
        hash: &[u8],
        next: NewSession,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError> {
        const REFRESH_SPEND: &str =
            "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL";
        const REFRESH_LOOKUP: &str = "SELECT r.family_id, r.user_id, r.expires_at, r.used_at, f.revoked_at, f.wipe FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id WHERE r.token_hash = ?1 /*FOR UPDATE*/";
        // Not for a user who objects to the connection log (Art. 21).
        const FAMILY_USED: &str = "UPDATE token_families SET last_used_at = ?2 WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM objections o WHERE o.user_id = token_families.user_id AND o.basis = 'connection_log')";
        let mut tx = self.begin().await?;
        let rows = tx.query(REFRESH_LOOKUP, vec![hash.into()]).await?;
        let Some(r) = rows.first() else {
            return Ok(RotateOutcome::Invalid);
        };
        let (family_id, user_id) = (r.uuid("family_id")?, r.uuid("user_id")?);
        let (expires_at, used_at, revoked_at) = (
            r.i64("expires_at")?,
            r.opt_i64("used_at")?,
            r.opt_i64("revoked_at")?,
        );
        if revoked_at.is_some() {
            // A wiped session's device hears it until its token would have
            // expired anyway.
            return Ok(if r.i64("wipe")? != 0 && expires_at > ms(now) {
                RotateOutcome::Wiped
            } else {
                RotateOutcome::Invalid
            });
        }
        if used_at.is_some() {
            revoke_family(tx.as_mut(), family_id, false, now).await?;
            tx.commit().await?;
            return Ok(RotateOutcome::Reused { user_id });
        }
        if expires_at <= ms(now) {
            return Ok(RotateOutcome::Invalid);
        }
        if tx
            .execute(REFRESH_SPEND, vec![hash.into(), ms(now).into()])
            .await?
            != 1
        {
            return Ok(RotateOutcome::Invalid);
        }
        // Only the newest access token of a family stays valid.
        tx.execute(ACCESS_DELETE_FAMILY, vec![family_id.into()])
            .await?;
        insert_pair(tx.as_mut(), user_id, family_id, next).await?;
        tx.execute(FAMILY_USED, vec![family_id.into(), ms(now).into()])
            .await?;
        tx.commit().await?;
        Ok(RotateOutcome::Rotated { user_id, family_id })
    }

    /// Ends every token of a family (logout).
    pub async fn revoke_family(
        &self,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        revoke_family(tx.as_mut(), family_id, false, now).await?;
        tx.commit().await
    }

    /// The user's live sessions (not revoked, with a refresh token that
    /// has not expired), newest first.
    pub async fn sessions(
        &self,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionRow>, StoreError> {
        const SESSIONS_OF_USER: &str = "SELECT f.id, f.device, f.platform, f.created_at, f.last_used_at FROM token_families f WHERE f.user_id = ?1 AND f.revoked_at IS NULL AND EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = f.id AND r.used_at IS NULL AND r.expires_at > ?2) ORDER BY f.created_at DESC, f.id";
        let mut tx = self.begin_read().await?;
        let rows = tx
            .query(SESSIONS_OF_USER, vec![user.into(), ms(now).into()])
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id = r.uuid("id")?;
            let name = match r.opt_text("device")? {
                Some(sealed) => Some(
                    crate::store::vault::open_for(tx.as_mut(), user, &device_context(id), sealed)
                        .await?,
                ),
                None => None,
            };
            let platform = r
                .opt_text("platform")?
                .map(|p| praxis_protocol::Platform::parse(&p).ok_or(StoreError::Decode("platform")))
                .transpose()?;
            let created_at = at(r.i64("created_at")?)?;
            out.push(SessionRow {
                id,
                device: DeviceLabel { name, platform },
                created_at,
                last_used_at: r
                    .opt_i64("last_used_at")?
                    .map(at)
                    .transpose()?
                    .unwrap_or(created_at),
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Ends one of the user's sessions; `false` when it is not theirs or
    /// already ended.
    pub async fn end_session(
        &self,
        user: Uuid,
        family: Uuid,
        wipe: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const FAMILY_OWNER: &str =
            "SELECT 1 FROM token_families WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL";
        let mut tx = self.begin().await?;
        if tx
            .query(FAMILY_OWNER, vec![family.into(), user.into()])
            .await?
            .is_empty()
        {
            return Ok(false);
        }
        let ended = revoke_family(tx.as_mut(), family, wipe, now).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Ends every session of the user but `keep`; returns how many.
    pub async fn end_other_sessions(
        &self,
        user: Uuid,
        keep: Uuid,
        wipe: bool,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let ended = revoke_others(tx.as_mut(), user, Some(keep), wipe, now).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Retention of sessions: expired access tokens, refresh tokens past
    /// their expiry (spent ones are kept until then, for reuse detection),
    /// families with no refresh token left, or ended without a wipe to
    /// report, and the push tokens of sign-ins that are gone. Deletes in batches of [`PURGE_BATCH`](crate::store::PURGE_BATCH), one short
    /// transaction each. Returns the rows deleted.
    pub async fn purge_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        const ACCESS_PURGE: &str = "DELETE FROM access_tokens WHERE token_hash IN (SELECT token_hash FROM access_tokens WHERE expires_at <= ?1 LIMIT ?2)";
        const REFRESH_PURGE: &str = "DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens WHERE expires_at <= ?1 LIMIT ?2)";
        // Families whose every refresh token has expired (a wiped one is
        // kept until then: its device must still hear it), or ended
        // without a wipe (their tokens go with them).
        const FAMILY_PURGE: &str = "DELETE FROM token_families WHERE id IN (SELECT f.id FROM token_families f WHERE (f.revoked_at IS NOT NULL AND f.wipe = 0) OR NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = f.id AND r.expires_at > ?1) LIMIT ?2)";
        let mut total = 0;
        // Push tokens whose sign-in is gone (logout and revocation delete
        // theirs at once; a sign-in that just expired leaves its own).
        const PUSH_ORPHANS_PURGE: &str = "DELETE FROM push_tokens WHERE family_id IN (SELECT p.family_id FROM push_tokens p WHERE NOT EXISTS (SELECT 1 FROM token_families f WHERE f.id = p.family_id AND f.revoked_at IS NULL) LIMIT ?1)";
        for sql in [ACCESS_PURGE, REFRESH_PURGE, FAMILY_PURGE] {
            total += self.purge_batched(sql, now).await?;
        }
        loop {
            let mut tx = self.begin_bulk().await?;
            let n = tx
                .execute(PUSH_ORPHANS_PURGE, vec![crate::store::PURGE_BATCH.into()])
                .await?;
            tx.commit().await?;
            total += n;
            if n < crate::store::PURGE_BATCH.unsigned_abs() {
                break;
            }
        }
        Ok(total)
    }
}
