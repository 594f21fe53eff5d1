//! The Today page (`/`): the day at a glance, one quick-add box for a task, an event or a
//! scheduled prompt, tasks completable in place, "what next" for the current context, and
//! stats drawn as SVG on the server. Every section is its own element, fetched again alone
//! (`/?section=tasks`) when a live event says it changed (app.js) or every few minutes (the
//! now-line moves). The data is [`crate::today::build`], the same the API's `/api/v1/today`
//! returns.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::htmx::{self, is_htmx};
use super::tasks::TaskItem;
use super::{CurrentSession, Layout, html, see_other, view};
use crate::error::{AppError, PageError};
use crate::services::{Actor, Ctx};
use crate::tasks::service::{self as task_service, MoveTo};
use crate::today::quickadd::{self, Kind, Parsed};
use crate::today::{self, Group, Parts, Today, charts};
use crate::web::AppState;

/// A task row on Today.
pub struct Row {
    pub item: TaskItem,
    /// Extra words after the title: "waiting 12 d", or the reasons of a suggestion.
    pub note: Option<String>,
    /// Why it is suggested (What next).
    pub reasons: Vec<crate::today::next::Reason>,
}

pub struct RowGroup {
    pub count: i64,
    pub rows: Vec<Row>,
    pub more: i64,
}

pub struct AgendaRow {
    pub title: String,
    pub when: String,
    pub location: Option<String>,
    /// `past`, `now` or `later`.
    pub state: &'static str,
    pub call: bool,
    /// The now-line goes just before this row.
    pub line_before: bool,
    pub event_id: i32,
}

pub struct FiringRow {
    pub schedule_id: i32,
    pub name: String,
    pub agent: String,
    pub when: String,
    pub relative: String,
    pub utc: String,
}

pub struct RunRow {
    pub id: i32,
    pub name: String,
    pub state: String,
    pub when: String,
    pub error: Option<String>,
}

pub struct NoteRow {
    pub title: String,
    pub level: String,
    pub when: String,
}

/// What the page's sections show, in words.
pub struct TodayView {
    pub csrf: String,
    pub date_label: String,
    pub zone: String,
    pub now_label: String,
    /// The selector's value (empty: the rules decide).
    pub chosen: String,
    pub contexts: Vec<String>,
    pub rule: Option<String>,
    pub choices: Vec<String>,
    pub agenda: Vec<AgendaRow>,
    pub line_at_end: bool,
    pub agenda_truncated: bool,
    pub overdue: RowGroup,
    pub due_today: RowGroup,
    pub priority: RowGroup,
    pub waiting: RowGroup,
    pub done_today: RowGroup,
    pub what_next: Vec<Row>,
    pub firings: Vec<FiringRow>,
    pub firings_more: usize,
    pub runs: Vec<RunRow>,
    pub unread: i64,
    pub notifications: Vec<NoteRow>,
    pub done_chart: String,
    pub runs_chart: String,
    /// Project, open tasks, its bar.
    pub projects: Vec<(String, i64, String)>,
    pub projects_more: usize,
    pub runs_summary: String,
    pub done_first: String,
    pub done_last: String,
    /// `&context=work` to keep the selector's choice in section URLs.
    pub query: String,
}

fn rows(g: &Group, ctx: &Ctx) -> RowGroup {
    RowGroup {
        count: g.count,
        rows: g
            .tasks
            .iter()
            .map(|t| Row { item: TaskItem::new(t, ctx), note: None, reasons: Vec::new() })
            .collect(),
        more: g.more(),
    }
}

fn short(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        return text.to_string();
    }
    text.chars().take(most - 1).chain(std::iter::once('…')).collect()
}

impl TodayView {
    pub fn new(t: &Today, ctx: &Ctx, chosen: &str, csrf: String) -> TodayView {
        let tz = t.tz;
        let now = t.now;
        let local = now.with_timezone(&tz);
        // The now-line: before the first timed event that has not started yet.
        let mut line_placed = false;
        let agenda = t
            .agenda
            .iter()
            .map(|a| {
                let o = &a.occurrence;
                let (start, end) = today::day_bounds(t.date, tz);
                let when = if o.all_day {
                    "All day".to_string()
                } else {
                    let s = if o.start_at < start {
                        "(earlier)".to_string()
                    } else {
                        o.start_at.with_timezone(&tz).format("%H:%M").to_string()
                    };
                    let e = if o.end_at > end {
                        "(later)".to_string()
                    } else {
                        o.end_at.with_timezone(&tz).format("%H:%M").to_string()
                    };
                    format!("{s}–{e}")
                };
                let state = if o.all_day || a.now {
                    "now"
                } else if o.end_at <= now {
                    "past"
                } else {
                    "later"
                };
                let line_before = !line_placed && !o.all_day && o.start_at > now;
                line_placed |= line_before;
                AgendaRow {
                    title: o.title.clone(),
                    when,
                    location: o.location.clone().filter(|l| !l.trim().is_empty()),
                    state,
                    call: a.call,
                    line_before,
                    event_id: o.event_id,
                }
            })
            .collect();
        let waiting = RowGroup {
            count: t.waiting.count,
            rows: t
                .waiting
                .tasks
                .iter()
                .map(|task| {
                    let since = task.created_at.and_utc();
                    let days = (now - since).num_days();
                    let note = match days {
                        0 => "waiting since today".to_string(),
                        1 => "waiting 1 day".to_string(),
                        n => format!("waiting {n} days"),
                    };
                    Row { item: TaskItem::new(task, ctx), note: Some(note), reasons: Vec::new() }
                })
                .collect(),
            more: t.waiting.more(),
        };
        let query = if chosen.is_empty() {
            String::new()
        } else {
            format!("&{}", serde_urlencoded::to_string([("context", chosen)]).unwrap_or_default())
        };
        TodayView {
            csrf,
            date_label: local.format("%A %-d %B %Y").to_string(),
            zone: tz.name().to_string(),
            now_label: local.format("%H:%M").to_string(),
            chosen: chosen.to_string(),
            contexts: t.context.contexts.clone(),
            rule: t.context.rule.clone(),
            choices: t.context.choices.clone(),
            agenda,
            line_at_end: !line_placed,
            agenda_truncated: t.agenda_truncated,
            overdue: rows(&t.overdue, ctx),
            due_today: rows(&t.due_today, ctx),
            priority: rows(&t.priority, ctx),
            waiting,
            done_today: rows(&t.done_today, ctx),
            what_next: t
                .what_next
                .iter()
                .map(|s| Row { item: TaskItem::new(&s.task, ctx), note: None, reasons: s.reasons.clone() })
                .collect(),
            firings: t
                .firings
                .iter()
                .map(|f| FiringRow {
                    schedule_id: f.schedule_id,
                    name: f.name.clone(),
                    agent: f.agent.clone(),
                    when: view::instant(f.at, tz, now),
                    relative: view::relative(f.at, now),
                    utc: view::utc(f.at),
                })
                .collect(),
            firings_more: t.firings_more,
            runs: t
                .runs
                .iter()
                .map(|r| RunRow {
                    id: r.id,
                    name: r.name.clone().unwrap_or_else(|| "A one-off run".into()),
                    state: r.state.clone(),
                    when: view::instant(r.finished_at.unwrap_or(r.scheduled_for), tz, now),
                    error: r.error.as_deref().map(|e| short(e, 120)),
                })
                .collect(),
            unread: t.unread,
            notifications: t
                .notifications
                .iter()
                .map(|n| NoteRow {
                    title: n.title.clone(),
                    level: n.level.clone(),
                    when: view::instant(n.created(), tz, now),
                })
                .collect(),
            done_chart: charts::done_per_day(&t.stats.done_per_day),
            runs_chart: charts::success_ring(t.stats.runs_succeeded, t.stats.runs_failed),
            projects: {
                let most = t.stats.projects.first().map_or(0, |(_, n)| *n);
                t.stats.projects.iter().map(|(p, n)| (p.clone(), *n, charts::bar(*n, most))).collect()
            },
            projects_more: t.stats.projects_more,
            runs_summary: match t.stats.success_rate() {
                Some(rate) => format!(
                    "{rate:.0}% ({} of {})",
                    t.stats.runs_succeeded,
                    t.stats.runs_succeeded + t.stats.runs_failed
                ),
                None => "No runs finished".into(),
            },
            done_first: t
                .stats
                .done_per_day
                .first()
                .map(|(d, _)| d.format("%-d %b").to_string())
                .unwrap_or_default(),
            done_last: t
                .stats
                .done_per_day
                .last()
                .map(|(d, _)| d.format("%-d %b").to_string())
                .unwrap_or_default(),
            query,
        }
    }

    fn is_chosen(&self, c: &str) -> bool {
        self.chosen == c
    }

    /// A context chosen that no open task uses (kept in the selector).
    fn chosen_unlisted(&self) -> bool {
        !self.chosen.is_empty() && !self.choices.contains(&self.chosen)
    }

    fn more_unread(&self) -> bool {
        self.unread > self.notifications.len() as i64
    }
}

/// The quick-add form: its text and error survive a refused add.
#[derive(Template, WebTemplate, Default)]
#[template(path = "partials/today_add.html")]
pub struct AddForm {
    pub text: String,
    pub error: Option<String>,
    pub csrf: String,
    /// After an add: the cursor goes back in.
    pub focus: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "today.html")]
pub struct TodayPage {
    layout: Layout,
    v: TodayView,
    add: AddForm,
    /// The first-run card that offers to turn the briefings on.
    offer_briefings: bool,
    /// The sections are in place, not swapped out of band.
    oob: bool,
}

/// One section alone (`agenda`, `tasks`, `schedules`, `notifications`, `stats`), for a live
/// refresh; `oob` wraps it for an out-of-band swap beside another answer.
#[derive(Template, WebTemplate)]
#[template(path = "partials/today_section.html")]
pub struct Section {
    v: TodayView,
    section: &'static str,
    oob: bool,
}

#[derive(Deserialize, Default)]
pub struct TodayQuery {
    #[serde(default)]
    context: String,
    section: Option<String>,
}

fn section_name(name: &str) -> Option<&'static str> {
    ["agenda", "tasks", "schedules", "notifications", "stats"].into_iter().find(|s| *s == name)
}

/// Reads Today (the parts asked for) and puts it into words.
async fn load(
    state: &AppState,
    chosen: String,
    parts: Parts,
    csrf: String,
) -> Result<(TodayView, i64), AppError> {
    state
        .run_as(Actor::Person, move |conn, ctx| {
            let t = today::build(conn, ctx, Some(&chosen), parts)?;
            let unread = if parts.notifications { t.unread } else { 0 };
            Ok((TodayView::new(&t, ctx, &chosen, csrf), unread))
        })
        .await
}

/// Sections rendered for an out-of-band swap.
async fn sections(
    state: &AppState,
    chosen: String,
    names: &[&'static str],
    csrf: String,
) -> Result<Vec<Section>, AppError> {
    let mut out = Vec::new();
    for name in names {
        let parts = Parts::only(name).unwrap_or(Parts::NONE);
        let (v, _) = load(state, chosen.clone(), parts, csrf.clone()).await?;
        out.push(Section { v, section: name, oob: true });
    }
    Ok(out)
}

/// `GET /`: the page, or one section (`?section=tasks`) for a live refresh.
pub async fn page(
    state: web::Data<AppState>,
    session: CurrentSession,
    query: web::Query<TodayQuery>,
) -> Result<HttpResponse, PageError> {
    let TodayQuery { context, section } = query.into_inner();
    let chosen = context.trim().trim_start_matches('@').to_string();
    let csrf = session.0.csrf_token.clone();
    if let Some(name) = section.as_deref() {
        let name = section_name(name)
            .ok_or_else(|| AppError::invalid("section", format!("{name:?} is not a section of Today")))?;
        let parts = Parts::only(name).unwrap_or(Parts::NONE);
        let (v, _) = load(&state, chosen, parts, csrf).await?;
        return html(StatusCode::OK, &Section { v, section: name, oob: false });
    }
    let (v, unread) = load(&state, chosen, Parts::ALL, csrf.clone()).await?;
    let offer_briefings = state.run_as(Actor::Person, crate::briefings::offer_briefings).await?;
    let page = TodayPage {
        layout: Layout::new("Today", "today", &session.0).with_unread(unread),
        v,
        add: AddForm { csrf, ..Default::default() },
        offer_briefings,
        oob: false,
    };
    html(StatusCode::OK, &page)
}

/// "Not now" on the offer to turn briefings on.
pub async fn dismiss_briefings_offer(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    state.db.run(crate::briefings::dismiss_offer).await?;
    Ok(see_other("/"))
}

#[derive(Deserialize)]
pub struct AddInput {
    #[serde(default)]
    text: String,
    #[serde(default)]
    context: String,
}

/// `POST /today/add`: the one quick-add box.
pub async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<AddInput>,
) -> Result<HttpResponse, PageError> {
    let AddInput { text, context } = form.into_inner();
    let csrf = session.0.csrf_token.clone();
    match quickadd::add(&state.services, Actor::Person, &text).await {
        Ok(added) => {
            if !is_htmx(&req) {
                return Ok(see_other("/"));
            }
            let names: &[&'static str] = match added.kind {
                Kind::Task => &["tasks", "stats"],
                Kind::Event => &["agenda"],
                Kind::Prompt => &["schedules"],
            };
            let parts = sections(&state, context, names, csrf.clone()).await?;
            let form = AddForm { csrf, focus: true, ..Default::default() };
            let mut fragments: Vec<&dyn askama::DynTemplate> = vec![&form];
            fragments.extend(parts.iter().map(|s| s as &dyn askama::DynTemplate));
            let what = match added.kind {
                Kind::Task => "task",
                Kind::Event => "event",
                Kind::Prompt => "scheduled prompt",
            };
            htmx::with_toast(&fragments, &format!("Added {what} “{}”", short(&added.title, 80)))
        }
        Err(AppError::Invalid { field, message }) => {
            let form = AddForm {
                text,
                error: Some(crate::error::sentence(&field, &message)),
                csrf: csrf.clone(),
                focus: false,
            };
            if is_htmx(&req) {
                return htmx::invalid_form(&form, "#today-add");
            }
            let (v, unread) = load(&state, context, Parts::ALL, csrf).await?;
            let page = TodayPage {
                layout: Layout::new("Today", "today", &session.0).with_unread(unread),
                v,
                add: form,
                // A refused quick-add is about the box; the offer waits for the next visit.
                offer_briefings: false,
                oob: false,
            };
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

/// What the box will add, while the person types.
#[derive(Template, WebTemplate)]
#[template(path = "partials/today_preview.html")]
pub struct Preview {
    kind: Option<&'static str>,
    forced: bool,
    title: String,
    details: Vec<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct PreviewQuery {
    #[serde(default)]
    text: String,
}

pub async fn preview(
    state: web::Data<AppState>,
    query: web::Query<PreviewQuery>,
) -> Result<Preview, PageError> {
    let text = query.into_inner().text;
    let empty = Preview { kind: None, forced: false, title: String::new(), details: Vec::new(), error: None };
    if text.trim().is_empty() {
        return Ok(empty);
    }
    let ctx = state.run_as(Actor::Person, |_, ctx| Ok(*ctx)).await?;
    let now = ctx.local_now();
    let (kind, forced, _) = quickadd::decide(&text, now);
    let mut p = Preview { kind: Some(kind.label()), forced, ..empty };
    match quickadd::parse(&text, now) {
        Ok(Parsed::Task(q)) => {
            let line = crate::tasks::todotxt::TodoLine {
                done: false,
                completed: None,
                priority: q.priority,
                created: Some(ctx.today()),
                body: q.body,
            };
            let d = crate::tasks::Derived::of(&line, ctx.tz);
            p.title = d.title.clone();
            if let Some(pr) = line.priority {
                p.details.push(format!("priority {pr}"));
            }
            let body = crate::tasks::todotxt::parse_body(&line.body);
            if let Some(due) = body.tags.iter().find(|(k, _)| k == "due")
                && let Ok(due) = crate::tasks::todotxt::Due::parse(&due.1, ctx.tz)
            {
                p.details.push(format!("due {}", view::due(&due, ctx.tz, ctx.now)));
            }
            if let Some(rec) = &d.recurrence {
                p.details.push(format!("repeats {rec}"));
            }
            p.details.extend(body.projects.iter().map(|x| format!("+{x}")));
            p.details.extend(body.contexts.iter().map(|x| format!("@{x}")));
        }
        Ok(Parsed::Event(draft)) => {
            p.title = draft.title.clone();
            let (start, end) = draft.start_end_text();
            p.details.push(if draft.all_day() {
                format!("all day {start} to {end} (end exclusive)").replace(" to ", " – ")
            } else {
                format!("{} – {} {}", start.replace('T', " "), end.replace('T', " "), draft.zone.name())
            });
            if let Some(l) = &draft.location {
                p.details.push(format!("at {l}"));
            }
            if draft.rrule.is_some() {
                p.details.push("repeats".into());
            }
        }
        Ok(Parsed::Prompt(prompt)) => {
            p.title = short(&prompt.prompt, 120);
            p.details.push(prompt.spec.describe(ctx.tz));
            if let Some(next) = prompt.spec.next_after(ctx.now, ctx.tz, ctx.now) {
                p.details.push(format!("first {}", view::instant(next, ctx.tz, ctx.now)));
            }
            p.details.push("to the default agent".into());
        }
        Err(e) => p.error = Some(e.client_message()),
    }
    Ok(p)
}

#[derive(Deserialize)]
pub struct ToggleForm {
    /// The checkbox: present when ticked.
    done: Option<String>,
    #[serde(default)]
    context: String,
}

/// `POST /today/tasks/{id}/toggle`: completes (or reopens) a task in place; the tasks section
/// comes back.
pub async fn toggle(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    form: web::Form<ToggleForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let ToggleForm { done, context } = form.into_inner();
    let done = done.is_some_and(|v| v == "true" || v == "on");
    let (task, next) = state
        .run_as(Actor::Person, move |conn, ctx| {
            let (task, next) = task_service::set_done(conn, ctx, id, done)?;
            Ok((task, next))
        })
        .await?;
    task_service::announce(&state.events, Some(id));
    if !is_htmx(&req) {
        return Ok(see_other("/"));
    }
    let mut parts = sections(&state, context, &["tasks"], session.0.csrf_token).await?;
    let Some(mut section) = parts.pop() else {
        return Err(AppError::Internal(anyhow::anyhow!("no section")).into());
    };
    section.oob = false;
    let message = match next {
        Some(next) => format!("Completed “{}”; the next one is added", short(&next.title, 80)),
        None if task.done => format!("Completed “{}”", short(&task.title, 80)),
        None => format!("Reopened “{}”", short(&task.title, 80)),
    };
    htmx::with_toast(&[&section], &message)
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    context: String,
}

/// `POST /today/overdue/move`: every overdue task to today or tomorrow.
pub async fn move_overdue(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<MoveForm>,
) -> Result<HttpResponse, PageError> {
    let MoveForm { to, context } = form.into_inner();
    let to = MoveTo::parse(&to)?;
    let moved =
        state.run_as(Actor::Person, move |conn, ctx| task_service::move_overdue(conn, ctx, to)).await?;
    task_service::announce(&state.events, None);
    if !is_htmx(&req) {
        return Ok(see_other("/"));
    }
    let mut parts = sections(&state, context, &["tasks"], session.0.csrf_token).await?;
    let Some(mut section) = parts.pop() else {
        return Err(AppError::Internal(anyhow::anyhow!("no section")).into());
    };
    section.oob = false;
    let day = if to == MoveTo::Today { "today" } else { "tomorrow" };
    let message = match moved {
        1 => format!("Moved 1 task to {day}"),
        n => format!("Moved {n} tasks to {day}"),
    };
    htmx::with_toast(&[&section], &message)
}

/// The context rules' page (a Settings sub-page).
#[derive(Template, WebTemplate)]
#[template(path = "settings_context.html")]
pub struct ContextPage {
    layout: Layout,
    rules: String,
    defaults: &'static str,
    error: Option<String>,
    saved: bool,
    /// What the rules say now.
    now_says: String,
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

async fn context_page(
    state: &AppState,
    session: &CurrentSession,
    typed: Option<String>,
    error: Option<String>,
    saved: bool,
) -> Result<ContextPage, AppError> {
    let (stored, now_says) = state
        .run_as(Actor::Person, |conn, ctx| {
            let text = today::rules_text(conn)?;
            let rules = crate::today::context::parse_rules(&text).unwrap_or_default();
            let says = match crate::today::context::infer(&rules, ctx.local_now().naive_local(), false) {
                Some(r) => format!(
                    "Now ({} {}): {} (from “{}”).",
                    ctx.local_now().format("%a %H:%M"),
                    ctx.tz.name(),
                    r.contexts.iter().map(|c| format!("@{c}")).collect::<Vec<_>>().join(" "),
                    r.line
                ),
                None => format!(
                    "Now ({} {}): no rule applies.",
                    ctx.local_now().format("%a %H:%M"),
                    ctx.tz.name()
                ),
            };
            Ok((text, says))
        })
        .await?;
    Ok(ContextPage {
        layout: Layout::new("Context rules", "settings", &session.0),
        rules: typed.unwrap_or(stored),
        defaults: crate::today::context::DEFAULT_RULES,
        error,
        saved,
        now_says,
    })
}

pub async fn context_rules(
    state: web::Data<AppState>,
    session: CurrentSession,
    query: web::Query<SavedQuery>,
) -> Result<HttpResponse, PageError> {
    let saved = query.into_inner().saved.is_some();
    html(StatusCode::OK, &context_page(&state, &session, None, None, saved).await?)
}

#[derive(Deserialize)]
pub struct RulesForm {
    #[serde(default)]
    rules: String,
}

pub async fn save_context_rules(
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<RulesForm>,
) -> Result<HttpResponse, PageError> {
    let rules = form.into_inner().rules;
    let typed = rules.clone();
    match state.db.run(move |conn| today::save_rules(conn, &rules)).await {
        Ok(()) => Ok(see_other("/settings/context?saved=1")),
        Err(e @ AppError::Invalid { .. }) => {
            let page = context_page(&state, &session, Some(typed), Some(e.client_message()), false).await?;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /manifest.webmanifest`: what a phone needs to install Steward to its home screen.
/// Public (browsers fetch it without cookies); it says nothing but the name and icons.
pub async fn manifest() -> HttpResponse {
    let body = serde_json::json!({
        "name": "Steward",
        "short_name": "Steward",
        "description": "Your tasks, calendar, schedules and agent in one place.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f7f7f4",
        "theme_color": "#2f6f5e",
        "icons": [
            {"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml"},
            {"src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"}
        ],
    });
    HttpResponse::Ok()
        .content_type("application/manifest+json")
        .insert_header(("Cache-Control", "no-cache"))
        .body(body.to_string())
}
