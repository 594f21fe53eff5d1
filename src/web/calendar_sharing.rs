//! Calendar feeds and subscriptions: the Settings sub-page `/settings/calendars`, and the public
//! feed address `/feeds/<token>.ics`.
//!
//! The page follows the Settings page's pattern: every form posts to its own path; htmx gets the
//! page again with the outcome (`HX-Push-Url: false`), a plain form a 303 back here with the
//! outcome kept once in the flash store. A new feed's address (it carries the secret) is shown
//! once, in that answer, never in a URL. A subscription's address is shown only as its host.
//!
//! The feed route is outside the login: the token in the path is the credential. A wrong or
//! revoked token gets a bare 404, the same as an address that never existed.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::htmx::is_htmx;
use super::{CurrentSession, Layout, html, see_other};
use crate::auth::sessions::Session;
use crate::calendar::feeds::{self, FeedOptions, FeedView};
use crate::calendar::subscriptions::{self, SubscribeInput, SubscriptionView};
use crate::error::{AppError, PageError};
use crate::services::Actor;
use crate::web::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "sharing.html")]
pub struct SharingPage {
    layout: Layout,
    feeds: Vec<FeedView>,
    subscriptions: Vec<SubscriptionView>,
    flash: SharingFlash,
}

impl SharingPage {
    fn error_in(&self, section: &str) -> Option<&str> {
        self.flash.error.as_deref().filter(|_| self.flash.section == section)
    }

    fn notice_in(&self, section: &str) -> Option<&str> {
        self.flash.notice.as_deref().filter(|_| self.flash.section == section)
    }

    fn typed(&self, field: &str, stored: impl std::fmt::Display) -> String {
        self.flash.typed.get(field).cloned().unwrap_or_else(|| stored.to_string())
    }

    /// An RFC 3339 instant in words, in UTC minutes.
    fn when(&self, at: &str) -> String {
        chrono::DateTime::parse_from_rfc3339(at)
            .map(|t| super::view::utc_minutes(t.to_utc()))
            .unwrap_or_else(|_| at.to_string())
    }
}

#[derive(Debug, Default, Clone)]
struct SharingFlash {
    section: &'static str,
    notice: Option<String>,
    error: Option<String>,
    typed: HashMap<&'static str, String>,
    /// A new feed's address, shown this once.
    new_feed_url: Option<String>,
}

async fn render(
    state: &web::Data<AppState>,
    session: &Session,
    flash: SharingFlash,
) -> Result<HttpResponse, PageError> {
    let (feeds, subscriptions) = state
        .db
        .run(|conn| {
            let feeds = feeds::list(conn)?.iter().map(feeds::Feed::view).collect();
            Ok((feeds, subscriptions::list(conn)?))
        })
        .await?;
    let status = if flash.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = SharingPage {
        layout: Layout::new("Calendar feeds and subscriptions", "settings", session),
        feeds,
        subscriptions,
        flash,
    };
    html(status, &page)
}

async fn answer(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &Session,
    section: &'static str,
    outcome: Result<Option<String>, AppError>,
    typed: &[(&'static str, &str)],
    new_feed_url: Option<String>,
) -> Result<HttpResponse, PageError> {
    let mut flash = SharingFlash { section, new_feed_url, ..SharingFlash::default() };
    match outcome {
        Ok(notice) => flash.notice = notice,
        Err(e @ (AppError::Invalid { .. } | AppError::NotFound(_))) => {
            flash.error = Some(e.client_message());
            flash.typed = typed.iter().map(|(k, v)| (*k, v.to_string())).collect();
        }
        Err(e) => return Err(e.into()),
    }
    if !is_htmx(req) {
        state.flashes.keep(session, flash);
        return Ok(see_other(&format!("/settings/calendars#{section}")));
    }
    let mut res = render(state, session, flash).await?;
    res.headers_mut().insert(HeaderName::from_static("hx-push-url"), HeaderValue::from_static("false"));
    Ok(res)
}

pub async fn page(state: web::Data<AppState>, session: CurrentSession) -> Result<HttpResponse, PageError> {
    let flash: SharingFlash = state.flashes.take(&session.0).unwrap_or_default();
    let mut res = render(&state, &session.0, flash).await?;
    *res.status_mut() = StatusCode::OK;
    Ok(res)
}

#[derive(Deserialize)]
pub struct FeedForm {
    name: String,
    /// Checkboxes: present when ticked.
    tasks: Option<String>,
    schedules: Option<String>,
    #[serde(default)]
    schedule_days: String,
}

pub async fn create_feed(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<FeedForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let days = match f.schedule_days.trim() {
        "" => Ok(None),
        text => text.parse::<i32>().map(Some).map_err(|_| {
            AppError::invalid("schedule_days", format!("{text:?} is not a whole number of days"))
        }),
    };
    let typed = [("feed_name", f.name.as_str()), ("schedule_days", f.schedule_days.as_str())];
    let options = match days {
        Ok(schedule_days) => FeedOptions {
            include_tasks: f.tasks.is_some(),
            include_schedules: f.schedules.is_some(),
            schedule_days,
        },
        Err(e) => return answer(&req, &state, &session.0, "feeds", Err(e), &typed, None).await,
    };
    let (st, name) = (state.clone(), f.name.clone());
    let created = state.db.run(move |conn| feeds::create(conn, &name, &options, st.clock.now())).await;
    match created {
        Ok((token, feed)) => {
            let url = feeds::url(&state.config, &token);
            let notice =
                format!("Feed “{}” created. Copy its address now: it is not shown again.", feed.name);
            answer(&req, &state, &session.0, "feeds", Ok(Some(notice)), &[], Some(url)).await
        }
        Err(e) => answer(&req, &state, &session.0, "feeds", Err(e), &typed, None).await,
    }
}

pub async fn revoke_feed(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner().to_string();
    let outcome = state
        .db
        .run(move |conn| feeds::revoke(conn, &id))
        .await
        .map(|f| Some(format!("Feed “{}” revoked: its address now answers “not found”.", f.name)));
    answer(&req, &state, &session.0, "feeds", outcome, &[], None).await
}

#[derive(Deserialize)]
pub struct SubscribeForm {
    name: String,
    url: String,
    #[serde(default)]
    refresh_minutes: String,
}

pub async fn subscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<SubscribeForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    // The address is a secret: a refused form gives the name and minutes back, not the address.
    let typed = [("sub_name", f.name.as_str()), ("refresh_minutes", f.refresh_minutes.as_str())];
    let minutes = match f.refresh_minutes.trim() {
        "" => Ok(None),
        text => text.parse::<i32>().map(Some).map_err(|_| {
            AppError::invalid("refresh_minutes", format!("{text:?} is not a whole number of minutes"))
        }),
    };
    let outcome = match minutes {
        Ok(refresh_minutes) => {
            let input =
                SubscribeInput { name: f.name.clone(), url: f.url.clone(), refresh_minutes, colour: None };
            let done = state
                .run_as(Actor::Person, move |conn, ctx| subscriptions::subscribe(conn, ctx, &input))
                .await;
            state.wake.poke();
            if let Ok(c) = &done {
                crate::calendar::service::announce(&state.events, Some(c.id));
            }
            done.map(|c| Some(format!("Subscribed to “{}”. Its events arrive in a moment.", c.name)))
        }
        Err(e) => Err(e),
    };
    answer(&req, &state, &session.0, "subscriptions", outcome, &typed, None).await
}

pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let outcome = state
        .run_as(Actor::Person, move |conn, ctx| subscriptions::refresh_now(conn, ctx, id))
        .await
        .map(|()| Some("Refreshing now; the run history shows how it went.".to_string()));
    state.wake.poke();
    answer(&req, &state, &session.0, "subscriptions", outcome, &[], None).await
}

pub async fn unsubscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let outcome = state
        .run_as(Actor::Person, move |conn, ctx| subscriptions::unsubscribe(conn, ctx, id))
        .await
        .map(|name| Some(format!("Unsubscribed from “{name}”; its events are gone.")));
    state.wake.poke();
    if outcome.is_ok() {
        crate::calendar::service::announce(&state.events, Some(id));
    }
    answer(&req, &state, &session.0, "subscriptions", outcome, &[], None).await
}

/// `GET /feeds/{token}.ics`: the feed, or a bare 404.
pub async fn feed(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let token = path.into_inner();
    let token = token.strip_suffix(".ics").unwrap_or(&token).to_string();
    let result = state
        .run_as(Actor::Person, move |conn, ctx| {
            let Some(feed) = feeds::authenticate(conn, &token, ctx.now)? else { return Ok(None) };
            feeds::render(conn, ctx, &feed).map(Some)
        })
        .await;
    match result {
        Ok(Some(body)) => HttpResponse::Ok()
            .content_type("text/calendar; charset=utf-8")
            .insert_header(("Content-Disposition", "inline; filename=\"steward.ics\""))
            .body(body),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(e) => {
            let cause = match &e {
                AppError::Internal(cause) => format!("{cause:#}"),
                other => other.client_message(),
            };
            tracing::error!(error = %cause, "serving a calendar feed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
