//! Codes and the token endpoint's two grants: a code issued after consent, exchanged once
//! for a client session of its own (a replay ends what the first exchange started), and
//! refresh rotation within that session; the tokens signed for it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use jsonwebtoken::Algorithm;
use sha2::{Digest, Sha256};

use super::authorize::{self, Authorization};
use super::{
    ACCESS_TOKEN_TYP, AccessClaims, IdTokenClaims, OAuthError, OidcClient, OpenIdProvider,
    TokenResponse,
};
use crate::crypto::{constant_time_eq, random_token, sha256_hex};
use crate::db::models::{OidcCode, User, now};
use crate::db::{self, DbConn, DbError, oidc as queries, sessions, write_transaction};
use crate::tokens::{Authenticated, ClientGrant, TokenError, TokenService};

/// How long an authorization code may wait for its exchange (RFC 6749 §4.1.2: short).
const CODE_SECONDS: i64 = 60;

impl OpenIdProvider {
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
