//! `/api/v1/tasks`: list, create (quick-add text or fields), read, edit, delete, complete.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::error::{ApiError, AppError};
use crate::tasks::{Filter, TaskPatch, query, service};
use crate::web::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(flatten)]
    filter: Filter,
    limit: Option<i64>,
    cursor: Option<i32>,
}

pub async fn list(
    state: web::Data<AppState>,
    query: super::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let ListQuery { filter, limit, cursor } = query.into_inner();
    let st = state.clone();
    let body = state
        .db
        .run(move |conn| {
            let tz = st.zone(conn)?;
            let (tasks, next) = query::page(conn, &filter, limit.unwrap_or(100), cursor)?;
            let tasks: Vec<_> = tasks.iter().map(|t| t.view(tz)).collect();
            Ok(serde_json::json!({ "tasks": tasks, "next_cursor": next }))
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
    let view = state
        .run_as(actor.0, move |conn, ctx| {
            let task = match body.get("text") {
                Some(text) => {
                    let text = text.as_str().ok_or_else(|| AppError::invalid("text", "must be a string"))?;
                    if body.as_object().is_some_and(|o| o.len() > 1) {
                        return Err(AppError::invalid(
                            "text",
                            "send either text (quick-add) or fields, not both",
                        ));
                    }
                    service::add_text(conn, ctx, text)?
                }
                None => {
                    let patch: TaskPatch = super::from_json(body)?;
                    service::add_fields(conn, ctx, &patch)?
                }
            };
            Ok(task.view(ctx.tz))
        })
        .await?;
    service::announce(&state.events, Some(view.id));
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/v1/tasks/{}", view.id))).json(view))
}

pub async fn get(state: web::Data<AppState>, id: web::Path<i32>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let st = state.clone();
    let view = state.db.run(move |conn| Ok(service::get(conn, id)?.view(st.zone(conn)?))).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub async fn update(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    id: web::Path<i32>,
    patch: super::Json<TaskPatch>,
) -> Result<HttpResponse, ApiError> {
    let (id, patch) = (id.into_inner(), patch.into_inner());
    let view = state
        .run_as(actor.0, move |conn, ctx| Ok(service::update(conn, ctx, id, &patch)?.view(ctx.tz)))
        .await?;
    service::announce(&state.events, Some(id));
    Ok(HttpResponse::Ok().json(view))
}

pub async fn delete(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state.run_as(actor.0, move |conn, ctx| service::delete(conn, ctx, id)).await?;
    service::announce(&state.events, Some(id));
    Ok(HttpResponse::NoContent().finish())
}

/// Completes a task; for a recurring one the answer also carries the next occurrence.
pub async fn complete(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (task, next) = state
        .run_as(actor.0, move |conn, ctx| {
            let (task, next) = service::set_done(conn, ctx, id, true)?;
            Ok((task.view(ctx.tz), next.map(|n| n.view(ctx.tz))))
        })
        .await?;
    service::announce(&state.events, Some(id));
    let mut body = serde_json::to_value(task).map_err(|e| AppError::Internal(e.into()))?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("next".into(), serde_json::to_value(next).map_err(|e| AppError::Internal(e.into()))?);
    }
    Ok(HttpResponse::Ok().json(body))
}
