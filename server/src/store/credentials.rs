//! Credentials: changing the password (the caller's other sessions end in
//! the same transaction, and the change is on the audit chain).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::Store;
use crate::store::audit::{Event, append};
use crate::store::backend::{StoreError, ms};
use crate::store::sessions::revoke_others;

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
}
