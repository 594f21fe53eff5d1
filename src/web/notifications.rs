//! Notifications: the bell's count in the header, the list, and "mark all read". Opening the
//! list marks what it shows as read (they are marked "new" on that visit), so the bell goes
//! out once the person has looked.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;

use super::{CurrentSession, Layout, html, see_other, view};
use crate::error::{AppError, PageError};
use crate::notifications;
use crate::notify::actions::{self, Kind, Snooze};
use crate::reminders::Subject;
use crate::services::Actor;
use crate::web::AppState;

pub struct NotificationItem {
    pub id: i32,
    pub title: String,
    pub body: String,
    pub level: String,
    /// Unread until this visit: shown as new.
    pub unread: bool,
    pub when: String,
    pub when_utc: String,
    pub run_id: Option<i32>,
    pub schedule_id: Option<i32>,
    /// Where it went besides the app: one line per channel.
    pub deliveries: Vec<DeliveryItem>,
    /// Its buttons (a reminder's, a briefing's): Done, Snooze, Turn off, and where Open leads.
    pub can_done: bool,
    pub can_snooze: bool,
    /// A briefing's: turn it off.
    pub can_turn_off: bool,
    pub open: Option<String>,
}

impl NotificationItem {
    /// The snooze lengths offered, as the form sends them and the menu says them.
    pub fn snoozes(&self) -> Vec<(&'static str, &'static str)> {
        Snooze::ALL.iter().map(|s| (s.as_str(), s.label())).collect()
    }
}

/// A notification's trip to one channel, in words.
pub struct DeliveryItem {
    pub id: i32,
    pub channel: String,
    /// queued, sending, sent, failed.
    pub state: String,
    pub text: String,
    /// Resend is offered once it has failed or been sent.
    pub resend: bool,
}

impl DeliveryItem {
    fn new(d: crate::notify::DeliveryRow) -> DeliveryItem {
        let tries =
            if d.attempts == 1 { "1 attempt".to_string() } else { format!("{} attempts", d.attempts) };
        let text = match d.state.as_str() {
            "sent" => "sent".to_string(),
            "failed" => format!("failed after {tries}: {}", d.error.as_deref().unwrap_or("unknown error")),
            "sending" => "sending…".to_string(),
            _ if d.attempts > 0 => {
                format!("will retry ({tries} so far): {}", d.error.as_deref().unwrap_or_default())
            }
            _ => "queued".to_string(),
        };
        DeliveryItem {
            id: d.id,
            resend: d.state == "failed" || d.state == "sent",
            channel: d.channel,
            state: d.state,
            text,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "notifications.html")]
pub struct NotificationsPage {
    layout: Layout,
    items: Vec<NotificationItem>,
    pager: Pager,
    /// MCP calls waiting for the person's confirmation (`web::activity`).
    pending: Vec<super::activity::PendingItem>,
}

/// Where this page of the list sits: newer pages before it, older after it.
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub older: bool,
}

impl Pager {
    pub fn newer(&self) -> bool {
        self.page > 1
    }

    pub fn shown(&self) -> bool {
        self.newer() || self.older
    }
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    // Text, read leniently: a hand-edited `?page=x` shows the first page.
    page: Option<String>,
}

/// The bell's count (the header fetches it on pages that did not read it).
#[derive(Template, WebTemplate)]
#[template(path = "partials/bell_count.html")]
pub struct BellCount {
    layout: Layout,
}

/// One page of the list, marking what it shows as read; and the count still unread after that.
async fn load(
    state: &web::Data<AppState>,
    page: i64,
) -> Result<(Vec<NotificationItem>, Pager, i64), AppError> {
    state
        .run_as(Actor::Person, move |conn, ctx| {
            let total = notifications::count(conn)?;
            let pages = ((total + notifications::PAGE_SIZE - 1) / notifications::PAGE_SIZE).max(1);
            let page = page.clamp(1, pages);
            let (list, older) = notifications::page(conn, page)?;
            let unseen: Vec<i32> = list.iter().filter(|n| n.read_at.is_none()).map(|n| n.id).collect();
            notifications::mark_read(conn, &unseen, ctx.now)?;
            let ids: Vec<i32> = list.iter().map(|n| n.id).collect();
            let mut trips = crate::notify::of_notifications(conn, &ids)?;
            let items = list
                .into_iter()
                .map(|n| {
                    let offered =
                        n.subject.as_deref().and_then(Subject::parse).map(|s| (s, actions::offered(s)));
                    let has = |k: fn(&Kind) -> bool| offered.as_ref().is_some_and(|(_, o)| o.iter().any(k));
                    NotificationItem {
                        can_done: has(|k| *k == Kind::Done),
                        can_snooze: has(|k| matches!(k, Kind::Snooze(_))),
                        can_turn_off: has(|k| *k == Kind::TurnOff),
                        open: offered
                            .as_ref()
                            .filter(|(_, o)| o.contains(&Kind::Open))
                            .map(|(s, _)| s.path()),
                        deliveries: trips
                            .remove(&n.id)
                            .unwrap_or_default()
                            .into_iter()
                            .map(DeliveryItem::new)
                            .collect(),
                        id: n.id,
                        unread: n.read_at.is_none(),
                        when: view::instant(n.created(), ctx.tz, ctx.now),
                        when_utc: view::utc(n.created()),
                        title: n.title,
                        body: n.body,
                        level: n.level,
                        run_id: n.run_id,
                        schedule_id: n.schedule_id,
                    }
                })
                .collect();
            Ok((items, Pager { page, pages, older }, notifications::unread_count(conn)?))
        })
        .await
}

pub async fn page(
    state: web::Data<AppState>,
    session: CurrentSession,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let page = query.page.as_deref().and_then(|p| p.trim().parse().ok()).unwrap_or(1);
    let (items, pager, unread) = load(&state, page).await?;
    let pending = state.run_as(Actor::Person, super::activity::pending_items).await?;
    let page = NotificationsPage {
        layout: Layout::new("Notifications", "notifications", &session.0).with_unread(unread),
        items,
        pager,
        pending,
    };
    html(StatusCode::OK, &page)
}

pub async fn count(state: web::Data<AppState>, session: CurrentSession) -> Result<BellCount, PageError> {
    let unread = state.db.run(notifications::unread_count).await?;
    Ok(BellCount { layout: Layout::new("", "", &session.0).with_unread(unread) })
}

/// Marks every notification read, then shows the list again (a plain form: the bell in the
/// header changes too).
pub async fn mark_read(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    state.db.run(move |conn| notifications::mark_all_read(conn, now)).await?;
    Ok(see_other("/notifications"))
}

/// Sends one notification to one channel again, from its first attempt.
pub async fn resend(state: web::Data<AppState>, id: web::Path<i32>) -> Result<HttpResponse, PageError> {
    let (now, id) = (state.clock.now(), id.into_inner());
    state.db.run(move |conn| crate::notify::resend(conn, id, now)).await?;
    state.wake.poke();
    Ok(see_other("/notifications"))
}

#[derive(serde::Deserialize)]
pub struct ActionForm {
    /// How long a snooze lasts: `10m`, `1h`, `tomorrow`.
    snooze: Option<String>,
}

/// A notification's button (Done, Snooze): does it and says what happened ("Done: Call mom",
/// "Snoozed until 14:10") in a toast; a plain form comes back to the list.
pub async fn act(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let (id, action) = path.into_inner();
    let kind = Kind::parse(&action, form.snooze.as_deref())?;
    let config = state.config.clone();
    let outcome = state
        .run_as(Actor::Person, move |conn, ctx| actions::perform_on(conn, ctx, &config, id, kind))
        .await?;
    state.wake.poke();
    if !super::htmx::is_htmx(&req) {
        return Ok(see_other("/notifications"));
    }
    super::htmx::with_toast(&[], &outcome.message)
}
