//! `/api/v1/settings/reminders`: the reminder defaults, quiet hours and the waiting-for
//! follow-up (an `admin` token, like every setting; see `auth::scopes`).

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::reminders::settings::{self, SettingsInput};
use crate::services::Actor;
use crate::web::AppState;

pub async fn get(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let s = state.db.run(settings::load).await?;
    Ok(HttpResponse::Ok().json(s.input()))
}

/// Changes what is given; every task's reminders follow at once.
pub async fn update(
    state: web::Data<AppState>,
    body: super::Json<SettingsInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let s =
        state.run_as(Actor::Person, move |conn, ctx| settings::save(conn, &input, ctx.now, ctx.tz)).await?;
    Ok(HttpResponse::Ok().json(s.input()))
}
