//! The Tasks page: groups read in slices, filters kept in the URL, quick-add with a live
//! preview, inline complete/edit/delete with undo, todo.txt import and export.
//! Each handler answers htmx with the fragment it swaps and a plain browser with a full page
//! or a redirect, so the page works without JavaScript too.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use futures_util::StreamExt;
use serde::Deserialize;

use super::htmx::{self, is_htmx};
use super::{CurrentSession, Layout, html, see_other, view};
use crate::db::Conn;
use crate::error::{AppError, PageError};
use crate::services::{Actor, Ctx};
use crate::tasks::query::{self, GroupSlice, StatusFilter};
use crate::tasks::recur::{Recurrence, Unit};
use crate::tasks::service::{self, ImportReport};
use crate::tasks::todotxt::{self, Due};
use crate::tasks::{Filter, Group, Task, TaskPatch, quickadd};
use crate::web::AppState;

/// Tasks shown per group before "Show more" (30 keeps the page under 10 ms at p99 with
/// 10,000 tasks; see bench_tasks).
pub const SLICE: i64 = 30;
/// The largest todo.txt file the page accepts.
const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

/// A task as a row on the page shows it.
pub struct TaskItem {
    pub id: i32,
    pub title: String,
    pub done: bool,
    pub priority: Option<String>,
    pub projects: Vec<String>,
    pub contexts: Vec<String>,
    pub due_label: Option<String>,
    /// `overdue`, `today`, `upcoming` or empty: a CSS class.
    pub due_state: &'static str,
    pub threshold: Option<String>,
    pub recurrence: Option<String>,
    pub extra: Vec<(String, String)>,
    /// Who added it (and, for an agent, from which conversation: linked from the row).
    pub created_by: Actor,
    // The edit form's values: the due as the person reads it, in their zone
    // (`2026-12-03 17:00`, `2026-12-03`), and its day for the date picker.
    pub due_input: String,
    pub due_day: String,
    pub recurrence_input: String,
    /// `1d, 10m`, `none`, or empty for the defaults.
    pub reminders_input: String,
}

/// Titles longer than this many characters are clamped to a few lines, with "Show all".
const LONG_TITLE: usize = 140;

impl TaskItem {
    pub fn new(task: &Task, ctx: &Ctx) -> TaskItem {
        let (due, extra) = task.due_and_extra(ctx.tz);
        TaskItem {
            id: task.id,
            title: task.title.clone(),
            done: task.done,
            priority: task.priority.clone(),
            projects: task.project_list().into_iter().map(String::from).collect(),
            contexts: task.context_list().into_iter().map(String::from).collect(),
            due_label: due.as_ref().map(|d| view::due(d, ctx.tz, ctx.now)),
            due_state: crate::tasks::due_state(task, ctx.now, ctx.today()),
            threshold: task.threshold.map(|t| view::day(t, ctx.today())),
            recurrence: task
                .recurrence
                .as_deref()
                .and_then(|r| Recurrence::parse(r).ok())
                .map(|r| recurrence_label(&r)),
            extra,
            created_by: Actor::stored(&task.created_by, task.created_in),
            due_input: due.as_ref().map(|d| due_input(d, ctx)).unwrap_or_default(),
            due_day: due.as_ref().map(|d| d.date_in(ctx.tz).to_string()).unwrap_or_default(),
            recurrence_input: task.recurrence.clone().unwrap_or_default(),
            reminders_input: crate::reminders::task_leads(&task.body)
                .map(|l| crate::reminders::leads_text(&l).replace(',', ", "))
                .unwrap_or_default(),
        }
    }

    /// Whether the title is clamped in the list (it can be expanded).
    pub fn long_title(&self) -> bool {
        self.title.chars().count() > LONG_TITLE
    }

    pub fn projects_input(&self) -> String {
        self.projects.join(" ")
    }

    pub fn contexts_input(&self) -> String {
        self.contexts.join(" ")
    }

    pub fn extra_input(&self) -> String {
        self.extra.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(" ")
    }
}

/// A due as the edit form shows it: the day, and the time in the person's zone.
fn due_input(due: &Due, ctx: &Ctx) -> String {
    match due {
        Due::Date(d) => d.to_string(),
        Due::At(at) => view::input(at.to_utc(), ctx.tz),
    }
}

/// A title for a toast: at most 80 characters.
fn short(title: &str) -> String {
    if title.chars().count() <= 80 {
        return title.to_string();
    }
    let mut s: String = title.chars().take(79).collect();
    s.push('…');
    s
}

fn recurrence_label(r: &Recurrence) -> String {
    let (one, many) = match r.unit {
        Unit::Day => ("daily", "days"),
        Unit::BusinessDay => ("every weekday", "weekdays"),
        Unit::Week => ("weekly", "weeks"),
        Unit::Month => ("monthly", "months"),
        Unit::Year => ("yearly", "years"),
    };
    let base = if r.every == 1 { one.to_string() } else { format!("every {} {many}", r.every) };
    if r.strict { base } else { format!("{base} after done") }
}

/// One group on the page.
pub struct GroupView {
    pub slug: &'static str,
    pub label: &'static str,
    pub count: i64,
    pub tasks: Vec<TaskItem>,
    pub next_offset: Option<i64>,
    pub open: bool,
}

/// The filterable list: every group's first slice.
#[derive(Template, WebTemplate)]
#[template(path = "partials/task_list.html")]
pub struct TaskList {
    pub groups: Vec<GroupView>,
    pub query: String,
    pub csrf: String,
    pub filtered: bool,
    /// Rendered as an out-of-band swap (beside another answer, like an import's report).
    pub oob: bool,
    /// Why the filters could not be applied (a search of too many words), shown instead.
    pub problem: Option<String>,
}

/// The filter menus of projects and contexts: swapped out of band after a change that can add
/// or remove one, so the menus list what the tasks use.
#[derive(Template, WebTemplate)]
#[template(path = "partials/task_facets.html")]
pub struct Facets {
    projects: Vec<String>,
    contexts: Vec<String>,
    project: String,
    context: String,
    oob: bool,
}

impl Facets {
    fn new(projects: Vec<String>, contexts: Vec<String>, filter: &Filter, oob: bool) -> Facets {
        let chosen = |field: &Option<String>, sigil: char| {
            field.as_deref().map(|v| v.trim().trim_start_matches(sigil).to_string()).unwrap_or_default()
        };
        let (project, context) = (chosen(&filter.project, '+'), chosen(&filter.context, '@'));
        // The chosen one stays in its menu even when no task uses it any more.
        let keep = |mut list: Vec<String>, chosen: &str| {
            if !chosen.is_empty() && !list.iter().any(|p| p == chosen) {
                list.push(chosen.to_string());
                list.sort();
            }
            list
        };
        Facets {
            projects: keep(projects, &project),
            contexts: keep(contexts, &context),
            project,
            context,
            oob,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "tasks.html")]
pub struct TasksPage {
    layout: Layout,
    filter: Filter,
    facets: Facets,
    list: TaskList,
    quick_add: QuickAddForm,
    import_report: ImportReportView,
}

/// What an import did, above the list. Empty until an import: the import form's htmx answer
/// is swapped in its place; a plain form is redirected to `/tasks?imported=N&unreadable=M`.
#[derive(Template, WebTemplate, Default)]
#[template(path = "partials/task_import.html")]
pub struct ImportReportView {
    report: Option<ImportReport>,
    /// Values that could not be read, when only their number is known (after a redirect).
    unreadable: usize,
}

impl ImportReportView {
    fn unreadable(&self) -> usize {
        self.report.as_ref().map_or(0, |r| r.problems.len()).max(self.unreadable)
    }
}

/// The quick-add form: its text and error survive a failed submit.
#[derive(Template, WebTemplate, Default)]
#[template(path = "partials/quick_add.html")]
pub struct QuickAddForm {
    pub text: String,
    pub error: Option<String>,
    pub csrf: String,
    /// Rendered as an out-of-band swap (after a successful add).
    pub oob: bool,
}

/// Priorities offered in menus (todo.txt allows A-Z; few people use more than these).
const PRIORITIES: [&str; 6] = ["A", "B", "C", "D", "E", "F"];

impl TaskList {
    fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.count == 0)
    }
}

impl TasksPage {
    /// A filter field's value, empty when unset (for `selected` and `value=`).
    fn value<'a>(&self, field: &'a Option<String>) -> &'a str {
        field.as_deref().unwrap_or("")
    }

    fn selected(&self, field: &Option<String>, value: impl AsRef<str>) -> bool {
        field.as_deref() == Some(value.as_ref())
    }

    fn priorities(&self) -> &'static [&'static str] {
        &PRIORITIES
    }
}

impl EditRow {
    fn priorities(&self) -> &'static [&'static str] {
        &PRIORITIES
    }

    fn is_priority(&self, p: impl AsRef<str>) -> bool {
        self.task.priority.as_deref() == Some(p.as_ref())
    }
}

/// The filter's query string, to keep filters across requests.
fn query_string(filter: &Filter) -> String {
    let pairs: Vec<(&str, &str)> = [
        ("q", &filter.q),
        ("project", &filter.project),
        ("context", &filter.context),
        ("priority", &filter.priority),
        ("status", &filter.status),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v)))
    .collect();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// The list under the filters: what htmx swaps after a filter change or a quick-add.
async fn load_list(state: &web::Data<AppState>, filter: Filter, csrf: String) -> Result<TaskList, AppError> {
    let st = state.clone();
    state.db.run(move |conn| list_in(conn, &st, &filter, csrf)).await
}

fn list_in(conn: &mut Conn, state: &AppState, filter: &Filter, csrf: String) -> Result<TaskList, AppError> {
    let ctx = state.ctx(conn, Actor::Person)?;
    let status = filter.status()?;
    // The done group starts collapsed: its rows are read when it is opened.
    let collapsed: &[Group] = if status == StatusFilter::Done { &[] } else { &[Group::Done] };
    let slices = match query::overview(conn, &ctx, filter, SLICE, collapsed) {
        Ok(slices) => slices,
        // A search that cannot run (too many words) is said in the list, under the search box.
        Err(e @ AppError::Invalid { .. }) if e.field() == Some("q") => {
            let problem = Some(e.client_message());
            let query = query_string(filter);
            return Ok(TaskList { groups: Vec::new(), query, csrf, filtered: true, oob: false, problem });
        }
        Err(e) => return Err(e),
    };
    let groups = slices.into_iter().map(|s| group_view(s, &ctx, collapsed)).collect();
    let query = query_string(filter);
    Ok(TaskList { groups, query, csrf, filtered: filter.is_active(), oob: false, problem: None })
}

/// The filters of the page the request came from (htmx says which in `HX-Current-URL`), so
/// that a list re-read after an action shows what the person was looking at.
fn page_filter(req: &HttpRequest) -> Filter {
    let url = req.headers().get("HX-Current-URL").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some((path, query)) = url.split('#').next().unwrap_or("").split_once('?') else {
        return Filter::default();
    };
    if !path.ends_with("/tasks") {
        return Filter::default();
    }
    let mut filter: Filter = serde_urlencoded::from_str(query).unwrap_or_default();
    if filter.status().is_err() {
        filter.status = None;
    }
    filter
}

/// The list and the filter menus as they are now, for an answer after an action.
async fn list_and_facets(
    state: &web::Data<AppState>,
    filter: Filter,
    csrf: String,
) -> Result<(TaskList, Facets), AppError> {
    let st = state.clone();
    state
        .db
        .run(move |conn| {
            let list = list_in(conn, &st, &filter, csrf)?;
            let (projects, contexts) = query::facets(conn)?;
            Ok((list, Facets::new(projects, contexts, &filter, true)))
        })
        .await
}

/// The whole page: the list plus the filter menus' projects and contexts.
async fn full_page(
    state: &web::Data<AppState>,
    session: &CurrentSession,
    filter: Filter,
    quick_add: Option<QuickAddForm>,
    import_report: ImportReportView,
) -> Result<TasksPage, AppError> {
    let csrf = session.0.csrf_token.clone();
    let (st, f, c) = (state.clone(), filter.clone(), csrf.clone());
    let (list, (projects, contexts)) =
        state.db.run(move |conn| Ok((list_in(conn, &st, &f, c)?, query::facets(conn)?))).await?;
    Ok(TasksPage {
        layout: Layout::new("Tasks", "tasks", &session.0),
        facets: Facets::new(projects, contexts, &filter, false),
        filter,
        list,
        quick_add: quick_add.unwrap_or(QuickAddForm { csrf, ..Default::default() }),
        import_report,
    })
}

fn group_view(slice: GroupSlice, ctx: &Ctx, collapsed: &[Group]) -> GroupView {
    GroupView {
        slug: slice.group.slug(),
        label: slice.group.label(),
        count: slice.count,
        tasks: slice.tasks.iter().map(|t| TaskItem::new(t, ctx)).collect(),
        next_offset: slice.next_offset,
        open: !collapsed.contains(&slice.group),
    }
}

/// What a plain import form is redirected to show: `/tasks?imported=N&unreadable=M`.
#[derive(Deserialize)]
pub struct ImportNotice {
    // Text, read leniently: a hand-edited URL shows no notice rather than an error.
    imported: Option<String>,
    unreadable: Option<String>,
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    filter: web::Query<Filter>,
    notice: web::Query<ImportNotice>,
) -> Result<HttpResponse, PageError> {
    let filter = filter.into_inner();
    if is_htmx(&req) && htmx::target(&req) == Some("task-list") {
        return html(StatusCode::OK, &load_list(&state, filter, session.0.csrf_token).await?);
    }
    let notice = notice.into_inner();
    let report = ImportReportView {
        report: notice
            .imported
            .and_then(|n| n.parse().ok())
            .map(|imported| ImportReport { imported, problems: Vec::new() }),
        unreadable: notice.unreadable.and_then(|n| n.parse().ok()).unwrap_or(0),
    };
    let page = full_page(&state, &session, filter, None, report).await?;
    html(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    text: String,
    #[serde(flatten)]
    filter: Filter,
}

pub async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, PageError> {
    let AddForm { text, filter } = form.into_inner();
    let csrf = session.0.csrf_token.clone();
    let input = text.clone();
    let added = state.run_as(Actor::Person, move |conn, ctx| service::add_text(conn, ctx, &input)).await;
    match added {
        Ok(task) => {
            service::announce(&state.events, Some(task.id));
            if !is_htmx(&req) {
                return Ok(see_other(&format!("/tasks?{}", query_string(&filter))));
            }
            let (list, facets) = list_and_facets(&state, filter, csrf.clone()).await?;
            let form = QuickAddForm { csrf, oob: true, ..Default::default() };
            htmx::with_toast(&[&list, &form, &facets], &format!("Added “{}”", short(&task.title)))
        }
        Err(AppError::Invalid { field, message }) => {
            let form = QuickAddForm {
                text,
                error: Some(crate::error::sentence(&field, &message)),
                csrf: csrf.clone(),
                oob: false,
            };
            if is_htmx(&req) {
                return htmx::invalid_form(&form, "#quick-add");
            }
            let page = full_page(&state, &session, filter, Some(form), ImportReportView::default()).await?;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

/// What quick-add will create, shown while the person types.
#[derive(Template, WebTemplate)]
#[template(path = "partials/preview.html")]
pub struct Preview {
    task: Option<TaskItem>,
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
    if text.trim().is_empty() {
        return Ok(Preview { task: None, error: None });
    }
    let ctx = state.run_as(Actor::Person, |_, ctx| Ok(*ctx)).await?;
    Ok(match quickadd::parse(&text, ctx.local_now()) {
        Ok(parsed) => {
            let line = todotxt::TodoLine {
                done: false,
                completed: None,
                priority: parsed.priority,
                created: Some(ctx.today()),
                body: parsed.body,
            };
            Preview { task: Some(TaskItem::new(&preview_task(&line, &ctx), &ctx)), error: None }
        }
        Err(e) => Preview { task: None, error: Some(e.to_string()) },
    })
}

/// An unsaved task, for the preview.
fn preview_task(line: &todotxt::TodoLine, ctx: &Ctx) -> Task {
    let d = crate::tasks::Derived::of(line, ctx.tz);
    let now = ctx.now.naive_utc();
    Task {
        id: 0,
        body: line.body.clone(),
        priority: line.priority.map(String::from),
        done: false,
        created_on: line.created,
        completed_on: None,
        title: d.title,
        projects: d.projects,
        contexts: d.contexts,
        due_date: d.due_date,
        due_at: d.due_at,
        threshold: d.threshold,
        recurrence: d.recurrence,
        created_by: ctx.actor.to_string(),
        created_at: now,
        updated_at: now,
        completed_at: None,
        deleted_at: None,
        created_in: ctx.actor.conversation(),
    }
}

/// The next slice of a group.
#[derive(Template, WebTemplate)]
#[template(path = "partials/more.html")]
pub struct MoreRows {
    group: GroupView,
    query: String,
    csrf: String,
}

#[derive(Deserialize)]
pub struct MoreQuery {
    group: String,
    offset: i64,
    #[serde(flatten)]
    filter: Filter,
}

pub async fn more(
    state: web::Data<AppState>,
    session: CurrentSession,
    query: web::Query<MoreQuery>,
) -> Result<MoreRows, PageError> {
    let MoreQuery { group, offset, filter } = query.into_inner();
    let group = Group::from_slug(&group)?;
    let query = query_string(&filter);
    let view = state
        .run_as(Actor::Person, move |conn, ctx| {
            let tasks = query::group_slice(conn, ctx, &filter, group, offset, SLICE + 1)?;
            let more = tasks.len() as i64 > SLICE;
            Ok(GroupView {
                slug: group.slug(),
                label: group.label(),
                count: 0,
                tasks: tasks.iter().take(SLICE as usize).map(|t| TaskItem::new(t, ctx)).collect(),
                next_offset: more.then_some(offset + SLICE),
                open: true,
            })
        })
        .await?;
    Ok(MoreRows { group: view, query, csrf: session.0.csrf_token })
}

/// One task row (also the answer to every inline change).
#[derive(Template, WebTemplate)]
#[template(path = "partials/task_row.html")]
pub struct Row {
    task: TaskItem,
    csrf: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "partials/task_edit.html")]
pub struct EditRow {
    task: TaskItem,
    threshold: String,
    csrf: String,
    error: Option<String>,
    /// The person's zone, which times are read in.
    zone: String,
    /// The due the form was opened with: left as it was, it is not rewritten.
    due_was: String,
}

/// A deleted task's row (with Undo), its group's new count and the filter menus, out of band.
#[derive(Template, WebTemplate)]
#[template(path = "partials/task_deleted.html")]
pub struct DeletedRow {
    id: i32,
    title: String,
    csrf: String,
    /// The group the task was in (its `count-` element) and how many it holds now.
    count: Option<(&'static str, i64)>,
    facets: Facets,
}

async fn load_item(state: &web::Data<AppState>, id: i32) -> Result<(TaskItem, Task), AppError> {
    state
        .run_as(Actor::Person, move |conn, ctx| {
            let task = service::get(conn, id)?;
            Ok((TaskItem::new(&task, ctx), task))
        })
        .await
}

pub async fn row(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<Row, PageError> {
    let (task, _) = load_item(&state, id.into_inner()).await?;
    Ok(Row { task, csrf: session.0.csrf_token })
}

pub async fn edit(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<EditRow, PageError> {
    let (task, raw) = load_item(&state, id.into_inner()).await?;
    let zone = state.run_as(Actor::Person, |_, ctx| Ok(ctx.tz.name().to_string())).await?;
    Ok(EditRow {
        threshold: raw.threshold.map(|t| t.to_string()).unwrap_or_default(),
        csrf: session.0.csrf_token,
        error: None,
        zone,
        due_was: task.due_input.clone(),
        task,
    })
}

#[derive(Deserialize)]
pub struct EditForm {
    title: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    due: String,
    /// The due the form showed when it opened.
    #[serde(default)]
    due_was: String,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    recurrence: String,
    /// `1d, 10m`; `none`; empty for the defaults.
    #[serde(default)]
    reminders: String,
    #[serde(default)]
    projects: String,
    #[serde(default)]
    contexts: String,
    #[serde(default)]
    extra: String,
}

impl EditForm {
    fn patch(&self) -> Result<TaskPatch, AppError> {
        let optional = |v: &str| Some(Some(v.trim().to_string()).filter(|v| !v.is_empty()));
        let mut extra = std::collections::BTreeMap::new();
        for pair in self.extra.split_whitespace() {
            let (k, v) = pair
                .split_once(':')
                .ok_or_else(|| AppError::invalid("extra", format!("{pair:?} is not key:value")))?;
            extra.insert(k.to_string(), v.to_string());
        }
        Ok(TaskPatch {
            title: Some(self.title.clone()),
            priority: optional(&self.priority),
            projects: Some(self.projects.split_whitespace().map(String::from).collect()),
            contexts: Some(self.contexts.split_whitespace().map(String::from).collect()),
            // Left as shown, the due is not read again (which could rewrite it in another offset).
            due: (self.due.trim() != self.due_was.trim()).then(|| optional(&self.due)).flatten(),
            threshold: optional(&self.threshold),
            recurrence: optional(&self.recurrence),
            reminders: Some(reminders_list(&self.reminders)),
            extra: Some(extra),
            status: None,
        })
    }
}

/// The form's reminders: empty means the defaults, `none` none, else a list like `1d, 10m`.
fn reminders_list(text: &str) -> Option<Vec<String>> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.eq_ignore_ascii_case("none") {
        return Some(Vec::new());
    }
    Some(t.split([',', ' ']).filter(|s| !s.is_empty()).map(String::from).collect())
}

pub async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    form: web::Form<EditForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let form = form.into_inner();
    let patch = form.patch();
    let saved = state
        .run_as(Actor::Person, move |conn, ctx| {
            let task = service::update(conn, ctx, id, &patch?)?;
            Ok(task.title)
        })
        .await;
    if saved.is_ok() {
        service::announce(&state.events, Some(id));
    }
    let csrf = session.0.csrf_token;
    match saved {
        Ok(_) if !is_htmx(&req) => Ok(see_other("/tasks")),
        // The edit may move the task to another group (a new due date) or change the menus.
        Ok(title) => {
            let (list, facets) = list_and_facets(&state, page_filter(&req), csrf).await?;
            htmx::with_toast(&[&list, &facets], &format!("Saved “{}”", short(&title)))
        }
        Err(AppError::Invalid { field, message }) => {
            let (mut task, _) = load_item(&state, id).await?;
            task.title = form.title;
            task.due_input = form.due;
            task.recurrence_input = form.recurrence;
            task.reminders_input = form.reminders;
            let zone = state.run_as(Actor::Person, |_, ctx| Ok(ctx.tz.name().to_string())).await?;
            let error = Some(crate::error::sentence(&field, &message));
            let row = EditRow { task, threshold: form.threshold, csrf, error, zone, due_was: form.due_was };
            if is_htmx(&req) {
                return htmx::invalid_form(&row, &format!("#task-{id}"));
            }
            html(StatusCode::UNPROCESSABLE_ENTITY, &row)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ToggleForm {
    /// The checkbox (htmx sends the form when it changes).
    done: Option<String>,
    /// The button a plain form shows instead (`true` to complete, `false` to reopen).
    set: Option<String>,
}

/// Completes or reopens a task. htmx gets the whole list again: the task changes group, and
/// completing a recurring task adds its next occurrence.
pub async fn toggle(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    form: web::Form<ToggleForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let form = form.into_inner();
    let done = form.set.or(form.done).is_some_and(|v| v == "true" || v == "on");
    let (task, next) = state
        .run_as(Actor::Person, move |conn, ctx| {
            let (task, next) = service::set_done(conn, ctx, id, done)?;
            Ok((TaskItem::new(&task, ctx), next.map(|n| TaskItem::new(&n, ctx))))
        })
        .await?;
    service::announce(&state.events, Some(id));
    if !is_htmx(&req) {
        return Ok(see_other("/tasks"));
    }
    let list = load_list(&state, page_filter(&req), session.0.csrf_token).await?;
    let message = match next {
        Some(next) => {
            let due = next.due_label.as_deref().unwrap_or("no date");
            format!("Next “{}”: {due}", short(&next.title))
        }
        None if task.done => format!("Completed “{}”", short(&task.title)),
        None => format!("Reopened “{}”", short(&task.title)),
    };
    htmx::with_toast(&[&list], &message)
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let filter = page_filter(&req);
    let (title, count, (projects, contexts)) = state
        .run_as(Actor::Person, move |conn, ctx| {
            let title = service::get(conn, id)?.title;
            let group = query::group_of(conn, ctx, &filter, id)?;
            service::delete(conn, ctx, id)?;
            let count = match group {
                Some(group) => Some((group.slug(), query::count(conn, ctx, &filter, group)?)),
                None => None,
            };
            Ok((title, count, query::facets(conn)?))
        })
        .await?;
    service::announce(&state.events, Some(id));
    if !is_htmx(&req) {
        return Ok(see_other("/tasks"));
    }
    let facets = Facets::new(projects, contexts, &page_filter(&req), true);
    html(StatusCode::OK, &DeletedRow { id, title, csrf: session.0.csrf_token, count, facets })
}

/// Undoes a delete. htmx gets the whole list again, with the task back in its group.
pub async fn restore(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let title =
        state.run_as(Actor::Person, move |conn, ctx| Ok(service::restore(conn, ctx, id)?.title)).await?;
    service::announce(&state.events, Some(id));
    if !is_htmx(&req) {
        return Ok(see_other("/tasks"));
    }
    let (list, facets) = list_and_facets(&state, page_filter(&req), session.0.csrf_token).await?;
    htmx::with_toast(&[&list, &facets], &format!("Restored “{}”", short(&title)))
}

pub async fn export(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let text = state.db.run(service::export_todotxt).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"todo.txt\""))
        .body(text))
}

/// Imports a todo.txt file. htmx gets the report with the list and the filter menus out of
/// band; a plain form is redirected to the page, which says how many were imported (a reload
/// never imports again).
pub async fn import(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    mut payload: Multipart,
) -> Result<HttpResponse, PageError> {
    let imported = read_upload(&mut payload).await;
    let imported = match imported {
        Ok(bytes) => {
            state.run_as(Actor::Person, move |conn, ctx| service::import_todotxt(conn, ctx, &bytes)).await
        }
        Err(e) => Err(e),
    };
    let report = match imported {
        Ok(report) => report,
        Err(AppError::Invalid { field, message }) if is_htmx(&req) => {
            return htmx::error_toast(
                StatusCode::UNPROCESSABLE_ENTITY,
                &crate::error::sentence(&field, &message),
            );
        }
        Err(e) => return Err(e.into()),
    };
    if report.imported > 0 {
        service::announce(&state.events, None);
    }
    if !is_htmx(&req) {
        let notice = [("imported", report.imported), ("unreadable", report.problems.len())];
        return Ok(see_other(&format!("/tasks?{}", serde_urlencoded::to_string(notice).unwrap_or_default())));
    }
    let (mut list, facets) = list_and_facets(&state, page_filter(&req), session.0.csrf_token).await?;
    list.oob = true;
    let view = ImportReportView { report: Some(report), unreadable: 0 };
    let mut body = String::new();
    for part in [&view as &dyn askama::DynTemplate, &list, &facets] {
        body.push_str(&part.dyn_render().map_err(|e| AppError::Internal(e.into()))?);
    }
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body))
}

/// The uploaded file's bytes (the `file` field), at most [`MAX_IMPORT_BYTES`].
async fn read_upload(payload: &mut Multipart) -> Result<Vec<u8>, AppError> {
    let mut bytes = Vec::new();
    while let Some(field) = payload.next().await {
        let mut field =
            field.map_err(|e| AppError::invalid("file", format!("the upload is malformed: {e}")))?;
        if field.name() != Some("file") {
            continue;
        }
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| AppError::invalid("file", format!("the upload broke off: {e}")))?;
            if bytes.len() + chunk.len() > MAX_IMPORT_BYTES {
                return Err(AppError::invalid(
                    "file",
                    format!("is larger than {} MiB", MAX_IMPORT_BYTES / 1024 / 1024),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok(bytes)
}

pub async fn not_found() -> Result<HttpResponse, PageError> {
    Err(PageError(AppError::NotFound("there is no such page".into())))
}
