//! The calendar's agent tools (`list_events`, `add_event`, `update_event`, `delete_event`)
//! through both doors: the chat (a scripted model calling them) and MCP; and today's events in
//! the chat's `{today}` context.

use chrono::{DateTime, TimeZone, Utc};
use reqwest::Client;
use serde_json::{Value, json};
use steward::calendar::service::{self as calendar, EventInput};
use steward::clock::FixedClock;
use steward::services::{Actor, Ctx};

use crate::fakes::openai::{Reply, ScriptedModel};
use crate::helpers::*;

fn berlin() -> chrono_tz::Tz {
    "Europe/Berlin".parse().unwrap()
}

/// The occurrences in [from, to) as the service gives them: (title, start in UTC).
fn occurrences(app: &TestApp, from: &str, to: &str) -> Vec<(String, String)> {
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let mut conn = db.conn().unwrap();
    let ctx = Ctx { now: Utc::now(), tz: berlin(), actor: Actor::Person };
    let (from, to) = (
        DateTime::parse_from_rfc3339(from).unwrap().to_utc(),
        DateTime::parse_from_rfc3339(to).unwrap().to_utc(),
    );
    let (list, _) = calendar::occurrences(&mut conn, &ctx, from, to, None).unwrap();
    list.iter().map(|o| (o.title.clone(), o.start_at.format("%Y-%m-%dT%H:%MZ").to_string())).collect()
}

async fn llm_agent(api: &Api, model: &ScriptedModel) {
    let (status, body) = api
        .post(
            "/agents",
            json!({"name": "m", "kind": "llm", "url": model.url, "model": "scripted", "timeout_secs": 30}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

#[tokio::test]
async fn the_chat_agent_adds_lists_moves_and_deletes_events_and_sees_todays() {
    // Monday 2 March 2026, 08:00 in Berlin.
    let clock = FixedClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 7, 0, 0).unwrap());
    let app = spawn_app_at(&clock, |_| {}).await;
    let api = app.api(&app.api_token().await);
    {
        // Something already on today's calendar, for the {today} context.
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let ctx = Ctx { now: clock_now(&clock), tz: berlin(), actor: Actor::Person };
        let input = EventInput {
            title: Some("Dentist".into()),
            start: Some("2026-03-02T15:00".into()),
            end: Some("2026-03-02T16:00".into()),
            location: Some(Some("Main St".into())),
            ..EventInput::default()
        };
        calendar::create(&mut db.conn().unwrap(), &ctx, &input).unwrap();
    }

    let add = r#"{"title": "Standup", "start": "2026-03-02T09:30", "end": "2026-03-02T09:45", "rrule": "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6"}"#;
    let model = ScriptedModel::start(vec![
        Reply::Tools(vec![(0, "a1", "add_event", add)]),
        Reply::Tools(vec![(0, "l1", "list_events", r#"{"from": "2026-03-02", "to": "2026-03-09"}"#)]),
        Reply::Text(vec!["Done."]),
    ])
    .await;
    llm_agent(&api, &model).await;
    let (status, r) = api.post("/chat", json!({"message": "Add my standup", "agent": "m"})).await;
    assert_eq!((status, r["content"].as_str()), (200, Some("Done.")), "{r}");

    // The system prompt listed today's events in the person's zone.
    let system = model.requests()[0]["messages"][0]["content"].as_str().unwrap().to_string();
    assert!(
        system.contains("Today's events:") && system.contains("15:00–16:00 Dentist at Main St"),
        "{system}"
    );
    let tools = model.requests()[0]["tools"].clone();
    for name in ["list_events", "add_event", "update_event", "delete_event"] {
        assert!(tools.as_array().unwrap().iter().any(|t| t["function"]["name"] == name), "{name}");
    }

    // The series exists, made by the agent; list_events answered with its occurrences.
    let listed: Value = {
        let sent = &model.requests()[2]["messages"];
        let tool = sent.as_array().unwrap().iter().rfind(|m| m["role"] == "tool").unwrap();
        serde_json::from_str(tool["content"].as_str().unwrap()).unwrap()
    };
    let titles: Vec<&str> =
        listed["occurrences"].as_array().unwrap().iter().map(|o| o["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Standup", "Dentist", "Standup"], "{listed}");
    assert_eq!(listed["occurrences"][0]["start"], "2026-03-02T09:30:00+01:00");
    let wednesday = listed["occurrences"][2].clone();
    assert_eq!(wednesday["recurrence_id"], "2026-03-04T09:30", "{wednesday}");
    let id = wednesday["event_id"].as_i64().unwrap();

    // Move Wednesday's standup to 11:00 (this occurrence only), then delete the following
    // Monday's; the person turned confirmation off, so the delete runs (with it on, it waits:
    // calendar_activity.rs).
    {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let settings =
            steward::chat::engine::ChatSettings { confirm_destructive: false, ..Default::default() };
        settings.save(&mut db.conn().unwrap()).unwrap();
    }
    let update = leak(format!(
        r#"{{"id": {id}, "scope": "this", "occurrence": "2026-03-04T09:30", "start": "2026-03-04T11:00", "end": "2026-03-04T11:15"}}"#
    ));
    let delete = leak(format!(r#"{{"id": {id}, "scope": "this", "occurrence": "2026-03-09T09:30"}}"#));
    model.then(vec![
        Reply::Tools(vec![(0, "u1", "update_event", update)]),
        Reply::Tools(vec![(0, "d1", "delete_event", delete)]),
        Reply::Text(vec!["Moved and deleted."]),
    ]);
    let (_, r) =
        api.post("/chat", json!({"message": "Move it", "conversation_id": r["conversation_id"]})).await;
    assert_eq!(r["content"], "Moved and deleted.", "{r}");
    let week = occurrences(&app, "2026-03-02T00:00:00Z", "2026-03-16T00:00:00Z");
    let standups: Vec<&str> = week.iter().filter(|(t, _)| t == "Standup").map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        standups,
        ["2026-03-02T08:30Z", "2026-03-04T10:00Z", "2026-03-11T08:30Z"],
        "Wednesday moved to 11:00 Berlin, the 9th gone: {week:?}"
    );
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let series = calendar::get(&mut db.conn().unwrap(), id as i32).unwrap();
    assert_eq!(series.created_by, "agent");
}

fn clock_now(clock: &FixedClock) -> DateTime<Utc> {
    use steward::clock::Clock;
    clock.now()
}

#[tokio::test]
async fn delete_event_waits_for_confirmation_when_the_person_asks_for_it() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    let id = {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let ctx = Ctx { now: Utc::now(), tz: berlin(), actor: Actor::Person };
        let input = EventInput {
            title: Some("Book club".into()),
            start: Some("2030-05-06T19:00".into()),
            ..EventInput::default()
        };
        let mut conn = db.conn().unwrap();
        let e = calendar::create(&mut conn, &ctx, &input).unwrap();
        let settings =
            steward::chat::engine::ChatSettings { confirm_destructive: true, ..Default::default() };
        settings.save(&mut conn).unwrap();
        e.id
    };
    let model = ScriptedModel::start(vec![
        Reply::Tools(vec![(0, "d1", "delete_event", leak(format!(r#"{{"id": {id}}}"#)))]),
        Reply::Text(vec!["Waiting for you."]),
    ])
    .await;
    llm_agent(&api, &model).await;
    let (_, r) = api.post("/chat", json!({"message": "drop book club", "agent": "m"})).await;
    assert_eq!(r["content"], "Waiting for you.", "{r}");
    let left = occurrences(&app, "2030-05-06T00:00:00Z", "2030-05-07T00:00:00Z");
    assert_eq!(left.len(), 1, "nothing deleted before the person confirms: {left:?}");
}

/// A minimal MCP client: one JSON-RPC request per POST, JSON answers.
async fn mcp_call(app: &TestApp, token: &str, name: &str, arguments: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}});
    let res = Client::new()
        .post(app.url("/mcp"))
        .bearer_auth(token)
        .header("Accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["result"].clone()
}

#[tokio::test]
async fn the_calendar_tools_work_over_mcp() {
    let mut app = spawn_app().await;
    app.set_up().await;
    let token = app.api_token().await;
    let list = Client::new()
        .post(app.url("/mcp"))
        .bearer_auth(&token)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let tools = list["result"]["tools"].as_array().unwrap();
    let delete = tools.iter().find(|t| t["name"] == "delete_event").unwrap();
    assert_eq!(delete["annotations"]["destructiveHint"], true);
    let add = tools.iter().find(|t| t["name"] == "add_event").unwrap();
    assert!(add["inputSchema"]["properties"]["text"].is_object());

    // Quick-add text, as the person would say it.
    let result =
        mcp_call(&app, &token, "add_event", json!({"text": "Lunch with Ana 2032-02-03 12:30-14:00"})).await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["title"], "Lunch with Ana", "{result}");
    assert_eq!(result["structuredContent"]["start"], "2032-02-03T12:30", "{result}");
    let result = mcp_call(&app, &token, "add_event", json!({"text": "Lunch", "title": "Lunch"})).await;
    assert_eq!(result["isError"], true);
    assert!(result["content"][0]["text"].as_str().unwrap().starts_with("text:"), "{result}");
    let result = mcp_call(&app, &token, "add_event", json!({"title": "No start"})).await;
    assert!(result["content"][0]["text"].as_str().unwrap().starts_with("start:"), "{result}");

    // Monthly on the last Friday, six times, in New York.
    let result = mcp_call(
        &app,
        &token,
        "add_event",
        json!({"title": "Review", "start": "2031-01-31T16:00", "zone": "America/New_York", "rrule": "FREQ=MONTHLY;BYDAY=-1FR;COUNT=6"}),
    )
    .await;
    assert_eq!(result["isError"], false, "{result}");
    let event = result["structuredContent"].clone();
    assert_eq!(
        (event["zone"].as_str(), event["created_by"].as_str()),
        (Some("America/New_York"), Some("agent"))
    );
    let id = event["id"].as_i64().unwrap();

    let result =
        mcp_call(&app, &token, "list_events", json!({"from": "2031-01-01", "to": "2031-07-01"})).await;
    let starts: Vec<&str> = result["structuredContent"]["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["start"].as_str().unwrap())
        .collect();
    // 16:00 New York in the person's zone (Berlin): 22:00, and 21:00 in the weeks when only
    // the US has moved its clocks (March 28 is after the US change and before Europe's).
    assert_eq!(
        starts,
        [
            "2031-01-31T22:00:00+01:00",
            "2031-02-28T22:00:00+01:00",
            "2031-03-28T21:00:00+01:00",
            "2031-04-25T22:00:00+02:00",
            "2031-05-30T22:00:00+02:00",
            "2031-06-27T22:00:00+02:00",
        ],
        "{result}"
    );

    // This and following from April: the rest moves to 17:00, nothing lost or doubled.
    let result = mcp_call(
        &app,
        &token,
        "update_event",
        json!({"id": id, "scope": "following", "occurrence": "2031-04-25T16:00", "start": "2031-04-25T17:00", "end": "2031-04-25T18:00"}),
    )
    .await;
    assert_eq!(result["isError"], false, "{result}");
    let result =
        mcp_call(&app, &token, "list_events", json!({"from": "2031-01-01", "to": "2031-07-01"})).await;
    let occurrences = result["structuredContent"]["occurrences"].as_array().unwrap().clone();
    assert_eq!(occurrences.len(), 6, "{result}");
    assert_eq!(occurrences[3]["start"], "2031-04-25T23:00:00+02:00");

    // Errors name the field.
    let result = mcp_call(
        &app,
        &token,
        "add_event",
        json!({"title": "X", "start": "2031-01-01T10:00", "rrule": "FREQ=SOMETIMES"}),
    )
    .await;
    assert_eq!(result["isError"], true);
    assert!(result["content"][0]["text"].as_str().unwrap().starts_with("rrule:"), "{result}");
    let result = mcp_call(&app, &token, "list_events", json!({"from": "next week"})).await;
    assert!(result["content"][0]["text"].as_str().unwrap().starts_with("from:"), "{result}");

    // delete_event over MCP waits for the person (Notifications page), who confirms it.
    let last = occurrences[5]["event_id"].as_i64().unwrap();
    let result = mcp_call(&app, &token, "delete_event", json!({"id": last})).await;
    assert_eq!(result["structuredContent"]["status"], "awaiting_confirmation", "{result}");
    let held = result["structuredContent"]["confirmation_id"].as_i64().unwrap();
    let res = app.post_form(&format!("/confirmations/{held}/confirm"), &[]).await;
    assert_eq!(res.status(), 303);
    let result =
        mcp_call(&app, &token, "list_events", json!({"from": "2031-01-01", "to": "2031-07-01"})).await;
    let left = result["structuredContent"]["occurrences"].as_array().unwrap();
    assert_eq!(left.iter().filter(|o| o["title"] == "Review").count(), 3, "{result}");
}
