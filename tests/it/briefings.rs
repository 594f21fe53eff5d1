//! Projects and briefings: the fact blocks at a fixed clock (exact text, a cut list), the
//! no-agent fallback, a failing agent falling back after its retries, one delivery per
//! occurrence, the chosen channels, and the projects' numbers through the API and the tool.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use steward::clock::FixedClock;

use crate::fakes::openai::{Reply, ScriptedModel};
use crate::helpers::*;

/// Wednesday 2 December 2026, 08:00 in Berlin.
const MORNING: &str = "2026-12-02T07:00:00Z";

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

/// Tasks and events for the facts: seven overdue (five shown), two due today, an A task, a
/// waiting item from last week, an event today and tomorrow and next week, work done today.
async fn seed(clock: &FixedClock, api: &Api) {
    clock.set(at("2026-11-10T10:00:00Z"));
    let (status, body) = api.post("/tasks", json!({ "text": "Fix the garage door +garage" })).await;
    assert_eq!(status, 201, "{body}");
    clock.set(at("2026-11-25T10:00:00Z"));
    for text in ["Reply from Ana about the lease @waiting +home", "Call the plumber +home"] {
        let (status, body) = api.post("/tasks", json!({ "text": text })).await;
        assert_eq!(status, 201, "{body}");
    }
    clock.set(at("2026-12-02T06:00:00Z"));
    for day in 21..=27 {
        let text = format!("Overdue thing {day} due:2026-11-{day} +admin");
        let (status, body) = api.post("/tasks", json!({ "text": text })).await;
        assert_eq!(status, 201, "{body}");
    }
    for text in [
        "(A) Send the invoice due:2026-12-02 +work",
        "Water the plants due:2026-12-02",
        "Book flights due:2026-12-03 +trip",
        "Pack bags due:2026-12-09 +trip",
    ] {
        let (status, body) = api.post("/tasks", json!({ "text": text })).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, done) = api.post("/tasks", json!({ "text": "Renew passport +trip" })).await;
    assert_eq!(status, 201, "{done}");
    let (status, body) = api.post(&format!("/tasks/{}/complete", done["id"]), json!({})).await;
    assert_eq!(status, 200, "{body}");
    for (title, start, end) in [
        ("Standup", "2026-12-02T09:30", "2026-12-02T09:45"),
        ("Dentist", "2026-12-03T15:00", "2026-12-03T16:00"),
        ("Planning", "2026-12-07T10:00", "2026-12-07T11:00"),
    ] {
        let (status, body) = api.post("/events", json!({ "title": title, "start": start, "end": end })).await;
        assert_eq!(status, 201, "{body}");
    }
    clock.set(at(MORNING));
}

async fn preview(api: &Api, name: &str) -> String {
    let (status, body) = api.post(&format!("/briefings/{name}/preview"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    body["facts"].as_str().unwrap().to_string()
}

const MORNING_FACTS: &str = "\
Morning briefing · Wednesday 2 December 2026, 08:00 (Europe/Berlin, UTC+01:00)

Today's events: 1 event
- 09:30–09:45 Standup

Overdue tasks: 7 overdue, showing 5
- Overdue thing 21 +admin (task #4) · due Sat 21 Nov 2026
- Overdue thing 22 +admin (task #5) · due Sun 22 Nov 2026
- Overdue thing 23 +admin (task #6) · due Mon 23 Nov 2026
- Overdue thing 24 +admin (task #7) · due Tue 24 Nov 2026
- Overdue thing 25 +admin (task #8) · due Wed 25 Nov 2026

Due today: 2 due today
- (A) Send the invoice +work (task #11) · due Wed 2 Dec 2026
- Water the plants (task #12) · due Wed 2 Dec 2026

Top-priority open tasks (A): 1 open
- (A) Send the invoice +work (task #11) · due Wed 2 Dec 2026

Waiting for (@waiting): 1 waiting
- Reply from Ana about the lease +home (task #2) · waiting 7 days (since Wed 25 Nov 2026)

Failed runs in the last 24 hours: none
";

const EVENING_FACTS: &str = "\
Evening summary · Wednesday 2 December 2026, 20:00 (Europe/Berlin, UTC+01:00)

Done today: 1 done
- Renew passport +trip (task #15)

Open tasks added or changed today: 11 moved, showing 5
- Pack bags +trip (task #14) · due Wed 9 Dec 2026
- Book flights +trip (task #13) · due Thu 3 Dec 2026
- Water the plants (task #12) · due Wed 2 Dec 2026
- (A) Send the invoice +work (task #11) · due Wed 2 Dec 2026
- Overdue thing 27 +admin (task #10) · due Fri 27 Nov 2026

Tomorrow's first events (Thursday 3 December 2026): 1 event
- 15:00–16:00 Dentist

Due tomorrow: 1 due tomorrow
- Book flights +trip (task #13) · due Thu 3 Dec 2026
";

const WEEKLY_FACTS: &str = "\
Weekly review · Friday 4 December 2026, 17:00 (Europe/Berlin, UTC+01:00)

Done this week, by project (since Mon 30 Nov 2026): 1 done
- +trip: 1 (Renew passport)

Stalled projects (nothing moved for 14 days): 1 stalled
- +garage: 1 open, last moved Tue 10 Nov 2026

Waiting for (@waiting): 1 waiting
- Reply from Ana about the lease +home (task #2) · waiting 9 days (since Wed 25 Nov 2026)

Next week's calendar (Mon 7 Dec 2026 to Sun 13 Dec 2026): 1 event
- Mon 7 Dec 2026 10:00–11:00 Planning

Overdue tasks: 10 overdue, showing 5
- Overdue thing 21 +admin (task #4) · due Sat 21 Nov 2026
- Overdue thing 22 +admin (task #5) · due Sun 22 Nov 2026
- Overdue thing 23 +admin (task #6) · due Mon 23 Nov 2026
- Overdue thing 24 +admin (task #7) · due Tue 24 Nov 2026
- Overdue thing 25 +admin (task #8) · due Wed 25 Nov 2026
";

/// Each briefing's fact block, in a non-UTC zone, with a cut list ("7 overdue, showing 5").
#[tokio::test]
async fn fact_blocks_are_exact_at_a_fixed_clock() {
    let clock = FixedClock::new(at(MORNING));
    let app = spawn_app_at(&clock, |_| {}).await;
    let api = app.api(&app.api_token().await);
    seed(&clock, &api).await;
    for (name, now, want) in [
        ("morning", MORNING, MORNING_FACTS),
        ("evening", "2026-12-02T19:00:00Z", EVENING_FACTS),
        ("weekly", "2026-12-04T16:00:00Z", WEEKLY_FACTS),
    ] {
        clock.set(at(now));
        assert_eq!(preview(&api, name).await, want, "{name}");
    }
    // The agent's tool reads the same block.
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let services = steward::services::Services::new(
        db,
        steward::config::Config { timezone: Some("Europe/Berlin".into()), ..Default::default() },
        std::sync::Arc::new(clock.clone()),
    );
    clock.set(at(MORNING));
    let caller = steward::tools::Caller { conversation: None, agent: None, token: None };
    let got =
        steward::tools::call(&services, &caller, "list_briefing_facts", &json!({"briefing": "morning"}))
            .await
            .unwrap();
    assert_eq!(got["facts"], MORNING_FACTS);
    let got = steward::tools::call(&services, &caller, "list_projects", &json!({})).await.unwrap();
    let garage = got["projects"].as_array().unwrap().iter().find(|p| p["name"] == "garage").unwrap().clone();
    assert_eq!((garage["open"].clone(), garage["stalled"].clone()), (json!(1), json!(true)), "{got}");
}

async fn runs_of(api: &Api, schedule: i64) -> Vec<Value> {
    let (status, body) = api.get(&format!("/runs?schedule={schedule}")).await;
    assert_eq!(status, 200, "{body}");
    body["runs"].as_array().unwrap().clone()
}

/// Waits until the schedule has `n` finished runs; returns them, newest first.
async fn finished(api: &Api, schedule: i64, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = runs_of(api, schedule).await;
        let done: Vec<Value> =
            runs.into_iter().filter(|r| r["state"] == "succeeded" || r["state"] == "failed").collect();
        if done.len() >= n {
            return done;
        }
        assert!(Instant::now() < deadline, "waited for {n} finished runs: {done:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn notifications_of_run(app: &TestApp, run: i64) -> Vec<(String, Vec<String>)> {
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let mut conn = db.conn().unwrap();
    let (list, _) = steward::notifications::page(&mut conn, 1).unwrap();
    list.into_iter()
        .filter(|n| n.run_id == Some(run as i32))
        .map(|n| {
            let channels = steward::notify::of_notification(&mut conn, n.id)
                .unwrap()
                .into_iter()
                .map(|d| d.channel)
                .collect();
            (n.body, channels)
        })
        .collect()
}

/// Without an agent the fact block goes alone, marked, to the chosen channels only; the
/// occurrence fires once, however often the scheduler looks, and its key cannot be queued twice.
#[tokio::test]
async fn without_an_agent_the_facts_go_alone_once_per_occurrence() {
    let clock = FixedClock::new(at(MORNING));
    let app = spawn_app_at(&clock, |_| {}).await;
    let api = app.api(&app.api_token().await);
    seed(&clock, &api).await;
    for name in ["phone", "desk"] {
        let body = json!({"name": name, "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "whsec-briefing-badger-1732"});
        let (status, ch) = api.post("/channels", body).await;
        assert_eq!(status, 201, "{ch}");
    }
    clock.set(at("2026-12-02T06:00:00Z"));
    let (status, b) = api.patch("/briefings/morning", json!({"enabled": true, "channels": ["phone"]})).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(
        (b["enabled"].clone(), b["cron"].clone(), b["zone"].clone()),
        (json!(true), json!("0 8 * * 1-5"), json!("Europe/Berlin"))
    );
    assert_eq!(b["next_run"], "2026-12-02T07:00:00Z", "{b}");
    let schedule = b["schedule_id"].as_i64().unwrap();

    // 08:00 in Berlin: it fires (any change wakes the scheduler).
    clock.set(at(MORNING));
    let (status, _) = api.patch("/briefings/evening", json!({"time": "20:30"})).await;
    assert_eq!(status, 200);
    let runs = finished(&api, schedule, 1).await;
    assert_eq!(runs[0]["state"], "succeeded", "{runs:?}");
    let want = format!(
        "[Facts only: no agent is chosen for this briefing.]\n\n{MORNING_FACTS}\nTurn off or change briefings: {}/briefings\n",
        app.address
    );
    assert_eq!(runs[0]["output"], want.as_str());
    let run = runs[0]["id"].as_i64().unwrap();
    assert_eq!(notifications_of_run(&app, run), vec![(want.clone(), vec!["phone".to_string()])]);

    // Later the same morning the scheduler looks again: no second briefing for 08:00.
    clock.set(at("2026-12-02T07:30:00Z"));
    let (status, _) = api.patch("/briefings/evening", json!({"time": "20:00"})).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(runs_of(&api, schedule).await.len(), 1);
    // The occurrence's key is taken: queuing it again is a no-op.
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let mut conn = db.conn().unwrap();
    let s = steward::schedules::get(&mut conn, schedule as i32).unwrap();
    let again = steward::runs::NewRun::for_schedule(&s, at(MORNING), "schedule");
    assert!(steward::runs::insert(&mut conn, &again, at(MORNING)).unwrap().is_none());
    // A retried run (a crash after delivering) is not delivered a second time.
    let services = steward::services::Services::new(
        db,
        steward::config::Config { timezone: Some("Europe/Berlin".into()), ..Default::default() },
        std::sync::Arc::new(clock.clone()),
    );
    let delivery = steward::agents::deliver::Delivery {
        schedule_id: Some(schedule as i32),
        run_id: run as i32,
        idempotency_key: "again".into(),
        prompt: "briefing morning".into(),
        scheduled_for: at(MORNING),
        attempt: 1,
    };
    let text = steward::briefings::system_job(&services, &delivery).await.unwrap();
    assert_eq!(text, want);
    assert_eq!(notifications_of_run(&app, run).len(), 1);
    // The delivered briefing offers to turn itself off, in one click.
    let (list, _) = steward::notifications::page(&mut conn, 1).unwrap();
    let note = list.into_iter().find(|n| n.run_id == Some(run as i32)).unwrap();
    assert_eq!(note.subject.as_deref(), Some("briefing:morning"));
    let (status, done) = api.post(&format!("/notifications/{}/actions/turn-off", note.id), json!({})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["message"], "Morning briefing turned off (turn it on again on the Briefings page)");
    assert_eq!(done["path"], "/briefings");
    let (_, b) = api.get("/briefings/morning").await;
    assert_eq!((b["enabled"].clone(), b["next_run"].clone()), (json!(false), Value::Null), "{b}");
    // Snoozing a briefing is not offered.
    let (status, err) = api.post(&format!("/notifications/{}/actions/snooze", note.id), json!({})).await;
    assert_eq!(status, 422, "{err}");
}

/// An agent answering 500 is tried three times, then the facts go alone, saying why; once it
/// answers, its prose comes first and the fact block follows verbatim, in the briefing's
/// conversation too.
#[tokio::test]
async fn a_failing_agent_falls_back_to_the_facts_after_retries() {
    let model = ScriptedModel::start(vec![Reply::Status(500, "the model is on fire")]).await;
    let clock = FixedClock::new(at(MORNING));
    let app = spawn_app_at(&clock, |_| {}).await;
    let api = app.api(&app.api_token().await);
    seed(&clock, &api).await;
    let (status, body) = api
        .post("/agents", json!({"name": "writer", "kind": "llm", "url": model.url, "model": "scripted"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, b) = api.patch("/briefings/morning", json!({"agent": "writer"})).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!((b["agent"].clone(), b["enabled"].clone()), (json!("writer"), json!(false)));
    let (status, run) = api.post("/briefings/morning/run", json!({})).await;
    assert_eq!(status, 202, "{run}");
    let b = api.get("/briefings/morning").await.1;
    let schedule = b["schedule_id"].as_i64().unwrap();
    let runs = finished(&api, schedule, 1).await;
    let output = runs[0]["output"].as_str().unwrap();
    assert!(output.starts_with("[Facts only: the agent “writer” failed after 3 tries ("), "{output}");
    assert!(output.contains(MORNING_FACTS), "{output}");
    assert_eq!(model.requests().len(), 3);

    model.then(vec![Reply::Plain("Good morning! Start with the invoice.")]);
    clock.set(at("2026-12-02T07:00:01Z"));
    let (status, _) = api.post("/briefings/morning/run", json!({})).await;
    assert_eq!(status, 202);
    let runs = finished(&api, schedule, 2).await;
    let want = format!(
        "Good morning! Start with the invoice.\n\n---\n{MORNING_FACTS}\nTurn off or change briefings: {}/briefings\n",
        app.address
    );
    assert_eq!(runs[0]["output"], want.as_str());
    let asked = model.requests().last().unwrap().clone();
    let prompt =
        asked["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_string();
    assert!(prompt.contains(MORNING_FACTS), "{prompt}");
    let conversation = api.get("/briefings/morning").await.1["conversation_id"].as_i64().unwrap();
    let (_, c) = api.get(&format!("/conversations/{conversation}")).await;
    let messages = c["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{c}");
    assert_eq!(messages[1]["content"], want.as_str());
}

#[tokio::test]
async fn briefings_are_listed_and_checked() {
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    let (status, list) = api.get("/briefings").await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> =
        list["briefings"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["morning", "evening", "weekly"]);
    let weekly = &list["briefings"][2];
    assert_eq!(
        (weekly["enabled"].clone(), weekly["time"].clone(), weekly["days"].clone()),
        (json!(false), json!("17:00"), json!(["fri"]))
    );
    let (status, b) = api
        .patch("/briefings/weekly", json!({"time": "16:30", "days": ["sun"], "zone": "America/New_York"}))
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(
        (b["cron"].clone(), b["zone"].clone(), b["enabled"].clone()),
        (json!("30 16 * * 0"), json!("America/New_York"), json!(false))
    );
    for (body, field) in [
        (json!({"time": "25:00"}), "time"),
        (json!({"days": ["someday"]}), "days"),
        (json!({"agent": "nobody"}), "agent"),
        (json!({"channels": ["nowhere"]}), "channels"),
        (json!({"sections": ["horoscope"]}), "sections"),
        (json!({"zone": "Mars/Olympus"}), "zone"),
    ] {
        let (status, err) = api.patch("/briefings/morning", body.clone()).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some(field)), "{body}: {err}");
    }
    assert_eq!(api.get("/briefings/noon").await.0, 404);
    assert_eq!(api.post("/briefings/noon/preview", json!({})).await.0, 404);
}

#[tokio::test]
async fn projects_show_progress_and_can_be_archived() {
    let clock = FixedClock::new(at(MORNING));
    let app = spawn_app_at(&clock, |_| {}).await;
    let api = app.api(&app.api_token().await);
    seed(&clock, &api).await;
    // Its next event is the first coming one whose title names +trip (any case, as a word).
    for (title, start) in [
        ("Packing done +trip", "2026-12-01T10:00"),
        ("Visa appointment (+Trip)", "2026-12-09T10:00"),
        ("Visa photos +Trip.", "2026-12-04T10:00"),
        ("Tripod repair +tripod", "2026-12-03T10:00"),
    ] {
        let end = start.replace("T10", "T11");
        let (status, e) = api.post("/events", json!({"title": title, "start": start, "end": end})).await;
        assert_eq!(status, 201, "{e}");
    }
    let (status, list) = api.get("/projects").await;
    assert_eq!(status, 200, "{list}");
    let trip = list["projects"].as_array().unwrap().iter().find(|p| p["name"] == "trip").unwrap().clone();
    assert_eq!(
        (trip["next_event"]["title"].clone(), trip["next_event"]["start"].clone()),
        (json!("Visa photos +Trip."), json!("2026-12-04T09:00:00Z")),
        "{trip}"
    );
    assert_eq!(
        (trip["open"].clone(), trip["done"].clone(), trip["percent"].clone()),
        (json!(2), json!(1), json!(33))
    );
    assert_eq!(trip["next_due"]["title"], "Book flights");
    assert_eq!(trip["stalled"], false);
    let (status, p) = api
        .patch("/projects/trip", json!({"outcome": "Two weeks in Lisbon", "target_date": "2026-12-20"}))
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        (p["outcome"].clone(), p["target_date"].clone()),
        (json!("Two weeks in Lisbon"), json!("2026-12-20"))
    );
    let (status, err) = api.patch("/projects/trip", json!({"target_date": "soon"})).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("target_date")));
    assert_eq!(api.patch("/projects/nothing", json!({"archived": true})).await.0, 404);
    let (_, p) = api.patch("/projects/trip", json!({"archived": true})).await;
    assert_eq!(p["archived"], true);
    let (_, list) = api.get("/projects").await;
    assert!(list["projects"].as_array().unwrap().iter().all(|p| p["name"] != "trip"), "{list}");
    let (_, list) = api.get("/projects?archived=true").await;
    assert!(list["projects"].as_array().unwrap().iter().any(|p| p["name"] == "trip"), "{list}");
}

/// The pages: Projects lists and archives, Briefings turns on, previews and runs.
#[tokio::test]
async fn the_pages_turn_briefings_on_and_archive_projects() {
    let clock = FixedClock::new(at(MORNING));
    let mut app = spawn_app_at(&clock, |_| {}).await;
    app.set_up().await;
    let api = app.api(&app.api_token().await);
    seed(&clock, &api).await;
    let html = app.get("/projects").await.text().await.unwrap();
    assert!(
        html.contains("+trip") && html.contains("Stalled") && html.contains("/tasks?project=trip"),
        "{html}"
    );
    let res = app.post_form("/projects/trip", &[("action", "archive")]).await;
    assert_eq!(res.status(), 303);
    let html = app.get("/projects").await.text().await.unwrap();
    assert!(html.contains("<h2>Archived</h2>"), "{html}");
    let res = app.post_form("/projects/settings", &[("stalled_days", "30")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(api.get("/projects").await.1["stalled_days"], 30);

    let html = app.get("/briefings").await.text().await.unwrap();
    assert!(html.contains("Turn on briefings"), "{html}");
    let res = app.post_form("/briefings/enable", &[]).await;
    assert_eq!(res.status(), 303);
    let (_, list) = api.get("/briefings").await;
    assert!(list["briefings"].as_array().unwrap().iter().all(|b| b["enabled"] == true), "{list}");
    let html = app.get("/briefings?preview=morning").await.text().await.unwrap();
    assert!(!html.contains("Turn on briefings"), "{html}");
    assert!(html.contains("Overdue tasks: 7 overdue, showing 5"), "{html}");
    let form = [
        ("enabled", "on"),
        ("time", "07:15"),
        ("sat", "on"),
        ("zone", "Europe/Berlin"),
        ("agent", ""),
        ("channels", ""),
        ("sections", "overdue, waiting"),
        ("instructions", "Be brief."),
    ];
    let res = app.post_form("/briefings/morning", &form).await;
    assert_eq!(res.status(), 303);
    let (_, b) = api.get("/briefings/morning").await;
    assert_eq!(
        (b["cron"].clone(), b["sections"].clone()),
        (json!("15 7 * * 6"), json!(["overdue", "waiting"]))
    );
    let res = app.post_form("/briefings/morning/run", &[]).await;
    assert_eq!(res.status(), 303);
    // Delivered, it offers to turn itself off from the Notifications page.
    let schedule = b["schedule_id"].as_i64().unwrap();
    finished(&api, schedule, 1).await;
    let html = app.get("/notifications").await.text().await.unwrap();
    assert!(html.contains("/actions/turn-off") && html.contains("Turn off this briefing"), "{html}");
    let before = html.split("/actions/turn-off").next().unwrap();
    let id = before.rsplit("/notifications/").next().unwrap();
    let res = app.post_form(&format!("/notifications/{id}/actions/turn-off"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(api.get("/briefings/morning").await.1["enabled"], false);
}
