//! The Tasks page in a real browser: Debian's Chromium, driven over WebDriver by chromedriver.
//! This proves what HTTP tests cannot: htmx runs under the strict CSP, the preview appears while
//! typing, Enter adds the task in place, a tick completes it, filters update the URL.
//!
//! CI installs `chromium` and `chromium-driver`; elsewhere the test is skipped (with a note)
//! when they are missing.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Option<Browser> {
        let found = |p: &str| std::path::Path::new(p).exists();
        if !found("/usr/bin/chromedriver") || !found("/usr/bin/chromium") {
            assert!(std::env::var("CI").is_err(), "CI must install chromium and chromium-driver");
            eprintln!("skipping the browser test: /usr/bin/chromium or /usr/bin/chromedriver is missing");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().unwrap().keep();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--window-size=1200,900", format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let deadline = Instant::now() + Duration::from_secs(20);
        let session = loop {
            match http.post(format!("{base}/session")).json(&caps).send().await {
                Ok(res) => {
                    let body: Value = res.json().await.unwrap();
                    let id =
                        body["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {body}"));
                    break format!("{base}/session/{id}");
                }
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => panic!("chromedriver did not start: {e}"),
            }
        };
        Some(Browser { driver, http, session })
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let res =
            self.http.request(method, format!("{}{path}", self.session)).json(&body).send().await.unwrap();
        let body: Value = res.json().await.unwrap();
        body["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({"url": url})).await;
    }

    async fn find(&self, css: &str) -> Option<String> {
        let v =
            self.cmd(reqwest::Method::POST, "/element", json!({"using": "css selector", "value": css})).await;
        v[ELEMENT].as_str().map(String::from)
    }

    async fn wait_for(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(id) = self.find(css).await {
                return id;
            }
            assert!(Instant::now() < deadline, "{css} never appeared");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.wait_for(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{id}/value"), json!({"text": text})).await;
    }

    async fn click(&self, css: &str) {
        let id = self.wait_for(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{id}/click"), json!({})).await;
    }

    async fn text(&self, css: &str) -> String {
        let id = self.wait_for(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{id}/text"), json!({}))
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    async fn script(&self, js: &str) -> Value {
        self.cmd(reqwest::Method::POST, "/execute/sync", json!({"script": js, "args": []})).await
    }

    /// Waits until `js` (an expression) is truthy.
    async fn until(&self, what: &str, js: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.script(&format!("return !!({js});")).await != json!(true) {
            if Instant::now() >= deadline {
                let state = self
                    .script("return [document.activeElement.id, document.getElementById('quick-add-text')?.value, document.getElementById('quick-add')?.outerHTML, location.href].join(' | ');")
                    .await;
                panic!("timed out waiting for {what}; page: {state}; console: {:?}", self.console().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a picture of the page when `STEWARD_SCREENSHOTS` names a folder (to look at).
    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let Ok(dir) = std::env::var("STEWARD_SCREENSHOTS") else { return };
        let png = self.cmd(reqwest::Method::GET, "/screenshot", json!({})).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), bytes).unwrap();
    }

    /// Sets a new app's password in the browser, which is then signed in.
    async fn set_up(&self, app: &TestApp) {
        self.go(app.setup_url.as_deref().unwrap()).await;
        self.type_into("#password", PASSWORD).await;
        self.type_into("#confirm", PASSWORD).await;
        self.click("button[type=submit]").await;
        self.wait_for("#quick-add-text").await;
    }

    /// Fails on a CSP violation or an uncaught script error in the console.
    async fn assert_clean_console(&self) {
        let problems: Vec<String> = self
            .console()
            .await
            .into_iter()
            .filter(|m| m.contains("Content Security Policy") || m.contains("Uncaught"))
            .collect();
        assert!(problems.is_empty(), "browser console: {problems:?}");
    }

    async fn console(&self) -> Vec<String> {
        let v = self.cmd(reqwest::Method::POST, "/se/log", json!({"type": "browser"})).await;
        v.as_array()
            .map(|a| a.iter().map(|e| e["message"].as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn the_tasks_page_works_in_a_real_browser() {
    let Some(browser) = Browser::start().await else { return };
    let app = spawn_app().await;
    browser.set_up(&app).await;

    // `n` focuses quick-add (app.js); typing shows the live preview (htmx).
    browser.click("h1").await;
    browser.type_into("body", "n").await;
    browser.until("n to focus quick-add", "document.activeElement.id === 'quick-add-text'").await;
    browser.type_into("#quick-add-text", "Call mom tomorrow 5pm +family @phone p1").await;
    browser.until("the preview", "document.querySelector('#quick-add-preview .preview-chips')").await;
    let preview = browser.text("#quick-add-preview").await;
    assert!(
        preview.contains("Call mom") && preview.contains("Tomorrow 17:00") && preview.contains("+family"),
        "{preview}"
    );

    // Enter adds it in place; the field empties and keeps the focus for the next task.
    browser.type_into("#quick-add-text", "\u{E007}").await;
    browser.until("the new task", "document.querySelector('#group-upcoming .task')").await;
    browser.until("an empty quick-add", "document.getElementById('quick-add-text').value === ''").await;
    browser.until("focus kept", "document.activeElement.id === 'quick-add-text'").await;
    assert!(browser.text("#group-upcoming .task").await.contains("Call mom"));

    // A bad date: the message shows next to the field and the text stays.
    browser.type_into("#quick-add-text", "Lunch feb 30\u{E007}").await;
    browser.until("the inline error", "document.getElementById('quick-add-error')").await;
    assert!(browser.text("#quick-add-error").await.contains("February"));
    assert_eq!(
        browser.script("return document.getElementById('quick-add-text').value;").await,
        json!("Lunch feb 30")
    );

    // Ticking completes it in place.
    browser.click("#group-upcoming .task input[type=checkbox]").await;
    browser.until("the task done", "document.querySelector('#group-upcoming .task.done')").await;

    // After a reload it sits in the collapsed Done group, whose rows load when it is opened.
    browser.go(&format!("{}/tasks", app.address)).await;
    browser.wait_for(".group-done summary").await;
    assert!(browser.find("#group-done .task").await.is_none(), "not loaded while collapsed");
    browser.click(".group-done summary").await;
    browser.until("the done rows", "document.querySelector('#group-done .task.done')").await;

    // A filter updates the list and the URL without a reload.
    browser.script("window.notReloaded = true;").await;
    browser.type_into("#filter-q", "nothing matches this").await;
    browser.until("the filtered list", "document.querySelector('#task-list .empty')").await;
    browser.until("the URL", "location.search.includes('q=nothing')").await;
    assert_eq!(browser.script("return window.notReloaded === true;").await, json!(true));

    browser.assert_clean_console().await;
    browser.cmd(reqwest::Method::DELETE, "", json!({})).await;
}

#[tokio::test]
async fn schedules_preview_as_typed_and_runs_update_live() {
    let Some(browser) = Browser::start().await else { return };
    let app = spawn_app().await;
    browser.set_up(&app).await;

    // Typing a timing previews its next firings in words, in the zone and in UTC.
    browser.go(&format!("{}/schedules", app.address)).await;
    browser.type_into("#sf-prompt", "Summarise my open tasks").await;
    browser.type_into("#sf-spec", "0 9 * * 1-5").await;
    browser.until("the preview", "document.querySelector('#schedule-preview .preview-times')").await;
    let preview = browser.text("#schedule-preview").await;
    assert!(preview.contains("Every weekday at 09:00") && preview.contains("UTC"), "{preview}");
    browser.screenshot("schedules-form").await;

    // Saving lists it in place, in words.
    browser.click("#schedule-form button[type=submit]").await;
    browser.until("the new row", "document.querySelector('#schedule-list tr.schedule')").await;
    assert!(browser.text("#schedule-list tr.schedule").await.contains("Every weekday at 09:00"));
    browser.screenshot("schedules-list").await;

    // On the schedule's Runs page, a run started elsewhere appears and finishes without a reload.
    let id =
        browser.script("return document.querySelector('#schedule-list tr.schedule').id.split('-')[1];").await;
    let id = id.as_str().unwrap().to_string();
    browser.go(&format!("{}/schedules/{id}/runs", app.address)).await;
    browser.wait_for("#runs .runs-empty").await;
    browser.script("window.notReloaded = true;").await;
    let api = app.api(&app.api_token().await);
    let (status, _) = api.post(&format!("/schedules/{id}/run"), json!({})).await;
    assert_eq!(status, 202);
    browser.until("the finished run", "document.querySelector('#runs-body tr.run .state-succeeded')").await;
    assert_eq!(browser.script("return window.notReloaded === true;").await, json!(true));
    // ... and the notify agent's reminder rings the bell and shows a toast.
    browser.until("the bell", "document.getElementById('bell-count').textContent.startsWith('1')").await;
    browser.screenshot("runs-live").await;

    browser.assert_clean_console().await;
    browser.cmd(reqwest::Method::DELETE, "", json!({})).await;
}

#[tokio::test]
async fn chat_replies_stream_into_the_page_and_survive_a_reload() {
    let Some(browser) = Browser::start().await else { return };
    let pieces: Vec<&'static str> =
        vec!["Sure", ", here ", "is ", "a ", "**plan**", ":\n\n", "1. ", "Rest", "\n2. ", "Walk"];
    let model = crate::fakes::openai::ScriptedModel::start(vec![crate::fakes::openai::Reply::Slow(
        Duration::from_millis(150),
        pieces.clone(),
    )])
    .await;
    let app = spawn_app().await;
    browser.set_up(&app).await;
    let api = app.api(&app.api_token().await);
    let (status, _) = api
        .post("/agents", json!({"name": "default", "kind": "llm", "url": model.url, "model": "scripted"}))
        .await;
    assert_eq!(status, 201);

    // Enter sends the first message; the conversation opens and the reply streams in.
    browser.go(&format!("{}/chat", app.address)).await;
    browser.type_into("#composer-text", "Plan my evening\u{E007}").await;
    browser.until("the conversation", "location.pathname.startsWith('/chat/')").await;
    browser
        .until("tokens streaming", "document.querySelector('.bubble.role-assistant .streaming-text')")
        .await;
    let partial = browser.text(".bubble.role-assistant .markdown").await;
    assert!(!partial.is_empty() && !partial.contains("Walk"), "part of the reply: {partial}");
    browser.screenshot("chat-streaming").await;

    // A reload mid-reply picks the stream up where it is, and the end renders as Markdown.
    let here = browser.script("return location.href;").await;
    browser.go(here.as_str().unwrap()).await;
    browser
        .until("the rendered reply", "document.querySelector('.bubble.role-assistant .markdown strong')")
        .await;
    let done = browser.text(".bubble.role-assistant .markdown").await;
    assert!(done.contains("plan") && done.contains("Walk"), "{done}");
    assert!(browser.find("#chat-regenerate").await.is_some(), "Regenerate is offered");

    // Shift+Enter breaks the line instead of sending.
    browser.type_into("#composer-text", "line one\u{E008}\u{E007}\u{E008}line two").await;
    let typed = browser.script("return document.getElementById('composer-text').value;").await;
    assert_eq!(typed, json!("line one\nline two"));
    browser.screenshot("chat-done").await;
    browser.assert_clean_console().await;
    browser.cmd(reqwest::Method::DELETE, "", json!({})).await;
}
