//! The administrators' side: pages (users and their linked accounts, one user, actions
//! behind a confirmation page, the OpenID clients and who granted them) and the same
//! list as JSON under `/api/admin`.

pub mod api;
pub mod clients;
pub mod directory;
pub mod pages;

use serde::Deserialize;

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
}

impl ListQuery {
    /// The search (without control characters, at most 100 characters) and the page.
    fn parts(&self) -> (String, i64) {
        let q: String = self
            .q
            .as_deref()
            .unwrap_or("")
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        (q, self.page.unwrap_or(1).clamp(1, 1_000_000))
    }
}
