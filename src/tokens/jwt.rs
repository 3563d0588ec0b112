//! HS256 JWTs signed with the bytes of `JWT_SECRET`, so any backend sharing the secret can
//! verify them with any JWT library. The header's `kid` names the key (a fingerprint of the
//! secret), so the key can be rotated: `JWT_PREVIOUS_SECRET` is still accepted for reading.
//! Every token names its issuer (`iss` = `PUBLIC_BASE_URL`) and audience (`aud` = its
//! `/api`), and both are required, so a sibling service or a staging instance that shares
//! the secret cannot pass its tokens off as ours (RFC 8725 §3.8–3.9).

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::hex;
use crate::domain::UserId;

pub const TYP_ACCESS: &str = "access";
pub const TYP_REFRESH: &str = "refresh";

/// Allowed clock skew between instances (seconds).
const LEEWAY: u64 = 30;

/// Our tokens are about 400 bytes; anything far bigger is refused before it is decoded
/// (threat T-50).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub userid: UserId,
    pub username: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub typ: String,
    /// The login session (refresh-token family) this token belongs to.
    pub sid: String,
    pub iss: String,
    pub aud: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is malformed or its signature is invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
}

pub struct JwtKeys {
    issuer: String,
    audience: String,
    active_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl JwtKeys {
    /// `issuer` is `PUBLIC_BASE_URL` without a trailing slash.
    pub fn new(secret: &str, previous: Option<&str>, issuer: &str) -> JwtKeys {
        let audience = format!("{issuer}/api");
        let active_kid = key_id(secret);
        let mut decoding = HashMap::new();
        decoding.insert(
            active_kid.clone(),
            DecodingKey::from_secret(secret.as_bytes()),
        );
        if let Some(previous) = previous {
            decoding.insert(
                key_id(previous),
                DecodingKey::from_secret(previous.as_bytes()),
            );
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[&audience]);
        JwtKeys {
            issuer: issuer.to_owned(),
            audience,
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            active_kid,
            decoding,
            validation,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    #[allow(
        clippy::expect_used,
        reason = "HS256 over plain serializable claims has no failure"
    )]
    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.active_kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// Verifies signature, algorithm (HS256 only, so `alg: none` fails), `exp` and `nbf`.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Invalid);
        }
        let header = KeyChoice::of(token).ok_or(JwtError::Invalid)?;
        // We understand no JWS extension, so a header that marks one critical is refused
        // (RFC 7515 §4.1.11).
        if header.crit.is_some() {
            return Err(JwtError::Invalid);
        }
        // Keys are chosen only from our own ring; a token without kid gets the active key.
        let kid = header.kid.as_deref().unwrap_or(&self.active_kid);
        let key = self.decoding.get(kid).ok_or(JwtError::Invalid)?;
        match jsonwebtoken::decode::<Claims>(token, key, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(JwtError::Expired),
            Err(_) => Err(JwtError::Invalid),
        }
    }
}

/// The two header fields read before the signature is checked (jsonwebtoken checks `alg`
/// itself): which key, and whether the token demands an extension.
#[derive(Deserialize)]
struct KeyChoice {
    kid: Option<String>,
    crit: Option<serde::de::IgnoredAny>,
}

impl KeyChoice {
    fn of(token: &str) -> Option<KeyChoice> {
        let segment = token.split('.').next()?;
        let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A public fingerprint of a key: enough to choose it, nothing about the key itself.
fn key_id(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes())[..6])
}
