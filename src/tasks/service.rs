//! Task operations. Each rule lives here once; the pages, the API and the CLI call these.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::{Deserialize, Deserializer};

use super::todotxt::{self, Due, TodoLine};
use super::{Derived, Task, quickadd, recur};
use crate::dates;
use crate::db::schema::tasks;
use crate::db::{self, Conn};
use crate::error::AppError;
use crate::services::Ctx;

/// Deleted tasks can be restored for this long (the page's "Undo").
pub const UNDO_WINDOW: Duration = Duration::days(1);

/// A change to a task's fields; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub priority: Option<Option<String>>,
    pub projects: Option<Vec<String>>,
    pub contexts: Option<Vec<String>>,
    /// `YYYY-MM-DD`, RFC 3339, or a phrase such as `tomorrow 5pm`.
    #[serde(default, deserialize_with = "nullable")]
    pub due: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub threshold: Option<Option<String>>,
    /// todo.txt `rec:` value: `1w`, `+1m`, `3d`, `1b`, `1y`.
    #[serde(default, deserialize_with = "nullable")]
    pub recurrence: Option<Option<String>>,
    /// Reminders before due (`["0m", "10m", "1d"]`); `[]` means none, `null` the defaults.
    #[serde(default, deserialize_with = "nullable")]
    pub reminders: Option<Option<Vec<String>>>,
    /// Replaces every other `key:value` pair.
    pub extra: Option<BTreeMap<String, String>>,
    /// `open` or `done`.
    pub status: Option<String>,
}

/// Tells a JSON `null` (clear) from an absent field (leave alone).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Tells the open pages that tasks changed (call after a write; these functions run on a
/// connection and do not reach the event hub).
pub fn announce(events: &crate::events::Events, id: Option<i32>) {
    events.send(crate::events::Event::TasksChanged { id });
}

/// Where "move all overdue" moves tasks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveTo {
    Today,
    Tomorrow,
}

impl MoveTo {
    pub fn parse(text: &str) -> Result<MoveTo, AppError> {
        match text.trim() {
            "today" => Ok(MoveTo::Today),
            "tomorrow" => Ok(MoveTo::Tomorrow),
            other => Err(AppError::invalid("to", format!("{other:?} is not today or tomorrow"))),
        }
    }
}

/// Moves every overdue open task to today (or tomorrow), in one transaction; returns how many
/// moved. A task due at a time keeps its time of day when that is still ahead on the new day,
/// and becomes due on the day otherwise (a time already past would leave it overdue).
pub fn move_overdue(conn: &mut Conn, ctx: &Ctx, to: MoveTo) -> Result<usize, AppError> {
    let today = ctx.today();
    let day = match to {
        MoveTo::Today => today,
        MoveTo::Tomorrow => today + Duration::days(1),
    };
    let now = ctx.now.naive_utc();
    db::write(conn, |conn| {
        let late: Vec<Task> = tasks::table
            .filter(tasks::deleted_at.is_null())
            .filter(tasks::done.eq(false))
            .filter(tasks::due_at.lt(now).or(tasks::due_at.is_null().and(tasks::due_date.lt(today))))
            .order(tasks::id.asc())
            .select(Task::as_select())
            .load(conn)?;
        for old in &late {
            let value = match old.due_and_extra(ctx.tz).0 {
                Some(Due::At(at)) => {
                    let time = at.with_timezone(&ctx.tz).time();
                    let moved = dates::resolve_local(ctx.tz, day.and_time(time));
                    if moved > ctx.local_now() {
                        Due::At(moved.fixed_offset()).to_value()
                    } else {
                        day.to_string()
                    }
                }
                _ => day.to_string(),
            };
            let mut line = old.line();
            line.body = todotxt::set_tag(&line.body, "due", Some(&value));
            let task = save(conn, ctx, old.id, &line)?;
            recorded(conn, ctx, "update", Some(old), &task, None)?;
        }
        Ok(late.len())
    })
}

/// Adds a task from quick-add text (`Call mom tomorrow 5pm +family p1`).
pub fn add_text(conn: &mut Conn, ctx: &Ctx, text: &str) -> Result<Task, AppError> {
    let parsed = quickadd::parse(text, ctx.local_now())?;
    let line = TodoLine {
        done: false,
        completed: None,
        priority: parsed.priority,
        created: Some(ctx.today()),
        body: parsed.body,
    };
    db::write(conn, |conn| {
        let task = insert(conn, ctx, &line)?;
        recorded(conn, ctx, "create", None, &task, None)?;
        Ok(task)
    })
}

/// Records a task change in the activity log (when the agent or a program made it).
fn recorded(
    conn: &mut Conn,
    ctx: &Ctx,
    action: &'static str,
    before: Option<&Task>,
    after: &Task,
    next: Option<&Task>,
) -> Result<(), AppError> {
    use crate::activity::{self, Change};
    if !activity::recorded(ctx.actor) {
        return Ok(());
    }
    let mut snapshot = activity::task_snapshot(after);
    if let (Some(next), Some(obj)) = (next, snapshot.as_object_mut()) {
        obj.insert("next".into(), activity::task_snapshot(next));
    }
    let change = Change {
        kind: "task",
        target: after.id,
        action,
        summary: activity::task_summary(action, before, after),
        before: before.map(activity::task_snapshot),
        after: Some(snapshot),
    };
    activity::record(conn, ctx, change)
}

/// Adds a task from a todo.txt line as written (an undo bringing a purged task back).
pub fn add_line(conn: &mut Conn, ctx: &Ctx, text: &str) -> Result<Task, AppError> {
    let line = TodoLine::parse(text);
    if todotxt::parse_body(&line.body).title.is_empty() {
        return Err(AppError::invalid("line", "a task needs a title"));
    }
    db::write(conn, |conn| {
        let task = insert(conn, ctx, &line)?;
        recorded(conn, ctx, "create", None, &task, None)?;
        Ok(task)
    })
}

/// Puts a task's todo.txt line back as written (an undo of an edit or a completion): no
/// recurrence follows.
pub fn set_line(conn: &mut Conn, ctx: &Ctx, id: i32, text: &str) -> Result<Task, AppError> {
    let line = TodoLine::parse(text);
    if todotxt::parse_body(&line.body).title.is_empty() {
        return Err(AppError::invalid("line", "a task needs a title"));
    }
    db::write(conn, |conn| {
        let old = get(conn, id)?;
        let task = save(conn, ctx, id, &line)?;
        recorded(conn, ctx, "update", Some(&old), &task, None)?;
        Ok(task)
    })
}

/// Adds a task from explicit fields (a title is required).
pub fn add_fields(conn: &mut Conn, ctx: &Ctx, patch: &TaskPatch) -> Result<Task, AppError> {
    if patch.title.is_none() {
        return Err(AppError::invalid(
            "title",
            "a task needs a title (or send {\"text\": ...} for quick-add)",
        ));
    }
    let line = TodoLine {
        done: false,
        completed: None,
        priority: None,
        created: Some(ctx.today()),
        body: String::new(),
    };
    let line = apply_patch(line, patch, ctx)?;
    db::write(conn, |conn| {
        let mut task = insert(conn, ctx, &line)?;
        if patch.status.as_deref() == Some("done") {
            task = set_done_in(conn, ctx, task, true)?.0;
        }
        recorded(conn, ctx, "create", None, &task, None)?;
        Ok(task)
    })
}

pub fn get(conn: &mut Conn, id: i32) -> Result<Task, AppError> {
    tasks::table
        .find(id)
        .filter(tasks::deleted_at.is_null())
        .select(Task::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no task with id {id}")))
}

/// Edits a task's fields; a `status` change completes or reopens it.
pub fn update(conn: &mut Conn, ctx: &Ctx, id: i32, patch: &TaskPatch) -> Result<Task, AppError> {
    db::write(conn, |conn| {
        let old = get(conn, id)?;
        let line = apply_patch(old.line(), patch, ctx)?;
        let task = save(conn, ctx, old.id, &line)?;
        let (task, next) = match patch.status.as_deref() {
            Some("done") => set_done_in(conn, ctx, task, true)?,
            Some("open") => set_done_in(conn, ctx, task, false)?,
            _ => (task, None),
        };
        let action = match (old.done, task.done) {
            (false, true) => "complete",
            (true, false) => "reopen",
            _ => "update",
        };
        recorded(conn, ctx, action, Some(&old), &task, next.as_ref())?;
        Ok(task)
    })
}

/// Completes (or reopens) a task. Completing a recurring task also creates its next
/// occurrence, which is returned second.
pub fn set_done(conn: &mut Conn, ctx: &Ctx, id: i32, done: bool) -> Result<(Task, Option<Task>), AppError> {
    db::write(conn, |conn| {
        let old = get(conn, id)?;
        let (task, next) = set_done_in(conn, ctx, old.clone(), done)?;
        if old.done != task.done {
            let action = if done { "complete" } else { "reopen" };
            recorded(conn, ctx, action, Some(&old), &task, next.as_ref())?;
        }
        Ok((task, next))
    })
}

fn set_done_in(conn: &mut Conn, ctx: &Ctx, task: Task, done: bool) -> Result<(Task, Option<Task>), AppError> {
    if task.done == done {
        return Ok((task, None));
    }
    let line = task.line();
    if !done {
        return Ok((save(conn, ctx, task.id, &reopened(line))?, None));
    }
    let today = ctx.today();
    let next = recur::next_occurrence(&line, today, ctx.tz);
    let completed = save(conn, ctx, task.id, &completed(line, today))?;
    let next = next.map(|line| insert(conn, ctx, &line)).transpose()?;
    Ok((completed, next))
}

/// todo.txt keeps a completed task's priority as a `pri:` tag.
fn completed(mut line: TodoLine, on: NaiveDate) -> TodoLine {
    if let Some(p) = line.priority.take() {
        line.body = todotxt::set_tag(&line.body, "pri", Some(&p.to_string()));
    }
    line.done = true;
    line.completed = Some(on);
    line
}

fn reopened(mut line: TodoLine) -> TodoLine {
    let body = todotxt::parse_body(&line.body);
    if let Some((_, p)) = body.tags.iter().find(|(k, _)| k == "pri") {
        line.priority = parse_priority(p).ok().flatten();
        line.body = todotxt::set_tag(&line.body, "pri", None);
    }
    line.done = false;
    line.completed = None;
    line
}

/// Deletes a task; it can be restored within [`UNDO_WINDOW`].
pub fn delete(conn: &mut Conn, ctx: &Ctx, id: i32) -> Result<(), AppError> {
    db::write(conn, |conn| {
        let old = get(conn, id)?;
        let now = ctx.now.naive_utc();
        let gone: Task = diesel::update(tasks::table.find(id))
            .set(tasks::deleted_at.eq(now))
            .returning(Task::as_returning())
            .get_result(conn)?;
        crate::reminders::sync_task(conn, &gone, ctx.now, ctx.tz)?;
        recorded(conn, ctx, "delete", Some(&old), &gone, None)?;
        diesel::delete(tasks::table.filter(tasks::deleted_at.lt(now - UNDO_WINDOW))).execute(conn)?;
        Ok(())
    })
}

pub fn restore(conn: &mut Conn, ctx: &Ctx, id: i32) -> Result<Task, AppError> {
    db::write(conn, |conn| {
        let restored = diesel::update(tasks::table.find(id).filter(tasks::deleted_at.is_not_null()))
            .set((
                tasks::deleted_at.eq(None::<chrono::NaiveDateTime>),
                tasks::updated_at.eq(ctx.now.naive_utc()),
            ))
            .execute(conn)?;
        if restored == 0 {
            return Err(AppError::NotFound(format!(
                "task {id} cannot be restored (not deleted, or deleted too long ago)"
            )));
        }
        let task = get(conn, id)?;
        crate::reminders::sync_task(conn, &task, ctx.now, ctx.tz)?;
        if crate::activity::recorded(ctx.actor) {
            let mut was = task.clone();
            was.deleted_at = Some(ctx.now.naive_utc());
            recorded(conn, ctx, "restore", Some(&was), &task, None)?;
        }
        Ok(task)
    })
}

/// What an import did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub imported: usize,
    /// `(line number, problem)`: such lines are kept as they are, their odd values not interpreted.
    pub problems: Vec<(usize, String)>,
}

/// Imports a todo.txt file (its bytes, as uploaded or read). Every non-empty line becomes a
/// task, in one transaction; a file that is not UTF-8 text or has no task is refused.
pub fn import_todotxt(conn: &mut Conn, ctx: &Ctx, bytes: &[u8]) -> Result<ImportReport, AppError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        AppError::invalid("file", format!("is not UTF-8 text (invalid byte at offset {})", e.valid_up_to()))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(AppError::invalid("file", "has no tasks: choose a todo.txt file"));
    }
    let mut report = ImportReport::default();
    let lines: Vec<(usize, TodoLine)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, TodoLine::parse(l)))
        .collect();
    for (number, line) in &lines {
        for problem in Derived::problems(line, ctx.tz) {
            report.problems.push((*number, problem));
        }
    }
    db::write(conn, |conn| {
        for (_, line) in &lines {
            insert(conn, ctx, line)?;
        }
        Ok(())
    })?;
    report.imported = lines.len();
    Ok(report)
}

/// Every task as a todo.txt file, in the order they were added.
pub fn export_todotxt(conn: &mut Conn) -> Result<String, AppError> {
    let all: Vec<Task> = tasks::table
        .filter(tasks::deleted_at.is_null())
        .order(tasks::id.asc())
        .select(Task::as_select())
        .load(conn)?;
    let mut out = String::with_capacity(all.len() * 48);
    for task in &all {
        out.push_str(&task.line().to_line());
        out.push('\n');
    }
    Ok(out)
}

/// Re-derives every task's columns (after the person's zone changes).
pub fn rederive_all(conn: &mut Conn, tz: Tz) -> Result<(), AppError> {
    let all: Vec<Task> = tasks::table.select(Task::as_select()).load(conn)?;
    for task in all {
        let derived = Derived::of(&task.line(), tz);
        diesel::update(tasks::table.find(task.id)).set(&derived).execute(conn)?;
        // Names do not depend on the zone; re-read only if the line says otherwise.
        if derived.contexts != task.contexts || derived.projects != task.projects {
            let task = get(conn, task.id)?;
            super::membership::sync(conn, &task)?;
        }
    }
    Ok(())
}

fn insert(conn: &mut Conn, ctx: &Ctx, line: &TodoLine) -> Result<Task, AppError> {
    let derived = Derived::of(line, ctx.tz);
    let now = ctx.now.naive_utc();
    let task = diesel::insert_into(tasks::table)
        .values((
            tasks::body.eq(&line.body),
            tasks::priority.eq(line.priority.map(String::from)),
            tasks::done.eq(line.done),
            tasks::created_on.eq(line.created),
            tasks::completed_on.eq(line.completed),
            tasks::title.eq(&derived.title),
            tasks::projects.eq(&derived.projects),
            tasks::contexts.eq(&derived.contexts),
            tasks::due_date.eq(derived.due_date),
            tasks::due_at.eq(derived.due_at),
            tasks::threshold.eq(derived.threshold),
            tasks::recurrence.eq(&derived.recurrence),
            tasks::created_by.eq(ctx.actor.as_str()),
            tasks::created_in.eq(ctx.actor.conversation()),
            tasks::created_at.eq(now),
            tasks::updated_at.eq(now),
            tasks::completed_at.eq(line.done.then_some(now)),
        ))
        .returning(Task::as_returning())
        .get_result(conn)?;
    super::membership::sync(conn, &task)?;
    crate::reminders::sync_task(conn, &task, ctx.now, ctx.tz)?;
    Ok(task)
}

fn save(conn: &mut Conn, ctx: &Ctx, id: i32, line: &TodoLine) -> Result<Task, AppError> {
    let now = ctx.now.naive_utc();
    let task = diesel::update(tasks::table.find(id))
        .set((
            tasks::body.eq(&line.body),
            tasks::priority.eq(line.priority.map(String::from)),
            tasks::done.eq(line.done),
            tasks::created_on.eq(line.created),
            tasks::completed_on.eq(line.completed),
            tasks::updated_at.eq(now),
            tasks::completed_at.eq(line.done.then_some(now)),
            Derived::of(line, ctx.tz),
        ))
        .returning(Task::as_returning())
        .get_result(conn)?;
    super::membership::sync(conn, &task)?;
    crate::reminders::sync_task(conn, &task, ctx.now, ctx.tz)?;
    Ok(task)
}

/// Applies a patch to a line, validating every field.
fn apply_patch(mut line: TodoLine, patch: &TaskPatch, ctx: &Ctx) -> Result<TodoLine, AppError> {
    if let Some(title) = &patch.title {
        let title = title.trim();
        if title.contains(['\n', '\r']) {
            return Err(AppError::invalid("title", "must be a single line"));
        }
        let len = title.chars().count();
        if len > quickadd::MAX_LEN {
            return Err(AppError::invalid(
                "title",
                format!("is {len} characters; the limit is {}", quickadd::MAX_LEN),
            ));
        }
        line.body = todotxt::set_title(&line.body, title);
    }
    if let Some(priority) = &patch.priority {
        line.priority = match priority {
            Some(p) => parse_priority(p)?,
            None => None,
        };
    }
    for (field, sigil, words) in [("projects", '+', &patch.projects), ("contexts", '@', &patch.contexts)] {
        if let Some(words) = words {
            let words = words.iter().map(|w| tag_word(field, sigil, w)).collect::<Result<Vec<_>, _>>()?;
            line.body = todotxt::set_sigil_words(&line.body, sigil, &words);
        }
    }
    if let Some(due) = &patch.due {
        let value = match due.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(text) => Some(parse_due_input("due", text, ctx)?.to_value()),
            None => None,
        };
        line.body = todotxt::set_tag(&line.body, "due", value.as_deref());
    }
    if let Some(threshold) = &patch.threshold {
        let value = match threshold.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(text) => Some(match parse_due_input("threshold", text, ctx)? {
                Due::Date(d) => d.to_string(),
                Due::At(at) => at.with_timezone(&ctx.tz).date_naive().to_string(),
            }),
            None => None,
        };
        line.body = todotxt::set_tag(&line.body, "t", value.as_deref());
    }
    if let Some(rec) = &patch.recurrence {
        let value = match rec.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            Some(text) => Some(
                recur::Recurrence::parse(text)
                    .map_err(|e| {
                        AppError::invalid(
                            "recurrence",
                            format!("{text:?}: {} (use 1d, 2w, +1m, 1b, 1y)", e.message),
                        )
                    })?
                    .to_string(),
            ),
            None => None,
        };
        line.body = todotxt::set_tag(&line.body, "rec", value.as_deref());
    }
    if let Some(reminders) = &patch.reminders {
        let leads = reminders.as_deref().map(crate::reminders::parse_leads).transpose()?;
        line.body = crate::reminders::set_task_leads(&line.body, leads.as_deref());
    }
    if let Some(extra) = &patch.extra {
        for (key, _) in todotxt::parse_body(&line.body).tags {
            if !super::TYPED_TAGS.contains(&key.as_str()) && !extra.contains_key(&key) {
                line.body = todotxt::set_tag(&line.body, &key, None);
            }
        }
        for (key, value) in extra {
            check_extra(key, value)?;
            line.body = todotxt::set_tag(&line.body, key, Some(value));
        }
    }
    if let Some(status) = patch.status.as_deref()
        && status != "open"
        && status != "done"
    {
        return Err(AppError::invalid("status", format!("{status:?} is not open or done")));
    }
    if todotxt::parse_body(&line.body).title.is_empty() {
        return Err(AppError::invalid("title", "a task needs a title"));
    }
    Ok(line)
}

fn parse_priority(p: &str) -> Result<Option<char>, AppError> {
    let p = p.trim();
    let mut chars = p.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(None),
        (Some(c), None) if c.is_ascii_alphabetic() => Ok(Some(c.to_ascii_uppercase())),
        _ => Err(AppError::invalid("priority", format!("{p:?} is not a letter A to Z"))),
    }
}

fn tag_word(field: &str, sigil: char, word: &str) -> Result<String, AppError> {
    let typed = word.trim();
    let word = typed.strip_prefix(sigil).unwrap_or(typed);
    if word.chars().any(char::is_whitespace) {
        return Err(AppError::invalid(field, format!("{word:?} must be one word without spaces")));
    }
    if !todotxt::is_name(word) {
        return Err(AppError::invalid(field, format!("“{typed}” needs a letter or a digit to be a name")));
    }
    Ok(word.to_string())
}

fn check_extra(key: &str, value: &str) -> Result<(), AppError> {
    let key_ok = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !key_ok || super::TYPED_TAGS.contains(&key) {
        return Err(AppError::invalid(
            "extra",
            format!(
                "{key:?} cannot be a key (a letter, then letters, digits, - or _; not due, t, rec or remind)"
            ),
        ));
    }
    if value.is_empty() || value.starts_with('/') || value.chars().any(char::is_whitespace) {
        return Err(AppError::invalid(
            "extra",
            format!("{key}: {value:?} must be one word, not starting with /"),
        ));
    }
    Ok(())
}

/// A due date typed by a person or sent by a client: `YYYY-MM-DD`, RFC 3339, or a phrase.
pub fn parse_due_input(field: &str, text: &str, ctx: &Ctx) -> Result<Due, AppError> {
    if let Ok(due) = Due::parse(text, ctx.tz) {
        return Ok(due);
    }
    dates::parse_when(text, ctx.local_now())
        .and_then(|when| Due::from_when(when, text))
        .map_err(|e| AppError::invalid(field, format!("{text:?}: {}", e.message)))
}
