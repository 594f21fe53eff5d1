//! Notification channels: named destinations outside the app (ntfy, Telegram, Discord, email,
//! webhook, a browser's Web Push subscription: [`webpush`]), and the trace of every notification's trip to each of them.
//!
//! Every notification goes out through [`send`]: it stores the in-app notification
//! ([`crate::notifications::add`]) and queues one delivery per channel that receives the
//! notification's [`Topic`]. The scheduler sends due deliveries on its own loop (no second
//! timer): each turn claims queued ones ([`claim_due`]), marks them `sending`, and hands them to
//! tasks ([`deliver`]) that record `sent`, or a retry with backoff, or after the last attempt
//! `failed` with an in-app notification saying which channel could not be reached and why. A
//! crash leaves rows `sending`; the next start queues them again ([`release`]).
//!
//! Secrets (ntfy token, Telegram bot token, Discord webhook URL, SMTP password, webhook secret,
//! a push subscription's auth secret) are write-only: views say `"set"` or `"not set"`, errors never quote them.

pub mod actions;
pub use actions::Action;
pub mod send;
pub mod webpush;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::{from_ms, to_ms};
use crate::db::Conn;
use crate::db::schema::{channels, deliveries, notifications as notifications_table};
use crate::error::AppError;
use crate::events::{Event, Events};
use crate::notifications::{self, NewNotification, Notification};

/// What a channel can receive. A new channel receives all of them until narrowed.
pub const TOPICS: [&str; 5] = ["reminders", "run_failures", "notify", "briefings", "answers"];

/// Which kind of notification this is, for the channels' `receives`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Reminders,
    RunFailures,
    Notify,
    Briefings,
    Answers,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Reminders => "reminders",
            Topic::RunFailures => "run_failures",
            Topic::Notify => "notify",
            Topic::Briefings => "briefings",
            Topic::Answers => "answers",
        }
    }
}

/// What each topic means, in words (forms and help).
pub fn topic_label(topic: &str) -> &'static str {
    match topic {
        "reminders" => "Reminders",
        "run_failures" => "Run failures",
        "notify" => "The agent's notify tool",
        "briefings" => "Briefings",
        "answers" => "Scheduled-run answers",
        _ => "Unknown",
    }
}

pub const KINDS: [&str; 6] = ["ntfy", "telegram", "discord", "email", "webhook", "webpush"];

/// Attempts per delivery before it counts as failed.
pub const MAX_ATTEMPTS: i32 = 4;
/// Deliveries claimed per scheduler turn.
const CLAIM_BATCH: i64 = 200;

/// A channel's settings apart from its secret.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Web Push: the subscription's endpoint and the browser's public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p256dh: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub id: i32,
    pub name: String,
    pub kind: String,
    pub settings: Settings,
    /// The kind's one secret: ntfy `token`, telegram `bot_token`, discord `webhook_url`,
    /// email `password`, webhook `secret`, webpush `auth`.
    pub secret: Option<String>,
    pub receives: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Web Push: what signs a send, loaded just before it ([`prepare`]).
    pub signer: Option<webpush::Signer>,
}

/// The name of the field that holds a kind's secret.
pub fn secret_field(kind: &str) -> &'static str {
    match kind {
        "ntfy" => "token",
        "telegram" => "bot_token",
        "discord" => "webhook_url",
        "email" => "password",
        "webpush" => "auth",
        _ => "secret",
    }
}

/// The fields a kind takes (besides `name`, `kind` and `receives`).
pub fn fields_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "ntfy" => &["url", "topic", "token"],
        "telegram" => &["bot_token", "chat_id", "api_base"],
        "discord" => &["webhook_url"],
        "email" => &["smtp_host", "smtp_port", "tls", "username", "password", "from", "to"],
        "webhook" => &["url", "secret"],
        "webpush" => &["endpoint", "p256dh", "auth"],
        _ => &[],
    }
}

pub const TELEGRAM_API: &str = "https://api.telegram.org";

impl Channel {
    /// What the API and the CLI show: every setting of its kind, secrets as "set"/"not set".
    pub fn view(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("name".into(), self.name.clone().into());
        m.insert("kind".into(), self.kind.clone().into());
        let s = serde_json::to_value(&self.settings).unwrap_or_default();
        let secret = secret_field(&self.kind);
        for field in fields_of(&self.kind) {
            let value = if *field == secret {
                serde_json::Value::from(if self.secret.is_some() { "set" } else { "not set" })
            } else {
                s.get(*field).cloned().unwrap_or(serde_json::Value::Null)
            };
            m.insert((*field).into(), value);
        }
        m.insert("receives".into(), self.receives.clone().into());
        m.insert("created_at".into(), from_ms(self.created_at).to_rfc3339().into());
        m.insert("updated_at".into(), from_ms(self.updated_at).to_rfc3339().into());
        serde_json::Value::Object(m)
    }

    /// The host a secret belongs to: changing it drops the stored secret.
    fn address(&self) -> Option<String> {
        let a = match self.kind.as_str() {
            "ntfy" | "webhook" => self.settings.url.clone(),
            "telegram" => self.settings.api_base.clone(),
            "email" => self.settings.smtp_host.clone(),
            "webpush" => self.settings.endpoint.clone(),
            _ => None,
        };
        a.map(|u| u.trim().trim_end_matches('/').to_ascii_lowercase())
    }
}

/// A channel as given by the API, a form or the CLI: every field optional (a change gives only
/// what changes). Unknown fields are refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub url: Option<String>,
    pub topic: Option<String>,
    pub token: Option<String>,
    pub bot_token: Option<String>,
    pub chat_id: Option<String>,
    pub api_base: Option<String>,
    pub webhook_url: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub tls: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub secret: Option<String>,
    pub endpoint: Option<String>,
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    pub receives: Option<Vec<String>>,
}

impl ChannelInput {
    /// The fields given (non-empty), by name.
    fn given(&self) -> Vec<&'static str> {
        let mut g = Vec::new();
        let s = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
        for (name, given) in [
            ("url", s(&self.url)),
            ("topic", s(&self.topic)),
            ("token", s(&self.token)),
            ("bot_token", s(&self.bot_token)),
            ("chat_id", s(&self.chat_id)),
            ("api_base", s(&self.api_base)),
            ("webhook_url", s(&self.webhook_url)),
            ("smtp_host", s(&self.smtp_host)),
            ("smtp_port", self.smtp_port.is_some()),
            ("tls", s(&self.tls)),
            ("username", s(&self.username)),
            ("password", s(&self.password)),
            ("from", s(&self.from)),
            ("to", s(&self.to)),
            ("secret", s(&self.secret)),
            ("endpoint", s(&self.endpoint)),
            ("p256dh", s(&self.p256dh)),
            ("auth", s(&self.auth)),
        ] {
            if given {
                g.push(name);
            }
        }
        g
    }

    fn secret_for(&self, kind: &str) -> Option<String> {
        let v = match kind {
            "ntfy" => &self.token,
            "telegram" => &self.bot_token,
            "discord" => &self.webhook_url,
            "email" => &self.password,
            "webpush" => &self.auth,
            _ => &self.secret,
        };
        v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
    }
}

fn clean(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

fn check_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "name",
            format!("{name:?} is not a channel name: use 1 to 40 letters, digits, - or _ (like \"phone\")"),
        ))
    }
}

fn check_url(field: &str, url: &str) -> Result<(), AppError> {
    match reqwest::Url::parse(url) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => Ok(()),
        _ => Err(AppError::invalid(field, "needs an http:// or https:// address, like https://ntfy.sh")),
    }
}

fn check_address(field: &str, v: &str) -> Result<(), AppError> {
    v.parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|_| AppError::invalid(field, format!("{v:?} is not an email address")))
}

fn is_loopback_host(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_receives(list: &[String]) -> Result<Vec<String>, AppError> {
    let mut out = Vec::new();
    for t in list {
        let t = t.trim();
        if !TOPICS.contains(&t) {
            return Err(AppError::invalid(
                "receives",
                format!("{t:?} is not something a channel receives; choose from {}", TOPICS.join(", ")),
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// Applies `input` to `ch` (the kind's fields only) and checks the result.
fn apply(ch: &mut Channel, input: &ChannelInput) -> Result<(), AppError> {
    let allowed = fields_of(&ch.kind);
    for f in input.given() {
        if !allowed.contains(&f) {
            return Err(AppError::invalid(
                f,
                format!("{f} is not a setting of a {} channel (it takes {})", ch.kind, allowed.join(", ")),
            ));
        }
    }
    let s = &mut ch.settings;
    let set = |slot: &mut Option<String>, v: &Option<String>| {
        if let Some(v) = v {
            *slot = clean(&Some(v.clone()));
        }
    };
    set(&mut s.url, &input.url);
    set(&mut s.topic, &input.topic);
    set(&mut s.chat_id, &input.chat_id);
    set(&mut s.api_base, &input.api_base);
    set(&mut s.smtp_host, &input.smtp_host);
    set(&mut s.tls, &input.tls);
    set(&mut s.username, &input.username);
    set(&mut s.from, &input.from);
    set(&mut s.to, &input.to);
    set(&mut s.endpoint, &input.endpoint);
    set(&mut s.p256dh, &input.p256dh);
    if input.smtp_port.is_some() {
        s.smtp_port = input.smtp_port;
    }
    if let Some(secret) = input.secret_for(&ch.kind) {
        ch.secret = Some(secret);
    }
    if let Some(r) = &input.receives {
        ch.receives = check_receives(r)?;
    }
    validate(ch)
}

fn need<'a>(field: &str, v: &'a Option<String>, example: &str) -> Result<&'a str, AppError> {
    v.as_deref().ok_or_else(|| AppError::invalid(field, format!("is required, like {example}")))
}

pub(crate) fn validate(ch: &mut Channel) -> Result<(), AppError> {
    check_name(&ch.name)?;
    let s = &mut ch.settings;
    match ch.kind.as_str() {
        "ntfy" => {
            check_url("url", need("url", &s.url, "https://ntfy.sh")?)?;
            let topic = need("topic", &s.topic, "steward-alerts")?;
            if topic.len() > 64 || !topic.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(AppError::invalid(
                    "topic",
                    format!("{topic:?} is not an ntfy topic: use up to 64 letters, digits, - or _"),
                ));
            }
        }
        "telegram" => {
            if ch.secret.is_none() {
                return Err(AppError::invalid("bot_token", "is required: the token @BotFather gave you"));
            }
            let chat = need("chat_id", &s.chat_id, "123456789 or @channelname")?;
            let numeric = chat.strip_prefix('-').unwrap_or(chat);
            let ok = (!numeric.is_empty() && numeric.chars().all(|c| c.is_ascii_digit()))
                || (chat.starts_with('@') && chat.len() > 1);
            if !ok {
                return Err(AppError::invalid(
                    "chat_id",
                    format!("{chat:?} is not a Telegram chat id: a number like 123456789 or @channelname"),
                ));
            }
            let base = s.api_base.get_or_insert_with(|| TELEGRAM_API.to_string());
            check_url("api_base", base)?;
        }
        "discord" => match &ch.secret {
            None => return Err(AppError::invalid("webhook_url", "is required: the channel's webhook URL")),
            Some(u) => check_url("webhook_url", u)?,
        },
        "email" => {
            let host = need("smtp_host", &s.smtp_host, "smtp.example.com")?.to_string();
            let tls = s.tls.get_or_insert_with(|| "starttls".into()).to_ascii_lowercase();
            let default_port = match tls.as_str() {
                "none" => {
                    if !is_loopback_host(&host) {
                        return Err(AppError::invalid(
                            "tls",
                            format!(
                                "none sends mail and password unencrypted, so it is only allowed to localhost, not {host:?}; use starttls or tls"
                            ),
                        ));
                    }
                    25
                }
                "starttls" => 587,
                "tls" => 465,
                other => {
                    return Err(AppError::invalid(
                        "tls",
                        format!(
                            "{other:?} is not a security setting: use none (localhost only), starttls or tls"
                        ),
                    ));
                }
            };
            s.tls = Some(tls);
            if s.smtp_port == Some(0) {
                return Err(AppError::invalid("smtp_port", "0 is not a port: use 1 to 65535, like 587"));
            }
            s.smtp_port.get_or_insert(default_port);
            check_address("from", need("from", &s.from, "steward@example.com")?)?;
            check_address("to", need("to", &s.to, "me@example.com")?)?;
        }
        "webhook" => {
            check_url("url", need("url", &s.url, "https://example.com/hook")?)?;
            if ch.secret.is_none() {
                return Err(AppError::invalid(
                    "secret",
                    "is required: the receiver checks each body's X-Steward-Signature with it",
                ));
            }
        }
        "webpush" => {
            let endpoint =
                need("endpoint", &s.endpoint, "https://updates.push.services.mozilla.com/wpush/v2/…")?;
            check_url("endpoint", endpoint)?;
            let host = reqwest::Url::parse(endpoint).ok().and_then(|u| u.host_str().map(str::to_string));
            if endpoint.starts_with("http://") && !host.as_deref().is_some_and(is_loopback_host) {
                return Err(AppError::invalid(
                    "endpoint",
                    "push services are reached over https://; http:// is allowed to localhost only",
                ));
            }
            webpush::browser_key(need("p256dh", &s.p256dh, "the subscription's keys.p256dh")?)
                .map_err(|e| AppError::invalid("p256dh", e))?;
            match &ch.secret {
                None => return Err(AppError::invalid("auth", "is required: the subscription's keys.auth")),
                Some(a) => webpush::auth_secret(a).map(|_| ()).map_err(|e| AppError::invalid("auth", e))?,
            }
        }
        other => {
            return Err(AppError::invalid(
                "kind",
                format!("{other:?} is not a channel kind: use {}", KINDS.join(", ")),
            ));
        }
    }
    Ok(())
}

type Row = (i32, String, String, String, Option<String>, String, i64, i64);

fn from_row(r: Row) -> Channel {
    let (id, name, kind, config, secret, receives, created_at, updated_at) = r;
    Channel {
        id,
        name,
        kind,
        settings: serde_json::from_str(&config).unwrap_or_default(),
        secret,
        receives: serde_json::from_str(&receives).unwrap_or_default(),
        created_at,
        updated_at,
        signer: None,
    }
}

const COLUMNS: (
    channels::id,
    channels::name,
    channels::kind,
    channels::config,
    channels::secret,
    channels::receives,
    channels::created_at,
    channels::updated_at,
) = (
    channels::id,
    channels::name,
    channels::kind,
    channels::config,
    channels::secret,
    channels::receives,
    channels::created_at,
    channels::updated_at,
);

fn json<T: Serialize>(v: &T) -> Result<String, AppError> {
    serde_json::to_string(v).map_err(|e| AppError::Internal(e.into()))
}

pub fn list(conn: &mut Conn) -> Result<Vec<Channel>, AppError> {
    let rows: Vec<Row> = channels::table.order(channels::name.asc()).select(COLUMNS).load(conn)?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub fn get(conn: &mut Conn, name: &str) -> Result<Channel, AppError> {
    let row: Option<Row> =
        channels::table.filter(channels::name.eq(name)).select(COLUMNS).first(conn).optional()?;
    row.map(from_row).ok_or_else(|| AppError::NotFound(format!("no channel named {name:?}")))
}

/// Gives a channel what sending needs beyond its row: a Web Push channel the VAPID key, the
/// contact (`sub`) and the time its token is signed at.
pub fn prepare(
    conn: &mut Conn,
    ch: &mut Channel,
    public_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if ch.kind == "webpush" {
        ch.signer = webpush::keys(conn)?.map(|v| webpush::Signer {
            vapid: std::sync::Arc::new(v),
            subject: webpush::subject(public_url),
            now,
        });
    }
    Ok(())
}

/// A channel ready for a send now (the Test button): [`get`] and [`prepare`].
pub fn get_to_send(
    conn: &mut Conn,
    name: &str,
    public_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Channel, AppError> {
    let mut ch = get(conn, name)?;
    prepare(conn, &mut ch, public_url, now)?;
    Ok(ch)
}

pub fn add(conn: &mut Conn, now: DateTime<Utc>, input: ChannelInput) -> Result<Channel, AppError> {
    let name = clean(&input.name).unwrap_or_default();
    check_name(&name)?;
    let kind = clean(&input.kind).unwrap_or_default().to_ascii_lowercase();
    if !KINDS.contains(&kind.as_str()) {
        return Err(AppError::invalid(
            "kind",
            format!("{kind:?} is not a channel kind: use {}", KINDS.join(", ")),
        ));
    }
    let mut ch = Channel {
        id: 0,
        name,
        kind,
        settings: Settings::default(),
        secret: None,
        receives: TOPICS.iter().map(|t| t.to_string()).collect(),
        created_at: to_ms(now),
        updated_at: to_ms(now),
        signer: None,
    };
    apply(&mut ch, &input)?;
    if ch.kind == "webpush" {
        // First use: the key the browser subscribed with must stay the one that signs.
        webpush::ensure_keys(conn)?;
    }
    crate::db::write(conn, |conn| {
        let exists: i64 = channels::table.filter(channels::name.eq(&ch.name)).count().get_result(conn)?;
        if exists > 0 {
            return Err(AppError::invalid("name", format!("a channel named {:?} already exists", ch.name)));
        }
        ch.id = diesel::insert_into(channels::table)
            .values((
                channels::name.eq(&ch.name),
                channels::kind.eq(&ch.kind),
                channels::config.eq(json(&ch.settings)?),
                channels::secret.eq(&ch.secret),
                channels::receives.eq(json(&ch.receives)?),
                channels::created_at.eq(ch.created_at),
                channels::updated_at.eq(ch.updated_at),
            ))
            .returning(channels::id)
            .get_result(conn)?;
        Ok(())
    })?;
    Ok(ch)
}

/// Changes a channel; says which stored secret a changed address dropped (see
/// [`crate::agents::update_noting`]: a secret belongs to the address it was given for).
pub fn update_noting(
    conn: &mut Conn,
    now: DateTime<Utc>,
    name: &str,
    input: ChannelInput,
) -> Result<(Channel, Vec<&'static str>), AppError> {
    crate::db::write(conn, |conn| {
        let mut ch = get(conn, name)?;
        if let Some(kind) = clean(&input.kind)
            && !kind.eq_ignore_ascii_case(&ch.kind)
        {
            return Err(AppError::invalid("kind", "a channel's kind cannot change; add a new channel"));
        }
        if let Some(new) = clean(&input.name)
            && new != ch.name
        {
            return Err(AppError::invalid("name", "a channel's name cannot change; add a new channel"));
        }
        let old = ch.address();
        let gave_secret = input.secret_for(&ch.kind).is_some();
        let mut dropped = Vec::new();
        let mut trial = ch.clone();
        apply(&mut trial, &input)?;
        if trial.address() != old && !gave_secret && trial.secret.is_some() && ch.kind != "discord" {
            trial.secret = None;
            let field = secret_field(&ch.kind);
            if matches!(ch.kind.as_str(), "telegram" | "webhook" | "webpush") {
                return Err(AppError::invalid(
                    field,
                    format!(
                        "the address changed, so the stored {field} is not kept (it is never sent to a new \
                         address); give it again with the new address"
                    ),
                ));
            }
            dropped.push(field);
        }
        ch = trial;
        ch.updated_at = to_ms(now);
        diesel::update(channels::table.filter(channels::id.eq(ch.id)))
            .set((
                channels::config.eq(json(&ch.settings)?),
                channels::secret.eq(&ch.secret),
                channels::receives.eq(json(&ch.receives)?),
                channels::updated_at.eq(ch.updated_at),
            ))
            .execute(conn)?;
        Ok((ch, dropped))
    })
}

/// What a door tells the person after [`update_noting`] dropped a stored secret.
pub fn dropped_note(dropped: &[&str]) -> Option<String> {
    let field = dropped.first()?;
    Some(format!(
        "The address changed, so the stored {field} was removed (it is never sent to a new address); \
         give it again if the new address needs it."
    ))
}

pub fn remove(conn: &mut Conn, name: &str) -> Result<(), AppError> {
    let n = diesel::delete(channels::table.filter(channels::name.eq(name))).execute(conn)?;
    if n == 0 {
        return Err(AppError::NotFound(format!("no channel named {name:?}")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Deliveries.

/// Stores the notification in-app and queues it for every channel that receives `topic` (from
/// `hold_until`, when quiet hours hold it). The
/// one way notifications leave Steward; the caller wakes the scheduler (or is the scheduler).
pub fn send(
    conn: &mut Conn,
    n: &NewNotification,
    topic: Topic,
    now: DateTime<Utc>,
) -> Result<Notification, AppError> {
    let note = notifications::add(conn, n, now)?;
    queue(conn, note.id, topic, n.hold_until.map_or(now, |h| h.max(now)))?;
    Ok(note)
}

/// Stores the notification in-app and queues it for exactly these channels (by name), whatever
/// they receive: for a person's explicit choice, like the channels a schedule's answers go to.
/// A name that is no channel (any more) gets a delivery that fails, saying so, when due.
pub fn send_to(
    conn: &mut Conn,
    n: &NewNotification,
    channels: &[String],
    now: DateTime<Utc>,
) -> Result<Notification, AppError> {
    let note = notifications::add(conn, n, now)?;
    queue_to(conn, note.id, channels, n.hold_until.map_or(now, |h| h.max(now)))?;
    Ok(note)
}

/// The longest answer a channel is sent, in characters (phones show little more; ntfy and
/// Telegram stop near 4,096): the rest is on the run's page, where the message links.
pub const ANSWER_MAX_CHARS: usize = 3_000;

/// A scheduled run's answer as a message body: trimmed, and cut at [`ANSWER_MAX_CHARS`] (at a
/// paragraph, line or word end when one is near) with a line saying so.
pub fn answer_body(answer: &str) -> String {
    let text = answer.trim();
    if text.is_empty() {
        return "(The answer was empty.)".into();
    }
    if text.chars().count() <= ANSWER_MAX_CHARS {
        return text.to_string();
    }
    let end = text.char_indices().nth(ANSWER_MAX_CHARS).map(|(i, _)| i).unwrap_or(text.len());
    let head = &text[..end];
    // A break in the last fifth, if there is one, rather than mid-word.
    let floor = head.len() * 4 / 5;
    let cut = ["\n\n", "\n", ". ", " "]
        .iter()
        .find_map(|b| head.rfind(b).filter(|i| *i >= floor).map(|i| i + b.len()))
        .unwrap_or(head.len());
    format!("{}…\n\n(Cut: the whole answer is on the run's page.)", head[..cut].trim_end())
}

/// Queues a stored notification for the channels that receive `topic`; how many.
pub fn queue(
    conn: &mut Conn,
    notification: i32,
    topic: Topic,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let names: Vec<String> = list(conn)?
        .into_iter()
        .filter(|c| c.receives.iter().any(|r| r == topic.as_str()))
        .map(|c| c.name)
        .collect();
    queue_to(conn, notification, &names, now)
}

/// Queues a stored notification for these channels, each at most once (a channel it is
/// already queued for is passed over), due at `now` (a later instant holds it till then, never
/// less: see [`crate::clock::due_ms`]); how many were queued.
pub fn queue_to(
    conn: &mut Conn,
    notification: i32,
    channels: &[String],
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    if channels.is_empty() {
        return Ok(0);
    }
    let already: Vec<String> = deliveries::table
        .filter(deliveries::notification_id.eq(notification))
        .select(deliveries::channel)
        .load(conn)?;
    let mut names: Vec<&String> = Vec::new();
    for c in channels {
        if !already.contains(c) && !names.contains(&c) {
            names.push(c);
        }
    }
    if names.is_empty() {
        return Ok(0);
    }
    let due = crate::clock::due_ms(now);
    let now = to_ms(now);
    let rows: Vec<_> = names
        .iter()
        .map(|c| {
            (
                deliveries::notification_id.eq(notification),
                deliveries::channel.eq(c),
                deliveries::state.eq("queued"),
                deliveries::max_attempts.eq(MAX_ATTEMPTS),
                deliveries::not_before.eq(due),
                deliveries::created_at.eq(now),
                deliveries::updated_at.eq(now),
            )
        })
        .collect();
    Ok(diesel::insert_into(deliveries::table).values(rows).execute(conn)?)
}

/// One notification's trip to one channel.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = deliveries)]
pub struct DeliveryRow {
    pub id: i32,
    pub notification_id: i32,
    pub channel: String,
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub not_before: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The deliveries of these notifications, by notification.
pub fn of_notifications(conn: &mut Conn, ids: &[i32]) -> Result<BTreeMap<i32, Vec<DeliveryRow>>, AppError> {
    let rows: Vec<DeliveryRow> = deliveries::table
        .filter(deliveries::notification_id.eq_any(ids))
        .order(deliveries::id.asc())
        .select(DeliveryRow::as_select())
        .load(conn)?;
    let mut map: BTreeMap<i32, Vec<DeliveryRow>> = BTreeMap::new();
    for r in rows {
        map.entry(r.notification_id).or_default().push(r);
    }
    Ok(map)
}

/// Sends a delivery again from its first attempt (the Resend button).
pub fn resend(conn: &mut Conn, id: i32, now: DateTime<Utc>) -> Result<DeliveryRow, AppError> {
    let now = to_ms(now);
    diesel::update(deliveries::table.find(id).filter(deliveries::state.ne("sending")))
        .set((
            deliveries::state.eq("queued"),
            deliveries::attempts.eq(0),
            deliveries::not_before.eq(now),
            deliveries::error.eq(None::<String>),
            deliveries::updated_at.eq(now),
        ))
        .returning(DeliveryRow::as_returning())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no delivery {id} waiting to be sent again")))
}

/// A delivery the scheduler claimed, with what to send where.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i32,
    pub attempt: i32,
    pub max_attempts: i32,
    pub channel: Channel,
    pub message: send::Message,
}

/// The earliest instant a queued delivery becomes due (for the scheduler's sleep).
pub fn next_due(conn: &mut Conn) -> Result<Option<i64>, AppError> {
    Ok(deliveries::table
        .filter(deliveries::state.eq("queued"))
        .select(diesel::dsl::min(deliveries::not_before))
        .get_result(conn)?)
}

/// Claims due deliveries, in the scheduler's turn: marks them `sending`, one more attempt.
pub fn claim_due(
    conn: &mut Conn,
    now: DateTime<Utc>,
    public_url: Option<&str>,
) -> Result<Vec<Claimed>, AppError> {
    if next_due(conn)?.is_none_or(|t| t > to_ms(now)) {
        return Ok(Vec::new());
    }
    let due: Vec<(DeliveryRow, Notification)> = deliveries::table
        .inner_join(notifications_table::table)
        .filter(deliveries::state.eq("queued"))
        .filter(deliveries::not_before.le(to_ms(now)))
        .order(deliveries::not_before.asc())
        .limit(CLAIM_BATCH)
        .select((DeliveryRow::as_select(), Notification::as_select()))
        .load(conn)?;
    let mut channels: BTreeMap<String, Channel> =
        list(conn)?.into_iter().map(|c| (c.name.clone(), c)).collect();
    for ch in channels.values_mut() {
        prepare(conn, ch, public_url, now)?;
    }
    let mut claimed = Vec::new();
    for (d, n) in due {
        let Some(channel) = channels.get(&d.channel) else {
            diesel::update(deliveries::table.find(d.id))
                .set((
                    deliveries::state.eq("failed"),
                    deliveries::error.eq("the channel was removed before this could be sent"),
                    deliveries::updated_at.eq(to_ms(now)),
                ))
                .execute(conn)?;
            continue;
        };
        diesel::update(deliveries::table.find(d.id))
            .set((
                deliveries::state.eq("sending"),
                deliveries::attempts.eq(d.attempts + 1),
                deliveries::updated_at.eq(to_ms(now)),
            ))
            .execute(conn)?;
        claimed.push(Claimed {
            id: d.id,
            attempt: d.attempts + 1,
            max_attempts: d.max_attempts,
            channel: channel.clone(),
            message: send::Message::build(conn, &n, public_url).unwrap_or_else(|e| {
                tracing::warn!(notification = n.id, error = %e, "no action links for this message");
                send::Message::of(&n, public_url)
            }),
        });
    }
    Ok(claimed)
}

/// At start-up and shutdown: deliveries left `sending` go back to the queue, due now.
pub fn release(conn: &mut Conn, now: DateTime<Utc>) -> Result<usize, AppError> {
    Ok(diesel::update(deliveries::table.filter(deliveries::state.eq("sending")))
        .set((deliveries::state.eq("queued"), deliveries::not_before.eq(to_ms(now))))
        .execute(conn)?)
}

/// The wait before attempt `attempt + 1`: base × 4^(attempt-1), ±20 % jitter.
pub fn backoff(base_ms: u64, attempt: i32) -> Duration {
    let exp = (2 * (attempt - 1)).clamp(0, 20) as u32;
    let ms = (base_ms as i64).saturating_mul(1i64 << exp);
    let mut byte = [0u8; 2];
    let _ = getrandom::fill(&mut byte);
    let jitter = (i64::from(u16::from_le_bytes(byte)) % 401) - 200;
    Duration::milliseconds(ms + ms * jitter / 1000)
}

/// Records one send's result: sent, queued again after a backoff, or failed (then the person
/// is told in-app which channel could not be reached and why). Returns which of the three:
/// `sent`, `retrying` or `failed`.
pub fn record(
    conn: &mut Conn,
    c: &Claimed,
    result: Result<(), crate::agents::deliver::Failure>,
    now: DateTime<Utc>,
    retry_base_ms: u64,
    events: &Events,
) -> Result<&'static str, AppError> {
    let now_ms = to_ms(now);
    let (outcome, note) = crate::db::write(conn, |conn| match &result {
        Ok(()) => {
            diesel::update(deliveries::table.find(c.id))
                .set((
                    deliveries::state.eq("sent"),
                    deliveries::error.eq(None::<String>),
                    deliveries::updated_at.eq(now_ms),
                ))
                .execute(conn)?;
            Ok(("sent", None))
        }
        Err(f) if f.retryable && c.attempt < c.max_attempts => {
            let at = now + backoff(retry_base_ms, c.attempt);
            diesel::update(deliveries::table.find(c.id))
                .set((
                    deliveries::state.eq("queued"),
                    deliveries::not_before.eq(crate::clock::due_ms(at)),
                    deliveries::error.eq(&f.message),
                    deliveries::updated_at.eq(now_ms),
                ))
                .execute(conn)?;
            tracing::warn!(delivery = c.id, channel = %c.channel.name, attempt = c.attempt, of = c.max_attempts,
                error = %f.message, "notification not sent; will retry");
            Ok(("retrying", None))
        }
        Err(f) => {
            diesel::update(deliveries::table.find(c.id))
                .set((
                    deliveries::state.eq("failed"),
                    deliveries::error.eq(&f.message),
                    deliveries::updated_at.eq(now_ms),
                ))
                .execute(conn)?;
            tracing::error!(delivery = c.id, channel = %c.channel.name, attempts = c.attempt,
                error = %f.message, "notification not sent");
            let tries =
                if c.attempt == 1 { "1 attempt".to_string() } else { format!("{} attempts", c.attempt) };
            // In-app only: telling the channels that a channel failed could loop.
            let told = notifications::add(
                conn,
                &NewNotification {
                    title: format!("Channel “{}” could not be reached", c.channel.name),
                    body: format!(
                        "After {tries}, “{}” was not sent to {}: {}",
                        c.message.title, c.channel.name, f.message
                    ),
                    level: "error",
                    run_id: None,
                    schedule_id: None,
                    ..Default::default()
                },
                now,
            )?;
            Ok(("failed", Some(told)))
        }
    })?;
    if let Some(n) = note {
        events.send(Event::notification(&n));
    }
    Ok(outcome)
}

/// Sends one claimed delivery and records the outcome (a task the scheduler spawned).
/// A push subscription the push service says has ended (404/410) is removed with it.
pub async fn deliver(services: &crate::services::Services, c: Claimed) {
    let outcome = send::send_noting(&services.http, &c.channel, &c.message).await;
    let gone = outcome.as_ref().is_err_and(|r| r.gone);
    let result = outcome.map_err(|r| {
        let mut f = r.failure;
        if r.gone {
            f.message.push_str(", so the channel was removed");
        }
        f
    });
    let (events, clock, base) =
        (services.events.clone(), services.clock.clone(), services.config.channel_retry_ms);
    let (id, channel, kind) = (c.id, c.channel.name.clone(), c.channel.kind.clone());
    let recorded = services
        .db
        .run(move |conn| {
            let outcome = record(conn, &c, result, clock.now(), base, &events)?;
            if gone {
                remove_ended(conn, &c.channel.name)?;
            }
            Ok(outcome)
        })
        .await;
    match recorded {
        Ok(outcome) => services.metrics.delivery(&channel, &kind, outcome),
        // It stays `sending` until the next start-up queues it again, as after a crash.
        Err(e) => tracing::error!(delivery = id, error = format!("{e:#}"), "recording a channel delivery"),
    }
    services.wake.poke();
}

/// Removes a push subscription that has ended (its push service answered 404 or 410).
pub fn remove_ended(conn: &mut Conn, name: &str) -> Result<(), AppError> {
    let n =
        diesel::delete(channels::table.filter(channels::name.eq(name)).filter(channels::kind.eq("webpush")))
            .execute(conn)?;
    if n > 0 {
        tracing::warn!(channel = %name, "the browser's push subscription has ended; channel removed");
    }
    Ok(())
}

/// Sends a test message now (the Test button): `Ok` with what happened, or why it failed.
pub async fn test(http: &reqwest::Client, ch: &Channel, public_url: Option<&str>) -> Result<String, String> {
    let m = send::Message {
        id: 0,
        title: "Test from Steward".into(),
        body: format!("This is a test of the channel “{}”. If you can read it, it works.", ch.name),
        level: "info".into(),
        link: public_url.map(|u| format!("{}/notifications", u.trim_end_matches('/'))),
        created_at: 0,
        subject: None,
        actions: Vec::new(),
        priority: 3,
    };
    match send::send_noting(http, ch, &m).await {
        Ok(()) => Ok(format!("Sent a test message to {}.", ch.name)),
        Err(r) if r.gone => {
            Err(format!("{}; remove this channel, or enable push on that browser again", r.failure.message))
        }
        Err(r) => Err(r.failure.message),
    }
}

/// A removed notification's deliveries go with it; this helper reads one notification's.
pub fn of_notification(conn: &mut Conn, id: i32) -> Result<Vec<DeliveryRow>, AppError> {
    Ok(of_notifications(conn, &[id])?.remove(&id).unwrap_or_default())
}

/// The secret field named `name`, as a `'static` name (for notes carried in a query string).
pub fn fields_of_secret(name: &str) -> Option<&'static str> {
    ["token", "bot_token", "webhook_url", "password", "secret", "auth"].into_iter().find(|f| *f == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::deliver::Failure;
    use crate::db::Db;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn channel(conn: &mut Conn, name: &str, receives: &[&str]) {
        let input = ChannelInput {
            name: Some(name.into()),
            kind: Some("webhook".into()),
            url: Some("http://127.0.0.1:9/hook".into()),
            secret: Some("s".into()),
            receives: Some(receives.iter().map(|r| r.to_string()).collect()),
            ..ChannelInput::default()
        };
        add(conn, at("2026-12-02T08:00:00Z"), input).unwrap();
    }

    fn note(title: &str) -> NewNotification {
        NewNotification {
            title: title.into(),
            body: "b".into(),
            level: "error",
            run_id: None,
            schedule_id: None,
            ..Default::default()
        }
    }

    #[test]
    fn deliveries_queue_by_topic_survive_a_crash_retry_with_backoff_then_fail_in_app() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let mut conn = db.conn().unwrap();
        channel(&mut conn, "all", &TOPICS);
        channel(&mut conn, "failures", &["run_failures"]);
        let t0 = at("2026-12-02T09:00:00Z");
        let n = send(&mut conn, &note("Stretch"), Topic::Notify, t0).unwrap();
        let rows = of_notification(&mut conn, n.id).unwrap();
        assert_eq!(rows.iter().map(|d| d.channel.as_str()).collect::<Vec<_>>(), ["all"]);
        assert_eq!(next_due(&mut conn).unwrap(), Some(to_ms(t0)));

        // Nothing is due a millisecond early.
        assert!(claim_due(&mut conn, t0 - Duration::milliseconds(1), None).unwrap().is_empty());
        let claimed = claim_due(&mut conn, t0, Some("https://steward.example/")).unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].message.link.as_deref(), Some("https://steward.example/notifications"));
        assert_eq!(of_notification(&mut conn, n.id).unwrap()[0].state, "sending");
        // A crash while sending: the next start queues it again, due at once.
        assert_eq!(release(&mut conn, t0 + Duration::seconds(5)).unwrap(), 1);
        let events = Events::default();
        let mut now = t0 + Duration::seconds(5);
        for attempt in 2..=MAX_ATTEMPTS {
            let c = claim_due(&mut conn, now, None).unwrap().remove(0);
            assert_eq!(c.attempt, attempt);
            let outcome =
                record(&mut conn, &c, Err(Failure::retry("could not connect")), now, 30_000, &events)
                    .unwrap();
            let d = of_notification(&mut conn, n.id).unwrap().remove(0);
            assert_eq!(outcome, if attempt < MAX_ATTEMPTS { "retrying" } else { "failed" });
            if attempt < MAX_ATTEMPTS {
                assert_eq!(d.state, "queued");
                // 30 s × 4^(attempt-1), ±20 %.
                let wait = d.not_before - to_ms(now);
                let base = 30_000i64 << (2 * (attempt - 1));
                assert!(wait >= base * 8 / 10 && wait <= base * 12 / 10, "attempt {attempt}: {wait}");
                assert!(claim_due(&mut conn, now, None).unwrap().is_empty(), "not before its time");
                now = from_ms(d.not_before);
            } else {
                assert_eq!((d.state.as_str(), d.attempts), ("failed", MAX_ATTEMPTS));
            }
        }
        let told = notifications::list(&mut conn, 10).unwrap();
        assert_eq!(told[0].title, "Channel “all” could not be reached");
        assert!(
            told[0].body.starts_with("After 4 attempts, “Stretch” was not sent to all: could not connect")
        );
        // The failure notice goes to no channel.
        assert!(of_notification(&mut conn, told[0].id).unwrap().is_empty());

        // A permanent failure does not retry; a resent one starts over.
        let first = of_notification(&mut conn, n.id).unwrap()[0].id;
        let d = resend(&mut conn, first, now).unwrap();
        assert_eq!((d.state.as_str(), d.attempts), ("queued", 0));
        let c = claim_due(&mut conn, now, None).unwrap().remove(0);
        assert_eq!(
            record(&mut conn, &c, Err(Failure::permanent("401")), now, 30_000, &events).unwrap(),
            "failed"
        );
        assert_eq!(of_notification(&mut conn, n.id).unwrap()[0].state, "failed");

        // A removed channel's queued delivery fails with that reason.
        let n2 = send(&mut conn, &note("Backup failed"), Topic::RunFailures, now).unwrap();
        remove(&mut conn, "failures").unwrap();
        let claimed = claim_due(&mut conn, now, None).unwrap();
        assert_eq!(claimed.len(), 1);
        let gone = of_notification(&mut conn, n2.id).unwrap();
        let gone = gone.iter().find(|d| d.channel == "failures").unwrap();
        assert_eq!(gone.state, "failed");
        assert!(gone.error.as_deref().unwrap().contains("removed"));
    }

    #[test]
    fn chosen_channels_get_a_notification_once_each_whatever_they_receive() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let mut conn = db.conn().unwrap();
        channel(&mut conn, "phone", &["reminders"]);
        channel(&mut conn, "desk", &TOPICS);
        let t0 = at("2026-12-02T08:00:00Z");
        let names = |conn: &mut Conn, id| {
            of_notification(conn, id).unwrap().into_iter().map(|d| d.channel).collect::<Vec<_>>()
        };
        let chosen = ["phone".to_string(), "phone".to_string()];
        let n = send_to(&mut conn, &note("Weather"), &chosen, t0).unwrap();
        assert_eq!(names(&mut conn, n.id), ["phone"]);
        // By topic and then by choice: "desk" is queued once.
        let n = send(&mut conn, &note("Stretch"), Topic::Notify, t0).unwrap();
        assert_eq!(queue_to(&mut conn, n.id, &["desk".into(), "phone".into()], t0).unwrap(), 1);
        assert_eq!(names(&mut conn, n.id), ["desk", "phone"]);
        assert!(send_to(&mut conn, &note("Nowhere"), &[], t0).is_ok());
    }

    #[test]
    fn answers_are_trimmed_and_cut_at_a_break_with_a_note() {
        assert_eq!(answer_body("\n  Rain at 8.  \n"), "Rain at 8.");
        assert_eq!(answer_body(" \n "), "(The answer was empty.)");
        let short = "é".repeat(ANSWER_MAX_CHARS);
        assert_eq!(answer_body(&short), short, "exactly at the limit: kept whole");
        let para = format!("{}\n\n{}", "a".repeat(2_800), "b ".repeat(500));
        // A paragraph's end near the limit is preferred to a word's.
        let note = "…\n\n(Cut: the whole answer is on the run's page.)";
        assert_eq!(answer_body(&para), format!("{}{note}", "a".repeat(2_800)));
        let words = "word ".repeat(1_000);
        let cut = answer_body(&words);
        assert_eq!(cut, format!("{}word{note}", "word ".repeat(ANSWER_MAX_CHARS / 5 - 1)));
        // No break near the end: cut at the limit, on a character boundary.
        let solid = "ß".repeat(5_000);
        let cut = answer_body(&solid);
        assert!(
            cut.starts_with(&"ß".repeat(ANSWER_MAX_CHARS))
                && !cut.starts_with(&"ß".repeat(ANSWER_MAX_CHARS + 1))
        );
    }

    #[test]
    fn only_localhost_may_go_without_tls() {
        for (host, ok) in [
            ("localhost", true),
            ("127.0.0.1", true),
            ("::1", true),
            ("[::1]", true),
            ("mail.example", false),
            ("10.0.0.1", false),
        ] {
            assert_eq!(is_loopback_host(host), ok, "{host}");
        }
    }
}
