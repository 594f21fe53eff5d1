//! What the agent (chat) and MCP clients may not do without the person: one policy,
//! [`needs_confirmation`], asked by both doors before a tool runs.
//!
//! Held for the person (unless they turned confirmation off in Settings; it is on by default):
//! - deleting (`cancel_schedule`) or pausing a schedule;
//! - completing or changing a task that this caller did not make (the same conversation in chat,
//!   the same API token over MCP);
//! - scheduling a prompt for any agent other than the conversation's own agent or `notify`;
//! - deleting a calendar event (any scope), or changing one this caller did not add (adding one
//!   runs at once);
//! - any change after the first [`CONFIRM_AFTER_CHANGES`] in one chat reply.
//!
//! In chat the call is answered "awaiting confirmation" and the card offers Confirm
//! (`Chat::confirm_tool`). Over MCP the call is stored here ([`hold`]) and listed on the
//! Notifications page with Confirm and Decline ([`decide`]); the client is told how to check.
//! Independently of the setting, one chat reply makes at most [`MAX_TOOL_CALLS`] tool calls.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::{from_ms, to_ms};
use crate::db::Conn;
use crate::db::schema::{api_tokens, confirmations};
use crate::error::AppError;
use crate::events::Event;
use crate::services::Services;
use crate::tools::Caller;

/// In one chat reply, changes after this many wait for the person.
pub const CONFIRM_AFTER_CHANGES: usize = 10;

/// The most tool calls one chat reply may make (over all its model turns).
pub const MAX_TOOL_CALLS: usize = 30;

/// At most this many MCP calls wait for the person at once; more are refused, so a client
/// cannot bury the Notifications page.
pub const MAX_PENDING: i64 = 50;

/// The Settings switch (shared with the chat settings).
pub const SETTING: &str = "chat.confirm_destructive";

/// Whether a tool changes something (every tool but the lists and `notify`).
pub fn is_change(tool: &str) -> bool {
    !tool.starts_with("list_") && tool != "notify"
}

/// Whether confirmation is on: unless the person turned it off.
pub fn enabled(conn: &mut Conn) -> Result<bool, AppError> {
    Ok(crate::db::settings::get(conn, SETTING)?.is_none_or(|v| v == "true"))
}

fn id_of(args: &Value) -> Option<i32> {
    args.get("id").and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok())
}

/// Why this call must wait for the person, as the end of "This waits for you because …"; `None`
/// when it may run. `changes` is how many changes the caller's reply made so far (0 over MCP).
/// A call whose target does not exist may run: it fails by itself.
pub fn needs_confirmation(
    conn: &mut Conn,
    caller: &Caller,
    tool: &str,
    args: &Value,
    changes: usize,
) -> Result<Option<String>, AppError> {
    if !enabled(conn)? {
        return Ok(None);
    }
    let by = if caller.conversation.is_some() { "this conversation" } else { "this MCP client" };
    let schedule_exists =
        |conn: &mut Conn| id_of(args).is_some_and(|id| crate::schedules::get(conn, id).is_ok());
    let reason = match tool {
        "cancel_schedule" if schedule_exists(conn) => Some("it deletes a schedule".to_string()),
        "pause_schedule"
            if args.get("resume").and_then(Value::as_bool) != Some(true) && schedule_exists(conn) =>
        {
            Some("it pauses a schedule".to_string())
        }
        "complete_task" | "update_task" => match id_of(args) {
            Some(id) => match crate::tasks::service::get(conn, id) {
                Ok(task) if !made_by(conn, caller, &task)? => {
                    let verb = match (tool, args.get("status").and_then(Value::as_str)) {
                        ("complete_task", _) | (_, Some("done")) => "completes",
                        _ => "changes",
                    };
                    Some(format!("it {verb} a task that {by} did not add"))
                }
                _ => None,
            },
            None => None,
        },
        "delete_event" => match id_of(args) {
            Some(id) if crate::calendar::service::get(conn, id).is_ok() => {
                Some("it deletes a calendar event".to_string())
            }
            _ => None,
        },
        "update_event" => match id_of(args) {
            Some(id) => match crate::calendar::service::get(conn, id) {
                Ok(event) if !event_made_by(conn, caller, &event)? => {
                    Some(format!("it changes an event that {by} did not add"))
                }
                _ => None,
            },
            None => None,
        },
        "create_schedule" | "schedule_wakeup" => {
            let own = caller.agent.as_deref();
            let agent = args.get("agent").and_then(Value::as_str).map(str::trim).filter(|a| !a.is_empty());
            let agent = match (tool, agent) {
                (_, Some(a)) => a.to_string(),
                ("schedule_wakeup", None) => own.unwrap_or("default").to_string(),
                _ => "default".to_string(),
            };
            // An agent closed to this caller refuses at once: nothing for the person to confirm.
            crate::agents::may_send_to(conn, &agent, caller.actor())?;
            if agent == "notify" || Some(agent.as_str()) == own {
                None
            } else {
                Some(format!("it sends a prompt to the agent “{agent}”, not to {by}'s own agent"))
            }
        }
        _ => None,
    };
    if reason.is_none() && is_change(tool) && changes >= CONFIRM_AFTER_CHANGES {
        return Ok(Some(format!("this reply has already made {changes} changes")));
    }
    Ok(reason)
}

/// Whether the caller added this task: in its conversation (chat), or with its token (MCP).
fn made_by(conn: &mut Conn, caller: &Caller, task: &crate::tasks::Task) -> Result<bool, AppError> {
    if task.created_by != "agent" {
        return Ok(false);
    }
    if caller.conversation.is_some() && task.created_in == caller.conversation {
        return Ok(true);
    }
    crate::activity::created_by(conn, "task", task.id, caller.actor())
}

/// Whether the caller added this event (its series, for an override): in its conversation
/// (chat), or with its token (MCP).
fn event_made_by(conn: &mut Conn, caller: &Caller, event: &crate::calendar::Event) -> Result<bool, AppError> {
    if event.created_by != "agent" {
        return Ok(false);
    }
    if caller.conversation.is_some() && event.created_in == caller.conversation {
        return Ok(true);
    }
    crate::activity::created_by(conn, "event", event.id, caller.actor())
}

/// What a call asks for, in words for the person: "delete schedule #4 “Standup”".
pub fn describe(conn: &mut Conn, tool: &str, args: &Value) -> String {
    let id = id_of(args);
    let task = |conn: &mut Conn| match id {
        Some(id) => match crate::tasks::service::get(conn, id) {
            Ok(t) => format!("task #{id} “{}”", t.title),
            Err(_) => format!("task #{id}"),
        },
        None => "a task".into(),
    };
    let schedule = |conn: &mut Conn| match id {
        Some(id) => match crate::schedules::get(conn, id) {
            Ok(s) => format!("schedule #{id} “{}”", s.name),
            Err(_) => format!("schedule #{id}"),
        },
        None => "a schedule".into(),
    };
    let text = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or_default();
    let short = |t: &str| {
        let s: String = t.chars().take(80).collect();
        if s.len() < t.len() { format!("{s}…") } else { s }
    };
    match tool {
        "cancel_schedule" => format!("delete {}", schedule(conn)),
        "pause_schedule" if args.get("resume").and_then(Value::as_bool) == Some(true) => {
            format!("resume {}", schedule(conn))
        }
        "pause_schedule" => format!("pause {}", schedule(conn)),
        "complete_task" => format!("complete {}", task(conn)),
        "update_task" => {
            let fields: Vec<&str> = args
                .as_object()
                .map(|o| o.keys().map(String::as_str).filter(|k| *k != "id").collect())
                .unwrap_or_default();
            format!("change {} ({})", task(conn), fields.join(", "))
        }
        "delete_event" | "update_event" => {
            let event = match id {
                Some(id) => match crate::calendar::service::get(conn, id) {
                    Ok(e) => format!("event #{id} “{}”", e.title),
                    Err(_) => format!("event #{id}"),
                },
                None => "an event".into(),
            };
            let occurrence = match (text("scope"), text("occurrence")) {
                ("this", o) if !o.is_empty() => format!(" (only the occurrence {o})"),
                ("following", o) if !o.is_empty() => format!(" (from the occurrence {o} on)"),
                _ => String::new(),
            };
            if tool == "delete_event" {
                format!("delete {event}{occurrence}")
            } else {
                let fields: Vec<&str> = args
                    .as_object()
                    .map(|o| {
                        o.keys()
                            .map(String::as_str)
                            .filter(|k| !["id", "scope", "occurrence"].contains(k))
                            .collect()
                    })
                    .unwrap_or_default();
                format!("change {event}{occurrence} ({})", fields.join(", "))
            }
        }
        "add_task" => format!(
            "add the task “{}”",
            short(if text("text").is_empty() { text("title") } else { text("text") })
        ),
        "create_schedule" | "schedule_wakeup" => {
            let agent = if text("agent").is_empty() { "its default agent" } else { text("agent") };
            format!("schedule the prompt “{}” for {agent}", short(text("prompt")))
        }
        other => format!("run {other}"),
    }
}

/// A call held for the person.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = confirmations)]
pub struct Pending {
    pub id: i32,
    pub tool: String,
    pub arguments: String,
    pub summary: String,
    pub reason: String,
    pub token_id: Option<i32>,
    pub state: String,
    pub result: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

impl Pending {
    pub fn created(&self) -> DateTime<Utc> {
        from_ms(self.created_at)
    }

    /// As the API shows it.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "tool": self.tool,
            "arguments": serde_json::from_str::<Value>(&self.arguments).unwrap_or(Value::Null),
            "summary": self.summary,
            "reason": self.reason,
            "state": self.state,
            "result": self.result.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok()),
            "created_at": crate::schedules::rfc3339(self.created()),
            "decided_at": self.decided_at.map(|d| crate::schedules::rfc3339(from_ms(d))),
        })
    }
}

fn token_name(conn: &mut Conn, token: Option<i32>) -> Result<Option<String>, AppError> {
    let Some(id) = token else { return Ok(None) };
    Ok(api_tokens::table.find(id).select(api_tokens::name).first(conn).optional()?)
}

/// Stores an MCP call for the person to confirm, and tells them (a notification, live on open
/// pages).
pub fn hold(
    services: &Services,
    conn: &mut Conn,
    caller: &Caller,
    tool: &str,
    args: &Value,
    reason: &str,
) -> Result<Pending, AppError> {
    let now = services.clock.now();
    let waiting: i64 =
        confirmations::table.filter(confirmations::state.eq("pending")).count().get_result(conn)?;
    if waiting >= MAX_PENDING {
        return Err(AppError::Conflict(format!(
            "{waiting} requests already wait for the person's confirmation, the most allowed; nothing \
             was done, try again once they have answered"
        )));
    }
    let summary = describe(conn, tool, args);
    let who = match token_name(conn, caller.token)? {
        Some(name) => format!("The MCP client with the token “{name}”"),
        None => "An MCP client".to_string(),
    };
    let (pending, n) = crate::db::write(conn, |conn| {
        let pending: Pending = diesel::insert_into(confirmations::table)
            .values((
                confirmations::tool.eq(tool),
                confirmations::arguments.eq(args.to_string()),
                confirmations::summary.eq(&summary),
                confirmations::reason.eq(reason),
                confirmations::token_id.eq(caller.token),
                confirmations::created_at.eq(to_ms(now)),
            ))
            .returning(Pending::as_returning())
            .get_result(conn)?;
        // Kept within a notification title's 200 characters.
        let title = format!("{who} asks to {summary}");
        let title = match title.char_indices().nth(199) {
            Some((cut, _)) => format!("{}…", &title[..cut]),
            None => title,
        };
        let new = crate::notifications::NewNotification {
            title,
            body: format!(
                "It waits for you because {reason}. Confirm or decline it on the Notifications page."
            ),
            level: "info",
            run_id: None,
            schedule_id: None,
            ..Default::default()
        };
        let n = crate::notifications::add(conn, &new, now)?;
        Ok((pending, n))
    })?;
    services.events.send(Event::notification(&n));
    Ok(pending)
}

/// The calls waiting for the person, oldest first.
pub fn pending(conn: &mut Conn) -> Result<Vec<Pending>, AppError> {
    Ok(confirmations::table
        .filter(confirmations::state.eq("pending"))
        .order(confirmations::id.asc())
        .limit(100)
        .select(Pending::as_select())
        .load(conn)?)
}

pub fn get(conn: &mut Conn, id: i32) -> Result<Pending, AppError> {
    confirmations::table
        .find(id)
        .select(Pending::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no confirmation {id}")))
}

/// The person confirms (the call runs now, as the MCP client it came from) or declines.
/// Deciding twice is refused.
pub async fn decide(services: &Services, id: i32, confirm: bool) -> Result<Pending, AppError> {
    let now = services.clock.now();
    let held = services
        .db
        .run(move |conn| {
            let held = get(conn, id)?;
            // Claimed by its decision time, so two clicks cannot both run it.
            let claimed = diesel::update(
                confirmations::table
                    .find(id)
                    .filter(confirmations::state.eq("pending"))
                    .filter(confirmations::decided_at.is_null()),
            )
            .set((
                confirmations::decided_at.eq(to_ms(now)),
                confirmations::state.eq(if confirm { "pending" } else { "declined" }),
            ))
            .execute(conn)?;
            if claimed == 0 {
                return Err(AppError::Conflict(format!(
                    "This request was {} already.",
                    if held.state == "declined" { "declined" } else { "decided" }
                )));
            }
            Ok(held)
        })
        .await?;
    if !confirm {
        return services.db.run(move |conn| get(conn, id)).await;
    }
    let caller = Caller { conversation: None, agent: None, token: held.token_id };
    let args: Value = serde_json::from_str(&held.arguments).unwrap_or(Value::Null);
    let outcome = crate::tools::call(services, &caller, &held.tool, &args).await;
    let (state, result) = match outcome {
        Ok(v) => ("confirmed", v),
        Err(e) => ("failed", json!({ "error": e.client_message() })),
    };
    services
        .db
        .run(move |conn| {
            diesel::update(confirmations::table.find(id))
                .set((confirmations::state.eq(state), confirmations::result.eq(result.to_string())))
                .execute(conn)?;
            get(conn, id)
        })
        .await
}

/// What an MCP client is told about a held call.
pub fn awaiting_answer(p: &Pending) -> Value {
    json!({
        "status": "awaiting_confirmation",
        "confirmation_id": p.id,
        "message": format!(
            "Not done yet: to {} needs the person's confirmation, because {}. They were asked on \
             Steward's Notifications page. GET /api/v1/confirmations/{} tells whether they confirmed \
             it (state confirmed, with the result) or declined it.",
            p.summary, p.reason, p.id
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_notify_are_not_changes() {
        for tool in ["list_tasks", "list_schedules", "list_runs", "notify"] {
            assert!(!is_change(tool), "{tool}");
        }
        for tool in ["add_task", "complete_task", "update_task", "create_schedule", "cancel_schedule"] {
            assert!(is_change(tool), "{tool}");
        }
    }
}
