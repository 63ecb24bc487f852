//! Listeners: callback interfaces with `on_update`, and the handle that
//! stops them.

use std::sync::{Arc, OnceLock};

use crate::types::SessionState;

/// Receives session state changes.
#[uniffi::export(foreign)]
pub trait SessionListener: Send + Sync {
    /// The new state (the current one first, on subscription).
    fn on_update(&self, state: SessionState);
}

/// Receives sync status changes.
#[uniffi::export(foreign)]
pub trait SyncListener: Send + Sync {
    /// The new status (the current one first, on subscription).
    fn on_update(&self, status: crate::types::SyncStatus);
}

/// A running subscription; dropping or cancelling it stops the updates.
#[derive(Debug, uniffi::Object)]
pub struct TaskHandle(pub(crate) tokio::task::JoinHandle<()>);

#[uniffi::export]
impl TaskHandle {
    /// Stops the subscription now.
    pub fn cancel(&self) {
        self.0.abort();
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The runtime that drives listener tasks (calls from the app need not be
/// made on a tokio thread).
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("praxis-listeners")
            .enable_all()
            .build()
            .expect("a tokio runtime with one worker can be built")
    })
}

/// Forwards every value of `rx` (the current one first) to `listener`.
pub(crate) fn watch<T, U>(
    mut rx: tokio::sync::watch::Receiver<T>,
    on_update: impl Fn(U) + Send + 'static,
) -> Arc<TaskHandle>
where
    T: Clone + Send + Sync + 'static,
    U: From<T>,
{
    let task = runtime().spawn(async move {
        loop {
            let value = rx.borrow_and_update().clone();
            on_update(value.into());
            if rx.changed().await.is_err() {
                break;
            }
        }
    });
    Arc::new(TaskHandle(task))
}
