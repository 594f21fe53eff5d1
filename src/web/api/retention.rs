//! `/api/v1/settings/retention`: how long runs and notifications are kept (an `admin` token,
//! like every setting; see `auth::scopes` and `crate::retention`).

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::retention::{self, RetentionInput};
use crate::web::AppState;

pub async fn get(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    let s = state.db.run(move |conn| retention::load(conn, &config)).await?;
    Ok(HttpResponse::Ok().json(s.input()))
}

/// Changes what is given; the scheduler's next prune follows it.
pub async fn update(
    state: web::Data<AppState>,
    body: super::Json<RetentionInput>,
) -> Result<HttpResponse, ApiError> {
    let (input, config) = (body.into_inner(), state.config.clone());
    let s = state.db.run(move |conn| retention::save(conn, &config, &input)).await?;
    Ok(HttpResponse::Ok().json(s.input()))
}
