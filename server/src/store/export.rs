//! Reads for the data export: everything held about one user, the large
//! collections a page at a time so the export is streamed, never built
//! whole in memory.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::StoreError;
use crate::store::backend::at;
use crate::sync::user_scope;

/// Records of one collection per page.
pub const EXPORT_PAGE: i64 = 1000;

impl Store {
    /// The user's memberships: organisation, name, role, when joined,
    /// whether an admin switched location off for them.
    pub async fn memberships(&self, user: Uuid) -> Result<Vec<Value>, StoreError> {
        const MEMBERSHIPS_OF_USER: &str = "SELECT o.id, o.name, m.role, m.joined_at, m.location_enabled FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?1 ORDER BY m.joined_at, o.id";
        self.db
            .query(MEMBERSHIPS_OF_USER, vec![user.into()])
            .await?
            .iter()
            .map(|r| {
                Ok(json!({
                    "org_id": r.text("id")?,
                    "name": r.text("name")?,
                    "role": r.text("role")?,
                    "joined_at": at(r.i64("joined_at")?)?,
                    "location_enabled": r.i64("location_enabled")? != 0,
                }))
            })
            .collect()
    }

    /// A page of the live records of one collection in the user's scope,
    /// after sequence `after`, as `{id, ...fields}` objects, with the last
    /// sequence read.
    pub async fn export_page(
        &self,
        user: Uuid,
        collection: &str,
        after: i64,
    ) -> Result<(Vec<Value>, i64), StoreError> {
        const EXPORT_RECORDS: &str = "SELECT record_id, seq, fields FROM sync_records WHERE scope = ?1 AND collection = ?2 AND deleted IS NULL AND seq > ?3 ORDER BY seq LIMIT ?4";
        let rows = self
            .db
            .query(
                EXPORT_RECORDS,
                vec![
                    user_scope(user).into(),
                    collection.into(),
                    after.into(),
                    EXPORT_PAGE.into(),
                ],
            )
            .await?;
        let mut last = after;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            last = r.i64("seq")?;
            let mut obj = Map::new();
            let id = r.text("record_id")?;
            obj.insert("id".into(), Value::from(id.clone()));
            for (k, f) in self
                .open_fields_read(user, collection, &id, r.text("fields")?)
                .await?
            {
                obj.insert(k, f.v);
            }
            out.push(Value::Object(obj));
        }
        Ok((out, last))
    }

    /// The latest positions of the user's live shares.
    pub async fn my_positions(&self, user: Uuid) -> Result<Vec<Value>, StoreError> {
        const POSITIONS_OF_USER: &str = "SELECT s.id, p.position FROM location_shares s LEFT JOIN location_positions p ON p.share_id = s.id WHERE s.user_id = ?1 ORDER BY s.started_at, s.id";
        let rows = self.db.query(POSITIONS_OF_USER, vec![user.into()]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let share = r.uuid("id")?;
            let pos: Value = match r.opt_text("position")? {
                Some(t) => {
                    let t = self
                        .open_read(
                            user,
                            &crate::store::privacy::sharing::position_context(share),
                            t,
                        )
                        .await?;
                    serde_json::from_str(&t).map_err(|_| StoreError::Decode("position"))?
                }
                None => Value::Null,
            };
            out.push(json!({ "share_id": share, "position": pos }));
        }
        Ok(out)
    }

    /// Whom the user blocked.
    pub async fn blocked_by(&self, user: Uuid) -> Result<Vec<Uuid>, StoreError> {
        const BLOCKS_OF_USER: &str =
            "SELECT blocked_id FROM contact_blocks WHERE user_id = ?1 ORDER BY blocked_id";
        self.db
            .query(BLOCKS_OF_USER, vec![user.into()])
            .await?
            .iter()
            .map(|r| r.uuid(0))
            .collect()
    }
}
