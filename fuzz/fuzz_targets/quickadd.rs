//! `quickadd::parse(text, now)` with `now` and its zone from the header.
//!
//! Checks: nothing panics; on `Ok(q)` the line
//! `TodoLine { done: false, completed: None, priority: q.priority,
//! created: Some(today), body: q.body }.to_line()` parses back to the same
//! priority and body; every `due:`, `t:` and `rec:` tag in `q.body` is valid
//! (quick-add rejects invalid ones and writes the generated ones itself).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use steward::dates::parse_iso_date;
use steward::tasks::quickadd;
use steward::tasks::recur::Recurrence;
use steward::tasks::todotxt::{Due, TodoLine, parse_body};

fuzz_target!(|data: &[u8]| {
    let Some(input) = common::split(data) else { return };
    let Ok(q) = quickadd::parse(input.text, input.now) else { return };

    let line = TodoLine {
        done: false,
        completed: None,
        priority: q.priority,
        created: Some(input.now.date_naive()),
        body: q.body.clone(),
    }
    .to_line();
    let back = TodoLine::parse(&line);
    assert_eq!(back.priority, q.priority, "priority changed; line = {line:?}, q = {q:?}");
    assert_eq!(back.body, q.body, "body changed; line = {line:?}, q = {q:?}");

    for (key, value) in parse_body(&q.body).tags {
        let ok = match key.as_str() {
            "due" => Due::parse(&value, input.tz).map(|_| ()).map_err(|e| e.to_string()),
            "t" => match parse_iso_date(&value) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err("not a date".to_string()),
                Err(e) => Err(e),
            },
            "rec" => Recurrence::parse(&value).map(|_| ()).map_err(|e| e.to_string()),
            _ => Ok(()),
        };
        if let Err(e) = ok {
            panic!("quick-add wrote an invalid tag {key}:{value} ({e}); q = {q:?}");
        }
    }
});
