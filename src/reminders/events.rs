//! Event reminders: a word before an event starts, for each occurrence of a recurring one.
//!
//! An event series (its master row, with its overrides) has one reminder schedule, source
//! `event:<master id>`, kept in step by [`sync_event`] after every write of the series (and in
//! bulk by [`sync_calendar`] after an import or a subscription's refresh). When it fires, the
//! scheduler asks [`next_after`] for the following instant: the next `occurrence start - lead`
//! across the series' occurrences (overrides, EXDATEs and cancelled occurrences respected), so a
//! weekly event reminds before each week's occurrence, across DST changes too.
//!
//! What an event reminds at, first match wins:
//! 1. its own list of lead times (`events.reminders`; `[]` means none),
//! 2. its imported VALARMs (DISPLAY, AUDIO and EMAIL; relative to the start or, with
//!    `RELATED=END`, the end; or an absolute instant, which fires once),
//! 3. its calendar's default (`calendars.reminders`, 10 minutes unless changed).
//!
//! All-day events count Steward's lead times back from the settings' time of day (09:00) on
//! their day, like date-only tasks; a VALARM counts from the day's start, as RFC 5545 says.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;

use super::{KIND, Lead, Settings, Subject, settings};
use crate::calendar::service::{Occurrence, expand_rows};
use crate::calendar::{Alarm, Event, json_list};
use crate::clock::{from_ms, to_ms};
use crate::db::Conn;
use crate::db::schema::{calendars, events, schedules};
use crate::error::AppError;
use crate::notifications::NewNotification;
use crate::schedules::Schedule;

/// When a reminder fires relative to an occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// One of Steward's lead times before the start (an all-day event's: before the settings'
    /// time of day on its first day).
    Lead(Lead),
    /// A VALARM's offset from the start (or the end): whole days on the wall clock, then
    /// seconds; negative means before.
    Relative { days: i64, secs: i64, end: bool },
    /// A VALARM at one instant (once, not per occurrence).
    Absolute(DateTime<Utc>),
}

impl Trigger {
    /// A VALARM's trigger, when it is one that shows or sounds (DISPLAY, AUDIO, EMAIL).
    pub fn of_alarm(alarm: &Alarm, tz: Tz) -> Option<Trigger> {
        if !matches!(alarm.action.to_ascii_uppercase().as_str(), "DISPLAY" | "AUDIO" | "EMAIL") {
            return None;
        }
        let line = alarm
            .raw
            .lines()
            .map(str::trim)
            .find(|l| {
                let upper = l.to_ascii_uppercase();
                upper.starts_with("TRIGGER:") || upper.starts_with("TRIGGER;")
            })
            .map(str::to_string)
            .unwrap_or_else(|| format!("TRIGGER:{}", alarm.trigger));
        parse_trigger(&line, tz)
    }

    /// As the schedule's spec shows it: `10m`, `1d`, `+5m`, `end-15m`, `at 2026-12-24T08:00Z`.
    fn text(self) -> String {
        match self {
            Trigger::Lead(l) => l.to_string(),
            Trigger::Relative { days, secs, end } => {
                let total = days * 86_400 + secs;
                let magnitude = Lead { days: (total.abs()) / 86_400, secs: total.abs() % 86_400 };
                match (end, total <= 0) {
                    (false, true) => magnitude.to_string(),
                    (false, false) => format!("+{magnitude}"),
                    (true, true) => format!("end-{magnitude}"),
                    (true, false) => format!("end+{magnitude}"),
                }
            }
            Trigger::Absolute(t) => format!("at {}", t.format("%Y-%m-%dT%H:%MZ")),
        }
    }

    /// How far before its anchor it can fire, and how far after (seconds; for the window).
    fn reach(self) -> (i64, i64) {
        match self {
            Trigger::Lead(l) => (l.days * 86_400 + l.secs, 0),
            Trigger::Relative { days, secs, .. } => {
                let total = days * 86_400 + secs;
                (-total.min(0), total.max(0))
            }
            Trigger::Absolute(_) => (0, 0),
        }
    }
}

/// A `TRIGGER` line (`TRIGGER:-PT15M`, `TRIGGER;RELATED=END:PT0S`,
/// `TRIGGER;VALUE=DATE-TIME:20261224T080000Z`). A date-time without `Z` is read in `tz`.
pub fn parse_trigger(line: &str, tz: Tz) -> Option<Trigger> {
    let prop = crate::calendar::ics::parse_line(line.trim()).ok()?;
    let value = prop.value.trim();
    let absolute = prop.param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE-TIME"))
        || value.starts_with(|c: char| c.is_ascii_digit());
    if absolute {
        let (text, utc) = match value.strip_suffix(['Z', 'z']) {
            Some(t) => (t, true),
            None => (value, false),
        };
        let local = NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S").ok()?;
        let at = if utc { Utc.from_utc_datetime(&local) } else { crate::calendar::resolve(tz, local) };
        return Some(Trigger::Absolute(at));
    }
    let end = prop.param("RELATED").is_some_and(|r| r.eq_ignore_ascii_case("END"));
    let (days, secs) = parse_offset(value)?;
    Some(Trigger::Relative { days, secs, end })
}

/// An RFC 5545 duration as (nominal days, exact seconds), both signed: `-P1DT2H` is (-1, -7200).
fn parse_offset(text: &str) -> Option<(i64, i64)> {
    let t = text.trim().to_ascii_uppercase();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(&t)),
    };
    let rest = rest.strip_prefix('P')?;
    let (mut days, mut secs, mut number, mut in_time, mut any) = (0i64, 0i64, String::new(), false, false);
    for c in rest.chars() {
        match c {
            '0'..='9' => {
                number.push(c);
                if number.len() > 9 {
                    return None;
                }
            }
            'T' if !in_time && number.is_empty() => in_time = true,
            'W' | 'D' | 'H' | 'M' | 'S' => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                any = true;
                match (c, in_time) {
                    ('W', false) => days += n * 7,
                    ('D', false) => days += n,
                    ('H', true) => secs += n * 3600,
                    ('M', true) => secs += n * 60,
                    ('S', true) => secs += n,
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    if !any || !number.is_empty() || days > 400 {
        return None;
    }
    Some((sign * days, sign * secs))
}

/// A calendar's default lead times as stored (`["10m"]`).
fn stored_leads(text: &str) -> Vec<Lead> {
    super::parse_leads(&json_list(text)).unwrap_or_default()
}

/// What a row reminds at (see the module docs); `master` gives an override what it lacks.
fn triggers_of(row: &Event, master: Option<&Event>, default: &[Lead], tz: Tz) -> Vec<Trigger> {
    let own = row.reminders.as_deref().or(master.and_then(|m| m.reminders.as_deref()));
    if let Some(list) = own {
        return stored_leads(list).into_iter().map(Trigger::Lead).collect();
    }
    let alarms = |e: &Event| -> Vec<Trigger> {
        e.alarm_list().iter().filter_map(|a| Trigger::of_alarm(a, tz)).collect()
    };
    let mut from_alarms = alarms(row);
    if from_alarms.is_empty()
        && let Some(m) = master
    {
        from_alarms = alarms(m);
    }
    if !from_alarms.is_empty() {
        from_alarms.sort_by_key(|t| format!("{t:?}"));
        from_alarms.dedup();
        return from_alarms;
    }
    default.iter().copied().map(Trigger::Lead).collect()
}

/// A series as the reminder sees it: its master (or a lone override) and its live rows.
struct Series {
    master: Event,
    live: Vec<Event>,
}

impl Series {
    /// The series event `id` belongs to (deleted rows too, so its end can be seen).
    fn load(conn: &mut Conn, id: i32) -> Result<Option<Series>, AppError> {
        let row: Option<Event> = events::table.find(id).select(Event::as_select()).first(conn).optional()?;
        let Some(row) = row else { return Ok(None) };
        let master = if row.recurrence_id.is_some() {
            let masters: Vec<Event> = events::table
                .filter(events::calendar_id.eq(row.calendar_id))
                .filter(events::uid.eq(&row.uid))
                .filter(events::recurrence_id.is_null())
                .order((events::deleted_at.is_not_null(), events::id.desc()))
                .select(Event::as_select())
                .load(conn)?;
            masters.into_iter().next().unwrap_or(row)
        } else {
            row
        };
        let live = if master.deleted_at.is_some() {
            Vec::new()
        } else if master.recurrence_id.is_some() {
            vec![master.clone()]
        } else {
            events::table
                .filter(events::calendar_id.eq(master.calendar_id))
                .filter(events::uid.eq(&master.uid))
                .filter(events::deleted_at.is_null())
                .select(Event::as_select())
                .load(conn)?
        };
        Ok(Some(Series { master, live }))
    }

    fn key(&self) -> String {
        Subject::Event { id: self.master.id, at: None }.key()
    }
}

/// One reminder instant and the occurrence it is about.
#[derive(Debug, Clone)]
struct Hit {
    at: DateTime<Utc>,
    occurrence: Occurrence,
}

/// What reminder math needs besides the rows.
struct Frame<'a> {
    default: &'a [Lead],
    settings: &'a Settings,
    /// The person's zone (the schedule's): floating and all-day events are read in it.
    tz: Tz,
}

impl Frame<'_> {
    /// The instant `trigger` fires for occurrence `o`.
    fn instant(&self, t: Trigger, o: &Occurrence) -> Option<DateTime<Utc>> {
        let zone =
            o.zone.as_deref().and_then(|z| z.parse::<Tz>().ok()).filter(|_| !o.all_day).unwrap_or(self.tz);
        match t {
            Trigger::Lead(l) => {
                let anchor = if o.all_day {
                    crate::dates::resolve_local(self.tz, o.start.date().and_time(self.settings.dated_at))
                        .with_timezone(&Utc)
                } else {
                    o.start_at
                };
                Some(l.before(anchor, zone))
            }
            Trigger::Relative { days, secs, end } => {
                let anchor = if end { o.end_at } else { o.start_at };
                let base = if days == 0 {
                    anchor
                } else {
                    let local = anchor.with_timezone(&zone).naive_local() + Duration::days(days);
                    crate::dates::resolve_local(zone, local).with_timezone(&Utc)
                };
                Some(base + Duration::seconds(secs))
            }
            Trigger::Absolute(_) => None,
        }
    }

    /// Every reminder instant of the series later than `after` (or at it, when `inclusive`)
    /// among occurrences up to `horizon` days (plus the longest lead) ahead, soonest first.
    fn hits(&self, live: &[Event], after: DateTime<Utc>, inclusive: bool, horizon: i64) -> Vec<Hit> {
        let master = live.iter().find(|e| e.recurrence_id.is_none());
        let by_row: HashMap<i32, Vec<Trigger>> = live
            .iter()
            .map(|e| {
                let m = master.filter(|m| m.id != e.id);
                (e.id, triggers_of(e, m, self.default, self.tz))
            })
            .collect();
        let (mut before, mut later) = (0i64, 0i64);
        for t in by_row.values().flatten() {
            let (b, l) = t.reach();
            before = before.max(b);
            later = later.max(l);
        }
        let counts = |t: DateTime<Utc>| if inclusive { t >= after } else { t > after };
        // No occurrence starts before the series' first row: a far-off event is looked for
        // where it is, not within the horizon from now.
        let first = live.iter().map(|e| from_ms(e.start_at)).min().unwrap_or(after);
        let base = after.max(first - crate::calendar::FLOATING_SLACK - Duration::seconds(before));
        let from = base - Duration::seconds(later) - Duration::days(1);
        let to = base + Duration::seconds(before) + Duration::days(horizon + 2);
        let (occurrences, _) = expand_rows(live, self.tz, from, to);
        let mut out = Vec::new();
        for o in &occurrences {
            for t in by_row.get(&o.event_id).map(Vec::as_slice).unwrap_or_default() {
                if let Some(at) = self.instant(*t, o).filter(|at| counts(*at)) {
                    out.push(Hit { at, occurrence: o.clone() });
                }
            }
        }
        // An absolute alarm fires once, about the occurrence it comes before.
        let absolute: Vec<DateTime<Utc>> = by_row
            .values()
            .flatten()
            .filter_map(|t| match t {
                Trigger::Absolute(at) if counts(*at) => Some(*at),
                _ => None,
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for at in absolute {
            let (around, _) = expand_rows(live, self.tz, at - Duration::days(1), at + Duration::days(400));
            if let Some(o) = around.iter().find(|o| o.start_at >= at).or(around.first()) {
                out.push(Hit { at, occurrence: o.clone() });
            }
        }
        out.sort_by_key(|h| (h.at, h.occurrence.start_at));
        out
    }

    /// The soonest reminder instant after `after` (see [`Frame::hits`]).
    fn next(&self, live: &[Event], after: DateTime<Utc>, inclusive: bool) -> Option<Hit> {
        // A rare series (every other year) may need the long look.
        let open =
            live.iter().any(|e| e.last_end_at.is_none_or(|l| from_ms(l) > after + Duration::days(400)));
        let horizons: &[i64] = if open { &[35, 400, 3660] } else { &[35, 400] };
        for &horizon in horizons {
            if let Some(hit) = self.hits(live, after, inclusive, horizon).into_iter().next() {
                return Some(hit);
            }
        }
        None
    }
}

fn calendar_default(conn: &mut Conn, calendar_id: i32) -> Result<Vec<Lead>, AppError> {
    let text: Option<String> =
        calendars::table.find(calendar_id).select(calendars::reminders).first(conn).optional()?;
    Ok(text.as_deref().map(stored_leads).unwrap_or_default())
}

fn urgent(e: &Event) -> bool {
    e.category_list().iter().any(|c| c.eq_ignore_ascii_case("urgent"))
}

/// The schedule's spec: what the series reminds at, as lead times.
fn spec_of(series: &Series, default: &[Lead], tz: Tz) -> String {
    let list = triggers_of(&series.master, None, default, tz);
    if list.is_empty() {
        return "none".into();
    }
    list.iter().map(|t| t.text()).collect::<Vec<_>>().join(",")
}

/// Keeps the reminder of the series event `id` belongs to in step with it (call after every
/// write of the event, its occurrences or its series).
pub fn sync_event(conn: &mut Conn, id: i32, now: DateTime<Utc>, tz: Tz) -> Result<(), AppError> {
    let Some(series) = Series::load(conn, id)? else { return Ok(()) };
    let default = calendar_default(conn, series.master.calendar_id)?;
    let s = settings::load(conn)?;
    apply(conn, &series, &Frame { default: &default, settings: &s, tz }, now)
}

/// Writes a series' reminder schedule: its next instant (none when the series is gone or over).
fn apply(conn: &mut Conn, series: &Series, frame: &Frame, now: DateTime<Utc>) -> Result<(), AppError> {
    if series.live.is_empty() {
        end_series(conn, &[series.master.id], now)?;
        return Ok(());
    }
    // Strictly after now: an instant that fired this very moment must not fire again.
    let next = frame.next(&series.live, now, false).map(|h| h.at);
    let next_ms = next.map(crate::clock::due_ms);
    let spec = spec_of(series, frame.default, frame.tz);
    let priority = if series.live.iter().any(urgent) { 0 } else { 1 };
    let key = series.key();
    let armed =
        super::Armed { source: &key, title: &series.master.title, spec: &spec, tz: frame.tz, priority };
    super::arm(conn, &armed, next_ms, now)
}

/// Keeps the reminders of a calendar's events in step, in bulk: those of the series in `uids`
/// (all when `None`). Series whose last occurrence is over are passed by without expanding them.
pub fn sync_calendar(
    conn: &mut Conn,
    calendar_id: i32,
    uids: Option<&HashSet<String>>,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<(), AppError> {
    if uids.is_some_and(HashSet::is_empty) {
        return Ok(());
    }
    let default = calendar_default(conn, calendar_id)?;
    let s = settings::load(conn)?;
    let frame = Frame { default: &default, settings: &s, tz };
    let rows: Vec<Event> = events::table
        .filter(events::calendar_id.eq(calendar_id))
        .filter(events::deleted_at.is_null())
        .select(Event::as_select())
        .load(conn)?;
    let mut by_uid: HashMap<String, Vec<Event>> = HashMap::new();
    for r in rows {
        if uids.is_none_or(|u| u.contains(&r.uid)) {
            by_uid.entry(r.uid.clone()).or_default().push(r);
        }
    }
    // Series that have a reminder schedule: an ended series without one is passed by.
    let armed: std::collections::HashSet<String> = schedules::table
        .filter(schedules::source.like("event:%"))
        .filter(schedules::kind.eq(KIND))
        .select(schedules::source)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect();
    // Floating and all-day rows are indexed as if in UTC; VALARMs may fire after the end.
    let slack = crate::calendar::FLOATING_SLACK + Duration::days(2);
    for (_, rows) in by_uid {
        let (masters, lone): (Vec<Event>, Vec<Event>) =
            rows.iter().cloned().partition(|r| r.recurrence_id.is_none());
        let mut list: Vec<Series> = Vec::new();
        match masters.into_iter().next() {
            Some(master) => list.push(Series { master, live: rows }),
            None => list.extend(lone.into_iter().map(|o| Series { master: o.clone(), live: vec![o] })),
        }
        for series in list {
            let over = series.live.iter().all(|r| r.last_end_at.is_some_and(|l| from_ms(l) + slack < now));
            if over && !armed.contains(&series.key()) {
                continue;
            }
            apply(conn, &series, &frame, now)?;
        }
    }
    Ok(())
}

/// Keeps every event's reminders in step (after the person's zone or the reminder settings
/// changed: floating and all-day events move with them).
pub fn sync_all(conn: &mut Conn, now: DateTime<Utc>, tz: Tz) -> Result<(), AppError> {
    let ids: Vec<i32> = calendars::table.select(calendars::id).load(conn)?;
    for id in ids {
        sync_calendar(conn, id, None, now, tz)?;
    }
    Ok(())
}

/// Ends the reminders (and snoozed reminders) of series that are gone.
pub fn end_series(conn: &mut Conn, ids: &[i32], now: DateTime<Utc>) -> Result<(), AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    let wanted: HashSet<i32> = ids.iter().copied().collect();
    let candidates: Vec<(i32, Option<String>)> = schedules::table
        .filter(schedules::source.like("event:%"))
        .filter(schedules::deleted_at.is_null())
        .select((schedules::id, schedules::source))
        .load(conn)?;
    let ending: Vec<i32> = candidates
        .into_iter()
        .filter(|(_, source)| {
            matches!(source.as_deref().and_then(Subject::parse), Some(Subject::Event { id, .. }) if wanted.contains(&id))
        })
        .map(|(id, _)| id)
        .collect();
    if ending.is_empty() {
        return Ok(());
    }
    for chunk in ending.chunks(500) {
        diesel::update(schedules::table.filter(schedules::id.eq_any(chunk)))
            .set((schedules::deleted_at.eq(to_ms(now)), schedules::next_fire_at.eq(None::<i64>)))
            .execute(conn)?;
    }
    super::rearmed();
    Ok(())
}

/// Ends the reminders of every event of a calendar (it is about to go).
pub fn end_calendar(conn: &mut Conn, calendar_id: i32, now: DateTime<Utc>) -> Result<(), AppError> {
    let ids: Vec<i32> =
        events::table.filter(events::calendar_id.eq(calendar_id)).select(events::id).load(conn)?;
    end_series(conn, &ids, now)
}

/// The instant the reminder of series `id` fires next after `after`.
pub fn next_after(
    conn: &mut Conn,
    s: &Schedule,
    id: i32,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let Some(series) = Series::load(conn, id)? else { return Ok(None) };
    if series.live.is_empty() {
        return Ok(None);
    }
    let default = calendar_default(conn, series.master.calendar_id)?;
    let settings = settings::load(conn)?;
    let frame = Frame { default: &default, settings: &settings, tz: s.zone() };
    Ok(frame.next(&series.live, after, false).map(|h| h.at))
}

/// The notification of a reminder of series `id` firing at `at` (for a snooze, `occurrence`
/// names the occurrence by its start); `None` when the event or the occurrence is gone.
pub(super) fn written(
    conn: &mut Conn,
    s: &Schedule,
    settings: &Settings,
    id: i32,
    occurrence: Option<i64>,
    at: DateTime<Utc>,
) -> Result<Option<NewNotification>, AppError> {
    let Some(series) = Series::load(conn, id)? else { return Ok(None) };
    if series.live.is_empty() {
        return Ok(None);
    }
    let tz = s.zone();
    let default = calendar_default(conn, series.master.calendar_id)?;
    let frame = Frame { default: &default, settings, tz };
    let found = match occurrence {
        Some(start) => {
            let start = from_ms(start);
            let (around, _) =
                expand_rows(&series.live, tz, start - Duration::days(2), start + Duration::days(2));
            let exact = around.iter().find(|o| o.start_at == start).cloned();
            // A single event that moved since the snooze: it is still the one.
            exact.or_else(|| {
                if series.master.is_recurring() {
                    return None;
                }
                let (all, _) = expand_rows(
                    &series.live,
                    tz,
                    from_ms(series.master.start_at) - Duration::days(2),
                    from_ms(series.master.end_at) + Duration::days(2),
                );
                all.into_iter().next()
            })
        }
        None => {
            let hits = frame.hits(&series.live, at - Duration::milliseconds(1), true, 35);
            let exact = hits.iter().find(|h| h.at == at).map(|h| h.occurrence.clone());
            // Moved since this firing was claimed: the occurrence coming up.
            exact.or_else(|| hits.into_iter().map(|h| h.occurrence).find(|o| o.start_at >= at))
        }
    };
    let Some(o) = found else { return Ok(None) };
    let row = series.live.iter().find(|e| e.id == o.event_id).unwrap_or(&series.master);
    Ok(Some(NewNotification {
        title: o.title.clone(),
        body: starts_phrase(&o, at, tz),
        level: "info",
        schedule_id: Some(s.id),
        subject: Some(Subject::Event { id: series.master.id, at: Some(to_ms(o.start_at)) }.key()),
        urgent: urgent(row) || urgent(&series.master),
        ..Default::default()
    }))
}

/// "today", "tomorrow", "on Friday", "on Thu 24 Dec 2026".
fn day_word(day: chrono::NaiveDate, today: chrono::NaiveDate) -> String {
    match (day - today).num_days() {
        0 => "today".into(),
        1 => "tomorrow".into(),
        -1 => "yesterday".into(),
        n if (2..7).contains(&n) => day.format("on %A").to_string(),
        _ => day.format("on %a %-d %b %Y").to_string(),
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// "Starts today at 09:30 (in 10 min) · Room 4", in the person's words and zone; an event
/// written in another zone says its own time too.
fn starts_phrase(o: &Occurrence, at: DateTime<Utc>, tz: Tz) -> String {
    let today = at.with_timezone(&tz).date_naive();
    let mut out = if o.all_day {
        let last = o.end.date().pred_opt().unwrap_or(o.end.date()).max(o.start.date());
        if last > o.start.date() {
            format!(
                "{} until {}, all day",
                capital(&day_word(o.start.date(), today)),
                last.format("%a %-d %b")
            )
        } else {
            format!("{}, all day", capital(&day_word(o.start.date(), today)))
        }
    } else {
        let local = o.start_at.with_timezone(&tz);
        let day = day_word(local.date_naive(), today);
        let wait = o.start_at - at;
        let mut when = if wait.num_minutes() <= 0 && wait > -Duration::minutes(1) {
            "now".to_string()
        } else if wait.num_minutes() < 0 {
            let ago = -wait;
            if ago.num_minutes() < 60 {
                format!("{} min ago", ago.num_minutes())
            } else {
                format!("{} h ago", ago.num_hours())
            }
        } else if wait.num_minutes() < 60 {
            format!("in {} min", wait.num_minutes())
        } else if wait.num_hours() < 48 {
            let (h, m) = (wait.num_hours(), wait.num_minutes() % 60);
            if m == 0 || h >= 10 { format!("in {h} h") } else { format!("in {h} h {m} min") }
        } else {
            format!("in {} days", wait.num_days())
        };
        // Written in another zone whose clock reads differently (not UTC, which files use
        // for everything): its own time too.
        if let Some(zone) = o.zone.as_deref().filter(|z| *z != tz.name() && !z.eq_ignore_ascii_case("UTC"))
            && let Ok(z) = zone.parse::<Tz>()
            && o.start_at.with_timezone(&z).naive_local() != local.naive_local()
        {
            let city = zone.rsplit('/').next().unwrap_or(zone).replace('_', " ");
            when.push_str(&format!("; {} in {city}", o.start_at.with_timezone(&z).format("%H:%M")));
        }
        let verb = if wait < -Duration::minutes(1) { "Started" } else { "Starts" };
        format!("{verb} {day} at {} ({when})", local.format("%H:%M"))
    };
    if let Some(loc) = o.location.as_deref().filter(|l| !l.trim().is_empty()) {
        out.push_str(" · ");
        out.push_str(loc);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn triggers_are_read_from_valarm_lines() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let rel = |days, secs, end| Some(Trigger::Relative { days, secs, end });
        let cases: Vec<(&str, Option<Trigger>)> = vec![
            ("TRIGGER:-PT15M", rel(0, -900, false)),
            ("TRIGGER:PT0S", rel(0, 0, false)),
            ("TRIGGER:-P1D", rel(-1, 0, false)),
            ("TRIGGER:-P1W", rel(-7, 0, false)),
            ("TRIGGER:-P1DT2H30M", rel(-1, -9000, false)),
            ("TRIGGER:+PT5M", rel(0, 300, false)),
            ("TRIGGER;RELATED=END:-PT10M", rel(0, -600, true)),
            ("trigger;related=start:-pt1h", rel(0, -3600, false)),
            ("TRIGGER;VALUE=DURATION:-PT30M", rel(0, -1800, false)),
            (
                "TRIGGER;VALUE=DATE-TIME:20261224T080000Z",
                Some(Trigger::Absolute(utc("2026-12-24T08:00:00Z"))),
            ),
            ("TRIGGER;VALUE=DATE-TIME:20261224T080000", Some(Trigger::Absolute(utc("2026-12-24T07:00:00Z")))),
            ("TRIGGER:-PT", None),
            ("TRIGGER:-P1H", None),
            ("TRIGGER:soon", None),
            ("TRIGGER:-P", None),
            ("TRIGGER:-PT15", None),
            ("TRIGGER;VALUE=DATE-TIME:2026-12-24", None),
        ];
        for (line, want) in cases {
            assert_eq!(parse_trigger(line, berlin), want, "{line}");
        }
    }

    #[test]
    fn only_alarms_that_show_or_sound_count() {
        let tz: Tz = "UTC".parse().unwrap();
        let alarm = |action: &str, raw: &str| Alarm {
            action: action.into(),
            trigger: String::new(),
            raw: raw.into(),
        };
        let raw = "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER;RELATED=END:PT0S\nEND:VALARM";
        assert_eq!(
            Trigger::of_alarm(&alarm("DISPLAY", raw), tz),
            Some(Trigger::Relative { days: 0, secs: 0, end: true })
        );
        assert!(Trigger::of_alarm(&alarm("AUDIO", raw), tz).is_some());
        assert!(Trigger::of_alarm(&alarm("EMAIL", raw), tz).is_some());
        assert_eq!(Trigger::of_alarm(&alarm("NONE", raw), tz), None);
        assert_eq!(Trigger::of_alarm(&alarm("PROCEDURE", raw), tz), None);
        // No TRIGGER line kept: the value alone.
        let bare = Alarm { action: "DISPLAY".into(), trigger: "-PT5M".into(), raw: String::new() };
        assert_eq!(Trigger::of_alarm(&bare, tz), Some(Trigger::Relative { days: 0, secs: -300, end: false }));
    }

    /// A feed of `n` events a day apart from 2026-01-01 09:00 UTC; every other one has a
    /// 15-minute alarm; `moved` starts an hour later; `dropped` is left out.
    fn feed(n: usize, moved: Option<usize>, dropped: Option<usize>) -> String {
        let mut out = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n");
        let day0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        for i in 0..n {
            if Some(i) == dropped {
                continue;
            }
            let day = (day0 + Duration::days(i as i64)).format("%Y%m%d");
            let hour = if Some(i) == moved { 10 } else { 9 };
            out.push_str(&format!(
                "BEGIN:VEVENT\r\nUID:e{i}@t\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{day}T{hour:02}0000Z\r\nDTEND:{day}T{:02}0000Z\r\nSUMMARY:Event {i}\r\n",
                hour + 1
            ));
            if i % 2 == 0 {
                out.push_str("BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n");
            }
            out.push_str("END:VEVENT\r\n");
        }
        out.push_str("END:VCALENDAR\r\n");
        out
    }

    fn armed(conn: &mut Conn) -> HashMap<String, (i64, i64)> {
        schedules::table
            .filter(schedules::kind.eq(KIND))
            .filter(schedules::deleted_at.is_null())
            .filter(schedules::next_fire_at.is_not_null())
            .select((schedules::source, schedules::next_fire_at, schedules::updated_at))
            .load::<(Option<String>, Option<i64>, i64)>(conn)
            .unwrap()
            .into_iter()
            .map(|(s, n, u)| (s.unwrap(), (n.unwrap(), u)))
            .collect()
    }

    #[test]
    fn a_refreshed_feed_arms_only_future_events_and_touches_only_what_changed() {
        use crate::calendar::ics::{ImportOptions, import_with};
        use crate::calendar::service::{self, CalendarInput, Origin};
        let (_dir, mut conn) = crate::calendar::service::tests::db();
        // 2,000 daily events from 1 January 2026; now is 1 July 2026 (day 181).
        let ctx = crate::calendar::service::tests::ctx("2026-07-01T12:00:00Z", "Europe/Berlin");
        let none = CalendarInput { reminders: Some(vec![]), ..Default::default() };
        service::update_calendar(&mut conn, &ctx, 1, &none).unwrap();
        let options = ImportOptions { origin: Origin::Subscription, prune: true };
        let started = std::time::Instant::now();
        import_with(&mut conn, &ctx, 1, &feed(2000, None, None), options).unwrap();
        eprintln!("first copy of 2,000 events: {:?}", started.elapsed());
        let first = armed(&mut conn);
        // Days 182..2000 are ahead; of those, the even ones carry an alarm (the calendar says none).
        assert_eq!(first.len(), (182..2000).filter(|i| i % 2 == 0).count());
        let id_of = |conn: &mut Conn, uid: &str| -> i32 {
            events::table.filter(events::uid.eq(uid)).select(events::id).first(conn).unwrap()
        };
        let e200 = id_of(&mut conn, "e200@t");
        assert_eq!(
            first[&format!("event:{e200}")].0,
            to_ms(utc("2026-07-20T08:45:00Z")),
            "day 200 at 09:00 UTC, 15 minutes before"
        );
        // The next copy moves one event and drops another: only those change.
        let later = crate::calendar::service::tests::ctx("2026-07-01T12:30:00Z", "Europe/Berlin");
        let started = std::time::Instant::now();
        import_with(&mut conn, &later, 1, &feed(2000, Some(200), Some(300)), options).unwrap();
        eprintln!("refresh of 2,000 events, 2 changed: {:?}", started.elapsed());
        let second = armed(&mut conn);
        let e300 = id_of(&mut conn, "e300@t");
        assert_eq!(second.len(), first.len() - 1);
        assert!(!second.contains_key(&format!("event:{e300}")), "dropped from the feed");
        assert_eq!(second[&format!("event:{e200}")].0, to_ms(utc("2026-07-20T09:45:00Z")));
        let touched: Vec<&String> =
            second.iter().filter(|(k, v)| first.get(*k) != Some(v)).map(|(k, _)| k).collect();
        assert_eq!(touched, vec![&format!("event:{e200}")]);
        // A default for the calendar: the events without alarms get it too.
        let ten = CalendarInput { reminders: Some(vec!["10m".into()]), ..Default::default() };
        let started = std::time::Instant::now();
        service::update_calendar(&mut conn, &later, 1, &ten).unwrap();
        eprintln!("a new default re-syncs 2,000 events: {:?}", started.elapsed());
        assert_eq!(armed(&mut conn).len(), 2000 - 182 - 1);
    }

    #[test]
    fn spec_texts() {
        let l = |t: &str| Trigger::Lead(Lead::parse(t).unwrap());
        assert_eq!(l("10m").text(), "10m");
        assert_eq!(Trigger::Relative { days: 0, secs: -900, end: false }.text(), "15m");
        assert_eq!(Trigger::Relative { days: -1, secs: 0, end: false }.text(), "1d");
        assert_eq!(Trigger::Relative { days: 0, secs: 300, end: false }.text(), "+5m");
        assert_eq!(Trigger::Relative { days: 0, secs: -600, end: true }.text(), "end-10m");
        assert_eq!(Trigger::Absolute(utc("2026-12-24T08:00:00Z")).text(), "at 2026-12-24T08:00Z");
    }
}
