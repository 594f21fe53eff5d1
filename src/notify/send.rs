//! Sending one message to one channel, by kind. Failures say why in words and whether a retry
//! could help; they never quote a secret (Telegram's URL holds the bot token, Discord's webhook
//! URL is itself the secret), so HTTP errors name the host only.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::json;

use diesel::prelude::*;

pub use super::actions::Action;
use super::{Channel, TELEGRAM_API, webpush};
use crate::agents::deliver::{Failure, signature};
use crate::db::Conn;
use crate::db::schema::tasks;
use crate::error::AppError;
use crate::notifications::Notification;
use crate::reminders::Subject;

/// How long one send may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// How much of an error body is quoted.
const QUOTE: usize = 300;

/// What goes out.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: i32,
    pub title: String,
    pub body: String,
    pub level: String,
    /// Where the message leads in Steward (needs `STEWARD_PUBLIC_URL`).
    pub link: Option<String>,
    pub created_at: i64,
    /// What it is about (`task:12`; see `crate::reminders::Subject`).
    pub subject: Option<String>,
    /// Its buttons: signed one-click links for Done and Snooze, the page for Open.
    pub actions: Vec<Action>,
    /// ntfy's priority, 1 to 5: a priority A task's reminder 5, B 4, an error 4, else 3.
    pub priority: u8,
}

impl Message {
    /// Without actions (a test message, or when links cannot be made).
    pub fn of(n: &Notification, public_url: Option<&str>) -> Message {
        Message {
            id: n.id,
            title: n.title.clone(),
            body: n.body.clone(),
            level: n.level.clone(),
            link: public_url.map(|u| format!("{}{}", u.trim_end_matches('/'), path_of(n))),
            created_at: n.created_at,
            subject: n.subject.clone(),
            actions: Vec::new(),
            priority: ntfy_priority(&n.level),
        }
    }

    /// With its actions as links under the public URL (else the address Steward listens on),
    /// its click link leading to what it is about, and its task's priority.
    pub fn build(conn: &mut Conn, n: &Notification, public_url: Option<&str>) -> Result<Message, AppError> {
        let base = super::actions::base_url(conn, public_url)?;
        let actions = super::actions::links(conn, n.id, n.subject.as_deref(), n.created_at, &base)?;
        let open = actions.iter().find(|a| a.action == "open").map(|a| a.url.clone());
        let priority = match n.subject.as_deref().and_then(Subject::parse) {
            Some(Subject::Task(id)) => {
                let p: Option<Option<String>> =
                    tasks::table.find(id).select(tasks::priority).first(conn).optional()?;
                match p.flatten().as_deref() {
                    Some("A") => 5,
                    Some("B") => 4,
                    _ if n.urgent => 5,
                    _ => 3,
                }
            }
            _ if n.urgent => 5,
            _ => ntfy_priority(&n.level),
        };
        let plain = Message::of(n, public_url);
        Ok(Message { link: open.or(plain.link.clone()), actions, priority, ..plain })
    }

    /// The actions that change something (signed links), for channels that list them.
    fn one_click(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(|a| a.method == "POST")
    }

    /// ntfy tags (shown as emoji): what the message is about.
    fn tags(&self) -> Vec<&'static str> {
        if self.level == "error" {
            return vec!["warning"];
        }
        match self.subject.as_deref().and_then(Subject::parse) {
            Some(Subject::Task(_)) => vec!["alarm_clock"],
            Some(Subject::Event { .. }) => vec!["calendar"],
            Some(Subject::Waiting) => vec!["hourglass"],
            Some(Subject::Briefing(_)) => vec!["newspaper"],
            None => vec!["bell"],
        }
    }
}

/// Where a notification leads in Steward: its run, when it is about one, else the list.
fn path_of(n: &Notification) -> String {
    match (n.run_id, n.schedule_id) {
        (Some(run), Some(schedule)) => format!("/schedules/{schedule}/runs#run-{run}"),
        (Some(run), None) => format!("/runs#run-{run}"),
        _ => "/notifications".into(),
    }
}

pub async fn send(http: &reqwest::Client, ch: &Channel, m: &Message) -> Result<(), Failure> {
    send_noting(http, ch, m).await.map_err(|r| r.failure)
}

/// [`send`], telling also whether a push subscription has ended (see [`webpush::Refused`]).
pub async fn send_noting(http: &reqwest::Client, ch: &Channel, m: &Message) -> Result<(), webpush::Refused> {
    let work = async {
        match ch.kind.as_str() {
            "ntfy" => ntfy(http, ch, m).await.map_err(Into::into),
            "telegram" => telegram(http, ch, m).await.map_err(Into::into),
            "discord" => discord(http, ch, m).await.map_err(Into::into),
            "email" => email(ch, m).await.map_err(Into::into),
            "webhook" => webhook(http, ch, m).await.map_err(Into::into),
            "webpush" => {
                // The browser shows as many as it can (Chrome 2: Done and Snooze 10 min); the
                // service worker POSTs the signed links and opens Open.
                let actions: Vec<webpush::Action> = m
                    .actions
                    .iter()
                    .map(|a| webpush::Action {
                        action: a.action.clone(),
                        title: a.label.clone(),
                        url: a.url.clone(),
                        method: (a.method == "POST").then(|| "POST".to_string()),
                    })
                    .collect();
                webpush::push(http, ch, m, m.link.as_deref(), &actions).await
            }
            other => Err(Failure::permanent(format!("{other:?} is not a channel kind")).into()),
        }
    };
    match tokio::time::timeout(TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(Failure::retry(format!("no answer within {} s", TIMEOUT.as_secs())).into()),
    }
}

pub(super) fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_else(|| "the server".into())
}

/// A transport error in words, naming the host only.
pub(super) fn transport(host: &str, e: &reqwest::Error) -> Failure {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let why = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::TimedOut => "timed out".to_string(),
                _ => io.to_string(),
            };
            return Failure::retry(format!("could not connect to {host}: {why}"));
        }
        source = s.source();
    }
    if e.is_timeout() {
        return Failure::retry(format!("{host} did not answer in time"));
    }
    if e.is_connect() {
        return Failure::retry(format!("could not connect to {host}"));
    }
    // Without the URL: it may hold a secret.
    let e = e.to_string();
    let e = e.split(" for url (").next().unwrap_or_default();
    Failure::retry(format!("sending to {host} failed: {e}"))
}

fn quote(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() <= QUOTE {
        return t.to_string();
    }
    let cut: String = t.chars().take(QUOTE).collect();
    format!("{cut}…")
}

/// A status that is not success: 429 and 5xx may pass, other 4xx will not.
pub(super) fn status_failure(host: &str, status: reqwest::StatusCode, body: &str) -> Failure {
    let msg = if body.trim().is_empty() {
        format!("{host} answered {status}")
    } else {
        format!("{host} answered {status}: {}", quote(body))
    };
    if status.as_u16() == 429 || status.is_server_error() {
        Failure::retry(msg)
    } else {
        Failure::permanent(msg)
    }
}

async fn post_json(
    req: reqwest::RequestBuilder,
    host: &str,
    body: &serde_json::Value,
) -> Result<(reqwest::StatusCode, String), Failure> {
    let resp = req.json(body).send().await.map_err(|e| transport(host, &e))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    Ok((status, text))
}

fn ntfy_priority(level: &str) -> u8 {
    match level {
        "error" => 4,
        _ => 3,
    }
}

/// ntfy's JSON publishing: POST the server's root with the topic in the body.
async fn ntfy(http: &reqwest::Client, ch: &Channel, m: &Message) -> Result<(), Failure> {
    let base = ch.settings.url.clone().unwrap_or_default();
    let host = host_of(&base);
    let mut body = json!({
        "topic": ch.settings.topic,
        "title": m.title,
        "message": m.body,
        "priority": m.priority,
        "tags": m.tags(),
    });
    if let (Some(link), Some(obj)) = (&m.link, body.as_object_mut()) {
        obj.insert("click".into(), link.clone().into());
    }
    // ntfy shows at most 3 buttons: Done, one snooze and Open for a task; two snoozes and
    // Open for an event. `http` actions POST the signed link straight from the phone.
    let buttons = ntfy_buttons(&m.actions);
    if let (false, Some(obj)) = (buttons.is_empty(), body.as_object_mut()) {
        obj.insert("actions".into(), buttons.into());
    }
    let mut req = http.post(base.trim_end_matches('/').to_string() + "/");
    if let Some(token) = &ch.secret {
        req = req.bearer_auth(token);
    }
    let (status, text) = post_json(req, &host, &body).await?;
    if status.is_success() { Ok(()) } else { Err(status_failure(&host, status, &text)) }
}

/// At most 3 (ntfy's limit): what changes something as `http` POSTs (Done first, then the
/// shorter snoozes), Open as `view`.
fn ntfy_buttons(actions: &[Action]) -> Vec<serde_json::Value> {
    let open = actions.iter().find(|a| a.method == "GET");
    let room = 3 - usize::from(open.is_some());
    let mut out: Vec<serde_json::Value> = actions
        .iter()
        .filter(|a| a.method == "POST")
        .take(room)
        .map(|a| json!({"action": "http", "label": a.label, "url": a.url, "method": "POST", "clear": true}))
        .collect();
    if let Some(o) = open {
        out.push(json!({"action": "view", "label": o.label, "url": o.url}));
    }
    out
}

/// Text for Telegram's HTML parse mode.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn telegram(http: &reqwest::Client, ch: &Channel, m: &Message) -> Result<(), Failure> {
    let base = ch.settings.api_base.clone().unwrap_or_else(|| TELEGRAM_API.into());
    let host = host_of(&base);
    let token = ch.secret.clone().unwrap_or_default();
    let url = format!("{}/bot{token}/sendMessage", base.trim_end_matches('/'));
    // Telegram allows 4096 characters.
    let mut text = format!("<b>{}</b>\n{}", html_escape(&m.title), html_escape(&m.body));
    if let Some(link) = &m.link {
        text.push_str(&format!("\n<a href=\"{}\">Open Steward</a>", html_escape(link)));
    }
    if text.chars().count() > 4096 {
        text = format!(
            "<b>{}</b>\n{}…",
            html_escape(&m.title),
            html_escape(&m.body.chars().take(3500).collect::<String>())
        );
    }
    let mut body = json!({
        "chat_id": ch.settings.chat_id,
        "text": text,
        "parse_mode": "HTML",
        "disable_web_page_preview": true,
    });
    // URL buttons: a row for Done and Open, a row for the snoozes.
    if !m.actions.is_empty() {
        let button = |a: &Action| json!({"text": a.label, "url": a.url});
        let (snoozes, others): (Vec<&Action>, Vec<&Action>) =
            m.actions.iter().partition(|a| a.action.starts_with("snooze"));
        let rows: Vec<Vec<serde_json::Value>> = [others, snoozes]
            .into_iter()
            .filter(|r| !r.is_empty())
            .map(|r| r.into_iter().map(button).collect())
            .collect();
        if let Some(obj) = body.as_object_mut() {
            obj.insert("reply_markup".into(), json!({ "inline_keyboard": rows }));
        }
    }
    let (status, answer) = post_json(http.post(&url), &host, &body).await?;
    let parsed: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
    if status.is_success() && parsed.get("ok").and_then(|v| v.as_bool()) == Some(true) {
        return Ok(());
    }
    match parsed.get("description").and_then(|v| v.as_str()) {
        Some(d) => {
            let msg = format!("Telegram answered {}: {}", status.as_u16(), quote(d));
            if status.as_u16() == 429 || status.is_server_error() {
                Err(Failure::retry(msg))
            } else {
                Err(Failure::permanent(msg))
            }
        }
        None => Err(status_failure(&host, status, "")),
    }
}

async fn discord(http: &reqwest::Client, ch: &Channel, m: &Message) -> Result<(), Failure> {
    let url = ch.secret.clone().unwrap_or_default();
    let host = host_of(&url);
    let title: String = m.title.chars().take(256).collect();
    let mut description: String = m.body.chars().take(3500).collect();
    let links: Vec<String> = m.one_click().map(|a| format!("[{}]({})", a.label, a.url)).collect();
    if !links.is_empty() {
        description.push_str(&format!("\n\n{}", links.join(" · ")));
    }
    let mut embed = json!({
        "title": title,
        "description": description,
        "color": if m.level == "error" { 0xd03030 } else { 0x3070d0 },
    });
    if let (Some(link), Some(obj)) = (&m.link, embed.as_object_mut()) {
        obj.insert("url".into(), link.clone().into());
    }
    let body = json!({ "username": "Steward", "embeds": [embed] });
    let (status, text) = post_json(http.post(&url), &host, &body).await?;
    if status.is_success() { Ok(()) } else { Err(status_failure(&host, status, &text)) }
}

async fn webhook(http: &reqwest::Client, ch: &Channel, m: &Message) -> Result<(), Failure> {
    let url = ch.settings.url.clone().unwrap_or_default();
    let host = host_of(&url);
    let body = serde_json::to_vec(&json!({
        "event": "notification",
        "channel": ch.name,
        "notification_id": m.id,
        "title": m.title,
        "body": m.body,
        "level": m.level,
        "link": m.link,
        "subject": m.subject,
        "actions": m.actions.iter().map(|a| json!({"action": a.action, "label": a.label, "url": a.url})).collect::<Vec<_>>(),
        "created_at": crate::clock::from_ms(m.created_at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }))
    .map_err(|e| Failure::permanent(e.to_string()))?;
    let sig = signature(ch.secret.as_deref().unwrap_or_default(), &body);
    let resp = http
        .post(&url)
        .header("content-type", "application/json")
        .header("idempotency-key", format!("notification-{}-{}", m.id, ch.name))
        .header("x-steward-signature", sig)
        .body(body)
        .send()
        .await
        .map_err(|e| transport(&host, &e))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if status.is_success() { Ok(()) } else { Err(status_failure(&host, status, &text)) }
}

fn html_mail(m: &Message) -> String {
    let body = html_escape(&m.body).replace('\n', "<br>\n");
    let link = if m.actions.is_empty() {
        m.link
            .as_ref()
            .map(|l| format!("<p><a href=\"{}\">Open Steward</a></p>\n", html_escape(l)))
            .unwrap_or_default()
    } else {
        let links: Vec<String> = m
            .actions
            .iter()
            .map(|a| format!("<a href=\"{}\">{}</a>", html_escape(&a.url), html_escape(&a.label)))
            .collect();
        format!("<p>{}</p>\n", links.join(" &middot; "))
    };
    format!(
        "<!doctype html>\n<html><body style=\"font-family:sans-serif\">\n<h2>{}</h2>\n<p>{body}</p>\n{link}</body></html>\n",
        html_escape(&m.title)
    )
}

/// The mail's plain text: the body, then each action's link on a line.
fn text_mail(m: &Message) -> String {
    match &m.link {
        _ if !m.actions.is_empty() => {
            let lines: Vec<String> = m.actions.iter().map(|a| format!("{}: {}", a.label, a.url)).collect();
            format!("{}\n\n{}\n", m.body, lines.join("\n"))
        }
        Some(l) => format!("{}\n\nOpen Steward: {l}\n", m.body),
        None => format!("{}\n", m.body),
    }
}

async fn email(ch: &Channel, m: &Message) -> Result<(), Failure> {
    let s = &ch.settings;
    let host = s.smtp_host.clone().unwrap_or_default();
    let port = s.smtp_port.unwrap_or(587);
    let at = format!("{host}:{port}");
    let mailbox = |field: &str, v: &Option<String>| -> Result<Mailbox, Failure> {
        v.as_deref()
            .unwrap_or_default()
            .parse::<Mailbox>()
            .map_err(|_| Failure::permanent(format!("{field} is not an email address")))
    };
    let text = text_mail(m);
    let mail = lettre::Message::builder()
        .from(mailbox("from", &s.from)?)
        .to(mailbox("to", &s.to)?)
        .subject(m.title.clone())
        .multipart(MultiPart::alternative_plain_html(text, html_mail(m)))
        .map_err(|e| Failure::permanent(format!("the message could not be built: {e}")))?;
    let tls = || {
        TlsParameters::new(host.clone())
            .map_err(|e| Failure::permanent(format!("TLS settings for {host} are not usable: {e}")))
    };
    let security = match s.tls.as_deref().unwrap_or("starttls") {
        "none" => Tls::None,
        "tls" => Tls::Wrapper(tls()?),
        _ => Tls::Required(tls()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
        .port(port)
        .tls(security)
        .timeout(Some(Duration::from_secs(15)));
    if let Some(user) = &s.username {
        builder = builder.credentials(Credentials::new(user.clone(), ch.secret.clone().unwrap_or_default()));
    }
    let transport = builder.build();
    match transport.send(mail).await {
        Ok(_) => Ok(()),
        Err(e) => Err(smtp_failure(&at, &e)),
    }
}

fn smtp_failure(at: &str, e: &lettre::transport::smtp::Error) -> Failure {
    use std::error::Error as _;
    if let Some(code) = e.status() {
        let text = e.source().map(|s| s.to_string()).unwrap_or_default();
        let msg = format!("the mail server at {at} answered {code} {}", quote(&text));
        return if e.is_permanent() {
            Failure::permanent(msg.trim_end().to_string())
        } else {
            Failure::retry(msg.trim_end().to_string())
        };
    }
    let mut source: Option<&dyn std::error::Error> = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let why = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::TimedOut => "timed out".to_string(),
                _ => io.to_string(),
            };
            return Failure::retry(format!("could not connect to the mail server at {at}: {why}"));
        }
        source = s.source();
    }
    if e.is_timeout() {
        return Failure::retry(format!("the mail server at {at} did not answer in time"));
    }
    Failure::retry(format!("talking to the mail server at {at} failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_lists_its_action_links_in_text_and_escaped_html() {
        let action = |action: &str, label: &str, url: &str, method| Action {
            action: action.into(),
            label: label.into(),
            url: url.into(),
            method,
        };
        let m = Message {
            id: 1,
            title: "Call <mom>".into(),
            body: "Due today".into(),
            level: "info".into(),
            link: None,
            created_at: 0,
            subject: Some("task:3".into()),
            actions: vec![
                action("done", "Done", "https://s.example/a/x.y?a=1&b=2", "POST"),
                action("open", "Open", "https://s.example/tasks/3/edit", "GET"),
            ],
            priority: 3,
        };
        let html = html_mail(&m);
        assert!(html.contains("<a href=\"https://s.example/a/x.y?a=1&amp;b=2\">Done</a>"), "{html}");
        assert!(html.contains("<h2>Call &lt;mom&gt;</h2>"), "{html}");
        assert_eq!(
            text_mail(&m),
            "Due today\n\nDone: https://s.example/a/x.y?a=1&b=2\nOpen: https://s.example/tasks/3/edit\n"
        );
    }

    #[test]
    fn ntfy_shows_three_buttons_at_most_with_open_last() {
        let actions: Vec<Action> = ["done", "snooze-10m", "snooze-1h", "snooze-tomorrow", "open"]
            .iter()
            .map(|a| Action {
                action: (*a).into(),
                label: (*a).into(),
                url: format!("https://s.example/{a}"),
                method: if *a == "open" { "GET" } else { "POST" },
            })
            .collect();
        let b = ntfy_buttons(&actions);
        let kinds: Vec<(&str, &str)> =
            b.iter().map(|v| (v["action"].as_str().unwrap(), v["label"].as_str().unwrap())).collect();
        assert_eq!(kinds, [("http", "done"), ("http", "snooze-10m"), ("view", "open")]);
        assert_eq!(b[0]["method"], "POST");
        assert!(ntfy_buttons(&[]).is_empty());
    }

    #[test]
    fn telegram_text_is_escaped() {
        assert_eq!(html_escape("a<b> & \"c\""), "a&lt;b&gt; &amp; &quot;c&quot;");
    }
}
