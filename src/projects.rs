//! Projects: every `+project` written in tasks, with its progress (open and done counts), its
//! next due task, its last activity and whether it is stalled (nothing moved for
//! [`stalled_days`], a setting, 14 by default), plus what the person says about it in the
//! `projects` table: a one-line outcome, a target date, and whether it is archived.
//!
//! [`list`] is the one place these numbers come from: the page, `GET /api/v1/projects`, the
//! `list_projects` tool and the weekly briefing's "stalled projects" all call it. The counting
//! itself is [`summarise`], a pure function table-tested with a fixed clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::{from_ms, to_ms};
use crate::db::Conn;
use crate::db::schema::{projects, tasks};
use crate::error::AppError;
use crate::services::Ctx;

/// The setting: days without a change after which a project with open tasks is stalled.
pub const STALLED_SETTING: &str = "projects.stalled_days";
pub const DEFAULT_STALLED_DAYS: i64 = 14;
/// The longest outcome line.
const OUTCOME_CHARS: usize = 200;

/// What the person says about a project.
#[derive(Debug, Clone, Default, Queryable, Selectable)]
#[diesel(table_name = projects)]
pub struct Meta {
    pub name: String,
    pub outcome: Option<String>,
    pub target_date: Option<NaiveDate>,
    pub archived_at: Option<i64>,
    pub updated_at: i64,
}

/// The few columns of a task that projects need.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tasks)]
pub struct TaskRow {
    pub id: i32,
    pub title: String,
    pub projects: String,
    pub done: bool,
    pub due_date: Option<NaiveDate>,
    pub updated_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
}

/// A task due next in a project.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NextDue {
    pub id: i32,
    pub title: String,
    pub due: NaiveDate,
}

/// One project as every door shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Project {
    pub name: String,
    pub open: i64,
    pub done: i64,
    /// Done out of all, in whole percent (0 for a project without tasks).
    pub percent: i64,
    pub next_due: Option<NextDue>,
    /// The last time one of its tasks was added, changed or completed.
    #[serde(serialize_with = "opt_rfc3339")]
    pub last_activity: Option<DateTime<Utc>>,
    /// Open tasks, and nothing moved for the stalled setting's days.
    pub stalled: bool,
    pub outcome: Option<String>,
    pub target_date: Option<NaiveDate>,
    pub archived: bool,
    /// Its next event: the first in the coming [`EVENT_DAYS`] whose title names `+project`
    /// (filled by [`overview`]; the counting leaves it empty).
    pub next_event: Option<NextEvent>,
}

/// An event coming up in a project.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NextEvent {
    pub id: i32,
    pub title: String,
    #[serde(serialize_with = "rfc3339")]
    pub start: DateTime<Utc>,
    pub all_day: bool,
}

/// How far ahead a project's next event is looked for.
pub const EVENT_DAYS: i64 = 60;

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::schedules::rfc3339(*t))
}

fn opt_rfc3339<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&crate::schedules::rfc3339(*t)),
        None => s.serialize_none(),
    }
}

impl Project {
    /// The task list of this project.
    pub fn tasks_link(&self) -> String {
        format!("/tasks?project={}", urlencode(&self.name))
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Days after which a project with open tasks is stalled (the setting, else 14).
pub fn stalled_days(conn: &mut Conn) -> Result<i64, AppError> {
    Ok(crate::db::settings::get(conn, STALLED_SETTING)?
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|d| (1..=365).contains(d))
        .unwrap_or(DEFAULT_STALLED_DAYS))
}

pub fn set_stalled_days(conn: &mut Conn, days: i64) -> Result<i64, AppError> {
    if !(1..=365).contains(&days) {
        return Err(AppError::invalid("stalled_days", format!("{days} is not between 1 and 365")));
    }
    crate::db::settings::set(conn, STALLED_SETTING, &days.to_string())?;
    Ok(days)
}

/// Every project in use (and every one with a `projects` row), by name; archived ones too
/// (each says so).
pub fn list(conn: &mut Conn, ctx: &Ctx) -> Result<Vec<Project>, AppError> {
    let rows: Vec<TaskRow> = tasks::table
        .filter(tasks::deleted_at.is_null())
        .filter(tasks::projects.ne(""))
        .select(TaskRow::as_select())
        .load(conn)?;
    let meta: Vec<Meta> = projects::table.select(Meta::as_select()).load(conn)?;
    let days = stalled_days(conn)?;
    Ok(summarise(&rows, &meta, ctx.now, days))
}

/// The projects as the Projects page, the API and the `list_projects` tool show them: the
/// counts of [`list`] (archived ones only when asked) and each one's next event.
pub fn overview(conn: &mut Conn, ctx: &Ctx, archived: bool) -> Result<Vec<Project>, AppError> {
    let mut list: Vec<Project> = list(conn, ctx)?.into_iter().filter(|p| archived || !p.archived).collect();
    let (coming, _) = crate::calendar::service::occurrences(
        conn,
        ctx,
        ctx.now,
        ctx.now + Duration::days(EVENT_DAYS),
        None,
    )?;
    for p in &mut list {
        p.next_event = coming
            .iter()
            .filter(|o| o.end_at > ctx.now && names_project(&o.title, &p.name))
            .min_by_key(|o| o.start_at)
            .map(|o| NextEvent {
                id: o.event_id,
                title: o.title.clone(),
                start: o.start_at,
                all_day: o.all_day,
            });
    }
    Ok(list)
}

/// Whether an event's title names `+project` (as a word, any case, punctuation after it allowed).
fn names_project(title: &str, project: &str) -> bool {
    title.split_whitespace().any(|w| {
        w.strip_prefix('+')
            .map(|n| n.trim_end_matches(|c: char| c.is_ascii_punctuation() && c != '_' && c != '-'))
            .is_some_and(|n| n.eq_ignore_ascii_case(project))
    })
}

/// One project by name (`+` optional).
pub fn get(conn: &mut Conn, ctx: &Ctx, name: &str) -> Result<Project, AppError> {
    let name = name.trim().trim_start_matches('+');
    list(conn, ctx)?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| AppError::NotFound(format!("no project +{name} (no task names it)")))
}

/// The counting: tasks (any order) and the stored rows, at `now`.
pub fn summarise(rows: &[TaskRow], meta: &[Meta], now: DateTime<Utc>, stalled_days: i64) -> Vec<Project> {
    let mut out: BTreeMap<String, Project> = BTreeMap::new();
    let blank = |name: &str| Project {
        name: name.to_string(),
        open: 0,
        done: 0,
        percent: 0,
        next_due: None,
        last_activity: None,
        stalled: false,
        outcome: None,
        target_date: None,
        archived: false,
        next_event: None,
    };
    for t in rows {
        let moved = t.completed_at.map_or(t.updated_at, |c| c.max(t.updated_at)).and_utc();
        for name in t.projects.split_whitespace() {
            let p = out.entry(name.to_string()).or_insert_with(|| blank(name));
            if t.done {
                p.done += 1;
            } else {
                p.open += 1;
                if let Some(due) = t.due_date
                    && p.next_due.as_ref().is_none_or(|n| (due, t.id) < (n.due, n.id))
                {
                    p.next_due = Some(NextDue { id: t.id, title: t.title.clone(), due });
                }
            }
            p.last_activity = Some(p.last_activity.map_or(moved, |l| l.max(moved)));
        }
    }
    for m in meta {
        let p = out.entry(m.name.clone()).or_insert_with(|| blank(&m.name));
        p.outcome = m.outcome.clone();
        p.target_date = m.target_date;
        p.archived = m.archived_at.is_some();
    }
    let cutoff = now - Duration::days(stalled_days);
    for p in out.values_mut() {
        let total = p.open + p.done;
        p.percent = if total == 0 { 0 } else { p.done * 100 / total };
        p.stalled = p.open > 0 && !p.archived && p.last_activity.is_none_or(|l| l < cutoff);
    }
    out.into_values().collect()
}

/// What may change about a project; absent fields stay, `null` clears outcome or target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectPatch {
    #[serde(deserialize_with = "nullable")]
    pub outcome: Option<Option<String>>,
    /// `YYYY-MM-DD`.
    #[serde(deserialize_with = "nullable")]
    pub target_date: Option<Option<String>>,
    pub archived: Option<bool>,
}

fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Changes what the person says about a project that tasks name (or that has a row).
pub fn update(conn: &mut Conn, ctx: &Ctx, name: &str, patch: &ProjectPatch) -> Result<Project, AppError> {
    let name = name.trim().trim_start_matches('+').to_string();
    get(conn, ctx, &name)?;
    let outcome = match &patch.outcome {
        Some(Some(text)) => {
            let text = text.trim();
            if text.contains('\n') || text.chars().count() > OUTCOME_CHARS {
                return Err(AppError::invalid(
                    "outcome",
                    format!("is one line of at most {OUTCOME_CHARS} characters"),
                ));
            }
            Some((!text.is_empty()).then(|| text.to_string()))
        }
        Some(None) => Some(None),
        None => None,
    };
    let target = match &patch.target_date {
        Some(Some(text)) if !text.trim().is_empty() => {
            Some(Some(NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
                AppError::invalid("target_date", format!("{text:?} is not a date like 2026-12-31"))
            })?))
        }
        Some(_) => Some(None),
        None => None,
    };
    let now = to_ms(ctx.now);
    crate::db::write(conn, |conn| {
        let old: Meta = projects::table
            .find(&name)
            .select(Meta::as_select())
            .first(conn)
            .optional()?
            .unwrap_or(Meta { name: name.clone(), ..Meta::default() });
        let archived_at = match patch.archived {
            Some(true) => old.archived_at.or(Some(now)),
            Some(false) => None,
            None => old.archived_at,
        };
        let row = (
            projects::name.eq(&name),
            projects::outcome.eq(outcome.unwrap_or(old.outcome)),
            projects::target_date.eq(target.unwrap_or(old.target_date)),
            projects::archived_at.eq(archived_at),
            projects::updated_at.eq(now),
        );
        diesel::replace_into(projects::table).values(row).execute(conn)?;
        Ok(())
    })?;
    get(conn, ctx, &name)
}

/// When a project was archived, for the page.
pub fn archived_at(conn: &mut Conn, name: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    let at: Option<Option<i64>> =
        projects::table.find(name).select(projects::archived_at).first(conn).optional()?;
    Ok(at.flatten().map(from_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> NaiveDateTime {
        Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap().naive_utc()
    }

    fn task(id: i32, projects: &str, done: bool, due: Option<u32>, updated: u32) -> TaskRow {
        TaskRow {
            id,
            title: format!("t{id}"),
            projects: format!(" {projects} "),
            done,
            due_date: due.map(|d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap()),
            updated_at: at(updated, 9),
            completed_at: done.then(|| at(updated, 10)),
        }
    }

    #[test]
    fn counts_progress_next_due_and_stalled_at_a_fixed_clock() {
        let now = Utc.with_ymd_and_hms(2026, 12, 30, 12, 0, 0).unwrap();
        let rows = vec![
            task(1, "home", false, Some(31), 20),
            task(2, "home", true, None, 29),
            task(3, "home", false, Some(28), 3),
            task(4, "garden", false, None, 16), // 14 days and 3 hours ago: stalled
            task(5, "garden home", true, None, 1),
            task(6, "tax", true, None, 1), // only done: never stalled
            task(7, "edge", false, None, 16),
        ];
        let meta = vec![
            Meta { name: "edge".into(), archived_at: Some(1), ..Meta::default() },
            Meta { name: "plans".into(), outcome: Some("A plan".into()), ..Meta::default() },
        ];
        let got = summarise(&rows, &meta, now, 14);
        type Line<'a> = (&'a str, i64, i64, i64, Option<i32>, bool, bool);
        let table: Vec<Line> = got
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.open,
                    p.done,
                    p.percent,
                    p.next_due.as_ref().map(|n| n.id),
                    p.stalled,
                    p.archived,
                )
            })
            .collect();
        assert_eq!(
            table,
            vec![
                ("edge", 1, 0, 0, None, false, true),
                ("garden", 1, 1, 50, None, true, false),
                ("home", 2, 2, 50, Some(3), false, false),
                ("plans", 0, 0, 0, None, false, false),
                ("tax", 0, 1, 100, None, false, false),
            ]
        );
        let home = got.iter().find(|p| p.name == "home").unwrap();
        assert_eq!(home.last_activity, Some(at(29, 10).and_utc()));
    }

    #[test]
    fn an_event_names_a_project_as_a_word_in_any_case() {
        for (title, named) in [
            ("Kickoff +acme", true),
            ("Kickoff +ACME.", true),
            ("+acme: review", true),
            ("Kickoff +acme-2", false),
            ("Kickoff +acmecorp", false),
            ("Kickoff acme", false),
            ("Kickoff (+acme)", false),
        ] {
            assert_eq!(names_project(title, "acme"), named, "{title}");
        }
        assert!(names_project("Ship +acme-2", "acme-2"));
    }

    #[test]
    fn stalled_turns_at_exactly_the_setting() {
        let updated = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let rows = vec![task(1, "p", false, None, 1)];
        for (now, days, stalled) in [
            (updated + Duration::days(14), 14, false),
            (updated + Duration::days(14) + Duration::milliseconds(1), 14, true),
            (updated + Duration::days(3), 2, true),
            (updated + Duration::days(3), 30, false),
        ] {
            assert_eq!(summarise(&rows, &[], now, days)[0].stalled, stalled, "{now} {days}");
        }
    }
}
