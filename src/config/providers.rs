//! Settings of the identity providers: DingTalk's app credentials and endpoints, or the
//! built-in sandbox when no app is configured; which organisations may sign in, and who
//! may register (issue #10).

use url::Url;

use super::{ConfigError, Secret, config_error, parse_bool, parse_http_url, parse_number};
use crate::crypto::random_token;

#[derive(Debug, Clone)]
pub struct DingTalkSettings {
    pub client_id: String,
    pub client_secret: Secret,
    /// The browser-facing authorize page.
    pub auth_url: Url,
    /// Base of `/v1.0/oauth2/userAccessToken` and `/v1.0/contact/users/me`.
    pub api_base: Url,
    /// Serve the built-in DingTalk simulator under `/sandbox/dingtalk`.
    pub sandbox: bool,
    pub timeout_ms: u64,
    /// `DINGTALK_CORP_IDS`: when not empty, only people who sign in as members of one of
    /// these organisations get in.
    pub corp_ids: Vec<String>,
    /// DingTalk's older API host (`oapi.dingtalk.com`), for the membership check.
    pub oapi_base: Url,
    /// `DINGTALK_VERIFY_MEMBERSHIP`: ask DingTalk's contacts API, with the app's own token,
    /// whether the person is an employee of the organisation (not an external contact, not
    /// gone).
    pub verify_membership: bool,
    pub signup: crate::accounts::SignupPolicy,
}

pub(crate) fn dingtalk_settings(
    get: &impl Fn(&str) -> Option<String>,
    base: &str,
    production: bool,
) -> Result<DingTalkSettings, ConfigError> {
    let client_id = get("DINGTALK_CLIENT_ID");
    let sandbox = parse_bool(
        "DINGTALK_SANDBOX",
        get("DINGTALK_SANDBOX"),
        client_id.is_none(),
    )?;
    if production && sandbox {
        return Err(config_error(
            "DINGTALK_CLIENT_ID",
            "the DingTalk sandbox cannot run when APP_ENV=production",
            "Set DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET from the DingTalk developer console, and unset DINGTALK_SANDBOX.",
        ));
    }
    let client_secret = get("DINGTALK_CLIENT_SECRET");
    let (client_id, client_secret) = match (client_id, client_secret) {
        (Some(id), Some(secret)) => (id, Secret::new(secret)),
        (Some(_), None) if !sandbox => {
            return Err(config_error(
                "DINGTALK_CLIENT_SECRET",
                "is missing while DINGTALK_CLIENT_ID is set",
                "Copy the Client Secret of your DingTalk app (开发配置 > 凭证与基础信息).",
            ));
        }
        // The sandbox accepts the credentials it was started with; a random secret per
        // process keeps any literal secret out of the code.
        (id, _) => (
            id.unwrap_or_else(|| "sandbox-client".into()),
            Secret::new(random_token(24)),
        ),
    };
    let (default_auth, default_api, default_oapi) = if sandbox {
        (
            format!("{base}/sandbox/dingtalk/oauth2/auth"),
            format!("{base}/sandbox/dingtalk"),
            format!("{base}/sandbox/dingtalk"),
        )
    } else {
        (
            "https://login.dingtalk.com/oauth2/auth".into(),
            "https://api.dingtalk.com".into(),
            "https://oapi.dingtalk.com".into(),
        )
    };
    let auth_url = parse_http_url(
        "DINGTALK_AUTH_URL",
        &get("DINGTALK_AUTH_URL").unwrap_or(default_auth),
    )?;
    let api_base = parse_http_url(
        "DINGTALK_API_BASE",
        &get("DINGTALK_API_BASE").unwrap_or(default_api),
    )?;
    let oapi_base = parse_http_url(
        "DINGTALK_OAPI_BASE",
        &get("DINGTALK_OAPI_BASE").unwrap_or(default_oapi),
    )?;
    let timeout_ms = parse_number(
        "DINGTALK_TIMEOUT_MS",
        get("DINGTALK_TIMEOUT_MS"),
        10_000,
        100,
        60_000,
    )? as u64;
    let corp_ids = match get("DINGTALK_CORP_IDS") {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| {
                if id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                    Ok(id.to_owned())
                } else {
                    Err(config_error(
                        "DINGTALK_CORP_IDS",
                        format!("`{id}` is not a corpId"),
                        "Give the corpIds of your organisations, comma-separated (DingTalk developer console, 基础信息).",
                    ))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    let open = match get("DINGTALK_SIGNUP").as_deref() {
        None | Some("open") => true,
        Some("bind-only") => false,
        Some(other) => {
            return Err(config_error(
                "DINGTALK_SIGNUP",
                format!("unknown value `{other}`"),
                "Use `open` (anyone DingTalk vouches for may register) or `bind-only` (only users an admin created, or already linked).",
            ));
        }
    };
    let bind_by_phone = parse_bool(
        "DINGTALK_BIND_BY_PHONE",
        get("DINGTALK_BIND_BY_PHONE"),
        true,
    )?;
    let verify_membership = parse_bool(
        "DINGTALK_VERIFY_MEMBERSHIP",
        get("DINGTALK_VERIFY_MEMBERSHIP"),
        false,
    )?;
    if verify_membership && corp_ids.is_empty() {
        return Err(config_error(
            "DINGTALK_VERIFY_MEMBERSHIP",
            "needs DINGTALK_CORP_IDS (the organisation whose members are checked)",
            "Set DINGTALK_CORP_IDS to your organisation's corpId, or unset DINGTALK_VERIFY_MEMBERSHIP.",
        ));
    }
    Ok(DingTalkSettings {
        client_id,
        client_secret,
        auth_url,
        api_base,
        sandbox,
        timeout_ms,
        corp_ids,
        oapi_base,
        verify_membership,
        signup: crate::accounts::SignupPolicy {
            open,
            bind_by_phone,
        },
    })
}
