//! The weekly follow-up: open tasks in `@waiting` that nobody touched for N days (Settings),
//! gathered into one reminder, as the design seed's `waiting-followup` job. It is a cron
//! schedule of the `notify` agent with source `waiting`; its text is written at fire time.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;

use super::{Settings, Subject};
use crate::clock::to_ms;
use crate::db::Conn;
use crate::db::schema::{schedules, tasks};
use crate::error::AppError;
use crate::schedules::spec::CronExpr;
use crate::tasks::Task;

/// How many waiting tasks the follow-up names (it says how many more there are).
const LISTED: usize = 20;

/// Creates or updates the follow-up's schedule to match the settings.
pub fn ensure(conn: &mut Conn, s: &Settings, now: DateTime<Utc>, tz: Tz) -> Result<(), AppError> {
    let source = Subject::Waiting.key();
    let next = if s.waiting_days > 0 {
        CronExpr::parse(&s.waiting_cron)?.next_after(now, tz).map(to_ms)
    } else {
        None
    };
    let existing: Option<(i32, String, String, Option<i64>)> = schedules::table
        .filter(schedules::source.eq(&source))
        .select((schedules::id, schedules::spec, schedules::tz, schedules::next_fire_at))
        .first(conn)
        .optional()?;
    match existing {
        // Unchanged: keep the timetable the scheduler advanced.
        Some((_, spec, zone, Some(_))) if spec == s.waiting_cron && zone == tz.name() && next.is_some() => {}
        Some((id, ..)) => {
            diesel::update(schedules::table.find(id))
                .set((
                    schedules::spec.eq(&s.waiting_cron),
                    schedules::tz.eq(tz.name()),
                    schedules::next_fire_at.eq(next),
                    schedules::updated_at.eq(to_ms(now)),
                ))
                .execute(conn)?;
            super::rearmed();
        }
        None if next.is_some() => {
            super::insert(conn, "Waiting for", "cron", &s.waiting_cron, tz, 2, &source, next, now)?;
            super::rearmed();
        }
        None => {}
    }
    Ok(())
}

/// [`ensure`] with the stored settings (at start-up).
pub fn ensure_now(conn: &mut Conn, ctx: &crate::services::Ctx) -> Result<(), AppError> {
    let s = super::settings::load(conn)?;
    ensure(conn, &s, ctx.now, ctx.tz)
}

/// The follow-up's text at `at`, or `None` when nothing has waited long enough.
pub fn digest(conn: &mut Conn, s: &Settings, at: DateTime<Utc>, tz: Tz) -> Result<Option<String>, AppError> {
    let cutoff = (at - Duration::days(s.waiting_days)).naive_utc();
    let list: Vec<Task> = tasks::table
        .filter(tasks::deleted_at.is_null())
        .filter(crate::tasks::membership::open_unindexed())
        .filter(crate::tasks::membership::has_context("waiting"))
        .filter(tasks::updated_at.le(cutoff))
        .order(tasks::updated_at.asc())
        .select(Task::as_select())
        .load(conn)?;
    if list.is_empty() {
        return Ok(None);
    }
    let today = at.with_timezone(&tz).date_naive();
    let mut lines = vec![format!(
        "{} {} waiting on someone for {} days or more:",
        list.len(),
        if list.len() == 1 { "task has been" } else { "tasks have been" },
        s.waiting_days
    )];
    for t in list.iter().take(LISTED) {
        let since = chrono::TimeZone::from_utc_datetime(&Utc, &t.updated_at).with_timezone(&tz).date_naive();
        lines.push(format!("- {} (untouched {} days)", t.title, (today - since).num_days()));
    }
    if list.len() > LISTED {
        lines.push(format!("… and {} more.", list.len() - LISTED));
    }
    Ok(Some(lines.join("\n")))
}
