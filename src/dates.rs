//! The date/time phrase grammar shared by quick-add (tasks) and schedules.
//!
//! Rules:
//! - English only, case-insensitive (ASCII folding); a phrase is one or more
//!   whole whitespace-separated words, never part of a word, so `2+2`,
//!   `bob@example.com` or `Äpfel` can never match.
//! - Everything is computed from a `now: DateTime<Tz>` passed in; nothing here
//!   reads the clock, so results are reproducible and testable.
//! - Words that merely look like a date (`dec` alone, `24` alone) are not a
//!   phrase; words that clearly are a date but cannot exist (`feb 30`,
//!   `25:00`, `13pm`) are a [`ParseError`] naming the piece, never silently text.
//! - Wall-clock times are turned into instants with [`resolve_local`], which
//!   never fails (DST gaps move forward, overlaps take the first occurrence).
//! - Nothing here panics on any input: all slicing is through `str::get` or
//!   on ASCII-verified text, all arithmetic is checked.

use std::fmt;

use chrono::{
    DateTime, Datelike, Days, Duration, FixedOffset, LocalResult, Months, NaiveDate, NaiveDateTime,
    NaiveTime, TimeZone, Weekday,
};
use chrono_tz::Tz;

/// A piece of input that could not be understood, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The offending text, as the user wrote it (`feb 30`, `due:2027-02-30`).
    pub piece: String,
    /// A human sentence (`February has no day 30`).
    pub message: String,
}

impl ParseError {
    pub fn new(piece: impl Into<String>, message: impl Into<String>) -> Self {
        ParseError { piece: piece.into(), message: message.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.piece, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A whole day, or an instant (in the zone it was written in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Date(NaiveDate),
    At(DateTime<Tz>),
}

/// Resolve a wall-clock time in a zone: a time inside a spring-forward gap ->
/// the first instant after the gap; a time that occurs twice (fall back) ->
/// its first occurrence.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Tz> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t,
        LocalResult::Ambiguous(a, b) => a.min(b),
        LocalResult::None => first_after_gap(tz, local),
    }
}

/// Binary search (to the second) for the instant where the wall clock jumps
/// over `local`. Searching the instants rather than guessing offsets works
/// for any gap length (Lord Howe's 30 minutes, Samoa's skipped day).
fn first_after_gap(tz: Tz, local: NaiveDateTime) -> DateTime<Tz> {
    let target = local.and_utc().timestamp();
    let wall = |t: i64| -> Option<i64> {
        tz.timestamp_opt(t, 0).single().map(|d| d.naive_local().and_utc().timestamp())
    };
    // Offsets are within +-26h, so the jump lies in this window.
    let mut lo = target.saturating_sub(30 * 3600);
    let mut hi = target.saturating_add(30 * 3600);
    match (wall(lo), wall(hi)) {
        (Some(a), Some(b)) if a < target && b >= target => {}
        _ => return tz.from_utc_datetime(&local),
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match wall(mid) {
            Some(w) if w >= target => hi = mid,
            Some(_) => lo = mid,
            None => return tz.from_utc_datetime(&local),
        }
    }
    tz.timestamp_opt(hi, 0).single().unwrap_or_else(|| tz.from_utc_datetime(&local))
}

/// The unit of a repeat period. Re-exported by `tasks::recur`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Day,
    /// Monday to Friday; Saturday and Sunday are skipped.
    BusinessDay,
    Week,
    Month,
    Year,
}

impl Unit {
    /// The todo.txt `rec:` letter.
    pub fn letter(self) -> char {
        match self {
            Unit::Day => 'd',
            Unit::BusinessDay => 'b',
            Unit::Week => 'w',
            Unit::Month => 'm',
            Unit::Year => 'y',
        }
    }
}

/// `date` + `n` units. Months and years clamp to the month end (Jan 31 + 1
/// month = Feb 28/29; Feb 29 + 1 year = Feb 28). Business days skip Sat/Sun.
/// `None` only when the result is outside chrono's range.
pub fn add_period(date: NaiveDate, n: u32, unit: Unit) -> Option<NaiveDate> {
    let next = match unit {
        Unit::Day => date.checked_add_days(Days::new(n.into())),
        Unit::Week => date.checked_add_days(Days::new(u64::from(n) * 7)),
        Unit::Month => date.checked_add_months(Months::new(n)),
        Unit::Year => date.checked_add_months(Months::new(n.checked_mul(12)?)),
        Unit::BusinessDay if n == 0 => Some(date),
        Unit::BusinessDay => {
            // One step lands on a weekday; from a weekday, 5 business days
            // are exactly one week, so a large `n` costs no long loop.
            let mut d = next_business_day(date)?;
            let rest = n - 1;
            d = d.checked_add_days(Days::new(u64::from(rest / 5) * 7))?;
            for _ in 0..rest % 5 {
                d = next_business_day(d)?;
            }
            Some(d)
        }
    };
    // Beyond 9999 a date no longer prints as YYYY-MM-DD (todo.txt can't hold it).
    next.filter(|d| d.year() <= MAX_YEAR)
}

/// The last year a date may have: later ones don't fit `YYYY-MM-DD`.
pub const MAX_YEAR: i32 = 9999;

fn next_business_day(d: NaiveDate) -> Option<NaiveDate> {
    let mut d = d.succ_opt()?;
    while is_weekend(d) {
        d = d.succ_opt()?;
    }
    Some(d)
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Parse a strict `YYYY-MM-DD` token. `Ok(None)` when it does not have that
/// shape; `Err(message)` when it has the shape but the day does not exist.
pub fn parse_iso_date(token: &str) -> Result<Option<NaiveDate>, String> {
    let b = token.as_bytes();
    if b.len() != 10 || !iso_date_shape(b) {
        return Ok(None);
    }
    iso_date_prefix(token).map(Some)
}

/// `b` starts with `DDDD-DD-DD`.
fn iso_date_shape(b: &[u8]) -> bool {
    b.len() >= 10
        && b.iter().take(10).enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// The date in the first 10 (verified ASCII) bytes.
fn iso_date_prefix(token: &str) -> Result<NaiveDate, String> {
    let num =
        |r: std::ops::Range<usize>| -> u32 { token.get(r).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0) };
    let year = i32::try_from(num(0..4)).unwrap_or(0);
    make_date(Some(year), num(5..7), num(8..10))
}

/// A parsed ISO 8601 / RFC 3339 timestamp token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub date: NaiveDate,
    /// `None` for a plain `YYYY-MM-DD`.
    pub time: Option<NaiveTime>,
    /// `Some` when the token carried `Z` or `+HH:MM`/`-HH:MM`.
    pub offset: Option<FixedOffset>,
}

/// Parse `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` and the same followed by `Z`
/// or `±HH:MM` (RFC 3339). `Ok(None)` when the token does not start like a
/// date; `Err(message)` when it does but is impossible or malformed.
pub fn parse_stamp(token: &str) -> Result<Option<Stamp>, String> {
    let b = token.as_bytes();
    if !iso_date_shape(b) {
        return Ok(None);
    }
    if b.len() == 10 {
        return iso_date_prefix(token).map(|date| Some(Stamp { date, time: None, offset: None }));
    }
    if !matches!(b.get(10), Some(b'T' | b't')) {
        return Ok(None);
    }
    let date = iso_date_prefix(token)?;
    let rest = token.get(11..).unwrap_or("");
    let bad = || format!("{token} is not a valid date-time (use YYYY-MM-DDTHH:MM)");
    let rb = rest.as_bytes();
    let digits2 = |i: usize| -> Option<u32> {
        let hi = rb.get(i).filter(|c| c.is_ascii_digit())?;
        let lo = rb.get(i + 1).filter(|c| c.is_ascii_digit())?;
        Some(u32::from(hi - b'0') * 10 + u32::from(lo - b'0'))
    };
    let (Some(hour), Some(b':'), Some(minute)) = (digits2(0), rb.get(2), digits2(3)) else {
        return Err(bad());
    };
    let mut i = 5;
    let mut second = 0;
    if rb.get(5) == Some(&b':') {
        second = digits2(6).ok_or_else(bad)?;
        i = 8;
    }
    let time = make_time(hour, minute, second)?;
    let offset = match rb.get(i) {
        None => None,
        Some(b'Z' | b'z') if rb.len() == i + 1 => FixedOffset::east_opt(0),
        Some(sign @ (b'+' | b'-')) if rb.len() == i + 6 && rb.get(i + 3) == Some(&b':') => {
            let (Some(oh), Some(om)) = (digits2(i + 1), digits2(i + 4)) else {
                return Err(bad());
            };
            if oh > 23 || om > 59 {
                return Err(format!("{token} has an impossible UTC offset"));
            }
            let secs = i32::try_from(oh * 3600 + om * 60).unwrap_or(0);
            let secs = if *sign == b'-' { -secs } else { secs };
            Some(FixedOffset::east_opt(secs).ok_or_else(bad)?)
        }
        Some(_) => return Err(bad()),
    };
    Ok(Some(Stamp { date, time: Some(time), offset }))
}

fn make_time(hour: u32, minute: u32, second: u32) -> Result<NaiveTime, String> {
    if hour > 23 {
        return Err(format!("there is no hour {hour}"));
    }
    if minute > 59 {
        return Err(format!("there is no minute {minute}"));
    }
    if second > 59 {
        return Err(format!("there is no second {second}"));
    }
    NaiveTime::from_hms_opt(hour, minute, second).ok_or_else(|| "is not a valid time".to_string())
}

/// Month names, January first.
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn month_name(m: u32) -> &'static str {
    MONTHS.get(usize::try_from(m).unwrap_or(0).wrapping_sub(1)).copied().unwrap_or("That month")
}

/// The most days a month ever has (February: 29).
fn max_days(m: u32) -> u32 {
    match m {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn days_in_month(year: i32, m: u32) -> u32 {
    if m == 2 && NaiveDate::from_ymd_opt(year, 2, 29).is_none() { 28 } else { max_days(m) }
}

/// Build a date with a user-facing message when it cannot exist.
fn make_date(year: Option<i32>, month: u32, day: u32) -> Result<NaiveDate, String> {
    if !(1..=12).contains(&month) {
        return Err(format!("there is no month {month}"));
    }
    let name = month_name(month);
    match year {
        Some(y) if (1..=31).contains(&day) && day > days_in_month(y, month) => {
            Err(format!("{name} {y} has {} days", days_in_month(y, month)))
        }
        _ if day == 0 || day > max_days(month) => Err(format!("{name} has no day {day}")),
        Some(y) => {
            NaiveDate::from_ymd_opt(y, month, day).ok_or_else(|| format!("the year {y} is out of range"))
        }
        // Callers resolve a year-less date themselves; this is only validation.
        None => NaiveDate::from_ymd_opt(2000, month, day).ok_or_else(|| format!("{name} has no day {day}")),
    }
}

/// The next `month`/`day` on or after `today` (Feb 29 -> the next leap year).
fn next_month_day(today: NaiveDate, month: u32, day: u32) -> Option<NaiveDate> {
    (0..=8).find_map(|k| {
        NaiveDate::from_ymd_opt(today.year().checked_add(k)?, month, day).filter(|d| *d >= today)
    })
}

/// What a phrase means, before it is resolved against `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// A day, perhaps with a time of day. `evening` marks `tonight`: 20:00
    /// unless a time is given, and a bare `at 9` then means 21:00.
    Day { date: NaiveDate, time: Option<NaiveTime>, evening: bool },
    /// A time of day alone. `bare` = written without am/pm with an hour of
    /// 1-11, so `tonight` may read it as the evening.
    Time { time: NaiveTime, bare: bool },
    /// An exact instant (`in 20m`, an RFC 3339 timestamp).
    Instant(DateTime<Tz>),
}

impl Meaning {
    /// Join a day without a time and a time without a day (in either order),
    /// as quick-add does for `tomorrow ... at 5pm`. `None` if they don't fit.
    pub fn combine(self, other: Meaning) -> Option<Meaning> {
        match (self, other) {
            (Meaning::Day { date, time: None, evening }, Meaning::Time { time, bare })
            | (Meaning::Time { time, bare }, Meaning::Day { date, time: None, evening }) => {
                Some(Meaning::Day { date, time: Some(evening_time(time, bare && evening)), evening })
            }
            _ => None,
        }
    }

    /// The day or instant this means, relative to `now` (in `now`'s zone).
    pub fn resolve(self, now: DateTime<Tz>) -> When {
        let tz = now.timezone();
        match self {
            Meaning::Day { date, time: Some(t), .. } => When::At(resolve_local(tz, date.and_time(t))),
            Meaning::Day { date, time: None, evening: true } => {
                When::At(resolve_local(tz, date.and_time(tonight_default())))
            }
            Meaning::Day { date, .. } => When::Date(date),
            Meaning::Time { time, .. } => When::At(next_time(time, now)),
            Meaning::Instant(t) => When::At(t),
        }
    }
}

fn tonight_default() -> NaiveTime {
    NaiveTime::from_hms_opt(20, 0, 0).unwrap_or(NaiveTime::MIN)
}

fn evening_time(t: NaiveTime, shift: bool) -> NaiveTime {
    if shift { t.overflowing_add_signed(Duration::hours(12)).0 } else { t }
}

/// Today at `time` if that is still ahead of `now`, otherwise tomorrow.
fn next_time(time: NaiveTime, now: DateTime<Tz>) -> DateTime<Tz> {
    let tz = now.timezone();
    let today = now.date_naive();
    let t = resolve_local(tz, today.and_time(time));
    if t > now {
        return t;
    }
    match today.succ_opt() {
        Some(d) => resolve_local(tz, d.and_time(time)),
        None => t,
    }
}

/// A phrase found in a list of words: how many words it used and its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phrase {
    pub words: usize,
    pub meaning: Meaning,
}

/// The whole text must be one date/time phrase (used for schedule "at"
/// fields): "tomorrow 9am", "in 20m", "fri 17:30", "2026-12-24",
/// "2026-12-24 17:00", RFC 3339 with offset or Z.
pub fn parse_when(text: &str, now: DateTime<Tz>) -> Result<When, ParseError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Err(ParseError::new("date", "is empty"));
    }
    match phrase_at(&words, 0, now, true)? {
        Some(p) if p.words == words.len() => Ok(p.meaning.resolve(now)),
        Some(p) => Err(ParseError::new(
            words.get(p.words..).unwrap_or_default().join(" "),
            "is not part of a date or time",
        )),
        None => Err(ParseError::new(
            words.join(" "),
            "is not a date or time (try \"tomorrow 9am\", \"fri 17:30\" or \"2026-12-24\")",
        )),
    }
}

/// Used by quick-add: find the date/time phrase that starts at `words[at]`
/// (the longest one: a day, a time, or a day with a time in either order).
/// `Ok(None)` when no phrase starts there; `Err` when one clearly does but is
/// impossible (`feb 30`). Weekday abbreviations that are also English words
/// (`sun`, `sat`, `wed`) only count with `on` or a time (`on sat`, `sat 10am`).
pub fn match_phrase(words: &[&str], at: usize, now: DateTime<Tz>) -> Result<Option<Phrase>, ParseError> {
    phrase_at(words, at, now, false)
}

fn phrase_at(
    words: &[&str],
    at: usize,
    now: DateTime<Tz>,
    lenient: bool,
) -> Result<Option<Phrase>, ParseError> {
    if let Some(day) = day_at(words, at, now)? {
        if let Meaning::Day { time: None, .. } = day.meaning
            && let Some(t) = time_at(words, at + day.words)?
            && let Some(meaning) = day.meaning.combine(t.meaning)
        {
            return Ok(Some(Phrase { words: day.words + t.words, meaning }));
        }
        if day.ambiguous && !lenient {
            return Ok(None);
        }
        return Ok(Some(Phrase { words: day.words, meaning: day.meaning }));
    }
    if let Some(t) = time_at(words, at)? {
        if let Some(day) = day_at(words, at + t.words, now)?
            && let Some(meaning) = t.meaning.combine(day.meaning)
        {
            return Ok(Some(Phrase { words: t.words + day.words, meaning }));
        }
        return Ok(Some(t));
    }
    Ok(None)
}

struct DayMatch {
    words: usize,
    meaning: Meaning,
    /// A weekday abbreviation that is also an English word, standing alone.
    ambiguous: bool,
}

fn word<'a>(words: &[&'a str], i: usize) -> Option<&'a str> {
    words.get(i).copied()
}

fn is(w: Option<&str>, options: &[&str]) -> bool {
    w.is_some_and(|w| options.iter().any(|o| w.eq_ignore_ascii_case(o)))
}

fn piece(words: &[&str], from: usize, n: usize) -> String {
    words.iter().skip(from).take(n).copied().collect::<Vec<_>>().join(" ")
}

/// A word made only of 1..=max_len ASCII digits.
fn number(w: Option<&str>, max_len: usize) -> Option<u32> {
    let w = w?;
    if w.is_empty() || w.len() > max_len || !w.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    w.parse().ok()
}

/// `24`, `24th`, `1st`, `2nd`, `3rd` (1-2 digits).
fn day_number(w: Option<&str>) -> Option<u32> {
    let w = w?;
    let lower = w.to_ascii_lowercase();
    let digits = ["st", "nd", "rd", "th"].iter().find_map(|s| lower.strip_suffix(s)).unwrap_or(&lower);
    number(Some(digits), 2)
}

fn month_of(w: Option<&str>) -> Option<u32> {
    let w = w?;
    const NAMES: [(&str, u32); 24] = [
        ("jan", 1),
        ("january", 1),
        ("feb", 2),
        ("february", 2),
        ("mar", 3),
        ("march", 3),
        ("apr", 4),
        ("april", 4),
        ("may", 5),
        ("jun", 6),
        ("june", 6),
        ("jul", 7),
        ("july", 7),
        ("aug", 8),
        ("august", 8),
        ("sep", 9),
        ("sept", 9),
        ("september", 9),
        ("oct", 10),
        ("october", 10),
        ("nov", 11),
        ("november", 11),
        ("dec", 12),
        ("december", 12),
    ];
    NAMES.iter().find(|(n, _)| w.eq_ignore_ascii_case(n)).map(|(_, m)| *m)
}

/// A weekday name, and whether the spelling is also a common English word.
pub(crate) fn weekday_of(w: Option<&str>) -> Option<(Weekday, bool)> {
    let w = w?;
    const NAMES: [(&str, Weekday, bool); 17] = [
        ("mon", Weekday::Mon, false),
        ("monday", Weekday::Mon, false),
        ("tue", Weekday::Tue, false),
        ("tues", Weekday::Tue, false),
        ("tuesday", Weekday::Tue, false),
        ("wed", Weekday::Wed, true),
        ("wednesday", Weekday::Wed, false),
        ("thu", Weekday::Thu, false),
        ("thur", Weekday::Thu, false),
        ("thurs", Weekday::Thu, false),
        ("thursday", Weekday::Thu, false),
        ("fri", Weekday::Fri, false),
        ("friday", Weekday::Fri, false),
        ("sat", Weekday::Sat, true),
        ("saturday", Weekday::Sat, false),
        ("sun", Weekday::Sun, true),
        ("sunday", Weekday::Sun, false),
    ];
    NAMES.iter().find(|(n, _, _)| w.eq_ignore_ascii_case(n)).map(|(_, d, amb)| (*d, *amb))
}

/// Days from `today` to the next `target` weekday; `strict` skips today.
fn days_until(today: NaiveDate, target: Weekday, strict: bool) -> u64 {
    let ahead = (7 + target.num_days_from_monday() - today.weekday().num_days_from_monday()) % 7;
    u64::from(if ahead == 0 && strict { 7 } else { ahead })
}

fn day(date: NaiveDate) -> Meaning {
    Meaning::Day { date, time: None, evening: false }
}

fn too_far(words: &[&str], at: usize, n: usize) -> ParseError {
    ParseError::new(piece(words, at, n), "is too far in the future")
}

/// A day phrase at `words[at]` (with an optional leading `on`).
fn day_at(words: &[&str], at: usize, now: DateTime<Tz>) -> Result<Option<DayMatch>, ParseError> {
    if is(word(words, at), &["on"]) {
        if is(word(words, at + 1), &["in"]) {
            return Ok(None);
        }
        return Ok(bare_day_at(words, at + 1, now)?.and_then(|m| match m.meaning {
            Meaning::Day { .. } => {
                Some(DayMatch { words: m.words + 1, meaning: m.meaning, ambiguous: false })
            }
            _ => None,
        }));
    }
    bare_day_at(words, at, now)
}

fn bare_day_at(words: &[&str], at: usize, now: DateTime<Tz>) -> Result<Option<DayMatch>, ParseError> {
    let today = now.date_naive();
    let w0 = word(words, at);
    let Some(first) = w0 else { return Ok(None) };
    let found = |words: usize, meaning: Meaning| Ok(Some(DayMatch { words, meaning, ambiguous: false }));
    if is(w0, &["today"]) {
        return found(1, day(today));
    }
    if is(w0, &["tonight"]) {
        return found(1, Meaning::Day { date: today, time: None, evening: true });
    }
    if is(w0, &["tomorrow", "tmr", "tmrw"]) {
        let tomorrow = today.succ_opt().ok_or_else(|| too_far(words, at, 1))?;
        return found(1, day(tomorrow));
    }
    if let Some((wd, ambiguous)) = weekday_of(w0) {
        let date = today
            .checked_add_days(Days::new(days_until(today, wd, true)))
            .ok_or_else(|| too_far(words, at, 1))?;
        return Ok(Some(DayMatch { words: 1, meaning: day(date), ambiguous }));
    }
    let w1 = word(words, at + 1);
    if is(w0, &["next"]) {
        let date = if is(w1, &["week"]) {
            today.checked_add_days(Days::new(days_until(today, Weekday::Mon, true)))
        } else if is(w1, &["month"]) {
            today.with_day(1).and_then(|d| d.checked_add_months(Months::new(1)))
        } else if is(w1, &["year"]) {
            today.year().checked_add(1).and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1))
        } else {
            return Ok(None);
        };
        return match date {
            Some(d) => found(2, day(d)),
            None => Err(too_far(words, at, 2)),
        };
    }
    if is(w0, &["end"]) && is(w1, &["of"]) {
        let (n, month_word) = if is(word(words, at + 2), &["the"]) {
            (4, word(words, at + 3))
        } else {
            (3, word(words, at + 2))
        };
        if is(month_word, &["month"]) {
            let last = NaiveDate::from_ymd_opt(
                today.year(),
                today.month(),
                days_in_month(today.year(), today.month()),
            )
            .ok_or_else(|| too_far(words, at, n))?;
            return found(n, day(last));
        }
        return Ok(None);
    }
    if is(w0, &["in"]) {
        return in_phrase(words, at, now);
    }
    // month day [year] / day month [year]
    let md = if let (Some(m), Some(d)) = (month_of(w0), day_number(w1)) {
        Some((m, d))
    } else if let (Some(d), Some(m)) = (day_number(w0), month_of(w1)) {
        Some((m, d))
    } else {
        None
    };
    if let Some((m, d)) = md {
        let year = number(word(words, at + 2), 4).filter(|y| *y >= 1000).and_then(|y| i32::try_from(y).ok());
        let n = if year.is_some() { 3 } else { 2 };
        let date = make_date(year, m, d).map_err(|e| ParseError::new(piece(words, at, n), e))?;
        let date = if year.is_some() {
            date
        } else {
            next_month_day(today, m, d).ok_or_else(|| too_far(words, at, n))?
        };
        return found(n, day(date));
    }
    match parse_stamp(first) {
        Ok(None) => Ok(None),
        Err(e) => Err(ParseError::new(first, e)),
        Ok(Some(stamp)) => {
            let meaning = match (stamp.time, stamp.offset) {
                (Some(t), Some(off)) => {
                    let fixed = off
                        .from_local_datetime(&stamp.date.and_time(t))
                        .single()
                        .ok_or_else(|| ParseError::new(first, "is out of range"))?;
                    Meaning::Instant(fixed.with_timezone(&now.timezone()))
                }
                (time, _) => Meaning::Day { date: stamp.date, time, evening: false },
            };
            found(1, meaning)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Span {
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

fn span_of(unit: &str) -> Option<Span> {
    let u = unit.to_ascii_lowercase();
    Some(match u.as_str() {
        "m" | "min" | "mins" | "minute" | "minutes" => Span::Minutes,
        "h" | "hr" | "hrs" | "hour" | "hours" => Span::Hours,
        "d" | "day" | "days" => Span::Days,
        "w" | "wk" | "wks" | "week" | "weeks" => Span::Weeks,
        "month" | "months" => Span::Months,
        "y" | "yr" | "yrs" | "year" | "years" => Span::Years,
        _ => return None,
    })
}

/// Split `20m`, `2h`, `1h30m`, `3d` into (count, unit) pairs; `None` if the
/// word is not entirely such pairs.
fn attached_spans(w: &str) -> Option<Vec<(u64, Span)>> {
    let mut out = Vec::new();
    let mut rest = w;
    while !rest.is_empty() {
        let digits_end =
            rest.char_indices().find(|(_, c)| !c.is_ascii_digit()).map_or(rest.len(), |(i, _)| i);
        let letters_end = rest
            .char_indices()
            .skip_while(|(_, c)| c.is_ascii_digit())
            .find(|(_, c)| !c.is_ascii_alphabetic())
            .map_or(rest.len(), |(i, _)| i);
        let digits = rest.get(..digits_end)?;
        let unit = rest.get(digits_end..letters_end)?;
        if digits.is_empty() || digits.len() > 7 {
            return None;
        }
        out.push((digits.parse().ok()?, span_of(unit)?));
        rest = rest.get(letters_end..)?;
    }
    // Only `1h30m` style compounds; `1d2w` is not something people write.
    match out.as_slice() {
        [_] | [(_, Span::Hours), (_, Span::Minutes)] => Some(out),
        _ => None,
    }
}

/// `in 3 days`, `in 2w`, `in 20m`, `in 1h30m`, `in a week`, `in an hour`.
fn in_phrase(words: &[&str], at: usize, now: DateTime<Tz>) -> Result<Option<DayMatch>, ParseError> {
    let w1 = word(words, at + 1);
    let w2 = word(words, at + 2);
    let (n, spans) = if let Some(spans) = w1.and_then(attached_spans) {
        (2, spans)
    } else if let (Some(count), Some(unit)) = (
        if is(w1, &["a", "an"]) {
            Some(1)
        } else {
            w1.filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()))
                .map(|w| w.parse::<u64>().unwrap_or(u64::MAX))
        },
        w2.and_then(span_of),
    ) {
        (3, vec![(count, unit)])
    } else {
        return Ok(None);
    };
    let today = now.date_naive();
    let mut date_shift: Option<NaiveDate> = None;
    let mut minutes: i64 = 0;
    for (count, span) in spans {
        let c32 = u32::try_from(count).ok();
        let shifted = match span {
            Span::Minutes | Span::Hours => {
                let per = if span == Span::Hours { 60 } else { 1 };
                minutes = i64::try_from(count)
                    .ok()
                    .and_then(|c| c.checked_mul(per))
                    .and_then(|m| m.checked_add(minutes))
                    .ok_or_else(|| too_far(words, at, n))?;
                continue;
            }
            Span::Days => c32.and_then(|c| add_period(today, c, Unit::Day)),
            Span::Weeks => c32.and_then(|c| add_period(today, c, Unit::Week)),
            Span::Months => c32.and_then(|c| add_period(today, c, Unit::Month)),
            Span::Years => c32.and_then(|c| add_period(today, c, Unit::Year)),
        };
        date_shift = Some(shifted.ok_or_else(|| too_far(words, at, n))?);
    }
    let meaning = match date_shift {
        Some(d) => day(d),
        None => Meaning::Instant(
            Duration::try_minutes(minutes)
                .and_then(|d| now.checked_add_signed(d))
                .filter(|t| t.year() <= MAX_YEAR)
                .ok_or_else(|| too_far(words, at, n))?,
        ),
    };
    Ok(Some(DayMatch { words: n, meaning, ambiguous: false }))
}

/// A time phrase at `words[at]`: `5pm`, `5:30pm`, `5 pm`, `17:00`, `noon`,
/// `midnight`, and after `at` also a bare hour (`at 17`, `at 9`).
fn time_at(words: &[&str], at: usize) -> Result<Option<Phrase>, ParseError> {
    let lead = usize::from(is(word(words, at), &["at", "@"]));
    let i = at + lead;
    let w = word(words, i);
    let time_phrase = |n: usize, time: NaiveTime, bare: bool| {
        Ok(Some(Phrase { words: lead + n, meaning: Meaning::Time { time, bare } }))
    };
    if is(w, &["noon", "midday"]) {
        return time_phrase(1, NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN), false);
    }
    if is(w, &["midnight"]) {
        return time_phrase(1, NaiveTime::MIN, false);
    }
    let Some(w) = w else { return Ok(None) };
    let err = |n: usize, msg: String| ParseError::new(piece(words, i, n), msg);
    // `5 pm`: a clock word followed by a separate meridiem word.
    let next = word(words, i + 1);
    let separate = meridiem_of(next.unwrap_or(""));
    if let (Some(pm), Some((h, m))) = (separate, hour_minute(w)) {
        let t = twelve_hour(h, m, pm).map_err(|e| err(2, e))?;
        return time_phrase(2, t, false);
    }
    let lower = w.to_ascii_lowercase();
    for (suffix, pm) in [("a.m.", false), ("p.m.", true), ("am", false), ("pm", true)] {
        if let Some(clock) = lower.strip_suffix(suffix)
            && let Some((h, m)) = hour_minute(clock)
        {
            let t = twelve_hour(h, m, pm).map_err(|e| err(1, e))?;
            return time_phrase(1, t, false);
        }
    }
    match hour_minute(w) {
        Some((h, Some(m))) => {
            let t = make_time(h, m, 0).map_err(|e| err(1, e))?;
            time_phrase(1, t, (1..12).contains(&h))
        }
        // A bare number is a time only after `at`, and only if it is an hour
        // (`at 25` is more likely an address than an error).
        Some((h, None)) if lead == 1 && h <= 23 => {
            let t = make_time(h, 0, 0).map_err(|e| err(1, e))?;
            time_phrase(1, t, (1..12).contains(&h))
        }
        _ => Ok(None),
    }
}

fn meridiem_of(w: &str) -> Option<bool> {
    if ["am", "a.m."].iter().any(|s| w.eq_ignore_ascii_case(s)) {
        Some(false)
    } else if ["pm", "p.m."].iter().any(|s| w.eq_ignore_ascii_case(s)) {
        Some(true)
    } else {
        None
    }
}

/// `H`, `HH`, `H:MM`, `HH:MM` (ASCII digits only).
fn hour_minute(w: &str) -> Option<(u32, Option<u32>)> {
    match w.split_once(':') {
        Some((h, m)) => {
            if m.len() != 2 {
                return None;
            }
            Some((number(Some(h), 2)?, Some(number(Some(m), 2)?)))
        }
        None => Some((number(Some(w), 2)?, None)),
    }
}

fn twelve_hour(h: u32, m: Option<u32>, pm: bool) -> Result<NaiveTime, String> {
    if !(1..=12).contains(&h) {
        return Err(format!("there is no {h} o'clock on a 12-hour clock"));
    }
    let h24 = match (h, pm) {
        (12, false) => 0,
        (12, true) => 12,
        (h, false) => h,
        (h, true) => h + 12,
    };
    make_time(h24, m.unwrap_or(0), 0)
}

/// A recurrence phrase: `every day`, `every! 3 days`, `every monday at 9am`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub every: u32,
    pub unit: Unit,
    /// `every` = strict (next due = old due + period); `every!` = from completion.
    pub strict: bool,
    /// The first day on or after today that the phrase names.
    pub start: NaiveDate,
    /// A time of day written in the phrase (`every day at 9am`).
    pub time: Option<NaiveTime>,
}

/// The largest repeat count accepted (shared with `rec:`).
pub const MAX_EVERY: u32 = 1000;

impl Repeat {
    /// The first occurrence: `start`, at `self.time` (or `time` if the
    /// phrase had none) when there is a time; a time already past on `start`
    /// moves one period on.
    pub fn first(&self, time: Option<NaiveTime>, now: DateTime<Tz>) -> When {
        let Some(t) = self.time.or(time) else {
            return When::Date(self.start);
        };
        let tz = now.timezone();
        let at = resolve_local(tz, self.start.and_time(t));
        if at > now {
            return When::At(at);
        }
        match add_period(self.start, self.every, self.unit) {
            Some(d) => When::At(resolve_local(tz, d.and_time(t))),
            None => When::At(at),
        }
    }
}

/// Find a recurrence phrase starting at `words[at]`. `Ok(None)` if there is
/// none (`every time` is text); `Err` for `every 0 days` or `every 5000 days`.
pub fn match_repeat(
    words: &[&str],
    at: usize,
    now: DateTime<Tz>,
) -> Result<Option<(usize, Repeat)>, ParseError> {
    let strict = if is(word(words, at), &["every"]) {
        true
    } else if is(word(words, at), &["every!"]) {
        false
    } else {
        return Ok(None);
    };
    let today = now.date_naive();
    let w1 = word(words, at + 1);
    let unit_word = |w: Option<&str>, plural: bool| -> Option<Unit> {
        let w = w?.to_ascii_lowercase();
        let w = if plural { w.strip_suffix('s').map(str::to_string).unwrap_or(w) } else { w };
        Some(match w.as_str() {
            "day" => Unit::Day,
            "weekday" | "workday" => Unit::BusinessDay,
            "week" => Unit::Week,
            "month" => Unit::Month,
            "year" => Unit::Year,
            _ => return None,
        })
    };
    let mut start = today;
    let (mut n, every, unit) = if let Some(u) = unit_word(w1, false) {
        (2, 1, u)
    } else if let (true, Some(u)) = (is(w1, &["other"]), unit_word(word(words, at + 2), false)) {
        (3, 2, u)
    } else if let Some((wd, _)) = weekday_of(w1) {
        start = today
            .checked_add_days(Days::new(days_until(today, wd, false)))
            .ok_or_else(|| too_far(words, at, 2))?;
        (2, 1, Unit::Week)
    } else if let (Some(count), Some(u)) = (
        w1.filter(|w| !w.is_empty() && w.len() <= 12 && w.bytes().all(|b| b.is_ascii_digit())),
        unit_word(word(words, at + 2), true),
    ) {
        let count: u64 = count.parse().unwrap_or(u64::MAX);
        if count == 0 {
            return Err(ParseError::new(piece(words, at, 3), "the interval must be at least 1"));
        }
        let count = u32::try_from(count).ok().filter(|c| *c <= MAX_EVERY).ok_or_else(|| {
            ParseError::new(piece(words, at, 3), format!("the interval can be at most {MAX_EVERY}"))
        })?;
        (3, count, u)
    } else {
        return Ok(None);
    };
    if unit == Unit::BusinessDay && is_weekend(start) {
        start = add_period(today, 1, Unit::BusinessDay).ok_or_else(|| too_far(words, at, n))?;
    }
    // `every month on the 1st`
    if unit == Unit::Month && is(word(words, at + n), &["on"]) {
        let the = usize::from(is(word(words, at + n + 1), &["the"]));
        if let Some(d) = day_number(word(words, at + n + 1 + the)) {
            let used = n + 2 + the;
            if d == 0 || d > 31 {
                return Err(ParseError::new(piece(words, at, used), format!("no month has a day {d}")));
            }
            start = (0..13)
                .find_map(|k| {
                    let m = today.with_day(1)?.checked_add_months(Months::new(k))?;
                    m.with_day(d).filter(|x| *x >= today)
                })
                .ok_or_else(|| too_far(words, at, used))?;
            n = used;
        }
    }
    let mut time = None;
    if let Some(t) = time_at(words, at + n)?
        && let Meaning::Time { time: t_of_day, .. } = t.meaning
    {
        time = Some(t_of_day);
        n += t.words;
    }
    Ok(Some((n, Repeat { every, unit, strict, start, time })))
}

// ---- Event pieces (used by the calendar's quick-add) ----

/// A time phrase at `words[at]` (`5pm`, `17:00`, `at 9`, `noon`): the words it used, the
/// time, and whether it carried am/pm (`Some(true)` for pm). `Ok(None)` when none starts there.
pub fn match_time(words: &[&str], at: usize) -> Result<Option<(usize, NaiveTime, Option<bool>)>, ParseError> {
    let Some(p) = time_at(words, at)? else { return Ok(None) };
    let Meaning::Time { time, .. } = p.meaning else { return Ok(None) };
    let lead = usize::from(is(word(words, at), &["at", "@"]));
    let last = piece(words, at + lead, p.words - lead).to_ascii_lowercase();
    let meridiem = if last.ends_with("pm") || last.ends_with("p.m.") {
        Some(true)
    } else if last.ends_with("am") || last.ends_with("a.m.") {
        Some(false)
    } else {
        None
    };
    Ok(Some((p.words, time, meridiem)))
}

/// A bare clock word without am/pm: `3` or `9:30` -> (hour, minute).
pub fn bare_clock(w: &str) -> Option<(u32, u32)> {
    let (h, m) = hour_minute(w)?;
    Some((h, m.unwrap_or(0))).filter(|(h, m)| *h <= 23 && *m <= 59)
}

/// A length of time, as an event's duration is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Minutes(i64),
    Days(u32),
}

/// The longest length accepted: a year of days, or as many minutes.
const MAX_LENGTH_DAYS: u64 = 366;

/// A length at `words[at]`: `1h`, `15m`, `1h30m`, `90 min`, `2 hours`, `an hour`,
/// `half an hour`, `3 days`, `2 weeks`. `Ok(None)` when none starts there; `Err` for a
/// length of zero or one longer than a year.
pub fn match_length(words: &[&str], at: usize) -> Result<Option<(usize, Length)>, ParseError> {
    let w0 = word(words, at);
    if is(w0, &["half"]) && is(word(words, at + 1), &["an"]) && is(word(words, at + 2), &["hour"]) {
        return Ok(Some((3, Length::Minutes(30))));
    }
    let (n, spans) = if let Some(spans) = w0.and_then(attached_spans) {
        (1, spans)
    } else if let (Some(count), Some(unit)) = (
        if is(w0, &["a", "an"]) {
            Some(1)
        } else {
            w0.filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()))
                .map(|w| w.parse::<u64>().unwrap_or(u64::MAX))
        },
        word(words, at + 1).and_then(span_of),
    ) {
        (2, vec![(count, unit)])
    } else {
        return Ok(None);
    };
    let bad = |m: &str| ParseError::new(piece(words, at, n), m.to_string());
    let mut minutes: u64 = 0;
    let mut days: u64 = 0;
    for (count, span) in spans {
        let (m, d) = match span {
            Span::Minutes => (count, 0),
            Span::Hours => (count.saturating_mul(60), 0),
            Span::Days => (0, count),
            Span::Weeks => (0, count.saturating_mul(7)),
            Span::Months | Span::Years => return Ok(None),
        };
        minutes = minutes.saturating_add(m);
        days = days.saturating_add(d);
    }
    if minutes == 0 && days == 0 {
        return Err(bad("is no time at all; an event lasts at least a minute"));
    }
    if days > MAX_LENGTH_DAYS || minutes > MAX_LENGTH_DAYS * 24 * 60 {
        return Err(bad("is longer than a year"));
    }
    let length = if days > 0 {
        if minutes > 0 {
            return Ok(None);
        }
        Length::Days(u32::try_from(days).unwrap_or(1))
    } else {
        Length::Minutes(i64::try_from(minutes).unwrap_or(60))
    };
    Ok(Some((n, length)))
}

/// A bare day of the month (`27`, `27th`) at `words[at]`, as the end of a range (`dec 20-27`).
pub fn day_of_month(w: &str) -> Option<u32> {
    day_number(Some(w)).filter(|d| (1..=31).contains(d))
}

/// A month name (`dec`, `December`) -> 1..=12.
pub fn month_number(w: &str) -> Option<u32> {
    month_of(Some(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use chrono_tz::Australia::Lord_Howe;
    use chrono_tz::Europe::Berlin;

    fn at(tz: Tz, s: &str) -> DateTime<Tz> {
        let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        resolve_local(tz, local)
    }

    /// Expected results are written as text: `2026-11-23` for a day,
    /// `2026-11-23T17:00+01:00` for an instant (printed in `now`'s zone).
    fn show(w: When) -> String {
        match w {
            When::Date(d) => d.format("%Y-%m-%d").to_string(),
            When::At(t) => t.format("%Y-%m-%dT%H:%M%:z").to_string(),
        }
    }

    // now = Sunday 2026-11-22 10:00 Europe/Berlin (+01:00).
    const NOV22: &str = "2026-11-22 10:00";

    #[test]
    fn phrases_from_sunday_nov_22() {
        let now = at(Berlin, NOV22);
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("today", "2026-11-22"),
            ("Today", "2026-11-22"),
            ("TODAY", "2026-11-22"),
            ("tonight", "2026-11-22T20:00+01:00"),
            ("tonight at 9", "2026-11-22T21:00+01:00"),
            ("tonight at 11:30", "2026-11-22T23:30+01:00"),
            ("tonight 9pm", "2026-11-22T21:00+01:00"),
            ("tonight at 21", "2026-11-22T21:00+01:00"),
            ("tomorrow", "2026-11-23"),
            ("tmr", "2026-11-23"),
            ("tmrw", "2026-11-23"),
            ("on tomorrow", "2026-11-23"),
            ("mon", "2026-11-23"),
            ("monday", "2026-11-23"),
            ("tue", "2026-11-24"),
            ("tues", "2026-11-24"),
            ("tuesday", "2026-11-24"),
            ("wed", "2026-11-25"),
            ("Wednesday", "2026-11-25"),
            ("thu", "2026-11-26"),
            ("thurs", "2026-11-26"),
            ("thursday", "2026-11-26"),
            ("fri", "2026-11-27"),
            ("FRIDAY", "2026-11-27"),
            ("on friday", "2026-11-27"),
            ("sat", "2026-11-28"),
            ("saturday", "2026-11-28"),
            ("sun", "2026-11-29"),
            ("sunday", "2026-11-29"),
            ("next week", "2026-11-23"),
            ("next month", "2026-12-01"),
            ("next year", "2027-01-01"),
            ("end of month", "2026-11-30"),
            ("end of the month", "2026-11-30"),
            ("in 3 days", "2026-11-25"),
            ("in 1 day", "2026-11-23"),
            ("in a day", "2026-11-23"),
            ("in 0 days", "2026-11-22"),
            ("in 3d", "2026-11-25"),
            ("in 2 weeks", "2026-12-06"),
            ("in 2w", "2026-12-06"),
            ("in a week", "2026-11-29"),
            ("in 1 month", "2026-12-22"),
            ("in 3 months", "2027-02-22"),
            ("in 1 year", "2027-11-22"),
            ("in 2y", "2028-11-22"),
            ("in 20m", "2026-11-22T10:20+01:00"),
            ("in 20 min", "2026-11-22T10:20+01:00"),
            ("in 20 mins", "2026-11-22T10:20+01:00"),
            ("in 20 minutes", "2026-11-22T10:20+01:00"),
            ("in 2h", "2026-11-22T12:00+01:00"),
            ("in 2 hours", "2026-11-22T12:00+01:00"),
            ("in an hour", "2026-11-22T11:00+01:00"),
            ("in 1h30m", "2026-11-22T11:30+01:00"),
            ("in 14h", "2026-11-23T00:00+01:00"),
            ("dec 24", "2026-12-24"),
            ("Dec 24", "2026-12-24"),
            ("24 dec", "2026-12-24"),
            ("december 24", "2026-12-24"),
            ("24th december", "2026-12-24"),
            ("december 24th", "2026-12-24"),
            ("on dec 24", "2026-12-24"),
            ("dec 24 2027", "2027-12-24"),
            ("24 dec 2027", "2027-12-24"),
            ("nov 22", "2026-11-22"),
            ("nov 21", "2027-11-21"),
            ("jan 1", "2027-01-01"),
            ("1st jan", "2027-01-01"),
            ("feb 2nd", "2027-02-02"),
            ("mar 3rd", "2027-03-03"),
            ("may 5", "2027-05-05"),
            ("sept 9", "2027-09-09"),
            ("feb 29", "2028-02-29"),
            ("2026-12-24", "2026-12-24"),
            ("on 2026-12-24", "2026-12-24"),
            ("2020-01-01", "2020-01-01"),
            ("2026-12-24 17:00", "2026-12-24T17:00+01:00"),
            ("2026-12-24T17:00", "2026-12-24T17:00+01:00"),
            ("2026-12-24T17:00:00Z", "2026-12-24T18:00+01:00"),
            ("2026-12-24T17:00Z", "2026-12-24T18:00+01:00"),
            ("2026-12-24T17:00+01:00", "2026-12-24T17:00+01:00"),
            ("2026-12-24T17:00-05:00", "2026-12-24T23:00+01:00"),
            ("2026-06-24T17:00:00+02:00", "2026-06-24T17:00+02:00"),
            ("5pm", "2026-11-22T17:00+01:00"),
            ("5PM", "2026-11-22T17:00+01:00"),
            ("5:30pm", "2026-11-22T17:30+01:00"),
            ("5 pm", "2026-11-22T17:00+01:00"),
            ("5:30 pm", "2026-11-22T17:30+01:00"),
            ("5p.m.", "2026-11-22T17:00+01:00"),
            ("17:00", "2026-11-22T17:00+01:00"),
            ("9:30", "2026-11-23T09:30+01:00"),
            ("10:00", "2026-11-23T10:00+01:00"),
            ("10:01", "2026-11-22T10:01+01:00"),
            ("at 9:30", "2026-11-23T09:30+01:00"),
            ("at 5pm", "2026-11-22T17:00+01:00"),
            ("at 17", "2026-11-22T17:00+01:00"),
            ("at 9", "2026-11-23T09:00+01:00"),
            ("at 0", "2026-11-23T00:00+01:00"),
            ("9am", "2026-11-23T09:00+01:00"),
            ("12am", "2026-11-23T00:00+01:00"),
            ("12pm", "2026-11-22T12:00+01:00"),
            ("12:30am", "2026-11-23T00:30+01:00"),
            ("noon", "2026-11-22T12:00+01:00"),
            ("at noon", "2026-11-22T12:00+01:00"),
            ("midnight", "2026-11-23T00:00+01:00"),
            ("tomorrow 5pm", "2026-11-23T17:00+01:00"),
            ("5pm tomorrow", "2026-11-23T17:00+01:00"),
            ("tomorrow at 5pm", "2026-11-23T17:00+01:00"),
            ("tomorrow 9am", "2026-11-23T09:00+01:00"),
            ("tomorrow noon", "2026-11-23T12:00+01:00"),
            ("tomorrow at 9", "2026-11-23T09:00+01:00"),
            ("today 9am", "2026-11-22T09:00+01:00"),
            ("fri 17:30", "2026-11-27T17:30+01:00"),
            ("17:30 fri", "2026-11-27T17:30+01:00"),
            ("5pm on friday", "2026-11-27T17:00+01:00"),
            ("sat 10am", "2026-11-28T10:00+01:00"),
            ("dec 24 at 9am", "2026-12-24T09:00+01:00"),
            ("24 dec 9am", "2026-12-24T09:00+01:00"),
            ("dec 24 2027 at 18:00", "2027-12-24T18:00+01:00"),
            ("next week 9am", "2026-11-23T09:00+01:00"),
            ("in 3 days at 8am", "2026-11-25T08:00+01:00"),
        ];
        for (text, want) in cases {
            let got = parse_when(text, now).map(show);
            assert_eq!(got.as_deref(), Ok(*want), "{text}");
        }
    }

    #[test]
    fn month_and_year_ends() {
        // (now, text, expected)
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("2026-12-31 12:00", "tomorrow", "2027-01-01"),
            ("2026-12-31 12:00", "next month", "2027-01-01"),
            ("2026-12-31 12:00", "next week", "2027-01-04"),
            ("2026-12-31 12:00", "next year", "2027-01-01"),
            ("2026-12-31 12:00", "end of month", "2026-12-31"),
            ("2026-12-31 12:00", "in 1 month", "2027-01-31"),
            ("2026-12-31 12:00", "in 2 months", "2027-02-28"),
            ("2026-12-31 12:00", "dec 24", "2027-12-24"),
            ("2026-12-31 12:00", "dec 31", "2026-12-31"),
            ("2026-12-31 12:00", "jan 1", "2027-01-01"),
            ("2026-12-31 12:00", "fri", "2027-01-01"),
            ("2026-12-31 12:00", "thu", "2027-01-07"),
            ("2026-12-31 12:00", "11am", "2027-01-01T11:00+01:00"),
            ("2026-12-31 12:00", "in 13h", "2027-01-01T01:00+01:00"),
            ("2026-12-31 12:00", "tonight", "2026-12-31T20:00+01:00"),
            ("2027-01-31 12:00", "in 1 month", "2027-02-28"),
            ("2027-01-31 12:00", "next month", "2027-02-01"),
            ("2027-01-31 12:00", "end of month", "2027-01-31"),
            ("2027-01-31 12:00", "tomorrow", "2027-02-01"),
            ("2028-01-31 12:00", "in 1 month", "2028-02-29"),
            ("2028-01-31 12:00", "in 1 year", "2029-01-31"),
            ("2027-02-28 12:00", "tomorrow", "2027-03-01"),
            ("2027-02-28 12:00", "end of month", "2027-02-28"),
            ("2027-02-28 12:00", "feb 29", "2028-02-29"),
            ("2027-02-28 12:00", "in 1 day", "2027-03-01"),
            ("2028-02-28 12:00", "tomorrow", "2028-02-29"),
            ("2028-02-28 12:00", "end of month", "2028-02-29"),
            ("2028-02-28 12:00", "feb 29", "2028-02-29"),
            ("2028-02-28 12:00", "in 2 days", "2028-03-01"),
            ("2028-02-29 12:00", "in 1 year", "2029-02-28"),
            ("2028-02-29 12:00", "in 4 years", "2032-02-29"),
            ("2028-02-29 12:00", "feb 29", "2028-02-29"),
            ("2028-03-01 12:00", "feb 29", "2032-02-29"),
            ("2028-02-29 12:00", "feb 29 2028", "2028-02-29"),
            ("2026-11-30 12:00", "end of month", "2026-11-30"),
            ("2026-11-30 23:59", "midnight", "2026-12-01T00:00+01:00"),
            ("2026-11-30 23:59", "in 1m", "2026-12-01T00:00+01:00"),
        ];
        for (now, text, want) in cases {
            let got = parse_when(text, at(Berlin, now)).map(show);
            assert_eq!(got.as_deref(), Ok(*want), "{text} at {now}");
        }
    }

    #[test]
    fn dst_days() {
        // (zone, now, text, expected)
        #[rustfmt::skip]
        let cases: &[(Tz, &str, &str, &str)] = &[
            // Berlin spring forward 2026-03-29 02:00 -> 03:00.
            (Berlin, "2026-03-28 12:00", "tomorrow 2:30am", "2026-03-29T03:00+02:00"),
            (Berlin, "2026-03-28 12:00", "tomorrow 2am", "2026-03-29T03:00+02:00"),
            (Berlin, "2026-03-28 12:00", "tomorrow 1:59am", "2026-03-29T01:59+01:00"),
            (Berlin, "2026-03-28 12:00", "tomorrow 3am", "2026-03-29T03:00+02:00"),
            (Berlin, "2026-03-28 12:00", "tomorrow 9am", "2026-03-29T09:00+02:00"),
            (Berlin, "2026-03-29 01:00", "2:30am", "2026-03-29T03:00+02:00"),
            (Berlin, "2026-03-29 01:30", "in 1h", "2026-03-29T03:30+02:00"),
            (Berlin, "2026-03-29 01:30", "tomorrow", "2026-03-30"),
            (Berlin, "2026-03-28 12:00", "2026-03-29T02:30", "2026-03-29T03:00+02:00"),
            // Berlin fall back 2026-10-25 03:00 -> 02:00: first occurrence.
            (Berlin, "2026-10-24 12:00", "tomorrow 2:30am", "2026-10-25T02:30+02:00"),
            (Berlin, "2026-10-25 00:00", "2:30am", "2026-10-25T02:30+02:00"),
            (Berlin, "2026-10-24 12:00", "tomorrow 3:30am", "2026-10-25T03:30+01:00"),
            (Berlin, "2026-10-25 01:00", "in 3h", "2026-10-25T03:00+01:00"),
            // New York: 2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00.
            (New_York, "2026-03-07 12:00", "tomorrow 2:30am", "2026-03-08T03:00-04:00"),
            (New_York, "2026-03-07 12:00", "tomorrow 9am", "2026-03-08T09:00-04:00"),
            (New_York, "2026-10-31 12:00", "tomorrow 1:30am", "2026-11-01T01:30-04:00"),
            (New_York, "2026-10-31 12:00", "tomorrow 5pm", "2026-11-01T17:00-05:00"),
            (New_York, "2026-11-01 00:00", "in 2h", "2026-11-01T01:00-05:00"),
            // Lord Howe: 30-minute shift. 2026-10-04 02:00 -> 02:30 (+10:30 -> +11).
            (Lord_Howe, "2026-10-03 12:00", "tomorrow 2:15am", "2026-10-04T02:30+11:00"),
            (Lord_Howe, "2026-10-03 12:00", "tomorrow 2am", "2026-10-04T02:30+11:00"),
            (Lord_Howe, "2026-10-03 12:00", "tomorrow 2:30am", "2026-10-04T02:30+11:00"),
            (Lord_Howe, "2026-10-03 12:00", "tomorrow 1:59am", "2026-10-04T01:59+10:30"),
            // 2026-04-05 02:00 -> 01:30 (+11 -> +10:30): first occurrence.
            (Lord_Howe, "2026-04-04 12:00", "tomorrow 1:45am", "2026-04-05T01:45+11:00"),
            (Lord_Howe, "2026-04-04 12:00", "tomorrow 2am", "2026-04-05T02:00+10:30"),
        ];
        for (tz, now, text, want) in cases {
            let got = parse_when(text, at(*tz, now)).map(show);
            assert_eq!(got.as_deref(), Ok(*want), "{text} at {now} in {tz}");
        }
    }

    #[test]
    fn resolve_local_edges() {
        #[rustfmt::skip]
        let cases: &[(Tz, &str, &str)] = &[
            (Berlin, "2026-03-29 02:00", "2026-03-29T03:00:00+02:00"),
            (Berlin, "2026-03-29 02:59", "2026-03-29T03:00:00+02:00"),
            (Berlin, "2026-03-29 03:00", "2026-03-29T03:00:00+02:00"),
            (Berlin, "2026-10-25 02:00", "2026-10-25T02:00:00+02:00"),
            (Berlin, "2026-10-25 02:59", "2026-10-25T02:59:00+02:00"),
            (Berlin, "2026-10-25 03:00", "2026-10-25T03:00:00+01:00"),
            (Tz::UTC, "2026-03-29 02:30", "2026-03-29T02:30:00+00:00"),
            (New_York, "2026-03-08 02:00", "2026-03-08T03:00:00-04:00"),
            (Lord_Howe, "2026-10-04 02:29", "2026-10-04T02:30:00+11:00"),
            (chrono_tz::Pacific::Apia, "2011-12-30 12:00", "2011-12-31T00:00:00+14:00"),
        ];
        for (tz, local, want) in cases {
            let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
            assert_eq!(resolve_local(*tz, naive).to_rfc3339(), *want, "{local} {tz}");
        }
    }

    #[test]
    fn errors_name_the_piece() {
        let now = at(Berlin, NOV22);
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("feb 30", "feb 30", "February has no day 30"),
            ("Feb 30", "Feb 30", "February has no day 30"),
            ("30 feb", "30 feb", "February has no day 30"),
            ("feb 29 2027", "feb 29 2027", "February 2027 has 28 days"),
            ("feb 30 2027", "feb 30 2027", "February 2027 has 28 days"),
            ("apr 31", "apr 31", "April has no day 31"),
            ("apr 31 2027", "apr 31 2027", "April 2027 has 30 days"),
            ("dec 32", "dec 32", "December has no day 32"),
            ("dec 0", "dec 0", "December has no day 0"),
            ("dec 99", "dec 99", "December has no day 99"),
            ("2027-02-30", "2027-02-30", "February 2027 has 28 days"),
            ("2027-02-29", "2027-02-29", "February 2027 has 28 days"),
            ("2027-13-01", "2027-13-01", "there is no month 13"),
            ("2027-00-10", "2027-00-10", "there is no month 0"),
            ("2027-01-00", "2027-01-00", "January has no day 0"),
            ("2027-01-32", "2027-01-32", "January has no day 32"),
            ("25:00", "25:00", "there is no hour 25"),
            ("24:00", "24:00", "there is no hour 24"),
            ("9:75", "9:75", "there is no minute 75"),
            ("13pm", "13pm", "there is no 13 o'clock on a 12-hour clock"),
            ("0am", "0am", "there is no 0 o'clock on a 12-hour clock"),
            ("13 pm", "13 pm", "there is no 13 o'clock on a 12-hour clock"),
            ("5:60pm", "5:60pm", "there is no minute 60"),
            ("tomorrow 25:00", "25:00", "there is no hour 25"),
            ("5pm feb 30", "feb 30", "February has no day 30"),
            ("2026-12-24T25:00", "2026-12-24T25:00", "there is no hour 25"),
            ("2026-12-24T17", "2026-12-24T17", "2026-12-24T17 is not a valid date-time (use YYYY-MM-DDTHH:MM)"),
            ("2026-12-24T17:00+25:00", "2026-12-24T17:00+25:00", "2026-12-24T17:00+25:00 has an impossible UTC offset"),
            ("in 9999999 years", "in 9999999 years", "is too far in the future"),
            ("in 99999999999999999999 days", "in 99999999999999999999 days", "is too far in the future"),
            ("", "date", "is empty"),
            ("   ", "date", "is empty"),
            ("dec", "dec", "is not a date or time (try \"tomorrow 9am\", \"fri 17:30\" or \"2026-12-24\")"),
            ("24", "24", "is not a date or time (try \"tomorrow 9am\", \"fri 17:30\" or \"2026-12-24\")"),
            ("2+2", "2+2", "is not a date or time (try \"tomorrow 9am\", \"fri 17:30\" or \"2026-12-24\")"),
            ("bob@example.com", "bob@example.com", "is not a date or time (try \"tomorrow 9am\", \"fri 17:30\" or \"2026-12-24\")"),
            ("morgen", "morgen", "is not a date or time (try \"tomorrow 9am\", \"fri 17:30\" or \"2026-12-24\")"),
            ("tomorrow please", "please", "is not part of a date or time"),
            ("tomorrow tomorrow", "tomorrow", "is not part of a date or time"),
            ("in 20m later", "later", "is not part of a date or time"),
        ];
        for (text, piece, message) in cases {
            let got = parse_when(text, now);
            assert_eq!(got, Err(ParseError::new(*piece, *message)), "{text}");
        }
        assert_eq!(
            ParseError::new("feb 30", "February has no day 30").to_string(),
            "feb 30: February has no day 30"
        );
    }

    #[test]
    fn match_phrase_in_words() {
        let now = at(Berlin, NOV22);
        // (text, position, words used or None)
        #[rustfmt::skip]
        let cases: &[(&str, usize, Option<usize>)] = &[
            ("call mom tomorrow 5pm +family", 2, Some(2)),
            ("call mom tomorrow 5pm +family", 0, None),
            ("call mom tomorrow 5pm +family", 3, Some(1)),
            ("meet at office", 1, None),
            ("meet at 5 pm sharp", 1, Some(3)),
            ("enjoy the sun", 2, None),
            ("sat exam", 0, None),
            ("on sat", 0, Some(2)),
            ("sat 10am", 0, Some(2)),
            ("wed", 0, None),
            ("fri", 0, Some(1)),
            ("on", 0, None),
            ("on in 3 days", 0, None),
            ("in", 0, None),
            ("in 3", 0, None),
            ("in 3 boxes", 0, None),
            ("put 3 in 2 boxes", 2, None),
            ("end of story", 0, None),
            ("next thing", 0, None),
            ("next", 0, None),
            ("dec", 0, None),
            ("dec 100", 0, None),
            ("24", 0, None),
            ("24 7", 0, None),
            ("10:30", 0, Some(1)),
            ("10:3", 0, None),
            ("1:2:3", 0, None),
            ("123:45", 0, None),
            ("at 25 Baker street", 0, None),
            ("at", 0, None),
            ("2+2", 0, None),
            ("bob@example.com", 0, None),
            ("https://x.org", 0, None),
            ("Café ☕ tomorrow", 2, Some(1)),
            ("☕", 0, None),
            ("Äpfel kaufen morgen", 2, None),
            ("x", 5, None),
            ("2026-12-24x", 0, None),
            ("20m", 0, None),
            ("in 1d2w", 0, None),
            ("in 2h30", 0, None),
            ("in m", 0, None),
        ];
        for (text, pos, want) in cases {
            let words: Vec<&str> = text.split_whitespace().collect();
            let got = match_phrase(&words, *pos, now).unwrap().map(|p| p.words);
            assert_eq!(got, *want, "{text} @ {pos}");
        }
    }

    #[test]
    fn combine_day_and_time() {
        let now = at(Berlin, NOV22);
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let day = Meaning::Day { date: d("2026-11-23"), time: None, evening: false };
        let tonight = Meaning::Day { date: d("2026-11-22"), time: None, evening: true };
        let nine = Meaning::Time { time: t(9, 0), bare: true };
        #[rustfmt::skip]
        let cases: &[(Meaning, Meaning, Option<&str>)] = &[
            (day, nine, Some("2026-11-23T09:00+01:00")),
            (nine, day, Some("2026-11-23T09:00+01:00")),
            (tonight, nine, Some("2026-11-22T21:00+01:00")),
            (nine, tonight, Some("2026-11-22T21:00+01:00")),
            (day, day, None),
            (nine, nine, None),
            (Meaning::Instant(now), nine, None),
        ];
        for (a, b, want) in cases {
            let got = a.combine(*b).map(|m| show(m.resolve(now)));
            assert_eq!(got.as_deref(), *want, "{a:?} + {b:?}");
        }
    }

    #[test]
    fn repeat_phrases() {
        let now = at(Berlin, NOV22); // a Sunday, 10:00
        // (text, words used, every, unit, strict, first occurrence)
        #[rustfmt::skip]
        let cases: &[(&str, usize, u32, Unit, bool, &str)] = &[
            ("every day", 2, 1, Unit::Day, true, "2026-11-22"),
            ("Every Day", 2, 1, Unit::Day, true, "2026-11-22"),
            ("every weekday", 2, 1, Unit::BusinessDay, true, "2026-11-23"),
            ("every workday", 2, 1, Unit::BusinessDay, true, "2026-11-23"),
            ("every monday", 2, 1, Unit::Week, true, "2026-11-23"),
            ("every sunday", 2, 1, Unit::Week, true, "2026-11-22"),
            ("every sun", 2, 1, Unit::Week, true, "2026-11-22"),
            ("every fri", 2, 1, Unit::Week, true, "2026-11-27"),
            ("every week", 2, 1, Unit::Week, true, "2026-11-22"),
            ("every 2 weeks", 3, 2, Unit::Week, true, "2026-11-22"),
            ("every other week", 3, 2, Unit::Week, true, "2026-11-22"),
            ("every other day", 3, 2, Unit::Day, true, "2026-11-22"),
            ("every month", 2, 1, Unit::Month, true, "2026-11-22"),
            ("every month on the 1st", 5, 1, Unit::Month, true, "2026-12-01"),
            ("every month on 22nd", 4, 1, Unit::Month, true, "2026-11-22"),
            ("every month on the 30th", 5, 1, Unit::Month, true, "2026-11-30"),
            ("every month on the 31st", 5, 1, Unit::Month, true, "2026-12-31"),
            ("every 3 months on the 15th", 6, 3, Unit::Month, true, "2026-12-15"),
            ("every 3 days", 3, 3, Unit::Day, true, "2026-11-22"),
            ("every 1 day", 3, 1, Unit::Day, true, "2026-11-22"),
            ("every 2 weekdays", 3, 2, Unit::BusinessDay, true, "2026-11-23"),
            ("every year", 2, 1, Unit::Year, true, "2026-11-22"),
            ("every 2 years", 3, 2, Unit::Year, true, "2026-11-22"),
            ("every! 3 days", 3, 3, Unit::Day, false, "2026-11-22"),
            ("every! week", 2, 1, Unit::Week, false, "2026-11-22"),
            ("every day at 9am", 4, 1, Unit::Day, true, "2026-11-23T09:00+01:00"),
            ("every day at 11am", 4, 1, Unit::Day, true, "2026-11-22T11:00+01:00"),
            ("every day 9am", 3, 1, Unit::Day, true, "2026-11-23T09:00+01:00"),
            ("every sunday at 9am", 4, 1, Unit::Week, true, "2026-11-29T09:00+01:00"),
            ("every monday at 9am", 4, 1, Unit::Week, true, "2026-11-23T09:00+01:00"),
            ("every weekday at 8:30", 4, 1, Unit::BusinessDay, true, "2026-11-23T08:30+01:00"),
            ("every 1000 days", 3, 1000, Unit::Day, true, "2026-11-22"),
        ];
        for (text, n, every, unit, strict, first) in cases {
            let words: Vec<&str> = text.split_whitespace().collect();
            let (used, r) = match_repeat(&words, 0, now).unwrap().unwrap();
            assert_eq!(
                (used, r.every, r.unit, r.strict, show(r.first(None, now)).as_str()),
                (*n, *every, *unit, *strict, *first),
                "{text}"
            );
        }
        #[rustfmt::skip]
        let not_repeats = [
            "every time",
            "every",
            "everyday",
            "every 3",
            "every other",
            "every day!",
        ];
        for text in not_repeats {
            let words: Vec<&str> = text.split_whitespace().collect();
            let got = match_repeat(&words, 0, now).unwrap().map(|(n, _)| n);
            assert!(got.is_none() || text == "every day!", "{text}");
        }
        #[rustfmt::skip]
        let errors: &[(&str, &str, &str)] = &[
            ("every 0 days", "every 0 days", "the interval must be at least 1"),
            ("every 1001 days", "every 1001 days", "the interval can be at most 1000"),
            ("every 99999999999 weeks", "every 99999999999 weeks", "the interval can be at most 1000"),
            ("every month on the 32nd", "every month on the 32nd", "no month has a day 32"),
            ("every day at 25:00", "25:00", "there is no hour 25"),
        ];
        for (text, piece, message) in errors {
            let words: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(match_repeat(&words, 0, now), Err(ParseError::new(*piece, *message)), "{text}");
        }
    }

    #[test]
    fn add_period_table() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        #[rustfmt::skip]
        let cases: &[(&str, u32, Unit, &str)] = &[
            ("2026-01-31", 1, Unit::Month, "2026-02-28"),
            ("2028-01-31", 1, Unit::Month, "2028-02-29"),
            ("2026-03-31", 1, Unit::Month, "2026-04-30"),
            ("2026-12-31", 2, Unit::Month, "2027-02-28"),
            ("2028-02-29", 1, Unit::Year, "2029-02-28"),
            ("2028-02-29", 4, Unit::Year, "2032-02-29"),
            ("2026-12-31", 1, Unit::Day, "2027-01-01"),
            ("2026-12-28", 1, Unit::Week, "2027-01-04"),
            ("2026-11-27", 1, Unit::BusinessDay, "2026-11-30"), // Fri -> Mon
            ("2026-11-28", 1, Unit::BusinessDay, "2026-11-30"), // Sat -> Mon
            ("2026-11-29", 1, Unit::BusinessDay, "2026-11-30"), // Sun -> Mon
            ("2026-11-26", 2, Unit::BusinessDay, "2026-11-30"), // Thu -> Mon
            ("2026-11-23", 5, Unit::BusinessDay, "2026-11-30"),
            ("2026-11-23", 10, Unit::BusinessDay, "2026-12-07"),
            ("2026-11-28", 5, Unit::BusinessDay, "2026-12-04"), // Sat + 5b = Fri
            ("2026-11-28", 6, Unit::BusinessDay, "2026-12-07"),
            ("2026-11-27", 6, Unit::BusinessDay, "2026-12-07"), // Fri + 6b = Mon
            ("2026-11-25", 3, Unit::BusinessDay, "2026-11-30"), // Wed + 3b = Mon
            ("2026-11-25", 261, Unit::BusinessDay, "2027-11-25"),
            ("2026-11-25", 0, Unit::BusinessDay, "2026-11-25"),
            ("2026-11-25", 0, Unit::Month, "2026-11-25"),
            ("9999-12-30", 1, Unit::Day, "9999-12-31"),
        ];
        for (from, n, unit, want) in cases {
            assert_eq!(add_period(d(from), *n, *unit), Some(d(want)), "{from} + {n} {unit:?}");
        }
        assert_eq!(add_period(NaiveDate::MAX, 1, Unit::Day), None);
        assert_eq!(add_period(NaiveDate::MAX, 1, Unit::BusinessDay), None);
        assert_eq!(add_period(d("9999-12-31"), 1, Unit::Day), None);
        assert_eq!(add_period(d("2026-01-01"), u32::MAX, Unit::BusinessDay), None);
        assert_eq!(add_period(d("2026-01-01"), u32::MAX, Unit::Year), None);
        // Every n agrees with stepping one business day at a time.
        for start in 0..14 {
            let from = d("2026-11-16") + Duration::days(start);
            let mut step = from;
            for n in 1..40 {
                step = add_period(step, 1, Unit::BusinessDay).unwrap();
                assert_eq!(add_period(from, n, Unit::BusinessDay), Some(step), "{from} + {n}b");
            }
        }
    }

    #[test]
    fn stamps() {
        #[rustfmt::skip]
        let cases: &[(&str, Result<Option<&str>, &str>)] = &[
            ("2026-12-24", Ok(Some("2026-12-24 None None"))),
            ("2026-12-24T09:05", Ok(Some("2026-12-24 Some(09:05:00) None"))),
            ("2026-12-24t09:05:07", Ok(Some("2026-12-24 Some(09:05:07) None"))),
            ("2026-12-24T09:05Z", Ok(Some("2026-12-24 Some(09:05:00) Some(+00:00)"))),
            ("2026-12-24T09:05:00-03:30", Ok(Some("2026-12-24 Some(09:05:00) Some(-03:30)"))),
            ("2026-12-24X", Ok(None)),
            ("20261224", Ok(None)),
            ("2026-1-24", Ok(None)),
            ("hello", Ok(None)),
            ("", Ok(None)),
            ("2026-12-24T", Err("2026-12-24T is not a valid date-time (use YYYY-MM-DDTHH:MM)")),
            ("2026-12-24T09:05+0100", Err("2026-12-24T09:05+0100 is not a valid date-time (use YYYY-MM-DDTHH:MM)")),
            ("2026-12-24T09:05:61", Err("there is no second 61")),
            ("2026-12-24T09:05Zx", Err("2026-12-24T09:05Zx is not a valid date-time (use YYYY-MM-DDTHH:MM)")),
            ("2026-12-24T09:05é", Err("2026-12-24T09:05é is not a valid date-time (use YYYY-MM-DDTHH:MM)")),
            ("2026-12-24T0é:05", Err("2026-12-24T0é:05 is not a valid date-time (use YYYY-MM-DDTHH:MM)")),
        ];
        for (token, want) in cases {
            let got =
                parse_stamp(token).map(|s| s.map(|s| format!("{} {:?} {:?}", s.date, s.time, s.offset)));
            let want = want.map(|o| o.map(str::to_string)).map_err(str::to_string);
            assert_eq!(got, want, "{token}");
        }
    }

    #[test]
    fn never_panics_on_junk() {
        let now = at(Berlin, NOV22);
        #[rustfmt::skip]
        let junk = [
            "",
            " ",
            "\t",
            "é",
            "in",
            "in in",
            "at at",
            "on on",
            "every every",
            "in 1h30m30m",
            "in 99999999999999999999999h",
            "in 9999999m",
            "2026-",
            "2026-12-2é",
            "9999-12-31 23:59",
            "9999-12-31T23:59+14:00",
            "0000-01-01",
            "feb 29 0001",
            "in 5000000 days",
            "12:",
            ":30",
            "::",
            "am",
            "pm",
            "at pm",
            "5 am pm",
            "a.m.",
            "1a.m.",
            "ß",
            "🙂 tomorrow 🙂",
            "every 5 🙂",
            "every month on the",
            "every month on the 🙂",
            "end",
            "end of",
            "next 🙂",
            "dec 🙂",
            "🙂 dec",
            "1🙂",
            "1:🙂🙂",
        ];
        for text in junk {
            let _ = parse_when(text, now);
            let words: Vec<&str> = text.split_whitespace().collect();
            for i in 0..=words.len() {
                let _ = match_phrase(&words, i, now);
                let _ = match_repeat(&words, i, now);
            }
        }
    }
}
