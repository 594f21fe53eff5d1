//! Integration tests: each test starts Steward on port 0 with its own database file and drives
//! it over HTTP (or runs the real `steward` binary), as a browser, API client or person would.
// Tests run against the real clock where the app does (timeouts, live runs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod actions;
mod activity;
mod api;
// Issue 14: a scheduled prompt's answer to chosen channels.
mod answers;
mod auth;
// Issue 16: backup rotation and restore.
mod backups;
mod briefings;
mod browser;
mod calendar_activity;
mod calendar_api;
mod calendar_check;
mod calendar_cli;
mod calendar_corpus;
mod calendar_feeds;
mod calendar_page;
mod calendar_tools;
mod channels;
mod chat;
mod cli;
// Issue 16: `steward doctor` against real databases.
mod doctor;
// Issue 16 §2: device cookies, login history, remember this device, re-authentication.
mod devices;
mod e2e;
mod fakes;
mod helpers;
// Issue 12's holes: login redirects, bounded notifications and events, slow bodies, search caps.
mod holes;
mod letta;
mod logs;
mod mcp;
// Issue 16: GET /metrics, read back by Python's prometheus_client.
mod metrics;
// Issue 14: nothing is delivered before its instant (real clock).
mod never_early;
mod privilege;
mod proxies;
mod reminders;
mod reminders_events;
// Issue 16: history that stays bounded (retention settings, status after pruning).
mod retention;
mod schedule_pages;
mod scheduler;
mod tasks;
mod today;
// Issue 16: built-in TLS, renewals without restart, the HTTP -> HTTPS redirect.
mod tls;
mod todotxt;
mod two_factor;
mod webpush;
