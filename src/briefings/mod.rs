//! Briefings: morning, evening and a weekly review, built in and off until the person turns
//! them on.
//!
//! Each briefing is a schedule of the built-in `system` agent (prompt `briefing <name>`, made
//! the first time it is turned on or timed), so it has what every schedule has: one run
//! history, pause, run now, lateness, crash-safe claiming, and the runs' unique key
//! `(schedule, occurrence)`, which is why a briefing never fires twice for one occurrence. The
//! scheduler hands such runs to [`system_job`].
//!
//! A run assembles the fact block ([`facts::block`]) from the store at fire time, sends it with
//! the briefing's instructions to the chosen agent (retried a few times), and delivers the
//! agent's prose followed by the fact block verbatim into the briefing's conversation and, as a
//! notification of topic `briefings`, to the chosen channels. Without an agent, or when the
//! agent keeps failing, the fact block goes alone, marked as such. A run already delivered
//! (its notification exists) is not delivered again when retried after a crash.

pub mod facts;

use chrono::Timelike;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::agents::deliver::{Delivery, Failure};
use crate::agents::{Agent, AgentKind};
use crate::calendar::subscriptions::SYSTEM_AGENT;
use crate::clock::to_ms;
use crate::config::Config;
use crate::db::Conn;
use crate::db::schema::{briefings, notifications};
use crate::error::AppError;
use crate::schedules::{Schedule, ScheduleInput, service as schedule_service};
use crate::services::{Actor, Ctx, Services};

pub const NAMES: [&str; 3] = ["morning", "evening", "weekly"];
const JOB_PREFIX: &str = "briefing ";
/// Tries of the agent before the facts go alone.
pub const AGENT_TRIES: u32 = 3;
/// The wait before the second try (doubled after).
const AGENT_BACKOFF_MS: u64 = 500;

/// A briefing's built-in defaults.
struct Default_ {
    name: &'static str,
    title: &'static str,
    cron: &'static str,
    sections: &'static [&'static str],
    instructions: &'static str,
}

const DEFAULTS: [Default_; 3] = [
    Default_ {
        name: "morning",
        title: "Morning briefing",
        cron: "0 8 * * 1-5",
        sections: &["events_today", "overdue", "due_today", "priority", "waiting", "failures"],
        instructions: "Write the person's morning briefing from the facts below: a few short sentences on \
            what matters today, the first thing to do, and anything overdue or waiting. Use only the \
            facts given; do not invent dates, times or items.",
    },
    Default_ {
        name: "evening",
        title: "Evening summary",
        cron: "0 20 * * *",
        sections: &["done_today", "moved", "tomorrow_events", "tomorrow_due"],
        instructions: "Write a short evening summary from the facts below: what got done today, what \
            moved, and what to prepare for tomorrow. Use only the facts given.",
    },
    Default_ {
        name: "weekly",
        title: "Weekly review",
        cron: "0 17 * * 5",
        sections: &["done_week", "stalled", "waiting", "next_week_events", "overdue"],
        instructions: "Write a short weekly review from the facts below: what got done per project, \
            which projects are stalled, what is waiting, what next week holds, and what is overdue. \
            Use only the facts given.",
    },
];

fn default_of(name: &str) -> Result<&'static Default_, AppError> {
    DEFAULTS.iter().find(|d| d.name == name).ok_or_else(|| {
        AppError::NotFound(format!("no briefing {name:?}; the briefings are morning, evening and weekly"))
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = briefings)]
struct Row {
    name: String,
    schedule_id: Option<i32>,
    agent: Option<String>,
    channels: String,
    sections: String,
    instructions: String,
    conversation_id: Option<i32>,
    #[allow(dead_code)]
    updated_at: i64,
}

/// A briefing as every door shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Briefing {
    pub name: String,
    pub title: String,
    pub enabled: bool,
    pub cron: String,
    /// `HH:MM` and the weekdays (`mon`..`sun`), when the cron line is that simple.
    pub time: Option<String>,
    pub days: Option<Vec<String>>,
    /// "Every weekday at 08:00, Europe/Berlin".
    pub describe: String,
    pub zone: String,
    /// The agent that writes it; none: the facts alone.
    pub agent: Option<String>,
    /// Channels it goes to; empty: every channel that receives briefings.
    pub channels: Vec<String>,
    pub sections: Vec<String>,
    pub instructions: String,
    pub next_run: Option<String>,
    pub schedule_id: Option<i32>,
    pub conversation_id: Option<i32>,
}

/// Makes the three rows if missing (they are built in).
fn ensure(conn: &mut Conn, now: chrono::DateTime<chrono::Utc>) -> Result<(), AppError> {
    let have: i64 = briefings::table.count().get_result(conn)?;
    if have as usize >= DEFAULTS.len() {
        return Ok(());
    }
    crate::db::write(conn, |conn| {
        for d in &DEFAULTS {
            diesel::insert_into(briefings::table)
                .values((
                    briefings::name.eq(d.name),
                    briefings::sections.eq(d.sections.join(" ")),
                    briefings::instructions.eq(d.instructions),
                    briefings::updated_at.eq(to_ms(now)),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        Ok(())
    })
}

fn row(conn: &mut Conn, ctx: &Ctx, name: &str) -> Result<Row, AppError> {
    default_of(name)?;
    ensure(conn, ctx.now)?;
    Ok(briefings::table.find(name).select(Row::as_select()).first(conn)?)
}

fn schedule_of(conn: &mut Conn, row: &Row) -> Result<Option<Schedule>, AppError> {
    match row.schedule_id {
        Some(id) => match crate::schedules::get(conn, id) {
            Ok(s) if s.deleted_at.is_none() => Ok(Some(s)),
            Ok(_) | Err(AppError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        },
        None => Ok(None),
    }
}

fn view(row: Row, schedule: Option<&Schedule>, tz: chrono_tz::Tz) -> Result<Briefing, AppError> {
    let d = default_of(&row.name)?;
    let cron = schedule.map_or(d.cron.to_string(), |s| s.spec.clone());
    let zone = schedule.map_or(tz.name().to_string(), |s| s.tz.clone());
    let (time, days) = match simple_cron(&cron) {
        Some((t, d)) => (Some(t), Some(d)),
        None => (None, None),
    };
    let describe = match schedule {
        Some(s) => s.describe(),
        None => crate::schedules::spec::Spec::from_stored("cron", &cron)
            .map(|s| s.describe(tz))
            .unwrap_or_else(|_| cron.clone()),
    };
    Ok(Briefing {
        title: d.title.to_string(),
        enabled: schedule.is_some_and(|s| s.active),
        cron,
        time,
        days,
        describe,
        zone,
        agent: row.agent,
        channels: row.channels.split_whitespace().map(String::from).collect(),
        sections: row.sections.split_whitespace().map(String::from).collect(),
        instructions: row.instructions,
        next_run: schedule.filter(|s| s.active).and_then(Schedule::next_fire).map(crate::schedules::rfc3339),
        schedule_id: schedule.map(|s| s.id),
        conversation_id: row.conversation_id,
        name: row.name,
    })
}

/// The three briefings.
pub fn list(conn: &mut Conn, ctx: &Ctx) -> Result<Vec<Briefing>, AppError> {
    NAMES.iter().map(|n| get(conn, ctx, n)).collect()
}

pub fn get(conn: &mut Conn, ctx: &Ctx, name: &str) -> Result<Briefing, AppError> {
    let row = row(conn, ctx, name)?;
    let schedule = schedule_of(conn, &row)?;
    view(row, schedule.as_ref(), ctx.tz)
}

/// What may change; absent fields stay. `agent: null` (or "") means no agent: the facts alone.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BriefingPatch {
    pub enabled: Option<bool>,
    /// `HH:MM`, with `days` (or alone: the days stay).
    pub time: Option<String>,
    /// `mon`..`sun`, or `weekdays`, `weekends`, `every day`.
    pub days: Option<Vec<String>>,
    /// A cron line instead of time and days.
    pub cron: Option<String>,
    pub zone: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub agent: Option<Option<String>>,
    pub channels: Option<Vec<String>>,
    pub sections: Option<Vec<String>>,
    pub instructions: Option<String>,
}

fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// `0 8 * * 1-5` → ("08:00", [mon..fri]); None for anything else.
pub fn simple_cron(cron: &str) -> Option<(String, Vec<String>)> {
    let parts: Vec<&str> = cron.split_whitespace().collect();
    let [min, hour, "*", "*", dow] = parts.as_slice() else { return None };
    let (m, h): (u32, u32) = (min.parse().ok()?, hour.parse().ok()?);
    if m > 59 || h > 23 {
        return None;
    }
    let mut days = [false; 7];
    if *dow == "*" {
        days = [true; 7];
    } else {
        for piece in dow.split(',') {
            let (a, b) = match piece.split_once('-') {
                Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
                None => {
                    let n = piece.parse::<usize>().ok()?;
                    (n, n)
                }
            };
            if a > b || b > 7 {
                return None;
            }
            for d in a..=b {
                days[d % 7] = true;
            }
        }
    }
    // Monday first, as people read a week.
    let list = (1..=7).map(|i| i % 7).filter(|&i| days[i]).map(|i| DAYS[i].to_string()).collect();
    Some((format!("{h:02}:{m:02}"), list))
}

/// Time and days → a cron line.
pub fn cron_of(time: &str, days: &[String]) -> Result<String, AppError> {
    let t = chrono::NaiveTime::parse_from_str(time.trim(), "%H:%M")
        .map_err(|_| AppError::invalid("time", format!("{time:?} is not a time like 08:00")))?;
    let mut set = [false; 7];
    for d in days {
        let d = d.trim().to_ascii_lowercase();
        match d.as_str() {
            "weekdays" | "weekday" => (1..=5).for_each(|i| set[i] = true),
            "weekends" | "weekend" => {
                set[0] = true;
                set[6] = true;
            }
            "every day" | "daily" | "*" => set = [true; 7],
            _ => {
                let i = DAYS.iter().position(|n| d.starts_with(n)).ok_or_else(|| {
                    AppError::invalid("days", format!("{d:?} is not a weekday (mon to sun)"))
                })?;
                set[i] = true;
            }
        }
    }
    if !set.contains(&true) {
        return Err(AppError::invalid("days", "needs at least one day"));
    }
    let dow = if set == [true; 7] {
        "*".to_string()
    } else {
        (0..7).filter(|&i| set[i]).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
    };
    Ok(format!("{} {} * * {dow}", t.minute(), t.hour()))
}

/// Changes a briefing (and its schedule, made when first needed).
pub fn update(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    name: &str,
    patch: &BriefingPatch,
) -> Result<Briefing, AppError> {
    let old = row(conn, ctx, name)?;
    let d = default_of(name)?;
    // Checked before anything is written.
    let agent = match &patch.agent {
        Some(Some(a)) if !a.trim().is_empty() => {
            let agent = crate::chat::chat_agent(conn, config, a.trim())?;
            // A briefing sends its facts to the agent: only as the agent allows (issue 12).
            crate::agents::may_send(conn, &agent, ctx.actor)?;
            Some(Some(agent.name))
        }
        Some(_) => Some(None),
        None => None,
    };
    let channels = match &patch.channels {
        Some(list) => {
            let mut names = Vec::new();
            for c in list.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
                crate::notify::get(conn, c)
                    .map_err(|_| AppError::invalid("channels", format!("there is no channel named {c:?}")))?;
                names.push(c.to_string());
            }
            Some(names.join(" "))
        }
        None => None,
    };
    let sections = match &patch.sections {
        Some(list) => {
            for s in list {
                if !facts::is_section(s) {
                    let known: Vec<&str> = facts::SECTIONS.iter().map(|(k, _)| *k).collect();
                    return Err(AppError::invalid(
                        "sections",
                        format!("{s:?} is not a section; the sections are {}", known.join(", ")),
                    ));
                }
            }
            if list.is_empty() {
                return Err(AppError::invalid("sections", "needs at least one section"));
            }
            Some(list.join(" "))
        }
        None => None,
    };
    let instructions = match &patch.instructions {
        Some(text) if text.trim().is_empty() => Some(d.instructions.to_string()),
        Some(text) if text.len() > 4000 => {
            return Err(AppError::invalid("instructions", "are longer than 4,000 characters"));
        }
        Some(text) => Some(text.trim().to_string()),
        None => None,
    };
    let schedule = schedule_of(conn, &old)?;
    let current_cron = schedule.as_ref().map_or(d.cron.to_string(), |s| s.spec.clone());
    let cron = match (&patch.cron, &patch.time, &patch.days) {
        (Some(c), None, None) if !c.trim().is_empty() => Some(c.trim().to_string()),
        (Some(_), _, _) => {
            return Err(AppError::invalid("cron", "give a cron line or time and days, not both"));
        }
        (None, Some(t), days) => {
            let days = match days {
                Some(days) => days.clone(),
                None => {
                    simple_cron(&current_cron).map(|(_, d)| d).unwrap_or_else(|| vec!["every day".into()])
                }
            };
            Some(cron_of(t, &days)?)
        }
        (None, None, Some(days)) => {
            let time = simple_cron(&current_cron).map_or("08:00".to_string(), |(t, _)| t);
            Some(cron_of(&time, days)?)
        }
        (None, None, None) => None,
    };
    let zone = match &patch.zone {
        Some(z) if !z.trim().is_empty() => {
            Some(crate::config::parse_zone("zone", z.trim())?.name().to_string())
        }
        _ => None,
    };
    // The schedule belongs to Steward (the system agent): it is changed as the scheduler would.
    let sctx = Ctx { actor: Actor::Scheduler, ..*ctx };
    let schedule_id = match schedule {
        None if patch.enabled == Some(true) || cron.is_some() || zone.is_some() => {
            let input = ScheduleInput {
                name: Some(d.title.to_string()),
                prompt: Some(format!("{JOB_PREFIX}{name}")),
                agent: Some(SYSTEM_AGENT.into()),
                cron: Some(cron.clone().unwrap_or_else(|| d.cron.to_string())),
                tz: Some(zone.clone().unwrap_or_else(|| ctx.tz.name().to_string())),
                misfire: Some("once".into()),
                retry_attempts: Some(2),
                retry_base_secs: Some(60),
                active: Some(patch.enabled.unwrap_or(false)),
                ..ScheduleInput::default()
            };
            Some(schedule_service::create(conn, &sctx, config, &input)?.id)
        }
        None => None,
        Some(s) => {
            if cron.is_some() || zone.is_some() {
                let input =
                    ScheduleInput { cron: cron.clone(), tz: zone.clone(), ..ScheduleInput::default() };
                schedule_service::update(conn, &sctx, config, s.id, &input)?;
            }
            if let Some(on) = patch.enabled {
                schedule_service::set_active(conn, &sctx, config, s.id, on)?;
            }
            Some(s.id)
        }
    };
    crate::db::write(conn, |conn| {
        diesel::update(briefings::table.find(name))
            .set((
                briefings::schedule_id.eq(schedule_id),
                briefings::agent.eq(agent.unwrap_or(old.agent.clone())),
                briefings::channels.eq(channels.unwrap_or(old.channels.clone())),
                briefings::sections.eq(sections.unwrap_or(old.sections.clone())),
                briefings::instructions.eq(instructions.unwrap_or(old.instructions.clone())),
                briefings::updated_at.eq(to_ms(ctx.now)),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    get(conn, ctx, name)
}

/// Turns briefings on (the Today page's first-run card, the Briefings page): each at its
/// current time and days. Wake the scheduler after this.
pub fn enable(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    names: &[&str],
) -> Result<Vec<Briefing>, AppError> {
    names
        .iter()
        .map(|n| {
            update(conn, ctx, config, n, &BriefingPatch { enabled: Some(true), ..BriefingPatch::default() })
        })
        .collect()
}

/// Whether any briefing is on (the Today page asks before offering them).
pub fn any_enabled(conn: &mut Conn, ctx: &Ctx) -> Result<bool, AppError> {
    Ok(list(conn, ctx)?.iter().any(|b| b.enabled))
}

/// The settings key that remembers "Not now" on Today's offer to turn briefings on.
const OFFER_DISMISSED: &str = "briefings.offer_dismissed";

/// Whether Today offers to turn briefings on: none is on and the person has not said "Not now".
pub fn offer_briefings(conn: &mut Conn, ctx: &Ctx) -> Result<bool, AppError> {
    Ok(crate::db::settings::get(conn, OFFER_DISMISSED)?.is_none() && !any_enabled(conn, ctx)?)
}

/// "Not now": Today stops offering (the Briefings page still turns them on).
pub fn dismiss_offer(conn: &mut Conn) -> Result<(), AppError> {
    Ok(crate::db::settings::set(conn, OFFER_DISMISSED, "1")?)
}

/// The context a briefing's facts are read in: its own zone.
fn ctx_of(b: &Briefing, ctx: &Ctx) -> Ctx {
    Ctx { tz: b.zone.parse().unwrap_or(ctx.tz), ..*ctx }
}

/// The fact block as it would be sent now.
pub fn preview(conn: &mut Conn, ctx: &Ctx, name: &str) -> Result<String, AppError> {
    let b = get(conn, ctx, name)?;
    facts::block(conn, &ctx_of(&b, ctx), &b.title, &b.sections)
}

/// Queues a run now (the page's and the API's "Run now"), as a run of its schedule (made,
/// paused, if the briefing was never turned on). Wake the scheduler after this.
pub fn run_now(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    name: &str,
) -> Result<crate::runs::Run, AppError> {
    let mut b = get(conn, ctx, name)?;
    if b.schedule_id.is_none() {
        let d = default_of(name)?;
        b = update(
            conn,
            ctx,
            config,
            name,
            &BriefingPatch { cron: Some(d.cron.into()), ..BriefingPatch::default() },
        )?;
    }
    let id = b.schedule_id.ok_or_else(|| AppError::Internal(anyhow::anyhow!("briefing without schedule")))?;
    schedule_service::run_now(conn, &Ctx { actor: Actor::Scheduler, ..*ctx }, id)
}

/// What one run needs, read in one trip.
struct Prepared {
    briefing: Briefing,
    facts: String,
    agent: Option<Agent>,
    /// Already delivered (a retry after a crash): its text.
    delivered: Option<String>,
    /// The Briefings page, as a link that works from a phone.
    page: String,
}

/// The instructions and the facts, as the agent is sent them.
pub fn agent_prompt(instructions: &str, facts: &str) -> String {
    format!("{instructions}\n\nFacts (read at the time of the briefing):\n\n{facts}")
}

/// Where the person turns briefings off or changes them: the public URL, else the address
/// Steward listens on. (Channels that carry buttons also get a one-click "Turn off".)
fn briefings_page(conn: &mut Conn, config: &Config) -> Result<String, AppError> {
    Ok(format!("{}/briefings", crate::notify::actions::base_url(conn, config.public_url.as_deref())?))
}

/// The delivered text: the agent's prose, then the facts verbatim; or the facts alone, marked.
pub fn compose(prose: Result<&str, &str>, facts: &str, link: &str) -> String {
    let head = match prose {
        Ok(text) => format!("{}\n\n---\n", text.trim()),
        Err(why) => format!("[Facts only: {why}.]\n\n"),
    };
    format!("{head}{facts}\nTurn off or change briefings: {link}\n")
}

/// Runs one briefing job of the `system` agent (the scheduler calls this): `briefing <name>`.
pub fn is_job(prompt: &str) -> bool {
    prompt.starts_with(JOB_PREFIX)
}

pub async fn system_job(services: &Services, d: &Delivery) -> Result<String, Failure> {
    let name = d.prompt.strip_prefix(JOB_PREFIX).unwrap_or_default().trim().to_string();
    let config = services.config.clone();
    let run_id = d.run_id;
    let n = name.clone();
    let prepared = services
        .run_as(Actor::Scheduler, move |conn, ctx| {
            let delivered: Option<String> = notifications::table
                .filter(notifications::run_id.eq(run_id))
                .select(notifications::body)
                .first(conn)
                .optional()?;
            let briefing = get(conn, ctx, &n)?;
            let facts = facts::block(conn, &ctx_of(&briefing, ctx), &briefing.title, &briefing.sections)?;
            let agent = match &briefing.agent {
                Some(a) => Some(crate::agents::get(conn, &config, a)?),
                None => None,
            };
            let page = briefings_page(conn, &config)?;
            Ok(Prepared { briefing, facts, agent, delivered, page })
        })
        .await
        .map_err(|e| Failure::permanent(format!("briefing {name}: {e}")))?;
    if let Some(text) = prepared.delivered {
        return Ok(text);
    }
    let prose = match &prepared.agent {
        None => Err("no agent is chosen for this briefing".to_string()),
        Some(agent) => ask(services, agent, &prepared.briefing, &prepared.facts, d).await,
    };
    let text = compose(prose.as_deref().map_err(String::as_str), &prepared.facts, &prepared.page);
    let (b, t) = (prepared.briefing.clone(), text.clone());
    let (agent, config) = (prepared.agent.clone(), services.config.clone());
    let (note, conversation) = services
        .run_as(Actor::Scheduler, move |conn, ctx| {
            deliver(conn, ctx, &config, &b, agent.as_ref(), &t, run_id)
        })
        .await
        .map_err(|e| Failure::retry(format!("briefing {name}: {e}")))?;
    services.events.send(crate::events::Event::notification(&note));
    let _ = conversation;
    services.wake.poke();
    Ok(text)
}

/// The agent's prose, tried up to [`AGENT_TRIES`] times; the last error when it keeps failing.
async fn ask(
    services: &Services,
    agent: &Agent,
    b: &Briefing,
    facts: &str,
    d: &Delivery,
) -> Result<String, String> {
    let mut delivery = d.clone();
    delivery.prompt = agent_prompt(&b.instructions, facts);
    let (mut last, mut tries) = (String::new(), 0);
    for attempt in 0..AGENT_TRIES {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(AGENT_BACKOFF_MS << (attempt - 1))).await;
        }
        tries += 1;
        delivery.attempt = d.attempt * AGENT_TRIES as i32 + attempt as i32;
        match crate::agents::deliver::deliver(&services.http, agent, &delivery).await {
            Ok(text) if !text.trim().is_empty() => return Ok(text),
            Ok(_) => last = "it answered nothing".into(),
            Err(f) => {
                last = f.message;
                if !f.retryable {
                    break;
                }
            }
        }
    }
    let tries = if tries == 1 { "1 try".to_string() } else { format!("{tries} tries") };
    Err(format!("the agent “{}” failed after {tries} ({last})", agent.name))
}

/// Posts the text into the briefing's conversation (made when missing) and sends the
/// notification to its channels, in one transaction.
fn deliver(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    b: &Briefing,
    agent: Option<&Agent>,
    text: &str,
    run_id: i32,
) -> Result<(crate::notifications::Notification, Option<i32>), AppError> {
    // The thread needs an agent that can talk (the briefing's, else none: the notification alone).
    let talker = agent.filter(|a| matches!(a.kind, AgentKind::Llm | AgentKind::Letta));
    crate::db::write(conn, |conn| {
        let mut conversation = None;
        if let Some(agent) = talker {
            let existing = b.conversation_id.and_then(|id| crate::chat::get(conn, id).ok()).map(|c| c.id);
            let id = match existing {
                Some(id) => id,
                None => {
                    let c = crate::chat::create(conn, config, &agent.name, &b.title, ctx.now)?;
                    diesel::update(briefings::table.find(&b.name))
                        .set(briefings::conversation_id.eq(c.id))
                        .execute(conn)?;
                    c.id
                }
            };
            crate::chat::append(
                conn,
                id,
                &crate::chat::NewMessage {
                    role: "assistant",
                    content: text,
                    run_id: Some(run_id),
                    ..Default::default()
                },
                ctx.now,
            )?;
            conversation = Some(id);
        }
        let new = crate::notifications::NewNotification {
            title: b.title.clone(),
            body: text.to_string(),
            level: "info",
            run_id: Some(run_id),
            schedule_id: b.schedule_id,
            subject: Some(crate::reminders::Subject::Briefing(default_of(&b.name)?.name).key()),
            ..Default::default()
        };
        // The person's choice of channels, else every channel that receives briefings.
        let note = if b.channels.is_empty() {
            crate::notify::send(conn, &new, crate::notify::Topic::Briefings, ctx.now)?
        } else {
            crate::notify::send_to(conn, &new, &b.channels, ctx.now)?
        };
        Ok((note, conversation))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_days_make_a_cron_line_and_read_back() {
        let days = |list: &[&str]| list.iter().map(|d| d.to_string()).collect::<Vec<_>>();
        for (time, given, cron, back) in [
            ("08:00", days(&["weekdays"]), "0 8 * * 1,2,3,4,5", days(&["mon", "tue", "wed", "thu", "fri"])),
            ("17:30", days(&["fri"]), "30 17 * * 5", days(&["fri"])),
            (
                "20:00",
                days(&["every day"]),
                "0 20 * * *",
                days(&["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
            ),
            ("07:05", days(&["Sunday", "sat"]), "5 7 * * 0,6", days(&["sat", "sun"])),
        ] {
            let got = cron_of(time, &given).unwrap();
            assert_eq!(got, cron);
            assert_eq!(simple_cron(&got), Some((time.to_string(), back)));
        }
        assert_eq!(simple_cron("0 8 * * 1-5").unwrap().1, days(&["mon", "tue", "wed", "thu", "fri"]));
        assert_eq!(simple_cron("0 8 1 * *"), None);
        assert_eq!(simple_cron("*/5 * * * *"), None);
        assert!(cron_of("8am", &days(&["mon"])).is_err());
        assert!(cron_of("08:00", &[]).is_err());
        assert!(cron_of("08:00", &days(&["someday"])).is_err());
    }

    #[test]
    fn the_delivered_text_keeps_the_facts_verbatim() {
        let facts = "Morning briefing · x\n\nOverdue tasks: none\n";
        assert_eq!(
            compose(Ok("  Hello.\n"), facts, "/briefings"),
            "Hello.\n\n---\nMorning briefing · x\n\nOverdue tasks: none\n\nTurn off or change briefings: /briefings\n"
        );
        assert!(
            compose(Err("no agent"), facts, "/b").starts_with("[Facts only: no agent.]\n\nMorning briefing")
        );
    }
}
