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

    /// The console's errors (not its warnings or notes).
    async fn console_errors(&self) -> Vec<String> {
        let v = self.cmd(reqwest::Method::POST, "/se/log", json!({"type": "browser"})).await;
        v.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect()
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
    // Setting up lands on Today; this test is about the Tasks page.
    browser.go(&app.url("/tasks")).await;
    browser.wait_for("#task-list").await;

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
    assert_eq!(
        browser
            .script("return document.getElementById('quick-add-text').getAttribute('aria-invalid');")
            .await,
        json!("true")
    );
    // Changing the text clears the stale error at once; the preview speaks for the new text.
    browser.type_into("#quick-add-text", "\u{E003}\u{E003}2").await;
    browser.until("the error gone", "!document.getElementById('quick-add-error')").await;
    assert_eq!(
        browser
            .script("return document.getElementById('quick-add-text').getAttribute('aria-invalid');")
            .await,
        json!(null)
    );
    browser.until("the new preview", "document.querySelector('#quick-add-preview .preview-chips')").await;
    assert!(browser.text("#quick-add-preview").await.contains("Lunch"));
    browser.script("document.getElementById('quick-add-text').value = '';").await;

    // Ticking completes it: it leaves Upcoming for the Done group, whose count follows.
    browser.click("#group-upcoming .task input[type=checkbox]").await;
    browser.until("the task done", "document.getElementById('count-done')?.textContent === '1'").await;
    assert!(browser.find("#group-upcoming .task").await.is_none(), "no longer upcoming");

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
    browser.until("the finished run", "document.querySelector('#runs-body .run .state-succeeded')").await;
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
    // It renders as Markdown while it streams, not only at the end.
    browser
        .until(
            "Markdown while streaming",
            "document.querySelector('.bubble.role-assistant .markdown.streaming strong')",
        )
        .await;
    let partial = browser.text(".bubble.role-assistant .markdown").await;
    assert!(!partial.is_empty() && !partial.contains("Walk"), "part of the reply: {partial}");
    browser.screenshot("chat-streaming").await;

    // A reload mid-reply picks the stream up where it is, and the end renders as Markdown.
    let here = browser.script("return location.href;").await;
    browser.go(here.as_str().unwrap()).await;
    browser
        .until(
            "the finished reply",
            "document.querySelector('.bubble.role-assistant.state-done .markdown strong')",
        )
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

/// Sets the size of the page's viewport (the window's inner size) for a layout check.
async fn chat_viewport(browser: &Browser, width: i64, height: i64) {
    browser.cmd(reqwest::Method::POST, "/window/rect", json!({"width": width, "height": height})).await;
    // The window's frame (if any) takes room: grow it until the page itself is `width` wide.
    let inner = browser.script("return [window.innerWidth, window.innerHeight];").await;
    let (iw, ih) = (inner[0].as_i64().unwrap(), inner[1].as_i64().unwrap());
    if iw != width || ih != height {
        let rect = json!({"width": 2 * width - iw, "height": 2 * height - ih});
        browser.cmd(reqwest::Method::POST, "/window/rect", rect).await;
    }
    let inner = browser.script("return window.innerWidth;").await;
    assert_eq!(inner, json!(width), "the viewport could not be set to {width} px");
}

/// The layout faults a person sees on the chat pages: a page that scrolls sideways, text
/// wider than its box, header items drawn over each other. Returns what is wrong (empty: fine).
const CHAT_LAYOUT_FAULTS: &str = r#"
const faults = [];
const doc = document.documentElement;
if (doc.scrollWidth > window.innerWidth) faults.push(`the page scrolls sideways: ${doc.scrollWidth} > ${window.innerWidth}`);
const shown = el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
  return r.width > 1 && r.height > 1 && s.visibility !== 'hidden' && !el.closest('.visually-hidden'); };
const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
// Nothing reaches past the right edge of the viewport.
for (const el of document.querySelectorAll('.chat *')) {
  if (!shown(el) || el.closest('pre, .table-scroll, .markdown table')) continue;
  const r = el.getBoundingClientRect();
  if (r.right > window.innerWidth + 1) faults.push(`${name(el)} reaches ${Math.round(r.right)} px`);
}
// The header's leaves (title, agent, buttons) do not overlap.
const head = document.querySelector('.chat-head');
if (head) {
  const leaves = [...head.querySelectorAll('*')].filter(el => shown(el) && (el.children.length === 0 || /^(INPUT|BUTTON|SELECT|SUMMARY|H1)$/.test(el.tagName)))
    .filter(el => !el.closest('details:not([open]) > :not(summary)'));
  for (let i = 0; i < leaves.length; i++) for (let j = i + 1; j < leaves.length; j++) {
    const [a, b] = [leaves[i], leaves[j]];
    if (a.contains(b) || b.contains(a)) continue;
    const [p, q] = [a.getBoundingClientRect(), b.getBoundingClientRect()];
    if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1)
      faults.push(`${name(a)} "${a.textContent.trim()}" overlaps ${name(b)} "${b.textContent.trim()}"`);
  }
}
return faults;
"#;

#[tokio::test]
async fn the_chat_pages_fit_a_phone_and_a_desktop() {
    use crate::fakes::openai::{Reply, ScriptedModel};
    let Some(browser) = Browser::start().await else { return };
    let long_reply: &'static str = "Here is the link: https://example.org/a/very/long/path/that/does/not/break/anywhere/at/all/because/it/is/one/token/and/goes/on/and/on?with=query&and=more\n\nAnd a word: Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaftsvorsitzender.\n\n```\nlet a_very_long_line_of_code = some_function_with_a_long_name(argument_one, argument_two, argument_three, argument_four);\n```\n\n| Column one | Column two | Column three | Column four | Column five | Column six |\n|---|---|---|---|---|---|\n| a fairly long cell | another long cell | and another one | more text here | and here | last |\n";
    let model = ScriptedModel::start(vec![
        Reply::Tools(vec![(0, "c1", "add_task", "{\"text\": \"Buy milk tomorrow +home\"}")]),
        Reply::Text(vec![long_reply]),
    ])
    .await;
    let app = spawn_app().await;
    browser.set_up(&app).await;
    let api = app.api(&app.api_token().await);
    for name in ["default", "research-assistant", "m"] {
        let (status, body) = api
            .post("/agents", json!({"name": name, "kind": "llm", "url": model.url, "model": "scripted"}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let title =
        "Please plan a long weekend in the mountains with my whole family including grandparents and the dog";
    let (status, r) = api.post("/chat", json!({"message": title, "agent": "research-assistant"})).await;
    assert_eq!(status, 200, "{r}");
    let conversation = format!("{}/chat/{}", app.address, r["conversation_id"]);

    for (width, height, label) in [(1366, 900, "desktop"), (390, 844, "phone")] {
        chat_viewport(&browser, width, height).await;

        // A new conversation: a full-width message box with a small agent picker.
        browser.go(&format!("{}/chat", app.address)).await;
        browser.wait_for("#composer-text").await;
        browser.screenshot(&format!("chat-new-{label}")).await;
        let faults = browser.script(CHAT_LAYOUT_FAULTS).await;
        assert_eq!(faults, json!([]), "/chat at {width} px");
        let sizes = browser
            .script(
                "const w = s => document.querySelector(s).getBoundingClientRect();
                 return [w('#composer').width, w('#composer-text').width, w('#chat-agent').width];",
            )
            .await;
        let (form, text, agent) =
            (sizes[0].as_f64().unwrap(), sizes[1].as_f64().unwrap(), sizes[2].as_f64().unwrap());
        assert!(text >= form * 0.95, "the message box is {text} px of the composer's {form} px ({label})");
        assert!(agent <= form * 0.6, "the agent picker is {agent} px of the composer's {form} px ({label})");

        // A conversation: the header fits, nothing in the messages runs off the page.
        browser.go(&conversation).await;
        browser.wait_for(".tool-card").await;
        browser.until("the reply", "document.querySelector('.bubble.role-assistant.state-done table')").await;
        browser.screenshot(&format!("chat-conversation-{label}")).await;
        let faults = browser.script(CHAT_LAYOUT_FAULTS).await;
        assert_eq!(faults, json!([]), "a conversation at {width} px");
        // Rename opens a form under the header that fits too.
        browser.click(".chat-rename summary").await;
        browser.until("the rename form", "document.activeElement.id === 'chat-title'").await;
        let faults = browser.script(CHAT_LAYOUT_FAULTS).await;
        assert_eq!(faults, json!([]), "renaming at {width} px");
        browser.script("document.documentElement.dataset.theme = 'dark';").await;
        browser.screenshot(&format!("chat-rename-dark-{label}")).await;
    }
    browser.assert_clean_console().await;
    browser.cmd(reqwest::Method::DELETE, "", json!({})).await;
}

/// What the layout check reports for the open page: a sentence per fault.
const LAYOUT_CHECK: &str = r#"
const problems = [];
const vw = window.innerWidth;
if (document.documentElement.scrollWidth > vw) {
  problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px of content in ${vw} px`);
}
const texts = [];
// The part of a text box not clipped away by a box around it (a clamp, an ellipsis).
const visiblePart = (el, drawn) => {
  let box = { left: drawn.left, right: drawn.right, top: drawn.top, bottom: drawn.bottom };
  for (let p = el; p && p !== document.body; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
    const c = p.getBoundingClientRect();
    box = { left: Math.max(box.left, c.left), right: Math.min(box.right, c.right),
            top: Math.max(box.top, c.top), bottom: Math.min(box.bottom, c.bottom) };
  }
  return box.right - box.left > 1 && box.bottom - box.top > 1 ? box : null;
};
const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
  (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
// Inside a box that scrolls on purpose (code blocks, wide previews), overflow is the design.
const scrolls = (el) => {
  for (let p = el; p && p !== document.body; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (['auto', 'scroll'].includes(s.overflowX)) return true;
  }
  return false;
};
for (const el of document.body.querySelectorAll('*')) {
  if (['INPUT', 'TEXTAREA', 'SELECT', 'OPTION', 'SCRIPT', 'STYLE', 'svg', 'path'].includes(el.tagName)) continue;
  const hasText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== '');
  if (!hasText) continue;
  const s = getComputedStyle(el);
  if (s.display === 'none' || s.visibility === 'hidden' || el.getClientRects().length === 0) continue;
  if (el.closest('details:not([open]) > :not(summary)')) continue;
  if (scrolls(el)) continue;
  const r = el.getBoundingClientRect();
  // Text for screen readers only (clipped to a pixel), and skip links parked off the left edge.
  if ((r.width <= 1 && r.height <= 1) || r.right <= 0) continue;
  const text = el.textContent.trim().slice(0, 40);
  // Cut off by the screen's edge.
  if (r.right > vw + 1 || r.left < -1) {
    problems.push(`${name(el)} ("${text}") runs off the screen: ${Math.round(r.left)}..${Math.round(r.right)} of ${vw} px`);
    continue;
  }
  // Text wider than its own box (an ellipsis is a deliberate cut).
  if (s.display !== 'inline' && s.textOverflow !== 'ellipsis' && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
    problems.push(`${name(el)} ("${text}") overflows its box: ${el.scrollWidth} px of text in ${el.clientWidth} px`);
  }
  // Where its own text is drawn, to find text drawn over other text.
  for (const n of el.childNodes) {
    if (n.nodeType !== 3 || n.textContent.trim() === '') continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    for (const drawn of range.getClientRects()) {
      const box = visiblePart(el, drawn);
      if (box) texts.push({ el, box, text });
    }
  }
}
for (let i = 0; i < texts.length; i++) {
  for (let j = i + 1; j < texts.length; j++) {
    const a = texts[i], b = texts[j];
    if (a.el === b.el || a.el.contains(b.el) || b.el.contains(a.el)) continue;
    const w = Math.min(a.box.right, b.box.right) - Math.max(a.box.left, b.box.left);
    const h = Math.min(a.box.bottom, b.box.bottom) - Math.max(a.box.top, b.box.top);
    if (w > 2 && h > 2) {
      problems.push(`${name(a.el)} ("${a.text}") and ${name(b.el)} ("${b.text}") are drawn over each other`);
    }
  }
}
return problems;
"#;

/// The net for every page: at a phone's width and a desktop's, logged in and with data, no page
/// scrolls sideways, no text overflows its box or the screen, and the console shows no error
/// but an expected 4xx. Screenshots of every page are saved in the test output folder
/// (`target/tmp/screenshots/`); a failure names them.
#[tokio::test]
async fn every_page_fits_a_phone_and_a_desktop() {
    let Some(browser) = Browser::start().await else { return };
    let model = crate::fakes::openai::ScriptedModel::start(vec![
        crate::fakes::openai::Reply::Tools(vec![(
            0,
            "call_1",
            "add_task",
            r#"{"text": "Buy milk tomorrow +home @shop"}"#,
        )]),
        crate::fakes::openai::Reply::Text(vec![
            "Added it. Here is a **plan** with a link https://example.com/a/very/long/path/that/keeps/going/and/going/without/any/break/at/all and code:\n\n",
            "```\nlet a_very_long_line_of_code = compute(this, that, and_the_other_thing, and_yet_more_arguments, until_it_is_far_too_wide);\n```\n",
        ]),
    ])
    .await;
    let app = spawn_app().await;
    browser.set_up(&app).await;
    let api = app.api(&app.api_token().await);

    // Data that stresses layouts: long words, long titles, long URLs, every kind of row.
    let long_title = "Renew the passport ".repeat(60);
    let long_word = format!("Read {} today", "Donaudampfschifffahrtsgesellschaftskapitän".repeat(3));
    for text in [
        "Call mom tomorrow 5pm +family @phone p1",
        "Water plants every 3 days +home",
        "Pay rent every month on the 1st +home",
        long_title.as_str(),
        long_word.as_str(),
        "Overdue thing due:2020-01-01 +a_really_long_project_name_that_goes_on @somewhere_far_away",
    ] {
        let (status, body) = api.post("/tasks", json!({ "text": text })).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = api
        .post("/agents", json!({"name": "default", "kind": "llm", "url": model.url, "model": "scripted"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post(
            "/agents",
            json!({"name": "home-automation-hook", "kind": "webhook",
                   "url": "http://127.0.0.1:9/a/rather/long/webhook/path/with/a/token/abcdefghijklmnopqrstuvwxyz0123456789", "secret": "s3cret-s3cret"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // --- channels: the Ping run below goes to them, so Notifications shows where it went ---
    for body in [
        json!({"name": "phone-with-a-rather-long-channel-name", "kind": "ntfy", "url": "http://127.0.0.1:9/a/long/ntfy/server/path", "topic": "steward-alerts-for-the-whole-household", "token": "tk_x"}),
        json!({"name": "mail", "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": 9, "tls": "none", "from": "steward@example.org", "to": "someone.with.a.long.address@example.org", "receives": ["run_failures"]}),
        json!({"name": "browser-firefox-3fa9", "kind": "webpush", "endpoint": "http://127.0.0.1:9/wpush/v2/gAAAAABnZXhhbXBsZS1zdWJzY3JpcHRpb24tdG9rZW4tdGhhdC1pcy1sb25n", "p256dh": "BI5TO2-gv3tGJbswZnwB-2B--fi4qA_vWzAGKHAxh7Kjc-sdveAzGDZtBp-DpvWQAFPHNjPLBBshxV4ahsH0ALQ", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}),
    ] {
        let (status, made) = api.post("/channels", body).await;
        assert_eq!(status, 201, "{made}");
    }
    // --- end channels ---
    let mut schedule = 0;
    for body in [
        json!({"name": "Morning digest of everything that happened overnight", "prompt": "Summarise my day", "cron": "0 9 * * 1-5", "agent": "notify"}),
        json!({"name": "Stretch", "prompt": "Time to stretch", "every": "2h", "agent": "notify"}),
        json!({"name": "Tax reminder", "prompt": "File taxes", "at": "2030-04-01T09:00:00Z", "agent": "home-automation-hook", "skip_validation": true}),
    ] {
        let (status, made) = api.post("/schedules", body).await;
        assert_eq!(status, 201, "{made}");
        schedule = made["id"].as_i64().unwrap();
    }
    let (status, made) = api
        .post("/schedules", json!({"name": "Ping", "prompt": "Ping", "every": "1d", "agent": "notify"}))
        .await;
    assert_eq!(status, 201, "{made}");
    let ping = made["id"].as_i64().unwrap();
    let (status, _) = api.post(&format!("/schedules/{ping}/run"), json!({})).await;
    assert_eq!(status, 202);
    // Calendar: events with long titles and places, overlapping, all-day ranges, another zone.
    for text in [
        "Quarterly planning with the whole extended leadership team and guests tomorrow 10:00-11:30 at Conference room Donaudampfschifffahrt",
        "Dentist tomorrow 10:30 for 1h at Main St",
        "Call with the New York office tomorrow 9:00 New York",
        "Standup every weekday 9:30 for 15m",
        "Team offsite in the mountains with a very long name dec 20-27",
        "Mom's birthday every year on jun 3",
    ] {
        crate::calendar_page::add_event_at(&app, chrono::Utc::now(), json!({ "text": text }));
    }
    let (status, chat) = api.post("/chat", json!({ "message": "Add milk to my list, please" })).await;
    assert_eq!(status, 200, "{chat}");
    let conversation = chat["conversation_id"].as_i64().unwrap();
    // More notifications than a page holds, so that the pager shows (issue 12).
    {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let mut conn = db.conn().unwrap();
        for i in 1..=60 {
            let body = format!("Backup {i} finished; {}", "every file was copied. ".repeat(i % 7));
            let n = steward::notifications::NewNotification {
                title: format!("Nightly backup {i}"),
                body,
                level: if i % 9 == 0 { "error" } else { "info" },
                run_id: None,
                schedule_id: None,
                ..Default::default()
            };
            steward::notifications::add(&mut conn, &n, chrono::Utc::now()).unwrap();
        }
    }
    // An MCP client's call waiting for the person, on the Notifications page.
    let held = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "cancel_schedule", "arguments": {"id": ping}}});
    let res = api.client.post(format!("{}/mcp", app.address)).json(&held).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // A calendar feed, and a subscription whose feed is down (its error shows on the page).
    {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let mut conn = db.conn().unwrap();
        let options = steward::calendar::feeds::FeedOptions {
            include_tasks: true,
            include_schedules: true,
            schedule_days: None,
        };
        steward::calendar::feeds::create(
            &mut conn,
            "Phone of a rather long name",
            &options,
            chrono::Utc::now(),
        )
        .unwrap();
        let ctx = steward::services::Ctx {
            now: chrono::Utc::now(),
            tz: chrono_tz::Europe::Berlin,
            actor: steward::services::Actor::Person,
        };
        let input = steward::calendar::subscriptions::SubscribeInput {
            name: "Holidays in a country with a long name".into(),
            url: "http://127.0.0.1:9/calendar/ical/a-very-long-secret-address-0123456789abcdef/basic.ics"
                .into(),
            ..Default::default()
        };
        steward::calendar::subscriptions::subscribe(&mut conn, &ctx, &input).unwrap();
    }
    // --- action links: a reminder with its buttons on the Notifications page, and its signed
    // one-click links: one to use (act.js presses it at once), one used already, one forged ---
    let (act_path, used_path, act_task, act_note) = {
        let (status, task) = api
            .post(
                "/tasks",
                json!({"text": "Call the insurance company about the rather long claim tomorrow 10:00"}),
            )
            .await;
        assert_eq!(status, 201, "{task}");
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let mut conn = db.conn().unwrap();
        let n = steward::notifications::NewNotification {
            title: task["title"].as_str().unwrap().into(),
            body: "Due tomorrow at 10:00 (in 20 h)".into(),
            level: "info",
            subject: Some(format!("task:{}", task["id"])),
            ..Default::default()
        };
        let n = steward::notifications::add(&mut conn, &n, chrono::Utc::now()).unwrap();
        let links = steward::notify::actions::links(
            &mut conn,
            n.id,
            n.subject.as_deref(),
            n.created_at,
            &app.address,
        )
        .unwrap();
        let path = |label: &str| {
            let url = &links.iter().find(|a| a.label == label).unwrap().url;
            url.strip_prefix(&app.address).unwrap().to_string()
        };
        (path("Done"), path("Snooze 1 h"), task["id"].as_i64().unwrap(), n.id)
    };
    let res = reqwest::Client::new().post(format!("{}{used_path}", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // --- end action links ---
    // --- two factor ---
    // The second factor's setup page, half-way: its QR code and key on show.
    browser.go(&format!("{}/settings/2fa", app.address)).await;
    browser.click("form[action='/settings/2fa/start'] button").await;
    browser.wait_for("figure.qr svg").await;
    // --- end two factor ---
    let folder = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&folder).unwrap();
    let pages = [
        ("today", "/".to_string()),
        ("context-rules", "/settings/context".to_string()),
        ("tasks", "/tasks".to_string()),
        ("chat", "/chat".to_string()),
        ("conversation", format!("/chat/{conversation}")),
        ("schedules", "/schedules".to_string()),
        ("schedule-edit", format!("/schedules/{schedule}/edit")),
        ("schedule-delete", format!("/schedules/{schedule}/delete")),
        ("schedule-runs", format!("/schedules/{ping}/runs")),
        ("runs", "/runs".to_string()),
        ("agents", "/agents".to_string()),
        ("agent-edit", "/agents/home-automation-hook/edit".to_string()),
        ("channels", "/channels".to_string()),
        ("channel-add", "/channels?kind=email".to_string()),
        ("channel-edit", "/channels/phone-with-a-rather-long-channel-name/edit".to_string()),
        ("channel-edit-push", "/channels/browser-firefox-3fa9/edit".to_string()),
        ("notifications", "/notifications".to_string()),
        ("notifications-older", "/notifications?page=2".to_string()),
        ("activity", "/activity".to_string()),
        ("settings", "/settings".to_string()),
        ("calendar-sharing", "/settings/calendars".to_string()),
        ("two-factor-setup", "/settings/2fa".to_string()),
        ("not-found", "/no/such/page".to_string()),
        ("calendar-month", "/calendar?view=month".to_string()),
        ("calendar-week", "/calendar?view=week".to_string()),
        ("calendar-agenda", "/calendar?view=agenda".to_string()),
        ("projects", "/projects".to_string()),
        ("briefings", "/briefings?preview=morning".to_string()),
        ("action-link", act_path.clone()),
        ("action-link-used", used_path.clone()),
        ("action-link-forged", "/a/bm90LWEtbGluaw.Zm9yZ2Vk".to_string()),
    ];
    let mut problems = Vec::new();
    for (width, height) in [(390, 844), (1366, 900)] {
        browser.cmd(reqwest::Method::POST, "/window/rect", json!({"width": width, "height": height})).await;
        for (name, path) in &pages {
            browser.go(&format!("{}{path}", app.address)).await;
            browser.until("the page loaded", "document.readyState === 'complete'").await;
            // htmx settles (the bell, lazy rows) within a moment.
            tokio::time::sleep(Duration::from_millis(300)).await;
            save_screenshot(&browser, &folder.join(format!("{name}-{width}.png"))).await;
            let found = browser.script(LAYOUT_CHECK).await;
            for p in found.as_array().into_iter().flatten() {
                problems.push(format!("{path} at {width} px: {}", p.as_str().unwrap_or_default()));
            }
            for message in browser.console_errors().await {
                if !message.contains("the server responded with a status of 4") {
                    problems.push(format!("{path} at {width} px: console: {message}"));
                }
            }
        }
    }
    // The one-click link's page was pressed by act.js in the browser: the task is done.
    let (_, task) = api.get(&format!("/tasks/{act_task}")).await;
    assert_eq!(task["status"], "done", "act.js submits the link's form at once: {task}");
    // A toast's Snooze button sends what this sends (app.js): the page's CSRF header comes from
    // <body>, and the answer's toast says what happened.
    browser.go(&format!("{}/tasks", app.address)).await;
    browser.until("htmx loaded", "document.readyState === 'complete' && !!window.htmx").await;
    browser
        .script(&format!(
            "htmx.ajax('POST', '/notifications/{act_note}/actions/snooze', {{source: document.body, swap: 'none', values: {{snooze: '10m'}}}}); return true;"
        ))
        .await;
    browser
        .until(
            "the snooze's toast",
            "document.getElementById('toasts').textContent.includes('Snoozed until')",
        )
        .await;
    // Signed out: the login page.
    browser.cmd(reqwest::Method::DELETE, "/cookie", json!({})).await;
    for (width, height) in [(390, 844), (1366, 900)] {
        browser.cmd(reqwest::Method::POST, "/window/rect", json!({"width": width, "height": height})).await;
        browser.go(&format!("{}/login", app.address)).await;
        browser.until("the page loaded", "document.readyState === 'complete'").await;
        save_screenshot(&browser, &folder.join(format!("login-{width}.png"))).await;
        for p in browser.script(LAYOUT_CHECK).await.as_array().into_iter().flatten() {
            problems.push(format!("/login at {width} px: {}", p.as_str().unwrap_or_default()));
        }
    }
    // --- two factor ---
    // The login's second step: turn the second factor on (a code from the key the setup page
    // showed), then sign in with the password and look at the code form.
    browser.go(&format!("{}/login", app.address)).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.wait_for("#quick-add-text").await;
    browser.go(&format!("{}/settings/2fa", app.address)).await;
    let secret = browser.script("return document.querySelector('.secret-key').textContent").await;
    let secret: String = secret.as_str().unwrap_or_default().split_whitespace().collect();
    let key = steward::auth::totp::base32_decode(&secret).unwrap();
    let now = chrono::Utc::now().timestamp();
    browser.type_into("#code", &steward::auth::totp::code_at(&key, now, 6)).await;
    browser.click("form[action='/settings/2fa/confirm'] button").await;
    browser.wait_for(".recovery-codes").await;
    browser.cmd(reqwest::Method::DELETE, "/cookie", json!({})).await;
    browser.go(&format!("{}/login", app.address)).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.wait_for("#code").await;
    for (width, height) in [(390, 844), (1366, 900)] {
        browser.cmd(reqwest::Method::POST, "/window/rect", json!({"width": width, "height": height})).await;
        save_screenshot(&browser, &folder.join(format!("login-code-{width}.png"))).await;
        for p in browser.script(LAYOUT_CHECK).await.as_array().into_iter().flatten() {
            problems.push(format!("/login/2fa at {width} px: {}", p.as_str().unwrap_or_default()));
        }
    }
    // --- end two factor ---
    assert!(
        problems.is_empty(),
        "{} layout problems (screenshots in {}):\n{}",
        problems.len(),
        folder.display(),
        problems.join("\n")
    );
    browser.cmd(reqwest::Method::DELETE, "", json!({})).await;
}

async fn save_screenshot(browser: &Browser, path: &std::path::Path) {
    use base64::Engine;
    let png = browser.cmd(reqwest::Method::GET, "/screenshot", json!({})).await;
    let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap_or_default()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The Tasks page on a phone and on a desktop, light and dark: nothing scrolls sideways, long
/// titles are clamped and open in place, the edit form shows the due in words with a picker.
#[tokio::test]
async fn the_tasks_page_fits_a_phone_and_long_titles_clamp() {
    let Some(browser) = Browser::start().await else { return };
    let app = spawn_app().await;
    browser.set_up(&app).await;
    let api = app.api(&app.api_token().await);
    let long = format!("Read {} and {}", "the very long report ".repeat(175), "x".repeat(200));
    assert!(long.chars().count() > 3800);
    let project = format!("+{}", "averyveryverylongprojectname".repeat(3));
    for text in [
        long.as_str(),
        &format!("Plan the trip {project} @{}", "somewhere".repeat(6)),
        "Call mom fri 5pm +family @phone p1",
        "Water plants every 3 days",
    ] {
        let (status, _) = api.post("/tasks", json!({ "text": text })).await;
        assert_eq!(status, 201);
    }
    for (width, height, name) in [(390, 844, "phone"), (1366, 900, "desktop")] {
        browser.cmd(reqwest::Method::POST, "/window/rect", json!({"width": width, "height": height})).await;
        for theme in ["light", "dark"] {
            browser.go(&format!("{}/tasks", app.address)).await;
            browser.wait_for("#task-list .task").await;
            browser.script(&format!("document.documentElement.dataset.theme = '{theme}';")).await;
            let wide = browser
                .script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
                .await;
            browser.screenshot(&format!("tasks-{name}-{theme}")).await;
            assert_eq!(wide, json!(0), "{name}: the page scrolls sideways by {wide} px");
        }
        // The long title takes a few lines, not the whole screen, until it is opened.
        let height = "document.querySelector('.long-title .clamp-title').getBoundingClientRect().height";
        let closed = browser.script(&format!("return {height};")).await.as_f64().unwrap();
        browser.script("window.scrollTo(0, document.querySelector('.long-title').getBoundingClientRect().top + scrollY - 320);").await;
        browser.screenshot(&format!("tasks-{name}-long-title")).await;
        assert!(closed < 100.0, "{name}: clamped to a few lines, not {closed} px");
        browser.click(".long-title summary").await;
        browser.script("document.querySelector('.long-title').scrollIntoView();").await;
        let open = browser.script(&format!("return {height};")).await.as_f64().unwrap();
        assert!(open > 4.0 * closed, "{name}: opened to its whole length ({open} px)");
        browser.screenshot(&format!("tasks-{name}-long-title-open")).await;
    }

    // The edit form: the due in the person's zone, what it accepts, and a date picker.
    browser.cmd(reqwest::Method::POST, "/window/rect", json!({"width": 390, "height": 844})).await;
    browser.go(&format!("{}/tasks?q=Call", app.address)).await;
    browser.click("#task-list .task button[title=Edit]").await;
    browser.wait_for(".task.editing input[name=due]").await;
    let due = browser.script("return document.querySelector('.task.editing input[name=due]').value;").await;
    let due = due.as_str().unwrap().to_string();
    assert!(due.ends_with(" 17:00") && !due.contains('T'), "{due}");
    browser.until("the picker shown", "!document.querySelector('.task.editing .date-pick').hidden").await;
    // Picking a day keeps the time typed.
    browser
        .script("var p = document.querySelector('.task.editing .date-pick'); p.value = '2031-05-02'; p.dispatchEvent(new Event('change', {bubbles: true}));")
        .await;
    let due = browser.script("return document.querySelector('.task.editing input[name=due]').value;").await;
    assert_eq!(due, json!("2031-05-02 17:00"));
    let wide = browser
        .script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        .await;
    browser.script("document.querySelector('.task.editing').scrollIntoView();").await;
    browser.screenshot("tasks-phone-edit").await;
    assert_eq!(wide, json!(0), "the edit form fits a phone");
    browser.click(".task.editing button[type=submit]").await;
    browser.until("saved", "!document.querySelector('.task.editing')").await;
    assert!(browser.text("#task-list").await.contains("2 May 2031 17:00"));

    browser.assert_clean_console().await;
    browser.cmd(reqwest::Method::DELETE, "", json!({})).await;
}

// --- Letta conversations (issue 11) -----------------------------------------------------------

/// Stop's note while Letta works, then Ask again with its note, fit a phone and a desktop.
#[tokio::test]
async fn a_letta_conversation_fits_a_phone_and_a_desktop() {
    use crate::fakes::receiver::{ADA, Behaviour, Receiver};
    let Some(browser) = Browser::start().await else { return };
    let letta = Receiver::start(Behaviour {
        letta_slow_first: 2,
        letta_delay: Duration::from_secs(3),
        ..Behaviour::default()
    })
    .await;
    let app = spawn_app().await;
    browser.set_up(&app).await;
    crate::letta::store_agent(&app, "letta-assistant", &letta.url, ADA, 30);
    let api = app.api(&app.api_token().await);
    for (width, height, label) in [(1366, 900, "desktop"), (390, 844, "phone")] {
        chat_viewport(&browser, width, height).await;
        let client = api.client.clone();
        let url = format!("{}/chat", api.base);
        let sending = tokio::spawn(async move {
            let body = json!({"message": "What is on my plate this week?", "agent": "letta-assistant"});
            client.post(url).json(&body).send().await.unwrap().json::<Value>().await.unwrap()
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, list) = api.get("/conversations").await;
        let page = format!("{}/chat/{}", app.address, list["conversations"][0]["id"]);
        browser.go(&page).await;
        browser.wait_for("#chat-stop-hint").await;
        browser.screenshot(&format!("letta-stop-{label}")).await;
        assert_eq!(browser.script(CHAT_LAYOUT_FAULTS).await, json!([]), "Stop at {width} px");
        sending.await.unwrap();
        browser.go(&page).await;
        browser.wait_for("#chat-regenerate").await;
        assert_eq!(browser.text("#chat-regenerate").await, "Ask again");
        browser.screenshot(&format!("letta-ask-again-{label}")).await;
        assert_eq!(browser.script(CHAT_LAYOUT_FAULTS).await, json!([]), "Ask again at {width} px");
    }
    browser.assert_clean_console().await;
    browser.cmd(reqwest::Method::DELETE, "", json!({})).await;
}

/// The Calendar in a real browser, on a fixed clock (Monday 23 November 2026, 08:00 in Berlin):
/// the month, week and agenda views with their keys, quick-add with its preview, one occurrence
/// of a recurring event edited from the week, a delete undone, and a scheduled prompt's coming
/// firings drawn on the grid. Screenshots at a phone's and a desktop's width, light and dark.
#[tokio::test]
async fn the_calendar_works_in_a_real_browser() {
    let Some(browser) = Browser::start().await else { return };
    let clock = steward::clock::FixedClock::new("2026-11-23T07:00:00Z".parse().unwrap());
    let mut app = spawn_app_at(&clock, |_| {}).await;
    browser.set_up(&app).await;
    let api = app.api(&app.api_token().await);
    let now = "2026-11-23T07:00:00Z".parse().unwrap();
    let add = |body| crate::calendar_page::add_event_at(&app, now, body);
    add(
        json!({"title": "Standup", "start": "2026-11-24T09:30", "end": "2026-11-24T09:45", "rrule": "FREQ=DAILY;COUNT=5"}),
    );
    add(json!({"title": "Trip to the sea", "start": "2026-11-27", "end": "2026-11-30", "all_day": true}));
    let (status, body) = api
        .post("/schedules", json!({"name": "Morning digest", "prompt": "Summarise my day", "cron": "0 8 * * *", "agent": "notify"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api.post("/tasks", json!({"text": "Pay the rent on wed"})).await;
    assert_eq!(status, 201, "{body}");
    let base = format!("{}/calendar", app.address);

    // Month: the series' five days, the trip, the prompt's firings and the task's due day.
    browser.cmd(reqwest::Method::POST, "/window/rect", json!({"width": 1366, "height": 900})).await;
    browser.go(&format!("{base}?view=month&date=2026-11-23")).await;
    browser.wait_for(".month").await;
    let count = |css: &str| format!("return document.querySelectorAll('{css}').length;");
    assert_eq!(browser.script(&count(".month .ev-timed")).await, json!(5), "five standups");
    assert!(browser.text(".month").await.contains("Trip to the sea"));
    assert!(browser.text(".month").await.contains("Pay the rent"));
    let firings = browser.script(&count(".month .ev-firing")).await.as_i64().unwrap();
    assert!(firings >= 7, "the digest fires every morning from tomorrow: {firings}");
    assert!(browser.text(".month .ev-firing").await.contains("Morning digest"));

    // Keys: w, a, m switch views (the URL follows), arrows move, t comes back.
    browser.script("window.notReloaded = true;").await;
    browser.click(".cal-title").await;
    browser.type_into("body", "w").await;
    browser
        .until("the week", "document.querySelector('.tgrid') && location.search.includes('view=week')")
        .await;
    assert_eq!(browser.script(&count(".tgrid-col")).await, json!(7));
    assert_eq!(browser.script(&count(".tgrid-col .ev-timed")).await, json!(5));
    // The firing sits on the grid at 08:00, and leads to its schedule.
    let firing = browser
        .script("return document.querySelector('.tgrid-col .ev-firing').closest('.tgrid-ev').className;")
        .await;
    assert!(firing.as_str().unwrap().contains("t-96"), "08:00 is slot 96: {firing}");
    let href =
        browser.script("return document.querySelector('.tgrid .ev-firing').getAttribute('href');").await;
    assert!(href.as_str().unwrap().starts_with("/schedules"), "{href}");
    assert!(browser.find(".tgrid-col.today .now-line").await.is_some(), "the now-line on today");
    browser.type_into("body", "\u{E014}").await; // →
    browser.until("the next week", "location.search.includes('date=2026-11-30')").await;
    browser.type_into("body", "t").await;
    browser.until("back to today", "location.search.includes('date=2026-11-23')").await;
    browser.type_into("body", "a").await;
    browser
        .until("the agenda", "document.querySelector('.agenda') && location.search.includes('view=agenda')")
        .await;
    assert!(browser.text(".agenda").await.contains("Standup"));
    assert_eq!(browser.script("return window.notReloaded === true;").await, json!(true));

    // Quick-add: n focuses it, the preview reads the text, Enter adds it in place.
    browser.type_into("body", "n").await;
    browser.until("n to focus quick-add", "document.activeElement.id === 'quick-add-text'").await;
    browser.type_into("#quick-add-text", "Dentist fri 3pm for 1h at Main St").await;
    browser.until("the preview", "document.querySelector('#quick-add-preview .preview-chips')").await;
    let preview = browser.text("#quick-add-preview").await;
    assert!(
        preview.contains("Dentist") && preview.contains("15:00 – 16:00") && preview.contains("Main St"),
        "{preview}"
    );
    browser.type_into("#quick-add-text", "\u{E007}").await;
    browser.until("the new event", "document.querySelector('.agenda').textContent.includes('Dentist')").await;
    browser.until("an empty quick-add", "document.getElementById('quick-add-text').value === ''").await;
    // A bad date is named next to the field.
    browser.type_into("#quick-add-text", "Lunch feb 30\u{E007}").await;
    browser.until("the inline error", "document.getElementById('quick-add-error')").await;
    assert!(browser.text("#quick-add-error").await.contains("February has no day 30"));
    browser
        .script("document.getElementById('quick-add-text').value = ''; document.activeElement.blur();")
        .await;

    // Edit one occurrence of the series from the week: Wednesday's standup moves to 10:00.
    browser.go(&format!("{base}?view=week&date=2026-11-23")).await;
    browser.wait_for(".tgrid").await;
    browser.click(".tgrid-col[data-date='2026-11-25'] .ev-timed").await;
    browser.until("the dialog", "document.getElementById('event-dialog').open").await;
    assert!(browser.text(".ev-scope").await.contains("This occurrence"));
    browser.screenshot("calendar-dialog-1366").await;
    browser
        .script(
            "const f = document.querySelector('.ev-form');
             f.title.value = 'Standup, later';
             f.start.value = '2026-11-25T10:00'; f.end.value = '2026-11-25T10:15';",
        )
        .await;
    browser.click(".ev-form button.primary").await;
    browser.until("the dialog closed", "!document.getElementById('event-dialog').open").await;
    browser.until("the moved one", "document.querySelector('.tgrid-col[data-date=\"2026-11-25\"]').textContent.includes('Standup, later')").await;
    assert_eq!(
        browser.script(&count(".tgrid-col .ev-timed")).await,
        json!(6),
        "five standups and the dentist"
    );
    let moved = browser
        .script("return document.querySelector('.tgrid-col[data-date=\"2026-11-25\"] .ev-timed').closest('.tgrid-ev').className;")
        .await;
    assert!(moved.as_str().unwrap().contains("t-120"), "10:00 is slot 120: {moved}");
    let thursday = browser.text(".tgrid-col[data-date='2026-11-26'] .ev-timed").await;
    assert!(
        thursday.contains("Standup") && !thursday.contains("later"),
        "the others keep theirs: {thursday}"
    );

    // Delete Thursday's occurrence, then Undo.
    browser.click(".tgrid-col[data-date='2026-11-26'] .ev-timed").await;
    browser.until("the dialog", "document.getElementById('event-dialog').open").await;
    browser.click(".ev-form .danger-button").await;
    browser.until("gone", "!document.querySelector('.tgrid-col[data-date=\"2026-11-26\"] .ev-timed')").await;
    browser.click("#toasts [data-undo] button").await;
    browser.until("back", "document.querySelector('.tgrid-col[data-date=\"2026-11-26\"] .ev-timed')").await;

    // A change made elsewhere (another tab) appears without a reload.
    browser.script("window.notReloaded = true;").await;
    let res = app.login_with(&app.client, PASSWORD).await;
    assert_eq!(res.status(), 303);
    app.refresh_csrf().await;
    let res = app.post_htmx("/calendar/events", &[("text", "Made elsewhere tue 14:00")]).await;
    assert_eq!(res.status(), 200);
    browser
        .until("the live event", "document.querySelector('.tgrid').textContent.includes('Made elsewhere')")
        .await;
    assert_eq!(browser.script("return window.notReloaded === true;").await, json!(true));

    // Pictures: month, week and agenda at a phone's and a desktop's width, light and dark.
    for (width, height, name) in [(390, 844, "390"), (1366, 900, "1366")] {
        browser.cmd(reqwest::Method::POST, "/window/rect", json!({"width": width, "height": height})).await;
        for theme in ["light", "dark"] {
            for view in ["month", "week", "agenda"] {
                browser.go(&format!("{base}?view={view}&date=2026-11-23")).await;
                browser.wait_for(&format!(".view-{view}")).await;
                browser.script(&format!("document.documentElement.dataset.theme = '{theme}';")).await;
                let wide = browser
                    .script(
                        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                    )
                    .await;
                browser.screenshot(&format!("calendar-{view}-{name}-{theme}")).await;
                assert_eq!(wide, json!(0), "{view} at {name} px scrolls sideways by {wide} px");
            }
        }
    }
    // A phone opening /calendar without a view gets the agenda.
    browser.cmd(reqwest::Method::POST, "/window/rect", json!({"width": 390, "height": 844})).await;
    browser.go(&base).await;
    browser
        .until(
            "the agenda on a phone",
            "document.querySelector('.agenda') && location.search.includes('view=agenda')",
        )
        .await;
    // The dialog on a phone: a recurring event's, light and dark; it fits.
    browser.click(".agenda .ev-timed").await;
    browser.until("the dialog", "document.getElementById('event-dialog').open").await;
    for theme in ["light", "dark"] {
        browser.script(&format!("document.documentElement.dataset.theme = '{theme}';")).await;
        browser.screenshot(&format!("calendar-dialog-390-{theme}")).await;
    }
    let wide = browser
        .script("const d = document.getElementById('event-dialog'); return d.scrollWidth - d.clientWidth;")
        .await;
    assert_eq!(wide, json!(0), "the dialog fits a phone");

    browser.assert_clean_console().await;
    browser.cmd(reqwest::Method::DELETE, "", json!({})).await;
}

// --- webpush ---
/// The browser side of notifications: the service worker registers at `/sw.js` with the whole
/// app as its scope (under the CSP) and shows a push as Steward builds it, with its actions;
/// the push section shows only with script; and with desktop
/// notifications on, a notification arriving over SSE while the tab is hidden becomes a system
/// notification (the `Notification` constructor is watched: headless Chromium shows none).
#[tokio::test]
async fn the_service_worker_registers_and_a_hidden_tab_shows_desktop_notifications() {
    let Some(browser) = Browser::start().await else { return };
    let app = spawn_app().await;
    browser.set_up(&app).await;
    let api = app.api(&app.api_token().await);

    browser
        .cmd(
            reqwest::Method::POST,
            "/permissions",
            json!({"descriptor": {"name": "notifications"}, "state": "granted"}),
        )
        .await;
    browser.go(&app.url("/channels")).await;
    browser.until("the push section", "!document.getElementById('push').hidden").await;
    let scope = browser
        .cmd(
            reqwest::Method::POST,
            "/execute/async",
            json!({"script": "var done = arguments[arguments.length - 1];
                navigator.serviceWorker.register('/sw.js', {scope: '/'})
                  .then(function () { return navigator.serviceWorker.ready; })
                  .then(function (r) { done(r.scope); }, function (e) { done('failed: ' + e); });",
                   "args": []}),
        )
        .await;
    assert_eq!(scope, json!(app.url("/")), "{:?}", browser.console().await);
    browser.assert_clean_console().await;
    // A push as Steward builds it, delivered to the worker by DevTools (no push service here):
    // the worker shows it with its action buttons and keeps where each leads.
    let message = steward::notify::send::Message {
        id: 41,
        title: "Stretch".into(),
        body: "Stand up and stretch".into(),
        level: "info".into(),
        link: None,
        created_at: 0,
        subject: None,
        actions: Vec::new(),
        priority: 3,
    };
    let actions = [
        steward::notify::webpush::Action {
            action: "done".into(),
            title: "Done".into(),
            url: app.url("/a/done"),
            method: Some("POST".into()),
        },
        steward::notify::webpush::Action {
            action: "open".into(),
            title: "Open".into(),
            url: app.url("/tasks"),
            method: None,
        },
    ];
    let payload = steward::notify::webpush::payload(&message, Some(&app.url("/notifications")), &actions);
    let cdp = |cmd: &str, params: Value| {
        browser.cmd(reqwest::Method::POST, "/goog/cdp/execute", json!({"cmd": cmd, "params": params}))
    };
    cdp("ServiceWorker.enable", json!({})).await;
    let script = "var done = arguments[arguments.length - 1];
        navigator.serviceWorker.ready.then(function (r) { return r.getNotifications(); }).then(function (l) {
          done(l.map(function (n) { return {title: n.title, body: n.body, tag: n.tag, data: n.data,
            actions: n.actions.map(function (a) { return a.action + ':' + a.title; })}; }));
        }, function (e) { done('failed: ' + e); });";
    // DevTools sometimes answers `{}` and drops the first push (a worker just activated): it is
    // sent again each second (one tag, so a second copy replaces the first).
    let data = String::from_utf8(payload).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempt = 0;
    let shown = loop {
        if attempt % 10 == 0 {
            let pushed = cdp(
                "ServiceWorker.deliverPushMessage",
                json!({"origin": app.url(""), "registrationId": "0", "data": data}),
            )
            .await;
            assert_eq!(pushed, json!({}), "delivered");
        }
        attempt += 1;
        let got =
            browser.cmd(reqwest::Method::POST, "/execute/async", json!({"script": script, "args": []})).await;
        if got.as_array().is_some_and(|a| !a.is_empty()) {
            break got[0].clone();
        }
        assert!(Instant::now() < deadline, "the worker showed nothing after {attempt} tries: {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shown["title"], "Stretch", "{shown}");
    assert_eq!(shown["body"], "Stand up and stretch");
    assert_eq!(shown["tag"], "steward-41");
    assert_eq!(shown["actions"], json!(["done:Done", "open:Open"]));
    assert_eq!(shown["data"]["url"], app.url("/notifications"));
    assert_eq!(shown["data"]["actions"][0]["method"], "POST");

    // The toggle asks for permission (granted here, as a person would) and remembers it.
    browser.go(&app.url("/notifications")).await;
    browser.until("the toggle", "!document.getElementById('desktop-notifications').hidden").await;
    browser.click("#desktop-toggle").await;
    browser
        .until(
            "the toggle on",
            "document.getElementById('desktop-toggle').getAttribute('aria-pressed') === 'true'",
        )
        .await;
    // A visible tab shows toasts only; a hidden one also a desktop notification.
    browser
        .script(
            "window.shown = [];
             var Real = window.Notification;
             window.Notification = function (title, options) { window.shown.push({title: title, options: options}); };
             window.Notification.permission = Real.permission;
             window.Notification.requestPermission = Real.requestPermission;
             return true;",
        )
        .await;
    let (_, s) = api
        .post("/schedules", json!({"prompt": "Seen while visible", "agent": "notify", "cron": "0 9 * * *"}))
        .await;
    api.post(&format!("/schedules/{}/run", s["id"]), json!({})).await;
    browser.until("a toast", "document.querySelector('#toasts .toast')").await;
    assert_eq!(browser.script("return window.shown.length;").await, json!(0));
    browser
        .script("Object.defineProperty(document, 'hidden', {configurable: true, get: function () { return true; }}); return true;")
        .await;
    let (_, s) = api
        .post("/schedules", json!({"prompt": "Seen while away", "agent": "notify", "cron": "0 9 * * *"}))
        .await;
    api.post(&format!("/schedules/{}/run", s["id"]), json!({})).await;
    browser.until("a desktop notification", "window.shown.length === 1").await;
    let shown = browser.script("return window.shown[0];").await;
    assert_eq!(shown["options"]["body"], "Seen while away", "{shown}");
    assert!(shown["options"]["tag"].as_str().unwrap().starts_with("steward-"), "{shown}");
    browser.assert_clean_console().await;
}
// --- end webpush ---

/// Today in a real browser: it renders with data, the one quick-add box adds each kind with a
/// live preview, a tick completes a task in place, a task completed through the API moves on
/// the open page (SSE), the shortcuts work, and a phone (390 px) never scrolls sideways.
#[tokio::test]
async fn today_works_in_a_real_browser() {
    let Some(browser) = Browser::start().await else { return };
    let app = spawn_app().await;
    browser.set_up(&app).await;
    let api = app.api(&app.api_token().await);
    let (status, body) = api
        .post("/agents", json!({"name": "default", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret-s3cret"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, rent) = api.post("/tasks", json!({"text": "Pay the rent today +home"})).await;
    assert_eq!(status, 201, "{rent}");
    let rent = rent["id"].as_i64().unwrap();
    for text in
        ["Old form due:2020-01-01", "(A) Plan the year", "Reply from Bob @waiting", "Read a book +fun"]
    {
        assert_eq!(api.post("/tasks", json!({ "text": text })).await.0, 201);
    }
    let (status, body) = api
        .post("/events", json!({"title": "All-day thing", "start": chrono::Utc::now().format("%Y-%m-%d").to_string(), "all_day": true}))
        .await;
    assert_eq!(status, 201, "{body}");

    browser.go(&format!("{}/", app.address)).await;
    browser.wait_for("#today-tasks").await;
    assert!(browser.text("#today-due").await.contains("Pay the rent"));
    assert!(browser.text("#today-overdue").await.contains("Old form"));
    assert!(browser.text("#today-agenda").await.contains("All-day thing"));
    assert!(browser.find(".today-stats svg.chart").await.is_some(), "the stats are drawn");

    // Each kind through the one box; the preview says which it will be.
    browser.click("h1").await;
    browser.type_into("body", "n").await;
    browser.until("n focuses quick-add", "document.activeElement.id === 'quick-add-text'").await;
    let cases = [
        ("Buy milk today +home", "Will add a task", "Added task"),
        ("Team sync today 23:00-23:30", "Will add an event", "Added event"),
        (
            "every weekday 9:00 ask the agent for the news",
            "Will add a scheduled prompt",
            "Added scheduled prompt",
        ),
    ];
    for (text, preview, toast) in cases {
        browser.type_into("#quick-add-text", text).await;
        browser
            .until(
                preview,
                &format!("document.getElementById('quick-add-preview').textContent.includes({preview:?})"),
            )
            .await;
        browser.type_into("#quick-add-text", "\u{E007}").await;
        browser
            .until(toast, &format!("document.getElementById('toasts').textContent.includes({toast:?})"))
            .await;
        browser.until("an empty box", "document.getElementById('quick-add-text').value === ''").await;
    }
    browser
        .until("the task in place", "document.getElementById('today-due').textContent.includes('Buy milk')")
        .await;
    browser
        .until(
            "the event in place",
            "document.getElementById('today-agenda').textContent.includes('Team sync')",
        )
        .await;

    // A tick completes in place.
    browser
        .script(
            "[...document.querySelectorAll('#today-due [data-task]')].find(li => li.textContent.includes('Buy milk'))\
             .querySelector('input[type=checkbox]').click();",
        )
        .await;
    browser
        .until("done today", "document.getElementById('today-done')?.textContent.includes('Buy milk')")
        .await;
    assert!(!browser.text("#today-due").await.contains("Buy milk"));
    // The tick's own answer has landed (a late answer would replace a fresher section).
    browser.until("no request in flight", "!document.querySelector('.htmx-request')").await;

    // Completed elsewhere (the API): the open page follows without a reload.
    browser.script("window.notReloaded = true;").await;
    let (status, _) = api.post(&format!("/tasks/{rent}/complete"), json!({})).await;
    assert_eq!(status, 200);
    browser
        .until(
            "the live update",
            "document.getElementById('today-done').textContent.includes('Pay the rent')",
        )
        .await;
    assert_eq!(browser.script("return window.notReloaded === true;").await, json!(true));

    // Move all overdue to tomorrow.
    browser.click(".move-overdue button[value=tomorrow]").await;
    browser.until("no overdue group", "!document.getElementById('today-overdue')").await;

    // ? lists the shortcuts; g t goes to Tasks.
    browser.click("h1").await;
    browser.type_into("body", "?").await;
    browser.until("the shortcuts", "document.getElementById('shortcuts').open").await;
    browser.click("#shortcuts button").await;
    browser.until("closed", "!document.getElementById('shortcuts').open").await;
    browser.type_into("body", "gt").await;
    browser.until("on Tasks", "location.pathname === '/tasks'").await;

    // A phone: nothing scrolls sideways.
    browser.cmd(reqwest::Method::POST, "/window/rect", json!({"width": 390, "height": 844})).await;
    browser.go(&format!("{}/", app.address)).await;
    browser.until("the page loaded", "document.readyState === 'complete'").await;
    browser.screenshot("today-390").await;
    let problems = browser.script(LAYOUT_CHECK).await;
    assert_eq!(problems, json!([]), "Today at 390 px");
    browser.assert_clean_console().await;
    browser.cmd(reqwest::Method::DELETE, "", json!({})).await;
}
