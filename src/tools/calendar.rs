//! The calendar's tools: `list_events`, `add_event`, `update_event`, `delete_event`. Part of the
//! one registry (see the parent module), so chat and MCP both get them; they call the calendar
//! service as the agent, and announce each change to the open pages.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::{Args, Caller, Tool, id_schema, object, to_json};
use crate::calendar::service::{self as calendar, EventInput, Target};
use crate::error::AppError;
use crate::services::{Ctx, Services};

/// At most this many occurrences in one `list_events` answer (then `truncated`).
const MOST_LISTED: usize = 200;

pub(super) static TOOLS: [Tool; 4] = [
    Tool {
        name: "list_events",
        description: "List the person's calendar occurrences overlapping [from, to), sorted by start \
            (recurring events give one entry per occurrence). from/to: YYYY-MM-DD (midnight in the \
            person's zone) or RFC 3339; default from today for 7 days. Optional calendar (a name). \
            Each has event_id, uid, title, start and end (RFC 3339 with the person's offset; dates for \
            all-day), all_day, calendar, zone, location and recurrence_id (pass it as `occurrence` to \
            update_event/delete_event for that one occurrence). Returns {occurrences, truncated}.",
        destructive: false,
        schema: || {
            object(
                json!({
                    "from": { "type": "string", "description": "YYYY-MM-DD or RFC 3339; default today." },
                    "to": { "type": "string", "description": "YYYY-MM-DD or RFC 3339 (exclusive); default from + 7 days." },
                    "calendar": { "type": "string", "description": "Only this calendar (its name)." },
                }),
                &[],
            )
        },
        run: |services, caller, args| Box::pin(list_events(services, caller, args)),
    },
    Tool {
        name: "add_event",
        description: "Add an event to the person's calendar. Either `text` in the event quick-add grammar, \
            e.g. \"Dentist fri 3pm for 1h at Main St\", \"Trip dec 20-27\", \"Standup every weekday 9:30 for \
            15m\", \"Mom's birthday every year on jun 3\", \"Lunch with Ana tomorrow 12:30-14:00\" (with an \
            optional calendar), or the fields (title and start required), not both. start/end \
            are local date-times like 2026-03-02T09:30 read in `zone` (default the person's zone), or \
            dates (2026-03-02) for all-day events (end exclusive; default one hour, or one day). \
            Recurrence: rrule as in RFC 5545, e.g. \"FREQ=WEEKLY;BYDAY=MO,WE\", \
            \"FREQ=MONTHLY;BYDAY=-1FR;COUNT=6\", \"FREQ=YEARLY\"; exdates lists occurrences to skip. \
            Returns the event.",
        destructive: false,
        schema: || {
            let mut fields = event_fields();
            fields.insert(
                "text".into(),
                json!({ "type": "string", "description": "The event in the quick-add grammar." }),
            );
            object(Value::Object(fields), &[])
        },
        run: |services, caller, args| Box::pin(add_event(services, caller, args)),
    },
    Tool {
        name: "update_event",
        description: "Change an event; fields left out stay, null clears one. For a recurring event, \
            scope says what changes: \"this\" (one occurrence: give `occurrence`, its recurrence_id from \
            list_events), \"following\" (that occurrence and all after it: the series is split, nothing \
            is lost or doubled) or \"all\" (default). Returns the changed event.",
        destructive: false,
        schema: || {
            let mut fields = event_fields();
            fields.insert("id".into(), id_schema("event (event_id from list_events)"));
            scope_fields(&mut fields);
            object(Value::Object(fields), &["id"])
        },
        run: |services, caller, args| Box::pin(update_event(services, caller, args)),
    },
    Tool {
        name: "delete_event",
        description: "Delete an event: with scope \"this\" and `occurrence` only that occurrence, with \
            \"following\" that occurrence and all after it, else (\"all\") the whole series.",
        destructive: true,
        schema: || {
            let mut fields = Map::new();
            fields.insert("id".into(), id_schema("event (event_id from list_events)"));
            scope_fields(&mut fields);
            object(Value::Object(fields), &["id"])
        },
        run: |services, caller, args| Box::pin(delete_event(services, caller, args)),
    },
];

/// The event fields `add_event` and `update_event` take (the API's names).
fn event_fields() -> Map<String, Value> {
    let nullable = |description: &str| json!({ "type": ["string", "null"], "description": description });
    let list = |description: &str| json!({ "type": "array", "items": { "type": "string" }, "description": description });
    let fields = json!({
        "title": { "type": "string", "description": "What the event is." },
        "start": { "type": "string", "description": "2026-03-02T09:30 (local, in zone) or 2026-03-02 (all-day)." },
        "end": { "type": "string", "description": "Exclusive end, same forms as start." },
        "all_day": { "type": "boolean" },
        "zone": nullable("IANA zone like Europe/Berlin; default the person's; null = floating."),
        "rrule": nullable("RFC 5545 RRULE without the prefix, e.g. FREQ=WEEKLY;BYDAY=MO; null ends the recurrence."),
        "exdates": list("Occurrence starts to skip, in the start's form."),
        "location": nullable("Where."),
        "notes": nullable("Details."),
        "categories": list("Category names."),
        "reminders": { "type": ["array", "null"], "items": { "type": "string" }, "description": "Reminders before the start, like [\"10m\", \"1d\"] (minutes, hours, days or weeks); [] none; null the calendar's default." },
        "calendar": { "type": "string", "description": "The calendar's name; default the first (Personal)." },
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn scope_fields(fields: &mut Map<String, Value>) {
    fields.insert(
        "scope".into(),
        json!({ "type": "string", "enum": ["all", "this", "following"], "description": "Default all (or this, when occurrence is given)." }),
    );
    fields.insert(
        "occurrence".into(),
        json!({ "type": "string", "description": "The occurrence's recurrence_id from list_events (its original start)." }),
    );
}

impl Args {
    /// `text` (the quick-add grammar, with an optional calendar), when that is what was given.
    fn quick_add(&self) -> Result<Option<(String, Option<String>)>, AppError> {
        let Some(text) = self.str("text") else { return Ok(None) };
        if self.0.keys().any(|k| k != "text" && k != "calendar") {
            return Err(AppError::invalid("text", "give either text (quick-add) or the fields, not both"));
        }
        Ok(Some((text, self.str("calendar"))))
    }

    /// The event fields as the API reads them (`id`, `scope`, `occurrence` are not fields).
    fn event_input(mut self) -> Result<EventInput, AppError> {
        for key in ["id", "scope", "occurrence"] {
            self.0.remove(key);
        }
        serde_json::from_value(Value::Object(self.0))
            .map_err(|e| AppError::invalid("arguments", e.to_string()))
    }

    fn target(&self) -> Result<Target, AppError> {
        Target::parse(self.str("scope").as_deref(), self.str("occurrence").as_deref())
    }
}

/// `YYYY-MM-DD` (midnight in the person's zone) or RFC 3339, naming the field when neither.
fn instant(field: &str, text: &str, ctx: &Ctx) -> Result<DateTime<Utc>, AppError> {
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(crate::calendar::resolve(ctx.tz, day.and_time(chrono::NaiveTime::MIN)));
    }
    DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()).map_err(|_| {
        AppError::invalid(field, format!("{text:?} is neither a date (2026-03-02) nor RFC 3339"))
    })
}

async fn list_events(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let (from, to, calendar) = (args.str("from"), args.str("to"), args.str("calendar"));
    services
        .run_as(caller.actor(), move |conn, ctx| {
            let from = match from {
                Some(f) => instant("from", &f, ctx)?,
                None => crate::calendar::resolve(ctx.tz, ctx.today().and_time(chrono::NaiveTime::MIN)),
            };
            let to = match to {
                Some(t) => instant("to", &t, ctx)?,
                None => from + Duration::days(7),
            };
            if to <= from {
                return Err(AppError::invalid("to", "must be after from"));
            }
            let calendars = calendar::list_calendars(conn)?;
            let only = match calendar.as_deref() {
                Some(name) => Some(vec![calendar::find_calendar(conn, name)?.id]),
                None => None,
            };
            let (mut list, mut truncated) = calendar::occurrences(conn, ctx, from, to, only.as_deref())?;
            if list.len() > MOST_LISTED {
                list.truncate(MOST_LISTED);
                truncated = true;
            }
            let name =
                |id: i32| calendars.iter().find(|c| c.id == id).map(|c| c.name.clone()).unwrap_or_default();
            let occurrences: Vec<Value> =
                list.iter().map(|o| o.to_json(ctx.tz, &name(o.calendar_id))).collect();
            Ok(json!({ "occurrences": occurrences, "truncated": truncated }))
        })
        .await
}

/// The event's API view, with its calendar's name.
fn view(conn: &mut crate::db::Conn, e: &crate::calendar::Event) -> Result<Value, AppError> {
    let cal = calendar::get_calendar(conn, e.calendar_id)?;
    to_json(e.view(&cal.name))
}

async fn add_event(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let quick = args.quick_add()?;
    let input = match quick {
        Some(_) => EventInput::default(),
        None => {
            let input = args.event_input()?;
            for (field, given) in [("title", input.title.is_some()), ("start", input.start.is_some())] {
                if !given {
                    return Err(AppError::invalid(
                        field,
                        "is required (or give text in the quick-add grammar)",
                    ));
                }
            }
            input
        }
    };
    let (event, calendar_id) = services
        .run_as(caller.actor(), move |conn, ctx| {
            let e = match quick {
                Some((text, calendar)) => {
                    crate::calendar::quickadd::create_from_text(conn, ctx, &text, calendar.as_deref())?
                }
                None => calendar::create(conn, ctx, &input)?,
            };
            Ok((view(conn, &e)?, e.calendar_id))
        })
        .await?;
    calendar::announce(&services.events, Some(calendar_id));
    Ok(event)
}

async fn update_event(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let (id, target) = (args.id()?, args.target()?);
    let input = args.event_input()?;
    let (event, calendar_id) = services
        .run_as(caller.actor(), move |conn, ctx| {
            let e = calendar::update(conn, ctx, id, &input, target)?;
            Ok((view(conn, &e)?, e.calendar_id))
        })
        .await?;
    calendar::announce(&services.events, Some(calendar_id));
    Ok(event)
}

async fn delete_event(services: &Services, caller: &Caller, args: Args) -> Result<Value, AppError> {
    let (id, target) = (args.id()?, args.target()?);
    let (deleted, calendar_id) = services
        .run_as(caller.actor(), move |conn, ctx| {
            let calendar_id = calendar::get(conn, id)?.calendar_id;
            Ok((calendar::delete(conn, ctx, id, target)?, calendar_id))
        })
        .await?;
    calendar::announce(&services.events, Some(calendar_id));
    Ok(json!({ "id": id, "deleted": true, "rows": deleted.rows, "series_changed": deleted.series }))
}
