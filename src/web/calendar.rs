//! The Calendar page: month grid, week and day time-grids (with a now-line) and an agenda,
//! the view and date kept in the URL; quick-add with a live preview; an event dialog that edits
//! every field (for a recurring event: this occurrence, this and following, or all) and deletes
//! with Undo; calendars with colour and a kept show/hide toggle; overlays of tasks with due dates
//! and of scheduled prompts' coming firings; ICS upload.
//!
//! One database trip reads what a view shows (calendars, the visible range's occurrences, the
//! overlays), so a view costs the same with 5 or 5,000 events outside its range. Positions and
//! colours come from classes in `/calendar/style.css` (the CSP allows no inline styles).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use actix_multipart::Multipart;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::{
    DateTime, Datelike, Days, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use diesel::prelude::*;
use futures_util::StreamExt;
use serde::Deserialize;

use super::htmx::{self, is_htmx};
use super::{CurrentSession, Layout, html, see_other};
use crate::calendar::quickadd::{self, Draft, DraftWhen};
use crate::calendar::service::{self as cal, CalendarInput, EventInput, Occurrence, Scope, Target};
use crate::calendar::{Calendar, Event, Wall};
use crate::clock::from_ms;
use crate::db::Conn;
use crate::db::schema::tasks;
use crate::error::{AppError, PageError};
use crate::services::{Actor, Ctx};
use crate::web::AppState;

/// The most items a month cell lists before "+N more".
const MONTH_CELL_ITEMS: usize = 3;
/// Days the agenda covers.
const AGENDA_DAYS: u64 = 30;
/// The most firings one schedule adds to a view (a schedule firing every minute stays bounded).
const MAX_FIRINGS_PER_SCHEDULE: usize = 500;
/// The most steps walked through one schedule's firings for a view (a counted schedule walked
/// from its next firing to the range).
const MAX_FIRING_STEPS: usize = 5000;
/// Firings of one schedule on one day beyond this are shown as one entry ("×48").
const FIRINGS_PER_DAY: usize = 3;
/// The largest .ics file the page accepts.
const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

/// Settings keys of the overlays' toggles.
const OVERLAY_TASKS: &str = "calendar.overlay.tasks";
const OVERLAY_PROMPTS: &str = "calendar.overlay.prompts";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Month,
    Week,
    Day,
    Agenda,
}

impl View {
    fn parse(text: Option<&str>) -> View {
        match text.unwrap_or("") {
            "week" => View::Week,
            "day" => View::Day,
            "agenda" => View::Agenda,
            _ => View::Month,
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            View::Month => "month",
            View::Week => "week",
            View::Day => "day",
            View::Agenda => "agenda",
        }
    }
}

/// `?view=month&date=2026-11-22`: both optional (today's month).
#[derive(Debug, Default, Deserialize)]
pub struct CalQuery {
    view: Option<String>,
    date: Option<String>,
}

fn week_start(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The first and last (exclusive) day a view shows around `date`.
fn range(view: View, date: NaiveDate) -> (NaiveDate, NaiveDate) {
    match view {
        View::Month => {
            let first = first_of_month(date);
            let next = first.checked_add_months(Months::new(1)).unwrap_or(first);
            let start = week_start(first);
            let last = next.pred_opt().unwrap_or(next);
            let end = week_start(last) + Duration::days(7);
            (start, end)
        }
        View::Week => {
            let s = week_start(date);
            (s, s + Duration::days(7))
        }
        View::Day => (date, date.succ_opt().unwrap_or(date)),
        View::Agenda => (date, date.checked_add_days(Days::new(AGENDA_DAYS)).unwrap_or(date)),
    }
}

/// Where prev / next lead.
fn step(view: View, date: NaiveDate, forward: bool) -> NaiveDate {
    let r = match (view, forward) {
        (View::Month, true) => first_of_month(date).checked_add_months(Months::new(1)),
        (View::Month, false) => first_of_month(date).checked_sub_months(Months::new(1)),
        (View::Week, true) => date.checked_add_days(Days::new(7)),
        (View::Week, false) => date.checked_sub_days(Days::new(7)),
        (View::Day, true) => date.succ_opt(),
        (View::Day, false) => date.pred_opt(),
        (View::Agenda, true) => date.checked_add_days(Days::new(AGENDA_DAYS)),
        (View::Agenda, false) => date.checked_sub_days(Days::new(AGENDA_DAYS)),
    };
    r.unwrap_or(date)
}

fn title_of(view: View, date: NaiveDate) -> String {
    match view {
        View::Month => date.format("%B %Y").to_string(),
        View::Week => {
            let (s, e) = range(view, date);
            let last = e.pred_opt().unwrap_or(e);
            if s.month() == last.month() {
                format!("{} – {}", s.format("%-d"), last.format("%-d %B %Y"))
            } else if s.year() == last.year() {
                format!("{} – {}", s.format("%-d %b"), last.format("%-d %b %Y"))
            } else {
                format!("{} – {}", s.format("%-d %b %Y"), last.format("%-d %b %Y"))
            }
        }
        View::Day => date.format("%A %-d %B %Y").to_string(),
        View::Agenda => {
            let (s, e) = range(view, date);
            let last = e.pred_opt().unwrap_or(e);
            format!("{} – {}", s.format("%-d %b"), last.format("%-d %b %Y"))
        }
    }
}

pub fn url(view: View, date: NaiveDate) -> String {
    format!("/calendar?view={}&date={date}", view.slug())
}

/// What a cell, a column or the agenda shows: an event's occurrence, a task, or a firing.
#[derive(Debug, Clone)]
pub struct Item {
    /// `event`, `task` or `firing`.
    pub kind: &'static str,
    pub id: i32,
    pub title: String,
    pub all_day: bool,
    /// Local (person's zone) start and end; all-day: midnight of the first and after the last day.
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    /// "09:00", "09:00 – 10:30" (empty for all-day).
    pub time: String,
    /// For an event written in another zone: "09:00 New York".
    pub zone_note: Option<String>,
    pub location: Option<String>,
    /// The CSS class of its calendar's colour (`cal-3`), or the overlay's.
    pub colour: String,
    /// Where a click goes (an htmx GET into the dialog, or a page for a firing).
    pub href: String,
    pub recurring: bool,
    pub done: bool,
    /// Firings folded into this one entry (a schedule firing often), 1 otherwise.
    pub times: usize,
    pub read_only: bool,
    /// In a month cell or the all-day row: it began on an earlier day / goes on to a later
    /// one (drawn as one bar across the days).
    pub cont_before: bool,
    pub cont_after: bool,
}

impl Item {
    /// The bar's classes for a day of a multi-day all-day event.
    pub fn span_class(&self) -> &'static str {
        match (self.cont_before, self.cont_after) {
            (false, false) => "",
            (true, false) => " cont-before",
            (false, true) => " cont-after",
            (true, true) => " cont-before cont-after",
        }
    }

    pub fn is_event(&self) -> bool {
        self.kind == "event"
    }

    pub fn is_task(&self) -> bool {
        self.kind == "task"
    }

    pub fn is_firing(&self) -> bool {
        self.kind == "firing"
    }

    /// The first and last day it covers (local).
    fn days(&self) -> (NaiveDate, NaiveDate) {
        days_of(self.start, self.end)
    }

    /// The start time alone ("09:00"), for month cells.
    pub fn start_time(&self) -> String {
        if self.all_day { String::new() } else { hm(self.start) }
    }

    pub fn label(&self) -> String {
        let mut s = self.title.clone();
        if self.times > 1 {
            let _ = write!(s, " ×{}", self.times);
        }
        s
    }
}

/// A day cell of the month grid.
pub struct DayCell {
    pub date: NaiveDate,
    pub day: u32,
    pub in_month: bool,
    pub today: bool,
    pub weekend: bool,
    pub items: Vec<Item>,
    pub more: usize,
    pub day_url: String,
    pub new_url: String,
}

/// An item placed in a time-grid column.
pub struct Placed {
    pub item: Item,
    /// Classes for its position: `t-123 h-12 lane-0-2`.
    pub place: String,
}

pub struct DayColumn {
    pub date: NaiveDate,
    pub weekday: String,
    pub day: u32,
    pub today: bool,
    pub all_day: Vec<Item>,
    pub timed: Vec<Placed>,
    pub day_url: String,
    /// The now-line's position class in today's column.
    pub now: Option<String>,
}

pub struct AgendaDay {
    pub date: NaiveDate,
    /// "Today", "Tomorrow" or "Yesterday".
    pub relative: Option<&'static str>,
    pub today: bool,
    pub items: Vec<Item>,
    pub new_url: String,
}

/// The part of the page a view change replaces.
#[derive(Template, WebTemplate)]
#[template(path = "calendar_body.html")]
pub struct CalBody {
    pub view: &'static str,
    pub date: String,
    pub title: String,
    pub prev: String,
    pub next: String,
    pub today_url: String,
    pub month: Vec<Vec<DayCell>>,
    pub weekdays: Vec<&'static str>,
    pub columns: Vec<DayColumn>,
    pub agenda: Vec<AgendaDay>,
    pub truncated: bool,
    pub csrf: String,
    pub hours: Vec<String>,
    pub zone: String,
    /// Rendered as an out-of-band swap (beside another answer).
    pub oob: bool,
}

impl CalBody {
    fn view_url(&self, view: &str) -> String {
        url(View::parse(Some(view)), NaiveDate::parse_from_str(&self.date, "%Y-%m-%d").unwrap_or_default())
    }
}

/// One calendar in the side list.
pub struct CalendarRow {
    pub cal: Calendar,
    pub class: String,
    /// Its default reminders as the form shows them (`10m`, `none`).
    pub reminders: String,
}

/// The side panel: calendars, overlays, import.
#[derive(Template, WebTemplate)]
#[template(path = "calendar_side.html")]
pub struct CalSide {
    pub calendars: Vec<CalendarRow>,
    pub tasks_on: bool,
    pub prompts_on: bool,
    pub csrf: String,
    pub oob: bool,
    pub error: Option<String>,
}

/// The quick-add form; its text and error survive a failed submit.
#[derive(Template, WebTemplate, Default)]
#[template(path = "calendar_quickadd.html")]
pub struct QuickAdd {
    pub text: String,
    pub error: Option<String>,
    pub csrf: String,
    pub oob: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "calendar.html")]
pub struct CalPage {
    layout: Layout,
    body: CalBody,
    side: CalSide,
    quick: QuickAdd,
    view: &'static str,
}

/// A task on the grid: id, title, done, due day or due instant (UTC).
type TaskDue = (i32, String, bool, Option<NaiveDate>, Option<NaiveDateTime>);

/// Everything one view needs, read in one trip.
struct Loaded {
    calendars: Vec<Calendar>,
    occurrences: Vec<Occurrence>,
    truncated: bool,
    tasks: Vec<TaskDue>,
    firings: Vec<(i32, String, DateTime<Utc>)>,
    tasks_on: bool,
    prompts_on: bool,
}

fn overlay_on(conn: &mut Conn, key: &str) -> Result<bool, AppError> {
    Ok(crate::db::settings::get(conn, key)?.as_deref() != Some("off"))
}

fn load(conn: &mut Conn, ctx: &Ctx, from: NaiveDate, to: NaiveDate) -> Result<Loaded, AppError> {
    let tz = ctx.tz;
    let from_at = crate::dates::resolve_local(tz, from.and_time(NaiveTime::MIN)).with_timezone(&Utc);
    let to_at = crate::dates::resolve_local(tz, to.and_time(NaiveTime::MIN)).with_timezone(&Utc);
    let calendars = cal::list_calendars(conn)?;
    let visible: Vec<i32> = calendars.iter().filter(|c| c.visible).map(|c| c.id).collect();
    let (occurrences, truncated) = cal::occurrences(conn, ctx, from_at, to_at, Some(&visible))?;
    let tasks_on = overlay_on(conn, OVERLAY_TASKS)?;
    let prompts_on = overlay_on(conn, OVERLAY_PROMPTS)?;
    let tasks = if tasks_on {
        tasks::table
            .filter(tasks::deleted_at.is_null())
            .filter(
                tasks::due_date
                    .ge(from)
                    .and(tasks::due_date.lt(to))
                    .or(tasks::due_at.ge(from_at.naive_utc()).and(tasks::due_at.lt(to_at.naive_utc()))),
            )
            .order(tasks::id)
            .limit(2000)
            .select((tasks::id, tasks::title, tasks::done, tasks::due_date, tasks::due_at))
            .load(conn)?
    } else {
        Vec::new()
    };
    let firings = if prompts_on { firings(conn, ctx, from_at, to_at)? } else { Vec::new() };
    Ok(Loaded { calendars, occurrences, truncated, tasks, firings, tasks_on, prompts_on })
}

/// Coming firings of active schedules in `[from, to)`, from the schedules' own next-fire math
/// (their stored next firing, then [`crate::schedules::spec::Spec::next_after`]), never before
/// now: past firings are runs, not plans.
fn firings(
    conn: &mut Conn,
    ctx: &Ctx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(i32, String, DateTime<Utc>)>, AppError> {
    let mut out = Vec::new();
    for s in crate::schedules::service::upcoming(conn, 500)? {
        let (Some(first), Ok(spec)) = (s.next_fire(), s.parsed()) else { continue };
        if first >= to {
            continue;
        }
        let tz = s.zone();
        let anchor = from_ms(s.anchor_at);
        let until = s.until_at.map(from_ms);
        let mut left = s.max_count.map(|m| usize::try_from(m.saturating_sub(s.fired_count)).unwrap_or(0));
        let mut at = Some(first);
        let (mut n, mut steps) = (0, 0);
        while let Some(t) = at {
            steps += 1;
            if t >= to
                || n >= MAX_FIRINGS_PER_SCHEDULE
                || steps > MAX_FIRING_STEPS
                || until.is_some_and(|u| t > u)
                || left == Some(0)
            {
                break;
            }
            if t >= from && t >= ctx.now {
                out.push((s.id, s.name.clone(), t));
                n += 1;
            }
            left = left.map(|l| l.saturating_sub(1));
            // Jump straight to the range when the stored firing is before it; a counted
            // schedule is walked firing by firing instead, to keep its count (bounded).
            let after = if t < from && left.is_none() { from - Duration::milliseconds(1) } else { t };
            at = spec.next_after(after, tz, anchor).filter(|next| *next > t);
        }
    }
    Ok(out)
}

/// The city of an IANA zone, as people say it: `America/New_York` -> `New York`.
pub fn city(zone: &str) -> String {
    zone.rsplit('/').next().unwrap_or(zone).replace('_', " ")
}

fn time_span(start: NaiveDateTime, end: NaiveDateTime) -> String {
    if end <= start {
        return hm(start);
    }
    if end.date() == start.date() {
        format!("{} – {}", hm(start), hm(end))
    } else {
        format!("{} – {} {}", hm(start), end.format("%a"), hm(end))
    }
}

/// "09:30" (as `format("%H:%M")`, without parsing a format string: the grid shows thousands).
fn hm(t: NaiveDateTime) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

fn items(loaded: &Loaded, ctx: &Ctx) -> Vec<Item> {
    let tz = ctx.tz;
    let subscribed: Vec<i32> = loaded.calendars.iter().filter(|c| c.is_subscribed()).map(|c| c.id).collect();
    let mut out = Vec::with_capacity(loaded.occurrences.len() + loaded.tasks.len() + loaded.firings.len());
    for o in &loaded.occurrences {
        out.push(occurrence_item(o, tz, &subscribed));
    }
    out.extend(overlay_items(loaded, tz));
    out.sort_by(|a, b| {
        b.all_day.cmp(&a.all_day).then(a.start.cmp(&b.start)).then_with(|| a.title.cmp(&b.title))
    });
    out
}

/// An occurrence's local start and end (all-day: midnight of the first and after the last day).
fn occurrence_span(o: &Occurrence, tz: Tz) -> (NaiveDateTime, NaiveDateTime) {
    if o.all_day {
        let s = o.start.date();
        let e = o.end.date().max(s.succ_opt().unwrap_or(s));
        (s.and_time(NaiveTime::MIN), e.and_time(NaiveTime::MIN))
    } else {
        (o.start_at.with_timezone(&tz).naive_local(), o.end_at.with_timezone(&tz).naive_local())
    }
}

/// The entry of an occurrence.
fn occurrence_item(o: &Occurrence, tz: Tz, subscribed: &[i32]) -> Item {
    let (start, end) = occurrence_span(o, tz);
    let zone_note = match (&o.zone, o.all_day) {
        (Some(z), false) if z != tz.name() => Some(format!("{} {}", hm(o.start.naive()), city(z))),
        _ => None,
    };
    let occurrence = o.recurrence_id.map(|w| w.to_api()).unwrap_or_default();
    let href = if occurrence.is_empty() {
        format!("/calendar/events/{}/edit", o.event_id)
    } else {
        format!("/calendar/events/{}/edit?occurrence={occurrence}", o.event_id)
    };
    Item {
        kind: "event",
        id: o.event_id,
        title: o.title.clone(),
        all_day: o.all_day,
        start,
        end,
        time: if o.all_day { String::new() } else { time_span(start, end) },
        zone_note,
        location: o.location.clone(),
        colour: format!("cal-{}", o.calendar_id),
        href,
        recurring: o.recurring,
        done: false,
        times: 1,
        read_only: subscribed.contains(&o.calendar_id),
        cont_before: false,
        cont_after: false,
    }
}

/// The overlays' entries: tasks due and prompts' firings.
fn overlay_items(loaded: &Loaded, tz: Tz) -> Vec<Item> {
    let mut out = Vec::with_capacity(loaded.tasks.len() + loaded.firings.len());
    for (id, title, done, due_date, due_at) in &loaded.tasks {
        let (start, all_day) = match (due_at, due_date) {
            (Some(at), _) => (at.and_utc().with_timezone(&tz).naive_local(), false),
            (None, Some(d)) => (d.and_time(NaiveTime::MIN), true),
            (None, None) => continue,
        };
        let end = if all_day { start + Duration::days(1) } else { start + Duration::minutes(30) };
        out.push(Item {
            kind: "task",
            id: *id,
            title: title.clone(),
            all_day,
            start,
            end,
            time: if all_day { String::new() } else { format!("due {}", start.format("%H:%M")) },
            zone_note: None,
            location: None,
            colour: "overlay-task".into(),
            href: format!("/tasks?q={}", urlencoding(title)),
            recurring: false,
            done: *done,
            times: 1,
            read_only: false,
            cont_before: false,
            cont_after: false,
        });
    }
    // Firings: a schedule firing often on one day is one entry (`×48`).
    let mut per_day: BTreeMap<(i32, NaiveDate), Vec<NaiveDateTime>> = BTreeMap::new();
    let mut names: BTreeMap<i32, &str> = BTreeMap::new();
    for (id, name, at) in &loaded.firings {
        let local = at.with_timezone(&tz).naive_local();
        per_day.entry((*id, local.date())).or_default().push(local);
        names.insert(*id, name);
    }
    for ((id, _), times) in per_day {
        let folded = times.len() > FIRINGS_PER_DAY;
        let shown: &[NaiveDateTime] = if folded { times.get(..1).unwrap_or(&[]) } else { &times };
        for start in shown {
            out.push(Item {
                kind: "firing",
                id,
                title: names.get(&id).copied().unwrap_or("Scheduled prompt").to_string(),
                all_day: false,
                start: *start,
                end: *start + Duration::minutes(15),
                time: start.format("%H:%M").to_string(),
                zone_note: None,
                location: None,
                colour: "overlay-firing".into(),
                href: format!("/schedules#schedule-{id}"),
                recurring: false,
                done: false,
                times: if folded { times.len() } else { 1 },
                read_only: true,
                cont_before: false,
                cont_after: false,
            });
        }
    }
    out
}

/// The first and last day an entry from `start` to `end` covers (as [`Item::days`]).
fn days_of(start: NaiveDateTime, end: NaiveDateTime) -> (NaiveDate, NaiveDate) {
    let last = if end > start { (end - Duration::nanoseconds(1)).date() } else { start.date() };
    (start.date(), last.max(start.date()))
}

/// The month grid's cells in `[from, to)`: what each shows (at most [`MONTH_CELL_ITEMS`] when
/// more are hidden) and how many are hidden. Only the shown entries are built: a month of daily
/// series has thousands of occurrences but a grid of 42 cells shows ~130 of them.
fn month_cells(
    loaded: &Loaded,
    ctx: &Ctx,
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<NaiveDate, (Vec<Item>, usize)> {
    let tz = ctx.tz;
    let subscribed: Vec<i32> = loaded.calendars.iter().filter(|c| c.is_subscribed()).map(|c| c.id).collect();
    let overlays = overlay_items(loaded, tz);
    // (occurrence or overlay, index, all-day, start, end, title), in the order `items` sorts.
    struct Head<'a> {
        occurrence: bool,
        index: usize,
        rank: u8,
        all_day: bool,
        start: NaiveDateTime,
        end: NaiveDateTime,
        title: &'a str,
    }
    let mut heads: Vec<Head> = Vec::with_capacity(loaded.occurrences.len() + overlays.len());
    for (index, o) in loaded.occurrences.iter().enumerate() {
        let (start, end) = occurrence_span(o, tz);
        let rank = if o.all_day { 0 } else { 1 };
        heads.push(Head { occurrence: true, index, rank, all_day: o.all_day, start, end, title: &o.title });
    }
    for (index, i) in overlays.iter().enumerate() {
        let rank = month_rank(i);
        heads.push(Head {
            occurrence: false,
            index,
            rank,
            all_day: i.all_day,
            start: i.start,
            end: i.end,
            title: &i.title,
        });
    }
    heads.sort_by(|a, b| {
        b.all_day.cmp(&a.all_day).then(a.start.cmp(&b.start)).then_with(|| a.title.cmp(b.title))
    });
    let mut by_day: BTreeMap<NaiveDate, Vec<usize>> = BTreeMap::new();
    for (h, head) in heads.iter().enumerate() {
        let (first, last) = days_of(head.start, head.end);
        let mut d = first.max(from);
        while d <= last && d < to {
            by_day.entry(d).or_default().push(h);
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
    }
    let mut out = BTreeMap::new();
    for (d, mut list) in by_day {
        // A cell shows the person's events first; the overlays fill what is left.
        list.sort_by_key(|&h| (heads[h].rank, heads[h].start));
        let more = list.len().saturating_sub(MONTH_CELL_ITEMS + 1);
        if more > 0 {
            list.truncate(MONTH_CELL_ITEMS);
        }
        let items = list
            .into_iter()
            .map(|h| {
                let head = &heads[h];
                let mut item = if head.occurrence {
                    occurrence_item(&loaded.occurrences[head.index], tz, &subscribed)
                } else {
                    overlays[head.index].clone()
                };
                let (first, last) = days_of(head.start, head.end);
                if item.all_day && first != last {
                    // The title starts the bar, and again at each week's start.
                    item.cont_before = d > first && d.weekday() != Weekday::Mon;
                    item.cont_after = d < last && d.weekday() != Weekday::Sun;
                }
                item
            })
            .collect();
        out.insert(d, (items, if more > 0 { more + 1 } else { 0 }));
    }
    out
}

/// A tiny URL encoder for a query value.
fn urlencoding(s: &str) -> String {
    serde_urlencoded::to_string([("q", s)]).unwrap_or_default().trim_start_matches("q=").to_string()
}

/// Minutes since midnight, in 5-minute slots (0..=288).
fn slot(t: NaiveDateTime, day: NaiveDate) -> i64 {
    let minutes = (t - day.and_time(NaiveTime::MIN)).num_minutes().clamp(0, 24 * 60);
    minutes / 5
}

/// Timed items of one day placed in lanes: overlapping items share the width.
fn place(day: NaiveDate, mut timed: Vec<Item>) -> Vec<Placed> {
    timed.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Placed> = Vec::with_capacity(timed.len());
    // Clusters of overlapping items; within one, each item takes the first free lane.
    let mut cluster: Vec<(Item, usize, i64, i64)> = Vec::new();
    let mut cluster_end = -1;
    let flush = |cluster: &mut Vec<(Item, usize, i64, i64)>, out: &mut Vec<Placed>| {
        let lanes = cluster.iter().map(|c| c.1 + 1).max().unwrap_or(1).min(4);
        for (item, lane, top, height) in cluster.drain(..) {
            let lane = lane.min(lanes - 1);
            // Up to half an hour: one line ("09:30 Standup") instead of a stack.
            let short = if height < 7 { " short" } else { "" };
            out.push(Placed { item, place: format!("t-{top} h-{height} lane-{lane}-{lanes}{short}") });
        }
    };
    for item in timed {
        let top = slot(item.start.max(day.and_time(NaiveTime::MIN)), day);
        let bottom = if item.end.date() > day { 288 } else { slot(item.end, day) };
        let height = (bottom - top).max(3).min(288 - top.min(285));
        if top >= cluster_end && !cluster.is_empty() {
            flush(&mut cluster, &mut out);
        }
        let mut lane = 0;
        while cluster.iter().any(|c| c.1 == lane && c.2 + c.3 > top) {
            lane += 1;
        }
        cluster_end = cluster_end.max(top + height);
        if cluster.is_empty() {
            cluster_end = top + height;
        }
        cluster.push((item, lane, top, height));
    }
    flush(&mut cluster, &mut out);
    out
}

fn build_body(view: View, date: NaiveDate, loaded: &Loaded, ctx: &Ctx, csrf: String) -> CalBody {
    let today = ctx.today();
    let (from, to) = range(view, date);
    let all = if view == View::Month { Vec::new() } else { items(loaded, ctx) };
    let mut cells = if view == View::Month { month_cells(loaded, ctx, from, to) } else { BTreeMap::new() };
    let mut by_day: BTreeMap<NaiveDate, Vec<Item>> = BTreeMap::new();
    for item in &all {
        let (first, last) = item.days();
        let mut d = first.max(from);
        while d <= last && d < to {
            let mut copy = item.clone();
            if item.all_day && first != last {
                // The title starts the bar, and again at each week's start.
                copy.cont_before = d > first && d.weekday() != Weekday::Mon;
                copy.cont_after = d < last && d.weekday() != Weekday::Sun;
            }
            by_day.entry(d).or_default().push(copy);
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
    }
    let new_url = |d: NaiveDate, time: Option<&str>| match time {
        Some(t) => format!("/calendar/new?start={d}T{t}"),
        None => format!("/calendar/new?start={d}"),
    };
    let mut body = CalBody {
        view: view.slug(),
        date: date.to_string(),
        title: title_of(view, date),
        prev: url(view, step(view, date, false)),
        next: url(view, step(view, date, true)),
        today_url: url(view, today),
        month: Vec::new(),
        weekdays: vec!["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        columns: Vec::new(),
        agenda: Vec::new(),
        truncated: loaded.truncated,
        csrf,
        hours: (0..24).map(|h| format!("{h:02}:00")).collect(),
        zone: city(ctx.tz.name()),
        oob: false,
    };
    match view {
        View::Month => {
            let mut d = from;
            while d < to {
                let mut week = Vec::with_capacity(7);
                for _ in 0..7 {
                    let (items, more) = cells.remove(&d).unwrap_or_default();
                    week.push(DayCell {
                        date: d,
                        day: d.day(),
                        in_month: d.month() == date.month(),
                        today: d == today,
                        weekend: matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
                        more,
                        items,
                        day_url: url(View::Day, d),
                        new_url: new_url(d, Some("09:00")),
                    });
                    d = d.succ_opt().unwrap_or(d);
                }
                body.month.push(week);
            }
        }
        View::Week | View::Day => {
            let mut d = from;
            while d < to {
                let items = by_day.remove(&d).unwrap_or_default();
                let (all_day, timed): (Vec<Item>, Vec<Item>) = items.into_iter().partition(|i| i.all_day);
                let now = (d == today).then(|| format!("t-{}", slot(ctx.local_now().naive_local(), d)));
                body.columns.push(DayColumn {
                    date: d,
                    weekday: d.format("%a").to_string(),
                    day: d.day(),
                    today: d == today,
                    all_day,
                    timed: place(d, timed),
                    day_url: url(View::Day, d),
                    now,
                });
                d = d.succ_opt().unwrap_or(d);
            }
        }
        View::Agenda => {
            for (d, items) in by_day {
                if items.is_empty() {
                    continue;
                }
                body.agenda.push(AgendaDay {
                    date: d,
                    relative: match (d - today).num_days() {
                        0 => Some("Today"),
                        1 => Some("Tomorrow"),
                        -1 => Some("Yesterday"),
                        _ => None,
                    },
                    today: d == today,
                    items,
                    new_url: new_url(d, Some("09:00")),
                });
            }
        }
    }
    body
}

/// The order of a month cell: all-day events, timed events, tasks, then prompts' firings.
fn month_rank(item: &Item) -> u8 {
    match (item.kind, item.all_day) {
        ("event", true) => 0,
        ("event", false) => 1,
        ("task", _) => 2,
        _ => 3,
    }
}

fn side(loaded: &Loaded, csrf: String) -> CalSide {
    CalSide {
        calendars: loaded
            .calendars
            .iter()
            .map(|c| CalendarRow {
                class: format!("cal-{}", c.id),
                reminders: leads_shown(&crate::calendar::json_list(&c.reminders)),
                cal: c.clone(),
            })
            .collect(),
        tasks_on: loaded.tasks_on,
        prompts_on: loaded.prompts_on,
        csrf,
        oob: false,
        error: None,
    }
}

fn parse_date(text: Option<&str>, today: NaiveDate) -> NaiveDate {
    text.and_then(|t| NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok())
        .filter(|d| (1900..=9000).contains(&d.year()))
        .unwrap_or(today)
}

/// The view and date of the page a request came from (htmx says which in `HX-Current-URL`),
/// so an answer after an action re-renders what the person was looking at.
fn page_view(req: &HttpRequest, today: NaiveDate) -> (View, NaiveDate) {
    page_view_of(&current_url(req), today)
}

fn current_url(req: &HttpRequest) -> String {
    req.headers().get("HX-Current-URL").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

fn page_view_of(current: &str, today: NaiveDate) -> (View, NaiveDate) {
    let query = current.split_once('?').map(|(_, q)| q.split('#').next().unwrap_or("")).unwrap_or("");
    let q: CalQuery = serde_urlencoded::from_str(query).unwrap_or_default();
    (View::parse(q.view.as_deref()), parse_date(q.date.as_deref(), today))
}

async fn body_for(
    state: &web::Data<AppState>,
    view: Option<View>,
    date: Option<NaiveDate>,
    req: &HttpRequest,
    csrf: String,
) -> Result<(CalBody, CalSide), AppError> {
    let hint = current_url(req);
    state
        .run_as(Actor::Person, move |conn, ctx| {
            let (v, d) = page_view_of(&hint, ctx.today());
            let (view, date) = (view.unwrap_or(v), date.unwrap_or(d));
            let (from, to) = range(view, date);
            let loaded = load(conn, ctx, from, to)?;
            Ok((build_body(view, date, &loaded, ctx, csrf.clone()), side(&loaded, csrf)))
        })
        .await
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    q: web::Query<CalQuery>,
) -> Result<HttpResponse, PageError> {
    let q = q.into_inner();
    let view = View::parse(q.view.as_deref());
    let csrf = session.0.csrf_token.clone();
    let date_text = q.date.clone();
    let (body, side) = state
        .run_as(Actor::Person, {
            let csrf = csrf.clone();
            move |conn, ctx| {
                let date = parse_date(date_text.as_deref(), ctx.today());
                let (from, to) = range(view, date);
                let loaded = load(conn, ctx, from, to)?;
                Ok((build_body(view, date, &loaded, ctx, csrf.clone()), side(&loaded, csrf)))
            }
        })
        .await?;
    if is_htmx(&req) && htmx::target(&req) == Some("cal-body") {
        return html(StatusCode::OK, &body);
    }
    let page = CalPage {
        layout: Layout::new("Calendar", "calendar", &session.0),
        view: view.slug(),
        body,
        side,
        quick: QuickAdd { csrf, ..Default::default() },
    };
    html(StatusCode::OK, &page)
}

/// `/calendar/style.css`: each calendar's colour, and the time-grid's position classes.
pub async fn style(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let calendars = state.db.run(cal::list_calendars).await?;
    let mut css = String::with_capacity(40_000);
    for c in &calendars {
        if is_colour(&c.colour) {
            let _ = writeln!(css, ".cal-{} {{ --cal: {}; }}", c.id, c.colour);
        }
    }
    css.push_str(grid_css());
    Ok(HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(css))
}

fn is_colour(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c.bytes().skip(1).all(|b| b.is_ascii_hexdigit())
}

/// Position classes: `t-N` (top at N × 5 minutes), `h-N` (N × 5 minutes tall), lanes.
fn grid_css() -> &'static str {
    static CSS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSS.get_or_init(|| {
        let mut css = String::with_capacity(40_000);
        for n in 0..=288 {
            let pct = f64::from(n) * 100.0 / 288.0;
            let _ = writeln!(css, ".t-{n}{{top:{pct:.3}%}}.h-{n}{{height:{pct:.3}%}}");
        }
        for lanes in 1..=4 {
            for lane in 0..lanes {
                let w = 100.0 / f64::from(lanes);
                let _ = writeln!(
                    css,
                    ".lane-{lane}-{lanes}{{left:calc({:.3}% + 2px);width:calc({w:.3}% - 4px)}}",
                    w * f64::from(lane)
                );
            }
        }
        css
    })
}

/// What quick-add will create, shown while the person types.
#[derive(Template, WebTemplate)]
#[template(path = "calendar_preview.html")]
pub struct Preview {
    draft: Option<DraftView>,
    error: Option<String>,
}

/// A draft in words.
pub struct DraftView {
    pub title: String,
    pub when: String,
    pub zone_note: Option<String>,
    pub location: Option<String>,
    pub repeat: Option<String>,
}

fn draft_view(d: &Draft, ctx: &Ctx) -> DraftView {
    let today = ctx.today();
    let when = match d.when {
        DraftWhen::AllDay { first, last } if first == last => {
            format!("{}, all day", crate::web::view::day(first, today))
        }
        DraftWhen::AllDay { first, last } => {
            format!(
                "{} – {}, all day",
                crate::web::view::day(first, today),
                crate::web::view::day(last, today)
            )
        }
        DraftWhen::Timed { start, end } => {
            // Shown in the person's zone; the written zone is noted beside it.
            let s = crate::dates::resolve_local(d.zone, start).with_timezone(&ctx.tz).naive_local();
            let e = crate::dates::resolve_local(d.zone, end).with_timezone(&ctx.tz).naive_local();
            format!("{} {}", crate::web::view::day(s.date(), today), time_span(s, e))
        }
    };
    let zone_note = match d.when {
        DraftWhen::Timed { start, .. } if d.zone_named => {
            Some(format!("{} {}", start.format("%H:%M"), city(d.zone.name())))
        }
        _ => None,
    };
    DraftView {
        title: d.title.clone(),
        when,
        zone_note,
        location: d.location.clone(),
        repeat: d.rrule.as_deref().map(rrule_words),
    }
}

/// An RRULE in words, for the preview and the dialog: "every weekday", "every 2 weeks on
/// Mon, Thu", "yearly, 10 times".
pub fn rrule_words(rule: &str) -> String {
    let mut freq = "";
    let mut interval = 1u32;
    let mut days: Vec<String> = Vec::new();
    let mut count = None;
    let mut until = None;
    for part in rule.split(';') {
        let Some((k, v)) = part.split_once('=') else { continue };
        match k.to_ascii_uppercase().as_str() {
            "FREQ" => freq = v,
            "INTERVAL" => interval = v.parse().unwrap_or(1),
            "BYDAY" => days = v.split(',').map(|d| day_name(d).to_string()).collect(),
            "COUNT" => count = Some(v.to_string()),
            "UNTIL" => until = v.get(..8).and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok()),
            _ => {}
        }
    }
    let unit = match freq.to_ascii_uppercase().as_str() {
        "DAILY" => "day",
        "WEEKLY" => "week",
        "MONTHLY" => "month",
        "YEARLY" => "year",
        "HOURLY" => "hour",
        "MINUTELY" => "minute",
        _ => return rule.to_string(),
    };
    let mut s = if days.len() == 5 && interval == 1 && !days.iter().any(|d| d == "Sat" || d == "Sun") {
        "every weekday".to_string()
    } else if interval == 1 {
        format!("every {unit}")
    } else {
        format!("every {interval} {unit}s")
    };
    if !days.is_empty() && s != "every weekday" {
        let _ = write!(s, " on {}", days.join(", "));
    }
    if let Some(c) = count {
        let _ = write!(s, ", {c} times");
    }
    if let Some(u) = until {
        let _ = write!(s, ", until {}", u.format("%-d %b %Y"));
    }
    s
}

fn day_name(code: &str) -> &str {
    let tail = code.get(code.len().saturating_sub(2)..).unwrap_or(code);
    match tail.to_ascii_uppercase().as_str() {
        "MO" => "Mon",
        "TU" => "Tue",
        "WE" => "Wed",
        "TH" => "Thu",
        "FR" => "Fri",
        "SA" => "Sat",
        "SU" => "Sun",
        _ => code,
    }
}

#[derive(Deserialize)]
pub struct PreviewQuery {
    #[serde(default)]
    text: String,
}

pub async fn preview(state: web::Data<AppState>, q: web::Query<PreviewQuery>) -> Result<Preview, PageError> {
    let text = q.into_inner().text;
    if text.trim().is_empty() {
        return Ok(Preview { draft: None, error: None });
    }
    let ctx = state.run_as(Actor::Person, |_, ctx| Ok(*ctx)).await?;
    Ok(match quickadd::parse(&text, ctx.local_now()) {
        Ok(d) => Preview { draft: Some(draft_view(&d, &ctx)), error: None },
        Err(e) => Preview { draft: None, error: Some(e.to_string()) },
    })
}

/// A new event: quick-add `text`, or the dialog's fields.
#[derive(Deserialize, Default)]
pub struct EventForm {
    #[serde(default)]
    text: Option<String>,
    title: Option<String>,
    calendar: Option<String>,
    all_day: Option<String>,
    start: Option<String>,
    end: Option<String>,
    zone: Option<String>,
    location: Option<String>,
    notes: Option<String>,
    categories: Option<String>,
    rrule: Option<String>,
    scope: Option<String>,
    occurrence: Option<String>,
    /// `10m, 1d`; empty: the default; `none`: no reminders.
    reminders: Option<String>,
}

/// Lead times typed in a field (`10m, 1d` or `10m 1d`).
fn lead_items(text: &str) -> Vec<String> {
    text.split([',', ' ']).map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// The event form's reminders: empty means the default, `none` none.
fn reminders_field(text: &str) -> Option<Vec<String>> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("off") {
        return Some(Vec::new());
    }
    Some(lead_items(t))
}

/// A stored lead list as the forms show it: `10m, 1d`, or `none`.
fn leads_shown(list: &[String]) -> String {
    if list.is_empty() { "none".into() } else { list.join(", ") }
}

fn opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

impl EventForm {
    /// The fields as an [`EventInput`]; `series` says whether recurrence fields apply.
    fn input(&self, series: bool) -> EventInput {
        let all_day = self.all_day.as_deref().is_some_and(|v| v == "on" || v == "true");
        let zone = opt(&self.zone);
        EventInput {
            title: Some(self.title.clone().unwrap_or_default()),
            start: opt(&self.start),
            end: opt(&self.end),
            all_day: Some(all_day),
            zone: if all_day { None } else { Some(zone.filter(|z| !z.eq_ignore_ascii_case("floating"))) },
            rrule: series.then(|| opt(&self.rrule)),
            exdates: None,
            rdates: None,
            location: Some(opt(&self.location)),
            notes: Some(opt(&self.notes)),
            categories: Some(
                self.categories
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            calendar: opt(&self.calendar),
            reminders: self.reminders.as_deref().map(reminders_field),
        }
    }
}

/// The answer after a change: the view the person was on, the side panel, and a toast.
async fn refreshed(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    csrf: String,
    message: &str,
    extra: &[&dyn askama::DynTemplate],
) -> Result<HttpResponse, PageError> {
    let (mut body, mut side) = body_for(state, None, None, req, csrf).await?;
    body.oob = true;
    side.oob = true;
    let mut parts: Vec<&dyn askama::DynTemplate> = vec![&body, &side];
    parts.extend_from_slice(extra);
    htmx::with_toast(&parts, message)
}

fn short(title: &str) -> String {
    if title.chars().count() <= 80 {
        return title.to_string();
    }
    let mut s: String = title.chars().take(79).collect();
    s.push('…');
    s
}

/// Closes the event dialog (an empty dialog body, swapped out of band).
#[derive(Template)]
#[template(source = r#"<div id="event-dialog-body" hx-swap-oob="true"></div>"#, ext = "html")]
struct CloseDialog;

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<EventForm>,
) -> Result<HttpResponse, PageError> {
    let mut form = form.into_inner();
    exclusive_end(&mut form);
    let csrf = session.0.csrf_token.clone();
    let quick = form.text.is_some();
    let text = form.text.clone().unwrap_or_default();
    let created = {
        let form_text = text.clone();
        state
            .run_as(Actor::Person, move |conn, ctx| {
                let input = if quick {
                    let draft = quickadd::parse(&form_text, ctx.local_now())
                        .map_err(|e| AppError::invalid("text", e.to_string()))?;
                    draft.to_input()
                } else {
                    let series = opt(&form.rrule).is_some();
                    form.input(series)
                };
                let e = cal::create(conn, ctx, &input)?;
                Ok((e.title.clone(), e.start().date()))
            })
            .await
    };
    match created {
        Ok((title, day)) => {
            cal::announce(&state.events, None);
            if !is_htmx(&req) {
                let (view, _) = page_view(&req, day);
                return Ok(see_other(&url(view, day)));
            }
            let message = format!("Added “{}” on {}", short(&title), day.format("%a %-d %b"));
            if quick {
                let fresh = QuickAdd { csrf: csrf.clone(), oob: true, ..Default::default() };
                refreshed(&req, &state, csrf, &message, &[&fresh]).await
            } else {
                refreshed(&req, &state, csrf, &message, &[&CloseDialog]).await
            }
        }
        Err(AppError::Invalid { field, message }) if quick => {
            let form =
                QuickAdd { text, error: Some(crate::error::sentence(&field, &message)), csrf, oob: false };
            if is_htmx(&req) {
                return htmx::invalid_form(&form, "#quick-add");
            }
            Ok(html(StatusCode::UNPROCESSABLE_ENTITY, &form)?)
        }
        Err(AppError::Invalid { field, message }) if is_htmx(&req) => {
            htmx::error_toast(StatusCode::UNPROCESSABLE_ENTITY, &crate::error::sentence(&field, &message))
        }
        Err(e) => Err(e.into()),
    }
}

/// The event dialog: a new event, or an existing one (an occurrence of a series).
#[derive(Template, WebTemplate)]
#[template(path = "calendar_event.html")]
pub struct EventDialog {
    /// `None` for a new event.
    pub id: Option<i32>,
    pub title: String,
    pub calendar_id: i32,
    pub calendars: Vec<(i32, String)>,
    pub all_day: bool,
    pub start: String,
    pub end: String,
    pub zone: String,
    pub location: String,
    pub notes: String,
    pub categories: String,
    pub rrule: String,
    pub rrule_words: String,
    pub recurring: bool,
    /// The occurrence opened (its original start), for "this" and "following".
    pub occurrence: String,
    /// The event's own reminders (`10m, 1d`, `none`), empty for the default.
    pub reminders: String,
    /// What an empty field means (the alarms, or the calendar's default).
    pub reminders_hint: String,
    pub read_only: bool,
    pub calendar_name: String,
    pub csrf: String,
    pub when: String,
    pub zone_note: Option<String>,
    pub error: Option<String>,
}

impl EventDialog {
    fn start_input_type(&self) -> &'static str {
        if self.all_day { "date" } else { "datetime-local" }
    }
}

#[derive(Deserialize)]
pub struct NewQuery {
    start: Option<String>,
}

pub async fn new_event(
    state: web::Data<AppState>,
    session: CurrentSession,
    q: web::Query<NewQuery>,
) -> Result<EventDialog, PageError> {
    let start = q.into_inner().start;
    let csrf = session.0.csrf_token.clone();
    Ok(state
        .run_as(Actor::Person, move |conn, ctx| {
            let calendars: Vec<Calendar> =
                cal::list_calendars(conn)?.into_iter().filter(|c| !c.is_subscribed()).collect();
            let first = calendars.first().map_or(1, |c| c.id);
            let hint = calendars.first().map(|c| default_hint(&c.reminders)).unwrap_or_default();
            let start = start.as_deref().and_then(Wall::parse).unwrap_or_else(|| {
                let next_hour =
                    ctx.local_now().naive_local().with_minute(0).unwrap_or_default() + Duration::hours(1);
                Wall::DateTime(next_hour.with_second(0).unwrap_or(next_hour))
            });
            let (all_day, s, e) = match start {
                Wall::Date(d) => (true, d.to_string(), d.to_string()),
                Wall::DateTime(t) => (
                    false,
                    t.format("%Y-%m-%dT%H:%M").to_string(),
                    (t + Duration::hours(1)).format("%Y-%m-%dT%H:%M").to_string(),
                ),
            };
            Ok(EventDialog {
                id: None,
                title: String::new(),
                calendar_id: first,
                calendars: calendars.iter().map(|c| (c.id, c.name.clone())).collect(),
                all_day,
                start: s,
                end: e,
                zone: ctx.tz.name().to_string(),
                location: String::new(),
                notes: String::new(),
                categories: String::new(),
                rrule: String::new(),
                rrule_words: String::new(),
                recurring: false,
                occurrence: String::new(),
                reminders: String::new(),
                reminders_hint: hint,
                read_only: false,
                calendar_name: String::new(),
                csrf,
                when: String::new(),
                zone_note: None,
                error: None,
            })
        })
        .await?)
}

#[derive(Deserialize)]
pub struct EditQuery {
    occurrence: Option<String>,
}

fn wall_input(w: Wall) -> String {
    match w {
        Wall::Date(d) => d.to_string(),
        Wall::DateTime(t) => t.format("%Y-%m-%dT%H:%M").to_string(),
    }
}

/// The dialog for event `id` (at `occurrence`, for a series).
fn dialog_for(
    conn: &mut Conn,
    ctx: &Ctx,
    id: i32,
    occurrence: Option<Wall>,
    csrf: String,
) -> Result<EventDialog, AppError> {
    let e: Event = cal::get(conn, id)?;
    let calendars = cal::list_calendars(conn)?;
    let this_cal = calendars.iter().find(|c| c.id == e.calendar_id);
    let read_only = this_cal.is_some_and(Calendar::is_subscribed);
    // A moved or changed occurrence (an override row) belongs to its series: the dialog offers
    // the same choices, with the series' rule.
    let series = series_of(conn, &e)?;
    let occurrence = occurrence.or(e.recurrence_key());
    // The occurrence's own start and end: the series' length from its original start.
    let (start, end) = match occurrence.filter(|_| e.is_recurring()) {
        Some(o) => {
            let length = e.end().naive() - e.start().naive();
            let end = match o {
                Wall::Date(d) => Wall::Date(d + length),
                Wall::DateTime(t) => Wall::DateTime(t + length),
            };
            (o, end)
        }
        None => (e.start(), e.end()),
    };
    // An all-day end is exclusive; the form shows the last day.
    let end_shown = match end {
        Wall::Date(d) if e.all_day => Wall::Date(d.pred_opt().unwrap_or(d).max(start.date())),
        other => other,
    };
    let today = ctx.today();
    let when = if e.all_day {
        let last = end_shown.date();
        if last == start.date() {
            format!("{}, all day", crate::web::view::day(start.date(), today))
        } else {
            format!("{} – {}", crate::web::view::day(start.date(), today), crate::web::view::day(last, today))
        }
    } else {
        let s = start.instant(e.tz(), ctx.tz).with_timezone(&ctx.tz).naive_local();
        let en = end.instant(e.tz(), ctx.tz).with_timezone(&ctx.tz).naive_local();
        format!("{} {}", crate::web::view::day(s.date(), today), time_span(s, en))
    };
    let zone_note = match (&e.zone, e.all_day) {
        (Some(z), false) if z != ctx.tz.name() => {
            Some(format!("{} {}", start.naive().format("%H:%M"), city(z)))
        }
        _ => None,
    };
    Ok(EventDialog {
        id: Some(e.id),
        title: e.title.clone(),
        calendar_id: e.calendar_id,
        calendars: calendars.iter().filter(|c| !c.is_subscribed()).map(|c| (c.id, c.name.clone())).collect(),
        all_day: e.all_day,
        start: wall_input(start),
        end: wall_input(end_shown),
        zone: e.zone.clone().unwrap_or_else(|| if e.all_day { String::new() } else { "floating".into() }),
        location: e.location.clone().unwrap_or_default(),
        notes: e.notes.clone().unwrap_or_default(),
        categories: e.category_list().join(", "),
        rrule: series.rrule.clone().unwrap_or_default(),
        rrule_words: series.rrule.as_deref().map(rrule_words).unwrap_or_default(),
        recurring: series.is_recurring(),
        occurrence: occurrence.filter(|_| series.is_recurring()).map(|w| w.to_api()).unwrap_or_default(),
        reminders: e.reminder_list().map(|l| leads_shown(&l)).unwrap_or_default(),
        reminders_hint: if e.alarm_list().is_empty() {
            this_cal.map(|c| default_hint(&c.reminders)).unwrap_or_default()
        } else {
            "the event's own alarms".into()
        },
        read_only,
        calendar_name: this_cal.map(|c| c.name.clone()).unwrap_or_default(),
        csrf,
        when,
        zone_note,
        error: None,
    })
}

/// "the calendar's default: 10m" for the reminders field's placeholder.
fn default_hint(stored: &str) -> String {
    format!("the calendar's default: {}", leads_shown(&crate::calendar::json_list(stored)))
}

pub async fn edit(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    q: web::Query<EditQuery>,
) -> Result<EventDialog, PageError> {
    let id = id.into_inner();
    let occurrence = q.into_inner().occurrence.as_deref().and_then(Wall::parse);
    let csrf = session.0.csrf_token.clone();
    Ok(state.run_as(Actor::Person, move |conn, ctx| dialog_for(conn, ctx, id, occurrence, csrf)).await?)
}

/// The series an override row belongs to (the row itself otherwise).
fn series_of(conn: &mut Conn, e: &Event) -> Result<Event, AppError> {
    if !e.is_override() {
        return Ok(e.clone());
    }
    Ok(cal::by_uid(conn, e.calendar_id, &e.uid, None)?.unwrap_or_else(|| e.clone()))
}

/// An all-day form's end is its last day; the store's is the day after.
fn exclusive_end(form: &mut EventForm) {
    let all_day = form.all_day.as_deref().is_some_and(|v| v == "on" || v == "true");
    if !all_day {
        return;
    }
    let start = opt(&form.start).and_then(|s| s.get(..10).map(str::to_string));
    let end = opt(&form.end).and_then(|s| s.get(..10).map(str::to_string));
    form.start = start.clone();
    form.end = end
        .or(start)
        .and_then(|e| NaiveDate::parse_from_str(&e, "%Y-%m-%d").ok())
        .and_then(|d| d.succ_opt())
        .map(|d| d.to_string());
}

/// Moves a series by what the person changed on one occurrence (scope "all"): the series keeps
/// its own first date, shifted by the same amount.
fn shift_series(e: &Event, occurrence: Wall, form: &EventForm) -> (Option<String>, Option<String>) {
    let (Some(new_start), Some(new_end)) =
        (opt(&form.start).as_deref().and_then(Wall::parse), opt(&form.end).as_deref().and_then(Wall::parse))
    else {
        return (opt(&form.start), opt(&form.end));
    };
    let delta = new_start.naive() - occurrence.naive();
    let length = new_end.naive() - new_start.naive();
    let start = e.start().naive() + delta;
    let end = start + length;
    if new_start.is_date() {
        (Some(start.date().to_string()), Some(end.date().to_string()))
    } else {
        (Some(start.format("%Y-%m-%dT%H:%M").to_string()), Some(end.format("%Y-%m-%dT%H:%M").to_string()))
    }
}

pub async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    form: web::Form<EventForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let mut form = form.into_inner();
    exclusive_end(&mut form);
    let csrf = session.0.csrf_token.clone();
    let saved = state
        .run_as(Actor::Person, move |conn, ctx| {
            let row = cal::get(conn, id)?;
            // Changes to a series go to its master row, with the occurrence they start from.
            let e = series_of(conn, &row)?;
            let target = Target::parse(form.scope.as_deref(), form.occurrence.as_deref())?;
            let (id, target) = if e.is_recurring() { (e.id, target) } else { (row.id, Target::ALL) };
            let mut input = form.input(target.scope != Scope::This);
            if target.scope == Scope::All
                && let Some(o) = target.occurrence
            {
                // The change is what the person did to the times the form showed: an override's
                // own (moved) times, or the occurrence's.
                let shown = if row.is_override() { row.start() } else { o };
                let (s, en) = shift_series(&e, shown, &form);
                input.start = s;
                input.end = en;
            }
            let target = if target.scope == Scope::All { Target::ALL } else { target };
            let saved = cal::update(conn, ctx, id, &input, target)?;
            Ok(saved.title)
        })
        .await;
    match saved {
        Ok(title) => {
            cal::announce(&state.events, None);
            if !is_htmx(&req) {
                return Ok(see_other("/calendar"));
            }
            refreshed(&req, &state, csrf, &format!("Saved “{}”", short(&title)), &[&CloseDialog]).await
        }
        Err(AppError::Invalid { field, message }) if is_htmx(&req) => {
            htmx::error_toast(StatusCode::UNPROCESSABLE_ENTITY, &crate::error::sentence(&field, &message))
        }
        Err(e) => Err(e.into()),
    }
}

/// The toast after a delete, with Undo.
#[derive(Template)]
#[template(path = "calendar_undo.html")]
struct UndoToast {
    message: String,
    id: i32,
    rows: String,
    rrule: String,
    exdates: String,
    csrf: String,
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    form: web::Form<EventForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let form = form.into_inner();
    let csrf = session.0.csrf_token.clone();
    let deleted = state
        .run_as(Actor::Person, move |conn, ctx| {
            let e = cal::get(conn, id)?;
            let target = Target::parse(form.scope.as_deref(), form.occurrence.as_deref())?;
            let target = if e.is_recurring() && target.scope != Scope::All { target } else { Target::ALL };
            // What Undo needs to put back: the series' rule and exceptions as they were.
            let master = if e.is_override() {
                cal::by_uid(conn, e.calendar_id, &e.uid, None)?.unwrap_or_else(|| e.clone())
            } else {
                e.clone()
            };
            let before = master.view("");
            let done = cal::delete(conn, ctx, id, target)?;
            let what = match target.scope {
                Scope::All => format!("Deleted “{}”", short(&e.title)),
                Scope::This => format!("Deleted one occurrence of “{}”", short(&e.title)),
                Scope::Following => format!("Deleted “{}” from this occurrence on", short(&e.title)),
            };
            Ok((
                what,
                done,
                master.id,
                before.rrule.unwrap_or_default(),
                serde_json::to_string(&before.exdates).unwrap_or_default(),
            ))
        })
        .await;
    match deleted {
        Ok((message, done, master, rrule, exdates)) => {
            cal::announce(&state.events, None);
            if !is_htmx(&req) {
                return Ok(see_other("/calendar"));
            }
            let series = done.series.is_some();
            let undo = UndoToast {
                message,
                id: master,
                rows: done.rows.iter().map(i32::to_string).collect::<Vec<_>>().join(","),
                rrule: if series { rrule } else { String::new() },
                exdates: if series { exdates } else { String::new() },
                csrf: csrf.clone(),
            };
            let (mut body, mut side) = body_for(&state, None, None, &req, csrf).await?;
            body.oob = true;
            side.oob = true;
            let mut out = String::new();
            for part in [&body as &dyn askama::DynTemplate, &side, &CloseDialog, &undo] {
                out.push_str(&part.dyn_render().map_err(|e| AppError::Internal(e.into()))?);
            }
            Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(out))
        }
        Err(AppError::Invalid { field, message }) if is_htmx(&req) => {
            htmx::error_toast(StatusCode::UNPROCESSABLE_ENTITY, &crate::error::sentence(&field, &message))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct UndoForm {
    #[serde(default)]
    rows: String,
    #[serde(default)]
    rrule: String,
    #[serde(default)]
    exdates: String,
}

pub async fn undo(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    form: web::Form<UndoForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let form = form.into_inner();
    let csrf = session.0.csrf_token.clone();
    let title = state
        .run_as(Actor::Person, move |conn, ctx| {
            let rows: Vec<i32> = form.rows.split(',').filter_map(|r| r.trim().parse().ok()).collect();
            let mut title = String::new();
            if !form.exdates.is_empty() || !form.rrule.is_empty() {
                let exdates: Vec<String> = serde_json::from_str(&form.exdates).unwrap_or_default();
                let input = EventInput {
                    rrule: Some(Some(form.rrule.clone()).filter(|r| !r.is_empty())),
                    exdates: Some(exdates),
                    ..Default::default()
                };
                title = cal::update(conn, ctx, id, &input, Target::ALL)?.title;
            }
            for row in rows {
                // Rows deleted with the series come back together with the first.
                if let Ok(e) = cal::restore(conn, ctx, row) {
                    title = e.title;
                }
            }
            Ok(title)
        })
        .await?;
    cal::announce(&state.events, None);
    if !is_htmx(&req) {
        return Ok(see_other("/calendar"));
    }
    refreshed(&req, &state, csrf, &format!("Restored “{}”", short(&title)), &[]).await
}

#[derive(Deserialize)]
pub struct CalendarForm {
    name: Option<String>,
    colour: Option<String>,
    visible: Option<String>,
    /// Default reminders of its events: `10m, 1d`; empty or `none`: none.
    reminders: Option<String>,
}

pub async fn create_calendar(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<CalendarForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let csrf = session.0.csrf_token.clone();
    let made = state
        .run_as(Actor::Person, move |conn, ctx| {
            let input = CalendarInput {
                name: form.name,
                colour: form.colour,
                visible: Some(true),
                reminders: form.reminders.as_deref().map(|r| reminders_field(r).unwrap_or_default()),
            };
            Ok(cal::create_calendar(conn, ctx, &input)?.name)
        })
        .await;
    calendar_answer(&req, &state, csrf, made.map(|n| format!("Added the calendar “{n}”"))).await
}

pub async fn update_calendar(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    form: web::Form<CalendarForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let form = form.into_inner();
    let csrf = session.0.csrf_token.clone();
    let done = state
        .run_as(Actor::Person, move |conn, ctx| {
            let visible = form.visible.as_deref().map(|v| v == "on" || v == "true");
            let input = CalendarInput {
                name: opt(&form.name),
                colour: opt(&form.colour),
                visible,
                reminders: form.reminders.as_deref().map(|r| reminders_field(r).unwrap_or_default()),
            };
            let c = cal::update_calendar(conn, ctx, id, &input)?;
            Ok(match visible {
                Some(true) => format!("Showing “{}”", c.name),
                Some(false) => format!("Hiding “{}”", c.name),
                None => format!("Saved the calendar “{}”", c.name),
            })
        })
        .await;
    calendar_answer(&req, &state, csrf, done).await
}

async fn calendar_answer(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    csrf: String,
    done: Result<String, AppError>,
) -> Result<HttpResponse, PageError> {
    match done {
        Ok(message) => {
            cal::announce(&state.events, None);
            if !is_htmx(req) {
                return Ok(see_other("/calendar"));
            }
            refreshed(req, state, csrf, &message, &[]).await
        }
        Err(AppError::Invalid { field, message }) if is_htmx(req) => {
            htmx::error_toast(StatusCode::UNPROCESSABLE_ENTITY, &crate::error::sentence(&field, &message))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct OverlayForm {
    overlay: String,
    on: Option<String>,
}

pub async fn overlay(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<OverlayForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let csrf = session.0.csrf_token.clone();
    let done = state
        .run_as(Actor::Person, move |conn, _| {
            let (key, name) = match form.overlay.as_str() {
                "tasks" => (OVERLAY_TASKS, "tasks"),
                "prompts" => (OVERLAY_PROMPTS, "scheduled prompts"),
                other => {
                    return Err(AppError::invalid("overlay", format!("{other:?} is not tasks or prompts")));
                }
            };
            let on = form.on.as_deref().is_some_and(|v| v == "on" || v == "true");
            crate::db::settings::set(conn, key, if on { "on" } else { "off" })?;
            Ok(if on { format!("Showing {name}") } else { format!("Hiding {name}") })
        })
        .await;
    calendar_answer(&req, &state, csrf, done).await
}

/// Ticks a task from the grid (the tasks service, so a recurring task makes its next one).
pub async fn toggle_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let csrf = session.0.csrf_token.clone();
    let st = state.clone();
    let done = state
        .run_as(Actor::Person, move |conn, ctx| {
            let task = crate::tasks::service::get(conn, id)?;
            let (t, _) = crate::tasks::service::set_done(conn, ctx, id, !task.done)?;
            crate::tasks::service::announce(&st.events, Some(id));
            Ok(if t.done {
                format!("Completed “{}”", short(&t.title))
            } else {
                format!("Reopened “{}”", short(&t.title))
            })
        })
        .await;
    calendar_answer(&req, &state, csrf, done).await
}

/// What an import did, shown in the side panel.
#[derive(Template)]
#[template(path = "calendar_import.html")]
struct ImportReportView {
    imported: usize,
    updated: usize,
    unchanged: usize,
    skipped: Vec<(String, String)>,
}

pub async fn import(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    mut payload: Multipart,
) -> Result<HttpResponse, PageError> {
    let csrf = session.0.csrf_token.clone();
    let mut bytes = Vec::new();
    let mut calendar = None;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|e| AppError::invalid("file", format!("could not be read ({e})")))?;
        let name = field.name().unwrap_or("").to_string();
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| AppError::invalid("file", format!("could not be read ({e})")))?;
            if data.len() + chunk.len() > MAX_IMPORT_BYTES {
                return Err(AppError::invalid("file", "is larger than 32 MB").into());
            }
            data.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "file" => bytes = data,
            "calendar" => {
                calendar = Some(String::from_utf8_lossy(&data).trim().to_string()).filter(|c| !c.is_empty())
            }
            _ => {}
        }
    }
    let done = state
        .run_as(Actor::Person, move |conn, ctx| {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let into = match calendar.as_deref() {
                Some(c) => cal::find_calendar(conn, c)?.id,
                None => cal::default_calendar(conn)?.id,
            };
            crate::calendar::ics::import(conn, ctx, into, &text)
        })
        .await;
    match done {
        Ok(report) => {
            cal::announce(&state.events, None);
            if !is_htmx(&req) {
                return Ok(see_other("/calendar"));
            }
            let view = ImportReportView {
                imported: report.imported,
                updated: report.updated,
                unchanged: report.unchanged,
                skipped: report.skipped.clone(),
            };
            let message = format!(
                "{} imported, {} updated, {} skipped",
                report.imported,
                report.updated,
                report.skipped.len()
            );
            refreshed(&req, &state, csrf, &message, &[&view]).await
        }
        Err(AppError::Invalid { field, message }) if is_htmx(&req) => {
            htmx::error_toast(StatusCode::UNPROCESSABLE_ENTITY, &crate::error::sentence(&field, &message))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn ranges_and_steps() {
        #[rustfmt::skip]
        let cases: &[(View, &str, &str, &str, &str, &str, &str)] = &[
            // view, date, from, to, prev, next, title
            (View::Month, "2026-11-22", "2026-10-26", "2026-12-07", "2026-10-01", "2026-12-01", "November 2026"),
            (View::Month, "2026-02-10", "2026-01-26", "2026-03-02", "2026-01-01", "2026-03-01", "February 2026"),
            (View::Week, "2026-11-22", "2026-11-16", "2026-11-23", "2026-11-15", "2026-11-29", "16 – 22 November 2026"),
            (View::Week, "2026-12-30", "2026-12-28", "2027-01-04", "2026-12-23", "2027-01-06", "28 Dec 2026 – 3 Jan 2027"),
            (View::Day, "2026-11-22", "2026-11-22", "2026-11-23", "2026-11-21", "2026-11-23", "Sunday 22 November 2026"),
            (View::Agenda, "2026-11-22", "2026-11-22", "2026-12-22", "2026-10-23", "2026-12-22", "22 Nov – 21 Dec 2026"),
        ];
        for (view, date, from, to, prev, next, title) in cases {
            let date = d(date);
            assert_eq!(range(*view, date), (d(from), d(to)), "{view:?} {date}");
            assert_eq!(step(*view, date, false), d(prev), "{view:?} {date}");
            assert_eq!(step(*view, date, true), d(next), "{view:?} {date}");
            assert_eq!(title_of(*view, date), *title);
        }
    }

    #[test]
    fn rrules_in_words() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("FREQ=DAILY", "every day"),
            ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "every weekday"),
            ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH", "every 2 weeks on Mon, Thu"),
            ("FREQ=MONTHLY;BYDAY=-1FR", "every month on Fri"),
            ("FREQ=YEARLY;COUNT=10", "every year, 10 times"),
            ("FREQ=WEEKLY;UNTIL=20261231T225959Z", "every week, until 31 Dec 2026"),
            ("FREQ=SOMETIMES", "FREQ=SOMETIMES"),
        ];
        for (rule, want) in cases {
            assert_eq!(rrule_words(rule), *want, "{rule}");
        }
    }

    fn item(start: &str, end: &str) -> Item {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        Item {
            kind: "event",
            id: 1,
            title: start.into(),
            all_day: false,
            start: t(start),
            end: t(end),
            time: String::new(),
            zone_note: None,
            location: None,
            colour: String::new(),
            href: String::new(),
            recurring: false,
            done: false,
            times: 1,
            read_only: false,
            cont_before: false,
            cont_after: false,
        }
    }

    #[test]
    fn overlapping_items_share_the_column() {
        let day = d("2026-11-23");
        let placed = place(
            day,
            vec![
                item("2026-11-23 09:00", "2026-11-23 10:00"),
                item("2026-11-23 09:30", "2026-11-23 10:30"),
                item("2026-11-23 11:00", "2026-11-23 11:15"),
                item("2026-11-22 23:00", "2026-11-23 01:00"),
            ],
        );
        let got: Vec<String> = placed.iter().map(|p| format!("{} {}", p.item.title, p.place)).collect();
        assert_eq!(
            got,
            [
                "2026-11-22 23:00 t-0 h-12 lane-0-1",
                "2026-11-23 09:00 t-108 h-12 lane-0-2",
                "2026-11-23 09:30 t-114 h-12 lane-1-2",
                "2026-11-23 11:00 t-132 h-3 lane-0-1 short",
            ]
        );
    }
}
