//! Registering the applications that log people in through us. Only an administrator
//! does it (`dingtalk-login client create`); there is no dynamic registration.

use url::Url;

use crate::crypto::{random_token, sha256_hex};
use crate::db::models::{OidcClient, now};
use crate::db::{DbConn, DbError, oidc as queries};

/// An application as the administrator describes it.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// No secret (an SPA or a CLI, which cannot keep one): PKCE is required instead.
    pub public: bool,
    /// `RS256` (the default every client understands) or `ES256`.
    pub id_token_alg: String,
    /// Where logout tokens are posted (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
}

/// A registered client: its id, and the secret of a confidential client, which is shown
/// this once and kept only as a hash.
#[derive(Debug)]
pub struct Registered {
    pub client_id: String,
    pub secret: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Whether `id` could name a client at all: the ids we make are short and printable, so
/// anything else is answered as an unknown client without reaching the database (which,
/// on PostgreSQL, refuses a NUL byte with an error).
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control)
}

pub fn register(conn: &mut DbConn, new: NewClient) -> Result<Registered, ClientError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ClientError::Invalid(
            "the name must have 1 to 64 characters".into(),
        ));
    }
    if new.redirect_uris.is_empty() {
        return Err(ClientError::Invalid(
            "at least one --redirect-uri is needed".into(),
        ));
    }
    for uri in new
        .redirect_uris
        .iter()
        .chain(&new.post_logout_redirect_uris)
    {
        check_uri(uri).map_err(ClientError::Invalid)?;
    }
    if let Some(uri) = &new.backchannel_logout_uri {
        check_uri(uri).map_err(ClientError::Invalid)?;
    }
    if !matches!(new.id_token_alg.as_str(), "RS256" | "ES256") {
        return Err(ClientError::Invalid(
            "the id_token algorithm must be RS256 or ES256".into(),
        ));
    }
    let secret = (!new.public).then(|| random_token(32));
    let client = OidcClient {
        client_id: client_id_for(name),
        name: name.to_owned(),
        secret_hash: secret.as_deref().map(sha256_hex),
        redirect_uris: new.redirect_uris.join("\n"),
        post_logout_redirect_uris: new.post_logout_redirect_uris.join("\n"),
        id_token_alg: new.id_token_alg,
        created_at: now(),
        backchannel_logout_uri: new.backchannel_logout_uri,
    };
    queries::insert_client(conn, &client)?;
    tracing::info!(event = "oidc_client_registered", client_id = %client.client_id, public = new.public, "an OpenID client was registered");
    Ok(Registered {
        client_id: client.client_id,
        secret,
    })
}

/// An absolute URL without a fragment (RFC 6749 §3.1.2), https — or http on this
/// machine's loopback, where a native app or a developer's tool listens.
fn check_uri(raw: &str) -> Result<(), String> {
    let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not an absolute URL ({e})"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "`{raw}` has a fragment, which redirect URIs may not have"
        ));
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("`{raw}` must use https (http only on localhost)")),
    }
}

/// A readable, unguessable id: the name's ASCII letters and digits and 8 random characters.
fn client_id_for(name: &str) -> String {
    let slug: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(24)
        .collect::<String>()
        .to_ascii_lowercase();
    let slug = if slug.is_empty() {
        "client".into()
    } else {
        slug
    };
    let suffix: String = random_token(12)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("{slug}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::check_uri;

    #[test]
    fn redirect_uris_are_https_or_loopback_and_have_no_fragment() {
        assert!(check_uri("https://grafana.example.com/login/generic_oauth").is_ok());
        assert!(check_uri("http://127.0.0.1:3000/cb").is_ok());
        assert!(check_uri("http://localhost/cb").is_ok());
        assert!(check_uri("http://grafana.example.com/cb").is_err());
        assert!(check_uri("https://a.example.com/cb#x").is_err());
        assert!(check_uri("/relative").is_err());
        assert!(check_uri("javascript:alert(1)").is_err());
    }
}
