//! The simulator's HTTP face: DingTalk's consent page and its two JSON endpoints, with
//! DingTalk's paths, parameters, answers and error shapes.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::identities::{SANDBOX_ORGANISATIONS, SandboxIdentity, preset_identities};
use super::oapi::{
    AppTokenQuery, body_field, oapi_answer, oapi_refusal, refuse_foreign_token, refuse_without,
};
use super::state::Sandbox;
use crate::crypto::random_token;
use crate::i18n::Lang;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/sandbox/dingtalk")
            .service(
                web::resource("/oauth2/auth")
                    .get(consent_page)
                    .post(consent),
            )
            .route(
                "/v1.0/oauth2/userAccessToken",
                web::post().to(user_access_token),
            )
            .route("/v1.0/contact/users/me", web::get().to(users_me))
            .route("/v1.0/oauth2/accessToken", web::post().to(app_access_token))
            .route("/topapi/user/getbyunionid", web::post().to(user_by_unionid))
            .route(
                "/topapi/v2/user/getuserinfo",
                web::post().to(client_user_info),
            )
            .route("/topapi/v2/user/get", web::post().to(staff_details))
            .configure(super::contacts::routes)
            .configure(super::stream::routes)
            .configure(super::organisation_page::routes)
            .route(
                "/client/request-auth-code",
                web::post().to(request_auth_code),
            ),
    );
}

#[derive(Deserialize)]
pub struct AuthorizeQuery {
    redirect_uri: Option<String>,
    response_type: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    prompt: Option<String>,
    state: Option<String>,
    /// Pre-selects an organisation (with the `corpid` scope).
    #[serde(rename = "corpId")]
    corp_id: Option<String>,
}

/// A test person on a simulated consent page (`sandbox_presets.html`).
pub(super) struct Preset {
    pub key: &'static str,
    pub nick: String,
    /// What sets them apart (a phone number, "no unionid").
    pub detail: String,
}

#[derive(Template)]
#[template(path = "sandbox_consent.html")]
struct ConsentPage<'a> {
    lang: Lang,
    redirect_uri: &'a str,
    state: &'a str,
    presets: Vec<Preset>,
    /// With the `corpid` scope: the organisations to choose from, and the pre-selected one.
    organisations: Vec<(&'static str, &'static str)>,
    preselected: &'a str,
}

/// Any simulated provider's page for a wrong authorize request.
#[derive(Template)]
#[template(path = "sandbox_error.html")]
pub(super) struct SandboxErrorPage<'a> {
    pub lang: Lang,
    pub provider: &'a str,
    pub message: &'a str,
}

pub(super) fn html(status: StatusCode, body: Result<String, askama::Error>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(_) => HttpResponse::InternalServerError().body("template error"),
    }
}

/// Like DingTalk, a wrong request shows an error page instead of the consent page.
async fn consent_page(
    lang: Lang,
    query: web::Query<AuthorizeQuery>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let problem = match &*query {
        q if q.client_id.as_deref() != Some(sandbox.client_id.as_str()) => {
            Some("client_id 无效 (invalid client_id)")
        }
        q if q.response_type.as_deref() != Some("code") => Some("response_type 必须为 code"),
        q if !q
            .scope
            .as_deref()
            .unwrap_or("")
            .split([' ', '+'])
            .any(|s| s == "openid") =>
        {
            Some("scope 必须包含 openid")
        }
        q if q.prompt.as_deref() != Some("consent") => Some("prompt 必须为 consent"),
        q if !q.redirect_uri.as_deref().is_some_and(is_http_url) => Some("redirect_uri 无效"),
        _ => None,
    };
    if let Some(message) = problem {
        return html(
            StatusCode::BAD_REQUEST,
            SandboxErrorPage {
                lang,
                provider: lang.t("钉钉", "DingTalk"),
                message,
            }
            .render(),
        );
    }
    let presets = preset_identities()
        .into_iter()
        .map(|(key, identity)| Preset {
            key,
            nick: identity.nick,
            detail: identity
                .mobile
                .unwrap_or_else(|| lang.t("无手机号", "no mobile").to_owned()),
        })
        .collect();
    let asks_for_corp = query
        .scope
        .as_deref()
        .unwrap_or("")
        .split([' ', '+'])
        .any(|s| s == "corpid");
    let page = ConsentPage {
        lang,
        redirect_uri: query.redirect_uri.as_deref().unwrap_or_default(),
        state: query.state.as_deref().unwrap_or_default(),
        presets,
        organisations: if asks_for_corp {
            SANDBOX_ORGANISATIONS.to_vec()
        } else {
            Vec::new()
        },
        preselected: query
            .corp_id
            .as_deref()
            .unwrap_or(SANDBOX_ORGANISATIONS[0].0),
    };
    html(StatusCode::OK, page.render())
}

pub(super) fn is_http_url(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

#[derive(Deserialize)]
pub struct ConsentForm {
    redirect_uri: String,
    state: Option<String>,
    decision: String,
    identity: Option<String>,
    nick: Option<String>,
    mobile: Option<String>,
    /// The chosen organisation; empty for a personal account.
    corp_id: Option<String>,
}

/// Who agreed on a simulated consent page: a preset's key in `identity`, or `custom`
/// with what was typed.
pub(super) fn chosen<T>(
    identity: Option<&str>,
    presets: Vec<(&'static str, T)>,
    custom: impl FnOnce() -> T,
) -> Option<T> {
    match identity {
        Some("custom") | None => Some(custom()),
        Some(key) => presets.into_iter().find(|(k, _)| *k == key).map(|(_, t)| t),
    }
}

/// Sends the browser back to `redirect_uri` with `answer` and the `state`, as every
/// provider does after its consent page.
pub(super) fn redirect_back(
    redirect_uri: &str,
    answer: &[(&str, String)],
    state: Option<&str>,
) -> HttpResponse {
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return HttpResponse::BadRequest().body("redirect_uri 无效");
    };
    {
        let mut pairs = target.query_pairs_mut();
        for (key, value) in answer {
            pairs.append_pair(key, value);
        }
        if let Some(state) = state {
            pairs.append_pair("state", state);
        }
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, target.to_string()))
        .finish()
}

/// 同意 → `redirect_uri?authCode=..&state=..`; 拒绝 → `redirect_uri?error=access_denied&state=..`.
async fn consent(form: web::Form<ConsentForm>, sandbox: web::Data<Sandbox>) -> HttpResponse {
    let answer = if form.decision == "agree" {
        let custom = || {
            let typed = |field: &Option<String>| {
                field
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            };
            let nick = typed(&form.nick).unwrap_or_else(|| "钉钉用户".into());
            SandboxIdentity::new(&nick, typed(&form.mobile).as_deref())
        };
        let Some(identity) = chosen(form.identity.as_deref(), preset_identities(), custom) else {
            return HttpResponse::BadRequest().body("unknown identity");
        };
        let corp_id = form.corp_id.clone().filter(|c| !c.is_empty());
        vec![("authCode", sandbox.issue_code(identity, corp_id))]
    } else {
        vec![("error", "access_denied".to_owned())]
    };
    redirect_back(&form.redirect_uri, &answer, form.state.as_deref())
}

fn dingtalk_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({
        "code": code,
        "message": message,
        "requestid": random_token(12),
    }))
}

async fn user_access_token(body: web::Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return dingtalk_error(StatusCode::BAD_REQUEST, "MissingBody", "body is mandatory");
    };
    let field = |name: &str| body.get(name).and_then(|v| v.as_str()).unwrap_or("");
    let (client_id, client_secret, code, grant_type) = (
        field("clientId"),
        field("clientSecret"),
        field("code"),
        field("grantType"),
    );
    if client_id.is_empty() || client_secret.is_empty() || grant_type.is_empty() {
        return dingtalk_error(StatusCode::BAD_REQUEST, "missingParameter", "缺少参数");
    }
    if grant_type != "authorization_code" {
        return dingtalk_error(
            StatusCode::BAD_REQUEST,
            "unsupported.grant.type",
            "不支持的grantType",
        );
    }
    if !sandbox.credentials_match(client_id, client_secret) {
        return dingtalk_error(
            StatusCode::BAD_REQUEST,
            "invalidClientIdOrSecret",
            "无效的clientId或clientSecret",
        );
    }
    match sandbox.redeem_code(code) {
        Some((token, corp_id)) => {
            let mut answer = serde_json::json!({
                "accessToken": token,
                "refreshToken": random_token(16),
                "expireIn": 7200,
            });
            // Like DingTalk: `corpId` only when the person signed in as an organisation.
            if let Some(corp_id) = corp_id {
                answer["corpId"] = corp_id.into();
            }
            HttpResponse::Ok().json(answer)
        }
        None => dingtalk_error(StatusCode::BAD_REQUEST, "invalidCode", "无效的授权码"),
    }
}

async fn users_me(req: HttpRequest, sandbox: web::Data<Sandbox>) -> HttpResponse {
    let token = req
        .headers()
        .get("x-acs-dingtalk-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match sandbox.identity_for(token) {
        Some(identity) => HttpResponse::Ok().json(identity),
        None => dingtalk_error(
            StatusCode::BAD_REQUEST,
            "InvalidAuthentication",
            "不合法的access_token",
        ),
    }
}

/// The app's own token (`{appKey, appSecret}` → `{accessToken, expireIn}`).
async fn app_access_token(body: web::Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return dingtalk_error(StatusCode::BAD_REQUEST, "MissingBody", "body is mandatory");
    };
    let field = |name: &str| body.get(name).and_then(|v| v.as_str()).unwrap_or("");
    if !sandbox.credentials_match(field("appKey"), field("appSecret")) {
        return dingtalk_error(
            StatusCode::BAD_REQUEST,
            "invalidClientIdOrSecret",
            "无效的appKey或appSecret",
        );
    }
    HttpResponse::Ok().json(serde_json::json!({
        "accessToken": sandbox.app_token(),
        "expireIn": 7200,
    }))
}

/// The older host's membership lookup, in its `errcode` shape (HTTP 200 even for errors):
/// the people of the sandbox organisation (张三 and 王五 among them) are employees until
/// they leave, 李四 an external contact, anyone else not in the organisation (60121).
async fn user_by_unionid(
    query: web::Query<AppTokenQuery>,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    if let Some(refused) = refuse_foreign_token(&query, &sandbox) {
        return refused;
    }
    let unionid = body_field(&body, "unionid");
    if let Some(person) = sandbox.organisation.person_by_unionid(&unionid) {
        return oapi_answer(serde_json::json!({"contact_type": 0, "userid": person.userid}));
    }
    let external = preset_identities()
        .into_iter()
        .find(|(key, identity)| *key == "lisi" && identity.union_id == unionid);
    match external {
        Some((_, identity)) => oapi_answer(serde_json::json!({
            "contact_type": 1,
            "userid": identity.open_id,
        })),
        None => oapi_refusal(60121, "找不到该用户"),
    }
}

/// The simulated DingTalk client's `dd.requestAuthCode`: a code for a test identity (a
/// preset's key in `identity`, or `nick` and `mobile`). Not a DingTalk endpoint: the
/// sandbox's stand-in for the client app.
async fn request_auth_code(
    body: web::Json<ClientIdentity>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let custom = || {
        SandboxIdentity::new(
            body.nick.as_deref().unwrap_or("钉钉用户"),
            body.mobile.as_deref().filter(|m| !m.is_empty()),
        )
    };
    let Some(identity) = chosen(body.identity.as_deref(), preset_identities(), custom) else {
        return HttpResponse::BadRequest().json(serde_json::json!({"error": "unknown identity"}));
    };
    HttpResponse::Ok().json(serde_json::json!({ "code": sandbox.issue_client_code(identity) }))
}

#[derive(Deserialize)]
pub struct ClientIdentity {
    identity: Option<String>,
    nick: Option<String>,
    mobile: Option<String>,
}

/// `topapi/v2/user/getuserinfo` `{code}` → the staff member the in-client code belongs to.
async fn client_user_info(
    query: web::Query<AppTokenQuery>,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    if let Some(refused) = refuse_foreign_token(&query, &sandbox) {
        return refused;
    }
    match sandbox.redeem_client_code(&body_field(&body, "code")) {
        Some((userid, identity)) => oapi_answer(serde_json::json!({
            "userid": userid,
            "unionid": identity.union_id,
            "name": identity.nick,
            "sys": false,
            "sys_level": 0,
        })),
        None => oapi_refusal(40078, "不存在的临时授权码"),
    }
}

/// `topapi/v2/user/get` `{userid}` → the staff member's details.
async fn staff_details(
    query: web::Query<AppTokenQuery>,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    if let Some(refused) = refuse_foreign_token(&query, &sandbox) {
        return refused;
    }
    let userid = body_field(&body, "userid");
    if let Some(refused) = refuse_without(&sandbox, "qyapi_get_member") {
        return refused;
    }
    let known = sandbox
        .staff(&userid)
        .map(|identity| (identity, Vec::new()))
        .or_else(|| {
            sandbox
                .organisation
                .person(&userid)
                .map(|person| (person.identity, person.dept_ids))
        });
    match known {
        Some((identity, dept_ids)) => {
            let mut result = serde_json::json!({
                "userid": userid,
                "unionid": identity.union_id,
                "name": identity.nick,
                "avatar": identity.avatar_url,
                "active": true,
                "admin": false,
                "dept_id_list": dept_ids,
            });
            if let Some(mobile) = identity.mobile {
                result["mobile"] = mobile.into();
                result["state_code"] = "86".into();
            }
            oapi_answer(result)
        }
        None => oapi_refusal(60121, "找不到该用户"),
    }
}
