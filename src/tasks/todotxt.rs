//! The todo.txt line model: the one form every task is stored in.
//!
//! Rules:
//! - `TodoLine::parse` never fails and `TodoLine::parse(l).to_line() == l` for
//!   every string without a newline. A prefix token (`x`, `(A)`, a date) is
//!   only taken when it is followed by exactly one space (then a non-space or
//!   the end of the line); everything after the prefix is kept verbatim in
//!   `body`, so odd spacing, tabs and junk survive untouched.
//! - The body grammar: `+project` and `@context` are words that start with the
//!   sigil and name something: a lone `+` or `@`, or one followed only by
//!   punctuation (`++`, `@!`, `+-`), is text ([`is_name`]); `key:value` has an ASCII-letter key and a value that is non-empty
//!   and does not start with `/` (so URLs and `10:30` stay text). The rest is
//!   the title. Nothing is dropped.
//! - Editing helpers keep the order of the body's tokens; an edit may
//!   normalise whitespace to single spaces, no edit leaves the body as it was.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike};
use chrono_tz::Tz;

use crate::dates::{ParseError, parse_iso_date, parse_stamp, resolve_local};

/// One todo.txt line, split into its prefix fields and the rest (`body`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TodoLine {
    pub done: bool,
    /// Only written for done lines.
    pub completed: Option<NaiveDate>,
    /// `A`..=`Z`.
    pub priority: Option<char>,
    /// On a done line only written when `completed` is set too (the spec
    /// allows a creation date there only after a completion date).
    pub created: Option<NaiveDate>,
    pub body: String,
}

/// Split off a prefix token that is followed by exactly one space (and then
/// a non-whitespace char or the end). Returns (token, rest after the space).
fn prefix_token(s: &str) -> Option<(&str, &str)> {
    let (token, rest) = s.split_once(' ')?;
    if token.is_empty() || rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some((token, rest))
}

fn priority_token(token: &str) -> Option<char> {
    let mut chars = token.chars();
    match (chars.next(), chars.next(), chars.next(), chars.next()) {
        (Some('('), Some(p), Some(')'), None) if p.is_ascii_uppercase() => Some(p),
        _ => None,
    }
}

/// A `YYYY-MM-DD` token that prints back exactly as written.
fn date_token(token: &str) -> Option<NaiveDate> {
    parse_iso_date(token).ok().flatten().filter(|d| d.format("%Y-%m-%d").to_string() == token)
}

impl TodoLine {
    /// Read a line. Never fails: whatever is not a recognisable prefix is body.
    pub fn parse(line: &str) -> TodoLine {
        let mut t = TodoLine::default();
        let mut rest = line;
        if let Some(("x", r)) = prefix_token(rest) {
            t.done = true;
            rest = r;
            if let Some((tok, r)) = prefix_token(rest)
                && let Some(p) = priority_token(tok)
            {
                t.priority = Some(p);
                rest = r;
            }
            if let Some((tok, r)) = prefix_token(rest)
                && let Some(d) = date_token(tok)
            {
                t.completed = Some(d);
                rest = r;
                if let Some((tok, r)) = prefix_token(rest)
                    && let Some(d) = date_token(tok)
                {
                    t.created = Some(d);
                    rest = r;
                }
            }
        } else {
            if let Some((tok, r)) = prefix_token(rest)
                && let Some(p) = priority_token(tok)
            {
                t.priority = Some(p);
                rest = r;
            }
            if let Some((tok, r)) = prefix_token(rest)
                && let Some(d) = date_token(tok)
            {
                t.created = Some(d);
                rest = r;
            }
        }
        t.body = rest.to_string();
        t
    }

    /// The line: prefix + body. Exactly the parsed text for a parsed line.
    pub fn to_line(&self) -> String {
        let mut s = String::with_capacity(self.body.len() + 32);
        if self.done {
            s.push_str("x ");
        }
        if let Some(p) = self.priority.filter(char::is_ascii_uppercase) {
            s.push('(');
            s.push(p);
            s.push_str(") ");
        }
        let created = if self.done {
            if let Some(c) = self.completed {
                s.push_str(&c.format("%Y-%m-%d ").to_string());
                self.created
            } else {
                None
            }
        } else {
            self.created
        };
        if let Some(c) = created {
            s.push_str(&c.format("%Y-%m-%d ").to_string());
        }
        s.push_str(&self.body);
        s
    }

    /// The body's parts.
    pub fn parts(&self) -> Body {
        parse_body(&self.body)
    }
}

/// A body split into title words and tokens (each kept in order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Body {
    pub title: String,
    /// Without the `+`.
    pub projects: Vec<String>,
    /// Without the `@`.
    pub contexts: Vec<String>,
    /// Every `key:value`, in order, including `due`, `t` and `rec`.
    pub tags: Vec<(String, String)>,
}

impl Body {
    /// The value of the first `key:` tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// What one whitespace-separated word of a body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    Text(&'a str),
    Project(&'a str),
    Context(&'a str),
    Tag(&'a str, &'a str),
}

/// Classify one word (a word never contains whitespace).
pub fn classify(word: &str) -> Token<'_> {
    if let Some(name) = word.strip_prefix('+').filter(|n| is_name(n)) {
        return Token::Project(name);
    }
    if let Some(name) = word.strip_prefix('@').filter(|n| is_name(n)) {
        return Token::Context(name);
    }
    if let Some((k, v)) = word.split_once(':')
        && is_tag_key(k)
        && is_tag_value(v)
    {
        return Token::Tag(k, v);
    }
    Token::Text(word)
}

/// Whether a project or context name (after its sigil) names something: one word with at
/// least one character that is not punctuation (a letter, a digit, an emoji). todo.txt says
/// "`+` followed by non-whitespace"; a sigil followed by nothing or only by punctuation (`+`,
/// `++`, `@@`, `+?`, `@…`) is read as text, as a person writing "a + b" means it.
pub fn is_name(name: &str) -> bool {
    !name.contains(char::is_whitespace) && name.chars().any(|c| !is_punctuation(c))
}

/// ASCII punctuation, the General Punctuation block (dashes, quotes, `…`), CJK punctuation
/// and the few other marks people type around words.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || ('\u{2000}'..='\u{206f}').contains(&c)
        || ('\u{3000}'..='\u{303f}').contains(&c)
        || matches!(c, '¡' | '¿' | '«' | '»' | '·' | '§' | '¶')
}

/// An ASCII letter, then ASCII letters, digits, `_` or `-`.
pub fn is_tag_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Non-empty, no whitespace, not starting with `/` (so `https://` is text).
pub fn is_tag_value(value: &str) -> bool {
    !value.is_empty() && !value.starts_with('/') && !value.contains(char::is_whitespace)
}

pub fn parse_body(body: &str) -> Body {
    let mut b = Body::default();
    let mut title: Vec<&str> = Vec::new();
    for word in body.split_whitespace() {
        match classify(word) {
            Token::Text(w) => title.push(w),
            Token::Project(p) => b.projects.push(p.to_string()),
            Token::Context(c) => b.contexts.push(c.to_string()),
            Token::Tag(k, v) => b.tags.push((k.to_string(), v.to_string())),
        }
    }
    b.title = title.join(" ");
    b
}

/// A `due:` value: a whole day, or an instant with its UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Date(NaiveDate),
    At(DateTime<FixedOffset>),
}

impl Due {
    /// What a date phrase meant, as a due value; `piece` names the words for the error when
    /// the instant falls after the year 9999 in its zone (its value could not be written).
    pub fn from_when(when: crate::dates::When, piece: &str) -> Result<Due, ParseError> {
        let due = match when {
            crate::dates::When::Date(d) => Due::Date(d),
            crate::dates::When::At(t) => Due::At(t.fixed_offset()),
        };
        let year = match &due {
            Due::Date(d) => d.year(),
            Due::At(t) => t.year(),
        };
        if !(0..=crate::dates::MAX_YEAR).contains(&year) {
            return Err(ParseError::new(piece, "is too far away (years 0 to 9999 only)"));
        }
        Ok(due)
    }

    /// `YYYY-MM-DD`; `YYYY-MM-DDTHH:MM[:SS]` (wall time in `tz`); RFC 3339
    /// with `Z` or `±HH:MM`, with or without seconds. Errors name the token
    /// as `due:<value>`.
    pub fn parse(value: &str, tz: Tz) -> Result<Due, ParseError> {
        let piece = || format!("due:{value}");
        let stamp = parse_stamp(value)
            .map_err(|e| ParseError::new(piece(), e))?
            .ok_or_else(|| ParseError::new(piece(), "is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)"))?;
        match (stamp.time, stamp.offset) {
            (None, _) => Ok(Due::Date(stamp.date)),
            (Some(t), None) => {
                let at = resolve_local(tz, stamp.date.and_time(t)).fixed_offset();
                // A local-mean-time instant is written in UTC (see `to_value`): it must stay in
                // the years a value can be written in.
                let lmt = at.offset().local_minus_utc() % 60 != 0;
                if lmt && !(0..=crate::dates::MAX_YEAR).contains(&at.to_utc().year()) {
                    return Err(ParseError::new(piece(), "is too far away (years 0 to 9999 only)"));
                }
                Ok(Due::At(at))
            }
            (Some(t), Some(off)) => stamp
                .date
                .and_time(t)
                .and_local_timezone(off)
                .single()
                .map(Due::At)
                .ok_or_else(|| ParseError::new(piece(), "is out of range")),
        }
    }

    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM±HH:MM` (`:SS` only if non-zero).
    pub fn to_value(&self) -> String {
        match self {
            Due::Date(d) => d.format("%Y-%m-%d").to_string(),
            // RFC 3339 offsets are whole minutes; local mean time (before ~1900, Berlin was
            // +00:53:28) is not, so such an instant is written in UTC rather than moved.
            Due::At(t) if t.offset().local_minus_utc() % 60 != 0 => {
                Due::At(t.to_utc().fixed_offset()).to_value()
            }
            Due::At(t) if t.second() != 0 => t.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            Due::At(t) => t.format("%Y-%m-%dT%H:%M%:z").to_string(),
        }
    }

    /// The calendar day, seen in `tz`.
    pub fn date_in(&self, tz: Tz) -> NaiveDate {
        match self {
            Due::Date(d) => *d,
            Due::At(t) => t.with_timezone(&tz).date_naive(),
        }
    }
}

/// Replace the value of the first `key:` tag in place; `None` removes every
/// `key:` tag; a missing key is appended. A key or value that would not read
/// back as a tag (see [`is_tag_key`], [`is_tag_value`]) leaves the body as it is.
pub fn set_tag(body: &str, key: &str, value: Option<&str>) -> String {
    if !is_tag_key(key) || value.is_some_and(|v| !is_tag_value(v)) {
        return body.to_string();
    }
    let is_key = |w: &str| matches!(classify(w), Token::Tag(k, _) if k == key);
    let words: Vec<&str> = body.split_whitespace().collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len() + 1);
    let mut found = false;
    for w in &words {
        if is_key(w) {
            match value {
                Some(v) if !found => out.push(format!("{key}:{v}")),
                Some(_) => out.push((*w).to_string()),
                None => {}
            }
            found = true;
        } else {
            out.push((*w).to_string());
        }
    }
    match value {
        None if !found => return body.to_string(),
        Some(v) if !found => out.push(format!("{key}:{v}")),
        _ => {}
    }
    out.join(" ")
}

/// The new title's words first, then every project, context and tag of the
/// old body in its old order. The same title leaves the body as it is.
pub fn set_title(body: &str, title: &str) -> String {
    let new_title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    if parse_body(body).title == new_title {
        return body.to_string();
    }
    let mut out: Vec<&str> = title.split_whitespace().collect();
    out.extend(body.split_whitespace().filter(|w| !matches!(classify(w), Token::Text(_))));
    out.join(" ")
}

/// Make the body's `+` (or `@`) words exactly `words` (names with or
/// without the sigil): those already present stay in place, the others are
/// removed, new ones are appended in the given order. Names that would not
/// read back as such a word (see [`is_name`]) are skipped.
pub fn set_sigil_words(body: &str, sigil: char, words: &[String]) -> String {
    if sigil != '+' && sigil != '@' {
        return body.to_string();
    }
    let name_of = |w: &str| -> Option<String> {
        match classify(w) {
            Token::Project(p) if sigil == '+' => Some(p.to_string()),
            Token::Context(c) if sigil == '@' => Some(c.to_string()),
            _ => None,
        }
    };
    let mut wanted: Vec<&str> = Vec::new();
    for w in words {
        let name = w.strip_prefix(sigil).unwrap_or(w);
        if is_name(name) && !wanted.contains(&name) {
            wanted.push(name);
        }
    }
    let mut changed = false;
    let mut present: Vec<String> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for w in body.split_whitespace() {
        match name_of(w) {
            Some(name) if !wanted.contains(&name.as_str()) => changed = true,
            Some(name) => {
                present.push(name);
                out.push(w.to_string());
            }
            None => out.push(w.to_string()),
        }
    }
    for name in wanted {
        if !present.iter().any(|p| p == name) {
            out.push(format!("{sigil}{name}"));
            changed = true;
        }
    }
    if changed { out.join(" ") } else { body.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn d(s: &str) -> Option<NaiveDate> {
        Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn parse_prefixes() {
        // (line, done, completed, priority, created, body)
        type Row = (&'static str, bool, &'static str, Option<char>, &'static str, &'static str);
        #[rustfmt::skip]
        let cases: &[Row] = &[
            ("(A) 2026-01-01 body", false, "", Some('A'), "2026-01-01", "body"),
            ("(A) body", false, "", Some('A'), "", "body"),
            ("(Z) body", false, "", Some('Z'), "", "body"),
            ("2026-01-01 body", false, "", None, "2026-01-01", "body"),
            ("body", false, "", None, "", "body"),
            ("x 2026-01-02 2026-01-01 body", true, "2026-01-02", None, "2026-01-01", "body"),
            ("x 2026-01-02 body", true, "2026-01-02", None, "", "body"),
            ("x body", true, "", None, "", "body"),
            ("x (A) 2026-01-02 2026-01-01 body", true, "2026-01-02", Some('A'), "2026-01-01", "body"),
            ("x (B) body", true, "", Some('B'), "", "body"),
            ("x ", true, "", None, "", ""),
            ("x", false, "", None, "", "x"),
            ("X body", false, "", None, "", "X body"),
            ("xylophone", false, "", None, "", "xylophone"),
            ("x  body", false, "", None, "", "x  body"),
            ("x\tbody", false, "", None, "", "x\tbody"),
            (" x body", false, "", None, "", " x body"),
            ("(a) body", false, "", None, "", "(a) body"),
            ("(AA) body", false, "", None, "", "(AA) body"),
            ("(A)body", false, "", None, "", "(A)body"),
            ("(A)  body", false, "", None, "", "(A)  body"),
            ("(A) ", false, "", Some('A'), "", ""),
            ("(A)", false, "", None, "", "(A)"),
            ("(Ä) body", false, "", None, "", "(Ä) body"),
            ("2026-01-01", false, "", None, "", "2026-01-01"),
            ("2026-01-01 ", false, "", None, "2026-01-01", ""),
            ("2026-02-30 body", false, "", None, "", "2026-02-30 body"),
            ("2026-1-01 body", false, "", None, "", "2026-1-01 body"),
            ("2026-01-01 (A) body", false, "", None, "2026-01-01", "(A) body"),
            ("(A) x body", false, "", Some('A'), "", "x body"),
            ("x 2026-01-02  body", true, "", None, "", "2026-01-02  body"),
            ("x 2026-01-02 2026-01-01  body", true, "2026-01-02", None, "", "2026-01-01  body"),
            ("x 2026-01-02 2026-13-01 body", true, "2026-01-02", None, "", "2026-13-01 body"),
            ("x x body", true, "", None, "", "x body"),
            ("x 2026-01-02 (A) body", true, "2026-01-02", None, "", "(A) body"),
            ("", false, "", None, "", ""),
            (" ", false, "", None, "", " "),
            ("(A) 2026-01-01 +proj @ctx due:2026-02-01", false, "", Some('A'), "2026-01-01", "+proj @ctx due:2026-02-01"),
        ];
        for (line, done, completed, pri, created, body) in cases {
            let t = TodoLine::parse(line);
            let opt = |s: &str| if s.is_empty() { None } else { d(s) };
            assert_eq!(
                t,
                TodoLine {
                    done: *done,
                    completed: opt(completed),
                    priority: *pri,
                    created: opt(created),
                    body: body.to_string()
                },
                "{line:?}"
            );
            assert_eq!(t.to_line(), *line, "{line:?}");
        }
    }

    #[test]
    fn to_line_of_built_values() {
        #[rustfmt::skip]
        let cases: &[(TodoLine, &str)] = &[
            (TodoLine { done: true, completed: None, priority: None, created: d("2026-01-01"), body: "b".into() }, "x b"),
            (TodoLine { done: false, completed: d("2026-01-02"), priority: Some('C'), created: None, body: "b".into() }, "(C) b"),
            (TodoLine { done: false, completed: None, priority: Some('a'), created: None, body: "b".into() }, "b"),
            (TodoLine { done: true, completed: d("2026-01-02"), priority: Some('A'), created: d("2026-01-01"), body: "b".into() }, "x (A) 2026-01-02 2026-01-01 b"),
        ];
        for (t, want) in cases {
            assert_eq!(t.to_line(), *want);
        }
    }

    /// A small deterministic generator (no rand dependency).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[(self.next() as usize) % xs.len()]
        }
    }

    #[test]
    fn round_trip_property() {
        #[rustfmt::skip]
        let odd: &[&str] = &[
            "",
            " ",
            "  ",
            "\t",
            " \t ",
            "x",
            "x ",
            "x  ",
            "x\t",
            "(A)",
            "(A) ",
            "(A)  ",
            "x (A)",
            "x (A) ",
            "x 2026-01-02",
            "x 2026-01-02 ",
            "x 2026-01-02 2026-01-01",
            "x 2026-01-02 2026-01-01 ",
            "trailing space ",
            " leading space",
            "double  space",
            "tab\tinside",
            "Ünïcödé ☕ 🙂",
            "(A) Ünïcödé",
            "x ☕",
            "2026-01-01 ☕",
            "\u{a0}x body",
            "x\u{a0}body",
            "(A)\u{a0}body",
            "x 9999-12-31 0001-01-01 y",
            "x 0000-01-01 y",
            "(A) (B) (C)",
            "x x x",
            "((A)) b",
            "x (A) (B) 2026-01-01 c",
            "x 2026-01-01 x 2026-01-01",
            "\r",
            "a\rb",
            "due:2026-02-30",
            "x 2026-02-29 y",
            "x 2028-02-29 y",
            "+ @ : :: x:",
            "Buy bread + @ ++ @@ +@ @+ +- @!",
            "(A) +proj @ctx key:value https://x.org",
        ];
        for line in odd {
            assert_eq!(TodoLine::parse(line).to_line(), *line, "{line:?}");
        }
        #[rustfmt::skip]
        let atoms = [
            "x",
            "X",
            "(A)",
            "(b)",
            "(Z)",
            "2026-01-01",
            "2026-13-45",
            "2028-02-29",
            "0999-01-01",
            "+p",
            "@c",
            "due:2026-01-01",
            "rec:+1w",
            "",
            " ",
            "  ",
            "\t",
            "☕",
            "é",
            "(",
            ")",
            "-",
            "2026-01-01x",
            "x2026-01-01",
            "10:30",
            "https://x.org",
            "\u{3000}",
            "\u{a0}",
        ];
        let seps = [" ", " ", " ", "", "  ", "\t", "\u{a0}"];
        let mut rng = Lcg(42);
        for _ in 0..2000 {
            let n = (rng.next() % 8) as usize;
            let mut line = String::new();
            for _ in 0..n {
                line.push_str(rng.pick(&atoms));
                line.push_str(rng.pick(&seps));
            }
            let t = TodoLine::parse(&line);
            assert_eq!(t.to_line(), line, "{line:?}");
            // Parsing the printed line again finds the same fields.
            assert_eq!(TodoLine::parse(&t.to_line()), t, "{line:?}");
        }
    }

    #[test]
    fn body_grammar() {
        // (body, title, projects, contexts, tags)
        type Row = (
            &'static str,
            &'static str,
            &'static [&'static str],
            &'static [&'static str],
            &'static [(&'static str, &'static str)],
        );
        #[rustfmt::skip]
        let cases: &[Row] = &[
            ("Call mom +family @phone", "Call mom", &["family"], &["phone"], &[]),
            ("2+2 is four", "2+2 is four", &[], &[], &[]),
            ("mail bob@example.com", "mail bob@example.com", &[], &[], &[]),
            ("a + b @ c", "a + b @ c", &[], &[], &[]),
            ("+a+b @c@d", "", &["a+b"], &["c@d"], &[]),
            ("++x @@y", "", &["+x"], &["@y"], &[]),
            // A sigil alone, or followed only by punctuation, is text.
            ("+", "+", &[], &[], &[]),
            ("@", "@", &[], &[], &[]),
            ("Buy bread + @", "Buy bread + @", &[], &[], &[]),
            ("++ @@ +@ @+ +- @! +... @… +“”", "++ @@ +@ @+ +- @! +... @… +“”", &[], &[], &[]),
            ("+! +!a @?1 +☕ @東京", "+!", &["!a", "☕"], &["?1", "東京"], &[]),
            ("C++ @ 5pm", "C++ @ 5pm", &[], &[], &[]),
            ("due:2026-01-01 t:2025-12-30 rec:+1w", "", &[], &[], &[("due", "2026-01-01"), ("t", "2025-12-30"), ("rec", "+1w")]),
            ("see https://x.org now", "see https://x.org now", &[], &[], &[]),
            ("meet 10:30 sharp", "meet 10:30 sharp", &[], &[], &[]),
            ("note: empty", "note: empty", &[], &[], &[]),
            (":x", ":x", &[], &[], &[]),
            ("a_b-c:1 1a:2 _a:3", "1a:2 _a:3", &[], &[], &[("a_b-c", "1")]),
            ("k:v:w", "", &[], &[], &[("k", "v:w")]),
            ("k:/path", "k:/path", &[], &[], &[]),
            ("Käse:1 k:ä", "Käse:1", &[], &[], &[("k", "ä")]),
            ("  spaced\t out  words ", "spaced out words", &[], &[], &[]),
            ("Café ☕ +ß @ü", "Café ☕", &["ß"], &["ü"], &[]),
            ("pri:A due:x due:y", "", &[], &[], &[("pri", "A"), ("due", "x"), ("due", "y")]),
            ("", "", &[], &[], &[]),
        ];
        for (body, title, projects, contexts, tags) in cases {
            let b = parse_body(body);
            let want = Body {
                title: title.to_string(),
                projects: projects.iter().map(|s| s.to_string()).collect(),
                contexts: contexts.iter().map(|s| s.to_string()).collect(),
                tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            };
            assert_eq!(b, want, "{body:?}");
        }
        assert_eq!(parse_body("due:x due:y").tag("due"), Some("x"));
        assert_eq!(parse_body("a").tag("due"), None);
    }

    #[test]
    fn due_values() {
        // (value, to_value or error message)
        #[rustfmt::skip]
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("2026-12-24", Ok("2026-12-24")),
            ("2026-12-24T17:00", Ok("2026-12-24T17:00+01:00")),
            ("2026-06-24T17:00", Ok("2026-06-24T17:00+02:00")),
            ("2026-12-24T17:00:30", Ok("2026-12-24T17:00:30+01:00")),
            ("2026-12-24T17:00:00", Ok("2026-12-24T17:00+01:00")),
            ("2026-12-24T17:00Z", Ok("2026-12-24T17:00+00:00")),
            ("2026-12-24T17:00:00Z", Ok("2026-12-24T17:00+00:00")),
            ("2026-12-24T17:00-05:00", Ok("2026-12-24T17:00-05:00")),
            ("2026-12-24T17:00:09+05:30", Ok("2026-12-24T17:00:09+05:30")),
            ("2026-03-29T02:30", Ok("2026-03-29T03:00+02:00")),
            ("2026-10-25T02:30", Ok("2026-10-25T02:30+02:00")),
            // Local mean time (+00:53:28) has no RFC 3339 form: written in UTC, same instant.
            ("1800-01-01T10:00", Ok("1800-01-01T09:06:32+00:00")),
            ("0000-01-01T00:00", Err("is too far away (years 0 to 9999 only)")),
            ("2027-02-30", Err("February 2027 has 28 days")),
            ("2027-02-29T10:00", Err("February 2027 has 28 days")),
            ("2026-12-24T24:00", Err("there is no hour 24")),
            ("tomorrow", Err("is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)")),
            ("", Err("is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)")),
            ("2026-12-24 ", Err("is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)")),
        ];
        for (value, want) in cases {
            let got = Due::parse(value, Berlin).map(|d| d.to_value());
            let want = want.map(str::to_string).map_err(|m| ParseError::new(format!("due:{value}"), m));
            assert_eq!(got, want, "{value}");
        }
        // Values written by to_value read back to the same instant.
        for v in ["2026-12-24T17:00+01:00", "2026-12-24T17:00:30-05:00", "2026-12-24"] {
            let due = Due::parse(v, Berlin).unwrap();
            assert_eq!(due.to_value(), v);
            assert_eq!(Due::parse(&due.to_value(), chrono_tz::UTC), Ok(due));
        }
        let late = Due::parse("2026-12-24T23:30Z", Berlin).unwrap();
        assert_eq!(late.date_in(Berlin), d("2026-12-25").unwrap());
    }

    #[test]
    fn set_tag_table() {
        // (body, key, value, result)
        #[rustfmt::skip]
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            ("a due:1 b", "due", Some("2"), "a due:2 b"),
            ("a  due:1\tb", "due", Some("2"), "a due:2 b"),
            ("a due:1 b due:3", "due", Some("2"), "a due:2 b due:3"),
            ("a b", "due", Some("2"), "a b due:2"),
            ("", "due", Some("2"), "due:2"),
            ("   ", "due", Some("2"), "due:2"),
            ("a due:1 b due:3", "due", None, "a b"),
            ("a  b", "due", None, "a  b"),
            ("a due: b", "due", Some("2"), "a due: b due:2"),
            ("a Due:1", "due", Some("2"), "a Due:1 due:2"),
            ("a due:1", "due", Some(""), "a due:1"),
            ("a due:1", "due", Some("x y"), "a due:1"),
            ("a due:1", "due", Some("/x"), "a due:1"),
            ("a due:1", "1due", Some("2"), "a due:1"),
            ("a due:1", "", Some("2"), "a due:1"),
            ("a t:1 due:1", "t", Some("0"), "a t:0 due:1"),
            ("Café ☕ due:1", "due", None, "Café ☕"),
        ];
        for (body, key, value, want) in cases {
            assert_eq!(set_tag(body, key, *value), *want, "{body:?} {key} {value:?}");
        }
    }

    #[test]
    fn set_title_table() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("Call mom +family @phone due:2026-01-01", "Ring dad", "Ring dad +family @phone due:2026-01-01"),
            ("+family Call @phone mom", "Ring  dad", "Ring dad +family @phone"),
            ("Call  mom  +x", "Call mom", "Call  mom  +x"),
            ("", "New", "New"),
            ("+x", "", "+x"),
            ("a +x", "", "+x"),
            ("a https://x.org +x", "b", "b +x"),
            ("Äpfel", "Birnen ☕", "Birnen ☕"),
        ];
        for (body, title, want) in cases {
            assert_eq!(set_title(body, title), *want, "{body:?} {title:?}");
        }
    }

    #[test]
    fn set_sigil_words_table() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        #[rustfmt::skip]
        let cases: &[(&str, char, Vec<String>, &str)] = &[
            ("a +x b +y", '+', v(&["y", "z"]), "a b +y +z"),
            ("a +x  b +y", '+', v(&["x", "y"]), "a +x  b +y"),
            ("a +x b", '+', v(&["+x"]), "a +x b"),
            ("a +x b", '+', v(&[]), "a b"),
            ("a @x b", '+', v(&["x"]), "a @x b +x"),
            ("a @x b", '@', v(&[]), "a b"),
            ("a @x b", '@', v(&["x", "x", "", "y z"]), "a @x b"),
            // A name that would read back as text is not added.
            ("a", '+', v(&["+", "@", "++", "!"]), "a"),
            ("a", '@', v(&["home", "phone"]), "a @home @phone"),
            ("a", '#', v(&["x"]), "a"),
            ("2+2 +a", '+', v(&[]), "2+2"),
            ("a +x +x", '+', v(&["x"]), "a +x +x"),
            ("☕ +é", '+', v(&["é", "ü"]), "☕ +é +ü"),
        ];
        for (body, sigil, words, want) in cases {
            assert_eq!(set_sigil_words(body, *sigil, words), *want, "{body:?} {sigil} {words:?}");
        }
    }
}
