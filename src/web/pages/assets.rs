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
