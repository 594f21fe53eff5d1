//! Task reminders end to end, with a fixed clock: they follow the due date, end with the task,
//! reach a loopback ntfy stand-in through the scheduler, and wait out quiet hours unless urgent.
//! (Lead-time math, DST and the follow-up are table-tested in `src/reminders/tests.rs`.)

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use steward::clock::FixedClock;

use crate::channels::StandIn;
use crate::helpers::spawn_app_at;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// The armed instant of a task's reminder, read from the database.
fn armed(db: &std::path::Path, task: i64) -> Option<DateTime<Utc>> {
    use steward::db::schema::schedules;
    let db = steward::db::Db::open(db).unwrap();
    let mut conn = db.conn().unwrap();
    schedules::table
        .filter(schedules::source.eq(format!("task:{task}")))
        .filter(schedules::kind.eq("reminder"))
        .select(schedules::next_fire_at)
        .first::<Option<i64>>(&mut conn)
        .unwrap()
        .map(steward::clock::from_ms)
}

/// Waits (a few seconds at most) for the stand-in to have received `n` ntfy messages.
async fn ntfy(stand_in: &StandIn, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let got = stand_in.got("/ntfy");
        if got.len() >= n {
            return got.into_iter().map(|g| g.body).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} ntfy messages, got {:?}",
        stand_in.got("/ntfy").iter().map(|g| &g.body).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn task_reminders_move_end_and_respect_quiet_hours() {
    // 09:00 in Berlin.
    let clock = FixedClock::new(at("2026-12-02T08:00:00Z"));
    let app = spawn_app_at(&clock, |_| {}).await;
    let token = app.api_token().await;
    let api = app.api(&token);
    let stand_in = StandIn::start().await;
    let (status, ch) = api
        .post(
            "/channels",
            json!({"name": "phone", "kind": "ntfy", "url": format!("{}/ntfy", stand_in.url), "topic": "me"}),
        )
        .await;
    assert_eq!(status, 201, "{ch}");

    let (status, call) = api.post("/tasks", json!({"text": "Call Ana today 17:00 remind 10m"})).await;
    assert_eq!(status, 201, "{call}");
    assert_eq!(call["reminders"], json!(["10m"]));
    let call_id = call["id"].as_i64().unwrap();
    assert_eq!(armed(&app.db_path, call_id), Some(at("2026-12-02T15:50:00Z")));
    // The due date moves: so does the reminder.
    let (status, moved) = api.patch(&format!("/tasks/{call_id}"), json!({"due": "today 18:00"})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(armed(&app.db_path, call_id), Some(at("2026-12-02T16:50:00Z")));
    // A bad lead time is refused, naming the field and the value.
    let (status, err) = api.patch(&format!("/tasks/{call_id}"), json!({"reminders": ["soon"]})).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "reminders");
    assert!(err["error"]["message"].as_str().unwrap().contains("\"soon\""), "{err}");
    // A task completed before its time says nothing.
    let (_, rent) = api.post("/tasks", json!({"text": "Pay rent today 17:30"})).await;
    let rent_id = rent["id"].as_i64().unwrap();
    assert_eq!(armed(&app.db_path, rent_id), Some(at("2026-12-02T16:30:00Z")));
    let (status, _) = api.post(&format!("/tasks/{rent_id}/complete"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(armed(&app.db_path, rent_id), None);

    // 17:50 Berlin: the call's reminder goes out (the restart wakes the fixed-clock scheduler).
    clock.set(at("2026-12-02T16:50:00Z"));
    let app = app.restart_at(&clock).await;
    let got = ntfy(&stand_in, 1).await;
    assert_eq!(got[0]["title"], "Call Ana", "{got:?}");
    assert_eq!(got[0]["message"], "Due today at 18:00 (in 10 min)", "{got:?}");
    // It shows in the run history like any firing, and in-app.
    let api = app.api(&token);
    let (_, runs) = api.get("/runs").await;
    let runs = runs["runs"].as_array().unwrap().clone();
    assert!(
        runs.iter().any(|r| r["agent"] == "notify" && r["output"] == "Due today at 18:00 (in 10 min)"),
        "{runs:?}"
    );
    // Nothing is left armed for it, and the completed one never fired.
    assert_eq!(armed(&app.db_path, call_id), None);
    assert_eq!(stand_in.got("/ntfy").len(), 1);

    // Quiet hours 22:00–07:00: a 06:00 reminder waits for 07:00; a priority A one does not.
    let (status, s) = api.patch("/settings/reminders", json!({"quiet": "22:00-07:00"})).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["quiet"], "22:00-07:00");
    let (status, err) = api.patch("/settings/reminders", json!({"quiet": "late"})).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("quiet")), "{err}");
    api.post("/tasks", json!({"text": "Water plants tomorrow 06:00"})).await;
    api.post("/tasks", json!({"text": "(A) Take pill tomorrow 06:00"})).await;
    clock.set(at("2026-12-03T05:00:00Z"));
    let app = app.restart_at(&clock).await;
    let got = ntfy(&stand_in, 2).await;
    assert_eq!(got[1]["title"], "Take pill", "{got:?}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(stand_in.got("/ntfy").len(), 2, "the plants wait for the end of quiet hours");
    // In the app both are there at once, each saying what it is about.
    let notes = {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        steward::notifications::list(&mut db.conn().unwrap(), 10).unwrap()
    };
    let plants = notes.iter().find(|n| n.title == "Water plants").expect("in-app at once");
    assert!(plants.subject.as_deref().is_some_and(|s| s.starts_with("task:")) && !plants.urgent);
    assert!(notes.iter().any(|n| n.title == "Take pill" && n.urgent), "{notes:?}");
    // 07:00 Berlin: the held one goes out.
    clock.set(at("2026-12-03T06:00:00Z"));
    let _app = app.restart_at(&clock).await;
    let got = ntfy(&stand_in, 3).await;
    assert_eq!(got[2]["title"], "Water plants", "{got:?}");
}
