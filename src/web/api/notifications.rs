//! `/api/v1/notifications/{id}/actions/{action}`: a reminder's Done or Snooze, as its buttons
//! do (`done`, `snooze` with `{"snooze": "10m" | "1h" | "tomorrow"}`, or `snooze-1h`...).
//! A `write` token may (see `auth::scopes`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::error::{ApiError, AppError};
use crate::notify::actions::{self, Kind};
use crate::web::AppState;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    snooze: Option<String>,
}

pub async fn act(
    state: web::Data<AppState>,
    actor: super::ApiActor,
    path: web::Path<(i32, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let body: ActionBody = if body.iter().all(u8::is_ascii_whitespace) {
        ActionBody::default()
    } else {
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| AppError::Malformed(format!("the body is not JSON: {e}")))?;
        super::from_json(value)?
    };
    let kind = Kind::parse(&action, body.snooze.as_deref())?;
    if kind == Kind::Open {
        return Err(AppError::invalid(
            "action",
            "open is a link, not an action: use done, snooze or turn-off",
        )
        .into());
    }
    let config = state.config.clone();
    let outcome =
        state.run_as(actor.0, move |conn, ctx| actions::perform_on(conn, ctx, &config, id, kind)).await?;
    state.wake.poke();
    Ok(HttpResponse::Ok().json(outcome))
}
