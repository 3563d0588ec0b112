//! WeChat's website login, simulated with its shapes (`docs/dingtalk-api.md` §2): the QR
//! page at `/connect/qrconnect` (a "scan" button stands in for the phone), the refusal that
//! comes back with no `code`, `/sns/oauth2/access_token` with `40029` (invalid code) and
//! `40163` (code used), and `/sns/userinfo`. Its JSON is sent as `text/plain`, as WeChat
//! does, so the service must decode the bytes itself. Under `/sandbox/wechat`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};

use super::grants::{ACCESS_TOKEN_TTL, CODE_TTL, Grants, credentials_match};
use super::routes::{Preset, SandboxErrorPage, chosen, html, is_http_url, redirect_back};
use crate::config::OAuthAppSettings;
use crate::crypto::{random_token, sha256_hex};
use crate::i18n::Lang;

/// A simulated WeChat user, serialised as `/sns/userinfo` answers.
#[derive(Debug, Clone, Serialize)]
pub struct WeChatUser {
    pub openid: String,
    pub nickname: String,
    pub sex: u8,
    pub province: String,
    pub city: String,
    pub country: String,
    pub headimgurl: String,
    pub privilege: Vec<String>,
    /// Only when the app is bound to an Open Platform account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    pub language: String,
}

impl WeChatUser {
    /// The same nick always gives the same ids, like one real person would.
    pub fn new(nickname: &str, with_unionid: bool) -> WeChatUser {
        let digest = sha256_hex(&format!("wechat\u{0}{nickname}"));
        WeChatUser {
            openid: format!("o6_sbx{}", &digest[..22]),
            nickname: nickname.to_owned(),
            sex: 0,
            province: "Guangdong".into(),
            city: "Shenzhen".into(),
            country: "CN".into(),
            headimgurl: String::new(),
            privilege: Vec::new(),
            unionid: with_unionid.then(|| format!("oU_sbx{}", &digest[22..44])),
            language: "zh_CN".into(),
        }
    }
}

/// The test users on the QR page: one whose app is bound to an Open Platform account
/// (with unionid), one without.
pub fn preset_users() -> Vec<(&'static str, WeChatUser)> {
    vec![
        ("zhangsan", WeChatUser::new("张三（微信）", true)),
        ("xiaoming", WeChatUser::new("小明", false)),
    ]
}

pub struct WeChatSandbox {
    app_id: String,
    app_secret: String,
    codes: Grants<WeChatUser>,
    /// Codes already exchanged, so a second try gets `40163` rather than `40029`.
    used: Grants<()>,
    tokens: Grants<WeChatUser>,
}

impl WeChatSandbox {
    pub fn new(settings: &OAuthAppSettings) -> WeChatSandbox {
        WeChatSandbox {
            app_id: settings.client_id.clone(),
            app_secret: settings.client_secret.expose().to_owned(),
            codes: Grants::default(),
            used: Grants::default(),
            tokens: Grants::default(),
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/sandbox/wechat")
            .service(
                web::resource("/connect/qrconnect")
                    .get(qr_page)
                    .post(scanned),
            )
            .route("/sns/oauth2/access_token", web::get().to(access_token))
            .route("/sns/userinfo", web::get().to(userinfo)),
    );
}

#[derive(Deserialize)]
pub struct QrQuery {
    appid: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
}

#[derive(Template)]
#[template(path = "sandbox_wechat.html")]
struct QrPage<'a> {
    lang: Lang,
    redirect_uri: &'a str,
    state: &'a str,
    presets: Vec<Preset>,
}

/// Like WeChat, a wrong request shows an error page instead of the QR code.
async fn qr_page(
    lang: Lang,
    query: web::Query<QrQuery>,
    sandbox: web::Data<WeChatSandbox>,
) -> HttpResponse {
    let problem = match &*query {
        q if q.appid.as_deref() != Some(sandbox.app_id.as_str()) => Some("AppID 参数错误"),
        q if q.response_type.as_deref() != Some("code") => Some("response_type 参数错误"),
        q if q.scope.as_deref() != Some("snsapi_login") => Some("Scope 参数错误或没有 Scope 权限"),
        q if !q.redirect_uri.as_deref().is_some_and(is_http_url) => Some("redirect_uri 参数错误"),
        _ => None,
    };
    if let Some(message) = problem {
        let page = SandboxErrorPage {
            lang,
            provider: lang.t("微信", "WeChat"),
            message,
        };
        return html(StatusCode::BAD_REQUEST, page.render());
    }
    let presets = preset_users()
        .into_iter()
        .map(|(key, user)| Preset {
            key,
            nick: user.nickname,
            detail: match user.unionid {
                Some(_) => "unionid".to_owned(),
                None => lang.t("无 unionid", "no unionid").to_owned(),
            },
        })
        .collect();
    let page = QrPage {
        lang,
        redirect_uri: query.redirect_uri.as_deref().unwrap_or_default(),
        state: query.state.as_deref().unwrap_or_default(),
        presets,
    };
    html(StatusCode::OK, page.render())
}

#[derive(Deserialize)]
pub struct ScanForm {
    redirect_uri: String,
    state: Option<String>,
    decision: String,
    identity: Option<String>,
    nick: Option<String>,
}

/// 扫码并确认 → `redirect_uri?code=..&state=..`; 拒绝 → `redirect_uri?state=..`, with no
/// `code` at all (WeChat's refusal).
async fn scanned(form: web::Form<ScanForm>, sandbox: web::Data<WeChatSandbox>) -> HttpResponse {
    let answer = if form.decision == "agree" {
        let custom = || {
            let nick = form.nick.as_deref().map(str::trim).unwrap_or_default();
            WeChatUser::new(
                if nick.is_empty() {
                    "微信用户"
                } else {
                    nick
                },
                true,
            )
        };
        let Some(user) = chosen(form.identity.as_deref(), preset_users(), custom) else {
            return HttpResponse::BadRequest().body("unknown identity");
        };
        let code = random_token(16);
        sandbox.codes.insert(code.clone(), user, CODE_TTL);
        vec![("code", code)]
    } else {
        Vec::new()
    };
    redirect_back(&form.redirect_uri, &answer, form.state.as_deref())
}

/// WeChat's answers: HTTP 200, JSON as `text/plain`, errors as `{"errcode", "errmsg"}`.
fn answer(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain")
        .body(body.to_string())
}

fn refusal(errcode: u32, errmsg: &str) -> HttpResponse {
    let rid = random_token(6);
    answer(serde_json::json!({ "errcode": errcode, "errmsg": format!("{errmsg}, rid: {rid}") }))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    appid: Option<String>,
    secret: Option<String>,
    code: Option<String>,
    grant_type: Option<String>,
}

async fn access_token(
    query: web::Query<TokenQuery>,
    sandbox: web::Data<WeChatSandbox>,
) -> HttpResponse {
    let given = (
        query.appid.as_deref().unwrap_or(""),
        query.secret.as_deref().unwrap_or(""),
    );
    if !credentials_match(given, (&sandbox.app_id, &sandbox.app_secret)) {
        return refusal(40125, "invalid appsecret");
    }
    if query.grant_type.as_deref() != Some("authorization_code") {
        return refusal(40002, "invalid grant_type");
    }
    let code = query.code.as_deref().unwrap_or("");
    let Some(user) = sandbox.codes.take(code) else {
        return if sandbox.used.get(code).is_some() {
            refusal(40163, "code been used")
        } else {
            refusal(40029, "invalid code")
        };
    };
    sandbox.used.insert(code.to_owned(), (), CODE_TTL);
    let token = random_token(16);
    sandbox
        .tokens
        .insert(token.clone(), user.clone(), ACCESS_TOKEN_TTL);
    let mut body = serde_json::json!({
        "access_token": token,
        "expires_in": 7200,
        "refresh_token": random_token(16),
        "openid": user.openid,
        "scope": "snsapi_login",
    });
    if let Some(unionid) = user.unionid {
        body["unionid"] = unionid.into();
    }
    answer(body)
}

#[derive(Deserialize)]
pub struct UserInfoQuery {
    access_token: Option<String>,
    openid: Option<String>,
}

async fn userinfo(
    query: web::Query<UserInfoQuery>,
    sandbox: web::Data<WeChatSandbox>,
) -> HttpResponse {
    let Some(user) = sandbox
        .tokens
        .get(query.access_token.as_deref().unwrap_or(""))
    else {
        return refusal(
            40001,
            "invalid credential, access_token is invalid or not latest",
        );
    };
    if query.openid.as_deref() != Some(user.openid.as_str()) {
        return refusal(40003, "invalid openid");
    }
    answer(serde_json::to_value(user).unwrap_or_default())
}
