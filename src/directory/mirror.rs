//! The snapshot swapped into the mirror in one transaction, with its consequences for the
//! people behind it: who left is offboarded, who came back is rehired.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::snapshot::Snapshot;
use crate::accounts::offboarding::{self, Offboarded};
use crate::db::directory::{self, DepartmentRow, MemberRow, NewSync};
use crate::db::models::now;
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::UserId;
use crate::providers::dingtalk::directory::Person;

/// A sync may mark at most this many people as gone without question; beyond it, at most
/// half of the people still in the mirror. DingTalk answering with an empty or truncated
/// organisation (a permission taken away, a visibility range narrowed) must not offboard
/// the company; real departures beyond that arrive as events, one person at a time.
const DEPARTURES_ALWAYS_ALLOWED: usize = 5;

/// What a sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub departments: usize,
    pub members: usize,
    /// New in the organisation, or back after leaving.
    pub joined: usize,
    /// In the mirror before, not in DingTalk's answer now.
    pub departed: usize,
    pub offboarded: Vec<Offboarded>,
    pub rehired: Vec<UserId>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "DingTalk's answer would mark {departing} of the {present} people in the mirror as gone; \
         refused (check the app's permissions and visibility range in DingTalk's console)"
    )]
    TooManyDeparting { departing: usize, present: usize },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ApplyError {
    fn from(error: diesel::result::Error) -> Self {
        ApplyError::Db(error.into())
    }
}

pub fn apply(
    conn: &mut DbConn,
    snapshot: &Snapshot,
    started_at: NaiveDateTime,
) -> Result<Applied, ApplyError> {
    write_transaction(conn, |conn| {
        let at = now();
        let before: HashMap<String, MemberRow> = directory::members(conn)?
            .into_iter()
            .map(|row| (row.userid.clone(), row))
            .collect();
        let present = before.values().filter(|row| row.active).count();
        let departing: Vec<&MemberRow> = before
            .values()
            .filter(|row| departs(row, snapshot, started_at))
            .collect();
        if departing.len() > DEPARTURES_ALWAYS_ALLOWED && departing.len() * 2 > present {
            return Err(ApplyError::TooManyDeparting {
                departing: departing.len(),
                present,
            });
        }
        let mut applied = Applied {
            departments: snapshot.departments.len(),
            members: snapshot.people.len(),
            departed: departing.len(),
            ..Applied::default()
        };
        let (rows, joined, returning) = member_rows(&before, snapshot, (started_at, at));
        applied.joined = joined;
        directory::replace_all(conn, &department_rows(snapshot, at), &rows)?;
        for row in departing {
            if let Some(unionid) = &row.unionid {
                applied
                    .offboarded
                    .extend(offboarding::offboard(conn, unionid, "sync")?);
            }
        }
        for unionid in returning {
            applied
                .rehired
                .extend(offboarding::rehire(conn, &unionid, "sync")?);
        }
        directory::record_sync(
            conn,
            &NewSync {
                started_at,
                finished_at: now(),
                departments: count(applied.departments),
                members: count(applied.members),
                joined: count(applied.joined),
                departed: count(applied.departed),
                error: None,
            },
        )?;
        Ok(applied)
    })
}

/// The mirror's rows after this snapshot, how many people joined (new, or back), and the
/// unionIds of those back after leaving.
fn member_rows(
    before: &HashMap<String, MemberRow>,
    snapshot: &Snapshot,
    (started_at, at): (NaiveDateTime, NaiveDateTime),
) -> (Vec<MemberRow>, usize, Vec<String>) {
    let mut rows: Vec<MemberRow> = Vec::with_capacity(before.len().max(snapshot.people.len()));
    let (mut joined, mut returning) = (0, Vec::new());
    for person in snapshot.people.values() {
        let was = before.get(&person.userid);
        // An event said they left after this snapshot was begun: the snapshot is older
        // news, and must not undo the departure.
        if let Some(row) = was.filter(|row| !row.active && row.left_at >= Some(started_at)) {
            rows.push(row.clone());
            continue;
        }
        if was.is_none_or(|row| !row.active) {
            joined += 1;
        }
        if was.is_some_and(|row| !row.active) {
            returning.extend(person.unionid.clone());
        }
        rows.push(present_row(person, at));
    }
    // Who left before stays known as gone (a rehire is then recognised); who left now is
    // gone from today; whom an event added since the snapshot began stays.
    for row in before.values() {
        if snapshot.people.contains_key(&row.userid) {
            continue;
        }
        if departs(row, snapshot, started_at) || !row.active {
            rows.push(MemberRow {
                active: false,
                left_at: row.left_at.or(Some(at)),
                ..row.clone()
            });
        } else {
            rows.push(row.clone());
        }
    }
    (rows, joined, returning)
}

/// The mirror's row of a person DingTalk lists now.
pub(super) fn present_row(person: &Person, at: NaiveDateTime) -> MemberRow {
    let mut dept_ids = person.dept_ids.clone();
    dept_ids.sort_unstable();
    MemberRow {
        userid: person.userid.clone(),
        unionid: person.unionid.clone(),
        name: person.name.clone(),
        dept_ids: dept_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(","),
        active: true,
        left_at: None,
        synced_at: at,
    }
}

/// Present in the mirror, absent from the snapshot, and not written by an event since the
/// snapshot began (an event is newer news than the snapshot).
fn departs(row: &MemberRow, snapshot: &Snapshot, started_at: NaiveDateTime) -> bool {
    row.active && row.synced_at < started_at && !snapshot.people.contains_key(&row.userid)
}

fn department_rows(snapshot: &Snapshot, at: NaiveDateTime) -> Vec<DepartmentRow> {
    let mut position: HashMap<Option<i64>, i32> = HashMap::new();
    snapshot
        .departments
        .iter()
        .map(|department| {
            let order = position.entry(department.parent_id).or_insert(0);
            *order += 1;
            DepartmentRow {
                dept_id: department.id,
                parent_id: department.parent_id,
                name: department.name.clone(),
                sort_order: *order,
                synced_at: at,
            }
        })
        .collect()
}

/// A count as the database stores it (saturating: no organisation comes near).
fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A sync that changed nothing, recorded with why.
pub fn record_failure(
    conn: &mut DbConn,
    started_at: NaiveDateTime,
    error: &str,
) -> Result<(), DbError> {
    directory::record_sync(
        conn,
        &NewSync {
            started_at,
            finished_at: now(),
            departments: 0,
            members: 0,
            joined: 0,
            departed: 0,
            error: Some(error),
        },
    )
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use chrono::TimeDelta;

    use super::{MemberRow, Snapshot, departs, member_rows};
    use crate::providers::dingtalk::directory::Person;

    fn row(userid: &str, active: bool, at: chrono::NaiveDateTime) -> MemberRow {
        MemberRow {
            userid: userid.into(),
            unionid: Some(format!("u-{userid}")),
            name: userid.into(),
            dept_ids: "1".into(),
            active,
            left_at: (!active).then_some(at),
            synced_at: at,
        }
    }

    /// A snapshot read before an event is older news than the event: it neither undoes a
    /// departure nor offboards someone the event added.
    #[test]
    fn a_snapshot_older_than_an_event_does_not_undo_it() {
        let started = chrono::Utc::now().naive_utc();
        let (before_start, after_start) = (
            started - TimeDelta::hours(1),
            started + TimeDelta::seconds(1),
        );
        let person = |userid: &str| Person {
            userid: userid.into(),
            unionid: Some(format!("u-{userid}")),
            name: userid.into(),
            dept_ids: vec![1],
        };
        // The snapshot still lists `left` (an event said they left after it began) and no
        // longer lists `gone` (left long ago) nor `hired` (an event added them since).
        let snapshot = Snapshot {
            departments: Vec::new(),
            people: BTreeMap::from([
                ("left".into(), person("left")),
                ("stay".into(), person("stay")),
            ]),
        };
        let before: HashMap<String, MemberRow> = [
            row("left", false, after_start),
            row("stay", true, before_start),
            row("hired", true, after_start),
            row("quit", true, before_start),
        ]
        .into_iter()
        .map(|r| (r.userid.clone(), r))
        .collect();
        let (rows, joined, returning) = member_rows(&before, &snapshot, (started, after_start));
        let by_id: HashMap<&str, &MemberRow> =
            rows.iter().map(|r| (r.userid.as_str(), r)).collect();
        assert!(!by_id["left"].active, "the event's departure stands");
        assert!(by_id["hired"].active, "the event's hire stands");
        assert!(!by_id["quit"].active, "absent from the snapshot: gone");
        assert!(by_id["stay"].active);
        assert_eq!((joined, returning.len()), (0, 0));
        assert!(!departs(&before["hired"], &snapshot, started));
        assert!(departs(&before["quit"], &snapshot, started));
    }
}
