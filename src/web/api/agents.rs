//! `/api/v1/agents`: list, add, read, change, remove. Secrets are never shown back. Agents
//! that run programs (`command`) cannot be set up through a token.

use actix_web::{HttpResponse, web};

use crate::agents::{self, AgentInput};
use crate::error::ApiError;
use crate::services::Actor;
use crate::web::AppState;

pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    let list = state.db.run(move |conn| agents::list(conn, &config)).await?;
    let views: Vec<_> = list.iter().map(agents::Agent::view).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "agents": views })))
}

pub async fn create(
    state: web::Data<AppState>,
    body: super::Json<AgentInput>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let mut input = body.into_inner();
    agents::letta::settle(&state.http, &mut input, None).await?;
    let agent = state.db.run(move |conn| agents::add(conn, now, input, Actor::Api)).await?;
    Ok(HttpResponse::Created().json(agent.view()))
}

pub async fn get(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    let agent = state.db.run(move |conn| agents::get(conn, &config, &name)).await?;
    Ok(HttpResponse::Ok().json(agent.view()))
}

pub async fn update(
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: super::Json<AgentInput>,
) -> Result<HttpResponse, ApiError> {
    let (config, now) = (state.config.clone(), state.clock.now());
    let mut input = body.into_inner();
    let (c, n) = (config.clone(), name.clone());
    let current = state.db.run(move |conn| agents::get(conn, &c, &n)).await.ok();
    agents::letta::settle(&state.http, &mut input, current.as_ref()).await?;
    let agent =
        state.db.run(move |conn| agents::update(conn, &config, now, &name, input, Actor::Api)).await?;
    Ok(HttpResponse::Ok().json(agent.view()))
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
