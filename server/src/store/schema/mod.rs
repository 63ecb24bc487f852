//! Versioned migrations, run at start inside one transaction per run.
//!
//! On PostgreSQL an advisory lock serialises concurrent starts of several
//! replicas; on SQLite `BEGIN IMMEDIATE` does the same.

mod seal;

use crate::store::backend::{Db, Dialect, StoreError};
use crate::store::sql;
use crate::store::vault::Vault;
use std::sync::Arc;

/// The migration after which plaintext rows are sealed.
const SEAL_AFTER: u32 = 7;

/// Applies every migration newer than the database's version.
pub(crate) async fn run(
    db: &dyn Db,
    vault: &Arc<Vault>,
    now_ms: i64,
) -> Result<Vec<u32>, StoreError> {
    let mut tx: Box<dyn crate::store::Tx> = Box::new(crate::store::vault::VaultTx {
        inner: db.begin().await?,
        vault: vault.clone(),
    });
    if db.dialect() == Dialect::Postgres {
        tx.execute(sql::PG_MIGRATION_LOCK, vec![]).await?;
    }
    tx.execute(sql::MIGRATIONS_TABLE, vec![]).await?;
    let applied: Vec<i64> = tx
        .query(sql::MIGRATION_VERSIONS, vec![])
        .await?
        .iter()
        .map(|r| r.i64(0))
        .collect::<Result<_, _>>()?;
    let mut ran = Vec::new();
    for &(version, ddl) in sql::MIGRATIONS {
        if applied.contains(&i64::from(version)) {
            continue;
        }
        let ddl = match db.dialect() {
            Dialect::Sqlite => ddl.to_owned(),
            Dialect::Postgres => ddl.replace(" BLOB ", " BYTEA "),
        };
        tx.batch(ddl)
            .await
            .map_err(|_| StoreError::Migration(version))?;
        if version == SEAL_AFTER {
            // Rows written in clear before encryption at rest are sealed
            // before the next version drops the plaintext columns.
            vault.load(&mut *tx, now_ms).await?;
            seal::seal(&mut *tx, vault, now_ms).await?;
        }
        tx.execute(
            sql::MIGRATION_RECORD,
            vec![i64::from(version).into(), now_ms.into()],
        )
        .await?;
        ran.push(version);
    }
    tx.commit().await?;
    Ok(ran)
}
