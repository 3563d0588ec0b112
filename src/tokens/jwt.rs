//! HS256 JWTs signed with the bytes of `JWT_SECRET`, so any backend sharing the secret can
//! verify them with any JWT library. The header's `kid` names the key (a fingerprint of the
//! secret), so the key can be rotated: `JWT_PREVIOUS_SECRET` is still accepted for reading.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is malformed or its signature is invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
}

pub struct JwtKeys {
    active_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &str, previous: Option<&str>) -> JwtKeys {
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
        validation.set_required_spec_claims(&["exp", "nbf", "iat"]);
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            active_kid,
            decoding,
            validation,
        }
    }

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
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid)?;
        // Keys are chosen only from our own ring; a token without kid gets the active key.
        let kid = header.kid.unwrap_or_else(|| self.active_kid.clone());
        let key = self.decoding.get(&kid).ok_or(JwtError::Invalid)?;
        match jsonwebtoken::decode::<Claims>(token, key, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(JwtError::Expired),
            Err(_) => Err(JwtError::Invalid),
        }
    }
}

/// A public fingerprint of a key: enough to choose it, nothing about the key itself.
fn key_id(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes())[..6])
}
