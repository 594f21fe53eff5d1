//! Today (`/`) and `GET /api/v1/today`, with a fixed clock in a zone that is not UTC: which
//! group a task falls in at the edges of the person's day, the JSON's shape, completing and
//! moving tasks in place, the one quick-add box and the context rules.

use serde_json::{Value, json};
use steward::clock::FixedClock;

use crate::helpers::*;

/// An app in New York whose clock the test moves, signed in, with an admin API client.
async fn new_york_at(at: &str) -> (TestApp, FixedClock, Api) {
    let clock = FixedClock::new(at.parse().unwrap());
    let mut app = spawn_app_at(&clock, |c| c.timezone = Some("America/New_York".into())).await;
    app.set_up().await;
    let api = app.api(&app.api_token().await);
    (app, clock, api)
}

async fn add(api: &Api, text: &str) -> i64 {
    let (status, body) = api.post("/tasks", json!({ "text": text })).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

fn titles(group: &Value) -> Vec<String> {
    group["tasks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn todays_groups_follow_the_persons_day_at_its_edges() {
    // 22:00 on Wednesday 2 December in New York: already 03:00 on the 3rd in UTC.
    let (_app, clock, api) = new_york_at("2026-12-03T03:00:00Z").await;
    add(&api, "Late call due:2026-12-02T23:30").await;
    add(&api, "Early call due:2026-12-03T00:30").await;
    add(&api, "Missed meeting due:2026-12-02T21:00").await;
    add(&api, "Yesterday's form due:2026-12-01").await;
    add(&api, "Today's errand due:2026-12-02").await;
    add(&api, "(A) Big plan").await;
    add(&api, "Reply from Bob @waiting").await;
    let done = add(&api, "Quick thing").await;
    let (status, _) = api.post(&format!("/tasks/{done}/complete"), json!({})).await;
    assert_eq!(status, 200);

    let (status, t) = api.get("/today").await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["date"], "2026-12-02", "the person's day, not UTC's");
    assert_eq!(t["zone"], "America/New_York");
    assert_eq!(t["now"], "2026-12-02T22:00:00-05:00");
    assert_eq!(titles(&t["overdue"]), ["Yesterday's form", "Missed meeting"]);
    assert_eq!(t["overdue"]["count"], 2);
    assert_eq!(titles(&t["due_today"]), ["Today's errand", "Late call"]);
    assert_eq!(titles(&t["priority"]), ["Big plan"]);
    assert_eq!(titles(&t["waiting"]), ["Reply from Bob"]);
    assert_eq!(t["waiting"]["tasks"][0]["waiting_days"], 0);
    assert_eq!(titles(&t["done_today"]), ["Quick thing"]);
    // "Early call" is tomorrow's (00:30 on the 3rd): in no group of today, suggested as due soon.
    let next: Vec<(String, Vec<String>)> = t["what_next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let reasons = s["reasons"].as_array().unwrap().iter().map(|r| r["text"].as_str().unwrap().into());
            (s["task"]["title"].as_str().unwrap().to_string(), reasons.collect())
        })
        .collect();
    assert_eq!(next[0], ("Yesterday's form".to_string(), vec!["overdue 1 day".to_string()]));
    assert_eq!(next[1], ("Missed meeting".to_string(), vec!["overdue since earlier today".to_string()]));
    assert_eq!(next[2], ("Today's errand".to_string(), vec!["due today".to_string()]));
    assert_eq!(next[4], ("Big plan".to_string(), vec!["priority A".to_string()]));
    assert_eq!(next.len(), 5, "a short list: {next:?}");
    assert!(!next.iter().any(|(title, _)| title == "Reply from Bob"), "waiting items are not suggested");
    // 22:00 on a weekday: the default rules say evening, @home.
    assert_eq!(t["context"]["contexts"], json!(["home"]));
    assert_eq!(t["context"]["rule"], "weekdays 18:00-23:00 @home");

    // Ten past midnight: a new day. 23:30 has passed; 00:30 is today's now; done today is empty.
    clock.set("2026-12-03T05:10:00Z".parse().unwrap());
    let (_, t) = api.get("/today").await;
    assert_eq!(t["date"], "2026-12-03");
    // By day, then time: a day without a time first.
    assert_eq!(titles(&t["overdue"]), ["Yesterday's form", "Today's errand", "Missed meeting", "Late call"]);
    assert_eq!(titles(&t["due_today"]), ["Early call"]);
    assert_eq!(t["done_today"]["count"], 0);
    assert!(t["context"]["contexts"].as_array().unwrap().is_empty(), "no rule at night: {}", t["context"]);

    // Move them all to today: times still ahead keep their time, passed ones become the day.
    let (status, moved) = api.post("/tasks/move-overdue", json!({"to": "today"})).await;
    assert_eq!((status, moved["moved"].as_i64()), (200, Some(4)), "{moved}");
    let (_, t) = api.get("/today").await;
    assert_eq!(t["overdue"]["count"], 0);
    assert_eq!(t["due_today"]["count"], 5);
    let late =
        t["due_today"]["tasks"].as_array().unwrap().iter().find(|x| x["title"] == "Late call").unwrap();
    assert_eq!(late["due"], "2026-12-03T23:30:00-05:00", "its time of day kept");
    let missed =
        t["due_today"]["tasks"].as_array().unwrap().iter().find(|x| x["title"] == "Missed meeting").unwrap();
    assert_eq!(missed["due"], "2026-12-03T21:00:00-05:00");
}

#[tokio::test]
async fn the_api_answers_with_every_section() {
    let (app, _clock, api) = new_york_at("2026-12-02T15:00:00Z").await; // 10:00 in New York
    add(&api, "Weed the beds +garden").await;
    add(&api, "Paint the fence +garden").await;
    add(&api, "File taxes +admin @computer").await;
    let (status, body) = api
        .post(
            "/schedules",
            json!({"name": "Stretch", "prompt": "Time to stretch", "every": "8h", "agent": "notify"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post("/events", json!({"title": "Call Ana", "start": "2026-12-02T09:30", "end": "2026-12-02T10:30", "location": "+351 912 345 678"}))
        .await;
    assert_eq!(status, 201, "{body}");
    {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let mut conn = db.conn().unwrap();
        let n = steward::notifications::NewNotification {
            title: "Backup done".into(),
            body: "All fine".into(),
            level: "info",
            run_id: None,
            schedule_id: None,
            ..Default::default()
        };
        steward::notifications::add(&mut conn, &n, "2026-12-02T14:00:00Z".parse().unwrap()).unwrap();
    }

    let (status, t) = api.get("/today").await;
    assert_eq!(status, 200, "{t}");
    for key in [
        "date",
        "zone",
        "now",
        "context",
        "agenda",
        "overdue",
        "due_today",
        "priority",
        "waiting",
        "done_today",
        "what_next",
        "schedules",
        "runs",
        "notifications",
        "stats",
    ] {
        assert!(t.get(key).is_some(), "no {key} in {t}");
    }
    let event = &t["agenda"]["events"][0];
    assert_eq!(
        (event["title"].as_str(), event["start"].as_str()),
        (Some("Call Ana"), Some("2026-12-02T09:30:00-05:00"))
    );
    assert_eq!((event["now"].as_bool(), event["call"].as_bool()), (Some(true), Some(true)));
    // During a call with a phone number, the context is @phone.
    assert_eq!(t["context"]["contexts"], json!(["phone"]));
    let firings = t["schedules"]["firings"].as_array().unwrap();
    // Every 8 hours: each firing of the next 24 hours, 8 hours apart.
    assert!((2..=3).contains(&firings.len()), "{firings:?}");
    let at = |f: &Value| chrono::DateTime::parse_from_rfc3339(f["at"].as_str().unwrap()).unwrap();
    for pair in firings.windows(2) {
        assert_eq!(at(&pair[1]) - at(&pair[0]), chrono::Duration::hours(8), "{firings:?}");
    }
    assert_eq!(firings[0]["name"], "Stretch");
    assert_eq!(t["notifications"]["unread"], 1);
    assert_eq!(t["notifications"]["latest"][0]["title"], "Backup done");
    assert_eq!(t["stats"]["done_per_day"].as_array().unwrap().len(), 30);
    assert_eq!(t["stats"]["done_per_day"][29]["date"], "2026-12-02");
    assert_eq!(
        t["stats"]["open_per_project"],
        json!([{"project": "garden", "open": 2}, {"project": "admin", "open": 1}])
    );
    assert_eq!(t["stats"]["runs"]["success_rate"], Value::Null);
    // A chosen context ranks for it.
    let (_, t) = api.get("/today?context=computer").await;
    assert_eq!(t["context"], json!({"contexts": ["computer"], "chosen": true, "rule": null}));
    assert_eq!(t["what_next"][0]["task"]["title"], "File taxes");
    assert_eq!(t["what_next"][0]["reasons"][0], json!({"kind": "context", "text": "fits @computer"}));

    // Refusals name the field; other methods are not allowed.
    let (status, body) = api.post("/tasks/move-overdue", json!({"to": "someday"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("to"), "{body}");
    let (status, _) = api.get("/tasks/move-overdue").await;
    assert_eq!(status, 405);
    let (status, _) = api.get("/today?nonsense=1").await;
    assert_eq!(status, 422);
    // A read-only token may read Today but not move tasks.
    let reader = app.api(&app.api_token_with("read").await);
    assert_eq!(reader.get("/today").await.0, 200);
    assert_eq!(reader.post("/tasks/move-overdue", json!({"to": "today"})).await.0, 403);
}

#[tokio::test]
async fn the_page_completes_in_place_and_adds_each_kind() {
    let (app, _clock, api) = new_york_at("2026-12-02T15:00:00Z").await;
    let (status, body) = api
        .post("/agents", json!({"name": "default", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret-s3cret"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let id = add(&api, "Pay the rent due:2026-12-02").await;

    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for part in [
        "id=\"today-tasks\"",
        "id=\"today-agenda\"",
        "id=\"today-schedules\"",
        "id=\"today-notifications\"",
        "id=\"today-stats\"",
        "id=\"quick-add-text\"",
        "class=\"now-line\"",
        "Pay the rent",
        "<svg class=\"chart\"",
    ] {
        assert!(html.contains(part), "no {part} on Today");
    }
    assert!(
        html.contains("<a href=\"/\" aria-current=\"page\">Today</a>"),
        "Today is first in the nav, current"
    );

    // One section alone, for a live refresh.
    let section = app.get("/?section=tasks").await.text().await.unwrap();
    assert!(section.starts_with("<div id=\"today-tasks\""), "{section}");
    assert!(!section.contains("today-agenda"));
    assert_eq!(app.get("/?section=nonsense").await.status(), 422);

    // Ticking completes it in place: the tasks section comes back with it done today.
    let res = app.post_htmx(&format!("/today/tasks/{id}/toggle"), &[("done", "true")]).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Completed “Pay the rent”"), "{html}");
    let done = html.split("id=\"today-done\"").nth(1).expect("a done list");
    assert!(done.contains("Pay the rent"));
    let (_, t) = api.get(&format!("/tasks/{id}")).await;
    assert_eq!(t["status"], "done");

    // The preview says which kind each line will be.
    for (text, says) in [
        ("Buy milk tomorrow", "Will add a task"),
        ("Lunch with Ana tomorrow 12:30-14:00", "Will add an event"),
        ("every weekday 9:00 ask the agent for the news", "Will add a scheduled prompt"),
        ("t: Lunch with Ana tomorrow 12:30-14:00", "Will add a task (chosen by the prefix)"),
    ] {
        let res = app.client.get(app.url("/today/preview")).query(&[("text", text)]).send().await.unwrap();
        let html = res.text().await.unwrap();
        assert!(html.contains(says), "{text}: {html}");
    }

    // Adding each kind.
    for (text, kind) in [
        ("Buy milk tomorrow +home", "task"),
        ("Lunch with Ana tomorrow 12:30-14:00", "event"),
        ("every weekday 9:00 ask the agent for the news", "scheduled prompt"),
    ] {
        let res = app.post_htmx("/today/add", &[("text", text)]).await;
        assert_eq!(res.status(), 200, "{text}");
        let html = res.text().await.unwrap();
        assert!(html.contains(&format!("Added {kind}")), "{text}: {html}");
    }
    let (_, tasks) = api.get("/tasks?q=milk").await;
    assert_eq!(tasks["tasks"][0]["projects"], json!(["home"]));
    let (_, events) = api.get("/occurrences?from=2026-12-03&to=2026-12-04").await;
    let lunch = &events["occurrences"][0];
    assert_eq!(
        (lunch["title"].as_str(), lunch["start"].as_str()),
        (Some("Lunch with Ana"), Some("2026-12-03T12:30:00-05:00"))
    );
    let (_, schedules) = api.get("/schedules").await;
    let s = &schedules["schedules"][0];
    assert_eq!(
        (s["cron"].as_str(), s["prompt"].as_str()),
        (Some("0 9 * * 1-5"), Some("ask the agent for the news"))
    );

    // A line that cannot be read comes back with its error, and the text stays.
    let res = app.post_htmx("/today/add", &[("text", "s: water the plants")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("starts with when it fires") && html.contains("value=\"s: water the plants\""),
        "{html}"
    );
}

#[tokio::test]
async fn context_rules_are_edited_in_settings() {
    let (app, _clock, api) = new_york_at("2026-12-02T15:00:00Z").await; // Wednesday 10:00
    let (_, t) = api.get("/today").await;
    assert_eq!(t["context"]["contexts"], json!(["work", "computer"]));
    let page = app.get("/settings/context").await.text().await.unwrap();
    assert!(
        page.contains("weekdays 09:00-18:00 @work @computer") && page.contains("@work @computer (from"),
        "{page}"
    );

    let res = app.post_form("/settings/context", &[("rules", "weekdays 9-5 @work")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("ine 1") && html.contains("weekdays 9-5 @work"), "{html}");
    let res =
        app.post_form("/settings/context", &[("rules", "wed 08:00-12:00 @garden\r\nweekdays @work")]).await;
    assert_eq!(res.status(), 303);
    let (_, t) = api.get("/today").await;
    assert_eq!(t["context"]["contexts"], json!(["garden"]));
    assert_eq!(t["context"]["rule"], "wed 08:00-12:00 @garden");
}

#[tokio::test]
async fn the_manifest_and_icons_are_public() {
    let app = spawn_app().await;
    let res = reqwest::get(app.url("/manifest.webmanifest")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/manifest+json");
    let manifest: Value = res.json().await.unwrap();
    assert_eq!(manifest["start_url"], "/");
    for icon in manifest["icons"].as_array().unwrap() {
        let res = reqwest::get(app.url(icon["src"].as_str().unwrap())).await.unwrap();
        assert_eq!(res.status(), 200, "{icon}");
        let bytes = res.bytes().await.unwrap();
        if icon["type"] == "image/png" {
            assert!(bytes.starts_with(b"\x89PNG"), "{icon}");
            let size: u32 = icon["sizes"].as_str().unwrap().split('x').next().unwrap().parse().unwrap();
            assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), size, "{icon}");
        }
    }
    // The page links it.
    let mut app = app;
    app.set_up().await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("<link rel=\"manifest\" href=\"/manifest.webmanifest\">"));
}

#[tokio::test]
async fn a_project_nobody_touched_for_two_weeks_is_suggested_as_stalled() {
    let (_app, clock, api) = new_york_at("2026-11-10T15:00:00Z").await;
    add(&api, "Sort the boxes +attic").await;
    add(&api, "Buy paint +house").await;
    clock.set("2026-12-02T15:00:00Z".parse().unwrap());
    add(&api, "Call the painter +house").await; // +house moved today; +attic did not for 22 days
    let (_, t) = api.get("/today?context=none").await;
    let next = t["what_next"].as_array().unwrap();
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(next[0]["task"]["title"], "Sort the boxes");
    assert_eq!(next[0]["reasons"], json!([{"kind": "stalled", "text": "+attic stalled"}]));
}

/// The first-run card offers the briefings until one is on or the person says "Not now".
#[tokio::test]
async fn today_offers_the_briefings_until_turned_on_or_declined() {
    let app = logged_in_app().await;
    let offered = |html: &str| html.contains("Briefings from your agent");
    assert!(offered(&app.get("/").await.text().await.unwrap()));
    let res = app.post_form("/briefings/enable", &[]).await;
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    assert!(!offered(&app.get("/").await.text().await.unwrap()), "one is on: no offer");
    let api = app.api(&app.api_token().await);
    let (_, list) = api.get("/briefings").await;
    assert!(list["briefings"].as_array().unwrap().iter().all(|b| b["enabled"] == true), "{list}");

    let other = logged_in_app().await;
    let res = other.post_form("/today/briefings-offer/dismiss", &[]).await;
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    assert!(!offered(&other.get("/").await.text().await.unwrap()), "Not now is remembered");
    let api = other.api(&other.api_token().await);
    let (_, list) = api.get("/briefings").await;
    assert!(list["briefings"].as_array().unwrap().iter().all(|b| b["enabled"] == false), "{list}");
}
