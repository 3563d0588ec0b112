//! Weibo's OAuth2, simulated with its shapes (`docs/dingtalk-api.md` §3): the authorize
//! page, `POST /oauth2/access_token` (form-encoded; `expires_in` and `error_code` as
//! strings, as Weibo's Chinese documentation shows them), `POST /oauth2/get_token_info`
//! (numbers), and `/2/users/show.json`. Under `/sandbox/weibo`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::grants::{ACCESS_TOKEN_TTL, CODE_TTL, Grants, credentials_match};
use super::routes::{Preset, SandboxErrorPage, chosen, html, is_http_url, redirect_back};
use crate::config::OAuthAppSettings;
use crate::crypto::{random_token, sha256_hex};
use crate::i18n::Lang;

/// A simulated Weibo user.
#[derive(Debug, Clone)]
pub struct WeiboUser {
    pub id: u64,
    pub screen_name: String,
}

impl WeiboUser {
    /// The same nick always gives the same id, like one real person would.
    pub fn new(screen_name: &str) -> WeiboUser {
        let digest = sha256_hex(&format!("weibo\u{0}{screen_name}"));
        // Ten digits, like real uids.
        let id =
            1_000_000_000 + u64::from_str_radix(&digest[..12], 16).unwrap_or(0) % 8_999_999_999;
        WeiboUser {
            id,
            screen_name: screen_name.to_owned(),
        }
    }
}

pub fn preset_users() -> Vec<(&'static str, WeiboUser)> {
    vec![
        ("zhaoliu", WeiboUser::new("赵六的微博")),
        ("sunqi", WeiboUser::new("孙七")),
    ]
}

/// A code remembers the `redirect_uri` it was issued for: the exchange must name it again.
#[derive(Clone)]
struct CodeGrant {
    user: WeiboUser,
    redirect_uri: String,
}

pub struct WeiboSandbox {
    client_id: String,
    client_secret: String,
    codes: Grants<CodeGrant>,
    tokens: Grants<WeiboUser>,
}

impl WeiboSandbox {
    pub fn new(settings: &OAuthAppSettings) -> WeiboSandbox {
        WeiboSandbox {
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.expose().to_owned(),
            codes: Grants::default(),
            tokens: Grants::default(),
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/sandbox/weibo")
            .service(
                web::resource("/oauth2/authorize")
                    .get(authorize_page)
                    .post(decide),
            )
            .route("/oauth2/access_token", web::post().to(access_token))
            .route("/oauth2/get_token_info", web::post().to(token_info))
            .route("/2/users/show.json", web::get().to(users_show)),
    );
}

#[derive(Deserialize)]
pub struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
}

#[derive(Template)]
#[template(path = "sandbox_weibo.html")]
struct AuthorizePage<'a> {
    lang: Lang,
    redirect_uri: &'a str,
    state: &'a str,
    presets: Vec<Preset>,
}

async fn authorize_page(
    lang: Lang,
    query: web::Query<AuthorizeQuery>,
    sandbox: web::Data<WeiboSandbox>,
) -> HttpResponse {
    let problem = match &*query {
        q if q.client_id.as_deref() != Some(sandbox.client_id.as_str()) => {
            Some("error: invalid_client (21324)")
        }
        q if !q.redirect_uri.as_deref().is_some_and(is_http_url) => {
            Some("error: redirect_uri_mismatch (21322)")
        }
        _ => None,
    };
    if let Some(message) = problem {
        let page = SandboxErrorPage {
            lang,
            provider: lang.t("微博", "Weibo"),
            message,
        };
        return html(StatusCode::BAD_REQUEST, page.render());
    }
    let page = AuthorizePage {
        lang,
        redirect_uri: query.redirect_uri.as_deref().unwrap_or_default(),
        state: query.state.as_deref().unwrap_or_default(),
        presets: preset_users()
            .into_iter()
            .map(|(key, user)| Preset {
                key,
                nick: user.screen_name,
                detail: format!("uid {}", user.id),
            })
            .collect(),
    };
    html(StatusCode::OK, page.render())
}

#[derive(Deserialize)]
pub struct DecisionForm {
    redirect_uri: String,
    state: Option<String>,
    decision: String,
    identity: Option<String>,
    nick: Option<String>,
}

/// 授权 → `redirect_uri?code=..&state=..`; 取消 → Weibo's error in the query
/// (`error=access_denied&error_code=21330`).
async fn decide(form: web::Form<DecisionForm>, sandbox: web::Data<WeiboSandbox>) -> HttpResponse {
    let answer = if form.decision == "agree" {
        let custom = || {
            let nick = form.nick.as_deref().map(str::trim).unwrap_or_default();
            WeiboUser::new(if nick.is_empty() {
                "微博用户"
            } else {
                nick
            })
        };
        let Some(user) = chosen(form.identity.as_deref(), preset_users(), custom) else {
            return HttpResponse::BadRequest().body("unknown identity");
        };
        let code = random_token(16);
        let grant = CodeGrant {
            user,
            redirect_uri: form.redirect_uri.clone(),
        };
        sandbox.codes.insert(code.clone(), grant, CODE_TTL);
        vec![("code", code)]
    } else {
        vec![
            ("error_uri", "/oauth2/authorize".to_owned()),
            ("error", "access_denied".to_owned()),
            ("error_description", "user denied your request.".to_owned()),
            ("error_code", "21330".to_owned()),
        ]
    };
    redirect_back(&form.redirect_uri, &answer, form.state.as_deref())
}

/// Weibo's OAuth error: HTTP 400, `error_code` as a string.
fn oauth_error(error: &str, error_code: &str, description: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({
        "error": error,
        "error_code": error_code,
        "error_description": description,
    }))
}

#[derive(Deserialize)]
pub struct TokenForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
}

async fn access_token(
    form: web::Form<TokenForm>,
    sandbox: web::Data<WeiboSandbox>,
) -> HttpResponse {
    let given = (
        form.client_id.as_deref().unwrap_or(""),
        form.client_secret.as_deref().unwrap_or(""),
    );
    if !credentials_match(given, (&sandbox.client_id, &sandbox.client_secret)) {
        return oauth_error("invalid_client", "21324", "invalid client");
    }
    if form.grant_type.as_deref() != Some("authorization_code") {
        return oauth_error("unsupported_grant_type", "21328", "unsupported grant type");
    }
    let Some(grant) = sandbox.codes.take(form.code.as_deref().unwrap_or("")) else {
        return oauth_error("invalid_grant", "21325", "invalid authorization code");
    };
    if form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return oauth_error("redirect_uri_mismatch", "21322", "redirect_uri mismatch");
    }
    let token = random_token(16);
    let uid = grant.user.id.to_string();
    sandbox
        .tokens
        .insert(token.clone(), grant.user, ACCESS_TOKEN_TTL);
    HttpResponse::Ok().json(serde_json::json!({
        "access_token": token,
        "remind_in": "157679999",
        "expires_in": "157679999",
        "uid": uid,
        "isRealName": "true",
    }))
}

#[derive(Deserialize)]
pub struct TokenInfoForm {
    access_token: Option<String>,
}

/// The token's owner and app, as numbers (Weibo's wiki); the app key stays a string when
/// it is not a number (the sandbox's default one).
async fn token_info(
    form: web::Form<TokenInfoForm>,
    sandbox: web::Data<WeiboSandbox>,
) -> HttpResponse {
    let Some(user) = sandbox
        .tokens
        .get(form.access_token.as_deref().unwrap_or(""))
    else {
        return oauth_error("expired_token", "21327", "expired token");
    };
    let appkey = match sandbox.client_id.parse::<u64>() {
        Ok(number) => serde_json::Value::from(number),
        Err(_) => serde_json::Value::from(sandbox.client_id.clone()),
    };
    HttpResponse::Ok().json(serde_json::json!({
        "uid": user.id,
        "appkey": appkey,
        "scope": null,
        "create_at": chrono::Utc::now().timestamp(),
        "expire_in": 157_679_471,
    }))
}

#[derive(Deserialize)]
pub struct ShowQuery {
    access_token: Option<String>,
    uid: Option<String>,
}

/// API errors have another shape than OAuth ones: `{"request", "error_code", "error"}`.
async fn users_show(
    query: web::Query<ShowQuery>,
    sandbox: web::Data<WeiboSandbox>,
) -> HttpResponse {
    let Some(user) = sandbox
        .tokens
        .get(query.access_token.as_deref().unwrap_or(""))
    else {
        return HttpResponse::BadRequest().json(serde_json::json!({
            "request": "/2/users/show.json", "error_code": "21332", "error": "invalid_access_token",
        }));
    };
    if query.uid.as_deref() != Some(user.id.to_string().as_str()) {
        return HttpResponse::BadRequest().json(serde_json::json!({
            "request": "/2/users/show.json", "error_code": "20003", "error": "User does not exists!",
        }));
    }
    HttpResponse::Ok().json(serde_json::json!({
        "id": user.id,
        "idstr": user.id.to_string(),
        "screen_name": user.screen_name,
        "name": user.screen_name,
        "location": "北京 海淀区",
        "description": "",
        "profile_image_url": "",
        "avatar_large": "",
        "gender": "n",
    }))
}
