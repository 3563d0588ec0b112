//! The organisation's directory, mirrored from DingTalk: departments and people, a full
//! sync at start-up and every `DINGTALK_DIRECTORY_SYNC_INTERVAL` (one instance at a time,
//! by a lease in the database), and what a departure means for the person's account here.
//! No HTTP: the admin pages and the API call this service.

mod changes;
pub mod doctor;
pub mod events;
mod mirror;
mod snapshot;
pub mod stream;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use crate::accounts::User;
pub use crate::db::directory::{DepartmentRow, LinkedUser, MemberRow, SyncRow};
use crate::db::models::{NewAuditEntry, now};
use crate::db::{self, DbError, DbPool, admin, directory, write_transaction};
use crate::providers::ProviderError;
use crate::providers::dingtalk::directory::DirectoryApi;
pub use changes::Effects;
use events::{Change, DirectoryEvent};
pub use mirror::Applied;
use mirror::ApplyError;

/// The lease a full sync holds: longer than any sync takes, short enough that a crashed
/// instance's lease does not stop the next one for long.
const SYNC_LEASE: &str = "directory-sync";
const SYNC_LEASE_TIME: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("DingTalk: {0}")]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Refused(ApplyError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("another instance is syncing the directory")]
    Busy,
    /// An event about another organisation than ours.
    #[error("the event is about the organisation {0}, not ours")]
    ForeignEvent(String),
}

impl From<ApplyError> for DirectoryError {
    fn from(error: ApplyError) -> Self {
        match error {
            ApplyError::Db(error) => DirectoryError::Db(error),
            refused @ ApplyError::TooManyDeparting { .. } => DirectoryError::Refused(refused),
        }
    }
}

impl DirectoryError {
    fn outcome(&self) -> &'static str {
        match self {
            DirectoryError::Refused(_) => "refused",
            DirectoryError::Busy => "busy",
            _ => "failed",
        }
    }
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    Applied(Effects),
    /// Applied before (a redelivery, or another instance got it too): nothing written.
    Duplicate,
    /// The handshake, or a type the directory does not follow.
    Ignored,
}

impl EventOutcome {
    /// The log line of an event taken, whichever transport brought it.
    pub fn log(&self, change: &Change) {
        match self {
            EventOutcome::Applied(effects) => tracing::info!(
                event = "directory_event",
                change = change.name(),
                offboarded = effects.offboarded.len(),
                rehired = effects.rehired.len(),
                "directory event applied"
            ),
            EventOutcome::Duplicate => tracing::info!(
                event = "directory_event",
                change = change.name(),
                "directory event already applied; nothing written"
            ),
            EventOutcome::Ignored => {
                tracing::debug!(change = change.name(), "directory event ignored");
            }
        }
    }
}

/// What DingTalk says now about what an event names.
enum Facts {
    People(
        Vec<(
            String,
            Option<crate::providers::dingtalk::directory::Person>,
        )>,
    ),
    Departments(
        Vec<(
            i64,
            Option<crate::providers::dingtalk::directory::Department>,
        )>,
    ),
}

/// The mirror as admins see it.
pub struct Overview {
    pub departments: Vec<DepartmentRow>,
    /// Each person with the local users linked to them.
    pub members: Vec<(MemberRow, Vec<LinkedUser>)>,
    pub last_sync: Option<SyncRow>,
}

pub struct DirectoryService {
    pool: DbPool,
    api: DirectoryApi,
    corp_id: String,
    /// This instance's name in the sync lease.
    instance: String,
    /// One sync at a time in this instance ("sync now" waits for the running one).
    syncing: tokio::sync::Mutex<()>,
}

impl DirectoryService {
    pub fn new(pool: DbPool, api: DirectoryApi, corp_id: String) -> DirectoryService {
        DirectoryService {
            pool,
            api,
            corp_id,
            instance: crate::crypto::random_token(12),
            syncing: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads the whole organisation from DingTalk and swaps it into the mirror in one
    /// transaction; the result, good or bad, is recorded, logged and counted.
    pub async fn sync_now(&self) -> Result<Applied, DirectoryError> {
        let _one_here = self.syncing.lock().await;
        let (instance, until) = (
            self.instance.clone(),
            now() + chrono::TimeDelta::from_std(SYNC_LEASE_TIME).unwrap_or_default(),
        );
        let ours = db::run(&self.pool, move |conn| {
            directory::take_lease(conn, SYNC_LEASE, &instance, until)
        })
        .await?;
        if !ours {
            tracing::info!(
                event = "directory_sync",
                outcome = "busy",
                "another instance is syncing the directory"
            );
            return Err(DirectoryError::Busy);
        }
        let (started_at, clock) = (now(), Instant::now());
        let result = self.sync_holding_lease(started_at).await;
        let elapsed = clock.elapsed();
        self.report(started_at, elapsed, &result).await;
        let instance = self.instance.clone();
        let released = db::run(&self.pool, move |conn| {
            directory::release_lease(conn, SYNC_LEASE, &instance)
        })
        .await;
        if let Err(error) = released {
            // It expires on its own.
            tracing::warn!(%error, "could not release the directory's sync lease");
        }
        result
    }

    async fn sync_holding_lease(
        &self,
        started_at: NaiveDateTime,
    ) -> Result<Applied, DirectoryError> {
        let snapshot = Arc::new(snapshot::read(&self.api).await?);
        let applied = db::run(&self.pool, move |conn| {
            mirror::apply(conn, &snapshot, started_at)
        })
        .await?;
        Ok(applied)
    }

    /// The log line, the metrics, and for a failure its row (a success wrote its own in
    /// the swap's transaction).
    async fn report(
        &self,
        started_at: NaiveDateTime,
        elapsed: Duration,
        result: &Result<Applied, DirectoryError>,
    ) {
        let millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(applied) => {
                tracing::info!(
                    event = "directory_sync",
                    outcome = "ok",
                    departments = applied.departments,
                    members = applied.members,
                    joined = applied.joined,
                    departed = applied.departed,
                    offboarded = applied.offboarded.len(),
                    rehired = applied.rehired.len(),
                    duration_ms = millis,
                    "directory synced"
                );
                crate::metrics::directory_sync(
                    "ok",
                    elapsed,
                    Some((applied.departments, applied.members)),
                );
                crate::metrics::directory_offboarded("sync", applied.offboarded.len());
            }
            Err(error) => {
                tracing::error!(
                    event = "directory_sync",
                    outcome = error.outcome(),
                    error = %error,
                    duration_ms = millis,
                    "directory sync failed; the mirror is unchanged"
                );
                crate::metrics::directory_sync(error.outcome(), elapsed, None);
                let message = error.to_string();
                let recorded = db::run(&self.pool, move |conn| {
                    mirror::record_failure(conn, started_at, &message)
                })
                .await;
                if let Err(error) = recorded {
                    tracing::warn!(%error, "could not record the failed directory sync");
                }
            }
        }
    }

    /// Applies one event (`via`: its transport, for the audit log), exactly once however
    /// often it is delivered and to however many instances: the event's key is recorded
    /// in the transaction of its changes. What DingTalk must be asked (a person, a
    /// department) is asked before the transaction.
    pub async fn apply_event(
        &self,
        event: DirectoryEvent,
        via: &'static str,
    ) -> Result<EventOutcome, DirectoryError> {
        if let Some(corp_id) = event.corp_id.as_ref().filter(|c| **c != self.corp_id) {
            return Err(DirectoryError::ForeignEvent(corp_id.clone()));
        }
        if matches!(event.change, Change::CheckUrl | Change::Other(_)) {
            return Ok(EventOutcome::Ignored);
        }
        let key = event.key.clone();
        if db::run(&self.pool, move |conn| directory::event_seen(conn, &key)).await? {
            return Ok(EventOutcome::Duplicate);
        }
        let facts = self.facts_of(&event).await?;
        let outcome = db::run(&self.pool, move |conn| {
            write_transaction(conn, |conn| {
                if !directory::record_event(conn, &event.key)? {
                    return Ok(EventOutcome::Duplicate);
                }
                let mut effects = Effects::default();
                match facts {
                    Facts::People(people) => {
                        for (userid, person) in people {
                            match person {
                                Some(person) => {
                                    changes::person_present(conn, &person, via, &mut effects)?;
                                }
                                None => changes::person_left(conn, &userid, via, &mut effects)?,
                            }
                        }
                    }
                    Facts::Departments(departments) => {
                        for (id, department) in departments {
                            match department {
                                Some(department) => changes::department_present(conn, &department)?,
                                None => changes::department_removed(conn, id)?,
                            }
                        }
                    }
                }
                Ok::<_, DbError>(EventOutcome::Applied(effects))
            })
        })
        .await?;
        if let EventOutcome::Applied(effects) = &outcome {
            crate::metrics::directory_offboarded("event", effects.offboarded.len());
        }
        Ok(outcome)
    }

    /// DingTalk's word on everyone and everything the event names; `None`: gone.
    async fn facts_of(&self, event: &DirectoryEvent) -> Result<Facts, DirectoryError> {
        Ok(match event.change {
            Change::PeopleLeft => Facts::People(
                event
                    .users
                    .iter()
                    .map(|userid| (userid.clone(), None))
                    .collect(),
            ),
            Change::PeopleAdded | Change::PeopleChanged | Change::PeopleActivated => {
                let mut people = Vec::with_capacity(event.users.len());
                for userid in &event.users {
                    people.push((userid.clone(), self.api.person(userid).await?));
                }
                Facts::People(people)
            }
            Change::DepartmentsRemoved => {
                Facts::Departments(event.departments.iter().map(|id| (*id, None)).collect())
            }
            Change::DepartmentsCreated | Change::DepartmentsChanged => {
                let mut departments = Vec::with_capacity(event.departments.len());
                for id in &event.departments {
                    departments.push((*id, self.api.department(*id).await?));
                }
                Facts::Departments(departments)
            }
            Change::CheckUrl | Change::Other(_) => Facts::People(Vec::new()),
        })
    }

    /// Calls what the directory needs and says what is missing.
    pub async fn examine(&self) -> Vec<doctor::Finding> {
        doctor::examine(&self.api).await
    }

    pub async fn overview(&self) -> Result<Overview, DbError> {
        db::run(&self.pool, |conn| {
            let mut users: HashMap<String, Vec<LinkedUser>> = HashMap::new();
            for user in directory::dingtalk_users(conn)? {
                if let Some(unionid) = user.unionid.clone() {
                    users.entry(unionid).or_default().push(user);
                }
            }
            let members = directory::members(conn)?
                .into_iter()
                .map(|member| {
                    let linked = member
                        .unionid
                        .as_ref()
                        .and_then(|unionid| users.get(unionid).cloned())
                        .unwrap_or_default();
                    (member, linked)
                })
                .collect();
            Ok(Overview {
                departments: directory::departments(conn)?,
                members,
                last_sync: directory::last_sync(conn)?,
            })
        })
        .await
    }

    /// "Sync now" of an administrator: audited, then run (waiting for a sync this
    /// instance is running).
    pub async fn sync_for(&self, actor: &User) -> Result<Applied, DirectoryError> {
        let (actor_id, actor_username) = (actor.id, actor.username.clone());
        db::run(&self.pool, move |conn| {
            admin::record(
                conn,
                &NewAuditEntry {
                    actor_id: Some(actor_id),
                    actor_username: &actor_username,
                    action: "directory-sync",
                    target_user_id: None,
                    detail: "",
                    created_at: now(),
                },
            )
        })
        .await?;
        self.sync_now().await
    }

    /// Syncs now, then every `interval`, for as long as the process runs. Another
    /// instance's running sync is no failure: this one tries again at its next turn.
    pub async fn sync_periodically(self: Arc<Self>, interval: Duration) {
        for finding in self.examine().await {
            if let doctor::Outcome::Missing {
                permission,
                console_name,
            } = &finding.outcome
            {
                tracing::warn!(
                    event = "directory_permission_missing",
                    permission = %permission,
                    console_name = %console_name,
                    needed_for = finding.needed_for,
                    "the DingTalk app lacks a permission the directory needs (run `dingtalk-login doctor`)"
                );
            }
        }
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Logged and counted by `sync_now`.
            let _ = self.sync_now().await;
        }
    }
}
