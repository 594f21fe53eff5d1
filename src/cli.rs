//! The `steward` command line. Every command calls the same service functions as the pages and
//! the API. Exit codes: 0 success, 2 bad input (with a one-line message on stderr), 1 otherwise.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::app::Application;
use crate::auth::{self, tokens};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{self, Db};
use crate::error::AppError;
use crate::services::{Actor, Ctx, Services, http_client};
use crate::tasks::{Filter, Task, query, service};

mod calendar;
mod feed;

#[derive(Parser)]
#[command(name = "steward", version, about = "A self-hosted home base shared with your AI agent")]
pub struct Cli {
    /// The SQLite database file [env: STEWARD_DB] [default: steward.db]
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// A TOML configuration file [env: STEWARD_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print one JSON document instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app, the API and the scheduler (the default command)
    Serve(ServeArgs),
    /// Set the password (asks twice on a terminal); signs out every session
    Passwd {
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
        /// Turn two-factor authentication off instead (the way back in without the phone and
        /// the recovery codes); the password and sessions stay as they are
        #[arg(long, conflicts_with = "password_stdin")]
        reset_2fa: bool,
    },
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage tasks
    #[command(subcommand)]
    Task(TaskCommand),
    /// Import tasks or events
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export tasks or events
    #[command(subcommand)]
    Export(ExportCommand),
    /// Manage calendar events
    #[command(subcommand)]
    Event(calendar::EventCommand),
    /// Write a consistent copy of the live database to PATH (safe while the server runs). When
    /// PATH is a directory, the copy is named steward-YYYYMMDDTHHMMSSZ.db inside it
    Backup {
        path: PathBuf,
        /// Keep only the newest N backups in the directory PATH (created if missing)
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
    },
    /// Replace the database with the Steward backup FILE (the server must be stopped); the old
    /// database is kept as <db>.before-restore-<time>
    Restore { file: PathBuf },
    /// Check the installation and say what to fix: configuration, database (integrity,
    /// references, migrations, WAL), public URL, TLS files, trusted proxies, disk space, the
    /// password, and that each agent and channel answers. Exits 1 when a check fails
    Doctor {
        /// Send a real test message to every notification channel (else only connect to its server)
        #[arg(long)]
        send_test: bool,
        /// Seconds each agent or channel may take to answer
        #[arg(long, default_value_t = 5, value_name = "SECS")]
        timeout: u64,
        /// Check the database with PRAGMA quick_check (much faster on a large file; skips
        /// comparing each index with its table)
        #[arg(long)]
        quick: bool,
    },
    /// Manage agents (where scheduled prompts go)
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Manage notification channels (ntfy, telegram, discord, email, webhook)
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// List the agents a Letta server has: steward agents --letta NAME
    Agents {
        /// A configured letta agent whose server to ask
        #[arg(long, value_name = "NAME")]
        letta: String,
    },
    /// Manage scheduled prompts
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Calendar subscription feeds for phones and desktop calendars
    #[command(subcommand)]
    Feed(feed::FeedCommand),
    /// List runs, newest first
    Runs {
        #[arg(long)]
        schedule: Option<i32>,
        /// queued, retrying, running, succeeded, failed, cancelled
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

// Parsed once per run: the size of the `add` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum AgentCommand {
    /// Add an agent: steward agent add NAME --kind llm --url http://127.0.0.1:11434/v1 --model qwen3
    Add {
        name: String,
        /// llm, letta, webhook, command or notify
        #[arg(long)]
        kind: String,
        #[command(flatten)]
        settings: AgentSettings,
        /// command: the program and its arguments, after `--` (no shell)
        #[arg(last = true)]
        argv: Vec<String>,
    },
    /// Change an agent's settings; those not given stay. A new --url drops the stored API key
    /// and secret unless they are given again.
    Edit {
        name: String,
        #[command(flatten)]
        settings: AgentSettings,
    },
    /// List agents
    List,
    /// Remove an agent (refused while schedules use it)
    Rm { name: String },
    /// Test the connection and say what is wrong
    Check { name: String },
}

/// The settings `agent add` and `agent edit` share; on edit, those not given stay.
#[derive(Args)]
struct AgentSettings {
    /// llm: base URL (ending in /v1); letta: server URL; webhook: target URL
    #[arg(long)]
    url: Option<String>,
    #[arg(long)]
    model: Option<String>,
    /// llm and letta: sent as a bearer token ("" removes it)
    #[arg(long, env = "STEWARD_AGENT_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    #[arg(long)]
    system_prompt: Option<String>,
    /// letta: the agent's name or id on the server
    #[arg(long)]
    agent_id: Option<String>,
    /// webhook: the HMAC key of X-Steward-Signature
    #[arg(long, env = "STEWARD_AGENT_SECRET", hide_env_values = true)]
    secret: Option<String>,
    #[arg(long)]
    timeout_secs: Option<u64>,
    /// Deliveries at once (default 1)
    #[arg(long)]
    concurrency: Option<i32>,
    /// Who else may send prompts to it: chat, mcp, tokens, all or none, comma-separated
    /// (default: none for command and webhook agents, all for the others)
    #[arg(long, value_name = "WHO")]
    open_to: Option<String>,
}

impl AgentSettings {
    /// The agent input these flags make: a new agent's (with its name and kind) or a change.
    fn input(
        self,
        name: Option<String>,
        kind: Option<String>,
        argv: Option<Vec<String>>,
    ) -> crate::agents::AgentInput {
        crate::agents::AgentInput {
            name,
            kind,
            concurrency: self.concurrency,
            config: crate::agents::AgentConfigPatch {
                url: self.url,
                model: self.model,
                api_key: self.api_key,
                system_prompt: self.system_prompt,
                agent_id: self.agent_id,
                secret: self.secret,
                argv,
                timeout_secs: self.timeout_secs,
                open_to: self.open_to.map(|w| split_list(&w)),
            },
        }
    }
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct Timing {
    /// As you would say it: "every weekday at 9:00", "every 2 hours", "tomorrow 9am", or cron
    #[arg(long)]
    when: Option<String>,
    /// Once: RFC 3339 or "tomorrow 9am", "in 20m", "fri 17:30"
    #[arg(long)]
    at: Option<String>,
    /// A crontab expression: "0 9 * * 1-5", "@daily" (6 fields: seconds first)
    #[arg(long)]
    cron: Option<String>,
    /// An interval: 30s, 5m, 1h30m, 2d
    #[arg(long)]
    every: Option<String>,
}

/// A new timing for `schedule edit` (none: unchanged).
#[derive(Args)]
#[group(required = false, multiple = false)]
struct NewTiming {
    /// As you would say it: "every weekday at 9:00", "every 2 hours", "tomorrow 9am", or cron
    #[arg(long)]
    when: Option<String>,
    /// Once: RFC 3339 or "tomorrow 9am", "in 20m", "fri 17:30"
    #[arg(long)]
    at: Option<String>,
    /// A crontab expression: "0 9 * * 1-5", "@daily" (6 fields: seconds first)
    #[arg(long)]
    cron: Option<String>,
    /// An interval: 30s, 5m, 1h30m, 2d
    #[arg(long)]
    every: Option<String>,
}

/// `--answer-to phone,mail`: channel names; "" or "none" for none.
fn channel_list(text: &str) -> Vec<String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    text.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect()
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// Schedule a prompt; prints its id and next run
    Add {
        #[arg(long)]
        prompt: String,
        #[command(flatten)]
        timing: Timing,
        /// IANA zone (default: yours)
        #[arg(long)]
        tz: Option<String>,
        /// Default: the agent named default
        #[arg(long)]
        agent: Option<String>,
        /// critical, high, normal, low, deferred
        #[arg(long)]
        priority: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// once (default), skip or all
        #[arg(long)]
        misfire: Option<String>,
        /// Stop firing after this instant or day
        #[arg(long)]
        until: Option<String>,
        /// Stop after this many firings
        #[arg(long)]
        count: Option<i32>,
        /// Do not ask a Letta server whether the agent exists
        #[arg(long)]
        skip_validation: bool,
        /// Send each answer to these channels: "phone,mail"
        #[arg(long, value_name = "CHANNELS")]
        answer_to: Option<String>,
    },
    /// Change a schedule: only the options given change
    Edit {
        id: i32,
        #[arg(long)]
        prompt: Option<String>,
        #[command(flatten)]
        timing: NewTiming,
        #[arg(long)]
        tz: Option<String>,
        #[arg(long)]
        agent: Option<String>,
        /// critical, high, normal, low, deferred
        #[arg(long)]
        priority: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// once, skip or all
        #[arg(long)]
        misfire: Option<String>,
        /// Stop firing after this instant or day ("none": no end)
        #[arg(long)]
        until: Option<String>,
        /// Stop after this many firings (0: no limit)
        #[arg(long)]
        count: Option<i32>,
        /// Send each answer to these channels: "phone,mail" ("" or "none": to none)
        #[arg(long, value_name = "CHANNELS")]
        answer_to: Option<String>,
    },
    /// List schedules (ended ones too with --all)
    List {
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Show one schedule
    Show { id: i32 },
    /// Pause a schedule
    Pause { id: i32 },
    /// Resume a schedule (from its next time after now)
    Resume { id: i32 },
    /// Delete a schedule (its run history stays)
    Cancel { id: i32 },
    /// Fire a schedule now
    Run { id: i32 },
    /// Print the next fire times, one per line, in UTC
    Preview {
        #[command(flatten)]
        timing: Timing,
        #[arg(long)]
        tz: Option<String>,
        /// Strictly after this instant (RFC 3339; default now)
        #[arg(long)]
        from: Option<String>,
        #[arg(long, default_value_t = 5)]
        count: usize,
    },
    /// Deliver what is due now, wait for it, and exit (for driving Steward from system cron)
    RunDue,
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Address to listen on [env: STEWARD_BIND] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it (only the token) once
    Create {
        #[arg(long)]
        name: String,
        /// What it may do, comma-separated: read, write, mcp, feed, metrics, admin [default: write,mcp]
        #[arg(long, value_name = "SCOPES")]
        scope: Option<String>,
        /// When it stops working: 30d, 12w, 1y, a day (2027-03-01) or never [default: never]
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
    },
    /// List tokens with their last use
    List,
    /// Revoke a token by name
    Revoke { name: String },
}

#[derive(Subcommand)]
enum TaskCommand {
    /// Add a task with the quick-add grammar: steward task add Call mom tomorrow 5pm +family p1
    Add {
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// List open tasks (all with --all)
    List {
        #[arg(long)]
        all: bool,
    },
    /// Complete a task (a recurring one gets its next occurrence)
    Done { id: i32 },
    /// Delete a task
    Rm { id: i32 },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import a todo.txt file
    Todotxt { file: PathBuf },
    /// Import an iCalendar (.ics) file: prints "N imported, M updated, K skipped"
    Ics {
        file: PathBuf,
        /// A calendar's name or id (default: your first calendar)
        #[arg(long)]
        calendar: Option<String>,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Export every task as todo.txt (to standard output without FILE)
    Todotxt { file: Option<PathBuf> },
    /// Export events as an iCalendar file (to standard output without FILE)
    Ics {
        file: Option<PathBuf>,
        #[arg(long)]
        calendar: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, None | Some(Command::Serve(_)));
    let json_logs = init_tracing(serving);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if serving && json_logs {
                // The server's stderr is its log: one JSON object per line, the last one too.
                tracing::error!(error = %e.public_message_for_cli(), "serving failed");
            } else {
                eprintln!("steward: {}", e.public_message_for_cli());
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// Logs to stderr, filtered by `STEWARD_LOG`; `STEWARD_LOG_FORMAT=json` writes one JSON object
/// per line instead of plain text. Returns whether the format is JSON.
fn init_tracing(serving: bool) -> bool {
    let default = if serving { "info,actix_server=warn" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STEWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let format = std::env::var("STEWARD_LOG_FORMAT").unwrap_or_default();
    let json = format.trim().eq_ignore_ascii_case("json");
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json {
        subscriber.json().try_init()
    } else {
        subscriber.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
    if !json && !["", "plain"].contains(&format.trim().to_ascii_lowercase().as_str()) {
        tracing::warn!(format, "STEWARD_LOG_FORMAT is neither plain nor json; logging plain text");
    }
    json
}

impl AppError {
    /// The CLI may show internal causes: the person running it owns the machine.
    fn public_message_for_cli(&self) -> String {
        match self {
            AppError::Internal(e) => format!("{e:#}"),
            other => other.to_string(),
        }
    }
}

fn run(cli: Cli) -> Result<(), AppError> {
    let config_file = cli.config.clone().or_else(|| std::env::var_os("STEWARD_CONFIG").map(PathBuf::from));
    let json = cli.json;
    let mut config = match (Config::load(config_file.as_deref(), |k| std::env::var(k).ok()), &cli.command) {
        // The doctor reports a configuration that does not load as one of its checks.
        (Err(e), Some(Command::Doctor { send_test, timeout, quick })) => {
            return doctor(
                Err(e),
                config_file.as_deref(),
                doctor_options(*send_test, *timeout, *quick),
                json,
            );
        }
        (loaded, _) => loaded?,
    };
    if let Some(db) = cli.db {
        config.db = db;
    }
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            if let Some(bind) = args.bind {
                config.bind = bind;
            }
            serve(config)
        }
        Command::Passwd { reset_2fa: true, .. } => reset_two_factor(&config, json),
        Command::Passwd { password_stdin, .. } => {
            let (password, confirm) = read_password(password_stdin)?;
            let db = open(&config)?;
            auth::set_password(&mut *conn(&db)?, &password, &confirm, None)?;
            println!("Password set. Every session was signed out.");
            Ok(())
        }
        Command::Token(cmd) => token(&config, cmd, json),
        Command::Task(cmd) => {
            let done = task(&config, cmd, json);
            // A task's new due date armed a reminder the server's scheduler must see at once.
            if crate::services::take_wake_request() {
                crate::scheduler::poke_from_outside(&config.db);
            }
            done
        }
        Command::Import(ImportCommand::Todotxt { file }) => {
            let bytes = std::fs::read(&file)
                .map_err(|e| AppError::invalid("FILE", format!("cannot read {}: {e}", file.display())))?;
            let db = open(&config)?;
            let mut conn = conn(&db)?;
            let ctx = ctx(&config, &mut conn)?;
            let report = service::import_todotxt(&mut conn, &ctx, &bytes)?;
            if json {
                return print_json(&report);
            }
            for (line, problem) in &report.problems {
                eprintln!("{}:{line}: {problem} (line kept as written)", file.display());
            }
            println!("Imported {} tasks.", report.imported);
            Ok(())
        }
        Command::Export(ExportCommand::Todotxt { file }) => {
            let db = open(&config)?;
            let text = service::export_todotxt(&mut *conn(&db)?)?;
            match file {
                Some(path) => std::fs::write(&path, text)
                    .map_err(|e| AppError::invalid("FILE", format!("cannot write {}: {e}", path.display()))),
                None => {
                    std::io::stdout().write_all(text.as_bytes()).map_err(|e| AppError::Internal(e.into()))
                }
            }
        }
        Command::Import(ImportCommand::Ics { file, calendar }) => {
            calendar::import_ics(&config, file, calendar, json)
        }
        Command::Export(ExportCommand::Ics { file, calendar }) => {
            calendar::export_ics(&config, file, calendar)
        }
        Command::Event(cmd) => calendar::event(&config, cmd, json),
        Command::Agent(cmd) => agent(&config, cmd, json),
        Command::Channel(cmd) => channel(&config, cmd, json),
        Command::Agents { letta } => {
            let db = open(&config)?;
            let a = crate::agents::get(&mut *conn(&db)?, &config, &letta)?;
            if a.kind != crate::agents::AgentKind::Letta {
                return Err(AppError::invalid(
                    "--letta",
                    format!("{letta:?} is a {} agent, not letta", a.kind.as_str()),
                ));
            }
            let http = http_client();
            let list = block_on(async { crate::agents::letta::agents(&http, &a).await })?
                .map_err(|m| AppError::invalid("--letta", m))?;
            if json {
                let list: Vec<_> =
                    list.iter().map(|(id, name)| serde_json::json!({"id": id, "name": name})).collect();
                return print_json(&serde_json::json!({ "agents": list }));
            }
            for (id, name) in list {
                println!("{id}  {name}");
            }
            Ok(())
        }
        Command::Schedule(cmd) => schedule(&config, cmd, json),
        Command::Feed(cmd) => feed::run(&config, cmd, json),
        Command::Runs { schedule, state, limit } => {
            let db = open(&config)?;
            let mut conn = conn(&db)?;
            let filter = crate::runs::RunFilter { schedule, state, limit: Some(limit), cursor: None };
            let (page, _) = crate::runs::list(&mut conn, &filter)?;
            let names = crate::runs::schedule_names(&mut conn, &page)?;
            let views: Vec<_> = page
                .iter()
                .map(|r| r.view(r.schedule_id.and_then(|s| names.get(&s).cloned()), None))
                .collect();
            if json {
                return print_json(&serde_json::json!({ "runs": views }));
            }
            for v in views {
                let late = v.lateness_ms.map(|l| format!("{l} ms late")).unwrap_or_default();
                println!(
                    "{:>6}  {:<9} {}  {:<20} {:<12} {}",
                    v.id,
                    v.state,
                    v.scheduled_for,
                    truncate(v.schedule_name.as_deref().unwrap_or("(trigger)"), 20),
                    late,
                    v.error.as_deref().map(|e| truncate(e, 60)).unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Backup { path, keep } => {
            if keep == Some(0) {
                return Err(AppError::invalid("keep", "--keep 0 would delete every backup; keep at least 1"));
            }
            if keep.is_some() {
                std::fs::create_dir_all(&path)
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("creating {}: {e}", path.display())))?;
            }
            let dir = path.is_dir().then(|| path.clone());
            let file = match &dir {
                Some(dir) => dir.join(db::backup::file_name(SystemClock.now())),
                None => path,
            };
            let db = open(&config)?;
            db::backup(&mut *conn(&db)?, &file)?;
            let removed = match (keep, &dir) {
                (Some(keep), Some(dir)) => db::backup::rotate(dir, keep)?,
                _ => Vec::new(),
            };
            if json {
                return print_json(&serde_json::json!({ "backup": file, "removed": removed }));
            }
            println!("Backed up to {}", file.display());
            for old in removed {
                println!("Removed the older backup {}", old.display());
            }
            Ok(())
        }
        Command::Doctor { send_test, timeout, quick } => {
            doctor(Ok(config), config_file.as_deref(), doctor_options(send_test, timeout, quick), json)
        }
        Command::Restore { file } => {
            let restored = db::backup::restore(&config.db, &file, SystemClock.now())?;
            if json {
                return print_json(&serde_json::json!({ "restored": file, "previous": restored.previous }));
            }
            println!("Restored {} from {}", config.db.display(), file.display());
            if let Some(previous) = restored.previous {
                println!("The database it replaced is kept as {}", previous.display());
            }
            Ok(())
        }
    }
}

fn doctor_options(send_test: bool, timeout: u64, quick: bool) -> crate::doctor::Options {
    crate::doctor::Options { send_test, timeout: std::time::Duration::from_secs(timeout.max(1)), quick }
}

/// `steward doctor`: one line per check (or `{"checks": [...]}`), exit 1 when one failed.
fn doctor(
    loaded: Result<Config, AppError>,
    config_file: Option<&std::path::Path>,
    options: crate::doctor::Options,
    json: bool,
) -> Result<(), AppError> {
    let checks = block_on(crate::doctor::diagnose(loaded, config_file, &options, SystemClock.now()))?;
    if json {
        print_json(&serde_json::json!({ "checks": checks }))?;
    } else {
        for c in &checks {
            let fix = c.fix.as_deref().map(|f| format!(" → {f}")).unwrap_or_default();
            println!("{:<4}  {}: {}{fix}", c.status.as_str(), c.name, c.message);
        }
    }
    let count = |s| checks.iter().filter(|c| c.status == s).count();
    let (failed, warned) = (count(crate::doctor::Status::Fail), count(crate::doctor::Status::Warn));
    if !json {
        println!("{} checks: {failed} failed, {warned} to look at.", checks.len());
    }
    if crate::doctor::any_failed(&checks) {
        return Err(AppError::Internal(anyhow::anyhow!("{failed} check(s) failed")));
    }
    Ok(())
}

fn serve(config: Config) -> Result<(), AppError> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config).await?;
        app.stop_on_signals().map_err(|e| AppError::Internal(e.into()))?;
        println!("Steward is serving on {}", app.url());
        if let Some(port) = app.http_port() {
            println!("Plain HTTP on port {port} redirects to it.");
        }
        if let Some(setup) = app.setup_url() {
            println!();
            println!("No password is set yet. Open this one-time link to choose one:");
            println!();
            println!("    {setup}");
            println!();
        }
        let _ = std::io::stdout().flush();
        app.run_until_stopped().await.map_err(|e| AppError::Internal(e.into()))
    })
}

fn open(config: &Config) -> Result<Db, AppError> {
    Ok(Db::open(&config.db)?)
}

fn conn(db: &Db) -> Result<db::PooledConn, AppError> {
    Ok(db.conn()?)
}

/// The person acting from the command line, now.
fn ctx(config: &Config, conn: &mut db::Conn) -> Result<Ctx, AppError> {
    Ok(Ctx { now: SystemClock.now(), tz: db::settings::person_zone(conn, config)?, actor: Actor::Person })
}

/// The services for a command that delivers or reaches agents, on the machine's clock.
fn services(db: &Db, config: &Config) -> Services {
    Services::new(db.clone(), config.clone(), Arc::new(SystemClock))
}

fn print_json(value: &impl Serialize) -> Result<(), AppError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| AppError::Internal(e.into()))?;
    println!("{text}");
    Ok(())
}

/// `steward passwd --reset-2fa`: turns the second factor off and says what that removed.
fn reset_two_factor(config: &Config, json: bool) -> Result<(), AppError> {
    let db = open(config)?;
    let done = crate::auth::totp::reset(&mut *conn(&db)?)?;
    if json {
        return print_json(&done);
    }
    if !done.was_enabled {
        println!("Two-factor authentication was already off; nothing changed.");
        return Ok(());
    }
    let since = done
        .enabled_at
        .map(|t| format!(" (on since {})", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    println!("Two-factor authentication is now off{since}: signing in asks only for the password.");
    println!(
        "Removed its secret and {} unused recovery code(s); {} sign-in(s) waiting for a code must start again.",
        done.recovery_codes_removed, done.pending_logins_removed
    );
    println!("Turn it on again under Settings → Two-factor authentication (it needs a new QR code).");
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<(String, String), AppError> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| AppError::invalid("--password-stdin", format!("cannot read standard input: {e}")))?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        return Ok((password.clone(), password));
    }
    if !std::io::stdin().is_terminal() {
        return Err(AppError::invalid("passwd", "standard input is not a terminal; use --password-stdin"));
    }
    let read = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|e| AppError::invalid("passwd", format!("cannot read the password: {e}")))
    };
    Ok((read("New password: ")?, read("Repeat it: ")?))
}

fn token(config: &Config, cmd: TokenCommand, json: bool) -> Result<(), AppError> {
    let db = open(config)?;
    let mut conn = conn(&db)?;
    match cmd {
        TokenCommand::Create { name, scope, expires } => {
            let now = SystemClock.now();
            let scopes = match &scope {
                Some(text) => crate::auth::scopes::Scopes::parse(text)?,
                None => crate::auth::scopes::Scopes::default_for_cli(),
            };
            let expires_at = tokens::parse_expiry(expires.as_deref().unwrap_or(""), now)?;
            let new = tokens::NewToken { name, scopes, expires_at };
            let (secret, token) = tokens::create(&mut conn, &new, now)?;
            if json {
                return print_json(&serde_json::json!({
                    "name": token.name,
                    "token": secret,
                    "scopes": token.scopes(),
                    "expires_at": token.expires(),
                }));
            }
            // Only the token on stdout (for scripts); what it may do on stderr.
            let may = token.scopes().names().join(",");
            let until = token
                .expires()
                .map(|t| format!(", until {}", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            if scope.is_none() {
                eprintln!(
                    "No --scope given: this token may use write,mcp{until} (add --scope read, admin, … to choose)."
                );
            } else {
                eprintln!("This token may use {may}{until}.");
            }
            println!("{secret}");
            Ok(())
        }
        TokenCommand::List => {
            let list = tokens::list(&mut conn)?;
            if json {
                return print_json(&list);
            }
            for t in list {
                let used = t.last_used_at.map(|u| format!("{u} UTC")).unwrap_or_else(|| "never".into());
                let ends = t
                    .expires()
                    .map(|e| format!(", expires {}", e.format("%Y-%m-%d %H:%M UTC")))
                    .unwrap_or_default();
                let scopes = t.scopes().names().join(",");
                println!(
                    "{:<24} {:<12} {scopes:<16} created {} UTC, last used {used}{ends}",
                    t.name, t.hint, t.created_at
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { name } => {
            tokens::revoke(&mut conn, &name)?;
            println!("Revoked {name}.");
            Ok(())
        }
    }
}

fn task(config: &Config, cmd: TaskCommand, json: bool) -> Result<(), AppError> {
    let db = open(config)?;
    let mut conn = conn(&db)?;
    let ctx = ctx(config, &mut conn)?;
    match cmd {
        TaskCommand::Add { text } => {
            let task = service::add_text(&mut conn, &ctx, &text.join(" "))?;
            if json {
                return print_json(&task.view(ctx.tz));
            }
            println!("Added {}", describe(&task));
            Ok(())
        }
        TaskCommand::List { all } => {
            let filter =
                Filter { status: Some(if all { "all" } else { "open" }.into()), ..Filter::default() };
            let mut tasks = Vec::new();
            let mut cursor = None;
            loop {
                let (page, next) = query::page(&mut conn, &filter, 500, cursor)?;
                tasks.extend(page);
                match next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            if json {
                let views: Vec<_> = tasks.iter().map(|t| t.view(ctx.tz)).collect();
                return print_json(&serde_json::json!({ "tasks": views }));
            }
            for t in &tasks {
                println!("{}", describe(t));
            }
            Ok(())
        }
        TaskCommand::Done { id } => {
            let (task, next) = service::set_done(&mut conn, &ctx, id, true)?;
            if json {
                return print_json(
                    &serde_json::json!({ "task": task.view(ctx.tz), "next": next.map(|n| n.view(ctx.tz)) }),
                );
            }
            println!("Done {}", describe(&task));
            if let Some(next) = next {
                println!("Next {}", describe(&next));
            }
            Ok(())
        }
        TaskCommand::Rm { id } => {
            service::delete(&mut conn, &ctx, id)?;
            if json {
                return print_json(&serde_json::json!({ "deleted": id }));
            }
            println!("Deleted {id}.");
            Ok(())
        }
    }
}

/// Runs async work (HTTP checks, the scheduler) from a CLI command.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> Result<T, AppError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(rt.block_on(f))
}

fn truncate(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > max || line.len() < text.len() {
        format!("{}…", line.chars().take(max.saturating_sub(1)).collect::<String>())
    } else {
        line.to_string()
    }
}

fn agent(config: &Config, cmd: AgentCommand, json: bool) -> Result<(), AppError> {
    use crate::agents;
    let db = open(config)?;
    let mut conn = conn(&db)?;
    match cmd {
        AgentCommand::Add { name, kind, settings, argv } => {
            let mut input = settings.input(Some(name), Some(kind), Some(argv));
            let http = http_client();
            block_on(agents::letta::settle(&http, &mut input, None))??;
            let a = agents::add(&mut conn, SystemClock.now(), input, Actor::Person)?;
            if json {
                return print_json(&a.view());
            }
            println!("Added agent {} ({}).", a.name, a.kind.as_str());
            Ok(())
        }
        AgentCommand::Edit { name, settings } => {
            let mut input = settings.input(None, None, None);
            // A Letta agent's name is looked up and its id checked, as on the page and the API.
            let current = agents::get(&mut conn, config, &name).ok();
            block_on(agents::letta::settle(&http_client(), &mut input, current.as_ref()))??;
            let (a, dropped) =
                agents::update_noting(&mut conn, config, SystemClock.now(), &name, input, Actor::Person)?;
            if json {
                return print_json(&a.view());
            }
            println!("Saved agent {}; others who may send prompts to it: {}.", a.name, a.open_to.describe());
            if let Some(note) = agents::dropped_note(&dropped) {
                println!("{note}");
            }
            Ok(())
        }
        AgentCommand::List => {
            let list = agents::list(&mut conn, config)?;
            if json {
                let views: Vec<_> = list.iter().map(agents::Agent::view).collect();
                return print_json(&serde_json::json!({ "agents": views }));
            }
            for a in list {
                let v = a.view();
                let target = v.url.or(v.argv.map(|a| a.join(" "))).unwrap_or_default();
                let builtin = if a.builtin { " (built in)" } else { "" };
                println!("{:<20} {:<8} {}{builtin}", a.name, a.kind.as_str(), target);
            }
            Ok(())
        }
        AgentCommand::Rm { name } => {
            agents::remove(&mut conn, config, &name)?;
            println!("Removed agent {name}.");
            Ok(())
        }
        AgentCommand::Check { name } => {
            let a = agents::get(&mut conn, config, &name)?;
            let http = http_client();
            let result = block_on(async { agents::deliver::check(&http, &a).await })?;
            if json {
                let (ok, message) = match &result {
                    Ok(m) => (true, m),
                    Err(m) => (false, m),
                };
                print_json(&serde_json::json!({ "agent": name, "ok": ok, "message": message }))?;
            }
            match result {
                Ok(m) => {
                    if !json {
                        println!("{name}: OK: {m}");
                    }
                    Ok(())
                }
                Err(m) => Err(AppError::Internal(anyhow::anyhow!("{name}: {m}"))),
            }
        }
    }
}

fn schedule(config: &Config, cmd: ScheduleCommand, json: bool) -> Result<(), AppError> {
    use crate::schedules::{self, ScheduleInput, service};
    let db = open(config)?;
    let mut conn = conn(&db)?;
    let ctx = ctx(config, &mut conn)?;
    let show = |s: &schedules::Schedule| {
        let next = s
            .next_fire()
            .map(|n| format!("next {}", n.with_timezone(&s.zone()).format("%Y-%m-%d %H:%M %Z")))
            .unwrap_or_else(|| s.status().to_string());
        format!("{:>5}  {:<24} {:<10} {}; {}", s.id, truncate(&s.name, 24), s.agent, s.describe(), next)
    };
    let changed = |s: &schedules::Schedule| -> Result<(), AppError> {
        crate::scheduler::poke_from_outside(&config.db);
        if json {
            return print_json(&s.view(None));
        }
        println!("{}", show(s));
        Ok(())
    };
    match cmd {
        ScheduleCommand::Add {
            prompt,
            timing,
            tz,
            agent,
            priority,
            name,
            misfire,
            until,
            count,
            skip_validation,
            answer_to,
        } => {
            let input = ScheduleInput {
                name,
                prompt: Some(prompt),
                agent,
                when: timing.when,
                at: timing.at,
                cron: timing.cron,
                every: timing.every,
                tz,
                priority,
                misfire,
                until: until.map(Some),
                count: count.map(Some),
                skip_validation: Some(skip_validation),
                answer_to: answer_to.as_deref().map(channel_list),
                ..ScheduleInput::default()
            };
            let s = block_on(service::create_checked(&services(&db, config), Actor::Person, input))??;
            crate::scheduler::poke_from_outside(&config.db);
            if json {
                return print_json(&s.view(None));
            }
            let next = s.next_fire().map(schedules::rfc3339).unwrap_or_default();
            println!("Scheduled {} (next run {next}): {}", s.id, s.describe());
            Ok(())
        }
        ScheduleCommand::Edit {
            id,
            prompt,
            timing,
            tz,
            agent,
            priority,
            name,
            misfire,
            until,
            count,
            answer_to,
        } => {
            let input = ScheduleInput {
                name,
                prompt,
                agent,
                when: timing.when,
                at: timing.at,
                cron: timing.cron,
                every: timing.every,
                tz,
                priority,
                misfire,
                until: until.map(|u| Some(u).filter(|u| !u.trim().eq_ignore_ascii_case("none"))),
                count: count.map(|c| Some(c).filter(|c| *c != 0)),
                answer_to: answer_to.as_deref().map(channel_list),
                ..ScheduleInput::default()
            };
            changed(&service::update(&mut conn, &ctx, config, id, &input)?)
        }
        ScheduleCommand::List { agent, all } => {
            let list = service::list(&mut conn, agent.as_deref(), all)?;
            if json {
                let ids: Vec<i32> = list.iter().map(|s| s.id).collect();
                let mut last = service::last_runs(&mut conn, &ids)?;
                let views: Vec<_> = list.iter().map(|s| s.view(last.remove(&s.id))).collect();
                return print_json(&serde_json::json!({ "schedules": views }));
            }
            for s in &list {
                println!("{}  {}", show(s), truncate(&s.prompt, 40));
            }
            Ok(())
        }
        ScheduleCommand::Show { id } => {
            let s = schedules::get(&mut conn, id)?;
            let mut last = service::last_runs(&mut conn, &[id])?;
            let view = s.view(last.remove(&id));
            if json {
                return print_json(&view);
            }
            let text = serde_json::to_string_pretty(&view).map_err(|e| AppError::Internal(e.into()))?;
            println!("{text}");
            Ok(())
        }
        ScheduleCommand::Pause { id } => changed(&service::set_active(&mut conn, &ctx, config, id, false)?),
        ScheduleCommand::Resume { id } => changed(&service::set_active(&mut conn, &ctx, config, id, true)?),
        ScheduleCommand::Cancel { id } => {
            service::delete(&mut conn, &ctx, id)?;
            crate::scheduler::poke_from_outside(&config.db);
            if json {
                return print_json(&serde_json::json!({ "cancelled": id }));
            }
            println!("Cancelled schedule {id}.");
            Ok(())
        }
        ScheduleCommand::Run { id } => {
            let run = service::run_now(&mut conn, &ctx, id)?;
            crate::scheduler::poke_from_outside(&config.db);
            if json {
                return print_json(&run.view(None, None));
            }
            println!("Queued run {} ({}).", run.id, run.idempotency_key);
            Ok(())
        }
        ScheduleCommand::Preview { timing, tz, from, count } => {
            use crate::schedules::spec::Kind;
            let tz = match tz {
                Some(z) => crate::config::parse_zone("--tz", &z)?,
                None => ctx.tz,
            };
            let from = match from {
                Some(f) => chrono::DateTime::parse_from_rfc3339(f.trim())
                    .map_err(|e| AppError::invalid("--from", format!("{f:?} is not RFC 3339: {e}")))?
                    .with_timezone(&chrono::Utc),
                None => ctx.now,
            };
            let times = match (timing.when, timing.at, timing.cron, timing.every) {
                (Some(t), ..) => {
                    let spec = crate::schedules::spec::Spec::from_phrase(&t, from.with_timezone(&tz))?;
                    spec.preview(from, tz, from, count.clamp(1, 1000))
                }
                (_, Some(t), _, _) => service::preview(Kind::Once, &t, tz, from, count)?,
                (_, _, Some(t), _) => service::preview(Kind::Cron, &t, tz, from, count)?,
                (_, _, _, Some(t)) => service::preview(Kind::Interval, &t, tz, from, count)?,
                _ => return Err(AppError::invalid("--when", "give one of --when, --at, --cron or --every")),
            };
            if json {
                let list: Vec<_> = times
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "utc": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                            "local": t.with_timezone(&tz).to_rfc3339(),
                        })
                    })
                    .collect();
                return print_json(&serde_json::json!({ "tz": tz.name(), "times": list }));
            }
            for t in times {
                println!("{}", t.format("%Y-%m-%dT%H:%M:%SZ"));
            }
            Ok(())
        }
        ScheduleCommand::RunDue => {
            drop(conn);
            let services = services(&db, config);
            let chat = crate::chat::engine::Chat::new(services.clone());
            let (scheduler, _handle) = crate::scheduler::Scheduler::new(services, Arc::new(chat));
            let summary = block_on(scheduler.run_due_once())??;
            if json {
                return print_json(&summary);
            }
            println!(
                "Delivered {} run(s): {} succeeded, {} will retry, {} failed.",
                summary.delivered, summary.succeeded, summary.retrying, summary.failed
            );
            Ok(())
        }
    }
}

/// `12  (A) Call mom +family @phone due:2026-11-23T17:00+01:00`: the id and the todo.txt line.
fn describe(task: &Task) -> String {
    format!("{:>5}  {}", task.id, task.line().to_line())
}

/// `chat,mcp` or `chat mcp` as a list.
fn split_list(text: &str) -> Vec<String> {
    text.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect()
}

// --- channels: `steward channel add|list|test|rm` ---

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)]
enum ChannelCommand {
    /// Add a channel: steward channel add phone --kind ntfy --url https://ntfy.sh --topic my-steward.
    /// Its secret (ntfy token, Telegram bot token, Discord webhook URL, SMTP password, webhook
    /// secret) comes from STEWARD_CHANNEL_SECRET, so that it stays out of the process list.
    Add {
        name: String,
        /// ntfy, telegram, discord, email, webhook or webpush (a browser: the Channels page's
        /// "Enable push on this browser" adds it)
        #[arg(long)]
        kind: String,
        /// ntfy: the server; webhook: the target URL
        #[arg(long)]
        url: Option<String>,
        /// ntfy: the topic
        #[arg(long)]
        topic: Option<String>,
        /// telegram: the chat id
        #[arg(long)]
        chat_id: Option<String>,
        /// telegram: the Bot API's address (default https://api.telegram.org)
        #[arg(long)]
        api_base: Option<String>,
        #[arg(long)]
        smtp_host: Option<String>,
        #[arg(long)]
        smtp_port: Option<u16>,
        /// email: none (localhost only), starttls or tls
        #[arg(long)]
        tls: Option<String>,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// webpush: the subscription's endpoint
        #[arg(long)]
        endpoint: Option<String>,
        /// webpush: the subscription's keys.p256dh (its keys.auth is the secret)
        #[arg(long)]
        p256dh: Option<String>,
        /// What it receives, comma-separated (default: everything): reminders, run_failures,
        /// notify, briefings, answers
        #[arg(long)]
        receives: Option<String>,
        /// The kind's secret [env: STEWARD_CHANNEL_SECRET]
        #[arg(long, env = "STEWARD_CHANNEL_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// List channels (secrets show as set or not set)
    List,
    /// Send a test message to a channel now
    Test { name: String },
    /// Remove a channel
    Rm { name: String },
}

fn channel(config: &Config, cmd: ChannelCommand, json: bool) -> Result<(), AppError> {
    use crate::notify::{self, ChannelInput};
    let db = open(config)?;
    let mut conn = conn(&db)?;
    match cmd {
        ChannelCommand::Add {
            name,
            kind,
            url,
            topic,
            chat_id,
            api_base,
            smtp_host,
            smtp_port,
            tls,
            username,
            from,
            to,
            endpoint,
            p256dh,
            receives,
            secret,
        } => {
            let mut input = ChannelInput {
                name: Some(name),
                url,
                topic,
                chat_id,
                api_base,
                smtp_host,
                smtp_port,
                tls,
                username,
                from,
                to,
                endpoint,
                p256dh,
                receives: receives.map(|r| split_list(&r)),
                ..ChannelInput::default()
            };
            match kind.as_str() {
                "ntfy" => input.token = secret,
                "telegram" => input.bot_token = secret,
                "discord" => input.webhook_url = secret,
                "email" => input.password = secret,
                "webpush" => input.auth = secret,
                _ => input.secret = secret,
            }
            input.kind = Some(kind);
            let ch = notify::add(&mut conn, SystemClock.now(), input)?;
            if json {
                return print_json(&ch.view());
            }
            println!("Added channel {} ({}); it receives {}.", ch.name, ch.kind, ch.receives.join(", "));
            Ok(())
        }
        ChannelCommand::List => {
            let list = notify::list(&mut conn)?;
            if json {
                return print_json(&list.iter().map(notify::Channel::view).collect::<Vec<_>>());
            }
            if list.is_empty() {
                println!(
                    "No channels yet: steward channel add NAME --kind ntfy|telegram|discord|email|webhook"
                );
            }
            for ch in list {
                let secret = if ch.secret.is_some() { "set" } else { "not set" };
                println!(
                    "{}\t{}\t{} {secret}\treceives {}",
                    ch.name,
                    ch.kind,
                    notify::secret_field(&ch.kind),
                    ch.receives.join(", ")
                );
            }
            Ok(())
        }
        ChannelCommand::Test { name } => {
            let now = crate::clock::Clock::now(&crate::clock::SystemClock);
            let ch = notify::get_to_send(&mut conn, &name, config.public_url.as_deref(), now)?;
            let http = http_client();
            let outcome = block_on(notify::test(&http, &ch, config.public_url.as_deref()))?;
            if json {
                let (ok, message) = match &outcome {
                    Ok(m) => (true, m.clone()),
                    Err(m) => (false, m.clone()),
                };
                print_json(&serde_json::json!({ "channel": ch.name, "ok": ok, "message": message }))?;
            }
            match outcome {
                Ok(m) => {
                    if !json {
                        println!("{m}");
                    }
                    Ok(())
                }
                Err(m) => Err(AppError::invalid("channel", format!("the test of {name} failed: {m}"))),
            }
        }
        ChannelCommand::Rm { name } => {
            notify::remove(&mut conn, &name)?;
            if json {
                return print_json(&serde_json::json!({ "removed": name }));
            }
            println!("Removed channel {name}.");
            Ok(())
        }
    }
}
// --- end channels ---
