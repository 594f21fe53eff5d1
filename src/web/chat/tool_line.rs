//! What a tool call did, in one line a person reads ("Added *Buy milk*, due tomorrow, +home"),
//! with a link to what changed. The card keeps the JSON one click away; this is the line above
//! it. One function for every tool, table-tested below.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::tasks::todotxt::Due;
use crate::web::view;

/// A line of text with at most one link in it: `before`, the link's text, `after`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolLine {
    pub before: String,
    /// The link's text and where it leads.
    pub link: Option<(String, String)>,
    pub after: String,
}

impl ToolLine {
    fn plain(text: impl Into<String>) -> ToolLine {
        ToolLine { before: text.into(), ..ToolLine::default() }
    }

    fn linked(before: impl Into<String>, text: impl Into<String>, href: impl Into<String>) -> ToolLine {
        ToolLine { before: before.into(), link: Some((text.into(), href.into())), after: String::new() }
    }

    fn then(mut self, after: impl Into<String>) -> ToolLine {
        self.after.push_str(&after.into());
        self
    }

    /// The line as text, the link's text in `*stars*` (for tests and logs).
    pub fn text(&self) -> String {
        let link = self.link.as_ref().map(|(t, _)| format!("*{t}*")).unwrap_or_default();
        format!("{}{link}{}", self.before, self.after)
    }

    pub fn href(&self) -> Option<&str> {
        self.link.as_ref().map(|(_, h)| h.as_str())
    }
}

/// Where a call is.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// Called; no result yet.
    Running,
    /// Held for the person's confirmation.
    Awaiting,
    Failed(&'a str),
    Done(&'a Value),
}

/// The line for a call of `name` with `args` (its arguments as JSON; `Null` when they were
/// not JSON). Times are in words in `tz` ("tomorrow 17:00", "Fri 09:00").
pub fn line(name: &str, args: &Value, outcome: Outcome, tz: Tz, now: DateTime<Utc>) -> ToolLine {
    match outcome {
        Outcome::Running => ToolLine::plain(format!("Running: {}…", what(name, args))),
        Outcome::Awaiting => ToolLine::plain(format!("Asks to {}.", what(name, args))),
        Outcome::Failed(error) => {
            ToolLine::plain(format!("Could not {}: {}", what(name, args), sentence(error)))
        }
        Outcome::Done(result) => done(name, args, result, &Words { tz, now }),
    }
}

/// What the call asks for, as the rest of "Could not …": "add the task", "cancel schedule #3".
fn what(name: &str, args: &Value) -> String {
    let id = args.get("id").and_then(Value::as_i64);
    let numbered = |thing: &str| match id {
        Some(id) => format!("{thing} #{id}"),
        None => format!("the {thing}"),
    };
    match name {
        "list_tasks" => "list the tasks".into(),
        "add_task" => "add the task".into(),
        "complete_task" => format!("complete {}", numbered("task")),
        "update_task" => format!("change {}", numbered("task")),
        "list_schedules" => "list the schedules".into(),
        "create_schedule" => "create the schedule".into(),
        "cancel_schedule" => format!("cancel {}", numbered("schedule")),
        "pause_schedule" if args.get("resume").and_then(Value::as_bool) == Some(true) => {
            format!("resume {}", numbered("schedule"))
        }
        "pause_schedule" => format!("pause {}", numbered("schedule")),
        "schedule_wakeup" => "schedule the wake-up".into(),
        "list_runs" => "list the runs".into(),
        "notify" => "send the notification".into(),
        other => format!("run {other}"),
    }
}

/// An error message as the end of a sentence: a full stop unless it has one.
fn sentence(error: &str) -> String {
    let error = error.trim();
    if error.ends_with(['.', '!', '?']) { error.to_string() } else { format!("{error}.") }
}

struct Words {
    tz: Tz,
    now: DateTime<Utc>,
}

impl Words {
    /// A task's due as the list shows it, in the middle of a sentence ("tomorrow 17:00").
    fn due(&self, due: &str) -> String {
        let parsed = match NaiveDate::parse_from_str(due, "%Y-%m-%d") {
            Ok(d) => Some(Due::Date(d)),
            Err(_) => DateTime::parse_from_rfc3339(due).ok().map(Due::At),
        };
        parsed.map(|d| lower_day(view::due(&d, self.tz, self.now))).unwrap_or_else(|| due.to_string())
    }

    /// A day ("in 3 days" style words are not used: "24 Dec", "Fri", "tomorrow").
    fn day(&self, day: &str) -> String {
        match NaiveDate::parse_from_str(day, "%Y-%m-%d") {
            Ok(d) => lower_day(view::day(d, self.now.with_timezone(&self.tz).date_naive())),
            Err(_) => day.to_string(),
        }
    }

    /// An instant (RFC 3339) in words ("Fri 09:00", "today 15:00").
    fn instant(&self, at: &str) -> String {
        match DateTime::parse_from_rfc3339(at) {
            Ok(t) => lower_day(view::instant(t.with_timezone(&Utc), self.tz, self.now)),
            Err(_) => at.to_string(),
        }
    }
}

/// "Today 09:00" reads "today 09:00" inside a sentence; weekdays and dates keep their capital.
fn lower_day(words: String) -> String {
    for day in ["Today", "Tomorrow", "Yesterday"] {
        if let Some(rest) = words.strip_prefix(day) {
            return format!("{}{rest}", day.to_lowercase());
        }
    }
    words
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// A todo.txt `rec:` value in words: "1w" -> "every week", "+2d" -> "every 2 days".
fn repeats(rec: &str) -> String {
    let body = rec.trim_start_matches('+');
    let (n, unit) = body.split_at(body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len()));
    let n: u32 = n.parse().unwrap_or(1);
    let unit = match unit {
        "d" => ("day", "days"),
        "b" => ("business day", "business days"),
        "w" => ("week", "weeks"),
        "m" => ("month", "months"),
        "y" => ("year", "years"),
        _ => return format!("repeats ({rec})"),
    };
    if n == 1 { format!("repeats every {}", unit.0) } else { format!("repeats every {n} {}", unit.1) }
}

/// ", due tomorrow, +home @phone": what a person wants to know about a task at a glance.
fn task_details(task: &Value, words: &Words) -> String {
    let mut parts = Vec::new();
    if let Some(due) = str_of(task, "due") {
        parts.push(format!("due {}", words.due(due)));
    }
    if let Some(rec) = str_of(task, "recurrence") {
        parts.push(repeats(rec));
    }
    if let Some(p) = str_of(task, "priority") {
        parts.push(format!("priority {p}"));
    }
    let tags: Vec<String> = strings(task, "projects")
        .into_iter()
        .map(|p| format!("+{p}"))
        .chain(strings(task, "contexts").into_iter().map(|c| format!("@{c}")))
        .collect();
    if !tags.is_empty() {
        parts.push(tags.join(" "));
    }
    parts.into_iter().map(|p| format!(", {p}")).collect()
}

/// ": due Fri 17:00, priority B": the fields an update set, with their new values.
fn task_changes(args: &Value, task: &Value, words: &Words) -> String {
    let set = |key: &str| args.get(key).is_some();
    let mut parts = Vec::new();
    if set("title") {
        parts.push("renamed".to_string());
    }
    if set("due") {
        parts.push(str_of(task, "due").map_or("no due date".into(), |d| format!("due {}", words.due(d))));
    }
    if set("threshold") {
        parts.push(
            str_of(task, "threshold")
                .map_or("no start date".into(), |d| format!("hidden until {}", words.day(d))),
        );
    }
    if set("recurrence") {
        parts.push(str_of(task, "recurrence").map_or("no longer repeats".into(), repeats));
    }
    if set("priority") {
        parts.push(str_of(task, "priority").map_or("no priority".into(), |p| format!("priority {p}")));
    }
    if set("projects") {
        let p = strings(task, "projects");
        parts.push(if p.is_empty() {
            "no projects".into()
        } else {
            p.iter().map(|p| format!("+{p}")).collect::<Vec<_>>().join(" ")
        });
    }
    if set("contexts") {
        let c = strings(task, "contexts");
        parts.push(if c.is_empty() {
            "no contexts".into()
        } else {
            c.iter().map(|c| format!("@{c}")).collect::<Vec<_>>().join(" ")
        });
    }
    if set("extra") {
        parts.push("tags changed".into());
    }
    if parts.is_empty() { String::new() } else { format!(": {}", parts.join(", ")) }
}

/// `/tasks?q=…&project=…` for the filters a `list_tasks` call used.
fn tasks_href(args: &Value) -> String {
    let pairs: Vec<(&str, &str)> = ["q", "project", "context", "priority", "status"]
        .into_iter()
        .filter_map(|k| str_of(args, k).map(|v| (k, v)))
        .collect();
    match serde_urlencoded::to_string(&pairs) {
        Ok(q) if !q.is_empty() => format!("/tasks?{q}"),
        _ => "/tasks".into(),
    }
}

/// The task's row on the Tasks page (done tasks sit in the Done group).
fn task_href(task: &Value) -> String {
    match (task.get("id").and_then(Value::as_i64), str_of(task, "status")) {
        (Some(_), Some("done")) => "/tasks?status=done".into(),
        (Some(id), _) => format!("/tasks#task-{id}"),
        (None, _) => "/tasks".into(),
    }
}

fn schedule_href(s: &Value) -> String {
    s.get("id").and_then(Value::as_i64).map_or("/schedules".into(), |id| format!("/schedules#schedule-{id}"))
}

fn next_run(s: &Value, words: &Words) -> String {
    match str_of(s, "next_run") {
        Some(at) => format!(", next run {}", words.instant(at)),
        None => ", with no run ahead".into(),
    }
}

fn title_of(v: &Value) -> String {
    str_of(v, "title").or_else(|| str_of(v, "name")).unwrap_or("(untitled)").to_string()
}

fn done(name: &str, args: &Value, result: &Value, words: &Words) -> ToolLine {
    let listed = |key: &str, one: &str, many: &str, href: String| {
        let n = result.get(key).and_then(Value::as_array).map_or(0, Vec::len);
        let more = !result.get("next_cursor").is_none_or(Value::is_null);
        match (n, more) {
            (0, _) => ToolLine::linked("Found ", format!("no {many}"), href),
            (n, true) => ToolLine::linked("Listed ", format!("the first {}", count(n, one, many)), href),
            (n, false) => ToolLine::linked("Listed ", count(n, one, many), href),
        }
    };
    match name {
        "add_task" => {
            ToolLine::linked("Added ", title_of(result), task_href(result)).then(task_details(result, words))
        }
        "complete_task" => {
            let line = ToolLine::linked("Completed ", title_of(result), task_href(result));
            match result.get("next").filter(|n| n.is_object()) {
                Some(next) => match str_of(next, "due") {
                    Some(due) => line.then(format!("; the next one is due {}", words.due(due))),
                    None => line.then("; the next one is on the list"),
                },
                None => line,
            }
        }
        "update_task" => {
            let verb = match str_of(args, "status") {
                Some("done") => "Completed ",
                Some("open") => "Reopened ",
                _ => "Updated ",
            };
            ToolLine::linked(verb, title_of(result), task_href(result))
                .then(task_changes(args, result, words))
        }
        "list_tasks" => {
            let line = listed("tasks", "task", "tasks", tasks_href(args));
            let mut about = Vec::new();
            if let Some(q) = str_of(args, "q") {
                about.push(format!(" matching “{q}”"));
            }
            if let Some(p) = str_of(args, "project") {
                about.push(format!(" in +{p}"));
            }
            if let Some(c) = str_of(args, "context") {
                about.push(format!(" at @{c}"));
            }
            line.then(about.concat())
        }
        "list_schedules" => listed("schedules", "schedule", "schedules", "/schedules".into()),
        "create_schedule" | "schedule_wakeup" => {
            ToolLine::linked("Scheduled ", title_of(result), schedule_href(result))
                .then(next_run(result, words))
        }
        "pause_schedule" => {
            let line = ToolLine::linked("", title_of(result), schedule_href(result));
            if result.get("active").and_then(Value::as_bool) == Some(true) {
                ToolLine { before: "Resumed ".into(), ..line }.then(next_run(result, words))
            } else {
                ToolLine { before: "Paused ".into(), ..line }
            }
        }
        "cancel_schedule" => {
            let id = result.get("id").or_else(|| args.get("id")).and_then(Value::as_i64);
            let text = id.map_or("the schedule".into(), |id| format!("schedule #{id}"));
            ToolLine::linked(format!("Cancelled {text} (its past runs stay on the "), "Runs page", "/runs")
                .then(")")
        }
        "list_runs" => {
            let href = match (args.get("schedule").and_then(Value::as_i64), str_of(args, "state")) {
                (Some(s), _) => format!("/schedules/{s}/runs"),
                (None, Some(state)) => serde_urlencoded::to_string([("state", state)])
                    .map_or("/runs".into(), |q| format!("/runs?{q}")),
                (None, None) => "/runs".into(),
            };
            listed("runs", "run", "runs", href)
        }
        "notify" => ToolLine::linked("Sent you a notification: ", title_of(args), "/notifications"),
        other => ToolLine::plain(format!("Ran {other}.")),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    /// Thursday 3 December 2026, 10:00 in Berlin.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).single().unwrap_or_default()
    }

    fn task(extra: Value) -> Value {
        let mut t = json!({
            "id": 7, "title": "Buy milk", "priority": null, "projects": [], "contexts": [], "due": null,
            "threshold": null, "recurrence": null, "status": "open", "created": "2026-12-03",
            "completed": null, "extra": {}, "todotxt": "2026-12-03 Buy milk", "created_by": "agent",
            "created_in": 1,
        });
        if let (Some(t), Value::Object(extra)) = (t.as_object_mut(), extra) {
            t.extend(extra);
        }
        t
    }

    fn schedule(extra: Value) -> Value {
        let mut s = json!({
            "id": 4, "name": "Standup", "prompt": "Summarise", "agent": "default", "kind": "cron",
            "cron": "0 9 * * 5", "tz": "Europe/Berlin", "status": "active", "active": true,
            "next_run": "2026-12-04T08:00:00Z", "created_by": "agent",
        });
        if let (Some(s), Value::Object(extra)) = (s.as_object_mut(), extra) {
            s.extend(extra);
        }
        s
    }

    /// An [`Outcome`] that owns its result, for the table.
    #[derive(Debug)]
    enum O {
        Running,
        Awaiting,
        Failed(&'static str),
        Done(Value),
    }

    #[test]
    fn every_tool_reads_as_one_line_with_a_link() {
        let cases: Vec<(&str, Value, O, &str, Option<&str>)> = vec![
            (
                "add_task",
                json!({"text": "Buy milk tomorrow +home"}),
                O::Done(task(json!({"due": "2026-12-04", "projects": ["home"]}))),
                "Added *Buy milk*, due tomorrow, +home",
                Some("/tasks#task-7"),
            ),
            (
                "add_task",
                json!({"title": "Call mom"}),
                O::Done(task(json!({
                    "title": "Call mom", "due": "2026-12-08T17:00:00+01:00", "priority": "A",
                    "contexts": ["phone"], "recurrence": "+1w",
                }))),
                "Added *Call mom*, due Tue 17:00, repeats every week, priority A, @phone",
                Some("/tasks#task-7"),
            ),
            (
                "complete_task",
                json!({"id": 7}),
                O::Done({
                    let mut t = task(json!({"status": "done"}));
                    t["next"] = Value::Null;
                    t
                }),
                "Completed *Buy milk*",
                Some("/tasks?status=done"),
            ),
            (
                "complete_task",
                json!({"id": 7}),
                O::Done({
                    let mut t = task(json!({"status": "done", "recurrence": "1w"}));
                    t["next"] = task(json!({"id": 8, "due": "2026-12-10"}));
                    t
                }),
                "Completed *Buy milk*; the next one is due 10 Dec",
                Some("/tasks?status=done"),
            ),
            (
                "update_task",
                json!({"id": 7, "due": "fri 5pm", "priority": null}),
                O::Done(task(json!({"due": "2026-12-04T17:00:00+01:00"}))),
                "Updated *Buy milk*: due tomorrow 17:00, no priority",
                Some("/tasks#task-7"),
            ),
            (
                "update_task",
                json!({"id": 7, "status": "open"}),
                O::Done(task(json!({}))),
                "Reopened *Buy milk*",
                Some("/tasks#task-7"),
            ),
            (
                "list_tasks",
                json!({"project": "home", "q": "milk"}),
                O::Done(
                    json!({"tasks": [task(json!({})), task(json!({})), task(json!({}))], "next_cursor": null}),
                ),
                "Listed *3 tasks* matching “milk” in +home",
                Some("/tasks?q=milk&project=home"),
            ),
            (
                "list_tasks",
                json!({}),
                O::Done(json!({"tasks": [task(json!({}))], "next_cursor": 9})),
                "Listed *the first 1 task*",
                Some("/tasks"),
            ),
            (
                "list_tasks",
                json!({"status": "done"}),
                O::Done(json!({"tasks": [], "next_cursor": null})),
                "Found *no tasks*",
                Some("/tasks?status=done"),
            ),
            (
                "list_schedules",
                json!({}),
                O::Done(json!({"schedules": [schedule(json!({}))]})),
                "Listed *1 schedule*",
                Some("/schedules"),
            ),
            (
                "create_schedule",
                json!({"prompt": "Summarise", "cron": "0 9 * * 5"}),
                O::Done(schedule(json!({}))),
                "Scheduled *Standup*, next run tomorrow 09:00",
                Some("/schedules#schedule-4"),
            ),
            (
                "schedule_wakeup",
                json!({"prompt": "Check the oven", "at": "in 20m"}),
                O::Done(schedule(json!({
                    "name": "Wake-up: Check the oven", "next_run": "2026-12-09T08:00:00Z",
                }))),
                "Scheduled *Wake-up: Check the oven*, next run Wed 09:00",
                Some("/schedules#schedule-4"),
            ),
            (
                "pause_schedule",
                json!({"id": 4}),
                O::Done(schedule(json!({"active": false, "status": "paused", "next_run": null}))),
                "Paused *Standup*",
                Some("/schedules#schedule-4"),
            ),
            (
                "pause_schedule",
                json!({"id": 4, "resume": true}),
                O::Done(schedule(json!({}))),
                "Resumed *Standup*, next run tomorrow 09:00",
                Some("/schedules#schedule-4"),
            ),
            (
                "cancel_schedule",
                json!({"id": 4}),
                O::Done(json!({"id": 4, "deleted": true})),
                "Cancelled schedule #4 (its past runs stay on the *Runs page*)",
                Some("/runs"),
            ),
            (
                "list_runs",
                json!({"schedule": 4}),
                O::Done(json!({"runs": [{}, {}], "next_cursor": null})),
                "Listed *2 runs*",
                Some("/schedules/4/runs"),
            ),
            (
                "notify",
                json!({"title": "Time to stretch"}),
                O::Done(json!({"id": 1, "sent": true})),
                "Sent you a notification: *Time to stretch*",
                Some("/notifications"),
            ),
            ("mystery", json!({}), O::Done(json!({})), "Ran mystery.", None),
            (
                "add_task",
                json!({"text": "Lunch feb 30"}),
                O::Failed("due: February has 28 days in 2027"),
                "Could not add the task: due: February has 28 days in 2027.",
                None,
            ),
            (
                "complete_task",
                Value::Null,
                O::Failed("the arguments are not valid JSON: EOF"),
                "Could not complete the task: the arguments are not valid JSON: EOF.",
                None,
            ),
            (
                "cancel_schedule",
                json!({"id": 4}),
                O::Failed("No schedule 4."),
                "Could not cancel schedule #4: No schedule 4.",
                None,
            ),
            ("cancel_schedule", json!({"id": 4}), O::Awaiting, "Asks to cancel schedule #4.", None),
            ("add_task", json!({}), O::Running, "Running: add the task…", None),
        ];
        let tz: Tz = "Europe/Berlin".parse().unwrap_or(Tz::UTC);
        for (name, args, outcome, text, href) in cases {
            let outcome = match &outcome {
                O::Running => Outcome::Running,
                O::Awaiting => Outcome::Awaiting,
                O::Failed(e) => Outcome::Failed(e),
                O::Done(v) => Outcome::Done(v),
            };
            let got = line(name, &args, outcome, tz, now());
            assert_eq!((got.text().as_str(), got.href()), (text, href), "{name} {args} {outcome:?}");
        }
    }

    #[test]
    fn repeats_read_in_words() {
        for (rec, words) in [
            ("1d", "repeats every day"),
            ("+2w", "repeats every 2 weeks"),
            ("3b", "repeats every 3 business days"),
            ("1m", "repeats every month"),
            ("1y", "repeats every year"),
            ("zz", "repeats (zz)"),
        ] {
            assert_eq!(repeats(rec), words);
        }
    }
}
