//! Events in the activity log: what the agent, MCP clients and tokens change in the calendar,
//! and Undo for it.
//!
//! One change can touch several rows (a series and its overrides; splitting a series touches
//! the old series, the new one, and the overrides that move), so an entry's snapshots hold every
//! row of the series involved (`rows`, raw columns) beside the target row's fields at the top
//! (what the Activity page shows). Undo checks that each row is still as the change left it,
//! then writes the `before` rows back as they were and deletes the rows the change added. That
//! one revert covers every case: deleting a created event, putting an edit back (one occurrence
//! or a split series), removing an occurrence's EXDATE, restoring a deleted series.

use diesel::prelude::*;
use serde_json::{Value, json};

use super::Event;
use crate::activity::{self, Change};
use crate::clock::to_ms;
use crate::db::Conn;
use crate::db::schema::events;
use crate::error::AppError;
use crate::services::Ctx;

/// The live rows of a series (or the single event) that `row` belongs to.
fn series_rows(conn: &mut Conn, row: &Event) -> Result<Vec<Event>, AppError> {
    Ok(events::table
        .filter(events::calendar_id.eq(row.calendar_id))
        .filter(events::uid.eq(&row.uid))
        .filter(events::deleted_at.is_null())
        .order(events::id.asc())
        .select(Event::as_select())
        .load(conn)?)
}

fn rows_by_id(conn: &mut Conn, ids: &[i32]) -> Result<Vec<Event>, AppError> {
    Ok(events::table
        .filter(events::id.eq_any(ids.to_vec()))
        .order(events::id.asc())
        .select(Event::as_select())
        .load(conn)?)
}

/// The rows a change to event `id` may touch, taken before it; `None` when the actor is not
/// recorded (or the event does not exist: the change fails by itself).
pub(crate) fn before(conn: &mut Conn, ctx: &Ctx, id: Option<i32>) -> Result<Option<Vec<Event>>, AppError> {
    if !activity::recorded(ctx.actor) {
        return Ok(None);
    }
    let Some(id) = id else { return Ok(Some(Vec::new())) };
    match super::service::get(conn, id) {
        Ok(row) => Ok(Some(series_rows(conn, &row)?)),
        Err(_) => Ok(None),
    }
}

/// One row as stored, minus bookkeeping (`sequence`, `updated_at`); the derived index columns
/// are kept apart (`index`) so comparing leaves them out.
fn row_snapshot(e: &Event) -> Value {
    let mut v = json!({
        "id": e.id,
        "calendar_id": e.calendar_id,
        "uid": e.uid,
        "recurrence_id": e.recurrence_id,
        "title": e.title,
        "all_day": e.all_day,
        "zone": e.zone,
        "start": e.start_local,
        "end": e.end_local,
        "rrule": e.rrule,
        "exdates": e.exdates,
        "rdates": e.rdates,
        "location": e.location,
        "notes": e.notes,
        "categories": e.categories,
        "alarms": e.alarms,
        "status": e.status,
        "extra": e.extra,
        "deleted": e.deleted_at.is_some(),
        "index": {"start_at": e.start_at, "end_at": e.end_at, "last_end_at": e.last_end_at},
    });
    // Only when set, so entries written before reminders existed still compare equal.
    if let (Some(r), Some(o)) = (&e.reminders, v.as_object_mut()) {
        o.insert("reminders".into(), Value::String(r.clone()));
    }
    v
}

/// The entry's snapshot: the target row's fields at the top, every row under `rows`.
fn snapshot(target: &Event, rows: &[Event]) -> Value {
    let mut v = row_snapshot(target);
    if let Some(o) = v.as_object_mut() {
        o.remove("index");
        o.remove("extra");
        o.remove("alarms");
        o.insert("rows".into(), Value::Array(rows.iter().map(row_snapshot).collect()));
    }
    v
}

fn summary(action: &str, e: &Event, scope: &str) -> String {
    let what = match scope {
        "this" => format!("one occurrence of “{}”", e.title),
        "following" => format!("“{}” from one occurrence on", e.title),
        _ => format!("event “{}”", e.title),
    };
    match action {
        "create" => format!("Added event “{}”", e.title),
        "delete" => format!("Deleted {what}"),
        "restore" => format!("Restored event “{}”", e.title),
        _ => format!("Changed {what}"),
    }
}

/// Records a change to the calendar: `before` from [`before`], `target` the row holding the
/// change (for a delete, the row named). `scope` is all, this or following.
pub(crate) fn record(
    conn: &mut Conn,
    ctx: &Ctx,
    before: Option<Vec<Event>>,
    action: &'static str,
    target_id: i32,
    scope: &str,
) -> Result<(), AppError> {
    let Some(before) = before else { return Ok(()) };
    let mut target = rows_by_id(conn, &[target_id])?;
    let Some(target) = target.pop() else { return Ok(()) };
    let mut ids: Vec<i32> = before.iter().map(|r| r.id).collect();
    ids.extend(series_rows(conn, &target)?.iter().map(|r| r.id));
    ids.push(target.id);
    ids.sort_unstable();
    ids.dedup();
    let after = rows_by_id(conn, &ids)?;
    let before_target = before
        .iter()
        .find(|r| r.id == target.id)
        .or(before.iter().find(|r| r.recurrence_id.is_none()))
        .or(before.first());
    let change = Change {
        kind: "event",
        target: target.id,
        action,
        summary: summary(action, &target, scope),
        before: before_target.map(|b| snapshot(b, &before)),
        after: Some(snapshot(&target, &after)),
    };
    activity::record(conn, ctx, change)
}

fn refuse(message: String) -> AppError {
    AppError::Conflict(message)
}

fn without_index(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("index");
    }
    v
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// Writes a row back as a snapshot holds it (live again), raising its SEQUENCE.
fn write_back(conn: &mut Conn, ctx: &Ctx, row: &Value, sequence: i32) -> Result<(), AppError> {
    let Some(id) = int(row, "id").and_then(|n| i32::try_from(n).ok()) else { return Ok(()) };
    let index = row.get("index").cloned().unwrap_or(Value::Null);
    let calendar_id = int(row, "calendar_id").and_then(|n| i32::try_from(n).ok()).unwrap_or_default();
    diesel::update(events::table.find(id))
        .set((
            events::calendar_id.eq(calendar_id),
            events::uid.eq(text(row, "uid").unwrap_or_default()),
            events::recurrence_id.eq(text(row, "recurrence_id")),
            events::title.eq(text(row, "title").unwrap_or_default()),
            events::all_day.eq(row.get("all_day").and_then(Value::as_bool).unwrap_or(false)),
            events::zone.eq(text(row, "zone")),
            events::start_local.eq(text(row, "start").unwrap_or_default()),
            events::end_local.eq(text(row, "end").unwrap_or_default()),
            events::start_at.eq(int(&index, "start_at").unwrap_or_default()),
            events::end_at.eq(int(&index, "end_at").unwrap_or_default()),
            events::last_end_at.eq(int(&index, "last_end_at")),
        ))
        .execute(conn)?;
    diesel::update(events::table.find(id))
        .set((
            events::rrule.eq(text(row, "rrule")),
            events::exdates.eq(text(row, "exdates").unwrap_or_else(|| "[]".into())),
            events::rdates.eq(text(row, "rdates").unwrap_or_else(|| "[]".into())),
            events::location.eq(text(row, "location")),
            events::notes.eq(text(row, "notes")),
            events::categories.eq(text(row, "categories").unwrap_or_else(|| "[]".into())),
            events::alarms.eq(text(row, "alarms").unwrap_or_else(|| "[]".into())),
            events::status.eq(text(row, "status")),
            events::extra.eq(text(row, "extra")),
            events::reminders.eq(text(row, "reminders")),
            events::sequence.eq(sequence),
            events::updated_at.eq(to_ms(ctx.now)),
            events::deleted_at.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Undoes an event entry (see the module docs); the message says what it did. The undo is
/// itself recorded when a program asks for it.
pub fn undo(conn: &mut Conn, ctx: &Ctx, entry: &activity::Entry) -> Result<String, AppError> {
    let (before, after) = (entry.before_json(), entry.after_json());
    let rows = |v: &Value| v.get("rows").and_then(Value::as_array).cloned().unwrap_or_default();
    let (before_rows, after_rows) = (rows(&before), rows(&after));
    let title = text(&after, "title").unwrap_or_default();
    let what = format!("event “{title}”");
    let id_of = |r: &Value| int(r, "id").and_then(|n| i32::try_from(n).ok()).unwrap_or_default();
    let mut ids: Vec<i32> = after_rows.iter().chain(before_rows.iter()).map(id_of).collect();
    ids.sort_unstable();
    ids.dedup();
    let current = rows_by_id(conn, &ids)?;
    for row in &after_rows {
        let Some(now) = current.iter().find(|c| c.id == id_of(row)) else {
            return Err(refuse(format!("Cannot undo this: {what} is gone (deleted for good since).")));
        };
        activity::unchanged(&without_index(&row_snapshot(now)), &without_index(row), &what)?;
    }
    let sequence_of = |id: i32| current.iter().find(|c| c.id == id).map(|c| c.sequence + 1).unwrap_or(1);
    for row in &before_rows {
        let id = id_of(row);
        if !current.iter().any(|c| c.id == id) {
            return Err(refuse(format!("Cannot undo this: {what} is gone (deleted for good since).")));
        }
        write_back(conn, ctx, row, sequence_of(id))?;
    }
    // Rows the change added (a new event, an override, the second half of a split series) go.
    let added: Vec<i32> =
        after_rows.iter().map(id_of).filter(|id| !before_rows.iter().any(|b| id_of(b) == *id)).collect();
    diesel::update(events::table.filter(events::id.eq_any(&added)).filter(events::deleted_at.is_null()))
        .set((events::deleted_at.eq(to_ms(ctx.now)), events::updated_at.eq(to_ms(ctx.now))))
        .execute(conn)?;
    // Reminders follow the rows as they are now.
    for id in &ids {
        crate::reminders::events::sync_event(conn, *id, ctx.now, ctx.tz)?;
    }
    let (action, message) = match entry.action.as_str() {
        "create" => ("delete", format!("Deleted event “{title}”.")),
        "delete" => ("restore", format!("Brought back event “{}”.", text(&before, "title").unwrap_or(title))),
        _ => ("update", format!("Put event “{}” back as it was.", text(&before, "title").unwrap_or(title))),
    };
    // The undo itself, for a program's undo (nothing is kept for the person's).
    if activity::recorded(ctx.actor) {
        let now = rows_by_id(conn, &ids)?;
        let target = now.iter().find(|r| r.id == entry.target_id).or(now.first());
        if let Some(target) = target {
            let before_now: Vec<Event> = current.clone();
            let before_target = before_now.iter().find(|r| r.id == target.id);
            activity::record(
                conn,
                ctx,
                Change {
                    kind: "event",
                    target: target.id,
                    action,
                    summary: summary(action, target, "all"),
                    before: before_target.map(|b| snapshot(b, &before_now)),
                    after: Some(snapshot(target, &now)),
                },
            )?;
        }
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::super::service::tests::{ctx, db, input};
    use super::super::service::{self, Target};
    use super::*;
    use crate::services::Actor;

    fn starts(conn: &mut Conn, c: &Ctx) -> Vec<(String, String)> {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let (list, _) =
            service::occurrences(conn, c, at("2026-03-01T00:00:00Z"), at("2026-04-01T00:00:00Z"), None)
                .unwrap();
        list.iter().map(|o| (o.title.clone(), o.start_at.to_rfc3339())).collect()
    }

    #[test]
    fn moving_a_series_with_an_override_is_put_back_whole() {
        let (_dir, mut conn) = db();
        let mut c = ctx("2026-03-01T12:00:00Z", "Europe/Berlin");
        c.actor = Actor::Api { token: Some(1) };
        let e = service::create(
            &mut conn,
            &c,
            &input(json!({"title": "Gym", "start": "2026-03-02T07:00", "rrule": "FREQ=DAILY;COUNT=5"})),
        )
        .unwrap();
        let this = Target::parse(Some("this"), Some("2026-03-04T07:00")).unwrap();
        service::update(
            &mut conn,
            &c,
            e.id,
            &input(json!({"title": "Gym (late)", "start": "2026-03-04T20:00"})),
            this,
        )
        .unwrap();
        let before = starts(&mut conn, &c);
        // The whole series an hour later: the override's key moves with it.
        service::update(&mut conn, &c, e.id, &input(json!({"start": "2026-03-02T08:00"})), Target::ALL)
            .unwrap();
        assert_ne!(starts(&mut conn, &c), before);
        let (entries, _) = activity::list(&mut conn, &activity::ActivityFilter::default()).unwrap();
        assert_eq!(entries[0].action, "update");
        let config = crate::config::Config::default();
        activity::undo(&mut conn, &c, &config, entries[0].id).unwrap();
        assert_eq!(starts(&mut conn, &c), before);
        // Undone twice: refused.
        assert!(activity::undo(&mut conn, &c, &config, entries[0].id).is_err());
    }
}
