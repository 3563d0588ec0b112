//! argon2id password hashes (OWASP's minimum parameters: m = 19 MiB, t = 2, p = 1, which
//! are the `argon2` crate's defaults). Callers run these off the async workers.

use std::cell::RefCell;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

/// Long enough for any passphrase, short enough that hashing stays cheap to refuse.
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("password hashing failed")]
    Hashing,
}

pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::Hashing)
}

/// Checks `password` against `stored`; with no stored hash (an unknown user, or one who
/// only logs in with DingTalk) it verifies against a dummy hash, so that both answers
/// take the same time, and then says no.
pub fn verify_password(stored: Option<&str>, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match stored.and_then(|s| PasswordHash::new(s).ok()) {
        Some(hash) => verify_reusing_memory(&hash, password).unwrap_or(false),
        None => {
            // The same work as for a real user, so that the answer's timing tells nothing.
            if let Ok(dummy) = PasswordHash::new(dummy_hash()) {
                let _ = verify_reusing_memory(&dummy, password);
            }
            false
        }
    }
}

thread_local! {
    /// argon2's working memory (19 MiB at our parameters), kept per password-check thread.
    /// Allocating it for every check let glibc spread freed 19 MiB blocks over its arenas:
    /// the process grew past 400 MiB under a login load (README, performance section).
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// The same computation as `PasswordVerifier::verify_password`, on reused memory; the
/// parameters, salt and version all come from the stored PHC string.
fn verify_reusing_memory(hash: &PasswordHash<'_>, password: &str) -> Option<bool> {
    let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
    let version = hash
        .version
        .map(Version::try_from)
        .transpose()
        .ok()?
        .unwrap_or_default();
    let params = Params::try_from(hash).ok()?;
    let expected = hash.hash?;
    let mut salt_buffer = [0u8; 64];
    let salt = hash.salt?.decode_b64(&mut salt_buffer).ok()?;
    let blocks_needed = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut output = vec![0u8; expected.len()];
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < blocks_needed {
            blocks.resize(blocks_needed, Block::default());
        }
        argon2
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut output,
                &mut blocks[..blocks_needed],
            )
            .ok()
    })?;
    Some(output.as_slice().ct_eq(expected.as_bytes()).into())
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"no user has this password", &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::{hash_password, verify_password};

    #[test]
    fn verifies_what_it_hashed_and_nothing_else() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(verify_password(Some(&hash), "correct horse battery"));
        assert!(!verify_password(Some(&hash), "correct horse batterz"));
        assert!(!verify_password(None, "correct horse battery"));
        assert!(!verify_password(
            Some("not a phc string"),
            "correct horse battery"
        ));
    }
}
