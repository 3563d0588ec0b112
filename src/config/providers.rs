//! Settings of the identity providers: DingTalk's app credentials and endpoints, or the
//! built-in sandbox when no app is configured; which organisations may sign in, and who
//! may register.

use url::Url;

use super::{
    ConfigError, Secret, config_error, declared, duration, flag, number, parse_bool, parse_http_url,
};
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
    pub signup: crate::domain::SignupPolicy,
    /// `DINGTALK_DIRECTORY`: mirror the organisation's directory (`None`: off).
    pub directory: Option<DirectorySettings>,
}

#[derive(Debug, Clone)]
pub struct DirectorySettings {
    /// The one organisation mirrored (`DINGTALK_CORP_IDS`).
    pub corp_id: String,
    pub sync_interval: std::time::Duration,
    pub events: EventTransport,
}

/// How the directory's events arrive (`DINGTALK_EVENTS`).
#[derive(Debug, Clone)]
pub enum EventTransport {
    Off,
    /// DingTalk posts them, encrypted, to `/dingtalk/events`.
    Http(HttpEventKeys),
    /// The service holds a Stream-mode connection to DingTalk (no public URL needed).
    Stream,
}

/// The console's event token and key, and the id events are sealed for.
#[derive(Debug, Clone)]
pub struct HttpEventKeys {
    pub token: Secret,
    pub aes_key: Secret,
    /// The app key (event subscription) or the corpId (older callback registration).
    pub receiver: String,
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
    let (client_id, client_secret) = dingtalk_credentials(get, client_id, sandbox)?;
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
    let timeout_ms = number(get, &declared::DINGTALK_TIMEOUT_MS)? as u64;
    let corp_ids = corp_ids(get)?;
    let open = open_signup(get)?;
    let bind_by_phone = flag(get, &declared::DINGTALK_BIND_BY_PHONE)?;
    let verify_membership = flag(get, &declared::DINGTALK_VERIFY_MEMBERSHIP)?;
    if verify_membership && corp_ids.is_empty() {
        return Err(config_error(
            "DINGTALK_VERIFY_MEMBERSHIP",
            "needs DINGTALK_CORP_IDS (the organisation whose members are checked)",
            "Set DINGTALK_CORP_IDS to your organisation's corpId, or unset DINGTALK_VERIFY_MEMBERSHIP.",
        ));
    }
    let directory = directory_settings(get, &corp_ids, (&client_id, sandbox))?;
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
        signup: crate::domain::SignupPolicy {
            open,
            bind_by_phone,
        },
        directory,
    })
}

/// The directory needs the internal app of exactly one organisation: its contacts API
/// answers for that organisation only.
fn directory_settings(
    get: &impl Fn(&str) -> Option<String>,
    corp_ids: &[String],
    (client_id, sandbox): (&str, bool),
) -> Result<Option<DirectorySettings>, ConfigError> {
    const MINUTE: std::time::Duration = std::time::Duration::from_secs(60);
    const WEEK: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);
    let sync_interval = duration(
        get,
        &declared::DINGTALK_DIRECTORY_SYNC_INTERVAL,
        (MINUTE, WEEK),
    )?;
    let on = flag(get, &declared::DINGTALK_DIRECTORY)?;
    let corp_id = match (on, corp_ids) {
        (_, [corp_id]) => Some(corp_id.clone()),
        (true, _) => {
            return Err(config_error(
                "DINGTALK_DIRECTORY",
                "needs exactly one organisation in DINGTALK_CORP_IDS",
                "Set DINGTALK_CORP_IDS to your organisation's corpId (the internal app's own), or unset DINGTALK_DIRECTORY.",
            ));
        }
        (false, _) => None,
    };
    let receiver = match get(declared::DINGTALK_EVENT_RECEIVER.name).as_deref() {
        Some("app") | None => client_id.to_owned(),
        Some("corp") => corp_id.clone().unwrap_or_default(),
        Some(other) => {
            return Err(config_error(
                "DINGTALK_EVENT_RECEIVER",
                format!("unknown value `{other}`"),
                "Use app (the console's event subscription: events are sealed for the app key) or corp (the older callback registration: for the corpId).",
            ));
        }
    };
    let events = event_transport(get, receiver, sandbox)?;
    if !on {
        if !matches!(events, EventTransport::Off) {
            return Err(config_error(
                "DINGTALK_EVENTS",
                "needs the directory (DINGTALK_DIRECTORY=true)",
                "Set DINGTALK_DIRECTORY=true, or DINGTALK_EVENTS=off.",
            ));
        }
        return Ok(None);
    }
    Ok(corp_id.map(|corp_id| DirectorySettings {
        corp_id,
        sync_interval,
        events,
    }))
}

/// `DINGTALK_EVENTS`, with the console's token and key for `http` (the sandbox makes its
/// own when they are unset).
fn event_transport(
    get: &impl Fn(&str) -> Option<String>,
    receiver: String,
    sandbox: bool,
) -> Result<EventTransport, ConfigError> {
    let token = get(declared::DINGTALK_EVENT_TOKEN.name);
    let aes_key = get(declared::DINGTALK_EVENT_AES_KEY.name);
    if let Some(key) = &aes_key
        && (key.len() != 43
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/'))
    {
        return Err(config_error(
            "DINGTALK_EVENT_AES_KEY",
            format!(
                "is {} characters; DingTalk's aes_key is 43 letters and digits",
                key.len()
            ),
            "Copy the aes_key of the event subscription (开发者后台 > 事件订阅) exactly.",
        ));
    }
    match get(declared::DINGTALK_EVENTS.name).as_deref() {
        Some("off") | None => Ok(EventTransport::Off),
        Some("stream") => Ok(EventTransport::Stream),
        Some("http") => {
            let (token, aes_key) = match (token, aes_key) {
                (Some(token), Some(key)) => (token, key),
                (None, None) if sandbox => (random_token(12), random_aes_key()),
                (None, _) => {
                    return Err(config_error(
                        "DINGTALK_EVENT_TOKEN",
                        "is needed with DINGTALK_EVENTS=http",
                        "Copy the token of the event subscription (开发者后台 > 事件订阅).",
                    ));
                }
                (Some(_), None) => {
                    return Err(config_error(
                        "DINGTALK_EVENT_AES_KEY",
                        "is needed with DINGTALK_EVENTS=http",
                        "Copy the aes_key of the event subscription (开发者后台 > 事件订阅).",
                    ));
                }
            };
            Ok(EventTransport::Http(HttpEventKeys {
                token: Secret::new(token),
                aes_key: Secret::new(aes_key),
                receiver,
            }))
        }
        Some(other) => Err(config_error(
            "DINGTALK_EVENTS",
            format!("unknown value `{other}`"),
            "Use off, http (DingTalk posts to /dingtalk/events) or stream (the service connects to DingTalk; no public URL needed).",
        )),
    }
}

/// 43 characters of base64, as the console makes them.
fn random_aes_key() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, bytes)
}

/// `DINGTALK_CORP_IDS`: the organisations whose members may sign in (none: anyone).
fn corp_ids(get: &impl Fn(&str) -> Option<String>) -> Result<Vec<String>, ConfigError> {
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
    Ok(corp_ids)
}

/// Whether anyone a provider vouches for may register (`SIGNUP=open`).
fn open_signup(get: &impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    // `SIGNUP` covers every provider; `DINGTALK_SIGNUP` is its name from before WeChat
    // and Weibo, still honoured.
    let (signup_var, signup) = match get("SIGNUP") {
        Some(value) => ("SIGNUP", Some(value)),
        None => ("DINGTALK_SIGNUP", get("DINGTALK_SIGNUP")),
    };
    let open = match signup.as_deref() {
        None | Some("open") => true,
        Some("bind-only") => false,
        Some(other) => {
            return Err(config_error(
                signup_var,
                format!("unknown value `{other}`"),
                "Use `open` (anyone a provider vouches for may register) or `bind-only` (only users an admin created, or already linked).",
            ));
        }
    };
    Ok(open)
}

/// The app's credentials; the sandbox makes its own.
fn dingtalk_credentials(
    get: &impl Fn(&str) -> Option<String>,
    client_id: Option<String>,
    sandbox: bool,
) -> Result<(String, Secret), ConfigError> {
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
    Ok((client_id, client_secret))
}

/// A plain OAuth2 app at a provider (WeChat, Weibo): its credentials and endpoints, or the
/// built-in sandbox.
#[derive(Debug, Clone)]
pub struct OAuthAppSettings {
    pub client_id: String,
    pub client_secret: Secret,
    /// The browser-facing authorize page.
    pub auth_url: Url,
    /// Base of the provider's token and profile endpoints.
    pub api_base: Url,
    /// Serve the built-in simulator of this provider under `/sandbox/<provider>`.
    pub sandbox: bool,
}

impl OAuthAppSettings {
    /// The endpoint at `path` under the API base.
    pub fn api_url(&self, path: &str) -> Url {
        url_at(&self.api_base, path)
    }
}

/// `path` under `base` (whose own path, if any, is kept): cannot fail, unlike parsing a
/// string put together from the two.
pub fn url_at(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url
}

/// The names and defaults of one provider's settings.
pub(crate) struct OAuthAppVars {
    pub id: &'static str,
    pub secret: &'static str,
    pub auth_url: &'static str,
    pub api_base: &'static str,
    pub sandbox: &'static str,
    pub real_auth_url: &'static str,
    pub real_api_base: &'static str,
    /// The sandbox's paths under `PUBLIC_BASE_URL`: its authorize page and API base.
    pub sandbox_auth_path: &'static str,
    pub sandbox_api_path: &'static str,
    /// The sandbox's app id when none is given (shaped like a real one).
    pub sandbox_client_id: &'static str,
    /// Where the console shows the credentials, for the error message.
    pub console: &'static str,
}

pub(crate) const WECHAT_VARS: OAuthAppVars = OAuthAppVars {
    id: "WECHAT_APP_ID",
    secret: "WECHAT_APP_SECRET",
    auth_url: "WECHAT_AUTH_URL",
    api_base: "WECHAT_API_BASE",
    sandbox: "WECHAT_SANDBOX",
    real_auth_url: "https://open.weixin.qq.com/connect/qrconnect",
    real_api_base: "https://api.weixin.qq.com",
    sandbox_auth_path: "/sandbox/wechat/connect/qrconnect",
    sandbox_api_path: "/sandbox/wechat",
    sandbox_client_id: "wxsandbox00000001",
    console: "WeChat Open Platform (open.weixin.qq.com) > 管理中心 > 网站应用 > AppID / AppSecret",
};

pub(crate) const WEIBO_VARS: OAuthAppVars = OAuthAppVars {
    id: "WEIBO_CLIENT_ID",
    secret: "WEIBO_CLIENT_SECRET",
    auth_url: "WEIBO_AUTH_URL",
    api_base: "WEIBO_API_BASE",
    sandbox: "WEIBO_SANDBOX",
    real_auth_url: "https://api.weibo.com/oauth2/authorize",
    real_api_base: "https://api.weibo.com",
    sandbox_auth_path: "/sandbox/weibo/oauth2/authorize",
    sandbox_api_path: "/sandbox/weibo",
    sandbox_client_id: "1000000001",
    console: "Weibo Open Platform (open.weibo.com) > 我的应用 > 应用信息 > App Key / App Secret",
};

/// A provider is on when its credentials are set, or (never in production) as a sandbox;
/// `None` when it is off: in production without credentials, or with `<P>_SANDBOX=false`.
pub(crate) fn oauth_app_settings(
    get: &impl Fn(&str) -> Option<String>,
    vars: &OAuthAppVars,
    base: &str,
    production: bool,
) -> Result<Option<OAuthAppSettings>, ConfigError> {
    let (id, secret) = (get(vars.id), get(vars.secret));
    let explicit_sandbox = get(vars.sandbox);
    let sandbox = parse_bool(vars.sandbox, explicit_sandbox.clone(), id.is_none())?;
    if production && sandbox {
        if explicit_sandbox.is_some() {
            return Err(config_error(
                vars.sandbox,
                "the sandbox cannot run when APP_ENV=production",
                format!(
                    "Unset {} and set {} and {}.",
                    vars.sandbox, vars.id, vars.secret
                ),
            ));
        }
        return Ok(None);
    }
    let (client_id, client_secret) = match (id, secret) {
        (Some(id), Some(secret)) => (id, Secret::new(secret)),
        (Some(_), None) if !sandbox => {
            return Err(config_error(
                vars.secret,
                format!("is missing while {} is set", vars.id),
                format!("Copy it from {}.", vars.console),
            ));
        }
        (None, Some(_)) => {
            return Err(config_error(
                vars.id,
                format!("is missing while {} is set", vars.secret),
                format!("Copy it from {}.", vars.console),
            ));
        }
        _ if !sandbox => return Ok(None),
        // As with DingTalk: the sandbox accepts the random secret it was started with.
        (id, _) => (
            id.unwrap_or_else(|| vars.sandbox_client_id.to_owned()),
            Secret::new(random_token(24)),
        ),
    };
    let (default_auth, default_api) = if sandbox {
        (
            format!("{base}{}", vars.sandbox_auth_path),
            format!("{base}{}", vars.sandbox_api_path),
        )
    } else {
        (vars.real_auth_url.to_owned(), vars.real_api_base.to_owned())
    };
    Ok(Some(OAuthAppSettings {
        client_id,
        client_secret,
        auth_url: parse_http_url(vars.auth_url, &get(vars.auth_url).unwrap_or(default_auth))?,
        api_base: parse_http_url(vars.api_base, &get(vars.api_base).unwrap_or(default_api))?,
        sandbox,
    }))
}
