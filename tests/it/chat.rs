//! Chat through the API against the scripted OpenAI-compatible server: streaming, every way
//! the upstream can fail, the tool loop and its limit, stopping, replies that outlive their
//! client, and a wake-up that fires back into its conversation.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fakes::openai::{Reply, ScriptedModel};
use crate::helpers::*;

async fn llm_agent(api: &Api, name: &str, model: &ScriptedModel, timeout_secs: u64) {
    let (status, body) = api
        .post(
            "/agents",
            json!({"name": name, "kind": "llm", "url": model.url, "model": "scripted", "timeout_secs": timeout_secs}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Sends a message and reads the whole SSE answer: (event name, data) pairs.
async fn stream_chat(api: &Api, body: Value) -> Vec<(String, Value)> {
    let res = api
        .client
        .post(format!("{}/chat", api.base))
        .header("Accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    parse_sse(&res.text().await.unwrap())
}

fn parse_sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_string(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

async fn conversation(api: &Api, id: &Value) -> Value {
    let (status, c) = api.get(&format!("/conversations/{id}")).await;
    assert_eq!(status, 200, "{c}");
    c
}

#[tokio::test]
async fn replies_stream_token_by_token_and_are_kept() {
    let model = ScriptedModel::start(vec![
        Reply::Text(vec!["Hel", "lo, ", "**world**"]),
        Reply::Text(vec!["Again."]),
    ])
    .await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    llm_agent(&api, "m", &model, 30).await;

    let events = stream_chat(&api, json!({"message": "Say hello", "agent": "m"})).await;
    let tokens: Vec<&str> =
        events.iter().filter(|(n, _)| n == "token").map(|(_, d)| d["text"].as_str().unwrap()).collect();
    assert_eq!(tokens, ["Hel", "lo, ", "**world**"]);
    let (name, done) = events.last().unwrap();
    assert_eq!(name, "done", "{events:?}");
    let id = done["conversation_id"].clone();

    let c = conversation(&api, &id).await;
    assert_eq!(c["title"], "Say hello");
    assert_eq!(c["agent"], "m");
    let roles: Vec<&str> =
        c["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant"]);
    assert_eq!(c["messages"][1]["content"], "Hello, **world**");
    assert_eq!(c["messages"][1]["state"], "done");

    // JSON: the whole reply; upstream got the system prompt (with today's date) and the history.
    let (status, reply) = api.post("/chat", json!({"message": "Once more", "conversation_id": id})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!((reply["content"].as_str(), reply["state"].as_str()), (Some("Again."), Some("done")));
    let sent = &model.requests()[1];
    assert_eq!(sent["stream"], true);
    let roles: Vec<&str> =
        sent["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Europe/Berlin") && system.contains("Nothing is due today"), "{system}");
    assert!(sent["tools"].as_array().unwrap().iter().any(|t| t["function"]["name"] == "schedule_wakeup"));

    let (_, list) = api.get("/conversations?q=hello").await;
    assert_eq!(list["conversations"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(api.delete(&format!("/conversations/{id}")).await, 204);
    let (status, _) = api.get(&format!("/conversations/{id}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn upstream_failures_are_told_and_lose_nothing() {
    let cases = [
        (Reply::Status(500, "boom"), "500"),
        (Reply::Status(401, "bad key"), "401"),
        (Reply::Status(404, "model not found"), "404"),
        (Reply::ResetAfter(vec!["Partial ", "text"]), "broke off"),
        (Reply::Malformed(vec!["Partial ", "text"]), "malformed chunk"),
        (Reply::NoDone(vec!["Partial ", "text"]), "ended in the middle"),
        (Reply::SlowFirst(Duration::from_secs(3), vec!["late"]), "nothing for 1 s"),
    ];
    let model = ScriptedModel::start(cases.iter().map(|(r, _)| r.clone()).collect()).await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    llm_agent(&api, "m", &model, 1).await;
    for (reply, why) in &cases {
        let (status, r) = api.post("/chat", json!({"message": format!("try {why}"), "agent": "m"})).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["state"], "failed", "{reply:?}: {r}");
        let error = r["error"].as_str().unwrap();
        assert!(error.contains(why), "{reply:?}: {error}");
        let c = conversation(&api, &r["conversation_id"]).await;
        assert_eq!(c["messages"][0]["content"], format!("try {why}"), "the person's message is kept");
        if matches!(reply, Reply::ResetAfter(_) | Reply::Malformed(_) | Reply::NoDone(_)) {
            assert_eq!(c["messages"][1]["content"], "Partial text", "partial text is kept: {c}");
        }
        assert_eq!(c["messages"][1]["error"], error);
    }
    // Unreachable: the port is closed.
    let (status, _) = api
        .post("/agents", json!({"name": "gone", "kind": "llm", "url": "http://127.0.0.1:9/v1", "model": "x"}))
        .await;
    assert_eq!(status, 201);
    let (_, r) = api.post("/chat", json!({"message": "anyone?", "agent": "gone"})).await;
    assert!(r["error"].as_str().unwrap().contains("refused"), "{r}");
    // Retry (regenerate) replaces the failed reply.
    model.then(vec![Reply::Text(vec!["Fine now."])]);
    let (_, list) = api.get("/conversations?q=try%20500").await;
    let failed = list["conversations"][0]["id"].clone();
    let (status, r) = api.post(&format!("/conversations/{failed}/regenerate"), json!({})).await;
    assert_eq!((status, r["content"].as_str()), (200, Some("Fine now.")), "{r}");
    let c = conversation(&api, &failed).await;
    assert_eq!(c["messages"].as_array().unwrap().len(), 2, "{c}");
}

#[tokio::test]
async fn tools_run_in_a_loop_up_to_the_step_limit() {
    let model = ScriptedModel::start(vec![
        // Two calls, each split over chunks, interleaved by index.
        Reply::Tools(vec![
            (0, "call_a", "add_task", "{\"text\": \"Buy"),
            (1, "call_b", "list_tasks", ""),
            (0, "", "", " milk +home\"}"),
            (1, "", "", "{}"),
        ]),
        Reply::Text(vec!["Added it."]),
    ])
    .await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    llm_agent(&api, "m", &model, 30).await;

    let events = stream_chat(&api, json!({"message": "Remind me to buy milk", "agent": "m"})).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["message", "tool_call", "tool_result", "tool_call", "tool_result", "message", "token", "done"],
        "{events:?}"
    );
    let call = &events[1].1;
    assert_eq!(
        (call["name"].as_str(), call["arguments"].as_str()),
        (Some("add_task"), Some("{\"text\": \"Buy milk +home\"}"))
    );
    assert!(events[2].1["error"].is_null(), "{events:?}");

    let (_, tasks) = api.get("/tasks").await;
    let task = &tasks["tasks"][0];
    assert_eq!(
        (task["title"].as_str(), task["created_by"].as_str()),
        (Some("Buy milk"), Some("agent")),
        "{tasks}"
    );

    // The results went back to the model, answering each call by id.
    let sent = &model.requests()[1]["messages"];
    let tool_ids: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["tool_call_id"].as_str().unwrap())
        .collect();
    assert_eq!(tool_ids, ["call_a", "call_b"]);

    // A model that never stops calling tools is stopped at the limit.
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let settings = steward::chat::engine::ChatSettings { max_steps: 2, ..Default::default() };
    settings.save(&mut db.conn().unwrap()).unwrap();
    model.then(vec![Reply::Tools(vec![(0, "x", "list_tasks", "{}")])]);
    let (_, r) = api.post("/chat", json!({"message": "loop", "agent": "m"})).await;
    assert!(r["error"].as_str().unwrap().contains("Stopped after 2"), "{r}");
    // Bad arguments reach the model as an error result, not a crash.
    model.then(vec![Reply::Tools(vec![(0, "y", "complete_task", "{not json")]), Reply::Text(vec!["Sorry."])]);
    let events = stream_chat(&api, json!({"message": "break it", "agent": "m"})).await;
    let result = events.iter().find(|(n, _)| n == "tool_result").unwrap();
    assert!(result.1["error"].as_str().unwrap().contains("not valid JSON"), "{result:?}");
}

#[tokio::test]
async fn a_reply_outlives_its_client_and_can_be_stopped() {
    let pieces = vec!["one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight "];
    let model = ScriptedModel::start(vec![Reply::Slow(Duration::from_millis(60), pieces.clone())]).await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    llm_agent(&api, "m", &model, 30).await;

    // The client goes away after the first token; the reply is finished and kept anyway.
    let mut res = api
        .client
        .post(format!("{}/chat", api.base))
        .header("Accept", "text/event-stream")
        .json(&json!({"message": "count", "agent": "m"}))
        .send()
        .await
        .unwrap();
    res.chunk().await.unwrap().unwrap();
    drop(res);
    let (_, list) = api.get("/conversations").await;
    let cid = list["conversations"][0]["id"].clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = conversation(&api, &cid).await;
        if c["messages"][1]["state"] == "done" {
            assert_eq!(c["messages"][1]["content"], pieces.concat());
            assert_eq!(c["generating"], false);
            break;
        }
        assert!(Instant::now() < deadline, "{c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Stop: what was written stays, marked stopped; the stream still ends with `done`.
    let client = api.client.clone();
    let url = format!("{}/chat", api.base);
    let body = json!({"message": "count again", "conversation_id": cid});
    let streaming = tokio::spawn(async move {
        let res = client.post(url).header("Accept", "text/event-stream").json(&body).send().await.unwrap();
        parse_sse(&res.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // While a reply is being written, a second message to the conversation is refused, not mixed in.
    let (status, busy) = api.post("/chat", json!({"message": "and another", "conversation_id": cid})).await;
    assert_eq!(status, 422, "{busy}");
    assert!(busy["error"]["message"].as_str().unwrap().contains("still being written"), "{busy}");
    let (status, _) = api.post(&format!("/conversations/{cid}/stop"), json!({})).await;
    assert_eq!(status, 200);
    let events = streaming.await.unwrap();
    assert_eq!(events.last().unwrap().0, "done", "{events:?}");
    let c = conversation(&api, &cid).await;
    let stopped = &c["messages"][3];
    assert_eq!(stopped["state"], "stopped", "{c}");
    let text = stopped["content"].as_str().unwrap();
    assert!(!text.is_empty() && text.len() < pieces.concat().len(), "{text}");
    let (status, _) = api.post(&format!("/conversations/{cid}/stop"), json!({})).await;
    assert_eq!(status, 200, "stopping an idle conversation is harmless");
}

#[tokio::test]
async fn the_chat_page_shows_sanitised_replies_and_manages_conversations() {
    let hostile = "Here: <script>alert(1)</script> [click](javascript:alert(1)) <img src=x onerror=alert(2)> **bold** [docs](https://example.org)";
    let model = ScriptedModel::start(vec![Reply::Text(vec![hostile])]).await;
    let mut app = spawn_app().await;
    app.set_up().await;
    let html = app.get("/chat").await.text().await.unwrap();
    assert!(html.contains("No agent to talk to yet"), "{html}");

    let api = app.api(&app.api_token().await);
    llm_agent(&api, "m", &model, 30).await;
    let html = app.get("/chat").await.text().await.unwrap();
    assert!(html.contains("<option value=\"m\" selected>m</option>"), "{html}");

    // A first message opens the conversation; the reply is written by the server.
    let res = app.post_form("/chat", &[("agent", "m"), ("message", "Show me something")]).await;
    assert_eq!(res.status(), 303);
    let path = res.headers()["location"].to_str().unwrap().to_string();
    let id = path.rsplit('/').next().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let html = loop {
        let html = app.get(&path).await.text().await.unwrap();
        if html.contains("state-done") && !html.contains("data-stream") {
            break html;
        }
        assert!(Instant::now() < deadline, "{html}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(html.contains("<strong>bold</strong>"), "{html}");
    assert!(html.contains("href=\"https://example.org\"") && html.contains("noopener"), "{html}");
    let lower = html.to_lowercase();
    assert!(
        !lower.contains("<script>alert") && !lower.contains("javascript:alert") && !lower.contains("onerror"),
        "{html}"
    );
    assert!(html.contains("Regenerate"), "{html}");

    // Idle, the stream says done at once; htmx sending gets the messages with a live reply.
    let text = app.get(&format!("/chat/{id}/stream")).await.text().await.unwrap();
    assert!(text.contains("event: done"), "{text}");
    model.then(vec![Reply::Slow(Duration::from_millis(100), vec!["a", "b", "c", "d"])]);
    let res = app.post_htmx(&format!("/chat/{id}/messages"), &[("message", "More")]).await;
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"chat-messages\"") && html.contains("data-stream") && html.contains("chat-stop"),
        "{html}"
    );
    let text = app.get(&format!("/chat/{id}/stream")).await.text().await.unwrap();
    assert!(text.contains("event: snapshot") && text.contains("event: done"), "{text}");
    // An empty message is refused with a message, and nothing is stored.
    let res = app.post_htmx(&format!("/chat/{id}/messages"), &[("message", "  ")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Message is empty."));

    // Rename, search, delete.
    let res = app.post_form(&format!("/chat/{id}/rename"), &[("title", " ")]).await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text().await.unwrap().contains("<details class=\"chat-rename\" open>"),
        "the form stays open"
    );
    let res = app.post_form(&format!("/chat/{id}/rename"), &[("title", "Show-and-tell")]).await;
    assert_eq!(res.status(), 303);
    let html = app.get_htmx("/chat?q=show-and", "conversation-list").await.text().await.unwrap();
    assert!(html.contains("Show-and-tell") && !html.contains("<html"), "{html}");
    let html = app.get_htmx("/chat?q=nothing-like-it", "conversation-list").await.text().await.unwrap();
    assert!(html.contains("No conversations"), "{html}");
    let res = app.post_form(&format!("/chat/{id}/delete"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.get(&path).await.status(), 404);
}

#[tokio::test]
async fn destructive_tools_can_wait_for_the_persons_confirmation() {
    let mut app = spawn_app().await;
    app.set_up().await;
    let api = app.api(&app.api_token().await);
    let (_, s) = api.post("/schedules", json!({"prompt": "p", "agent": "notify", "every": "1h"})).await;
    let args: &'static str = Box::leak(format!("{{\"id\": {}}}", s["id"]).into_boxed_str());
    let model = ScriptedModel::start(vec![
        Reply::Tools(vec![(0, "c1", "cancel_schedule", args)]),
        Reply::Text(vec!["I need your confirmation."]),
    ])
    .await;
    llm_agent(&api, "m", &model, 30).await;
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let settings = steward::chat::engine::ChatSettings { confirm_destructive: true, ..Default::default() };
    settings.save(&mut db.conn().unwrap()).unwrap();

    let (_, r) = api.post("/chat", json!({"message": "cancel it", "agent": "m"})).await;
    assert_eq!(r["content"], "I need your confirmation.", "{r}");
    let (status, _) = api.get(&format!("/schedules/{}", s["id"])).await;
    assert_eq!(status, 200, "nothing was cancelled");
    let cid = &r["conversation_id"];
    let html = app.get(&format!("/chat/{cid}")).await.text().await.unwrap();
    assert!(
        html.contains("awaiting your confirmation") && html.contains("Confirm cancel_schedule"),
        "{html}"
    );
    let c = conversation(&api, cid).await;
    let held = c["messages"].as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap()["id"].clone();

    let res = app.post_htmx(&format!("/chat/{cid}/tools/{held}/confirm"), &[]).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("You confirmed cancel_schedule."));
    let (status, _) = api.get(&format!("/schedules/{}", s["id"])).await;
    assert_eq!(status, 404, "cancelled once confirmed");
    // Confirming twice does nothing more.
    let res = app.post_htmx(&format!("/chat/{cid}/tools/{held}/confirm"), &[]).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_wakeup_fires_back_into_its_conversation_with_its_context() {
    let model = ScriptedModel::start(vec![
        Reply::Tools(vec![(
            0,
            "w1",
            "schedule_wakeup",
            "{\"prompt\": \"Check the oven\", \"at\": \"in 1s\"}",
        )]),
        Reply::Text(vec!["I will check back."]),
        Reply::Text(vec!["The oven is fine."]),
    ])
    .await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    llm_agent(&api, "m", &model, 30).await;
    let (_, r) =
        api.post("/chat", json!({"message": "Remind yourself to check the oven", "agent": "m"})).await;
    assert_eq!(r["content"], "I will check back.", "{r}");
    let cid = r["conversation_id"].clone();

    let (_, list) = api.get("/schedules").await;
    let wake = &list["schedules"][0];
    assert_eq!((wake["created_by"].as_str(), wake["kind"].as_str()), (Some("agent"), Some("once")), "{list}");
    assert_eq!(wake["conversation_id"], cid, "{wake}");

    // It fires into the conversation: the prompt as a scheduled message, then the answer.
    let deadline = Instant::now() + Duration::from_secs(15);
    let c = loop {
        let c = conversation(&api, &cid).await;
        let last = c["messages"].as_array().unwrap().last().unwrap().clone();
        if last["content"] == "The oven is fine." && last["state"] == "done" {
            break c;
        }
        assert!(Instant::now() < deadline, "{c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let messages = c["messages"].as_array().unwrap();
    let woken = &messages[messages.len() - 2];
    assert_eq!((woken["role"].as_str(), woken["content"].as_str()), (Some("user"), Some("Check the oven")));
    assert!(woken["run_id"].is_i64(), "{woken}");
    // The model woke up with the conversation so far.
    let sent = model.requests()[2]["messages"].to_string();
    assert!(
        sent.contains("Remind yourself to check the oven") && sent.contains("I will check back."),
        "{sent}"
    );
    // The scheduler records the run on its next turn, a moment after the reply is stored.
    let deadline = Instant::now() + Duration::from_secs(10);
    let run = loop {
        let (_, run) = api.get(&format!("/runs/{}", woken["run_id"])).await;
        if run["state"] != "running" || Instant::now() > deadline {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (run["state"].as_str(), run["output"].as_str()),
        (Some("succeeded"), Some("The oven is fine.")),
        "{run}"
    );

    // A schedule for an llm agent without a conversation gets a thread of its own.
    model.then(vec![Reply::Text(vec!["Good morning!"])]);
    let at = (chrono::Utc::now() + chrono::Duration::milliseconds(300)).to_rfc3339();
    let (status, s) = api
        .post("/schedules", json!({"name": "Morning", "prompt": "Greet me", "agent": "m", "at": at}))
        .await;
    assert_eq!(status, 201, "{s}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, list) = api.get("/conversations?q=Morning").await;
        if let Some(thread) = list["conversations"].as_array().unwrap().first() {
            let c = conversation(&api, &thread["id"]).await;
            if c["messages"].as_array().unwrap().len() == 2 && c["messages"][1]["state"] == "done" {
                assert_eq!(c["messages"][0]["content"], "Greet me");
                assert_eq!(c["messages"][1]["content"], "Good morning!");
                break;
            }
        }
        assert!(Instant::now() < deadline, "no thread for the schedule");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tool_cards_say_what_changed_in_words_with_the_json_a_click_away() {
    let model = ScriptedModel::start(vec![
        Reply::Tools(vec![
            (0, "a", "add_task", "{\"text\": \"Buy milk tomorrow +home\"}"),
            (1, "b", "complete_task", "{\"id\": 999}"),
        ]),
        Reply::Text(vec!["Added it."]),
    ])
    .await;
    let mut app = spawn_app().await;
    app.set_up().await;
    let api = app.api(&app.api_token().await);
    llm_agent(&api, "m", &model, 30).await;
    let (_, r) = api.post("/chat", json!({"message": "Remind me to buy milk", "agent": "m"})).await;
    assert_eq!(r["content"], "Added it.", "{r}");
    let (_, tasks) = api.get("/tasks").await;
    let id = &tasks["tasks"][0]["id"];

    let html = app.get(&format!("/chat/{}", r["conversation_id"])).await.text().await.unwrap();
    // One line in words, linking to the task...
    let line = format!("Added <a href=\"/tasks#task-{id}\">Buy milk</a>, due tomorrow, +home");
    let at = html.find(&line).unwrap_or_else(|| panic!("no {line:?} in {html}"));
    // ... and the JSON (every field of the task) folded away under it.
    let details = html[at..].find("<details class=\"tool-json\">").expect("the JSON in a <details>") + at;
    let todotxt = html.find("todotxt").expect("the raw result is kept");
    assert!(todotxt > details, "the raw JSON is inside the details, not on the card");
    assert!(!html.contains("<details class=\"tool-json\" open"), "the JSON starts folded");
    // A failure is a sentence.
    assert!(html.contains("Could not complete task #999: "), "{html}");
}

#[tokio::test]
async fn the_page_stream_sends_the_reply_rendered_and_sanitised_as_it_grows() {
    let pieces = vec![
        "Here **bo",
        "ld** and ",
        "<scr",
        "ipt>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(2)>\n\n",
        "```rust\nfn main() {",
        "\n}\n```\n\n",
        "Done.",
    ];
    let model = ScriptedModel::start(vec![Reply::Slow(Duration::from_millis(250), pieces.clone())]).await;
    let mut app = spawn_app().await;
    app.set_up().await;
    let api = app.api(&app.api_token().await);
    llm_agent(&api, "m", &model, 30).await;
    let res = app.post_form("/chat", &[("agent", "m"), ("message", "Show me")]).await;
    let path = res.headers()["location"].to_str().unwrap().to_string();
    let events = parse_sse(&app.get(&format!("{path}/stream")).await.text().await.unwrap());

    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"snapshot"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    assert!(!names.contains(&"token"), "the page gets HTML, not tokens: {names:?}");
    let html: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "html" || n == "snapshot")
        .map(|(_, d)| d["html"].as_str().unwrap())
        .collect();
    assert!(html.len() >= 4, "rendered as it grows, not once at the end: {names:?}");

    // Each is exactly the final render of the text so far: the same sanitiser, no other.
    let prefixes: Vec<String> = (0..=pieces.len()).map(|k| pieces[..k].concat()).collect();
    for h in &html {
        assert!(
            prefixes.iter().any(|p| steward::chat::markdown::render(p) == *h),
            "not a render of the text so far: {h}"
        );
        let lower = h.to_lowercase();
        assert!(
            !lower.contains("<script") && !lower.contains("href=\"javascript") && !lower.contains("<img"),
            "{h}"
        );
    }
    // Mid-reply it is Markdown already: bold before the reply ends, an unclosed fence as code.
    assert!(html.iter().any(|h| h.contains("<strong>bold</strong>") && !h.contains("Done.")), "{html:?}");
    assert!(
        html.iter().any(|h| h.contains("<code class=\"language-rust\">fn main() {") && !h.contains('}')),
        "{html:?}"
    );
    assert!(html.last().unwrap().contains("Done."), "the end is sent too: {html:?}");
}
