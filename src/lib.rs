//! Steward: a self-hosted home base that one person shares with their AI agent.
//!
//! Where to start reading:
//! - [`app`] builds the server; [`web::routes`] lists every route.
//! - [`services`] is what every rule needs (store, clock, config, event hub, the scheduler's
//!   wake-up, one HTTP client) and who acts ([`services::Actor`], [`services::Ctx`]).
//! - [`tasks`] is the first feature: the todo.txt model, the quick-add grammar and the service
//!   functions every door (pages, API, CLI) calls.
//! - [`auth`] holds the password, sessions, CSRF tokens, API tokens and login throttling.
//! - [`db`] is the store (SQLite through diesel); [`config`] the settings read at start-up.
//! - [`schedules`] are prompts that fire once, on cron or every period; [`scheduler`] fires
//!   them and delivers [`runs`] to [`agents`]; [`notifications`] and [`events`] tell the person.
//! - [`calendar`] holds calendars and events: RFC 5545 recurrence exact across DST, ICS in and
//!   out, and the service every door calls.
//! - [`cli`] is the `steward` command line.
//! - [`confirm`] says which of the agent's and MCP clients' tool calls wait for the person;
//!   [`activity`] records what they (and API tokens) changed, and undoes it.
//! - [`metrics`] is what `GET /metrics` shows Prometheus; each measuring site records with one call.
//! - [`today`] is the home page's data (agenda, task lists, what next, stats) and its one quick-add.

pub mod activity;
pub mod agents;
pub mod app;
pub mod auth;
pub mod briefings;
pub mod calendar;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod confirm;
pub mod dates;
pub mod db;
pub mod doctor;
pub mod error;
pub mod events;
pub mod metrics;
pub mod notifications;
pub mod notify;
pub mod projects;
pub mod reminders;
pub mod retention;
pub mod runs;
pub mod scheduler;
pub mod schedules;
pub mod services;
pub mod settings;
pub mod tasks;
pub mod tls;
pub mod today;
pub mod tools;
pub mod web;
