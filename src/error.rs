//! Errors. Services return [`AppError`]; each door turns it into its own shape:
//! - the JSON API: `{"error":{"code","message"}}` with a 4xx/5xx status ([`ApiError`]);
//! - pages: an error page, or a toast for htmx requests ([`PageError`], see `web::middleware`
//!   and `web::htmx`);
//! - the CLI: a one-line message on stderr and exit code 2 for bad input, 1 otherwise.
//!
//! Internal errors are shown to clients only as "internal error": never a stack trace or SQL
//! text. They are logged once, with their whole cause chain (`{e:#}`), on the line that names
//! what failed: for a request, the request's own log line (`web::middleware::request_log`);
//! elsewhere, the failing site's line. [`AppError::client_message`] therefore logs nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: the field (or piece of text) at fault, and why.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("too many failed attempts; try again in {retry_after} s")]
    Throttled { retry_after: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::Invalid { field: field.into(), message: message.into() }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid { .. } => "invalid",
            AppError::NotFound(_) => "not_found",
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::Throttled { .. } => "too_many_requests",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message a client may see. Logs nothing: whoever knows what failed logs the cause.
    pub fn client_message(&self) -> String {
        match self {
            AppError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        }
    }

    /// The CLI's exit code: 2 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Invalid { .. } | AppError::NotFound(_) => 2,
            _ => 1,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::Throttled { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> AppError {
        match e {
            diesel::result::Error::NotFound => AppError::NotFound("not found".into()),
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<crate::dates::ParseError> for AppError {
    fn from(e: crate::dates::ParseError) -> AppError {
        AppError::Invalid { field: e.piece, message: e.message }
    }
}

/// An error answered as JSON, for `/api/...`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub AppError);

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        let body = serde_json::json!({
            "error": { "code": self.0.code(), "message": self.0.client_message() }
        });
        let mut res = HttpResponse::build(self.status_code());
        if let Some(secs) = self.0.retry_after() {
            res.insert_header(("Retry-After", secs.to_string()));
        }
        res.json(body)
    }
}

/// An error answered as an HTML page; the web middleware turns it into a toast for htmx.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PageError(#[from] pub AppError);

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    reason: String,
    message: String,
}

impl PageError {
    pub fn message(&self) -> String {
        self.0.client_message()
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error").to_string(),
            message: self.message(),
        };
        let mut res = HttpResponse::build(status);
        if let Some(secs) = self.0.retry_after() {
            res.insert_header(("Retry-After", secs.to_string()));
        }
        match page.render() {
            Ok(html) => res.content_type("text/html; charset=utf-8").body(html),
            Err(_) => res.content_type("text/plain; charset=utf-8").body(page.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alternate_form_logs_the_whole_chain_and_clients_see_none_of_it() {
        let e = AppError::from(anyhow::anyhow!("disk I/O error").context("saving the task"));
        assert_eq!(format!("{e:#}"), "saving the task: disk I/O error");
        assert_eq!(e.client_message(), "internal error");
        let e = AppError::invalid("due", "no such date");
        assert_eq!(format!("{e:#}"), e.client_message());
    }
}
