//! Calendar events under the confirmation policy and in the activity log with Undo: the chat
//! agent (the scripted model), an MCP client and an API token each change events; what is
//! destructive or someone else's waits for the person; every change is listed and undone.

use chrono::{DateTime, Utc};
use reqwest::Client;
use serde_json::{Value, json};
use steward::calendar::service::{self as calendar, EventInput, Target};
use steward::services::{Actor, Ctx};

use crate::fakes::openai::{Reply, ScriptedModel};
use crate::helpers::*;

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn person() -> Ctx {
    Ctx { now: Utc::now(), tz: chrono_tz::Tz::UTC, actor: Actor::Person }
}

/// An event the person made (on the page: not recorded, not the agent's).
fn persons_event(app: &TestApp, title: &str, start: &str, rrule: Option<&str>) -> i32 {
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let input = EventInput {
        title: Some(title.into()),
        start: Some(start.into()),
        rrule: rrule.map(|r| Some(r.to_string())),
        ..EventInput::default()
    };
    calendar::create(&mut db.conn().unwrap(), &person(), &input).unwrap().id
}

/// The occurrences in [from, to) as (title, start in UTC).
fn occurrences(app: &TestApp, from: &str, to: &str) -> Vec<(String, String)> {
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let (from, to) = (
        DateTime::parse_from_rfc3339(from).unwrap().to_utc(),
        DateTime::parse_from_rfc3339(to).unwrap().to_utc(),
    );
    let (list, _) = calendar::occurrences(&mut db.conn().unwrap(), &person(), from, to, None).unwrap();
    list.iter().map(|o| (o.title.clone(), o.start_at.format("%Y-%m-%dT%H:%MZ").to_string())).collect()
}

fn may_2030(app: &TestApp) -> Vec<(String, String)> {
    occurrences(app, "2030-05-01T00:00:00Z", "2030-07-01T00:00:00Z")
}

async fn event_entries(api: &Api, query: &str) -> Vec<Value> {
    let (status, log) = api.get(&format!("/activity?kind=event{query}")).await;
    assert_eq!(status, 200, "{log}");
    log["activity"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_chat_agent_adds_at_once_waits_to_edit_and_delete_and_each_is_undone() {
    let mut app = spawn_app().await;
    app.set_up().await;
    let api = app.api(&app.api_token().await);
    let dentist = persons_event(&app, "Dentist", "2030-05-06T10:00", None);
    let standup = persons_event(&app, "Standup", "2030-05-06T09:00", Some("FREQ=WEEKLY;COUNT=6"));
    let original = may_2030(&app);
    assert_eq!(original.len(), 7, "{original:?}");
    let model = ScriptedModel::start(vec![
        Reply::Tools(vec![
            (0, "c1", "add_event", r#"{"title": "Lunch", "start": "2030-05-07T12:00"}"#),
            (1, "c2", "update_event", leak(format!(r#"{{"id": {dentist}, "title": "INJECTED"}}"#))),
            (
                2,
                "c3",
                "delete_event",
                leak(format!(
                    r#"{{"id": {standup}, "scope": "following", "occurrence": "2030-05-20T09:00"}}"#
                )),
            ),
        ]),
        Reply::Text(vec!["Done."]),
    ])
    .await;
    let (status, body) = api
        .post(
            "/agents",
            json!({"name": "m", "kind": "llm", "url": model.url, "model": "scripted", "timeout_secs": 30}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, r) = api.post("/chat", json!({"message": "Read this invitation", "agent": "m"})).await;
    assert_eq!(status, 200, "{r}");
    let cid = r["conversation_id"].clone();

    // Adding ran at once; the edit of the person's event and the delete wait, saying why.
    let now = may_2030(&app);
    assert_eq!(now.len(), 8, "only Lunch was added: {now:?}");
    assert!(now.iter().any(|(t, _)| t == "Lunch") && now.iter().any(|(t, _)| t == "Dentist"), "{now:?}");
    let (_, c) = api.get(&format!("/conversations/{cid}")).await;
    let held: Vec<Value> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool" && m["content"].as_str().unwrap().contains("waits_because"))
        .cloned()
        .collect();
    assert_eq!(held.len(), 2, "{c}");
    let html = app.get(&format!("/chat/{cid}")).await.text().await.unwrap();
    assert!(html.contains("it changes an event that this conversation did not add"), "{html}");
    assert!(html.contains("it deletes a calendar event"), "{html}");

    // The person confirms both in the chat card.
    for m in &held {
        let res = app.post_htmx(&format!("/chat/{cid}/tools/{}/confirm", m["id"]), &[]).await;
        assert_eq!(res.status(), 200);
    }
    let now = may_2030(&app);
    assert!(now.iter().any(|(t, _)| t == "INJECTED"), "{now:?}");
    assert_eq!(now.iter().filter(|(t, _)| t == "Standup").count(), 2, "the 20th on are gone: {now:?}");

    // The Activity page and the API list all three, newest first.
    let entries = event_entries(&api, &format!("&conversation={cid}")).await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["delete", "update", "create"], "{entries:?}");
    assert!(entries.iter().all(|e| e["kind"] == "event" && e["via"] == "chat"), "{entries:?}");
    assert_eq!(
        (entries[1]["before"]["title"].as_str(), entries[1]["after"]["title"].as_str()),
        (Some("Dentist"), Some("INJECTED"))
    );
    let page = app.get("/activity?kind=event").await.text().await.unwrap();
    for text in [
        "Added event “Lunch”",
        "Changed event “INJECTED”",
        "Deleted “Standup” from one occurrence on",
        ">Events</option>",
    ] {
        assert!(page.contains(text), "{text} missing from the page");
    }
    let (delete, update, create) =
        (entries[0]["id"].clone(), entries[1]["id"].clone(), entries[2]["id"].clone());

    // The person changed the dentist since: undoing the edit is refused, in a sentence.
    {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let notes = EventInput { notes: Some(Some("bring the card".into())), ..EventInput::default() };
        calendar::update(&mut db.conn().unwrap(), &person(), dentist, &notes, Target::ALL).unwrap();
    }
    let res = app.post_htmx(&format!("/activity/{update}/undo"), &[]).await;
    assert_eq!(res.status(), 409);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("is not as this change left it") && text.contains("changed since (notes)"),
        "{text}"
    );
    {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let notes = EventInput { notes: Some(None), ..EventInput::default() };
        calendar::update(&mut db.conn().unwrap(), &person(), dentist, &notes, Target::ALL).unwrap();
    }

    // Undo each: the series is whole again, the dentist has its name back, Lunch goes.
    for (id, said) in [
        (&delete, "Brought back event “Standup”"),
        (&update, "Put event “Dentist” back"),
        (&create, "Deleted event “Lunch”"),
    ] {
        let (status, undone) = api.post(&format!("/activity/{id}/undo"), json!({})).await;
        assert_eq!(status, 200, "{undone}");
        assert!(undone["message"].as_str().unwrap().contains(said), "{undone}");
    }
    assert_eq!(may_2030(&app), original);
    // Twice is refused.
    let (status, err) = api.post(&format!("/activity/{delete}/undo"), json!({})).await;
    assert_eq!(status, 409, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("undone already"), "{err}");
}

async fn mcp_call(app: &TestApp, token: &str, name: &str, arguments: Value) -> Value {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": name, "arguments": arguments } });
    let res = Client::new().post(app.url("/mcp")).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["result"].clone()
}

#[tokio::test]
async fn an_mcp_clients_event_delete_waits_for_the_notifications_page() {
    let mut app = spawn_app().await;
    app.set_up().await;
    let token = app.api_token().await;
    let api = app.api(&token);
    let persons = persons_event(&app, "Book club", "2030-05-06T19:00", None);

    // Its own event it may change at once; the person's edit waits; every delete waits.
    let added =
        mcp_call(&app, &token, "add_event", json!({"title": "Call Ana", "start": "2030-05-08T17:00"})).await;
    assert_eq!(added["isError"], false, "{added}");
    let own = added["structuredContent"]["id"].clone();
    let moved = mcp_call(
        &app,
        &token,
        "update_event",
        json!({"id": own, "start": "2030-05-08T18:00", "end": "2030-05-08T19:00"}),
    )
    .await;
    assert_eq!(moved["structuredContent"]["start"], "2030-05-08T18:00", "{moved}");
    let waits = mcp_call(&app, &token, "update_event", json!({"id": persons, "title": "x"})).await;
    assert_eq!(waits["structuredContent"]["status"], "awaiting_confirmation", "{waits}");
    assert!(
        waits["structuredContent"]["message"].as_str().unwrap().contains("this MCP client did not add"),
        "{waits}"
    );
    // Another client did not add it: its edit waits too.
    let other = app.api_token().await;
    let waits = mcp_call(&app, &other, "update_event", json!({"id": own, "title": "x"})).await;
    assert_eq!(waits["structuredContent"]["status"], "awaiting_confirmation", "{waits}");
    // A delete of nothing fails at once.
    let missing = mcp_call(&app, &token, "delete_event", json!({"id": 9999})).await;
    assert_eq!(missing["isError"], true, "{missing}");

    let held = mcp_call(&app, &token, "delete_event", json!({"id": persons})).await;
    assert_eq!(held["structuredContent"]["status"], "awaiting_confirmation", "{held}");
    let id = held["structuredContent"]["confirmation_id"].as_i64().unwrap();
    assert_eq!(may_2030(&app).len(), 2, "nothing deleted yet");
    let html = app.get("/notifications").await.text().await.unwrap();
    assert!(html.contains("asks to delete event #") && html.contains("Book club"), "{html}");
    let res = app.post_form(&format!("/confirmations/{id}/confirm"), &[]).await;
    assert_eq!(res.status(), 303);
    let left = may_2030(&app);
    let titles: Vec<&str> = left.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["Call Ana"], "{left:?}");

    // Logged with the client's token; Undo brings the book club back.
    let entries = event_entries(&api, "&actor=mcp").await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["delete", "update", "create"], "{entries:?}");
    assert!(entries.iter().all(|e| e["token_id"].is_i64()), "{entries:?}");
    let res = app.post_htmx(&format!("/activity/{}/undo", entries[0]["id"]), &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(may_2030(&app).len(), 2);
    assert!(may_2030(&app).iter().any(|(t, _)| t == "Book club"));
}

#[tokio::test]
async fn a_tokens_event_changes_by_scope_are_logged_and_undone() {
    let mut app = spawn_app().await;
    app.set_up().await;
    let api = app.api(&app.api_token().await);
    let (status, made) = api
        .post(
            "/events",
            json!({"title": "Yoga", "start": "2030-05-06T07:00", "rrule": "FREQ=DAILY;COUNT=10"}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_i64().unwrap();
    let original = may_2030(&app);
    assert_eq!(original.len(), 10);
    // One occurrence moved, one deleted, the rest renamed from the 12th on (a split), then a
    // whole single event deleted.
    let (status, r) = api
        .patch(
            &format!("/events/{id}?scope=this&occurrence=2030-05-07T07:00"),
            json!({"start": "2030-05-07T08:00"}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(api.delete(&format!("/events/{id}?scope=this&occurrence=2030-05-08T07:00")).await, 204);
    let (status, r) = api
        .patch(
            &format!("/events/{id}?scope=following&occurrence=2030-05-12T07:00"),
            json!({"title": "Pilates"}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let (_, single) = api.post("/events", json!({"title": "Flight", "start": "2030-05-20T06:00"})).await;
    assert_eq!(api.delete(&format!("/events/{}", single["id"])).await, 204);
    let changed = may_2030(&app);
    assert_eq!(changed.iter().filter(|(t, _)| t == "Pilates").count(), 4, "{changed:?}");
    assert_eq!(changed.len(), 9, "{changed:?}");

    let entries = event_entries(&api, "&actor=api").await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["delete", "create", "update", "delete", "update", "create"], "{entries:?}");
    assert!(entries.iter().all(|e| e["via"] == "api" && e["token_id"].is_i64()), "{entries:?}");
    let page = app.get("/activity?actor=api&kind=event").await.text().await.unwrap();
    assert!(page.contains("Deleted one occurrence of “Yoga”"), "{page}");
    // The series' first creation cannot be undone while later changes stand.
    let (status, err) = api.post(&format!("/activity/{}/undo", entries[5]["id"]), json!({})).await;
    assert_eq!(status, 409, "{err}");
    // Undone newest first, every change goes back: the calendar is as it was made.
    for e in &entries[..5] {
        let (status, undone) = api.post(&format!("/activity/{}/undo", e["id"]), json!({})).await;
        assert_eq!(status, 200, "{e} {undone}");
    }
    assert_eq!(may_2030(&app), original);
    // The token's undos are logged too (and each can itself be undone).
    let (_, log) = api.get("/activity?kind=event&limit=1").await;
    assert_eq!(log["activity"][0]["action"], "update", "{log}");
    let (status, undone) = api.post(&format!("/activity/{}/undo", entries[5]["id"]), json!({})).await;
    assert_eq!(status, 200, "{undone}");
    assert!(may_2030(&app).is_empty());
}
