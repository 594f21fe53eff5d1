//! Letta agents: against the loopback stand-in (which answers as the real server does) for the
//! fast checks, and against a real Letta 0.11.7 server on loopback, whose model is the scripted
//! OpenAI-compatible server, for exactly-once delivery, failures and listing end to end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use crate::fakes::openai::{Reply, ScriptedModel};
use crate::fakes::receiver::{ADA, BO, Behaviour, Receiver};
use crate::helpers::*;

/// Polls `GET path` until `done` holds (panics after `secs`).
async fn poll(api: &Api, path: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "gave up waiting on {path}: {body:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn in_ms(ms: i64) -> String {
    (Utc::now() + chrono::Duration::milliseconds(ms)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The one run of schedule `id`, once it has ended (succeeded or failed).
async fn ended_run(api: &Api, id: &Value, secs: u64) -> Value {
    let runs = poll(api, &format!("/runs?schedule={id}"), secs, |b| {
        b["runs"].as_array().unwrap().iter().any(|r| r["state"] == "succeeded" || r["state"] == "failed")
    })
    .await;
    runs["runs"][0].clone()
}

/// Schedules `prompt` to `agent` once (in an hour) and runs it now; returns the schedule's id.
/// (A time a moment away could pass before the request arrives on a busy machine.)
async fn once(api: &Api, agent: &str, prompt: &str, extra: Value) -> Value {
    let mut body = json!({"prompt": prompt, "agent": agent, "at": in_ms(3_600_000), "skip_validation": true});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, s) = api.post("/schedules", body).await;
    assert_eq!(status, 201, "{s}");
    let (status, run) = api.post(&format!("/schedules/{}/run", s["id"]), json!({})).await;
    assert_eq!(status, 202, "{run}");
    s["id"].clone()
}

/// Stores an agent as it is, without asking its server (one set up before ids were checked,
/// or whose Letta agent was deleted since).
pub fn store_agent(app: &TestApp, name: &str, url: &str, agent_id: &str, timeout_secs: u64) {
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let input = steward::agents::AgentInput {
        name: Some(name.into()),
        kind: Some("letta".into()),
        concurrency: None,
        config: steward::agents::AgentConfigPatch {
            url: Some(url.into()),
            agent_id: Some(agent_id.into()),
            timeout_secs: Some(timeout_secs),
            ..Default::default()
        },
    };
    steward::agents::add(&mut db.conn().unwrap(), Utc::now(), input, steward::services::Actor::Person)
        .unwrap();
}

#[tokio::test]
async fn letta_agents_are_found_by_name_checked_listed_and_messaged() {
    let letta = Receiver::start(Behaviour { letta_spare_agents: 130, ..Behaviour::default() }).await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    // A name is looked up and stored as the id; a trailing /v1 is dropped.
    let (status, body) = api
        .post(
            "/agents",
            json!({"name": "ada", "kind": "letta", "url": format!("{}/v1/", letta.url), "api_key": "pw", "agent_id": "Ada"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["agent_id"], ADA);
    assert_eq!(body["url"], letta.url);
    assert_eq!(body["has_api_key"], true);
    assert!(body.get("api_key").is_none(), "secrets are never shown back: {body}");
    // An id or name the server does not know is refused, naming the agents it has.
    for wrong in ["Zed", "agent-9", "agent-33333333-3333-4333-8333-333333333333"] {
        let (status, err) = api
            .post("/agents", json!({"name": "ghost", "kind": "letta", "url": letta.url, "agent_id": wrong}))
            .await;
        assert_eq!(status, 422, "{wrong}: {err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert_eq!(err["error"]["field"], "agent_id", "{err}");
        assert!(message.contains(&format!("Bo ({BO})")), "{wrong}: {message}");
    }
    let (_, check) = api.post("/agents/ada/check", json!({})).await;
    assert_eq!(check["ok"], true, "{check}");

    // A schedule made for an agent the server no longer has is refused, unless told not to.
    store_agent(&app, "ghost", &letta.url, "agent-33333333-3333-4333-8333-333333333333", 10);
    let (status, err) =
        api.post("/schedules", json!({"prompt": "hi", "agent": "ghost", "cron": "@daily"})).await;
    assert_eq!(status, 422, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("has no agent \"agent-3333"), "{err}");

    let id = once(&api, "ada", "Say hello", json!({})).await;
    let run = ended_run(&api, &id, 10).await;
    assert_eq!(run["output"], "Hello from Letta", "{run}");
    let sent =
        letta.received().into_iter().find(|r| r.path.ends_with("/messages") && !r.raw.is_empty()).unwrap();
    assert_eq!(sent.path, format!("/v1/agents/{ADA}/messages"));
    assert_eq!(sent.header("authorization"), Some("Bearer pw"));
    assert_eq!(sent.body["messages"][0]["role"], "user");
    assert_eq!(sent.body["messages"][0]["content"], "Say hello");
    assert_eq!(sent.body["messages"][0]["otid"], run["idempotency_key"]);

    // `steward agents --letta ada` lists every agent, past Letta's page size.
    let out = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--db")
        .arg(&app.db_path)
        .args(["agents", "--letta", "ada"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("{ADA}  Ada")) && text.contains("spare-129"), "{text}");
    assert_eq!(text.lines().count(), 132, "{text}");
}

#[tokio::test]
async fn a_letta_retry_after_a_timeout_takes_the_answer_instead_of_sending_again() {
    let letta = Receiver::start(Behaviour {
        letta_slow_first: 1,
        letta_delay: Duration::from_millis(2500),
        ..Behaviour::default()
    })
    .await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    store_agent(&app, "ada", &letta.url, ADA, 1);
    let id = once(&api, "ada", "Only once, please", json!({"retry_base_secs": 1, "retry_attempts": 6})).await;
    let run = ended_run(&api, &id, 20).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["output"], "Hello from Letta", "{run}");
    assert!(run["attempt"].as_i64().unwrap() >= 2, "the first attempt timed out: {run}");
    // Whatever Letta is still working on is stored when it ends.
    while !letta.shared.letta.lock().unwrap().active.is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = letta.letta_user_messages(ADA);
    assert_eq!(stored.len(), 1, "Letta got the message once: {stored:?}");
    assert_eq!(stored[0].1, run["idempotency_key"].as_str().unwrap());
    let posts =
        letta.received().iter().filter(|r| r.path.ends_with("/messages") && !r.raw.is_empty()).count();
    assert_eq!(posts, 1, "the retry looked and did not send again");
    // The schedule's conversation shows the prompt once too, answered.
    let (_, list) = api.get("/conversations").await;
    let (_, c) = api.get(&format!("/conversations/{}", list["conversations"][0]["id"])).await;
    let shown: Vec<(&str, &str)> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(shown, [("user", "Only once, please"), ("assistant", "Hello from Letta")], "{c}");
}

#[tokio::test]
async fn letta_failures_that_cannot_pass_fail_at_once_and_say_what_came_back() {
    let letta = Receiver::start(Behaviour::default()).await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    let retrying = json!({"retry_base_secs": 1, "retry_attempts": 3});

    // No such agent (deleted on the server since): fails at the first attempt.
    store_agent(&app, "gone", &letta.url, "agent-33333333-3333-4333-8333-333333333333", 10);
    let run = ended_run(&api, &once(&api, "gone", "hi", retrying.clone()).await, 10).await;
    assert_eq!((run["state"].as_str(), run["attempt"].as_i64()), (Some("failed"), Some(1)), "{run}");
    assert!(run["error"].as_str().unwrap().contains("has no agent \"agent-3333"), "{run}");

    // A wrong route (a path after the server's address) is told apart from a missing agent.
    store_agent(&app, "routed", &format!("{}/api", letta.url), ADA, 10);
    let run = ended_run(&api, &once(&api, "routed", "hi", retrying.clone()).await, 10).await;
    assert_eq!((run["state"].as_str(), run["attempt"].as_i64()), (Some("failed"), Some(1)), "{run}");
    assert!(run["error"].as_str().unwrap().contains("no such route"), "{run}");

    // Tool calls and no assistant message: not a silent success, and not sent again.
    letta.shared.behaviour_mut(|b| b.letta_tools_only = true);
    store_agent(&app, "quiet", &letta.url, BO, 10);
    let run = ended_run(&api, &once(&api, "quiet", "hi", retrying.clone()).await, 10).await;
    assert_eq!((run["state"].as_str(), run["attempt"].as_i64()), (Some("failed"), Some(1)), "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(error.contains("archival_memory_insert") && error.contains("max_steps"), "{error}");

    // A server error (Letta 0.16.8's body) shows its detail.
    letta.shared.behaviour_mut(|b| b.letta_error = Some(500));
    let run = ended_run(&api, &once(&api, "quiet", "hi", json!({"retry_attempts": 1})).await, 10).await;
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("An error occurred with the LLM request.")
            && error.contains("Failed to connect to OpenAI: Connection error."),
        "{error}"
    );
}

#[tokio::test]
async fn refusals_fail_at_once_whichever_path_the_run_takes() {
    let model = ScriptedModel::start(vec![Reply::Status(401, "Incorrect API key provided")]).await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    let (status, body) =
        api.post("/agents", json!({"name": "m", "kind": "llm", "url": model.url, "model": "scripted"})).await;
    assert_eq!(status, 201, "{body}");
    // A schedule's run is a turn of its conversation (the chat engine)...
    let run = ended_run(&api, &once(&api, "m", "hi", json!({"retry_base_secs": 1})).await, 10).await;
    assert_eq!((run["state"].as_str(), run["attempt"].as_i64()), (Some("failed"), Some(1)), "{run}");
    assert!(run["error"].as_str().unwrap().contains("API key"), "{run}");
    // ...and a trigger is delivered directly: the same failure, the same verdict.
    let (status, t) = api.post("/trigger", json!({"prompt": "ping", "agent": "m"})).await;
    assert_eq!(status, 202, "{t}");
    let runs = poll(&api, "/runs?state=failed", 10, |b| b["runs"].as_array().unwrap().len() == 2).await;
    for run in runs["runs"].as_array().unwrap() {
        assert_eq!(run["attempt"], 1, "{run}");
    }
}

#[tokio::test]
async fn one_letta_agent_takes_one_message_at_a_time_whoever_sends_it() {
    let letta = Receiver::start(Behaviour {
        letta_slow_first: 3,
        letta_delay: Duration::from_millis(300),
        ..Behaviour::default()
    })
    .await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    // Two Steward agents for the same Letta agent (one with a trailing /v1), and a chat.
    store_agent(&app, "one", &letta.url, ADA, 10);
    store_agent(&app, "two", &format!("{}/v1", letta.url), ADA, 10);
    let a = once(&api, "one", "first", json!({})).await;
    let b = once(&api, "two", "second", json!({})).await;
    let (status, chat) = api.post("/chat", json!({"message": "third", "agent": "one"})).await;
    assert_eq!(status, 200, "{chat}");
    assert_eq!(chat["content"], "Hello from Letta");
    for id in [a, b] {
        assert_eq!(ended_run(&api, &id, 10).await["state"], "succeeded");
    }
    assert_eq!(letta.letta_user_messages(ADA).len(), 3);
    assert_eq!(letta.shared.letta_max_at_once.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_letta_conversation_asks_again_and_stop_keeps_the_answer() {
    let letta = Receiver::start(Behaviour {
        letta_slow_first: 1,
        letta_delay: Duration::from_millis(800),
        ..Behaviour::default()
    })
    .await;
    let mut app = logged_in_app().await;
    store_agent(&app, "ada", &letta.url, ADA, 10);
    let api = app.api(&app.api_token().await);

    // Stop while Letta works: it still finishes, and its answer is shown.
    let client = api.client.clone();
    let url = format!("{}/chat", api.base);
    let sending = tokio::spawn(async move {
        client.post(url).json(&json!({"message": "Hello?", "agent": "ada"})).send().await.unwrap()
    });
    let list = poll(&api, "/conversations", 5, |b| !b["conversations"].as_array().unwrap().is_empty()).await;
    let cid = list["conversations"][0]["id"].clone();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = api.post(&format!("/conversations/{cid}/stop"), json!({})).await;
    assert_eq!(status, 200);
    let (_, answer) = read(sending.await.unwrap()).await;
    assert_eq!(answer["content"], "Hello from Letta", "{answer}");
    assert_eq!(answer["state"], "done", "{answer}");
    let (_, c) = api.get(&format!("/conversations/{cid}")).await;
    let notice = c["messages"].as_array().unwrap().iter().find(|m| m["role"] == "notice").unwrap();
    assert!(notice["content"].as_str().unwrap().contains("keeps its answer"), "{c}");

    // The page offers "Ask again", which says it is a new turn.
    app.refresh_csrf().await;
    let html = app.get(&format!("/chat/{cid}")).await.text().await.unwrap();
    assert!(html.contains(">Ask again</button>") && html.contains("as a new turn"), "{html}");
    assert!(!html.contains(">Regenerate</button>"), "{html}");
    let res = app.post_form(&format!("/chat/{cid}/regenerate"), &[]).await;
    assert_eq!(res.status(), 303);
    poll(&api, &format!("/conversations/{cid}"), 10, |c| {
        c["generating"] == false && c["messages"].as_array().unwrap().len() >= 5
    })
    .await;
    // Letta got the message twice, as two turns with two otids; Steward shows both.
    let stored = letta.letta_user_messages(ADA);
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_ne!(stored[0].1, stored[1].1);
    let (_, c) = api.get(&format!("/conversations/{cid}")).await;
    let users = c["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "user").count();
    assert_eq!(users, 2, "{c}");
}

// --- A real Letta server -------------------------------------------------------------------

/// Where the Letta 0.11.7 virtual environment is: `STEWARD_LETTA_VENV`, or the path `.ci/run`
/// installs it to.
fn letta_venv() -> Option<PathBuf> {
    let dir = std::env::var_os("STEWARD_LETTA_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/letta-venv")))?;
    dir.join("bin/letta").is_file().then_some(dir)
}

/// The Letta server process, stopped when dropped.
struct LettaServer {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for LettaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LettaServer {
    /// `letta server` on a free loopback port, with SQLite in `dir` and its OpenAI provider
    /// pointed at `model`; waits until it is healthy.
    async fn start(venv: &Path, dir: &Path, model: &str) -> LettaServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join("letta.log");
        let out = std::fs::File::create(&log).unwrap();
        // At a lower priority: its minute of start-up (Python imports) should not starve the
        // timing-sensitive tests running beside it. `nice` execs the server (one process).
        let mut cmd = Command::new("nice");
        cmd.args(["-n", "10"])
            .arg(venv.join("bin/letta"))
            .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(dir)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", venv.join("bin").display()))
            .env("HOME", dir)
            .env("LETTA_DIR", dir.join(".letta"))
            .env("OPENAI_API_KEY", "sk-scripted")
            .env("OPENAI_BASE_URL", model)
            .env("LETTA_ENABLE_DB_POOL_MONITORING", "false")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let server =
            LettaServer { child: cmd.spawn().unwrap(), url: format!("http://127.0.0.1:{port}"), log };
        let deadline = Instant::now() + Duration::from_secs(180);
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{}/v1/health/", server.url)).send().await
                && r.status().is_success()
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "Letta did not become healthy in 180 s:\n{}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Creates an agent whose model is the scripted server; returns its id.
    async fn agent(&self, name: &str, model: &str) -> String {
        let body = json!({
            "name": name,
            "llm_config": {"model": "scripted", "model_endpoint_type": "openai", "model_endpoint": model, "context_window": 30000},
            "embedding": "letta/letta-free",
        });
        let res =
            reqwest::Client::new().post(format!("{}/v1/agents/", self.url)).json(&body).send().await.unwrap();
        let status = res.status();
        let created: Value = res.json().await.unwrap();
        assert!(status.is_success(), "{created}");
        created["id"].as_str().unwrap().to_string()
    }

    /// The user messages the agent stored with this `otid`.
    async fn stored_with(&self, agent: &str, otid: &str) -> usize {
        let url = format!("{}/v1/agents/{agent}/messages?limit=200", self.url);
        let list: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .filter(|m| m["message_type"] == "user_message" && m["otid"] == otid)
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_letta_server_gets_each_prompt_exactly_once() {
    let Some(venv) = letta_venv() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install Letta 0.11.7 (see .ci/run)");
        eprintln!(
            "skipping: Letta 0.11.7 is not installed (set STEWARD_LETTA_VENV, or run .ci/run, which installs it \
             to ~/.local/share/letta-venv)"
        );
        return;
    };
    let began = Instant::now();
    let model = ScriptedModel::start(vec![Reply::LettaSay(Duration::ZERO, "Hello from real Letta")]).await;
    let dir = tempfile::tempdir().unwrap();
    let letta = LettaServer::start(&venv, dir.path(), &model.url).await;
    eprintln!("Letta 0.11.7 became healthy in {:.1} s", began.elapsed().as_secs_f64());
    let ada = letta.agent("ada", &model.url).await;
    let doomed = letta.agent("doomed", &model.url).await;

    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    // Added by name, with the /v1 an llm agent would need: stored as the id and the server.
    let (status, body) = api
        .post(
            "/agents",
            json!({"name": "ada", "kind": "letta", "url": format!("{}/v1", letta.url), "agent_id": "ada"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["agent_id"], ada.as_str());
    let (_, check) = api.post("/agents/ada/check", json!({})).await;
    assert_eq!(check["ok"], true, "{check}");
    let (status, err) = api
        .post("/agents", json!({"name": "x", "kind": "letta", "url": letta.url, "agent_id": "nobody"}))
        .await;
    assert_eq!(status, 422, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains(&format!("ada ({ada})")), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--db")
        .arg(&app.db_path)
        .args(["agents", "--letta", "ada"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{ada}  ada")) && text.contains(&format!("{doomed}  doomed")), "{text}");

    // A one-time prompt: delivered, and the answer is the run's output.
    let run = ended_run(&api, &once(&api, "ada", "Say hello", json!({})).await, 60).await;
    assert_eq!(run["output"], "Hello from real Letta", "{run}");
    assert_eq!(letta.stored_with(&ada, run["idempotency_key"].as_str().unwrap()).await, 1);

    // The model is slow and the agent's timeout short: the first attempt gives up, Letta goes
    // on, and the retry takes its answer instead of sending the message a second time.
    model.then(vec![Reply::LettaSay(Duration::from_secs(3), "Late, but once")]);
    let (status, _) = api.patch("/agents/ada", json!({"timeout_secs": 1})).await;
    assert_eq!(status, 200);
    let id = once(&api, "ada", "Take your time", json!({"retry_base_secs": 1, "retry_attempts": 8})).await;
    let run = ended_run(&api, &id, 60).await;
    assert_eq!(
        (run["state"].as_str(), run["output"].as_str()),
        (Some("succeeded"), Some("Late, but once")),
        "{run}"
    );
    assert!(run["attempt"].as_i64().unwrap() >= 2, "{run}");
    assert_eq!(
        letta.stored_with(&ada, run["idempotency_key"].as_str().unwrap()).await,
        1,
        "one user message in Letta"
    );
    let (status, _) = api.patch("/agents/ada", json!({"timeout_secs": 60})).await;
    assert_eq!(status, 200);

    // A Letta-side error shows Letta's own words, and a 400 is not retried.
    model.then(vec![Reply::Plain("words, but no tool call")]);
    let run = ended_run(&api, &once(&api, "ada", "Fail", json!({"retry_base_secs": 1})).await, 60).await;
    assert_eq!((run["state"].as_str(), run["attempt"].as_i64()), (Some("failed"), Some(1)), "{run}");
    assert!(run["error"].as_str().unwrap().contains("No tool calls found in response"), "{run}");

    // An agent deleted on the server: 404, failed at once from a schedule.
    model.then(vec![Reply::LettaSay(Duration::ZERO, "Hello from real Letta")]);
    let (status, body) = api
        .post("/agents", json!({"name": "doomed", "kind": "letta", "url": letta.url, "agent_id": doomed}))
        .await;
    assert_eq!(status, 201, "{body}");
    let gone =
        reqwest::Client::new().delete(format!("{}/v1/agents/{doomed}", letta.url)).send().await.unwrap();
    assert!(gone.status().is_success());
    let run = ended_run(&api, &once(&api, "doomed", "hi", json!({"retry_base_secs": 1})).await, 60).await;
    assert_eq!((run["state"].as_str(), run["attempt"].as_i64()), (Some("failed"), Some(1)), "{run}");
    assert!(run["error"].as_str().unwrap().contains("has no agent"), "{run}");
    eprintln!("the real Letta test took {:.1} s", began.elapsed().as_secs_f64());
}

#[tokio::test]
async fn stop_before_letta_has_the_message_stops_it() {
    let letta = Receiver::start(Behaviour {
        letta_slow_first: 1,
        letta_delay: Duration::from_millis(1500),
        ..Behaviour::default()
    })
    .await;
    let app = spawn_app().await;
    store_agent(&app, "ada", &letta.url, ADA, 10);
    store_agent(&app, "also-ada", &letta.url, ADA, 10);
    let api = app.api(&app.api_token().await);
    let send = |message: &'static str, agent: &'static str| {
        let (client, url) = (api.client.clone(), format!("{}/chat", api.base));
        tokio::spawn(async move {
            let res =
                client.post(url).json(&json!({"message": message, "agent": agent})).send().await.unwrap();
            res.json::<Value>().await.unwrap()
        })
    };
    let first = send("first", "ada");
    poll(&api, "/conversations", 5, |b| b["conversations"].as_array().unwrap().len() == 1).await;
    // The second waits for Letta to finish the first: stopping it then sends nothing.
    let second = send("second", "also-ada");
    let list = poll(&api, "/conversations", 5, |b| b["conversations"].as_array().unwrap().len() == 2).await;
    let waiting = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["agent"] == "also-ada")
        .map(|c| c["id"].clone())
        .unwrap();
    let (status, _) = api.post(&format!("/conversations/{waiting}/stop"), json!({})).await;
    assert_eq!(status, 200);
    let stopped = second.await.unwrap();
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert_eq!(first.await.unwrap()["content"], "Hello from Letta");
    let stored = letta.letta_user_messages(ADA);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].0, "first");
}
