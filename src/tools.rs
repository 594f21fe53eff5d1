//! The tool registry: the operations an agent may perform on Steward, each described once (name,
//! description for a model, JSON Schema of its arguments, handler) and served through two doors:
//! the chat model's function calling ([`openai_tools`], [`call`]) and MCP (`web::mcp`).
//!
//! Handlers are thin like the web's: they read the arguments and call the same service functions
//! the pages, the API and the CLI call, acting as `agent` (and from the caller's conversation),
//! so every rule lives in its service and every change is attributed to the agent.
//!
//! Arguments are checked against the tool's schema first (unknown names, missing required ones,
//! wrong types), so a model gets an error naming the field rather than a serde message.
//!
//! [`call`] runs a tool; which calls must first wait for the person is decided by the doors
//! (the chat engine and `web::mcp`) with the one policy in `crate::confirm`.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value, json};

use crate::error::AppError;
use crate::events::Event;
use crate::schedules::{self, ScheduleInput, service as schedule_service};
use crate::services::{Actor, Services};
use crate::tasks::{Filter, TaskPatch, query, service as task_service};

mod briefings;
mod calendar;

/// Every tool: the ones below, then the calendar's, projects' and briefings' (in their own
/// modules).
fn all() -> impl Iterator<Item = &'static Tool> {
    TOOLS.iter().chain(calendar::TOOLS.iter()).chain(briefings::TOOLS.iter())
}

/// Who calls: "agent" from chat (with its conversation and agent name) or "agent" over MCP (no
/// conversation).
#[derive(Clone, Debug)]
pub struct Caller {
    pub conversation: Option<i32>,
    pub agent: Option<String>,
    /// The API token of an MCP client (`None` from chat).
    pub token: Option<i32>,
}

impl Caller {
    /// Tools act as the agent, from the caller's conversation or with the MCP client's token
    /// (recorded on what they create and in the activity log).
    pub fn actor(&self) -> Actor {
        Actor::Agent { conversation: self.conversation, token: self.token }
    }
}

pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    /// Deletes or cancels something (MCP's `destructiveHint`). Which calls wait for the person
    /// is `crate::confirm`'s policy, not this flag.
    pub destructive: bool,
    /// A JSON Schema object.
    pub parameters: Value,
}

pub fn specs() -> Vec<ToolSpec> {
    all()
        .map(|t| ToolSpec {
            name: t.name,
            description: t.description,
            destructive: t.destructive,
            parameters: (t.schema)(),
        })
        .collect()
}

/// OpenAI `tools` array: `[{"type":"function","function":{"name","description","parameters"}}]`.
pub fn openai_tools() -> Value {
    Value::Array(
        specs()
            .into_iter()
            .map(|s| {
                json!({
                    "type": "function",
                    "function": { "name": s.name, "description": s.description, "parameters": s.parameters },
                })
            })
            .collect(),
    )
}

/// Runs a tool; arguments as JSON (`null` counts as none). Bad arguments -> [`AppError::Invalid`]
/// naming the field; an unknown tool -> [`AppError::NotFound`]; an internal failure is logged
/// here with its cause. The result is a JSON object for the model.
pub async fn call(
    services: &Services,
    caller: &Caller,
    name: &str,
    arguments: &Value,
) -> Result<Value, AppError> {
    let tool = all()
        .find(|t| t.name == name)
        .ok_or_else(|| AppError::NotFound(format!("no tool named {name:?}")))?;
    let args = check_args(tool.name, &(tool.schema)(), arguments)?;
    let result = (tool.run)(services, caller, args).await;
    // The one line that says which tool failed and why; callers show `client_message`.
    if let Err(AppError::Internal(cause)) = &result {
        tracing::error!(tool = name, error = format!("{cause:#}"), "a tool call failed");
    }
    result
}

/// Checks a call's arguments against its tool's schema without running it (the doors check
/// before asking the person to confirm a call).
pub fn validate(name: &str, arguments: &Value) -> Result<(), AppError> {
    let tool = all()
        .find(|t| t.name == name)
        .ok_or_else(|| AppError::NotFound(format!("no tool named {name:?}")))?;
    check_args(tool.name, &(tool.schema)(), arguments).map(|_| ())
}

type Reply<'a> = Pin<Box<dyn Future<Output = Result<Value, AppError>> + Send + 'a>>;

struct Tool {
    name: &'static str,
    description: &'static str,
    destructive: bool,
    schema: fn() -> Value,
    run: for<'a> fn(&'a Services, &'a Caller, Args) -> Reply<'a>,
}

/// An object schema that refuses arguments it does not list.
fn object(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

fn id_schema(what: &str) -> Value {
    json!({ "type": "integer", "description": format!("The {what}'s id.") })
}

/// The task fields `add_task` and `update_task` take (the API's `TaskPatch`).
fn task_fields() -> Map<String, Value> {
    let nullable = |description: &str| json!({ "type": ["string", "null"], "description": description });
    let fields = json!({
        "title": { "type": "string", "description": "The task's text, without tags." },
        "priority": nullable("A letter A (highest) to Z; null clears it."),
        "projects": { "type": "array", "items": { "type": "string" }, "description": "Project names, without +." },
        "contexts": { "type": "array", "items": { "type": "string" }, "description": "Context names, without @." },
        "due": nullable("YYYY-MM-DD, RFC 3339, or a phrase like \"tomorrow 5pm\" or \"fri\"; null clears it."),
        "threshold": nullable("Hidden until this day: YYYY-MM-DD or a phrase; null clears it."),
        "recurrence": nullable(
            "todo.txt rec: value: \"1w\" (a week after completion), \"+1w\" (a week after the due date); \
             units d, b (business days), w, m, y; null clears it."
        ),
        "reminders": {
            "type": ["array", "null"], "items": { "type": "string" },
            "description": "When to remind the person before it is due: [\"1d\", \"10m\", \"0m\"] \
                (units m, h, d, w); [] for none; null for the defaults in Settings.",
        },
        "extra": {
            "type": "object", "additionalProperties": { "type": "string" },
            "description": "Other key:value tags; replaces all of them.",
        },
        "status": { "type": "string", "enum": ["open", "done"], "description": "Completes or reopens the task." },
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

static TOOLS: [Tool; 11] = [
    Tool {
        name: "list_tasks",
        description: "List the person's tasks by id (oldest first); open tasks unless `status` says otherwise. \
            Filters: q (words in the text), project (without +), context (without @), priority (a letter \
            A-Z, or \"none\"), status (open, done, all). Returns {tasks, next_cursor}; pass next_cursor as \
            `cursor` for the next page. A task has id, title, priority, projects, contexts, due (YYYY-MM-DD \
            or RFC 3339), recurrence, status and its todo.txt line.",
        destructive: false,
        schema: || {
            object(
                json!({
                    "q": { "type": "string", "description": "Words the task's text contains." },
                    "project": { "type": "string" },
                    "context": { "type": "string" },
                    "priority": { "type": "string", "description": "A letter A-Z, or none." },
                    "status": { "type": "string", "enum": ["open", "done", "all"], "description": "Default open." },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 500, "description": "Default 50." },
                    "cursor": { "type": "integer", "description": "next_cursor of the previous page." },
                }),
                &[],
            )
        },
        run: |services, caller, args| Box::pin(list_tasks(services, caller, args)),
    },
    Tool {
        name: "add_task",
        description: "Add a task for the person. Either `text` in the quick-add grammar, e.g. \"Call mom \
            tomorrow 5pm +family @phone p1\" (dates: today, tomorrow, fri 17:30, in 3 days, dec 24, \
            2026-12-24; +project, @context, priority p1-p3 or (A); repeats: \"every week\", \"every \
            weekday at 9:30\"; reminders: \"remind 1h\", \"remind 1d,10m\"), or the fields (title required), not both. Returns the task.",
        destructive: false,
        schema: || {
            let mut fields = task_fields();
            fields.insert(
                "text".into(),
                json!({ "type": "string", "description": "The task in the quick-add grammar." }),
            );
            object(Value::Object(fields), &[])
        },
        run: |services, caller, args| Box::pin(add_task(services, caller, args)),
    },
    Tool {
        name: "complete_task",
        description: "Mark a task done. A recurring task gets its next occurrence, returned as `next`.",
        destructive: false,
        schema: || object(json!({ "id": id_schema("task") }), &["id"]),
        run: |services, caller, args| Box::pin(complete_task(services, caller, args)),
    },
    Tool {
        name: "update_task",
        description: "Change some fields of a task; fields left out stay as they are and null clears one. \
            status \"done\" completes it, \"open\" reopens it. Returns the task.",
        destructive: false,
        schema: || {
            let mut fields = task_fields();
            fields.insert("id".into(), id_schema("task"));
            object(Value::Object(fields), &["id"])
        },
        run: |services, caller, args| Box::pin(update_task(services, caller, args)),
    },
    Tool {
        name: "list_schedules",
        description: "List scheduled prompts, newest first: active and paused ones (all=true adds ended \
            ones), optionally for one agent. A schedule has id, name, prompt, agent, kind (once, cron, \
            interval), at/cron/every, tz, description, status (active, paused, ended), next_run and \
            last_run.",
        destructive: false,
        schema: || {
            object(
                json!({
                    "agent": { "type": "string", "description": "Only this agent's schedules." },
                    "all": { "type": "boolean", "description": "Include ended schedules." },
                }),
                &[],
            )
        },
        run: |services, caller, args| Box::pin(list_schedules(services, caller, args)),
    },
    Tool {
        name: "create_schedule",
        description: "Schedule a prompt to be delivered to an agent, with exactly one timing: `when` (as a \
            person says it: \"every weekday at 9:00\", \"every month on the 1st at 8\", \"every 2 hours\", \
            \"tomorrow 9am\", or raw cron), `at` (once: \
            RFC 3339, or a phrase like \"tomorrow 9am\", \"fri 17:30\", \"in 20m\"), `cron` (5-field \
            crontab: minute hour day-of-month month day-of-week, e.g. \"0 9 * * 1-5\", or @daily; \
            evaluated in tz), or `every` (a period like \"30m\", \"1h30m\", \"2d\"). tz is an IANA zone \
            (default: the person's). agent names who receives it (default \"default\"; \"notify\" just \
            notifies the person). Returns the schedule with its next_run.",
        destructive: false,
        schema: || {
            object(
                json!({
                    "prompt": { "type": "string", "description": "What the agent is told when it fires." },
                    "agent": { "type": "string", "description": "The receiving agent's name." },
                    "when": {
                        "type": "string",
                        "description": "The timing in words: every weekday at 9:00, every 2 hours, tomorrow 9am, in 20m, or cron.",
                    },
                    "at": { "type": "string", "description": "Once, at this time." },
                    "cron": { "type": "string", "description": "A 5-field crontab expression." },
                    "every": { "type": "string", "description": "An interval: 30m, 1h30m, 2d." },
                    "tz": { "type": "string", "description": "IANA zone, e.g. Europe/Berlin." },
                    "priority": {
                        "type": "string",
                        "enum": schedules::PRIORITIES,
                        "description": "Delivery order when several are due; default normal.",
                    },
                    "name": { "type": "string", "description": "A short name; default the prompt's first line." },
                    "until": { "type": "string", "description": "Stop firing after this time or day." },
                    "count": { "type": "integer", "minimum": 1, "description": "Fire at most this many times." },
                    "conversation_id": {
                        "type": "integer",
                        "description": "The chat conversation each run posts into (llm and letta agents).",
                    },
                    "answer_to": {
                        "type": "array",
                        "items": { "type": "string" },
                        "description": "Notification channels (by name) each answer is also sent to, e.g. [\"phone\"].",
                    },
                }),
                &["prompt"],
            )
        },
        run: |services, caller, args| Box::pin(create_schedule(services, caller, args)),
    },
    Tool {
        name: "cancel_schedule",
        description: "Delete a schedule, cancelling its runs still waiting; its run history stays. \
            It cannot be undone (pause_schedule stops one reversibly).",
        destructive: true,
        schema: || object(json!({ "id": id_schema("schedule") }), &["id"]),
        run: |services, caller, args| Box::pin(cancel_schedule(services, caller, args)),
    },
    Tool {
        name: "pause_schedule",
        description: "Pause a schedule so it stops firing, or with resume=true resume it (it next fires at \
            its first time after now; what it missed while paused is not made up). Returns the schedule.",
        destructive: false,
        schema: || {
            object(
                json!({
                    "id": id_schema("schedule"),
                    "resume": { "type": "boolean", "description": "Resume instead of pausing." },
                }),
                &["id"],
            )
        },
        run: |services, caller, args| Box::pin(pause_schedule(services, caller, args)),
    },
    Tool {
        name: "schedule_wakeup",
        description: "Schedule your own next turn: at the given time `prompt` is delivered to you again \
            (in this conversation, when there is one, so you wake up with its context). Use it to follow \
            up later, e.g. check a build in 2 hours. at: RFC 3339, or a phrase like \"in 20m\", \"in 2h\", \
            \"tomorrow 9am\". agent: who wakes up (default: you). Returns the schedule.",
        destructive: false,
        schema: || {
            object(
                json!({
                    "prompt": { "type": "string", "description": "What you will be told when you wake up." },
                    "at": { "type": "string", "description": "When: RFC 3339 or a phrase like \"in 2h\"." },
                    "agent": { "type": "string", "description": "The agent to wake; default yourself." },
                }),
                &["prompt", "at"],
            )
        },
        run: |services, caller, args| Box::pin(schedule_wakeup(services, caller, args)),
    },
    Tool {
        name: "list_runs",
        description: "List the runs (deliveries) of scheduled prompts, newest first, with their state, \
            output and error. Filters: schedule (an id), state (queued, retrying, running, succeeded, \
            failed, cancelled). Returns {runs, next_cursor}.",
        destructive: false,
        schema: || {
            object(
                json!({
                    "schedule": { "type": "integer", "description": "Only this schedule's runs." },
                    "state": { "type": "string", "enum": crate::runs::STATES },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 500, "description": "Default 10." },
                    "cursor": { "type": "integer", "description": "next_cursor of the previous page." },
                }),
                &[],
            )
        },
        run: |services, caller, args| Box::pin(list_runs(services, caller, args)),
    },
    Tool {
        name: "notify",
        description: "Send the person an in-app notification: it shows at once on their open pages and \
            stays in the notification list.",
        destructive: false,
        schema: || {
            object(
                json!({
                    "title": { "type": "string", "description": "One short line (at most 200 characters are kept)." },
                    "body": { "type": "string", "description": "The details (may be empty; at most 10 KB are kept)." },
                }),
                &["title"],
            )
        },
        run: |services, caller, args| Box::pin(notify(services, caller, args)),
    },
];

/// Checked arguments. Accessors trust [`check_args`] for the types.
struct Args(Map<String, Value>);

impl Args {
    fn str(&self, key: &str) -> Option<String> {
        self.0.get(key).and_then(Value::as_str).map(str::to_string)
    }

    fn int(&self, key: &str) -> Option<i64> {
        self.0.get(key).and_then(Value::as_i64)
    }

    /// A list of strings (items that are not strings are left out).
    fn strings(&self, key: &str) -> Option<Vec<String>> {
        self.0
            .get(key)
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_string).collect())
    }

    fn bool(&self, key: &str) -> Option<bool> {
        self.0.get(key).and_then(Value::as_bool)
    }

    fn i32(&self, key: &str) -> Result<Option<i32>, AppError> {
        self.int(key)
            .map(|n| i32::try_from(n).map_err(|_| AppError::invalid(key, format!("{n} is out of range"))))
            .transpose()
    }

    /// A required id (the schema lists it as required).
    fn id(&self) -> Result<i32, AppError> {
        self.i32("id")?.ok_or_else(|| AppError::invalid("id", "is required"))
    }

    /// The task fields, as the API reads them (`id` and a null `text` are not fields).
    fn task_patch(mut self) -> Result<TaskPatch, AppError> {
        self.0.remove("id");
        self.0.remove("text");
        serde_json::from_value(Value::Object(self.0))
            .map_err(|e| AppError::invalid("arguments", e.to_string()))
    }
}

/// Checks arguments against the tool's schema: an object, only listed names, required ones
/// present, each of its type (and enum, range). Errors name the argument.
fn check_args(tool: &str, schema: &Value, arguments: &Value) -> Result<Args, AppError> {
    let args = match arguments {
        Value::Null => Map::new(),
        Value::Object(map) => map.clone(),
        other => {
            return Err(AppError::invalid(
                "arguments",
                format!("must be a JSON object, not {}", kind(other)),
            ));
        }
    };
    let empty = Map::new();
    let properties = schema.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    for (key, value) in &args {
        let Some(property) = properties.get(key) else {
            let known: Vec<&str> = properties.keys().map(String::as_str).collect();
            return Err(AppError::invalid(
                key.as_str(),
                format!("is not an argument of {tool} (it takes {})", known.join(", ")),
            ));
        };
        check_value(key, value, property)?;
    }
    for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = required.as_str() else { continue };
        if args.get(name).is_none_or(Value::is_null) {
            return Err(AppError::invalid(name, "is required"));
        }
    }
    Ok(Args(args))
}

fn check_value(field: &str, value: &Value, schema: &Value) -> Result<(), AppError> {
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    if !types.iter().any(|t| is_type(value, t)) {
        return Err(AppError::invalid(field, format!("must be {}, not {}", types.join(" or "), kind(value))));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !value.is_null()
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect();
        return Err(AppError::invalid(field, format!("{value} is not one of {}", names.join(", "))));
    }
    if let Some(n) = value.as_i64() {
        let bound = |key: &str| schema.get(key).and_then(Value::as_i64);
        if bound("minimum").is_some_and(|min| n < min) || bound("maximum").is_some_and(|max| n > max) {
            let (min, max) = (bound("minimum"), bound("maximum"));
            let range = match (min, max) {
                (Some(min), Some(max)) => format!("between {min} and {max}"),
                (Some(min), None) => format!("at least {min}"),
                (None, Some(max)) => format!("at most {max}"),
                (None, None) => String::new(),
            };
            return Err(AppError::invalid(field, format!("{n} must be {range}")));
        }
    }
    let inner = match value {
        Value::Array(items) => schema.get("items").map(|s| items.iter().map(move |v| (v, s))),
        _ => None,
    };
    for (item, item_schema) in inner.into_iter().flatten() {
        check_value(field, item, item_schema)?;
    }
    if let (Value::Object(map), Some(value_schema)) = (value, schema.get("additionalProperties")) {
        for (key, v) in map {
            check_value(&format!("{field}.{key}"), v, value_schema)?;
        }
    }
    Ok(())
}

fn is_type(value: &Value, t: &str) -> bool {
    match t {
        "string" => value.is_string(),
        "integer" => value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn to_json(value: impl serde::Serialize) -> Result<Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(e.into()))
}

// The handlers: read the arguments, call the service, answer with the API's views.

async fn list_tasks(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let filter = Filter {
        q: args.str("q"),
        project: args.str("project"),
        context: args.str("context"),
        priority: args.str("priority"),
        status: args.str("status"),
    };
    let (limit, cursor) = (args.int("limit").unwrap_or(50), args.i32("cursor")?);
    services
        .run_as(caller.actor(), move |conn, ctx| {
            let (tasks, next) = query::page(conn, &filter, limit, cursor)?;
            let tasks: Vec<_> = tasks.iter().map(|t| t.view(ctx.tz)).collect();
            Ok(json!({ "tasks": tasks, "next_cursor": next }))
        })
        .await
}

async fn add_task(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let task = match args.str("text") {
        Some(text) => {
            if args.0.len() > 1 {
                return Err(AppError::invalid("text", "send either text (quick-add) or fields, not both"));
            }
            services
                .run_as(caller.actor(), move |conn, ctx| {
                    Ok(task_service::add_text(conn, ctx, &text)?.view(ctx.tz))
                })
                .await?
        }
        None => {
            let patch = args.task_patch()?;
            services
                .run_as(caller.actor(), move |conn, ctx| {
                    Ok(task_service::add_fields(conn, ctx, &patch)?.view(ctx.tz))
                })
                .await?
        }
    };
    task_service::announce(&services.events, Some(task.id));
    to_json(task)
}

async fn complete_task(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let id = args.id()?;
    let (task, next) = services
        .run_as(caller.actor(), move |conn, ctx| {
            let (task, next) = task_service::set_done(conn, ctx, id, true)?;
            Ok((task.view(ctx.tz), next.map(|n| n.view(ctx.tz))))
        })
        .await?;
    task_service::announce(&services.events, Some(id));
    let mut body = to_json(task)?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("next".into(), to_json(next)?);
    }
    Ok(body)
}

async fn update_task(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let id = args.id()?;
    let patch = args.task_patch()?;
    let task = services
        .run_as(
            caller.actor(),
            move |conn, ctx| Ok(task_service::update(conn, ctx, id, &patch)?.view(ctx.tz)),
        )
        .await?;
    task_service::announce(&services.events, Some(id));
    to_json(task)
}

async fn list_schedules(services: &Services, _: &Caller, args: Args) -> Result<Value, AppError> {
    let (agent, all) = (args.str("agent"), args.bool("all").unwrap_or(false));
    services
        .db
        .run(move |conn| {
            let list = schedule_service::list(conn, agent.as_deref(), all)?;
            Ok(json!({ "schedules": schedule_service::views(conn, &list)? }))
        })
        .await
}

/// Creates a schedule through the doors' entry point, as the agent, and wakes the scheduler.
async fn create(services: &Services, caller: &Caller, input: ScheduleInput) -> Result<Value, AppError> {
    let s = schedule_service::create_checked(services, caller.actor(), input).await?;
    to_json(s.view(None))
}

async fn create_schedule(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let input = ScheduleInput {
        name: args.str("name"),
        prompt: args.str("prompt"),
        agent: args.str("agent"),
        when: args.str("when"),
        at: args.str("at"),
        cron: args.str("cron"),
        every: args.str("every"),
        tz: args.str("tz"),
        priority: args.str("priority"),
        until: args.str("until").map(Some),
        count: args.i32("count")?.map(Some),
        conversation_id: args.i32("conversation_id")?.map(Some),
        answer_to: args.strings("answer_to"),
        ..ScheduleInput::default()
    };
    create(services, caller, input).await
}

async fn cancel_schedule(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let id = args.id()?;
    services.run_as(caller.actor(), move |conn, ctx| schedule_service::delete(conn, ctx, id)).await?;
    services.wake.poke();
    Ok(json!({ "id": id, "deleted": true }))
}

async fn pause_schedule(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let (id, active, config) = (args.id()?, args.bool("resume").unwrap_or(false), services.config.clone());
    let s = services
        .run_as(caller.actor(), move |conn, ctx| schedule_service::set_active(conn, ctx, &config, id, active))
        .await?;
    services.wake.poke();
    to_json(s.view(None))
}

/// A one-time schedule that wakes the agent: into the caller's conversation when it has one.
async fn schedule_wakeup(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let prompt = args.str("prompt").unwrap_or_default();
    let agent = args.str("agent").or_else(|| caller.agent.clone()).unwrap_or_else(|| "default".into());
    let input = ScheduleInput {
        name: Some(wakeup_name(&prompt)),
        prompt: Some(prompt),
        agent: Some(agent),
        at: args.str("at"),
        conversation_id: caller.conversation.map(Some),
        ..ScheduleInput::default()
    };
    // The schema requires `at`; say so here too rather than let the service ask for any timing.
    if input.at.as_deref().is_none_or(|a| a.trim().is_empty()) {
        return Err(AppError::invalid("at", "is required: when should you wake up?"));
    }
    create(services, caller, input).await
}

/// "Wake-up: check the build status" from the prompt's first few words.
fn wakeup_name(prompt: &str) -> String {
    let words: Vec<&str> = prompt.split_whitespace().collect();
    let first: String = words[..words.len().min(6)].join(" ").chars().take(60).collect();
    let more = first.len() < words.join(" ").len();
    format!("Wake-up: {first}{}", if more { "…" } else { "" })
}

async fn list_runs(services: &Services, _: &Caller, args: Args) -> Result<Value, AppError> {
    let filter = crate::runs::RunFilter {
        schedule: args.i32("schedule")?,
        state: args.str("state"),
        limit: Some(args.int("limit").unwrap_or(10)),
        cursor: args.i32("cursor")?,
    };
    services
        .db
        .run(move |conn| {
            let (page, next) = crate::runs::list(conn, &filter)?;
            let names = crate::runs::schedule_names(conn, &page)?;
            let views: Vec<_> = page
                .iter()
                .map(|r| r.view(r.schedule_id.and_then(|s| names.get(&s).cloned()), None))
                .collect();
            Ok(json!({ "runs": views, "next_cursor": next }))
        })
        .await
}

/// Stores the notification, tells open pages and queues it for the channels, as the scheduler
/// does for `notify` runs.
async fn notify(services: &Services, _: &Caller, args: Args) -> Result<Value, AppError> {
    let title = args.str("title").unwrap_or_default().trim().to_string();
    if title.is_empty() {
        return Err(AppError::invalid("title", "is required"));
    }
    let new = crate::notifications::NewNotification {
        title,
        body: args.str("body").unwrap_or_default(),
        level: "info",
        run_id: None,
        schedule_id: None,
        ..Default::default()
    };
    let now = services.clock.now();
    let sizes = (new.title.chars().count(), new.body.len());
    let n = services
        .db
        .run(move |conn| crate::notify::send(conn, &new, crate::notify::Topic::Notify, now))
        .await?;
    services.events.send(Event::notification(&n));
    // Channels that receive the agent's notify tool get it on the scheduler's next turn.
    services.wake.poke();
    let cut = crate::notifications::cut_note(sizes.0, sizes.1);
    Ok(match cut {
        Some(note) => json!({ "id": n.id, "sent": true, "cut": note }),
        None => json!({ "id": n.id, "sent": true }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_tools_have_the_function_shape() {
        let tools = openai_tools();
        let tools = tools.as_array().unwrap();
        assert_eq!(tools.len(), all().count());
        for tool in tools {
            assert_eq!(tool["type"], "function");
            let f = &tool["function"];
            assert!(f["name"].as_str().is_some_and(|n| !n.is_empty()));
            assert!(f["description"].as_str().is_some_and(|d| d.len() > 20), "{f}");
            let p = &f["parameters"];
            assert_eq!(p["type"], "object");
            assert_eq!(p["additionalProperties"], false);
            assert!(p["properties"].is_object());
            for required in p["required"].as_array().unwrap() {
                assert!(p["properties"].get(required.as_str().unwrap()).is_some(), "{f}");
            }
        }
        let names: Vec<&str> = tools.iter().filter_map(|t| t["function"]["name"].as_str()).collect();
        for name in [
            "list_tasks",
            "add_task",
            "complete_task",
            "update_task",
            "list_schedules",
            "create_schedule",
            "cancel_schedule",
            "pause_schedule",
            "schedule_wakeup",
            "list_runs",
            "notify",
        ] {
            assert!(names.contains(&name), "{name} missing");
        }
    }

    #[test]
    fn only_cancel_and_delete_are_destructive() {
        let destructive: Vec<&str> = specs().iter().filter(|s| s.destructive).map(|s| s.name).collect();
        assert_eq!(destructive, ["cancel_schedule", "delete_event"]);
    }

    fn check(tool: &str, args: Value) -> Result<Args, AppError> {
        let t = all().find(|t| t.name == tool).unwrap();
        check_args(t.name, &(t.schema)(), &args)
    }

    fn field_of(err: AppError) -> String {
        match err {
            AppError::Invalid { field, .. } => field,
            other => panic!("not an argument error: {other}"),
        }
    }

    #[test]
    fn bad_arguments_name_the_field() {
        let cases = [
            ("complete_task", json!({}), "id"),
            ("complete_task", json!({ "id": null }), "id"),
            ("complete_task", json!({ "id": "7" }), "id"),
            ("complete_task", json!({ "id": 7.5 }), "id"),
            ("complete_task", json!({ "id": 7, "force": true }), "force"),
            ("complete_task", json!([7]), "arguments"),
            ("list_tasks", json!({ "status": "later" }), "status"),
            ("list_tasks", json!({ "limit": 0 }), "limit"),
            ("list_tasks", json!({ "limit": 501 }), "limit"),
            ("add_task", json!({ "projects": "home" }), "projects"),
            ("add_task", json!({ "projects": ["home", 3] }), "projects"),
            ("add_task", json!({ "extra": { "size": 3 } }), "extra.size"),
            ("update_task", json!({ "id": 1, "due": 5 }), "due"),
            ("create_schedule", json!({ "cron": "0 9 * * *" }), "prompt"),
            ("create_schedule", json!({ "prompt": "p", "priority": "urgent" }), "priority"),
            ("schedule_wakeup", json!({ "prompt": "check" }), "at"),
            ("pause_schedule", json!({ "id": 1, "resume": "yes" }), "resume"),
            ("list_runs", json!({ "state": "done" }), "state"),
        ];
        for (tool, args, field) in cases {
            let err = check(tool, args.clone()).err().unwrap_or_else(|| panic!("{tool} {args} passed"));
            assert_eq!(field_of(err), field, "{tool} {args}");
        }
    }

    #[test]
    fn good_arguments_pass() {
        assert!(check("list_tasks", Value::Null).is_ok());
        assert!(check("update_task", json!({ "id": 3, "priority": null, "due": "tomorrow" })).is_ok());
        let args = check("add_task", json!({ "title": "Buy milk", "projects": ["home"] })).unwrap();
        let patch = args.task_patch().unwrap();
        assert_eq!(patch.title.as_deref(), Some("Buy milk"));
        let args = check("pause_schedule", json!({ "id": 4, "resume": true })).unwrap();
        assert_eq!((args.id().unwrap(), args.bool("resume")), (4, Some(true)));
        let err = check("complete_task", json!({ "id": 1i64 << 40 })).unwrap().id().unwrap_err();
        assert_eq!(field_of(err), "id");
    }

    #[test]
    fn wakeup_names_are_short() {
        assert_eq!(wakeup_name("check the build"), "Wake-up: check the build");
        assert_eq!(
            wakeup_name("look at the failing tests again and tell me"),
            "Wake-up: look at the failing tests again…"
        );
    }
}
