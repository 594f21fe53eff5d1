//! A real HTTP server on loopback standing in for the outside services agents talk to: a
//! webhook receiver that can be slow or fail on purpose, the two Letta endpoints, and an
//! OpenAI-compatible `/v1/chat/completions` + `/v1/models`.

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
}

#[derive(Default)]
pub struct Shared {
    pub received: Mutex<Vec<Received>>,
    behaviour: Mutex<Behaviour>,
    webhook_calls: AtomicUsize,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
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
                .route("/hook", web::head().to(HttpResponse::Ok))
                .route("/v1/agents/", web::get().to(letta_list))
                .route("/v1/agents/{id}", web::get().to(letta_get))
                .route("/v1/agents/{id}/messages", web::post().to(letta_messages))
                .route("/v1/models", web::get().to(models))
                .route("/v1/chat/completions", web::post().to(completions))
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

async fn letta_list(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    record(&shared, &req, &web::Bytes::new());
    HttpResponse::Ok()
        .json(serde_json::json!([{"id": "agent-1", "name": "Ada"}, {"id": "agent-2", "name": "Bo"}]))
}

async fn letta_get(shared: web::Data<Shared>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    record(&shared, &req, &web::Bytes::new());
    if id.as_str() == "agent-1" {
        HttpResponse::Ok().json(serde_json::json!({"id": "agent-1", "name": "Ada"}))
    } else {
        HttpResponse::NotFound().json(serde_json::json!({"detail": format!("Agent {id} not found")}))
    }
}

async fn letta_messages(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    record(&shared, &req, &body);
    HttpResponse::Ok().json(serde_json::json!({"messages": [
        {"message_type": "reasoning_message", "reasoning": "The person wants a greeting."},
        {"message_type": "assistant_message", "content": "Hello from Letta"}
    ]}))
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
