//! When a schedule fires: once at an instant, on a crontab expression, or every fixed period.
//! Everything here is pure time math, table-tested with fixed clocks below.
//!
//! - Cron expressions are evaluated by `croner` in the schedule's zone, with crontab semantics:
//!   5 fields (or 6 with leading seconds), `0` and `7` both Sunday, day-of-month and day-of-week
//!   both restricted means either, `L`, names, `@daily` and friends. A wall-clock time inside a
//!   spring-forward gap fires once at the first instant after the gap; one that occurs twice in a
//!   fall-back overlap fires once, at its first occurrence.
//! - Intervals are elapsed time from an anchor, so DST never moves them.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::dates::{self, When};
use crate::error::AppError;

/// The three kinds, with their parsed definition.
#[derive(Debug, Clone)]
pub enum Spec {
    Once(DateTime<Utc>),
    Cron(Box<CronExpr>),
    Interval(Period),
}

/// A parsed cron expression and the text it came from.
#[derive(Debug, Clone)]
pub struct CronExpr {
    pub text: String,
    cron: Cron,
}

/// A fixed elapsed period, as typed (`1h30m`) and in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub seconds: i64,
}

/// What the person (or API) gave for the timing: exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Once,
    Cron,
    Interval,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Once => "once",
            Kind::Cron => "cron",
            Kind::Interval => "interval",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "once" => Some(Kind::Once),
            "cron" => Some(Kind::Cron),
            "interval" => Some(Kind::Interval),
            _ => None,
        }
    }

    /// The name of the input field (API/CLI) for this kind.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Once => "at",
            Kind::Cron => "cron",
            Kind::Interval => "every",
        }
    }

    /// Every kind, in the order the schedule form offers them.
    pub const ALL: [Kind; 3] = [Kind::Once, Kind::Cron, Kind::Interval];

    /// The value the schedule form sends for this kind: `once`, `cron`, `every`.
    pub fn form_value(self) -> &'static str {
        match self {
            Kind::Once => "once",
            Kind::Cron => "cron",
            Kind::Interval => "every",
        }
    }

    /// Reads [`Kind::form_value`] back.
    pub fn from_form(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.form_value() == text)
    }

    /// How the schedule form names this kind.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Once => "Once",
            Kind::Cron => "Cron",
            Kind::Interval => "Every",
        }
    }
}

/// The longest period accepted: a hundred years is "never" in practice.
const MAX_PERIOD_SECONDS: i64 = 100 * 366 * 86_400;

impl Period {
    /// `30s`, `5m`, `1h30m`, `2d`, `1w`; spaces allowed between parts (`1h 30m`).
    pub fn parse(text: &str) -> Result<Period, AppError> {
        let bad = |why: &str| AppError::invalid("every", format!("{text:?} {why}"));
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
        if compact.is_empty() {
            return Err(bad("is empty; give a period like 30s, 5m, 1h30m or 2d"));
        }
        let mut seconds: i64 = 0;
        let mut number = String::new();
        for c in compact.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(bad(&format!("has {c:?}, which is not a unit (use s, m, h, d or w)"))),
            };
            if number.is_empty() {
                return Err(bad(&format!("has a unit {c:?} without a number before it")));
            }
            let n: i64 = number.parse().map_err(|_| bad("is too long"))?;
            seconds = n
                .checked_mul(unit)
                .and_then(|s| seconds.checked_add(s))
                .filter(|s| *s <= MAX_PERIOD_SECONDS)
                .ok_or_else(|| bad("is longer than 100 years"))?;
            number.clear();
        }
        if !number.is_empty() {
            return Err(bad("ends with a number without a unit (use s, m, h, d or w)"));
        }
        if seconds == 0 {
            return Err(bad("is zero; give a period longer than that"));
        }
        Ok(Period { seconds })
    }

    pub fn duration(self) -> Duration {
        Duration::seconds(self.seconds)
    }
}

impl fmt::Display for Period {
    /// The canonical spelling: `1h30m`, `2d`, `45s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut left = self.seconds;
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if left >= size {
                write!(f, "{}{unit}", left / size)?;
                left %= size;
            }
        }
        Ok(())
    }
}

/// The `@` names croner reads.
const CRON_NAMES: [&str; 6] = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"];

impl CronExpr {
    /// A crontab line or an `@` name. Every refusal is a sentence naming the field at fault
    /// ("Minute 61 is out of range 0–59."); croner's own wording is never passed on.
    pub fn parse(text: &str) -> Result<CronExpr, AppError> {
        let trimmed = text.trim();
        let bad = |why: String| AppError::invalid("cron", why);
        if trimmed.is_empty() {
            return Err(bad(
                "Give a cron expression: 5 fields like “0 9 * * 1-5”, or a name like @daily.".into()
            ));
        }
        let fields = trimmed.split_whitespace().count();
        if trimmed.starts_with('@') {
            if fields != 1 || !CRON_NAMES.contains(&trimmed.to_ascii_lowercase().as_str()) {
                return Err(bad(format!(
                    "“{trimmed}” is not a cron name; use @hourly, @daily, @weekly, @monthly or @yearly."
                )));
            }
        } else if !(5..=6).contains(&fields) {
            return Err(bad(format!(
                "“{trimmed}” has {fields} field{}; cron uses 5 (minute hour day-of-month month \
                 day-of-week), or 6 with seconds first.",
                if fields == 1 { "" } else { "s" }
            )));
        }
        // An empty list item (`1,,2`, a lone `,`) matches nothing in croner, which then walks
        // the calendar for thousands of years looking for a match: refuse it here.
        if let Some(field) = trimmed.split_whitespace().find(|f| f.split(',').any(str::is_empty)) {
            return Err(bad(format!("“{field}” has an empty item in its list.")));
        }
        check_cron_fields(trimmed).map_err(bad)?;
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(trimmed).map_err(|e| {
            // What the checks above let through and croner refused: keep its words for the log.
            tracing::debug!(cron = trimmed, error = %e, "croner refused a cron expression");
            bad(format!("“{trimmed}” is not a cron expression I can read."))
        })?;
        let expr = CronExpr { text: trimmed.split_whitespace().collect::<Vec<_>>().join(" "), cron };
        // Patterns like `0 0 30 2 *` parse but never match: refuse them instead of never firing.
        // The calendar repeats every 400 years, so whether a pattern ever matches does not
        // depend on where the search starts: start at a fixed instant.
        let probe = DateTime::<Utc>::UNIX_EPOCH.with_timezone(&Tz::UTC);
        if expr.cron.find_next_occurrence(&probe, false).is_err() {
            return Err(bad(format!("“{trimmed}” never matches any date.")));
        }
        Ok(expr)
    }

    /// The first matching instant strictly after `after`, evaluated in `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&tz);
        self.cron.find_next_occurrence(&local, false).ok().map(|t| t.with_timezone(&Utc))
    }

    /// The pattern in words, as croner describes it.
    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}

impl Spec {
    /// Parses the timing of a schedule. `now` (in the schedule's zone) anchors relative phrases
    /// like `tomorrow 9am` and `in 20m`.
    pub fn parse(kind: Kind, text: &str, now: DateTime<Tz>) -> Result<Spec, AppError> {
        match kind {
            Kind::Once => parse_at(text, now).map(Spec::Once),
            Kind::Cron => CronExpr::parse(text).map(|c| Spec::Cron(Box::new(c))),
            Kind::Interval => Period::parse(text).map(Spec::Interval),
        }
    }

    /// Reads back what [`Spec::to_stored`] wrote.
    pub fn from_stored(kind: &str, text: &str) -> Result<Spec, AppError> {
        match Kind::parse(kind) {
            Some(Kind::Once) => DateTime::parse_from_rfc3339(text)
                .map(|t| Spec::Once(t.with_timezone(&Utc)))
                .map_err(|e| AppError::invalid("at", format!("stored instant {text:?}: {e}"))),
            Some(Kind::Cron) => CronExpr::parse(text).map(|c| Spec::Cron(Box::new(c))),
            Some(Kind::Interval) => Period::parse(text).map(Spec::Interval),
            None => Err(AppError::invalid("kind", format!("{kind:?} is not once, cron or interval"))),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Spec::Once(_) => Kind::Once,
            Spec::Cron(_) => Kind::Cron,
            Spec::Interval(_) => Kind::Interval,
        }
    }

    /// The canonical text stored in `schedules.spec`.
    pub fn to_stored(&self) -> String {
        match self {
            // Milliseconds, as next_fire_at keeps them: a resumed or edited schedule keeps its time.
            Spec::Once(at) => at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            Spec::Cron(c) => c.text.clone(),
            Spec::Interval(p) => p.to_string(),
        }
    }

    /// The first firing strictly after `after`. `anchor` is where intervals count from.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz, anchor: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Spec::Once(at) => (*at > after).then_some(*at),
            Spec::Cron(c) => c.next_after(after, tz),
            Spec::Interval(p) => {
                let period = p.seconds * 1000;
                let since = (after - anchor).num_milliseconds();
                // The first anchor + k * period (k >= 1) strictly after `after`.
                let k = if since < 0 { 1 } else { since / period + 1 };
                anchor.checked_add_signed(Duration::milliseconds(k.checked_mul(period)?))
            }
        }
    }

    /// The next `count` firings strictly after `after`.
    pub fn preview(
        &self,
        after: DateTime<Utc>,
        tz: Tz,
        anchor: DateTime<Utc>,
        count: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(count);
        let mut at = after;
        while out.len() < count {
            match self.next_after(at, tz, anchor) {
                Some(next) => {
                    out.push(next);
                    at = next;
                }
                None => break,
            }
        }
        out
    }

    /// The shortest gap between firings, for the minimum-interval guard (None for `once`).
    pub fn shortest_gap(&self, tz: Tz, from: DateTime<Utc>) -> Option<Duration> {
        match self {
            Spec::Once(_) => None,
            Spec::Interval(p) => Some(p.duration()),
            Spec::Cron(_) => {
                let times = self.preview(from, tz, from, 64);
                times.windows(2).map(|w| w[1] - w[0]).min()
            }
        }
    }

    /// "Every weekday at 09:00, Europe/Madrid": the timing in words.
    pub fn describe(&self, tz: Tz) -> String {
        match self {
            Spec::Once(at) => format!("Once, {}", at.with_timezone(&tz).format("%a %-d %b %Y at %H:%M, %Z")),
            Spec::Cron(c) => format!("{}, {}", describe_cron(c), tz.name()),
            Spec::Interval(p) => format!("Every {}", words_for_period(*p)),
        }
    }
}

/// A `once` time: RFC 3339, or the quick-add date grammar; it must be a time of day in the future.
fn parse_at(text: &str, now: DateTime<Tz>) -> Result<DateTime<Utc>, AppError> {
    // `in 90s`, `in 1h30m`: any period, seconds included, beyond what quick-add reads.
    if let Some(p) = text.trim().strip_prefix("in ").and_then(|p| Period::parse(p).ok()) {
        return Ok(crate::clock::ceil_ms(now.with_timezone(&Utc) + p.duration()));
    }
    let when = match DateTime::parse_from_rfc3339(text.trim()) {
        // RFC 3339 with any precision (the quick-add grammar reads whole seconds at most).
        Ok(t) => When::At(t.with_timezone(&now.timezone())),
        Err(_) => dates::parse_when(text, now).map_err(|e| AppError::invalid("at", e.to_string()))?,
    };
    let at = match when {
        // Milliseconds, the precision the scheduler keeps, rounded up: a finer instant is
        // never stored before itself, so it can never fire early.
        When::At(t) => crate::clock::ceil_ms(t.with_timezone(&Utc)),
        When::Date(d) => {
            return Err(AppError::invalid(
                "at",
                format!("{text:?} is a day without a time; add one, like \"{d} 09:00\""),
            ));
        }
    };
    if at <= now.with_timezone(&Utc) {
        return Err(AppError::invalid(
            "at",
            format!(
                "{text:?} is {} in {}, which is in the past",
                at.with_timezone(&now.timezone()).format("%Y-%m-%d %H:%M"),
                now.timezone().name()
            ),
        ));
    }
    Ok(at)
}

/// The common crontab shapes in plain words; croner's description for the rest.
fn describe_cron(c: &CronExpr) -> String {
    let named = match c.text.to_lowercase().as_str() {
        "@hourly" => Some("Every hour, on the hour".to_string()),
        "@daily" | "@midnight" => Some("Every day at 00:00".to_string()),
        "@weekly" => Some("Every Sunday at 00:00".to_string()),
        "@monthly" => Some("On the 1st of every month at 00:00".to_string()),
        "@yearly" | "@annually" => Some("Every 1 January at 00:00".to_string()),
        _ => None,
    };
    if let Some(words) = named {
        return words;
    }
    let f: Vec<&str> = c.text.split_whitespace().collect();
    if let [minute, hour, dom, month, dow] = f.as_slice()
        && let (Ok(m), Ok(h)) = (minute.parse::<u32>(), hour.parse::<u32>())
        && *dom == "*"
        && *month == "*"
        && m < 60
        && h < 24
    {
        let time = format!("{h:02}:{m:02}");
        let days = match dow.to_lowercase().as_str() {
            "*" => Some("Every day".to_string()),
            "1-5" | "mon-fri" => Some("Every weekday".to_string()),
            "0,6" | "6,0" | "6,7" | "sat,sun" | "sun,sat" => Some("Every weekend day".to_string()),
            other => other.parse::<u32>().ok().and_then(day_name).map(|d| format!("Every {d}")),
        };
        if let Some(days) = days {
            return format!("{days} at {time}");
        }
    }
    if let Some(words) = describe_dates(&f) {
        return words;
    }
    let mut words = c.describe();
    if let Some(first) = words.get(..1) {
        words = first.to_uppercase() + words.get(1..).unwrap_or_default();
    }
    words.trim_end_matches('.').to_string()
}

/// Monthly and yearly lines (what `every month on the 1st at 8` becomes) and simple steps.
fn describe_dates(f: &[&str]) -> Option<String> {
    let [minute, hour, dom, month, dow] = f else { return None };
    if let (Some(step), "*", "*", "*", "*") = (minute.strip_prefix("*/"), *hour, *dom, *month, *dow) {
        return step.parse::<u32>().ok().map(|n| format!("Every {n} minutes"));
    }
    if let ("0", Some(step), "*", "*", "*") = (*minute, hour.strip_prefix("*/"), *dom, *month, *dow) {
        return step.parse::<u32>().ok().map(|n| format!("Every {n} hours, on the hour"));
    }
    let (m, h, d) = (minute.parse::<u32>().ok()?, hour.parse::<u32>().ok()?, dom.parse::<u32>().ok()?);
    if m > 59 || h > 23 || *dow != "*" {
        return None;
    }
    let time = format!("{h:02}:{m:02}");
    let suffix = match (d % 10, d % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    if *month == "*" {
        return Some(format!("On the {d}{suffix} of every month at {time}"));
    }
    let names: Vec<&str> = month
        .split(',')
        .map(|m| m.parse::<usize>().ok().and_then(|m| crate::dates::MONTHS.get(m.checked_sub(1)?).copied()))
        .collect::<Option<_>>()?;
    match names.as_slice() {
        [one] => Some(format!("Every {d} {one} at {time}")),
        [init @ .., last] => Some(format!("On the {d}{suffix} of {} and {last} at {time}", init.join(", "))),
        [] => None,
    }
}

fn day_name(n: u32) -> Option<String> {
    let names = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    names.get(n as usize).map(|s| s.to_string())
}

/// "5 minutes", "1 hour 30 minutes", and "day" for exactly one day ("Every day").
fn words_for_period(p: Period) -> String {
    let mut parts = Vec::new();
    let mut left = p.seconds;
    for (unit, size) in [("day", 86_400), ("hour", 3600), ("minute", 60), ("second", 1)] {
        if left >= size {
            parts.push((left / size, unit));
            left %= size;
        }
    }
    match parts.as_slice() {
        [(1, unit)] => unit.to_string(),
        _ => parts
            .iter()
            .map(|(n, unit)| if *n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

// ---------------------------------------------------------------------------------------------
// The one timing box: a phrase as quick-add reads it, a period, or cron.

/// What a phrase of the timing box cannot be read as: the sentence with the examples.
fn not_understood(text: &str) -> String {
    format!(
        "“{text}” is not a timing I understand. Try “every weekday at 9:00”, “every 2 hours”, \
         “every month on the 1st at 8”, “tomorrow 9am”, “in 20m”, or cron like “0 9 * * 1-5”."
    )
}

/// Moves an error of the `at`, `cron` or `every` reading to the field the text came in.
fn under(field: &str, e: AppError) -> AppError {
    match e {
        AppError::Invalid { message, .. } => AppError::invalid(field, message),
        other => other,
    }
}

/// Whether the text reads as a crontab line rather than words: it has a `*`, `?` or `/`, or
/// it is 5 or 6 fields of numbers, ranges, lists and cron names.
fn looks_like_cron(words: &[&str]) -> bool {
    let cron_word = |w: &str| {
        let lower = w.to_ascii_lowercase();
        lower.split([',', '-', '#']).all(|part| {
            part.bytes().all(|b| b.is_ascii_digit() || b == b'l' || b == b'w')
                || MONTH_NAMES.iter().chain(DAY_NAMES).any(|(n, _)| *n == part)
        })
    };
    words.iter().any(|w| w.contains(['*', '?', '/']))
        || ((5..=6).contains(&words.len()) && words.iter().all(|w| cron_word(w)))
}

/// `2 hours`, `30 min`, `hour`, `90s`, `1h30m`, `3 days`: an elapsed period (no time of day).
fn period_words(words: &[&str]) -> Option<Period> {
    let unit = |w: &str| -> Option<&'static str> {
        Some(match w.to_ascii_lowercase().as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => "s",
            "m" | "min" | "mins" | "minute" | "minutes" => "m",
            "h" | "hr" | "hrs" | "hour" | "hours" => "h",
            "d" | "day" | "days" => "d",
            "w" | "wk" | "wks" | "week" | "weeks" => "w",
            _ => return None,
        })
    };
    match words {
        // `every hour`, `every minute`; `every day` and `every week` want a time of day.
        [w] if matches!(unit(w), Some("s" | "m" | "h")) && w.len() > 1 => {
            Period::parse(&format!("1{}", unit(w)?)).ok()
        }
        [n, w] if n.bytes().all(|b| b.is_ascii_digit()) => Period::parse(&format!("{n}{}", unit(w)?)).ok(),
        [compact] if compact.starts_with(|c: char| c.is_ascii_digit()) => Period::parse(compact).ok(),
        _ => None,
    }
}

/// `every weekday at 9:00` and the other calendar repeats of the quick-add grammar, as cron.
fn repeat_as_cron(text: &str, words: &[&str], now: DateTime<Tz>) -> Result<Spec, AppError> {
    use crate::dates::Unit;
    use chrono::{Datelike, Timelike};
    let bad = |why: String| AppError::invalid("when", why);
    let (used, rep) = match dates::match_repeat(words, 0, now) {
        Ok(Some(found)) => found,
        Ok(None) => return Err(bad(not_understood(text))),
        Err(e) => return Err(bad(format!("“{}”: {}.", e.piece, e.message))),
    };
    if let Some(rest) = words.get(used..).filter(|r| !r.is_empty()) {
        return Err(bad(format!(
            "“{}” is not part of the timing; I read “{}” before it.",
            rest.join(" "),
            words.get(..used).unwrap_or_default().join(" ")
        )));
    }
    let Some(time) = rep.time else {
        return Err(bad(format!("“{text}” needs a time of day, like “{text} at 9:00”.")));
    };
    let (h, m) = (time.hour(), time.minute());
    let start = rep.start;
    let cron = match (rep.unit, rep.every) {
        (Unit::Day, 1) => format!("{m} {h} * * *"),
        (Unit::BusinessDay, 1) => format!("{m} {h} * * 1-5"),
        (Unit::Week, 1) => format!("{m} {h} * * {}", start.weekday().num_days_from_sunday()),
        (Unit::Month, n) if 12 % n == 0 => {
            let mut months: Vec<u32> = (0..12 / n).map(|k| (start.month0() + k * n) % 12 + 1).collect();
            months.sort_unstable();
            let months = if n == 1 {
                "*".to_string()
            } else {
                months.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            };
            format!("{m} {h} {} {months} *", start.day())
        }
        (Unit::Year, 1) => format!("{m} {h} {} {} *", start.day(), start.month()),
        _ => {
            return Err(bad(format!(
                "“{text}” is not a calendar rule cron can follow. Give an interval counted from \
                 when the schedule is saved (like “every 2 days”), or write a cron expression."
            )));
        }
    };
    CronExpr::parse(&cron).map(|c| Spec::Cron(Box::new(c))).map_err(|e| under("when", e))
}

impl Spec {
    /// The one timing box (`when`): what quick-add reads (`every weekday at 9:00`,
    /// `every month on the 1st at 8`, `tomorrow 9am`, `in 20m`), a period (`every 2 hours`,
    /// `1h30m`), or raw cron (`0 9 * * 1-5`, `@daily`). Calendar repeats become cron,
    /// evaluated in the schedule's zone; elapsed periods become intervals; one time becomes
    /// `once`. `now` is in the schedule's zone. Errors are under the field `when`.
    pub fn from_phrase(text: &str, now: DateTime<Tz>) -> Result<Spec, AppError> {
        let text = text.trim();
        let words: Vec<&str> = text.split_whitespace().collect();
        let Some(first) = words.first() else {
            return Err(AppError::invalid(
                "when",
                "Say when it should fire, like “every weekday at 9:00”, “every 2 hours” or “tomorrow 9am”.",
            ));
        };
        if first.starts_with('@') || looks_like_cron(&words) {
            return CronExpr::parse(text).map(|c| Spec::Cron(Box::new(c))).map_err(|e| under("when", e));
        }
        let rest = words.get(1..).unwrap_or_default();
        if first.eq_ignore_ascii_case("every") || first.eq_ignore_ascii_case("every!") {
            if let Some(p) = period_words(rest) {
                return Ok(Spec::Interval(p));
            }
            return repeat_as_cron(text, &words, now);
        }
        if let Some(p) = period_words(&words) {
            return Ok(Spec::Interval(p));
        }
        parse_at(text, now).map(Spec::Once).map_err(|e| match e {
            AppError::Invalid { message, .. } if message.contains("is not a date or time") => {
                AppError::invalid("when", not_understood(text))
            }
            other => under("when", other),
        })
    }

    /// The cron line this timing is, if it is one (what the preview shows under the words).
    pub fn cron_text(&self) -> Option<&str> {
        match self {
            Spec::Cron(c) => Some(&c.text),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cron fields, checked one by one so that a person reads which field is wrong and why, in
// words (croner's own errors are never shown).

/// One field of a crontab line: its name in a sentence, its range and its names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Three-letter names and their numbers (months, days of the week).
    names: &'static [(&'static str, u32)],
    /// A hint after the range, when the range alone could puzzle.
    note: &'static str,
}

const MONTH_NAMES: &[(&str, u32)] = &[
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("may", 5),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];
const DAY_NAMES: &[(&str, u32)] =
    &[("sun", 0), ("mon", 1), ("tue", 2), ("wed", 3), ("thu", 4), ("fri", 5), ("sat", 6)];

const SECOND: Field = Field { name: "Second", min: 0, max: 59, names: &[], note: "" };
const MINUTE: Field = Field { name: "Minute", min: 0, max: 59, names: &[], note: "" };
const HOUR: Field = Field { name: "Hour", min: 0, max: 23, names: &[], note: "" };
const DAY_OF_MONTH: Field = Field { name: "Day of month", min: 1, max: 31, names: &[], note: "" };
const MONTH: Field = Field { name: "Month", min: 1, max: 12, names: MONTH_NAMES, note: " (or jan–dec)" };
const DAY_OF_WEEK: Field = Field {
    name: "Day of week",
    min: 0,
    max: 7,
    names: DAY_NAMES,
    note: " (0 and 7 are Sunday; or sun–sat)",
};

impl Field {
    fn is(&self, other: &Field) -> bool {
        self.name == other.name
    }

    fn out_of_range(&self, value: impl fmt::Display) -> String {
        format!("{} {value} is out of range {}–{}{}.", self.name, self.min, self.max, self.note)
    }

    /// A number or (for months and days) a three-letter name. `end` reads `sun` as 7, so
    /// `mon-sun` is a range.
    fn value(&self, text: &str, end: bool) -> Result<u32, String> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return match text.parse::<u32>() {
                Ok(n) if (self.min..=self.max).contains(&n) => Ok(n),
                Ok(n) => Err(self.out_of_range(n)),
                Err(_) => Err(self.out_of_range(text.get(..12).unwrap_or(text))),
            };
        }
        let lower = text.to_ascii_lowercase();
        if let Some((_, n)) = self.names.iter().find(|(name, _)| *name == lower) {
            return Ok(if end && self.is(&DAY_OF_WEEK) && *n == 0 { 7 } else { *n });
        }
        let what = if self.names.is_empty() {
            format!("a number {}–{}", self.min, self.max)
        } else {
            format!("a number {}–{}{}", self.min, self.max, self.note)
        };
        Err(format!("{} “{text}” is not {what}.", self.name))
    }

    /// `a-b`, each end a value; a range must not run backwards.
    fn range(&self, text: &str) -> Result<(), String> {
        let Some((a, b)) = text.split_once('-') else {
            return self.value(text, false).map(|_| ());
        };
        if b.contains('-') {
            return Err(format!("{} “{text}” has more than one “-”; a range is like 1-5.", self.name));
        }
        let (start, end) = (self.value(a, false)?, self.value(b, true)?);
        if start > end {
            return Err(format!(
                "{} range {text} runs backwards; write the smaller value first, or split it \
                 (like {a}-{max},{min}-{b}).",
                self.name,
                max = self.max,
                min = self.min
            ));
        }
        Ok(())
    }

    /// One item of a comma-separated list.
    fn item(&self, item: &str) -> Result<(), String> {
        let upper = item.to_ascii_uppercase();
        if item == "*" || (item == "?" && (self.is(&DAY_OF_MONTH) || self.is(&DAY_OF_WEEK))) {
            return Ok(());
        }
        if let Some((base, step)) = item.split_once('/') {
            let n = match step.parse::<u32>() {
                Ok(n) if n > 0 => n,
                Ok(_) => {
                    return Err(format!("{} step “/0” never moves; give a step of 1 or more.", self.name));
                }
                Err(_) => {
                    return Err(format!("{} step “/{step}” is not a whole number, like */15.", self.name));
                }
            };
            if base == "*" || base == "?" {
                return Ok(());
            }
            if !base.contains('-') {
                return Err(format!(
                    "{} “{item}”: a step needs * or a range before it, like */{n} or {base}-{}/{n}.",
                    self.name, self.max
                ));
            }
            return self.range(base);
        }
        if self.is(&DAY_OF_MONTH) {
            if upper == "L" || upper == "LW" {
                return Ok(());
            }
            if let Some(day) = upper.strip_suffix('W') {
                return self.value(day, false).map(|_| ());
            }
        }
        if self.is(&DAY_OF_WEEK) {
            if let Some((day, nth)) = item.split_once('#') {
                self.value(day, false)?;
                return match nth.parse::<u32>() {
                    Ok(1..=5) => Ok(()),
                    _ => Err(format!(
                        "Day of week “{item}”: the number after # is which one in the month, 1–5."
                    )),
                };
            }
            if let Some(day) = upper.strip_suffix('L').filter(|d| !d.is_empty()) {
                return self.value(day, false).map(|_| ());
            }
        }
        let modifier = upper.contains('#')
            || matches!(upper.as_str(), "L" | "W" | "LW")
            || (upper.contains(['L', 'W']) && upper.bytes().any(|b| b.is_ascii_digit()));
        if modifier {
            return Err(format!(
                "{} “{item}”: L, W and # belong in the day fields only (like L for the last day \
                 of the month, or 5#2 for the second Friday).",
                self.name
            ));
        }
        self.range(item)
    }

    fn check(&self, field: &str) -> Result<(), String> {
        // croner's `+` before the day of week: both day fields must match.
        let field = if self.is(&DAY_OF_WEEK) { field.strip_prefix('+').unwrap_or(field) } else { field };
        field.split(',').try_for_each(|item| self.item(item))
    }
}

/// Checks each field of a 5- or 6-field crontab line, naming the first that is wrong.
fn check_cron_fields(text: &str) -> Result<(), String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let kinds: &[Field] = match fields.len() {
        5 => &[MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK],
        6 => &[SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK],
        _ => return Ok(()),
    };
    kinds.iter().zip(fields).try_for_each(|(kind, field)| kind.check(field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::{America, Australia, Europe, Pacific};

    #[test]
    fn kinds_read_back_their_form_values() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_form(kind.form_value()), Some(kind));
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::from_form("every"), Some(Kind::Interval));
        assert_eq!(Kind::from_form("interval"), None);
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn fmt(t: DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// The next `n` firings of `cron` in `tz` strictly after `from`, as UTC strings.
    fn cron_next(cron: &str, tz: Tz, from: &str, n: usize) -> Vec<String> {
        let spec = Spec::Cron(Box::new(CronExpr::parse(cron).unwrap()));
        spec.preview(utc(from), tz, utc(from), n).into_iter().map(fmt).collect()
    }

    #[test]
    fn crontab_fields_and_names() {
        let cases: &[(&str, Tz, &str, &[&str])] = &[
            // Weekdays 1-5 are Monday to Friday (Quartz would make them Sunday to Thursday).
            (
                "0 9 * * 1-5",
                Tz::UTC,
                "2026-11-20T10:00:00Z",
                &["2026-11-23T09:00:00Z", "2026-11-24T09:00:00Z"],
            ),
            // 0 and 7 are both Sunday.
            ("0 9 * * 0", Tz::UTC, "2026-11-20T00:00:00Z", &["2026-11-22T09:00:00Z", "2026-11-29T09:00:00Z"]),
            ("0 9 * * 7", Tz::UTC, "2026-11-20T00:00:00Z", &["2026-11-22T09:00:00Z", "2026-11-29T09:00:00Z"]),
            ("0 9 * * sun", Tz::UTC, "2026-11-20T00:00:00Z", &["2026-11-22T09:00:00Z"]),
            // Ranges, lists and steps.
            (
                "*/20 8-9 * * *",
                Tz::UTC,
                "2026-11-20T08:30:00Z",
                &["2026-11-20T08:40:00Z", "2026-11-20T09:00:00Z"],
            ),
            (
                "15,45 * * * *",
                Tz::UTC,
                "2026-11-20T08:30:00Z",
                &["2026-11-20T08:45:00Z", "2026-11-20T09:15:00Z"],
            ),
            (
                "0 0 1 jan,jul *",
                Tz::UTC,
                "2026-11-20T00:00:00Z",
                &["2027-01-01T00:00:00Z", "2027-07-01T00:00:00Z"],
            ),
            // Both day fields restricted: either matches, as in crontab.
            (
                "0 12 13 * 5",
                Tz::UTC,
                "2026-11-10T00:00:00Z",
                &[
                    "2026-11-13T12:00:00Z",
                    "2026-11-20T12:00:00Z",
                    "2026-11-27T12:00:00Z",
                    "2026-12-04T12:00:00Z",
                ],
            ),
            // The 31st: only months that have one.
            (
                "0 0 31 * *",
                Tz::UTC,
                "2026-11-01T00:00:00Z",
                &["2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z", "2027-03-31T00:00:00Z"],
            ),
            // L: the last day of each month, leap February included.
            (
                "0 18 L * *",
                Tz::UTC,
                "2028-01-31T19:00:00Z",
                &["2028-02-29T18:00:00Z", "2028-03-31T18:00:00Z", "2028-04-30T18:00:00Z"],
            ),
            // Feb 29 only in leap years.
            (
                "0 0 29 2 *",
                Tz::UTC,
                "2026-11-20T00:00:00Z",
                &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
            ),
            // Nicknames.
            ("@daily", Tz::UTC, "2026-11-20T10:00:00Z", &["2026-11-21T00:00:00Z"]),
            ("@hourly", Tz::UTC, "2026-11-20T10:00:00Z", &["2026-11-20T11:00:00Z"]),
            ("@weekly", Tz::UTC, "2026-11-20T10:00:00Z", &["2026-11-22T00:00:00Z"]),
            ("@monthly", Tz::UTC, "2026-11-20T10:00:00Z", &["2026-12-01T00:00:00Z"]),
            ("@yearly", Tz::UTC, "2026-11-20T10:00:00Z", &["2027-01-01T00:00:00Z"]),
            // An optional leading seconds field.
            (
                "*/30 * * * * *",
                Tz::UTC,
                "2026-11-20T10:00:10Z",
                &["2026-11-20T10:00:30Z", "2026-11-20T10:01:00Z"],
            ),
            // Evaluated in the schedule's zone.
            ("0 9 * * *", Europe::Madrid, "2026-11-20T10:00:00Z", &["2026-11-21T08:00:00Z"]),
            ("0 9 * * *", America::New_York, "2026-07-01T00:00:00Z", &["2026-07-01T13:00:00Z"]),
        ];
        for (cron, tz, from, want) in cases {
            assert_eq!(cron_next(cron, *tz, from, want.len()), *want, "{cron} in {tz} after {from}");
        }
    }

    #[test]
    fn dst_gaps_fire_once_just_after_and_overlaps_fire_once_first() {
        let cases: &[(&str, Tz, &str, &[&str])] = &[
            // Berlin, 2027-03-28: 02:00 -> 03:00. 02:30 does not exist: fire at 03:00 CEST.
            (
                "30 2 * * *",
                Europe::Berlin,
                "2027-03-27T12:00:00Z",
                &["2027-03-28T01:00:00Z", "2027-03-29T00:30:00Z"],
            ),
            // Berlin, 2026-10-25: 03:00 -> 02:00. 02:30 happens twice: fire at the first only.
            (
                "30 2 * * *",
                Europe::Berlin,
                "2026-10-24T12:00:00Z",
                &["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
            ),
            // New York, 2027-03-14: 02:00 -> 03:00.
            (
                "30 2 * * *",
                America::New_York,
                "2027-03-13T12:00:00Z",
                &["2027-03-14T07:00:00Z", "2027-03-15T06:30:00Z"],
            ),
            // New York, 2026-11-01: 02:00 -> 01:00; 01:30 twice.
            (
                "30 1 * * *",
                America::New_York,
                "2026-10-31T12:00:00Z",
                &["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
            ),
            // Lord Howe shifts by 30 minutes. 2026-10-04: 02:00 -> 02:30 (+10:30 -> +11).
            (
                "15 2 * * *",
                Australia::Lord_Howe,
                "2026-10-03T00:00:00Z",
                &["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"],
            ),
            // 2027-04-04: 02:00 -> 01:30 (+11 -> +10:30); 01:45 happens twice.
            (
                "45 1 * * *",
                Australia::Lord_Howe,
                "2027-04-03T00:00:00Z",
                &["2027-04-03T14:45:00Z", "2027-04-04T15:15:00Z"],
            ),
            // Chatham, 2026-09-27: 02:45 -> 03:45 (+12:45 -> +13:45).
            (
                "0 3 * * *",
                Pacific::Chatham,
                "2026-09-26T00:00:00Z",
                &["2026-09-26T14:00:00Z", "2027-09-26T14:00:00Z"][..1],
            ),
        ];
        for (cron, tz, from, want) in cases {
            assert_eq!(cron_next(cron, *tz, from, want.len()), *want, "{cron} in {tz} after {from}");
        }
    }

    #[test]
    fn chatham_gap() {
        // 2026-09-27 02:45 +12:45 -> 03:45 +13:45: 03:00 does not exist that day, so it fires at
        // 03:45 local, which is 2026-09-26T14:00Z, the first instant after the gap.
        let got = cron_next("0 3 * * *", Pacific::Chatham, "2026-09-25T12:00:00Z", 3);
        assert_eq!(got, ["2026-09-25T14:15:00Z", "2026-09-26T14:00:00Z", "2026-09-27T13:15:00Z"]);
    }

    #[test]
    fn intervals_are_elapsed_time_across_dst() {
        let anchor = utc("2026-10-24T23:00:00Z"); // 01:00 CEST, the night Berlin falls back.
        let spec = Spec::Interval(Period::parse("1h").unwrap());
        let got: Vec<String> = spec.preview(anchor, Europe::Berlin, anchor, 4).into_iter().map(fmt).collect();
        assert_eq!(
            got,
            ["2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"]
        );
        // Counting from the anchor, not from "now": a late look still lands on the grid.
        let every = Spec::Interval(Period::parse("5m").unwrap());
        let next = every.next_after(utc("2026-11-20T10:07:30Z"), Tz::UTC, utc("2026-11-20T10:00:00Z"));
        assert_eq!(next.map(fmt).as_deref(), Some("2026-11-20T10:10:00Z"));
        // Exactly on a grid point: strictly after.
        let next = every.next_after(utc("2026-11-20T10:10:00Z"), Tz::UTC, utc("2026-11-20T10:00:00Z"));
        assert_eq!(next.map(fmt).as_deref(), Some("2026-11-20T10:15:00Z"));
    }

    #[test]
    fn periods_parse_and_print() {
        for (text, seconds, canonical) in [
            ("30s", 30, "30s"),
            ("5m", 300, "5m"),
            ("1h30m", 5400, "1h30m"),
            ("1h 30m", 5400, "1h30m"),
            ("90m", 5400, "1h30m"),
            ("2d", 172_800, "2d"),
            ("1w", 604_800, "7d"),
            ("2H", 7200, "2h"),
        ] {
            let p = Period::parse(text).unwrap();
            assert_eq!((p.seconds, p.to_string().as_str()), (seconds, canonical), "{text}");
        }
        for (text, why) in [
            ("", "empty"),
            ("5", "without a unit"),
            ("m", "without a number"),
            ("5x", "not a unit"),
            ("0m", "zero"),
            ("99999999999999999999s", "too long"),
            ("999999999d", "100 years"),
            ("-5m", "not a unit"),
        ] {
            let err = Period::parse(text).unwrap_err().to_string();
            assert!(err.starts_with("every:") && err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn bad_cron_says_which_field_and_why_in_words() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("", "Give a cron expression: 5 fields like “0 9 * * 1-5”, or a name like @daily."),
            ("* * * *", "“* * * *” has 4 fields; cron uses 5 (minute hour day-of-month month day-of-week), or 6 with seconds first."),
            ("* * * * * * *", "“* * * * * * *” has 7 fields; cron uses 5 (minute hour day-of-month month day-of-week), or 6 with seconds first."),
            ("61 25 * * *", "Minute 61 is out of range 0–59."),
            ("60 * * * *", "Minute 60 is out of range 0–59."),
            ("* 24 * * *", "Hour 24 is out of range 0–23."),
            ("0 9 0 * *", "Day of month 0 is out of range 1–31."),
            ("0 9 32 * *", "Day of month 32 is out of range 1–31."),
            ("0 9 * 13 *", "Month 13 is out of range 1–12 (or jan–dec)."),
            ("* * * * 8", "Day of week 8 is out of range 0–7 (0 and 7 are Sunday; or sun–sat)."),
            ("60 * * * * *", "Second 60 is out of range 0–59."),
            ("0 9-25 * * *", "Hour 25 is out of range 0–23."),
            ("0 22-2 * * *", "Hour range 22-2 runs backwards; write the smaller value first, or split it (like 22-23,0-2)."),
            ("*/0 * * * *", "Minute step “/0” never moves; give a step of 1 or more."),
            ("*/x * * * *", "Minute step “/x” is not a whole number, like */15."),
            ("5/15 * * * *", "Minute “5/15”: a step needs * or a range before it, like */15 or 5-59/15."),
            ("0 0 * foo *", "Month “foo” is not a number 1–12 (or jan–dec)."),
            ("0 0 * * funday", "Day of week “funday” is not a number 0–7 (0 and 7 are Sunday; or sun–sat)."),
            ("0 0 * mon *", "Month “mon” is not a number 1–12 (or jan–dec)."),
            ("a b c d e", "Minute “a” is not a number 0–59."),
            ("0 9 * * 5#6", "Day of week “5#6”: the number after # is which one in the month, 1–5."),
            ("0 L * * *", "Hour “L”: L, W and # belong in the day fields only (like L for the last day of the month, or 5#2 for the second Friday)."),
            ("0 9 1-2-3 * *", "Day of month “1-2-3” has more than one “-”; a range is like 1-5."),
            ("0 0 30 2 *", "“0 0 30 2 *” never matches any date."),
            ("@fortnightly", "“@fortnightly” is not a cron name; use @hourly, @daily, @weekly, @monthly or @yearly."),
        ];
        for (text, want) in cases {
            match CronExpr::parse(text) {
                Err(AppError::Invalid { field, message }) => {
                    assert_eq!((field.as_str(), message.as_str()), ("cron", *want), "{text:?}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        // Names, ranges of names, steps over ranges, L, W and # still read.
        for ok in [
            "0 9 * * mon-fri",
            "0 9 * * MON-SUN",
            "0 0 1 jan,jul *",
            "0 0 1 jan-mar *",
            "0-30/10 9-17 * * 1-5",
            "0 18 L * *",
            "0 9 LW * *",
            "0 9 15W * *",
            "0 9 * * 5L",
            "0 9 * * 5#2",
            "0 9 ? * 1",
            "0 9 * * +1",
            "@Daily",
        ] {
            assert!(CronExpr::parse(ok).is_ok(), "{ok}: {:?}", CronExpr::parse(ok).err());
        }
    }

    /// What the timing box makes of a phrase at `now`: the kind, the stored text, and the
    /// first two firings in UTC.
    fn phrase(text: &str, now: DateTime<Tz>) -> (&'static str, String, Vec<String>) {
        let spec = Spec::from_phrase(text, now).unwrap_or_else(|e| panic!("{text}: {e}"));
        let from = now.with_timezone(&Utc);
        let times = spec.preview(from, now.timezone(), from, 2).into_iter().map(fmt).collect();
        (spec.kind().as_str(), spec.to_stored(), times)
    }

    #[test]
    fn phrases_become_cron_intervals_or_one_time() {
        // A fixed clock: Friday 2026-11-20 10:00 in Madrid (+01:00).
        let madrid = Europe::Madrid.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str, &[&str])] = &[
            // Calendar repeats (the quick-add grammar) become cron in the schedule's zone.
            ("every weekday at 9:00", "cron", "0 9 * * 1-5", &["2026-11-23T08:00:00Z", "2026-11-24T08:00:00Z"]),
            ("Every Weekday at 9am", "cron", "0 9 * * 1-5", &["2026-11-23T08:00:00Z", "2026-11-24T08:00:00Z"]),
            ("every day at 7:30", "cron", "30 7 * * *", &["2026-11-21T06:30:00Z", "2026-11-22T06:30:00Z"]),
            ("every day at 18", "cron", "0 18 * * *", &["2026-11-20T17:00:00Z", "2026-11-21T17:00:00Z"]),
            ("every monday at 9am", "cron", "0 9 * * 1", &["2026-11-23T08:00:00Z", "2026-11-30T08:00:00Z"]),
            ("every fri at 17:30", "cron", "30 17 * * 5", &["2026-11-20T16:30:00Z", "2026-11-27T16:30:00Z"]),
            ("every week at 8", "cron", "0 8 * * 5", &["2026-11-27T07:00:00Z", "2026-12-04T07:00:00Z"]),
            ("every month on the 1st at 8", "cron", "0 8 1 * *", &["2026-12-01T07:00:00Z", "2027-01-01T07:00:00Z"]),
            ("every month on 15 at 12:00", "cron", "0 12 15 * *", &["2026-12-15T11:00:00Z", "2027-01-15T11:00:00Z"]),
            ("every 3 months on the 1st at 8", "cron", "0 8 1 3,6,9,12 *", &["2026-12-01T07:00:00Z", "2027-03-01T07:00:00Z"]),
            ("every year at 9", "cron", "0 9 20 11 *", &["2027-11-20T08:00:00Z", "2028-11-20T08:00:00Z"]),
            // Elapsed periods become intervals, counted from now.
            ("every 2 hours", "interval", "2h", &["2026-11-20T11:00:00Z", "2026-11-20T13:00:00Z"]),
            ("every hour", "interval", "1h", &["2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"]),
            ("every 30 min", "interval", "30m", &["2026-11-20T09:30:00Z", "2026-11-20T10:00:00Z"]),
            ("every 1h30m", "interval", "1h30m", &["2026-11-20T10:30:00Z", "2026-11-20T12:00:00Z"]),
            ("every 2 days", "interval", "2d", &["2026-11-22T09:00:00Z", "2026-11-24T09:00:00Z"]),
            ("1h30m", "interval", "1h30m", &["2026-11-20T10:30:00Z", "2026-11-20T12:00:00Z"]),
            ("45 minutes", "interval", "45m", &["2026-11-20T09:45:00Z", "2026-11-20T10:30:00Z"]),
            // One time.
            ("tomorrow 9am", "once", "2026-11-21T08:00:00Z", &["2026-11-21T08:00:00Z"]),
            ("in 20m", "once", "2026-11-20T09:20:00Z", &["2026-11-20T09:20:00Z"]),
            ("mon 17:30", "once", "2026-11-23T16:30:00Z", &["2026-11-23T16:30:00Z"]),
            ("2026-12-24 18:00", "once", "2026-12-24T17:00:00Z", &["2026-12-24T17:00:00Z"]),
            // Raw cron and names still read as cron.
            ("0 9 * * 1-5", "cron", "0 9 * * 1-5", &["2026-11-23T08:00:00Z", "2026-11-24T08:00:00Z"]),
            ("0 9 1 1 *", "cron", "0 9 1 1 *", &["2027-01-01T08:00:00Z", "2028-01-01T08:00:00Z"]),
            ("0 9 * * mon-fri", "cron", "0 9 * * mon-fri", &["2026-11-23T08:00:00Z", "2026-11-24T08:00:00Z"]),
            ("@daily", "cron", "@daily", &["2026-11-20T23:00:00Z", "2026-11-21T23:00:00Z"]),
        ];
        for (text, kind, stored, first) in cases {
            let got = phrase(text, madrid);
            assert_eq!((got.0, got.1.as_str()), (*kind, *stored), "{text}");
            assert_eq!(got.2, *first, "{text}");
        }
    }

    #[test]
    fn phrases_across_dst_changes() {
        // New York springs forward on 2027-03-14 (02:00 -> 03:00): 2:30 that night does not
        // exist, so the cron fires at 03:00 EDT, then at 02:30 again.
        let ny = America::New_York.with_ymd_and_hms(2027, 3, 13, 12, 0, 0).unwrap();
        assert_eq!(
            phrase("every day at 2:30", ny),
            ("cron", "30 2 * * *".into(), vec!["2027-03-14T07:00:00Z".into(), "2027-03-15T06:30:00Z".into()])
        );
        // Berlin falls back on 2026-10-25 (03:00 -> 02:00): 02:30 happens twice, fires once.
        let berlin = Europe::Berlin.with_ymd_and_hms(2026, 10, 24, 12, 0, 0).unwrap();
        assert_eq!(
            phrase("every day at 2:30", berlin),
            ("cron", "30 2 * * *".into(), vec!["2026-10-25T00:30:00Z".into(), "2026-10-26T01:30:00Z".into()])
        );
        // A wall-clock weekday rule keeps 09:00 local across the change.
        assert_eq!(
            phrase("every weekday at 9:00", berlin).2,
            ["2026-10-26T08:00:00Z", "2026-10-27T08:00:00Z"],
            "09:00 CET after the change, not 09:00 CEST"
        );
        // An interval is elapsed time: DST does not move it.
        let night = Europe::Berlin.with_ymd_and_hms(2026, 10, 25, 1, 0, 0).unwrap();
        assert_eq!(
            phrase("every 1 hour", night).2,
            ["2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z"],
            "one hour apart in UTC across the fall back"
        );
        // One time the day before Berlin springs forward (2027-03-28): 09:00 CEST.
        let before = Europe::Berlin.with_ymd_and_hms(2027, 3, 27, 12, 0, 0).unwrap();
        assert_eq!(phrase("tomorrow 9am", before).1, "2027-03-28T07:00:00Z");
        // Lord Howe's half-hour shift: 2026-10-04 02:00 -> 02:30; 02:15 moves to 02:30.
        let lh = Australia::Lord_Howe.with_ymd_and_hms(2026, 10, 3, 12, 0, 0).unwrap();
        assert_eq!(phrase("every day at 2:15", lh).2, ["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"]);
    }

    #[test]
    fn phrases_that_cannot_be_read_say_why() {
        let madrid = Europe::Madrid.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("", "Say when it should fire, like “every weekday at 9:00”, “every 2 hours” or “tomorrow 9am”."),
            ("someday", "“someday” is not a timing I understand. Try “every weekday at 9:00”, “every 2 hours”, “every month on the 1st at 8”, “tomorrow 9am”, “in 20m”, or cron like “0 9 * * 1-5”."),
            ("every weekday", "“every weekday” needs a time of day, like “every weekday at 9:00”."),
            ("every day", "“every day” needs a time of day, like “every day at 9:00”."),
            ("every 2 days at 9", "“every 2 days at 9” is not a calendar rule cron can follow. Give an interval counted from when the schedule is saved (like “every 2 days”), or write a cron expression."),
            ("every weekday at 9 please", "“please” is not part of the timing; I read “every weekday at 9” before it."),
            ("every 0 days", "“every 0 days”: the interval must be at least 1."),
            ("every banana", "“every banana” is not a timing I understand. Try “every weekday at 9:00”, “every 2 hours”, “every month on the 1st at 8”, “tomorrow 9am”, “in 20m”, or cron like “0 9 * * 1-5”."),
            ("61 25 * * *", "Minute 61 is out of range 0–59."),
            ("* * * *", "“* * * *” has 4 fields; cron uses 5 (minute hour day-of-month month day-of-week), or 6 with seconds first."),
        ];
        for (text, want) in cases {
            match Spec::from_phrase(text, madrid) {
                Err(AppError::Invalid { field, message }) => {
                    assert_eq!((field.as_str(), message.as_str()), ("when", *want), "{text:?}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        // Dates the grammar refuses keep their reason.
        for (text, why) in [("feb 30 9am", "February has no day 30"), ("today 9am", "in the past")] {
            let err = Spec::from_phrase(text, madrid).unwrap_err().to_string();
            assert!(err.starts_with("when:") && err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn empty_list_items_are_refused_quickly() {
        // Found by the fuzzer: croner took minutes to give up on these (refused before it runs).
        for text in ["*/15 , * * * *", "0 1,,2 * * *", "0 9 * * 1,", ", * * * *"] {
            let err = CronExpr::parse(text).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("empty item"), "{text}: {err}");
        }
    }

    #[test]
    fn once_reuses_the_quick_add_grammar() {
        let now = Europe::Madrid.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap(); // a Friday
        for (text, want) in [
            ("tomorrow 9am", "2026-11-21T08:00:00Z"),
            ("in 20m", "2026-11-20T09:20:00Z"),
            ("in 90s", "2026-11-20T09:01:30Z"),
            ("in 1h30m", "2026-11-20T10:30:00Z"),
            ("mon 17:30", "2026-11-23T16:30:00Z"),
            ("2026-12-24T18:00:00Z", "2026-12-24T18:00:00Z"),
            ("2026-12-24T18:00:00.250+01:00", "2026-12-24T17:00:00Z"),
            ("2026-12-24 18:00", "2026-12-24T17:00:00Z"),
        ] {
            let Spec::Once(at) = Spec::parse(Kind::Once, text, now).unwrap() else { panic!() };
            assert_eq!(fmt(at), want, "{text}");
        }
        for (text, why) in [
            ("today 9am", "in the past"),
            ("2026-11-20T08:59:59Z", "in the past"),
            ("2026-12-24", "without a time"),
            ("someday", "not a date"),
        ] {
            let err = Spec::parse(Kind::Once, text, now).unwrap_err().to_string();
            assert!(err.starts_with("at:") && err.contains(why), "{text}: {err}");
        }
        // Once fires once.
        let spec = Spec::parse(Kind::Once, "in 20m", now).unwrap();
        assert_eq!(spec.preview(now.with_timezone(&Utc), Tz::UTC, now.with_timezone(&Utc), 5).len(), 1);
    }

    #[test]
    fn stored_form_round_trips() {
        let now = Tz::UTC.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
        for (kind, text) in
            [(Kind::Once, "tomorrow 9am"), (Kind::Cron, "0  9 * * 1-5"), (Kind::Interval, "90m")]
        {
            let spec = Spec::parse(kind, text, now).unwrap();
            let back = Spec::from_stored(kind.as_str(), &spec.to_stored()).unwrap();
            assert_eq!(back.to_stored(), spec.to_stored());
        }
        // A `once` keeps its milliseconds (the scheduler's precision); anything finer rounds up
        // to the next millisecond, never down: rounded down it would fire before its instant.
        for (given, stored) in [
            ("2026-12-24T18:00:00.250Z", "2026-12-24T18:00:00.250Z"),
            ("2026-12-24T18:00:00.250000Z", "2026-12-24T18:00:00.250Z"),
            ("2026-12-24T18:00:00.250789Z", "2026-12-24T18:00:00.251Z"),
            ("2026-12-24T18:00:00.249000001Z", "2026-12-24T18:00:00.250Z"),
            ("2026-12-24T23:59:59.9996+01:00", "2026-12-24T23:00:00Z"),
        ] {
            let spec = Spec::parse(Kind::Once, given, now).unwrap();
            assert_eq!(spec.to_stored(), stored, "{given}");
        }
        let spec = Spec::parse(Kind::Once, "2026-12-24T18:00:00.249789Z", now).unwrap();
        let back = Spec::from_stored("once", &spec.to_stored()).unwrap();
        assert_eq!(
            back.next_after(now.with_timezone(&Utc), Tz::UTC, now.with_timezone(&Utc)),
            Some(Utc.with_ymd_and_hms(2026, 12, 24, 18, 0, 0).unwrap() + Duration::milliseconds(250))
        );
        // `in …` counts from a `now` with any precision: rounded up too.
        let fine = now + Duration::microseconds(1_500);
        let spec = Spec::parse(Kind::Once, "in 90s", fine).unwrap();
        assert_eq!(spec.to_stored(), "2026-11-20T10:01:30.002Z");
    }

    #[test]
    fn descriptions_read_as_words() {
        let now = Tz::UTC.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
        let d = |kind, text| Spec::parse(kind, text, now).unwrap().describe(Europe::Madrid);
        assert_eq!(d(Kind::Cron, "0 9 * * 1-5"), "Every weekday at 09:00, Europe/Madrid");
        assert_eq!(d(Kind::Cron, "30 7 * * *"), "Every day at 07:30, Europe/Madrid");
        assert_eq!(d(Kind::Cron, "0 18 * * 5"), "Every Friday at 18:00, Europe/Madrid");
        assert_eq!(d(Kind::Cron, "@hourly"), "Every hour, on the hour, Europe/Madrid");
        assert_eq!(d(Kind::Interval, "1h30m"), "Every 1 hour 30 minutes");
        assert_eq!(d(Kind::Interval, "5m"), "Every 5 minutes");
        assert_eq!(d(Kind::Interval, "1d"), "Every day");
        assert_eq!(d(Kind::Interval, "1h"), "Every hour");
        assert_eq!(d(Kind::Once, "2026-12-24T18:00:00Z"), "Once, Thu 24 Dec 2026 at 19:00, CET");
        assert!(d(Kind::Cron, "0 0 L * *").len() > 10);
        assert_eq!(d(Kind::Cron, "0 8 1 * *"), "On the 1st of every month at 08:00, Europe/Madrid");
        assert_eq!(d(Kind::Cron, "0 9 24 12 *"), "Every 24 December at 09:00, Europe/Madrid");
        assert_eq!(
            d(Kind::Cron, "0 8 1 3,6,9,12 *"),
            "On the 1st of March, June, September and December at 08:00, Europe/Madrid"
        );
        assert_eq!(d(Kind::Cron, "*/15 * * * *"), "Every 15 minutes, Europe/Madrid");
        assert_eq!(d(Kind::Cron, "0 */2 * * *"), "Every 2 hours, on the hour, Europe/Madrid");
    }

    #[test]
    fn shortest_gap_finds_the_tightest_cron_spacing() {
        let from = utc("2026-11-20T00:00:00Z");
        let gap =
            |text: &str| Spec::Cron(Box::new(CronExpr::parse(text).unwrap())).shortest_gap(Tz::UTC, from);
        assert_eq!(gap("* * * * *"), Some(Duration::minutes(1)));
        assert_eq!(gap("*/10 * * * * *"), Some(Duration::seconds(10)));
        assert_eq!(gap("0,5 9 * * *"), Some(Duration::minutes(5)));
    }
}
