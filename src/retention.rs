//! Retention: how long the run history and notifications are kept, and the pruning that keeps
//! the database bounded (a schedule firing every minute makes 525,000 runs a year).
//!
//! The rules (Settings › History, `/api/v1/settings/retention`; defaults from the config):
//! - a run that succeeded or was cancelled is kept `runs_days` (90) after it was due, one that
//!   failed `failed_days` (365): failures are what one goes back to read;
//! - whatever their age, the last `keep_per_schedule` (100) runs of each schedule stay, and the
//!   last as many triggered runs (which have no schedule), so a rare schedule keeps a history;
//! - queued and running runs are never pruned; a pruned run takes its attempts along, and a chat
//!   message it produced stays (it no longer links to the run);
//! - a notification that was read goes `notifications_days` (90) after it was made; an unread
//!   one after [`UNREAD_DAYS`] (365) or `notifications_days` if longer; none goes while one of
//!   its channel deliveries is still queued or sending; one that outlives its run no longer
//!   links to it;
//! - `0` days keeps forever.
//!
//! Pruning ([`prune`]) is the scheduler's background work: small batches ([`BATCH`] rows, one
//! short write transaction each), a pause between them so other writers get the lock, and no
//! batch begins when the scheduler has something due within [`CLEARANCE`] ([`NextDue`]), so a
//! prune never delays a firing. The space is then given back to the file system a little at a
//! time with `PRAGMA incremental_vacuum` (the database is `auto_vacuum = INCREMENTAL`; see
//! `crate::db`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, to_ms};
use crate::config::Config;
use crate::db::schema::{deliveries, messages, notifications, run_attempts, runs};
use crate::db::{Conn, Db, settings};
use crate::error::AppError;

const KEY: &str = "retention";
/// Rows per write transaction: a few milliseconds of write lock.
pub const BATCH: i64 = 500;
/// Pages returned to the file system per `incremental_vacuum` step (1 MB of 4 KB pages).
pub const VACUUM_STEP: i64 = 256;
/// The pause between two batches, so that waiting writers take the lock in between.
const PAUSE: Duration = Duration::from_millis(5);
/// No batch starts when the scheduler has work due sooner than this.
pub const CLEARANCE: Duration = Duration::from_millis(250);
/// Unread notifications are kept at least this long.
pub const UNREAD_DAYS: i64 = 365;
const DAY_MS: i64 = 86_400_000;
/// The longest any period may be (ten years).
const MAX_DAYS: i64 = 3650;

/// How long history is kept. See the module's notes for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retention {
    pub runs_days: i64,
    pub failed_days: i64,
    pub keep_per_schedule: i64,
    pub notifications_days: i64,
}

/// The typed and stored form: what a change gives (the rest stays).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetentionInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_per_schedule: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications_days: Option<i64>,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention { runs_days: 90, failed_days: 365, keep_per_schedule: 100, notifications_days: 90 }
    }
}

impl Retention {
    /// The configured defaults (`retention_*` in the file, `STEWARD_RETENTION_*`).
    pub fn from_config(config: &Config) -> Retention {
        Retention {
            runs_days: config.retention_runs_days,
            failed_days: config.retention_failed_days,
            keep_per_schedule: config.retention_keep_per_schedule,
            notifications_days: config.retention_notifications_days,
        }
    }

    pub fn input(&self) -> RetentionInput {
        RetentionInput {
            runs_days: Some(self.runs_days),
            failed_days: Some(self.failed_days),
            keep_per_schedule: Some(self.keep_per_schedule),
            notifications_days: Some(self.notifications_days),
        }
    }

    /// `input` applied over `self`, every field checked; fields are named with `prefix`
    /// (`retention_` in the config, nothing on the page and in the API).
    pub fn with(&self, input: &RetentionInput, prefix: &str) -> Result<Retention, AppError> {
        let days = |name: &str, value: Option<i64>, current: i64| -> Result<i64, AppError> {
            match value {
                None => Ok(current),
                Some(d) if (0..=MAX_DAYS).contains(&d) => Ok(d),
                Some(d) => Err(AppError::invalid(
                    format!("{prefix}{name}"),
                    format!("must be from 1 to {MAX_DAYS} days (0 keeps forever), not {d}"),
                )),
            }
        };
        let s = Retention {
            runs_days: days("runs_days", input.runs_days, self.runs_days)?,
            failed_days: days("failed_days", input.failed_days, self.failed_days)?,
            notifications_days: days(
                "notifications_days",
                input.notifications_days,
                self.notifications_days,
            )?,
            keep_per_schedule: match input.keep_per_schedule {
                None => self.keep_per_schedule,
                Some(n) if (100..=100_000).contains(&n) => n,
                Some(n) => {
                    return Err(AppError::invalid(
                        format!("{prefix}keep_per_schedule"),
                        format!("must be from 100 to 100000 runs, not {n}"),
                    ));
                }
            },
        };
        // Failed runs are kept at least as long as the others.
        let shorter = match (s.runs_days, s.failed_days) {
            (_, 0) => false,
            (0, _) => true,
            (runs, failed) => failed < runs,
        };
        if shorter {
            let like = if s.runs_days == 0 {
                "0 (forever) like the other runs".to_string()
            } else {
                format!("0 (forever) or at least {} like the other runs", s.runs_days)
            };
            return Err(AppError::invalid(
                format!("{prefix}failed_days"),
                format!("must be {like}, not {}: failed runs are kept at least as long", s.failed_days),
            ));
        }
        Ok(s)
    }

    /// Whether anything is ever pruned.
    fn prunes_runs(&self) -> bool {
        self.runs_days > 0 || self.failed_days > 0
    }
}

/// The saved settings over the configured defaults (the defaults where nothing was saved or
/// a saved value no longer reads).
pub fn load(conn: &mut Conn, config: &Config) -> Result<Retention, AppError> {
    let base = Retention::from_config(config);
    let stored: RetentionInput =
        settings::get(conn, KEY)?.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    Ok(base.with(&stored, "").unwrap_or(base))
}

/// Checks and saves a change; the next prune follows it.
pub fn save(conn: &mut Conn, config: &Config, input: &RetentionInput) -> Result<Retention, AppError> {
    crate::db::write(conn, |conn| {
        let s = load(conn, config)?.with(input, "")?;
        let json = serde_json::to_string(&s.input()).map_err(|e| AppError::Internal(e.into()))?;
        settings::set(conn, KEY, &json)?;
        Ok(s)
    })
}

/// When the scheduler next has work due, published after each of its turns, so that background
/// writers keep clear of it. Nothing due reads as `None`.
#[derive(Clone)]
pub struct NextDue(Arc<AtomicI64>);

impl Default for NextDue {
    fn default() -> NextDue {
        NextDue(Arc::new(AtomicI64::new(i64::MAX)))
    }
}

impl NextDue {
    pub fn set(&self, at: Option<DateTime<Utc>>) {
        self.0.store(at.map_or(i64::MAX, to_ms), Ordering::Relaxed);
    }

    pub fn get(&self) -> Option<i64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|ms| *ms != i64::MAX)
    }

    /// Waits until the next due work is further away than [`CLEARANCE`] (or has passed and
    /// the scheduler had its turn). Bounded: a clock that stands still (tests) cannot hold a
    /// prune forever.
    async fn keep_clear(&self, clock: &Arc<dyn Clock>) {
        for _ in 0..3 {
            let Some(due) = self.get() else { return };
            let until = due - to_ms(clock.now());
            if until > CLEARANCE.as_millis() as i64 {
                return;
            }
            // Due soon or being claimed: let the scheduler have the database first.
            tokio::time::sleep(Duration::from_millis(until.max(0) as u64 + 20)).await;
        }
    }
}

/// What one pass removed and what it cost.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PruneReport {
    pub runs: usize,
    pub attempts: usize,
    pub notifications: usize,
    /// Write transactions (prune batches and vacuum steps).
    pub batches: usize,
    /// Pages given back to the file system.
    pub vacuumed_pages: i64,
    /// The longest a single batch held the write lock.
    #[serde(skip)]
    pub longest_batch: Duration,
    /// The whole pass, pauses included.
    #[serde(skip)]
    pub took: Duration,
}

impl PruneReport {
    fn batch(&mut self, held: Duration) {
        self.batches += 1;
        self.longest_batch = self.longest_batch.max(held);
    }
}

/// One pass: prunes every group of runs and the notifications by `keep` as of `clock.now()`, in
/// batches, then gives the freed pages back.
pub async fn prune(
    db: &Db,
    clock: &Arc<dyn Clock>,
    keep: &Retention,
    next_due: &NextDue,
) -> Result<PruneReport, AppError> {
    let started = Instant::now();
    let mut report = PruneReport::default();
    let now = to_ms(clock.now());
    if keep.prunes_runs() {
        // Triggered runs (no schedule) first, then each schedule that has runs, in id order.
        let mut group: Option<i32> = None;
        loop {
            prune_group(db, clock, keep, now, group, next_due, &mut report).await?;
            let after = group.unwrap_or(i32::MIN);
            match db.run(move |conn| Ok(next_group(conn, after)?)).await? {
                Some(next) => group = Some(next),
                None => break,
            }
        }
    }
    if keep.notifications_days > 0 {
        let read_before = now - keep.notifications_days * DAY_MS;
        let unread_before = now - keep.notifications_days.max(UNREAD_DAYS) * DAY_MS;
        let mut cursor = i64::MIN;
        loop {
            next_due.keep_clear(clock).await;
            let (n, last, held) = db
                .run(move |conn| {
                    let t = Instant::now();
                    let (n, last) = crate::db::write(conn, |conn| {
                        notifications_batch(conn, cursor, read_before, unread_before)
                    })?;
                    Ok((n, last, t.elapsed()))
                })
                .await?;
            report.batch(held);
            report.notifications += n;
            match last {
                Some(last) => cursor = last,
                None => break,
            }
            tokio::time::sleep(PAUSE).await;
        }
    }
    if report.runs + report.notifications > 0 {
        give_back(db, clock, next_due, &mut report).await?;
    }
    report.took = started.elapsed();
    Ok(report)
}

/// Prunes one group of runs (a schedule's, or the triggered ones for `None`).
async fn prune_group(
    db: &Db,
    clock: &Arc<dyn Clock>,
    keep: &Retention,
    now: i64,
    group: Option<i32>,
    next_due: &NextDue,
    report: &mut PruneReport,
) -> Result<(), AppError> {
    let last = keep.keep_per_schedule;
    // The last `keep_per_schedule` runs stay: only runs due before the oldest of them go.
    // (Runs that come in meanwhile only move that line later, so it stays safe for the pass.)
    let Some(floor) = db.run(move |conn| Ok(kept_from(conn, group, last)?)).await? else {
        return Ok(());
    };
    let cut = |days: i64| if days == 0 { i64::MIN } else { (now - days * DAY_MS).min(floor) };
    let (ok_before, failed_before) = (cut(keep.runs_days), cut(keep.failed_days));
    let mut cursor = i64::MIN;
    loop {
        next_due.keep_clear(clock).await;
        let (runs, attempts, last, held) = db
            .run(move |conn| {
                let t = Instant::now();
                let (runs, attempts, last) =
                    crate::db::write(conn, |conn| runs_batch(conn, group, cursor, ok_before, failed_before))?;
                Ok((runs, attempts, last, t.elapsed()))
            })
            .await?;
        report.batch(held);
        report.runs += runs;
        report.attempts += attempts;
        match last {
            Some(last) => cursor = last,
            None => return Ok(()),
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// The schedule after `after` that has runs (one seek of `runs_by_schedule`).
fn next_group(conn: &mut Conn, after: i32) -> QueryResult<Option<i32>> {
    runs::table
        .filter(runs::schedule_id.gt(after))
        .select(diesel::dsl::min(runs::schedule_id))
        .get_result::<Option<i32>>(conn)
}

fn in_group(group: Option<i32>) -> runs::BoxedQuery<'static, diesel::sqlite::Sqlite> {
    match group {
        Some(id) => runs::table.filter(runs::schedule_id.eq(id)).into_boxed(),
        None => runs::table.filter(runs::schedule_id.is_null()).into_boxed(),
    }
}

/// When the oldest of the group's last `keep` runs was due; `None` when it has no more.
fn kept_from(conn: &mut Conn, group: Option<i32>, keep: i64) -> QueryResult<Option<i64>> {
    in_group(group)
        .order(runs::scheduled_for.desc())
        .offset(keep - 1)
        .select(runs::scheduled_for)
        .first::<i64>(conn)
        .optional()
}

/// Deletes up to [`BATCH`] prunable runs of `group` due after `cursor`, oldest first, with
/// their attempts. Returns (runs, attempts, the cursor to go on from or `None` when done).
fn runs_batch(
    conn: &mut Conn,
    group: Option<i32>,
    cursor: i64,
    ok_before: i64,
    failed_before: i64,
) -> Result<(usize, usize, Option<i64>), AppError> {
    let found: Vec<(i32, i64)> = in_group(group)
        .filter(runs::scheduled_for.gt(cursor))
        .filter(runs::scheduled_for.lt(ok_before.max(failed_before)))
        .filter(
            runs::state
                .eq_any(vec!["succeeded", "cancelled"])
                .and(runs::scheduled_for.lt(ok_before))
                .or(runs::state.eq("failed").and(runs::scheduled_for.lt(failed_before))),
        )
        .order(runs::scheduled_for.asc())
        .limit(BATCH)
        .select((runs::id, runs::scheduled_for))
        .load(conn)?;
    let ids: Vec<i32> = found.iter().map(|(id, _)| *id).collect();
    if ids.is_empty() {
        return Ok((0, 0, None));
    }
    // A conversation keeps the reply a run produced, and a notification stays until its own
    // time: only their link to the run goes (it would lead nowhere).
    diesel::update(messages::table.filter(messages::run_id.eq_any(&ids)))
        .set(messages::run_id.eq(None::<i32>))
        .execute(conn)?;
    diesel::update(notifications::table.filter(notifications::run_id.eq_any(&ids)))
        .set(notifications::run_id.eq(None::<i32>))
        .execute(conn)?;
    let attempts =
        diesel::delete(run_attempts::table.filter(run_attempts::run_id.eq_any(&ids))).execute(conn)?;
    let runs = diesel::delete(runs::table.filter(runs::id.eq_any(&ids))).execute(conn)?;
    let more = found.len() as i64 == BATCH;
    Ok((runs, attempts, found.last().map(|(_, at)| *at).filter(|_| more)))
}

/// Deletes up to [`BATCH`] prunable notifications made at or after `cursor`, oldest first,
/// with their finished deliveries. Returns how many and the cursor to go on from.
fn notifications_batch(
    conn: &mut Conn,
    cursor: i64,
    read_before: i64,
    unread_before: i64,
) -> Result<(usize, Option<i64>), AppError> {
    let found: Vec<(i32, i64)> = notifications::table
        .filter(notifications::created_at.ge(cursor))
        .filter(notifications::created_at.lt(read_before))
        .filter(notifications::read_at.is_not_null().or(notifications::created_at.lt(unread_before)))
        .order((notifications::created_at.asc(), notifications::id.asc()))
        .limit(BATCH)
        .select((notifications::id, notifications::created_at))
        .load(conn)?;
    let Some(&(_, last)) = found.last() else { return Ok((0, None)) };
    let more = found.len() as i64 == BATCH;
    let pending: std::collections::HashSet<i32> = deliveries::table
        .filter(deliveries::notification_id.eq_any(found.iter().map(|(id, _)| *id).collect::<Vec<_>>()))
        .filter(deliveries::state.eq_any(vec!["queued", "sending"]))
        .select(deliveries::notification_id)
        .load::<i32>(conn)?
        .into_iter()
        .collect();
    let ids: Vec<i32> = found.iter().map(|(id, _)| *id).filter(|id| !pending.contains(id)).collect();
    diesel::delete(deliveries::table.filter(deliveries::notification_id.eq_any(&ids))).execute(conn)?;
    let n = diesel::delete(notifications::table.filter(notifications::id.eq_any(&ids))).execute(conn)?;
    // `>=` from the last instant: rows made in the same millisecond and not yet seen stay in
    // reach (those seen and kept are read again, a handful). A whole batch kept at one instant
    // would be read forever: that ends the pass (the next one tries again).
    Ok((n, (more && !(n == 0 && last == cursor)).then_some(last)))
}

/// Gives the free pages back to the file system, [`VACUUM_STEP`] pages per write, keeping
/// clear of the scheduler like the batches. Only an `auto_vacuum = INCREMENTAL` database can.
async fn give_back(
    db: &Db,
    clock: &Arc<dyn Clock>,
    next_due: &NextDue,
    report: &mut PruneReport,
) -> Result<(), AppError> {
    if db.run(|conn| Ok(crate::db::pragma(conn, "auto_vacuum")?)).await? != 2 {
        return Ok(());
    }
    loop {
        next_due.keep_clear(clock).await;
        let (freed, held) = db
            .run(|conn| {
                let t = Instant::now();
                let before = crate::db::pragma(conn, "freelist_count")?;
                if before == 0 {
                    return Ok((0, Duration::ZERO));
                }
                conn.batch_execute(&format!("PRAGMA incremental_vacuum({VACUUM_STEP});"))?;
                let after = crate::db::pragma(conn, "freelist_count")?;
                Ok((before - after, t.elapsed()))
            })
            .await?;
        if freed <= 0 {
            return Ok(());
        }
        report.batch(held);
        report.vacuumed_pages += freed;
        tokio::time::sleep(PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{FixedClock, SystemClock, from_ms};

    const NOW: i64 = 1_790_000_000_000; // 2026-09-21

    struct Fixture {
        _dir: tempfile::TempDir,
        db: Db,
        clock: Arc<dyn Clock>,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        Fixture { _dir: dir, db, clock: Arc::new(FixedClock::new(from_ms(NOW))) }
    }

    fn schedule(conn: &mut Conn) -> i32 {
        conn.batch_execute(
            "INSERT INTO schedules (name, prompt, agent, kind, spec, tz, anchor_at, created_at, updated_at)
             VALUES ('s', 'p', 'notify', 'interval', '1h', 'UTC', 0, 0, 0)",
        )
        .unwrap();
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("last_insert_rowid()"))
            .get_result(conn)
            .unwrap()
    }

    /// `count` runs of `schedule` in `state`, the newest `days_ago` days old, one an hour
    /// before the other, each with an attempt and a ~1 KB output.
    fn runs(conn: &mut Conn, schedule: Option<i32>, state: &str, days_ago: i64, count: i64) {
        let sid = schedule.map_or("NULL".to_string(), |s| s.to_string());
        let newest = NOW - days_ago * DAY_MS;
        conn.batch_execute(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
             INSERT INTO runs (schedule_id, idempotency_key, agent, prompt, priority, scheduled_for, state,
                               max_attempts, retry_base_secs, not_before, finished_at, output, created_at)
             SELECT {sid}, '{sid}-{state}-{newest}-' || i, 'notify', 'p', 2, {newest} - i * 3600000 - {salt},
                    '{state}', 1, 30, 0, {newest} - i * 3600000, printf('%.1000c', 'x'), 0 FROM n;
             INSERT INTO run_attempts (run_id, attempt, started_at)
             SELECT id, 1, scheduled_for FROM runs WHERE id NOT IN (SELECT run_id FROM run_attempts);",
            last = count - 1,
            // Groups seeded twice must not collide on (schedule, scheduled_for).
            salt = ["succeeded", "cancelled", "failed", "queued", "running"]
                .iter()
                .position(|s| *s == state)
                .unwrap()
                * 7
                + 1,
        ))
        .unwrap();
    }

    fn count(conn: &mut Conn, sql: &str) -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("({sql})")))
            .get_result(conn)
            .unwrap()
    }

    fn prune_now(f: &Fixture, keep: &Retention) -> PruneReport {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(prune(&f.db, &f.clock, keep, &NextDue::default())).unwrap()
    }

    #[test]
    fn old_runs_go_failed_ones_later_and_each_schedule_keeps_its_last_hundred() {
        let f = fixture();
        let mut conn = f.db.conn().unwrap();
        let busy = schedule(&mut conn);
        let rare = schedule(&mut conn);
        // Busy: 300 recent successes, 500 old ones (100–120 days), 50 old failures (100 days),
        // 30 very old failures (400 days), a queued and a running run from long ago.
        runs(&mut conn, Some(busy), "succeeded", 1, 300);
        runs(&mut conn, Some(busy), "succeeded", 100, 500);
        runs(&mut conn, Some(busy), "cancelled", 100, 20);
        runs(&mut conn, Some(busy), "failed", 100, 50);
        runs(&mut conn, Some(busy), "failed", 400, 30);
        runs(&mut conn, Some(busy), "queued", 200, 1);
        runs(&mut conn, Some(busy), "running", 200, 1);
        // Rare: 150 runs, all 200 days old: the last 100 stay.
        runs(&mut conn, Some(rare), "succeeded", 200, 150);
        // Triggered runs (no schedule): 120 old ones, 100 stay.
        runs(&mut conn, None, "succeeded", 200, 120);
        // A chat message that a pruned run produced stays, unlinked.
        let old_run = count(&mut conn, &format!("SELECT MAX(id) FROM runs WHERE schedule_id = {rare}"));
        conn.batch_execute(&format!(
            "INSERT INTO conversations (title, agent, created_at, updated_at) VALUES ('c', 'default', 0, 0);
             INSERT INTO messages (conversation_id, role, content, state, run_id, created_at, updated_at)
             VALUES (last_insert_rowid(), 'assistant', 'the answer', 'done', {old_run}, 0, 0);
             INSERT INTO notifications (title, body, run_id, schedule_id, created_at)
             VALUES ('about a pruned run', '', {old_run}, {rare}, {NOW});"
        ))
        .unwrap();

        let report = prune_now(&f, &Retention::default());

        let left =
            |conn: &mut Conn, cond: &str| count(conn, &format!("SELECT COUNT(*) FROM runs WHERE {cond}"));
        assert_eq!(left(&mut conn, &format!("schedule_id = {busy} AND state = 'succeeded'")), 300);
        assert_eq!(left(&mut conn, &format!("schedule_id = {busy} AND state = 'cancelled'")), 0);
        assert_eq!(
            left(&mut conn, &format!("schedule_id = {busy} AND state = 'failed'")),
            50,
            "failed: a year"
        );
        assert_eq!(left(&mut conn, &format!("schedule_id = {busy} AND state IN ('queued', 'running')")), 2);
        assert_eq!(left(&mut conn, &format!("schedule_id = {rare}")), 100);
        // The newest 100 of the rare schedule, not any 100.
        let oldest_kept =
            count(&mut conn, &format!("SELECT MIN(scheduled_for) FROM runs WHERE schedule_id = {rare}"));
        assert_eq!(oldest_kept, NOW - 200 * DAY_MS - 99 * 3_600_000 - 1);
        assert_eq!(left(&mut conn, "schedule_id IS NULL"), 100);
        assert_eq!(report.runs, 500 + 20 + 30 + 50 + 20);
        assert_eq!(report.attempts, report.runs);
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) FROM run_attempts WHERE run_id NOT IN (SELECT id FROM runs)"),
            0
        );
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) FROM messages WHERE content = 'the answer' AND run_id IS NULL"),
            1
        );
        assert_eq!(
            count(
                &mut conn,
                "SELECT COUNT(*) FROM notifications WHERE title = 'about a pruned run' AND run_id IS NULL"
            ),
            1,
            "the notification stays, unlinked"
        );
        assert!(report.batches >= 3, "{report:?}");

        // A second pass finds nothing more.
        assert_eq!(prune_now(&f, &Retention::default()).runs, 0);
        // 0 days keeps everything.
        let forever = Retention { runs_days: 0, failed_days: 0, ..Retention::default() };
        runs(&mut conn, Some(busy), "succeeded", 500, 10);
        assert_eq!(prune_now(&f, &forever).runs, 0);
    }

    #[test]
    fn notifications_go_when_read_and_old_or_unread_and_older_but_never_while_being_delivered() {
        let f = fixture();
        let mut conn = f.db.conn().unwrap();
        let day = DAY_MS;
        conn.batch_execute(&format!(
            "INSERT INTO notifications (title, body, created_at, read_at) VALUES
               ('read old', '', {a}, {a}),
               ('read recent', '', {b}, {b}),
               ('unread old', '', {a}, NULL),
               ('unread ancient', '', {c}, NULL),
               ('read ancient, still sending', '', {c}, {c});
             INSERT INTO deliveries (notification_id, channel, state, max_attempts, not_before, created_at, updated_at)
             SELECT id, 'phone', 'queued', 3, 0, 0, 0 FROM notifications WHERE title LIKE '%still sending';
             INSERT INTO deliveries (notification_id, channel, state, max_attempts, not_before, created_at, updated_at)
             SELECT id, 'phone', 'sent', 3, 0, 0, 0 FROM notifications WHERE title = 'read old';",
            a = NOW - 100 * day,
            b = NOW - 10 * day,
            c = NOW - 400 * day,
        ))
        .unwrap();
        let report = prune_now(&f, &Retention::default());
        let titles: Vec<String> = notifications::table
            .order(notifications::title)
            .select(notifications::title)
            .load(&mut conn)
            .unwrap();
        assert_eq!(titles, ["read ancient, still sending", "read recent", "unread old"]);
        assert_eq!(report.notifications, 2);
        assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM deliveries"), 1, "the sent delivery went with it");
    }

    #[test]
    fn a_prune_gives_the_space_back_in_small_writes() {
        let f = fixture();
        let mut conn = f.db.conn().unwrap();
        assert_eq!(crate::db::pragma(&mut conn, "auto_vacuum").unwrap(), 2, "a new database is incremental");
        let s = schedule(&mut conn);
        runs(&mut conn, Some(s), "succeeded", 100, 3000);
        runs(&mut conn, Some(s), "succeeded", 1, 100);
        let pages = crate::db::pragma(&mut conn, "page_count").unwrap();
        // Without giving back, deleting leaves the pages on the free list.
        crate::db::write(&mut conn, |c| runs_batch(c, Some(s), i64::MIN, NOW - 90 * DAY_MS, i64::MIN))
            .unwrap();
        let free = crate::db::pragma(&mut conn, "freelist_count").unwrap();
        assert!(free > 50, "freelist {free}");

        let report = prune_now(&f, &Retention::default());
        assert_eq!(report.runs, 3000 - BATCH as usize);
        assert_eq!(crate::db::pragma(&mut conn, "freelist_count").unwrap(), 0);
        let after = crate::db::pragma(&mut conn, "page_count").unwrap();
        assert!(after < pages / 4, "{pages} pages before, {after} after");
        assert!(report.vacuumed_pages >= free, "{report:?}");
        // Each write is short: well inside the clearance kept before a due firing (debug
        // build, a loaded machine; the release figure is in `bench_history`).
        assert!(report.longest_batch < CLEARANCE, "{report:?}");
        assert!(report.batches > 6, "{report:?}");
    }

    #[test]
    fn pruning_waits_for_the_schedulers_due_work() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let next = NextDue::default();
        rt.block_on(async {
            let t = Instant::now();
            next.keep_clear(&clock).await;
            assert!(t.elapsed() < Duration::from_millis(20), "nothing due: at once");
            next.set(Some(clock.now() + chrono::Duration::seconds(10)));
            next.keep_clear(&clock).await;
            assert!(t.elapsed() < Duration::from_millis(20), "due later: at once");
            next.set(Some(clock.now() + chrono::Duration::milliseconds(100)));
            let t = Instant::now();
            next.keep_clear(&clock).await;
            assert!(t.elapsed() >= Duration::from_millis(100), "due soon: after it");
        });
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let base = Retention::default();
        let err = |input: RetentionInput| match base.with(&input, "") {
            Err(AppError::Invalid { field, message }) => format!("{field}: {message}"),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            err(RetentionInput { runs_days: Some(-1), ..Default::default() }),
            "runs_days: must be from 1 to 3650 days (0 keeps forever), not -1"
        );
        assert_eq!(
            err(RetentionInput { keep_per_schedule: Some(10), ..Default::default() }),
            "keep_per_schedule: must be from 100 to 100000 runs, not 10"
        );
        assert_eq!(
            err(RetentionInput { failed_days: Some(30), ..Default::default() }),
            "failed_days: must be 0 (forever) or at least 90 like the other runs, not 30: failed runs are kept at least as long"
        );
        assert_eq!(
            err(RetentionInput { runs_days: Some(0), ..Default::default() }),
            "failed_days: must be 0 (forever) like the other runs, not 365: failed runs are kept at least as long"
        );
        let s = base
            .with(
                &RetentionInput { runs_days: Some(30), notifications_days: Some(0), ..Default::default() },
                "",
            )
            .unwrap();
        assert_eq!((s.runs_days, s.failed_days, s.notifications_days), (30, 365, 0));
        assert!(base.with(&RetentionInput { failed_days: Some(0), ..Default::default() }, "").is_ok());
    }

    #[test]
    fn saved_settings_override_the_configured_defaults() {
        let f = fixture();
        let mut conn = f.db.conn().unwrap();
        let config = Config { retention_runs_days: 30, ..Config::default() };
        assert_eq!(load(&mut conn, &config).unwrap().runs_days, 30);
        save(&mut conn, &config, &RetentionInput { failed_days: Some(700), ..Default::default() }).unwrap();
        let s = load(&mut conn, &config).unwrap();
        assert_eq!((s.runs_days, s.failed_days), (30, 700));
        assert!(
            save(&mut conn, &config, &RetentionInput { failed_days: Some(7), ..Default::default() }).is_err()
        );
        assert_eq!(load(&mut conn, &config).unwrap().failed_days, 700, "a refused change saves nothing");
    }
}
