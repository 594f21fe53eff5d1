//! `/api/v1/agents`: list, add, read, change, remove, check. Only an `admin` token reaches
//! these (see `auth::scopes`). Secrets are never shown back; a changed URL drops the stored
//! key or secret unless the same request gives it again. Agents that run programs
//! (`command`) cannot be set up through a token at all.

use actix_web::{HttpResponse, web};

use crate::agents::{self, AgentInput};
use crate::error::{ApiError, AppError};
use crate::web::AppState;

pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    let list = state.db.run(move |conn| agents::list(conn, &config)).await?;
    let views: Vec<_> = list.iter().map(agents::Agent::view).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "agents": views })))
}

pub async fn create(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    body: super::Json<AgentInput>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let mut input = body.into_inner();
    agents::letta::settle(&state.http, &mut input, None).await?;
    let agent = state.db.run(move |conn| agents::add(conn, now, input, actor.0)).await?;
    Ok(HttpResponse::Created().json(agent.view()))
}

pub async fn get(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    let agent = state.db.run(move |conn| agents::get(conn, &config, &name)).await?;
    Ok(HttpResponse::Ok().json(agent.view()))
}

/// The agent as it now is; `notes` says what a changed URL dropped (the stored key or secret).
pub async fn update(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    name: web::Path<String>,
    body: super::Json<AgentInput>,
) -> Result<HttpResponse, ApiError> {
    let (config, now) = (state.config.clone(), state.clock.now());
    let mut input = body.into_inner();
    let (c, n) = (config.clone(), name.clone());
    let current = state.db.run(move |conn| agents::get(conn, &c, &n)).await.ok();
    agents::letta::settle(&state.http, &mut input, current.as_ref()).await?;
    let (agent, dropped) = state
        .db
        .run(move |conn| agents::update_noting(conn, &config, now, &name, input, actor.0))
        .await?;
    let mut body = serde_json::to_value(agent.view()).map_err(|e| AppError::Internal(e.into()))?;
    if let (Some(obj), Some(note)) = (body.as_object_mut(), agents::dropped_note(&dropped)) {
        obj.insert("notes".into(), serde_json::json!([note]));
    }
    Ok(HttpResponse::Ok().json(body))
}

pub async fn delete(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    state.db.run(move |conn| agents::remove(conn, &config, &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/agents/{name}/check`: tests the connection; 200 with `ok` true or false and
/// the reason in words.
pub async fn check(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    let agent = state.db.run(move |conn| agents::get(conn, &config, &name)).await?;
    let (ok, message) = match agents::deliver::check(&state.http, &agent).await {
        Ok(m) => (true, m),
        Err(m) => (false, m),
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "agent": agent.name, "ok": ok, "message": message })))
}
