//! Scheduled prompts end to end: real deliveries to a loopback receiver, retries, per-agent
//! concurrency, misfire policies across a restart, the command target, bad input (Letta: letta.rs).

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use steward::clock::FixedClock;

use crate::fakes::receiver::{Behaviour, Receiver};
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

async fn webhook_agent(api: &Api, name: &str, url: &str, concurrency: i32) {
    let (status, body) = api
        .post(
            "/agents",
            json!({"name": name, "kind": "webhook", "url": url, "secret": "s3cret", "concurrency": concurrency}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn webhook_delivery_is_signed_keyed_and_recorded() {
    let receiver = Receiver::start(Behaviour::default()).await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    webhook_agent(&api, "hook", &format!("{}/hook", receiver.url), 1).await;
    let (status, s) = api
        .post("/schedules", json!({"prompt": "Water the plants", "agent": "hook", "at": in_ms(300)}))
        .await;
    assert_eq!(status, 201, "{s}");
    assert!(s["id"].is_i64() && s["next_run"].is_string(), "{s}");
    assert_eq!(s["created_by"], "api");

    let got = receiver.wait_for(1, 10).await;
    let req = &got[0];
    let key = req.body["idempotency_key"].as_str().unwrap();
    assert_eq!(req.header("idempotency-key"), Some(key));
    assert_eq!(req.body["prompt"], "Water the plants");
    assert_eq!(req.body["schedule_id"], s["id"]);
    assert_eq!(req.body["attempt"], 1);
    assert_eq!(
        req.header("x-steward-signature").unwrap(),
        steward::agents::deliver::signature("s3cret", &req.raw)
    );

    let runs = poll(&api, "/runs", 10, |b| b["runs"][0]["state"] == "succeeded").await;
    let run = &runs["runs"][0];
    assert_eq!(run["idempotency_key"], key);
    assert_eq!(run["output"], "thanks");
    assert!(run["lateness_ms"].as_i64().unwrap() < 1000, "{run}");
    // A one-time schedule ends after firing.
    let (_, s) = api.get(&format!("/schedules/{}", s["id"])).await;
    assert_eq!(s["status"], "ended", "{s}");
    assert_eq!(s["last_run"]["state"], "succeeded");
    // Nothing else arrives: it fired exactly once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn failures_retry_with_backoff_then_pause_the_schedule() {
    let receiver = Receiver::start(Behaviour { fail_first: 2, ..Behaviour::default() }).await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    webhook_agent(&api, "flaky", &format!("{}/hook", receiver.url), 1).await;
    let (status, s) = api
        .post(
            "/schedules",
            json!({"prompt": "p", "agent": "flaky", "at": in_ms(100), "retry_base_secs": 1, "retry_attempts": 4}),
        )
        .await;
    assert_eq!(status, 201, "{s}");
    let runs = poll(&api, "/runs", 20, |b| b["runs"][0]["state"] == "succeeded").await;
    let id = runs["runs"][0]["id"].as_i64().unwrap();
    let (_, run) = api.get(&format!("/runs/{id}")).await;
    assert_eq!(run["attempt"], 3, "{run}");
    let attempts = run["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert!(attempts[0]["error"].as_str().unwrap().contains("503"), "{run}");
    assert!(attempts[2]["error"].is_null());
    // Backoff: about 1 s, then about 2 s (with up to 20 % jitter), never sooner.
    let got = receiver.received();
    let gap1 = got[1].at - got[0].at;
    let gap2 = got[2].at - got[1].at;
    assert!(gap1 >= Duration::from_millis(790) && gap1 < Duration::from_millis(1600), "{gap1:?}");
    assert!(gap2 >= Duration::from_millis(1590) && gap2 < Duration::from_millis(2800), "{gap2:?}");
    // Every attempt carried the same idempotency key.
    let keys: std::collections::HashSet<_> =
        got.iter().map(|r| r.header("idempotency-key").unwrap()).collect();
    assert_eq!(keys.len(), 1);
}

#[tokio::test]
async fn permanent_failures_fail_at_once_notify_and_pause_after_three() {
    let receiver = Receiver::start(Behaviour { status: Some(401), ..Behaviour::default() }).await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    webhook_agent(&api, "locked", &format!("{}/hook", receiver.url), 1).await;
    let (_, s) = api.post("/schedules", json!({"prompt": "p", "agent": "locked", "cron": "0 9 * * *"})).await;
    let id = s["id"].as_i64().unwrap();
    for n in 1..=3 {
        let (status, run) = api.post(&format!("/schedules/{id}/run"), json!({})).await;
        assert_eq!(status, 202, "{run}");
        poll(&api, &format!("/runs?schedule={id}&state=failed"), 10, |b| {
            b["runs"].as_array().unwrap().len() == n
        })
        .await;
    }
    let (_, runs) = api.get(&format!("/runs?schedule={id}")).await;
    for r in runs["runs"].as_array().unwrap() {
        assert_eq!(r["attempt"], 1, "a 401 is not retried: {r}");
        assert!(r["error"].as_str().unwrap().contains("API key"), "{r}");
    }
    let (_, s) = api.get(&format!("/schedules/{id}")).await;
    assert_eq!(s["status"], "paused", "{s}");
    assert!(s["note"].as_str().unwrap().contains("3 failed runs in a row"), "{s}");
    // The person was told about each failure and the pause.
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let list = steward::notifications::list(&mut db.conn().unwrap(), 50).unwrap();
    assert!(list.iter().any(|n| n.title.ends_with("paused") && n.level == "error"), "{list:?}");
    assert_eq!(list.iter().filter(|n| n.title.ends_with("failed")).count(), 3);
}

#[tokio::test]
async fn deliveries_respect_each_agents_concurrency() {
    let receiver =
        Receiver::start(Behaviour { delay: Duration::from_millis(250), ..Behaviour::default() }).await;
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    webhook_agent(&api, "one", &format!("{}/hook", receiver.url), 1).await;
    for _ in 0..4 {
        let (status, _) = api.post("/trigger", json!({"prompt": "p", "agent": "one"})).await;
        assert_eq!(status, 202);
    }
    receiver.wait_for(4, 10).await;
    assert_eq!(receiver.shared.max_in_flight.load(std::sync::atomic::Ordering::SeqCst), 1);

    let receiver2 =
        Receiver::start(Behaviour { delay: Duration::from_millis(250), ..Behaviour::default() }).await;
    webhook_agent(&api, "two", &format!("{}/hook", receiver2.url), 2).await;
    for _ in 0..6 {
        api.post("/trigger", json!({"prompt": "p", "agent": "two", "priority": "high"})).await;
    }
    receiver2.wait_for(6, 10).await;
    assert_eq!(receiver2.shared.max_in_flight.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn misfire_policies_after_downtime() {
    // Steward runs at 10:00, stops, and comes back at 10:10:30: ten firings of each
    // every-minute schedule were missed.
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
    let clock = FixedClock::new(t0);
    let app = spawn_app_at(&clock, |_| {}).await;
    let api = app.api(&app.api_token().await);
    let mut ids = std::collections::HashMap::new();
    for policy in ["once", "skip", "all"] {
        let (status, s) = api
            .post(
                "/schedules",
                json!({"prompt": policy, "agent": "notify", "every": "1m", "misfire": policy}),
            )
            .await;
        assert_eq!(status, 201, "{s}");
        assert_eq!(s["next_run"], "2026-11-20T10:01:00Z");
        ids.insert(policy, s["id"].as_i64().unwrap());
    }
    clock.set(t0 + chrono::Duration::seconds(630));
    let app = app.restart_at(&clock).await;
    let api = app.api(&app.api_token().await);
    let count = |policy: &str| format!("/runs?schedule={}&limit=500", ids[policy]);
    let all = poll(&api, &count("all"), 10, |b| b["runs"].as_array().unwrap().len() == 10).await;
    assert!(all["runs"].as_array().unwrap().iter().all(|r| r["trigger"] == "catch-up"));
    let once = poll(&api, &count("once"), 10, |b| b["runs"].as_array().unwrap().len() == 1).await;
    assert_eq!(once["runs"][0]["scheduled_for"], "2026-11-20T10:01:00.000Z");
    assert_eq!(once["runs"][0]["trigger"], "catch-up");
    let (_, skip) = api.get(&count("skip")).await;
    assert_eq!(skip["runs"].as_array().unwrap().len(), 0, "{skip}");
    for (policy, id) in &ids {
        let (_, s) = api.get(&format!("/schedules/{id}")).await;
        // Back on the grid, after now: never a flood.
        assert_eq!(s["next_run"], "2026-11-20T10:11:00Z", "{policy}: {s}");
        if *policy != "all" {
            assert!(
                s["note"].as_str().unwrap_or("").contains("Missed")
                    || s["note"].as_str().unwrap_or("").contains("Skipped"),
                "{s}"
            );
        }
    }
    // Nothing more arrives while the clock stands still.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, again) = api.get(&count("all")).await;
    assert_eq!(again["runs"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn llm_agents_answer_and_checks_say_what_is_wrong() {
    let llm = Receiver::start(Behaviour::default()).await;
    let app = spawn_app_with(|c| {
        c.llm_base_url = Some(format!("{}/v1", llm.url));
        c.llm_model = Some("tiny".into());
        c.llm_api_key = Some("sk-test".into());
    })
    .await;
    let api = app.api(&app.api_token().await);
    // The built-in default agent comes from STEWARD_LLM_*.
    let (_, check) = api.post("/agents/default/check", json!({})).await;
    assert_eq!(check["ok"], true, "{check}");
    let (status, _) = api.post("/trigger", json!({"prompt": "ping"})).await;
    assert_eq!(status, 202);
    let runs = poll(&api, "/runs?state=succeeded", 10, |b| !b["runs"].as_array().unwrap().is_empty()).await;
    assert_eq!(runs["runs"][0]["output"], "You said: ping");

    let checks = [
        (
            json!({"name": "wrongkey", "kind": "llm", "url": format!("{}/v1", llm.url), "model": "tiny", "api_key": "nope"}),
            "API key",
        ),
        (
            json!({"name": "wrongmodel", "kind": "llm", "url": format!("{}/v1", llm.url), "model": "huge", "api_key": "sk-test"}),
            "no model \"huge\"",
        ),
        (
            json!({"name": "refused", "kind": "llm", "url": "http://127.0.0.1:9/v1", "model": "x"}),
            "connection refused",
        ),
        (
            json!({"name": "nodns", "kind": "llm", "url": "http://no-such-host.invalid/v1", "model": "x"}),
            "DNS",
        ),
    ];
    for (agent, why) in checks {
        let name = agent["name"].as_str().unwrap().to_string();
        let (status, body) = api.post("/agents", agent).await;
        assert_eq!(status, 201, "{body}");
        let (_, check) = api.post(&format!("/agents/{name}/check"), json!({})).await;
        assert_eq!(check["ok"], false, "{check}");
        assert!(check["message"].as_str().unwrap().contains(why), "{name}: {check}");
    }
}

#[tokio::test]
async fn command_agents_get_the_prompt_on_stdin_and_report_failures() {
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    // A token may not set up an agent that runs programs.
    let (status, body) =
        api.post("/agents", json!({"name": "sh", "kind": "command", "argv": ["sh", "-c", "cat"]})).await;
    assert_eq!(status, 403, "{body}");

    let db = steward::db::Db::open(&app.db_path).unwrap();
    let add = |name: &str, argv: &[&str], timeout: Option<u64>| {
        let input = steward::agents::AgentInput {
            name: Some(name.into()),
            kind: Some("command".into()),
            concurrency: None,
            config: steward::agents::AgentConfigPatch {
                argv: Some(argv.iter().map(|s| s.to_string()).collect()),
                timeout_secs: timeout,
                ..Default::default()
            },
        };
        steward::agents::add(&mut db.conn().unwrap(), Utc::now(), input, steward::services::Actor::Person)
            .unwrap();
    };
    add("echo", &["sh", "-c", "cat; printf ' %s' \"$STEWARD_IDEMPOTENCY_KEY\""], None);
    add("broken", &["sh", "-c", "echo oops >&2; exit 3"], None);
    add("slow", &["sleep", "5"], Some(1));
    for agent in ["echo", "broken", "slow"] {
        let (status, _) = api
            .post(
                "/schedules",
                json!({"prompt": "hello", "agent": agent, "at": in_ms(100), "retry_attempts": 1}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let runs = poll(&api, "/runs", 15, |b| {
        b["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["state"] == "succeeded" || r["state"] == "failed")
            .count()
            == 3
    })
    .await;
    let by_agent =
        |a: &str| runs["runs"].as_array().unwrap().iter().find(|r| r["agent"] == a).unwrap().clone();
    let echo = by_agent("echo");
    assert_eq!(echo["output"], format!("hello {}", echo["idempotency_key"].as_str().unwrap()));
    assert!(by_agent("broken")["error"].as_str().unwrap().contains("exit code 3: oops"));
    assert!(by_agent("slow")["error"].as_str().unwrap().contains("timed out after 1 s"));
}

#[tokio::test]
async fn bad_schedules_name_the_field_and_create_nothing() {
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    let cases = [
        (json!({"prompt": "p", "agent": "notify", "cron": "61 * * * *"}), "cron"),
        (json!({"prompt": "p", "agent": "notify", "cron": "0 9 * *"}), "cron"),
        (json!({"prompt": "p", "agent": "notify", "cron": "0 9 * * *", "tz": "Mars/Olympus"}), "tz"),
        (json!({"prompt": "p", "agent": "notify", "at": "2020-01-01T00:00:00Z"}), "at"),
        (json!({"prompt": "p", "agent": "notify", "every": "10s"}), "every"),
        (json!({"prompt": "p", "agent": "notify", "every": "5 parsecs"}), "every"),
        (json!({"prompt": "p", "agent": "nobody", "every": "5m"}), "agent"),
        (json!({"prompt": "p", "agent": "notify", "every": "5m", "cron": "@daily"}), "cron"),
        (json!({"prompt": "p", "agent": "notify"}), "at"),
        (json!({"agent": "notify", "every": "5m"}), "prompt"),
        (json!({"prompt": "p", "agent": "notify", "every": "5m", "priority": "urgent"}), "priority"),
        (json!({"prompt": "p", "agent": "notify", "every": "5m", "misfire": "maybe"}), "misfire"),
        (json!({"prompt": "p", "agent": "notify", "every": "5m", "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        let (status, err) = api.post("/schedules", body.clone()).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["error"]["code"], "invalid");
        let message = err["error"]["message"].as_str().unwrap();
        // The field's name is in `field`; the message is a sentence for a person.
        let named = err["error"]["field"] == field || message.to_lowercase().contains(field);
        assert!(named && message.ends_with(['.', '?']), "{body}: {err}");
    }
    let (_, list) = api.get("/schedules?all=true").await;
    assert_eq!(list["schedules"].as_array().unwrap().len(), 0, "nothing half-created: {list}");
    let (status, _) = api.get("/schedules/999").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn schedule_lifecycle_over_the_api() {
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    let (_, s) = api
        .post("/schedules", json!({"prompt": "Standup notes", "agent": "notify", "cron": "0 9 * * 1-5", "tz": "Europe/Madrid"}))
        .await;
    let id = s["id"].as_i64().unwrap();
    assert_eq!(s["description"], "Every weekday at 09:00, Europe/Madrid");
    let (_, s) = api.patch(&format!("/schedules/{id}"), json!({"active": false})).await;
    assert_eq!(s["status"], "paused");
    let (_, s) = api.patch(&format!("/schedules/{id}"), json!({"active": true, "cron": "30 7 * * *"})).await;
    assert_eq!((s["status"].as_str(), s["cron"].as_str()), (Some("active"), Some("30 7 * * *")), "{s}");
    let (_, up) = api.get("/schedules/upcoming?limit=5").await;
    assert_eq!(up["schedules"][0]["id"], id);
    let (_, status) = api.get("/status").await;
    assert_eq!(status["active_schedules"], 1);
    assert!(status["next_wake"].is_string(), "{status}");
    assert_eq!(api.delete(&format!("/schedules/{id}")).await, 204);
    let (code, _) = api.get(&format!("/schedules/{id}")).await;
    assert_eq!(code, 404);
    // Removing an agent that schedules use is refused; unused, it goes.
    webhook_agent(&api, "h", "http://127.0.0.1:9/hook", 1).await;
    api.post("/schedules", json!({"prompt": "p", "agent": "h", "cron": "@daily"})).await;
    assert_eq!(api.delete("/agents/h").await, 422);
}

#[tokio::test]
async fn updates_change_only_what_they_say() {
    let clock = FixedClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap());
    let app = spawn_app_at(&clock, |_| {}).await;
    let api = app.api(&app.api_token().await);
    let body =
        json!({"prompt": "Stretch", "agent": "notify", "every": "2h", "until": "2026-12-31", "count": 5});
    let (status, s) = api.post("/schedules", body).await;
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_i64().unwrap();
    let path = format!("/schedules/{id}");
    assert_eq!(s["next_run"], "2026-03-02T10:00:00Z");

    // Echoing what was read back, 45 minutes later, changes nothing: the interval keeps its phase.
    clock.set(Utc.with_ymd_and_hms(2026, 3, 2, 8, 45, 0).unwrap());
    let echo = json!({"every": s["every"], "tz": s["tz"], "until": s["until"], "count": s["count"], "name": "Stretch!"});
    let (status, e) = api.patch(&path, echo).await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(
        (e["next_run"].as_str(), e["name"].as_str()),
        (Some("2026-03-02T10:00:00Z"), Some("Stretch!"))
    );
    // A new end keeps the timetable too; `null` clears an end.
    let (_, e) = api.patch(&path, json!({"count": 9, "until": null})).await;
    assert_eq!((e["count"].as_i64(), e["until"].as_str()), (Some(9), None), "{e}");
    assert_eq!(e["next_run"], "2026-03-02T10:00:00Z");
    let (_, e) = api.patch(&path, json!({"count": null})).await;
    assert!(e["count"].is_null(), "{e}");
    let (status, err) = api.patch(&path, json!({"count": 0})).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "count", "{err}");
    // A new interval counts from now.
    let (_, e) = api.patch(&path, json!({"every": "1h"})).await;
    assert_eq!(e["next_run"], "2026-03-02T09:45:00Z");

    // A one-time schedule whose time has passed (paused, so it did not fire) can still be
    // renamed when a client sends its `at` back unchanged; a new past time is refused.
    let (_, once) = api
        .post(
            "/schedules",
            json!({"prompt": "Call", "agent": "notify", "at": "2026-03-02T09:00:00.250Z", "active": false}),
        )
        .await;
    assert_eq!(once["at"], "2026-03-02T09:00:00.250Z", "milliseconds are kept: {once}");
    clock.set(Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap());
    let once_path = format!("/schedules/{}", once["id"]);
    let (status, e) = api.patch(&once_path, json!({"at": once["at"], "name": "Call Ana"})).await;
    assert_eq!((status, e["name"].as_str()), (200, Some("Call Ana")), "{e}");
    let (status, err) = api.patch(&once_path, json!({"at": "2026-03-02T09:30:00Z"})).await;
    assert_eq!(status, 422, "{err}");

    // Agent names that a path would resolve away are refused.
    for name in [".", ".."] {
        let (status, err) =
            api.post("/agents", json!({"name": name, "kind": "webhook", "url": "http://127.0.0.1:9/"})).await;
        assert_eq!(status, 422, "{name}: {err}");
    }
}

#[tokio::test]
async fn the_active_schedule_guard_counts_each_schedule_once() {
    let app = spawn_app().await;
    let db = steward::db::Db::open(&app.db_path).unwrap();
    steward::schedules::Guards { max_active: 2, min_interval_secs: 60, pause_after_failures: 3 }
        .save(&mut db.conn().unwrap())
        .unwrap();
    let api = app.api(&app.api_token().await);
    let make = |active: bool| json!({"prompt": "p", "agent": "notify", "every": "1h", "active": active});
    let (_, first) = api.post("/schedules", make(true)).await;
    api.post("/schedules", make(true)).await;
    let (_, paused) = api.post("/schedules", make(false)).await;
    let (status, err) = api.post("/schedules", make(true)).await;
    assert_eq!(status, 422, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("2 active schedules"), "{err}");
    // Editing an active schedule does not count it twice; resuming a third is refused.
    let (status, e) = api.patch(&format!("/schedules/{}", first["id"]), json!({"every": "2h"})).await;
    assert_eq!(status, 200, "{e}");
    let (status, err) = api.patch(&format!("/schedules/{}", paused["id"]), json!({"active": true})).await;
    assert_eq!(status, 422, "{err}");
}
