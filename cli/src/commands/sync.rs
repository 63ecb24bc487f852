//! `praxis sync`: send local changes and fetch everyone else's now, with
//! the outbox count shown while it runs.

use praxis_core::{Error, PraxisClient};

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
            let pending = watch.borrow().pending;
            shown.set_message(format!("Syncing: {pending} local change(s) to send"));
        }
    });
    let status = sync.sync_now("cli").await;
    follow.abort();
    bar.finish_and_clear();
    let status = status?;
    out.sync(&status, client.clock_skew());
    match status.state {
        praxis_core::sync::SyncState::Idle => Ok(()),
        praxis_core::sync::SyncState::Offline => {
            Err(Error::Network(praxis_core::NetworkError::Unreachable))
        }
        // Signed out (rather than asked to sign in again) during the
        // sync: the server said the account was erased, and the core
        // wiped this device.
        _ if account.user_id().is_none()
            && account.state() == praxis_core::SessionState::SignedOut =>
        {
            Err(Error::AccountErased)
        }
        _ if account.user_id().is_none() => Err(Error::SessionExpired),
        _ => Err(Error::Protocol { status: 0 }),
    }
}
