//! `/api/v1/projects` and `/api/v1/briefings`: the same service functions as the pages.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::briefings::{self, BriefingPatch};
use crate::error::ApiError;
use crate::projects::{self, ProjectPatch};
use crate::web::AppState;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct ProjectsQuery {
    /// Include archived projects.
    archived: Option<bool>,
}

pub async fn projects(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    query: super::Query<ProjectsQuery>,
) -> Result<HttpResponse, ApiError> {
    let archived = query.into_inner().archived.unwrap_or(false);
    let (list, days) = state
        .run_as(actor.0, move |conn, ctx| {
            Ok((projects::overview(conn, ctx, archived)?, projects::stalled_days(conn)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "projects": list, "stalled_days": days })))
}

pub async fn update_project(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    name: web::Path<String>,
    body: super::Json<ProjectPatch>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner();
    let p = state.run_as(actor.0, move |conn, ctx| projects::update(conn, ctx, &name, &patch)).await?;
    Ok(HttpResponse::Ok().json(p))
}

pub async fn list(state: web::Data<AppState>, actor: super::ApiActor) -> Result<HttpResponse, ApiError> {
    let list = state.run_as(actor.0, briefings::list).await?;
    Ok(HttpResponse::Ok().json(json!({ "briefings": list })))
}

pub async fn get(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let b = state.run_as(actor.0, move |conn, ctx| briefings::get(conn, ctx, &name)).await?;
    Ok(HttpResponse::Ok().json(b))
}

pub async fn update(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    name: web::Path<String>,
    body: super::Json<BriefingPatch>,
) -> Result<HttpResponse, ApiError> {
    let (patch, config) = (body.into_inner(), state.config.clone());
    let b =
        state.run_as(actor.0, move |conn, ctx| briefings::update(conn, ctx, &config, &name, &patch)).await?;
    state.wake.poke();
    Ok(HttpResponse::Ok().json(b))
}

/// `{"facts": "..."}`: the fact block as it would be sent now.
pub async fn preview(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let facts = state.run_as(actor.0, move |conn, ctx| briefings::preview(conn, ctx, &name)).await?;
    Ok(HttpResponse::Ok().json(json!({ "facts": facts })))
}

/// Queues a run now: 202 with the run's id.
pub async fn run(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    let run = state.run_as(actor.0, move |conn, ctx| briefings::run_now(conn, ctx, &config, &name)).await?;
    state.wake.poke();
    Ok(HttpResponse::Accepted().json(json!({ "run_id": run.id, "state": run.state })))
}
