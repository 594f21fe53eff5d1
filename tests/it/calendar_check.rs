//! An independent check of Steward's recurrence: Python's `icalendar` + `recurring-ical-events`
//! expand Steward's exported calendar, and their occurrences must be Steward's own. Skipped
//! (with a note) where the Python packages are missing; CI installs them (`.ci/run`) and then
//! requires them.

use std::process::Command;

use serde_json::json;

use crate::helpers::*;

const EXPAND: &str = r#"
import sys, json, datetime, zoneinfo
import icalendar, recurring_ical_events
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
person = zoneinfo.ZoneInfo(sys.argv[4])
start = datetime.datetime.fromisoformat(sys.argv[2])
end = datetime.datetime.fromisoformat(sys.argv[3])
out = []
for ev in recurring_ical_events.of(cal).between(start, end):
    s = ev['DTSTART'].dt
    title = str(ev['SUMMARY'])
    if isinstance(s, datetime.datetime):
        if s.tzinfo is None:
            s = s.replace(tzinfo=person)
        out.append(s.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ') + ' ' + title)
    else:
        out.append(s.isoformat() + ' ' + title)
print(json.dumps(sorted(out)))
"#;

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import icalendar, recurring_ical_events"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn recurring_ical_events_expands_the_export_as_steward_does() {
    if !python_ready() {
        assert!(std::env::var_os("CI").is_none(), "CI must install icalendar and recurring-ical-events");
        eprintln!("skipping: pip install icalendar recurring-ical-events to run this check");
        return;
    }
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    let add = |body: serde_json::Value| {
        let api = &api;
        async move {
            let (status, e) = api.post("/events", body).await;
            assert_eq!(status, 201, "{e}");
            e["id"].as_i64().unwrap()
        }
    };
    let standup = add(json!({"title": "Standup", "start": "2026-03-02T09:30", "end": "2026-03-02T09:45", "zone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR", "exdates": ["2026-03-04T09:30"]})).await;
    let (s, _) = api
        .patch(
            &format!("/events/{standup}?scope=this&occurrence=2026-03-27T09:30"),
            json!({"start": "2026-03-31T10:00", "end": "2026-03-31T10:30", "title": "Standup moved"}),
        )
        .await;
    assert_eq!(s, 200);
    add(json!({"title": "Rent", "start": "2026-01-30T08:00", "zone": "America/New_York", "rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=18"})).await;
    add(json!({"title": "Month end", "start": "2026-01-31T18:00", "zone": "Asia/Tokyo", "rrule": "FREQ=MONTHLY;BYMONTHDAY=-1;UNTIL=20261231T000000Z"})).await;
    add(json!({"title": "Birthday", "start": "2026-06-03", "rrule": "FREQ=YEARLY"})).await;
    add(json!({"title": "Leap", "start": "2024-02-29", "rrule": "FREQ=YEARLY;COUNT=4"})).await;
    add(json!({"title": "Yoga", "start": "2026-04-01T07:00", "zone": null, "rrule": "FREQ=WEEKLY;UNTIL=20260701T000000"})).await;
    add(json!({"title": "Lord Howe", "start": "2026-09-30T02:15", "end": "2026-09-30T03:00", "zone": "Australia/Lord_Howe", "rrule": "FREQ=DAILY;COUNT=10"})).await;
    add(json!({"title": "Night shift", "start": "2026-10-22T02:30", "end": "2026-10-22T04:00", "zone": "Europe/Berlin", "rrule": "FREQ=DAILY;COUNT=7"})).await;
    add(json!({"title": "Extra", "start": "2026-05-05T18:00", "zone": "America/New_York", "rdates": ["2026-05-12T18:00", "2026-05-19T19:00"]})).await;
    add(json!({"title": "Last Friday", "start": "2026-01-30T12:00", "zone": "Europe/London", "rrule": "FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=2"})).await;
    add(json!({"title": "Fortnight", "start": "2026-01-04T17:00", "zone": "America/Los_Angeles", "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,TU;WKST=SU"})).await;
    let club = add(json!({"title": "Book club", "start": "2026-01-15T19:00", "zone": "Europe/Berlin", "rrule": "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=12"})).await;
    let (s, _) = api
        .patch(
            &format!("/events/{club}?scope=following&occurrence=2026-06-15T19:00"),
            json!({"start": "2026-06-15T20:00", "end": "2026-06-15T21:00", "title": "Book club late"}),
        )
        .await;
    assert_eq!(s, 200);
    add(json!({"title": "Trip", "start": "2026-12-20", "end": "2026-12-28"})).await;

    let ics =
        api.client.get(format!("{}/calendar.ics", api.base)).send().await.unwrap().text().await.unwrap();
    let path = app.dir.path().join("steward.ics");
    std::fs::write(&path, &ics).unwrap();
    let (from, to) = ("2026-01-01T00:00:00+00:00", "2028-01-01T00:00:00+00:00");
    let out = Command::new("python3")
        .args(["-c", EXPAND, path.to_str().unwrap(), from, to, "Europe/Berlin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();

    let (_, body) = api.get("/occurrences?from=2026-01-01T00:00:00Z&to=2028-01-01T00:00:00Z").await;
    assert_eq!(body["truncated"], false);
    let mut ours: Vec<String> = body["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let start = o["start"].as_str().unwrap();
            let start = if o["all_day"] == true {
                start.to_string()
            } else {
                chrono::DateTime::parse_from_rfc3339(start)
                    .unwrap()
                    .to_utc()
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string()
            };
            format!("{start} {}", o["title"].as_str().unwrap())
        })
        .collect();
    ours.sort();
    assert!(ours.len() > 300, "{}", ours.len());
    let only_ours: Vec<&String> = ours.iter().filter(|o| !theirs.contains(o)).collect();
    let only_theirs: Vec<&String> = theirs.iter().filter(|t| !ours.contains(t)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "only Steward: {only_ours:?}\nonly recurring-ical-events: {only_theirs:?}"
    );
}
