//! The OpenID provider: any OpenID Connect client (Grafana, GitLab, oauth2-proxy, an SPA
//! with PKCE) logs people in through us, and so through DingTalk, WeChat, Weibo or a
//! password, with the same org restriction, registration policy and deactivation.
//!
//! - `authorize`: the authorization request checked against its registered client.
//! - `keys`: the asymmetric signing keys, published at `/oauth2/jwks`.
//! - `clients`: registering applications (`dingtalk-login client create`).
//! - here: codes, the token endpoint's two grants, UserInfo, revocation and logout, on
//!   top of the login sessions of `tokens` (a client's tokens live in a session of their
//!   own, so logout, "end all sessions", deactivation and refresh-token reuse apply to
//!   them exactly as to the SPA's).
//!
//! Nothing here knows HTTP; `web::oidc` translates.

pub mod authorize;
pub mod clients;
pub mod keys;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::{constant_time_eq, random_token, sha256_hex};
use crate::db::models::{LoginSession, OidcClient, OidcCode, User, now};
use crate::db::{self, DbConn, DbError, DbPool, oidc as queries, sessions, write_transaction};
use crate::domain::UserId;
use crate::tokens::{Authenticated, ClientGrant, TokenError, TokenService};
use authorize::Authorization;
use keys::SigningKeys;

/// How long an authorization code may wait for its exchange (RFC 6749 §4.1.2: short).
const CODE_SECONDS: i64 = 60;

/// The JOSE `typ` of our access tokens (RFC 9068), which id_tokens do not have: an
/// id_token presented as a bearer token is refused.
const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Why the provider said no, in RFC 6749 / OpenID terms.
#[derive(thiserror::Error)]
pub enum OAuthError {
    /// `error` and `error_description` of RFC 6749 §5.2.
    #[error("{error}: {description}")]
    Refused {
        error: &'static str,
        description: &'static str,
    },
    /// The client could not be authenticated (401); `basic`: it tried HTTP Basic.
    #[error("client authentication failed")]
    InvalidClient { basic: bool },
    /// A bearer token that is not (or no longer) ours to honour (401).
    #[error("the access token is invalid, expired or revoked")]
    InvalidToken,
    /// No credentials at all (401 without an error code: RFC 6750 §3.1).
    #[error("no access token")]
    NoToken,
    /// Over the per-address budget (429, with `Retry-After`).
    #[error("too many requests")]
    TooManyRequests(std::time::Duration),
    /// The HTTP request itself was refused before any OAuth rule (a wrong method, a body
    /// too large): its status, and what to tell the client.
    #[error("{description}")]
    Http {
        status: u16,
        description: &'static str,
    },
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::report::debug_as_chain!(OAuthError);

impl OAuthError {
    fn grant(description: &'static str) -> OAuthError {
        OAuthError::Refused {
            error: "invalid_grant",
            description,
        }
    }

    pub fn request(description: &'static str) -> OAuthError {
        OAuthError::Refused {
            error: "invalid_request",
            description,
        }
    }
}

impl From<diesel::result::Error> for OAuthError {
    fn from(error: diesel::result::Error) -> Self {
        OAuthError::Db(DbError::Query(error))
    }
}

/// A client as it presented itself at the token endpoint.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<String>,
    /// Sent with HTTP Basic (a failure then answers with `WWW-Authenticate: Basic`).
    pub basic: bool,
}

/// The token endpoint's answer (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// The claims of our id_tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    /// The user's id: stable for the life of the account.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// How the person signed in: `pwd` or the provider (`dingtalk`, `wechat`, `weibo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The client's session at this provider (what logout and revocation end).
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
}

/// The claims of our access tokens (RFC 9068).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    jti: String,
    client_id: String,
    scope: String,
    sid: String,
}

/// What `/oauth2/userinfo` tells, as far as the granted scopes allow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
    /// The providers linked to the account (`dingtalk`, `wechat`, `weibo`), with `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub providers: Option<Vec<&'static str>>,
}

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
        client: OidcClient,
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

pub struct OpenIdProvider {
    pool: DbPool,
    keys: Arc<SigningKeys>,
    tokens: Arc<TokenService>,
    issuer: String,
    access_ttl: i64,
}

impl OpenIdProvider {
    pub fn new(
        pool: DbPool,
        keys: Arc<SigningKeys>,
        tokens: Arc<TokenService>,
        issuer: &str,
        access_ttl: i64,
    ) -> OpenIdProvider {
        OpenIdProvider {
            pool,
            keys,
            tokens,
            issuer: issuer.to_owned(),
            access_ttl,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks(&self) -> JwkSet {
        self.keys.jwks()
    }

    pub fn signing_algorithms(&self) -> Vec<&'static str> {
        self.keys.algorithms()
    }

    /// The registered client `client_id`; an id that no client could have (too long,
    /// control characters) finds none without asking the database.
    pub async fn client(&self, client_id: Option<String>) -> Result<Option<OidcClient>, DbError> {
        let Some(client_id) = client_id.filter(|id| clients::plausible_id(id)) else {
            return Ok(None);
        };
        db::run(&self.pool, move |conn| {
            queries::find_client(conn, &client_id)
        })
        .await
    }

    /// Whether `who` already agreed to what `request` asks.
    pub async fn consented(
        &self,
        who: &Authenticated,
        request: &Authorization,
    ) -> Result<bool, DbError> {
        let (userid, client_id) = (who.user.id, request.client.client_id.clone());
        let granted = db::run(&self.pool, move |conn| {
            queries::granted_scope(conn, userid, &client_id)
        })
        .await?;
        Ok(granted.is_some_and(|g| request.covered_by(&g)))
    }

    /// A one-time code for `request`, signed in as `who`; `consent_given` remembers the
    /// person's "yes" in the same transaction.
    pub async fn issue_code(
        &self,
        request: &Authorization,
        who: &Authenticated,
        consent_given: bool,
    ) -> Result<String, DbError> {
        let code = random_token(32);
        let row = OidcCode {
            code_hash: sha256_hex(&code),
            client_id: request.client.client_id.clone(),
            login_session_id: who.session_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            expires_at: now() + TimeDelta::seconds(CODE_SECONDS),
            used_at: None,
            issued_session_id: None,
        };
        let userid = who.user.id;
        db::run(&self.pool, move |conn| {
            write_transaction(conn, |conn| {
                if consent_given {
                    queries::grant(conn, userid, &row.client_id, &row.scope)?;
                }
                queries::insert_code(conn, &row)
            })
        })
        .await?;
        Ok(code)
    }

    /// The registered client behind `credentials`: a confidential client's secret must
    /// match; a public client must not send one.
    pub async fn authenticate_client(
        &self,
        credentials: ClientCredentials,
    ) -> Result<OidcClient, OAuthError> {
        let refused = OAuthError::InvalidClient {
            basic: credentials.basic,
        };
        let client = self.client(Some(credentials.client_id)).await?;
        let Some(client) = client else {
            return Err(refused);
        };
        let authenticated = match (&client.secret_hash, &credentials.secret) {
            (Some(hash), Some(secret)) => constant_time_eq(hash, &sha256_hex(secret)),
            (None, None) => true,
            _ => false,
        };
        if !authenticated {
            tracing::warn!(event = "oidc_client_auth_failed", client_id = %client.client_id, "a client presented a wrong or missing secret");
            return Err(refused);
        }
        Ok(client)
    }

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

    /// `grant_type=authorization_code`: a code is good once, for its client, its redirect
    /// URI and (with PKCE) its verifier, within 60 seconds. A code presented again ends
    /// the session its first exchange started (RFC 6749 §4.1.2).
    pub async fn exchange_code(
        &self,
        client: OidcClient,
        code: String,
        redirect_uri: Option<String>,
        verifier: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let tokens = self.tokens.clone();
        let alg = id_token_alg(&client);
        // The replay's revocation commits although the answer is a refusal: hence a
        // refusal inside a successful transaction.
        let (user, session, refresh, grant, nonce) = db::run(&self.pool, move |conn| {
            write_transaction(
                conn,
                |conn| -> Result<Result<Exchanged, OAuthError>, OAuthError> {
                    let hash = sha256_hex(&code);
                    let row = queries::find_code(conn, &hash)?
                        .filter(|row| row.client_id == client.client_id);
                    match row {
                        None => Ok(Err(OAuthError::grant("the code is unknown"))),
                        Some(row) if row.used_at.is_some() => Ok(Err(replayed(conn, &row)?)),
                        // A refused exchange rolls back: nothing of it is kept.
                        Some(row) => {
                            exchange(conn, &tokens, &client, row, redirect_uri, verifier).map(Ok)
                        }
                    }
                },
            )
        })
        .await??;
        let (access_token, id_token) = self.sign_pair(&user, &session, &grant, nonce, alg);
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.access_ttl,
            id_token,
            refresh_token: refresh,
            scope: grant.scope,
        })
    }

    /// `grant_type=refresh_token`: rotates within the session's family (reuse revokes it),
    /// for the client the session belongs to only.
    pub async fn refresh(
        &self,
        client: OidcClient,
        refresh_token: String,
        scope: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let tokens = self.tokens.clone();
        let client_id = client.client_id.clone();
        let (user, session, token) = db::run(&self.pool, move |conn| {
            tokens
                .refresh_client(conn, &refresh_token, &client_id)
                .map_err(|e| match e {
                    TokenError::Db(db) => OAuthError::Db(db),
                    _ => OAuthError::grant("the refresh token is invalid, expired or revoked"),
                })
        })
        .await?;
        let granted = session.scope.clone().unwrap_or_default();
        // A refresh may narrow the scope of the tokens it issues, never widen it (RFC 6749
        // §6); the grant itself stays, so a later refresh without `scope` gets all of it.
        let scope = match scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => granted,
            Some(asked) => {
                let asked: Vec<&str> = asked.split(' ').filter(|s| !s.is_empty()).collect();
                if !asked.iter().all(|s| granted.split(' ').any(|g| g == *s)) {
                    return Err(OAuthError::Refused {
                        error: "invalid_scope",
                        description: "a refresh cannot widen the granted scope",
                    });
                }
                if !asked.contains(&"openid") {
                    return Err(OAuthError::Refused {
                        error: "invalid_scope",
                        description: "the openid scope is required",
                    });
                }
                authorize::SCOPES
                    .into_iter()
                    .filter(|s| asked.contains(s))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        let alg = id_token_alg(&client);
        let grant = ClientGrant {
            client_id: client.client_id,
            scope,
            method: session.method.clone(),
            auth_time: session.auth_time.unwrap_or(session.created_at),
            offline: true,
        };
        let (access_token, id_token) = self.sign_pair(&user, &session.id, &grant, None, alg);
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.access_ttl,
            id_token,
            refresh_token: Some(token),
            scope: grant.scope,
        })
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
                client,
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

    /// An access token and an id_token for `user` in the client session `session_id`.
    fn sign_pair(
        &self,
        user: &User,
        session_id: &str,
        grant: &ClientGrant,
        nonce: Option<String>,
        alg: Algorithm,
    ) -> (String, String) {
        let iat = chrono::Utc::now().timestamp();
        let access = AccessClaims {
            iss: self.issuer.clone(),
            sub: user.id.to_string(),
            aud: grant.client_id.clone(),
            exp: iat + self.access_ttl,
            iat,
            jti: random_token(16),
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            sid: session_id.to_owned(),
        };
        let profile = grant.scope.split(' ').any(|s| s == "profile");
        let id = IdTokenClaims {
            iss: self.issuer.clone(),
            sub: user.id.to_string(),
            aud: grant.client_id.clone(),
            exp: iat + self.access_ttl,
            iat,
            auth_time: grant.auth_time.and_utc().timestamp(),
            nonce,
            amr: grant.method.as_deref().map(|m| vec![amr(m).to_owned()]),
            sid: session_id.to_owned(),
            name: profile.then(|| user.name.clone()),
            preferred_username: profile.then(|| user.username.clone()),
        };
        (
            self.keys.sign(Algorithm::RS256, ACCESS_TOKEN_TYP, &access),
            self.keys.sign(alg, "JWT", &id),
        )
    }
}

/// RFC 8176's `pwd` for a password; a provider's own name otherwise.
fn amr(method: &str) -> &str {
    if method == "password" { "pwd" } else { method }
}

/// The client's registered id_token algorithm (RS256 unless it asked for ES256).
fn id_token_alg(client: &OidcClient) -> Algorithm {
    match client.id_token_alg.as_str() {
        "ES256" => Algorithm::ES256,
        _ => Algorithm::RS256,
    }
}

/// The second exchange of a code: what the first one started is ended.
fn replayed(conn: &mut DbConn, row: &OidcCode) -> Result<OAuthError, OAuthError> {
    if let Some(session_id) = &row.issued_session_id {
        sessions::revoke_session(conn, session_id, "authorization code replayed")?;
    }
    tracing::warn!(event = "oidc_code_replayed", client_id = %row.client_id, "an authorization code was presented again; the session it started is revoked");
    Ok(OAuthError::grant("the code was already used"))
}

type Exchanged = (User, String, Option<String>, ClientGrant, Option<String>);

fn exchange(
    conn: &mut DbConn,
    tokens: &TokenService,
    client: &OidcClient,
    row: OidcCode,
    redirect_uri: Option<String>,
    verifier: Option<String>,
) -> Result<Exchanged, OAuthError> {
    if row.expires_at <= now() {
        return Err(OAuthError::grant("the code has expired"));
    }
    if redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
        return Err(OAuthError::grant(
            "redirect_uri differs from the authorization request's",
        ));
    }
    match (&row.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) if pkce_matches(challenge, &verifier) => {}
        (None, None) => {}
        (Some(_), _) => return Err(OAuthError::grant("the code_verifier does not match")),
        // A verifier for a code that had no challenge: a downgrade (RFC 9700 §2.1.1).
        (None, Some(_)) => return Err(OAuthError::grant("this code was issued without PKCE")),
    }
    let (browser, user) = sessions::session_with_user(conn, &row.login_session_id)?
        .ok_or(OAuthError::grant("the sign-in has ended"))?;
    if browser.revoked_at.is_some() || browser.expires_at <= now() || !user.is_active {
        return Err(OAuthError::grant("the sign-in has ended"));
    }
    // A code issued before the person withdrew their consent is worth nothing after.
    let granted = queries::granted_scope(conn, user.id, &client.client_id)?;
    if !granted.is_some_and(|g| row.scope.split(' ').all(|s| g.split(' ').any(|x| x == s))) {
        return Err(OAuthError::grant(
            "the consent behind this code was withdrawn",
        ));
    }
    let grant = ClientGrant {
        client_id: client.client_id.clone(),
        offline: row.scope.split(' ').any(|s| s == "offline_access"),
        scope: row.scope.clone(),
        method: browser.method.clone(),
        auth_time: browser.auth_time.unwrap_or(browser.created_at),
    };
    let (session, refresh) = tokens
        .start_client_session(conn, &user, grant.clone())
        .map_err(|e| match e {
            TokenError::Db(db) => OAuthError::Db(db),
            _ => OAuthError::grant("the sign-in has ended"),
        })?;
    if !queries::use_code(conn, &row.code_hash, &session.id)? {
        // Another exchange won the race; this one is rolled back.
        return Err(OAuthError::grant("the code was already used"));
    }
    Ok((user, session.id, refresh, grant, row.nonce))
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge, verifier 43–128 characters.
fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && constant_time_eq(
            challenge,
            &URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        )
}
