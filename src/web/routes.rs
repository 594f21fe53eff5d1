//! Every route, in one place. Public: `/login`, `/setup`, `/healthz`, `/static/...`.
//! Everything else needs a session (pages) or a bearer token (`/api/v1`, `/mcp`).

use actix_web::middleware::{Compress, from_fn};
use actix_web::web::{self, ServiceConfig};

use super::{api, assets, login, middleware, settings, tasks};

/// `https`: whether Steward is reached over TLS (adds HSTS).
pub fn configure(cfg: &mut ServiceConfig, https: bool) {
    cfg.service(
        web::scope("")
            .wrap(middleware::security_headers(https))
            .wrap(Compress::default())
            // Outermost: it times everything and logs the status the client gets.
            .wrap(from_fn(middleware::request_log))
            // Public.
            .route("/healthz", web::get().to(login::healthz))
            .route("/static/{file}", web::get().to(assets::serve))
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .route("/login", web::get().to(login::login_page))
            .route("/login", web::post().to(login::login))
            .route("/setup", web::get().to(login::setup_page))
            .route("/setup", web::post().to(login::setup))
            // The JSON API: bearer token.
            .service(
                web::scope("/api/v1")
                    .wrap(from_fn(middleware::require_token))
                    .app_data(web::JsonConfig::default().limit(1 << 20).error_handler(api::json_error))
                    .app_data(web::QueryConfig::default().error_handler(api::query_error))
                    .route("/tasks", web::get().to(api::tasks::list))
                    .route("/tasks", web::post().to(api::tasks::create))
                    .route("/tasks/{id}", web::get().to(api::tasks::get))
                    .route("/tasks/{id}", web::patch().to(api::tasks::update))
                    .route("/tasks/{id}", web::delete().to(api::tasks::delete))
                    .route("/tasks/{id}/complete", web::post().to(api::tasks::complete))
                    .route("/agents", web::get().to(api::agents::list))
                    .route("/agents", web::post().to(api::agents::create))
                    .route("/agents/{name}", web::get().to(api::agents::get))
                    .route("/agents/{name}", web::patch().to(api::agents::update))
                    .route("/agents/{name}", web::delete().to(api::agents::delete))
                    .route("/agents/{name}/check", web::post().to(api::agents::check))
                    .route("/schedules", web::get().to(api::schedules::list))
                    .route("/schedules", web::post().to(api::schedules::create))
                    .route("/schedules/upcoming", web::get().to(api::schedules::upcoming))
                    .route("/schedules/{id}", web::get().to(api::schedules::get))
                    .route("/schedules/{id}", web::patch().to(api::schedules::update))
                    .route("/schedules/{id}", web::delete().to(api::schedules::delete))
                    .route("/schedules/{id}/run", web::post().to(api::schedules::run_now))
                    .route("/runs", web::get().to(api::schedules::runs))
                    .route("/runs/{id}", web::get().to(api::schedules::run))
                    .route("/trigger", web::post().to(api::schedules::trigger))
                    .route("/status", web::get().to(api::schedules::status))
                    .route("/chat", web::post().to(api::chat::send))
                    .route("/conversations", web::get().to(api::chat::list))
                    .route("/conversations/{id}", web::get().to(api::chat::get))
                    .route("/conversations/{id}", web::delete().to(api::chat::delete))
                    .route("/conversations/{id}/regenerate", web::post().to(api::chat::regenerate))
                    .route("/conversations/{id}/stop", web::post().to(api::chat::stop))
                    .default_service(web::to(api::not_found)),
            )
            // MCP for external agents: bearer token, like the API.
            .service(
                web::scope("/mcp")
                    .wrap(from_fn(middleware::require_token))
                    .app_data(web::PayloadConfig::new(1 << 20))
                    .service(
                        web::resource("")
                            .route(web::post().to(super::mcp::post))
                            .default_service(web::to(super::mcp::not_allowed)),
                    ),
            )
            // Pages: session, CSRF on every state change.
            .service(
                web::scope("")
                    .wrap(from_fn(middleware::require_session))
                    .app_data(web::FormConfig::default().limit(256 * 1024))
                    .route("/", web::get().to(tasks::home))
                    .route("/logout", web::post().to(login::logout))
                    .route("/tasks", web::get().to(tasks::page))
                    .route("/tasks", web::post().to(tasks::add))
                    .route("/tasks/preview", web::get().to(tasks::preview))
                    .route("/tasks/more", web::get().to(tasks::more))
                    .route("/tasks/export", web::get().to(tasks::export))
                    .route("/tasks/import", web::post().to(tasks::import))
                    .route("/tasks/{id}", web::get().to(tasks::row))
                    .route("/tasks/{id}", web::post().to(tasks::save))
                    .route("/tasks/{id}/edit", web::get().to(tasks::edit))
                    .route("/tasks/{id}/toggle", web::post().to(tasks::toggle))
                    .route("/tasks/{id}/delete", web::post().to(tasks::delete))
                    .route("/tasks/{id}/restore", web::post().to(tasks::restore))
                    .route("/settings", web::get().to(settings::page))
                    .route("/settings/password", web::post().to(settings::change_password))
                    .route("/settings/guards", web::post().to(settings::set_guards))
                    .route("/settings/chat", web::post().to(settings::set_chat))
                    .route("/settings/timezone", web::post().to(settings::set_timezone))
                    .route("/settings/sessions/{id}/revoke", web::post().to(settings::revoke_session))
                    .route("/settings/tokens", web::post().to(settings::create_token))
                    .route("/settings/tokens/{id}/revoke", web::post().to(settings::revoke_token))
                    .route("/chat", web::get().to(super::chat::index))
                    .route("/chat", web::post().to(super::chat::start))
                    .route("/chat/{id}", web::get().to(super::chat::show))
                    .route("/chat/{id}/messages", web::get().to(super::chat::messages))
                    .route("/chat/{id}/messages", web::post().to(super::chat::send))
                    .route("/chat/{id}/stream", web::get().to(super::chat::stream))
                    .route("/chat/{id}/stop", web::post().to(super::chat::stop))
                    .route("/chat/{id}/tools/{message}/confirm", web::post().to(super::chat::confirm_tool))
                    .route("/chat/{id}/regenerate", web::post().to(super::chat::regenerate))
                    .route("/chat/{id}/rename", web::post().to(super::chat::rename))
                    .route("/chat/{id}/delete", web::post().to(super::chat::delete))
                    .route("/schedules", web::get().to(super::schedules::page))
                    .route("/schedules", web::post().to(super::schedules::create))
                    .route("/schedules/preview", web::get().to(super::schedules::preview))
                    .route("/schedules/{id}", web::post().to(super::schedules::save))
                    .route("/schedules/{id}/row", web::get().to(super::schedules::row))
                    .route("/schedules/{id}/edit", web::get().to(super::schedules::edit))
                    .route("/schedules/{id}/pause", web::post().to(super::schedules::pause))
                    .route("/schedules/{id}/resume", web::post().to(super::schedules::resume))
                    .route("/schedules/{id}/run", web::post().to(super::schedules::run_now))
                    .route("/schedules/{id}/duplicate", web::post().to(super::schedules::duplicate))
                    .route("/schedules/{id}/delete", web::get().to(super::schedules::confirm_delete))
                    .route("/schedules/{id}/delete", web::post().to(super::schedules::delete))
                    .route("/schedules/{id}/runs", web::get().to(super::runs::of_schedule))
                    .route("/runs", web::get().to(super::runs::page))
                    .route("/runs/{id}/row", web::get().to(super::runs::row))
                    .route("/events", web::get().to(super::events::stream))
                    .route("/notifications", web::get().to(super::notifications::page))
                    .route("/notifications/count", web::get().to(super::notifications::count))
                    .route("/notifications/read", web::post().to(super::notifications::mark_read))
                    .route("/agents", web::get().to(super::agents::page))
                    .route("/agents", web::post().to(super::agents::add))
                    .route("/agents/{name}", web::post().to(super::agents::save))
                    .route("/agents/{name}/edit", web::get().to(super::agents::edit))
                    .route("/agents/{name}/check", web::post().to(super::agents::check))
                    .route("/agents/{name}/remove", web::post().to(super::agents::remove))
                    .default_service(web::to(tasks::not_found)),
            ),
    );
}
