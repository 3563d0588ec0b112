//! The pool, and the one helper that runs blocking Diesel work off the async workers —
//! with a time budget, so a database that stops answering (a frozen server, a network
//! partition) costs a request its budget and a 503, never a hang (T-57).
//!
//! While the database is known to be down, work fails at once instead of each request
//! waiting out its budget; one probe a second finds out when it is back. The state change
//! is logged once each way, not once per request or per pool retry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::r2d2;

use super::connection::{DbConn, Manager};
use super::{DatabaseUrl, DbError};

pub type PooledConn = r2d2::PooledConnection<Manager>;

/// How long a request may spend on the database unless `DATABASE_TIMEOUT_MS` says otherwise.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(5);
/// While down, one request a second is let through to find out whether it is back.
const PROBE_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct DbPool {
    inner: r2d2::Pool<Manager>,
    health: Arc<Health>,
    budget: Duration,
    workers: Workers,
}

impl DbPool {
    /// Connections handed out and connections waiting in the pool, for `/metrics`.
    pub fn connections(&self) -> (u32, u32) {
        let state = self.inner.state();
        (
            state.connections - state.idle_connections,
            state.idle_connections,
        )
    }

    /// A connection, waiting for one at most the pool's checkout timeout.
    pub fn get(&self) -> Result<PooledConn, r2d2::PoolError> {
        self.inner.get()
    }

    pub fn budget(&self) -> Duration {
        self.budget
    }
}

/// The pool of `url`, at most `max_size` connections; each request's database work gets
/// `budget`, a checkout at most half of it.
pub fn connect_pool(url: &DatabaseUrl, max_size: u32, budget: Duration) -> Result<DbPool, DbError> {
    let inner = r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout((budget / 2).max(Duration::from_millis(100)))
        // r2d2 would run a ping query before every checkout, doubling the queries of the
        // hot path; a connection that broke is noticed by `has_broken` instead.
        .test_on_check_out(false)
        // r2d2 logs every failed connection attempt (over a hundred lines in 30 s of an
        // outage); the outage is reported once by `Health` instead.
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .build(Manager::new(url.clone(), budget))?;
    Ok(DbPool {
        workers: Workers::start(inner.max_size() as usize).map_err(DbError::Threads)?,
        inner,
        health: Arc::new(Health::default()),
        budget,
    })
}

/// Database work waiting for a thread; beyond this many, a request is answered 503 at once.
const QUEUE: usize = 1024;

type Job = Box<dyn FnOnce() + Send>;

/// The threads that run Diesel work, one per pooled connection: a job never holds a thread
/// while it waits for a connection, and the waiting happens in one bounded queue. (Tokio's
/// blocking pool grew a thread per waiting request — 32 under the benchmark's load for 4
/// connections — each parked on the pool's lock and woken in turn.)
#[derive(Clone)]
struct Workers {
    jobs: crossbeam_channel::Sender<Job>,
    /// The queue was full at the last try: logged once when it fills, once when it drains.
    full: Arc<AtomicBool>,
}

impl Workers {
    /// The threads end when the last clone of the pool is dropped.
    fn start(count: usize) -> Result<Workers, std::io::Error> {
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(QUEUE);
        for i in 0..count {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("db-{i}"))
                .spawn(move || {
                    for job in queue {
                        // A panic ends its job (the request gets `Cancelled`), not the thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })?;
        }
        Ok(Workers {
            jobs,
            full: Arc::new(AtomicBool::new(false)),
        })
    }

    fn submit(&self, job: Job) -> Result<(), DbError> {
        match self.jobs.try_send(job) {
            Ok(()) => {
                if self.full.load(Ordering::Relaxed) && self.full.swap(false, Ordering::Relaxed) {
                    tracing::info!("the database work queue takes work again");
                }
                Ok(())
            }
            Err(_) => {
                if !self.full.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        queue = QUEUE,
                        "the database work queue is full: answering 503 until it drains"
                    );
                }
                Err(DbError::Busy)
            }
        }
    }
}

/// Runs `f` with a pooled connection on one of the pool's threads, so that a slow query
/// (or a pool wait) never stalls an async worker, and gives up after the pool's budget. A
/// query that does not come back keeps its thread and its connection until it does; the
/// pool's size bounds how many can.
pub async fn run<T, E, F>(pool: &DbPool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    run_within(pool, pool.budget, f).await
}

/// `run` with another budget (a readiness probe must answer quickly).
pub async fn run_within<T, E, F>(pool: &DbPool, budget: Duration, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    if !pool.health.admit() {
        return Err(DbError::Down.into());
    }
    let inner = pool.inner.clone();
    let health = pool.health.clone();
    let (answer, work) = tokio::sync::oneshot::channel();
    // What the work logs belongs to the request that asked for it (its request id).
    let span = tracing::Span::current();
    let job: Job = Box::new(move || {
        let _request = span.enter();
        // The request gave up (its budget ran out in the queue): its work is not done
        // after it was answered 503.
        if answer.is_closed() {
            return;
        }
        let result = inner
            .get()
            .map_err(|error| {
                health.failed(&error);
                E::from(DbError::from(error))
            })
            .and_then(|mut conn| {
                let result = f(&mut conn);
                if result.is_err() && Manager::broken(&mut conn) {
                    health.failed(&"the connection broke during a query");
                } else {
                    health.succeeded();
                }
                result
            });
        let _ = answer.send(result);
    });
    pool.workers.submit(job)?;
    match tokio::time::timeout(budget, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(DbError::Cancelled.into()),
        Err(_) => {
            pool.health
                .failed(&format_args!("no answer within {budget:?}"));
            Err(DbError::Timeout.into())
        }
    }
}

/// Up, or down and when to probe next. The flag keeps the hot path (the database is up)
/// free of locks.
#[derive(Default)]
struct Health {
    down: AtomicBool,
    next_probe: Mutex<Option<Instant>>,
}

impl Health {
    /// Whether to try the database now: always while it is up; while it is down, once a
    /// second (that request is the probe).
    fn admit(&self) -> bool {
        if !self.down.load(Ordering::Relaxed) {
            return true;
        }
        let mut next_probe = self.next_probe.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if next_probe.is_none_or(|at| now >= at) {
            *next_probe = Some(now + PROBE_EVERY);
            true
        } else {
            false
        }
    }

    fn failed(&self, why: &dyn std::fmt::Display) {
        let mut next_probe = self.next_probe.lock().unwrap_or_else(|p| p.into_inner());
        *next_probe = Some(Instant::now() + PROBE_EVERY);
        if !self.down.swap(true, Ordering::Relaxed) {
            // One line, even when libpq's message spans several.
            let why = why.to_string().replace('\n', " ");
            tracing::error!(error = %why.trim(), "the database is not answering; failing fast until it does");
        }
    }

    fn succeeded(&self) {
        // A load first: the usual case (up) then writes nothing shared.
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("the database answers again");
        }
    }
}
