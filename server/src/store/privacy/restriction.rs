//! Restriction of processing: a restricted account's data is kept but not
//! changed (withdrawing consent stays possible). Writers check it under the
//! account's row lock so a restriction cannot slip in before they commit.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{Row, Statement, StoreError, Tx, ms};

pub(crate) const SHARES_DELETE_OF_USER: &str = "DELETE FROM location_shares WHERE user_id = ?1";

/// Whether processing of `user`'s account is restricted.
pub(in crate::store) async fn restricted(tx: &mut dyn Tx, user: Uuid) -> Result<bool, StoreError> {
    const USER_RESTRICTED: &str = "SELECT restricted_at FROM users WHERE id = ?1";
    restricted_by(tx, user, USER_RESTRICTED).await
}

/// The statement that reads whether `user`'s account is restricted,
/// holding the account's row until commit (a restriction set meanwhile
/// waits for this transaction), for a caller that sends it with others
/// ([`Tx::query_all`]); its rows are read by [`restricted_in`].
pub(in crate::store) fn restricted_locked_query(user: Uuid) -> Statement {
    const USER_RESTRICTED_LOCKED: &str =
        "SELECT restricted_at FROM users WHERE id = ?1 /*FOR UPDATE*/";
    (USER_RESTRICTED_LOCKED, vec![user.into()])
}

async fn restricted_by(
    tx: &mut dyn Tx,
    user: Uuid,
    query: &'static str,
) -> Result<bool, StoreError> {
    restricted_in(&tx.query(query, vec![user.into()]).await?)
}

/// Whether the account row read by a restriction query is restricted.
pub(in crate::store) fn restricted_in(rows: &[Row]) -> Result<bool, StoreError> {
    Ok(rows
        .first()
        .map(|r| r.opt_i64(0))
        .transpose()?
        .flatten()
        .is_some())
}

impl Store {
    /// Whether processing of the account is restricted.
    pub async fn is_restricted(&self, user: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin_read().await?;
        let r = restricted(&mut *tx, user).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Restricts processing of the account, or lifts the restriction.
    /// Restricting ends the user's live shares at once.
    pub async fn set_restricted(
        &self,
        user: Uuid,
        restricted: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const USER_SET_RESTRICTED: &str = "UPDATE users SET restricted_at = ?2 WHERE id = ?1";
        let mut tx = self.begin().await?;
        tx.execute(
            USER_SET_RESTRICTED,
            vec![user.into(), restricted.then(|| ms(now)).into()],
        )
        .await?;
        if restricted {
            tx.execute(SHARES_DELETE_OF_USER, vec![user.into()]).await?;
        }
        crate::store::vault::note(&*tx, crate::store::Change::Privacy(user))?;
        tx.commit().await
    }
}
