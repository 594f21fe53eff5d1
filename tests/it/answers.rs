//! A scheduled prompt's answer sent to the channels chosen for it (issue 14, "the answer to my
//! 08:00 prompt comes to my phone"): set from the API, the form and the CLI, checked by name,
//! and delivered to exactly those channels, as ntfy stand-ins on loopback see it.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::helpers::*;

const ANSWER: &str = "  Rain from 08:00: take the umbrella.\n\n";

#[derive(Default)]
struct Seen(Mutex<Vec<(String, Value)>>);

/// ntfy servers (`/phone/`, `/desk/`, ...: each channel its own) and a webhook agent (`/hook`)
/// whose answer is [`ANSWER`], on one loopback port.
struct StandIn {
    url: String,
    seen: Arc<Seen>,
}

async fn answer(req: HttpRequest, raw: web::Bytes, seen: web::Data<Seen>) -> HttpResponse {
    let path = req.path().to_string();
    if path == "/hook" {
        return HttpResponse::Ok().content_type("text/plain").body(ANSWER);
    }
    seen.0.lock().unwrap().push((path, serde_json::from_slice(&raw).unwrap_or(Value::Null)));
    HttpResponse::Ok().json(json!({"id": "x1"}))
}

impl StandIn {
    async fn start() -> StandIn {
        let seen = Arc::new(Seen::default());
        let data = web::Data::from(seen.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server =
            HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(answer)))
                .workers(1)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
        tokio::spawn(server);
        StandIn { url: format!("http://127.0.0.1:{port}"), seen }
    }

    /// The messages the ntfy channel at `/{name}/` received.
    fn got(&self, name: &str) -> Vec<Value> {
        let path = format!("/{name}/");
        self.seen.0.lock().unwrap().iter().filter(|(p, _)| *p == path).map(|(_, b)| b.clone()).collect()
    }

    async fn wait_for(&self, name: &str, n: usize) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.got(name);
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < until, "{name} got {} of {n}", got.len());
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
}

/// The app with three channels and the `weather` agent: for the API (with a public address,
/// for links) or for a browser (logged in; then no public address, which logins check).
async fn setup(stand_in: &StandIn, browser: bool) -> (TestApp, Api) {
    let app = if browser {
        let mut app = spawn_app().await;
        app.set_up().await;
        app
    } else {
        spawn_app_with(|c| c.public_url = Some("https://steward.example/".into())).await
    };
    let api = app.api(&app.api_token().await);
    let u = &stand_in.url;
    for body in [
        json!({"name": "phone", "kind": "ntfy", "url": format!("{u}/phone"), "topic": "mine"}),
        // Receives everything, scheduled-run answers included: still not sent an answer that
        // was not chosen for it.
        json!({"name": "desk", "kind": "ntfy", "url": format!("{u}/desk"), "topic": "mine"}),
        json!({"name": "spare", "kind": "ntfy", "url": format!("{u}/spare"), "topic": "mine", "receives": ["reminders"]}),
    ] {
        let (status, ch) = api.post("/channels", body).await;
        assert_eq!(status, 201, "{ch}");
    }
    let (status, a) = api
        .post(
            "/agents",
            json!({"name": "weather", "kind": "webhook", "url": format!("{u}/hook"), "secret": "s"}),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    (app, api)
}

async fn run_now(api: &Api, schedule: &Value) -> i64 {
    let (status, run) = api.post(&format!("/schedules/{}/run", schedule["id"]), json!({})).await;
    assert_eq!(status, 202, "{run}");
    run["id"].as_i64().unwrap()
}

#[tokio::test]
async fn an_answer_goes_to_exactly_the_channels_chosen_for_its_schedule() {
    let stand_in = StandIn::start().await;
    let (app, api) = setup(&stand_in, false).await;

    // Names are checked: a 422 naming the field and the unknown channel.
    let (status, e) = api
        .post("/schedules", json!({"prompt": "Weather?", "agent": "weather", "cron": "0 8 * * *", "answer_to": ["phone", "phne"]}))
        .await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["field"], "answer_to", "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("\"phne\" is not a channel"), "{message}");
    assert!(message.contains("desk, phone, spare"), "the choices are named: {message}");

    let (status, s) = api
        .post(
            "/schedules",
            json!({"name": "Morning weather", "prompt": "Weather?", "agent": "weather", "cron": "0 8 * * *", "answer_to": ["phone", " phone"]}),
        )
        .await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["answer_to"], json!(["phone"]));
    let (_, shown) = api.get(&format!("/schedules/{}", s["id"])).await;
    assert_eq!(shown["answer_to"], json!(["phone"]));

    let run = run_now(&api, &s).await;
    let got = stand_in.wait_for("phone", 1).await;
    let m = &got[0];
    assert_eq!(m["title"], "Morning weather");
    assert_eq!(m["message"], "Rain from 08:00: take the umbrella.", "trimmed: {m}");
    assert_eq!(m["click"], format!("https://steward.example/schedules/{}/runs#run-{run}", s["id"]));
    // In-app too, linked to the run.
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let notes = steward::notifications::list(&mut db.conn().unwrap(), 10).unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!((notes[0].run_id, notes[0].title.as_str()), (Some(run as i32), "Morning weather"));
    // No other channel gets it, even one that receives "answers".
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(stand_in.got("desk").is_empty() && stand_in.got("spare").is_empty());

    // Cleared: the next answer goes nowhere outside the app.
    let (status, s2) = api.patch(&format!("/schedules/{}", s["id"]), json!({"answer_to": []})).await;
    assert_eq!(status, 200, "{s2}");
    assert_eq!(s2["answer_to"], json!([]));
    let (status, e) = api.patch(&format!("/schedules/{}", s["id"]), json!({"answer_to": ["pager"]})).await;
    assert_eq!((status, &e["error"]["field"]), (422, &json!("answer_to")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("\"pager\""), "{e}");
    let run2 = run_now(&api, &s).await;
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, r) = api.get(&format!("/runs/{run2}")).await;
        if r["state"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < until, "{r}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stand_in.got("phone").len(), 1);

    // A `notify` schedule's message is its answer: its chosen channel gets it (though "spare"
    // does not receive notify messages), channels receiving notify messages get it as before,
    // each once, and it is one notification in-app.
    let (status, n) = api
        .post("/schedules", json!({"name": "Stretch", "prompt": "Stand up", "agent": "notify", "cron": "0 9 * * *", "answer_to": ["spare", "desk"]}))
        .await;
    assert_eq!(status, 201, "{n}");
    run_now(&api, &n).await;
    let spare = stand_in.wait_for("spare", 1).await;
    assert_eq!(
        (spare[0]["title"].as_str(), spare[0]["message"].as_str()),
        (Some("Stretch"), Some("Stand up"))
    );
    stand_in.wait_for("desk", 1).await;
    stand_in.wait_for("phone", 2).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        (stand_in.got("desk").len(), stand_in.got("spare").len(), stand_in.got("phone").len()),
        (1, 1, 2)
    );
    let notes = steward::notifications::list(&mut db.conn().unwrap(), 10).unwrap();
    assert_eq!(notes.iter().filter(|n| n.title == "Stretch").count(), 1);
}

#[tokio::test]
async fn the_form_and_the_cli_choose_the_channels() {
    let stand_in = StandIn::start().await;
    let (app, api) = setup(&stand_in, true).await;
    let html = app.get("/schedules").await.text().await.unwrap();
    for c in ["phone", "desk", "spare"] {
        assert!(html.contains(&format!("name=\"answer_to\" value=\"{c}\"")), "a box for {c}");
    }
    let mut form = vec![
        ("name", "Weather"),
        ("prompt", "Weather?"),
        ("agent", "weather"),
        ("spec", "every day at 8:00"),
        ("tz", "Europe/Berlin"),
        ("priority", "normal"),
        ("misfire", "once"),
        ("retry_attempts", "3"),
        ("retry_base_secs", "30"),
        ("until", ""),
        ("count", ""),
        ("status", "active"),
        ("answer_to", "phone"),
        ("answer_to", "desk"),
    ];
    let res = app.post_form("/schedules", &form).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let page = app.get("/schedules").await.text().await.unwrap();
    assert!(page.contains("answers to phone, desk"), "the row says where answers go");
    let (_, list) = api.get("/schedules").await;
    let s = &list["schedules"][0];
    assert_eq!(s["answer_to"], json!(["phone", "desk"]));
    let id = s["id"].as_i64().unwrap();
    let edit = app.get(&format!("/schedules/{id}/edit")).await.text().await.unwrap();
    assert!(edit.contains("value=\"phone\" checked") && edit.contains("value=\"desk\" checked"), "{edit}");
    assert!(!edit.contains("value=\"spare\" checked"), "{edit}");

    // A name that is no channel (a stale page) comes back by the field.
    form.push(("answer_to", "pager"));
    let res = app.post_htmx("/schedules", &form).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("sf-answer_to-error") && html.contains("&#34;pager&#34; is not a channel"),
        "{html}"
    );

    // The CLI: edit sets and clears it, add checks it.
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_steward")).arg("--db").arg(&app.db_path).args(args).output().unwrap()
    };
    let out = cli(&["--json", "schedule", "edit", &id.to_string(), "--answer-to", "spare, phone"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["answer_to"], json!(["spare", "phone"]));
    let out = cli(&["--json", "schedule", "edit", &id.to_string(), "--answer-to", "none"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, shown) = api.get(&format!("/schedules/{id}")).await;
    assert_eq!(shown["answer_to"], json!([]));
    let out = cli(&[
        "schedule",
        "add",
        "--prompt",
        "p",
        "--agent",
        "weather",
        "--cron",
        "0 9 * * *",
        "--answer-to",
        "phone,fax",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("answer_to") && err.contains("\"fax\" is not a channel"), "{err}");
}
