//! Today's one quick-add box: a task, an event or a scheduled prompt, from one line. The rule
//! that says which lives here ([`decide`]); the reading of each kind is the existing grammar's
//! (tasks' [`crate::tasks::quickadd`], the calendar's [`crate::calendar::quickadd`], the
//! schedules' timing box [`Spec::from_phrase`]).
//!
//! The rule, in order:
//! 1. A prefix forces the kind: `t: `, `e: `, `s: ` (a space after the colon, so that the
//!    todo.txt tag `t:2026-12-05` stays a task's start date).
//! 2. A **prompt** when the line starts with a timing the schedules read (`every weekday
//!    9:00`, `every 2 hours`, `tomorrow 8am`, `in 20m`, cron) and what follows is a request to
//!    the agent: it names the agent (`agent`, `steward`, `assistant`) or starts with a request
//!    word (`ask`, `tell`, `remind`, `summarise`, ...).
//! 3. An **event** when the calendar grammar reads it and it says how long it lasts: a time or
//!    day range (`12:30-14:00`, `dec 20-27`), a length (`for 1h`), or `all day`.
//! 4. Otherwise a **task** (whose own grammar reads dates, `every ...`, `+project`, `@context`).

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Serialize;

use crate::calendar::quickadd::{self as event_quickadd, Draft};
use crate::error::AppError;
use crate::schedules::spec::Spec;
use crate::tasks::quickadd::{self as task_quickadd, QuickAdd};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Task,
    Event,
    Prompt,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::Event => "event",
            Kind::Prompt => "prompt",
        }
    }

    /// In a sentence: "a task", "an event", "a scheduled prompt".
    pub fn label(self) -> &'static str {
        match self {
            Kind::Task => "a task",
            Kind::Event => "an event",
            Kind::Prompt => "a scheduled prompt",
        }
    }
}

/// Words that start a request to the agent.
const REQUEST_WORDS: [&str; 16] = [
    "ask",
    "tell",
    "remind",
    "summarise",
    "summarize",
    "brief",
    "check",
    "report",
    "send",
    "write",
    "draft",
    "prepare",
    "review",
    "plan",
    "suggest",
    "let",
];
/// Words that name the agent.
const AGENT_WORDS: [&str; 4] = ["agent", "steward", "assistant", "ai"];
/// The longest timing phrase tried, in words.
const MAX_TIMING_WORDS: usize = 10;

/// A scheduled prompt read from the line.
#[derive(Debug, Clone)]
pub struct PromptDraft {
    /// The timing as written (the schedule's `when`).
    pub when: String,
    pub spec: Spec,
    pub prompt: String,
}

/// What the line will become.
#[derive(Debug, Clone)]
pub enum Parsed {
    Task(QuickAdd),
    Event(Draft),
    Prompt(PromptDraft),
}

impl Parsed {
    pub fn kind(&self) -> Kind {
        match self {
            Parsed::Task(_) => Kind::Task,
            Parsed::Event(_) => Kind::Event,
            Parsed::Prompt(_) => Kind::Prompt,
        }
    }
}

/// The forced kind and the text after the prefix, if the line has one.
fn prefix(text: &str) -> Option<(Kind, &str)> {
    let t = text.trim_start();
    let mut chars = t.chars();
    let (Some(letter), Some(':'), Some(space)) = (chars.next(), chars.next(), chars.next()) else {
        return None;
    };
    if !space.is_whitespace() {
        return None;
    }
    let kind = match letter.to_ascii_lowercase() {
        't' => Kind::Task,
        'e' => Kind::Event,
        's' => Kind::Prompt,
        _ => return None,
    };
    Some((kind, t.get(2..).unwrap_or("").trim()))
}

/// The longest leading timing and the rest, when the line starts with one and more follows.
fn leading_timing(text: &str, now: DateTime<Tz>) -> Option<(String, Spec, String)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let most = words.len().saturating_sub(1).min(MAX_TIMING_WORDS);
    (1..=most).rev().find_map(|n| {
        let when = words[..n].join(" ");
        let spec = Spec::from_phrase(&when, now).ok()?;
        Some((when, spec, words[n..].join(" ")))
    })
}

/// Whether the words are a request to the agent.
fn is_request(rest: &str) -> bool {
    let words: Vec<String> = rest
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .collect();
    words.first().is_some_and(|w| REQUEST_WORDS.contains(&w.as_str()))
        || words.iter().any(|w| AGENT_WORDS.contains(&w.as_str()))
}

/// Which kind the line is, whether a prefix forced it, and the text to read (without the
/// prefix). The kinds' own errors are left to [`parse`].
pub fn decide(text: &str, now: DateTime<Tz>) -> (Kind, bool, String) {
    if let Some((kind, rest)) = prefix(text) {
        return (kind, true, rest.to_string());
    }
    let text = text.trim();
    if let Some((_, _, rest)) = leading_timing(text, now)
        && is_request(&rest)
    {
        return (Kind::Prompt, false, text.to_string());
    }
    if event_quickadd::parse(text, now).is_ok_and(|d| d.end_written) {
        return (Kind::Event, false, text.to_string());
    }
    (Kind::Task, false, text.to_string())
}

/// Reads the line as the kind [`decide`] gives; errors are under the field `text`.
pub fn parse(text: &str, now: DateTime<Tz>) -> Result<Parsed, AppError> {
    let (kind, _, text) = decide(text, now);
    let bad = |e: crate::dates::ParseError| AppError::invalid("text", e.to_string());
    Ok(match kind {
        Kind::Task => Parsed::Task(task_quickadd::parse(&text, now).map_err(bad)?),
        Kind::Event => Parsed::Event(event_quickadd::parse(&text, now).map_err(bad)?),
        Kind::Prompt => {
            let Some((when, spec, prompt)) = leading_timing(&text, now) else {
                return Err(AppError::invalid(
                    "text",
                    "a scheduled prompt starts with when it fires, then what to ask \
                     (“every weekday 9:00 ask the agent for the news”)",
                ));
            };
            Parsed::Prompt(PromptDraft { when, spec, prompt })
        }
    })
}

/// What the box added.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub kind: Kind,
    pub id: i32,
    pub title: String,
}

/// Adds what the line describes, as `actor`, and tells the open pages (and the scheduler, for
/// a prompt). The one entry point of the page and any other door.
pub async fn add(
    services: &crate::services::Services,
    actor: crate::services::Actor,
    text: &str,
) -> Result<Added, AppError> {
    /// Done in the database trip, or a prompt left to create after it.
    enum Step {
        Done(Added, Option<i32>),
        Prompt(PromptDraft),
    }
    let line = text.to_string();
    let step = services
        .run_as(actor, move |conn, ctx| {
            let (_, _, text) = decide(&line, ctx.local_now());
            Ok(match parse(&line, ctx.local_now())? {
                Parsed::Task(_) => {
                    let task = crate::tasks::service::add_text(conn, ctx, &text)?;
                    Step::Done(Added { kind: Kind::Task, id: task.id, title: task.title }, None)
                }
                Parsed::Event(draft) => {
                    let event = crate::calendar::service::create(conn, ctx, &draft.to_input())?;
                    let calendar = Some(event.calendar_id);
                    Step::Done(Added { kind: Kind::Event, id: event.id, title: event.title }, calendar)
                }
                Parsed::Prompt(p) => Step::Prompt(p),
            })
        })
        .await?;
    match step {
        Step::Done(added, calendar) => {
            match added.kind {
                Kind::Event => crate::calendar::service::announce(&services.events, calendar),
                _ => crate::tasks::service::announce(&services.events, Some(added.id)),
            }
            Ok(added)
        }
        Step::Prompt(p) => {
            let input = crate::schedules::ScheduleInput {
                prompt: Some(p.prompt),
                when: Some(p.when),
                ..Default::default()
            };
            let s = crate::schedules::service::create_checked(services, actor, input).await?;
            Ok(Added { kind: Kind::Prompt, id: s.id, title: s.name })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Tz> {
        // Wednesday 2 December 2026, 10:00 in Lisbon.
        chrono_tz::Europe::Lisbon.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap()
    }

    #[test]
    fn the_grammar_decides_the_kind() {
        let table = [
            ("every weekday 9:00 ask the agent for the news", Kind::Prompt, false),
            ("every 2 hours check my inbox and tell me what is urgent", Kind::Prompt, false),
            ("tomorrow 8am remind me to take the bins out", Kind::Prompt, false),
            ("in 20m ask about the deploy", Kind::Prompt, false),
            ("0 9 * * 1-5 summarise the calendar", Kind::Prompt, false),
            ("every monday 9:00 the agent writes a plan", Kind::Prompt, false),
            ("Lunch with Ana tomorrow 12:30-14:00", Kind::Event, false),
            ("Dentist fri 3pm for 1h at Main St", Kind::Event, false),
            ("Team offsite dec 20-27", Kind::Event, false),
            ("Holiday tomorrow all day", Kind::Event, false),
            ("Standup every weekday 9:30 for 15m", Kind::Event, false),
            ("Call mom tomorrow 5pm +family p1", Kind::Task, false),
            ("Water plants every 3 days", Kind::Task, false),
            ("every day 9:00 water the plants", Kind::Task, false),
            ("Buy milk", Kind::Task, false),
            ("tomorrow 9am", Kind::Task, false),
            ("t:2026-12-05 Start the report", Kind::Task, false),
            ("t: Lunch with Ana tomorrow 12:30-14:00", Kind::Task, true),
            ("e: Call mom tomorrow 5pm", Kind::Event, true),
            ("S: every day 9:00 water the plants", Kind::Prompt, true),
            ("  s:  every day 9:00 water the plants", Kind::Prompt, true),
        ];
        for (text, kind, forced) in table {
            let (k, f, _) = decide(text, now());
            assert_eq!((k, f), (kind, forced), "{text}");
        }
    }

    #[test]
    fn each_kind_is_read_by_its_own_grammar() {
        let Ok(Parsed::Prompt(p)) = parse("every weekday 9:00 ask the agent for the news", now()) else {
            panic!("a prompt")
        };
        assert_eq!(
            (p.when.as_str(), p.prompt.as_str()),
            ("every weekday 9:00", "ask the agent for the news")
        );
        assert_eq!(p.spec.cron_text(), Some("0 9 * * 1-5"));

        let Ok(Parsed::Event(e)) = parse("Lunch with Ana tomorrow 12:30-14:00", now()) else {
            panic!("an event")
        };
        assert_eq!(e.title, "Lunch with Ana");
        assert_eq!(e.start_end_text(), ("2026-12-03T12:30".to_string(), "2026-12-03T14:00".to_string()));

        let Ok(Parsed::Task(t)) = parse("t: Lunch with Ana tomorrow 12:30-14:00", now()) else {
            panic!("a task")
        };
        assert!(t.body.starts_with("Lunch with Ana"), "{}", t.body);

        let Ok(Parsed::Prompt(p)) = parse("s: every day 9:00 water the plants", now()) else {
            panic!("a prompt")
        };
        assert_eq!(p.prompt, "water the plants");
    }

    #[test]
    fn a_forced_kind_that_does_not_read_says_why() {
        for (text, says) in
            [("s: water the plants", "starts with when it fires"), ("e: Buy milk", "text"), ("t: ", "empty")]
        {
            let e = parse(text, now()).unwrap_err();
            assert_eq!(e.field(), Some("text"), "{text}");
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
    }
}
