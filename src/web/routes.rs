//! Every route, in one place. Public: `/login`, `/setup`, `/healthz`, `/static/...`, `/sw.js`, the
//! calendar feeds `/feeds/<token>.ics` (the token is the credential), and the one-click
//! action links of pushed reminders `/a/<token>` (the signed, single-use token is the credential).
//! Everything else needs a session (pages) or a bearer token (`/api/v1`, `/mcp`, `/metrics`).

use actix_web::middleware::{Compress, from_fn};
use actix_web::web::{self, ServiceConfig};

use super::{api, assets, login, middleware, settings, tasks};

/// `https`: whether Steward is reached over TLS (adds HSTS).
pub fn configure(cfg: &mut ServiceConfig, https: bool) {
    cfg.service(
        web::scope("")
            .wrap(middleware::security_headers(https))
            .wrap(Compress::default())
            // A request's body must arrive in time (10 s on the public forms).
            .wrap(from_fn(super::body_timeout::limit))
            // With built-in TLS and `http_bind`: the plain-HTTP listener only redirects to https.
            .wrap(from_fn(super::to_https::redirect))
            // Outermost: it times everything and logs the status the client gets.
            .wrap(from_fn(middleware::request_log))
            // Public.
            .route("/healthz", web::get().to(login::healthz))
            .route("/static/{file}", web::get().to(assets::serve))
            // The Web Push service worker: at the root, so that its scope is the whole app.
            .route("/sw.js", web::get().to(assets::service_worker))
            .route("/manifest.webmanifest", web::get().to(super::today::manifest))
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .route("/login", web::get().to(login::login_page))
            .route("/login", web::post().to(login::login))
            // The login's second step: its challenge cookie is the credential (web::two_factor).
            .route("/login/2fa", web::get().to(super::two_factor::code_page))
            .route("/login/2fa", web::post().to(super::two_factor::submit_code))
            .route("/setup", web::get().to(login::setup_page))
            .route("/setup", web::post().to(login::setup))
            // A calendar feed: the token in the path is the credential (never logged, see
            // middleware::loggable_path); a wrong one gets a bare 404.
            .route("/feeds/{token}", web::get().to(super::calendar_sharing::feed))
            .route("/feeds/{token}", web::head().to(super::calendar_sharing::feed))
            // A reminder's one-click action link (Done, Snooze) from a pushed message: public,
            // because the phone that opens it has no session; the signed, single-use, expiring
            // token in the path is the credential (never logged, see middleware::loggable_path).
            // GET only asks; POST acts (see web::action_links).
            .route("/a/{token}", web::get().to(super::action_links::ask))
            .route("/a/{token}", web::post().to(super::action_links::act))
            // The JSON API: bearer token.
            .service(
                web::scope("/api/v1")
                    .wrap(from_fn(middleware::require_token))
                    .app_data(web::JsonConfig::default().limit(1 << 20).error_handler(api::json_error))
                    .app_data(web::QueryConfig::default().error_handler(api::query_error))
                    .app_data(web::PathConfig::default().error_handler(api::path_error))
                    // Each path is a resource, so that a method it does not take gets 405 + Allow.
                    // --- today ---
                    .service(
                        web::resource("/today")
                            .route(web::get().to(api::today::get))
                            .default_service(api::not_allowed("GET")),
                    )
                    .service(
                        web::resource("/tasks/move-overdue")
                            .route(web::post().to(api::today::move_overdue))
                            .default_service(api::not_allowed("POST")),
                    )
                    // --- end today ---
                    .service(
                        web::resource("/tasks")
                            .route(web::get().to(api::tasks::list))
                            .route(web::post().to(api::tasks::create))
                            .default_service(api::not_allowed("GET, POST")),
                    )
                    .service(
                        web::resource("/tasks/{id}")
                            .route(web::get().to(api::tasks::get))
                            .route(web::patch().to(api::tasks::update))
                            .route(web::delete().to(api::tasks::delete))
                            .default_service(api::not_allowed("GET, PATCH, DELETE")),
                    )
                    .service(
                        web::resource("/tasks/{id}/complete")
                            .route(web::post().to(api::tasks::complete))
                            .default_service(api::not_allowed("POST")),
                    )
                    .service(
                        web::resource("/agents")
                            .route(web::get().to(api::agents::list))
                            .route(web::post().to(api::agents::create))
                            .default_service(api::not_allowed("GET, POST")),
                    )
                    .service(
                        web::resource("/agents/{name}")
                            .route(web::get().to(api::agents::get))
                            .route(web::patch().to(api::agents::update))
                            .route(web::delete().to(api::agents::delete))
                            .default_service(api::not_allowed("GET, PATCH, DELETE")),
                    )
                    .service(
                        web::resource("/agents/{name}/check")
                            .route(web::post().to(api::agents::check))
                            .default_service(api::not_allowed("POST")),
                    )
                    // --- channels ---
                    .service(
                        web::resource("/channels")
                            .route(web::get().to(api::channels::list))
                            .route(web::post().to(api::channels::create))
                            .default_service(api::not_allowed("GET, POST")),
                    )
                    .service(
                        web::resource("/channels/{name}")
                            .route(web::get().to(api::channels::get))
                            .route(web::patch().to(api::channels::update))
                            .route(web::delete().to(api::channels::delete))
                            .default_service(api::not_allowed("GET, PATCH, DELETE")),
                    )
                    .service(
                        web::resource("/channels/{name}/test")
                            .route(web::post().to(api::channels::test))
                            .default_service(api::not_allowed("POST")),
                    )
                    // --- end channels ---
                    .service(
                        web::resource("/notifications/{id}/actions/{action}")
                            .route(web::post().to(api::notifications::act))
                            .default_service(api::not_allowed("POST")),
                    )
                    // Every password entry, newest first (admin: under the `auth` area).
                    .service(
                        web::resource("/auth/logins")
                            .route(web::get().to(api::logins::list))
                            .default_service(api::not_allowed("GET")),
                    )
                    .service(
                        web::resource("/auth/2fa")
                            .route(web::get().to(api::two_factor::status))
                            .default_service(api::not_allowed("GET")),
                    )
                    .service(
                        web::resource("/settings/reminders")
                            .route(web::get().to(api::reminders::get))
                            .route(web::patch().to(api::reminders::update))
                            .default_service(api::not_allowed("GET, PATCH")),
                    )
                    .service(
                        web::resource("/settings/retention")
                            .route(web::get().to(api::retention::get))
                            .route(web::patch().to(api::retention::update))
                            .default_service(api::not_allowed("GET, PATCH")),
                    )
                    .service(
                        web::resource("/schedules")
                            .route(web::get().to(api::schedules::list))
                            .route(web::post().to(api::schedules::create))
                            .default_service(api::not_allowed("GET, POST")),
                    )
                    .service(
                        web::resource("/schedules/upcoming")
                            .route(web::get().to(api::schedules::upcoming))
                            .default_service(api::not_allowed("GET")),
                    )
                    .service(
                        web::resource("/schedules/{id}")
                            .route(web::get().to(api::schedules::get))
                            .route(web::patch().to(api::schedules::update))
                            .route(web::delete().to(api::schedules::delete))
                            .default_service(api::not_allowed("GET, PATCH, DELETE")),
                    )
                    .service(
                        web::resource("/schedules/{id}/run")
                            .route(web::post().to(api::schedules::run_now))
                            .default_service(api::not_allowed("POST")),
                    )
                    .service(
                        web::resource("/runs")
                            .route(web::get().to(api::schedules::runs))
                            .default_service(api::not_allowed("GET")),
                    )
                    .service(
                        web::resource("/runs/{id}")
                            .route(web::get().to(api::schedules::run))
                            .default_service(api::not_allowed("GET")),
                    )
                    .service(
                        web::resource("/trigger")
                            .route(web::post().to(api::schedules::trigger))
                            .default_service(api::not_allowed("POST")),
                    )
                    .service(
                        web::resource("/status")
                            .route(web::get().to(api::schedules::status))
                            .default_service(api::not_allowed("GET")),
                    )
                    // Projects and briefings.
                    .service(
                        web::resource("/projects")
                            .route(web::get().to(api::briefings::projects))
                            .default_service(api::not_allowed("GET")),
                    )
                    .service(
                        web::resource("/projects/{name}")
                            .route(web::patch().to(api::briefings::update_project))
                            .default_service(api::not_allowed("PATCH")),
                    )
                    .service(
                        web::resource("/briefings")
                            .route(web::get().to(api::briefings::list))
                            .default_service(api::not_allowed("GET")),
                    )
                    .service(
                        web::resource("/briefings/{name}")
                            .route(web::get().to(api::briefings::get))
                            .route(web::patch().to(api::briefings::update))
                            .default_service(api::not_allowed("GET, PATCH")),
                    )
                    .service(
                        web::resource("/briefings/{name}/preview")
                            .route(web::post().to(api::briefings::preview))
                            .default_service(api::not_allowed("POST")),
                    )
                    .service(
                        web::resource("/briefings/{name}/run")
                            .route(web::post().to(api::briefings::run))
                            .default_service(api::not_allowed("POST")),
                    )
                    .service(
                        web::resource("/chat")
                            .route(web::post().to(api::chat::send))
                            .default_service(api::not_allowed("POST")),
                    )
                    .service(
                        web::resource("/conversations")
                            .route(web::get().to(api::chat::list))
                            .default_service(api::not_allowed("GET")),
                    )
                    .service(
                        web::resource("/conversations/{id}")
                            .route(web::get().to(api::chat::get))
                            .route(web::delete().to(api::chat::delete))
                            .default_service(api::not_allowed("GET, DELETE")),
                    )
                    .service(
                        web::resource("/conversations/{id}/regenerate")
                            .route(web::post().to(api::chat::regenerate))
                            .default_service(api::not_allowed("POST")),
                    )
                    .service(
                        web::resource("/conversations/{id}/stop")
                            .route(web::post().to(api::chat::stop))
                            .default_service(api::not_allowed("POST")),
                    )
                    // What the agent, MCP clients and tokens changed; undo; held MCP calls.
                    .service(
                        web::resource("/activity")
                            .route(web::get().to(api::activity::list))
                            .default_service(api::not_allowed("GET")),
                    )
                    .service(
                        web::resource("/activity/{id}/undo")
                            .route(web::post().to(api::activity::undo))
                            .default_service(api::not_allowed("POST")),
                    )
                    .service(
                        web::resource("/confirmations/{id}")
                            .route(web::get().to(api::activity::confirmation))
                            .default_service(api::not_allowed("GET")),
                    )
                    // The calendar (issue 13).
                    .service(
                        web::resource("/events")
                            .route(web::get().to(api::events::list))
                            .route(web::post().to(api::events::create))
                            .default_service(api::not_allowed("GET, POST")),
                    )
                    .service(
                        web::resource("/events/{id}")
                            .route(web::get().to(api::events::get))
                            .route(web::patch().to(api::events::update))
                            .route(web::delete().to(api::events::delete))
                            .default_service(api::not_allowed("GET, PATCH, DELETE")),
                    )
                    .service(
                        web::resource("/occurrences")
                            .route(web::get().to(api::events::occurrences))
                            .default_service(api::not_allowed("GET")),
                    )
                    .service(
                        web::resource("/calendars")
                            .route(web::get().to(api::events::calendars))
                            .route(web::post().to(api::events::create_calendar))
                            .default_service(api::not_allowed("GET, POST")),
                    )
                    .service(
                        web::resource("/calendars/{id}")
                            .route(web::patch().to(api::events::update_calendar))
                            .default_service(api::not_allowed("PATCH")),
                    )
                    .service(
                        web::resource("/calendar/import")
                            .app_data(web::PayloadConfig::new(crate::calendar::ics::MAX_BYTES))
                            .route(web::post().to(api::events::import))
                            .default_service(api::not_allowed("POST")),
                    )
                    .service(
                        web::resource("/calendar.ics")
                            .route(web::get().to(api::events::export))
                            .default_service(api::not_allowed("GET")),
                    )
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
            // Prometheus: a bearer token with the `metrics` scope (or `admin`), never public.
            .service(
                web::scope("/metrics").wrap(from_fn(middleware::require_token)).service(
                    web::resource("")
                        .route(web::get().to(super::metrics::scrape))
                        .default_service(api::not_allowed("GET")),
                ),
            )
            // Pages: session, CSRF on every state change.
            .service(
                web::scope("")
                    .wrap(from_fn(middleware::require_session))
                    .app_data(web::FormConfig::default().limit(256 * 1024))
                    .route("/", web::get().to(super::today::page))
                    // --- today ---
                    .route("/today/add", web::post().to(super::today::add))
                    .route("/today/preview", web::get().to(super::today::preview))
                    .route("/today/tasks/{id}/toggle", web::post().to(super::today::toggle))
                    .route("/today/overdue/move", web::post().to(super::today::move_overdue))
                    .route("/settings/context", web::get().to(super::today::context_rules))
                    .route("/settings/context", web::post().to(super::today::save_context_rules))
                    // --- end today ---
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
                    .route("/settings/reminders", web::post().to(settings::set_reminders))
                    .route("/settings/retention", web::post().to(settings::set_retention))
                    .route("/settings/timezone", web::post().to(settings::set_timezone))
                    .route("/settings/sessions/{id}/revoke", web::post().to(settings::revoke_session))
                    .route("/settings/tokens", web::post().to(settings::create_token))
                    .route("/settings/tokens/{id}/revoke", web::post().to(settings::revoke_token))
                    // The whole database as a file; asks for the password after 10 minutes.
                    .route("/settings/export", web::post().to(settings::export))
                    // Two-factor authentication (a Settings sub-page).
                    .route("/settings/2fa", web::get().to(super::two_factor::page))
                    .route("/settings/2fa/start", web::post().to(super::two_factor::start))
                    .route("/settings/2fa/confirm", web::post().to(super::two_factor::confirm))
                    .route("/settings/2fa/cancel", web::post().to(super::two_factor::cancel))
                    .route("/settings/2fa/recovery", web::post().to(super::two_factor::regenerate))
                    .route("/settings/2fa/disable", web::post().to(super::two_factor::disable))
                    // Calendar feeds and subscriptions (a Settings sub-page).
                    .route("/settings/calendars", web::get().to(super::calendar_sharing::page))
                    .route("/settings/calendars/feeds", web::post().to(super::calendar_sharing::create_feed))
                    .route(
                        "/settings/calendars/feeds/{id}/revoke",
                        web::post().to(super::calendar_sharing::revoke_feed),
                    )
                    .route(
                        "/settings/calendars/subscriptions",
                        web::post().to(super::calendar_sharing::subscribe),
                    )
                    .route(
                        "/settings/calendars/subscriptions/{id}/refresh",
                        web::post().to(super::calendar_sharing::refresh),
                    )
                    .route(
                        "/settings/calendars/subscriptions/{id}/remove",
                        web::post().to(super::calendar_sharing::unsubscribe),
                    )
                    // An address a form once left in the history (`/settings/tokens`) reloads
                    // as the page, not as a 404.
                    .route("/settings/{form:.+}", web::get().to(settings::back_to_page))
                    .route("/chat", web::get().to(super::chat::index))
                    .route("/chat", web::post().to(super::chat::start))
                    .route("/chat/{id}", web::get().to(super::chat::show))
                    .route("/chat/{id}/messages", web::get().to(super::chat::messages))
                    .route("/chat/{id}/messages", web::post().to(super::chat::send))
                    .route("/chat/{id}/stream", web::get().to(super::chat::stream))
                    .route("/chat/{id}/stop", web::post().to(super::chat::stop))
                    .route("/chat/{id}/tools/{message}/confirm", web::post().to(super::chat::confirm_tool))
                    .route("/chat/{id}/tools/{message}/decline", web::post().to(super::chat::decline_tool))
                    .route("/chat/{id}/regenerate", web::post().to(super::chat::regenerate))
                    .route("/chat/{id}/rename", web::post().to(super::chat::rename))
                    .route("/chat/{id}/delete", web::post().to(super::chat::delete))
                    .route("/projects", web::get().to(super::projects::page))
                    .route("/projects/settings", web::post().to(super::projects::stalled))
                    .route("/projects/{name}", web::post().to(super::projects::save))
                    .route("/briefings", web::get().to(super::briefings::page))
                    .route("/briefings/enable", web::post().to(super::briefings::enable_all))
                    .route(
                        "/today/briefings-offer/dismiss",
                        web::post().to(super::today::dismiss_briefings_offer),
                    )
                    .route("/briefings/{name}", web::post().to(super::briefings::save))
                    .route("/briefings/{name}/run", web::post().to(super::briefings::run_now))
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
                    // The calendar page.
                    .route("/calendar", web::get().to(super::calendar::page))
                    .route("/calendar/style.css", web::get().to(super::calendar::style))
                    .route("/calendar/preview", web::get().to(super::calendar::preview))
                    .route("/calendar/new", web::get().to(super::calendar::new_event))
                    .route("/calendar/events", web::post().to(super::calendar::create))
                    .route("/calendar/events/{id}", web::post().to(super::calendar::save))
                    .route("/calendar/events/{id}/edit", web::get().to(super::calendar::edit))
                    .route("/calendar/events/{id}/delete", web::post().to(super::calendar::delete))
                    .route("/calendar/events/{id}/undo", web::post().to(super::calendar::undo))
                    .route("/calendar/calendars", web::post().to(super::calendar::create_calendar))
                    .route("/calendar/calendars/{id}", web::post().to(super::calendar::update_calendar))
                    .route("/calendar/overlays", web::post().to(super::calendar::overlay))
                    .route("/calendar/tasks/{id}/toggle", web::post().to(super::calendar::toggle_task))
                    .route("/calendar/import", web::post().to(super::calendar::import))
                    .route("/notifications", web::get().to(super::notifications::page))
                    .route("/notifications/count", web::get().to(super::notifications::count))
                    .route("/notifications/read", web::post().to(super::notifications::mark_read))
                    .route("/notifications/{id}/actions/{action}", web::post().to(super::notifications::act))
                    .route("/activity", web::get().to(super::activity::page))
                    .route("/activity/{id}/undo", web::post().to(super::activity::undo))
                    .route("/confirmations/{id}/confirm", web::post().to(super::activity::confirm))
                    .route("/confirmations/{id}/decline", web::post().to(super::activity::decline))
                    .route("/agents", web::get().to(super::agents::page))
                    .route("/agents", web::post().to(super::agents::add))
                    .route("/agents/{name}", web::post().to(super::agents::save))
                    .route("/agents/{name}/edit", web::get().to(super::agents::edit))
                    .route("/agents/{name}/check", web::post().to(super::agents::check))
                    .route("/agents/{name}/remove", web::post().to(super::agents::remove))
                    // --- channels ---
                    .route("/channels", web::get().to(super::channels::page))
                    .route("/channels", web::post().to(super::channels::add))
                    .route("/channels/{name}", web::post().to(super::channels::save))
                    .route("/channels/{name}/edit", web::get().to(super::channels::edit))
                    .route("/channels/{name}/test", web::post().to(super::channels::test))
                    .route("/channels/{name}/remove", web::post().to(super::channels::remove))
                    .route("/push/subscribe", web::post().to(super::channels::subscribe))
                    .route(
                        "/notifications/deliveries/{id}/resend",
                        web::post().to(super::notifications::resend),
                    )
                    // --- end channels ---
                    .default_service(web::to(tasks::not_found)),
            ),
    );
}
