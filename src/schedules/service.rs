//! Schedule operations, shared by the pages, the API, the CLI and (later) the agent's tools.
//! Every change is validated whole before anything is written: bad input names the field and
//! why, and nothing is half-created.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::Deserialize;

use super::spec::{Kind, Spec};
use super::{Schedule, get, parse_priority};
use crate::clock::{ceil_ms, due_ms, from_ms, to_ms};
use crate::config::{Config, parse_zone};
use crate::db::schema::{runs, schedules};
use crate::db::{Conn, settings};
use crate::error::AppError;
use crate::runs::{NewRun, Run};
use crate::services::{Actor, Ctx, Services};

/// A schedule to create, or the fields to change (absent = unchanged). Text fields come as
/// typed; an empty string counts as absent, so forms can send every field. The ends `until`
/// and `count` are cleared with an explicit `null` (`Some(None)`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleInput {
    pub name: Option<String>,
    pub prompt: Option<String>,
    pub agent: Option<String>,
    pub at: Option<String>,
    pub cron: Option<String>,
    pub every: Option<String>,
    /// The timing in one box, as a person writes it: `every weekday at 9:00`, `every 2 hours`,
    /// `tomorrow 9am`, `in 20m`, or raw cron (see [`Spec::from_phrase`]). Instead of `at`,
    /// `cron` and `every`.
    pub when: Option<String>,
    pub tz: Option<String>,
    pub priority: Option<String>,
    pub misfire: Option<String>,
    pub retry_attempts: Option<i32>,
    pub retry_base_secs: Option<i32>,
    #[serde(deserialize_with = "nullable")]
    pub until: Option<Option<String>>,
    #[serde(deserialize_with = "nullable")]
    pub count: Option<Option<i32>>,
    pub active: Option<bool>,
    /// Create without asking a Letta server whether the agent exists.
    pub skip_validation: Option<bool>,
    /// The conversation each run posts its prompt and answer into (`llm` and `letta` agents);
    /// `null` clears it.
    #[serde(deserialize_with = "nullable")]
    pub conversation_id: Option<Option<i32>>,
    /// The channels (by name) each answer is sent to, like `["phone"]`; `[]` sends none.
    pub answer_to: Option<Vec<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, by `serde(default)`).
fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The timing as given: one of the typed fields, or a phrase.
#[derive(Debug, Clone, Copy)]
enum Timing<'a> {
    Typed(Kind, &'a str),
    Phrase(&'a str),
}

impl<'a> Timing<'a> {
    fn parse(self, now: DateTime<Tz>) -> Result<Spec, AppError> {
        match self {
            Timing::Typed(kind, text) => Spec::parse(kind, text, now),
            Timing::Phrase(text) => Spec::from_phrase(text, now),
        }
    }

    /// Whether this is the stored timing sent back unchanged.
    fn is_stored(self, b: &Schedule) -> bool {
        match self {
            Timing::Typed(kind, text) => kind.as_str() == b.kind && text == b.spec,
            // A phrase matches when it reads as the stored text would (`1h30m`, a cron line).
            Timing::Phrase(text) => b.kind != "once" && text == b.spec,
        }
    }
}

impl ScheduleInput {
    /// The timing given, if any: `when`, or one of `at`, `cron` and `every`; two at once is an
    /// error.
    fn timing_given(&self) -> Result<Option<Timing<'_>>, AppError> {
        let typed = self.timing()?;
        match (given(&self.when), typed) {
            (Some(_), Some((kind, _))) => Err(AppError::invalid(
                "when",
                format!(
                    "give when, or one of at, cron and every (both when and {} were given)",
                    kind.field()
                ),
            )),
            (Some(text), None) => Ok(Some(Timing::Phrase(text))),
            (None, typed) => Ok(typed.map(|(k, t)| Timing::Typed(k, t))),
        }
    }

    /// The one timing field given, if any; two at once is an error.
    fn timing(&self) -> Result<Option<(Kind, &str)>, AppError> {
        let mut found = [(Kind::Once, &self.at), (Kind::Cron, &self.cron), (Kind::Interval, &self.every)]
            .into_iter()
            .filter_map(|(k, v)| given(v).map(|v| (k, v)));
        let first = found.next();
        if let (Some((a, _)), Some((b, _))) = (first, found.next()) {
            return Err(AppError::invalid(
                b.field(),
                format!(
                    "give only one of at, cron and every (both {} and {} were given)",
                    a.field(),
                    b.field()
                ),
            ));
        }
        Ok(first)
    }
}

/// Cost guards, from Settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guards {
    /// At most this many active schedules.
    pub max_active: i64,
    /// No schedule may fire more often than this.
    pub min_interval_secs: i64,
    /// A schedule pauses itself after this many failed runs in a row.
    pub pause_after_failures: i32,
}

impl Default for Guards {
    fn default() -> Guards {
        Guards { max_active: 500, min_interval_secs: 60, pause_after_failures: 3 }
    }
}

const MAX_ACTIVE: &str = "guard.max_active_schedules";
const MIN_INTERVAL: &str = "guard.min_interval_secs";
const PAUSE_AFTER: &str = "guard.pause_after_failures";

impl Guards {
    pub fn load(conn: &mut Conn) -> Result<Guards, AppError> {
        let d = Guards::default();
        let read = |conn: &mut Conn, key: &str, default: i64| -> Result<i64, AppError> {
            Ok(settings::get(conn, key)?.and_then(|v| v.parse().ok()).unwrap_or(default))
        };
        Ok(Guards {
            max_active: read(conn, MAX_ACTIVE, d.max_active)?,
            min_interval_secs: read(conn, MIN_INTERVAL, d.min_interval_secs)?,
            pause_after_failures: read(conn, PAUSE_AFTER, d.pause_after_failures.into())? as i32,
        })
    }

    pub fn save(self, conn: &mut Conn) -> Result<(), AppError> {
        if self.max_active < 1 {
            return Err(AppError::invalid("max_active", "must be at least 1"));
        }
        if self.min_interval_secs < 1 {
            return Err(AppError::invalid("min_interval_secs", "must be at least 1 second"));
        }
        if !(1..=100).contains(&self.pause_after_failures) {
            return Err(AppError::invalid("pause_after_failures", "must be between 1 and 100"));
        }
        crate::db::write(conn, |conn| {
            settings::set(conn, MAX_ACTIVE, &self.max_active.to_string())?;
            settings::set(conn, MIN_INTERVAL, &self.min_interval_secs.to_string())?;
            settings::set(conn, PAUSE_AFTER, &self.pause_after_failures.to_string())?;
            Ok(())
        })
    }
}

/// A fully validated schedule, ready to write.
struct Draft {
    name: String,
    prompt: String,
    agent: String,
    spec: Spec,
    tz: Tz,
    priority: i32,
    misfire: String,
    retry_attempts: i32,
    retry_base_secs: i32,
    until_at: Option<DateTime<Utc>>,
    max_count: Option<i32>,
    active: bool,
    conversation_id: Option<i32>,
    answer_to: Vec<String>,
}

/// The stored columns of a schedule, written the same way by create and update.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = schedules, treat_none_as_null = true)]
struct Columns<'a> {
    name: &'a str,
    prompt: &'a str,
    agent: &'a str,
    kind: &'static str,
    spec: String,
    tz: &'static str,
    priority: i32,
    active: bool,
    misfire: &'a str,
    retry_attempts: i32,
    retry_base_secs: i32,
    until_at: Option<i64>,
    max_count: Option<i32>,
    conversation_id: Option<i32>,
    anchor_at: i64,
    next_fire_at: Option<i64>,
    updated_at: i64,
    answer_to: String,
}

impl Draft {
    fn columns(&self, anchor: DateTime<Utc>, next: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Columns<'_> {
        Columns {
            name: &self.name,
            prompt: &self.prompt,
            agent: &self.agent,
            kind: self.spec.kind().as_str(),
            spec: self.spec.to_stored(),
            tz: self.tz.name(),
            priority: self.priority,
            active: self.active,
            misfire: &self.misfire,
            retry_attempts: self.retry_attempts,
            retry_base_secs: self.retry_base_secs,
            until_at: self.until_at.map(to_ms),
            max_count: self.max_count,
            conversation_id: self.conversation_id,
            anchor_at: to_ms(anchor),
            next_fire_at: next.map(due_ms),
            updated_at: to_ms(now),
            answer_to: serde_json::Value::from(self.answer_to.clone()).to_string(),
        }
    }
}

/// Reads the input over `base` (the stored schedule when editing), checking every field.
fn draft(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    input: &ScheduleInput,
    base: Option<&Schedule>,
) -> Result<Draft, AppError> {
    let tz = match given(&input.tz) {
        Some(z) => parse_zone("tz", z)?,
        None => base.map(Schedule::zone).unwrap_or(ctx.tz),
    };
    let now_local = ctx.now.with_timezone(&tz);
    let prompt = given(&input.prompt).map(str::to_string).or_else(|| base.map(|b| b.prompt.clone()));
    let prompt =
        prompt.ok_or_else(|| AppError::invalid("prompt", "is required: what should the agent be told?"))?;
    if prompt.len() > 100_000 {
        return Err(AppError::invalid("prompt", "is longer than 100,000 bytes"));
    }
    let spec = match (input.timing_given()?, base) {
        // The stored timing sent back unchanged (a client echoing what it read) is no change:
        // a passed `once` stays valid and an interval keeps its phase.
        (Some(timing), Some(b)) if timing.is_stored(b) => b.parsed()?,
        (Some(timing), _) => timing.parse(now_local)?,
        (None, Some(b)) => b.parsed()?,
        (None, None) => {
            return Err(AppError::invalid(
                "at",
                "Say when it should fire: when (like “every weekday at 9:00”), or at (once), cron, \
                 or every (an interval).",
            ));
        }
    };
    let agent_name = given(&input.agent).map(str::to_string).or_else(|| base.map(|b| b.agent.clone()));
    let agent_name = agent_name.unwrap_or_else(|| "default".into());
    let agent = crate::agents::resolve(conn, config, "agent", &agent_name)?;
    // What a schedule carries is sent to its agent: only as the agent allows (issue 12).
    crate::agents::may_send(conn, &agent, ctx.actor)?;
    let priority = match given(&input.priority) {
        Some(p) => parse_priority(p)?,
        None => base.map(|b| b.priority).unwrap_or(2),
    };
    let misfire = given(&input.misfire).map(str::to_string).or_else(|| base.map(|b| b.misfire.clone()));
    let misfire = misfire.unwrap_or_else(|| "once".into());
    if !matches!(misfire.as_str(), "once" | "skip" | "all") {
        return Err(AppError::invalid("misfire", format!("{misfire:?} is not one of once, skip, all")));
    }
    let retry_attempts = input.retry_attempts.or(base.map(|b| b.retry_attempts)).unwrap_or(5);
    if !(1..=20).contains(&retry_attempts) {
        return Err(AppError::invalid("retry_attempts", format!("{retry_attempts} is not between 1 and 20")));
    }
    let retry_base_secs = input.retry_base_secs.or(base.map(|b| b.retry_base_secs)).unwrap_or(30);
    if !(1..=86_400).contains(&retry_base_secs) {
        return Err(AppError::invalid(
            "retry_base_secs",
            format!("{retry_base_secs} is not between 1 and 86400"),
        ));
    }
    let stored_until = base.and_then(|b| b.until_at).map(from_ms);
    let until_at = match &input.until {
        Some(None) => None,
        Some(Some(text)) if text.trim().is_empty() => stored_until,
        // The stored end sent back unchanged may have passed; it is no change.
        Some(Some(text)) if stored_until.is_some_and(|u| super::rfc3339(u) == text.trim()) => stored_until,
        Some(Some(text)) => Some(parse_until(text.trim(), now_local)?),
        None => stored_until,
    };
    let max_count = match input.count {
        Some(None) => None,
        Some(Some(c)) if c < 1 => {
            return Err(AppError::invalid("count", format!("{c} must be at least 1 (null: no limit)")));
        }
        Some(Some(c)) => Some(c),
        None => base.and_then(|b| b.max_count),
    };
    let conversation_id = match input.conversation_id {
        Some(Some(id)) => Some(crate::chat::conversation_for_schedule(conn, id, &agent)?),
        Some(None) => None,
        None => base.and_then(|b| b.conversation_id),
    };
    let answer_to = match &input.answer_to {
        Some(list) => answer_channels(conn, list)?,
        None => base.map(Schedule::answer_to).unwrap_or_default(),
    };
    let name = given(&input.name).map(str::to_string).or_else(|| base.map(|b| b.name.clone()));
    let name = name.unwrap_or_else(|| default_name(&prompt));
    if name.chars().count() > 200 {
        return Err(AppError::invalid("name", "is longer than 200 characters"));
    }
    Ok(Draft {
        name,
        prompt,
        agent: agent_name,
        spec,
        tz,
        priority,
        misfire,
        retry_attempts,
        retry_base_secs,
        until_at,
        max_count,
        active: input.active.or(base.map(|b| b.active)).unwrap_or(true),
        conversation_id,
        answer_to,
    })
}

/// The channels an answer goes to, checked: each must exist (names trimmed, repeats dropped).
fn answer_channels(conn: &mut Conn, list: &[String]) -> Result<Vec<String>, AppError> {
    let known: Vec<String> = crate::notify::list(conn)?.into_iter().map(|c| c.name).collect();
    let mut out: Vec<String> = Vec::new();
    for name in list.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if !known.iter().any(|k| k == name) {
            let choices = if known.is_empty() {
                "there are no channels yet (add one on the Channels page or with `steward channel add`)"
                    .to_string()
            } else {
                format!("the channels are {}", known.join(", "))
            };
            return Err(AppError::invalid("answer_to", format!("{name:?} is not a channel; {choices}")));
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// `until`: an instant, or a day (meaning through the end of that day in the zone).
fn parse_until(text: &str, now: DateTime<Tz>) -> Result<DateTime<Utc>, AppError> {
    use crate::dates::When;
    let when = crate::dates::parse_when(text, now).map_err(|e| AppError::invalid("until", e.to_string()))?;
    let at = match when {
        When::At(t) => t.with_timezone(&Utc),
        When::Date(d) => {
            let end = d.succ_opt().unwrap_or(d).and_time(chrono::NaiveTime::MIN);
            crate::dates::resolve_local(now.timezone(), end).with_timezone(&Utc) - Duration::milliseconds(1)
        }
    };
    if at <= now.with_timezone(&Utc) {
        return Err(AppError::invalid("until", format!("{text:?} is in the past")));
    }
    Ok(at)
}

/// The first line of the prompt, shortened: a name when none is given.
fn default_name(prompt: &str) -> String {
    let line = prompt.lines().next().unwrap_or_default().trim();
    let short: String = line.chars().take(60).collect();
    if short.len() < line.len() { format!("{short}…") } else { short }
}

/// The first firing strictly after `after` that respects `until` and `count`.
fn next_fire(d: &Draft, after: DateTime<Utc>, anchor: DateTime<Utc>, fired: i32) -> Option<DateTime<Utc>> {
    if d.max_count.is_some_and(|max| fired >= max) {
        return None;
    }
    d.spec.next_after(after, d.tz, anchor).filter(|n| d.until_at.is_none_or(|u| *n <= u))
}

/// Checks the cost guards for a schedule that will be active.
fn check_guards(
    conn: &mut Conn,
    d: &Draft,
    now: DateTime<Utc>,
    old: Option<&Schedule>,
) -> Result<(), AppError> {
    let guards = Guards::load(conn)?;
    if let Some(gap) = d.spec.shortest_gap(d.tz, now)
        && gap < Duration::seconds(guards.min_interval_secs)
    {
        let field = d.spec.kind().field();
        return Err(AppError::invalid(
            field,
            format!(
                "fires every {} s, more often than the minimum interval of {} s (a cost guard in Settings)",
                gap.num_seconds(),
                guards.min_interval_secs
            ),
        ));
    }
    // Bare `active` and no `id != ?`, so that SQLite counts from the partial index
    // `schedules_due` alone; the schedule being changed is taken off afterwards.
    let counted: i64 = schedules::table
        .filter(schedules::active)
        .filter(schedules::deleted_at.is_null())
        .filter(schedules::next_fire_at.is_not_null())
        .filter(schedules::source.is_null())
        .count()
        .get_result(conn)?;
    let itself = old.is_some_and(|o| o.active && o.deleted_at.is_none() && o.next_fire_at.is_some());
    let active = counted - i64::from(itself);
    if active >= guards.max_active {
        return Err(AppError::invalid(
            "active",
            format!(
                "there are already {active} active schedules, the most allowed (a cost guard in Settings); \
                 pause or delete one first"
            ),
        ));
    }
    Ok(())
}

/// Creates a schedule after asking a Letta server whether its agent exists (unless
/// `skip_validation`), and wakes the scheduler: the doors' entry point; [`create`] is the
/// database part.
pub async fn create_checked(
    services: &Services,
    actor: Actor,
    input: ScheduleInput,
) -> Result<Schedule, AppError> {
    if !input.skip_validation.unwrap_or(false) {
        let name = given(&input.agent).unwrap_or("default").to_string();
        let cfg = services.config.clone();
        let agent = services
            .db
            .run(move |conn| {
                let agent = crate::agents::resolve(conn, &cfg, "agent", &name)?;
                // Refused before the Letta server is asked anything.
                crate::agents::may_send(conn, &agent, actor)?;
                Ok(agent)
            })
            .await?;
        if agent.kind == crate::agents::AgentKind::Letta {
            crate::agents::deliver::check(&services.http, &agent).await.map_err(|m| {
                AppError::invalid("agent", format!("{}: {m} (or create it with skip_validation)", agent.name))
            })?;
        }
    }
    let cfg = services.config.clone();
    let s = services.run_as(actor, move |conn, ctx| create(conn, ctx, &cfg, &input)).await?;
    services.wake.poke();
    Ok(s)
}

pub fn create(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    input: &ScheduleInput,
) -> Result<Schedule, AppError> {
    crate::db::write(conn, |conn| {
        let d = draft(conn, ctx, config, input, None)?;
        // An interval counts from now, rounded up to the millisecond its firings are kept in.
        let anchor = ceil_ms(ctx.now);
        let next = next_fire(&d, ctx.now, anchor, 0);
        if next.is_none() {
            return Err(AppError::invalid("until", "the schedule would never fire before its end"));
        }
        if d.active {
            check_guards(conn, &d, ctx.now, None)?;
        }
        let now = to_ms(ctx.now);
        let id: i32 = diesel::insert_into(schedules::table)
            .values((
                d.columns(anchor, next, ctx.now),
                schedules::created_by.eq(ctx.actor.as_str()),
                schedules::created_in.eq(ctx.actor.conversation()),
                schedules::created_at.eq(now),
            ))
            .returning(schedules::id)
            .get_result(conn)?;
        let s = get(conn, id)?;
        recorded(conn, ctx, "create", None, &s)?;
        Ok(s)
    })
}

/// Records a schedule change in the activity log (when the agent or a program made it).
fn recorded(
    conn: &mut Conn,
    ctx: &Ctx,
    action: &'static str,
    before: Option<&Schedule>,
    after: &Schedule,
) -> Result<(), AppError> {
    use crate::activity::{self, Change};
    if !activity::recorded(ctx.actor) {
        return Ok(());
    }
    let change = Change {
        kind: "schedule",
        target: after.id,
        action,
        summary: activity::schedule_summary(action, after),
        before: before.map(activity::schedule_snapshot),
        after: Some(activity::schedule_snapshot(after)),
    };
    activity::record(conn, ctx, change)
}

/// Brings a deleted schedule back (an undo), paused, then resumed when `active`: it fires next
/// at its first time after now.
pub fn undelete(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    id: i32,
    active: bool,
) -> Result<Schedule, AppError> {
    crate::db::write(conn, |conn| {
        let brought = diesel::update(schedules::table.find(id).filter(schedules::deleted_at.is_not_null()))
            .set((
                schedules::deleted_at.eq(None::<i64>),
                schedules::active.eq(false),
                schedules::updated_at.eq(to_ms(ctx.now)),
            ))
            .execute(conn)?;
        if brought == 0 {
            return Err(AppError::NotFound(format!("schedule {id} is not deleted")));
        }
        Ok(())
    })?;
    let s = if active { set_active(conn, ctx, config, id, true)? } else { get(conn, id)? };
    Ok(s)
}

/// Changes fields. A new timing (or zone) counts from now; a new end keeps the timetable.
pub fn update(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    id: i32,
    input: &ScheduleInput,
) -> Result<Schedule, AppError> {
    crate::db::write(conn, |conn| {
        let old = get_own(conn, id)?;
        let d = draft(conn, ctx, config, input, Some(&old))?;
        let timing_changed =
            d.spec.kind().as_str() != old.kind || d.spec.to_stored() != old.spec || d.tz.name() != old.tz;
        let end_changed = d.until_at.map(to_ms) != old.until_at || d.max_count != old.max_count;
        let anchor = if timing_changed { ceil_ms(ctx.now) } else { from_ms(old.anchor_at) };
        let next = if timing_changed || end_changed || (d.active && !old.active) {
            next_fire(&d, ctx.now, anchor, old.fired_count)
        } else {
            old.next_fire()
        };
        if d.active && next.is_some() {
            check_guards(conn, &d, ctx.now, Some(&old))?;
        }
        diesel::update(schedules::table.find(id)).set(d.columns(anchor, next, ctx.now)).execute(conn)?;
        if d.active && !old.active {
            clear_failures(conn, id)?;
        }
        let s = get(conn, id)?;
        recorded(conn, ctx, "update", Some(&old), &s)?;
        Ok(s)
    })
}

/// Pause, or resume: a resumed schedule fires next at its first time after now (what it missed
/// while paused is not made up) and forgets its failure streak.
pub fn set_active(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    id: i32,
    active: bool,
) -> Result<Schedule, AppError> {
    let input = ScheduleInput { active: Some(active), ..ScheduleInput::default() };
    crate::db::write(conn, |conn| {
        let old = get_own(conn, id)?;
        if old.active == active {
            return Ok(old);
        }
        if active {
            let d = draft(conn, ctx, config, &input, Some(&old))?;
            let next = next_fire(&d, ctx.now, from_ms(old.anchor_at), old.fired_count);
            if next.is_some() {
                check_guards(conn, &d, ctx.now, Some(&old))?;
            }
            diesel::update(schedules::table.find(id))
                .set((
                    schedules::active.eq(true),
                    schedules::next_fire_at.eq(next.map(due_ms)),
                    schedules::updated_at.eq(to_ms(ctx.now)),
                ))
                .execute(conn)?;
            clear_failures(conn, id)?;
        } else {
            diesel::update(schedules::table.find(id))
                .set((schedules::active.eq(false), schedules::updated_at.eq(to_ms(ctx.now))))
                .execute(conn)?;
        }
        let s = get(conn, id)?;
        recorded(conn, ctx, if active { "resume" } else { "pause" }, Some(&old), &s)?;
        Ok(s)
    })
}

fn clear_failures(conn: &mut Conn, id: i32) -> Result<(), AppError> {
    diesel::update(schedules::table.find(id))
        .set((schedules::failure_streak.eq(0), schedules::note.eq(None::<String>)))
        .execute(conn)?;
    Ok(())
}

/// Deletes a schedule (its run history stays) and cancels its runs still waiting.
pub fn delete(conn: &mut Conn, ctx: &Ctx, id: i32) -> Result<(), AppError> {
    crate::db::write(conn, |conn| {
        let old = get_own(conn, id)?;
        let now = to_ms(ctx.now);
        let gone: Schedule = diesel::update(schedules::table.find(id))
            .set((schedules::deleted_at.eq(now), schedules::active.eq(false), schedules::updated_at.eq(now)))
            .returning(Schedule::as_returning())
            .get_result(conn)?;
        recorded(conn, ctx, "delete", Some(&old), &gone)?;
        diesel::update(runs::table.filter(runs::schedule_id.eq(id)).filter(runs::state.eq("queued")))
            .set((
                runs::state.eq("cancelled"),
                runs::finished_at.eq(now),
                runs::error.eq("the schedule was deleted"),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// A paused copy (so it cannot double the original's firings until the person resumes it).
pub fn duplicate(conn: &mut Conn, ctx: &Ctx, config: &Config, id: i32) -> Result<Schedule, AppError> {
    let old = get_own(conn, id)?;
    // The answer's channels that still exist (one removed since is left out of the copy).
    let channels: Vec<String> = crate::notify::list(conn)?.into_iter().map(|c| c.name).collect();
    let answer_to = old.answer_to().into_iter().filter(|n| channels.contains(n)).collect();
    let mut input = ScheduleInput {
        name: Some(format!("{} (copy)", old.name)),
        prompt: Some(old.prompt.clone()),
        agent: Some(old.agent.clone()),
        tz: Some(old.tz.clone()),
        priority: Some(super::priority_name(old.priority).into()),
        misfire: Some(old.misfire.clone()),
        retry_attempts: Some(old.retry_attempts),
        retry_base_secs: Some(old.retry_base_secs),
        count: old.max_count.map(Some),
        active: Some(false),
        answer_to: Some(answer_to),
        ..ScheduleInput::default()
    };
    match old.kind.as_str() {
        "cron" => input.cron = Some(old.spec.clone()),
        "interval" => input.every = Some(old.spec.clone()),
        // A one-time schedule whose time has passed gets an hour from now; the person edits it.
        _ => {
            let at = old.next_fire().filter(|t| *t > ctx.now).unwrap_or(ctx.now + Duration::hours(1));
            // To the millisecond: a copy fires when the original would, not earlier.
            input.at = Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        }
    }
    if let Some(u) = old.until_at.map(from_ms).filter(|u| *u > ctx.now) {
        input.until = Some(Some(super::rfc3339(u)));
    }
    create(conn, ctx, config, &input)
}

/// Runs a schedule now, outside its timing (its next firing stays as it was).
pub fn run_now(conn: &mut Conn, ctx: &Ctx, id: i32) -> Result<Run, AppError> {
    crate::db::write(conn, |conn| {
        let s = get(conn, id)?;
        crate::agents::may_send_to(conn, &s.agent, ctx.actor)?;
        crate::runs::insert(conn, &NewRun::for_schedule(&s, ctx.now, "manual"), ctx.now)?
            .ok_or_else(|| AppError::invalid("id", "a run of this schedule was just queued for this instant"))
    })
}

/// Fires a prompt now, without a schedule: for external events (`POST /api/v1/trigger`).
pub fn trigger(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    prompt: &str,
    agent: Option<&str>,
    priority: Option<&str>,
) -> Result<Run, AppError> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err(AppError::invalid("prompt", "is required"));
    }
    let agent = agent.map(str::trim).filter(|a| !a.is_empty()).unwrap_or("default");
    let target = crate::agents::resolve(conn, config, "agent", agent)?;
    crate::agents::may_send(conn, &target, ctx.actor)?;
    let priority = priority.map(parse_priority).transpose()?.unwrap_or(2);
    let key = format!("trigger-{}", crate::auth::random_token(12));
    let run = NewRun {
        schedule_id: None,
        idempotency_key: key,
        agent: agent.to_string(),
        prompt: prompt.to_string(),
        priority,
        scheduled_for: ctx.now,
        trigger: ctx.actor.to_string(),
        max_attempts: 5,
        retry_base_secs: 30,
    };
    crate::db::write(conn, |conn| {
        crate::runs::insert(conn, &run, ctx.now)?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("trigger key clash")))
    })
}

/// Schedules, newest first; only active and paused ones unless `all` (which adds ended ones).
pub fn list(conn: &mut Conn, agent: Option<&str>, all: bool) -> Result<Vec<Schedule>, AppError> {
    // Reminders (which have a source) are the tasks' and events' own, not prompts.
    let mut q = schedules::table
        .filter(schedules::deleted_at.is_null())
        .filter(schedules::source.is_null())
        .into_boxed();
    if let Some(a) = agent {
        q = q.filter(schedules::agent.eq(a.to_string()));
    }
    if !all {
        q = q.filter(schedules::next_fire_at.is_not_null().or(schedules::active.eq(false)));
    }
    Ok(q.order(schedules::id.desc()).select(Schedule::as_select()).load(conn)?)
}

/// Schedules as the API and the tools show them, each with its last run (read in one query).
pub fn views(conn: &mut Conn, list: &[Schedule]) -> Result<Vec<super::ScheduleView>, AppError> {
    let ids: Vec<i32> = list.iter().map(|s| s.id).collect();
    let mut last = last_runs(conn, &ids)?;
    Ok(list.iter().map(|s| s.view(last.remove(&s.id))).collect())
}

/// A schedule a person may change: reminders belong to their task or event.
fn get_own(conn: &mut Conn, id: i32) -> Result<Schedule, AppError> {
    let s = get(conn, id)?;
    match &s.source {
        Some(source) => Err(AppError::invalid(
            "schedule",
            format!("schedule {id} is the reminder of {source}; change that one's reminders instead"),
        )),
        None => Ok(s),
    }
}

/// The next firings across active schedules, soonest first. Steward's own work (the `system`
/// agent's calendar refreshes, reminders) is not a prompt and is left out.
pub fn upcoming(conn: &mut Conn, limit: i64) -> Result<Vec<Schedule>, AppError> {
    Ok(schedules::table
        .filter(schedules::active) // bare, for the partial index `schedules_due`
        .filter(schedules::deleted_at.is_null())
        .filter(schedules::next_fire_at.is_not_null())
        .filter(schedules::agent.ne(crate::calendar::subscriptions::SYSTEM_AGENT))
        .filter(schedules::source.is_null())
        .order(schedules::next_fire_at.asc())
        .limit(limit.clamp(1, 500))
        .select(Schedule::as_select())
        .load(conn)?)
}

/// The most recent run of each of these schedules.
pub fn last_runs(
    conn: &mut Conn,
    ids: &[i32],
) -> Result<std::collections::HashMap<i32, super::LastRun>, AppError> {
    let mut out = std::collections::HashMap::new();
    for id in ids {
        let last: Option<(i32, String, i64)> = runs::table
            .filter(runs::schedule_id.eq(id))
            .order(runs::id.desc())
            .select((runs::id, runs::state, runs::scheduled_for))
            .first(conn)
            .optional()?;
        if let Some((run_id, state, at)) = last {
            out.insert(*id, super::LastRun { id: run_id, state, scheduled_for: from_ms(at) });
        }
    }
    Ok(out)
}

/// The preview of a timing: the next `count` firings after `from`.
pub fn preview(
    kind: Kind,
    text: &str,
    tz: Tz,
    from: DateTime<Utc>,
    count: usize,
) -> Result<Vec<DateTime<Utc>>, AppError> {
    let spec = Spec::parse(kind, text, from.with_timezone(&tz))?;
    Ok(spec.preview(from, tz, from, count.clamp(1, 1000)))
}
