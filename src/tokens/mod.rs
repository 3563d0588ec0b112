//! The token lifecycle: a login creates a login session (the refresh-token family), an
//! access token and a refresh token; refreshing rotates the refresh token; presenting a
//! rotated one again revokes the family; logout revokes it. Every access token names its
//! session (`sid`), so one indexed lookup tells whether it still counts.

mod jwt;

pub use jwt::{Claims, JwtError, JwtKeys, MAX_TOKEN_BYTES, TYP_ACCESS, TYP_REFRESH};

/// The refresh token of an OpenID client's session: signed like the SPA's, but of its own
/// type, so neither is accepted where the other is.
pub const TYP_CLIENT_REFRESH: &str = "client_refresh";

use chrono::{NaiveDateTime, TimeDelta};

use crate::config::Settings;
use crate::crypto::{random_token, sha256_hex};
use crate::db::models::{LinkedAccount, LoginSession, RefreshTokenRow, User, now};
use crate::db::{DbConn, DbError, sessions, write_transaction};
use crate::domain::UserId;

/// A second refresh with the same token within this window (two tabs refreshing at
/// once) gets the successor the first one created instead of counting as theft.
const ROTATION_GRACE_SECONDS: i64 = 10;

#[derive(thiserror::Error)]
pub enum TokenError {
    #[error("no token was sent")]
    Missing,
    #[error("the token is malformed or its signature is invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the session was logged out or revoked")]
    Revoked,
    #[error("a refresh token cannot be used as an access token")]
    RefreshAsAccess,
    #[error("this account is deactivated")]
    Inactive,
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::report::debug_as_chain!(TokenError);

impl From<JwtError> for TokenError {
    fn from(error: JwtError) -> Self {
        match error {
            JwtError::Invalid => TokenError::Invalid,
            JwtError::Expired => TokenError::Expired,
        }
    }
}

impl From<diesel::result::Error> for TokenError {
    fn from(error: diesel::result::Error) -> Self {
        TokenError::Db(DbError::Query(error))
    }
}

/// What the SPA receives after a login or a refresh (the tutorial's handoff fields).
#[derive(Clone)]
pub struct TokenPair {
    pub userid: UserId,
    pub username: String,
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("userid", &self.userid)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What an OpenID client's login session is started with.
#[derive(Debug, Clone)]
pub struct ClientGrant {
    pub client_id: String,
    pub scope: String,
    /// The browser session's `method` and `created_at`: how and when the person signed in.
    pub method: Option<String>,
    pub auth_time: NaiveDateTime,
    /// `offline_access` was granted: the session gets a refresh token.
    pub offline: bool,
}

/// The user an access token stands for, as of this request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub session_id: String,
    /// When the person signed in (the OpenID `auth_time`).
    pub signed_in_at: NaiveDateTime,
    /// How: `password` or a provider's name (the OpenID `amr`); unknown for sessions older
    /// than the column.
    pub method: Option<String>,
    /// The user's linked accounts, read in the same statement as the session.
    pub links: Vec<LinkedAccount>,
}

pub struct TokenService {
    keys: JwtKeys,
    access_ttl: i64,
    refresh_ttl: i64,
}

impl TokenService {
    pub fn new(settings: &Settings) -> TokenService {
        TokenService {
            keys: JwtKeys::new(
                settings.jwt_secret.expose(),
                settings.jwt_previous_secret.as_ref().map(|s| s.expose()),
                settings.base_url(),
            ),
            access_ttl: settings.access_token_ttl,
            refresh_ttl: settings.refresh_token_ttl,
        }
    }

    /// Starts a login session for `user`, who signed in by `method` (`password` or a
    /// provider's name), and issues its first token pair.
    pub fn start_session(
        &self,
        conn: &mut DbConn,
        user: &User,
        user_agent: Option<&str>,
        method: &str,
    ) -> Result<TokenPair, TokenError> {
        let session = LoginSession {
            user_agent: user_agent.map(|ua| ua.chars().take(255).collect()),
            method: Some(method.to_owned()),
            ..self.fresh_session(user)
        };
        let refresh_token = self.start(conn, user, &session, TYP_REFRESH)?;
        Ok(self.pair(user, &session.id, refresh_token, session.created_at))
    }

    /// A login session of `user` starting now, with nothing said about how.
    fn fresh_session(&self, user: &User) -> LoginSession {
        let at = now();
        LoginSession {
            id: random_token(18),
            userid: user.id,
            created_at: at,
            expires_at: at + TimeDelta::seconds(self.refresh_ttl),
            last_used_at: at,
            revoked_at: None,
            revoke_reason: None,
            user_agent: None,
            client_id: None,
            scope: None,
            method: None,
            auth_time: Some(at),
        }
    }

    /// Starts the login session that holds an OpenID client's tokens; its refresh token
    /// when `offline_access` was granted.
    pub fn start_client_session(
        &self,
        conn: &mut DbConn,
        user: &User,
        grant: ClientGrant,
    ) -> Result<(LoginSession, Option<String>), TokenError> {
        let session = LoginSession {
            client_id: Some(grant.client_id),
            scope: Some(grant.scope),
            method: grant.method,
            auth_time: Some(grant.auth_time),
            ..self.fresh_session(user)
        };
        let refresh = if grant.offline {
            Some(self.start(conn, user, &session, TYP_CLIENT_REFRESH)?)
        } else {
            sessions::insert_session(conn, &session)?;
            None
        };
        Ok((session, refresh))
    }

    /// Writes `session` and its first refresh token (of type `typ`), which it returns.
    fn start(
        &self,
        conn: &mut DbConn,
        user: &User,
        session: &LoginSession,
        typ: &str,
    ) -> Result<String, TokenError> {
        let refresh = RefreshTokenRow {
            id: random_token(18),
            session_id: session.id.clone(),
            token_hash: String::new(),
            issued_at: session.created_at,
            expires_at: session.expires_at,
            used_at: None,
            replaced_by: None,
        };
        let refresh_token = self.sign_refresh(user, &refresh, typ);
        let refresh = RefreshTokenRow {
            token_hash: sha256_hex(&refresh_token),
            ..refresh
        };
        write_transaction(conn, |conn| {
            sessions::insert_session(conn, session)?;
            sessions::insert_refresh_token(conn, &refresh)
        })?;
        Ok(refresh_token)
    }

    /// Rotates a refresh token: the presented one stops working, a successor is issued.
    pub fn refresh(&self, conn: &mut DbConn, refresh_token: &str) -> Result<TokenPair, TokenError> {
        let (user, session, token) = self.rotate(conn, refresh_token, TYP_REFRESH, None)?;
        Ok(self.pair(&user, &session.id, token, now()))
    }

    /// Rotates the refresh token of `client_id`'s session: the user, the session and the
    /// successor token.
    pub fn refresh_client(
        &self,
        conn: &mut DbConn,
        refresh_token: &str,
        client_id: &str,
    ) -> Result<(User, LoginSession, String), TokenError> {
        self.rotate(conn, refresh_token, TYP_CLIENT_REFRESH, Some(client_id))
    }

    /// The session an OpenID client's refresh token belongs to, if the token is one of
    /// ours (for revocation; the caller checks the session's client).
    pub fn client_refresh_session(&self, token: &str) -> Option<String> {
        let claims = self.keys.verify(token).ok()?;
        (claims.typ == TYP_CLIENT_REFRESH).then_some(claims.sid)
    }

    /// The refresh family machinery, for the SPA (`client_id` = `None`) and for OpenID
    /// clients, whose tokens only work for the client whose session they belong to.
    fn rotate(
        &self,
        conn: &mut DbConn,
        refresh_token: &str,
        typ: &str,
        client_id: Option<&str>,
    ) -> Result<(User, LoginSession, String), TokenError> {
        let claims = self.keys.verify(refresh_token)?;
        if claims.typ != typ {
            return Err(TokenError::Invalid);
        }
        // Two attempts: a concurrent refresh of the same token may mark it used between
        // our read and our update; the second look then finds it within the grace window.
        let mut outcome = self.try_rotate(conn, refresh_token, &claims, client_id)?;
        if matches!(outcome, Rotation::Raced) {
            outcome = self.try_rotate(conn, refresh_token, &claims, client_id)?;
        }
        match outcome {
            Rotation::Rotated(user, session, token) => {
                crate::metrics::refresh_rotated();
                Ok((user, session, token))
            }
            Rotation::Concurrent(user, session, successor) => {
                let token = self.sign_refresh(&user, &successor, typ);
                Ok((user, session, token))
            }
            Rotation::Reused(userid) => {
                crate::metrics::refresh_reuse_detected();
                tracing::warn!(
                    event = "refresh_token_reuse",
                    %userid,
                    "a rotated refresh token was presented again; its session is revoked"
                );
                Err(TokenError::Revoked)
            }
            Rotation::Raced => Err(TokenError::Revoked),
        }
    }

    fn try_rotate(
        &self,
        conn: &mut DbConn,
        refresh_token: &str,
        claims: &Claims,
        client_id: Option<&str>,
    ) -> Result<Rotation, TokenError> {
        write_transaction(conn, |conn| -> Result<Rotation, TokenError> {
            let row =
                sessions::find_refresh_token(conn, &claims.jti)?.ok_or(TokenError::Revoked)?;
            if row.token_hash != sha256_hex(refresh_token) || row.session_id != claims.sid {
                return Err(TokenError::Invalid);
            }
            let (session, user) =
                sessions::session_with_user(conn, &row.session_id)?.ok_or(TokenError::Revoked)?;
            if session.client_id.as_deref() != client_id {
                return Err(TokenError::Invalid);
            }
            let at = now();
            if session.revoked_at.is_some() || session.expires_at <= at {
                return Err(TokenError::Revoked);
            }
            if !user.is_active {
                return Err(TokenError::Inactive);
            }
            if let Some(used_at) = row.used_at {
                let successor = row
                    .replaced_by
                    .as_deref()
                    .map(|id| sessions::find_refresh_token(conn, id))
                    .transpose()?
                    .flatten();
                return Ok(match successor {
                    Some(successor)
                        if successor.used_at.is_none()
                            && at - used_at <= TimeDelta::seconds(ROTATION_GRACE_SECONDS) =>
                    {
                        Rotation::Concurrent(user, session, successor)
                    }
                    _ => {
                        sessions::revoke_session(conn, &session.id, "refresh token reuse")?;
                        Rotation::Reused(user.id)
                    }
                });
            }
            let successor = RefreshTokenRow {
                id: random_token(18),
                session_id: session.id.clone(),
                token_hash: String::new(),
                issued_at: at,
                expires_at: session.expires_at,
                used_at: None,
                replaced_by: None,
            };
            let token = self.sign_refresh(&user, &successor, &claims.typ);
            let successor = RefreshTokenRow {
                token_hash: sha256_hex(&token),
                ..successor
            };
            if !sessions::mark_refresh_token_used(conn, &row.id, &successor.id)? {
                return Ok(Rotation::Raced);
            }
            sessions::insert_refresh_token(conn, &successor)?;
            sessions::touch_session(conn, &session.id)?;
            Ok(Rotation::Rotated(user, session, token))
        })
    }

    /// The token pair of a live login session that has not refreshed yet: its unused
    /// refresh token (signed again: the signature is a function of the row) and a fresh
    /// access token. What a one-time handoff code is exchanged for.
    pub fn resume(&self, conn: &mut DbConn, session_id: &str) -> Result<TokenPair, TokenError> {
        let (session, user) =
            sessions::session_with_user(conn, session_id)?.ok_or(TokenError::Revoked)?;
        if session.revoked_at.is_some() || session.expires_at <= now() {
            return Err(TokenError::Revoked);
        }
        if !user.is_active {
            return Err(TokenError::Inactive);
        }
        let row = sessions::unused_refresh_token(conn, session_id)?.ok_or(TokenError::Revoked)?;
        let refresh_token = self.sign_refresh(&user, &row, TYP_REFRESH);
        Ok(self.pair(&user, session_id, refresh_token, now()))
    }

    /// Checks a bearer access token against its signature, lifetime, type and session.
    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = self.keys.verify(token)?;
        match claims.typ.as_str() {
            TYP_ACCESS => Ok(claims),
            TYP_REFRESH => Err(TokenError::RefreshAsAccess),
            _ => Err(TokenError::Invalid),
        }
    }

    /// The database half of the check: one statement, by session id (the session, its user
    /// and the user's linked accounts).
    pub fn load_session(
        conn: &mut DbConn,
        session_id: &str,
        userid: UserId,
    ) -> Result<Authenticated, TokenError> {
        let (session, user, links) =
            sessions::session_with_user_and_links(conn, session_id)?.ok_or(TokenError::Revoked)?;
        if session.revoked_at.is_some() || user.id != userid || session.expires_at <= now() {
            return Err(TokenError::Revoked);
        }
        if !user.is_active {
            return Err(TokenError::Inactive);
        }
        Ok(Authenticated {
            user,
            signed_in_at: session.auth_time.unwrap_or(session.created_at),
            method: session.method,
            session_id: session.id,
            links,
        })
    }

    fn pair(
        &self,
        user: &User,
        session_id: &str,
        refresh_token: String,
        at: NaiveDateTime,
    ) -> TokenPair {
        let iat = at.and_utc().timestamp();
        let access = Claims {
            userid: user.id,
            username: user.username.clone(),
            iat,
            nbf: iat,
            exp: iat + self.access_ttl,
            jti: random_token(16),
            typ: TYP_ACCESS.into(),
            sid: session_id.to_owned(),
            iss: self.keys.issuer().to_owned(),
            aud: self.keys.audience().to_owned(),
        };
        TokenPair {
            userid: user.id,
            username: user.username.clone(),
            access_token: self.keys.sign(&access),
            refresh_token,
            session_id: session_id.to_owned(),
        }
    }

    /// Deterministic from the row, so a successor can be handed out again within the grace window.
    fn sign_refresh(&self, user: &User, row: &RefreshTokenRow, typ: &str) -> String {
        let iat = row.issued_at.and_utc().timestamp();
        self.keys.sign(&Claims {
            userid: user.id,
            username: user.username.clone(),
            iat,
            nbf: iat,
            exp: row.expires_at.and_utc().timestamp(),
            jti: row.id.clone(),
            typ: typ.into(),
            sid: row.session_id.clone(),
            iss: self.keys.issuer().to_owned(),
            aud: self.keys.audience().to_owned(),
        })
    }
}

enum Rotation {
    Rotated(User, LoginSession, String),
    Concurrent(User, LoginSession, RefreshTokenRow),
    Reused(UserId),
    Raced,
}
