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

impl CronExpr {
    pub fn parse(text: &str) -> Result<CronExpr, AppError> {
        let trimmed = text.trim();
        let bad = |why: String| AppError::invalid("cron", format!("{trimmed:?} {why}"));
        if trimmed.is_empty() {
            return Err(bad("is empty; give 5 fields like \"0 9 * * 1-5\" or a name like @daily".into()));
        }
        let fields = trimmed.split_whitespace().count();
        if !trimmed.starts_with('@') && !(5..=6).contains(&fields) {
            return Err(bad(format!(
                "has {fields} fields; crontab uses 5 (minute hour day-of-month month day-of-week), \
                 or 6 with seconds first"
            )));
        }
        // An empty list item (`1,,2`, a lone `,`) matches nothing in croner, which then walks
        // the calendar for thousands of years looking for a match: refuse it here.
        if let Some(field) = trimmed.split_whitespace().find(|f| f.split(',').any(str::is_empty)) {
            return Err(bad(format!("has an empty item in the list {field:?}")));
        }
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(trimmed).map_err(|e| bad(format!("is not a valid cron expression: {e}")))?;
        let expr = CronExpr { text: trimmed.split_whitespace().collect::<Vec<_>>().join(" "), cron };
        // Patterns like `0 0 30 2 *` parse but never match: refuse them instead of never firing.
        // The calendar repeats every 400 years, so whether a pattern ever matches does not
        // depend on where the search starts: start at a fixed instant.
        let probe = DateTime::<Utc>::UNIX_EPOCH.with_timezone(&Tz::UTC);
        if expr.cron.find_next_occurrence(&probe, false).is_err() {
            return Err(bad("never matches any date".into()));
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
        return Ok(chrono::SubsecRound::trunc_subsecs(now.with_timezone(&Utc) + p.duration(), 3));
    }
    let when = match DateTime::parse_from_rfc3339(text.trim()) {
        // RFC 3339 with any precision (the quick-add grammar reads whole seconds at most).
        Ok(t) => When::At(t.with_timezone(&now.timezone())),
        Err(_) => dates::parse_when(text, now).map_err(|e| AppError::invalid("at", e.to_string()))?,
    };
    let at = match when {
        // Milliseconds: the precision the scheduler keeps.
        When::At(t) => chrono::SubsecRound::trunc_subsecs(t.with_timezone(&Utc), 3),
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
    let mut words = c.describe();
    if let Some(first) = words.get(..1) {
        words = first.to_uppercase() + words.get(1..).unwrap_or_default();
    }
    words.trim_end_matches('.').to_string()
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
    fn bad_cron_says_why() {
        for (text, why) in [
            ("", "empty"),
            ("* * * *", "4 fields"),
            ("* * * * * * *", "7 fields"),
            ("60 * * * *", "not a valid cron"),
            ("* 24 * * *", "not a valid cron"),
            ("* * * * 8", "not a valid cron"),
            ("0 0 30 2 *", "never matches"),
            ("@fortnightly", "not a valid cron"),
            ("a b c d e", "not a valid cron"),
        ] {
            let err = CronExpr::parse(text).unwrap_err().to_string();
            assert!(err.starts_with("cron:") && err.contains(why), "{text:?}: {err}");
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
        // A `once` keeps its milliseconds (the scheduler's precision), and nothing finer.
        let spec = Spec::parse(Kind::Once, "2026-12-24T18:00:00.250789Z", now).unwrap();
        assert_eq!(spec.to_stored(), "2026-12-24T18:00:00.250Z");
        let back = Spec::from_stored("once", &spec.to_stored()).unwrap();
        assert_eq!(
            back.next_after(now.with_timezone(&Utc), Tz::UTC, now.with_timezone(&Utc)),
            Some(Utc.with_ymd_and_hms(2026, 12, 24, 18, 0, 0).unwrap() + Duration::milliseconds(250))
        );
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
