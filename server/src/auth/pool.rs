//! Where password hashes run: a fixed set of threads, one per core.
//!
//! An argon2id hash takes 19 MiB and tens of milliseconds. Run on tokio's
//! blocking pool, hundreds of unauthenticated logins at once would each
//! take a thread and 19 MiB; and even with their number capped, every
//! new blocking thread gets a malloc arena of its own that keeps its
//! 19 MiB after the hash (measured: 400 MiB of peak growth for 40 logins
//! with two at a time). Here a fixed set of threads does every hash, so
//! the memory is a few blocks reused, and a request waits for a free
//! thread only briefly (see `AppState::hashing`) before being told to come
//! back later.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads; dropping the pool lets them finish and exit.
#[derive(Debug)]
pub struct HashPool {
    jobs: Mutex<mpsc::Sender<Job>>,
    threads: usize,
}

impl HashPool {
    /// A pool of `threads` hashing threads (at least one).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("praxis-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = {
                            let Ok(rx) = rx.lock() else { return };
                            match rx.recv() {
                                Ok(job) => job,
                                Err(_) => return,
                            }
                        };
                        // A panicking job loses its answer (the caller
                        // sees an internal error), not the thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if spawned.is_err() {
                tracing::error!("could not start a password hashing thread");
            }
        }
        Self {
            jobs: Mutex::new(tx),
            threads,
        }
    }

    /// How many hashes can run at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on a hashing thread; `None` if the pool is gone.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        self.jobs.lock().ok()?.send(job).ok()?;
        result.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_on_its_own_threads() {
        let pool = HashPool::new(2);
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .expect("ran");
        assert!(name.is_some_and(|n| n.starts_with("praxis-hash-")));
        let sum: u32 = futures_util::future::join_all((0..8).map(|i| pool.run(move || i)))
            .await
            .into_iter()
            .map(|r| r.expect("ran"))
            .sum();
        assert_eq!(sum, 28);
    }
}
