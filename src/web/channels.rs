//! The Channels page (linked from Settings): where notifications go besides the app. Lists the
//! channels, adds one of a chosen kind with only that kind's fields, edits, tests (the outcome
//! as a toast) and removes. Secrets are never put back into a form: a blank secret field keeps
//! the stored one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;

use super::htmx::{self, is_htmx};
use super::{CurrentSession, Layout, html, see_other};
use crate::error::{ApiError, AppError, PageError};
use crate::notify::{self, Channel, ChannelInput};
use crate::web::AppState;

/// One field of a kind's form.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub input_type: &'static str,
    pub value: String,
    pub hint: &'static str,
    pub required: bool,
    /// A write-only secret: never filled in; says whether one is stored.
    pub secret: bool,
    pub stored: bool,
    pub choices: &'static [&'static str],
}

pub struct TopicBox {
    pub name: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// The add or edit form of one kind.
pub struct ChannelForm {
    pub kind: &'static str,
    pub kind_label: &'static str,
    /// Editing this channel (its name stays), else adding.
    pub editing: Option<String>,
    pub name: String,
    pub fields: Vec<Field>,
    pub topics: Vec<TopicBox>,
    /// The field at fault and why.
    pub error: Option<(String, String)>,
}

impl ChannelForm {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.error.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }

    /// An error about a field the form does not show (shown above it).
    pub fn general_error(&self) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| f != "name" && !self.fields.iter().any(|x| x.name == f) && f != "receives")
            .map(|(_, m)| m.as_str())
    }

    pub fn action(&self) -> String {
        match &self.editing {
            Some(name) => format!("/channels/{}", urlencode(name)),
            None => "/channels".into(),
        }
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "ntfy" => "ntfy",
        "telegram" => "Telegram",
        "discord" => "Discord",
        "email" => "Email (SMTP)",
        "webhook" => "Webhook",
        "webpush" => "Browser (Web Push)",
        _ => "Unknown",
    }
}

fn field_meta(name: &str) -> (&'static str, &'static str, &'static str, bool, &'static [&'static str]) {
    // (label, input type, hint, required, choices)
    match name {
        "url" => ("Server URL", "url", "", true, &[]),
        "topic" => ("Topic", "text", "Letters, digits, - or _", true, &[]),
        "token" => ("Access token", "password", "Optional: for a protected topic", false, &[]),
        "bot_token" => ("Bot token", "password", "From @BotFather", true, &[]),
        "chat_id" => ("Chat id", "text", "A number, or @channelname", true, &[]),
        "api_base" => ("Bot API address", "url", "Default https://api.telegram.org", false, &[]),
        "webhook_url" => ("Webhook URL", "password", "Server Settings → Integrations → Webhooks", true, &[]),
        "smtp_host" => ("SMTP host", "text", "", true, &[]),
        "smtp_port" => ("Port", "number", "Default 587 (starttls), 465 (tls), 25 (none)", false, &[]),
        "tls" => {
            ("Security", "select", "none is allowed to localhost only", true, &["starttls", "tls", "none"])
        }
        "username" => ("Username", "text", "Optional", false, &[]),
        "password" => ("Password", "password", "Optional", false, &[]),
        "from" => ("From", "email", "", true, &[]),
        "to" => ("To", "email", "", true, &[]),
        "secret" => ("Signing secret", "password", "Signs each body (X-Steward-Signature)", true, &[]),
        "endpoint" => ("Push endpoint", "url", "Set by the browser when it subscribed", true, &[]),
        "p256dh" => ("Browser key (p256dh)", "text", "Set by the browser when it subscribed", true, &[]),
        "auth" => ("Auth secret", "password", "Set by the browser when it subscribed", true, &[]),
        _ => ("", "text", "", false, &[]),
    }
}

fn static_kind(kind: &str) -> &'static str {
    notify::KINDS.iter().find(|k| **k == kind).copied().unwrap_or("ntfy")
}

fn form_for(kind: &str, ch: Option<&Channel>, given: Option<&[(String, String)]>) -> ChannelForm {
    let kind = static_kind(kind);
    let settings = ch.map(|c| serde_json::to_value(&c.settings).unwrap_or_default()).unwrap_or_default();
    let secret = notify::secret_field(kind);
    let value_of = |name: &str| -> String {
        if let Some(pairs) = given {
            return pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        }
        match settings.get(name) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    };
    let fields = notify::fields_of(kind)
        .iter()
        .map(|name| {
            let (label, input_type, hint, required, choices) = field_meta(name);
            let is_secret = *name == secret;
            Field {
                name,
                label,
                input_type,
                value: if is_secret { String::new() } else { value_of(name) },
                hint,
                // An edit may leave a stored secret blank.
                required: required && !(is_secret && ch.is_some()),
                secret: is_secret,
                stored: is_secret && ch.is_some_and(|c| c.secret.is_some()),
                choices,
            }
        })
        .collect();
    let receives: Vec<String> = match (given, ch) {
        (Some(pairs), _) => pairs.iter().filter(|(k, _)| k == "receives").map(|(_, v)| v.clone()).collect(),
        (None, Some(c)) => c.receives.clone(),
        (None, None) => notify::TOPICS.iter().map(|t| t.to_string()).collect(),
    };
    ChannelForm {
        kind,
        kind_label: kind_label(kind),
        editing: ch.map(|c| c.name.clone()),
        name: given
            .and_then(|p| p.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone()))
            .or_else(|| ch.map(|c| c.name.clone()))
            .unwrap_or_default(),
        fields,
        topics: notify::TOPICS
            .iter()
            .map(|t| TopicBox {
                name: t,
                label: notify::topic_label(t),
                checked: receives.iter().any(|r| r == t),
            })
            .collect(),
        error: None,
    }
}

/// A channel as the list shows it (never its secret).
pub struct ChannelItem {
    pub name: String,
    pub kind_label: &'static str,
    pub settings: Vec<(&'static str, String)>,
    pub receives: String,
}

impl ChannelItem {
    fn new(c: &Channel) -> ChannelItem {
        let view = c.view();
        let settings = notify::fields_of(&c.kind)
            .iter()
            .filter_map(|f| {
                let v = view.get(*f)?;
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((field_meta(f).0, text))
            })
            .collect();
        let receives = if c.receives.is_empty() {
            "nothing (it only gets tests)".to_string()
        } else {
            c.receives.iter().map(|r| notify::topic_label(r)).collect::<Vec<_>>().join(", ")
        };
        ChannelItem { name: c.name.clone(), kind_label: kind_label(&c.kind), settings, receives }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "channels.html")]
pub struct ChannelsPage {
    layout: Layout,
    channels: Vec<ChannelItem>,
    kinds: Vec<(&'static str, &'static str)>,
    /// The add or edit form shown, if any.
    form: Option<ChannelForm>,
    notice: Option<String>,
    /// The VAPID public key this browser subscribes with ("Enable push on this browser").
    push_key: String,
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    kind: Option<String>,
    added: Option<String>,
    saved: Option<String>,
    removed: Option<String>,
    dropped: Option<String>,
}

async fn render(
    state: &web::Data<AppState>,
    session: &CurrentSession,
    form: Option<ChannelForm>,
    notice: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let (list, push_key) =
        state.db.run(|conn| Ok((notify::list(conn)?, notify::webpush::public_key(conn)?))).await?;
    let page = ChannelsPage {
        layout: Layout::new("Channels", "settings", &session.0),
        channels: list.iter().map(ChannelItem::new).collect(),
        // A browser adds itself (the button), not through a form.
        kinds: notify::KINDS.iter().filter(|k| **k != "webpush").map(|k| (*k, kind_label(k))).collect(),
        form,
        notice,
        push_key,
    };
    html(status, &page)
}

pub async fn page(
    state: web::Data<AppState>,
    session: CurrentSession,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner();
    let form = q
        .kind
        .as_deref()
        .filter(|k| notify::KINDS.contains(k) && *k != "webpush")
        .map(|k| form_for(k, None, None));
    let mut notice = match (q.added, q.saved, q.removed) {
        (Some(n), _, _) => Some(format!("Added “{n}”. Use Test to send it a message now.")),
        (_, Some(n), _) => Some(format!("Saved “{n}”.")),
        (_, _, Some(n)) => Some(format!("Removed “{n}”.")),
        _ => None,
    };
    if let Some(field) = q.dropped.as_deref().and_then(|d| notify::fields_of_secret(d))
        && let Some(note) = notify::dropped_note(&[field])
    {
        notice = Some(format!("{} {note}", notice.unwrap_or_default()));
    }
    render(&state, &session, form, notice, StatusCode::OK).await
}

pub async fn edit(
    state: web::Data<AppState>,
    session: CurrentSession,
    name: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let ch = state.db.run(move |conn| notify::get(conn, &name)).await?;
    render(&state, &session, Some(form_for(&ch.kind, Some(&ch), None)), None, StatusCode::OK).await
}

/// The form's pairs (checkboxes repeat `receives`).
fn pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn input_of(kind: &str, pairs: &[(String, String)], editing: bool) -> Result<ChannelInput, AppError> {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string());
    // Blank optional fields clear them; a blank secret keeps the stored one.
    let text = |k: &str| get(k).filter(|v| !(v.is_empty() && k == notify::secret_field(kind) && editing));
    let port = match get("smtp_port").filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(p.parse::<u16>().map_err(|_| {
            AppError::invalid("smtp_port", format!("{p:?} is not a port: use 1 to 65535, like 587"))
        })?),
    };
    let owned = |k: &str| if notify::fields_of(kind).contains(&k) { text(k) } else { None };
    Ok(ChannelInput {
        name: if editing { None } else { get("name") },
        kind: if editing { None } else { Some(kind.to_string()) },
        url: owned("url"),
        topic: owned("topic"),
        token: owned("token"),
        bot_token: owned("bot_token"),
        chat_id: owned("chat_id"),
        api_base: owned("api_base"),
        webhook_url: owned("webhook_url"),
        smtp_host: owned("smtp_host"),
        smtp_port: port,
        tls: owned("tls"),
        username: owned("username"),
        password: owned("password"),
        from: owned("from"),
        to: owned("to"),
        secret: owned("secret"),
        endpoint: owned("endpoint"),
        p256dh: owned("p256dh"),
        auth: owned("auth"),
        receives: Some(pairs.iter().filter(|(k, _)| k == "receives").map(|(_, v)| v.clone()).collect()),
    })
}

fn split(e: AppError) -> Result<(String, String), AppError> {
    match e {
        AppError::Invalid { field, message } => Ok((field, message)),
        other => Err(other),
    }
}

pub async fn add(
    state: web::Data<AppState>,
    session: CurrentSession,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let pairs = pairs(&body);
    let kind = pairs.iter().find(|(k, _)| k == "kind").map(|(_, v)| v.clone()).unwrap_or_default();
    let kind = static_kind(&kind);
    let now = state.clock.now();
    let input = input_of(kind, &pairs, false);
    let added = match input {
        Ok(input) => state.db.run(move |conn| notify::add(conn, now, input)).await,
        Err(e) => Err(e),
    };
    match added {
        Ok(ch) => Ok(see_other(&format!("/channels?added={}", urlencode(&ch.name)))),
        Err(e) => {
            let mut form = form_for(kind, None, Some(&pairs));
            form.error = Some(split(e)?);
            render(&state, &session, Some(form), None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

pub async fn save(
    state: web::Data<AppState>,
    session: CurrentSession,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    let n = name.clone();
    let ch = state.db.run(move |conn| notify::get(conn, &n)).await?;
    let pairs = pairs(&body);
    let now = state.clock.now();
    let saved = match input_of(&ch.kind, &pairs, true) {
        Ok(input) => {
            let n = name.clone();
            state.db.run(move |conn| notify::update_noting(conn, now, &n, input)).await
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok((ch, dropped)) => {
            let mut to = format!("/channels?saved={}", urlencode(&ch.name));
            if let Some(d) = dropped.first() {
                to.push_str(&format!("&dropped={d}"));
            }
            Ok(see_other(&to))
        }
        Err(e) => {
            let mut form = form_for(&ch.kind, Some(&ch), Some(&pairs));
            form.error = Some(split(e)?);
            render(&state, &session, Some(form), None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// Sends a test message now; the outcome as a toast (or on the page without JavaScript).
pub async fn test(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    name: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (now, public_url) = (state.clock.now(), state.config.public_url.clone());
    let ch = state.db.run(move |conn| notify::get_to_send(conn, &name, public_url.as_deref(), now)).await?;
    let outcome = notify::test(&state.http, &ch, state.config.public_url.as_deref()).await;
    if is_htmx(&req) {
        return match outcome {
            Ok(message) => htmx::with_toast(&[], &message),
            Err(why) => {
                htmx::error_toast(StatusCode::OK, &format!("The test of “{}” failed: {why}", ch.name))
            }
        };
    }
    let notice = match outcome {
        Ok(message) => message,
        Err(why) => format!("The test of “{}” failed: {why}", ch.name),
    };
    render(&state, &session, None, Some(notice), StatusCode::OK).await
}

pub async fn remove(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, PageError> {
    let n = name.clone();
    state.db.run(move |conn| notify::remove(conn, &n)).await?;
    Ok(see_other(&format!("/channels?removed={}", urlencode(&name))))
}

/// `POST /push/subscribe` (JSON, from the page's script): stores this browser's push
/// subscription as a `webpush` channel; answers `{name, added, message}` or a JSON error.
pub async fn subscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<notify::webpush::Subscription>,
) -> Result<HttpResponse, ApiError> {
    let ua = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let now = state.clock.now();
    let sub = body.into_inner();
    let (ch, added) = state.db.run(move |conn| notify::webpush::subscribe(conn, now, sub, &ua)).await?;
    let message = if added {
        format!("This browser now gets notifications as “{}”.", ch.name)
    } else {
        format!("This browser was already subscribed as “{}”; its keys are renewed.", ch.name)
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "name": ch.name, "added": added, "message": message })))
}
