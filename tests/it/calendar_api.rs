//! `/api/v1/events`, `/api/v1/occurrences`, ICS import and export over HTTP.

use serde_json::json;

use crate::helpers::*;

fn starts(body: &serde_json::Value) -> Vec<String> {
    body["occurrences"].as_array().unwrap().iter().map(|o| o["start"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn events_are_created_listed_as_occurrences_and_edited_by_scope() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);

    let (status, e) = api
        .post(
            "/events",
            json!({"title": "Standup", "start": "2026-03-23T09:30", "end": "2026-03-23T09:45", "rrule": "FREQ=DAILY;COUNT=10", "categories": ["work"]}),
        )
        .await;
    assert_eq!(status, 201, "{e}");
    for key in [
        "id",
        "uid",
        "title",
        "start",
        "end",
        "all_day",
        "zone",
        "rrule",
        "exdates",
        "rdates",
        "location",
        "notes",
        "categories",
        "calendar",
        "sequence",
    ] {
        assert!(e.get(key).is_some(), "missing {key}: {e}");
    }
    assert_eq!(e["zone"], "Europe/Berlin");
    assert_eq!(e["calendar"], "Personal");
    assert_eq!(e["start"], "2026-03-23T09:30");
    let id = e["id"].as_i64().unwrap();

    // Across the spring change (29 March) the wall clock stays 09:30; the offset follows.
    let (status, body) =
        api.get("/occurrences?from=2026-03-28T00:00:00%2B01:00&to=2026-03-31T00:00:00%2B02:00").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        starts(&body),
        ["2026-03-28T09:30:00+01:00", "2026-03-29T09:30:00+02:00", "2026-03-30T09:30:00+02:00"]
    );
    let first = &body["occurrences"][0];
    assert_eq!(first["recurrence_id"], "2026-03-28T09:30");
    assert_eq!(first["calendar"], "Personal");
    assert_eq!(first["event_id"], id);
    assert_eq!(body["truncated"], false);

    // This occurrence: moved an hour later.
    let (status, o) = api
        .patch(
            &format!("/events/{id}?scope=this&occurrence=2026-03-29T09:30"),
            json!({"start": "2026-03-29T10:30", "end": "2026-03-29T10:45"}),
        )
        .await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["recurrence_id"], "2026-03-29T09:30:00");
    // This and following, from 31 March: the title changes from there on; COUNT is shared.
    let (status, tail) = api
        .patch(
            &format!("/events/{id}?scope=following&occurrence=2026-03-31T09:30"),
            json!({"title": "Daily"}),
        )
        .await;
    assert_eq!(status, 200, "{tail}");
    assert_ne!(tail["id"], id);
    // Delete one occurrence.
    assert_eq!(api.delete(&format!("/events/{id}?scope=this&occurrence=2026-03-24T09:30")).await, 204);

    let (_, body) = api.get("/occurrences?from=2026-03-01&to=2026-05-01").await;
    let got: Vec<String> = body["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{} {}", &o["start"].as_str().unwrap()[..16], o["title"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            "2026-03-23T09:30 Standup",
            "2026-03-25T09:30 Standup",
            "2026-03-26T09:30 Standup",
            "2026-03-27T09:30 Standup",
            "2026-03-28T09:30 Standup",
            "2026-03-29T10:30 Standup",
            "2026-03-30T09:30 Standup",
            "2026-03-31T09:30 Daily",
            "2026-04-01T09:30 Daily",
        ]
    );
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    for (body, field, message) in [
        (
            json!({"title": "x", "start": "2026-03-02T09:30", "rrule": "FREQ=SOMETIMES"}),
            "rrule",
            "FREQ=SOMETIMES is not a frequency",
        ),
        (json!({"title": "x", "start": "next tuesday"}), "start", "is not a date-time"),
        (
            json!({"title": "x", "start": "2026-03-02T09:30", "end": "2026-03-02T08:00"}),
            "end",
            "is before the start",
        ),
        (
            json!({"title": "x", "start": "2026-03-02T09:30", "zone": "Mars/Olympus"}),
            "zone",
            "is not an IANA time zone",
        ),
        (
            json!({"title": "x", "start": "2026-03-02T09:30", "calendar": "Nope"}),
            "calendar",
            "is not a calendar",
        ),
        (json!({"start": "2026-03-02T09:30"}), "title", "is required"),
        (json!({"title": "x", "start": "2026-03-02T09:30", "colour": "red"}), "colour", ""),
    ] {
        let (status, err) = api.post("/events", body.clone()).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(message), "{body}: {err}");
    }
    let (status, err) = api.get("/occurrences?from=2026-03-02&to=2026-03-01").await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("to")), "{err}");
    let (status, err) = api.get("/occurrences?from=soon&to=2026-03-01").await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("from")), "{err}");
    let (status, err) = api.get("/occurrences?to=2026-03-01").await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("from")), "{err}");
    let (status, _) = api.patch("/events/999?scope=sometimes", json!({})).await;
    assert_eq!(status, 422);
    assert_eq!(api.delete("/events/999").await, 404);
}

#[tokio::test]
async fn ics_import_and_export_over_http() {
    let app = logged_in_app().await;
    let token = app.api_token().await;
    let api = app.api(&token);
    let file = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a@example.com\r\nDTSTART;TZID=America/New_York:20260310T090000\r\nDTEND;TZID=America/New_York:20260310T100000\r\nSUMMARY:Call\r\nEND:VEVENT\r\nBEGIN:VTODO\r\nUID:t@example.com\r\nSUMMARY:Task\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    let res = api
        .client
        .post(format!("{}/calendar/import", api.base))
        .header("Content-Type", "text/calendar")
        .body(file)
        .send()
        .await
        .unwrap();
    let (status, report) = read(res).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"], 1);
    assert_eq!(report["skipped"][0]["uid"], "t@example.com");
    assert_eq!(report["summary"], "1 imported, 0 updated, 1 skipped");

    let res = api
        .client
        .post(format!("{}/calendar/import", api.base))
        .header("Content-Type", "text/calendar")
        .body("hello")
        .send()
        .await
        .unwrap();
    let (status, err) = read(res).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("file")), "{err}");

    let res = api.client.get(format!("{}/calendar.ics", api.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/calendar; charset=utf-8");
    let text = res.text().await.unwrap();
    assert!(text.contains("UID:a@example.com\r\n"), "{text}");
    assert!(text.contains("DTSTART;TZID=America/New_York:20260310T090000\r\n"));
    assert!(text.contains("BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n"));

    // Shown in the person's zone (Berlin) by the occurrences API.
    let (_, body) = api.get("/occurrences?from=2026-03-10&to=2026-03-11").await;
    assert_eq!(starts(&body), ["2026-03-10T14:00:00+01:00"]);
    assert_eq!(body["occurrences"][0]["zone"], "America/New_York");
}
