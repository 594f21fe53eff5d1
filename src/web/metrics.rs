//! `GET /metrics`: what Prometheus scrapes ([`crate::metrics`]), as Prometheus text 0.0.4. It
//! takes a bearer token with the `metrics` scope (or `admin`), like the API; see `routes.rs`.

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::web::AppState;

pub async fn scrape(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state.metrics.scrape(&state.db, state.clock.now()).await?;
    Ok(HttpResponse::Ok().content_type(crate::metrics::CONTENT_TYPE).body(text))
}
