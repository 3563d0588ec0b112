//! Login sessions end (their refresh tokens with them) but their rows would stay forever:
//! a task removes those that ended more than a day ago, at start-up and then every ten
//! minutes, in batches of a thousand. A day of ended sessions is kept for the
//! admins' questions ("was I logged in yesterday?"). On PostgreSQL the same task drops the
//! shared limits' ended windows.

use std::time::Duration;

use chrono::TimeDelta;

use crate::db::models::now;
use crate::db::{self, DbError, DbPool, sessions};

const EVERY: Duration = Duration::from_secs(600);
const KEEP_ENDED: TimeDelta = TimeDelta::days(1);
/// An expired authorization code is kept this long, so that a replay soon after is still
/// recognised (and what the first exchange issued revoked); then it is only a row.
const KEEP_EXPIRED_CODES: TimeDelta = TimeDelta::minutes(10);
const BATCH: i64 = 1_000;
/// How long an applied directory event is remembered, to recognise its redelivery.
const KEEP_APPLIED_EVENTS: TimeDelta = TimeDelta::days(7);

/// Runs until the process ends.
pub async fn purge_periodically(pool: DbPool, shared_limits: bool) {
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match purge_ended_sessions(&pool).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed ended login sessions"),
            // The database's outage is reported where it is noticed; try again next time.
            Err(error) => tracing::debug!(error = %error, "purging ended login sessions failed"),
        }
        if shared_limits {
            let keep = super::failed_logins::KEEP_SECS;
            let pruned = db::run(&pool, move |conn| db::limits::prune(conn, keep)).await;
            if let Err(error) = pruned {
                tracing::debug!(error = %error, "pruning the shared limits failed");
            }
        }
    }
}

/// Removes every login session that ended more than a day ago, a batch at a time, the
/// OpenID authorization codes that expired ten minutes ago, the used OAuth states whose
/// lifetime is over, and directory events applied a week ago.
pub async fn purge_ended_sessions(pool: &DbPool) -> Result<usize, DbError> {
    let cutoff = now() - KEEP_ENDED;
    let mut removed = 0;
    loop {
        let batch = db::run(pool, move |conn| sessions::purge_ended(conn, cutoff, BATCH)).await?;
        removed += batch;
        if (batch as i64) < BATCH {
            break;
        }
    }
    let codes_cutoff = now() - KEEP_EXPIRED_CODES;
    db::run(pool, move |conn| {
        db::oidc::delete_expired_codes(conn, codes_cutoff)?;
        db::directory::purge_events(conn, now() - KEEP_APPLIED_EVENTS)?;
        db::used_states::purge_expired(conn)
    })
    .await?;
    Ok(removed)
}
