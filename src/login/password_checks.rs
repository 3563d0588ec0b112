//! argon2id takes 19 MiB and tens of milliseconds per check, so checks run on their own
//! threads, one per two cores: a login flood queues there instead of filling the blocking
//! pool (and memory), and the other half of the machine keeps serving everything else
//! (README, performance section). The queue is bounded too: beyond `capacity` checks
//! waiting, a login is refused at once with "busy, try again" instead of waiting seconds
//! behind a flood.

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum PasswordCheckError {
    /// Too many checks are waiting: shed this one now.
    #[error("too many password checks are waiting")]
    Busy,
    /// The password-check threads did not return an answer (a check panicked, or the
    /// pool is shutting down). Not a database failure, and not reported as one.
    #[error("the password-check threads gave no answer")]
    Gone,
}

pub struct PasswordChecks {
    pool: rayon_core::ThreadPool,
    queued: AtomicUsize,
    capacity: usize,
}

impl PasswordChecks {
    #[allow(
        clippy::expect_used,
        reason = "runs once while the service starts: without these threads no password can be checked"
    )]
    pub fn new(capacity: usize) -> PasswordChecks {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let threads = (cores / 2).max(1);
        let pool = rayon_core::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("argon2-{i}"))
            .build()
            .expect("starting the password-check threads");
        PasswordChecks {
            pool,
            queued: AtomicUsize::new(0),
            capacity: capacity.max(1),
        }
    }

    /// Runs `work` on the password threads and waits for it without blocking a worker.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordCheckError> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(PasswordCheckError::Busy);
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let _ = sender.send(work());
        });
        let answer = receiver.await.map_err(|_| PasswordCheckError::Gone);
        self.queued.fetch_sub(1, Ordering::AcqRel);
        answer
    }
}
