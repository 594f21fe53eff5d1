//! `POST /api/v1/chat` (streamed as server-sent events, or whole as JSON) and
//! `/api/v1/conversations`.

use std::convert::Infallible;

use actix_web::{HttpRequest, HttpResponse, Responder, web};
use actix_web_lab::sse::{self, Sse};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::chat::engine::{ChatEvent, Watch};
use crate::chat::{self, MessageView};
use crate::error::{ApiError, AppError};
use crate::web::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    message: String,
    conversation_id: Option<i32>,
    agent: Option<String>,
}

fn wants_stream(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

pub async fn send(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: super::ApiActor,
    body: super::Json<ChatRequest>,
) -> Result<HttpResponse, ApiError> {
    let ChatRequest { message, conversation_id, agent } = body.into_inner();
    let target = agent.clone();
    state
        .db
        .run(move |conn| {
            let name = match conversation_id {
                Some(id) => chat::get(conn, id)?.agent,
                None => target.unwrap_or_else(|| "default".into()),
            };
            crate::agents::may_send_to(conn, &name, actor.0)
        })
        .await?;
    let started = state.chat.send(conversation_id, agent, message, None).await?;
    answer(&req, &state, started).await
}

/// Writes the last reply again (after an error, or to get another answer).
pub async fn regenerate(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: super::ApiActor,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .db
        .run(move |conn| {
            let name = chat::get(conn, id)?.agent;
            crate::agents::may_send_to(conn, &name, actor.0)
        })
        .await?;
    let started = state.chat.regenerate(id).await?;
    answer(&req, &state, started).await
}

/// Stops the reply being written; what it wrote stays.
pub async fn stop(state: web::Data<AppState>, id: web::Path<i32>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state.db.run(move |conn| chat::get(conn, id)).await?;
    let stopped = state.chat.stop(id);
    Ok(HttpResponse::Ok().json(json!({ "stopped": stopped })))
}

/// The reply as SSE when the client accepts it, else whole as JSON once written.
async fn answer(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    started: crate::chat::engine::Started,
) -> Result<HttpResponse, ApiError> {
    if wants_stream(req) {
        return Ok(events(started.watch).respond_to(req).map_into_boxed_body());
    }
    let conversation_id = started.conversation_id;
    let outcome =
        started.done.await.map_err(|e| AppError::Internal(anyhow::anyhow!("the reply task failed: {e}")))?;
    let id = outcome.message_id;
    let reply = state.db.run(move |conn| chat::message(conn, id)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "conversation_id": conversation_id,
        "message_id": id,
        "content": reply.content,
        "state": reply.state,
        "error": outcome.error,
    })))
}

/// A reply's events as SSE, named by type, ending after `done`.
pub fn events(watch: Watch) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    Sse::from_stream(event_stream(watch)).with_keep_alive(std::time::Duration::from_secs(15))
}

/// The events of [`events`], for a stream that starts with something else.
pub fn event_stream(watch: Watch) -> impl Stream<Item = Result<sse::Event, Infallible>> {
    stream::unfold((watch.events, false), |(mut rx, ended)| async move {
        if ended {
            return None;
        }
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            };
            let last = matches!(event, ChatEvent::Done { .. });
            let data = match sse::Data::new_json(&event) {
                Ok(d) => d.event(event.name()),
                Err(_) => continue,
            };
            return Some((Ok(sse::Event::Data(data)), (rx, last)));
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    q: Option<String>,
    limit: Option<i64>,
}

pub async fn list(state: web::Data<AppState>, q: super::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let list = state.db.run(move |conn| chat::list(conn, q.q.as_deref(), q.limit.unwrap_or(100))).await?;
    Ok(HttpResponse::Ok().json(json!({ "conversations": list })))
}

pub async fn get(state: web::Data<AppState>, id: web::Path<i32>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (c, messages) =
        state.db.run(move |conn| Ok((chat::get(conn, id)?, chat::messages(conn, id)?))).await?;
    let messages: Vec<MessageView> = messages.into_iter().map(MessageView::from).collect();
    let mut body = serde_json::to_value(&c).map_err(|e| AppError::Internal(e.into()))?;
    body["messages"] = serde_json::to_value(messages).map_err(|e| AppError::Internal(e.into()))?;
    body["generating"] = json!(state.chat.is_live(id));
    Ok(HttpResponse::Ok().json(body))
}

pub async fn delete(state: web::Data<AppState>, id: web::Path<i32>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state.chat.stop(id);
    let now = state.clock.now();
    state.db.run(move |conn| chat::delete(conn, id, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}
