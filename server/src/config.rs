//! Command line and environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use praxis_protocol::privacy::Purpose;

/// Published policy versions by purpose.
pub type PolicyVersions = std::collections::BTreeMap<Purpose, u32>;

use crate::store::{Db, MasterKeys, StoreError, postgres::PostgresDb, sqlite::SqliteDb};

/// Creates a file readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(text.as_bytes())
}

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
    /// Most client connections open at once; beyond it the server stops
    /// accepting until one closes.
    #[arg(long, env = "PRAXIS_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Seconds a client has to send a request's head (also the longest a
    /// kept-alive connection may sit idle).
    #[arg(long, env = "PRAXIS_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout_secs: u64,
    /// Accounts one client address (IPv6: its /64) may try to register per
    /// hour, per server process.
    #[arg(long, env = "PRAXIS_REGISTRATIONS_PER_HOUR", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub registrations_per_hour: u32,
    /// Push bytes one account may send per second, in KiB, sustained (per
    /// server process); bursts of 16 times as much pass. Beyond it `429`
    /// with `Retry-After`, which devices wait out.
    #[arg(long, env = "PRAXIS_PUSH_KIB_PER_SECOND", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub push_kib_per_second: u32,
    /// A push gateway (Matrix push-gateway style, relaying to FCM and
    /// APNs) to wake devices in the background when their data changes:
    /// `https://`, or `http://` on loopback. Unset: no wake-ups.
    #[arg(long, env = "PRAXIS_PUSH_GATEWAY_URL", value_parser = parse_gateway)]
    pub push_gateway_url: Option<url::Url>,
    /// The SMTP server for account emails (verification and password-reset
    /// codes): `smtps://user:password@host:465`, or
    /// `smtp://user:password@host:587?tls=required` (STARTTLS); plain
    /// `smtp://` only to loopback. Unset: with `--dev` messages are written
    /// to `<data-dir>/mail/`; otherwise no email is sent (addresses stay
    /// unverified and password reset sends nothing).
    #[arg(long, env = "PRAXIS_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of account emails.
    #[arg(
        long,
        env = "PRAXIS_MAIL_FROM",
        default_value = "Praxis <no-reply@localhost>"
    )]
    pub mail_from: String,
    /// Largest PostgreSQL connection pool.
    #[arg(long, env = "PRAXIS_DB_POOL", default_value_t = 16)]
    pub db_pool: usize,
    /// Published privacy-policy versions, e.g.
    /// `location_visits=2,marketing=3`. Raising a purpose's version makes
    /// earlier consent to it stop counting until the user consents again.
    #[arg(long, env = "PRAXIS_POLICY_VERSIONS", default_value = "", value_parser = crate::routes::parse_policy_versions)]
    pub policy_versions: PolicyVersions,
    /// File of master keys (`id:base64` lines, the current key first) that
    /// wrap the per-user data keys. See README, "Encryption at rest".
    #[arg(long, env = "PRAXIS_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Development mode: without a master key, one is created in
    /// `<data-dir>/dev-master.key`. Never for real data.
    #[arg(long)]
    pub dev: bool,
    /// PEM certificate chain (leaf first) to serve HTTPS with; needs
    /// `--tls-key`. Reloaded on `SIGHUP` and when the file changes.
    #[arg(long, env = "PRAXIS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "PRAXIS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address because a proxy in front
    /// terminates TLS (it must: the apps speak HTTPS only, off loopback).
    #[arg(long, env = "PRAXIS_BEHIND_PROXY", conflicts_with = "tls_cert")]
    pub behind_proxy: bool,
    /// Serve metrics (OpenMetrics text, `GET /metrics`) on this address:
    /// a loopback or private interface, never the API's listener nor
    /// every interface. Unset: no metrics listener.
    #[arg(long, env = "PRAXIS_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    /// The privacy notice (TOML: controller, privacy contact, DPO,
    /// supervisory authority, the notice's version, date and URL; see
    /// README, "Privacy notice"). Required to serve, except with `--dev`.
    #[arg(long, env = "PRAXIS_PRIVACY_NOTICE")]
    pub privacy_notice: Option<PathBuf>,
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
    /// Print a new random master key line (`id:base64`) and exit.
    GenMasterKey {
        /// The key's id, e.g. the date it was made.
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Rewrap every data and server key under the current (first) master
    /// key, after a rotation; older keys can then be removed.
    RewrapKeys,
    /// Act on one account for a request that arrived outside the apps
    /// (audited with the reason).
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// `praxis-server admin …`: operator commands on one account, found by id
/// or email. Each is audited with `--reason` (and `--case`, a reference
/// such as a ticket number: never personal data).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AdminCommand {
    /// Write everything held about the account to a new file (the same
    /// document as `GET /v1/me/export`).
    ExportUser {
        /// The account: its id or email address.
        #[arg(long)]
        user: String,
        /// The file to create.
        #[arg(long)]
        out: PathBuf,
        /// Why.
        #[arg(long, value_enum)]
        reason: crate::operator::Reason,
        /// A case reference for the audit log.
        #[arg(long, value_parser = crate::operator::case_ref)]
        case: Option<String>,
    },
    /// Restrict processing of the account (on) or lift it (off).
    RestrictUser {
        /// The account: its id or email address.
        #[arg(long)]
        user: String,
        /// on or off.
        #[arg(value_parser = on_off, action = clap::ArgAction::Set)]
        restricted: bool,
        /// Why.
        #[arg(long, value_enum)]
        reason: crate::operator::Reason,
        /// A case reference for the audit log.
        #[arg(long, value_parser = crate::operator::case_ref)]
        case: Option<String>,
    },
    /// Erase the account and everything about it, as the user's own
    /// erasure does (its devices wipe themselves at their next contact).
    EraseUser {
        /// The account: its id or email address.
        #[arg(long)]
        user: String,
        /// Why (minor, deceased, request or legal).
        #[arg(long, value_enum)]
        reason: crate::operator::Reason,
        /// A case reference for the audit log.
        #[arg(long, value_parser = crate::operator::case_ref)]
        case: Option<String>,
        /// Confirm without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Every account: ids and creation dates only.
    ListUsers,
    /// Apply the post-mortem directive of a user reported dead: erase
    /// (the default), or mail their export to the person they designated
    /// and then erase (needs the mail server, --smtp-url). Audited with
    /// the reason `deceased`.
    Deceased {
        /// The account: its id or email address.
        #[arg(long)]
        user: String,
        /// A case reference for the audit log (e.g. the death report).
        #[arg(long, value_parser = crate::operator::case_ref)]
        case: Option<String>,
        /// Confirm without asking.
        #[arg(long)]
        yes: bool,
    },
    /// The accounts that may be contacted (or counted) for a consent
    /// purpose: those whose latest consent grants the version published
    /// now, not restricted. One line per account: id, then the address
    /// when verified. Each listed account gets an audit entry.
    ConsentAudience {
        /// marketing or analytics (the purposes an operator acts on
        /// outside the apps).
        #[arg(long, value_parser = audience_purpose)]
        purpose: Purpose,
        /// Why.
        #[arg(long, value_enum, default_value = "campaign")]
        reason: crate::operator::Reason,
        /// A case reference for the audit log (e.g. the campaign).
        #[arg(long, value_parser = crate::operator::case_ref)]
        case: Option<String>,
    },
}

fn audience_purpose(s: &str) -> Result<Purpose, String> {
    match Purpose::parse(s) {
        Some(p @ (Purpose::Marketing | Purpose::Analytics)) => Ok(p),
        _ => Err("marketing or analytics".into()),
    }
}

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err("on or off".into()),
    }
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
    /// The mail settings (see `smtp_url`), checked.
    pub fn mail(&self) -> anyhow::Result<Option<crate::mail::MailConfig>> {
        use crate::mail::{MailConfig, MailTransport};
        let transport = match (&self.smtp_url, self.dev) {
            (Some(url), _) => MailTransport::Smtp(url.clone()),
            (None, true) => MailTransport::Files(self.data_dir.join("mail")),
            (None, false) => return Ok(None),
        };
        let config = MailConfig {
            transport,
            from: self.mail_from.clone(),
        };
        crate::mail::check(&config)?;
        Ok(Some(config))
    }

    /// The listener's TLS, from `--tls-cert`/`--tls-key`; `None` for
    /// plain HTTP, which is refused on a non-loopback address unless
    /// `--dev` or `--behind-proxy` says why.
    pub fn tls(&self) -> anyhow::Result<Option<crate::tls::Tls>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                let files = crate::tls::CertFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                };
                Ok(Some(crate::tls::Tls::load(files)?))
            }
            _ if self.bind.ip().is_loopback() || self.dev || self.behind_proxy => Ok(None),
            _ => anyhow::bail!(
                "refusing to serve plain HTTP on a non-loopback address: give --tls-cert and \
                 --tls-key, or --behind-proxy if a proxy in front terminates TLS"
            ),
        }
    }

    /// The privacy notice to serve: the configured file, checked; with
    /// `--dev` and no file, `None` (the development placeholder); else an
    /// error naming every field the notice needs.
    pub fn privacy_notice(&self) -> anyhow::Result<Option<praxis_protocol::notice::PrivacyNotice>> {
        match (&self.privacy_notice, self.dev) {
            (Some(path), _) => crate::notice::load(path).map(Some),
            (None, true) => Ok(None),
            (None, false) => anyhow::bail!(crate::notice::missing_message()),
        }
    }

    /// The listener's connection limits.
    pub fn limits(&self) -> crate::Limits {
        crate::Limits {
            max_connections: self.max_connections as usize,
            header_timeout: std::time::Duration::from_secs(self.header_timeout_secs),
            ..crate::Limits::default()
        }
    }

    /// The master keys: `PRAXIS_MASTER_KEY` (lines or comma-separated),
    /// else `--master-key-file`; in `--dev` mode only, a key file made in
    /// the data directory. Anything else refuses to start.
    pub fn master_keys(&self) -> anyhow::Result<MasterKeys> {
        use anyhow::Context as _;
        if let Ok(text) = std::env::var("PRAXIS_MASTER_KEY") {
            return MasterKeys::parse(&text).context("PRAXIS_MASTER_KEY");
        }
        if let Some(path) = &self.master_key_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the master key file {}", path.display()))?;
            return MasterKeys::parse(&text)
                .with_context(|| format!("the master key file {}", path.display()));
        }
        if !self.dev {
            anyhow::bail!(
                "no master key: set PRAXIS_MASTER_KEY_FILE (or --master-key-file) to a file made \
                 with `praxis-server gen-master-key > master.key`, or run with --dev for local \
                 development"
            );
        }
        std::fs::create_dir_all(&self.data_dir)?;
        let path = self.data_dir.join("dev-master.key");
        if !path.exists() {
            let line = format!(
                "# development only: praxis-server --dev made this key\n{}\n",
                MasterKeys::generate_line("dev")
            );
            write_private(&path, &line).with_context(|| format!("writing {}", path.display()))?;
        }
        let text = std::fs::read_to_string(&path)?;
        MasterKeys::parse(&text).with_context(|| format!("the master key file {}", path.display()))
    }

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

fn parse_gateway(raw: &str) -> Result<url::Url, String> {
    crate::push::check_gateway_url(raw).map_err(str::to_owned)
}
