//! Runs: one row per firing of a schedule (or per trigger), with every delivery attempt.
//! `(schedule_id, scheduled_for)` is unique, and so is the idempotency key derived from it, so
//! claiming a firing twice is a no-op and receivers can deduplicate deliveries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::clock::{from_ms, to_ms};
use crate::db::Conn;
use crate::db::schema::{run_attempts, runs, schedules};
use crate::error::AppError;
use crate::schedules::{Schedule, priority_name, rfc3339};

pub const STATES: [&str; 6] = ["queued", "retrying", "running", "succeeded", "failed", "cancelled"];

/// The state `'queued'` written into the SQL rather than bound, for queries that should use the
/// partial indexes on queued runs: SQLite matches `state = ?` to `WHERE state = 'queued'` only by
/// reading the bound value, and then plans the statement again on every execution. With the
/// literal it is planned once and stays in diesel's statement cache.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId, diesel::expression::ValidGrouping)]
pub struct Queued;

impl diesel::Expression for Queued {
    type SqlType = diesel::sql_types::Text;
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for Queued {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        out.push_sql("'queued'");
        Ok(())
    }
}

impl<QS> diesel::AppearsOnTable<QS> for Queued {}
impl<QS> diesel::SelectableExpression<QS> for Queued {}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = runs)]
pub struct Run {
    pub id: i32,
    pub schedule_id: Option<i32>,
    pub idempotency_key: String,
    pub agent: String,
    pub prompt: String,
    pub priority: i32,
    pub scheduled_for: i64,
    pub state: String,
    pub trigger: String,
    pub attempt: i32,
    pub max_attempts: i32,
    pub retry_base_secs: i32,
    pub not_before: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
}

/// A run to queue.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub schedule_id: Option<i32>,
    pub idempotency_key: String,
    pub agent: String,
    pub prompt: String,
    pub priority: i32,
    pub scheduled_for: DateTime<Utc>,
    pub trigger: String,
    pub max_attempts: i32,
    pub retry_base_secs: i32,
}

impl NewRun {
    /// The firing of `s` at `at`. The key is derived from the pair, so it is the same whoever
    /// claims it and however often.
    pub fn for_schedule(s: &Schedule, at: DateTime<Utc>, trigger: &str) -> NewRun {
        NewRun {
            schedule_id: Some(s.id),
            idempotency_key: format!("s{}-{}", s.id, to_ms(at)),
            agent: s.agent.clone(),
            prompt: s.prompt.clone(),
            priority: s.priority,
            scheduled_for: at,
            trigger: trigger.to_string(),
            max_attempts: s.retry_attempts,
            retry_base_secs: s.retry_base_secs,
        }
    }
}

/// A run's row as inserted.
#[derive(Insertable)]
#[diesel(table_name = runs, treat_none_as_default_value = false)]
struct Row<'a> {
    schedule_id: Option<i32>,
    idempotency_key: &'a str,
    agent: &'a str,
    prompt: &'a str,
    priority: i32,
    scheduled_for: i64,
    trigger: &'a str,
    max_attempts: i32,
    retry_base_secs: i32,
    not_before: i64,
    created_at: i64,
}

impl<'a> Row<'a> {
    fn new(r: &'a NewRun, now: DateTime<Utc>) -> Row<'a> {
        Row {
            schedule_id: r.schedule_id,
            idempotency_key: &r.idempotency_key,
            agent: &r.agent,
            prompt: &r.prompt,
            priority: r.priority,
            scheduled_for: to_ms(r.scheduled_for),
            trigger: &r.trigger,
            max_attempts: r.max_attempts,
            retry_base_secs: r.retry_base_secs,
            not_before: to_ms(r.scheduled_for),
            created_at: to_ms(now),
        }
    }
}

/// Queues a run; `None` when that firing already has one.
pub fn insert(conn: &mut Conn, r: &NewRun, now: DateTime<Utc>) -> Result<Option<Run>, AppError> {
    Ok(diesel::insert_into(runs::table)
        .values(Row::new(r, now))
        .on_conflict_do_nothing()
        .returning(Run::as_returning())
        .get_result(conn)
        .optional()?)
}

/// Queues many runs with a few statements (the scheduler claims thousands of firings in a
/// burst); firings that already have a run are passed over. Returns how many were queued.
pub fn insert_many(conn: &mut Conn, list: &[NewRun], now: DateTime<Utc>) -> Result<usize, AppError> {
    let mut queued = 0;
    // 100 rows of 11 values stay far below SQLite's limit on bound values per statement.
    for chunk in list.chunks(100) {
        let rows: Vec<Row> = chunk.iter().map(|r| Row::new(r, now)).collect();
        queued += diesel::insert_into(runs::table).values(rows).on_conflict_do_nothing().execute(conn)?;
    }
    Ok(queued)
}

pub fn get(conn: &mut Conn, id: i32) -> Result<Run, AppError> {
    runs::table
        .find(id)
        .select(Run::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no run {id}")))
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub schedule: Option<i32>,
    pub state: Option<String>,
    pub limit: Option<i64>,
    /// Runs older than this id (the `next_cursor` of the previous page).
    pub cursor: Option<i32>,
}

/// A page of runs, newest first, and the cursor of the next page.
pub fn list(conn: &mut Conn, f: &RunFilter) -> Result<(Vec<Run>, Option<i32>), AppError> {
    let limit = f.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid("limit", format!("{limit} is not between 1 and 500")));
    }
    let mut q = runs::table.into_boxed();
    if let Some(s) = f.schedule {
        q = q.filter(runs::schedule_id.eq(s));
    }
    match f.state.as_deref().map(str::trim).filter(|s| !s.is_empty() && *s != "all") {
        None => {}
        Some("retrying") => q = q.filter(runs::state.eq("queued")).filter(runs::attempt.gt(0)),
        Some(s) if STATES.contains(&s) => q = q.filter(runs::state.eq(s.to_string())),
        Some(s) => {
            return Err(AppError::invalid("state", format!("{s:?} is not one of {}", STATES.join(", "))));
        }
    }
    if let Some(c) = f.cursor {
        q = q.filter(runs::id.lt(c));
    }
    let mut page: Vec<Run> = q.order(runs::id.desc()).limit(limit + 1).select(Run::as_select()).load(conn)?;
    let next = if page.len() as i64 > limit {
        page.truncate(limit as usize);
        page.last().map(|r| r.id)
    } else {
        None
    };
    Ok((page, next))
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = run_attempts)]
pub struct Attempt {
    pub attempt: i32,
    #[serde(serialize_with = "ms_as_rfc3339")]
    pub started_at: i64,
    #[serde(serialize_with = "opt_ms_as_rfc3339")]
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

fn ms_as_rfc3339<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&millis(*ms))
}

fn opt_ms_as_rfc3339<S: serde::Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&millis(*ms)),
        None => s.serialize_none(),
    }
}

fn millis(ms: i64) -> String {
    from_ms(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn attempts(conn: &mut Conn, run_id: i32) -> Result<Vec<Attempt>, AppError> {
    Ok(run_attempts::table
        .filter(run_attempts::run_id.eq(run_id))
        .order(run_attempts::attempt.asc())
        .select(Attempt::as_select())
        .load(conn)?)
}

/// The names of these runs' schedules.
pub fn schedule_names(
    conn: &mut Conn,
    list: &[Run],
) -> Result<std::collections::HashMap<i32, String>, AppError> {
    let ids: Vec<i32> = list.iter().filter_map(|r| r.schedule_id).collect();
    let rows: Vec<(i32, String)> = schedules::table
        .filter(schedules::id.eq_any(ids))
        .select((schedules::id, schedules::name))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

#[derive(Debug, Serialize)]
pub struct RunView {
    pub id: i32,
    pub schedule_id: Option<i32>,
    pub schedule_name: Option<String>,
    pub idempotency_key: String,
    pub agent: String,
    pub prompt: String,
    pub priority: &'static str,
    pub trigger: String,
    /// queued, retrying, running, succeeded, failed, cancelled.
    pub state: &'static str,
    pub scheduled_for: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Started minus scheduled: how late the first attempt began.
    pub lateness_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub attempt: i32,
    pub max_attempts: i32,
    /// When a run waiting to retry will be tried again.
    pub next_attempt_at: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<Attempt>>,
}

impl Run {
    pub fn shown_state(&self) -> &'static str {
        match self.state.as_str() {
            "queued" if self.attempt > 0 => "retrying",
            other => STATES.iter().find(|s| **s == other).copied().unwrap_or("queued"),
        }
    }

    pub fn lateness_ms(&self) -> Option<i64> {
        self.started_at.map(|s| s - self.scheduled_for)
    }

    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_at? - self.started_at?)
    }

    pub fn view(&self, schedule_name: Option<String>, attempts: Option<Vec<Attempt>>) -> RunView {
        RunView {
            id: self.id,
            schedule_id: self.schedule_id,
            schedule_name,
            idempotency_key: self.idempotency_key.clone(),
            agent: self.agent.clone(),
            prompt: self.prompt.clone(),
            priority: priority_name(self.priority),
            trigger: self.trigger.clone(),
            state: self.shown_state(),
            scheduled_for: millis(self.scheduled_for),
            started_at: self.started_at.map(millis),
            finished_at: self.finished_at.map(millis),
            lateness_ms: self.lateness_ms(),
            duration_ms: self.duration_ms(),
            attempt: self.attempt,
            max_attempts: self.max_attempts,
            next_attempt_at: (self.shown_state() == "retrying").then(|| millis(self.not_before)),
            output: self.output.clone(),
            error: self.error.clone(),
            attempts,
        }
    }
}

/// `GET /api/v1/status`: what the scheduler is doing.
#[derive(Debug, Serialize)]
pub struct Status {
    pub next_wake: Option<String>,
    pub active_schedules: i64,
    pub queued: i64,
    pub running: i64,
    pub failures_24h: i64,
}

pub fn status(conn: &mut Conn, now: DateTime<Utc>) -> Result<Status, AppError> {
    // Bare `active` (not `active = ?`): only then can SQLite prove that these queries match the
    // partial index `schedules_due`; otherwise they read the whole table.
    let next_fire: Option<i64> = schedules::table
        .filter(schedules::active)
        .filter(schedules::deleted_at.is_null())
        .filter(schedules::next_fire_at.is_not_null())
        .select(diesel::dsl::min(schedules::next_fire_at))
        .get_result::<Option<i64>>(conn)?;
    let next_retry: Option<i64> = runs::table
        .filter(runs::state.eq(Queued))
        .select(diesel::dsl::min(runs::not_before))
        .get_result::<Option<i64>>(conn)?;
    let next_wake = [next_fire, next_retry].into_iter().flatten().min().map(|ms| rfc3339(from_ms(ms)));
    // Every count below is a range of one index (`failures_24h` of `runs_finished`; it walked
    // every failed run before, 23.6 ms at 500,000 runs).
    let count_state = |conn: &mut Conn, s: &str| -> QueryResult<i64> {
        runs::table.filter(runs::state.eq(s)).count().get_result(conn)
    };
    Ok(Status {
        next_wake,
        // The person's prompts; reminders (which have a source) belong to tasks and events.
        active_schedules: schedules::table
            .filter(schedules::active)
            .filter(schedules::deleted_at.is_null())
            .filter(schedules::next_fire_at.is_not_null())
            .filter(schedules::source.is_null())
            .count()
            .get_result(conn)?,
        queued: count_state(conn, "queued")?,
        running: count_state(conn, "running")?,
        failures_24h: runs::table
            .filter(runs::state.eq("failed"))
            .filter(runs::finished_at.ge(to_ms(now) - 86_400_000))
            .count()
            .get_result(conn)?,
    })
}

/// Failed runs that finished at or after `since`, newest first: the first `limit` and how many.
pub fn failed_since(conn: &mut Conn, since: DateTime<Utc>, limit: i64) -> Result<(Vec<Run>, i64), AppError> {
    let base = || runs::table.filter(runs::state.eq("failed")).filter(runs::finished_at.ge(to_ms(since)));
    let limit = limit.clamp(1, 500);
    // In the order of `runs_finished (state, finished_at)`: no sort.
    let mut rows: Vec<Run> = base()
        .order((runs::finished_at.desc(), runs::id.desc()))
        .limit(limit + 1)
        .select(Run::as_select())
        .load(conn)?;
    let count = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        base().count().get_result(conn)?
    } else {
        rows.len() as i64
    };
    Ok((rows, count))
}
