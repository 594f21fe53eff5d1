//! The HTTP doors: pages (askama + htmx), the JSON API under `/api/v1`, static files.
//! Every route is listed in [`routes`]; handlers are thin: parse, call a service, render.
//! Pages answer htmx through [`htmx`] and put time into words through [`view`].

pub mod action_links;
pub mod activity;
pub mod agents;
pub mod api;
pub mod assets;
pub mod body_timeout;
pub mod briefings;
pub mod calendar;
pub mod calendar_sharing;
pub mod channels;
pub mod chat;
pub mod client;
pub mod device_cookie;
pub mod events;
pub mod flash;
pub mod htmx;
pub mod login;
pub mod mcp;
pub mod metrics;
pub mod middleware;
pub mod notifications;
pub mod projects;
pub mod reauth;
pub mod routes;
pub mod runs;
pub mod schedules;
pub mod settings;
pub mod state;
pub mod tasks;
pub mod to_https;
pub mod today;
pub mod two_factor;
pub mod view;

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};

use crate::auth::sessions::{Client, Session};
use crate::error::{AppError, PageError};
pub use state::AppState;

/// The logged-in session, put in the request by [`middleware::require_session`].
pub struct CurrentSession(pub Session);

impl FromRequest for CurrentSession {
    type Error = PageError;
    type Future = Ready<Result<CurrentSession, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Session>()
                .cloned()
                .map(CurrentSession)
                .ok_or(PageError(AppError::Unauthorized)),
        )
    }
}

/// What every page's layout needs.
pub struct Layout {
    pub title: String,
    /// Which navigation entry is current.
    pub nav: &'static str,
    pub csrf: String,
    /// Unread notifications for the bell. `None`: the page did not read it, and the bell
    /// fetches it once loaded (`/notifications/count`).
    pub unread: Option<i64>,
}

impl Layout {
    pub fn new(title: impl Into<String>, nav: &'static str, session: &Session) -> Layout {
        Layout { title: title.into(), nav, csrf: session.csrf_token.clone(), unread: None }
    }

    /// The bell's count, read by the page in the same trip as its own data.
    pub fn with_unread(self, unread: i64) -> Layout {
        Layout { unread: Some(unread), ..self }
    }

    pub fn unread_known(&self) -> bool {
        self.unread.is_some()
    }

    pub fn unread_count(&self) -> i64 {
        self.unread.unwrap_or(0)
    }
}

/// Who sends the request: its address as [`client::of`] finds it (behind a trusted proxy, the
/// forwarded one), and its user agent.
pub fn client(req: &HttpRequest) -> Client {
    Client {
        ip: client::of(req).ip_text(),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
    }
}

/// A redirect after a form post (303, so the browser follows with GET).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Whether a state-changing request comes from our own pages. Browsers send `Origin` on every
/// POST; a request without it (curl) must still carry the CSRF token. Without a public URL the
/// expected origin is the request's own scheme and host, forwarded ones only from a trusted
/// proxy ([`client::of`]): a forged `X-Forwarded-Host` must not make a foreign origin pass.
pub fn same_origin(req: &HttpRequest, public_url: Option<&str>) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return !matches!(
            req.headers().get("Sec-Fetch-Site").and_then(|v| v.to_str().ok()),
            Some("cross-site" | "same-site")
        );
    };
    let expected = match public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => client::of(req).origin(),
    };
    origin.eq_ignore_ascii_case(&expected)
}

/// Renders a template with a status (422 for a form with errors).
pub fn html(
    status: actix_web::http::StatusCode,
    page: &impl askama::Template,
) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(|e| AppError::Internal(e.into()))?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body))
}
