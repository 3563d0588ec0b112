//! What a client's session meets after the grant: UserInfo, revocation (RFC 7009), the
//! person withdrawing their consent, and RP-initiated logout with its hint.

use super::{
    ACCESS_TOKEN_TYP, AccessClaims, IdTokenClaims, OAuthError, OidcClient, OpenIdProvider,
    UserInfo, clients,
};
use crate::db::models::{LoginSession, User, now};
use crate::db::{self, DbError, oidc as queries, sessions, write_transaction};
use crate::domain::UserId;

/// What a logout request's `id_token_hint` says, once its signature is checked.
#[derive(Debug, Default)]
pub enum LogoutHint {
    #[default]
    Absent,
    /// Not an id_token of ours, or of a client that no longer exists.
    Invalid,
    /// One of our id_tokens (its expiry does not matter): who, at which client, which
    /// of the client's sessions.
    Valid {
        /// Boxed: a client is large beside the other variants.
        client: Box<OidcClient>,
        userid: UserId,
        sid: String,
    },
}

impl LogoutHint {
    /// The client the hint was issued to.
    pub fn client(&self) -> Option<&OidcClient> {
        match self {
            LogoutHint::Valid { client, .. } => Some(client),
            _ => None,
        }
    }
}

impl OpenIdProvider {
    /// A person takes back their consent to a client: it is forgotten and the client's
    /// sessions for them end now, in one transaction; the next request asks again.
    pub async fn withdraw_consent(
        &self,
        userid: UserId,
        client_id: String,
    ) -> Result<bool, DbError> {
        if !clients::plausible_id(&client_id) {
            return Ok(false);
        }
        db::run(&self.pool, move |conn| {
            write_transaction(conn, |conn| {
                let forgotten = queries::forget_grant(conn, userid, &client_id)?;
                queries::revoke_client_sessions(conn, userid, &client_id, "consent withdrawn")?;
                Ok(forgotten)
            })
        })
        .await
    }

    /// `/oauth2/userinfo`: the access token's session must still count, as with the SPA's
    /// guard: a revoked session or a deactivated user gets 401 at once.
    pub async fn userinfo(&self, access_token: &str) -> Result<UserInfo, OAuthError> {
        let claims = self.verify_access(access_token)?;
        db::run(&self.pool, move |conn| {
            let (session, user, links) = sessions::session_with_user_and_links(conn, &claims.sid)?
                .ok_or(OAuthError::InvalidToken)?;
            let alive = session.revoked_at.is_none()
                && session.expires_at > now()
                && user.is_active
                && user.id.to_string() == claims.sub
                && session.client_id.as_deref() == Some(claims.client_id.as_str());
            if !alive {
                return Err(OAuthError::InvalidToken);
            }
            // What the token carries (a refresh may have narrowed it), within what the
            // session was granted.
            let granted = session.scope.unwrap_or_default();
            let has = |s: &str| {
                claims.scope.split(' ').any(|t| t == s) && granted.split(' ').any(|g| g == s)
            };
            Ok(UserInfo {
                sub: user.id.to_string(),
                name: has("profile").then(|| user.name.clone()),
                preferred_username: has("profile").then(|| user.username.clone()),
                picture: links
                    .iter()
                    .find_map(|l| l.avatar_url.clone())
                    .filter(|_| has("profile")),
                // Verified when a linked provider vouched for exactly this number at its
                // last login; a number an admin typed is not.
                phone_number_verified: has("phone")
                    .then_some(user.phone.as_ref())
                    .flatten()
                    .map(|phone| links.iter().any(|l| l.phone.as_ref() == Some(phone))),
                phone_number: has("phone").then_some(user.phone).flatten(),
                providers: has("profile").then(|| links.iter().map(|l| l.types.name()).collect()),
            })
        })
        .await
    }

    /// RFC 7009: ends the session behind a refresh or access token of `client`. Unknown,
    /// expired or foreign tokens are answered the same (nothing to revoke, no oracle).
    pub async fn revoke(&self, client: OidcClient, token: String) -> Result<(), OAuthError> {
        let session = match self.verify_access(&token) {
            Ok(claims) => Some(claims.sid),
            Err(_) => self.tokens.client_refresh_session(&token),
        };
        let Some(session_id) = session else {
            return Ok(());
        };
        let client_id = client.client_id;
        let owned = move |session: &LoginSession, _: &User| {
            session.client_id.as_deref() == Some(client_id.as_str())
        };
        Ok(self
            .end_session_if(session_id, "revoked by the client", owned)
            .await?)
    }

    /// An id_token we issued, read for a logout: its signature must be ours, its expiry
    /// does not matter (OpenID RP-Initiated Logout §2).
    pub async fn logout_hint(&self, id_token_hint: Option<&str>) -> Result<LogoutHint, DbError> {
        let Some(hint) = id_token_hint else {
            return Ok(LogoutHint::Absent);
        };
        let Ok(claims) = self
            .keys
            .verify::<IdTokenClaims>(hint, &self.issuer, "JWT", false)
        else {
            return Ok(LogoutHint::Invalid);
        };
        let client = self.client(Some(claims.aud)).await?;
        let userid = claims.sub.parse::<i32>().ok().map(UserId);
        Ok(match (client, userid) {
            (Some(client), Some(userid)) => LogoutHint::Valid {
                client: Box::new(client),
                userid,
                sid: claims.sid,
            },
            _ => LogoutHint::Invalid,
        })
    }

    /// Logs out at once what `hint` names, when that is `signed_in`'s own live session at
    /// the hint's client; `false` (nothing ended) otherwise — another person's id_token, a
    /// session already over — and the person is asked instead (logout CSRF, T-77).
    pub async fn end_hinted_session(
        &self,
        signed_in: UserId,
        hint: &LogoutHint,
    ) -> Result<bool, DbError> {
        let LogoutHint::Valid {
            client,
            userid,
            sid,
        } = hint
        else {
            return Ok(false);
        };
        if *userid != signed_in {
            return Ok(false);
        }
        let (client_id, session_id) = (client.client_id.clone(), sid.clone());
        db::run(&self.pool, move |conn| {
            let found = sessions::session_with_user(conn, &session_id)?;
            let live = found.is_some_and(|(session, user)| {
                user.id == signed_in
                    && session.client_id.as_deref() == Some(client_id.as_str())
                    && session.revoked_at.is_none()
                    && session.expires_at > now()
            });
            if live {
                sessions::revoke_session(conn, &session_id, "logout")?;
            }
            Ok(live)
        })
        .await
    }

    /// Ends the session `session_id` if `belongs` says it is the caller's to end.
    async fn end_session_if(
        &self,
        session_id: String,
        reason: &'static str,
        belongs: impl Fn(&LoginSession, &User) -> bool + Send + 'static,
    ) -> Result<(), DbError> {
        db::run(&self.pool, move |conn| {
            let found = sessions::session_with_user(conn, &session_id)?;
            if found.is_some_and(|(session, user)| belongs(&session, &user)) {
                sessions::revoke_session(conn, &session_id, reason)?;
            }
            Ok(())
        })
        .await
    }

    fn verify_access(&self, token: &str) -> Result<AccessClaims, OAuthError> {
        self.keys
            .verify::<AccessClaims>(token, &self.issuer, ACCESS_TOKEN_TYP, true)
            .map_err(|_| OAuthError::InvalidToken)
    }
}
