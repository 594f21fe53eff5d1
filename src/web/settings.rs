//! The Settings page: time zone, the schedules' cost guards, the chat (system prompt, tool steps,
//! context budget, confirmation of destructive tools), password, sessions, API tokens. Plain forms (enhanced by
//! htmx's boost); each answers with the whole page and a message saying what happened.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{CurrentSession, Layout, html, see_other};
use crate::auth::sessions::Session;
use crate::auth::tokens::ApiToken;
use crate::auth::{self, sessions, tokens};
use crate::chat::engine::ChatSettings;
use crate::error::{AppError, PageError};
use crate::schedules::Guards;
use crate::web::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    layout: Layout,
    current_session: i32,
    sessions: Vec<Session>,
    tokens: Vec<ApiToken>,
    zone: String,
    zones: &'static [chrono_tz::Tz],
    guards: Guards,
    chat: ChatSettings,
    /// A new token's secret, shown this once.
    new_token: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

impl SettingsPage {
    fn when(&self, at: &chrono::NaiveDateTime) -> String {
        super::view::utc_minutes(at.and_utc())
    }
}

/// Renders the page after an action: its outcome as a notice, or its error (422).
async fn render(
    state: &web::Data<AppState>,
    session: &Session,
    outcome: Result<Option<String>, AppError>,
    new_token: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (notice, error) = match outcome {
        Ok(notice) => (notice, None),
        Err(AppError::Invalid { field, message }) => (None, Some(format!("{field}: {message}"))),
        Err(AppError::NotFound(message)) => (None, Some(message)),
        Err(e) => return Err(e.into()),
    };
    let st = state.clone();
    let (sessions, tokens, zone, guards, chat) = state
        .db
        .run(move |conn| {
            let sessions = sessions::list(conn, st.clock.now(), st.lifetimes())?;
            let zone = st.zone(conn)?.name().to_string();
            Ok((sessions, tokens::list(conn)?, zone, Guards::load(conn)?, ChatSettings::load(conn)?))
        })
        .await?;
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = SettingsPage {
        layout: Layout::new("Settings", "settings", session),
        current_session: session.id,
        sessions,
        tokens,
        zone,
        zones: &chrono_tz::TZ_VARIANTS,
        guards,
        chat,
        new_token,
        notice,
        error,
    };
    html(status, &page)
}

pub async fn page(state: web::Data<AppState>, session: CurrentSession) -> Result<HttpResponse, PageError> {
    render(&state, &session.0, Ok(None), None).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

pub async fn change_password(
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let id = session.0.id;
    let outcome = state
        .db
        .run(move |conn| auth::change_password(conn, id, &form.current, &form.new, &form.confirm))
        .await
        .map(|_| Some("Password changed. Every other session has been signed out.".to_string()));
    render(&state, &session.0, outcome, None).await
}

#[derive(Deserialize)]
pub struct ZoneForm {
    timezone: String,
}

pub async fn set_timezone(
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<ZoneForm>,
) -> Result<HttpResponse, PageError> {
    let name = form.into_inner().timezone;
    let outcome = state
        .db
        .run(move |conn| crate::settings::set_person_zone(conn, &name))
        .await
        .map(|tz| Some(format!("Time zone set to {}.", tz.name())));
    render(&state, &session.0, outcome, None).await
}

#[derive(Deserialize)]
pub struct GuardsForm {
    max_active: String,
    min_interval_secs: String,
    pause_after_failures: String,
}

/// A number field of a settings form.
fn whole_number(field: &'static str, text: &str) -> Result<i64, AppError> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| AppError::invalid(field, format!("{text:?} is not a whole number")))
}

pub async fn set_guards(
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<GuardsForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let guards = (|| {
        Ok(Guards {
            max_active: whole_number("max_active", &f.max_active)?,
            min_interval_secs: whole_number("min_interval_secs", &f.min_interval_secs)?,
            pause_after_failures: i32::try_from(whole_number(
                "pause_after_failures",
                &f.pause_after_failures,
            )?)
            .map_err(|_| AppError::invalid("pause_after_failures", "must be between 1 and 100"))?,
        })
    })();
    let outcome = match guards {
        Ok(guards) => state.db.run(move |conn| guards.save(conn)).await.map(|()| {
            Some("Schedule limits saved. They apply to schedules created or changed from now on.".into())
        }),
        Err(e) => Err(e),
    };
    render(&state, &session.0, outcome, None).await
}

#[derive(Deserialize)]
pub struct ChatForm {
    system_prompt: String,
    max_steps: String,
    context_chars: String,
    /// A checkbox: present when ticked.
    confirm_destructive: Option<String>,
}

pub async fn set_chat(
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<ChatForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let settings = (|| {
        Ok(ChatSettings {
            system_prompt: f.system_prompt.replace("\r\n", "\n"),
            max_steps: i32::try_from(whole_number("max_steps", &f.max_steps)?)
                .map_err(|_| AppError::invalid("max_steps", "is not between 1 and 50"))?,
            context_chars: whole_number("context_chars", &f.context_chars)?,
            confirm_destructive: f.confirm_destructive.is_some(),
        })
    })();
    let outcome = match settings {
        Ok(s) => state.db.run(move |conn| s.save(conn)).await.map(|()| Some("Chat settings saved.".into())),
        Err(e) => Err(e),
    };
    render(&state, &session.0, outcome, None).await
}

pub async fn revoke_session(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let existed = state.db.run(move |conn| Ok(sessions::revoke(conn, id)?)).await?;
    if id == session.0.id {
        return Ok(see_other("/login"));
    }
    let outcome = if existed {
        Ok(Some("Session signed out.".to_string()))
    } else {
        Err(AppError::NotFound("that session has ended already".into()))
    };
    render(&state, &session.0, outcome, None).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    name: String,
}

pub async fn create_token(
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    let name = form.into_inner().name;
    let st = state.clone();
    let created = state.db.run(move |conn| tokens::create(conn, &name, st.clock.now())).await;
    match created {
        Ok((secret, token)) => {
            let notice = format!("Token “{}” created. Copy it now: it is not shown again.", token.name);
            render(&state, &session.0, Ok(Some(notice)), Some(secret)).await
        }
        Err(e) => render(&state, &session.0, Err(e), None).await,
    }
}

pub async fn revoke_token(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let outcome = state
        .db
        .run(move |conn| tokens::revoke_id(conn, id))
        .await
        .map(|_| Some("Token revoked.".to_string()));
    render(&state, &session.0, outcome, None).await
}
