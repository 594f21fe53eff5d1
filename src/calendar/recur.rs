//! RFC 5545 recurrence rules (RRULE): parsing, printing and expansion.
//!
//! Expansion works on local wall-clock date-times (the event's frame); the caller turns each
//! into an instant in the event's zone with [`super::resolve`], so a rule keeps its wall-clock
//! time across DST. Work is bounded: every expansion stops after [`MAX_WORK`] candidate days
//! or once past the window's end, whatever the rule (`FREQ=SECONDLY`, a `BYSETPOS` that
//! never matches, `FEB 30`).

use std::fmt;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};

/// The most work one expansion does: candidate days looked at (a yearly period looks at up to
/// 366, a daily one at 1; a sub-daily period counts 1). About 0.1 s in a debug build.
pub const MAX_WORK: u64 = 2_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Freq {
    Secondly,
    Minutely,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Freq {
    fn name(self) -> &'static str {
        match self {
            Freq::Secondly => "SECONDLY",
            Freq::Minutely => "MINUTELY",
            Freq::Hourly => "HOURLY",
            Freq::Daily => "DAILY",
            Freq::Weekly => "WEEKLY",
            Freq::Monthly => "MONTHLY",
            Freq::Yearly => "YEARLY",
        }
    }
}

/// UNTIL as written: a date, a floating date-time, or a UTC one (`...Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    Date(NaiveDate),
    Local(NaiveDateTime),
    Utc(NaiveDateTime),
}

/// A parsed RRULE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub freq: Freq,
    pub interval: u32,
    pub count: Option<u32>,
    pub until: Option<Until>,
    pub by_second: Vec<u32>,
    pub by_minute: Vec<u32>,
    pub by_hour: Vec<u32>,
    /// `(ordinal, weekday)`: `-1FR` is `(Some(-1), Fri)`.
    pub by_day: Vec<(Option<i32>, Weekday)>,
    pub by_month_day: Vec<i32>,
    pub by_year_day: Vec<i32>,
    pub by_week_no: Vec<i32>,
    pub by_month: Vec<u32>,
    pub by_set_pos: Vec<i32>,
    pub wkst: Weekday,
}

fn weekday(code: &str) -> Option<Weekday> {
    Some(match code {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

fn weekday_code(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

fn numbers(key: &str, value: &str, lo: i32, hi: i32, signed: bool) -> Result<Vec<i32>, String> {
    let mut out = Vec::new();
    for part in value.split(',') {
        let part = part.trim();
        let n: i32 =
            part.parse().map_err(|_| format!("{key}={value} has {part:?}, which is not a number"))?;
        let ok = if signed { (lo..=hi).contains(&n.abs()) } else { (lo..=hi).contains(&n) };
        if !ok {
            let range = if signed { format!("±{lo} to ±{hi}") } else { format!("{lo} to {hi}") };
            return Err(format!("{key}={value}: {n} is outside {range}"));
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Reads `20260302`, `20260302T093000` or `20260302T093000Z` (also with dashes and colons).
pub fn parse_until(text: &str) -> Option<Until> {
    let t: String = text.trim().chars().filter(|c| *c != '-' && *c != ':').collect();
    if t.len() == 8 {
        return NaiveDate::parse_from_str(&t, "%Y%m%d").ok().map(Until::Date);
    }
    let (t, utc) = match t.strip_suffix(['Z', 'z']) {
        Some(t) => (t, true),
        None => (t.as_str(), false),
    };
    let dt = NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%S").ok()?;
    Some(if utc { Until::Utc(dt) } else { Until::Local(dt) })
}

impl Rule {
    /// Reads an RRULE value (`FREQ=WEEKLY;BYDAY=MO,WE`; an `RRULE:` prefix is allowed). The
    /// error is a sentence naming the part at fault (`FREQ=SOMETIMES is not a frequency`).
    pub fn parse(text: &str) -> Result<Rule, String> {
        let text = text.trim();
        let text = text.strip_prefix("RRULE:").or_else(|| text.strip_prefix("rrule:")).unwrap_or(text);
        if text.is_empty() {
            return Err("is empty (write a rule such as FREQ=WEEKLY;BYDAY=MO)".into());
        }
        let mut rule = Rule {
            freq: Freq::Daily,
            interval: 1,
            count: None,
            until: None,
            by_second: vec![],
            by_minute: vec![],
            by_hour: vec![],
            by_day: vec![],
            by_month_day: vec![],
            by_year_day: vec![],
            by_week_no: vec![],
            by_month: vec![],
            by_set_pos: vec![],
            wkst: Weekday::Mon,
        };
        let mut freq = None;
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) =
                part.split_once('=').ok_or_else(|| format!("{part:?} is not a KEY=VALUE part"))?;
            let key = key.trim().to_ascii_uppercase();
            let value = value.trim().to_ascii_uppercase();
            let as_u32 = |v: Vec<i32>| v.into_iter().map(|n| n as u32).collect::<Vec<u32>>();
            match key.as_str() {
                "FREQ" => {
                    freq = Some(match value.as_str() {
                        "SECONDLY" => Freq::Secondly,
                        "MINUTELY" => Freq::Minutely,
                        "HOURLY" => Freq::Hourly,
                        "DAILY" => Freq::Daily,
                        "WEEKLY" => Freq::Weekly,
                        "MONTHLY" => Freq::Monthly,
                        "YEARLY" => Freq::Yearly,
                        _ => return Err(format!("FREQ={value} is not a frequency")),
                    })
                }
                "INTERVAL" => {
                    rule.interval = match value.parse::<u32>() {
                        Ok(n) if (1..=100_000).contains(&n) => n,
                        _ => return Err(format!("INTERVAL={value} is not a whole number from 1")),
                    }
                }
                "COUNT" => {
                    rule.count = match value.parse::<u32>() {
                        Ok(n) if n >= 1 => Some(n),
                        _ => return Err(format!("COUNT={value} is not a whole number from 1")),
                    }
                }
                "UNTIL" => {
                    rule.until = Some(
                        parse_until(&value)
                            .ok_or_else(|| format!("UNTIL={value} is not a date or date-time"))?,
                    )
                }
                "BYSECOND" => rule.by_second = as_u32(numbers(&key, &value, 0, 60, false)?),
                "BYMINUTE" => rule.by_minute = as_u32(numbers(&key, &value, 0, 59, false)?),
                "BYHOUR" => rule.by_hour = as_u32(numbers(&key, &value, 0, 23, false)?),
                "BYMONTHDAY" => rule.by_month_day = numbers(&key, &value, 1, 31, true)?,
                "BYYEARDAY" => rule.by_year_day = numbers(&key, &value, 1, 366, true)?,
                "BYWEEKNO" => rule.by_week_no = numbers(&key, &value, 1, 53, true)?,
                "BYMONTH" => rule.by_month = as_u32(numbers(&key, &value, 1, 12, false)?),
                "BYSETPOS" => rule.by_set_pos = numbers(&key, &value, 1, 366, true)?,
                "WKST" => {
                    rule.wkst = weekday(&value).ok_or_else(|| format!("WKST={value} is not a weekday"))?
                }
                "BYDAY" => {
                    for item in value.split(',').map(str::trim) {
                        if item.len() < 2 || !item.is_char_boundary(item.len() - 2) {
                            return Err(format!("BYDAY={value} has {item:?}, which is not a weekday"));
                        }
                        let (n, day) = item.split_at(item.len() - 2);
                        let day = weekday(day)
                            .ok_or_else(|| format!("BYDAY={value} has {item:?}, which is not a weekday"))?;
                        let n = if n.is_empty() || n == "+" {
                            None
                        } else {
                            match n.parse::<i32>() {
                                Ok(k) if k != 0 && k.abs() <= 53 => Some(k),
                                _ => {
                                    return Err(format!(
                                        "BYDAY={value} has {item:?}: the number must be 1 to 53 or -1 to -53"
                                    ));
                                }
                            }
                        };
                        rule.by_day.push((n, day));
                    }
                }
                // Extensions (RSCALE, SKIP, X-...) are not supported; unknown parts are errors
                // so that nothing is silently misread.
                _ => return Err(format!("{key} is not a part of a recurrence rule")),
            }
        }
        rule.freq = freq.ok_or("has no FREQ (write FREQ=DAILY, WEEKLY, MONTHLY or YEARLY)")?;
        if rule.count.is_some() && rule.until.is_some() {
            return Err("has both COUNT and UNTIL; give one".into());
        }
        if rule.by_day.iter().any(|(n, _)| n.is_some()) && !matches!(rule.freq, Freq::Monthly | Freq::Yearly)
        {
            return Err("BYDAY with a number (like -1FR) needs FREQ=MONTHLY or YEARLY".into());
        }
        if rule.freq == Freq::Yearly
            && !rule.by_week_no.is_empty()
            && rule.by_day.iter().any(|(n, _)| n.is_some())
        {
            return Err("BYDAY with a number cannot go with BYWEEKNO".into());
        }
        if !rule.by_week_no.is_empty() && rule.freq != Freq::Yearly {
            return Err("BYWEEKNO needs FREQ=YEARLY".into());
        }
        if !rule.by_year_day.is_empty() && matches!(rule.freq, Freq::Daily | Freq::Weekly | Freq::Monthly) {
            return Err(format!("BYYEARDAY cannot go with FREQ={}", rule.freq.name()));
        }
        if !rule.by_month_day.is_empty() && rule.freq == Freq::Weekly {
            return Err("BYMONTHDAY cannot go with FREQ=WEEKLY".into());
        }
        Ok(rule)
    }

    /// Whether the rule ends (COUNT or UNTIL).
    pub fn is_bounded(&self) -> bool {
        self.count.is_some() || self.until.is_some()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FREQ={}", self.freq.name())?;
        if self.interval != 1 {
            write!(f, ";INTERVAL={}", self.interval)?;
        }
        if let Some(c) = self.count {
            write!(f, ";COUNT={c}")?;
        }
        match self.until {
            Some(Until::Date(d)) => write!(f, ";UNTIL={}", d.format("%Y%m%d"))?,
            Some(Until::Local(t)) => write!(f, ";UNTIL={}", t.format("%Y%m%dT%H%M%S"))?,
            Some(Until::Utc(t)) => write!(f, ";UNTIL={}", t.format("%Y%m%dT%H%M%SZ"))?,
            None => {}
        }
        let list = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        let ulist = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        if !self.by_month.is_empty() {
            write!(f, ";BYMONTH={}", ulist(&self.by_month))?;
        }
        if !self.by_week_no.is_empty() {
            write!(f, ";BYWEEKNO={}", list(&self.by_week_no))?;
        }
        if !self.by_year_day.is_empty() {
            write!(f, ";BYYEARDAY={}", list(&self.by_year_day))?;
        }
        if !self.by_month_day.is_empty() {
            write!(f, ";BYMONTHDAY={}", list(&self.by_month_day))?;
        }
        if !self.by_day.is_empty() {
            let days: Vec<String> = self
                .by_day
                .iter()
                .map(|(n, d)| format!("{}{}", n.map(|n| n.to_string()).unwrap_or_default(), weekday_code(*d)))
                .collect();
            write!(f, ";BYDAY={}", days.join(","))?;
        }
        if !self.by_hour.is_empty() {
            write!(f, ";BYHOUR={}", ulist(&self.by_hour))?;
        }
        if !self.by_minute.is_empty() {
            write!(f, ";BYMINUTE={}", ulist(&self.by_minute))?;
        }
        if !self.by_second.is_empty() {
            write!(f, ";BYSECOND={}", ulist(&self.by_second))?;
        }
        if !self.by_set_pos.is_empty() {
            write!(f, ";BYSETPOS={}", list(&self.by_set_pos))?;
        }
        if self.wkst != Weekday::Mon {
            write!(f, ";WKST={}", weekday_code(self.wkst))?;
        }
        Ok(())
    }
}

/// How UNTIL compares with a generated local start: the caller says what a local start means
/// as a UTC instant (zoned events) or leaves it floating.
pub trait UntilCheck {
    /// Whether `local` (a generated start) is after UNTIL.
    fn after_until(&self, until: Until, local: NaiveDateTime) -> bool;
}

/// UNTIL for floating and all-day series: compared as local values.
pub struct Floating;

impl UntilCheck for Floating {
    fn after_until(&self, until: Until, local: NaiveDateTime) -> bool {
        match until {
            Until::Date(d) => local.date() > d,
            Until::Local(t) | Until::Utc(t) => local > t,
        }
    }
}

/// UNTIL for a series in a zone: a UTC UNTIL compares with the start's instant.
pub struct Zoned(pub chrono_tz::Tz);

impl UntilCheck for Zoned {
    fn after_until(&self, until: Until, local: NaiveDateTime) -> bool {
        match until {
            Until::Date(d) => local.date() > d,
            Until::Local(t) => local > t,
            Until::Utc(t) => super::resolve(self.0, local).naive_utc() > t,
        }
    }
}

/// The result of an expansion.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// Local starts, ascending, each `< end` (the window's end, exclusive) when one was given.
    pub starts: Vec<NaiveDateTime>,
    /// Stopped by the step bound or the output limit, not by the rule or the window.
    pub truncated: bool,
}

/// Expands `rule` from `dtstart` (the first instance: DTSTART always counts, as RFC 5545 says
/// and most clients do even when it does not match the rule) and returns the starts in
/// `[window_start, window_end)` (either end open when `None`), at most `limit` of them. COUNT
/// counts from `dtstart` whatever the window; without COUNT, periods wholly before the window
/// are skipped without being generated.
pub fn expand_window(
    rule: &Rule,
    dtstart: NaiveDateTime,
    window_start: Option<NaiveDateTime>,
    window_end: Option<NaiveDateTime>,
    limit: usize,
    until_check: &dyn UntilCheck,
) -> Expansion {
    let mut out = Expansion::default();
    let mut emitted: u32 = 0;
    // Returns false to stop.
    let mut push = |t: NaiveDateTime, out: &mut Expansion| -> bool {
        if let Some(u) = rule.until
            && until_check.after_until(u, t)
        {
            return false;
        }
        if let Some(end) = window_end
            && t >= end
        {
            return false;
        }
        emitted += 1;
        if window_start.is_none_or(|ws| t >= ws) {
            if out.starts.len() >= limit {
                out.truncated = true;
                return false;
            }
            out.starts.push(t);
        }
        rule.count.is_none_or(|c| emitted < c)
    };
    if !push(dtstart, &mut out) {
        return out;
    }
    if !rule.by_set_pos.is_empty()
        && rule.by_set_pos.iter().all(|p| p.unsigned_abs() as usize > max_set_size(rule))
    {
        // No period can have that many candidates: DTSTART is the only occurrence.
        return out;
    }
    let mut period = match window_start {
        Some(ws) if rule.count.is_none() && ws > dtstart => skip_periods(rule, dtstart, ws),
        _ => 0,
    };
    let mut work: u64 = 0;
    loop {
        if work > MAX_WORK {
            out.truncated = true;
            return out;
        }
        let Some(set) = period_set(rule, dtstart, period) else {
            return out;
        };
        work += set.cost;
        period += 1;
        let first = set.period_start;
        if let Some(end) = window_end
            && first >= end
        {
            return out;
        }
        match rule.until {
            Some(Until::Utc(u)) if first > u + Duration::days(2) => return out,
            Some(u @ (Until::Date(_) | Until::Local(_))) if until_check.after_until(u, first) => return out,
            _ => {}
        }
        for t in set.times {
            if t <= dtstart {
                continue;
            }
            if !push(t, &mut out) {
                return out;
            }
        }
    }
}

/// Expands a whole rule (or up to `window_end`), at most `limit` starts.
pub fn expand(
    rule: &Rule,
    dtstart: NaiveDateTime,
    window_end: Option<NaiveDateTime>,
    limit: usize,
    until_check: &dyn UntilCheck,
) -> Expansion {
    expand_window(rule, dtstart, None, window_end, limit, until_check)
}

/// The most candidates one period can hold (an upper bound), for BYSETPOS.
fn max_set_size(rule: &Rule) -> usize {
    let days = match rule.freq {
        Freq::Yearly => 366,
        Freq::Monthly => 31,
        Freq::Weekly => 7,
        _ => 1,
    };
    let sub_daily = matches!(rule.freq, Freq::Hourly | Freq::Minutely | Freq::Secondly);
    let n = |v: &Vec<u32>, fixed: bool| if fixed || v.is_empty() { 1 } else { v.len() };
    days * n(&rule.by_hour, sub_daily)
        * n(&rule.by_minute, matches!(rule.freq, Freq::Minutely | Freq::Secondly))
        * n(&rule.by_second, rule.freq == Freq::Secondly)
}

/// How many whole periods lie before the one holding `ws` (one fewer, to be safe).
fn skip_periods(rule: &Rule, dtstart: NaiveDateTime, ws: NaiveDateTime) -> i64 {
    let d0 = dtstart.date();
    let d = ws.date();
    let units = match rule.freq {
        Freq::Yearly => i64::from(d.year() - d0.year()),
        Freq::Monthly => i64::from(d.year() - d0.year()) * 12 + i64::from(d.month()) - i64::from(d0.month()),
        Freq::Weekly => (d - d0).num_days() / 7,
        Freq::Daily => (d - d0).num_days(),
        Freq::Hourly => (ws - dtstart).num_hours(),
        Freq::Minutely => (ws - dtstart).num_minutes(),
        Freq::Secondly => (ws - dtstart).num_seconds(),
    };
    (units / i64::from(rule.interval) - 1).max(0)
}

struct PeriodSet {
    /// The period's first moment (to stop on windows and UNTIL).
    period_start: NaiveDateTime,
    /// The instances of this period, ascending (BYSETPOS applied).
    times: Vec<NaiveDateTime>,
    /// Candidate days looked at (at least 1).
    cost: u64,
}

/// The instances in the `n`th period (year, month, week, day, hour, minute, second) after
/// DTSTART's, per RFC 5545's table of BYxxx expand/limit behaviour.
fn period_set(rule: &Rule, dtstart: NaiveDateTime, n: i64) -> Option<PeriodSet> {
    let step = n.checked_mul(i64::from(rule.interval))?;
    let date0 = dtstart.date();
    let time0 = dtstart.time();
    let mut days: Vec<NaiveDate> = Vec::new();
    let period_start: NaiveDateTime;
    let cost: u64 = match rule.freq {
        Freq::Yearly => 366,
        Freq::Monthly => 31,
        Freq::Weekly => 7,
        Freq::Daily => 1,
        // A sub-daily period costs as much as a few days: it allocates as much.
        _ => 4,
    };
    // Sub-daily frequencies fix the date (and the hour / minute) of the period.
    let mut fixed_hour = None;
    let mut fixed_minute = None;
    let mut fixed_second = None;
    match rule.freq {
        Freq::Yearly => {
            let year = i32::try_from(i64::from(date0.year()).checked_add(step)?).ok()?;
            let jan1 = NaiveDate::from_ymd_opt(year, 1, 1)?;
            period_start = jan1.and_time(NaiveTime::MIN);
            days = yearly_days(rule, year, date0);
        }
        Freq::Monthly => {
            let months = i64::from(date0.year()) * 12 + i64::from(date0.month0()) + step;
            let year = i32::try_from(months.div_euclid(12)).ok()?;
            let month = months.rem_euclid(12) as u32 + 1;
            let first = NaiveDate::from_ymd_opt(year, month, 1)?;
            period_start = first.and_time(NaiveTime::MIN);
            if rule.by_month.is_empty() || rule.by_month.contains(&month) {
                days = monthly_days(rule, year, month, date0);
            }
        }
        Freq::Weekly => {
            let week_start = date0 - Duration::days(days_from(rule.wkst, date0.weekday()));
            let start = week_start.checked_add_signed(Duration::try_weeks(step)?)?;
            period_start = start.and_time(NaiveTime::MIN);
            for i in 0..7 {
                let d = start + Duration::days(i);
                let day_ok = if rule.by_day.is_empty() {
                    d.weekday() == date0.weekday()
                } else {
                    rule.by_day.iter().any(|(_, w)| *w == d.weekday())
                };
                if day_ok && (rule.by_month.is_empty() || rule.by_month.contains(&d.month())) {
                    days.push(d);
                }
            }
        }
        Freq::Daily => {
            let d = date0.checked_add_signed(Duration::try_days(step)?)?;
            period_start = d.and_time(NaiveTime::MIN);
            if day_passes_limits(rule, d) {
                days.push(d);
            }
        }
        Freq::Hourly | Freq::Minutely | Freq::Secondly => {
            let unit = match rule.freq {
                Freq::Hourly => Duration::try_hours(step)?,
                Freq::Minutely => Duration::try_minutes(step)?,
                _ => Duration::try_seconds(step)?,
            };
            // Periods count from DTSTART truncated to the unit.
            let base = match rule.freq {
                Freq::Hourly => dtstart.with_minute(0)?.with_second(0)?,
                Freq::Minutely => dtstart.with_second(0)?,
                _ => dtstart,
            };
            let p = base.checked_add_signed(unit)?;
            period_start = p;
            let d = p.date();
            if day_passes_limits(rule, d) {
                days.push(d);
            }
            fixed_hour = Some(p.hour());
            if rule.freq != Freq::Hourly {
                fixed_minute = Some(p.minute());
            }
            if rule.freq == Freq::Secondly {
                fixed_second = Some(p.second());
            }
        }
    }
    // The common case: one time of day (DTSTART's), days already ascending.
    if fixed_hour.is_none()
        && rule.by_hour.is_empty()
        && rule.by_minute.is_empty()
        && rule.by_second.is_empty()
    {
        let mut times: Vec<NaiveDateTime> = days.iter().map(|d| d.and_time(time0)).collect();
        if !rule.by_set_pos.is_empty() {
            times = set_pos(&rule.by_set_pos, times);
        }
        return Some(PeriodSet { period_start, times, cost });
    }
    // Times of day.
    let hours: Vec<u32> = match fixed_hour {
        Some(h) if rule.by_hour.is_empty() || rule.by_hour.contains(&h) => vec![h],
        Some(_) => vec![],
        None if rule.by_hour.is_empty() => vec![time0.hour()],
        None => sorted(rule.by_hour.clone()),
    };
    let minutes: Vec<u32> = match fixed_minute {
        Some(m) if rule.by_minute.is_empty() || rule.by_minute.contains(&m) => vec![m],
        Some(_) => vec![],
        None if rule.by_minute.is_empty() => vec![time0.minute()],
        None => sorted(rule.by_minute.clone()),
    };
    let seconds: Vec<u32> = match fixed_second {
        Some(s) if rule.by_second.is_empty() || rule.by_second.contains(&s) => vec![s],
        Some(_) => vec![],
        None if rule.by_second.is_empty() => vec![time0.second()],
        None => sorted(rule.by_second.clone()),
    };
    let mut times = Vec::with_capacity(days.len() * hours.len() * minutes.len() * seconds.len());
    for d in &days {
        for h in &hours {
            for m in &minutes {
                for s in &seconds {
                    // Second 60 (a leap second) reads as 59.
                    if let Some(t) = NaiveTime::from_hms_opt(*h, *m, (*s).min(59)) {
                        times.push(d.and_time(t));
                    }
                }
            }
        }
    }
    times.sort();
    times.dedup();
    if !rule.by_set_pos.is_empty() {
        times = set_pos(&rule.by_set_pos, times);
    }
    Some(PeriodSet { period_start, times, cost })
}

/// BYSETPOS: the chosen positions of a period's ascending candidates.
fn set_pos(positions: &[i32], times: Vec<NaiveDateTime>) -> Vec<NaiveDateTime> {
    let len = times.len() as i32;
    let mut picked: Vec<NaiveDateTime> = positions
        .iter()
        .filter_map(|&p| {
            let i = if p > 0 { p - 1 } else { len + p };
            (0..len).contains(&i).then(|| times[i as usize])
        })
        .collect();
    picked.sort();
    picked.dedup();
    picked
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Days from `from` forward to `to` (0 to 6).
fn days_from(from: Weekday, to: Weekday) -> i64 {
    (i64::from(to.num_days_from_monday()) - i64::from(from.num_days_from_monday())).rem_euclid(7)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.and_then(|n| n.pred_opt()).map(|d| d.day()).unwrap_or(28)
}

fn days_in_year(year: i32) -> u32 {
    if NaiveDate::from_ymd_opt(year, 2, 29).is_some() { 366 } else { 365 }
}

/// Whether a month day matches BYMONTHDAY (negative counts from the month's end).
fn month_day_matches(list: &[i32], d: NaiveDate) -> bool {
    let dim = days_in_month(d.year(), d.month()) as i32;
    let day = d.day() as i32;
    list.iter().any(|&m| if m > 0 { m == day } else { dim + m + 1 == day })
}

fn year_day_matches(list: &[i32], d: NaiveDate) -> bool {
    let diy = days_in_year(d.year()) as i32;
    let day = d.ordinal() as i32;
    list.iter().any(|&y| if y > 0 { y == day } else { diy + y + 1 == day })
}

/// The limits DAILY and sub-daily rules apply to a day (BYMONTH, BYYEARDAY, BYMONTHDAY, BYDAY).
fn day_passes_limits(rule: &Rule, d: NaiveDate) -> bool {
    (rule.by_month.is_empty() || rule.by_month.contains(&d.month()))
        && (rule.by_year_day.is_empty() || year_day_matches(&rule.by_year_day, d))
        && (rule.by_month_day.is_empty() || month_day_matches(&rule.by_month_day, d))
        && (rule.by_day.is_empty() || rule.by_day.iter().any(|(_, w)| *w == d.weekday()))
}

/// The days of `month` a MONTHLY rule (or a YEARLY one with BYMONTH) yields.
fn monthly_days(rule: &Rule, year: i32, month: u32, date0: NaiveDate) -> Vec<NaiveDate> {
    let dim = days_in_month(year, month);
    let all = (1..=dim).filter_map(|d| NaiveDate::from_ymd_opt(year, month, d));
    if rule.by_month_day.is_empty() && rule.by_day.is_empty() {
        // The day of DTSTART; months without it are skipped (RFC 5545: FEB 30 is no date).
        return NaiveDate::from_ymd_opt(year, month, date0.day()).into_iter().collect();
    }
    let month_days: Vec<NaiveDate> = all.collect();
    month_days
        .iter()
        .copied()
        .filter(|d| rule.by_month_day.is_empty() || month_day_matches(&rule.by_month_day, *d))
        .filter(|d| rule.by_day.is_empty() || by_day_in(&rule.by_day, *d, &month_days))
        .collect()
}

/// Whether `d` matches BYDAY within `span` (a month's or a year's days): `2MO` is the span's
/// second Monday, `-1FR` its last Friday.
fn by_day_in(by_day: &[(Option<i32>, Weekday)], d: NaiveDate, span: &[NaiveDate]) -> bool {
    by_day.iter().any(|(n, w)| {
        if *w != d.weekday() {
            return false;
        }
        match n {
            None => true,
            Some(k) => {
                let Some(first) = span.first() else { return false };
                let Some(last) = span.last() else { return false };
                if *k > 0 {
                    let index = (d - *first).num_days() / 7 + 1;
                    index == i64::from(*k)
                } else {
                    let index = (*last - d).num_days() / 7 + 1;
                    index == i64::from(-*k)
                }
            }
        }
    })
}

/// ISO-style week number of `d` with weeks starting on `wkst` (week 1 holds at least 4 days of
/// the year), and the number of weeks in that year.
fn week_of(d: NaiveDate, wkst: Weekday) -> (i32, i32, i32) {
    let year_weeks = |y: i32| -> (NaiveDate, i32) {
        let jan1 = NaiveDate::from_ymd_opt(y, 1, 1).unwrap_or(NaiveDate::MIN);
        let back = days_from(wkst, jan1.weekday());
        // Week 1 starts on the wkst on or before Jan 1 if that week has >= 4 days in y.
        let start = if back <= 3 { jan1 - Duration::days(back) } else { jan1 + Duration::days(7 - back) };
        let next_jan1 = NaiveDate::from_ymd_opt(y + 1, 1, 1).unwrap_or(NaiveDate::MAX);
        let nback = days_from(wkst, next_jan1.weekday());
        let next_start = if nback <= 3 {
            next_jan1 - Duration::days(nback)
        } else {
            next_jan1 + Duration::days(7 - nback)
        };
        (start, ((next_start - start).num_days() / 7) as i32)
    };
    let y = d.year();
    let (start, weeks) = year_weeks(y);
    if d < start {
        let (pstart, pweeks) = year_weeks(y - 1);
        return (y - 1, ((d - pstart).num_days() / 7) as i32 + 1, pweeks);
    }
    let w = ((d - start).num_days() / 7) as i32 + 1;
    if w > weeks {
        let (_, nweeks) = year_weeks(y + 1);
        return (y + 1, 1, nweeks);
    }
    (y, w, weeks)
}

/// The days of `year` a YEARLY rule yields.
fn yearly_days(rule: &Rule, year: i32, date0: NaiveDate) -> Vec<NaiveDate> {
    let has_other = !rule.by_year_day.is_empty()
        || !rule.by_month_day.is_empty()
        || !rule.by_day.is_empty()
        || !rule.by_week_no.is_empty();
    if !has_other {
        // BYMONTH alone (or nothing): DTSTART's day in each listed month (or DTSTART's month).
        let months =
            if rule.by_month.is_empty() { vec![date0.month()] } else { sorted(rule.by_month.clone()) };
        return months.into_iter().filter_map(|m| NaiveDate::from_ymd_opt(year, m, date0.day())).collect();
    }
    let Some(jan1) = NaiveDate::from_ymd_opt(year, 1, 1) else { return vec![] };
    let year_days: Vec<NaiveDate> = (0..days_in_year(year))
        .filter_map(|i| jan1.checked_add_signed(Duration::days(i64::from(i))))
        .collect();
    // BYDAY with a number counts within the month when BYMONTH is given, else within the year.
    let month_spans = !rule.by_month.is_empty();
    let mut out = Vec::new();
    let mut month_cache: Option<(u32, Vec<NaiveDate>)> = None;
    for &d in &year_days {
        if !rule.by_month.is_empty() && !rule.by_month.contains(&d.month()) {
            continue;
        }
        if !rule.by_week_no.is_empty() {
            let (wy, w, weeks) = week_of(d, rule.wkst);
            if wy != year {
                continue;
            }
            if !rule.by_week_no.iter().any(|&n| if n > 0 { n == w } else { weeks + n + 1 == w }) {
                continue;
            }
        }
        if !rule.by_year_day.is_empty() && !year_day_matches(&rule.by_year_day, d) {
            continue;
        }
        if !rule.by_month_day.is_empty() && !month_day_matches(&rule.by_month_day, d) {
            continue;
        }
        if !rule.by_day.is_empty() {
            let ok = if month_spans {
                if month_cache.as_ref().map(|(m, _)| *m) != Some(d.month()) {
                    let days: Vec<NaiveDate> = (1..=days_in_month(year, d.month()))
                        .filter_map(|x| NaiveDate::from_ymd_opt(year, d.month(), x))
                        .collect();
                    month_cache = Some((d.month(), days));
                }
                month_cache.as_ref().is_some_and(|(_, days)| by_day_in(&rule.by_day, d, days))
            } else {
                by_day_in(&rule.by_day, d, &year_days)
            };
            if !ok {
                continue;
            }
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_and_print_back() {
        for text in [
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            "FREQ=MONTHLY;BYDAY=-1FR",
            "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=-1",
            "FREQ=YEARLY;UNTIL=20300101T000000Z;BYMONTH=3;BYDAY=-1SU",
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "FREQ=WEEKLY;INTERVAL=2;WKST=SU",
        ] {
            assert_eq!(Rule::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn bad_rules_say_which_part() {
        for (text, want) in [
            ("FREQ=SOMETIMES", "FREQ=SOMETIMES is not a frequency"),
            ("BYDAY=MO", "has no FREQ"),
            ("FREQ=DAILY;COUNT=0", "COUNT=0 is not a whole number from 1"),
            ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY=32: 32 is outside"),
            ("FREQ=DAILY;BYDAY=XX", "BYDAY=XX has \"XX\", which is not a weekday"),
            ("FREQ=DAILY;FOO=1", "FOO is not a part"),
            ("FREQ=DAILY;COUNT=2;UNTIL=20260101", "both COUNT and UNTIL"),
            ("FREQ=WEEKLY;BYDAY=1MO", "needs FREQ=MONTHLY or YEARLY"),
            ("FREQ=DAILY;BYDAY=é", "not a weekday"),
        ] {
            let e = Rule::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    /// Skipping the periods before a window (rules without COUNT) finds exactly what walking
    /// from DTSTART and keeping the window's part finds, whatever the BYxxx parts and zone.
    #[test]
    fn jumping_ahead_finds_what_walking_from_the_start_finds() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap();
        let rules = [
            "FREQ=DAILY",
            "FREQ=DAILY;INTERVAL=3",
            "FREQ=DAILY;BYDAY=MO,FR;BYMONTH=3,10",
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            "FREQ=WEEKLY;INTERVAL=2",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,TU;WKST=SU",
            "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,SA;WKST=WE",
            "FREQ=MONTHLY;BYDAY=-1FR",
            "FREQ=MONTHLY;INTERVAL=5;BYDAY=2TU,-2SU",
            "FREQ=MONTHLY;BYMONTHDAY=31",
            "FREQ=MONTHLY;BYMONTHDAY=-1,15",
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "FREQ=MONTHLY;INTERVAL=2;BYDAY=SA,SU;BYSETPOS=1,-2",
            "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
            "FREQ=YEARLY;INTERVAL=2;BYMONTH=2;BYMONTHDAY=29",
            "FREQ=YEARLY;BYWEEKNO=1,-1;BYDAY=MO;WKST=SU",
            "FREQ=YEARLY;BYYEARDAY=1,-1,100",
            "FREQ=YEARLY;BYDAY=20MO",
            "FREQ=DAILY;BYHOUR=1,2,3;BYMINUTE=0,30",
            "FREQ=HOURLY;INTERVAL=5;BYDAY=SU",
            "FREQ=MINUTELY;INTERVAL=97;BYHOUR=2",
            "FREQ=DAILY;UNTIL=20290101T000000Z",
            "FREQ=WEEKLY;BYDAY=SU;UNTIL=20280326",
            "FREQ=MONTHLY;BYDAY=-1SU;UNTIL=20281029T013000",
        ];
        let starts = ["2023-01-31T02:30", "2024-02-29T09:00", "2023-10-29T02:30", "2023-03-26T01:30"];
        let windows = [
            ("2026-03-01T00:00", "2026-04-12T00:00"),
            ("2026-10-20T00:00", "2026-11-05T00:00"),
            ("2027-01-01T00:00", "2028-01-01T00:00"),
            ("2028-03-20T00:00", "2028-04-01T00:00"),
            ("2023-01-01T00:00", "2023-03-01T00:00"),
        ];
        let zones: [&dyn UntilCheck; 4] = [
            &Floating,
            &Zoned(chrono_tz::Europe::Berlin),
            &Zoned(chrono_tz::America::New_York),
            &Zoned(chrono_tz::Australia::Lord_Howe),
        ];
        for text in rules {
            let rule = Rule::parse(text).unwrap();
            for start in starts {
                let dtstart = at(start);
                for (ws, we) in windows {
                    let (ws, we) = (at(ws), at(we));
                    for check in zones {
                        let walked: Vec<NaiveDateTime> = expand(&rule, dtstart, Some(we), 1_000_000, check)
                            .starts
                            .into_iter()
                            .filter(|t| *t >= ws)
                            .collect();
                        let jumped = expand_window(&rule, dtstart, Some(ws), Some(we), 1_000_000, check);
                        assert!(!jumped.truncated, "{text} from {start}");
                        assert_eq!(jumped.starts, walked, "{text} from {start} in [{ws}, {we})");
                    }
                }
            }
        }
    }
}
