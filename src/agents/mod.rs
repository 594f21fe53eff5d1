//! Agents: where prompts go. Configured once, used by many schedules.
//!
//! - `llm`: an OpenAI-compatible `/chat/completions` endpoint; the answer is the output.
//! - `letta`: a Letta server's agent; its assistant messages are the output, delivered exactly
//!   once ([`letta`]).
//! - `webhook`: a signed JSON `POST`; any 2xx succeeds and the body is the output.
//! - `command`: a program (argv, no shell) with the prompt on stdin; stdout is the output.
//! - `notify`: no model; the prompt becomes an in-app notification.
//!
//! Two agents are built in: `notify` always, and `default` (an `llm`) when `STEWARD_LLM_*` is
//! set. A stored agent of the same name takes precedence. [`deliver`] talks to them.
//!
//! Who may send prompts to an agent: the person always (pages, CLI, an `admin` token, and the
//! scheduler carrying out their schedules); anyone else only where the person opened the agent
//! to them ([`OpenTo`]: the chat agent, MCP clients, API tokens), checked by [`may_send`].
//! `command` and `webhook` agents start closed. A conversation's own agent may always be sent
//! to from that conversation (a wake-up), and the built-in `notify` is open to all.

pub mod deliver;
pub mod letta;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::{from_ms, to_ms};
use crate::config::Config;
use crate::db::Conn;
use crate::db::schema::{agents, conversations, schedules};
use crate::error::AppError;
use crate::services::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    Llm,
    Letta,
    Webhook,
    Command,
    Notify,
    /// Steward's own periodic work (refreshing subscribed calendars): the built-in agent
    /// `system`, whose prompts are jobs it knows (see `calendar::subscriptions`).
    System,
}

impl AgentKind {
    pub const ALL: [AgentKind; 5] =
        [AgentKind::Llm, AgentKind::Letta, AgentKind::Webhook, AgentKind::Command, AgentKind::Notify];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Llm => "llm",
            AgentKind::Letta => "letta",
            AgentKind::Webhook => "webhook",
            AgentKind::Command => "command",
            AgentKind::Notify => "notify",
            AgentKind::System => "system",
        }
    }

    pub fn parse(text: &str) -> Result<AgentKind, AppError> {
        AgentKind::ALL.into_iter().find(|k| k.as_str() == text.trim()).ok_or_else(|| {
            AppError::invalid("kind", format!("{text:?} is not one of llm, letta, webhook, command, notify"))
        })
    }
}

/// Every kind's settings in one flat shape; each kind uses its own fields (see [`Agent::validate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// llm: the base URL (`http://127.0.0.1:11434/v1`); letta: the server; webhook: the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// llm: the model name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// llm and letta: sent as `Authorization: Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// llm: an optional system prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// letta: the agent's id on the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// webhook: the HMAC-SHA256 key of `X-Steward-Signature`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// command: the program and its arguments (no shell).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// Seconds one delivery may take (default: 120 for llm and letta, 30 otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// Who besides the person may send prompts to an agent. Only the person chooses it (the
/// Agents page, the CLI, an `admin` token); never the agent or a narrower token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OpenTo {
    /// The chat agent (a tool call in a conversation whose own agent this is not).
    pub chat: bool,
    /// MCP clients (`/mcp`).
    pub mcp: bool,
    /// API tokens without the `admin` scope.
    pub tokens: bool,
}

impl OpenTo {
    pub const NAMES: [&str; 3] = ["chat", "mcp", "tokens"];

    /// Agents that run programs or call out to other systems start closed; models start open.
    pub fn default_for(kind: AgentKind) -> OpenTo {
        let open = !matches!(kind, AgentKind::Command | AgentKind::Webhook);
        OpenTo { chat: open, mcp: open, tokens: open }
    }

    /// `["chat", "tokens"]`; an empty list (or `none`) closes the agent to everyone else.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<OpenTo, AppError> {
        let mut open = OpenTo { chat: false, mcp: false, tokens: false };
        for name in names.iter().map(|n| n.as_ref().trim()).filter(|n| !n.is_empty()) {
            match name.to_lowercase().as_str() {
                "chat" => open.chat = true,
                "mcp" => open.mcp = true,
                "tokens" | "api" => open.tokens = true,
                "none" => {}
                "all" => open = OpenTo { chat: true, mcp: true, tokens: true },
                _ => {
                    return Err(AppError::invalid(
                        "open_to",
                        format!("“{name}” is not one of chat, mcp, tokens (or all, none)"),
                    ));
                }
            }
        }
        Ok(open)
    }

    pub fn names(&self) -> Vec<&'static str> {
        let on = [self.chat, self.mcp, self.tokens];
        OpenTo::NAMES.into_iter().zip(on).filter(|(_, on)| *on).map(|(n, _)| n).collect()
    }

    /// "the chat agent and MCP clients", or "nobody else".
    pub fn describe(&self) -> String {
        let words: Vec<&str> =
            [(self.chat, "the chat agent"), (self.mcp, "MCP clients"), (self.tokens, "API tokens")]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, w)| w)
                .collect();
        match words.as_slice() {
            [] => "nobody else".into(),
            [one] => one.to_string(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        }
    }
}

/// An agent, stored or built in.
#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    pub name: String,
    pub kind: AgentKind,
    #[serde(skip)]
    pub config: AgentConfig,
    /// How many deliveries to this agent may run at once (default 1: agents are rarely safe
    /// under concurrent messages).
    pub concurrency: i32,
    pub builtin: bool,
    pub created_at: Option<DateTime<Utc>>,
    /// Who besides the person may send prompts to it.
    pub open_to: OpenTo,
}

/// What the API and pages show: the settings without the secrets.
#[derive(Debug, Serialize)]
pub struct AgentView {
    pub name: String,
    pub kind: AgentKind,
    pub concurrency: i32,
    pub builtin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    pub timeout_secs: u64,
    pub has_api_key: bool,
    pub has_secret: bool,
    /// Who besides the person may send prompts to it: `chat`, `mcp`, `tokens`.
    pub open_to: Vec<&'static str>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = agents)]
struct Row {
    name: String,
    kind: String,
    config: String,
    concurrency: i32,
    created_at: i64,
    open_to_chat: bool,
    open_to_mcp: bool,
    open_to_tokens: bool,
}

impl Agent {
    pub fn timeout(&self) -> std::time::Duration {
        let default = match self.kind {
            AgentKind::Llm | AgentKind::Letta => 120,
            _ => 30,
        };
        std::time::Duration::from_secs(self.config.timeout_secs.unwrap_or(default))
    }

    pub fn view(&self) -> AgentView {
        let c = &self.config;
        AgentView {
            name: self.name.clone(),
            kind: self.kind,
            concurrency: self.concurrency,
            builtin: self.builtin,
            url: c.url.clone(),
            model: c.model.clone(),
            agent_id: c.agent_id.clone(),
            argv: c.argv.clone(),
            system_prompt: c.system_prompt.clone(),
            timeout_secs: self.timeout().as_secs(),
            has_api_key: c.api_key.is_some(),
            has_secret: c.secret.is_some(),
            open_to: self.open_to.names(),
        }
    }

    /// Checks that the kind's own fields are present and sane, naming the field at fault.
    pub fn validate(&self) -> Result<(), AppError> {
        validate_name(&self.name)?;
        let c = &self.config;
        let need = |field: &str, value: &Option<String>| match value.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => Ok(()),
            _ => Err(AppError::invalid(field, format!("a {} agent needs a {field}", self.kind.as_str()))),
        };
        match self.kind {
            AgentKind::Llm => {
                need("url", &c.url)?;
                need("model", &c.model)?;
            }
            AgentKind::Letta => {
                need("url", &c.url)?;
                need("agent_id", &c.agent_id)?;
            }
            AgentKind::Webhook => {
                need("url", &c.url)?;
                need("secret", &c.secret)?;
            }
            AgentKind::Command => match c.argv.as_deref() {
                Some([program, ..]) if !program.trim().is_empty() => {}
                _ => return Err(AppError::invalid("argv", "a command agent needs a program to run")),
            },
            AgentKind::Notify | AgentKind::System => {}
        }
        if let Some(url) = &c.url {
            validate_url(url)?;
        }
        if let Some(t) = c.timeout_secs
            && !(1..=3600).contains(&t)
        {
            return Err(AppError::invalid("timeout_secs", format!("{t} is not between 1 and 3600 seconds")));
        }
        if !(1..=64).contains(&self.concurrency) {
            return Err(AppError::invalid(
                "concurrency",
                format!("{} is not between 1 and 64", self.concurrency),
            ));
        }
        Ok(())
    }
}

fn validate_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    // The name is a path segment (`/agents/{name}`): `.` and `..` would be resolved away.
    let letters = name.chars().any(|c| c != '.');
    if !ok {
        Err(AppError::invalid("name", format!("{name:?} must be 1 to 64 letters, digits, '-', '_' or '.'")))
    } else if !letters {
        Err(AppError::invalid("name", format!("{name:?} needs a letter or digit, not only dots")))
    } else {
        Ok(())
    }
}

fn validate_url(url: &str) -> Result<(), AppError> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| AppError::invalid("url", format!("{url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AppError::invalid(
            "url",
            format!("{url:?} must be an http:// or https:// URL with a host"),
        ));
    }
    Ok(())
}

/// The agents that exist without being added.
fn builtins(config: &Config) -> Vec<Agent> {
    let mut list = vec![Agent {
        name: "notify".into(),
        kind: AgentKind::Notify,
        config: AgentConfig::default(),
        // Nothing leaves the process (the note is written when the run is recorded), so a
        // minute's worth of reminders may all go at once, up to the scheduler's pool.
        concurrency: 32,
        builtin: true,
        created_at: None,
        open_to: OpenTo { chat: true, mcp: true, tokens: true },
    }];
    list.push(Agent {
        name: crate::calendar::subscriptions::SYSTEM_AGENT.into(),
        kind: AgentKind::System,
        config: AgentConfig::default(),
        concurrency: 2,
        builtin: true,
        created_at: None,
        // Only the scheduler sends to it (its refresh jobs); nothing the agent or a token could ask.
        open_to: OpenTo { chat: false, mcp: false, tokens: false },
    });
    if let (Some(url), Some(model)) = (&config.llm_base_url, &config.llm_model) {
        list.insert(
            0,
            Agent {
                name: "default".into(),
                kind: AgentKind::Llm,
                config: AgentConfig {
                    url: Some(url.clone()),
                    model: Some(model.clone()),
                    api_key: config.llm_api_key.clone(),
                    ..AgentConfig::default()
                },
                concurrency: 1,
                builtin: true,
                created_at: None,
                open_to: OpenTo::default_for(AgentKind::Llm),
            },
        );
    }
    list
}

fn from_row(row: Row) -> Result<Agent, AppError> {
    let config: AgentConfig = serde_json::from_str(&row.config)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("agent {}: stored config: {e}", row.name)))?;
    Ok(Agent {
        kind: AgentKind::parse(&row.kind)?,
        name: row.name,
        config,
        concurrency: row.concurrency,
        builtin: false,
        created_at: Some(from_ms(row.created_at)),
        open_to: OpenTo { chat: row.open_to_chat, mcp: row.open_to_mcp, tokens: row.open_to_tokens },
    })
}

/// Every agent: stored ones, then the built-ins not shadowed by a stored one of the same name.
pub fn list(conn: &mut Conn, config: &Config) -> Result<Vec<Agent>, AppError> {
    let rows: Vec<Row> = agents::table.select(Row::as_select()).order(agents::name).load(conn)?;
    let mut out: Vec<Agent> = rows.into_iter().map(from_row).collect::<Result<_, _>>()?;
    for b in builtins(config) {
        if !out.iter().any(|a| a.name == b.name) {
            out.push(b);
        }
    }
    Ok(out)
}

/// The agent of that name, or a NotFound that lists the known names.
pub fn get(conn: &mut Conn, config: &Config, name: &str) -> Result<Agent, AppError> {
    let row: Option<Row> =
        agents::table.filter(agents::name.eq(name)).select(Row::as_select()).first(conn).optional()?;
    if let Some(row) = row {
        return from_row(row);
    }
    if let Some(b) = builtins(config).into_iter().find(|b| b.name == name) {
        return Ok(b);
    }
    let known: Vec<String> = list(conn, config)?.into_iter().map(|a| a.name).collect();
    let hint = if name == "default" {
        "; set STEWARD_LLM_BASE_URL and STEWARD_LLM_MODEL for a built-in default, or name an agent"
    } else {
        ""
    };
    Err(AppError::NotFound(format!("no agent named {name:?} (known: {}){hint}", known.join(", "))))
}

/// Like [`get`], for a field of another object: an unknown agent is bad input there.
pub fn resolve(conn: &mut Conn, config: &Config, field: &str, name: &str) -> Result<Agent, AppError> {
    get(conn, config, name).map_err(|e| match e {
        AppError::NotFound(message) => AppError::invalid(field, message),
        other => other,
    })
}

/// The fields of an agent to add, or to change (absent fields stay as they are).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentInput {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub concurrency: Option<i32>,
    #[serde(flatten)]
    pub config: AgentConfigPatch,
}

/// Each setting: absent = unchanged; empty text = removed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfigPatch {
    pub url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub system_prompt: Option<String>,
    pub agent_id: Option<String>,
    pub secret: Option<String>,
    pub argv: Option<Vec<String>>,
    pub timeout_secs: Option<u64>,
    /// Who besides the person may send prompts to it: `chat`, `mcp`, `tokens` (absent: the
    /// kind's default when adding, unchanged when changing). Kept in the agent's own columns,
    /// not in its config.
    pub open_to: Option<Vec<String>>,
}

impl AgentConfigPatch {
    fn apply(self, c: &mut AgentConfig) {
        let set = |slot: &mut Option<String>, v: Option<String>| {
            if let Some(v) = v {
                *slot = Some(v.trim().to_string()).filter(|v| !v.is_empty());
            }
        };
        set(&mut c.url, self.url);
        set(&mut c.model, self.model);
        set(&mut c.api_key, self.api_key);
        set(&mut c.system_prompt, self.system_prompt);
        set(&mut c.agent_id, self.agent_id);
        set(&mut c.secret, self.secret);
        if let Some(argv) = self.argv {
            c.argv = Some(argv).filter(|a| !a.is_empty());
        }
        if let Some(t) = self.timeout_secs {
            c.timeout_secs = Some(t);
        }
    }
}

pub fn add(conn: &mut Conn, now: DateTime<Utc>, input: AgentInput, by: Actor) -> Result<Agent, AppError> {
    let name = input.name.as_deref().map(str::trim).unwrap_or_default().to_string();
    let kind = AgentKind::parse(input.kind.as_deref().unwrap_or_default())?;
    guard_person(by)?;
    let open_to = match &input.config.open_to {
        Some(names) => OpenTo::parse(names)?,
        None => OpenTo::default_for(kind),
    };
    let mut agent = Agent {
        name,
        kind,
        config: AgentConfig::default(),
        concurrency: input.concurrency.unwrap_or(1),
        builtin: false,
        created_at: Some(now),
        open_to,
    };
    input.config.apply(&mut agent.config);
    guard_actor(&agent, by)?;
    agent.validate()?;
    crate::db::write(conn, |conn| {
        let exists: i64 = agents::table.filter(agents::name.eq(&agent.name)).count().get_result(conn)?;
        if exists > 0 {
            return Err(AppError::invalid("name", format!("an agent named {:?} already exists", agent.name)));
        }
        diesel::insert_into(agents::table)
            .values((
                agents::name.eq(&agent.name),
                agents::kind.eq(agent.kind.as_str()),
                agents::config.eq(config_json(&agent.config)?),
                agents::concurrency.eq(agent.concurrency),
                agents::created_at.eq(to_ms(now)),
                agents::updated_at.eq(to_ms(now)),
                agents::open_to_chat.eq(agent.open_to.chat),
                agents::open_to_mcp.eq(agent.open_to.mcp),
                agents::open_to_tokens.eq(agent.open_to.tokens),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    Ok(agent)
}

/// Changes a stored agent's settings (its name and kind stay). See [`update_noting`].
pub fn update(
    conn: &mut Conn,
    config: &Config,
    now: DateTime<Utc>,
    name: &str,
    input: AgentInput,
    by: Actor,
) -> Result<Agent, AppError> {
    update_noting(conn, config, now, name, input, by).map(|(agent, _)| agent)
}

/// Changes a stored agent's settings, and says which stored secrets a new URL dropped.
///
/// A stored API key or webhook secret belongs to the address it was given for: when the URL
/// changes, the secret is not kept (it would be sent to, or sign prompts for, the new
/// address) unless the same change gives it again. A webhook cannot work without its secret,
/// so there the change is refused until one is given; an optional key is dropped, and the
/// names of what was dropped (`api_key`, `secret`) come back so that the door can say so.
pub fn update_noting(
    conn: &mut Conn,
    config: &Config,
    now: DateTime<Utc>,
    name: &str,
    input: AgentInput,
    by: Actor,
) -> Result<(Agent, Vec<&'static str>), AppError> {
    guard_person(by)?;
    crate::db::write(conn, |conn| {
        let mut agent = get(conn, config, name)?;
        if agent.builtin {
            return Err(AppError::invalid(
                "name",
                format!("{name:?} is built in; add an agent of your own to change its settings"),
            ));
        }
        if let Some(kind) = input.kind.as_deref()
            && AgentKind::parse(kind)? != agent.kind
        {
            return Err(AppError::invalid("kind", "an agent's kind cannot change; add a new agent"));
        }
        if let Some(new_name) = input.name.as_deref()
            && new_name.trim() != agent.name
        {
            return Err(AppError::invalid("name", "an agent's name cannot change; schedules refer to it"));
        }
        if let Some(c) = input.concurrency {
            agent.concurrency = c;
        }
        if let Some(names) = &input.config.open_to {
            agent.open_to = OpenTo::parse(names)?;
        }
        let old_url = agent.config.url.clone();
        let (gave_key, gave_secret) = (input.config.api_key.is_some(), input.config.secret.is_some());
        input.config.apply(&mut agent.config);
        let mut dropped = Vec::new();
        if !same_url(old_url.as_deref(), agent.config.url.as_deref()) {
            if !gave_key && agent.config.api_key.take().is_some() {
                dropped.push("api_key");
            }
            if !gave_secret && agent.config.secret.take().is_some() {
                if agent.kind == AgentKind::Webhook {
                    return Err(AppError::invalid(
                        "secret",
                        "the URL changed, so the stored secret is not kept (it would sign prompts for the \
                         new address); give the secret again with the new URL",
                    ));
                }
                dropped.push("secret");
            }
        }
        guard_actor(&agent, by)?;
        agent.validate()?;
        diesel::update(agents::table.filter(agents::name.eq(name)))
            .set((
                agents::config.eq(config_json(&agent.config)?),
                agents::concurrency.eq(agent.concurrency),
                agents::updated_at.eq(to_ms(now)),
                agents::open_to_chat.eq(agent.open_to.chat),
                agents::open_to_mcp.eq(agent.open_to.mcp),
                agents::open_to_tokens.eq(agent.open_to.tokens),
            ))
            .execute(conn)?;
        Ok((agent, dropped))
    })
}

/// The same address, give or take surrounding space and a trailing slash.
fn same_url(a: Option<&str>, b: Option<&str>) -> bool {
    let norm = |u: Option<&str>| u.map(|u| u.trim().trim_end_matches('/').to_string());
    norm(a) == norm(b)
}

/// What a door tells the person after [`update_noting`] dropped stored secrets.
pub fn dropped_note(dropped: &[&str]) -> Option<String> {
    let what = match (dropped.contains(&"api_key"), dropped.contains(&"secret")) {
        (true, true) => "API key and secret were",
        (true, false) => "API key was",
        (false, true) => "secret was",
        (false, false) => return None,
    };
    Some(format!(
        "The URL changed, so the stored {what} removed (they are never sent to a new address); \
         give them again if the new address needs them."
    ))
}

/// Removes a stored agent, unless schedules still use it (nothing is left pointing nowhere).
pub fn remove(conn: &mut Conn, config: &Config, name: &str) -> Result<(), AppError> {
    crate::db::write(conn, |conn| {
        let agent = get(conn, config, name)?;
        if agent.builtin {
            return Err(AppError::invalid("name", format!("{name:?} is built in and cannot be removed")));
        }
        let users: i64 = schedules::table
            .filter(schedules::agent.eq(name))
            .filter(schedules::deleted_at.is_null())
            .count()
            .get_result(conn)?;
        if users > 0 {
            return Err(AppError::invalid(
                "name",
                format!("{users} schedule(s) still use {name:?}; move or delete them first"),
            ));
        }
        diesel::delete(agents::table.filter(agents::name.eq(name))).execute(conn)?;
        Ok(())
    })
}

/// Only the person (the pages, the CLI) or an `admin` token may add or change agents: their
/// URLs and secrets decide where prompts and keys go, and who may send to them.
fn guard_person(by: Actor) -> Result<(), AppError> {
    if matches!(by, Actor::Person | Actor::AdminToken { .. }) {
        return Ok(());
    }
    Err(AppError::Forbidden(
        "only the person may add or change agents: on the Agents page, with the steward CLI, or with an \
         API token that has the admin scope"
            .into(),
    ))
}

/// Whether `actor` may send prompts to `agent` (a schedule, a trigger, a chat message); a
/// refusal says where the person can allow it.
pub fn may_send(conn: &mut Conn, agent: &Agent, actor: Actor) -> Result<(), AppError> {
    if actor.acts_for_person() {
        return Ok(());
    }
    let (open, who, flag) = match actor {
        Actor::Agent { conversation: Some(id), .. } => {
            let own: Option<String> =
                conversations::table.find(id).select(conversations::agent).first(conn).optional()?;
            if own.as_deref() == Some(agent.name.as_str()) {
                return Ok(());
            }
            (agent.open_to.chat, "the chat agent", "chat")
        }
        Actor::Agent { conversation: None, .. } => (agent.open_to.mcp, "MCP clients", "mcp"),
        _ => (agent.open_to.tokens, "API tokens", "tokens"),
    };
    if open {
        return Ok(());
    }
    let name = &agent.name;
    Err(AppError::Forbidden(format!(
        "the agent “{name}” does not take prompts from {who}; only the person can allow it, on the Agents \
         page (Edit “{name}”: Who else may send prompts) or with `steward agent edit {name} --open-to {flag}`"
    )))
}

/// [`may_send`] by name, without the configuration: an agent that is not stored is built in
/// (and open), or does not exist (and the caller's own lookup says so).
pub fn may_send_to(conn: &mut Conn, name: &str, actor: Actor) -> Result<(), AppError> {
    if actor.acts_for_person() {
        return Ok(());
    }
    let row: Option<Row> =
        agents::table.filter(agents::name.eq(name)).select(Row::as_select()).first(conn).optional()?;
    match row {
        Some(row) => may_send(conn, &from_row(row)?, actor),
        None => Ok(()),
    }
}

/// A `command` agent runs programs on this machine, so only the person (pages, CLI) may set one
/// up, never a token or the agent itself.
fn guard_actor(agent: &Agent, by: Actor) -> Result<(), AppError> {
    if agent.kind == AgentKind::Command && !by.is_person() {
        return Err(AppError::Forbidden(
            "command agents run programs on this machine, so they can only be set up from the \
             Agents page or the steward CLI"
                .into(),
        ));
    }
    Ok(())
}

fn config_json(c: &AgentConfig) -> Result<String, AppError> {
    serde_json::to_string(c).map_err(|e| AppError::Internal(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_send_reads_and_says_itself() {
        let open = |names: &[&str]| OpenTo::parse(names).unwrap();
        assert_eq!(open(&["chat", " MCP "]).names(), ["chat", "mcp"]);
        assert_eq!(open(&[]).describe(), "nobody else");
        assert_eq!(open(&["none"]).describe(), "nobody else");
        assert_eq!(open(&["tokens"]).describe(), "API tokens");
        assert_eq!(open(&["chat", "mcp"]).describe(), "the chat agent and MCP clients");
        assert_eq!(open(&["all"]).describe(), "the chat agent, MCP clients and API tokens");
        let e = OpenTo::parse(&["everyone"]).unwrap_err();
        assert_eq!(e.field(), Some("open_to"));
        for kind in AgentKind::ALL {
            let closed = matches!(kind, AgentKind::Command | AgentKind::Webhook);
            assert_eq!(OpenTo::default_for(kind).names().is_empty(), closed, "{kind:?}");
        }
    }

    #[test]
    fn a_url_is_the_same_give_or_take_a_trailing_slash() {
        assert!(same_url(Some("http://a/v1"), Some(" http://a/v1/ ")));
        assert!(!same_url(Some("http://a/v1"), Some("http://b/v1")));
        assert!(!same_url(Some("http://a/v1"), Some("http://a/v2")));
        assert!(!same_url(None, Some("http://a")));
        assert_eq!(dropped_note(&[]), None);
        assert!(dropped_note(&["api_key"]).unwrap().contains("API key was removed"));
        assert!(dropped_note(&["api_key", "secret"]).unwrap().contains("API key and secret were removed"));
    }
}
