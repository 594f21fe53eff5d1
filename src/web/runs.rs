//! The Runs page (all runs, or one schedule's): newest first, filtered by state, read a page
//! at a time ("Show more" follows the cursor). Each run's summary line shows when it was due
//! against when it started and how long its delivery took; it opens into a full-width panel
//! with the output rendered from Markdown (sanitised), the error, the prompt, and the attempts
//! when there was more than one. Internals (the idempotency key) stay folded in that panel.
//! Runs are refreshed one at a time by live updates (`/runs/{id}/row`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::htmx::{self, is_htmx};
use super::{CurrentSession, Layout, html, view};
use crate::clock::from_ms;
use crate::db::Conn;
use crate::error::{AppError, PageError};
use crate::runs::{self, Attempt, Run, RunFilter, STATES};
use crate::schedules;
use crate::services::{Actor, Ctx};
use crate::web::AppState;

/// Runs per page.
const PAGE: i64 = 50;
/// A run that started later than this after it was due is marked late.
const LATE_MS: i64 = 60_000;

/// One delivery attempt, as the details show it.
pub struct AttemptItem {
    pub attempt: i32,
    pub started: String,
    pub duration: Option<String>,
    pub error: Option<String>,
}

/// A run as a row shows it.
pub struct RunItem {
    pub id: i32,
    pub schedule_id: Option<i32>,
    pub schedule_name: Option<String>,
    pub agent: String,
    pub trigger: String,
    pub state: &'static str,
    pub scheduled: String,
    pub scheduled_utc: String,
    pub started: Option<String>,
    pub started_utc: String,
    pub lateness: Option<String>,
    pub late: bool,
    /// How long the delivery took: the last attempt's time, not the time spent retrying.
    pub duration: Option<String>,
    /// "3 attempts over 7 min 46 s", for a run tried more than once.
    pub attempts_summary: Option<String>,
    /// "attempt 2 of 5", while a retried run is running or waiting.
    pub attempt_note: Option<String>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub next_attempt: Option<String>,
    pub key: String,
    pub priority: &'static str,
    pub prompt: String,
    pub output: Option<String>,
    /// The output rendered from Markdown and sanitised.
    pub output_html: Option<String>,
    pub error: Option<String>,
    pub attempts: Vec<AttemptItem>,
    /// The conversation the run posted its prompt and answer into.
    pub conversation: Option<i32>,
}

impl RunItem {
    pub fn new(run: &Run, schedule_name: Option<String>, attempts: &[Attempt], ctx: &Ctx) -> RunItem {
        let label = |ms: i64| view::instant_secs(from_ms(ms), ctx.tz, ctx.now);
        let lateness = run.lateness_ms();
        let state = run.shown_state();
        let output = run.output.clone().filter(|o| !o.trim().is_empty());
        // The delivery time is the last attempt's; the run's own span includes the waits
        // between retries.
        let last = attempts.last().and_then(|a| Some(a.finished_at? - a.started_at));
        let duration = if attempts.len() > 1 { last } else { last.or(run.duration_ms()) };
        let tried = attempts.len().max(usize::try_from(run.attempt).unwrap_or(0));
        let attempts_summary = (tried > 1).then(|| match (attempts.first(), run.finished_at) {
            (Some(first), Some(end)) => {
                format!("{tried} attempts over {}", view::millis(end - first.started_at))
            }
            _ => format!("{tried} attempts"),
        });
        let attempt_note = match state {
            "running" if run.attempt > 1 => Some(format!("attempt {} of {}", run.attempt, run.max_attempts)),
            "retrying" => Some(format!("{} of {} attempts failed", run.attempt, run.max_attempts)),
            _ => None,
        };
        RunItem {
            id: run.id,
            schedule_id: run.schedule_id,
            schedule_name,
            agent: run.agent.clone(),
            trigger: run.trigger.clone(),
            state,
            scheduled: label(run.scheduled_for),
            scheduled_utc: view::utc(from_ms(run.scheduled_for)),
            started: run.started_at.map(label),
            started_utc: run.started_at.map(|s| view::utc(from_ms(s))).unwrap_or_default(),
            lateness: lateness.map(view::millis),
            late: lateness.is_some_and(|l| l > LATE_MS),
            duration: duration.map(view::millis),
            attempts_summary,
            attempt_note,
            attempt: run.attempt,
            max_attempts: run.max_attempts,
            next_attempt: (state == "retrying").then(|| {
                format!("{} ({})", label(run.not_before), view::relative(from_ms(run.not_before), ctx.now))
            }),
            key: run.idempotency_key.clone(),
            priority: crate::schedules::priority_name(run.priority),
            prompt: run.prompt.clone(),
            output_html: output.as_deref().map(crate::chat::markdown::render),
            output,
            error: run.error.clone(),
            attempts: attempts
                .iter()
                .map(|a| AttemptItem {
                    attempt: a.attempt,
                    started: label(a.started_at),
                    duration: a.finished_at.map(|f| view::millis(f - a.started_at)),
                    error: a.error.clone(),
                })
                .collect(),
            conversation: None,
        }
    }

    /// The attempts are listed when there was more than one, or when the only one failed.
    fn shows_attempts(&self) -> bool {
        self.attempts.len() > 1 || self.attempts.iter().any(|a| a.error.is_some())
    }
}

/// The rows of a page of runs, with their schedules' names, their attempts and the
/// conversations they posted into, in one trip.
fn items(conn: &mut Conn, ctx: &Ctx, list: &[Run]) -> Result<Vec<RunItem>, AppError> {
    let names = runs::schedule_names(conn, list)?;
    let ids: Vec<i32> = list.iter().map(|r| r.id).collect();
    let posted = crate::chat::conversations_of_runs(conn, &ids)?;
    list.iter()
        .map(|r| {
            let attempts = runs::attempts(conn, r.id)?;
            let mut item =
                RunItem::new(r, r.schedule_id.and_then(|s| names.get(&s).cloned()), &attempts, ctx);
            item.conversation = posted.get(&r.id).copied();
            Ok(item)
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunsQuery {
    state: Option<String>,
    cursor: Option<String>,
}

impl RunsQuery {
    fn state(&self) -> Option<String> {
        self.state.as_deref().map(str::trim).filter(|s| !s.is_empty() && *s != "all").map(String::from)
    }

    fn cursor(&self) -> Result<Option<i32>, AppError> {
        match self.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => Ok(None),
            Some(c) => c
                .parse()
                .map(Some)
                .map_err(|_| AppError::invalid("cursor", format!("{c:?} is not a run number"))),
        }
    }

    fn filter(&self, schedule: Option<i32>) -> Result<RunFilter, AppError> {
        Ok(RunFilter { schedule, state: self.state(), limit: Some(PAGE), cursor: self.cursor()? })
    }
}

/// The address of the next page: the same filter, older runs.
fn more_url(base: &str, state: Option<&str>, cursor: Option<i32>) -> Option<String> {
    let cursor = cursor?;
    let mut pairs = vec![("cursor", cursor.to_string())];
    if let Some(s) = state {
        pairs.insert(0, ("state", s.to_string()));
    }
    Some(format!("{base}?{}", serde_urlencoded::to_string(pairs).unwrap_or_default()))
}

/// The table: what the filter swaps.
#[derive(Template, WebTemplate)]
#[template(path = "partials/run_table.html")]
pub struct RunTable {
    rows: Vec<RunItem>,
    more: Option<String>,
    /// A state filter or an older page: live updates refresh rows but add none.
    filtered: bool,
    /// Only this schedule's runs.
    schedule: Option<i32>,
}

/// The next page's rows, and the button for the one after.
#[derive(Template, WebTemplate)]
#[template(path = "partials/run_rows.html")]
pub struct RunRows {
    rows: Vec<RunItem>,
    more: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "partials/run_row.html")]
pub struct RunRow {
    r: RunItem,
}

#[derive(Template, WebTemplate)]
#[template(path = "runs.html")]
pub struct RunsPage {
    layout: Layout,
    base: String,
    /// The schedule whose runs these are: (id, name).
    schedule: Option<(i32, String)>,
    state: String,
    states: &'static [&'static str],
    table: RunTable,
}

struct Loaded {
    rows: Vec<RunItem>,
    next: Option<i32>,
    schedule_name: Option<String>,
    unread: i64,
}

async fn load(state: &web::Data<AppState>, filter: RunFilter) -> Result<Loaded, AppError> {
    state
        .run_as(Actor::Person, move |conn, ctx| {
            let (list, next) = runs::list(conn, &filter)?;
            let rows = items(conn, ctx, &list)?;
            let schedule_name = match filter.schedule {
                None => None,
                Some(id) => Some(match schedules::get(conn, id) {
                    Ok(s) => s.name,
                    // A deleted schedule's runs stay; its name is still known from them.
                    Err(AppError::NotFound(m)) => rows
                        .iter()
                        .find_map(|r| r.schedule_name.clone())
                        .map(|n| format!("{n} (deleted)"))
                        .ok_or(AppError::NotFound(m))?,
                    Err(e) => return Err(e),
                }),
            };
            Ok(Loaded { rows, next, schedule_name, unread: crate::notifications::unread_count(conn)? })
        })
        .await
}

async fn respond(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    query: RunsQuery,
    schedule: Option<i32>,
) -> Result<HttpResponse, PageError> {
    let filter = query.filter(schedule)?;
    let base = match schedule {
        Some(id) => format!("/schedules/{id}/runs"),
        None => "/runs".to_string(),
    };
    let wanted = query.state();
    let loaded = load(&state, filter.clone()).await?;
    let more = more_url(&base, wanted.as_deref(), loaded.next);
    if is_htmx(&req) && htmx::target(&req) == Some("runs-more") {
        return html(StatusCode::OK, &RunRows { rows: loaded.rows, more });
    }
    let table =
        RunTable { rows: loaded.rows, more, filtered: wanted.is_some() || filter.cursor.is_some(), schedule };
    if is_htmx(&req) && htmx::target(&req) == Some("runs") {
        return html(StatusCode::OK, &table);
    }
    let title = match &loaded.schedule_name {
        Some(name) => format!("Runs of {name}"),
        None => "Runs".to_string(),
    };
    let page = RunsPage {
        layout: Layout::new(title, "runs", &session.0).with_unread(loaded.unread),
        base,
        schedule: schedule.zip(loaded.schedule_name),
        state: wanted.unwrap_or_default(),
        states: &STATES,
        table,
    };
    html(StatusCode::OK, &page)
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, PageError> {
    respond(req, state, session, query.into_inner(), None).await
}

pub async fn of_schedule(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, PageError> {
    respond(req, state, session, query.into_inner(), Some(id.into_inner())).await
}

/// One row, for live updates.
pub async fn row(state: web::Data<AppState>, id: web::Path<i32>) -> Result<RunRow, PageError> {
    let id = id.into_inner();
    let r = state
        .run_as(Actor::Person, move |conn, ctx| {
            let run = runs::get(conn, id)?;
            let mut list = items(conn, ctx, std::slice::from_ref(&run))?;
            list.pop().ok_or_else(|| AppError::NotFound(format!("no run {id}")))
        })
        .await?;
    Ok(RunRow { r })
}

impl RunsPage {
    fn is_state(&self, s: &str) -> bool {
        self.state == s
    }

    /// How a state reads in the filter.
    fn state_label(&self, s: &str) -> &'static str {
        match s {
            "queued" => "Queued",
            "retrying" => "Waiting to retry",
            "running" => "Running",
            "succeeded" => "Succeeded",
            "failed" => "Failed",
            "cancelled" => "Cancelled",
            _ => "Other",
        }
    }
}
