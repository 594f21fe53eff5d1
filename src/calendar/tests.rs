//! Expansion table tests with fixed clocks: each case stores an event through the service and
//! lists its occurrences in a window, as local times with their offsets in the event's zone.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::service::tests::{ctx, db, input};
use super::service::{self, Target};
use super::{Wall, resolve};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Occurrences of everything stored, in `[from, to)`, as `start` in the offset of the zone
/// `show` (or dates for all-day ones).
fn list(conn: &mut crate::db::Conn, person_tz: &str, show: &str, from: &str, to: &str) -> Vec<String> {
    let ctx = ctx("2026-01-01T00:00:00Z", person_tz);
    let tz: chrono_tz::Tz = show.parse().unwrap();
    let (occ, truncated) = service::occurrences(conn, &ctx, at(from), at(to), None).unwrap();
    assert!(!truncated);
    occ.iter()
        .map(|o| {
            if o.all_day {
                o.start.to_api()
            } else {
                o.start_at.with_timezone(&tz).format("%Y-%m-%dT%H:%M%:z").to_string()
            }
        })
        .collect()
}

fn case(person_tz: &str, event: serde_json::Value, from: &str, to: &str) -> Vec<String> {
    let (_dir, mut conn) = db();
    let ctx = ctx("2026-01-01T00:00:00Z", person_tz);
    service::create(&mut conn, &ctx, &input(event.clone())).unwrap();
    let show = event["zone"].as_str().unwrap_or(person_tz).to_string();
    list(&mut conn, person_tz, &show, from, to)
}

#[test]
fn expansion_table() {
    let cases: Vec<(&str, serde_json::Value, &str, &str, Vec<&str>)> = vec![
        (
            "Berlin spring forward: 02:30 does not exist on 29 March and reads as 03:30",
            json!({"title": "t", "start": "2026-03-28T02:30", "zone": "Europe/Berlin", "rrule": "FREQ=DAILY;COUNT=3"}),
            "2026-03-01T00:00:00Z",
            "2026-04-01T00:00:00Z",
            vec!["2026-03-28T02:30+01:00", "2026-03-29T03:30+02:00", "2026-03-30T02:30+02:00"],
        ),
        (
            "Berlin fall back: 02:30 happens twice on 25 October; the first one",
            json!({"title": "t", "start": "2026-10-24T02:30", "zone": "Europe/Berlin", "rrule": "FREQ=DAILY;COUNT=3"}),
            "2026-10-01T00:00:00Z",
            "2026-11-01T00:00:00Z",
            vec!["2026-10-24T02:30+02:00", "2026-10-25T02:30+02:00", "2026-10-26T02:30+01:00"],
        ),
        (
            "New York: a weekly 09:00 stays at 09:00 across the March change",
            json!({"title": "t", "start": "2026-03-02T09:00", "zone": "America/New_York", "rrule": "FREQ=WEEKLY;BYDAY=MO"}),
            "2026-03-01T00:00:00Z",
            "2026-03-17T00:00:00Z",
            vec!["2026-03-02T09:00-05:00", "2026-03-09T09:00-04:00", "2026-03-16T09:00-04:00"],
        ),
        (
            "Lord Howe (a 30-minute shift): 02:15 on 4 October does not exist and reads as 02:45",
            json!({"title": "t", "start": "2026-10-03T02:15", "zone": "Australia/Lord_Howe", "rrule": "FREQ=DAILY;COUNT=3"}),
            "2026-10-01T00:00:00Z",
            "2026-10-10T00:00:00Z",
            vec!["2026-10-03T02:15+10:30", "2026-10-04T02:45+11:00", "2026-10-05T02:15+11:00"],
        ),
        (
            "Lord Howe: 01:45 on 5 April happens twice; the first (+11:00)",
            json!({"title": "t", "start": "2026-04-04T01:45", "zone": "Australia/Lord_Howe", "rrule": "FREQ=DAILY;COUNT=3"}),
            "2026-04-01T00:00:00Z",
            "2026-04-10T00:00:00Z",
            vec!["2026-04-04T01:45+11:00", "2026-04-05T01:45+11:00", "2026-04-06T01:45+10:30"],
        ),
        (
            "A leap day recurs in leap years only",
            json!({"title": "t", "start": "2024-02-29", "rrule": "FREQ=YEARLY;COUNT=3"}),
            "2024-01-01T00:00:00Z",
            "2040-01-01T00:00:00Z",
            vec!["2024-02-29", "2028-02-29", "2032-02-29"],
        ),
        (
            "BYMONTHDAY=31 skips the shorter months",
            json!({"title": "t", "start": "2026-01-31", "rrule": "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=5"}),
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
            vec!["2026-01-31", "2026-03-31", "2026-05-31", "2026-07-31", "2026-08-31"],
        ),
        (
            "BYMONTHDAY=-1 is each month's last day",
            json!({"title": "t", "start": "2026-01-31", "rrule": "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=4"}),
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
            vec!["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"],
        ),
        (
            "BYSETPOS=-1: the last weekday of the month",
            json!({"title": "t", "start": "2026-01-30T17:00", "zone": "UTC", "rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=3"}),
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
            vec!["2026-01-30T17:00+00:00", "2026-02-27T17:00+00:00", "2026-03-31T17:00+00:00"],
        ),
        (
            "-1FR: the last Friday",
            json!({"title": "t", "start": "2026-01-30", "rrule": "FREQ=MONTHLY;BYDAY=-1FR;COUNT=3"}),
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
            vec!["2026-01-30", "2026-02-27", "2026-03-27"],
        ),
        (
            "COUNT=3",
            json!({"title": "t", "start": "2026-05-01T08:00", "zone": "Europe/Berlin", "rrule": "FREQ=DAILY;COUNT=3"}),
            "2026-05-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
            vec!["2026-05-01T08:00+02:00", "2026-05-02T08:00+02:00", "2026-05-03T08:00+02:00"],
        ),
        (
            "UNTIL (UTC) includes an occurrence exactly at it",
            json!({"title": "t", "start": "2026-05-01T08:00", "zone": "Europe/Berlin", "rrule": "FREQ=DAILY;UNTIL=20260503T060000Z"}),
            "2026-05-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
            vec!["2026-05-01T08:00+02:00", "2026-05-02T08:00+02:00", "2026-05-03T08:00+02:00"],
        ),
        (
            "RFC 5545's WKST example (WKST=MO)",
            json!({"title": "t", "start": "1997-08-05T09:00", "zone": "America/New_York", "rrule": "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO"}),
            "1997-08-01T00:00:00Z",
            "1997-10-01T00:00:00Z",
            vec![
                "1997-08-05T09:00-04:00",
                "1997-08-10T09:00-04:00",
                "1997-08-19T09:00-04:00",
                "1997-08-24T09:00-04:00",
            ],
        ),
        (
            "RFC 5545's WKST example (WKST=SU)",
            json!({"title": "t", "start": "1997-08-05T09:00", "zone": "America/New_York", "rrule": "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU"}),
            "1997-08-01T00:00:00Z",
            "1997-10-01T00:00:00Z",
            vec![
                "1997-08-05T09:00-04:00",
                "1997-08-17T09:00-04:00",
                "1997-08-19T09:00-04:00",
                "1997-08-31T09:00-04:00",
            ],
        ),
        (
            "RFC 5545: the second-to-last weekday of the month",
            json!({"title": "t", "start": "1997-09-29T09:00", "zone": "America/New_York", "rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2;COUNT=3"}),
            "1997-09-01T00:00:00Z",
            "1998-01-01T00:00:00Z",
            vec!["1997-09-29T09:00-04:00", "1997-10-30T09:00-05:00", "1997-11-27T09:00-05:00"],
        ),
        (
            "RFC 5545: every Thursday in March, yearly",
            json!({"title": "t", "start": "1997-03-13T09:00", "zone": "America/New_York", "rrule": "FREQ=YEARLY;BYMONTH=3;BYDAY=TH;COUNT=5"}),
            "1997-01-01T00:00:00Z",
            "1999-01-01T00:00:00Z",
            vec![
                "1997-03-13T09:00-05:00",
                "1997-03-20T09:00-05:00",
                "1997-03-27T09:00-05:00",
                "1998-03-05T09:00-05:00",
                "1998-03-12T09:00-05:00",
            ],
        ),
        (
            "RFC 5545: Monday of week 20, yearly",
            json!({"title": "t", "start": "1997-05-12T09:00", "zone": "America/New_York", "rrule": "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO;COUNT=3"}),
            "1997-01-01T00:00:00Z",
            "2000-01-01T00:00:00Z",
            vec!["1997-05-12T09:00-04:00", "1998-05-11T09:00-04:00", "1999-05-17T09:00-04:00"],
        ),
        (
            "RFC 5545: Friday the 13th",
            json!({"title": "t", "start": "1998-02-13T09:00", "zone": "America/New_York", "rrule": "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13;COUNT=3"}),
            "1998-01-01T00:00:00Z",
            "2000-01-01T00:00:00Z",
            vec!["1998-02-13T09:00-05:00", "1998-03-13T09:00-05:00", "1998-11-13T09:00-05:00"],
        ),
        (
            "HOURLY across the Berlin spring gap steps in elapsed hours",
            json!({"title": "t", "start": "2026-03-29T00:30", "zone": "Europe/Berlin", "rrule": "FREQ=HOURLY;COUNT=4"}),
            "2026-03-28T00:00:00Z",
            "2026-03-30T00:00:00Z",
            vec![
                "2026-03-29T00:30+01:00",
                "2026-03-29T01:30+01:00",
                "2026-03-29T03:30+02:00",
                "2026-03-29T04:30+02:00",
            ],
        ),
        (
            "EXDATE and RDATE (a date-time and a period)",
            json!({"title": "t", "start": "2026-06-01T10:00", "zone": "Europe/Berlin", "rrule": "FREQ=DAILY;COUNT=3",
                   "exdates": ["2026-06-02T10:00"], "rdates": ["2026-06-10T15:00", "2026-06-11T08:00/2026-06-11T09:00"]}),
            "2026-06-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
            vec![
                "2026-06-01T10:00+02:00",
                "2026-06-03T10:00+02:00",
                "2026-06-10T15:00+02:00",
                "2026-06-11T08:00+02:00",
            ],
        ),
        (
            "An all-day RDATE of dates only",
            json!({"title": "t", "start": "2026-06-01", "rdates": ["2026-06-05", "2026-06-09"]}),
            "2026-06-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
            vec!["2026-06-01", "2026-06-05", "2026-06-09"],
        ),
    ];
    for (name, event, from, to, want) in cases {
        assert_eq!(case("Europe/Berlin", event, from, to), want, "{name}");
    }
}

#[test]
fn hourly_rule_across_dst_is_exact_unlike_rrule_115() {
    // fmeringdal/rust-rrule#115: HOURLY across a DST change doubles or loses hours there. An
    // HOURLY rule without BYxxx steps in elapsed hours: in the fall both 01:00s come, once each.
    let got = case(
        "America/New_York",
        json!({"title": "t", "start": "2026-11-01T00:00", "zone": "America/New_York", "rrule": "FREQ=HOURLY;COUNT=4"}),
        "2026-10-31T00:00:00Z",
        "2026-11-03T00:00:00Z",
    );
    assert_eq!(
        got,
        [
            "2026-11-01T00:00-04:00",
            "2026-11-01T01:00-04:00",
            "2026-11-01T01:00-05:00",
            "2026-11-01T02:00-05:00"
        ]
    );
}

#[test]
fn floating_events_follow_the_persons_zone_and_zoned_ones_do_not() {
    let (_dir, mut conn) = db();
    let ctx = ctx("2026-01-01T00:00:00Z", "Europe/Berlin");
    service::create(
        &mut conn,
        &ctx,
        &input(json!({"title": "floating", "start": "2026-06-01T09:00", "zone": null})),
    )
    .unwrap();
    service::create(
        &mut conn,
        &ctx,
        &input(json!({"title": "zoned", "start": "2026-06-01T09:00", "zone": "Europe/Berlin"})),
    )
    .unwrap();
    for (tz, want) in [
        ("Europe/Berlin", ["2026-06-01T07:00:00+00:00", "2026-06-01T07:00:00+00:00"]),
        ("America/New_York", ["2026-06-01T07:00:00+00:00", "2026-06-01T13:00:00+00:00"]),
    ] {
        let ctx = super::service::tests::ctx("2026-01-01T00:00:00Z", tz);
        let (occ, _) = service::occurrences(
            &mut conn,
            &ctx,
            at("2026-05-31T00:00:00Z"),
            at("2026-06-03T00:00:00Z"),
            None,
        )
        .unwrap();
        let mut got: Vec<String> = occ.iter().map(|o| o.start_at.to_rfc3339()).collect();
        got.sort();
        assert_eq!(got, want, "{tz}");
    }
}

#[test]
fn an_override_moved_across_dst_replaces_its_occurrence() {
    let (_dir, mut conn) = db();
    let ctx = ctx("2026-01-01T00:00:00Z", "Europe/Berlin");
    let e = service::create(
        &mut conn,
        &ctx,
        &input(json!({"title": "Brunch", "start": "2026-03-22T10:00", "zone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;COUNT=3"})),
    )
    .unwrap();
    // The 22 March one (CET) moves to Monday 30 March (CEST), 11:00.
    let moved = service::update(
        &mut conn,
        &ctx,
        e.id,
        &input(json!({"start": "2026-03-30T11:00", "title": "Brunch (moved)"})),
        Target::this(Wall::parse("2026-03-22T10:00").unwrap()),
    )
    .unwrap();
    assert_eq!(moved.recurrence_id.as_deref(), Some("2026-03-22T10:00:00"));
    let got =
        list(&mut conn, "Europe/Berlin", "Europe/Berlin", "2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z");
    assert_eq!(got, ["2026-03-29T10:00+02:00", "2026-03-30T11:00+02:00", "2026-04-05T10:00+02:00"]);
}

#[test]
fn nonexistent_and_ambiguous_local_times_resolve_as_rfc_5545_says() {
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let t = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap();
    assert_eq!(resolve(berlin, t("2026-03-29T02:30")), at("2026-03-29T01:30:00Z"));
    assert_eq!(resolve(berlin, t("2026-10-25T02:30")), at("2026-10-25T00:30:00Z"));
}

#[test]
fn runaway_rules_are_bounded() {
    let (_dir, mut conn) = db();
    let ctx = ctx("2026-01-01T00:00:00Z", "UTC");
    for rule in [
        "FREQ=SECONDLY",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;COUNT=5",
        "FREQ=MINUTELY;BYMONTH=1;COUNT=100000",
        "FREQ=YEARLY;BYDAY=MO;BYSETPOS=300;COUNT=3",
        "FREQ=DAILY;BYMONTHDAY=31;BYMONTH=4;COUNT=2",
    ] {
        let started = std::time::Instant::now();
        service::create(
            &mut conn,
            &ctx,
            &input(json!({"title": rule, "start": "2026-03-01T00:00", "rrule": rule})),
        )
        .unwrap();
        let (occ, _) = service::occurrences(
            &mut conn,
            &ctx,
            at("2026-01-01T00:00:00Z"),
            at("2100-01-01T00:00:00Z"),
            None,
        )
        .unwrap();
        assert!(occ.len() <= crate::calendar::MAX_OCCURRENCES, "{rule}");
        eprintln!("{rule}: {:?}", started.elapsed());
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{rule}: {:?}", started.elapsed());
    }
}

/// "This and following" splits a series without losing or doubling an occurrence, whatever the
/// rule (COUNT-limited, UNTIL, unbounded, BYSETPOS, RDATE, EXDATE, all-day, floating), and
/// "delete following" keeps exactly the ones before.
#[test]
fn splitting_a_series_keeps_every_occurrence_once() {
    let series = [
        json!({"title": "s", "start": "2026-03-02T09:30", "zone": "Europe/Berlin", "rrule": "FREQ=DAILY;COUNT=20"}),
        json!({"title": "s", "start": "2026-03-02T09:30", "zone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20260501T000000Z", "exdates": ["2026-03-25T09:30"]}),
        json!({"title": "s", "start": "2026-01-30T17:00", "zone": "America/New_York", "rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=8"}),
        json!({"title": "s", "start": "2026-03-01", "rrule": "FREQ=WEEKLY;INTERVAL=2;COUNT=6", "rdates": ["2026-03-20"]}),
        json!({"title": "s", "start": "2026-03-02T07:00", "zone": null, "rrule": "FREQ=DAILY;INTERVAL=3"}),
    ];
    let window = ("2026-01-01T00:00:00Z", "2026-09-01T00:00:00Z");
    for event in series {
        let (_dir, mut conn) = db();
        let ctx = ctx("2026-01-01T00:00:00Z", "Europe/Berlin");
        let e = service::create(&mut conn, &ctx, &input(event.clone())).unwrap();
        let all = service::occurrences(&mut conn, &ctx, at(window.0), at(window.1), None).unwrap().0;
        let keys: Vec<Wall> = all.iter().filter_map(|o| o.recurrence_id).collect();
        assert!(keys.len() >= 6, "{event}");
        let show = |conn: &mut crate::db::Conn| -> Vec<String> {
            service::occurrences(conn, &ctx, at(window.0), at(window.1), None)
                .unwrap()
                .0
                .iter()
                .map(|o| format!("{} {}", o.start_at.to_rfc3339(), o.end_at.to_rfc3339()))
                .collect()
        };
        let before = show(&mut conn);
        for split in [keys[1], keys[keys.len() / 2], keys[keys.len() - 2]] {
            let (_dir2, mut other) = db();
            let e2 = service::create(&mut other, &ctx, &input(event.clone())).unwrap();
            service::update(&mut other, &ctx, e2.id, &input(json!({})), Target::following(split)).unwrap();
            assert_eq!(show(&mut other), before, "{event} split at {split:?}");
            // And a second split of the second part.
            let rows = service::list(&mut other, None).unwrap();
            let tail = rows.iter().max_by_key(|r| r.id).unwrap();
            let later = keys.iter().copied().filter(|k| *k > split).nth(1);
            if let Some(later) = later {
                service::update(&mut other, &ctx, tail.id, &input(json!({})), Target::following(later))
                    .unwrap();
                assert_eq!(show(&mut other), before, "{event} split twice at {later:?}");
            }
            let (_dir3, mut third) = db();
            let e3 = service::create(&mut third, &ctx, &input(event.clone())).unwrap();
            service::delete(&mut third, &ctx, e3.id, Target::following(split)).unwrap();
            let cut = before
                .iter()
                .take(keys.iter().position(|k| *k == split).unwrap())
                .cloned()
                .collect::<Vec<_>>();
            assert_eq!(show(&mut third), cut, "{event} deleted from {split:?}");
        }
        let _ = e;
    }
}

#[test]
fn a_long_range_keeps_the_earliest_ten_thousand_once_each() {
    let (_dir, mut conn) = db();
    let ctx = ctx("2026-01-01T00:00:00Z", "Europe/Berlin");
    // 40 daily series: 14,600 occurrences in a year; plus a five-day event across a month's end
    // and a single event late in the year.
    for i in 0..40 {
        service::create(&mut conn, &ctx, &input(json!({"title": format!("s{i:02}"), "start": format!("2025-06-01T{:02}:00", 6 + i % 12), "rrule": "FREQ=DAILY"}))).unwrap();
    }
    service::create(
        &mut conn,
        &ctx,
        &input(json!({"title": "long", "start": "2026-01-30", "end": "2026-02-04"})),
    )
    .unwrap();
    service::create(&mut conn, &ctx, &input(json!({"title": "late", "start": "2026-12-30T10:00"}))).unwrap();
    let (occ, truncated) =
        service::occurrences(&mut conn, &ctx, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"), None)
            .unwrap();
    assert!(truncated);
    assert_eq!(occ.len(), crate::calendar::MAX_OCCURRENCES);
    assert!(occ.windows(2).all(|w| w[0].start_at <= w[1].start_at));
    assert_eq!(occ.iter().filter(|o| o.title == "long").count(), 1);
    // The first 10,000 by start: 250 whole days of 40 a day.
    assert_eq!(occ.last().unwrap().start_at.date_naive().to_string(), "2026-09-07");
    let (short, truncated) =
        service::occurrences(&mut conn, &ctx, at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z"), None)
            .unwrap();
    assert!(!truncated);
    assert_eq!(short.len(), 31 * 40 + 1);
    let (mid, _) =
        service::occurrences(&mut conn, &ctx, at("2026-02-01T00:00:00Z"), at("2026-05-01T00:00:00Z"), None)
            .unwrap();
    assert_eq!(mid.len(), (28 + 31 + 30) * 40 + 1, "the long event once, from before the range");
}

// --- calperf: the API's JSON written straight from the occurrences, and the range index ---

/// `occurrences_json` writes the same JSON as serialising `to_json`'s values: zoned, floating
/// and all-day events, an override, offsets either side of UTC and of a DST change, a title
/// and a location that need escaping.
#[test]
fn occurrences_written_as_text_match_their_json_values() {
    let (_dir, mut conn) = db();
    let ctx0 = ctx("2026-01-01T00:00:00Z", "America/New_York");
    for event in [
        json!({"title": "Stand-up \"daily\" \\ ok", "start": "2026-03-06T09:30", "end": "2026-03-06T09:45",
               "zone": "Europe/Berlin", "rrule": "FREQ=DAILY;COUNT=40", "location": "Room\t1 → ünïcode"}),
        json!({"title": "Floating", "start": "2026-03-07T23:30", "end": "2026-03-08T00:30"}),
        json!({"title": "Holiday", "start": "2026-03-08", "end": "2026-03-10", "all_day": true}),
        json!({"title": "Lord Howe", "start": "2026-04-01T01:45", "end": "2026-04-01T02:15",
               "zone": "Australia/Lord_Howe", "rrule": "FREQ=WEEKLY"}),
    ] {
        service::create(&mut conn, &ctx0, &input(event)).unwrap();
    }
    for tz in ["America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe"] {
        let ctx = ctx("2026-01-01T00:00:00Z", tz);
        let (occ, truncated) = service::occurrences(
            &mut conn,
            &ctx,
            at("2026-03-01T00:00:00Z"),
            at("2026-05-01T00:00:00Z"),
            None,
        )
        .unwrap();
        assert!(occ.len() > 40);
        let names = service::calendar_names(&mut conn).unwrap();
        let name = |id: i32| names.get(&id).cloned().unwrap_or_default();
        let want = json!({
            "occurrences": occ.iter().map(|o| o.to_json(ctx.tz, &name(o.calendar_id))).collect::<Vec<_>>(),
            "truncated": truncated,
        });
        let text = service::occurrences_json(&occ, truncated, ctx.tz, name);
        assert_eq!(String::from_utf8(text.clone()).unwrap(), want.to_string(), "in {tz}");
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&text).unwrap(), want);
    }
}

/// The range query reads rows through `events_by_span` (calendar, start, last end), not every
/// row of the calendar through `events_uid`.
#[test]
fn the_range_query_uses_the_span_index() {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Plan {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    let (_dir, mut conn) = db();
    let plan: Vec<Plan> = diesel::sql_query(
        "EXPLAIN QUERY PLAN SELECT * FROM events WHERE deleted_at IS NULL AND calendar_id IN (1, 2) \
         AND start_at < 100 AND (last_end_at IS NULL OR last_end_at > 5 OR recurrence_id IS NOT NULL)",
    )
    .load(&mut conn)
    .unwrap();
    let text: Vec<String> = plan.into_iter().map(|p| p.detail).collect();
    assert!(text.iter().any(|d| d.contains("events_by_span")), "{text:?}");
}

/// The API's form of a wall time, written without a format string, reads as before.
#[test]
fn wall_times_in_the_api_form() {
    let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let t = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap();
    for (wall, want) in [
        (Wall::Date(d("2026-03-02")), "2026-03-02"),
        (Wall::Date(d("0099-12-31")), "0099-12-31"),
        (Wall::DateTime(t("2026-03-02T09:30:00")), "2026-03-02T09:30"),
        (Wall::DateTime(t("2026-03-02T00:00:07")), "2026-03-02T00:00:07"),
        (Wall::DateTime(t("1969-12-31T23:59:30")), "1969-12-31T23:59:30"),
        (Wall::DateTime(t("1969-12-31T23:59:00")), "1969-12-31T23:59"),
    ] {
        assert_eq!(wall.to_api(), want);
        assert_eq!(Wall::parse(want), Some(wall));
    }
}
