//! One event's facts applied to the mirror, in the caller's transaction: a person present
//! (added, changed, back) or gone, a department there or removed. A departure offboards,
//! a return rehires, exactly as the full sync does.

use crate::accounts::offboarding::{self, Offboarded};
use crate::db::directory::{self, DepartmentRow, MemberRow};
use crate::db::models::now;
use crate::db::{DbConn, DbError};
use crate::domain::UserId;
use crate::providers::dingtalk::directory::{Department, Person};

/// What an event did to local users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    pub offboarded: Vec<Offboarded>,
    pub rehired: Vec<UserId>,
}

/// DingTalk lists the person now: their row as it says, and a rehire if they had left.
pub fn person_present(
    conn: &mut DbConn,
    person: &Person,
    via: &str,
    effects: &mut Effects,
) -> Result<(), DbError> {
    let was = directory::member(conn, &person.userid)?;
    directory::put_member(conn, &super::mirror::present_row(person, now()))?;
    if was.is_some_and(|row| !row.active)
        && let Some(unionid) = &person.unionid
    {
        effects
            .rehired
            .extend(offboarding::rehire(conn, unionid, via)?);
    }
    Ok(())
}

/// The person left: marked gone, and offboarded. Someone the mirror never had is only
/// logged (DingTalk no longer tells who they were).
pub fn person_left(
    conn: &mut DbConn,
    userid: &str,
    via: &str,
    effects: &mut Effects,
) -> Result<(), DbError> {
    let Some(row) = directory::member(conn, userid)? else {
        tracing::info!(
            event = "directory_unknown_person",
            via,
            "a person unknown to the mirror left"
        );
        return Ok(());
    };
    if row.active {
        let unionid = row.unionid.clone();
        directory::put_member(
            conn,
            &MemberRow {
                active: false,
                left_at: Some(now()),
                ..row
            },
        )?;
        if let Some(unionid) = unionid {
            effects
                .offboarded
                .extend(offboarding::offboard(conn, &unionid, via)?);
        }
    }
    Ok(())
}

pub fn department_present(conn: &mut DbConn, department: &Department) -> Result<(), DbError> {
    let sort_order = match directory::department(conn, department.id)? {
        Some(known) if known.parent_id == department.parent_id => known.sort_order,
        _ => directory::next_sort_order(conn, department.parent_id)?,
    };
    directory::put_department(
        conn,
        &DepartmentRow {
            dept_id: department.id,
            parent_id: department.parent_id,
            name: department.name.clone(),
            sort_order,
            synced_at: now(),
        },
    )
}

pub fn department_removed(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
    directory::remove_department(conn, id).map(drop)
}
