//! Ids that must not be mixed up with other integers.

use std::fmt;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Integer;
use serde::{Deserialize, Serialize};

/// The id of a row of `susers`. In JSON (the handoff's `userid`, `/api/me`'s `id`) it is
/// the plain number, as the tutorial's SPA expects.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    AsExpression,
    FromSqlRow,
)]
#[serde(transparent)]
#[diesel(sql_type = Integer)]
pub struct UserId(pub i32);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<DB: Backend> ToSql<Integer, DB> for UserId
where
    i32: ToSql<Integer, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

impl<DB: Backend> FromSql<Integer, DB> for UserId
where
    i32: FromSql<Integer, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        i32::from_sql(bytes).map(UserId)
    }
}

impl std::str::FromStr for UserId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<UserId, Self::Err> {
        s.parse().map(UserId)
    }
}
