//! `/api/v1/auth/2fa`: whether the second factor is on and how many recovery codes are left.
//! Status only: the secret and the codes never leave the server.

use actix_web::{HttpResponse, web};

use crate::auth::totp;
use crate::error::ApiError;
use crate::web::AppState;

pub async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let status = state.db.run(totp::status).await?;
    Ok(HttpResponse::Ok().json(status))
}
