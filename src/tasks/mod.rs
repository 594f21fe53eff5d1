//! Tasks. Every task *is* a todo.txt line: its priority, dates, done flag and verbatim body are
//! stored, so export gives back exactly what import took. The other columns (title, projects,
//! contexts, due, threshold, recurrence) are derived from the line on every write, for
//! filtering and sorting, by [`Derived::of`].
//!
//! - [`todotxt`]: the line model, parser and printer; [`quickadd`]: the quick-add grammar;
//!   [`recur`]: recurrence; `crate::dates`: the date/time phrases both use.
//! - [`service`]: the operations (add, edit, complete, delete, import, export) shared by the
//!   pages, the API and the CLI; [`query`]: listing, grouping and paging; [`membership`]: the
//!   indexed context and project names the lists filter by.

pub mod membership;
pub mod query;
pub mod quickadd;
pub mod recur;
pub mod service;
pub mod todotxt;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::tasks;
use todotxt::{Due, TodoLine};

pub use query::{Filter, Group, StatusFilter};
pub use service::{TaskPatch, rederive_all};

/// A stored task.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tasks)]
pub struct Task {
    pub id: i32,
    pub body: String,
    pub priority: Option<String>,
    pub done: bool,
    pub created_on: Option<NaiveDate>,
    pub completed_on: Option<NaiveDate>,
    pub title: String,
    pub projects: String,
    pub contexts: String,
    pub due_date: Option<NaiveDate>,
    pub due_at: Option<NaiveDateTime>,
    pub threshold: Option<NaiveDate>,
    pub recurrence: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
    pub deleted_at: Option<NaiveDateTime>,
    /// The conversation an agent added it from.
    pub created_in: Option<i32>,
}

/// Tags with a meaning of their own; every other `key:value` is "extra".
const TYPED_TAGS: [&str; 4] = ["due", "t", "rec", crate::reminders::TAG];

impl Task {
    pub fn line(&self) -> TodoLine {
        TodoLine {
            done: self.done,
            completed: self.completed_on,
            priority: self.priority.as_deref().and_then(|p| p.chars().next()),
            created: self.created_on,
            body: self.body.clone(),
        }
    }

    pub fn project_list(&self) -> Vec<&str> {
        self.projects.split_whitespace().collect()
    }

    pub fn context_list(&self) -> Vec<&str> {
        self.contexts.split_whitespace().collect()
    }

    /// The due value as written in the line (`YYYY-MM-DD` or a date-time with offset), and the
    /// `key:value` pairs other than due, t and rec, in order: one reading of the body.
    pub fn due_and_extra(&self, tz: Tz) -> (Option<Due>, Vec<(String, String)>) {
        let tags = todotxt::parse_body(&self.body).tags;
        let due = tags.iter().find(|(k, _)| k == "due").and_then(|(_, v)| Due::parse(v, tz).ok());
        let extra = tags.into_iter().filter(|(k, _)| !TYPED_TAGS.contains(&k.as_str())).collect();
        (due, extra)
    }

    /// The API's view of the task.
    pub fn view(&self, tz: Tz) -> TaskView {
        let (due, extra) = self.due_and_extra(tz);
        TaskView {
            id: self.id,
            title: self.title.clone(),
            priority: self.priority.clone(),
            projects: self.project_list().into_iter().map(String::from).collect(),
            contexts: self.context_list().into_iter().map(String::from).collect(),
            due: due.map(|d| match d {
                Due::Date(date) => date.to_string(),
                Due::At(at) => at.to_rfc3339(),
            }),
            threshold: self.threshold.map(|d| d.to_string()),
            recurrence: self.recurrence.clone(),
            reminders: crate::reminders::task_leads(&self.body)
                .map(|leads| leads.iter().map(|l| l.to_string()).collect()),
            status: if self.done { "done" } else { "open" }.to_string(),
            created: self.created_on.map(|d| d.to_string()),
            completed: self.completed_on.map(|d| d.to_string()),
            extra: extra.into_iter().collect(),
            todotxt: self.line().to_line(),
            created_by: self.created_by.clone(),
            created_in: self.created_in,
        }
    }
}

/// A task as the JSON API shows it.
#[derive(Debug, Serialize)]
pub struct TaskView {
    pub id: i32,
    pub title: String,
    pub priority: Option<String>,
    pub projects: Vec<String>,
    pub contexts: Vec<String>,
    pub due: Option<String>,
    pub threshold: Option<String>,
    pub recurrence: Option<String>,
    /// Lead times before due (`["1d", "10m"]`); `null` means the defaults from Settings.
    pub reminders: Option<Vec<String>>,
    pub status: String,
    pub created: Option<String>,
    pub completed: Option<String>,
    pub extra: BTreeMap<String, String>,
    pub todotxt: String,
    pub created_by: String,
    pub created_in: Option<i32>,
}

/// The columns derived from a line. Values that do not parse (an impossible `due:`) derive
/// nothing: the token stays in the body, verbatim, and import reports it.
#[derive(Debug, Clone, PartialEq, AsChangeset)]
#[diesel(table_name = tasks, treat_none_as_null = true)]
pub struct Derived {
    pub title: String,
    pub projects: String,
    pub contexts: String,
    pub due_date: Option<NaiveDate>,
    pub due_at: Option<NaiveDateTime>,
    pub threshold: Option<NaiveDate>,
    pub recurrence: Option<String>,
}

impl Derived {
    pub fn of(line: &TodoLine, tz: Tz) -> Derived {
        let body = todotxt::parse_body(&line.body);
        let first = |key: &str| body.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let due = first("due").and_then(|v| Due::parse(v, tz).ok());
        let (due_date, due_at) = match due {
            Some(Due::Date(d)) => (Some(d), None),
            Some(Due::At(at)) => (Some(at.with_timezone(&tz).date_naive()), Some(at.naive_utc())),
            None => (None, None),
        };
        Derived {
            title: body.title.clone(),
            // Padded with spaces so `LIKE '% name %'` matches whole names only.
            projects: padded(&body.projects),
            contexts: padded(&body.contexts),
            due_date,
            due_at,
            threshold: first("t").and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()),
            recurrence: first("rec").and_then(|v| recur::Recurrence::parse(v).ok()).map(|r| r.to_string()),
        }
    }

    /// Problems with the typed values of a line, for import reports.
    pub fn problems(line: &TodoLine, tz: Tz) -> Vec<String> {
        let body = todotxt::parse_body(&line.body);
        let mut problems = Vec::new();
        for (key, value) in &body.tags {
            let result = match key.as_str() {
                "due" => Due::parse(value, tz).map(|_| ()),
                "t" => NaiveDate::parse_from_str(value, "%Y-%m-%d").map(|_| ()).map_err(|_| {
                    crate::dates::ParseError {
                        piece: format!("t:{value}"),
                        message: "not a date (YYYY-MM-DD)".into(),
                    }
                }),
                "rec" => recur::Recurrence::parse(value).map(|_| ()),
                _ => Ok(()),
            };
            if let Err(e) = result {
                problems.push(e.to_string());
            }
        }
        problems
    }
}

fn padded(words: &[String]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for w in words {
        if !unique.contains(&w.as_str()) {
            unique.push(w);
        }
    }
    format!(" {} ", unique.join(" "))
}

/// When the task is due, relative to now, for display.
pub fn due_state(task: &Task, now: DateTime<Utc>, today: NaiveDate) -> &'static str {
    match (task.due_date, task.due_at) {
        _ if task.done => "",
        (_, Some(at)) if at < now.naive_utc() => "overdue",
        (Some(d), None) if d < today => "overdue",
        (Some(d), _) if d == today => "today",
        (Some(_), _) => "upcoming",
        (None, _) => "",
    }
}
