//! `/api/v1/today`: the Today page's data as JSON (for the agent and phone widgets), and
//! `/api/v1/tasks/move-overdue`: Today's "move all overdue to today/tomorrow".

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::error::ApiError;
use crate::tasks::service::{self, MoveTo};
use crate::today::{self, Parts};
use crate::web::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TodayQuery {
    /// A context to rank "what next" for (`work` or `@work`); the rules decide without it.
    context: Option<String>,
}

pub async fn get(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    query: super::Query<TodayQuery>,
) -> Result<HttpResponse, ApiError> {
    let chosen = query.into_inner().context;
    let body = state
        .run_as(actor.0, move |conn, ctx| {
            let t = today::build(conn, ctx, chosen.as_deref(), Parts::ALL)?;
            let names = crate::calendar::service::calendar_names(conn)?;
            Ok(t.to_json(&names))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// `today` or `tomorrow`.
    to: String,
}

pub async fn move_overdue(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    body: super::Json<MoveBody>,
) -> Result<HttpResponse, ApiError> {
    let to = MoveTo::parse(&body.into_inner().to)?;
    let moved = state.run_as(actor.0, move |conn, ctx| service::move_overdue(conn, ctx, to)).await?;
    service::announce(&state.events, None);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "moved": moved })))
}
