//! The `steward` command line. Every command calls the same service functions as the pages and
//! the API. Exit codes: 0 success, 2 bad input (with a one-line message on stderr), 1 otherwise.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::app::Application;
use crate::auth::{self, tokens};
use crate::config::Config;
use crate::db::{self, Db};
use crate::error::AppError;
use crate::tasks::{Ctx, Filter, Task, query, service};

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
    },
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage tasks
    #[command(subcommand)]
    Task(TaskCommand),
    /// Import tasks
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export tasks
    #[command(subcommand)]
    Export(ExportCommand),
    /// Write a consistent copy of the live database to PATH (safe while the server runs)
    Backup { path: PathBuf },
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
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Export every task as todo.txt (to standard output without FILE)
    Todotxt { file: Option<PathBuf> },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, None | Some(Command::Serve(_)));
    init_tracing(serving);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("steward: {}", e.public_message_for_cli());
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn init_tracing(serving: bool) {
    let default = if serving { "info,actix_server=warn" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STEWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
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
    let mut config = Config::load(config_file.as_deref(), |k| std::env::var(k).ok())?;
    if let Some(db) = cli.db {
        config.db = db;
    }
    let json = cli.json;
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            if let Some(bind) = args.bind {
                config.bind = bind;
            }
            serve(config)
        }
        Command::Passwd { password_stdin } => {
            let (password, confirm) = read_password(password_stdin)?;
            let db = open(&config)?;
            auth::set_password(&mut *conn(&db)?, &password, &confirm, None)?;
            println!("Password set. Every session was signed out.");
            Ok(())
        }
        Command::Token(cmd) => token(&config, cmd, json),
        Command::Task(cmd) => task(&config, cmd, json),
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
        Command::Backup { path } => {
            let db = open(&config)?;
            db::backup(&mut *conn(&db)?, &path)?;
            if json {
                return print_json(&serde_json::json!({ "backup": path }));
            }
            println!("Backed up to {}", path.display());
            Ok(())
        }
    }
}

fn serve(config: Config) -> Result<(), AppError> {
    actix_web::rt::System::new().block_on(async move {
        let public = config.public_url.clone();
        let app = Application::build(config).await?;
        app.stop_on_signals().map_err(|e| AppError::Internal(e.into()))?;
        let url = public.unwrap_or_else(|| format!("http://127.0.0.1:{}", app.port()));
        println!("Steward is serving on {url}");
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

fn ctx(config: &Config, conn: &mut db::Conn) -> Result<Ctx, AppError> {
    Ok(Ctx { now: chrono::Utc::now(), tz: crate::settings::person_zone(conn, config)?, by: "person" })
}

fn print_json(value: &impl Serialize) -> Result<(), AppError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| AppError::Internal(e.into()))?;
    println!("{text}");
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
        TokenCommand::Create { name } => {
            let (secret, token) = tokens::create(&mut conn, &name, chrono::Utc::now())?;
            if json {
                return print_json(&serde_json::json!({ "name": token.name, "token": secret }));
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
                println!("{:<24} {:<12} created {} UTC, last used {used}", t.name, t.hint, t.created_at);
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

/// `12  (A) Call mom +family @phone due:2026-11-23T17:00+01:00`: the id and the todo.txt line.
fn describe(task: &Task) -> String {
    format!("{:>5}  {}", task.id, task.line().to_line())
}
