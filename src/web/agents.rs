//! The Agents page: where prompts go. Lists stored and built-in agents, adds one of each kind,
//! edits and removes stored ones, and checks a connection without delivering anything.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::htmx::{self, is_htmx};
use super::schedules::sentence;
use super::{CurrentSession, Layout, html, see_other};
use crate::agents::{self, Agent, AgentConfigPatch, AgentInput, AgentKind, OpenTo};
use crate::error::{AppError, PageError};
use crate::services::Actor;
use crate::web::AppState;

/// The outcome of a connection check, in words.
#[derive(Template, WebTemplate)]
#[template(path = "partials/agent_check.html")]
pub struct CheckResult {
    ok: bool,
    text: String,
}

/// An agent as the list shows it (never its secrets).
pub struct AgentItem {
    pub name: String,
    pub kind: &'static str,
    /// The kind in words: "in-app notification".
    pub kind_label: &'static str,
    pub builtin: bool,
    pub url: Option<String>,
    /// The URL in pieces that each end where a line may break (after `/`, `?`, `&`, `#`), so
    /// it never breaks mid-token.
    pub url_parts: Vec<String>,
    pub model: Option<String>,
    pub agent_id: Option<String>,
    pub argv: Option<String>,
    pub system_prompt: Option<String>,
    pub timeout_secs: u64,
    pub concurrency: i32,
    pub has_api_key: bool,
    pub has_secret: bool,
    /// Who besides the person may send prompts to it, in words.
    pub open_to: String,
    /// A check's outcome, shown in place (for browsers without JavaScript).
    pub check: Option<CheckResult>,
}

impl AgentItem {
    fn new(a: &Agent) -> AgentItem {
        let v = a.view();
        AgentItem {
            name: v.name,
            kind: a.kind.as_str(),
            kind_label: kind_label(a.kind),
            builtin: v.builtin,
            url_parts: v.url.as_deref().map(break_points).unwrap_or_default(),
            url: v.url,
            model: v.model,
            agent_id: v.agent_id,
            argv: v.argv.map(|a| a.join(" ")),
            system_prompt: v.system_prompt,
            timeout_secs: v.timeout_secs,
            concurrency: v.concurrency,
            has_api_key: v.has_api_key,
            has_secret: v.has_secret,
            open_to: a.open_to.describe(),
            check: None,
        }
    }
}

/// `http://host/a/b?x=1` -> `http://`, `host/`, `a/`, `b?`, `x=1`: where a long URL may wrap.
fn break_points(url: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    for c in url.chars() {
        part.push(c);
        if matches!(c, '/' | '?' | '&' | '#') {
            parts.push(std::mem::take(&mut part));
        }
    }
    if !part.is_empty() {
        parts.push(part);
    }
    // `http://` stays whole.
    parts.iter().fold(Vec::new(), |mut out: Vec<String>, p| {
        match out.last_mut() {
            Some(last) if p == "/" || last.ends_with(":/") => last.push_str(p),
            _ => out.push(p.clone()),
        }
        out
    })
}

/// What an agent of this kind is, in words (the list says "notify — in-app notification").
fn kind_label(kind: AgentKind) -> &'static str {
    match kind {
        AgentKind::Llm => "language model",
        AgentKind::Letta => "Letta agent",
        AgentKind::Webhook => "webhook",
        AgentKind::Command => "command on this machine",
        AgentKind::Notify => "in-app notification",
        AgentKind::System => "Steward's own work (calendar refreshes)",
    }
}

/// The add or edit form's values, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AgentForm {
    name: String,
    kind: String,
    url: String,
    model: String,
    api_key: String,
    system_prompt: String,
    agent_id: String,
    secret: String,
    /// command: the program and its arguments on one line, split on whitespace.
    argv: String,
    timeout_secs: String,
    concurrency: String,
    /// Who else may send prompts: checkboxes (present when ticked), and a hidden field that
    /// says the form carried them (so an absent box means "not ticked").
    open_chat: String,
    open_mcp: String,
    open_tokens: String,
    open_given: String,
}

impl AgentForm {
    fn of(a: &Agent) -> AgentForm {
        let c = &a.config;
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        AgentForm {
            name: a.name.clone(),
            kind: a.kind.as_str().into(),
            url: text(&c.url),
            model: text(&c.model),
            // Secrets are never shown: empty keeps them.
            api_key: String::new(),
            secret: String::new(),
            system_prompt: text(&c.system_prompt),
            agent_id: text(&c.agent_id),
            argv: c.argv.as_ref().map(|a| a.join(" ")).unwrap_or_default(),
            timeout_secs: c.timeout_secs.map(|t| t.to_string()).unwrap_or_default(),
            concurrency: a.concurrency.to_string(),
            ..AgentForm::default()
        }
        .with_open_to(a.open_to)
    }

    fn with_open_to(mut self, open: OpenTo) -> AgentForm {
        let tick = |on: bool| if on { "on".to_string() } else { String::new() };
        self.open_chat = tick(open.chat);
        self.open_mcp = tick(open.mcp);
        self.open_tokens = tick(open.tokens);
        self.open_given = "1".into();
        self
    }

    /// The ticked boxes, when the form carried them.
    fn open_to(&self) -> Option<Vec<String>> {
        if self.open_given.is_empty() {
            return None;
        }
        let boxes = [(&self.open_chat, "chat"), (&self.open_mcp, "mcp"), (&self.open_tokens, "tokens")];
        Some(boxes.into_iter().filter(|(v, _)| !v.is_empty()).map(|(_, n)| n.to_string()).collect())
    }

    /// The service's input. When editing, empty secrets keep the stored ones; other empty
    /// settings are removed.
    fn input(&self, editing: bool) -> Result<AgentInput, AppError> {
        let kind = AgentKind::parse(&self.kind)?;
        let text = |v: &str| Some(v.to_string());
        let secret = |v: &str| Some(v.to_string()).filter(|v| !(editing && v.trim().is_empty()));
        let timeout_secs = match self.timeout_secs.trim() {
            "" => None,
            t => Some(t.parse::<u64>().map_err(|_| {
                AppError::invalid("timeout_secs", format!("{t:?} is not a whole number of seconds"))
            })?),
        };
        let concurrency = match self.concurrency.trim() {
            "" => None,
            c => Some(
                c.parse::<i32>()
                    .map_err(|_| AppError::invalid("concurrency", format!("{c:?} is not a whole number")))?,
            ),
        };
        let mut config =
            AgentConfigPatch { timeout_secs, open_to: self.open_to(), ..AgentConfigPatch::default() };
        match kind {
            AgentKind::Llm => {
                config.url = text(&self.url);
                config.model = text(&self.model);
                config.api_key = secret(&self.api_key);
                config.system_prompt = text(&self.system_prompt);
            }
            AgentKind::Letta => {
                config.url = text(&self.url);
                config.api_key = secret(&self.api_key);
                config.agent_id = text(&self.agent_id);
            }
            AgentKind::Webhook => {
                config.url = text(&self.url);
                config.secret = secret(&self.secret);
            }
            AgentKind::Command => {
                config.argv = Some(self.argv.split_whitespace().map(String::from).collect());
            }
            AgentKind::Notify | AgentKind::System => {}
        }
        Ok(AgentInput {
            name: (!editing).then(|| self.name.clone()),
            kind: Some(kind.as_str().to_string()),
            concurrency,
            config,
        })
    }
}

/// One kind's add form, or an agent's edit form.
#[derive(Template, WebTemplate)]
#[template(path = "partials/agent_form.html")]
pub struct AgentFormView {
    kind: &'static str,
    v: AgentForm,
    /// (field, message).
    error: Option<(String, String)>,
    /// Editing this stored agent.
    editing: Option<String>,
    has_api_key: bool,
    has_secret: bool,
    csrf: String,
}

const FIELDS: [&str; 11] = [
    "name",
    "url",
    "model",
    "api_key",
    "system_prompt",
    "agent_id",
    "secret",
    "argv",
    "timeout_secs",
    "concurrency",
    "open_to",
];

impl AgentFormView {
    fn blank(kind: AgentKind, csrf: &str) -> AgentFormView {
        AgentFormView {
            kind: kind.as_str(),
            v: AgentForm { kind: kind.as_str().into(), ..AgentForm::default() }
                .with_open_to(OpenTo::default_for(kind)),
            error: None,
            editing: None,
            has_api_key: false,
            has_secret: false,
            csrf: csrf.to_string(),
        }
    }

    fn title(&self) -> &'static str {
        match self.kind {
            "llm" => "A language model (OpenAI-compatible API)",
            "letta" => "A Letta agent",
            "webhook" => "A webhook",
            "command" => "A command on this machine",
            _ => "In-app notifications",
        }
    }

    fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }

    /// Whether a "who else may send" box is ticked.
    fn open(&self, who: &str) -> bool {
        let v = match who {
            "chat" => &self.v.open_chat,
            "mcp" => &self.v.open_mcp,
            _ => &self.v.open_tokens,
        };
        !v.is_empty()
    }

    fn action(&self) -> String {
        match &self.editing {
            Some(name) => format!("/agents/{}", super::middleware::percent_encode(name)),
            None => "/agents".into(),
        }
    }

    /// Field ids are unique per form on the page.
    fn id(&self, field: &str) -> String {
        format!("agent-{}-{field}", self.kind)
    }

    fn err(&self, field: &str) -> Option<&str> {
        self.error.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }

    fn general_error(&self) -> Option<String> {
        self.error.as_ref().filter(|(f, _)| !FIELDS.contains(&f.as_str())).map(|(_, m)| sentence(m))
    }

    fn aria(&self, field: &str) -> String {
        match self.err(field) {
            Some(_) => format!(" aria-invalid=\"true\" aria-describedby=\"{}-error\"", self.id(field)),
            None => String::new(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "agents.html")]
pub struct AgentsPage {
    layout: Layout,
    agents: Vec<AgentItem>,
    forms: Vec<AgentFormView>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "agent_edit.html")]
pub struct EditPage {
    layout: Layout,
    name: String,
    form: AgentFormView,
}

#[derive(Template, WebTemplate)]
#[template(path = "partials/agent_removed.html")]
pub struct RemovedItem {
    name: String,
}

/// What a full page shows besides the list.
#[derive(Default)]
struct Extras {
    /// An add form kept after an error.
    form: Option<(AgentForm, (String, String))>,
    notice: Option<String>,
    error: Option<String>,
    /// A check's outcome, for one agent.
    check: Option<(String, CheckResult)>,
}

async fn full_page(
    state: &web::Data<AppState>,
    session: &CurrentSession,
    extras: Extras,
) -> Result<AgentsPage, AppError> {
    let st = state.clone();
    let (list, unread) = state
        .db
        .run(move |conn| Ok((agents::list(conn, &st.config)?, crate::notifications::unread_count(conn)?)))
        .await?;
    let csrf = session.0.csrf_token.clone();
    let mut items: Vec<AgentItem> = list.iter().map(AgentItem::new).collect();
    if let Some((name, result)) = extras.check
        && let Some(item) = items.iter_mut().find(|i| i.name == name)
    {
        item.check = Some(result);
    }
    let mut forms: Vec<AgentFormView> =
        AgentKind::ALL.iter().map(|k| AgentFormView::blank(*k, &csrf)).collect();
    if let Some((values, error)) = extras.form
        && let Some(form) = forms.iter_mut().find(|f| f.kind == values.kind)
    {
        form.v = values;
        form.error = Some(error);
    }
    Ok(AgentsPage {
        layout: Layout::new("Agents", "agents", &session.0).with_unread(unread),
        agents: items,
        forms,
        notice: extras.notice,
        error: extras.error,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PageQuery {
    /// An agent just added or saved: named in a notice.
    added: Option<String>,
    saved: Option<String>,
    /// What a changed URL dropped (`api_key`, `secret`), to say so.
    dropped: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    session: CurrentSession,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner();
    let dropped: Vec<&str> = q.dropped.as_deref().unwrap_or_default().split(',').collect();
    let notice = match (q.added, q.saved) {
        (Some(name), _) => Some(format!("Added “{name}”. Check it to see that it answers.")),
        (None, Some(name)) => match agents::dropped_note(&dropped) {
            Some(note) => Some(format!("Saved “{name}”. {note}")),
            None => Some(format!("Saved “{name}”.")),
        },
        (None, None) => None,
    };
    html(StatusCode::OK, &full_page(&state, &session, Extras { notice, ..Extras::default() }).await?)
}

/// Back to the list after a change (post/redirect/get: a reload does not post again).
fn back_to_list(key: &str, name: &str) -> HttpResponse {
    back_to_list_noting(key, name, &[])
}

/// The same, naming what a changed URL dropped (names of fields only, never a value).
fn back_to_list_noting(key: &str, name: &str, dropped: &[&str]) -> HttpResponse {
    let mut pairs = vec![(key, name.to_string())];
    if !dropped.is_empty() {
        pairs.push(("dropped", dropped.join(",")));
    }
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    see_other(&format!("/agents?{query}"))
}

fn split_error(e: AppError) -> Result<(String, String), AppError> {
    match e {
        AppError::Invalid { field, message } => Ok((field, message)),
        AppError::Forbidden(message) => Ok(("kind".into(), message)),
        other => Err(other),
    }
}

pub async fn add(
    state: web::Data<AppState>,
    session: CurrentSession,
    form: web::Form<AgentForm>,
) -> Result<HttpResponse, PageError> {
    let values = form.into_inner();
    let input = match values.input(false) {
        Ok(mut input) => agents::letta::settle(&state.http, &mut input, None).await.map(|()| input),
        Err(e) => Err(e),
    };
    let now = state.clock.now();
    let added = state.db.run(move |conn| agents::add(conn, now, input?, Actor::Person)).await;
    match added {
        Ok(agent) => {
            state.wake.poke();
            Ok(back_to_list("added", &agent.name))
        }
        Err(e) => {
            let error = split_error(e)?;
            let extras = Extras { form: Some((values, error)), ..Extras::default() };
            html(StatusCode::UNPROCESSABLE_ENTITY, &full_page(&state, &session, extras).await?)
        }
    }
}

async fn edit_page(
    state: &web::Data<AppState>,
    session: &CurrentSession,
    name: String,
    kept: Option<(AgentForm, (String, String))>,
) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    let n = name.clone();
    let (agent, unread) = state
        .db
        .run(move |conn| Ok((agents::get(conn, &st.config, &n)?, crate::notifications::unread_count(conn)?)))
        .await?;
    if agent.builtin {
        return Err(AppError::invalid(
            "name",
            format!("{name:?} is built in; add an agent of your own to change its settings"),
        )
        .into());
    }
    let status = if kept.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let (v, error) = match kept {
        Some((v, e)) => (v, Some(e)),
        None => (AgentForm::of(&agent), None),
    };
    let form = AgentFormView {
        kind: agent.kind.as_str(),
        v,
        error,
        editing: Some(agent.name.clone()),
        has_api_key: agent.config.api_key.is_some(),
        has_secret: agent.config.secret.is_some(),
        csrf: session.0.csrf_token.clone(),
    };
    let page = EditPage {
        layout: Layout::new(format!("Edit {name}"), "agents", &session.0).with_unread(unread),
        name,
        form,
    };
    html(status, &page)
}

pub async fn edit(
    state: web::Data<AppState>,
    session: CurrentSession,
    name: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    edit_page(&state, &session, name.into_inner(), None).await
}

pub async fn save(
    state: web::Data<AppState>,
    session: CurrentSession,
    name: web::Path<String>,
    form: web::Form<AgentForm>,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    let mut values = form.into_inner();
    values.name = name.clone();
    let (st, n) = (state.clone(), name.clone());
    let current = state.db.run(move |conn| agents::get(conn, &st.config, &n)).await.ok();
    let input = match values.input(true) {
        Ok(mut input) => {
            agents::letta::settle(&state.http, &mut input, current.as_ref()).await.map(|()| input)
        }
        Err(e) => Err(e),
    };
    let (st, n, now) = (state.clone(), name.clone(), state.clock.now());
    let saved = state
        .db
        .run(move |conn| agents::update_noting(conn, &st.config, now, &n, input?, Actor::Person))
        .await;
    match saved {
        Ok((agent, dropped)) => {
            state.wake.poke();
            Ok(back_to_list_noting("saved", &agent.name, &dropped))
        }
        Err(e) => {
            let error = split_error(e)?;
            edit_page(&state, &session, name, Some((values, error))).await
        }
    }
}

pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    name: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    let (st, n) = (state.clone(), name.clone());
    let removed = state.db.run(move |conn| agents::remove(conn, &st.config, &n)).await;
    let outcome = match removed {
        Ok(()) => Ok(format!("Removed “{name}”.")),
        Err(AppError::Invalid { message, .. }) => Err(message),
        Err(e) => return Err(e.into()),
    };
    if is_htmx(&req) {
        return match outcome {
            Ok(message) => htmx::with_toast(&[&RemovedItem { name }], &message),
            Err(message) => htmx::error_toast(StatusCode::UNPROCESSABLE_ENTITY, &message),
        };
    }
    match outcome {
        Ok(_) => Ok(see_other("/agents")),
        Err(message) => {
            let extras = Extras { error: Some(message), ..Extras::default() };
            html(StatusCode::UNPROCESSABLE_ENTITY, &full_page(&state, &session, extras).await?)
        }
    }
}

/// Tests the connection (nothing is delivered) and says what is wrong in words.
pub async fn check(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: CurrentSession,
    name: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    let (st, n) = (state.clone(), name.clone());
    let agent = state.db.run(move |conn| agents::get(conn, &st.config, &n)).await?;
    let result = match agents::deliver::check(&state.http, &agent).await {
        Ok(text) => CheckResult { ok: true, text },
        Err(text) => CheckResult { ok: false, text },
    };
    if is_htmx(&req) {
        return html(StatusCode::OK, &result);
    }
    html(
        StatusCode::OK,
        &full_page(&state, &session, Extras { check: Some((name, result)), ..Extras::default() }).await?,
    )
}

#[cfg(test)]
mod tests {
    use super::break_points;

    #[test]
    fn urls_break_after_their_separators_only() {
        assert_eq!(
            break_points("http://127.0.0.1:8080/v1/hooks?a=1&b=2"),
            ["http://", "127.0.0.1:8080/", "v1/", "hooks?", "a=1&", "b=2"]
        );
        assert_eq!(break_points("https://x"), ["https://", "x"]);
    }
}
