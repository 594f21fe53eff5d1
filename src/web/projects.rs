//! The Projects page: every `+project` with its progress, next due task, last activity and
//! whether it stalled; the outcome and target date are edited in place (a plain form); a
//! finished project is archived (listed apart, under "Archived").

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;

use super::{CurrentSession, Layout, html, see_other, view};
use crate::error::PageError;
use crate::projects::{self, Project, ProjectPatch};
use crate::services::Actor;
use crate::web::AppState;

pub struct ProjectItem {
    pub p: Project,
    pub tasks_link: String,
    pub last_activity: String,
    pub next_due: String,
    pub target: String,
    /// "Design review, Thu 4 Dec 10:00", and the agenda from its day.
    pub next_event: Option<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "projects.html")]
pub struct ProjectsPage {
    layout: Layout,
    active: Vec<ProjectItem>,
    archived: Vec<ProjectItem>,
    stalled_days: i64,
}

pub async fn page(state: web::Data<AppState>, session: CurrentSession) -> Result<HttpResponse, PageError> {
    let (list, days, tz, now) = state
        .run_as(Actor::Person, |conn, ctx| {
            Ok((projects::overview(conn, ctx, true)?, projects::stalled_days(conn)?, ctx.tz, ctx.now))
        })
        .await?;
    let (mut active, mut archived) = (Vec::new(), Vec::new());
    for p in list {
        let item = ProjectItem {
            tasks_link: p.tasks_link(),
            last_activity: p
                .last_activity
                .map(|t| view::instant(t, tz, now))
                .unwrap_or_else(|| "never".into()),
            next_due: p
                .next_due
                .as_ref()
                .map(|n| format!("{} (due {})", n.title, crate::briefings::facts::short_date(n.due)))
                .unwrap_or_default(),
            target: p.target_date.map(|d| d.to_string()).unwrap_or_default(),
            next_event: p.next_event.as_ref().map(|e| {
                let local = e.start.with_timezone(&tz);
                let when =
                    if e.all_day { local.format("%a %-d %b") } else { local.format("%a %-d %b %H:%M") };
                (format!("{}, {when}", e.title), format!("/calendar?view=agenda&date={}", local.date_naive()))
            }),
            p,
        };
        if item.p.archived { archived.push(item) } else { active.push(item) }
    }
    let page = ProjectsPage {
        layout: Layout::new("Projects", "projects", &session.0),
        active,
        archived,
        stalled_days: days,
    };
    html(StatusCode::OK, &page)
}

#[derive(serde::Deserialize)]
pub struct ProjectForm {
    outcome: Option<String>,
    target_date: Option<String>,
    /// `archive` or `unarchive` (the buttons), or absent (save).
    action: Option<String>,
}

/// Saves a project's outcome and target date, or archives / brings it back.
pub async fn save(
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<ProjectForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let patch = match form.action.as_deref() {
        Some("archive") => ProjectPatch { archived: Some(true), ..ProjectPatch::default() },
        Some("unarchive") => ProjectPatch { archived: Some(false), ..ProjectPatch::default() },
        _ => ProjectPatch {
            outcome: Some(form.outcome.filter(|o| !o.trim().is_empty())),
            target_date: Some(form.target_date.filter(|d| !d.trim().is_empty())),
            archived: None,
        },
    };
    state.run_as(Actor::Person, move |conn, ctx| projects::update(conn, ctx, &name, &patch)).await?;
    Ok(see_other("/projects"))
}

#[derive(serde::Deserialize)]
pub struct StalledForm {
    stalled_days: String,
}

/// The stalled setting (days without a change).
pub async fn stalled(
    state: web::Data<AppState>,
    form: web::Form<StalledForm>,
) -> Result<HttpResponse, PageError> {
    let text = form.into_inner().stalled_days;
    let days: i64 = text.trim().parse().map_err(|_| {
        crate::error::AppError::invalid("stalled_days", format!("{text:?} is not a number of days"))
    })?;
    state.db.run(move |conn| projects::set_stalled_days(conn, days)).await?;
    Ok(see_other("/projects"))
}
