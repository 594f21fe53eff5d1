//! The quick-add grammar: one line of text -> a todo.txt priority + body.
//! One parser for the page, the API, the CLI and the agent tools.
//!
//! Rules:
//! - todo.txt syntax anywhere: `(A)` at the very start, `+project`,
//!   `@context`, `due:` / `t:` / `rec:` (validated; a `due:` is rewritten to
//!   its canonical form with a UTC offset), any other `key:value` verbatim.
//! - Todoist-style pieces are recognised and leave the title: `p1`..`p4`
//!   (`(A)` wins), the date/time phrases of [`crate::dates`], and
//!   `every ...` / `every! ...` recurrences. Generated tokens (`due:`, `rec:`)
//!   are appended at the end; every other word keeps its place.
//! - An explicit `due:` wins over a written date (which then stays text), and
//!   an explicit `rec:` over an `every` phrase.
//! - Impossible dates and invalid tags are errors, never silently text; so
//!   is an empty task, one with nothing left for a title, or one longer than
//!   [`MAX_LEN`] characters (checked first).
//! - Only the first date phrase is used (a later time can complete it:
//!   `tomorrow ... at 5pm`); later ones stay text.

use chrono::DateTime;
use chrono_tz::Tz;

use crate::dates::{Meaning, ParseError, Repeat, match_phrase, match_repeat};
use crate::tasks::recur::Recurrence;
use crate::tasks::todotxt::{Due, Token, classify, parse_body};

/// A todo.txt line's priority and body; derived fields come from
/// [`crate::tasks::todotxt::parse_body`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickAdd {
    pub priority: Option<char>,
    pub body: String,
}

/// The longest accepted text, in characters.
pub const MAX_LEN: usize = 4000;

fn priority_word(w: &str) -> Option<char> {
    let mut chars = w.chars();
    match (chars.next(), chars.next(), chars.next(), chars.next()) {
        (Some('('), Some(p), Some(')'), None) if p.is_ascii_uppercase() => Some(p),
        _ => None,
    }
}

/// `p1`..`p4` -> Some(A, B, C, none).
fn todoist_priority(w: &str) -> Option<Option<char>> {
    match w.to_ascii_lowercase().as_str() {
        "p1" => Some(Some('A')),
        "p2" => Some(Some('B')),
        "p3" => Some(Some('C')),
        "p4" => Some(None),
        _ => None,
    }
}

fn preview(text: &str) -> String {
    let mut s: String = text.trim_start().chars().take(30).collect();
    s.push('…');
    s
}

pub fn parse(text: &str, now: DateTime<Tz>) -> Result<QuickAdd, ParseError> {
    // Bytes >= chars, so only a long text needs counting.
    if text.len() > MAX_LEN {
        let n = text.chars().count();
        if n > MAX_LEN {
            return Err(ParseError::new(
                preview(text),
                format!("is {n} characters long; the limit is {MAX_LEN}"),
            ));
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Err(ParseError::new("task", "is empty"));
    }
    let tz = now.timezone();
    let mut priority = words.first().and_then(|w| priority_word(w));
    let start = usize::from(priority.is_some());

    // Validate the explicit tags first: they decide whether phrases count.
    let mut explicit_due = false;
    let mut explicit_rec = false;
    let mut explicit_remind = false;
    for w in words.iter().skip(start) {
        match classify(w) {
            Token::Tag("due", v) => {
                Due::parse(v, tz)?;
                explicit_due = true;
            }
            Token::Tag("t", v) => match crate::dates::parse_iso_date(v) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(ParseError::new(*w, "is not a date (use YYYY-MM-DD)"));
                }
                Err(e) => return Err(ParseError::new(*w, e)),
            },
            Token::Tag("rec", v) => {
                Recurrence::parse(v)?;
                explicit_rec = true;
            }
            Token::Tag(crate::reminders::TAG, v) => {
                if !v.eq_ignore_ascii_case("none") && reminder_leads(v).is_none() {
                    return Err(ParseError::new(*w, "is not a list of times before, like remind:1d,10m"));
                }
                explicit_remind = true;
            }
            _ => {}
        }
    }

    let mut kept: Vec<String> = Vec::with_capacity(words.len() + 2);
    let mut todoist: Option<Option<char>> = None;
    let mut phrase: Option<Meaning> = None;
    let mut repeat: Option<Repeat> = None;
    let mut remind: Option<String> = None;
    let mut i = start;
    while let Some(&w) = words.get(i) {
        match classify(w) {
            Token::Text(_) => {}
            Token::Tag("due", v) => {
                kept.push(format!("due:{}", Due::parse(v, tz)?.to_value()));
                i += 1;
                continue;
            }
            _ => {
                kept.push(w.to_string());
                i += 1;
                continue;
            }
        }
        if todoist.is_none()
            && let Some(p) = todoist_priority(w)
        {
            todoist = Some(p);
            i += 1;
            continue;
        }
        // `remind 1h`, `remind 1d,10m`, `remind none`: otherwise `remind` is just a word.
        if w.eq_ignore_ascii_case("remind")
            && !explicit_remind
            && remind.is_none()
            && let Some(leads) = words.get(i + 1).and_then(|n| {
                if n.eq_ignore_ascii_case("none") { Some("none".to_string()) } else { reminder_leads(n) }
            })
        {
            remind = Some(leads);
            i += 2;
            continue;
        }
        if let Some((n, r)) = match_repeat(&words, i, now)? {
            if explicit_rec || repeat.is_some() {
                // Keep the whole phrase as text, so `monday` in `every monday`
                // is not read as a date on its own.
                kept.extend(words.iter().skip(i).take(n).map(|s| s.to_string()));
            } else {
                repeat = Some(r);
            }
            i += n;
            continue;
        }
        if !explicit_due && let Some(p) = match_phrase(&words, i, now)? {
            let merged = match phrase {
                None => Some(p.meaning),
                Some(prev) => prev.combine(p.meaning),
            };
            match merged {
                Some(m) => phrase = Some(m),
                None => kept.extend(words.iter().skip(i).take(p.words).map(|s| s.to_string())),
            }
            i += p.words;
            continue;
        }
        kept.push(w.to_string());
        i += 1;
    }

    let when = match (phrase, repeat) {
        (Some(Meaning::Time { time, .. }), Some(r)) => Some(r.first(Some(time), now)),
        (Some(m), Some(r)) => {
            let with_time = r.time.and_then(|time| m.combine(Meaning::Time { time, bare: false }));
            Some(with_time.unwrap_or(m).resolve(now))
        }
        (Some(m), None) => Some(m.resolve(now)),
        (None, Some(r)) => Some(r.first(None, now)),
        (None, None) => None,
    };
    // An explicit `due:` wins over what a recurrence phrase would start from.
    if let Some(when) = when.filter(|_| !explicit_due) {
        kept.push(format!("due:{}", Due::from_when(when, &words.join(" "))?.to_value()));
    }
    if let Some(r) = repeat {
        let rec = Recurrence { every: r.every, unit: r.unit, strict: r.strict };
        kept.push(format!("rec:{rec}"));
    }
    if let Some(r) = remind {
        kept.push(format!("{}:{r}", crate::reminders::TAG));
    }
    let body = kept.join(" ");
    if parse_body(&body).title.is_empty() {
        return Err(ParseError::new(words.join(" "), "leaves nothing for a title"));
    }
    if priority.is_none() {
        priority = todoist.flatten();
    }
    Ok(QuickAdd { priority, body })
}

/// `1d,10m` as the `remind:` tag writes it, if every piece is a time before.
fn reminder_leads(text: &str) -> Option<String> {
    let items: Vec<&str> = text.split(',').collect();
    let leads = crate::reminders::parse_leads(&items).ok()?;
    (!leads.is_empty()).then(|| crate::reminders::leads_text(&leads))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::resolve_local;
    use chrono::NaiveDateTime;
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Berlin;

    fn at(tz: Tz, s: &str) -> DateTime<Tz> {
        resolve_local(tz, NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
    }

    /// Results are written as a todo.txt prefix + body: `(A) body`.
    fn show(q: &QuickAdd) -> String {
        match q.priority {
            Some(p) => format!("({p}) {}", q.body),
            None => q.body.clone(),
        }
    }

    // Sunday 2026-11-22 10:00 Europe/Berlin.
    const NOW: &str = "2026-11-22 10:00";

    #[test]
    fn quick_add_table() {
        let now = at(Berlin, NOW);
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            // the brief's example
            ("Call mom tomorrow 5pm +family @phone p1", "(A) Call mom +family @phone due:2026-11-23T17:00+01:00"),
            // plain text and todo.txt syntax
            ("Buy milk", "Buy milk"),
            ("  Buy   milk  ", "Buy milk"),
            ("(A) Buy milk", "(A) Buy milk"),
            ("(A) Buy milk p2", "(A) Buy milk"),
            ("Buy milk (A)", "Buy milk (A)"),
            ("(a) Buy milk", "(a) Buy milk"),
            ("Buy milk +home @shop", "Buy milk +home @shop"),
            // a lone sigil (or one before punctuation only) is text: the title keeps it
            ("Buy bread +", "Buy bread +"),
            ("Buy bread @ +home", "Buy bread @ +home"),
            ("Fix C++ build ++ @@ +!", "Fix C++ build ++ @@ +!"),
            ("+ @", "+ @"),
            ("+home Buy @shop milk", "+home Buy @shop milk"),
            ("Buy milk due:2026-12-01", "Buy milk due:2026-12-01"),
            ("Buy milk due:2026-12-01T09:00", "Buy milk due:2026-12-01T09:00+01:00"),
            ("Buy milk due:2026-12-01T09:00Z", "Buy milk due:2026-12-01T09:00+00:00"),
            ("Buy milk due:2026-12-01T09:00:00-05:00", "Buy milk due:2026-12-01T09:00-05:00"),
            ("Buy milk t:2026-11-30 due:2026-12-01", "Buy milk t:2026-11-30 due:2026-12-01"),
            ("Water plants rec:+1w due:2026-11-23", "Water plants rec:+1w due:2026-11-23"),
            ("Water plants rec:1w", "Water plants rec:1w"),
            ("Read note:foo pri:A", "Read note:foo pri:A"),
            // explicit due wins; the phrase stays text
            ("Call mom tomorrow due:2026-12-01", "Call mom tomorrow due:2026-12-01"),
            ("Call mom feb 30 due:2026-12-01", "Call mom feb 30 due:2026-12-01"),
            ("Gym every monday rec:+2w", "Gym every monday rec:+2w"),
            // todoist priorities
            ("Buy milk p1", "(A) Buy milk"),
            ("Buy milk p2", "(B) Buy milk"),
            ("Buy milk P3", "(C) Buy milk"),
            ("Buy milk p4", "Buy milk"),
            ("p2 Buy milk", "(B) Buy milk"),
            ("Buy p1 milk p2", "(A) Buy milk p2"),
            ("Buy milk p5", "Buy milk p5"),
            ("Buy milk p", "Buy milk p"),
            // date phrases
            ("Pay rent today", "Pay rent due:2026-11-22"),
            ("Pay rent tomorrow", "Pay rent due:2026-11-23"),
            ("Pay rent tmr", "Pay rent due:2026-11-23"),
            ("Pay rent fri", "Pay rent due:2026-11-27"),
            ("Pay rent on friday", "Pay rent due:2026-11-27"),
            ("Pay rent next week", "Pay rent due:2026-11-23"),
            ("Pay rent next month", "Pay rent due:2026-12-01"),
            ("Pay rent end of month", "Pay rent due:2026-11-30"),
            ("Pay rent in 3 days", "Pay rent due:2026-11-25"),
            ("Pay rent in 2 weeks", "Pay rent due:2026-12-06"),
            ("Pay rent in 1 month", "Pay rent due:2026-12-22"),
            ("Pay rent in 1 year", "Pay rent due:2027-11-22"),
            ("Tea in 20m", "Tea due:2026-11-22T10:20+01:00"),
            ("Tea in 20 min", "Tea due:2026-11-22T10:20+01:00"),
            ("Tea in 2 hours", "Tea due:2026-11-22T12:00+01:00"),
            ("Tea in 1h30m", "Tea due:2026-11-22T11:30+01:00"),
            ("Party dec 24", "Party due:2026-12-24"),
            ("Party 24 dec", "Party due:2026-12-24"),
            ("Party december 24", "Party due:2026-12-24"),
            ("Party 24th december", "Party due:2026-12-24"),
            ("Party dec 24 2027", "Party due:2027-12-24"),
            ("Party on dec 24", "Party due:2026-12-24"),
            ("Party 2026-12-24", "Party due:2026-12-24"),
            ("Party 2026-12-24 17:00", "Party due:2026-12-24T17:00+01:00"),
            ("Party 2026-12-24T17:00Z", "Party due:2026-12-24T18:00+01:00"),
            ("Dinner tonight", "Dinner due:2026-11-22T20:00+01:00"),
            ("Dinner tonight at 9", "Dinner due:2026-11-22T21:00+01:00"),
            ("Dinner at 9 tonight", "Dinner due:2026-11-22T21:00+01:00"),
            ("Lunch at noon", "Lunch due:2026-11-22T12:00+01:00"),
            ("Lunch noon tomorrow", "Lunch due:2026-11-23T12:00+01:00"),
            // times
            ("Call 5pm", "Call due:2026-11-22T17:00+01:00"),
            ("Call at 9:30", "Call due:2026-11-23T09:30+01:00"),
            ("Call at 17", "Call due:2026-11-22T17:00+01:00"),
            ("Call 5 pm", "Call due:2026-11-22T17:00+01:00"),
            ("Meeting 10:30 room 4", "Meeting room 4 due:2026-11-22T10:30+01:00"),
            ("Call 5pm tomorrow", "Call due:2026-11-23T17:00+01:00"),
            ("Call fri 17:30", "Call due:2026-11-27T17:30+01:00"),
            ("Call dec 24 at 9am", "Call due:2026-12-24T09:00+01:00"),
            // a separate time completes the first day
            ("Call tomorrow about taxes at 5pm", "Call about taxes due:2026-11-23T17:00+01:00"),
            ("At 5pm call mom tomorrow", "call mom due:2026-11-23T17:00+01:00"),
            // later phrases stay text
            ("Move tomorrow to fri", "Move to fri due:2026-11-23"),
            ("Call 5pm or 6pm", "Call or 6pm due:2026-11-22T17:00+01:00"),
            ("Call tomorrow 5pm or fri 6pm", "Call or fri 6pm due:2026-11-23T17:00+01:00"),
            // recurrence
            ("Stretch every day", "Stretch due:2026-11-22 rec:+1d"),
            ("Standup every weekday", "Standup due:2026-11-23 rec:+1b"),
            ("Gym every monday", "Gym due:2026-11-23 rec:+1w"),
            ("Church every sunday", "Church due:2026-11-22 rec:+1w"),
            ("Review every week", "Review due:2026-11-22 rec:+1w"),
            ("Review every 2 weeks", "Review due:2026-11-22 rec:+2w"),
            ("Review every other week", "Review due:2026-11-22 rec:+2w"),
            ("Rent every month", "Rent due:2026-11-22 rec:+1m"),
            ("Rent every month on the 1st", "Rent due:2026-12-01 rec:+1m"),
            ("Taxes due:2026-12-31 every year", "Taxes due:2026-12-31 rec:+1y"),
            ("Taxes every year due:2026-12-31", "Taxes due:2026-12-31 rec:+1y"),
            ("Water every 3 days", "Water due:2026-11-22 rec:+3d"),
            ("Taxes every year", "Taxes due:2026-11-22 rec:+1y"),
            ("Haircut every! 3 days", "Haircut due:2026-11-22 rec:3d"),
            ("Haircut every! week", "Haircut due:2026-11-22 rec:1w"),
            ("Call Ana tomorrow 5pm remind 1h", "Call Ana due:2026-11-23T17:00+01:00 remind:1h"),
            ("Taxes dec 24 remind 1d,10m", "Taxes due:2026-12-24 remind:1d,10m"),
            ("Taxes dec 24 remind 10m,1w", "Taxes due:2026-12-24 remind:1w,10m"),
            ("Remind Bob about lunch", "Remind Bob about lunch"),
            ("Pay rent remind none", "Pay rent remind:none"),
            ("Meds every day at 9am", "Meds due:2026-11-23T09:00+01:00 rec:+1d"),
            ("Meds every day at 11am", "Meds due:2026-11-22T11:00+01:00 rec:+1d"),
            ("Meds at 9am every day", "Meds due:2026-11-23T09:00+01:00 rec:+1d"),
            ("Gym every monday at 18:00", "Gym due:2026-11-23T18:00+01:00 rec:+1w"),
            ("Gym every monday starting dec 7", "Gym starting due:2026-12-07 rec:+1w"),
            ("Meds every day at 9am from tomorrow", "Meds from due:2026-11-23T09:00+01:00 rec:+1d"),
            ("Gym every monday every friday", "Gym every friday due:2026-11-23 rec:+1w"),
            ("Every time I try", "Every time I try"),
            ("Gym +health every monday p2 @gym", "(B) Gym +health @gym due:2026-11-23 rec:+1w"),
            // not dates
            ("Compute 2+2", "Compute 2+2"),
            ("Mail bob@example.com", "Mail bob@example.com"),
            ("Read https://example.org/a?b=c", "Read https://example.org/a?b=c"),
            ("Buy 24 eggs", "Buy 24 eggs"),
            ("Buy dec paint", "Buy dec paint"),
            ("Meet at the office", "Meet at the office"),
            ("Meet at 25 Baker street", "Meet at 25 Baker street"),
            ("Enjoy the sun", "Enjoy the sun"),
            ("Sat exam", "Sat exam"),
            ("Put 3 in 2 boxes", "Put 3 in 2 boxes"),
            ("In the end of it", "In the end of it"),
            ("Next thing", "Next thing"),
            ("Plan next week", "Plan due:2026-11-23"),
            // unicode
            ("Äpfel kaufen morgen", "Äpfel kaufen morgen"),
            ("Café ☕ tomorrow", "Café ☕ due:2026-11-23"),
            ("日本語のタスク tomorrow +東京", "日本語のタスク +東京 due:2026-11-23"),
            ("🙂", "🙂"),
            ("Straße\u{3000}fegen\u{a0}fri", "Straße fegen due:2026-11-27"),
        ];
        for (text, want) in cases {
            let got = parse(text, now).map(|q| show(&q));
            assert_eq!(got.as_deref(), Ok(*want), "{text}");
        }
    }

    #[test]
    fn quick_add_clocks() {
        // (zone, now, text, expected)
        #[rustfmt::skip]
        let cases: &[(Tz, &str, &str, &str)] = &[
            (Berlin, "2026-12-31 12:00", "Party tomorrow", "Party due:2027-01-01"),
            (Berlin, "2026-12-31 12:00", "Party dec 24", "Party due:2027-12-24"),
            (Berlin, "2026-12-31 12:00", "Rent every month on the 1st", "Rent due:2027-01-01 rec:+1m"),
            (Berlin, "2026-12-31 23:00", "Meds every day at 9am", "Meds due:2027-01-01T09:00+01:00 rec:+1d"),
            (Berlin, "2027-01-31 12:00", "Pay in 1 month", "Pay due:2027-02-28"),
            (Berlin, "2027-01-31 12:00", "Rent every month on the 31st", "Rent due:2027-01-31 rec:+1m"),
            (Berlin, "2027-02-01 12:00", "Rent every month on the 31st", "Rent due:2027-03-31 rec:+1m"),
            (Berlin, "2027-02-28 12:00", "Cake feb 29", "Cake due:2028-02-29"),
            (Berlin, "2028-02-28 12:00", "Cake tomorrow", "Cake due:2028-02-29"),
            (Berlin, "2028-02-28 12:00", "Cake end of month", "Cake due:2028-02-29"),
            (Berlin, "2026-11-27 12:00", "Standup every weekday", "Standup due:2026-11-27 rec:+1b"),
            (Berlin, "2026-11-27 12:00", "Standup every weekday at 9am", "Standup due:2026-11-30T09:00+01:00 rec:+1b"),
            (Berlin, "2026-11-28 12:00", "Standup every weekday", "Standup due:2026-11-30 rec:+1b"),
            (Berlin, "2026-03-28 12:00", "Night shift tomorrow 2:30am", "Night shift due:2026-03-29T03:00+02:00"),
            (Berlin, "2026-10-24 12:00", "Night shift tomorrow 2:30am", "Night shift due:2026-10-25T02:30+02:00"),
            (Berlin, "2026-10-25 00:00", "Night shift 2:30am", "Night shift due:2026-10-25T02:30+02:00"),
            (New_York, "2026-03-07 12:00", "Call tomorrow 2:30am", "Call due:2026-03-08T03:00-04:00"),
            (New_York, "2026-11-22 10:00", "Call tomorrow 5pm", "Call due:2026-11-23T17:00-05:00"),
            (chrono_tz::Australia::Lord_Howe, "2026-10-03 12:00", "Call tomorrow 2:15am", "Call due:2026-10-04T02:30+11:00"),
        ];
        for (tz, now, text, want) in cases {
            let got = parse(text, at(*tz, now)).map(|q| show(&q));
            assert_eq!(got.as_deref(), Ok(*want), "{text} at {now} {tz}");
        }
    }

    #[test]
    fn quick_add_errors() {
        let now = at(Berlin, NOW);
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("", "task", "is empty"),
            ("   \t ", "task", "is empty"),
            ("tomorrow p1", "tomorrow p1", "leaves nothing for a title"),
            ("(A)", "(A)", "leaves nothing for a title"),
            ("(A) +proj @ctx due:2026-12-01", "(A) +proj @ctx due:2026-12-01", "leaves nothing for a title"),
            ("every day", "every day", "leaves nothing for a title"),
            ("Pay due:2027-02-30", "due:2027-02-30", "February 2027 has 28 days"),
            ("Pay due:tomorrow", "due:tomorrow", "is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)"),
            ("Pay due:2026-12-01T25:00", "due:2026-12-01T25:00", "there is no hour 25"),
            ("Pay feb 30", "feb 30", "February has no day 30"),
            ("Pay feb 29 2027", "feb 29 2027", "February 2027 has 28 days"),
            ("Pay 2027-02-30", "2027-02-30", "February 2027 has 28 days"),
            ("Pay at 25:00", "25:00", "there is no hour 25"),
            ("Pay 13pm", "13pm", "there is no 13 o'clock on a 12-hour clock"),
            ("Pay t:2027-02-30", "t:2027-02-30", "February 2027 has 28 days"),
            ("Pay t:soon", "t:soon", "is not a date (use YYYY-MM-DD)"),
            ("Pay rec:0d", "rec:0d", "the interval must be at least 1"),
            ("Pay rec:1x", "rec:1x", "is not a repeat (use e.g. 1w, +2m; units d, b, w, m, y)"),
            ("Pay every 0 days", "every 0 days", "the interval must be at least 1"),
            ("Pay every 1001 days", "every 1001 days", "the interval can be at most 1000"),
            ("Pay tomorrow feb 30", "feb 30", "February has no day 30"),
            // Found by fuzzing: 23:00Z on the last day is already the year 10000 in Berlin.
            ("t 9999-12-31T23:00Z", "t 9999-12-31T23:00Z", "is too far away (years 0 to 9999 only)"),
        ];
        for (text, piece, message) in cases {
            assert_eq!(parse(text, now), Err(ParseError::new(*piece, *message)), "{text}");
        }
    }

    #[test]
    fn length_limit() {
        let now = at(Berlin, NOW);
        let ok = "a".repeat(MAX_LEN);
        assert_eq!(parse(&ok, now).map(|q| q.body.len()), Ok(MAX_LEN));
        // 4000 multi-byte characters are fine: the limit is in characters.
        let wide = "é".repeat(MAX_LEN);
        assert!(parse(&wide, now).is_ok());
        let long = "a".repeat(MAX_LEN + 1);
        let err = parse(&long, now).unwrap_err();
        assert_eq!(err.message, "is 4001 characters long; the limit is 4000");
        assert_eq!(err.piece, format!("{}…", "a".repeat(30)));
        let err = parse(&"☕".repeat(5000), now).unwrap_err();
        assert_eq!(err.message, "is 5000 characters long; the limit is 4000");
    }

    #[test]
    fn output_reads_back() {
        let now = at(Berlin, NOW);
        #[rustfmt::skip]
        let texts = [
            "Call mom tomorrow 5pm +family @phone p1",
            "Meds every day at 9am",
            "Pay every! 2 weeks due:2026-12-01",
            "Café ☕ 2+2 bob@example.com https://x.org",
        ];
        for text in texts {
            let q = parse(text, now).unwrap();
            let body = parse_body(&q.body);
            assert!(!body.title.is_empty());
            if let Some(d) = body.tag("due") {
                assert!(Due::parse(d, Berlin).is_ok(), "{text}");
            }
            if let Some(r) = body.tag("rec") {
                assert!(Recurrence::parse(r).is_ok(), "{text}");
            }
            assert!(!q.body.contains(char::is_whitespace) || q.body.split(' ').all(|w| !w.is_empty()));
        }
    }

    /// Random text from date-ish pieces and odd characters through every
    /// parser: none may panic, and todo.txt lines must round-trip.
    #[test]
    fn fuzz_all_parsers() {
        use crate::tasks::todotxt::{TodoLine, set_sigil_words, set_tag, set_title};
        let pieces = [
            "a",
            "x",
            "T",
            "Z",
            "am",
            "pm",
            "at",
            "in",
            "on",
            "every",
            "every!",
            "tomorrow",
            "dec",
            "feb",
            "mon",
            "sun",
            "the",
            "1st",
            "h",
            "m",
            "d",
            "w",
            "y",
            "b",
            "0",
            "1",
            "2",
            "9",
            "12",
            "24",
            "30",
            "2026",
            "-",
            ":",
            "+",
            "@",
            "(",
            ")",
            "A",
            " ",
            " ",
            " ",
            "  ",
            "\t",
            "é",
            "☕",
            "\u{a0}",
            "\u{3000}",
            "ß",
            "🙂",
            "\u{301}",
            ".",
            "/",
            "due:",
            "t:",
            "rec:",
            "p1",
            "2026-02-29",
            "2027-02-29T",
            "02:30",
            "+01:00",
        ];
        let mut state: u64 = 99;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for _ in 0..5000 {
            let n = next() % 12;
            let text: String = (0..n).map(|_| pieces[next() % pieces.len()]).collect();
            let now = at(Berlin, NOW);
            let _ = parse(&text, now);
            let _ = crate::dates::parse_when(&text, now);
            let _ = Due::parse(&text, Berlin);
            let _ = Recurrence::parse(&text);
            let line = TodoLine::parse(&text);
            assert_eq!(line.to_line(), text, "{text:?}");
            let _ = crate::tasks::recur::next_occurrence(&line, now.date_naive(), Berlin);
            let _ = set_tag(&text, "due", Some("2026-01-01"));
            let _ = set_title(&text, &text);
            let _ = set_sigil_words(&text, '+', std::slice::from_ref(&text));
        }
    }

    #[test]
    fn never_panics() {
        let now = at(Berlin, NOW);
        #[rustfmt::skip]
        let atoms = [
            "every",
            "every!",
            "day",
            "other",
            "on",
            "the",
            "1st",
            "at",
            "in",
            "20m",
            "tomorrow",
            "5pm",
            "pm",
            "12",
            "dec",
            "24",
            "2026",
            "feb",
            "30",
            "(A)",
            "p1",
            "due:",
            "due:x",
            "rec:",
            "t:",
            "+",
            "@",
            "é",
            "☕",
            "\u{a0}",
            ":",
            "-",
            "2026-12-",
            "T",
            "tonight",
            "next",
            "end",
            "of",
            "month",
            "weekday",
            "monday",
            "sun",
            "0",
            "99999999999999999999",
        ];
        let mut state: u64 = 7;
        for _ in 0..3000 {
            let mut text = String::new();
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let n = (state >> 60) as usize;
            for _ in 0..n {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                text.push_str(atoms[((state >> 33) as usize) % atoms.len()]);
                text.push(' ');
            }
            let _ = parse(&text, now);
        }
    }
}
