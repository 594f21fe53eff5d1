//! What every rule needs, in one place: [`Services`] (the store, the clock, the configuration,
//! the event hub, the scheduler's wake-up, one HTTP client and the metrics) and the acting
//! context [`Ctx`] (who acts, now, in which zone).
//!
//! This is a leaf: it imports nothing above the store, so the domain modules, the tools, the
//! chat engine, the scheduler and every door (web, API, CLI, MCP) can all take it. The app
//! builds one in `app.rs` and hands out clones (every field is a cheap handle).
//!
//! Time convention: instants are stored in UTC. Every table since the scheduler's (and every new
//! one) keeps them as whole milliseconds since the Unix epoch in a `BIGINT` column named `*_at`
//! (see [`crate::clock::to_ms`]); the first tables (sessions, API tokens, tasks) keep diesel's
//! `TIMESTAMP` text. Values cross into views and JSON as `DateTime<Utc>`, never as strings.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::{Conn, Db};
use crate::error::AppError;
use crate::events::Events;
use crate::metrics::Metrics;

/// Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// Live events for open pages.
    pub events: Events,
    /// Tells the scheduler that schedules or runs changed.
    pub wake: Wake,
    /// The one HTTP client for agents, checks and chat.
    pub http: reqwest::Client,
    /// What `GET /metrics` shows: this app's counters and histograms.
    pub metrics: Metrics,
}

impl Services {
    pub fn new(db: Db, config: Config, clock: Arc<dyn Clock>) -> Services {
        let metrics = Metrics::new(db.pool_waits());
        Services {
            db,
            config,
            clock,
            events: Events::default(),
            wake: Wake::default(),
            http: http_client(),
            metrics,
        }
    }

    /// The person's zone: the Settings page's choice, else the configured or machine zone.
    pub fn zone(&self, conn: &mut Conn) -> Result<Tz, AppError> {
        crate::db::settings::person_zone(conn, &self.config)
    }

    /// The context of `actor` acting now, read inside a blocking database closure.
    pub fn ctx(&self, conn: &mut Conn, actor: Actor) -> Result<Ctx, AppError> {
        Ok(Ctx { now: self.clock.now(), tz: self.zone(conn)?, actor })
    }

    /// Runs service work on the blocking pool as `actor`, with its context read in the same trip.
    pub async fn run_as<T, F>(&self, actor: Actor, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn, &Ctx) -> Result<T, AppError> + Send + 'static,
    {
        let (config, now) = (self.config.clone(), self.clock.now());
        let (result, rearmed) = self
            .db
            .run(move |conn| {
                let tz = crate::db::settings::person_zone(conn, &config)?;
                let result = f(conn, &Ctx { now, tz, actor });
                Ok((result, take_wake_request()))
            })
            .await?;
        // A reminder armed or moved: the scheduler may be asleep past its new instant.
        if rearmed {
            self.wake.poke();
        }
        result
    }
}

/// The one HTTP client: no proxy (agents are usually on loopback or the LAN), a connect
/// timeout, and a pool large enough for the scheduler's workers.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(10))
        .pool_max_idle_per_host(64)
        .user_agent(concat!("Steward/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

thread_local! {
    /// Set by a service that armed or moved scheduler work on this (database) thread, deep in a
    /// call that has no [`Wake`] at hand; [`Services::run_as`] then wakes the scheduler.
    static WAKE_REQUESTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Asks for the scheduler to be woken when the current [`Services::run_as`] call ends.
pub fn request_wake() {
    WAKE_REQUESTED.with(|r| r.set(true));
}

/// Whether a wake was requested on this thread since the last call (and forgets it).
pub fn take_wake_request() -> bool {
    WAKE_REQUESTED.with(|r| r.replace(false))
}

/// Wakes the scheduler when schedules or runs change (it then looks again at once).
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn poke(&self) {
        self.0.notify_one();
    }

    /// Resolves at the next poke (or at once, for a poke that came while nobody waited).
    pub async fn poked(&self) {
        self.0.notified().await
    }
}

/// Who acts. Stored as text (`person`, `agent`, `api`, `scheduler`) on what they create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The person, on the pages or the command line.
    Person,
    /// The agent, through a tool: from a chat conversation, or over MCP (no conversation; the
    /// MCP client's API token instead, when known).
    Agent { conversation: Option<i32>, token: Option<i32> },
    /// A program holding an API token without the `admin` scope (its id, recorded in the
    /// activity log, when known).
    Api { token: Option<i32> },
    /// A program holding an `admin` API token: it acts for the person (the person's own
    /// scripts), and is recorded as `api`. It still cannot set up `command` agents.
    AdminToken { token: Option<i32> },
    /// The scheduler firing a schedule.
    Scheduler,
}

impl Actor {
    /// An agent acting outside any conversation (MCP).
    pub const AGENT: Actor = Actor::Agent { conversation: None, token: None };

    /// A program whose token is not known (stored rows).
    pub const API: Actor = Actor::Api { token: None };

    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Person => "person",
            Actor::Agent { .. } => "agent",
            Actor::Api { .. } | Actor::AdminToken { .. } => "api",
            Actor::Scheduler => "scheduler",
        }
    }

    /// Who made a stored row, from its `created_by` text and `created_in` conversation.
    /// Text from no known actor (never written by Steward) reads as the person.
    pub fn stored(created_by: &str, created_in: Option<i32>) -> Actor {
        match created_by {
            "agent" => Actor::Agent { conversation: created_in, token: None },
            "api" => Actor::API,
            "scheduler" => Actor::Scheduler,
            _ => Actor::Person,
        }
    }

    /// The conversation an agent acts from, recorded with what it creates.
    pub fn conversation(self) -> Option<i32> {
        match self {
            Actor::Agent { conversation, .. } => conversation,
            _ => None,
        }
    }

    /// The API token an MCP client or a program acts with, recorded in the activity log.
    pub fn token(self) -> Option<i32> {
        match self {
            Actor::Agent { token, .. } | Actor::Api { token } | Actor::AdminToken { token } => token,
            _ => None,
        }
    }

    /// Whether the person is at the controls (the pages or the command line on this machine).
    pub fn is_person(self) -> bool {
        self == Actor::Person
    }

    /// Whether this actor may do what the person may (the person, an `admin` token, the
    /// scheduler carrying out what was set up): it needs no agent's leave to send to it.
    pub fn acts_for_person(self) -> bool {
        matches!(self, Actor::Person | Actor::AdminToken { .. } | Actor::Scheduler)
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is acting, and when, in which zone.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub now: DateTime<Utc>,
    pub tz: Tz,
    pub actor: Actor,
}

impl Ctx {
    pub fn local_now(&self) -> DateTime<Tz> {
        self.now.with_timezone(&self.tz)
    }

    pub fn today(&self) -> NaiveDate {
        self.local_now().date_naive()
    }
}
