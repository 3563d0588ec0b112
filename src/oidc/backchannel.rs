//! OpenID Connect Back-Channel Logout 1.0, the sending side: when a person's sessions end
//! because they left the organisation, each client that registered a
//! `backchannel_logout_uri` is posted a signed logout token (`iss`, `aud`, `iat`, `exp`,
//! `jti`, `events`, `sub`, `sid`; header `typ: logout+jwt`). The tokens wait in a durable
//! outbox (`logout_outbox`, written in the transaction that ended the sessions), so a
//! restart loses none; every instance delivers, each row claimed by one at a time, and a
//! failed delivery is tried again later, up to `MAX_ATTEMPTS` times.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::Serialize;

use super::keys::SigningKeys;
use crate::crypto::random_token;
use crate::db::models::now;
use crate::db::oidc::{self, PendingLogout};
use crate::db::{self, DbError, DbPool};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Tries over about three hours (5 s, 10 s, 20 s … an hour apart).
const MAX_ATTEMPTS: i32 = 12;
/// How long a claimed row is left to the instance that claimed it.
const CLAIM_FOR: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// How often the outbox is looked at.
const EVERY: Duration = Duration::from_secs(1);
/// A logout token is good for two minutes.
const TOKEN_SECONDS: i64 = 120;

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    events: serde_json::Value,
    sub: &'a str,
    sid: &'a str,
}

pub struct LogoutDelivery {
    pool: DbPool,
    keys: Arc<SigningKeys>,
    issuer: String,
    http: reqwest::Client,
}

impl LogoutDelivery {
    pub fn new(
        pool: DbPool,
        keys: Arc<SigningKeys>,
        issuer: &str,
        http: reqwest::Client,
    ) -> LogoutDelivery {
        LogoutDelivery {
            pool,
            keys,
            issuer: issuer.to_owned(),
            http,
        }
    }

    /// Looks at the outbox every second for as long as the process runs.
    pub async fn deliver_periodically(self) {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = self.deliver_due().await {
                tracing::debug!(error = %error, "the logout outbox could not be read");
            }
        }
    }

    /// Delivers what is due now; how many were delivered.
    pub async fn deliver_due(&self) -> Result<usize, DbError> {
        let due = db::run(&self.pool, |conn| oidc::due_logouts(conn, MAX_ATTEMPTS, 20)).await?;
        let mut delivered = 0;
        for pending in due {
            let (id, attempts) = (pending.id, pending.attempts);
            let until = now() + CLAIM_FOR;
            let ours = db::run(&self.pool, move |conn| {
                oidc::claim_logout(conn, id, attempts, until)
            })
            .await?;
            if !ours {
                continue;
            }
            match self.post(&pending).await {
                Ok(()) => {
                    db::run(&self.pool, move |conn| oidc::logout_delivered(conn, id)).await?;
                    tracing::info!(event = "backchannel_logout", outcome = "delivered", client_id = %pending.client_id, "a logout token was delivered");
                    delivered += 1;
                }
                Err(error) => {
                    let wait = chrono::TimeDelta::seconds(5 << attempts.clamp(0, 10));
                    let next = now() + wait;
                    tracing::warn!(event = "backchannel_logout", outcome = "failed", client_id = %pending.client_id, attempt = attempts + 1, error = %error, "a logout token was not taken; it will be sent again");
                    db::run(&self.pool, move |conn| {
                        oidc::logout_failed(conn, id, next, &error)
                    })
                    .await?;
                }
            }
        }
        Ok(delivered)
    }

    /// Posts the token as `application/x-www-form-urlencoded` `logout_token=…`; a 2xx
    /// answer (the spec says 200; 204 is common) is taken.
    async fn post(&self, pending: &PendingLogout) -> Result<(), String> {
        let uri = pending
            .uri
            .as_deref()
            .ok_or("the client no longer has a back-channel logout URI")?;
        let iat = chrono::Utc::now().timestamp();
        let claims = LogoutClaims {
            iss: &self.issuer,
            aud: &pending.client_id,
            iat,
            exp: iat + TOKEN_SECONDS,
            jti: random_token(16),
            events: serde_json::json!({ EVENT: {} }),
            sub: &pending.sub,
            sid: &pending.sid,
        };
        let alg = if pending.id_token_alg == "ES256" {
            Algorithm::ES256
        } else {
            Algorithm::RS256
        };
        let token = self.keys.sign(alg, "logout+jwt", &claims);
        let response = self
            .http
            .post(uri)
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
            .map_err(|error| format!("not delivered: {error}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the client answered HTTP {}",
                response.status().as_u16()
            ))
        }
    }
}
