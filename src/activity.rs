//! The activity log: every change the agent (chat or MCP), an MCP client or an API token makes,
//! with who, when, from which conversation or token, and the state before and after as JSON.
//! The Activity page (and `GET /api/v1/activity`) shows it; [`undo`] puts a change back.
//!
//! Changes are recorded at the service layer, in the same transaction as the change: the task
//! and schedule service functions call [`record`], which keeps nothing when the person acts
//! (the pages, the CLI) or the scheduler does. So every door (web, API, MCP, the chat's tools)
//! is covered by one call per operation.
//!
//! Calendar events are recorded by [`crate::calendar::history`]. Adding a kind takes: a snapshot function, [`record`] calls in its
//! service functions, and an arm in [`undo`]'s dispatch. A snapshot holds the fields a person
//! can change; "the target changed since" means its snapshot now differs from `after`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::{from_ms, to_ms};
use crate::config::Config;
use crate::db::Conn;
use crate::db::schema::{activity, schedules, tasks};
use crate::error::AppError;
use crate::schedules::{Schedule, ScheduleInput};
use crate::services::{Actor, Ctx};
use crate::tasks::Task;

/// A change to record.
#[derive(Debug, Clone)]
pub struct Change {
    /// `task`, `schedule` or `event`.
    pub kind: &'static str,
    pub target: i32,
    /// create, update, complete, reopen, delete, restore, pause, resume.
    pub action: &'static str,
    pub summary: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = activity)]
pub struct Entry {
    pub id: i32,
    pub created_at: i64,
    pub actor: String,
    pub conversation_id: Option<i32>,
    pub token_id: Option<i32>,
    pub kind: String,
    pub target_id: i32,
    pub action: String,
    pub summary: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub undone_at: Option<i64>,
}

impl Entry {
    pub fn created(&self) -> DateTime<Utc> {
        from_ms(self.created_at)
    }

    /// Who acted, as a filter value: `chat` (the agent in a conversation), `mcp` (an MCP
    /// client), `api` (a program with a token).
    pub fn via(&self) -> &'static str {
        match (self.actor.as_str(), self.conversation_id) {
            ("agent", Some(_)) => "chat",
            ("agent", None) => "mcp",
            _ => "api",
        }
    }

    fn json(text: &Option<String>) -> Value {
        text.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null)
    }

    pub fn before_json(&self) -> Value {
        Entry::json(&self.before)
    }

    pub fn after_json(&self) -> Value {
        Entry::json(&self.after)
    }

    pub fn view(&self) -> EntryView {
        EntryView {
            id: self.id,
            at: crate::schedules::rfc3339(self.created()),
            actor: self.actor.clone(),
            via: self.via(),
            conversation_id: self.conversation_id,
            token_id: self.token_id,
            kind: self.kind.clone(),
            target_id: self.target_id,
            action: self.action.clone(),
            summary: self.summary.clone(),
            before: self.before_json(),
            after: self.after_json(),
            undone_at: self.undone_at.map(|u| crate::schedules::rfc3339(from_ms(u))),
        }
    }
}

/// An entry as the API shows it.
#[derive(Debug, Serialize)]
pub struct EntryView {
    pub id: i32,
    pub at: String,
    pub actor: String,
    /// chat, mcp or api.
    pub via: &'static str,
    pub conversation_id: Option<i32>,
    pub token_id: Option<i32>,
    pub kind: String,
    pub target_id: i32,
    pub action: String,
    pub summary: String,
    pub before: Value,
    pub after: Value,
    pub undone_at: Option<String>,
}

/// Whether what `actor` does is recorded: the agent's and programs' changes, not the person's
/// or the scheduler's.
pub fn recorded(actor: Actor) -> bool {
    matches!(actor, Actor::Agent { .. } | Actor::Api { .. } | Actor::AdminToken { .. })
}

/// Records a change made by `ctx.actor` (nothing for the person or the scheduler).
pub fn record(conn: &mut Conn, ctx: &Ctx, change: Change) -> Result<(), AppError> {
    if !recorded(ctx.actor) {
        return Ok(());
    }
    let text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
    diesel::insert_into(activity::table)
        .values((
            activity::created_at.eq(to_ms(ctx.now)),
            activity::actor.eq(ctx.actor.as_str()),
            activity::conversation_id.eq(ctx.actor.conversation()),
            activity::token_id.eq(ctx.actor.token()),
            activity::kind.eq(change.kind),
            activity::target_id.eq(change.target),
            activity::action.eq(change.action),
            activity::summary.eq(&change.summary),
            activity::before.eq(text(&change.before)),
            activity::after.eq(text(&change.after)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The Activity page's and the API's filters.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActivityFilter {
    /// chat, mcp or api.
    pub actor: Option<String>,
    /// task, schedule or event.
    pub kind: Option<String>,
    pub conversation: Option<i32>,
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i32>,
}

pub const ACTORS: [&str; 3] = ["chat", "mcp", "api"];
pub const KINDS: [&str; 3] = ["task", "schedule", "event"];

/// Newest first, a page at a time; the second value is the cursor of the next page.
pub fn list(conn: &mut Conn, f: &ActivityFilter) -> Result<(Vec<Entry>, Option<i32>), AppError> {
    let mut q = activity::table.into_boxed();
    match f.actor.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => {}
        Some("chat") => {
            q = q.filter(activity::actor.eq("agent")).filter(activity::conversation_id.is_not_null())
        }
        Some("mcp") => q = q.filter(activity::actor.eq("agent")).filter(activity::conversation_id.is_null()),
        Some("api") => q = q.filter(activity::actor.eq("api")),
        Some(other) => {
            return Err(AppError::invalid("actor", format!("{other:?} is not one of {}", ACTORS.join(", "))));
        }
    }
    if let Some(kind) = f.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        if !KINDS.contains(&kind) {
            return Err(AppError::invalid("kind", format!("{kind:?} is not one of {}", KINDS.join(", "))));
        }
        q = q.filter(activity::kind.eq(kind.to_string()));
    }
    if let Some(c) = f.conversation {
        q = q.filter(activity::conversation_id.eq(c));
    }
    if let Some(cursor) = f.cursor {
        q = q.filter(activity::id.lt(cursor));
    }
    let limit = f.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid("limit", format!("{limit} is not between 1 and 500")));
    }
    let mut page: Vec<Entry> =
        q.order(activity::id.desc()).limit(limit + 1).select(Entry::as_select()).load(conn)?;
    let next = if page.len() as i64 > limit {
        page.truncate(limit as usize);
        page.last().map(|e| e.id)
    } else {
        None
    };
    Ok((page, next))
}

pub fn get(conn: &mut Conn, id: i32) -> Result<Entry, AppError> {
    activity::table
        .find(id)
        .select(Entry::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no activity entry {id}")))
}

/// Whether this caller made the target: an entry records its creation by the same conversation
/// (chat) or the same token (MCP).
pub fn created_by(conn: &mut Conn, kind: &str, target: i32, actor: Actor) -> Result<bool, AppError> {
    let Actor::Agent { conversation, token } = actor else { return Ok(false) };
    let mut q = activity::table
        .filter(activity::kind.eq(kind.to_string()))
        .filter(activity::target_id.eq(target))
        .filter(activity::action.eq("create"))
        .into_boxed();
    q = match (conversation, token) {
        (Some(c), _) => q.filter(activity::conversation_id.eq(c)),
        (None, Some(t)) => q.filter(activity::conversation_id.is_null()).filter(activity::token_id.eq(t)),
        (None, None) => return Ok(false),
    };
    Ok(q.count().get_result::<i64>(conn)? > 0)
}

// Snapshots: the fields a person can change, so "changed since" compares like with like.

pub fn task_snapshot(t: &Task) -> Value {
    json!({
        "id": t.id,
        "title": t.title,
        "line": t.line().to_line(),
        "deleted": t.deleted_at.is_some(),
    })
}

pub fn schedule_snapshot(s: &Schedule) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "prompt": s.prompt,
        "agent": s.agent,
        "kind": s.kind,
        "spec": s.spec,
        "tz": s.tz,
        "priority": crate::schedules::priority_name(s.priority),
        "active": s.active,
        "misfire": s.misfire,
        "retry_attempts": s.retry_attempts,
        "retry_base_secs": s.retry_base_secs,
        "until": s.until_at.map(|u| crate::schedules::rfc3339(from_ms(u))),
        "count": s.max_count,
        "conversation_id": s.conversation_id,
        "deleted": s.deleted_at.is_some(),
    })
}

/// A task by id, deleted or not.
fn any_task(conn: &mut Conn, id: i32) -> Result<Option<Task>, AppError> {
    Ok(tasks::table.find(id).select(Task::as_select()).first(conn).optional()?)
}

fn any_schedule(conn: &mut Conn, id: i32) -> Result<Option<Schedule>, AppError> {
    Ok(schedules::table.find(id).select(Schedule::as_select()).first(conn).optional()?)
}

/// What undoing an entry did.
#[derive(Debug, Serialize)]
pub struct Undone {
    pub entry: EntryView,
    /// One sentence: "Restored task “Buy milk”."
    pub message: String,
}

fn refuse(message: impl Into<String>) -> AppError {
    AppError::Conflict(message.into())
}

/// Undoes an entry, acting as `ctx.actor` (the person on the page; a program's undo is itself
/// recorded). Refused when it was undone already, or when its target changed since (a sentence
/// says how).
pub fn undo(conn: &mut Conn, ctx: &Ctx, config: &Config, id: i32) -> Result<Undone, AppError> {
    let entry = get(conn, id)?;
    if let Some(at) = entry.undone_at {
        let when = from_ms(at).with_timezone(&ctx.tz).format("%-d %b %Y %H:%M");
        return Err(refuse(format!("This change was undone already, on {when}; it cannot be undone twice.")));
    }
    // Claim the entry first, so two clicks cannot both undo it; give it back if undoing fails.
    let claimed = diesel::update(activity::table.find(id).filter(activity::undone_at.is_null()))
        .set(activity::undone_at.eq(to_ms(ctx.now)))
        .execute(conn)?;
    if claimed == 0 {
        return Err(refuse("This change was undone already; it cannot be undone twice."));
    }
    let done = match entry.kind.as_str() {
        "task" => undo_task(conn, ctx, &entry),
        "schedule" => undo_schedule(conn, ctx, config, &entry),
        "event" => crate::calendar::history::undo(conn, ctx, &entry),
        other => Err(refuse(format!("Changes to a {other} cannot be undone here."))),
    };
    match done {
        Ok(message) => {
            let entry = get(conn, id)?;
            Ok(Undone { entry: entry.view(), message })
        }
        Err(e) => {
            diesel::update(activity::table.find(id))
                .set(activity::undone_at.eq(None::<i64>))
                .execute(conn)?;
            Err(e)
        }
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Refuses when the target's snapshot is not what the entry left.
pub(crate) fn unchanged(now: &Value, after: &Value, what: &str) -> Result<(), AppError> {
    if now == after {
        return Ok(());
    }
    let deleted = |v: &Value| v.get("deleted").and_then(Value::as_bool) == Some(true);
    let why = if deleted(now) && !deleted(after) {
        "it was deleted since".to_string()
    } else if !deleted(now) && deleted(after) {
        "it is back already".to_string()
    } else {
        let changed: Vec<&str> = after
            .as_object()
            .map(|a| {
                a.iter().filter(|(k, v)| now.get(k.as_str()) != Some(v)).map(|(k, _)| k.as_str()).collect()
            })
            .unwrap_or_default();
        let changed: Vec<&str> = changed.into_iter().map(|k| if k == "line" { "text" } else { k }).collect();
        format!("it was changed since ({})", changed.join(", "))
    };
    Err(refuse(format!("Cannot undo this: {what} is not as this change left it; {why}.")))
}

fn undo_task(conn: &mut Conn, ctx: &Ctx, e: &Entry) -> Result<String, AppError> {
    use crate::tasks::service as task_service;
    let (before, after) = (e.before_json(), e.after_json());
    let id = e.target_id;
    let current = any_task(conn, id)?;
    let what =
        format!("task “{}”", current.as_ref().map(|t| t.title.as_str()).unwrap_or(str_of(&after, "title")));
    match e.action.as_str() {
        "delete" => match current {
            Some(t) => {
                unchanged(&task_snapshot(&t), &after, &what)?;
                let t = task_service::restore(conn, ctx, id)?;
                Ok(format!("Restored task “{}”.", t.title))
            }
            // Deleted longer ago than the page's own undo keeps it: added again from its text.
            None => {
                let t = task_service::add_line(conn, ctx, str_of(&before, "line"))?;
                Ok(format!("Added task “{}” again (as #{}).", t.title, t.id))
            }
        },
        _ => {
            let Some(t) = current else {
                return Err(refuse(format!("Cannot undo this: {what} is gone.")));
            };
            unchanged(&task_snapshot(&t), &after, &what)?;
            let message = match e.action.as_str() {
                "create" | "restore" => {
                    task_service::delete(conn, ctx, id)?;
                    format!("Deleted task “{}”.", t.title)
                }
                _ => {
                    let t = task_service::set_line(conn, ctx, id, str_of(&before, "line"))?;
                    format!("Put task “{}” back as it was.", t.title)
                }
            };
            // Completing a recurring task added its next occurrence: it goes too, if untouched.
            if let Some(next) = after.get("next").filter(|n| n.is_object())
                && let Some(next_id) =
                    next.get("id").and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok())
                && let Some(n) = any_task(conn, next_id)?
                && &task_snapshot(&n) == next
            {
                task_service::delete(conn, ctx, next_id)?;
            }
            Ok(message)
        }
    }
}

fn undo_schedule(conn: &mut Conn, ctx: &Ctx, config: &Config, e: &Entry) -> Result<String, AppError> {
    use crate::schedules::service as schedule_service;
    let (before, after) = (e.before_json(), e.after_json());
    let id = e.target_id;
    let Some(current) = any_schedule(conn, id)? else {
        return Err(refuse(format!("Cannot undo this: schedule #{id} is gone.")));
    };
    let what = format!("schedule “{}”", current.name);
    unchanged(&schedule_snapshot(&current), &after, &what)?;
    let name = current.name.clone();
    match e.action.as_str() {
        "create" => {
            schedule_service::delete(conn, ctx, id)?;
            Ok(format!("Deleted schedule “{name}”."))
        }
        "pause" => {
            schedule_service::set_active(conn, ctx, config, id, true)?;
            Ok(format!("Resumed schedule “{name}”."))
        }
        "resume" => {
            schedule_service::set_active(conn, ctx, config, id, false)?;
            Ok(format!("Paused schedule “{name}”."))
        }
        "delete" => {
            let active = before.get("active").and_then(Value::as_bool).unwrap_or(false);
            schedule_service::undelete(conn, ctx, config, id, active)?;
            Ok(format!("Brought schedule “{name}” back{}.", if active { "" } else { ", paused as it was" }))
        }
        _ => {
            schedule_service::update(conn, ctx, config, id, &input_of(&before))?;
            Ok(format!("Put schedule “{}” back as it was.", str_of(&before, "name")))
        }
    }
}

/// The fields of a schedule snapshot as an edit.
fn input_of(s: &Value) -> ScheduleInput {
    let text = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_string);
    let spec = text("spec");
    let mut input = ScheduleInput {
        name: text("name"),
        prompt: text("prompt"),
        agent: text("agent"),
        tz: text("tz"),
        priority: text("priority"),
        misfire: text("misfire"),
        retry_attempts: s.get("retry_attempts").and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok()),
        retry_base_secs: s.get("retry_base_secs").and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok()),
        until: Some(text("until")),
        count: Some(s.get("count").and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok())),
        active: s.get("active").and_then(Value::as_bool),
        conversation_id: Some(
            s.get("conversation_id").and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok()),
        ),
        skip_validation: Some(true),
        ..ScheduleInput::default()
    };
    match str_of(s, "kind") {
        "cron" => input.cron = spec,
        "interval" => input.every = spec,
        _ => input.at = spec,
    }
    input
}

/// "Renamed task “A” to “B”", "Completed task “B”": the summary of a task change.
pub fn task_summary(action: &str, before: Option<&Task>, after: &Task) -> String {
    match (action, before) {
        ("update", Some(b)) if b.title != after.title => {
            format!("Renamed task “{}” to “{}”", b.title, after.title)
        }
        ("create", _) => format!("Added task “{}”", after.title),
        ("complete", _) => format!("Completed task “{}”", after.title),
        ("reopen", _) => format!("Reopened task “{}”", after.title),
        ("delete", _) => format!("Deleted task “{}”", after.title),
        ("restore", _) => format!("Restored task “{}”", after.title),
        _ => format!("Changed task “{}”", after.title),
    }
}

pub fn schedule_summary(action: &str, s: &Schedule) -> String {
    match action {
        "create" => format!("Created schedule “{}” for {}", s.name, s.agent),
        "pause" => format!("Paused schedule “{}”", s.name),
        "resume" => format!("Resumed schedule “{}”", s.name),
        "delete" => format!("Deleted schedule “{}”", s.name),
        _ => format!("Changed schedule “{}”", s.name),
    }
}
