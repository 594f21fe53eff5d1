//! Letta: delivering a message to a Letta agent exactly once, listing and checking agents, and
//! Letta's errors in words.
//!
//! **Exactly once.** Letta does not deduplicate messages by `otid` (only its streaming
//! background mode with Redis does): a retry after a timeout would reach the agent twice. But
//! Letta stores the `otid` on the user message unchanged, and a request that Steward gave up on
//! keeps running on the server. So before a retry (or after an attempt that was cut off), Steward
//! waits until the agent has no active run, then looks for a user message with the run's `otid`
//! among the agent's latest messages; when it is there, the assistant messages that follow it are
//! the answer and nothing is sent again.
//!
//! **One request at a time per Letta agent.** Deliveries to one Letta agent (server and agent
//! id, whatever Steward agent entry or conversation they come from) take turns here. The turns
//! are process-wide on purpose: the agent is outside the process, and every caller in it (the
//! scheduler, each chat, a second app in a test) must queue for the same one.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::deliver::{Delivery, Failure, cap, error_detail, transport, with_key};
use super::{Agent, AgentInput, AgentKind};
use crate::error::AppError;

/// The server's base URL as given, without the `/v1` that `llm` agents need (a natural mistake
/// here: Letta's routes already start with `/v1`).
pub fn base_url(url: &str) -> String {
    let t = url.trim().trim_end_matches('/');
    let t = t.strip_suffix("/v1").or_else(|| t.strip_suffix("/V1")).unwrap_or(t);
    t.trim_end_matches('/').to_string()
}

pub fn base(agent: &Agent) -> String {
    base_url(agent.config.url.as_deref().unwrap_or_default())
}

fn agent_id(agent: &Agent) -> String {
    agent.config.agent_id.clone().unwrap_or_default()
}

/// Whether `id` has the form Letta requires: `agent-` and a UUID version 4.
pub fn is_agent_id(id: &str) -> bool {
    let Some(uuid) = id.strip_prefix("agent-") else { return false };
    let groups: Vec<&str> = uuid.split('-').collect();
    let hex = |g: &str, n: usize| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit());
    matches!(groups.as_slice(), [a, b, c, d, e]
        if hex(a, 8) && hex(b, 4) && hex(c, 4) && hex(d, 4) && hex(e, 12)
            && c.starts_with('4')
            && d.starts_with(['8', '9', 'a', 'b', 'A', 'B']))
}

/// One Letta agent's turn: whether the last request to it was cut off (a timeout, a broken
/// connection) so that the server may still be working on it.
#[derive(Default)]
pub struct Line {
    unsettled: bool,
}

type Lines = Mutex<HashMap<String, Arc<tokio::sync::Mutex<Line>>>>;
static LINES: LazyLock<Lines> = LazyLock::new(Lines::default);

fn line(agent: &Agent) -> Arc<tokio::sync::Mutex<Line>> {
    let key = format!("{} {}", base(agent).to_lowercase(), agent_id(agent));
    let mut lines = LINES.lock().unwrap_or_else(|e| e.into_inner());
    lines.entry(key).or_default().clone()
}

/// A Letta agent's turn, held while a message is delivered to it.
pub struct LettaTurn(tokio::sync::OwnedMutexGuard<Line>);

/// Waits until no other delivery to this Letta agent (server and id) is under way.
pub async fn take_turn(agent: &Agent) -> LettaTurn {
    LettaTurn(line(agent).lock_owned().await)
}

/// Delivers the prompt as a user message with `otid` = the idempotency key; the output is the
/// agent's assistant messages. Waits its turn first (outside the agent's timeout).
pub async fn deliver(http: &reqwest::Client, agent: &Agent, d: &Delivery) -> Result<String, Failure> {
    let mut turn = take_turn(agent).await;
    deliver_in(&mut turn, http, agent, d).await
}

/// [`deliver`] within a turn already taken.
pub async fn deliver_in(
    turn: &mut LettaTurn,
    http: &reqwest::Client,
    agent: &Agent,
    d: &Delivery,
) -> Result<String, Failure> {
    let line = &mut *turn.0;
    let wait = agent.timeout();
    match tokio::time::timeout(wait, deliver_in_turn(http, agent, d, line)).await {
        Ok(result) => result,
        Err(_) => {
            line.unsettled = true;
            Err(Failure::retry(format!(
                "Letta did not answer within {} s; it goes on with the message, and the next attempt \
                 takes its answer rather than sending the message again",
                wait.as_secs()
            )))
        }
    }
}

async fn deliver_in_turn(
    http: &reqwest::Client,
    agent: &Agent,
    d: &Delivery,
    line: &mut Line,
) -> Result<String, Failure> {
    let (base, id) = (base(agent), agent_id(agent));
    if d.attempt > 1 || line.unsettled {
        wait_until_idle(http, agent).await;
        if let Some(found) = delivered_before(http, agent, &d.idempotency_key).await? {
            line.unsettled = false;
            return found;
        }
    }
    let url = format!("{base}/v1/agents/{id}/messages");
    let body = json!({"messages": [{"role": "user", "content": d.prompt, "otid": d.idempotency_key}]});
    line.unsettled = true;
    let resp = match with_key(http.post(&url), agent).json(&body).send().await {
        Ok(resp) => resp,
        Err(e) => {
            // Refused or unresolved: the message never left.
            if e.is_connect() {
                line.unsettled = false;
            }
            return Err(transport(&url, &e));
        }
    };
    let status = resp.status();
    let text = resp.text().await.map_err(|e| transport(&url, &e))?;
    // An answer came back: Letta is done with this message, whatever it said.
    line.unsettled = false;
    if !status.is_success() {
        return Err(failure(&base, &id, &url, status, &text));
    }
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::retry(format!("{url} answered {status} with malformed JSON ({e})")))?;
    let messages = value.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
    answer(&messages, value.pointer("/stop_reason/stop_reason").and_then(Value::as_str))
}

/// The assistant messages' text; with none, a failure that says what came back instead. It is
/// not retried: Letta took the message, and sending it again would make it a second turn.
pub fn answer(messages: &[Value], stop_reason: Option<&str>) -> Result<String, Failure> {
    let kind = |m: &Value| m.get("message_type").and_then(Value::as_str).unwrap_or_default().to_string();
    let said: Vec<String> = messages
        .iter()
        .filter(|m| kind(m) == "assistant_message")
        .filter_map(|m| text_of(m.get("content")?))
        .filter(|t| !t.trim().is_empty())
        .collect();
    if !said.is_empty() {
        return Ok(cap(said.join("\n\n")));
    }
    let mut tools: Vec<String> = Vec::new();
    for m in messages.iter().filter(|m| kind(m) == "tool_call_message") {
        if let Some(name) = m.pointer("/tool_call/name").and_then(Value::as_str)
            && !tools.iter().any(|t| t == name)
        {
            tools.push(name.to_string());
        }
    }
    let stop = stop_reason.map(|s| format!(" (stop reason: {s})")).unwrap_or_default();
    let what = if tools.is_empty() {
        format!("nothing came back{stop}")
    } else {
        format!("it only called tools ({}){stop}", tools.join(", "))
    };
    Err(Failure::permanent(format!(
        "Letta took the message but sent no assistant message: {what}; Steward does not send it again"
    )))
}

/// Letta's `content` is a string or a list of `{"type":"text","text":...}` parts.
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join(""),
        ),
        _ => None,
    }
}

/// How long to wait between two looks at a busy agent.
const IDLE_POLL: Duration = Duration::from_millis(300);

/// Waits while the agent has an active run (the caller's timeout bounds this). A server without
/// the runs API is taken as idle.
async fn wait_until_idle(http: &reqwest::Client, agent: &Agent) {
    while active_runs(http, agent).await.is_some_and(|n| n > 0) {
        tokio::time::sleep(IDLE_POLL).await;
    }
}

/// The agent's runs still going: `/v1/runs/active` (0.11) or `/v1/runs/?active=true` (later).
async fn active_runs(http: &reqwest::Client, agent: &Agent) -> Option<usize> {
    let (base, id) = (base(agent), agent_id(agent));
    let urls = [
        format!("{base}/v1/runs/active?agent_ids={id}"),
        format!("{base}/v1/runs/?agent_id={id}&active=true&limit=50"),
    ];
    for url in urls {
        let Ok(resp) = with_key(http.get(&url), agent).send().await else { return None };
        if !resp.status().is_success() {
            continue;
        }
        let Ok(Value::Array(runs)) = resp.json::<Value>().await else { continue };
        let mine = |r: &Value| {
            r.pointer("/metadata/agent_id").or_else(|| r.get("agent_id")).and_then(Value::as_str)
                == Some(id.as_str())
        };
        let going =
            |r: &Value| matches!(r.get("status").and_then(Value::as_str), Some("created" | "running"));
        return Some(runs.iter().filter(|r| mine(r) && going(r)).count());
    }
    None
}

/// Whether a user message with this `otid` is already among the agent's latest messages, and if
/// so what it was answered (the messages after it, up to the person's next one).
async fn delivered_before(
    http: &reqwest::Client,
    agent: &Agent,
    otid: &str,
) -> Result<Option<Result<String, Failure>>, Failure> {
    let (base, id) = (base(agent), agent_id(agent));
    let latest = get_json(http, agent, &format!("{base}/v1/agents/{id}/messages?limit=100")).await?;
    let kind = |m: &Value| m.get("message_type").and_then(Value::as_str).unwrap_or_default().to_string();
    let mine = latest.as_array().and_then(|list| {
        list.iter()
            .find(|m| kind(m) == "user_message" && m.get("otid").and_then(Value::as_str) == Some(otid))
            .and_then(|m| m.get("id").and_then(Value::as_str))
            .map(str::to_string)
    });
    let Some(mine) = mine else { return Ok(None) };
    let after =
        get_json(http, agent, &format!("{base}/v1/agents/{id}/messages?after={mine}&order=asc&limit=100"))
            .await?;
    // Letta's own user-role events (a heartbeat, a login) are JSON; the person's next message
    // ends the answer.
    let person = |m: &Value| {
        kind(m) == "user_message"
            && !m.get("content").and_then(text_of).is_some_and(|t| t.trim_start().starts_with('{'))
    };
    let following: Vec<Value> =
        after.as_array().map(|l| l.iter().take_while(|m| !person(m)).cloned().collect()).unwrap_or_default();
    Ok(Some(answer(&following, None)))
}

async fn get_json(http: &reqwest::Client, agent: &Agent, url: &str) -> Result<Value, Failure> {
    let resp = with_key(http.get(url), agent).send().await.map_err(|e| transport(url, &e))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| transport(url, &e))?;
    if !status.is_success() {
        return Err(failure(&base(agent), &agent_id(agent), url, status, &text));
    }
    serde_json::from_str(&text)
        .map_err(|e| Failure::retry(format!("{url} answered {status} with malformed JSON ({e})")))
}

/// A Letta error status in words: FastAPI's plain `Not Found` (no such route: the URL is wrong)
/// is told from `Agent with ID … not found`, and the server's own detail is kept.
pub fn failure(base: &str, id: &str, url: &str, status: reqwest::StatusCode, body: &str) -> Failure {
    let detail = error_detail(body);
    let shown = if detail.is_empty() { String::new() } else { format!(" ({detail})") };
    match status.as_u16() {
        404 if detail == "Not Found" || detail.is_empty() => Failure::permanent(format!(
            "{url} answered 404 Not Found: the Letta server at {base} has no such route; the URL \
             should be the server's own address, like http://127.0.0.1:8283"
        )),
        404 | 400 if detail.contains("not found") || detail.contains("valid format") => {
            Failure::permanent(format!(
                "the Letta server at {base} has no agent {id:?}{shown}; `steward agents --letta NAME` \
                 lists the agents it has"
            ))
        }
        401 | 403 => Failure::permanent(format!(
            "{url} answered {status}: the Letta server refused the credentials; check the API key{shown}"
        )),
        _ => {
            let retryable = status.is_server_error() || matches!(status.as_u16(), 408 | 409 | 425 | 429);
            Failure { message: format!("{url} answered {status}{shown}"), retryable }
        }
    }
}

/// Page size when listing a server's agents.
const PAGE: usize = 100;
/// A bound on the pages read, so a server that ignores the cursor cannot keep us forever.
const MAX_PAGES: usize = 100;

/// Every agent the server has, as `(id, name)`, page after page.
pub async fn agents(http: &reqwest::Client, agent: &Agent) -> Result<Vec<(String, String)>, String> {
    list(http, agent, None).await.map_err(|f| f.message)
}

async fn list(
    http: &reqwest::Client,
    agent: &Agent,
    name: Option<&str>,
) -> Result<Vec<(String, String)>, Failure> {
    let url = format!("{}/v1/agents/", base(agent));
    let mut out: Vec<(String, String)> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query: Vec<(&str, String)> = vec![("limit", PAGE.to_string())];
        if let Some(a) = &after {
            query.push(("after", a.clone()));
        }
        if let Some(n) = name {
            query.push(("name", n.to_string()));
        }
        let resp =
            with_key(http.get(&url), agent).query(&query).send().await.map_err(|e| transport(&url, &e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| transport(&url, &e))?;
        if !status.is_success() {
            return Err(failure(&base(agent), "", &url, status, &text));
        }
        let page: Vec<Value> = serde_json::from_str(&text)
            .map_err(|e| Failure::retry(format!("{url} answered {status} without a list of agents ({e})")))?;
        let s = |x: &Value, k: &str| x.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let before = out.len();
        for x in &page {
            let id = s(x, "id");
            if !out.iter().any(|(known, _)| *known == id) {
                out.push((id, s(x, "name")));
            }
        }
        let last = page.last().map(|x| s(x, "id"));
        if page.len() < PAGE || out.len() == before || last.is_none() || last == after {
            break;
        }
        after = last;
    }
    Ok(out)
}

/// The server's agents (of that name), within the agent's timeout.
async fn ask_list(
    http: &reqwest::Client,
    agent: &Agent,
    name: Option<String>,
) -> Result<Vec<(String, String)>, Failure> {
    match tokio::time::timeout(agent.timeout(), list(http, agent, name.as_deref())).await {
        Ok(result) => result,
        Err(_) => Err(Failure::retry(format!("the Letta server at {} did not answer in time", base(agent)))),
    }
}

fn known(list: &[(String, String)]) -> String {
    if list.is_empty() {
        return "it has no agents".into();
    }
    let shown: Vec<String> = list.iter().take(20).map(|(id, name)| format!("{name} ({id})")).collect();
    let more = if list.len() > 20 { format!(" and {} more", list.len() - 20) } else { String::new() };
    format!("it has: {}{more}", shown.join(", "))
}

/// Tests the connection: the server answers and knows the agent.
pub async fn check(http: &reqwest::Client, agent: &Agent) -> Result<String, String> {
    let (base, id) = (base(agent), agent_id(agent));
    if !is_agent_id(&id) {
        let has = match agents(http, agent).await {
            Ok(list) => known(&list),
            Err(e) => format!("its agents could not be listed: {e}"),
        };
        return Err(format!(
            "{id:?} is not a Letta agent id (agent-<uuid4>); the Letta server at {base}: {has}"
        ));
    }
    let url = format!("{base}/v1/agents/{id}");
    let resp = with_key(http.get(&url), agent).send().await.map_err(|e| transport(&url, &e).message)?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| transport(&url, &e).message)?;
    if !status.is_success() {
        let f = failure(&base, &id, &url, status, &text);
        if status == reqwest::StatusCode::NOT_FOUND && f.message.contains("has no agent") {
            let list = agents(http, agent).await.unwrap_or_default();
            return Err(format!("the Letta server at {base} has no agent {id:?}; {}", known(&list)));
        }
        return Err(f.message);
    }
    let found: Value = serde_json::from_str(&text).unwrap_or_default();
    let name = found.get("name").and_then(Value::as_str).unwrap_or("?");
    Ok(format!("the Letta server knows agent {id:?} ({name})"))
}

/// Before a Letta agent is stored: a trailing `/v1` leaves the URL, a name becomes the id of
/// the server's agent of that name, and an id the server does not know is refused, naming the
/// agents it has. A server that cannot be reached does not stop a well-formed id.
pub async fn settle(
    http: &reqwest::Client,
    input: &mut AgentInput,
    current: Option<&Agent>,
) -> Result<(), AppError> {
    let kind = match input.kind.as_deref() {
        Some(k) => AgentKind::parse(k)?,
        None => match current {
            Some(a) => a.kind,
            None => return Ok(()),
        },
    };
    if kind != AgentKind::Letta {
        return Ok(());
    }
    if let Some(url) = input.config.url.as_mut() {
        *url = base_url(url);
    }
    let Some(given) = input.config.agent_id.as_deref().map(str::trim).filter(|g| !g.is_empty()) else {
        return Ok(());
    };
    let given = given.to_string();
    let mut probe = current.cloned().unwrap_or(Agent {
        name: String::new(),
        kind,
        config: super::AgentConfig::default(),
        concurrency: 1,
        builtin: false,
        created_at: None,
        open_to: super::OpenTo::default_for(kind),
    });
    input.config.clone().apply(&mut probe.config);
    let Some(url) = probe.config.url.clone() else { return Ok(()) };
    let server = base_url(&url);
    // Asking an unreachable server should not hang the form.
    probe.config.timeout_secs = Some(probe.config.timeout_secs.unwrap_or(10).min(10));
    let ask = |name: Option<String>| ask_list(http, &probe, name);
    if is_agent_id(&given) {
        match tokio::time::timeout(probe.timeout(), check(http, &probe)).await {
            Ok(Err(message)) if message.contains("has no agent") => {
                Err(AppError::invalid("agent_id", message))
            }
            _ => Ok(()),
        }
    } else {
        match ask(Some(given.clone())).await {
            Ok(found) => {
                let named: Vec<&(String, String)> = found.iter().filter(|(_, n)| *n == given).collect();
                match named.as_slice() {
                    [(id, _)] => {
                        input.config.agent_id = Some(id.clone());
                        Ok(())
                    }
                    [] => {
                        let all = ask(None).await.unwrap_or_default();
                        Err(AppError::invalid(
                            "agent_id",
                            format!(
                                "{given:?} is neither a Letta agent id (agent-<uuid4>) nor the name of an \
                                 agent on the Letta server at {server}; {}",
                                known(&all)
                            ),
                        ))
                    }
                    several => Err(AppError::invalid(
                        "agent_id",
                        format!(
                            "the Letta server at {server} has {} agents named {given:?} ({}); give the id",
                            several.len(),
                            several.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    )),
                }
            }
            Err(f) => Err(AppError::invalid(
                "agent_id",
                format!(
                    "{given:?} is not a Letta agent id (agent-<uuid4>), and the Letta server at {server} \
                     could not be asked for an agent of that name: {}",
                    f.message
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_drop_a_trailing_v1() {
        for (given, base) in [
            ("http://h:8283", "http://h:8283"),
            ("http://h:8283/", "http://h:8283"),
            ("http://h:8283/v1", "http://h:8283"),
            ("http://h:8283/v1/", "http://h:8283"),
            ("https://h/letta/v1", "https://h/letta"),
            ("http://h/v10", "http://h/v10"),
        ] {
            assert_eq!(base_url(given), base, "{given}");
        }
    }

    #[test]
    fn agent_ids_are_agent_dash_uuid4() {
        assert!(is_agent_id("agent-7ff25348-fa07-4701-bf3a-92b5fc5ab296"));
        assert!(is_agent_id("agent-7FF25348-FA07-4701-BF3A-92B5FC5AB296"));
        for bad in [
            "ada",
            "agent-1",
            "7ff25348-fa07-4701-bf3a-92b5fc5ab296",
            "agent-7ff25348-fa07-1701-bf3a-92b5fc5ab296",
            "agent-7ff25348-fa07-4701-cf3a-92b5fc5ab296",
            "agent-7ff25348-fa07-4701-bf3a-92b5fc5ab29",
            "agent-7ff25348-fa07-4701-bf3a-92b5fc5ab29g",
        ] {
            assert!(!is_agent_id(bad), "{bad}");
        }
    }

    #[test]
    fn an_answer_without_an_assistant_message_says_what_came_back() {
        let tools = [
            json!({"message_type": "reasoning_message", "reasoning": "hm"}),
            json!({"message_type": "tool_call_message", "tool_call": {"name": "conversation_search"}}),
            json!({"message_type": "tool_return_message", "tool_return": "No results found."}),
            json!({"message_type": "tool_call_message", "tool_call": {"name": "conversation_search"}}),
        ];
        let f = answer(&tools, Some("max_steps")).unwrap_err();
        assert!(!f.retryable, "{f:?}");
        assert!(
            f.message.contains("only called tools (conversation_search) (stop reason: max_steps)"),
            "{f:?}"
        );
        let f = answer(&[], Some("end_turn")).unwrap_err();
        assert!(f.message.contains("nothing came back (stop reason: end_turn)"), "{f:?}");
        let said = [
            json!({"message_type": "assistant_message", "content": [{"type": "text", "text": "Hi"}]}),
            json!({"message_type": "assistant_message", "content": "there"}),
        ];
        assert_eq!(answer(&said, None).unwrap(), "Hi\n\nthere");
    }

    #[test]
    fn letta_errors_tell_a_wrong_route_from_a_missing_agent() {
        let s = reqwest::StatusCode::NOT_FOUND;
        let f = failure(
            "http://h",
            "agent-x",
            "http://h/v1/v1/agents/x/messages",
            s,
            r#"{"detail":"Not Found"}"#,
        );
        assert!(!f.retryable && f.message.contains("no such route"), "{f:?}");
        let f = failure("http://h", "agent-x", "u", s, r#"{"detail":"Agent with ID agent-x not found"}"#);
        assert!(!f.retryable && f.message.contains("has no agent \"agent-x\""), "{f:?}");
        let body = r#"{"error":{"type":"llm_error","message":"An error occurred with the LLM request.","detail":"INTERNAL_SERVER_ERROR: Failed to connect to OpenAI: Connection error."}}"#;
        let f = failure("http://h", "agent-x", "u", reqwest::StatusCode::INTERNAL_SERVER_ERROR, body);
        assert!(f.retryable, "{f:?}");
        assert!(
            f.message.contains("An error occurred with the LLM request.")
                && f.message.contains("Failed to connect to OpenAI: Connection error."),
            "{f:?}"
        );
        let f = failure("http://h", "a", "u", reqwest::StatusCode::UNAUTHORIZED, "");
        assert!(!f.retryable && f.message.contains("API key"), "{f:?}");
    }
}
