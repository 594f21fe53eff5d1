//! The log, as a person running Steward reads it: the real binary, its stderr in a file. One
//! line per request with the id the response carries in `X-Request-Id`; no password, token or
//! CSRF value in it even at the most verbose level; at the default level, the failures a person
//! can act on; and one JSON object per line when `STEWARD_LOG_FORMAT=json`.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Client, Response};
use serde_json::{Value, json};

use crate::helpers::{Api, client, csrf_of, login_at};

const PASSWORD: &str = "known passphrase Q7-lantern-meadow";
const NEW_PASSWORD: &str = "second passphrase K4-harbour-willow";
const WRONG_PASSWORD: &str = "mistyped passphrase Z9-orchard";
const WEBHOOK_SECRET: &str = "whsec-ferret-quartz-3141";

/// `steward serve` on port 0 with a fresh database; stopped (killed) when dropped.
struct Server {
    child: Child,
    /// Kept open: the server may still write to its stdout.
    _stdout: std::io::BufReader<ChildStdout>,
    address: String,
    setup_token: String,
    db: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn serve(env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("steward.db");
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("STEWARD_TIMEZONE", "Europe/Berlin")
        .env_remove("STEWARD_LOG")
        .env_remove("STEWARD_LOG_FORMAT")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut address, mut setup_token) = (String::new(), String::new());
    while setup_token.is_empty() {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "no setup link: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        if let Some(url) = line.trim().strip_prefix("Steward is serving on ") {
            address = url.to_string();
        }
        if let Some((_, token)) = line.trim().split_once("/setup?token=") {
            setup_token = token.to_string();
        }
    }
    Server { child, _stdout: stdout, address, setup_token, db, log, _dir: dir }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Stops the server as a service manager would and returns everything it logged.
    fn stop(&mut self) -> String {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let status = self.child.wait().unwrap();
        let log = std::fs::read_to_string(&self.log).unwrap();
        assert!(status.success(), "graceful exit: {status:?}\n{log}");
        log
    }

    /// A new API token, made the way a person makes one: `steward token create`.
    fn api_token(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_steward"))
            .arg("--db")
            .arg(&self.db)
            .args([
                "token",
                "create",
                "--scope",
                "admin",
                "--name",
                &format!("logs-{}", steward::auth::random_token(4)),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn api(&self, token: &str) -> Api {
        let mut headers = HeaderMap::new();
        headers.insert("Authorization", format!("Bearer {token}").parse().unwrap());
        Api { base: self.url("/api/v1"), client: Client::builder().default_headers(headers).build().unwrap() }
    }

    /// Completes the first-run setup on `browser`; returns the session cookie's value.
    async fn set_up(&self, browser: &Client) -> String {
        let res = browser.get(self.url(&format!("/setup?token={}", self.setup_token))).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let res = browser
            .post(self.url("/setup"))
            .header("Origin", &self.address)
            .form(&[("token", self.setup_token.as_str()), ("password", PASSWORD), ("confirm", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        session_cookie(&res)
    }

    async fn csrf(&self, browser: &Client) -> String {
        let page = browser.get(self.url("/tasks")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        csrf_of(&page.text().await.unwrap())
    }

    async fn login(&self, browser: &Client, password: &str) -> Response {
        login_at(browser, &self.address, password).await
    }

    /// A plain form post (no JavaScript): the CSRF token rides as a hidden field.
    async fn post_form(&self, browser: &Client, csrf: &str, path: &str, form: &[(&str, &str)]) -> Response {
        let mut fields = form.to_vec();
        fields.push(("csrf_token", csrf));
        browser.post(self.url(path)).header("Origin", &self.address).form(&fields).send().await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn session_cookie(res: &Response) -> String {
    let cookie = res.headers().get(SET_COOKIE).expect("a session cookie").to_str().unwrap();
    let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    assert!(value.len() >= 16, "{cookie}");
    value.to_string()
}

/// The response's `X-Request-Id`: present, short, and plain enough to grep for.
fn request_id(res: &Response) -> String {
    let id = res.headers().get("x-request-id").expect("X-Request-Id on every response").to_str().unwrap();
    assert!(
        (4..=32).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)),
        "{id}"
    );
    id.to_string()
}

fn assert_no_secrets(log: &str, secrets: &[(&str, &str)]) {
    for (what, secret) in secrets {
        assert!(!secret.is_empty(), "{what} is known");
        if let Some(line) = log.lines().find(|l| l.contains(secret)) {
            panic!("the {what} is in the log: {line}");
        }
    }
}

#[tokio::test]
async fn no_password_token_or_csrf_value_reaches_the_log_even_at_trace() {
    let mut server = serve(&[("STEWARD_LOG", "debug,steward=trace")]);
    let browser = client();
    let mut ids = Vec::new();

    // First run: the setup link's token travels in the query, then in the form.
    let first_session = server.set_up(&browser).await;
    let csrf = server.csrf(&browser).await;

    // Form posts carrying the CSRF token: a hidden field, an htmx header, an upload's field.
    let res = server.post_form(&browser, &csrf, "/tasks", &[("text", "Buy milk tomorrow")]).await;
    assert_eq!(res.status(), 303);
    ids.push(request_id(&res));
    let res = browser
        .post(server.url("/tasks"))
        .header("Origin", &server.address)
        .header("X-CSRF-Token", &csrf)
        .header("HX-Request", "true")
        .form(&[("text", "Call the plumber")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    ids.push(request_id(&res));
    let upload = reqwest::multipart::Form::new()
        .text("csrf_token", csrf.clone())
        .part("file", reqwest::multipart::Part::text("(A) Pay rent\n").file_name("todo.txt"));
    let res = browser
        .post(server.url("/tasks/import"))
        .header("Origin", &server.address)
        .multipart(upload)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    ids.push(request_id(&res));
    // A stale token is refused, and said so.
    let res = server.post_form(&browser, "stale-token", "/tasks", &[("text", "Nope")]).await;
    assert_eq!(res.status(), 403);
    ids.push(request_id(&res));

    // The password changes (both passwords in one form), then a logout and a login, a wrong
    // password first.
    let res = server
        .post_form(
            &browser,
            &csrf,
            "/settings/password",
            &[("current", PASSWORD), ("new", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
        )
        .await;
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    let csrf_after_change = server.csrf(&browser).await;
    let res = server.post_form(&browser, &csrf_after_change, "/logout", &[]).await;
    assert_eq!(res.status(), 303);
    let res = server.login(&browser, WRONG_PASSWORD).await;
    assert_eq!(res.status(), 422);
    ids.push(request_id(&res));
    let res = server.login(&browser, NEW_PASSWORD).await;
    assert_eq!(res.status(), 303);
    ids.push(request_id(&res));
    let second_session = session_cookie(&res);
    let second_csrf = server.csrf(&browser).await;

    // The API and MCP with a known bearer token; a wrong token is refused.
    let token = server.api_token();
    let api = server.api(&token);
    let (status, body) = api.post("/tasks", json!({"text": "Water the plants"})).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post("/agents", json!({"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": WEBHOOK_SECRET}))
        .await;
    assert_eq!(status, 201, "{body}");
    let res = api.client.get(server.url("/api/v1/tasks")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    ids.push(request_id(&res));
    let res = api
        .client
        .post(server.url("/mcp"))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    ids.push(request_id(&res));
    let wrong_token = format!("stw_{}", steward::auth::random_token(24));
    let res = server.api(&wrong_token).client.get(server.url("/api/v1/tasks")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    ids.push(request_id(&res));

    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a new id per request: {ids:?}");

    let log = server.stop();
    assert_no_secrets(
        &log,
        &[
            ("password", PASSWORD),
            ("new password", NEW_PASSWORD),
            ("wrong password", WRONG_PASSWORD),
            ("setup token", &server.setup_token),
            ("CSRF token", &csrf),
            ("CSRF token after the password change", &csrf_after_change),
            ("CSRF token of the second session", &second_csrf),
            ("first session cookie", &first_session),
            ("second session cookie", &second_session),
            ("API token", &token),
            ("wrong API token", &wrong_token),
            ("webhook secret", WEBHOOK_SECRET),
        ],
    );
    // Not vacuous: the log is verbose, and every request above has its line.
    assert!(log.lines().any(|l| l.contains("DEBUG")), "{log}");
    let requests: Vec<&str> = log.lines().filter(|l| l.contains(" request id=")).collect();
    assert!(requests.len() >= 15, "{log}");
    for id in &ids {
        let line = requests
            .iter()
            .find(|l| l.contains(&format!("id={id} ")))
            .unwrap_or_else(|| panic!("{id}: {log}"));
        assert!(
            line.contains(" method=")
                && line.contains(" path=/")
                && line.contains(" status=")
                && line.contains(" ms="),
            "{line}"
        );
    }
    for expected in [
        "method=GET path=/setup status=200",
        "method=POST path=/setup status=303",
        "method=POST path=/tasks/import status=",
        "method=POST path=/login status=422",
        "method=POST path=/settings/password status=",
        "method=GET path=/api/v1/tasks status=200",
        "method=POST path=/api/v1/tasks status=201",
        "method=POST path=/mcp status=200",
        "method=GET path=/api/v1/tasks status=401",
    ] {
        assert!(requests.iter().any(|l| l.contains(expected)), "no line with {expected}:\n{log}");
    }
    let refused = requests.iter().find(|l| l.contains("status=403")).unwrap();
    assert!(refused.contains("security token is missing or stale"), "a refusal says why: {refused}");
}

/// Polls the API until the newest run is in `state`.
async fn wait_for_run(api: &Api, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = api.get("/runs").await;
        assert_eq!(status, 200, "{body}");
        if body["runs"][0]["state"] == state {
            return body["runs"][0].clone();
        }
        assert!(Instant::now() < deadline, "no {state} run: {body:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The log's JSON lines whose message is `message`.
fn lines_with<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["fields"]["message"] == message).collect()
}

#[tokio::test]
async fn at_the_default_level_the_json_log_has_requests_failures_and_lockouts() {
    let mut server = serve(&[("STEWARD_LOG_FORMAT", "json")]);
    let browser = client();
    server.set_up(&browser).await;
    let csrf = server.csrf(&browser).await;
    // A schedule pauses itself after its first failed run.
    let res = server
        .post_form(
            &browser,
            &csrf,
            "/settings/guards",
            &[("max_active", "500"), ("min_interval_secs", "60"), ("pause_after_failures", "1")],
        )
        .await;
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());

    // A webhook nobody listens on: each attempt fails, and the second is the last.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let token = server.api_token();
    let api = server.api(&token);
    let (status, body) = api
        .post(
            "/agents",
            json!({"name": "gone", "kind": "webhook", "url": format!("http://127.0.0.1:{port}/hook"), "secret": WEBHOOK_SECRET}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, schedule) = api
        .post(
            "/schedules",
            json!({"name": "Morning digest", "prompt": "Digest", "agent": "gone", "every": "1h",
                   "retry_attempts": 2, "retry_base_secs": 1}),
        )
        .await;
    assert_eq!(status, 201, "{schedule}");
    let (status, body) = api.post(&format!("/schedules/{}/run", schedule["id"]), json!({})).await;
    assert!(status < 300, "{status} {body}");
    wait_for_run(&api, "failed").await;

    // Five wrong passwords from one client lock it out; the sixth attempt is refused.
    let stranger = client();
    let mut fifth = String::new();
    for _ in 0..5 {
        let res = server.login(&stranger, WRONG_PASSWORD).await;
        assert_eq!(res.status(), 422);
        fifth = request_id(&res);
    }
    let res = server.login(&stranger, WRONG_PASSWORD).await;
    assert_eq!(res.status(), 429);
    let locked_id = request_id(&res);

    // Quiet at this level: static files and the health check.
    assert_eq!(browser.get(server.url("/static/app.css")).send().await.unwrap().status(), 200);
    assert_eq!(browser.get(server.url("/healthz")).send().await.unwrap().status(), 200);
    let res = browser.get(server.url("/tasks")).send().await.unwrap();
    let page_id = request_id(&res);

    let log = server.stop();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON object ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(Value::is_object), "{log}");
    assert!(lines.iter().all(|l| l["level"] != "DEBUG" && l["level"] != "TRACE"), "{log}");

    let requests = lines_with(&lines, "request");
    let page = requests.iter().find(|l| l["fields"]["id"] == page_id.as_str()).expect("the page's line");
    assert_eq!(page["level"], "INFO");
    assert_eq!(page["fields"]["method"], "GET");
    assert_eq!(page["fields"]["path"], "/tasks");
    assert_eq!(page["fields"]["status"], 200);
    assert!(page["fields"]["ms"].is_number(), "{page}");
    let locked = requests.iter().find(|l| l["fields"]["id"] == locked_id.as_str()).expect("the 429's line");
    assert_eq!(locked["fields"]["status"], 429);
    assert!(
        requests
            .iter()
            .all(|l| l["fields"]["path"] != "/static/app.css" && l["fields"]["path"] != "/healthz"),
        "static files and the health check are at debug: {log}"
    );

    let retry = lines_with(&lines, "delivery failed; will retry");
    assert_eq!(retry.len(), 1, "{log}");
    let retry = &retry[0]["fields"];
    assert_eq!(retry["schedule"], "Morning digest");
    assert_eq!(retry["agent"], "gone");
    assert_eq!((retry["attempt"].as_i64(), retry["of"].as_i64()), (Some(1), Some(2)));
    assert!(retry["retry_at"].is_string() && retry["retry_in_secs"].is_number(), "{retry}");
    assert!(retry["error"].as_str().unwrap().contains(&port.to_string()), "names what failed: {retry}");
    let failed = lines_with(&lines, "run failed");
    assert_eq!(failed.len(), 1, "{log}");
    assert_eq!(failed[0]["level"], "ERROR");
    assert_eq!(failed[0]["fields"]["attempts"], 2);
    let paused = lines_with(&lines, "schedule paused itself");
    assert_eq!(paused.len(), 1, "{log}");
    assert_eq!(paused[0]["fields"]["schedule"], "Morning digest");
    let lockouts = lines_with(&lines, "too many wrong passwords; login locked");
    assert_eq!(lockouts.len(), 1, "one lock, one line: {log}");
    assert_eq!(lockouts[0]["level"], "WARN");
    assert_eq!(lockouts[0]["fields"]["client"], "127.0.0.1");
    assert_eq!(lockouts[0]["span"]["id"], fifth.as_str(), "carries the id of the request that locked");

    assert_no_secrets(
        &log,
        &[
            ("password", PASSWORD),
            ("wrong password", WRONG_PASSWORD),
            ("setup token", &server.setup_token),
            ("CSRF token", &csrf),
            ("API token", &token),
            ("webhook secret", WEBHOOK_SECRET),
        ],
    );
}
