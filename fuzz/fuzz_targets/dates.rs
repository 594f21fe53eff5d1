//! `dates::parse_when`, `Recurrence::parse` and `recur::next_occurrence`,
//! with `now` and its zone from the header.
//!
//! Checks: nothing panics; a parsed `Recurrence` prints (`Display`) to a
//! value that parses back equal; `next_occurrence` of each line (completed
//! on `now`'s date) is an open line created that day, whose `due:`/`t:` tags
//! are valid (when they were valid or absent before), and whose `to_line()`
//! parses back to the same `TodoLine`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use steward::dates::{parse_iso_date, parse_when};
use steward::tasks::recur::{Recurrence, next_occurrence};
use steward::tasks::todotxt::{Due, TodoLine, parse_body};

fuzz_target!(|data: &[u8]| {
    let Some(input) = common::split(data) else { return };
    let (tz, now, text) = (input.tz, input.now, input.text);

    let _ = parse_when(text, now);

    for word in std::iter::once(text).chain(text.split_whitespace()) {
        let value = word.strip_prefix("rec:").unwrap_or(word);
        if let Ok(rec) = Recurrence::parse(value) {
            let shown = rec.to_string();
            assert_eq!(Recurrence::parse(&shown).ok(), Some(rec), "{value:?} -> {rec:?} prints as {shown:?}");
        }
    }

    let completed_on = now.date_naive();
    for line in text.split(['\n', '\r']) {
        let todo = TodoLine::parse(line);
        let Some(next) = next_occurrence(&todo, completed_on, tz) else { continue };
        assert!(!next.done && next.completed.is_none(), "next is done: {next:?}");
        assert_eq!(next.created, Some(completed_on), "next.created: {next:?}");
        assert_eq!(next.priority, todo.priority, "next.priority: {next:?}");
        // A tag that was valid (or absent) before must be valid after.
        let due_ok = |v: &str| Due::parse(v, tz).is_ok();
        let t_ok = |v: &str| matches!(parse_iso_date(v), Ok(Some(_)));
        let (old, new) = (parse_body(&todo.body), parse_body(&next.body));
        for (key, valid) in [("due", &due_ok as &dyn Fn(&str) -> bool), ("t", &t_ok)] {
            if old.tag(key).is_none_or(valid)
                && let Some(v) = new.tag(key)
            {
                assert!(valid(v), "next has an invalid {key}:{v}; from {line:?} -> {next:?}");
            }
        }
        let printed = next.to_line();
        assert_eq!(TodoLine::parse(&printed), next, "next.to_line() = {printed:?} does not parse back");
    }
});
