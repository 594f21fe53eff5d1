//! Recurring tasks: the todo.txt `rec:` tag and the next occurrence.
//!
//! Rules (as Simpletask and topydo define them):
//! - `rec:+1w` is strict: the next due date is the old due date + the period
//!   (the completion date when there is no due date).
//! - `rec:1w` (no plus) repeats from completion: completion date + period.
//! - Units: `d` days, `b` business days (Sat/Sun skipped), `w` weeks, `m`
//!   months, `y` years; months and years clamp to the month end
//!   (Jan 31 + 1m = Feb 28/29). Counts are 1..=1000.
//! - A date-time due keeps its local wall time in the user's zone on the new
//!   date (09:00 stays 09:00 across a DST change); `t:` moves by as many days
//!   as `due:` did.

use std::fmt;

use chrono::{Datelike, NaiveDate, TimeDelta};
use chrono_tz::Tz;

pub use crate::dates::Unit;
use crate::dates::{MAX_EVERY, ParseError, add_period, parse_iso_date, resolve_local};
use crate::tasks::todotxt::{Due, TodoLine, parse_body, set_tag};

/// A parsed `rec:` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurrence {
    pub every: u32,
    pub unit: Unit,
    /// `+` prefix: from the old due date rather than from completion.
    pub strict: bool,
}

impl Recurrence {
    /// `1w`, `+2m`, `3d`, `1b`, `1y`. Errors name the token as `rec:<value>`.
    pub fn parse(value: &str) -> Result<Recurrence, ParseError> {
        let err = |m: String| ParseError::new(format!("rec:{value}"), m);
        let (strict, rest) = match value.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, value),
        };
        let mut chars = rest.chars();
        let unit = match chars.next_back() {
            Some('d' | 'D') => Unit::Day,
            Some('b' | 'B') => Unit::BusinessDay,
            Some('w' | 'W') => Unit::Week,
            Some('m' | 'M') => Unit::Month,
            Some('y' | 'Y') => Unit::Year,
            _ => {
                return Err(err("is not a repeat (use e.g. 1w, +2m; units d, b, w, m, y)".to_string()));
            }
        };
        let digits = chars.as_str();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("is not a repeat (use e.g. 1w, +2m; units d, b, w, m, y)".to_string()));
        }
        let every = digits.parse::<u64>().unwrap_or(u64::MAX);
        if every == 0 {
            return Err(err("the interval must be at least 1".to_string()));
        }
        let every = u32::try_from(every)
            .ok()
            .filter(|n| *n <= MAX_EVERY)
            .ok_or_else(|| err(format!("the interval can be at most {MAX_EVERY}")))?;
        Ok(Recurrence { every, unit, strict })
    }

    /// `from` + the period, `None` outside chrono's range.
    pub fn advance(&self, from: NaiveDate) -> Option<NaiveDate> {
        add_period(from, self.every, self.unit)
    }
}

impl fmt::Display for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plus = if self.strict { "+" } else { "" };
        write!(f, "{plus}{}{}", self.every, self.unit.letter())
    }
}

/// For a line with a valid `rec:`, the new open line that follows completing
/// it on `completed_on`: same priority, `due:` moved, `t:` shifted by the same
/// number of days, created = `completed_on`. `None` without a valid `rec:`.
///
/// Without a valid `due:`, a `t:` alone is moved like a due date; with
/// neither, a `due:` is added (`completed_on` + the period).
pub fn next_occurrence(line: &TodoLine, completed_on: NaiveDate, tz: Tz) -> Option<TodoLine> {
    let parts = parse_body(&line.body);
    let rec = Recurrence::parse(parts.tag("rec")?).ok()?;
    let due = parts.tag("due").and_then(|v| Due::parse(v, tz).ok());
    let threshold = parts.tag("t").and_then(|v| parse_iso_date(v).ok().flatten());
    let anchor = |old: Option<NaiveDate>| match old {
        Some(d) if rec.strict => d,
        _ => completed_on,
    };
    let mut body = line.body.clone();
    match (due, threshold) {
        (Some(due), _) => {
            let old_date = due.date_in(tz);
            let new_date = rec.advance(anchor(Some(old_date)))?;
            let new_due = match due {
                Due::Date(_) => Due::Date(new_date),
                Due::At(t) => {
                    let wall = t.with_timezone(&tz).time();
                    Due::At(resolve_local(tz, new_date.and_time(wall)).fixed_offset())
                }
            };
            body = set_tag(&body, "due", Some(&new_due.to_value()));
            if let Some(t) = threshold {
                // A threshold pushed out of the years a date can be written in (a typo'd
                // far-future due) means nothing any more: it is dropped.
                let shifted = t
                    .checked_add_signed(TimeDelta::days(new_date.signed_duration_since(old_date).num_days()))
                    .filter(|d| (0..=crate::dates::MAX_YEAR).contains(&d.year()));
                body = set_tag(&body, "t", shifted.map(|d| d.format("%Y-%m-%d").to_string()).as_deref());
            }
        }
        (None, Some(t)) => {
            let new_t = rec.advance(anchor(Some(t)))?;
            body = set_tag(&body, "t", Some(&new_t.format("%Y-%m-%d").to_string()));
        }
        (None, None) => {
            let new_due = rec.advance(completed_on)?;
            body = set_tag(&body, "due", Some(&new_due.format("%Y-%m-%d").to_string()));
        }
    }
    Some(TodoLine {
        done: false,
        completed: None,
        priority: line.priority,
        created: Some(completed_on),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Berlin;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn parse_and_display() {
        #[rustfmt::skip]
        let cases: &[(&str, u32, Unit, bool, &str)] = &[
            ("1w", 1, Unit::Week, false, "1w"),
            ("+2m", 2, Unit::Month, true, "+2m"),
            ("3d", 3, Unit::Day, false, "3d"),
            ("1b", 1, Unit::BusinessDay, false, "1b"),
            ("+1b", 1, Unit::BusinessDay, true, "+1b"),
            ("1y", 1, Unit::Year, false, "1y"),
            ("+10y", 10, Unit::Year, true, "+10y"),
            ("1000d", 1000, Unit::Day, false, "1000d"),
            ("01w", 1, Unit::Week, false, "1w"),
            ("2W", 2, Unit::Week, false, "2w"),
        ];
        for (value, every, unit, strict, shown) in cases {
            let r = Recurrence::parse(value).unwrap();
            assert_eq!((r.every, r.unit, r.strict), (*every, *unit, *strict), "{value}");
            assert_eq!(r.to_string(), *shown, "{value}");
        }
        const SHAPE: &str = "is not a repeat (use e.g. 1w, +2m; units d, b, w, m, y)";
        #[rustfmt::skip]
        let errors: &[(&str, &str)] = &[
            ("0d", "the interval must be at least 1"),
            ("+0w", "the interval must be at least 1"),
            ("1001d", "the interval can be at most 1000"),
            ("99999999999999999999999w", "the interval can be at most 1000"),
            ("", SHAPE),
            ("+", SHAPE),
            ("w", SHAPE),
            ("+w", SHAPE),
            ("1", SHAPE),
            ("1x", SHAPE),
            ("-1w", SHAPE),
            ("++1w", SHAPE),
            ("1 w", SHAPE),
            ("1.5w", SHAPE),
            ("1wk", SHAPE),
            ("١w", SHAPE),
            ("1é", SHAPE),
            ("é", SHAPE),
        ];
        for (value, msg) in errors {
            assert_eq!(
                Recurrence::parse(value),
                Err(ParseError::new(format!("rec:{value}"), *msg)),
                "{value}"
            );
        }
    }

    #[test]
    fn next_occurrences() {
        // (line, completed on, next line); created date = completion date.
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            // strict: from the old due date
            ("Pay rent due:2026-11-01 rec:+1m", "2026-11-05", "2026-11-05 Pay rent due:2026-12-01 rec:+1m"),
            ("(A) Water plants due:2026-11-20 rec:+1w", "2026-11-22", "(A) 2026-11-22 Water plants due:2026-11-27 rec:+1w"),
            ("Report due:2026-11-20 rec:+3d", "2026-11-10", "2026-11-10 Report due:2026-11-23 rec:+3d"),
            // from completion
            ("Haircut due:2026-11-01 rec:6w", "2026-11-05", "2026-11-05 Haircut due:2026-12-17 rec:6w"),
            ("Call mom due:2026-11-20 rec:1w", "2026-11-22", "2026-11-22 Call mom due:2026-11-29 rec:1w"),
            ("Backup due:2026-11-20 rec:2d", "2026-11-18", "2026-11-18 Backup due:2026-11-20 rec:2d"),
            // strict without a due date: from completion, due added
            ("Stretch rec:+1d", "2026-11-22", "2026-11-22 Stretch rec:+1d due:2026-11-23"),
            ("Stretch rec:1d", "2026-11-22", "2026-11-22 Stretch rec:1d due:2026-11-23"),
            // month ends and leap years
            ("Invoice due:2026-01-31 rec:+1m", "2026-01-31", "2026-01-31 Invoice due:2026-02-28 rec:+1m"),
            ("Invoice due:2028-01-31 rec:+1m", "2028-01-31", "2028-01-31 Invoice due:2028-02-29 rec:+1m"),
            ("Invoice due:2026-03-31 rec:+1m", "2026-03-30", "2026-03-30 Invoice due:2026-04-30 rec:+1m"),
            ("Invoice due:2026-12-31 rec:+2m", "2026-12-31", "2026-12-31 Invoice due:2027-02-28 rec:+2m"),
            ("Leap day due:2028-02-29 rec:+1y", "2028-02-29", "2028-02-29 Leap day due:2029-02-28 rec:+1y"),
            ("Leap day due:2028-02-29 rec:+4y", "2028-02-29", "2028-02-29 Leap day due:2032-02-29 rec:+4y"),
            ("Leap day rec:1y", "2028-02-29", "2028-02-29 Leap day rec:1y due:2029-02-28"),
            ("New year due:2026-12-31 rec:+1d", "2026-12-31", "2026-12-31 New year due:2027-01-01 rec:+1d"),
            // business days over weekends
            ("Standup due:2026-11-27 rec:+1b", "2026-11-27", "2026-11-27 Standup due:2026-11-30 rec:+1b"),
            ("Standup due:2026-11-26 rec:+2b", "2026-11-26", "2026-11-26 Standup due:2026-11-30 rec:+2b"),
            ("Standup due:2026-11-20 rec:1b", "2026-11-28", "2026-11-28 Standup due:2026-11-30 rec:1b"),
            ("Standup due:2026-11-20 rec:1b", "2026-11-29", "2026-11-29 Standup due:2026-11-30 rec:1b"),
            ("Standup due:2026-11-23 rec:+5b", "2026-11-23", "2026-11-23 Standup due:2026-11-30 rec:+5b"),
            // Found by fuzzing: a threshold shifted out of writable years is dropped.
            ("d rec:1d due:5340-01-30 t:2026-11-20", "1970-01-01", "1970-01-01 d rec:1d due:1970-01-02"),
            // threshold moves by as many days as due (Dec 1 -> Jan 1 is 31 days)
            ("Tax t:2026-11-25 due:2026-12-01 rec:+1m", "2026-11-30", "2026-11-30 Tax t:2026-12-26 due:2027-01-01 rec:+1m"),
            ("Tax due:2026-12-01 t:2026-11-25 rec:1w", "2026-12-03", "2026-12-03 Tax due:2026-12-10 t:2026-12-04 rec:1w"),
            // threshold alone moves like a due date
            ("Review t:2026-11-20 rec:+1w", "2026-11-22", "2026-11-22 Review t:2026-11-27 rec:+1w"),
            ("Review t:2026-11-20 rec:1w", "2026-11-22", "2026-11-22 Review t:2026-11-29 rec:1w"),
            // everything else stays, in order
            ("(B) Read +books @home due:2026-11-20 rec:+1w note:x", "2026-11-21", "(B) 2026-11-21 Read +books @home due:2026-11-27 rec:+1w note:x"),
            ("Café ☕ due:2026-11-20 rec:+1d", "2026-11-21", "2026-11-21 Café ☕ due:2026-11-21 rec:+1d"),
            // date-time dues keep their wall time (Berlin)
            ("Gym due:2026-11-20T18:30+01:00 rec:+1w", "2026-11-20", "2026-11-20 Gym due:2026-11-27T18:30+01:00 rec:+1w"),
            ("Gym due:2026-11-20T18:30 rec:+1w", "2026-11-20", "2026-11-20 Gym due:2026-11-27T18:30+01:00 rec:+1w"),
            ("Gym due:2026-11-20T17:30Z rec:+1w", "2026-11-20", "2026-11-20 Gym due:2026-11-27T18:30+01:00 rec:+1w"),
            ("Gym due:2026-11-20T18:30:15+01:00 rec:1d", "2026-11-22", "2026-11-22 Gym due:2026-11-23T18:30:15+01:00 rec:1d"),
            // ... across the spring-forward change
            ("Meds due:2026-03-27T09:00+01:00 rec:+1w", "2026-03-27", "2026-03-27 Meds due:2026-04-03T09:00+02:00 rec:+1w"),
            ("Meds due:2026-03-28T09:00+01:00 rec:+1d", "2026-03-28", "2026-03-28 Meds due:2026-03-29T09:00+02:00 rec:+1d"),
            ("Night due:2026-03-28T02:30+01:00 rec:+1d", "2026-03-28", "2026-03-28 Night due:2026-03-29T03:00+02:00 rec:+1d"),
            // ... and the fall-back one
            ("Meds due:2026-10-24T09:00+02:00 rec:+1d", "2026-10-24", "2026-10-24 Meds due:2026-10-25T09:00+01:00 rec:+1d"),
            ("Night due:2026-10-24T02:30+02:00 rec:+1d", "2026-10-24", "2026-10-24 Night due:2026-10-25T02:30+02:00 rec:+1d"),
            ("Meds due:2026-10-20T09:00+02:00 t:2026-10-19 rec:+1w", "2026-10-21", "2026-10-21 Meds due:2026-10-27T09:00+01:00 t:2026-10-26 rec:+1w"),
            // a late-evening UTC instant belongs to the next Berlin day
            ("Late due:2026-11-20T23:30Z rec:+1d", "2026-11-21", "2026-11-21 Late due:2026-11-22T00:30+01:00 rec:+1d"),
            // invalid due is replaced as if absent
            ("Odd due:tomorrow rec:+1d", "2026-11-22", "2026-11-22 Odd due:2026-11-23 rec:+1d"),
            // done line in, open line out
            ("x 2026-11-22 2026-11-01 (ignored prefix) due:2026-11-20 rec:+1w", "2026-11-22", "2026-11-22 (ignored prefix) due:2026-11-27 rec:+1w"),
        ];
        for (line, done_on, want) in cases {
            let t = TodoLine::parse(line);
            let next = next_occurrence(&t, d(done_on), Berlin).unwrap();
            assert!(!next.done && next.completed.is_none());
            assert_eq!(next.to_line(), *want, "{line}");
        }
    }

    #[test]
    fn new_york_wall_time() {
        let t = TodoLine::parse("Call due:2026-03-06T09:00-05:00 rec:+1w");
        let next = next_occurrence(&t, d("2026-03-06"), New_York).unwrap();
        assert_eq!(next.body, "Call due:2026-03-13T09:00-04:00 rec:+1w");
    }

    #[test]
    fn no_valid_rec() {
        #[rustfmt::skip]
        let lines = [
            "Plain task due:2026-11-20",
            "Bad rec:0d due:2026-11-20",
            "Bad rec:1x",
            "Bad rec:",
            "rec: 1w",
            "",
            "x 2026-11-22 done rec:abc",
            "due:9999-12-31 rec:+1y",
        ];
        for line in lines {
            let t = TodoLine::parse(line);
            assert_eq!(next_occurrence(&t, d("2026-11-22"), Berlin), None, "{line}");
        }
    }
}
