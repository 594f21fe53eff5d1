//! Event reminders through the scheduler, with a fixed clock: each turn sets the clock and runs
//! what is due (as `steward schedule run-due` does), then reads the notifications written.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use steward::clock::FixedClock;

use crate::helpers::{Api, TestApp, spawn_app_at};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn ms(s: &str) -> i64 {
    utc(s).timestamp_millis()
}

/// The app (its own scheduler off), an API client, the clock, and the last notification seen.
struct Rig {
    app: TestApp,
    api: Api,
    clock: FixedClock,
    seen: Mutex<i32>,
}

#[derive(Debug, Clone, PartialEq)]
struct Said {
    title: String,
    body: String,
    subject: Option<String>,
    urgent: bool,
}

async fn rig(now: &str) -> Rig {
    let clock = FixedClock::new(utc(now));
    let app = spawn_app_at(&clock, |c| c.scheduler = false).await;
    let api = app.api(&app.api_token().await);
    Rig { app, api, clock, seen: Mutex::new(0) }
}

impl Rig {
    fn db(&self) -> steward::db::Db {
        steward::db::Db::open(&self.app.db_path).unwrap()
    }

    /// Sets the clock to `when`, runs what is due, and returns the notifications it wrote.
    async fn turn(&self, when: &str) -> Vec<Said> {
        self.clock.set(utc(when));
        let config = steward::config::Config {
            db: self.app.db_path.clone(),
            timezone: Some("Europe/Berlin".into()),
            ..Default::default()
        };
        let services = steward::services::Services::new(self.db(), config, Arc::new(self.clock.clone()));
        let chat = steward::chat::engine::Chat::new(services.clone());
        let (scheduler, _handle) = steward::scheduler::Scheduler::new(services, Arc::new(chat));
        scheduler.run_due_once().await.unwrap();
        let mut conn = self.db().conn().unwrap();
        let mut list = steward::notifications::list(&mut conn, 500).unwrap();
        list.reverse();
        let mut seen = self.seen.lock().unwrap();
        let last = *seen;
        *seen = list.iter().map(|n| n.id).max().unwrap_or(last).max(last);
        list.into_iter()
            .filter(|n| n.id > last)
            .map(|n| Said { title: n.title, body: n.body, subject: n.subject, urgent: n.urgent })
            .collect()
    }

    /// The reminder schedule of event series `id`: its next instant (RFC 3339), `None` when it
    /// has none or is gone.
    fn next(&self, id: i64) -> Option<String> {
        use steward::db::schema::schedules;
        let mut conn = self.db().conn().unwrap();
        let row: Option<(Option<i64>, Option<i64>)> = schedules::table
            .filter(schedules::source.eq(format!("event:{id}")))
            .filter(schedules::kind.eq("reminder"))
            .select((schedules::next_fire_at, schedules::deleted_at))
            .first(&mut conn)
            .optional()
            .unwrap();
        match row {
            Some((Some(next), None)) => Some(
                DateTime::from_timestamp_millis(next)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            _ => None,
        }
    }

    async fn event(&self, body: Value) -> i64 {
        let (status, e) = self.api.post("/events", body).await;
        assert_eq!(status, 201, "{e}");
        e["id"].as_i64().unwrap()
    }
}

#[tokio::test]
async fn a_ten_minute_reminder_fires_at_its_time_moves_with_the_event_and_goes_with_it() {
    let r = rig("2026-03-02T08:00:00Z").await;
    // 11:30 in Berlin is 10:30 UTC: the calendar's default reminds at 10:20.
    let id = r.event(json!({"title": "Dentist", "start": "2026-03-02T11:30", "location": "Room 4"})).await;
    assert_eq!(r.next(id).as_deref(), Some("2026-03-02T10:20:00Z"));
    // Never early: a millisecond before, nothing.
    assert!(r.turn("2026-03-02T10:19:59.999Z").await.is_empty());
    let said = r.turn("2026-03-02T10:20:00Z").await;
    assert_eq!(
        said,
        vec![Said {
            title: "Dentist".into(),
            body: "Starts today at 11:30 (in 10 min) · Room 4".into(),
            subject: Some(format!("event:{id}@{}", ms("2026-03-02T10:30:00Z"))),
            urgent: false,
        }]
    );
    assert_eq!(r.next(id), None, "a single event reminds once");
    // A snooze brings that occurrence back.
    {
        let mut conn = r.db().conn().unwrap();
        let subject =
            steward::reminders::Subject::Event { id: id as i32, at: Some(ms("2026-03-02T10:30:00Z")) };
        let berlin = "Europe/Berlin".parse().unwrap();
        steward::reminders::snooze(
            &mut conn,
            subject,
            utc("2026-03-02T10:25:00Z"),
            utc("2026-03-02T10:20:00Z"),
            berlin,
        )
        .unwrap();
    }
    let said = r.turn("2026-03-02T10:25:00Z").await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0].body, "Starts today at 11:30 (in 5 min) · Room 4");

    // Moved to tomorrow: the reminder moves along.
    let (status, e) = r.api.patch(&format!("/events/{id}"), json!({"start": "2026-03-03T15:00"})).await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(r.next(id).as_deref(), Some("2026-03-03T13:50:00Z"));
    // Its own reminders replace the calendar's.
    let (_, e) = r.api.patch(&format!("/events/{id}"), json!({"reminders": ["1d", "0m"]})).await;
    assert_eq!(e["reminders"], json!(["1d", "0m"]), "{e}");
    assert_eq!(r.next(id).as_deref(), Some("2026-03-02T14:00:00Z"));
    let said = r.turn("2026-03-02T14:00:00Z").await;
    assert_eq!(said[0].body, "Starts tomorrow at 15:00 (in 24 h) · Room 4");
    assert_eq!(r.next(id).as_deref(), Some("2026-03-03T14:00:00Z"));

    // A snooze waiting, then the event is deleted: neither says anything.
    {
        let mut conn = r.db().conn().unwrap();
        let subject =
            steward::reminders::Subject::Event { id: id as i32, at: Some(ms("2026-03-03T14:00:00Z")) };
        steward::reminders::snooze(
            &mut conn,
            subject,
            utc("2026-03-03T12:00:00Z"),
            utc("2026-03-02T14:00:00Z"),
            "Europe/Berlin".parse().unwrap(),
        )
        .unwrap();
    }
    assert_eq!(r.api.delete(&format!("/events/{id}")).await, 204);
    assert_eq!(r.next(id), None);
    assert!(r.turn("2026-03-03T12:00:00Z").await.is_empty());
    assert!(r.turn("2026-03-03T14:00:00Z").await.is_empty());

    // Undo (the API's delete is in the activity log) brings the reminder back.
    r.clock.set(utc("2026-03-03T09:00:00Z"));
    let (_, log) = r.api.get("/activity").await;
    let entry = log["activity"].as_array().unwrap().iter().find(|e| e["action"] == "delete").unwrap().clone();
    let (status, body) = r.api.post(&format!("/activity/{}/undo", entry["id"]), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(r.next(id).as_deref(), Some("2026-03-03T14:00:00Z"));
}

#[tokio::test]
async fn a_weekly_event_reminds_before_each_occurrence_across_dst_and_skips_an_exdate() {
    let r = rig("2026-03-15T12:00:00Z").await;
    // Mondays 09:00 in Berlin; summer time begins on Sunday 29 March.
    let id = r
        .event(json!({
            "title": "Team", "start": "2026-03-16T09:00", "rrule": "FREQ=WEEKLY;BYDAY=MO",
            "exdates": ["2026-03-23T09:00"], "reminders": ["15m"], "categories": ["Work", "urgent"]
        }))
        .await;
    assert_eq!(r.next(id).as_deref(), Some("2026-03-16T07:45:00Z"));
    let said = r.turn("2026-03-16T07:45:00Z").await;
    assert_eq!(said.len(), 1);
    assert_eq!(said[0].body, "Starts today at 09:00 (in 15 min)");
    assert!(said[0].urgent, "URGENT among the categories");
    assert_eq!(said[0].subject, Some(format!("event:{id}@{}", ms("2026-03-16T08:00:00Z"))));
    // The 23rd is excepted; the 30th is in summer time (09:00 CEST = 07:00 UTC).
    assert_eq!(r.next(id).as_deref(), Some("2026-03-30T06:45:00Z"));
    assert!(r.turn("2026-03-23T07:45:00Z").await.is_empty());
    let said = r.turn("2026-03-30T06:45:00Z").await;
    assert_eq!(said.len(), 1);
    assert_eq!(said[0].body, "Starts today at 09:00 (in 15 min)");
    assert_eq!(r.next(id).as_deref(), Some("2026-04-06T06:45:00Z"));

    // One occurrence moved to the afternoon: its reminder moves, the others stay.
    let (status, e) = r
        .api
        .patch(
            &format!("/events/{id}?scope=this&occurrence=2026-04-06T09:00"),
            json!({"start": "2026-04-06T14:00", "title": "Team (late)"}),
        )
        .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(r.next(id).as_deref(), Some("2026-04-06T11:45:00Z"));
    let said = r.turn("2026-04-06T11:45:00Z").await;
    assert_eq!(said[0].title, "Team (late)");
    assert_eq!(said[0].subject, Some(format!("event:{id}@{}", ms("2026-04-06T12:00:00Z"))));
    assert_eq!(r.next(id).as_deref(), Some("2026-04-13T06:45:00Z"));

    // This and following from the 20th: the first part ends, the new series takes over.
    let (status, e) = r
        .api
        .patch(
            &format!("/events/{id}?scope=following&occurrence=2026-04-20T09:00"),
            json!({"start": "2026-04-20T10:00"}),
        )
        .await;
    assert_eq!(status, 200, "{e}");
    let second = e["id"].as_i64().unwrap();
    assert_ne!(second, id);
    assert_eq!(r.next(id).as_deref(), Some("2026-04-13T06:45:00Z"));
    assert_eq!(r.next(second).as_deref(), Some("2026-04-20T07:45:00Z"));
    let said = r.turn("2026-04-13T06:45:00Z").await;
    assert_eq!(said.len(), 1);
    assert_eq!(r.next(id), None, "the first part is over");

    // An event written in London's time: the reminder says both.
    let london = r
        .event(json!({"title": "Call", "start": "2026-04-14T10:00", "zone": "Europe/London", "reminders": ["10m"]}))
        .await;
    assert_eq!(r.next(london).as_deref(), Some("2026-04-14T08:50:00Z"));
    let said = r.turn("2026-04-14T08:50:00Z").await;
    assert_eq!(said[0].body, "Starts today at 11:00 (in 10 min; 10:00 in London)");
}

#[tokio::test]
async fn imported_alarms_become_reminders_and_the_calendar_default_fills_in() {
    let r = rig("2026-03-05T06:00:00Z").await;
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n\
BEGIN:VEVENT\r\nUID:a@t\r\nDTSTAMP:20260301T000000Z\r\nDTSTART:20260305T100000Z\r\nDTEND:20260305T110000Z\r\nSUMMARY:Review\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:b@t\r\nDTSTAMP:20260301T000000Z\r\nDTSTART:20260305T120000Z\r\nDTEND:20260305T130000Z\r\nSUMMARY:Flight\r\n\
BEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER;VALUE=DATE-TIME:20260305T080000Z\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:c@t\r\nDTSTAMP:20260301T000000Z\r\nDTSTART:20260305T140000Z\r\nDTEND:20260305T150000Z\r\nSUMMARY:Call\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:d@t\r\nDTSTAMP:20260301T000000Z\r\nDTSTART:20260305T160000Z\r\nDTEND:20260305T170000Z\r\nSUMMARY:Wrap-up\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER;RELATED=END:-PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:e@t\r\nDTSTAMP:20260301T000000Z\r\nDTSTART:20260101T090000Z\r\nDTEND:20260101T100000Z\r\nSUMMARY:Past\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";
    let res = r
        .api
        .client
        .post(format!("{}/calendar/import", r.api.base))
        .header("Content-Type", "text/calendar")
        .body(ics)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let (_, list) = r.api.get("/events").await;
    let id_of = |uid: &str| {
        list["events"].as_array().unwrap().iter().find(|e| e["uid"] == uid).unwrap()["id"].as_i64().unwrap()
    };
    assert_eq!(r.next(id_of("a@t")).as_deref(), Some("2026-03-05T09:45:00Z"), "TRIGGER:-PT15M");
    assert_eq!(r.next(id_of("b@t")).as_deref(), Some("2026-03-05T08:00:00Z"), "an absolute trigger");
    assert_eq!(r.next(id_of("c@t")).as_deref(), Some("2026-03-05T13:50:00Z"), "no alarm: the default");
    assert_eq!(r.next(id_of("d@t")).as_deref(), Some("2026-03-05T16:55:00Z"), "5 minutes before the end");
    assert_eq!(r.next(id_of("e@t")), None, "over: no schedule at all");

    let said = r.turn("2026-03-05T08:00:00Z").await;
    assert_eq!(said.len(), 1);
    assert_eq!((said[0].title.as_str(), said[0].body.as_str()), ("Flight", "Starts today at 13:00 (in 4 h)"));
    assert_eq!(r.next(id_of("b@t")), None, "an absolute trigger fires once");
    let said = r.turn("2026-03-05T09:45:00Z").await;
    assert_eq!(
        (said[0].title.as_str(), said[0].body.as_str()),
        ("Review", "Starts today at 11:00 (in 15 min)")
    );

    // The export still carries the alarms as they came.
    let res = r.api.client.get(format!("{}/calendar.ics", r.api.base)).send().await.unwrap();
    let text = res.text().await.unwrap();
    assert!(text.contains("TRIGGER:-PT15M"), "{text}");
    assert!(text.contains("TRIGGER;VALUE=DATE-TIME:20260305T080000Z"), "{text}");
}

#[tokio::test]
async fn the_calendar_default_applies_and_an_empty_list_turns_reminders_off() {
    let r = rig("2026-03-02T08:00:00Z").await;
    let (status, cal) = r.api.patch("/calendars/1", json!({"reminders": ["1h"]})).await;
    assert_eq!(status, 200, "{cal}");
    assert_eq!(cal["reminders"], json!(["1h"]));
    let plain = r.event(json!({"title": "Lunch", "start": "2026-03-03T12:30"})).await;
    let off = r.event(json!({"title": "Quiet", "start": "2026-03-03T12:30", "reminders": []})).await;
    let day = r.event(json!({"title": "Holiday", "start": "2026-03-04"})).await;
    assert_eq!(r.next(plain).as_deref(), Some("2026-03-03T10:30:00Z"));
    assert_eq!(r.next(off), None);
    // All-day: counted from 09:00 on the day (the reminders settings' time of day).
    assert_eq!(r.next(day).as_deref(), Some("2026-03-04T07:00:00Z"));
    // The reminder settings' time of day moves it.
    {
        let mut conn = r.db().conn().unwrap();
        let input = steward::reminders::settings::SettingsInput {
            dated_at: Some("08:00".into()),
            ..Default::default()
        };
        let berlin = "Europe/Berlin".parse().unwrap();
        steward::reminders::settings::save(&mut conn, &input, utc("2026-03-02T08:00:00Z"), berlin).unwrap();
    }
    assert_eq!(r.next(day).as_deref(), Some("2026-03-04T06:00:00Z"));
    let (status, e) = r.api.get(&format!("/events/{off}")).await;
    assert_eq!((status, e["reminders"].clone()), (200, json!([])));
    // A new default moves the events that follow it; `[]` turns them off.
    r.api.patch("/calendars/1", json!({"reminders": ["10m"]})).await;
    assert_eq!(r.next(plain).as_deref(), Some("2026-03-03T11:20:00Z"));
    let (_, cal) = r.api.patch("/calendars/1", json!({"reminders": []})).await;
    assert_eq!(cal["reminders"], json!([]));
    assert_eq!(r.next(plain), None);
    // Back to the default with `null`.
    r.api.patch("/calendars/1", json!({"reminders": ["10m"]})).await;
    let (_, e) = r.api.patch(&format!("/events/{off}"), json!({"reminders": null})).await;
    assert!(e["reminders"].is_null(), "{e}");
    assert_eq!(r.next(off).as_deref(), Some("2026-03-03T11:20:00Z"));
    // Bad lead times name the field.
    let (status, err) = r.api.patch(&format!("/events/{off}"), json!({"reminders": ["soon"]})).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "reminders", "{err}");
    let (status, _) = r.api.patch("/calendars/1", json!({"reminders": ["2y"]})).await;
    assert_eq!(status, 422);
    assert!(r.turn("2026-03-03T11:19:00Z").await.is_empty());
    assert_eq!(r.turn("2026-03-03T11:20:00Z").await.len(), 2);
}

#[tokio::test]
async fn the_event_dialog_and_the_calendar_settings_set_reminders() {
    let clock = FixedClock::new(utc("2026-11-23T07:00:00Z"));
    let mut app = spawn_app_at(&clock, |c| c.scheduler = false).await;
    app.set_up().await;
    let api = app.api(&app.api_token().await);
    let form = app.get("/calendar/new?start=2026-11-24T14:00").await.text().await.unwrap();
    assert!(form.contains(r#"name="reminders""#), "{form}");
    assert!(
        form.contains("the calendar&#39;s default: 10m") || form.contains("the calendar's default: 10m"),
        "{form}"
    );
    let res = app
        .post_htmx(
            "/calendar/events",
            &[
                ("title", "Haircut"),
                ("start", "2026-11-24T14:00"),
                ("end", "2026-11-24T15:00"),
                ("calendar", "1"),
                ("reminders", "5m, 1h"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let (_, list) = api.get("/events").await;
    let e = list["events"].as_array().unwrap().iter().find(|e| e["title"] == "Haircut").unwrap().clone();
    assert_eq!(e["reminders"], json!(["1h", "5m"]));
    let id = e["id"].as_i64().unwrap();
    let dialog = app.get(&format!("/calendar/events/{id}/edit")).await.text().await.unwrap();
    assert!(dialog.contains(r#"value="1h, 5m""#), "{dialog}");
    // `none` in the dialog: no reminders; empty: the calendar's default again.
    let edit = |r: &'static str| {
        vec![
            ("title", "Haircut"),
            ("start", "2026-11-24T14:00"),
            ("end", "2026-11-24T15:00"),
            ("calendar", "1"),
            ("reminders", r),
        ]
    };
    app.post_htmx(&format!("/calendar/events/{id}"), &edit("none")).await;
    assert_eq!(api.get(&format!("/events/{id}")).await.1["reminders"], json!([]));
    app.post_htmx(&format!("/calendar/events/{id}"), &edit("")).await;
    assert!(api.get(&format!("/events/{id}")).await.1["reminders"].is_null());
    let bad = app.post_htmx(&format!("/calendar/events/{id}"), &edit("later")).await;
    assert_eq!(bad.status(), 422);
    // The calendar's menu sets its default.
    let side = app.get("/calendar").await.text().await.unwrap();
    assert!(side.contains(r#"name="reminders" value="10m""#), "{side}");
    let res = app.post_htmx("/calendar/calendars/1", &[("reminders", "30m, 1d")]).await;
    assert_eq!(res.status(), 200);
    let (_, cals) = api.get("/calendars").await;
    assert_eq!(cals["calendars"][0]["reminders"], json!(["1d", "30m"]), "{cals}");
    let res = app.post_htmx("/calendar/calendars/1", &[("reminders", "none")]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(api.get("/calendars").await.1["calendars"][0]["reminders"], json!([]));
}
