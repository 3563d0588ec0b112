//! Drives the sandbox the way a person at a browser does — agree on a simulated provider's
//! consent page as a test identity, and get the callback URL it sends the browser back to — and
//! reads what a login hands the SPA. The test suite and the benchmark use it, so both walk
//! the same path a person does.

use std::collections::HashMap;

use reqwest::header::LOCATION;

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("the authorize URL lacks `{0}`")]
    Missing(&'static str),
    #[error("the consent page answered {0} instead of a redirect")]
    NoRedirect(u16),
    #[error("the sandbox could not be reached: {0}")]
    Http(#[from] reqwest::Error),
}

/// Agrees on the consent page behind `authorize_url` (any simulated provider's authorize
/// page: its form posts back to the same path) as `identity` (the form's fields:
/// `identity`, or `nick` and `mobile`), and returns the callback URL with its code and
/// state.
pub async fn agree(
    http: &reqwest::Client,
    authorize_url: &str,
    identity: &[(&str, &str)],
) -> Result<String, DriveError> {
    decide(http, authorize_url, "agree", identity).await
}

/// Answers the consent page behind `authorize_url` with `decision` (`agree` or `deny`);
/// returns where the provider sends the browser back.
pub async fn decide(
    http: &reqwest::Client,
    authorize_url: &str,
    decision: &str,
    identity: &[(&str, &str)],
) -> Result<String, DriveError> {
    let redirect_uri =
        query_param(authorize_url, "redirect_uri").ok_or(DriveError::Missing("redirect_uri"))?;
    let state = query_param(authorize_url, "state").ok_or(DriveError::Missing("state"))?;
    let consent_url = authorize_url
        .split(['?', '#'])
        .next()
        .unwrap_or(authorize_url);
    let mut form: Vec<(&str, &str)> = vec![
        ("redirect_uri", &redirect_uri),
        ("state", &state),
        ("decision", decision),
    ];
    form.extend_from_slice(identity);
    let response = http.post(consent_url).form(&form).send().await?;
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or(DriveError::NoRedirect(response.status().as_u16()))
}

/// A query parameter of `url` (not of its fragment: WeChat's ends in `#wechat_redirect`).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The values of the SPA handoff `…#/login?userid=..&username=..&token=..&refreshToken=..`,
/// read as the SPA reads them (from the fragment's route).
pub fn handoff_values(location: &str) -> Option<HashMap<String, String>> {
    let (_, fragment) = location.split_once('#')?;
    let (route, query) = fragment.split_once('?')?;
    (route == "/login").then(|| {
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    })
}
