//! An authorization request (`/oauth2/authorize`) checked against its client, before
//! anyone is asked anything. Two kinds of refusal (RFC 6749 §4.1.2.1): an unknown client
//! or a redirect URI it did not register gets our own page — we never redirect to a URI
//! we cannot vouch for — and everything else goes back to the client as `error=..`.

use serde::{Deserialize, Serialize};

use crate::db::models::OidcClient;

/// The scopes we know; others are ignored (OpenID Connect Core §3.1.2.1).
pub const SCOPES: [&str; 4] = ["openid", "profile", "phone", "offline_access"];

/// A PKCE challenge is the base64url SHA-256 of the verifier: 43 characters (RFC 7636).
const CHALLENGE_LEN: usize = 43;

/// Parameters we echo or store are bounded, so a request cannot bloat a row or a URL.
const MAX_PARAM_LEN: usize = 512;

/// The query of `/oauth2/authorize` (and the hidden fields of the consent form), as sent.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    pub response_mode: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Ask only what has not been answered.
    Default,
    /// Ask nothing: fail with `login_required` / `consent_required` instead.
    None,
    /// Sign in again, whatever the browser's session.
    Login,
    /// Ask for consent again.
    Consent,
}

/// A request that may proceed: who asks, where the answer goes, for what.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub client: OidcClient,
    pub redirect_uri: String,
    /// Known scopes only, in `SCOPES` order; always holds `openid`.
    pub scopes: Vec<&'static str>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    /// Seconds: an older sign-in must be done again.
    pub max_age: Option<i64>,
}

impl Authorization {
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    pub fn wants(&self, scope: &str) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether a consent to `granted` (space-separated) covers this request.
    pub fn covered_by(&self, granted: &str) -> bool {
        let granted: Vec<&str> = granted.split(' ').collect();
        self.scopes.iter().all(|s| granted.contains(s))
    }
}

/// Why a request cannot proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Shown on our own page: the client or its redirect URI is not one we know.
    UnknownClient,
    UnregisteredRedirect,
    /// Sent back to the client's redirect URI.
    ToClient {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
}

/// Checks `params` against `client` (`None`: no client has that id).
pub fn check(
    params: &AuthorizeParams,
    client: Option<OidcClient>,
) -> Result<Authorization, Refusal> {
    let client = client.ok_or(Refusal::UnknownClient)?;
    let redirect_uri = params
        .redirect_uri
        .clone()
        .filter(|uri| client.allows_redirect(uri))
        .ok_or(Refusal::UnregisteredRedirect)?;
    let state = params.state.clone().filter(|s| !s.is_empty());
    let checked = (|| {
        supported(params)?;
        let scopes = scopes(params)?;
        printable(&[&state, &params.nonce])?;
        Ok((
            scopes,
            pkce(params, &client)?,
            prompt(params)?,
            max_age(params)?,
        ))
    })();
    let (scopes, code_challenge, prompt, max_age) =
        checked.map_err(|(error, description)| Refusal::ToClient {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description,
        })?;
    Ok(Authorization {
        client,
        redirect_uri,
        scopes,
        state,
        nonce: params.nonce.clone().filter(|n| !n.is_empty()),
        code_challenge,
        prompt,
        max_age,
    })
}

/// An `error` and its `error_description`, for the client.
type Problem = (&'static str, &'static str);

/// What we do not do: request objects, other response modes and types.
fn supported(params: &AuthorizeParams) -> Result<(), Problem> {
    if params.request.is_some() {
        return Err(("request_not_supported", "request objects are not supported"));
    }
    if params.request_uri.is_some() {
        return Err(("request_uri_not_supported", "request_uri is not supported"));
    }
    if params
        .response_mode
        .as_deref()
        .is_some_and(|m| m != "query")
    {
        return Err(("invalid_request", "only response_mode=query is supported"));
    }
    match params.response_type.as_deref() {
        Some("code") => Ok(()),
        None => Err(("invalid_request", "response_type is missing")),
        Some(_) => Err((
            "unsupported_response_type",
            "only response_type=code is supported",
        )),
    }
}

/// The known scopes asked for, in `SCOPES` order; `openid` is required.
fn scopes(params: &AuthorizeParams) -> Result<Vec<&'static str>, Problem> {
    let requested: Vec<&str> = params.scope.as_deref().unwrap_or("").split(' ').collect();
    if !requested.contains(&"openid") {
        return Err(("invalid_scope", "the openid scope is required"));
    }
    Ok(SCOPES
        .into_iter()
        .filter(|s| requested.contains(s))
        .collect())
}

/// `state` and `nonce` are echoed and stored: bounded, and without control characters (the
/// nonce is stored with the code, and PostgreSQL refuses NUL), alike on every database.
fn printable(values: &[&Option<String>]) -> Result<(), Problem> {
    let present = || values.iter().filter_map(|v| v.as_deref());
    if present().any(|v| v.len() > MAX_PARAM_LEN) {
        return Err(("invalid_request", "state or nonce is too long"));
    }
    if present().any(|v| v.chars().any(char::is_control)) {
        return Err(("invalid_request", "state or nonce holds control characters"));
    }
    Ok(())
}

/// The PKCE challenge: S256 only, required of public clients.
fn pkce(params: &AuthorizeParams, client: &OidcClient) -> Result<Option<String>, Problem> {
    match (
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    ) {
        (None, None) if client.is_public() => Err((
            "invalid_request",
            "a public client must use PKCE (code_challenge with S256)",
        )),
        (None, None) => Ok(None),
        (Some(challenge), Some("S256")) if is_challenge(challenge) => {
            Ok(Some(challenge.to_owned()))
        }
        (Some(_), Some("S256")) => Err(("invalid_request", "code_challenge is malformed")),
        (Some(_), None | Some("plain")) | (None, Some(_)) => {
            Err(("invalid_request", "code_challenge_method must be S256"))
        }
        (Some(_), Some(_)) => Err(("invalid_request", "unknown code_challenge_method")),
    }
}

fn prompt(params: &AuthorizeParams) -> Result<Prompt, Problem> {
    match params.prompt.as_deref().map(str::trim) {
        None | Some("") | Some("select_account") => Ok(Prompt::Default),
        Some("none") => Ok(Prompt::None),
        Some("login") => Ok(Prompt::Login),
        Some("consent") => Ok(Prompt::Consent),
        Some(_) => Err((
            "invalid_request",
            "prompt must be one of none, login, consent",
        )),
    }
}

fn max_age(params: &AuthorizeParams) -> Result<Option<i64>, Problem> {
    match params.max_age.as_deref() {
        None | Some("") => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|age| *age >= 0)
            .map(Some)
            .ok_or(("invalid_request", "max_age must be a number of seconds")),
    }
}

fn is_challenge(challenge: &str) -> bool {
    challenge.len() == CHALLENGE_LEN
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool) -> OidcClient {
        OidcClient {
            client_id: "grafana".into(),
            name: "Grafana".into(),
            secret_hash: (!public).then(|| "x".into()),
            redirect_uris:
                "https://grafana.example.com/login/generic_oauth\nhttp://127.0.0.1:3000/cb".into(),
            post_logout_redirect_uris: String::new(),
            id_token_alg: "RS256".into(),
            created_at: chrono::Utc::now().naive_utc(),
            backchannel_logout_uri: None,
        }
    }

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            client_id: Some("grafana".into()),
            redirect_uri: Some("https://grafana.example.com/login/generic_oauth".into()),
            response_type: Some("code".into()),
            scope: Some("openid profile email".into()),
            state: Some("s".into()),
            ..AuthorizeParams::default()
        }
    }

    #[test]
    fn redirect_uris_match_exactly_or_not_at_all() {
        for uri in [
            "https://grafana.example.com/login/generic_oauth/",
            "https://grafana.example.com/login/generic_oauth?x=1",
            "https://grafana.example.com/login/generic_oauth#x",
            "https://GRAFANA.example.com/login/generic_oauth",
            "https://grafana.example.com/login/generic_oauth/../../evil",
            "https://grafana.example.com.evil.com/login/generic_oauth",
            "https://grafana.example.com/login",
        ] {
            let p = AuthorizeParams {
                redirect_uri: Some(uri.into()),
                ..params()
            };
            assert_eq!(
                check(&p, Some(client(false))).unwrap_err(),
                Refusal::UnregisteredRedirect,
                "{uri}"
            );
        }
        assert_eq!(check(&params(), None).unwrap_err(), Refusal::UnknownClient);
        let ok = check(&params(), Some(client(false))).unwrap();
        assert_eq!(ok.scope(), "openid profile", "unknown scopes are dropped");
    }

    #[test]
    fn other_mistakes_go_back_to_the_client_with_its_state() {
        type Change = fn(&mut AuthorizeParams);
        let cases: [(Change, &str); 6] = [
            (
                |p| p.response_type = Some("token".into()),
                "unsupported_response_type",
            ),
            (|p| p.scope = Some("profile".into()), "invalid_scope"),
            (
                |p| p.code_challenge_method = Some("plain".into()),
                "invalid_request",
            ),
            (|p| p.prompt = Some("sometimes".into()), "invalid_request"),
            (|p| p.max_age = Some("-1".into()), "invalid_request"),
            (|p| p.request = Some("eyJ".into()), "request_not_supported"),
        ];
        for (change, expected) in cases {
            let mut p = params();
            change(&mut p);
            match check(&p, Some(client(false))) {
                Err(Refusal::ToClient { error, state, .. }) => {
                    assert_eq!(error, expected);
                    assert_eq!(state.as_deref(), Some("s"));
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn public_clients_must_use_pkce_with_s256() {
        let public = check(&params(), Some(client(true)));
        assert!(matches!(
            public,
            Err(Refusal::ToClient {
                error: "invalid_request",
                ..
            })
        ));
        let p = AuthorizeParams {
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            code_challenge_method: Some("S256".into()),
            ..params()
        };
        assert!(
            check(&p, Some(client(true)))
                .unwrap()
                .code_challenge
                .is_some()
        );
    }
}
