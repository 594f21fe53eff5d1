//! `/api/v1/channels`: list, add, read, change, remove, test. Only an `admin` token reaches
//! these (see `auth::scopes`). Secrets are write-only: answers say "set" or "not set".

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::notify::{self, ChannelInput};
use crate::web::AppState;

pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let list = state.db.run(notify::list).await?;
    let views: Vec<_> = list.iter().map(notify::Channel::view).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "channels": views })))
}

pub async fn create(
    state: web::Data<AppState>,
    body: super::Json<ChannelInput>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let input = body.into_inner();
    let ch = state.db.run(move |conn| notify::add(conn, now, input)).await?;
    Ok(HttpResponse::Created().json(ch.view()))
}

pub async fn get(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let ch = state.db.run(move |conn| notify::get(conn, &name)).await?;
    Ok(HttpResponse::Ok().json(ch.view()))
}

/// The channel as it now is; `notes` says what a changed address dropped.
pub async fn update(
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: super::Json<ChannelInput>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let input = body.into_inner();
    let (ch, dropped) = state.db.run(move |conn| notify::update_noting(conn, now, &name, input)).await?;
    let mut body = ch.view();
    if let (Some(obj), Some(note)) = (body.as_object_mut(), notify::dropped_note(&dropped)) {
        obj.insert("notes".into(), serde_json::json!([note]));
    }
    Ok(HttpResponse::Ok().json(body))
}

pub async fn delete(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    state.db.run(move |conn| notify::remove(conn, &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/channels/{name}/test`: sends a test message now; 200 with `ok` and the
/// outcome in words (why it failed, when it did).
pub async fn test(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (now, public_url) = (state.clock.now(), state.config.public_url.clone());
    let ch = state.db.run(move |conn| notify::get_to_send(conn, &name, public_url.as_deref(), now)).await?;
    let (ok, message) = match notify::test(&state.http, &ch, state.config.public_url.as_deref()).await {
        Ok(m) => (true, m),
        Err(m) => (false, m),
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "channel": ch.name, "ok": ok, "message": message })))
}
