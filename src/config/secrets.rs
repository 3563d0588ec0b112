//! Secrets: a type whose `Debug` never prints the value, and the first-run rule — in
//! development a missing secret is generated once into `DATA_DIR` (owner-only), in
//! production it is an error that says how to make one.

use std::fmt;
use std::path::Path;

use super::{ConfigError, config_error};
use crate::crypto::random_token;

/// A secret value whose `Debug` never prints it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// HMAC keys need at least 256 bits (RFC 8725 §3.5); the session key is derived from its
/// secret with HKDF, which actix-web's `Key::derive_from` also wants 32 bytes for.
pub const MIN_SECRET_LEN: usize = 32;

/// A secret from the environment, or in development one generated once and kept in
/// `DATA_DIR` (owner-only), so restarts keep sessions and tokens valid.
pub(crate) fn load_secret(
    var: &'static str,
    value: Option<String>,
    data_dir: &Path,
    file_name: &str,
    production: bool,
) -> Result<Secret, ConfigError> {
    let make_one = "Generate one with `openssl rand -base64 48`.";
    if let Some(value) = value {
        if value.len() < MIN_SECRET_LEN {
            return Err(config_error(
                var,
                format!(
                    "is too short ({} bytes; at least {MIN_SECRET_LEN} are needed)",
                    value.len()
                ),
                make_one,
            ));
        }
        return Ok(Secret::new(value));
    }
    if production {
        return Err(config_error(
            var,
            "is not set (required when APP_ENV=production)",
            make_one,
        ));
    }
    let path = data_dir.join(file_name);
    let io_error = |e: std::io::Error| {
        config_error(
            var,
            format!("cannot keep a generated secret in {} ({e})", path.display()),
            "Set DATA_DIR to a writable folder, or set the secret itself.",
        )
    };
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing.trim().len() >= MIN_SECRET_LEN => Ok(Secret::new(existing.trim())),
        Ok(_) => Err(config_error(
            var,
            format!("{} is shorter than {MIN_SECRET_LEN} bytes", path.display()),
            "Delete the file to generate a new one, or set the variable.",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = random_token(48);
            write_private_file(&path, &secret).map_err(io_error)?;
            tracing::info!(variable = var, file = %path.display(), "generated a new secret and kept it in the data folder (owner-only); set the variable in production");
            Ok(Secret::new(secret))
        }
        Err(e) => Err(io_error(e)),
    }
}

pub(crate) fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        // DATA_DIR holds the secrets and (on SQLite) the database: owner-only when we make it.
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
