//! A real HTTP server on loopback standing in for the outside services agents talk to: a
//! webhook receiver that can be slow or fail on purpose, a Letta server, and an
//! OpenAI-compatible `/v1/chat/completions` + `/v1/models`.
//!
//! The Letta part answers as Letta 0.11.7 and 0.16.8 do: `307` to the trailing slash of
//! `/v1/agents`, `400` for an id that is not `agent-<uuid4>` and `404 Agent with ID … not found`
//! for an unknown one, `422` with FastAPI's list for a bad body, FastAPI's plain `Not Found` for
//! any other route, 0.16.8's `{"error":{"type","message","detail"}}` for a server error, and no
//! deduplication: the same `otid` twice is stored twice. A message is worked on to the end
//! even when the client stops waiting, and stored only then, with its answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
    pub raw: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// How the receiver behaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Answer 503 to the first N webhook requests.
    pub fail_first: usize,
    /// Answer every webhook request with this status instead of 200.
    pub status: Option<u16>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Answer webhook requests with a body of this many bytes instead of "thanks".
    pub body_bytes: usize,
    /// Letta: the first N messages take `letta_delay` (the rest answer at once).
    pub letta_slow_first: usize,
    pub letta_delay: Duration,
    /// Letta: answer every message with this status and 0.16.8's error body.
    pub letta_error: Option<u16>,
    /// Letta: the agent answers with tool calls only, no assistant message.
    pub letta_tools_only: bool,
    /// Letta: this many more agents (`spare-N`), to page through.
    pub letta_spare_agents: usize,
}

/// The stand-in Letta server's agents.
pub const ADA: &str = "agent-11111111-1111-4111-8111-111111111111";
pub const BO: &str = "agent-22222222-2222-4222-8222-222222222222";

#[derive(Default)]
pub struct LettaState {
    /// Every stored message: (agent id, sequence number, the message as Letta lists it).
    pub messages: Vec<(String, usize, serde_json::Value)>,
    /// Messages being worked on, per agent.
    pub active: Vec<String>,
    posts: usize,
    seq: usize,
}

#[derive(Default)]
pub struct Shared {
    pub received: Mutex<Vec<Received>>,
    behaviour: Mutex<Behaviour>,
    webhook_calls: AtomicUsize,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub letta: Mutex<LettaState>,
    /// The most Letta messages worked on at once, for one agent.
    pub letta_max_at_once: AtomicUsize,
}

pub struct Receiver {
    pub url: String,
    pub shared: Arc<Shared>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Receiver {
        let shared = Arc::new(Shared { behaviour: Mutex::new(behaviour), ..Shared::default() });
        let data = web::Data::from(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/hook", web::post().to(hook))
                // ntfy publishes to its server's root: a channel at `{url}/hook` posts here.
                .route("/hook/", web::post().to(hook))
                .route("/hook", web::head().to(HttpResponse::Ok))
                .route("/v1/agents", web::get().to(letta_redirect))
                .route("/v1/agents/", web::get().to(letta_list))
                .route("/v1/agents/{id}", web::get().to(letta_get))
                .route("/v1/agents/{id}/messages", web::post().to(letta_messages))
                .route("/v1/agents/{id}/messages", web::get().to(letta_history))
                .route("/v1/runs/active", web::get().to(letta_active))
                .route("/v1/models", web::get().to(models))
                .route("/v1/chat/completions", web::post().to(completions))
                .default_service(web::to(|| async {
                    HttpResponse::NotFound().json(serde_json::json!({"detail": "Not Found"}))
                }))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Receiver { url: format!("http://127.0.0.1:{port}"), shared }
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.received.lock().unwrap().len()
    }

    /// Waits until at least `n` requests arrived (panics after `secs`).
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "only {} of {n} requests arrived in {secs} s", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn record(shared: &Shared, req: &HttpRequest, body: &web::Bytes) {
    let headers =
        req.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    shared.received.lock().unwrap().push(Received {
        path: req.path().to_string(),
        headers,
        body: serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
        raw: body.to_vec(),
        at: Instant::now(),
    });
}

async fn hook(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let behaviour = shared.behaviour.lock().unwrap().clone();
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    let call = shared.webhook_calls.fetch_add(1, Ordering::SeqCst);
    record(&shared, &req, &body);
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    if call < behaviour.fail_first {
        return HttpResponse::ServiceUnavailable().body(format!("busy, call {call}"));
    }
    match behaviour.status {
        Some(code) => HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).body("no"),
        None if behaviour.body_bytes > 0 => HttpResponse::Ok().body("x".repeat(behaviour.body_bytes)),
        None => HttpResponse::Ok().body("thanks"),
    }
}

impl Shared {
    /// Changes how the server behaves from now on.
    pub fn behaviour_mut(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }
}

impl Receiver {
    /// The user messages Letta stored for `agent`, oldest first, with their `otid`.
    pub fn letta_user_messages(&self, agent: &str) -> Vec<(String, String)> {
        let state = self.shared.letta.lock().unwrap();
        state
            .messages
            .iter()
            .filter(|(a, _, m)| a == agent && m["message_type"] == "user_message")
            .map(|(_, _, m)| {
                (
                    m["content"].as_str().unwrap_or("").to_string(),
                    m["otid"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

fn is_agent_id(id: &str) -> bool {
    let Some(uuid) = id.strip_prefix("agent-") else { return false };
    let g: Vec<&str> = uuid.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
    g.len() == 5
        && hex(g[0], 8)
        && hex(g[1], 4)
        && hex(g[2], 4)
        && hex(g[3], 4)
        && hex(g[4], 12)
        && g[2].starts_with('4')
        && g[3].starts_with(['8', '9', 'a', 'b'])
}

fn letta_agents(shared: &Shared) -> Vec<(String, String)> {
    let spare = shared.behaviour.lock().unwrap().letta_spare_agents;
    let mut all = vec![(ADA.to_string(), "Ada".to_string()), (BO.to_string(), "Bo".to_string())];
    all.extend(
        (0..spare).map(|i| (format!("agent-{i:08x}-0000-4000-8000-000000000000"), format!("spare-{i}"))),
    );
    all
}

fn query(req: &HttpRequest) -> Vec<(String, String)> {
    serde_urlencoded::from_str(req.query_string()).unwrap_or_default()
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

async fn letta_redirect(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    record(&shared, &req, &web::Bytes::new());
    let q = req.query_string();
    let to = if q.is_empty() { "/v1/agents/".to_string() } else { format!("/v1/agents/?{q}") };
    HttpResponse::TemporaryRedirect().insert_header(("location", to)).finish()
}

async fn letta_list(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    record(&shared, &req, &web::Bytes::new());
    let q = query(&req);
    let limit: usize = param(&q, "limit").and_then(|l| l.parse().ok()).unwrap_or(50);
    let mut all = letta_agents(&shared);
    if let Some(name) = param(&q, "name") {
        all.retain(|(_, n)| n == name);
    }
    if let Some(after) = param(&q, "after") {
        match all.iter().position(|(id, _)| id == after) {
            Some(i) => all.drain(..=i).for_each(drop),
            None => all.clear(),
        }
    }
    let page: Vec<_> =
        all.into_iter().take(limit).map(|(id, name)| serde_json::json!({"id": id, "name": name})).collect();
    HttpResponse::Ok().json(page)
}

async fn letta_get(shared: web::Data<Shared>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    record(&shared, &req, &web::Bytes::new());
    if !is_agent_id(&id) {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({"detail": format!("agent_id {id} is not in the valid format 'agent-<uuid4>'")}));
    }
    match letta_agents(&shared).into_iter().find(|(a, _)| *a == *id) {
        Some((id, name)) => HttpResponse::Ok().json(serde_json::json!({"id": id, "name": name})),
        None => HttpResponse::NotFound()
            .json(serde_json::json!({"detail": format!("Agent with ID {id} not found")})),
    }
}

async fn letta_messages(
    shared: web::Data<Shared>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    record(&shared, &req, &body);
    let id = id.into_inner();
    if !letta_agents(&shared).iter().any(|(a, _)| *a == id) {
        return HttpResponse::NotFound()
            .json(serde_json::json!({"detail": format!("Agent with ID {id} not found")}));
    }
    let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(message) = asked.pointer("/messages/0").filter(|m| m["role"] == "user").cloned() else {
        return HttpResponse::UnprocessableEntity().json(serde_json::json!({"detail": [
            {"type": "missing", "loc": ["body", "messages", 0, "role"], "msg": "Field required"}
        ]}));
    };
    let behaviour = shared.behaviour.lock().unwrap().clone();
    if let Some(code) = behaviour.letta_error {
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).json(
            serde_json::json!({
                "error": {
                    "type": "llm_error",
                    "message": "An error occurred with the LLM request.",
                    "detail": "INTERNAL_SERVER_ERROR: Failed to connect to OpenAI: Connection error."
                }
            }),
        );
    }
    let slow = {
        let mut state = shared.letta.lock().unwrap();
        state.posts += 1;
        state.active.push(id.clone());
        let at_once = state.active.iter().filter(|a| **a == id).count();
        shared.letta_max_at_once.fetch_max(at_once, Ordering::SeqCst);
        state.posts <= behaviour.letta_slow_first
    };
    // Letta goes on when the client stops waiting: the work is its own task.
    let work = tokio::spawn(async move {
        if slow {
            tokio::time::sleep(behaviour.letta_delay).await;
        }
        let mut state = shared.letta.lock().unwrap();
        let mut answer = vec![
            serde_json::json!({"message_type": "reasoning_message", "reasoning": "The person wants a greeting."}),
        ];
        if behaviour.letta_tools_only {
            answer.push(serde_json::json!({"message_type": "tool_call_message", "tool_call": {"name": "archival_memory_insert", "arguments": "{}"}}));
        } else {
            answer.push(
                serde_json::json!({"message_type": "assistant_message", "content": "Hello from Letta"}),
            );
        }
        let mut stored = vec![
            serde_json::json!({"message_type": "user_message", "content": message["content"], "otid": message["otid"]}),
        ];
        stored.extend(answer.iter().cloned());
        for mut m in stored {
            state.seq += 1;
            m["id"] = serde_json::json!(format!("message-{}", state.seq));
            let seq = state.seq;
            state.messages.push((id.clone(), seq, m));
        }
        if let Some(i) = state.active.iter().position(|a| *a == id) {
            state.active.remove(i);
        }
        let stop = if behaviour.letta_tools_only { "max_steps" } else { "end_turn" };
        serde_json::json!({"messages": answer, "stop_reason": {"message_type": "stop_reason", "stop_reason": stop}})
    });
    HttpResponse::Ok().json(work.await.unwrap())
}

/// The agent's messages: the newest `limit` newest first, or with `after` and `order=asc`
/// those after that message, oldest first.
async fn letta_history(shared: web::Data<Shared>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    record(&shared, &req, &web::Bytes::new());
    let q = query(&req);
    let limit: usize = param(&q, "limit").and_then(|l| l.parse().ok()).unwrap_or(10);
    let state = shared.letta.lock().unwrap();
    let mine: Vec<&(String, usize, serde_json::Value)> =
        state.messages.iter().filter(|(a, _, _)| *a == *id).collect();
    let mut list: Vec<serde_json::Value> = match param(&q, "after") {
        Some(after) => {
            let from =
                mine.iter().find(|(_, _, m)| m["id"] == after).map(|(_, s, _)| *s).unwrap_or(usize::MAX);
            mine.iter().filter(|(_, s, _)| *s > from).map(|(_, _, m)| m.clone()).collect()
        }
        None => mine.iter().map(|(_, _, m)| m.clone()).collect(),
    };
    if param(&q, "order") != Some("asc") {
        list.reverse();
    }
    list.truncate(limit);
    HttpResponse::Ok().json(list)
}

async fn letta_active(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    record(&shared, &req, &web::Bytes::new());
    let q = query(&req);
    let state = shared.letta.lock().unwrap();
    let runs: Vec<_> = state
        .active
        .iter()
        .filter(|a| param(&q, "agent_ids").is_none_or(|want| want == a.as_str()))
        .map(|a| serde_json::json!({"status": "running", "metadata": {"agent_id": a}}))
        .collect();
    HttpResponse::Ok().json(runs)
}

async fn models(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    record(&shared, &req, &web::Bytes::new());
    if req.headers().get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk-test") {
        return HttpResponse::Unauthorized().json(serde_json::json!({"error": {"message": "bad key"}}));
    }
    HttpResponse::Ok().json(serde_json::json!({"object": "list", "data": [{"id": "tiny"}]}))
}

async fn completions(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    record(&shared, &req, &body);
    let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let prompt = asked.pointer("/messages/0/content").and_then(|v| v.as_str()).unwrap_or("").to_string();
    HttpResponse::Ok().json(serde_json::json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("You said: {prompt}")}}]
    }))
}
