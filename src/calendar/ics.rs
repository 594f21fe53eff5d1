//! iCalendar (RFC 5545) files in and out.
//!
//! Reading ([`import`], [`import_with`], [`parse`]) is lenient, as real files need: a BOM, CRLF,
//! LF or CR line ends, folded lines (space or tab), `TZID`s that are IANA names, Windows or
//! Outlook names (mapped with `calcard`'s table), `/`-prefixed Olson ids or custom VTIMEZONEs
//! (matched to an IANA zone by `X-LIC-LOCATION`, `X-MICROSOFT-CDO-TZID`, or their offsets), DATE
//! values, escaped commas. Each VEVENT is read on its own: one that is broken is skipped with a
//! reason and the rest are imported; VTODO and VJOURNAL are skipped and reported. Re-importing
//! updates by UID (and RECURRENCE-ID), never duplicates, and keeps a newer stored copy (higher
//! SEQUENCE). VALARMs are kept verbatim.
//!
//! Writing ([`write`]) gives every event its stable UID and SEQUENCE, a VTIMEZONE for every
//! zone used, folded lines; callers may add VEVENTs of their own (tasks, firings).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};
use diesel::prelude::*;
use serde::Serialize;

use super::recur::{Rule, Until};
use super::service::{self, Fields, Origin};
use super::{Alarm, Event, RDate, Wall, resolve};
use crate::clock::to_ms;
use crate::db::schema::events;
use crate::db::{self, Conn};
use crate::error::AppError;
use crate::services::Ctx;

/// The largest file read, in bytes.
pub const MAX_BYTES: usize = 20 << 20;

// ---------------------------------------------------------------------------------------------
// Content lines and components

/// One content line: `NAME;PARAM=value:VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    pub name: String,
    pub params: Vec<(String, String)>,
    pub value: String,
    /// The unfolded line as read.
    pub raw: String,
}

impl Prop {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }
}

/// A component (`VCALENDAR`, `VEVENT`, `VALARM`, ...) with its lines and children.
#[derive(Debug, Clone, Default)]
pub struct Component {
    pub name: String,
    pub props: Vec<Prop>,
    pub children: Vec<Component>,
    /// Lines that could not be read, and a missing END.
    pub problems: Vec<String>,
    /// The component's lines as read (unfolded), BEGIN and END included.
    pub raw: Vec<String>,
}

impl Component {
    pub fn prop(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }
}

/// A file's bytes as text: UTF-8 (with or without a BOM), else Windows-1252/Latin-1 as some
/// old exporters write.
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Unfolds a file's text into logical lines: BOM dropped, any line end, a line beginning with a
/// space or tab continuing the one before.
pub fn unfold(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        for (i, part) in line.split('\r').enumerate() {
            let continues = part.starts_with([' ', '\t']);
            match lines.last_mut() {
                Some(last) if continues && (i > 0 || !last.is_empty()) => last.push_str(&part[1..]),
                _ if part.is_empty() => lines.push(String::new()),
                _ => lines.push(part.to_string()),
            }
        }
    }
    lines.retain(|l| !l.trim().is_empty());
    lines
}

/// Reads one content line, or says why it cannot be read.
pub fn parse_line(line: &str) -> Result<Prop, String> {
    let mut name_end = None;
    for (i, c) in line.char_indices() {
        if c == ';' || c == ':' {
            name_end = Some(i);
            break;
        }
    }
    let Some(name_end) = name_end else {
        return Err(format!("line {:?} has no ':'", shorten(line)));
    };
    let name = line[..name_end].trim().to_ascii_uppercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
        return Err(format!("line {:?} has no property name", shorten(line)));
    }
    let rest = &line[name_end..];
    let mut params = Vec::new();
    let mut chars = rest.char_indices().peekable();
    let mut value_start = None;
    // Params: ;KEY=value or ;KEY="quoted", several values with commas.
    while let Some((i, c)) = chars.next() {
        match c {
            ':' => {
                value_start = Some(i + 1);
                break;
            }
            ';' => {
                let mut key = String::new();
                let mut value = String::new();
                let mut in_value = false;
                let mut quoted = false;
                while let Some(&(j, d)) = chars.peek() {
                    if !quoted && (d == ';' || d == ':') {
                        let _ = j;
                        break;
                    }
                    chars.next();
                    if d == '"' {
                        quoted = !quoted;
                        continue;
                    }
                    if !in_value && d == '=' {
                        in_value = true;
                        continue;
                    }
                    if in_value { value.push(d) } else { key.push(d) }
                }
                if quoted {
                    return Err(format!("line {:?} has an unclosed quote", shorten(line)));
                }
                let key = key.trim().to_ascii_uppercase();
                if !key.is_empty() {
                    params.push((key, value));
                }
            }
            _ => {}
        }
    }
    let Some(value_start) = value_start else {
        return Err(format!("line {:?} has no ':' after its parameters", shorten(line)));
    };
    Ok(Prop { name, params, value: rest[value_start..].to_string(), raw: line.to_string() })
}

fn shorten(line: &str) -> String {
    if line.chars().count() <= 60 {
        line.to_string()
    } else {
        format!("{}…", line.chars().take(60).collect::<String>())
    }
}

/// The file is not a calendar at all (no VCALENDAR and no VEVENT).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotACalendar(pub String);

/// Reads the components of a file: the top-level ones (usually one VCALENDAR).
pub fn parse(text: &str) -> Result<Vec<Component>, NotACalendar> {
    let lines = unfold(text);
    let mut top: Vec<Component> = Vec::new();
    let mut stack: Vec<Component> = Vec::new();
    fn close(stack: &mut Vec<Component>, top: &mut Vec<Component>) {
        if let Some(done) = stack.pop() {
            match stack.last_mut() {
                Some(parent) => parent.children.push(done),
                None => top.push(done),
            }
        }
    }
    for line in lines {
        let upper = line.trim().to_ascii_uppercase();
        if let Some(name) = upper.strip_prefix("BEGIN:") {
            let name = name.trim().to_string();
            // A component that cannot nest here: the open one of the same kind lacked its END.
            if matches!(name.as_str(), "VEVENT" | "VTODO" | "VJOURNAL" | "VFREEBUSY" | "VTIMEZONE")
                && let Some(open) = stack.iter().rposition(|c| {
                    matches!(c.name.as_str(), "VEVENT" | "VTODO" | "VJOURNAL" | "VFREEBUSY" | "VTIMEZONE")
                })
            {
                while stack.len() > open {
                    if let Some(c) = stack.last_mut() {
                        c.problems.push(format!("has no END:{}", c.name));
                    }
                    close(&mut stack, &mut top);
                }
            }
            if stack.len() >= 16 {
                return Err(NotACalendar("components nest more than 16 deep".into()));
            }
            stack.push(Component { name, raw: vec![line.clone()], ..Default::default() });
            continue;
        }
        if let Some(name) = upper.strip_prefix("END:") {
            let name = name.trim();
            match stack.iter().rposition(|c| c.name == name) {
                Some(pos) => {
                    while stack.len() > pos + 1 {
                        if let Some(c) = stack.last_mut() {
                            c.problems.push(format!("has no END:{}", c.name));
                        }
                        close(&mut stack, &mut top);
                    }
                    if let Some(c) = stack.last_mut() {
                        c.raw.push(line.clone());
                    }
                    close(&mut stack, &mut top);
                }
                None => {
                    if let Some(c) = stack.last_mut() {
                        c.problems.push(format!("has END:{name} without its BEGIN"));
                    }
                }
            }
            continue;
        }
        let Some(current) = stack.last_mut() else {
            continue;
        };
        current.raw.push(line.clone());
        match parse_line(&line) {
            Ok(p) => current.props.push(p),
            Err(e) => current.problems.push(e),
        }
    }
    while let Some(c) = stack.last_mut() {
        c.problems.push(format!("has no END:{}", c.name));
        close(&mut stack, &mut top);
    }
    let has = |name: &str| top.iter().any(|c| c.name == name);
    if !has("VCALENDAR") && !has("VEVENT") {
        return Err(NotACalendar(
            "this is not an iCalendar file (no BEGIN:VCALENDAR or BEGIN:VEVENT)".into(),
        ));
    }
    Ok(top)
}

// ---------------------------------------------------------------------------------------------
// Values

/// Undoes TEXT escaping (`\n`, `\,`, `\;`, `\\`).
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// TEXT escaping for writing.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Splits a list value on commas that are not escaped.
pub fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            out.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    if escaped {
        current.push('\\');
    }
    out.push(current);
    out
}

/// A DATE or DATE-TIME value as written: its wall time and whether it is UTC (`Z`).
fn parse_stamp(value: &str) -> Option<(Wall, bool)> {
    let v = value.trim();
    let digits: String = v.chars().filter(|c| !matches!(c, '-' | ':')).collect();
    if digits.len() == 8 {
        return NaiveDate::parse_from_str(&digits, "%Y%m%d").ok().map(|d| (Wall::Date(d), false));
    }
    let (body, utc) = match digits.strip_suffix(['Z', 'z']) {
        Some(b) => (b, true),
        None => (digits.as_str(), false),
    };
    let body = body.split(['.', '+']).next().unwrap_or(body);
    for format in ["%Y%m%dT%H%M%S", "%Y%m%dT%H%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(body, format) {
            return Some((Wall::DateTime(t), utc));
        }
    }
    None
}

/// An RFC 5545 DURATION (`PT1H30M`, `-P1D`, `P2W`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim().to_ascii_uppercase();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, t.strip_prefix('+').unwrap_or(&t).to_string()),
    };
    let t = t.strip_prefix('P')?;
    let mut total = Duration::zero();
    let mut number = String::new();
    let mut in_time = false;
    let mut any = false;
    for c in t.chars() {
        match c {
            '0'..='9' => number.push(c),
            'T' => in_time = true,
            'W' | 'D' | 'H' | 'M' | 'S' => {
                let n: i64 = number.parse().ok()?;
                if n > 100_000_000 {
                    return None;
                }
                number.clear();
                any = true;
                total += match (c, in_time) {
                    ('W', _) => Duration::weeks(n),
                    ('D', _) => Duration::days(n),
                    ('H', true) => Duration::hours(n),
                    ('M', true) => Duration::minutes(n),
                    ('S', true) => Duration::seconds(n),
                    _ => return None,
                };
            }
            _ => return None,
        }
    }
    if !any || !number.is_empty() {
        return None;
    }
    Some(if neg { -total } else { total })
}

// ---------------------------------------------------------------------------------------------
// Zones

/// Resolves TZIDs of one file: its VTIMEZONEs mapped to IANA zones.
#[derive(Debug, Default)]
pub struct Zones {
    by_id: HashMap<String, Tz>,
}

/// An IANA zone for a zone name as calendars write it: IANA, Windows (`W. Europe Standard
/// Time`), Outlook (`(UTC+01:00) Amsterdam, Berlin, ...`), `/`-prefixed Olson paths.
pub fn zone_from_name(name: &str) -> Option<Tz> {
    let name = name.trim().trim_matches('"');
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(tz);
    }
    match calcard::common::timezone::Tz::from_str(name) {
        Ok(calcard::common::timezone::Tz::Tz(tz)) => Some(tz),
        _ => None,
    }
}

impl Zones {
    pub fn from_components(calendar: &Component) -> Zones {
        let mut zones = Zones::default();
        for tz in calendar.children.iter().filter(|c| c.name == "VTIMEZONE") {
            let Some(id) = tz.prop("TZID").map(|p| p.value.trim().to_string()) else { continue };
            let found = zone_from_name(&id)
                .or_else(|| {
                    tz.prop("X-LIC-LOCATION")
                        .and_then(|p| zone_from_name(p.value.trim_start_matches("SystemV/")))
                })
                .or_else(|| {
                    tz.prop("X-MICROSOFT-CDO-TZID")
                        .and_then(|p| calcard::common::timezone::Tz::from_ms_cdo_zone_id(p.value.trim()))
                        .and_then(|t| match t {
                            calcard::common::timezone::Tz::Tz(z) => Some(z),
                            _ => None,
                        })
                })
                .or_else(|| zone_by_offsets(tz));
            if let Some(z) = found {
                zones.by_id.insert(id, z);
            }
        }
        zones
    }

    /// The zone a TZID names; `None` when nothing matches (the value then reads as floating).
    pub fn resolve(&self, tzid: &str) -> Option<Tz> {
        let id = tzid.trim().trim_matches('"');
        self.by_id.get(id).copied().or_else(|| zone_from_name(id))
    }
}

fn parse_offset(text: &str) -> Option<i32> {
    let t = text.trim();
    let (sign, rest) = match t.chars().next()? {
        '+' => (1, &t[1..]),
        '-' => (-1, &t[1..]),
        _ => (1, t),
    };
    if rest.len() < 4 || !rest.is_char_boundary(2) || !rest.is_char_boundary(4) {
        return None;
    }
    let h: i32 = rest[..2].parse().ok()?;
    let m: i32 = rest[2..4].parse().ok()?;
    let s: i32 = if rest.len() >= 6 && rest.is_char_boundary(6) { rest[4..6].parse().ok()? } else { 0 };
    Some(sign * (h * 3600 + m * 60 + s))
}

/// A custom VTIMEZONE with an unknown name: the IANA zone whose standard and daylight offsets
/// (this year) are the VTIMEZONE's, preferring the common city zones.
fn zone_by_offsets(tz: &Component) -> Option<Tz> {
    let offset_of = |kind: &str| {
        tz.children
            .iter()
            .filter(|c| c.name == kind)
            .filter_map(|c| c.prop("TZOFFSETTO"))
            .filter_map(|p| parse_offset(&p.value))
            .next_back()
    };
    let std = offset_of("STANDARD").or_else(|| offset_of("DAYLIGHT"))?;
    let dst = offset_of("DAYLIGHT");
    let preferred = [
        "Europe/London",
        "Europe/Berlin",
        "Europe/Athens",
        "Europe/Moscow",
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
        "America/Halifax",
        "America/Sao_Paulo",
        "Asia/Kolkata",
        "Asia/Shanghai",
        "Asia/Tokyo",
        "Australia/Sydney",
        "Australia/Brisbane",
        "Australia/Adelaide",
        "Australia/Perth",
        "Pacific/Auckland",
        "Asia/Dubai",
        "Africa/Johannesburg",
        "Asia/Singapore",
        "Asia/Jakarta",
        "Asia/Karachi",
        "Asia/Tehran",
        "Africa/Lagos",
    ];
    let year = 2026;
    let matches = |z: Tz| -> bool {
        let jan = z.offset_from_utc_datetime(
            &NaiveDate::from_ymd_opt(year, 1, 15).and_then(|d| d.and_hms_opt(12, 0, 0)).unwrap_or_default(),
        );
        let jul = z.offset_from_utc_datetime(
            &NaiveDate::from_ymd_opt(year, 7, 15).and_then(|d| d.and_hms_opt(12, 0, 0)).unwrap_or_default(),
        );
        let (a, b) = (jan.fix().local_minus_utc(), jul.fix().local_minus_utc());
        match dst {
            Some(d) if d != std => (a == std && b == d) || (a == d && b == std),
            _ => a == std && b == std,
        }
    };
    preferred
        .iter()
        .filter_map(|n| n.parse::<Tz>().ok())
        .find(|z| matches(*z))
        .or_else(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .copied()
                .filter(|z| z.name().contains('/') && !z.name().starts_with("Etc/"))
                .find(|z| matches(*z))
        })
        .or_else(|| {
            // A fixed offset of whole hours: Etc/GMT-N has the sign turned around.
            (dst.is_none() && std % 3600 == 0)
                .then(|| format!("Etc/GMT{:+}", -std / 3600).parse::<Tz>().ok())
                .flatten()
        })
}

/// A value in the frame of an event written in `zone` (or floating, or all-day): a UTC or
/// other-zone date-time is converted to the frame's wall time.
fn to_frame(
    prop: &Prop,
    value: &str,
    zones: &Zones,
    frame: Option<Tz>,
    all_day: bool,
) -> Result<Wall, String> {
    let (wall, utc) =
        parse_stamp(value).ok_or_else(|| format!("{}: {value:?} is not a date or date-time", prop.name))?;
    if all_day {
        return Ok(Wall::Date(wall.date()));
    }
    let Wall::DateTime(t) = wall else {
        return Ok(wall);
    };
    let source = if utc { Some(Tz::UTC) } else { prop.param("TZID").and_then(|id| zones.resolve(id)) };
    Ok(match (source, frame) {
        (Some(s), Some(f)) if s != f => Wall::DateTime(resolve(s, t).with_timezone(&f).naive_local()),
        _ => Wall::DateTime(t),
    })
}

// ---------------------------------------------------------------------------------------------
// Import

/// What an import did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub updated: usize,
    /// Read again, with nothing new.
    pub unchanged: usize,
    /// `(uid, reason)`: events not imported, and components that are not events.
    pub skipped: Vec<(String, String)>,
    /// Rows removed because the file no longer has them (subscriptions: `prune`).
    pub removed: usize,
}

impl ImportReport {
    /// "3 imported, 1 updated, 2 skipped".
    pub fn summary(&self) -> String {
        format!("{} imported, {} updated, {} skipped", self.imported, self.updated, self.skipped.len())
    }

    /// As the API and `--json` give it: counts, the summary line, each skipped event named.
    pub fn to_json(&self) -> serde_json::Value {
        let skipped: Vec<_> = self
            .skipped
            .iter()
            .map(|(uid, reason)| serde_json::json!({"uid": uid, "reason": reason}))
            .collect();
        serde_json::json!({
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": skipped,
            "summary": self.summary(),
        })
    }
}

/// How an import writes.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Recorded as `created_by`.
    pub origin: Origin,
    /// Remove the calendar's events that the file does not have (a subscription's refresh).
    pub prune: bool,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions { origin: Origin::Import, prune: false }
    }
}

/// One VEVENT read into fields.
#[derive(Debug, Clone)]
pub struct ReadEvent {
    pub uid: String,
    pub recurrence_id: Option<Wall>,
    pub sequence: i32,
    pub fields: Fields,
}

/// Imports a file into a calendar as the person's import.
pub fn import(conn: &mut Conn, ctx: &Ctx, calendar_id: i32, text: &str) -> Result<ImportReport, AppError> {
    import_with(conn, ctx, calendar_id, text, ImportOptions::default())
}

/// Imports a file into a calendar. "Not a calendar" is an `Invalid` error on `file`; anything
/// else wrong is in the report.
pub fn import_with(
    conn: &mut Conn,
    ctx: &Ctx,
    calendar_id: i32,
    text: &str,
    options: ImportOptions,
) -> Result<ImportReport, AppError> {
    if text.len() > MAX_BYTES {
        return Err(AppError::invalid("file", format!("is larger than {} MB", MAX_BYTES >> 20)));
    }
    let (read, mut report) =
        read_events(text, calendar_id, ctx.tz).map_err(|e| AppError::invalid("file", e.0))?;
    db::write(conn, |conn| {
        service::get_calendar(conn, calendar_id)?;
        // What the calendar holds, by (uid, recurrence id).
        let existing: Vec<Event> = events::table
            .filter(events::calendar_id.eq(calendar_id))
            .filter(events::deleted_at.is_null())
            .select(Event::as_select())
            .load(conn)?;
        let mut by_key: HashMap<(String, Option<String>), Event> =
            existing.into_iter().map(|e| ((e.uid.clone(), e.recurrence_id.clone()), e)).collect();
        let mut seen: BTreeSet<(String, Option<String>)> = BTreeSet::new();
        // Series written or removed here: their reminders are brought in step at the end.
        let mut touched: HashSet<String> = HashSet::new();
        let mut gone_ids: Vec<i32> = Vec::new();
        for mut r in read {
            let rid = r.recurrence_id.map(|w| w.to_text());
            let key = (r.uid.clone(), rid.clone());
            if !seen.insert(key.clone()) {
                report.skipped.push((r.uid.clone(), "appears twice in the file; the first was kept".into()));
                continue;
            }
            match by_key.remove(&key) {
                None => {
                    touched.insert(r.uid.clone());
                    service::insert_row(
                        conn,
                        ctx,
                        &r.fields,
                        &r.uid,
                        rid.as_deref(),
                        r.sequence,
                        options.origin,
                    )?;
                    report.imported += 1;
                }
                Some(old) if r.sequence < old.sequence => {
                    report.skipped.push((
                        r.uid.clone(),
                        format!("older than the stored copy (SEQUENCE {} < {})", r.sequence, old.sequence),
                    ));
                }
                Some(old) => {
                    // Reminders the person set on the event stay (a file has none of Steward's).
                    r.fields.reminders = old.reminders.clone();
                    if Fields::of(&old) == r.fields && old.sequence == r.sequence {
                        report.unchanged += 1;
                    } else {
                        touched.insert(r.uid.clone());
                        service::save_row(conn, ctx, old.id, &r.fields, r.sequence)?;
                        report.updated += 1;
                    }
                }
            }
        }
        if options.prune {
            let now = to_ms(ctx.now);
            for (_, gone) in by_key {
                diesel::update(events::table.find(gone.id)).set(events::deleted_at.eq(now)).execute(conn)?;
                touched.insert(gone.uid.clone());
                gone_ids.push(gone.id);
                report.removed += 1;
            }
        }
        crate::reminders::events::sync_calendar(conn, calendar_id, Some(&touched), ctx.now, ctx.tz)?;
        crate::reminders::events::end_series(conn, &gone_ids, ctx.now)?;
        Ok(())
    })?;
    Ok(report)
}

/// Reads a file's events (no database): the events, and what was skipped.
pub fn read_events(
    text: &str,
    calendar_id: i32,
    person_tz: Tz,
) -> Result<(Vec<ReadEvent>, ImportReport), NotACalendar> {
    let top = parse(text)?;
    let mut report = ImportReport::default();
    let mut out = Vec::new();
    for cal in &top {
        // A bare VEVENT at the top (no VCALENDAR) is read as a calendar of one.
        let holder;
        let cal = if cal.name == "VCALENDAR" {
            cal
        } else {
            holder =
                Component { name: "VCALENDAR".into(), children: vec![cal.clone()], ..Default::default() };
            &holder
        };
        let zones = Zones::from_components(cal);
        let mut read: Vec<(ReadEvent, Option<(Prop, String)>)> = Vec::new();
        for c in &cal.children {
            match c.name.as_str() {
                "VEVENT" => match read_event(c, &zones, calendar_id) {
                    Ok(r) => read.push(r),
                    Err(reason) => report.skipped.push((uid_of(c), reason)),
                },
                "VTODO" => report.skipped.push((uid_of(c), "is a task (VTODO), not an event".into())),
                "VJOURNAL" => {
                    report.skipped.push((uid_of(c), "is a journal entry (VJOURNAL), not an event".into()))
                }
                "VFREEBUSY" => {
                    report.skipped.push((uid_of(c), "is free/busy time (VFREEBUSY), not an event".into()))
                }
                _ => {}
            }
        }
        // Overrides' RECURRENCE-ID read in their master's frame.
        let frames: HashMap<String, (Option<Tz>, bool)> = read
            .iter()
            .filter(|(r, rid)| rid.is_none() && r.recurrence_id.is_none())
            .map(|(r, _)| (r.uid.clone(), (r.fields.zone, r.fields.all_day)))
            .collect();
        for (mut r, rid) in read {
            if let Some((prop, value)) = rid {
                let (frame, all_day) =
                    frames.get(&r.uid).copied().unwrap_or((r.fields.zone, r.fields.all_day));
                match to_frame(&prop, &value, &zones, frame, all_day) {
                    Ok(w) => r.recurrence_id = Some(w),
                    Err(e) => {
                        report.skipped.push((r.uid.clone(), e));
                        continue;
                    }
                }
            }
            out.push(r);
        }
    }
    let _ = person_tz;
    Ok((out, report))
}

fn uid_of(c: &Component) -> String {
    c.prop("UID").map(|p| p.value.trim().to_string()).filter(|u| !u.is_empty()).unwrap_or_else(|| {
        let summary = c.prop("SUMMARY").map(|p| unescape(&p.value)).unwrap_or_default();
        if summary.is_empty() { "(no UID)".to_string() } else { format!("(no UID: {summary})") }
    })
}

/// Properties the reader turns into fields; the rest are kept verbatim in `extra`.
const KNOWN: [&str; 19] = [
    "UID",
    "DTSTAMP",
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "EXDATE",
    "RDATE",
    "RECURRENCE-ID",
    "SUMMARY",
    "LOCATION",
    "DESCRIPTION",
    "CATEGORIES",
    "STATUS",
    "SEQUENCE",
    "CREATED",
    "LAST-MODIFIED",
    "EXRULE",
    "X-STEWARD-ID",
];

/// Reads one VEVENT. The RECURRENCE-ID is returned raw: it is read in the master's frame later.
#[allow(clippy::type_complexity)]
fn read_event(
    c: &Component,
    zones: &Zones,
    calendar_id: i32,
) -> Result<(ReadEvent, Option<(Prop, String)>), String> {
    if let Some(p) = c.problems.first() {
        return Err(format!("the event is broken: {p}"));
    }
    let uid = match c.prop("UID").map(|p| p.value.trim().to_string()).filter(|u| !u.is_empty()) {
        Some(u) if u.chars().count() <= 1000 => u,
        Some(_) => return Err("its UID is longer than 1000 characters".into()),
        None => {
            // No UID: one made from the event's content, so a re-import finds it again.
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(c.raw.join("\n").as_bytes());
            let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
            format!("{hex}@import.steward")
        }
    };
    let dtstart = c.prop("DTSTART").ok_or("it has no DTSTART")?;
    let (start_wall, start_utc) = parse_stamp(&dtstart.value)
        .ok_or_else(|| format!("DTSTART {:?} is not a date or date-time", dtstart.value))?;
    let all_day =
        start_wall.is_date() || dtstart.param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
    let start_wall = if all_day { Wall::Date(start_wall.date()) } else { start_wall };
    let zone = if all_day {
        None
    } else if start_utc {
        Some(Tz::UTC)
    } else {
        match dtstart.param("TZID") {
            Some(id) => Some(
                zones
                    .resolve(id)
                    .ok_or_else(|| format!("DTSTART's time zone {id:?} is not one Steward knows"))?,
            ),
            None => None,
        }
    };
    let end = if let Some(p) = c.prop("DTEND") {
        to_frame(p, &p.value, zones, zone, all_day)?
    } else if let Some(p) = c.prop("DURATION") {
        let d =
            parse_duration(&p.value).ok_or_else(|| format!("DURATION {:?} is not a duration", p.value))?;
        if d < Duration::zero() {
            return Err(format!("DURATION {:?} is negative", p.value));
        }
        match start_wall {
            Wall::Date(day) => Wall::Date(day + Duration::days(d.num_days().max(1))),
            // Nominal days keep the wall clock; hours and less are exact.
            Wall::DateTime(t) => {
                let days = Duration::days(d.num_days());
                let rest = d - days;
                let wall = t + days;
                match zone {
                    Some(z) => Wall::DateTime((resolve(z, wall) + rest).with_timezone(&z).naive_local()),
                    None => Wall::DateTime(wall + rest),
                }
            }
        }
    } else if all_day {
        Wall::Date(start_wall.date() + Duration::days(1))
    } else {
        start_wall
    };
    let end = if end < start_wall {
        // Some exporters write an end before the start; the event is read as instantaneous.
        start_wall
    } else if all_day && end == start_wall {
        Wall::Date(start_wall.date() + Duration::days(1))
    } else {
        end
    };
    let rrule = match c.prop("RRULE") {
        Some(p) => {
            let mut rule = Rule::parse(&p.value).map_err(|e| format!("RRULE {e}"))?;
            // UNTIL in the frame the expander compares with.
            if let (Some(Until::Utc(t)), true) = (rule.until, all_day) {
                rule.until = Some(Until::Date(t.date()));
            }
            Some(rule)
        }
        None => None,
    };
    let mut exdates = Vec::new();
    for p in c.all("EXDATE") {
        for v in p.value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            exdates.push(to_frame(p, v, zones, zone, all_day)?);
        }
    }
    exdates.sort();
    exdates.dedup();
    let mut rdates = Vec::new();
    for p in c.all("RDATE") {
        for v in p.value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            match v.split_once('/') {
                Some((a, b)) => {
                    let s = to_frame(p, a, zones, zone, all_day)?;
                    let e = match parse_duration(b) {
                        Some(d) => match s {
                            Wall::Date(day) => Wall::Date(day + Duration::days(d.num_days())),
                            Wall::DateTime(t) => Wall::DateTime(t + d),
                        },
                        None => to_frame(p, b, zones, zone, all_day)?,
                    };
                    rdates.push(RDate::Period(s, e));
                }
                None => rdates.push(RDate::At(to_frame(p, v, zones, zone, all_day)?)),
            }
        }
    }
    rdates.sort();
    rdates.dedup();
    let text =
        |name: &str| c.prop(name).map(|p| unescape(&p.value).trim().to_string()).filter(|v| !v.is_empty());
    let mut title = text("SUMMARY").unwrap_or_else(|| "(no title)".to_string());
    title = title.replace(['\r', '\n'], " ");
    if title.chars().count() > service::MAX_TITLE {
        title = title.chars().take(service::MAX_TITLE).collect();
    }
    let mut categories: Vec<String> = Vec::new();
    for p in c.all("CATEGORIES") {
        for v in split_list(&p.value) {
            let v = unescape(&v).trim().to_string();
            if !v.is_empty() && !categories.contains(&v) {
                categories.push(v);
            }
        }
    }
    let alarms = c
        .children
        .iter()
        .filter(|a| a.name == "VALARM")
        .map(|a| Alarm {
            action: a.prop("ACTION").map(|p| p.value.trim().to_ascii_uppercase()).unwrap_or_default(),
            trigger: a.prop("TRIGGER").map(|p| p.value.trim().to_string()).unwrap_or_default(),
            raw: a.raw.join("\n"),
        })
        .collect();
    let extra: Vec<&str> =
        c.props.iter().filter(|p| !KNOWN.contains(&p.name.as_str())).map(|p| p.raw.as_str()).collect();
    let sequence = c.prop("SEQUENCE").and_then(|p| p.value.trim().parse::<i32>().ok()).unwrap_or(0).max(0);
    let fields = Fields {
        calendar_id,
        title,
        all_day,
        zone,
        start: start_wall,
        end,
        rrule,
        exdates,
        rdates,
        location: text("LOCATION"),
        notes: text("DESCRIPTION"),
        categories,
        alarms,
        status: c.prop("STATUS").map(|p| p.value.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()),
        extra: (!extra.is_empty()).then(|| extra.join("\n")),
        reminders: None,
    };
    let rid = c.prop("RECURRENCE-ID").map(|p| (p.clone(), p.value.clone()));
    Ok((ReadEvent { uid, recurrence_id: None, sequence, fields }, rid))
}

// ---------------------------------------------------------------------------------------------
// Export

/// What a written calendar carries besides its events.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `X-WR-CALNAME` (and `NAME`).
    pub name: Option<String>,
    /// `REFRESH-INTERVAL` and `X-PUBLISHED-TTL` for subscribers.
    pub refresh: Option<Duration>,
    /// Whole VEVENTs (lines without CRLF, BEGIN and END included) written after the events:
    /// tasks, scheduled firings. Their zones go in `zones`.
    pub extra_vevents: Vec<Vec<String>>,
    /// Zones used by `extra_vevents`.
    pub zones: Vec<Tz>,
}

/// Folds a content line at 75 octets (never inside a UTF-8 character) and ends it with CRLF.
pub fn fold_into(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

fn stamp_utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn wall_value(w: Wall) -> String {
    match w {
        Wall::Date(d) => d.format("%Y%m%d").to_string(),
        Wall::DateTime(t) => t.format("%Y%m%dT%H%M%S").to_string(),
    }
}

/// `NAME;TZID=...:value` for a wall time in an event's frame.
fn time_prop(name: &str, w: Wall, zone: Option<Tz>) -> String {
    match (w, zone) {
        (Wall::Date(_), _) => format!("{name};VALUE=DATE:{}", wall_value(w)),
        (Wall::DateTime(_), Some(Tz::UTC)) => format!("{name}:{}Z", wall_value(w)),
        (Wall::DateTime(_), Some(z)) => format!("{name};TZID={}:{}", z.name(), wall_value(w)),
        (Wall::DateTime(_), None) => format!("{name}:{}", wall_value(w)),
    }
}

/// The lines of one event row's VEVENT.
pub fn vevent_lines(e: &Event, now: DateTime<Utc>) -> Vec<String> {
    let zone = if e.all_day { None } else { e.tz() };
    let mut lines =
        vec!["BEGIN:VEVENT".to_string(), format!("UID:{}", e.uid), format!("DTSTAMP:{}", stamp_utc(now))];
    lines.push(time_prop("DTSTART", e.start(), zone));
    lines.push(time_prop("DTEND", e.end(), zone));
    if let Some(k) = e.recurrence_key() {
        lines.push(time_prop("RECURRENCE-ID", k, zone));
    }
    lines.push(format!("SEQUENCE:{}", e.sequence));
    lines.push(format!("SUMMARY:{}", escape(&e.title)));
    if let Some(rule) = e.rrule.as_deref().and_then(|r| Rule::parse(r).ok()) {
        let mut rule = rule;
        // RFC 5545: with a zoned DTSTART, UNTIL is in UTC.
        if let (Some(Until::Local(t)), Some(z)) = (rule.until, zone) {
            rule.until = Some(Until::Utc(resolve(z, t).naive_utc()));
        }
        lines.push(format!("RRULE:{rule}"));
    }
    let ex = e.exdate_list();
    if !ex.is_empty() {
        let values: Vec<String> = ex
            .iter()
            .map(|w| wall_value(*w) + if zone == Some(Tz::UTC) && !w.is_date() { "Z" } else { "" })
            .collect();
        let head = time_prop("EXDATE", ex[0], zone);
        let head = head.split(':').next().unwrap_or("EXDATE").to_string();
        lines.push(format!("{head}:{}", values.join(",")));
    }
    for r in e.rdate_list() {
        match r {
            RDate::At(w) => lines.push(time_prop("RDATE", w, zone)),
            RDate::Period(a, b) => {
                let head = time_prop("RDATE", a, zone);
                let head = head.split(':').next().unwrap_or("RDATE").to_string();
                let z = if zone == Some(Tz::UTC) { "Z" } else { "" };
                let head = if a.is_date() { head } else { format!("{head};VALUE=PERIOD") };
                lines.push(format!("{head}:{}{z}/{}{z}", wall_value(a), wall_value(b)));
            }
        }
    }
    if let Some(l) = &e.location {
        lines.push(format!("LOCATION:{}", escape(l)));
    }
    if let Some(n) = &e.notes {
        lines.push(format!("DESCRIPTION:{}", escape(n)));
    }
    let cats = e.category_list();
    if !cats.is_empty() {
        lines.push(format!("CATEGORIES:{}", cats.iter().map(|c| escape(c)).collect::<Vec<_>>().join(",")));
    }
    if let Some(s) = &e.status {
        lines.push(format!("STATUS:{s}"));
    }
    lines.push(format!("CREATED:{}", stamp_utc(crate::clock::from_ms(e.created_at))));
    lines.push(format!("LAST-MODIFIED:{}", stamp_utc(crate::clock::from_ms(e.updated_at))));
    if let Some(extra) = &e.extra {
        lines.extend(extra.lines().filter(|l| !l.trim().is_empty()).map(String::from));
    }
    for a in e.alarm_list() {
        lines.extend(a.raw.lines().map(String::from));
    }
    lines.push("END:VEVENT".to_string());
    lines
}

/// A VTIMEZONE for `zone` with its transitions from `from_year` to `to_year`.
pub fn vtimezone(zone: Tz, from_year: i32, to_year: i32) -> Vec<String> {
    let mut lines =
        vec!["BEGIN:VTIMEZONE".to_string(), format!("TZID={}", zone.name()).replacen('=', ":", 1)];
    let offset_at = |t: DateTime<Utc>| zone.offset_from_utc_datetime(&t.naive_utc());
    let fmt_offset = |secs: i32| {
        let sign = if secs < 0 { '-' } else { '+' };
        let a = secs.abs();
        if a % 60 == 0 {
            format!("{sign}{:02}{:02}", a / 3600, a / 60 % 60)
        } else {
            format!("{sign}{:02}{:02}{:02}", a / 3600, a / 60 % 60, a % 60)
        }
    };
    let start = Utc.with_ymd_and_hms(from_year, 1, 1, 0, 0, 0).single().unwrap_or_default();
    let end = Utc.with_ymd_and_hms(to_year + 1, 1, 1, 0, 0, 0).single().unwrap_or_default();
    let mut transitions = Vec::new();
    let mut t = start;
    let mut prev = offset_at(t);
    while t < end {
        let next = t + Duration::hours(12);
        let off = offset_at(next);
        if off.fix() != prev.fix() || off.abbreviation() != prev.abbreviation() {
            // Narrow down to the minute.
            let (mut lo, mut hi) = (t, next);
            while hi - lo > Duration::minutes(1) {
                let mid = lo + (hi - lo) / 2;
                if offset_at(mid).fix() == prev.fix() && offset_at(mid).abbreviation() == prev.abbreviation()
                {
                    lo = mid
                } else {
                    hi = mid
                }
            }
            transitions.push((hi, prev, off));
            prev = off;
        }
        t = next;
    }
    let block = |kind: &str, at: NaiveDateTime, from: i32, to: i32, name: Option<&str>| -> Vec<String> {
        let mut b = vec![format!("BEGIN:{kind}"), format!("DTSTART:{}", at.format("%Y%m%dT%H%M%S"))];
        b.push(format!("TZOFFSETFROM:{}", fmt_offset(from)));
        b.push(format!("TZOFFSETTO:{}", fmt_offset(to)));
        if let Some(n) = name {
            b.push(format!("TZNAME:{}", escape(n)));
        }
        b.push(format!("END:{kind}"));
        b
    };
    if transitions.is_empty() {
        let off = offset_at(start);
        let o = off.fix().local_minus_utc();
        lines.extend(block(
            "STANDARD",
            NaiveDate::from_ymd_opt(1970, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default(),
            o,
            o,
            off.abbreviation(),
        ));
    } else {
        // The offset in force before the first transition, then each transition.
        let (first_at, first_prev, _) = transitions[0];
        let o = first_prev.fix().local_minus_utc();
        let kind = if first_prev.dst_offset().is_zero() { "STANDARD" } else { "DAYLIGHT" };
        let before = (start.naive_utc() + Duration::seconds(i64::from(o))).min(first_at.naive_utc());
        lines.extend(block(kind, before, o, o, first_prev.abbreviation()));
        for (at, from, to) in transitions {
            let (f, t2) = (from.fix().local_minus_utc(), to.fix().local_minus_utc());
            let kind = if to.dst_offset().is_zero() { "STANDARD" } else { "DAYLIGHT" };
            let local = at.naive_utc() + Duration::seconds(i64::from(f));
            lines.extend(block(kind, local, f, t2, to.abbreviation()));
        }
    }
    lines.push("END:VTIMEZONE".to_string());
    lines
}

/// Writes events (masters, single events and overrides; deleted rows are left out) as one
/// calendar file, with a VTIMEZONE for every zone used.
pub fn write(rows: &[Event], options: &WriteOptions, now: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(rows.len() * 400 + 1024);
    let mut head = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        "PRODID:-//Steward//Calendar//EN".to_string(),
        "CALSCALE:GREGORIAN".to_string(),
    ];
    if let Some(name) = &options.name {
        head.push(format!("NAME:{}", escape(name)));
        head.push(format!("X-WR-CALNAME:{}", escape(name)));
    }
    if let Some(r) = options.refresh {
        let minutes = r.num_minutes().max(1);
        head.push(format!("REFRESH-INTERVAL;VALUE=DURATION:PT{minutes}M"));
        head.push(format!("X-PUBLISHED-TTL:PT{minutes}M"));
    }
    for line in &head {
        fold_into(&mut out, line);
    }
    let live: Vec<&Event> = rows.iter().filter(|e| e.deleted_at.is_none()).collect();
    // Zones used, and the years they are needed for.
    let mut zones: HashMap<Tz, (i32, i32)> = HashMap::new();
    let this_year = now.year();
    for e in &live {
        if let (Some(z), false) = (e.tz(), e.all_day) {
            let first = e.start().date().year();
            let last = match e.last_end_at {
                Some(ms) => crate::clock::from_ms(ms).year(),
                None => this_year + 10,
            };
            let span = zones.entry(z).or_insert((first, last));
            span.0 = span.0.min(first);
            span.1 = span.1.max(last);
        }
    }
    for z in &options.zones {
        zones.entry(*z).or_insert((this_year - 1, this_year + 10));
    }
    let mut zone_list: Vec<(Tz, (i32, i32))> = zones.into_iter().filter(|(z, _)| *z != Tz::UTC).collect();
    zone_list.sort_by_key(|(z, _)| z.name());
    for (z, (a, b)) in zone_list {
        for line in vtimezone(z, a.max(1900) - 1, b.min(2200).max(a) + 1) {
            fold_into(&mut out, &line);
        }
    }
    for e in live {
        for line in vevent_lines(e, now) {
            fold_into(&mut out, &line);
        }
    }
    for v in &options.extra_vevents {
        for line in v {
            fold_into(&mut out, line);
        }
    }
    fold_into(&mut out, "END:VCALENDAR");
    out
}

/// Every live event of some calendars (all when `None`) as one file.
pub fn export(
    conn: &mut Conn,
    ctx: &Ctx,
    calendar_ids: Option<&[i32]>,
    options: &WriteOptions,
) -> Result<String, AppError> {
    let rows = service::list(conn, calendar_ids)?;
    Ok(write(&rows, options, ctx.now))
}
