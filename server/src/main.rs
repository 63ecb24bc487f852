//! `praxis-server`: runs the backend until SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use praxis_server::clock::SystemClock;
use praxis_server::config::{AdminCommand, Command, Config};
use praxis_server::store::{MasterKeys, Store, Vault};
use praxis_server::{AppState, Settings, serve_with_tls, telemetry};

/// mimalloc instead of glibc's malloc. In a profile of the push benchmark
/// (32 clients, SQLite) a third of the CPU time was glibc's allocator:
/// arena locks contended between the worker threads, free-chunk
/// consolidation; mimalloc keeps a heap per thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    if let Some(Command::GenMasterKey { id }) = &config.command {
        println!("{}", MasterKeys::generate_line(id));
        return Ok(());
    }
    let master = config.master_keys()?;
    // Checked before the database is touched: a server that would serve
    // plain HTTP to the network does not start at all.
    let (tls, notice) = if config.command.is_none() {
        (config.tls()?, config.privacy_notice()?)
    } else {
        (None, None)
    };
    if let Some(m) = config.metrics_bind {
        praxis_server::metrics::check_bind(m, config.bind).map_err(anyhow::Error::msg)?;
    }
    if config.dev {
        tracing::warn!("development mode: the master key sits next to the data");
    }
    let db = config.open_db().await.context("opening the database")?;
    let backend = format!("{:?}", db.dialect());
    let store = Store::open(db, Vault::new(master), chrono::Utc::now())
        .await
        .context("migrating the database")?;
    if let Some(Command::Admin(cmd)) = &config.command {
        // The operator's export names the notice in force when it is
        // configured (the same file the server serves).
        let notice = match &config.privacy_notice {
            Some(p) => Some(praxis_server::notice::load(p)?),
            None => None,
        };
        return admin(
            &store,
            cmd.clone(),
            notice.as_ref().map(Into::into),
            config.mail()?,
        )
        .await;
    }
    if let Some(Command::RewrapKeys) = config.command {
        let n = store.rewrap_keys().await.context("rewrapping keys")?;
        println!("{n} keys rewrapped under the current master key");
        return Ok(());
    }
    if let Some(Command::VerifyAudit) = config.command {
        let check = store
            .verify_audit()
            .await
            .context("reading the audit log")?;
        return match check.broken_at {
            None => {
                println!("audit log intact: {} entries", check.entries);
                Ok(())
            }
            Some(seq) => {
                println!(
                    "audit log BROKEN at entry {seq} ({} entries intact before it)",
                    check.entries
                );
                std::process::exit(1)
            }
        };
    }
    let now = chrono::Utc::now();
    for (purpose, version) in &config.policy_versions {
        if store
            .publish_policy_version(*purpose, *version, now)
            .await
            .context("publishing policy versions")?
        {
            tracing::info!(
                purpose = purpose.as_str(),
                version,
                "policy version published"
            );
        }
    }
    let mail = config.mail()?;
    if mail.is_none() {
        tracing::warn!(
            "no mail server configured (--smtp-url): addresses stay unverified and password reset sends nothing"
        );
    }
    let privacy_notice = praxis_server::notice::NoticeCell::default();
    let notice_reloader = match (notice, &config.privacy_notice) {
        (Some(n), Some(path)) => {
            privacy_notice.set(n);
            Some(privacy_notice.spawn_reloader(path.clone()))
        }
        _ => {
            tracing::warn!("no privacy notice configured: serving the development placeholder");
            None
        }
    };
    let settings = Settings {
        privacy_notice,
        mail,
        registrations_per_client_per_hour: config.registrations_per_hour,
        push_kib_per_second: config.push_kib_per_second,
        push_gateway: config.push_gateway_url.clone(),
        ..Settings::default()
    };
    let state = AppState::new(store, Arc::new(SystemClock), settings);
    let jobs = tokio::spawn(praxis_server::jobs::run_forever(state.clone()));
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let reloader = tls.as_ref().map(praxis_server::tls::Tls::spawn_reloader);
    let metrics = match config.metrics_bind {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener {addr}"))?;
            tracing::info!(addr = %l.local_addr()?, "metrics listening");
            let s = state.clone();
            Some(tokio::spawn(async move {
                if let Err(e) = praxis_server::metrics::serve(l, s, std::future::pending()).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            }))
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %listener.local_addr()?, backend, scheme, "praxis-server listening");
    serve_with_tls(listener, state, config.limits(), tls, shutdown_signal()).await?;
    for r in [reloader, notice_reloader].into_iter().flatten() {
        r.abort();
    }
    if let Some(m) = metrics {
        m.abort();
    }
    jobs.abort();
    tracing::info!("praxis-server stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

/// `praxis-server admin …` (see `praxis_server::operator`).
async fn admin(
    store: &Store,
    cmd: AdminCommand,
    notice: Option<praxis_protocol::notice::NoticeVersion>,
    mail: Option<praxis_server::mail::MailConfig>,
) -> anyhow::Result<()> {
    use praxis_server::operator::{erase_user, export_user, find_user, restrict_user};
    let now = chrono::Utc::now();
    match cmd {
        AdminCommand::ConsentAudience {
            purpose,
            reason,
            case,
        } => {
            let list = praxis_server::operator::consent_audience(
                store,
                purpose,
                reason,
                case.as_deref(),
                now,
            )
            .await?;
            for m in &list {
                println!("{}\t{}", m.id, m.verified_email.as_deref().unwrap_or(""));
            }
            eprintln!("{} accounts consent to {}", list.len(), purpose.as_str());
        }
        AdminCommand::Deceased { user, case, yes } => {
            let id = find_user(store, &user).await?;
            anyhow::ensure!(
                yes,
                "this applies account {id}'s post-mortem directive and erases the account: run again with --yes"
            );
            let action = praxis_server::operator::apply_post_mortem(
                store,
                id,
                mail.as_ref(),
                case.as_deref(),
                now,
                notice,
            )
            .await?;
            println!(
                "{id}: {} then erased",
                match action {
                    praxis_protocol::notice::PostMortemAction::Erase => "directive: erase;",
                    praxis_protocol::notice::PostMortemAction::HandOver => "export handed over;",
                }
            );
        }
        AdminCommand::ListUsers => {
            for (id, created) in store.list_users().await? {
                println!("{id}  {}", created.to_rfc3339());
            }
        }
        AdminCommand::ExportUser {
            user,
            out,
            reason,
            case,
        } => {
            let id = find_user(store, &user).await?;
            let bytes = export_user(store, id, &out, reason, case.as_deref(), now, notice).await?;
            println!("{id}: {bytes} bytes written to {}", out.display());
        }
        AdminCommand::RestrictUser {
            user,
            restricted,
            reason,
            case,
        } => {
            let id = find_user(store, &user).await?;
            restrict_user(store, id, restricted, reason, case.as_deref(), now).await?;
            println!(
                "{id}: processing {}",
                if restricted {
                    "restricted"
                } else {
                    "no longer restricted"
                }
            );
        }
        AdminCommand::EraseUser {
            user,
            reason,
            case,
            yes,
        } => {
            let id = find_user(store, &user).await?;
            anyhow::ensure!(
                yes,
                "this erases account {id} and everything about it: run again with --yes"
            );
            erase_user(store, id, reason, case.as_deref(), now).await?;
            println!("{id}: erased; its devices wipe themselves at their next contact");
        }
    }
    Ok(())
}
