//! A login after it began: single-use values in the browser's cookie remembered as used,
//! the one-time handoff code, refresh, and ending one or all sessions.

use super::{HANDOFF_CODE_SECONDS, LoginError, LoginService, SessionRef};
use crate::accounts;
use crate::crypto::{random_token, sha256_hex};
use crate::db::models::{User, now};
use crate::db::sessions::HandoffUse;
use crate::db::{DbError, sessions, write_transaction};
use crate::domain::UserId;
use crate::tokens::{TokenError, TokenPair};

impl LoginService {
    /// Uses up a single-use value that travels in the browser's cookie (an OAuth `state`,
    /// a held identity) for good: `false` when it was used before, even if the cookie
    /// presenting it says otherwise (an older copy of the cookie). `created_at` and
    /// `lifetime` (Unix seconds) say until when it must be remembered.
    pub async fn use_once(
        &self,
        value: &str,
        created_at: i64,
        lifetime: i64,
    ) -> Result<bool, LoginError> {
        Ok(self.used.use_once(value, created_at, lifetime).await?)
    }

    /// `HANDOFF_MODE=code`: a one-time code that stands for this login's tokens — 192
    /// random bits, stored as its SHA-256, single use, 60 seconds, good on any instance.
    pub async fn handoff_code(&self, pair: &TokenPair) -> Result<String, LoginError> {
        let code = random_token(24);
        let hash = sha256_hex(&code);
        let session_id = pair.session_id.clone();
        let expires_at = now() + chrono::TimeDelta::seconds(HANDOFF_CODE_SECONDS);
        self.db::<_, DbError, _>(move |conn| {
            sessions::insert_handoff_code(conn, &hash, &session_id, expires_at)
        })
        .await?;
        Ok(code)
    }

    /// The tokens a handoff code stands for. A second use means the code leaked: the login
    /// session it produced is revoked, as with a reused refresh token.
    pub async fn exchange_handoff_code(&self, code: String) -> Result<TokenPair, TokenError> {
        let tokens = self.tokens.clone();
        self.db(move |conn| {
            let used = write_transaction(conn, |conn| {
                sessions::use_handoff_code(conn, &sha256_hex(&code), now())
            })?;
            match used {
                HandoffUse::Redeemed(session_id) => tokens.resume(conn, &session_id),
                HandoffUse::Reused(session_id) => {
                    sessions::revoke_session(conn, &session_id, "handoff code reuse")?;
                    tracing::warn!(
                        event = "handoff_code_reuse",
                        "a handoff code was presented again; its login session is revoked"
                    );
                    Err(TokenError::Revoked)
                }
                HandoffUse::Unknown => Err(TokenError::Invalid),
            }
        })
        .await
    }

    /// Rotates a refresh token (see `TokenService::refresh`).
    pub async fn refresh(&self, refresh_token: String) -> Result<TokenPair, TokenError> {
        let tokens = self.tokens.clone();
        self.db(move |conn| tokens.refresh(conn, &refresh_token))
            .await
    }

    /// Logout: this login session's tokens stop working at once, everywhere.
    pub async fn end_session(&self, session: SessionRef) -> Result<(), LoginError> {
        let session_id = session.session_id;
        self.db::<_, DbError, _>(move |conn| sessions::revoke_session(conn, &session_id, "logout"))
            .await?;
        tracing::info!(event = "logout", userid = %session.userid, "logged out");
        Ok(())
    }

    /// Ends every login session of `target`: the actor's own ("log out everywhere") or,
    /// for an admin, someone else's. Audited.
    pub async fn end_all_sessions(
        &self,
        actor: &User,
        target: UserId,
    ) -> Result<usize, LoginError> {
        let owner = actor.clone();
        let ended = self
            .db(move |conn| accounts::end_all_sessions(conn, &owner, target))
            .await
            .map_err(LoginError::from)?;
        tracing::info!(
            event = "sessions_ended",
            userid = %target,
            by = %actor.id,
            ended,
            "ended all sessions"
        );
        Ok(ended)
    }
}
