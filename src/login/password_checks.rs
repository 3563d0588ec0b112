//! argon2id takes 19 MiB and tens of milliseconds per check, so checks run on their own
//! threads, one per two cores: a login flood queues there instead of filling the blocking
//! pool (and memory), and the other half of the machine keeps serving everything else
//! (README, performance section).

/// The password-check threads did not return an answer (a check panicked, or the pool is
/// shutting down). Not a database failure, and not reported as one.
#[derive(Debug, thiserror::Error)]
#[error("the password-check threads gave no answer")]
pub struct PasswordChecksGone;

pub struct PasswordChecks {
    pool: rayon_core::ThreadPool,
}

impl PasswordChecks {
    pub fn new() -> PasswordChecks {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let threads = (cores / 2).max(1);
        let pool = rayon_core::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("argon2-{i}"))
            .build()
            .expect("starting the password-check threads");
        PasswordChecks { pool }
    }

    /// Runs `work` on the password threads and waits for it without blocking a worker.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordChecksGone> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let _ = sender.send(work());
        });
        receiver.await.map_err(|_| PasswordChecksGone)
    }
}

impl Default for PasswordChecks {
    fn default() -> Self {
        PasswordChecks::new()
    }
}
