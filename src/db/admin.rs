//! Queries behind the admin pages: the searchable list of users with their linked
//! accounts, the counts at the top, and the audit log.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::models::{AuditEntry, LinkedAccount, NewAuditEntry, User, now};
use super::schema::{audit_log, login_sessions, sflogin, susers};
use super::{DbConn, DbError};
use crate::domain::{ProviderKind, UserId};

diesel::define_sql_function!(fn lower(x: Text) -> Text);

pub const PAGE_SIZE: i64 = 50;

pub struct AccountsPage {
    pub users: Vec<(User, Vec<LinkedAccount>)>,
    pub total: i64,
}

pub struct Counts {
    pub users: i64,
    /// Linked accounts per provider, every provider listed (0 when none).
    pub links: Vec<(ProviderKind, i64)>,
    pub logins_last_24h: i64,
}

impl Counts {
    pub fn links_of(&self, kind: ProviderKind) -> i64 {
        self.links
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }
}

/// `%` and `_` in the search are literal characters, not wildcards.
fn like_pattern(query: &str) -> String {
    let escaped = query
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Users newest first, `page` counted from 1, matching `query` on username, name, phone
/// or a linked account's uid or nick.
pub fn accounts_page(conn: &mut DbConn, query: &str, page: i64) -> Result<AccountsPage, DbError> {
    let query = query.trim();
    let offset = (page.max(1) - 1) * PAGE_SIZE;
    let (users, total): (Vec<User>, i64) = if query.is_empty() {
        let users = susers::table
            .order(susers::id.desc())
            .limit(PAGE_SIZE)
            .offset(offset)
            .select(User::as_select())
            .load(conn)?;
        (users, susers::table.count().get_result(conn)?)
    } else {
        let pattern = like_pattern(query);
        let linked = sflogin::table
            .filter(
                lower(sflogin::uid)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(sflogin::nick).like(pattern.clone()).escape('\\')),
            )
            .select(sflogin::userid);
        let matching = || {
            susers::table.filter(
                lower(susers::username)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(susers::name).like(pattern.clone()).escape('\\'))
                    .or(susers::phone.like(pattern.clone()).escape('\\'))
                    .or(susers::id.eq_any(linked.clone())),
            )
        };
        let users = matching()
            .order(susers::id.desc())
            .limit(PAGE_SIZE)
            .offset(offset)
            .select(User::as_select())
            .load(conn)?;
        (users, matching().count().get_result(conn)?)
    };
    let links: Vec<LinkedAccount> = LinkedAccount::belonging_to(&users)
        .select(LinkedAccount::as_select())
        .load(conn)?;
    let users = links
        .grouped_by(&users)
        .into_iter()
        .zip(users)
        .map(|(l, u)| (u, l))
        .collect();
    Ok(AccountsPage { users, total })
}

pub fn counts(conn: &mut DbConn) -> Result<Counts, DbError> {
    let since: NaiveDateTime = now() - TimeDelta::hours(24);
    let per_provider: Vec<(ProviderKind, i64)> = sflogin::table
        .group_by(sflogin::types)
        .select((sflogin::types, diesel::dsl::count_star()))
        .load(conn)?;
    let links = ProviderKind::DISPLAY_ORDER
        .into_iter()
        .map(|kind| {
            let n = per_provider
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(0, |(_, n)| *n);
            (kind, n)
        })
        .collect();
    Ok(Counts {
        users: susers::table.count().get_result(conn)?,
        links,
        logins_last_24h: login_sessions::table
            .filter(login_sessions::created_at.gt(since))
            .count()
            .get_result(conn)?,
    })
}

pub fn record(conn: &mut DbConn, entry: &NewAuditEntry<'_>) -> Result<(), DbError> {
    diesel::insert_into(audit_log::table)
        .values(entry)
        .execute(conn)?;
    Ok(())
}

pub fn audit_for(conn: &mut DbConn, target_user_id: UserId) -> Result<Vec<AuditEntry>, DbError> {
    Ok(audit_log::table
        .filter(audit_log::target_user_id.eq(target_user_id))
        .order(audit_log::id.desc())
        .limit(100)
        .select(AuditEntry::as_select())
        .load(conn)?)
}

pub fn delete_link(
    conn: &mut DbConn,
    userid: UserId,
    types: ProviderKind,
) -> Result<bool, DbError> {
    Ok(diesel::delete(
        sflogin::table.filter(sflogin::userid.eq(userid).and(sflogin::types.eq(types))),
    )
    .execute(conn)?
        == 1)
}
