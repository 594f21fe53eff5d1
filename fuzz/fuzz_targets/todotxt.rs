//! `TodoLine::parse` / `to_line`, `parse_body` and `Due::parse`.
//!
//! Checks: nothing panics; for every piece of the text between `\n`/`\r`,
//! `TodoLine::parse(s).to_line() == s`; `parse_body` drops no word; a parsed
//! `due:` value prints (`to_value`) to a value that parses back to the same
//! instant/day.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use steward::tasks::todotxt::{Due, TodoLine, parse_body};

fuzz_target!(|data: &[u8]| {
    let Some(input) = common::split(data) else { return };
    let tz = input.tz;
    let text = input.text;

    // Any text, newlines included: must not panic.
    let _ = TodoLine::parse(text).to_line();

    for line in text.split(['\n', '\r']) {
        let parsed = TodoLine::parse(line);
        let back = parsed.to_line();
        assert_eq!(back, line, "TodoLine::parse(s).to_line() != s; parsed = {parsed:?}");

        let body = parse_body(&parsed.body);
        let title_words = body.title.split_whitespace().count();
        let parts = title_words + body.projects.len() + body.contexts.len() + body.tags.len();
        assert_eq!(parts, parsed.body.split_whitespace().count(), "parse_body dropped a word: {body:?}");

        for (key, value) in &body.tags {
            if key == "due" {
                check_due(value, tz);
            }
        }
    }
    // The whole text as a due value (mostly garbage, sometimes a stamp).
    check_due(text, tz);
});

fn check_due(value: &str, tz: chrono_tz::Tz) {
    let Ok(due) = Due::parse(value, tz) else { return };
    let _ = due.date_in(tz);
    let canonical = due.to_value();
    match Due::parse(&canonical, tz) {
        Ok(again) => assert_eq!(
            again, due,
            "Due::parse({value:?}) = {due:?} prints as {canonical:?}, which parses to {again:?}"
        ),
        Err(e) => panic!("Due::parse({value:?}) = {due:?} prints as {canonical:?}, which fails: {e}"),
    }
}
