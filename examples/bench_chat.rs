//! Benchmark of chat streaming (prints figures; never fails on a slow machine):
//!
//! - (a) overhead: the same scripted OpenAI-compatible server (SSE, `--tokens` tokens
//!   `--gap-ms` apart) is read directly and through Steward's `POST /api/v1/chat`, one after
//!   the other, `--rounds` times each: time to first token (p50/p99) and per-token overhead
//!   (how much longer the stream takes through Steward, per token). Target: under 2 ms added at
//!   p50.
//! - (b) load: `--chats` clients stream chats at once for `--secs` seconds, each continuing its
//!   own conversation (so history is stored, trimmed and sent upstream); completed replies,
//!   errors, tokens per second, and RSS (now and peak) of the whole process.
//!
//! Run: `cargo run --release --example bench_chat [-- --rounds N --tokens N --gap-ms N
//! --chats N --secs N]`
//!
//! Steward runs in this process on a fresh database in a temporary directory, served on
//! loopback port 0 as `steward serve` serves it; the scripted model is a small HTTP/1.1 server
//! on its own port.
// A benchmark measures the machine's real clock.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod measure;

use anyhow::{Context, anyhow};
use futures_util::StreamExt;
use serde_json::{Value, json};
use steward::agents::{self, AgentConfigPatch, AgentInput};
use steward::app::Application;
use steward::config::Config;
use steward::db::Db;
use steward::services::Actor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Options {
    rounds: usize,
    tokens: usize,
    gap_ms: u64,
    chats: usize,
    secs: u64,
}

impl Options {
    fn from_args() -> Options {
        let number = measure::flag::<u64>;
        Options {
            rounds: number("--rounds", 200) as usize,
            tokens: number("--tokens", 50).max(2) as usize,
            gap_ms: number("--gap-ms", 2),
            chats: number("--chats", 200) as usize,
            secs: number("--secs", 60),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = Options::from_args();
    let model = start_model(o.tokens, o.gap_ms).await?;
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("bench.db");
    let config = Config { db: db_path.clone(), bind: "127.0.0.1:0".into(), ..Config::default() };
    let app = Application::build(config).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let token = set_up(&db_path, &model)?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(1024).build()?;

    println!("bench_chat: {} tokens per reply, {} ms apart; {} rounds", o.tokens, o.gap_ms, o.rounds);
    // Warm both paths (connections, the first database pages) before measuring.
    for _ in 0..5 {
        direct(&http, &model).await?;
        through(&http, &base, &token, None).await?;
    }
    let mut d = Samples::default();
    let mut s = Samples::default();
    for _ in 0..o.rounds {
        d.add(direct(&http, &model).await?);
        s.add(through(&http, &base, &token, None).await?);
    }
    let (d_ttft, s_ttft) = (d.ttft_p(50.0), s.ttft_p(50.0));
    println!(
        "(a) time to first token  direct p50 {:.2} ms p99 {:.2} ms | via Steward p50 {:.2} ms p99 {:.2} ms | added p50 {:.2} ms",
        d_ttft,
        d.ttft_p(99.0),
        s_ttft,
        s.ttft_p(99.0),
        s_ttft - d_ttft
    );
    let (d_tok, s_tok) = (d.per_token_p(50.0), s.per_token_p(50.0));
    println!(
        "(a) per token            direct p50 {:.3} ms | via Steward p50 {:.3} ms | added p50 {:.3} ms per token",
        d_tok,
        s_tok,
        s_tok - d_tok
    );
    println!(
        "(a) target: under 2 ms added at p50 -> {}",
        if s_ttft - d_ttft < 2.0 && s_tok - d_tok < 2.0 { "met" } else { "MISSED" }
    );

    if o.chats > 0 && o.secs > 0 {
        load(&http, &base, &token, o.chats, Duration::from_secs(o.secs)).await?;
    }
    Ok(())
}

/// A stored `default` llm agent pointing at the scripted model, and an API token.
fn set_up(db_path: &std::path::Path, model: &str) -> anyhow::Result<String> {
    let db = Db::open(db_path)?;
    let mut conn = db.conn()?;
    let now = chrono::Utc::now();
    agents::add(
        &mut conn,
        now,
        AgentInput {
            name: Some("default".into()),
            kind: Some("llm".into()),
            concurrency: None,
            config: AgentConfigPatch {
                url: Some(model.to_string()),
                model: Some("scripted".into()),
                ..AgentConfigPatch::default()
            },
        },
        Actor::Person,
    )?;
    let (token, _) =
        steward::auth::tokens::create(&mut conn, &steward::auth::tokens::NewToken::admin("bench"), now)?;
    Ok(token)
}

/// One streamed reply: when the first and last tokens arrived, and how many came.
struct Timing {
    ttft: Duration,
    last: Duration,
    tokens: usize,
}

#[derive(Default)]
struct Samples {
    ttft: Vec<f64>,
    per_token: Vec<f64>,
}

impl Samples {
    fn add(&mut self, t: Timing) {
        self.ttft.push(t.ttft.as_secs_f64() * 1000.0);
        let spread = (t.last - t.ttft).as_secs_f64() * 1000.0;
        self.per_token.push(spread / (t.tokens.max(2) - 1) as f64);
    }

    fn ttft_p(&mut self, p: f64) -> f64 {
        pct(&mut self.ttft, p)
    }

    fn per_token_p(&mut self, p: f64) -> f64 {
        pct(&mut self.per_token, p)
    }
}

fn pct(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    measure::nearest_rank(values, p).unwrap_or(f64::NAN)
}

/// Reads an SSE response, timing the pieces for which `is_token` holds.
async fn time_stream(
    started: Instant,
    res: reqwest::Response,
    is_token: impl Fn(&str) -> bool,
) -> anyhow::Result<(Timing, String)> {
    if !res.status().is_success() {
        return Err(anyhow!("HTTP {}", res.status()));
    }
    let mut stream = res.bytes_stream();
    let (mut first, mut last, mut tokens) = (None, Duration::ZERO, 0);
    let mut buf = String::new();
    let mut all = String::new();
    while let Some(chunk) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if is_token(&block) {
                let at = started.elapsed();
                first.get_or_insert(at);
                last = at;
                tokens += 1;
            }
            all.push_str(&block);
        }
    }
    let ttft = first.ok_or_else(|| anyhow!("no token in: {}", all.chars().take(300).collect::<String>()))?;
    Ok((Timing { ttft, last, tokens }, all))
}

async fn direct(http: &reqwest::Client, model: &str) -> anyhow::Result<Timing> {
    let started = Instant::now();
    let body = json!({"model": "scripted", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let res = http.post(format!("{model}/chat/completions")).json(&body).send().await?;
    let (t, _) = time_stream(started, res, |b| b.contains("\"content\"")).await?;
    Ok(t)
}

/// One chat through Steward; returns the timing and the conversation it was in.
async fn chat(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    conversation: Option<i64>,
) -> anyhow::Result<(Timing, i64)> {
    let started = Instant::now();
    let mut body = json!({"message": "Tell me something"});
    if let Some(c) = conversation {
        body["conversation_id"] = json!(c);
    }
    let res = http
        .post(format!("{base}/api/v1/chat"))
        .bearer_auth(token)
        .header("Accept", "text/event-stream")
        .json(&body)
        .send()
        .await?;
    let (t, all) = time_stream(started, res, |b| b.starts_with("event: token")).await?;
    if all.contains("event: error") {
        return Err(anyhow!("the chat failed: {all}"));
    }
    let done = all
        .split("event: done\ndata: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .context("no done event")?;
    let done: Value = serde_json::from_str(done)?;
    Ok((t, done["conversation_id"].as_i64().context("no conversation id")?))
}

async fn through(http: &reqwest::Client, base: &str, token: &str, c: Option<i64>) -> anyhow::Result<Timing> {
    Ok(chat(http, base, token, c).await?.0)
}

async fn load(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    chats: usize,
    span: Duration,
) -> anyhow::Result<()> {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let tokens = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let started = Instant::now();
    let deadline = started + span;
    let mut workers = Vec::new();
    for _ in 0..chats {
        let (http, base, token) = (http.clone(), base.to_string(), token.to_string());
        let (done, errors, tokens, first_error) =
            (done.clone(), errors.clone(), tokens.clone(), first_error.clone());
        workers.push(tokio::spawn(async move {
            let mut conversation = None;
            while Instant::now() < deadline {
                match chat(&http, &base, &token, conversation).await {
                    Ok((t, c)) => {
                        conversation = Some(c);
                        done.fetch_add(1, Ordering::Relaxed);
                        tokens.fetch_add(t.tokens as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().map(|mut f| f.get_or_insert(e.to_string()).clone()).ok();
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    let mut peak_mid = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak_mid = peak_mid.max(measure::status_kib(None, "VmRSS:"));
    }
    for w in workers {
        w.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let (n, e, t) =
        (done.load(Ordering::Relaxed), errors.load(Ordering::Relaxed), tokens.load(Ordering::Relaxed));
    println!(
        "(b) {chats} concurrent streaming chats for {:.0} s: {n} replies ({:.1}/s), {t} tokens ({:.0}/s), {e} errors",
        secs,
        n as f64 / secs,
        t as f64 / secs
    );
    if let Ok(Some(first)) = first_error.lock().map(|f| f.clone()) {
        println!("(b) first error: {first}");
    }
    println!(
        "(b) RSS of the whole process (Steward, the scripted model and {chats} clients): {:.1} MB during the run, {:.1} MB peak",
        peak_mid as f64 / 1024.0,
        measure::status_kib(None, "VmHWM:") as f64 / 1024.0
    );
    Ok(())
}

/// The scripted model: every request gets `tokens` SSE chunks `gap_ms` apart, then `[DONE]`.
async fn start_model(tokens: usize, gap_ms: u64) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Keep-alive: serve requests on this connection until the client closes it.
                loop {
                    if read_request(&mut socket).await.is_none() {
                        return;
                    }
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    for i in 0..tokens {
                        let data = json!({"choices": [{"index": 0, "delta": {"content": format!("t{i} ")}, "finish_reason": null}]});
                        let event = format!("data: {data}\n\n");
                        if write_chunk(&mut socket, event.as_bytes()).await.is_err() {
                            return;
                        }
                        if gap_ms > 0 {
                            tokio::time::sleep(Duration::from_millis(gap_ms)).await;
                        }
                    }
                    let end = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
                    if write_chunk(&mut socket, end.as_bytes()).await.is_err()
                        || socket.write_all(b"0\r\n\r\n").await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Ok(url)
}

async fn write_chunk(socket: &mut tokio::net::TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    socket.write_all(format!("{:x}\r\n", bytes.len()).as_bytes()).await?;
    socket.write_all(bytes).await?;
    socket.write_all(b"\r\n").await
}

/// Reads one request (head and Content-Length body); `None` when the connection ends.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(())
}
