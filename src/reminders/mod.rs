//! Reminders: a word from Steward before a task is due or an event starts, and a weekly look at
//! what is still waiting on someone else.
//!
//! One mechanism (design §4.6): a reminder is a schedule of the built-in `notify` agent, so it
//! fires with the scheduler's lateness, retries, crash safety and one run history. A task with a
//! due date has one schedule of kind `reminder` whose spec is its lead times (`1d,10m`) and
//! whose `source` is `task:<id>`; [`sync_task`] keeps it in step whenever the task is written
//! (a new due date moves it, completing or deleting it ends it), and after each firing the
//! scheduler asks [`next_after`] for the following instant. A snooze is a one-off (`once`)
//! schedule with the same source. At fire time [`compose`] writes the notification from the
//! task as it is then (a task completed meanwhile says nothing).
//!
//! Lead times count back on the wall clock for whole days ("1d before 17:00" is 17:00 the day
//! before, across a DST change too) and in absolute time for the rest. Date-only tasks are
//! reminded at a time of day from the settings (09:00 unless changed).

pub mod events;
pub mod settings;
pub mod waiting;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;

use crate::clock::to_ms;
use crate::db::Conn;
use crate::db::schema::{schedules, tasks};
use crate::error::AppError;
use crate::notifications::NewNotification;
use crate::schedules::Schedule;
use crate::tasks::Task;
use crate::tasks::todotxt;
pub use settings::Settings;

/// The schedule kind of derived reminders (their spec is a list of lead times).
pub const KIND: &str = "reminder";
/// The agent reminders are delivered through.
pub const AGENT: &str = "notify";
/// The todo.txt tag that keeps a task's own lead times (`remind:1d,10m`, `remind:none`).
pub const TAG: &str = "remind";
/// The longest lead time: a year ahead is a plan, not a reminder.
const MAX_LEAD_DAYS: i64 = 366;

/// What a reminder or a notification is about. Its key is stored in `schedules.source` and
/// `notifications.subject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Task(i32),
    /// An event series; `at` picks one occurrence (its start, UTC ms).
    Event {
        id: i32,
        at: Option<i64>,
    },
    /// The weekly follow-up of tasks waiting on someone else.
    Waiting,
    /// A delivered briefing (`morning`, `evening`, `weekly`): it offers to turn itself off.
    Briefing(&'static str),
}

impl Subject {
    pub fn key(self) -> String {
        match self {
            Subject::Task(id) => format!("task:{id}"),
            Subject::Event { id, at: None } => format!("event:{id}"),
            Subject::Event { id, at: Some(at) } => format!("event:{id}@{at}"),
            Subject::Waiting => "waiting".into(),
            Subject::Briefing(name) => format!("briefing:{name}"),
        }
    }

    pub fn parse(key: &str) -> Option<Subject> {
        if key == "waiting" {
            return Some(Subject::Waiting);
        }
        if let Some(name) = key.strip_prefix("briefing:") {
            return crate::briefings::NAMES.into_iter().find(|n| *n == name).map(Subject::Briefing);
        }
        if let Some(id) = key.strip_prefix("task:") {
            return id.parse().ok().map(Subject::Task);
        }
        let rest = key.strip_prefix("event:")?;
        match rest.split_once('@') {
            Some((id, at)) => Some(Subject::Event { id: id.parse().ok()?, at: Some(at.parse().ok()?) }),
            None => Some(Subject::Event { id: rest.parse().ok()?, at: None }),
        }
    }

    /// The page that shows it.
    pub fn path(self) -> String {
        match self {
            Subject::Task(id) => format!("/tasks/{id}/edit"),
            // The agenda from the occurrence's UTC day: the occurrence is in its first days
            // whatever the person's zone.
            Subject::Event { at: Some(at), .. } => match chrono::DateTime::from_timestamp_millis(at) {
                Some(t) => format!("/calendar?view=agenda&date={}", t.date_naive()),
                None => "/calendar".into(),
            },
            Subject::Event { .. } => "/calendar".into(),
            Subject::Waiting => "/tasks?context=waiting".into(),
            Subject::Briefing(_) => "/briefings".into(),
        }
    }
}

/// How long before the due time (or the start) a reminder fires: whole days counted back on
/// the wall clock, then the rest in absolute time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lead {
    pub days: i64,
    pub secs: i64,
}

impl Lead {
    pub const ZERO: Lead = Lead { days: 0, secs: 0 };

    /// `0m`, `10m`, `1h`, `1h30m`, `1d`, `2w` (also `0`).
    pub fn parse(text: &str) -> Result<Lead, AppError> {
        let t = text.trim().to_ascii_lowercase();
        let bad = || {
            AppError::invalid(
                "reminders",
                format!(
                    "{text:?} is not a time before: use minutes, hours, days or weeks, like 0m, 10m, 1h, 1d or 2w"
                ),
            )
        };
        if t == "0" {
            return Ok(Lead::ZERO);
        }
        let (mut days, mut secs, mut digits) = (0i64, 0i64, String::new());
        if t.is_empty() {
            return Err(bad());
        }
        for c in t.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                if digits.len() > 6 {
                    return Err(bad());
                }
                continue;
            }
            let n: i64 = digits.parse().map_err(|_| bad())?;
            digits.clear();
            match c {
                'm' => secs += n * 60,
                'h' => secs += n * 3600,
                'd' => days += n,
                'w' => days += n * 7,
                _ => return Err(bad()),
            }
        }
        if !digits.is_empty() {
            return Err(bad());
        }
        days += secs / 86_400;
        secs %= 86_400;
        if days > MAX_LEAD_DAYS {
            return Err(AppError::invalid(
                "reminders",
                format!("{text:?} is more than a year before; the longest is {MAX_LEAD_DAYS}d"),
            ));
        }
        Ok(Lead { days, secs })
    }

    /// The instant `self` before `anchor` (a wall time in `tz` for the day part).
    pub fn before(self, anchor: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let base = if self.days == 0 {
            anchor
        } else {
            let local = anchor.with_timezone(&tz).naive_local() - Duration::days(self.days);
            crate::dates::resolve_local(tz, local).with_timezone(&Utc)
        };
        base - Duration::seconds(self.secs)
    }

    /// "10 minutes before", "1 day before", "at the time".
    pub fn describe(self) -> String {
        if self == Lead::ZERO {
            return "at the time".into();
        }
        let mut parts = Vec::new();
        let mut unit = |n: i64, one: &str| {
            if n > 0 {
                parts.push(format!("{n} {one}{}", if n == 1 { "" } else { "s" }));
            }
        };
        if self.days % 7 == 0 && self.days > 0 {
            unit(self.days / 7, "week");
        } else {
            unit(self.days, "day");
        }
        unit(self.secs / 3600, "hour");
        unit(self.secs % 3600 / 60, "minute");
        format!("{} before", parts.join(" "))
    }
}

impl std::fmt::Display for Lead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == Lead::ZERO {
            return f.write_str("0m");
        }
        if self.days > 0 {
            if self.days % 7 == 0 && self.secs == 0 {
                write!(f, "{}w", self.days / 7)?;
            } else {
                write!(f, "{}d", self.days)?;
            }
        }
        let (h, m) = (self.secs / 3600, self.secs % 3600 / 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        Ok(())
    }
}

/// A list of lead times, sorted longest first, without repeats.
pub fn parse_leads<S: AsRef<str>>(items: &[S]) -> Result<Vec<Lead>, AppError> {
    let mut leads = items.iter().map(|s| Lead::parse(s.as_ref())).collect::<Result<Vec<_>, _>>()?;
    leads.sort_by(|a, b| b.cmp(a));
    leads.dedup();
    Ok(leads)
}

/// The lead list as the tag and the schedule's spec write it: `1d,10m`, or `none`.
pub fn leads_text(leads: &[Lead]) -> String {
    if leads.is_empty() {
        return "none".into();
    }
    leads.iter().map(Lead::to_string).collect::<Vec<_>>().join(",")
}

/// A task's own lead times from its `remind:` tag: `None` means the defaults, an empty list
/// none at all.
pub fn task_leads(body: &str) -> Option<Vec<Lead>> {
    let tags = todotxt::parse_body(body).tags;
    let value = tags.iter().find(|(k, _)| k == TAG).map(|(_, v)| v.clone())?;
    if value.eq_ignore_ascii_case("none") {
        return Some(Vec::new());
    }
    let items: Vec<&str> = value.split(',').collect();
    parse_leads(&items).ok()
}

/// Sets (or, with `None`, removes) a task body's `remind:` tag.
pub fn set_task_leads(body: &str, leads: Option<&[Lead]>) -> String {
    todotxt::set_tag(body, TAG, leads.map(leads_text).as_deref())
}

/// When a task is due, as the anchor its reminders count back from: the instant for a timed
/// task, the settings' time of day on the due date for a date-only one.
fn task_anchor(task: &Task, s: &Settings, tz: Tz) -> Option<(DateTime<Utc>, bool)> {
    match (task.due_at, task.due_date) {
        (Some(at), _) => Some((Utc.from_utc_datetime(&at), true)),
        (None, Some(d)) => {
            Some((crate::dates::resolve_local(tz, d.and_time(s.dated_at)).with_timezone(&Utc), false))
        }
        _ => None,
    }
}

/// Every instant an open task reminds at, soonest first.
pub fn task_instants(task: &Task, s: &Settings, tz: Tz) -> Vec<DateTime<Utc>> {
    if task.done || task.deleted_at.is_some() {
        return Vec::new();
    }
    let Some((anchor, timed)) = task_anchor(task, s, tz) else { return Vec::new() };
    let leads =
        task_leads(&task.body).unwrap_or_else(|| if timed { s.timed.clone() } else { s.dated.clone() });
    let mut at: Vec<DateTime<Utc>> = leads.iter().map(|l| l.before(anchor, tz)).collect();
    at.sort();
    at.dedup();
    at
}

fn rearmed() {
    crate::services::request_wake();
}

/// Keeps a task's reminder schedule in step with the task (call after every write of it).
pub fn sync_task(conn: &mut Conn, task: &Task, now: DateTime<Utc>, tz: Tz) -> Result<(), AppError> {
    let source = Subject::Task(task.id).key();
    let live = !task.done && task.deleted_at.is_none();
    if !live {
        // A snooze of a task that is done or gone has nothing left to say.
        diesel::update(
            schedules::table
                .filter(schedules::source.eq(&source))
                .filter(schedules::kind.eq("once"))
                .filter(schedules::deleted_at.is_null()),
        )
        .set((schedules::deleted_at.eq(to_ms(now)), schedules::next_fire_at.eq(None::<i64>)))
        .execute(conn)?;
    }
    let s = settings::load(conn)?;
    let next = task_instants(task, &s, tz).into_iter().find(|t| *t >= now);
    let leads = task_leads(&task.body);
    let spec = leads.as_deref().map(leads_text).unwrap_or_else(|| "default".into());
    let next_ms = next.map(crate::clock::due_ms);
    let priority = if urgent_task(task) { 0 } else { 1 };
    arm(conn, &Armed { source: &source, title: &task.title, spec: &spec, tz, priority }, next_ms, now)
}

/// What a subject's derived reminder schedule says.
pub(crate) struct Armed<'a> {
    pub source: &'a str,
    pub title: &'a str,
    /// The lead times, as the schedule shows them.
    pub spec: &'a str,
    pub tz: Tz,
    pub priority: i32,
}

/// Writes a subject's one `reminder` schedule with its next instant (`None`: nothing ahead),
/// making it on first need, and wakes the scheduler when the instant moved.
pub(crate) fn arm(
    conn: &mut Conn,
    r: &Armed,
    next_ms: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let existing: Option<(i32, Option<i64>)> = schedules::table
        .filter(schedules::source.eq(r.source))
        .filter(schedules::kind.eq(KIND))
        .select((schedules::id, schedules::next_fire_at))
        .first(conn)
        .optional()?;
    match existing {
        Some((id, was)) => {
            diesel::update(schedules::table.find(id))
                .set((
                    schedules::name.eq(r.title),
                    schedules::prompt.eq(r.title),
                    schedules::spec.eq(r.spec),
                    schedules::tz.eq(r.tz.name()),
                    schedules::priority.eq(r.priority),
                    schedules::active.eq(true),
                    schedules::deleted_at.eq(None::<i64>),
                    schedules::next_fire_at.eq(next_ms),
                    schedules::updated_at.eq(to_ms(now)),
                ))
                .execute(conn)?;
            if was != next_ms {
                rearmed();
            }
        }
        None if next_ms.is_some() => {
            insert(conn, r.title, KIND, r.spec, r.tz, r.priority, r.source, next_ms, now)?;
            rearmed();
        }
        None => {}
    }
    Ok(())
}

/// Keeps every task's reminders in step (after the settings or the person's zone changed).
pub fn sync_all_tasks(conn: &mut Conn, now: DateTime<Utc>, tz: Tz) -> Result<(), AppError> {
    let list: Vec<Task> = tasks::table
        .filter(tasks::deleted_at.is_null())
        .filter(tasks::done.eq(false))
        .filter(tasks::due_date.is_not_null())
        .select(Task::as_select())
        .load(conn)?;
    for t in &list {
        sync_task(conn, t, now, tz)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn insert(
    conn: &mut Conn,
    name: &str,
    kind: &str,
    spec: &str,
    tz: Tz,
    priority: i32,
    source: &str,
    next: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i32, AppError> {
    let now = to_ms(now);
    Ok(diesel::insert_into(schedules::table)
        .values((
            schedules::name.eq(name),
            schedules::prompt.eq(name),
            schedules::agent.eq(AGENT),
            schedules::kind.eq(kind),
            schedules::spec.eq(spec),
            schedules::tz.eq(tz.name()),
            schedules::priority.eq(priority),
            schedules::active.eq(true),
            schedules::misfire.eq("once"),
            schedules::retry_attempts.eq(3),
            schedules::retry_base_secs.eq(10),
            schedules::anchor_at.eq(now),
            schedules::next_fire_at.eq(next),
            schedules::created_by.eq("system"),
            schedules::created_at.eq(now),
            schedules::updated_at.eq(now),
            schedules::source.eq(source),
        ))
        .returning(schedules::id)
        .get_result(conn)?)
}

/// The instant a derived reminder fires next after `after` (the scheduler calls this after each
/// firing of a `reminder` schedule).
pub fn next_after(
    conn: &mut Conn,
    s: &Schedule,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let Some(subject) = s.source.as_deref().and_then(Subject::parse) else { return Ok(None) };
    match subject {
        Subject::Task(id) => {
            let Some(task) = live_task(conn, id)? else { return Ok(None) };
            let settings = settings::load(conn)?;
            Ok(task_instants(&task, &settings, s.zone()).into_iter().find(|t| *t > after))
        }
        Subject::Event { id, at: None } => events::next_after(conn, s, id, after),
        Subject::Event { .. } | Subject::Waiting | Subject::Briefing(_) => Ok(None),
    }
}

fn live_task(conn: &mut Conn, id: i32) -> Result<Option<Task>, AppError> {
    Ok(tasks::table
        .find(id)
        .filter(tasks::deleted_at.is_null())
        .select(Task::as_select())
        .first(conn)
        .optional()?)
}

/// Priority A tasks, and anything with the `@urgent` context, are delivered in quiet hours.
pub fn urgent_task(task: &Task) -> bool {
    task.priority.as_deref() == Some("A") || task.context_list().contains(&"urgent")
}

/// The schedule if it is a reminder (it has a source).
pub fn of_schedule(conn: &mut Conn, id: i32) -> Result<Option<Schedule>, AppError> {
    Ok(schedules::table
        .find(id)
        .filter(schedules::source.is_not_null())
        .select(Schedule::as_select())
        .first(conn)
        .optional()?)
}

/// The notification a reminder's firing (due at `at`, sent `now`) sends, written from its
/// subject as it is now; `None` when there is nothing to say any more (the task was completed
/// meanwhile). In quiet hours it is held for the channels unless urgent.
pub fn compose(
    conn: &mut Conn,
    s: &Schedule,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<NewNotification>, AppError> {
    let settings = settings::load(conn)?;
    Ok(written(conn, s, &settings, at)?.map(|n| {
        let hold_until = if n.urgent { None } else { settings.quiet_until(now, s.zone()) };
        NewNotification { hold_until, ..n }
    }))
}

fn written(
    conn: &mut Conn,
    s: &Schedule,
    settings: &Settings,
    at: DateTime<Utc>,
) -> Result<Option<NewNotification>, AppError> {
    let Some(subject) = s.source.as_deref().and_then(Subject::parse) else { return Ok(None) };
    let tz = s.zone();
    match subject {
        Subject::Task(id) => {
            let Some(task) = live_task(conn, id)? else { return Ok(None) };
            if task.done {
                return Ok(None);
            }
            let body = match task_anchor(&task, settings, tz) {
                Some((due, timed)) => due_phrase(due, timed, at, tz),
                None => "Reminder".into(),
            };
            Ok(Some(NewNotification {
                title: task.title.clone(),
                body,
                level: "info",
                schedule_id: Some(s.id),
                subject: Some(subject.key()),
                urgent: urgent_task(&task),
                ..Default::default()
            }))
        }
        Subject::Waiting => Ok(waiting::digest(conn, settings, at, tz)?.map(|body| NewNotification {
            title: "Still waiting for".into(),
            body,
            level: "info",
            schedule_id: Some(s.id),
            subject: Some(subject.key()),
            ..Default::default()
        })),
        Subject::Event { id, at: occurrence } => events::written(conn, s, settings, id, occurrence, at),
        // Briefings are not reminders: they deliver themselves (briefings::system_job).
        Subject::Briefing(_) => Ok(None),
    }
}

/// "Due today at 17:00 (in 10 minutes)", in the person's words and zone.
fn due_phrase(due: DateTime<Utc>, timed: bool, at: DateTime<Utc>, tz: Tz) -> String {
    let local = due.with_timezone(&tz);
    let today = at.with_timezone(&tz).date_naive();
    let day = match (local.date_naive() - today).num_days() {
        0 => "today".to_string(),
        1 => "tomorrow".to_string(),
        -1 => "yesterday".to_string(),
        n if (2..7).contains(&n) => local.format("on %A").to_string(),
        _ => local.format("on %a %-d %b %Y").to_string(),
    };
    if !timed {
        return format!("Due {day}");
    }
    let wait = due - at;
    let when = if wait.num_minutes() <= 0 {
        "now".to_string()
    } else if wait.num_minutes() < 60 {
        format!("in {} min", wait.num_minutes())
    } else if wait.num_hours() < 48 {
        format!("in {} h", wait.num_hours())
    } else {
        format!("in {} days", wait.num_days())
    };
    format!("Due {day} at {} ({when})", local.format("%H:%M"))
}

/// Brings a reminder back at `until`: a one-off reminder of the same subject.
pub fn snooze(
    conn: &mut Conn,
    subject: Subject,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<i32, AppError> {
    if until <= now {
        return Err(AppError::invalid("until", "a snooze must end in the future"));
    }
    let title = match subject {
        Subject::Task(id) => {
            live_task(conn, id)?.ok_or_else(|| AppError::NotFound(format!("no task with id {id}")))?.title
        }
        Subject::Event { id, .. } => crate::calendar::service::get(conn, id)?.title,
        Subject::Waiting => "Waiting for".into(),
        Subject::Briefing(name) => {
            return Err(AppError::invalid("subject", format!("the {name} briefing cannot be snoozed")));
        }
    };
    // "In 10 minutes" from a `now` finer than the scheduler's millisecond: rounded up, so the
    // reminder never comes back before its time.
    let until = crate::clock::ceil_ms(until);
    let id = crate::db::write(conn, |conn| {
        let at = until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        insert(conn, &title, "once", &at, tz, 1, &subject.key(), Some(to_ms(until)), now)
    })?;
    rearmed();
    Ok(id)
}

/// When a snoozed reminder comes back, for the choices offered: 10 minutes, an hour, or the
/// next morning at the settings' time of day.
pub fn snooze_until(
    choice: &str,
    now: DateTime<Utc>,
    tz: Tz,
    s: &Settings,
) -> Result<DateTime<Utc>, AppError> {
    match choice {
        "10m" => Ok(now + Duration::minutes(10)),
        "1h" => Ok(now + Duration::hours(1)),
        "tomorrow" => {
            let day = now.with_timezone(&tz).date_naive() + Duration::days(1);
            Ok(crate::dates::resolve_local(tz, day.and_time(s.dated_at)).with_timezone(&Utc))
        }
        other => {
            Err(AppError::invalid("snooze", format!("{other:?} is not a snooze: use 10m, 1h or tomorrow")))
        }
    }
}

#[cfg(test)]
mod tests;
