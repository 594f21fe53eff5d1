//! The Briefings page: the three built-in briefings, each with its switch, time and days, zone,
//! agent, channels, sections and instructions; Preview (the fact block as it would be sent
//! now, `?preview=<name>`) and Run now. Plain forms; the services do the rest.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;

use super::{CurrentSession, Layout, html, see_other};
use crate::briefings::{self, Briefing, BriefingPatch};
use crate::error::PageError;
use crate::services::Actor;
use crate::web::AppState;

pub struct DayBox {
    pub key: &'static str,
    pub label: &'static str,
    pub on: bool,
}

pub struct BriefingItem {
    pub b: Briefing,
    pub days: Vec<DayBox>,
    pub time: String,
    pub next_run: String,
    pub channels: String,
    pub sections: String,
    pub agent: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "briefings.html")]
pub struct BriefingsPage {
    layout: Layout,
    items: Vec<BriefingItem>,
    agents: Vec<String>,
    channels: Vec<String>,
    sections: Vec<&'static str>,
    preview: Option<(String, String)>,
    any_enabled: bool,
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    preview: Option<String>,
}

const DAY_KEYS: [(&str, &str); 7] = [
    ("mon", "Mon"),
    ("tue", "Tue"),
    ("wed", "Wed"),
    ("thu", "Thu"),
    ("fri", "Fri"),
    ("sat", "Sat"),
    ("sun", "Sun"),
];

pub async fn page(
    state: web::Data<AppState>,
    session: CurrentSession,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let config = state.config.clone();
    let preview_name = query.into_inner().preview.filter(|p| briefings::NAMES.contains(&p.as_str()));
    let (list, agents, channels, preview, tz, now) = state
        .run_as(Actor::Person, move |conn, ctx| {
            let list = briefings::list(conn, ctx)?;
            let agents: Vec<String> = crate::agents::list(conn, &config)?
                .into_iter()
                .filter(|a| matches!(a.kind, crate::agents::AgentKind::Llm | crate::agents::AgentKind::Letta))
                .map(|a| a.name)
                .collect();
            let channels: Vec<String> = crate::notify::list(conn)?.into_iter().map(|c| c.name).collect();
            let preview = match preview_name {
                Some(n) => Some((n.clone(), briefings::preview(conn, ctx, &n)?)),
                None => None,
            };
            Ok((list, agents, channels, preview, ctx.tz, ctx.now))
        })
        .await?;
    let any_enabled = list.iter().any(|b| b.enabled);
    let items = list
        .into_iter()
        .map(|b| {
            let on: Vec<String> = b.days.clone().unwrap_or_default();
            BriefingItem {
                days: DAY_KEYS
                    .iter()
                    .map(|(k, l)| DayBox { key: k, label: l, on: on.iter().any(|d| d == k) })
                    .collect(),
                time: b.time.clone().unwrap_or_default(),
                next_run: b
                    .next_run
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| super::view::instant(t.to_utc(), tz, now))
                    .unwrap_or_else(|| "off".into()),
                channels: b.channels.join(", "),
                sections: b.sections.join(", "),
                agent: b.agent.clone().unwrap_or_default(),
                b,
            }
        })
        .collect();
    let page = BriefingsPage {
        layout: Layout::new("Briefings", "briefings", &session.0),
        items,
        agents,
        channels,
        sections: briefings::facts::SECTIONS.iter().map(|(k, _)| *k).collect(),
        preview,
        any_enabled,
    };
    html(StatusCode::OK, &page)
}

#[derive(serde::Deserialize, Default)]
pub struct BriefingForm {
    enabled: Option<String>,
    time: Option<String>,
    mon: Option<String>,
    tue: Option<String>,
    wed: Option<String>,
    thu: Option<String>,
    fri: Option<String>,
    sat: Option<String>,
    sun: Option<String>,
    zone: Option<String>,
    agent: Option<String>,
    channels: Option<String>,
    sections: Option<String>,
    instructions: Option<String>,
}

fn words(text: &Option<String>) -> Option<Vec<String>> {
    text.as_ref()
        .map(|t| t.split([',', ' ']).map(str::trim).filter(|w| !w.is_empty()).map(String::from).collect())
}

/// Saves one briefing's form.
pub async fn save(
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<BriefingForm>,
) -> Result<HttpResponse, PageError> {
    let f = form.into_inner();
    let days: Vec<String> = [
        ("mon", &f.mon),
        ("tue", &f.tue),
        ("wed", &f.wed),
        ("thu", &f.thu),
        ("fri", &f.fri),
        ("sat", &f.sat),
        ("sun", &f.sun),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(k, _)| k.to_string())
    .collect();
    let patch = BriefingPatch {
        enabled: Some(f.enabled.is_some()),
        time: f.time.clone().filter(|t| !t.trim().is_empty()),
        days: Some(days),
        zone: f.zone.clone(),
        agent: Some(f.agent.clone().filter(|a| !a.trim().is_empty())),
        channels: Some(words(&f.channels).unwrap_or_default()),
        sections: words(&f.sections),
        instructions: f.instructions.clone(),
        cron: None,
    };
    let config = state.config.clone();
    state
        .run_as(Actor::Person, move |conn, ctx| briefings::update(conn, ctx, &config, &name, &patch))
        .await?;
    state.wake.poke();
    Ok(see_other("/briefings"))
}

/// Turns all three on at their default times (the first-run card).
pub async fn enable_all(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let config = state.config.clone();
    state
        .run_as(Actor::Person, move |conn, ctx| briefings::enable(conn, ctx, &config, &briefings::NAMES))
        .await?;
    state.wake.poke();
    Ok(see_other("/briefings"))
}

/// Queues a run now; the result shows in the runs and the briefing's conversation.
pub async fn run_now(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, PageError> {
    let config = state.config.clone();
    let run =
        state.run_as(Actor::Person, move |conn, ctx| briefings::run_now(conn, ctx, &config, &name)).await?;
    state.wake.poke();
    Ok(see_other(&format!("/runs#run-{}", run.id)))
}
