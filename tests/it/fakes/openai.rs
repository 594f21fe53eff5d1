//! A scripted OpenAI-compatible server on loopback: real HTTP over a real socket, real SSE
//! framing, written by hand so that it can misbehave exactly: a slow first token, an error
//! status, a connection reset in the middle of a stream, a malformed chunk, no `[DONE]`.
//! Each request to `/v1/chat/completions` takes the next [`Reply`] from the script (the last
//! one repeats); every request body is recorded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub enum Reply {
    /// Streams these pieces of text, then `finish_reason: stop` and `[DONE]`.
    Text(Vec<&'static str>),
    /// Waits, then streams the text.
    SlowFirst(Duration, Vec<&'static str>),
    /// Streams tool-call deltas: (index, id, name, argument piece) each in its own chunk.
    Tools(Vec<(u32, &'static str, &'static str, &'static str)>),
    /// An HTTP error with an OpenAI-style error body.
    Status(u16, &'static str),
    /// Streams the text, then resets the connection (no finish, no `[DONE]`).
    ResetAfter(Vec<&'static str>),
    /// Streams the text, then a chunk that is not JSON.
    Malformed(Vec<&'static str>),
    /// Streams the text and closes without a finish reason or `[DONE]`.
    NoDone(Vec<&'static str>),
    /// Streams the text slowly: one piece every `Duration`.
    Slow(Duration, Vec<&'static str>),
    /// Letta's way to speak: a whole (not streamed) answer calling `send_message` with the text,
    /// after a wait.
    LettaSay(Duration, &'static str),
    /// A whole (not streamed) answer with text and no tool call.
    Plain(&'static str),
}

#[derive(Clone)]
pub struct ScriptedModel {
    pub url: String,
    script: Arc<Mutex<VecDeque<Reply>>>,
    pub requests: Arc<Mutex<Vec<Value>>>,
}

impl ScriptedModel {
    pub async fn start(script: Vec<Reply>) -> ScriptedModel {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let model = ScriptedModel {
            url,
            script: Arc::new(Mutex::new(script.into())),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let m = model.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let m = m.clone();
                tokio::spawn(async move { m.serve(socket).await });
            }
        });
        model
    }

    /// Replaces what is left of the script.
    pub fn then(&self, replies: Vec<Reply>) {
        *self.script.lock().unwrap() = replies.into();
    }

    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    fn next(&self) -> Reply {
        let mut script = self.script.lock().unwrap();
        if script.len() > 1 { script.pop_front().unwrap() } else { script.front().cloned().unwrap() }
    }

    async fn serve(&self, mut socket: TcpStream) {
        let Some((head, body)) = read_request(&mut socket).await else { return };
        if head.starts_with("get ") {
            // `GET /v1/models` (Letta asks at start-up); it takes nothing from the script.
            let list = json!({"object": "list", "data": [{"id": "scripted", "object": "model", "owned_by": "steward"}]});
            let _ = write_json(&mut socket, 200, &list).await;
            return;
        }
        self.requests.lock().unwrap().push(body);
        let reply = self.next();
        let _ = respond(&mut socket, reply).await;
    }
}

/// Reads one request's head (lower-cased) and body (by Content-Length, as JSON; `null` when
/// empty).
async fn read_request(socket: &mut TcpStream) -> Option<(String, Value)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
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
    let body = &buf[head_end..head_end + length];
    if body.is_empty() {
        return Some((head, Value::Null));
    }
    serde_json::from_slice(body).ok().map(|b| (head, b))
}

async fn write_json(socket: &mut TcpStream, code: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {code} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body.as_bytes()).await
}

fn completion(message: Value, finish: &str) -> Value {
    json!({
        "id": "c", "object": "chat.completion", "created": 0, "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

fn text_chunk(text: &str) -> String {
    let v = json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
    format!("data: {v}\n\n")
}

fn finish(reason: &str) -> String {
    let v = json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]});
    format!("data: {v}\n\ndata: [DONE]\n\n")
}

async fn respond(socket: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    const SSE: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
    let pause = Duration::from_millis(5);
    match reply {
        Reply::Status(code, message) => {
            let body = json!({"error": {"message": message, "type": "error"}}).to_string();
            let head = format!(
                "HTTP/1.1 {code} Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            socket.write_all(head.as_bytes()).await?;
            socket.write_all(body.as_bytes()).await?;
        }
        Reply::Text(pieces) | Reply::SlowFirst(_, pieces) | Reply::Slow(_, pieces) if pieces.is_empty() => {
            socket.write_all(SSE.as_bytes()).await?;
            socket.write_all(finish("stop").as_bytes()).await?;
        }
        Reply::Text(pieces) => {
            socket.write_all(SSE.as_bytes()).await?;
            for p in pieces {
                socket.write_all(text_chunk(p).as_bytes()).await?;
                tokio::time::sleep(pause).await;
            }
            socket.write_all(finish("stop").as_bytes()).await?;
        }
        Reply::SlowFirst(wait, pieces) => {
            socket.write_all(SSE.as_bytes()).await?;
            tokio::time::sleep(wait).await;
            for p in pieces {
                socket.write_all(text_chunk(p).as_bytes()).await?;
            }
            socket.write_all(finish("stop").as_bytes()).await?;
        }
        Reply::Slow(every, pieces) => {
            socket.write_all(SSE.as_bytes()).await?;
            for p in pieces {
                socket.write_all(text_chunk(p).as_bytes()).await?;
                tokio::time::sleep(every).await;
            }
            socket.write_all(finish("stop").as_bytes()).await?;
        }
        Reply::Tools(deltas) => {
            socket.write_all(SSE.as_bytes()).await?;
            for (index, id, name, args) in deltas {
                let mut call = json!({"index": index, "function": {"arguments": args}});
                if !id.is_empty() {
                    call["id"] = json!(id);
                    call["type"] = json!("function");
                    call["function"]["name"] = json!(name);
                }
                let v = json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]});
                socket.write_all(format!("data: {v}\n\n").as_bytes()).await?;
                tokio::time::sleep(pause).await;
            }
            socket.write_all(finish("tool_calls").as_bytes()).await?;
        }
        Reply::ResetAfter(pieces) => {
            socket.write_all(SSE.as_bytes()).await?;
            for p in pieces {
                socket.write_all(text_chunk(p).as_bytes()).await?;
            }
            socket.flush().await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            // A reset, not a clean close: linger 0 makes the kernel send RST. (Deprecated for
            // blocking on drop, which a zero linger does not do.)
            #[allow(deprecated)]
            socket.set_linger(Some(Duration::ZERO))?;
            return Ok(());
        }
        Reply::Malformed(pieces) => {
            socket.write_all(SSE.as_bytes()).await?;
            for p in pieces {
                socket.write_all(text_chunk(p).as_bytes()).await?;
            }
            socket.write_all(b"data: {\"choices\": [{\"delta\": {\"content\": \"oops\"\n\n").await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Reply::LettaSay(wait, text) => {
            tokio::time::sleep(wait).await;
            let args = json!({"message": text, "request_heartbeat": false}).to_string();
            let call = json!({"id": "call_say", "type": "function", "function": {"name": "send_message", "arguments": args}});
            let message = json!({"role": "assistant", "content": null, "tool_calls": [call]});
            write_json(socket, 200, &completion(message, "tool_calls")).await?;
        }
        Reply::Plain(text) => {
            write_json(socket, 200, &completion(json!({"role": "assistant", "content": text}), "stop"))
                .await?;
        }
        Reply::NoDone(pieces) => {
            socket.write_all(SSE.as_bytes()).await?;
            for p in pieces {
                socket.write_all(text_chunk(p).as_bytes()).await?;
            }
        }
    }
    socket.shutdown().await
}
