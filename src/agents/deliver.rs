//! Talking to agents: one delivery of a prompt ([`deliver`]), and a connection check that says
//! exactly what is wrong ([`check`]). Failures say whether a retry could help: a refused
//! connection or a 503 may pass, a wrong key or an unknown model will not.

use std::process::Stdio;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Agent, AgentKind};

/// Outputs and error bodies are kept up to this size.
pub const OUTPUT_CAP: usize = 64 * 1024;

/// One delivery of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub schedule_id: Option<i32>,
    pub run_id: i32,
    pub idempotency_key: String,
    pub prompt: String,
    pub scheduled_for: DateTime<Utc>,
    pub attempt: i32,
}

/// Why a delivery failed, and whether trying again later could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub retryable: bool,
}

impl Failure {
    pub fn retry(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), retryable: true }
    }

    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), retryable: false }
    }
}

/// Delivers a scheduled run as a turn of a conversation (the prompt as the person's message,
/// the reply as the output). The chat engine does this; the scheduler is given one, so it
/// needs to know nothing of conversations.
pub trait ConversationDelivery: Send + Sync + 'static {
    fn deliver_run<'a>(
        &'a self,
        schedule: i32,
        d: &'a Delivery,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, Failure>> + Send + 'a>>;
}

/// Delivers the prompt; the output is the agent's answer (for `notify`, the prompt itself: the
/// caller turns it into a notification in the same transaction that records the run).
pub async fn deliver(http: &reqwest::Client, agent: &Agent, d: &Delivery) -> Result<String, Failure> {
    if agent.kind == AgentKind::Letta {
        // Letta waits its turn per agent, then has its own timeout and exactly-once retries.
        return super::letta::deliver(http, agent, d).await;
    }
    let work = async {
        match agent.kind {
            AgentKind::Llm => llm(http, agent, d).await,
            AgentKind::Letta => super::letta::deliver(http, agent, d).await,
            AgentKind::Webhook => webhook(http, agent, d).await,
            AgentKind::Command => command(agent, d).await,
            AgentKind::Notify => Ok(d.prompt.clone()),
            // The scheduler does this work itself (it never sends it here).
            AgentKind::System => Err(Failure::permanent("the system agent takes no prompts")),
        }
    };
    match tokio::time::timeout(agent.timeout(), work).await {
        Ok(result) => result,
        Err(_) => Err(Failure::retry(format!("timed out after {} s", agent.timeout().as_secs()))),
    }
}

pub fn url_of(agent: &Agent) -> String {
    agent.config.url.clone().unwrap_or_default().trim_end_matches('/').to_string()
}

pub fn with_key(req: reqwest::RequestBuilder, agent: &Agent) -> reqwest::RequestBuilder {
    match &agent.config.api_key {
        Some(key) => req.bearer_auth(key),
        None => req,
    }
}

async fn llm(http: &reqwest::Client, agent: &Agent, d: &Delivery) -> Result<String, Failure> {
    let mut messages = Vec::new();
    if let Some(system) = &agent.config.system_prompt {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": d.prompt}));
    let url = format!("{}/chat/completions", url_of(agent));
    let body = json!({"model": agent.config.model, "messages": messages, "stream": false});
    let resp = with_key(http.post(&url), agent).json(&body).send().await.map_err(|e| transport(&url, &e))?;
    let value = json_body(&url, resp).await?;
    let text = value
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::retry(format!("{url} answered without choices[0].message.content")))?;
    Ok(cap(text.to_string()))
}

/// `sha256=<hex HMAC of the body>`, the value of `X-Steward-Signature`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let hex: String = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
        }
        // HMAC takes keys of any length: this cannot happen.
        Err(_) => String::new(),
    };
    format!("sha256={hex}")
}

async fn webhook(http: &reqwest::Client, agent: &Agent, d: &Delivery) -> Result<String, Failure> {
    let url = url_of(agent);
    let body = serde_json::to_vec(&json!({
        "schedule_id": d.schedule_id,
        "run_id": d.run_id,
        "idempotency_key": d.idempotency_key,
        "prompt": d.prompt,
        "scheduled_for": d.scheduled_for.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "attempt": d.attempt,
    }))
    .map_err(|e| Failure::permanent(e.to_string()))?;
    let sig = signature(agent.config.secret.as_deref().unwrap_or_default(), &body);
    let resp = http
        .post(&url)
        .header("content-type", "application/json")
        .header("idempotency-key", &d.idempotency_key)
        .header("x-steward-signature", sig)
        .body(body)
        .send()
        .await
        .map_err(|e| transport(&url, &e))?;
    let status = resp.status();
    // The receiver's answer becomes the run's output, which API tokens may read: keep at most
    // OUTPUT_CAP of it, and do not even read the rest.
    let text = read_capped(&url, resp, OUTPUT_CAP).await?;
    if status.is_success() { Ok(text) } else { Err(http_failure(&url, status, &text)) }
}

/// At most `limit` bytes of a body, as text, marked when cut; the rest is never read.
async fn read_capped(url: &str, mut resp: reqwest::Response, limit: usize) -> Result<String, Failure> {
    let mut buf: Vec<u8> = Vec::new();
    let mut cut = false;
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport(url, &e))? {
        let room = limit.saturating_sub(buf.len());
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(cut_text(buf, cut))
}

/// The bytes as text; when `cut`, a character split by the cut is dropped and the mark added.
fn cut_text(mut buf: Vec<u8>, cut: bool) -> String {
    if cut
        && let Err(e) = std::str::from_utf8(&buf)
        && e.error_len().is_none()
    {
        buf.truncate(e.valid_up_to());
    }
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if cut {
        text.push_str(CUT_MARK);
    }
    text
}

/// What ends an output that was cut.
const CUT_MARK: &str = "\n[output cut at 64 KiB]";

async fn command(agent: &Agent, d: &Delivery) -> Result<String, Failure> {
    let argv = agent.config.argv.clone().unwrap_or_default();
    let Some((program, args)) = argv.split_first() else {
        return Err(Failure::permanent("the command agent has no program"));
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env("STEWARD_RUN_ID", d.run_id.to_string())
        .env("STEWARD_SCHEDULE_ID", d.schedule_id.map(|s| s.to_string()).unwrap_or_default())
        .env("STEWARD_IDEMPOTENCY_KEY", &d.idempotency_key)
        .env("STEWARD_SCHEDULED_FOR", d.scheduled_for.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .env("STEWARD_ATTEMPT", d.attempt.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The timeout drops this future; the child must not outlive it.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::permanent(format!("cannot start {program:?}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that does not read its input is fine: ignore a closed pipe.
        let _ = stdin.write_all(d.prompt.as_bytes()).await;
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let read_out = async {
        if let Some(mut s) = out {
            let _ = s.read_to_end(&mut stdout).await;
        }
    };
    let read_err = async {
        if let Some(mut s) = err {
            let _ = s.read_to_end(&mut stderr).await;
        }
    };
    tokio::join!(read_out, read_err);
    let status = child.wait().await.map_err(|e| Failure::retry(format!("waiting for {program:?}: {e}")))?;
    if status.success() {
        Ok(cap(String::from_utf8_lossy(&stdout).into_owned()))
    } else {
        let tail = String::from_utf8_lossy(&stderr);
        let tail = tail.trim();
        let code = status.code().map(|c| format!("exit code {c}")).unwrap_or_else(|| "a signal".into());
        Err(Failure::retry(if tail.is_empty() {
            format!("{program:?} ended with {code}")
        } else {
            format!("{program:?} ended with {code}: {}", last_chars(tail, 2000))
        }))
    }
}

/// Reads a JSON answer, turning HTTP errors into precise failures.
async fn json_body(url: &str, resp: reqwest::Response) -> Result<Value, Failure> {
    let status = resp.status();
    let text = resp.text().await.map_err(|e| transport(url, &e))?;
    if !status.is_success() {
        return Err(http_failure(url, status, &text));
    }
    serde_json::from_str(&text)
        .map_err(|e| Failure::retry(format!("{url} answered {status} with malformed JSON ({e})")))
}

/// The server's own words in an error body: OpenAI's `{"error":{"message"}}`, Letta 0.16's
/// `{"error":{"type","message","detail"}}` (both kept), FastAPI's `{"detail": "..."}` or its
/// validation list `{"detail": [{"loc","msg"}]}`, or the start of the body as it is.
pub fn error_detail(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return body.trim().chars().take(300).collect();
    };
    let text = |m: &Value| m.as_str().map(str::to_string).unwrap_or_else(|| m.to_string());
    if let Some(e) = v.get("error").filter(|e| e.is_object()) {
        let parts: Vec<String> = ["message", "detail"]
            .iter()
            .filter_map(|k| e.get(*k).filter(|x| !x.is_null()).map(text))
            .filter(|t| !t.trim().is_empty())
            .collect();
        match parts.as_slice() {
            [message, detail] if message.ends_with(['.', '!', '?']) => return format!("{message} {detail}"),
            [message, detail] => return format!("{message}: {detail}"),
            [one] => return one.clone(),
            _ => {}
        }
    }
    if let Some(Value::Array(problems)) = v.get("detail") {
        return problems
            .iter()
            .map(|p| {
                let at: Vec<String> = p
                    .get("loc")
                    .and_then(Value::as_array)
                    .map(|l| l.iter().map(text).collect())
                    .unwrap_or_default();
                let msg = p.get("msg").map(text).unwrap_or_else(|| p.to_string());
                if at.is_empty() { msg } else { format!("{}: {msg}", at.join(".")) }
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    v.get("error")
        .or_else(|| v.get("detail"))
        .or_else(|| v.get("message"))
        .map(text)
        .unwrap_or_else(|| body.trim().chars().take(300).collect())
}

/// An HTTP error status in words, with the server's own message when it gave one.
pub fn http_failure(url: &str, status: reqwest::StatusCode, body: &str) -> Failure {
    let detail = error_detail(body);
    let hint = match status.as_u16() {
        401 | 403 => ": the server refused the credentials; check the API key",
        404 => {
            ": nothing there; check the URL (an OpenAI-compatible base URL usually ends in /v1), \
                the model name or the agent id"
        }
        _ => "",
    };
    let message = if detail.is_empty() {
        format!("{url} answered {status}{hint}")
    } else {
        format!("{url} answered {status}{hint} ({detail})")
    };
    // Only overload, timeouts and server errors can pass by themselves.
    let retryable = status.is_server_error() || matches!(status.as_u16(), 408 | 409 | 425 | 429);
    Failure { message, retryable }
}

/// A transport error in words: DNS, refused, timed out, TLS, reset.
pub fn transport(url: &str, e: &reqwest::Error) -> Failure {
    let chain = error_chain(e);
    let host = reqwest::Url::parse(url)
        .ok()
        .map(|u| format!("{}:{}", u.host_str().unwrap_or("?"), u.port_or_known_default().unwrap_or(0)))
        .unwrap_or_else(|| url.to_string());
    let lower = chain.to_lowercase();
    let message = if e.is_timeout() {
        format!("{url}: timed out")
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup")
        || lower.contains("name or service")
    {
        format!("cannot resolve the host of {url} (DNS): {chain}")
    } else if lower.contains("connection refused") {
        format!("connection refused by {host}: is the server running and listening there?")
    } else if lower.contains("certificate") || lower.contains("tls") {
        format!("TLS failed with {host}: {chain}")
    } else if e.is_connect() {
        format!("cannot connect to {host}: {chain}")
    } else {
        format!("{url}: {chain}")
    };
    Failure::retry(message)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

pub(crate) fn cap(mut text: String) -> String {
    if text.len() > OUTPUT_CAP {
        let mut end = OUTPUT_CAP;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(CUT_MARK);
    }
    text
}

fn last_chars(text: &str, n: usize) -> &str {
    let start = text.char_indices().rev().nth(n).map(|(i, _)| i).unwrap_or(0);
    text.get(start..).unwrap_or(text)
}

/// Tests the connection without delivering anything, and says what is wrong in words.
pub async fn check(http: &reqwest::Client, agent: &Agent) -> Result<String, String> {
    let fail = |f: Failure| f.message;
    match agent.kind {
        AgentKind::Notify => Ok("in-app notifications need no connection".into()),
        AgentKind::System => Ok("Steward's own worker needs no connection".into()),
        AgentKind::Llm => {
            let url = format!("{}/models", url_of(agent));
            let resp =
                with_key(http.get(&url), agent).send().await.map_err(|e| transport(&url, &e).message)?;
            let models = json_body(&url, resp).await.map_err(fail)?;
            let ids: Vec<&str> = models
                .get("data")
                .and_then(Value::as_array)
                .map(|d| d.iter().filter_map(|m| m.get("id").and_then(Value::as_str)).collect())
                .unwrap_or_default();
            let want = agent.config.model.as_deref().unwrap_or_default();
            if ids.is_empty() || ids.contains(&want) || ids.iter().any(|id| id.ends_with(want)) {
                Ok(format!("{} answers and serves model {want:?}", url_of(agent)))
            } else {
                Err(format!("{} has no model {want:?}; it serves: {}", url_of(agent), ids.join(", ")))
            }
        }
        AgentKind::Letta => super::letta::check(http, agent).await,
        AgentKind::Webhook => {
            // A HEAD proves the host answers without triggering the receiver's action.
            let url = url_of(agent);
            let resp = http.head(&url).send().await.map_err(|e| transport(&url, &e).message)?;
            Ok(format!("{url} answers (HEAD: {})", resp.status()))
        }
        AgentKind::Command => {
            let argv = agent.config.argv.clone().unwrap_or_default();
            let program = argv.first().cloned().unwrap_or_default();
            match which(&program) {
                Some(path) => Ok(format!("{program:?} is {path}")),
                None => Err(format!("{program:?} is not an executable file or on PATH")),
            }
        }
    }
}

fn which(program: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    };
    if program.contains('/') {
        let p = std::path::Path::new(program);
        return executable(p).then(|| program.to_string());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| executable(p))
            .map(|p| p.display().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn http_failures_say_what_and_whether_to_retry() {
        let f = http_failure("http://x/v1/chat/completions", reqwest::StatusCode::UNAUTHORIZED, "");
        assert!(!f.retryable && f.message.contains("API key"), "{f:?}");
        let f = http_failure(
            "http://x",
            reqwest::StatusCode::NOT_FOUND,
            r#"{"error":{"message":"model 'gpt-9' not found"}}"#,
        );
        assert!(!f.retryable && f.message.contains("model 'gpt-9' not found"), "{f:?}");
        let f = http_failure("http://x", reqwest::StatusCode::SERVICE_UNAVAILABLE, "busy");
        assert!(f.retryable && f.message.contains("503") && f.message.contains("busy"), "{f:?}");
        assert!(http_failure("http://x", reqwest::StatusCode::TOO_MANY_REQUESTS, "").retryable);
    }

    #[test]
    fn a_cut_body_loses_its_split_character_and_is_marked() {
        let bytes = "aé".as_bytes().to_vec();
        assert_eq!(cut_text(bytes[..2].to_vec(), true), format!("a{CUT_MARK}"));
        assert_eq!(cut_text(bytes.clone(), false), "aé");
        assert_eq!(cut_text(b"ok".to_vec(), false), "ok");
    }

    #[test]
    fn error_details_keep_the_servers_own_words() {
        for (body, said) in [
            (
                r#"{"error":{"message":"model 'x' not found","type":"invalid_request_error"}}"#,
                "model 'x' not found",
            ),
            (
                r#"{"error":{"type":"llm_error","message":"An error occurred.","detail":"Connection error."}}"#,
                "An error occurred. Connection error.",
            ),
            (r#"{"detail":"Agent with ID agent-1 not found"}"#, "Agent with ID agent-1 not found"),
            (
                r#"{"detail":[{"type":"missing","loc":["body","messages",0,"role"],"msg":"Field required"}]}"#,
                "body.messages.0.role: Field required",
            ),
            (r#"{"error":"bad key"}"#, "bad key"),
            ("upstream timed out\n", "upstream timed out"),
        ] {
            assert_eq!(error_detail(body), said, "{body}");
        }
    }

    #[test]
    fn outputs_are_capped_on_a_char_boundary() {
        let text = "é".repeat(OUTPUT_CAP);
        let out = cap(text);
        assert!(out.len() < OUTPUT_CAP + 40 && out.ends_with("[output cut at 64 KiB]"));
        assert_eq!(last_chars("abcdef", 2), "def");
    }
}
