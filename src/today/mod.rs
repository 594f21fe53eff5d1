//! Today: the home page's data in one place, read by the page (`/`), the API
//! (`GET /api/v1/today`) and anything else that wants "what does my day look like".
//!
//! [`build`] reads, in the person's zone: today's agenda from the calendar, overdue tasks, tasks
//! due today, top-priority tasks, waiting items (`@waiting`) with how long they have waited,
//! what got done today, "what next" suggestions ([`next`]) for the current context
//! ([`context`]), the next 24 hours of scheduled prompts, recent runs (failures first), unread
//! notifications and a few stats ([`charts`] draws them). Every list is bounded and carries its
//! full count, so a cut list says it is cut.
//!
//! [`quickadd`] is the one box that adds a task, an event or a scheduled prompt.

pub mod charts;
pub mod context;
pub mod next;
pub mod quickadd;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::calendar::service::{Occurrence, occurrences};
use crate::clock::{from_ms, to_ms};
use crate::db::schema::{events, notifications, runs, schedules, tasks};
use crate::db::{Conn, settings};
use crate::error::AppError;
use crate::notifications::Notification;
use crate::services::Ctx;
use crate::tasks::{Task, membership};
use next::Suggestion;

/// How many of each task list are shown (the count says how many there are).
pub const SHOWN: i64 = 20;
/// Suggestions in "What next".
pub const WHAT_NEXT: usize = 5;
/// Days in the "done per day" chart.
pub const DONE_DAYS: i64 = 30;
/// Scheduled firings shown, and how far ahead.
pub const FIRINGS: usize = 10;
pub const FIRINGS_AHEAD: Duration = Duration::hours(24);
/// Recent runs shown.
pub const RUNS: usize = 8;
/// Projects in the "open per project" chart.
pub const PROJECTS: usize = 8;

/// Which parts to read: the page refreshes one section at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub agenda: bool,
    pub tasks: bool,
    pub schedules: bool,
    pub notifications: bool,
    pub stats: bool,
}

impl Parts {
    pub const ALL: Parts =
        Parts { agenda: true, tasks: true, schedules: true, notifications: true, stats: true };
    pub const NONE: Parts =
        Parts { agenda: false, tasks: false, schedules: false, notifications: false, stats: false };

    /// One section by its name (`agenda`, `tasks`, `schedules`, `notifications`, `stats`).
    pub fn only(name: &str) -> Option<Parts> {
        let mut p = Parts::NONE;
        match name {
            "agenda" => p.agenda = true,
            "tasks" => p.tasks = true,
            "schedules" => p.schedules = true,
            "notifications" => p.notifications = true,
            "stats" => p.stats = true,
            _ => return None,
        }
        Some(p)
    }
}

/// A list that may be cut: what is shown and how many there are.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub count: i64,
    pub tasks: Vec<Task>,
}

impl Group {
    pub fn more(&self) -> i64 {
        self.count - self.tasks.len() as i64
    }
}

/// The context "What next" is ranked for.
#[derive(Debug, Clone, Default)]
pub struct CurrentContext {
    /// Without `@`.
    pub contexts: Vec<String>,
    /// Chosen in the selector (else inferred by the rules).
    pub chosen: bool,
    /// The rule that decided, as written.
    pub rule: Option<String>,
    /// Every context open tasks use, for the selector.
    pub choices: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AgendaItem {
    pub occurrence: Occurrence,
    /// Going on now.
    pub now: bool,
    /// It has a phone number or a video link.
    pub call: bool,
}

#[derive(Debug, Clone)]
pub struct Firing {
    pub schedule_id: i32,
    pub name: String,
    pub agent: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct RunBrief {
    pub id: i32,
    pub schedule_id: Option<i32>,
    pub name: Option<String>,
    pub state: String,
    pub scheduled_for: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Each of the last [`DONE_DAYS`] days, oldest first, with the tasks completed on it.
    pub done_per_day: Vec<(NaiveDate, i64)>,
    /// Finished runs of the last 30 days.
    pub runs_succeeded: i64,
    pub runs_failed: i64,
    /// Open tasks per project, most first (at most [`PROJECTS`]), and how many projects more.
    pub projects: Vec<(String, i64)>,
    pub projects_more: usize,
}

impl Stats {
    /// Percent of finished runs that succeeded, when any finished.
    pub fn success_rate(&self) -> Option<f64> {
        let all = self.runs_succeeded + self.runs_failed;
        (all > 0).then(|| self.runs_succeeded as f64 * 100.0 / all as f64)
    }
}

/// Everything Today shows.
#[derive(Debug, Clone)]
pub struct Today {
    pub now: DateTime<Utc>,
    pub tz: Tz,
    pub date: NaiveDate,
    pub context: CurrentContext,
    pub agenda: Vec<AgendaItem>,
    pub agenda_truncated: bool,
    pub overdue: Group,
    pub due_today: Group,
    pub priority: Group,
    pub waiting: Group,
    pub done_today: Group,
    pub what_next: Vec<Suggestion>,
    pub firings: Vec<Firing>,
    /// Firings in the next 24 hours beyond those shown.
    pub firings_more: usize,
    pub runs: Vec<RunBrief>,
    pub unread: i64,
    pub notifications: Vec<Notification>,
    pub stats: Stats,
}

/// The day's bounds in the person's zone, as instants.
pub fn day_bounds(day: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = crate::calendar::resolve(tz, day.and_time(NaiveTime::MIN));
    let end = crate::calendar::resolve(tz, (day + Duration::days(1)).and_time(NaiveTime::MIN));
    (start, end)
}

/// The context rules as stored (the defaults until the person edits them).
pub fn rules_text(conn: &mut Conn) -> Result<String, AppError> {
    Ok(settings::get(conn, context::SETTING)?.unwrap_or_else(|| context::DEFAULT_RULES.to_string()))
}

/// Saves the context rules after reading them (an unreadable line is refused).
pub fn save_rules(conn: &mut Conn, text: &str) -> Result<(), AppError> {
    let text = text.replace("\r\n", "\n");
    if text.len() > 10_000 {
        return Err(AppError::invalid("rules", "are longer than 10,000 characters"));
    }
    context::parse_rules(&text)?;
    settings::set(conn, context::SETTING, text.trim_end())?;
    Ok(())
}

/// Reads Today. `chosen`: a context picked in the selector (without `@`), else the rules
/// decide.
pub fn build(conn: &mut Conn, ctx: &Ctx, chosen: Option<&str>, parts: Parts) -> Result<Today, AppError> {
    let (now, tz, date) = (ctx.now, ctx.tz, ctx.today());
    let mut today = Today {
        now,
        tz,
        date,
        context: CurrentContext::default(),
        agenda: Vec::new(),
        agenda_truncated: false,
        overdue: Group::default(),
        due_today: Group::default(),
        priority: Group::default(),
        waiting: Group::default(),
        done_today: Group::default(),
        what_next: Vec::new(),
        firings: Vec::new(),
        firings_more: 0,
        runs: Vec::new(),
        unread: 0,
        notifications: Vec::new(),
        stats: Stats::default(),
    };
    // The tasks (stalled projects) and the stats (open per project) both use it: read once.
    let (open_per_project, stalled) =
        if parts.tasks || parts.stats { projects(conn, now)? } else { Default::default() };
    if parts.agenda {
        let (start, end) = day_bounds(date, tz);
        let (agenda, truncated) = agenda(conn, ctx, start, end)?;
        today.agenda = agenda;
        today.agenda_truncated = truncated;
    }
    if parts.tasks {
        // Whether a call is going on: the day's agenda when read, else just this minute's.
        let in_call = if parts.agenda {
            today.agenda.iter().any(|a| a.now && a.call)
        } else {
            agenda(conn, ctx, now, now + Duration::seconds(1))?.0.iter().any(|a| a.now && a.call)
        };
        today.context = current_context(conn, ctx, chosen, in_call)?;
        read_tasks(conn, ctx, &mut today, &stalled)?;
    }
    if parts.schedules {
        today.firings = firings(conn, now)?;
        today.firings_more = today.firings.len().saturating_sub(FIRINGS);
        today.firings.truncate(FIRINGS);
        today.runs = recent_runs(conn)?;
    }
    if parts.notifications {
        today.unread = crate::notifications::unread_count(conn)?;
        today.notifications = notifications::table
            .filter(notifications::read_at.is_null())
            .order(notifications::id.desc())
            .limit(5)
            .select(Notification::as_select())
            .load(conn)?;
    }
    if parts.stats {
        today.stats = stats(conn, ctx, open_per_project)?;
    }
    Ok(today)
}

/// Today's occurrences of the visible calendars, with which are going on and which are calls.
fn agenda(
    conn: &mut Conn,
    ctx: &Ctx,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(Vec<AgendaItem>, bool), AppError> {
    let (list, truncated) = occurrences(conn, ctx, start, end, None)?;
    let going: Vec<i32> = list
        .iter()
        .filter(|o| !o.all_day && o.start_at <= ctx.now && ctx.now < o.end_at)
        .map(|o| o.event_id)
        .collect();
    let notes: HashMap<i32, Option<String>> = if going.is_empty() {
        HashMap::new()
    } else {
        events::table
            .filter(events::id.eq_any(&going))
            .select((events::id, events::notes))
            .load::<(i32, Option<String>)>(conn)?
            .into_iter()
            .collect()
    };
    let items = list
        .into_iter()
        .map(|o| {
            let now = !o.all_day && o.start_at <= ctx.now && ctx.now < o.end_at;
            let call = now && {
                let text = format!(
                    "{} {} {}",
                    o.title,
                    o.location.as_deref().unwrap_or(""),
                    notes.get(&o.event_id).cloned().flatten().unwrap_or_default()
                );
                context::is_call(&text)
            };
            AgendaItem { occurrence: o, now, call }
        })
        .collect();
    Ok((items, truncated))
}

/// The context chosen, or the one the rules infer now.
fn current_context(
    conn: &mut Conn,
    ctx: &Ctx,
    chosen: Option<&str>,
    in_call: bool,
) -> Result<CurrentContext, AppError> {
    let choices = crate::tasks::query::contexts_in_use(conn)?;
    if let Some(c) = chosen.map(|c| c.trim().trim_start_matches('@')).filter(|c| !c.is_empty()) {
        return Ok(CurrentContext { contexts: vec![c.to_string()], chosen: true, rule: None, choices });
    }
    // Rules that no longer read (edited by hand in the database) infer nothing.
    let rules = context::parse_rules(&rules_text(conn)?).unwrap_or_default();
    let local = ctx.local_now().naive_local();
    Ok(match context::infer(&rules, local, in_call) {
        Some(rule) => CurrentContext {
            contexts: rule.contexts.clone(),
            chosen: false,
            rule: Some(rule.line.clone()),
            choices,
        },
        None => CurrentContext { choices, ..Default::default() },
    })
}

fn open() -> tasks::BoxedQuery<'static, diesel::sqlite::Sqlite> {
    tasks::table.filter(tasks::deleted_at.is_null()).filter(tasks::done.eq(false)).into_boxed()
}

/// Open tasks carrying a context or project ([`membership`]): read from the name's members.
fn open_with(filter: membership::TaskFilter) -> tasks::BoxedQuery<'static, diesel::sqlite::Sqlite> {
    tasks::table
        .filter(tasks::deleted_at.is_null())
        .filter(membership::open_unindexed())
        .filter(filter)
        .into_boxed()
}

fn load(q: tasks::BoxedQuery<'static, diesel::sqlite::Sqlite>, conn: &mut Conn) -> QueryResult<Vec<Task>> {
    q.select(Task::as_select()).load(conn)
}

/// [`load`] for a query whose terms and order are all in one index: the ids first, from the
/// index alone, then only those rows (else SQLite reads every matching row to sort them).
fn load_by_ids(
    q: tasks::BoxedQuery<'static, diesel::sqlite::Sqlite>,
    conn: &mut Conn,
) -> QueryResult<Vec<Task>> {
    let ids: Vec<i32> = q.select(tasks::id).load(conn)?;
    let rank: HashMap<i32, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut rows: Vec<Task> =
        tasks::table.filter(tasks::id.eq_any(&ids)).select(Task::as_select()).load(conn)?;
    rows.sort_by_key(|t| rank.get(&t.id).copied());
    Ok(rows)
}

fn read_tasks(
    conn: &mut Conn,
    ctx: &Ctx,
    today: &mut Today,
    stalled: &HashSet<String>,
) -> Result<(), AppError> {
    let now = ctx.now.naive_utc();
    let date = ctx.today();
    let (day_start, _) = day_bounds(date, ctx.tz);
    // Overdue: a time that passed, or a day before today. A timed due's `due_date` is its local
    // day, so this is a range of `tasks_by_due` and a test of its columns (the same rows as
    // "due_at < now, or no time and due_date < today"; a top-level OR reads every open task).
    let overdue =
        || open().filter(tasks::due_date.le(date)).filter(tasks::due_date.lt(date).or(tasks::due_at.lt(now)));
    let overdue_order = || overdue().order((tasks::due_date.asc(), tasks::due_at.asc(), tasks::id.asc()));
    today.overdue = Group {
        count: overdue().count().get_result(conn)?,
        tasks: load_by_ids(overdue_order().limit(SHOWN), conn)?,
    };
    let due_today =
        || open().filter(tasks::due_date.eq(date)).filter(tasks::due_at.is_null().or(tasks::due_at.ge(now)));
    today.due_today = Group {
        count: due_today().count().get_result(conn)?,
        tasks: load_by_ids(due_today().order((tasks::due_at.asc(), tasks::id.asc())).limit(SHOWN), conn)?,
    };
    // Top priority (A and B) not already shown as overdue or due today, and started.
    let priority = || {
        open()
            .filter(tasks::priority.eq_any(["A", "B"]))
            .filter(tasks::due_date.is_null().or(tasks::due_date.gt(date)))
            .filter(tasks::threshold.is_null().or(tasks::threshold.le(date)))
    };
    today.priority = Group {
        count: priority().count().get_result(conn)?,
        tasks: load_by_ids(
            priority().order((tasks::priority.asc(), tasks::due_date.asc(), tasks::id.asc())).limit(10),
            conn,
        )?,
    };
    let waiting = || open_with(membership::has_context(next::WAITING));
    today.waiting = Group {
        count: waiting().count().get_result(conn)?,
        tasks: load(waiting().order((tasks::created_at.asc(), tasks::id.asc())).limit(10), conn)?,
    };
    let done = || {
        tasks::table
            .filter(tasks::deleted_at.is_null())
            .filter(tasks::done.eq(true))
            .filter(tasks::completed_at.ge(day_start.naive_utc()))
            .into_boxed()
    };
    today.done_today = Group {
        count: done().count().get_result(conn)?,
        tasks: load_by_ids(done().order((tasks::completed_at.desc(), tasks::id.desc())).limit(SHOWN), conn)?,
    };

    // What next: candidates from every reason, each list bounded, ranked in memory.
    let mut candidates: Vec<Task> = load_by_ids(overdue_order().limit(50), conn)?;
    candidates.extend(load_by_ids(
        open()
            .filter(tasks::due_date.ge(date))
            .filter(tasks::due_date.le(date + Duration::days(3)))
            .order((tasks::due_date.asc(), tasks::id.asc()))
            .limit(50),
        conn,
    )?);
    candidates.extend(load_by_ids(
        open()
            .filter(tasks::priority.eq_any(["A", "B", "C"]))
            .order((tasks::priority.asc(), tasks::id.asc()))
            .limit(50),
        conn,
    )?);
    for c in &today.context.contexts {
        candidates
            .extend(load(open_with(membership::has_context(c)).order(tasks::id.asc()).limit(30), conn)?);
    }
    // Five stalled projects, by name (a set has no order of its own).
    let mut names: Vec<&String> = stalled.iter().collect();
    names.sort();
    for p in names.into_iter().take(5) {
        candidates
            .extend(load(open_with(membership::has_project(p)).order(tasks::id.asc()).limit(10), conn)?);
    }
    today.what_next = next::rank(&candidates, ctx.now, ctx.tz, &today.context.contexts, stalled, WHAT_NEXT);
    Ok(())
}

/// Open tasks per project, most first.
pub type OpenPerProject = Vec<(String, i64)>;

/// Open tasks per project (most first) and the stalled projects: open tasks, and no task of
/// the project changed for the stalled days of the Projects page ([`crate::projects::stalled_days`]).
pub fn projects(conn: &mut Conn, now: DateTime<Utc>) -> Result<(OpenPerProject, HashSet<String>), AppError> {
    // Grouped in SQL by the distinct project lists (few), not read task by task.
    let rows: Vec<(String, bool, i64, Option<NaiveDateTime>)> = tasks::table
        .filter(tasks::deleted_at.is_null())
        .filter(tasks::projects.ne("  "))
        .group_by((tasks::projects, tasks::done))
        .select((
            tasks::projects,
            tasks::done,
            diesel::dsl::count_star(),
            diesel::dsl::max(tasks::updated_at),
        ))
        .load(conn)?;
    let mut open: BTreeMap<String, i64> = BTreeMap::new();
    let mut last: HashMap<String, NaiveDateTime> = HashMap::new();
    for (projects, done, count, updated) in &rows {
        for p in projects.split_whitespace() {
            if !done {
                *open.entry(p.to_string()).or_default() += count;
            }
            if let Some(updated) = updated {
                let l = last.entry(p.to_string()).or_insert(*updated);
                if *updated > *l {
                    *l = *updated;
                }
            }
        }
    }
    let cutoff = (now - Duration::days(crate::projects::stalled_days(conn)?)).naive_utc();
    let stalled = open.keys().filter(|p| last.get(*p).is_some_and(|l| *l < cutoff)).cloned().collect();
    let mut counts: Vec<(String, i64)> = open.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok((counts, stalled))
}

/// Scheduled prompts' firings in the next 24 hours, soonest first (one more than
/// [`FIRINGS`] per schedule at most, enough to tell the list is cut).
fn firings(conn: &mut Conn, now: DateTime<Utc>) -> Result<Vec<Firing>, AppError> {
    let horizon = now + FIRINGS_AHEAD;
    let due: Vec<crate::schedules::Schedule> = schedules::table
        .filter(schedules::active)
        .filter(schedules::deleted_at.is_null())
        .filter(schedules::next_fire_at.is_not_null())
        .filter(schedules::next_fire_at.lt(to_ms(horizon)))
        .filter(schedules::agent.ne(crate::calendar::subscriptions::SYSTEM_AGENT))
        // Reminders show with their tasks and events, not as prompts.
        .filter(schedules::source.is_null())
        .order(schedules::next_fire_at.asc())
        .limit(FIRINGS as i64 + 1)
        .select(crate::schedules::Schedule::as_select())
        .load(conn)?;
    let mut out = Vec::new();
    for s in &due {
        let Some(first) = s.next_fire() else { continue };
        let mut at = first;
        let spec = s.parsed().ok();
        for _ in 0..=FIRINGS {
            out.push(Firing { schedule_id: s.id, name: s.name.clone(), agent: s.agent.clone(), at });
            let Some(next) = spec.as_ref().and_then(|sp| sp.next_after(at, s.zone(), from_ms(s.anchor_at)))
            else {
                break;
            };
            if next >= horizon || next <= at {
                break;
            }
            at = next;
        }
    }
    out.sort_by_key(|f| (f.at, f.schedule_id));
    Ok(out)
}

/// The latest runs, failures of the last week first.
fn recent_runs(conn: &mut Conn) -> Result<Vec<RunBrief>, AppError> {
    type Row = (i32, Option<i32>, String, i64, Option<i64>, Option<String>);
    let cols =
        (runs::id, runs::schedule_id, runs::state, runs::scheduled_for, runs::finished_at, runs::error);
    let latest: Vec<Row> = runs::table.order(runs::id.desc()).limit(RUNS as i64).select(cols).load(conn)?;
    let week_ago = latest.first().map(|r| r.3 - 7 * 86_400_000).unwrap_or(0);
    // Ordered by `runs_finished (state, finished_at)` itself: a healthy week (no failure) costs
    // one seek, not a walk over a year of older failures.
    let failed: Vec<Row> = runs::table
        .filter(runs::state.eq("failed"))
        .filter(runs::finished_at.ge(week_ago))
        .order((runs::finished_at.desc(), runs::id.desc()))
        .limit(RUNS as i64)
        .select(cols)
        .load(conn)?;
    let mut seen = HashSet::new();
    let rows: Vec<Row> = failed
        .into_iter()
        .chain(latest.into_iter().filter(|r| r.2 != "failed"))
        .filter(|r| seen.insert(r.0))
        .take(RUNS)
        .collect();
    let ids: Vec<i32> = rows.iter().filter_map(|r| r.1).collect();
    let names: HashMap<i32, String> = schedules::table
        .filter(schedules::id.eq_any(ids))
        .select((schedules::id, schedules::name))
        .load::<(i32, String)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|(id, schedule_id, state, at, finished, error)| RunBrief {
            id,
            schedule_id,
            name: schedule_id.and_then(|s| names.get(&s).cloned()),
            state,
            scheduled_for: from_ms(at),
            finished_at: finished.map(from_ms),
            error,
        })
        .collect())
}

fn stats(conn: &mut Conn, ctx: &Ctx, mut projects: OpenPerProject) -> Result<Stats, AppError> {
    let date = ctx.today();
    let first = date - Duration::days(DONE_DAYS - 1);
    // `completed_at` (indexed) bounds the rows; `completed_on` is the day in the person's zone.
    let (first_start, _) = day_bounds(first, ctx.tz);
    let done: Vec<(Option<NaiveDate>, i64)> = tasks::table
        .filter(tasks::deleted_at.is_null())
        .filter(tasks::done.eq(true))
        .filter(tasks::completed_at.ge((first_start - Duration::days(1)).naive_utc()))
        .filter(tasks::completed_on.ge(first))
        .group_by(tasks::completed_on)
        .select((tasks::completed_on, diesel::dsl::count_star()))
        .load(conn)?;
    let done: HashMap<NaiveDate, i64> = done.into_iter().filter_map(|(d, n)| Some((d?, n))).collect();
    let done_per_day = (0..DONE_DAYS)
        .map(|i| first + Duration::days(i))
        .map(|d| (d, done.get(&d).copied().unwrap_or(0)))
        .collect();
    let since = to_ms(ctx.now - Duration::days(30));
    // One range of `runs_finished (state, finished_at)` per state, not a scan of the history.
    let of = |conn: &mut Conn, s: &'static str| -> QueryResult<i64> {
        runs::table.filter(runs::state.eq(s)).filter(runs::finished_at.ge(since)).count().get_result(conn)
    };
    let (runs_succeeded, runs_failed) = (of(conn, "succeeded")?, of(conn, "failed")?);
    projects.retain(|(_, n)| *n > 0);
    let projects_more = projects.len().saturating_sub(PROJECTS);
    projects.truncate(PROJECTS);
    Ok(Stats { done_per_day, runs_succeeded, runs_failed, projects, projects_more })
}

fn rfc3339(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

impl Today {
    fn group_json(&self, g: &Group) -> Value {
        json!({
            "count": g.count,
            "shown": g.tasks.len(),
            "tasks": g.tasks.iter().map(|t| t.view(self.tz)).collect::<Vec<_>>(),
        })
    }

    /// The API's shape (`GET /api/v1/today`): times in RFC 3339 with the person's offset, the
    /// zone named, every list with its full count.
    pub fn to_json(&self, calendar_names: &BTreeMap<i32, String>) -> Value {
        let tz = self.tz;
        let waiting: Vec<Value> = self
            .waiting
            .tasks
            .iter()
            .map(|t| {
                let mut v = serde_json::to_value(t.view(tz)).unwrap_or(Value::Null);
                if let Some(o) = v.as_object_mut() {
                    let days = (self.now.naive_utc() - t.created_at).num_days();
                    o.insert("waiting_days".into(), json!(days));
                }
                v
            })
            .collect();
        json!({
            "date": self.date.to_string(),
            "zone": tz.name(),
            "now": rfc3339(self.now, tz),
            "context": {
                "contexts": self.context.contexts,
                "chosen": self.context.chosen,
                "rule": self.context.rule,
            },
            "agenda": {
                "events": self.agenda.iter().map(|a| {
                    let name = calendar_names.get(&a.occurrence.calendar_id).map(String::as_str).unwrap_or("");
                    let mut v = a.occurrence.to_json(tz, name);
                    if let Some(o) = v.as_object_mut() {
                        o.insert("now".into(), json!(a.now));
                        o.insert("call".into(), json!(a.call));
                    }
                    v
                }).collect::<Vec<_>>(),
                "truncated": self.agenda_truncated,
            },
            "overdue": self.group_json(&self.overdue),
            "due_today": self.group_json(&self.due_today),
            "priority": self.group_json(&self.priority),
            "waiting": { "count": self.waiting.count, "shown": waiting.len(), "tasks": waiting },
            "done_today": self.group_json(&self.done_today),
            "what_next": self.what_next.iter().map(|s| json!({
                "task": s.task.view(tz),
                "score": s.score,
                "reasons": s.reasons,
            })).collect::<Vec<_>>(),
            "schedules": {
                "firings": self.firings.iter().map(|f| json!({
                    "schedule_id": f.schedule_id,
                    "name": f.name,
                    "agent": f.agent,
                    "at": rfc3339(f.at, tz),
                })).collect::<Vec<_>>(),
                "more": self.firings_more,
            },
            "runs": self.runs.iter().map(|r| json!({
                "id": r.id,
                "schedule_id": r.schedule_id,
                "schedule": r.name,
                "state": r.state,
                "scheduled_for": rfc3339(r.scheduled_for, tz),
                "finished_at": r.finished_at.map(|t| rfc3339(t, tz)),
                "error": r.error,
            })).collect::<Vec<_>>(),
            "notifications": {
                "unread": self.unread,
                "latest": self.notifications.iter().map(|n| json!({
                    "id": n.id,
                    "title": n.title,
                    "level": n.level,
                    "created_at": rfc3339(n.created(), tz),
                })).collect::<Vec<_>>(),
            },
            "stats": {
                "done_per_day": self.stats.done_per_day.iter().map(|(d, n)| json!({"date": d.to_string(), "done": n})).collect::<Vec<_>>(),
                "runs": {
                    "succeeded": self.stats.runs_succeeded,
                    "failed": self.stats.runs_failed,
                    "success_rate": self.stats.success_rate(),
                },
                "open_per_project": self.stats.projects.iter().map(|(p, n)| json!({"project": p, "open": n})).collect::<Vec<_>>(),
                "more_projects": self.stats.projects_more,
            },
        })
    }
}
