//! `spawn_app()` and the small conveniences every test uses.

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::header::HeaderMap;
use reqwest::{Client, Response, redirect};
use steward::app::Application;
use steward::clock::FixedClock;
use steward::config::Config;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    pub db_path: PathBuf,
    pub setup_url: Option<String>,
    /// A cookie-keeping client that does not follow redirects (so tests see them).
    pub client: Client,
    /// The CSRF token of the client's session, once logged in.
    pub csrf: String,
    pub dir: tempfile::TempDir,
    pub stopper: steward::app::Stopper,
}

pub fn client() -> Client {
    Client::builder().cookie_store(true).redirect(redirect::Policy::none()).build().unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// An app whose clock stays where the test puts it.
pub async fn spawn_app_at(clock: &FixedClock, customise: impl FnOnce(&mut Config)) -> TestApp {
    let (config, dir) = test_config(customise);
    let db_path = config.db.clone();
    start(
        Application::build_with_clock(config, Arc::new(clock.clone())).await.expect("the app builds"),
        db_path,
        dir,
    )
}

pub async fn spawn_app_with(customise: impl FnOnce(&mut Config)) -> TestApp {
    let (config, dir) = test_config(customise);
    let db_path = config.db.clone();
    start(Application::build(config).await.expect("the app builds"), db_path, dir)
}

/// A fresh database in a temporary directory, port 0, the person in Europe/Berlin.
fn test_config(customise: impl FnOnce(&mut Config)) -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        db: dir.path().join("steward.db"),
        bind: "127.0.0.1:0".into(),
        timezone: Some("Europe/Berlin".into()),
        ..Config::default()
    };
    customise(&mut config);
    (config, dir)
}

fn start(app: Application, db_path: PathBuf, dir: tempfile::TempDir) -> TestApp {
    let address = format!("http://127.0.0.1:{}", app.port());
    let setup_url = app.setup_url().map(String::from);
    let stopper = app.stopper();
    tokio::spawn(app.run_until_stopped());
    TestApp { address, db_path, setup_url, client: client(), csrf: String::new(), dir, stopper }
}

impl TestApp {
    /// Stops this app gracefully and starts a new one on the same database, at `clock`.
    pub async fn restart_at(self, clock: &FixedClock) -> TestApp {
        self.stopper.stop().await;
        let config = Config {
            db: self.db_path.clone(),
            bind: "127.0.0.1:0".into(),
            timezone: Some("Europe/Berlin".into()),
            ..Config::default()
        };
        let app =
            Application::build_with_clock(config, Arc::new(clock.clone())).await.expect("the app builds");
        start(app, self.db_path, self.dir)
    }
}

/// A started app with the password set and `client` logged in.
pub async fn logged_in_app() -> TestApp {
    let mut app = spawn_app().await;
    app.set_up().await;
    app
}

/// The session's CSRF token, as the page gives it to htmx.
pub fn csrf_of(html: &str) -> String {
    let start = html.find("\"X-CSRF-Token\": \"").expect("page has a CSRF token") + 17;
    html[start..].split('"').next().unwrap().to_string()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Completes the first-run setup with [`PASSWORD`]; `client` ends up logged in.
    pub async fn set_up(&mut self) {
        let setup = self.setup_url.clone().expect("a fresh app has a setup link");
        let token = setup.split("token=").nth(1).unwrap().to_string();
        let res = self
            .client
            .post(self.url("/setup"))
            .header("Origin", &self.address)
            .form(&[("token", token.as_str()), ("password", PASSWORD), ("confirm", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "setup: {}", res.text().await.unwrap());
        self.refresh_csrf().await;
    }

    pub async fn refresh_csrf(&mut self) {
        let page = self.client.get(self.url("/tasks")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        self.csrf = csrf_of(&page.text().await.unwrap());
    }

    /// Logs a new client in with the password.
    pub async fn login(&self, password: &str) -> Response {
        let client = client();
        self.login_with(&client, password).await
    }

    pub async fn login_with(&self, client: &Client, password: &str) -> Response {
        login_at(client, &self.address, password).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_htmx(&self, path: &str, target: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("HX-Request", "true")
            .header("HX-Target", target)
            .send()
            .await
            .unwrap()
    }

    /// A form post as our page sends it: same origin, CSRF header, htmx.
    pub async fn post_htmx(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .header("Origin", &self.address)
            .header("X-CSRF-Token", &self.csrf)
            .header("HX-Request", "true")
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A plain form post (no JavaScript): the token travels as a hidden field.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let mut fields = form.to_vec();
        fields.push(("csrf_token", &self.csrf));
        self.client.post(self.url(path)).header("Origin", &self.address).form(&fields).send().await.unwrap()
    }

    /// Uploads a todo.txt file from the Tasks page's import form; `csrf_in` is where the token
    /// travels: `field` (a plain form: a hidden field first in the multipart body), `header`
    /// (htmx: the `X-CSRF-Token` header, and the request is marked as htmx's), `query` (in the
    /// URL, which must be refused), or nowhere.
    pub async fn upload_todotxt(&self, text: &str, csrf_in: &str) -> Response {
        let mut form = reqwest::multipart::Form::new();
        if csrf_in == "field" {
            form = form.text("csrf_token", self.csrf.clone());
        }
        let form = form.part("file", reqwest::multipart::Part::text(text.to_string()).file_name("todo.txt"));
        let path = match csrf_in {
            "query" => format!("/tasks/import?csrf_token={}", self.csrf),
            _ => "/tasks/import".to_string(),
        };
        let mut req = self.client.post(self.url(&path)).header("Origin", &self.address).multipart(form);
        if csrf_in == "header" {
            req = req.header("X-CSRF-Token", &self.csrf).header("HX-Request", "true");
        }
        req.send().await.unwrap()
    }

    /// Creates an `admin` API token (it acts as the person) through the CLI's service and
    /// returns it.
    pub async fn api_token(&self) -> String {
        self.api_token_with("admin").await
    }

    /// Creates an API token with these scopes (`"write,mcp"`) and returns it.
    pub async fn api_token_with(&self, scopes: &str) -> String {
        let db = steward::db::Db::open(&self.db_path).unwrap();
        let mut conn = db.conn().unwrap();
        let new = steward::auth::tokens::NewToken {
            name: format!("test-{}", rand_suffix()),
            scopes: steward::auth::scopes::Scopes::parse(scopes).unwrap(),
            expires_at: None,
        };
        steward::auth::tokens::create(&mut conn, &new, chrono::Utc::now()).unwrap().0
    }

    pub fn api(&self, token: &str) -> Api {
        let mut headers = HeaderMap::new();
        headers.insert("Authorization", format!("Bearer {token}").parse().unwrap());
        Api { base: self.url("/api/v1"), client: Client::builder().default_headers(headers).build().unwrap() }
    }
}

fn rand_suffix() -> String {
    steward::auth::random_token(6)
}

/// A bearer-token API client.
pub struct Api {
    pub base: String,
    pub client: Client,
}

impl Api {
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        read(self.client.get(format!("{}{path}", self.base)).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        read(self.client.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap()).await
    }

    pub async fn patch(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        read(self.client.patch(format!("{}{path}", self.base)).json(&body).send().await.unwrap()).await
    }

    pub async fn delete(&self, path: &str) -> u16 {
        self.client.delete(format!("{}{path}", self.base)).send().await.unwrap().status().as_u16()
    }
}

pub async fn read(res: Response) -> (u16, serde_json::Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let json = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    (status, json)
}

/// The login form's post, as a browser on `address` sends it.
pub async fn login_at(client: &Client, address: &str, password: &str) -> Response {
    client
        .post(format!("{address}/login"))
        .header("Origin", address)
        .form(&[("password", password), ("next", "/tasks")])
        .send()
        .await
        .unwrap()
}

/// Reads the SSE stream until `want` appears in it (panics after `secs`).
pub async fn read_until(res: &mut reqwest::Response, want: &[&str], secs: u64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut seen = String::new();
    while !want.iter().all(|w| seen.contains(w)) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match tokio::time::timeout(left, res.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("the stream ended or stalled ({other:?}) before {want:?}; got: {seen}"),
        }
    }
    seen
}

/// Settings of the machine running the tests that would change the doctor's verdicts.
const CLEARED: [&str; 10] = [
    "STEWARD_CHANNEL_SECRET",
    "STEWARD_CONFIG",
    "STEWARD_PUBLIC_URL",
    "STEWARD_BIND",
    "STEWARD_TRUSTED_PROXIES",
    "STEWARD_TLS_CERT",
    "STEWARD_TLS_KEY",
    "STEWARD_LLM_BASE_URL",
    "STEWARD_LLM_MODEL",
    "STEWARD_LLM_API_KEY",
];

/// Runs the real `steward` binary on `db` with the person's zone Europe/Berlin, the machine's
/// settings that would change its answers cleared, `env` added and `stdin` written.
pub fn steward_cli(
    db: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    for var in CLEARED {
        command.env_remove(var);
    }
    let mut child = command
        .arg("--db")
        .arg(db)
        .args(args)
        .env("STEWARD_TIMEZONE", "Europe/Berlin")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}
