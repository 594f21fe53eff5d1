//! `/api/v1/activity` (what the agent, MCP clients and tokens changed, with Undo) and
//! `/api/v1/confirmations/{id}` (whether the person confirmed an MCP call that waited).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::activity::{self, ActivityFilter};
use crate::error::ApiError;
use crate::web::AppState;

/// `GET /api/v1/activity?actor=chat|mcp|api&kind=task|schedule&conversation=&limit=&cursor=`:
/// newest first, `{activity, next_cursor}`.
pub async fn list(
    state: web::Data<AppState>,
    q: super::Query<ActivityFilter>,
) -> Result<HttpResponse, ApiError> {
    let filter = q.into_inner();
    let body = state
        .db
        .run(move |conn| {
            let (page, next) = activity::list(conn, &filter)?;
            let views: Vec<_> = page.iter().map(activity::Entry::view).collect();
            Ok(json!({ "activity": views, "next_cursor": next }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /api/v1/activity/{id}/undo`: 200 with the entry and a sentence; 409 when it was undone
/// already or its target changed since.
pub async fn undo(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let (id, config) = (id.into_inner(), state.config.clone());
    let undone = state.run_as(actor.0, move |conn, ctx| activity::undo(conn, ctx, &config, id)).await?;
    state.wake.poke();
    if undone.entry.kind == "event" {
        crate::calendar::service::announce(&state.events, None);
    }
    Ok(HttpResponse::Ok().json(undone))
}

/// `GET /api/v1/confirmations/{id}`: a held MCP call: pending, confirmed (with its result),
/// failed or declined.
pub async fn confirmation(state: web::Data<AppState>, id: web::Path<i32>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let p = state.db.run(move |conn| crate::confirm::get(conn, id)).await?;
    Ok(HttpResponse::Ok().json(p.view()))
}
