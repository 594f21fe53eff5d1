//! `/a/<token>`: the signed one-click links of pushed messages (Done, Snooze), outside the
//! login: the phone that opens them has no session, and the signed, single-use, expiring token
//! is the credential (see `crate::notify::actions`).
//!
//! `GET` never changes anything (mail scanners and chat previews fetch links): it shows what
//! the link would do with a button, which `static/act.js` presses at once in a person's
//! browser. `POST` does it; ntfy's `http` buttons POST directly. There is no CSRF token to
//! check (no session): the token is the proof, and a browser's `Origin`, when sent, must be
//! ours. A used, expired or forged link answers a page saying so (4xx) and changes nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::html;
use crate::error::{AppError, PageError};
use crate::notify::actions::{self, Checked, Kind, Snooze};
use crate::services::Actor;
use crate::web::AppState;

#[derive(Template)]
#[template(path = "action_link.html")]
pub struct ActionLinkPage {
    /// `ask`, `done`, `used`, `expired`, `forged`, `failed` (a class for styling and tests).
    state: &'static str,
    heading: String,
    text: String,
    /// The form posts here (only while the link may be used).
    token: Option<String>,
    button: String,
    /// Where to go next.
    open: Option<String>,
}

impl ActionLinkPage {
    fn says(state: &'static str, heading: String, text: String) -> ActionLinkPage {
        ActionLinkPage { state, heading, text, token: None, button: String::new(), open: None }
    }
}

/// "Mark “Call mom” done?", "Snooze “Call mom” for 1 h?".
fn question(kind: Kind, title: &str) -> (String, String) {
    match kind {
        Kind::Done => (format!("Mark “{title}” done?"), "Mark done".into()),
        Kind::Snooze(Snooze::Tomorrow) => {
            (format!("Snooze “{title}” until tomorrow morning?"), "Snooze until tomorrow".into())
        }
        Kind::Snooze(s) => (format!("Snooze “{title}” for {}?", s.label()), format!("Snooze {}", s.label())),
        Kind::TurnOff => (format!("Turn off the {}?", title.to_lowercase()), "Turn it off".into()),
        Kind::Open => (title.to_string(), "Open".into()),
    }
}

/// The page for a link that cannot be used, with its status.
fn refused(checked: &Checked, tz: chrono_tz::Tz) -> (StatusCode, ActionLinkPage) {
    match checked {
        Checked::Used { at, title } => (
            StatusCode::GONE,
            ActionLinkPage::says(
                "used",
                "This link was used already".into(),
                format!(
                    "The action for “{title}” was done on {} with this link; a link works once, so nothing changed now.",
                    at.with_timezone(&tz).format("%a %-d %b at %H:%M")
                ),
            ),
        ),
        Checked::Expired { title } => (
            StatusCode::GONE,
            ActionLinkPage::says(
                "expired",
                "This link has expired".into(),
                format!(
                    "Links in reminders work for {} days; the one for “{title}” is older, so nothing changed. Open Steward to act on it.",
                    actions::LINK_DAYS
                ),
            ),
        ),
        Checked::Forged | Checked::Valid { .. } => (
            StatusCode::FORBIDDEN,
            ActionLinkPage::says(
                "forged",
                "This link is not valid".into(),
                "Steward did not make this link (it may have been cut short or changed), so nothing changed. Open Steward to act on the reminder.".into(),
            ),
        ),
    }
}

fn with_open(mut page: ActionLinkPage) -> ActionLinkPage {
    page.open = Some("/notifications".into());
    page
}

/// `GET /a/<token>`: what the link would do, and a button. Changes nothing.
pub async fn ask(state: web::Data<AppState>, token: web::Path<String>) -> Result<HttpResponse, PageError> {
    let token = token.into_inner();
    let t = token.clone();
    let (checked, tz) = state
        .run_as(Actor::Person, move |conn, ctx| Ok((actions::check(conn, &t, ctx.now)?, ctx.tz)))
        .await?;
    let (status, page) = match &checked {
        Checked::Valid { link, title } => {
            let (heading, button) = question(link.kind, title);
            (
                StatusCode::OK,
                ActionLinkPage {
                    state: "ask",
                    heading,
                    text: String::new(),
                    token: Some(token),
                    button,
                    open: None,
                },
            )
        }
        other => {
            let (status, page) = refused(other, tz);
            (status, with_open(page))
        }
    };
    respond(status, &page)
}

/// `POST /a/<token>`: does what the link says, once.
pub async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    // No session and so no CSRF token: a browser's Origin, when it sends one, must be ours.
    if !super::same_origin(&req, state.config.public_url.as_deref()) {
        let page = ActionLinkPage::says(
            "forged",
            "This request came from another site".into(),
            "Steward acts on its links only when they are opened directly; nothing changed.".into(),
        );
        return respond(StatusCode::FORBIDDEN, &page);
    }
    let token = token.into_inner();
    let config = state.config.clone();
    let result = state
        .run_as(Actor::Person, move |conn, ctx| Ok((actions::use_link(conn, ctx, &config, &token), ctx.tz)))
        .await?;
    let (status, page) = match result {
        (Ok(Ok(outcome)), _) => {
            state.wake.poke();
            let mut page = ActionLinkPage::says("done", outcome.message, String::new());
            page.open = Some(outcome.path);
            (StatusCode::OK, page)
        }
        (Ok(Err(checked)), tz) => {
            let (status, page) = refused(&checked, tz);
            (status, with_open(page))
        }
        (Err(e), _) => {
            let status = match &e {
                AppError::NotFound(_) => StatusCode::NOT_FOUND,
                AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            if status.is_server_error() {
                tracing::error!(error = format!("{e:#}"), "an action link failed");
            }
            let text = match &e {
                AppError::NotFound(m) => format!("{m}; it may have been deleted. Nothing changed."),
                AppError::Invalid { message, .. } => format!("{message}. Nothing changed."),
                _ => {
                    "Something went wrong on the server; nothing changed. Try again, or open Steward.".into()
                }
            };
            (status, with_open(ActionLinkPage::says("failed", "That did not work".into(), text)))
        }
    };
    respond(status, &page)
}

fn respond(status: StatusCode, page: &ActionLinkPage) -> Result<HttpResponse, PageError> {
    let mut res = html(status, page)?;
    // Not for caches or search engines: each answer is about one use of a link.
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    res.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("x-robots-tag"),
        actix_web::http::header::HeaderValue::from_static("noindex"),
    );
    Ok(res)
}
