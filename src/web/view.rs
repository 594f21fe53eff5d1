//! Time in words, as every page shows it: days and instants in the person's zone ("Today
//! 09:00", "Yesterday 17:00", "Fri 09:00"), spans ("in 3 h 20 min", "2 d ago", "2.4 s"), and the
//! exact forms for tooltips, `datetime` attributes and form fields. Pure functions of the
//! instant, the zone and `now`, table-tested below with a fixed `now`.
//!
//! Two styles of day: a task's dates are days ("24 Dec"), so [`day`] and [`due`] name the
//! weekday only within the coming week; an instant ([`instant`]) keeps it ("Wed 24 Dec 09:00").

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use crate::tasks::todotxt::Due;

/// "Today", "Tomorrow", "Yesterday", or the weekday within the coming week ("Fri").
fn near_day(day: NaiveDate, today: NaiveDate) -> Option<String> {
    match (day - today).num_days() {
        0 => Some("Today".into()),
        1 => Some("Tomorrow".into()),
        -1 => Some("Yesterday".into()),
        2..=6 => Some(day.format("%a").to_string()),
        _ => None,
    }
}

/// A day: "Today", "Tomorrow", "Yesterday", "Fri", "24 Dec", "24 Dec 2027".
pub fn day(day: NaiveDate, today: NaiveDate) -> String {
    near_day(day, today).unwrap_or_else(|| {
        let format = if day.year() == today.year() { "%-d %b" } else { "%-d %b %Y" };
        day.format(format).to_string()
    })
}

/// A task's due, in `tz`: its [`day`], with the time when it has one ("Tomorrow 17:00").
pub fn due(due: &Due, tz: Tz, now: DateTime<Utc>) -> String {
    let today = now.with_timezone(&tz).date_naive();
    match due {
        Due::Date(d) => day(*d, today),
        Due::At(at) => {
            let local = at.with_timezone(&tz);
            format!("{} {}", day(local.date_naive(), today), local.format("%H:%M"))
        }
    }
}

fn instant_as(t: DateTime<Utc>, tz: Tz, now: DateTime<Utc>, time: &str) -> String {
    let local = t.with_timezone(&tz);
    let (day, today) = (local.date_naive(), now.with_timezone(&tz).date_naive());
    let label = near_day(day, today).unwrap_or_else(|| {
        let format = if day.year() == today.year() { "%a %-d %b" } else { "%-d %b %Y" };
        local.format(format).to_string()
    });
    format!("{label} {}", local.format(time))
}

/// An instant in `tz`: "Today 09:00", "Yesterday 17:00", "Fri 09:00", "Wed 24 Dec 09:00",
/// "24 Dec 2027 09:00".
pub fn instant(t: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    instant_as(t, tz, now, "%H:%M")
}

/// An [`instant`] to the second: "Today 09:00:05".
pub fn instant_secs(t: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    instant_as(t, tz, now, "%H:%M:%S")
}

/// "in 3 h 20 min", "in 40 s", "2 d ago".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let span = span(secs.unsigned_abs());
    if secs >= 0 { format!("in {span}") } else { format!("{span} ago") }
}

/// "40 s", "10 min", "3 h 20 min", "2 d 1 h", "12 d".
fn span(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{m} min"),
        3600..=35_999 if m > 0 => format!("{h} h {m} min"),
        3600..=86_399 => format!("{h} h"),
        _ if d < 10 && h > 0 => format!("{d} d {h} h"),
        _ => format!("{d} d"),
    }
}

/// A span of milliseconds: "850 ms", "2.4 s", "3 min 5 s", "2 h 10 min".
pub fn millis(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    let text = match abs {
        0..=999 => format!("{abs} ms"),
        1000..=59_999 => format!("{:.1} s", abs as f64 / 1000.0),
        60_000..=3_599_999 => format!("{} min {} s", abs / 60_000, abs % 60_000 / 1000),
        _ => format!("{} h {} min", abs / 3_600_000, abs % 3_600_000 / 60_000),
    };
    format!("{sign}{text}")
}

/// An instant as a `datetime` attribute and tooltip: RFC 3339 in UTC, to the second.
pub fn utc(t: DateTime<Utc>) -> String {
    crate::schedules::rfc3339(t)
}

/// "2026-05-04 07:00 UTC".
pub fn utc_minutes(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An instant in full in `tz`, with the zone's abbreviation: "Mon 4 May 2026 09:00 CEST".
pub fn zoned(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%a %-d %b %Y %H:%M %Z").to_string()
}

/// An instant as a form field holds it in `tz`: `2026-05-04 09:00`, with seconds (as RFC 3339)
/// only when they are needed to be exact.
pub fn input(t: DateTime<Utc>, tz: Tz) -> String {
    let local = t.with_timezone(&tz);
    if local.second() == 0 && local.nanosecond() == 0 {
        local.format("%Y-%m-%d %H:%M").to_string()
    } else {
        local.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Madrid;

    fn utc_at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// Friday 27 March 2026, 12:00 in Madrid (CET, UTC+1); summer time starts on Sunday the 29th.
    const NOW: &str = "2026-03-27T11:00:00Z";

    #[test]
    fn days_near_today_are_words() {
        let today = date("2026-03-27");
        let cases = [
            ("2026-03-27", "Today"),
            ("2026-03-28", "Tomorrow"),
            ("2026-03-26", "Yesterday"),
            ("2026-03-30", "Mon"),
            ("2026-04-02", "Thu"),
            ("2026-04-03", "3 Apr"),
            ("2026-03-25", "25 Mar"),
            ("2027-02-01", "1 Feb 2027"),
            ("2025-12-31", "31 Dec 2025"),
        ];
        for (d, want) in cases {
            assert_eq!(day(date(d), today), want, "{d}");
        }
    }

    #[test]
    fn instants_are_read_in_the_zone() {
        let now = utc_at(NOW);
        let cases = [
            ("2026-03-27T16:00:00Z", Madrid, "Today 17:00"),
            ("2026-03-26T16:00:00Z", Madrid, "Yesterday 17:00"),
            ("2026-03-28T08:00:00Z", Madrid, "Tomorrow 09:00"),
            // After the change to summer time: 07:00 UTC is 09:00 CEST.
            ("2026-03-29T07:00:00Z", Madrid, "Sun 09:00"),
            ("2026-04-01T07:00:00Z", Madrid, "Wed 09:00"),
            ("2026-04-08T07:00:00Z", Madrid, "Wed 8 Apr 09:00"),
            ("2027-01-05T08:00:00Z", Madrid, "5 Jan 2027 09:00"),
            // Past midnight in Madrid but not yet in UTC.
            ("2026-03-27T23:30:00Z", Madrid, "Tomorrow 00:30"),
            ("2026-03-27T23:30:00Z", Tz::UTC, "Today 23:30"),
        ];
        for (t, tz, want) in cases {
            assert_eq!(instant(utc_at(t), tz, now), want, "{t} in {tz}");
        }
        assert_eq!(instant_secs(utc_at("2026-03-27T08:00:05Z"), Madrid, now), "Today 09:00:05");
    }

    #[test]
    fn across_a_dst_change_days_follow_the_wall_clock_and_spans_the_real_time() {
        // Spring forward: from 00:30 CET to 00:30 CEST the next day is one day but 23 hours.
        let now = utc_at("2026-03-28T23:30:00Z");
        let t = utc_at("2026-03-29T22:30:00Z");
        assert_eq!(instant(now, Madrid, now), "Today 00:30");
        assert_eq!(instant(t, Madrid, now), "Tomorrow 00:30");
        assert_eq!(relative(t, now), "in 23 h");
        // Fall back: from 00:30 CEST to 00:30 CET the next day is 25 hours.
        let now = utc_at("2026-10-24T22:30:00Z");
        let t = utc_at("2026-10-25T23:30:00Z");
        assert_eq!(instant(t, Madrid, now), "Tomorrow 00:30");
        assert_eq!(relative(t, now), "in 1 d 1 h");
        assert_eq!(zoned(now, Madrid), "Sun 25 Oct 2026 00:30 CEST");
        assert_eq!(zoned(t, Madrid), "Mon 26 Oct 2026 00:30 CET");
    }

    #[test]
    fn dues_are_days_with_a_time_when_they_have_one() {
        let now = utc_at(NOW);
        let at = |s: &str| Due::At(DateTime::parse_from_rfc3339(s).unwrap());
        let cases = [
            (Due::Date(date("2026-03-28")), "Tomorrow"),
            (Due::Date(date("2026-12-24")), "24 Dec"),
            (at("2026-03-28T17:00:00+01:00"), "Tomorrow 17:00"),
            // Written in another zone, shown in the person's.
            (at("2026-03-27T09:00:00-07:00"), "Today 17:00"),
            (at("2026-03-30T17:00:00+02:00"), "Mon 17:00"),
            (at("2026-12-24T18:00:00+01:00"), "24 Dec 18:00"),
        ];
        for (d, want) in cases {
            assert_eq!(due(&d, Madrid, now), want, "{d:?}");
        }
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(40), "40 s");
        assert_eq!(span(600), "10 min");
        assert_eq!(span(3 * 3600), "3 h");
        assert_eq!(span(3 * 3600 + 20 * 60), "3 h 20 min");
        assert_eq!(span(2 * 86_400 + 3600), "2 d 1 h");
        assert_eq!(millis(850), "850 ms");
        assert_eq!(millis(2400), "2.4 s");
        assert_eq!(millis(-1500), "-1.5 s");
        assert_eq!(millis(185_000), "3 min 5 s");
    }

    #[test]
    fn relative_spans_say_which_way() {
        let now = utc_at(NOW);
        let cases = [
            (0, "in 0 s"),
            (40, "in 40 s"),
            (600, "in 10 min"),
            (-3 * 3600, "3 h ago"),
            (3 * 3600 + 20 * 60, "in 3 h 20 min"),
            (-(2 * 86_400 + 3600), "2 d 1 h ago"),
            (12 * 86_400 + 5 * 3600, "in 12 d"),
        ];
        for (secs, want) in cases {
            assert_eq!(relative(now + chrono::Duration::seconds(secs), now), want, "{secs}");
        }
        assert_eq!(millis(7_800_000), "2 h 10 min");
    }

    #[test]
    fn exact_forms() {
        let t = utc_at("2026-05-04T07:00:00Z");
        assert_eq!(utc(t), "2026-05-04T07:00:00Z");
        assert_eq!(utc_minutes(t), "2026-05-04 07:00 UTC");
        assert_eq!(zoned(t, Madrid), "Mon 4 May 2026 09:00 CEST");
        assert_eq!(input(t, Madrid), "2026-05-04 09:00");
        assert_eq!(input(utc_at("2026-05-04T07:00:30Z"), Madrid), "2026-05-04T09:00:30+02:00");
    }
}
