//! The device cookie in HTTP terms: its name, reading it from a request, setting it on an
//! answer. What it means and how it is signed is [`crate::auth::devices`].

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::{HttpRequest, HttpResponse};

use crate::auth::devices::COOKIE_DAYS;
use crate::web::AppState;

/// `__Host-` prefixed (which requires `Secure`) under an https public URL, like the session's.
pub fn name(state: &AppState) -> &'static str {
    if state.config.is_https() { "__Host-steward_device" } else { "steward_device" }
}

/// The cookie's value as the browser sent it (unchecked).
pub fn read(req: &HttpRequest, state: &AppState) -> Option<String> {
    req.cookie(name(state)).map(|c| c.value().to_string())
}

/// Gives the browser its device cookie: long-lived, HttpOnly, `SameSite=Lax` (it only picks a
/// throttle bucket, so a top-level navigation may carry it), `Secure` when the browser came
/// over https.
pub fn set(res: &mut HttpResponse, req: &HttpRequest, state: &AppState, value: &str) {
    let secure = state.config.is_https() || super::client::of(req).https();
    let cookie = Cookie::build(name(state), value.to_string())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::days(COOKIE_DAYS))
        .finish();
    // A fresh cookie is valid to add; failure would only mean a malformed name, a constant.
    let _ = res.add_cookie(&cookie);
}
