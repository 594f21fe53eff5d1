//! The JSON API (`/api/v1`), behind a bearer token. Errors are `{"error":{"code","message"}}`.

pub mod agents;
pub mod chat;
pub mod schedules;
pub mod tasks;

use actix_web::HttpRequest;
use actix_web::error::{JsonPayloadError, QueryPayloadError};

use crate::error::{ApiError, AppError};

pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError(AppError::NotFound("no such API endpoint".into())))
}

/// Malformed JSON bodies get the API's error shape, not actix's plain text.
pub fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError(AppError::invalid("body", err.to_string())).into()
}

pub fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError(AppError::invalid("query", err.to_string())).into()
}
