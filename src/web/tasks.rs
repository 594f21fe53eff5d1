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
use crate::tasks::todotxt;
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
    // The edit form's values.
    pub due_input: String,
    pub recurrence_input: String,
}

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
            due_input: due.map(|d| d.to_value()).unwrap_or_default(),
            recurrence_input: task.recurrence.clone().unwrap_or_default(),
        }
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
}

#[derive(Template, WebTemplate)]
#[template(path = "tasks.html")]
pub struct TasksPage {
    layout: Layout,
    filter: Filter,
    projects: Vec<String>,
    contexts: Vec<String>,
    list: TaskList,
    quick_add: QuickAddForm,
    import_report: Option<ImportReport>,
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
    let slices = query::overview(conn, &ctx, filter, SLICE, collapsed)?;
    let groups = slices.into_iter().map(|s| group_view(s, &ctx, collapsed)).collect();
    Ok(TaskList { groups, query: query_string(filter), csrf, filtered: filter.is_active() })
}

/// The whole page: the list plus the filter menus' projects and contexts.
async fn full_page(
    state: &web::Data<AppState>,
    session: &CurrentSession,
    filter: Filter,
    quick_add: Option<QuickAddForm>,
    import_report: Option<ImportReport>,
) -> Result<TasksPage, AppError> {
    let csrf = session.0.csrf_token.clone();
    let (st, f, c) = (state.clone(), filter.clone(), csrf.clone());
    let (list, (projects, contexts)) =
        state.db.run(move |conn| Ok((list_in(conn, &st, &f, c)?, query::facets(conn)?))).await?;
    Ok(TasksPage {
        layout: Layout::new("Tasks", "tasks", &session.0),
        filter,
        projects,
        contexts,
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

pub async fn home() -> HttpResponse {
    see_other("/tasks")
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    filter: web::Query<Filter>,
) -> Result<HttpResponse, PageError> {
    let filter = filter.into_inner();
    if is_htmx(&req) && htmx::target(&req) == Some("task-list") {
        return html(StatusCode::OK, &load_list(&state, filter, session.0.csrf_token).await?);
    }
    let page = full_page(&state, &session, filter, None, None).await?;
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
            if !is_htmx(&req) {
                return Ok(see_other(&format!("/tasks?{}", query_string(&filter))));
            }
            let list = load_list(&state, filter, csrf.clone()).await?;
            let form = QuickAddForm { csrf, oob: true, ..Default::default() };
            htmx::with_toast(&[&list, &form], &format!("Added “{}”", task.title))
        }
        Err(AppError::Invalid { field, message }) => {
            let form = QuickAddForm {
                text,
                error: Some(format!("{field}: {message}")),
                csrf: csrf.clone(),
                oob: false,
            };
            if is_htmx(&req) {
                return htmx::invalid_form(&form, "#quick-add");
            }
            let page = full_page(&state, &session, filter, Some(form), None).await?;
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
}

#[derive(Template, WebTemplate)]
#[template(path = "partials/task_deleted.html")]
pub struct DeletedRow {
    id: i32,
    title: String,
    csrf: String,
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
    Ok(EditRow {
        task,
        threshold: raw.threshold.map(|t| t.to_string()).unwrap_or_default(),
        csrf: session.0.csrf_token,
        error: None,
    })
}

#[derive(Deserialize)]
pub struct EditForm {
    title: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    due: String,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    recurrence: String,
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
            due: optional(&self.due),
            threshold: optional(&self.threshold),
            recurrence: optional(&self.recurrence),
            extra: Some(extra),
            status: None,
        })
    }
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
            Ok(TaskItem::new(&task, ctx))
        })
        .await;
    let csrf = session.0.csrf_token;
    match saved {
        Ok(_) if !is_htmx(&req) => Ok(see_other("/tasks")),
        Ok(task) => html(StatusCode::OK, &Row { task, csrf }),
        Err(AppError::Invalid { field, message }) => {
            let (mut task, _) = load_item(&state, id).await?;
            task.title = form.title;
            task.due_input = form.due;
            task.recurrence_input = form.recurrence;
            let error = Some(format!("{field}: {message}"));
            html(StatusCode::UNPROCESSABLE_ENTITY, &EditRow { task, threshold: form.threshold, csrf, error })
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ToggleForm {
    done: Option<String>,
}

pub async fn toggle(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    form: web::Form<ToggleForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let done = form.done.as_deref().is_some_and(|v| v == "true" || v == "on");
    let (task, next) = state
        .run_as(Actor::Person, move |conn, ctx| {
            let (task, next) = service::set_done(conn, ctx, id, done)?;
            Ok((TaskItem::new(&task, ctx), next.map(|n| TaskItem::new(&n, ctx))))
        })
        .await?;
    if !is_htmx(&req) {
        return Ok(see_other("/tasks"));
    }
    let row = Row { task, csrf: session.0.csrf_token };
    match next {
        Some(next) => {
            let due = next.due_label.as_deref().unwrap_or("no date");
            htmx::with_toast(&[&row], &format!("Next “{}”: {due}", next.title))
        }
        None => html(StatusCode::OK, &row),
    }
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let title = state
        .run_as(Actor::Person, move |conn, ctx| {
            let title = service::get(conn, id)?.title;
            service::delete(conn, ctx, id)?;
            Ok(title)
        })
        .await?;
    if !is_htmx(&req) {
        return Ok(see_other("/tasks"));
    }
    html(StatusCode::OK, &DeletedRow { id, title, csrf: session.0.csrf_token })
}

pub async fn restore(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let task = state
        .run_as(Actor::Person, move |conn, ctx| Ok(TaskItem::new(&service::restore(conn, ctx, id)?, ctx)))
        .await?;
    if !is_htmx(&req) {
        return Ok(see_other("/tasks"));
    }
    html(StatusCode::OK, &Row { task, csrf: session.0.csrf_token })
}

pub async fn export(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let text = state.db.run(service::export_todotxt).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"todo.txt\""))
        .body(text))
}

pub async fn import(
    state: web::Data<AppState>,
    session: CurrentSession,
    mut payload: Multipart,
) -> Result<HttpResponse, PageError> {
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
                )
                .into());
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    let report =
        state.run_as(Actor::Person, move |conn, ctx| service::import_todotxt(conn, ctx, &bytes)).await?;
    let page = full_page(&state, &session, Filter::default(), None, Some(report)).await?;
    html(StatusCode::OK, &page)
}

pub async fn not_found() -> Result<HttpResponse, PageError> {
    Err(PageError(AppError::NotFound("there is no such page".into())))
}
