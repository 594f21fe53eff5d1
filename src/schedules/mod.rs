//! Scheduled prompts: a prompt, an agent, and when to deliver it (once, on cron, every period),
//! in an IANA zone. [`spec`] is the time math; [`service`] the operations every door calls;
//! `crate::scheduler` fires them and `crate::runs` keeps the history.

pub mod service;
pub mod spec;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::Serialize;

use crate::clock::from_ms;
use crate::db::Conn;
use crate::db::schema::schedules;
use crate::error::AppError;
pub use service::{Guards, ScheduleInput};
use spec::Spec;

/// Delivery order when several runs are ready: lower first.
pub const PRIORITIES: [&str; 5] = ["critical", "high", "normal", "low", "deferred"];

pub fn priority_name(p: i32) -> &'static str {
    PRIORITIES.get(p as usize).copied().unwrap_or("normal")
}

pub fn parse_priority(text: &str) -> Result<i32, AppError> {
    PRIORITIES.iter().position(|p| *p == text.trim().to_lowercase()).map(|p| p as i32).ok_or_else(|| {
        AppError::invalid("priority", format!("{text:?} is not one of {}", PRIORITIES.join(", ")))
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedules)]
pub struct Schedule {
    pub id: i32,
    pub name: String,
    pub prompt: String,
    pub agent: String,
    pub kind: String,
    pub spec: String,
    pub tz: String,
    pub priority: i32,
    pub active: bool,
    pub misfire: String,
    pub retry_attempts: i32,
    pub retry_base_secs: i32,
    pub until_at: Option<i64>,
    pub max_count: Option<i32>,
    pub fired_count: i32,
    pub anchor_at: i64,
    pub next_fire_at: Option<i64>,
    pub failure_streak: i32,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    pub conversation_id: Option<i32>,
    pub created_in: Option<i32>,
    /// What a reminder reminds of (`task:12`, ...); `None` for a person's scheduled prompt.
    pub source: Option<String>,
    /// The channels its answers go to, a JSON list of names (see [`Schedule::answer_to`]).
    #[diesel(column_name = answer_to)]
    pub answer_to_json: String,
}

impl Schedule {
    pub fn zone(&self) -> Tz {
        self.tz.parse().unwrap_or(Tz::UTC)
    }

    pub fn parsed(&self) -> Result<Spec, AppError> {
        Spec::from_stored(&self.kind, &self.spec)
    }

    /// The channels each answer goes to (names; `[]`: none).
    pub fn answer_to(&self) -> Vec<String> {
        parse_answer_to(&self.answer_to_json)
    }

    pub fn next_fire(&self) -> Option<DateTime<Utc>> {
        self.next_fire_at.map(from_ms)
    }

    /// "Every weekday at 09:00, Europe/Madrid".
    pub fn describe(&self) -> String {
        self.parsed().map(|s| s.describe(self.zone())).unwrap_or_else(|_| self.spec.clone())
    }

    /// active, paused, ended.
    pub fn status(&self) -> &'static str {
        if !self.active {
            "paused"
        } else if self.next_fire_at.is_none() {
            "ended"
        } else {
            "active"
        }
    }

    /// The spec under the field name the API and CLI use (`at`, `cron`, `every`).
    pub fn spec_field(&self) -> &'static str {
        spec::Kind::parse(&self.kind).map(spec::Kind::field).unwrap_or("spec")
    }

    pub fn view(&self, last_run: Option<LastRun>) -> ScheduleView {
        let tz = self.zone();
        let next = self.next_fire();
        ScheduleView {
            id: self.id,
            name: self.name.clone(),
            prompt: self.prompt.clone(),
            agent: self.agent.clone(),
            kind: self.kind.clone(),
            at: (self.kind == "once").then(|| self.spec.clone()),
            cron: (self.kind == "cron").then(|| self.spec.clone()),
            every: (self.kind == "interval").then(|| self.spec.clone()),
            tz: self.tz.clone(),
            description: self.describe(),
            priority: priority_name(self.priority),
            status: self.status(),
            active: self.active,
            misfire: self.misfire.clone(),
            retry_attempts: self.retry_attempts,
            retry_base_secs: self.retry_base_secs,
            until: self.until_at.map(|u| rfc3339(from_ms(u))),
            count: self.max_count,
            fired_count: self.fired_count,
            next_run: next.map(rfc3339),
            next_run_local: next
                .map(|n| n.with_timezone(&tz).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
            failure_streak: self.failure_streak,
            note: self.note.clone(),
            created_by: self.created_by.clone(),
            created_in: self.created_in,
            conversation_id: self.conversation_id,
            answer_to: self.answer_to(),
            created_at: rfc3339(from_ms(self.created_at)),
            last_run,
        }
    }
}

/// The most recent run of a schedule, for lists.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub id: i32,
    pub state: String,
    #[serde(serialize_with = "as_rfc3339")]
    pub scheduled_for: DateTime<Utc>,
}

fn as_rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

#[derive(Debug, Serialize)]
pub struct ScheduleView {
    pub id: i32,
    pub name: String,
    pub prompt: String,
    pub agent: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    pub tz: String,
    pub description: String,
    pub priority: &'static str,
    pub status: &'static str,
    pub active: bool,
    pub misfire: String,
    pub retry_attempts: i32,
    pub retry_base_secs: i32,
    pub until: Option<String>,
    pub count: Option<i32>,
    pub fired_count: i32,
    pub next_run: Option<String>,
    pub next_run_local: Option<String>,
    pub failure_streak: i32,
    pub note: Option<String>,
    pub created_by: String,
    /// The conversation an agent created it from.
    pub created_in: Option<i32>,
    /// The conversation its runs post into (llm and letta agents).
    pub conversation_id: Option<i32>,
    /// The channels each answer is sent to.
    pub answer_to: Vec<String>,
    pub created_at: String,
    pub last_run: Option<LastRun>,
}

/// The stored `answer_to` list (a bad one reads as empty: it is only ever written by Steward).
pub fn parse_answer_to(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A schedule that is not deleted.
pub fn get(conn: &mut Conn, id: i32) -> Result<Schedule, AppError> {
    schedules::table
        .find(id)
        .filter(schedules::deleted_at.is_null())
        .select(Schedule::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no schedule {id}")))
}
