//! Static files, embedded in the binary so one file is the whole app. Names with a version in
//! them are cached for a year; the others revalidate with an ETag.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::sha256_hex;

struct Asset {
    name: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
    immutable: bool,
}

macro_rules! asset {
    ($name:literal, $type:literal, $immutable:literal) => {
        Asset {
            name: $name,
            bytes: include_bytes!(concat!("../../static/", $name)),
            content_type: $type,
            immutable: $immutable,
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("htmx-2.0.11.min.js", "text/javascript; charset=utf-8", true),
    asset!("app.js", "text/javascript; charset=utf-8", false),
    asset!("app.css", "text/css; charset=utf-8", false),
    asset!("calendar.js", "text/javascript; charset=utf-8", false),
    asset!("act.js", "text/javascript; charset=utf-8", false),
    asset!("icon.svg", "image/svg+xml", false),
    asset!("sw.js", "text/javascript; charset=utf-8", false),
    asset!("icon-192.png", "image/png", false),
    asset!("icon-512.png", "image/png", false),
];

fn etags() -> &'static Vec<String> {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &sha256_hex(&String::from_utf8_lossy(a.bytes))[..16]))
            .collect()
    })
}

pub async fn serve(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    serve_named(&req, name.as_str())
}

/// `/sw.js`: the service worker, served from the root so that its scope covers every page
/// (a worker's scope is at most the folder its script is served from).
pub async fn service_worker(req: HttpRequest) -> HttpResponse {
    let mut res = serve_named(&req, "sw.js");
    res.headers_mut().insert(
        header::HeaderName::from_static("service-worker-allowed"),
        header::HeaderValue::from_static("/"),
    );
    res
}

fn serve_named(req: &HttpRequest, name: &str) -> HttpResponse {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return HttpResponse::NotFound().content_type("text/plain").body("no such file");
    };
    let (asset, etag) = (&ASSETS[i], &etags()[i]);
    let cache = if asset.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    let fresh =
        req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    if fresh {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.as_str()))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish();
    }
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(asset.bytes)
}
