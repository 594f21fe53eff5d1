//! The public pages: login, the first-run setup link, logout, and the health check.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{CurrentSession, client, device_cookie, html, same_origin, see_other};
use crate::auth::{self, devices, sessions};
use crate::error::{AppError, PageError};
use crate::web::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    next: String,
    error: Option<String>,
    /// No password exists yet: the page says how to set one instead of asking for it.
    needs_setup: bool,
    /// How long "remember this device" keeps the browser signed in (`session_max_days`).
    remember_days: i64,
    /// The box was ticked (a refused form keeps it).
    remember: bool,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Where to go after login: only a path on Steward itself, else home (Today). Browsers drop tabs and
/// newlines from a URL and read `\\` as `/`, so `/\t/evil.example` or `/\\evil.example` would
/// leave the site: a path must be visible ASCII without a backslash, and must not start with
/// `//` (another host). Starting with `/` also rules out a scheme (`https:`, `javascript:`).
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_string(),
        _ => "/".to_string(),
    }
}

fn is_local_path(n: &str) -> bool {
    n.starts_with('/') && !n.starts_with("//") && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

pub async fn login_page(
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<LoginPage, PageError> {
    let needs_setup = !state.db.run(auth::password_is_set).await?;
    let remember_days = state.config.session_max_days;
    Ok(LoginPage {
        next: safe_next(query.next.as_deref()),
        error: None,
        needs_setup,
        remember_days,
        remember: false,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    password: String,
    next: Option<String>,
    /// The "remember this device" checkbox: present when ticked.
    remember: Option<String>,
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    check_origin(&req, &state, "login")?;
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let client = client(&req);
    let remember = form.remember.is_some();
    let cookie = device_cookie::read(&req, &state);
    let st = state.clone();
    let result = state
        .db
        .run(move |conn| {
            let start = st.device_start(conn, &client, cookie.as_deref(), remember)?;
            let device = start.device.clone();
            match auth::login(conn, &st.throttle, &form.password, start)? {
                auth::LoginStep::Session(token, s) => {
                    Ok(Step::Session(token, devices::cookie_for(conn, &device, s.created_at.and_utc())?))
                }
                auth::LoginStep::SecondFactor(challenge) => Ok(Step::Code(challenge)),
            }
        })
        .await;
    match result {
        Ok(Step::Session(token, device)) => Ok(signed_in(&req, &state, &token, &next, remember, &device)),
        Ok(Step::Code(challenge)) => {
            Ok(super::two_factor::ask_for_code(&req, &state, &challenge, &next, remember))
        }
        Err(e @ AppError::Invalid { .. }) => {
            let needs_setup = !state.db.run(auth::password_is_set).await?;
            let remember_days = state.config.session_max_days;
            let error = Some(e.client_message());
            let page = LoginPage { next, error, needs_setup, remember_days, remember };
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

/// What a login's password step leads to.
enum Step {
    /// Signed in: the session's cookie token and the device cookie.
    Session(String, String),
    /// The second factor's code is asked next (the challenge's token).
    Code(String),
}

/// Signed in: the session cookie, the device cookie (its failures count against it alone from
/// now on), and on to `next`.
pub(super) fn signed_in(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
    next: &str,
    remember: bool,
    device: &str,
) -> HttpResponse {
    let mut res = start_session(req, state, token, next, remember);
    device_cookie::set(&mut res, req, state, device);
    res
}

/// Login and setup come before any session, so no CSRF token: the origin check is their guard.
pub(super) fn check_origin(req: &HttpRequest, state: &AppState, form: &str) -> Result<(), PageError> {
    if same_origin(req, state.config.public_url.as_deref()) {
        return Ok(());
    }
    Err(AppError::Forbidden(format!("the {form} form was sent from another site")).into())
}

/// Sets the session cookie and goes on to `next`. The cookie is `Secure` under an https public
/// URL, and also when the browser came over https to a trusted proxy (or built-in TLS). It
/// ends with the browser unless the device is to be remembered: then it lasts as long as the
/// session can (`session_max_days`).
fn start_session(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
    next: &str,
    remember: bool,
) -> HttpResponse {
    let secure = state.config.is_https() || super::client::of(req).https();
    let mut cookie = Cookie::build(state.cookie_name(), token.to_string())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish();
    if remember {
        cookie.set_max_age(time::Duration::days(state.config.session_max_days));
    }
    let mut res = see_other(next);
    // A fresh cookie is valid to add; failure would only mean a malformed name, which is a constant.
    let _ = res.add_cookie(&cookie);
    res
}

pub async fn logout(state: web::Data<AppState>, session: CurrentSession) -> Result<HttpResponse, PageError> {
    let id = session.0.id;
    state.db.run(move |conn| Ok(sessions::revoke(conn, id)?)).await?;
    let mut res = see_other("/login");
    let mut gone = Cookie::build(state.cookie_name(), "").path("/").finish();
    gone.make_removal();
    let _ = res.add_cookie(&gone);
    Ok(res)
}

#[derive(Template, WebTemplate)]
#[template(path = "setup.html")]
pub struct SetupPage {
    token: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
}

pub async fn setup_page(
    state: web::Data<AppState>,
    query: web::Query<SetupQuery>,
) -> Result<SetupPage, PageError> {
    let token = query.into_inner().token.unwrap_or_default();
    let st = state.clone();
    let given = token.clone();
    state.db.run(move |conn| auth::check_setup_token(conn, st.setup_token.as_deref(), &given)).await?;
    Ok(SetupPage { token, error: None })
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    password: String,
    confirm: String,
}

pub async fn setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, PageError> {
    check_origin(&req, &state, "setup")?;
    let form = form.into_inner();
    let client = client(&req);
    let st = state.clone();
    let token = form.token.clone();
    let result = state
        .db
        .run(move |conn| {
            let tokens = (st.setup_token.as_deref(), form.token.as_str());
            let start = st.session_start(&client);
            let now = start.now;
            let (session_token, _) =
                auth::complete_setup(conn, tokens, &form.password, &form.confirm, start)?;
            Ok((session_token, devices::cookie_for(conn, &devices::Device::Unknown, now)?))
        })
        .await;
    match result {
        Ok((session_token, device)) => Ok(signed_in(&req, &state, &session_token, "/", false, &device)),
        Err(e @ AppError::Invalid { .. }) => {
            let page = SetupPage { token, error: Some(e.client_message()) };
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_steward() {
        for local in ["/settings", "/tasks?q=milk&group=today", "/chat/3#m-9", "/a//b"] {
            assert_eq!(safe_next(Some(local)), local);
        }
        for hostile in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie: x=1",
            "\t//evil.example",
            "/tasks\\..\\",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "/ /evil.example",
            "/caf\u{e9}",
            "/\u{7f}",
            "",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
