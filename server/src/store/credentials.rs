//! Credentials: changing the password (the caller's other sessions end in
//! the same transaction, and the change is on the audit chain), and the
//! codes mailed to prove an address or reset a password (`email_codes`:
//! one live code per account and purpose, a keyed hash only, five tries).

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::store::Store;
use crate::store::audit::{Event, append};
use crate::store::backend::{StoreError, ms};
use crate::store::sessions::revoke_others;

/// Wrong tries a mailed code survives.
pub const CODE_ATTEMPTS: i64 = 5;

/// What a mailed code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Proving the email address.
    Verify,
    /// Setting a new password.
    Reset,
}

impl CodePurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
        }
    }

    /// How long a code lives.
    pub fn ttl(self) -> Duration {
        match self {
            Self::Verify => Duration::hours(24),
            Self::Reset => Duration::minutes(15),
        }
    }
}

/// Checks the live code of `(user, purpose)` inside `tx`, its row locked:
/// `true` when `hash` matches a code that has not expired or run out of
/// tries; a wrong code counts a try.
async fn code_matches(
    tx: &mut dyn crate::store::Tx,
    user: Uuid,
    purpose: CodePurpose,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    const CODE_GET: &str = "SELECT code_hash, attempts, expires_at FROM email_codes WHERE user_id = ?1 AND purpose = ?2 /*FOR UPDATE*/";
    const CODE_MISS: &str =
        "UPDATE email_codes SET attempts = attempts + 1 WHERE user_id = ?1 AND purpose = ?2";
    let rows = tx
        .query(CODE_GET, vec![user.into(), purpose.as_str().into()])
        .await?;
    let Some(r) = rows.first() else {
        return Ok(false);
    };
    if r.i64("attempts")? >= CODE_ATTEMPTS || r.i64("expires_at")? <= ms(now) {
        return Ok(false);
    }
    // Keyed hashes: how long the comparison takes says nothing an attacker
    // without the server key could use.
    if r.bytes("code_hash")? != hash {
        tx.execute(CODE_MISS, vec![user.into(), purpose.as_str().into()])
            .await?;
        return Ok(false);
    }
    Ok(true)
}

/// Deletes the code of `(user, purpose)` (used).
async fn spend_code(
    tx: &mut dyn crate::store::Tx,
    user: Uuid,
    purpose: CodePurpose,
) -> Result<(), StoreError> {
    const CODE_DELETE: &str = "DELETE FROM email_codes WHERE user_id = ?1 AND purpose = ?2";
    tx.execute(CODE_DELETE, vec![user.into(), purpose.as_str().into()])
        .await?;
    Ok(())
}

/// Marks the address proved.
async fn mark_verified(
    tx: &mut dyn crate::store::Tx,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    const USER_VERIFY: &str =
        "UPDATE users SET email_verified_at = ?2 WHERE id = ?1 AND email_verified_at IS NULL";
    tx.execute(USER_VERIFY, vec![user.into(), ms(now).into()])
        .await?;
    Ok(())
}

impl Store {
    /// Sets a new password hash for `user` and ends every session but
    /// `keep` (every one for `None`); `event` goes on the audit chain with
    /// the number of sessions ended. One transaction. Returns that number,
    /// or `None` when the account does not exist.
    pub async fn set_password(
        &self,
        user: Uuid,
        phc: &str,
        keep: Option<Uuid>,
        event: &'static str,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        const USER_PASSWORD_SET: &str =
            "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1";
        let mut tx = self.begin().await?;
        if tx
            .execute(
                USER_PASSWORD_SET,
                vec![user.into(), phc.into(), ms(now).into()],
            )
            .await?
            == 0
        {
            return Ok(None);
        }
        let ended = revoke_others(tx.as_mut(), user, keep, false, now).await?;
        append(
            tx.as_mut(),
            &Event::user(event, user, serde_json::json!({ "sessions_ended": ended })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(ended))
    }

    /// The stored form of a mailed code: a keyed hash bound to the account
    /// and purpose (`code` in canonical form).
    fn code_hash(&self, user: Uuid, purpose: CodePurpose, code: &str) -> Vec<u8> {
        self.vault
            .blind_index("email-code", &format!("{user}/{}/{code}", purpose.as_str()))
    }

    /// Stores a fresh code for `(user, purpose)`, replacing any earlier one.
    pub async fn issue_code(
        &self,
        user: Uuid,
        purpose: CodePurpose,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const CODE_PUT: &str = "INSERT INTO email_codes (user_id, purpose, code_hash, attempts, created_at, expires_at) VALUES (?1, ?2, ?3, 0, ?4, ?5) ON CONFLICT (user_id, purpose) DO UPDATE SET code_hash = ?3, attempts = 0, created_at = ?4, expires_at = ?5";
        let hash = self.code_hash(user, purpose, code);
        let mut tx = self.begin().await?;
        tx.execute(
            CODE_PUT,
            vec![
                user.into(),
                purpose.as_str().into(),
                hash.as_slice().into(),
                ms(now).into(),
                ms(now + purpose.ttl()).into(),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Whether `code` is the live code of `(user, purpose)`, without using
    /// it; a wrong one counts a try.
    pub async fn check_code(
        &self,
        user: Uuid,
        purpose: CodePurpose,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let hash = self.code_hash(user, purpose, code);
        let mut tx = self.begin().await?;
        let ok = code_matches(tx.as_mut(), user, purpose, &hash, now).await?;
        tx.commit().await?;
        Ok(ok)
    }

    /// Proves the address with its code: the code is spent, the address
    /// marked verified and the event audited, in one transaction.
    pub async fn verify_email(
        &self,
        user: Uuid,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let hash = self.code_hash(user, CodePurpose::Verify, code);
        let mut tx = self.begin().await?;
        if !code_matches(tx.as_mut(), user, CodePurpose::Verify, &hash, now).await? {
            tx.commit().await?;
            return Ok(false);
        }
        spend_code(tx.as_mut(), user, CodePurpose::Verify).await?;
        mark_verified(tx.as_mut(), user, now).await?;
        append(
            tx.as_mut(),
            &Event::user("email_verified", user, serde_json::json!({})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Sets a new password with a reset code: the code is spent, the
    /// password set, every session ended, the address marked verified (the
    /// code proved it) and the login throttle of `throttle_key` cleared, in
    /// one transaction. `false` (nothing changed but a counted try) when
    /// the code does not match.
    pub async fn reset_password(
        &self,
        user: Uuid,
        code: &str,
        phc: &str,
        throttle_key: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const USER_PASSWORD_SET: &str =
            "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1";
        let hash = self.code_hash(user, CodePurpose::Reset, code);
        let mut tx = self.begin().await?;
        if !code_matches(tx.as_mut(), user, CodePurpose::Reset, &hash, now).await? {
            tx.commit().await?;
            return Ok(false);
        }
        spend_code(tx.as_mut(), user, CodePurpose::Reset).await?;
        tx.execute(
            USER_PASSWORD_SET,
            vec![user.into(), phc.into(), ms(now).into()],
        )
        .await?;
        mark_verified(tx.as_mut(), user, now).await?;
        tx.execute(
            crate::store::sessions::THROTTLE_CLEAR,
            vec![throttle_key.into()],
        )
        .await?;
        let ended = revoke_others(tx.as_mut(), user, None, false, now).await?;
        append(
            tx.as_mut(),
            &Event::user(
                "password_reset",
                user,
                serde_json::json!({ "sessions_ended": ended }),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
