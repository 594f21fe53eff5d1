//! `GET /api/v1/auth/logins`: the login history (admin scope: it says where the person signs
//! in from).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::auth::login_history::{self, KEEP_ROWS};
use crate::error::{ApiError, AppError};
use crate::web::AppState;

#[derive(Deserialize)]
pub struct LoginsQuery {
    /// How many, newest first: 1 to 1000, 100 when not given.
    limit: Option<i64>,
}

/// `{"logins": [{at, address, device, user_agent, known_device, outcome}]}`, newest first.
pub async fn list(
    state: web::Data<AppState>,
    q: super::Query<LoginsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.into_inner().limit.unwrap_or(100);
    if !(1..=KEEP_ROWS).contains(&limit) {
        return Err(AppError::invalid("limit", format!("{limit} is not between 1 and {KEEP_ROWS}")).into());
    }
    let entries = state.db.run(move |conn| Ok(login_history::list(conn, limit)?)).await?;
    let views: Vec<_> = entries.iter().map(login_history::Entry::view).collect();
    Ok(HttpResponse::Ok().json(json!({ "logins": views })))
}
