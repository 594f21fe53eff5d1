//! The Settings page: time zone, the schedules' cost guards, the chat (system prompt, tool steps,
//! context budget, confirmation of destructive tools), reminders, how long history is kept,
//! password, sessions, API tokens.
//!
//! Every form posts to its own path and the person stays on `/settings` (post/redirect/get):
//! - htmx (the page boosts its forms): the whole page again, with the outcome, in place of
//!   `#main`; `HX-Push-Url: false` keeps the address bar on `/settings` (422 with the error next
//!   to the form it belongs to);
//! - a plain form: 303 back to `/settings`, which shows the outcome once ([`Flash`]).
//!
//! A new API token's secret is shown once, in the answer (htmx) or in the flash, never in a URL.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::htmx::is_htmx;
use super::reauth::Reauth;
use super::{CurrentSession, Layout, html, see_other};
use crate::auth::scopes::{Scope, Scopes};
use crate::auth::sessions::Session;
use crate::auth::tokens::{ApiToken, NewToken};
use crate::auth::{self, login_history, reauth, sessions, tokens};
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
    /// Reminder defaults as the form shows them.
    reminders: crate::reminders::settings::SettingsInput,
    /// How long history is kept.
    retention: crate::retention::Retention,
    /// The database file's size in MB, and how much of it is free pages not yet given back.
    db_mb: (f64, f64),
    flash: Flash,
    now: chrono::DateTime<chrono::Utc>,
    /// The newest password entries, newest first.
    logins: Vec<login_history::Entry>,
    /// This session's password was typed more than 10 minutes ago: sensitive forms ask for it.
    reauth_needed: bool,
    /// Whether the second factor is on (its own page: `web::two_factor`).
    two_factor: crate::auth::totp::Status,
}

impl SettingsPage {
    fn when(&self, at: &chrono::NaiveDateTime) -> String {
        super::view::utc_minutes(at.and_utc())
    }

    /// "The database is 12.3 MB (4.0 MB of it free, being given back)."
    fn db_size(&self) -> String {
        let (size, free) = self.db_mb;
        if free >= 0.1 {
            format!("The database is {size:.1} MB ({free:.1} MB of it free, being given back).")
        } else {
            format!("The database is {size:.1} MB.")
        }
    }

    /// The error of the form in `section`, shown next to it.
    fn error_in(&self, section: &str) -> Option<&str> {
        self.flash.error.as_deref().filter(|_| self.flash.section == section)
    }

    /// What the last action in `section` did, shown next to its form.
    fn notice_in(&self, section: &str) -> Option<&str> {
        self.flash.notice.as_deref().filter(|_| self.flash.section == section)
    }

    /// A token's scopes in words: "write, mcp".
    fn scopes_of(&self, t: &ApiToken) -> String {
        t.scopes().names().join(", ")
    }

    fn is_admin(&self, t: &ApiToken) -> bool {
        t.scopes().is_admin()
    }

    /// When a token ends, in words: "never", "2027-03-02 10:00 UTC", "expired 2027-03-02 …".
    fn expiry_of(&self, t: &ApiToken) -> String {
        match t.expires() {
            None => "never".into(),
            Some(at) if at <= self.now => format!("expired {}", super::view::utc_minutes(at)),
            Some(at) => super::view::utc_minutes(at),
        }
    }

    /// The scopes a token can be given: (name, what it allows, ticked). A new form ticks
    /// `write` and `mcp`, what the CLI gives when no scope is named.
    fn scope_choices(&self) -> Vec<(&'static str, &'static str, bool)> {
        let default = Scopes::default_for_cli();
        Scope::ALL
            .iter()
            .map(|s| {
                let stored = if default.list().contains(s) { "on" } else { "off" };
                let ticked = self.typed(&format!("scope_{}", s.as_str()), stored) == "on";
                (s.as_str(), s.describe(), ticked)
            })
            .collect()
    }

    /// The expiry choice of a refused form, else 90 days.
    fn expiry_choice(&self) -> String {
        self.typed("expires", "90d")
    }

    fn ticked(&self, on: &bool) -> &'static str {
        if *on { "on" } else { "" }
    }

    /// What was typed into `field` of a refused form, else the stored value.
    fn typed(&self, field: &str, stored: impl std::fmt::Display) -> String {
        self.flash.typed.get(field).cloned().unwrap_or_else(|| stored.to_string())
    }
}

/// What an action leaves for the page: a notice or an error (and in which section of the page),
/// what was typed into a refused form, a new token's secret. Kept for one view of the page.
#[derive(Debug, Default, Clone)]
struct Flash {
    /// The part of the page the action belongs to (its `id`).
    section: &'static str,
    notice: Option<String>,
    error: Option<String>,
    typed: HashMap<&'static str, String>,
    /// A new token's secret, shown this once.
    new_token: Option<String>,
}

/// The answer to a settings form: for htmx the page with the outcome (see the module's notes),
/// for a plain form a redirect to `/settings`, which shows it once.
async fn answer(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &Session,
    section: &'static str,
    outcome: Result<Option<String>, AppError>,
    typed: &[(&'static str, &str)],
    new_token: Option<String>,
) -> Result<HttpResponse, PageError> {
    let mut flash = Flash { section, new_token, ..Flash::default() };
    match outcome {
        Ok(notice) => flash.notice = notice,
        Err(e @ (AppError::Invalid { .. } | AppError::NotFound(_))) => {
            flash.error = Some(e.client_message());
            flash.typed = typed.iter().map(|(k, v)| (*k, v.to_string())).collect();
        }
        Err(e) => return Err(e.into()),
    }
    if !is_htmx(req) {
        state.flashes.keep(session, flash);
        return Ok(see_other(&format!("/settings#{section}")));
    }
    let mut res = render(state, session, flash).await?;
    res.headers_mut().insert(HeaderName::from_static("hx-push-url"), HeaderValue::from_static("false"));
    Ok(res)
}

/// How many password entries the page lists (the API gives up to the whole bounded history).
const LOGINS_SHOWN: i64 = 50;

/// The page, with what the last action left (422 when that was an error).
async fn render(
    state: &web::Data<AppState>,
    session: &Session,
    flash: Flash,
) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    let ((sessions, tokens, zone, guards, chat, reminders), (retention, db_mb), logins, two_factor) = state
        .db
        .run(move |conn| {
            let sessions = sessions::list(conn, st.clock.now(), st.lifetimes())?;
            let zone = st.zone(conn)?.name().to_string();
            let reminders = crate::reminders::settings::load(conn)?.input();
            let retention = crate::retention::load(conn, &st.config)?;
            let page = crate::db::pragma(conn, "page_size")? as f64 / 1e6;
            let db_mb = (
                crate::db::pragma(conn, "page_count")? as f64 * page,
                crate::db::pragma(conn, "freelist_count")? as f64 * page,
            );
            let two_factor = auth::totp::status(conn)?;
            Ok((
                (
                    sessions,
                    tokens::list(conn)?,
                    zone,
                    Guards::load(conn)?,
                    ChatSettings::load(conn)?,
                    reminders,
                ),
                (retention, db_mb),
                login_history::list(conn, LOGINS_SHOWN)?,
                two_factor,
            ))
        })
        .await?;
    // From the stored session: a re-authentication in this very request counts.
    let now = state.clock.now();
    let reauth_needed =
        !sessions.iter().find(|s| s.id == session.id).is_some_and(|s| reauth::is_fresh(s, now));
    let status = if flash.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = SettingsPage {
        layout: Layout::new("Settings", "settings", session),
        current_session: session.id,
        sessions,
        tokens,
        zone,
        zones: &chrono_tz::TZ_VARIANTS,
        guards,
        chat,
        reminders,
        retention,
        db_mb,
        flash,
        now,
        logins,
        reauth_needed,
        two_factor,
    };
    html(status, &page)
}

/// The page; after a plain form's redirect, with that form's outcome (shown once, so 200).
pub async fn page(state: web::Data<AppState>, session: CurrentSession) -> Result<HttpResponse, PageError> {
    let flash: Flash = state.flashes.take(&session.0).unwrap_or_default();
    let mut res = render(&state, &session.0, flash).await?;
    *res.status_mut() = StatusCode::OK;
    Ok(res)
}

/// `GET` of a form's path (an old history entry, a reload): the page itself.
pub async fn back_to_page() -> HttpResponse {
    see_other("/settings")
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
    /// A checkbox: also revoke every API token (they keep working otherwise).
    revoke_tokens: Option<String>,
}

pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let revoke = form.revoke_tokens.is_some();
    let who = Reauth::of(&req, &state, &session.0, None);
    let st = state.clone();
    let outcome = state
        .db
        .run(move |conn| {
            who.attempt(conn, st.clock.now(), |conn, attempt| {
                let asking = (who.session(), attempt);
                auth::change_password(conn, &st.throttle, asking, &form.current, &form.new, &form.confirm)
            })?;
            Ok(if revoke { Some(tokens::revoke_all(conn)?) } else { None })
        })
        .await
        .map(|revoked| {
            let tokens = match revoked {
                Some(0) => " There were no API tokens to revoke.".to_string(),
                Some(1) => " The one API token was revoked.".to_string(),
                Some(n) => format!(" All {n} API tokens were revoked."),
                None => " API tokens keep working; revoke them below if they may have leaked.".to_string(),
            };
            Some(format!("Password changed. Every other session has been signed out.{tokens}"))
        });
    answer(&req, &state, &session.0, "password", outcome, &[], None).await
}

#[derive(Deserialize)]
pub struct ZoneForm {
    timezone: String,
}

pub async fn set_timezone(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<ZoneForm>,
) -> Result<HttpResponse, PageError> {
    let name = form.into_inner().timezone;
    let given = name.clone();
    let now = state.clock.now();
    let outcome = state
        .db
        .run(move |conn| crate::settings::set_person_zone(conn, &given, now))
        .await
        .map(|tz| Some(format!("Time zone set to {}.", tz.name())));
    state.wake.poke();
    answer(&req, &state, &session.0, "timezone", outcome, &[("timezone", &name)], None).await
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
    req: HttpRequest,
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
    let typed = [
        ("max_active", f.max_active.as_str()),
        ("min_interval_secs", &f.min_interval_secs),
        ("pause_after_failures", &f.pause_after_failures),
    ];
    answer(&req, &state, &session.0, "guards", outcome, &typed, None).await
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
    req: HttpRequest,
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
    let ticked = if f.confirm_destructive.is_some() { "on" } else { "" };
    let typed = [
        ("system_prompt", f.system_prompt.as_str()),
        ("max_steps", &f.max_steps),
        ("context_chars", &f.context_chars),
        ("confirm_destructive", ticked),
    ];
    answer(&req, &state, &session.0, "chat", outcome, &typed, None).await
}

#[derive(Deserialize)]
pub struct RemindersForm {
    timed: String,
    dated: String,
    dated_at: String,
    waiting_days: String,
    waiting_cron: String,
    #[serde(default)]
    quiet: String,
}

/// Lead times as a form types them: `1d, 10m` (empty: none).
fn lead_list(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "none")
        .map(String::from)
        .collect()
}

pub async fn set_reminders(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<RemindersForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let input =
        whole_number("waiting_days", &f.waiting_days).map(|days| crate::reminders::settings::SettingsInput {
            timed: Some(lead_list(&f.timed)),
            dated: Some(lead_list(&f.dated)),
            dated_at: Some(f.dated_at.clone()),
            waiting_days: Some(days),
            waiting_cron: Some(f.waiting_cron.clone()),
            quiet: Some(f.quiet.clone()),
        });
    let outcome = match input {
        Ok(input) => state
            .run_as(crate::services::Actor::Person, move |conn, ctx| {
                crate::reminders::settings::save(conn, &input, ctx.now, ctx.tz)
            })
            .await
            .map(|_| Some("Reminder settings saved; every task's reminders follow them.".into())),
        Err(e) => Err(e),
    };
    let typed = [
        ("timed", f.timed.as_str()),
        ("dated", &f.dated),
        ("dated_at", &f.dated_at),
        ("waiting_days", &f.waiting_days),
        ("waiting_cron", &f.waiting_cron),
        ("quiet", &f.quiet),
    ];
    answer(&req, &state, &session.0, "reminders", outcome, &typed, None).await
}

#[derive(Deserialize)]
pub struct RetentionForm {
    runs_days: String,
    failed_days: String,
    keep_per_schedule: String,
    notifications_days: String,
}

pub async fn set_retention(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<RetentionForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let input = (|| {
        Ok(crate::retention::RetentionInput {
            runs_days: Some(whole_number("runs_days", &f.runs_days)?),
            failed_days: Some(whole_number("failed_days", &f.failed_days)?),
            keep_per_schedule: Some(whole_number("keep_per_schedule", &f.keep_per_schedule)?),
            notifications_days: Some(whole_number("notifications_days", &f.notifications_days)?),
        })
    })();
    let config = state.config.clone();
    let outcome = match input {
        Ok(input) => {
            state.db.run(move |conn| crate::retention::save(conn, &config, &input)).await.map(|_| {
                Some("History settings saved; the next prune (every few minutes) follows them.".into())
            })
        }
        Err(e) => Err(e),
    };
    let typed = [
        ("runs_days", f.runs_days.as_str()),
        ("failed_days", &f.failed_days),
        ("keep_per_schedule", &f.keep_per_schedule),
        ("notifications_days", &f.notifications_days),
    ];
    answer(&req, &state, &session.0, "retention", outcome, &typed, None).await
}

pub async fn revoke_session(
    req: HttpRequest,
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
    answer(&req, &state, &session.0, "sessions", outcome, &[], None).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    name: String,
    /// Checkboxes, present when ticked.
    scope_read: Option<String>,
    scope_write: Option<String>,
    scope_mcp: Option<String>,
    scope_feed: Option<String>,
    scope_metrics: Option<String>,
    scope_admin: Option<String>,
    /// `never`, `30d`, `90d`, `1y`.
    #[serde(default)]
    expires: String,
    /// The password again, when the login is older than 10 minutes.
    reauth_password: Option<String>,
}

impl TokenForm {
    fn scopes(&self) -> Result<Scopes, AppError> {
        let boxes = [
            (&self.scope_read, Scope::Read),
            (&self.scope_write, Scope::Write),
            (&self.scope_mcp, Scope::Mcp),
            (&self.scope_feed, Scope::Feed),
            (&self.scope_metrics, Scope::Metrics),
            (&self.scope_admin, Scope::Admin),
        ];
        let list: Vec<Scope> = boxes.into_iter().filter(|(v, _)| v.is_some()).map(|(_, s)| s).collect();
        if list.is_empty() {
            return Err(AppError::invalid("scope", "tick at least one thing the token may do"));
        }
        Ok(Scopes::of(&list))
    }
}

pub async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let name = form.name.clone();
    let now = state.clock.now();
    let new = form.scopes().and_then(|scopes| {
        Ok(NewToken { name: name.clone(), scopes, expires_at: tokens::parse_expiry(&form.expires, now)? })
    });
    let who = Reauth::of(&req, &state, &session.0, form.reauth_password.clone());
    let st = state.clone();
    let created = match new {
        Ok(new) => {
            state
                .db
                .run(move |conn| {
                    who.require(conn, &st.throttle, now)?;
                    tokens::create(conn, &new, now)
                })
                .await
        }
        Err(e) => Err(e),
    };
    let on = |v: &Option<String>| if v.is_some() { "on" } else { "off" };
    let typed = [
        ("token_name", name.as_str()),
        ("scope_read", on(&form.scope_read)),
        ("scope_write", on(&form.scope_write)),
        ("scope_mcp", on(&form.scope_mcp)),
        ("scope_feed", on(&form.scope_feed)),
        ("scope_admin", on(&form.scope_admin)),
        ("expires", form.expires.as_str()),
    ];
    match created {
        Ok((secret, token)) => {
            let scopes = token.scopes().names().join(", ");
            let notice =
                format!("Token “{}” created ({scopes}). Copy it now: it is not shown again.", token.name);
            answer(&req, &state, &session.0, "tokens", Ok(Some(notice)), &[], Some(secret)).await
        }
        Err(e) => answer(&req, &state, &session.0, "tokens", Err(e), &typed, None).await,
    }
}

pub async fn revoke_token(
    req: HttpRequest,
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
    answer(&req, &state, &session.0, "tokens", outcome, &[], None).await
}

/// A file as a stream of 64 KiB chunks, each read on the blocking pool.
fn file_chunks(file: std::fs::File) -> impl futures_util::Stream<Item = std::io::Result<web::Bytes>> {
    futures_util::stream::try_unfold(file, |mut file| async move {
        let (file, chunk) = web::block(move || {
            use std::io::Read;
            let mut chunk = vec![0; 64 * 1024];
            let n = file.read(&mut chunk)?;
            chunk.truncate(n);
            Ok::<_, std::io::Error>((file, chunk))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok((!chunk.is_empty()).then(|| (web::Bytes::from(chunk), file)))
    })
}

#[derive(Deserialize)]
pub struct ExportForm {
    /// The password again, when the login is older than 10 minutes.
    reauth_password: Option<String>,
}

/// "Export everything": the whole database as one file (what `steward backup` writes), after
/// the password when the login is older than 10 minutes.
pub async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<ExportForm>,
) -> Result<HttpResponse, PageError> {
    let who = Reauth::of(&req, &state, &session.0, form.into_inner().reauth_password);
    let st = state.clone();
    let now = state.clock.now();
    let file = state
        .db
        .run(move |conn| {
            who.require(conn, &st.throttle, now)?;
            crate::db::backup::export(conn, &st.config.db, now)
        })
        .await;
    match file {
        Ok((name, file)) => {
            let length = file.metadata().map_err(|e| AppError::Internal(e.into()))?.len();
            Ok(HttpResponse::Ok()
                .content_type("application/vnd.sqlite3")
                .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
                .insert_header(("Cache-Control", "no-store"))
                .no_chunking(length)
                .streaming(file_chunks(file)))
        }
        Err(e) => answer(&req, &state, &session.0, "export", Err(e), &[], None).await,
    }
}
