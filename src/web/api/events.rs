//! `/api/v1/events`, `/api/v1/occurrences`, `/api/v1/calendars`, `/api/v1/calendar/import` and
//! `/api/v1/calendar.ics`: the calendar for programs. Handlers are thin: the rules (scopes of a
//! recurring event, expansion, ICS) live in `crate::calendar`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::calendar::service::{self, CalendarInput, EventInput, Target};
use crate::calendar::{Event, ics};
use crate::db::Conn;
use crate::error::{ApiError, AppError};
use crate::services::Actor;
use crate::web::AppState;

fn view(conn: &mut Conn, e: &Event) -> Result<serde_json::Value, AppError> {
    let names = service::calendar_names(conn)?;
    let name = names.get(&e.calendar_id).cloned().unwrap_or_default();
    serde_json::to_value(e.view(&name)).map_err(|e| AppError::Internal(e.into()))
}

/// Calendars named by `calendar` (a name or id; several separated by commas), or `None` for the
/// visible ones.
fn calendar_ids(conn: &mut Conn, calendar: Option<&str>) -> Result<Option<Vec<i32>>, AppError> {
    let Some(text) = calendar.map(str::trim).filter(|c| !c.is_empty()) else { return Ok(None) };
    let mut ids = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        ids.push(service::find_calendar(conn, name)?.id);
    }
    Ok(Some(ids))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    calendar: Option<String>,
}

/// Every event row (single events, series, overrides) of some calendars.
pub async fn list(state: web::Data<AppState>, q: super::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let body = state
        .db
        .run(move |conn| {
            let ids = match q.calendar.as_deref() {
                Some(_) => calendar_ids(conn, q.calendar.as_deref())?,
                None => None,
            };
            let names = service::calendar_names(conn)?;
            let rows = service::list(conn, ids.as_deref())?;
            let events: Vec<_> = rows
                .iter()
                .map(|e| e.view(names.get(&e.calendar_id).map(String::as_str).unwrap_or("")))
                .collect();
            Ok(serde_json::json!({ "events": events }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

pub async fn create(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    body: super::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (id, calendar_id, json) = state
        .run_as(actor.0, move |conn, ctx| {
            let event = match body.get("text") {
                Some(text) => {
                    let text = text.as_str().ok_or_else(|| AppError::invalid("text", "must be a string"))?;
                    if body.as_object().is_some_and(|o| o.keys().any(|k| k != "text" && k != "calendar")) {
                        return Err(AppError::invalid(
                            "text",
                            "send either text (quick-add, with an optional calendar) or fields, not both",
                        ));
                    }
                    let calendar = body.get("calendar").and_then(|c| c.as_str());
                    quick_add(conn, ctx, text, calendar)?
                }
                None => service::create(conn, ctx, &super::from_json::<EventInput>(body)?)?,
            };
            Ok((event.id, event.calendar_id, view(conn, &event)?))
        })
        .await?;
    service::announce(&state.events, Some(calendar_id));
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/v1/events/{id}"))).json(json))
}

/// `{"text": ...}`: the event quick-add grammar (`crate::calendar::quickadd`, wired there).
fn quick_add(
    conn: &mut Conn,
    ctx: &crate::services::Ctx,
    text: &str,
    calendar: Option<&str>,
) -> Result<Event, AppError> {
    crate::calendar::quickadd::create_from_text(conn, ctx, text, calendar)
}

pub async fn get(state: web::Data<AppState>, id: web::Path<i32>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let json = state
        .db
        .run(move |conn| {
            let e = service::get(conn, id)?;
            view(conn, &e)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// Which part of a recurring event: `?scope=all|this|following&occurrence=2026-03-09T09:30`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScopeQuery {
    scope: Option<String>,
    occurrence: Option<String>,
}

impl ScopeQuery {
    fn target(&self) -> Result<Target, AppError> {
        Target::parse(self.scope.as_deref(), self.occurrence.as_deref())
    }
}

pub async fn update(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    id: web::Path<i32>,
    q: super::Query<ScopeQuery>,
    body: super::Json<EventInput>,
) -> Result<HttpResponse, ApiError> {
    let (id, input) = (id.into_inner(), body.into_inner());
    let target = q.target()?;
    let (calendar_id, json) = state
        .run_as(actor.0, move |conn, ctx| {
            let e = service::update(conn, ctx, id, &input, target)?;
            Ok((e.calendar_id, view(conn, &e)?))
        })
        .await?;
    service::announce(&state.events, Some(calendar_id));
    Ok(HttpResponse::Ok().json(json))
}

pub async fn delete(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    id: web::Path<i32>,
    q: super::Query<ScopeQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let target = q.target()?;
    state.run_as(actor.0, move |conn, ctx| service::delete(conn, ctx, id, target)).await?;
    service::announce(&state.events, None);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    from: String,
    to: String,
    calendar: Option<String>,
}

/// Every occurrence overlapping `[from, to)`, sorted by start, at most 10,000.
pub async fn occurrences(
    state: web::Data<AppState>,
    q: super::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let body = state
        .run_as(Actor::API, move |conn, ctx| {
            let from = service::parse_instant("from", &q.from, ctx.tz)?;
            let to = service::parse_instant("to", &q.to, ctx.tz)?;
            if to <= from {
                return Err(AppError::invalid("to", format!("{} is not after from ({})", q.to, q.from)));
            }
            let ids = calendar_ids(conn, q.calendar.as_deref())?;
            let names = service::calendar_names(conn)?;
            let (occ, truncated) = service::occurrences(conn, ctx, from, to, ids.as_deref())?;
            // Written straight from the occurrences (a year is up to 10,000 of them).
            Ok(service::occurrences_json(&occ, truncated, ctx.tz, |id| {
                names.get(&id).cloned().unwrap_or_default()
            }))
        })
        .await?;
    Ok(HttpResponse::Ok().content_type(header::ContentType::json()).body(body))
}

pub async fn calendars(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let list = state.db.run(service::list_calendars).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "calendars": list })))
}

pub async fn create_calendar(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    body: super::Json<CalendarInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let cal = state.run_as(actor.0, move |conn, ctx| service::create_calendar(conn, ctx, &input)).await?;
    service::announce(&state.events, Some(cal.id));
    Ok(HttpResponse::Created().json(cal))
}

/// Changes a calendar's name, colour, visibility or default reminders.
pub async fn update_calendar(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    id: web::Path<i32>,
    body: super::Json<CalendarInput>,
) -> Result<HttpResponse, ApiError> {
    let (id, input) = (id.into_inner(), body.into_inner());
    let cal = state.run_as(actor.0, move |conn, ctx| service::update_calendar(conn, ctx, id, &input)).await?;
    service::announce(&state.events, Some(cal.id));
    Ok(HttpResponse::Ok().json(cal))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    calendar: Option<String>,
}

/// Imports a `text/calendar` body into a calendar (default: the first of the person's own).
pub async fn import(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    req: HttpRequest,
    q: super::Query<ImportQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let kind = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = kind.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !matches!(
        essence.as_str(),
        "" | "text/calendar" | "text/plain" | "application/octet-stream" | "application/ics"
    ) {
        return Err(AppError::UnsupportedMediaType(format!(
            "send the file as text/calendar (Content-Type: text/calendar), not {essence}"
        ))
        .into());
    }
    let text = ics::decode(&body);
    let calendar = q.into_inner().calendar;
    let (calendar_id, report) = state
        .run_as(actor.0, move |conn, ctx| {
            let cal = match calendar.as_deref() {
                Some(c) => service::find_calendar(conn, c)?,
                None => service::default_calendar(conn)?,
            };
            Ok((cal.id, ics::import(conn, ctx, cal.id, &text)?))
        })
        .await?;
    service::announce(&state.events, Some(calendar_id));
    Ok(HttpResponse::Ok().json(report.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    calendar: Option<String>,
}

/// Every event (of some calendars) as one iCalendar file.
pub async fn export(
    state: web::Data<AppState>,
    q: super::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let calendar = q.into_inner().calendar;
    let text = state
        .run_as(Actor::API, move |conn, ctx| {
            let ids = calendar_ids(conn, calendar.as_deref())?;
            let options = ics::WriteOptions { name: Some("Steward".into()), ..Default::default() };
            ics::export(conn, ctx, ids.as_deref(), &options)
        })
        .await?;
    Ok(HttpResponse::Ok().content_type("text/calendar; charset=utf-8").body(text))
}
