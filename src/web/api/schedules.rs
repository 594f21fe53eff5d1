//! `/api/v1/schedules`, `/api/v1/runs`, `/api/v1/trigger` and `/api/v1/status`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::error::ApiError;
use crate::runs::{self, RunFilter};
use crate::schedules::{self, ScheduleInput, service};
use crate::web::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    agent: Option<String>,
    #[serde(default)]
    all: bool,
}

pub async fn list(state: web::Data<AppState>, q: super::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let body = state
        .db
        .run(move |conn| {
            let list = service::list(conn, q.agent.as_deref(), q.all)?;
            Ok(serde_json::json!({ "schedules": service::views(conn, &list)? }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

pub async fn create(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    body: super::Json<ScheduleInput>,
) -> Result<HttpResponse, ApiError> {
    let s = service::create_checked(&state.services, actor.0, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(s.view(None)))
}

pub async fn get(state: web::Data<AppState>, id: web::Path<i32>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let s = schedules::get(conn, id)?;
            Ok(service::views(conn, &[s])?.pop())
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

pub async fn update(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    id: web::Path<i32>,
    body: super::Json<ScheduleInput>,
) -> Result<HttpResponse, ApiError> {
    let (id, input, config) = (id.into_inner(), body.into_inner(), state.config.clone());
    let s = state.run_as(actor.0, move |conn, ctx| service::update(conn, ctx, &config, id, &input)).await?;
    state.wake.poke();
    Ok(HttpResponse::Ok().json(s.view(None)))
}

pub async fn delete(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state.run_as(actor.0, move |conn, ctx| service::delete(conn, ctx, id)).await?;
    state.wake.poke();
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/schedules/{id}/run`: fire now, outside the timing.
pub async fn run_now(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let run = state.run_as(actor.0, move |conn, ctx| service::run_now(conn, ctx, id)).await?;
    state.wake.poke();
    Ok(HttpResponse::Accepted().json(run.view(None, None)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpcomingQuery {
    limit: Option<i64>,
}

pub async fn upcoming(
    state: web::Data<AppState>,
    q: super::Query<UpcomingQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit.unwrap_or(20);
    let body = state
        .db
        .run(move |conn| {
            let list = service::upcoming(conn, limit)?;
            Ok(serde_json::json!({ "schedules": service::views(conn, &list)? }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    schedule: Option<i32>,
    state: Option<String>,
    limit: Option<i64>,
    cursor: Option<i32>,
}

pub async fn runs(state: web::Data<AppState>, q: super::Query<RunsQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let filter = RunFilter { schedule: q.schedule, state: q.state, limit: q.limit, cursor: q.cursor };
    let body = state
        .db
        .run(move |conn| {
            let (page, next) = runs::list(conn, &filter)?;
            let names = runs::schedule_names(conn, &page)?;
            let views: Vec<_> = page
                .iter()
                .map(|r| r.view(r.schedule_id.and_then(|s| names.get(&s).cloned()), None))
                .collect();
            Ok(serde_json::json!({ "runs": views, "next_cursor": next }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

pub async fn run(state: web::Data<AppState>, id: web::Path<i32>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let run = runs::get(conn, id)?;
            let names = runs::schedule_names(conn, std::slice::from_ref(&run))?;
            let attempts = runs::attempts(conn, id)?;
            Ok(run.view(run.schedule_id.and_then(|s| names.get(&s).cloned()), Some(attempts)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    prompt: String,
    agent: Option<String>,
    priority: Option<String>,
}

/// `POST /api/v1/trigger`: deliver a prompt now, for external events. 202 with the run.
pub async fn trigger(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    body: super::Json<TriggerBody>,
) -> Result<HttpResponse, ApiError> {
    let (b, config) = (body.into_inner(), state.config.clone());
    let run = state
        .run_as(actor.0, move |conn, ctx| {
            service::trigger(conn, ctx, &config, &b.prompt, b.agent.as_deref(), b.priority.as_deref())
        })
        .await?;
    state.wake.poke();
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "run_id": run.id, "run": run.view(None, None) })))
}

pub async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let status = state.db.run(move |conn| runs::status(conn, now)).await?;
    Ok(HttpResponse::Ok().json(status))
}
