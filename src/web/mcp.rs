//! `/mcp`: the tool registry ([`crate::tools`]) served over MCP's streamable HTTP transport, so an
//! external agent (Claude Code, Letta, any MCP client) can act on Steward and schedule its own
//! wake-ups. Hand-written rather than built on `rmcp`: the server side needs only a few JSON-RPC
//! methods answered as plain JSON (no SSE), and this keeps it to one small file.
//!
//! - `POST /mcp` takes one JSON-RPC 2.0 message. A request gets a JSON response; a notification
//!   (or a response) gets 202 with no body. Batches are refused (the 2025-06-18 protocol dropped
//!   them).
//! - `GET /mcp` (the optional server-to-client SSE stream) and `DELETE /mcp` answer 405.
//! - Behind a bearer API token, like `/api/v1` (see `routes.rs`). The spec asks servers to check
//!   `Origin` against DNS rebinding; that protects servers that trust whoever can reach them. Here
//!   every request must carry a token a rebinding page cannot have (and CSRF needs ambient
//!   credentials such as cookies, which `/mcp` ignores), so there is no Origin check.
//! - Sessions: `initialize` hands out an `Mcp-Session-Id` because clients expect one, but the
//!   server keeps no per-session state, so any id (or none) is accepted afterwards.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::tools::{self, Caller};
use crate::web::AppState;

/// Protocol versions we speak, newest first.
pub const VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// `POST /mcp`: one JSON-RPC message.
pub async fn post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Some(v) = req.headers().get("MCP-Protocol-Version")
        && !VERSIONS.iter().any(|known| v.as_bytes() == known.as_bytes())
    {
        let message = format!("unsupported MCP-Protocol-Version; this server speaks {}", VERSIONS.join(", "));
        return refused(INVALID_REQUEST, &message);
    }
    let message = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(message)) => message,
        Ok(Value::Array(_)) => {
            return refused(INVALID_REQUEST, "batches are not supported; send one message");
        }
        Ok(_) => return refused(INVALID_REQUEST, "a JSON-RPC message is an object"),
        Err(e) => return refused(PARSE_ERROR, &format!("parse error: {e}")),
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return refused(INVALID_REQUEST, "jsonrpc must be \"2.0\"");
    }
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        // A client's response to a server request: we send none, so there is nothing to do.
        if message.contains_key("result") || message.contains_key("error") {
            return HttpResponse::Accepted().finish();
        }
        return refused(INVALID_REQUEST, "method is missing");
    };
    let Some(id) = message.get("id") else {
        // A notification (`notifications/initialized`, `notifications/cancelled`, ...): no answer.
        return HttpResponse::Accepted().finish();
    };
    if !(id.is_string() || id.is_i64() || id.is_u64()) {
        return refused(INVALID_REQUEST, "id must be a string or an integer");
    }
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    let mut res = HttpResponse::Ok();
    let outcome = match method {
        "initialize" => {
            res.insert_header(("Mcp-Session-Id", crate::auth::random_token(16)));
            Ok(initialize(&params))
        }
        "ping" => Ok(json!({})),
        "tools/list" => Ok(tools_list()),
        "tools/call" => tools_call(&state, &req, &params).await,
        other => Err((METHOD_NOT_FOUND, format!("method not found: {other}"))),
    };
    let body = match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err((code, message)) => {
            json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
        }
    };
    res.json(body)
}

/// `GET` and `DELETE /mcp`: no server-sent stream, no sessions to end.
pub async fn not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, "POST")).finish()
}

/// A message we cannot answer as a request: 400 with a JSON-RPC error without id.
fn refused(code: i64, message: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .json(json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } }))
}

/// Echoes the client's protocol version when we speak it, else offers our newest.
fn initialize(params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked.and_then(|a| VERSIONS.iter().find(|v| **v == a)).unwrap_or(&VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": {} },
        "serverInfo": { "name": "steward", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "Steward keeps the person's tasks and scheduled prompts. Use schedule_wakeup to \
            schedule your own next turn, notify to tell the person something.",
    })
}

fn tools_list() -> Value {
    let tools: Vec<Value> = tools::specs()
        .into_iter()
        .map(|s| {
            json!({
                "name": s.name,
                "description": s.description,
                "inputSchema": s.parameters,
                "annotations": { "destructiveHint": s.destructive },
            })
        })
        .collect();
    json!({ "tools": tools })
}

/// A tool's own failure (bad arguments, a missing task) is a result with `isError`, so the model
/// reads it; only a malformed call is a JSON-RPC error.
async fn tools_call(state: &AppState, req: &HttpRequest, params: &Value) -> Result<Value, (i64, String)> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or((INVALID_PARAMS, "params.name (the tool) is required".to_string()))?;
    if !tools::specs().iter().any(|s| s.name == name) {
        return Err((INVALID_PARAMS, format!("unknown tool: {name}")));
    }
    let arguments = params.get("arguments").unwrap_or(&Value::Null);
    let token = req.extensions().get::<crate::auth::tokens::ApiToken>().map(|t| t.id);
    let caller = Caller { conversation: None, agent: None, token };
    // Far-reaching calls wait for the person (`crate::confirm`): held, and the client told so.
    let held = {
        let (services, caller, name, args) =
            (state.services.clone(), caller.clone(), name.to_string(), arguments.clone());
        state
            .services
            .db
            .run(move |conn| {
                tools::validate(&name, &args)?;
                match crate::confirm::needs_confirmation(conn, &caller, &name, &args, 0)? {
                    Some(reason) => {
                        crate::confirm::hold(&services, conn, &caller, &name, &args, &reason).map(Some)
                    }
                    None => Ok(None),
                }
            })
            .await
    };
    let outcome = match held {
        Ok(Some(pending)) => Ok(crate::confirm::awaiting_answer(&pending)),
        Ok(None) => tools::call(&state.services, &caller, name, arguments).await,
        Err(e) => Err(e),
    };
    Ok(match outcome {
        Ok(result) => {
            // structuredContent must be an object.
            let structured = if result.is_object() { result.clone() } else { json!({ "result": result }) };
            json!({
                "content": [{ "type": "text", "text": result.to_string() }],
                "structuredContent": structured,
                "isError": false,
            })
        }
        Err(e) => {
            json!({ "content": [{ "type": "text", "text": e.program_message() }], "isError": true })
        }
    })
}
