//! The post-mortem directive: what the user wants done with their data
//! after their death, sealed under their own key (so it dies with the
//! account's erasure like everything else). Without one, the default is
//! erasure. The operator's `admin deceased` reads it and applies it.

use chrono::{DateTime, Utc};
use praxis_protocol::notice::{PostMortemDirective, PostMortemRequest};
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{StoreError, at, ms};

/// The associated data of a directive's seal.
fn context(user: Uuid) -> String {
    format!("post_mortem_directives/{user}")
}

impl Store {
    /// The directive in force: the user's, or the default (erasure).
    pub async fn post_mortem(&self, user: Uuid) -> Result<PostMortemDirective, StoreError> {
        const DIRECTIVE_OF: &str =
            "SELECT sealed, updated_at FROM post_mortem_directives WHERE user_id = ?1";
        let rows = self.db.query(DIRECTIVE_OF, vec![user.into()]).await?;
        let Some(r) = rows.first() else {
            return Ok(PostMortemDirective::default_erasure());
        };
        let plain = self
            .open_read(user, &context(user), r.text("sealed")?)
            .await?;
        let req: PostMortemRequest =
            serde_json::from_str(&plain).map_err(|_| StoreError::Decode("post-mortem"))?;
        Ok(PostMortemDirective {
            action: req.action,
            recipient: req.recipient,
            message: req.message,
            updated_at: Some(at(r.i64("updated_at")?)?),
        })
    }

    /// Records the directive (checked by the caller), replacing any.
    pub async fn set_post_mortem(
        &self,
        user: Uuid,
        req: &PostMortemRequest,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const DIRECTIVE_UPSERT: &str = "INSERT INTO post_mortem_directives (user_id, sealed, updated_at) VALUES (?1, ?2, ?3) ON CONFLICT (user_id) DO UPDATE SET sealed = ?2, updated_at = ?3";
        let json = serde_json::to_string(req).map_err(|_| StoreError::Decode("post-mortem"))?;
        let mut tx = self.begin().await?;
        let sealed =
            crate::store::vault::seal_for(&mut *tx, user, &context(user), &json, ms(now)).await?;
        tx.execute(
            DIRECTIVE_UPSERT,
            vec![user.into(), sealed.into(), ms(now).into()],
        )
        .await?;
        tx.commit().await
    }

    /// Removes the directive (erasure applies again); whether there was one.
    pub async fn delete_post_mortem(&self, user: Uuid) -> Result<bool, StoreError> {
        const DIRECTIVE_DELETE: &str = "DELETE FROM post_mortem_directives WHERE user_id = ?1";
        let mut tx = self.begin().await?;
        let n = tx.execute(DIRECTIVE_DELETE, vec![user.into()]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }
}
