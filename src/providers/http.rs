//! What every provider client does with HTTP: send a request, read a body of bounded size
//! (a 50 MB reply or a gzip bomb must not cost memory), and read JSON whose numbers may
//! come as strings.

use std::time::Instant;

use reqwest::StatusCode;

use super::ProviderError;
use crate::domain::ProviderKind;

/// Enough for any real answer; a bigger body is refused, not buffered.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Runs one call to `provider`'s `step` and counts it, with its latency and outcome (`ok`
/// or the failure's kind).
pub(super) async fn observed<T>(
    provider: ProviderKind,
    step: &'static str,
    call: impl Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    let started = Instant::now();
    let result = call.await;
    let outcome = result.as_ref().map_or_else(ProviderError::kind, |_| "ok");
    crate::metrics::provider_call(provider.name(), step, outcome, started.elapsed());
    result
}

/// Sends `request` and returns the status and the body, whatever the status.
pub(super) async fn send(
    step: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, Vec<u8>), ProviderError> {
    send_up_to(step, request, MAX_BODY_BYTES).await
}

/// `send` for the few answers that are lists (a page of a directory: 100 people), with
/// their own bound.
pub(super) async fn send_up_to(
    step: &'static str,
    request: reqwest::RequestBuilder,
    max_body_bytes: usize,
) -> Result<(StatusCode, Vec<u8>), ProviderError> {
    let response = request.send().await.map_err(|e| send_error(step, &e))?;
    let status = response.status();
    Ok((status, read_capped(step, response, max_body_bytes).await?))
}

fn send_error(step: &'static str, error: &reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout { step }
    } else {
        ProviderError::Unreachable { step }
    }
}

async fn read_capped(
    step: &'static str,
    mut response: reqwest::Response,
    max_body_bytes: usize,
) -> Result<Vec<u8>, ProviderError> {
    let too_large = || ProviderError::Malformed {
        step,
        detail: "the body is too large".into(),
    };
    if response
        .content_length()
        .is_some_and(|len| len > max_body_bytes as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max_body_bytes {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(send_error(step, &e)),
        }
    }
}

/// JSON from the body's bytes as UTF-8, whatever charset the content type claims (WeChat
/// may declare none, and peers had to re-decode its nicknames).
pub(super) fn parse<T: serde::de::DeserializeOwned>(
    step: &'static str,
    bytes: &[u8],
) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes).map_err(|e| ProviderError::Malformed {
        step,
        detail: format!("invalid JSON: {e}"),
    })
}

/// Control characters (CR/LF, ANSI escapes, a NUL PostgreSQL would refuse) dropped, at
/// most 64 characters.
pub(super) fn clean_nick(nick: String) -> String {
    nick.chars().filter(|c| !c.is_control()).take(64).collect()
}

pub(super) fn is_web_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// A number the provider may send as a number or as a string.
pub(super) fn number(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A value for a log line: strings as they are, anything else as JSON, at most 64
/// characters.
pub(super) fn text_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.chars().take(64).collect(),
        other => other.to_string().chars().take(64).collect(),
    }
}

/// The body as JSON. A body that is not JSON under an error status is the provider (or a
/// gateway in front of it) being down; under a success status it is a malformed answer.
pub(super) fn json_answer(
    step: &'static str,
    status: StatusCode,
    bytes: &[u8],
) -> Result<serde_json::Value, ProviderError> {
    match parse(step, bytes) {
        Err(_) if !status.is_success() => Err(upstream(step, status, None, None)),
        parsed => parsed,
    }
}

/// The provider said no in its own error shape: a code the person can retry with a fresh
/// one (`code_rejected`: invalid, used, expired), or the provider's trouble.
pub(super) fn refusal(
    step: &'static str,
    status: StatusCode,
    code: String,
    requestid: Option<String>,
    code_rejected: bool,
) -> ProviderError {
    if code_rejected {
        ProviderError::CodeRejected {
            step,
            status: status.as_u16(),
            code: Some(code),
            requestid,
        }
    } else {
        upstream(step, status, Some(code), requestid)
    }
}

pub(super) fn upstream(
    step: &'static str,
    status: StatusCode,
    code: Option<String>,
    requestid: Option<String>,
) -> ProviderError {
    ProviderError::Upstream {
        step,
        status: status.as_u16(),
        code,
        requestid,
    }
}
