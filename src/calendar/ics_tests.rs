//! ICS reader and writer tests: a messy file, re-imports, and the export → import round trip.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Wall;
use super::ics::{self, ImportReport};
use super::service::tests::{ctx, db, input};
use super::service::{self, Target};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// A file with the oddities real exports have: a BOM, LF and CRLF mixed, folded lines (space
/// and tab), an Outlook VTIMEZONE with a Windows name, DATE values, escaped commas, a VTODO, a
/// VJOURNAL, a broken event between good ones, a VALARM, EXDATE and an override.
pub(crate) const MESSY: &str = "\u{feff}BEGIN:VCALENDAR\r\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r\nVERSION:2.0\nBEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16011028T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010325T020000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\nBEGIN:VTIMEZONE\r\nTZID:My Office Zone\r\nBEGIN:STANDARD\r\nDTSTART:19701101T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700308T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:weekly-1@example.com\r\nDTSTART;TZID=W. Europe Standard Time:20260302T093000\r\nDTEND;TZID=W. Europe Standard Time:20260302T100000\r\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6\r\nEXDATE;TZID=W. Europe Standard Time:20260309T093000\r\nSUMMARY:Team sync with a very long title that is folded over more than one line \r\n because Outlook folds at seventy-five octets\r\nCATEGORIES:Work,Meetings\\, weekly\r\nDESCRIPTION:Line one\\nLine two\\; with a semicolon\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Reminder\r\nEND:VALARM\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:weekly-1@example.com\r\nRECURRENCE-ID:20260316T083000Z\r\nDTSTART;TZID=W. Europe Standard Time:20260317T110000\r\nDTEND;TZID=W. Europe Standard Time:20260317T113000\r\nSUMMARY:Team sync (moved to Tuesday)\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:broken@example.com\r\nDTSTART:20260305T100000Z\r\nTHIS LINE IS BROKEN\r\nSUMMARY:Broken\r\nEND:VEVENT\r\nBEGIN:VTODO\r\nUID:todo-1@example.com\r\nSUMMARY:A task\r\nEND:VTODO\r\nBEGIN:VJOURNAL\r\nUID:journal-1@example.com\r\nSUMMARY:A note\r\nEND:VJOURNAL\r\nBEGIN:VEVENT\nUID:holiday@example.com\nDTSTART;VALUE=DATE:20260406\nDTEND;VALUE=DATE:20260407\nSUMMARY:Easter Monday\nEND:VEVENT\nBEGIN:VEVENT\r\nUID:office@example.com\r\nDTSTART;TZID=My Office Zone:20260310T090000\r\nDURATION:PT45M\r\nSUMMARY:Office\r\nLOCATION:Main St\\, 4\r\nX-CUSTOM-THING;X-PARAM=\"a:b\":kept\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:no-dtstart@example.com\r\nSUMMARY:No start\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

fn import(conn: &mut crate::db::Conn, text: &str) -> ImportReport {
    let ctx = ctx("2026-03-01T00:00:00Z", "Europe/Berlin");
    ics::import(conn, &ctx, 1, text).unwrap()
}

#[test]
fn a_messy_file_imports_what_it_can_and_says_what_it_skipped() {
    let (_dir, mut conn) = db();
    let report = import(&mut conn, MESSY);
    assert_eq!((report.imported, report.updated), (4, 0), "{report:?}");
    let skipped: Vec<&str> = report.skipped.iter().map(|(uid, _)| uid.as_str()).collect();
    assert_eq!(
        skipped,
        ["broken@example.com", "todo-1@example.com", "journal-1@example.com", "no-dtstart@example.com"]
    );
    assert!(report.skipped[0].1.contains("THIS LINE IS BROKEN"), "{:?}", report.skipped[0]);
    assert!(report.skipped[1].1.contains("VTODO"));
    assert_eq!(report.summary(), "4 imported, 0 updated, 4 skipped");

    let rows = service::list(&mut conn, None).unwrap();
    let weekly = rows.iter().find(|e| e.uid == "weekly-1@example.com" && e.recurrence_id.is_none()).unwrap();
    assert_eq!(weekly.zone.as_deref(), Some("Europe/Berlin"));
    assert!(weekly.title.ends_with("because Outlook folds at seventy-five octets"));
    assert_eq!(weekly.category_list(), ["Work", "Meetings, weekly"]);
    assert_eq!(weekly.notes.as_deref(), Some("Line one\nLine two; with a semicolon"));
    assert_eq!(weekly.alarm_list().len(), 1);
    assert_eq!(weekly.alarm_list()[0].trigger, "-PT15M");
    let moved = rows.iter().find(|e| e.recurrence_id.is_some()).unwrap();
    // RECURRENCE-ID was given in UTC; it is kept in the series' frame.
    assert_eq!(moved.recurrence_id.as_deref(), Some("2026-03-16T09:30:00"));
    let office = rows.iter().find(|e| e.uid == "office@example.com").unwrap();
    assert_eq!(office.zone.as_deref(), Some("America/New_York"));
    assert_eq!(office.end_local, "2026-03-10T09:45:00");
    assert_eq!(office.location.as_deref(), Some("Main St, 4"));
    assert!(office.extra.as_deref().unwrap().contains("X-CUSTOM-THING"));

    let ctx = ctx("2026-03-01T00:00:00Z", "Europe/Berlin");
    let (occ, _) =
        service::occurrences(&mut conn, &ctx, at("2026-03-01T00:00:00Z"), at("2026-05-01T00:00:00Z"), None)
            .unwrap();
    let got: Vec<String> = occ
        .iter()
        .map(|o| format!("{} {}", o.start_at.to_rfc3339(), o.title.chars().take(24).collect::<String>()))
        .collect();
    assert_eq!(
        got,
        [
            "2026-03-02T08:30:00+00:00 Team sync with a very lo",
            "2026-03-10T13:00:00+00:00 Office",
            "2026-03-17T10:00:00+00:00 Team sync (moved to Tues",
            "2026-03-23T08:30:00+00:00 Team sync with a very lo",
            "2026-03-30T07:30:00+00:00 Team sync with a very lo",
            "2026-04-05T22:00:00+00:00 Easter Monday",
            "2026-04-06T07:30:00+00:00 Team sync with a very lo",
        ]
    );

    // The same file again: nothing new, nothing doubled.
    let again = import(&mut conn, MESSY);
    assert_eq!((again.imported, again.updated, again.unchanged), (0, 0, 4), "{again:?}");
    assert_eq!(service::list(&mut conn, None).unwrap().len(), 4);

    // A newer SEQUENCE updates; an older one is refused.
    let newer = MESSY.replace("SUMMARY:Easter Monday", "SEQUENCE:2\r\nSUMMARY:Easter Monday (bank holiday)");
    assert_eq!(import(&mut conn, &newer).updated, 1);
    let older = MESSY.replace("SUMMARY:Easter Monday", "SEQUENCE:1\r\nSUMMARY:Easter Monday (old)");
    let report = import(&mut conn, &older);
    assert_eq!(report.updated, 0);
    assert!(
        report
            .skipped
            .iter()
            .any(|(uid, why)| uid == "holiday@example.com" && why.contains("SEQUENCE 1 < 2"))
    );
}

#[test]
fn what_is_not_a_calendar_says_so() {
    let (_dir, mut conn) = db();
    let ctx = ctx("2026-03-01T00:00:00Z", "Europe/Berlin");
    for text in ["", "hello world", "BEGIN:VCARD\r\nFN:Ana\r\nEND:VCARD\r\n", "\u{0}\u{1}binary"] {
        let e = ics::import(&mut conn, &ctx, 1, text).unwrap_err();
        assert_eq!(e.field(), Some("file"), "{text:?}");
        assert!(e.to_string().contains("not an iCalendar file"), "{e}");
    }
}

#[test]
fn a_missing_end_skips_that_event_only() {
    let (_dir, mut conn) = db();
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:20260301T100000Z\nSUMMARY:A\nBEGIN:VEVENT\nUID:b\nDTSTART:20260302T100000Z\nSUMMARY:B\nEND:VEVENT\nEND:VCALENDAR\n";
    let report = import(&mut conn, text);
    assert_eq!(report.imported, 1);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, "a");
    assert!(report.skipped[0].1.contains("no END:VEVENT"));
}

#[test]
fn folding_never_splits_a_character_and_lines_stay_within_75_octets() {
    let mut out = String::new();
    let line = format!("SUMMARY:{}", "é😀a".repeat(40));
    ics::fold_into(&mut out, &line);
    for l in out.split("\r\n") {
        assert!(l.len() <= 75, "{l}");
    }
    assert_eq!(ics::unfold(&out).join(""), line);
}

/// A calendar with the cases the round trip must keep: zoned series across DST with an EXDATE,
/// an override moved across DST, a COUNT-limited monthly by BYSETPOS, an all-day yearly, a
/// floating event, RDATEs with a period, a series split "this and following".
pub(crate) fn mixed_calendar(conn: &mut crate::db::Conn) {
    let ctx = ctx("2026-01-01T00:00:00Z", "Europe/Berlin");
    let add =
        |conn: &mut crate::db::Conn, v: serde_json::Value| service::create(conn, &ctx, &input(v)).unwrap();
    let weekly = add(
        conn,
        json!({"title": "Standup", "start": "2026-03-02T09:30", "end": "2026-03-02T09:45", "zone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR", "exdates": ["2026-03-04T09:30"]}),
    );
    service::update(
        conn,
        &ctx,
        weekly.id,
        &input(json!({"start": "2026-03-31T10:00", "end": "2026-03-31T10:30", "title": "Standup (moved)"})),
        Target::this(Wall::parse("2026-03-27T09:30").unwrap()),
    )
    .unwrap();
    add(
        conn,
        json!({"title": "Pay rent", "start": "2026-01-30T08:00", "zone": "America/New_York", "rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=18"}),
    );
    add(conn, json!({"title": "Birthday", "start": "2026-06-03", "rrule": "FREQ=YEARLY"}));
    add(
        conn,
        json!({"title": "Floating yoga", "start": "2026-04-01T07:00", "zone": null, "rrule": "FREQ=WEEKLY;UNTIL=20260701T000000"}),
    );
    add(
        conn,
        json!({"title": "Lord Howe call", "start": "2026-09-30T02:15", "end": "2026-09-30T03:00", "zone": "Australia/Lord_Howe", "rrule": "FREQ=DAILY;COUNT=10"}),
    );
    add(
        conn,
        json!({"title": "Extra dates", "start": "2026-05-05T18:00", "zone": "America/New_York", "rdates": ["2026-05-12T18:00", "2026-05-19T19:00/2026-05-19T21:00"]}),
    );
    let month = add(
        conn,
        json!({"title": "Book club", "start": "2026-01-15T19:00", "zone": "Europe/Berlin", "rrule": "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=12"}),
    );
    service::update(
        conn,
        &ctx,
        month.id,
        &input(json!({"start": "2026-06-15T20:00", "end": "2026-06-15T21:00"})),
        Target::following(Wall::parse("2026-06-15T19:00").unwrap()),
    )
    .unwrap();
    add(conn, json!({"title": "Trip", "start": "2026-12-20", "end": "2026-12-28"}));
}

pub(crate) fn occurrence_lines(conn: &mut crate::db::Conn, from: &str, to: &str) -> Vec<String> {
    let ctx = ctx("2026-01-01T00:00:00Z", "Europe/Berlin");
    let (occ, truncated) = service::occurrences(conn, &ctx, at(from), at(to), None).unwrap();
    assert!(!truncated);
    occ.iter()
        .map(|o| {
            if o.all_day {
                format!("{} {} {}", o.start.to_api(), o.end.to_api(), o.title)
            } else {
                format!("{} {} {}", o.start_at.to_rfc3339(), o.end_at.to_rfc3339(), o.title)
            }
        })
        .collect()
}

#[test]
fn export_then_import_into_an_empty_database_gives_the_same_occurrences() {
    let (_dir, mut conn) = db();
    mixed_calendar(&mut conn);
    let before = occurrence_lines(&mut conn, "2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z");
    assert!(before.len() > 150, "{}", before.len());
    let ctx = ctx("2026-01-01T00:00:00Z", "Europe/Berlin");
    let text = ics::export(&mut conn, &ctx, None, &ics::WriteOptions::default()).unwrap();
    assert!(text.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin"));
    assert!(text.contains("TZID:Australia/Lord_Howe"));
    assert!(text.contains("TZID:America/New_York"));

    let (_dir2, mut empty) = db();
    let report = ics::import(&mut empty, &ctx, 1, &text).unwrap();
    assert!(report.skipped.is_empty(), "{report:?}");
    let after = occurrence_lines(&mut empty, "2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z");
    assert_eq!(before, after);
    // And importing the export back into the same calendar changes nothing.
    let same = ics::import(&mut conn, &ctx, 1, &text).unwrap();
    assert_eq!((same.imported, same.updated), (0, 0), "{same:?}");
}

#[test]
fn every_edit_raises_the_sequence_that_the_export_carries() {
    let (_dir, mut conn) = db();
    let ctx = ctx("2026-01-01T00:00:00Z", "Europe/Berlin");
    let e =
        service::create(&mut conn, &ctx, &input(json!({"title": "A", "start": "2026-03-02T09:30"}))).unwrap();
    assert_eq!(e.sequence, 0);
    let e = service::update(&mut conn, &ctx, e.id, &input(json!({"title": "B"})), Target::ALL).unwrap();
    let e = service::update(&mut conn, &ctx, e.id, &input(json!({"location": "Home"})), Target::ALL).unwrap();
    assert_eq!(e.sequence, 2);
    let text = ics::export(&mut conn, &ctx, None, &ics::WriteOptions::default()).unwrap();
    assert!(text.contains(&format!("UID:{}\r\n", e.uid)));
    assert!(text.contains("SEQUENCE:2\r\n"));
}
