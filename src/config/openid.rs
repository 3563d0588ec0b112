//! Where the OpenID provider's signing keys come from: PEM text, read here from the
//! environment or from files. The provider parses them (`oidc::keys::SigningKeys::load`),
//! and the command line checks them before any command, so that a bad key stops every
//! command with its variable named.

use super::{ConfigError, Secret, config_error};

/// How the provider gets its keys.
#[derive(Debug, Clone)]
pub enum OidcKeySource {
    /// No provider: production without keys, or `OIDC_PROVIDER=off`.
    Off,
    /// Development: generated once into `DATA_DIR` (owner-only); `previous` as below.
    Generated { previous: Vec<Secret> },
    /// From `OIDC_RS256_KEY[_FILE]`, `OIDC_ES256_KEY[_FILE]` and the previous keys
    /// (`OIDC_PREVIOUS_KEY_FILES`, comma-separated, still published after a rotation).
    Given {
        rs256: Secret,
        es256: Option<Secret>,
        previous: Vec<Secret>,
    },
}

pub(crate) fn oidc_keys(
    get: &impl Fn(&str) -> Option<String>,
    production: bool,
) -> Result<OidcKeySource, ConfigError> {
    let rs256 = key_from(get, "OIDC_RS256_KEY", "OIDC_RS256_KEY_FILE")?;
    let es256 = key_from(get, "OIDC_ES256_KEY", "OIDC_ES256_KEY_FILE")?;
    let previous = match get("OIDC_PREVIOUS_KEY_FILES") {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|path| read_key("OIDC_PREVIOUS_KEY_FILES", path.trim()))
            .collect::<Result<_, _>>()?,
    };
    let source = match (get("OIDC_PROVIDER").as_deref(), rs256, es256) {
        (Some("off"), _, _) => OidcKeySource::Off,
        (Some(other), _, _) if other != "on" => {
            return Err(config_error(
                "OIDC_PROVIDER",
                format!("unknown value `{other}`"),
                "Use `on` (the default) or `off`.",
            ));
        }
        (_, Some(rs256), es256) => OidcKeySource::Given {
            rs256,
            es256,
            previous,
        },
        (_, None, Some(_)) => {
            return Err(config_error(
                "OIDC_RS256_KEY_FILE",
                "is not set, but an ES256 key is (OpenID Connect requires RS256)",
                "Give an RS256 key too: `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`.",
            ));
        }
        (_, None, None) if production => OidcKeySource::Off,
        (_, None, None) => OidcKeySource::Generated { previous },
    };
    Ok(source)
}

/// A PEM key given as text (`var`) or as a file (`file_var`), not both.
fn key_from(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    file_var: &'static str,
) -> Result<Option<Secret>, ConfigError> {
    match (get(var), get(file_var)) {
        (Some(_), Some(_)) => Err(config_error(
            var,
            format!("is set together with {file_var}"),
            "Set one of them.",
        )),
        (Some(pem), None) => Ok(Some(Secret::new(pem.replace("\\n", "\n")))),
        (None, Some(path)) => read_key(file_var, &path).map(Some),
        (None, None) => Ok(None),
    }
}

fn read_key(var: &'static str, path: &str) -> Result<Secret, ConfigError> {
    std::fs::read_to_string(path).map(Secret::new).map_err(|e| {
        config_error(
            var,
            format!("cannot read {path} ({e})"),
            "Give the path of a PKCS#8 PEM private key the service can read.",
        )
    })
}
