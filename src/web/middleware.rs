//! Cross-cutting request handling: the request log, security headers, the session gate with its
//! CSRF and Origin checks, the API token gate, and turning page errors into toasts for htmx.

use std::fmt;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::web::{Bytes, Data};
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};
use askama::Template;
use tracing::Instrument;

use crate::auth::{constant_time_eq, scopes, sessions, tokens};
use crate::error::{ApiError, AppError, PageError};
use crate::web::AppState;

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// One log line per request, and its count and duration in the metrics ([`crate::metrics`],
/// by route pattern): its id, method, path, status, duration in milliseconds and the
/// client's address (behind a trusted proxy the forwarded one, see [`super::client`]). The id
/// is short and random; it goes back to the client in `X-Request-Id`, and every line logged
/// while the request is handled carries it (the `request` span), so a person can match a
/// complaint to the log.
///
/// - Only the path is logged, never the query: it can carry secrets (the setup link's token).
///   The one route with a secret in its path, a calendar feed (`/feeds/<token>.ics`), is logged
///   as `/feeds/…` ([`loggable_path`]).
/// - A failed request is logged here, once, on this line: a 5xx at error level with the whole
///   cause chain (`error`), a refused one (4xx) with the reason its client was told. Neither the
///   handlers nor [`AppError::client_message`] log the errors they answer with.
/// - Static files and the health check log at debug: every page load fetches several static
///   files and a container's health probe calls every few seconds, which at the default level
///   would bury the lines a person needs (`STEWARD_LOG=debug` shows them).
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = crate::auth::random_token(6);
    let (method, path) = (req.method().clone(), loggable_path(req.path()));
    let client = super::client::of(req.request()).ip_text();
    let metrics = req.app_data::<Data<AppState>>().map(|s| s.metrics.clone());
    let result = next.call(req).instrument(tracing::info_span!("request", id = %id)).await;
    let took = started.elapsed();
    let ms = (took.as_secs_f64() * 10_000.0).round() / 10.0;
    let line = RequestLine { id: &id, method: &method, path: &path, ms, client: &client };
    if let Some(metrics) = metrics {
        // The pattern the router matched (`/tasks/{id}`), never the path: no id or token in a
        // label. None when no route matched (a 404 from a default service).
        let (route, status) = match &result {
            Ok(res) => (res.request().match_pattern(), res.status()),
            Err(e) => (None, e.as_response_error().status_code()),
        };
        metrics.request(&method, route, status.as_u16(), took);
    }
    match result {
        Ok(res) => {
            let mut res = res.map_into_boxed_body();
            line.log(res.status(), res.response().error());
            if let Ok(value) = HeaderValue::from_str(&id) {
                res.headers_mut().insert(REQUEST_ID, value);
            }
            unbuffered_if_streaming(&mut res);
            Ok(res)
        }
        // A middleware failed before there was a response (actix answers for it); the error
        // still carries the id back.
        Err(e) => {
            line.log(e.as_response_error().status_code(), Some(&e));
            Err(Identified { error: e, id }.into())
        }
    }
}

/// An event stream (live updates, the chat's reply as it is written) tells nginx not to buffer
/// it (`X-Accel-Buffering: no`), so a proxied page gets each event at once.
fn unbuffered_if_streaming(res: &mut ServiceResponse<BoxBody>) {
    let streaming = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if streaming {
        res.headers_mut().insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
    }
}

const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// The path as the log may show it: a feed's token (a read-only secret) is left out.
pub fn loggable_path(path: &str) -> String {
    if path.starts_with("/a/") {
        // A one-click action link's token.
        return "/a/…".to_string();
    }
    match path.strip_prefix("/feeds/") {
        Some(_) => "/feeds/…".to_string(),
        None => path.to_string(),
    }
}

struct RequestLine<'a> {
    id: &'a str,
    method: &'a Method,
    path: &'a str,
    ms: f64,
    client: &'a str,
}

impl RequestLine<'_> {
    fn log(&self, status: StatusCode, error: Option<&Error>) {
        let RequestLine { id, method, path, ms, client } = *self;
        let (status, why) = (status.as_u16(), error.and_then(|e| failure(e, status)));
        let why = why.as_deref();
        if status >= 500 {
            tracing::error!(%id, %method, %path, status, ms, client, error = why, "request");
        } else if path.starts_with("/static/") || path == "/healthz" {
            tracing::debug!(%id, %method, %path, status, ms, client, error = why, "request");
        } else {
            tracing::info!(%id, %method, %path, status, ms, client, error = why, "request");
        }
    }
}

/// What the request line says about a failure: the whole cause of an internal error, the
/// reason a refused request was given (for bad input only the field, as the message may quote
/// what was typed), nothing about other refusals (actix's own messages may quote input).
fn failure(e: &Error, status: StatusCode) -> Option<String> {
    let app = e.as_error::<PageError>().map(|e| &e.0).or_else(|| e.as_error::<ApiError>().map(|e| &e.0));
    match app {
        Some(AppError::Internal(cause)) => Some(format!("{cause:#}")),
        Some(AppError::Invalid { field, .. }) => Some(format!("invalid {field}")),
        Some(other) => Some(other.client_message()),
        None if status.is_server_error() => Some(e.to_string()),
        None => None,
    }
}

/// An error out of a middleware, answered with the request's id.
#[derive(Debug)]
struct Identified {
    error: Error,
    id: String,
}

impl fmt::Display for Identified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for Identified {
    fn status_code(&self) -> StatusCode {
        self.error.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = self.error.error_response();
        if let Ok(value) = HeaderValue::from_str(&self.id) {
            res.headers_mut().insert(REQUEST_ID, value);
        }
        res
    }
}

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
    req.extensions_mut().insert(session.clone());
    let res = next.call(req).await?.map_into_boxed_body();
    Ok(if htmx { toast_errors(res) } else { with_navigation(res, &session) })
}

/// A logged-in person's error page (404, 403, ...) keeps the site's navigation.
fn with_navigation(res: ServiceResponse<BoxBody>, session: &sessions::Session) -> ServiceResponse<BoxBody> {
    let page = res
        .response()
        .error()
        .and_then(|e| e.as_error::<PageError>())
        .and_then(|e| e.page_in_layout(session));
    let Some(page) = page else { return res };
    // Same response (status, headers, its error for the request log), the page in the layout.
    res.map_body(|_, _| BoxBody::new(page))
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

/// The CSRF token from the header, else from the form's `csrf_token` field: in an url-encoded
/// body (which is read and put back for the handler), or first in a multipart body (uploads
/// without JavaScript; see [`multipart_token`]). Never from the URL: a token in a URL lands in
/// the history and in logs.
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
    if req.content_type() == "multipart/form-data" {
        return multipart_token(req).await;
    }
    None
}

/// How much of a multipart body is read to find the token: forms put their hidden
/// `csrf_token` field first, so it is in the first few hundred bytes.
const MULTIPART_PEEK: usize = 16 * 1024;

/// The `csrf_token` field a multipart body starts with. The start of the body is read (at most
/// [`MULTIPART_PEEK`] bytes, and only until that field is whole) and put back in front of the
/// rest, so the handler still streams the upload.
async fn multipart_token(req: &mut ServiceRequest) -> Option<String> {
    use futures_util::StreamExt;
    let mut rest = req.take_payload();
    let mut head: Vec<Result<Bytes, actix_web::error::PayloadError>> = Vec::new();
    let mut seen = Vec::new();
    let mut token = None;
    while seen.len() < MULTIPART_PEEK {
        match rest.next().await {
            Some(Ok(chunk)) => {
                seen.extend_from_slice(&chunk);
                head.push(Ok(chunk));
            }
            Some(Err(e)) => {
                head.push(Err(e));
                break;
            }
            None => break,
        }
        match first_field_token(req.headers(), Bytes::from(seen.clone())).await {
            Peek::Token(t) => {
                token = Some(t);
                break;
            }
            Peek::NotFirst => break,
            Peek::NeedMore => {}
        }
    }
    let body: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<Bytes, actix_web::error::PayloadError>>>,
    > = Box::pin(futures_util::stream::iter(head).chain(rest));
    req.set_payload(Payload::from(body));
    token
}

enum Peek {
    Token(String),
    NotFirst,
    NeedMore,
}

/// Reads the first field of the start of a multipart body.
async fn first_field_token(headers: &header::HeaderMap, start: Bytes) -> Peek {
    use futures_util::StreamExt;
    let stream = futures_util::stream::once(async move { Ok::<_, actix_web::error::PayloadError>(start) });
    let mut form = actix_multipart::Multipart::new(headers, stream);
    let Some(Ok(mut field)) = form.next().await else { return Peek::NeedMore };
    if field.name() != Some("csrf_token") {
        return Peek::NotFirst;
    }
    let mut value = Vec::new();
    while let Some(chunk) = field.next().await {
        match chunk {
            Ok(chunk) => value.extend_from_slice(&chunk),
            Err(_) => return Peek::NeedMore,
        }
        if value.len() > 256 {
            return Peek::NotFirst;
        }
    }
    String::from_utf8(value).map_or(Peek::NotFirst, Peek::Token)
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
    // Rendering a toast does not fail in practice; if it did, the error page still answers.
    let Ok(toast) = super::htmx::error_toast(status, &message) else { return res };
    let (req, res) = res.into_parts();
    // The toast's body and headers on the same response, so that it keeps its error for the
    // request log.
    let (head, body) = toast.into_parts();
    let mut response = res.set_body(body);
    *response.headers_mut() = head.headers().clone();
    ServiceResponse::new(req, response)
}

/// The API and MCP: a valid, unexpired bearer token (the scheme in any case: `Bearer`,
/// `bearer`, `BEARER`) whose scopes allow the request ([`scopes::required`], the one place
/// that classifies requests). The token goes into the request's extensions for the handlers.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let state = state(&req)?;
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_secret)
        .map(str::to_string);
    let token = match secret {
        Some(secret) => {
            let now = state.clock.now();
            state.db.run(move |conn| Ok(tokens::authenticate(conn, &secret, now)?)).await.map_err(ApiError)?
        }
        None => None,
    };
    let Some(token) = token else {
        let mut res = req.error_response(ApiError(AppError::Unauthorized));
        res.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return Ok(res);
    };
    if token.expired(state.clock.now()) {
        let day = token.expires().map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default();
        let message = format!(
            "The API token “{}” expired on {day}; make a new one on the Settings page or with `steward token create`.",
            token.name
        );
        let body = serde_json::json!({ "error": { "code": "unauthorized", "message": message } });
        let res = HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""))
            .json(body);
        return Ok(req.into_response(res));
    }
    // The path the router matches (percent-decoded), so `/api/v1/%61gents` is classified as
    // `/api/v1/agents`.
    let needed = scopes::required(req.method().as_str(), req.match_info().as_str());
    let has = token.scopes();
    if !has.allows(needed) {
        return Ok(req.error_response(ApiError(AppError::Forbidden(scopes::refusal(&has, needed)))));
    }
    req.extensions_mut().insert(token);
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 9110, 11.1).
fn bearer_secret(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim()).filter(|t| !t.is_empty())
}

pub fn percent_encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).map(|s| s[1..].to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use actix_web::middleware::from_fn;
    use actix_web::{App, test, web};

    use super::*;

    #[actix_web::test]
    async fn tokens_in_paths_stay_out_of_the_log() {
        assert_eq!(loggable_path("/a/cGF5bG9hZA.c2ln"), "/a/…");
        assert_eq!(loggable_path("/feeds/stf_x.ics"), "/feeds/…");
        assert_eq!(loggable_path("/about"), "/about");
    }

    /// Collects what the log would print.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    async fn boom() -> Result<HttpResponse, PageError> {
        let cause = anyhow::anyhow!("disk I/O error").context("saving the task");
        Err(PageError(AppError::Internal(cause)))
    }

    async fn as_toast(
        req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<BoxBody>, Error> {
        Ok(toast_errors(next.call(req).await?.map_into_boxed_body()))
    }

    // `test` is actix's module here.
    #[::core::prelude::v1::test]
    fn the_bearer_scheme_is_case_insensitive() {
        for header in ["Bearer stw_x", "bearer stw_x", "BEARER stw_x", "bEaReR   stw_x "] {
            assert_eq!(bearer_secret(header), Some("stw_x"), "{header}");
        }
        for header in ["Basic stw_x", "Bearer", "Bearer ", "Bearerstw_x", "stw_x"] {
            assert_eq!(bearer_secret(header), None, "{header}");
        }
    }

    #[actix_web::test]
    async fn an_internal_error_is_logged_once_with_its_cause_on_the_request_line() {
        let log = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let app = test::init_service(
            App::new()
                .wrap(from_fn(request_log))
                .route("/page", web::get().to(boom))
                .service(web::scope("/htmx").wrap(from_fn(as_toast)).route("", web::get().to(boom))),
        )
        .await;
        for path in ["/page?secret=x", "/htmx"] {
            let res = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status(), 500);
            let id = res.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
            let body = test::read_body(res).await;
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains("internal error") && !body.contains("disk"), "{body}");

            let text = String::from_utf8(std::mem::take(&mut *log.0.lock().unwrap())).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 1, "one line: {text}");
            let line = lines[0];
            assert!(line.contains("ERROR") && line.contains(&format!("id={id} ")), "{line}");
            let path = path.split('?').next().unwrap();
            assert!(line.contains(&format!("method=GET path={path} status=500 ")), "{line}");
            assert!(line.ends_with("error=\"saving the task: disk I/O error\""), "{line}");
            assert!(!line.contains("secret"), "no query: {line}");
        }
    }
}
