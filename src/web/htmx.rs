//! The few answers every page gives htmx. A handler first asks [`is_htmx`] (and, when one
//! route serves several parts of a page, [`target`]); a plain browser gets a full page or a
//! redirect instead. Then, for htmx:
//!
//! - the action worked: [`with_toast`], the fragments to swap where the request aimed, plus a
//!   status toast that rides along out of band (`hx-swap-oob` into `#toasts`). A fragment with
//!   nothing to say is just [`super::html`].
//! - the action was refused or failed, and nothing on the page should change: [`error_toast`],
//!   an error toast put into `#toasts` instead of the request's target (`HX-Retarget`,
//!   `HX-Reswap: beforeend`). Handlers use 422 for a refusal; the session middleware answers
//!   every other 4xx/5xx of an htmx request (a `PageError`) this way too.
//! - a form was sent with errors: [`invalid_form`], the form again, with its values and
//!   errors, in place of itself (422, `HX-Retarget` to the form, `HX-Reswap: outerHTML`).
//!   A form the request already aims at (a task's edit row) needs no retarget: `html(422, ..)`.
//!
//! Toasts are rendered by `templates/partials/toast.html`, so askama escapes the message.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::{DynTemplate, Template};

use crate::error::{AppError, PageError};

/// Whether the request comes from htmx (and so wants a fragment).
pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("HX-Request")
}

/// The id of the element an htmx request targets, if any.
pub fn target(req: &HttpRequest) -> Option<&str> {
    req.headers().get("HX-Target").and_then(|v| v.to_str().ok())
}

/// A toast, as the `#toasts` region shows it: a status line, or an error that stays longer.
#[derive(Template)]
#[template(path = "partials/toast.html")]
struct Toast<'a> {
    message: &'a str,
    error: bool,
    /// Wrapped for an out-of-band swap into `#toasts`.
    oob: bool,
}

fn render(template: &dyn DynTemplate) -> Result<String, PageError> {
    template.dyn_render().map_err(|e| PageError(AppError::Internal(e.into())))
}

/// An HTML answer, moved elsewhere on the page when `swap` says so (`HX-Retarget`, `HX-Reswap`).
fn answer(status: StatusCode, body: String, swap: Option<(&str, &'static str)>) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    if let Some((target, how)) = swap {
        res.insert_header(("HX-Retarget", target)).insert_header(("HX-Reswap", how));
    }
    res.content_type("text/html; charset=utf-8").body(body)
}

/// 200 with `fragments` (swapped where the request aimed, or out of band when they say so)
/// and a status toast saying what happened.
pub fn with_toast(fragments: &[&dyn DynTemplate], message: &str) -> Result<HttpResponse, PageError> {
    let mut body = String::new();
    for fragment in fragments {
        body.push_str(&render(*fragment)?);
    }
    body.push_str(&render(&Toast { message, error: false, oob: true })?);
    Ok(answer(StatusCode::OK, body, None))
}

/// `status` with an error toast, swapped into `#toasts` instead of the request's target.
pub fn error_toast(status: StatusCode, message: &str) -> Result<HttpResponse, PageError> {
    let body = render(&Toast { message, error: true, oob: false })?;
    Ok(answer(status, body, Some(("#toasts", "beforeend"))))
}

/// 422 with `form` (which shows its errors), swapped in place of the element `selector`
/// (the form's own, like `#quick-add`) whatever the request aimed at.
pub fn invalid_form(form: &impl Template, selector: &str) -> Result<HttpResponse, PageError> {
    Ok(answer(StatusCode::UNPROCESSABLE_ENTITY, render(form)?, Some((selector, "outerHTML"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toasts_escape_their_message() {
        let html = Toast { message: "Added “<b>x</b>”", error: false, oob: true }.render().unwrap();
        assert_eq!(
            html,
            "<div id=\"toasts\" hx-swap-oob=\"beforeend\"><div class=\"toast\" role=\"status\">\
             Added “&#60;b&#62;x&#60;/b&#62;”</div></div>"
        );
        let html = Toast { message: "no", error: true, oob: false }.render().unwrap();
        assert_eq!(html, "<div class=\"toast error\" role=\"alert\">no</div>");
    }
}
