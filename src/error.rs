//! Errors. Services return [`AppError`]; each door turns it into its own shape:
//! - the JSON API: `{"error":{"code","message"}}` with a 4xx/5xx status, plus `"field"` for bad
//!   input ([`ApiError`]);
//! - pages: an error page, or a toast for htmx requests ([`PageError`], see `web::middleware`
//!   and `web::htmx`);
//! - the CLI: a one-line message on stderr and exit code 2 for bad input, 1 otherwise.
//!
//! People read [`AppError::client_message`]: a plain sentence, capitalised and ending with a
//! period, that names the thing at fault in words ("Title is required.", not "title: is
//! required"). The field's name stays in the API's JSON (`field`), where a program needs it;
//! the CLI prints the `Display` form, which names the flag or field as typed.
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
    #[error(
        "sign in first; a program sends an API token (Authorization: Bearer …, made on the Settings page)"
    )]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    /// The request clashes with the current state (an undo whose target changed since): 409.
    #[error("{0}")]
    Conflict(String),
    #[error("too many failed attempts; try again in {retry_after} s")]
    Throttled { retry_after: u64 },
    /// A request a program sent that cannot be read at all (malformed JSON): 400.
    #[error("{0}")]
    Malformed(String),
    /// A body over the size limit: 413.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A body in a format the endpoint does not take: 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request's body did not arrive in time: 408 (`web::body_timeout`).
    #[error("{0}")]
    RequestTimeout(String),
    /// The path exists, the method does not: 405, with the methods it does take (`Allow`).
    #[error("{method} is not allowed here; use {allow}")]
    MethodNotAllowed { method: String, allow: String },
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
            AppError::Conflict(_) => "conflict",
            AppError::Throttled { .. } => "too_many_requests",
            AppError::Malformed(_) => "bad_request",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::RequestTimeout(_) => "request_timeout",
            AppError::MethodNotAllowed { .. } => "method_not_allowed",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Malformed(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message a client may see, as a sentence for a person (see the module's notes).
    /// Logs nothing: whoever knows what failed logs the cause.
    pub fn client_message(&self) -> String {
        match self {
            AppError::Internal(_) => {
                "Something failed on our side (an internal error); it has been logged.".to_string()
            }
            AppError::Invalid { field, message } => sentence(field, message),
            AppError::MethodNotAllowed { method, allow } => {
                format!("This address does not take {method}; it takes {allow}.")
            }
            other => finish(&other.to_string()),
        }
    }

    /// The message for a program that reads text only (an MCP client, a model): the field's
    /// name first (`cron: ...`), so that it can correct the argument it sent.
    pub fn program_message(&self) -> String {
        match self {
            AppError::Invalid { field, message } => format!("{field}: {message}"),
            other => other.client_message(),
        }
    }

    /// The field at fault, for programs (the API's `field`).
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Invalid { field, .. } => Some(field),
            _ => None,
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

/// A sentence for a person out of a field and what is wrong with it:
/// - a message that goes on from the field (`is required`, `must be at least 1`) follows the
///   field's name in words: "Title is required.";
/// - a message about a value (`"abc" is not a whole number`) gets the field's name as a label:
///   "Most active schedules: "abc" is not a whole number.";
/// - a message that says it all (`the two passwords differ`) stands alone;
/// - a piece of text that could not be understood (a date parser's `due:2027-02-30`) is quoted.
pub fn sentence(field: &str, message: &str) -> String {
    let message = message.trim();
    let is_name =
        !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !is_name {
        if field.is_empty() {
            return finish(message);
        }
        return finish(&format!("“{field}”: {message}"));
    }
    let first = message.split_whitespace().next().unwrap_or("");
    const GOES_ON: [&str; 13] = [
        "is", "are", "was", "must", "has", "have", "needs", "should", "does", "do", "may", "takes",
        "contains",
    ];
    if GOES_ON.contains(&first) {
        finish(&format!("{} {message}", label(field)))
    } else if message.starts_with(['"', '“', '\'']) || message.starts_with(|c: char| c.is_ascii_digit()) {
        finish(&format!("{}: {message}", label(field)))
    } else {
        finish(message)
    }
}

/// A field's name in words.
fn label(field: &str) -> String {
    let known = match field {
        "at" => "Time",
        "every" => "Interval",
        "due" => "Due date",
        "tz" | "timezone" => "Time zone",
        "current" => "Current password",
        "new" => "New password",
        "confirm" => "Repeated password",
        "max_active" => "Most active schedules",
        "min_interval_secs" => "Shortest time between firings",
        "pause_after_failures" => "Failures before a schedule pauses",
        "runs_days" => "Days to keep runs",
        "failed_days" => "Days to keep failed runs",
        "keep_per_schedule" => "Runs always kept per schedule",
        "notifications_days" => "Days to keep read notifications",
        "max_steps" => "Model turns per reply",
        "context_chars" => "Context size",
        "timeout_secs" => "Timeout",
        "retry_attempts" => "Retry attempts",
        "misfire" => "Missed-run policy",
        "conversation_id" => "Conversation",
        "argv" => "Command",
        "url" => "URL",
        "id" => "ID",
        "body" => "The request body",
        "query" => "The query",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    capitalise(&field.trim_start_matches('-').replace(['_', '-'], " "))
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Capitalised, ending with a period (unless it ends with its own stop).
fn finish(text: &str) -> String {
    let text = capitalise(text.trim());
    if text.is_empty() || text.ends_with(['.', '?', '!', '…']) { text } else { format!("{text}.") }
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
        let mut error = serde_json::json!({ "code": self.0.code(), "message": self.0.client_message() });
        if let Some(field) = self.0.field() {
            error["field"] = field.into();
        }
        let body = serde_json::json!({ "error": error });
        let mut res = HttpResponse::build(self.status_code());
        if let Some(secs) = self.0.retry_after() {
            res.insert_header(("Retry-After", secs.to_string()));
        }
        if let AppError::MethodNotAllowed { allow, .. } = &self.0 {
            res.insert_header(("Allow", allow.as_str()));
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

/// The error page inside the site's layout (navigation included), for a logged-in person.
#[derive(Template)]
#[template(path = "error_app.html")]
struct ErrorInLayout {
    layout: crate::web::Layout,
    status: u16,
    reason: String,
    message: String,
}

impl PageError {
    pub fn message(&self) -> String {
        self.0.client_message()
    }

    /// The error page with the site's navigation, for a request with a session. `None` if it
    /// cannot be rendered (the plain error page still answers).
    pub fn page_in_layout(&self, session: &crate::auth::sessions::Session) -> Option<String> {
        let status = self.status_code();
        let reason = status.canonical_reason().unwrap_or("Error").to_string();
        let layout = crate::web::Layout::new(reason.clone(), "", session);
        ErrorInLayout { layout, status: status.as_u16(), reason, message: self.message() }.render().ok()
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
        assert!(!e.client_message().contains("disk"));
    }

    #[test]
    fn people_read_sentences_and_the_cli_keeps_the_field() {
        let e = AppError::invalid("due", "no such date");
        assert_eq!(format!("{e:#}"), "due: no such date");
        let cases = [
            (
                ("password", "is on the list of common passwords"),
                "Password is on the list of common passwords.",
            ),
            (("task", "is empty"), "Task is empty."),
            (("title", "must be a single line."), "Title must be a single line."),
            (
                ("max_active", "\"abc\" is not a whole number"),
                "Most active schedules: \"abc\" is not a whole number.",
            ),
            (("retry_attempts", "30 is not between 1 and 20"), "Retry attempts: 30 is not between 1 and 20."),
            (("confirm", "the two passwords differ"), "The two passwords differ."),
            (("name", "a token named \"x\" exists already"), "A token named \"x\" exists already."),
            (("due:2027-02-30", "February has no day 30"), "“due:2027-02-30”: February has no day 30."),
            (("system_prompt", "is longer than 20,000 bytes"), "System prompt is longer than 20,000 bytes."),
            (("--config", "cannot read x"), "Cannot read x."),
            (("url", "has no host?"), "URL has no host?"),
        ];
        for ((field, message), want) in cases {
            assert_eq!(AppError::invalid(field, message).client_message(), want, "{field}: {message}");
        }
        assert_eq!(
            AppError::NotFound("there is no such page".into()).client_message(),
            "There is no such page."
        );
        assert_eq!(
            AppError::Unauthorized.client_message(),
            "Sign in first; a program sends an API token (Authorization: Bearer …, made on the Settings page)."
        );
        let e = AppError::MethodNotAllowed { method: "PUT".into(), allow: "GET, POST".into() };
        assert_eq!(e.client_message(), "This address does not take PUT; it takes GET, POST.");
    }

    #[actix_web::test]
    async fn the_api_names_the_field_and_says_which_methods_are_allowed() {
        let res = ApiError(AppError::invalid("title", "is required")).error_response();
        assert_eq!(res.status(), 422);
        let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "invalid", "message": "Title is required.", "field": "title"}})
        );
        let e = AppError::MethodNotAllowed { method: "PUT".into(), allow: "GET, POST".into() };
        let res = ApiError(e).error_response();
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers().get("Allow").unwrap(), "GET, POST");
    }
}
