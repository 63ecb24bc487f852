//! Versioned migrations, run at start inside one transaction per run.
//!
//! On PostgreSQL an advisory lock serialises concurrent starts of several
//! replicas; on SQLite `BEGIN IMMEDIATE` does the same.

mod seal;

use crate::store::backend::{Db, Dialect, StoreError};
use crate::store::vault::Vault;
use std::sync::Arc;

/// Schema migrations, applied in order at start; never edit a released one.
pub const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("v1_accounts_and_orgs.sql")),
    (2, include_str!("v2_sync.sql")),
    (3, include_str!("v3_consent_and_location.sql")),
    (4, include_str!("v4_contacts.sql")),
    (5, include_str!("v5_audit.sql")),
    (6, include_str!("v6_erasure.sql")),
    (7, include_str!("v7_encryption.sql")),
    (8, include_str!("v8_drop_plaintext.sql")),
    (9, include_str!("v9_job_leases.sql")),
    (10, include_str!("v10_wakeups.sql")),
    (11, include_str!("v11_devices.sql")),
    (12, include_str!("v12_email_codes.sql")),
    (13, include_str!("v13_held_visit_events.sql")),
    (14, include_str!("v14_objections.sql")),
    (15, include_str!("v15_post_mortem.sql")),
];

/// The migration after which plaintext rows are sealed.
const SEAL_AFTER: u32 = 7;

/// Applies every migration newer than the database's version.
pub(crate) async fn run(
    db: &dyn Db,
    vault: &Arc<Vault>,
    now_ms: i64,
) -> Result<Vec<u32>, StoreError> {
    const PG_MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7468201)";
    const MIGRATION_RECORD: &str =
        "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)";
    const MIGRATION_VERSIONS: &str = "SELECT version FROM schema_migrations ORDER BY version";
    const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";
    let mut tx: Box<dyn crate::store::Tx> = Box::new(crate::store::vault::VaultTx::new(
        db.begin_bulk().await?,
        vault.clone(),
        Arc::new(crate::store::feed::Feed::new(None)),
    ));
    if db.dialect() == Dialect::Postgres {
        tx.execute(PG_MIGRATION_LOCK, vec![]).await?;
    }
    tx.execute(MIGRATIONS_TABLE, vec![]).await?;
    let applied: Vec<i64> = tx
        .query(MIGRATION_VERSIONS, vec![])
        .await?
        .iter()
        .map(|r| r.i64(0))
        .collect::<Result<_, _>>()?;
    let mut ran = Vec::new();
    for &(version, ddl) in MIGRATIONS {
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
            MIGRATION_RECORD,
            vec![i64::from(version).into(), now_ms.into()],
        )
        .await?;
        ran.push(version);
    }
    tx.commit().await?;
    Ok(ran)
}
