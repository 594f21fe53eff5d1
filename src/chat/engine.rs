//! The chat engine: one generation per conversation, owned by the server, not by a tab.
//!
//! [`Chat::send`] stores the person's message and starts a task that streams the reply from
//! an OpenAI-compatible `/chat/completions` (or asks a Letta agent), writing it to its message
//! row as it arrives and broadcasting [`ChatEvent`]s to whoever watches (the page's SSE, the
//! API's stream). Tool calls are accumulated per index from the stream's deltas, run through
//! [`crate::tools`], their results sent back, and the loop goes on up to a step limit.
//! A page that opens later [`Chat::watch`]es: it gets the text so far and then the live events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use super::{Message, NewMessage, ToolCall};
use crate::agents::deliver::{self, Delivery, Failure};
use crate::agents::{Agent, AgentKind};
use crate::db::Conn;
use crate::error::AppError;
use crate::services::{Actor, Services};
use crate::tools::Caller;

/// What a watcher of a conversation sees, in order. The API streams these as SSE events named
/// by `type`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    /// A new assistant message began (the first, or the next after tool results).
    Message {
        id: i32,
    },
    Token {
        text: String,
    },
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    ToolResult {
        id: String,
        name: String,
        result: Option<Value>,
        error: Option<String>,
    },
    Error {
        message: String,
    },
    Done {
        conversation_id: i32,
        message_id: i32,
    },
}

impl ChatEvent {
    pub fn name(&self) -> &'static str {
        match self {
            ChatEvent::Message { .. } => "message",
            ChatEvent::Token { .. } => "token",
            ChatEvent::ToolCall { .. } => "tool_call",
            ChatEvent::ToolResult { .. } => "tool_result",
            ChatEvent::Error { .. } => "error",
            ChatEvent::Done { .. } => "done",
        }
    }
}

/// The chat settings (Settings page; stored in the settings table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSettings {
    /// Rendered per request: `{now}`, `{zone}` and `{today}` are filled in.
    pub system_prompt: String,
    /// Model turns per reply (each tool round is one).
    pub max_steps: i32,
    /// What is sent upstream is trimmed to about this many characters, oldest turns first.
    pub context_chars: i64,
    /// Far-reaching tool calls wait for the person instead of running (the policy is
    /// `crate::confirm`); on unless the person turns it off.
    pub confirm_destructive: bool,
}

pub const DEFAULT_SYSTEM_PROMPT: &str = "You are the person's assistant in Steward, their home base for tasks \
and scheduled prompts. Use the tools to read and change tasks and schedules; to look at something \
again later, schedule your own wake-up with schedule_wakeup. Be brief.\n\nNow: {now} ({zone}).\n\n{today}";

impl Default for ChatSettings {
    fn default() -> ChatSettings {
        ChatSettings {
            system_prompt: DEFAULT_SYSTEM_PROMPT.into(),
            max_steps: 8,
            context_chars: 24_000,
            confirm_destructive: true,
        }
    }
}

const SYSTEM_PROMPT: &str = "chat.system_prompt";
const MAX_STEPS: &str = "chat.max_steps";
const CONTEXT_CHARS: &str = "chat.context_chars";
const CONFIRM: &str = crate::confirm::SETTING;

impl ChatSettings {
    pub fn load(conn: &mut Conn) -> Result<ChatSettings, AppError> {
        use crate::db::schema::settings;
        // One query for the four: it is on the way to every reply's first token.
        let stored: HashMap<String, String> = settings::table
            .filter(settings::key.eq_any([SYSTEM_PROMPT, MAX_STEPS, CONTEXT_CHARS, CONFIRM]))
            .select((settings::key, settings::value))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        let d = ChatSettings::default();
        let number = |key: &str| stored.get(key).and_then(|v| v.parse::<i64>().ok());
        Ok(ChatSettings {
            system_prompt: stored.get(SYSTEM_PROMPT).cloned().unwrap_or(d.system_prompt),
            max_steps: number(MAX_STEPS).and_then(|n| i32::try_from(n).ok()).unwrap_or(d.max_steps),
            context_chars: number(CONTEXT_CHARS).unwrap_or(d.context_chars),
            confirm_destructive: stored.get(CONFIRM).map(|v| v == "true").unwrap_or(d.confirm_destructive),
        })
    }

    pub fn save(&self, conn: &mut Conn) -> Result<(), AppError> {
        use crate::db::settings::set;
        if !(1..=50).contains(&self.max_steps) {
            return Err(AppError::invalid(
                "max_steps",
                format!("{} is not between 1 and 50", self.max_steps),
            ));
        }
        if !(1_000..=2_000_000).contains(&self.context_chars) {
            return Err(AppError::invalid(
                "context_chars",
                format!("{} is not between 1,000 and 2,000,000", self.context_chars),
            ));
        }
        if self.system_prompt.len() > 20_000 {
            return Err(AppError::invalid("system_prompt", "is longer than 20,000 bytes"));
        }
        crate::db::write(conn, |conn| {
            set(conn, SYSTEM_PROMPT, &self.system_prompt)?;
            set(conn, MAX_STEPS, &self.max_steps.to_string())?;
            set(conn, CONTEXT_CHARS, &self.context_chars.to_string())?;
            set(conn, CONFIRM, if self.confirm_destructive { "true" } else { "false" })?;
            Ok(())
        })
    }
}

/// A generation in progress.
struct Live {
    /// The assistant message being written.
    reply: i32,
    /// Its text so far, so a late watcher starts where the others are.
    text: String,
    events: broadcast::Sender<ChatEvent>,
    stop: watch::Sender<bool>,
}

/// What a watcher gets: the reply being written, its text so far, then the events.
pub struct Watch {
    pub reply: i32,
    pub text: String,
    pub events: broadcast::Receiver<ChatEvent>,
}

/// What a reply starts from, read in one trip.
struct Prepared {
    c: super::Conversation,
    answered: i32,
    agent: Agent,
    settings: ChatSettings,
    history: Vec<Message>,
    system: String,
    reply: i32,
}

/// A started reply.
pub struct Started {
    pub conversation_id: i32,
    pub user_message_id: i32,
    pub watch: Watch,
    /// Resolves when the generation ends, with the final assistant message's id.
    pub done: tokio::task::JoinHandle<Outcome>,
}

/// How a generation ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub message_id: i32,
    /// The final assistant text.
    pub text: String,
    pub error: Option<String>,
    /// The error is one that trying again cannot mend (a refused key, an unknown model or
    /// agent), so a scheduled run fails at once rather than retrying.
    pub permanent: bool,
}

#[derive(Clone)]
pub struct Chat {
    services: Services,
    live: Arc<Mutex<HashMap<i32, Live>>>,
}

/// The most messages read for a reply: far more than any context budget holds, so a long
/// conversation does not cost its whole history on every reply.
const HISTORY_READ: i64 = 400;

/// How often a streaming reply is written to its row.
const SAVE_EVERY: Duration = Duration::from_millis(250);

impl Chat {
    pub fn new(services: Services) -> Chat {
        Chat { services, live: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a reply is being written in the conversation.
    pub fn is_live(&self, conversation: i32) -> bool {
        self.lock().contains_key(&conversation)
    }

    /// Follows the reply being written in `conversation`, if any.
    pub fn watch(&self, conversation: i32) -> Option<Watch> {
        let live = self.lock();
        live.get(&conversation).map(|l| Watch {
            reply: l.reply,
            text: l.text.clone(),
            events: l.events.subscribe(),
        })
    }

    /// Asks the generation in `conversation` to stop; what it wrote stays.
    pub fn stop(&self, conversation: i32) -> bool {
        match self.lock().get(&conversation) {
            Some(l) => {
                l.stop.send_replace(true);
                true
            }
            None => false,
        }
    }

    /// Stores the person's message (in a new conversation with `agent` when none is given) and
    /// starts the reply. `run`: the scheduled run (id, idempotency key) that posts it.
    pub async fn send(
        &self,
        conversation: Option<i32>,
        agent: Option<String>,
        text: String,
        run: Option<(i32, String)>,
    ) -> Result<Started, AppError> {
        self.send_attempt(conversation, agent, text, run, 1).await
    }

    /// [`Chat::send`] for attempt `attempt` of a scheduled run (a Letta agent is asked whether it
    /// already has the message before it is sent again).
    async fn send_attempt(
        &self,
        conversation: Option<i32>,
        agent: Option<String>,
        text: String,
        run: Option<(i32, String)>,
        attempt: i32,
    ) -> Result<Started, AppError> {
        if text.trim().is_empty() {
            return Err(AppError::invalid("message", "is empty"));
        }
        if text.len() > 100_000 {
            return Err(AppError::invalid("message", "is longer than 100,000 bytes"));
        }
        let config = self.services.config.clone();
        let (run_id, run_key) = run.unzip();
        self.start(conversation, run_key, attempt, move |conn, now| {
            let c = match conversation {
                Some(id) => super::get(conn, id)?,
                None => super::create(conn, &config, agent.as_deref().unwrap_or("default"), &text, now)?,
            };
            // A retry answers the run's message again when it is still the last one (what the
            // failed attempt left after it goes; its error stays in the run's attempts), so the
            // prompt shows once, as it reached the agent.
            if attempt > 1
                && let Some(run) = run_id
            {
                use crate::db::schema::messages;
                let last: Option<(i32, Option<i32>)> = messages::table
                    .filter(messages::conversation_id.eq(c.id))
                    .filter(messages::role.eq("user"))
                    .order(messages::id.desc())
                    .select((messages::id, messages::run_id))
                    .first(conn)
                    .optional()?;
                if let Some((id, Some(r))) = last
                    && r == run
                {
                    diesel::delete(
                        messages::table
                            .filter(messages::conversation_id.eq(c.id))
                            .filter(messages::id.gt(id)),
                    )
                    .execute(conn)?;
                    return Ok((c, id));
                }
            }
            let m = NewMessage { role: "user", content: &text, run_id, ..NewMessage::default() };
            let id = super::append(conn, c.id, &m, now)?;
            Ok((c, id))
        })
        .await
    }

    /// Writes the last reply again: what followed the person's last message goes.
    ///
    /// A Letta agent keeps every turn in its memory and has no "regenerate": after an answer,
    /// this asks again (the person's last message is posted once more, as a new turn that Letta
    /// keeps beside the first); after a failed reply it retries the same message, which Letta
    /// gets at most once (see [`crate::agents::letta`]).
    pub async fn regenerate(&self, conversation: i32) -> Result<Started, AppError> {
        let config = self.services.config.clone();
        let (letta, failed) = self
            .services
            .db
            .run(move |conn| {
                let c = super::get(conn, conversation)?;
                let kind = crate::agents::get(conn, &config, &c.agent).map(|a| a.kind).ok();
                let last = super::recent_messages(conn, conversation, 1)?;
                let failed = last.last().is_some_and(|m| m.role != "user" && m.error.is_some());
                Ok((kind == Some(AgentKind::Letta), failed))
            })
            .await?;
        if letta && !failed {
            return self.ask_again(conversation).await;
        }
        // A retry of a Letta message looks for it on the server before sending it again.
        let attempt = if letta { 2 } else { 1 };
        self.start(Some(conversation), None, attempt, move |conn, _| {
            use crate::db::schema::messages;
            let c = super::get(conn, conversation)?;
            let last_user: Option<i32> = messages::table
                .filter(messages::conversation_id.eq(conversation))
                .filter(messages::role.eq("user"))
                .select(diesel::dsl::max(messages::id))
                .first(conn)?;
            let last_user =
                last_user.ok_or_else(|| AppError::invalid("conversation_id", "has no message to answer"))?;
            diesel::delete(
                messages::table
                    .filter(messages::conversation_id.eq(conversation))
                    .filter(messages::id.gt(last_user)),
            )
            .execute(conn)?;
            Ok((c, last_user))
        })
        .await
    }

    /// Posts the person's last message again as a new turn (Letta's "Ask again").
    async fn ask_again(&self, conversation: i32) -> Result<Started, AppError> {
        self.start(Some(conversation), None, 1, move |conn, now| {
            use crate::db::schema::messages;
            let c = super::get(conn, conversation)?;
            let last: Option<String> = messages::table
                .filter(messages::conversation_id.eq(conversation))
                .filter(messages::role.eq("user"))
                .order(messages::id.desc())
                .select(messages::content)
                .first(conn)
                .optional()?;
            let text =
                last.ok_or_else(|| AppError::invalid("conversation_id", "has no message to answer"))?;
            let m = NewMessage { role: "user", content: &text, ..NewMessage::default() };
            let id = super::append(conn, c.id, &m, now)?;
            Ok((c, id))
        })
        .await
    }

    /// Starts a reply after `before` (which stores the person's side and names the
    /// conversation and the message answered). Everything it needs is read in the same trip to
    /// the database, so the first token waits for one transaction only.
    async fn start<F>(
        &self,
        existing: Option<i32>,
        run_key: Option<String>,
        attempt: i32,
        before: F,
    ) -> Result<Started, AppError>
    where
        F: FnOnce(&mut Conn, chrono::DateTime<chrono::Utc>) -> Result<(super::Conversation, i32), AppError>
            + Send
            + 'static,
    {
        // Room for a watcher to fall 1024 events behind; one further behind misses some tokens
        // (the stored reply is whole, and a page reloads it when the reply ends).
        let (events, rx) = broadcast::channel(1024);
        let (stop, stopped) = watch::channel(false);
        let mut slot = Some(Live { reply: 0, text: String::new(), events: events.clone(), stop });
        // An existing conversation is reserved first, so two sends cannot both start a reply.
        if let Some(id) = existing {
            let mut live = self.lock();
            if live.contains_key(&id) {
                return Err(busy());
            }
            live.extend(slot.take().map(|l| (id, l)));
        }
        let (config, clock) = (self.services.config.clone(), self.services.clock.clone());
        let prepared = self
            .services
            .db
            .run(move |conn| {
                let now = clock.now();
                crate::db::write(conn, |conn| {
                    let (c, answered) = before(conn, now)?;
                    let conversation = c.id;
                    let agent = super::chat_agent(conn, &config, &c.agent)?;
                    let settings = ChatSettings::load(conn)?;
                    let history = super::recent_messages(conn, conversation, HISTORY_READ)?;
                    let system = system_prompt(conn, &config, &settings.system_prompt, now)?;
                    let m = NewMessage { role: "assistant", state: "streaming", ..NewMessage::default() };
                    let reply = super::append(conn, conversation, &m, now)?;
                    Ok(Prepared { c, answered, agent, settings, history, system, reply })
                })
            })
            .await;
        let p = match prepared {
            Ok(p) => p,
            Err(e) => {
                if let Some(id) = existing {
                    self.lock().remove(&id);
                }
                return Err(e);
            }
        };
        {
            let mut live = self.lock();
            if let Some(l) = slot.take() {
                live.insert(p.c.id, l);
            }
            if let Some(l) = live.get_mut(&p.c.id) {
                l.reply = p.reply;
            }
        }
        let run = Generation {
            chat: self.clone(),
            conversation: p.c.id,
            agent: p.agent,
            settings: p.settings,
            events,
            stopped,
            caller: Caller { conversation: Some(p.c.id), agent: Some(p.c.agent.clone()), token: None },
            run_key,
            calls: AtomicUsize::new(0),
            changes: AtomicUsize::new(0),
            attempt,
        };
        let done = tokio::spawn(run.run(p.reply, p.system, p.history));
        Ok(Started {
            conversation_id: p.c.id,
            user_message_id: p.answered,
            watch: Watch { reply: p.reply, text: String::new(), events: rx },
            done,
        })
    }

    async fn new_reply(
        &self,
        conversation: i32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<i32, AppError> {
        self.services
            .db
            .run(move |conn| {
                let m = NewMessage { role: "assistant", state: "streaming", ..NewMessage::default() };
                super::append(conn, conversation, &m, now)
            })
            .await
    }

    /// Replies a stopped process left half-written are marked as such (at start-up).
    pub async fn recover(&self) -> Result<usize, AppError> {
        let now = self.services.clock.now();
        self.services.db.run(move |conn| super::end_orphaned_replies(conn, now)).await
    }
}

impl Chat {
    /// Delivers a scheduled run into its conversation: the prompt is posted as the person's
    /// message (linked to the run) and the answer, tools and all, is the run's output.
    async fn deliver_scheduled(&self, schedule: i32, d: &Delivery) -> Result<String, Failure> {
        let now = self.services.clock.now();
        let conversation = self
            .services
            .db
            .run(move |conn| {
                crate::db::write(conn, |conn| {
                    let s = crate::schedules::get(conn, schedule)?;
                    super::for_schedule(conn, &s, now)
                })
            })
            .await
            .map_err(|e| Failure::retry(format!("cannot open the schedule's conversation: {e}")))?;
        let run = Some((d.run_id, d.idempotency_key.clone()));
        let started = self
            .send_attempt(Some(conversation), None, d.prompt.clone(), run, d.attempt)
            .await
            .map_err(|e| Failure::retry(e.to_string()))?;
        let outcome =
            started.done.await.map_err(|e| Failure::retry(format!("the reply task failed: {e}")))?;
        // The same classification as a delivery outside a conversation: a refused key, an
        // unknown model or agent fail at once.
        match outcome.error {
            Some(message) => Err(Failure { message, retryable: !outcome.permanent }),
            None => Ok(outcome.text),
        }
    }
}

impl deliver::ConversationDelivery for Chat {
    fn deliver_run<'a>(
        &'a self,
        schedule: i32,
        d: &'a Delivery,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, Failure>> + Send + 'a>> {
        Box::pin(self.deliver_scheduled(schedule, d))
    }
}

/// The result of a destructive tool call held for the person (the page offers to confirm it).
pub const AWAITING_CONFIRMATION: &str =
    "not done yet: this needs the person's confirmation, which they can give on the Chat page";

impl Chat {
    /// Runs a destructive tool call that was held for confirmation, as the person confirmed
    /// it; its result replaces the hold, so the model sees it in the next turn.
    pub async fn confirm_tool(&self, conversation: i32, message_id: i32) -> Result<(), AppError> {
        let (c, held, calls) = self
            .services
            .db
            .run(move |conn| {
                let held = super::message(conn, message_id)?;
                let c = super::get(conn, conversation)?;
                let calls: Vec<ToolCall> = super::messages(conn, conversation)?
                    .iter()
                    .filter(|m| m.role == "assistant")
                    .flat_map(Message::calls)
                    .collect();
                Ok((c, held, calls))
            })
            .await?;
        let waiting = held.conversation_id == conversation
            && held.role == "tool"
            && held.error.as_deref() == Some(AWAITING_CONFIRMATION);
        let call = calls.into_iter().find(|c| Some(&c.id) == held.tool_call_id.as_ref());
        let Some(call) = call.filter(|_| waiting) else {
            return Err(AppError::NotFound(format!(
                "no tool call waiting for confirmation in message {message_id}"
            )));
        };
        let args: Value = serde_json::from_str(&call.arguments)
            .map_err(|e| AppError::invalid("arguments", format!("are not valid JSON: {e}")))?;
        // Claimed before it runs, so that two clicks cannot both run it.
        let claimed = self.services.db.run(move |conn| claim_held(conn, message_id, CONFIRMED)).await?;
        if !claimed {
            return Err(AppError::NotFound(format!(
                "no tool call waiting for confirmation in message {message_id}"
            )));
        }
        let caller = Caller { conversation: Some(conversation), agent: Some(c.agent), token: None };
        let result = crate::tools::call(&self.services, &caller, &call.name, &args).await;
        let (content, error) = match &result {
            Ok(v) => (v.to_string(), None),
            Err(e) => (json!({ "error": e.client_message() }).to_string(), Some(e.client_message())),
        };
        let now = self.services.clock.now();
        let note = match &error {
            None => format!("You confirmed {}.", call.name),
            Some(e) => format!("You confirmed {}, and it failed: {e}", call.name),
        };
        self.services
            .db
            .run(move |conn| {
                crate::db::write(conn, |conn| {
                    super::save_tool_result(conn, message_id, &content, error.as_deref(), now)?;
                    let n = NewMessage { role: "notice", content: &note, ..NewMessage::default() };
                    super::append(conn, conversation, &n, now).map(|_| ())
                })
            })
            .await
    }
}

/// The hold's mark while a confirmed call runs, and after a declined one.
const CONFIRMED: &str = "confirmed by the person; running";
const DECLINED: &str = "the person declined this; nothing was done";

/// Takes a held call out of waiting (`AWAITING_CONFIRMATION` -> `mark`); false when it was
/// not waiting any more.
fn claim_held(conn: &mut Conn, message_id: i32, mark: &str) -> Result<bool, AppError> {
    use crate::db::schema::messages;
    let n = diesel::update(
        messages::table
            .find(message_id)
            .filter(messages::role.eq("tool"))
            .filter(messages::error.eq(AWAITING_CONFIRMATION)),
    )
    .set(messages::error.eq(mark))
    .execute(conn)?;
    Ok(n == 1)
}

impl Chat {
    /// The person declines a held tool call: it never runs, and the model sees that in the
    /// next turn.
    pub async fn decline_tool(&self, conversation: i32, message_id: i32) -> Result<(), AppError> {
        let now = self.services.clock.now();
        self.services
            .db
            .run(move |conn| {
                crate::db::write(conn, |conn| {
                    let held = super::message(conn, message_id)?;
                    if held.conversation_id != conversation || !claim_held(conn, message_id, DECLINED)? {
                        return Err(AppError::NotFound(format!(
                            "no tool call waiting for confirmation in message {message_id}"
                        )));
                    }
                    let content = json!({ "error": DECLINED }).to_string();
                    super::save_tool_result(conn, message_id, &content, Some(DECLINED), now)?;
                    let name = held.tool_name.unwrap_or_default();
                    let note = format!("You declined {name}.");
                    let n = NewMessage { role: "notice", content: &note, ..NewMessage::default() };
                    super::append(conn, conversation, &n, now).map(|_| ())
                })
            })
            .await
    }
}

fn busy() -> AppError {
    AppError::invalid("conversation_id", "a reply is still being written there; stop it or wait")
}

/// One reply being generated (possibly several model turns with tools in between).
struct Generation {
    chat: Chat,
    conversation: i32,
    agent: Agent,
    settings: ChatSettings,
    events: broadcast::Sender<ChatEvent>,
    stopped: watch::Receiver<bool>,
    caller: Caller,
    /// The scheduled run's idempotency key, which Letta gets as `otid`.
    run_key: Option<String>,
    /// Tool calls and changes made so far in this reply (for the caps in `crate::confirm`).
    calls: AtomicUsize,
    changes: AtomicUsize,
    /// Which attempt this is: from the second on, Letta is asked whether it already has the
    /// message before it is sent.
    attempt: i32,
}

/// How one model turn ended.
enum Turn {
    /// Text only: the reply is complete.
    Answer,
    /// The model asked for tools.
    Tools(Vec<ToolCall>),
    Stopped,
    Failed(String),
    /// Failed in a way that trying again cannot mend.
    Refused(String),
}

impl Turn {
    fn failed(f: Failure) -> Turn {
        if f.retryable { Turn::Failed(f.message) } else { Turn::Refused(f.message) }
    }
}

impl Generation {
    fn emit(&self, event: ChatEvent) {
        let _ = self.events.send(event);
    }

    async fn run(mut self, first_reply: i32, system: String, history: Vec<Message>) -> Outcome {
        let outcome = self.steps(first_reply, &system, history).await;
        // The live entry goes before `done`, so a client that sends again at once is not busy.
        self.chat.lock().remove(&self.conversation);
        if let Some(e) = &outcome.error {
            self.emit(ChatEvent::Error { message: e.clone() });
        }
        self.emit(ChatEvent::Done { conversation_id: self.conversation, message_id: outcome.message_id });
        outcome
    }

    async fn steps(&mut self, first_reply: i32, system: &str, mut history: Vec<Message>) -> Outcome {
        let mut reply = first_reply;
        for step in 1..=self.settings.max_steps {
            if step > 1 {
                reply = match self.chat.new_reply(self.conversation, self.chat.services.clock.now()).await {
                    Ok(id) => id,
                    Err(e) => {
                        return self.finish(reply, String::new(), Vec::new(), Some(e.to_string())).await;
                    }
                };
                self.set_reply(reply);
            }
            self.emit(ChatEvent::Message { id: reply });
            let mut text = String::new();
            let mut calls = Vec::new();
            let turn = match self.agent.kind {
                AgentKind::Letta => self.letta_turn(&history, &mut text).await,
                _ => {
                    let messages = upstream_messages(system, &history, self.settings.context_chars);
                    self.llm_turn(reply, messages, &mut text, &mut calls).await
                }
            };
            match turn {
                Turn::Answer => return self.finish(reply, text, calls, None).await,
                Turn::Stopped => {
                    self.save(reply, &text, &calls, "stopped", None).await;
                    return Outcome { message_id: reply, text, error: None, permanent: false };
                }
                Turn::Failed(e) => return self.finish(reply, text, calls, Some(e)).await,
                Turn::Refused(e) => {
                    let outcome = self.finish(reply, text, calls, Some(e)).await;
                    return Outcome { permanent: true, ..outcome };
                }
                Turn::Tools(asked) => {
                    self.save(reply, &text, &asked, "done", None).await;
                    let id = reply;
                    match self.chat.services.db.run(move |conn| super::message(conn, id)).await {
                        Ok(row) => history.push(row),
                        Err(e) => return self.finish(reply, text, Vec::new(), Some(e.to_string())).await,
                    }
                    for call in &asked {
                        if *self.stopped.borrow() {
                            return Outcome { message_id: reply, text, error: None, permanent: false };
                        }
                        match self.run_tool(call).await {
                            Ok(row) => history.push(row),
                            Err(e) => {
                                return self.finish(reply, text, asked.clone(), Some(e.to_string())).await;
                            }
                        }
                    }
                    if self.calls.load(Ordering::Relaxed) > crate::confirm::MAX_TOOL_CALLS {
                        let message = format!(
                            "Stopped: this reply asked for more than {} tool calls, the most one reply may \
                             make; the rest were not run. Send a new message to go on.",
                            crate::confirm::MAX_TOOL_CALLS
                        );
                        return self.notice_and_stop(reply, message).await;
                    }
                }
            }
        }
        let message = format!(
            "Stopped after {} model turns with tools, the limit set in Settings.",
            self.settings.max_steps
        );
        self.notice_and_stop(reply, message).await
    }

    /// Ends the reply with a notice for the person (a limit was reached).
    async fn notice_and_stop(&self, reply: i32, message: String) -> Outcome {
        let now = self.chat.services.clock.now();
        let conversation = self.conversation;
        let m = message.clone();
        let _ = self
            .chat
            .services
            .db
            .run(move |conn| {
                let n = NewMessage { role: "notice", content: &m, state: "failed", ..NewMessage::default() };
                super::append(conn, conversation, &n, now)
            })
            .await;
        Outcome { message_id: reply, text: String::new(), error: Some(message), permanent: false }
    }

    fn set_reply(&self, reply: i32) {
        if let Some(l) = self.chat.lock().get_mut(&self.conversation) {
            l.reply = reply;
            l.text.clear();
        }
    }

    async fn finish(&self, reply: i32, text: String, calls: Vec<ToolCall>, error: Option<String>) -> Outcome {
        let state = if error.is_some() { "failed" } else { "done" };
        self.save(reply, &text, &calls, state, error.as_deref()).await;
        Outcome { message_id: reply, text, error, permanent: false }
    }

    async fn save(
        &self,
        reply: i32,
        text: &str,
        calls: &[ToolCall],
        state: &'static str,
        error: Option<&str>,
    ) {
        let (text, calls, error, now) =
            (text.to_string(), calls.to_vec(), error.map(str::to_string), self.chat.services.clock.now());
        let saved = self
            .chat
            .services
            .db
            .run(move |conn| {
                super::save_reply(conn, reply, &text, Some(&calls), state, error.as_deref(), now)
            })
            .await;
        if let Err(e) = saved {
            tracing::error!(error = format!("{e:#}"), reply, "a reply could not be saved");
        }
    }

    /// Runs one tool call and stores its result as a `tool` message.
    async fn run_tool(&self, call: &ToolCall) -> Result<Message, AppError> {
        self.emit(ChatEvent::ToolCall {
            id: call.id.clone(),
            name: call.name.clone(),
            arguments: call.arguments.clone(),
        });
        let made = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let mut waits_because = None;
        let result = if made > crate::confirm::MAX_TOOL_CALLS {
            Err(format!(
                "refused: this reply reached its limit of {} tool calls, so nothing was done; tell the \
                 person what is left, and they can ask you to go on",
                crate::confirm::MAX_TOOL_CALLS
            ))
        } else {
            match serde_json::from_str::<Value>(if call.arguments.trim().is_empty() {
                "{}"
            } else {
                &call.arguments
            }) {
                Err(e) => Err(format!("the arguments are not valid JSON: {e}")),
                Ok(args) => match self.policy(call, &args).await {
                    Err(e) => Err(e.client_message()),
                    Ok(Some(reason)) => {
                        waits_because = Some(reason);
                        Err(AWAITING_CONFIRMATION.to_string())
                    }
                    Ok(None) => {
                        let done = crate::tools::call(&self.chat.services, &self.caller, &call.name, &args)
                            .await
                            .map_err(|e| e.client_message());
                        if done.is_ok() && crate::confirm::is_change(&call.name) {
                            self.changes.fetch_add(1, Ordering::Relaxed);
                        }
                        done
                    }
                },
            }
        };
        let (content, error) = match (&result, &waits_because) {
            (Ok(v), _) => (v.to_string(), None),
            (Err(e), Some(reason)) => {
                (json!({ "error": e, "waits_because": reason }).to_string(), Some(e.clone()))
            }
            (Err(e), None) => (json!({ "error": e }).to_string(), Some(e.clone())),
        };
        self.emit(ChatEvent::ToolResult {
            id: call.id.clone(),
            name: call.name.clone(),
            result: result.as_ref().ok().cloned(),
            error: error.clone(),
        });
        let (conversation, now, call) = (self.conversation, self.chat.services.clock.now(), call.clone());
        self.chat
            .services
            .db
            .run(move |conn| {
                let m = NewMessage {
                    role: "tool",
                    content: &content,
                    tool_call_id: Some(&call.id),
                    tool_name: Some(&call.name),
                    state: if error.is_some() { "failed" } else { "done" },
                    error: error.as_deref(),
                    ..NewMessage::default()
                };
                let id = super::append(conn, conversation, &m, now)?;
                super::message(conn, id)
            })
            .await
    }

    /// Whether the call must wait for the person (`crate::confirm`); bad arguments are an error
    /// here already, so nothing waits that could not run.
    async fn policy(&self, call: &ToolCall, args: &Value) -> Result<Option<String>, AppError> {
        let (caller, name, args) = (self.caller.clone(), call.name.clone(), args.clone());
        let changes = self.changes.load(Ordering::Relaxed);
        self.chat
            .services
            .db
            .run(move |conn| {
                crate::tools::validate(&name, &args)?;
                crate::confirm::needs_confirmation(conn, &caller, &name, &args, changes)
            })
            .await
    }

    /// Adds streamed text: to the live snapshot and to the watchers, under one lock so a watcher
    /// that joins now neither misses nor doubles a piece.
    fn push_text(&self, text: &mut String, piece: &str) {
        text.push_str(piece);
        if let Some(l) = self.chat.lock().get_mut(&self.conversation) {
            l.text.push_str(piece);
            let _ = l.events.send(ChatEvent::Token { text: piece.to_string() });
        }
    }

    /// One streamed turn from an OpenAI-compatible server.
    async fn llm_turn(
        &self,
        reply: i32,
        messages: Vec<Value>,
        text: &mut String,
        calls: &mut Vec<ToolCall>,
    ) -> Turn {
        let url = format!("{}/chat/completions", deliver::url_of(&self.agent));
        let body = json!({
            "model": self.agent.config.model,
            "messages": messages,
            "stream": true,
            "tools": crate::tools::openai_tools(),
        });
        let wait = self.agent.timeout();
        let mut stopped = self.stopped.clone();
        let request = deliver::with_key(self.chat.services.http.post(&url), &self.agent).json(&body).send();
        let resp = tokio::select! {
            r = tokio::time::timeout(wait, request) => r,
            _ = stopped.wait_for(|s| *s) => return Turn::Stopped,
        };
        let resp = match resp {
            Err(_) => return Turn::Failed(format!("{url} did not answer within {} s", wait.as_secs())),
            Ok(Err(e)) => return Turn::Failed(deliver::transport(&url, &e).message),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Turn::failed(deliver::http_failure(&url, status, &body));
        }
        let mut stream = resp.bytes_stream().eventsource();
        // Tool calls arrive in pieces, keyed by index: the first piece has the id and name, the
        // rest append to the arguments.
        let mut pending: Vec<ToolCall> = Vec::new();
        let mut finished = false;
        let mut last_save = Instant::now();
        loop {
            let next = tokio::select! {
                n = tokio::time::timeout(wait, stream.next()) => n,
                _ = stopped.wait_for(|s| *s) => return Turn::Stopped,
            };
            let event = match next {
                Err(_) => {
                    return Turn::Failed(format!(
                        "the model sent nothing for {} s; the reply was cut",
                        wait.as_secs()
                    ));
                }
                Ok(None) if finished => break,
                Ok(None) => {
                    return Turn::Failed("the model's stream ended in the middle of the reply".into());
                }
                Ok(Some(Err(e))) => return Turn::Failed(format!("the model's stream broke off: {e}")),
                Ok(Some(Ok(event))) => event,
            };
            if event.data.trim() == "[DONE]" {
                break;
            }
            let chunk: Value = match serde_json::from_str(&event.data) {
                Ok(v) => v,
                Err(e) => {
                    let shown: String = event.data.chars().take(120).collect();
                    return Turn::Failed(format!("the model sent a malformed chunk ({e}): {shown}"));
                }
            };
            if let Some(message) = chunk.pointer("/error/message").and_then(Value::as_str) {
                return Turn::Failed(format!("the model reported an error: {message}"));
            }
            let choice = chunk.pointer("/choices/0");
            if let Some(piece) = choice.and_then(|c| c.pointer("/delta/content")).and_then(Value::as_str)
                && !piece.is_empty()
            {
                self.push_text(text, piece);
            }
            if let Some(deltas) =
                choice.and_then(|c| c.pointer("/delta/tool_calls")).and_then(Value::as_array)
            {
                for d in deltas {
                    accumulate(&mut pending, d);
                }
            }
            if choice.and_then(|c| c.get("finish_reason")).is_some_and(|f| !f.is_null()) {
                finished = true;
            }
            if last_save.elapsed() >= SAVE_EVERY {
                last_save = Instant::now();
                self.save(reply, text, &[], "streaming", None).await;
            }
        }
        pending.retain(|c| !c.name.is_empty());
        for (i, c) in pending.iter_mut().enumerate() {
            if c.id.is_empty() {
                c.id = format!("call_{reply}_{i}");
            }
        }
        if pending.is_empty() {
            Turn::Answer
        } else {
            calls.clone_from(&pending);
            Turn::Tools(pending)
        }
    }

    /// A Letta agent keeps its own memory: it gets the person's last message and answers whole.
    /// Letta cannot be stopped: once it has the message it finishes and keeps its answer, so
    /// Stop says so and the answer is shown when it arrives.
    async fn letta_turn(&self, history: &[Message], text: &mut String) -> Turn {
        let Some(last) = history.iter().rev().find(|m| m.role == "user") else {
            return Turn::Failed("there is no message to answer".into());
        };
        let d = Delivery {
            schedule_id: None,
            run_id: last.id,
            idempotency_key: self.run_key.clone().unwrap_or_else(|| format!("m{}", last.id)),
            prompt: last.content.clone(),
            scheduled_for: self.chat.services.clock.now(),
            attempt: self.attempt,
        };
        let mut stopped = self.stopped.clone();
        // Until its turn comes nothing is sent, so Stop still stops.
        let waited = tokio::select! {
            t = crate::agents::letta::take_turn(&self.agent) => Some(t),
            _ = stopped.wait_for(|s| *s) => None,
        };
        let Some(mut turn) = waited else { return Turn::Stopped };
        let delivery = crate::agents::letta::deliver_in(&mut turn, &self.chat.services.http, &self.agent, &d);
        tokio::pin!(delivery);
        let first = tokio::select! {
            a = &mut delivery => Some(a),
            _ = stopped.wait_for(|s| *s) => None,
        };
        let answer = match first {
            Some(answer) => answer,
            None => {
                self.notice(LETTA_STOP).await;
                delivery.await
            }
        };
        match answer {
            Ok(answer) => {
                self.push_text(text, &answer);
                Turn::Answer
            }
            Err(f) => Turn::failed(f),
        }
    }

    /// Adds a notice to the conversation.
    async fn notice(&self, text: &'static str) {
        let (conversation, now) = (self.conversation, self.chat.services.clock.now());
        let added = self
            .chat
            .services
            .db
            .run(move |conn| {
                let n = NewMessage { role: "notice", content: text, ..NewMessage::default() };
                super::append(conn, conversation, &n, now)
            })
            .await;
        if let Err(e) = added {
            tracing::error!(error = format!("{e:#}"), conversation, "a notice could not be saved");
        }
    }
}

/// What Stop says in a Letta conversation.
pub const LETTA_STOP: &str = "Letta cannot be stopped once it has a message: it finishes and keeps \
its answer in its memory. Steward shows the answer here when it arrives.";

/// The system prompt with the date, time and today's summary filled in.
fn system_prompt(
    conn: &mut Conn,
    config: &crate::config::Config,
    template: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, AppError> {
    let tz = crate::db::settings::person_zone(conn, config)?;
    let ctx = crate::services::Ctx { now, tz, actor: Actor::AGENT };
    let today = today_summary(conn, &ctx)?;
    Ok(template
        .replace("{now}", &ctx.local_now().format("%A %-d %B %Y, %H:%M").to_string())
        .replace("{zone}", tz.name())
        .replace("{today}", &today))
}

/// Folds one streamed tool-call delta into the calls so far.
fn accumulate(calls: &mut Vec<ToolCall>, delta: &Value) {
    let index = delta.get("index").and_then(Value::as_u64).unwrap_or(calls.len() as u64) as usize;
    if index > 64 {
        return; // no model asks for that many at once; refuse to grow without bound
    }
    while calls.len() <= index {
        calls.push(ToolCall { id: String::new(), name: String::new(), arguments: String::new() });
    }
    let call = &mut calls[index];
    if let Some(id) = delta.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) {
        call.id = id.to_string();
    }
    if let Some(name) = delta.pointer("/function/name").and_then(Value::as_str) {
        call.name.push_str(name);
    }
    if let Some(args) = delta.pointer("/function/arguments").and_then(Value::as_str) {
        call.arguments.push_str(args);
    }
}

/// Due and overdue tasks and the next scheduled prompts, in a few lines.
fn today_summary(conn: &mut Conn, ctx: &crate::services::Ctx) -> Result<String, AppError> {
    use crate::tasks::query::{Filter, Group, group_slice};
    let mut out = String::new();
    for (group, label) in [(Group::Overdue, "Overdue tasks"), (Group::Today, "Due today")] {
        let tasks = group_slice(conn, ctx, &Filter::default(), group, 0, 10)?;
        if !tasks.is_empty() {
            out.push_str(label);
            out.push_str(":\n");
            for t in tasks {
                out.push_str(&format!("- #{} {}\n", t.id, t.title));
            }
        }
    }
    out.push_str(&crate::calendar::today::summary(conn, ctx)?);
    let next = crate::schedules::service::upcoming(conn, 5)?;
    if !next.is_empty() {
        out.push_str("Next scheduled prompts:\n");
        for s in next {
            let when = s.next_fire().map(|t| t.with_timezone(&ctx.tz).format("%a %-d %b %H:%M").to_string());
            out.push_str(&format!("- #{} {} ({})\n", s.id, s.name, when.unwrap_or_default()));
        }
    }
    if out.is_empty() {
        out.push_str("Nothing is due today and no prompt is scheduled.");
    }
    Ok(out.trim_end().to_string())
}

/// The messages sent upstream: the system prompt, then as much recent history as fits in
/// `budget` characters (the newest message always). Notices and empty failed replies are left
/// out, and tool calls are kept only together with their results.
pub fn upstream_messages(system: &str, history: &[Message], budget: i64) -> Vec<Value> {
    let answered: std::collections::HashSet<&str> =
        history.iter().filter(|m| m.role == "tool").filter_map(|m| m.tool_call_id.as_deref()).collect();
    let mut shaped: Vec<(usize, Value)> = Vec::new();
    for m in history {
        let value = match m.role.as_str() {
            "user" => json!({"role": "user", "content": m.content}),
            "assistant" => {
                let calls: Vec<Value> = m
                    .calls()
                    .into_iter()
                    .filter(|c| answered.contains(c.id.as_str()))
                    .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                    .collect();
                if m.content.is_empty() && calls.is_empty() {
                    continue;
                }
                if calls.is_empty() {
                    json!({"role": "assistant", "content": m.content})
                } else {
                    json!({"role": "assistant", "content": m.content, "tool_calls": calls})
                }
            }
            "tool" => json!({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}),
            _ => continue,
        };
        let size = m.content.len() + m.tool_calls.as_deref().map_or(0, str::len);
        shaped.push((size, value));
    }
    let mut kept = Vec::new();
    let mut used = system.len() as i64;
    for (size, value) in shaped.into_iter().rev() {
        used += size as i64;
        if used > budget && !kept.is_empty() {
            break;
        }
        kept.push(value);
    }
    kept.reverse();
    // A tool result whose call was trimmed away would be refused upstream.
    while kept.first().is_some_and(|v| v["role"] == "tool") {
        kept.remove(0);
    }
    let mut out = vec![json!({"role": "system", "content": system})];
    out.extend(kept);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i32, role: &str, content: &str) -> Message {
        Message {
            id,
            conversation_id: 1,
            role: role.into(),
            content: content.into(),
            tool_calls: None,
            tool_call_id: None,
            tool_name: None,
            state: "done".into(),
            error: None,
            run_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn tool_call_deltas_accumulate_per_index() {
        let mut calls = Vec::new();
        for d in [
            json!({"index": 0, "id": "a", "function": {"name": "add_", "arguments": ""}}),
            json!({"index": 1, "id": "b", "function": {"name": "list_tasks", "arguments": "{}"}}),
            json!({"index": 0, "function": {"name": "task", "arguments": "{\"text\":"}}),
            json!({"index": 0, "function": {"arguments": "\"milk\"}"}}),
        ] {
            accumulate(&mut calls, &d);
        }
        assert_eq!(
            calls[0],
            ToolCall { id: "a".into(), name: "add_task".into(), arguments: "{\"text\":\"milk\"}".into() }
        );
        assert_eq!(calls[1].name, "list_tasks");
        accumulate(&mut calls, &json!({"index": 1_000_000}));
        assert_eq!(calls.len(), 2, "an absurd index is ignored");
    }

    #[test]
    fn history_is_trimmed_oldest_first_keeping_the_system_prompt() {
        let history: Vec<Message> = (1..=10)
            .map(|i| msg(i, if i % 2 == 1 { "user" } else { "assistant" }, &"x".repeat(100)))
            .collect();
        let all = upstream_messages("sys", &history, 100_000);
        assert_eq!(all.len(), 11);
        let some = upstream_messages("sys", &history, 350);
        assert_eq!(some[0]["role"], "system");
        assert_eq!(some.len(), 4, "system + the 3 newest that fit: {some:?}");
        let one = upstream_messages("sys", &history, 10);
        assert_eq!(one.len(), 2, "the newest message is always sent");
    }

    #[test]
    fn unanswered_tool_calls_and_notices_are_not_sent() {
        let mut asked = msg(2, "assistant", "");
        asked.tool_calls = Some(
            r#"[{"id":"a","name":"list_tasks","arguments":"{}"},{"id":"b","name":"x","arguments":"{}"}]"#
                .into(),
        );
        let mut result = msg(3, "tool", "[]");
        result.tool_call_id = Some("a".into());
        let history =
            vec![msg(1, "user", "hi"), asked, result, msg(4, "notice", "oops"), msg(5, "assistant", "")];
        let sent = upstream_messages("sys", &history, 10_000);
        assert_eq!(sent.len(), 4, "{sent:?}");
        assert_eq!(sent[2]["tool_calls"].as_array().unwrap().len(), 1);
        assert_eq!(sent[3]["role"], "tool");
        // Trimmed so that the result comes first: it goes too.
        let sent = upstream_messages("s", &history[1..3], 3);
        assert!(sent.iter().all(|m| m["role"] != "tool"), "{sent:?}");
    }
}
