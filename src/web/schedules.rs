//! The Schedules page: every schedule with its timing in words, its state and its next and last
//! run; pause, resume, run now, duplicate, edit and delete per row; a form with a live preview
//! of the next firings (in the schedule's zone and in UTC) while the person types.
//! Like the Tasks page, each handler answers htmx with the fragment it swaps and a plain
//! browser with a full page or a redirect.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::Timelike;
use chrono_tz::Tz;
use serde::Deserialize;

use super::htmx::{self, is_htmx};
use super::{CurrentSession, Layout, html, see_other, view};
use crate::clock::from_ms;
use crate::config::{Config, parse_zone};
use crate::db::Conn;
use crate::error::{AppError, PageError};
use crate::events::Event;
use crate::schedules::spec::{Kind, Spec};
use crate::schedules::{self, Guards, LastRun, PRIORITIES, Schedule, ScheduleInput, service};
use crate::services::{Actor, Ctx};
use crate::web::AppState;

/// The form's body: checkboxes repeat a key (`answer_to`), which `web::Form` cannot read.
type Form<T> = actix_web_lab::extract::UrlEncodedForm<T, { 256 * 1024 }>;

// ---------------------------------------------------------------------------------------------
// The list.

/// The last run of a schedule, as the row shows it.
pub struct LastRunItem {
    pub id: i32,
    pub state: String,
    pub label: String,
}

/// A schedule as a row shows it.
pub struct ScheduleItem {
    pub id: i32,
    pub name: String,
    pub description: String,
    pub agent: String,
    pub priority: &'static str,
    /// active, paused, ended.
    pub status: &'static str,
    pub note: Option<String>,
    /// Who created it (and, for an agent, from which conversation).
    pub created_by: Actor,
    /// The conversation its runs post into.
    pub conversation_id: Option<i32>,
    /// The channels its answers go to.
    pub answer_to: Vec<String>,
    pub next_label: Option<String>,
    pub next_relative: String,
    pub next_utc: String,
    pub fired_count: i32,
    pub max_count: Option<i32>,
    pub last_run: Option<LastRunItem>,
    /// Marked as just created or saved.
    pub flash: bool,
}

impl ScheduleItem {
    pub fn new(s: &Schedule, last: Option<&LastRun>, ctx: &Ctx) -> ScheduleItem {
        let status = s.status();
        let next = s.next_fire().filter(|_| status == "active");
        ScheduleItem {
            id: s.id,
            name: s.name.clone(),
            description: s.describe(),
            agent: s.agent.clone(),
            priority: schedules::priority_name(s.priority),
            status,
            note: s.note.clone(),
            created_by: Actor::stored(&s.created_by, s.created_in),
            conversation_id: s.conversation_id,
            answer_to: s.answer_to(),
            next_label: next.map(|n| view::instant(n, ctx.tz, ctx.now)),
            next_relative: next.map(|n| view::relative(n, ctx.now)).unwrap_or_default(),
            next_utc: next.map(view::utc).unwrap_or_default(),
            fired_count: s.fired_count,
            max_count: s.max_count,
            last_run: last.map(|r| LastRunItem {
                id: r.id,
                state: r.state.clone(),
                label: view::instant(r.scheduled_for, ctx.tz, ctx.now),
            }),
            flash: false,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "partials/schedule_list.html")]
pub struct ScheduleList {
    items: Vec<ScheduleItem>,
    csrf: String,
    /// Ended schedules are listed too.
    all: bool,
}

/// One row; also the answer to pause, resume and run now, and to live updates.
#[derive(Template, WebTemplate)]
#[template(path = "partials/schedule_row.html")]
pub struct ScheduleRow {
    s: ScheduleItem,
    csrf: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "partials/schedule_deleted.html")]
pub struct DeletedRow {
    name: String,
}

/// An agent offered in the form's menu.
pub struct AgentChoice {
    pub name: String,
    pub kind: &'static str,
}

fn agent_choices(conn: &mut Conn, config: &Config) -> Result<Vec<AgentChoice>, AppError> {
    Ok(crate::agents::list(conn, config)?
        .into_iter()
        .map(|a| AgentChoice { name: a.name, kind: a.kind.as_str() })
        .collect())
}

/// The channels' names, for the form's "Send the answer to".
fn channel_names(conn: &mut Conn) -> Result<Vec<String>, AppError> {
    Ok(crate::notify::list(conn)?.into_iter().map(|c| c.name).collect())
}

fn list_items(conn: &mut Conn, ctx: &Ctx, all: bool) -> Result<Vec<ScheduleItem>, AppError> {
    let list = service::list(conn, None, all)?;
    let ids: Vec<i32> = list.iter().map(|s| s.id).collect();
    let last = service::last_runs(conn, &ids)?;
    Ok(list.iter().map(|s| ScheduleItem::new(s, last.get(&s.id), ctx)).collect())
}

fn item(conn: &mut Conn, ctx: &Ctx, id: i32) -> Result<ScheduleItem, AppError> {
    let s = schedules::get(conn, id)?;
    let last = service::last_runs(conn, &[id])?;
    Ok(ScheduleItem::new(&s, last.get(&id), ctx))
}

// ---------------------------------------------------------------------------------------------
// The form.

/// What the form holds, as typed (so an error never loses it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FormValues {
    name: String,
    prompt: String,
    agent: String,
    /// Empty: `spec` is a phrase for the one timing box ([`Spec::from_phrase`]). Older forms
    /// send a [`Kind::form_value`] (once, cron, every), read by [`FormValues::kind`].
    kind: String,
    spec: String,
    tz: String,
    priority: String,
    misfire: String,
    retry_attempts: String,
    retry_base_secs: String,
    until: String,
    count: String,
    /// active, paused.
    status: String,
    /// The channels the answer goes to (checkboxes: the key repeats, one per channel ticked).
    answer_to: Vec<String>,
}

/// The form's fields; an error on any other field is shown above the form.
const FIELDS: [&str; 14] = [
    "name",
    "prompt",
    "agent",
    "kind",
    "spec",
    "tz",
    "priority",
    "misfire",
    "retry_attempts",
    "retry_base_secs",
    "until",
    "count",
    "status",
    "answer_to",
];

/// The kind a form or preview sent.
fn kind_of(text: &str) -> Result<Kind, AppError> {
    Kind::from_form(text)
        .ok_or_else(|| AppError::invalid("kind", format!("{text:?} is not once, cron or every")))
}

/// The form field where a service error belongs.
fn form_field(field: &str) -> &str {
    match field {
        "when" => "spec",
        _ if Kind::ALL.iter().any(|k| k.field() == field) => "spec",
        "active" => "status",
        other => other,
    }
}

impl FormValues {
    /// A new schedule's defaults.
    fn new_in(tz: Tz, agents: &[AgentChoice]) -> FormValues {
        let agent = agents
            .iter()
            .find(|a| a.name == "default")
            .or_else(|| agents.first())
            .map(|a| a.name.clone())
            .unwrap_or_default();
        FormValues {
            agent,
            tz: tz.name().into(),
            priority: "normal".into(),
            misfire: "once".into(),
            retry_attempts: "5".into(),
            retry_base_secs: "30".into(),
            status: "active".into(),
            ..FormValues::default()
        }
    }

    /// A stored schedule, as its edit form shows it.
    fn of(s: &Schedule) -> FormValues {
        let tz = s.zone();
        let spec = match s.parsed() {
            Ok(Spec::Once(at)) => view::input(at, tz),
            _ => s.spec.clone(),
        };
        let until = s.until_at.map(from_ms).map(|u| {
            // A day given as `until` is stored as the last millisecond of that day (a copy
            // keeps it to the second).
            let local = u.with_timezone(&tz);
            if (local.hour(), local.minute(), local.second()) == (23, 59, 59) {
                local.format("%Y-%m-%d").to_string()
            } else {
                view::input(u, tz)
            }
        });
        FormValues {
            kind: String::new(),
            name: s.name.clone(),
            prompt: s.prompt.clone(),
            agent: s.agent.clone(),
            spec,
            tz: s.tz.clone(),
            priority: schedules::priority_name(s.priority).into(),
            misfire: s.misfire.clone(),
            retry_attempts: s.retry_attempts.to_string(),
            retry_base_secs: s.retry_base_secs.to_string(),
            until: until.unwrap_or_default(),
            count: s.max_count.map(|c| c.to_string()).unwrap_or_default(),
            status: if s.active { "active" } else { "paused" }.into(),
            answer_to: s.answer_to(),
        }
    }

    /// The kind of timing chosen.
    fn kind(&self) -> Result<Kind, AppError> {
        kind_of(&self.kind)
    }

    /// The service's input. When editing, `stored` is what the form started from: a timing or
    /// end left as it was is not sent again, so it is not re-read from now (a `once` time that
    /// has passed stays valid, an interval keeps its phase).
    fn input(&self, stored: Option<&FormValues>) -> Result<ScheduleInput, AppError> {
        let number = |field: &str, text: &str| -> Result<Option<i32>, AppError> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<i32>()
                .map(Some)
                .map_err(|_| AppError::invalid(field, format!("{text:?} is not a whole number")))
        };
        let active = match self.status.as_str() {
            "" => None,
            "active" => Some(true),
            "paused" => Some(false),
            other => return Err(AppError::invalid("status", format!("{other:?} is not active or paused"))),
        };
        let mut input = ScheduleInput {
            name: Some(self.name.clone()),
            prompt: Some(self.prompt.clone()),
            agent: Some(self.agent.clone()),
            tz: Some(self.tz.clone()),
            priority: Some(self.priority.clone()),
            misfire: Some(self.misfire.clone()),
            retry_attempts: number("retry_attempts", &self.retry_attempts)?,
            retry_base_secs: number("retry_base_secs", &self.retry_base_secs)?,
            // The form sends every field: an empty end means none.
            until: Some(Some(self.until.trim()).filter(|u| !u.is_empty()).map(str::to_string)),
            count: Some(number("count", &self.count)?),
            active,
            // The form shows every channel: none ticked means none.
            answer_to: Some(self.answer_to.clone()),
            ..ScheduleInput::default()
        };
        let unchanged = |a: &str, b: &str| a.trim() == b.trim();
        let same_timing = stored
            .is_some_and(|s| (self.kind.is_empty() || s.kind == self.kind) && unchanged(&s.spec, &self.spec));
        if stored.is_some_and(|s| unchanged(&s.until, &self.until)) {
            input.until = None;
        }
        if !same_timing {
            let spec = Some(self.spec.clone());
            if self.kind.trim().is_empty() {
                input.when = spec;
                return Ok(input);
            }
            match self.kind()? {
                Kind::Once => input.at = spec,
                Kind::Cron => input.cron = spec,
                Kind::Interval => input.every = spec,
            }
        }
        Ok(input)
    }
}

/// The create or edit form, with its values and the error to show by its field.
#[derive(Template, WebTemplate)]
#[template(path = "partials/schedule_form.html")]
pub struct ScheduleForm {
    /// The schedule being edited; `None` for a new one.
    id: Option<i32>,
    v: FormValues,
    agents: Vec<AgentChoice>,
    /// The channels an answer can go to, by name.
    channels: Vec<String>,
    /// (form field, message).
    error: Option<(String, String)>,
    csrf: String,
    /// Rendered as an out-of-band swap (a fresh form after a successful add).
    oob: bool,
    zones: &'static [Tz],
}

impl ScheduleForm {
    fn new(id: Option<i32>, v: FormValues, agents: Vec<AgentChoice>, csrf: String) -> ScheduleForm {
        ScheduleForm {
            id,
            v,
            agents,
            channels: Vec::new(),
            error: None,
            csrf,
            oob: false,
            zones: &chrono_tz::TZ_VARIANTS,
        }
    }

    fn with_channels(self, channels: Vec<String>) -> ScheduleForm {
        ScheduleForm { channels, ..self }
    }

    /// Whether the answer goes to this channel.
    fn answers_to(&self, channel: &str) -> bool {
        self.v.answer_to.iter().any(|c| c == channel)
    }

    fn with_error(self, error: Option<(String, String)>) -> ScheduleForm {
        ScheduleForm { error, ..self }
    }

    fn action(&self) -> String {
        match self.id {
            Some(id) => format!("/schedules/{id}"),
            None => "/schedules".into(),
        }
    }

    /// The error of this field, if it is the one at fault.
    fn err(&self, field: &str) -> Option<&str> {
        self.error.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }

    /// An error that belongs to no field of the form.
    fn general_error(&self) -> Option<String> {
        self.error.as_ref().filter(|(f, _)| !FIELDS.contains(&f.as_str())).map(|(_, m)| sentence(m))
    }

    fn priorities(&self) -> &'static [&'static str] {
        &PRIORITIES
    }

    fn is_priority(&self, p: &str) -> bool {
        self.v.priority == p
    }

    /// `aria-invalid` and `aria-describedby` for a field in error.
    fn aria(&self, field: &str) -> String {
        match self.err(field) {
            Some(_) => format!(" aria-invalid=\"true\" aria-describedby=\"sf-{field}-error\""),
            None => String::new(),
        }
    }
}

/// A service's message as a sentence for a person: capitalised, with a full stop, and without
/// the field name the API puts in front (`active: there are already…`).
pub(crate) fn sentence(message: &str) -> String {
    let message = message.trim();
    let mut chars = message.chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

fn split_error(e: AppError) -> Result<(String, String), AppError> {
    match e {
        AppError::Invalid { field, message } => Ok((form_field(&field).to_string(), message)),
        other => Err(other),
    }
}

// ---------------------------------------------------------------------------------------------
// The page.

#[derive(Template, WebTemplate)]
#[template(path = "schedules.html")]
pub struct SchedulesPage {
    layout: Layout,
    list: ScheduleList,
    form: ScheduleForm,
    notice: Option<String>,
    error: Option<String>,
    /// The new-schedule form starts open (no schedules yet, or it has an error).
    form_open: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "schedule_edit.html")]
pub struct EditPage {
    layout: Layout,
    id: i32,
    name: String,
    form: ScheduleForm,
    copied: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "schedule_delete.html")]
pub struct DeletePage {
    layout: Layout,
    s: ScheduleItem,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PageQuery {
    /// Also list ended schedules.
    all: Option<String>,
    /// A schedule just created or saved: named in a notice and marked in the list.
    saved: Option<String>,
}

impl PageQuery {
    fn all(&self) -> bool {
        self.all.as_deref().is_some_and(|v| matches!(v, "true" | "1" | "on" | "yes"))
    }

    fn saved(&self) -> Option<i32> {
        self.saved.as_deref().and_then(|v| v.parse().ok())
    }
}

/// What a full page shows besides the list: a kept form (after an error) and messages.
#[derive(Default)]
struct Extras {
    form: Option<(FormValues, Option<(String, String)>)>,
    notice: Option<String>,
    error: Option<String>,
    highlight: Option<i32>,
}

async fn full_page(
    state: &web::Data<AppState>,
    session: &CurrentSession,
    all: bool,
    extras: Extras,
) -> Result<SchedulesPage, AppError> {
    let st = state.clone();
    let (items, agents, channels, zone, unread) = state
        .run_as(Actor::Person, move |conn, ctx| {
            let items = list_items(conn, ctx, all)?;
            let agents = agent_choices(conn, &st.config)?;
            Ok((items, agents, channel_names(conn)?, ctx.tz, crate::notifications::unread_count(conn)?))
        })
        .await?;
    let csrf = session.0.csrf_token.clone();
    let form_open = items.is_empty() || extras.form.is_some();
    let (values, error) = extras.form.unwrap_or_else(|| (FormValues::new_in(zone, &agents), None));
    let mut items = items;
    for s in items.iter_mut() {
        s.flash = extras.highlight == Some(s.id);
    }
    let notice = match (extras.notice, extras.highlight) {
        (Some(n), _) => Some(n),
        (None, Some(id)) => items.iter().find(|s| s.id == id).map(|s| format!("Saved “{}”.", s.name)),
        (None, None) => None,
    };
    Ok(SchedulesPage {
        layout: Layout::new("Schedules", "schedules", &session.0).with_unread(unread),
        list: ScheduleList { items, csrf: csrf.clone(), all },
        form: ScheduleForm::new(None, values, agents, csrf).with_channels(channels).with_error(error),
        notice,
        error: extras.error,
        form_open,
    })
}

pub async fn page(
    state: web::Data<AppState>,
    session: CurrentSession,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner();
    let extras = Extras { highlight: q.saved(), ..Extras::default() };
    html(StatusCode::OK, &full_page(&state, &session, q.all(), extras).await?)
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: Form<FormValues>,
) -> Result<HttpResponse, PageError> {
    let values = form.0;
    let v = values.clone();
    let st = state.clone();
    let created = state
        .run_as(Actor::Person, move |conn, ctx| {
            let input = v.input(None)?;
            let s = service::create(conn, ctx, &st.config, &input)?;
            Ok((s.id, s.name))
        })
        .await;
    let csrf = session.0.csrf_token.clone();
    match created {
        Ok((id, name)) => {
            state.wake.poke();
            if !is_htmx(&req) {
                return Ok(see_other(&format!("/schedules?saved={id}")));
            }
            let st = state.clone();
            let (items, agents, channels, zone) = state
                .run_as(Actor::Person, move |conn, ctx| {
                    let agents = agent_choices(conn, &st.config)?;
                    Ok((list_items(conn, ctx, false)?, agents, channel_names(conn)?, ctx.tz))
                })
                .await?;
            let mut items = items;
            for s in items.iter_mut() {
                s.flash = s.id == id;
            }
            let list = ScheduleList { items, csrf: csrf.clone(), all: false };
            let mut fresh = ScheduleForm::new(None, FormValues::new_in(zone, &agents), agents, csrf)
                .with_channels(channels);
            fresh.oob = true;
            htmx::with_toast(&[&list, &fresh], &format!("Created “{name}”"))
        }
        Err(e) => {
            let error = split_error(e)?;
            if is_htmx(&req) {
                let st = state.clone();
                let (agents, channels) = state
                    .db
                    .run(move |conn| Ok((agent_choices(conn, &st.config)?, channel_names(conn)?)))
                    .await?;
                let form = ScheduleForm::new(None, values, agents, csrf)
                    .with_channels(channels)
                    .with_error(Some(error));
                return htmx::invalid_form(&form, "#schedule-form");
            }
            let extras = Extras { form: Some((values, Some(error))), ..Extras::default() };
            html(StatusCode::UNPROCESSABLE_ENTITY, &full_page(&state, &session, false, extras).await?)
        }
    }
}

pub async fn row(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<ScheduleRow, PageError> {
    let id = id.into_inner();
    let s = state.run_as(Actor::Person, move |conn, ctx| item(conn, ctx, id)).await?;
    Ok(ScheduleRow { s, csrf: session.0.csrf_token })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditQuery {
    copied: Option<String>,
}

pub async fn edit(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    query: web::Query<EditQuery>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let st = state.clone();
    let (s, agents, channels, unread) = state
        .db
        .run(move |conn| {
            let s = schedules::get(conn, id)?;
            let agents = agent_choices(conn, &st.config)?;
            Ok((s, agents, channel_names(conn)?, crate::notifications::unread_count(conn)?))
        })
        .await?;
    let page = EditPage {
        layout: Layout::new(format!("Edit {}", s.name), "schedules", &session.0).with_unread(unread),
        id,
        name: s.name.clone(),
        form: ScheduleForm::new(Some(id), FormValues::of(&s), agents, session.0.csrf_token.clone())
            .with_channels(channels),
        copied: query.copied.is_some(),
    };
    html(StatusCode::OK, &page)
}

pub async fn save(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    form: Form<FormValues>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let values = form.0;
    let v = values.clone();
    let st = state.clone();
    let saved = state
        .run_as(Actor::Person, move |conn, ctx| {
            let stored = FormValues::of(&schedules::get(conn, id)?);
            let input = v.input(Some(&stored))?;
            service::update(conn, ctx, &st.config, id, &input)
        })
        .await;
    match saved {
        Ok(_) => {
            state.wake.poke();
            Ok(see_other(&format!("/schedules?saved={id}")))
        }
        Err(e) => {
            let error = split_error(e)?;
            let st = state.clone();
            let (s, agents, channels, unread) = state
                .db
                .run(move |conn| {
                    let s = schedules::get(conn, id)?;
                    let agents = agent_choices(conn, &st.config)?;
                    Ok((s, agents, channel_names(conn)?, crate::notifications::unread_count(conn)?))
                })
                .await?;
            let form = ScheduleForm::new(Some(id), values, agents, session.0.csrf_token.clone())
                .with_channels(channels)
                .with_error(Some(error));
            let page = EditPage {
                layout: Layout::new(format!("Edit {}", s.name), "schedules", &session.0).with_unread(unread),
                id,
                name: s.name,
                form,
                copied: false,
            };
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// A row action's refusal (a cost guard, say): a toast for htmx, the page with the reason
/// otherwise.
async fn refused(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &CurrentSession,
    e: AppError,
) -> Result<HttpResponse, PageError> {
    let message = match e {
        AppError::Invalid { message, .. } => sentence(&message),
        other => return Err(other.into()),
    };
    if is_htmx(req) {
        return htmx::error_toast(StatusCode::UNPROCESSABLE_ENTITY, &message);
    }
    let extras = Extras { error: Some(message), ..Extras::default() };
    html(StatusCode::UNPROCESSABLE_ENTITY, &full_page(state, session, false, extras).await?)
}

async fn set_active(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: i32,
    active: bool,
) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    let changed = state
        .run_as(Actor::Person, move |conn, ctx| {
            service::set_active(conn, ctx, &st.config, id, active)?;
            item(conn, ctx, id)
        })
        .await;
    match changed {
        Ok(s) => {
            state.wake.poke();
            if !is_htmx(&req) {
                return Ok(see_other("/schedules"));
            }
            let message = match (active, s.next_label.as_deref()) {
                (false, _) => format!("Paused “{}”", s.name),
                (true, Some(next)) => format!("Resumed “{}”: next run {next}", s.name),
                (true, None) => format!("Resumed “{}”, but it has no firing left", s.name),
            };
            htmx::with_toast(&[&ScheduleRow { s, csrf: session.0.csrf_token.clone() }], &message)
        }
        Err(e) => refused(&req, &state, &session, e).await,
    }
}

pub async fn pause(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    set_active(req, state, session, id.into_inner(), false).await
}

pub async fn resume(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    set_active(req, state, session, id.into_inner(), true).await
}

pub async fn run_now(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let queued = state
        .run_as(Actor::Person, move |conn, ctx| {
            let run = service::run_now(conn, ctx, id)?;
            Ok((run, item(conn, ctx, id)?))
        })
        .await;
    match queued {
        Ok((run, s)) => {
            state.wake.poke();
            state.events.send(Event::Run { id: run.id, schedule_id: run.schedule_id, state: "queued" });
            if !is_htmx(&req) {
                return Ok(see_other(&format!("/schedules/{id}/runs")));
            }
            let message = format!("Queued run {} of “{}”", run.id, s.name);
            htmx::with_toast(&[&ScheduleRow { s, csrf: session.0.csrf_token.clone() }], &message)
        }
        Err(e) => refused(&req, &state, &session, e).await,
    }
}

/// A paused copy, opened in the edit form.
pub async fn duplicate(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let st = state.clone();
    let copied =
        state.run_as(Actor::Person, move |conn, ctx| service::duplicate(conn, ctx, &st.config, id)).await;
    match copied {
        Ok(copy) => {
            let location = format!("/schedules/{}/edit?copied=true", copy.id);
            if is_htmx(&req) {
                return Ok(HttpResponse::Ok().insert_header(("HX-Location", location)).finish());
            }
            Ok(see_other(&location))
        }
        Err(e) => refused(&req, &state, &session, e).await,
    }
}

/// The confirmation page, for browsers without JavaScript (htmx asks with `hx-confirm`).
pub async fn confirm_delete(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let (s, unread) = state
        .run_as(Actor::Person, move |conn, ctx| {
            Ok((item(conn, ctx, id)?, crate::notifications::unread_count(conn)?))
        })
        .await?;
    let page = DeletePage {
        layout: Layout::new(format!("Delete {}", s.name), "schedules", &session.0).with_unread(unread),
        s,
    };
    html(StatusCode::OK, &page)
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let name = state
        .run_as(Actor::Person, move |conn, ctx| {
            let name = schedules::get(conn, id)?.name;
            service::delete(conn, ctx, id)?;
            Ok(name)
        })
        .await?;
    state.wake.poke();
    if !is_htmx(&req) {
        return Ok(see_other("/schedules"));
    }
    html(StatusCode::OK, &DeletedRow { name })
}

// ---------------------------------------------------------------------------------------------
// The live preview.

/// The next firings of the timing being typed, or why it cannot fire.
#[derive(Template, WebTemplate, Default)]
#[template(path = "partials/schedule_preview.html")]
pub struct Preview {
    /// What the timing was understood as, in words.
    description: Option<String>,
    /// What it becomes: the cron line, or that it is an interval or a single time.
    becomes: Option<String>,
    zone: String,
    /// (in the schedule's zone, in UTC, relative to now).
    times: Vec<(String, String, String)>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PreviewQuery {
    kind: String,
    spec: String,
    tz: String,
}

/// How many firings the preview lists.
const PREVIEW_COUNT: usize = 5;

pub async fn preview(
    state: web::Data<AppState>,
    query: web::Query<PreviewQuery>,
) -> Result<Preview, PageError> {
    let q = query.into_inner();
    if q.spec.trim().is_empty() {
        return Ok(Preview::default());
    }
    let guards = state.db.run(Guards::load).await?;
    let ctx = state.run_as(Actor::Person, |_, ctx| Ok(*ctx)).await?;
    Ok(preview_of(&q, &ctx, guards).unwrap_or_else(|e| Preview {
        error: Some(match e {
            AppError::Invalid { field, message } if field == "tz" => format!("Time zone: {message}"),
            AppError::Invalid { message, .. } => message,
            other => {
                if let AppError::Internal(cause) = &other {
                    tracing::error!(error = format!("{cause:#}"), "previewing a schedule failed");
                }
                other.client_message()
            }
        }),
        ..Preview::default()
    }))
}

fn preview_of(q: &PreviewQuery, ctx: &Ctx, guards: Guards) -> Result<Preview, AppError> {
    let tz = match q.tz.trim() {
        "" => ctx.tz,
        name => parse_zone("tz", name)?,
    };
    let now = ctx.now.with_timezone(&tz);
    let spec = match q.kind.trim() {
        "" => Spec::from_phrase(&q.spec, now)?,
        kind => Spec::parse(kind_of(kind)?, &q.spec, now)?,
    };
    if let Some(gap) = spec.shortest_gap(tz, ctx.now)
        && gap < chrono::Duration::seconds(guards.min_interval_secs)
    {
        return Err(AppError::invalid(
            "when",
            format!(
                "fires every {} s, more often than the minimum interval of {} s (a cost guard in Settings)",
                gap.num_seconds(),
                guards.min_interval_secs
            ),
        ));
    }
    let times = spec.preview(ctx.now, tz, ctx.now, PREVIEW_COUNT);
    if times.is_empty() {
        return Err(AppError::invalid("when", "This timing never fires."));
    }
    let becomes = match &spec {
        Spec::Cron(c) => format!("cron {}", c.text),
        Spec::Interval(p) => format!("an interval of {p}, counted from when it is saved"),
        Spec::Once(_) => "a single run".to_string(),
    };
    Ok(Preview {
        description: Some(spec.describe(tz)),
        becomes: Some(becomes),
        zone: tz.name().to_string(),
        times: times
            .into_iter()
            .map(|t| (view::zoned(t, tz), view::utc_minutes(t), view::relative(t, ctx.now)))
            .collect(),
        error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_timing_is_not_sent_again() {
        let stored = FormValues { spec: "2020-01-01 09:00".into(), ..FormValues::default() };
        let same = FormValues { name: "x".into(), ..stored.clone() };
        let input = same.input(Some(&stored)).unwrap();
        assert!(input.when.is_none() && input.at.is_none() && input.until.is_none());
        let moved = FormValues { spec: "2030-01-01 09:00".into(), ..stored.clone() };
        assert_eq!(moved.input(Some(&stored)).unwrap().when.as_deref(), Some("2030-01-01 09:00"));
        // A form that still names the kind sends the typed field.
        let typed = FormValues { kind: "once".into(), ..moved };
        assert_eq!(typed.input(Some(&stored)).unwrap().at.as_deref(), Some("2030-01-01 09:00"));
    }

    #[test]
    fn the_form_has_one_timing_box() {
        let v = FormValues { spec: "every weekday at 9:00".into(), ..FormValues::default() };
        let html = ScheduleForm::new(None, v, Vec::new(), String::new()).render().unwrap();
        assert!(!html.contains("type=\"radio\""), "no kind to choose first: {html}");
        assert!(html.contains("name=\"spec\" value=\"every weekday at 9:00\""), "{html}");
    }

    #[test]
    fn refusals_read_as_sentences_without_the_field_name() {
        let e = AppError::invalid("id", "a run of this schedule was just queued for this instant");
        let (field, message) = split_error(e).unwrap();
        let form = ScheduleForm::new(None, FormValues::default(), Vec::new(), String::new())
            .with_error(Some((field, message)));
        assert_eq!(
            form.general_error().as_deref(),
            Some("A run of this schedule was just queued for this instant.")
        );
        assert_eq!(sentence("Minute 61 is out of range 0–59."), "Minute 61 is out of range 0–59.");
    }

    #[test]
    fn numbers_name_their_field() {
        let v = FormValues { kind: "cron".into(), retry_attempts: "five".into(), ..FormValues::default() };
        match v.input(None) {
            Err(AppError::Invalid { field, .. }) => assert_eq!(field, "retry_attempts"),
            other => panic!("{other:?}"),
        }
    }
}
