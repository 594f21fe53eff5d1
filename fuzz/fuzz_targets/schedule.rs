//! The schedule timing parsers (`at`, `cron`, `every`) and the preview, with `now` and its
//! zone from the header.
//!
//! Checks: nothing panics; a parsed spec's stored form parses back to the same stored form;
//! preview times are strictly increasing and strictly after `now`; a period prints as text
//! that parses back to the same number of seconds.
#![no_main]

mod common;

use chrono::Utc;
use libfuzzer_sys::fuzz_target;
use steward::schedules::spec::{Kind, Period, Spec};

fuzz_target!(|data: &[u8]| {
    let Some(input) = common::split(data) else { return };
    let (tz, now, text) = (input.tz, input.now, input.text);
    let from = now.with_timezone(&Utc);

    if let Ok(p) = Period::parse(text) {
        assert_eq!(Period::parse(&p.to_string()).map(|q| q.seconds).ok(), Some(p.seconds), "{text:?}");
    }
    for kind in [Kind::Once, Kind::Cron, Kind::Interval] {
        let Ok(spec) = Spec::parse(kind, text, now) else { continue };
        let stored = spec.to_stored();
        let back = Spec::from_stored(kind.as_str(), &stored).map(|s| s.to_stored());
        assert_eq!(back.ok().as_deref(), Some(stored.as_str()), "{kind:?} {text:?}");
        let times = spec.preview(from, tz, from, 4);
        let mut last = from;
        for t in times {
            assert!(t > last, "{kind:?} {text:?}: {t} after {last}");
            last = t;
        }
        let _ = spec.describe(tz);
    }
});
