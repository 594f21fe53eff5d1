//! The calendar: calendars (the person's own and subscribed ones) and events, recurring ones
//! included.
//!
//! An event keeps its start and end as written ([`Wall`]: a local date-time in its IANA zone,
//! a floating local date-time, or a date for all-day events) and derives UTC instants from them
//! for range queries. A recurring series is one row (the master: `rrule`, `rdates`, `exdates`);
//! an overridden occurrence is a row of its own with the master's `uid` and the occurrence it
//! replaces in `recurrence_id` (RFC 5545 RECURRENCE-ID), in the master's frame.
//!
//! - [`recur`]: RRULE parsing and expansion (RFC 5545), exact across DST;
//! - [`service`]: the operations every door calls (create, update and delete with an occurrence
//!   scope, calendars, occurrences in a range);
//! - [`ics`]: reading and writing iCalendar files.

pub mod feeds;
#[cfg(test)]
mod fuzz_tests;
pub mod history;
pub mod ics;
#[cfg(test)]
mod ics_tests;
pub mod quickadd;
pub mod recur;
pub mod service;
pub mod subscriptions;
#[cfg(test)]
mod tests;
pub mod today;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::from_ms;
use crate::db::schema::{calendars, events};

pub use service::{EventInput, Occurrence, Scope, Target};

/// At most this many occurrences in one answer (then `truncated`).
pub const MAX_OCCURRENCES: usize = 10_000;

/// A calendar: the person's own, or a subscription (`source_url` set: read-only).
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = calendars)]
pub struct Calendar {
    pub id: i32,
    pub name: String,
    pub colour: String,
    pub visible: bool,
    /// Secret for Google/iCloud addresses: never serialised whole (see [`Calendar::view`]).
    #[serde(skip)]
    pub source_url: Option<String>,
    pub refresh_minutes: Option<i32>,
    #[serde(skip)]
    pub etag: Option<String>,
    #[serde(skip)]
    pub last_modified: Option<String>,
    pub last_refresh_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Default reminders of its events: lead times before the start (`["10m"]`; `[]` none).
    #[serde(serialize_with = "lead_list")]
    pub reminders: String,
}

fn lead_list<S: serde::Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    json_list(text).serialize(s)
}

impl Calendar {
    /// Subscribed calendars are refreshed from their source and cannot be edited here.
    pub fn is_subscribed(&self) -> bool {
        self.source_url.is_some()
    }
}

/// A stored event row: a single event, a series' master, or an override of one occurrence.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct Event {
    pub id: i32,
    pub calendar_id: i32,
    pub uid: String,
    pub recurrence_id: Option<String>,
    pub sequence: i32,
    pub title: String,
    pub all_day: bool,
    pub zone: Option<String>,
    pub start_local: String,
    pub end_local: String,
    pub start_at: i64,
    pub end_at: i64,
    pub last_end_at: Option<i64>,
    pub rrule: Option<String>,
    pub exdates: String,
    pub rdates: String,
    pub location: Option<String>,
    pub notes: Option<String>,
    pub categories: String,
    pub alarms: String,
    pub status: Option<String>,
    pub extra: Option<String>,
    pub created_by: String,
    pub created_in: Option<i32>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    /// The event's own reminders (JSON list of lead times, `[]` none); `None`: its imported
    /// alarms, else its calendar's default.
    pub reminders: Option<String>,
}

/// A kept VALARM: its action and trigger as written, and the whole block (unfolded lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    pub action: String,
    pub trigger: String,
    pub raw: String,
}

/// An RDATE: a start, or a period (start and end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RDate {
    At(Wall),
    Period(Wall, Wall),
}

impl RDate {
    pub fn start(&self) -> Wall {
        match self {
            RDate::At(w) | RDate::Period(w, _) => *w,
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            RDate::At(w) => w.to_text(),
            RDate::Period(a, b) => format!("{}/{}", a.to_text(), b.to_text()),
        }
    }

    pub fn parse(text: &str) -> Option<RDate> {
        match text.split_once('/') {
            Some((a, b)) => Some(RDate::Period(Wall::parse(a)?, Wall::parse(b)?)),
            None => Wall::parse(text).map(RDate::At),
        }
    }
}

impl Event {
    /// The zone the event was written in; `None` for floating and all-day events.
    pub fn tz(&self) -> Option<Tz> {
        self.zone.as_deref().and_then(|z| z.parse().ok())
    }

    pub fn start(&self) -> Wall {
        Wall::parse(&self.start_local).unwrap_or(Wall::Date(NaiveDate::MIN))
    }

    pub fn end(&self) -> Wall {
        Wall::parse(&self.end_local).unwrap_or_else(|| self.start())
    }

    pub fn is_recurring(&self) -> bool {
        self.rrule.is_some() || (self.rdates != "[]" && !self.rdate_list().is_empty())
    }

    pub fn is_override(&self) -> bool {
        self.recurrence_id.is_some()
    }

    pub fn exdate_list(&self) -> Vec<Wall> {
        json_list(&self.exdates).iter().filter_map(|t| Wall::parse(t)).collect()
    }

    pub fn rdate_list(&self) -> Vec<RDate> {
        json_list(&self.rdates).iter().filter_map(|t| RDate::parse(t)).collect()
    }

    pub fn category_list(&self) -> Vec<String> {
        json_list(&self.categories)
    }

    pub fn alarm_list(&self) -> Vec<Alarm> {
        serde_json::from_str(&self.alarms).unwrap_or_default()
    }

    /// The event's own reminder lead times (`None`: not set here).
    pub fn reminder_list(&self) -> Option<Vec<String>> {
        self.reminders.as_deref().map(json_list)
    }

    pub fn recurrence_key(&self) -> Option<Wall> {
        self.recurrence_id.as_deref().and_then(Wall::parse)
    }

    /// The first occurrence's start as an instant (floating and all-day read in `tz`).
    pub fn start_utc(&self, tz: Tz) -> DateTime<Utc> {
        self.start().instant(self.tz(), tz)
    }

    pub fn cancelled(&self) -> bool {
        self.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED"))
    }

    /// The API's view of the event.
    pub fn view(&self, calendar: &str) -> EventView {
        EventView {
            id: self.id,
            uid: self.uid.clone(),
            calendar: calendar.to_string(),
            calendar_id: self.calendar_id,
            title: self.title.clone(),
            start: self.start().to_api(),
            end: self.end().to_api(),
            all_day: self.all_day,
            zone: self.zone.clone(),
            rrule: self.rrule.clone(),
            exdates: self.exdate_list().iter().map(Wall::to_api).collect(),
            rdates: self.rdate_list().iter().map(RDate::to_text).collect(),
            recurrence_id: self.recurrence_id.clone(),
            location: self.location.clone(),
            notes: self.notes.clone(),
            categories: self.category_list(),
            sequence: self.sequence,
            status: self.status.clone(),
            alarms: self.alarm_list().len(),
            reminders: self.reminder_list(),
            created_by: self.created_by.clone(),
            created_in: self.created_in,
            created_at: crate::schedules::rfc3339(from_ms(self.created_at)),
            updated_at: crate::schedules::rfc3339(from_ms(self.updated_at)),
        }
    }
}

/// An event as the JSON API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub id: i32,
    pub uid: String,
    pub calendar: String,
    pub calendar_id: i32,
    pub title: String,
    /// `2026-03-02T09:30` in `zone` (or floating), `2026-03-02` for all-day events.
    pub start: String,
    pub end: String,
    pub all_day: bool,
    /// IANA zone; `null` = floating (or all-day).
    pub zone: Option<String>,
    pub rrule: Option<String>,
    pub exdates: Vec<String>,
    pub rdates: Vec<String>,
    /// Set on an override: the occurrence of the series it replaces.
    pub recurrence_id: Option<String>,
    pub location: Option<String>,
    pub notes: Option<String>,
    pub categories: Vec<String>,
    pub sequence: i32,
    pub status: Option<String>,
    /// How many reminders (VALARM) are kept with the event.
    pub alarms: usize,
    /// The event's own reminders (lead times before the start, like `["10m", "1d"]`; `[]` none);
    /// `null`: its imported alarms, else the calendar's default.
    pub reminders: Option<Vec<String>>,
    pub created_by: String,
    pub created_in: Option<i32>,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn to_json_list<T: AsRef<str>>(items: &[T]) -> String {
    serde_json::to_string(&items.iter().map(AsRef::as_ref).collect::<Vec<&str>>())
        .unwrap_or_else(|_| "[]".into())
}

/// A start or end as written: a date (all-day) or a local date-time (in the event's zone, or
/// floating). Ordered by time (a date sorts as its midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wall {
    Date(NaiveDate),
    DateTime(NaiveDateTime),
}

impl Serialize for Wall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_api())
    }
}

impl Ord for Wall {
    fn cmp(&self, other: &Wall) -> std::cmp::Ordering {
        self.naive().cmp(&other.naive())
    }
}

impl PartialOrd for Wall {
    fn partial_cmp(&self, other: &Wall) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Wall {
    /// The local date-time (midnight for a date).
    pub fn naive(&self) -> NaiveDateTime {
        match self {
            Wall::Date(d) => d.and_time(NaiveTime::MIN),
            Wall::DateTime(t) => *t,
        }
    }

    pub fn date(&self) -> NaiveDate {
        self.naive().date()
    }

    pub fn is_date(&self) -> bool {
        matches!(self, Wall::Date(_))
    }

    /// Stored form: `2026-03-02T09:30:00` or `2026-03-02`.
    pub fn to_text(&self) -> String {
        match self {
            Wall::Date(d) => d.format("%Y-%m-%d").to_string(),
            Wall::DateTime(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        }
    }

    /// The API's form: `2026-03-02T09:30` (seconds when not zero) or `2026-03-02`.
    pub fn to_api(&self) -> String {
        use chrono::{Datelike, Timelike};
        // Integers rather than a format string: pages and the API write thousands of these.
        let d = self.date();
        if !(0..=9999).contains(&d.year()) {
            return match self {
                Wall::Date(d) => d.format("%Y-%m-%d").to_string(),
                Wall::DateTime(t) if t.second() == 0 => t.format("%Y-%m-%dT%H:%M").to_string(),
                Wall::DateTime(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            };
        }
        match self {
            Wall::Date(d) => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
            Wall::DateTime(t) if t.second() == 0 => {
                format!("{:04}-{:02}-{:02}T{:02}:{:02}", t.year(), t.month(), t.day(), t.hour(), t.minute())
            }
            Wall::DateTime(t) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
        }
    }

    /// Reads the stored or API form (`T` or a space between date and time; seconds optional).
    pub fn parse(text: &str) -> Option<Wall> {
        let text = text.trim();
        if text.len() == 10 {
            return NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(Wall::Date);
        }
        for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                return Some(Wall::DateTime(t));
            }
        }
        None
    }

    /// The instant this wall time means in `zone` (an event's zone), or, for floating times and
    /// dates, in `fallback` (the person's zone). See [`resolve`] for gaps and overlaps.
    pub fn instant(&self, zone: Option<Tz>, fallback: Tz) -> DateTime<Utc> {
        resolve(zone.unwrap_or(fallback), self.naive())
    }

    /// The instant used for storage and range queries: zoned times exactly; floating times and
    /// dates as if written in UTC (within a day of any real reading).
    pub fn index_ms(&self, zone: Option<Tz>) -> i64 {
        match (self, zone) {
            (Wall::DateTime(t), Some(z)) => resolve(z, *t).timestamp_millis(),
            _ => self.naive().and_utc().timestamp_millis(),
        }
    }
}

/// Range queries widen their bounds by this much for floating and all-day events, which are
/// indexed as if written in UTC.
pub const FLOATING_SLACK: Duration = Duration::hours(26);

/// The instant a local date-time means in `tz`, per RFC 5545 §3.3.5: a time in a DST gap (it
/// does not exist) is read with the offset in force before the gap (02:30 on the spring-forward
/// day in Berlin becomes 03:30 CEST); an ambiguous time (it happens twice) means the first.
pub fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // The offset in force before the gap: that of an instant well before it.
            let mut probe = local - Duration::hours(6);
            for _ in 0..8 {
                if let Some(before) = tz.from_local_datetime(&probe).earliest() {
                    let offset = before.offset().fix();
                    return (local - Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc();
                }
                probe -= Duration::hours(6);
            }
            local.and_utc()
        }
    }
}
