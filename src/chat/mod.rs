//! Chat with the agent: conversations and their messages (this module), the streaming relay
//! to an OpenAI-compatible model with the tool loop ([`engine`]), and the Markdown renderer for
//! the model's untrusted text ([`markdown`]).
//!
//! A conversation keeps its whole history. A reply is written to its message row as it arrives
//! (`state = 'streaming'`), so the generation belongs to the server: a closed tab loses nothing.

pub mod engine;
pub mod markdown;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::agents::AgentKind;
use crate::clock::{from_ms, to_ms};
use crate::config::Config;
use crate::db::Conn;
use crate::db::schema::{conversations, messages};
use crate::error::AppError;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = conversations)]
pub struct Conversation {
    pub id: i32,
    pub title: String,
    pub agent: String,
    pub schedule_id: Option<i32>,
    #[serde(serialize_with = "rfc3339_ms")]
    pub created_at: i64,
    #[serde(serialize_with = "rfc3339_ms")]
    pub updated_at: i64,
    #[serde(skip)]
    pub deleted_at: Option<i64>,
}

/// A tool call the model asked for, as stored on its assistant message.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (JSON text, possibly invalid).
    pub arguments: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = messages)]
pub struct Message {
    pub id: i32,
    pub conversation_id: i32,
    pub role: String,
    pub content: String,
    #[serde(skip)]
    pub tool_calls: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_name: Option<String>,
    pub state: String,
    pub error: Option<String>,
    pub run_id: Option<i32>,
    #[serde(serialize_with = "rfc3339_ms")]
    pub created_at: i64,
    #[serde(serialize_with = "rfc3339_ms")]
    pub updated_at: i64,
}

impl Message {
    /// The tool calls of an assistant message (none when unreadable).
    pub fn calls(&self) -> Vec<ToolCall> {
        self.tool_calls.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default()
    }

    pub fn created(&self) -> DateTime<Utc> {
        from_ms(self.created_at)
    }
}

/// A message as the API shows it: its tool calls parsed.
#[derive(Debug, Serialize)]
pub struct MessageView {
    #[serde(flatten)]
    pub message: Message,
    pub tool_calls: Vec<ToolCall>,
}

impl From<Message> for MessageView {
    fn from(message: Message) -> MessageView {
        MessageView { tool_calls: message.calls(), message }
    }
}

fn rfc3339_ms<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&from_ms(*ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The longest title kept.
const TITLE_CHARS: usize = 80;

/// A title from the first words of a message.
pub fn title_from(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("New conversation");
    let short: String = line.chars().take(TITLE_CHARS).collect();
    if short.len() < line.len() { format!("{short}…") } else { short }
}

/// The agent a conversation talks to: `llm` or `letta` only.
pub fn chat_agent(conn: &mut Conn, config: &Config, name: &str) -> Result<crate::agents::Agent, AppError> {
    let agent = crate::agents::resolve(conn, config, "agent", name)?;
    match agent.kind {
        AgentKind::Llm | AgentKind::Letta => Ok(agent),
        other => Err(AppError::invalid(
            "agent",
            format!("{name:?} is a {} agent; a conversation needs an llm or letta agent", other.as_str()),
        )),
    }
}

pub fn create(
    conn: &mut Conn,
    config: &Config,
    agent: &str,
    title: &str,
    now: DateTime<Utc>,
) -> Result<Conversation, AppError> {
    let agent = chat_agent(conn, config, agent)?;
    let id: i32 = diesel::insert_into(conversations::table)
        .values((
            conversations::title.eq(title_from(title)),
            conversations::agent.eq(&agent.name),
            conversations::created_at.eq(to_ms(now)),
            conversations::updated_at.eq(to_ms(now)),
        ))
        .returning(conversations::id)
        .get_result(conn)?;
    get(conn, id)
}

/// A conversation that is not deleted.
pub fn get(conn: &mut Conn, id: i32) -> Result<Conversation, AppError> {
    conversations::table
        .find(id)
        .filter(conversations::deleted_at.is_null())
        .select(Conversation::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no conversation {id}")))
}

/// Checks that a schedule may post into conversation `id`: it exists and `agent` can talk in it.
pub fn conversation_for_schedule(
    conn: &mut Conn,
    id: i32,
    agent: &crate::agents::Agent,
) -> Result<i32, AppError> {
    let found = get(conn, id).map_err(|_| {
        AppError::invalid("conversation_id", format!("there is no conversation {id} (deleted?)"))
    })?;
    if !matches!(agent.kind, AgentKind::Llm | AgentKind::Letta) {
        return Err(AppError::invalid(
            "conversation_id",
            format!(
                "only llm and letta agents post into a conversation; {} is {}",
                agent.name,
                agent.kind.as_str()
            ),
        ));
    }
    Ok(found.id)
}

/// Conversations, most recently active first; `q` keeps those whose title or messages contain it.
pub fn list(conn: &mut Conn, q: Option<&str>, limit: i64) -> Result<Vec<Conversation>, AppError> {
    let mut query = conversations::table
        .filter(conversations::deleted_at.is_null())
        .select(Conversation::as_select())
        .order((conversations::updated_at.desc(), conversations::id.desc()))
        .limit(limit.clamp(1, 500))
        .into_boxed();
    if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let in_messages = messages::table
            .filter(messages::content.like(pattern.clone()).escape('\\'))
            .select(messages::conversation_id);
        query = query.filter(
            conversations::title.like(pattern).escape('\\').or(conversations::id.eq_any(in_messages)),
        );
    }
    Ok(query.load(conn)?)
}

pub fn rename(conn: &mut Conn, id: i32, title: &str, now: DateTime<Utc>) -> Result<Conversation, AppError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(AppError::invalid("title", "is empty"));
    }
    if title.chars().count() > 200 {
        return Err(AppError::invalid("title", "is longer than 200 characters"));
    }
    get(conn, id)?;
    diesel::update(conversations::table.find(id))
        .set((conversations::title.eq(title), conversations::updated_at.eq(to_ms(now))))
        .execute(conn)?;
    get(conn, id)
}

/// Deletes a conversation (its messages go with it); schedules that posted into it post into a
/// thread of their own from then on.
pub fn delete(conn: &mut Conn, id: i32, now: DateTime<Utc>) -> Result<(), AppError> {
    use crate::db::schema::schedules;
    crate::db::write(conn, |conn| {
        get(conn, id)?;
        diesel::update(schedules::table.filter(schedules::conversation_id.eq(id)))
            .set(schedules::conversation_id.eq(None::<i32>))
            .execute(conn)?;
        diesel::update(conversations::table.find(id))
            .set(conversations::deleted_at.eq(to_ms(now)))
            .execute(conn)?;
        diesel::delete(messages::table.filter(messages::conversation_id.eq(id))).execute(conn)?;
        Ok(())
    })
}

/// Every message of a conversation, oldest first.
pub fn messages(conn: &mut Conn, id: i32) -> Result<Vec<Message>, AppError> {
    Ok(messages::table
        .filter(messages::conversation_id.eq(id))
        .order(messages::id.asc())
        .select(Message::as_select())
        .load(conn)?)
}

/// The newest `limit` messages of a conversation, oldest first.
pub fn recent_messages(conn: &mut Conn, id: i32, limit: i64) -> Result<Vec<Message>, AppError> {
    let mut newest: Vec<Message> = messages::table
        .filter(messages::conversation_id.eq(id))
        .order(messages::id.desc())
        .limit(limit)
        .select(Message::as_select())
        .load(conn)?;
    newest.reverse();
    Ok(newest)
}

pub fn message(conn: &mut Conn, id: i32) -> Result<Message, AppError> {
    messages::table
        .find(id)
        .select(Message::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no message {id}")))
}

/// A new message to append.
#[derive(Debug, Default)]
pub struct NewMessage<'a> {
    pub role: &'a str,
    pub content: &'a str,
    pub tool_calls: Option<String>,
    pub tool_call_id: Option<&'a str>,
    pub tool_name: Option<&'a str>,
    pub state: &'a str,
    pub error: Option<&'a str>,
    pub run_id: Option<i32>,
}

/// Appends a message and marks the conversation active now; returns the message's id.
pub fn append(
    conn: &mut Conn,
    conversation: i32,
    m: &NewMessage,
    now: DateTime<Utc>,
) -> Result<i32, AppError> {
    let now = to_ms(now);
    let id: i32 = diesel::insert_into(messages::table)
        .values((
            messages::conversation_id.eq(conversation),
            messages::role.eq(m.role),
            messages::content.eq(m.content),
            messages::tool_calls.eq(&m.tool_calls),
            messages::tool_call_id.eq(m.tool_call_id),
            messages::tool_name.eq(m.tool_name),
            messages::state.eq(if m.state.is_empty() { "done" } else { m.state }),
            messages::error.eq(m.error),
            messages::run_id.eq(m.run_id),
            messages::created_at.eq(now),
            messages::updated_at.eq(now),
        ))
        .returning(messages::id)
        .get_result(conn)?;
    diesel::update(conversations::table.find(conversation))
        .set(conversations::updated_at.eq(now))
        .execute(conn)?;
    Ok(id)
}

/// Writes what a streaming reply holds so far (and its end state, when it ends).
pub fn save_reply(
    conn: &mut Conn,
    id: i32,
    content: &str,
    tool_calls: Option<&[ToolCall]>,
    state: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let calls = match tool_calls {
        Some(c) if !c.is_empty() => Some(serde_json::to_string(c).map_err(anyhow::Error::from)?),
        _ => None,
    };
    diesel::update(messages::table.find(id))
        .set((
            messages::content.eq(content),
            messages::tool_calls.eq(calls),
            messages::state.eq(state),
            messages::error.eq(error),
            messages::updated_at.eq(to_ms(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A tool's result, when it comes later (a destructive call the person confirmed).
pub fn save_tool_result(
    conn: &mut Conn,
    id: i32,
    content: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(messages::table.find(id))
        .set((
            messages::content.eq(content),
            messages::state.eq(if error.is_some() { "failed" } else { "done" }),
            messages::error.eq(error),
            messages::updated_at.eq(to_ms(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replies left `streaming` by a process that stopped: they will not go on.
pub fn end_orphaned_replies(conn: &mut Conn, now: DateTime<Utc>) -> Result<usize, AppError> {
    Ok(diesel::update(messages::table.filter(messages::state.eq("streaming")))
        .set((
            messages::state.eq("failed"),
            messages::error.eq("Steward stopped while this reply was being written"),
            messages::updated_at.eq(to_ms(now)),
        ))
        .execute(conn)?)
}

/// The conversation each of these runs posted into, if any.
pub fn conversations_of_runs(
    conn: &mut Conn,
    runs: &[i32],
) -> Result<std::collections::HashMap<i32, i32>, AppError> {
    let pairs: Vec<(Option<i32>, i32)> = messages::table
        .filter(messages::run_id.eq_any(runs))
        .select((messages::run_id, messages::conversation_id))
        .load(conn)?;
    Ok(pairs.into_iter().filter_map(|(run, c)| Some((run?, c))).collect())
}

/// The conversation a schedule's runs post into: its chosen one, or a thread of its own made
/// on first use.
pub fn for_schedule(
    conn: &mut Conn,
    schedule: &crate::schedules::Schedule,
    now: DateTime<Utc>,
) -> Result<i32, AppError> {
    if let Some(id) = schedule.conversation_id.filter(|id| get(conn, *id).is_ok()) {
        return Ok(id);
    }
    let own: Option<i32> = conversations::table
        .filter(conversations::schedule_id.eq(schedule.id))
        .filter(conversations::deleted_at.is_null())
        .select(conversations::id)
        .first(conn)
        .optional()?;
    if let Some(id) = own {
        return Ok(id);
    }
    let id: i32 = diesel::insert_into(conversations::table)
        .values((
            conversations::title.eq(title_from(&schedule.name)),
            conversations::agent.eq(&schedule.agent),
            conversations::schedule_id.eq(schedule.id),
            conversations::created_at.eq(to_ms(now)),
            conversations::updated_at.eq(to_ms(now)),
        ))
        .returning(conversations::id)
        .get_result(conn)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_the_first_line() {
        assert_eq!(title_from("\n  Plan my week \nplease"), "Plan my week");
        assert_eq!(title_from(""), "New conversation");
        assert_eq!(title_from(&"é".repeat(100)).chars().count(), TITLE_CHARS + 1);
    }
}
