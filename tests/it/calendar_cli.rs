//! `steward event ...`, `steward import ics`, `steward export ics`.

use std::path::Path;
use std::process::Output;

fn steward(db: &Path, args: &[&str]) -> Output {
    crate::helpers::steward_cli(db, args, &[], "")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const FILE: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:one@example.com\r\nDTSTART;TZID=Europe/Berlin:20260302T093000\r\nDTEND;TZID=Europe/Berlin:20260302T100000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Weekly\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:two@example.com\r\nSUMMARY:No start\r\nEND:VEVENT\r\nBEGIN:VTODO\r\nUID:three@example.com\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";

#[test]
fn import_export_and_event_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let file = dir.path().join("in.ics");
    std::fs::write(&file, FILE).unwrap();

    let out = steward(&db, &["import", "ics", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "1 imported, 0 updated, 2 skipped");
    assert_eq!(lines[1], "skipped two@example.com: it has no DTSTART");
    assert!(lines[2].starts_with("skipped three@example.com: is a task (VTODO)"), "{stdout}");

    let out = steward(&db, &["import", "ics", file.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["unchanged"], 1);
    assert_eq!(report["skipped"][0]["uid"], "two@example.com");

    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "shopping list\nmilk\n").unwrap();
    let out = steward(&db, &["import", "ics", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not an iCalendar file"), "{}", text(&out.stderr));

    let out = steward(
        &db,
        &[
            "event",
            "add",
            "--title",
            "Dentist",
            "--start",
            "2026-03-03T15:00",
            "--location",
            "Main St",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["end"], "2026-03-03T16:00");
    let id = e["id"].as_i64().unwrap().to_string();

    let out = steward(&db, &["event", "list", "--from", "2026-03-01", "--to", "2026-03-20"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().map(|l| l.split("  #").next().unwrap()).collect::<Vec<_>>(),
        [
            "2026-03-02 09:30–10:00  Weekly",
            "2026-03-03 15:00–16:00  Dentist",
            "2026-03-09 09:30–10:00  Weekly",
            "2026-03-16 09:30–10:00  Weekly"
        ],
        "{stdout}"
    );
    let out = steward(&db, &["event", "show", &id]);
    assert!(text(&out.stdout).contains("where     Main St"), "{}", text(&out.stdout));

    let out = steward(
        &db,
        &["event", "add", "--title", "Bad", "--start", "2026-03-03T15:00", "--rrule", "FREQ=SOMETIMES"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("rrule: FREQ=SOMETIMES is not a frequency"), "{}", text(&out.stderr));

    let out = steward(&db, &["event", "rm", &id]);
    assert!(out.status.success());
    let out = steward(&db, &["export", "ics"]);
    let exported = text(&out.stdout);
    assert!(exported.starts_with("BEGIN:VCALENDAR\r\n"));
    assert!(exported.contains("UID:one@example.com\r\n"));
    assert!(!exported.contains("Dentist"));
}
