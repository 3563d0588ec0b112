//! CSRF protection for the server-rendered forms (login, logout, account and admin
//! actions): a synchronizer token kept in the session and echoed in a hidden field,
//! compared in constant time (OWASP CSRF cheat sheet). The JSON API takes its token from
//! the Authorization header only, which a cross-site form cannot set.

use subtle::ConstantTimeEq;

use super::session::TypedSession;
use crate::config::random_token;

const CSRF_KEY: &str = "csrf";

pub fn token(session: &TypedSession) -> String {
    if let Ok(Some(existing)) = session.inner().get::<String>(CSRF_KEY) {
        return existing;
    }
    let fresh = random_token(32);
    let _ = session.inner().insert(CSRF_KEY, &fresh);
    fresh
}

pub fn verify(session: &TypedSession, submitted: Option<&str>) -> bool {
    let expected = session.inner().get::<String>(CSRF_KEY).ok().flatten();
    match (expected, submitted) {
        (Some(expected), Some(submitted)) => {
            bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
        }
        _ => false,
    }
}
