//! The current context (`@work`, `@home`, `@phone`, ...), inferred from rules the person edits
//! in Settings, as the design seed's `infer_context` describes: work hours on weekdays mean
//! `@work @computer`, evenings and weekends `@home`, and a calendar event with a phone number
//! or a video link going on now means `@phone`.
//!
//! Rules are lines, the first that matches wins:
//!
//! ```text
//! call @phone
//! weekdays 09:00-18:00 @work @computer
//! weekdays 18:00-23:00 @home
//! weekends @home
//! ```
//!
//! A line is `call` (during an event with a phone number or a video link) or days (`weekdays`,
//! `weekends`, `daily`, day names `mon,wed`, a range `mon-fri`) with an optional time range
//! (`HH:MM-HH:MM`, `24:00` allowed as an end; a range past midnight such as `22:00-06:00`
//! wraps), then one or more `@contexts`. `#` starts a comment. Pure: no clock, no store.

use chrono::{Datelike, NaiveDateTime, Timelike, Weekday};

use crate::error::AppError;

/// The settings key the rules are stored under.
pub const SETTING: &str = "today.context_rules";

/// What a fresh Steward infers.
pub const DEFAULT_RULES: &str = "call @phone\n\
weekdays 09:00-18:00 @work @computer\n\
weekdays 18:00-23:00 @home\n\
weekends @home\n";

/// The most rules kept (a hand-written list is a few lines).
const MAX_RULES: usize = 50;

/// One rule: when it applies, and the contexts it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub when: When,
    /// Without the `@`.
    pub contexts: Vec<String>,
    /// The line as written, to say which rule decided.
    pub line: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// During a calendar event with a phone number or a video link.
    Call,
    /// On these days (bit 0 = Monday), from `from` to `to` minutes after midnight.
    Days { days: u8, from: u32, to: u32 },
}

const DAY_NAMES: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

fn day_of(word: &str) -> Option<Weekday> {
    let w = word.to_ascii_lowercase();
    DAY_NAMES.iter().find(|(n, _)| w.starts_with(n) && w.len() <= 9).map(|(_, d)| *d)
}

fn bit(d: Weekday) -> u8 {
    1 << d.num_days_from_monday()
}

/// `weekdays`, `weekends`, `daily`, `mon,wed,fri`, `mon-fri`.
fn parse_days(word: &str) -> Option<u8> {
    match word.to_ascii_lowercase().as_str() {
        "weekdays" | "weekday" => return Some(0b001_1111),
        "weekends" | "weekend" => return Some(0b110_0000),
        "daily" | "always" | "everyday" => return Some(0b111_1111),
        _ => {}
    }
    let mut days = 0u8;
    for part in word.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (mut d, end) = (day_of(a)?, day_of(b)?);
                days |= bit(d);
                while d != end {
                    d = d.succ();
                    days |= bit(d);
                }
            }
            None => days |= bit(day_of(part)?),
        }
    }
    (days != 0).then_some(days)
}

/// `09:00`, `9:00`, `24:00` (as an end) -> minutes after midnight.
fn parse_clock(text: &str, end: bool) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if m.len() != 2 || h.is_empty() || h.len() > 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if m > 59 || h > 24 || (h == 24 && (m != 0 || !end)) {
        return None;
    }
    Some(h * 60 + m)
}

fn parse_range(word: &str) -> Option<(u32, u32)> {
    let (a, b) = word.split_once('-')?;
    let (from, to) = (parse_clock(a, false)?, parse_clock(b, true)?);
    (from != to).then_some((from, to))
}

/// Reads the rules; an unreadable line is refused naming it (field `rules`).
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, AppError> {
    let mut rules = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| AppError::invalid("rules", format!("line {} (“{line}”): {why}", n + 1));
        let words: Vec<&str> = line.split_whitespace().collect();
        let contexts: Vec<String> =
            words.iter().filter_map(|w| w.strip_prefix('@')).map(|c| c.to_string()).collect();
        if contexts.is_empty() {
            return Err(bad("name at least one @context"));
        }
        if contexts.iter().any(|c| !crate::tasks::todotxt::is_name(c)) {
            return Err(bad("an @context needs a letter or a digit"));
        }
        let head: Vec<&str> = words.iter().copied().filter(|w| !w.starts_with('@')).collect();
        let when = match head.as_slice() {
            [w] if w.eq_ignore_ascii_case("call") => When::Call,
            [days] => {
                When::Days { days: parse_days(days).ok_or_else(|| bad("unknown days"))?, from: 0, to: 1440 }
            }
            [days, range] => {
                let days = parse_days(days).ok_or_else(|| bad("unknown days"))?;
                let (from, to) =
                    parse_range(range).ok_or_else(|| bad("the time range is not like 09:00-18:00"))?;
                When::Days { days, from, to }
            }
            _ => return Err(bad("write call, or days (weekdays, weekends, mon-fri) and a time range")),
        };
        rules.push(Rule { when, contexts, line: line.to_string() });
        if rules.len() > MAX_RULES {
            return Err(AppError::invalid("rules", format!("keep to {MAX_RULES} rules")));
        }
    }
    Ok(rules)
}

/// Whether rule `when` holds at local time `at` (in a call or not).
fn applies(when: When, at: NaiveDateTime, in_call: bool) -> bool {
    match when {
        When::Call => in_call,
        When::Days { days, from, to } => {
            let minute = at.hour() * 60 + at.minute();
            if from < to {
                days & bit(at.weekday()) != 0 && (from..to).contains(&minute)
            } else if minute >= from {
                // Wraps past midnight: the evening part belongs to the rule's day...
                days & bit(at.weekday()) != 0
            } else {
                // ...and the morning part to the day before.
                minute < to && days & bit(at.weekday().pred()) != 0
            }
        }
    }
}

/// The first rule that holds at local time `at`, if any.
pub fn infer(rules: &[Rule], at: NaiveDateTime, in_call: bool) -> Option<&Rule> {
    rules.iter().find(|r| applies(r.when, at, in_call))
}

/// Video-call hosts whose links mean "a call".
const VIDEO_HOSTS: [&str; 9] = [
    "zoom.us/",
    "meet.google.com/",
    "teams.microsoft.com/",
    "teams.live.com/",
    "whereby.com/",
    "meet.jit.si/",
    "webex.com/",
    "facetime.apple.com/",
    "gotomeeting.com/",
];

/// Whether an event's text (title, place, notes) holds a phone number or a video link.
pub fn is_call(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if lower.contains("tel:") || VIDEO_HOSTS.iter().any(|h| lower.contains(h)) {
        return true;
    }
    // A phone number: 7 to 15 digits, maybe after a +, with spaces, dots, dashes or brackets
    // between them (not a date such as 2026-12-02, which has 8 digits in 3 short groups, nor
    // a time).
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let plus = chars[i] == '+';
        if !(plus || chars[i].is_ascii_digit() || chars[i] == '(') {
            i += 1;
            continue;
        }
        let start = i;
        let (mut digits, mut groups, mut in_group) = (0, 0, false);
        if plus || chars[i] == '(' {
            i += 1;
        }
        while i < chars.len() {
            let c = chars[i];
            if c.is_ascii_digit() {
                digits += 1;
                if !in_group {
                    groups += 1;
                    in_group = true;
                }
            } else if matches!(c, ' ' | '-' | '.' | '(' | ')') && i + 1 < chars.len() {
                in_group = false;
            } else {
                break;
            }
            i += 1;
        }
        let piece: String = chars[start..i].iter().collect();
        let date_like = groups == 3 && digits == 8 && piece.trim().len() == 10;
        if (7..=15).contains(&digits) && (plus || groups <= 5) && !date_like && !piece.contains(':') {
            return true;
        }
        i = i.max(start + 1);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(day: u32, h: u32, m: u32) -> NaiveDateTime {
        // December 2026: the 7th is a Monday, the 12th a Saturday.
        NaiveDate::from_ymd_opt(2026, 12, day).unwrap().and_hms_opt(h, m, 0).unwrap()
    }

    fn contexts(rules: &[Rule], when: NaiveDateTime, call: bool) -> String {
        infer(rules, when, call).map(|r| r.contexts.join(" ")).unwrap_or_default()
    }

    #[test]
    fn the_default_rules_follow_the_week() {
        let rules = parse_rules(DEFAULT_RULES).unwrap();
        let table = [
            (at(7, 8, 59), false, ""),               // Monday before work
            (at(7, 9, 0), false, "work computer"),   // work starts
            (at(7, 17, 59), false, "work computer"), // the last minute of work
            (at(7, 18, 0), false, "home"),           // evening
            (at(7, 22, 59), false, "home"),
            (at(7, 23, 0), false, ""),               // night
            (at(11, 12, 0), false, "work computer"), // Friday
            (at(12, 12, 0), false, "home"),          // Saturday
            (at(13, 0, 0), false, "home"),           // Sunday midnight
            (at(7, 10, 0), true, "phone"),           // a call wins over work
            (at(12, 10, 0), true, "phone"),
        ];
        for (when, call, want) in table {
            assert_eq!(contexts(&rules, when, call), want, "{when} call={call}");
        }
    }

    #[test]
    fn ranges_past_midnight_belong_to_the_day_they_start() {
        let rules = parse_rules("fri 22:00-06:00 @party").unwrap();
        assert_eq!(contexts(&rules, at(11, 23, 0), false), "party"); // Friday night
        assert_eq!(contexts(&rules, at(12, 5, 59), false), "party"); // Saturday early
        assert_eq!(contexts(&rules, at(12, 6, 0), false), "");
        assert_eq!(contexts(&rules, at(11, 5, 0), false), ""); // Friday early: Thursday's
        assert_eq!(contexts(&rules, at(12, 23, 0), false), "");
    }

    #[test]
    fn days_are_read_in_every_form() {
        let table = [
            ("mon-fri 00:00-24:00 @x", at(9, 12, 0), "x"),
            ("sat,sun @x", at(13, 12, 0), "x"),
            ("sat,sun @x", at(14, 12, 0), ""),
            ("fri-mon @x", at(14, 12, 0), "x"), // wraps round the week
            ("daily 12:00-13:00 @lunch", at(10, 12, 30), "lunch"),
            ("Wednesday @mid # a comment", at(9, 1, 0), "mid"),
        ];
        for (text, when, want) in table {
            assert_eq!(contexts(&parse_rules(text).unwrap(), when, false), want, "{text}");
        }
    }

    #[test]
    fn bad_rules_name_the_line() {
        for (text, says) in [
            ("weekdays 09:00-18:00", "line 1"),
            ("\nsomedays @x", "line 2"),
            ("weekdays 9-5 @x", "time range"),
            ("weekdays 25:00-26:00 @x", "time range"),
            ("weekdays 09:00-09:00 @x", "time range"),
            ("weekdays 09:00-18:00 extra @x", "write call"),
            ("call @", "letter"),
        ] {
            let e = parse_rules(text).unwrap_err();
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
        assert!(parse_rules("").unwrap().is_empty());
    }

    #[test]
    fn calls_are_told_by_a_number_or_a_video_link() {
        let table = [
            ("Call with Ana +351 912 345 678", true),
            ("Dentist (555) 123-4567", true),
            ("Weekly sync https://meet.google.com/abc-defg-hij", true),
            ("Zoom https://us02web.zoom.us/j/123", true),
            ("tel:5551234", true),
            ("Standup 09:30", false),
            ("Review on 2026-12-02", false),
            ("Room 101, building 4", false),
            ("Lunch with Ana", false),
        ];
        for (text, want) in table {
            assert_eq!(is_call(text), want, "{text}");
        }
    }
}
