//! `praxis sync`: send local changes and fetch everyone else's now, with
//! the outbox count shown while it runs; `praxis sync --watch`: the live
//! driver, a line after each sync, until interrupted.

use praxis_core::sync::{LiveOptions, SyncState};
use praxis_core::{Error, PraxisClient, SessionState};

use crate::output::Out;

pub(crate) async fn run(client: &PraxisClient, out: &Out) -> Result<(), Error> {
    let account = client.account();
    if account.user_id().is_none() {
        return Err(Error::NotSignedIn);
    }
    let bar = out.progress("Syncing", false);
    let sync = client.sync();
    let mut watch = sync.subscribe();
    let shown = bar.clone();
    let follow = tokio::spawn(async move {
        while watch.changed().await.is_ok() {
            shown.set_message(progress(&watch.borrow()));
        }
    });
    let status = sync.sync_now("cli").await;
    follow.abort();
    bar.finish_and_clear();
    let status = status?;
    out.sync(&status, client.clock_skew());
    outcome(client, status.state)
}

/// What a running sync has done so far, for the spinner.
fn progress(s: &praxis_core::sync::SyncStatus) -> String {
    format!(
        "Syncing: {} change(s) received, {} local change(s) to send",
        s.received, s.pending
    )
}

/// Follows the server's changes (the live driver: the change feed, and
/// local changes sent as they are made) until Ctrl-C or the end of the
/// session; a line after each completed sync (with how many changes it
/// received; none before the first), and when the state changes (offline,
/// failing); while a large pull runs, a spinner counts what has arrived
/// (on a terminal).
pub(crate) async fn watch(client: &PraxisClient, out: &Out) -> Result<(), Error> {
    let account = client.account();
    if account.user_id().is_none() {
        return Err(Error::NotSignedIn);
    }
    let bar = out.progress("Following", false);
    let sync = client.sync();
    let mut statuses = sync.subscribe();
    let mut sessions = account.subscribe();
    let live = sync.spawn_live(LiveOptions::default());
    let mut shown = None;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let ended = loop {
        tokio::select! {
            _ = &mut interrupted => break None,
            changed = sessions.changed() => {
                let state = *sessions.borrow_and_update();
                if changed.is_err() || !matches!(state, SessionState::SignedIn { .. }) {
                    break Some(state);
                }
            }
            changed = statuses.changed() => {
                if changed.is_err() {
                    break None;
                }
                let s = *statuses.borrow_and_update();
                let key = (s.state, s.last_success);
                // Idle and never synced: a status published before the
                // first cycle, nothing to report.
                let before_first = s.state == SyncState::Idle && s.last_success.is_none();
                if s.state == SyncState::Syncing {
                    bar.set_message(progress(&s));
                } else if shown != Some(key) && !before_first {
                    shown = Some(key);
                    bar.set_message("Following the server's changes");
                    bar.suspend(|| out.sync(&s, client.clock_skew()));
                }
            }
        }
    };
    live.abort();
    bar.finish_and_clear();
    match ended {
        None => Ok(()),
        Some(_) => outcome(client, SyncState::Error),
    }
}

/// The command's result for the state a sync ended in.
fn outcome(client: &PraxisClient, state: SyncState) -> Result<(), Error> {
    let account = client.account();
    match state {
        SyncState::Idle => Ok(()),
        SyncState::Offline => Err(Error::Network(praxis_core::NetworkError::Unreachable)),
        // Signed out (rather than asked to sign in again) during the
        // sync: the server said the account was erased, and the core
        // wiped this device.
        _ if account.user_id().is_none() && account.state() == SessionState::SignedOut => {
            Err(Error::AccountErased)
        }
        _ if account.state() == SessionState::Wiped => Err(Error::DeviceWiped),
        _ if account.user_id().is_none() => Err(Error::SessionExpired),
        _ => Err(Error::Protocol { status: 0 }),
    }
}
