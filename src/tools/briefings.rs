//! Projects' and briefings' tools: `list_projects` (the Projects page's numbers) and
//! `list_briefing_facts` (a briefing's fact block, or chosen sections of it, read now), so
//! "what does my week look like" in chat is answered from the same functions as the briefings.

use serde_json::{Value, json};

use super::{Args, Caller, Tool, object, to_json};
use crate::briefings::{self, facts};
use crate::error::AppError;
use crate::services::Services;

pub(super) static TOOLS: [Tool; 2] = [
    Tool {
        name: "list_projects",
        description: "List the person's projects (every +project in tasks): open and done counts, percent \
            done, next due task, last activity (RFC 3339), stalled (open tasks and nothing moved for the \
            stalled setting's days), outcome, target_date, archived. Archived ones are left out unless \
            archived is true. Returns {projects, stalled_days}.",
        destructive: false,
        schema: || {
            object(
                json!({ "archived": { "type": "boolean", "description": "Include archived projects." } }),
                &[],
            )
        },
        run: |services, caller, args| Box::pin(list_projects(services, caller, args)),
    },
    Tool {
        name: "list_briefing_facts",
        description: "Read facts as the briefings state them, now, in the person's zone (exact dates and \
            times, and counts that say when a list was cut). Either `briefing` (morning, evening or \
            weekly: its whole fact block) or `sections`, any of: events_today, overdue, due_today, \
            priority, waiting, failures, done_today, moved, tomorrow_events, tomorrow_due, done_week, \
            stalled, next_week_events. For \"what does my week look like\" use sections \
            [\"events_today\", \"overdue\", \"due_today\", \"next_week_events\", \"waiting\"]. Returns {facts}.",
        destructive: false,
        schema: || {
            object(
                json!({
                    "briefing": { "type": "string", "enum": ["morning", "evening", "weekly"] },
                    "sections": { "type": "array", "items": { "type": "string" } },
                }),
                &[],
            )
        },
        run: |services, caller, args| Box::pin(list_briefing_facts(services, caller, args)),
    },
];

async fn list_projects(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let archived = args.bool("archived").unwrap_or(false);
    services
        .run_as(caller.actor(), move |conn, ctx| {
            let list = crate::projects::overview(conn, ctx, archived)?;
            Ok(json!({ "projects": to_json(list)?, "stalled_days": crate::projects::stalled_days(conn)? }))
        })
        .await
}

async fn list_briefing_facts(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let briefing = args.str("briefing");
    let sections: Option<Vec<String>> = args
        .0
        .get("sections")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect());
    services
        .run_as(caller.actor(), move |conn, ctx| {
            let text = match (briefing, sections) {
                (Some(b), None) => briefings::preview(conn, ctx, &b)?,
                (None, Some(list)) if !list.is_empty() => facts::block(conn, ctx, "Facts", &list)?,
                _ => {
                    return Err(AppError::invalid(
                        "briefing",
                        "give a briefing or a list of sections (one of them)",
                    ));
                }
            };
            Ok(json!({ "facts": text }))
        })
        .await
}
