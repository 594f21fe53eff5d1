//! `steward feed create|list|revoke`: the calendar subscription feeds.

use clap::Subcommand;

use super::{conn, open, print_json};
use crate::calendar::feeds::{self, FeedOptions};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::AppError;

#[derive(Subcommand)]
pub enum FeedCommand {
    /// Make a feed and print its address (shown once: only a hash of its token is kept)
    Create {
        #[arg(long)]
        name: String,
        /// Also publish tasks with a due date
        #[arg(long)]
        tasks: bool,
        /// Also publish the coming firings of scheduled prompts
        #[arg(long)]
        schedules: bool,
        /// How many days of firings to publish (default 14)
        #[arg(long, value_name = "DAYS")]
        schedule_days: Option<i32>,
    },
    /// List feeds with their last use
    List,
    /// Revoke a feed by name or id: its address answers 404 from then on
    Revoke { name: String },
}

pub fn run(config: &Config, cmd: FeedCommand, json: bool) -> Result<(), AppError> {
    let db = open(config)?;
    let mut conn = conn(&db)?;
    match cmd {
        FeedCommand::Create { name, tasks, schedules, schedule_days } => {
            let options = FeedOptions { include_tasks: tasks, include_schedules: schedules, schedule_days };
            let (token, feed) = feeds::create(&mut conn, &name, &options, SystemClock.now())?;
            let url = feeds::url(config, &token);
            if json {
                return print_json(&serde_json::json!({ "feed": feed.view(), "url": url }));
            }
            println!("{url}");
            if config.public_url.is_none() {
                eprintln!(
                    "Note: STEWARD_PUBLIC_URL is not set, so the address uses the bind address ({}); \
                     set it to the address your phone reaches Steward at.",
                    config.bind
                );
            }
            Ok(())
        }
        FeedCommand::List => {
            let list: Vec<_> = feeds::list(&mut conn)?.iter().map(feeds::Feed::view).collect();
            if json {
                return print_json(&serde_json::json!({ "feeds": list }));
            }
            if list.is_empty() {
                println!("No feeds. Make one with: steward feed create --name Phone");
            }
            for f in list {
                let mut with = Vec::new();
                if f.include_tasks {
                    with.push("tasks".to_string());
                }
                if f.include_schedules {
                    with.push(format!("schedules ({} days)", f.schedule_days));
                }
                let with = if with.is_empty() { String::new() } else { format!(" + {}", with.join(", ")) };
                let used = f.last_used_at.as_deref().unwrap_or("never");
                println!(
                    "{:>4}  {:<24} {:<10} events{with}; created {}, last fetched {used}",
                    f.id, f.name, f.hint, f.created_at
                );
            }
            Ok(())
        }
        FeedCommand::Revoke { name } => {
            let feed = feeds::revoke(&mut conn, &name)?;
            if json {
                return print_json(&serde_json::json!({ "revoked": feed.view() }));
            }
            println!("Revoked {}. Its address now answers 404.", feed.name);
            Ok(())
        }
    }
}
