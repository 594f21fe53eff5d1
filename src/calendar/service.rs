//! Calendar operations, shared by the page, the API, the CLI and the agent's tools. Every change
//! is validated whole before anything is written, and bad input names the field.
//!
//! Recurring events: [`update`] and [`delete`] take a [`Target`]: the whole series, one
//! occurrence (an override row, or an EXDATE), or this and the following ones (the series is
//! split in two at that occurrence: the first part ends just before it, by COUNT when the series
//! counts, by UNTIL otherwise; the second part starts there and keeps what is left of the COUNT,
//! so no occurrence is lost or doubled).
//!
//! Live pages: these functions do not reach the event hub (they run on a connection); a door
//! that changed something calls [`announce`] afterwards.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};

use super::recur::{self, Floating, Rule, Until, UntilCheck, Zoned};
use super::{Alarm, Calendar, Event, FLOATING_SLACK, MAX_OCCURRENCES, RDate, Wall, resolve, to_json_list};
use crate::clock::{from_ms, to_ms};
use crate::db::schema::{calendars, events};
use crate::db::{self, Conn};
use crate::error::AppError;
use crate::events::Events;
use crate::services::Ctx;

/// Deleted events can be restored for this long (the page's "Undo").
pub const UNDO_WINDOW: Duration = Duration::days(1);

/// The longest title, in characters.
pub const MAX_TITLE: usize = 500;

/// Tells the open pages that a calendar changed (call after a write).
pub fn announce(events: &Events, calendar_id: Option<i32>) {
    events.send(crate::events::Event::CalendarChanged { calendar_id });
}

/// An event to create, or the fields to change (absent = unchanged; `null` clears the clearable
/// ones). Names as the API has them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventInput {
    pub title: Option<String>,
    /// `2026-03-02T09:30` (local, in `zone`), `2026-03-02` (all-day), or RFC 3339 with an
    /// offset (converted into `zone`).
    pub start: Option<String>,
    /// Exclusive end, in the same forms; defaults to an hour (a day for all-day events) after
    /// the start.
    pub end: Option<String>,
    pub all_day: Option<bool>,
    /// IANA zone; `null` or `"floating"` = floating (the same wall-clock time anywhere). Absent
    /// on create: the person's zone.
    #[serde(deserialize_with = "nullable")]
    pub zone: Option<Option<String>>,
    #[serde(deserialize_with = "nullable")]
    pub rrule: Option<Option<String>>,
    pub exdates: Option<Vec<String>>,
    pub rdates: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub location: Option<Option<String>>,
    #[serde(deserialize_with = "nullable")]
    pub notes: Option<Option<String>>,
    pub categories: Option<Vec<String>>,
    /// A calendar's name or id; default: the first calendar (Personal).
    pub calendar: Option<String>,
    /// Reminders: lead times before the start (`["10m", "1d"]`); `[]` none; `null` the
    /// imported alarms, else the calendar's default.
    #[serde(deserialize_with = "nullable")]
    pub reminders: Option<Option<Vec<String>>>,
}

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Which part of a recurring event a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    All,
    This,
    Following,
}

/// A change's target: the scope, and for `This`/`Following` the occurrence (its original
/// start in the series' frame, as [`Occurrence::recurrence_id`] gives it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub scope: Scope,
    pub occurrence: Option<Wall>,
}

impl Target {
    pub const ALL: Target = Target { scope: Scope::All, occurrence: None };

    pub fn this(occurrence: Wall) -> Target {
        Target { scope: Scope::This, occurrence: Some(occurrence) }
    }

    pub fn following(occurrence: Wall) -> Target {
        Target { scope: Scope::Following, occurrence: Some(occurrence) }
    }

    /// From the API's or a form's `scope` (`all`, `this`, `following`) and `occurrence`.
    pub fn parse(scope: Option<&str>, occurrence: Option<&str>) -> Result<Target, AppError> {
        let occurrence = match occurrence.map(str::trim).filter(|o| !o.is_empty()) {
            Some(text) => Some(parse_wall_any(text).ok_or_else(|| {
                AppError::invalid(
                    "occurrence",
                    format!("{text:?} is not an occurrence's start (2026-03-02T09:30 or 2026-03-02)"),
                )
            })?),
            None => None,
        };
        let scope = match scope.map(str::trim).filter(|s| !s.is_empty()) {
            None if occurrence.is_some() => Scope::This,
            None | Some("all") => Scope::All,
            Some("this") => Scope::This,
            Some("following") => Scope::Following,
            Some(other) => {
                return Err(AppError::invalid("scope", format!("{other:?} is not all, this or following")));
            }
        };
        if scope != Scope::All && occurrence.is_none() {
            return Err(AppError::invalid("occurrence", "is needed with scope this or following"));
        }
        Ok(Target { scope, occurrence })
    }
}

/// A wall time in the stored form, or an RFC 3339 instant's local reading (its own offset).
fn parse_wall_any(text: &str) -> Option<Wall> {
    Wall::parse(text)
        .or_else(|| DateTime::parse_from_rfc3339(text).ok().map(|t| Wall::DateTime(t.naive_local())))
}

// ---------------------------------------------------------------------------------------------
// Calendars

pub fn list_calendars(conn: &mut Conn) -> Result<Vec<Calendar>, AppError> {
    Ok(calendars::table.order(calendars::id.asc()).select(Calendar::as_select()).load(conn)?)
}

pub fn get_calendar(conn: &mut Conn, id: i32) -> Result<Calendar, AppError> {
    calendars::table
        .find(id)
        .select(Calendar::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no calendar {id}")))
}

/// A calendar by its name (any case) or id, as the API's `calendar` field gives it.
pub fn find_calendar(conn: &mut Conn, name_or_id: &str) -> Result<Calendar, AppError> {
    let wanted = name_or_id.trim();
    let all = list_calendars(conn)?;
    all.iter()
        .find(|c| c.name == wanted)
        .or_else(|| all.iter().find(|c| c.name.eq_ignore_ascii_case(wanted)))
        .or_else(|| wanted.parse::<i32>().ok().and_then(|id| all.iter().find(|c| c.id == id)))
        .cloned()
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
            AppError::invalid(
                "calendar",
                format!("{wanted:?} is not a calendar (there are: {})", names.join(", ")),
            )
        })
}

/// The calendar new events go to when none is named: the first one the person owns.
pub fn default_calendar(conn: &mut Conn) -> Result<Calendar, AppError> {
    let all = list_calendars(conn)?;
    all.into_iter()
        .find(|c| !c.is_subscribed())
        .ok_or_else(|| AppError::invalid("calendar", "there is no calendar of your own; create one first"))
}

/// A calendar's name, colour and default reminders.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarInput {
    pub name: Option<String>,
    pub colour: Option<String>,
    pub visible: Option<bool>,
    /// Default reminders of its events: lead times before the start (`["10m"]`; `[]` none).
    pub reminders: Option<Vec<String>>,
}

/// A list of lead times as stored: `["1d","10m"]`, checked and in order.
fn leads_json(items: &[String]) -> Result<String, AppError> {
    let leads = crate::reminders::parse_leads(items)?;
    Ok(to_json_list(&leads.iter().map(ToString::to_string).collect::<Vec<_>>()))
}

fn check_colour(colour: &str) -> Result<String, AppError> {
    let c = colour.trim();
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
    if !ok {
        return Err(AppError::invalid("colour", format!("{c:?} is not a colour like #3b82f6")));
    }
    Ok(c.to_ascii_lowercase())
}

fn check_calendar_name(conn: &mut Conn, name: &str, except: Option<i32>) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "is required"));
    }
    if name.chars().count() > 100 || name.contains(['\n', '\r']) {
        return Err(AppError::invalid("name", "must be one line of at most 100 characters"));
    }
    let taken =
        list_calendars(conn)?.into_iter().any(|c| c.name.eq_ignore_ascii_case(name) && Some(c.id) != except);
    if taken {
        return Err(AppError::invalid("name", format!("a calendar named {name:?} exists already")));
    }
    Ok(name.to_string())
}

pub fn create_calendar(conn: &mut Conn, ctx: &Ctx, input: &CalendarInput) -> Result<Calendar, AppError> {
    db::write(conn, |conn| {
        let name = check_calendar_name(conn, input.name.as_deref().unwrap_or(""), None)?;
        let colour = check_colour(input.colour.as_deref().unwrap_or("#3b82f6"))?;
        let reminders = input.reminders.as_deref().map(leads_json).transpose()?;
        let now = to_ms(ctx.now);
        Ok(diesel::insert_into(calendars::table)
            .values((
                calendars::name.eq(name),
                calendars::colour.eq(colour),
                calendars::visible.eq(input.visible.unwrap_or(true)),
                calendars::reminders.eq(reminders.unwrap_or_else(|| r#"["10m"]"#.into())),
                calendars::created_at.eq(now),
                calendars::updated_at.eq(now),
            ))
            .returning(Calendar::as_returning())
            .get_result(conn)?)
    })
}

pub fn update_calendar(
    conn: &mut Conn,
    ctx: &Ctx,
    id: i32,
    input: &CalendarInput,
) -> Result<Calendar, AppError> {
    db::write(conn, |conn| {
        let mut cal = get_calendar(conn, id)?;
        if let Some(name) = &input.name {
            cal.name = check_calendar_name(conn, name, Some(id))?;
        }
        if let Some(colour) = &input.colour {
            cal.colour = check_colour(colour)?;
        }
        if let Some(visible) = input.visible {
            cal.visible = visible;
        }
        let old_reminders = cal.reminders.clone();
        if let Some(list) = &input.reminders {
            cal.reminders = leads_json(list)?;
        }
        let saved = diesel::update(calendars::table.find(id))
            .set((
                calendars::name.eq(&cal.name),
                calendars::colour.eq(&cal.colour),
                calendars::visible.eq(cal.visible),
                calendars::reminders.eq(&cal.reminders),
                calendars::updated_at.eq(to_ms(ctx.now)),
            ))
            .returning(Calendar::as_returning())
            .get_result(conn)?;
        if saved.reminders != old_reminders {
            // Its events' reminders that follow the default move with it.
            crate::reminders::events::sync_calendar(conn, id, None, ctx.now, ctx.tz)?;
        }
        Ok(saved)
    })
}

/// Shows or hides a calendar on the page (the choice stays).
pub fn set_visible(conn: &mut Conn, ctx: &Ctx, id: i32, visible: bool) -> Result<Calendar, AppError> {
    update_calendar(conn, ctx, id, &CalendarInput { visible: Some(visible), ..Default::default() })
}

/// Deletes a calendar and its events. The last calendar of the person's own cannot go.
pub fn delete_calendar(conn: &mut Conn, ctx: &Ctx, id: i32) -> Result<(), AppError> {
    db::write(conn, |conn| {
        let cal = get_calendar(conn, id)?;
        let own = list_calendars(conn)?.into_iter().filter(|c| !c.is_subscribed()).count();
        if !cal.is_subscribed() && own <= 1 {
            return Err(AppError::invalid(
                "calendar",
                format!("{:?} is your only calendar; it stays", cal.name),
            ));
        }
        crate::reminders::events::end_calendar(conn, id, ctx.now)?;
        diesel::delete(events::table.filter(events::calendar_id.eq(id))).execute(conn)?;
        diesel::delete(calendars::table.find(id)).execute(conn)?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Events: reading

/// An event that is not deleted.
pub fn get(conn: &mut Conn, id: i32) -> Result<Event, AppError> {
    events::table
        .find(id)
        .filter(events::deleted_at.is_null())
        .select(Event::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no event with id {id}")))
}

/// The live row with this UID (and recurrence id) in a calendar.
pub fn by_uid(
    conn: &mut Conn,
    calendar_id: i32,
    uid: &str,
    recurrence_id: Option<&str>,
) -> Result<Option<Event>, AppError> {
    let mut q = events::table
        .filter(events::calendar_id.eq(calendar_id))
        .filter(events::uid.eq(uid))
        .filter(events::deleted_at.is_null())
        .into_boxed();
    q = match recurrence_id {
        Some(r) => q.filter(events::recurrence_id.eq(r)),
        None => q.filter(events::recurrence_id.is_null()),
    };
    Ok(q.select(Event::as_select()).first(conn).optional()?)
}

/// Every live event row (masters, single events and overrides) of some calendars (all when
/// `None`), by start.
pub fn list(conn: &mut Conn, calendar_ids: Option<&[i32]>) -> Result<Vec<Event>, AppError> {
    let mut q = events::table.filter(events::deleted_at.is_null()).into_boxed();
    if let Some(ids) = calendar_ids {
        q = q.filter(events::calendar_id.eq_any(ids.to_vec()));
    }
    Ok(q.order((events::start_at.asc(), events::id.asc())).select(Event::as_select()).load(conn)?)
}

/// The overrides of a series.
fn overrides_of(conn: &mut Conn, master: &Event) -> Result<Vec<Event>, AppError> {
    Ok(events::table
        .filter(events::calendar_id.eq(master.calendar_id))
        .filter(events::uid.eq(&master.uid))
        .filter(events::recurrence_id.is_not_null())
        .filter(events::deleted_at.is_null())
        .select(Event::as_select())
        .load(conn)?)
}

fn master_of(conn: &mut Conn, row: &Event) -> Result<Option<Event>, AppError> {
    if row.recurrence_id.is_none() {
        return Ok(Some(row.clone()));
    }
    by_uid(conn, row.calendar_id, &row.uid, None)
}

// ---------------------------------------------------------------------------------------------
// Occurrences

/// One occurrence in a range.
#[derive(Debug, Clone, Serialize)]
pub struct Occurrence {
    /// The row to open: the override's own id, or the series' (or single event's) id.
    pub event_id: i32,
    /// The series' master (same as `event_id` unless this is an override).
    pub series_id: i32,
    pub uid: String,
    pub calendar_id: i32,
    pub title: String,
    pub all_day: bool,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    /// Start and end as written, in the event's frame (`zone`, or floating; dates for all-day).
    pub start: Wall,
    pub end: Wall,
    pub zone: Option<String>,
    /// For occurrences of a recurring series: which occurrence (its original start in the
    /// series' frame), for [`Target`].
    pub recurrence_id: Option<Wall>,
    pub location: Option<String>,
    pub recurring: bool,
}

impl Occurrence {
    /// The API's shape: timed starts in RFC 3339 with the person's offset, all-day ones as dates.
    pub fn to_json(&self, tz: Tz, calendar: &str) -> serde_json::Value {
        let (start, end) = if self.all_day {
            (self.start.date().to_string(), self.end.date().to_string())
        } else {
            (
                self.start_at.with_timezone(&tz).to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                self.end_at.with_timezone(&tz).to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            )
        };
        serde_json::json!({
            "event_id": self.event_id,
            "uid": self.uid,
            "title": self.title,
            "start": start,
            "end": end,
            "all_day": self.all_day,
            "calendar": calendar,
            "recurrence_id": self.recurrence_id.map(|w| w.to_api()),
            "zone": self.zone,
            "location": self.location,
        })
    }
}

/// Writes `{"occurrences":[...],"truncated":...}` straight from the occurrences: the same text
/// as serialising [`Occurrence::to_json`]'s values (keys in the same order), without building
/// them (a year of occurrences is 10,000 objects). `calendar` names a calendar (asked once per
/// calendar).
pub fn occurrences_json(
    list: &[Occurrence],
    truncated: bool,
    tz: Tz,
    calendar: impl Fn(i32) -> String,
) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(64 + list.len() * 260);
    let mut names: HashMap<i32, Vec<u8>> = HashMap::new();
    out.extend_from_slice(b"{\"occurrences\":[");
    for (i, o) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let name = names.entry(o.calendar_id).or_insert_with(|| json_str(&calendar(o.calendar_id)));
        o.write_json(&mut out, tz, name);
    }
    out.extend_from_slice(b"],\"truncated\":");
    out.extend_from_slice(if truncated { b"true" } else { b"false" });
    out.push(b'}');
    out
}

/// A JSON string literal.
fn json_str(s: &str) -> Vec<u8> {
    serde_json::to_vec(s).unwrap_or_else(|_| b"\"\"".to_vec())
}

fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Plain text (the common case) needs no escaping.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(&json_str(s));
    }
}

fn push_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// `2026-03-02T09:30:00+01:00` (as `to_rfc3339_opts(Secs, false)`), without a format string.
fn push_rfc3339(out: &mut Vec<u8>, t: DateTime<Utc>, tz: Tz) {
    use chrono::{Datelike, Offset, Timelike};
    let local = t.with_timezone(&tz);
    let offset = local.offset().fix().local_minus_utc();
    let n = local.naive_local();
    if !(0..=9999).contains(&n.year()) || offset % 60 != 0 {
        push_json_str(out, &local.to_rfc3339_opts(chrono::SecondsFormat::Secs, false));
        return;
    }
    let two = |out: &mut Vec<u8>, v: u32| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    let y = n.year() as u32;
    out.push(b'"');
    two(out, y / 100);
    two(out, y % 100);
    out.push(b'-');
    two(out, n.month());
    out.push(b'-');
    two(out, n.day());
    out.push(b'T');
    two(out, n.hour());
    out.push(b':');
    two(out, n.minute());
    out.push(b':');
    two(out, n.second());
    out.push(if offset < 0 { b'-' } else { b'+' });
    let m = offset.unsigned_abs() / 60;
    two(out, m / 60);
    out.push(b':');
    two(out, m % 60);
    out.push(b'"');
}

impl Occurrence {
    /// Appends [`Occurrence::to_json`]'s object as text (`calendar`: the name, already a JSON
    /// string literal).
    pub fn write_json(&self, out: &mut Vec<u8>, tz: Tz, calendar: &[u8]) {
        use std::io::Write as _;
        out.extend_from_slice(b"{\"all_day\":");
        out.extend_from_slice(if self.all_day { b"true" } else { b"false" });
        out.extend_from_slice(b",\"calendar\":");
        out.extend_from_slice(calendar);
        out.extend_from_slice(b",\"end\":");
        if self.all_day {
            let _ = write!(out, "\"{}\"", self.end.date());
        } else {
            push_rfc3339(out, self.end_at, tz);
        }
        let _ = write!(out, ",\"event_id\":{},\"location\":", self.event_id);
        push_opt_str(out, self.location.as_deref());
        out.extend_from_slice(b",\"recurrence_id\":");
        match self.recurrence_id {
            Some(w) => push_json_str(out, &w.to_api()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"start\":");
        if self.all_day {
            let _ = write!(out, "\"{}\"", self.start.date());
        } else {
            push_rfc3339(out, self.start_at, tz);
        }
        out.extend_from_slice(b",\"title\":");
        push_json_str(out, &self.title);
        out.extend_from_slice(b",\"uid\":");
        push_json_str(out, &self.uid);
        out.extend_from_slice(b",\"zone\":");
        push_opt_str(out, self.zone.as_deref());
        out.push(b'}');
    }
}

/// How long each occurrence lasts: all-day events in days, timed ones exactly (zoned) or in
/// wall-clock time (floating).
#[derive(Debug, Clone, Copy)]
enum Length {
    Days(i64),
    Exact(Duration),
}

fn length_of(e: &Event) -> Length {
    let (start, end) = (e.start(), e.end());
    if e.all_day {
        return Length::Days((end.date() - start.date()).num_days().max(1));
    }
    match e.tz() {
        Some(z) => Length::Exact(resolve(z, end.naive()) - resolve(z, start.naive())),
        None => Length::Exact(end.naive() - start.naive()),
    }
}

/// One start of a series: its wall time (the occurrence's key), an RDATE period's own end, and
/// the exact instant when the wall time alone cannot say it (a sub-daily rule's second 01:30 on
/// a fall-back night).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Start {
    pub at: Wall,
    pub end: Option<Wall>,
    pub exact: Option<DateTime<Utc>>,
}

/// When an occurrence of row `e` starting at `s` starts and ends (instants, and the end's wall
/// time), read in the person's zone `tz` where it floats.
fn timing(zone: Option<Tz>, s: Start, length: Length, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = s.at;
    let start_at = s.exact.unwrap_or_else(|| start.instant(zone, tz));
    let end_at = match (s.end, length) {
        (Some(end), _) => end.instant(zone, tz),
        (None, Length::Days(n)) => Wall::Date(start.date() + Duration::days(n)).instant(zone, tz),
        (None, Length::Exact(len)) if zone.is_some() => start_at + len,
        (None, Length::Exact(len)) => Wall::DateTime(start.naive() + len).instant(None, tz),
    };
    (start_at, end_at.max(start_at))
}

/// The end's wall time of an occurrence (for the occurrences kept only: it costs a zone lookup).
fn end_wall(zone: Option<Tz>, s: Start, length: Length, end_at: DateTime<Utc>) -> Wall {
    match (s.end, length) {
        (Some(end), _) => end,
        (None, Length::Days(n)) => Wall::Date(s.at.date() + Duration::days(n)),
        (None, Length::Exact(len)) => match zone {
            Some(z) => Wall::DateTime(end_at.with_timezone(&z).naive_local()),
            None => Wall::DateTime(s.at.naive() + len),
        },
    }
}

/// An occurrence found, before it is built (cheap to sort and cut).
struct Found {
    row: usize,
    series_id: i32,
    start: Start,
    key: Option<Wall>,
    start_at: DateTime<Utc>,
    end_at: DateTime<Utc>,
}

/// Whether a zoned rule steps in elapsed time: HOURLY, MINUTELY and SECONDLY rules without
/// BYxxx parts ("every 2 hours" means 2 hours, also across a DST change: rust-rrule#115,
/// rrule-go#63). Every other rule steps in wall-clock time.
fn elapsed_steps(rule: &Rule) -> bool {
    matches!(rule.freq, recur::Freq::Hourly | recur::Freq::Minutely | recur::Freq::Secondly)
        && rule.by_hour.is_empty()
        && rule.by_minute.is_empty()
        && rule.by_second.is_empty()
        && rule.by_day.is_empty()
        && rule.by_month.is_empty()
        && rule.by_month_day.is_empty()
        && rule.by_year_day.is_empty()
}

/// The starts of a series (rule instances and RDATEs; EXDATEs removed; not overrides) that may
/// overlap `[from, to)`, plus whether the work bound cut it short. With no window, every start
/// up to `limit`.
pub fn series_starts(
    e: &Event,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    tz: Tz,
    limit: usize,
) -> (Vec<Start>, bool) {
    prepared_starts(&Prepared::of(e), window, tz, limit)
}

/// What expansion needs of a row, read from its text columns once (a long range is expanded in
/// chunks: the rule, zone and date lists are not parsed again for each).
struct Prepared {
    /// The row's zone (`None` for floating and all-day rows; [`Event::tz`]).
    tz: Option<Tz>,
    /// The series' frame: `tz`, but `None` for all-day rows.
    zone: Option<Tz>,
    start: Wall,
    end: Wall,
    length: Length,
    rule: Option<Rule>,
    rdates: Vec<RDate>,
    exdates: Vec<Wall>,
    cancelled: bool,
    recurring: bool,
}

impl Prepared {
    fn of(e: &Event) -> Prepared {
        let tz = e.tz();
        let rdates = if e.rdates == "[]" { Vec::new() } else { e.rdate_list() };
        let rule = e.rrule.as_deref().and_then(|r| Rule::parse(r).ok());
        Prepared {
            tz,
            zone: if e.all_day { None } else { tz },
            start: e.start(),
            end: e.end(),
            length: length_of(e),
            recurring: e.rrule.is_some() || !rdates.is_empty(),
            rule,
            rdates,
            exdates: if e.exdates == "[]" { Vec::new() } else { e.exdate_list() },
            cancelled: e.cancelled(),
        }
    }
}

fn prepared_starts(
    e: &Prepared,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    tz: Tz,
    limit: usize,
) -> (Vec<Start>, bool) {
    let zone = e.zone;
    let start = e.start;
    let frame = |t: DateTime<Utc>| -> NaiveDateTime {
        match zone {
            Some(z) => t.with_timezone(&z).naive_local(),
            None => t.with_timezone(&tz).naive_local(),
        }
    };
    let length = match e.length {
        Length::Days(n) => Duration::days(n),
        Length::Exact(d) => d,
    };
    let (lo, hi) = match window {
        Some((from, to)) => {
            (Some(frame(from) - length - Duration::days(1)), Some(frame(to) + Duration::days(1)))
        }
        None => (None, None),
    };
    let mut out: Vec<Start> = Vec::new();
    let mut truncated = false;
    let wrap = |t: NaiveDateTime| if start.is_date() { Wall::Date(t.date()) } else { Wall::DateTime(t) };
    match (e.rule.as_ref(), zone) {
        (Some(rule), Some(z)) if elapsed_steps(rule) => {
            // Expanded in UTC, each instant read back in the zone.
            let mut utc_rule = rule.clone();
            if let Some(Until::Local(t)) = rule.until {
                utc_rule.until = Some(Until::Utc(resolve(z, t).naive_utc()));
            }
            let to_utc = |t: NaiveDateTime| resolve(z, t).naive_utc();
            let x = recur::expand_window(
                &utc_rule,
                to_utc(start.naive()),
                lo.map(to_utc),
                hi.map(to_utc),
                limit,
                &Floating,
            );
            truncated = x.truncated;
            out.extend(x.starts.into_iter().map(|t| {
                let at = t.and_utc();
                Start { at: Wall::DateTime(at.with_timezone(&z).naive_local()), end: None, exact: Some(at) }
            }));
        }
        (Some(rule), _) => {
            let check: Box<dyn UntilCheck> = match zone {
                Some(z) => Box::new(Zoned(z)),
                None => Box::new(Floating),
            };
            let x = recur::expand_window(rule, start.naive(), lo, hi, limit, check.as_ref());
            truncated = x.truncated;
            out.extend(x.starts.into_iter().map(|t| Start { at: wrap(t), end: None, exact: None }));
        }
        (None, _) => out.push(Start { at: start, end: None, exact: None }),
    }
    for &r in &e.rdates {
        let s = r.start();
        let s = if start.is_date() { Wall::Date(s.date()) } else { s };
        if lo.is_some_and(|lo| s.naive() < lo) || hi.is_some_and(|hi| s.naive() >= hi) {
            continue;
        }
        if out.iter().any(|o| o.at == s) {
            continue;
        }
        let end = match r {
            RDate::Period(_, end) => Some(end),
            RDate::At(_) => None,
        };
        out.push(Start { at: s, end, exact: None });
    }
    let ex = &e.exdates;
    if !ex.is_empty() {
        out.retain(|o| {
            let w = o.at;
            !ex.iter().any(|x| *x == w || (x.is_date() && !w.is_date() && x.date() == w.date()))
        });
    }
    out.sort_by(|a, b| match (a.exact, b.exact) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.at.cmp(&b.at),
    });
    (out, truncated)
}

/// Every occurrence overlapping `[from, to)` in some calendars (the visible ones when `None`),
/// sorted by start; at most [`MAX_OCCURRENCES`] (then the flag is true).
pub fn occurrences(
    conn: &mut Conn,
    ctx: &Ctx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    calendar_ids: Option<&[i32]>,
) -> Result<(Vec<Occurrence>, bool), AppError> {
    let ids: Vec<i32> = match calendar_ids {
        Some(ids) => ids.to_vec(),
        None => list_calendars(conn)?.into_iter().filter(|c| c.visible).map(|c| c.id).collect(),
    };
    let (lo, hi) = (to_ms(from - FLOATING_SLACK), to_ms(to + FLOATING_SLACK));
    let rows: Vec<Event> = events::table
        .filter(events::deleted_at.is_null())
        .filter(events::calendar_id.eq_any(&ids))
        .filter(events::start_at.lt(hi))
        .filter(
            events::last_end_at
                .is_null()
                .or(events::last_end_at.gt(lo))
                .or(events::recurrence_id.is_not_null()),
        )
        .select(Event::as_select())
        .load(conn)?;
    Ok(expand_rows(&rows, ctx.tz, from, to))
}

/// Occurrences of already loaded rows (masters and their overrides) overlapping `[from, to)`,
/// the earliest [`MAX_OCCURRENCES`]. A long range is expanded a month at a time, stopping once
/// that many are found (a year of daily series need not all be generated to keep 10,000).
pub fn expand_rows(
    rows: &[Event],
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (Vec<Occurrence>, bool) {
    // Overrides by (calendar, uid): they replace their occurrence wherever they moved to.
    let mut overridden: HashMap<(i32, &str), Vec<Wall>> = HashMap::new();
    let mut masters: HashMap<(i32, &str), i32> = HashMap::new();
    for r in rows {
        match r.recurrence_key() {
            Some(k) => overridden.entry((r.calendar_id, r.uid.as_str())).or_default().push(k),
            None => {
                masters.insert((r.calendar_id, r.uid.as_str()), r.id);
            }
        }
    }
    let prepared: Vec<Prepared> = rows.iter().map(Prepared::of).collect();
    let chunk = Duration::days(31);
    let mut found: Vec<Found> = Vec::new();
    let mut truncated = false;
    let mut chunk_from = from;
    while chunk_from < to {
        let chunk_to = if to - chunk_from > chunk + chunk { chunk_from + chunk } else { to };
        // Rows that may have an occurrence starting in this chunk (index bounds, as the query's).
        let (lo, hi) = (to_ms(chunk_from - FLOATING_SLACK), to_ms(chunk_to + FLOATING_SLACK));
        let first = chunk_from == from;
        let picked: Vec<usize> = (0..rows.len())
            .filter(|&i| {
                let r = &rows[i];
                r.start_at < hi
                    && (r.last_end_at.is_none_or(|l| l > lo) || r.recurrence_id.is_some() || first)
            })
            .collect();
        let (mut part, cut) = found_in(
            rows,
            &prepared,
            &picked,
            &masters,
            &overridden,
            tz,
            (chunk_from, chunk_to),
            (!first).then_some(chunk_from),
        );
        truncated |= cut;
        found.append(&mut part);
        if found.len() > MAX_OCCURRENCES {
            break;
        }
        chunk_from = chunk_to;
    }
    if found.len() > MAX_OCCURRENCES {
        found.truncate(MAX_OCCURRENCES);
        truncated = true;
    }
    let out = found
        .into_iter()
        .map(|f| {
            let e = &rows[f.row];
            let p = &prepared[f.row];
            let end = end_wall(p.tz, f.start, p.length, f.end_at);
            Occurrence {
                event_id: e.id,
                series_id: f.series_id,
                uid: e.uid.clone(),
                calendar_id: e.calendar_id,
                title: e.title.clone(),
                all_day: e.all_day,
                start_at: f.start_at,
                end_at: f.end_at,
                start: f.start.at,
                end,
                zone: e.zone.clone(),
                recurrence_id: f.key,
                location: e.location.clone(),
                recurring: f.key.is_some(),
            }
        })
        .collect();
    (out, truncated)
}

/// The occurrences of rows `picked` overlapping `[from, to)` (and starting at or after
/// `min_start`, for the chunks after the first), sorted.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn found_in(
    rows: &[Event],
    prepared: &[Prepared],
    picked: &[usize],
    masters: &HashMap<(i32, &str), i32>,
    overridden: &HashMap<(i32, &str), Vec<Wall>>,
    tz: Tz,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    min_start: Option<DateTime<Utc>>,
) -> (Vec<Found>, bool) {
    let mut found: Vec<Found> = Vec::new();
    let mut truncated = false;
    let overlaps = |start_at: DateTime<Utc>, end_at: DateTime<Utc>| {
        start_at < to
            && (end_at > from || (end_at == start_at && start_at >= from))
            && min_start.is_none_or(|m| start_at >= m)
    };
    for &i in picked {
        let r = &rows[i];
        let p = &prepared[i];
        if p.cancelled {
            continue;
        }
        let length = p.length;
        let zone = p.tz;
        if r.recurrence_id.is_some() || !p.recurring {
            let series = match r.recurrence_id {
                Some(_) => masters.get(&(r.calendar_id, r.uid.as_str())).copied().unwrap_or(r.id),
                None => r.id,
            };
            let s = Start { at: p.start, end: Some(p.end), exact: None };
            let (start_at, end_at) = timing(zone, s, length, tz);
            if overlaps(start_at, end_at) {
                found.push(Found {
                    row: i,
                    series_id: series,
                    start: s,
                    key: r.recurrence_key(),
                    start_at,
                    end_at,
                });
            }
            continue;
        }
        let (starts, cut) = prepared_starts(p, Some((from, to)), tz, MAX_OCCURRENCES + 1);
        truncated |= cut;
        let skip = overridden.get(&(r.calendar_id, r.uid.as_str()));
        for s in starts {
            if skip.is_some_and(|keys| keys.contains(&s.at)) {
                continue;
            }
            let (start_at, end_at) = timing(zone, s, length, tz);
            if overlaps(start_at, end_at) {
                found.push(Found { row: i, series_id: r.id, start: s, key: Some(s.at), start_at, end_at });
            }
        }
    }
    found.sort_by(|a, b| {
        a.start_at
            .cmp(&b.start_at)
            .then_with(|| rows[a.row].title.cmp(&rows[b.row].title))
            .then(rows[a.row].id.cmp(&rows[b.row].id))
    });
    (found, truncated)
}

// ---------------------------------------------------------------------------------------------
// Events: writing

/// Everything an event row holds that a person or a file sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    pub calendar_id: i32,
    pub title: String,
    pub all_day: bool,
    pub zone: Option<Tz>,
    pub start: Wall,
    pub end: Wall,
    pub rrule: Option<Rule>,
    pub exdates: Vec<Wall>,
    pub rdates: Vec<RDate>,
    pub location: Option<String>,
    pub notes: Option<String>,
    pub categories: Vec<String>,
    pub alarms: Vec<Alarm>,
    pub status: Option<String>,
    pub extra: Option<String>,
    /// The event's own reminders as stored (a JSON list of lead times), `None` when not set.
    pub reminders: Option<String>,
}

impl Fields {
    pub fn of(e: &Event) -> Fields {
        Fields {
            calendar_id: e.calendar_id,
            title: e.title.clone(),
            all_day: e.all_day,
            zone: e.tz(),
            start: e.start(),
            end: e.end(),
            rrule: e.rrule.as_deref().and_then(|r| Rule::parse(r).ok()),
            exdates: e.exdate_list(),
            rdates: e.rdate_list(),
            location: e.location.clone(),
            notes: e.notes.clone(),
            categories: e.category_list(),
            alarms: e.alarm_list(),
            status: e.status.clone(),
            extra: e.extra.clone(),
            reminders: e.reminders.clone(),
        }
    }

    /// The stored columns' values (`start_at`, `end_at` and `last_end_at` derived).
    fn columns(&self) -> Columns {
        let zone = if self.all_day { None } else { self.zone };
        let start_at = self.start.index_ms(zone);
        let end_at = self.end.index_ms(zone).max(start_at);
        let mut probe = Event {
            id: 0,
            calendar_id: self.calendar_id,
            uid: String::new(),
            recurrence_id: None,
            sequence: 0,
            title: String::new(),
            all_day: self.all_day,
            zone: zone.map(|z| z.name().to_string()),
            start_local: self.start.to_text(),
            end_local: self.end.to_text(),
            start_at,
            end_at,
            last_end_at: None,
            rrule: self.rrule.as_ref().map(Rule::to_string),
            exdates: to_json_list(&self.exdates.iter().map(Wall::to_text).collect::<Vec<_>>()),
            rdates: to_json_list(&self.rdates.iter().map(RDate::to_text).collect::<Vec<_>>()),
            location: None,
            notes: None,
            categories: "[]".into(),
            alarms: "[]".into(),
            status: None,
            extra: None,
            created_by: String::new(),
            created_in: None,
            created_at: 0,
            updated_at: 0,
            deleted_at: None,
            reminders: None,
        };
        probe.last_end_at = last_end_ms(&probe);
        Columns {
            calendar_id: self.calendar_id,
            title: self.title.clone(),
            all_day: self.all_day,
            zone: probe.zone.clone(),
            start_local: probe.start_local.clone(),
            end_local: probe.end_local.clone(),
            start_at,
            end_at,
            last_end_at: probe.last_end_at,
            rrule: probe.rrule.clone(),
            exdates: probe.exdates.clone(),
            rdates: probe.rdates.clone(),
            location: self.location.clone(),
            notes: self.notes.clone(),
            categories: to_json_list(&self.categories),
            alarms: serde_json::to_string(&self.alarms).unwrap_or_else(|_| "[]".into()),
            status: self.status.clone(),
            extra: self.extra.clone(),
            reminders: self.reminders.clone(),
        }
    }
}

/// The end of a series' last occurrence (index form), or `None` when it has no end (or more
/// occurrences than are worth counting).
fn last_end_ms(e: &Event) -> Option<i64> {
    if !e.is_recurring() {
        return Some(e.end_at);
    }
    if e.rrule.as_deref().and_then(|r| Rule::parse(r).ok()).is_some_and(|r| !r.is_bounded()) {
        return None;
    }
    let (starts, truncated) = series_starts(e, None, Tz::UTC, 200_000);
    if truncated {
        return None;
    }
    let length = match length_of(e) {
        Length::Days(n) => Duration::days(n),
        Length::Exact(d) => d,
    };
    let zone = if e.all_day { None } else { e.tz() };
    let last = starts
        .iter()
        .map(|s| match s.end {
            Some(end) => end.index_ms(zone),
            None => {
                s.exact.map(|t| t.timestamp_millis()).unwrap_or_else(|| s.at.index_ms(zone))
                    + length.num_milliseconds()
            }
        })
        .max()?;
    Some(last.max(e.end_at))
}

#[derive(Debug, Clone, AsChangeset, Insertable)]
#[diesel(table_name = events, treat_none_as_null = true)]
struct Columns {
    calendar_id: i32,
    title: String,
    all_day: bool,
    zone: Option<String>,
    start_local: String,
    end_local: String,
    start_at: i64,
    end_at: i64,
    last_end_at: Option<i64>,
    rrule: Option<String>,
    exdates: String,
    rdates: String,
    location: Option<String>,
    notes: Option<String>,
    categories: String,
    alarms: String,
    status: Option<String>,
    extra: Option<String>,
    reminders: Option<String>,
}

/// Who made a row, beyond [`crate::services::Actor`]: files and subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The acting context's actor (person, agent, api, scheduler).
    Actor,
    Import,
    Subscription,
}

/// A new UID for an event made here.
pub fn new_uid() -> String {
    format!("{}@steward", crate::auth::random_token(16))
}

/// Inserts a row as is (validated already). For the service and the ICS reader.
pub(crate) fn insert_row(
    conn: &mut Conn,
    ctx: &Ctx,
    fields: &Fields,
    uid: &str,
    recurrence_id: Option<&str>,
    sequence: i32,
    origin: Origin,
) -> Result<Event, AppError> {
    let now = to_ms(ctx.now);
    let created_by = match origin {
        Origin::Actor => ctx.actor.as_str(),
        Origin::Import => "import",
        Origin::Subscription => "subscription",
    };
    Ok(diesel::insert_into(events::table)
        .values((
            fields.columns(),
            events::uid.eq(uid),
            events::recurrence_id.eq(recurrence_id),
            events::sequence.eq(sequence),
            events::created_by.eq(created_by),
            events::created_in.eq(ctx.actor.conversation()),
            events::created_at.eq(now),
            events::updated_at.eq(now),
        ))
        .returning(Event::as_returning())
        .get_result(conn)?)
}

/// Saves a row's fields, raising its SEQUENCE (or setting it, for imports).
pub(crate) fn save_row(
    conn: &mut Conn,
    ctx: &Ctx,
    id: i32,
    fields: &Fields,
    sequence: i32,
) -> Result<Event, AppError> {
    Ok(diesel::update(events::table.find(id))
        .set((fields.columns(), events::sequence.eq(sequence), events::updated_at.eq(to_ms(ctx.now))))
        .returning(Event::as_returning())
        .get_result(conn)?)
}

fn writable(conn: &mut Conn, calendar_id: i32) -> Result<Calendar, AppError> {
    let cal = get_calendar(conn, calendar_id)?;
    if cal.is_subscribed() {
        return Err(AppError::invalid(
            "calendar",
            format!(
                "{:?} is a subscribed calendar: it is read-only here (change it at its source)",
                cal.name
            ),
        ));
    }
    Ok(cal)
}

/// Creates an event.
pub fn create(conn: &mut Conn, ctx: &Ctx, input: &EventInput) -> Result<Event, AppError> {
    db::write(conn, |conn| {
        let calendar = match input.calendar.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => find_calendar(conn, c)?,
            None => default_calendar(conn)?,
        };
        writable(conn, calendar.id)?;
        if input.title.is_none() {
            return Err(AppError::invalid("title", "is required (or send {\"text\": ...} for quick-add)"));
        }
        if input.start.is_none() {
            return Err(AppError::invalid(
                "start",
                "is required (2026-03-02T09:30, or 2026-03-02 for all-day)",
            ));
        }
        let blank = Fields {
            calendar_id: calendar.id,
            title: String::new(),
            all_day: false,
            zone: Some(ctx.tz),
            start: Wall::Date(ctx.today()),
            end: Wall::Date(ctx.today()),
            rrule: None,
            exdates: vec![],
            rdates: vec![],
            location: None,
            notes: None,
            categories: vec![],
            alarms: vec![],
            status: None,
            extra: None,
            reminders: None,
        };
        let fields = apply(conn, ctx, blank, input, true)?;
        let logged = super::history::before(conn, ctx, None)?;
        let event = insert_row(conn, ctx, &fields, &new_uid(), None, 0, Origin::Actor)?;
        crate::reminders::events::sync_event(conn, event.id, ctx.now, ctx.tz)?;
        super::history::record(conn, ctx, logged, "create", event.id, "all")?;
        Ok(event)
    })
}

/// Parses a start or end typed for an event in `zone` (or floating), as a date when `all_day`.
fn parse_when(field: &str, text: &str, all_day: Option<bool>, zone: Option<Tz>) -> Result<Wall, AppError> {
    let text = text.trim();
    let wall = match Wall::parse(text) {
        Some(w) => w,
        None => match DateTime::parse_from_rfc3339(text) {
            Ok(t) => Wall::DateTime(match zone {
                Some(z) => t.with_timezone(&z).naive_local(),
                None => t.naive_local(),
            }),
            Err(_) => {
                return Err(AppError::invalid(
                    field,
                    format!("{text:?} is not a date-time (2026-03-02T09:30) or a date (2026-03-02)"),
                ));
            }
        },
    };
    Ok(match (all_day, wall) {
        (Some(true), Wall::DateTime(t)) => Wall::Date(t.date()),
        (Some(false), Wall::Date(d)) => {
            return Err(AppError::invalid(
                field,
                format!("{d} is a date; a timed event needs a time (like {d}T09:00), or make it all-day"),
            ));
        }
        (_, w) => w,
    })
}

fn clean_text(
    field: &str,
    value: &Option<String>,
    max: usize,
    one_line: bool,
) -> Result<Option<String>, AppError> {
    let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if one_line && v.contains(['\n', '\r']) {
        return Err(AppError::invalid(field, "must be a single line"));
    }
    let n = v.chars().count();
    if n > max {
        return Err(AppError::invalid(field, format!("is {n} characters; the limit is {max}")));
    }
    Ok(Some(v.to_string()))
}

/// Applies an input to fields, validating each. `creating`: the zone defaults to the person's.
fn apply(
    conn: &mut Conn,
    ctx: &Ctx,
    mut f: Fields,
    input: &EventInput,
    creating: bool,
) -> Result<Fields, AppError> {
    if let Some(title) = &input.title {
        f.title = clean_text("title", &Some(title.clone()), MAX_TITLE, true)?
            .ok_or_else(|| AppError::invalid("title", "is required"))?;
    }
    if let Some(c) = input.calendar.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        let cal = find_calendar(conn, c)?;
        writable(conn, cal.id)?;
        f.calendar_id = cal.id;
    }
    if let Some(zone) = &input.zone {
        f.zone = match zone.as_deref().map(str::trim) {
            None | Some("") | Some("floating") => None,
            Some(name) => Some(crate::config::parse_zone("zone", name)?),
        };
    } else if creating {
        f.zone = Some(ctx.tz);
    }
    let old_start = f.start;
    let old_length = f.end.naive() - f.start.naive();
    let start_given = input.start.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let all_day = input.all_day.or_else(|| start_given.and_then(Wall::parse).map(|w| w.is_date()));
    if let Some(text) = start_given {
        f.start = parse_when("start", text, all_day, f.zone)?;
    } else if let Some(all_day) = input.all_day {
        f.start = match (all_day, f.start) {
            (true, w) => Wall::Date(w.date()),
            (false, Wall::Date(d)) => Wall::DateTime(d.and_hms_opt(9, 0, 0).unwrap_or_default()),
            (false, w) => w,
        };
    }
    f.all_day = f.start.is_date();
    match input.end.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => f.end = parse_when("end", text, Some(f.all_day), f.zone)?,
        None => {
            f.end = if creating || f.all_day != old_start.is_date() {
                match f.start {
                    Wall::Date(d) => Wall::Date(d + Duration::days(1)),
                    Wall::DateTime(t) => Wall::DateTime(t + Duration::hours(1)),
                }
            } else {
                // The start moved: the length stays.
                match f.start {
                    Wall::Date(d) => Wall::Date(d + Duration::days(old_length.num_days().max(1))),
                    Wall::DateTime(t) => Wall::DateTime(t + old_length),
                }
            }
        }
    }
    if f.all_day && f.end == f.start {
        // An all-day DTEND equal to DTSTART means one day.
        f.end = Wall::Date(f.start.date() + Duration::days(1));
    }
    if f.end < f.start {
        return Err(AppError::invalid(
            "end",
            format!("{} is before the start ({})", f.end.to_api(), f.start.to_api()),
        ));
    }
    if f.all_day {
        f.zone = None;
    }
    if let Some(rrule) = &input.rrule {
        f.rrule = match rrule.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            None => None,
            Some(text) => Some(Rule::parse(text).map_err(|e| AppError::invalid("rrule", e))?),
        };
    }
    let frame_wall = |field: &str, text: &str, f: &Fields| -> Result<Wall, AppError> {
        let w = parse_when(field, text, Some(f.all_day), f.zone)?;
        Ok(w)
    };
    if let Some(list) = &input.exdates {
        let mut out = Vec::new();
        for text in list {
            out.push(frame_wall("exdates", text, &f)?);
        }
        out.sort();
        out.dedup();
        f.exdates = out;
    }
    if let Some(list) = &input.rdates {
        let mut out = Vec::new();
        for text in list {
            let r = match text.split_once('/') {
                Some((a, b)) => RDate::Period(frame_wall("rdates", a, &f)?, frame_wall("rdates", b, &f)?),
                None => RDate::At(frame_wall("rdates", text, &f)?),
            };
            out.push(r);
        }
        out.sort();
        out.dedup();
        f.rdates = out;
    }
    if let Some(location) = &input.location {
        f.location = clean_text("location", location, 1000, true)?;
    }
    if let Some(notes) = &input.notes {
        f.notes = clean_text("notes", notes, 20_000, false)?;
    }
    if let Some(categories) = &input.categories {
        let mut out: Vec<String> = Vec::new();
        for c in categories {
            if let Some(c) = clean_text("categories", &Some(c.clone()), 100, true)?
                && !out.contains(&c)
            {
                out.push(c);
            }
        }
        f.categories = out;
    }
    if let Some(reminders) = &input.reminders {
        f.reminders = reminders.as_deref().map(leads_json).transpose()?;
    }
    Ok(f)
}

/// Shifts wall times by the change of a series' start (its exceptions follow it).
fn shift(w: Wall, by: Duration) -> Wall {
    match w {
        Wall::Date(d) => Wall::Date(d + Duration::days(by.num_days())),
        Wall::DateTime(t) => Wall::DateTime(t + by),
    }
}

/// Whether `key` is an occurrence of the series `master` (a rule instance, an RDATE, or an
/// override's key).
fn check_occurrence(conn: &mut Conn, master: &Event, key: Wall) -> Result<(), AppError> {
    if master.start() == key {
        return Ok(());
    }
    let overrides = overrides_of(conn, master)?;
    if overrides.iter().any(|o| o.recurrence_key() == Some(key)) {
        return Ok(());
    }
    let zone = master.tz();
    let at = key.instant(zone, Tz::UTC);
    let (starts, _) =
        series_starts(master, Some((at - Duration::days(2), at + Duration::days(2))), Tz::UTC, 10_000);
    if starts.iter().any(|s| s.at == key) {
        return Ok(());
    }
    Err(AppError::invalid(
        "occurrence",
        format!("{} is not an occurrence of “{}”", key.to_api(), master.title),
    ))
}

/// Changes an event: the whole series, one occurrence, or this and the following ones.
/// Returns the row that now holds the change (the series, the override, or the new series).
pub fn update(
    conn: &mut Conn,
    ctx: &Ctx,
    id: i32,
    input: &EventInput,
    target: Target,
) -> Result<Event, AppError> {
    db::write(conn, |conn| {
        let logged = super::history::before(conn, ctx, Some(id))?;
        let event = update_rows(conn, ctx, id, input, target)?;
        // The series changed (and, split, the new one begins): their reminders follow.
        crate::reminders::events::sync_event(conn, id, ctx.now, ctx.tz)?;
        if event.id != id {
            crate::reminders::events::sync_event(conn, event.id, ctx.now, ctx.tz)?;
        }
        let scope = match (target.scope, target.occurrence) {
            (Scope::This, _) => "this",
            (Scope::Following, Some(_)) => "following",
            _ => "all",
        };
        super::history::record(conn, ctx, logged, "update", event.id, scope)?;
        Ok(event)
    })
}

fn update_rows(
    conn: &mut Conn,
    ctx: &Ctx,
    id: i32,
    input: &EventInput,
    target: Target,
) -> Result<Event, AppError> {
    let row = get(conn, id)?;
    writable(conn, row.calendar_id)?;
    // An override addressed by its own id without a scope (or with `this`): the override
    // itself. The series is changed through its own id, or with scope `all` and an
    // occurrence.
    if row.is_override()
        && (target.scope == Scope::This || target.occurrence.is_none() && target.scope == Scope::All)
    {
        let fields = apply(conn, ctx, Fields::of(&row), input, false)?;
        return save_row(conn, ctx, row.id, &fields, row.sequence + 1);
    }
    let master = match master_of(conn, &row)? {
        Some(m) => m,
        None => {
            // An orphan override (its series is not here): it is a single event.
            let fields = apply(conn, ctx, Fields::of(&row), input, false)?;
            return save_row(conn, ctx, row.id, &fields, row.sequence + 1);
        }
    };
    let key = target.occurrence.or(row.recurrence_key());
    if !master.is_recurring() || target.scope == Scope::All || key.is_none() {
        return update_all(conn, ctx, &master, input);
    }
    let key = key.unwrap_or(master.start());
    check_occurrence(conn, &master, key)?;
    match target.scope {
        Scope::This => update_this(conn, ctx, &master, key, input),
        Scope::Following if key <= master.start() => update_all(conn, ctx, &master, input),
        Scope::Following | Scope::All => update_following(conn, ctx, &master, key, input),
    }
}

fn update_all(conn: &mut Conn, ctx: &Ctx, master: &Event, input: &EventInput) -> Result<Event, AppError> {
    let old = Fields::of(master);
    let mut fields = apply(conn, ctx, old.clone(), input, false)?;
    let by = fields.start.naive() - old.start.naive();
    if master.is_recurring() && by != Duration::zero() && fields.start.is_date() == old.start.is_date() {
        if input.exdates.is_none() {
            fields.exdates = old.exdates.iter().map(|w| shift(*w, by)).collect();
        }
        for o in overrides_of(conn, master)? {
            if let Some(k) = o.recurrence_key() {
                diesel::update(events::table.find(o.id))
                    .set(events::recurrence_id.eq(shift(k, by).to_text()))
                    .execute(conn)?;
            }
        }
    }
    if input.reminders.is_some() {
        // The series' reminders hold for its changed occurrences too.
        diesel::update(
            events::table
                .filter(events::calendar_id.eq(master.calendar_id))
                .filter(events::uid.eq(&master.uid))
                .filter(events::recurrence_id.is_not_null()),
        )
        .set(events::reminders.eq(&fields.reminders))
        .execute(conn)?;
    }
    if fields.calendar_id != master.calendar_id {
        diesel::update(
            events::table
                .filter(events::calendar_id.eq(master.calendar_id))
                .filter(events::uid.eq(&master.uid))
                .filter(events::recurrence_id.is_not_null()),
        )
        .set(events::calendar_id.eq(fields.calendar_id))
        .execute(conn)?;
    }
    save_row(conn, ctx, master.id, &fields, master.sequence + 1)
}

fn update_this(
    conn: &mut Conn,
    ctx: &Ctx,
    master: &Event,
    key: Wall,
    input: &EventInput,
) -> Result<Event, AppError> {
    let key_text = key.to_text();
    if let Some(existing) = by_uid(conn, master.calendar_id, &master.uid, Some(&key_text))? {
        let fields = apply(conn, ctx, Fields::of(&existing), input, false)?;
        return save_row(conn, ctx, existing.id, &fields, existing.sequence + 1);
    }
    let mut base = Fields::of(master);
    let length = base.end.naive() - base.start.naive();
    // An RDATE period keeps its own end.
    let period_end = base.rdates.iter().find_map(|r| match r {
        RDate::Period(s, e) if *s == key => Some(*e),
        _ => None,
    });
    base.start = key;
    base.end = period_end.unwrap_or(match key {
        Wall::Date(d) => Wall::Date(d + Duration::days(length.num_days().max(1))),
        Wall::DateTime(t) => Wall::DateTime(t + length),
    });
    base.rrule = None;
    base.rdates = vec![];
    base.exdates = vec![];
    let mut scoped = input.clone();
    scoped.calendar = None;
    scoped.rrule = None;
    let fields = apply(conn, ctx, base, &scoped, false)?;
    // The series' SEQUENCE rises too: clients holding the series see it changed.
    diesel::update(events::table.find(master.id))
        .set((events::sequence.eq(master.sequence + 1), events::updated_at.eq(to_ms(ctx.now))))
        .execute(conn)?;
    insert_row(conn, ctx, &fields, &master.uid, Some(&key_text), master.sequence + 1, Origin::Actor)
}

/// The series' first part ending just before `key`: its rule cut by COUNT (when it counts) or
/// UNTIL, its RDATEs and EXDATEs before `key`. Also returns how many rule instances came before.
fn cut_before(master: &Event, key: Wall) -> (Fields, u32) {
    let mut first = Fields::of(master);
    let zone = if master.all_day { None } else { master.tz() };
    let mut before = 0u32;
    if let Some(rule) = &first.rrule {
        let check: Box<dyn UntilCheck> = match zone {
            Some(z) => Box::new(Zoned(z)),
            None => Box::new(Floating),
        };
        let x = recur::expand_window(
            rule,
            master.start().naive(),
            None,
            Some(key.naive()),
            1_000_000,
            check.as_ref(),
        );
        before = x.starts.len() as u32;
        let mut cut = rule.clone();
        if rule.count.is_some() {
            cut.count = Some(before.max(1));
        } else {
            cut.until = Some(match (key, zone) {
                (Wall::Date(d), _) => Until::Date(d - Duration::days(1)),
                (Wall::DateTime(t), Some(z)) => {
                    Until::Utc((resolve(z, t) - Duration::seconds(1)).naive_utc())
                }
                (Wall::DateTime(t), None) => Until::Local(t - Duration::seconds(1)),
            });
        }
        first.rrule = Some(cut);
    }
    first.rdates.retain(|r| r.start() < key);
    first.exdates.retain(|w| *w < key);
    (first, before)
}

fn update_following(
    conn: &mut Conn,
    ctx: &Ctx,
    master: &Event,
    key: Wall,
    input: &EventInput,
) -> Result<Event, AppError> {
    let (first, before) = cut_before(master, key);
    let mut second = Fields::of(master);
    let length = second.end.naive() - second.start.naive();
    if let Some(rule) = &master.rrule.as_deref().and_then(|r| Rule::parse(r).ok()) {
        let mut rest = rule.clone();
        if let Some(c) = rule.count {
            rest.count = Some(c.saturating_sub(before));
        }
        second.rrule = if rest.count == Some(0) { None } else { Some(rest) };
    }
    second.start = key;
    second.end = match key {
        Wall::Date(d) => Wall::Date(d + Duration::days(length.num_days().max(1))),
        Wall::DateTime(t) => Wall::DateTime(t + length),
    };
    second.rdates.retain(|r| r.start() >= key);
    second.exdates.retain(|w| *w >= key);
    let mut second = apply(conn, ctx, second, input, false)?;
    let by = second.start.naive() - key.naive();
    if by != Duration::zero() && second.start.is_date() == key.is_date() {
        if input.exdates.is_none() {
            second.exdates = second.exdates.iter().map(|w| shift(*w, by)).collect();
        }
        if input.rdates.is_none() {
            second.rdates = second
                .rdates
                .iter()
                .map(|r| match r {
                    RDate::At(w) => RDate::At(shift(*w, by)),
                    RDate::Period(a, b) => RDate::Period(shift(*a, by), shift(*b, by)),
                })
                .collect();
        }
    }
    save_row(conn, ctx, master.id, &first, master.sequence + 1)?;
    let uid = new_uid();
    let created = insert_row(conn, ctx, &second, &uid, None, 0, Origin::Actor)?;
    for o in overrides_of(conn, master)? {
        if let Some(k) = o.recurrence_key()
            && k >= key
        {
            let moved = if by != Duration::zero() && k.is_date() == second.start.is_date() {
                shift(k, by)
            } else {
                k
            };
            diesel::update(events::table.find(o.id))
                .set((
                    events::uid.eq(&uid),
                    events::recurrence_id.eq(moved.to_text()),
                    events::calendar_id.eq(second.calendar_id),
                ))
                .execute(conn)?;
        }
    }
    Ok(created)
}

/// What a delete did, for the page's Undo.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    /// Rows deleted whole (restorable with [`restore`]).
    pub rows: Vec<i32>,
    /// The series that lost one or more occurrences instead (scope this/following).
    pub series: Option<i32>,
}

/// Deletes an event: the whole series, one occurrence (an EXDATE), or this and the following.
pub fn delete(conn: &mut Conn, ctx: &Ctx, id: i32, target: Target) -> Result<Deleted, AppError> {
    db::write(conn, |conn| {
        let logged = super::history::before(conn, ctx, Some(id))?;
        let deleted = delete_rows(conn, ctx, id, target)?;
        crate::reminders::events::sync_event(conn, id, ctx.now, ctx.tz)?;
        let scope = match (target.scope, target.occurrence) {
            (Scope::This, _) => "this",
            (Scope::Following, Some(_)) => "following",
            _ => "all",
        };
        super::history::record(conn, ctx, logged, "delete", id, scope)?;
        Ok(deleted)
    })
}

fn delete_rows(conn: &mut Conn, ctx: &Ctx, id: i32, target: Target) -> Result<Deleted, AppError> {
    let row = get(conn, id)?;
    writable(conn, row.calendar_id)?;
    let now = to_ms(ctx.now);
    let master = master_of(conn, &row)?;
    let key = target.occurrence.or(row.recurrence_key());
    let whole = |conn: &mut Conn, m: &Event| -> Result<Deleted, AppError> {
        let ids: Vec<i32> = events::table
            .filter(events::calendar_id.eq(m.calendar_id))
            .filter(events::uid.eq(&m.uid))
            .filter(events::deleted_at.is_null())
            .select(events::id)
            .load(conn)?;
        diesel::update(events::table.filter(events::id.eq_any(&ids)))
            .set(events::deleted_at.eq(now))
            .execute(conn)?;
        diesel::delete(events::table.filter(events::deleted_at.lt(now - UNDO_WINDOW.num_milliseconds())))
            .execute(conn)?;
        Ok(Deleted { rows: ids, series: None })
    };
    let Some(master) = master else {
        diesel::update(events::table.find(row.id)).set(events::deleted_at.eq(now)).execute(conn)?;
        return Ok(Deleted { rows: vec![row.id], series: None });
    };
    let scope = if row.is_override() && target.occurrence.is_none() && target.scope == Scope::All {
        // Deleting an override row itself without a scope: that occurrence.
        Scope::This
    } else {
        target.scope
    };
    let Some(key) = key.filter(|_| master.is_recurring() && scope != Scope::All) else {
        return whole(conn, &master);
    };
    check_occurrence(conn, &master, key)?;
    match scope {
        Scope::Following if key <= master.start() => whole(conn, &master),
        Scope::Following => {
            let (first, _) = cut_before(&master, key);
            save_row(conn, ctx, master.id, &first, master.sequence + 1)?;
            let mut gone = Vec::new();
            for o in overrides_of(conn, &master)? {
                if o.recurrence_key().is_some_and(|k| k >= key) {
                    diesel::update(events::table.find(o.id)).set(events::deleted_at.eq(now)).execute(conn)?;
                    gone.push(o.id);
                }
            }
            Ok(Deleted { rows: gone, series: Some(master.id) })
        }
        _ => {
            let mut fields = Fields::of(&master);
            if fields.rdates.iter().any(|r| r.start() == key) {
                fields.rdates.retain(|r| r.start() != key);
            } else if !fields.exdates.contains(&key) {
                fields.exdates.push(key);
                fields.exdates.sort();
            }
            save_row(conn, ctx, master.id, &fields, master.sequence + 1)?;
            let mut gone = Vec::new();
            if let Some(o) = by_uid(conn, master.calendar_id, &master.uid, Some(&key.to_text()))? {
                diesel::update(events::table.find(o.id)).set(events::deleted_at.eq(now)).execute(conn)?;
                gone.push(o.id);
            }
            Ok(Deleted { rows: gone, series: Some(master.id) })
        }
    }
}

/// Restores a deleted event (with the overrides deleted with it) within [`UNDO_WINDOW`].
pub fn restore(conn: &mut Conn, ctx: &Ctx, id: i32) -> Result<Event, AppError> {
    db::write(conn, |conn| {
        let row: Option<Event> = events::table
            .find(id)
            .filter(events::deleted_at.is_not_null())
            .select(Event::as_select())
            .first(conn)
            .optional()?;
        let Some(row) = row else {
            return Err(AppError::NotFound(format!(
                "event {id} cannot be restored (not deleted, or deleted too long ago)"
            )));
        };
        diesel::update(
            events::table
                .filter(events::calendar_id.eq(row.calendar_id))
                .filter(events::uid.eq(&row.uid))
                .filter(events::deleted_at.eq(row.deleted_at)),
        )
        .set((events::deleted_at.eq(None::<i64>), events::updated_at.eq(to_ms(ctx.now))))
        .execute(conn)?;
        crate::reminders::events::sync_event(conn, id, ctx.now, ctx.tz)?;
        get(conn, id)
    })
}

/// An RFC 3339 instant, or a date (its midnight in the person's zone).
pub fn parse_instant(field: &str, text: &str, tz: Tz) -> Result<DateTime<Utc>, AppError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(crate::calendar::resolve(tz, d.and_time(chrono::NaiveTime::MIN)));
    }
    Err(AppError::invalid(
        field,
        format!("{text:?} is not an RFC 3339 date-time (2026-03-02T00:00:00+01:00) or a date"),
    ))
}

/// Names of calendars by id, for views.
pub fn calendar_names(conn: &mut Conn) -> Result<BTreeMap<i32, String>, AppError> {
    Ok(list_calendars(conn)?.into_iter().map(|c| (c.id, c.name)).collect())
}

/// The instant an event's first occurrence starts (for lists).
pub fn starts_at(e: &Event, tz: Tz) -> DateTime<Utc> {
    if e.all_day || e.zone.is_none() { e.start().instant(None, tz) } else { from_ms(e.start_at) }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::services::Actor;

    pub(crate) fn db() -> (tempfile::TempDir, crate::db::PooledConn) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db")).unwrap();
        let conn = db.conn().unwrap();
        (dir, conn)
    }

    pub(crate) fn ctx(now: &str, tz: &str) -> Ctx {
        Ctx {
            now: DateTime::parse_from_rfc3339(now).unwrap().to_utc(),
            tz: tz.parse().unwrap(),
            actor: Actor::Person,
        }
    }

    pub(crate) fn input(json: serde_json::Value) -> EventInput {
        serde_json::from_value(json).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn an_event_is_created_in_the_persons_zone_and_found_in_its_range() {
        let (_dir, mut conn) = db();
        let ctx = ctx("2026-03-01T12:00:00Z", "Europe/Berlin");
        let e = create(
            &mut conn,
            &ctx,
            &input(serde_json::json!({"title": "Dentist", "start": "2026-03-02T09:30"})),
        )
        .unwrap();
        assert_eq!(e.zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(e.end_local, "2026-03-02T10:30:00");
        assert_eq!(e.calendar_id, 1);
        let (occ, truncated) =
            occurrences(&mut conn, &ctx, at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"), None)
                .unwrap();
        assert!(!truncated);
        assert_eq!(occ.len(), 1);
        assert_eq!(occ[0].start_at, at("2026-03-02T08:30:00Z"));
        let e = create(&mut conn, &ctx, &input(serde_json::json!({"title": "Gym", "start": "2026-03-02T07:00", "rrule": "FREQ=DAILY;COUNT=3"}))).unwrap();
        assert_eq!(e.last_end_at, Some(at("2026-03-04T07:00:00Z").timestamp_millis()));
        let err = create(
            &mut conn,
            &ctx,
            &input(serde_json::json!({"title": "X", "start": "2026-03-02T07:00", "rrule": "FREQ=SOMETIMES"})),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "rrule: FREQ=SOMETIMES is not a frequency");
    }
}
