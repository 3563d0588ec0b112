//! The one place errors become responses: an HTML page for people (with a way back) or
//! `{"code", "msg"}` JSON for programs, each with its status and headers (`Retry-After`,
//! `WWW-Authenticate`). Every domain error — database, token, login, account, provider,
//! OAuth round trip — is mapped here and logged here once, with its cause; what the client
//! sees never holds a stack trace or internal detail. Handlers only choose JSON or a page.
//! The OpenID provider's endpoints answer in the format their RFCs fix instead:
//! `{"error", "error_description"}` (RFC 6749 §5.2, RFC 6750 §3).
//!
//! By audience: `api` (programs of ours: `ApiCode`, `ApiError`), `oauth` (OpenID clients),
//! `page` (people: `PageError`), `form` (a refused form shown again with its message).

mod api;
mod form;
mod oauth;
mod page;

use std::time::Duration;

use crate::db::DbError;

pub use api::{ApiCode, ApiError};
pub use form::{FormRefusal, Whose};
pub use page::PageError;

/// `Retry-After` in whole seconds, at least one.
pub(crate) fn retry_seconds(wait: Duration) -> u64 {
    wait.as_secs().max(1)
}

/// While the database is known down or its queue is full, each refused request is not
/// news: the state was logged once when it began (`db::pool`).
fn log_db(error: &DbError) {
    match error {
        DbError::Down | DbError::Busy => tracing::debug!(error = %error, "database failure"),
        DbError::Timeout => tracing::warn!(error = %error, "database failure"),
        _ => tracing::error!(error = %error, "database failure"),
    }
}

#[cfg(test)]
mod tests {
    use super::ApiCode;

    /// The README's table of codes and this enum say the same thing.
    #[test]
    fn api_codes_match_the_readme() {
        let readme = include_str!("../../README.md");
        let mut documented: Vec<(u16, u32)> = readme
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let status = cells.get(1)?.parse::<u16>().ok()?;
                let code = cells.get(2)?.parse::<u32>().ok()?;
                (code / 100 == u32::from(status)).then_some((status, code))
            })
            .collect();
        documented.sort();
        let mut ours: Vec<(u16, u32)> = ApiCode::ALL
            .iter()
            .map(|c| (c.status().as_u16(), c.number()))
            .collect();
        ours.sort();
        assert_eq!(documented, ours);
    }
}
