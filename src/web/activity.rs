//! The Activity page: what the agent (chat or MCP), MCP clients and API tokens changed, newest
//! first, filtered by who and by kind, a page at a time, each with Undo. And the person's answer
//! to MCP calls held for confirmation (listed on the Notifications page).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use diesel::prelude::*;
use serde_json::Value;

use super::htmx::{self, is_htmx};
use super::{CurrentSession, Layout, html, see_other, view};
use crate::activity::{self, ACTORS, ActivityFilter, Entry, KINDS};
use crate::confirm::{self, Pending};
use crate::db::Conn;
use crate::error::{AppError, PageError};
use crate::services::{Actor, Ctx};
use crate::web::AppState;

/// One changed field: its name, before and after.
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// An entry as the page shows it.
pub struct EntryItem {
    pub id: i32,
    pub when: String,
    pub when_utc: String,
    /// "The agent in “Plans”", "An MCP client (token “laptop”)".
    pub who: String,
    pub who_href: Option<String>,
    pub summary: String,
    pub kind: String,
    pub action: String,
    pub target_href: Option<String>,
    pub changes: Vec<FieldChange>,
    /// When it was undone, in words.
    pub undone: Option<String>,
}

/// The fields that differ between two snapshots, as text.
fn changes(before: &Value, after: &Value) -> Vec<FieldChange> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else { return Vec::new() };
    let shown = |v: Option<&Value>| match v {
        None | Some(Value::Null) => "—".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    a.iter()
        .filter(|(k, v)| {
            !matches!(k.as_str(), "id" | "next" | "title" | "rows") && b.get(k.as_str()) != Some(v)
        })
        .map(|(k, v)| FieldChange {
            field: if k == "line" { "text".into() } else { k.replace('_', " ") },
            before: shown(b.get(k.as_str())),
            after: shown(Some(v)),
        })
        .collect()
}

fn conversation_title(conn: &mut Conn, id: i32) -> Result<Option<String>, AppError> {
    use crate::db::schema::conversations;
    Ok(conversations::table.find(id).select(conversations::title).first(conn).optional()?)
}

fn token_name(conn: &mut Conn, id: i32) -> Result<Option<String>, AppError> {
    use crate::db::schema::api_tokens;
    Ok(api_tokens::table.find(id).select(api_tokens::name).first(conn).optional()?)
}

fn item(conn: &mut Conn, e: &Entry, ctx: &Ctx) -> Result<EntryItem, AppError> {
    let token = |conn: &mut Conn, id: Option<i32>| -> Result<String, AppError> {
        Ok(match id {
            Some(id) => match token_name(conn, id)? {
                Some(name) => format!(" (token “{name}”)"),
                None => format!(" (token #{id}, revoked since)"),
            },
            None => String::new(),
        })
    };
    let (who, who_href) = match (e.via(), e.conversation_id) {
        ("chat", Some(c)) => {
            let title = conversation_title(conn, c)?.unwrap_or_else(|| format!("conversation #{c}"));
            (format!("The agent in “{title}”"), Some(format!("/chat/{c}")))
        }
        ("mcp", _) => (format!("An MCP client{}", token(conn, e.token_id)?), None),
        _ => (format!("A program{}", token(conn, e.token_id)?), None),
    };
    let target_href = match e.kind.as_str() {
        "task" => Some(format!("/tasks#task-{}", e.target_id)),
        "schedule" => Some(format!("/schedules#schedule-{}", e.target_id)),
        "event" => Some("/calendar".to_string()),
        _ => None,
    };
    let changes = if e.action == "update" { changes(&e.before_json(), &e.after_json()) } else { Vec::new() };
    Ok(EntryItem {
        id: e.id,
        when: view::instant(e.created(), ctx.tz, ctx.now),
        when_utc: view::utc(e.created()),
        who,
        who_href,
        summary: e.summary.clone(),
        kind: e.kind.clone(),
        action: e.action.clone(),
        target_href,
        changes,
        undone: e.undone_at.map(|u| view::instant(crate::clock::from_ms(u), ctx.tz, ctx.now)),
    })
}

/// What a plain form's Undo said, shown once on the next view of the page.
struct Flash {
    message: String,
    error: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "activity.html")]
pub struct ActivityPage {
    layout: Layout,
    entries: Vec<EntryItem>,
    actor: String,
    kind: String,
    conversation: Option<i32>,
    actors: [&'static str; 3],
    kinds: [&'static str; 3],
    /// The "Older" link, when there is more.
    older: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

impl ActivityPage {
    fn actor_label(&self, a: &str) -> &'static str {
        match a {
            "chat" => "The agent in chat",
            "mcp" => "MCP clients",
            _ => "API tokens",
        }
    }

    fn kind_label(&self, k: &str) -> &'static str {
        match k {
            "task" => "Tasks",
            "event" => "Events",
            _ => "Schedules",
        }
    }

    fn is_actor(&self, a: &&str) -> bool {
        self.actor == *a
    }

    fn is_kind(&self, k: &&str) -> bool {
        self.kind == *k
    }
}

/// One entry, swapped in after an Undo.
#[derive(Template, WebTemplate)]
#[template(path = "partials/activity_entry.html")]
pub struct EntryPart {
    e: EntryItem,
    csrf: String,
}

pub async fn page(
    state: web::Data<AppState>,
    session: CurrentSession,
    q: web::Query<ActivityFilter>,
) -> Result<HttpResponse, PageError> {
    let mut filter = q.into_inner();
    filter.limit = Some(50);
    let f = filter.clone();
    let (entries, next) = state
        .run_as(Actor::Person, move |conn, ctx| {
            let (page, next) = activity::list(conn, &f)?;
            let items = page.iter().map(|e| item(conn, e, ctx)).collect::<Result<Vec<_>, _>>()?;
            Ok((items, next))
        })
        .await?;
    let older = next.map(|cursor| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(a) = filter.actor.as_deref().filter(|a| !a.is_empty()) {
            pairs.push(("actor", a.to_string()));
        }
        if let Some(k) = filter.kind.as_deref().filter(|k| !k.is_empty()) {
            pairs.push(("kind", k.to_string()));
        }
        if let Some(c) = filter.conversation {
            pairs.push(("conversation", c.to_string()));
        }
        pairs.push(("cursor", cursor.to_string()));
        format!("/activity?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
    });
    let flash = state.flashes.take::<Flash>(&session.0);
    let page = ActivityPage {
        layout: Layout::new("Activity", "activity", &session.0),
        entries,
        actor: filter.actor.unwrap_or_default(),
        kind: filter.kind.unwrap_or_default(),
        conversation: filter.conversation,
        actors: ACTORS,
        kinds: KINDS,
        older,
        notice: flash.as_ref().filter(|f| !f.error).map(|f| f.message.clone()),
        error: flash.filter(|f| f.error).map(|f| f.message),
    };
    html(StatusCode::OK, &page)
}

/// Undo: htmx gets the entry again (now marked undone) and a toast; a plain form goes back to
/// the page, which says what happened. A refusal is a sentence saying why.
pub async fn undo(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let (id, config) = (id.into_inner(), state.config.clone());
    let undone = state
        .run_as(Actor::Person, move |conn, ctx| {
            let undone = activity::undo(conn, ctx, &config, id)?;
            let entry = activity::get(conn, id)?;
            let e = item(conn, &entry, ctx)?;
            Ok((undone.message, e))
        })
        .await;
    state.wake.poke();
    if matches!(&undone, Ok((_, e)) if e.kind == "event") {
        crate::calendar::service::announce(&state.events, None);
    }
    match undone {
        Ok((message, e)) if is_htmx(&req) => {
            htmx::with_toast(&[&EntryPart { e, csrf: session.0.csrf_token.clone() }], &message)
        }
        Ok((message, _)) => {
            state.flashes.keep(&session.0, Flash { message, error: false });
            Ok(see_other("/activity"))
        }
        // htmx: the session middleware turns the error into a toast with its sentence.
        Err(e @ (AppError::Conflict(_) | AppError::NotFound(_))) if !is_htmx(&req) => {
            state.flashes.keep(&session.0, Flash { message: e.client_message(), error: true });
            Ok(see_other("/activity"))
        }
        Err(e) => Err(e.into()),
    }
}

/// The calls waiting for the person, as the Notifications page lists them.
pub struct PendingItem {
    pub id: i32,
    /// "An MCP client (token “laptop”)".
    pub who: String,
    pub summary: String,
    pub reason: String,
    pub when: String,
    pub when_utc: String,
}

/// The Notifications page's section of MCP calls waiting for the person.
#[derive(Template, WebTemplate)]
#[template(path = "partials/confirmations.html")]
pub struct PendingPart {
    pub pending: Vec<PendingItem>,
    pub csrf: String,
}

fn pending_item(conn: &mut Conn, p: &Pending, ctx: &Ctx) -> Result<PendingItem, AppError> {
    let who = match p.token_id {
        Some(id) => match token_name(conn, id)? {
            Some(name) => format!("An MCP client (token “{name}”)"),
            None => format!("An MCP client (token #{id}, revoked since)"),
        },
        None => "An MCP client".to_string(),
    };
    Ok(PendingItem {
        id: p.id,
        who,
        summary: p.summary.clone(),
        reason: p.reason.clone(),
        when: view::instant(p.created(), ctx.tz, ctx.now),
        when_utc: view::utc(p.created()),
    })
}

/// The waiting calls, read for the Notifications page.
pub fn pending_items(conn: &mut Conn, ctx: &Ctx) -> Result<Vec<PendingItem>, AppError> {
    confirm::pending(conn)?.iter().map(|p| pending_item(conn, p, ctx)).collect()
}

async fn decide(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: i32,
    yes: bool,
) -> Result<HttpResponse, PageError> {
    let decided = confirm::decide(&state.services, id, yes).await;
    state.wake.poke();
    let message = match &decided {
        Ok(p) if p.state == "declined" => format!("Declined: {}.", p.summary),
        Ok(p) if p.state == "failed" => {
            let why = p
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str::<Value>(r).ok())
                .and_then(|r| r.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            format!("Confirmed “{}”, and it failed: {why}", p.summary)
        }
        Ok(p) => format!("Done: {}.", capitalised(&p.summary)),
        Err(e) => e.client_message(),
    };
    if is_htmx(&req) {
        if let Err(e) = decided {
            return Err(e.into());
        }
        let pending = state.run_as(Actor::Person, pending_items).await?;
        return htmx::with_toast(&[&PendingPart { pending, csrf: session.0.csrf_token.clone() }], &message);
    }
    state.flashes.keep(&session.0, Flash { message, error: decided.is_err() });
    Ok(see_other("/activity"))
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    decide(req, state, session, id.into_inner(), true).await
}

pub async fn decline(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    decide(req, state, session, id.into_inner(), false).await
}
