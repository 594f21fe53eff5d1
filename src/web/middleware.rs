//! Cross-cutting request handling: security headers, the session gate with its CSRF and Origin
//! checks, the API token gate, and turning page errors into toasts for htmx.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::web::{Bytes, Data};
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};
use askama::Template;

use crate::app::AppState;
use crate::auth::{constant_time_eq, sessions, tokens};
use crate::error::{ApiError, AppError, PageError};

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers on every response. Pages are private: never cached (static files set their own).
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::CACHE_CONTROL, "no-store"));
    if https {
        headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"))
    } else {
        headers
    }
}

fn state(req: &ServiceRequest) -> Result<Data<AppState>, Error> {
    req.app_data::<Data<AppState>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("application state missing"))
}

/// Pages: a valid session is required; state-changing requests also need the same origin and
/// the session's CSRF token (header `X-CSRF-Token`, or form field `csrf_token`).
pub async fn require_session(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let state = state(&req)?;
    let token = req.cookie(state.cookie_name()).map(|c| c.value().to_string());
    let session = match token {
        Some(token) => {
            let (now, life) = (state.clock.now(), state.lifetimes());
            state.db.run(move |conn| Ok(sessions::find(conn, &token, now, life)?)).await.map_err(PageError)?
        }
        None => None,
    };
    let Some(session) = session else {
        let response = to_login(&state, &req);
        return Ok(req.into_response(response));
    };
    if !req.method().is_safe() {
        if !super::same_origin(req.request(), state.config.public_url.as_deref()) {
            return Ok(forbidden(req, "the request came from another site"));
        }
        let given = csrf_token_of(&mut req).await;
        if !given.is_some_and(|g| constant_time_eq(&g, &session.csrf_token)) {
            return Ok(forbidden(
                req,
                "the form's security token is missing or stale; reload the page and try again",
            ));
        }
    }
    let htmx = super::htmx::is_htmx(req.request());
    req.extensions_mut().insert(session);
    let res = next.call(req).await?.map_into_boxed_body();
    Ok(if htmx { toast_errors(res) } else { res })
}

/// Where an anonymous page request goes: the login page (via `HX-Redirect` for htmx).
fn to_login(state: &AppState, req: &ServiceRequest) -> HttpResponse {
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let cross_site = req.headers().get("Sec-Fetch-Site").is_some_and(|v| v == "cross-site");
    if cross_site && req.method().is_safe() && req.cookie(state.cookie_name()).is_none() {
        // SameSite=Strict cookies are not sent on a navigation from another site (a link in a
        // mail); reloading the page from our own origin sends them.
        return super::html(StatusCode::OK, &Reload { path }).unwrap_or_else(|e| e.error_response());
    }
    let login = format!("/login?next={}", percent_encode(path));
    if super::htmx::is_htmx(req.request()) {
        HttpResponse::Unauthorized().insert_header(("HX-Redirect", login)).finish()
    } else {
        super::see_other(&login)
    }
}

/// The page that reloads a request from our own origin (see [`to_login`]).
#[derive(Template)]
#[template(
    source = "<!doctype html><meta http-equiv=\"refresh\" content=\"0\"><title>Steward</title><a href=\"{{ path }}\">Continue</a>",
    ext = "html"
)]
struct Reload<'a> {
    path: &'a str,
}

fn forbidden(req: ServiceRequest, message: &str) -> ServiceResponse<BoxBody> {
    let err = PageError(AppError::Forbidden(message.to_string()));
    let htmx = super::htmx::is_htmx(req.request());
    let res = req.error_response(err);
    if htmx { toast_errors(res) } else { res }
}

/// The CSRF token from the header, else from an url-encoded form body (which is read and put
/// back for the handler), else from the query (multipart uploads without JavaScript).
async fn csrf_token_of(req: &mut ServiceRequest) -> Option<String> {
    if let Some(token) = req.headers().get("X-CSRF-Token").and_then(|v| v.to_str().ok()) {
        return Some(token.to_string());
    }
    if req.content_type() == "application/x-www-form-urlencoded" {
        let body = req.extract::<Bytes>().await.ok()?;
        let token = form_field(&body, "csrf_token");
        req.set_payload(Payload::from(body));
        return token;
    }
    form_field(req.query_string().as_bytes(), "csrf_token")
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// htmx swaps a fragment into the page; an error page would land in the middle of it. Errors
/// other than form validation (422, which re-renders the form) become a toast instead.
fn toast_errors(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || status == StatusCode::UNPROCESSABLE_ENTITY {
        return res;
    }
    let message = res
        .response()
        .error()
        .and_then(|e| e.as_error::<PageError>())
        .map(|e| e.message())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_string());
    match super::htmx::error_toast(status, &message) {
        Ok(toast) => {
            let (req, _) = res.into_parts();
            ServiceResponse::new(req, toast)
        }
        // Rendering a toast does not fail in practice; if it did, the error page still answers.
        Err(_) => res,
    }
}

/// The API: a valid bearer token is required.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let state = state(&req)?;
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|s| s.trim().to_string());
    let token = match secret {
        Some(secret) => {
            let now = state.clock.now();
            state.db.run(move |conn| Ok(tokens::authenticate(conn, &secret, now)?)).await.map_err(ApiError)?
        }
        None => None,
    };
    match token {
        Some(token) => {
            req.extensions_mut().insert(token);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        None => {
            let mut res = req.error_response(ApiError(AppError::Unauthorized));
            res.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            Ok(res)
        }
    }
}

pub fn percent_encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).map(|s| s[1..].to_string()).unwrap_or_default()
}
