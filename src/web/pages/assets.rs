//! `static/` compiled into the binary, so it runs from any folder.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

pub async fn static_file(path: web::Path<String>) -> HttpResponse {
    serve(&path.into_inner())
}

/// DingTalk's JSAPI for pages opened inside the DingTalk client (vendored: the CSP allows
/// no other origin), or, while the sandbox is on, the sandbox's stand-in for it.
pub async fn dingtalk_jsapi(settings: web::Data<crate::config::Settings>) -> HttpResponse {
    if settings.dingtalk.sandbox {
        serve("sandbox/dingtalk-client.js")
    } else {
        serve("vendor/dingtalk-jsapi.js")
    }
}

/// What a page inside the DingTalk client needs for `dd.requestAuthCode`: the app's
/// client id (public) and whether in-client login is on at all.
pub async fn dingtalk_client_config(settings: web::Data<crate::config::Settings>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "clientId": settings.dingtalk.client_id,
        "inClientLogin": !settings.dingtalk.corp_ids.is_empty(),
    }))
}

/// The reference SPA: `/app/` is its index page.
pub async fn spa_index() -> HttpResponse {
    serve("app/index.html")
}

fn serve(path: &str) -> HttpResponse {
    match Assets::get(path) {
        Some(file) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, mime.as_ref()))
                .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
                .body(file.data.into_owned())
        }
        None => HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("not found"),
    }
}
