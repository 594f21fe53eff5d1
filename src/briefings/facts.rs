//! The fact block: what a briefing says, read from the store at fire time, in plain text an
//! agent cannot misread. Dates and times are written out in the person's zone, and the zone is
//! named in the heading; a list that was cut says so ("12 overdue, showing 5"), so nobody takes
//! a capped list for the whole.
//!
//! Each section reads through the existing service and query functions (tasks' query module,
//! the calendar's occurrences, the run history, projects' list): no SQL of its own. The same
//! sections answer the `list_briefing_facts` tool, so "what does my week look like" in chat is
//! told the same facts.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use crate::calendar::resolve;
use crate::calendar::service::{Occurrence, occurrences};
use crate::db::Conn;
use crate::error::AppError;
use crate::services::Ctx;
use crate::tasks::{Filter, Group, Task, query};

/// Tasks shown per list (then "N overdue, showing 5").
pub const TASK_LIMIT: i64 = 5;
/// Events shown per list.
pub const EVENT_LIMIT: usize = 10;

/// The sections a briefing can hold: key, heading.
pub const SECTIONS: [(&str, &str); 13] = [
    ("events_today", "Today's events"),
    ("overdue", "Overdue tasks"),
    ("due_today", "Due today"),
    ("priority", "Top-priority open tasks (A)"),
    ("waiting", "Waiting for (@waiting)"),
    ("failures", "Failed runs in the last 24 hours"),
    ("done_today", "Done today"),
    ("moved", "Open tasks added or changed today"),
    ("tomorrow_events", "Tomorrow's first events"),
    ("tomorrow_due", "Due tomorrow"),
    ("done_week", "Done this week, by project"),
    ("stalled", "Stalled projects"),
    ("next_week_events", "Next week's calendar"),
];

pub fn is_section(key: &str) -> bool {
    SECTIONS.iter().any(|(k, _)| *k == key)
}

fn heading(key: &str) -> &'static str {
    SECTIONS.iter().find(|(k, _)| *k == key).map(|(_, h)| *h).unwrap_or("")
}

/// The whole block: a heading naming the moment and the zone, then each section.
pub fn block(conn: &mut Conn, ctx: &Ctx, title: &str, sections: &[String]) -> Result<String, AppError> {
    let local = ctx.local_now();
    let mut out = format!(
        "{title} · {}, {} ({}, UTC{})\n",
        long_date(local.date_naive()),
        local.format("%H:%M"),
        ctx.tz.name(),
        local.format("%:z"),
    );
    for key in sections {
        out.push('\n');
        out.push_str(&section(conn, ctx, key)?);
    }
    Ok(out)
}

/// One section's text (its heading line, then a line per item).
pub fn section(conn: &mut Conn, ctx: &Ctx, key: &str) -> Result<String, AppError> {
    let today = ctx.today();
    let day_start = |d: NaiveDate| resolve(ctx.tz, d.and_time(NaiveTime::MIN));
    let head = heading(key);
    Ok(match key {
        "events_today" => {
            let (from, to) = (day_start(today), day_start(today + Duration::days(1)));
            events(head, &occurrences(conn, ctx, from, to, None)?.0, ctx.tz, false, (from, to))
        }
        "tomorrow_events" => {
            let t = today + Duration::days(1);
            let (from, to) = (day_start(t), day_start(t + Duration::days(1)));
            events(
                &format!("{head} ({})", long_date(t)),
                &occurrences(conn, ctx, from, to, None)?.0,
                ctx.tz,
                false,
                (from, to),
            )
        }
        "next_week_events" => {
            let monday = next_monday(today);
            let (from, to) = (day_start(monday), day_start(monday + Duration::days(7)));
            events(
                &format!("{head} ({} to {})", short_date(monday), short_date(monday + Duration::days(6))),
                &occurrences(conn, ctx, from, to, None)?.0,
                ctx.tz,
                true,
                (from, to),
            )
        }
        "overdue" => {
            let (list, count) =
                query::group_counted(conn, ctx, &Filter::default(), Group::Overdue, TASK_LIMIT)?;
            tasks(head, "overdue", &list, count, ctx.tz)
        }
        "due_today" => {
            let (list, count) =
                query::group_counted(conn, ctx, &Filter::default(), Group::Today, TASK_LIMIT)?;
            tasks(head, "due today", &list, count, ctx.tz)
        }
        "tomorrow_due" => {
            let (list, count) = query::due_on(conn, today + Duration::days(1), TASK_LIMIT)?;
            tasks(head, "due tomorrow", &list, count, ctx.tz)
        }
        "priority" => {
            let filter = Filter { priority: Some("A".into()), ..Filter::default() };
            let (list, count) = query::open_counted(conn, &filter, TASK_LIMIT)?;
            tasks(head, "open", &list, count, ctx.tz)
        }
        "waiting" => {
            let filter = Filter { context: Some("waiting".into()), ..Filter::default() };
            // Longest waiting first.
            let (list, count) = query::open_oldest_counted(conn, &filter, TASK_LIMIT)?;
            let mut out = count_line(head, "waiting", list.len(), count);
            for t in &list {
                let since = local_day(t.created_at, ctx.tz);
                let days = (today - since).num_days();
                out.push_str(&format!(
                    "- {} · waiting {} (since {})\n",
                    task_text(t),
                    plural(days, "day"),
                    short_date(since)
                ));
            }
            out
        }
        "failures" => {
            let (list, count) = crate::runs::failed_since(conn, ctx.now - Duration::hours(24), TASK_LIMIT)?;
            let names = crate::runs::schedule_names(conn, &list)?;
            let mut out = count_line(head, "failed", list.len(), count);
            for r in &list {
                let at =
                    crate::clock::from_ms(r.finished_at.unwrap_or(r.scheduled_for)).with_timezone(&ctx.tz);
                let name =
                    r.schedule_id.and_then(|s| names.get(&s).cloned()).unwrap_or_else(|| r.agent.clone());
                let error: String = r.error.as_deref().unwrap_or("no error kept").chars().take(120).collect();
                out.push_str(&format!(
                    "- {} {} “{name}” (run #{}): {error}\n",
                    short_date(at.date_naive()),
                    at.format("%H:%M"),
                    r.id
                ));
            }
            out
        }
        "done_today" => {
            let from = day_start(today).naive_utc();
            let (list, count) = query::done_between(conn, from, ctx.now.naive_utc(), TASK_LIMIT)?;
            tasks(head, "done", &list, count, ctx.tz)
        }
        "moved" => {
            let from = day_start(today).naive_utc();
            let (list, count) = query::changed_between(conn, from, ctx.now.naive_utc(), TASK_LIMIT)?;
            tasks(head, "moved", &list, count, ctx.tz)
        }
        "done_week" => {
            let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
            let from = day_start(monday).naive_utc();
            let (list, count) = query::done_between(conn, from, ctx.now.naive_utc(), 500)?;
            let head = format!("{head} (since {})", short_date(monday));
            let mut out = count_line(&head, "done", list.len(), count);
            let mut by: std::collections::BTreeMap<String, Vec<&Task>> = Default::default();
            for t in &list {
                let key =
                    t.project_list().first().map(|p| format!("+{p}")).unwrap_or_else(|| "no project".into());
                by.entry(key).or_default().push(t);
            }
            for (project, list) in by {
                let titles: Vec<&str> =
                    list.iter().take(TASK_LIMIT as usize).map(|t| t.title.as_str()).collect();
                let more = if list.len() > titles.len() {
                    format!(", and {} more", list.len() - titles.len())
                } else {
                    String::new()
                };
                out.push_str(&format!("- {project}: {} ({}{more})\n", list.len(), titles.join("; ")));
            }
            out
        }
        "stalled" => {
            let stalled: Vec<_> =
                crate::projects::list(conn, ctx)?.into_iter().filter(|p| p.stalled).collect();
            let days = crate::projects::stalled_days(conn)?;
            let mut out = count_line(
                &format!("{head} (nothing moved for {days} days)"),
                "stalled",
                stalled.len(),
                stalled.len() as i64,
            );
            for p in &stalled {
                let since = p
                    .last_activity
                    .map(|t| short_date(t.with_timezone(&ctx.tz).date_naive()))
                    .unwrap_or_else(|| "never".into());
                out.push_str(&format!("- +{}: {} open, last moved {since}\n", p.name, p.open));
            }
            out
        }
        other => return Err(AppError::invalid("sections", format!("{other:?} is not a briefing section"))),
    })
}

/// "Overdue tasks: 12 overdue, showing 5", "Overdue tasks: 2 overdue", "Overdue tasks: none".
fn count_line(head: &str, noun: &str, shown: usize, count: i64) -> String {
    if count == 0 {
        format!("{head}: none\n")
    } else if (shown as i64) < count {
        format!("{head}: {count} {noun}, showing {shown}\n")
    } else {
        format!("{head}: {count} {noun}\n")
    }
}

fn tasks(head: &str, noun: &str, list: &[Task], count: i64, tz: Tz) -> String {
    let mut out = count_line(head, noun, list.len(), count);
    for t in list {
        out.push_str(&format!("- {}{}\n", task_text(t), due_text(t, tz)));
    }
    out
}

/// `(A) Pay rent +home (task #3)`.
fn task_text(t: &Task) -> String {
    let mut text = String::new();
    if let Some(p) = &t.priority {
        text.push_str(&format!("({p}) "));
    }
    text.push_str(&t.title);
    for p in t.project_list() {
        text.push_str(&format!(" +{p}"));
    }
    text.push_str(&format!(" (task #{})", t.id));
    text
}

/// ` · due Mon 30 Nov 2026` or ` · due Mon 30 Nov 2026 14:00`.
fn due_text(t: &Task, tz: Tz) -> String {
    match (t.due_at, t.due_date) {
        (Some(at), _) => {
            let local = at.and_utc().with_timezone(&tz);
            format!(" · due {} {}", short_date(local.date_naive()), local.format("%H:%M"))
        }
        (None, Some(d)) => format!(" · due {}", short_date(d)),
        (None, None) => String::new(),
    }
}

fn events(
    head: &str,
    list: &[Occurrence],
    tz: Tz,
    with_day: bool,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> String {
    let shown = list.len().min(EVENT_LIMIT);
    let mut out =
        count_line(head, if list.len() == 1 { "event" } else { "events" }, shown, list.len() as i64);
    for o in list.iter().take(EVENT_LIMIT) {
        let day = if with_day {
            let d = if o.all_day { o.start.date() } else { o.start_at.with_timezone(&tz).date_naive() };
            format!("{} ", short_date(d))
        } else {
            String::new()
        };
        let when = if o.all_day {
            "all day".to_string()
        } else {
            let (s, e) = (o.start_at.with_timezone(&tz), o.end_at.with_timezone(&tz));
            let start = if o.start_at < from { "(earlier)".into() } else { s.format("%H:%M").to_string() };
            let end = if o.end_at > to { "(later)".into() } else { e.format("%H:%M").to_string() };
            format!("{start}–{end}")
        };
        let place = o
            .location
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| format!(" at {l}"))
            .unwrap_or_default();
        out.push_str(&format!("- {day}{when} {}{place}\n", o.title));
    }
    out
}

fn plural(n: i64, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// "Wednesday 2 December 2026".
pub fn long_date(d: NaiveDate) -> String {
    d.format("%A %-d %B %Y").to_string()
}

/// "Wed 2 Dec 2026".
pub fn short_date(d: NaiveDate) -> String {
    d.format("%a %-d %b %Y").to_string()
}

fn local_day(utc: NaiveDateTime, tz: Tz) -> NaiveDate {
    utc.and_utc().with_timezone(&tz).date_naive()
}

/// The Monday after `day` (a week ahead when it is a Monday).
fn next_monday(day: NaiveDate) -> NaiveDate {
    let mut d = day + Duration::days(1);
    while d.weekday() != Weekday::Mon {
        d += Duration::days(1);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_say_when_a_list_was_cut() {
        assert_eq!(count_line("Overdue tasks", "overdue", 5, 12), "Overdue tasks: 12 overdue, showing 5\n");
        assert_eq!(count_line("Overdue tasks", "overdue", 2, 2), "Overdue tasks: 2 overdue\n");
        assert_eq!(count_line("Overdue tasks", "overdue", 0, 0), "Overdue tasks: none\n");
    }

    #[test]
    fn next_monday_is_strictly_after() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        for (day, monday) in [(d(12, 4), d(12, 7)), (d(12, 7), d(12, 14)), (d(12, 6), d(12, 7))] {
            assert_eq!(next_monday(day), monday);
        }
    }
}
