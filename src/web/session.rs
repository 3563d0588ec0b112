//! The browser session (actix-session, signed and encrypted cookie). It holds the pending
//! OAuth `state` values, the CSRF token of the forms and, after login, the user id and
//! login-session id; the latter is checked against the database on every server page,
//! because a cookie cannot be revoked.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use serde::{Deserialize, Serialize};

use crate::crypto::{constant_time_eq, random_token};
use crate::domain::{ProviderIdentity, UserId};
use crate::login::SessionRef;

/// A few logins may be in flight at once (two tabs); older ones fall out.
const MAX_PENDING_STATES: usize = 5;

const PENDING_KEY: &str = "oauth_pending";
const LOGIN_KEY: &str = "login";
const CSRF_KEY: &str = "csrf";
const IDENTITY_KEY: &str = "pending_identity";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Where to go after login (a local path), kept here and never in `state`.
    pub next: Option<String>,
    /// Set when a signed-in user links a provider to their account instead of logging in.
    #[serde(default)]
    pub link_userid: Option<UserId>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionLogin {
    pub userid: UserId,
    pub sid: String,
}

impl SessionLogin {
    pub fn session_ref(&self) -> SessionRef {
        SessionRef {
            userid: self.userid,
            session_id: self.sid.clone(),
        }
    }
}

/// A provider identity waiting for its owner's choice: prove an existing account (its
/// password) or continue as a new one. Kept in the signed, encrypted cookie for as long as
/// an OAuth state lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingIdentity {
    /// Names this wait, so that its end is remembered server-side (`LoginService::use_once`).
    #[serde(default)]
    pub id: String,
    pub identity: ProviderIdentity,
    pub next: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug)]
pub enum StateCheck {
    Valid(PendingLogin),
    Missing,
    Unknown,
    Expired,
    /// In this cookie, but used before (the cookie is an older copy).
    Used,
}

pub struct TypedSession(Session);

impl TypedSession {
    pub fn push_pending(
        &self,
        pending: PendingLogin,
        max_age: i64,
    ) -> Result<(), actix_session::SessionInsertError> {
        let mut all = self.pending();
        all.retain(|p| !expired(p, max_age));
        all.push(pending);
        let skip = all.len().saturating_sub(MAX_PENDING_STATES);
        self.0.insert(PENDING_KEY, &all[skip..])
    }

    /// Takes the matching state out of the session before anything else happens, so a
    /// callback URL can be used once only (RFC 9700 §4.2.4).
    pub fn take_pending(&self, state: Option<&str>, max_age: i64) -> StateCheck {
        let Some(state) = state.filter(|s| !s.is_empty()) else {
            return StateCheck::Missing;
        };
        let mut all = self.pending();
        let found = all.iter().position(|p| constant_time_eq(&p.state, state));
        let Some(index) = found else {
            return StateCheck::Unknown;
        };
        let pending = all.remove(index);
        let _ = self.0.insert(PENDING_KEY, &all);
        if expired(&pending, max_age) {
            StateCheck::Expired
        } else {
            StateCheck::Valid(pending)
        }
    }

    fn pending(&self) -> Vec<PendingLogin> {
        self.0
            .get::<Vec<PendingLogin>>(PENDING_KEY)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Logs the browser in with a fresh session id (no fixation).
    pub fn log_in(&self, login: &SessionLogin) -> Result<(), actix_session::SessionInsertError> {
        self.0.renew();
        self.0.insert(LOGIN_KEY, login)
    }

    pub fn login(&self) -> Option<SessionLogin> {
        self.0.get::<SessionLogin>(LOGIN_KEY).ok().flatten()
    }

    pub fn log_out(&self) {
        self.0.purge();
    }

    pub fn hold_identity(
        &self,
        pending: &PendingIdentity,
    ) -> Result<(), actix_session::SessionInsertError> {
        self.0.insert(IDENTITY_KEY, pending)
    }

    /// The identity waiting for a choice, if it is younger than `max_age` seconds.
    pub fn held_identity(&self, max_age: i64) -> Option<PendingIdentity> {
        let pending = self.0.get::<PendingIdentity>(IDENTITY_KEY).ok().flatten()?;
        (chrono::Utc::now().timestamp() - pending.created_at < max_age).then_some(pending)
    }

    pub fn release_identity(&self) {
        self.0.remove(IDENTITY_KEY);
    }

    /// The CSRF token of this session's forms, made on first use.
    pub fn csrf_token(&self) -> String {
        if let Ok(Some(existing)) = self.0.get::<String>(CSRF_KEY) {
            return existing;
        }
        let fresh = random_token(32);
        let _ = self.0.insert(CSRF_KEY, &fresh);
        fresh
    }

    pub fn csrf_matches(&self, submitted: Option<&str>) -> bool {
        match (self.0.get::<String>(CSRF_KEY).ok().flatten(), submitted) {
            (Some(expected), Some(submitted)) => constant_time_eq(&expected, submitted),
            _ => false,
        }
    }

    pub fn from_request_sync(req: &HttpRequest) -> TypedSession {
        TypedSession(req.get_session())
    }
}

fn expired(pending: &PendingLogin, max_age: i64) -> bool {
    chrono::Utc::now().timestamp() - pending.created_at >= max_age
}

impl From<Session> for TypedSession {
    fn from(session: Session) -> Self {
        TypedSession(session)
    }
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<TypedSession, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(TypedSession(req.get_session())))
    }
}
