//! The OpenID provider's signing keys: asymmetric, so any client verifies our id_tokens
//! with the public half from `/oauth2/jwks` and nobody but us can mint one. They are
//! separate from the HS256 secret of the SPA handoff, which a client must never hold.
//!
//! RS256 (required by OpenID Connect) and ES256, as PKCS#8 PEM: given as files or text
//! in production, generated once into `DATA_DIR` (owner-only) in development. Previous
//! keys stay published (and accepted for our own access tokens) after a rotation, until
//! what they signed has expired. A key's `kid` is its RFC 7638 thumbprint, so it names
//! the key itself and not where it was kept.

use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{ConfigError, OidcKeySource, Secret, config_error, write_private_file};
use crate::tokens::{JwtError, MAX_TOKEN_BYTES};

/// Allowed clock skew between instances and clients (seconds).
const LEEWAY: u64 = 30;

/// RSA keys we generate: 2048 bits, what every OIDC client verifies (RFC 7518 §3.3).
const RSA_BITS: usize = 2048;

struct SigningKey {
    alg: Algorithm,
    kid: String,
    /// `None` for a previous key: published and accepted, never used to sign.
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    jwk: Jwk,
}

pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| &k.kid).collect();
        f.debug_struct("SigningKeys").field("kids", &kids).finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl SigningKeys {
    /// The keys `source` names, parsed; in development they are generated into
    /// `data_dir` on first use. `None`: the provider is off.
    pub fn load(
        source: &OidcKeySource,
        data_dir: &Path,
    ) -> Result<Option<Arc<SigningKeys>>, ConfigError> {
        match source {
            OidcKeySource::Off => Ok(None),
            OidcKeySource::Given {
                rs256,
                es256,
                previous,
            } => {
                let es256 = es256.as_ref().map(Secret::expose);
                Ok(Some(Arc::new(parse(rs256.expose(), es256, previous)?)))
            }
            OidcKeySource::Generated { previous } => {
                let rs256 = generated(data_dir, "oidc-rs256.pem", generate_rs256)?;
                let es256 = generated(data_dir, "oidc-es256.pem", generate_es256)?;
                Ok(Some(Arc::new(parse(&rs256, Some(&es256), previous)?)))
            }
        }
    }

    /// Whether the keys given in the settings are usable (generated ones always are):
    /// every command checks, so a bad key stops each of them with its variable named.
    pub fn check(source: &OidcKeySource) -> Result<(), ConfigError> {
        match source {
            OidcKeySource::Given { .. } => Self::load(source, Path::new("")).map(drop),
            OidcKeySource::Off | OidcKeySource::Generated { .. } => Ok(()),
        }
    }

    /// The algorithms we sign with, RS256 first.
    pub fn algorithms(&self) -> Vec<&'static str> {
        self.keys
            .iter()
            .filter(|k| k.encoding.is_some())
            .map(|k| alg_name(k.alg))
            .collect()
    }

    fn active(&self, alg: Algorithm) -> Option<(&SigningKey, &EncodingKey)> {
        self.keys
            .iter()
            .filter(|k| k.alg == alg)
            .find_map(|k| k.encoding.as_ref().map(|e| (k, e)))
    }

    /// `claims` signed with the active key of `alg` (RS256 when that is not ours), with
    /// `typ` in the header (`JWT` for id_tokens, `at+jwt` for access tokens, RFC 9068).
    #[allow(
        clippy::expect_used,
        reason = "`parse` refuses a ring without RS256, and signing serializable claims with a parsed key has no failure"
    )]
    pub fn sign<T: Serialize>(&self, alg: Algorithm, typ: &str, claims: &T) -> String {
        let (key, encoding) = self
            .active(alg)
            .or_else(|| self.active(Algorithm::RS256))
            .expect("an RS256 key is always loaded");
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, encoding).expect("signing plain claims cannot fail")
    }

    /// Verifies a token we signed: one of our keys by `kid`, only that key's algorithm
    /// (so an HS256 token made with a public key as its secret is refused), the header's
    /// `typ`, `iss` and — unless `check_expiry` is false (a logout's id_token_hint) —
    /// `exp`. The audience is the caller's to check.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        typ: &str,
        check_expiry: bool,
    ) -> Result<T, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid)?;
        if header.typ.as_deref() != Some(typ) || header.crit.is_some() {
            return Err(JwtError::Invalid);
        }
        let kid = header.kid.ok_or(JwtError::Invalid)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(JwtError::Invalid)?;
        let mut validation = Validation::new(key.alg);
        validation.leeway = LEEWAY;
        validation.validate_exp = check_expiry;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        validation.set_issuer(&[issuer]);
        match jsonwebtoken::decode::<T>(token, &key.decoding, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(JwtError::Expired)
            }
            Err(_) => Err(JwtError::Invalid),
        }
    }

    /// What `/oauth2/jwks` publishes: every key's public half.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(|k| k.jwk.clone()).collect(),
        }
    }
}

/// Keys given as PKCS#8 PEM (the active RS256, an optional ES256, previous ones), parsed;
/// a bad one is a configuration error naming its variable.
pub fn parse(
    rs256: &str,
    es256: Option<&str>,
    previous: &[Secret],
) -> Result<SigningKeys, ConfigError> {
    let bad = |var: &'static str| {
        move |e: KeyError| {
            config_error(
                var,
                format!("is not a usable key ({e})"),
                "Give a PKCS#8 PEM private key, e.g. `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` (RS256) or `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` (ES256).",
            )
        }
    };
    let mut keys = vec![rsa_key(rs256, true).map_err(bad("OIDC_RS256_KEY"))?];
    if let Some(es256) = es256 {
        keys.push(ec_key(es256, true).map_err(bad("OIDC_ES256_KEY"))?);
    }
    for pem in previous {
        let pem = pem.expose();
        let key = rsa_key(pem, false).or_else(|_| ec_key(pem, false));
        keys.push(key.map_err(bad("OIDC_PREVIOUS_KEY_FILES"))?);
    }
    Ok(SigningKeys { keys })
}

pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        _ => "RS256",
    }
}

fn rsa_key(pem: &str, active: bool) -> Result<SigningKey, KeyError> {
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| rsa::pkcs1::DecodeRsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|e| KeyError(format!("not an RSA private key: {e}")))?;
    if rsa::traits::PublicKeyParts::size(&private) * 8 < RSA_BITS {
        return Err(KeyError(format!("RSA keys need at least {RSA_BITS} bits")));
    }
    let der = private
        .to_pkcs1_der()
        .map_err(|e| KeyError(e.to_string()))?;
    key(
        EncodingKey::from_rsa_der(der.as_bytes()),
        Algorithm::RS256,
        active,
    )
}

fn ec_key(pem: &str, active: bool) -> Result<SigningKey, KeyError> {
    let private = p256::SecretKey::from_pkcs8_pem(pem)
        .map_err(|e| KeyError(format!("not a P-256 private key: {e}")))?;
    let der = private
        .to_pkcs8_der()
        .map_err(|e| KeyError(e.to_string()))?;
    key(
        EncodingKey::from_ec_der(der.as_bytes()),
        Algorithm::ES256,
        active,
    )
}

fn key(encoding: EncodingKey, alg: Algorithm, active: bool) -> Result<SigningKey, KeyError> {
    let mut jwk = Jwk::from_encoding_key(&encoding, alg).map_err(|e| KeyError(e.to_string()))?;
    let kid = jwk.thumbprint(ThumbprintHash::SHA256);
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| KeyError(e.to_string()))?;
    Ok(SigningKey {
        alg,
        kid,
        encoding: active.then_some(encoding),
        decoding,
        jwk,
    })
}

/// The key kept in `data_dir/file`, generated there on first use.
fn generated(
    data_dir: &Path,
    file: &str,
    generate: fn() -> Result<String, String>,
) -> Result<String, ConfigError> {
    let path = data_dir.join(file);
    let io_error = |e: std::io::Error| {
        config_error(
            "DATA_DIR",
            format!(
                "cannot keep the OpenID signing key in {} ({e})",
                path.display()
            ),
            "Set DATA_DIR to a writable folder, or give the keys (OIDC_RS256_KEY_FILE, OIDC_ES256_KEY_FILE).",
        )
    };
    match std::fs::read_to_string(&path) {
        Ok(existing) => Ok(existing),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pem = generate().map_err(|e| {
                config_error(
                    "DATA_DIR",
                    format!("cannot generate an OpenID signing key ({e})"),
                    "Give the keys (OIDC_RS256_KEY_FILE, OIDC_ES256_KEY_FILE).",
                )
            })?;
            write_private_file(&path, &pem).map_err(io_error)?;
            tracing::info!(file = %path.display(), "generated an OpenID signing key and kept it in the data folder (owner-only); give one in production");
            Ok(pem)
        }
        Err(e) => Err(io_error(e)),
    }
}

/// A fresh RS256 key as PKCS#8 PEM.
pub fn generate_rs256() -> Result<String, String> {
    let key =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS).map_err(|e| e.to_string())?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    Ok(pem.to_string())
}

/// A fresh ES256 (P-256) key as PKCS#8 PEM.
pub fn generate_es256() -> Result<String, String> {
    let key = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    Ok(pem.to_string())
}
