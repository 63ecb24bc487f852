//! Objections to processing that rests on legitimate interest (GDPR Art.
//! 21). What that processing is, what an objection stops and what goes on
//! despite it (and why) are read from the processing register
//! (`docs/processing-register.json`, `legitimate_interests`), so the
//! answer a user gets is the register's word. One objection has effects
//! today: `connection_log`, which stops recording when each session was
//! last used (clearing what was kept) and the audit entries of successful
//! sign-ins.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use praxis_protocol::notice::Objection;
use serde::Deserialize;
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{StoreError, at, ms};

/// The objection that switches the connection log off.
pub const CONNECTION_LOG: &str = "connection_log";

/// One processing on legitimate interest, as the register states it.
#[derive(Debug, Clone, Deserialize)]
pub struct Interest {
    /// Its name.
    pub basis: String,
    /// What it is.
    pub processing: String,
    /// What an objection stops.
    pub stops: Vec<String>,
    /// What goes on despite an objection, and why.
    pub continues: Option<String>,
}

static INTERESTS: LazyLock<Vec<Interest>> = LazyLock::new(|| {
    #[derive(Deserialize)]
    struct Register {
        legitimate_interests: Vec<Interest>,
    }
    serde_json::from_str::<Register>(include_str!("../../../../docs/processing-register.json"))
        .map(|r| r.legitimate_interests)
        .unwrap_or_default()
});

/// Every processing on legitimate interest the register lists.
pub fn interests() -> &'static [Interest] {
    &INTERESTS
}

fn view(i: &Interest, since: Option<DateTime<Utc>>) -> Objection {
    Objection {
        basis: i.basis.clone(),
        processing: i.processing.clone(),
        objected: since.is_some(),
        since,
        stops: i.stops.clone(),
        continues: i.continues.clone(),
    }
}

impl Store {
    /// Whether `user` objects to `basis`.
    pub async fn objects(&self, user: Uuid, basis: &str) -> Result<bool, StoreError> {
        const OBJECTION_OF: &str = "SELECT 1 FROM objections WHERE user_id = ?1 AND basis = ?2";
        Ok(!self
            .db
            .query(OBJECTION_OF, vec![user.into(), basis.into()])
            .await?
            .is_empty())
    }

    /// Every basis with where the user stands on it.
    pub async fn objections(&self, user: Uuid) -> Result<Vec<Objection>, StoreError> {
        const OBJECTIONS_OF: &str = "SELECT basis, objected_at FROM objections WHERE user_id = ?1";
        let mut since = BTreeMap::new();
        for r in self.db.query(OBJECTIONS_OF, vec![user.into()]).await? {
            since.insert(r.text("basis")?, at(r.i64("objected_at")?)?);
        }
        Ok(interests()
            .iter()
            .map(|i| view(i, since.get(&i.basis).copied()))
            .collect())
    }

    /// Records (or withdraws) an objection and applies it in the same
    /// transaction; `None` for a basis the register does not list.
    pub async fn set_objection(
        &self,
        user: Uuid,
        basis: &str,
        objected: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Objection>, StoreError> {
        const OBJECTION_INSERT: &str = "INSERT INTO objections (user_id, basis, objected_at) VALUES (?1, ?2, ?3) ON CONFLICT (user_id, basis) DO NOTHING";
        const OBJECTION_DELETE: &str = "DELETE FROM objections WHERE user_id = ?1 AND basis = ?2";
        const OBJECTION_SINCE: &str =
            "SELECT objected_at FROM objections WHERE user_id = ?1 AND basis = ?2";
        const SESSIONS_FORGET_USE: &str =
            "UPDATE token_families SET last_used_at = NULL WHERE user_id = ?1";
        let Some(interest) = interests().iter().find(|i| i.basis == basis) else {
            return Ok(None);
        };
        let mut tx = self.begin().await?;
        if objected {
            tx.execute(
                OBJECTION_INSERT,
                vec![user.into(), basis.into(), ms(now).into()],
            )
            .await?;
            if basis == CONNECTION_LOG {
                tx.execute(SESSIONS_FORGET_USE, vec![user.into()]).await?;
            }
        } else {
            tx.execute(OBJECTION_DELETE, vec![user.into(), basis.into()])
                .await?;
        }
        let since = tx
            .query(OBJECTION_SINCE, vec![user.into(), basis.into()])
            .await?
            .first()
            .map(|r| r.i64(0).and_then(at))
            .transpose()?;
        tx.commit().await?;
        Ok(Some(view(interest, since)))
    }
}
