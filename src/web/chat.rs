//! The Chat page: conversations on the side (newest first, searchable), the messages of one,
//! and a composer. A reply streams into its bubble over SSE (`/chat/{id}/stream`, a few lines
//! in app.js); when it ends, or a tool ran, the page reads the messages again, rendered here
//! as sanitised Markdown with tool calls as cards. The reply belongs to the server: a page
//! opened while it is being written joins the stream where it is.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use actix_web_lab::sse::{self, Sse};
use askama::Template;
use askama_web::WebTemplate;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};

use super::htmx::{self, is_htmx};
use super::{CurrentSession, Layout, html, see_other, view};
use crate::chat::engine::{AWAITING_CONFIRMATION, Chat, ChatEvent, Watch};
use crate::chat::{self, Conversation, Message, markdown};
use crate::error::{AppError, PageError};
use crate::services::Actor;
use crate::web::AppState;

mod tool_line;

pub use tool_line::ToolLine;

/// A tool call with its result, as a card shows it: one line in words, the JSON in a
/// `<details>`.
pub struct ToolCard {
    /// The `tool` message holding its result.
    pub result_id: Option<i32>,
    /// Held until the person confirms it (a destructive tool, per Settings).
    pub awaiting: bool,
    pub name: String,
    pub arguments: String,
    pub result: Option<String>,
    pub error: Option<String>,
    /// What it did, in words, linking to what changed.
    pub line: ToolLine,
    /// Why it waits for the person (`crate::confirm`), when it does.
    pub reason: Option<String>,
    /// It changed something: the card links to the Activity page, where it can be undone.
    pub changed: bool,
}

/// A message as a bubble shows it.
pub struct MessageItem {
    pub id: i32,
    pub role: String,
    /// Sanitised HTML (assistant) or the text (person, notice).
    pub html: String,
    pub text: String,
    pub state: String,
    pub error: Option<String>,
    pub run_id: Option<i32>,
    pub when: String,
    pub tools: Vec<ToolCard>,
}

fn pretty(json_text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json_text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json_text.to_string())
}

/// The bubbles: tool results are folded into the cards of the calls they answer.
fn items(messages: &[Message], ctx: &crate::services::Ctx) -> Vec<MessageItem> {
    let result_of =
        |id: &str| messages.iter().find(|m| m.role == "tool" && m.tool_call_id.as_deref() == Some(id));
    messages
        .iter()
        .filter(|m| m.role != "tool")
        .map(|m| MessageItem {
            id: m.id,
            role: m.role.clone(),
            html: if m.role == "assistant" { markdown::render(&m.content) } else { String::new() },
            text: m.content.clone(),
            state: m.state.clone(),
            error: m.error.clone(),
            run_id: m.run_id,
            when: view::instant(m.created(), ctx.tz, ctx.now),
            tools: m
                .calls()
                .into_iter()
                .map(|c| {
                    let answer = result_of(&c.id);
                    let awaiting = answer.is_some_and(|a| a.error.as_deref() == Some(AWAITING_CONFIRMATION));
                    let args = serde_json::from_str(&c.arguments).unwrap_or(serde_json::Value::Null);
                    let value = answer
                        .filter(|a| a.error.is_none())
                        .and_then(|a| serde_json::from_str::<serde_json::Value>(&a.content).ok());
                    let outcome = match (answer, &value) {
                        (None, _) => tool_line::Outcome::Running,
                        (Some(_), _) if awaiting => tool_line::Outcome::Awaiting,
                        (Some(a), _) if a.error.is_some() => {
                            tool_line::Outcome::Failed(a.error.as_deref().unwrap_or_default())
                        }
                        (Some(_), Some(v)) => tool_line::Outcome::Done(v),
                        (Some(_), None) => tool_line::Outcome::Done(&serde_json::Value::Null),
                    };
                    let line = tool_line::line(&c.name, &args, outcome, ctx.tz, ctx.now);
                    let reason = answer
                        .filter(|_| awaiting)
                        .and_then(|a| serde_json::from_str::<serde_json::Value>(&a.content).ok())
                        .and_then(|v| v.get("waits_because").and_then(|r| r.as_str()).map(str::to_string));
                    let changed = crate::confirm::is_change(&c.name) && value.is_some();
                    ToolCard {
                        reason,
                        changed,
                        result_id: answer.map(|a| a.id),
                        awaiting,
                        name: c.name,
                        arguments: pretty(&c.arguments),
                        result: answer.filter(|a| a.error.is_none()).map(|a| pretty(&a.content)),
                        error: answer.and_then(|a| a.error.clone()),
                        line,
                    }
                })
                .collect(),
        })
        .collect()
}

/// The messages of one conversation (swapped in whole after a reply or a tool step).
#[derive(Template, WebTemplate)]
#[template(path = "partials/chat_messages.html")]
pub struct MessagesPart {
    conversation: Conversation,
    messages: Vec<MessageItem>,
    /// A reply is being written: the last bubble streams and Stop shows.
    live: bool,
    /// The agent is a Letta agent: it keeps every turn, so Regenerate is "Ask again" (a new
    /// turn) and Stop says that Letta still finishes.
    letta: bool,
    csrf: String,
}

impl MessagesPart {
    /// Regenerate (or Retry) is offered under the last reply once it has ended.
    fn last_reply(&self) -> Option<i32> {
        if self.live {
            return None;
        }
        self.messages.last().filter(|m| m.role != "user").map(|m| m.id)
    }

    /// After an error the same button reads Retry; after a Letta answer, Ask again.
    fn regenerate_label(&self) -> &'static str {
        if self.messages.last().is_some_and(|m| m.error.is_some()) {
            "Retry"
        } else if self.letta {
            "Ask again"
        } else {
            "Regenerate"
        }
    }

    /// What the button does, where that is not obvious.
    fn regenerate_hint(&self) -> &'static str {
        match (self.letta, self.messages.last().is_some_and(|m| m.error.is_some())) {
            (true, false) => {
                "Sends your last message again as a new turn; Letta keeps both answers in its memory."
            }
            (true, true) => "Letta is asked first whether it already has the message, so it gets it once.",
            _ => "",
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "chat.html")]
pub struct ChatPage {
    layout: Layout,
    conversations: Vec<Conversation>,
    q: String,
    /// The conversation open, if any.
    open: Option<MessagesPart>,
    /// `llm` and `letta` agents a new conversation may use.
    agents: Vec<String>,
    default_agent: String,
    error: Option<String>,
    /// The field the error is about (`title`: the rename form opens with it).
    error_field: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "partials/chat_list.html")]
pub struct ListPart {
    conversations: Vec<Conversation>,
    current: Option<i32>,
}

impl ChatPage {
    fn current(&self) -> Option<i32> {
        self.open.as_ref().map(|o| o.conversation.id)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    q: String,
}

async fn page_of(
    state: &web::Data<AppState>,
    session: &CurrentSession,
    open: Option<i32>,
    q: String,
    error: Option<(String, String)>,
) -> Result<ChatPage, AppError> {
    let (st, query) = (state.clone(), q.clone());
    let live = open.is_some_and(|id| state.chat.is_live(id));
    let (conversations, open, agents, unread) = state
        .run_as(Actor::Person, move |conn, ctx| {
            let conversations = chat::list(conn, Some(&query), 200)?;
            let open = match open {
                Some(id) => Some((chat::get(conn, id)?, items(&chat::messages(conn, id)?, ctx))),
                None => None,
            };
            let all = crate::agents::list(conn, &st.config)?;
            let letta = open.as_ref().is_some_and(|(c, _)| {
                all.iter().any(|a| a.name == c.agent && a.kind == crate::agents::AgentKind::Letta)
            });
            let open = open.map(|(c, m)| (c, m, letta));
            let agents: Vec<String> = all
                .into_iter()
                .filter(|a| matches!(a.kind, crate::agents::AgentKind::Llm | crate::agents::AgentKind::Letta))
                .map(|a| a.name)
                .collect();
            Ok((conversations, open, agents, crate::notifications::unread_count(conn)?))
        })
        .await?;
    let title = open.as_ref().map(|(c, _, _)| c.title.clone()).unwrap_or_else(|| "Chat".into());
    let default_agent =
        agents.iter().find(|a| *a == "default").or(agents.first()).cloned().unwrap_or_default();
    Ok(ChatPage {
        layout: Layout::new(title, "chat", &session.0).with_unread(unread),
        conversations,
        q,
        open: open.map(|(conversation, messages, letta)| MessagesPart {
            conversation,
            messages,
            live,
            letta,
            csrf: session.0.csrf_token.clone(),
        }),
        agents,
        default_agent,
        error_field: error.as_ref().map(|(field, _)| field.clone()).unwrap_or_default(),
        error: error.map(|(field, message)| crate::error::sentence(&field, &message)),
    })
}

/// The page again, with why the input was refused (422).
async fn refused(
    state: &web::Data<AppState>,
    session: &CurrentSession,
    open: Option<i32>,
    field: &str,
    message: &str,
) -> Result<HttpResponse, PageError> {
    let page =
        page_of(state, session, open, String::new(), Some((field.to_string(), message.to_string()))).await?;
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

pub async fn index(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let q = q.into_inner().q;
    if is_htmx(&req) && htmx::target(&req) == Some("conversation-list") {
        let conversations = state.db.run(move |conn| chat::list(conn, Some(&q), 200)).await?;
        return html(StatusCode::OK, &ListPart { conversations, current: None });
    }
    html(StatusCode::OK, &page_of(&state, &session, None, q, None).await?)
}

pub async fn show(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    html(StatusCode::OK, &page_of(&state, &session, Some(id.into_inner()), String::new(), None).await?)
}

/// The messages alone, for htmx.
pub async fn messages(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let live = state.chat.is_live(id);
    let config = state.config.clone();
    let (conversation, messages, letta) = state
        .run_as(Actor::Person, move |conn, ctx| {
            let c = chat::get(conn, id)?;
            let letta = crate::agents::get(conn, &config, &c.agent)
                .is_ok_and(|a| a.kind == crate::agents::AgentKind::Letta);
            Ok((c, items(&chat::messages(conn, id)?, ctx), letta))
        })
        .await?;
    html(StatusCode::OK, &MessagesPart { conversation, messages, live, letta, csrf: session.0.csrf_token })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SendForm {
    message: String,
    agent: String,
}

/// A new conversation with its first message.
pub async fn start(
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<SendForm>,
) -> Result<HttpResponse, PageError> {
    let SendForm { message, agent } = form.into_inner();
    let agent = Some(agent).filter(|a| !a.trim().is_empty());
    match state.chat.send(None, agent, message, None).await {
        Ok(started) => Ok(see_other(&format!("/chat/{}", started.conversation_id))),
        Err(AppError::Invalid { field, message }) => refused(&state, &session, None, &field, &message).await,
        Err(e) => Err(e.into()),
    }
}

/// A message in an open conversation: htmx gets the messages with the reply streaming.
pub async fn send(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    form: web::Form<SendForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let sent = state.chat.send(Some(id), None, form.into_inner().message, None).await;
    after_start(&req, state, session, id, sent.map(|_| ())).await
}

pub async fn regenerate(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let started = state.chat.regenerate(id).await;
    after_start(&req, state, session, id, started.map(|_| ())).await
}

async fn after_start(
    req: &HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    id: i32,
    started: Result<(), AppError>,
) -> Result<HttpResponse, PageError> {
    match started {
        Ok(()) if is_htmx(req) => messages(state, session, web::Path::from(id)).await,
        Ok(()) => Ok(see_other(&format!("/chat/{id}"))),
        Err(AppError::Invalid { field, message }) if is_htmx(req) => {
            htmx::error_toast(StatusCode::UNPROCESSABLE_ENTITY, &crate::error::sentence(&field, &message))
        }
        Err(AppError::Invalid { field, message }) => {
            refused(&state, &session, Some(id), &field, &message).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The person confirms a destructive tool call the agent asked for.
pub async fn confirm_tool(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, PageError> {
    let (id, message) = path.into_inner();
    let confirmed = state.chat.confirm_tool(id, message).await;
    after_start(&req, state, session, id, confirmed).await
}

/// The person declines a tool call the agent asked for: it never runs.
pub async fn decline_tool(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, PageError> {
    let (id, message) = path.into_inner();
    let declined = state.chat.decline_tool(id, message).await;
    after_start(&req, state, session, id, declined).await
}

pub async fn stop(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    state.chat.stop(id);
    if is_htmx(&req) {
        return Ok(HttpResponse::NoContent().finish());
    }
    Ok(see_other(&format!("/chat/{id}")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RenameForm {
    title: String,
}

pub async fn rename(
    state: web::Data<AppState>,
    session: CurrentSession,
    id: web::Path<i32>,
    form: web::Form<RenameForm>,
) -> Result<HttpResponse, PageError> {
    let (id, title, now) = (id.into_inner(), form.into_inner().title, state.clock.now());
    match state.db.run(move |conn| chat::rename(conn, id, &title, now)).await {
        Ok(_) => Ok(see_other(&format!("/chat/{id}"))),
        Err(AppError::Invalid { field, message }) => {
            refused(&state, &session, Some(id), &field, &message).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(state: web::Data<AppState>, id: web::Path<i32>) -> Result<HttpResponse, PageError> {
    let (id, now) = (id.into_inner(), state.clock.now());
    state.chat.stop(id);
    state.db.run(move |conn| chat::delete(conn, id, now)).await?;
    Ok(see_other("/chat"))
}

/// The reply being written in a conversation, for the page: a `snapshot` (`{id, text, html}`),
/// then the reply rendered as it grows (`html`: `{id, html}`, the text so far as sanitised
/// Markdown, exactly as the finished reply renders) and the engine's other events (`message`,
/// `tool_call`, `tool_result`, `error`, `done`); only `done` when nothing is being written.
/// Tokens are not sent: the page shows the rendered text. (The API's stream keeps them.)
pub async fn stream(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    state.db.run(move |conn| chat::get(conn, id)).await?;
    let Some(watch) = state.chat.watch(id) else {
        let done = ChatEvent::Done { conversation_id: id, message_id: 0 };
        let data = sse::Data::new_json(&done).map_err(|e| AppError::Internal(e.into()))?.event("done");
        let once: Sse<_> = Sse::from_stream(stream::iter([Ok::<_, Infallible>(sse::Event::Data(data))]));
        return Ok(once.respond_to(&req).map_into_boxed_body());
    };
    let body = Sse::from_stream(rendered(state.chat.clone(), id, watch))
        .with_keep_alive(std::time::Duration::from_secs(15));
    Ok(body.respond_to(&req).map_into_boxed_body())
}

/// The least time between two renders of a growing reply (a render of a long reply takes
/// longer: then the gap is a multiple of it, so rendering stays a small share of the time).
const RENDER_EVERY: Duration = Duration::from_millis(120);

/// A reply followed for the page: its text so far, rendered when it has grown.
struct Follow {
    chat: Chat,
    conversation: i32,
    events: broadcast::Receiver<ChatEvent>,
    reply: i32,
    text: String,
    /// Text arrived since the last render.
    dirty: bool,
    /// When the next render may be sent.
    next: Instant,
    out: VecDeque<sse::Event>,
    ended: bool,
}

impl Follow {
    fn send(&mut self, name: &str, data: &impl serde::Serialize) {
        if let Ok(d) = sse::Data::new_json(data) {
            self.out.push_back(sse::Event::Data(d.event(name.to_string())));
        }
    }

    fn render(&mut self, name: &str) {
        let started = Instant::now();
        let html = markdown::render(&self.text);
        let (id, took) = (self.reply, started.elapsed());
        if name == "snapshot" {
            let text = self.text.clone();
            self.send(name, &serde_json::json!({ "id": id, "text": text, "html": html }));
        } else {
            self.send(name, &serde_json::json!({ "id": id, "html": html }));
        }
        self.dirty = false;
        self.next = Instant::now() + RENDER_EVERY.max(took * 8);
    }

    /// Renders what has not been sent yet (before an event that ends a turn).
    fn flush(&mut self) {
        if self.dirty {
            self.render("html");
        }
    }

    fn on(&mut self, event: Result<ChatEvent, RecvError>) {
        match event {
            Ok(ChatEvent::Token { text }) => {
                self.text.push_str(&text);
                self.dirty = true;
                if Instant::now() >= self.next {
                    self.render("html");
                }
            }
            Ok(event) => {
                self.flush();
                if let ChatEvent::Message { id } = event {
                    (self.reply, self.text) = (id, String::new());
                }
                self.ended = matches!(event, ChatEvent::Done { .. });
                self.send(event.name(), &event);
            }
            // Fell behind: start again from the engine's text so far.
            Err(RecvError::Lagged(_)) => match self.chat.watch(self.conversation) {
                Some(w) => {
                    (self.events, self.reply, self.text) = (w.events, w.reply, w.text);
                    self.render("snapshot");
                }
                None => {
                    let done = ChatEvent::Done { conversation_id: self.conversation, message_id: self.reply };
                    self.send(done.name(), &done);
                    self.ended = true;
                }
            },
            Err(RecvError::Closed) => {
                self.flush();
                self.ended = true;
            }
        }
    }
}

/// The page's events for a reply being written (see [`stream`]).
fn rendered(
    chat: Chat,
    conversation: i32,
    watch: Watch,
) -> impl Stream<Item = Result<sse::Event, Infallible>> {
    let mut follow = Follow {
        chat,
        conversation,
        events: watch.events,
        reply: watch.reply,
        text: watch.text,
        dirty: false,
        next: Instant::now(),
        out: VecDeque::new(),
        ended: false,
    };
    follow.render("snapshot");
    stream::unfold(follow, |mut f| async move {
        loop {
            if let Some(event) = f.out.pop_front() {
                return Some((Ok(event), f));
            }
            if f.ended {
                return None;
            }
            let event = if f.dirty {
                match tokio::time::timeout_at(f.next.into(), f.events.recv()).await {
                    Ok(event) => event,
                    Err(_) => {
                        f.render("html");
                        continue;
                    }
                }
            } else {
                f.events.recv().await
            };
            f.on(event);
        }
    })
}
