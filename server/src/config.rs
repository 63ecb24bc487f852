//! Command line and environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use praxis_protocol::privacy::Purpose;

/// Published policy versions by purpose.
pub type PolicyVersions = std::collections::BTreeMap<Purpose, u32>;

use crate::store::{Db, StoreError, postgres::PostgresDb, sqlite::SqliteDb};

/// The Praxis backend.
#[derive(Debug, Clone, Parser)]
#[command(name = "praxis-server", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "PRAXIS_BIND", default_value = "127.0.0.1:8787")]
    pub bind: SocketAddr,
    /// Directory of the embedded SQLite database (created if missing).
    #[arg(long, env = "PRAXIS_DATA_DIR", default_value = "./praxis-data")]
    pub data_dir: PathBuf,
    /// A `postgres://` URL selects PostgreSQL instead of the embedded SQLite.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Largest PostgreSQL connection pool.
    #[arg(long, env = "PRAXIS_DB_POOL", default_value_t = 16)]
    pub db_pool: usize,
    /// Published privacy-policy versions, e.g.
    /// `location_visits=2,marketing=3`. Raising a purpose's version makes
    /// earlier consent to it stop counting until the user consents again.
    #[arg(long, env = "PRAXIS_POLICY_VERSIONS", default_value = "", value_parser = crate::routes::parse_policy_versions)]
    pub policy_versions: PolicyVersions,
    /// A maintenance command instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log format.
    #[arg(long, env = "PRAXIS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Maintenance commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Recompute the audit log's hash chain; exit 1 if any entry was
    /// edited or removed.
    VerifyAudit,
}

/// How logs are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Config {
    /// Opens the configured database backend.
    pub async fn open_db(&self) -> anyhow::Result<Arc<dyn Db>> {
        match &self.database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Ok(
                Arc::new(PostgresDb::connect(url, None, self.db_pool).await?),
            ),
            Some(_) => anyhow::bail!(
                "DATABASE_URL must be a postgres:// URL (unset it to use the embedded SQLite)"
            ),
            None => {
                std::fs::create_dir_all(&self.data_dir)?;
                let path = self.data_dir.join("praxis.sqlite3");
                Ok(Arc::new(
                    SqliteDb::open(&path).map_err(|e: StoreError| anyhow::anyhow!(e))?,
                ))
            }
        }
    }
}
