//! `/mcp`: driven as an MCP client would (streamable HTTP, JSON responses), checked through the
//! JSON API.

use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::*;

/// A minimal MCP client: one JSON-RPC message per POST.
struct Mcp {
    url: String,
    token: String,
    client: Client,
    next_id: i64,
}

impl Mcp {
    async fn send(&self, message: Value) -> reqwest::Response {
        self.client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Accept", "application/json, text/event-stream")
            .json(&message)
            .send()
            .await
            .unwrap()
    }

    /// A request; returns the whole JSON-RPC response.
    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let res = self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })).await;
        assert_eq!(res.status(), 200, "{method}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["jsonrpc"], "2.0");
        assert_eq!(body["id"], id);
        body
    }

    /// `tools/call`; returns the call's result.
    async fn call(&mut self, name: &str, arguments: Value) -> Value {
        let body = self.request("tools/call", json!({ "name": name, "arguments": arguments })).await;
        body["result"].clone()
    }
}

async fn connect(app: &TestApp) -> Mcp {
    Mcp { url: app.url("/mcp"), token: app.api_token().await, client: Client::new(), next_id: 0 }
}

#[tokio::test]
async fn an_mcp_client_lists_tools_and_acts_as_the_agent() {
    let app = spawn_app().await;
    let mut mcp = connect(&app).await;
    let api = app.api(&mcp.token);

    // initialize: our version echoed, tools offered, a session id.
    let res = mcp
        .send(json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-03-26",
                "capabilities": {},
                "clientInfo": { "name": "test", "version": "1" },
            },
        }))
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("mcp-session-id"));
    let init: Value = res.json().await.unwrap();
    assert_eq!(init["result"]["protocolVersion"], "2025-03-26");
    assert_eq!(init["result"]["capabilities"]["tools"], json!({}));
    assert_eq!(init["result"]["serverInfo"]["name"], "steward");
    // A version we do not know gets our newest.
    let init =
        mcp.request("initialize", json!({ "protocolVersion": "2099-01-01", "capabilities": {} })).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");

    // Notifications are accepted with no body.
    let res = mcp.send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" })).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.text().await.unwrap(), "");

    assert_eq!(mcp.request("ping", Value::Null).await["result"], json!({}));

    // tools/list: every tool with its input schema.
    let list = mcp.request("tools/list", json!({})).await;
    let tools = list["result"]["tools"].as_array().unwrap();
    for name in ["add_task", "list_tasks", "create_schedule", "schedule_wakeup", "list_runs", "notify"] {
        let tool = tools.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(tool["description"].as_str().unwrap().len() > 20);
        assert_eq!(tool["inputSchema"]["type"], "object", "{name}");
        assert!(tool["inputSchema"]["properties"].is_object(), "{name}");
    }
    let wakeup = tools.iter().find(|t| t["name"] == "schedule_wakeup").unwrap();
    assert_eq!(wakeup["inputSchema"]["required"], json!(["prompt", "at"]));

    // add_task with quick-add text: the task is the agent's, as the API shows it.
    let result = mcp.call("add_task", json!({ "text": "Buy milk tomorrow +home" })).await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["title"], "Buy milk");
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, result["structuredContent"]);
    let (status, list) = api.get("/tasks").await;
    assert_eq!(status, 200);
    let task = list["tasks"].as_array().unwrap().iter().find(|t| t["title"] == "Buy milk").unwrap().clone();
    assert_eq!(task["created_by"], "agent");
    assert_eq!(task["projects"], json!(["home"]));
    assert!(task["due"].is_string());

    // The agent sees and completes it.
    let result = mcp.call("list_tasks", json!({ "project": "home" })).await;
    assert_eq!(result["structuredContent"]["tasks"].as_array().unwrap().len(), 1, "{result}");
    let result = mcp.call("complete_task", json!({ "id": task["id"] })).await;
    assert_eq!(result["structuredContent"]["status"], "done", "{result}");

    // A tool's failure is a result the model reads, naming the field.
    let result = mcp
        .call("create_schedule", json!({ "prompt": "Standup", "cron": "61 9 * * *", "agent": "notify" }))
        .await;
    assert_eq!(result["isError"], true, "{result}");
    let message = result["content"][0]["text"].as_str().unwrap();
    assert!(message.starts_with("cron:"), "{message}");
    let result = mcp.call("complete_task", json!({ "id": "seven" })).await;
    assert_eq!(result["isError"], true);
    assert!(result["content"][0]["text"].as_str().unwrap().starts_with("id:"), "{result}");

    // schedule_wakeup over MCP: a one-time schedule for the named agent, by the agent.
    let result = mcp
        .call("schedule_wakeup", json!({ "prompt": "check the build", "at": "in 2h", "agent": "notify" }))
        .await;
    assert_eq!(result["isError"], false, "{result}");
    let id = result["structuredContent"]["id"].as_i64().unwrap();
    let (status, list) = api.get("/schedules").await;
    assert_eq!(status, 200);
    let schedule = list["schedules"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap().clone();
    assert_eq!(schedule["created_by"], "agent");
    assert_eq!(schedule["kind"], "once");
    assert_eq!(schedule["agent"], "notify");
    assert_eq!(schedule["prompt"], "check the build");
    assert_eq!(schedule["name"], "Wake-up: check the build");
    assert!(schedule["next_run"].is_string());

    // Pausing and cancelling it wait for the person (tests/it/activity.rs confirms them).
    let result = mcp.call("pause_schedule", json!({ "id": id })).await;
    assert_eq!(result["structuredContent"]["status"], "awaiting_confirmation", "{result}");
    let result = mcp.call("cancel_schedule", json!({ "id": id })).await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["status"], "awaiting_confirmation", "{result}");
    assert_eq!(api.get(&format!("/schedules/{id}")).await.0, 200);
}

#[tokio::test]
async fn mcp_refuses_without_a_token_and_answers_protocol_errors() {
    let app = spawn_app().await;
    let mut mcp = connect(&app).await;
    let client = Client::new();
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });

    let res = client.post(app.url("/mcp")).json(&ping).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = client.post(app.url("/mcp")).bearer_auth("not-a-token").json(&ping).send().await.unwrap();
    assert_eq!(res.status(), 401);

    // No server-sent stream.
    let res = client.get(app.url("/mcp")).bearer_auth(&mcp.token).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");

    let body = mcp.request("resources/list", json!({})).await;
    assert_eq!(body["error"]["code"], -32601);

    let res = client
        .post(app.url("/mcp"))
        .bearer_auth(&mcp.token)
        .header("Content-Type", "application/json")
        .body("{\"jsonrpc\": \"2.0\", ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let (_, body) = read(res).await;
    assert_eq!(body["error"]["code"], -32700);
    assert_eq!(body["id"], Value::Null);

    let res = mcp.send(json!([ping])).await;
    assert_eq!(res.status(), 400);
    assert_eq!(read(res).await.1["error"]["code"], -32600);

    // An unknown tool is a protocol error; a missing task is the tool's error.
    let body = mcp.request("tools/call", json!({ "name": "format_disk", "arguments": {} })).await;
    assert_eq!(body["error"]["code"], -32602);
    let result = mcp.call("complete_task", json!({ "id": 999 })).await;
    assert_eq!(result["isError"], true, "{result}");
}

/// The chat's door: the registry called directly, from a conversation.
#[tokio::test]
async fn tools_called_from_a_conversation_wake_the_agent_in_it() {
    use std::sync::Arc;

    use steward::clock::{Clock, SystemClock};
    use steward::config::Config;
    use steward::error::AppError;
    use steward::events::Event;
    use steward::services::Services;
    use steward::tools::{Caller, call};

    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    let (status, agent) = api
        .post(
            "/agents",
            json!({ "name": "bot", "kind": "llm", "url": "http://127.0.0.1:9/v1", "model": "m" }),
        )
        .await;
    assert_eq!(status, 201, "{agent}");

    let db = steward::db::Db::open(&app.db_path).unwrap();
    let config =
        Config { db: app.db_path.clone(), timezone: Some("Europe/Berlin".into()), ..Config::default() };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let env = Services::new(db.clone(), config.clone(), clock);
    let conversation = {
        let config = config.clone();
        db.run(move |conn| steward::chat::create(conn, &config, "bot", "Planning", chrono::Utc::now()))
            .await
            .unwrap()
    };
    let caller = Caller { conversation: Some(conversation.id), agent: Some("bot".into()), token: None };

    // The wake-up goes to the calling agent, into its conversation.
    let woken =
        call(&env, &caller, "schedule_wakeup", &json!({ "prompt": "check the build", "at": "in 20m" }))
            .await
            .unwrap();
    let id = woken["id"].as_i64().unwrap() as i32;
    let s = db.run(move |conn| steward::schedules::get(conn, id)).await.unwrap();
    assert_eq!((s.agent.as_str(), s.kind.as_str(), s.created_by.as_str()), ("bot", "once", "agent"));
    assert_eq!(s.conversation_id, Some(conversation.id));
    assert_eq!(s.created_in, Some(conversation.id));

    // Other schedules only remember where they were made.
    let made = call(
        &env,
        &caller,
        "create_schedule",
        &json!({ "prompt": "Weekly review", "cron": "0 9 * * 1", "agent": "notify" }),
    )
    .await
    .unwrap();
    let id = made["id"].as_i64().unwrap() as i32;
    let s = db.run(move |conn| steward::schedules::get(conn, id)).await.unwrap();
    assert_eq!((s.conversation_id, s.created_in), (None, Some(conversation.id)));

    // notify: stored and sent to open pages.
    let mut live = env.events.subscribe();
    let sent =
        call(&env, &caller, "notify", &json!({ "title": "Build is green", "body": "All 59 tests pass." }))
            .await
            .unwrap();
    assert_eq!(sent["sent"], true);
    match live.recv().await.unwrap() {
        Event::Notification { title, .. } => assert_eq!(title, "Build is green"),
        other => panic!("{other:?}"),
    }

    let runs = call(&env, &caller, "list_runs", &json!({})).await.unwrap();
    assert!(runs["runs"].is_array(), "{runs}");
    assert!(matches!(call(&env, &caller, "drop_tables", &json!({})).await, Err(AppError::NotFound(_))));
    assert!(matches!(
        call(&env, &caller, "add_task", &json!({ "text": "x", "title": "y" })).await,
        Err(AppError::Invalid { field, .. }) if field == "text"
    ));
}
