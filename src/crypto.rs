//! The few cryptographic primitives the service uses outside JWTs and argon2: random
//! tokens (OAuth `state`, CSRF tokens, session and refresh-token ids, generated secrets),
//! SHA-256 digests of tokens kept in the database, and constant-time comparison.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `bytes` random bytes from a CSPRNG (rand's thread RNG: ChaCha seeded by the OS), base64url.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Lower-case hex SHA-256: how refresh tokens and sandbox tokens are stored, never as such.
pub fn sha256_hex(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

/// The key of a counter shared through the database: `kind` and `value` hashed under a
/// `salt` every instance derives from a shared secret, so the table holds no names or
/// addresses; 128 bits (32 hex characters), whatever the value's length.
pub fn salted_key(salt: &str, kind: &str, value: &str) -> String {
    let mut digest = sha256_hex(&format!("{salt}\u{0}{kind}\u{0}{value}"));
    digest.truncate(32);
    digest
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets without leaking, through timing, how long a prefix matched.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
