//! Two-factor authentication in the browser: the login's second step (`/login/2fa`) and its
//! Settings page (`/settings/2fa`: set up with a QR code, recovery codes, turn off). The rules
//! live in [`crate::auth::totp`].
//!
//! The second step's challenge token rides in an HttpOnly, SameSite=Strict cookie limited to
//! `/login`, never in a URL or a form; its form is guarded by the Origin check like the login
//! form (there is no session yet, hence no CSRF token).
//!
//! The Settings page's forms post/redirect/get; what they leave (a notice, an error, new
//! recovery codes) waits in [`crate::web::flash`] for the next view, so the codes are shown
//! once and never travel in a URL.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::login::{check_origin, safe_next, signed_in};
use super::{CurrentSession, Layout, client, html, see_other};
use crate::auth::totp::{self, Status};
use crate::error::{AppError, PageError};
use crate::web::AppState;

const CHALLENGE_COOKIE: &str = "steward_2fa";

/// The answer to a right password when the second factor is on: the challenge's cookie, and on
/// to the code form.
pub fn ask_for_code(
    req: &HttpRequest,
    state: &AppState,
    challenge: &str,
    next: &str,
    remember: bool,
) -> HttpResponse {
    let secure = state.config.is_https() || super::client::of(req).https();
    let cookie = Cookie::build(CHALLENGE_COOKIE, challenge.to_string())
        .path("/login")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::minutes(totp::CHALLENGE_MINUTES))
        .finish();
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let remember = if remember { "&remember=on" } else { "" };
    let mut res = see_other(&format!("/login/2fa?next={next}{remember}"));
    let _ = res.add_cookie(&cookie);
    res
}

#[derive(Template)]
#[template(path = "login_code.html")]
pub struct CodePage {
    next: String,
    /// The login form's "remember this device", carried to the session this step starts.
    remember: bool,
    error: Option<String>,
    /// The challenge is over (expired, too many wrong codes): only the way back to the password.
    gone: bool,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    remember: Option<String>,
}

fn challenge_of(req: &HttpRequest) -> Option<String> {
    req.cookie(CHALLENGE_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

fn to_login(next: &str) -> HttpResponse {
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    see_other(&format!("/login?next={next}"))
}

/// The code form, while a challenge waits; otherwise back to the password.
pub async fn code_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let next = safe_next(query.next.as_deref());
    let Some(token) = challenge_of(&req) else { return Ok(to_login(&next)) };
    let now = state.clock.now();
    if !state.db.run(move |conn| totp::challenge_is_open(conn, &token, now)).await? {
        return Ok(to_login(&next));
    }
    let remember = query.remember.is_some();
    html(StatusCode::OK, &CodePage { next, remember, error: None, gone: false })
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
    next: Option<String>,
    remember: Option<String>,
}

pub async fn submit_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    check_origin(&req, &state, "sign-in code")?;
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let token = challenge_of(&req).unwrap_or_default();
    let client = client(&req);
    let remember = form.remember.is_some();
    let cookie = super::device_cookie::read(&req, &state);
    let st = state.clone();
    let result = state
        .db
        .run(move |conn| {
            let start = st.device_start(conn, &client, cookie.as_deref(), remember)?;
            let (device, now) = (start.device.clone(), start.now);
            let (token, _) = totp::complete_login(conn, &st.throttle, &token, &form.code, start)?;
            Ok((token, crate::auth::devices::cookie_for(conn, &device, now)?))
        })
        .await;
    match result {
        Ok((session_token, device)) => {
            let mut res = signed_in(&req, &state, &session_token, &next, remember, &device);
            let mut gone = Cookie::build(CHALLENGE_COOKIE, "").path("/login").finish();
            gone.make_removal();
            let _ = res.add_cookie(&gone);
            Ok(res)
        }
        Err(AppError::Invalid { field, message }) => {
            let gone = field == "challenge";
            let page = CodePage { next, remember, error: Some(sentence(&message)), gone };
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

/// A message as a sentence: capitalised, with a full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
    let rest: String = chars.collect();
    if rest.ends_with('.') { format!("{first}{rest}") } else { format!("{first}{rest}.") }
}

/// The Settings page of the second factor.
#[derive(Template)]
#[template(path = "two_factor.html")]
pub struct TwoFactorPage {
    layout: Layout,
    status: Status,
    /// A setup waiting for its first code.
    setup: Option<SetupView>,
    flash: Flash,
}

impl TwoFactorPage {
    fn when(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        super::view::utc_minutes(*at)
    }

    fn error_in(&self, section: &str) -> Option<&str> {
        self.flash.error.as_deref().filter(|_| self.flash.section == section)
    }

    fn notice_in(&self, section: &str) -> Option<&str> {
        self.flash.notice.as_deref().filter(|_| self.flash.section == section)
    }
}

/// What an authenticator app needs: the QR code, and the same as text.
pub struct SetupView {
    /// Inline SVG, drawn here from the otpauth URI (no image crate, no request to elsewhere).
    qr_svg: String,
    uri: String,
    /// The base32 secret in groups of four, for typing into an app by hand.
    secret_grouped: String,
}

/// What a form leaves for the page's next view.
#[derive(Debug, Default, Clone)]
struct Flash {
    section: &'static str,
    notice: Option<String>,
    error: Option<String>,
    /// New recovery codes, shown this once.
    codes: Option<Vec<String>>,
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
) -> Result<HttpResponse, PageError> {
    let flash: Flash = state.flashes.take(&session.0).unwrap_or_default();
    let (status, pending) =
        state.db.run(|conn| Ok((totp::status(conn)?, totp::pending_secret(conn)?))).await?;
    let setup = match pending {
        Some(secret) => Some(setup_view(&secret, &account_name(&req, &state))?),
        None => None,
    };
    let page = TwoFactorPage {
        layout: Layout::new("Two-factor authentication", "settings", &session.0),
        status,
        setup,
        flash,
    };
    html(StatusCode::OK, &page)
}

/// How the authenticator app names this Steward: the host it is reached on.
fn account_name(req: &HttpRequest, state: &AppState) -> String {
    let origin = state.config.public_url.clone().unwrap_or_else(|| super::client::of(req).origin());
    let host = origin.split("://").nth(1).unwrap_or(&origin).trim_end_matches('/');
    if host.is_empty() { "owner".to_string() } else { host.to_string() }
}

fn setup_view(secret: &str, account: &str) -> Result<SetupView, AppError> {
    let uri = totp::otpauth_uri(secret, account);
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("drawing the QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    // An XML declaration has no place inside HTML.
    let qr_svg = svg.find("<svg").map_or(svg.clone(), |at| svg[at..].to_string());
    let secret_grouped =
        secret.as_bytes().chunks(4).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" ");
    Ok(SetupView { qr_svg, uri, secret_grouped })
}

/// Keeps what the form did for the next view and goes back to the page.
fn back(
    state: &AppState,
    session: &CurrentSession,
    section: &'static str,
    outcome: Result<Flash, AppError>,
) -> Result<HttpResponse, PageError> {
    let flash = match outcome {
        Ok(flash) => Flash { section, ..flash },
        // The form is next to the message: it need not name the field.
        Err(AppError::Invalid { message, .. }) => {
            Flash { section, error: Some(sentence(&message)), ..Flash::default() }
        }
        Err(e @ AppError::Conflict(_)) => {
            Flash { section, error: Some(e.client_message()), ..Flash::default() }
        }
        Err(e) => return Err(e.into()),
    };
    state.flashes.keep(&session.0, flash);
    Ok(see_other(&format!("/settings/2fa#{section}")))
}

fn notice(text: &str) -> Flash {
    Flash { notice: Some(text.to_string()), ..Flash::default() }
}

pub async fn start(state: web::Data<AppState>, session: CurrentSession) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let outcome = state.db.run(move |conn| totp::begin_setup(conn, now)).await.map(|_| Flash::default());
    back(&state, &session, "setup", outcome)
}

pub async fn cancel(state: web::Data<AppState>, session: CurrentSession) -> Result<HttpResponse, PageError> {
    let outcome = state
        .db
        .run(totp::cancel_setup)
        .await
        .map(|()| notice("Setup cancelled; two-factor authentication stays off."));
    back(&state, &session, "status", outcome)
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    code: String,
}

pub async fn confirm(
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let code = form.into_inner().code;
    let outcome = state.db.run(move |conn| totp::confirm_setup(conn, &code, now)).await;
    match outcome {
        Ok(codes) => {
            let flash = Flash {
                codes: Some(codes),
                ..notice(
                    "Two-factor authentication is on: from now on, signing in asks for a code from your app.",
                )
            };
            back(&state, &session, "recovery", Ok(flash))
        }
        Err(e) => back(&state, &session, "setup", Err(e)),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub async fn regenerate(
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let password = form.into_inner().password;
    let outcome =
        state.db.run(move |conn| totp::regenerate_recovery_codes(conn, &password, now)).await.map(|codes| {
            Flash { codes: Some(codes), ..notice("New recovery codes made; the old ones no longer work.") }
        });
    back(&state, &session, "recovery", outcome)
}

pub async fn disable(
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let password = form.into_inner().password;
    let outcome = state
        .db
        .run(move |conn| totp::disable(conn, &password))
        .await
        .map(|()| notice("Two-factor authentication is off; signing in asks only for the password."));
    let section = if outcome.is_ok() { "status" } else { "disable" };
    back(&state, &session, section, outcome)
}
