//! Notification channels: the API's rules (fields per kind, write-only secrets, a changed address
//! drops its secret), the request each service expects, checked by a loopback stand-in (ntfy,
//! Telegram's Bot API and its `{"ok":false,"description"}` errors, a Discord webhook, a signed
//! webhook), real mail through a real SMTP server (aiosmtpd), and the delivery trace: retries,
//! then the failure shown in-app, then Resend.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::helpers::{Api, spawn_app_with};

const NTFY_TOKEN: &str = "tk_ntfy-secret-otter-2718";
pub(crate) const BOT_TOKEN: &str = "123456:bot-secret-heron-1618";
const DISCORD_SECRET: &str = "discord-secret-lynx-1414";
const HOOK_SECRET: &str = "whsec-channel-badger-1732";
const SMTP_PASSWORD: &str = "smtp-secret-walrus-5772";

#[derive(Debug, Clone)]
pub(crate) struct Got {
    pub(crate) path: String,
    headers: Vec<(String, String)>,
    raw: Vec<u8>,
    pub(crate) body: Value,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Seen(Mutex<Vec<Got>>);

/// A loopback stand-in for ntfy (`/ntfy/`), Telegram (`/tg/bot<token>/sendMessage`), Discord
/// (`/api/webhooks/...`) and webhook receivers (`/hook`, and `/down`, which answers 503).
pub(crate) struct StandIn {
    pub(crate) url: String,
    seen: Arc<Seen>,
}

async fn answer(req: HttpRequest, raw: web::Bytes, seen: web::Data<Seen>) -> HttpResponse {
    let path = req.path().to_string();
    let got = Got {
        path: path.clone(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        raw: raw.to_vec(),
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
    };
    seen.0.lock().unwrap().push(got);
    if path.starts_with("/tg/") {
        return if path == format!("/tg/bot{BOT_TOKEN}/sendMessage") {
            HttpResponse::Ok().json(json!({"ok": true, "result": {"message_id": 1}}))
        } else {
            HttpResponse::Unauthorized()
                .json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}))
        };
    }
    if path.starts_with("/api/webhooks/") {
        return HttpResponse::NoContent().finish();
    }
    if path == "/down" {
        return HttpResponse::ServiceUnavailable().body("resting");
    }
    HttpResponse::Ok().json(json!({"id": "x1"}))
}

impl StandIn {
    pub(crate) async fn start() -> StandIn {
        let seen = Arc::new(Seen::default());
        let data = web::Data::from(seen.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server =
            HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(answer)))
                .workers(1)
                .listen(listener)
                .unwrap()
                .run();
        tokio::spawn(server);
        StandIn { url: format!("http://127.0.0.1:{port}"), seen }
    }

    pub(crate) fn got(&self, prefix: &str) -> Vec<Got> {
        self.seen.0.lock().unwrap().iter().filter(|g| g.path.starts_with(prefix)).cloned().collect()
    }
}

async fn app_with_retry(ms: u64) -> (crate::helpers::TestApp, Api) {
    let app = spawn_app_with(|c| {
        c.channel_retry_ms = ms;
        c.public_url = Some("http://127.0.0.1:9/steward".into());
    })
    .await;
    let api = app.api(&app.api_token().await);
    (app, api)
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [NTFY_TOKEN, BOT_TOKEN, DISCORD_SECRET, HOOK_SECRET, SMTP_PASSWORD] {
        assert!(!text.contains(secret), "{what} shows a secret: {text}");
    }
}

#[tokio::test]
async fn the_api_checks_each_kinds_fields_and_never_shows_a_secret() {
    let (_app, api) = app_with_retry(30_000).await;
    let (status, ch) = api
        .post(
            "/channels",
            json!({"name": "phone", "kind": "ntfy", "url": "https://ntfy.example", "topic": "steward-alerts", "token": NTFY_TOKEN}),
        )
        .await;
    assert_eq!(status, 201, "{ch}");
    assert_eq!(ch["token"], "set");
    assert_eq!(ch["receives"], json!(["reminders", "run_failures", "notify", "briefings", "answers"]));
    let (_, all) = api.get("/channels").await;
    assert_no_secret("the list", &all.to_string());
    assert_eq!(all["channels"][0]["name"], "phone");

    // Bad settings: 422 naming the field.
    for (body, field) in [
        (json!({"name": "a", "kind": "ntfy", "url": "https://ntfy.example", "topic": "no spaces"}), "topic"),
        (json!({"name": "a", "kind": "ntfy", "url": "ftp://x", "topic": "t"}), "url"),
        (
            json!({"name": "a", "kind": "ntfy", "url": "https://n.example", "topic": "t", "chat_id": "1"}),
            "chat_id",
        ),
        (json!({"name": "a", "kind": "telegram", "chat_id": "12"}), "bot_token"),
        (json!({"name": "a", "kind": "telegram", "bot_token": "x", "chat_id": "twelve"}), "chat_id"),
        (json!({"name": "a", "kind": "discord"}), "webhook_url"),
        (json!({"name": "a", "kind": "webhook", "url": "https://h.example"}), "secret"),
        (
            json!({"name": "a", "kind": "email", "smtp_host": "mail.example", "tls": "none", "from": "a@b.example", "to": "c@d.example"}),
            "tls",
        ),
        (
            json!({"name": "a", "kind": "email", "smtp_host": "mail.example", "from": "nobody", "to": "c@d.example"}),
            "from",
        ),
        (json!({"name": "a", "kind": "pigeon"}), "kind"),
        (json!({"name": "bad name", "kind": "discord", "webhook_url": "https://d.example/x"}), "name"),
        (
            json!({"name": "a", "kind": "discord", "webhook_url": "https://d.example/x", "receives": ["gossip"]}),
            "receives",
        ),
        (json!({"name": "phone", "kind": "discord", "webhook_url": "https://d.example/x"}), "name"),
        (json!({"name": "a", "kind": "ntfy", "url": "https://n.example", "topik": "t"}), "topik"),
    ] {
        let (status, err) = api.post("/channels", body.clone()).await;
        assert_eq!(status, 422, "{body} → {err}");
        assert_eq!(err["error"]["field"], field, "{body} → {err}");
    }

    // Narrowing what it receives; a changed server drops the token unless given again.
    let (status, ch) = api.patch("/channels/phone", json!({"receives": ["run_failures"]})).await;
    assert_eq!(status, 200, "{ch}");
    assert_eq!(ch["receives"], json!(["run_failures"]));
    assert_eq!(ch["token"], "set");
    let (_, ch) = api.patch("/channels/phone", json!({"url": "https://other-ntfy.example"})).await;
    assert_eq!(ch["token"], "not set", "{ch}");
    assert!(ch["notes"][0].as_str().unwrap().contains("token was removed"), "{ch}");
    let (_, ch) =
        api.patch("/channels/phone", json!({"url": "https://ntfy.example", "token": NTFY_TOKEN})).await;
    assert_eq!(ch["token"], "set", "{ch}");

    // A webhook cannot work without its secret: a new URL needs it again.
    let (status, _) = api
        .post(
            "/channels",
            json!({"name": "hook", "kind": "webhook", "url": "https://h.example/a", "secret": HOOK_SECRET}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, err) = api.patch("/channels/hook", json!({"url": "https://elsewhere.example/a"})).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("secret")), "{err}");
    let (_, ch) = api.get("/channels/hook").await;
    assert_eq!(ch["url"], "https://h.example/a");
    assert_no_secret("a channel", &ch.to_string());

    assert_eq!(api.delete("/channels/hook").await, 204);
    assert_eq!(api.get("/channels/hook").await.0, 404);
}

#[tokio::test]
async fn each_kind_sends_the_request_its_service_expects() {
    let stand_in = StandIn::start().await;
    let (_app, api) = app_with_retry(30_000).await;
    let u = &stand_in.url;
    for body in [
        json!({"name": "ntfy", "kind": "ntfy", "url": format!("{u}/ntfy"), "topic": "steward-alerts", "token": NTFY_TOKEN}),
        json!({"name": "tg", "kind": "telegram", "bot_token": BOT_TOKEN, "chat_id": "4242", "api_base": format!("{u}/tg")}),
        json!({"name": "tg-bad", "kind": "telegram", "bot_token": "999:wrong", "chat_id": "4242", "api_base": format!("{u}/tg")}),
        json!({"name": "discord", "kind": "discord", "webhook_url": format!("{u}/api/webhooks/1/{DISCORD_SECRET}")}),
        json!({"name": "hook", "kind": "webhook", "url": format!("{u}/hook"), "secret": HOOK_SECRET}),
        json!({"name": "nowhere", "kind": "ntfy", "url": "http://127.0.0.1:9", "topic": "t"}),
    ] {
        let (status, ch) = api.post("/channels", body).await;
        assert_eq!(status, 201, "{ch}");
    }
    let test = |name: &'static str| {
        let api = &api;
        async move {
            let (status, r) = api.post(&format!("/channels/{name}/test"), json!({})).await;
            assert_eq!(status, 200, "{r}");
            assert_no_secret("a test's answer", &r.to_string());
            r
        }
    };

    let r = test("ntfy").await;
    assert_eq!(r["ok"], true, "{r}");
    let got = stand_in.got("/ntfy");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/ntfy/");
    assert_eq!(got[0].header("authorization"), Some(format!("Bearer {NTFY_TOKEN}").as_str()));
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    let b = &got[0].body;
    assert_eq!(b["topic"], "steward-alerts");
    assert_eq!(b["title"], "Test from Steward");
    assert!(b["message"].as_str().unwrap().contains("ntfy"), "{b}");
    assert_eq!(b["priority"], 3);
    assert!(b["tags"].is_array(), "{b}");
    assert_eq!(b["click"], "http://127.0.0.1:9/steward/notifications");

    let r = test("tg").await;
    assert_eq!(r["ok"], true, "{r}");
    let got = stand_in.got("/tg/");
    assert_eq!(got[0].path, format!("/tg/bot{BOT_TOKEN}/sendMessage"));
    let b = &got[0].body;
    assert_eq!(b["chat_id"], "4242");
    assert_eq!(b["parse_mode"], "HTML");
    assert!(b["text"].as_str().unwrap().starts_with("<b>Test from Steward</b>\n"), "{b}");
    assert!(b["text"].as_str().unwrap().contains("“tg”"), "{b}");
    // Telegram's own description of the error, without the token.
    let r = test("tg-bad").await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["message"], "Telegram answered 401: Unauthorized");
    assert!(!r.to_string().contains("999:wrong"), "{r}");

    let r = test("discord").await;
    assert_eq!(r["ok"], true, "{r}");
    let got = stand_in.got("/api/webhooks/");
    let embed = &got[0].body["embeds"][0];
    assert_eq!(embed["title"], "Test from Steward");
    assert!(embed["description"].as_str().unwrap().contains("discord"), "{embed}");
    assert_eq!(embed["url"], "http://127.0.0.1:9/steward/notifications");

    let r = test("hook").await;
    assert_eq!(r["ok"], true, "{r}");
    let got = stand_in.got("/hook");
    assert_eq!(
        got[0].header("x-steward-signature"),
        Some(steward::agents::deliver::signature(HOOK_SECRET, &got[0].raw).as_str())
    );
    assert_eq!(got[0].body["event"], "notification");
    assert_eq!(got[0].body["title"], "Test from Steward");

    let r = test("nowhere").await;
    assert_eq!(r["ok"], false);
    assert_eq!(r["message"], "could not connect to 127.0.0.1:9: connection refused", "{r}");
}

async fn poll(api: &Api, path: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, body) = api.get(path).await;
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < until, "{path} never got there: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn deliveries(db: &std::path::Path) -> Vec<steward::notify::DeliveryRow> {
    use diesel::prelude::*;
    use steward::db::schema::deliveries::dsl::*;
    let db = steward::db::Db::open(db).unwrap();
    deliveries
        .order(id.asc())
        .select(steward::notify::DeliveryRow::as_select())
        .load(&mut db.conn().unwrap())
        .unwrap()
}

#[tokio::test]
async fn notifications_go_to_the_channels_that_receive_them_retry_then_fail_in_app() {
    let stand_in = StandIn::start().await;
    let (app, api) = app_with_retry(100).await;
    let u = &stand_in.url;
    for body in [
        json!({"name": "hook", "kind": "webhook", "url": format!("{u}/hook"), "secret": HOOK_SECRET, "receives": ["notify"]}),
        json!({"name": "down", "kind": "webhook", "url": format!("{u}/down"), "secret": HOOK_SECRET}),
        json!({"name": "failures-only", "kind": "ntfy", "url": format!("{u}/ntfy"), "topic": "t", "receives": ["run_failures"]}),
    ] {
        assert_eq!(api.post("/channels", body).await.0, 201);
    }
    // A `notify` run: its message goes to "hook" and "down", not to "failures-only".
    let (status, s) = api
        .post("/schedules", json!({"prompt": "Water the plants", "agent": "notify", "cron": "0 9 * * *"}))
        .await;
    assert_eq!(status, 201, "{s}");
    let (status, _) = api.post(&format!("/schedules/{}/run", s["id"]), json!({})).await;
    assert_eq!(status, 202);
    poll(&api, "/channels", 10, |_| stand_in.got("/hook").len() == 1).await;
    let hook = &stand_in.got("/hook")[0];
    assert_eq!(hook.body["body"], "Water the plants");
    assert_eq!(
        hook.header("x-steward-signature"),
        Some(steward::agents::deliver::signature(HOOK_SECRET, &hook.raw).as_str())
    );

    // "down" answers 503: four attempts with backoff (100 ms, 400 ms, 1.6 s), then failed, and
    // the person is told in-app which channel and why.
    let began = Instant::now();
    let until = began + Duration::from_secs(15);
    let failed = loop {
        let rows = deliveries(&app.db_path);
        if let Some(d) = rows.iter().find(|d| d.channel == "down" && d.state == "failed") {
            break d.clone();
        }
        assert!(Instant::now() < until, "never failed: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed.attempts, 4);
    assert!(failed.error.as_deref().unwrap().contains("503"), "{failed:?}");
    assert_eq!(stand_in.got("/down").len(), 4);
    assert!(began.elapsed() >= Duration::from_millis(1500), "backoff: {:?}", began.elapsed());
    let rows = deliveries(&app.db_path);
    assert!(rows.iter().any(|d| d.channel == "hook" && d.state == "sent" && d.attempts == 1), "{rows:?}");
    assert!(!rows.iter().any(|d| d.channel == "failures-only"), "{rows:?}");
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let list = steward::notifications::list(&mut db.conn().unwrap(), 50).unwrap();
    let told = list.iter().find(|n| n.title == "Channel “down” could not be reached").expect("told in-app");
    assert_eq!(told.level, "error");
    assert!(told.body.contains("After 4 attempts") && told.body.contains("503"), "{}", told.body);
    // The failure notice itself goes to no channel (it could loop).
    assert_eq!(rows.iter().filter(|d| d.notification_id == told.id).count(), 0);

    // Resend from the first attempt: queued again and sent again (and failing again).
    let n = steward::notify::resend(&mut db.conn().unwrap(), failed.id, chrono::Utc::now()).unwrap();
    assert_eq!((n.state.as_str(), n.attempts), ("queued", 0));
}

/// aiosmtpd on loopback, writing each message it receives to a file; it refuses mail to
/// `nobody@…` with `550 5.1.1 No such mailbox here`.
struct Smtp {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SMTP_SCRIPT: &str = r#"
import asyncio, os, socket, sys, time
from aiosmtpd.controller import Controller
out = sys.argv[1]
class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"
    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(out, "mail-%d.eml" % time.time_ns())
        with open(name + ".tmp", "wb") as f:
            f.write(envelope.content)
        os.rename(name + ".tmp", name)
        return "250 Message accepted for delivery"
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
c = Controller(Handler(), hostname="127.0.0.1", port=port)
c.start()
print(port, flush=True)
while True:
    time.sleep(3600)
"#;

fn start_smtp() -> Option<Smtp> {
    let found = Command::new("python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "CI must install aiosmtpd (see .ci/run)");
        eprintln!(
            "skipping: PyPI's aiosmtpd is not installed (python3 -m pip install aiosmtpd, as .ci/run does)"
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("python3")
        .args(["-c", SMTP_SCRIPT])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
        .unwrap();
    let port = line.trim().parse().expect("aiosmtpd says its port");
    Some(Smtp { child, port, dir })
}

#[tokio::test]
async fn email_arrives_as_multipart_text_and_html_through_a_real_smtp_server() {
    let Some(smtp) = start_smtp() else { return };
    let (_app, api) = app_with_retry(30_000).await;
    let (status, ch) = api
        .post(
            "/channels",
            json!({"name": "mail", "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "tls": "none",
                   "from": "Steward <steward@example.org>", "to": "me@example.org"}),
        )
        .await;
    assert_eq!(status, 201, "{ch}");
    assert_eq!(ch["password"], "not set");
    let (_, r) = api.post("/channels/mail/test", json!({})).await;
    assert_eq!(r["ok"], true, "{r}");
    let mails: Vec<_> = std::fs::read_dir(smtp.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = std::fs::read_to_string(&mails[0]).unwrap();
    assert!(mail.contains("Subject: Test from Steward"), "{mail}");
    assert!(mail.contains("From: Steward <steward@example.org>"), "{mail}");
    assert!(mail.contains("To: me@example.org"), "{mail}");
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(mail.contains("Content-Type: text/plain"), "{mail}");
    assert!(mail.contains("Content-Type: text/html"), "{mail}");
    assert!(mail.contains("<h2>Test from Steward</h2>"), "{mail}");

    // A refused recipient: the server's reply code and text.
    let (_, _) = api.patch("/channels/mail", json!({"to": "nobody@example.org"})).await;
    let (_, r) = api.post("/channels/mail/test", json!({})).await;
    assert_eq!(r["ok"], false, "{r}");
    let msg = r["message"].as_str().unwrap();
    assert!(msg.contains("550") && msg.contains("No such mailbox here"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{}", smtp.port)), "{msg}");

    // Nothing listening: said so.
    let (_, _) = api.patch("/channels/mail", json!({"smtp_port": 9, "to": "me@example.org"})).await;
    let (_, r) = api.post("/channels/mail/test", json!({})).await;
    assert_eq!(
        r["message"], "could not connect to the mail server at 127.0.0.1:9: connection refused",
        "{r}"
    );
}

fn cli(db: &std::path::Path, args: &[&str], secret: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_steward"));
    cmd.arg("--db").arg(db).args(args).env("STEWARD_LOG", "trace").env_remove("STEWARD_LOG_FORMAT");
    match secret {
        Some(s) => cmd.env("STEWARD_CHANNEL_SECRET", s),
        None => cmd.env_remove("STEWARD_CHANNEL_SECRET"),
    };
    cmd.output().unwrap()
}

/// `steward channel add|list|test|rm`, logging at trace: the secrets reach neither the output
/// nor the log, though the Telegram token travels in the request's path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_lists_tests_and_removes_channels_without_showing_secrets() {
    let stand_in = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("steward.db");
    let api_base = format!("{}/tg", stand_in.url);
    let db2 = db.clone();
    let out = tokio::task::spawn_blocking(move || {
        let add = cli(
            &db2,
            &[
                "channel",
                "add",
                "tg",
                "--kind",
                "telegram",
                "--chat-id",
                "4242",
                "--api-base",
                &api_base,
                "--receives",
                "notify,run_failures",
            ],
            Some(BOT_TOKEN),
        );
        vec![
            add,
            cli(&db2, &["--json", "channel", "list"], None),
            cli(&db2, &["channel", "test", "tg"], None),
            cli(&db2, &["channel", "rm", "tg"], None),
            cli(&db2, &["channel", "list"], None),
        ]
    })
    .await
    .unwrap();
    let text = |o: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    for o in &out {
        assert!(o.status.success(), "{}", text(o));
        assert_no_secret("the CLI's output or log", &text(o));
    }
    assert!(
        String::from_utf8_lossy(&out[0].stdout).contains("Added channel tg (telegram)"),
        "{}",
        text(&out[0])
    );
    let list: Value = serde_json::from_slice(&out[1].stdout).unwrap();
    assert_eq!(list[0]["bot_token"], "set", "{list}");
    assert_eq!(list[0]["receives"], json!(["notify", "run_failures"]));
    assert!(
        String::from_utf8_lossy(&out[2].stdout).contains("Sent a test message to tg."),
        "{}",
        text(&out[2])
    );
    assert_eq!(stand_in.got("/tg/").len(), 1);
    // The log was on at trace (hyper's connection lines), so the check above means something.
    assert!(String::from_utf8_lossy(&out[2].stderr).contains("TRACE"), "{}", text(&out[2]));
    assert!(String::from_utf8_lossy(&out[4].stdout).contains("No channels yet"), "{}", text(&out[4]));
}

/// The page: add with only the kind's fields, a bad value named next to its field, a blank
/// secret keeps the stored one, Test as a toast, and on Notifications where each message went,
/// with Resend.
#[tokio::test]
async fn the_channels_page_adds_edits_tests_and_the_notifications_page_shows_the_trace() {
    let stand_in = StandIn::start().await;
    let app = crate::helpers::logged_in_app().await;
    let page = app.get("/channels").await.text().await.unwrap();
    assert!(page.contains("href=\"/channels?kind=ntfy#channel-form\""), "{page}");
    let settings = app.get("/settings").await.text().await.unwrap();
    assert!(settings.contains("href=\"/channels\""));
    let form = app.get("/channels?kind=ntfy").await.text().await.unwrap();
    assert!(form.contains("name=\"topic\"") && form.contains("name=\"token\""), "{form}");
    assert!(!form.contains("name=\"smtp_host\"") && !form.contains("name=\"chat_id\""), "{form}");

    let ntfy = format!("{}/ntfy", stand_in.url);
    let res = app
        .post_form(
            "/channels",
            &[
                ("kind", "ntfy"),
                ("name", "phone"),
                ("url", &ntfy),
                ("topic", "bad topic"),
                ("token", NTFY_TOKEN),
                ("receives", "notify"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("&#34;bad topic&#34; is not an ntfy topic") || page.contains("is not an ntfy topic"),
        "{page}"
    );
    assert_no_secret("the form shown again", &page);

    let res = app
        .post_form(
            "/channels",
            &[
                ("kind", "ntfy"),
                ("name", "phone"),
                ("url", &ntfy),
                ("topic", "steward"),
                ("token", NTFY_TOKEN),
                ("receives", "notify"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/channels?added=phone");
    let page = app.get("/channels/phone/edit").await.text().await.unwrap();
    assert!(page.contains("placeholder=\"set — leave blank to keep\""), "{page}");
    assert_no_secret("the edit form", &page);
    // Saving with the token left blank keeps it; the narrowed topics stay as ticked.
    let res = app
        .post_form(
            "/channels/phone",
            &[
                ("url", &ntfy),
                ("topic", "steward"),
                ("token", ""),
                ("receives", "notify"),
                ("receives", "run_failures"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let ch = steward::notify::get(&mut db.conn().unwrap(), "phone").unwrap();
    assert_eq!(ch.secret.as_deref(), Some(NTFY_TOKEN));
    assert_eq!(ch.receives, ["notify", "run_failures"]);

    // Test: the outcome as a toast.
    let res = app.post_htmx("/channels/phone/test", &[]).await;
    assert_eq!(res.status(), 200);
    let toast = res.text().await.unwrap();
    assert!(toast.contains("Sent a test message to phone."), "{toast}");
    assert_eq!(
        stand_in.got("/ntfy").last().unwrap().header("authorization"),
        Some(format!("Bearer {NTFY_TOKEN}").as_str())
    );

    // A notify run: Notifications shows it went to phone, with Resend.
    let api = app.api(&app.api_token().await);
    let (_, s) = api.post("/schedules", json!({"prompt": "Stretch", "agent": "notify", "every": "1d"})).await;
    api.post(&format!("/schedules/{}/run", s["id"]), json!({})).await;
    poll(&api, "/channels", 10, |_| stand_in.got("/ntfy").len() == 2).await;
    let until = Instant::now() + Duration::from_secs(5);
    let page = loop {
        let page = app.get("/notifications").await.text().await.unwrap();
        if page.contains("delivery-sent") || Instant::now() > until {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        page.contains(
            "<span class=\"delivery-channel\">phone</span>: <span class=\"delivery-text\">sent</span>"
        ),
        "{page}"
    );
    let id = deliveries(&app.db_path)[0].id;
    let res = app.post_form(&format!("/notifications/deliveries/{id}/resend"), &[]).await;
    assert_eq!(res.status(), 303);
    poll(&api, "/channels", 10, |_| stand_in.got("/ntfy").len() == 3).await;

    let res = app.post_form("/channels/phone/remove", &[]).await;
    assert_eq!(res.status(), 303);
    assert!(steward::notify::list(&mut db.conn().unwrap()).unwrap().is_empty());
}
